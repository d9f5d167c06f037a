//! The TMU's general memory access: one lookup of 16 lanes (reads, writes, vector accesses,
//! atomics), with lanes masked by the condition of the `tmua` write.
//!
//! The configuration byte (py-videocore7 `TMULookUpConfig`, Mesa `GENERAL_TMU_LOOKUP_*`):
//! bit 7 per-pixel (1) or per-quad (0), bits 6:3 the op, bits 2:0 the type (0 int8, 1 int16,
//! 2 vec2, 3 vec3, 4 vec4, 5 uint8, 6 uint16, 7 uint32). 0xff is the default: a plain 32-bit
//! access per pixel.

use crate::alu::Lanes;
use crate::fault::FaultKind;
use crate::memory::Memory;

pub(crate) struct TmuRequest<'a> {
    /// Per-lane byte addresses.
    pub addr: Lanes,
    /// Lanes that take part (the condition of the `tmua` write).
    pub mask: u16,
    pub cfg: u8,
    /// The data words written before the lookup (`tmud`, `tmudref`, `tmuoff`), in order.
    pub data: &'a [Lanes],
}

pub(crate) struct TmuResult {
    /// Words returned to the output FIFO, one entry per word of the access: the first
    /// `nwords` of the caller's buffer.
    pub nwords: usize,
    /// Bytes moved, for the bandwidth model.
    pub bytes: u32,
    pub is_write: bool,
    /// The bytes a plain access touched when they are one run, every lane's access back to
    /// back in one buffer: (buffer index, first byte, end byte). What the functional pass
    /// tracks (`crate::split`) in one step instead of lane by lane.
    pub run: Option<(usize, usize, usize)>,
}

#[derive(Clone, Copy)]
enum Ty {
    I8,
    I16,
    U8,
    U16,
    Vec(u32),
}

impl Ty {
    /// The type in bits 2:0 of a configuration byte.
    fn of(cfg: u8) -> Ty {
        match cfg & 7 {
            0 => Ty::I8,
            1 => Ty::I16,
            2 => Ty::Vec(2),
            3 => Ty::Vec(3),
            4 => Ty::Vec(4),
            5 => Ty::U8,
            6 => Ty::U16,
            _ => Ty::Vec(1),
        }
    }

    fn bytes(self) -> u32 {
        match self {
            Ty::I8 | Ty::U8 => 1,
            Ty::I16 | Ty::U16 => 2,
            Ty::Vec(_) => 4,
        }
    }
    fn words(self) -> u32 {
        match self {
            Ty::Vec(n) => n,
            _ => 1,
        }
    }
    fn extend(self, v: u32) -> u32 {
        match self {
            Ty::I8 => v as u8 as i8 as i32 as u32,
            Ty::I16 => v as u16 as i16 as i32 as u32,
            _ => v,
        }
    }
}

fn check(
    mem: &mut Memory,
    what: &'static str,
    addr: u32,
    bytes: u32,
    lane: u32,
) -> Result<(), FaultKind> {
    if addr % bytes != 0 {
        return Err(FaultKind::Misaligned {
            what,
            addr,
            bytes,
            lane,
        });
    }
    if mem.locate(addr, bytes).is_none() {
        return Err(FaultKind::OutOfBounds {
            what,
            addr,
            bytes,
            lane,
        });
    }
    Ok(())
}

/// The 32-bit words a lane of a plain access of configuration `cfg` moves (1 for 8- and
/// 16-bit accesses, which lie inside one word).
pub(crate) fn words_per_lane(cfg: u8) -> u32 {
    Ty::of(cfg).words()
}

pub(crate) fn lookup(
    mem: &mut Memory,
    req: &TmuRequest<'_>,
    words: &mut [Lanes; 4],
) -> Result<TmuResult, FaultKind> {
    let cfg = req.cfg;
    if cfg & 0x80 == 0 {
        return Err(FaultKind::Unsupported(format!(
            "per-quad TMU lookups (config byte {cfg:#04x}); use per-pixel (bit 7 set)"
        )));
    }
    let op = (cfg >> 3) & 0xf;
    let ty = Ty::of(cfg);
    let active = (0..16u32).filter(|&l| req.mask >> l & 1 == 1);
    // The baseline x86-64 target has no popcnt instruction; most lookups use every lane.
    let nactive = if req.mask == 0xffff {
        16
    } else {
        req.mask.count_ones()
    };
    let has_data = !req.data.is_empty();
    if op == 15 {
        let n = ty.words();
        let size = ty.bytes();
        if req.mask != 0 {
            if let Some(r) = plain_words(mem, req, ty, nactive, words) {
                return Ok(r);
            }
        }
        if has_data {
            if req.data.len() as u32 != n {
                return Err(FaultKind::Unsupported(format!(
                    "a TMU write of {n} word(s) per lane (config {cfg:#04x}) with {} data word(s) written; write one tmud per word",
                    req.data.len()
                )));
            }
            for lane in active {
                let base = req.addr[lane as usize];
                for k in 0..n {
                    let a = base.wrapping_add(4 * k);
                    let v = req.data[k as usize][lane as usize];
                    if a % size != 0 || mem.write(a, size, v).is_none() {
                        check(mem, "TMU write", a, size, lane)?;
                    }
                }
            }
            return Ok(TmuResult {
                nwords: 0,
                bytes: nactive * n * size,
                is_write: true,
                run: None,
            });
        }
        // Lanes the condition leaves out read 0.
        for w in words.iter_mut().take(n as usize) {
            *w = [0; 16];
        }
        for lane in active {
            let base = req.addr[lane as usize];
            for k in 0..n {
                let a = base.wrapping_add(4 * k);
                let v = match mem.read(a, size) {
                    Some(v) if a % size == 0 => v,
                    _ => {
                        check(mem, "TMU read", a, size, lane)?;
                        0
                    }
                };
                words[k as usize][lane as usize] = ty.extend(v);
            }
        }
        return Ok(TmuResult {
            nwords: n as usize,
            bytes: nactive * n * size,
            is_write: false,
            run: None,
        });
    }
    if !has_data {
        return match op {
            // A prefetch returns nothing and changes nothing (py-videocore7 examples/scopy.py
            // issues one per loop and never pops it). It may point past the data, so bounds
            // are not checked.
            0 => Ok(TmuResult {
                nwords: 0,
                bytes: 0,
                is_write: false,
                run: None,
            }),
            // Mesa replaces an atomic add of +1/-1 by these ops and loads no data
            // (nir_to_vir.c, atomic_add_replaced); they return the old value.
            8 | 9 => atomic(mem, req, words, ty, |old, _, _| {
                if op == 8 {
                    old.wrapping_add(1)
                } else {
                    old.wrapping_sub(1)
                }
            }),
            _ => Err(FaultKind::SemanticsUnknown(format!(
                "TMU read op {op} (config byte {cfg:#04x}): the cache-maintenance and read-modify ops other than increment and decrement"
            ))),
        };
    }
    let need = if op == 3 { 2 } else { 1 };
    if req.data.len() != need {
        return Err(FaultKind::Unsupported(format!(
            "TMU atomic op {op} takes {need} data word(s), {} were written",
            req.data.len()
        )));
    }
    // Atomics (py-videocore7 tests/test_tmu.py test_tmu_op_write_*; the old value comes back
    // through ldtmu). CMPXCHG takes the compare value first and the new value second
    // (Mesa emit_tmu_general_atomic_writes; py-videocore7 writes tmudref then tmuoff).
    match op {
        0 => atomic(mem, req, words, ty, |o, d, _| o.wrapping_add(d)),
        1 => atomic(mem, req, words, ty, |o, d, _| o.wrapping_sub(d)),
        2 => atomic(mem, req, words, ty, |_, d, _| d),
        3 => atomic(
            mem,
            req,
            words,
            ty,
            |o, cmp, new| if o == cmp { new } else { o },
        ),
        4 => atomic(mem, req, words, ty, |o, d, _| o.min(d)),
        5 => atomic(mem, req, words, ty, |o, d, _| o.max(d)),
        6 => atomic(mem, req, words, ty, |o, d, _| {
            (o as i32).min(d as i32) as u32
        }),
        7 => atomic(mem, req, words, ty, |o, d, _| {
            (o as i32).max(d as i32) as u32
        }),
        8 => atomic(mem, req, words, ty, |o, d, _| o & d),
        9 => atomic(mem, req, words, ty, |o, d, _| o | d),
        10 => atomic(mem, req, words, ty, |o, d, _| o ^ d),
        _ => Err(FaultKind::SemanticsUnknown(format!(
            "TMU op {op} with data (config byte {cfg:#04x})"
        ))),
    }
}

/// A read-modify-write per lane, lanes in ascending order; returns the old values.
fn atomic(
    mem: &mut Memory,
    req: &TmuRequest<'_>,
    words: &mut [Lanes; 4],
    ty: Ty,
    f: impl Fn(u32, u32, u32) -> u32,
) -> Result<TmuResult, FaultKind> {
    if !matches!(ty, Ty::Vec(1)) {
        return Err(FaultKind::Unsupported(
            "TMU atomics on anything but one 32-bit word per lane".into(),
        ));
    }
    let mut old = [0u32; 16];
    for lane in 0..16u32 {
        if req.mask >> lane & 1 == 0 {
            continue;
        }
        let l = lane as usize;
        let a = req.addr[l];
        check(mem, "TMU atomic", a, 4, lane)?;
        let o = mem.read(a, 4).unwrap_or(0);
        let d0 = req.data.first().map_or(0, |d| d[l]);
        let d1 = req.data.get(1).map_or(0, |d| d[l]);
        mem.write(a, 4, f(o, d0, d1));
        old[l] = o;
    }
    words[0] = old;
    Ok(TmuResult {
        nwords: 1,
        bytes: 8 * req.mask.count_ones(),
        is_write: true,
        run: None,
    })
}

/// The common access whose lanes are all aligned and inside one buffer: one buffer lookup
/// for the whole request, then each lane from that slice. `None` sends the request down the
/// lane-by-lane path, which also reports faults.
#[inline(always)]
fn plain_words(
    mem: &mut Memory,
    req: &TmuRequest<'_>,
    ty: Ty,
    nactive: u32,
    words: &mut [Lanes; 4],
) -> Option<TmuResult> {
    let (n, size) = (ty.words(), ty.bytes());
    let is_write = !req.data.is_empty();
    if is_write && req.data.len() != n as usize {
        return None;
    }
    // The bytes one lane accesses: `n` words 4 bytes apart, the last `size` bytes long.
    let lane_bytes = 4 * (n - 1) + size;
    let lay = Layout::of(req, size, lane_bytes)?;
    let (bo, base) = mem.locate(lay.lo, lay.span)?;
    let end = base + lay.span as usize;
    // One copy of the lane loops per access shape, so each lane is a few fixed-size loads or
    // stores at its offset from the span start.
    if is_write {
        let d = mem.data_mut(bo, base, end);
        match (size, n) {
            (1, _) => span_write::<1, 1>(d, req, &lay),
            (2, _) => span_write::<2, 1>(d, req, &lay),
            (_, 1) => span_write::<4, 1>(d, req, &lay),
            (_, 2) => span_write::<4, 2>(d, req, &lay),
            (_, 3) => span_write::<4, 3>(d, req, &lay),
            _ => span_write::<4, 4>(d, req, &lay),
        }?;
    } else {
        let d = &mem.data(bo)[base..end];
        let sh = sign_shift(ty);
        match (size, n) {
            (1, _) => span_read::<1, 1>(d, req, &lay, sh, words),
            (2, _) => span_read::<2, 1>(d, req, &lay, sh, words),
            (_, 1) => span_read::<4, 1>(d, req, &lay, sh, words),
            (_, 2) => span_read::<4, 2>(d, req, &lay, sh, words),
            (_, 3) => span_read::<4, 3>(d, req, &lay, sh, words),
            _ => span_read::<4, 4>(d, req, &lay, sh, words),
        }?;
    }
    Some(TmuResult {
        nwords: if is_write { 0 } else { n as usize },
        bytes: nactive * n * size,
        is_write,
        run: lay.contiguous.then_some((bo, base, end)),
    })
}

/// Where the lanes of a request fall: the span from the lowest active lane's address `lo`
/// to the end of the highest one's access. A lane's offset in it is its address minus `lo`,
/// computed in the lane loops (one subtraction, cheaper than storing 16 offsets).
struct Layout {
    lo: u32,
    span: u32,
    /// Every lane takes part and lane i accesses `lo + i * lane_bytes`: the accesses back to
    /// back, in lane order.
    contiguous: bool,
}

impl Layout {
    /// `None` when an active lane is misaligned for `size`-byte words or the span does not
    /// fit 32 bits: the lane-by-lane path reports those.
    #[inline(always)]
    fn of(req: &TmuRequest<'_>, size: u32, lane_bytes: u32) -> Option<Layout> {
        let a = &req.addr;
        let (lo, hi, low_bits, stride) = match progression(req) {
            // Lanes at a fixed stride (rows of a block, the words of a vector): the ends of
            // the progression bound it, and lane 0 and the stride hold every lane's low bits.
            Some(s) => (a[0].min(a[15]), a[0].max(a[15]), a[0] | s, Some(s)),
            None => {
                // Straight-line over the 16 lanes.
                let (mut lo, mut hi, mut low_bits) = (u32::MAX, 0u32, 0u32);
                for (lane, &a) in a.iter().enumerate() {
                    let on = req.mask >> lane & 1 == 1;
                    lo = if on { lo.min(a) } else { lo };
                    hi = if on { hi.max(a) } else { hi };
                    low_bits |= if on { a } else { 0 };
                }
                (lo, hi, low_bits, None)
            }
        };
        if low_bits & (size - 1) != 0 {
            return None;
        }
        let span = u32::try_from(u64::from(hi - lo) + u64::from(lane_bytes)).ok()?;
        Some(Layout {
            lo,
            span,
            contiguous: stride == Some(lane_bytes),
        })
    }
}

/// The stride `s` when every lane takes part and lane i accesses `addr[0] + i * s` without
/// leaving the 32-bit address space (a signed stride, so descending lanes count too).
#[inline(always)]
fn progression(req: &TmuRequest<'_>) -> Option<u32> {
    if req.mask != 0xffff {
        return None;
    }
    let a = &req.addr;
    let s = a[1].wrapping_sub(a[0]);
    // Branch-free over the lanes, so the compiler vectorises it.
    let mut ok = true;
    for (x, y) in a.iter().zip(&a[1..]) {
        ok &= y.wrapping_sub(*x) == s;
    }
    let last = i64::from(a[0]) + 15 * i64::from(s as i32);
    (ok && (0..=i64::from(u32::MAX)).contains(&last)).then_some(s)
}

/// The low `S` bytes of `v`, little-endian, as `Memory::write` stores them.
#[inline(always)]
fn put<const S: usize>(c: &mut [u8], v: u32) {
    c.copy_from_slice(&v.to_le_bytes()[..S]);
}

/// The `S`-byte little-endian value in `c`.
#[inline(always)]
fn get<const S: usize>(c: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    b[..S].copy_from_slice(c);
    u32::from_le_bytes(b)
}

/// Writes the active lanes' `N` data words of `S` bytes each into `d`, the span `lay`
/// describes, lanes in ascending order (where lanes overlap, the highest one's bytes stay).
/// `None` only if a lane falls outside `d`, which `Layout::of` rules out.
#[inline(always)]
fn span_write<const S: usize, const N: usize>(
    d: &mut [u8],
    req: &TmuRequest<'_>,
    lay: &Layout,
) -> Option<()> {
    let l = 4 * (N - 1) + S;
    let data: &[Lanes; N] = req.data.try_into().ok()?;
    if lay.contiguous {
        for (i, c) in d.get_mut(..16 * l)?.chunks_exact_mut(l).enumerate() {
            for (k, w) in data.iter().enumerate() {
                put::<S>(&mut c[4 * k..4 * k + S], w[i]);
            }
        }
    } else if req.mask == 0xffff {
        for (i, &a) in req.addr.iter().enumerate() {
            write_lane::<S, N>(d, data, i, a.wrapping_sub(lay.lo) as usize)?;
        }
    } else {
        let mut m = req.mask;
        while m != 0 {
            let i = m.trailing_zeros() as usize;
            m &= m - 1;
            write_lane::<S, N>(d, data, i, req.addr[i].wrapping_sub(lay.lo) as usize)?;
        }
    }
    Some(())
}

/// Writes lane `lane`'s words at offset `off` of `d`: one bounds check for the lane.
#[inline(always)]
fn write_lane<const S: usize, const N: usize>(
    d: &mut [u8],
    data: &[Lanes; N],
    lane: usize,
    off: usize,
) -> Option<()> {
    let c = d.get_mut(off..off + 4 * (N - 1) + S)?;
    for (k, w) in data.iter().enumerate() {
        put::<S>(&mut c[4 * k..4 * k + S], w[lane]);
    }
    Some(())
}

/// Reads `N` words of `S` bytes per active lane from `d`, the span `lay` describes, shifted
/// left then arithmetically right by `sh` (sign extension of the signed types); lanes the
/// condition leaves out read 0. `None` only if a lane falls outside `d`, which `Layout::of`
/// rules out.
#[inline(always)]
fn span_read<const S: usize, const N: usize>(
    d: &[u8],
    req: &TmuRequest<'_>,
    lay: &Layout,
    sh: u32,
    words: &mut [Lanes; 4],
) -> Option<()> {
    let l = 4 * (N - 1) + S;
    let out: &mut [Lanes; N] = words.first_chunk_mut::<N>()?;
    let ext = |v: u32| {
        if S < 4 {
            ((v << sh) as i32 >> sh) as u32
        } else {
            v
        }
    };
    if lay.contiguous {
        for (i, c) in d.get(..16 * l)?.chunks_exact(l).enumerate() {
            for (k, w) in out.iter_mut().enumerate() {
                w[i] = ext(get::<S>(&c[4 * k..4 * k + S]));
            }
        }
    } else if req.mask == 0xffff {
        for (i, &a) in req.addr.iter().enumerate() {
            let off = a.wrapping_sub(lay.lo) as usize;
            let c = d.get(off..off + l)?;
            for (k, w) in out.iter_mut().enumerate() {
                w[i] = ext(get::<S>(&c[4 * k..4 * k + S]));
            }
        }
    } else {
        *out = [[0; 16]; N];
        let mut m = req.mask;
        while m != 0 {
            let i = m.trailing_zeros() as usize;
            m &= m - 1;
            let off = req.addr[i].wrapping_sub(lay.lo) as usize;
            let c = d.get(off..off + l)?;
            for (k, w) in out.iter_mut().enumerate() {
                w[i] = ext(get::<S>(&c[4 * k..4 * k + S]));
            }
        }
    }
    Some(())
}

/// The shift pair that sign-extends a value of type `ty` (0 for the types not extended).
#[inline]
fn sign_shift(ty: Ty) -> u32 {
    match ty {
        Ty::I8 => 24,
        Ty::I16 => 16,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u32 = 0x8_0000;
    const LEN: usize = 3 * 4096 + 40;

    /// The lane-by-lane semantics the span paths must keep: active lanes in ascending order,
    /// word k of a lane at its address + 4k, `size` bytes little-endian, signed types
    /// extended, lanes left out reading 0; `None` where any access is misaligned or outside
    /// the buffer.
    fn model(mem: &mut [u8], req: &TmuRequest<'_>, ty: Ty) -> Option<Vec<Lanes>> {
        let (n, size) = (ty.words() as usize, ty.bytes() as usize);
        let mut words = vec![[0u32; 16]; n];
        for lane in (0..16).filter(|l| req.mask >> l & 1 == 1) {
            for (k, w) in words.iter_mut().enumerate() {
                let a = req.addr[lane].wrapping_add(4 * k as u32);
                let o = a.checked_sub(BASE)? as usize;
                if a as usize % size != 0 || o + size > mem.len() {
                    return None;
                }
                let c = &mut mem[o..o + size];
                if req.data.is_empty() {
                    let mut b = [0u8; 4];
                    b[..size].copy_from_slice(c);
                    w[lane] = ty.extend(u32::from_le_bytes(b));
                } else {
                    c.copy_from_slice(&req.data[k][lane].to_le_bytes()[..size]);
                }
            }
        }
        Some(if req.data.is_empty() {
            words
        } else {
            Vec::new()
        })
    }

    struct Rng(u64);

    impl Rng {
        fn next(&mut self, n: u32) -> u32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 32) % u64::from(n)) as u32
        }
    }

    /// Lane addresses of the shapes kernels use and of the ones they might: a stride (row
    /// stride, vector stride, back to back, zero, descending, odd), a 4x4 block of rows,
    /// scattered.
    fn addresses(rng: &mut Rng, size: u32, lane_bytes: u32) -> Lanes {
        let start = BASE + rng.next(LEN as u32) / size * size;
        let stride = match rng.next(6) {
            0 => lane_bytes,
            1 => 0,
            2 => 64 + 4 * rng.next(600),
            3 => (4 * rng.next(64)).wrapping_neg(),
            // Misaligned for wider types now and then.
            4 => rng.next(9),
            _ => size * rng.next(4),
        };
        let shape = rng.next(8);
        let mut a = [0u32; 16];
        for (lane, x) in (0u32..).zip(a.iter_mut()) {
            *x = match shape {
                0 | 1 => start + (lane & 3) * size + (lane >> 2) * (64 + stride % 1024),
                2 => BASE + rng.next(LEN as u32 + 8) / size * size,
                _ => start.wrapping_add(lane.wrapping_mul(stride)),
            };
        }
        // Now and then one lane misaligned or below the buffer.
        match rng.next(40) {
            0 => a[rng.next(16) as usize] |= 1,
            1 => a[rng.next(16) as usize] = BASE - 4,
            _ => {}
        }
        a
    }

    #[test]
    fn span_paths_match_the_lane_by_lane_rule() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let init: Vec<u8> = (0..LEN).map(|i| (i * 13 + 5) as u8).collect();
        let mut mem = Memory::default();
        mem.map(BASE, init.clone()).unwrap();
        let mut expect = init;
        let mut fast = 0;
        for round in 0..20_000 {
            let cfg = 0xf8 | rng.next(8) as u8;
            let ty = Ty::of(cfg);
            let (n, size) = (ty.words(), ty.bytes());
            let mask = if rng.next(3) == 0 {
                rng.next(0x1_0000) as u16
            } else {
                0xffff
            };
            let data: Vec<Lanes> = if rng.next(2) == 0 {
                (0..n)
                    .map(|_| std::array::from_fn(|_| rng.next(u32::MAX)))
                    .collect()
            } else {
                Vec::new()
            };
            let req = TmuRequest {
                addr: addresses(&mut rng, size, 4 * (n - 1) + size),
                mask,
                cfg,
                data: &data,
            };
            let before = expect.clone();
            let want = model(&mut expect, &req, ty);
            let mut words = [[0xdead_beef; 16]; 4];
            if mask != 0
                && plain_words(&mut mem, &req, ty, mask.count_ones(), &mut [[0; 16]; 4]).is_some()
            {
                fast += 1;
                // Undo it: the lookup below is the one checked.
                mem.bo_mut(BASE).unwrap().copy_from_slice(&before);
            }
            let got = lookup(&mut mem, &req, &mut words);
            match want {
                Some(w) => {
                    let r = got.unwrap_or_else(|e| panic!("round {round}: {e:?}"));
                    assert_eq!(r.nwords, w.len(), "round {round}");
                    assert_eq!(&words[..w.len()], &w[..], "round {round} cfg {cfg:#x}");
                    assert_eq!(r.bytes, mask.count_ones() * n * size);
                    assert_eq!(mem.bo(BASE).unwrap(), &expect[..], "round {round}");
                }
                None => {
                    assert!(got.is_err(), "round {round}: no fault for {:x?}", req.addr);
                    // What a faulting lookup wrote is not specified; start the next one equal.
                    expect.copy_from_slice(mem.bo(BASE).unwrap());
                }
            }
        }
        // Most requests take the span paths this test is about.
        assert!(
            fast > 10_000,
            "{fast} of 20000 requests took the span paths"
        );
    }
}
