//! The only place with `unsafe`: thin owning wrappers over libavcodec/libavformat (through
//! `ffmpeg-sys-next`) and over `mmap` of attached buffers. Everything above this module is
//! safe Rust. Each wrapper owns exactly one C object, frees it in `Drop`, and exposes only
//! operations whose preconditions it can check.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_int};
use std::num::NonZeroUsize;
use std::os::fd::AsFd;
use std::ptr::{self, NonNull};

use ffmpeg_sys_next as ff;
use thiserror::Error;

/// A libav* call failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{call} failed: {text} ({code})")]
pub struct AvError {
    /// The function that failed.
    pub call: &'static str,
    /// Its negative `AVERROR` code.
    pub code: i32,
    /// `av_strerror`'s text.
    pub text: String,
}

impl AvError {
    fn new(call: &'static str, code: c_int) -> Self {
        let mut buf = [0 as std::ffi::c_char; 128];
        // SAFETY: buf is writable for its full length, which is passed; av_strerror always
        // NUL-terminates within that length.
        unsafe { ff::av_strerror(code, buf.as_mut_ptr(), buf.len()) };
        // SAFETY: NUL-terminated by av_strerror (above), inside buf.
        let text = unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        Self { call, code, text }
    }

    fn oom(call: &'static str) -> Self {
        Self::new(call, ff::AVERROR(nix::libc::ENOMEM))
    }

    /// Whether this is `AVERROR_INVALIDDATA`, i.e. the input, not the daemon, is at fault.
    pub fn is_invalid_data(&self) -> bool {
        self.code == ff::AVERROR_INVALIDDATA
    }
}

fn check(call: &'static str, ret: c_int) -> Result<c_int, AvError> {
    if ret < 0 {
        Err(AvError::new(call, ret))
    } else {
        Ok(ret)
    }
}

/// Sets libav*'s global log level: quiet unless verbose, since the daemon reports decode
/// errors itself through `tracing`.
pub fn set_log_verbose(verbose: bool) {
    let level = if verbose {
        ff::AV_LOG_WARNING
    } else {
        ff::AV_LOG_QUIET
    };
    // SAFETY: sets a global integer; no preconditions.
    unsafe { ff::av_log_set_level(level) };
}

/// `AV_NOPTS_VALUE`.
pub const NO_PTS: i64 = ff::AV_NOPTS_VALUE;

/// Codec ids the daemon uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodecId {
    H264,
    Vp9,
    Av1,
}

impl CodecId {
    fn raw(self) -> ff::AVCodecID {
        match self {
            CodecId::H264 => ff::AVCodecID::AV_CODEC_ID_H264,
            CodecId::Vp9 => ff::AVCodecID::AV_CODEC_ID_VP9,
            CodecId::Av1 => ff::AVCodecID::AV_CODEC_ID_AV1,
        }
    }

    fn from_raw(id: ff::AVCodecID) -> Option<Self> {
        match id {
            ff::AVCodecID::AV_CODEC_ID_H264 => Some(CodecId::H264),
            ff::AVCodecID::AV_CODEC_ID_VP9 => Some(CodecId::Vp9),
            ff::AVCodecID::AV_CODEC_ID_AV1 => Some(CodecId::Av1),
            _ => None,
        }
    }
}

/// An open decoder (`AVCodecContext`).
pub struct CodecContext {
    ptr: NonNull<ff::AVCodecContext>,
}

// SAFETY: an AVCodecContext may be used from any thread as long as calls are not concurrent,
// which `&mut self` on every call guarantees.
unsafe impl Send for CodecContext {}

impl CodecContext {
    /// Opens the decoder called `name` (e.g. `h264`, `vp9`, `libdav1d`) with `threads`
    /// threads and optional codec extradata.
    pub fn open(name: &str, threads: u32, extradata: Option<&[u8]>) -> Result<Self, AvError> {
        let cname = CString::new(name).map_err(|_| AvError::new("decoder name", -22))?;
        // SAFETY: cname is a valid NUL-terminated string for the duration of the call.
        let codec = unsafe { ff::avcodec_find_decoder_by_name(cname.as_ptr()) };
        if codec.is_null() {
            return Err(AvError::new(
                "avcodec_find_decoder_by_name",
                ff::AVERROR_DECODER_NOT_FOUND,
            ));
        }
        // SAFETY: codec is a valid, static AVCodec returned by libavcodec.
        let raw = unsafe { ff::avcodec_alloc_context3(codec) };
        let ptr = NonNull::new(raw).ok_or(AvError::oom("avcodec_alloc_context3"))?;
        let ctx = Self { ptr };
        // SAFETY: ptr is a freshly allocated context we own exclusively; setting plain fields
        // before avcodec_open2 is the documented way to configure it.
        unsafe {
            let c = ctx.ptr.as_ptr();
            (*c).thread_count = threads.clamp(1, 64) as c_int;
            if let Some(extra) = extradata.filter(|e| !e.is_empty()) {
                let len = extra.len();
                let buf =
                    ff::av_mallocz(len + ff::AV_INPUT_BUFFER_PADDING_SIZE as usize) as *mut u8;
                if buf.is_null() {
                    return Err(AvError::oom("av_mallocz"));
                }
                ptr::copy_nonoverlapping(extra.as_ptr(), buf, len);
                // The context owns extradata from here and av_freep's it in
                // avcodec_free_context.
                (*c).extradata = buf;
                (*c).extradata_size = len as c_int;
            }
        }
        // SAFETY: context and codec are valid; options dictionary is null (allowed).
        check("avcodec_open2", unsafe {
            ff::avcodec_open2(ctx.ptr.as_ptr(), codec, ptr::null_mut())
        })?;
        Ok(ctx)
    }

    /// Sends `data` as one packet with presentation timestamp `pts`, or (with `None`) the
    /// end-of-stream packet. `Ok(false)` means the decoder wants frames received first
    /// (`EAGAIN`); the packet was not consumed.
    pub fn send(&mut self, data: Option<(&[u8], i64)>) -> Result<bool, AvError> {
        let ret = match data {
            Some((bytes, pts)) => {
                let pkt = Packet::alloc()?;
                // SAFETY: pkt is a fresh, owned AVPacket. A packet without `buf` is
                // non-refcounted; avcodec_send_packet copies its data before returning, so
                // pointing it at `bytes` for the duration of the call is sound. Length fits
                // c_int: callers pass chunks bounded by u32 and avcodec rejects larger ones.
                unsafe {
                    let p = pkt.ptr.as_ptr();
                    (*p).data = bytes.as_ptr() as *mut u8;
                    (*p).size = c_int::try_from(bytes.len())
                        .map_err(|_| AvError::new("packet size", ff::AVERROR_INVALIDDATA))?;
                    (*p).pts = pts;
                    (*p).dts = NO_PTS;
                    let r = ff::avcodec_send_packet(self.ptr.as_ptr(), p);
                    // Drop must not free `bytes`: detach it first.
                    (*p).data = ptr::null_mut();
                    (*p).size = 0;
                    r
                }
            }
            // SAFETY: a null packet is the documented drain request.
            None => unsafe { ff::avcodec_send_packet(self.ptr.as_ptr(), ptr::null()) },
        };
        if ret == ff::AVERROR(nix::libc::EAGAIN) {
            return Ok(false);
        }
        if ret == ff::AVERROR_EOF {
            // Sending after a drain without a flush: the caller's state machine prevents
            // this, report it as the bug it would be.
            return Err(AvError::new("avcodec_send_packet", ret));
        }
        check("avcodec_send_packet", ret).map(|_| true)
    }

    /// The next decoded frame, `Ok(None)` when more input is needed or the decoder is fully
    /// drained.
    pub fn receive(&mut self) -> Result<Option<Frame>, AvError> {
        let frame = Frame::alloc()?;
        // SAFETY: both pointers are valid and owned; the frame is empty.
        let ret = unsafe { ff::avcodec_receive_frame(self.ptr.as_ptr(), frame.ptr.as_ptr()) };
        if ret == ff::AVERROR(nix::libc::EAGAIN) || ret == ff::AVERROR_EOF {
            return Ok(None);
        }
        check("avcodec_receive_frame", ret)?;
        Ok(Some(frame))
    }

    /// Drops every buffered packet and frame, and leaves the drained state.
    pub fn flush(&mut self) {
        // SAFETY: valid open context.
        unsafe { ff::avcodec_flush_buffers(self.ptr.as_ptr()) };
    }

    fn as_ptr(&mut self) -> *mut ff::AVCodecContext {
        self.ptr.as_ptr()
    }
}

impl Drop for CodecContext {
    fn drop(&mut self) {
        let mut p = self.ptr.as_ptr();
        // SAFETY: we own the context; avcodec_free_context closes and frees it and nulls p.
        unsafe { ff::avcodec_free_context(&mut p) };
    }
}

/// Bytes followed by `AV_INPUT_BUFFER_PADDING_SIZE` zero bytes, as libavcodec's parsers
/// require of their input (they read, and copy, past the end; found by the decode fuzzer).
#[derive(Default)]
pub struct PaddedBuf {
    buf: Vec<u8>,
    len: usize,
}

impl PaddedBuf {
    /// Replaces the contents with `data`.
    pub fn set(&mut self, data: &[u8]) {
        self.buf.clear();
        self.buf
            .reserve(data.len() + ff::AV_INPUT_BUFFER_PADDING_SIZE as usize);
        self.buf.extend_from_slice(data);
        self.buf
            .resize(data.len() + ff::AV_INPUT_BUFFER_PADDING_SIZE as usize, 0);
        self.len = data.len();
    }

    /// Length without the padding.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no bytes (padding aside).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A complete access unit from the parser and its timestamp.
pub type Unit<'a> = (&'a [u8], i64);

/// A bitstream parser that splits a byte stream into access units.
pub struct Parser {
    ptr: NonNull<ff::AVCodecParserContext>,
}

// SAFETY: used through &mut self only, never concurrently.
unsafe impl Send for Parser {}

impl Parser {
    /// A parser for `codec`.
    pub fn new(codec: CodecId) -> Result<Self, AvError> {
        // SAFETY: av_parser_init takes a codec id and returns an owned context or null.
        let raw = unsafe { ff::av_parser_init(codec.raw() as c_int) };
        NonNull::new(raw)
            .map(|ptr| Self { ptr })
            .ok_or(AvError::new(
                "av_parser_init",
                ff::AVERROR_DECODER_NOT_FOUND,
            ))
    }

    /// Feeds the bytes of `input` from `offset` on (none: flush at end of stream) with
    /// timestamp `pts`. Returns how many bytes were consumed and the completed unit, if any,
    /// with its timestamp. The unit lives in the parser's buffer or in `input` and is valid
    /// until the next call.
    pub fn parse<'a>(
        &'a mut self,
        ctx: &mut CodecContext,
        input: &'a PaddedBuf,
        offset: usize,
        pts: i64,
    ) -> Result<(usize, Option<Unit<'a>>), AvError> {
        let mut out: *mut u8 = ptr::null_mut();
        let mut out_len: c_int = 0;
        let remaining = input.len().saturating_sub(offset);
        let len = c_int::try_from(remaining)
            .map_err(|_| AvError::new("av_parser_parse2", ff::AVERROR_INVALIDDATA))?;
        let data = if remaining == 0 {
            ptr::null()
        } else {
            // Derived from the whole padded allocation, so the parser's reads past the
            // logical end stay inside memory this pointer may access.
            input.buf[offset..].as_ptr()
        };
        // SAFETY: parser and context are valid and exclusively borrowed; data is readable
        // for len bytes plus AV_INPUT_BUFFER_PADDING_SIZE zero bytes (PaddedBuf's invariant),
        // which av_parser_parse2 requires because parsers copy and scan past the end; a
        // null pointer with length 0 is the documented flush.
        let used = unsafe {
            ff::av_parser_parse2(
                self.ptr.as_ptr(),
                ctx.as_ptr(),
                &mut out,
                &mut out_len,
                data,
                len,
                pts,
                NO_PTS,
                -1,
            )
        };
        let used = check("av_parser_parse2", used)? as usize;
        if out.is_null() || out_len <= 0 {
            return Ok((used.min(remaining), None));
        }
        // SAFETY: libavcodec guarantees out points at out_len readable bytes that stay valid
        // until the next parse call on this parser, which the returned borrow of self
        // prevents (and, when they lie in `input`, the borrow of input).
        let unit = unsafe { std::slice::from_raw_parts(out, out_len as usize) };
        // SAFETY: reading a plain field of the valid parser context.
        let unit_pts = unsafe { (*self.ptr.as_ptr()).pts };
        Ok((used.min(remaining), Some((unit, unit_pts))))
    }
}

impl Drop for Parser {
    fn drop(&mut self) {
        // SAFETY: we own the parser; av_parser_close frees it.
        unsafe { ff::av_parser_close(self.ptr.as_ptr()) };
    }
}

/// Pixel formats a decoder can hand us, as far as the daemon cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramePixels {
    /// Planar 4:2:0, 8 bits (`yuv420p`, or `yuvj420p` whose samples are the same).
    Yuv420p8,
    /// Planar 4:2:0, 10 bits in 16-bit little-endian words (`yuv420p10le`).
    Yuv420p10,
    /// Anything else, by FFmpeg's numeric id.
    Other(i32),
}

/// A decoded frame (`AVFrame`), owned.
pub struct Frame {
    ptr: NonNull<ff::AVFrame>,
}

// SAFETY: a decoded AVFrame is reference-counted and immutable once returned; we only read
// it, from one thread at a time.
unsafe impl Send for Frame {}

impl Frame {
    fn alloc() -> Result<Self, AvError> {
        // SAFETY: av_frame_alloc returns an owned frame or null.
        NonNull::new(unsafe { ff::av_frame_alloc() })
            .map(|ptr| Self { ptr })
            .ok_or(AvError::oom("av_frame_alloc"))
    }

    fn raw(&self) -> &ff::AVFrame {
        // SAFETY: ptr is valid for our lifetime and only read.
        unsafe { self.ptr.as_ref() }
    }

    /// Visible width.
    pub fn width(&self) -> u32 {
        self.raw().width.max(0) as u32
    }

    /// Visible height.
    pub fn height(&self) -> u32 {
        self.raw().height.max(0) as u32
    }

    /// The sample layout.
    pub fn pixels(&self) -> FramePixels {
        let f = self.raw().format;
        if f == ff::AVPixelFormat::AV_PIX_FMT_YUV420P as i32
            || f == ff::AVPixelFormat::AV_PIX_FMT_YUVJ420P as i32
        {
            FramePixels::Yuv420p8
        } else if f == ff::AVPixelFormat::AV_PIX_FMT_YUV420P10LE as i32 {
            FramePixels::Yuv420p10
        } else {
            FramePixels::Other(f)
        }
    }

    /// Presentation timestamp as passed in with the packet.
    pub fn pts(&self) -> i64 {
        self.raw().pts
    }

    /// Intra frame.
    pub fn key_frame(&self) -> bool {
        self.raw().key_frame != 0
    }

    /// Decoded with errors concealed.
    pub fn corrupt(&self) -> bool {
        let r = self.raw();
        r.decode_error_flags != 0 || r.flags & ff::AV_FRAME_FLAG_CORRUPT != 0
    }

    /// Coded as fields, and which comes first.
    pub fn interlaced(&self) -> (bool, bool) {
        let r = self.raw();
        (r.interlaced_frame != 0, r.top_field_first != 0)
    }

    /// Plane `i` (0 = Y, 1 = Cb, 2 = Cr): its bytes covering `rows` rows of `row_bytes`,
    /// and its line size. `None` if the plane is absent, smaller than asked, or bottom-up.
    pub fn plane(&self, i: usize, rows: usize, row_bytes: usize) -> Option<(&[u8], usize)> {
        let r = self.raw();
        let data = *r.data.get(i)?;
        let stride = usize::try_from(*r.linesize.get(i)?).ok()?;
        if data.is_null() || rows == 0 || stride < row_bytes {
            return None;
        }
        let len = stride * (rows - 1) + row_bytes;
        // SAFETY: the decoder allocated each plane with `linesize` bytes per row for at least
        // the frame's plane height; callers derive rows/row_bytes from width/height and the
        // format (checked above against linesize), so the range is inside the plane and
        // stays valid and unmodified while the frame is referenced by self.
        Some((unsafe { std::slice::from_raw_parts(data, len) }, stride))
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        let mut p = self.ptr.as_ptr();
        // SAFETY: we own the frame; av_frame_free unrefs and frees it.
        unsafe { ff::av_frame_free(&mut p) };
    }
}

/// An owned `AVPacket`.
struct Packet {
    ptr: NonNull<ff::AVPacket>,
}

impl Packet {
    fn alloc() -> Result<Self, AvError> {
        // SAFETY: returns an owned packet or null.
        NonNull::new(unsafe { ff::av_packet_alloc() })
            .map(|ptr| Self { ptr })
            .ok_or(AvError::oom("av_packet_alloc"))
    }

    fn data(&self) -> &[u8] {
        // SAFETY: valid packet; data is readable for size bytes when non-null.
        unsafe {
            let p = self.ptr.as_ref();
            if p.data.is_null() || p.size <= 0 {
                &[]
            } else {
                std::slice::from_raw_parts(p.data, p.size as usize)
            }
        }
    }

    fn unref(&mut self) {
        // SAFETY: valid packet; unref resets it to empty.
        unsafe { ff::av_packet_unref(self.ptr.as_ptr()) };
    }
}

impl Drop for Packet {
    fn drop(&mut self) {
        let mut p = self.ptr.as_ptr();
        // SAFETY: we own it; av_packet_free unrefs and frees.
        unsafe { ff::av_packet_free(&mut p) };
    }
}

/// What a container says about its video stream.
#[derive(Clone, Debug)]
pub struct StreamInfo {
    /// The codec, if one the daemon decodes.
    pub codec: Option<CodecId>,
    /// libavcodec's name for the codec, for messages.
    pub codec_name: String,
    /// Codec extradata (avcC, av1C ...), empty if none.
    pub extradata: Vec<u8>,
    /// Whether H.264 comes length-prefixed (MP4/MKV) and needs conversion to Annex B.
    pub needs_annexb: bool,
    /// Container format name.
    pub format_name: String,
}

/// A demuxer over a file (`AVFormatContext`), yielding the packets of its best video stream
/// as the V4L2 output queue would carry them: Annex-B H.264, whole VP9/AV1 frames.
pub struct Demuxer {
    fmt: NonNull<ff::AVFormatContext>,
    stream: c_int,
    pkt: Packet,
    bsf: Option<NonNull<ff::AVBSFContext>>,
    bsf_eof_sent: bool,
    info: StreamInfo,
}

impl Demuxer {
    /// Opens `path` and picks its best video stream.
    pub fn open(path: &std::path::Path) -> Result<Self, AvError> {
        let cpath = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| AvError::new("avformat_open_input", -22))?;
        let mut raw: *mut ff::AVFormatContext = ptr::null_mut();
        // SAFETY: raw is null so libavformat allocates; path is NUL-terminated; format and
        // options are null (probe).
        check("avformat_open_input", unsafe {
            ff::avformat_open_input(&mut raw, cpath.as_ptr(), ptr::null(), ptr::null_mut())
        })?;
        let fmt = NonNull::new(raw).ok_or(AvError::oom("avformat_open_input"))?;
        let mut me = Self {
            fmt,
            stream: -1,
            pkt: Packet::alloc()?,
            bsf: None,
            bsf_eof_sent: false,
            info: StreamInfo {
                codec: None,
                codec_name: String::new(),
                extradata: Vec::new(),
                needs_annexb: false,
                format_name: String::new(),
            },
        };
        // SAFETY: valid opened context; options null.
        check("avformat_find_stream_info", unsafe {
            ff::avformat_find_stream_info(me.fmt.as_ptr(), ptr::null_mut())
        })?;
        // SAFETY: valid context; no decoder out-pointer requested.
        me.stream = check("av_find_best_stream", unsafe {
            ff::av_find_best_stream(
                me.fmt.as_ptr(),
                ff::AVMediaType::AVMEDIA_TYPE_VIDEO,
                -1,
                -1,
                ptr::null_mut(),
                0,
            )
        })?;
        // SAFETY: stream index was returned by av_find_best_stream, so streams[index] and
        // its codecpar are valid; iformat is set by avformat_open_input.
        let par = unsafe {
            let f = me.fmt.as_ref();
            me.info.format_name = CStr::from_ptr((*f.iformat).name)
                .to_string_lossy()
                .into_owned();
            (**f.streams.add(me.stream as usize)).codecpar
        };
        // SAFETY: par is valid (above); extradata is readable for extradata_size bytes.
        let (id, extradata) = unsafe {
            let p = &*par;
            let extra = if p.extradata.is_null() || p.extradata_size <= 0 {
                Vec::new()
            } else {
                std::slice::from_raw_parts(p.extradata, p.extradata_size as usize).to_vec()
            };
            (p.codec_id, extra)
        };
        // SAFETY: avcodec_get_name returns a static string for any id.
        me.info.codec_name = unsafe { CStr::from_ptr(ff::avcodec_get_name(id)) }
            .to_string_lossy()
            .into_owned();
        me.info.codec = CodecId::from_raw(id);
        // avcC extradata starts with version 1; Annex-B extradata with a start code.
        me.info.needs_annexb =
            me.info.codec == Some(CodecId::H264) && extradata.first() == Some(&1);
        me.info.extradata = extradata;
        if me.info.needs_annexb {
            me.bsf = Some(me.open_bsf(c"h264_mp4toannexb", par)?);
        }
        Ok(me)
    }

    fn open_bsf(
        &self,
        name: &CStr,
        par: *const ff::AVCodecParameters,
    ) -> Result<NonNull<ff::AVBSFContext>, AvError> {
        // SAFETY: name is NUL-terminated; returns a static filter or null.
        let filter = unsafe { ff::av_bsf_get_by_name(name.as_ptr()) };
        if filter.is_null() {
            return Err(AvError::new(
                "av_bsf_get_by_name",
                ff::AVERROR_BSF_NOT_FOUND,
            ));
        }
        let mut raw: *mut ff::AVBSFContext = ptr::null_mut();
        // SAFETY: filter valid; raw receives an owned context.
        check("av_bsf_alloc", unsafe {
            ff::av_bsf_alloc(filter, &mut raw)
        })?;
        let bsf = NonNull::new(raw).ok_or(AvError::oom("av_bsf_alloc"))?;
        let free = |mut p: *mut ff::AVBSFContext| {
            // SAFETY: p is the context allocated above and not yet handed out.
            unsafe { ff::av_bsf_free(&mut p) }
        };
        // SAFETY: par_in was allocated by av_bsf_alloc; par is the stream's valid codecpar.
        if let Err(e) = check("avcodec_parameters_copy", unsafe {
            ff::avcodec_parameters_copy((*bsf.as_ptr()).par_in, par)
        }) {
            free(bsf.as_ptr());
            return Err(e);
        }
        // SAFETY: fully configured context.
        if let Err(e) = check("av_bsf_init", unsafe { ff::av_bsf_init(bsf.as_ptr()) }) {
            free(bsf.as_ptr());
            return Err(e);
        }
        Ok(bsf)
    }

    /// Facts about the chosen stream.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// The next packet of the video stream (Annex B for H.264), or `None` at the end.
    pub fn next_packet(&mut self) -> Result<Option<&[u8]>, AvError> {
        loop {
            self.pkt.unref();
            if let Some(bsf) = self.bsf {
                // SAFETY: valid bsf and packet (empty after unref).
                let r = unsafe { ff::av_bsf_receive_packet(bsf.as_ptr(), self.pkt.ptr.as_ptr()) };
                if r == 0 {
                    return Ok(Some(self.pkt.data()));
                }
                if r == ff::AVERROR_EOF {
                    return Ok(None);
                }
                if r != ff::AVERROR(nix::libc::EAGAIN) {
                    return Err(AvError::new("av_bsf_receive_packet", r));
                }
                if self.bsf_eof_sent {
                    return Ok(None);
                }
            }
            // SAFETY: valid context and empty packet.
            let r = unsafe { ff::av_read_frame(self.fmt.as_ptr(), self.pkt.ptr.as_ptr()) };
            if r == ff::AVERROR_EOF {
                match self.bsf {
                    Some(bsf) => {
                        // SAFETY: a null packet signals end of stream to the filter.
                        check("av_bsf_send_packet", unsafe {
                            ff::av_bsf_send_packet(bsf.as_ptr(), ptr::null_mut())
                        })?;
                        self.bsf_eof_sent = true;
                        continue;
                    }
                    None => return Ok(None),
                }
            }
            check("av_read_frame", r)?;
            // SAFETY: the packet was filled by av_read_frame.
            if unsafe { self.pkt.ptr.as_ref() }.stream_index != self.stream {
                continue;
            }
            match self.bsf {
                Some(bsf) => {
                    // SAFETY: filter takes ownership of the packet's reference and leaves
                    // pkt blank.
                    check("av_bsf_send_packet", unsafe {
                        ff::av_bsf_send_packet(bsf.as_ptr(), self.pkt.ptr.as_ptr())
                    })?;
                }
                None => return Ok(Some(self.pkt.data())),
            }
        }
    }
}

impl Drop for Demuxer {
    fn drop(&mut self) {
        if let Some(bsf) = self.bsf {
            let mut p = bsf.as_ptr();
            // SAFETY: we own the filter context.
            unsafe { ff::av_bsf_free(&mut p) };
        }
        let mut p = self.fmt.as_ptr();
        // SAFETY: we own the opened input; close frees it.
        unsafe { ff::avformat_close_input(&mut p) };
    }
}

/// A shared mapping of an attached buffer (dmabuf, memfd, or a range of the character
/// device). Access goes through copies, never through Rust references into the mapping,
/// because the peer may write the memory at any time.
pub struct Mapping {
    ptr: NonNull<std::ffi::c_void>,
    map_len: usize,
    /// Where the buffer starts inside the page-aligned mapping.
    base: usize,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; all access copies through raw pointers.
unsafe impl Send for Mapping {}

// SAFETY: no method hands out a reference into the mapping; reads and writes are copies
// through raw pointers, so concurrent use from several threads (sessions sharing one area at
// disjoint offsets) has no Rust-level aliasing. The bytes themselves are shared with the
// peer by design.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd` from `offset`, read-write and shared. `offset` need not be
    /// page-aligned: the mapping starts at the page below it.
    pub fn new(fd: impl AsFd, offset: u64, len: usize) -> Result<Self, nix::Error> {
        use nix::sys::mman::{MapFlags, ProtFlags, mmap};
        let page = 4096u64;
        let base = (offset % page) as usize;
        let map_len = len.checked_add(base).ok_or(nix::Error::EOVERFLOW)?;
        let nz = NonZeroUsize::new(map_len).ok_or(nix::Error::EINVAL)?;
        if len == 0 {
            return Err(nix::Error::EINVAL);
        }
        let off = i64::try_from(offset - base as u64).map_err(|_| nix::Error::EOVERFLOW)?;
        // SAFETY: a fresh shared mapping at an address of the kernel's choosing does not
        // alias any Rust object; fd stays open for the call, and the mapping outlives it.
        let ptr = unsafe {
            mmap(
                None,
                nz,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                fd,
                off,
            )
        }?;
        Ok(Self {
            ptr,
            map_len,
            base,
            len,
        })
    }

    /// Mapped length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: `new` refuses 0).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `dst.len()` bytes from `offset`. `false` if the range is outside.
    pub fn read(&self, offset: usize, dst: &mut [u8]) -> bool {
        let Some(end) = offset.checked_add(dst.len()) else {
            return false;
        };
        if end > self.len {
            return false;
        }
        // SAFETY: the range is inside the mapping (checked); dst is a distinct Rust buffer.
        unsafe {
            ptr::copy_nonoverlapping(
                (self.ptr.as_ptr() as *const u8).add(self.base + offset),
                dst.as_mut_ptr(),
                dst.len(),
            )
        };
        true
    }

    /// Copies `src` to `offset`. `false` if the range is outside.
    pub fn write(&self, offset: usize, src: &[u8]) -> bool {
        let Some(end) = offset.checked_add(src.len()) else {
            return false;
        };
        if end > self.len {
            return false;
        }
        // SAFETY: the range is inside the writable mapping (checked); src is a distinct
        // Rust buffer.
        unsafe {
            ptr::copy_nonoverlapping(
                src.as_ptr(),
                (self.ptr.as_ptr() as *mut u8).add(self.base + offset),
                src.len(),
            )
        };
        true
    }
}

/// Writes frame rows into a [`Mapping`] with non-temporal stores where the CPU has them
/// (x86-64: SSE2 `movntdq`, part of the base ISA), so that the destination lines are neither
/// read from memory first nor left in the caches.
///
/// Why: a capture buffer is written once and then read by someone else (the module's
/// client, a display or an encoder), never by the decoder. With ordinary stores each
/// destination line is first fetched for ownership and then evicted later, and `perf record`
/// of the loopback benchmark put that copy at 9 % of the decoding thread's time on 1080p
/// H.264; non-temporal stores cut it by a fifth to a half in alternated runs (docs/daemon.md,
/// "Benchmark").
/// Elsewhere (aarch64) rows are copied plainly.
///
/// Non-temporal stores are weakly ordered: dropping the writer issues `sfence`, so every
/// row is globally visible before the caller announces the frame.
pub struct StreamingWriter<'a> {
    map: &'a Mapping,
}

impl Mapping {
    /// A writer for a run of rows; see [`StreamingWriter`].
    pub fn streaming(&self) -> StreamingWriter<'_> {
        StreamingWriter { map: self }
    }
}

impl StreamingWriter<'_> {
    /// Copies `src` to `offset` of the mapping. `false` if the range is outside.
    pub fn write(&mut self, offset: usize, src: &[u8]) -> bool {
        let Some(end) = offset.checked_add(src.len()) else {
            return false;
        };
        if end > self.map.len {
            return false;
        }
        // SAFETY: offset + src.len() lies inside the mapping (checked above), so the
        // pointer stays inside it.
        let dst = unsafe { (self.map.ptr.as_ptr() as *mut u8).add(self.map.base + offset) };
        // SAFETY: dst..dst + src.len() is inside the writable mapping (checked above) and
        // src is a distinct Rust buffer of that length.
        unsafe { stream_copy(src, dst) };
        true
    }
}

impl Drop for StreamingWriter<'_> {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: sfence has no memory operands and SSE2 is part of x86-64.
        unsafe {
            std::arch::x86_64::_mm_sfence()
        };
    }
}

/// Copies `src` to `dst`: the 16-byte-aligned middle with non-temporal stores, the
/// unaligned head and tail plainly.
///
/// # Safety
/// `dst..dst + src.len()` must be writable and must not overlap `src`.
#[cfg(target_arch = "x86_64")]
unsafe fn stream_copy(src: &[u8], dst: *mut u8) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_stream_si128};
    let n = src.len();
    let head = (dst as usize).wrapping_neg() % 16;
    if n < head + 64 {
        // SAFETY: the caller's contract.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), dst, n) };
        return;
    }
    let body = (n - head) & !15;
    // SAFETY: head < 16 <= n bytes of both buffers (the caller's contract).
    unsafe { ptr::copy_nonoverlapping(src.as_ptr(), dst, head) };
    let mut i = head;
    // Four stores per iteration fill a whole 64-byte write-combining buffer.
    while i + 64 <= head + body {
        // SAFETY: i + 64 <= n, so the four loads read inside src and the four stores
        // write inside dst; dst + i is 16-byte aligned because dst + head is.
        unsafe {
            let s = src.as_ptr().add(i) as *const __m128i;
            let d = dst.add(i) as *mut __m128i;
            let (a, b) = (_mm_loadu_si128(s), _mm_loadu_si128(s.add(1)));
            let (c, e) = (_mm_loadu_si128(s.add(2)), _mm_loadu_si128(s.add(3)));
            _mm_stream_si128(d, a);
            _mm_stream_si128(d.add(1), b);
            _mm_stream_si128(d.add(2), c);
            _mm_stream_si128(d.add(3), e);
        }
        i += 64;
    }
    while i < head + body {
        // SAFETY: i + 16 <= head + body <= n; dst + i is 16-byte aligned.
        unsafe {
            let v = _mm_loadu_si128(src.as_ptr().add(i) as *const __m128i);
            _mm_stream_si128(dst.add(i) as *mut __m128i, v);
        }
        i += 16;
    }
    // SAFETY: the last n - i < 16 bytes of both buffers.
    unsafe { ptr::copy_nonoverlapping(src.as_ptr().add(i), dst.add(i), n - i) };
}

/// Copies `src` to `dst`.
///
/// # Safety
/// `dst..dst + src.len()` must be writable and must not overlap `src`.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn stream_copy(src: &[u8], dst: *mut u8) {
    // SAFETY: the caller's contract.
    unsafe { ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/map_len are exactly what mmap returned; nothing references the mapping.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr, self.map_len) };
    }
}

/// Takes ownership of descriptors the kernel installed for us with `SCM_RIGHTS`.
pub fn adopt_received_fds(raw: Vec<std::os::fd::RawFd>) -> Vec<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    raw.into_iter()
        .filter(|&fd| fd >= 0)
        // SAFETY: recvmsg just created these descriptors in this process for this message;
        // nothing else owns them, so each is adopted exactly once.
        .map(|fd| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
        .collect()
}

/// Takes ownership of a descriptor returned by `accept4`.
pub fn adopt_accepted_fd(raw: std::os::fd::RawFd) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: accept4 returned a new descriptor that nothing else owns.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) }
}

/// One `DAEDALUS_IOC_RECV` on the module's character device: copies the next message into
/// `buf` and returns its length and the dmabuf descriptor the module installed for it, if
/// any (`daedalus_proto::chardev`). Blocks unless the device was opened non-blocking.
pub fn chardev_recv(
    dev: std::os::fd::BorrowedFd<'_>,
    buf: &mut [u8],
) -> Result<(usize, Option<std::os::fd::OwnedFd>), nix::errno::Errno> {
    use daedalus_proto::chardev::{IOC_RECV, RecvArg};
    use nix::errno::Errno;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let len = u32::try_from(buf.len()).map_err(|_| Errno::EINVAL)?;
    if buf.len() < daedalus_proto::MAX_MESSAGE_LEN {
        // The module refuses shorter buffers with EMSGSIZE; say so before asking.
        return Err(Errno::EMSGSIZE);
    }
    let mut arg = RecvArg {
        buf: buf.as_mut_ptr() as u64,
        len,
        fd: -1,
    };
    // SAFETY: IOC_RECV takes a pointer to a `RecvArg` (layout asserted in daedalus-proto),
    // which lives on this stack frame for the whole call; the module writes at most `len`
    // bytes to `arg.buf`, which `buf` provides (exclusively borrowed for the call), and
    // writes back only the 16 bytes of `arg`.
    let ret = unsafe { nix::libc::ioctl(dev.as_raw_fd(), IOC_RECV as _, &mut arg as *mut RecvArg) };
    let n = Errno::result(ret)?;
    // SAFETY: on success a non-negative `fd` is a descriptor the module has just installed
    // in this process for this message; nothing else owns it, so it is adopted exactly once.
    let fd = (arg.fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(arg.fd) });
    let n = usize::try_from(n).map_err(|_| Errno::EPROTO)?;
    if n > buf.len() {
        return Err(Errno::EPROTO);
    }
    Ok((n, fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length and destination alignment around the 16-byte store width and the
    /// 64-byte loop: the written range equals the source, the bytes around it are
    /// untouched, and out-of-range writes are refused without writing.
    #[test]
    fn streaming_writes_equal_plain_writes_and_stay_in_range() {
        let size = 4096;
        let fd = nix::sys::memfd::memfd_create(
            c"stream-test",
            nix::sys::memfd::MemFdCreateFlag::empty(),
        )
        .unwrap();
        nix::unistd::ftruncate(&fd, size as i64).unwrap();
        let map = Mapping::new(fd.as_fd(), 0, size).unwrap();
        let src: Vec<u8> = (0..1024u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut got = vec![0u8; size];
        for offset in 0..40 {
            for len in (0..200).chain([1023, 1024]) {
                map.write(0, &vec![0xa5; size]);
                {
                    let mut w = map.streaming();
                    assert!(w.write(offset, &src[..len]));
                }
                assert!(map.read(0, &mut got));
                assert!(got[..offset].iter().all(|&b| b == 0xa5), "{offset} {len}");
                assert_eq!(&got[offset..offset + len], &src[..len], "{offset} {len}");
                assert!(
                    got[offset + len..].iter().all(|&b| b == 0xa5),
                    "{offset} {len}"
                );
            }
        }
        map.write(0, &vec![0xa5; size]);
        let mut w = map.streaming();
        assert!(!w.write(size - 10, &src[..11]));
        assert!(!w.write(usize::MAX, &src[..1]));
        drop(w);
        assert!(map.read(0, &mut got));
        assert!(got.iter().all(|&b| b == 0xa5));
    }
}
