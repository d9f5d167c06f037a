//! FFmpeg's own C DSP functions as the golden reference for daedalus' QPU kernels.
//!
//! This crate links Debian's static `libavcodec.a` (GPL-2.0-or-later as Debian builds it), so
//! it is `publish = false` and its binaries are never shipped. It provides:
//! * [`reference`]: a safe API over the H.264 and VP9 DSP tables (C and SIMD versions);
//! * [`catalog`] and [`inputs`]: the kernels with fixtures and their seeded input generators;
//! * [`regen`]: writing and checking the fixtures under `golden/fixtures/`;
//! * [`streams`]: the per-frame MD5 lists of the test streams in `golden/streams/`.
//!
//! Checking a kernel against the fixtures needs only the `golden-fixtures` crate, which does
//! not link FFmpeg.

pub mod catalog;
pub mod ffi;
pub mod inputs;
pub mod reference;
pub mod regen;
pub mod rng;
pub mod streams;
pub mod transform;

pub use golden_fixtures as fixtures;

#[cfg(not(target_endian = "little"))]
compile_error!(
    "fixtures store little-endian elements and the reference runs natively; golden needs a little-endian host"
);
