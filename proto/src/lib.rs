//! The wire protocol between the daedalus V4L2 kernel module and the decode daemon.
//!
//! The module exposes a stateful V4L2 mem2mem decoder (`/dev/videoN`) and forwards every
//! decoding decision to the daemon over a character device; the daemon decodes and writes
//! frames straight into the capture buffers. This crate is the one description of that
//! conversation, shared by both ends: `#![no_std]`, no allocation, no dependencies, so that
//! the Rust-for-Linux module can build the same source.
//!
//! * Every message is a 16-byte [`Header`] followed by a fixed-layout payload (two message
//!   kinds carry a bounded variable tail). All integers are little-endian.
//! * [`Message::encode`] writes into a caller's buffer and checks the result with the same
//!   validator the receiver runs, so a peer never sends what the other side rejects.
//! * [`decode`] validates lengths, the magic and version, the message kind, the direction,
//!   the session rules, every enum value and reserved field, and buffer/rectangle bounds.
//!   Per-session facts that a single message cannot show (is this cookie in flight, does
//!   the daemon own this capture buffer) are checked with the small trackers in [`state`].
//!
//! Compressed data and capture buffers never travel inside messages. They are *attached*
//! once per buffer ([`AttachBuffer`]) as either a dmabuf file descriptor that accompanies the
//! message out of band, or an offset into a shared mapping; afterwards messages name them by
//! V4L2 buffer index. `docs/protocol.md` explains the choice.

#![no_std]
#![forbid(unsafe_code)]

pub mod chardev;
mod codec;
mod error;
mod message;
pub mod state;
mod wire;

pub use codec::{Codec, PixelFormat};
pub use error::{DecodeError, EncodeError, ErrorCode};
pub use message::{
    AttachBuffer, Capabilities, CodecCaps, Decode, EndOfStream, ErrorMsg, FrameDone, GoodbyeReason,
    Hello, Kind, Memory, Message, Queue, Queues, Rect, SessionOpen, SourceChange, Status,
    frame_flags,
};

/// `b"DDLS"` read as a little-endian `u32`: rejects a peer that is not speaking this protocol.
pub const MAGIC: u32 = u32::from_le_bytes(*b"DDLS");

/// Wire format version carried by every header. Bumped on any incompatible change; a peer
/// whose version differs is refused at the first message.
pub const VERSION: u16 = 1;

/// Size of [`Header`] on the wire.
pub const HEADER_LEN: usize = 16;

/// Upper bound on any message, so receivers can use a fixed buffer (the largest, an error
/// with a full text, is 284 bytes).
pub const MAX_MESSAGE_LEN: usize = 512;

/// Longest error text, in bytes of UTF-8.
pub const MAX_ERROR_TEXT: usize = 256;

/// Most codecs a [`Capabilities`] message can list.
pub const MAX_CODECS: usize = 8;

/// V4L2 buffer indices are below `VIDEO_MAX_FRAME` (64, `include/uapi/linux/videodev2.h`).
pub const MAX_BUFFERS: u32 = 64;

/// Which end sent a message; used to reject a message travelling the wrong way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Role {
    /// The kernel module (or the loopback client standing in for it).
    Module = 1,
    /// The decode daemon.
    Daemon = 2,
}

impl Role {
    pub(crate) fn from_wire(v: u16) -> Option<Self> {
        match v {
            1 => Some(Self::Module),
            2 => Some(Self::Daemon),
            _ => None,
        }
    }
}

/// Session identifier chosen by the module, one per open file of `/dev/videoN`. Zero is the
/// connection itself (hello, capabilities, ping, connection-wide errors, goodbye).
pub type SessionId = u32;

/// A message as read off the wire: the session it belongs to and its validated content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The session, or 0 for connection-level messages.
    pub session: SessionId,
    /// The validated content; borrows the error text from the input buffer.
    pub message: Message<'a>,
}

/// The fixed 16-byte prefix of every message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Message kind as sent; checked against [`Kind`] by [`decode`].
    pub kind: u16,
    /// Total length of the message including this header.
    pub len: u32,
    /// The session, or 0.
    pub session: SessionId,
}

impl Header {
    /// Reads and checks the header alone: magic, version, and a total length between
    /// [`HEADER_LEN`] and [`MAX_MESSAGE_LEN`]. Needs only the first 16 bytes, so a stream
    /// transport can learn how much more to read.
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        if buf.len() < HEADER_LEN {
            return Err(DecodeError::Truncated {
                needed: HEADER_LEN,
                got: buf.len(),
            });
        }
        let mut r = wire::Reader::new(&buf[..HEADER_LEN]);
        let magic = r.u32();
        if magic != MAGIC {
            return Err(DecodeError::BadMagic { found: magic });
        }
        let version = r.u16();
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion { found: version });
        }
        let kind = r.u16();
        let len = r.u32();
        let session = r.u32();
        if (len as usize) < HEADER_LEN || len as usize > MAX_MESSAGE_LEN {
            return Err(DecodeError::BadLength { len });
        }
        Ok(Self { kind, len, session })
    }
}

/// Decodes and validates one complete message. `buf` must hold exactly one message; trailing
/// bytes are an error (a datagram transport delivers exactly one).
pub fn decode(buf: &[u8]) -> Result<Frame<'_>, DecodeError> {
    let header = Header::parse(buf)?;
    if buf.len() != header.len as usize {
        return Err(DecodeError::LengthMismatch {
            header: header.len,
            actual: buf.len(),
        });
    }
    message::decode_body(&header, &buf[HEADER_LEN..])
}

/// Like [`decode`], and also rejects a message that `from` is not allowed to send.
pub fn decode_from(buf: &[u8], from: Role) -> Result<Frame<'_>, DecodeError> {
    let frame = decode(buf)?;
    let kind = frame.message.kind();
    if !kind.sent_by(from) {
        return Err(DecodeError::WrongDirection { kind, from });
    }
    Ok(frame)
}
