//! Message transport between the daemon and the module side.
//!
//! A [`Channel`] is a connected `SOCK_SEQPACKET` Unix socket: one packet per message, file
//! descriptors travel as `SCM_RIGHTS` on the packet they belong to. It is the loopback
//! stand-in for the character device, and also what `daedalusd serve --listen` accepts.
//! Either end may send from several threads at once (one `sendmsg` is one packet).

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

/// One end of a connection.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
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
        Ok((Channel { fd: a }, Channel { fd: b }))
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
        Ok(Channel { fd })
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

    /// Receives one packet; `Ok(None)` when the peer has closed the connection.
    pub fn recv(&self) -> Result<Option<Packet>, TransportError> {
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

    /// Stops sending; the peer reads the end of the connection after what was sent.
    pub fn shutdown_write(&self) {
        let _ = socket::shutdown(self.fd.as_raw_fd(), socket::Shutdown::Write);
    }

    /// Shuts the connection down both ways, waking any thread blocked in `recv`.
    pub fn shutdown(&self) {
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
                    return Ok(Channel {
                        fd: crate::sys::adopt_accepted_fd(raw),
                    });
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
