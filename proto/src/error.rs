//! Errors found while encoding or validating a message, and the error codes carried by
//! [`Message::Error`](crate::Message::Error) and [`Message::InputDone`](crate::Message::InputDone).

use core::fmt;

use crate::{Kind, Role};

/// Why a received message was rejected. Every variant carries the offending value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the header or the layout needs.
    Truncated { needed: usize, got: usize },
    /// The first four bytes are not [`MAGIC`](crate::MAGIC).
    BadMagic { found: u32 },
    /// The peer speaks another wire version.
    UnsupportedVersion { found: u16 },
    /// Header length outside `16..=512`.
    BadLength { len: u32 },
    /// Header length disagrees with the bytes received.
    LengthMismatch { header: u32, actual: usize },
    /// Unknown message kind.
    UnknownKind { kind: u16 },
    /// The payload length does not match the layout of this kind.
    BadPayloadLength { kind: Kind, len: usize },
    /// A connection-level message named a session, or a session message named none.
    BadSession { kind: Kind, session: u32 },
    /// The message kind may not be sent by this peer.
    WrongDirection { kind: Kind, from: Role },
    /// A reserved field or flag bit is not zero.
    ReservedNotZero { kind: Kind, value: u64 },
    /// An enumerated field holds a value outside its set.
    BadEnum {
        kind: Kind,
        field: &'static str,
        value: u32,
    },
    /// A field is out of its allowed range.
    OutOfRange {
        kind: Kind,
        field: &'static str,
        value: u64,
    },
    /// The error text is not UTF-8.
    BadText { kind: Kind },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated { needed, got } => {
                write!(f, "message truncated: need {needed} bytes, got {got}")
            }
            Self::BadMagic { found } => write!(
                f,
                "bad magic {found:#010x}: the peer is not speaking the daedalus protocol"
            ),
            Self::UnsupportedVersion { found } => write!(
                f,
                "wire version {found} is not supported (this side speaks {}); update the module and the daemon together",
                crate::VERSION
            ),
            Self::BadLength { len } => write!(
                f,
                "message length {len} outside {}..={}",
                crate::HEADER_LEN,
                crate::MAX_MESSAGE_LEN
            ),
            Self::LengthMismatch { header, actual } => {
                write!(f, "header says {header} bytes but {actual} were received")
            }
            Self::UnknownKind { kind } => write!(f, "unknown message kind {kind}"),
            Self::BadPayloadLength { kind, len } => {
                write!(
                    f,
                    "{kind:?} payload of {len} bytes does not match its layout"
                )
            }
            Self::BadSession { kind, session } => {
                write!(f, "{kind:?} not allowed with session {session}")
            }
            Self::WrongDirection { kind, from } => {
                write!(f, "{kind:?} may not be sent by the {from:?}")
            }
            Self::ReservedNotZero { kind, value } => {
                write!(f, "{kind:?} has reserved bits set ({value:#x})")
            }
            Self::BadEnum { kind, field, value } => {
                write!(f, "{kind:?}.{field} has unknown value {value:#x}")
            }
            Self::OutOfRange { kind, field, value } => {
                write!(f, "{kind:?}.{field} = {value} is out of range")
            }
            Self::BadText { kind } => write!(f, "{kind:?} text is not valid utf-8"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Why a message could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is shorter than the message.
    BufferTooSmall { needed: usize, available: usize },
    /// The message would be rejected by the receiver; the wrapped error says why.
    Invalid(DecodeError),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed, available } => write!(
                f,
                "output buffer of {available} bytes too small for a {needed}-byte message"
            ),
            Self::Invalid(e) => write!(f, "refusing to encode an invalid message: {e}"),
        }
    }
}

impl core::error::Error for EncodeError {}

macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident = $val:literal, $text:literal;)*) => {
        /// Error codes on the wire; stable once released.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum ErrorCode {
            $($(#[$doc])* $name = $val,)*
        }

        impl ErrorCode {
            /// Every code, in wire order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The code for a wire value.
            pub const fn from_wire(v: u32) -> Option<Self> {
                match v {
                    $($val => Some(ErrorCode::$name),)*
                    _ => None,
                }
            }

            /// A short lowercase description.
            pub const fn text(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => $text,)*
                }
            }
        }
    };
}

error_codes! {
    /// A message failed validation; the connection state is unchanged.
    Malformed = 1, "malformed message";
    /// The peer's wire version is not ours.
    VersionMismatch = 2, "protocol version mismatch";
    /// The session id is not open.
    UnknownSession = 3, "unknown session";
    /// `SessionOpen` for an id that is already open.
    SessionExists = 4, "session already open";
    /// The codec is not among the capabilities.
    UnsupportedCodec = 5, "unsupported codec";
    /// The daemon is at its session limit.
    TooManySessions = 6, "too many sessions";
    /// The buffer index is not attached, already queued, or the range lies outside it.
    BadBuffer = 7, "bad buffer";
    /// The cookie is zero, already in flight, or unknown.
    BadCookie = 8, "bad cookie";
    /// The compressed data could not be decoded; decoding continues with the next request.
    DecodeFailed = 9, "decode failed";
    /// The daemon ran out of memory or another resource.
    NoResources = 10, "out of resources";
    /// The daemon is shutting down and fails the request.
    ShuttingDown = 11, "daemon shutting down";
    /// The frame was lost because the daemon went away (reported by the module side).
    Lost = 12, "frame lost";
    /// A bug or an unexpected failure inside the daemon.
    Internal = 13, "internal error";
    /// A request arrived in a state that does not allow it (e.g. decode while draining).
    BadState = 14, "request not allowed in this state";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}
