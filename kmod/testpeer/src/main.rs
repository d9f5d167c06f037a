//! `daedalus-test-peer`: the daemon side of the daedalus protocol with a scripted "decoder",
//! for testing `daedalus.ko` in the VM before (and independently of) the real daemon.
//!
//! Every non-empty `Decode` yields one frame of the configured size, in order, whose luma bytes
//! all hold the frame's number (mod 256) and whose chroma bytes are 0x80, so a client can check
//! each frame it receives. The first `Decode` of a session announces the format; with
//! `--change-after N` the format changes to `--size2` before frame N (a dynamic resolution
//! change). `--hang-after N` stops answering after N decodes, to exercise the module's
//! watchdog; `--frame-delay-ms` slows decoding down so a test can kill the peer mid-stream.
//!
//! It speaks to `/dev/daedalus` like the daemon will: `read`-free, one `DAEDALUS_IOC_RECV` per
//! message (which installs the dmabuf of an `AttachBuffer`) and one `write` per reply.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use daedalus_proto::chardev::RecvArg;
use daedalus_proto::{
    Capabilities, Codec, CodecCaps, EndOfStream, FrameDone, Hello, MAX_MESSAGE_LEN, Memory,
    Message, PixelFormat, Queue, Rect, Role, SourceChange, Status, decode_from, frame_flags,
};
use rustix::event::{PollFd, PollFlags, poll};
use rustix::ioctl::{Updater, ioctl, opcode};
use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};

/// The module's receive ioctl, `DAEDALUS_IOC_RECV` (`daedalus_proto::chardev`).
const RECV: rustix::ioctl::Opcode = opcode::read_write::<RecvArg>(
    daedalus_proto::chardev::IOC_TYPE,
    daedalus_proto::chardev::IOC_RECV_NR,
);
// rustix computes the number its own way; both must name the same ioctl.
const _: () = assert!(RECV as u64 == daedalus_proto::chardev::IOC_RECV as u64);

struct Mapping {
    ptr: *mut u8,
    len: usize,
    _fd: OwnedFd,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned and nothing else refers to it.
        unsafe {
            let _ = munmap(self.ptr.cast(), self.len);
        }
    }
}

#[derive(Clone, Copy)]
struct Size {
    w: u32,
    h: u32,
}

fn parse_size(s: &str) -> Result<Size> {
    let (w, h) = s
        .split_once('x')
        .with_context(|| format!("size `{s}` is not WxH"))?;
    let w: u32 = w.parse().with_context(|| format!("bad width in `{s}`"))?;
    let h: u32 = h.parse().with_context(|| format!("bad height in `{s}`"))?;
    if w == 0 || h == 0 || w % 2 != 0 || h % 2 != 0 || w > 4096 || h > 4096 {
        bail!("size `{s}` must be even and within 2..=4096");
    }
    Ok(Size { w, h })
}

fn format_for(s: Size, min_buffers: u32) -> SourceChange {
    let stride = s.w.next_multiple_of(64);
    SourceChange {
        width: s.w,
        height: s.h,
        visible: Rect {
            x: 0,
            y: 0,
            width: s.w,
            height: s.h,
        },
        format: PixelFormat::Nv12,
        stride,
        size_image: PixelFormat::Nv12
            .image_size(stride, s.h)
            .unwrap_or(u32::MAX),
        min_buffers,
    }
}

struct Options {
    device: String,
    size: Size,
    size2: Size,
    change_after: Option<u32>,
    hang_after: Option<u32>,
    frame_delay: Duration,
    min_buffers: u32,
    ready_file: Option<String>,
}

#[derive(Default)]
struct Session {
    /// Decoded frames waiting for a capture buffer: (cookie, timestamp, number, format).
    pending: VecDeque<(u32, u64, u32, SourceChange)>,
    capture: VecDeque<u32>,
    bufs: HashMap<(u32, u32), Mapping>,
    format: Option<SourceChange>,
    frames: u32,
    draining: bool,
    drained_frames: u32,
}

struct Peer {
    dev: File,
    opts: Options,
    sessions: HashMap<u32, Session>,
    decodes: u32,
}

fn qi(q: Queue) -> u32 {
    match q {
        Queue::Output => 1,
        Queue::Capture => 2,
    }
}

impl Peer {
    fn send(&mut self, session: u32, msg: &Message<'_>) -> Result<()> {
        use std::io::Write;
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let n = msg.encode(session, &mut buf).context("encoding a reply")?;
        self.dev
            .write_all(&buf[..n])
            .with_context(|| format!("writing {:?} to {}", msg.kind(), self.opts.device))
    }

    fn recv(&mut self) -> Result<(Vec<u8>, Option<OwnedFd>)> {
        let mut buf = vec![0u8; MAX_MESSAGE_LEN];
        let mut arg = RecvArg {
            buf: buf.as_mut_ptr() as u64,
            len: buf.len() as u32,
            fd: -1,
        };
        // SAFETY: RECV takes a `RecvArg` whose `buf` points at `len` writable bytes, which
        // `buf` provides for the duration of the call.
        unsafe { ioctl(self.dev.as_fd(), Updater::<RECV, RecvArg>::new(&mut arg)) }
            .context("DAEDALUS_IOC_RECV")?;
        let len = daedalus_proto::Header::parse(&buf)
            .map(|h| h.len as usize)
            .context("the module sent a bad header")?;
        buf.truncate(len);
        // SAFETY: a non-negative `fd` was just installed for us by the module and is owned by
        // nobody else.
        let fd = (arg.fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(arg.fd) });
        Ok((buf, fd))
    }

    fn handle(&mut self, bytes: &[u8], fd: Option<OwnedFd>) -> Result<()> {
        let frame =
            decode_from(bytes, Role::Module).context("the module sent an invalid message")?;
        let sid = frame.session;
        match frame.message {
            Message::Hello(_) => {
                let me = Message::Hello(Hello {
                    minor: 0,
                    role: Role::Daemon,
                    instance: u64::from(std::process::id()) << 16 | 1,
                });
                self.send(0, &me)?;
                let caps: Vec<CodecCaps> = Codec::ALL
                    .iter()
                    .map(|&codec| CodecCaps {
                        codec,
                        max_width: 4096,
                        max_height: 4096,
                        formats: PixelFormat::Nv12.bit(),
                    })
                    .collect();
                self.send(0, &Message::Capabilities(Capabilities::new(16, &caps)))?;
                // The module handled both messages inside write(), so it knows this peer now.
                if let Some(path) = &self.opts.ready_file {
                    std::fs::write(path, b"ready\n")
                        .with_context(|| format!("cannot write {path}"))?;
                }
            }
            Message::Ping { nonce } => self.send(0, &Message::Pong { nonce })?,
            Message::SessionOpen(_) => {
                self.sessions.insert(sid, Session::default());
            }
            Message::SessionClose => {
                self.sessions.remove(&sid);
                self.send(sid, &Message::SessionClosed)?;
            }
            Message::AttachBuffer(a) => {
                let fd = fd.context("AttachBuffer came without a dmabuf")?;
                if a.memory != Memory::Dmabuf {
                    bail!("only dmabuf attachments are expected from the module");
                }
                let len = usize::try_from(a.size + a.offset)?;
                // SAFETY: a fresh shared mapping of the dmabuf, owned by `Mapping`.
                let ptr = unsafe {
                    mmap(
                        std::ptr::null_mut(),
                        len,
                        ProtFlags::READ | ProtFlags::WRITE,
                        MapFlags::SHARED,
                        &fd,
                        0,
                    )
                }
                .with_context(|| format!("mmap of {:?} buffer {}", a.queue, a.index))?;
                let s = self
                    .sessions
                    .get_mut(&sid)
                    .context("attach on a closed session")?;
                s.bufs.insert(
                    (qi(a.queue), a.index),
                    Mapping {
                        ptr: ptr.cast(),
                        len,
                        _fd: fd,
                    },
                );
            }
            Message::ReleaseBuffers { queue } => {
                if let Some(s) = self.sessions.get_mut(&sid) {
                    s.bufs.retain(|(q, _), _| *q != qi(queue));
                }
            }
            Message::Decode(d) => {
                self.decodes += 1;
                if self.opts.hang_after.is_some_and(|n| self.decodes > n) {
                    eprintln!(
                        "test-peer: hanging after {} decodes, as asked",
                        self.decodes - 1
                    );
                    loop {
                        std::thread::sleep(Duration::from_secs(3600));
                    }
                }
                std::thread::sleep(self.opts.frame_delay);
                let (size, size2, change_after, min_buffers) = (
                    self.opts.size,
                    self.opts.size2,
                    self.opts.change_after,
                    self.opts.min_buffers,
                );
                let s = self
                    .sessions
                    .get_mut(&sid)
                    .context("decode on a closed session")?;
                let n = s.frames;
                s.frames += 1;
                let want = if change_after.is_some_and(|c| n >= c) {
                    size2
                } else {
                    size
                };
                s.pending
                    .push_back((d.cookie, d.timestamp, n, format_for(want, min_buffers)));
                self.send(
                    sid,
                    &Message::InputDone {
                        cookie: d.cookie,
                        status: Status::Ok,
                    },
                )?;
            }
            Message::QueueCapture { buffer } => {
                let s = self
                    .sessions
                    .get_mut(&sid)
                    .context("capture on a closed session")?;
                s.capture.push_back(buffer);
            }
            Message::Drain => {
                let s = self
                    .sessions
                    .get_mut(&sid)
                    .context("drain on a closed session")?;
                s.draining = true;
                s.drained_frames = 0;
            }
            Message::Flush { queues } => {
                let s = self
                    .sessions
                    .get_mut(&sid)
                    .context("flush on a closed session")?;
                if queues.output {
                    s.pending.clear();
                    s.draining = false;
                }
                if queues.capture {
                    s.capture.clear();
                }
                self.send(sid, &Message::FlushDone { queues })?;
            }
            Message::Error(e) => {
                eprintln!(
                    "test-peer: module reports {} (cookie {}): {}",
                    e.code.text(),
                    e.cookie,
                    e.text
                );
            }
            other => bail!("unexpected {:?} from the module", other.kind()),
        }
        self.emit(sid)
    }

    /// Writes every pending frame that has a capture buffer.
    fn emit(&mut self, sid: u32) -> Result<()> {
        loop {
            let Some(s) = self.sessions.get_mut(&sid) else {
                return Ok(());
            };
            // A frame in a new format is announced once every frame before it went out,
            // and waits for capture buffers set up for it.
            if let Some(&(_, _, _, next)) = s.pending.front() {
                if s.format != Some(next) {
                    s.format = Some(next);
                    s.capture.clear();
                    self.send(sid, &Message::SourceChange(next))?;
                    continue;
                }
            }
            let Some(fmt) = s.format else {
                return Ok(());
            };
            if s.pending.is_empty() {
                if s.draining {
                    s.draining = false;
                    let frames = s.drained_frames;
                    self.send(
                        sid,
                        &Message::EndOfStream(EndOfStream {
                            frames,
                            last_flagged: frames > 0,
                        }),
                    )?;
                }
                return Ok(());
            }
            // The oldest queued buffer large enough (docs/protocol.md, step 5): buffers of the
            // old format may still arrive after a SourceChange, until the module's flush.
            let mut pick = None;
            for (pos, &b) in s.capture.iter().enumerate() {
                let Some(map) = s.bufs.get(&(qi(Queue::Capture), b)) else {
                    bail!("capture buffer {b} was queued but never attached");
                };
                if map.len >= fmt.size_image as usize {
                    pick = Some((pos, b));
                    break;
                }
            }
            let Some((pos, buffer)) = pick else {
                return Ok(());
            };
            s.capture.remove(pos);
            let Some(map) = s.bufs.get(&(qi(Queue::Capture), buffer)) else {
                bail!("capture buffer {buffer} vanished");
            };
            let Some((cookie, timestamp, n, _)) = s.pending.pop_front() else {
                return Ok(());
            };
            let luma = (fmt.stride * fmt.height) as usize;
            // SAFETY: the mapping is at least `size_image` bytes long (checked above) and only
            // this process writes it while the module has handed the buffer to us.
            let frame = unsafe { std::slice::from_raw_parts_mut(map.ptr, fmt.size_image as usize) };
            frame[..luma].fill(n as u8);
            frame[luma..].fill(0x80);
            let last = s.draining && s.pending.is_empty();
            if s.draining {
                s.drained_frames += 1;
            }
            let msg = Message::FrameDone(FrameDone {
                cookie,
                buffer,
                format: fmt.format,
                width: fmt.width,
                height: fmt.height,
                bytesused: fmt.size_image,
                timestamp,
                flags: if last { frame_flags::LAST } else { 0 },
            });
            self.send(sid, &msg)?;
        }
    }
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut opts = Options {
        device: "/dev/daedalus".into(),
        size: Size { w: 64, h: 48 },
        size2: Size { w: 96, h: 64 },
        change_after: None,
        hang_after: None,
        frame_delay: Duration::ZERO,
        min_buffers: 2,
        ready_file: None,
    };
    while let Some(a) = args.next() {
        let mut v = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--device" => opts.device = v()?,
            "--size" => opts.size = parse_size(&v()?)?,
            "--size2" => opts.size2 = parse_size(&v()?)?,
            "--change-after" => opts.change_after = Some(v()?.parse().context("--change-after")?),
            "--hang-after" => opts.hang_after = Some(v()?.parse().context("--hang-after")?),
            "--frame-delay-ms" => {
                opts.frame_delay = Duration::from_millis(v()?.parse().context("--frame-delay-ms")?)
            }
            "--min-buffers" => opts.min_buffers = v()?.parse().context("--min-buffers")?,
            "--ready-file" => opts.ready_file = Some(v()?),
            other => bail!(
                "unknown option `{other}`; options: --device PATH --size WxH --size2 WxH \
                 --change-after N --hang-after N --frame-delay-ms MS --min-buffers N"
            ),
        }
    }
    let dev = File::options()
        .read(true)
        .write(true)
        .open(&opts.device)
        .with_context(|| {
            format!(
                "cannot open {} (is daedalus.ko loaded, are you root?)",
                opts.device
            )
        })?;
    let mut peer = Peer {
        dev,
        opts,
        sessions: HashMap::new(),
        decodes: 0,
    };
    eprintln!("test-peer: serving {}", peer.opts.device);
    loop {
        let mut fds = [PollFd::new(&peer.dev, PollFlags::IN)];
        poll(&mut fds, None).context("poll")?;
        if fds[0].revents().intersects(PollFlags::ERR | PollFlags::HUP) {
            bail!("the module closed the connection (declared this peer dead)");
        }
        let (bytes, fd) = peer.recv()?;
        peer.handle(&bytes, fd)?;
    }
}
