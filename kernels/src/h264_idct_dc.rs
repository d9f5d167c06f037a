//! `h264_idct4_dc` and `h264_idct8_dc`: H.264 DC-only inverse transforms + add (FFmpeg
//! `ff_h264_idct_dc_add_8_c`, `ff_h264_idct8_dc_add_8_c`).

use runtime::{Buffer, Device};

use crate::h264_idct4::run_h264_blocks;
use crate::{Dest, Kernel, Result, Stats, code};

/// H.264 4x4 DC-only IDCT + add over a batch of blocks.
pub struct H264Idct4Dc {
    kernel: Kernel,
}

/// H.264 8x8 DC-only IDCT + add over a batch of blocks.
pub struct H264Idct8Dc {
    kernel: Kernel,
}

impl H264Idct4Dc {
    /// Bytes per coefficient block (16 `i16`; only `block[0]` is read and cleared).
    pub const COEF_BYTES: u32 = 32;
    pub const THREADS_PER_QPU: u32 = 2;

    pub fn new(device: &Device) -> Result<Self> {
        Ok(H264Idct4Dc {
            kernel: Kernel::load(device, code::H264_IDCT4_DC, Self::THREADS_PER_QPU)?,
        })
    }

    /// Adds `(block[0] + 32) >> 6` of block `k` (at `32 k` in `coefs`) to the 4x4 pixels at
    /// `dests[k]`, with clipping, and clears `block[0]`.
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

impl H264Idct8Dc {
    /// Bytes per coefficient block (64 `i16`; only `block[0]` is read and cleared).
    pub const COEF_BYTES: u32 = 128;
    pub const THREADS_PER_QPU: u32 = 2;

    pub fn new(device: &Device) -> Result<Self> {
        Ok(H264Idct8Dc {
            kernel: Kernel::load(device, code::H264_IDCT8_DC, Self::THREADS_PER_QPU)?,
        })
    }

    /// Adds `(block[0] + 32) >> 6` of block `k` (at `128 k` in `coefs`) to the 8x8 pixels at
    /// `dests[k]`, with clipping, and clears `block[0]`.
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
