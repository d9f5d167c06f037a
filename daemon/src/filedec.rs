//! Decoding a file without the kernel module: libavformat demuxes, the decoder core decodes,
//! frames are written tightly packed (what `ffmpeg -f rawvideo -pix_fmt nv12|p010le` writes).

use std::io::Write;
use std::path::Path;

use daedalus_proto::{Codec, PixelFormat};
use thiserror::Error;

use crate::decoder::{self, DecodeError, DecoderConfig, Picture, PlaneLayout, write_picture};
use crate::sys::{AvError, CodecId, Demuxer};

/// Why a file could not be decoded.
#[derive(Debug, Error)]
pub enum FileError {
    /// libavformat could not open or read it.
    #[error("cannot read {path}: {source}")]
    Demux {
        /// The input.
        path: String,
        /// The libavformat error.
        source: AvError,
    },
    /// The video stream uses a codec the daemon does not decode.
    #[error("{path}: video codec {codec} is not supported; daedalusd decodes h264, vp9 and av1")]
    UnsupportedCodec {
        /// The input.
        path: String,
        /// libavcodec's name for it.
        codec: String,
    },
    /// The decoder could not be opened.
    #[error("cannot open the {codec} decoder: {source}")]
    Open {
        /// The codec.
        codec: &'static str,
        /// Why.
        source: DecodeError,
    },
    /// Writing the output failed.
    #[error("cannot write the decoded frames: {0}")]
    Write(#[from] std::io::Error),
}

/// What a file decode produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Container format name.
    pub container: String,
    /// Frames written.
    pub frames: u64,
    /// Packets that failed to decode (each reported through `on_error`).
    pub errors: u64,
    /// Distinct (width, height, format) in order of appearance.
    pub formats: Vec<(u32, u32, PixelFormat)>,
}

/// Decodes the best video stream of `path` with `threads` threads, writing every frame to
/// `out` packed. Corrupt packets are reported through `on_error` and skipped.
pub fn decode_file(
    path: &Path,
    threads: u32,
    out: &mut dyn Write,
    on_error: &mut dyn FnMut(u64, &DecodeError),
) -> Result<Summary, FileError> {
    let shown = path.display().to_string();
    let mut demux = Demuxer::open(path).map_err(|source| FileError::Demux {
        path: shown.clone(),
        source,
    })?;
    let info = demux.info().clone();
    let codec = match info.codec {
        Some(CodecId::H264) => Codec::H264,
        Some(CodecId::Vp9) => Codec::Vp9,
        Some(CodecId::Av1) => Codec::Av1,
        None => {
            return Err(FileError::UnsupportedCodec {
                path: shown,
                codec: info.codec_name,
            });
        }
    };
    // H.264 arrives as Annex B with parameter sets in-band (avcC extradata would switch the
    // decoder to length-prefixed input); AV1's av1C carries the sequence header that MP4 and
    // MKV samples may omit.
    let extradata = if codec == Codec::Av1 {
        info.extradata.clone()
    } else {
        Vec::new()
    };
    let mut dec = decoder::open(&DecoderConfig {
        codec,
        threads,
        extradata,
    })
    .map_err(|source| FileError::Open {
        codec: codec.name(),
        source,
    })?;
    let mut summary = Summary {
        container: info.format_name.clone(),
        ..Summary::default()
    };
    let mut row = Vec::new();
    let mut write_err: Option<std::io::Error> = None;
    let mut emit = |pic: Box<dyn Picture>, summary: &mut Summary| {
        if write_err.is_some() {
            return;
        }
        let i = *pic.info();
        let fmt = (i.width, i.height, i.format);
        if summary.formats.last() != Some(&fmt) && !summary.formats.contains(&fmt) {
            summary.formats.push(fmt);
        }
        let mut frame = vec![0u8; i.packed_size()];
        write_picture(
            &*pic,
            &PlaneLayout::packed(&i),
            &mut row,
            &mut |off, bytes| {
                let end = off + bytes.len();
                if end > frame.len() {
                    return false;
                }
                frame[off..end].copy_from_slice(bytes);
                true
            },
        );
        if let Err(e) = out.write_all(&frame) {
            write_err = Some(e);
        }
        summary.frames += 1;
    };
    let mut tag = 0u64;
    loop {
        let packet = demux.next_packet().map_err(|source| FileError::Demux {
            path: shown.clone(),
            source,
        })?;
        let Some(packet) = packet else { break };
        let mut got = Vec::new();
        let r = dec.decode(packet, tag, &mut |p| got.push(p));
        for p in got {
            emit(p, &mut summary);
        }
        if let Err(e) = r {
            if !e.is_bad_input() {
                return Err(FileError::Open {
                    codec: codec.name(),
                    source: e,
                });
            }
            summary.errors += 1;
            on_error(tag, &e);
        }
        tag += 1;
    }
    let mut got = Vec::new();
    let r = dec.drain(&mut |p| got.push(p));
    for p in got {
        emit(p, &mut summary);
    }
    if let Err(e) = r {
        summary.errors += 1;
        on_error(tag, &e);
    }
    if let Some(e) = write_err {
        return Err(FileError::Write(e));
    }
    out.flush()?;
    Ok(summary)
}
