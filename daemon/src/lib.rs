//! The daedalus decode daemon: decodes H.264, VP9 and AV1 behind the daedalus V4L2
//! stateful decoder, speaking `daedalus-proto` to the kernel module (or, without it, to a
//! client over a loopback socket).
//!
//! * [`decoder`]: the decoder core, a backend-neutral [`decoder::Decoder`] trait and the
//!   libavcodec backend.
//! * [`filedec`]: the same core on a file, for `daedalusd decode`.
//! * [`server`]: the daemon side of the protocol, one worker thread per session.
//! * [`transport`]: the socket transport (the loopback stand-in for the character device).
//! * [`client`]: the module's side in userspace, for tests and the benchmark.
//! * [`sys`]: the only `unsafe` code (libav* and `mmap`).

#![deny(unsafe_code)]

pub mod client;
pub mod decoder;
pub mod filedec;
pub mod server;
pub mod sys;
pub mod transport;
