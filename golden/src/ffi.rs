//! `#[repr(C)]` mirrors of FFmpeg 5.1's four DSP context tables and the symbols that fill them.
//!
//! The contexts are internal to libavcodec (their headers are not in libavcodec-dev), so they
//! are written out by hand from the FFmpeg 5.1.9 headers (`libavcodec/h264dsp.h`,
//! `h264qpel.h`, `h264chroma.h`, `vp9dsp.h`, with the enums of `vp9.h`). They hold only
//! function pointers. The sizes and offsets below were printed by a C program compiled
//! against those headers; the const assertions keep the mirrors equal to them, and
//! `reference.rs` also checks at run time that `ff_*_init` writes nothing past a mirror.
//!
//! The pointer types use the 8-bit element types; the high-bit-depth functions take the same
//! pointers, pointing at `u16` pixels and `i32` coefficients, with strides in bytes.
#![allow(unsafe_code)]

use std::mem::{offset_of, size_of};
use std::os::raw::c_int;

pub type H264WeightFn = unsafe extern "C" fn(*mut u8, isize, c_int, c_int, c_int, c_int);
pub type H264BiweightFn =
    unsafe extern "C" fn(*mut u8, *mut u8, isize, c_int, c_int, c_int, c_int, c_int);
pub type H264LoopFilterFn = unsafe extern "C" fn(*mut u8, isize, c_int, c_int, *mut i8);
pub type H264LoopFilterIntraFn = unsafe extern "C" fn(*mut u8, isize, c_int, c_int);
pub type H264StrengthFn = unsafe extern "C" fn(
    *mut i16,
    *mut u8,
    *mut i8,
    *mut i16,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
);
pub type H264IdctFn = unsafe extern "C" fn(*mut u8, *mut i16, c_int);
pub type H264IdctMultiFn = unsafe extern "C" fn(*mut u8, *const c_int, *mut i16, c_int, *const u8);
pub type H264IdctAdd8Fn =
    unsafe extern "C" fn(*mut *mut u8, *const c_int, *mut i16, c_int, *const u8);
pub type H264LumaDcFn = unsafe extern "C" fn(*mut i16, *mut i16, c_int);
pub type H264ChromaDcFn = unsafe extern "C" fn(*mut i16, c_int);
pub type H264StartcodeFn = unsafe extern "C" fn(*const u8, c_int) -> c_int;

/// `H264DSPContext` (h264dsp.h).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct H264DspContext {
    pub weight_h264_pixels_tab: [Option<H264WeightFn>; 4],
    pub biweight_h264_pixels_tab: [Option<H264BiweightFn>; 4],
    pub h264_v_loop_filter_luma: Option<H264LoopFilterFn>,
    pub h264_h_loop_filter_luma: Option<H264LoopFilterFn>,
    pub h264_h_loop_filter_luma_mbaff: Option<H264LoopFilterFn>,
    pub h264_v_loop_filter_luma_intra: Option<H264LoopFilterIntraFn>,
    pub h264_h_loop_filter_luma_intra: Option<H264LoopFilterIntraFn>,
    pub h264_h_loop_filter_luma_mbaff_intra: Option<H264LoopFilterIntraFn>,
    pub h264_v_loop_filter_chroma: Option<H264LoopFilterFn>,
    pub h264_h_loop_filter_chroma: Option<H264LoopFilterFn>,
    pub h264_h_loop_filter_chroma_mbaff: Option<H264LoopFilterFn>,
    pub h264_v_loop_filter_chroma_intra: Option<H264LoopFilterIntraFn>,
    pub h264_h_loop_filter_chroma_intra: Option<H264LoopFilterIntraFn>,
    pub h264_h_loop_filter_chroma_mbaff_intra: Option<H264LoopFilterIntraFn>,
    pub h264_loop_filter_strength: Option<H264StrengthFn>,
    pub h264_idct_add: Option<H264IdctFn>,
    pub h264_idct8_add: Option<H264IdctFn>,
    pub h264_idct_dc_add: Option<H264IdctFn>,
    pub h264_idct8_dc_add: Option<H264IdctFn>,
    pub h264_idct_add16: Option<H264IdctMultiFn>,
    pub h264_idct8_add4: Option<H264IdctMultiFn>,
    pub h264_idct_add8: Option<H264IdctAdd8Fn>,
    pub h264_idct_add16intra: Option<H264IdctMultiFn>,
    pub h264_luma_dc_dequant_idct: Option<H264LumaDcFn>,
    pub h264_chroma_dc_dequant_idct: Option<H264ChromaDcFn>,
    pub h264_add_pixels8_clear: Option<H264IdctFn>,
    pub h264_add_pixels4_clear: Option<H264IdctFn>,
    pub startcode_find_candidate: Option<H264StartcodeFn>,
}

pub type QpelFn = unsafe extern "C" fn(*mut u8, *const u8, isize);

/// `H264QpelContext` (h264qpel.h): `[size 16/8/4/2][x + 4*y]`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct H264QpelContext {
    pub put_h264_qpel_pixels_tab: [[Option<QpelFn>; 16]; 4],
    pub avg_h264_qpel_pixels_tab: [[Option<QpelFn>; 16]; 4],
}

pub type ChromaMcFn = unsafe extern "C" fn(*mut u8, *mut u8, isize, c_int, c_int, c_int);

/// `H264ChromaContext` (h264chroma.h): `[width 8/4/2/1]`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct H264ChromaContext {
    pub put_h264_chroma_pixels_tab: [Option<ChromaMcFn>; 4],
    pub avg_h264_chroma_pixels_tab: [Option<ChromaMcFn>; 4],
}

pub type Vp9IntraPredFn = unsafe extern "C" fn(*mut u8, isize, *const u8, *const u8);
pub type Vp9ItxfmFn = unsafe extern "C" fn(*mut u8, isize, *mut i16, c_int);
pub type Vp9LoopFilterFn = unsafe extern "C" fn(*mut u8, isize, c_int, c_int, c_int);
pub type Vp9McFn = unsafe extern "C" fn(*mut u8, isize, *const u8, isize, c_int, c_int, c_int);
pub type Vp9ScaledMcFn =
    unsafe extern "C" fn(*mut u8, isize, *const u8, isize, c_int, c_int, c_int, c_int, c_int);

/// vp9.h: `N_TXFM_SIZES`, `N_TXFM_TYPES`, `N_INTRA_PRED_MODES`, `N_FILTERS`.
pub const VP9_TX_SIZES: usize = 4;
pub const VP9_TX_TYPES: usize = 4;
pub const VP9_INTRA_PRED_MODES: usize = 15;
pub const VP9_FILTERS: usize = 4;

/// `[put, avg][mx != 0][my != 0]` of one width and filter.
pub type Vp9McOpTable = [[[Option<Vp9McFn>; 2]; 2]; 2];

/// `VP9DSPContext` (vp9dsp.h).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Vp9DspContext {
    pub intra_pred: [[Option<Vp9IntraPredFn>; VP9_INTRA_PRED_MODES]; VP9_TX_SIZES],
    /// `[4x4, 8x8, 16x16, 32x32, lossless WHT][DCT_DCT, DCT_ADST, ADST_DCT, ADST_ADST]`.
    pub itxfm_add: [[Option<Vp9ItxfmFn>; VP9_TX_TYPES]; VP9_TX_SIZES + 1],
    /// `[wd 4, 8, 16][h (column edge), v (row edge)]`.
    pub loop_filter_8: [[Option<Vp9LoopFilterFn>; 2]; 3],
    pub loop_filter_16: [Option<Vp9LoopFilterFn>; 2],
    /// `[wd of first 8 px: 4, 8][wd of second 8 px][h, v]`.
    pub loop_filter_mix2: [[[Option<Vp9LoopFilterFn>; 2]; 2]; 2],
    /// `[width 64, 32, 16, 8, 4][smooth, regular, sharp, bilinear][put, avg][mx != 0][my != 0]`.
    pub mc: [[Vp9McOpTable; VP9_FILTERS]; 5],
    pub smc: [[[Option<Vp9ScaledMcFn>; 2]; VP9_FILTERS]; 5],
}

// Sizes and offsets as printed by a C program built against FFmpeg 5.1.9's headers.
const _: () = {
    assert!(size_of::<H264DspContext>() == 272);
    assert!(offset_of!(H264DspContext, h264_v_loop_filter_luma) == 64);
    assert!(offset_of!(H264DspContext, h264_loop_filter_strength) == 160);
    assert!(offset_of!(H264DspContext, h264_idct_add) == 168);
    assert!(offset_of!(H264DspContext, h264_idct_add16) == 200);
    assert!(offset_of!(H264DspContext, h264_idct8_add4) == 208);
    assert!(offset_of!(H264DspContext, h264_idct_add8) == 216);
    assert!(offset_of!(H264DspContext, h264_idct_add16intra) == 224);
    assert!(offset_of!(H264DspContext, h264_luma_dc_dequant_idct) == 232);
    assert!(offset_of!(H264DspContext, h264_add_pixels8_clear) == 248);
    assert!(offset_of!(H264DspContext, startcode_find_candidate) == 264);
    assert!(size_of::<H264QpelContext>() == 1024);
    assert!(offset_of!(H264QpelContext, avg_h264_qpel_pixels_tab) == 512);
    assert!(size_of::<H264ChromaContext>() == 64);
    assert!(offset_of!(H264ChromaContext, avg_h264_chroma_pixels_tab) == 32);
    assert!(size_of::<Vp9DspContext>() == 2368);
    assert!(offset_of!(Vp9DspContext, itxfm_add) == 480);
    assert!(offset_of!(Vp9DspContext, loop_filter_8) == 640);
    assert!(offset_of!(Vp9DspContext, loop_filter_16) == 688);
    assert!(offset_of!(Vp9DspContext, loop_filter_mix2) == 704);
    assert!(offset_of!(Vp9DspContext, mc) == 768);
    assert!(offset_of!(Vp9DspContext, smc) == 2048);
    // The mirrors rely on a function pointer being one machine word, as in the C ABI.
    assert!(size_of::<Option<H264IdctFn>>() == size_of::<usize>());
};

unsafe extern "C" {
    pub fn ff_h264dsp_init(c: *mut H264DspContext, bit_depth: c_int, chroma_format_idc: c_int);
    pub fn ff_h264qpel_init(c: *mut H264QpelContext, bit_depth: c_int);
    pub fn ff_h264chroma_init(c: *mut H264ChromaContext, bit_depth: c_int);
    pub fn ff_vp9dsp_init(dsp: *mut Vp9DspContext, bpp: c_int, bitexact: c_int);
    /// The C IDCT is global (h264idct_template.c), so the offset of `h264_idct_add` can be
    /// checked against a real symbol at run time.
    pub fn ff_h264_idct_add_8_c(dst: *mut u8, block: *mut i16, stride: c_int);
    /// `const int16_t *const ff_vp9_scans[5][4]` (vp9data.c): the coefficient scan orders.
    pub static ff_vp9_scans: [[*const i16; 4]; 5];
    pub fn avcodec_version() -> u32;
    pub fn av_force_cpu_flags(flags: c_int);
}
