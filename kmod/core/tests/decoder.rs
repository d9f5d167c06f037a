//! The stateful decoder sequences of `dev-decoder.rst`, driven through `Decoder` with a
//! recording sink, plus a randomized run against a model daemon that checks buffer ownership
//! after every step.

use daedalus_kmod_core::{
    BufState, CaptureDone, DecCmd, Decoder, Error, Event, MAX_BUFFERS, Phase, Sink, v4l2_flags,
};
use daedalus_proto::{
    Capabilities, Codec, CodecCaps, EndOfStream, ErrorCode, FrameDone, Message, PixelFormat, Queue,
    Queues, Rect, SourceChange, Status, frame_flags,
};

/// What the decoder asked for, in order.
#[derive(Clone, Debug, PartialEq)]
enum Call {
    Send(Owned),
    Attach(Queue, u32),
    OutputDone(u32, bool),
    CaptureDone(u32, CaptureDone),
    Event(Event),
}

/// The messages a decoder sends, without borrowed text.
#[derive(Clone, Debug, PartialEq)]
enum Owned {
    SessionOpen(Codec, u32, u32),
    SessionClose,
    Release(Queue),
    Decode {
        cookie: u32,
        buffer: u32,
        length: u32,
        ts: u64,
    },
    QueueCapture(u32),
    Drain,
    Flush(Queues),
    Other(String),
}

#[derive(Default)]
struct Rec {
    calls: Vec<Call>,
}

impl Sink for Rec {
    fn send(&mut self, session: u32, msg: &Message<'_>) {
        assert_eq!(session, SESSION);
        // Everything the decoder sends must pass the daemon's validator.
        let mut buf = [0u8; daedalus_proto::MAX_MESSAGE_LEN];
        msg.encode(session, &mut buf)
            .expect("decoder sent an invalid message");
        let o = match *msg {
            Message::SessionOpen(s) => Owned::SessionOpen(s.codec, s.width, s.height),
            Message::SessionClose => Owned::SessionClose,
            Message::ReleaseBuffers { queue } => Owned::Release(queue),
            Message::Decode(d) => Owned::Decode {
                cookie: d.cookie,
                buffer: d.buffer,
                length: d.length,
                ts: d.timestamp,
            },
            Message::QueueCapture { buffer } => Owned::QueueCapture(buffer),
            Message::Drain => Owned::Drain,
            Message::Flush { queues } => Owned::Flush(queues),
            ref m => Owned::Other(format!("{m:?}")),
        };
        self.calls.push(Call::Send(o));
    }
    fn attach(&mut self, session: u32, queue: Queue, index: u32) {
        assert_eq!(session, SESSION);
        self.calls.push(Call::Attach(queue, index));
    }
    fn output_done(&mut self, index: u32, error: bool) {
        self.calls.push(Call::OutputDone(index, error));
    }
    fn capture_done(&mut self, index: u32, done: CaptureDone) {
        self.calls.push(Call::CaptureDone(index, done));
    }
    fn event(&mut self, event: Event) {
        self.calls.push(Call::Event(event));
    }
}

impl Rec {
    fn take(&mut self) -> Vec<Call> {
        std::mem::take(&mut self.calls)
    }

    fn decodes(&self) -> Vec<(u32, u32, u64)> {
        self.calls
            .iter()
            .filter_map(|c| match c {
                Call::Send(Owned::Decode {
                    cookie, buffer, ts, ..
                }) => Some((*cookie, *buffer, *ts)),
                _ => None,
            })
            .collect()
    }
}

const SESSION: u32 = 7;
const OUT_SIZE: u32 = 1 << 20;

fn caps() -> Capabilities {
    Capabilities::new(
        8,
        &[
            CodecCaps {
                codec: Codec::H264,
                max_width: 4096,
                max_height: 2304,
                formats: PixelFormat::Nv12.bit(),
            },
            CodecCaps {
                codec: Codec::Vp9,
                max_width: 8192,
                max_height: 4352,
                formats: PixelFormat::Nv12.bit() | PixelFormat::P010.bit(),
            },
        ],
    )
}

fn fmt(w: u32, h: u32, min_buffers: u32) -> SourceChange {
    let stride = w.next_multiple_of(64);
    SourceChange {
        width: w,
        height: h,
        visible: Rect {
            x: 0,
            y: 0,
            width: w,
            height: h,
        },
        format: PixelFormat::Nv12,
        stride,
        size_image: PixelFormat::Nv12.image_size(stride, h).unwrap(),
        min_buffers,
    }
}

fn frame(cookie: u32, buffer: u32, f: &SourceChange, ts: u64, flags: u32) -> Message<'static> {
    Message::FrameDone(FrameDone {
        cookie,
        buffer,
        format: f.format,
        width: f.width,
        height: f.height,
        bytesused: f.size_image,
        timestamp: ts,
        flags,
    })
}

fn input_done(cookie: u32) -> Message<'static> {
    Message::InputDone {
        cookie,
        status: Status::Ok,
    }
}

/// A context with `n_out` OUTPUT buffers allocated and OUTPUT streaming.
fn started(n_out: u32) -> (Decoder, Rec) {
    let mut d = Decoder::new(SESSION);
    let mut s = Rec::default();
    d.set_output_format(Codec::H264, 0, 0).unwrap();
    for i in 0..n_out {
        d.buffer_init(Queue::Output, i, OUT_SIZE).unwrap();
    }
    d.streamon(Queue::Output, Some(&caps()), &mut s).unwrap();
    assert_eq!(
        s.take(),
        vec![Call::Send(Owned::SessionOpen(Codec::H264, 0, 0))]
    );
    (d, s)
}

/// Runs the initialization and capture setup sequences up to decoding with `n_cap` buffers.
fn decoding(n_out: u32, n_cap: u32, f: &SourceChange) -> (Decoder, Rec) {
    let (mut d, mut s) = started(n_out);
    d.buffer_queued(Queue::Output, 0, 1000, 10, &mut s).unwrap();
    assert_eq!(
        s.take(),
        vec![
            Call::Attach(Queue::Output, 0),
            Call::Send(Owned::Decode {
                cookie: 1,
                buffer: 0,
                length: 1000,
                ts: 10
            })
        ]
    );
    d.daemon_message(&Message::SourceChange(*f), &mut s)
        .unwrap();
    assert_eq!(s.take(), vec![Call::Event(Event::SourceChange(*f))]);
    assert_eq!(d.phase(), Phase::CaptureSetup);
    assert_eq!(d.capture_format(), (*f, true));
    assert_eq!(d.min_capture_buffers(), f.min_buffers);
    for i in 0..n_cap {
        d.buffer_init(Queue::Capture, i, f.size_image).unwrap();
        d.buffer_prepare(Queue::Capture, i, f.size_image).unwrap();
        d.buffer_queued(Queue::Capture, i, 0, 0, &mut s).unwrap();
    }
    // Nothing goes to the daemon before STREAMON(CAPTURE).
    assert!(s.take().is_empty());
    d.streamon(Queue::Capture, Some(&caps()), &mut s).unwrap();
    let mut want = vec![Call::Event(Event::ClearLast)];
    for i in 0..n_cap {
        want.push(Call::Attach(Queue::Capture, i));
        want.push(Call::Send(Owned::QueueCapture(i)));
    }
    assert_eq!(s.take(), want);
    assert_eq!(d.phase(), Phase::Decoding);
    d.daemon_message(&input_done(1), &mut s).unwrap();
    assert_eq!(s.take(), vec![Call::OutputDone(0, false)]);
    (d, s)
}

#[test]
fn placeholder_capture_format_follows_the_output_format() {
    let mut d = Decoder::new(SESSION);
    let (f, parsed) = d.capture_format();
    assert!(!parsed);
    assert_eq!((f.visible.width, f.visible.height), (1920, 1080));
    assert_eq!((f.width, f.height, f.stride), (1920, 1088, 1920));
    d.set_output_format(Codec::Vp9, 1281, 719).unwrap();
    let (f, _) = d.capture_format();
    assert_eq!((f.width, f.height, f.stride), (1296, 720, 1344));
    assert_eq!(f.size_image, 1344 * 720 * 3 / 2);
    assert_eq!(d.output_format(), (Codec::Vp9, 1281, 719));
}

#[test]
fn streaming_without_a_daemon_fails_clearly() {
    let mut d = Decoder::new(SESSION);
    let mut s = Rec::default();
    d.buffer_init(Queue::Output, 0, OUT_SIZE).unwrap();
    assert_eq!(
        d.streamon(Queue::Output, None, &mut s),
        Err(Error::NoDaemon)
    );
    assert!(!d.is_streaming(Queue::Output));
    // Queued buffers stay with the driver and nothing is sent.
    d.buffer_queued(Queue::Output, 0, 10, 1, &mut s).unwrap();
    assert!(s.take().is_empty());
    // vb2 takes them back when start_streaming fails.
    let mut back = Vec::new();
    d.cancel_queued(Queue::Output, &mut |i| back.push(i));
    assert_eq!(back, vec![0]);
    assert_eq!(d.buf_state(Queue::Output, 0), BufState::Client);
}

#[test]
fn unsupported_codec_and_size_are_refused_at_streamon() {
    let mut d = Decoder::new(SESSION);
    let mut s = Rec::default();
    d.set_output_format(Codec::Av1, 0, 0).unwrap();
    assert_eq!(
        d.streamon(Queue::Output, Some(&caps()), &mut s),
        Err(Error::UnsupportedCodec(Codec::Av1))
    );
    d.set_output_format(Codec::H264, 8192, 4096).unwrap();
    assert_eq!(
        d.streamon(Queue::Output, Some(&caps()), &mut s),
        Err(Error::TooLarge {
            width: 8192,
            height: 4096
        })
    );
    assert!(s.take().is_empty() && !d.is_open());
}

#[test]
fn output_format_is_locked_while_buffers_exist() {
    let (mut d, mut s) = started(2);
    assert_eq!(d.set_output_format(Codec::Vp9, 0, 0), Err(Error::Busy));
    d.streamoff_begin(Queue::Output, &mut s);
    d.streamoff_finish(Queue::Output, &mut s);
    for i in 0..2 {
        d.buffer_cleanup(Queue::Output, i, &mut s);
    }
    d.set_output_format(Codec::Vp9, 0, 0).unwrap();
}

#[test]
fn initialization_capture_setup_decoding_and_drain_with_last_frame() {
    let f = fmt(1920, 1088, 5);
    let (mut d, mut s) = decoding(4, 6, &f);
    // Two more chunks; the daemon reorders the frames.
    d.buffer_queued(Queue::Output, 1, 500, 20, &mut s).unwrap();
    d.buffer_queued(Queue::Output, 2, 400, 30, &mut s).unwrap();
    assert_eq!(s.decodes(), vec![(2, 1, 20), (3, 2, 30)]);
    s.take();
    d.daemon_message(&input_done(2), &mut s).unwrap();
    d.daemon_message(&input_done(3), &mut s).unwrap();
    d.daemon_message(&frame(1, 0, &f, 10, frame_flags::KEYFRAME), &mut s)
        .unwrap();
    d.daemon_message(&frame(3, 1, &f, 30, 0), &mut s).unwrap();
    assert_eq!(
        s.take(),
        vec![
            Call::OutputDone(1, false),
            Call::OutputDone(2, false),
            Call::CaptureDone(
                0,
                CaptureDone {
                    bytesused: f.size_image,
                    timestamp: 10,
                    flags: v4l2_flags::KEYFRAME
                }
            ),
            Call::CaptureDone(
                1,
                CaptureDone {
                    bytesused: f.size_image,
                    timestamp: 30,
                    flags: 0
                }
            ),
        ]
    );
    // Drain: STOP sends Drain after the pending input.
    d.decoder_cmd(DecCmd::Stop, &mut s).unwrap();
    assert_eq!(s.take(), vec![Call::Send(Owned::Drain)]);
    assert_eq!(d.phase(), Phase::Draining);
    assert_eq!(d.decoder_cmd(DecCmd::Stop, &mut s), Err(Error::Busy));
    assert_eq!(d.decoder_cmd(DecCmd::Start, &mut s), Err(Error::Busy));
    // Output queued during the drain is decoded after START only... it is sent now, since the
    // drain covers only buffers queued before STOP and the daemon serialises them.
    d.daemon_message(&frame(2, 2, &f, 20, frame_flags::LAST), &mut s)
        .unwrap();
    d.daemon_message(
        &Message::EndOfStream(EndOfStream {
            frames: 1,
            last_flagged: true,
        }),
        &mut s,
    )
    .unwrap();
    assert_eq!(
        s.take(),
        vec![
            Call::CaptureDone(
                2,
                CaptureDone {
                    bytesused: f.size_image,
                    timestamp: 20,
                    flags: v4l2_flags::LAST
                }
            ),
            Call::Event(Event::Eos),
        ]
    );
    assert_eq!(d.phase(), Phase::Stopped);
    // Stopped: new OUTPUT is accepted but not decoded until START.
    d.buffer_queued(Queue::Output, 3, 100, 40, &mut s).unwrap();
    assert!(s.take().is_empty());
    assert_eq!(d.buf_state(Queue::Output, 3), BufState::Queued);
    d.decoder_cmd(DecCmd::Start, &mut s).unwrap();
    assert_eq!(
        s.take(),
        vec![
            Call::Event(Event::ClearLast),
            Call::Attach(Queue::Output, 3),
            Call::Send(Owned::Decode {
                cookie: 4,
                buffer: 3,
                length: 100,
                ts: 40
            }),
        ]
    );
    assert_eq!(d.phase(), Phase::Decoding);
}

#[test]
fn drain_without_pending_frames_returns_an_empty_last_buffer() {
    let f = fmt(640, 480, 3);
    let (mut d, mut s) = decoding(2, 2, &f);
    d.decoder_cmd(DecCmd::Stop, &mut s).unwrap();
    assert_eq!(s.take(), vec![Call::Send(Owned::Drain)]);
    d.daemon_message(
        &Message::EndOfStream(EndOfStream {
            frames: 0,
            last_flagged: false,
        }),
        &mut s,
    )
    .unwrap();
    // The daemon holds both capture buffers: take them back to return one empty with LAST.
    assert_eq!(
        s.take(),
        vec![
            Call::Send(Owned::Flush(Queues {
                output: false,
                capture: true
            })),
            Call::Event(Event::Eos),
        ]
    );
    d.daemon_message(
        &Message::FlushDone {
            queues: Queues {
                output: false,
                capture: true,
            },
        },
        &mut s,
    )
    .unwrap();
    assert_eq!(
        s.take(),
        vec![Call::CaptureDone(
            0,
            CaptureDone {
                bytesused: 0,
                timestamp: 0,
                flags: v4l2_flags::LAST
            }
        )]
    );
    assert_eq!(d.buf_state(Queue::Capture, 1), BufState::Queued);
    // START hands the remaining buffer back to the daemon.
    d.decoder_cmd(DecCmd::Start, &mut s).unwrap();
    assert_eq!(
        s.take(),
        vec![
            Call::Event(Event::ClearLast),
            Call::Send(Owned::QueueCapture(1))
        ]
    );
}

#[test]
fn stop_before_capture_streams_does_not_start_a_drain() {
    let (mut d, mut s) = started(1);
    d.decoder_cmd(DecCmd::Stop, &mut s).unwrap();
    assert!(s.take().is_empty());
    assert_eq!(d.phase(), Phase::Initialization);
}

#[test]
fn dynamic_resolution_change_sequence() {
    let f1 = fmt(640, 480, 4);
    let f2 = fmt(1280, 720, 6);
    let (mut d, mut s) = decoding(2, 3, &f1);
    d.buffer_queued(Queue::Output, 1, 100, 20, &mut s).unwrap();
    s.take();
    d.daemon_message(&input_done(2), &mut s).unwrap();
    d.daemon_message(&frame(1, 0, &f1, 10, 0), &mut s).unwrap();
    s.take();
    d.daemon_message(&Message::SourceChange(f2), &mut s)
        .unwrap();
    // The frame before the change is still in vb2's done list: the event waits for the
    // client to dequeue it, the acknowledgement to the daemon does not.
    assert_eq!(
        s.take(),
        vec![Call::Send(Owned::Flush(Queues {
            output: false,
            capture: true
        }))]
    );
    assert_eq!(d.phase(), Phase::ResolutionChange);
    // Queries answer with the new format at once.
    assert_eq!(d.capture_format(), (f2, true));
    assert_eq!(d.min_capture_buffers(), 6);
    d.daemon_message(
        &Message::FlushDone {
            queues: Queues {
                output: false,
                capture: true,
            },
        },
        &mut s,
    )
    .unwrap();
    assert!(s.take().is_empty(), "no empty LAST buffer before the event");
    // Dequeuing a buffer that holds no frame changes nothing; the frame's does.
    d.buffer_dequeued(Queue::Capture, 2, &mut s);
    assert!(s.take().is_empty());
    d.buffer_dequeued(Queue::Capture, 0, &mut s);
    let calls = s.take();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0], Call::Event(Event::SourceChange(f2)));
    assert!(matches!(
        calls[1],
        Call::CaptureDone(
            _,
            CaptureDone {
                bytesused: 0,
                flags: v4l2_flags::LAST,
                ..
            }
        )
    ));
    // The client follows Capture setup: STREAMOFF, REQBUFS(0), REQBUFS(n), STREAMON.
    assert!(!d.streamoff_begin(Queue::Capture, &mut s));
    d.streamoff_finish(Queue::Capture, &mut s);
    let back: Vec<_> = s
        .take()
        .into_iter()
        .filter(|c| matches!(c, Call::CaptureDone(_, cd) if cd.flags == v4l2_flags::ERROR))
        .collect();
    assert_eq!(
        back.len(),
        1,
        "the buffer that did not carry LAST comes back on STREAMOFF"
    );
    for i in 0..3 {
        d.buffer_cleanup(Queue::Capture, i, &mut s);
    }
    assert_eq!(s.take(), vec![Call::Send(Owned::Release(Queue::Capture))]);
    for i in 0..6 {
        d.buffer_init(Queue::Capture, i, f2.size_image).unwrap();
        d.buffer_queued(Queue::Capture, i, 0, 0, &mut s).unwrap();
    }
    d.streamon(Queue::Capture, Some(&caps()), &mut s).unwrap();
    let calls = s.take();
    assert_eq!(calls[0], Call::Event(Event::ClearLast));
    assert_eq!(
        calls
            .iter()
            .filter(|c| matches!(c, Call::Send(Owned::QueueCapture(_))))
            .count(),
        6
    );
    assert_eq!(d.phase(), Phase::Decoding);
    // Frames in the old format are refused now.
    let e = d
        .daemon_message(&frame(2, 0, &f1, 20, 0), &mut s)
        .unwrap_err();
    assert!(matches!(
        e,
        Error::Protocol {
            code: ErrorCode::BadState,
            ..
        }
    ));
    d.daemon_message(&frame(2, 0, &f2, 20, 0), &mut s).unwrap();
}

#[test]
fn resolution_change_resumed_with_start_when_buffers_are_big_enough() {
    let f1 = fmt(1280, 720, 4);
    let f2 = fmt(640, 480, 4);
    let (mut d, mut s) = decoding(1, 2, &f1);
    d.daemon_message(&Message::SourceChange(f2), &mut s)
        .unwrap();
    d.daemon_message(
        &Message::FlushDone {
            queues: Queues {
                output: false,
                capture: true,
            },
        },
        &mut s,
    )
    .unwrap();
    s.take();
    d.decoder_cmd(DecCmd::Start, &mut s).unwrap();
    assert_eq!(
        s.take(),
        vec![
            Call::Event(Event::ClearLast),
            Call::Send(Owned::QueueCapture(1))
        ]
    );
    assert_eq!(d.capture_format(), (f2, true));
}

#[test]
fn seek_flushes_output_and_returns_every_buffer() {
    let f = fmt(320, 240, 2);
    let (mut d, mut s) = decoding(4, 2, &f);
    d.buffer_queued(Queue::Output, 1, 10, 1, &mut s).unwrap();
    d.buffer_queued(Queue::Output, 2, 10, 2, &mut s).unwrap();
    s.take();
    assert!(d.streamoff_begin(Queue::Output, &mut s));
    assert_eq!(
        s.take(),
        vec![Call::Send(Owned::Flush(Queues {
            output: true,
            capture: false
        }))]
    );
    // The daemon answers every request, then FlushDone.
    d.daemon_message(
        &Message::InputDone {
            cookie: 2,
            status: Status::Failed(ErrorCode::ShuttingDown),
        },
        &mut s,
    )
    .unwrap();
    assert!(d.is_flushing(Queue::Output));
    d.daemon_message(
        &Message::FlushDone {
            queues: Queues {
                output: true,
                capture: false,
            },
        },
        &mut s,
    )
    .unwrap();
    assert!(!d.is_flushing(Queue::Output));
    d.streamoff_finish(Queue::Output, &mut s);
    assert_eq!(
        s.take(),
        vec![Call::OutputDone(1, true), Call::OutputDone(2, true)]
    );
    // STREAMON(OUTPUT) resumes with new data; cookies stay unique.
    d.streamon(Queue::Output, Some(&caps()), &mut s).unwrap();
    d.buffer_queued(Queue::Output, 3, 10, 3, &mut s).unwrap();
    assert_eq!(s.decodes(), vec![(4, 3, 3)]);
}

#[test]
fn daemon_death_fails_every_buffer_and_recovers_after_reinit() {
    let f = fmt(320, 240, 2);
    let (mut d, mut s) = decoding(3, 3, &f);
    d.buffer_queued(Queue::Output, 1, 10, 1, &mut s).unwrap();
    s.take();
    d.daemon_lost(&mut s);
    let calls = s.take();
    assert!(calls.contains(&Call::OutputDone(1, true)));
    for i in 0..3 {
        assert!(calls.contains(&Call::CaptureDone(
            i,
            CaptureDone {
                bytesused: 0,
                timestamp: 0,
                flags: v4l2_flags::ERROR
            }
        )));
    }
    assert_eq!(calls.last(), Some(&Call::Event(Event::Lost)));
    assert!(d.is_lost());
    assert_eq!(d.buffer_prepare(Queue::Output, 2, 10), Err(Error::Lost));
    assert_eq!(
        d.streamon(Queue::Output, Some(&caps()), &mut s),
        Err(Error::Lost)
    );
    assert_eq!(d.decoder_cmd(DecCmd::Stop, &mut s), Err(Error::Lost));
    // Late messages from the dead session are refused.
    assert!(d.daemon_message(&input_done(2), &mut s).is_err());
    // Reinitialise: stop both queues, free everything.
    for q in [Queue::Output, Queue::Capture] {
        assert!(!d.streamoff_begin(q, &mut s));
        d.streamoff_finish(q, &mut s);
    }
    assert!(s.take().is_empty(), "every buffer was already returned");
    for i in 0..3 {
        d.buffer_cleanup(Queue::Output, i, &mut s);
        d.buffer_cleanup(Queue::Capture, i, &mut s);
    }
    assert!(!d.is_lost());
    assert_eq!(d.phase(), Phase::Initialization);
    d.buffer_init(Queue::Output, 0, OUT_SIZE).unwrap();
    d.streamon(Queue::Output, Some(&caps()), &mut s).unwrap();
    assert_eq!(
        s.take(),
        vec![Call::Send(Owned::SessionOpen(Codec::H264, 0, 0))]
    );
}

#[test]
fn protocol_violations_are_rejected_with_the_offending_value() {
    let f = fmt(320, 240, 2);
    let (mut d, mut s) = decoding(2, 2, &f);
    let code = |r: Result<(), Error>| match r {
        Err(Error::Protocol { code, value, .. }) => (code, value),
        other => panic!("expected a protocol error, got {other:?}"),
    };
    assert_eq!(
        code(d.daemon_message(&input_done(99), &mut s)),
        (ErrorCode::BadCookie, 99)
    );
    // Buffer 5 was never handed over.
    assert_eq!(
        code(d.daemon_message(&frame(1, 5, &f, 10, 0), &mut s)),
        (ErrorCode::BadBuffer, 5)
    );
    // Wrong timestamp for cookie 1.
    assert_eq!(
        code(d.daemon_message(&frame(1, 0, &f, 11, 0), &mut s)),
        (ErrorCode::BadCookie, 1)
    );
    assert_eq!(
        code(d.daemon_message(&frame(1, 0, &f, 10, frame_flags::LAST), &mut s)),
        (ErrorCode::BadState, u64::from(frame_flags::LAST))
    );
    assert_eq!(
        code(d.daemon_message(
            &Message::EndOfStream(EndOfStream {
                frames: 3,
                last_flagged: true
            }),
            &mut s
        )),
        (ErrorCode::BadState, 3)
    );
    assert_eq!(
        code(d.daemon_message(
            &Message::FlushDone {
                queues: Queues {
                    output: true,
                    capture: false
                }
            },
            &mut s
        )),
        (ErrorCode::BadState, 1)
    );
    let Message::FrameDone(mut fd) = frame(1, 0, &f, 10, 0) else {
        unreachable!()
    };
    fd.bytesused = f.size_image + 1;
    assert_eq!(
        code(d.daemon_message(&Message::FrameDone(fd), &mut s)),
        (ErrorCode::BadBuffer, u64::from(f.size_image + 1))
    );
    // None of that changed who holds what.
    assert!(s.take().is_empty());
    assert_eq!(d.buf_state(Queue::Capture, 0), BufState::Daemon);
    d.daemon_message(&frame(1, 0, &f, 10, 0), &mut s).unwrap();
}

#[test]
fn capture_buffers_too_small_for_the_format_are_refused() {
    let f = fmt(1920, 1088, 4);
    let (mut d, mut s) = decoding(1, 1, &f);
    d.buffer_init(Queue::Capture, 5, 1000).unwrap();
    assert_eq!(
        d.buffer_prepare(Queue::Capture, 5, 1000),
        Err(Error::BufferTooSmall {
            size: 1000,
            needed: f.size_image
        })
    );
    assert_eq!(
        d.buffer_queued(Queue::Capture, 9, 0, 0, &mut s),
        Err(Error::BadBuffer {
            queue: Queue::Capture,
            index: 9
        })
    );
}

#[test]
fn close_ends_the_session() {
    let (mut d, mut s) = started(1);
    d.close(&mut s);
    assert_eq!(s.take(), vec![Call::Send(Owned::SessionClose)]);
    d.close(&mut s);
    assert!(s.take().is_empty());
    d.daemon_message(&Message::SessionClosed, &mut s).unwrap();
}

/// xorshift64*, seeded and printed so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A daemon that answers in random order but by the protocol's rules.
#[derive(Default)]
struct ModelDaemon {
    requests: Vec<(u32, u64)>,
    capture: Vec<u32>,
    finished: Vec<(u32, u64)>,
    draining: bool,
    flush: Option<Queues>,
}

#[test]
fn random_sequences_never_lose_or_duplicate_a_buffer() {
    let seed = std::env::var("DAEDALUS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_da3d_a105_u64);
    println!("seed {seed} (set DAEDALUS_SEED to replay)");
    let mut rng = Rng(seed);
    let f = fmt(320, 240, 3);
    for round in 0..200 {
        let (mut d, mut s) = decoding(4, 4, &f);
        // `decoding` handed all four capture buffers over and finished request 1.
        let mut daemon = ModelDaemon {
            capture: vec![0, 1, 2, 3],
            finished: vec![(1, 10)],
            ..ModelDaemon::default()
        };
        // Client-side view: which buffers the client holds.
        let mut client_out = [true; 4];
        let mut client_cap = [false; 4];
        client_out[0] = true;
        let mut ts = 100u64;
        for step in 0..300 {
            let op = rng.below(12);
            match op {
                0..=2 => {
                    if let Some(i) = (0..4).find(|&i| client_out[i]) {
                        if d.buffer_prepare(Queue::Output, i as u32, OUT_SIZE).is_ok() {
                            client_out[i] = false;
                            ts += 1;
                            d.buffer_queued(Queue::Output, i as u32, 64, ts, &mut s)
                                .unwrap();
                        }
                    }
                }
                3 => {
                    if let Some(i) = (0..4).find(|&i| client_cap[i]) {
                        d.buffer_dequeued(Queue::Capture, i as u32, &mut s);
                        if d.buffer_prepare(Queue::Capture, i as u32, f.size_image)
                            .is_ok()
                        {
                            client_cap[i] = false;
                            d.buffer_queued(Queue::Capture, i as u32, 0, 0, &mut s)
                                .unwrap();
                        }
                    }
                }
                4..=5 if !daemon.requests.is_empty() => {
                    let k = rng.below(daemon.requests.len() as u64) as usize;
                    let (c, t) = daemon.requests.remove(k);
                    daemon.finished.push((c, t));
                    d.daemon_message(&input_done(c), &mut s).unwrap();
                }
                6..=7 if !daemon.capture.is_empty() && !daemon.finished.is_empty() => {
                    let k = rng.below(daemon.capture.len() as u64) as usize;
                    let b = daemon.capture.remove(k);
                    let (c, t) = daemon.finished.remove(0);
                    let last = daemon.draining && daemon.finished.is_empty();
                    let flags = if last { frame_flags::LAST } else { 0 };
                    d.daemon_message(&frame(c, b, &f, t, flags), &mut s)
                        .unwrap();
                    if last {
                        daemon.draining = false;
                        d.daemon_message(
                            &Message::EndOfStream(EndOfStream {
                                frames: 1,
                                last_flagged: true,
                            }),
                            &mut s,
                        )
                        .unwrap();
                    }
                }
                8 => {
                    let cmd = if rng.below(2) == 0 {
                        DecCmd::Stop
                    } else {
                        DecCmd::Start
                    };
                    let _ = d.decoder_cmd(cmd, &mut s);
                }
                9 => {
                    // Seek or capture restart.
                    let q = if rng.below(2) == 0 {
                        Queue::Output
                    } else {
                        Queue::Capture
                    };
                    if d.is_streaming(q) {
                        d.streamoff_begin(q, &mut s);
                    } else {
                        let _ = d.streamon(q, Some(&caps()), &mut s);
                    }
                }
                10 if daemon.draining
                    && daemon.requests.is_empty()
                    && daemon.finished.is_empty() =>
                {
                    daemon.draining = false;
                    d.daemon_message(
                        &Message::EndOfStream(EndOfStream {
                            frames: 0,
                            last_flagged: false,
                        }),
                        &mut s,
                    )
                    .unwrap();
                }
                11 if rng.below(20) == 0 => {
                    d.daemon_lost(&mut s);
                }
                _ => {}
            }
            // Deliver what the decoder asked for, to the model daemon and the client.
            for call in s.take() {
                match call {
                    Call::Send(Owned::Decode { cookie, ts, .. }) => {
                        daemon.requests.push((cookie, ts));
                    }
                    Call::Send(Owned::QueueCapture(b)) => {
                        assert!(!daemon.capture.contains(&b), "capture {b} queued twice");
                        daemon.capture.push(b);
                    }
                    Call::Send(Owned::Drain) => daemon.draining = true,
                    Call::Send(Owned::Flush(q)) => {
                        assert!(daemon.flush.is_none());
                        daemon.flush = Some(q);
                    }
                    Call::OutputDone(i, _) => {
                        assert!(
                            !client_out[i as usize],
                            "round {round} step {step}: output {i} returned twice"
                        );
                        client_out[i as usize] = true;
                    }
                    Call::CaptureDone(i, _) => {
                        assert!(
                            !client_cap[i as usize],
                            "round {round} step {step}: capture {i} returned twice"
                        );
                        client_cap[i as usize] = true;
                    }
                    Call::Event(Event::Lost) => {
                        daemon = ModelDaemon::default();
                    }
                    _ => {}
                }
            }
            // Flushes are answered at once, by the rules: InputDone for each request first.
            if let Some(q) = daemon.flush.take() {
                if q.output {
                    for (c, _) in std::mem::take(&mut daemon.requests) {
                        d.daemon_message(
                            &Message::InputDone {
                                cookie: c,
                                status: Status::Failed(ErrorCode::DecodeFailed),
                            },
                            &mut s,
                        )
                        .unwrap();
                    }
                    daemon.finished.clear();
                    daemon.draining = false;
                }
                if q.capture {
                    daemon.capture.clear();
                }
                d.daemon_message(&Message::FlushDone { queues: q }, &mut s)
                    .unwrap();
                for q in [Queue::Output, Queue::Capture] {
                    if !d.is_streaming(q) && !d.is_flushing(q) {
                        d.streamoff_finish(q, &mut s);
                    }
                }
                for call in s.take() {
                    match call {
                        Call::OutputDone(i, _) => {
                            assert!(!client_out[i as usize]);
                            client_out[i as usize] = true;
                        }
                        Call::CaptureDone(i, _) => {
                            assert!(!client_cap[i as usize]);
                            client_cap[i as usize] = true;
                        }
                        Call::Send(Owned::QueueCapture(b)) => daemon.capture.push(b),
                        Call::Send(Owned::Decode { cookie, ts, .. }) => {
                            daemon.requests.push((cookie, ts))
                        }
                        _ => {}
                    }
                }
            } else {
                for q in [Queue::Output, Queue::Capture] {
                    if !d.is_streaming(q) && !d.is_flushing(q) {
                        d.streamoff_finish(q, &mut s);
                        for call in s.take() {
                            match call {
                                Call::OutputDone(i, _) => {
                                    assert!(!client_out[i as usize]);
                                    client_out[i as usize] = true;
                                }
                                Call::CaptureDone(i, _) => {
                                    assert!(!client_cap[i as usize]);
                                    client_cap[i as usize] = true;
                                }
                                _ => {}
                            }
                        }
                    }
                }
            }
            // Ownership invariant: every buffer is with exactly one party.
            for i in 0..4u32 {
                let st = d.buf_state(Queue::Output, i);
                assert_eq!(
                    client_out[i as usize],
                    st == BufState::Client,
                    "round {round} step {step}: output {i} is {st:?}"
                );
                let st = d.buf_state(Queue::Capture, i);
                assert_eq!(
                    client_cap[i as usize],
                    st == BufState::Client,
                    "round {round} step {step}: capture {i} is {st:?}"
                );
                if st == BufState::Daemon {
                    assert!(
                        daemon.capture.contains(&i),
                        "round {round} step {step} op {op}: capture {i} with the daemon per the decoder, not per the model ({:?}, phase {:?})",
                        daemon.capture,
                        d.phase()
                    );
                }
            }
            if d.is_lost() {
                break;
            }
        }
        let _ = MAX_BUFFERS;
    }
}

#[test]
fn resolution_change_during_a_drain_continues_the_drain() {
    let f1 = fmt(640, 480, 4);
    let f2 = fmt(320, 240, 4);
    let (mut d, mut s) = decoding(2, 2, &f1);
    d.decoder_cmd(DecCmd::Stop, &mut s).unwrap();
    assert_eq!(s.take(), vec![Call::Send(Owned::Drain)]);
    d.daemon_message(&Message::SourceChange(f2), &mut s)
        .unwrap();
    assert_eq!(d.phase(), Phase::ResolutionChange);
    d.daemon_message(
        &Message::FlushDone {
            queues: Queues {
                output: false,
                capture: true,
            },
        },
        &mut s,
    )
    .unwrap();
    s.take();
    d.decoder_cmd(DecCmd::Start, &mut s).unwrap();
    assert_eq!(d.phase(), Phase::Draining, "the interrupted drain goes on");
    d.daemon_message(
        &Message::EndOfStream(EndOfStream {
            frames: 0,
            last_flagged: false,
        }),
        &mut s,
    )
    .unwrap();
    assert_eq!(d.phase(), Phase::Stopped);
    assert!(s.take().contains(&Call::Event(Event::Eos)));
}

#[test]
fn stop_during_a_resolution_change_drains_after_it() {
    let f1 = fmt(640, 480, 4);
    let f2 = fmt(320, 240, 4);
    let (mut d, mut s) = decoding(2, 2, &f1);
    d.daemon_message(&Message::SourceChange(f2), &mut s)
        .unwrap();
    d.decoder_cmd(DecCmd::Stop, &mut s).unwrap();
    assert!(!s.take().contains(&Call::Send(Owned::Drain)));
    d.daemon_message(
        &Message::FlushDone {
            queues: Queues {
                output: false,
                capture: true,
            },
        },
        &mut s,
    )
    .unwrap();
    s.take();
    d.decoder_cmd(DecCmd::Start, &mut s).unwrap();
    assert_eq!(d.phase(), Phase::Draining);
    assert!(s.take().contains(&Call::Send(Owned::Drain)));
}

const CAPTURE_FLUSH: Call = Call::Send(Owned::Flush(Queues {
    output: false,
    capture: true,
}));

fn capture_flush_done() -> Message<'static> {
    Message::FlushDone {
        queues: Queues {
            output: false,
            capture: true,
        },
    }
}

/// The daemon holds no CAPTURE buffer when it announces a change (the client had all of
/// them, as a slow client on the KASAN guest did). The change is still acknowledged with a
/// capture flush, the only thing that tells the daemon that later `QueueCapture`s come from
/// a module that saw the change; without it the daemon waited for ever (the stall of
/// `h264_reschange_320x240_176x144` with a drain sent before the change).
#[test]
fn a_resolution_change_is_acknowledged_even_with_no_buffer_at_the_daemon() {
    let f1 = fmt(320, 240, 2);
    let f2 = fmt(176, 144, 2);
    for start in [false, true] {
        let (mut d, mut s) = decoding(2, 2, &f1);
        d.decoder_cmd(DecCmd::Stop, &mut s).unwrap();
        d.daemon_message(&frame(1, 0, &f1, 10, 0), &mut s).unwrap();
        d.daemon_message(&frame(1, 1, &f1, 10, 0), &mut s).unwrap();
        d.buffer_dequeued(Queue::Capture, 0, &mut s);
        d.buffer_dequeued(Queue::Capture, 1, &mut s);
        s.take();
        d.daemon_message(&Message::SourceChange(f2), &mut s)
            .unwrap();
        assert_eq!(
            s.take(),
            vec![Call::Event(Event::SourceChange(f2)), CAPTURE_FLUSH]
        );
        d.daemon_message(&capture_flush_done(), &mut s).unwrap();
        assert!(s.take().is_empty(), "no buffer to carry LAST yet");
        // The client gives a buffer back: it carries LAST at once, nothing goes to the daemon.
        d.buffer_queued(Queue::Capture, 0, 0, 0, &mut s).unwrap();
        assert!(matches!(
            s.take()[..],
            [Call::CaptureDone(
                0,
                CaptureDone {
                    bytesused: 0,
                    flags: v4l2_flags::LAST,
                    ..
                }
            )]
        ));
        if start {
            // Buffers big enough: keep them.
            d.decoder_cmd(DecCmd::Start, &mut s).unwrap();
            d.buffer_queued(Queue::Capture, 0, 0, 0, &mut s).unwrap();
            d.buffer_queued(Queue::Capture, 1, 0, 0, &mut s).unwrap();
        } else {
            // No buffer at the daemon: STREAMOFF needs no flush of its own.
            assert!(!d.streamoff_begin(Queue::Capture, &mut s));
            d.streamoff_finish(Queue::Capture, &mut s);
            d.buffer_cleanup(Queue::Capture, 0, &mut s);
            d.buffer_cleanup(Queue::Capture, 1, &mut s);
            d.buffer_init(Queue::Capture, 0, f2.size_image).unwrap();
            d.buffer_queued(Queue::Capture, 0, 0, 0, &mut s).unwrap();
            d.streamon(Queue::Capture, Some(&caps()), &mut s).unwrap();
        }
        assert_eq!(d.phase(), Phase::Draining, "the drain goes on");
        let calls = s.take();
        assert!(
            calls.contains(&Call::Send(Owned::QueueCapture(0))),
            "{calls:?}"
        );
        assert!(!calls.contains(&CAPTURE_FLUSH), "{calls:?}");
        d.daemon_message(&frame(1, 0, &f2, 10, frame_flags::LAST), &mut s)
            .unwrap();
        d.daemon_message(
            &Message::EndOfStream(EndOfStream {
                frames: 3,
                last_flagged: true,
            }),
            &mut s,
        )
        .unwrap();
        assert!(s.take().contains(&Call::Event(Event::Eos)));
        assert_eq!(d.phase(), Phase::Stopped);
    }
}

/// A change that arrives while a capture flush is in flight (which the daemon may have
/// handled before it announced) is acknowledged with a second flush once the first is done;
/// a `STREAMOFF(CAPTURE)` meanwhile waits for the flush in flight instead of sending one more.
#[test]
fn a_change_during_a_capture_flush_is_acknowledged_after_it() {
    let f1 = fmt(320, 240, 2);
    let f2 = fmt(176, 144, 2);
    let (mut d, mut s) = decoding(2, 2, &f1);
    assert!(d.streamoff_begin(Queue::Capture, &mut s));
    assert_eq!(s.take(), vec![CAPTURE_FLUSH]);
    d.daemon_message(&Message::SourceChange(f2), &mut s)
        .unwrap();
    assert_eq!(s.take(), vec![Call::Event(Event::SourceChange(f2))]);
    assert!(d.is_flushing(Queue::Capture));
    d.daemon_message(&capture_flush_done(), &mut s).unwrap();
    assert_eq!(s.take(), vec![CAPTURE_FLUSH], "the owed acknowledgement");
    assert!(d.is_flushing(Queue::Capture));
    d.daemon_message(&capture_flush_done(), &mut s).unwrap();
    assert!(!d.is_flushing(Queue::Capture));
    d.streamoff_finish(Queue::Capture, &mut s);
    // A FlushDone nobody asked for is still an error.
    assert!(d.daemon_message(&capture_flush_done(), &mut s).is_err());
}

/// The event of a resolution change waits while a frame of the old format sits in vb2's
/// done list, and the empty `LAST` buffer waits for the event: GStreamer 1.22 stops CAPTURE
/// the moment it sees the event (what vb2 still held was lost) and takes an empty buffer
/// seen before it for the end of the stream. A `STREAMOFF(CAPTURE)`, which empties the done
/// list, releases the event too.
#[test]
fn the_change_event_waits_until_the_old_frames_are_dequeued() {
    let f1 = fmt(320, 240, 2);
    let f2 = fmt(176, 144, 2);
    for streamoff in [false, true] {
        let (mut d, mut s) = decoding(2, 2, &f1);
        d.daemon_message(&frame(1, 0, &f1, 10, 0), &mut s).unwrap();
        s.take();
        d.daemon_message(&Message::SourceChange(f2), &mut s)
            .unwrap();
        assert_eq!(s.take(), vec![CAPTURE_FLUSH]);
        d.daemon_message(&capture_flush_done(), &mut s).unwrap();
        // Buffer 1 is back from the daemon and could carry LAST, but not before the event.
        assert!(s.take().is_empty());
        assert_eq!(d.buf_state(Queue::Capture, 1), BufState::Queued);
        if streamoff {
            assert!(!d.streamoff_begin(Queue::Capture, &mut s));
            d.streamoff_finish(Queue::Capture, &mut s);
            assert_eq!(
                s.take(),
                vec![
                    Call::CaptureDone(
                        1,
                        CaptureDone {
                            bytesused: 0,
                            timestamp: 0,
                            flags: v4l2_flags::ERROR
                        }
                    ),
                    Call::Event(Event::SourceChange(f2)),
                ]
            );
        } else {
            d.buffer_dequeued(Queue::Capture, 0, &mut s);
            assert_eq!(
                s.take(),
                vec![
                    Call::Event(Event::SourceChange(f2)),
                    Call::CaptureDone(
                        1,
                        CaptureDone {
                            bytesused: 0,
                            timestamp: 0,
                            flags: v4l2_flags::LAST
                        }
                    ),
                ]
            );
            // A second notice for the same buffer (vb2's cancel after a DQBUF) is harmless.
            d.buffer_dequeued(Queue::Capture, 0, &mut s);
            assert!(s.take().is_empty());
        }
        assert_eq!(d.phase(), Phase::ResolutionChange);
    }
}

/// A client that set the coded size and started CAPTURE before the stream was parsed (as
/// GStreamer's v4l2videodec does when its parser knows the size): if the stream agrees, no
/// event and decoding goes straight into its buffers; if not, the dynamic resolution change
/// sequence (event, empty LAST buffer, acknowledgement to the daemon).
#[test]
fn capture_started_before_the_stream_was_parsed() {
    for agrees in [true, false] {
        let mut d = Decoder::new(SESSION);
        let mut s = Rec::default();
        d.set_output_format(Codec::Vp9, 201, 131).unwrap();
        d.buffer_init(Queue::Output, 0, OUT_SIZE).unwrap();
        d.streamon(Queue::Output, Some(&caps()), &mut s).unwrap();
        let (early, from_stream) = d.capture_format();
        assert!(!from_stream);
        assert_eq!((early.visible.width, early.visible.height), (201, 131));
        for i in 0..2 {
            d.buffer_init(Queue::Capture, i, early.size_image).unwrap();
            d.buffer_queued(Queue::Capture, i, 0, 0, &mut s).unwrap();
        }
        d.streamon(Queue::Capture, Some(&caps()), &mut s).unwrap();
        d.buffer_queued(Queue::Output, 0, 1000, 10, &mut s).unwrap();
        s.take();
        // What the daemon announces for a 201x131 stream (daemon/src/server.rs).
        let mut sc = early;
        sc.min_buffers = 2;
        if !agrees {
            sc.visible.width = 200;
        }
        d.daemon_message(&Message::SourceChange(sc), &mut s)
            .unwrap();
        let calls = s.take();
        if agrees {
            assert_eq!(d.phase(), Phase::Decoding);
            assert!(
                !calls.iter().any(|c| matches!(c, Call::Event(_))),
                "{calls:?}"
            );
            assert!(
                calls.contains(&Call::Send(Owned::QueueCapture(0))),
                "{calls:?}"
            );
            assert_eq!(d.capture_format(), (sc, true));
        } else {
            assert_eq!(d.phase(), Phase::ResolutionChange);
            assert_eq!(calls[0], Call::Event(Event::SourceChange(sc)));
            assert!(calls.contains(&CAPTURE_FLUSH), "{calls:?}");
            assert!(
                calls.iter().any(|c| matches!(
                    c,
                    Call::CaptureDone(
                        _,
                        CaptureDone {
                            flags: v4l2_flags::LAST,
                            ..
                        }
                    )
                )),
                "{calls:?}"
            );
            assert!(
                !calls
                    .iter()
                    .any(|c| matches!(c, Call::Send(Owned::QueueCapture(_))))
            );
        }
    }
}
