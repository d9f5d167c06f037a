//! `h264_idct4`: H.264 4x4 inverse transform + add (FFmpeg `ff_h264_idct_add_8_c`), and the
//! batch plumbing shared by the kernels whose records are (address, stride).

use runtime::{Buffer, Device};

use crate::{Dest, Error, Kernel, MAX_BLOCKS, Result, Stats, check_dest, code, upload_table};

/// H.264 4x4 IDCT + add over a batch of blocks.
pub struct H264Idct4 {
    kernel: Kernel,
}

impl H264Idct4 {
    /// Bytes per coefficient block: 16 `i16` in FFmpeg's order (`block[i + 4 j]`).
    pub const COEF_BYTES: u32 = 32;
    /// Threads per QPU the kernel is written for (64 registers each).
    pub const THREADS_PER_QPU: u32 = 2;

    /// Uploads the kernel.
    pub fn new(device: &Device) -> Result<Self> {
        Ok(H264Idct4 {
            kernel: Kernel::load(device, code::H264_IDCT4, Self::THREADS_PER_QPU)?,
        })
    }

    /// Transforms block `k` (the 32 bytes at `32 k` in `coefs`) and adds it to the 4x4 pixels
    /// at `dests[k]` in `plane`, with clipping; clears the coefficients. Blocks must not
    /// overlap each other's pixels.
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

/// Validates a batch of H.264 blocks and runs `kernel` on it. Records: address, stride.
pub(crate) fn run_h264_blocks(
    kernel: &Kernel,
    device: &Device,
    plane: &Buffer,
    coefs: &Buffer,
    dests: &[Dest],
    size: u32,
    coef_bytes: u32,
) -> Result<Stats> {
    if dests.len() > MAX_BLOCKS {
        return Err(Error::TooManyBlocks { max: MAX_BLOCKS });
    }
    let need = dests.len() as u64 * u64::from(coef_bytes);
    if need > u64::from(coefs.size()) {
        return Err(Error::CoefBufferTooSmall {
            have: coefs.size(),
            need,
            blocks: dests.len(),
        });
    }
    let base = plane.gpu_addr();
    let mut words = Vec::with_capacity(dests.len() * 2);
    for (k, d) in dests.iter().enumerate() {
        check_dest(k, *d, size, plane)?;
        words.push(base + d.offset);
        words.push(d.stride);
    }
    if dests.is_empty() {
        return Ok(Stats::default());
    }
    let table = upload_table(device, &words)?;
    kernel.run_blocks(device, &[plane], coefs, &table, dests.len(), &[])
}
