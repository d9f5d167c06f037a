//! The hardware backend: the kernel's v3d DRM driver, through its ioctls.
//!
//! This module is the only place in the crate with `unsafe`: the ioctls themselves, the
//! `mmap`/`munmap` of buffer objects and the copies through those mappings. Each block says why
//! it is sound. Flow (kernel `v3d_drm.h` and py-videocore7 `src/_videocore7/driver.py`):
//! CREATE_BO gives a handle and a GPU address, MMAP_BO a fake offset to `mmap` the DRM fd at,
//! SUBMIT_CSD queues the job (plus a cache-clean job whose fence lands in `out_sync`), and
//! `DRM_IOCTL_SYNCOBJ_WAIT` on that syncobj waits for it.
#![allow(unsafe_code)]

pub(crate) mod uapi;

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

use bytemuck::{Pod, Zeroable};
use drm::control::Device as _;
use rustix::io::Errno;
use rustix::ioctl::{Opcode, Setter, Updater, ioctl};
use rustix::mm::{MapFlags, ProtFlags};

use crate::error::{ETIME, Result};
use crate::ident::RawParams;
use crate::{BackendKind, CounterInfo, Error, Identity};
use uapi::Param;

/// Where DRM device nodes live.
const DRI_DIR: &str = "/dev/dri";

/// The DRM driver name of the V3D render node (`drm_driver.name` in the kernel's `v3d_drv.c`).
const DRIVER_NAME: &str = "v3d";

/// An open DRM node. The `drm` crate's traits give the generic ioctls (driver name, GEM close,
/// PRIME import, syncobjs); the v3d ones are below.
struct Card(File);

impl AsFd for Card {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl drm::Device for Card {}
impl drm::control::Device for Card {}

/// Issues a read-write v3d ioctl, retrying on EINTR/EAGAIN as libdrm's `drmIoctl` does.
fn ioctl_rw<const OP: Opcode, T: Pod>(fd: BorrowedFd<'_>, arg: &mut T) -> Result<(), Errno> {
    loop {
        // SAFETY: `OP` is `_IOWR('d', nr, T)` for the struct `T` the kernel expects at that
        // number (request numbers and layouts are checked in `uapi`), so the kernel reads and
        // writes exactly `size_of::<T>()` bytes at `arg`, an exclusive reference valid for the
        // whole call. `T: Pod`, so any bytes the kernel writes are a valid `T`.
        match unsafe { ioctl(fd, Updater::<OP, T>::new(arg)) } {
            Err(Errno::INTR | Errno::AGAIN) => continue,
            r => return r,
        }
    }
}

fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

/// Maps a kernel errno to the runtime's error classes.
fn classify(op: &'static str, node: &str, errno: Errno, size: u64) -> Error {
    let raw = errno.raw_os_error();
    match errno {
        Errno::NOMEM | Errno::NOSPC => Error::OutOfMemory {
            op,
            size,
            errno: raw,
        },
        Errno::INVAL | Errno::FAULT | Errno::NOENT | Errno::TOOBIG | Errno::BADF => {
            Error::InvalidArgument {
                op,
                detail: format!("the kernel refused it ({errno})"),
                errno: raw,
            }
        }
        Errno::NODEV | Errno::IO | Errno::NXIO | Errno::CANCELED => Error::DeviceLost {
            op,
            errno: raw,
            message: errno.to_string(),
        },
        Errno::ACCESS | Errno::PERM => Error::Permission {
            node: node.to_string(),
            errno: raw,
        },
        _ => Error::Device {
            op,
            node: node.to_string(),
            errno: raw,
            message: errno.to_string(),
        },
    }
}

/// The v3d device: an open render node and its identity.
pub(crate) struct HwDevice {
    card: Card,
    node: String,
    ident: Identity,
    /// `CONTEXT_RESET_COUNTER` is known to this kernel: a job's hang is then detectable.
    has_reset_counter: bool,
}

impl HwDevice {
    /// Finds and opens the v3d node: render nodes first (they accept every ioctl used here
    /// without DRM master), then primary nodes, each identified by its driver name. Node
    /// numbers are not stable across boots or kernels, so none is assumed.
    pub(crate) fn open() -> Result<HwDevice> {
        let nodes = candidate_nodes(match std::fs::read_dir(DRI_DIR) {
            Ok(dir) => dir.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => Vec::new(),
        });
        let mut searched = Vec::new();
        for path in &nodes {
            let shown = path.display().to_string();
            // std opens with O_CLOEXEC, so the fd does not leak into child processes.
            match OpenOptions::new().read(true).write(true).open(path) {
                Ok(file) => {
                    let card = Card(file);
                    let driver = drm::Device::get_driver(&card)
                        .map(|d| d.name().to_string_lossy().into_owned())
                        .unwrap_or_else(|e| format!("unknown: {e}"));
                    if driver == DRIVER_NAME {
                        return HwDevice::identify(card, shown);
                    }
                    searched.push(format!("{shown} ({driver})"));
                }
                Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                    // Without access the driver name can still be read from sysfs; a v3d node
                    // we may not open is a permission problem, not a missing GPU.
                    if sysfs_driver(path).as_deref() == Some(DRIVER_NAME) {
                        return Err(Error::Permission {
                            node: shown,
                            errno: errno_of(&e),
                        });
                    }
                    searched.push(format!("{shown} (permission denied)"));
                }
                Err(e) => searched.push(format!("{shown} ({e})")),
            }
        }
        Err(Error::NoDevice {
            searched: if searched.is_empty() {
                format!("{DRI_DIR} (no DRM nodes there)")
            } else {
                searched.join(", ")
            },
        })
    }

    fn identify(card: Card, node: String) -> Result<HwDevice> {
        let mut dev = HwDevice {
            card,
            node,
            ident: Identity::pi5(0),
            has_reset_counter: false,
        };
        let required = |dev: &HwDevice, p: Param| -> Result<u64> {
            dev.get_param(p)?.ok_or_else(|| Error::Device {
                op: "GET_PARAM",
                node: dev.node.clone(),
                errno: Errno::INVAL.raw_os_error(),
                message: format!("the kernel does not report {p:?}"),
            })
        };
        let raw = RawParams {
            hub_ident3: required(&dev, Param::HubIdent3)?,
            core0_ident0: required(&dev, Param::Core0Ident0)?,
            core0_ident1: required(&dev, Param::Core0Ident1)?,
            supports_csd: dev.get_param(Param::SupportsCsd)?,
            supports_perfmon: dev.get_param(Param::SupportsPerfmon)?,
            supports_multisync: dev.get_param(Param::SupportsMultisyncExt)?,
            max_perf_counters: dev.get_param(Param::MaxPerfCounters)?,
        };
        dev.ident = Identity::decode(&raw);
        dev.ident.check_supported(&dev.node)?;
        dev.has_reset_counter = dev.get_param(Param::ContextResetCounter)?.is_some();
        tracing::debug!(node = %dev.node, ident = %dev.ident, "opened v3d device");
        Ok(dev)
    }

    pub(crate) fn identity(&self) -> Identity {
        self.ident
    }

    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    /// One `GET_PARAM`; `None` when the kernel does not know the parameter (`EINVAL`).
    fn get_param(&self, param: Param) -> Result<Option<u64>> {
        let mut arg = uapi::GetParam {
            param: param as u32,
            ..Zeroable::zeroed()
        };
        match ioctl_rw::<{ uapi::IOCTL_GET_PARAM }, _>(self.card.as_fd(), &mut arg) {
            Ok(()) => Ok(Some(arg.value)),
            Err(Errno::INVAL) => Ok(None),
            Err(e) => Err(classify("GET_PARAM", &self.node, e, 0)),
        }
    }

    /// Resets of the GPU seen by this fd's jobs, where the kernel counts them.
    pub(crate) fn reset_counter(&self) -> Option<u64> {
        if !self.has_reset_counter {
            return None;
        }
        self.get_param(Param::ContextResetCounter).ok().flatten()
    }

    /// Creates and maps a buffer object of `size` bytes (the kernel rounds up to pages).
    pub(crate) fn create_bo(self: &Arc<Self>, size: u32) -> Result<HwBo> {
        let mut arg = uapi::CreateBo {
            size,
            ..Zeroable::zeroed()
        };
        ioctl_rw::<{ uapi::IOCTL_CREATE_BO }, _>(self.card.as_fd(), &mut arg)
            .map_err(|e| classify("CREATE_BO", &self.node, e, size.into()))?;
        let mut bo = HwBo {
            dev: Arc::clone(self),
            handle: arg.handle,
            addr: arg.offset,
            size: size as usize,
            map: None,
        };
        bo.map = Some(self.mmap_bo(bo.handle, bo.size)?);
        Ok(bo)
    }

    /// Imports a dmabuf (e.g. a V4L2 CAPTURE buffer exported with `VIDIOC_EXPBUF`) so kernels
    /// can read and write it in place: PRIME import, then `GET_BO_OFFSET` for its GPU address.
    pub(crate) fn import_dmabuf(self: &Arc<Self>, fd: BorrowedFd<'_>) -> Result<HwBo> {
        // A dmabuf's size is its file size (dma-buf's llseek supports SEEK_END only for this).
        let size = rustix::fs::seek(fd, rustix::fs::SeekFrom::End(0))
            .map_err(|e| classify("dmabuf size (lseek)", &self.node, e, 0))?;
        let size = u32::try_from(size).map_err(|_| Error::InvalidArgument {
            op: "import dmabuf",
            detail: format!("the dmabuf is {size} bytes; V3D addresses 32 bits"),
            errno: Errno::INVAL.raw_os_error(),
        })?;
        let handle: u32 = self
            .card
            .prime_fd_to_buffer(fd)
            .map_err(|e| {
                classify(
                    "PRIME_FD_TO_HANDLE",
                    &self.node,
                    Errno::from_io_error(&e).unwrap_or(Errno::INVAL),
                    size.into(),
                )
            })?
            .into();
        let mut bo = HwBo {
            dev: Arc::clone(self),
            handle,
            addr: 0,
            size: size as usize,
            map: None,
        };
        let mut arg = uapi::GetBoOffset {
            handle,
            ..Zeroable::zeroed()
        };
        ioctl_rw::<{ uapi::IOCTL_GET_BO_OFFSET }, _>(self.card.as_fd(), &mut arg)
            .map_err(|e| classify("GET_BO_OFFSET", &self.node, e, size.into()))?;
        bo.addr = arg.offset;
        // CPU access to an imported buffer goes through the exporter's mmap; if that is not
        // offered the buffer is still usable by kernels, and CPU access reports it.
        bo.map = self.mmap_bo(handle, bo.size).ok();
        Ok(bo)
    }

    fn mmap_bo(&self, handle: u32, len: usize) -> Result<Mapping> {
        let mut arg = uapi::MmapBo {
            handle,
            ..Zeroable::zeroed()
        };
        ioctl_rw::<{ uapi::IOCTL_MMAP_BO }, _>(self.card.as_fd(), &mut arg)
            .map_err(|e| classify("MMAP_BO", &self.node, e, len as u64))?;
        // SAFETY: a fresh shared mapping at an address the kernel picks (null hint), so it
        // aliases no Rust object; `arg.offset` is the fake offset the kernel made for exactly
        // this BO and `len` is at most the BO's size. It is unmapped once, in `Mapping::drop`.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                self.card.as_fd(),
                arg.offset,
            )
        }
        .map_err(|e| classify("mmap", &self.node, e, len as u64))?;
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| Error::Device {
            op: "mmap",
            node: self.node.clone(),
            errno: 0,
            message: "the kernel returned a null mapping".into(),
        })?;
        Ok(Mapping { ptr, len })
    }

    fn close_bo(&self, handle: u32) {
        if let Some(h) = drm::control::from_u32::<drm::buffer::Handle>(handle)
            && let Err(e) = self.card.close_buffer(h)
        {
            tracing::warn!(node = %self.node, handle, error = %e, "GEM_CLOSE failed");
        }
    }

    /// Waits for the last job using `handle` (`WAIT_BO`, relative timeout). The kernel
    /// writes the time left back into `timeout_ns` and answers `EAGAIN` when it woke early
    /// (`v3d_wait_bo_ioctl`), so `ioctl_rw`'s retry continues with the remaining time and
    /// `ETIME` means the whole timeout passed.
    pub(crate) fn wait_bo(&self, handle: u32, timeout: Duration) -> Result<(), Errno> {
        let mut arg = uapi::WaitBo {
            handle,
            pad: 0,
            timeout_ns: u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX),
        };
        ioctl_rw::<{ uapi::IOCTL_WAIT_BO }, _>(self.card.as_fd(), &mut arg)
    }

    /// Queues one CSD job after `in_sync` (a syncobj, or 0). Returns the syncobj its
    /// completion is signalled on: the kernel attaches it to the cache-clean job it queues
    /// behind every CSD job, so once it signals the TMU writes are in memory.
    pub(crate) fn submit_csd(
        &self,
        cfg: [u32; 7],
        bo_handles: &[u32],
        in_sync: u32,
        perfmon_id: u32,
    ) -> Result<u32> {
        let out: u32 = self
            .card
            .create_syncobj(false)
            .map_err(|e| {
                classify(
                    "SYNCOBJ_CREATE",
                    &self.node,
                    Errno::from_io_error(&e).unwrap_or(Errno::INVAL),
                    0,
                )
            })?
            .into();
        let args = uapi::SubmitCsd {
            cfg,
            bo_handles: bo_handles.as_ptr() as u64,
            bo_handle_count: bo_handles.len() as u32,
            in_sync,
            out_sync: out,
            perfmon_id,
            ..Zeroable::zeroed()
        };
        let r = loop {
            // SAFETY: SUBMIT_CSD is `_IOW('d', 0x47, struct drm_v3d_submit_csd)` (checked in
            // `uapi`); the kernel copies the 88-byte struct in and reads `bo_handle_count`
            // u32s at `bo_handles`, a borrowed slice of exactly that length that outlives the
            // call. `extensions` is 0, so no other user pointer is followed.
            match unsafe {
                ioctl(
                    self.card.as_fd(),
                    Setter::<{ uapi::IOCTL_SUBMIT_CSD }, uapi::SubmitCsd>::new(args),
                )
            } {
                Err(Errno::INTR | Errno::AGAIN) => continue,
                r => break r,
            }
        };
        if let Err(e) = r {
            self.destroy_syncobj(out);
            return Err(classify("SUBMIT_CSD", &self.node, e, 0));
        }
        Ok(out)
    }

    /// Exports a syncobj's fence as a sync_file, which `poll` reports readable once the job
    /// is done (to wait for GPU jobs and V4L2 buffers in one loop).
    pub(crate) fn syncobj_sync_file(&self, handle: u32) -> Result<std::os::fd::OwnedFd> {
        let h = drm::control::from_u32::<drm::control::syncobj::Handle>(handle).ok_or(
            Error::InvalidArgument {
                op: "SYNCOBJ_HANDLE_TO_FD",
                detail: "syncobj handle 0".into(),
                errno: Errno::INVAL.raw_os_error(),
            },
        )?;
        self.card.syncobj_to_fd(h, true).map_err(|e| {
            classify(
                "SYNCOBJ_HANDLE_TO_FD",
                &self.node,
                Errno::from_io_error(&e).unwrap_or(Errno::INVAL),
                0,
            )
        })
    }

    /// Waits for a syncobj to signal, `timeout` from now.
    pub(crate) fn wait_syncobj(&self, handle: u32, timeout: Duration) -> Result<(), Errno> {
        let Some(h) = drm::control::from_u32::<drm::control::syncobj::Handle>(handle) else {
            return Err(Errno::INVAL);
        };
        // DRM_IOCTL_SYNCOBJ_WAIT takes an absolute CLOCK_MONOTONIC deadline.
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let now_ns = (now.tv_sec as i128) * 1_000_000_000 + now.tv_nsec as i128;
        let deadline = (now_ns + timeout.as_nanos() as i128).min(i64::MAX as i128) as i64;
        loop {
            match self.card.syncobj_wait(&[h], deadline, true, false) {
                Ok(_) => return Ok(()),
                Err(e) => match Errno::from_io_error(&e) {
                    Some(Errno::INTR | Errno::AGAIN) => continue,
                    Some(e) => return Err(e),
                    None => return Err(Errno::IO),
                },
            }
        }
    }

    pub(crate) fn destroy_syncobj(&self, handle: u32) {
        if let Some(h) = drm::control::from_u32::<drm::control::syncobj::Handle>(handle)
            && let Err(e) = self.card.destroy_syncobj(h)
        {
            tracing::warn!(node = %self.node, handle, error = %e, "SYNCOBJ_DESTROY failed");
        }
    }

    /// Creates a perfmon counting `counters` (indices from [`Self::counter_info`]).
    pub(crate) fn perfmon_create(&self, counters: &[u8]) -> Result<u32> {
        if !self.ident.supports_perfmon {
            return Err(Error::Unsupported {
                what: "performance counters",
                backend: BackendKind::Hardware,
                why: "this kernel has no perfmon support (SUPPORTS_PERFMON is 0 or unknown)",
            });
        }
        if counters.is_empty() || counters.len() > uapi::MAX_PERF_COUNTERS {
            return Err(Error::InvalidArgument {
                op: "PERFMON_CREATE",
                detail: format!(
                    "{} counters requested; a perfmon counts 1 to {}",
                    counters.len(),
                    uapi::MAX_PERF_COUNTERS
                ),
                errno: Errno::INVAL.raw_os_error(),
            });
        }
        let mut arg = uapi::PerfmonCreate {
            ncounters: counters.len() as u32,
            ..Zeroable::zeroed()
        };
        arg.counters[..counters.len()].copy_from_slice(counters);
        ioctl_rw::<{ uapi::IOCTL_PERFMON_CREATE }, _>(self.card.as_fd(), &mut arg)
            .map_err(|e| classify("PERFMON_CREATE", &self.node, e, 0))?;
        Ok(arg.id)
    }

    /// Reads a perfmon's values. The kernel does not synchronise: wait for the jobs first.
    pub(crate) fn perfmon_values(&self, id: u32, n: usize) -> Result<Vec<u64>> {
        let mut values = vec![0u64; n.min(uapi::MAX_PERF_COUNTERS)];
        let mut arg = uapi::PerfmonGetValues {
            id,
            pad: 0,
            values_ptr: values.as_mut_ptr() as u64,
        };
        // The kernel writes `ncounters` u64s (the count the perfmon was created with, which is
        // `n`) at `values_ptr`; `values` has room for them and lives across the call.
        ioctl_rw::<{ uapi::IOCTL_PERFMON_GET_VALUES }, _>(self.card.as_fd(), &mut arg)
            .map_err(|e| classify("PERFMON_GET_VALUES", &self.node, e, 0))?;
        Ok(values)
    }

    pub(crate) fn perfmon_destroy(&self, id: u32) {
        let mut arg = uapi::PerfmonDestroy { id };
        if let Err(e) = ioctl_rw::<{ uapi::IOCTL_PERFMON_DESTROY }, _>(self.card.as_fd(), &mut arg)
        {
            tracing::warn!(node = %self.node, id, error = %e, "PERFMON_DESTROY failed");
        }
    }

    /// The name, category and description of counter `index` (PERFMON_GET_COUNTER; V3D 7.1's
    /// counters are numbered differently from the deprecated 4.2 enum in the header).
    pub(crate) fn counter_info(&self, index: u8) -> Result<CounterInfo> {
        let mut arg = uapi::PerfmonGetCounter {
            counter: index,
            ..Zeroable::zeroed()
        };
        ioctl_rw::<{ uapi::IOCTL_PERFMON_GET_COUNTER }, _>(self.card.as_fd(), &mut arg)
            .map_err(|e| classify("PERFMON_GET_COUNTER", &self.node, e, 0))?;
        let text = |b: &[u8]| {
            let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
            String::from_utf8_lossy(&b[..end]).into_owned()
        };
        Ok(CounterInfo {
            index,
            name: text(&arg.name),
            category: text(&arg.category),
            description: text(&arg.description),
        })
    }
}

/// The DRM nodes worth asking, in order: render nodes (every ioctl used here is allowed on
/// them without DRM master), then primary nodes; control nodes and the `by-path` links are
/// left out.
fn candidate_nodes(mut nodes: Vec<PathBuf>) -> Vec<PathBuf> {
    let name = |p: &PathBuf| {
        p.file_name()
            .and_then(OsStr::to_str)
            .unwrap_or("")
            .to_string()
    };
    let number = |n: &str, prefix: &str| n.strip_prefix(prefix).and_then(|d| d.parse::<u32>().ok());
    nodes.retain(|p| {
        let n = name(p);
        number(&n, "renderD").is_some() || number(&n, "card").is_some()
    });
    // Render nodes first, each kind in numeric order (renderD129 before renderD1000).
    nodes.sort_by_key(|p| {
        let n = name(p);
        match number(&n, "renderD") {
            Some(k) => (0, k),
            None => (1, number(&n, "card").unwrap_or(u32::MAX)),
        }
    });
    nodes
}

/// The driver bound to a DRM node, from sysfs (`/sys/class/drm/<node>/device/driver`).
fn sysfs_driver(node: &Path) -> Option<String> {
    let name = node.file_name()?;
    let link =
        std::fs::read_link(Path::new("/sys/class/drm").join(name).join("device/driver")).ok()?;
    Some(link.file_name()?.to_string_lossy().into_owned())
}

/// A CPU mapping of a buffer object.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what `mmap` returned and were given; nothing else
        // unmaps them, and no reference into the mapping outlives the `HwBo` that owns it
        // (slices handed out borrow the `HwBo`).
        if let Err(e) = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) } {
            tracing::warn!(error = %e, "munmap of a buffer object failed");
        }
    }
}

/// A v3d buffer object: GEM handle, GPU address, CPU mapping. Closed on drop; the kernel keeps
/// its own reference for jobs still using it.
pub(crate) struct HwBo {
    dev: Arc<HwDevice>,
    handle: u32,
    addr: u32,
    size: usize,
    map: Option<Mapping>,
}

// SAFETY: the mapping is plain shared memory owned by this object; the CPU accessors take
// `&self` only to read and `&mut self` to write or to hand out a mutable slice, so Rust-side
// accesses follow the usual aliasing rules whichever thread makes them. The DRM fd and handle
// are integers usable from any thread.
unsafe impl Send for HwBo {}
// SAFETY: see `Send`; `&HwBo` allows only reads of the mapping and ioctls on the fd.
unsafe impl Sync for HwBo {}

impl HwBo {
    pub(crate) fn handle(&self) -> u32 {
        self.handle
    }

    pub(crate) fn addr(&self) -> u32 {
        self.addr
    }

    fn mapping(&self) -> Result<&Mapping> {
        self.map.as_ref().ok_or(Error::Unsupported {
            what: "CPU access to this imported dmabuf",
            backend: BackendKind::Hardware,
            why: "its exporter does not allow mapping it through the v3d node",
        })
    }

    /// Copies `out.len()` bytes from offset `offset` (bounds checked by the caller).
    pub(crate) fn read(&self, offset: usize, out: &mut [u8]) -> Result<()> {
        let m = self.mapping()?;
        debug_assert!(offset + out.len() <= m.len);
        // SAFETY: the range lies inside the live mapping (checked by `Buffer`, asserted
        // above); `out` is a distinct Rust buffer, so the regions do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(m.ptr.as_ptr().add(offset), out.as_mut_ptr(), out.len())
        };
        Ok(())
    }

    /// Copies `data` to offset `offset` (bounds checked by the caller).
    pub(crate) fn write(&mut self, offset: usize, data: &[u8]) -> Result<()> {
        let m = self.mapping()?;
        debug_assert!(offset + data.len() <= m.len);
        // SAFETY: as in `read`; `&mut self` excludes any other Rust access to the mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), m.ptr.as_ptr().add(offset), data.len())
        };
        Ok(())
    }

    /// The whole mapping as a slice. The caller has waited for the GPU to finish with the BO
    /// and holds `&mut` of the owning `Buffer`, so no job can be submitted with it meanwhile.
    pub(crate) fn slice_mut(&mut self) -> Result<&mut [u8]> {
        let m = self.mapping()?;
        // SAFETY: the mapping is `len` readable and writable bytes that live as long as `self`;
        // the returned borrow of `self` is exclusive, so no other slice aliases it.
        Ok(unsafe { std::slice::from_raw_parts_mut(m.ptr.as_ptr(), m.len) })
    }

    pub(crate) fn wait_idle(&self, timeout: Duration) -> Result<()> {
        self.dev
            .wait_bo(self.handle, timeout)
            .map_err(|e| wait_error(&self.dev, "WAIT_BO", e, 0, timeout))
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }
}

impl Drop for HwBo {
    fn drop(&mut self) {
        self.map = None;
        self.dev.close_bo(self.handle);
    }
}

/// The error for a failed wait (`SYNCOBJ_WAIT`, `WAIT_BO`) on job `job`.
pub(crate) fn wait_error(
    dev: &HwDevice,
    op: &'static str,
    e: Errno,
    job: u64,
    timeout: Duration,
) -> Error {
    if is_timeout(e) {
        Error::Timeout {
            job,
            timeout,
            errno: e.raw_os_error(),
        }
    } else {
        classify(op, &dev.node, e, 0)
    }
}

/// The errno `DRM_IOCTL_SYNCOBJ_WAIT` uses for an expired timeout.
pub(crate) fn is_timeout(e: Errno) -> bool {
    e.raw_os_error() == ETIME || e == Errno::TIMEDOUT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_nodes_are_asked_first_in_numeric_order() {
        let got = candidate_nodes(
            [
                "card1",
                "renderD1000",
                "by-path",
                "renderD129",
                "controlD64",
                "card0",
                "renderD128",
                "cardx",
            ]
            .iter()
            .map(|n| Path::new("/dev/dri").join(n))
            .collect(),
        );
        let names: Vec<String> = got
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["renderD128", "renderD129", "renderD1000", "card0", "card1"]
        );
    }

    #[test]
    fn kernel_errnos_map_to_the_documented_classes() {
        let node = "/dev/dri/renderD128";
        let e = classify("CREATE_BO", node, Errno::NOMEM, 4096);
        assert!(
            matches!(
                e,
                Error::OutOfMemory {
                    size: 4096,
                    errno: 12,
                    ..
                }
            ),
            "{e}"
        );
        for errno in [Errno::INVAL, Errno::NOENT, Errno::FAULT] {
            let e = classify("SUBMIT_CSD", node, errno, 0);
            assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
            assert_eq!(e.errno(), Some(errno.raw_os_error()));
        }
        let e = classify("SUBMIT_CSD", node, Errno::NODEV, 0);
        assert!(matches!(e, Error::DeviceLost { errno: 19, .. }), "{e}");
        let e = classify("open", node, Errno::ACCESS, 0);
        assert!(e.to_string().contains("render"), "{e}");
        let e = classify("MMAP_BO", node, Errno::BUSY, 0);
        assert!(matches!(e, Error::Device { errno: 16, .. }), "{e}");
        assert!(
            e.to_string().contains("MMAP_BO on /dev/dri/renderD128"),
            "{e}"
        );
        assert!(is_timeout(Errno::from_raw_os_error(ETIME)));
        assert!(!is_timeout(Errno::INTR));
    }
}
