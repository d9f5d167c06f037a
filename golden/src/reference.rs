//! A safe API over FFmpeg's DSP tables: every call checks that the pixels and coefficients it
//! will touch lie inside the caller's slices, runs the function on 64-byte-aligned copies
//! (FFmpeg's SIMD versions need aligned blocks; the C ones do not care) and copies the results
//! back. [`Reference::c`] holds the C functions FFmpeg's decoders fall back to, which are
//! the golden reference; [`Reference::simd`] holds what this CPU would use, for the self-check.
#![allow(unsafe_code)]

use std::os::raw::c_int;
use std::sync::{Mutex, OnceLock};

use crate::ffi;

/// Errors from the reference harness.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoldenError {
    #[error(
        "linked libavcodec is {major}.{minor}, but the context mirrors were checked only against {want_major}.{want_minor}; rebuild against Debian bookworm's libavcodec-dev"
    )]
    UnsupportedLibavcodec {
        major: u32,
        minor: u32,
        want_major: u32,
        want_minor: u32,
    },
    #[error(
        "ff_{table}_init wrote past the end of the {table} mirror; the struct layout does not match this libavcodec"
    )]
    MirrorOverrun { table: &'static str },
    #[error(
        "the C {table} table does not hold FFmpeg's C function at {field}; the mirror's field offsets are wrong"
    )]
    MirrorMismatch {
        table: &'static str,
        field: &'static str,
    },
    #[error("{table} has no function for {what} at bit depth {bit_depth}")]
    MissingFunction {
        table: &'static str,
        what: String,
        bit_depth: u32,
    },
    #[error(
        "{buffer}: the call touches elements {lo}..{hi} relative to the buffer start, but it has {len}; give a larger buffer or move the origin"
    )]
    OutOfBounds {
        buffer: &'static str,
        lo: i64,
        hi: i64,
        len: usize,
    },
    #[error("{name} = {value} is out of range ({expected})")]
    InvalidParam {
        name: &'static str,
        value: i64,
        expected: &'static str,
    },
}

/// Which of FFmpeg's implementations a [`Reference`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    /// The C functions (`av_force_cpu_flags(0)` during init): the golden reference.
    C,
    /// The best SIMD versions for this CPU (used by the self-check).
    Simd,
}

mod sealed {
    pub trait Sealed {}
}

/// An element FFmpeg reads or writes, moved through native-endian bytes.
pub trait Elem: Copy + Default + PartialEq + std::fmt::Debug + sealed::Sealed + 'static {
    const SIZE: usize;
    fn put(self, out: &mut [u8]);
    fn get(b: &[u8]) -> Self;
}

macro_rules! elem {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Elem for $t {
            const SIZE: usize = size_of::<$t>();
            fn put(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_ne_bytes());
            }
            fn get(b: &[u8]) -> Self {
                <$t>::from_ne_bytes(b.try_into().expect("element size"))
            }
        }
    )*};
}
elem!(u8, u16, i16, i32);

/// A bit depth: its pixel and coefficient types (FFmpeg's `pixel` and `dctcoef`).
pub trait Depth: sealed::Sealed + 'static {
    type Pixel: Elem + Into<i32> + TryFrom<i32>;
    type Coef: Elem + Into<i32> + TryFrom<i32>;
    const BITS: u32;
    #[doc(hidden)]
    const INDEX: usize;
}

/// 8-bit: `u8` pixels, `i16` coefficients.
pub struct D8;
/// 10-bit: `u16` pixels, `i32` coefficients.
pub struct D10;
/// 12-bit (VP9 profile 2/3): `u16` pixels, `i32` coefficients.
pub struct D12;
impl sealed::Sealed for D8 {}
impl sealed::Sealed for D10 {}
impl sealed::Sealed for D12 {}
impl Depth for D8 {
    type Pixel = u8;
    type Coef = i16;
    const BITS: u32 = 8;
    const INDEX: usize = 0;
}
impl Depth for D10 {
    type Pixel = u16;
    type Coef = i32;
    const BITS: u32 = 10;
    const INDEX: usize = 1;
}
impl Depth for D12 {
    type Pixel = u16;
    type Coef = i32;
    const BITS: u32 = 12;
    const INDEX: usize = 2;
}

const DEPTHS: [c_int; 3] = [8, 10, 12];

/// Put (overwrite) or average with the destination (`(dst + v + 1) >> 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Put,
    Avg,
}

/// The four single-block H.264 IDCT entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum H264Idct {
    /// `h264_idct_add`
    Idct4,
    /// `h264_idct8_add`
    Idct8,
    /// `h264_idct_dc_add`
    Idct4Dc,
    /// `h264_idct8_dc_add`
    Idct8Dc,
}

impl H264Idct {
    pub const fn size(self) -> usize {
        match self {
            H264Idct::Idct4 | H264Idct::Idct4Dc => 4,
            H264Idct::Idct8 | H264Idct::Idct8Dc => 8,
        }
    }
}

/// The batched luma IDCT entries over one macroblock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum H264IdctMulti {
    /// `h264_idct_add16`: 16 4x4 blocks, DC-only shortcut when nnz == 1.
    Add16,
    /// `h264_idct_add16intra`: 16 4x4 blocks, DC path when nnz == 0 and the DC is set.
    Add16Intra,
    /// `h264_idct8_add4`: 4 8x8 blocks.
    Idct8Add4,
}

/// The H.264 loop-filter entries. `V` filters a horizontal edge (pixels above and below the
/// origin row), `H` a vertical edge (pixels left and right of the origin column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum H264LoopFilter {
    VLuma,
    HLuma,
    HLumaMbaff,
    VLumaIntra,
    HLumaIntra,
    HLumaMbaffIntra,
    VChroma,
    HChroma,
    HChromaMbaff,
    VChromaIntra,
    HChromaIntra,
    HChromaMbaffIntra,
    /// The 4:2:2 forms (`ff_h264dsp_init` with chroma_format_idc 2).
    HChroma422,
    HChroma422Mbaff,
    HChroma422Intra,
    HChroma422MbaffIntra,
}

impl H264LoopFilter {
    pub const ALL: [H264LoopFilter; 16] = [
        H264LoopFilter::VLuma,
        H264LoopFilter::HLuma,
        H264LoopFilter::HLumaMbaff,
        H264LoopFilter::VLumaIntra,
        H264LoopFilter::HLumaIntra,
        H264LoopFilter::HLumaMbaffIntra,
        H264LoopFilter::VChroma,
        H264LoopFilter::HChroma,
        H264LoopFilter::HChromaMbaff,
        H264LoopFilter::VChromaIntra,
        H264LoopFilter::HChromaIntra,
        H264LoopFilter::HChromaMbaffIntra,
        H264LoopFilter::HChroma422,
        H264LoopFilter::HChroma422Mbaff,
        H264LoopFilter::HChroma422Intra,
        H264LoopFilter::HChroma422MbaffIntra,
    ];

    /// FFmpeg's table entry name (the 4:2:2 forms use the same entries, re-initialised).
    pub const fn ffmpeg_name(self) -> &'static str {
        use H264LoopFilter::*;
        match self {
            VLuma => "h264_v_loop_filter_luma",
            HLuma => "h264_h_loop_filter_luma",
            HLumaMbaff => "h264_h_loop_filter_luma_mbaff",
            VLumaIntra => "h264_v_loop_filter_luma_intra",
            HLumaIntra => "h264_h_loop_filter_luma_intra",
            HLumaMbaffIntra => "h264_h_loop_filter_luma_mbaff_intra",
            VChroma => "h264_v_loop_filter_chroma",
            HChroma => "h264_h_loop_filter_chroma",
            HChromaMbaff => "h264_h_loop_filter_chroma_mbaff",
            VChromaIntra => "h264_v_loop_filter_chroma_intra",
            HChromaIntra => "h264_h_loop_filter_chroma_intra",
            HChromaMbaffIntra => "h264_h_loop_filter_chroma_mbaff_intra",
            HChroma422 => "h264_h_loop_filter_chroma422",
            HChroma422Mbaff => "h264_h_loop_filter_chroma422_mbaff",
            HChroma422Intra => "h264_h_loop_filter_chroma422_intra",
            HChroma422MbaffIntra => "h264_h_loop_filter_chroma422_mbaff_intra",
        }
    }

    pub const fn is_intra(self) -> bool {
        use H264LoopFilter::*;
        matches!(
            self,
            VLumaIntra
                | HLumaIntra
                | HLumaMbaffIntra
                | VChromaIntra
                | HChromaIntra
                | HChromaMbaffIntra
                | HChroma422Intra
                | HChroma422MbaffIntra
        )
    }

    pub const fn is_vertical(self) -> bool {
        use H264LoopFilter::*;
        matches!(self, VLuma | VLumaIntra | VChroma | VChromaIntra)
    }

    pub const fn is_luma(self) -> bool {
        use H264LoopFilter::*;
        matches!(
            self,
            VLuma | HLuma | HLumaMbaff | VLumaIntra | HLumaIntra | HLumaMbaffIntra
        )
    }

    /// Pixels along the edge.
    pub const fn length(self) -> usize {
        use H264LoopFilter::*;
        match self {
            VLuma | HLuma | VLumaIntra | HLumaIntra | HChroma422 | HChroma422Intra => 16,
            HLumaMbaff | HLumaMbaffIntra | VChroma | HChroma | VChromaIntra | HChromaIntra
            | HChroma422Mbaff | HChroma422MbaffIntra => 8,
            HChromaMbaff | HChromaMbaffIntra => 4,
        }
    }

    /// Pixels read on each side of the edge (p3..q3 for luma, p1..q1 for chroma).
    pub const fn reach(self) -> usize {
        if self.is_luma() { 4 } else { 2 }
    }
}

/// VP9 transform sizes; `Wht` is the lossless 4x4 Walsh-Hadamard transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vp9TxSize {
    Tx4,
    Tx8,
    Tx16,
    Tx32,
    Wht,
}

impl Vp9TxSize {
    pub const fn size(self) -> usize {
        match self {
            Vp9TxSize::Tx4 | Vp9TxSize::Wht => 4,
            Vp9TxSize::Tx8 => 8,
            Vp9TxSize::Tx16 => 16,
            Vp9TxSize::Tx32 => 32,
        }
    }
    const fn index(self) -> usize {
        match self {
            Vp9TxSize::Tx4 => 0,
            Vp9TxSize::Tx8 => 1,
            Vp9TxSize::Tx16 => 2,
            Vp9TxSize::Tx32 => 3,
            Vp9TxSize::Wht => 4,
        }
    }
}

/// FFmpeg's `TxfmType` (vp9.h). The first word is the vertical (column) transform, the
/// second the horizontal one: `DctAdst` is a vertical DCT with a horizontal ADST.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vp9TxType {
    DctDct = 0,
    DctAdst = 1,
    AdstDct = 2,
    AdstAdst = 3,
}

/// VP9 loop-filter entries, named after FFmpeg's C functions (`loop_filter_{h,v}_{wd}_{len}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vp9LoopFilter {
    /// 8 pixels along the edge, filter width 4, 8 or 16.
    Len8 { wd: u8 },
    /// 16 pixels along the edge, filter width 16.
    Len16,
    /// Two 8-pixel halves with their own widths (4 or 8) and packed thresholds.
    Mix2 { wd0: u8, wd1: u8 },
}

impl Vp9LoopFilter {
    pub const fn length(self) -> usize {
        match self {
            Vp9LoopFilter::Len8 { .. } => 8,
            _ => 16,
        }
    }
    pub const fn reach(self) -> usize {
        match self {
            Vp9LoopFilter::Len8 { wd: 16 } | Vp9LoopFilter::Len16 => 8,
            _ => 4,
        }
    }
}

/// VP9 interpolation filters in FFmpeg's `FilterMode` order (differs from libvpx's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vp9Filter {
    Smooth = 0,
    Regular = 1,
    Sharp = 2,
    Bilinear = 3,
}

/// A 2-D region of a buffer: `origin` is the element of the block's top-left pixel.
#[derive(Clone, Copy, Debug)]
struct Window {
    rows_before: usize,
    rows_after: usize,
    cols_before: usize,
    cols_after: usize,
}

impl Window {
    const fn block(w: usize, h: usize) -> Self {
        Window {
            rows_before: 0,
            rows_after: h,
            cols_before: 0,
            cols_after: w,
        }
    }
}

fn check_window<T>(
    buf: &[T],
    buffer: &'static str,
    origin: usize,
    stride: usize,
    w: Window,
) -> Result<(), GoldenError> {
    let origin = origin as i64;
    let stride = stride as i64;
    let lo = origin - w.rows_before as i64 * stride - w.cols_before as i64;
    let hi = origin + (w.rows_after as i64 - 1) * stride + w.cols_after as i64;
    if lo < 0 || hi > buf.len() as i64 {
        return Err(GoldenError::OutOfBounds {
            buffer,
            lo,
            hi,
            len: buf.len(),
        });
    }
    Ok(())
}

fn check_len<T>(buf: &[T], buffer: &'static str, n: usize) -> Result<(), GoldenError> {
    if buf.len() < n {
        return Err(GoldenError::OutOfBounds {
            buffer,
            lo: 0,
            hi: n as i64,
            len: buf.len(),
        });
    }
    Ok(())
}

fn check_range(
    name: &'static str,
    v: i64,
    lo: i64,
    hi: i64,
    expected: &'static str,
) -> Result<(), GoldenError> {
    if v < lo || v > hi {
        return Err(GoldenError::InvalidParam {
            name,
            value: v,
            expected,
        });
    }
    Ok(())
}

fn c_stride(bytes: usize) -> Result<c_int, GoldenError> {
    c_int::try_from(bytes).map_err(|_| GoldenError::InvalidParam {
        name: "stride",
        value: bytes as i64,
        expected: "stride and offsets in bytes fit in an int",
    })
}

/// Bytes of slack around every scratch copy, so that a SIMD function reading a little past
/// the block it was given reads our allocation, not someone else's.
const SLACK: usize = 128;

#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Line([u8; 64]);

/// A native-endian copy of a caller's buffer in 64-byte-aligned memory, with the origin
/// element on a 64-byte boundary. A 2-D buffer is re-laid out with its row stride rounded
/// up to a multiple of 64 bytes: the functions' results depend only on the pixel grid, and
/// this meets every alignment FFmpeg's SIMD versions assume (rows aligned to the block
/// size, up to 32 bytes for AVX2) whatever stride the caller uses.
struct Scratch {
    mem: Vec<Line>,
    /// Byte position of the buffer's element 0 (its row 0, column 0).
    base: usize,
    /// Caller's stride in elements (the buffer's length for a 1-D buffer) and scratch stride
    /// in bytes.
    stride: usize,
    stride_bytes: usize,
    origin: usize,
}

impl Scratch {
    fn new<T: Elem>(buf: &[T], origin: usize, stride: Option<usize>) -> Scratch {
        let stride = stride.unwrap_or(buf.len()).max(1);
        let stride_bytes = (stride * T::SIZE).next_multiple_of(64);
        let rows = buf.len().div_ceil(stride);
        let (oy, ox) = (origin / stride, origin % stride);
        let base = SLACK + (64 - (ox * T::SIZE) % 64) % 64;
        let lines = (base + rows * stride_bytes + SLACK).div_ceil(64);
        let mut s = Scratch {
            mem: vec![Line([0; 64]); lines],
            base,
            stride,
            stride_bytes,
            origin: base + oy * stride_bytes + ox * T::SIZE,
        };
        let bytes = Self::bytes_of(&mut s.mem);
        for (i, v) in buf.iter().enumerate() {
            let at = base + (i / stride) * stride_bytes + (i % stride) * T::SIZE;
            v.put(&mut bytes[at..at + T::SIZE]);
        }
        s
    }

    fn bytes_of(mem: &mut [Line]) -> &mut [u8] {
        lines_as_arrays(mem).as_flattened_mut()
    }

    /// Pointer to the origin element.
    fn ptr(&mut self) -> *mut u8 {
        let at = self.origin;
        Self::bytes_of(&mut self.mem)[at..].as_mut_ptr()
    }

    /// The stride to pass to FFmpeg, in bytes.
    fn stride_bytes(&self) -> usize {
        self.stride_bytes
    }

    /// A non-negative offset in elements from the origin, in the caller's layout, as a byte
    /// offset in the scratch layout.
    fn offset_bytes<T: Elem>(&self, o: usize, origin: usize) -> usize {
        let (oy, ox) = (origin / self.stride, origin % self.stride);
        let p = origin + o;
        let (y, x) = (p / self.stride, p % self.stride);
        (y - oy) * self.stride_bytes + x * T::SIZE - ox * T::SIZE
    }

    fn copy_back<T: Elem>(&mut self, buf: &mut [T]) {
        let (base, stride, sb) = (self.base, self.stride, self.stride_bytes);
        let bytes = Self::bytes_of(&mut self.mem);
        for (i, v) in buf.iter_mut().enumerate() {
            let at = base + (i / stride) * sb + (i % stride) * T::SIZE;
            *v = T::get(&bytes[at..at + T::SIZE]);
        }
    }
}

fn lines_as_arrays(mem: &mut [Line]) -> &mut [[u8; 64]] {
    // SAFETY: `Line` is `repr(C, align(64))` with a single `[u8; 64]` field and size 64, so a
    // slice of `Line` has the same layout as a slice of `[u8; 64]` of the same length.
    unsafe { std::slice::from_raw_parts_mut(mem.as_mut_ptr().cast::<[u8; 64]>(), mem.len()) }
}

const _: () = assert!(size_of::<Line>() == 64);

#[repr(C)]
struct Guarded<T> {
    ctx: T,
    canary: [u64; 32],
}

const CANARY: u64 = 0x5a5a_c3c3_0f0f_a5a5;

impl<T> Guarded<T> {
    fn new(ctx: T) -> Self {
        Guarded {
            ctx,
            canary: [CANARY; 32],
        }
    }
    fn intact(&self) -> bool {
        self.canary.iter().all(|&c| c == CANARY)
    }
}

const NO_H264: ffi::H264DspContext = ffi::H264DspContext {
    weight_h264_pixels_tab: [None; 4],
    biweight_h264_pixels_tab: [None; 4],
    h264_v_loop_filter_luma: None,
    h264_h_loop_filter_luma: None,
    h264_h_loop_filter_luma_mbaff: None,
    h264_v_loop_filter_luma_intra: None,
    h264_h_loop_filter_luma_intra: None,
    h264_h_loop_filter_luma_mbaff_intra: None,
    h264_v_loop_filter_chroma: None,
    h264_h_loop_filter_chroma: None,
    h264_h_loop_filter_chroma_mbaff: None,
    h264_v_loop_filter_chroma_intra: None,
    h264_h_loop_filter_chroma_intra: None,
    h264_h_loop_filter_chroma_mbaff_intra: None,
    h264_loop_filter_strength: None,
    h264_idct_add: None,
    h264_idct8_add: None,
    h264_idct_dc_add: None,
    h264_idct8_dc_add: None,
    h264_idct_add16: None,
    h264_idct8_add4: None,
    h264_idct_add8: None,
    h264_idct_add16intra: None,
    h264_luma_dc_dequant_idct: None,
    h264_chroma_dc_dequant_idct: None,
    h264_add_pixels8_clear: None,
    h264_add_pixels4_clear: None,
    startcode_find_candidate: None,
};
const NO_QPEL: ffi::H264QpelContext = ffi::H264QpelContext {
    put_h264_qpel_pixels_tab: [[None; 16]; 4],
    avg_h264_qpel_pixels_tab: [[None; 16]; 4],
};
const NO_CHROMA: ffi::H264ChromaContext = ffi::H264ChromaContext {
    put_h264_chroma_pixels_tab: [None; 4],
    avg_h264_chroma_pixels_tab: [None; 4],
};
const NO_VP9: ffi::Vp9DspContext = ffi::Vp9DspContext {
    intra_pred: [[None; ffi::VP9_INTRA_PRED_MODES]; ffi::VP9_TX_SIZES],
    itxfm_add: [[None; ffi::VP9_TX_TYPES]; ffi::VP9_TX_SIZES + 1],
    loop_filter_8: [[None; 2]; 3],
    loop_filter_16: [None; 2],
    loop_filter_mix2: [[[None; 2]; 2]; 2],
    mc: [[[[[None; 2]; 2]; 2]; ffi::VP9_FILTERS]; 5],
    smc: [[[None; 2]; ffi::VP9_FILTERS]; 5],
};

/// The libavcodec version the mirrors were checked against (build.rs refuses others at
/// build time; this is checked again against the linked archive at run time).
pub const CHECKED_VERSION: (u32, u32) = (59, 37);

/// `av_force_cpu_flags` is process-wide: every table initialisation runs under this lock.
static CPU_FLAGS_LOCK: Mutex<()> = Mutex::new(());

/// One implementation's DSP tables at 8, 10 and 12 bits.
#[derive(Debug)]
pub struct Reference {
    imp: Impl,
    h264: [ffi::H264DspContext; 3],
    h264_422: [ffi::H264DspContext; 3],
    qpel: [ffi::H264QpelContext; 3],
    chroma: [ffi::H264ChromaContext; 3],
    vp9: [ffi::Vp9DspContext; 3],
}

/// The linked libavcodec's (major, minor) version.
pub fn libavcodec_version() -> (u32, u32) {
    // SAFETY: avcodec_version takes no arguments and returns a constant.
    let v = unsafe { ffi::avcodec_version() };
    (v >> 16, (v >> 8) & 0xff)
}

impl Reference {
    /// FFmpeg's C functions: the golden reference.
    pub fn c() -> Result<&'static Reference, GoldenError> {
        static C: OnceLock<Result<Reference, GoldenError>> = OnceLock::new();
        C.get_or_init(|| Reference::init(Impl::C))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The SIMD functions FFmpeg picks on this CPU.
    pub fn simd() -> Result<&'static Reference, GoldenError> {
        static S: OnceLock<Result<Reference, GoldenError>> = OnceLock::new();
        S.get_or_init(|| Reference::init(Impl::Simd))
            .as_ref()
            .map_err(Clone::clone)
    }

    pub fn implementation(&self) -> Impl {
        self.imp
    }

    fn init(imp: Impl) -> Result<Reference, GoldenError> {
        let (major, minor) = libavcodec_version();
        if (major, minor) != CHECKED_VERSION {
            return Err(GoldenError::UnsupportedLibavcodec {
                major,
                minor,
                want_major: CHECKED_VERSION.0,
                want_minor: CHECKED_VERSION.1,
            });
        }
        let mut r = Reference {
            imp,
            h264: [NO_H264; 3],
            h264_422: [NO_H264; 3],
            qpel: [NO_QPEL; 3],
            chroma: [NO_CHROMA; 3],
            vp9: [NO_VP9; 3],
        };
        let guard = CPU_FLAGS_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: av_force_cpu_flags only stores the value; 0 means "no SIMD", -1 "detect".
        unsafe { ffi::av_force_cpu_flags(if imp == Impl::C { 0 } else { -1 }) };
        let result = (|| {
            for (i, &bits) in DEPTHS.iter().enumerate() {
                let mut g = Guarded::new(NO_H264);
                // SAFETY: g.ctx is a valid, writable H264DSPContext mirror (size checked at
                // compile time, overrun checked by the canary below).
                unsafe { ffi::ff_h264dsp_init(&mut g.ctx, bits, 1) };
                check_guard(&g, "h264dsp")?;
                r.h264[i] = g.ctx;
                let mut g = Guarded::new(NO_H264);
                // SAFETY: as above.
                unsafe { ffi::ff_h264dsp_init(&mut g.ctx, bits, 2) };
                check_guard(&g, "h264dsp")?;
                r.h264_422[i] = g.ctx;
                let mut g = Guarded::new(NO_QPEL);
                // SAFETY: g.ctx is a valid, writable H264QpelContext mirror.
                unsafe { ffi::ff_h264qpel_init(&mut g.ctx, bits) };
                check_guard(&g, "h264qpel")?;
                r.qpel[i] = g.ctx;
                let mut g = Guarded::new(NO_CHROMA);
                // SAFETY: g.ctx is a valid, writable H264ChromaContext mirror.
                unsafe { ffi::ff_h264chroma_init(&mut g.ctx, bits) };
                check_guard(&g, "h264chroma")?;
                r.chroma[i] = g.ctx;
                let mut g = Guarded::new(NO_VP9);
                // SAFETY: g.ctx is a valid, writable VP9DSPContext mirror. bitexact = 1 keeps
                // the SIMD table to the bit-exact functions the decoder uses with -flags bitexact.
                unsafe { ffi::ff_vp9dsp_init(&mut g.ctx, bits, 1) };
                check_guard(&g, "vp9dsp")?;
                r.vp9[i] = g.ctx;
            }
            Ok(())
        })();
        // SAFETY: as above; -1 restores CPU detection for everyone else.
        unsafe { ffi::av_force_cpu_flags(-1) };
        drop(guard);
        result?;
        if imp == Impl::C {
            let want = ffi::ff_h264_idct_add_8_c as ffi::H264IdctFn;
            let got = r.h264[0].h264_idct_add;
            if got.map(|f| f as usize) != Some(want as usize) {
                return Err(GoldenError::MirrorMismatch {
                    table: "h264dsp",
                    field: "h264_idct_add",
                });
            }
        }
        Ok(r)
    }

    fn missing(table: &'static str, what: impl Into<String>, bits: u32) -> GoldenError {
        GoldenError::MissingFunction {
            table,
            what: what.into(),
            bit_depth: bits,
        }
    }

    /// `h264_idct_add`, `h264_idct8_add`, `h264_idct_dc_add`, `h264_idct8_dc_add`: adds the
    /// inverse transform of `block` (FFmpeg's transposed layout, `block[x * n + y]`) to the
    /// n x n pixels at `dst[origin..]` and clears the coefficients it used.
    pub fn h264_idct<D: Depth>(
        &self,
        kind: H264Idct,
        dst: &mut [D::Pixel],
        origin: usize,
        stride: usize,
        block: &mut [D::Coef],
    ) -> Result<(), GoldenError> {
        let n = kind.size();
        check_window(dst, "dst", origin, stride, Window::block(n, n))?;
        check_len(block, "block", n * n)?;
        let t = &self.h264[D::INDEX];
        let f = match kind {
            H264Idct::Idct4 => t.h264_idct_add,
            H264Idct::Idct8 => t.h264_idct8_add,
            H264Idct::Idct4Dc => t.h264_idct_dc_add,
            H264Idct::Idct8Dc => t.h264_idct8_dc_add,
        }
        .ok_or_else(|| Self::missing("h264dsp", format!("{kind:?}"), D::BITS))?;
        let mut sd = Scratch::new(dst, origin, Some(stride));
        let mut sc = Scratch::new(block, 0, None);
        let sb = c_stride(sd.stride_bytes())?;
        // SAFETY: the n x n window at origin lies inside dst and block holds n*n coefficients
        // (both checked above); the pointers are to aligned scratch copies of them.
        unsafe { f(sd.ptr(), sc.ptr().cast(), sb) };
        sd.copy_back(dst);
        sc.copy_back(block);
        Ok(())
    }

    /// `h264_idct` over a batch of blocks in place on one 8-bit plane, calling FFmpeg's
    /// function directly on the plane (no scratch copies), in batch order: block `k` has its
    /// `n * n` coefficients at `blocks[k * n * n..]` and its top-left pixel at `origins[k]`.
    /// Every window is checked before the first call. Returns the time spent in FFmpeg's
    /// calls, for benchmarks. FFmpeg's C functions need no alignment; its SIMD ones do, so
    /// this refuses the SIMD table.
    pub fn h264_idct_batch(
        &self,
        kind: H264Idct,
        plane: &mut [u8],
        stride: usize,
        origins: &[usize],
        blocks: &mut [i16],
    ) -> Result<std::time::Duration, GoldenError> {
        let n = kind.size();
        self.batch_preconditions(plane, stride, origins, blocks.len(), n)?;
        let t = &self.h264[D8::INDEX];
        let f = match kind {
            H264Idct::Idct4 => t.h264_idct_add,
            H264Idct::Idct8 => t.h264_idct8_add,
            H264Idct::Idct4Dc => t.h264_idct_dc_add,
            H264Idct::Idct8Dc => t.h264_idct8_dc_add,
        }
        .ok_or_else(|| Self::missing("h264dsp", format!("{kind:?}"), 8))?;
        let sb = c_stride(stride)?;
        let base = plane.as_mut_ptr();
        let coefs = blocks.as_mut_ptr();
        let start = std::time::Instant::now();
        for (k, &o) in origins.iter().enumerate() {
            // SAFETY: batch_preconditions checked that the n x n window at `o` lies inside
            // `plane` and that `blocks` holds n*n coefficients for every block; FFmpeg's C
            // function touches only those and needs no alignment.
            unsafe { f(base.add(o), coefs.add(k * n * n), sb) };
        }
        Ok(start.elapsed())
    }

    /// `itxfm_add[tx][type]` over a batch of blocks on one 8-bit plane, as
    /// [`Reference::h264_idct_batch`]; `types_eobs[k]` is block `k`'s type and eob.
    pub fn vp9_itxfm_batch(
        &self,
        tx: Vp9TxSize,
        plane: &mut [u8],
        stride: usize,
        origins: &[usize],
        blocks: &mut [i16],
        types_eobs: &[(Vp9TxType, u32)],
    ) -> Result<std::time::Duration, GoldenError> {
        let n = tx.size();
        self.batch_preconditions(plane, stride, origins, blocks.len(), n)?;
        if types_eobs.len() != origins.len() {
            return Err(GoldenError::InvalidParam {
                name: "types_eobs",
                value: types_eobs.len() as i64,
                expected: "one (type, eob) per block",
            });
        }
        let mut fns = Vec::with_capacity(origins.len());
        for &(ty, eob) in types_eobs {
            check_range("eob", eob.into(), 1, (n * n) as i64, "1..=n*n")?;
            fns.push(
                self.vp9[D8::INDEX].itxfm_add[tx.index()][ty as usize]
                    .ok_or_else(|| Self::missing("vp9dsp", format!("itxfm {tx:?} {ty:?}"), 8))?,
            );
        }
        let base = plane.as_mut_ptr();
        let coefs = blocks.as_mut_ptr();
        let start = std::time::Instant::now();
        for (k, &o) in origins.iter().enumerate() {
            // SAFETY: as in h264_idct_batch: every window and coefficient block was checked,
            // and the C functions need no alignment.
            unsafe {
                fns[k](
                    base.add(o),
                    stride as isize,
                    coefs.add(k * n * n),
                    types_eobs[k].1 as c_int,
                )
            };
        }
        Ok(start.elapsed())
    }

    fn batch_preconditions(
        &self,
        plane: &[u8],
        stride: usize,
        origins: &[usize],
        coefs: usize,
        n: usize,
    ) -> Result<(), GoldenError> {
        if self.implementation() != Impl::C {
            return Err(GoldenError::InvalidParam {
                name: "implementation",
                value: 1,
                expected: "the C table (SIMD functions need aligned copies: use the per-call API)",
            });
        }
        c_stride(stride)?;
        if coefs != origins.len() * n * n {
            return Err(GoldenError::InvalidParam {
                name: "blocks",
                value: coefs as i64,
                expected: "n * n coefficients per block",
            });
        }
        for &o in origins {
            check_window(plane, "plane", o, stride, Window::block(n, n))?;
        }
        Ok(())
    }

    /// `h264_idct_add16`, `h264_idct_add16intra`, `h264_idct8_add4` over one macroblock.
    /// `block_offset[i]` is block i's offset from `origin` in pixels (FFmpeg's are in bytes;
    /// this converts); `block` holds 16 coefficients per 4x4 block (256); `nnzc` is the
    /// decoder's 5 x 8 non-zero-count cache indexed through `scan8`.
    #[allow(clippy::too_many_arguments)]
    pub fn h264_idct_multi<D: Depth>(
        &self,
        kind: H264IdctMulti,
        dst: &mut [D::Pixel],
        origin: usize,
        stride: usize,
        block_offset: &[i32; 16],
        block: &mut [D::Coef],
        nnzc: &[u8; 40],
    ) -> Result<(), GoldenError> {
        let (n, step) = match kind {
            H264IdctMulti::Idct8Add4 => (8, 4),
            _ => (4, 1),
        };
        let mut offs_px = [0usize; 16];
        for i in (0..16).step_by(step) {
            let o = usize::try_from(block_offset[i]).map_err(|_| GoldenError::InvalidParam {
                name: "block_offset",
                value: block_offset[i].into(),
                expected: "offsets >= 0",
            })?;
            check_window(dst, "dst", origin + o, stride, Window::block(n, n))?;
            offs_px[i] = o;
        }
        check_len(block, "block", 256)?;
        let t = &self.h264[D::INDEX];
        let f = match kind {
            H264IdctMulti::Add16 => t.h264_idct_add16,
            H264IdctMulti::Add16Intra => t.h264_idct_add16intra,
            H264IdctMulti::Idct8Add4 => t.h264_idct8_add4,
        }
        .ok_or_else(|| Self::missing("h264dsp", format!("{kind:?}"), D::BITS))?;
        let mut sd = Scratch::new(dst, origin, Some(stride));
        let mut sc = Scratch::new(block, 0, None);
        let sb = c_stride(sd.stride_bytes())?;
        let mut offs = [0 as c_int; 16];
        for i in (0..16).step_by(step) {
            offs[i] = c_stride(sd.offset_bytes::<D::Pixel>(offs_px[i], origin))?;
        }
        // SAFETY: every block the function may touch (offsets checked above) lies inside dst;
        // block holds 16 blocks of 16 coefficients; nnzc has the 40 entries scan8 reaches.
        unsafe { f(sd.ptr(), offs.as_ptr(), sc.ptr().cast(), sb, nnzc.as_ptr()) };
        sd.copy_back(dst);
        sc.copy_back(block);
        Ok(())
    }

    /// `h264_idct_add8` (4:2:0, or the 4:2:2 form when `chroma422`): the chroma blocks of one
    /// macroblock. Blocks 16..20 (+ 20..24 for 4:2:2) go to `cb`, 32..36 (+ 36..40) to `cr`;
    /// `block_offset` (48 entries, in pixels from the plane's origin) and `nnzc` (15 x 8) are
    /// indexed as in FFmpeg's decoder. `block` holds 48 blocks of 16 coefficients.
    #[allow(clippy::too_many_arguments)]
    pub fn h264_idct_add8<D: Depth>(
        &self,
        chroma422: bool,
        cb: &mut [D::Pixel],
        cb_origin: usize,
        cr: &mut [D::Pixel],
        cr_origin: usize,
        stride: usize,
        block_offset: &[i32; 48],
        block: &mut [D::Coef],
        nnzc: &[u8; 120],
    ) -> Result<(), GoldenError> {
        let mut offs_px = [None; 48];
        let blocks = |j: usize| -> Vec<usize> {
            let base = j * 16;
            let mut v: Vec<usize> = (base..base + 4).collect();
            if chroma422 {
                v.extend(base + 8..base + 12);
            }
            v
        };
        for (j, plane, org, name) in [(1, &*cb, cb_origin, "cb"), (2, &*cr, cr_origin, "cr")] {
            for i in blocks(j) {
                let o =
                    usize::try_from(block_offset[i]).map_err(|_| GoldenError::InvalidParam {
                        name: "block_offset",
                        value: block_offset[i].into(),
                        expected: "offsets >= 0",
                    })?;
                check_window(plane, name, org + o, stride, Window::block(4, 4))?;
                offs_px[i] = Some((j, o));
            }
        }
        check_len(block, "block", 48 * 16)?;
        let t = if chroma422 {
            &self.h264_422[D::INDEX]
        } else {
            &self.h264[D::INDEX]
        };
        let f = t
            .h264_idct_add8
            .ok_or_else(|| Self::missing("h264dsp", "h264_idct_add8", D::BITS))?;
        let mut scb = Scratch::new(cb, cb_origin, Some(stride));
        let mut scr = Scratch::new(cr, cr_origin, Some(stride));
        let mut sc = Scratch::new(block, 0, None);
        let sb = c_stride(scb.stride_bytes())?;
        let mut offs = [0 as c_int; 48];
        for (o, px) in offs.iter_mut().zip(offs_px) {
            if let Some((j, p)) = px {
                let b = if j == 1 {
                    scb.offset_bytes::<D::Pixel>(p, cb_origin)
                } else {
                    scr.offset_bytes::<D::Pixel>(p, cr_origin)
                };
                *o = c_stride(b)?;
            }
        }
        let mut planes = [scb.ptr(), scr.ptr()];
        // SAFETY: every 4x4 block at an offset the function reads lies inside its plane
        // (checked above); block holds 48 blocks of 16 coefficients; nnzc has 120 entries.
        unsafe {
            f(
                planes.as_mut_ptr(),
                offs.as_ptr(),
                sc.ptr().cast(),
                sb,
                nnzc.as_ptr(),
            )
        };
        scb.copy_back(cb);
        scr.copy_back(cr);
        sc.copy_back(block);
        Ok(())
    }

    /// An H.264 loop filter on the edge at `dst[origin]` (q0; p0 is the pixel before it
    /// across the edge). `tc0` is ignored by the intra (bS = 4) filters.
    #[allow(clippy::too_many_arguments)]
    pub fn h264_loop_filter<D: Depth>(
        &self,
        kind: H264LoopFilter,
        dst: &mut [D::Pixel],
        origin: usize,
        stride: usize,
        alpha: i32,
        beta: i32,
        tc0: [i8; 4],
    ) -> Result<(), GoldenError> {
        let (len, reach) = (kind.length(), kind.reach());
        let w = if kind.is_vertical() {
            Window {
                rows_before: reach,
                rows_after: reach,
                cols_before: 0,
                cols_after: len,
            }
        } else {
            Window {
                rows_before: 0,
                rows_after: len,
                cols_before: reach,
                cols_after: reach,
            }
        };
        check_window(dst, "dst", origin, stride, w)?;
        let t = match kind {
            H264LoopFilter::HChroma422
            | H264LoopFilter::HChroma422Mbaff
            | H264LoopFilter::HChroma422Intra
            | H264LoopFilter::HChroma422MbaffIntra => &self.h264_422[D::INDEX],
            _ => &self.h264[D::INDEX],
        };
        use H264LoopFilter::*;
        let normal = match kind {
            VLuma => t.h264_v_loop_filter_luma,
            HLuma => t.h264_h_loop_filter_luma,
            HLumaMbaff => t.h264_h_loop_filter_luma_mbaff,
            VChroma => t.h264_v_loop_filter_chroma,
            HChroma | HChroma422 => t.h264_h_loop_filter_chroma,
            HChromaMbaff | HChroma422Mbaff => t.h264_h_loop_filter_chroma_mbaff,
            _ => None,
        };
        let intra = match kind {
            VLumaIntra => t.h264_v_loop_filter_luma_intra,
            HLumaIntra => t.h264_h_loop_filter_luma_intra,
            HLumaMbaffIntra => t.h264_h_loop_filter_luma_mbaff_intra,
            VChromaIntra => t.h264_v_loop_filter_chroma_intra,
            HChromaIntra | HChroma422Intra => t.h264_h_loop_filter_chroma_intra,
            HChromaMbaffIntra | HChroma422MbaffIntra => t.h264_h_loop_filter_chroma_mbaff_intra,
            _ => None,
        };
        let mut tc = tc0;
        let mut sd = Scratch::new(dst, origin, Some(stride));
        let sb = sd.stride_bytes() as isize;
        if kind.is_intra() {
            let f = intra.ok_or_else(|| Self::missing("h264dsp", kind.ffmpeg_name(), D::BITS))?;
            // SAFETY: the window of pixels the filter reads and writes lies inside dst.
            unsafe { f(sd.ptr(), sb, alpha, beta) };
        } else {
            let f = normal.ok_or_else(|| Self::missing("h264dsp", kind.ffmpeg_name(), D::BITS))?;
            // SAFETY: as above; tc0 points at the 4 values the filter reads.
            unsafe { f(sd.ptr(), sb, alpha, beta, tc.as_mut_ptr()) };
        }
        sd.copy_back(dst);
        Ok(())
    }

    /// `put/avg_h264_qpel_pixels_tab[size][x + 4y]`: quarter-pel luma MC of a size x size
    /// block. dst and src share `stride` as in FFmpeg; src is read from 2 before to 3 after.
    #[allow(clippy::too_many_arguments)]
    pub fn h264_qpel<D: Depth>(
        &self,
        op: Op,
        size: usize,
        x: u8,
        y: u8,
        dst: &mut [D::Pixel],
        dst_origin: usize,
        src: &[D::Pixel],
        src_origin: usize,
        stride: usize,
    ) -> Result<(), GoldenError> {
        let idx = match size {
            16 => 0,
            8 => 1,
            4 => 2,
            _ => {
                return Err(GoldenError::InvalidParam {
                    name: "size",
                    value: size as i64,
                    expected: "16, 8 or 4",
                });
            }
        };
        check_range("x", x.into(), 0, 3, "0..=3 quarter pels")?;
        check_range("y", y.into(), 0, 3, "0..=3 quarter pels")?;
        check_window(dst, "dst", dst_origin, stride, Window::block(size, size))?;
        let w = Window {
            rows_before: 2,
            rows_after: size + 3,
            cols_before: 2,
            cols_after: size + 3,
        };
        check_window(src, "src", src_origin, stride, w)?;
        let t = &self.qpel[D::INDEX];
        let tab = match op {
            Op::Put => &t.put_h264_qpel_pixels_tab,
            Op::Avg => &t.avg_h264_qpel_pixels_tab,
        };
        let pos = usize::from(x + 4 * y);
        let f = tab[idx][pos]
            .ok_or_else(|| Self::missing("h264qpel", format!("{op:?} {size} mc{x}{y}"), D::BITS))?;
        let mut sd = Scratch::new(dst, dst_origin, Some(stride));
        let mut ss = Scratch::new(src, src_origin, Some(stride));
        let sb = sd.stride_bytes();
        debug_assert_eq!(sb, ss.stride_bytes());
        // SAFETY: the size x size dst block and the (size+5)^2 source window lie inside the
        // caller's slices (checked above); the pointers are to scratch copies of them.
        unsafe { f(sd.ptr(), ss.ptr(), sb as isize) };
        sd.copy_back(dst);
        Ok(())
    }

    /// `put/avg_h264_chroma_pixels_tab`: eighth-pel bilinear chroma MC of a width x h block
    /// at (x, y) in 0..8; dst and src share `stride`.
    #[allow(clippy::too_many_arguments)]
    pub fn h264_chroma_mc<D: Depth>(
        &self,
        op: Op,
        width: usize,
        h: usize,
        x: u8,
        y: u8,
        dst: &mut [D::Pixel],
        dst_origin: usize,
        src: &[D::Pixel],
        src_origin: usize,
        stride: usize,
    ) -> Result<(), GoldenError> {
        let idx = match width {
            8 => 0,
            4 => 1,
            2 => 2,
            _ => {
                return Err(GoldenError::InvalidParam {
                    name: "width",
                    value: width as i64,
                    expected: "8, 4 or 2",
                });
            }
        };
        check_range("h", h as i64, 1, 64, "1..=64 rows")?;
        check_range("x", x.into(), 0, 7, "0..=7 eighth pels")?;
        check_range("y", y.into(), 0, 7, "0..=7 eighth pels")?;
        check_window(dst, "dst", dst_origin, stride, Window::block(width, h))?;
        check_window(
            src,
            "src",
            src_origin,
            stride,
            Window::block(width + 1, h + 1),
        )?;
        let t = &self.chroma[D::INDEX];
        let f = match op {
            Op::Put => t.put_h264_chroma_pixels_tab[idx],
            Op::Avg => t.avg_h264_chroma_pixels_tab[idx],
        }
        .ok_or_else(|| Self::missing("h264chroma", format!("{op:?} mc{width}"), D::BITS))?;
        let mut sd = Scratch::new(dst, dst_origin, Some(stride));
        let mut ss = Scratch::new(src, src_origin, Some(stride));
        let sb = sd.stride_bytes();
        // SAFETY: the dst block and the (width+1) x (h+1) source window lie inside the
        // caller's slices; the function does not write src.
        unsafe {
            f(
                sd.ptr(),
                ss.ptr(),
                sb as isize,
                h as c_int,
                x.into(),
                y.into(),
            )
        };
        sd.copy_back(dst);
        Ok(())
    }

    /// `itxfm_add[tx][type]`: adds the inverse transform of `block` (transposed layout) to the
    /// n x n pixels at `dst[origin..]` and clears `block`. `eob` is one past the scan position
    /// of the last non-zero coefficient (FFmpeg's C only uses it for the DC-only shortcut).
    #[allow(clippy::too_many_arguments)]
    pub fn vp9_itxfm<D: Depth>(
        &self,
        tx: Vp9TxSize,
        ty: Vp9TxType,
        dst: &mut [D::Pixel],
        origin: usize,
        stride: usize,
        block: &mut [D::Coef],
        eob: u32,
    ) -> Result<(), GoldenError> {
        let n = tx.size();
        check_window(dst, "dst", origin, stride, Window::block(n, n))?;
        check_len(block, "block", n * n)?;
        check_range("eob", eob.into(), 1, (n * n) as i64, "1..=n*n")?;
        let f = self.vp9[D::INDEX].itxfm_add[tx.index()][ty as usize]
            .ok_or_else(|| Self::missing("vp9dsp", format!("itxfm {tx:?} {ty:?}"), D::BITS))?;
        let mut sd = Scratch::new(dst, origin, Some(stride));
        let mut sc = Scratch::new(block, 0, None);
        let sb = sd.stride_bytes();
        // SAFETY: the n x n window lies inside dst and block has n*n coefficients.
        unsafe { f(sd.ptr(), sb as isize, sc.ptr().cast(), eob as c_int) };
        sd.copy_back(dst);
        sc.copy_back(block);
        Ok(())
    }

    /// A VP9 loop filter on the edge at `dst[origin]` (q0). `vertical` selects FFmpeg's `v`
    /// (row edge: pixels above and below); `h` filters a column edge. For `Mix2`, e, i and h
    /// pack the two halves' thresholds as `(second << 8) | first`.
    #[allow(clippy::too_many_arguments)]
    pub fn vp9_loop_filter<D: Depth>(
        &self,
        kind: Vp9LoopFilter,
        vertical: bool,
        dst: &mut [D::Pixel],
        origin: usize,
        stride: usize,
        e: i32,
        i: i32,
        h: i32,
    ) -> Result<(), GoldenError> {
        let (len, reach) = (kind.length(), kind.reach());
        let w = if vertical {
            Window {
                rows_before: reach,
                rows_after: reach,
                cols_before: 0,
                cols_after: len,
            }
        } else {
            Window {
                rows_before: 0,
                rows_after: len,
                cols_before: reach,
                cols_after: reach,
            }
        };
        check_window(dst, "dst", origin, stride, w)?;
        let t = &self.vp9[D::INDEX];
        let d = usize::from(vertical);
        let f = match kind {
            Vp9LoopFilter::Len8 { wd } => {
                let k = match wd {
                    4 => 0,
                    8 => 1,
                    16 => 2,
                    _ => {
                        return Err(GoldenError::InvalidParam {
                            name: "wd",
                            value: wd.into(),
                            expected: "4, 8 or 16",
                        });
                    }
                };
                t.loop_filter_8[k][d]
            }
            Vp9LoopFilter::Len16 => t.loop_filter_16[d],
            Vp9LoopFilter::Mix2 { wd0, wd1 } => {
                let k = |wd: u8| match wd {
                    4 => Ok(0),
                    8 => Ok(1),
                    _ => Err(GoldenError::InvalidParam {
                        name: "wd",
                        value: wd.into(),
                        expected: "4 or 8",
                    }),
                };
                t.loop_filter_mix2[k(wd0)?][k(wd1)?][d]
            }
        }
        .ok_or_else(|| Self::missing("vp9dsp", format!("loop filter {kind:?}"), D::BITS))?;
        let mut sd = Scratch::new(dst, origin, Some(stride));
        let sb = sd.stride_bytes();
        // SAFETY: the filter's window (length x 2*reach around the edge) lies inside dst.
        unsafe { f(sd.ptr(), sb as isize, e, i, h) };
        sd.copy_back(dst);
        Ok(())
    }

    /// `mc[width][filter][op][mx != 0][my != 0]`: VP9 sub-pel MC of a width x h block at
    /// (mx, my) in sixteenth pels. The reference is read from 3 before to 4 after the block.
    #[allow(clippy::too_many_arguments)]
    pub fn vp9_mc<D: Depth>(
        &self,
        op: Op,
        filter: Vp9Filter,
        width: usize,
        h: usize,
        mx: u8,
        my: u8,
        dst: &mut [D::Pixel],
        dst_origin: usize,
        dst_stride: usize,
        src: &[D::Pixel],
        src_origin: usize,
        src_stride: usize,
    ) -> Result<(), GoldenError> {
        let idx = match width {
            64 => 0,
            32 => 1,
            16 => 2,
            8 => 3,
            4 => 4,
            _ => {
                return Err(GoldenError::InvalidParam {
                    name: "width",
                    value: width as i64,
                    expected: "64, 32, 16, 8 or 4",
                });
            }
        };
        check_range("h", h as i64, 1, 64, "1..=64 rows")?;
        check_range("mx", mx.into(), 0, 15, "0..=15 sixteenth pels")?;
        check_range("my", my.into(), 0, 15, "0..=15 sixteenth pels")?;
        check_window(dst, "dst", dst_origin, dst_stride, Window::block(width, h))?;
        let w = Window {
            rows_before: 3,
            rows_after: h + 4,
            cols_before: 3,
            cols_after: width + 4,
        };
        check_window(src, "src", src_origin, src_stride, w)?;
        let o = usize::from(op == Op::Avg);
        let f = self.vp9[D::INDEX].mc[idx][filter as usize][o][usize::from(mx != 0)]
            [usize::from(my != 0)]
        .ok_or_else(|| Self::missing("vp9dsp", format!("mc {width} {filter:?} {op:?}"), D::BITS))?;
        let mut sd = Scratch::new(dst, dst_origin, Some(dst_stride));
        let mut ss = Scratch::new(src, src_origin, Some(src_stride));
        let (dsb, ssb) = (sd.stride_bytes() as isize, ss.stride_bytes() as isize);
        // SAFETY: the dst block and the 8-tap source window lie inside the caller's slices;
        // the function does not write src.
        unsafe {
            f(
                sd.ptr(),
                dsb,
                ss.ptr(),
                ssb,
                h as c_int,
                mx.into(),
                my.into(),
            )
        };
        sd.copy_back(dst);
        Ok(())
    }
}

fn check_guard<T>(g: &Guarded<T>, table: &'static str) -> Result<(), GoldenError> {
    if g.intact() {
        Ok(())
    } else {
        Err(GoldenError::MirrorOverrun { table })
    }
}

/// `ff_vp9_scans[tx][type]` from the linked libavcodec: scan position -> coefficient index
/// (FFmpeg's transposed layout). Used to set `eob` for partial blocks the way the decoder does.
pub fn vp9_scan(tx: Vp9TxSize, ty: Vp9TxType) -> Vec<usize> {
    let n = tx.size() * tx.size();
    let (ti, yi) = match tx {
        // The lossless table row repeats the 4x4 DCT_DCT scan.
        Vp9TxSize::Wht => (0, 0),
        _ => (tx.index(), ty as usize),
    };
    // SAFETY: ff_vp9_scans is a constant table of 5 x 4 pointers to arrays of (4 << tx)^2
    // int16 scan positions; entry (ti, yi) points at n entries.
    let scan = unsafe { std::slice::from_raw_parts(ffi::ff_vp9_scans[ti][yi], n) };
    scan.iter().map(|&v| v as usize).collect()
}
