//! One QPU thread executing one instruction: reads, the two ALUs, signals, the write-back, the
//! flags, and the delayed effects (branches, thread switches).

use std::collections::VecDeque;
use std::io::Write;

use qpu_asm::isa::{BranchCond, BranchDest, Cond, Magic, Msfign, Pf, Uf, Waddr, small_imm_value};
use qpu_asm::{AluInstr, BranchInstr, DecodeError, Input, Instr, Src, decode};

use crate::alu::{FlagKind, LaneCtx, Lanes, OpResult, eval_add, eval_mul, is_sfu, multop_rtop};
use crate::fault::FaultKind;
use crate::float::{fin, pack_f32};
use crate::lower::{
    BlockInstr, Eval, Fast, FastDst, Half, IMM_BASE, Lowered, RfOp, SigLoad, TEMP, lower,
};
use crate::memory::{Mem, Memory};
use crate::timing::{QpuStats, Timing};
use crate::tmu::{self, TmuRequest};

/// The program, decoded and lowered once per dispatch as far as it is executed. Words are
/// fetched from memory the first time they execute, so a code buffer of any size costs only
/// what runs.
pub(crate) struct Code {
    pub base: u32,
    /// Instruction words from `base` to the end of its buffer.
    len: usize,
    /// The register-file size the lowered forms were checked against.
    nregs: u32,
    decoded: Vec<Option<Result<Slot, DecodeError>>>,
    /// The block form of every decoded instruction that has one, by index, for
    /// [`Thread::run_block`] (a placeholder elsewhere, never run: [`Slot::run`] is 0 there).
    blocks: Vec<BlockInstr>,
    /// By index: how many instructions from this one are [`BlockInstr::regs_only`], the
    /// last of them possibly [`BlockInstr::loads_unif_only`] instead, and in the same block
    /// (at most [`Slot::run`]).
    regs_runs: Vec<u16>,
}

/// One decoded instruction and, when it has one, its lowered form (`crate::lower`).
pub(crate) struct Slot {
    pub instr: Instr,
    pub low: Option<Lowered>,
    /// The fast form of a lowered instruction of the simple shape.
    pub fast: Option<Fast>,
    /// The block form (`lower::BlockInstr`), for the instructions a block may hold.
    pub block: Option<BlockInstr>,
    /// Whether it can touch state other QPUs see in the same quantum: a TMU lookup (memory
    /// and the shared bus) or a barrier. The parallel scheduler stops before it.
    pub event: bool,
    /// Whether it writes `syncb` (a barrier).
    pub barrier: bool,
    /// How many instructions from this one (this one included) can run as a block
    /// ([`Thread::run_block`]): decoded, with a block form, and followed by an instruction
    /// inside the code; 0 when this one cannot. At most [`BLOCK_MAX`].
    pub run: u16,
    /// [`Slot::run`] stopping before the first event (the parallel phase's blocks).
    pub pure_run: u16,
}

/// The longest block [`Slot::run`] counts.
const BLOCK_MAX: u16 = 1024;

/// Whether an instruction writes a magic address `hit` accepts.
fn writes_magic(i: &Instr, hit: impl Fn(Magic) -> bool) -> bool {
    let Instr::Alu(a) = i else { return false };
    let ev = |w: Waddr| matches!(w, Waddr::Magic(m) if hit(m));
    (a.add.op.has_dst() && ev(a.add.dst))
        || (a.mul.op.has_dst() && ev(a.mul.dst))
        || a.sig_addr.is_some_and(ev)
}

/// Whether an instruction writes `tmua`, `tmuau` or `syncb` (see [`Slot::event`]).
fn is_event(i: &Instr) -> bool {
    writes_magic(i, |m| {
        matches!(m, Magic::Tmua | Magic::Tmuau | Magic::Syncb)
    })
}

impl Code {
    pub fn load(mem: &mut Memory, base: u32, nregs: u32) -> Option<Code> {
        let bytes = mem.bytes_from(base)?;
        Some(Code {
            base,
            len: bytes / 8,
            nregs,
            decoded: Vec::new(),
            blocks: Vec::new(),
            regs_runs: Vec::new(),
        })
    }

    /// Decodes the instruction at `pc` if it has not been yet; faults if it cannot.
    #[inline]
    pub fn ensure(&mut self, pc: usize, mem: &mut Memory) -> Result<(), FaultKind> {
        if let Some(Some(Ok(_))) = self.decoded.get(pc) {
            return Ok(());
        }
        self.decode_at(pc, mem)
    }

    #[cold]
    fn decode_at(&mut self, pc: usize, mem: &mut Memory) -> Result<(), FaultKind> {
        if pc >= self.len {
            return Err(FaultKind::PcOutsideCode {
                addr: self.base.wrapping_add((pc as u32).wrapping_mul(8)),
            });
        }
        let addr = self.base.wrapping_add(pc as u32 * 8);
        if self.decoded.get(pc).is_none_or(Option::is_none) {
            let word = mem
                .read_u64(addr)
                .ok_or(FaultKind::PcOutsideCode { addr })?;
            self.fill(pc, decode(word).map(|instr| self.slot_of(instr)));
            // Fetch ahead through the straight-line run this instruction starts, as far as
            // it goes (every instruction with a block form; at most BLOCK_MAX), so that the
            // run executes as one block the first time too. Only words that decode to such
            // instructions are kept; the first other one is decoded when it runs.
            let mut last = pc;
            if self.decoded[pc]
                .as_ref()
                .is_some_and(|d| d.as_ref().is_ok_and(|s| s.block.is_some()))
            {
                while last + 1 < self.len && last + 1 - pc < usize::from(BLOCK_MAX) {
                    let next = last + 1;
                    if self.decoded.get(next).is_some_and(Option::is_some) {
                        break;
                    }
                    let a = self.base.wrapping_add(next as u32 * 8);
                    let Some(slot) = mem
                        .read_u64(a)
                        .and_then(|w| decode(w).ok())
                        .map(|i| self.slot_of(i))
                        .filter(|s| s.block.is_some())
                    else {
                        break;
                    };
                    self.fill(next, Ok(slot));
                    last = next;
                }
            }
            self.link_blocks(last);
        }
        match &self.decoded[pc] {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(FaultKind::InvalidInstruction {
                word: mem.read_u64(addr).unwrap_or(0),
                reason: e.to_string(),
            }),
            None => unreachable!("filled above"),
        }
    }

    /// An instruction, lowered for this dispatch's register file.
    fn slot_of(&self, instr: Instr) -> Slot {
        let low = match &instr {
            Instr::Alu(a) => lower(a, self.nregs),
            Instr::Branch(_) => None,
        };
        let event = is_event(&instr);
        let barrier = writes_magic(&instr, |m| m == Magic::Syncb);
        let fast = low.as_ref().and_then(Lowered::fast);
        let block = low.as_ref().and_then(Lowered::block);
        Slot {
            instr,
            low,
            fast,
            block,
            event,
            barrier,
            run: 0,
            pure_run: 0,
        }
    }

    /// Stores the decoded instruction at `pc` (and its block form in `blocks`).
    fn fill(&mut self, pc: usize, slot: Result<Slot, DecodeError>) {
        if pc >= self.decoded.len() {
            self.decoded.resize_with(pc + 64, || None);
            self.blocks.resize(pc + 64, BlockInstr::PLACEHOLDER);
            self.regs_runs.resize(pc + 64, 0);
        }
        if let Ok(Slot { block: Some(b), .. }) = &slot {
            self.blocks[pc] = *b;
        }
        self.decoded[pc] = Some(slot);
    }

    /// Recounts [`Slot::run`], [`Slot::pure_run`] and `regs_runs` after the instructions up to
    /// `pc` were decoded: those at `pc` and before it, back to the first that does not change.
    fn link_blocks(&mut self, pc: usize) {
        let len = self.len;
        let counts = |d: &[Option<Result<Slot, DecodeError>>], p: usize| match d.get(p) {
            Some(Some(Ok(s))) => (s.run, s.pure_run),
            _ => (0, 0),
        };
        let mut p = pc;
        loop {
            let (next, next_pure) = counts(&self.decoded, p + 1);
            let Some(Some(Ok(s))) = self.decoded.get_mut(p) else {
                return;
            };
            let blockable = s.block.is_some() && p + 1 < len;
            let (run, pure_run) = if blockable {
                (
                    (next + 1).min(BLOCK_MAX),
                    if s.event {
                        0
                    } else {
                        (next_pure + 1).min(BLOCK_MAX)
                    },
                )
            } else {
                (0, 0)
            };
            // A run of register-only instructions ends at the first that also loads a
            // uniform, which it includes.
            let b = &self.blocks[p];
            let regs_run = match run > 0 {
                true if b.regs_only => {
                    (self.regs_runs.get(p + 1).copied().unwrap_or(0) + 1).min(run)
                }
                true if b.loads_unif_only => 1,
                _ => 0,
            };
            if p != pc && (run, pure_run, regs_run) == (s.run, s.pure_run, self.regs_runs[p]) {
                return;
            }
            s.run = run;
            s.pure_run = pure_run;
            self.regs_runs[p] = regs_run;
            if p == 0 {
                return;
            }
            p -= 1;
        }
    }

    /// The instruction at `pc`, once [`Code::ensure`] has succeeded for it.
    #[inline]
    pub fn slot(&self, pc: usize) -> Option<&Slot> {
        match self.decoded.get(pc) {
            Some(Some(Ok(s))) => Some(s),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The instruction index of a code address, if it is one.
    fn index_of(&self, addr: u32) -> Option<usize> {
        let off = addr.wrapping_sub(self.base);
        if addr < self.base || off % 8 != 0 || (off / 8) as usize >= self.len {
            None
        } else {
            Some((off / 8) as usize)
        }
    }
}

/// Slots of a thread's extended register file ([`Thread::rf`]): as many as a `u8` index
/// reaches, so indexing it by one needs no bounds check.
pub(crate) const RF_SLOTS: usize = 256;

/// A new thread's extended register file: zero registers, then the small immediates.
fn initial_rf() -> Box<[Lanes; RF_SLOTS]> {
    static INITIAL: std::sync::LazyLock<[Lanes; RF_SLOTS]> = std::sync::LazyLock::new(|| {
        let mut rf = [[0u32; 16]; RF_SLOTS];
        for idx in 0..TEMP - IMM_BASE {
            if let Some(v) = small_imm_value(idx) {
                rf[usize::from(IMM_BASE + idx)] = [v; 16];
            }
        }
        rf
    });
    Box::new(*INITIAL)
}

/// A pending branch: it takes effect after three delay slots.
#[derive(Clone, Copy, Debug)]
struct PendingBranch {
    /// Instructions left to execute before the jump, counting the branch itself.
    left: u8,
    target: Option<usize>,
    unif: Option<u32>,
}

/// A pending thread switch or thread end: it takes effect after two delay slots.
#[derive(Clone, Copy, Debug)]
struct PendingThrsw {
    left: u8,
    end: bool,
}

/// One TMU output FIFO entry: 16 lanes of one word, and when they arrive.
#[derive(Clone, Debug)]
pub(crate) struct FifoEntry {
    pub data: Lanes,
    pub ready: u64,
}

/// A hardware thread (one batch of 16 lanes) resident in a QPU thread slot.
pub(crate) struct Thread {
    pub batch: u32,
    pub supergroup: u32,
    pub slot: u32,
    pub tidx: u32,
    /// The register file, extended: 64 registers, of which only the first `nregs` exist
    /// (see `Ctx::nregs`; every access checks or lowering has checked), then the small
    /// immediates, each in every lane, from `IMM_BASE` (so a lowered input is one index,
    /// `lower::Operand`), then zeros up to `RF_SLOTS`, so a `u8` index needs no bounds
    /// check. Nothing writes past register 63 but a block instruction's temporary
    /// (`lower::TEMP`, past the immediates).
    pub rf: Box<[Lanes; RF_SLOTS]>,
    /// Where a lowered instruction's add, mul and signal results wait for write-back.
    scratch: Box<[Lanes; 3]>,
    /// Where a lookup's result words wait for the FIFO (a lookup sets every lane of the
    /// words it returns, so this is not cleared between lookups).
    tmu_words: Box<[Lanes; 4]>,
    pub fa: u16,
    pub fb: u16,
    pub pc: usize,
    pub unif: u32,
    pub unifa: u32,
    /// Instruction count at the last `unifa` write.
    unifa_written: Option<u64>,
    branch: Option<PendingBranch>,
    thrsw: Option<PendingThrsw>,
    thrsw_queued: Option<PendingThrsw>,
    prev_thrsw: bool,
    last_thrsw_found: bool,
    /// Instruction count (1-based) of the thread-end thrsw, once it has issued.
    thread_end_at: Option<u64>,
    pub link: u32,
    /// TMU data words written since the last lookup (`tmud`, `tmudref`, `tmuoff`).
    tmu_data: Vec<Lanes>,
    /// TMU configuration bytes for the next lookups, low byte first (`tmuc`, `tmuau`).
    tmu_cfg: u32,
    pub fifo: VecDeque<FifoEntry>,
    pub fifo_capacity: u32,
    /// When the thread's outstanding TMU writes complete.
    writes_done: u64,
    /// The bus time of its last lookup's size.
    occupy: Occupy,
    rtop: Option<Lanes>,
    last_sfu: Option<u64>,
    /// An SFU result not yet available: (register, instruction count it is ready at).
    sfu_pending: Option<(u8, u64)>,
    pub instrs: u64,
    pub barrier_wait: bool,
    /// Earliest clock the thread may run again (barrier release).
    pub resume_at: u64,
    /// The thread's recorded run, when the functional pass has run it already (`crate::split`):
    /// [`Thread::run`] then only replays its timing.
    pub replay: Option<Box<Replay>>,
}

/// A thread's run as the functional pass recorded it, and how far the replay has got.
pub(crate) struct Replay {
    pub events: Vec<Ev>,
    /// The next event.
    pub next: usize,
    /// When each word in the TMU FIFO arrives.
    pub fifo: VecDeque<u64>,
    pub writes_done: u64,
    occupy: Occupy,
}

impl Replay {
    pub fn new(events: Vec<Ev>) -> Box<Replay> {
        Box::new(Replay {
            events,
            next: 0,
            fifo: VecDeque::new(),
            writes_done: 0,
            occupy: Occupy::default(),
        })
    }
}

/// Why [`Thread::run`] stopped early: a fault at an instruction index, or the instruction
/// budget (the step limit) exhausted before the instruction at that index.
pub(crate) enum Stop {
    Fault(FaultKind, usize),
    Budget(usize),
}

/// A fault inside [`Thread::run_block`]: what, the index in the block of the instruction
/// that raised it, and the QPU clock when that instruction began.
pub(crate) struct BlockFault {
    pub kind: FaultKind,
    pub index: usize,
    pub began: u64,
}

/// What happened after one instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Continue,
    Switch,
    End,
}

/// Everything an instruction can touch outside its thread.
pub(crate) struct Ctx<'a, 't> {
    pub mem: Mem<'a>,
    pub timing: &'a Timing,
    pub stats: &'a mut QpuStats,
    pub clock: &'a mut u64,
    /// When the shared memory bus is next free, in 1/256 clocks.
    pub bus_free: &'a mut u64,
    pub nregs: u32,
    pub threads_per_qpu: u32,
    pub qpu: u32,
    pub trace: Option<&'a mut (dyn Write + 't)>,
    /// Whether the fast forms and blocks may run: no trace, and not
    /// `GpuConfig::generic_only`. Otherwise every instruction takes the generic path.
    pub fast: bool,
    /// Set when the instruction writes `syncb`.
    pub barrier: bool,
    /// What the instruction wrote, for the trace.
    pub written: &'a mut Vec<(Waddr, Lanes, u16)>,
    /// In the functional pass (`crate::split`): where timing events go, and how TMU lookups
    /// reach memory. `None`: the instruction runs in the schedule, with its timing.
    pub rec: Option<Rec<'a>>,
}

/// A TMU lookup's memory access in the functional pass (the lookup is timed later, by the
/// replay).
pub(crate) type LookupFn<'a> = dyn FnMut(&mut Memory, &TmuRequest<'_>, &mut [Lanes; 4]) -> Result<tmu::TmuResult, FaultKind>
    + 'a;

/// The functional pass's side of an instruction (`Ctx::rec`).
pub(crate) struct Rec<'a> {
    pub events: &'a mut Vec<Ev>,
    pub lookup: &'a mut LookupFn<'a>,
}

/// What the replay of a thread needs of one instruction's timing, in the order the
/// instruction met it: `at` is the thread's instruction count (1-based) at that instruction.
/// Twelve bytes, as a frame's dispatch records millions: the pass gives up on a thread
/// that runs past `u32::MAX / 2` instructions (`crate::split`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ev {
    pub at: u32,
    pub kind: EvKind,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum EvKind {
    /// An SFU result read early: the stall in clocks (at most the SFU latency, which the
    /// pass requires to fit).
    Sfu(u32),
    /// An `ldtmu`: the stall until its word arrives.
    Pop,
    /// A `tmuwt`: the stall until the thread's writes are done.
    Wait,
    /// A TMU lookup: its bytes, the words it returns, whether it writes.
    /// (At most 16 lanes of 4 words: 256 bytes.)
    Lookup { bytes: u16, nwords: u8, write: bool },
    /// A thread switch takes effect after this instruction.
    Switch,
    /// The thread ends after this instruction (its index, for a fault's location).
    End(u32),
}

impl Ev {
    /// An event at instruction count `at` (the pass checks that it fits).
    pub fn new(at: u64, kind: EvKind) -> Ev {
        Ev {
            at: at as u32,
            kind,
        }
    }
}

impl Thread {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        batch: u32,
        supergroup: u32,
        slot: u32,
        tidx: u32,
        entry: usize,
        unif: u32,
        fifo_capacity: u32,
        single_segment: bool,
        payload: (Lanes, Lanes),
        now: u64,
    ) -> Thread {
        let mut rf = initial_rf();
        // Mesa nir_to_vir.c (compute, ver >= 71): cs_payload[0] is rf3, cs_payload[1] is rf2.
        rf[3] = payload.0;
        rf[2] = payload.1;
        Thread {
            batch,
            supergroup,
            slot,
            tidx,
            rf,
            scratch: Box::new([[0; 16]; 3]),
            tmu_words: Box::new([[0; 16]; 4]),
            fa: 0,
            fb: 0,
            pc: entry,
            unif,
            unifa: 0,
            unifa_written: None,
            branch: None,
            thrsw: None,
            thrsw_queued: None,
            prev_thrsw: false,
            last_thrsw_found: single_segment,
            thread_end_at: None,
            link: 0,
            tmu_data: Vec::with_capacity(4),
            tmu_cfg: 0xffff_ffff,
            fifo: VecDeque::with_capacity(16),
            fifo_capacity,
            writes_done: 0,
            occupy: Occupy::default(),
            rtop: None,
            last_sfu: None,
            sfu_pending: None,
            instrs: 0,
            barrier_wait: false,
            resume_at: now,
            replay: None,
        }
    }

    /// Whether the thread can issue its next instruction (not stopped at a barrier, except to
    /// run the delay slots of the `thrsw` that goes with the barrier).
    pub fn runnable(&self) -> bool {
        !self.barrier_wait || self.thrsw.is_some()
    }

    #[inline]
    fn read_uniform(&mut self, mem: &mut Mem<'_>) -> Result<u32, FaultKind> {
        let addr = self.unif;
        let v = mem
            .read_uniform(addr)
            .ok_or(FaultKind::UniformOutOfBounds { addr })?;
        self.unif = addr.wrapping_add(4);
        Ok(v)
    }

    /// The next word of the second uniform stream (`ldunifa`, `ldunifarf`).
    #[inline(always)]
    fn read_unifa(&mut self, mem: &mut Mem<'_>) -> Result<u32, FaultKind> {
        // Mesa qpu_schedule.c: ldunifa needs 3 instructions between it and the unifa write
        // (py-videocore7 test_unifa.py: "Three delays are required").
        if let Some(w) = self.unifa_written {
            if self.instrs - w < 4 {
                return Err(unifa_too_soon(self.instrs - w - 1));
            }
        }
        let addr = self.unifa;
        let v = mem
            .read_uniform(addr)
            .ok_or(FaultKind::UniformOutOfBounds { addr })?;
        self.unifa = addr.wrapping_add(4);
        Ok(v)
    }

    /// An input by reference: the register itself, or `imm` filled with the small immediate
    /// (zeros when the op does not read this input).
    #[inline(always)]
    fn operand<'a>(
        &'a self,
        i: &Input,
        used: bool,
        imm: &'a mut Lanes,
        nregs: u32,
        threads: u32,
    ) -> Result<&'a Lanes, FaultKind> {
        if !used {
            *imm = [0; 16];
            return Ok(imm);
        }
        match i.src {
            Src::Rf(n) if u32::from(n) < nregs => Ok(&self.rf[n as usize & 63]),
            Src::Rf(n) => Err(FaultKind::RegisterOutOfRange {
                reg: n,
                nregs,
                threads,
            }),
            Src::SmallImm(idx) => {
                *imm = [small_imm_value(idx).ok_or_else(|| FaultKind::InvalidInstruction {
                    word: 0,
                    reason: format!("small immediate index {idx}"),
                })?; 16];
                Ok(imm)
            }
        }
    }

    #[inline(always)]
    fn read_input(&self, i: &Input, nregs: u32, threads: u32) -> Result<Lanes, FaultKind> {
        match i.src {
            Src::Rf(n) => {
                if u32::from(n) >= nregs {
                    return Err(FaultKind::RegisterOutOfRange {
                        reg: n,
                        nregs,
                        threads,
                    });
                }
                Ok(self.rf[n as usize & 63])
            }
            Src::SmallImm(idx) => {
                let v = small_imm_value(idx).ok_or_else(|| FaultKind::InvalidInstruction {
                    word: 0,
                    reason: format!("small immediate index {idx}"),
                })?;
                Ok([v; 16])
            }
        }
    }

    /// The lanes a condition selects.
    #[inline]
    fn cond_mask(&self, c: Option<Cond>) -> u16 {
        // By table, not by a branch on the condition (the table follows the order of
        // `Cond`'s values, checked when this compiles).
        const _: () = assert!(
            Cond::Ifa as usize == 0
                && Cond::Ifb as usize == 1
                && Cond::Ifna as usize == 2
                && Cond::Ifnb as usize == 3
        );
        match c {
            None => 0xffff,
            Some(c) => [self.fa, self.fb, !self.fa, !self.fb][c as usize & 3],
        }
    }

    /// Runs the thread from its pc until an instruction switches threads, ends the thread or
    /// writes `syncb`, or the QPU's clock reaches `until`, running at most `budget`
    /// instructions. Returns the outcome, the instructions run and the index of the last one.
    #[inline]
    pub fn run(
        &mut self,
        code: &mut Code,
        cx: &mut Ctx<'_, '_>,
        until: u64,
        budget: u64,
    ) -> Result<(Outcome, u64, usize), Stop> {
        if self.replay.is_some() {
            return self.run_replay(cx, until, budget);
        }
        let mut n = 0u64;
        loop {
            let at = self.pc;
            if n == budget {
                return Err(Stop::Budget(at));
            }
            if let Some(s) = code.slot(at) {
                if s.run > 1 && self.block_ready(cx) {
                    let k = block_len(s.run, budget - n, *cx.clock, until, cx.timing);
                    match self.run_block(code, k, until, cx) {
                        Ok(ran) => {
                            n += ran as u64;
                            if *cx.clock >= until {
                                return Ok((Outcome::Continue, n, self.pc - 1));
                            }
                            continue;
                        }
                        Err(f) => return Err(Stop::Fault(f.kind, at + f.index)),
                    }
                }
            }
            n += 1;
            match self.step(code, cx) {
                Ok(Outcome::Continue) if !cx.barrier && *cx.clock < until => {}
                Ok(o) => return Ok((o, n, at)),
                Err(k) => return Err(Stop::Fault(k, at)),
            }
        }
    }

    /// [`Thread::run`] for a thread the functional pass has run: the same clock, counters
    /// and bus traffic from its recorded events, instruction by instruction as `run` would
    /// meet them (what an instruction does to the clock depends only on the events in it).
    #[inline(never)]
    fn run_replay(
        &mut self,
        cx: &mut Ctx<'_, '_>,
        until: u64,
        budget: u64,
    ) -> Result<(Outcome, u64, usize), Stop> {
        let Some(r) = self.replay.as_mut() else {
            return Err(Stop::Fault(replay_bug(), 0));
        };
        let cpi = cx.timing.clocks_per_instr;
        let mut n = 0u64;
        loop {
            let Some(&next) = r.events.get(r.next) else {
                // The last event is the thread end.
                return Err(Stop::Fault(replay_bug(), 0));
            };
            // Instructions with no event before the next one.
            let Some(plain) = u64::from(next.at).checked_sub(1 + self.instrs) else {
                return Err(Stop::Fault(replay_bug(), 0));
            };
            if plain > 0 {
                // The instructions that start before `until` (a division only when the
                // stretch reaches it).
                let fit = if cpi > 0 && cx.clock.saturating_add(plain.saturating_mul(cpi)) < until {
                    plain
                } else {
                    until.saturating_sub(*cx.clock).div_ceil(cpi.max(1))
                };
                let k = plain.min(fit).min(budget - n);
                *cx.clock += k * cpi;
                self.instrs += k;
                n += k;
                if *cx.clock >= until {
                    return Ok((Outcome::Continue, n, 0));
                }
                if k < plain {
                    return Err(Stop::Budget(0));
                }
            }
            if n == budget {
                return Err(Stop::Budget(0));
            }
            *cx.clock += cpi;
            self.instrs += 1;
            n += 1;
            let mut outcome = Outcome::Continue;
            let mut last = 0;
            while let Some(e) = r
                .events
                .get(r.next)
                .filter(|e| u64::from(e.at) == self.instrs)
            {
                r.next += 1;
                match e.kind {
                    EvKind::Sfu(c) => {
                        let c = u64::from(c);
                        *cx.clock += c;
                        cx.stats.sfu_wait_cycles += c;
                    }
                    EvKind::Pop => tmu_wait_until(cx, r.fifo.pop_front().unwrap_or(0)),
                    EvKind::Wait => tmu_wait_until(cx, r.writes_done),
                    EvKind::Lookup {
                        bytes,
                        nwords,
                        write,
                    } => {
                        let ready = time_lookup(
                            cx,
                            u32::from(bytes),
                            write,
                            &mut r.writes_done,
                            &mut r.occupy,
                        );
                        for _ in 0..nwords {
                            r.fifo.push_back(ready);
                        }
                    }
                    EvKind::Switch => outcome = Outcome::Switch,
                    EvKind::End(pc) => {
                        outcome = Outcome::End;
                        last = pc as usize;
                    }
                }
            }
            if outcome != Outcome::Continue || *cx.clock >= until {
                return Ok((outcome, n, last));
            }
        }
    }

    /// Executes the instruction at `pc`, decoding it first if needed.
    #[inline]
    pub fn step(&mut self, code: &mut Code, cx: &mut Ctx<'_, '_>) -> Result<Outcome, FaultKind> {
        if code.slot(self.pc).is_none() {
            code.ensure(self.pc, cx.mem.exclusive()?)?;
        }
        let code = &*code;
        let slot = code.slot(self.pc).expect("decoded by ensure");
        self.exec(slot, code, cx)
    }

    /// Whether the thread is in its thread-end sequence (the ending thrsw has issued).
    pub fn ending(&self) -> bool {
        self.thrsw.is_some_and(|t| t.end) || self.thrsw_queued.is_some_and(|t| t.end)
    }

    /// Executes `slot`, the decoded instruction at `pc`: the fast form inline, anything else
    /// out of line.
    #[inline(always)]
    pub fn exec(
        &mut self,
        slot: &Slot,
        code: &Code,
        cx: &mut Ctx<'_, '_>,
    ) -> Result<Outcome, FaultKind> {
        if let Some(f) = &slot.fast {
            // The thread-end rules depend on where the thread is in its end sequence, and
            // tracing on what was written; the general path handles both.
            let ends_here =
                f.thrsw && !self.prev_thrsw && self.last_thrsw_found && self.thrsw.is_none();
            if self.thread_end_at.is_none() && !ends_here && cx.fast {
                *cx.clock += cx.timing.clocks_per_instr;
                self.instrs += 1;
                self.fast_alu(f, cx)?;
                self.prev_thrsw = f.thrsw;
                return self.advance(code);
            }
        }
        self.exec_general(slot, code, cx)
    }

    /// [`Thread::exec`] for everything but the fast forms.
    #[inline(never)]
    fn exec_general(
        &mut self,
        slot: &Slot,
        code: &Code,
        cx: &mut Ctx<'_, '_>,
    ) -> Result<Outcome, FaultKind> {
        *cx.clock += cx.timing.clocks_per_instr;
        self.instrs += 1;
        if let (Some(low), Instr::Alu(a), true) = (&slot.low, &slot.instr, cx.fast) {
            // The thread-end rules depend on where the thread is in its end sequence; the
            // generic path checks them.
            let ends_here =
                low.thrsw && !self.prev_thrsw && self.last_thrsw_found && self.thrsw.is_none();
            if self.thread_end_at.is_none() && !ends_here {
                self.lowered_alu(low, a, cx)?;
                self.prev_thrsw = low.thrsw;
                return self.advance(code);
            }
        }
        let instr = &slot.instr;
        let pc_addr = code.base.wrapping_add(self.pc as u32 * 8);
        if cx.trace.is_some() {
            cx.written.clear();
        }
        let is_thrsw = match instr {
            Instr::Branch(b) => {
                self.branch_instr(b, pc_addr, code, cx)?;
                false
            }
            Instr::Alu(a) => self.alu_instr(a, cx)?,
        };
        if let Some(t) = cx.trace.as_deref_mut() {
            let _ = writeln!(
                t,
                "qpu {:2} thread {} pc {:#010x}  {}",
                cx.qpu, self.slot, pc_addr, instr
            );
            for (w, v, m) in cx.written.iter() {
                let _ = write!(t, "    {w:<7}");
                for (i, x) in v.iter().enumerate() {
                    if m >> i & 1 == 1 {
                        let _ = write!(t, " {x:08x}");
                    } else {
                        let _ = write!(t, " --------");
                    }
                }
                let _ = writeln!(t);
            }
        }
        self.prev_thrsw = is_thrsw;
        self.advance(code)
    }

    /// Moves to the next instruction, running down the branch and thread-switch delays.
    #[inline(always)]
    fn advance(&mut self, code: &Code) -> Result<Outcome, FaultKind> {
        if self.branch.is_none() && self.thrsw.is_none() && self.pc + 1 < code.len() {
            self.pc += 1;
            return Ok(Outcome::Continue);
        }
        self.advance_delays(code)
    }

    /// `advance` with a branch or thread switch pending, or at the end of the code.
    #[inline(never)]
    fn advance_delays(&mut self, code: &Code) -> Result<Outcome, FaultKind> {
        let mut next = self.pc + 1;
        if let Some(b) = &mut self.branch {
            b.left -= 1;
            if b.left == 0 {
                let b = *b;
                self.branch = None;
                if let Some(t) = b.target {
                    next = t;
                }
                if let Some(u) = b.unif {
                    self.unif = u;
                }
            }
        }
        self.pc = next;
        let mut outcome = Outcome::Continue;
        if let Some(t) = &mut self.thrsw {
            t.left -= 1;
            if t.left == 0 {
                let end = t.end;
                self.thrsw = self.thrsw_queued.take();
                if let Some(q) = &mut self.thrsw {
                    q.left -= 1;
                }
                if let Some(w) = self.unifa_written {
                    // Mesa qpu_schedule.c: "unifa and the following 3 instructions can't
                    // overlap a thread switch/end".
                    if self.instrs - w < 3 {
                        return Err(FaultKind::Hazard(format!(
                            "a thread {} takes effect {} instructions after the unifa write; the unifa write and the 3 instructions after it must not overlap a thread switch (Mesa qpu_schedule.c)",
                            if end { "end" } else { "switch" },
                            self.instrs - w - 1
                        )));
                    }
                }
                // A thrsw clears the MULTOP result (Mesa qpu_validate.c rtop_hazard).
                self.rtop = None;
                outcome = if end { Outcome::End } else { Outcome::Switch };
            }
        }
        if outcome == Outcome::Continue && self.pc >= code.len() {
            return Err(FaultKind::PcOutsideCode {
                addr: code.base.wrapping_add(self.pc as u32 * 8),
            });
        }
        Ok(outcome)
    }

    #[inline(never)]
    fn branch_instr(
        &mut self,
        b: &BranchInstr,
        pc_addr: u32,
        code: &Code,
        cx: &mut Ctx<'_, '_>,
    ) -> Result<(), FaultKind> {
        // Mesa qpu_validate.c: "branch in a branch delay slot", "branch in a THRSW delay slot".
        if self.branch.is_some() {
            return Err(FaultKind::Hazard(
                "branch in the delay slots of another branch (Mesa qpu_validate.c)".into(),
            ));
        }
        if self.thrsw.is_some() {
            return Err(FaultKind::Hazard(
                "branch in the delay slots of a thrsw (Mesa qpu_validate.c)".into(),
            ));
        }
        let considered: u16 = match b.msfign {
            Msfign::None => 0xffff,
            // Every lane of a compute batch is dispatched, so the multisample flags ignore
            // none of them (docs/qpu-sim.md).
            Msfign::P => 0xffff,
            Msfign::Q => {
                return Err(FaultKind::SemanticsUnknown(
                    "the `q` multisample-flag ignore on a branch".into(),
                ));
            }
        };
        let a = self.fa & considered;
        let na = !self.fa & considered;
        let taken = match b.cond {
            BranchCond::Always => true,
            BranchCond::A0 => self.fa & 1 == 1,
            BranchCond::Na0 => self.fa & 1 == 0,
            BranchCond::Alla => a == considered,
            BranchCond::Anyna => na != 0,
            BranchCond::Anya => a != 0,
            BranchCond::Allna => na == considered,
        };
        // The return address is the instruction after the three delay slots (py-videocore7
        // tests/test_branch.py::test_branch_link_reg).
        let ret = pc_addr.wrapping_add(32);
        let unif = match b.unif {
            None => None,
            Some(BranchDest::Abs) => Some(self.read_uniform(&mut cx.mem)?),
            Some(BranchDest::Rel) => {
                // The offset is relative to the uniform after the one holding it
                // (py-videocore7 test_uniform_branch_rel: offset 8 at unif[1] lands on unif[4]).
                let v = self.read_uniform(&mut cx.mem)?;
                Some(self.unif.wrapping_add(v))
            }
            Some(BranchDest::Regfile) => {
                let r = self.read_input(&Input::rf(b.raddr_a), cx.nregs, cx.threads_per_qpu)?;
                // Lane 1: py-videocore7 test_uniform_branch_reg puts the address only in
                // element 1, and test_unifa.py case 3 says "Branch takes the second element".
                Some(r[1])
            }
            Some(BranchDest::LinkReg) => {
                return Err(FaultKind::SemanticsUnknown(
                    "a uniform-stream branch to the link register".into(),
                ));
            }
        };
        if !taken {
            // Delay-slot rules still apply to a branch that is not taken.
            self.branch = Some(PendingBranch {
                left: 4,
                target: None,
                unif: None,
            });
            return Ok(());
        }
        let target_addr = match b.dest {
            BranchDest::Abs => b.offset,
            BranchDest::Rel => ret.wrapping_add(b.offset),
            BranchDest::LinkReg => self.link,
            BranchDest::Regfile => {
                let r = self.read_input(&Input::rf(b.raddr_a), cx.nregs, cx.threads_per_qpu)?;
                if r[0] != r[1] {
                    return Err(FaultKind::SemanticsUnknown(format!(
                        "a branch to a register whose lanes differ (lane 0 {:#x}, lane 1 {:#x}); which lane the hardware reads is not established",
                        r[0], r[1]
                    )));
                }
                r[0]
            }
        };
        if b.link {
            self.link = ret;
        }
        let target = code
            .index_of(target_addr)
            .ok_or(FaultKind::BadBranchTarget { addr: target_addr })?;
        self.branch = Some(PendingBranch {
            left: 4,
            target: Some(target),
            unif,
        });
        Ok(())
    }

    /// Whether the thread's state lets a block (`Thread::run_block`) run without the
    /// per-instruction checks: no branch or thread switch counting down its delay slots, not
    /// in its thread-end sequence, no SFU result pending, fast paths allowed (`Ctx::fast`).
    #[inline(always)]
    pub fn block_ready(&self, cx: &Ctx<'_, '_>) -> bool {
        self.branch.is_none()
            && self.thrsw.is_none()
            && self.thread_end_at.is_none()
            && self.sfu_pending.is_none()
            && cx.fast
    }

    /// Runs up to `k` instructions from `pc`, all with a block form (a block, [`Slot::run`]),
    /// with the effect `exec` has running them one at a time when [`Thread::block_ready`]
    /// holds: nothing those per-instruction checks look at changes inside a block (it holds
    /// no branch, thrsw or SFU op). Stops early after an `ldtmu` whose stall takes
    /// the clock to `until`, where the scheduler stops the thread. Returns the instructions
    /// run, or the fault of the instruction that raised it, which is left as `exec` leaves it
    /// (its clock and count taken, the pc on it).
    #[inline(never)]
    pub fn run_block(
        &mut self,
        code: &Code,
        k: usize,
        until: u64,
        cx: &mut Ctx<'_, '_>,
    ) -> Result<usize, BlockFault> {
        #[cfg(test)]
        BLOCKS_RUN.with(|c| c.set(c.get() + 1));
        let start = self.pc;
        let cpi = cx.timing.clocks_per_instr;
        let instrs = self.instrs;
        let mut k = k;
        let mut j = 0;
        // The clock and the instruction count are kept here and stored where something
        // reads them: the signal loads, the magic writes, the end of the block.
        let mut clock = *cx.clock;
        let blocks = &code.blocks[start..start + k];
        let regs_runs = &code.regs_runs[start..start + k];
        while j < k {
            // A stretch of instructions with register ops only, the last of which may also
            // load from a uniform stream: nothing to store between them.
            let r = usize::from(regs_runs[j]).min(k - j);
            if r > 0 {
                let run = &blocks[j..j + r];
                for b in run {
                    self.rf_ops(b);
                }
                j += r;
                clock += cpi * r as u64;
                if let Some(b) = run.last().filter(|b| b.loads_unif_only) {
                    // Its load, after its register ops as `block_instr` orders them.
                    self.instrs = instrs + j as u64;
                    if let Err(kind) = self.unif_load(b.sig, &mut cx.mem) {
                        *cx.clock = clock;
                        self.pc = start + j - 1;
                        return Err(BlockFault {
                            kind,
                            index: j - 1,
                            began: clock - cpi,
                        });
                    }
                }
                continue;
            }
            let b = &blocks[j];
            clock += cpi;
            j += 1;
            *cx.clock = clock;
            self.instrs = instrs + j as u64;
            self.pc = start + j - 1;
            self.block_instr(b, cx).map_err(|kind| BlockFault {
                kind,
                index: j - 1,
                began: clock - cpi,
            })?;
            if let SigLoad::Tmu(_) = b.sig {
                clock = *cx.clock;
                // A stall moved the clock: the thread stops at `until` as before.
                if clock >= until {
                    break;
                }
                k = j + block_len(u16::MAX, (k - j) as u64, clock, until, cx.timing);
            }
        }
        *cx.clock = clock;
        self.instrs = instrs + j as u64;
        self.pc = start + j;
        self.prev_thrsw = false;
        Ok(j)
    }

    /// The register ops of a block instruction, in its order.
    #[inline(always)]
    fn rf_ops(&mut self, b: &BlockInstr) {
        for o in &b.rf[..usize::from(b.n).min(3)] {
            self.rf_op(o);
        }
    }

    /// One register op of a block instruction, in the lanes its condition selects.
    #[inline(always)]
    fn rf_op(&mut self, o: &RfOp) {
        let (a, b, d) = (usize::from(o.a), usize::from(o.b), usize::from(o.dst));
        let Some(c) = o.cond else {
            o.op.apply_rf(&mut self.rf, a, b, d);
            return;
        };
        let mask = self.cond_mask(Some(c));
        let v = o.op.apply(&self.rf[a], &self.rf[b]);
        blend(&mut self.rf[d], &v, mask);
    }

    /// A block instruction that is not [`BlockInstr::regs_only`], in the order `lower::BlockInstr`
    /// gives: the flag op's Z and N and the magic op's value from the inputs as they were,
    /// the register ops, the signal's load, the magic write, the flag update.
    #[inline(never)]
    fn block_instr(&mut self, b: &BlockInstr, cx: &mut Ctx<'_, '_>) -> Result<(), FaultKind> {
        let zn = b.flags.map(|f| {
            let v = f.op.apply(
                &self.rf[usize::from(f.a) % RF_SLOTS],
                &self.rf[usize::from(f.b) % RF_SLOTS],
            );
            let (z, n, _) = zn_bits(&v, f.kind);
            (f, z, n)
        });
        let magic = b.magic.map(|m| {
            let v = m.op.apply(
                &self.rf[usize::from(m.a) % RF_SLOTS],
                &self.rf[usize::from(m.b) % RF_SLOTS],
            );
            (m, self.cond_mask(m.cond), v)
        });
        self.rf_ops(b);
        if let Some((r, v)) = self.signal_load(b.sig, cx)? {
            self.rf[usize::from(r) & 63] = v;
        }
        if let Some((m, mask, v)) = magic {
            // The data and configuration writes inline, the rest through write_magic.
            match m.dst {
                Magic::Tmud | Magic::Tmudref | Magic::Tmuoff => self.queue_tmu_data(&v, mask)?,
                Magic::Tmuc => self.tmu_cfg = v[0],
                dst => self.write_magic(dst, v, mask, cx, &mut 0)?,
            }
        }
        if let Some((f, z, n)) = zn {
            // No carry: lowering leaves carry pushes and updates to the generic path.
            self.update_flags(f.pf, f.uf, z, n, None, "")?;
        }
        Ok(())
    }

    /// The load of a block instruction with [`BlockInstr::loads_unif_only`], after its
    /// register ops (the order `block_instr` runs them in). Apart from `signal_load`, whose
    /// FIFO arm, inlined into `run_block`'s register-only stretches, cost 13 % more host
    /// instructions on `vp9_itxfm16`.
    #[inline(always)]
    fn unif_load(&mut self, sig: SigLoad, mem: &mut Mem<'_>) -> Result<(), FaultKind> {
        if let Some((r, v)) = self.uniform_load(sig, mem)? {
            self.rf[usize::from(r) & 63] = [v; 16];
        }
        Ok(())
    }

    /// The word a uniform-stream signal load (`ldunif*`, `ldunifa*`) brings and the register
    /// it goes to; `None` for the other signals.
    #[inline(always)]
    fn uniform_load(
        &mut self,
        sig: SigLoad,
        mem: &mut Mem<'_>,
    ) -> Result<Option<(u8, u32)>, FaultKind> {
        Ok(match sig {
            SigLoad::Unif(r) => Some((r, self.read_uniform(mem)?)),
            SigLoad::Unifa(r) => Some((r, self.read_unifa(mem)?)),
            SigLoad::None | SigLoad::Tmu(_) => None,
        })
    }

    /// The value a lowered signal load brings and the register it goes to: the next uniform
    /// or second-stream word in every lane, or the next TMU FIFO entry (stalling until it
    /// arrives, counted as TMU wait).
    #[inline(always)]
    fn signal_load(
        &mut self,
        sig: SigLoad,
        cx: &mut Ctx<'_, '_>,
    ) -> Result<Option<(u8, Lanes)>, FaultKind> {
        Ok(match sig {
            SigLoad::Tmu(r) => Some((r, self.pop_fifo(cx)?)),
            other => self
                .uniform_load(other, &mut cx.mem)?
                .map(|(r, v)| (r, [v; 16])),
        })
    }

    /// `ldtmu`: the FIFO's next word, stalling until it has arrived.
    #[inline(always)]
    fn pop_fifo(&mut self, cx: &mut Ctx<'_, '_>) -> Result<Lanes, FaultKind> {
        let e = self.fifo.pop_front().ok_or(FaultKind::LdtmuEmpty)?;
        if let Some(r) = &mut cx.rec {
            r.events.push(Ev::new(self.instrs, EvKind::Pop));
        }
        tmu_wait_until(cx, e.ready);
        Ok(e.data)
    }

    /// A stall reading an SFU result early.
    #[cold]
    fn sfu_stall(&mut self, stall: u64, cx: &mut Ctx<'_, '_>) {
        if let Some(r) = &mut cx.rec {
            r.events
                .push(Ev::new(self.instrs, EvKind::Sfu(stall as u32)));
        }
        *cx.clock += stall;
        cx.stats.sfu_wait_cycles += stall;
        self.sfu_pending = None;
    }

    /// Executes an instruction of the simple shape through its fast form (`lower::Fast`):
    /// what `lowered_alu` does for it, with nothing that cannot happen left in. Both ALUs
    /// read their inputs before anything is written.
    #[inline(always)]
    fn fast_alu(&mut self, f: &Fast, cx: &mut Ctx<'_, '_>) -> Result<(), FaultKind> {
        if let Some((reg, ready)) = self.sfu_pending {
            if self.instrs > ready {
                self.sfu_pending = None;
            } else if f.reads >> reg & 1 == 1 {
                let stall = (ready - (self.instrs - 1)) * cx.timing.clocks_per_instr;
                self.sfu_stall(stall, cx);
            }
        }
        let rf = &self.rf;
        let mut ra = [0u32; 16];
        if let Some(h) = &f.add {
            ra = h.op.apply(
                &rf[usize::from(h.a) % RF_SLOTS],
                &rf[usize::from(h.b) % RF_SLOTS],
            );
        }
        let mut rm = [0u32; 16];
        if let Some(h) = &f.mul {
            rm = h.op.apply(
                &rf[usize::from(h.a) % RF_SLOTS],
                &rf[usize::from(h.b) % RF_SLOTS],
            );
        }
        let sig = self.signal_load(f.sig, cx)?;
        // The magic addresses a fast form writes write no register, and the registers it
        // writes are distinct (`Lowered::simple`), so no write can meet another.
        if let Some(h) = &f.add {
            self.fast_write(h.dst, &ra, cx)?;
        }
        if let Some(h) = &f.mul {
            self.fast_write(h.dst, &rm, cx)?;
        }
        if let Some((n, v)) = sig {
            self.rf[usize::from(n) & 63] = v;
        }
        if f.thrsw {
            self.thrsw_signal()?;
        }
        Ok(())
    }

    #[inline(always)]
    fn fast_write(
        &mut self,
        dst: FastDst,
        v: &Lanes,
        cx: &mut Ctx<'_, '_>,
    ) -> Result<(), FaultKind> {
        match dst {
            FastDst::Rf(n) => self.rf[usize::from(n) & 63] = *v,
            FastDst::Discard => {}
            FastDst::Magic(m) => self.write_magic(m, *v, 0xffff, cx, &mut 0)?,
        }
        Ok(())
    }

    /// Executes a lowered ALU instruction (`crate::lower`). The same steps, in the same order,
    /// as `alu_instr`, without the checks lowering has already made. Results go to the
    /// thread's scratch lanes (add, mul, signal) and from there to their destinations, so no
    /// 16-lane value is moved through a `Result`.
    fn lowered_alu(
        &mut self,
        l: &Lowered,
        ins: &AluInstr,
        cx: &mut Ctx<'_, '_>,
    ) -> Result<(), FaultKind> {
        if let Some((reg, ready)) = self.sfu_pending {
            if self.instrs > ready {
                self.sfu_pending = None;
            } else if l.reads >> reg & 1 == 1 {
                let stall = (ready - (self.instrs - 1)) * cx.timing.clocks_per_instr;
                self.sfu_stall(stall, cx);
            }
        }
        let add_mask = self.cond_mask(l.add.as_ref().and_then(|h| h.cond));
        let mul_mask = self.cond_mask(l.mul.as_ref().and_then(|h| h.cond));
        let (add, mul) = (&ins.add, &ins.mul);
        let lcx = |t: &Thread, cond_mask| LaneCtx {
            tidx: t.tidx,
            flags_a: t.fa,
            flags_b: t.fb,
            link: t.link,
            cond_mask,
        };
        let mut add_meta = Meta::INT;
        if let Some(h) = &l.add {
            let [out, _, _] = &mut *self.scratch;
            add_meta = match h.eval {
                Eval::Direct(op, kind) => {
                    *out = with_inputs(&self.rf, h, |a, b| op.apply(a, b));
                    Meta::direct(kind)
                }
                Eval::Generic => {
                    let lc = lcx(self, add_mask);
                    let r = with_inputs(&self.rf, h, |a, b| {
                        eval_add(add.op, a, b, add.a.unpack, add.b.unpack, add.pack, &lc)
                    })?;
                    self.scratch[0] = r.val;
                    Meta::of(&r)
                }
            };
        }
        let mut mul_meta = Meta::INT;
        if let Some(h) = &l.mul {
            let [_, out, _] = &mut *self.scratch;
            mul_meta = match h.eval {
                Eval::Direct(op, kind) => {
                    *out = with_inputs(&self.rf, h, |a, b| op.apply(a, b));
                    Meta::direct(kind)
                }
                Eval::Generic => {
                    let r = with_inputs(&self.rf, h, |a, b| {
                        eval_mul(mul.op, a, b, mul.a.unpack, mul.b.unpack, mul.pack, None)
                    })?;
                    self.scratch[1] = r.val;
                    Meta::of(&r)
                }
            };
        }
        let sig_reg = match self.signal_load(l.sig, cx)? {
            Some((r, v)) => {
                self.scratch[2] = v;
                Some(r)
            }
            None => None,
        };
        let mut rf_written = 0u64;
        if let Some(h) = &l.add {
            self.lowered_write(h.dst, 0, &add_meta, add_mask, cx, &mut rf_written)?;
        }
        if let Some(h) = &l.mul {
            self.lowered_write(h.dst, 1, &mul_meta, mul_mask, cx, &mut rf_written)?;
        }
        if let Some(n) = sig_reg {
            self.lowered_write(Waddr::Rf(n), 2, &Meta::INT, 0xffff, cx, &mut rf_written)?;
        }
        if let Some(h) = &l.add {
            if h.flags {
                let (z, n, c) = add_meta.flag_bits(&self.scratch[0]);
                self.update_flags(add.flags.pf, add.flags.uf, z, n, c, add.op.name())?;
            }
        }
        if let Some(h) = &l.mul {
            if h.flags {
                let (z, n, c) = mul_meta.flag_bits(&self.scratch[1]);
                self.update_flags(mul.flags.pf, mul.flags.uf, z, n, c, mul.op.name())?;
            }
        }
        if l.thrsw {
            self.thrsw_signal()?;
        }
        Ok(())
    }

    /// Writes scratch lanes `k` to `dst`: straight into the register when it is an unpacked
    /// result to a register not yet written, else through `write`.
    #[inline(always)]
    fn lowered_write(
        &mut self,
        dst: Waddr,
        k: usize,
        meta: &Meta,
        mask: u16,
        cx: &mut Ctx<'_, '_>,
        rf_written: &mut u64,
    ) -> Result<(), FaultKind> {
        if let Waddr::Rf(n) = dst {
            // Lowering checked n against the register file.
            if meta.pack == crate::float::F32Pack::None && *rf_written >> n & 1 == 0 {
                *rf_written |= 1 << n;
                let val = &self.scratch[k];
                let reg = &mut self.rf[n as usize & 63];
                if mask == 0xffff {
                    *reg = *val;
                } else {
                    for i in 0..16 {
                        reg[i] = if mask >> i & 1 == 1 { val[i] } else { reg[i] };
                    }
                }
                return Ok(());
            }
        }
        let r = meta.result(self.scratch[k]);
        self.write(dst, &r, mask, cx, rf_written)
    }

    /// Executes an ALU instruction; returns whether it carried `thrsw`.
    #[inline(never)]
    fn alu_instr(&mut self, ins: &AluInstr, cx: &mut Ctx<'_, '_>) -> Result<bool, FaultKind> {
        let sig = ins.sig;
        if sig.ldvary || sig.ldtlb || sig.ldtlbu {
            return Err(FaultKind::Unsupported(
                "ldvary/ldtlb/ldtlbu have no meaning in a compute dispatch".into(),
            ));
        }
        if sig.ucb || sig.wrtmuc {
            return Err(FaultKind::Unsupported(
                "ucb and wrtmuc (texture and cache-control signals) are not modelled".into(),
            ));
        }
        let add = &ins.add;
        let mul = &ins.mul;
        let (nregs, threads) = (cx.nregs, cx.threads_per_qpu);

        // An SFU result read before it is ready stalls (py-videocore7 test_alu.py reads the
        // result of `recip` in the very next instruction and gets it).
        if let Some((reg, ready)) = self.sfu_pending {
            if self.instrs > ready {
                self.sfu_pending = None;
            } else {
                let reads = |i: &Input, n: u8| n >= 1 && i.src == Src::Rf(reg);
                if reads(&add.a, add.op.nsrc())
                    || reads(&add.b, add.op.nsrc().saturating_sub(1))
                    || reads(&mul.a, mul.op.nsrc())
                    || reads(&mul.b, mul.op.nsrc().saturating_sub(1))
                {
                    let stall = (ready - (self.instrs - 1)) * cx.timing.clocks_per_instr;
                    self.sfu_stall(stall, cx);
                }
            }
        }

        let add_mask = self.cond_mask(add.flags.cond);
        let mul_mask = self.cond_mask(mul.flags.cond);
        let lane_cx = LaneCtx {
            tidx: self.tidx,
            flags_a: self.fa,
            flags_b: self.fb,
            link: self.link,
            cond_mask: add_mask,
        };

        if add.op == qpu_asm::isa::AddOp::Barrierid && add.dst != Waddr::Magic(Magic::Syncb) {
            return Err(FaultKind::SemanticsUnknown(
                "the value `barrierid` writes anywhere but `syncb` (Mesa only writes it there)"
                    .into(),
            ));
        }
        let sfu = is_sfu(add.op);
        if sfu {
            if self.thrsw.is_some() {
                return Err(FaultKind::Hazard(
                    "SFU op started in the delay slots of a thrsw; its result would land in another thread (Mesa qpu_validate.c)".into(),
                ));
            }
            if let Some(last) = self.last_sfu {
                if self.instrs - last < 2 {
                    return Err(FaultKind::Hazard(
                        "SFU op within 2 instructions of the previous one (Mesa qpu_validate.c \"SFU write too soon after SFU\")".into(),
                    ));
                }
            }
            self.last_sfu = Some(self.instrs);
        }

        // A nop ALU computes nothing (it has no destination and, without flags, no effect).
        let add_idle =
            add.op == qpu_asm::isa::AddOp::Nop && add.flags.pf.is_none() && add.flags.uf.is_none();
        let mul_idle =
            mul.op == qpu_asm::isa::MulOp::Nop && mul.flags.pf.is_none() && mul.flags.uf.is_none();
        let multop = mul.op == qpu_asm::isa::MulOp::Multop;
        if multop && mul.dst != Waddr::NOP {
            return Err(FaultKind::SemanticsUnknown(
                "the value MULTOP writes to its destination (Mesa only writes it to nop)".into(),
            ));
        }
        let rtop = if mul.op == qpu_asm::isa::MulOp::Umul24 {
            self.rtop.take()
        } else {
            None
        };
        // Inputs are read in place, before anything is written.
        let (mut i0, mut i1) = ([0u32; 16], [0u32; 16]);
        let add_res = if add_idle {
            None
        } else {
            let n = add.op.nsrc();
            let a = self.operand(&add.a, n >= 1, &mut i0, nregs, threads)?;
            let b = self.operand(&add.b, n >= 2, &mut i1, nregs, threads)?;
            Some(eval_add(
                add.op,
                a,
                b,
                add.a.unpack,
                add.b.unpack,
                add.pack,
                &lane_cx,
            )?)
        };
        let mut new_rtop = None;
        let mul_res = if mul_idle {
            None
        } else {
            let n = mul.op.nsrc();
            let a = self.operand(&mul.a, n >= 1, &mut i0, nregs, threads)?;
            let b = self.operand(&mul.b, n >= 2, &mut i1, nregs, threads)?;
            if multop {
                new_rtop = Some(multop_rtop(a, b));
                None
            } else {
                Some(eval_mul(
                    mul.op,
                    a,
                    b,
                    mul.a.unpack,
                    mul.b.unpack,
                    mul.pack,
                    rtop.as_ref(),
                )?)
            }
        };
        if new_rtop.is_some() {
            self.rtop = new_rtop;
        }

        // Signals that read the uniform streams or the TMU FIFO. Their values are written
        // with the ALU results at the end of the instruction.
        let mut sig_val: Option<(Waddr, Lanes)> = None;
        if sig.ldunif || sig.ldunifrf {
            let v = self.read_uniform(&mut cx.mem)?;
            let dst = if sig.ldunif {
                Waddr::Rf(0)
            } else {
                sig_addr(ins)?
            };
            sig_val = Some((dst, [v; 16]));
        }
        if sig.ldunifa || sig.ldunifarf {
            if sig_val.is_some() {
                return Err(FaultKind::Unsupported(
                    "ldunif and ldunifa in one instruction".into(),
                ));
            }
            let v = self.read_unifa(&mut cx.mem)?;
            let dst = if sig.ldunifa {
                Waddr::Rf(0)
            } else {
                sig_addr(ins)?
            };
            sig_val = Some((dst, [v; 16]));
        }
        if sig.ldtmu {
            let data = self.pop_fifo(cx)?;
            if sig_val.is_some() {
                return Err(FaultKind::Unsupported(
                    "ldtmu together with a uniform load".into(),
                ));
            }
            sig_val = Some((sig_addr(ins)?, data));
        }
        if add.op == qpu_asm::isa::AddOp::Tmuwt {
            if let Some(r) = &mut cx.rec {
                r.events.push(Ev::new(self.instrs, EvKind::Wait));
            }
            tmu_wait_until(cx, self.writes_done);
        }

        // Thread-end rules (Mesa qpu_validate.c, V3D 7.1): position 0 is the thread-end
        // thrsw itself, 1 and 2 its delay slots.
        let end_pos =
            if sig.thrsw && !self.prev_thrsw && self.last_thrsw_found && self.thrsw.is_none() {
                Some(0)
            } else {
                self.thread_end_at.map(|at| self.instrs - at)
            };
        if let Some(pos) = end_pos {
            let at_end = pos == 0;
            let rf_dst = |w: Waddr| matches!(w, Waddr::Rf(_));
            for (op_dst, has) in [(add.dst, add.op.has_dst()), (mul.dst, mul.op.has_dst())] {
                if has && rf_dst(op_dst) {
                    if at_end {
                        return Err(FaultKind::Hazard(
                            "ALU register-file write in the thread-end instruction (Mesa qpu_validate.c \"RF write at THREND\")".into(),
                        ));
                    }
                    if matches!(op_dst, Waddr::Rf(2 | 3)) {
                        return Err(FaultKind::Hazard(
                            "rf2/rf3 written after the thread-end thrsw (Mesa qpu_validate.c)"
                                .into(),
                        ));
                    }
                }
            }
            if matches!(sig_val, Some((Waddr::Rf(2 | 3), _))) {
                return Err(FaultKind::Hazard(
                    "rf2/rf3 written by a signal after the thread-end thrsw (Mesa qpu_validate.c)"
                        .into(),
                ));
            }
            if pos == 2 && add.op == qpu_asm::isa::AddOp::Tmuwt {
                return Err(FaultKind::Hazard(
                    "tmuwt in the last instruction of the thread (Mesa qpu_validate.c, GFXH-1625)"
                        .into(),
                ));
            }
        }

        // Write-back: add, mul, then the signal.
        let mut rf_written: u64 = 0;
        if let Some(a) = &add_res {
            if add.op.has_dst() && add.op != qpu_asm::isa::AddOp::Tmuwt {
                if sfu {
                    if let Waddr::Rf(n) = add.dst {
                        self.sfu_pending =
                            Some((n, self.instrs - 1 + cx.timing.sfu_latency_instrs));
                    }
                }
                self.write(add.dst, a, add_mask, cx, &mut rf_written)?;
            }
        }
        if let Some(m) = &mul_res {
            if mul.op.has_dst() {
                self.write(mul.dst, m, mul_mask, cx, &mut rf_written)?;
            }
        }
        if let Some((dst, v)) = sig_val {
            let r = OpResult {
                val: v,
                kind: FlagKind::Int,
                carry: None,
                cmp: None,
                pack: crate::float::F32Pack::None,
            };
            self.write(dst, &r, 0xffff, cx, &mut rf_written)?;
        }

        // Flags: at most one ALU pushes or updates them in an encodable instruction.
        if let Some(a) = &add_res {
            if add.flags.pf.is_some() || add.flags.uf.is_some() {
                let (z, n, c) = flag_bits(a)?;
                self.update_flags(add.flags.pf, add.flags.uf, z, n, c, add.op.name())?;
            }
        }
        if let Some(m) = &mul_res {
            if mul.flags.pf.is_some() || mul.flags.uf.is_some() {
                let (z, n, c) = flag_bits(m)?;
                self.update_flags(mul.flags.pf, mul.flags.uf, z, n, c, mul.op.name())?;
            }
        }

        if sig.thrsw {
            self.thrsw_signal()?;
        }
        Ok(sig.thrsw)
    }

    fn thrsw_signal(&mut self) -> Result<(), FaultKind> {
        if self.branch.is_some() {
            return Err(FaultKind::Hazard(
                "thrsw in the delay slots of a branch (Mesa qpu_validate.c)".into(),
            ));
        }
        if self.prev_thrsw {
            // Two thrsw in a row mark the last thread section (Mesa qpu_validate.c).
            if self.last_thrsw_found {
                return Err(FaultKind::Hazard(
                    "two last-thrsw markers (Mesa qpu_validate.c)".into(),
                ));
            }
            self.last_thrsw_found = true;
            return Ok(());
        }
        let end = self.last_thrsw_found;
        let p = PendingThrsw { left: 3, end };
        match self.thrsw {
            None => self.thrsw = Some(p),
            // In the second delay slot of another thrsw: this one counts its own delay slots
            // after the first switch (py-videocore7 test_alu.py issues thrsw two
            // instructions apart and runs on hardware).
            Some(t) if t.left == 1 && !t.end => self.thrsw_queued = Some(p),
            Some(_) => {
                return Err(FaultKind::Hazard(
                    "thrsw in the delay slots of a thread end".into(),
                ));
            }
        }
        if end {
            self.thread_end_at = Some(self.instrs);
        }
        Ok(())
    }

    fn update_flags(
        &mut self,
        pf: Option<Pf>,
        uf: Option<Uf>,
        z: u16,
        n: u16,
        c: Option<u16>,
        op: &str,
    ) -> Result<(), FaultKind> {
        let carry = || {
            c.ok_or_else(|| {
                FaultKind::SemanticsUnknown(format!(
                    "the carry flag of `{op}` (sources establish it for sub, min and fcmp only)"
                ))
            })
        };
        if let Some(pf) = pf {
            let v = match pf {
                Pf::Pushz => z,
                Pf::Pushn => n,
                Pf::Pushc => carry()?,
            };
            // A push moves A into B (py-videocore7 test_cond_push_b).
            self.fb = self.fa;
            self.fa = v;
        }
        if let Some(uf) = uf {
            // py-videocore7 test_condition_codes.py::test_cond_update: and*: A & x,
            // nor*: !(A | x), where x is the flag or its negation (`n` infix).
            let (x, and) = match uf {
                Uf::Andz => (z, true),
                Uf::Andnz => (!z, true),
                Uf::Nornz => (!z, false),
                Uf::Norz => (z, false),
                Uf::Andn => (n, true),
                Uf::Andnn => (!n, true),
                Uf::Nornn => (!n, false),
                Uf::Norn => (n, false),
                Uf::Andc => (carry()?, true),
                Uf::Andnc => (!carry()?, true),
                Uf::Nornc => (!carry()?, false),
                Uf::Norc => (carry()?, false),
            };
            self.fa = if and { self.fa & x } else { !(self.fa | x) };
        }
        Ok(())
    }

    /// Writes an ALU or signal result to its destination.
    #[inline]
    fn write(
        &mut self,
        dst: Waddr,
        r: &OpResult,
        mask: u16,
        cx: &mut Ctx<'_, '_>,
        rf_written: &mut u64,
    ) -> Result<(), FaultKind> {
        // The common case: an unpacked result to a register not yet written.
        if let Waddr::Rf(n) = dst {
            if r.pack == crate::float::F32Pack::None
                && u32::from(n) < cx.nregs
                && *rf_written >> n & 1 == 0
            {
                *rf_written |= 1 << n;
                let reg = &mut self.rf[n as usize & 63];
                if mask == 0xffff {
                    *reg = r.val;
                } else {
                    for (i, (d, v)) in reg.iter_mut().zip(r.val).enumerate() {
                        if mask >> i & 1 == 1 {
                            *d = v;
                        }
                    }
                }
                if cx.trace.is_some() {
                    cx.written.push((dst, *reg, mask));
                }
                return Ok(());
            }
        }
        let packed = |old: &Lanes| -> Lanes {
            if r.pack == crate::float::F32Pack::None {
                r.val
            } else {
                std::array::from_fn(|i| pack_f32(r.pack, r.val[i], old[i]))
            }
        };
        match dst {
            Waddr::Rf(n) => {
                self.rf_write(n, packed(&self.rf[n as usize & 63]), mask, cx, rf_written)?;
                if cx.trace.is_some() {
                    cx.written.push((dst, self.rf[n as usize & 63], mask));
                }
            }
            Waddr::Magic(m) => {
                let v = packed(&[0; 16]);
                if cx.trace.is_some() && m != Magic::Nop {
                    cx.written.push((dst, v, mask));
                }
                self.write_magic(m, v, mask, cx, rf_written)?;
            }
        }
        Ok(())
    }

    fn rf_write(
        &mut self,
        n: u8,
        v: Lanes,
        mask: u16,
        cx: &Ctx<'_, '_>,
        rf_written: &mut u64,
    ) -> Result<(), FaultKind> {
        if u32::from(n) >= cx.nregs {
            return Err(FaultKind::RegisterOutOfRange {
                reg: n,
                nregs: cx.nregs,
                threads: cx.threads_per_qpu,
            });
        }
        if *rf_written >> n & 1 == 1 {
            return Err(FaultKind::Hazard(format!(
                "rf{n} is written twice by one instruction; which write wins is not established"
            )));
        }
        *rf_written |= 1 << n;
        let r = &mut self.rf[n as usize & 63];
        if mask == 0xffff {
            *r = v;
        } else {
            for i in 0..16 {
                if mask >> i & 1 == 1 {
                    r[i] = v[i];
                }
            }
        }
        Ok(())
    }

    /// A `tmud`/`tmudref`/`tmuoff` write: one data word per lane for the next lookup (0 in
    /// the lanes `mask` leaves out).
    #[inline(always)]
    fn queue_tmu_data(&mut self, v: &Lanes, mask: u16) -> Result<(), FaultKind> {
        if self.tmu_data.len() == 4 {
            return Err(FaultKind::Unsupported(
                "more than 4 TMU data words before a lookup".into(),
            ));
        }
        let mut d = [0u32; 16];
        blend(&mut d, v, mask);
        self.tmu_data.push(d);
        Ok(())
    }

    fn write_magic(
        &mut self,
        m: Magic,
        v: Lanes,
        mask: u16,
        cx: &mut Ctx<'_, '_>,
        rf_written: &mut u64,
    ) -> Result<(), FaultKind> {
        match m {
            Magic::Nop => {}
            // Writes rf0 with each quad's lane-0 value in its 4 lanes (py-videocore7
            // test_registers.py::test_regis_quad).
            Magic::Quad => {
                let q: Lanes = std::array::from_fn(|i| v[i & !3]);
                self.rf_write(0, q, mask, cx, rf_written)?;
            }
            // Writes rf0 with lane 0's value in every lane (test_regs_rep).
            Magic::Rep => self.rf_write(0, [v[0]; 16], mask, cx, rf_written)?,
            // The second uniform stream's address comes from lane 0 (test_unifa.py).
            Magic::Unifa => {
                self.unifa = v[0];
                self.unifa_written = Some(self.instrs);
            }
            Magic::Tmud | Magic::Tmudref | Magic::Tmuoff => self.queue_tmu_data(&v, mask)?,
            Magic::Tmuc => self.tmu_cfg = v[0],
            Magic::Tmua | Magic::Tmuau => self.tmu_lookup(m, v, mask, cx)?,
            Magic::Syncb => {
                cx.barrier = true;
                self.barrier_wait = true;
            }
            other => return Err(magic_write_fault(other)),
        }
        Ok(())
    }

    /// A `tmua`/`tmuau` write: the lookup with the next configuration byte and the queued
    /// data words, its place on the shared memory bus, and its result words in the FIFO.
    #[inline(never)]
    fn tmu_lookup(
        &mut self,
        m: Magic,
        v: Lanes,
        mask: u16,
        cx: &mut Ctx<'_, '_>,
    ) -> Result<(), FaultKind> {
        if m == Magic::Tmuau {
            // tmuau takes its configuration from the uniform stream (Mesa
            // v3d_qpu_magic_waddr_loads_unif; py-videocore7 test_tmu.py
            // *_with_uniform_config).
            self.tmu_cfg = self.read_uniform(&mut cx.mem)?;
        }
        let cfg = (self.tmu_cfg & 0xff) as u8;
        // One configuration byte per lookup, low byte first; 0xff is the default
        // (py-videocore7 examples/scopy.py uses 0xFC80FCFC for read, read, prefetch,
        // write).
        self.tmu_cfg = (self.tmu_cfg >> 8) | 0xff00_0000;
        let data = std::mem::take(&mut self.tmu_data);
        let req = TmuRequest {
            addr: v,
            mask,
            cfg,
            data: &data,
        };
        let words = &mut *self.tmu_words;
        let res = match &mut cx.rec {
            Some(r) => (r.lookup)(cx.mem.exclusive()?, &req, words)?,
            None => tmu::lookup(cx.mem.exclusive()?, &req, words)?,
        };
        self.tmu_data = data;
        self.tmu_data.clear();
        if let Some(r) = &mut cx.rec {
            r.events.push(Ev::new(
                self.instrs,
                EvKind::Lookup {
                    bytes: res.bytes as u16,
                    nwords: res.nwords as u8,
                    write: res.is_write,
                },
            ));
        }
        let ready = time_lookup(
            cx,
            res.bytes,
            res.is_write,
            &mut self.writes_done,
            &mut self.occupy,
        );
        if res.nwords > 0 {
            let queued = self.fifo.len() as u32;
            let adding = res.nwords as u32;
            if queued + adding > self.fifo_capacity {
                return Err(FaultKind::TmuFifoOverflow {
                    queued,
                    adding,
                    capacity: self.fifo_capacity,
                });
            }
            for &w in self.tmu_words.iter().take(res.nwords) {
                self.fifo.push_back(FifoEntry { data: w, ready });
            }
        }
        Ok(())
    }
}

/// A lookup's counters and its transfer on the shared memory bus (docs/qpu-sim.md §Timing),
/// for the schedule and the replay alike: a write is done `tmu_write_latency` after the
/// transfer starts (`writes_done` for `tmuwt`); returns when its read words arrive.
fn time_lookup(
    cx: &mut Ctx<'_, '_>,
    bytes: u32,
    write: bool,
    writes_done: &mut u64,
    occupy: &mut Occupy,
) -> u64 {
    cx.stats.tmu_requests += 1;
    cx.stats.tmu_bytes += u64::from(bytes);
    let start = bus_slot(cx.bus_free, *cx.clock, occupy.of(bytes, cx.timing));
    if write {
        *writes_done = (*writes_done).max(start + cx.timing.tmu_write_latency);
    }
    start + cx.timing.tmu_read_latency
}

/// Stalls the clock until `t` (an `ldtmu` word or the writes a `tmuwt` waits for), counting
/// the wait.
#[inline(always)]
fn tmu_wait_until(cx: &mut Ctx<'_, '_>, t: u64) {
    if t > *cx.clock {
        cx.stats.tmu_wait_cycles += t - *cx.clock;
        *cx.clock = t;
    }
}

/// The lookup's transfer on the shared memory bus (docs/qpu-sim.md §Timing): it starts when
/// the bus is free, no earlier than `now`, and holds the bus for `occupy` (its bytes'
/// time, [`Occupy`]). `bus_free` and `occupy` are in 1/256 clocks. Returns the clock the
/// transfer starts.
#[inline]
fn bus_slot(bus_free: &mut u64, now: u64, occupy: u64) -> u64 {
    let start = (*bus_free).max(now * 256);
    *bus_free = start + occupy;
    start.div_ceil(256)
}

/// The time a lookup of some bytes holds the memory bus, in 1/256 clocks, kept for the last
/// size a thread looked up: a thread's lookups are mostly of one size, and the division
/// costs more than the rest of a lookup's timing (it sits on the chain of clocks the replay
/// of a dispatch follows).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Occupy(Option<(u32, u64)>);

impl Occupy {
    #[inline(always)]
    fn of(&mut self, bytes: u32, timing: &Timing) -> u64 {
        match self.0 {
            Some((b, t)) if b == bytes => t,
            _ => {
                let t = (f64::from(bytes) * 256.0 / timing.mem_bytes_per_clock) as u64;
                self.0 = Some((bytes, t));
                t
            }
        }
    }
}

/// A replayed thread whose record does not fit the schedule: a bug in the functional pass.
#[cold]
fn replay_bug() -> FaultKind {
    FaultKind::Unsupported(
        "internal error: a replayed thread ran past its record; please report this emulator bug"
            .into(),
    )
}

/// The fault of a write to a magic address a compute shader cannot use.
#[cold]
fn magic_write_fault(m: Magic) -> FaultKind {
    match m {
        Magic::R0
        | Magic::R1
        | Magic::R2
        | Magic::R3
        | Magic::R4
        | Magic::Recip
        | Magic::Rsqrt
        | Magic::Exp
        | Magic::Log
        | Magic::Sin
        | Magic::Rsqrt2 => FaultKind::InvalidInstruction {
            word: 0,
            reason: format!("magic write address `{}` is reserved on V3D 7.1", m.name()),
        },
        Magic::Tlb | Magic::Tlbu | Magic::Vpm | Magic::Vpmu | Magic::Sync | Magic::Syncu => {
            FaultKind::Unsupported(format!(
                "writes to `{}` (tile buffer, VPM and the pre-4.2 sync registers) are not part of the compute path",
                m.name()
            ))
        }
        Magic::Tmus
        | Magic::Tmut
        | Magic::Tmur
        | Magic::Tmui
        | Magic::Tmub
        | Magic::Tmuscm
        | Magic::Tmusf
        | Magic::Tmuslod
        | Magic::Tmuhs
        | Magic::Tmuhscm
        | Magic::Tmuhsf
        | Magic::Tmuhslod
        | Magic::Tmul => FaultKind::Unsupported(format!(
            "texture lookups through `{}`; only general memory access (tmua/tmuau/tmud) is modelled",
            m.name()
        )),
        // The addresses `write_magic` handles itself do not come here.
        _ => FaultKind::Unsupported(format!("writes to `{}`", m.name())),
    }
}

/// The fault of an `ldunifa` `between` instructions after the `unifa` write.
#[cold]
fn unifa_too_soon(between: u64) -> FaultKind {
    FaultKind::Hazard(format!(
        "ldunifa {between} instruction(s) after the unifa write; it needs 3 instructions in between"
    ))
}

/// Lane masks of 4 lanes, by the 4 bits selecting them (bit i: lane i all ones).
static NIBBLE_LANES: [[u32; 4]; 16] = {
    let mut t = [[0u32; 4]; 16];
    let mut n = 0;
    while n < 16 {
        let mut i = 0;
        while i < 4 {
            if n >> i & 1 == 1 {
                t[n][i] = u32::MAX;
            }
            i += 1;
        }
        n += 1;
    }
    t
};

/// `reg[i] = v[i]` in the lanes `mask` selects, without a branch per lane.
#[inline(always)]
fn blend(reg: &mut Lanes, v: &Lanes, mask: u16) {
    for (q, (r4, v4)) in reg.chunks_exact_mut(4).zip(v.chunks_exact(4)).enumerate() {
        let m = &NIBBLE_LANES[usize::from(mask >> (4 * q)) & 15];
        for ((r, &x), &m) in r4.iter_mut().zip(v4).zip(m) {
            *r = (x & m) | (*r & !m);
        }
    }
}

/// How many instructions of a block of `run` to run at once: within the step budget, and
/// none after the one that takes the clock from `clock` to `until` (where the scheduler
/// stops the thread), counting `clocks_per_instr` per instruction (an `ldtmu` stall can only
/// end the block earlier; [`Thread::run_block`] checks it).
#[inline(always)]
pub(crate) fn block_len(run: u16, budget: u64, clock: u64, until: u64, timing: &Timing) -> usize {
    let mut k = u64::from(run).min(budget);
    if timing.clocks_per_instr > 0 {
        k = k.min(
            until
                .saturating_sub(clock)
                .div_ceil(timing.clocks_per_instr),
        );
    }
    k as usize
}

fn sig_addr(ins: &AluInstr) -> Result<Waddr, FaultKind> {
    ins.sig_addr.ok_or_else(|| FaultKind::InvalidInstruction {
        word: 0,
        reason: "signal without its destination address".into(),
    })
}

/// What a lowered ALU's result carries besides its lanes (which are in the thread's scratch).
#[derive(Clone, Copy)]
struct Meta {
    kind: FlagKind,
    carry: Option<u16>,
    cmp: Option<(u16, u16, u16)>,
    pack: crate::float::F32Pack,
}

impl Meta {
    const INT: Meta = Meta::direct(FlagKind::Int);

    const fn direct(kind: FlagKind) -> Meta {
        Meta {
            kind,
            carry: None,
            cmp: None,
            pack: crate::float::F32Pack::None,
        }
    }

    fn of(r: &OpResult) -> Meta {
        Meta {
            kind: r.kind,
            carry: r.carry,
            cmp: r.cmp,
            pack: r.pack,
        }
    }

    fn result(&self, val: Lanes) -> OpResult {
        OpResult {
            val,
            kind: self.kind,
            carry: self.carry,
            cmp: self.cmp,
            pack: self.pack,
        }
    }

    /// The Z, N and C masks of `val` with this result's flag rules (as `flag_bits`).
    fn flag_bits(&self, val: &Lanes) -> (u16, u16, Option<u16>) {
        if let Some((z, n, c)) = self.cmp {
            return (z, n, Some(c));
        }
        let (z, n, _) = zn_bits(val, self.kind);
        (z, n, self.carry)
    }
}

/// Calls `f` with a lowered ALU's two inputs, read in place from the register file.
#[inline(always)]
fn with_inputs<R>(rf: &[Lanes; RF_SLOTS], h: &Half, f: impl FnOnce(&Lanes, &Lanes) -> R) -> R {
    f(
        &rf[usize::from(h.a) % RF_SLOTS],
        &rf[usize::from(h.b) % RF_SLOTS],
    )
}

/// The Z and N masks of a value, with no carry.
fn zn_bits(val: &Lanes, kind: FlagKind) -> (u16, u16, Option<u16>) {
    let (mut z, mut n) = (0u16, 0u16);
    for (i, &v) in val.iter().enumerate() {
        let (is_z, is_n) = match kind {
            FlagKind::Int => (v == 0, v >> 31 == 1),
            FlagKind::Float => {
                let f = fin(v);
                (f == 0.0, f < 0.0)
            }
        };
        z |= u16::from(is_z) << i;
        n |= u16::from(is_n) << i;
    }
    (z, n, None)
}

/// The Z, N and C masks of a result.
fn flag_bits(r: &OpResult) -> Result<(u16, u16, Option<u16>), FaultKind> {
    if let Some((z, n, c)) = r.cmp {
        return Ok((z, n, Some(c)));
    }
    let (mut z, mut n) = (0u16, 0u16);
    for i in 0..16 {
        let v = r.val[i];
        let (is_z, is_n) = match r.kind {
            FlagKind::Int => (v == 0, v >> 31 == 1),
            FlagKind::Float => {
                let f = fin(v);
                (f == 0.0, f < 0.0)
            }
        };
        if is_z {
            z |= 1 << i;
        }
        if is_n {
            n |= 1 << i;
        }
    }
    Ok((z, n, r.carry))
}

#[cfg(test)]
thread_local! {
    /// Blocks run on this host thread (`Thread::run_block`), for the tests that check which
    /// path a dispatch took.
    pub(crate) static BLOCKS_RUN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kept bus time is the one the formula gives for each size, whichever size came
    /// before (a thread alternates sizes: a vector read, then a byte write).
    #[test]
    fn the_kept_bus_time_follows_the_size() {
        let timing = Timing {
            mem_bytes_per_clock: 3.7,
            ..Timing::default()
        };
        let formula = |b: u32| (f64::from(b) * 256.0 / timing.mem_bytes_per_clock) as u64;
        let mut o = Occupy::default();
        for b in [64, 64, 16, 256, 16, 1, 64, 0, 128] {
            assert_eq!(o.of(b, &timing), formula(b), "{b} bytes");
        }
    }
}
