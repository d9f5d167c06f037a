//! The daedalus decode daemon: decodes H.264, VP9 and AV1 behind the daedalus V4L2
//! stateful decoder, speaking `daedalus-proto` to the kernel module (or, without it, to a
//! client over a loopback socket).
//!
//! * [`decoder`]: the decoder core, a backend-neutral [`decoder::Decoder`] trait and the
//!   libavcodec backend.
//! * [`filedec`]: the same core on a file, for `daedalusd decode`.
//! * [`sys`]: the only `unsafe` code (libav* and `mmap`).

#![deny(unsafe_code)]

pub mod decoder;
pub mod filedec;
pub mod sys;
