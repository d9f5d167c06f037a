//! The kernel's v3d uapi, written by hand for the ioctls the runtime uses.
//!
//! Source of every layout and number: the kernel's `include/uapi/drm/v3d_drm.h` (newest copy:
//! SUBMIT_CSD with `perfmon_id`, `extensions` and `flags`, PERFMON_GET_COUNTER and
//! PERFMON_SET_GLOBAL, params up to CONTEXT_RESET_COUNTER). No system header carries it on
//! Debian bookworm (`linux-libc-dev` has no `drm/`, `libdrm-dev` only `vc4_drm.h`), hence the
//! hand-written structs. The C layout has implicit padding in two places (after `coef[4]` in
//! `drm_v3d_submit_csd`); here it is an explicit field so that `bytemuck::Pod` holds, and the
//! `const` assertions below pin every size and offset to the header's.
//!
//! This module holds data only; the ioctl calls are in `super`.

use std::mem::{offset_of, size_of};

use bytemuck::{Pod, Zeroable};
use rustix::ioctl::{Opcode, opcode};

/// `DRM_IOCTL_BASE` (`'d'`) and `DRM_COMMAND_BASE` from `drm.h`.
const DRM_IOCTL_BASE: u8 = b'd';
const DRM_COMMAND_BASE: u8 = 0x40;

/// `struct drm_v3d_wait_bo`: waits for the last job that used a BO.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct WaitBo {
    pub handle: u32,
    pub pad: u32,
    /// Relative timeout (the kernel converts it with `nsecs_to_jiffies_timeout`).
    pub timeout_ns: u64,
}

/// `struct drm_v3d_create_bo`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct CreateBo {
    pub size: u32,
    /// No flags are defined; must be 0.
    pub flags: u32,
    /// Out: the GEM handle.
    pub handle: u32,
    /// Out: the BO's address in the V3D MMU's space for this fd. Never 0 ("various HW units
    /// treat 0 specially", header comment).
    pub offset: u32,
}

/// `struct drm_v3d_mmap_bo`: gives the fake offset to `mmap` the DRM fd at.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct MmapBo {
    pub handle: u32,
    pub flags: u32,
    pub offset: u64,
}

/// `struct drm_v3d_get_param`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct GetParam {
    pub param: u32,
    pub pad: u32,
    pub value: u64,
}

/// `struct drm_v3d_get_bo_offset`: the GPU address of a BO, e.g. one imported from a dmabuf.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct GetBoOffset {
    pub handle: u32,
    pub offset: u32,
}

/// `struct drm_v3d_submit_csd` (the 88-byte layout; the kernel copies `min(user, kernel)` bytes
/// and zero-fills the rest, so older kernels with the 72-byte struct accept it while
/// `perfmon_id`, `extensions` and `flags` are zero).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct SubmitCsd {
    pub cfg: [u32; 7],
    /// Not used by the kernel for CSD jobs (`v3d_csd_job_run` writes only `cfg`).
    pub coef: [u32; 4],
    /// The C struct's implicit padding before the 8-aligned `bo_handles`.
    pub pad0: u32,
    /// User pointer to `bo_handle_count` u32 GEM handles.
    pub bo_handles: u64,
    pub bo_handle_count: u32,
    pub in_sync: u32,
    pub out_sync: u32,
    pub perfmon_id: u32,
    /// User pointer to the first `drm_v3d_extension` (with `DRM_V3D_SUBMIT_EXTENSION` in
    /// `flags`). Unused: one `in_sync` suffices, since jobs of one fd run in order.
    pub extensions: u64,
    pub flags: u32,
    pub pad: u32,
}

/// `DRM_V3D_MAX_PERF_COUNTERS`: counters per perfmon.
pub const MAX_PERF_COUNTERS: usize = 32;

/// `struct drm_v3d_perfmon_create`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct PerfmonCreate {
    pub id: u32,
    pub ncounters: u32,
    pub counters: [u8; MAX_PERF_COUNTERS],
}

/// `struct drm_v3d_perfmon_destroy`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct PerfmonDestroy {
    pub id: u32,
}

/// `struct drm_v3d_perfmon_get_values`: `values_ptr` receives `ncounters` u64s. No implicit
/// synchronisation (header comment): the caller waits for the jobs first.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct PerfmonGetValues {
    pub id: u32,
    pub pad: u32,
    pub values_ptr: u64,
}

/// `DRM_V3D_PERFCNT_MAX_NAME`, `_MAX_CATEGORY`, `_MAX_DESCRIPTION`.
pub const PERFCNT_MAX_NAME: usize = 64;
pub const PERFCNT_MAX_CATEGORY: usize = 32;
pub const PERFCNT_MAX_DESCRIPTION: usize = 256;

/// `struct drm_v3d_perfmon_get_counter`: the name, category and description of counter
/// `counter` (the V3D 7.1 counters differ from 4.2's deprecated `V3D_PERFCNT_*` enum).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct PerfmonGetCounter {
    pub counter: u8,
    pub name: [u8; PERFCNT_MAX_NAME],
    pub category: [u8; PERFCNT_MAX_CATEGORY],
    pub description: [u8; PERFCNT_MAX_DESCRIPTION],
    pub reserved: [u8; 7],
}

/// `enum drm_v3d_param`, whole, as the header has it (not every parameter is read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
#[allow(dead_code)]
pub enum Param {
    V3dUifcfg = 0,
    HubIdent1 = 1,
    HubIdent2 = 2,
    HubIdent3 = 3,
    Core0Ident0 = 4,
    Core0Ident1 = 5,
    Core0Ident2 = 6,
    SupportsTfu = 7,
    SupportsCsd = 8,
    SupportsCacheFlush = 9,
    SupportsPerfmon = 10,
    SupportsMultisyncExt = 11,
    SupportsCpuQueue = 12,
    MaxPerfCounters = 13,
    SupportsSuperPages = 14,
    GlobalResetCounter = 15,
    ContextResetCounter = 16,
}

const fn cmd(nr: u8) -> u8 {
    DRM_COMMAND_BASE + nr
}

// Request numbers: `DRM_IOWR`/`DRM_IOW(DRM_COMMAND_BASE + DRM_V3D_*, struct ...)`.
pub const IOCTL_WAIT_BO: Opcode = opcode::read_write::<WaitBo>(DRM_IOCTL_BASE, cmd(0x01));
pub const IOCTL_CREATE_BO: Opcode = opcode::read_write::<CreateBo>(DRM_IOCTL_BASE, cmd(0x02));
pub const IOCTL_MMAP_BO: Opcode = opcode::read_write::<MmapBo>(DRM_IOCTL_BASE, cmd(0x03));
pub const IOCTL_GET_PARAM: Opcode = opcode::read_write::<GetParam>(DRM_IOCTL_BASE, cmd(0x04));
pub const IOCTL_GET_BO_OFFSET: Opcode =
    opcode::read_write::<GetBoOffset>(DRM_IOCTL_BASE, cmd(0x05));
/// SUBMIT_CSD is `DRM_IOW`: the kernel writes nothing back.
pub const IOCTL_SUBMIT_CSD: Opcode = opcode::write::<SubmitCsd>(DRM_IOCTL_BASE, cmd(0x07));
pub const IOCTL_PERFMON_CREATE: Opcode =
    opcode::read_write::<PerfmonCreate>(DRM_IOCTL_BASE, cmd(0x08));
pub const IOCTL_PERFMON_DESTROY: Opcode =
    opcode::read_write::<PerfmonDestroy>(DRM_IOCTL_BASE, cmd(0x09));
pub const IOCTL_PERFMON_GET_VALUES: Opcode =
    opcode::read_write::<PerfmonGetValues>(DRM_IOCTL_BASE, cmd(0x0a));
pub const IOCTL_PERFMON_GET_COUNTER: Opcode =
    opcode::read_write::<PerfmonGetCounter>(DRM_IOCTL_BASE, cmd(0x0c));

// Sizes and offsets of the C structs in v3d_drm.h, as a C compiler lays them out for arm64 and
// x86_64 (both LP64 with 8-byte-aligned u64).
const _: () = {
    assert!(size_of::<WaitBo>() == 16);
    assert!(offset_of!(WaitBo, timeout_ns) == 8);
    assert!(size_of::<CreateBo>() == 16);
    assert!(offset_of!(CreateBo, handle) == 8);
    assert!(offset_of!(CreateBo, offset) == 12);
    assert!(size_of::<MmapBo>() == 16);
    assert!(offset_of!(MmapBo, offset) == 8);
    assert!(size_of::<GetParam>() == 16);
    assert!(offset_of!(GetParam, value) == 8);
    assert!(size_of::<GetBoOffset>() == 8);
    assert!(offset_of!(GetBoOffset, offset) == 4);

    assert!(size_of::<SubmitCsd>() == 88);
    assert!(offset_of!(SubmitCsd, cfg) == 0);
    assert!(offset_of!(SubmitCsd, coef) == 28);
    assert!(offset_of!(SubmitCsd, bo_handles) == 48);
    assert!(offset_of!(SubmitCsd, bo_handle_count) == 56);
    assert!(offset_of!(SubmitCsd, in_sync) == 60);
    assert!(offset_of!(SubmitCsd, out_sync) == 64);
    assert!(offset_of!(SubmitCsd, perfmon_id) == 68);
    assert!(offset_of!(SubmitCsd, extensions) == 72);
    assert!(offset_of!(SubmitCsd, flags) == 80);

    assert!(size_of::<PerfmonCreate>() == 40);
    assert!(offset_of!(PerfmonCreate, counters) == 8);
    assert!(size_of::<PerfmonDestroy>() == 4);
    assert!(size_of::<PerfmonGetValues>() == 16);
    assert!(offset_of!(PerfmonGetValues, values_ptr) == 8);
    assert!(size_of::<PerfmonGetCounter>() == 360);
    assert!(offset_of!(PerfmonGetCounter, name) == 1);
    assert!(offset_of!(PerfmonGetCounter, category) == 65);
    assert!(offset_of!(PerfmonGetCounter, description) == 97);
    assert!(offset_of!(PerfmonGetCounter, reserved) == 353);
};

#[cfg(test)]
// `Opcode` is `c_uint` on rustix's raw-syscall backend and `c_ulong` on its libc one.
#[allow(clippy::unnecessary_cast)]
mod tests {
    use super::*;

    /// The Linux `_IOC` encoding, written out independently of rustix: dir in bits 31:30
    /// (1 = write, 2 = read), size in 29:16, type in 15:8, number in 7:0.
    fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
        (dir << 30) | ((size as u32) << 16) | (u32::from(b'd') << 8) | (0x40 + nr)
    }

    #[test]
    fn request_numbers_match_the_header() {
        // Values computed from v3d_drm.h's DRM_IOW/DRM_IOWR definitions (v3d-uapi notes §2).
        let table: [(Opcode, u32); 10] = [
            (IOCTL_WAIT_BO, 0xc010_6441),
            (IOCTL_CREATE_BO, 0xc010_6442),
            (IOCTL_MMAP_BO, 0xc010_6443),
            (IOCTL_GET_PARAM, 0xc010_6444),
            (IOCTL_GET_BO_OFFSET, 0xc008_6445),
            (IOCTL_SUBMIT_CSD, 0x4058_6447),
            (IOCTL_PERFMON_CREATE, 0xc028_6448),
            (IOCTL_PERFMON_DESTROY, 0xc004_6449),
            (IOCTL_PERFMON_GET_VALUES, 0xc010_644a),
            (IOCTL_PERFMON_GET_COUNTER, 0xc168_644c),
        ];
        for (got, want) in table {
            assert_eq!(got as u32, want, "{got:#x} != {want:#x}");
        }
    }

    #[test]
    fn request_numbers_match_an_independent_ioc_encoding() {
        const RW: u32 = 3;
        const W: u32 = 1;
        assert_eq!(IOCTL_WAIT_BO as u32, ioc(RW, 0x01, size_of::<WaitBo>()));
        assert_eq!(
            IOCTL_SUBMIT_CSD as u32,
            ioc(W, 0x07, size_of::<SubmitCsd>())
        );
        assert_eq!(
            IOCTL_PERFMON_GET_COUNTER as u32,
            ioc(RW, 0x0c, size_of::<PerfmonGetCounter>())
        );
        // The pre-perfmon 72-byte SUBMIT_CSD (raspberrypi/linux before the perfmon series)
        // differs only in the size field; the kernel accepts both, we send 88 bytes.
        assert_eq!(ioc(W, 0x07, 72), 0x4048_6447);
    }

    #[test]
    fn submit_csd_bytes_land_where_the_kernel_reads_them() {
        let s = SubmitCsd {
            cfg: [1, 2, 3, 4, 5, 6, 7],
            bo_handles: 0x1122_3344_5566_7788,
            bo_handle_count: 9,
            in_sync: 10,
            out_sync: 11,
            perfmon_id: 12,
            flags: 0x02,
            ..Zeroable::zeroed()
        };
        let b = bytemuck::bytes_of(&s);
        let word = |off: usize| u32::from_le_bytes(b[off..off + 4].try_into().unwrap());
        assert_eq!(word(24), 7);
        assert_eq!(word(44), 0, "padding after coef stays zero");
        assert_eq!(word(48), 0x5566_7788);
        assert_eq!(word(52), 0x1122_3344);
        assert_eq!(word(56), 9);
        assert_eq!(word(64), 11);
        assert_eq!(word(68), 12);
        assert_eq!(word(80), 2);
    }
}
