//! An instruction-level emulator of the Broadcom V3D 7.1 QPU compute path (Raspberry Pi 5,
//! "VideoCore VII").
//!
//! - [`Gpu`]: buffer objects at 32-bit GPU addresses and [`Gpu::dispatch`], which runs a compute
//!   dispatch exactly as `DRM_IOCTL_V3D_SUBMIT_CSD`'s `cfg[0..6]` describes it and returns its
//!   [`Stats`] or the [`Fault`] that stopped it.
//! - [`job`]: the `qpu sim JOB.json` contract (buffers in files, results written back).
//!
//! The emulator executes `qpu_asm`'s decoded [`qpu_asm::Instr`], never raw words. Semantics,
//! the timing model, the hazards it reports and the sources for each are in `docs/qpu-sim.md`.
#![forbid(unsafe_code)]

mod alu;
mod exec;
pub mod fault;
pub mod float;
pub mod gpu;
pub mod job;
mod lower;
pub mod memory;
mod split;
pub mod timing;
mod tmu;

pub use fault::{Fault, FaultKind, Location};
pub use gpu::{BatchCount, DispatchOptions, Gpu, GpuConfig};
pub use memory::{MapError, Memory};
pub use timing::{QpuStats, Stats, ThreadStats, Timing};

/// The standard thread end, in the project's assembly: the first pair of `thrsw` marks the
/// last thread section, the third ends the thread two instructions later (py-videocore7 ends
/// every kernel this way). For kernels written in tests and benchmarks.
pub const THREAD_END: &str = "
    nop ; thrsw
    nop ; thrsw
    nop
    nop
    nop ; thrsw
    nop
    nop
    nop
";

/// What the unit tests' kernels share.
#[cfg(test)]
mod test_asm {
    pub use crate::THREAD_END as END;

    /// Assembles a unit test's kernel.
    pub fn asm(src: &str) -> Vec<u8> {
        qpu_asm::assemble(src, "t.qasm", None, &qpu_asm::FsLoader)
            .expect("assembles")
            .to_bytes()
    }
}
