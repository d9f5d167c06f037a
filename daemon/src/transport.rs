//! Message transport between the daemon and the module side.
//!
//! A [`Channel`] is one of two things:
//!
//! * the kernel module's character device (`/dev/daedalus`, [`Channel::open_device`]): one
//!   `write` per message to the module, one `DAEDALUS_IOC_RECV` ioctl per message from it,
//!   which also installs the dmabuf an `AttachBuffer` carries
//!   ([`daedalus_proto::chardev`]);
//! * a connected `SOCK_SEQPACKET` Unix socket: one packet per message, file descriptors as
//!   `SCM_RIGHTS` on the packet they belong to. It is the loopback stand-in for the
//!   character device, and also what `daedalusd serve --listen` accepts.
//!
//! Either end may send from several threads at once (one `write` or `sendmsg` is one
//! message; the module handles each `write` whole under its lock).

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use daedalus_proto::{DecodeError, EncodeError, Frame, MAX_MESSAGE_LEN, Message, Role};
use nix::errno::Errno;
use nix::sys::socket::{
    self, AddressFamily, Backlog, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag,
    SockType, UnixAddr,
};
use thiserror::Error;

/// Most descriptors one message may carry (attach: 1; hello: the shared area).
pub const MAX_FDS: usize = 1;

/// Transport failures.
#[derive(Debug, Error)]
pub enum TransportError {
    /// The peer closed the connection or died.
    #[error("the peer closed the connection")]
    Disconnected,
    /// A system call failed.
    #[error("{call} failed: {errno}")]
    Sys {
        /// Which call.
        call: &'static str,
        /// Its error.
        errno: Errno,
    },
    /// A packet was larger than any valid message, or carried too many descriptors.
    #[error(
        "received an oversized packet or too many file descriptors (flags {flags:#x}); the peer is not speaking this protocol"
    )]
    Truncated {
        /// `recvmsg` flags.
        flags: i32,
    },
    /// A message we were about to send did not validate (a daemon bug).
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Descriptors were to be sent where the transport cannot carry them (the character
    /// device takes none from the daemon; a daemon bug).
    #[error("the character device cannot carry file descriptors to the module")]
    FdsUnsupported,
    /// The character device cannot be opened.
    #[error("cannot open {path}: {errno}; {hint}")]
    Open {
        /// The device path.
        path: String,
        /// Why.
        errno: Errno,
        /// What to do about it.
        hint: &'static str,
    },
}

fn sys(call: &'static str) -> impl Fn(Errno) -> TransportError {
    move |errno| match errno {
        Errno::EPIPE | Errno::ECONNRESET | Errno::ENOTCONN => TransportError::Disconnected,
        errno => TransportError::Sys { call, errno },
    }
}

/// A received packet: raw bytes (validated separately, so that a malformed message can be
/// answered with an error naming it) and the descriptors that came with it.
pub struct Packet {
    /// Message bytes.
    pub bytes: Vec<u8>,
    /// Descriptors received with it, owned (closed when dropped).
    pub fds: Vec<OwnedFd>,
}

impl Packet {
    /// Validates the bytes as a message from `from`.
    pub fn decode(&self, from: Role) -> Result<Frame<'_>, DecodeError> {
        daedalus_proto::decode_from(&self.bytes, from)
    }
}

/// What a [`Channel`]'s descriptor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A `SOCK_SEQPACKET` Unix socket.
    Socket,
    /// The module's character device.
    Device,
}

/// One end of a connection.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
    kind: Kind,
}

impl Channel {
    /// A connected pair: the socketpair standing in for the character device.
    pub fn pair() -> Result<(Channel, Channel), TransportError> {
        let (a, b) = socket::socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(sys("socketpair"))?;
        Ok((Channel::socket(a), Channel::socket(b)))
    }

    /// Connects to a daemon listening at `path`.
    pub fn connect(path: &Path) -> Result<Channel, TransportError> {
        let fd = socket::socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(sys("socket"))?;
        let addr = UnixAddr::new(path).map_err(sys("socket address"))?;
        socket::connect(fd.as_raw_fd(), &addr).map_err(sys("connect"))?;
        Ok(Channel::socket(fd))
    }

    fn socket(fd: OwnedFd) -> Channel {
        Channel {
            fd,
            kind: Kind::Socket,
        }
    }

    /// Opens the module's character device (`/dev/daedalus`). The module admits one opener
    /// at a time and only with `CAP_SYS_ADMIN`; it greets with its `Hello` right away.
    pub fn open_device(path: &Path) -> Result<Channel, TransportError> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| {
                let errno = Errno::from_raw(e.raw_os_error().unwrap_or(nix::libc::EIO));
                let hint = match errno {
                    Errno::EPERM | Errno::EACCES => {
                        "the module admits only root (CAP_SYS_ADMIN); run daedalusd as root"
                    }
                    Errno::EBUSY => "another daemon has it open; stop that one first",
                    Errno::ENOENT | Errno::ENXIO | Errno::ENODEV => {
                        "is daedalus.ko loaded? (modprobe daedalus)"
                    }
                    _ => "check the device node and the kernel log",
                };
                TransportError::Open {
                    path: path.display().to_string(),
                    errno,
                    hint,
                }
            })?;
        Ok(Channel::from_device_fd(file.into()))
    }

    /// A channel over an already open character device.
    pub fn from_device_fd(fd: OwnedFd) -> Channel {
        Channel {
            fd,
            kind: Kind::Device,
        }
    }

    /// Whether this is the module's character device rather than a socket.
    pub fn is_device(&self) -> bool {
        self.kind == Kind::Device
    }

    /// One `write` of one whole message to the character device.
    fn write_device(&self, bytes: &[u8]) -> Result<(), TransportError> {
        loop {
            match nix::unistd::write(&self.fd, bytes) {
                Ok(n) if n == bytes.len() => return Ok(()),
                // The module takes a message whole or not at all; a short count would mean
                // it is not the device this transport expects.
                Ok(_) => {
                    return Err(TransportError::Sys {
                        call: "write",
                        errno: Errno::EMSGSIZE,
                    });
                }
                Err(Errno::EINTR) => continue,
                // The module declared this daemon dead (it stopped answering, or its queue
                // overflowed): the connection is over, as for a closed socket.
                Err(Errno::EPIPE) => return Err(TransportError::Disconnected),
                Err(e) => return Err(sys("write")(e)),
            }
        }
    }

    fn recv_device(&self) -> Result<Option<Packet>, TransportError> {
        let mut buf = vec![0u8; MAX_MESSAGE_LEN];
        loop {
            match crate::sys::chardev_recv(self.fd.as_fd(), &mut buf) {
                Ok((n, fd)) => {
                    buf.truncate(n);
                    return Ok(Some(Packet {
                        bytes: buf,
                        fds: fd.into_iter().collect(),
                    }));
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EPIPE) => return Ok(None),
                Err(e) => {
                    return Err(TransportError::Sys {
                        call: "DAEDALUS_IOC_RECV",
                        errno: e,
                    });
                }
            }
        }
    }

    /// Sends `msg` on `session` with `fds` attached.
    pub fn send(
        &self,
        session: u32,
        msg: &Message<'_>,
        fds: &[BorrowedFd<'_>],
    ) -> Result<(), TransportError> {
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let n = msg.encode(session, &mut buf)?;
        if self.kind == Kind::Device {
            if !fds.is_empty() {
                return Err(TransportError::FdsUnsupported);
            }
            return self.write_device(&buf[..n]);
        }
        let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
        let cmsg = [ControlMessage::ScmRights(&raw)];
        let cmsgs: &[ControlMessage<'_>] = if raw.is_empty() { &[] } else { &cmsg };
        loop {
            match socket::sendmsg::<()>(
                self.fd.as_raw_fd(),
                &[IoSlice::new(&buf[..n])],
                cmsgs,
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(sys("sendmsg")(e)),
            }
        }
    }

    /// Sends raw bytes as one packet, unvalidated: for tests and fuzzing the daemon's
    /// validation, never for real traffic.
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<(), TransportError> {
        if self.kind == Kind::Device {
            return self.write_device(bytes);
        }
        socket::sendmsg::<()>(
            self.fd.as_raw_fd(),
            &[IoSlice::new(bytes)],
            &[],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map(|_| ())
        .map_err(sys("sendmsg"))
    }

    /// Receives one packet; `Ok(None)` when the peer has closed the connection (on the
    /// character device: when the module declared this daemon dead, which only a new open
    /// undoes). Blocks until a message is there.
    pub fn recv(&self) -> Result<Option<Packet>, TransportError> {
        if self.kind == Kind::Device {
            return self.recv_device();
        }
        let mut buf = vec![0u8; MAX_MESSAGE_LEN + 1];
        let mut cmsg = nix::cmsg_space!([i32; 4]);
        loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let r = socket::recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            );
            let msg = match r {
                Ok(m) => m,
                Err(Errno::EINTR) => continue,
                Err(Errno::ECONNRESET) => return Ok(None),
                Err(e) => return Err(sys("recvmsg")(e)),
            };
            let mut raw = Vec::new();
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    if let ControlMessageOwned::ScmRights(fds) = c {
                        raw.extend(fds);
                    }
                }
            }
            // Take ownership first so every descriptor is closed on any error path.
            let fds = crate::sys::adopt_received_fds(raw);
            let flags = msg.flags;
            let n = msg.bytes;
            if flags.intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC)
                || n > MAX_MESSAGE_LEN
                || fds.len() > MAX_FDS
            {
                return Err(TransportError::Truncated {
                    flags: flags.bits(),
                });
            }
            if n == 0 && fds.is_empty() {
                // A zero-length read on SOCK_SEQPACKET is the end of the connection.
                return Ok(None);
            }
            buf.truncate(n);
            return Ok(Some(Packet { bytes: buf, fds }));
        }
    }

    /// Stops sending; the peer reads the end of the connection after what was sent. A no-op
    /// on the character device, where only closing it ends the connection.
    pub fn shutdown_write(&self) {
        if self.kind == Kind::Device {
            return;
        }
        let _ = socket::shutdown(self.fd.as_raw_fd(), socket::Shutdown::Write);
    }

    /// Shuts the connection down both ways, waking any thread blocked in `recv`. A no-op
    /// on the character device (the daemon side never blocks in `recv` without a poll first).
    pub fn shutdown(&self) {
        if self.kind == Kind::Device {
            return;
        }
        let _ = socket::shutdown(self.fd.as_raw_fd(), socket::Shutdown::Both);
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A listening `SOCK_SEQPACKET` socket at a filesystem path.
pub struct Listener {
    fd: OwnedFd,
}

impl Listener {
    /// Binds `path`, replacing a stale socket file left by a previous run.
    pub fn bind(path: &Path) -> Result<Listener, TransportError> {
        let fd = socket::socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(sys("socket"))?;
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            use std::os::unix::fs::FileTypeExt;
            if meta.file_type().is_socket() {
                let _ = std::fs::remove_file(path);
            }
        }
        let addr = UnixAddr::new(path).map_err(sys("socket address"))?;
        socket::bind(fd.as_raw_fd(), &addr).map_err(sys("bind"))?;
        socket::listen(&fd, Backlog::new(4).map_err(sys("listen"))?).map_err(sys("listen"))?;
        Ok(Listener { fd })
    }

    /// Accepts one connection.
    pub fn accept(&self) -> Result<Channel, TransportError> {
        loop {
            match socket::accept4(self.fd.as_raw_fd(), SockFlag::SOCK_CLOEXEC) {
                Ok(raw) => {
                    return Ok(Channel::socket(crate::sys::adopt_accepted_fd(raw)));
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(sys("accept")(e)),
            }
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use daedalus_proto::{Hello, Message, Role};

    fn hello() -> Message<'static> {
        Message::Hello(Hello {
            minor: 0,
            role: Role::Daemon,
            instance: 7,
        })
    }

    /// A device channel over one end of a socketpair: the write side behaves as on
    /// `/dev/daedalus` (one `write` per message), which the other end can check.
    fn fake_device() -> (Channel, Channel) {
        let (a, b) = socket::socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        (Channel::from_device_fd(a), Channel::socket(b))
    }

    #[test]
    fn recv_ioctl_number_matches_the_kernel_encoding() {
        // nix encodes _IOWR with the architecture's own ioctl layout; the protocol crate
        // spells the generic one out. Both must name the module's ioctl.
        let nix_code = nix::request_code_readwrite!(
            daedalus_proto::chardev::IOC_TYPE,
            daedalus_proto::chardev::IOC_RECV_NR,
            std::mem::size_of::<daedalus_proto::chardev::RecvArg>()
        );
        assert_eq!(nix_code as u32, daedalus_proto::chardev::IOC_RECV);
        assert_eq!(daedalus_proto::chardev::IOC_RECV, 0xC010_4401);
    }

    #[test]
    fn device_sends_one_message_per_write() {
        let (dev, peer) = fake_device();
        assert!(dev.is_device());
        dev.send(0, &hello(), &[]).unwrap();
        dev.send(0, &Message::Pong { nonce: 9 }, &[]).unwrap();
        let p = peer.recv().unwrap().unwrap();
        assert!(p.fds.is_empty());
        assert_eq!(p.decode(Role::Daemon).unwrap().message, hello());
        let p = peer.recv().unwrap().unwrap();
        assert_eq!(
            p.decode(Role::Daemon).unwrap().message,
            Message::Pong { nonce: 9 }
        );
    }

    #[test]
    fn device_refuses_to_send_descriptors() {
        let (dev, peer) = fake_device();
        let r = dev.send(0, &hello(), &[peer.as_fd()]);
        assert!(matches!(r, Err(TransportError::FdsUnsupported)), "{r:?}");
    }

    #[test]
    fn device_write_to_a_dead_connection_is_a_disconnect() {
        let (dev, peer) = fake_device();
        drop(peer);
        let r = dev.send(0, &hello(), &[]);
        assert!(matches!(r, Err(TransportError::Disconnected)), "{r:?}");
    }

    #[test]
    fn device_recv_uses_the_ioctl() {
        // A socket does not know DAEDALUS_IOC_RECV: the error names the ioctl, so a daemon
        // pointed at the wrong file says what went wrong.
        let (dev, peer) = fake_device();
        peer.send(0, &hello(), &[]).unwrap();
        match dev.recv() {
            Err(TransportError::Sys { call, errno }) => {
                assert_eq!(call, "DAEDALUS_IOC_RECV");
                assert_eq!(errno, Errno::ENOTTY);
            }
            other => panic!(
                "expected the ioctl to fail on a socket, got {:?}",
                other.map(|p| p.map(|p| p.bytes))
            ),
        }
    }

    #[test]
    fn opening_a_missing_device_says_to_load_the_module() {
        let e = Channel::open_device(Path::new("/nonexistent/daedalus")).unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(
                e,
                TransportError::Open {
                    errno: Errno::ENOENT,
                    ..
                }
            ),
            "{text}"
        );
        assert!(
            text.contains("/nonexistent/daedalus") && text.contains("daedalus.ko"),
            "{text}"
        );
    }
}
