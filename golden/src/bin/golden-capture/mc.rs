//! Motion-compensation shims for golden-capture: H.264 qpel and chroma MC, VP9 MC.

use super::*;

/// A source window for motion compensation: `stride` columns and `before + h + after` rows,
/// origin at (`before`, `before`). Only the pixels the function reads come from the decoder,
/// which guarantees just those are readable (edge emulation covers the filter taps only in
/// the directions a sub-pel position interpolates): columns `-xr.0 .. w + xr.1` and rows
/// `-yr.0 .. h + yr.1`. The rest are seeded random and do not affect the result.
///
/// # Safety
/// Those pixels around `src` are readable.
#[allow(clippy::too_many_arguments)]
unsafe fn mc_source(
    rng: &mut Rng,
    src: *const u8,
    src_stride: isize,
    (w, h): (usize, usize),
    stride: usize,
    (before, after): (usize, usize),
    xr: (usize, usize),
    yr: (usize, usize),
) -> (Vec<i32>, usize) {
    let rows = before + h + after;
    let mut buf: Vec<i32> = (0..stride * rows).map(|_| rng.pixel(8)).collect();
    for y in -(yr.0 as isize)..(h + yr.1) as isize {
        for x in -(xr.0 as isize)..(w + xr.1) as isize {
            let at = (y + before as isize) as usize * stride + (x + before as isize) as usize;
            // SAFETY: see the function's contract.
            buf[at] = unsafe { pixel(src, src_stride, y, x) };
        }
    }
    (buf, before * stride + before)
}

/// The destination block inside a guard band: (buffer, stride, origin).
///
/// # Safety
/// The `w x h` block at `dst` is readable.
unsafe fn mc_dest(
    rng: &mut Rng,
    dst: *const u8,
    dst_stride: isize,
    w: usize,
    h: usize,
    stride: usize,
) -> (Vec<i32>, usize) {
    let mut buf: Vec<i32> = (0..stride * (h + 2 * GUARD_ROWS))
        .map(|_| rng.pixel(8))
        .collect();
    let origin = GUARD_ROWS * stride + GUARD_COLS;
    for y in 0..h {
        for x in 0..w {
            // SAFETY: see the function's contract.
            buf[origin + y * stride + x] =
                unsafe { pixel(dst, dst_stride, y as isize, x as isize) };
        }
    }
    (buf, origin)
}

/// `{put,avg}_h264_qpel_pixels_tab[SIZE][POS]`, SIZE 0..3 = 16, 8, 4.
pub(crate) extern "C" fn shim_qpel<const OP: usize, const SIZE: usize, const POS: usize>(
    dst: *mut u8,
    src: *const u8,
    stride: isize,
) {
    let size = 16 >> SIZE;
    let op = if OP == 0 { Op::Put } else { Op::Avg };
    let (x, y) = (POS % 4, POS / 4);
    offer(Kind::H264Qpel { op, size }, |rng| {
        // dst and src share the stride in FFmpeg's prototype.
        let s = size + 8;
        let reach = |sub: bool| if sub { (2, 3) } else { (0, 0) };
        // SAFETY: the 6-tap filters read 2 before and 3 after the block in each direction
        // they interpolate (the decoder's edge emulation provides exactly that rectangle).
        let (src_buf, src_origin) = unsafe {
            mc_source(
                rng,
                src,
                stride,
                (size, size),
                s,
                (2, 3),
                reach(x != 0),
                reach(y != 0),
            )
        };
        // SAFETY: the size x size destination block.
        let (dst_buf, dst_origin) = unsafe { mc_dest(rng, dst, stride, size, size, s) };
        Inputs {
            params: vec![
                s as i32,
                dst_origin as i32,
                src_origin as i32,
                x as i32,
                y as i32,
            ],
            buffers: vec![dst_buf, src_buf],
        }
    });
    let t = state()
        .qpel
        .expect("qpel shims are installed only after the real init");
    let tab = if OP == 0 {
        &t.put_h264_qpel_pixels_tab
    } else {
        &t.avg_h264_qpel_pixels_tab
    };
    let f = tab[SIZE][POS].expect("real function");
    // SAFETY: forwarding the decoder's own arguments to FFmpeg's function.
    unsafe { f(dst, src, stride) }
}

/// `{put,avg}_h264_chroma_pixels_tab[IDX]`, IDX 0..3 = width 8, 4, 2.
pub(crate) extern "C" fn shim_chroma<const OP: usize, const IDX: usize>(
    dst: *mut u8,
    src: *mut u8,
    stride: isize,
    h: c_int,
    x: c_int,
    y: c_int,
) {
    let width = 8 >> IDX;
    let op = if OP == 0 { Op::Put } else { Op::Avg };
    offer(Kind::H264ChromaMc { op, width }, |rng| {
        let s = width + 8;
        let hh = h.max(0) as usize;
        // SAFETY: the bilinear filter reads one column after the block when x != 0 and one
        // row after it when y != 0 (otherwise those weights are 0).
        let (src_buf, src_origin) = unsafe {
            mc_source(
                rng,
                src,
                stride,
                (width, hh),
                s,
                (1, 2),
                (0, usize::from(x != 0)),
                (0, usize::from(y != 0)),
            )
        };
        // SAFETY: the width x h destination block.
        let (dst_buf, dst_origin) = unsafe { mc_dest(rng, dst, stride, width, hh, s) };
        Inputs {
            params: vec![s as i32, dst_origin as i32, src_origin as i32, h, x, y],
            buffers: vec![dst_buf, src_buf],
        }
    });
    let t = state()
        .chroma
        .expect("chroma shims are installed only after the real init");
    let tab = if OP == 0 {
        &t.put_h264_chroma_pixels_tab
    } else {
        &t.avg_h264_chroma_pixels_tab
    };
    let f = tab[IDX].expect("real function");
    // SAFETY: forwarding the decoder's own arguments to FFmpeg's function.
    unsafe { f(dst, src, stride, h, x, y) }
}

const FILTERS: [Vp9Filter; 4] = [
    Vp9Filter::Smooth,
    Vp9Filter::Regular,
    Vp9Filter::Sharp,
    Vp9Filter::Bilinear,
];

/// `mc[W][F][OP][MX][MY]`, W 0..5 = width 64, 32, 16, 8, 4.
pub(crate) extern "C" fn shim_vp9_mc<
    const W: usize,
    const F: usize,
    const OP: usize,
    const MX: usize,
    const MY: usize,
>(
    dst: *mut u8,
    dst_stride: isize,
    src: *const u8,
    src_stride: isize,
    h: c_int,
    mx: c_int,
    my: c_int,
) {
    let width = 64 >> W;
    let filter = FILTERS[F];
    let op = if OP == 0 { Op::Put } else { Op::Avg };
    offer(Kind::Vp9Mc { op, filter }, |rng| {
        let hh = h.max(0) as usize;
        let s = width + 8;
        // 8-tap filters read 3 before and 4 after in the directions they interpolate,
        // bilinear ones 1 after.
        let reach = |sub: bool| match (sub, filter) {
            (false, _) => (0, 0),
            (true, Vp9Filter::Bilinear) => (0, 1),
            (true, _) => (3, 4),
        };
        // SAFETY: the decoder makes exactly those pixels readable (edge emulation).
        let (src_buf, src_origin) = unsafe {
            mc_source(
                rng,
                src,
                src_stride,
                (width, hh),
                s,
                (3, 5),
                reach(MX == 1),
                reach(MY == 1),
            )
        };
        let ds = width + 2 * GUARD_COLS;
        // SAFETY: the width x h destination block.
        let (dst_buf, dst_origin) = unsafe { mc_dest(rng, dst, dst_stride, width, hh, ds) };
        Inputs {
            params: vec![
                width as i32,
                h,
                mx,
                my,
                ds as i32,
                dst_origin as i32,
                s as i32,
                src_origin as i32,
            ],
            buffers: vec![dst_buf, src_buf],
        }
    });
    let f = vp9().mc[W][F][OP][MX][MY].expect("real function");
    // SAFETY: forwarding the decoder's own arguments to FFmpeg's function.
    unsafe { f(dst, dst_stride, src, src_stride, h, mx, my) }
}

macro_rules! qpel_row {
    ($op:literal, $size:literal) => {
        [
            Some(shim_qpel::<$op, $size, 0>),
            Some(shim_qpel::<$op, $size, 1>),
            Some(shim_qpel::<$op, $size, 2>),
            Some(shim_qpel::<$op, $size, 3>),
            Some(shim_qpel::<$op, $size, 4>),
            Some(shim_qpel::<$op, $size, 5>),
            Some(shim_qpel::<$op, $size, 6>),
            Some(shim_qpel::<$op, $size, 7>),
            Some(shim_qpel::<$op, $size, 8>),
            Some(shim_qpel::<$op, $size, 9>),
            Some(shim_qpel::<$op, $size, 10>),
            Some(shim_qpel::<$op, $size, 11>),
            Some(shim_qpel::<$op, $size, 12>),
            Some(shim_qpel::<$op, $size, 13>),
            Some(shim_qpel::<$op, $size, 14>),
            Some(shim_qpel::<$op, $size, 15>),
        ]
    };
}

/// `-Wl,--wrap=ff_h264qpel_init`.
#[unsafe(no_mangle)]
extern "C" fn __wrap_ff_h264qpel_init(c: *mut H264QpelContext, bit_depth: c_int) {
    // SAFETY: forwarding the caller's table to the real init.
    unsafe { __real_ff_h264qpel_init(c, bit_depth) };
    let mut st = state();
    if !st.enabled || bit_depth != 8 {
        return;
    }
    // SAFETY: c points at the caller's initialised table.
    let t = unsafe { &mut *c };
    st.qpel = Some(*t);
    t.put_h264_qpel_pixels_tab[0] = qpel_row!(0, 0);
    t.put_h264_qpel_pixels_tab[1] = qpel_row!(0, 1);
    t.put_h264_qpel_pixels_tab[2] = qpel_row!(0, 2);
    t.avg_h264_qpel_pixels_tab[0] = qpel_row!(1, 0);
    t.avg_h264_qpel_pixels_tab[1] = qpel_row!(1, 1);
    t.avg_h264_qpel_pixels_tab[2] = qpel_row!(1, 2);
}

/// `-Wl,--wrap=ff_h264chroma_init`.
#[unsafe(no_mangle)]
extern "C" fn __wrap_ff_h264chroma_init(c: *mut H264ChromaContext, bit_depth: c_int) {
    // SAFETY: forwarding the caller's table to the real init.
    unsafe { __real_ff_h264chroma_init(c, bit_depth) };
    let mut st = state();
    if !st.enabled || bit_depth != 8 {
        return;
    }
    // SAFETY: c points at the caller's initialised table.
    let t = unsafe { &mut *c };
    st.chroma = Some(*t);
    t.put_h264_chroma_pixels_tab[0] = Some(shim_chroma::<0, 0>);
    t.put_h264_chroma_pixels_tab[1] = Some(shim_chroma::<0, 1>);
    t.put_h264_chroma_pixels_tab[2] = Some(shim_chroma::<0, 2>);
    t.avg_h264_chroma_pixels_tab[0] = Some(shim_chroma::<1, 0>);
    t.avg_h264_chroma_pixels_tab[1] = Some(shim_chroma::<1, 1>);
    t.avg_h264_chroma_pixels_tab[2] = Some(shim_chroma::<1, 2>);
}

macro_rules! vp9_mc_filter {
    ($w:literal, $f:literal) => {
        [
            [
                [
                    Some(shim_vp9_mc::<$w, $f, 0, 0, 0>),
                    Some(shim_vp9_mc::<$w, $f, 0, 0, 1>),
                ],
                [
                    Some(shim_vp9_mc::<$w, $f, 0, 1, 0>),
                    Some(shim_vp9_mc::<$w, $f, 0, 1, 1>),
                ],
            ],
            [
                [
                    Some(shim_vp9_mc::<$w, $f, 1, 0, 0>),
                    Some(shim_vp9_mc::<$w, $f, 1, 0, 1>),
                ],
                [
                    Some(shim_vp9_mc::<$w, $f, 1, 1, 0>),
                    Some(shim_vp9_mc::<$w, $f, 1, 1, 1>),
                ],
            ],
        ]
    };
}

macro_rules! vp9_mc_width {
    ($w:literal) => {
        [
            vp9_mc_filter!($w, 0),
            vp9_mc_filter!($w, 1),
            vp9_mc_filter!($w, 2),
            vp9_mc_filter!($w, 3),
        ]
    };
}

/// Replaces a VP9 table's MC entries with shims.
pub(crate) fn shim_vp9_mc_table(t: &mut Vp9DspContext) {
    t.mc = [
        vp9_mc_width!(0),
        vp9_mc_width!(1),
        vp9_mc_width!(2),
        vp9_mc_width!(3),
        vp9_mc_width!(4),
    ];
}
