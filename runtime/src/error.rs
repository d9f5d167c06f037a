//! The runtime's errors. Kernel errors keep their errno; the emulator reports the errno the
//! kernel would have returned for the same mistake, so callers handle both backends alike.

use std::time::Duration;

use crate::BackendKind;

/// `ETIME`, what `DRM_IOCTL_SYNCOBJ_WAIT` and `WAIT_BO` return when the timeout expires.
pub const ETIME: i32 = 62;
/// `ENOMEM`.
pub const ENOMEM: i32 = 12;
/// `EINVAL`.
pub const EINVAL: i32 = 22;
/// `EIO`: the kernel's "the GPU was reset under this job" on waits.
pub const EIO: i32 = 5;
/// `EFAULT`: the emulator's errno for an access outside every buffer object (the MMU fault
/// the hardware would raise).
pub const EFAULT: i32 = 14;

/// Everything that can go wrong in the runtime.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `DAEDALUS_BACKEND=hw` (or [`crate::Device::open_hw`]) and no v3d device.
    #[error(
        "no v3d GPU found: looked for a DRM node whose driver is \"v3d\" among {searched}; on a \
         Raspberry Pi 5 check that the v3d driver is loaded (`lsmod | grep v3d`), or unset \
         DAEDALUS_BACKEND to use the emulator"
    )]
    NoDevice {
        /// The nodes that were opened and asked for their driver name.
        searched: String,
    },

    /// The v3d node exists but this user may not open it.
    #[error(
        "cannot open the v3d node {node}: permission denied (errno {errno}); add your user to \
         the `render` group (`sudo usermod -aG render $USER`; `video` on older images) and log \
         in again"
    )]
    Permission { node: String, errno: i32 },

    /// The GPU is not V3D 7.1.
    #[error(
        "{node} is V3D {major}.{minor}; this runtime drives only V3D 7.1 (the Raspberry Pi 5's \
         VideoCore VII), whose QPU code and dispatch rules differ from other versions; set \
         DAEDALUS_BACKEND=sim to use the emulator"
    )]
    UnsupportedGpu { node: String, major: u8, minor: u8 },

    /// The kernel's v3d driver cannot run compute jobs.
    #[error(
        "{node}: the v3d driver does not offer compute (CSD) jobs (SUPPORTS_CSD is 0 or \
         unknown); use a kernel whose v3d driver has CSD support (the Raspberry Pi OS kernels \
         for the Pi 5 do)"
    )]
    NoCompute { node: String },

    /// `DAEDALUS_BACKEND` holds something other than `hw` or `sim`.
    #[error(
        "DAEDALUS_BACKEND is `{value}`; use `hw` (the v3d GPU) or `sim` (the emulator), or unset it to pick automatically"
    )]
    BadBackend { value: String },

    /// Opening or talking to a device node failed in a way not covered by another variant.
    #[error("{op} on {node} failed (errno {errno}): {message}")]
    Device {
        op: &'static str,
        node: String,
        errno: i32,
        message: String,
    },

    /// The GPU (or the emulator's memory) has no room for the allocation.
    #[error(
        "{op}: out of GPU memory for {size} bytes (errno {errno}); free buffers or allocate less"
    )]
    OutOfMemory {
        op: &'static str,
        size: u64,
        errno: i32,
    },

    /// The kernel (or the emulator, for the same mistake) refused an argument.
    #[error("{op}: invalid argument: {detail} (errno {errno})")]
    InvalidArgument {
        op: &'static str,
        detail: String,
        errno: i32,
    },

    /// A dispatch that does not fit the hardware's fields (caught before submission: the
    /// kernel does not validate cfg words, a bad one hangs the GPU).
    #[error("invalid dispatch: {field} is {value}, {reason}")]
    InvalidDispatch {
        field: &'static str,
        value: u64,
        reason: &'static str,
    },

    /// A CPU access outside a buffer.
    #[error("buffer access out of range: {len} bytes at offset {offset} of a {size}-byte buffer")]
    OutOfRange { offset: u64, len: u64, size: u64 },

    /// The job was still running when the wait's timeout expired. It may still finish; wait
    /// again or drop it.
    #[error(
        "{} still running after {timeout:?} (errno {errno}); wait longer, or the kernel may \
         loop forever",
        running(.job)
    )]
    Timeout {
        /// The job waited for; 0 when waiting for whatever jobs use a buffer.
        job: u64,
        timeout: Duration,
        errno: i32,
    },

    /// The job ended abnormally: on hardware the kernel's hang check reset the GPU; on the
    /// emulator the job exceeded its instruction budget.
    #[error("job {job}: GPU hang: {detail} (errno {errno})")]
    GpuHang {
        job: u64,
        detail: String,
        errno: i32,
    },

    /// The kernel faulted (the emulator names the instruction and the address; on hardware
    /// MMU faults are only in the kernel log).
    #[error("job {job}: the QPU program faulted: {detail} (errno {errno})")]
    Fault {
        job: u64,
        detail: String,
        errno: i32,
    },

    /// The device went away (GPU reset lost the context, driver unbound, fd unusable).
    #[error("{op}: the GPU device is lost (errno {errno}): {message}; reopen the device")]
    DeviceLost {
        op: &'static str,
        errno: i32,
        message: String,
    },

    /// The feature needs something this backend or kernel does not have.
    #[error("{what} is not available on the {backend} backend: {why}")]
    Unsupported {
        what: &'static str,
        backend: BackendKind,
        why: &'static str,
    },

    /// An object from one device was passed to another.
    #[error(
        "{what} belongs to another Device; objects can only be used with the Device that made them"
    )]
    ForeignObject { what: &'static str },
}

impl Error {
    /// The errno the kernel returned (or would return), where there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Permission { errno, .. }
            | Error::Device { errno, .. }
            | Error::OutOfMemory { errno, .. }
            | Error::InvalidArgument { errno, .. }
            | Error::Timeout { errno, .. }
            | Error::GpuHang { errno, .. }
            | Error::Fault { errno, .. }
            | Error::DeviceLost { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// True for the errors after which waiting again can succeed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }
}

fn running(job: &u64) -> String {
    match job {
        0 => "the jobs using the buffer are".to_string(),
        j => format!("job {j} is"),
    }
}

/// Result with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_name_what_was_waited_for() {
        let t = Duration::from_millis(5);
        let job = Error::Timeout {
            job: 7,
            timeout: t,
            errno: ETIME,
        };
        assert_eq!(
            job.to_string(),
            "job 7 is still running after 5ms (errno 62); wait longer, or the kernel may loop \
             forever"
        );
        let buf = Error::Timeout {
            job: 0,
            timeout: t,
            errno: ETIME,
        };
        assert!(
            buf.to_string()
                .starts_with("the jobs using the buffer are still running after 5ms"),
            "{buf}"
        );
        assert!(job.is_timeout() && buf.is_timeout());
    }
}
