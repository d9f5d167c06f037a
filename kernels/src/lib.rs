//! Hand-written V3D 7.1 QPU kernels for video decoding, each bit-exact with FFmpeg's C
//! function of the same name.
//!
//! The unit of work is a batch: a buffer of coefficient blocks and, per block, where its
//! pixels are. One dispatch spreads a batch over every QPU thread of the GPU; like FFmpeg, a
//! kernel clears the coefficients it consumed. Each kernel has a wrapper
//! (`h264_idct4::H264Idct4`, ...) that owns its uniform layout and dispatch shape.
//!
//! Kernels are assembled from `src/<name>.qasm` at build time.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use runtime::{Buffer, Device, Dispatch, Program, ProgramOptions};
use thiserror::Error;

/// Declares the wrapper of a kernel whose per-block record is (address, stride): the struct,
/// its `COEF_BYTES` and `THREADS_PER_QPU`, `new` (uploads the program) and `run`.
macro_rules! addr_stride_kernel {
    (
        $(#[$doc:meta])*
        $name:ident, code: $code:ident, size: $size:literal, coef_bytes: $coef:literal,
        coef_doc: $coef_doc:literal, run_doc: $run_doc:literal
    ) => {
        $(#[$doc])*
        pub struct $name {
            kernel: $crate::Kernel,
        }

        impl $name {
            #[doc = $coef_doc]
            pub const COEF_BYTES: u32 = $coef;
            /// Threads per QPU the kernel is written for (64 registers each).
            pub const THREADS_PER_QPU: u32 = 2;

            /// Uploads the kernel.
            pub fn new(device: &runtime::Device) -> $crate::Result<Self> {
                Ok($name {
                    kernel: $crate::Kernel::load(
                        device,
                        $crate::code::$code,
                        Self::THREADS_PER_QPU,
                    )?,
                })
            }

            #[doc = $run_doc]
            pub fn run(
                &self,
                device: &runtime::Device,
                plane: &mut runtime::Buffer,
                coefs: &mut runtime::Buffer,
                dests: &[$crate::Dest],
            ) -> $crate::Result<$crate::Stats> {
                $crate::run_addr_stride_blocks(
                    &self.kernel,
                    device,
                    plane,
                    coefs,
                    dests,
                    $size,
                    Self::COEF_BYTES,
                )
            }
        }
    };
}

pub mod h264_idct4;
pub mod h264_idct8;
pub mod h264_idct_dc;
pub mod vp9_idct32;
pub mod vp9_itxfm16;
pub mod vp9_itxfm4;
pub mod vp9_itxfm8;
pub mod vp9_iwht4;

/// The assembled kernels, one `&[u64]` per `src/*.qasm`.
pub mod code {
    include!(concat!(env!("OUT_DIR"), "/code.rs"));
}

/// What went wrong running a kernel.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Runtime(#[from] runtime::Error),
    #[error(
        "block {block}: destination offset {offset} is not a multiple of 4 bytes (the kernels read and write whole 32-bit pixel words)"
    )]
    MisalignedDest { block: usize, offset: u32 },
    #[error("block {block}: stride {stride} is not a positive multiple of 4 bytes")]
    BadStride { block: usize, stride: u32 },
    #[error(
        "block {block}: its {rows} rows at offset {offset} with stride {stride} end past the plane's {plane} bytes"
    )]
    OutsidePlane {
        block: usize,
        offset: u32,
        stride: u32,
        rows: u32,
        plane: u32,
    },
    #[error("the coefficient buffer holds {have} bytes but {blocks} blocks need {need}")]
    CoefBufferTooSmall { have: u32, need: u64, blocks: usize },
    #[error("block {block}: {what} {value} is out of range ({expected})")]
    BadParameter {
        block: usize,
        what: &'static str,
        value: u32,
        expected: &'static str,
    },
    #[error("a batch holds at most {max} blocks; split it")]
    TooManyBlocks { max: usize },
    #[error(
        "the device runs {threads} threads but the kernel was set up for {expected}; create the kernel on the device that runs it"
    )]
    OtherDevice { threads: u32, expected: u32 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What one dispatch cost.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Blocks in the batch.
    pub blocks: usize,
    /// QPU threads dispatched.
    pub threads: u32,
    /// QPU instructions issued, over all threads (emulator only; 0 on hardware).
    pub instructions: u64,
    /// Modelled GPU cycles from dispatch to completion (emulator only; 0 on hardware).
    pub cycles: u64,
    /// The clock the emulator's timing model runs at (0 on hardware).
    pub clock_hz: u64,
    /// Host time from submission to completion.
    pub elapsed: Duration,
}

impl Stats {
    /// The modelled GPU time of the dispatch in seconds (emulator), or 0 on hardware.
    pub fn modelled_seconds(&self) -> f64 {
        if self.clock_hz == 0 {
            0.0
        } else {
            self.cycles as f64 / self.clock_hz as f64
        }
    }
}

/// Where a block's pixels are: a byte offset into the plane buffer of its top-left pixel, and
/// the row stride in bytes. Both multiples of 4 (a decoder's planes always are).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dest {
    pub offset: u32,
    pub stride: u32,
}

/// How long a kernel may run before the runtime calls it hung.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The most blocks in one batch (group indices stay far from overflow in the kernels'
/// 24-bit multiplies and shifts).
pub const MAX_BLOCKS: usize = 1 << 20;

/// Checks a destination against the plane it writes.
pub(crate) fn check_dest(block: usize, d: Dest, size: u32, plane: &Buffer) -> Result<()> {
    if d.offset % 4 != 0 {
        return Err(Error::MisalignedDest {
            block,
            offset: d.offset,
        });
    }
    if d.stride == 0 || d.stride % 4 != 0 {
        return Err(Error::BadStride {
            block,
            stride: d.stride,
        });
    }
    let end = u64::from(d.offset) + u64::from(size - 1) * u64::from(d.stride) + u64::from(size);
    if end > u64::from(plane.size()) {
        return Err(Error::OutsidePlane {
            block,
            offset: d.offset,
            stride: d.stride,
            rows: size,
            plane: plane.size(),
        });
    }
    Ok(())
}

/// A kernel program with the thread layout it was written for.
pub(crate) struct Kernel {
    pub program: Program,
    /// Threads per QPU (its register budget).
    pub threads_per_qpu: u32,
}

impl Kernel {
    pub fn load(device: &Device, code: &[u64], threads_per_qpu: u32) -> Result<Kernel> {
        let program = device.upload_program(
            code,
            ProgramOptions {
                threads_per_qpu,
                ..ProgramOptions::default()
            },
        )?;
        Ok(Kernel {
            program,
            threads_per_qpu,
        })
    }

    /// Runs a block batch: every thread of the GPU takes groups of 16 blocks in turn.
    /// Uniforms: coefficient base, record table base, block count, thread-id shift, thread
    /// count, then `extra`.
    pub fn run_blocks(
        &self,
        device: &Device,
        buffers: &[&Buffer],
        coefs: &Buffer,
        table: &Buffer,
        blocks: usize,
        extra: &[u32],
    ) -> Result<Stats> {
        let qpus = device.identity().qpu_count();
        let threads = qpus * self.threads_per_qpu;
        // tidx is the QPU number << 2 | the thread slot; with 2 threads the slots are 0 and 2
        // (py-videocore7 tests/test_parallel.py: `(tidx & 0b111110) >> 1` for 24 threads).
        let tid_shift = match self.threads_per_qpu {
            1 => 2,
            2 => 1,
            _ => 0,
        };
        let mut uniforms = vec![
            coefs.gpu_addr(),
            table.gpu_addr(),
            blocks as u32,
            tid_shift,
            threads,
        ];
        uniforms.extend_from_slice(extra);
        let dispatch = Dispatch::threads(&self.program, threads)
            .uniforms(&uniforms)
            .buffer(coefs)
            .buffer(table)
            .buffers(buffers);
        let start = Instant::now();
        let job = device.run(&dispatch, TIMEOUT)?;
        let elapsed = start.elapsed();
        let (instructions, cycles, clock_hz) = job
            .emulator_stats()
            .map(|s| (s.instructions(), s.total_cycles, s.clock_hz))
            .unwrap_or((0, 0, 0));
        Ok(Stats {
            blocks,
            threads,
            instructions,
            cycles,
            clock_hz,
            elapsed,
        })
    }
}

/// A table of per-block records, as 32-bit words, in a buffer of its own.
pub(crate) fn upload_table(device: &Device, words: &[u32]) -> Result<Buffer> {
    let bytes = (words.len() * 4).max(16) as u32;
    let mut table = device.alloc(bytes)?;
    table.write_pod(0, words)?;
    Ok(table)
}

/// The part of a dispatch that is not the kernel's own: extra buffers it reads and uniforms
/// after the common five.
#[derive(Default)]
pub(crate) struct Extra<'a> {
    pub buffers: &'a [&'a Buffer],
    pub uniforms: &'a [u32],
}

/// Checks a batch (its size and its coefficient buffer), builds its record table with
/// `record` (which checks block `k` and appends its words) and runs `kernel` on it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_batch<B>(
    kernel: &Kernel,
    device: &Device,
    plane: &Buffer,
    coefs: &Buffer,
    blocks: &[B],
    coef_bytes: u32,
    extra: Extra<'_>,
    mut record: impl FnMut(usize, &B, &mut Vec<u32>) -> Result<()>,
) -> Result<Stats> {
    if blocks.len() > MAX_BLOCKS {
        return Err(Error::TooManyBlocks { max: MAX_BLOCKS });
    }
    let need = blocks.len() as u64 * u64::from(coef_bytes);
    if need > u64::from(coefs.size()) {
        return Err(Error::CoefBufferTooSmall {
            have: coefs.size(),
            need,
            blocks: blocks.len(),
        });
    }
    let mut words = Vec::with_capacity(blocks.len() * 4);
    for (k, b) in blocks.iter().enumerate() {
        record(k, b, &mut words)?;
    }
    if blocks.is_empty() {
        return Ok(Stats::default());
    }
    let table = upload_table(device, &words)?;
    let mut buffers = vec![plane];
    buffers.extend_from_slice(extra.buffers);
    kernel.run_blocks(
        device,
        &buffers,
        coefs,
        &table,
        blocks.len(),
        extra.uniforms,
    )
}

/// Runs a batch of blocks whose records are (address, stride).
pub(crate) fn run_addr_stride_blocks(
    kernel: &Kernel,
    device: &Device,
    plane: &Buffer,
    coefs: &Buffer,
    dests: &[Dest],
    size: u32,
    coef_bytes: u32,
) -> Result<Stats> {
    let base = plane.gpu_addr();
    run_batch(
        kernel,
        device,
        plane,
        coefs,
        dests,
        coef_bytes,
        Extra::default(),
        |k, d, words| {
            check_dest(k, *d, size, plane)?;
            words.extend_from_slice(&[base + d.offset, d.stride]);
            Ok(())
        },
    )
}
