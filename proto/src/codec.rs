//! Codecs and pixel formats, identified on the wire by their V4L2 fourccs so the module can
//! hand them to userspace unchanged (`include/uapi/linux/videodev2.h`).

const fn fourcc(s: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*s)
}

/// A compressed format the daemon may decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// `V4L2_PIX_FMT_H264`: Annex-B byte stream, in arbitrary chunks.
    H264,
    /// `V4L2_PIX_FMT_VP9`: one frame (or superframe) per decode request.
    Vp9,
    /// `V4L2_PIX_FMT_AV1` (`AV01`): one temporal unit of OBUs per decode request.
    Av1,
}

impl Codec {
    /// Every codec, in wire order.
    pub const ALL: [Codec; 3] = [Codec::H264, Codec::Vp9, Codec::Av1];

    /// The V4L2 fourcc used on the wire.
    pub const fn fourcc(self) -> u32 {
        match self {
            Codec::H264 => fourcc(b"H264"),
            Codec::Vp9 => fourcc(b"VP90"),
            Codec::Av1 => fourcc(b"AV01"),
        }
    }

    /// The codec for a wire fourcc, if it is one this protocol knows.
    pub const fn from_fourcc(v: u32) -> Option<Self> {
        if v == fourcc(b"H264") {
            Some(Codec::H264)
        } else if v == fourcc(b"VP90") {
            Some(Codec::Vp9)
        } else if v == fourcc(b"AV01") {
            Some(Codec::Av1)
        } else {
            None
        }
    }

    /// Lowercase name for messages and command lines.
    pub const fn name(self) -> &'static str {
        match self {
            Codec::H264 => "h264",
            Codec::Vp9 => "vp9",
            Codec::Av1 => "av1",
        }
    }
}

/// A decoded-frame layout in a capture buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// `V4L2_PIX_FMT_NV12`: 8-bit Y plane, then interleaved CbCr at half resolution, both
    /// planes in one buffer with the same line stride.
    Nv12,
    /// `V4L2_PIX_FMT_P010`: as NV12 with 16-bit little-endian samples, value in the top 10
    /// bits.
    P010,
}

impl PixelFormat {
    /// Every pixel format, in wire order.
    pub const ALL: [PixelFormat; 2] = [PixelFormat::Nv12, PixelFormat::P010];

    /// The V4L2 fourcc used on the wire.
    pub const fn fourcc(self) -> u32 {
        match self {
            PixelFormat::Nv12 => fourcc(b"NV12"),
            PixelFormat::P010 => fourcc(b"P010"),
        }
    }

    /// The pixel format for a wire fourcc, if known.
    pub const fn from_fourcc(v: u32) -> Option<Self> {
        if v == fourcc(b"NV12") {
            Some(PixelFormat::Nv12)
        } else if v == fourcc(b"P010") {
            Some(PixelFormat::P010)
        } else {
            None
        }
    }

    /// Bytes per luma sample.
    pub const fn bytes_per_sample(self) -> u32 {
        match self {
            PixelFormat::Nv12 => 1,
            PixelFormat::P010 => 2,
        }
    }

    /// Bit of this format in [`CodecCaps::formats`](crate::CodecCaps::formats).
    pub const fn bit(self) -> u32 {
        match self {
            PixelFormat::Nv12 => 1,
            PixelFormat::P010 => 2,
        }
    }

    /// Bytes a `width` x `height` frame needs with line stride `stride`: a full-height luma
    /// plane and a half-height chroma plane (`height` rounded up for odd sizes). `None` if
    /// it does not fit in `u32`.
    pub const fn image_size(self, stride: u32, height: u32) -> Option<u32> {
        let luma = stride as u64 * height as u64;
        let chroma = stride as u64 * height.div_ceil(2) as u64;
        let total = luma + chroma;
        if total > u32::MAX as u64 {
            None
        } else {
            Some(total as u32)
        }
    }

    /// Lowercase name as FFmpeg spells the equivalent format.
    pub const fn name(self) -> &'static str {
        match self {
            PixelFormat::Nv12 => "nv12",
            PixelFormat::P010 => "p010le",
        }
    }
}
