//! The emulated GPU: buffer objects, QPUs, and a compute dispatch as `SUBMIT_CSD` describes it.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::exec::{Code, Ctx, Outcome, Replay, Stop, Thread, block_len};
use crate::fault::{Fault, FaultKind, Location};
use crate::memory::Mem;
use crate::memory::{MapError, Memory};
use crate::split::{self, Pass};
use crate::timing::{QpuStats, Stats, ThreadStats, Timing};

/// How `cfg[4]` counts batches.
///
/// Mesa's gallium driver writes `batches - 1` before V3D 7.1.6 and `batches` from 7.1.6 on.
/// py-videocore7 wrote `threads - 1` until its commit 3b18d71 ("submit multithread job",
/// January 2025) changed `src/_videocore7/driver.py` to write `thread`, the batch count; its
/// 12-, 24- and 48-thread tests pass on a Pi 5 with that. So the Pi 5 counts as 7.1.6 and
/// later, and that is the default. (The project's shared notes, emulator-notes.md §3 and
/// v3d-uapi.md §6, describe the older driver.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BatchCount {
    /// `cfg[4]` holds the number of batches minus one (V3D 7.1 before revision 6).
    MinusOne,
    /// `cfg[4]` holds the number of batches (V3D 7.1.6 and later; observed on a Pi 5 by
    /// py-videocore7).
    #[default]
    Exact,
}

impl BatchCount {
    /// The rule for a V3D 7.1 revision number.
    pub fn for_revision(rev: u32) -> BatchCount {
        if rev >= 6 {
            BatchCount::Exact
        } else {
            BatchCount::MinusOne
        }
    }
}

/// The shape of the emulated GPU.
#[derive(Clone, Debug)]
pub struct GpuConfig {
    /// Slices and QPUs per slice: 3 × 4 on a Pi 5 (py-videocore7 README).
    pub slices: u32,
    pub qpus_per_slice: u32,
    pub batch_count: BatchCount,
    /// Instructions (over all threads) after which a dispatch is declared hung.
    pub max_steps: u64,
    pub timing: Timing,
    /// Host threads a dispatch may use (1 runs everything on the calling thread). The result
    /// is the same whatever the number: see `Gpu::dispatch`.
    pub host_threads: usize,
    /// Runs every instruction through the generic path, as under a trace: none of the fast
    /// forms or blocks (docs/qpu-sim.md, "How instructions run"). Slower, with the same
    /// results; for checking the fast paths against it.
    pub generic_only: bool,
}

impl Default for GpuConfig {
    fn default() -> GpuConfig {
        GpuConfig {
            slices: 3,
            qpus_per_slice: 4,
            batch_count: BatchCount::default(),
            max_steps: 1 << 30,
            timing: Timing::default(),
            host_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            generic_only: false,
        }
    }
}

impl GpuConfig {
    pub fn qpus(&self) -> u32 {
        self.slices * self.qpus_per_slice
    }
}

/// Per-dispatch options.
#[derive(Default)]
pub struct DispatchOptions<'a> {
    /// Receives one line per executed instruction and the lanes it wrote.
    pub trace: Option<&'a mut dyn Write>,
    /// Threads per QPU (1, 2 or 4). By default the THREADING flag of `cfg[5]` chooses 4, and
    /// its absence 2 (py-videocore7 test_parallel.py: 24 threads on 12 QPUs without the flag,
    /// 48 with it).
    pub threads_per_qpu: Option<u32>,
}

/// The emulated V3D 7.1: buffer objects plus the QPUs that run dispatches over them.
pub struct Gpu {
    pub config: GpuConfig,
    pub memory: Memory,
    /// What running batches apart keeps between dispatches (`crate::split`).
    pub(crate) split: split::Cache,
}

/// The decoded `cfg[0..6]` of a compute dispatch.
#[derive(Clone, Debug)]
struct CsdConfig {
    wg_count: [u32; 3],
    wg_offset: [u32; 3],
    wg_size: u32,
    wgs_per_sg: u32,
    batches_per_sg: u32,
    batches: u32,
    code: u32,
    threading: bool,
    single_segment: bool,
    uniforms: u32,
}

const CFG5_THREADING: u32 = 1 << 0;
const CFG5_SINGLE_SEG: u32 = 1 << 1;

impl CsdConfig {
    /// Bitfields from Mesa `src/broadcom/common/v3d_csd.h` (v3d-uapi.md §6).
    fn parse(cfg: &[u32; 7], rule: BatchCount) -> CsdConfig {
        // A count field of 0 means 65536 ("at the hw level 0 is interpreted as 65536").
        let count = |w: u32| if w >> 16 == 0 { 65536 } else { w >> 16 };
        let wg_size = match cfg[3] & 0xff {
            0 => 256,
            n => n,
        };
        let wgs_field = match (cfg[3] >> 8) & 0xf {
            0 => 16,
            n => n,
        };
        let batches_per_sg = ((cfg[3] >> 12) & 0xff) + 1;
        // The 4-bit workgroups-per-supergroup field cannot hold py-videocore7's 24 (it writes
        // `wgs_per_sg & 0xf`); when the field disagrees with the batch count, the workgroups
        // that fit the supergroup's batches are used (docs/qpu-sim.md, "Dispatch").
        let wgs_per_sg = if (wgs_field * wg_size).div_ceil(16) == batches_per_sg {
            wgs_field
        } else {
            (batches_per_sg * 16 / wg_size).max(1)
        };
        let batches = match rule {
            BatchCount::MinusOne => cfg[4].wrapping_add(1),
            BatchCount::Exact => cfg[4],
        };
        CsdConfig {
            wg_count: [count(cfg[0]), count(cfg[1]), count(cfg[2])],
            wg_offset: [cfg[0] & 0xffff, cfg[1] & 0xffff, cfg[2] & 0xffff],
            wg_size,
            wgs_per_sg,
            batches_per_sg,
            batches,
            code: cfg[5] & !7,
            threading: cfg[5] & CFG5_THREADING != 0,
            single_segment: cfg[5] & CFG5_SINGLE_SEG != 0,
            uniforms: cfg[6],
        }
    }

    /// The start-of-thread payload of a batch: rf3 and rf2 (Mesa nir_to_vir.c, V3D 7.1:
    /// cs_payload[0] = rf3 with workgroup X in bits 15:0 and Y in 31:16; cs_payload[1] = rf2
    /// with workgroup Z in bits 15:0, the workgroup's index in its supergroup from bit 16, and
    /// the local invocation index in the top `local_invocation_index_bits`).
    fn payload(&self, batch: u32) -> (crate::alu::Lanes, crate::alu::Lanes) {
        let sg = batch / self.batches_per_sg;
        let in_sg = batch % self.batches_per_sg;
        let lbits = (self.wg_size.max(64).next_power_of_two()).trailing_zeros();
        let wg_mask = (1u32 << (16 - lbits)) - 1;
        let mut rf3 = [0u32; 16];
        let mut rf2 = [0u32; 16];
        let per_xy = u64::from(self.wg_count[0]) * u64::from(self.wg_count[1]);
        for lane in 0..16 {
            let item = in_sg * 16 + lane as u32;
            let wg_in_sg = item / self.wg_size;
            let local = item % self.wg_size;
            let wg = u64::from(sg) * u64::from(self.wgs_per_sg) + u64::from(wg_in_sg);
            let x = (wg % u64::from(self.wg_count[0])) as u32 + self.wg_offset[0];
            let y = ((wg / u64::from(self.wg_count[0])) % u64::from(self.wg_count[1])) as u32
                + self.wg_offset[1];
            let z = (wg / per_xy) as u32 + self.wg_offset[2];
            rf3[lane] = (x & 0xffff) | (y << 16);
            rf2[lane] = (z & 0xffff) | ((wg_in_sg & wg_mask) << 16) | (local << (32 - lbits));
        }
        (rf3, rf2)
    }
}

struct QpuState {
    slots: Vec<Option<Thread>>,
    current: Option<usize>,
    next_rr: usize,
    clock: u64,
    stats: QpuStats,
}

impl Gpu {
    pub fn new(config: GpuConfig) -> Gpu {
        Gpu {
            config,
            memory: Memory::default(),
            split: split::Cache::default(),
        }
    }

    /// Maps a buffer object at a GPU address.
    pub fn map_bo(&mut self, addr: u32, data: Vec<u8>) -> Result<(), MapError> {
        self.memory.map(addr, data)
    }

    /// Unmaps the buffer object at `addr`, returning its contents.
    pub fn unmap_bo(&mut self, addr: u32) -> Option<Vec<u8>> {
        self.memory.unmap(addr)
    }

    /// The contents of the buffer object at `addr`.
    pub fn bo(&self, addr: u32) -> Option<&[u8]> {
        self.memory.bo(addr)
    }

    /// The contents of the buffer object at `addr`, writable in place.
    pub fn bo_mut(&mut self, addr: u32) -> Option<&mut [u8]> {
        self.memory.bo_mut(addr)
    }

    /// Runs a compute dispatch to completion.
    ///
    /// With `GpuConfig::host_threads` above 1, QPUs run on several host threads between the
    /// instructions that interact with other QPUs; the memory, the statistics and any fault
    /// are exactly those of the single-threaded schedule (see `Gpu::pure_phase`).
    pub fn dispatch(
        &mut self,
        cfg: [u32; 7],
        options: DispatchOptions<'_>,
    ) -> Result<Stats, Fault> {
        let csd = CsdConfig::parse(&cfg, self.config.batch_count);
        let threads = options
            .threads_per_qpu
            .unwrap_or(if csd.threading { 4 } else { 2 });
        if !matches!(threads, 1 | 2 | 4) {
            return Err(Fault::global(FaultKind::BadDispatch(format!(
                "{threads} threads per QPU; a QPU runs 1, 2 or 4"
            ))));
        }
        let nqpus = self.config.qpus();
        if nqpus == 0 || nqpus > 16 {
            return Err(Fault::global(FaultKind::BadDispatch(format!(
                "{nqpus} QPUs; tidx has room for 1 to 16"
            ))));
        }
        self.memory.begin_dispatch();
        let r = self.run(&csd, threads, options.trace);
        self.memory.end_dispatch();
        if let Ok(s) = &r {
            self.split.finished(s.instructions());
        }
        r
    }

    fn run(
        &mut self,
        csd: &CsdConfig,
        threads: u32,
        mut trace: Option<&mut dyn Write>,
    ) -> Result<Stats, Fault> {
        let timing = self.config.timing;
        let nqpus = self.config.qpus();
        // 64 registers per thread at 1 or 2 threads, 32 at 4 (Mesa vir_register_allocate.c).
        let nregs = if threads == 4 { 32 } else { 64 };
        let mut code = Code::load(&mut self.memory, csd.code, nregs).ok_or_else(|| {
            Fault::global(FaultKind::BadDispatch(format!(
                "the shader address {:#010x} (cfg[5] & ~7) is outside every buffer object",
                csd.code
            )))
        })?;
        // Thread slot numbers (the low bits of tidx): py-videocore7 test_parallel.py takes
        // (tidx & 0b111110) >> 1 as the thread id with 2 threads per QPU, so those use slots
        // 0 and 2.
        let slot_ids: Vec<u32> = match threads {
            1 => vec![0],
            2 => vec![0, 2],
            _ => vec![0, 1, 2, 3],
        };
        let fifo_capacity = 16 / threads;
        let mut qpus: Vec<QpuState> = (0..nqpus)
            .map(|_| QpuState {
                slots: (0..threads).map(|_| None).collect(),
                current: None,
                next_rr: 0,
                clock: 0,
                stats: QpuStats {
                    threads: vec![ThreadStats::default(); 4],
                    ..QpuStats::default()
                },
            })
            .collect();
        let sg_size = |sg: u32| (csd.batches - sg * csd.batches_per_sg).min(csd.batches_per_sg);
        // Per-supergroup counts, kept only for supergroups that have started (cfg[4] may ask for
        // billions of batches; the step limit ends such a dispatch long before).
        let mut sg_arrived: HashMap<u32, u32> = HashMap::new();
        let mut sg_ended: HashMap<u32, u32> = HashMap::new();
        let mut next_batch = 0u32;
        let entry = 0usize;
        let new_thread = |batch: u32, q: u32, slot_idx: usize, now: u64| {
            let slot = slot_ids[slot_idx];
            Thread::new(
                batch,
                batch / csd.batches_per_sg,
                slot,
                (q << 2) | slot,
                entry,
                csd.uniforms,
                fifo_capacity,
                csd.single_segment,
                csd.payload(batch),
                now,
            )
        };
        // Batches go to QPUs round robin, then to the next thread slot (py-videocore7's 12-
        // and 24-thread dispatches give every QPU one thread, then two).
        'fill: for (s, &slot_id) in slot_ids.iter().enumerate() {
            for q in 0..nqpus {
                if next_batch >= csd.batches {
                    break 'fill;
                }
                qpus[q as usize].slots[s] = Some(new_thread(next_batch, q, s, 0));
                qpus[q as usize].stats.threads[slot_id as usize].batches += 1;
                next_batch += 1;
            }
        }
        let mut live = csd.batches.min(nqpus * threads);
        // With every batch started at once, the batches can run apart from the schedule on
        // several host threads and the schedule replay their timing (`crate::split`).
        let mut replaying = false;
        if self.config.host_threads > 1
            && nqpus > 1
            && trace.is_none()
            && timing.clocks_per_instr > 0
            && csd.batches > 1
            && csd.batches <= nqpus * threads
            && self.split.worth_trying(self.memory.mapped_bytes())
        {
            let pass = Pass {
                code_addr: csd.code,
                nregs,
                threads,
                nqpus,
                batches: csd.batches,
                fast: !self.config.generic_only,
                timing: &timing,
                new_thread: &new_thread,
                max_steps: self.config.max_steps,
            };
            if let Some(mut records) = split::run(
                &pass,
                &mut self.memory,
                self.config.host_threads,
                &mut self.split,
            ) {
                for th in qpus.iter_mut().flat_map(|q| q.slots.iter_mut().flatten()) {
                    let ev = std::mem::take(&mut records[th.batch as usize]);
                    th.replay = Some(Replay::new(ev));
                }
                replaying = true;
            }
        }
        // Replayed threads' records, for the next dispatch (`split::Cache`).
        let mut recycled = Vec::new();
        let mut steps: u64 = 0;
        let mut bus_free: u64 = 0;
        let mut epoch_end: u64 = 0;
        let mut written = Vec::with_capacity(3);
        // The parallel path needs every instruction to take time (so a window bounds the
        // instructions it can run against the step limit) and no trace (whose line order is
        // the serial one).
        let parallel = !replaying
            && self.config.host_threads > 1
            && nqpus > 1
            && trace.is_none()
            && timing.clocks_per_instr > 0
            && timing.quantum > 0;
        let mut pending: Vec<PendingFault> = vec![None; nqpus as usize];
        let fast_paths = !self.config.generic_only;
        let mut spread = false;
        // Quanta to go without a parallel phase, and how many the next short phase skips.
        let (mut skip, mut backoff) = (0u64, 1u64);
        while live > 0 {
            if parallel && skip > 0 {
                skip -= 1;
            } else if parallel {
                let horizon = epoch_end.saturating_add(PURE_WINDOW_QUANTA * timing.quantum);
                let bound: u64 = qpus
                    .iter()
                    .map(|q| horizon.saturating_sub(q.clock) / timing.clocks_per_instr + 1)
                    .sum();
                if steps.saturating_add(bound) <= self.config.max_steps {
                    let ran = pure_phase(
                        &mut qpus,
                        &mut pending,
                        &PureEnv {
                            code: &code,
                            mem: &self.memory,
                            timing: &timing,
                            nregs,
                            threads,
                            horizon,
                            fast: fast_paths,
                        },
                        if spread { self.config.host_threads } else { 1 },
                    );
                    steps += ran;
                    // Host threads pay off only when the QPUs run long between events; a
                    // TMU-bound kernel stops at every lookup, so a phase goes to host threads
                    // only after the one before it (run here) showed a long stretch.
                    spread = ran >= SPREAD_MIN_INSTRS;
                    // A phase too short to go to host threads only costs its bookkeeping:
                    // after one, the serial loop runs alone for a while (twice as long after
                    // each short phase in a row, up to MAX_SKIP_QUANTA). Which instructions
                    // the parallel phase takes never changes the result.
                    if spread {
                        backoff = 1;
                    } else {
                        skip = backoff;
                        backoff = (backoff * 2).min(MAX_SKIP_QUANTA);
                    }
                }
            }
            epoch_end += timing.quantum;
            let mut progressed = false;
            // A QPU whose clock is already at or past this quantum's end (a TMU stall that
            // ended exactly on the boundary) with a thread that can run is no deadlock.
            let mut ahead = false;
            for q in 0..nqpus as usize {
                // A fault found ahead of time by the parallel phase is raised where the serial
                // schedule meets it: after every earlier QPU's share of its quantum.
                if pending[q].as_ref().is_some_and(|(_, e)| epoch_end >= *e) {
                    let (f, _) = pending[q].take().expect("checked above");
                    return Err(f);
                }
                loop {
                    let qs = &mut qpus[q];
                    if qs.clock >= epoch_end {
                        ahead |= qs.slots.iter().flatten().any(|t| t.runnable());
                        break;
                    }
                    // Pick a thread: the current one, else the next runnable slot in turn. A
                    // QPU changes threads only at a thrsw or a thread end.
                    if qs.current.is_some_and(|c| qs.slots[c].is_none()) {
                        qs.current = None;
                    }
                    if qs.current.is_none() {
                        let n = qs.slots.len();
                        let mut pick = None;
                        for k in 0..n {
                            let s = (qs.next_rr + k) % n;
                            if qs.slots[s].as_ref().is_some_and(|t| t.runnable()) {
                                pick = Some(s);
                                break;
                            }
                        }
                        match pick {
                            Some(s) => qs.current = Some(s),
                            None => {
                                qs.stats.idle_cycles += epoch_end - qs.clock;
                                qs.clock = epoch_end;
                                break;
                            }
                        }
                    }
                    let cur = qs.current.expect("picked above");
                    let th = qs.slots[cur]
                        .as_mut()
                        .expect("runnable slot holds a thread");
                    if !th.runnable() {
                        // Stopped at a barrier with no thrsw: the whole QPU waits.
                        qs.stats.idle_cycles += epoch_end - qs.clock;
                        qs.clock = epoch_end;
                        break;
                    }
                    if th.resume_at > qs.clock {
                        let until = th.resume_at.min(epoch_end);
                        qs.stats.idle_cycles += until - qs.clock;
                        qs.clock = until;
                        progressed = true;
                        continue;
                    }
                    progressed = true;
                    let slot = th.slot as usize;
                    let mut cx = Ctx {
                        mem: Mem::Excl(&mut self.memory),
                        timing: &timing,
                        stats: &mut qs.stats,
                        clock: &mut qs.clock,
                        bus_free: &mut bus_free,
                        nregs,
                        threads_per_qpu: threads,
                        qpu: q as u32,
                        fast: fast_paths && trace.is_none(),
                        trace: trace.as_deref_mut(),
                        barrier: false,
                        written: &mut written,
                        rec: None,
                    };
                    // Run this thread until it switches, ends, meets a barrier or the epoch ends,
                    // within the step limit.
                    let budget = self.config.max_steps.saturating_sub(steps);
                    let (base, tslot, tbatch) = (code.base, th.slot, th.batch);
                    let at = |pc: usize| {
                        Some(Location {
                            qpu: q as u32,
                            thread: tslot,
                            batch: tbatch,
                            pc: base.wrapping_add(pc as u32 * 8),
                        })
                    };
                    let (outcome, n, last) = match th.run(&mut code, &mut cx, epoch_end, budget) {
                        Ok(r) => r,
                        Err(Stop::Fault(kind, pc)) => return Err(Fault { kind, at: at(pc) }),
                        Err(Stop::Budget(pc)) => {
                            let limit = self.config.max_steps;
                            return Err(Fault {
                                kind: FaultKind::StepLimit { limit },
                                at: at(pc),
                            });
                        }
                    };
                    steps += n;
                    cx.stats.threads[slot].instructions += n;
                    let pc = code.base.wrapping_add(last as u32 * 8);
                    let hit_barrier = cx.barrier;
                    let (sg, batch) = (th.supergroup, th.batch);
                    if hit_barrier {
                        let arrived = sg_arrived.entry(sg).or_insert(0);
                        *arrived += 1;
                        if *arrived == sg_size(sg) {
                            // Everyone is here: release the supergroup at this clock.
                            *arrived = 0;
                            let now = qpus[q].clock;
                            for other in qpus.iter_mut() {
                                for t in other.slots.iter_mut().flatten() {
                                    if t.supergroup == sg && t.barrier_wait {
                                        t.barrier_wait = false;
                                        t.resume_at = t.resume_at.max(now);
                                    }
                                }
                            }
                        }
                    }
                    let qs = &mut qpus[q];
                    match outcome {
                        Outcome::Continue => {}
                        Outcome::Switch => {
                            qs.stats.threads[slot].thread_switches += 1;
                            qs.next_rr = (cur + 1) % qs.slots.len();
                            qs.current = None;
                        }
                        Outcome::End => {
                            if let Some(r) = qs.slots[cur].take().and_then(|t| t.replay) {
                                recycled.push(r.events);
                            }
                            qs.current = None;
                            qs.next_rr = (cur + 1) % qs.slots.len();
                            qs.stats.cycles = qs.clock;
                            let ended = {
                                let e = sg_ended.entry(sg).or_insert(0);
                                *e += 1;
                                *e
                            };
                            let arrived = sg_arrived.get(&sg).copied().unwrap_or(0);
                            if arrived > 0 && arrived + ended == sg_size(sg) {
                                return Err(Fault {
                                    kind: FaultKind::BarrierDeadlock {
                                        supergroup: sg,
                                        arrived,
                                        total: sg_size(sg),
                                        why: "ended without reaching it",
                                    },
                                    at: Some(Location {
                                        qpu: q as u32,
                                        thread: slot as u32,
                                        batch,
                                        pc,
                                    }),
                                });
                            }
                            if next_batch < csd.batches {
                                let now = qs.clock;
                                qs.slots[cur] = Some(new_thread(next_batch, q as u32, cur, now));
                                qs.stats.threads[slot_ids[cur] as usize].batches += 1;
                                next_batch += 1;
                            } else {
                                live -= 1;
                            }
                        }
                    }
                }
            }
            if !progressed {
                // No QPU ran in this quantum. That is no deadlock if every QPU that still has
                // threads is past the quantum's end (a long TMU stall moved its clock beyond
                // it): skip ahead to the earliest of them.
                // A fault the parallel phase found counts at the start of its quantum (the
                // faulting instruction may have moved the clock further): skipping past that
                // quantum would let later QPUs act before the fault, which serially they
                // cannot.
                let earliest = qpus
                    .iter()
                    .zip(&pending)
                    .filter(|(q, _)| q.slots.iter().any(|s| s.is_some()))
                    .map(|(q, p)| match p {
                        Some((_, e)) => q.clock.min(e.saturating_sub(timing.quantum)),
                        None => q.clock,
                    })
                    .min();
                if let Some(t) = earliest.filter(|&t| t > epoch_end) {
                    epoch_end = t - t % timing.quantum.max(1);
                    continue;
                }
                if ahead {
                    continue;
                }
                // Nothing ran and nothing waits for a clock: every thread is stopped at a
                // barrier that cannot complete.
                let sg = sg_arrived
                    .iter()
                    .filter(|(_, a)| **a > 0)
                    .map(|(s, _)| *s)
                    .min()
                    .unwrap_or(0);
                return Err(Fault::global(FaultKind::BarrierDeadlock {
                    supergroup: sg,
                    arrived: sg_arrived.get(&sg).copied().unwrap_or(0),
                    total: sg_size(sg),
                    why: "cannot start or reach it (every thread slot holds a thread waiting at a barrier, or a thread waits at a barrier without a thrsw to let the others run)",
                }));
            }
        }
        let total = qpus.iter().map(|q| q.stats.cycles).max().unwrap_or(0);
        let mut stats = Stats {
            qpus: qpus.into_iter().map(|q| q.stats).collect(),
            batches: csd.batches,
            total_cycles: total,
            clock_hz: timing.clock_hz,
        };
        for q in &mut stats.qpus {
            q.threads.truncate(4);
            if threads < 4 {
                // Report only the slots this thread count uses.
                q.threads = slot_ids
                    .iter()
                    .map(|&s| q.threads[s as usize].clone())
                    .collect();
            }
        }
        for ev in recycled {
            self.split.recycle(ev);
        }
        Ok(stats)
    }
}

/// Quanta the parallel phase looks ahead: long enough that a register-bound QPU runs tens of
/// thousands of instructions per phase, so handing work to another host thread (which may wait
/// for a core on a loaded host) is rare, and short enough to bound the instructions a phase can
/// run against the step limit.
const PURE_WINDOW_QUANTA: u64 = 512;

/// Instructions a parallel phase must have run for the next one to use host threads.
const SPREAD_MIN_INSTRS: u64 = 8192;

/// The most quanta the serial loop runs alone after parallel phases too short to spread.
const MAX_SKIP_QUANTA: u64 = 64;

/// A fault the parallel phase met, and the end of the quantum the serial loop raises it in.
type PendingFault = Option<(Fault, u64)>;

/// What the QPUs of a parallel phase share, read-only.
struct PureEnv<'a> {
    code: &'a Code,
    mem: &'a crate::memory::Memory,
    timing: &'a Timing,
    nregs: u32,
    threads: u32,
    horizon: u64,
    /// Whether the fast forms and blocks may run (`GpuConfig::generic_only` unset).
    fast: bool,
}

/// The parallel phase: each QPU runs on its own, up to `env.horizon`, every instruction that
/// neither reads nor changes state another QPU can see within a quantum, and stops before the
/// first one that might (a TMU lookup, which uses memory and the shared bus; a barrier; a
/// thread end, which takes the next batch; an instruction not decoded yet; a thread stopped
/// at a barrier, which another QPU may release).
///
/// Why the result equals the serial schedule: the serial scheduler runs quantum after quantum,
/// QPU 0 to N−1 in each, and a QPU's instructions in a quantum depend only on its own state
/// and on what earlier QPUs did before it. The instructions run here depend on nothing another
/// QPU does (they read registers, the QPU's own FIFO and clock, and the uniform streams, which
/// see memory as it was when the dispatch started) and change nothing another QPU reads, so
/// running them early, in any order and on any host thread, gives each QPU the same state the
/// serial schedule would, and the serial loop then takes every interacting instruction in its
/// serial order (a QPU already past a quantum's end is skipped there, as serially). A fault met
/// here is kept with its quantum and raised by the serial loop at that quantum, after the QPUs
/// before it. The window is skipped when it could cross the step limit. Returns the
/// instructions run.
fn pure_phase(
    qpus: &mut [QpuState],
    pending: &mut [PendingFault],
    env: &PureEnv<'_>,
    host_threads: usize,
) -> u64 {
    let workers = host_threads.min(qpus.len()).max(1);
    if workers == 1 {
        let mut n = 0;
        for (i, (q, p)) in qpus.iter_mut().zip(pending.iter_mut()).enumerate() {
            if p.is_none() {
                n += run_pure(q, i as u32, env, p);
            }
        }
        return n;
    }
    // QPUs are handed out one at a time to whichever host thread is free, so a thread that
    // waits for a core on a loaded host holds up at most the QPU it has, and QPUs with more
    // work than others balance out. Each QPU is run by exactly one thread, on its own state.
    let cells: Vec<Mutex<(&mut QpuState, &mut PendingFault)>> = qpus
        .iter_mut()
        .zip(pending.iter_mut())
        .map(Mutex::new)
        .collect();
    let next = AtomicUsize::new(0);
    let work = || -> u64 {
        let mut n = 0;
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(cell) = cells.get(i) else {
                return n;
            };
            let mut g = cell.lock().unwrap_or_else(PoisonError::into_inner);
            let (q, p) = &mut *g;
            if p.is_none() {
                n += run_pure(q, i as u32, env, p);
            }
        }
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (1..workers).map(|_| s.spawn(work)).collect();
        let mut n = work();
        for h in handles {
            // A panic in a worker is a bug; re-raise it on this thread rather than lose it.
            n += h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        }
        n
    })
}

/// One QPU's share of the parallel phase (see [`pure_phase`]): the serial scheduler's visits
/// to this QPU, quantum by quantum, up to the horizon, stopping before anything that
/// interacts. Returns the instructions run; a fault goes to `pending` with the end of its
/// quantum.
fn run_pure(qs: &mut QpuState, q: u32, env: &PureEnv<'_>, pending: &mut PendingFault) -> u64 {
    let quantum = env.timing.quantum;
    let mut n = 0u64;
    // A barrier release by another QPU would change which thread runs here.
    if qs.slots.iter().flatten().any(|t| t.barrier_wait) {
        return 0;
    }
    let mut bus_unused = 0u64;
    let mut written = Vec::new();
    'visits: while qs.clock < env.horizon {
        let epoch_end = (qs.clock / quantum + 1) * quantum;
        loop {
            if qs.clock >= epoch_end {
                break;
            }
            if qs.current.is_some_and(|c| qs.slots[c].is_none()) {
                qs.current = None;
            }
            if qs.current.is_none() {
                let len = qs.slots.len();
                let pick = (0..len)
                    .map(|k| (qs.next_rr + k) % len)
                    .find(|&s| qs.slots[s].as_ref().is_some_and(|t| t.runnable()));
                match pick {
                    Some(s) => qs.current = Some(s),
                    // Idling depends on when other QPUs release or end things.
                    None => break 'visits,
                }
            }
            let cur = qs.current.expect("picked above");
            let QpuState {
                slots,
                clock,
                stats,
                ..
            } = qs;
            let Some(th) = slots[cur].as_mut() else {
                break 'visits;
            };
            if !th.runnable() {
                break 'visits;
            }
            if th.resume_at > *clock {
                let until = th.resume_at.min(epoch_end);
                stats.idle_cycles += until - *clock;
                *clock = until;
                continue;
            }
            let slot = th.slot as usize;
            let mut cx = Ctx {
                mem: Mem::shared(env.mem),
                timing: env.timing,
                stats,
                clock,
                bus_free: &mut bus_unused,
                nregs: env.nregs,
                threads_per_qpu: env.threads,
                qpu: q,
                fast: env.fast,
                trace: None,
                barrier: false,
                written: &mut written,
                rec: None,
            };
            let outcome = loop {
                let Some(ins) = env.code.slot(th.pc) else {
                    break 'visits;
                };
                if ins.event || th.ending() {
                    break 'visits;
                }
                if ins.pure_run > 1 && th.block_ready(&cx) {
                    // A block holds no event and no thrsw (`Slot::pure_run`).
                    let start = *cx.clock;
                    let k = block_len(ins.pure_run, u64::MAX, start, epoch_end, env.timing);
                    match th.run_block(env.code, k, epoch_end, &mut cx) {
                        Ok(ran) => {
                            n += ran as u64;
                            cx.stats.threads[slot].instructions += ran as u64;
                            if *cx.clock >= epoch_end {
                                break Outcome::Continue;
                            }
                            continue;
                        }
                        Err(f) => {
                            n += f.index as u64 + 1;
                            let at = Location {
                                qpu: q,
                                thread: th.slot,
                                batch: th.batch,
                                pc: env.code.base.wrapping_add(th.pc as u32 * 8),
                            };
                            *pending = Some((
                                Fault {
                                    kind: f.kind,
                                    at: Some(at),
                                },
                                (f.began / quantum + 1) * quantum,
                            ));
                            break 'visits;
                        }
                    }
                }
                let pc = env.code.base.wrapping_add(th.pc as u32 * 8);
                let start = *cx.clock;
                n += 1;
                match th.exec(ins, env.code, &mut cx) {
                    Ok(o) => {
                        cx.stats.threads[slot].instructions += 1;
                        if o != Outcome::Continue || cx.barrier || *cx.clock >= epoch_end {
                            break o;
                        }
                    }
                    Err(kind) => {
                        let at = Location {
                            qpu: q,
                            thread: th.slot,
                            batch: th.batch,
                            pc,
                        };
                        *pending = Some((
                            Fault { kind, at: Some(at) },
                            (start / quantum + 1) * quantum,
                        ));
                        break 'visits;
                    }
                }
            };
            match outcome {
                Outcome::Continue => {}
                Outcome::Switch => {
                    qs.stats.threads[slot].thread_switches += 1;
                    qs.next_rr = (cur + 1) % qs.slots.len();
                    qs.current = None;
                }
                Outcome::End => {
                    // `ending()` stops the phase before the instruction that ends a thread.
                    *pending = Some((
                        Fault::global(FaultKind::Unsupported(
                            "internal error: a thread ended in the parallel phase; please report this emulator bug".into(),
                        )),
                        0,
                    ));
                    break 'visits;
                }
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::BLOCKS_RUN;
    use crate::test_asm::{END, asm};

    /// `generic_only` really turns the blocks off (the tests that compare it with the fast
    /// paths would compare the fast paths with themselves otherwise), and without it a
    /// straight-line program runs in blocks.
    #[test]
    fn generic_only_runs_no_block() {
        let src = "
    nop ; ldunifrf.rf1
    eidx rf2
    shl rf2, rf2, 2
    add rf1, rf1, rf2
    mov rf3, 5
    add rf3, rf3, rf3
    add rf3, rf3, rf3
    sub rf3, rf3, 1
    mov tmud, rf3
    mov tmua, rf1
    tmuwt -
";
        let code = asm(&format!("{src}{END}"));
        let run = |generic_only| {
            let mut gpu = Gpu::new(GpuConfig {
                host_threads: 1,
                generic_only,
                ..GpuConfig::default()
            });
            gpu.map_bo(0x1_0000, code.clone()).unwrap();
            gpu.map_bo(0x2_0000, 0x3_0000u32.to_le_bytes().repeat(4))
                .unwrap();
            gpu.map_bo(0x3_0000, vec![0; 64]).unwrap();
            let cfg = [
                1 << 16,
                1 << 16,
                1 << 16,
                16 | 1 << 8,
                1,
                0x1_0000,
                0x2_0000,
            ];
            BLOCKS_RUN.with(|c| c.set(0));
            gpu.dispatch(
                cfg,
                DispatchOptions {
                    trace: None,
                    threads_per_qpu: None,
                },
            )
            .expect("runs");
            assert_eq!(gpu.bo(0x3_0000).unwrap()[..4], 19u32.to_le_bytes());
            BLOCKS_RUN.with(|c| c.get())
        };
        assert!(run(false) > 0, "the fast paths run blocks");
        assert_eq!(run(true), 0, "generic_only runs no block");
    }
}
