//! Running QPU programs on the Raspberry Pi 5's V3D 7.1 GPU, or on the `qpu-sim` emulator,
//! through one API.
//!
//! ```no_run
//! use std::time::Duration;
//! use runtime::{Device, Dispatch, ProgramOptions};
//!
//! # fn main() -> Result<(), runtime::Error> {
//! # let code: Vec<u64> = Vec::new();
//! let dev = Device::open()?; // the v3d GPU if there is one, else the emulator
//! let program = dev.upload_program(&code, ProgramOptions::default())?;
//! let mut out = dev.alloc(12 * 64)?;
//! let job = dev.submit(
//!     &Dispatch::threads(&program, 12)
//!         .uniforms(&[out.gpu_addr()])
//!         .buffer(&out),
//! )?;
//! job.wait(Duration::from_secs(1))?;
//! let words: Vec<u32> = out.read_pod(0, 12 * 16)?;
//! # Ok(()) }
//! ```
//!
//! - [`Device`]: opens the v3d DRM node ([`BackendKind::Hardware`]) or the emulator
//!   ([`BackendKind::Emulator`]); `DAEDALUS_BACKEND=hw|sim` forces one.
//! - [`Buffer`]: a buffer object with a 32-bit GPU address, CPU-readable and writable.
//! - [`Program`]: QPU code uploaded once.
//! - [`Dispatch`] → [`Device::submit`] → [`Job`], waited for with a timeout.
//! - [`csd`]: the pure computation of the `cfg[0..6]` words, shared by both backends.
//!
//! `unsafe` lives only in the DRM backend (`src/hw/`).
#![deny(unsafe_code)]

use std::fmt;

#[cfg(target_endian = "big")]
compile_error!("the V3D is little-endian and this crate copies words to it as they are in memory");

pub mod csd;
mod device;
mod error;
mod hw;
mod ident;
mod sim;

pub use csd::{CsdConfig, CsdParams, Supergroups};
pub use device::{
    Buffer, Device, Dispatch, Job, MappedBuffer, PerfMonitor, Program, ProgramOptions, Shape,
};
pub use error::{Error, Result};
pub use ident::{Identity, RawParams};
pub use sim::SimConfig;

/// The emulator's statistics of a finished job (modelled cycles, instructions, TMU traffic).
pub use qpu_sim::Stats as EmulatorStats;

/// The environment variable that forces a backend: `hw` or `sim`.
pub const BACKEND_ENV: &str = "DAEDALUS_BACKEND";

/// Which backend a `Device` runs jobs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// The kernel's v3d DRM driver on a real GPU.
    Hardware,
    /// The `qpu-sim` emulator.
    Emulator,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Hardware => "hw",
            BackendKind::Emulator => "sim",
        })
    }
}

/// A performance counter the device offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterInfo {
    pub index: u8,
    pub name: String,
    pub category: String,
    pub description: String,
}
