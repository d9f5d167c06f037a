// SPDX-License-Identifier: GPL-2.0
//! daedalus: a V4L2 memory-to-memory *stateful* video decoder (`/dev/videoN`, with a media
//! controller device) whose decoding is done by the daedalus daemon, reached through the
//! root-only character device `/dev/daedalus`.
//!
//! - `core/` (crate `daedalus_kmod_core`) decides: the stateful decoder sequences, buffer
//!   ownership, cookies, what a lost daemon means. It is host-tested with `cargo test`.
//! - `../proto` (crate `daedalus_proto`) is the wire format shared with the daemon.
//! - This crate is the FFI: [`v4l2`] for the video node, [`hub`] for the daemon link.

use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::prelude::*;
use kernel::sync::{new_condvar, new_mutex, CondVar, Mutex};
use kernel::types::Opaque;
use kernel::{c_str, str::CStr};

mod bindings;
mod hub;
mod v4l2;

use bindings as b;

module! {
    type: Daedalus,
    name: "daedalus",
    author: "daedalus developers",
    description: "V4L2 stateful video decoder backed by the daedalus decode daemon",
    license: "GPL",
}

/// The C objects of the device, zero-initialised and at a fixed address from module init to
/// module exit.
#[repr(C)]
pub(crate) struct Raw {
    v4l2_dev: b::v4l2_device,
    mdev: b::media_device,
    pub(crate) vfd: b::video_device,
    misc: b::miscdevice,
    /// The video node's and both vb2 queues' lock.
    pub(crate) lock: b::mutex,
    /// Readers and pollers of `/dev/daedalus`.
    pub(crate) daemon_wq: b::wait_queue_head,
    pub(crate) watchdog: b::delayed_work,
    pub(crate) v4l2_fops: b::v4l2_file_operations,
    pub(crate) ioctl_ops: b::v4l2_ioctl_ops,
    misc_fops: b::file_operations,
    pub(crate) vb2_ops: b::vb2_ops,
    pub(crate) m2m_ops: b::v4l2_m2m_ops,
    pub(crate) m2m_dev: *mut b::v4l2_m2m_dev,
    pdev: *mut b::platform_device,
    /// How far `register` got, for `drop` to undo exactly that.
    stage: u32,
}

#[pin_data]
pub(crate) struct Device {
    #[pin]
    pub(crate) hub: Mutex<hub::Hub>,
    /// Signalled whenever the hub changes (a message for the daemon, a flush finished, the
    /// daemon went away).
    #[pin]
    pub(crate) changed: CondVar,
    #[pin]
    raw: Opaque<Raw>,
    /// Identifies this load of the module in its `Hello`.
    pub(crate) instance: u64,
}

// SAFETY: the C objects in `raw` are protected by their own kernel locks (the video device
// mutex, the V4L2 core's locks) or only touched at init and exit; the Rust state is in `hub`.
unsafe impl Send for Device {}
// SAFETY: as above.
unsafe impl Sync for Device {}

impl Device {
    pub(crate) fn raw(&self) -> *mut Raw {
        self.raw.get()
    }
}

/// The device, for C callbacks that carry no context pointer of ours. Set before anything
/// is registered, cleared after everything is unregistered.
static DEVICE: AtomicPtr<Device> = AtomicPtr::new(core::ptr::null_mut());

pub(crate) fn device() -> &'static Device {
    // SAFETY: callbacks only run while the device is registered, i.e. between the store in
    // `init` and the unregistration in `drop`, and the device does not move (pinned box).
    unsafe { &*DEVICE.load(Ordering::Acquire) }
}

struct Daedalus {
    dev: Pin<KBox<Device>>,
}

fn check(what: &CStr, r: core::ffi::c_int) -> Result {
    if r < 0 {
        pr_err!("daedalus: {} failed: {}\n", what, r);
        return Err(Error::from_errno(r));
    }
    Ok(())
}

fn copy_cstr(dst: &mut [core::ffi::c_char], s: &[u8]) {
    let n = s.len().min(dst.len() - 1);
    for (d, c) in dst.iter_mut().zip(&s[..n]) {
        *d = *c as core::ffi::c_char;
    }
    dst[n] = 0;
}

impl kernel::Module for Daedalus {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: reads the jiffies counter.
        let instance = u64::from(unsafe { b::daedalus_shim_jiffies() }) | 1;
        let hub_state = hub::Hub::new()?;
        let dev = KBox::pin_init(
            pin_init!(Device {
                hub <- new_mutex!(hub_state, "daedalus_hub"),
                changed <- new_condvar!("daedalus_changed"),
                raw <- Opaque::ffi_init(|p: *mut Raw| {
                    // SAFETY: `p` points at uninitialised memory for a `Raw`, all of whose
                    // fields are valid when zeroed.
                    unsafe { core::ptr::write_bytes(p, 0, 1) }
                }),
                instance,
            }),
            GFP_KERNEL,
        )?;
        let raw = dev.raw();
        // SAFETY: a function returning a constant.
        let owner = unsafe { b::daedalus_shim_this_module() };
        v4l2::fill_ops(&dev, owner);
        // SAFETY: `raw` is zeroed, pinned, and not yet visible to the kernel.
        unsafe {
            (*raw).misc_fops.owner = owner;
            (*raw).misc_fops.open = Some(hub::daemon_open);
            (*raw).misc_fops.release = Some(hub::daemon_release);
            (*raw).misc_fops.read = Some(hub::daemon_read);
            (*raw).misc_fops.write = Some(hub::daemon_write);
            (*raw).misc_fops.poll = Some(hub::daemon_poll);
            (*raw).misc_fops.unlocked_ioctl = Some(hub::daemon_ioctl);
            (*raw).misc_fops.llseek = Some(b::noop_llseek);
            b::daedalus_shim_mutex_init(&raw mut (*raw).lock);
            b::daedalus_shim_init_waitqueue_head(&raw mut (*raw).daemon_wq);
            b::daedalus_shim_init_delayed_work(&raw mut (*raw).watchdog, Some(hub::watchdog));
        }
        DEVICE.store(&*dev as *const Device as *mut Device, Ordering::Release);
        let this = Daedalus { dev };
        // On error, `this` is dropped and `Drop` undoes whatever was registered.
        this.register()?;
        Ok(this)
    }
}

impl Daedalus {
    fn register(&self) -> Result {
        let raw = self.dev.raw();
        // SAFETY: registration of the zeroed, pinned C objects in `raw`, in the order
        // vicodec uses; every pointer stored points into `raw`, which outlives them.
        unsafe {
            let pdev = b::daedalus_shim_platform_device_register_simple(
                c_str!("daedalus").as_char_ptr().cast(),
            );
            if b::daedalus_shim_is_err_or_null(pdev as *const c_void) {
                (*raw).pdev = core::ptr::null_mut();
                return Err(ENODEV);
            }
            (*raw).pdev = pdev;
            (*raw).stage = 1;
            let parent = &raw mut (*pdev).dev;
            // Named up front: v4l2_device_register would derive the name from the parent's
            // driver, and this platform device has none bound.
            copy_cstr(&mut (*raw).v4l2_dev.name, b"daedalus");
            check(
                c_str!("v4l2_device_register"),
                b::v4l2_device_register(parent, &raw mut (*raw).v4l2_dev),
            )?;
            let mdev = &raw mut (*raw).mdev;
            (*mdev).dev = parent;
            // Both named explicitly: the media core falls back to the parent's driver,
            // which this platform device does not have.
            copy_cstr(&mut (*mdev).driver_name, b"daedalus");
            copy_cstr(&mut (*mdev).model, b"daedalus");
            copy_cstr(&mut (*mdev).bus_info, b"platform:daedalus");
            b::media_device_init(mdev);
            (*raw).v4l2_dev.mdev = mdev;
            (*raw).stage = 2;

            let m2m = b::v4l2_m2m_init(&raw const (*raw).m2m_ops);
            if b::daedalus_shim_is_err_or_null(m2m as *const c_void) {
                return Err(ENOMEM);
            }
            (*raw).m2m_dev = m2m;
            (*raw).stage = 3;

            let vfd = &raw mut (*raw).vfd;
            copy_cstr(&mut (*vfd).name, b"daedalus-dec");
            (*vfd).fops = &raw const (*raw).v4l2_fops;
            (*vfd).ioctl_ops = &raw const (*raw).ioctl_ops;
            (*vfd).release = Some(b::video_device_release_empty);
            (*vfd).lock = &raw mut (*raw).lock;
            (*vfd).v4l2_dev = &raw mut (*raw).v4l2_dev;
            (*vfd).vfl_dir = b::vfl_devnode_direction_VFL_DIR_M2M;
            (*vfd).device_caps = b::V4L2_CAP_VIDEO_M2M_MPLANE | b::V4L2_CAP_STREAMING;
            check(
                c_str!("video_register_device"),
                b::__video_register_device(
                    vfd,
                    b::vfl_devnode_type_VFL_TYPE_VIDEO,
                    -1,
                    1,
                    b::daedalus_shim_this_module(),
                ),
            )?;
            (*raw).stage = 4;
            check(
                c_str!("v4l2_m2m_register_media_controller"),
                b::v4l2_m2m_register_media_controller(
                    m2m,
                    vfd,
                    b::MEDIA_ENT_F_PROC_VIDEO_DECODER as core::ffi::c_int,
                ),
            )?;
            (*raw).stage = 5;
            check(
                c_str!("media_device_register"),
                b::__media_device_register(mdev, b::daedalus_shim_this_module()),
            )?;
            (*raw).stage = 6;

            let misc = &raw mut (*raw).misc;
            (*misc).minor = b::MISC_DYNAMIC_MINOR as core::ffi::c_int;
            (*misc).name = c_str!("daedalus").as_char_ptr().cast();
            (*misc).fops = &raw const (*raw).misc_fops;
            // Root only: the daemon sees every stream's data.
            (*misc).mode = 0o600;
            check(c_str!("misc_register"), b::misc_register(misc))?;
            (*raw).stage = 7;

            b::daedalus_shim_schedule_delayed_work(
                &raw mut (*raw).watchdog,
                b::daedalus_shim_msecs_to_jiffies(hub::WATCHDOG_MS),
            );
            pr_info!(
                "daedalus: /dev/video{} ready; waiting for the daemon on /dev/daedalus\n",
                (*vfd).num
            );
        }
        Ok(())
    }
}

impl Drop for Daedalus {
    fn drop(&mut self) {
        let raw = self.dev.raw();
        self.dev.hub.lock().exiting = true;
        // SAFETY: tears down what `register` set up, in reverse and only as far as it got.
        // No file of ours can be open here: both nodes pin the module.
        unsafe {
            let stage = (*raw).stage;
            b::cancel_delayed_work_sync(&raw mut (*raw).watchdog);
            if stage >= 7 {
                b::misc_deregister(&raw mut (*raw).misc);
            }
            if stage >= 6 {
                b::media_device_unregister(&raw mut (*raw).mdev);
            }
            if stage >= 5 {
                b::v4l2_m2m_unregister_media_controller((*raw).m2m_dev);
            }
            if stage >= 4 {
                b::video_unregister_device(&raw mut (*raw).vfd);
            }
            if stage >= 3 {
                b::v4l2_m2m_release((*raw).m2m_dev);
            }
            if stage >= 2 {
                b::media_device_cleanup(&raw mut (*raw).mdev);
                b::v4l2_device_unregister(&raw mut (*raw).v4l2_dev);
            }
            if stage >= 1 {
                b::platform_device_unregister((*raw).pdev);
            }
        }
        DEVICE.store(core::ptr::null_mut(), Ordering::Release);
        pr_info!("daedalus: unloaded\n");
    }
}
