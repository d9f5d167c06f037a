//! `vp9_itxfm8`: VP9 8x8 inverse transforms + add, all four types in one batch (FFmpeg
//! `itxfm_add[TX_8X8][type]`: `idct_idct`, `iadst_idct`, `idct_iadst`, `iadst_iadst`), with
//! FFmpeg's DC-only shortcut for DCT_DCT blocks whose `eob` is 1.

use runtime::{Buffer, Device};

use crate::vp9_itxfm4::{Vp9Block, vp9_record};
use crate::{Extra, Kernel, Result, Stats, code, run_batch, upload_table};

/// The multipliers in the order the kernel's second uniform stream reads them
/// (`vp9_itxfm8.qasm`): the DC-only value's 11585, then one column's DCT (`idct8_1d`) and
/// ADST (`iadst8_1d`) multipliers as the code issues its multiplies, then a pad word that the
/// last multiply's prefetch reads. FFmpeg vp9dsp_template.c.
const MULTIPLIERS: [u32; 46] = [
    11585, // DC-only
    // idct8
    6270, 15137, 15137, 6270, 11585, 11585, 3196, 16069, 16069, 3196, 13623, 9102, 9102, 13623,
    11585, 11585, //
    // iadst8
    16305, 1606, 1606, 16305, 10394, 12665, 12665, 10394, 14449, 7723, 7723, 14449, 4756, 15679,
    15679, 4756, 15137, 6270, 6270, 15137, 15137, 6270, 6270, 15137, 11585, 11585, 11585,
    11585, //
    0,     // pad
];

/// VP9 8x8 inverse transform + add over a batch of blocks of any types.
pub struct Vp9Itxfm8 {
    kernel: Kernel,
    /// `MULTIPLIERS`, uploaded once.
    multipliers: Buffer,
}

impl Vp9Itxfm8 {
    /// Bytes per coefficient block: 64 `i16` in FFmpeg's order (`block[i + 8 j]`).
    pub const COEF_BYTES: u32 = 128;
    /// Threads per QPU the kernel is written for (64 registers each).
    pub const THREADS_PER_QPU: u32 = 2;

    pub fn new(device: &Device) -> Result<Self> {
        Ok(Vp9Itxfm8 {
            kernel: Kernel::load(device, code::VP9_ITXFM8, Self::THREADS_PER_QPU)?,
            multipliers: upload_table(device, &MULTIPLIERS)?,
        })
    }

    /// Transforms block `k` (the 128 bytes at `128 k` in `coefs`) with its type and adds it to
    /// the 8x8 pixels at `blocks[k].dest`, with clipping; clears the coefficients.
    pub fn run(
        &self,
        device: &Device,
        plane: &mut Buffer,
        coefs: &mut Buffer,
        blocks: &[Vp9Block],
    ) -> Result<Stats> {
        let extra = Extra {
            buffers: &[&self.multipliers],
            uniforms: &[self.multipliers.gpu_addr()],
        };
        let record = vp9_record(plane, 8);
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
