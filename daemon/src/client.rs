//! The module's side of the protocol, in userspace: what the tests and the benchmark use to
//! stream files through the daemon exactly as the kernel module will.
//!
//! Like the module, it keeps a 4-deep output queue (bitstream buffers in the shared area)
//! and a capture queue of dmabuf-like memfds, reallocates capture buffers on a source
//! change (flush capture, release, attach, queue), drains at the end, and validates every
//! message from the daemon with the `daedalus-proto` trackers. If the daemon dies, every
//! request and buffer in flight is reported lost and nothing waits forever.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use daedalus_proto::state::{BufferSet, CookieRing, CookieTable};
use daedalus_proto::{
    AttachBuffer, Capabilities, Codec, Decode, ErrorCode, FrameDone, Hello, MAX_BUFFERS, Memory,
    Message, Queue, Queues, Role, SessionOpen, SourceChange, Status, frame_flags,
};
use nix::sys::memfd::{MemFdCreateFlag, memfd_create};
use thiserror::Error;

use crate::sys::{CodecId, Demuxer, Mapping};
use crate::transport::{Channel, TransportError};

/// Depth of the output and (at least) the capture queue, as the module keeps them.
pub const QUEUE_DEPTH: usize = 4;

/// Size of one output (bitstream) buffer.
pub const OUTPUT_BUFFER_SIZE: usize = 4 << 20;

/// Sessions one client can run at once (slices of the shared area).
pub const MAX_CLIENT_SESSIONS: u32 = 16;

/// How long the client waits for any reply before declaring the daemon unresponsive.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Client failures.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The daemon's first messages were not hello and capabilities.
    #[error("the daemon did not greet with hello and capabilities (got {0})")]
    NoGreeting(String),
    /// A message from the daemon broke the protocol.
    #[error("protocol violation by the daemon: {0}")]
    Protocol(String),
    /// Creating or mapping a buffer failed.
    #[error("cannot set up a buffer: {0}")]
    Buffer(#[from] nix::Error),
    /// The input could not be read.
    #[error("cannot read the input: {0}")]
    Input(#[from] crate::sys::AvError),
    /// The daemon did not answer in time.
    #[error("the daemon did not answer within {0:?}")]
    Timeout(Duration),
    /// The daemon refused the session.
    #[error("session refused: {0:?}: {1}")]
    Refused(ErrorCode, String),
    /// The input codec is not one the daemon decodes.
    #[error("the input's codec is not h264, vp9 or av1")]
    UnsupportedInput,
}

/// A daemon message for one session, owned.
#[derive(Clone, Debug)]
enum Event {
    InputDone(u32, Status),
    FrameDone(FrameDone),
    SourceChange(SourceChange),
    EndOfStream {
        last_flagged: bool,
    },
    FlushDone(Queues),
    SessionClosed,
    Error(ErrorCode, u32, String),
    /// The connection ended (daemon killed) or the daemon said goodbye.
    Gone,
}

type Routes = Arc<Mutex<HashMap<u32, Sender<Event>>>>;

/// A connection to a daemon, playing the module.
pub struct ModuleClient {
    chan: Arc<Channel>,
    caps: Capabilities,
    instance: u64,
    routes: Routes,
    reader: Option<JoinHandle<()>>,
    shared_fd: OwnedFd,
    shared: Arc<Mapping>,
    next_slot: AtomicU32,
    goodbye: Arc<Mutex<Option<daedalus_proto::GoodbyeReason>>>,
}

/// Replaces request `n`'s data (`Some`) or leaves it (`None`).
pub type Mutator = fn(usize, &[u8]) -> Option<Vec<u8>>;

/// How to feed a stream.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// H.264 only: cut the Annex-B stream into chunks of pseudo-random sizes up to this
    /// many bytes (arbitrary chunking, as V4L2 clients may deliver it); 0 = one access unit
    /// per request.
    pub max_chunk: usize,
    /// Pass the bitstream through the shared area (`Memory::Shared`) or as one memfd per
    /// output buffer (`Memory::Dmabuf`).
    pub output_memory: Memory,
    /// Capture buffers to allocate (at least the daemon's minimum).
    pub capture_buffers: usize,
    /// Called with every request number before it is sent; return `Some(bytes)` to replace
    /// the data (corruption tests).
    pub mutate: Option<Mutator>,
    /// Repeat the whole stream this many times (with a drain between), for benchmarks.
    pub repeat: usize,
    /// Copy each frame's visible part out of its capture buffer into the report. Off for
    /// the benchmark, which plays a zero-copy consumer (display or encode from the dmabuf)
    /// instead of accumulating gigabytes of frames.
    pub keep_frames: bool,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            max_chunk: 0,
            output_memory: Memory::Shared,
            capture_buffers: QUEUE_DEPTH,
            mutate: None,
            repeat: 1,
            keep_frames: true,
        }
    }
}

/// What streaming a file produced.
#[derive(Clone, Debug, Default)]
pub struct StreamReport {
    /// Visible frames, packed as `ffmpeg -f rawvideo` writes them.
    pub frames: Vec<u8>,
    /// Number of frames.
    pub frame_count: usize,
    /// Source changes seen.
    pub source_changes: usize,
    /// End-of-stream replies seen.
    pub end_of_streams: usize,
    /// Requests the daemon failed (`InputDone` with an error), by cookie.
    pub failed_requests: Vec<(u32, ErrorCode)>,
    /// `Error` messages received.
    pub errors: Vec<(ErrorCode, u32, String)>,
    /// Frames flagged as decoded with errors.
    pub corrupt_frames: usize,
    /// Requests and capture buffers lost because the daemon went away.
    pub lost: usize,
    /// Whether the daemon went away during the stream.
    pub daemon_gone: bool,
}

fn owned(m: Message<'_>) -> Option<Event> {
    Some(match m {
        Message::InputDone { cookie, status } => Event::InputDone(cookie, status),
        Message::FrameDone(f) => Event::FrameDone(f),
        Message::SourceChange(s) => Event::SourceChange(s),
        Message::EndOfStream(e) => Event::EndOfStream {
            last_flagged: e.last_flagged,
        },
        Message::FlushDone { queues } => Event::FlushDone(queues),
        Message::SessionClosed => Event::SessionClosed,
        Message::Error(e) => Event::Error(e.code, e.cookie, e.text.to_string()),
        _ => return None,
    })
}

fn memfd(name: &str, size: usize) -> Result<OwnedFd, nix::Error> {
    let cname = CString::new(name).map_err(|_| nix::Error::EINVAL)?;
    let fd = memfd_create(&cname, MemFdCreateFlag::MFD_CLOEXEC)?;
    nix::unistd::ftruncate(&fd, size as i64)?;
    Ok(fd)
}

impl ModuleClient {
    /// Says hello over `chan` and waits for the daemon's hello and capabilities.
    pub fn connect(chan: Channel) -> Result<Self, ClientError> {
        let chan = Arc::new(chan);
        let shared_size = MAX_CLIENT_SESSIONS as usize * QUEUE_DEPTH * OUTPUT_BUFFER_SIZE;
        let shared_fd = memfd("daedalus-shared", shared_size)?;
        let shared = Arc::new(Mapping::new(shared_fd.as_fd(), 0, shared_size)?);
        chan.send(
            0,
            &Message::Hello(Hello {
                minor: 0,
                role: Role::Module,
                instance: u64::from(std::process::id()),
            }),
            &[shared_fd.as_fd()],
        )?;
        let greet = || -> Result<Message<'static>, ClientError> {
            let p = chan
                .recv()?
                .ok_or(ClientError::NoGreeting("end of connection".into()))?;
            let f = p
                .decode(Role::Daemon)
                .map_err(|e| ClientError::Protocol(e.to_string()))?;
            match f.message {
                Message::Hello(h) => Ok(Message::Hello(h)),
                Message::Capabilities(c) => Ok(Message::Capabilities(c)),
                other => Err(ClientError::NoGreeting(format!("{:?}", other.kind()))),
            }
        };
        let (Message::Hello(hello), Message::Capabilities(caps)) = (greet()?, greet()?) else {
            return Err(ClientError::NoGreeting("messages out of order".into()));
        };
        if hello.role != Role::Daemon {
            return Err(ClientError::NoGreeting("a hello from a non-daemon".into()));
        }
        let routes: Routes = Arc::new(Mutex::new(HashMap::new()));
        let goodbye = Arc::new(Mutex::new(None));
        let reader = {
            let chan = chan.clone();
            let routes = routes.clone();
            let goodbye = goodbye.clone();
            std::thread::Builder::new()
                .name("client-reader".into())
                .spawn(move || read_loop(&chan, &routes, &goodbye))
                .map_err(|e| ClientError::Protocol(format!("cannot start the reader: {e}")))?
        };
        Ok(Self {
            chan,
            caps,
            instance: hello.instance,
            routes,
            reader: Some(reader),
            shared_fd,
            shared,
            next_slot: AtomicU32::new(0),
            goodbye,
        })
    }

    /// What the daemon offered.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// The daemon's instance id (changes on restart).
    pub fn instance(&self) -> u64 {
        self.instance
    }

    /// Whether the daemon said goodbye, and why.
    pub fn goodbye(&self) -> Option<daedalus_proto::GoodbyeReason> {
        self.goodbye.lock().ok().and_then(|g| *g)
    }

    /// Sends a raw message on `session` (protocol tests).
    pub fn send_raw(&self, session: u32, m: &Message<'_>) -> Result<(), ClientError> {
        Ok(self.chan.send(session, m, &[])?)
    }

    /// Streams `input` through a new session `session` and returns what came back.
    pub fn stream(
        &self,
        session: u32,
        input: &Path,
        opts: &StreamOptions,
    ) -> Result<StreamReport, ClientError> {
        let mut demux = Demuxer::open(input)?;
        let codec = match demux.info().codec {
            Some(CodecId::H264) => Codec::H264,
            Some(CodecId::Vp9) => Codec::Vp9,
            Some(CodecId::Av1) => Codec::Av1,
            None => return Err(ClientError::UnsupportedInput),
        };
        let mut units = Vec::new();
        while let Some(p) = demux.next_packet()? {
            units.push(p.to_vec());
        }
        if codec == Codec::H264 && opts.max_chunk > 0 {
            units = rechunk(&units, opts.max_chunk, u64::from(session));
        }
        self.stream_units(session, codec, &units, opts)
    }

    /// Streams prepared requests (one `Decode` each) through a new session.
    pub fn stream_units(
        &self,
        session: u32,
        codec: Codec,
        units: &[Vec<u8>],
        opts: &StreamOptions,
    ) -> Result<StreamReport, ClientError> {
        let (tx, rx) = mpsc::channel();
        self.routes
            .lock()
            .map_err(|_| ClientError::Protocol("route table poisoned".into()))?
            .insert(session, tx);
        let slot = self.next_slot.fetch_add(1, Ordering::Relaxed) % MAX_CLIENT_SESSIONS;
        let mut s = ClientSession {
            id: session,
            client: self,
            rx,
            report: StreamReport::default(),
            in_flight: CookieTable::new(),
            finished: CookieRing::new(),
            cookie_buffer: HashMap::new(),
            free_outputs: (0..QUEUE_DEPTH as u32).collect(),
            outputs: Vec::new(),
            captures: Vec::new(),
            daemon_owned: BufferSet::new(),
            format: None,
            realloc: None,
            next_cookie: 1,
            saw_last: false,
            keep_frames: opts.keep_frames,
        };
        let r = match s.run(codec, units, opts, slot) {
            // The daemon went away while we were sending: the same as seeing it go while
            // waiting, every request it held is lost.
            Err(ClientError::Transport(TransportError::Disconnected)) => {
                // Whatever the daemon sent before it went (answers, frames, a goodbye) is
                // still in the socket: let the reader deliver it, up to the end of the
                // connection, before declaring the rest lost.
                loop {
                    match s.rx.recv_timeout(REPLY_TIMEOUT) {
                        Ok(Event::Gone) | Err(_) => break,
                        Ok(ev) => {
                            let _ = s.on_event(ev);
                        }
                    }
                }
                s.lose_everything();
                Ok(std::mem::take(&mut s.report))
            }
            r => r,
        };
        if let Ok(mut routes) = self.routes.lock() {
            routes.remove(&session);
        }
        r
    }
}

impl Drop for ModuleClient {
    fn drop(&mut self) {
        self.chan.shutdown();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let _ = &self.shared_fd;
    }
}

fn read_loop(
    chan: &Channel,
    routes: &Routes,
    goodbye: &Mutex<Option<daedalus_proto::GoodbyeReason>>,
) {
    loop {
        let packet = match chan.recv() {
            Ok(Some(p)) => p,
            Ok(None) | Err(_) => break,
        };
        let Ok(frame) = packet.decode(Role::Daemon) else {
            // The module drops what it cannot validate; the session trackers then notice
            // the missing reply through the timeout.
            continue;
        };
        match frame.message {
            Message::Goodbye { reason } => {
                if let Ok(mut g) = goodbye.lock() {
                    *g = Some(reason);
                }
                // As the module does: close our side so the daemon can exit at once.
                chan.shutdown();
                break;
            }
            Message::Ping { nonce } => {
                let _ = chan.send(0, &Message::Pong { nonce }, &[]);
            }
            m => {
                if let Some(ev) = owned(m)
                    && let Ok(routes) = routes.lock()
                    && let Some(tx) = routes.get(&frame.session)
                {
                    let _ = tx.send(ev);
                }
            }
        }
    }
    if let Ok(mut routes) = routes.lock() {
        for (_, tx) in routes.drain() {
            let _ = tx.send(Event::Gone);
        }
    }
}

/// Concatenates the units and cuts them at pseudo-random points (xorshift, seeded by
/// `seed`): the daemon must find access units itself.
pub fn rechunk(units: &[Vec<u8>], max_chunk: usize, seed: u64) -> Vec<Vec<u8>> {
    let all: Vec<u8> = units.concat();
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < all.len() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = 1 + (x as usize) % max_chunk.max(1);
        let end = (pos + n).min(all.len());
        out.push(all[pos..end].to_vec());
        pos = end;
    }
    out
}

struct ClientSession<'c> {
    id: u32,
    client: &'c ModuleClient,
    rx: Receiver<Event>,
    report: StreamReport,
    in_flight: CookieTable<{ MAX_BUFFERS as usize }>,
    finished: CookieRing<256>,
    cookie_buffer: HashMap<u32, u32>,
    free_outputs: Vec<u32>,
    /// Output buffers: (offset in the shared area or own memfd mapping).
    outputs: Vec<OutputBuffer>,
    captures: Vec<Mapping>,
    daemon_owned: BufferSet,
    format: Option<SourceChange>,
    realloc: Option<SourceChange>,
    next_cookie: u32,
    saw_last: bool,
    keep_frames: bool,
}

enum OutputBuffer {
    Shared { offset: usize },
    Own(Mapping),
}

impl ClientSession<'_> {
    fn send(&self, m: &Message<'_>) -> Result<(), ClientError> {
        Ok(self.client.chan.send(self.id, m, &[])?)
    }

    fn run(
        &mut self,
        codec: Codec,
        units: &[Vec<u8>],
        opts: &StreamOptions,
        slot: u32,
    ) -> Result<StreamReport, ClientError> {
        self.send(&Message::SessionOpen(SessionOpen {
            codec,
            width: 0,
            height: 0,
        }))?;
        for i in 0..QUEUE_DEPTH as u32 {
            match opts.output_memory {
                Memory::Shared => {
                    let offset = (slot as usize * QUEUE_DEPTH + i as usize) * OUTPUT_BUFFER_SIZE;
                    self.outputs.push(OutputBuffer::Shared { offset });
                    self.send(&Message::AttachBuffer(AttachBuffer {
                        queue: Queue::Output,
                        index: i,
                        memory: Memory::Shared,
                        offset: offset as u64,
                        size: OUTPUT_BUFFER_SIZE as u64,
                    }))?;
                }
                Memory::Dmabuf => {
                    let fd = memfd("daedalus-output", OUTPUT_BUFFER_SIZE)?;
                    let map = Mapping::new(fd.as_fd(), 0, OUTPUT_BUFFER_SIZE)?;
                    self.client.chan.send(
                        self.id,
                        &Message::AttachBuffer(AttachBuffer {
                            queue: Queue::Output,
                            index: i,
                            memory: Memory::Dmabuf,
                            offset: 0,
                            size: OUTPUT_BUFFER_SIZE as u64,
                        }),
                        &[fd.as_fd()],
                    )?;
                    self.outputs.push(OutputBuffer::Own(map));
                }
            }
        }
        let total = units.len() * opts.repeat.max(1);
        let limit = total;
        let mut sent = 0;
        let mut drains_pending = 0usize;
        let mut final_drain_sent = false;
        loop {
            // Keep the output queue full.
            while sent < limit && drains_pending == 0 {
                let Some(buffer) = self.free_outputs.pop() else {
                    break;
                };
                let unit = &units[sent % units.len()];
                let mutated = opts.mutate.and_then(|f| f(sent, unit));
                let data = mutated.as_deref().unwrap_or(unit);
                self.submit(buffer, data)?;
                sent += 1;
                // Between repetitions: drain, then start again from the first key frame.
                let boundary = sent % units.len() == 0 && sent < total;
                if boundary && sent < limit {
                    self.send(&Message::Drain)?;
                    drains_pending += 1;
                }
            }
            if sent == limit && limit == total && !final_drain_sent && drains_pending == 0 {
                self.send(&Message::Drain)?;
                drains_pending += 1;
                final_drain_sent = true;
            }
            if final_drain_sent && drains_pending == 0 {
                break;
            }
            let ev = match self.rx.recv_timeout(REPLY_TIMEOUT) {
                Ok(ev) => ev,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(ClientError::Timeout(REPLY_TIMEOUT));
                }
                Err(RecvTimeoutError::Disconnected) => Event::Gone,
            };
            match ev {
                Event::EndOfStream { last_flagged } => {
                    if last_flagged != self.saw_last {
                        return Err(ClientError::Protocol(format!(
                            "end of stream says last_flagged={last_flagged} but a LAST frame was {}seen",
                            if self.saw_last { "" } else { "not " }
                        )));
                    }
                    self.saw_last = false;
                    self.report.end_of_streams += 1;
                    drains_pending = drains_pending.saturating_sub(1);
                }
                Event::Gone => {
                    self.lose_everything();
                    return Ok(std::mem::take(&mut self.report));
                }
                ev => self.on_event(ev)?,
            }
        }
        self.send(&Message::SessionClose)?;
        loop {
            match self.rx.recv_timeout(REPLY_TIMEOUT) {
                Ok(Event::SessionClosed) => break,
                Ok(Event::Gone) | Err(RecvTimeoutError::Disconnected) => {
                    self.lose_everything();
                    break;
                }
                Ok(ev) => self.on_event(ev)?,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(ClientError::Timeout(REPLY_TIMEOUT));
                }
            }
        }
        Ok(std::mem::take(&mut self.report))
    }

    fn submit(&mut self, buffer: u32, data: &[u8]) -> Result<(), ClientError> {
        let len = data.len().min(OUTPUT_BUFFER_SIZE);
        let ok = match &self.outputs[buffer as usize] {
            OutputBuffer::Shared { offset } => self.client.shared.write(*offset, &data[..len]),
            OutputBuffer::Own(m) => m.write(0, &data[..len]),
        };
        if !ok || len == 0 {
            return Err(ClientError::Protocol(format!(
                "request of {} bytes does not fit an output buffer",
                data.len()
            )));
        }
        let cookie = self.next_cookie;
        self.next_cookie = self.next_cookie.wrapping_add(1).max(1);
        let timestamp = u64::from(cookie) * 40_000_000;
        self.in_flight
            .insert(cookie, timestamp)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.cookie_buffer.insert(cookie, buffer);
        self.send(&Message::Decode(Decode {
            cookie,
            buffer,
            offset: 0,
            length: len as u32,
            timestamp,
        }))
    }

    fn on_event(&mut self, ev: Event) -> Result<(), ClientError> {
        match ev {
            Event::InputDone(cookie, status) => {
                let ts = self.in_flight.remove(cookie).map_err(|e| {
                    ClientError::Protocol(format!("input done for a cookie not in flight: {e}"))
                })?;
                self.finished.push(cookie, ts);
                if let Some(b) = self.cookie_buffer.remove(&cookie) {
                    self.free_outputs.push(b);
                }
                if let Status::Failed(code) = status {
                    self.report.failed_requests.push((cookie, code));
                }
            }
            Event::FrameDone(f) => self.on_frame(f)?,
            Event::SourceChange(fmt) => {
                self.report.source_changes += 1;
                if self.captures.is_empty() {
                    self.allocate_captures(fmt)?;
                } else {
                    // As a V4L2 client does: stop the capture queue, then reallocate.
                    self.realloc = Some(fmt);
                    self.send(&Message::Flush {
                        queues: Queues {
                            output: false,
                            capture: true,
                        },
                    })?;
                }
            }
            Event::FlushDone(q) => {
                if q.capture {
                    self.daemon_owned.clear();
                    if let Some(fmt) = self.realloc.take() {
                        self.send(&Message::ReleaseBuffers {
                            queue: Queue::Capture,
                        })?;
                        self.captures.clear();
                        self.allocate_captures(fmt)?;
                    }
                }
            }
            Event::Error(code, cookie, text) => self.report.errors.push((code, cookie, text)),
            Event::EndOfStream { .. } => self.report.end_of_streams += 1,
            Event::SessionClosed | Event::Gone => {}
        }
        Ok(())
    }

    fn allocate_captures(&mut self, fmt: SourceChange) -> Result<(), ClientError> {
        let n = self.report_capture_count(&fmt);
        for i in 0..n {
            let fd = memfd("daedalus-capture", fmt.size_image as usize)?;
            let map = Mapping::new(fd.as_fd(), 0, fmt.size_image as usize)?;
            self.client.chan.send(
                self.id,
                &Message::AttachBuffer(AttachBuffer {
                    queue: Queue::Capture,
                    index: i as u32,
                    memory: Memory::Dmabuf,
                    offset: 0,
                    size: u64::from(fmt.size_image),
                }),
                &[fd.as_fd()],
            )?;
            self.captures.push(map);
            self.queue_capture(i as u32)?;
        }
        self.format = Some(fmt);
        Ok(())
    }

    fn report_capture_count(&self, fmt: &SourceChange) -> usize {
        (fmt.min_buffers as usize)
            .max(QUEUE_DEPTH)
            .min(MAX_BUFFERS as usize)
    }

    fn queue_capture(&mut self, b: u32) -> Result<(), ClientError> {
        self.daemon_owned
            .insert(b)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.send(&Message::QueueCapture { buffer: b })
    }

    fn on_frame(&mut self, f: FrameDone) -> Result<(), ClientError> {
        self.daemon_owned.remove(f.buffer).map_err(|e| {
            ClientError::Protocol(format!(
                "frame done in a buffer the daemon does not hold: {e}"
            ))
        })?;
        let expected = self.finished.get(f.cookie).or(self.in_flight.get(f.cookie));
        if expected != Some(f.timestamp) {
            return Err(ClientError::Protocol(format!(
                "frame done for cookie {} with timestamp {} (expected {expected:?})",
                f.cookie, f.timestamp
            )));
        }
        let fmt = self
            .format
            .ok_or_else(|| ClientError::Protocol("frame before any source change".into()))?;
        if (f.width, f.height, f.format) != (fmt.width, fmt.height, fmt.format) {
            return Err(ClientError::Protocol(format!(
                "frame {}x{} {:?} does not match the announced format",
                f.width, f.height, f.format
            )));
        }
        if f.flags & frame_flags::ERROR != 0 {
            self.report.corrupt_frames += 1;
        }
        if f.flags & frame_flags::LAST != 0 {
            if self.saw_last {
                return Err(ClientError::Protocol("two LAST frames in one drain".into()));
            }
            self.saw_last = true;
        }
        if !self.keep_frames {
            self.report.frame_count += 1;
            if self.realloc.is_none() {
                self.queue_capture(f.buffer)?;
            }
            return Ok(());
        }
        let map = &self.captures[f.buffer as usize];
        let bps = fmt.format.bytes_per_sample() as usize;
        let v = fmt.visible;
        let stride = fmt.stride as usize;
        let luma = v.width as usize * bps;
        let chroma = v.width.div_ceil(2) as usize * 2 * bps;
        let chroma_base = stride * fmt.height as usize;
        let start = self.report.frames.len();
        let frame_len = luma * v.height as usize + chroma * v.height.div_ceil(2) as usize;
        self.report.frames.resize(start + frame_len, 0);
        let mut pos = start;
        let mut ok = true;
        for y in 0..v.height as usize {
            let off = (v.y as usize + y) * stride + v.x as usize * bps;
            ok &= map.read(off, &mut self.report.frames[pos..pos + luma]);
            pos += luma;
        }
        for y in 0..v.height.div_ceil(2) as usize {
            let off = chroma_base + (v.y as usize / 2 + y) * stride + v.x as usize * bps;
            ok &= map.read(off, &mut self.report.frames[pos..pos + chroma]);
            pos += chroma;
        }
        if !ok {
            return Err(ClientError::Protocol(
                "announced layout does not fit the capture buffer".into(),
            ));
        }
        self.report.frame_count += 1;
        // Requeue unless a reallocation is pending (the flush hands the rest back).
        if self.realloc.is_none() {
            self.queue_capture(f.buffer)?;
        }
        Ok(())
    }

    /// The daemon vanished: every request and capture buffer it held is lost, as the
    /// module reports them (`V4L2_BUF_FLAG_ERROR`).
    fn lose_everything(&mut self) {
        self.report.daemon_gone = true;
        let lost: Vec<u32> = self.in_flight.iter().map(|(c, _)| c).collect();
        for c in &lost {
            self.report.failed_requests.push((*c, ErrorCode::Lost));
        }
        self.report.lost = lost.len() + self.daemon_owned.len() as usize;
        self.in_flight.clear();
        self.daemon_owned.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rechunk_keeps_every_byte_in_order_within_the_size_limit() {
        let units: Vec<Vec<u8>> = (0..50u8)
            .map(|i| vec![i; usize::from(i) * 37 + 1])
            .collect();
        let all = units.concat();
        for max in [1, 7, 300, 100_000] {
            let chunks = rechunk(&units, max, 3);
            assert!(chunks.iter().all(|c| !c.is_empty() && c.len() <= max));
            assert_eq!(chunks.concat(), all);
        }
        // Different seeds cut differently.
        assert_ne!(rechunk(&units, 300, 1), rechunk(&units, 300, 2));
    }
}
