//! The part of the daedalus V4L2 module that makes decisions, kept free of kernel types so it
//! builds both into the module (Kbuild compiles this crate with the kernel's `core`) and on the
//! host, where `cargo test` drives it through every sequence of the stateful decoder interface
//! (`Documentation/userspace-api/media/v4l/dev-decoder.rst`).
//!
//! The module's ioctl, vb2 and character-device callbacks translate what happened into calls on
//! a [`Decoder`] (one per open file of `/dev/videoN`); the decoder answers through a [`Sink`]:
//! messages for the daemon, buffers to hand back to vb2, events to queue. The kernel side owns
//! memory, locks and waiting; this crate owns the rules.

#![no_std]
#![forbid(unsafe_code)]

mod decoder;
mod ring;

pub use decoder::{
    BufState, CaptureDone, DecCmd, Decoder, Error, Event, Phase, Sink, placeholder_format,
    v4l2_flags,
};
pub use ring::IndexRing;

/// Buffers per queue (`VIDEO_MAX_FRAME`, `include/uapi/linux/videodev2.h`).
pub const MAX_BUFFERS: usize = daedalus_proto::MAX_BUFFERS as usize;
