//! The daemon side of the protocol: one connection (the module, or a loopback client), many
//! sessions, each decoded by its own worker thread.
//!
//! The connection thread validates every message, answers connection-level ones (hello,
//! ping) and routes session messages to the session's worker. A worker owns its decoder,
//! its buffer mappings and its queues, so sessions share nothing but the outgoing socket and
//! cannot stall each other. Workers give incoming requests priority over decoding work, and
//! stop consuming input while [`MAX_PENDING`] decoded frames wait for capture buffers, so
//! memory stays bounded whatever the module does.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;

use daedalus_proto::state::{BufferSet, CookieTable};
use daedalus_proto::{
    AttachBuffer, Capabilities, Codec, CodecCaps, Decode, EndOfStream, ErrorCode, FrameDone,
    GoodbyeReason, Hello, MAX_BUFFERS, Memory, Message, PixelFormat, Queue, Queues, Rect, Role,
    SessionOpen, SourceChange, Status, frame_flags,
};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use thiserror::Error;
use tracing::{debug, info, warn};

use crate::decoder::{self, DecoderConfig, FrameInfo, Picture, PlaneLayout, write_picture};
use crate::sys::Mapping;
use crate::transport::{Channel, Packet, TransportError};

/// Decoded frames a session keeps waiting for capture buffers before it stops taking input.
pub const MAX_PENDING: usize = 16;

/// Decode requests a session accepts in flight (the V4L2 output queue cannot hold more).
const MAX_IN_FLIGHT: usize = MAX_BUFFERS as usize;

/// Server options.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Sessions served at once.
    pub max_sessions: u32,
    /// Decoding threads per session.
    pub threads: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_sessions: 16,
            threads: 1,
        }
    }
}

/// How a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The module side closed the connection.
    PeerClosed,
    /// The stop descriptor fired (SIGTERM): in-flight work was finished or failed and the
    /// module was told with `Goodbye`.
    Stopped,
}

/// Why serving a connection failed.
#[derive(Debug, Error)]
pub enum ServeError {
    /// The transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// `poll` failed.
    #[error("poll failed: {0}")]
    Poll(nix::errno::Errno),
}

/// The codecs this build can decode, found by opening each decoder once.
pub fn capabilities(cfg: &ServerConfig) -> Capabilities {
    let both = PixelFormat::Nv12.bit() | PixelFormat::P010.bit();
    let mut list = Vec::new();
    for codec in Codec::ALL {
        let probe = decoder::open(&DecoderConfig {
            codec,
            threads: 1,
            extradata: Vec::new(),
        });
        match probe {
            Ok(_) => list.push(CodecCaps {
                codec,
                // Level limits: H.264 level 6.2 and VP9/AV1 level 6.x allow 8192x4320.
                max_width: 8192,
                max_height: 4352,
                formats: both,
            }),
            Err(e) => warn!(
                codec = codec.name(),
                "decoder unavailable, not offered: {e}"
            ),
        }
    }
    Capabilities::new(cfg.max_sessions, &list)
}

fn instance_id() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (u64::from(std::process::id()) << 32)
}

struct Worker {
    tx: Sender<Cmd>,
    handle: JoinHandle<()>,
}

/// Serves one connection until the peer closes it or `stop` becomes readable.
pub fn serve(
    chan: Arc<Channel>,
    cfg: &ServerConfig,
    stop: Option<BorrowedFd<'_>>,
) -> Result<Outcome, ServeError> {
    let caps = capabilities(cfg);
    chan.send(
        0,
        &Message::Hello(Hello {
            minor: 0,
            role: Role::Daemon,
            instance: instance_id(),
        }),
        &[],
    )?;
    chan.send(0, &Message::Capabilities(caps), &[])?;
    let mut sessions: HashMap<u32, Worker> = HashMap::new();
    let mut finished: Vec<JoinHandle<()>> = Vec::new();
    let mut shared: Option<Arc<OwnedFd>> = None;
    let outcome = loop {
        let mut fds = vec![PollFd::new(chan.as_fd(), PollFlags::POLLIN)];
        if let Some(s) = stop {
            fds.push(PollFd::new(s, PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(ServeError::Poll(e)),
        }
        let stop_now = fds
            .get(1)
            .and_then(|f| f.revents())
            .is_some_and(|r| !r.is_empty());
        let readable = fds[0].revents().is_some_and(|r| !r.is_empty());
        if stop_now {
            info!(
                sessions = sessions.len(),
                "stopping: finishing in-flight work"
            );
            for (_, w) in sessions.drain() {
                let _ = w.tx.send(Cmd::Shutdown);
                finished.push(w.handle);
            }
            for h in finished.drain(..) {
                let _ = h.join();
            }
            if let Err(e) = chan.send(
                0,
                &Message::Goodbye {
                    reason: GoodbyeReason::Shutdown,
                },
                &[],
            ) {
                warn!("could not say goodbye: {e}");
            }
            // The module handles a write whole before it returns, so on the character device
            // the goodbye has arrived; only a socket can lose it to a reset.
            if !chan.is_device() {
                linger(&chan);
            }
            break Outcome::Stopped;
        }
        if !readable {
            continue;
        }
        let packet = match chan.recv() {
            Ok(Some(p)) => p,
            Ok(None) | Err(TransportError::Disconnected) => {
                info!("module side closed the connection");
                break Outcome::PeerClosed;
            }
            Err(TransportError::Truncated { flags }) => {
                warn!(flags, "dropped an oversized packet");
                let _ = chan.send(
                    0,
                    &Message::error(ErrorCode::Malformed, 0, "oversized packet dropped"),
                    &[],
                );
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        handle_packet(
            &chan,
            cfg,
            &caps,
            packet,
            &mut sessions,
            &mut finished,
            &mut shared,
        )?;
        finished.retain(|h| !h.is_finished());
    };
    // Dropping the senders ends every worker; they hold nothing the peer still needs.
    for (_, w) in sessions.drain() {
        drop(w.tx);
        finished.push(w.handle);
    }
    for h in finished {
        let _ = h.join();
    }
    Ok(outcome)
}

/// Closes gracefully after a goodbye. A Unix socket closed with unread data in its receive
/// queue resets the connection, and the peer then loses what it had not read yet — the
/// goodbye itself. So stop writing, and read and drop whatever the module still sends until
/// it closes its side (it does on the goodbye) or two seconds pass.
fn linger(chan: &Channel) {
    chan.shutdown_write();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        if ms == 0 {
            break;
        }
        let mut fds = [PollFd::new(chan.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => break,
            Ok(_) => match chan.recv() {
                Ok(Some(_)) => continue,
                _ => break,
            },
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
}

fn handle_packet(
    chan: &Arc<Channel>,
    cfg: &ServerConfig,
    caps: &Capabilities,
    mut packet: Packet,
    sessions: &mut HashMap<u32, Worker>,
    finished: &mut Vec<JoinHandle<()>>,
    shared: &mut Option<Arc<OwnedFd>>,
) -> Result<(), TransportError> {
    let frame = match packet.decode(Role::Module) {
        Ok(f) => f,
        Err(e) => {
            warn!("malformed message: {e}");
            let session = daedalus_proto::Header::parse(&packet.bytes)
                .map(|h| h.session)
                .unwrap_or(0);
            let text = format!("{e}");
            return chan.send(
                session,
                &Message::error(ErrorCode::Malformed, 0, &text),
                &[],
            );
        }
    };
    let session = frame.session;
    let message = frame.message;
    let fd_ok = match message {
        Message::AttachBuffer(AttachBuffer {
            memory: Memory::Dmabuf,
            ..
        }) => packet.fds.len() == 1,
        Message::Hello(_) => packet.fds.len() <= 1,
        _ => packet.fds.is_empty(),
    };
    if !fd_ok {
        let text = format!(
            "{:?} came with {} file descriptors; a dmabuf attach carries exactly one, the hello at most one, everything else none",
            message.kind(),
            packet.fds.len()
        );
        return chan.send(
            session,
            &Message::error(ErrorCode::Malformed, 0, &text),
            &[],
        );
    }
    debug!(session, ?message, "request");
    match message {
        Message::Hello(h) if h.role != Role::Module => chan.send(
            0,
            &Message::error(
                ErrorCode::Malformed,
                0,
                "hello with the daemon role: two daemons are connected to each other",
            ),
            &[],
        ),
        Message::Hello(h) => {
            info!(minor = h.minor, "module said hello");
            if let Some(fd) = packet.fds.pop() {
                *shared = Some(Arc::new(fd));
            }
            Ok(())
        }
        Message::Ping { nonce } => chan.send(0, &Message::Pong { nonce }, &[]),
        Message::Pong { .. } => Ok(()),
        Message::Error(e) => {
            warn!(session, code = ?e.code, cookie = e.cookie, "module reports: {}", e.text);
            Ok(())
        }
        Message::SessionOpen(open) => {
            let refuse =
                |code, text: String| chan.send(session, &Message::error(code, 0, &text), &[]);
            if sessions.contains_key(&session) {
                return refuse(
                    ErrorCode::SessionExists,
                    format!("session {session} is already open"),
                );
            }
            if caps.get(open.codec).is_none() {
                return refuse(
                    ErrorCode::UnsupportedCodec,
                    format!("{} is not decodable by this daemon", open.codec.name()),
                );
            }
            if sessions.len() >= cfg.max_sessions as usize {
                return refuse(
                    ErrorCode::TooManySessions,
                    format!("{} sessions already open; close one first", sessions.len()),
                );
            }
            let dec = match decoder::open(&DecoderConfig {
                codec: open.codec,
                threads: cfg.threads,
                extradata: Vec::new(),
            }) {
                Ok(d) => d,
                Err(e) => {
                    return refuse(
                        ErrorCode::NoResources,
                        format!("cannot open the decoder: {e}"),
                    );
                }
            };
            let (tx, rx) = mpsc::channel();
            let worker = SessionWorker::new(session, open, dec, chan.clone(), shared.clone());
            let handle = std::thread::Builder::new()
                .name(format!("session-{session}"))
                .spawn(move || worker.run(rx));
            match handle {
                Ok(handle) => {
                    info!(session, codec = open.codec.name(), "session opened");
                    sessions.insert(session, Worker { tx, handle });
                    Ok(())
                }
                Err(e) => refuse(
                    ErrorCode::NoResources,
                    format!("cannot start a thread: {e}"),
                ),
            }
        }
        m => {
            let Some(worker) = sessions.get(&session) else {
                let text = format!("session {session} is not open");
                return chan.send(
                    session,
                    &Message::error(ErrorCode::UnknownSession, 0, &text),
                    &[],
                );
            };
            let cmd = match m {
                Message::SessionClose => Cmd::Close,
                Message::AttachBuffer(a) => Cmd::Attach(a, packet.fds.pop()),
                Message::ReleaseBuffers { queue } => Cmd::Release(queue),
                Message::Decode(d) => Cmd::Decode(d),
                Message::QueueCapture { buffer } => Cmd::QueueCapture(buffer),
                Message::Drain => Cmd::Drain,
                Message::Flush { queues } => Cmd::Flush(queues),
                // decode_from(.., Role::Module) admits only module kinds; the rest are
                // connection-level and handled above.
                other => {
                    warn!(?other, "unexpected message kind from the module");
                    return Ok(());
                }
            };
            let close = matches!(cmd, Cmd::Close);
            if worker.tx.send(cmd).is_err() {
                let text = "session worker died; close and reopen the session";
                let _ = chan.send(session, &Message::error(ErrorCode::Internal, 0, text), &[]);
            }
            if close && let Some(w) = sessions.remove(&session) {
                finished.push(w.handle);
            }
            Ok(())
        }
    }
}

enum Cmd {
    Attach(AttachBuffer, Option<OwnedFd>),
    Release(Queue),
    Decode(Decode),
    QueueCapture(u32),
    Drain,
    Flush(Queues),
    Close,
    Shutdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DrainState {
    Idle,
    /// Drain asked; requests before it are still being decoded.
    Requested,
    /// The decoder has released everything; frames are being written.
    Flushing,
}

/// Capture layout for a picture: the buffer is the visible size rounded up to 16 (the
/// macroblock/superblock granularity clients expect from a V4L2 decoder), lines aligned to
/// 64 bytes so dmabufs import into V3D/KMS without a copy.
pub fn capture_format(info: &FrameInfo) -> SourceChange {
    let width = info.width.next_multiple_of(16);
    let height = info.height.next_multiple_of(16);
    let stride = (width * info.format.bytes_per_sample()).next_multiple_of(64);
    SourceChange {
        width,
        height,
        visible: Rect {
            x: 0,
            y: 0,
            width: info.width,
            height: info.height,
        },
        format: info.format,
        stride,
        size_image: info.format.image_size(stride, height).unwrap_or(u32::MAX),
        // One buffer being written while one is with the client; we never keep references
        // in capture buffers (the DPB lives in the decoder).
        min_buffers: 2,
    }
}

struct SessionWorker {
    id: u32,
    out: Arc<Channel>,
    decoder: Box<dyn decoder::Decoder>,
    shared: Option<Arc<OwnedFd>>,
    output: HashMap<u32, Mapping>,
    capture: HashMap<u32, Mapping>,
    queued: VecDeque<u32>,
    queued_set: BufferSet,
    in_flight: CookieTable<MAX_IN_FLIGHT>,
    backlog: VecDeque<Decode>,
    /// Requests that arrived during a drain; decoded after it.
    held: VecDeque<Decode>,
    pending: VecDeque<Box<dyn Picture>>,
    announced: Option<SourceChange>,
    /// A source change was announced while capture buffers existed: no frame is written
    /// until the module flushes the capture queue.
    await_capture_flush: bool,
    /// tag → (cookie, timestamp) for the most recent requests.
    tags: VecDeque<(u64, u32, u64)>,
    next_tag: u64,
    drain: DrainState,
    drain_frames: u32,
    drain_last_flagged: bool,
    scratch: Vec<u8>,
    row: Vec<u8>,
    /// A successful `InputDone` held back because the frame it released is written next:
    /// it goes out right before the next message (that frame's `FrameDone`), so the peer
    /// is woken once for both instead of once each. Held only while a write is the next
    /// step, and sent before the worker waits for requests.
    held_input_done: Cell<Option<u32>>,
}

impl SessionWorker {
    fn new(
        id: u32,
        _open: SessionOpen,
        decoder: Box<dyn decoder::Decoder>,
        out: Arc<Channel>,
        shared: Option<Arc<OwnedFd>>,
    ) -> Self {
        Self {
            id,
            out,
            decoder,
            shared,
            output: HashMap::new(),
            capture: HashMap::new(),
            queued: VecDeque::new(),
            queued_set: BufferSet::new(),
            in_flight: CookieTable::new(),
            backlog: VecDeque::new(),
            held: VecDeque::new(),
            pending: VecDeque::new(),
            announced: None,
            await_capture_flush: false,
            tags: VecDeque::new(),
            next_tag: 1,
            drain: DrainState::Idle,
            drain_frames: 0,
            drain_last_flagged: false,
            scratch: Vec::new(),
            row: Vec::new(),
            held_input_done: Cell::new(None),
        }
    }

    fn send(&self, m: &Message<'_>) {
        self.send_held();
        self.send_now(m);
    }

    fn send_now(&self, m: &Message<'_>) {
        // A failed send means the peer is gone; the connection thread sees it too and ends
        // this worker by dropping its channel.
        if let Err(e) = self.out.send(self.id, m, &[]) {
            debug!(session = self.id, "send failed: {e}");
        }
    }

    fn send_held(&self) {
        if let Some(cookie) = self.held_input_done.take() {
            self.send_now(&Message::InputDone {
                cookie,
                status: Status::Ok,
            });
        }
    }

    fn error(&self, code: ErrorCode, cookie: u32, text: &str) {
        warn!(session = self.id, cookie, ?code, "{text}");
        self.send(&Message::error(code, cookie, text));
    }

    fn input_done(&mut self, cookie: u32, status: Status) {
        let _ = self.in_flight.remove(cookie);
        self.send(&Message::InputDone { cookie, status });
    }

    fn run(mut self, rx: Receiver<Cmd>) {
        loop {
            let cmd = if self.has_work() {
                match rx.try_recv() {
                    Ok(c) => Some(c),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => return,
                }
            } else {
                self.send_held();
                match rx.recv() {
                    Ok(c) => Some(c),
                    Err(_) => return,
                }
            };
            match cmd {
                Some(cmd) => {
                    if !self.handle(cmd) {
                        return;
                    }
                }
                None => self.step(),
            }
        }
    }

    /// Whether a frame can be written, a request decoded, or a drain advanced.
    fn has_work(&self) -> bool {
        self.can_write() || self.can_decode() || self.drain_can_advance()
    }

    fn can_write(&self) -> bool {
        let Some(front) = self.pending.front() else {
            return false;
        };
        let fmt = capture_format(front.info());
        self.announced != Some(fmt)
            || (!self.await_capture_flush && self.find_capture(fmt.size_image).is_some())
    }

    fn can_decode(&self) -> bool {
        !self.backlog.is_empty() && self.pending.len() < MAX_PENDING
    }

    fn drain_can_advance(&self) -> bool {
        match self.drain {
            DrainState::Idle => false,
            DrainState::Requested => self.backlog.is_empty(),
            DrainState::Flushing => self.pending.is_empty(),
        }
    }

    fn find_capture(&self, size: u32) -> Option<usize> {
        self.queued.iter().position(|b| {
            self.capture
                .get(b)
                .is_some_and(|m| m.len() >= size as usize)
        })
    }

    /// One unit of work, most urgent first: write a frame, decode a request, advance a drain.
    fn step(&mut self) {
        if self.can_write() {
            self.write_front();
        } else if self.can_decode() {
            if let Some(d) = self.backlog.pop_front() {
                self.decode_one(d);
            }
        } else if self.drain_can_advance() {
            self.advance_drain();
        }
    }

    fn write_front(&mut self) {
        let Some(front) = self.pending.front() else {
            return;
        };
        let info = *front.info();
        let fmt = capture_format(&info);
        if self.announced != Some(fmt) {
            // Before the first frame of a new size or depth. Frames of the old format were
            // all written first (the queue is in display order), so the module can reallocate.
            info!(
                session = self.id,
                width = info.width,
                height = info.height,
                format = info.format.name(),
                "source change"
            );
            self.announced = Some(fmt);
            // Capture buffers attached so far were sized for the old format. The module
            // acknowledges the change with a capture flush (docs/protocol.md); until it
            // arrives no frame is written, not even into a buffer queued in the meantime,
            // which may have been sent before the module saw the change.
            self.await_capture_flush = !self.capture.is_empty();
            self.send(&Message::SourceChange(fmt));
            return;
        }
        let Some(pos) = self.find_capture(fmt.size_image) else {
            return;
        };
        let Some(buffer) = self.queued.remove(pos) else {
            return;
        };
        let _ = self.queued_set.remove(buffer);
        let Some(pic) = self.pending.pop_front() else {
            return;
        };
        let layout = PlaneLayout::capture(fmt.stride as usize, fmt.height);
        let ok = match self.capture.get(&buffer) {
            Some(map) => {
                // Dropped (fenced) before the FrameDone below announces the frame.
                let mut w = map.streaming();
                write_picture(&*pic, &layout, &mut self.row, &mut |off, bytes| {
                    w.write(off, bytes)
                })
            }
            None => false,
        };
        let (cookie, timestamp) = self.lookup_tag(info.tag);
        let mut flags = info.flags;
        if !ok {
            flags |= frame_flags::ERROR;
        }
        if self.drain == DrainState::Flushing {
            self.drain_frames += 1;
            if self.pending.is_empty() {
                flags |= frame_flags::LAST;
                self.drain_last_flagged = true;
            }
        }
        self.send(&Message::FrameDone(FrameDone {
            cookie,
            buffer,
            format: fmt.format,
            width: fmt.width,
            height: fmt.height,
            bytesused: fmt.size_image,
            timestamp,
            flags,
        }));
    }

    /// The request a picture came from. A picture the decoder could not attribute (no
    /// timestamp survived) is credited to the newest request, as V4L2 drivers do.
    fn lookup_tag(&self, tag: Option<u64>) -> (u32, u64) {
        let hit = tag.and_then(|t| self.tags.iter().find(|(tt, _, _)| *tt == t));
        match hit.or(self.tags.back()) {
            Some(&(_, cookie, ts)) => (cookie, ts),
            // Unreachable in practice: a picture needs input, and input records a tag.
            None => (u32::MAX, 0),
        }
    }

    fn decode_one(&mut self, d: Decode) {
        let Some(map) = self.output.get(&d.buffer) else {
            // Released under the request: refused at receipt normally, kept for safety.
            self.input_done(d.cookie, Status::Failed(ErrorCode::BadBuffer));
            return;
        };
        self.scratch.resize(d.length as usize, 0);
        if !map.read(d.offset as usize, &mut self.scratch) {
            self.input_done(d.cookie, Status::Failed(ErrorCode::BadBuffer));
            return;
        }
        let tag = self.next_tag;
        self.next_tag += 1;
        self.tags.push_back((tag, d.cookie, d.timestamp));
        // Enough to cover the deepest reorder (16 frames) plus the queues.
        if self.tags.len() > 128 {
            self.tags.pop_front();
        }
        let pending = &mut self.pending;
        let r = self
            .decoder
            .decode(&self.scratch, tag, &mut |p| pending.push_back(p));
        match r {
            Ok(()) if self.can_write() => {
                let _ = self.in_flight.remove(d.cookie);
                self.send_held();
                self.held_input_done.set(Some(d.cookie));
            }
            Ok(()) => self.input_done(d.cookie, Status::Ok),
            Err(e) => {
                let code = if e.is_bad_input() {
                    ErrorCode::DecodeFailed
                } else {
                    ErrorCode::Internal
                };
                self.input_done(d.cookie, Status::Failed(code));
                self.error(
                    code,
                    d.cookie,
                    &format!("cannot decode request {}: {e}", d.cookie),
                );
            }
        }
    }

    fn advance_drain(&mut self) {
        match self.drain {
            DrainState::Idle => {}
            DrainState::Requested => {
                let pending = &mut self.pending;
                if let Err(e) = self.decoder.drain(&mut |p| pending.push_back(p)) {
                    self.error(
                        ErrorCode::DecodeFailed,
                        0,
                        &format!("error while draining: {e}"),
                    );
                }
                self.drain = DrainState::Flushing;
            }
            DrainState::Flushing => {
                self.send(&Message::EndOfStream(EndOfStream {
                    frames: self.drain_frames,
                    last_flagged: self.drain_last_flagged,
                }));
                self.drain = DrainState::Idle;
                self.drain_frames = 0;
                self.drain_last_flagged = false;
                let held: Vec<Decode> = self.held.drain(..).collect();
                self.backlog.extend(held);
            }
        }
    }

    fn output_in_use(&self, index: u32) -> bool {
        self.backlog
            .iter()
            .chain(self.held.iter())
            .any(|d| d.buffer == index)
    }

    /// Handles one request; `false` ends the worker.
    fn handle(&mut self, cmd: Cmd) -> bool {
        match cmd {
            Cmd::Attach(a, fd) => self.attach(a, fd),
            Cmd::Release(queue) => match queue {
                Queue::Output if !self.backlog.is_empty() || !self.held.is_empty() => self.error(
                    ErrorCode::BadState,
                    0,
                    "output buffers still hold queued requests; flush the output queue first",
                ),
                Queue::Output => self.output.clear(),
                Queue::Capture if !self.queued.is_empty() => self.error(
                    ErrorCode::BadState,
                    0,
                    "capture buffers are still queued; flush the capture queue first",
                ),
                Queue::Capture => self.capture.clear(),
            },
            Cmd::Decode(d) => self.queue_decode(d),
            Cmd::QueueCapture(b) => {
                if !self.capture.contains_key(&b) {
                    self.error(
                        ErrorCode::BadBuffer,
                        0,
                        &format!("capture buffer {b} is not attached"),
                    );
                } else if self.queued_set.insert(b).is_err() {
                    self.error(
                        ErrorCode::BadBuffer,
                        0,
                        &format!("capture buffer {b} is already queued"),
                    );
                } else {
                    self.queued.push_back(b);
                }
            }
            Cmd::Drain => {
                if self.drain == DrainState::Idle {
                    self.drain = DrainState::Requested;
                } else {
                    self.error(
                        ErrorCode::BadState,
                        0,
                        "a drain is already in progress; wait for its end of stream",
                    );
                }
            }
            Cmd::Flush(q) => {
                if q.output {
                    let dropped: Vec<Decode> =
                        self.backlog.drain(..).chain(self.held.drain(..)).collect();
                    for d in dropped {
                        self.input_done(d.cookie, Status::Ok);
                    }
                    self.pending.clear();
                    self.tags.clear();
                    self.drain = DrainState::Idle;
                    self.drain_frames = 0;
                    self.drain_last_flagged = false;
                    if let Err(e) = self.decoder.flush() {
                        self.error(
                            ErrorCode::Internal,
                            0,
                            &format!("cannot reset the decoder: {e}"),
                        );
                    }
                }
                if q.capture {
                    self.queued.clear();
                    self.queued_set.clear();
                    self.await_capture_flush = false;
                }
                self.send(&Message::FlushDone { queues: q });
            }
            Cmd::Close => {
                info!(session = self.id, "session closed");
                self.output.clear();
                self.capture.clear();
                self.send(&Message::SessionClosed);
                return false;
            }
            Cmd::Shutdown => {
                let failed: Vec<Decode> =
                    self.backlog.drain(..).chain(self.held.drain(..)).collect();
                for d in failed {
                    self.input_done(d.cookie, Status::Failed(ErrorCode::ShuttingDown));
                }
                // Frames already decoded go out if a capture buffer is there for them.
                while self.can_write() {
                    self.write_front();
                }
                self.send_held();
                return false;
            }
        }
        true
    }

    fn queue_decode(&mut self, d: Decode) {
        if let Err(e) = self.in_flight.insert(d.cookie, d.timestamp) {
            let code = match e {
                daedalus_proto::state::StateError::TableFull { .. } => ErrorCode::NoResources,
                _ => ErrorCode::BadCookie,
            };
            // A duplicate cookie is not answered with InputDone: that would complete the
            // original request in the module's eyes.
            if code == ErrorCode::NoResources {
                self.send(&Message::InputDone {
                    cookie: d.cookie,
                    status: Status::Failed(code),
                });
            }
            self.error(code, d.cookie, &format!("decode request refused: {e}"));
            return;
        }
        let fits = self.output.get(&d.buffer).is_some_and(|m| {
            (d.offset as usize)
                .checked_add(d.length as usize)
                .is_some_and(|end| end <= m.len())
        });
        if !fits {
            self.input_done(d.cookie, Status::Failed(ErrorCode::BadBuffer));
            self.error(
                ErrorCode::BadBuffer,
                d.cookie,
                &format!(
                    "output buffer {} is not attached or bytes {}..+{} lie outside it",
                    d.buffer, d.offset, d.length
                ),
            );
            return;
        }
        if self.drain == DrainState::Idle {
            self.backlog.push_back(d);
        } else {
            self.held.push_back(d);
        }
    }

    fn attach(&mut self, a: AttachBuffer, fd: Option<OwnedFd>) {
        let busy = match a.queue {
            Queue::Output => self.output_in_use(a.index),
            Queue::Capture => self.queued_set.contains(a.index),
        };
        if busy {
            self.error(
                ErrorCode::BadState,
                0,
                &format!(
                    "{:?} buffer {} is in use; cannot re-attach it",
                    a.queue, a.index
                ),
            );
            return;
        }
        let size = a.size as usize;
        let mapped = match (a.memory, fd, &self.shared) {
            (Memory::Dmabuf, Some(fd), _) => Mapping::new(fd.as_fd(), a.offset, size),
            (Memory::Shared, None, Some(shared)) => Mapping::new(shared.as_fd(), a.offset, size),
            (Memory::Shared, None, None) => {
                self.error(
                    ErrorCode::BadBuffer,
                    0,
                    "shared-memory buffer attached but the module's hello carried no shared area",
                );
                return;
            }
            _ => {
                self.error(
                    ErrorCode::Malformed,
                    0,
                    "attach carries the wrong descriptors",
                );
                return;
            }
        };
        match mapped {
            Ok(m) => {
                let map = match a.queue {
                    Queue::Output => &mut self.output,
                    Queue::Capture => &mut self.capture,
                };
                map.insert(a.index, m);
            }
            Err(e) => self.error(
                ErrorCode::BadBuffer,
                0,
                &format!(
                    "cannot map {:?} buffer {} ({} bytes at {}): {e}",
                    a.queue, a.index, a.size, a.offset
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(width: u32, height: u32, format: PixelFormat) -> FrameInfo {
        FrameInfo {
            width,
            height,
            format,
            tag: None,
            flags: 0,
        }
    }

    #[test]
    fn capture_format_pads_to_16_and_aligns_lines_to_64_bytes() {
        let f = capture_format(&info(1920, 1080, PixelFormat::Nv12));
        assert_eq!((f.width, f.height, f.stride), (1920, 1088, 1920));
        assert_eq!(f.size_image, 1920 * 1088 * 3 / 2);
        assert_eq!(
            f.visible,
            Rect {
                x: 0,
                y: 0,
                width: 1920,
                height: 1080
            }
        );
        let f = capture_format(&info(201, 131, PixelFormat::Nv12));
        assert_eq!((f.width, f.height, f.stride), (208, 144, 256));
        assert_eq!(f.size_image, 256 * 144 + 256 * 72);
        let f = capture_format(&info(320, 240, PixelFormat::P010));
        assert_eq!((f.width, f.height, f.stride), (320, 240, 640));
        assert_eq!(f.size_image, 640 * 240 * 3 / 2);
        // Whatever the size, the announced layout passes the receiver's validation and holds
        // the packed picture.
        for (w, h) in [(1, 1), (2, 3), (17, 9), (4096, 2160), (8192, 4352)] {
            for fmt in PixelFormat::ALL {
                let sc = capture_format(&info(w, h, fmt));
                let mut buf = [0u8; daedalus_proto::MAX_MESSAGE_LEN];
                Message::SourceChange(sc).encode(1, &mut buf).unwrap();
                let i = info(w, h, fmt);
                let layout = PlaneLayout::capture(sc.stride as usize, sc.height);
                let last_chroma =
                    layout.offset[1] + (i.rows(1) as usize - 1) * layout.stride[1] + i.row_bytes(1);
                assert!(last_chroma <= sc.size_image as usize, "{w}x{h} {fmt:?}");
            }
        }
    }
}
