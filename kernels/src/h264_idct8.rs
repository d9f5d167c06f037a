//! `h264_idct8`: H.264 8x8 inverse transform + add (FFmpeg `ff_h264_idct8_add_8_c`).

use runtime::{Buffer, Device};

use crate::h264_idct4::run_h264_blocks;
use crate::{Dest, Kernel, Result, Stats, code};

/// H.264 8x8 IDCT + add over a batch of blocks.
pub struct H264Idct8 {
    kernel: Kernel,
}

impl H264Idct8 {
    /// Bytes per coefficient block: 64 `i16` in FFmpeg's order (`block[i + 8 j]`).
    pub const COEF_BYTES: u32 = 128;
    /// Threads per QPU the kernel is written for (64 registers each).
    pub const THREADS_PER_QPU: u32 = 2;

    pub fn new(device: &Device) -> Result<Self> {
        Ok(H264Idct8 {
            kernel: Kernel::load(device, code::H264_IDCT8, Self::THREADS_PER_QPU)?,
        })
    }

    /// Transforms block `k` (the 128 bytes at `128 k` in `coefs`) and adds it to the 8x8
    /// pixels at `dests[k]` in `plane`, with clipping; clears the coefficients.
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
            8,
            Self::COEF_BYTES,
        )
    }
}
