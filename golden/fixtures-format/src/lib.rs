//! Golden kernel fixtures: the file format, its reader and writer, and the byte-exact check.
//!
//! A fixture holds, for one kernel (`h264_idct4`, `vp9_itxfm_8x8_adst_dct`, ...), a list of
//! cases. Each case has the kernel's integer parameters and every buffer the kernel touches,
//! with the bytes before the call and what FFmpeg's C reference left in them afterwards:
//! the written pixels, and the side effects (coefficients zeroed, the source and the guard
//! bands around the destination untouched). This crate needs no FFmpeg, so a fresh machine or
//! a Raspberry Pi 5 can check a kernel against the committed fixtures. The `golden` crate,
//! which links libavcodec, writes them.
//!
//! The format is documented in `docs/golden.md`; [`Fixture::encode`] is its definition.

#![forbid(unsafe_code)]

pub mod frame_md5;

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

/// The four bytes every fixture file starts with.
pub const MAGIC: [u8; 4] = *b"DDGF";
/// The format version this crate reads and writes.
pub const VERSION: u16 = 1;
/// The file name of a kernel's fixture inside `golden/fixtures/<kernel>/`.
pub const FILE_NAME: &str = "cases.bin";
/// The file name of the cases captured from decoding the test streams (same format).
pub const CAPTURED_FILE_NAME: &str = "captured.bin";

/// Errors from reading a fixture.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("cannot read fixture {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not a fixture file: magic is {found:02x?}, expected \"DDGF\"")]
    BadMagic { found: [u8; 4] },
    #[error(
        "fixture format version {found} is not supported (this reader knows {VERSION}); regenerate with `golden regen`"
    )]
    UnsupportedVersion { found: u16 },
    #[error("fixture is truncated: needed {needed} more bytes at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    #[error(
        "fixture checksum is {found:#018x} but its content hashes to {computed:#018x}; the file is corrupt, regenerate it"
    )]
    Checksum { found: u64, computed: u64 },
    #[error("unknown element type code {code} for buffer {buffer}")]
    BadElemType { buffer: String, code: u8 },
    #[error("unknown after-state code {code} in case {case}, buffer {buffer}")]
    BadAfterKind {
        case: usize,
        buffer: String,
        code: u8,
    },
    #[error(
        "buffer {buffer} in case {case} is {len} bytes, not a multiple of its element size {elem_size}"
    )]
    Ragged {
        case: usize,
        buffer: String,
        len: usize,
        elem_size: usize,
    },
    #[error("name is not valid utf-8 at offset {offset}")]
    BadName { offset: usize },
    #[error(
        "stride parameter index {index} of buffer {buffer} is out of range ({params} parameters)"
    )]
    BadStrideParam {
        buffer: String,
        index: u16,
        params: usize,
    },
    #[error("{trailing} bytes after the last case")]
    TrailingBytes { trailing: usize },
}

/// Errors from using a loaded fixture.
#[derive(Debug, thiserror::Error)]
pub enum UseError {
    #[error("kernel {kernel} has no parameter {name}; it has {available:?}")]
    NoSuchParam {
        kernel: String,
        name: String,
        available: Vec<String>,
    },
    #[error("kernel {kernel} has no buffer {name}; it has {available:?}")]
    NoSuchBuffer {
        kernel: String,
        name: String,
        available: Vec<String>,
    },
    #[error("kernel {kernel} case {case}: {given} buffers given, the fixture has {expected}")]
    BufferCount {
        kernel: String,
        case: usize,
        given: usize,
        expected: usize,
    },
    #[error("kernel {kernel} has no case {case} ({count} cases)")]
    NoSuchCase {
        kernel: String,
        case: usize,
        count: usize,
    },
}

/// Element type of a buffer. Multi-byte elements are stored little-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElemType {
    U8,
    U16,
    I16,
    I32,
}

impl ElemType {
    pub const fn size(self) -> usize {
        match self {
            ElemType::U8 => 1,
            ElemType::U16 | ElemType::I16 => 2,
            ElemType::I32 => 4,
        }
    }

    const fn code(self) -> u8 {
        match self {
            ElemType::U8 => 1,
            ElemType::U16 => 2,
            ElemType::I16 => 3,
            ElemType::I32 => 4,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => ElemType::U8,
            2 => ElemType::U16,
            3 => ElemType::I16,
            4 => ElemType::I32,
            _ => return None,
        })
    }

    /// Reads element `i` of little-endian `bytes` as an i64 (for messages and typed access).
    pub fn get(self, bytes: &[u8], i: usize) -> i64 {
        let s = self.size();
        let b = &bytes[i * s..i * s + s];
        match self {
            ElemType::U8 => i64::from(b[0]),
            ElemType::U16 => i64::from(u16::from_le_bytes([b[0], b[1]])),
            ElemType::I16 => i64::from(i16::from_le_bytes([b[0], b[1]])),
            ElemType::I32 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        }
    }
}

/// What a buffer declares once per fixture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferSpec {
    pub name: String,
    pub elem: ElemType,
    /// Index of the parameter holding this buffer's row stride in elements, for 2-D buffers;
    /// mismatch reports then give (x, y) as well as the offset.
    pub stride_param: Option<u16>,
}

/// A buffer's content after the reference ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum After {
    /// Byte for byte the same as before (inputs, sources; the expected side effect is "untouched").
    Unchanged,
    /// Every byte zero (coefficient blocks, which the transforms clear).
    Zeroed,
    /// These bytes (same length as before).
    Bytes(Vec<u8>),
}

impl After {
    const fn code(&self) -> u8 {
        match self {
            After::Unchanged => 0,
            After::Zeroed => 1,
            After::Bytes(_) => 2,
        }
    }

    /// The most compact description of `after` given `before`.
    pub fn describe(before: &[u8], after: Vec<u8>) -> After {
        if after == before {
            After::Unchanged
        } else if after.iter().all(|&b| b == 0) {
            After::Zeroed
        } else {
            After::Bytes(after)
        }
    }
}

/// One buffer of one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseBuffer {
    /// Little-endian bytes before the kernel runs.
    pub before: Vec<u8>,
    pub after: After,
}

impl CaseBuffer {
    /// The bytes the reference left in this buffer.
    pub fn expected(&self) -> Cow<'_, [u8]> {
        match &self.after {
            After::Unchanged => Cow::Borrowed(&self.before),
            After::Zeroed => Cow::Owned(vec![0; self.before.len()]),
            After::Bytes(b) => Cow::Borrowed(b),
        }
    }
}

/// One call of the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    pub params: Vec<i32>,
    pub buffers: Vec<CaseBuffer>,
}

/// All cases of one kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fixture {
    pub kernel: String,
    pub bit_depth: u8,
    /// The generator seed the cases were made from (for reports; the bytes are the truth).
    pub seed: u64,
    pub params: Vec<String>,
    pub buffers: Vec<BufferSpec>,
    pub cases: Vec<Case>,
}

/// The first difference between what a kernel produced and the fixture.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Mismatch {
    pub kernel: String,
    pub case: usize,
    pub buffer: String,
    pub byte_offset: usize,
    pub element: usize,
    /// (x, y) of the element when the buffer has a stride parameter.
    pub xy: Option<(usize, usize)>,
    pub expected: i64,
    pub actual: i64,
    /// How many elements of this buffer differ in total.
    pub differing: usize,
    /// `name=value` for every parameter of the case.
    pub params: String,
    pub seed: u64,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: case {} ({}): buffer {} first differs at byte {} (element {}",
            self.kernel, self.case, self.params, self.buffer, self.byte_offset, self.element
        )?;
        if let Some((x, y)) = self.xy {
            write!(f, ", x {x} y {y}")?;
        }
        write!(
            f,
            "): expected {}, got {}; {} element(s) differ; fixture seed {:#x}",
            self.expected, self.actual, self.differing, self.seed
        )
    }
}

impl Fixture {
    /// Path of `kernel`'s fixture under a fixtures directory.
    pub fn path_in(dir: &Path, kernel: &str) -> PathBuf {
        dir.join(kernel).join(FILE_NAME)
    }

    /// Path of `kernel`'s captured cases under a fixtures directory.
    pub fn captured_path_in(dir: &Path, kernel: &str) -> PathBuf {
        dir.join(kernel).join(CAPTURED_FILE_NAME)
    }

    /// Loads `kernel`'s fixture from a fixtures directory (e.g. [`default_dir`]).
    pub fn load(dir: &Path, kernel: &str) -> Result<Fixture, FormatError> {
        Self::load_file(&Self::path_in(dir, kernel))
    }

    pub fn load_file(path: &Path) -> Result<Fixture, FormatError> {
        let bytes = std::fs::read(path).map_err(|source| FormatError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::decode(&bytes)
    }

    pub fn param_index(&self, name: &str) -> Result<usize, UseError> {
        self.params
            .iter()
            .position(|p| p == name)
            .ok_or_else(|| UseError::NoSuchParam {
                kernel: self.kernel.clone(),
                name: name.to_owned(),
                available: self.params.clone(),
            })
    }

    pub fn buffer_index(&self, name: &str) -> Result<usize, UseError> {
        self.buffers
            .iter()
            .position(|b| b.name == name)
            .ok_or_else(|| UseError::NoSuchBuffer {
                kernel: self.kernel.clone(),
                name: name.to_owned(),
                available: self.buffers.iter().map(|b| b.name.clone()).collect(),
            })
    }

    /// Parameter `name` of case `case`.
    pub fn param(&self, case: usize, name: &str) -> Result<i32, UseError> {
        let i = self.param_index(name)?;
        Ok(self.case(case)?.params[i])
    }

    pub fn case(&self, case: usize) -> Result<&Case, UseError> {
        self.cases.get(case).ok_or_else(|| UseError::NoSuchCase {
            kernel: self.kernel.clone(),
            case,
            count: self.cases.len(),
        })
    }

    fn params_text(&self, case: &Case) -> String {
        self.params
            .iter()
            .zip(&case.params)
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Compares the buffers a kernel left behind (every buffer, in the fixture's order,
    /// including the ones it should not have touched) with the reference's.
    /// `Ok(Err(m))` is a mismatch; `Err` is a misuse (wrong case or buffer count).
    pub fn check(&self, case: usize, actual: &[&[u8]]) -> Result<Result<(), Mismatch>, UseError> {
        let c = self.case(case)?;
        if actual.len() != c.buffers.len() {
            return Err(UseError::BufferCount {
                kernel: self.kernel.clone(),
                case,
                given: actual.len(),
                expected: c.buffers.len(),
            });
        }
        for ((spec, buf), got) in self.buffers.iter().zip(&c.buffers).zip(actual) {
            let want = buf.expected();
            if want.as_ref() == *got {
                continue;
            }
            let elem = spec.elem.size();
            let byte_offset = want
                .iter()
                .zip(got.iter())
                .position(|(a, b)| a != b)
                .unwrap_or(want.len().min(got.len()));
            let element = byte_offset / elem;
            let n = want.len().min(got.len()) / elem;
            let differing = (0..n)
                .filter(|&i| want[i * elem..(i + 1) * elem] != got[i * elem..(i + 1) * elem])
                .count()
                + (want.len().max(got.len()) - want.len().min(got.len())) / elem;
            let xy = spec.stride_param.and_then(|p| {
                let stride = usize::try_from(c.params[usize::from(p)]).ok()?;
                (stride > 0).then(|| (element % stride, element / stride))
            });
            let value = |b: &[u8]| {
                if (element + 1) * elem <= b.len() {
                    spec.elem.get(b, element)
                } else {
                    i64::MIN
                }
            };
            return Ok(Err(Mismatch {
                kernel: self.kernel.clone(),
                case,
                buffer: spec.name.clone(),
                byte_offset,
                element,
                xy,
                expected: value(&want),
                actual: value(got),
                differing,
                params: self.params_text(c),
                seed: self.seed,
            }));
        }
        Ok(Ok(()))
    }

    /// Serialises the fixture (format version [`VERSION`], see `docs/golden.md`).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Vec::new();
        w.extend_from_slice(&MAGIC);
        w.extend_from_slice(&VERSION.to_le_bytes());
        put_name(&mut w, &self.kernel);
        w.push(self.bit_depth);
        w.extend_from_slice(&self.seed.to_le_bytes());
        w.extend_from_slice(&len_u16(self.params.len()).to_le_bytes());
        for p in &self.params {
            put_name(&mut w, p);
        }
        w.extend_from_slice(&len_u16(self.buffers.len()).to_le_bytes());
        for b in &self.buffers {
            put_name(&mut w, &b.name);
            w.push(b.elem.code());
            w.extend_from_slice(&b.stride_param.unwrap_or(u16::MAX).to_le_bytes());
        }
        w.extend_from_slice(&len_u32(self.cases.len()).to_le_bytes());
        for c in &self.cases {
            assert_eq!(c.params.len(), self.params.len(), "case parameter count");
            assert_eq!(c.buffers.len(), self.buffers.len(), "case buffer count");
            for p in &c.params {
                w.extend_from_slice(&p.to_le_bytes());
            }
            for b in &c.buffers {
                w.extend_from_slice(&len_u32(b.before.len()).to_le_bytes());
                w.extend_from_slice(&b.before);
                w.push(b.after.code());
                if let After::Bytes(a) = &b.after {
                    assert_eq!(a.len(), b.before.len(), "after and before lengths");
                    w.extend_from_slice(a);
                }
            }
        }
        let sum = fnv1a64(&w);
        w.extend_from_slice(&sum.to_le_bytes());
        w
    }

    pub fn decode(bytes: &[u8]) -> Result<Fixture, FormatError> {
        if bytes.len() < 4 + 2 + 8 {
            return Err(FormatError::Truncated {
                offset: 0,
                needed: 14 - bytes.len(),
            });
        }
        let magic: [u8; 4] = bytes[..4].try_into().expect("4 bytes");
        if magic != MAGIC {
            return Err(FormatError::BadMagic { found: magic });
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != VERSION {
            return Err(FormatError::UnsupportedVersion { found: version });
        }
        let (body, tail) = bytes.split_at(bytes.len() - 8);
        let found = u64::from_le_bytes(tail.try_into().expect("8 bytes"));
        let computed = fnv1a64(body);
        if found != computed {
            return Err(FormatError::Checksum { found, computed });
        }
        let mut r = Reader { b: body, pos: 6 };
        let kernel = r.name()?;
        let bit_depth = r.u8()?;
        let seed = r.u64()?;
        let n_params = usize::from(r.u16()?);
        let params = (0..n_params)
            .map(|_| r.name())
            .collect::<Result<Vec<_>, _>>()?;
        let n_buffers = usize::from(r.u16()?);
        let mut buffers = Vec::with_capacity(n_buffers);
        for _ in 0..n_buffers {
            let name = r.name()?;
            let code = r.u8()?;
            let elem = ElemType::from_code(code).ok_or_else(|| FormatError::BadElemType {
                buffer: name.clone(),
                code,
            })?;
            let sp = r.u16()?;
            let stride_param = (sp != u16::MAX).then_some(sp);
            if let Some(index) = stride_param
                && usize::from(index) >= params.len()
            {
                return Err(FormatError::BadStrideParam {
                    buffer: name,
                    index,
                    params: params.len(),
                });
            }
            buffers.push(BufferSpec {
                name,
                elem,
                stride_param,
            });
        }
        let n_cases = r.u32()? as usize;
        let mut cases = Vec::with_capacity(n_cases.min(1 << 16));
        for ci in 0..n_cases {
            let params = (0..n_params)
                .map(|_| r.i32())
                .collect::<Result<Vec<_>, _>>()?;
            let mut bufs = Vec::with_capacity(n_buffers);
            for spec in &buffers {
                let len = r.u32()? as usize;
                if len % spec.elem.size() != 0 {
                    return Err(FormatError::Ragged {
                        case: ci,
                        buffer: spec.name.clone(),
                        len,
                        elem_size: spec.elem.size(),
                    });
                }
                let before = r.take(len)?.to_vec();
                let code = r.u8()?;
                let after = match code {
                    0 => After::Unchanged,
                    1 => After::Zeroed,
                    2 => After::Bytes(r.take(len)?.to_vec()),
                    _ => {
                        return Err(FormatError::BadAfterKind {
                            case: ci,
                            buffer: spec.name.clone(),
                            code,
                        });
                    }
                };
                bufs.push(CaseBuffer { before, after });
            }
            cases.push(Case {
                params,
                buffers: bufs,
            });
        }
        if r.pos != body.len() {
            return Err(FormatError::TrailingBytes {
                trailing: body.len() - r.pos,
            });
        }
        Ok(Fixture {
            kernel,
            bit_depth,
            seed,
            params,
            buffers,
            cases,
        })
    }
}

/// `golden/fixtures` of this checkout.
pub fn default_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).join("fixtures")
}

/// Names of every kernel with a fixture in `dir`, sorted.
pub fn list_kernels(dir: &Path) -> Result<Vec<String>, FormatError> {
    let io = |source| FormatError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if entry.path().join(FILE_NAME).is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// 64-bit FNV-1a; guards against truncated or hand-edited files, not against tampering.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn len_u16(n: usize) -> u16 {
    u16::try_from(n).expect("at most 65535 names per fixture")
}

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).expect("buffers and case counts fit in u32")
}

fn put_name(w: &mut Vec<u8>, s: &str) {
    let n = u8::try_from(s.len()).expect("names are at most 255 bytes");
    w.push(n);
    w.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        match end {
            Some(end) => {
                let s = &self.b[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(FormatError::Truncated {
                offset: self.pos,
                needed: n - (self.b.len() - self.pos),
            }),
        }
    }
    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, FormatError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }
    fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn i32(&mut self) -> Result<i32, FormatError> {
        Ok(i32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn name(&mut self) -> Result<String, FormatError> {
        let n = usize::from(self.u8()?);
        let offset = self.pos;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| FormatError::BadName { offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Fixture {
        Fixture {
            kernel: "h264_idct4".into(),
            bit_depth: 8,
            seed: 0x1234,
            params: vec!["stride".into(), "eob".into()],
            buffers: vec![
                BufferSpec {
                    name: "dst".into(),
                    elem: ElemType::U8,
                    stride_param: Some(0),
                },
                BufferSpec {
                    name: "block".into(),
                    elem: ElemType::I16,
                    stride_param: None,
                },
            ],
            cases: vec![Case {
                params: vec![4, -1],
                buffers: vec![
                    CaseBuffer {
                        before: vec![1, 2, 3, 4, 5, 6, 7, 8],
                        after: After::Bytes(vec![1, 2, 3, 4, 5, 9, 7, 9]),
                    },
                    CaseBuffer {
                        before: vec![0xff, 0x7f, 1, 0],
                        after: After::Zeroed,
                    },
                ],
            }],
        }
    }

    #[test]
    fn round_trips() {
        let f = sample();
        let bytes = f.encode();
        assert_eq!(Fixture::decode(&bytes).unwrap(), f);
    }

    #[test]
    fn rejects_corruption_truncation_and_versions() {
        let mut bytes = sample().encode();
        let n = bytes.len();
        assert!(matches!(
            Fixture::decode(&bytes[..n - 3]),
            Err(FormatError::Checksum { .. })
        ));
        bytes[20] ^= 1;
        assert!(matches!(
            Fixture::decode(&bytes),
            Err(FormatError::Checksum { .. })
        ));
        let mut v2 = sample().encode();
        v2[4] = 2;
        assert!(matches!(
            Fixture::decode(&v2),
            Err(FormatError::UnsupportedVersion { found: 2 })
        ));
        assert!(matches!(
            Fixture::decode(b"GIF89a..........."),
            Err(FormatError::BadMagic { .. })
        ));
    }

    #[test]
    fn check_reports_first_difference_with_position() {
        let f = sample();
        let dst = [1, 2, 3, 4, 5, 9, 7, 9];
        let zero = [0u8; 4];
        assert_eq!(f.check(0, &[&dst, &zero]).unwrap(), Ok(()));
        let bad = [1, 2, 3, 4, 5, 9, 8, 7];
        let m = f.check(0, &[&bad, &zero]).unwrap().unwrap_err();
        assert_eq!(
            (m.byte_offset, m.xy, m.expected, m.actual, m.differing),
            (6, Some((2, 1)), 7, 8, 2)
        );
        let text = m.to_string();
        assert!(
            text.starts_with(
                "h264_idct4: case 0 (stride=4 eob=-1): buffer dst first differs at byte 6"
            ),
            "{text}"
        );
        // A block that was not cleared is a failure too.
        let m = f.check(0, &[&dst, &[0, 0, 1, 0]]).unwrap().unwrap_err();
        assert_eq!((m.buffer.as_str(), m.element, m.actual), ("block", 1, 1));
        assert!(f.check(0, &[&dst]).is_err());
        assert!(f.check(1, &[&dst, &zero]).is_err());
    }
}

#[cfg(test)]
mod robustness {
    use super::*;

    /// Damaged files give errors, never panics, even with a valid checksum.
    #[test]
    fn every_single_byte_corruption_is_an_error_or_a_valid_fixture() {
        let good = tests_sample().encode();
        let body_len = good.len() - 8;
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for pos in 0..body_len {
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let mut bad = good.clone();
                bad[pos] = bad[pos].wrapping_add(1 + (state % 255) as u8);
                let sum = fnv1a64(&bad[..body_len]);
                bad[body_len..].copy_from_slice(&sum.to_le_bytes());
                if let Ok(f) = Fixture::decode(&bad) {
                    // Whatever decoded must survive a round trip.
                    assert_eq!(Fixture::decode(&f.encode()).unwrap(), f);
                }
            }
        }
        for len in 0..good.len() {
            assert!(Fixture::decode(&good[..len]).is_err(), "truncated to {len}");
        }
    }

    fn tests_sample() -> Fixture {
        Fixture {
            kernel: "k".into(),
            bit_depth: 10,
            seed: 1,
            params: vec!["stride".into()],
            buffers: vec![BufferSpec {
                name: "dst".into(),
                elem: ElemType::U16,
                stride_param: Some(0),
            }],
            cases: vec![Case {
                params: vec![2],
                buffers: vec![CaseBuffer {
                    before: vec![1, 0, 2, 0, 3, 0, 4, 0],
                    after: After::Bytes(vec![1, 0, 2, 0, 3, 1, 4, 0]),
                }],
            }],
        }
    }
}
