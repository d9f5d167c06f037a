//! The GPU's identity: what `GET_PARAM` reports on hardware, or what the emulator is configured
//! as. Decoding is pure so that it is tested without a GPU.

use std::fmt;

use crate::Error;

/// The identity of a V3D GPU, decoded from its IDENT registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// V3D major version (7 on a Pi 5, 4 on a Pi 4).
    pub major: u8,
    /// V3D minor version (1 on a Pi 5).
    pub minor: u8,
    /// Hub revision (`HUB_IDENT3[15:8]`); decides the `cfg[4]` encoding (see [`crate::csd`]).
    pub rev: u8,
    /// Slices (`CORE0_IDENT1[7:4]`).
    pub slices: u8,
    /// QPUs per slice (`CORE0_IDENT1[11:8]`).
    pub qpus_per_slice: u8,
    /// VPM size in bytes (`CORE0_IDENT1[31:28]` × 8 KiB).
    pub vpm_size: u32,
    /// The kernel can run compute (CSD) jobs.
    pub supports_csd: bool,
    /// The kernel offers performance monitors.
    pub supports_perfmon: bool,
    /// The kernel accepts the multi-sync submit extension.
    pub supports_multisync: bool,
    /// Counters the device has (`MAX_PERF_COUNTERS`; 0 where the kernel does not say).
    pub max_perf_counters: u32,
}

/// The raw `GET_PARAM` values the identity is decoded from. `None` is a parameter the kernel
/// does not know (it answers `EINVAL`), which means "not supported".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawParams {
    pub hub_ident3: u64,
    pub core0_ident0: u64,
    pub core0_ident1: u64,
    pub supports_csd: Option<u64>,
    pub supports_perfmon: Option<u64>,
    pub supports_multisync: Option<u64>,
    pub max_perf_counters: Option<u64>,
}

impl Identity {
    /// Decodes the identity the way Mesa does (`src/broadcom/common/v3d_device_info.c`):
    /// major = `IDENT0[31:24]`, minor = `IDENT1[3:0]`, slices = `IDENT1[7:4]`, QPUs per slice =
    /// `IDENT1[11:8]`, VPM = `IDENT1[31:28]` × 8 KiB, revision = `HUB_IDENT3[15:8]`.
    pub fn decode(raw: &RawParams) -> Identity {
        let id0 = raw.core0_ident0 as u32;
        let id1 = raw.core0_ident1 as u32;
        Identity {
            major: (id0 >> 24) as u8,
            minor: (id1 & 0xf) as u8,
            rev: ((raw.hub_ident3 as u32 >> 8) & 0xff) as u8,
            slices: ((id1 >> 4) & 0xf) as u8,
            qpus_per_slice: ((id1 >> 8) & 0xf) as u8,
            vpm_size: ((id1 >> 28) & 0xf) * 8192,
            supports_csd: raw.supports_csd.unwrap_or(0) != 0,
            supports_perfmon: raw.supports_perfmon.unwrap_or(0) != 0,
            supports_multisync: raw.supports_multisync.unwrap_or(0) != 0,
            max_perf_counters: raw.max_perf_counters.unwrap_or(0).min(u64::from(u32::MAX)) as u32,
        }
    }

    /// The identity of a Pi 5's V3D 7.1 with 3 slices of 4 QPUs (py-videocore7 README), at
    /// hub revision `rev`. The emulator reports this.
    pub fn pi5(rev: u8) -> Identity {
        Identity {
            major: 7,
            minor: 1,
            rev,
            slices: 3,
            qpus_per_slice: 4,
            vpm_size: 0,
            supports_csd: true,
            supports_perfmon: false,
            supports_multisync: false,
            max_perf_counters: 0,
        }
    }

    /// `major * 10 + minor`, Mesa's `devinfo->ver` (71 on a Pi 5).
    pub fn ver(&self) -> u32 {
        u32::from(self.major) * 10 + u32::from(self.minor)
    }

    /// QPUs in the whole GPU (12 on a Pi 5).
    pub fn qpu_count(&self) -> u32 {
        u32::from(self.slices) * u32::from(self.qpus_per_slice)
    }

    /// Refuses what the runtime cannot drive: a GPU other than V3D 7.1 (the QPU encoding, the
    /// missing accumulators and the `cfg` rules all differ on 4.x), or a kernel without CSD.
    pub fn check_supported(&self, node: &str) -> Result<(), Error> {
        if self.ver() != 71 {
            return Err(Error::UnsupportedGpu {
                node: node.to_string(),
                major: self.major,
                minor: self.minor,
            });
        }
        if !self.supports_csd {
            return Err(Error::NoCompute {
                node: node.to_string(),
            });
        }
        Ok(())
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "V3D {}.{} rev {}, {} QPUs ({} slices x {})",
            self.major,
            self.minor,
            self.rev,
            self.qpu_count(),
            self.slices,
            self.qpus_per_slice
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(id0: u32, id1: u32, hub3: u32, csd: Option<u64>) -> RawParams {
        RawParams {
            hub_ident3: hub3.into(),
            core0_ident0: id0.into(),
            core0_ident1: id1.into(),
            supports_csd: csd,
            ..RawParams::default()
        }
    }

    #[test]
    fn decodes_a_pi5_identity() {
        // IDENT0 = 7 in [31:24]; IDENT1 = VPM 4 (32 KiB), 4 QPUs/slice, 3 slices, minor 1;
        // HUB_IDENT3 revision 6.
        let id = Identity::decode(&raw(0x0744_3356, 0x4000_0431, 0x0000_0600, Some(1)));
        assert_eq!((id.major, id.minor, id.rev), (7, 1, 6));
        assert_eq!((id.slices, id.qpus_per_slice, id.qpu_count()), (3, 4, 12));
        assert_eq!(id.vpm_size, 32 * 1024);
        assert_eq!(id.ver(), 71);
        assert!(id.check_supported("/dev/dri/renderD128").is_ok());
        assert_eq!(id.to_string(), "V3D 7.1 rev 6, 12 QPUs (3 slices x 4)");
    }

    #[test]
    fn refuses_a_pi4() {
        // V3D 4.2: major 4, minor 2, 2 slices x 4 QPUs.
        let id = Identity::decode(&raw(0x0400_0000, 0x0000_0422, 0, Some(1)));
        assert_eq!(id.ver(), 42);
        let e = id.check_supported("/dev/dri/renderD129").unwrap_err();
        assert!(
            matches!(
                e,
                Error::UnsupportedGpu {
                    major: 4,
                    minor: 2,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("4.2"), "{e}");
    }

    #[test]
    fn refuses_a_kernel_without_csd() {
        // Old kernels do not know SUPPORTS_CSD at all (EINVAL, decoded as None).
        for csd in [None, Some(0)] {
            let id = Identity::decode(&raw(0x0700_0000, 0x4000_0431, 0x600, csd));
            let e = id.check_supported("/dev/dri/renderD128").unwrap_err();
            assert!(matches!(e, Error::NoCompute { .. }), "{e}");
        }
    }
}
