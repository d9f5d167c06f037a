//! `vp9_itxfm16`: VP9 16x16 inverse transforms + add, all four types in one batch (FFmpeg
//! `itxfm_add[TX_16X16][type]`: `idct_idct`, `iadst_idct`, `idct_iadst`, `iadst_iadst`), with
//! FFmpeg's DC-only shortcut for DCT_DCT blocks whose `eob` is 1.
//!
//! One block per QPU thread (lane = column), with the transpose between the passes done in
//! registers; see `vp9_itxfm16.qasm`.

use runtime::{Buffer, Device};

use crate::vp9_itxfm4::{Vp9Block, vp9_record};
use crate::{Extra, Kernel, Result, Stats, code, run_batch, upload_table};

/// `idct16_1d`'s multipliers in the order the kernel's `idct16` issues its multiplies
/// (FFmpeg vp9dsp_template.c), then a pad word that the last multiply's prefetch reads.
/// A negated multiplier stands for FFmpeg's `-(a * c + b * d)`.
const IDCT16: [i32; 45] = [
    11585, 11585, // t0a, t1a
    6270, 15137, 15137, 6270, // t2a, t3a
    3196, 16069, 16069, 3196, // t4a, t7a
    13623, 9102, 9102, 13623, // t5a, t6a
    1606, 16305, 16305, 1606, // t8a, t15a
    12665, 10394, 10394, 12665, // t9a, t14a
    7723, 14449, 14449, 7723, // t10a, t13a
    15679, 4756, 4756, 15679, // t11a, t12a
    11585, 11585, // t6a, t5a
    6270, 15137, 15137, 6270, // t9a, t14a
    6270, 15137, -15137, -6270, // t13a, t10a
    11585, 11585, // t13a, t10a
    11585, 11585, // t12, t11
    0,     // pad
];

/// `iadst16_1d`'s multipliers in the order the kernel's `iadst16` issues its multiplies
/// (FFmpeg vp9dsp_template.c): a subtracted product has its multiplier negated. Then a pad
/// word.
const IADST16: [i32; 73] = [
    16364, 804, 804, -16364, // t0, t1
    15893, 3981, 3981, -15893, // t2, t3
    14811, 7005, 7005, -14811, // t4, t5
    13160, 9760, 9760, -13160, // t6, t7
    11003, 12140, 12140, -11003, // t8, t9
    8423, 14053, 14053, -8423, // t10, t11
    5520, 15426, 15426, -5520, // t12, t13
    2404, 16207, 16207, -2404, // t14, t15
    16069, 3196, 3196, -16069, // t8, t9
    9102, 13623, 13623, -9102, // t10, t11
    16069, -3196, 3196, 16069, // t12, t13
    9102, -13623, 13623, 9102, // t14, t15
    15137, 6270, 6270, -15137, // t4a, t5a
    15137, -6270, 6270, 15137, // t6a, t7a
    15137, 6270, 6270, -15137, // t12, t13
    15137, -6270, 6270, 15137, // t14, t15
    -11585, 11585, // out7, out8
    11585, 11585, // out4, out11
    11585, 11585, // out6, out9
    -11585, 11585, // out5, out10
    0,     // pad
];

/// TMU configurations (py-videocore7 `TMULookUpConfig`: per-pixel, op 15, type in bits 2:0),
/// one byte per lookup: four uint16 reads or writes (Mesa's type for 16-bit data; the kernel
/// sign-extends); four uint8 reads or writes; two vec4 writes.
const CFG_UINT16: u32 = 0xfefe_fefe;
const CFG_UINT8: u32 = 0xfdfd_fdfd;
const CFG_VEC4_X2: u32 = 0xffff_fcfc;

/// VP9 16x16 inverse transform + add over a batch of blocks of any types.
pub struct Vp9Itxfm16 {
    kernel: Kernel,
    /// `IDCT16` then `IADST16`, uploaded once.
    multipliers: Buffer,
}

impl Vp9Itxfm16 {
    /// Bytes per coefficient block: 256 `i16` in FFmpeg's order (`block[i + 16 j]`).
    pub const COEF_BYTES: u32 = 512;
    /// Threads per QPU the kernel is written for (64 registers each).
    pub const THREADS_PER_QPU: u32 = 2;

    pub fn new(device: &Device) -> Result<Self> {
        let words: Vec<u32> = IDCT16.iter().chain(&IADST16).map(|&m| m as u32).collect();
        Ok(Vp9Itxfm16 {
            kernel: Kernel::load(device, code::VP9_ITXFM16, Self::THREADS_PER_QPU)?,
            multipliers: upload_table(device, &words)?,
        })
    }

    /// Transforms block `k` (the 512 bytes at `512 k` in `coefs`) with its type and adds it to
    /// the 16x16 pixels at `blocks[k].dest`, with clipping; clears the coefficients (a DC-only
    /// block: `block[0]` only, as FFmpeg does).
    pub fn run(
        &self,
        device: &Device,
        plane: &mut Buffer,
        coefs: &mut Buffer,
        blocks: &[Vp9Block],
    ) -> Result<Stats> {
        let idct = self.multipliers.gpu_addr();
        let iadst = idct + 4 * IDCT16.len() as u32;
        let uniforms = [idct, iadst, CFG_UINT16, CFG_UINT8, CFG_VEC4_X2];
        let extra = Extra {
            buffers: &[&self.multipliers],
            uniforms: &uniforms,
        };
        let record = vp9_record(plane, 16);
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
