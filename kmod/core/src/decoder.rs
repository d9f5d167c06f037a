//! One decoding context: the stateful decoder interface's state machine, the ownership of every
//! buffer of both queues, the cookies of requests in flight, and what happens when the daemon
//! goes away.
//!
//! Phases follow the state diagram of `dev-decoder.rst` ("Decoder State Machine"); the seek
//! state is not a phase of its own because it only exists while the OUTPUT queue is off.
//!
//! Every buffer of each queue is in exactly one [`BufState`]. The client gives a buffer to the
//! driver with `QBUF` (→ `Queued`), the driver hands it to the daemon (→ `Daemon`), and it goes
//! back to the client exactly once through [`Sink::output_done`] or [`Sink::capture_done`]
//! (→ `Client`). The tests check that no sequence loses or duplicates a buffer.

use daedalus_proto::state::CookieRing;
use daedalus_proto::{
    Capabilities, Codec, Decode, EndOfStream, ErrorCode, FrameDone, Message, PixelFormat, Queue,
    Queues, Rect, SessionOpen, SourceChange, Status, frame_flags,
};

use crate::{IndexRing, MAX_BUFFERS};

/// V4L2 buffer flags the decoder sets on CAPTURE buffers (`include/uapi/linux/videodev2.h`).
pub mod v4l2_flags {
    /// `V4L2_BUF_FLAG_KEYFRAME`.
    pub const KEYFRAME: u32 = 0x0000_0008;
    /// `V4L2_BUF_FLAG_ERROR`.
    pub const ERROR: u32 = 0x0000_0040;
    /// `V4L2_BUF_FLAG_LAST`.
    pub const LAST: u32 = 0x0010_0000;
}

/// Where a context stands in the stateful decoder's state diagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No stream format yet; the daemon looks for the headers (`Initialization`).
    Initialization,
    /// The format is known and the client sets up the CAPTURE queue (`Capture setup`).
    CaptureSetup,
    /// Frames flow (`Decoding`).
    Decoding,
    /// `V4L2_DEC_CMD_STOP` was issued; pending frames are coming back (`Drain`).
    Draining,
    /// The stream's format changed; the client must set up CAPTURE again (`Dynamic
    /// Resolution Change`).
    ResolutionChange,
    /// A drain finished: queued OUTPUT buffers are kept, not decoded, until
    /// `V4L2_DEC_CMD_START` or a CAPTURE restart (`Stopped`).
    Stopped,
}

/// Who holds a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufState {
    /// Not allocated.
    Unallocated,
    /// Allocated and with the client.
    Client,
    /// Queued by the client, not yet handed to the daemon.
    Queued,
    /// Handed to the daemon.
    Daemon,
}

/// `V4L2_DEC_CMD_*` commands a stateful decoder accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecCmd {
    /// `V4L2_DEC_CMD_STOP`: drain.
    Stop,
    /// `V4L2_DEC_CMD_START`: resume after a drain or a resolution change.
    Start,
}

/// What the module reports to the client besides buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Queue `V4L2_EVENT_SOURCE_CHANGE` (`V4L2_EVENT_SRC_CH_RESOLUTION`); the format queries
    /// and `V4L2_CID_MIN_BUFFERS_FOR_CAPTURE` now answer with `format`.
    SourceChange(SourceChange),
    /// Queue `V4L2_EVENT_EOS`: the drain finished.
    Eos,
    /// Decoding resumes after a `V4L2_BUF_FLAG_LAST` buffer: the CAPTURE queue must forget
    /// that it returned one (`vb2_clear_last_buffer_dequeued`), or `DQBUF` keeps failing with
    /// `EPIPE`.
    ClearLast,
    /// The daemon is gone: mark both queues as failed (`vb2_queue_error`) so that every
    /// waiter in `DQBUF` or `poll` wakes up with an error.
    Lost,
}

/// A CAPTURE buffer handed back to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureDone {
    /// Bytes of frame data (0 for an empty `LAST` buffer or a failed one).
    pub bytesused: u32,
    /// Copied from the OUTPUT buffer the frame came from.
    pub timestamp: u64,
    /// [`v4l2_flags`].
    pub flags: u32,
}

/// Why an operation was refused. Each maps to one errno in the module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// `EBUSY`: the OUTPUT format cannot change while buffers are allocated, and decoder
    /// commands cannot be issued while a drain is in progress.
    Busy,
    /// `ENOLINK`: no daemon is attached; start `daedalusd`.
    NoDaemon,
    /// `EIO`: the daemon went away during this stream; stop both queues and free their
    /// buffers to start again.
    Lost,
    /// `EINVAL`: the attached daemon does not decode this codec.
    UnsupportedCodec(Codec),
    /// `EINVAL`: the coded size exceeds what the daemon decodes for this codec.
    TooLarge {
        /// Requested coded width.
        width: u32,
        /// Requested coded height.
        height: u32,
    },
    /// `EINVAL`: a buffer index that is not allocated, or in the wrong state.
    BadBuffer {
        /// The queue.
        queue: Queue,
        /// The index.
        index: u32,
    },
    /// `EINVAL`: a CAPTURE buffer too small for the current format.
    BufferTooSmall {
        /// Its size.
        size: u32,
        /// What the format needs.
        needed: u32,
    },
    /// The daemon broke the protocol; the message was ignored and the daemon is told with
    /// an `Error` of this code.
    Protocol {
        /// What was wrong.
        what: &'static str,
        /// The offending value.
        value: u64,
        /// The error code to answer with.
        code: ErrorCode,
    },
}

impl Error {
    const fn protocol(what: &'static str, value: u64, code: ErrorCode) -> Error {
        Error::Protocol { what, value, code }
    }
}

/// Where the decoder's decisions go. The module implements it over vb2, the V4L2 event queue
/// and the daemon's message queue; the tests record the calls.
pub trait Sink {
    /// Queue `msg` for the daemon on this context's session.
    fn send(&mut self, session: u32, msg: &Message<'_>);
    /// Queue an `AttachBuffer` for buffer `index` of `queue`: the module knows the memory and
    /// passes the dmabuf with it.
    fn attach(&mut self, session: u32, queue: Queue, index: u32);
    /// Hand OUTPUT buffer `index` back to the client, marked failed if `error`.
    fn output_done(&mut self, index: u32, error: bool);
    /// Hand CAPTURE buffer `index` back to the client.
    fn capture_done(&mut self, index: u32, done: CaptureDone);
    /// Report an event.
    fn event(&mut self, event: Event);
}

#[derive(Clone, Debug)]
struct Side {
    streaming: bool,
    state: [BufState; MAX_BUFFERS],
    size: [u32; MAX_BUFFERS],
    bytesused: [u32; MAX_BUFFERS],
    timestamp: [u64; MAX_BUFFERS],
    cookie: [u32; MAX_BUFFERS],
    attached: [bool; MAX_BUFFERS],
    /// Handed back with a frame (vb2 holds it in its done list) and not dequeued yet.
    undequeued: [bool; MAX_BUFFERS],
    fifo: IndexRing,
    flushing: bool,
}

impl Side {
    const fn new() -> Self {
        Self {
            streaming: false,
            state: [BufState::Unallocated; MAX_BUFFERS],
            size: [0; MAX_BUFFERS],
            bytesused: [0; MAX_BUFFERS],
            timestamp: [0; MAX_BUFFERS],
            cookie: [0; MAX_BUFFERS],
            attached: [false; MAX_BUFFERS],
            undequeued: [false; MAX_BUFFERS],
            fifo: IndexRing::new(),
            flushing: false,
        }
    }

    fn count(&self, s: BufState) -> usize {
        self.state.iter().filter(|&&x| x == s).count()
    }

    fn allocated(&self) -> usize {
        MAX_BUFFERS - self.count(BufState::Unallocated)
    }

    fn index_ok(&self, index: u32) -> bool {
        (index as usize) < MAX_BUFFERS
    }
}

/// How many requests may be in flight before the oldest finished one is forgotten; a frame
/// can be reordered behind at most `MAX_BUFFERS` later requests, so twice that is enough.
const RECENT: usize = 2 * MAX_BUFFERS;

/// The state of one open file of `/dev/videoN`.
#[derive(Clone, Debug)]
pub struct Decoder {
    session: u32,
    codec: Codec,
    width: u32,
    height: u32,
    phase: Phase,
    open: bool,
    lost: bool,
    out: Side,
    cap: Side,
    /// The format frames are decoded in (established at `STREAMON(CAPTURE)` or `START`).
    format: Option<SourceChange>,
    /// A format announced by the daemon that the client has not set up yet.
    pending: Option<SourceChange>,
    /// Finished requests, to check the cookie and timestamp of a reordered `FrameDone`.
    recent: CookieRing<RECENT>,
    next_cookie: u32,
    drain_sent: bool,
    /// The next CAPTURE buffer must go back empty with `V4L2_BUF_FLAG_LAST`.
    last_owed: bool,
    /// `V4L2_DEC_CMD_STOP` arrived during a resolution change; the drain starts when
    /// decoding resumes.
    stop_after_change: bool,
    /// The daemon's source change still needs its acknowledgement, a `Flush { capture }`
    /// (another capture flush was in flight when it arrived).
    change_ack_owed: bool,
    /// A resolution change is known but its event waits until the client has dequeued every
    /// frame of the old format (see [`Decoder::buffer_dequeued`]).
    change_event_owed: bool,
}

/// Placeholder CAPTURE format before the stream is parsed: NV12 at the coded size the client
/// set (or 1920x1080), rounded up to whole 16x16 macroblocks; lines padded to 64 bytes, which
/// matches the daemon's default stride so the common case needs no reallocation.
pub fn placeholder_format(width: u32, height: u32) -> SourceChange {
    let (vw, vh) = if width == 0 || height == 0 {
        (1920, 1080)
    } else {
        (width.min(8192), height.min(8192))
    };
    let w = vw.next_multiple_of(16);
    let h = vh.next_multiple_of(16);
    let stride = w.next_multiple_of(64);
    let size = PixelFormat::Nv12.image_size(stride, h).unwrap_or(u32::MAX);
    SourceChange {
        width: w,
        height: h,
        visible: Rect {
            x: 0,
            y: 0,
            width: vw,
            height: vh,
        },
        format: PixelFormat::Nv12,
        stride,
        size_image: size,
        min_buffers: 1,
    }
}

impl Decoder {
    /// A new context on session id `session` (non-zero, unique on the module), with the
    /// default OUTPUT format H.264 and no coded size.
    pub const fn new(session: u32) -> Self {
        Self {
            session,
            codec: Codec::H264,
            width: 0,
            height: 0,
            phase: Phase::Initialization,
            open: false,
            lost: false,
            out: Side::new(),
            cap: Side::new(),
            format: None,
            pending: None,
            recent: CookieRing::new(),
            next_cookie: 1,
            drain_sent: false,
            last_owed: false,
            stop_after_change: false,
            change_ack_owed: false,
            change_event_owed: false,
        }
    }

    /// The session id.
    pub const fn session(&self) -> u32 {
        self.session
    }

    /// Current phase.
    pub const fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether the daemon went away during this stream ([`Error::Lost`]).
    pub const fn is_lost(&self) -> bool {
        self.lost
    }

    /// Whether a `SessionOpen` was sent and not closed.
    pub const fn is_open(&self) -> bool {
        self.open
    }

    /// The OUTPUT format: codec and coded size (0 when left to the stream).
    pub const fn output_format(&self) -> (Codec, u32, u32) {
        (self.codec, self.width, self.height)
    }

    /// What the CAPTURE format queries answer: the format announced last, or a placeholder
    /// from the OUTPUT format before the stream is parsed. The flag says whether it came
    /// from the stream.
    pub fn capture_format(&self) -> (SourceChange, bool) {
        match self.pending.or(self.format) {
            Some(f) => (f, true),
            None => (placeholder_format(self.width, self.height), false),
        }
    }

    /// `V4L2_CID_MIN_BUFFERS_FOR_CAPTURE`: the stream's real need once it is known.
    pub fn min_capture_buffers(&self) -> u32 {
        self.capture_format().0.min_buffers
    }

    /// State of buffer `index` of `queue`.
    pub fn buf_state(&self, queue: Queue, index: u32) -> BufState {
        let side = self.side(queue);
        if side.index_ok(index) {
            side.state[index as usize]
        } else {
            BufState::Unallocated
        }
    }

    /// Whether `queue` is streaming.
    pub fn is_streaming(&self, queue: Queue) -> bool {
        self.side(queue).streaming
    }

    /// Whether a flush of `queue` waits for the daemon's `FlushDone`.
    pub fn is_flushing(&self, queue: Queue) -> bool {
        self.side(queue).flushing
    }

    /// Whether any buffer of this context is with the daemon.
    pub fn daemon_holds_buffers(&self) -> bool {
        self.out.count(BufState::Daemon) + self.cap.count(BufState::Daemon) > 0
    }

    fn side(&self, queue: Queue) -> &Side {
        match queue {
            Queue::Output => &self.out,
            Queue::Capture => &self.cap,
        }
    }

    fn side_mut(&mut self, queue: Queue) -> &mut Side {
        match queue {
            Queue::Output => &mut self.out,
            Queue::Capture => &mut self.cap,
        }
    }

    /// `S_FMT(OUTPUT)`. Refused while buffers are allocated on either queue (commit point 5
    /// of `dev-decoder.rst`); resets the CAPTURE format, since a new stream starts.
    pub fn set_output_format(
        &mut self,
        codec: Codec,
        width: u32,
        height: u32,
    ) -> Result<(), Error> {
        if self.out.allocated() > 0 || self.cap.allocated() > 0 {
            return Err(Error::Busy);
        }
        self.codec = codec;
        self.width = width;
        self.height = height;
        self.format = None;
        self.pending = None;
        self.change_event_owed = false;
        if !self.lost {
            self.phase = Phase::Initialization;
        }
        Ok(())
    }

    /// A buffer was allocated (`buf_init`) with `size` usable bytes.
    pub fn buffer_init(&mut self, queue: Queue, index: u32, size: u32) -> Result<(), Error> {
        let side = self.side_mut(queue);
        if !side.index_ok(index) || side.state[index as usize] != BufState::Unallocated {
            return Err(Error::BadBuffer { queue, index });
        }
        let i = index as usize;
        side.state[i] = BufState::Client;
        side.size[i] = size;
        side.attached[i] = false;
        side.undequeued[i] = false;
        Ok(())
    }

    /// A buffer is being freed (`buf_cleanup`). The daemon forgets the queue's attachments
    /// (they are re-sent on next use), since `ReleaseBuffers` works per queue.
    pub fn buffer_cleanup(&mut self, queue: Queue, index: u32, sink: &mut dyn Sink) {
        let session = self.session;
        let open = self.open;
        let side = self.side_mut(queue);
        if !side.index_ok(index) {
            return;
        }
        let i = index as usize;
        side.fifo.remove(index);
        side.state[i] = BufState::Unallocated;
        side.undequeued[i] = false;
        if side.attached[i] {
            side.attached = [false; MAX_BUFFERS];
            if open {
                sink.send(session, &Message::ReleaseBuffers { queue });
            }
        }
        self.emit_change_event(sink);
        self.maybe_recover();
    }

    /// `buf_finish`: the client dequeued buffer `index` of `queue` (or vb2 took it back in a
    /// `STREAMOFF`). Once every frame of the old format is out of vb2's done list, the event
    /// of a pending resolution change is queued, followed by the empty `LAST` buffer.
    pub fn buffer_dequeued(&mut self, queue: Queue, index: u32, sink: &mut dyn Sink) {
        let side = self.side_mut(queue);
        if !side.index_ok(index) || !side.undequeued[index as usize] {
            return;
        }
        side.undequeued[index as usize] = false;
        if self.change_event_owed {
            self.emit_change_event(sink);
            self.pump(sink);
        }
    }

    /// `buf_prepare`: whether `QBUF` may proceed.
    pub fn buffer_prepare(&self, queue: Queue, index: u32, size: u32) -> Result<(), Error> {
        if self.lost {
            return Err(Error::Lost);
        }
        if self.buf_state(queue, index) != BufState::Client {
            return Err(Error::BadBuffer { queue, index });
        }
        if queue == Queue::Capture {
            if let Some(f) = self.format {
                if size < f.size_image && !matches!(self.phase, Phase::ResolutionChange) {
                    return Err(Error::BufferTooSmall {
                        size,
                        needed: f.size_image,
                    });
                }
            }
        }
        Ok(())
    }

    /// `buf_queue`: the client queued a buffer. For OUTPUT, `bytesused` bytes of bitstream
    /// carry `timestamp` (nanoseconds).
    pub fn buffer_queued(
        &mut self,
        queue: Queue,
        index: u32,
        bytesused: u32,
        timestamp: u64,
        sink: &mut dyn Sink,
    ) -> Result<(), Error> {
        let side = self.side_mut(queue);
        if !side.index_ok(index) || side.state[index as usize] != BufState::Client {
            return Err(Error::BadBuffer { queue, index });
        }
        let i = index as usize;
        side.state[i] = BufState::Queued;
        side.bytesused[i] = bytesused;
        side.timestamp[i] = timestamp;
        side.fifo.push(index);
        if self.lost {
            // Prepare refuses while lost, so only a race with the loss lands here.
            self.fail_all(sink);
            return Err(Error::Lost);
        }
        self.pump(sink);
        Ok(())
    }

    /// `STREAMON`. `daemon` is the attached daemon's capabilities, `None` when none is
    /// attached. Starting OUTPUT opens the session with the daemon.
    pub fn streamon(
        &mut self,
        queue: Queue,
        daemon: Option<&Capabilities>,
        sink: &mut dyn Sink,
    ) -> Result<(), Error> {
        if self.lost {
            return Err(Error::Lost);
        }
        let caps = daemon.ok_or(Error::NoDaemon)?;
        if !self.open {
            let c = caps
                .get(self.codec)
                .ok_or(Error::UnsupportedCodec(self.codec))?;
            if self.width > c.max_width || self.height > c.max_height {
                return Err(Error::TooLarge {
                    width: self.width,
                    height: self.height,
                });
            }
            sink.send(
                self.session,
                &Message::SessionOpen(SessionOpen {
                    codec: self.codec,
                    width: self.width,
                    height: self.height,
                }),
            );
            self.open = true;
        }
        match queue {
            Queue::Output => {
                self.out.streaming = true;
            }
            Queue::Capture => {
                self.cap.streaming = true;
                self.last_owed = false;
                if self.change_ack_owed {
                    self.ack_change(sink);
                }
                match self.phase {
                    Phase::CaptureSetup | Phase::ResolutionChange | Phase::Stopped => {
                        self.resume(sink);
                    }
                    Phase::Initialization | Phase::Decoding | Phase::Draining => {}
                }
            }
        }
        self.pump(sink);
        Ok(())
    }

    /// `start_streaming` failed: vb2 takes back the buffers queued before `STREAMON` (it
    /// wants them returned in the queued state), so they are with the client again. Calls
    /// `give_back` for each.
    pub fn cancel_queued(&mut self, queue: Queue, give_back: &mut dyn FnMut(u32)) {
        let side = self.side_mut(queue);
        side.streaming = false;
        while let Some(index) = side.fifo.pop() {
            side.state[index as usize] = BufState::Client;
            give_back(index);
        }
    }

    /// Establishes the announced format and goes back to decoding, or to the drain that
    /// the resolution change interrupted (dev-decoder.rst, "Drain", step 2: a resolution
    /// change is handled before the drain continues).
    fn resume(&mut self, sink: &mut dyn Sink) {
        if let Some(p) = self.pending.take() {
            self.format = Some(p);
        }
        self.phase = if self.format.is_none() {
            Phase::Initialization
        } else if self.drain_sent || self.stop_after_change {
            Phase::Draining
        } else {
            Phase::Decoding
        };
        self.stop_after_change = false;
        sink.event(Event::ClearLast);
    }

    /// `STREAMOFF` (and `stop_streaming`), first half: stop handing buffers to the daemon and
    /// ask it for the ones it holds. Returns true if the caller must wait for
    /// [`is_flushing`](Self::is_flushing) to clear (or give up on the daemon) before calling
    /// [`streamoff_finish`](Self::streamoff_finish).
    pub fn streamoff_begin(&mut self, queue: Queue, sink: &mut dyn Sink) -> bool {
        let session = self.session;
        let open = self.open;
        let side = self.side_mut(queue);
        side.streaming = false;
        let held = side.count(BufState::Daemon) > 0;
        // A drain the daemon is still running must be cancelled too, or its LAST frame and
        // EndOfStream would land in the next stream.
        let cancel_drain = queue == Queue::Output && self.drain_sent;
        let side = self.side_mut(queue);
        // A flush already in flight returns everything the daemon holds (nothing more is
        // handed to it meanwhile); a second one would answer with an unexpected FlushDone.
        if (held || cancel_drain) && open && !side.flushing {
            side.flushing = true;
            let queues = Queues {
                output: queue == Queue::Output,
                capture: queue == Queue::Capture,
            };
            sink.send(session, &Message::Flush { queues });
        }
        match queue {
            Queue::Output => {
                // A seek aborts a drain; a resolution change stays pending (dev-decoder.rst,
                // "Seek" and "Dynamic Resolution Change").
                self.drain_sent = false;
                self.stop_after_change = false;
                if matches!(self.phase, Phase::Draining | Phase::Stopped) {
                    self.phase = if self.format.is_some() {
                        Phase::Decoding
                    } else {
                        Phase::Initialization
                    };
                }
            }
            Queue::Capture => {
                self.last_owed = false;
                // A drain in progress is abandoned by the client ("Drain -> Stopped"); the
                // daemon finishes it, and its LAST flag and EndOfStream are then dropped.
                match self.phase {
                    Phase::Decoding | Phase::Draining => {
                        self.phase = Phase::Stopped;
                    }
                    _ => {}
                }
            }
        }
        self.side(queue).flushing
    }

    /// `STREAMOFF`, second half: every buffer of `queue` not with the client goes back to it,
    /// marked failed (vb2 requires all of them back when `stop_streaming` returns). A daemon
    /// that did not answer the flush has been declared lost by then.
    pub fn streamoff_finish(&mut self, queue: Queue, sink: &mut dyn Sink) {
        let side = self.side_mut(queue);
        side.flushing = false;
        side.fifo.clear();
        // vb2 drops its done list with the queue.
        side.undequeued = [false; MAX_BUFFERS];
        for i in 0..MAX_BUFFERS {
            if matches!(side.state[i], BufState::Queued | BufState::Daemon) {
                side.state[i] = BufState::Client;
                side.cookie[i] = 0;
                match queue {
                    Queue::Output => sink.output_done(i as u32, true),
                    Queue::Capture => sink.capture_done(
                        i as u32,
                        CaptureDone {
                            bytesused: 0,
                            timestamp: 0,
                            flags: v4l2_flags::ERROR,
                        },
                    ),
                }
            }
        }
        self.emit_change_event(sink);
        self.maybe_recover();
    }

    /// `VIDIOC_DECODER_CMD`.
    pub fn decoder_cmd(&mut self, cmd: DecCmd, sink: &mut dyn Sink) -> Result<(), Error> {
        if self.lost {
            return Err(Error::Lost);
        }
        if self.phase == Phase::Draining {
            return Err(Error::Busy);
        }
        match cmd {
            DecCmd::Stop => {
                // Only a drain with both queues streaming does anything; otherwise the command
                // succeeds without starting one (dev-decoder.rst, "Drain", step 1).
                if self.out.streaming && self.cap.streaming && self.open {
                    match self.phase {
                        Phase::Decoding => {
                            self.phase = Phase::Draining;
                            self.drain_sent = false;
                        }
                        Phase::Initialization | Phase::CaptureSetup => {
                            // Nothing can have been decoded: the drain ends at once.
                            self.phase = Phase::Draining;
                            self.finish_drain(false, sink);
                        }
                        Phase::ResolutionChange => self.stop_after_change = true,
                        Phase::Stopped | Phase::Draining => {}
                    }
                }
            }
            DecCmd::Start => match self.phase {
                Phase::Stopped | Phase::ResolutionChange => self.resume(sink),
                _ => sink.event(Event::ClearLast),
            },
        }
        self.pump(sink);
        Ok(())
    }

    fn finish_drain(&mut self, last_flagged: bool, sink: &mut dyn Sink) {
        self.drain_sent = false;
        if !last_flagged {
            self.owe_last(sink);
        }
        self.phase = Phase::Stopped;
        sink.event(Event::Eos);
    }

    fn owe_last(&mut self, sink: &mut dyn Sink) {
        self.last_owed = true;
        // The daemon holds the queued CAPTURE buffers; take them back so one can carry LAST.
        if self.cap.fifo.is_empty() && self.cap.count(BufState::Daemon) > 0 && self.open {
            self.cap.flushing = true;
            sink.send(
                self.session,
                &Message::Flush {
                    queues: Queues {
                        output: false,
                        capture: true,
                    },
                },
            );
        }
    }

    /// The file is being closed (after both queues were stopped): end the session.
    pub fn close(&mut self, sink: &mut dyn Sink) {
        if self.open {
            sink.send(self.session, &Message::SessionClose);
            self.open = false;
        }
    }

    /// The daemon went away (its file was closed, it said goodbye, or it stopped answering):
    /// every buffer the driver holds goes back to the client failed, and both queues are
    /// marked failed so that every waiter wakes.
    pub fn daemon_lost(&mut self, sink: &mut dyn Sink) {
        if !self.open {
            return;
        }
        self.open = false;
        self.lost = true;
        self.fail_all(sink);
        sink.event(Event::Lost);
    }

    fn fail_all(&mut self, sink: &mut dyn Sink) {
        self.out.flushing = false;
        self.cap.flushing = false;
        self.drain_sent = false;
        self.last_owed = false;
        self.change_ack_owed = false;
        self.change_event_owed = false;
        for q in [Queue::Output, Queue::Capture] {
            let side = self.side_mut(q);
            side.attached = [false; MAX_BUFFERS];
            side.fifo.clear();
            for i in 0..MAX_BUFFERS {
                if matches!(side.state[i], BufState::Queued | BufState::Daemon) {
                    side.state[i] = BufState::Client;
                    side.cookie[i] = 0;
                    match q {
                        Queue::Output => sink.output_done(i as u32, true),
                        Queue::Capture => sink.capture_done(
                            i as u32,
                            CaptureDone {
                                bytesused: 0,
                                timestamp: 0,
                                flags: v4l2_flags::ERROR,
                            },
                        ),
                    }
                }
            }
        }
    }

    /// Leaves the lost state once the client stopped both queues and freed every buffer, as
    /// `dev-decoder.rst` prescribes after a fatal error ("reinitialize the instance").
    fn maybe_recover(&mut self) {
        if self.lost
            && !self.out.streaming
            && !self.cap.streaming
            && self.out.allocated() == 0
            && self.cap.allocated() == 0
        {
            self.lost = false;
            self.phase = Phase::Initialization;
            self.format = None;
            self.pending = None;
            self.recent.clear();
        }
    }

    fn next_cookie(&mut self) -> u32 {
        loop {
            let c = self.next_cookie;
            self.next_cookie = self.next_cookie.wrapping_add(1).max(1);
            if !self.out.cookie.contains(&c) {
                return c;
            }
        }
    }

    /// Hands everything that may go to the daemon to it.
    fn pump(&mut self, sink: &mut dyn Sink) {
        if self.lost || !self.open {
            return;
        }
        let session = self.session;
        if self.out.streaming && self.phase != Phase::Stopped && !self.out.flushing {
            while let Some(index) = self.out.fifo.pop() {
                let i = index as usize;
                if self.out.bytesused[i] == 0 {
                    // No data, nothing to decode (dev-decoder.rst, "Decoding": an OUTPUT
                    // buffer may produce no CAPTURE buffer).
                    self.out.state[i] = BufState::Client;
                    sink.output_done(index, false);
                    continue;
                }
                if !self.out.attached[i] {
                    sink.attach(session, Queue::Output, index);
                    self.out.attached[i] = true;
                }
                let cookie = self.next_cookie();
                self.out.cookie[i] = cookie;
                self.out.state[i] = BufState::Daemon;
                sink.send(
                    session,
                    &Message::Decode(Decode {
                        cookie,
                        buffer: index,
                        offset: 0,
                        length: self.out.bytesused[i],
                        timestamp: self.out.timestamp[i],
                    }),
                );
            }
            if self.phase == Phase::Draining && !self.drain_sent {
                self.drain_sent = true;
                sink.send(session, &Message::Drain);
            }
        }
        if self.last_owed {
            // An empty buffer seen before the event ends the stream for some clients
            // (GStreamer 1.22), so the end of the old format waits for its event.
            if self.change_event_owed {
                return;
            }
            if let Some(index) = self.cap.fifo.pop() {
                self.cap.state[index as usize] = BufState::Client;
                self.last_owed = false;
                sink.capture_done(
                    index,
                    CaptureDone {
                        bytesused: 0,
                        timestamp: 0,
                        flags: v4l2_flags::LAST,
                    },
                );
            }
            return;
        }
        let Some(fmt) = self.format else {
            return;
        };
        if self.cap.streaming
            && matches!(self.phase, Phase::Decoding | Phase::Draining)
            && !self.cap.flushing
        {
            let mut too_small = IndexRing::new();
            while let Some(index) = self.cap.fifo.pop() {
                let i = index as usize;
                if self.cap.size[i] < fmt.size_image {
                    too_small.push(index);
                    continue;
                }
                if !self.cap.attached[i] {
                    sink.attach(session, Queue::Capture, index);
                    self.cap.attached[i] = true;
                }
                self.cap.state[i] = BufState::Daemon;
                sink.send(session, &Message::QueueCapture { buffer: index });
            }
            // Buffers queued before a resolution change that cannot hold the new format wait
            // for the client to reallocate.
            while let Some(index) = too_small.pop() {
                self.cap.fifo.push(index);
            }
        }
    }

    /// A validated message from the daemon for this session.
    pub fn daemon_message(&mut self, msg: &Message<'_>, sink: &mut dyn Sink) -> Result<(), Error> {
        if !self.open {
            return match msg {
                Message::SessionClosed | Message::Error(_) => Ok(()),
                _ => Err(Error::protocol(
                    "message for a session that is not open",
                    u64::from(self.session),
                    ErrorCode::UnknownSession,
                )),
            };
        }
        match *msg {
            Message::InputDone { cookie, status } => self.input_done(cookie, status, sink)?,
            Message::FrameDone(f) => self.frame_done(&f, sink)?,
            Message::SourceChange(sc) => self.source_change(sc, sink),
            Message::EndOfStream(e) => self.end_of_stream(e, sink)?,
            Message::FlushDone { queues } => self.flush_done(queues, sink)?,
            Message::SessionClosed => {
                return Err(Error::protocol(
                    "SessionClosed without SessionClose",
                    u64::from(self.session),
                    ErrorCode::BadState,
                ));
            }
            // Errors about one request come with its InputDone; the module logs them.
            Message::Error(_) => {}
            _ => {
                return Err(Error::protocol(
                    "message kind not valid on a session",
                    msg.kind() as u64,
                    ErrorCode::Malformed,
                ));
            }
        }
        self.pump(sink);
        Ok(())
    }

    fn input_done(
        &mut self,
        cookie: u32,
        status: Status,
        sink: &mut dyn Sink,
    ) -> Result<(), Error> {
        let found = (0..MAX_BUFFERS)
            .find(|&i| self.out.state[i] == BufState::Daemon && self.out.cookie[i] == cookie);
        let Some(i) = found else {
            return Err(Error::protocol(
                "InputDone for a cookie not in flight",
                u64::from(cookie),
                ErrorCode::BadCookie,
            ));
        };
        self.out.state[i] = BufState::Client;
        self.out.cookie[i] = 0;
        self.recent.push(cookie, self.out.timestamp[i]);
        sink.output_done(i as u32, status != Status::Ok);
        Ok(())
    }

    fn frame_done(&mut self, f: &FrameDone, sink: &mut dyn Sink) -> Result<(), Error> {
        let i = f.buffer as usize;
        if i >= MAX_BUFFERS || self.cap.state[i] != BufState::Daemon {
            return Err(Error::protocol(
                "FrameDone for a capture buffer the daemon does not hold",
                u64::from(f.buffer),
                ErrorCode::BadBuffer,
            ));
        }
        let Some(fmt) = self.format else {
            return Err(Error::protocol(
                "FrameDone before the format was set up",
                u64::from(f.buffer),
                ErrorCode::BadState,
            ));
        };
        if f.format != fmt.format || f.width != fmt.width || f.height != fmt.height {
            return Err(Error::protocol(
                "FrameDone in a format other than the announced one",
                (u64::from(f.width) << 32) | u64::from(f.height),
                ErrorCode::BadState,
            ));
        }
        if f.bytesused > self.cap.size[i] {
            return Err(Error::protocol(
                "FrameDone bytesused exceeds the buffer",
                u64::from(f.bytesused),
                ErrorCode::BadBuffer,
            ));
        }
        match self.recent.get(f.cookie) {
            Some(ts) if ts == f.timestamp => {}
            _ => {
                return Err(Error::protocol(
                    "FrameDone names no recently finished request with its timestamp",
                    u64::from(f.cookie),
                    ErrorCode::BadCookie,
                ));
            }
        }
        let last = f.flags & frame_flags::LAST != 0;
        if last && !self.drain_sent {
            return Err(Error::protocol(
                "FrameDone flagged LAST outside a drain",
                u64::from(f.flags),
                ErrorCode::BadState,
            ));
        }
        // The client may have abandoned the drain (STREAMOFF(CAPTURE)); then the frame is an
        // ordinary one.
        let last = last && self.phase == Phase::Draining;
        let mut flags = 0;
        if f.flags & frame_flags::KEYFRAME != 0 {
            flags |= v4l2_flags::KEYFRAME;
        }
        if f.flags & frame_flags::ERROR != 0 {
            flags |= v4l2_flags::ERROR;
        }
        if last {
            flags |= v4l2_flags::LAST;
        }
        self.cap.state[i] = BufState::Client;
        self.cap.undequeued[i] = true;
        sink.capture_done(
            f.buffer,
            CaptureDone {
                bytesused: f.bytesused,
                timestamp: f.timestamp,
                flags,
            },
        );
        Ok(())
    }

    fn source_change(&mut self, sc: SourceChange, sink: &mut dyn Sink) {
        let first = self.format.is_none() && self.pending.is_none();
        let fits = (0..MAX_BUFFERS).all(|i| {
            self.cap.state[i] == BufState::Unallocated || self.cap.size[i] >= sc.size_image
        });
        if first && self.cap.streaming && fits && self.is_client_format(&sc) {
            // The client set the coded size itself and started CAPTURE from it without
            // waiting for the event (dev-decoder.rst, "Initialization", the note on
            // skipping step 4), and the stream agrees: decode straight on. No event: a
            // client that took one for a resolution change (GStreamer's v4l2videodec)
            // restarted CAPTURE while the first frame was being written into it, and that
            // frame was lost.
            self.format = Some(sc);
            self.phase = Phase::Decoding;
            return;
        }
        self.pending = Some(sc);
        self.change_event_owed = true;
        self.emit_change_event(sink);
        if first && !self.cap.streaming {
            // Initialization -> Capture setup: the client allocates CAPTURE now.
            self.phase = Phase::CaptureSetup;
        } else {
            // Dynamic resolution change, also for a client that started CAPTURE early for
            // another format ("If the values configured by the client do not match those
            // parsed by the decoder, a Dynamic Resolution Change will be triggered"):
            // every frame of the old format has been returned
            // already, so the sequence ends with an empty LAST buffer: one queued now, one
            // the flush below hands back, or the next one the client queues.
            if self.cap.streaming {
                self.phase = Phase::ResolutionChange;
                self.last_owed = true;
            } else {
                self.phase = Phase::CaptureSetup;
            }
            self.ack_change(sink);
        }
    }

    /// Queues the owed source change event once no frame of the old format waits in vb2's
    /// done list. A client may reconfigure CAPTURE the moment it sees the event, without
    /// dequeuing up to the `LAST` buffer as `dev-decoder.rst` asks: GStreamer 1.22's
    /// v4l2videodec polls for events before buffers and then stops CAPTURE at once, and
    /// whatever frame was still done but not dequeued went with the `STREAMOFF` (seen on
    /// the KASAN guest as "1 frames 7-7 left undrained after CMD_STOP" and the last
    /// 320x240 frame of `vp9_reschange_320x240_176x144.ivf` missing). Holding the event
    /// until those frames are dequeued costs a client that follows the specification
    /// nothing: it dequeues them anyway before it reaches `LAST`.
    fn emit_change_event(&mut self, sink: &mut dyn Sink) {
        if !self.change_event_owed || self.cap.undequeued.iter().any(|&u| u) {
            return;
        }
        let Some(sc) = self.pending else {
            self.change_event_owed = false;
            return;
        };
        self.change_event_owed = false;
        sink.event(Event::SourceChange(sc));
    }

    /// Whether `sc` is the CAPTURE format the client was told before the stream was parsed
    /// (the placeholder from its OUTPUT format), apart from the buffer count.
    fn is_client_format(&self, sc: &SourceChange) -> bool {
        let p = placeholder_format(self.width, self.height);
        (
            p.width,
            p.height,
            p.visible,
            p.format,
            p.stride,
            p.size_image,
        ) == (
            sc.width,
            sc.height,
            sc.visible,
            sc.format,
            sc.stride,
            sc.size_image,
        )
    }

    /// Acknowledges a source change with `Flush { capture }` (docs/protocol.md, "Source
    /// changes"). Until it arrives the daemon writes no frame: a `QueueCapture` it receives
    /// may have been sent before this module saw the change, for a buffer of the old format,
    /// and only the flush orders the two. It is sent even when the daemon holds no capture
    /// buffer and the client reallocates without a flush of its own (`STREAMOFF(CAPTURE)`
    /// with nothing at the daemon) or keeps its buffers and sends `V4L2_DEC_CMD_START`;
    /// leaving it out in those cases stalled the stream after the change.
    fn ack_change(&mut self, sink: &mut dyn Sink) {
        if !self.open {
            return;
        }
        if self.cap.flushing {
            // The flush in flight may have reached the daemon before its announcement;
            // acknowledge again when it is done.
            self.change_ack_owed = true;
            return;
        }
        self.change_ack_owed = false;
        self.cap.flushing = true;
        sink.send(
            self.session,
            &Message::Flush {
                queues: Queues {
                    output: false,
                    capture: true,
                },
            },
        );
    }

    fn end_of_stream(&mut self, e: EndOfStream, sink: &mut dyn Sink) -> Result<(), Error> {
        if !self.drain_sent {
            return Err(Error::protocol(
                "EndOfStream without a drain",
                u64::from(e.frames),
                ErrorCode::BadState,
            ));
        }
        if self.phase == Phase::Draining {
            self.finish_drain(e.last_flagged, sink);
        } else {
            self.drain_sent = false;
        }
        Ok(())
    }

    fn flush_done(&mut self, queues: Queues, sink: &mut dyn Sink) -> Result<(), Error> {
        if (queues.output && !self.out.flushing) || (queues.capture && !self.cap.flushing) {
            return Err(Error::protocol(
                "FlushDone without a flush",
                u64::from(queues.output) | (u64::from(queues.capture) << 1),
                ErrorCode::BadState,
            ));
        }
        if queues.output {
            self.out.flushing = false;
            // Every request got its InputDone before FlushDone; any left is a daemon bug,
            // and the buffer goes back failed rather than being lost.
            for i in 0..MAX_BUFFERS {
                if self.out.state[i] == BufState::Daemon {
                    self.out.state[i] = BufState::Client;
                    self.out.cookie[i] = 0;
                    sink.output_done(i as u32, true);
                }
            }
        }
        if queues.capture {
            self.cap.flushing = false;
            for i in 0..MAX_BUFFERS {
                if self.cap.state[i] == BufState::Daemon {
                    if self.cap.streaming {
                        self.cap.state[i] = BufState::Queued;
                        self.cap.fifo.push(i as u32);
                    } else {
                        // streamoff_finish hands it back.
                        self.cap.state[i] = BufState::Queued;
                    }
                }
            }
            if self.change_ack_owed {
                self.ack_change(sink);
            }
        }
        Ok(())
    }
}
