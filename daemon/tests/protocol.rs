//! The daemon's answers to misuse: every malformed or out-of-place message gets an error
//! naming the problem, and the connection keeps working.

use std::os::fd::AsFd;
use std::sync::Arc;

use daedalus_daemon::server::{self, Outcome, ServerConfig};
use daedalus_daemon::transport::Channel;
use daedalus_proto::{
    AttachBuffer, Codec, Decode, ErrorCode, Memory, Message, Queue, Role, SessionOpen, Status,
};

struct Raw {
    chan: Channel,
    server: Option<std::thread::JoinHandle<Outcome>>,
}

impl Raw {
    fn start(cfg: ServerConfig) -> Self {
        daedalus_daemon::sys::set_log_verbose(false);
        let (a, b) = Channel::pair().unwrap();
        let server = std::thread::spawn(move || server::serve(Arc::new(a), &cfg, None).unwrap());
        let raw = Self {
            chan: b,
            server: Some(server),
        };
        let (s, hello) = raw.next();
        assert_eq!(s, 0);
        assert!(matches!(hello, Owned::Hello));
        let (_, caps) = raw.next();
        let Owned::Caps(codecs) = caps else {
            panic!("expected capabilities, got {caps:?}")
        };
        assert_eq!(codecs, vec![Codec::H264, Codec::Vp9, Codec::Av1]);
        raw
    }

    fn send(&self, session: u32, m: Message<'_>) {
        self.chan.send(session, &m, &[]).unwrap();
    }

    fn next(&self) -> (u32, Owned) {
        let p = self
            .chan
            .recv()
            .unwrap()
            .expect("daemon closed the connection");
        let f = p.decode(Role::Daemon).unwrap();
        let o = match f.message {
            Message::Hello(_) => Owned::Hello,
            Message::Capabilities(c) => Owned::Caps(c.codecs().iter().map(|c| c.codec).collect()),
            Message::Error(e) => Owned::Error(e.code, e.cookie, e.text.to_string()),
            Message::Pong { nonce } => Owned::Pong(nonce),
            Message::InputDone { cookie, status } => Owned::InputDone(cookie, status),
            Message::SessionClosed => Owned::SessionClosed,
            other => Owned::Other(format!("{other:?}")),
        };
        (f.session, o)
    }

    /// Expects an error; returns the cookie it names.
    fn expect_error(&self, session: u32, code: ErrorCode, needle: &str) -> u32 {
        let (s, m) = self.next();
        match m {
            Owned::Error(c, cookie, text) => {
                assert_eq!((s, c), (session, code), "{text}");
                assert!(
                    text.contains(needle),
                    "{text:?} does not mention {needle:?}"
                );
                cookie
            }
            other => panic!("expected {code:?}, got {other:?}"),
        }
    }

    fn ping(&self, nonce: u64) {
        self.send(0, Message::Ping { nonce });
        let (_, m) = self.next();
        assert!(matches!(m, Owned::Pong(n) if n == nonce), "{m:?}");
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.chan.shutdown();
        if let Some(s) = self.server.take() {
            let _ = s.join();
        }
    }
}

#[derive(Debug)]
enum Owned {
    Hello,
    Caps(Vec<Codec>),
    Error(ErrorCode, u32, String),
    Pong(u64),
    InputDone(u32, Status),
    SessionClosed,
    Other(#[allow(dead_code)] String),
}

fn open(codec: Codec) -> Message<'static> {
    Message::SessionOpen(SessionOpen {
        codec,
        width: 0,
        height: 0,
    })
}

#[test]
fn malformed_and_misplaced_messages_are_answered_with_errors() {
    let d = Raw::start(ServerConfig::default());
    d.ping(1);
    d.chan.send_bytes(b"definitely not a message").unwrap();
    d.expect_error(0, ErrorCode::Malformed, "magic");
    // A valid header with a bad enum value in a session message: the error names the field
    // and goes to that session.
    let mut buf = [0u8; 64];
    let n = open(Codec::H264).encode(9, &mut buf).unwrap();
    buf[16..20].copy_from_slice(b"MPG2");
    d.chan.send_bytes(&buf[..n]).unwrap();
    d.expect_error(9, ErrorCode::Malformed, "codec");
    // A kind only the daemon may send.
    let n = Message::SessionClosed.encode(9, &mut buf).unwrap();
    d.chan.send_bytes(&buf[..n]).unwrap();
    d.expect_error(9, ErrorCode::Malformed, "may not be sent");
    d.send(
        3,
        Message::Decode(Decode {
            cookie: 1,
            buffer: 0,
            offset: 0,
            length: 10,
            timestamp: 0,
        }),
    );
    d.expect_error(3, ErrorCode::UnknownSession, "not open");
    d.send(
        0,
        Message::Hello(daedalus_proto::Hello {
            minor: 0,
            role: Role::Daemon,
            instance: 1,
        }),
    );
    d.expect_error(0, ErrorCode::Malformed, "daemon role");
    d.ping(2);
}

#[test]
fn session_requests_are_checked_against_its_state() {
    let d = Raw::start(ServerConfig::default());
    d.send(5, open(Codec::Vp9));
    d.send(5, open(Codec::Vp9));
    d.expect_error(5, ErrorCode::SessionExists, "already open");
    // Decode from a buffer that was never attached: the request fails, with a reason.
    d.send(
        5,
        Message::Decode(Decode {
            cookie: 77,
            buffer: 3,
            offset: 0,
            length: 100,
            timestamp: 5,
        }),
    );
    let (_, m) = d.next();
    assert!(
        matches!(
            m,
            Owned::InputDone(77, Status::Failed(ErrorCode::BadBuffer))
        ),
        "{m:?}"
    );
    assert_eq!(d.expect_error(5, ErrorCode::BadBuffer, "not attached"), 77);
    d.send(5, Message::QueueCapture { buffer: 2 });
    d.expect_error(5, ErrorCode::BadBuffer, "not attached");
    // A dmabuf attach must carry exactly one descriptor.
    d.send(
        5,
        Message::AttachBuffer(AttachBuffer {
            queue: Queue::Output,
            index: 0,
            memory: Memory::Dmabuf,
            offset: 0,
            size: 4096,
        }),
    );
    d.expect_error(5, ErrorCode::Malformed, "descriptors");
    // Shared memory without a shared area announced in the hello.
    d.send(
        5,
        Message::AttachBuffer(AttachBuffer {
            queue: Queue::Output,
            index: 0,
            memory: Memory::Shared,
            offset: 0,
            size: 4096,
        }),
    );
    d.expect_error(5, ErrorCode::BadBuffer, "shared area");
    // A descriptor on a message that takes none is refused, not leaked into the session.
    let (x, _y) = Channel::pair().unwrap();
    d.chan.send(5, &Message::Drain, &[x.as_fd()]).unwrap();
    d.expect_error(5, ErrorCode::Malformed, "descriptors");
    d.send(5, Message::SessionClose);
    let (s, m) = d.next();
    assert_eq!(s, 5);
    assert!(matches!(m, Owned::SessionClosed), "{m:?}");
    d.send(5, Message::Drain);
    d.expect_error(5, ErrorCode::UnknownSession, "not open");
}

#[test]
fn session_limit_is_enforced() {
    let d = Raw::start(ServerConfig {
        max_sessions: 2,
        threads: 1,
    });
    d.send(1, open(Codec::H264));
    d.send(2, open(Codec::Av1));
    d.send(3, open(Codec::Vp9));
    d.expect_error(3, ErrorCode::TooManySessions, "close one first");
    d.send(1, Message::SessionClose);
    let (s, m) = d.next();
    assert!(s == 1 && matches!(m, Owned::SessionClosed), "{m:?}");
    d.send(3, open(Codec::Vp9));
    d.ping(3);
}
