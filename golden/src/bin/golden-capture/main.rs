//! `golden-capture`: fixtures from real decoding. Decodes the committed 8-bit H.264 and VP9
//! test streams with FFmpeg's own decoders (linked statically, C functions forced), with
//! `ff_h264dsp_init` and `ff_vp9dsp_init` wrapped (`-Wl,--wrap`, see build.rs) so that the
//! decoder's IDCT, loop-filter and MC calls go through shims (`ff_h264qpel_init` and
//! `ff_h264chroma_init` are wrapped too). Each shim records the call's inputs
//! (a deterministic reservoir sample per kernel), then forwards to FFmpeg's function. The
//! samples become `golden/fixtures/<kernel>/captured.bin`, with the expected results from the
//! C reference, in the same format as the generated fixtures. Guard bands around the
//! captured pixels are synthetic (seeded), since only the pixels a function reads are read
//! from the decoder's frames.
//!
//! Usage: golden-capture [--check] [--streams DIR] [--dir FIXTURES]
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::os::raw::{c_char, c_int, c_void};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{Context, bail};
use golden::catalog::{self, Inputs, Kind};
use golden::ffi::{H264ChromaContext, H264DspContext, H264QpelContext, Vp9DspContext};
use golden::fixtures::Fixture;
use golden::reference::{
    H264Idct, H264IdctMulti, H264LoopFilter, Op, Reference, Vp9Filter, Vp9LoopFilter, Vp9TxSize,
    Vp9TxType,
};

mod mc;
use golden::regen::{self, Outcome};
use golden::rng::{Rng, kernel_seed};

/// Cases kept per kernel.
const CAP: usize = 48;
const GUARD_COLS: usize = 4;
const GUARD_ROWS: usize = 2;

#[repr(C)]
struct Opaque {
    _p: [u8; 0],
}

/// The leading fields of `AVPacket` (libavcodec/packet.h, public and stable within a major).
#[repr(C)]
struct AvPacketHead {
    buf: *mut c_void,
    pts: i64,
    dts: i64,
    data: *mut u8,
    size: c_int,
}

const AV_CODEC_ID_H264: c_int = 27;
const AVERROR_EAGAIN: c_int = -11;

unsafe extern "C" {
    static ff_h264_decoder: Opaque;
    static ff_vp9_decoder: Opaque;
    fn avcodec_alloc_context3(codec: *const Opaque) -> *mut Opaque;
    fn avcodec_open2(ctx: *mut Opaque, codec: *const Opaque, opts: *mut *mut c_void) -> c_int;
    fn avcodec_free_context(ctx: *mut *mut Opaque);
    fn avcodec_send_packet(ctx: *mut Opaque, pkt: *const AvPacketHead) -> c_int;
    fn avcodec_receive_frame(ctx: *mut Opaque, frame: *mut Opaque) -> c_int;
    fn av_packet_alloc() -> *mut AvPacketHead;
    fn av_packet_free(p: *mut *mut AvPacketHead);
    fn av_new_packet(p: *mut AvPacketHead, size: c_int) -> c_int;
    fn av_packet_unref(p: *mut AvPacketHead);
    fn av_frame_alloc() -> *mut Opaque;
    fn av_frame_free(f: *mut *mut Opaque);
    fn av_opt_set_int(obj: *mut c_void, name: *const c_char, val: i64, flags: c_int) -> c_int;
    fn av_parser_init(codec_id: c_int) -> *mut Opaque;
    fn av_parser_parse2(
        s: *mut Opaque,
        avctx: *mut Opaque,
        out: *mut *mut u8,
        out_size: *mut c_int,
        buf: *const u8,
        buf_size: c_int,
        pts: i64,
        dts: i64,
        pos: i64,
    ) -> c_int;
    fn av_parser_close(s: *mut Opaque);
    fn av_force_cpu_flags(flags: c_int);
    fn __real_ff_h264dsp_init(c: *mut H264DspContext, bit_depth: c_int, chroma_format_idc: c_int);
    fn __real_ff_vp9dsp_init(c: *mut Vp9DspContext, bpp: c_int, bitexact: c_int);
    fn __real_ff_h264qpel_init(c: *mut H264QpelContext, bit_depth: c_int);
    fn __real_ff_h264chroma_init(c: *mut H264ChromaContext, bit_depth: c_int);
}

/// A deterministic uniform sample of a kernel's calls.
struct Reservoir {
    seen: u64,
    kept: Vec<Inputs>,
    rng: Rng,
}

struct State {
    enabled: bool,
    calls: BTreeMap<String, Reservoir>,
    h264: Option<H264DspContext>,
    vp9: Option<Vp9DspContext>,
    qpel: Option<H264QpelContext>,
    chroma: Option<H264ChromaContext>,
}

static STATE: Mutex<State> = Mutex::new(State {
    enabled: false,
    calls: BTreeMap::new(),
    h264: None,
    vp9: None,
    qpel: None,
    chroma: None,
});

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Offers one call of `kind` (8-bit) to its reservoir; `make` reads the inputs (before the
/// real function runs) and builds the case, drawing guard pixels from the reservoir's rng.
fn offer(kind: Kind, make: impl FnOnce(&mut Rng) -> Inputs) {
    let name = kind.base_name();
    let mut st = state();
    if !st.enabled {
        return;
    }
    let r = st.calls.entry(name.clone()).or_insert_with(|| Reservoir {
        seen: 0,
        kept: Vec::new(),
        rng: Rng::new(kernel_seed(&name) ^ 0xc0ff_ee00_d00d_cafe),
    });
    r.seen += 1;
    if r.kept.len() < CAP {
        let c = make(&mut r.rng);
        r.kept.push(c);
    } else {
        let j = r.rng.below(r.seen) as usize;
        if j < CAP {
            r.kept[j] = make(&mut r.rng);
        }
    }
}

/// A plane of `w` x `h` captured pixels inside a guard band of random ones:
/// (buffer, stride, origin). `px(y, x)` reads the captured pixel.
fn embed(
    rng: &mut Rng,
    w: usize,
    h: usize,
    px: impl Fn(usize, usize) -> i32,
) -> (Vec<i32>, usize, usize) {
    let stride = w + 2 * GUARD_COLS;
    let mut buf: Vec<i32> = (0..stride * (h + 2 * GUARD_ROWS))
        .map(|_| rng.pixel(8))
        .collect();
    let origin = GUARD_ROWS * stride + GUARD_COLS;
    for y in 0..h {
        for x in 0..w {
            buf[origin + y * stride + x] = px(y, x);
        }
    }
    (buf, stride, origin)
}

/// Reads pixel (y, x) relative to `p` with a byte stride.
///
/// # Safety
/// The decoder guarantees the pixels its DSP call reads are readable; callers only read those.
unsafe fn pixel(p: *const u8, stride: isize, y: isize, x: isize) -> i32 {
    // SAFETY: see the function's contract.
    i32::from(unsafe { *p.offset(y * stride + x) })
}

/// # Safety
/// `p` points at `n` readable values.
unsafe fn read<T: Copy + Into<i32>>(p: *const T, n: usize) -> Vec<i32> {
    // SAFETY: see the function's contract.
    unsafe { std::slice::from_raw_parts(p, n) }
        .iter()
        .map(|&v| v.into())
        .collect()
}

fn h264() -> H264DspContext {
    state()
        .h264
        .expect("H.264 shims are installed only after the real init")
}

fn vp9() -> Vp9DspContext {
    state()
        .vp9
        .expect("VP9 shims are installed only after the real init")
}

macro_rules! h264_idct_shim {
    ($name:ident, $kind:expr, $field:ident) => {
        extern "C" fn $name(dst: *mut u8, block: *mut i16, stride: c_int) {
            let n = $kind.size();
            offer(Kind::H264Idct($kind), |rng| {
                // SAFETY: the n x n block at dst and its n*n coefficients are what the
                // function is about to read.
                let (plane, s, o) = embed(rng, n, n, |y, x| unsafe {
                    pixel(dst, stride as isize, y as isize, x as isize)
                });
                // SAFETY: as above.
                let coefs = unsafe { read(block, n * n) };
                Inputs {
                    params: vec![s as i32, o as i32],
                    buffers: vec![plane, coefs],
                }
            });
            let f = h264().$field.expect("real function");
            // SAFETY: forwarding the decoder's own arguments to FFmpeg's function.
            unsafe { f(dst, block, stride) }
        }
    };
}
h264_idct_shim!(shim_idct4, H264Idct::Idct4, h264_idct_add);
h264_idct_shim!(shim_idct8, H264Idct::Idct8, h264_idct8_add);
h264_idct_shim!(shim_idct4_dc, H264Idct::Idct4Dc, h264_idct_dc_add);
h264_idct_shim!(shim_idct8_dc, H264Idct::Idct8Dc, h264_idct8_dc_add);

/// Places blocks read at byte offsets `offs` (with the decoder's `stride`) into a plane of
/// their own and returns (plane, stride, origin, offsets in pixels from origin).
///
/// # Safety
/// Every n x n block at `dst + offs[i]` for i in `used` is readable.
unsafe fn embed_blocks(
    rng: &mut Rng,
    dst: *const u8,
    stride: isize,
    offs: &[c_int],
    used: &[usize],
    n: usize,
) -> (Vec<i32>, usize, usize, Vec<i32>) {
    let pos = |o: c_int| {
        (
            (o as isize).div_euclid(stride) as usize,
            (o as isize).rem_euclid(stride) as usize,
        )
    };
    let (mut w, mut h) = (0, 0);
    for &i in used {
        let (y, x) = pos(offs[i]);
        w = w.max(x + n);
        h = h.max(y + n);
    }
    let mut grid = vec![None; w * h];
    for &i in used {
        let (y0, x0) = pos(offs[i]);
        for y in 0..n {
            for x in 0..n {
                // SAFETY: see the function's contract.
                grid[(y0 + y) * w + x0 + x] =
                    Some(unsafe { pixel(dst, stride, (y0 + y) as isize, (x0 + x) as isize) });
            }
        }
    }
    let fill: Vec<i32> = (0..w * h).map(|_| rng.pixel(8)).collect();
    let (plane, s, o) = embed(rng, w, h, |y, x| grid[y * w + x].unwrap_or(fill[y * w + x]));
    let out = offs
        .iter()
        .map(|&off| {
            let (y, x) = pos(off);
            if y < h && x < w {
                (y * s + x) as i32
            } else {
                0
            }
        })
        .collect();
    (plane, s, o, out)
}

macro_rules! h264_multi_shim {
    ($name:ident, $kind:expr, $field:ident) => {
        extern "C" fn $name(
            dst: *mut u8,
            offs: *const c_int,
            block: *mut i16,
            stride: c_int,
            nnzc: *const u8,
        ) {
            let (n, step) = if $kind == H264IdctMulti::Idct8Add4 {
                (8, 4)
            } else {
                (4, 1)
            };
            offer(Kind::H264IdctMulti($kind), |rng| {
                // SAFETY: the decoder passes 16 block offsets, a 16x16-coefficient block and a
                // 40-entry nnz cache; the blocks at the offsets are the ones the function adds to.
                unsafe {
                    let o = std::slice::from_raw_parts(offs, 16);
                    let used: Vec<usize> = (0..16).step_by(step).collect();
                    let (plane, s, org, boffs) =
                        embed_blocks(rng, dst, stride as isize, o, &used, n);
                    Inputs {
                        params: vec![s as i32, org as i32],
                        buffers: vec![plane, read(block, 256), boffs, read(nnzc, 40)],
                    }
                }
            });
            let f = h264().$field.expect("real function");
            // SAFETY: forwarding the decoder's own arguments to FFmpeg's function.
            unsafe { f(dst, offs, block, stride, nnzc) }
        }
    };
}
h264_multi_shim!(shim_add16, H264IdctMulti::Add16, h264_idct_add16);
h264_multi_shim!(
    shim_add16intra,
    H264IdctMulti::Add16Intra,
    h264_idct_add16intra
);
h264_multi_shim!(shim_idct8_add4, H264IdctMulti::Idct8Add4, h264_idct8_add4);

extern "C" fn shim_add8(
    dest: *mut *mut u8,
    offs: *const c_int,
    block: *mut i16,
    stride: c_int,
    nnzc: *const u8,
) {
    offer(Kind::H264IdctAdd8 { chroma422: false }, |rng| {
        // SAFETY: 4:2:0 add8 reads blocks 16..20 of dest[0] and 32..36 of dest[1] at their
        // offsets, 48 blocks of coefficients and the 120-entry nnz cache.
        unsafe {
            let o = std::slice::from_raw_parts(offs, 48);
            let cb_used: Vec<usize> = (16..20).collect();
            let cr_used: Vec<usize> = (32..36).collect();
            let (cb, s, cbo, cb_offs) = embed_blocks(rng, *dest, stride as isize, o, &cb_used, 4);
            let (cr, _, cro, cr_offs) =
                embed_blocks(rng, *dest.add(1), stride as isize, o, &cr_used, 4);
            let mut boffs = cb_offs;
            boffs[32..36].copy_from_slice(&cr_offs[32..36]);
            Inputs {
                params: vec![s as i32, cbo as i32, cro as i32],
                buffers: vec![cb, cr, read(block, 48 * 16), boffs, read(nnzc, 120)],
            }
        }
    });
    let f = h264().h264_idct_add8.expect("real function");
    // SAFETY: forwarding the decoder's own arguments to FFmpeg's function.
    unsafe { f(dest, offs, block, stride, nnzc) }
}

/// The window a loop filter reads, as a plane: (plane, stride, origin).
///
/// # Safety
/// The filter's window around `pix` is readable (the decoder filters interior edges only).
unsafe fn embed_edge(
    rng: &mut Rng,
    pix: *const u8,
    stride: isize,
    vertical: bool,
    len: usize,
    reach: usize,
) -> (Vec<i32>, usize, usize) {
    let (w, h) = if vertical {
        (len, 2 * reach)
    } else {
        (2 * reach, len)
    };
    let (plane, s, corner) = embed(rng, w, h, |y, x| {
        let (dy, dx) = if vertical {
            (y as isize - reach as isize, x as isize)
        } else {
            (y as isize, x as isize - reach as isize)
        };
        // SAFETY: see the function's contract.
        unsafe { pixel(pix, stride, dy, dx) }
    });
    let origin = if vertical {
        corner + reach * s
    } else {
        corner + reach
    };
    (plane, s, origin)
}

macro_rules! h264_lf_shim {
    ($name:ident, $kind:expr, $field:ident) => {
        extern "C" fn $name(pix: *mut u8, stride: isize, alpha: c_int, beta: c_int, tc0: *mut i8) {
            offer(Kind::H264LoopFilter($kind), |rng| {
                // SAFETY: the edge window and the 4 tc0 values are what the filter reads.
                let (plane, s, o) = unsafe {
                    embed_edge(
                        rng,
                        pix,
                        stride,
                        $kind.is_vertical(),
                        $kind.length(),
                        $kind.reach(),
                    )
                };
                let tc = unsafe { read(tc0, 4) };
                let mut params = vec![s as i32, o as i32, alpha, beta];
                params.extend(tc);
                Inputs {
                    params,
                    buffers: vec![plane],
                }
            });
            let f = h264().$field.expect("real function");
            // SAFETY: forwarding the decoder's own arguments to FFmpeg's function.
            unsafe { f(pix, stride, alpha, beta, tc0) }
        }
    };
}
macro_rules! h264_lf_intra_shim {
    ($name:ident, $kind:expr, $field:ident) => {
        extern "C" fn $name(pix: *mut u8, stride: isize, alpha: c_int, beta: c_int) {
            offer(Kind::H264LoopFilter($kind), |rng| {
                // SAFETY: the edge window is what the filter reads.
                let (plane, s, o) = unsafe {
                    embed_edge(
                        rng,
                        pix,
                        stride,
                        $kind.is_vertical(),
                        $kind.length(),
                        $kind.reach(),
                    )
                };
                Inputs {
                    params: vec![s as i32, o as i32, alpha, beta],
                    buffers: vec![plane],
                }
            });
            let f = h264().$field.expect("real function");
            // SAFETY: forwarding the decoder's own arguments to FFmpeg's function.
            unsafe { f(pix, stride, alpha, beta) }
        }
    };
}
h264_lf_shim!(shim_v_luma, H264LoopFilter::VLuma, h264_v_loop_filter_luma);
h264_lf_shim!(shim_h_luma, H264LoopFilter::HLuma, h264_h_loop_filter_luma);
h264_lf_shim!(
    shim_h_luma_mbaff,
    H264LoopFilter::HLumaMbaff,
    h264_h_loop_filter_luma_mbaff
);
h264_lf_shim!(
    shim_v_chroma,
    H264LoopFilter::VChroma,
    h264_v_loop_filter_chroma
);
h264_lf_shim!(
    shim_h_chroma,
    H264LoopFilter::HChroma,
    h264_h_loop_filter_chroma
);
h264_lf_shim!(
    shim_h_chroma_mbaff,
    H264LoopFilter::HChromaMbaff,
    h264_h_loop_filter_chroma_mbaff
);
h264_lf_intra_shim!(
    shim_v_luma_intra,
    H264LoopFilter::VLumaIntra,
    h264_v_loop_filter_luma_intra
);
h264_lf_intra_shim!(
    shim_h_luma_intra,
    H264LoopFilter::HLumaIntra,
    h264_h_loop_filter_luma_intra
);
h264_lf_intra_shim!(
    shim_h_luma_mbaff_intra,
    H264LoopFilter::HLumaMbaffIntra,
    h264_h_loop_filter_luma_mbaff_intra
);
h264_lf_intra_shim!(
    shim_v_chroma_intra,
    H264LoopFilter::VChromaIntra,
    h264_v_loop_filter_chroma_intra
);
h264_lf_intra_shim!(
    shim_h_chroma_intra,
    H264LoopFilter::HChromaIntra,
    h264_h_loop_filter_chroma_intra
);
h264_lf_intra_shim!(
    shim_h_chroma_mbaff_intra,
    H264LoopFilter::HChromaMbaffIntra,
    h264_h_loop_filter_chroma_mbaff_intra
);

/// `-Wl,--wrap=ff_h264dsp_init`: every call of the decoder (and of the harness) lands here.
#[unsafe(no_mangle)]
extern "C" fn __wrap_ff_h264dsp_init(
    c: *mut H264DspContext,
    bit_depth: c_int,
    chroma_format_idc: c_int,
) {
    // SAFETY: forwarding the caller's table to the real init.
    unsafe { __real_ff_h264dsp_init(c, bit_depth, chroma_format_idc) };
    let mut st = state();
    if !st.enabled || bit_depth != 8 || chroma_format_idc != 1 {
        return;
    }
    // SAFETY: c points at the caller's initialised table.
    let t = unsafe { &mut *c };
    st.h264 = Some(*t);
    t.h264_idct_add = Some(shim_idct4);
    t.h264_idct8_add = Some(shim_idct8);
    t.h264_idct_dc_add = Some(shim_idct4_dc);
    t.h264_idct8_dc_add = Some(shim_idct8_dc);
    t.h264_idct_add16 = Some(shim_add16);
    t.h264_idct_add16intra = Some(shim_add16intra);
    t.h264_idct8_add4 = Some(shim_idct8_add4);
    t.h264_idct_add8 = Some(shim_add8);
    t.h264_v_loop_filter_luma = Some(shim_v_luma);
    t.h264_h_loop_filter_luma = Some(shim_h_luma);
    t.h264_h_loop_filter_luma_mbaff = Some(shim_h_luma_mbaff);
    t.h264_v_loop_filter_chroma = Some(shim_v_chroma);
    t.h264_h_loop_filter_chroma = Some(shim_h_chroma);
    t.h264_h_loop_filter_chroma_mbaff = Some(shim_h_chroma_mbaff);
    t.h264_v_loop_filter_luma_intra = Some(shim_v_luma_intra);
    t.h264_h_loop_filter_luma_intra = Some(shim_h_luma_intra);
    t.h264_h_loop_filter_luma_mbaff_intra = Some(shim_h_luma_mbaff_intra);
    t.h264_v_loop_filter_chroma_intra = Some(shim_v_chroma_intra);
    t.h264_h_loop_filter_chroma_intra = Some(shim_h_chroma_intra);
    t.h264_h_loop_filter_chroma_mbaff_intra = Some(shim_h_chroma_mbaff_intra);
}

const TX_SIZES: [Vp9TxSize; 5] = [
    Vp9TxSize::Tx4,
    Vp9TxSize::Tx8,
    Vp9TxSize::Tx16,
    Vp9TxSize::Tx32,
    Vp9TxSize::Wht,
];
const TX_TYPES: [Vp9TxType; 4] = [
    Vp9TxType::DctDct,
    Vp9TxType::DctAdst,
    Vp9TxType::AdstDct,
    Vp9TxType::AdstAdst,
];

extern "C" fn shim_itxfm<const TX: usize, const TY: usize>(
    dst: *mut u8,
    stride: isize,
    block: *mut i16,
    eob: c_int,
) {
    let tx = TX_SIZES[TX];
    // 32x32 and the lossless WHT have one function in all four type slots.
    let ty = if TX >= 3 {
        Vp9TxType::DctDct
    } else {
        TX_TYPES[TY]
    };
    let n = tx.size();
    offer(Kind::Vp9Itxfm { tx, ty }, |rng| {
        // SAFETY: the n x n block at dst and its n*n coefficients are what the function reads.
        let (plane, s, o) = embed(rng, n, n, |y, x| unsafe {
            pixel(dst, stride, y as isize, x as isize)
        });
        // SAFETY: as above.
        let coefs = unsafe { read(block, n * n) };
        Inputs {
            params: vec![s as i32, o as i32, eob],
            buffers: vec![plane, coefs],
        }
    });
    let f = vp9().itxfm_add[TX][TY].expect("real function");
    // SAFETY: forwarding the decoder's own arguments to FFmpeg's function.
    unsafe { f(dst, stride, block, eob) }
}

fn vp9_lf_kind(table: usize, a: usize, b: usize) -> Vp9LoopFilter {
    let wd = |i: usize| [4u8, 8, 16][i];
    match table {
        0 => Vp9LoopFilter::Len8 { wd: wd(a) },
        1 => Vp9LoopFilter::Len16,
        _ => Vp9LoopFilter::Mix2 {
            wd0: wd(a),
            wd1: wd(b),
        },
    }
}

/// TABLE: 0 = loop_filter_8[A][DIR], 1 = loop_filter_16[DIR], 2 = loop_filter_mix2[A][B][DIR].
extern "C" fn shim_vp9_lf<const TABLE: usize, const A: usize, const B: usize, const DIR: usize>(
    dst: *mut u8,
    stride: isize,
    e: c_int,
    i: c_int,
    h: c_int,
) {
    let kind = vp9_lf_kind(TABLE, A, B);
    let vertical = DIR == 1;
    offer(Kind::Vp9LoopFilter { kind, vertical }, |rng| {
        // SAFETY: the edge window is what the filter reads.
        let (plane, s, o) =
            unsafe { embed_edge(rng, dst, stride, vertical, kind.length(), kind.reach()) };
        Inputs {
            params: vec![s as i32, o as i32, e, i, h],
            buffers: vec![plane],
        }
    });
    let t = vp9();
    let f = match TABLE {
        0 => t.loop_filter_8[A][DIR],
        1 => t.loop_filter_16[DIR],
        _ => t.loop_filter_mix2[A][B][DIR],
    }
    .expect("real function");
    // SAFETY: forwarding the decoder's own arguments to FFmpeg's function.
    unsafe { f(dst, stride, e, i, h) }
}

macro_rules! itxfm_row {
    ($t:ident, $tx:literal) => {
        $t.itxfm_add[$tx] = [
            Some(shim_itxfm::<$tx, 0>),
            Some(shim_itxfm::<$tx, 1>),
            Some(shim_itxfm::<$tx, 2>),
            Some(shim_itxfm::<$tx, 3>),
        ];
    };
}

/// `-Wl,--wrap=ff_vp9dsp_init`.
#[unsafe(no_mangle)]
extern "C" fn __wrap_ff_vp9dsp_init(dsp: *mut Vp9DspContext, bpp: c_int, bitexact: c_int) {
    // SAFETY: forwarding the caller's table to the real init.
    unsafe { __real_ff_vp9dsp_init(dsp, bpp, bitexact) };
    let mut st = state();
    if !st.enabled || bpp != 8 {
        return;
    }
    // SAFETY: dsp points at the caller's initialised table.
    let t = unsafe { &mut *dsp };
    st.vp9 = Some(*t);
    itxfm_row!(t, 0);
    itxfm_row!(t, 1);
    itxfm_row!(t, 2);
    itxfm_row!(t, 3);
    itxfm_row!(t, 4);
    t.loop_filter_8 = [
        [
            Some(shim_vp9_lf::<0, 0, 0, 0>),
            Some(shim_vp9_lf::<0, 0, 0, 1>),
        ],
        [
            Some(shim_vp9_lf::<0, 1, 0, 0>),
            Some(shim_vp9_lf::<0, 1, 0, 1>),
        ],
        [
            Some(shim_vp9_lf::<0, 2, 0, 0>),
            Some(shim_vp9_lf::<0, 2, 0, 1>),
        ],
    ];
    mc::shim_vp9_mc_table(t);
    t.loop_filter_16 = [
        Some(shim_vp9_lf::<1, 0, 0, 0>),
        Some(shim_vp9_lf::<1, 0, 0, 1>),
    ];
    t.loop_filter_mix2 = [
        [
            [
                Some(shim_vp9_lf::<2, 0, 0, 0>),
                Some(shim_vp9_lf::<2, 0, 0, 1>),
            ],
            [
                Some(shim_vp9_lf::<2, 0, 1, 0>),
                Some(shim_vp9_lf::<2, 0, 1, 1>),
            ],
        ],
        [
            [
                Some(shim_vp9_lf::<2, 1, 0, 0>),
                Some(shim_vp9_lf::<2, 1, 0, 1>),
            ],
            [
                Some(shim_vp9_lf::<2, 1, 1, 0>),
                Some(shim_vp9_lf::<2, 1, 1, 1>),
            ],
        ],
    ];
}

/// Packets of an IVF file (32-byte header, then a 12-byte header per frame).
fn ivf_packets(data: &[u8]) -> anyhow::Result<Vec<&[u8]>> {
    if data.len() < 32 || &data[..4] != b"DKIF" {
        bail!("not an IVF file (no DKIF header)");
    }
    let header_len = usize::from(u16::from_le_bytes([data[6], data[7]]));
    let mut pos = header_len;
    let mut out = Vec::new();
    while pos + 12 <= data.len() {
        let size = u32::from_le_bytes(data[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let start = pos + 12;
        let Some(frame) = data.get(start..start + size) else {
            bail!("IVF frame at byte {pos} runs past the end of the file");
        };
        out.push(frame);
        pos = start + size;
    }
    Ok(out)
}

/// Decodes one stream single-threaded; returns the number of frames.
fn decode(path: &std::path::Path) -> anyhow::Result<usize> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let h264 = path.extension().is_some_and(|e| e == "h264");
    // SAFETY: plain libavcodec API use: every pointer comes from the matching alloc call and
    // is checked for null, packet payloads are written within their allocated size, and
    // everything is freed on every path below.
    unsafe {
        let codec: *const Opaque = if h264 {
            &raw const ff_h264_decoder
        } else {
            &raw const ff_vp9_decoder
        };
        let mut ctx = avcodec_alloc_context3(codec);
        if ctx.is_null() {
            bail!("avcodec_alloc_context3 failed");
        }
        av_opt_set_int(ctx.cast(), c"threads".as_ptr(), 1, 0);
        if avcodec_open2(ctx, codec, std::ptr::null_mut()) < 0 {
            avcodec_free_context(&mut ctx);
            bail!("avcodec_open2 failed for {}", path.display());
        }
        let mut pkt = av_packet_alloc();
        let mut frame = av_frame_alloc();
        let mut frames = 0;
        let mut send = |payload: Option<&[u8]>| -> anyhow::Result<()> {
            let ret = match payload {
                Some(p) => {
                    if av_new_packet(pkt, p.len() as c_int) < 0 {
                        bail!("av_new_packet failed");
                    }
                    std::ptr::copy_nonoverlapping(p.as_ptr(), (*pkt).data, p.len());
                    let r = avcodec_send_packet(ctx, pkt);
                    av_packet_unref(pkt);
                    r
                }
                None => avcodec_send_packet(ctx, std::ptr::null()),
            };
            if ret < 0 && ret != AVERROR_EAGAIN {
                bail!("{}: avcodec_send_packet returned {ret}", path.display());
            }
            while avcodec_receive_frame(ctx, frame) >= 0 {
                frames += 1;
            }
            Ok(())
        };
        let result = (|| -> anyhow::Result<()> {
            if h264 {
                let parser = av_parser_init(AV_CODEC_ID_H264);
                if parser.is_null() {
                    bail!("no H.264 parser");
                }
                let mut rest = &data[..];
                let mut flushed = false;
                while !flushed {
                    let (mut out, mut out_size) = (std::ptr::null_mut(), 0);
                    let used = av_parser_parse2(
                        parser,
                        ctx,
                        &mut out,
                        &mut out_size,
                        rest.as_ptr(),
                        rest.len() as c_int,
                        i64::MIN,
                        i64::MIN,
                        0,
                    );
                    if used < 0 {
                        av_parser_close(parser);
                        bail!("H.264 parser error");
                    }
                    flushed = rest.is_empty();
                    rest = &rest[used as usize..];
                    if out_size > 0 {
                        send(Some(std::slice::from_raw_parts(out, out_size as usize)))?;
                    }
                }
                av_parser_close(parser);
            } else {
                for p in ivf_packets(&data)? {
                    send(Some(p))?;
                }
            }
            send(None)
        })();
        av_frame_free(&mut frame);
        av_packet_free(&mut pkt);
        avcodec_free_context(&mut ctx);
        result?;
        Ok(frames)
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<bool> {
    let mut check = false;
    let mut streams = golden::streams::dir();
    let mut dir = golden::fixtures::default_dir();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--check" => check = true,
            "--streams" => {
                streams = PathBuf::from(args.next().context("--streams needs a directory")?)
            }
            "--dir" => dir = PathBuf::from(args.next().context("--dir needs a directory")?),
            other => bail!(
                "unknown argument {other}; usage: golden-capture [--check] [--streams DIR] [--dir FIXTURES]"
            ),
        }
    }
    // Initialise the harness's own tables before capturing, so they are not shimmed.
    let r = Reference::c().context("cannot set up FFmpeg's C reference")?;
    // The decoder must take the C functions: they are the reference, and the shims forward
    // to whatever the real init chose.
    // SAFETY: av_force_cpu_flags only stores the value; nothing else runs concurrently here.
    unsafe { av_force_cpu_flags(0) };
    state().enabled = true;
    for name in [
        "h264_high_bframes_wp_320x240.h264",
        "h264_high_cavlc_320x240.h264",
        "h264_interlaced_320x240.h264",
        "h264_odd_200x130.h264",
        "vp9_8bit_320x240.ivf",
        "vp9_lossless_176x144.ivf",
        "vp9_odd_201x131.ivf",
    ] {
        let frames = decode(&streams.join(name))?;
        println!("decoded {name}: {frames} frames");
    }
    let calls = std::mem::take(&mut state().calls);
    state().enabled = false;
    let mut ok = true;
    for (name, res) in calls {
        let k = catalog::find(&name)
            .with_context(|| format!("captured calls of {name}, which has no kernel"))?;
        let cases = res.kept.len();
        let f: Fixture = regen::build_from(&k, res.kept, 0, r)?;
        let (outcome, size) =
            regen::store(&Fixture::captured_path_in(&dir, &name), &f.encode(), !check)?;
        let what = match (outcome, check) {
            (Outcome::Unchanged, _) => "unchanged",
            (Outcome::New, false) => "new",
            (Outcome::Changed, false) => "changed",
            (Outcome::New, true) => "missing",
            (Outcome::Changed, true) => "differs",
        };
        if check && outcome != Outcome::Unchanged {
            ok = false;
        }
        println!(
            "{what}: {name} ({cases} of {} calls, {size} bytes)",
            res.seen
        );
    }
    Ok(ok)
}
