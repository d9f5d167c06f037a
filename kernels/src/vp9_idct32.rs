//! `vp9_idct32`: VP9 32x32 inverse DCT + add (FFmpeg `idct_idct_32x32_add_c`, which FFmpeg
//! puts in all four `itxfm_add[TX_32X32][type]` slots), with FFmpeg's DC-only shortcut for
//! blocks whose `eob` is 1.

use runtime::{Buffer, Device};

use crate::vp9_itxfm4::{Vp9Block, vp9_record};
use crate::{Error, Extra, Kernel, Result, Stats, code, run_batch, upload_table};

/// The rotation multipliers (c1, c2) of FFmpeg's `idct32_1d` (vp9dsp_template.c), in the
/// order `vp9_idct32.qasm` issues its rotations, then a pad word that the last rotation's
/// prefetch reads. A rotation computes `(a c1 - b c2 + 2^13) >> 14` and
/// `(a c2 + b c1 + 2^13) >> 14` (or the negated second form).
const MULTIPLIERS: [u32; 51] = [
    // First stage: t2a/t3a, t4a/t7a, t5a/t6a, t8a/t15a, t9a/t14a, t10a/t13a, t11a/t12a,
    // t16a/t31a, t17a/t30a, t18a/t29a, t19a/t28a, t20a/t27a, t21a/t26a, t22a/t25a, t23a/t24a.
    6270, 15137, 3196, 16069, 13623, 9102, 1606, 16305, 12665, 10394, 7723, 14449, 15679, 4756, 804,
    16364, 12140, 11003, 7005, 14811, 15426, 5520, 3981, 15893, 14053, 8423, 9760, 13160, 16207,
    2404, //
    // t9a/t14a, t13a/t10a, t17a/t30a, t29a/t18a, t21a/t26a, t25a/t22a.
    6270, 15137, 6270, 15137, 3196, 16069, 3196, 16069, 13623, 9102, 13623, 9102, //
    // t18a/t29a, t19/t28, t27/t20, t26a/t21a.
    6270, 15137, 6270, 15137, 6270, 15137, 6270, 15137, //
    0,     // pad
];

/// TMU config words, one byte per lookup for four lookups (py-videocore7
/// `TMULookUpConfig`: per-pixel | op 15 | type): int16 reads and writes, uint8 reads and
/// writes, vec4 reads and writes.
const CFG_INT16: u32 = 0xf9f9_f9f9;
const CFG_UINT8: u32 = 0xfdfd_fdfd;
const CFG_VEC4: u32 = 0xfcfc_fcfc;

/// VP9 32x32 inverse DCT + add over a batch of blocks.
pub struct Vp9Idct32 {
    kernel: Kernel,
    /// `MULTIPLIERS`, uploaded once.
    multipliers: Buffer,
    /// FFmpeg's `tmp[32 * 32]` of int16 for every thread, `SCRATCH_BYTES` each.
    scratch: Buffer,
    /// Threads the scratch buffer was sized for.
    threads: u32,
}

impl Vp9Idct32 {
    /// Bytes per coefficient block: 1024 `i16` in FFmpeg's order (`block[x * 32 + y]`).
    pub const COEF_BYTES: u32 = 2048;
    /// Threads per QPU the kernel is written for (64 registers each).
    pub const THREADS_PER_QPU: u32 = 2;
    /// Scratch bytes per thread: the pass-1 results of one block as int16.
    pub const SCRATCH_BYTES: u32 = 2048;

    /// Uploads the kernel and its multiplier table and allocates one block's scratch per
    /// hardware thread.
    pub fn new(device: &Device) -> Result<Self> {
        let threads = device.identity().qpu_count() * Self::THREADS_PER_QPU;
        Ok(Vp9Idct32 {
            kernel: Kernel::load(device, code::VP9_IDCT32, Self::THREADS_PER_QPU)?,
            multipliers: upload_table(device, &MULTIPLIERS)?,
            scratch: device.alloc(threads * Self::SCRATCH_BYTES)?,
            threads,
        })
    }

    /// Transforms block `k` (the 2048 bytes at `2048 k` in `coefs`) and adds it to the 32x32
    /// pixels at `blocks[k].dest`, with clipping; clears the coefficients (a DC-only block,
    /// `eob` 1: only `block[0]`, as FFmpeg). `tx_type` is ignored: FFmpeg's 32x32 transform is
    /// DCT_DCT whatever the type.
    pub fn run(
        &self,
        device: &Device,
        plane: &mut Buffer,
        coefs: &mut Buffer,
        blocks: &[Vp9Block],
    ) -> Result<Stats> {
        let threads = device.identity().qpu_count() * Self::THREADS_PER_QPU;
        if threads != self.threads {
            return Err(Error::OtherDevice {
                threads,
                expected: self.threads,
            });
        }
        let uniforms = [
            self.scratch.gpu_addr(),
            self.multipliers.gpu_addr(),
            CFG_INT16,
            CFG_UINT8,
            CFG_VEC4,
        ];
        let extra = Extra {
            buffers: &[&self.multipliers, &self.scratch],
            uniforms: &uniforms,
        };
        let record = vp9_record(plane, 32);
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
