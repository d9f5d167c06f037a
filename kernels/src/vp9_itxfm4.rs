//! `vp9_itxfm4`: VP9 4x4 inverse transforms + add, all four types in one batch (FFmpeg
//! `itxfm_add[TX_4X4][type]`: `idct_idct`, `iadst_idct`, `idct_iadst`, `iadst_iadst`), with
//! FFmpeg's DC-only shortcut for DCT_DCT blocks whose `eob` is 1.

use runtime::{Buffer, Device};

use crate::{Dest, Error, Extra, Kernel, Result, Stats, check_dest, code, run_batch};

/// FFmpeg's `TxfmType` order: the vertical transform first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum TxType {
    DctDct = 0,
    /// Vertical DCT, horizontal ADST (`iadst_idct_4x4_add_c`).
    DctAdst = 1,
    /// Vertical ADST, horizontal DCT (`idct_iadst_4x4_add_c`).
    AdstDct = 2,
    AdstAdst = 3,
}

/// One VP9 block's destination and transform (4x4 for `Vp9Itxfm4`, 8x8 for
/// `Vp9Itxfm8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vp9Block {
    pub dest: Dest,
    pub tx_type: TxType,
    /// Scan position of the last non-zero coefficient + 1 (as FFmpeg's decoder passes it).
    pub eob: u32,
}

/// VP9 4x4 inverse transform + add over a batch of blocks of any types.
pub struct Vp9Itxfm4 {
    kernel: Kernel,
}

/// FFmpeg's constants, in the order the kernel loads them (vp9dsp_template.c).
const CONSTANTS: [u32; 8] = [11585, 6270, 15137, 8192, 5283, 15212, 9929, 13377];

impl Vp9Itxfm4 {
    /// Bytes per coefficient block: 16 `i16` in FFmpeg's order.
    pub const COEF_BYTES: u32 = 32;
    pub const THREADS_PER_QPU: u32 = 2;

    pub fn new(device: &Device) -> Result<Self> {
        Ok(Vp9Itxfm4 {
            kernel: Kernel::load(device, code::VP9_ITXFM4, Self::THREADS_PER_QPU)?,
        })
    }

    /// Transforms block `k` (at `32 k` in `coefs`) with its type and adds it to the 4x4
    /// pixels at `blocks[k].dest`, with clipping; clears the coefficients.
    pub fn run(
        &self,
        device: &Device,
        plane: &mut Buffer,
        coefs: &mut Buffer,
        blocks: &[Vp9Block],
    ) -> Result<Stats> {
        let mut uniforms = vec![0xffff_ffff, 0xfffa_fbfc];
        uniforms.extend_from_slice(&CONSTANTS);
        let extra = Extra {
            buffers: &[],
            uniforms: &uniforms,
        };
        let record = vp9_record(plane, 4);
        run_batch(
            &self.kernel,
            device,
            plane,
            coefs,
            blocks,
            Self::COEF_BYTES,
            extra,
            record,
        )
    }
}

/// The record of a VP9 block of `size` x `size`: address, stride, type, eob; checks the
/// destination and that eob is 1..=size*size (FFmpeg's decoder passes the scan position of
/// the last non-zero coefficient + 1).
pub(crate) fn vp9_record(
    plane: &Buffer,
    size: u32,
) -> impl FnMut(usize, &Vp9Block, &mut Vec<u32>) -> Result<()> + '_ {
    let base = plane.gpu_addr();
    move |k, b, words| {
        check_dest(k, b.dest, size, plane)?;
        if !(1..=size * size).contains(&b.eob) {
            return Err(Error::BadParameter {
                block: k,
                what: "eob",
                value: b.eob,
                expected: "1..=size*size (the scan position of the last non-zero coefficient + 1)",
            });
        }
        words.extend_from_slice(&[base + b.dest.offset, b.dest.stride, b.tx_type as u32, b.eob]);
        Ok(())
    }
}
