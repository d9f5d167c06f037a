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
    let ty = match cfg & 7 {
        0 => Ty::I8,
        1 => Ty::I16,
        2 => Ty::Vec(2),
        3 => Ty::Vec(3),
        4 => Ty::Vec(4),
        5 => Ty::U8,
        6 => Ty::U16,
        _ => Ty::Vec(1),
    };
    let active = (0..16u32).filter(|&l| req.mask >> l & 1 == 1);
    let nactive = req.mask.count_ones();
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
    })
}

/// The common access whose lanes are all aligned and inside one buffer: one buffer lookup
/// for the whole request, then each lane from that slice. `None` sends the request down the
/// lane-by-lane path, which also reports faults.
fn plain_words(
    mem: &mut Memory,
    req: &TmuRequest<'_>,
    ty: Ty,
    nactive: u32,
    words: &mut [Lanes; 4],
) -> Option<TmuResult> {
    let (n, size) = (ty.words(), ty.bytes());
    // Straight-line over the 16 lanes: the span of the active addresses and whether any is
    // misaligned.
    let (mut lo, mut hi, mut low_bits) = (u32::MAX, 0u32, 0u32);
    if req.mask == 0xffff {
        for &a in &req.addr {
            lo = lo.min(a);
            hi = hi.max(a);
            low_bits |= a;
        }
    } else {
        for lane in 0..16 {
            let on = req.mask >> lane & 1 == 1;
            let a = req.addr[lane];
            lo = if on { lo.min(a) } else { lo };
            hi = if on { hi.max(a) } else { hi };
            low_bits |= if on { a } else { 0 };
        }
    }
    if low_bits & (size - 1) != 0 {
        return None;
    }
    let span = u64::from(hi - lo) + u64::from(size * n);
    let span32 = u32::try_from(span).ok()?;
    let (bo, base) = mem.locate(lo, span32)?;
    let is_write = !req.data.is_empty();
    if is_write && req.data.len() != n as usize {
        return None;
    }
    let end = base + span as usize;
    let n = n as usize;
    // One copy of the lane loops per access size, so each lane is a fixed-size load or store.
    match (size, is_write) {
        (1, true) => span_write::<1>(mem.data_mut(bo, base, end), req, lo, n),
        (2, true) => span_write::<2>(mem.data_mut(bo, base, end), req, lo, n),
        (_, true) => span_write::<4>(mem.data_mut(bo, base, end), req, lo, n),
        (1, false) => span_read::<1>(&mem.data(bo)[base..end], req, lo, n, ty, words),
        (2, false) => span_read::<2>(&mem.data(bo)[base..end], req, lo, n, ty, words),
        (_, false) => span_read::<4>(&mem.data(bo)[base..end], req, lo, n, ty, words),
    }?;
    let size = size as usize;
    Some(TmuResult {
        nwords: if is_write { 0 } else { n },
        bytes: nactive * (n * size) as u32,
        is_write,
    })
}

/// Writes the active lanes' data words (their low `S` bytes, as `Memory::write` stores them)
/// into `d`, the span starting at address `lo`, lanes in ascending order.
fn span_write<const S: usize>(d: &mut [u8], req: &TmuRequest<'_>, lo: u32, n: usize) -> Option<()> {
    let stride = if S == 4 { 4 * n } else { S };
    if contiguous(req, lo, stride) {
        // Lane i at lo + i * stride: the span is the lanes' accesses back to back.
        if n == 1 {
            for (c, v) in d.chunks_exact_mut(S).zip(&req.data[0]) {
                c.copy_from_slice(&v.to_le_bytes()[..S]);
            }
            return Some(());
        }
        for (lane, c) in d.chunks_exact_mut(stride).enumerate() {
            for (k, data) in req.data.iter().enumerate().take(n) {
                c.get_mut(4 * k..4 * k + S)?
                    .copy_from_slice(&data[lane].to_le_bytes()[..S]);
            }
        }
        return Some(());
    }
    for lane in 0..16 {
        if req.mask >> lane & 1 == 1 {
            let off = (req.addr[lane] - lo) as usize;
            for (k, data) in req.data.iter().enumerate().take(n) {
                let o = off + 4 * k;
                d.get_mut(o..o + S)?
                    .copy_from_slice(&data[lane].to_le_bytes()[..S]);
            }
        }
    }
    Some(())
}

/// Reads `n` words per active lane from `d`, the span starting at address `lo`, extended as
/// `ty` says; lanes the condition leaves out read 0.
fn span_read<const S: usize>(
    d: &[u8],
    req: &TmuRequest<'_>,
    lo: u32,
    n: usize,
    ty: Ty,
    words: &mut [Lanes; 4],
) -> Option<()> {
    let word = |o: usize| -> Option<u32> {
        let mut b = [0u8; 4];
        b[..S].copy_from_slice(d.get(o..o + S)?);
        Some(u32::from_le_bytes(b))
    };
    let stride = if S == 4 { 4 * n } else { S };
    if contiguous(req, lo, stride) {
        // Lane i at lo + i * stride: the span is the lanes' accesses back to back.
        let sh = sign_shift(ty);
        if n == 1 {
            for (w, c) in words[0].iter_mut().zip(d.chunks_exact(S)) {
                let mut b = [0u8; 4];
                b[..S].copy_from_slice(c);
                *w = ((u32::from_le_bytes(b) << sh) as i32 >> sh) as u32;
            }
            return Some(());
        }
        for (lane, c) in d.chunks_exact(stride).enumerate() {
            for (k, w) in words.iter_mut().enumerate().take(n) {
                let mut b = [0u8; 4];
                b[..S].copy_from_slice(c.get(4 * k..4 * k + S)?);
                w[lane] = ((u32::from_le_bytes(b) << sh) as i32 >> sh) as u32;
            }
        }
        return Some(());
    }
    if n == 1 {
        // The common single-word read. Sign extension as a shift pair, so the lane loop
        // has no branch on the type.
        let sh = sign_shift(ty);
        for (lane, (w, &a)) in words[0].iter_mut().zip(&req.addr).enumerate() {
            *w = if req.mask >> lane & 1 == 1 {
                ((word((a - lo) as usize)? << sh) as i32 >> sh) as u32
            } else {
                0
            };
        }
        return Some(());
    }
    for w in words.iter_mut().take(n) {
        *w = [0; 16];
    }
    for lane in 0..16 {
        if req.mask >> lane & 1 == 1 {
            let off = (req.addr[lane] - lo) as usize;
            for (k, w) in words.iter_mut().enumerate().take(n) {
                w[lane] = word(off + 4 * k)?;
            }
        }
    }
    Some(())
}

/// Whether every lane takes part and lane i accesses `lo + i * stride`.
#[inline(always)]
fn contiguous(req: &TmuRequest<'_>, lo: u32, stride: usize) -> bool {
    if req.mask != 0xffff {
        return false;
    }
    // Branch-free over the lanes, so the compiler vectorises it.
    let stride = stride as u32;
    let mut ok = true;
    for (i, &a) in (0u32..).zip(&req.addr) {
        ok &= a == lo.wrapping_add(i.wrapping_mul(stride));
    }
    ok
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
