//! Computing apart from timing: the functional pass runs every batch of a dispatch to its end on
//! several host threads with no schedule at all, recording what timing needs of each
//! instruction (`exec::Ev`); the serial scheduler then replays those records
//! (`Thread::run_replay`) and makes exactly the clocks, counters and bus traffic it would have
//! made running the instructions itself.
//!
//! A thread's instructions, registers and memory accesses do not depend on timing but through
//! three things, and the pass is used only when none can matter, else the dispatch runs as
//! before from memory as it was when it began (the copy-on-write uniform view keeps exactly
//! the pages written since):
//!
//! - **which QPU and slot run a batch** (`tidx`): only dispatches whose batches all start at
//!   once (no more batches than thread slots) use the pass, so every batch's place is the one
//!   the serial schedule gives it;
//! - **memory another batch writes**: every word a lookup touches is tracked; a word written by
//!   one batch and read or written by another (or a write into the code's buffer) sends the
//!   dispatch back to the serial run, since then the order of the batches matters;
//! - **barriers**, and anything that ends a dispatch early (a fault, the step limit): also
//!   back to the serial run, which raises what the serial schedule raises.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::alu::Lanes;
use crate::exec::{Code, Ctx, Ev, EvKind, Outcome, Rec, Thread};
use crate::fault::FaultKind;
use crate::memory::{Mem, Memory};
use crate::timing::{QpuStats, ThreadStats, Timing};
use crate::tmu::{self, TmuRequest, TmuResult};

/// What the pass needs of the dispatch.
pub(crate) struct Pass<'a> {
    pub code_addr: u32,
    pub nregs: u32,
    pub threads: u32,
    pub nqpus: u32,
    pub batches: u32,
    pub fast: bool,
    pub timing: &'a Timing,
    /// The thread for a batch on a QPU's slot (index), starting at a clock.
    pub new_thread: &'a (dyn Fn(u32, u32, usize, u64) -> Thread + Sync),
    pub max_steps: u64,
}

/// Who touched which 32-bit word, per buffer: 0 untouched, `(batch + 1) << 1 | written` when
/// one batch only has touched it, [`SHARED_READ`] when several have read it and none written
/// (a dispatch that uses the pass has at most [`MAX_BATCHES`] batches, so a byte holds it).
/// Per buffer also the range of words touched, and of words written, so that comparing,
/// merging and clearing look only there (no more than the copy of the map costs). Kept
/// between dispatches ([`Cache`]) and cleared range by range, so a dispatch pays neither an
/// allocation nor its page faults.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct Touched {
    words: Vec<Vec<u8>>,
    touched: Vec<Span>,
    written: Vec<Span>,
    /// Some word was touched by two batches, one of them writing, or the code was written.
    clash: bool,
    /// The buffer holding the dispatch's code, which no batch may write.
    code_bo: Option<usize>,
}

/// A range of word indices, `lo..hi`; empty when `lo >= hi`.
#[derive(Clone, Copy, Debug)]
struct Span {
    lo: usize,
    hi: usize,
}

impl Default for Span {
    fn default() -> Span {
        Span {
            lo: usize::MAX,
            hi: 0,
        }
    }
}

impl Span {
    /// Grows the span to cover `lo..hi`.
    #[inline(always)]
    fn add(&mut self, lo: usize, hi: usize) {
        self.lo = self.lo.min(lo);
        self.hi = self.hi.max(hi);
    }

    /// The span as a range, clipped to `len`.
    fn range(self, len: usize) -> std::ops::Range<usize> {
        let hi = self.hi.min(len);
        self.lo.min(hi)..hi
    }

    fn meet(self, o: Span) -> Span {
        Span {
            lo: self.lo.max(o.lo),
            hi: self.hi.min(o.hi),
        }
    }
}

const SHARED_READ: u8 = u8::MAX;

#[cfg(test)]
thread_local! {
    /// Passes run to their end and passes given up on this host thread, for the tests that
    /// check which path a dispatch took.
    pub(crate) static PASSES: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// The most batches a dispatch may have for the pass: their marks must stay below
/// [`SHARED_READ`].
const MAX_BATCHES: u32 = 120;

/// The new state of a word batch `me` (`(batch + 1) << 1`) touches, and whether that clashes
/// (a write to a word another batch touched, a read of a word another batch wrote). Free of
/// branches, so that the loops over a lookup's lanes stay tight.
#[inline(always)]
fn touch_word(s: u8, me: u8, write: bool) -> (u8, bool) {
    // `me` is at most 2 * MAX_BATCHES, so never SHARED_READ with its low bit cleared.
    let own = s & !1 == me;
    let free = s == 0;
    if write {
        (me | 1, !(own | free))
    } else {
        let other_wrote = (s & 1 == 1) & (s != SHARED_READ) & !own;
        let ns = if free {
            me
        } else if own {
            s
        } else {
            SHARED_READ
        };
        (ns, other_wrote)
    }
}

/// Notes `N` words from each lane's index in `idx` (all inside `w`) as touched by batch `me`;
/// whether that clashes. A lane's `N` states are handled as one 32-bit value when they are
/// all untouched or all this batch's (the usual case), else one by one.
#[inline(always)]
fn lanes_words<const N: usize>(w: &mut [u8], idx: &[usize], me: u8, write: bool) -> bool {
    let mut clash = false;
    let rep = u32::from_le_bytes([me; 4]);
    let keep = u32::MAX >> (8 * (4 - N));
    for &i in idx {
        let Some(st) = w.get_mut(i..i + N) else {
            continue;
        };
        let mut b = [0u8; 4];
        b[..N].copy_from_slice(st);
        let v = u32::from_le_bytes(b);
        let free = v == 0;
        let own = v & 0xfefe_fefe == rep & keep;
        if free | own {
            let nv = if write {
                (rep | 0x0101_0101) & keep
            } else if free {
                rep & keep
            } else {
                v
            };
            st.copy_from_slice(&nv.to_le_bytes()[..N]);
        } else {
            clash |= touch_each(st, me, write);
        }
    }
    clash
}

/// Notes each word of `st` as touched by batch `me`, one by one; whether that clashes.
#[inline(always)]
fn touch_each(st: &mut [u8], me: u8, write: bool) -> bool {
    let mut clash = false;
    for s in st {
        let (ns, c) = touch_word(*s, me, write);
        *s = ns;
        clash |= c;
    }
    clash
}

/// Notes every word of `st` as touched by batch `me`; whether that clashes. Checked and
/// updated as a whole, in loops the compiler vectorises, when every word is untouched or
/// this batch's (the usual case), else word by word.
#[inline(always)]
fn words_run(st: &mut [u8], me: u8, write: bool) -> bool {
    let mut mine = true;
    for &s in st.iter() {
        mine &= (s == 0) | (s & !1 == me);
    }
    if mine {
        if write {
            st.fill(me | 1);
        } else {
            for s in st.iter_mut() {
                *s = if *s == 0 { me } else { *s };
            }
        }
        return false;
    }
    touch_each(st, me, write)
}

/// Whether a word's state says its one batch wrote it.
#[inline(always)]
fn wrote(s: u8) -> bool {
    (s != SHARED_READ) & (s & 1 == 1)
}

impl Touched {
    /// The state of buffer `bo` (of `len` bytes), made on first use or when the buffer's size
    /// changed since an earlier dispatch.
    #[inline]
    fn buffer(&mut self, bo: usize, len: usize) -> (&mut [u8], &mut Span, &mut Span) {
        if self.words.len() <= bo {
            self.words.resize_with(bo + 1, Vec::new);
            self.touched.resize_with(bo + 1, Span::default);
            self.written.resize_with(bo + 1, Span::default);
        }
        let n = len / 4 + 1;
        if self.words[bo].len() != n {
            self.words[bo] = vec![0; n];
        }
        (
            &mut self.words[bo],
            &mut self.touched[bo],
            &mut self.written[bo],
        )
    }

    /// Clears every word touched, for the next dispatch.
    fn reset(&mut self) {
        for (w, t) in self.words.iter_mut().zip(&mut self.touched) {
            let r = t.range(w.len());
            w[r].fill(0);
            *t = Span::default();
        }
        for wr in &mut self.written {
            *wr = Span::default();
        }
        self.clash = false;
    }

    /// Notes the words of the lanes in `req.mask` when they all lie in the buffer of the
    /// first one (the usual case: that buffer is found once) and returns true; returns false
    /// having changed nothing otherwise.
    #[inline]
    fn one_buffer(
        &mut self,
        mem: &mut Memory,
        req: &TmuRequest<'_>,
        n: usize,
        me: u8,
        write: bool,
    ) -> bool {
        let first = req.mask.trailing_zeros() as usize;
        let Some((bo, off)) = mem.locate(req.addr[first], 1) else {
            return false;
        };
        let base = req.addr[first] - off as u32;
        let len = mem.data(bo).len();
        // Word indices of the lanes taking part; an address below the buffer wraps to a huge
        // index.
        let mut idx = [0usize; 16];
        let (k, lo, hi) = if req.mask == 0xffff {
            let (mut lo, mut hi) = (usize::MAX, 0);
            for (i, &a) in idx.iter_mut().zip(&req.addr) {
                *i = a.wrapping_sub(base) as usize / 4;
                lo = lo.min(*i);
                hi = hi.max(*i);
            }
            (16, lo, hi)
        } else {
            let mut k = 0;
            for (l, &a) in req.addr.iter().enumerate() {
                idx[k] = a.wrapping_sub(base) as usize / 4;
                k += usize::from(req.mask >> l & 1 == 1);
            }
            let (lo, hi) = idx[..k]
                .iter()
                .fold((usize::MAX, 0), |(lo, hi), &i| (lo.min(i), hi.max(i)));
            (k, lo, hi)
        };
        let idx = &idx[..k];
        // Every lane's words start inside this buffer (a buffer mapped right after it is
        // another buffer, even where the last state of this one would cover it).
        if (hi + n - 1) * 4 >= len {
            return false;
        }
        self.mark(bo, len, lo, hi + n, write, |w| match n {
            1 => lanes_words::<1>(w, idx, me, write),
            2 => lanes_words::<2>(w, idx, me, write),
            3 => lanes_words::<3>(w, idx, me, write),
            _ => lanes_words::<4>(w, idx, me, write),
        });
        true
    }

    /// Notes the words `first..last` of buffer `bo` (of `len` bytes) as touched, and
    /// written if `write`, with `update` setting their states (in the buffer's whole state
    /// array) and telling whether that clashed.
    #[inline(always)]
    fn mark(
        &mut self,
        bo: usize,
        len: usize,
        first: usize,
        last: usize,
        write: bool,
        update: impl FnOnce(&mut [u8]) -> bool,
    ) {
        if write && Some(bo) == self.code_bo {
            self.clash = true;
        }
        let (w, t, wr) = self.buffer(bo, len);
        let clash = update(w);
        t.add(first, last);
        if write {
            wr.add(first, last);
        }
        if clash {
            self.clash = true;
        }
    }

    /// Notes the words covering bytes `lo..end` of buffer `bo` (not empty) as touched by
    /// batch `me`.
    #[inline]
    fn run(&mut self, mem: &Memory, bo: usize, lo: usize, end: usize, me: u8, write: bool) {
        let (first, last) = (lo / 4, (end - 1) / 4 + 1);
        self.mark(bo, mem.data(bo).len(), first, last, write, |w| {
            w.get_mut(first..last)
                .is_some_and(|st| words_run(st, me, write))
        });
    }

    /// Notes the words a lookup of batch `b` touched (after it succeeded, so every address it
    /// used is inside a buffer).
    fn track(&mut self, mem: &mut Memory, b: u32, req: &TmuRequest<'_>, res: &TmuResult) {
        let op = (req.cfg >> 3) & 0xf;
        // A prefetch touches nothing; an atomic one word per lane, read and written. Accesses
        // are aligned (the lookup checked), so an element lies inside one word.
        let (n, write) = match (op, req.data.is_empty()) {
            (15, _) => (tmu::words_per_lane(req.cfg), res.is_write),
            (0, true) => return,
            _ => (1, true),
        };
        if req.mask == 0 {
            return;
        }
        let me = ((b + 1) << 1) as u8;
        if let Some((bo, lo, end)) = res.run {
            // Every lane's access back to back: the words they cover, in one step.
            self.run(mem, bo, lo, end, me, write);
            return;
        }
        if self.one_buffer(mem, req, n as usize, me, write) {
            return;
        }
        // Lanes in several buffers: word by word.
        let mut clash = false;
        for l in 0..16 {
            if req.mask >> l & 1 == 0 {
                continue;
            }
            for k in 0..n {
                let addr = req.addr[l].wrapping_add(4 * k);
                let Some((bo, off)) = mem.locate(addr, 1) else {
                    continue;
                };
                if write && Some(bo) == self.code_bo {
                    clash = true;
                }
                let len = mem.data(bo).len();
                let (w, t, wr) = self.buffer(bo, len);
                let j = off / 4;
                let Some(s) = w.get_mut(j) else {
                    continue;
                };
                let (ns, c) = touch_word(*s, me, write);
                *s = ns;
                clash |= c;
                t.add(j, j + 1);
                if write {
                    wr.add(j, j + 1);
                }
            }
        }
        if clash {
            self.clash = true;
        }
    }
}

/// What the pass keeps between dispatches: the other host threads' copies of the map and
/// every host thread's word states, so that a dispatch reuses their memory.
#[derive(Default)]
pub(crate) struct Cache {
    copies: Vec<Memory>,
    touched: Vec<Touched>,
    /// Records of earlier dispatches, emptied, for the next one's batches: a frame's records
    /// take tens of megabytes, and fresh pages for them each dispatch cost more in page
    /// faults (and, freed, in TLB shoot-downs to the other host threads) than writing them.
    pool: Vec<Vec<Ev>>,
    /// Dispatches still to run without the pass since it last had to give up, and the
    /// back-off that set it (doubling, up to [`MAX_SKIP`]): a kernel whose batches share
    /// what they write (a counter, a barrier) would pay the pass and the serial run each time.
    skip: u32,
    backoff: u32,
    /// The instructions of the dispatch before, if it ran to its end.
    last_instructions: Option<u64>,
}

/// The most dispatches run without the pass after it gave up.
const MAX_SKIP: u32 = 64;

/// The fewest instructions per TMU lookup the first batch must run for the pass to go on.
const MIN_INSTRS_PER_LOOKUP: u64 = 6;

/// The instructions of the first batch that decide it.
const PROBE_INSTRS: u64 = 4096;

/// The fewest instructions of the dispatch before for the pass to be tried: about a quarter
/// of a millisecond of serial run, against tens of microseconds to start a host thread.
const MIN_INSTRUCTIONS: u64 = 16_384;

impl Cache {
    /// Whether to try the pass on a dispatch over a map of `map_bytes` bytes. Not while
    /// backing off, and not when the dispatch before was small: fewer than
    /// [`MIN_INSTRUCTIONS`], or fewer than a quarter of the map's bytes (the pass copies the
    /// map for each host thread past the first, about 0.1 ns a byte against about 15 ns a QPU
    /// instruction, so the copy would cost more than 2 % of such a dispatch's serial run; a
    /// small dispatch in a large map is usually followed by another).
    pub(crate) fn worth_trying(&mut self, map_bytes: u64) -> bool {
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        self.last_instructions
            .is_none_or(|n| n >= MIN_INSTRUCTIONS && n.saturating_mul(4) >= map_bytes)
    }

    /// Notes the instructions a dispatch ran.
    pub(crate) fn finished(&mut self, instructions: u64) {
        self.last_instructions = Some(instructions);
    }

    /// Takes back a replayed thread's record.
    pub(crate) fn recycle(&mut self, mut events: Vec<Ev>) {
        events.clear();
        self.pool.push(events);
    }
}

/// What one host thread of the pass gives back: its batches' records and the instructions it
/// ran (the words its batches touched are in its [`Touched`]).
type WorkerOut = (Vec<(u32, Vec<Ev>)>, u64);

/// Runs every batch on `host_threads` host threads and returns their records, by batch; or
/// `None`, with memory as it was when the dispatch began, when the result could depend on
/// the order of the batches or the dispatch ends early (see the module documentation).
///
/// The first host thread runs its batches on `mem` itself, the others each on a copy of it:
/// a batch reads only memory as the dispatch began and its own writes (anything else is a
/// clash), so the copies' written words are then moved into `mem`.
pub(crate) fn run(
    p: &Pass<'_>,
    mem: &mut Memory,
    host_threads: usize,
    cache: &mut Cache,
) -> Option<Vec<Vec<Ev>>> {
    // Batch marks fit a byte; recorded SFU stalls (at most the SFU latency) 32 bits.
    let sfu_clocks = p
        .timing
        .sfu_latency_instrs
        .saturating_mul(p.timing.clocks_per_instr);
    if p.batches > MAX_BATCHES || sfu_clocks > u64::from(u32::MAX) {
        return None;
    }
    let code_bo = mem.locate(p.code_addr, 1).map(|(bo, _)| bo);
    let workers = host_threads.clamp(1, p.batches.max(1) as usize);
    cache.copies.resize_with(workers - 1, Memory::default);
    cache.touched.resize_with(workers, Touched::default);
    for t in &mut cache.touched {
        t.code_bo = code_bo;
    }
    // Each host thread's share of the kept records, about one per batch it will run.
    let mut pools: Vec<Vec<Vec<Ev>>> = (0..workers)
        .map(|w| {
            let mine = (w as u32..p.batches).step_by(workers).count();
            let at = cache.pool.len().saturating_sub(mine);
            cache.pool.split_off(at)
        })
        .collect();
    // The next batch to run: host threads take batches as they become free, so a host thread
    // that the machine runs slower (another process on its core) takes fewer.
    let next = AtomicU32::new(0);
    let next = &next;
    let (t_first, t_rest) = cache.touched.split_at_mut(1);
    let (pool_first, pool_rest) = pools.split_at_mut(1);
    // The first batch starts here alone, for PROBE_INSTRS instructions: with a lookup every
    // few instructions, tracking the words and replaying the lookups cost more than the
    // second host thread saves (`vector_add`: one every 4), so the pass gives up before it
    // has spent much, not even the copies of the map.
    let mut probe_steps = 0u64;
    let probe = Code::load(mem, p.code_addr, p.nregs).and_then(|mut code| {
        let mut r = Running::new(p, next.fetch_add(1, Ordering::Relaxed), &mut pool_first[0]);
        r.advance(
            p,
            mem,
            &mut code,
            &mut t_first[0],
            PROBE_INSTRS,
            &mut probe_steps,
        )?;
        let lookups = r
            .events
            .iter()
            .filter(|e| matches!(e.kind, EvKind::Lookup { .. }))
            .count() as u64;
        (lookups * MIN_INSTRS_PER_LOOKUP <= r.th.instrs).then_some((code, r))
    });
    let results: Vec<Option<WorkerOut>> = match probe {
        None => vec![None],
        Some((code, first)) => {
            // The copies show memory as the dispatch began, without the first batch's writes.
            for c in &mut cache.copies {
                mem.copy_into(c);
            }
            std::thread::scope(|s| {
                let handles: Vec<_> = cache
                    .copies
                    .iter_mut()
                    .zip(t_rest.iter_mut())
                    .zip(pool_rest.iter_mut())
                    .map(|((m, t), pool)| s.spawn(move || worker(p, m, t, pool, next, None, None)))
                    .collect();
                let t = &mut t_first[0];
                let pool = &mut pool_first[0];
                let mut out = vec![worker(p, mem, t, pool, next, Some(code), Some(first))];
                for h in handles {
                    // A panic in a worker is a bug; re-raise it here rather than lose it.
                    out.push(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
                }
                out
            })
        }
    };
    let touched = &mut cache.touched[..workers];
    let mut records: Vec<Vec<Ev>> = vec![Vec::new(); p.batches as usize];
    let mut steps = probe_steps;
    let mut ok = true;
    for r in results {
        let Some((recs, n)) = r else {
            ok = false;
            break;
        };
        steps += n;
        for (b, ev) in recs {
            records[b as usize] = ev;
        }
    }
    ok = ok && steps <= p.max_steps && !touched.iter().any(|t| t.clash) && !clash_between(touched);
    if ok {
        // The words the other host threads' batches wrote, into `mem` (through its write
        // path, which keeps the uniform view).
        for (t, copy) in touched.iter().skip(1).zip(&cache.copies) {
            merge(mem, copy, t);
        }
    } else {
        mem.restore_dispatch_start();
        for mut ev in records.drain(..) {
            ev.clear();
            cache.pool.push(ev);
        }
    }
    for t in touched.iter_mut() {
        t.reset();
    }
    if ok {
        cache.backoff = 0;
    } else {
        cache.backoff = (cache.backoff * 2).clamp(1, MAX_SKIP);
        cache.skip = cache.backoff;
    }
    #[cfg(test)]
    PASSES.with(|c| {
        let (ran, gave_up) = c.get();
        c.set(if ok {
            (ran + 1, gave_up)
        } else {
            (ran, gave_up + 1)
        });
    });
    ok.then_some(records)
}

/// Moves the words `t`'s batches wrote in `copy` into `mem` (through its write path, which
/// keeps the uniform view).
fn merge(mem: &mut Memory, copy: &Memory, t: &Touched) {
    for (bo, (words, span)) in t.words.iter().zip(&t.written).enumerate() {
        let src = copy.data(bo);
        let r = span.range(words.len());
        let (a, e) = ((r.start * 4).min(src.len()), (r.end * 4).min(src.len()));
        if a >= e {
            continue;
        }
        let dst = mem.data_mut(bo, a, e);
        let marks = &words[r.start..];
        let (dw, sw) = (dst.chunks_exact_mut(4), src[a..e].chunks_exact(4));
        // Branch-free, so that it vectorises: the copy's word where its batch wrote it, else
        // the map's.
        for ((d, s), &m) in dw.zip(sw).zip(marks) {
            let keep = u32::from(wrote(m)).wrapping_neg();
            let dv = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
            let sv = u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
            d.copy_from_slice(&((dv & !keep) | (sv & keep)).to_le_bytes());
        }
        // A buffer's last bytes past its last whole word.
        let tail = (e - a) / 4 * 4;
        if tail < e - a && wrote(marks.get(tail / 4).copied().unwrap_or(0)) {
            dst[tail..].copy_from_slice(&src[a + tail..e]);
        }
    }
}

/// Whether a word one host thread's batches wrote was touched by another's (only where both
/// touched words are compared).
fn clash_between(touched: &[Touched]) -> bool {
    for (x, tx) in touched.iter().enumerate() {
        for ty in &touched[x + 1..] {
            for bo in 0..tx.words.len().min(ty.words.len()) {
                let len = tx.words[bo].len().min(ty.words[bo].len());
                let r = tx.touched[bo].meet(ty.touched[bo]).range(len);
                // Branch-free, so that it vectorises.
                let hit = tx.words[bo][r.clone()]
                    .iter()
                    .zip(&ty.words[bo][r])
                    .fold(false, |h, (&a, &b)| {
                        h | ((a != 0) & (b != 0) & (wrote(a) | wrote(b)))
                    });
                if hit {
                    return true;
                }
            }
        }
    }
    false
}

/// A batch in the pass, part-way or done: its thread, its record, and the clock, bus and
/// counters its instructions update (unused: the replay makes the real ones).
struct Running {
    b: u32,
    q: u32,
    th: Thread,
    events: Vec<Ev>,
    clock: u64,
    bus: u64,
    stats: QpuStats,
    /// Whether the batch has run to its end.
    done: bool,
}

impl Running {
    fn new(p: &Pass<'_>, b: u32, pool: &mut Vec<Vec<Ev>>) -> Running {
        let (q, s) = (b % p.nqpus, (b / p.nqpus) as usize);
        let mut events = pool.pop().unwrap_or_default();
        events.clear();
        Running {
            b,
            q,
            th: (p.new_thread)(b, q, s, 0),
            events,
            clock: 0,
            bus: 0,
            stats: QpuStats {
                threads: vec![ThreadStats::default(); 4],
                ..QpuStats::default()
            },
            done: false,
        }
    }

    /// Runs the batch to its end (`done`) or until it has run `until` instructions; `None`
    /// when the pass cannot run it (a barrier, a fault, the step limit, a record that would
    /// overflow), and so must give up.
    fn advance(
        &mut self,
        p: &Pass<'_>,
        mem: &mut Memory,
        code: &mut Code,
        touched: &mut Touched,
        until: u64,
        steps: &mut u64,
    ) -> Option<()> {
        if self.done {
            return Some(());
        }
        let (b, th) = (self.b, &mut self.th);
        let mut written = Vec::new();
        loop {
            // Records hold instruction counts in 32 bits (a block runs at most BLOCK_MAX more).
            if *steps > p.max_steps || th.instrs >= u64::from(u32::MAX >> 1) {
                return None;
            }
            if th.instrs >= until {
                return Some(());
            }
            if code.slot(th.pc).is_none() && code.ensure(th.pc, mem).is_err() {
                return None;
            }
            let slot = code.slot(th.pc)?;
            if slot.barrier {
                return None;
            }
            // A lookup reaches memory through the map the instruction's other reads use.
            let tr = &mut *touched;
            let mut lookup = |m: &mut Memory,
                              req: &TmuRequest<'_>,
                              words: &mut [Lanes; 4]|
             -> Result<TmuResult, FaultKind> {
                let r = tmu::lookup(m, req, words)?;
                tr.track(m, b, req, &r);
                Ok(r)
            };
            let mut cx = Ctx {
                mem: Mem::Excl(mem),
                timing: p.timing,
                stats: &mut self.stats,
                clock: &mut self.clock,
                bus_free: &mut self.bus,
                nregs: p.nregs,
                threads_per_qpu: p.threads,
                qpu: self.q,
                fast: p.fast,
                trace: None,
                barrier: false,
                written: &mut written,
                rec: Some(Rec {
                    events: &mut self.events,
                    lookup: &mut lookup,
                }),
            };
            if slot.run > 1 && th.block_ready(&cx) {
                let ran = th
                    .run_block(code, usize::from(slot.run), u64::MAX, &mut cx)
                    .ok()?;
                *steps += ran as u64;
                if cx.barrier {
                    return None;
                }
                continue;
            }
            let pc = th.pc;
            *steps += 1;
            let outcome = th.exec(slot, code, &mut cx).ok()?;
            if cx.barrier {
                return None;
            }
            match outcome {
                Outcome::Continue => {}
                Outcome::Switch => self.events.push(Ev::new(th.instrs, EvKind::Switch)),
                Outcome::End => {
                    self.events.push(Ev::new(th.instrs, EvKind::End(pc as u32)));
                    self.done = true;
                    return Some(());
                }
            }
        }
    }
}

/// One host thread's share of the batches: `first` if given (the batch the probe started,
/// with the code it decoded), then batches taken from `next` until none is left, each run to
/// its end on `mem`. `None` when one cannot be run here (see [`Running::advance`]).
fn worker(
    p: &Pass<'_>,
    mem: &mut Memory,
    touched: &mut Touched,
    pool: &mut Vec<Vec<Ev>>,
    next: &AtomicU32,
    code: Option<Code>,
    mut first: Option<Running>,
) -> Option<WorkerOut> {
    let mut code = match code {
        Some(c) => c,
        None => Code::load(mem, p.code_addr, p.nregs)?,
    };
    let mut out = Vec::new();
    let mut steps = 0u64;
    loop {
        let mut r = match first.take() {
            Some(r) => r,
            None => {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= p.batches {
                    break;
                }
                Running::new(p, b, pool)
            }
        };
        r.advance(p, mem, &mut code, touched, u64::MAX, &mut steps)?;
        out.push((r.b, r.events));
    }
    Some((out, steps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::{DispatchOptions, Gpu, GpuConfig};
    use crate::test_asm::{END, asm};
    use crate::timing::Stats;

    const CODE: u32 = 0x1_0000;
    const UNIF: u32 = 0x2_0000;
    const DATA: u32 = 0x10_0000;

    /// A kernel of `body` between a prologue that points rf1 at this thread's lane word of
    /// a 64-byte slot per `tidx` in the buffer at the first uniform (rf5 holds the uniform
    /// itself), after spinning `15 << shift` times round a register loop when `shift` is
    /// given, and the standard thread end.
    fn kernel_spinning(shift: Option<u32>, body: &str) -> Vec<u8> {
        let spin = shift.map_or(String::new(), |shift| spin(shift, "spin"));
        let src = format!(
            "{spin}
    nop ; ldunifrf.rf1
    mov rf5, rf1
    tidx rf2
    shl rf2, rf2, 6
    add rf1, rf1, rf2
    eidx rf2
    shl rf2, rf2, 2
    add rf1, rf1, rf2
{body}
{END}"
        );
        asm(&src)
    }

    fn kernel(body: &str) -> Vec<u8> {
        kernel_spinning(None, body)
    }

    /// A register loop of `15 << shift` turns, at `label`.
    fn spin(shift: u32, label: &str) -> String {
        format!(
            "
    mov rf6, 15
    shl rf6, rf6, {shift}
    mov rf7, 1
{label}:
    sub.pushz rf6, rf6, rf7
    b.na0 {label}
    nop
    nop
    nop"
        )
    }

    /// `cfg[0..6]` for `batches` batches of one 16-item workgroup, one per supergroup.
    fn cfg(batches: u32) -> [u32; 7] {
        [
            batches << 16,
            1 << 16,
            1 << 16,
            16 | 1 << 8,
            batches,
            CODE,
            UNIF,
        ]
    }

    fn gpu(host_threads: usize, code: &[u8], data: Vec<u8>) -> Gpu {
        let mut g = Gpu::new(GpuConfig {
            host_threads,
            ..GpuConfig::default()
        });
        g.map_bo(CODE, code.to_vec()).unwrap();
        g.map_bo(UNIF, DATA.to_le_bytes().repeat(4)).unwrap();
        g.map_bo(DATA, data).unwrap();
        g
    }

    /// Runs `cfg` on `g`, counting the passes run and given up on this host thread.
    fn dispatch(g: &mut Gpu, cfg: [u32; 7]) -> (Stats, (u64, u64)) {
        PASSES.with(|c| c.set((0, 0)));
        let s = g.dispatch(cfg, DispatchOptions::default()).expect("runs");
        (s, PASSES.with(|c| c.get()))
    }

    /// Runs `code` over `data` as `batches` batches on one host thread and on two, asserts
    /// the same statistics and memory, and returns both GPUs and the two-thread run's passes.
    fn one_and_two(code: &[u8], data: Vec<u8>, batches: u32) -> (Gpu, Gpu, (u64, u64)) {
        let (mut one, mut two) = (gpu(1, code, data.clone()), gpu(2, code, data));
        let (s1, p1) = dispatch(&mut one, cfg(batches));
        let (s2, p2) = dispatch(&mut two, cfg(batches));
        assert_eq!(p1, (0, 0), "one host thread never tries the pass");
        assert_eq!(s1, s2);
        assert_eq!(one.bo(DATA), two.bo(DATA));
        (one, two, p2)
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 37 + 11) as u8).collect()
    }

    /// A kernel that runs `first`, spins, then reads the 16 lane words at the address in
    /// `from` and writes them to its own slot.
    fn copy_after_spin(first: &str, from: &str) -> Vec<u8> {
        kernel(&format!(
            "{first}{}
    mov tmua, {from}
    nop
    nop ; ldtmu.rf3
    mov tmud, rf3
    mov tmua, rf1
    tmuwt -",
            spin(10, "wait")
        ))
    }

    /// Runs `code` as 24 batches over `slots` 64-byte slots of data on one and two host
    /// threads (same results) and asserts that the two-thread pass gave up.
    fn gives_up(code: &[u8], slots: usize) {
        let (_, _, p2) = one_and_two(code, pattern(64 * slots), 24);
        assert_eq!(p2, (0, 1), "the pass gives up");
    }

    /// Each thread reads its words, stalls on them and writes them back changed: no batch
    /// touches another's words, so the batches run apart and their timing is replayed, with
    /// the memory and statistics of the serial schedule.
    #[test]
    fn batches_apart_give_the_serial_result() {
        let code = kernel_spinning(
            Some(7),
            "
    mov tmua, rf1
    nop
    nop ; ldtmu.rf3
    add rf3, rf3, rf3
    mov tmud, rf3
    mov tmua, rf1
    tmuwt -",
        );
        let (one, _, p2) = one_and_two(&code, pattern(64 * 48), 24);
        assert_eq!(p2, (1, 0), "the pass runs the dispatch");
        assert_ne!(
            one.bo(DATA).unwrap(),
            &pattern(64 * 48)[..],
            "the kernel wrote"
        );
    }

    /// Every thread adds one to the same word without an atomic: how many updates are lost
    /// depends on the order the threads interleave, which only the schedule knows. The pass
    /// sees two batches touch a written word, gives up, and the dispatch runs serially from
    /// memory as it began. (Without the check, the batches run one after another on each host
    /// thread would add up to a different count.)
    #[test]
    fn a_word_two_batches_write_sends_the_dispatch_back() {
        let code = kernel(
            "
    mov tmua, rf5
    nop
    nop ; ldtmu.rf3
    add rf3, rf3, 1
    mov tmud, rf3
    mov tmua, rf5
    tmuwt -",
        );
        let (_, two, p2) = one_and_two(&code, vec![0; 64], 24);
        assert_eq!(p2, (0, 1), "the pass gives up");
        let count = u32::from_le_bytes(two.bo(DATA).unwrap()[..4].try_into().unwrap());
        assert!(count > 0 && count < 24, "updates are lost: {count}");
    }

    /// One batch reads the words another writes: the result depends on which runs first in
    /// the schedule, so the pass gives up. (Every thread writes its slot, spins, then reads
    /// the first word of the slot of the thread whose tidx is 0 and stores it in its own: in
    /// the schedule that thread's write comes first; without the check, batches on the other
    /// host thread's copy would read the word as the dispatch began.)
    #[test]
    fn a_word_one_batch_reads_and_another_writes_sends_the_dispatch_back() {
        let code = copy_after_spin(
            "
    mov tmud, rf1
    mov tmua, rf1
    tmuwt -",
            "rf5",
        );
        gives_up(&code, 49);
    }

    /// Every thread writes its own value into the same 16 words, one per lane, back to back
    /// (a lookup whose words the pass tracks as one run): which value stays depends on the
    /// order of the writes, which only the schedule knows, so the pass gives up.
    #[test]
    fn a_run_of_words_two_batches_write_sends_the_dispatch_back() {
        let code = kernel(
            "
    eidx rf2
    shl rf2, rf2, 2
    add rf8, rf5, rf2
    tidx rf3
    mov tmud, rf3
    mov tmua, rf8
    tmuwt -",
        );
        gives_up(&code, 48);
    }

    /// Every thread writes its slot, spins, then copies the first slot (written by the
    /// thread whose tidx is 0) into its own, reading and writing 16 words back to back (runs
    /// the pass tracks in one step). The copy depends on whether that thread wrote first,
    /// so the pass gives up.
    #[test]
    fn a_run_of_words_one_batch_reads_and_another_writes_sends_the_dispatch_back() {
        let code = copy_after_spin(
            "
    tidx rf3
    mov tmud, rf3
    mov tmua, rf1
    tmuwt -
    eidx rf2
    shl rf2, rf2, 2
    add rf8, rf5, rf2",
            "rf8",
        );
        gives_up(&code, 49);
    }

    /// Every thread writes its tidx into its slot at once; the thread whose tidx is 0 (the
    /// first batch) spins, then copies the slot of tidx 4 (the second batch, on the next
    /// QPU) into its own, reading 16 words back to back (the others copy their own slot).
    /// In the schedule the copy sees the other thread's write; in the pass the first batch
    /// reads those words before any batch after it writes them, so only the marks its read
    /// left show the clash.
    #[test]
    fn a_run_of_words_read_before_another_batch_writes_it_sends_the_dispatch_back() {
        let code = copy_after_spin(
            "
    tidx rf3
    mov tmud, rf3
    mov tmua, rf1
    tmuwt -
    mov rf11, 1
    shl rf11, rf11, 8
    tidx rf3
    or.pushz rf9, rf3, rf3
    mov rf10, rf1
    add.ifa rf10, rf1, rf11",
            "rf10",
        );
        gives_up(&code, 49);
    }

    /// A lookup every few instructions: the pass gives up after the first batch, before it
    /// copies the map, and the schedule runs the dispatch.
    #[test]
    fn a_tmu_bound_dispatch_is_left_to_the_schedule() {
        let code = kernel(
            "
    mov tmua, rf1
    mov tmua, rf1
    mov tmua, rf1
    nop ; ldtmu.rf3
    nop ; ldtmu.rf3
    nop ; ldtmu.rf3
    mov tmua, rf1
    mov tmua, rf1
    nop ; ldtmu.rf3
    nop ; ldtmu.rf3
    mov tmud, rf3
    mov tmua, rf1
    tmuwt -",
        );
        let (_, two, p2) = one_and_two(&code, pattern(64 * 48), 24);
        assert_eq!(p2, (0, 1), "the pass gives up");
        assert!(
            two.split.copies.iter().all(|c| c.buffers().count() == 0),
            "nothing copied"
        );
    }

    /// The first batch runs (its first `PROBE_INSTRS` instructions) before the map is copied
    /// for the other host threads, and writes a word the others read as a uniform: the copies
    /// must show it as the dispatch began, as uniform reads do. (Each thread stores its fifth
    /// uniform, writes a word of its own in the uniform buffer, the first thread's being that
    /// fifth uniform, then spins long enough for the other host thread to take batches.)
    #[test]
    fn the_copies_show_memory_as_the_dispatch_began() {
        let code = kernel(&format!(
            "
    nop ; ldunifrf.rf8
    nop ; ldunifrf.rf10
    nop ; ldunifrf.rf10
    nop ; ldunifrf.rf9
    mov tmud, rf9
    mov tmua, rf1
    tmuwt -
    tidx rf2
    shl rf2, rf2, 2
    add rf8, rf8, rf2
    mov rf12, 15
    mov tmud, rf12
    mov tmua, rf8
    tmuwt -{}",
            spin(10, "wait")
        ));
        let run = |host_threads| {
            let mut unif = vec![DATA, UNIF + 16, 0, 0, 0x1234_5678];
            unif.resize(16 + 64, 0);
            let mut g = Gpu::new(GpuConfig {
                host_threads,
                ..GpuConfig::default()
            });
            g.map_bo(CODE, code.clone()).unwrap();
            g.map_bo(UNIF, unif.iter().flat_map(|w| w.to_le_bytes()).collect())
                .unwrap();
            g.map_bo(DATA, vec![0; 64 * 48]).unwrap();
            let (s, p) = dispatch(&mut g, cfg(24));
            (g, s, p)
        };
        let ((one, s1, _), (two, s2, p2)) = (run(1), run(2));
        assert_eq!(p2, (1, 0), "the pass runs the dispatch");
        assert_eq!(s1, s2);
        assert_eq!(one.bo(DATA), two.bo(DATA));
        assert_eq!(one.bo(UNIF), two.bo(UNIF));
        let stored = two.bo(DATA).unwrap();
        assert!(
            stored
                .chunks_exact(4)
                .all(|w| w == [0, 0, 0, 0] || w == 0x1234_5678u32.to_le_bytes()),
            "every thread stored the uniform as the dispatch began"
        );
    }

    /// Dispatch after dispatch on one GPU, the map changing between them (so the kept copy
    /// is made again), the pass backing off after it gave up and left out after a small
    /// dispatch: always the serial result.
    #[test]
    fn dispatches_in_a_row_and_a_changing_map() {
        let own = kernel_spinning(
            Some(5),
            "
    mov tmua, rf1
    nop
    nop ; ldtmu.rf3
    add rf3, rf3, 3
    mov tmud, rf3
    mov tmua, rf1
    tmuwt -",
        );
        let shared = kernel_spinning(
            Some(5),
            "
    mov tmua, rf5
    nop
    nop ; ldtmu.rf3
    add rf3, rf3, 1
    mov tmud, rf3
    mov tmua, rf5
    tmuwt -",
        );
        let data = pattern(64 * 48);
        let (mut one, mut two) = (gpu(1, &own, data.clone()), gpu(2, &own, data));
        let mut passes = Vec::new();
        for step in 0..8 {
            if step == 2 {
                for g in [&mut one, &mut two] {
                    g.map_bo(0x40_0000, pattern(1000)).unwrap();
                }
            }
            if step == 3 || step == 4 {
                for g in [&mut one, &mut two] {
                    g.unmap_bo(CODE).unwrap();
                    g.map_bo(
                        CODE,
                        if step == 3 {
                            shared.clone()
                        } else {
                            own.clone()
                        },
                    )
                    .unwrap();
                }
            }
            // Step 6 is a small dispatch (two batches), so step 7 leaves the pass out.
            let batches = if step == 6 { 2 } else { 24 };
            let (s1, _) = dispatch(&mut one, cfg(batches));
            let (s2, p) = dispatch(&mut two, cfg(batches));
            assert_eq!(s1, s2, "dispatch {step}");
            assert_eq!(one.bo(DATA), two.bo(DATA), "dispatch {step}");
            passes.push(p);
        }
        // Step 3 gives up; step 4 backs off; step 5 tries again; step 6 is small, so 7
        // does not try.
        assert_eq!(
            passes,
            [
                (1, 0),
                (1, 0),
                (1, 0),
                (0, 1),
                (0, 0),
                (1, 0),
                (1, 0),
                (0, 0)
            ],
            "which dispatches ran the pass"
        );
    }

    /// The words a copy's batches wrote, and only those, reach the map, the bytes of a
    /// buffer past its last whole word included.
    #[test]
    fn merging_takes_exactly_the_words_written() {
        let mut mem = Memory::default();
        mem.map(DATA, vec![0xaa; 98]).unwrap();
        mem.begin_dispatch();
        let mut copy = Memory::default();
        mem.copy_into(&mut copy);
        let mut t = Touched::default();
        let me = 2;
        {
            let (w, touched, written) = t.buffer(0, 98);
            w[0] = me | 1;
            w[5] = me;
            w[24] = me | 1;
            touched.add(0, 25);
            written.add(0, 25);
        }
        copy.data_mut(0, 0, 98).fill(0x55);
        merge(&mut mem, &copy, &t);
        let d = mem.data(0);
        assert_eq!(d[..4], [0x55; 4], "a written word");
        assert_eq!(d[4..96], [0xaa; 92], "words read or untouched");
        assert_eq!(d[96..], [0x55; 2], "the bytes past the last whole word");
        t.reset();
        assert!(
            t.words[0].iter().all(|&s| s == 0),
            "reset clears the states"
        );
    }

    /// A byte holds a batch's mark: the pass does not run more batches than fit.
    #[test]
    fn batch_marks_fit_a_byte() {
        assert!(2 * MAX_BATCHES + 1 < u32::from(SHARED_READ));
        // Every state a batch can leave, and what a second batch then sees.
        for a in 0..MAX_BATCHES {
            let ma = ((a + 1) << 1) as u8;
            for (s, wrote_it) in [(ma, false), (ma | 1, true)] {
                let b = ((a + 1) % MAX_BATCHES + 1) << 1;
                assert!(
                    touch_word(s, b as u8, true).1,
                    "a write after another batch"
                );
                assert_eq!(touch_word(s, b as u8, false).1, wrote_it, "a read after it");
                assert_eq!(touch_word(s, ma, true), (ma | 1, false), "its own write");
            }
        }
        assert_eq!(touch_word(SHARED_READ, 4, false), (SHARED_READ, false));
        assert!(touch_word(SHARED_READ, 4, true).1);
        assert_eq!(touch_word(0, 4, false), (4, false));
    }
}
