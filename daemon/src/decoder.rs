//! The decoder core: a backend-neutral trait, the picture it produces, and the libavcodec
//! backend.
//!
//! A backend takes bitstream exactly as the V4L2 stateful interface delivers it (arbitrary
//! chunks of an H.264 Annex-B stream, whole VP9 frames, whole AV1 temporal units), each
//! chunk tagged with an opaque `u64`, and returns pictures in display order carrying the tag
//! of the chunk they came from. A QPU-assisted backend implements the same trait later; the
//! session logic, transports and the file decoder do not change.

use daedalus_proto::{Codec, PixelFormat, frame_flags};
use thiserror::Error;

use crate::sys::{self, AvError, CodecContext, CodecId, FramePixels, PaddedBuf, Parser};

/// Why a decoder could not be created or a chunk could not be decoded.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// libavcodec rejected the data or failed.
    #[error(transparent)]
    Av(#[from] AvError),
    /// The decoder produced a layout the capture formats cannot carry.
    #[error(
        "frame in pixel format {format} (FFmpeg id) is not 4:2:0 at 8 or 10 bits; only NV12 and P010 output is supported"
    )]
    UnsupportedPixels {
        /// FFmpeg's numeric `AVPixelFormat`.
        format: i32,
    },
    /// The decoder produced a frame with no pixels.
    #[error("decoder produced an empty {width}x{height} frame")]
    EmptyFrame {
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
    },
}

impl DecodeError {
    /// Whether the input, rather than the daemon or the system, is at fault.
    pub fn is_bad_input(&self) -> bool {
        match self {
            DecodeError::Av(e) => e.is_invalid_data(),
            DecodeError::UnsupportedPixels { .. } | DecodeError::EmptyFrame { .. } => true,
        }
    }
}

/// Everything about a decoded picture except its samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    /// Visible width in pixels.
    pub width: u32,
    /// Visible height in pixels.
    pub height: u32,
    /// Output layout: NV12 for 8-bit, P010 for 10-bit.
    pub format: PixelFormat,
    /// Tag of the chunk the picture came from, if the backend could tell.
    pub tag: Option<u64>,
    /// [`frame_flags`] bits (keyframe, error, interlaced, top field first).
    pub flags: u32,
}

impl FrameInfo {
    /// Bytes of one row of `plane` (0 = luma, 1 = interleaved chroma) in the output format.
    pub fn row_bytes(&self, plane: usize) -> usize {
        let bps = self.format.bytes_per_sample() as usize;
        match plane {
            0 => self.width as usize * bps,
            _ => self.width.div_ceil(2) as usize * 2 * bps,
        }
    }

    /// Rows of `plane`.
    pub fn rows(&self, plane: usize) -> u32 {
        match plane {
            0 => self.height,
            _ => self.height.div_ceil(2),
        }
    }

    /// Size of the tightly packed frame (what `ffmpeg -f rawvideo` writes).
    pub fn packed_size(&self) -> usize {
        self.row_bytes(0) * self.rows(0) as usize + self.row_bytes(1) * self.rows(1) as usize
    }
}

/// A decoded picture that can write itself in NV12/P010 row by row.
pub trait Picture: Send {
    /// Its geometry, format, tag and flags.
    fn info(&self) -> &FrameInfo;

    /// Writes row `y` of `plane` (0 = luma, 1 = interleaved CbCr) into `dst`, which is
    /// exactly `info().row_bytes(plane)` long.
    fn write_row(&self, plane: usize, y: u32, dst: &mut [u8]);

    /// Row `y` of `plane` when the decoder already holds it in the output format (8-bit
    /// luma), so writers can copy it once instead of through a scratch row.
    fn direct_row(&self, _plane: usize, _y: u32) -> Option<&[u8]> {
        None
    }
}

/// Where the two planes of a picture go in a destination buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlaneLayout {
    /// Byte offset of the luma plane and of the chroma plane.
    pub offset: [usize; 2],
    /// Line stride of each plane.
    pub stride: [usize; 2],
}

impl PlaneLayout {
    /// Tightly packed, as `ffmpeg -f rawvideo` writes frames.
    pub fn packed(info: &FrameInfo) -> Self {
        let luma = info.row_bytes(0);
        Self {
            offset: [0, luma * info.rows(0) as usize],
            stride: [luma, info.row_bytes(1)],
        }
    }

    /// One buffer, both planes with the same stride, chroma after `height` luma lines: the
    /// V4L2 single-plane NV12/P010 layout of a capture buffer.
    pub fn capture(stride: usize, height: u32) -> Self {
        Self {
            offset: [0, stride * height as usize],
            stride: [stride, stride],
        }
    }
}

/// Writes `pic` through `sink(offset, bytes)` in `layout`, one row at a time, using `row` as
/// scratch. Stops and returns `false` when the sink refuses a write.
pub fn write_picture(
    pic: &dyn Picture,
    layout: &PlaneLayout,
    row: &mut Vec<u8>,
    sink: &mut dyn FnMut(usize, &[u8]) -> bool,
) -> bool {
    let info = *pic.info();
    for plane in 0..2 {
        row.resize(info.row_bytes(plane), 0);
        for y in 0..info.rows(plane) {
            let offset = layout.offset[plane] + y as usize * layout.stride[plane];
            // Rows the decoder holds in the output format already (8-bit luma) go out
            // with one copy; the rest are converted into the scratch row first.
            let ok = match pic.direct_row(plane, y) {
                Some(src) => sink(offset, src),
                None => {
                    pic.write_row(plane, y, row);
                    sink(offset, row)
                }
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

/// A decoder backend.
pub trait Decoder: Send {
    /// Decodes one chunk tagged `tag`; every picture that becomes ready, in display order,
    /// goes to `out`. An error concerns this chunk only: pictures already produced were
    /// delivered and the decoder accepts the next chunk.
    fn decode(
        &mut self,
        data: &[u8],
        tag: u64,
        out: &mut dyn FnMut(Box<dyn Picture>),
    ) -> Result<(), DecodeError>;

    /// End of stream: delivers every pending picture, then resets so decoding can start
    /// again with a new stream.
    fn drain(&mut self, out: &mut dyn FnMut(Box<dyn Picture>)) -> Result<(), DecodeError>;

    /// Drops every pending chunk and picture (seek); the next picture comes from the next
    /// key frame.
    fn flush(&mut self) -> Result<(), DecodeError>;
}

/// Options for a decoder.
#[derive(Clone, Debug)]
pub struct DecoderConfig {
    /// The codec.
    pub codec: Codec,
    /// Decoding threads; 1 decodes in the calling thread with no added delay.
    pub threads: u32,
    /// Codec configuration from a container (avcC, av1C); empty on the V4L2 path, where it
    /// comes in-band.
    pub extradata: Vec<u8>,
}

/// Creates the default backend for `config`.
pub fn open(config: &DecoderConfig) -> Result<Box<dyn Decoder>, DecodeError> {
    Ok(Box::new(FfmpegDecoder::new(config)?))
}

/// The libavcodec backend: FFmpeg's native H.264 and VP9 decoders, and libdav1d for AV1
/// (FFmpeg 5.1's native AV1 decoder only drives hardware accelerators).
pub struct FfmpegDecoder {
    codec: Codec,
    config: DecoderConfig,
    ctx: CodecContext,
    /// H.264 only: the V4L2 chunks are arbitrary, FFmpeg's parser finds access units.
    parser: Option<Parser>,
    /// The current chunk, padded as the parser requires.
    input: PaddedBuf,
    /// H.264: which chunk each access unit starts in (see [`UnitTags`]).
    unit_tags: UnitTags,
}

/// Gives each H.264 access unit the tag of the chunk holding its first byte, the rule of
/// `dev-decoder.rst` ("Decoding": a frame made from several OUTPUT buffers carries the
/// timestamp of the one queued first). The parser returns units that are consecutive runs of
/// the input bytes, so a running byte count places each one. The parser's own `pts` is not
/// used: it has none for the first unit of a stream, which then went to the newest request
/// (GStreamer's decoder, which matches frames by timestamp, lost that frame).
#[derive(Debug, Default)]
struct UnitTags {
    /// Stream offset at which each chunk not yet passed starts, and its tag.
    chunks: std::collections::VecDeque<(u64, i64)>,
    /// Bytes fed to the parser so far.
    fed: u64,
    /// Stream offset of the next unit's first byte.
    next_unit: u64,
}

impl UnitTags {
    fn chunk(&mut self, len: usize, pts: i64) {
        self.chunks.push_back((self.fed, pts));
        self.fed += len as u64;
    }

    /// The tag of the unit of `len` bytes the parser just returned.
    fn unit(&mut self, len: usize) -> i64 {
        let start = self.next_unit;
        self.next_unit += len as u64;
        while self.chunks.len() > 1 && self.chunks[1].0 <= start {
            self.chunks.pop_front();
        }
        self.chunks.front().map_or(sys::NO_PTS, |&(_, pts)| pts)
    }

    fn reset(&mut self) {
        *self = Self::default();
    }
}

impl FfmpegDecoder {
    /// Opens the decoder.
    pub fn new(config: &DecoderConfig) -> Result<Self, DecodeError> {
        let (name, parser) = match config.codec {
            Codec::H264 => ("h264", Some(Parser::new(CodecId::H264)?)),
            Codec::Vp9 => ("vp9", None),
            Codec::Av1 => ("libdav1d", None),
        };
        let extradata = Some(config.extradata.as_slice()).filter(|e| !e.is_empty());
        Ok(Self {
            codec: config.codec,
            config: config.clone(),
            ctx: CodecContext::open(name, config.threads, extradata)?,
            parser,
            input: PaddedBuf::default(),
            unit_tags: UnitTags::default(),
        })
    }

    fn reset_parser(&mut self) -> Result<(), DecodeError> {
        self.unit_tags.reset();
        if self.codec == Codec::H264 {
            self.parser = Some(Parser::new(CodecId::H264)?);
        }
        Ok(())
    }
}

fn to_pts(tag: u64) -> i64 {
    // Tags are sequence numbers well below 2^63; keep them clear of AV_NOPTS_VALUE.
    (tag & (i64::MAX as u64)) as i64
}

/// Sends one unit and collects what it releases. Errors from `send` concern the unit;
/// `receive` errors are reported after the frames before them were delivered.
fn send_unit(
    ctx: &mut CodecContext,
    unit: Option<(&[u8], i64)>,
    out: &mut dyn FnMut(Box<dyn Picture>),
) -> Result<(), DecodeError> {
    loop {
        let accepted = ctx.send(unit)?;
        let received = receive_all(ctx, out);
        if accepted {
            return received;
        }
        received?;
    }
}

fn receive_all(
    ctx: &mut CodecContext,
    out: &mut dyn FnMut(Box<dyn Picture>),
) -> Result<(), DecodeError> {
    let mut first_err = None;
    loop {
        match ctx.receive() {
            Ok(Some(frame)) => match FfmpegPicture::new(frame) {
                Ok(p) => out(Box::new(p)),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            },
            Ok(None) => break,
            // libdav1d reports corrupt data here; the next receive continues.
            Err(e) if e.is_invalid_data() => {
                first_err.get_or_insert(DecodeError::Av(e));
            }
            Err(e) => return Err(e.into()),
        }
    }
    first_err.map_or(Ok(()), Err)
}

impl Decoder for FfmpegDecoder {
    fn decode(
        &mut self,
        data: &[u8],
        tag: u64,
        out: &mut dyn FnMut(Box<dyn Picture>),
    ) -> Result<(), DecodeError> {
        let pts = to_pts(tag);
        let Some(parser) = self.parser.as_mut() else {
            return send_unit(&mut self.ctx, Some((data, pts)), out);
        };
        self.input.set(data);
        self.unit_tags.chunk(data.len(), pts);
        let mut offset = 0;
        let mut first_err = None;
        while offset < self.input.len() {
            let (used, unit) = parser.parse(&mut self.ctx, &self.input, offset, pts)?;
            if let Some((unit, _)) = unit
                && let Err(e) = send_unit(
                    &mut self.ctx,
                    Some((unit, self.unit_tags.unit(unit.len()))),
                    out,
                )
            {
                if !e.is_bad_input() {
                    return Err(e);
                }
                first_err.get_or_insert(e);
            }
            if used == 0 && unit.is_none() {
                // A parser that neither consumes nor emits would loop forever.
                break;
            }
            offset += used;
        }
        first_err.map_or(Ok(()), Err)
    }

    fn drain(&mut self, out: &mut dyn FnMut(Box<dyn Picture>)) -> Result<(), DecodeError> {
        let mut first_err = None;
        if let Some(parser) = self.parser.as_mut() {
            // An empty parse flushes the last access unit out of the parser.
            self.input.set(&[]);
            let (_, unit) = parser.parse(&mut self.ctx, &self.input, 0, sys::NO_PTS)?;
            if let Some((unit, _)) = unit
                && let Err(e) = send_unit(
                    &mut self.ctx,
                    Some((unit, self.unit_tags.unit(unit.len()))),
                    out,
                )
            {
                first_err.get_or_insert(e);
            }
        }
        if let Err(e) = send_unit(&mut self.ctx, None, out) {
            first_err.get_or_insert(e);
        }
        self.ctx.flush();
        self.reset_parser()?;
        first_err.map_or(Ok(()), Err)
    }

    fn flush(&mut self) -> Result<(), DecodeError> {
        // avcodec_flush_buffers keeps the stream headers, as a seek wants. libdav1d is
        // reopened instead: its flush keeps no sequence header and then refuses a stream
        // whose next temporal unit lacks one.
        if self.codec == Codec::Av1 {
            *self = Self::new(&self.config)?;
        } else {
            self.ctx.flush();
            self.reset_parser()?;
        }
        Ok(())
    }
}

/// A libavcodec frame as a [`Picture`].
struct FfmpegPicture {
    frame: sys::Frame,
    info: FrameInfo,
    ten_bit: bool,
}

impl FfmpegPicture {
    fn new(frame: sys::Frame) -> Result<Self, DecodeError> {
        let (format, ten_bit) = match frame.pixels() {
            FramePixels::Yuv420p8 => (PixelFormat::Nv12, false),
            FramePixels::Yuv420p10 => (PixelFormat::P010, true),
            FramePixels::Other(format) => return Err(DecodeError::UnsupportedPixels { format }),
        };
        let (width, height) = (frame.width(), frame.height());
        let bps = if ten_bit { 2 } else { 1 };
        let cw = width.div_ceil(2) as usize * bps;
        let ch = height.div_ceil(2) as usize;
        let planes_ok = width > 0
            && height > 0
            && frame
                .plane(0, height as usize, width as usize * bps)
                .is_some()
            && frame.plane(1, ch, cw).is_some()
            && frame.plane(2, ch, cw).is_some();
        if !planes_ok {
            return Err(DecodeError::EmptyFrame { width, height });
        }
        let mut flags = 0;
        if frame.key_frame() {
            flags |= frame_flags::KEYFRAME;
        }
        if frame.corrupt() {
            flags |= frame_flags::ERROR;
        }
        let (interlaced, tff) = frame.interlaced();
        if interlaced {
            flags |= frame_flags::INTERLACED;
            if tff {
                flags |= frame_flags::TOP_FIELD_FIRST;
            }
        }
        let pts = frame.pts();
        let info = FrameInfo {
            width,
            height,
            format,
            tag: (pts != sys::NO_PTS && pts >= 0).then_some(pts as u64),
            flags,
        };
        Ok(Self {
            frame,
            info,
            ten_bit,
        })
    }
}

impl Picture for FfmpegPicture {
    fn info(&self) -> &FrameInfo {
        &self.info
    }

    fn direct_row(&self, plane: usize, y: u32) -> Option<&[u8]> {
        if plane != 0 || self.ten_bit || y >= self.info.height {
            return None;
        }
        let w = self.info.width as usize;
        let (src, stride) = self.frame.plane(0, self.info.height as usize, w)?;
        let start = y as usize * stride;
        src.get(start..start + w)
    }

    fn write_row(&self, plane: usize, y: u32, dst: &mut [u8]) {
        let info = &self.info;
        let bps = if self.ten_bit { 2 } else { 1 };
        let y = y as usize;
        if plane == 0 {
            let w = info.width as usize * bps;
            // Checked in `new`: the plane covers height rows of w bytes.
            let Some((src, stride)) = self.frame.plane(0, info.height as usize, w) else {
                return;
            };
            let src = &src[y * stride..y * stride + w];
            if self.ten_bit {
                // P010 keeps the 10-bit value in the top bits of each 16-bit word
                // (videodev2.h, V4L2_PIX_FMT_P010); swscale's yuv420p10le → p010le is the
                // same shift.
                for (d, s) in dst.chunks_exact_mut(2).zip(src.chunks_exact(2)) {
                    let v = u16::from_le_bytes([s[0], s[1]]) << 6;
                    d.copy_from_slice(&v.to_le_bytes());
                }
            } else {
                dst[..w].copy_from_slice(src);
            }
            return;
        }
        let cw = info.width.div_ceil(2) as usize;
        let ch = info.height.div_ceil(2) as usize;
        let (Some((u, us)), Some((v, vs))) = (
            self.frame.plane(1, ch, cw * bps),
            self.frame.plane(2, ch, cw * bps),
        ) else {
            return;
        };
        let u = &u[y * us..y * us + cw * bps];
        let v = &v[y * vs..y * vs + cw * bps];
        // Zipped iterators carry no index bounds checks, so these loops vectorise.
        if self.ten_bit {
            let pairs = u.chunks_exact(2).zip(v.chunks_exact(2));
            for (d, (cu, cv)) in dst.chunks_exact_mut(4).zip(pairs) {
                let cu = u16::from_le_bytes([cu[0], cu[1]]) << 6;
                let cv = u16::from_le_bytes([cv[0], cv[1]]) << 6;
                d[..2].copy_from_slice(&cu.to_le_bytes());
                d[2..].copy_from_slice(&cv.to_le_bytes());
            }
        } else {
            for (d, (&cu, &cv)) in dst.chunks_exact_mut(2).zip(u.iter().zip(v)) {
                d[0] = cu;
                d[1] = cv;
            }
        }
    }
}
