//! Every kernel with a fixture: its name, its parameters and buffers, how its inputs are
//! generated, and how FFmpeg's function is called on a case.
//!
//! Names follow the project rule "a kernel is one name everywhere" (`kernels/src/<name>.qasm`,
//! `golden/fixtures/<name>/`, its test and bench): `<codec>_<what>[_<variant>]`, using
//! FFmpeg's own entry names where they exist, and a `_10bit` suffix for the high-bit-depth
//! form (8-bit has no suffix). docs/golden.md lists them all.

use golden_fixtures::{BufferSpec, ElemType};

use crate::inputs;
use crate::reference::{
    D8, D10, Depth, Elem, GoldenError, H264Idct, H264IdctMulti, H264LoopFilter, Op, Reference,
    Vp9Filter, Vp9LoopFilter, Vp9TxSize, Vp9TxType,
};

/// What a kernel computes (and which FFmpeg entry is its reference).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    H264Idct(H264Idct),
    H264IdctMulti(H264IdctMulti),
    H264IdctAdd8 { chroma422: bool },
    H264LoopFilter(H264LoopFilter),
    H264Qpel { op: Op, size: usize },
    H264ChromaMc { op: Op, width: usize },
    Vp9Itxfm { tx: Vp9TxSize, ty: Vp9TxType },
    Vp9LoopFilter { kind: Vp9LoopFilter, vertical: bool },
    Vp9Mc { op: Op, filter: Vp9Filter },
}

/// One kernel: a name, a bit depth and what it computes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kernel {
    pub name: String,
    pub bits: u32,
    pub kind: Kind,
}

/// A buffer in a kernel's layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buf {
    Pixel,
    Coef,
    I32,
    U8,
}

/// A kernel's parameter names and its buffers: (name, element kind, stride parameter).
type Layout = (
    &'static [&'static str],
    &'static [(&'static str, Buf, Option<&'static str>)],
);

/// The inputs of one case: parameter values (in [`Kernel::params`] order) and every buffer's
/// elements before the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inputs {
    pub params: Vec<i32>,
    pub buffers: Vec<Vec<i32>>,
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Put => "put",
        Op::Avg => "avg",
    }
}

fn tx_type_name(ty: Vp9TxType) -> &'static str {
    match ty {
        Vp9TxType::DctDct => "dct_dct",
        Vp9TxType::DctAdst => "dct_adst",
        Vp9TxType::AdstDct => "adst_dct",
        Vp9TxType::AdstAdst => "adst_adst",
    }
}

fn filter_name(f: Vp9Filter) -> &'static str {
    match f {
        Vp9Filter::Smooth => "8tap_smooth",
        Vp9Filter::Regular => "8tap_regular",
        Vp9Filter::Sharp => "8tap_sharp",
        Vp9Filter::Bilinear => "bilin",
    }
}

impl Kind {
    /// The 8-bit kernel name.
    pub fn base_name(self) -> String {
        match self {
            Kind::H264Idct(k) => match k {
                H264Idct::Idct4 => "h264_idct4".into(),
                H264Idct::Idct8 => "h264_idct8".into(),
                H264Idct::Idct4Dc => "h264_idct4_dc".into(),
                H264Idct::Idct8Dc => "h264_idct8_dc".into(),
            },
            Kind::H264IdctMulti(k) => match k {
                H264IdctMulti::Add16 => "h264_idct_add16".into(),
                H264IdctMulti::Add16Intra => "h264_idct_add16intra".into(),
                H264IdctMulti::Idct8Add4 => "h264_idct8_add4".into(),
            },
            Kind::H264IdctAdd8 { chroma422: false } => "h264_idct_add8".into(),
            Kind::H264IdctAdd8 { chroma422: true } => "h264_idct_add8_422".into(),
            Kind::H264LoopFilter(k) => k.ffmpeg_name().into(),
            Kind::H264Qpel { op, size } => format!("h264_{}_qpel{size}", op_name(op)),
            Kind::H264ChromaMc { op, width } => format!("h264_{}_chroma_mc{width}", op_name(op)),
            Kind::Vp9Itxfm {
                tx: Vp9TxSize::Wht, ..
            } => "vp9_itxfm_4x4_wht_wht".into(),
            Kind::Vp9Itxfm { tx, ty } => {
                let n = tx.size();
                format!("vp9_itxfm_{n}x{n}_{}", tx_type_name(ty))
            }
            Kind::Vp9LoopFilter { kind, vertical } => {
                let d = if vertical { 'v' } else { 'h' };
                match kind {
                    Vp9LoopFilter::Len8 { wd } => format!("vp9_loop_filter_{d}_{wd}_8"),
                    Vp9LoopFilter::Len16 => format!("vp9_loop_filter_{d}_16_16"),
                    Vp9LoopFilter::Mix2 { wd0, wd1 } => {
                        format!("vp9_loop_filter_{d}_{wd0}{wd1}_16")
                    }
                }
            }
            Kind::Vp9Mc { op, filter } => format!("vp9_{}_{}", op_name(op), filter_name(filter)),
        }
    }

    fn layout(self) -> Layout {
        use Buf::*;
        match self {
            Kind::H264Idct(_) => (
                &["stride", "origin"],
                &[("dst", Pixel, Some("stride")), ("block", Coef, None)],
            ),
            Kind::H264IdctMulti(_) => (
                &["stride", "origin"],
                &[
                    ("dst", Pixel, Some("stride")),
                    ("block", Coef, None),
                    ("block_offset", I32, None),
                    ("nnzc", U8, None),
                ],
            ),
            Kind::H264IdctAdd8 { .. } => (
                &["stride", "cb_origin", "cr_origin"],
                &[
                    ("cb", Pixel, Some("stride")),
                    ("cr", Pixel, Some("stride")),
                    ("block", Coef, None),
                    ("block_offset", I32, None),
                    ("nnzc", U8, None),
                ],
            ),
            Kind::H264LoopFilter(k) if k.is_intra() => (
                &["stride", "origin", "alpha", "beta"],
                &[("dst", Pixel, Some("stride"))],
            ),
            Kind::H264LoopFilter(_) => (
                &[
                    "stride", "origin", "alpha", "beta", "tc0_0", "tc0_1", "tc0_2", "tc0_3",
                ],
                &[("dst", Pixel, Some("stride"))],
            ),
            Kind::H264Qpel { .. } => (
                &["stride", "dst_origin", "src_origin", "x", "y"],
                &[
                    ("dst", Pixel, Some("stride")),
                    ("src", Pixel, Some("stride")),
                ],
            ),
            Kind::H264ChromaMc { .. } => (
                &["stride", "dst_origin", "src_origin", "h", "x", "y"],
                &[
                    ("dst", Pixel, Some("stride")),
                    ("src", Pixel, Some("stride")),
                ],
            ),
            Kind::Vp9Itxfm { .. } => (
                &["stride", "origin", "eob"],
                &[("dst", Pixel, Some("stride")), ("block", Coef, None)],
            ),
            Kind::Vp9LoopFilter { .. } => (
                &["stride", "origin", "e", "i", "h"],
                &[("dst", Pixel, Some("stride"))],
            ),
            Kind::Vp9Mc { .. } => (
                &[
                    "width",
                    "h",
                    "mx",
                    "my",
                    "dst_stride",
                    "dst_origin",
                    "src_stride",
                    "src_origin",
                ],
                &[
                    ("dst", Pixel, Some("dst_stride")),
                    ("src", Pixel, Some("src_stride")),
                ],
            ),
        }
    }
}

impl Kernel {
    fn new(kind: Kind, bits: u32) -> Kernel {
        let base = kind.base_name();
        let name = if bits == 8 {
            base
        } else {
            format!("{base}_{bits}bit")
        };
        Kernel { name, bits, kind }
    }

    pub fn params(&self) -> &'static [&'static str] {
        self.kind.layout().0
    }

    pub fn elem(&self, b: Buf) -> ElemType {
        match (b, self.bits) {
            (Buf::Pixel, 8) => ElemType::U8,
            (Buf::Pixel, _) => ElemType::U16,
            (Buf::Coef, 8) => ElemType::I16,
            (Buf::Coef, _) => ElemType::I32,
            (Buf::I32, _) => ElemType::I32,
            (Buf::U8, _) => ElemType::U8,
        }
    }

    /// The buffer declarations as stored in the fixture header.
    pub fn buffer_specs(&self) -> Vec<BufferSpec> {
        let params = self.params();
        self.kind
            .layout()
            .1
            .iter()
            .map(|&(name, b, stride)| BufferSpec {
                name: name.into(),
                elem: self.elem(b),
                stride_param: stride.map(|s| {
                    params
                        .iter()
                        .position(|p| *p == s)
                        .expect("stride parameter is declared") as u16
                }),
            })
            .collect()
    }

    /// Generates the inputs of every case from `seed`.
    pub fn generate(&self, seed: u64) -> Vec<Inputs> {
        inputs::generate(self, seed)
    }

    /// Runs `reference`'s function for this kernel on one case, in place.
    pub fn run(
        &self,
        reference: &Reference,
        params: &[i32],
        buffers: &mut [Vec<i32>],
    ) -> Result<(), GoldenError> {
        let names = self.params();
        if params.len() != names.len() || buffers.len() != self.kind.layout().1.len() {
            return Err(GoldenError::InvalidParam {
                name: "layout",
                value: params.len() as i64,
                expected: "the kernel's parameter and buffer counts",
            });
        }
        let p = Params {
            names,
            vals: params,
        };
        match self.bits {
            8 => run_depth::<D8>(self.kind, reference, &p, buffers),
            10 => run_depth::<D10>(self.kind, reference, &p, buffers),
            b => Err(GoldenError::InvalidParam {
                name: "bit depth",
                value: b.into(),
                expected: "8 or 10",
            }),
        }
    }
}

struct Params<'a> {
    names: &'static [&'static str],
    vals: &'a [i32],
}

impl Params<'_> {
    fn get(&self, name: &'static str) -> i32 {
        let i = self
            .names
            .iter()
            .position(|n| *n == name)
            .expect("parameter declared in layout");
        self.vals[i]
    }
    fn usize(&self, name: &'static str) -> Result<usize, GoldenError> {
        let v = self.get(name);
        usize::try_from(v).map_err(|_| GoldenError::InvalidParam {
            name,
            value: v.into(),
            expected: "non-negative",
        })
    }
    fn u8(&self, name: &'static str) -> Result<u8, GoldenError> {
        let v = self.get(name);
        u8::try_from(v).map_err(|_| GoldenError::InvalidParam {
            name,
            value: v.into(),
            expected: "0..=255",
        })
    }
}

fn to_typed<T: Elem + TryFrom<i32>>(name: &'static str, v: &[i32]) -> Result<Vec<T>, GoldenError> {
    v.iter()
        .map(|&x| {
            T::try_from(x).map_err(|_| GoldenError::InvalidParam {
                name,
                value: x.into(),
                expected: "a value of the buffer's element type",
            })
        })
        .collect()
}

fn from_typed<T: Elem + Into<i32>>(v: &[T]) -> Vec<i32> {
    v.iter().map(|&x| x.into()).collect()
}

fn fixed<const N: usize, T: TryFrom<i32> + Copy + Default>(
    name: &'static str,
    v: &[i32],
) -> Result<[T; N], GoldenError> {
    if v.len() != N {
        return Err(GoldenError::InvalidParam {
            name,
            value: v.len() as i64,
            expected: "the fixed length of this table",
        });
    }
    let mut out = [T::default(); N];
    for (o, &x) in out.iter_mut().zip(v) {
        *o = T::try_from(x).map_err(|_| GoldenError::InvalidParam {
            name,
            value: x.into(),
            expected: "a value of the table's element type",
        })?;
    }
    Ok(out)
}

fn run_depth<D: Depth>(
    kind: Kind,
    r: &Reference,
    p: &Params,
    bufs: &mut [Vec<i32>],
) -> Result<(), GoldenError> {
    match kind {
        Kind::H264Idct(k) => {
            let mut dst = to_typed::<D::Pixel>("dst", &bufs[0])?;
            let mut block = to_typed::<D::Coef>("block", &bufs[1])?;
            r.h264_idct::<D>(
                k,
                &mut dst,
                p.usize("origin")?,
                p.usize("stride")?,
                &mut block,
            )?;
            bufs[0] = from_typed(&dst);
            bufs[1] = from_typed(&block);
        }
        Kind::H264IdctMulti(k) => {
            let mut dst = to_typed::<D::Pixel>("dst", &bufs[0])?;
            let mut block = to_typed::<D::Coef>("block", &bufs[1])?;
            let offs: [i32; 16] = fixed("block_offset", &bufs[2])?;
            let nnzc: [u8; 40] = fixed("nnzc", &bufs[3])?;
            r.h264_idct_multi::<D>(
                k,
                &mut dst,
                p.usize("origin")?,
                p.usize("stride")?,
                &offs,
                &mut block,
                &nnzc,
            )?;
            bufs[0] = from_typed(&dst);
            bufs[1] = from_typed(&block);
        }
        Kind::H264IdctAdd8 { chroma422 } => {
            let mut cb = to_typed::<D::Pixel>("cb", &bufs[0])?;
            let mut cr = to_typed::<D::Pixel>("cr", &bufs[1])?;
            let mut block = to_typed::<D::Coef>("block", &bufs[2])?;
            let offs: [i32; 48] = fixed("block_offset", &bufs[3])?;
            let nnzc: [u8; 120] = fixed("nnzc", &bufs[4])?;
            r.h264_idct_add8::<D>(
                chroma422,
                &mut cb,
                p.usize("cb_origin")?,
                &mut cr,
                p.usize("cr_origin")?,
                p.usize("stride")?,
                &offs,
                &mut block,
                &nnzc,
            )?;
            bufs[0] = from_typed(&cb);
            bufs[1] = from_typed(&cr);
            bufs[2] = from_typed(&block);
        }
        Kind::H264LoopFilter(k) => {
            let mut dst = to_typed::<D::Pixel>("dst", &bufs[0])?;
            let tc0 = if k.is_intra() {
                [0; 4]
            } else {
                let t: [i8; 4] = fixed(
                    "tc0",
                    &[
                        p.get("tc0_0"),
                        p.get("tc0_1"),
                        p.get("tc0_2"),
                        p.get("tc0_3"),
                    ],
                )?;
                t
            };
            r.h264_loop_filter::<D>(
                k,
                &mut dst,
                p.usize("origin")?,
                p.usize("stride")?,
                p.get("alpha"),
                p.get("beta"),
                tc0,
            )?;
            bufs[0] = from_typed(&dst);
        }
        Kind::H264Qpel { op, size } => {
            let mut dst = to_typed::<D::Pixel>("dst", &bufs[0])?;
            let src = to_typed::<D::Pixel>("src", &bufs[1])?;
            r.h264_qpel::<D>(
                op,
                size,
                p.u8("x")?,
                p.u8("y")?,
                &mut dst,
                p.usize("dst_origin")?,
                &src,
                p.usize("src_origin")?,
                p.usize("stride")?,
            )?;
            bufs[0] = from_typed(&dst);
        }
        Kind::H264ChromaMc { op, width } => {
            let mut dst = to_typed::<D::Pixel>("dst", &bufs[0])?;
            let src = to_typed::<D::Pixel>("src", &bufs[1])?;
            r.h264_chroma_mc::<D>(
                op,
                width,
                p.usize("h")?,
                p.u8("x")?,
                p.u8("y")?,
                &mut dst,
                p.usize("dst_origin")?,
                &src,
                p.usize("src_origin")?,
                p.usize("stride")?,
            )?;
            bufs[0] = from_typed(&dst);
        }
        Kind::Vp9Itxfm { tx, ty } => {
            let mut dst = to_typed::<D::Pixel>("dst", &bufs[0])?;
            let mut block = to_typed::<D::Coef>("block", &bufs[1])?;
            let eob = p.usize("eob")? as u32;
            r.vp9_itxfm::<D>(
                tx,
                ty,
                &mut dst,
                p.usize("origin")?,
                p.usize("stride")?,
                &mut block,
                eob,
            )?;
            bufs[0] = from_typed(&dst);
            bufs[1] = from_typed(&block);
        }
        Kind::Vp9LoopFilter { kind, vertical } => {
            let mut dst = to_typed::<D::Pixel>("dst", &bufs[0])?;
            r.vp9_loop_filter::<D>(
                kind,
                vertical,
                &mut dst,
                p.usize("origin")?,
                p.usize("stride")?,
                p.get("e"),
                p.get("i"),
                p.get("h"),
            )?;
            bufs[0] = from_typed(&dst);
        }
        Kind::Vp9Mc { op, filter } => {
            let mut dst = to_typed::<D::Pixel>("dst", &bufs[0])?;
            let src = to_typed::<D::Pixel>("src", &bufs[1])?;
            r.vp9_mc::<D>(
                op,
                filter,
                p.usize("width")?,
                p.usize("h")?,
                p.u8("mx")?,
                p.u8("my")?,
                &mut dst,
                p.usize("dst_origin")?,
                p.usize("dst_stride")?,
                &src,
                p.usize("src_origin")?,
                p.usize("src_stride")?,
            )?;
            bufs[0] = from_typed(&dst);
        }
    }
    Ok(())
}

/// Every kernel with a fixture, in a fixed order.
pub fn all() -> Vec<Kernel> {
    let mut v = Vec::new();
    // Transforms and MC at 8 and 10 bits; loop filters at 8 bits.
    for bits in [8, 10] {
        for k in [
            H264Idct::Idct4,
            H264Idct::Idct8,
            H264Idct::Idct4Dc,
            H264Idct::Idct8Dc,
        ] {
            v.push(Kernel::new(Kind::H264Idct(k), bits));
        }
        for k in [
            H264IdctMulti::Add16,
            H264IdctMulti::Add16Intra,
            H264IdctMulti::Idct8Add4,
        ] {
            v.push(Kernel::new(Kind::H264IdctMulti(k), bits));
        }
        for chroma422 in [false, true] {
            v.push(Kernel::new(Kind::H264IdctAdd8 { chroma422 }, bits));
        }
        for op in [Op::Put, Op::Avg] {
            for size in [16, 8, 4] {
                v.push(Kernel::new(Kind::H264Qpel { op, size }, bits));
            }
            for width in [8, 4, 2] {
                v.push(Kernel::new(Kind::H264ChromaMc { op, width }, bits));
            }
        }
        for tx in [Vp9TxSize::Tx4, Vp9TxSize::Tx8, Vp9TxSize::Tx16] {
            for ty in [
                Vp9TxType::DctDct,
                Vp9TxType::DctAdst,
                Vp9TxType::AdstDct,
                Vp9TxType::AdstAdst,
            ] {
                v.push(Kernel::new(Kind::Vp9Itxfm { tx, ty }, bits));
            }
        }
        v.push(Kernel::new(
            Kind::Vp9Itxfm {
                tx: Vp9TxSize::Tx32,
                ty: Vp9TxType::DctDct,
            },
            bits,
        ));
        v.push(Kernel::new(
            Kind::Vp9Itxfm {
                tx: Vp9TxSize::Wht,
                ty: Vp9TxType::DctDct,
            },
            bits,
        ));
        for op in [Op::Put, Op::Avg] {
            for filter in [
                Vp9Filter::Regular,
                Vp9Filter::Sharp,
                Vp9Filter::Smooth,
                Vp9Filter::Bilinear,
            ] {
                v.push(Kernel::new(Kind::Vp9Mc { op, filter }, bits));
            }
        }
    }
    for k in H264LoopFilter::ALL {
        v.push(Kernel::new(Kind::H264LoopFilter(k), 8));
    }
    for vertical in [false, true] {
        for kind in [
            Vp9LoopFilter::Len8 { wd: 4 },
            Vp9LoopFilter::Len8 { wd: 8 },
            Vp9LoopFilter::Len8 { wd: 16 },
            Vp9LoopFilter::Len16,
            Vp9LoopFilter::Mix2 { wd0: 4, wd1: 4 },
            Vp9LoopFilter::Mix2 { wd0: 4, wd1: 8 },
            Vp9LoopFilter::Mix2 { wd0: 8, wd1: 4 },
            Vp9LoopFilter::Mix2 { wd0: 8, wd1: 8 },
        ] {
            v.push(Kernel::new(Kind::Vp9LoopFilter { kind, vertical }, 8));
        }
    }
    v
}

/// The kernel called `name`.
pub fn find(name: &str) -> Option<Kernel> {
    all().into_iter().find(|k| k.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_well_formed() {
        let all = all();
        let mut names: Vec<&str> = all.iter().map(|k| k.name.as_str()).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate kernel names");
        for k in &all {
            assert!(
                k.name.starts_with("h264_") || k.name.starts_with("vp9_"),
                "{}",
                k.name
            );
            assert!(
                k.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                k.name
            );
            assert_eq!(k.name.ends_with("_10bit"), k.bits == 10, "{}", k.name);
            assert_eq!(find(&k.name).as_ref(), Some(k));
            for s in k.buffer_specs() {
                if let Some(i) = s.stride_param {
                    assert!(k.params()[usize::from(i)].ends_with("stride"));
                }
            }
        }
        assert!(find("h264_idct4").is_some());
        assert!(find("vp9_itxfm_4x4_dct_dct_10bit").is_some());
        assert!(find("h264_idct16").is_none());
    }
}
