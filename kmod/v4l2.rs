// SPDX-License-Identifier: GPL-2.0
//! `/dev/videoN`: file operations, ioctl handlers, vb2 and mem2mem callbacks.
//!
//! Each callback translates what the V4L2 core tells it into a call on the context's
//! [`Decoder`](daedalus_kmod_core::Decoder) under the hub lock, and [`KSink`] carries the
//! decoder's answers out: buffers back to vb2, events, messages for the daemon.

use core::ffi::{c_int, c_uint, c_void};
use core::ptr;

use daedalus_kmod_core::{v4l2_flags, CaptureDone, DecCmd, Error as CoreError, Event, Sink};
use daedalus_proto::{AttachBuffer, Codec, Memory, Message, PixelFormat, Queue};
use kernel::alloc::flags::GFP_KERNEL;
use kernel::prelude::*;

use crate::bindings as b;
use crate::hub::{wake, OutQueue};
use crate::{device, Device};

/// Largest coded size offered before a daemon says what it supports (8K, the largest VP9 and
/// AV1 level-6 frame).
const MAX_WIDTH: u32 = 8192;
const MAX_HEIGHT: u32 = 4352;
/// Default OUTPUT buffer size: a 4K intra frame at high bit rates fits in 4 MiB.
const DEFAULT_OUT_SIZE: u32 = 4 << 20;
const MIN_OUT_SIZE: u32 = 64 << 10;
const MAX_OUT_SIZE: u32 = 64 << 20;

/// Per open file of `/dev/videoN`. `fh` comes first: `file->private_data` points at it.
#[repr(C)]
pub(crate) struct Ctx {
    fh: b::v4l2_fh,
    hdl: b::v4l2_ctrl_handler,
    min_bufs: *mut b::v4l2_ctrl,
    session: u32,
    out_size: u32,
}

fn ctx_of_file(file: *mut b::file) -> *mut Ctx {
    // SAFETY: `private_data` was set to `&ctx.fh` in `open`, and `fh` is the first field of
    // the `#[repr(C)]` `Ctx`.
    unsafe { (*file).private_data as *mut Ctx }
}

fn queue_of_type(t: u32) -> Queue {
    if t == b::v4l2_buf_type_V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE
        || t == b::v4l2_buf_type_V4L2_BUF_TYPE_VIDEO_OUTPUT
    {
        Queue::Output
    } else {
        Queue::Capture
    }
}

fn errno(e: CoreError) -> c_int {
    match e {
        CoreError::Busy => EBUSY.to_errno(),
        CoreError::NoDaemon => {
            pr_warn!("daedalus: no decode daemon is attached to /dev/daedalus: start daedalusd\n");
            crate::hub::errno_of(b::ENOLINK)
        }
        CoreError::Lost => EIO.to_errno(),
        CoreError::UnsupportedCodec(c) => {
            pr_warn!("daedalus: the daemon does not decode {}\n", c.name());
            EINVAL.to_errno()
        }
        CoreError::TooLarge { width, height } => {
            pr_warn!("daedalus: {width}x{height} exceeds what the daemon decodes\n");
            EINVAL.to_errno()
        }
        CoreError::BadBuffer { .. } | CoreError::BufferTooSmall { .. } => EINVAL.to_errno(),
        CoreError::Protocol { .. } => crate::hub::errno_of(b::EPROTO),
    }
}

/// Carries the decoder's decisions out. Built under the hub lock.
pub(crate) struct KSink<'a> {
    out: &'a mut OutQueue,
    bufs: &'a mut [[*mut b::vb2_v4l2_buffer; daedalus_kmod_core::MAX_BUFFERS]; 2],
    ctx: *mut Ctx,
}

impl<'a> KSink<'a> {
    pub(crate) fn new(
        out: &'a mut OutQueue,
        bufs: &'a mut [[*mut b::vb2_v4l2_buffer; daedalus_kmod_core::MAX_BUFFERS]; 2],
        ctx: *mut Ctx,
    ) -> Self {
        Self { out, bufs, ctx }
    }

    fn buf(&self, q: Queue, index: u32) -> *mut b::vb2_v4l2_buffer {
        let qi = if q == Queue::Output { 0 } else { 1 };
        self.bufs[qi]
            .get(index as usize)
            .copied()
            .unwrap_or(ptr::null_mut())
    }

    fn m2m(&self) -> *mut b::v4l2_m2m_ctx {
        // SAFETY: `ctx` is the session's context, alive while its session is in the table.
        unsafe { (*self.ctx).fh.m2m_ctx }
    }

    fn queue_event(&mut self, ev_type: u32, changes: u32) {
        // SAFETY: all-zero is a valid `v4l2_event`.
        let mut ev: b::v4l2_event = unsafe { core::mem::zeroed() };
        ev.type_ = ev_type;
        // `src_change` is the union member for V4L2_EVENT_SOURCE_CHANGE; other events ignore it.
        ev.u.src_change.changes = changes;
        // SAFETY: `fh` was added in `open` and stays until `release`, which removes the
        // session first.
        unsafe { b::v4l2_event_queue_fh(&raw mut (*self.ctx).fh, &ev) };
    }
}

impl Sink for KSink<'_> {
    fn send(&mut self, session: u32, msg: &Message<'_>) {
        self.out.push(session, msg, ptr::null_mut());
    }

    fn attach(&mut self, session: u32, queue: Queue, index: u32) {
        let vbuf = self.buf(queue, index);
        if vbuf.is_null() {
            pr_err!("daedalus: attach of unknown {queue:?} buffer {index}\n");
            return;
        }
        // SAFETY: `vbuf` is a live vb2 buffer (set in buf_init, cleared in buf_cleanup, both
        // under the hub lock we hold).
        let vb = unsafe { &raw mut (*vbuf).vb2_buf };
        // SAFETY: as above; plane 0 exists (one plane per buffer).
        let (memory, length, mem_priv, dbuf, q) = unsafe {
            (
                (*vb).memory,
                (*vb).planes[0].length,
                (*vb).planes[0].mem_priv,
                (*vb).planes[0].dbuf,
                (*vb).vb2_queue,
            )
        };
        let dmabuf = if memory == b::vb2_memory_VB2_MEMORY_DMABUF {
            if !dbuf.is_null() {
                // SAFETY: the client's dmabuf is attached to the plane while the buffer is
                // queued; the extra reference is owned by the message.
                unsafe { b::daedalus_shim_get_dma_buf(dbuf) };
            }
            dbuf
        } else {
            // SAFETY: vb2-vmalloc implements get_dmabuf; it returns a new dmabuf that holds
            // its own reference to the buffer's memory.
            unsafe {
                match (*(*q).mem_ops).get_dmabuf {
                    Some(f) => f(vb, mem_priv, b::O_RDWR as core::ffi::c_ulong),
                    None => ptr::null_mut(),
                }
            }
        };
        // SAFETY: pure pointer classification.
        if unsafe { b::daedalus_shim_is_err_or_null(dmabuf as *const c_void) } {
            pr_err!("daedalus: cannot export {queue:?} buffer {index} as a dmabuf\n");
            return;
        }
        let msg = Message::AttachBuffer(AttachBuffer {
            queue,
            index,
            memory: Memory::Dmabuf,
            offset: 0,
            size: u64::from(length),
        });
        self.out.push(session, &msg, dmabuf);
    }

    fn output_done(&mut self, index: u32, error: bool) {
        let vbuf = self.buf(Queue::Output, index);
        if vbuf.is_null() {
            pr_err!("daedalus: completion of unknown output buffer {index}\n");
            return;
        }
        let state = if error {
            b::vb2_buffer_state_VB2_BUF_STATE_ERROR
        } else {
            b::vb2_buffer_state_VB2_BUF_STATE_DONE
        };
        // SAFETY: the decoder only completes buffers it holds, which vb2 gave to us in
        // buf_queue and which are therefore active.
        unsafe { b::daedalus_shim_v4l2_m2m_buf_done(vbuf, state as c_int) };
    }

    fn capture_done(&mut self, index: u32, done: CaptureDone) {
        let vbuf = self.buf(Queue::Capture, index);
        if vbuf.is_null() {
            pr_err!("daedalus: completion of unknown capture buffer {index}\n");
            return;
        }
        let keep = !(v4l2_flags::KEYFRAME
            | v4l2_flags::LAST
            | b::V4L2_BUF_FLAG_PFRAME
            | b::V4L2_BUF_FLAG_BFRAME);
        let state = if done.flags & v4l2_flags::ERROR != 0 {
            b::vb2_buffer_state_VB2_BUF_STATE_ERROR
        } else {
            b::vb2_buffer_state_VB2_BUF_STATE_DONE
        };
        // SAFETY: as in output_done; the fields written are the driver's to fill before
        // vb2_buffer_done.
        unsafe {
            (*vbuf).flags =
                ((*vbuf).flags & keep) | (done.flags & (v4l2_flags::KEYFRAME | v4l2_flags::LAST));
            (*vbuf).field = b::v4l2_field_V4L2_FIELD_NONE;
            (*vbuf).vb2_buf.timestamp = done.timestamp;
            b::daedalus_shim_vb2_set_plane_payload(
                &raw mut (*vbuf).vb2_buf,
                0,
                done.bytesused as core::ffi::c_ulong,
            );
            b::daedalus_shim_v4l2_m2m_buf_done(vbuf, state as c_int);
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::SourceChange(sc) => {
                // SAFETY: the control was created in open and lives with the context.
                unsafe {
                    b::daedalus_shim_v4l2_ctrl_s_ctrl((*self.ctx).min_bufs, sc.min_buffers as c_int)
                };
                self.queue_event(b::V4L2_EVENT_SOURCE_CHANGE, b::V4L2_EVENT_SRC_CH_RESOLUTION);
            }
            Event::Eos => self.queue_event(b::V4L2_EVENT_EOS, 0),
            Event::ClearLast => {
                // SAFETY: the m2m context and its queues live as long as the file.
                unsafe {
                    b::daedalus_shim_vb2_clear_last_buffer_dequeued(b::daedalus_shim_m2m_dst_vq(
                        self.m2m(),
                    ))
                };
            }
            Event::Lost => {
                // SAFETY: as above; vb2_queue_error only sets a flag and wakes waiters.
                unsafe {
                    b::vb2_queue_error(b::daedalus_shim_m2m_src_vq(self.m2m()));
                    b::vb2_queue_error(b::daedalus_shim_m2m_dst_vq(self.m2m()));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// File operations

pub(crate) unsafe extern "C" fn video_open(file: *mut b::file) -> c_int {
    let dev = device();
    let raw = dev.raw();
    // SAFETY: all-zero is the state the V4L2 init functions expect for these C structs.
    let ctx = match KBox::new(unsafe { core::mem::zeroed::<Ctx>() }, GFP_KERNEL) {
        Ok(c) => KBox::into_raw(c),
        Err(_) => return ENOMEM.to_errno(),
    };
    // SAFETY: `ctx` is a fresh allocation we own; `vfd` is registered and outlives the file.
    unsafe {
        (*ctx).out_size = DEFAULT_OUT_SIZE;
        b::v4l2_fh_init(&raw mut (*ctx).fh, &raw mut (*raw).vfd);
        (*file).private_data = &raw mut (*ctx).fh as *mut c_void;
        b::daedalus_shim_v4l2_ctrl_handler_init(&raw mut (*ctx).hdl, 1);
        (*ctx).min_bufs = b::v4l2_ctrl_new_std(
            &raw mut (*ctx).hdl,
            ptr::null(),
            b::V4L2_CID_MIN_BUFFERS_FOR_CAPTURE,
            1,
            64,
            1,
            1,
        );
        if (*ctx).hdl.error != 0 {
            let err = (*ctx).hdl.error;
            b::v4l2_ctrl_handler_free(&raw mut (*ctx).hdl);
            b::v4l2_fh_exit(&raw mut (*ctx).fh);
            drop(KBox::from_raw(ctx));
            return err;
        }
        (*ctx).fh.ctrl_handler = &raw mut (*ctx).hdl;
    }
    let session = match dev.hub.lock().session_new(ctx) {
        Ok(id) => id,
        Err(e) => {
            // SAFETY: undoing the initialisation above on the context we still own.
            unsafe {
                b::v4l2_ctrl_handler_free(&raw mut (*ctx).hdl);
                b::v4l2_fh_exit(&raw mut (*ctx).fh);
                drop(KBox::from_raw(ctx));
            }
            return e.to_errno();
        }
    };
    // SAFETY: `ctx` is ours; the m2m device lives as long as the module.
    unsafe {
        (*ctx).session = session;
        let m2m = b::v4l2_m2m_ctx_init((*raw).m2m_dev, ctx as *mut c_void, Some(queue_init));
        if b::daedalus_shim_is_err_or_null(m2m as *const c_void) {
            let err = b::daedalus_shim_ptr_err(m2m as *const c_void) as c_int;
            dev.hub.lock().session_remove(session);
            b::v4l2_ctrl_handler_free(&raw mut (*ctx).hdl);
            b::v4l2_fh_exit(&raw mut (*ctx).fh);
            drop(KBox::from_raw(ctx));
            return if err == 0 { ENOMEM.to_errno() } else { err };
        }
        (*ctx).fh.m2m_ctx = m2m;
        b::v4l2_fh_add(&raw mut (*ctx).fh);
    }
    0
}

pub(crate) unsafe extern "C" fn video_release(file: *mut b::file) -> c_int {
    let dev = device();
    let ctx = ctx_of_file(file);
    // SAFETY: `ctx` belongs to this file; the device lock serialises with ioctls as the
    // V4L2 core does for them.
    unsafe {
        b::v4l2_fh_del(&raw mut (*ctx).fh);
        b::daedalus_shim_mutex_lock(&raw mut (*dev.raw()).lock);
        // Stops both queues (waiting for the daemon's flushes) and frees every buffer.
        b::v4l2_m2m_ctx_release((*ctx).fh.m2m_ctx);
        b::daedalus_shim_mutex_unlock(&raw mut (*dev.raw()).lock);
    }
    // SAFETY: reading our own context.
    let session = unsafe { (*ctx).session };
    {
        let mut hub = dev.hub.lock();
        hub.with_session(session, |d, s| d.close(s));
        hub.session_remove(session);
    }
    wake(dev);
    // SAFETY: nothing refers to the context any more: the session is gone from the table
    // and the file is being released.
    unsafe {
        b::v4l2_ctrl_handler_free(&raw mut (*ctx).hdl);
        b::v4l2_fh_exit(&raw mut (*ctx).fh);
        drop(KBox::from_raw(ctx));
    }
    0
}

// ---------------------------------------------------------------------------------------
// vb2

unsafe extern "C" fn queue_init(
    priv_: *mut c_void,
    src: *mut b::vb2_queue,
    dst: *mut b::vb2_queue,
) -> c_int {
    let dev = device();
    let raw = dev.raw();
    for (q, t) in [
        (src, b::v4l2_buf_type_V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE),
        (dst, b::v4l2_buf_type_V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE),
    ] {
        // SAFETY: the m2m core hands us two zeroed queues to fill; the ops, lock and memops
        // live as long as the module.
        let r = unsafe {
            (*q).type_ = t;
            (*q).io_modes = b::vb2_io_modes_VB2_MMAP | b::vb2_io_modes_VB2_DMABUF;
            (*q).drv_priv = priv_;
            (*q).buf_struct_size = core::mem::size_of::<b::v4l2_m2m_buffer>() as c_uint;
            (*q).ops = &raw const (*raw).vb2_ops;
            (*q).mem_ops = &raw const b::vb2_vmalloc_memops;
            (*q).timestamp_flags = b::V4L2_BUF_FLAG_TIMESTAMP_COPY;
            (*q).lock = &raw mut (*raw).lock;
            (*q).max_num_buffers = daedalus_kmod_core::MAX_BUFFERS as c_uint;
            b::vb2_queue_init(q)
        };
        if r != 0 {
            return r;
        }
    }
    0
}

fn vq_ctx(q: *mut b::vb2_queue) -> (*mut Ctx, Queue) {
    // SAFETY: `drv_priv` is the context set in queue_init; `type_` was set there too.
    unsafe {
        (
            b::daedalus_shim_vb2_get_drv_priv(q) as *mut Ctx,
            queue_of_type((*q).type_),
        )
    }
}

fn vb_parts(vb: *mut b::vb2_buffer) -> (*mut Ctx, Queue, u32, *mut b::vb2_v4l2_buffer) {
    // SAFETY: vb2 passes a live buffer of one of our queues.
    unsafe {
        let (ctx, q) = vq_ctx((*vb).vb2_queue);
        (ctx, q, (*vb).index, b::daedalus_shim_to_vb2_v4l2_buffer(vb))
    }
}

fn ctx_session(ctx: *mut Ctx) -> u32 {
    // SAFETY: the context lives while vb2 can call us.
    unsafe { (*ctx).session }
}

pub(crate) unsafe extern "C" fn queue_setup(
    q: *mut b::vb2_queue,
    nbufs: *mut c_uint,
    nplanes: *mut c_uint,
    sizes: *mut c_uint,
    _devs: *mut *mut b::device,
) -> c_int {
    let dev = device();
    let (ctx, queue) = vq_ctx(q);
    let size = match queue {
        // SAFETY: reading our own context under the device lock.
        Queue::Output => unsafe { (*ctx).out_size },
        Queue::Capture => {
            let mut hub = dev.hub.lock();
            match hub.session(ctx_session(ctx)) {
                Some(s) => s.dec.capture_format().0.size_image,
                None => return EINVAL.to_errno(),
            }
        }
    };
    // SAFETY: vb2 passes valid out-pointers; `sizes` has room for VB2_MAX_PLANES entries.
    unsafe {
        if *nplanes != 0 {
            // CREATE_BUFS: the client's size must hold a frame of the current format.
            if *nplanes != 1 || *sizes < size {
                return EINVAL.to_errno();
            }
        } else {
            *nplanes = 1;
            *sizes = size;
        }
        if *nbufs == 0 {
            *nbufs = 1;
        }
    }
    0
}

unsafe extern "C" fn buf_out_validate(vb: *mut b::vb2_buffer) -> c_int {
    // SAFETY: vb2 passes a live OUTPUT buffer; the field is ours to normalise.
    unsafe { (*b::daedalus_shim_to_vb2_v4l2_buffer(vb)).field = b::v4l2_field_V4L2_FIELD_NONE };
    0
}

unsafe extern "C" fn buf_init(vb: *mut b::vb2_buffer) -> c_int {
    let dev = device();
    let (ctx, queue, index, vbuf) = vb_parts(vb);
    // SAFETY: plane 0 of a live buffer.
    let size = unsafe { b::daedalus_shim_vb2_plane_size(vb, 0) } as u32;
    let mut hub = dev.hub.lock();
    let Some(s) = hub.session(ctx_session(ctx)) else {
        return EINVAL.to_errno();
    };
    if let Err(e) = s.dec.buffer_init(queue, index, size) {
        return errno(e);
    }
    s.bufs[queue_slot(queue)][index as usize] = vbuf;
    0
}

fn queue_slot(q: Queue) -> usize {
    match q {
        Queue::Output => 0,
        Queue::Capture => 1,
    }
}

unsafe extern "C" fn buf_cleanup(vb: *mut b::vb2_buffer) {
    let dev = device();
    let (ctx, queue, index, _) = vb_parts(vb);
    let mut hub = dev.hub.lock();
    let session = ctx_session(ctx);
    hub.with_session(session, |d, s| d.buffer_cleanup(queue, index, s));
    if let Some(s) = hub.session(session) {
        if let Some(slot) = s.bufs[queue_slot(queue)].get_mut(index as usize) {
            *slot = ptr::null_mut();
        }
    }
    drop(hub);
    wake(dev);
}

unsafe extern "C" fn buf_prepare(vb: *mut b::vb2_buffer) -> c_int {
    let dev = device();
    let (ctx, queue, index, vbuf) = vb_parts(vb);
    // SAFETY: plane 0 of a live buffer.
    let size = unsafe { b::daedalus_shim_vb2_plane_size(vb, 0) } as u32;
    if queue == Queue::Capture {
        // SAFETY: the driver fills the field of CAPTURE buffers.
        unsafe { (*vbuf).field = b::v4l2_field_V4L2_FIELD_NONE };
    }
    let mut hub = dev.hub.lock();
    let Some(s) = hub.session(ctx_session(ctx)) else {
        return EINVAL.to_errno();
    };
    match s.dec.buffer_prepare(queue, index, size) {
        Ok(()) => 0,
        Err(e) => errno(e),
    }
}

unsafe extern "C" fn buf_queue(vb: *mut b::vb2_buffer) {
    let dev = device();
    let (ctx, queue, index, _) = vb_parts(vb);
    // SAFETY: a live buffer; payload and timestamp were set by vb2 from the QBUF.
    let (bytes, ts) = unsafe {
        (
            b::daedalus_shim_vb2_get_plane_payload(vb, 0) as u32,
            (*vb).timestamp,
        )
    };
    let mut hub = dev.hub.lock();
    let r = hub.with_session(ctx_session(ctx), |d, s| {
        d.buffer_queued(queue, index, bytes, ts, s)
    });
    if let Some(Err(e)) = r {
        pr_warn!("daedalus: {queue:?} buffer {index} refused: {e:?}\n");
    }
    drop(hub);
    wake(dev);
}

/// Called by vb2 for every buffer it hands back to userspace in `DQBUF`, and for every
/// prepared buffer it takes back in `STREAMOFF`: the decoder holds a resolution change's event
/// until the frames before it have left vb2's done list.
unsafe extern "C" fn buf_finish(vb: *mut b::vb2_buffer) {
    let dev = device();
    let (ctx, queue, index, _) = vb_parts(vb);
    let mut hub = dev.hub.lock();
    hub.with_session(ctx_session(ctx), |d, s| d.buffer_dequeued(queue, index, s));
    drop(hub);
    wake(dev);
}

unsafe extern "C" fn start_streaming(q: *mut b::vb2_queue, _count: c_uint) -> c_int {
    let dev = device();
    let (ctx, queue) = vq_ctx(q);
    let mut hub = dev.hub.lock();
    let caps = hub.live_caps().copied();
    let session = ctx_session(ctx);
    let r = hub.with_session(session, |d, s| d.streamon(queue, caps.as_ref(), s));
    let r = match r {
        Some(Ok(())) => 0,
        Some(Err(e)) => {
            let slot = queue_slot(queue);
            if let Some(s) = hub.session(session) {
                let bufs = s.bufs;
                s.dec.cancel_queued(queue, &mut |i| {
                    if let Some(&vbuf) = bufs[slot].get(i as usize) {
                        if !vbuf.is_null() {
                            // SAFETY: vb2 wants the buffers queued before a failed
                            // STREAMON back in the queued state.
                            unsafe {
                                b::daedalus_shim_v4l2_m2m_buf_done(
                                    vbuf,
                                    b::vb2_buffer_state_VB2_BUF_STATE_QUEUED as c_int,
                                )
                            };
                        }
                    }
                });
            }
            errno(e)
        }
        None => EINVAL.to_errno(),
    };
    drop(hub);
    wake(dev);
    r
}

unsafe extern "C" fn stop_streaming(q: *mut b::vb2_queue) {
    let dev = device();
    let (ctx, queue) = vq_ctx(q);
    let session = ctx_session(ctx);
    let mut hub = dev.hub.lock();
    let wait = hub
        .with_session(session, |d, s| d.streamoff_begin(queue, s))
        .unwrap_or(false);
    if wait {
        drop(hub);
        wake(dev);
        hub = dev.hub.lock();
        // The watchdog declares a silent daemon dead within a second, which ends the flush,
        // so this wait is bounded.
        while hub
            .session(session)
            .is_some_and(|s| s.dec.is_flushing(queue))
        {
            dev.changed.wait(&mut hub);
        }
    }
    hub.with_session(session, |d, s| d.streamoff_finish(queue, s));
    drop(hub);
    wake(dev);
}

// ---------------------------------------------------------------------------------------
// mem2mem: the decoder schedules its own work (the daemon takes every request as it is
// queued), so buffers never enter the m2m ready lists and the job callbacks are not used.

unsafe extern "C" fn job_ready(_priv: *mut c_void) -> c_int {
    0
}

unsafe extern "C" fn device_run(priv_: *mut c_void) {
    // Unreachable: job_ready never reports work. Finish the job anyway so a future change
    // cannot wedge the m2m scheduler.
    let dev = device();
    let ctx = priv_ as *mut Ctx;
    // SAFETY: `priv_` is the context the m2m core scheduled; the m2m device is ours.
    unsafe { b::v4l2_m2m_job_finish((*dev.raw()).m2m_dev, (*ctx).fh.m2m_ctx) };
}

// ---------------------------------------------------------------------------------------
// ioctls

fn copy_str(dst: &mut [u8], s: &str) {
    let n = s.len().min(dst.len() - 1);
    dst[..n].copy_from_slice(&s.as_bytes()[..n]);
    dst[n] = 0;
}

unsafe extern "C" fn querycap(
    _f: *mut b::file,
    _p: *mut c_void,
    cap: *mut b::v4l2_capability,
) -> c_int {
    // SAFETY: the V4L2 core passes a valid, zeroed capability struct.
    let cap = unsafe { &mut *cap };
    copy_str(&mut cap.driver, "daedalus");
    copy_str(&mut cap.card, "daedalus stateful decoder");
    copy_str(&mut cap.bus_info, "platform:daedalus");
    0
}

const CODECS: [Codec; 3] = [Codec::H264, Codec::Vp9, Codec::Av1];

fn codec_of_fourcc(f: u32) -> Option<Codec> {
    Codec::from_fourcc(f)
}

unsafe extern "C" fn enum_fmt_out(
    _f: *mut b::file,
    _p: *mut c_void,
    fd: *mut b::v4l2_fmtdesc,
) -> c_int {
    // SAFETY: valid pointer from the V4L2 core.
    let fd = unsafe { &mut *fd };
    let Some(c) = CODECS.get(fd.index as usize) else {
        return EINVAL.to_errno();
    };
    fd.pixelformat = c.fourcc();
    fd.flags = b::V4L2_FMT_FLAG_COMPRESSED | b::V4L2_FMT_FLAG_DYN_RESOLUTION;
    if *c == Codec::Av1 {
        // Linux 6.12 has no fourcc for a stateful AV1 stream (only the stateless AV1F), so
        // the V4L2 core cannot describe it; without a description it would WARN.
        copy_str(&mut fd.description, "AV1 (temporal units)");
    }
    if *c == Codec::H264 {
        // Annex-B in arbitrary chunks: the daemon's parser finds the access units.
        fd.flags |= b::V4L2_FMT_FLAG_CONTINUOUS_BYTESTREAM;
    }
    0
}

unsafe extern "C" fn enum_fmt_cap(
    file: *mut b::file,
    _p: *mut c_void,
    fd: *mut b::v4l2_fmtdesc,
) -> c_int {
    let dev = device();
    let ctx = ctx_of_file(file);
    // SAFETY: valid pointer from the V4L2 core.
    let fd = unsafe { &mut *fd };
    let mut hub = dev.hub.lock();
    let Some(s) = hub.session(ctx_session(ctx)) else {
        return EINVAL.to_errno();
    };
    // Only the format of the parsed stream: the daemon does not convert (dev-decoder.rst,
    // "Capture Setup" step 3).
    let (f, _) = s.dec.capture_format();
    if fd.index != 0 {
        return EINVAL.to_errno();
    }
    fd.pixelformat = f.format.fourcc();
    0
}

fn fill_pix_mp(
    pix: &mut b::v4l2_pix_format_mplane,
    width: u32,
    height: u32,
    fourcc: u32,
    stride: u32,
    size: u32,
) {
    pix.width = width;
    pix.height = height;
    pix.pixelformat = fourcc;
    pix.field = b::v4l2_field_V4L2_FIELD_NONE;
    pix.num_planes = 1;
    pix.flags = 0;
    pix.colorspace = b::v4l2_colorspace_V4L2_COLORSPACE_REC709;
    pix.quantization = b::v4l2_quantization_V4L2_QUANTIZATION_DEFAULT as u8;
    pix.xfer_func = b::v4l2_xfer_func_V4L2_XFER_FUNC_DEFAULT as u8;
    pix.__bindgen_anon_1.ycbcr_enc = b::v4l2_ycbcr_encoding_V4L2_YCBCR_ENC_DEFAULT as u8;
    pix.plane_fmt[0].bytesperline = stride;
    pix.plane_fmt[0].sizeimage = size;
    pix.reserved = [0; 7];
    for p in pix.plane_fmt.iter_mut() {
        p.reserved = [0; 6];
    }
}

fn pix_mp(f: *mut b::v4l2_format) -> &'static mut b::v4l2_pix_format_mplane {
    // SAFETY: the V4L2 core calls the *_mplane handlers only with `pix_mp` formats.
    unsafe { &mut (*f).fmt.pix_mp }
}

unsafe extern "C" fn g_fmt_out(
    file: *mut b::file,
    _p: *mut c_void,
    f: *mut b::v4l2_format,
) -> c_int {
    let dev = device();
    let ctx = ctx_of_file(file);
    let mut hub = dev.hub.lock();
    let Some(s) = hub.session(ctx_session(ctx)) else {
        return EINVAL.to_errno();
    };
    let (codec, w, h) = s.dec.output_format();
    // SAFETY: our context, under the device lock.
    let size = unsafe { (*ctx).out_size };
    fill_pix_mp(pix_mp(f), w, h, codec.fourcc(), 0, size);
    0
}

fn try_out(pix: &mut b::v4l2_pix_format_mplane) -> Codec {
    let codec = codec_of_fourcc(pix.pixelformat).unwrap_or(Codec::H264);
    let w = pix.width.min(MAX_WIDTH);
    let h = pix.height.min(MAX_HEIGHT);
    let size = match pix.plane_fmt[0].sizeimage {
        0 => DEFAULT_OUT_SIZE,
        s => s.clamp(MIN_OUT_SIZE, MAX_OUT_SIZE),
    };
    fill_pix_mp(pix, w, h, codec.fourcc(), 0, size);
    codec
}

unsafe extern "C" fn try_fmt_out(
    _file: *mut b::file,
    _p: *mut c_void,
    f: *mut b::v4l2_format,
) -> c_int {
    try_out(pix_mp(f));
    0
}

unsafe extern "C" fn s_fmt_out(
    file: *mut b::file,
    _p: *mut c_void,
    f: *mut b::v4l2_format,
) -> c_int {
    let dev = device();
    let ctx = ctx_of_file(file);
    let pix = pix_mp(f);
    let codec = try_out(pix);
    let mut hub = dev.hub.lock();
    let Some(s) = hub.session(ctx_session(ctx)) else {
        return EINVAL.to_errno();
    };
    if let Err(e) = s.dec.set_output_format(codec, pix.width, pix.height) {
        return errno(e);
    }
    // SAFETY: our context, under the device lock.
    unsafe { (*ctx).out_size = pix.plane_fmt[0].sizeimage };
    0
}

unsafe extern "C" fn g_fmt_cap(
    file: *mut b::file,
    _p: *mut c_void,
    f: *mut b::v4l2_format,
) -> c_int {
    let dev = device();
    let ctx = ctx_of_file(file);
    let mut hub = dev.hub.lock();
    let Some(s) = hub.session(ctx_session(ctx)) else {
        return EINVAL.to_errno();
    };
    let (fmt, _) = s.dec.capture_format();
    fill_pix_mp(
        pix_mp(f),
        fmt.width,
        fmt.height,
        fmt.format.fourcc(),
        fmt.stride,
        fmt.size_image,
    );
    0
}

/// The decoder neither scales nor converts: TRY/S_FMT on CAPTURE answer with the stream's
/// format (dev-decoder.rst, commit point 3).
unsafe extern "C" fn try_fmt_cap(
    file: *mut b::file,
    p: *mut c_void,
    f: *mut b::v4l2_format,
) -> c_int {
    // SAFETY: same contract as g_fmt_cap.
    unsafe { g_fmt_cap(file, p, f) }
}

unsafe extern "C" fn s_fmt_cap(
    file: *mut b::file,
    p: *mut c_void,
    f: *mut b::v4l2_format,
) -> c_int {
    let ctx = ctx_of_file(file);
    // SAFETY: the m2m context and its capture queue live as long as the file.
    let busy = unsafe { (*b::daedalus_shim_m2m_dst_vq((*ctx).fh.m2m_ctx)).streaming() } != 0;
    if busy {
        return EBUSY.to_errno();
    }
    // SAFETY: same contract as g_fmt_cap.
    unsafe { g_fmt_cap(file, p, f) }
}

unsafe extern "C" fn enum_framesizes(
    file: *mut b::file,
    _p: *mut c_void,
    fs: *mut b::v4l2_frmsizeenum,
) -> c_int {
    let dev = device();
    let _ = file;
    // SAFETY: valid pointer from the V4L2 core.
    let fs = unsafe { &mut *fs };
    if fs.index != 0 {
        return EINVAL.to_errno();
    }
    let (max_w, max_h) = match codec_of_fourcc(fs.pixel_format) {
        Some(c) => {
            let hub = dev.hub.lock();
            match hub.live_caps().and_then(|caps| caps.get(c)) {
                Some(cc) => (cc.max_width, cc.max_height),
                None => (MAX_WIDTH, MAX_HEIGHT),
            }
        }
        None if PixelFormat::from_fourcc(fs.pixel_format).is_some() => (MAX_WIDTH, MAX_HEIGHT),
        None => return EINVAL.to_errno(),
    };
    // Any size: VP9 and AV1 frames, and H.264 frames after cropping, may have odd
    // dimensions (vp9_odd_201x131), and clients build their caps from this answer;
    // GStreamer refused to negotiate a 201x131 stream against the former step of 2. The
    // capture buffers are rounded up to whole 16x16 blocks by the daemon regardless.
    fs.type_ = b::v4l2_frmsizetypes_V4L2_FRMSIZE_TYPE_CONTINUOUS;
    // SAFETY: `stepwise` is the union member for V4L2_FRMSIZE_TYPE_CONTINUOUS too, with
    // steps of 1 (videodev2.h).
    let sw = unsafe { &mut fs.__bindgen_anon_1.stepwise };
    sw.min_width = 16;
    sw.max_width = max_w;
    sw.step_width = 1;
    sw.min_height = 16;
    sw.max_height = max_h;
    sw.step_height = 1;
    0
}

unsafe extern "C" fn g_selection(
    file: *mut b::file,
    _p: *mut c_void,
    sel: *mut b::v4l2_selection,
) -> c_int {
    let dev = device();
    let ctx = ctx_of_file(file);
    // SAFETY: valid pointer from the V4L2 core (which maps the MPLANE type to the plain one).
    let sel = unsafe { &mut *sel };
    if sel.type_ != b::v4l2_buf_type_V4L2_BUF_TYPE_VIDEO_CAPTURE {
        return EINVAL.to_errno();
    }
    let mut hub = dev.hub.lock();
    let Some(s) = hub.session(ctx_session(ctx)) else {
        return EINVAL.to_errno();
    };
    let (f, _) = s.dec.capture_format();
    let (x, y, w, h) = match sel.target {
        // The visible picture (dev-decoder.rst, "Capture Setup" step 2).
        b::V4L2_SEL_TGT_COMPOSE | b::V4L2_SEL_TGT_COMPOSE_DEFAULT => {
            (f.visible.x, f.visible.y, f.visible.width, f.visible.height)
        }
        // The whole buffer: the daemon writes decoded padding too, and the padded and
        // default rectangles must lie inside the bounds.
        b::V4L2_SEL_TGT_COMPOSE_BOUNDS | b::V4L2_SEL_TGT_COMPOSE_PADDED => {
            (0, 0, f.width, f.height)
        }
        _ => return EINVAL.to_errno(),
    };
    sel.r.left = x as i32;
    sel.r.top = y as i32;
    sel.r.width = w;
    sel.r.height = h;
    0
}

unsafe extern "C" fn subscribe_event(
    fh: *mut b::v4l2_fh,
    sub: *const b::v4l2_event_subscription,
) -> c_int {
    // SAFETY: valid pointers from the V4L2 core.
    unsafe {
        match (*sub).type_ {
            b::V4L2_EVENT_EOS => b::v4l2_event_subscribe(fh, sub, 2, ptr::null()),
            b::V4L2_EVENT_SOURCE_CHANGE => b::v4l2_src_change_event_subscribe(fh, sub),
            _ => b::v4l2_ctrl_subscribe_event(fh, sub),
        }
    }
}

unsafe extern "C" fn decoder_cmd(
    file: *mut b::file,
    p: *mut c_void,
    cmd: *mut b::v4l2_decoder_cmd,
) -> c_int {
    // SAFETY: same arguments as ours; it validates the command and its flags.
    let r = unsafe { b::v4l2_m2m_ioctl_try_decoder_cmd(file, p, cmd) };
    if r != 0 {
        return r;
    }
    let dev = device();
    let ctx = ctx_of_file(file);
    // SAFETY: validated above.
    let c = if unsafe { (*cmd).cmd } == b::V4L2_DEC_CMD_STOP {
        DecCmd::Stop
    } else {
        DecCmd::Start
    };
    let mut hub = dev.hub.lock();
    let r = match hub.with_session(ctx_session(ctx), |d, s| d.decoder_cmd(c, s)) {
        Some(Ok(())) => 0,
        Some(Err(e)) => errno(e),
        None => EINVAL.to_errno(),
    };
    drop(hub);
    wake(dev);
    r
}

/// Fills the operation tables of `dev` (called once at module init, before registration).
pub(crate) fn fill_ops(dev: &Device, owner: *mut b::module) {
    let raw = dev.raw();
    // SAFETY: the tables are zeroed fields of the device, not yet visible to the kernel.
    unsafe {
        let f = &mut (*raw).v4l2_fops;
        f.owner = owner;
        f.open = Some(video_open);
        f.release = Some(video_release);
        f.poll = Some(b::v4l2_m2m_fop_poll);
        f.unlocked_ioctl = Some(b::video_ioctl2);
        f.mmap = Some(b::v4l2_m2m_fop_mmap);

        let o = &mut (*raw).ioctl_ops;
        o.vidioc_querycap = Some(querycap);
        o.vidioc_enum_fmt_vid_cap = Some(enum_fmt_cap);
        o.vidioc_enum_fmt_vid_out = Some(enum_fmt_out);
        o.vidioc_g_fmt_vid_cap_mplane = Some(g_fmt_cap);
        o.vidioc_try_fmt_vid_cap_mplane = Some(try_fmt_cap);
        o.vidioc_s_fmt_vid_cap_mplane = Some(s_fmt_cap);
        o.vidioc_g_fmt_vid_out_mplane = Some(g_fmt_out);
        o.vidioc_try_fmt_vid_out_mplane = Some(try_fmt_out);
        o.vidioc_s_fmt_vid_out_mplane = Some(s_fmt_out);
        o.vidioc_enum_framesizes = Some(enum_framesizes);
        o.vidioc_g_selection = Some(g_selection);
        o.vidioc_reqbufs = Some(b::v4l2_m2m_ioctl_reqbufs);
        o.vidioc_create_bufs = Some(b::v4l2_m2m_ioctl_create_bufs);
        o.vidioc_remove_bufs = Some(b::v4l2_m2m_ioctl_remove_bufs);
        o.vidioc_querybuf = Some(b::v4l2_m2m_ioctl_querybuf);
        o.vidioc_qbuf = Some(b::v4l2_m2m_ioctl_qbuf);
        o.vidioc_dqbuf = Some(b::v4l2_m2m_ioctl_dqbuf);
        o.vidioc_prepare_buf = Some(b::v4l2_m2m_ioctl_prepare_buf);
        o.vidioc_expbuf = Some(b::v4l2_m2m_ioctl_expbuf);
        o.vidioc_streamon = Some(b::v4l2_m2m_ioctl_streamon);
        o.vidioc_streamoff = Some(b::v4l2_m2m_ioctl_streamoff);
        o.vidioc_try_decoder_cmd = Some(b::v4l2_m2m_ioctl_try_decoder_cmd);
        o.vidioc_decoder_cmd = Some(decoder_cmd);
        o.vidioc_subscribe_event = Some(subscribe_event);
        o.vidioc_unsubscribe_event = Some(b::v4l2_event_unsubscribe);

        let v = &mut (*raw).vb2_ops;
        v.queue_setup = Some(queue_setup);
        v.buf_out_validate = Some(buf_out_validate);
        v.buf_init = Some(buf_init);
        v.buf_prepare = Some(buf_prepare);
        v.buf_queue = Some(buf_queue);
        v.buf_finish = Some(buf_finish);
        v.buf_cleanup = Some(buf_cleanup);
        v.start_streaming = Some(start_streaming);
        v.stop_streaming = Some(stop_streaming);
        v.wait_prepare = Some(b::vb2_ops_wait_prepare);
        v.wait_finish = Some(b::vb2_ops_wait_finish);

        let m = &mut (*raw).m2m_ops;
        m.device_run = Some(device_run);
        m.job_ready = Some(job_ready);
    }
}
