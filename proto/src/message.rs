//! Message kinds, their payload layouts, encoding and validation.
//!
//! Each kind's wire value, sender and scope are stated once, in the `kinds!` table; the
//! payload layouts are the `encode_body`/`decode_body` pair, which the round-trip tests walk
//! for every kind.

use crate::wire::{Reader, Writer};
use crate::{
    Codec, DecodeError, EncodeError, ErrorCode, Frame, Header, MAGIC, MAX_BUFFERS, MAX_CODECS,
    MAX_ERROR_TEXT, MAX_MESSAGE_LEN, PixelFormat, Role, SessionId, VERSION,
};

/// Who may send a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sender {
    Module,
    Daemon,
    Either,
}

/// Whether a kind belongs to the connection (session 0) or to one session (non-zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    Connection,
    Session,
    /// Errors may concern the connection or one session.
    Any,
}

macro_rules! kinds {
    ($($(#[$doc:meta])* $name:ident = $val:literal, $sender:ident, $scope:ident;)*) => {
        /// Message kind, the `kind` field of the header.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum Kind {
            $($(#[$doc])* $name = $val,)*
        }

        impl Kind {
            /// Every kind, in wire order.
            pub const ALL: &'static [Kind] = &[$(Kind::$name,)*];

            /// The kind for a wire value.
            pub const fn from_wire(v: u16) -> Option<Self> {
                match v {
                    $($val => Some(Kind::$name),)*
                    _ => None,
                }
            }

            const fn sender(self) -> Sender {
                match self {
                    $(Kind::$name => Sender::$sender,)*
                }
            }

            const fn scope(self) -> Scope {
                match self {
                    $(Kind::$name => Scope::$scope,)*
                }
            }
        }
    };
}

kinds! {
    /// First message each way: wire minor version and role.
    Hello = 1, Either, Connection;
    /// Daemon → module after its hello: codecs, limits, formats.
    Capabilities = 2, Daemon, Connection;
    /// Liveness probe; answered with `Pong` carrying the same nonce.
    Ping = 3, Either, Connection;
    /// Answer to `Ping`.
    Pong = 4, Either, Connection;
    /// An error about the connection (session 0) or one session.
    Error = 5, Either, Any;
    /// Daemon → module: the daemon is going away; every session is dead.
    Goodbye = 6, Daemon, Connection;
    /// Open a session for one codec.
    SessionOpen = 16, Module, Session;
    /// Close a session; the daemon answers `SessionClosed` when it holds no buffer any more.
    SessionClose = 17, Module, Session;
    /// Make a buffer (dmabuf or shared-mapping range) known to the daemon under its index.
    AttachBuffer = 18, Module, Session;
    /// Forget every buffer of one queue (after `REQBUFS`); only allowed when none is in use.
    ReleaseBuffers = 19, Module, Session;
    /// Decode a range of an attached output buffer.
    Decode = 20, Module, Session;
    /// Hand an attached capture buffer to the daemon for one frame.
    QueueCapture = 21, Module, Session;
    /// `V4L2_DEC_CMD_STOP`: return every pending frame, then `EndOfStream`.
    Drain = 22, Module, Session;
    /// Drop pending input and/or hand back capture buffers (`STREAMOFF`, seek).
    Flush = 23, Module, Session;
    /// Daemon → module: the session is gone and no buffer is referenced.
    SessionClosed = 32, Daemon, Session;
    /// Daemon → module: the output buffer of this decode is no longer read.
    InputDone = 33, Daemon, Session;
    /// Daemon → module: a frame was written into a capture buffer.
    FrameDone = 34, Daemon, Session;
    /// Daemon → module: the stream's format changed; sent before the first frame of it.
    SourceChange = 35, Daemon, Session;
    /// Daemon → module: the drain finished.
    EndOfStream = 36, Daemon, Session;
    /// Daemon → module: the flush finished; the daemon holds none of the flushed buffers.
    FlushDone = 37, Daemon, Session;
}

impl Kind {
    /// Whether `role` may send this kind.
    pub const fn sent_by(self, role: Role) -> bool {
        match self.sender() {
            Sender::Either => true,
            Sender::Module => matches!(role, Role::Module),
            Sender::Daemon => matches!(role, Role::Daemon),
        }
    }

    /// Whether this kind belongs to a session (non-zero id) rather than the connection.
    /// Errors may be either.
    pub const fn is_session_scoped(self) -> bool {
        matches!(self.scope(), Scope::Session)
    }
}

/// First message in each direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Minor version: additions that an older peer can ignore.
    pub minor: u16,
    /// The sender's role; must agree with the direction the transport knows.
    pub role: Role,
    /// A value that changes every time the sender starts, so the module can tell a
    /// restarted daemon from a reconnect of the same one.
    pub instance: u64,
}

/// What the daemon can decode, sent once after its hello.
#[derive(Clone, Copy, Debug)]
pub struct Capabilities {
    /// Sessions the daemon serves at once.
    pub max_sessions: u32,
    /// The first `count` entries of `codecs` are valid.
    pub count: u32,
    /// Per-codec limits.
    pub codecs: [CodecCaps; MAX_CODECS],
}

// Entries past `count` are not part of the message, so they do not take part in equality.
impl PartialEq for Capabilities {
    fn eq(&self, other: &Self) -> bool {
        self.max_sessions == other.max_sessions && self.codecs() == other.codecs()
    }
}

impl Eq for Capabilities {}

impl Capabilities {
    /// Capabilities listing `codecs` (at most [`MAX_CODECS`]; the rest are dropped, which
    /// the caller's own test of its table would show).
    pub fn new(max_sessions: u32, codecs: &[CodecCaps]) -> Self {
        let mut out = Capabilities {
            max_sessions,
            count: codecs.len().min(MAX_CODECS) as u32,
            codecs: [CodecCaps::EMPTY; MAX_CODECS],
        };
        for (dst, src) in out.codecs.iter_mut().zip(codecs) {
            *dst = *src;
        }
        out
    }

    /// The valid entries.
    pub fn codecs(&self) -> &[CodecCaps] {
        &self.codecs[..(self.count as usize).min(MAX_CODECS)]
    }

    /// The entry for `codec`, if the daemon decodes it.
    pub fn get(&self, codec: Codec) -> Option<&CodecCaps> {
        self.codecs().iter().find(|c| c.codec == codec)
    }
}

/// One codec the daemon decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodecCaps {
    /// The codec.
    pub codec: Codec,
    /// Largest coded width.
    pub max_width: u32,
    /// Largest coded height.
    pub max_height: u32,
    /// Capture formats it can produce, a mask of [`PixelFormat::bit`].
    pub formats: u32,
}

impl CodecCaps {
    const EMPTY: CodecCaps = CodecCaps {
        codec: Codec::H264,
        max_width: 0,
        max_height: 0,
        formats: 0,
    };
}

/// An error, with a code, the cookie it concerns if any, and a human-readable text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorMsg<'a> {
    /// What went wrong.
    pub code: ErrorCode,
    /// The decode request concerned, or 0.
    pub cookie: u32,
    /// Lowercase explanation, at most [`MAX_ERROR_TEXT`] bytes.
    pub text: &'a str,
}

/// Why the daemon says goodbye.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum GoodbyeReason {
    /// Orderly shutdown (SIGTERM); in-flight requests were finished or failed first.
    Shutdown = 1,
    /// A fatal error; the daemon exits.
    Fatal = 2,
}

/// Open a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionOpen {
    /// Compressed format of the output queue.
    pub codec: Codec,
    /// Coded size from `S_FMT(OUTPUT)`, or 0 when the client leaves it to the stream.
    pub width: u32,
    /// Coded height, or 0.
    pub height: u32,
}

/// Which V4L2 queue a buffer belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Queue {
    /// Compressed data (V4L2 OUTPUT).
    Output = 1,
    /// Decoded frames (V4L2 CAPTURE).
    Capture = 2,
}

impl Queue {
    const fn from_wire(v: u32) -> Option<Self> {
        match v {
            1 => Some(Queue::Output),
            2 => Some(Queue::Capture),
            _ => None,
        }
    }
}

/// A set of queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Queues {
    /// Includes the output queue.
    pub output: bool,
    /// Includes the capture queue.
    pub capture: bool,
}

impl Queues {
    fn to_wire(self) -> u32 {
        u32::from(self.output) | (u32::from(self.capture) << 1)
    }
}

/// Where an attached buffer's memory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Memory {
    /// A dmabuf; exactly one file descriptor accompanies the message out of band
    /// (`SCM_RIGHTS` on the loopback socket, the receive ioctl on the character device).
    /// The buffer starts `offset` bytes into it.
    Dmabuf,
    /// A range of the shared mapping (the character device's own `mmap`, or on loopback the
    /// memfd sent with the module's hello), starting at `offset`.
    Shared,
}

/// Attach a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttachBuffer {
    /// Its queue.
    pub queue: Queue,
    /// V4L2 buffer index, below [`MAX_BUFFERS`].
    pub index: u32,
    /// Where its memory is.
    pub memory: Memory,
    /// Offset into the dmabuf or the shared mapping.
    pub offset: u64,
    /// Usable bytes.
    pub size: u64,
}

/// Decode `length` bytes at `offset` of output buffer `buffer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decode {
    /// Non-zero, unique among this session's requests in flight.
    pub cookie: u32,
    /// Output buffer index.
    pub buffer: u32,
    /// Start of the data inside the buffer.
    pub offset: u32,
    /// Bytes of compressed data, at least 1.
    pub length: u32,
    /// The V4L2 timestamp in nanoseconds, copied to the frames it produces.
    pub timestamp: u64,
}

/// Outcome of a decode request in `InputDone`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The data was consumed.
    Ok,
    /// The data was rejected (the module sets `V4L2_BUF_FLAG_ERROR` on the output buffer).
    Failed(ErrorCode),
}

/// Flags of [`FrameDone::flags`].
pub mod frame_flags {
    /// An intra (key) frame.
    pub const KEYFRAME: u32 = 1 << 0;
    /// Decoded with errors (concealed); maps to `V4L2_BUF_FLAG_ERROR`.
    pub const ERROR: u32 = 1 << 1;
    /// The last frame of a drain; maps to `V4L2_BUF_FLAG_LAST`.
    pub const LAST: u32 = 1 << 2;
    /// Coded as two fields.
    pub const INTERLACED: u32 = 1 << 3;
    /// With `INTERLACED`: the top field is first in time.
    pub const TOP_FIELD_FIRST: u32 = 1 << 4;
    /// Every defined bit.
    pub const ALL: u32 = KEYFRAME | ERROR | LAST | INTERLACED | TOP_FIELD_FIRST;
}

/// A frame was written into capture buffer `buffer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameDone {
    /// The decode request whose timestamp the frame carries.
    pub cookie: u32,
    /// Capture buffer index; the daemon no longer touches it.
    pub buffer: u32,
    /// Its layout, as announced by the last `SourceChange`.
    pub format: PixelFormat,
    /// Buffer width in pixels (the `SourceChange` width).
    pub width: u32,
    /// Buffer height in pixels.
    pub height: u32,
    /// Bytes written (the `SourceChange` image size).
    pub bytesused: u32,
    /// The timestamp of request `cookie`.
    pub timestamp: u64,
    /// [`frame_flags`].
    pub flags: u32,
}

/// A rectangle inside a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// The stream's format, announced before the first frame of a new size or depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceChange {
    /// Capture buffer width in pixels (the coded width, padded to the codec's block size).
    pub width: u32,
    /// Capture buffer height in pixels.
    pub height: u32,
    /// The displayed part (`V4L2_SEL_TGT_COMPOSE`).
    pub visible: Rect,
    /// Capture pixel format.
    pub format: PixelFormat,
    /// Bytes per line of both planes (`bytesperline`).
    pub stride: u32,
    /// Bytes per frame (`sizeimage`), at least `format.image_size(stride, height)`.
    pub size_image: u32,
    /// `V4L2_CID_MIN_BUFFERS_FOR_CAPTURE`: 1..=64.
    pub min_buffers: u32,
}

/// A drain finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndOfStream {
    /// Frames returned by the drain.
    pub frames: u32,
    /// Whether one of them carried [`frame_flags::LAST`]; if not (no frame was pending),
    /// the module returns an empty capture buffer flagged `V4L2_BUF_FLAG_LAST` itself.
    pub last_flagged: bool,
}

/// One protocol message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Message<'a> {
    Hello(Hello),
    Capabilities(Capabilities),
    Ping { nonce: u64 },
    Pong { nonce: u64 },
    Error(ErrorMsg<'a>),
    Goodbye { reason: GoodbyeReason },
    SessionOpen(SessionOpen),
    SessionClose,
    AttachBuffer(AttachBuffer),
    ReleaseBuffers { queue: Queue },
    Decode(Decode),
    QueueCapture { buffer: u32 },
    Drain,
    Flush { queues: Queues },
    SessionClosed,
    InputDone { cookie: u32, status: Status },
    FrameDone(FrameDone),
    SourceChange(SourceChange),
    EndOfStream(EndOfStream),
    FlushDone { queues: Queues },
}

impl<'a> Message<'a> {
    /// This message's kind.
    pub const fn kind(&self) -> Kind {
        match self {
            Message::Hello(_) => Kind::Hello,
            Message::Capabilities(_) => Kind::Capabilities,
            Message::Ping { .. } => Kind::Ping,
            Message::Pong { .. } => Kind::Pong,
            Message::Error(_) => Kind::Error,
            Message::Goodbye { .. } => Kind::Goodbye,
            Message::SessionOpen(_) => Kind::SessionOpen,
            Message::SessionClose => Kind::SessionClose,
            Message::AttachBuffer(_) => Kind::AttachBuffer,
            Message::ReleaseBuffers { .. } => Kind::ReleaseBuffers,
            Message::Decode(_) => Kind::Decode,
            Message::QueueCapture { .. } => Kind::QueueCapture,
            Message::Drain => Kind::Drain,
            Message::Flush { .. } => Kind::Flush,
            Message::SessionClosed => Kind::SessionClosed,
            Message::InputDone { .. } => Kind::InputDone,
            Message::FrameDone(_) => Kind::FrameDone,
            Message::SourceChange(_) => Kind::SourceChange,
            Message::EndOfStream(_) => Kind::EndOfStream,
            Message::FlushDone { .. } => Kind::FlushDone,
        }
    }

    /// Builds an error message, cutting `text` at a character boundary to fit.
    pub fn error(code: ErrorCode, cookie: u32, text: &'a str) -> Self {
        // The last character boundary at or before the limit (0 always is one). No
        // subtraction: the kernel build checks overflow, and objtool flags the panic path.
        let limit = text.len().min(MAX_ERROR_TEXT);
        let end = (0..=limit)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        Message::Error(ErrorMsg {
            code,
            cookie,
            text: &text[..end],
        })
    }

    /// Writes the message for `session` into `out` and returns its length. The bytes are
    /// validated exactly as the receiver will, so an invalid message is refused here.
    pub fn encode(&self, session: SessionId, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(out);
        w.u32(MAGIC);
        w.u16(VERSION);
        w.u16(self.kind() as u16);
        w.u32(0); // length, patched below
        w.u32(session);
        encode_body(self, &mut w);
        let len = w.pos();
        if w.overflowed() {
            return Err(EncodeError::BufferTooSmall {
                needed: len,
                available: out.len(),
            });
        }
        if len > MAX_MESSAGE_LEN {
            return Err(EncodeError::Invalid(DecodeError::BadLength {
                len: len as u32,
            }));
        }
        w.patch_u32(8, len as u32);
        crate::decode(&out[..len]).map_err(EncodeError::Invalid)?;
        Ok(len)
    }
}

fn encode_body(m: &Message<'_>, w: &mut Writer<'_>) {
    match *m {
        Message::Hello(h) => {
            w.u16(h.minor);
            w.u16(h.role as u16);
            w.u32(0);
            w.u64(h.instance);
        }
        Message::Capabilities(c) => {
            w.u32(c.max_sessions);
            w.u32(c.count);
            for e in c.codecs.iter().take((c.count as usize).min(MAX_CODECS)) {
                w.u32(e.codec.fourcc());
                w.u32(e.max_width);
                w.u32(e.max_height);
                w.u32(e.formats);
            }
        }
        Message::Ping { nonce } | Message::Pong { nonce } => w.u64(nonce),
        Message::Error(e) => {
            w.u32(e.code as u32);
            w.u32(e.cookie);
            w.u16(e.text.len().min(u16::MAX as usize) as u16);
            w.u16(0);
            w.bytes(e.text.as_bytes());
        }
        Message::Goodbye { reason } => {
            w.u32(reason as u32);
            w.u32(0);
        }
        Message::SessionOpen(s) => {
            w.u32(s.codec.fourcc());
            w.u32(s.width);
            w.u32(s.height);
            w.u32(0);
        }
        Message::SessionClose | Message::Drain | Message::SessionClosed => {}
        Message::AttachBuffer(a) => {
            w.u32(a.queue as u32);
            w.u32(a.index);
            w.u32(match a.memory {
                Memory::Dmabuf => 1,
                Memory::Shared => 2,
            });
            w.u32(0);
            w.u64(a.offset);
            w.u64(a.size);
        }
        Message::ReleaseBuffers { queue } => {
            w.u32(queue as u32);
            w.u32(0);
        }
        Message::Decode(d) => {
            w.u32(d.cookie);
            w.u32(d.buffer);
            w.u32(d.offset);
            w.u32(d.length);
            w.u64(d.timestamp);
        }
        Message::QueueCapture { buffer } => {
            w.u32(buffer);
            w.u32(0);
        }
        Message::Flush { queues } | Message::FlushDone { queues } => {
            w.u32(queues.to_wire());
            w.u32(0);
        }
        Message::InputDone { cookie, status } => {
            w.u32(cookie);
            w.u32(match status {
                Status::Ok => 0,
                Status::Failed(c) => c as u32,
            });
        }
        Message::FrameDone(f) => {
            w.u32(f.cookie);
            w.u32(f.buffer);
            w.u32(f.format.fourcc());
            w.u32(f.width);
            w.u32(f.height);
            w.u32(f.bytesused);
            w.u64(f.timestamp);
            w.u32(f.flags);
            w.u32(0);
        }
        Message::SourceChange(s) => {
            w.u32(s.width);
            w.u32(s.height);
            w.u32(s.visible.x);
            w.u32(s.visible.y);
            w.u32(s.visible.width);
            w.u32(s.visible.height);
            w.u32(s.format.fourcc());
            w.u32(s.stride);
            w.u32(s.size_image);
            w.u32(s.min_buffers);
        }
        Message::EndOfStream(e) => {
            w.u32(e.frames);
            w.u32(u32::from(e.last_flagged));
        }
    }
}

const CODEC_CAPS_LEN: usize = 16;

/// Fixed payload length of a kind; for the two variable kinds, the fixed part.
const fn fixed_len(kind: Kind) -> usize {
    match kind {
        Kind::Hello => 16,
        Kind::Capabilities => 8,
        Kind::Ping | Kind::Pong => 8,
        Kind::Error => 12,
        Kind::Goodbye => 8,
        Kind::SessionOpen => 16,
        Kind::SessionClose | Kind::Drain | Kind::SessionClosed => 0,
        Kind::AttachBuffer => 32,
        Kind::ReleaseBuffers => 8,
        Kind::Decode => 24,
        Kind::QueueCapture => 8,
        Kind::Flush | Kind::FlushDone => 8,
        Kind::InputDone => 8,
        Kind::FrameDone => 40,
        Kind::SourceChange => 40,
        Kind::EndOfStream => 8,
    }
}

struct Check {
    kind: Kind,
}

impl Check {
    fn reserved(&self, v: u64) -> Result<(), DecodeError> {
        if v == 0 {
            Ok(())
        } else {
            Err(DecodeError::ReservedNotZero {
                kind: self.kind,
                value: v,
            })
        }
    }

    fn bad_enum(&self, field: &'static str, value: u32) -> DecodeError {
        DecodeError::BadEnum {
            kind: self.kind,
            field,
            value,
        }
    }

    fn range(&self, field: &'static str, value: u64, ok: bool) -> Result<(), DecodeError> {
        if ok {
            Ok(())
        } else {
            Err(DecodeError::OutOfRange {
                kind: self.kind,
                field,
                value,
            })
        }
    }

    fn buffer(&self, field: &'static str, index: u32) -> Result<(), DecodeError> {
        self.range(field, u64::from(index), index < MAX_BUFFERS)
    }

    fn cookie(&self, cookie: u32) -> Result<(), DecodeError> {
        self.range("cookie", 0, cookie != 0)
    }

    fn codec(&self, v: u32) -> Result<Codec, DecodeError> {
        Codec::from_fourcc(v).ok_or(self.bad_enum("codec", v))
    }

    fn format(&self, v: u32) -> Result<PixelFormat, DecodeError> {
        PixelFormat::from_fourcc(v).ok_or(self.bad_enum("format", v))
    }

    fn queues(&self, v: u32) -> Result<Queues, DecodeError> {
        if v == 0 || v & !3 != 0 {
            return Err(self.bad_enum("queues", v));
        }
        Ok(Queues {
            output: v & 1 != 0,
            capture: v & 2 != 0,
        })
    }

    /// A frame size is sane: non-zero, even-free (odd sizes exist), and below 65536 (the
    /// largest size any of the three codecs can signal).
    fn size(&self, field: &'static str, v: u32) -> Result<(), DecodeError> {
        self.range(field, u64::from(v), v > 0 && v <= 65536)
    }
}

pub(crate) fn decode_body<'a>(h: &Header, body: &'a [u8]) -> Result<Frame<'a>, DecodeError> {
    let kind = Kind::from_wire(h.kind).ok_or(DecodeError::UnknownKind { kind: h.kind })?;
    let c = Check { kind };
    let fixed = fixed_len(kind);
    let variable = matches!(kind, Kind::Capabilities | Kind::Error);
    if body.len() < fixed || (!variable && body.len() != fixed) {
        return Err(DecodeError::BadPayloadLength {
            kind,
            len: body.len(),
        });
    }
    let session_ok = match kind.scope() {
        Scope::Connection => h.session == 0,
        Scope::Session => h.session != 0,
        Scope::Any => true,
    };
    if !session_ok {
        return Err(DecodeError::BadSession {
            kind,
            session: h.session,
        });
    }
    let mut r = Reader::new(body);
    let message = match kind {
        Kind::Hello => {
            let minor = r.u16();
            let role_raw = r.u16();
            let role = Role::from_wire(role_raw).ok_or(c.bad_enum("role", u32::from(role_raw)))?;
            c.reserved(u64::from(r.u32()))?;
            Message::Hello(Hello {
                minor,
                role,
                instance: r.u64(),
            })
        }
        Kind::Capabilities => {
            let max_sessions = r.u32();
            c.range("max_sessions", u64::from(max_sessions), max_sessions > 0)?;
            let count = r.u32();
            c.range("count", u64::from(count), count as usize <= MAX_CODECS)?;
            let tail = r.rest();
            if tail.len() != count as usize * CODEC_CAPS_LEN {
                return Err(DecodeError::BadPayloadLength {
                    kind,
                    len: body.len(),
                });
            }
            let mut codecs = [CodecCaps::EMPTY; MAX_CODECS];
            let mut er = Reader::new(tail);
            for i in 0..count as usize {
                let codec = c.codec(er.u32())?;
                let max_width = er.u32();
                let max_height = er.u32();
                let formats = er.u32();
                c.size("max_width", max_width)?;
                c.size("max_height", max_height)?;
                if formats == 0 || formats & !3 != 0 {
                    return Err(c.bad_enum("formats", formats));
                }
                if codecs[..i].iter().any(|e| e.codec == codec) {
                    return Err(c.bad_enum("codec", codec.fourcc()));
                }
                codecs[i] = CodecCaps {
                    codec,
                    max_width,
                    max_height,
                    formats,
                };
            }
            Message::Capabilities(Capabilities {
                max_sessions,
                count,
                codecs,
            })
        }
        Kind::Ping => Message::Ping { nonce: r.u64() },
        Kind::Pong => Message::Pong { nonce: r.u64() },
        Kind::Error => {
            let raw = r.u32();
            let code = ErrorCode::from_wire(raw).ok_or(c.bad_enum("code", raw))?;
            let cookie = r.u32();
            let len = r.u16() as usize;
            c.reserved(u64::from(r.u16()))?;
            c.range("text_len", len as u64, len <= MAX_ERROR_TEXT)?;
            let text = r.rest();
            if text.len() != len {
                return Err(DecodeError::BadPayloadLength {
                    kind,
                    len: body.len(),
                });
            }
            let text = core::str::from_utf8(text).map_err(|_| DecodeError::BadText { kind })?;
            Message::Error(ErrorMsg { code, cookie, text })
        }
        Kind::Goodbye => {
            let raw = r.u32();
            let reason = match raw {
                1 => GoodbyeReason::Shutdown,
                2 => GoodbyeReason::Fatal,
                _ => return Err(c.bad_enum("reason", raw)),
            };
            c.reserved(u64::from(r.u32()))?;
            Message::Goodbye { reason }
        }
        Kind::SessionOpen => {
            let codec = c.codec(r.u32())?;
            let width = r.u32();
            let height = r.u32();
            c.reserved(u64::from(r.u32()))?;
            // Both or neither: a half-known size is a module bug.
            if (width == 0) != (height == 0) {
                return Err(DecodeError::OutOfRange {
                    kind,
                    field: if width == 0 { "width" } else { "height" },
                    value: 0,
                });
            }
            if width != 0 {
                c.size("width", width)?;
                c.size("height", height)?;
            }
            Message::SessionOpen(SessionOpen {
                codec,
                width,
                height,
            })
        }
        Kind::SessionClose => Message::SessionClose,
        Kind::AttachBuffer => {
            let raw = r.u32();
            let queue = Queue::from_wire(raw).ok_or(c.bad_enum("queue", raw))?;
            let index = r.u32();
            c.buffer("index", index)?;
            let raw = r.u32();
            let memory = match raw {
                1 => Memory::Dmabuf,
                2 => Memory::Shared,
                _ => return Err(c.bad_enum("memory", raw)),
            };
            c.reserved(u64::from(r.u32()))?;
            let offset = r.u64();
            let size = r.u64();
            // 4 GiB per buffer is far beyond any 8K frame; the bound keeps offset + size and
            // every later u32 range check free of overflow.
            c.range("size", size, size > 0 && size <= u64::from(u32::MAX))?;
            c.range("offset", offset, offset.checked_add(size).is_some())?;
            Message::AttachBuffer(AttachBuffer {
                queue,
                index,
                memory,
                offset,
                size,
            })
        }
        Kind::ReleaseBuffers => {
            let raw = r.u32();
            let queue = Queue::from_wire(raw).ok_or(c.bad_enum("queue", raw))?;
            c.reserved(u64::from(r.u32()))?;
            Message::ReleaseBuffers { queue }
        }
        Kind::Decode => {
            let cookie = r.u32();
            c.cookie(cookie)?;
            let buffer = r.u32();
            c.buffer("buffer", buffer)?;
            let offset = r.u32();
            let length = r.u32();
            c.range("length", u64::from(length), length > 0)?;
            c.range(
                "offset",
                u64::from(offset),
                offset.checked_add(length).is_some(),
            )?;
            Message::Decode(Decode {
                cookie,
                buffer,
                offset,
                length,
                timestamp: r.u64(),
            })
        }
        Kind::QueueCapture => {
            let buffer = r.u32();
            c.buffer("buffer", buffer)?;
            c.reserved(u64::from(r.u32()))?;
            Message::QueueCapture { buffer }
        }
        Kind::Drain => Message::Drain,
        Kind::Flush | Kind::FlushDone => {
            let queues = c.queues(r.u32())?;
            c.reserved(u64::from(r.u32()))?;
            if kind == Kind::Flush {
                Message::Flush { queues }
            } else {
                Message::FlushDone { queues }
            }
        }
        Kind::SessionClosed => Message::SessionClosed,
        Kind::InputDone => {
            let cookie = r.u32();
            c.cookie(cookie)?;
            let raw = r.u32();
            let status = if raw == 0 {
                Status::Ok
            } else {
                Status::Failed(ErrorCode::from_wire(raw).ok_or(c.bad_enum("status", raw))?)
            };
            Message::InputDone { cookie, status }
        }
        Kind::FrameDone => {
            let cookie = r.u32();
            c.cookie(cookie)?;
            let buffer = r.u32();
            c.buffer("buffer", buffer)?;
            let format = c.format(r.u32())?;
            let width = r.u32();
            let height = r.u32();
            c.size("width", width)?;
            c.size("height", height)?;
            let bytesused = r.u32();
            let min = format.image_size(width * format.bytes_per_sample(), height);
            c.range(
                "bytesused",
                u64::from(bytesused),
                min.is_some_and(|m| bytesused >= m),
            )?;
            let timestamp = r.u64();
            let flags = r.u32();
            c.reserved(u64::from(flags & !crate::frame_flags::ALL))?;
            c.reserved(u64::from(r.u32()))?;
            Message::FrameDone(FrameDone {
                cookie,
                buffer,
                format,
                width,
                height,
                bytesused,
                timestamp,
                flags,
            })
        }
        Kind::SourceChange => {
            let width = r.u32();
            let height = r.u32();
            c.size("width", width)?;
            c.size("height", height)?;
            let visible = Rect {
                x: r.u32(),
                y: r.u32(),
                width: r.u32(),
                height: r.u32(),
            };
            c.size("visible.width", visible.width)?;
            c.size("visible.height", visible.height)?;
            c.range(
                "visible.x",
                u64::from(visible.x),
                u64::from(visible.x) + u64::from(visible.width) <= u64::from(width),
            )?;
            c.range(
                "visible.y",
                u64::from(visible.y),
                u64::from(visible.y) + u64::from(visible.height) <= u64::from(height),
            )?;
            let format = c.format(r.u32())?;
            let stride = r.u32();
            c.range(
                "stride",
                u64::from(stride),
                u64::from(stride) >= u64::from(width) * u64::from(format.bytes_per_sample()),
            )?;
            let size_image = r.u32();
            let min = format.image_size(stride, height);
            c.range(
                "size_image",
                u64::from(size_image),
                min.is_some_and(|m| size_image >= m),
            )?;
            let min_buffers = r.u32();
            c.range(
                "min_buffers",
                u64::from(min_buffers),
                (1..=MAX_BUFFERS).contains(&min_buffers),
            )?;
            Message::SourceChange(SourceChange {
                width,
                height,
                visible,
                format,
                stride,
                size_image,
                min_buffers,
            })
        }
        Kind::EndOfStream => {
            let frames = r.u32();
            let raw = r.u32();
            let last_flagged = match raw {
                0 => false,
                1 => true,
                _ => return Err(c.bad_enum("last_flagged", raw)),
            };
            c.range("last_flagged", u64::from(raw), !last_flagged || frames > 0)?;
            Message::EndOfStream(EndOfStream {
                frames,
                last_flagged,
            })
        }
    };
    Ok(Frame {
        session: h.session,
        message,
    })
}
