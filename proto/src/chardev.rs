//! The character device's receive ioctl, shared by the module (`kmod/hub.rs`), the daemon
//! and the VM test peer, so that the number and the argument layout exist once.
//!
//! `DAEDALUS_IOC_RECV` is `_IOWR('D', 1, struct daedalus_recv)`: it copies the next message
//! for the daemon into `buf` (at least [`MAX_MESSAGE_LEN`](crate::MAX_MESSAGE_LEN) bytes),
//! installs the dmabuf that message carries (an `AttachBuffer` of `Dmabuf` memory) as a new
//! close-on-exec descriptor of the caller and returns its number in `fd` (-1 if none), and
//! returns the message length. A plain `read()` of a message that carries a dmabuf fails with
//! `EINVAL`, so a daemon that attaches dmabufs must use the ioctl for every message.

/// The argument of [`IOC_RECV`] (`struct daedalus_recv`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecvArg {
    /// In: user address of the message buffer.
    pub buf: u64,
    /// In: its length, at least `MAX_MESSAGE_LEN`.
    pub len: u32,
    /// Out: the installed descriptor, or -1.
    pub fd: i32,
}

// The ioctl number encodes the size, and the module reads the argument as these 16 bytes;
// a layout change must be a deliberate protocol change.
const _: () = assert!(core::mem::size_of::<RecvArg>() == 16);
const _: () = assert!(core::mem::align_of::<RecvArg>() == 8);
const _: () = assert!(core::mem::offset_of!(RecvArg, len) == 8);
const _: () = assert!(core::mem::offset_of!(RecvArg, fd) == 12);

/// The ioctl type letter.
pub const IOC_TYPE: u8 = b'D';
/// The receive ioctl's number within the type.
pub const IOC_RECV_NR: u8 = 1;

/// `_IOC(dir, type, nr, size)` with the generic layout of `include/uapi/asm-generic/ioctl.h`
/// (x86, arm64: 8 bits nr, 8 bits type, 14 bits size, 2 bits direction; read = 2, write = 1).
const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | ((ty as u32) << 8) | nr as u32
}

/// `DAEDALUS_IOC_RECV` = `_IOWR('D', 1, struct daedalus_recv)` = `0xC0104401`.
pub const IOC_RECV: u32 = ioc(
    2 | 1,
    IOC_TYPE,
    IOC_RECV_NR,
    core::mem::size_of::<RecvArg>(),
);

const _: () = assert!(IOC_RECV == 0xC010_4401);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recv_ioctl_number_and_layout() {
        assert_eq!(IOC_RECV, 0xC010_4401);
        // Direction read|write, size 16, type 'D', number 1, field by field.
        assert_eq!(IOC_RECV >> 30, 3);
        assert_eq!((IOC_RECV >> 16) & 0x3fff, 16);
        assert_eq!((IOC_RECV >> 8) & 0xff, u32::from(b'D'));
        assert_eq!(IOC_RECV & 0xff, 1);
        assert_eq!(core::mem::size_of::<RecvArg>(), 16);
        assert_eq!(core::mem::offset_of!(RecvArg, buf), 0);
    }
}
