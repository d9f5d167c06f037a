//! Running QPU programs on the Raspberry Pi 5's V3D 7.1 GPU.
//!
//! - [`csd`]: the pure computation of the `cfg[0..6]` words of a compute dispatch.
//! - [`Identity`]: the GPU's identity decoded from `GET_PARAM`.
//! - the DRM backend (`src/hw/`): the v3d ioctls, the only `unsafe` of the crate.
//!
//! The `Device` front end arrives with the emulator backend.
#![deny(unsafe_code)]

use std::fmt;

#[cfg(target_endian = "big")]
compile_error!("the V3D is little-endian and this crate copies words to it as they are in memory");

pub mod csd;
// The errno constants are used by the `Device` front end as well.
#[allow(dead_code)]
mod error;
// Used by the `Device` front end, which lands with the emulator backend.
#[allow(dead_code)]
mod hw;
mod ident;

pub use csd::{CsdConfig, CsdParams, Supergroups};
pub use error::{Error, Result};
pub use ident::{Identity, RawParams};

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
