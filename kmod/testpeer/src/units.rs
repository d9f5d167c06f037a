//! How the test client cuts an input file into OUTPUT buffers.
//!
//! `dev-decoder.rst` lets an H.264 decoder take the Annex-B byte stream in arbitrary chunks
//! (`V4L2_FMT_FLAG_CONTINUOUS_BYTESTREAM`), but a VP9 buffer must hold one frame (or
//! superframe) and an AV1 buffer one temporal unit, as the module's `ENUM_FMT` says. So
//! H.264 goes in fixed-size chunks and the others as whole frames:
//!
//! - IVF (VP9 or AV1): one IVF frame per buffer; the IVF header's fourcc must match the
//!   codec. Layout: a 32-byte file header (`DKIF`, version, header length, fourcc, ...),
//!   then per frame a 12-byte header (32-bit little-endian size, 64-bit timestamp) and the
//!   frame's bytes (libavformat/ivfdec.c, libvpx's ivfdec.c).
//! - AV1 low-overhead OBU stream ("Section 5", `ffmpeg -f obu`, `aomenc --obu`): every OBU
//!   carries its size; a temporal unit starts at each temporal delimiter OBU (AV1
//!   specification, 7.5: "The first OBU in a temporal unit must be a temporal delimiter").
//! - AV1 Annex B (`aomenc --obu --annexb=1`): length-prefixed temporal units of
//!   length-prefixed frame units of length-prefixed OBUs whose headers may lack a size
//!   field (AV1 specification, Annex B). Each temporal unit is rewritten in the
//!   low-overhead format, which is what IVF, MP4 and Matroska carry and what the daemon's
//!   AV1 decoder (libdav1d) reads: every OBU gets `obu_has_size_field` and its size.

use std::fmt;

/// The V4L2 fourccs of the module's OUTPUT formats.
pub const H264: [u8; 4] = *b"H264";
/// VP9.
pub const VP90: [u8; 4] = *b"VP90";
/// AV1 (the daedalus protocol's code for a stateful AV1 stream).
pub const AV01: [u8; 4] = *b"AV01";

/// `obu_type` of a temporal delimiter (AV1 specification, 6.2.2).
const OBU_TEMPORAL_DELIMITER: u8 = 2;

/// How the input file was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// Raw bytes in fixed-size chunks (H.264 Annex B).
    Chunks,
    /// IVF frames.
    Ivf,
    /// AV1 low-overhead OBUs, cut at temporal delimiters.
    Obu,
    /// AV1 Annex B temporal units, rewritten as low-overhead OBUs.
    AnnexB,
}

impl fmt::Display for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Container::Chunks => "chunks",
            Container::Ivf => "ivf",
            Container::Obu => "obu",
            Container::AnnexB => "annexb",
        })
    }
}

/// Why an input cannot be cut into buffers.
#[derive(Debug, PartialEq, Eq)]
pub enum UnitError {
    /// The IVF header names another codec.
    IvfCodec {
        /// The IVF fourcc.
        found: [u8; 4],
        /// The codec asked for.
        want: [u8; 4],
    },
    /// A frame header or frame runs past the end of the file.
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Byte offset in the file.
        offset: usize,
    },
    /// A malformed AV1 syntax element.
    Av1 {
        /// What is wrong.
        what: &'static str,
        /// Byte offset in the file.
        offset: usize,
    },
    /// VP9 or AV1 input that is not a container this client reads.
    Unknown {
        /// The codec.
        codec: [u8; 4],
    },
    /// The file holds no frame.
    Empty,
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |c: &[u8; 4]| String::from_utf8_lossy(c).into_owned();
        match self {
            UnitError::IvfCodec { found, want } => write!(
                f,
                "the IVF file holds {} but --codec is {}; pass --codec {}",
                s(found),
                s(want),
                s(found)
            ),
            UnitError::Truncated { what, offset } => {
                write!(f, "{what} at byte {offset} runs past the end of the file")
            }
            UnitError::Av1 { what, offset } => write!(f, "bad AV1 data at byte {offset}: {what}"),
            UnitError::Unknown { codec } if *codec == AV01 => f.write_str(
                "the AV1 input is neither IVF, a low-overhead OBU stream nor Annex B; \
                 remux it with `ffmpeg -i IN -c copy -f obu OUT.obu`",
            ),
            UnitError::Unknown { codec } => write!(
                f,
                "{} input must be IVF (one frame per buffer); remux it with \
                 `ffmpeg -i IN -c copy OUT.ivf`",
                s(codec)
            ),
            UnitError::Empty => f.write_str("the input holds no frame"),
        }
    }
}

impl std::error::Error for UnitError {}

/// Cuts `data` into OUTPUT buffers for `codec`: H.264 in `chunk`-byte pieces, VP9 and AV1
/// as whole frames (see the module docs). `forced` picks the container instead of
/// detecting it.
pub fn split(
    data: &[u8],
    codec: [u8; 4],
    chunk: usize,
    forced: Option<Container>,
) -> Result<(Container, Vec<Vec<u8>>), UnitError> {
    let container = match forced {
        Some(c) => c,
        None if codec == H264 => Container::Chunks,
        None if (codec == VP90 || codec == AV01) && data.starts_with(b"DKIF") => Container::Ivf,
        None if codec == AV01 && obu_units(data).is_ok() => Container::Obu,
        None if codec == AV01 && annexb_units(data).is_ok() => Container::AnnexB,
        None => return Err(UnitError::Unknown { codec }),
    };
    let mut units: Vec<Vec<u8>> = match container {
        Container::Chunks => data.chunks(chunk.max(1)).map(<[u8]>::to_vec).collect(),
        Container::Ivf => ivf_frames(data, codec)?,
        Container::Obu => obu_units(data)?,
        Container::AnnexB => annexb_units(data)?,
    };
    // An empty OUTPUT buffer carries nothing to decode, and vb2 would take its bytesused of
    // 0 as "the whole buffer" (videobuf2-v4l2.c).
    units.retain(|u| !u.is_empty());
    if units.is_empty() {
        return Err(UnitError::Empty);
    }
    Ok((container, units))
}

fn le16(d: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([d[at], d[at + 1]]))
}

/// The frames of an IVF file whose fourcc is `codec`.
pub fn ivf_frames(data: &[u8], codec: [u8; 4]) -> Result<Vec<Vec<u8>>, UnitError> {
    if data.len() < 32 || !data.starts_with(b"DKIF") {
        return Err(UnitError::Truncated {
            what: "the 32-byte IVF header",
            offset: 0,
        });
    }
    let found: [u8; 4] = [data[8], data[9], data[10], data[11]];
    if found != codec {
        return Err(UnitError::IvfCodec { found, want: codec });
    }
    // The header length field, not a constant: writers may append fields.
    let mut pos = le16(data, 6).max(32);
    let mut frames = Vec::new();
    while pos < data.len() {
        let Some(head) = data.get(pos..pos + 12) else {
            return Err(UnitError::Truncated {
                what: "an IVF frame header",
                offset: pos,
            });
        };
        let size = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let start = pos + 12;
        let Some(frame) = start.checked_add(size).and_then(|end| data.get(start..end)) else {
            return Err(UnitError::Truncated {
                what: "an IVF frame",
                offset: pos,
            });
        };
        frames.push(frame.to_vec());
        pos = start + size;
    }
    Ok(frames)
}

/// Reads a `leb128()` (AV1 specification, 4.10.5) at `*pos`, advancing it.
fn leb128(data: &[u8], pos: &mut usize) -> Result<usize, UnitError> {
    let start = *pos;
    let mut value: u64 = 0;
    for i in 0..8 {
        let Some(&b) = data.get(*pos) else {
            return Err(UnitError::Truncated {
                what: "a leb128 size",
                offset: start,
            });
        };
        *pos += 1;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            // "It is a requirement of bitstream conformance that the value returned from
            // the leb128 parsing process is less than or equal to (1 << 32) - 1."
            return usize::try_from(value)
                .ok()
                .filter(|&v| v <= u32::MAX as usize)
                .ok_or(UnitError::Av1 {
                    what: "leb128 value above 2^32 - 1",
                    offset: start,
                });
        }
    }
    Err(UnitError::Av1 {
        what: "leb128 longer than 8 bytes",
        offset: start,
    })
}

fn put_leb128(out: &mut Vec<u8>, mut v: usize) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// An OBU header (AV1 specification, 5.3.2): type, whether an extension byte follows,
/// whether a size field follows.
struct ObuHeader {
    obu_type: u8,
    extension: bool,
    has_size: bool,
}

fn obu_header(data: &[u8], at: usize) -> Result<ObuHeader, UnitError> {
    let Some(&b) = data.get(at) else {
        return Err(UnitError::Truncated {
            what: "an OBU header",
            offset: at,
        });
    };
    if b & 0x80 != 0 {
        return Err(UnitError::Av1 {
            what: "obu_forbidden_bit is set",
            offset: at,
        });
    }
    Ok(ObuHeader {
        obu_type: (b >> 3) & 0xf,
        extension: b & 0x04 != 0,
        has_size: b & 0x02 != 0,
    })
}

/// Temporal units of a low-overhead OBU stream, cut before each temporal delimiter.
pub fn obu_units(data: &[u8]) -> Result<Vec<Vec<u8>>, UnitError> {
    let mut units: Vec<Vec<u8>> = Vec::new();
    let mut unit_start = 0;
    let mut pos = 0;
    while pos < data.len() {
        let h = obu_header(data, pos)?;
        if !h.has_size {
            return Err(UnitError::Av1 {
                what: "OBU without obu_has_size_field in a low-overhead stream",
                offset: pos,
            });
        }
        if h.obu_type == OBU_TEMPORAL_DELIMITER && pos > unit_start {
            units.push(data[unit_start..pos].to_vec());
            unit_start = pos;
        } else if pos == 0 && h.obu_type != OBU_TEMPORAL_DELIMITER {
            return Err(UnitError::Av1 {
                what: "the stream does not start with a temporal delimiter",
                offset: 0,
            });
        }
        let mut p = pos + 1 + usize::from(h.extension);
        let size = leb128(data, &mut p)?;
        let end = p.checked_add(size).filter(|&e| e <= data.len());
        pos = end.ok_or(UnitError::Truncated {
            what: "an OBU",
            offset: pos,
        })?;
    }
    if pos > unit_start {
        units.push(data[unit_start..pos].to_vec());
    }
    Ok(units)
}

/// Temporal units of an Annex-B stream, each rewritten as low-overhead OBUs.
pub fn annexb_units(data: &[u8]) -> Result<Vec<Vec<u8>>, UnitError> {
    let mut units = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let tu_size = leb128(data, &mut pos)?;
        let tu_end = pos
            .checked_add(tu_size)
            .filter(|&e| e <= data.len())
            .ok_or(UnitError::Truncated {
                what: "a temporal unit",
                offset: pos,
            })?;
        let mut unit = Vec::with_capacity(tu_size + 16);
        while pos < tu_end {
            let fu_size = leb128(data, &mut pos)?;
            let fu_end =
                pos.checked_add(fu_size)
                    .filter(|&e| e <= tu_end)
                    .ok_or(UnitError::Av1 {
                        what: "a frame unit larger than its temporal unit",
                        offset: pos,
                    })?;
            while pos < fu_end {
                let obu_len = leb128(data, &mut pos)?;
                let obu_end =
                    pos.checked_add(obu_len)
                        .filter(|&e| e <= fu_end)
                        .ok_or(UnitError::Av1 {
                            what: "an OBU larger than its frame unit",
                            offset: pos,
                        })?;
                rewrite_obu(&data[pos..obu_end], pos, &mut unit)?;
                pos = obu_end;
            }
        }
        if unit.is_empty() {
            return Err(UnitError::Av1 {
                what: "an empty temporal unit",
                offset: pos,
            });
        }
        units.push(unit);
    }
    Ok(units)
}

/// Appends one Annex-B OBU (`obu`, found at file offset `at`) in low-overhead form.
fn rewrite_obu(obu: &[u8], at: usize, out: &mut Vec<u8>) -> Result<(), UnitError> {
    let h = obu_header(obu, 0).map_err(|e| match e {
        UnitError::Truncated { what, .. } => UnitError::Truncated { what, offset: at },
        UnitError::Av1 { what, .. } => UnitError::Av1 { what, offset: at },
        e => e,
    })?;
    let head = 1 + usize::from(h.extension);
    if obu.len() < head {
        return Err(UnitError::Truncated {
            what: "an OBU extension header",
            offset: at,
        });
    }
    if h.has_size {
        // Already self-delimiting; its own size must agree with obu_length.
        let mut p = head;
        let size = leb128(obu, &mut p).map_err(|_| UnitError::Av1 {
            what: "bad obu_size",
            offset: at,
        })?;
        if p + size != obu.len() {
            return Err(UnitError::Av1 {
                what: "obu_size disagrees with obu_length",
                offset: at,
            });
        }
        out.extend_from_slice(obu);
    } else {
        out.push(obu[0] | 0x02);
        out.extend_from_slice(&obu[1..head]);
        put_leb128(out, obu.len() - head);
        out.extend_from_slice(&obu[head..]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A low-overhead OBU: header byte for `obu_type` with a size field, then the payload.
    fn obu(obu_type: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![(obu_type << 3) | 0x02];
        put_leb128(&mut v, payload.len());
        v.extend_from_slice(payload);
        v
    }

    /// The same OBU in Annex B without a size field, prefixed by its obu_length.
    fn annexb_obu(obu_type: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        put_leb128(&mut v, payload.len() + 1);
        v.push(obu_type << 3);
        v.extend_from_slice(payload);
        v
    }

    fn sized(body: Vec<u8>) -> Vec<u8> {
        let mut v = Vec::new();
        put_leb128(&mut v, body.len());
        v.extend(body);
        v
    }

    fn ivf(fourcc: &[u8; 4], frames: &[&[u8]]) -> Vec<u8> {
        let mut v = b"DKIF".to_vec();
        v.extend_from_slice(&0u16.to_le_bytes());
        v.extend_from_slice(&32u16.to_le_bytes());
        v.extend_from_slice(fourcc);
        v.resize(32, 0);
        for (i, f) in frames.iter().enumerate() {
            v.extend_from_slice(&(f.len() as u32).to_le_bytes());
            v.extend_from_slice(&(i as u64).to_le_bytes());
            v.extend_from_slice(f);
        }
        v
    }

    #[test]
    fn leb128_round_trips_and_rejects_overlong_values() {
        for v in [0, 1, 127, 128, 300, 16383, 16384, u32::MAX as usize] {
            let mut b = Vec::new();
            put_leb128(&mut b, v);
            let mut p = 0;
            assert_eq!(leb128(&b, &mut p), Ok(v));
            assert_eq!(p, b.len());
        }
        let mut p = 0;
        assert!(matches!(
            leb128(&[0x80, 0x80, 0x80, 0x80, 0x10], &mut p),
            Err(UnitError::Av1 { .. })
        ));
        let mut p = 0;
        assert!(matches!(
            leb128(&[0x80; 9], &mut p),
            Err(UnitError::Av1 { .. })
        ));
        let mut p = 0;
        assert!(matches!(
            leb128(&[0x80], &mut p),
            Err(UnitError::Truncated { .. })
        ));
    }

    #[test]
    fn h264_goes_in_fixed_chunks() {
        let data: Vec<u8> = (0..10u8).collect();
        let (c, u) = split(&data, H264, 4, None).unwrap();
        assert_eq!(c, Container::Chunks);
        assert_eq!(u, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
    }

    #[test]
    fn ivf_frames_are_whole_and_the_fourcc_must_match() {
        let file = ivf(b"VP90", &[b"abc", b"", b"defgh"]);
        let (c, u) = split(&file, VP90, 4, None).unwrap();
        assert_eq!(c, Container::Ivf);
        // The empty frame is left out: it would go to the driver as a full buffer.
        assert_eq!(u, vec![b"abc".to_vec(), b"defgh".to_vec()]);
        assert_eq!(
            split(&file, AV01, 4, None),
            Err(UnitError::IvfCodec {
                found: VP90,
                want: AV01
            })
        );
        let mut cut = file.clone();
        cut.truncate(file.len() - 1);
        assert!(matches!(
            split(&cut, VP90, 4, None),
            Err(UnitError::Truncated { .. })
        ));
        // A longer header, as its length field says.
        let mut long = file[..32].to_vec();
        long[6] = 40;
        long.extend_from_slice(&[0; 8]);
        long.extend_from_slice(&file[32..]);
        assert_eq!(split(&long, VP90, 4, None).unwrap().1.len(), 2);
    }

    #[test]
    fn obu_streams_split_at_temporal_delimiters() {
        let tu1 = [obu(2, &[]), obu(1, &[1, 2, 3]), obu(6, &[9; 200])].concat();
        let tu2 = [obu(2, &[]), obu(6, &[7; 5])].concat();
        let data = [tu1.clone(), tu2.clone()].concat();
        let (c, u) = split(&data, AV01, 4, None).unwrap();
        assert_eq!(c, Container::Obu);
        assert_eq!(u, vec![tu1, tu2]);
        // Not starting with a temporal delimiter, or cut short: not a low-overhead stream.
        assert!(obu_units(&obu(6, &[1])).is_err());
        assert!(obu_units(&data[..data.len() - 1]).is_err());
    }

    #[test]
    fn annexb_units_become_low_overhead_temporal_units() {
        // Two temporal units; the second has an OBU with an extension byte and one that
        // already has a size field.
        let fu1 = sized(
            [
                annexb_obu(2, &[]),
                annexb_obu(1, &[1, 2, 3]),
                annexb_obu(6, &[9; 200]),
            ]
            .concat(),
        );
        let ext_obu = {
            let mut v = Vec::new();
            put_leb128(&mut v, 4);
            v.extend_from_slice(&[(6 << 3) | 0x04, 0x28, 0xaa, 0xbb]);
            v
        };
        let own_size = {
            let o = obu(4, &[5, 6]);
            let mut v = Vec::new();
            put_leb128(&mut v, o.len());
            v.extend(o);
            v
        };
        let fu2 = sized([annexb_obu(2, &[]), ext_obu, own_size].concat());
        let data = [sized(fu1), sized(fu2)].concat();
        let (c, u) = split(&data, AV01, 4, None).unwrap();
        assert_eq!(c, Container::AnnexB);
        assert_eq!(
            u,
            vec![
                [obu(2, &[]), obu(1, &[1, 2, 3]), obu(6, &[9; 200])].concat(),
                [
                    obu(2, &[]),
                    vec![(6 << 3) | 0x06, 0x28, 2, 0xaa, 0xbb],
                    obu(4, &[5, 6])
                ]
                .concat(),
            ]
        );
        // The result is a valid low-overhead stream with the same units.
        assert_eq!(obu_units(&u.concat()).unwrap(), u);
        // Sizes that do not nest are refused.
        let mut bad = data.clone();
        bad[1] = bad[1].wrapping_add(1);
        assert!(annexb_units(&bad).is_err());
    }

    /// The committed AV1 stream's temporal units, written as Annex B with the size fields
    /// taken out and read back, come out as they went in.
    #[test]
    fn committed_av1_stream_survives_annexb_and_obu_framing() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../golden/streams/av1_320x240.ivf"
        );
        let ivf = std::fs::read(path).unwrap();
        let (c, tus) = split(&ivf, AV01, 0, None).unwrap();
        assert_eq!((c, tus.len()), (Container::Ivf, 10));
        let mut annexb = Vec::new();
        for tu in &tus {
            let mut fu = Vec::new();
            let mut pos = 0;
            while pos < tu.len() {
                let h = obu_header(tu, pos).unwrap();
                let head = 1 + usize::from(h.extension);
                let mut p = pos + head;
                let size = leb128(tu, &mut p).unwrap();
                let mut o = vec![tu[pos] & !0x02];
                o.extend_from_slice(&tu[pos + 1..pos + head]);
                o.extend_from_slice(&tu[p..p + size]);
                fu.extend(sized(o));
                pos = p + size;
            }
            annexb.extend(sized(sized(fu)));
        }
        assert_eq!(
            split(&annexb, AV01, 0, None).unwrap(),
            (Container::AnnexB, tus.clone())
        );
        let obu = tus.concat();
        assert_eq!(split(&obu, AV01, 0, None).unwrap(), (Container::Obu, tus));
    }

    #[test]
    fn unknown_vp9_and_av1_inputs_are_refused_with_advice() {
        let e = split(b"\x00\x00\x00\x01\x67", VP90, 4, None).unwrap_err();
        assert!(e.to_string().contains("must be IVF"), "{e}");
        let e = split(&[0xff, 0xff], AV01, 4, None).unwrap_err();
        assert!(e.to_string().contains("-f obu"), "{e}");
        assert_eq!(split(b"", VP90, 4, Some(Container::Ivf)).unwrap_err(), {
            UnitError::Truncated {
                what: "the 32-byte IVF header",
                offset: 0,
            }
        });
    }
}
