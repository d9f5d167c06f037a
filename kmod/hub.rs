// SPDX-License-Identifier: GPL-2.0
//! The link to the daemon: `/dev/daedalus`, the queue of messages for it, the table of
//! sessions (one per open `/dev/videoN`), and the watchdog that declares a silent daemon dead.
//!
//! Everything here is protected by [`Device::hub`]. Lock order: the V4L2 device mutex (held
//! by the V4L2 core around ioctls and vb2 callbacks) before the hub lock; the daemon's own
//! file operations take only the hub lock, so a V4L2 path that waits for the daemon while
//! holding the device mutex never blocks the daemon.

use core::ffi::{c_char, c_int, c_long, c_uint, c_ulong};
use core::ptr;

use daedalus_kmod_core::{Decoder, Error as CoreError, MAX_BUFFERS};
use daedalus_proto::chardev::RecvArg;
use daedalus_proto::{
    decode_from, Capabilities, ErrorCode, Frame, Hello, Message, Role, MAX_MESSAGE_LEN,
};
use kernel::alloc::flags::GFP_KERNEL;
use kernel::prelude::*;
use kernel::uaccess::UserSlice;

use crate::bindings as b;
use crate::v4l2::{Ctx, KSink};
use crate::{device, Device};

/// Session slots allocated up front; the table grows past this if more files are open.
const INITIAL_SESSIONS: usize = 32;
/// Messages waiting for the daemon. A daemon that lets this many pile up is not reading and
/// is declared dead.
const OUT_CAPACITY: usize = 512;
/// Silence after which a daemon with work in flight is pinged.
const PING_AFTER_MS: u32 = 200;
/// Silence after which a daemon with work in flight is declared dead; together with the
/// watchdog period this keeps "buffers back with an error" under one second.
const DEAD_AFTER_MS: u32 = 800;
/// Watchdog period.
pub(crate) const WATCHDOG_MS: u32 = 100;

/// `DAEDALUS_IOC_RECV` and its argument, defined once in the protocol crate for both ends.
pub(crate) const DAEDALUS_IOC_RECV: c_uint = daedalus_proto::chardev::IOC_RECV;

// Poll bits (`include/uapi/linux/eventpoll.h`); bindgen cannot evaluate their `__force` casts.
const EPOLLIN: u32 = 0x0001;
const EPOLLOUT: u32 = 0x0004;
const EPOLLERR: u32 = 0x0008;
const EPOLLHUP: u32 = 0x0010;
const EPOLLRDNORM: u32 = 0x0040;
const EPOLLWRNORM: u32 = 0x0100;

/// An errno the `kernel` crate of 6.12 does not name.
pub(crate) fn errno_of(v: u32) -> c_int {
    -(v as c_int)
}

/// One encoded message for the daemon, possibly with a dmabuf reference it owns.
pub(crate) struct OutMsg {
    len: usize,
    buf: [u8; MAX_MESSAGE_LEN],
    dmabuf: *mut b::dma_buf,
}

// SAFETY: the dmabuf pointer is an owned reference, usable from any thread.
unsafe impl Send for OutMsg {}

impl OutMsg {
    const EMPTY: OutMsg = OutMsg {
        len: 0,
        buf: [0; MAX_MESSAGE_LEN],
        dmabuf: ptr::null_mut(),
    };

    fn drop_dmabuf(&mut self) {
        if !self.dmabuf.is_null() {
            // SAFETY: the queue owns one reference to `dmabuf`, taken when the message was
            // queued; it is released exactly once here.
            unsafe { b::dma_buf_put(self.dmabuf) };
            self.dmabuf = ptr::null_mut();
        }
    }
}

/// The queue of messages for the daemon.
pub(crate) struct OutQueue {
    slots: KVVec<OutMsg>,
    head: usize,
    count: usize,
    /// A message could not be queued (full, or an encoding bug); the daemon is then declared
    /// dead by the caller, since it would miss part of the conversation.
    pub(crate) overflowed: bool,
    /// Whether a daemon is there to read; messages for nobody are dropped.
    pub(crate) connected: bool,
}

impl OutQueue {
    fn new() -> Result<Self> {
        let mut slots = KVVec::with_capacity(OUT_CAPACITY, GFP_KERNEL)?;
        for _ in 0..OUT_CAPACITY {
            slots.push(OutMsg::EMPTY, GFP_KERNEL)?;
        }
        Ok(Self {
            slots,
            head: 0,
            count: 0,
            overflowed: false,
            connected: false,
        })
    }

    /// Queues `msg` for `session`, taking ownership of one reference to `dmabuf`.
    pub(crate) fn push(&mut self, session: u32, msg: &Message<'_>, dmabuf: *mut b::dma_buf) {
        let mut m = OutMsg {
            len: 0,
            buf: [0; MAX_MESSAGE_LEN],
            dmabuf,
        };
        if !self.connected {
            m.drop_dmabuf();
            return;
        }
        if self.count == OUT_CAPACITY {
            pr_err!("daedalus: {OUT_CAPACITY} messages wait for the daemon; it is not reading\n");
            m.drop_dmabuf();
            self.overflowed = true;
            return;
        }
        match msg.encode(session, &mut m.buf) {
            Ok(len) => m.len = len,
            Err(e) => {
                pr_err!("daedalus: cannot encode {:?}: {}\n", msg.kind(), e);
                m.drop_dmabuf();
                self.overflowed = true;
                return;
            }
        }
        let at = (self.head + self.count) % OUT_CAPACITY;
        self.slots[at] = m;
        self.count += 1;
    }

    fn front(&self) -> Option<&OutMsg> {
        (self.count > 0).then(|| &self.slots[self.head])
    }

    fn pop(&mut self) -> Option<OutMsg> {
        if self.count == 0 {
            return None;
        }
        let m = core::mem::replace(&mut self.slots[self.head], OutMsg::EMPTY);
        self.head = (self.head + 1) % OUT_CAPACITY;
        self.count -= 1;
        Some(m)
    }

    fn clear(&mut self) {
        while let Some(mut m) = self.pop() {
            m.drop_dmabuf();
        }
        self.head = 0;
        self.overflowed = false;
    }
}

/// One open `/dev/videoN`: its decoder state and the vb2 buffers it may complete.
pub(crate) struct Session {
    pub(crate) dec: Decoder,
    pub(crate) ctx: *mut Ctx,
    /// `bufs[0]` OUTPUT, `bufs[1]` CAPTURE; set in `buf_init`, cleared in `buf_cleanup`.
    pub(crate) bufs: [[*mut b::vb2_v4l2_buffer; MAX_BUFFERS]; 2],
}

// SAFETY: the context and buffer pointers are only dereferenced under the hub lock while
// the session is in the table, which `release` and `buf_cleanup` keep true.
unsafe impl Send for Session {}

pub(crate) struct Hub {
    /// `/dev/daedalus` is open.
    pub(crate) daemon_open: bool,
    /// The daemon was declared dead while its file stayed open; it must reopen.
    pub(crate) daemon_dead: bool,
    /// What the daemon decodes, once it said so.
    pub(crate) caps: Option<Capabilities>,
    pub(crate) instance: u64,
    pub(crate) out: OutQueue,
    pub(crate) sessions: KVec<Option<KBox<Session>>>,
    next_session: u32,
    /// Jiffies of the daemon's last message, and of our last ping.
    last_rx: c_ulong,
    last_ping: c_ulong,
    /// A message arrived since the watchdog's last run; runs in a row without one.
    rx_seen: bool,
    silent_ticks: u32,
    nonce: u64,
    /// Set at module exit so the watchdog stops re-arming.
    pub(crate) exiting: bool,
}

impl Hub {
    pub(crate) fn new() -> Result<Self> {
        let mut sessions = KVec::with_capacity(INITIAL_SESSIONS, GFP_KERNEL)?;
        for _ in 0..INITIAL_SESSIONS {
            sessions.push(None, GFP_KERNEL)?;
        }
        Ok(Self {
            daemon_open: false,
            daemon_dead: false,
            caps: None,
            instance: 0,
            out: OutQueue::new()?,
            sessions,
            next_session: 1,
            last_rx: 0,
            last_ping: 0,
            rx_seen: false,
            silent_ticks: 0,
            nonce: 0,
            exiting: false,
        })
    }

    /// The capabilities of a live daemon.
    pub(crate) fn live_caps(&self) -> Option<&Capabilities> {
        if self.daemon_open && !self.daemon_dead {
            self.caps.as_ref()
        } else {
            None
        }
    }

    /// Creates a session for a new open file and returns its id.
    pub(crate) fn session_new(&mut self, ctx: *mut Ctx) -> Result<u32> {
        // Opening is unlimited, as V4L2 expects; the daemon's own session limit applies
        // only to streaming contexts (it refuses SessionOpen beyond it).
        let slot = match self.sessions.iter().position(|s| s.is_none()) {
            Some(i) => i,
            None => {
                self.sessions.push(None, GFP_KERNEL)?;
                self.sessions.len() - 1
            }
        };
        let id = self.next_session;
        // Ids stay unique for the connection's lifetime in practice (2^32 opens).
        self.next_session = self.next_session.wrapping_add(1).max(1);
        let s = KBox::new(
            Session {
                dec: Decoder::new(id),
                ctx,
                bufs: [[ptr::null_mut(); MAX_BUFFERS]; 2],
            },
            GFP_KERNEL,
        )?;
        self.sessions[slot] = Some(s);
        Ok(id)
    }

    pub(crate) fn session_remove(&mut self, id: u32) {
        for s in self.sessions.iter_mut() {
            if s.as_ref().is_some_and(|s| s.dec.session() == id) {
                *s = None;
            }
        }
    }

    pub(crate) fn session(&mut self, id: u32) -> Option<&mut Session> {
        self.sessions
            .iter_mut()
            .flatten()
            .find(|s| s.dec.session() == id)
            .map(|s| &mut **s)
    }

    /// Runs `f` with the session's decoder and a sink over its buffers and the message queue.
    pub(crate) fn with_session<R>(
        &mut self,
        id: u32,
        f: impl FnOnce(&mut Decoder, &mut KSink<'_>) -> R,
    ) -> Option<R> {
        let Hub { out, sessions, .. } = self;
        let s = sessions
            .iter_mut()
            .flatten()
            .find(|s| s.dec.session() == id)?;
        let Session { dec, ctx, bufs } = &mut **s;
        let mut sink = KSink::new(out, bufs, *ctx);
        Some(f(dec, &mut sink))
    }

    /// The daemon is gone or useless: fail everything it held, forget its capabilities.
    pub(crate) fn lose_daemon(&mut self, why: &str) {
        let ids: KVec<u32> = {
            let mut v = KVec::new();
            for s in self.sessions.iter().flatten() {
                let _ = v.push(s.dec.session(), GFP_KERNEL);
            }
            v
        };
        let mut failed = 0;
        for id in ids.iter() {
            self.with_session(*id, |dec, sink| {
                if dec.is_open() {
                    failed += 1;
                }
                dec.daemon_lost(sink);
            });
        }
        if failed > 0 {
            pr_warn!("daedalus: {why}; failing the buffers of {failed} streams\n");
        } else {
            pr_info!("daedalus: {why}\n");
        }
        self.out.clear();
        self.caps = None;
        self.instance = 0;
    }

    fn has_work_in_flight(&self) -> bool {
        self.sessions.iter().flatten().any(|s| {
            s.dec.daemon_holds_buffers()
                || s.dec.is_flushing(daedalus_proto::Queue::Output)
                || s.dec.is_flushing(daedalus_proto::Queue::Capture)
        })
    }

    /// A validated message from the daemon.
    fn handle(&mut self, frame: &Frame<'_>) {
        let session = frame.session;
        match frame.message {
            Message::Hello(h) => {
                if h.role != Role::Daemon {
                    self.reply_error(0, ErrorCode::Malformed, 0, "hello must say role daemon");
                    return;
                }
                if self.instance != 0 && self.instance != h.instance {
                    self.lose_daemon("the daemon restarted on an open connection");
                }
                self.instance = h.instance;
            }
            Message::Capabilities(c) => {
                pr_info!(
                    "daedalus: daemon attached: {} codecs, {} sessions\n",
                    c.codecs().len(),
                    c.max_sessions
                );
                self.caps = Some(c);
            }
            Message::Ping { nonce } => self.out.push(0, &Message::Pong { nonce }, ptr::null_mut()),
            Message::Pong { .. } => {}
            Message::Error(e) if session == 0 => {
                pr_warn!("daedalus: daemon error: {}: {}\n", e.code.text(), e.text);
            }
            Message::Goodbye { reason } => {
                self.lose_daemon(
                    if matches!(reason, daedalus_proto::GoodbyeReason::Shutdown) {
                        "the daemon is shutting down"
                    } else {
                        "the daemon hit a fatal error"
                    },
                );
            }
            ref msg => {
                let r = self.with_session(session, |dec, sink| dec.daemon_message(msg, sink));
                match r {
                    // The module forgets a session as soon as it sends SessionClose (dmabuf
                    // references keep the memory alive), so the daemon's answer finds none.
                    None if matches!(msg, Message::SessionClosed) => {}
                    None => {
                        pr_info!("daedalus: {:?} for unknown session {session}\n", msg.kind());
                        self.reply_error(session, ErrorCode::UnknownSession, 0, "no such session")
                    }
                    Some(Ok(())) => {
                        if let Message::Error(e) = msg {
                            pr_warn!(
                                "daedalus: session {session}: daemon error {} (cookie {}): {}\n",
                                e.code.text(),
                                e.cookie,
                                e.text
                            );
                        }
                    }
                    Some(Err(CoreError::Protocol { what, value, code })) => {
                        pr_warn!("daedalus: session {session}: {what} ({value}); ignored\n");
                        self.reply_error(session, code, 0, what);
                    }
                    Some(Err(e)) => {
                        pr_warn!("daedalus: session {session}: {e:?}\n");
                    }
                }
            }
        }
    }

    fn reply_error(&mut self, session: u32, code: ErrorCode, cookie: u32, text: &str) {
        self.out.push(
            session,
            &Message::error(code, cookie, text),
            ptr::null_mut(),
        );
    }
}

fn now() -> c_ulong {
    // SAFETY: reads the jiffies counter; no preconditions.
    unsafe { b::daedalus_shim_jiffies() }
}

fn ms(v: u32) -> c_ulong {
    // SAFETY: pure conversion; no preconditions.
    unsafe { b::daedalus_shim_msecs_to_jiffies(v) }
}

/// Wakes readers of `/dev/daedalus` and every V4L2 path waiting on the hub.
pub(crate) fn wake(dev: &Device) {
    dev.changed.notify_all();
    // SAFETY: the wait queue was initialised in `Device::init` and lives as long as `dev`.
    unsafe { b::daedalus_shim_wake_up_interruptible(&raw mut (*dev.raw()).daemon_wq) };
}

/// Ends the daemon connection from inside, e.g. when the queue overflowed.
fn declare_dead(hub: &mut Hub, why: &str) {
    hub.daemon_dead = true;
    hub.lose_daemon(why);
    hub.out.connected = false;
}

/// Periodic check of the daemon's liveness; re-arms itself.
pub(crate) unsafe extern "C" fn watchdog(_work: *mut b::work_struct) {
    let dev = device();
    let mut hub = dev.hub.lock();
    if hub.daemon_open && !hub.daemon_dead && hub.has_work_in_flight() {
        let silent = now().wrapping_sub(hub.last_rx);
        // Count the watchdog's own runs too: a virtual machine that was descheduled sees
        // jiffies jump without the daemon having had any chance to run.
        hub.silent_ticks = if hub.rx_seen { 0 } else { hub.silent_ticks + 1 };
        hub.rx_seen = false;
        if silent > ms(DEAD_AFTER_MS) && hub.silent_ticks * WATCHDOG_MS > DEAD_AFTER_MS {
            declare_dead(&mut hub, "the daemon stopped answering");
        } else if silent > ms(PING_AFTER_MS)
            && now().wrapping_sub(hub.last_ping) > ms(PING_AFTER_MS)
        {
            hub.nonce = hub.nonce.wrapping_add(1);
            let nonce = hub.nonce;
            hub.out.push(0, &Message::Ping { nonce }, ptr::null_mut());
            hub.last_ping = now();
        }
    } else {
        hub.silent_ticks = 0;
        hub.rx_seen = false;
    }
    if hub.out.overflowed && hub.daemon_open && !hub.daemon_dead {
        declare_dead(&mut hub, "the daemon does not read its messages");
    }
    let exiting = hub.exiting;
    drop(hub);
    wake(dev);
    if !exiting {
        // SAFETY: the work item was initialised in `Device::init`; module exit sets
        // `exiting` and then cancels it synchronously, so it never runs past the module.
        unsafe {
            b::daedalus_shim_schedule_delayed_work(&raw mut (*dev.raw()).watchdog, ms(WATCHDOG_MS))
        };
    }
}

pub(crate) unsafe extern "C" fn daemon_open(_inode: *mut b::inode, _file: *mut b::file) -> c_int {
    // The node is 0600 root; also demand the capability, so a permissive udev rule cannot
    // hand frame data of every user to someone else.
    // SAFETY: no preconditions.
    if !unsafe { b::capable(b::CAP_SYS_ADMIN as c_int) } {
        return EPERM.to_errno();
    }
    let dev = device();
    let mut hub = dev.hub.lock();
    if hub.daemon_open {
        return EBUSY.to_errno();
    }
    hub.daemon_open = true;
    hub.daemon_dead = false;
    hub.caps = None;
    hub.instance = 0;
    hub.out.clear();
    hub.out.connected = true;
    hub.last_rx = now();
    let hello = Message::Hello(Hello {
        minor: 0,
        role: Role::Module,
        instance: dev.instance,
    });
    hub.out.push(0, &hello, ptr::null_mut());
    drop(hub);
    wake(dev);
    0
}

pub(crate) unsafe extern "C" fn daemon_release(
    _inode: *mut b::inode,
    _file: *mut b::file,
) -> c_int {
    let dev = device();
    let mut hub = dev.hub.lock();
    if !hub.daemon_dead {
        hub.lose_daemon("the daemon closed /dev/daedalus");
    }
    hub.daemon_open = false;
    hub.daemon_dead = false;
    hub.out.connected = false;
    hub.out.clear();
    drop(hub);
    wake(dev);
    0
}

fn nonblocking(file: *mut b::file) -> bool {
    // SAFETY: `file` is the open file the VFS passed to the callback.
    unsafe { (*file).f_flags & b::O_NONBLOCK != 0 }
}

/// Takes the next message for the daemon, waiting unless `nonblock`. With `want_fd` false, a
/// message carrying a dmabuf is refused (it needs `DAEDALUS_IOC_RECV`).
fn next_message(dev: &Device, nonblock: bool, want_fd: bool) -> Result<OutMsg> {
    let mut hub = dev.hub.lock();
    loop {
        if hub.daemon_dead {
            return Err(EPIPE);
        }
        if let Some(front) = hub.out.front() {
            if !want_fd && !front.dmabuf.is_null() {
                return Err(EINVAL);
            }
            return hub.out.pop().ok_or(EAGAIN);
        }
        if nonblock {
            return Err(EAGAIN);
        }
        if dev.changed.wait_interruptible(&mut hub) {
            return Err(ERESTARTSYS);
        }
    }
}

pub(crate) unsafe extern "C" fn daemon_read(
    file: *mut b::file,
    buf: *mut c_char,
    count: usize,
    _ppos: *mut b::loff_t,
) -> isize {
    let dev = device();
    if count < MAX_MESSAGE_LEN {
        return errno_of(b::EMSGSIZE) as isize;
    }
    let mut m = match next_message(dev, nonblocking(file), false) {
        Ok(m) => m,
        Err(e) => return e.to_errno() as isize,
    };
    let mut w = UserSlice::new(buf as usize, count).writer();
    let r = w.write_slice(&m.buf[..m.len]);
    m.drop_dmabuf();
    match r {
        Ok(()) => m.len as isize,
        Err(e) => e.to_errno() as isize,
    }
}

pub(crate) unsafe extern "C" fn daemon_write(
    _file: *mut b::file,
    buf: *const c_char,
    count: usize,
    _ppos: *mut b::loff_t,
) -> isize {
    let dev = device();
    if count > MAX_MESSAGE_LEN {
        return errno_of(b::EMSGSIZE) as isize;
    }
    let mut data = [0u8; MAX_MESSAGE_LEN];
    let mut r = UserSlice::new(buf as usize, count).reader();
    if let Err(e) = r.read_slice(&mut data[..count]) {
        return e.to_errno() as isize;
    }
    let mut hub = dev.hub.lock();
    if hub.daemon_dead {
        return EPIPE.to_errno() as isize;
    }
    hub.last_rx = now();
    hub.rx_seen = true;
    match decode_from(&data[..count], Role::Daemon) {
        Ok(frame) => hub.handle(&frame),
        Err(e) => {
            pr_warn!("daedalus: malformed message from the daemon: {e}\n");
            let session = daedalus_proto::Header::parse(&data[..count])
                .map(|h| h.session)
                .unwrap_or(0);
            hub.reply_error(session, ErrorCode::Malformed, 0, "malformed message");
        }
    }
    if hub.out.overflowed {
        declare_dead(&mut hub, "the daemon does not read its messages");
    }
    drop(hub);
    wake(dev);
    count as isize
}

pub(crate) unsafe extern "C" fn daemon_ioctl(
    file: *mut b::file,
    cmd: c_uint,
    arg: c_ulong,
) -> c_long {
    if cmd != DAEDALUS_IOC_RECV {
        return ENOTTY.to_errno() as c_long;
    }
    let dev = device();
    let slice = UserSlice::new(arg as usize, core::mem::size_of::<RecvArg>());
    let (mut reader, mut writer) = slice.reader_writer();
    let mut raw = [0u8; 16];
    if let Err(e) = reader.read_slice(&mut raw) {
        return e.to_errno() as c_long;
    }
    let user_buf = u64::from_ne_bytes([
        raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
    ]);
    let user_len = u32::from_ne_bytes([raw[8], raw[9], raw[10], raw[11]]) as usize;
    if user_len < MAX_MESSAGE_LEN {
        return errno_of(b::EMSGSIZE) as c_long;
    }
    let mut m = match next_message(dev, nonblocking(file), true) {
        Ok(m) => m,
        Err(e) => return e.to_errno() as c_long,
    };
    let mut fd: c_int = -1;
    if !m.dmabuf.is_null() {
        // SAFETY: no preconditions; a negative result is an errno.
        fd = unsafe { b::get_unused_fd_flags(b::O_CLOEXEC) };
        if fd < 0 {
            m.drop_dmabuf();
            return fd as c_long;
        }
    }
    let mut out = UserSlice::new(user_buf as usize, user_len).writer();
    let mut result = out.write_slice(&m.buf[..m.len]);
    if result.is_ok() {
        let mut reply = [0u8; 16];
        reply[..8].copy_from_slice(&user_buf.to_ne_bytes());
        reply[8..12].copy_from_slice(&(user_len as u32).to_ne_bytes());
        reply[12..16].copy_from_slice(&fd.to_ne_bytes());
        result = writer.write_slice(&reply);
    }
    if let Err(e) = result {
        if fd >= 0 {
            // SAFETY: `fd` was reserved above and not installed.
            unsafe { b::put_unused_fd(fd as c_uint) };
        }
        m.drop_dmabuf();
        return e.to_errno() as c_long;
    }
    if fd >= 0 {
        // SAFETY: `fd` is reserved for this task and `m.dmabuf` holds the reference the
        // queue took; fd_install consumes it, so the message no longer owns it.
        unsafe { b::fd_install(fd as c_uint, b::daedalus_shim_dma_buf_file(m.dmabuf)) };
        m.dmabuf = ptr::null_mut();
    }
    m.len as c_long
}

pub(crate) unsafe extern "C" fn daemon_poll(
    file: *mut b::file,
    pt: *mut b::poll_table_struct,
) -> b::__poll_t {
    let dev = device();
    // SAFETY: the wait queue lives as long as the device; `file` and `pt` come from the VFS.
    unsafe { b::daedalus_shim_poll_wait(file, &raw mut (*dev.raw()).daemon_wq, pt) };
    let hub = dev.hub.lock();
    let mut mask = EPOLLOUT | EPOLLWRNORM;
    if hub.daemon_dead {
        mask |= EPOLLERR | EPOLLHUP;
    } else if hub.out.count > 0 {
        mask |= EPOLLIN | EPOLLRDNORM;
    }
    mask as b::__poll_t
}
