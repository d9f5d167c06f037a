//! `vp9_iwht4`: VP9 lossless 4x4 inverse Walsh-Hadamard transform + add (FFmpeg
//! `iwht_iwht_4x4_add_c`, `itxfm_add[4][*]`).

use runtime::{Buffer, Device};

use crate::h264_idct4::run_h264_blocks;
use crate::{Dest, Kernel, Result, Stats, code};

/// VP9 lossless 4x4 inverse WHT + add over a batch of blocks.
pub struct Vp9Iwht4 {
    kernel: Kernel,
}

impl Vp9Iwht4 {
    /// Bytes per coefficient block: 16 `i16` in FFmpeg's order.
    pub const COEF_BYTES: u32 = 32;
    pub const THREADS_PER_QPU: u32 = 2;

    pub fn new(device: &Device) -> Result<Self> {
        Ok(Vp9Iwht4 {
            kernel: Kernel::load(device, code::VP9_IWHT4, Self::THREADS_PER_QPU)?,
        })
    }

    /// Transforms block `k` (at `32 k` in `coefs`) and adds it to the 4x4 pixels at
    /// `dests[k]`, with clipping; clears the coefficients.
    pub fn run(
        &self,
        device: &Device,
        plane: &mut Buffer,
        coefs: &mut Buffer,
        dests: &[Dest],
    ) -> Result<Stats> {
        run_h264_blocks(
            &self.kernel,
            device,
            plane,
            coefs,
            dests,
            4,
            Self::COEF_BYTES,
        )
    }
}
