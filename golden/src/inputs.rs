//! Input generators, after FFmpeg's checkasm (tests/checkasm/h264dsp.c, h264qpel.c,
//! vp9dsp.c) but written for this project:
//! * transforms: coefficients are the forward transform of a real residual (source minus
//!   prediction), in four flavours: all coefficients, quantised (multiples of a step, small
//!   ones dropped, as after an encoder's quantiser), sparse (1 to 3 coefficients), and for
//!   VP9 DCT_DCT the top-left sub x sub corner with the matching `eob`, which drives the
//!   DC-only and partial paths;
//! * loop filters: thresholds from the decoders' domain and pixel lines built per branch
//!   (filter off, normal, strong/flat, high edge variance), so every branch is taken;
//! * motion compensation: every sub-pel position, full-range and high-contrast pixels (the
//!   latter overshoot and exercise the clipping);
//! * every destination sits inside a guard band of random pixels that must survive.

use crate::catalog::{Inputs, Kernel, Kind};
use crate::reference::{
    H264Idct, H264IdctMulti, H264LoopFilter, Op, Vp9Filter, Vp9LoopFilter, Vp9TxSize, Vp9TxType,
    vp9_scan,
};
use crate::rng::Rng;
use crate::transform::{Forward, Kind1d};

/// Guard columns left and right of a destination block, and guard rows above and below.
const GUARD_COLS: usize = 4;
const GUARD_ROWS: usize = 2;

pub(crate) fn generate(k: &Kernel, seed: u64) -> Vec<Inputs> {
    let mut rng = Rng::new(seed);
    let bits = k.bits;
    match k.kind {
        Kind::H264Idct(kind) => h264_idct(&mut rng, bits, kind),
        Kind::H264IdctMulti(kind) => h264_idct_multi(&mut rng, bits, kind),
        Kind::H264IdctAdd8 { chroma422 } => h264_idct_add8(&mut rng, bits, chroma422),
        Kind::H264LoopFilter(kind) => h264_loop_filter(&mut rng, bits, kind),
        Kind::H264Qpel { op, size } => h264_qpel(&mut rng, bits, op, size),
        Kind::H264ChromaMc { op, width } => h264_chroma(&mut rng, bits, op, width),
        Kind::Vp9Itxfm { tx, ty } => vp9_itxfm(&mut rng, bits, tx, ty),
        Kind::Vp9LoopFilter { kind, vertical } => vp9_loop_filter(&mut rng, bits, kind, vertical),
        Kind::Vp9Mc { op, filter } => vp9_mc(&mut rng, bits, op, filter),
    }
}

fn max_pixel(bits: u32) -> i32 {
    (1 << bits) - 1
}

fn pixels(rng: &mut Rng, bits: u32, n: usize) -> Vec<i32> {
    (0..n).map(|_| rng.pixel(bits)).collect()
}

/// A destination plane with guard bands around a w x h block: (buffer, stride, origin).
fn guarded_plane(rng: &mut Rng, bits: u32, w: usize, h: usize) -> (Vec<i32>, usize, usize) {
    let stride = w + 2 * GUARD_COLS;
    let rows = h + 2 * GUARD_ROWS;
    (
        pixels(rng, bits, stride * rows),
        stride,
        GUARD_ROWS * stride + GUARD_COLS,
    )
}

fn read_block(buf: &[i32], origin: usize, stride: usize, n: usize) -> Vec<i32> {
    (0..n * n)
        .map(|i| buf[origin + (i / n) * stride + i % n])
        .collect()
}

/// How a case's coefficients are shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavour {
    Full,
    Quantised,
    Sparse,
}

fn flavour(i: usize) -> Flavour {
    match i % 3 {
        0 => Flavour::Full,
        1 => Flavour::Quantised,
        _ => Flavour::Sparse,
    }
}

/// A residual for an n x n block against the prediction `pred`: either a random source
/// (differences over the whole pixel range, as checkasm) or a source near the prediction
/// (the small residuals real streams mostly have).
fn residual(rng: &mut Rng, bits: u32, pred: &[i32]) -> Vec<i32> {
    let small = rng.chance(1, 2);
    let amp = rng.range(2, 24) << (bits - 8);
    pred.iter()
        .map(|&p| {
            let src = if small {
                (p + rng.range(-amp, amp)).clamp(0, max_pixel(bits))
            } else {
                rng.pixel(bits)
            };
            src - p
        })
        .collect()
}

fn coef_limit(bits: u32) -> f64 {
    if bits == 8 {
        f64::from(i16::MAX)
    } else {
        f64::from(1 << 24)
    }
}

/// Rounds forward-transform output into coefficients of the given flavour.
fn shape(rng: &mut Rng, bits: u32, x: &[f64], f: Flavour) -> Vec<i32> {
    let lim = coef_limit(bits);
    let mut c: Vec<i32> = match f {
        Flavour::Full | Flavour::Sparse => x
            .iter()
            .map(|v| v.round().clamp(-lim, lim) as i32)
            .collect(),
        Flavour::Quantised => {
            let q = f64::from(rng.range(4, 40) << (bits - 8));
            x.iter()
                .map(|v| ((v / q).round() * q).clamp(-lim, lim) as i32)
                .collect()
        }
    };
    if f == Flavour::Sparse {
        let keep = rng.range(1, 3) as usize;
        let mut idx: Vec<usize> = (0..c.len()).collect();
        // Favour low frequencies (the first row and column of the transposed layout) as
        // real streams do, but allow any position.
        let mut chosen = Vec::new();
        for _ in 0..keep {
            let pick = if rng.chance(2, 3) {
                let n = (c.len() as f64).sqrt() as usize;
                let a = rng.below(n.min(3) as u64) as usize;
                let b = rng.below(n.min(3) as u64) as usize;
                a * n + b
            } else {
                idx.swap_remove(rng.below(idx.len() as u64) as usize)
            };
            chosen.push(pick);
        }
        for (i, v) in c.iter_mut().enumerate() {
            if !chosen.contains(&i) {
                *v = 0;
            }
        }
        if c.iter().all(|&v| v == 0) {
            c[chosen[0]] = rng.range(-64, 64).max(1) << (bits - 8);
        }
    }
    c
}

fn h264_forward(n: usize) -> Forward {
    Forward::new(n, Kind1d::H264, Kind1d::H264, 64.0)
}

fn h264_idct(rng: &mut Rng, bits: u32, kind: H264Idct) -> Vec<Inputs> {
    let n = kind.size();
    let dc = matches!(kind, H264Idct::Idct4Dc | H264Idct::Idct8Dc);
    let fwd = h264_forward(n);
    let cases = if dc { 32 } else { 48 };
    (0..cases)
        .map(|i| {
            let (dst, stride, origin) = guarded_plane(rng, bits, n, n);
            let r = residual(rng, bits, &read_block(&dst, origin, stride, n));
            let mut c = shape(
                rng,
                bits,
                &fwd.apply(&r),
                if dc { Flavour::Full } else { flavour(i) },
            );
            if dc {
                // The DC functions read only block[0]; the decoder calls them when it is the
                // only coefficient, so the rest is zero.
                c[1..].iter_mut().for_each(|v| *v = 0);
            }
            Inputs {
                params: vec![stride as i32, origin as i32],
                buffers: vec![dst, c],
            }
        })
        .collect()
}

/// FFmpeg's `scan8` (h264_parse.h) as a formula: index of 4x4 block `i` (luma 0..16, Cb
/// 16..32, Cr 32..48, each in the decoder's 8x8-quadrant order) in the 8-wide nnz cache.
pub fn scan8(i: usize) -> usize {
    let (plane, b) = (i / 16, i % 16);
    let (x, y) = block4x4_xy(b);
    4 + x + 8 * (1 + 5 * plane + y)
}

/// Position (in 4x4 units) of block `b` of a 16x16 area in the decoder's order.
pub fn block4x4_xy(b: usize) -> (usize, usize) {
    ((b & 1) | ((b >> 1) & 2), ((b >> 1) & 1) | ((b >> 2) & 2))
}

/// Fills one 4x4 or 8x8 block's coefficients and returns its nnz count as the decoder
/// stores it: 0 (none), the DC alone, or all of the forward transform's coefficients.
fn mb_block(rng: &mut Rng, bits: u32, fwd: &Forward, pred: &[i32], out: &mut [i32]) -> u8 {
    let r = residual(rng, bits, pred);
    let x = fwd.apply(&r);
    match rng.below(3) {
        0 => 0,
        1 => {
            let c = shape(rng, bits, &x, Flavour::Full);
            out[0] = if c[0] == 0 { 1 << (bits - 8) } else { c[0] };
            1
        }
        _ => {
            let fl = if rng.chance(1, 2) {
                Flavour::Full
            } else {
                Flavour::Quantised
            };
            let c = shape(rng, bits, &x, fl);
            out[..c.len()].copy_from_slice(&c);
            c.iter().filter(|&&v| v != 0).count() as u8
        }
    }
}

fn nnz_cache(rng: &mut Rng, len: usize) -> Vec<i32> {
    // Entries the function must not read (neighbours' counts in the decoder) get random
    // values, so reading the wrong entry shows up.
    (0..len).map(|_| rng.range(0, 16)).collect()
}

fn h264_idct_multi(rng: &mut Rng, bits: u32, kind: H264IdctMulti) -> Vec<Inputs> {
    let (n, step) = if kind == H264IdctMulti::Idct8Add4 {
        (8, 4)
    } else {
        (4, 1)
    };
    let fwd = h264_forward(n);
    (0..24)
        .map(|_| {
            let (dst, stride, origin) = guarded_plane(rng, bits, 16, 16);
            let mut block = vec![0; 256];
            let mut offs = vec![0; 16];
            let mut nnzc = nnz_cache(rng, 40);
            for (b, o) in offs.iter_mut().enumerate() {
                let (x, y) = block4x4_xy(b);
                *o = (4 * y * stride + 4 * x) as i32;
            }
            for b in (0..16).step_by(step) {
                let pred = read_block(&dst, origin + offs[b] as usize, stride, n);
                let mut nnz = mb_block(rng, bits, &fwd, &pred, &mut block[b * 16..b * 16 + n * n]);
                if kind == H264IdctMulti::Add16Intra {
                    // Intra 16x16: the DC comes from the separate DC transform and nnz counts
                    // only AC coefficients.
                    nnz = block[b * 16 + 1..b * 16 + 16]
                        .iter()
                        .filter(|&&v| v != 0)
                        .count() as u8;
                }
                nnzc[scan8(b)] = i32::from(nnz);
                if step == 4 {
                    // CAVLC fills all four entries of an 8x8 block; use the same count.
                    for s in 1..4 {
                        nnzc[scan8(b + s)] = i32::from(nnz);
                    }
                }
            }
            Inputs {
                params: vec![stride as i32, origin as i32],
                buffers: vec![dst, block, offs, nnzc],
            }
        })
        .collect()
}

fn h264_idct_add8(rng: &mut Rng, bits: u32, chroma422: bool) -> Vec<Inputs> {
    let fwd = h264_forward(4);
    let h = if chroma422 { 16 } else { 8 };
    (0..24)
        .map(|_| {
            let (cb, stride, cb_origin) = guarded_plane(rng, bits, 8, h);
            let (cr, _, cr_origin) = guarded_plane(rng, bits, 8, h);
            let mut block = vec![0; 48 * 16];
            let mut offs = vec![0; 48];
            let mut nnzc = nnz_cache(rng, 120);
            for (i, o) in offs.iter_mut().enumerate() {
                let (x, y) = block4x4_xy(i % 16);
                *o = (4 * y * stride + 4 * x) as i32;
            }
            for (plane, org) in [(1, cb_origin), (2, cr_origin)] {
                let buf = if plane == 1 { &cb } else { &cr };
                let mut blocks: Vec<(usize, usize)> =
                    (0..4).map(|k| (plane * 16 + k, plane * 16 + k)).collect();
                if chroma422 {
                    // Coefficients of blocks 20..24 (36..40) with offsets and nnz of 24..28 (40..44).
                    blocks.extend((4..8).map(|k| (plane * 16 + k, plane * 16 + k + 4)));
                }
                for (coef_i, pos_i) in blocks {
                    let pred = read_block(buf, org + offs[pos_i] as usize, stride, 4);
                    let nnz = mb_block(
                        rng,
                        bits,
                        &fwd,
                        &pred,
                        &mut block[coef_i * 16..coef_i * 16 + 16],
                    );
                    // Chroma DC is transformed separately: nnz counts AC coefficients.
                    let ac = block[coef_i * 16 + 1..coef_i * 16 + 16]
                        .iter()
                        .filter(|&&v| v != 0)
                        .count();
                    nnzc[scan8(pos_i)] = if nnz == 0 { 0 } else { ac as i32 };
                }
            }
            Inputs {
                params: vec![stride as i32, cb_origin as i32, cr_origin as i32],
                buffers: vec![cb, cr, block, offs, nnzc],
            }
        })
        .collect()
}

/// (alpha, beta, tc0) tuples shaped like the decoder's tables: alpha falls geometrically
/// from 255, beta grows slowly, never 0 (the decoder skips the filter then), tc0 grows
/// with them and is -1 (segment not filtered, bS = 0) now and then.
fn h264_lf_params(rng: &mut Rng, j: usize) -> (i32, i32, [i32; 4]) {
    let steps = 35 - (j % 36) as i32;
    let mut a = 255.0f64;
    let mut c = 250.0f64;
    for _ in 0..steps {
        a = (a * 0.9).floor();
        c = (c * 0.9).floor();
    }
    let alpha = (a as i32).max(1);
    let beta = ((36 - steps) / 2).max(1);
    let c = c as i32;
    let mut tc0 = [(c + 6) / 10, (c + 7) / 15, (c + 9) / 20, (c + 6) / 10];
    for t in tc0.iter_mut() {
        if rng.chance(1, 8) {
            *t = -1;
        } else if rng.chance(1, 4) {
            *t = rng.range(0, 25);
        }
    }
    (alpha, beta, tc0)
}

/// Eight pixels p3 p2 p1 p0 | q0 q1 q2 q3 across an H.264 edge, built to take one branch:
/// 0 = filtered (|p0-q0| < alpha, |p1-p0|, |q1-q0| < beta), 1 = strong intra filter as well
/// (|p0-q0| < alpha/4 + 2, |p2-p0|, |q2-q0| < beta), 2 = one threshold exceeded, 3 = random.
fn h264_lf_line(rng: &mut Rng, bits: u32, alpha: i32, beta: i32) -> [i32; 8] {
    let m = max_pixel(bits);
    let mode = rng.below(4);
    let base = rng.pixel(bits);
    let near = |rng: &mut Rng, v: i32, d: i32| (v + rng.range(-d, d)).clamp(0, m);
    let b = (beta - 1).max(0);
    let mut l = [0; 8];
    match mode {
        0 | 1 => {
            let dq = if mode == 1 {
                (alpha / 4 + 1).min(alpha - 1).max(0)
            } else {
                (alpha - 1).max(0)
            };
            let p0 = base;
            let q0 = near(rng, p0, dq);
            l[3] = p0;
            l[4] = q0;
            l[2] = near(rng, p0, b);
            l[1] = near(rng, p0, b);
            l[0] = near(rng, p0, b.max(1) * 2);
            l[5] = near(rng, q0, b);
            l[6] = near(rng, q0, b);
            l[7] = near(rng, q0, b.max(1) * 2);
        }
        2 => {
            let p0 = base;
            let which = rng.below(3);
            let big = |rng: &mut Rng, v: i32, t: i32| {
                let d = t + rng.range(0, 16);
                if v + d <= m { v + d } else { (v - d).max(0) }
            };
            let q0 = if which == 0 {
                big(rng, p0, alpha)
            } else {
                near(rng, p0, (alpha - 1).max(0))
            };
            l[3] = p0;
            l[4] = q0;
            l[2] = if which == 1 {
                big(rng, p0, beta)
            } else {
                near(rng, p0, b)
            };
            l[5] = if which == 2 {
                big(rng, q0, beta)
            } else {
                near(rng, q0, b)
            };
            l[1] = near(rng, p0, b);
            l[6] = near(rng, q0, b);
            l[0] = rng.pixel(bits);
            l[7] = rng.pixel(bits);
        }
        _ => {
            for v in l.iter_mut() {
                *v = rng.pixel(bits);
            }
        }
    }
    l
}

fn h264_loop_filter(rng: &mut Rng, bits: u32, kind: H264LoopFilter) -> Vec<Inputs> {
    let (len, reach) = (kind.length(), kind.reach());
    (0..72)
        .map(|j| {
            let (alpha, beta, tc0) = h264_lf_params(rng, j);
            // The edge region plus guard: `reach` pixels each side across the edge, `len`
            // along it.
            let (w, h) = if kind.is_vertical() {
                (len, 2 * reach)
            } else {
                (2 * reach, len)
            };
            let (mut dst, stride, corner) = guarded_plane(rng, bits, w, h);
            let origin = if kind.is_vertical() {
                corner + reach * stride
            } else {
                corner + reach
            };
            for along in 0..len {
                let line = h264_lf_line(rng, bits, alpha, beta);
                for (k, &v) in line.iter().enumerate() {
                    let across = k as isize - 4;
                    if across.unsigned_abs() > reach || across == reach as isize {
                        continue;
                    }
                    let pos = if kind.is_vertical() {
                        origin as isize + across * stride as isize + along as isize
                    } else {
                        origin as isize + along as isize * stride as isize + across
                    };
                    dst[pos as usize] = v;
                }
            }
            let mut params = vec![
                stride as i32,
                origin as i32,
                alpha << (bits - 8),
                beta << (bits - 8),
            ];
            if !kind.is_intra() {
                // The decoder passes the chroma filters tc0_table + 1 (h264_loopfilter.c), so
                // their domain is 0 (segment skipped) ..= 26, and luma's is -1 ..= 25.
                let bias = if kind.is_luma() { 0 } else { 1 };
                params.extend(tc0.map(|t| t + bias));
            }
            Inputs {
                params,
                buffers: vec![dst],
            }
        })
        .collect()
}

/// Source pixels: full range, or a high-contrast pattern (0 and max) whose filtered values
/// overshoot and are clipped.
fn mc_source(rng: &mut Rng, bits: u32, n: usize) -> Vec<i32> {
    if rng.chance(1, 4) {
        let m = max_pixel(bits);
        (0..n)
            .map(|_| if rng.chance(1, 2) { 0 } else { m })
            .collect()
    } else {
        pixels(rng, bits, n)
    }
}

fn h264_qpel(rng: &mut Rng, bits: u32, op: Op, size: usize) -> Vec<Inputs> {
    let _ = op;
    // dst and src share the stride in FFmpeg's prototype.
    let stride = size + 8;
    let reps = match size {
        16 => 2,
        8 => 3,
        _ => 4,
    };
    let mut out = Vec::new();
    for rep in 0..reps {
        for pos in 0..16u8 {
            let _ = rep;
            let (x, y) = (pos % 4, pos / 4);
            let src = mc_source(rng, bits, stride * (size + 5));
            let src_origin = 2 * stride + 2;
            let dst = pixels(rng, bits, stride * (size + 2 * GUARD_ROWS));
            let dst_origin = GUARD_ROWS * stride + GUARD_COLS;
            out.push(Inputs {
                params: vec![
                    stride as i32,
                    dst_origin as i32,
                    src_origin as i32,
                    x.into(),
                    y.into(),
                ],
                buffers: vec![dst, src],
            });
        }
    }
    out
}

fn h264_chroma(rng: &mut Rng, bits: u32, op: Op, width: usize) -> Vec<Inputs> {
    let _ = op;
    let stride = width + 8;
    let heights: &[usize] = match width {
        8 => &[8, 4, 16],
        4 => &[4, 8, 2],
        _ => &[2, 4, 8],
    };
    (0..64u8)
        .map(|pos| {
            let (x, y) = (pos % 8, pos / 8);
            let h = heights[rng.below(heights.len() as u64) as usize];
            let src = mc_source(rng, bits, stride * (h + 3));
            let src_origin = stride + 1;
            let dst = pixels(rng, bits, stride * (h + 2 * GUARD_ROWS));
            let dst_origin = GUARD_ROWS * stride + GUARD_COLS;
            Inputs {
                params: vec![
                    stride as i32,
                    dst_origin as i32,
                    src_origin as i32,
                    h as i32,
                    x.into(),
                    y.into(),
                ],
                buffers: vec![dst, src],
            }
        })
        .collect()
}

fn vp9_kinds(tx: Vp9TxSize, ty: Vp9TxType) -> (Kind1d, Kind1d) {
    if tx == Vp9TxSize::Wht {
        return (Kind1d::Wht, Kind1d::Wht);
    }
    match ty {
        Vp9TxType::DctDct => (Kind1d::Dct, Kind1d::Dct),
        Vp9TxType::DctAdst => (Kind1d::Dct, Kind1d::Adst),
        Vp9TxType::AdstDct => (Kind1d::Adst, Kind1d::Dct),
        Vp9TxType::AdstAdst => (Kind1d::Adst, Kind1d::Adst),
    }
}

/// The VP9 forward transform matching FFmpeg's inverse for (tx, type): the final shift of
/// the inverse is 4/5/6/6 bits for 4..32 and the WHT's input is scaled down by 4.
pub fn vp9_forward(tx: Vp9TxSize, ty: Vp9TxType) -> Forward {
    let (v, h) = vp9_kinds(tx, ty);
    let scale = match tx {
        Vp9TxSize::Tx4 => 16.0,
        Vp9TxSize::Tx8 => 32.0,
        Vp9TxSize::Tx16 | Vp9TxSize::Tx32 => 64.0,
        Vp9TxSize::Wht => 4.0,
    };
    Forward::new(tx.size(), v, h, scale)
}

fn vp9_itxfm(rng: &mut Rng, bits: u32, tx: Vp9TxSize, ty: Vp9TxType) -> Vec<Inputs> {
    let n = tx.size();
    let fwd = vp9_forward(tx, ty);
    let scan = vp9_scan(tx, ty);
    let cases = match tx {
        Vp9TxSize::Tx4 | Vp9TxSize::Wht => 48,
        Vp9TxSize::Tx8 => 40,
        Vp9TxSize::Tx16 => 32,
        Vp9TxSize::Tx32 => 24,
    };
    // Partial blocks (top-left sub x sub), checkasm's sizes 1, 2, 4, 8, 12, ...
    let subs: Vec<usize> = [1, 2]
        .into_iter()
        .chain((4..n).step_by(4))
        .filter(|&s| s < n)
        .collect();
    (0..cases)
        .map(|i| {
            let (dst, stride, origin) = guarded_plane(rng, bits, n, n);
            let r = residual(rng, bits, &read_block(&dst, origin, stride, n));
            let x = fwd.apply(&r);
            let partial = ty == Vp9TxType::DctDct && tx != Vp9TxSize::Wht && i % 4 == 3;
            let mut c = if partial || tx == Vp9TxSize::Wht {
                shape(rng, bits, &x, Flavour::Full)
            } else {
                shape(rng, bits, &x, flavour(i))
            };
            let eob = if partial {
                let sub = subs[(i / 4) % subs.len()];
                // Keep the coefficients in scan order up to the first one outside the
                // corner, as the decoder's eob would.
                let mut eob = n * n;
                for (pos, &rc) in scan.iter().enumerate() {
                    // Transposed layout: rc = kh * n + kv.
                    if rc / n >= sub || rc % n >= sub {
                        eob = pos;
                        break;
                    }
                }
                for &rc in &scan[eob..] {
                    c[rc] = 0;
                }
                if eob == 1 && c[0] == 0 {
                    c[0] = 1 << (bits - 8);
                }
                eob
            } else {
                scan.iter().rposition(|&rc| c[rc] != 0).map_or(1, |p| p + 1)
            };
            if c.iter().all(|&v| v == 0) {
                c[0] = 1 << (bits - 8);
            }
            Inputs {
                params: vec![stride as i32, origin as i32, eob as i32],
                buffers: vec![dst, c],
            }
        })
        .collect()
}

/// VP9 loop-filter thresholds for a filter level and sharpness (VP9 spec 8.8.1, FFmpeg
/// vp9.c): (E, I, H) at 8 bits.
fn vp9_lf_limits(level: i32, sharpness: i32) -> (i32, i32, i32) {
    let shift = if sharpness > 4 {
        2
    } else if sharpness > 0 {
        1
    } else {
        0
    };
    let mut limit = if sharpness > 0 {
        (level >> shift).min(9 - sharpness)
    } else {
        level >> shift
    };
    limit = limit.max(1);
    (2 * (level + 2) + limit, limit, level >> 4)
}

/// Sixteen pixels p7..p0 | q0..q7 across a VP9 edge, built for one branch: flat16 (all within
/// 1 of p0/q0), flat8 (p3..q3 flat), regular (within I, p0-q0 within E), high edge variance,
/// or off (random).
fn vp9_lf_line(rng: &mut Rng, bits: u32, e: i32, i: i32, h: i32) -> [i32; 16] {
    let m = max_pixel(bits);
    let f = 1 << (bits - 8);
    let near = |rng: &mut Rng, v: i32, d: i32| (v + rng.range(-d, d)).clamp(0, m);
    let mut l = [0; 16];
    let q0 = rng.pixel(bits);
    let p0 = near(rng, q0, (e >> 2).max(0));
    l[7] = p0;
    l[8] = q0;
    match rng.below(5) {
        0 => {
            for k in 1..8 {
                l[7 - k] = near(rng, p0, f);
                l[8 + k] = near(rng, q0, f);
            }
        }
        1 => {
            for k in 1..4 {
                l[7 - k] = near(rng, p0, f);
                l[8 + k] = near(rng, q0, f);
            }
            for k in 4..8 {
                l[7 - k] = rng.pixel(bits);
                l[8 + k] = rng.pixel(bits);
            }
        }
        2 | 3 => {
            let hev = rng.below(5) == 3;
            let d1 = if hev {
                h + 1 + rng.range(0, 4)
            } else {
                (i - 1).max(0)
            };
            l[6] = near(rng, p0, d1.min(i - 1).max(0));
            l[9] = if hev {
                (q0 + d1).min(m)
            } else {
                near(rng, q0, (i - 1).max(0))
            };
            for k in 2..4 {
                l[7 - k] = near(rng, l[8 - k], (i - 1).max(0));
                l[8 + k] = near(rng, l[7 + k], (i - 1).max(0));
            }
            for k in 4..8 {
                l[7 - k] = rng.pixel(bits);
                l[8 + k] = rng.pixel(bits);
            }
        }
        _ => {
            for v in l.iter_mut() {
                *v = rng.pixel(bits);
            }
        }
    }
    l
}

fn vp9_loop_filter(rng: &mut Rng, bits: u32, kind: Vp9LoopFilter, vertical: bool) -> Vec<Inputs> {
    let (len, reach) = (kind.length(), kind.reach());
    (0..48)
        .map(|_| {
            let mut lim = [(0, 0, 0); 2];
            for l in lim.iter_mut() {
                *l = vp9_lf_limits(rng.range(1, 63), rng.range(0, 7));
            }
            let (w, h) = if vertical {
                (len, 2 * reach)
            } else {
                (2 * reach, len)
            };
            let (mut dst, stride, corner) = guarded_plane(rng, bits, w, h);
            let origin = if vertical {
                corner + reach * stride
            } else {
                corner + reach
            };
            for along in 0..len {
                let (e, i, hv) = lim[along / 8 % 2];
                let line = vp9_lf_line(rng, bits, e, i, hv);
                for (k, &v) in line.iter().enumerate() {
                    let across = k as isize - 8;
                    if across < -(reach as isize) || across >= reach as isize {
                        continue;
                    }
                    let pos = if vertical {
                        origin as isize + across * stride as isize + along as isize
                    } else {
                        origin as isize + along as isize * stride as isize + across
                    };
                    dst[pos as usize] = v;
                }
            }
            let (e, i, h) = match kind {
                Vp9LoopFilter::Mix2 { .. } => (
                    (lim[1].0 << 8) | lim[0].0,
                    (lim[1].1 << 8) | lim[0].1,
                    (lim[1].2 << 8) | lim[0].2,
                ),
                _ => lim[0],
            };
            Inputs {
                params: vec![stride as i32, origin as i32, e, i, h],
                buffers: vec![dst],
            }
        })
        .collect()
}

fn vp9_mc(rng: &mut Rng, bits: u32, op: Op, filter: Vp9Filter) -> Vec<Inputs> {
    let _ = (op, filter);
    let mut out = Vec::new();
    for width in [64usize, 32, 16, 8, 4] {
        // (mx, my) pairs: every pair for 4-wide blocks at 8 bits; otherwise every mx and
        // every my at least once, plus the full-pel and one-dimensional table entries.
        let positions: Vec<(u8, u8)> = if width == 4 && bits == 8 {
            (0..256u16)
                .map(|p| ((p % 16) as u8, (p / 16) as u8))
                .collect()
        } else if width == 4 {
            // 10-bit 4-wide: each mx with four my values, together every my too.
            let shift = rng.range(0, 15) as u8;
            (0..64u8)
                .map(|p| (p % 16, (p / 16 * 4 + p % 4 + shift) % 16))
                .collect()
        } else {
            let count: u8 = match width {
                64 => 4,
                32 => 8,
                _ => 16,
            };
            let nz = |rng: &mut Rng| rng.range(1, 15) as u8;
            let mut v = vec![(0, 0), (nz(rng), 0), (0, nz(rng)), (nz(rng), nz(rng))];
            let shift = rng.range(0, 15) as u8;
            // 7 is odd, so k -> 7k + shift visits every my while k visits every mx.
            v.extend((0..count).map(|k| (k % 16, (k * 7 + shift) % 16)));
            v
        };
        for (mx, my) in positions {
            let heights: Vec<usize> = [width / 2, width, width * 2]
                .into_iter()
                .filter(|&h| (4..=64).contains(&h))
                .collect();
            let h = heights[rng.below(heights.len() as u64) as usize];
            let src_stride = width + 8;
            let src = mc_source(rng, bits, src_stride * (h + 8));
            let src_origin = 3 * src_stride + 3;
            let dst_stride = width + 2 * GUARD_COLS;
            let dst = pixels(rng, bits, dst_stride * (h + 2 * GUARD_ROWS));
            let dst_origin = GUARD_ROWS * dst_stride + GUARD_COLS;
            out.push(Inputs {
                params: vec![
                    width as i32,
                    h as i32,
                    mx.into(),
                    my.into(),
                    dst_stride as i32,
                    dst_origin as i32,
                    src_stride as i32,
                    src_origin as i32,
                ],
                buffers: vec![dst, src],
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan8_matches_the_decoders_cache_layout() {
        // h264_parse.h: luma 4+1*8, 5+1*8, 4+2*8, ...; Cb from 4+6*8; Cr from 4+11*8.
        assert_eq!(scan8(0), 12);
        assert_eq!(scan8(1), 13);
        assert_eq!(scan8(2), 20);
        assert_eq!(scan8(4), 14);
        assert_eq!(scan8(15), 39);
        assert_eq!(scan8(16), 52);
        assert_eq!(scan8(24), 68);
        assert_eq!(scan8(32), 92);
        assert_eq!(scan8(47), 119);
    }

    #[test]
    fn vp9_limits_follow_the_spec_formula() {
        assert_eq!(vp9_lf_limits(1, 0), (7, 1, 0));
        assert_eq!(vp9_lf_limits(63, 0), (2 * 65 + 63, 63, 3));
        assert_eq!(vp9_lf_limits(63, 7), (2 * 65 + 2, 2, 3));
        assert_eq!(vp9_lf_limits(32, 3), (2 * 34 + 6, 6, 2));
    }
}
