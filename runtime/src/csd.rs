//! The seven `cfg` words of a compute (CSD) dispatch, computed by a pure function.
//!
//! Hardware model (Mesa gallium `src/gallium/drivers/v3d/v3dx_draw.c`, `v3d_launch_grid`): a
//! *batch* is 16 invocations (lanes) queued to one QPU thread; a *workgroup* is the shader's
//! local size; a *supergroup* is 1 to 16 workgroups packed together (a TSY barrier syncs a whole
//! supergroup). Field layout: Mesa `src/broadcom/common/v3d_csd.h`.
//!
//! # The `cfg[4]` (number of batches) encoding
//!
//! The kernel's `v3d_rewrite_csd_job_wg_counts_from_indirect` and Mesa's `v3d_launch_grid`
//! agree: "V3D 7.1.6 and later don't subtract 1 from the number of batches", so `cfg[4]` is
//! `num_batches - 1` when `ver < 71 || (ver == 71 && rev < 6)` and `num_batches` otherwise.
//! This module follows that rule with the revision the device reports (`HUB_IDENT3[15:8]`), so
//! the same dispatch is encoded correctly on either silicon. Supporting evidence that Pi 5
//! boards in the field report revision 6 or later: py-videocore7 (hardware-tested on a Pi 5)
//! wrote `thread - 1` until its commit 3b18d71 ("submit multithread job", January 2025)
//! switched to `thread`, removing a "TODO: Why thread is required?" workaround in which tests
//! had to ask for 2 threads to get 1. Older sources that always subtract 1 (igt's
//! `igt_v3d_create_csd_job`, older v3dv snapshots) predate the 7.1.6 fix.

use crate::{Error, Identity};

/// `V3D_CSD_CFG012_WG_COUNT_SHIFT`: the workgroup count lives in bits 31:16 of cfg[0..2], the
/// workgroup offset in bits 15:0.
const CFG012_WG_COUNT_SHIFT: u32 = 16;
/// `V3D_CSD_CFG3_BATCHES_PER_SG_M1_SHIFT` (8 bits).
const CFG3_BATCHES_PER_SG_M1_SHIFT: u32 = 12;
/// `V3D_CSD_CFG3_WGS_PER_SG_SHIFT` (4 bits, "0 means 16").
const CFG3_WGS_PER_SG_SHIFT: u32 = 8;
/// `V3D_CSD_CFG3_WG_SIZE_SHIFT` (8 bits; 256 is written as 0, as Mesa does with `& 0xff`).
const CFG3_WG_SIZE_SHIFT: u32 = 0;
/// `V3D_CSD_CFG5_PROPAGATE_NANS`: Mesa sets it only before V3D 7.1.
const CFG5_PROPAGATE_NANS: u32 = 1 << 2;
/// `V3D_CSD_CFG5_SINGLE_SEG`.
const CFG5_SINGLE_SEG: u32 = 1 << 1;
/// `V3D_CSD_CFG5_THREADING`: Mesa sets it when the shader was compiled for 4 threads per QPU.
const CFG5_THREADING: u32 = 1 << 0;

/// Lanes in a batch: one QPU thread runs 16 invocations.
pub const LANES_PER_BATCH: u32 = 16;
/// The largest workgroup count per dimension: 16 bits (0 would be read as 65536 by the
/// hardware, Iago Toral on dri-devel, so it is never submitted).
pub const MAX_WG_COUNT: u32 = 0xffff;
/// The largest workgroup size (invocations) the 8-bit field can express.
pub const MAX_WG_SIZE: u32 = 256;

/// How workgroups are packed into supergroups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Supergroups {
    /// Mesa's choice (`v3d_csd_choose_workgroups_per_supergroup`): the packing with the fewest
    /// idle lanes, at most half the GPU's threads per supergroup when the program has a TSY
    /// barrier, and one workgroup per supergroup when it uses subgroup operations.
    Mesa {
        has_tsy_barrier: bool,
        has_subgroups: bool,
    },
    /// Exactly this many workgroups per supergroup (1 to 16). For hand-written kernels whose
    /// barrier must span every thread of the dispatch, as py-videocore7's `test_barrier` does
    /// with `wgs_per_sg = thread`.
    Fixed(u32),
}

impl Default for Supergroups {
    fn default() -> Self {
        Supergroups::Mesa {
            has_tsy_barrier: false,
            has_subgroups: false,
        }
    }
}

/// Everything the `cfg` words depend on besides the GPU's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsdParams {
    /// Workgroups in X, Y and Z, each 1 to 65535.
    pub wg_count: [u32; 3],
    /// Invocations per workgroup (local size X × Y × Z), 1 to 256.
    pub wg_size: u32,
    /// Supergroup packing.
    pub supergroups: Supergroups,
    /// Threads per QPU the program was written for: 1, 2 or 4.
    pub threads_per_qpu: u32,
    /// The program fits in one segment (Mesa's `prog_data.single_seg`).
    pub single_seg: bool,
    /// GPU address of the first instruction; 8-byte aligned, because the low 3 bits of `cfg[5]`
    /// are flags.
    pub code_addr: u32,
    /// GPU address of the uniform stream.
    pub uniforms_addr: u32,
}

/// The computed words and the intermediate values, for logging and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsdConfig {
    pub cfg: [u32; 7],
    pub num_batches: u32,
    pub wgs_per_sg: u32,
    pub batches_per_sg: u32,
}

/// Mesa's `v3d_csd_choose_workgroups_per_supergroup` (`src/broadcom/common/v3d_util.c`):
/// the number of workgroups per supergroup, 1 to 16, that leaves the fewest lanes of the last
/// batch idle.
pub fn choose_workgroups_per_supergroup(
    qpu_count: u32,
    has_subgroups: bool,
    has_tsy_barrier: bool,
    threads_per_qpu: u32,
    num_wgs: u64,
    wg_size: u32,
) -> u32 {
    if has_subgroups {
        return 1;
    }
    // 16 workgroups of wg_size lanes, 16 lanes a batch: wg_size batches at most.
    let mut max_batches_per_sg = wg_size;
    if has_tsy_barrier {
        // Threads stall at the barrier until the whole supergroup reaches it; keep at least
        // two supergroups in flight.
        max_batches_per_sg = max_batches_per_sg.min(qpu_count * threads_per_qpu / 2);
    }
    let max_wgs_per_sg = max_batches_per_sg * LANES_PER_BATCH / wg_size;
    let mut best = 1;
    let mut best_unused = LANES_PER_BATCH;
    for wgs in 1..=max_wgs_per_sg {
        if u64::from(wgs) > num_wgs {
            return best;
        }
        let unused = (LANES_PER_BATCH - (wgs * wg_size) % LANES_PER_BATCH) % LANES_PER_BATCH;
        if unused == 0 {
            return wgs;
        }
        if unused < best_unused {
            best = wgs;
            best_unused = unused;
        }
    }
    best
}

/// `cfg[4]` for `num_batches` batches on this GPU (see the module comment).
pub fn encode_num_batches(ident: &Identity, num_batches: u32) -> u32 {
    let ver = ident.ver();
    if ver < 71 || (ver == 71 && ident.rev < 6) {
        num_batches - 1
    } else {
        num_batches
    }
}

fn invalid(field: &'static str, value: u64, reason: &'static str) -> Error {
    Error::InvalidDispatch {
        field,
        value,
        reason,
    }
}

/// Computes the `cfg` words of one dispatch, as Mesa's `v3d_launch_grid` does, after checking
/// every field fits its bits (a bad cfg is not rejected by the kernel: it hangs the GPU).
pub fn csd_config(ident: &Identity, p: &CsdParams) -> Result<CsdConfig, Error> {
    for (i, &n) in p.wg_count.iter().enumerate() {
        if n == 0 || n > MAX_WG_COUNT {
            return Err(invalid(
                [
                    "workgroup count x",
                    "workgroup count y",
                    "workgroup count z",
                ][i],
                n.into(),
                "must be 1 to 65535",
            ));
        }
    }
    if p.wg_size == 0 || p.wg_size > MAX_WG_SIZE {
        return Err(invalid(
            "workgroup size",
            p.wg_size.into(),
            "must be 1 to 256 invocations",
        ));
    }
    if !matches!(p.threads_per_qpu, 1 | 2 | 4) {
        return Err(invalid(
            "threads per QPU",
            p.threads_per_qpu.into(),
            "must be 1, 2 or 4",
        ));
    }
    if p.code_addr == 0 || p.code_addr % 8 != 0 {
        return Err(invalid(
            "code address",
            p.code_addr.into(),
            "must be non-zero and 8-byte aligned (its low 3 bits are cfg[5] flags)",
        ));
    }
    let num_wgs: u64 = p.wg_count.iter().map(|&n| u64::from(n)).product();
    let wgs_per_sg = match p.supergroups {
        Supergroups::Mesa {
            has_tsy_barrier,
            has_subgroups,
        } => choose_workgroups_per_supergroup(
            ident.qpu_count(),
            has_subgroups,
            has_tsy_barrier,
            p.threads_per_qpu,
            num_wgs,
            p.wg_size,
        ),
        Supergroups::Fixed(n) if (1..=16).contains(&n) => n,
        Supergroups::Fixed(n) => {
            return Err(invalid(
                "workgroups per supergroup",
                n.into(),
                "must be 1 to 16",
            ));
        }
    };
    let batches_per_sg = (wgs_per_sg * p.wg_size).div_ceil(LANES_PER_BATCH);
    let whole_sgs = num_wgs / u64::from(wgs_per_sg);
    let rem_wgs = num_wgs - whole_sgs * u64::from(wgs_per_sg);
    let num_batches = u64::from(batches_per_sg) * whole_sgs
        + (rem_wgs * u64::from(p.wg_size)).div_ceil(u64::from(LANES_PER_BATCH));
    let num_batches = u32::try_from(num_batches)
        .map_err(|_| invalid("batches", num_batches, "must fit in 32 bits"))?;

    let mut cfg = [0u32; 7];
    for (word, count) in cfg.iter_mut().zip(p.wg_count) {
        *word = count << CFG012_WG_COUNT_SHIFT;
    }
    cfg[3] = ((wgs_per_sg & 0xf) << CFG3_WGS_PER_SG_SHIFT)
        | ((batches_per_sg - 1) << CFG3_BATCHES_PER_SG_M1_SHIFT)
        | ((p.wg_size & 0xff) << CFG3_WG_SIZE_SHIFT);
    cfg[4] = encode_num_batches(ident, num_batches);
    cfg[5] = p.code_addr;
    if ident.ver() < 71 {
        cfg[5] |= CFG5_PROPAGATE_NANS;
    }
    if p.single_seg {
        cfg[5] |= CFG5_SINGLE_SEG;
    }
    if p.threads_per_qpu == 4 {
        cfg[5] |= CFG5_THREADING;
    }
    cfg[6] = p.uniforms_addr;
    Ok(CsdConfig {
        cfg,
        num_batches,
        wgs_per_sg,
        batches_per_sg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(wg_count: [u32; 3], wg_size: u32) -> CsdParams {
        CsdParams {
            wg_count,
            wg_size,
            supergroups: Supergroups::default(),
            threads_per_qpu: 1,
            single_seg: false,
            code_addr: 0x0010_0000,
            uniforms_addr: 0x0020_0040,
        }
    }

    fn mesa(barrier: bool) -> Supergroups {
        Supergroups::Mesa {
            has_tsy_barrier: barrier,
            has_subgroups: false,
        }
    }

    /// Worked by hand from `v3d_csd_choose_workgroups_per_supergroup`: (qpus, barrier,
    /// threads, num_wgs, wg_size) -> wgs_per_sg.
    #[test]
    fn workgroups_per_supergroup_worked_values() {
        let rows: [(u32, bool, u32, u64, u32, u32); 10] = [
            // A multiple of 16 lanes: 1 workgroup already fills its batches.
            (12, false, 1, 12, 16, 1),
            (12, false, 1, 10, 64, 1),
            (12, false, 1, 1, 256, 1),
            // 24 lanes: 2 workgroups fill 3 batches exactly.
            (12, false, 1, 5, 24, 2),
            // 7 lanes: 2 (2 idle) beats 1 (9 idle) and 3 (11 idle); 4 exceeds num_wgs = 3.
            (12, false, 1, 3, 7, 2),
            // 36 lanes: 4 workgroups are exact; with a barrier at most 6 batches (half of 12
            // threads), so at most 2 workgroups, of which 2 wastes least (8 lanes).
            (12, false, 1, 100, 36, 4),
            (12, true, 1, 100, 36, 2),
            // The same barrier with 4 threads per QPU allows 24 batches: back to 4.
            (12, true, 4, 100, 36, 4),
            // 3 lanes: 16 workgroups make 48 lanes, 3 batches exactly.
            (12, false, 1, 1000, 3, 16),
            // 20 lanes and one workgroup: packing more than num_wgs is never tried.
            (12, false, 1, 1, 20, 1),
        ];
        for (qpus, barrier, threads, num_wgs, wg_size, want) in rows {
            assert_eq!(
                choose_workgroups_per_supergroup(qpus, false, barrier, threads, num_wgs, wg_size),
                want,
                "qpus {qpus} barrier {barrier} threads {threads} num_wgs {num_wgs} wg_size {wg_size}"
            );
        }
        assert_eq!(
            choose_workgroups_per_supergroup(12, true, false, 1, 100, 7),
            1
        );
    }

    #[test]
    fn twelve_threads_of_sixteen_lanes() {
        // The common hand-written case: one batch per QPU thread, 12 threads.
        let c = csd_config(&Identity::pi5(6), &params([12, 1, 1], 16)).unwrap();
        assert_eq!(c.wgs_per_sg, 1);
        assert_eq!(c.batches_per_sg, 1);
        assert_eq!(c.num_batches, 12);
        assert_eq!(
            c.cfg,
            [
                12 << 16,
                1 << 16,
                1 << 16,
                0x0000_0110,
                12,
                0x0010_0000,
                0x0020_0040
            ]
        );
        // Before 7.1.6 the same dispatch writes 11.
        let old = csd_config(&Identity::pi5(5), &params([12, 1, 1], 16)).unwrap();
        assert_eq!(old.cfg[4], 11);
        assert_eq!(old.cfg[..4], c.cfg[..4]);
    }

    #[test]
    fn remainder_workgroups_add_partial_batches() {
        // 5 workgroups of 24 lanes, 2 per supergroup: 2 whole supergroups of 3 batches, and one
        // workgroup left over needing 2 batches.
        let c = csd_config(&Identity::pi5(6), &params([5, 1, 1], 24)).unwrap();
        assert_eq!((c.wgs_per_sg, c.batches_per_sg, c.num_batches), (2, 3, 8));
        assert_eq!(c.cfg[3], (2 << 12) | (2 << 8) | 24);
        assert_eq!(c.cfg[4], 8);
        // 3 workgroups of 7: one supergroup of 2 (1 batch) and 1 left over (1 batch).
        let c = csd_config(&Identity::pi5(6), &params([3, 1, 1], 7)).unwrap();
        assert_eq!((c.wgs_per_sg, c.batches_per_sg, c.num_batches), (2, 1, 2));
    }

    #[test]
    fn field_edges_are_encoded_as_the_hardware_reads_them() {
        // 256 invocations: the 8-bit size field holds 0, 16 batches per supergroup (15 + 1).
        let c = csd_config(&Identity::pi5(6), &params([2, 3, 4], 256)).unwrap();
        assert_eq!(c.cfg[3], (15 << 12) | (1 << 8));
        assert_eq!(c.num_batches, 2 * 3 * 4 * 16);
        assert_eq!(c.cfg[..3], [2 << 16, 3 << 16, 4 << 16]);
        // 16 workgroups per supergroup: the 4-bit field holds 0 ("0 means 16").
        let mut p = params([64, 1, 1], 3);
        let c = csd_config(&Identity::pi5(6), &p).unwrap();
        assert_eq!(c.wgs_per_sg, 16);
        assert_eq!(c.cfg[3], (2 << 12) | 3);
        assert_eq!(c.num_batches, 4 * 3);
        // Fixed packing as py-videocore7's barrier tests use it: 12 threads, one supergroup.
        p = params([12, 1, 1], 16);
        p.supergroups = Supergroups::Fixed(12);
        let c = csd_config(&Identity::pi5(6), &p).unwrap();
        assert_eq!(c.cfg[3], (11 << 12) | (12 << 8) | 16);
        assert_eq!(c.num_batches, 12);
    }

    #[test]
    fn barrier_packing_changes_the_batch_count() {
        let mut p = params([100, 1, 1], 36);
        p.supergroups = mesa(true);
        let c = csd_config(&Identity::pi5(6), &p).unwrap();
        // 2 workgroups (72 lanes) per supergroup: 5 batches, 50 supergroups.
        assert_eq!((c.wgs_per_sg, c.batches_per_sg, c.num_batches), (2, 5, 250));
        p.supergroups = mesa(false);
        let c = csd_config(&Identity::pi5(6), &p).unwrap();
        // 4 workgroups (144 lanes) per supergroup: 9 batches, 25 supergroups.
        assert_eq!((c.wgs_per_sg, c.batches_per_sg, c.num_batches), (4, 9, 225));
    }

    #[test]
    fn cfg5_flags() {
        let mut p = params([1, 1, 1], 16);
        p.threads_per_qpu = 4;
        p.single_seg = true;
        let c = csd_config(&Identity::pi5(6), &p).unwrap();
        // No PROPAGATE_NANS on 7.1 (Mesa sets it only for ver < 71).
        assert_eq!(c.cfg[5], 0x0010_0000 | 0b011);
        p.threads_per_qpu = 2;
        p.single_seg = false;
        let c = csd_config(&Identity::pi5(6), &p).unwrap();
        assert_eq!(c.cfg[5], 0x0010_0000);
    }

    #[test]
    fn refuses_what_would_hang_the_gpu() {
        let id = Identity::pi5(6);
        let cases: [(CsdParams, &str); 7] = [
            (params([0, 1, 1], 16), "workgroup count x"),
            (params([1, 65536, 1], 16), "workgroup count y"),
            (params([1, 1, 1], 0), "workgroup size"),
            (params([1, 1, 1], 257), "workgroup size"),
            (
                CsdParams {
                    threads_per_qpu: 3,
                    ..params([1, 1, 1], 16)
                },
                "threads per QPU",
            ),
            (
                CsdParams {
                    code_addr: 0x1004,
                    ..params([1, 1, 1], 16)
                },
                "code address",
            ),
            (
                CsdParams {
                    supergroups: Supergroups::Fixed(17),
                    ..params([1, 1, 1], 16)
                },
                "workgroups per supergroup",
            ),
        ];
        for (p, field) in cases {
            match csd_config(&id, &p) {
                Err(Error::InvalidDispatch { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected InvalidDispatch, got {other:?}"),
            }
        }
        // 65535^3 workgroups of 256 lanes do not fit the 32-bit batch count.
        let e = csd_config(&id, &params([65535, 65535, 65535], 256)).unwrap_err();
        assert!(e.to_string().contains("batches"), "{e}");
    }
}
