//! Checks daedalus' QPU kernels against FFmpeg's C functions live, on fresh random inputs.
//!
//! A check builds a picture plane of random pixels with a guard band around it, places a batch
//! of blocks on it (in random order, never overlapping, the plane's edges included), fills
//! their coefficients from golden's checkasm-style generators (forward transforms of real
//! residuals), runs the kernel on the device, runs FFmpeg's C function block by block on a
//! copy, and compares the whole plane, guard band included, and every coefficient (which
//! both must clear). `qpu check` and the kernels' frame-level tests are built on it.
#![forbid(unsafe_code)]

use std::fmt;
use std::time::Duration;

use golden::catalog::{self, Inputs};
use golden::reference::{H264Idct, Reference, Vp9TxSize, Vp9TxType};
use golden::rng::Rng;
use kernels::vp9_idct32::Vp9Idct32;
use kernels::vp9_itxfm4::{TxType, Vp9Block, Vp9Itxfm4};
use kernels::vp9_itxfm8::Vp9Itxfm8;
use kernels::vp9_itxfm16::Vp9Itxfm16;
use kernels::{Dest, Stats};
use runtime::Device;
use thiserror::Error;

/// The kernels on the QPU, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    H264Idct4,
    H264Idct8,
    H264Idct4Dc,
    H264Idct8Dc,
    Vp9Itxfm4,
    Vp9Itxfm8,
    Vp9Itxfm16,
    Vp9Iwht4,
    Vp9Idct32,
}

/// Every kernel, in the order reports list them.
pub const KERNELS: [Which; 9] = [
    Which::H264Idct4,
    Which::H264Idct8,
    Which::H264Idct4Dc,
    Which::H264Idct8Dc,
    Which::Vp9Itxfm4,
    Which::Vp9Itxfm8,
    Which::Vp9Itxfm16,
    Which::Vp9Iwht4,
    Which::Vp9Idct32,
];

impl Which {
    pub fn name(self) -> &'static str {
        match self {
            Which::H264Idct4 => "h264_idct4",
            Which::H264Idct8 => "h264_idct8",
            Which::H264Idct4Dc => "h264_idct4_dc",
            Which::H264Idct8Dc => "h264_idct8_dc",
            Which::Vp9Itxfm4 => "vp9_itxfm4",
            Which::Vp9Itxfm8 => "vp9_itxfm8",
            Which::Vp9Itxfm16 => "vp9_itxfm16",
            Which::Vp9Iwht4 => "vp9_iwht4",
            Which::Vp9Idct32 => "vp9_idct32",
        }
    }

    pub fn from_name(name: &str) -> Option<Which> {
        KERNELS.iter().copied().find(|k| k.name() == name)
    }

    /// Block width and height in pixels.
    pub fn size(self) -> usize {
        match self {
            Which::H264Idct8 | Which::H264Idct8Dc | Which::Vp9Itxfm8 => 8,
            Which::Vp9Itxfm16 => 16,
            Which::Vp9Idct32 => 32,
            _ => 4,
        }
    }

    /// FFmpeg's function(s) this kernel reproduces, for reports.
    pub fn reference(self) -> &'static str {
        match self {
            Which::H264Idct4 => "ff_h264_idct_add_8_c",
            Which::H264Idct8 => "ff_h264_idct8_add_8_c",
            Which::H264Idct4Dc => "ff_h264_idct_dc_add_8_c",
            Which::H264Idct8Dc => "ff_h264_idct8_dc_add_8_c",
            Which::Vp9Itxfm4 => "vp9 itxfm_add[TX_4X4][all types]",
            Which::Vp9Itxfm8 => "vp9 itxfm_add[TX_8X8][all types]",
            Which::Vp9Itxfm16 => "vp9 itxfm_add[TX_16X16][all types]",
            Which::Vp9Iwht4 => "vp9 iwht_iwht_4x4_add_c",
            Which::Vp9Idct32 => "vp9 idct_idct_32x32_add_c",
        }
    }

    /// The golden catalog kernels whose generators feed this kernel's inputs.
    fn sources(self) -> &'static [&'static str] {
        match self {
            Which::H264Idct4 => &["h264_idct4"],
            Which::H264Idct8 => &["h264_idct8"],
            Which::H264Idct4Dc => &["h264_idct4_dc"],
            Which::H264Idct8Dc => &["h264_idct8_dc"],
            Which::Vp9Itxfm4 => &[
                "vp9_itxfm_4x4_dct_dct",
                "vp9_itxfm_4x4_dct_adst",
                "vp9_itxfm_4x4_adst_dct",
                "vp9_itxfm_4x4_adst_adst",
            ],
            Which::Vp9Itxfm8 => &[
                "vp9_itxfm_8x8_dct_dct",
                "vp9_itxfm_8x8_dct_adst",
                "vp9_itxfm_8x8_adst_dct",
                "vp9_itxfm_8x8_adst_adst",
            ],
            Which::Vp9Itxfm16 => &[
                "vp9_itxfm_16x16_dct_dct",
                "vp9_itxfm_16x16_dct_adst",
                "vp9_itxfm_16x16_adst_dct",
                "vp9_itxfm_16x16_adst_adst",
            ],
            Which::Vp9Iwht4 => &["vp9_itxfm_4x4_wht_wht"],
            Which::Vp9Idct32 => &["vp9_itxfm_32x32_dct_dct"],
        }
    }

    /// FFmpeg's H.264 transform this kernel reproduces, if it is one.
    fn h264_kind(self) -> Option<H264Idct> {
        match self {
            Which::H264Idct4 => Some(H264Idct::Idct4),
            Which::H264Idct8 => Some(H264Idct::Idct8),
            Which::H264Idct4Dc => Some(H264Idct::Idct4Dc),
            Which::H264Idct8Dc => Some(H264Idct::Idct8Dc),
            Which::Vp9Itxfm4
            | Which::Vp9Itxfm8
            | Which::Vp9Itxfm16
            | Which::Vp9Iwht4
            | Which::Vp9Idct32 => None,
        }
    }

    /// Coefficients per block as the kernel reads them (the 8x8 DC form keeps FFmpeg's
    /// 64-coefficient block).
    fn coefs_per_block(self) -> usize {
        self.size() * self.size()
    }
}

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Error)]
pub enum CheckError {
    #[error(
        "unknown kernel `{0}`; the kernels are h264_idct4, h264_idct8, h264_idct4_dc, h264_idct8_dc, vp9_itxfm4, vp9_itxfm8, vp9_itxfm16, vp9_iwht4, vp9_idct32"
    )]
    UnknownKernel(String),
    #[error("{0}")]
    Kernel(#[from] kernels::Error),
    #[error("{0}")]
    Runtime(#[from] runtime::Error),
    #[error("FFmpeg reference: {0}")]
    Golden(#[from] golden::reference::GoldenError),
    #[error("a batch needs at least one block")]
    Empty,
}

/// Where the blocks of a batch go on the plane.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Picture width and height in pixels (multiples of the block size).
    pub width: usize,
    pub height: usize,
    /// Top-left pixel of each block, in batch order.
    pub positions: Vec<(usize, usize)>,
}

/// Guard band around the picture, in pixels (a multiple of 4 so rows stay word-aligned).
pub const GUARD: usize = 16;

impl Layout {
    /// Every block position of a `width` x `height` picture, in random order: a whole frame's
    /// worth of blocks. A height that is not a multiple of the block size is rounded up, as a
    /// decoder's coded frame is (1080p's 16x16 blocks cover 1088 rows).
    pub fn full_frame(which: Which, width: usize, height: usize, rng: &mut Rng) -> Layout {
        let s = which.size();
        let height = height.next_multiple_of(s);
        let mut positions: Vec<(usize, usize)> = (0..height / s)
            .flat_map(|y| (0..width / s).map(move |x| (x * s, y * s)))
            .collect();
        shuffle(&mut positions, rng);
        Layout {
            width,
            height,
            positions,
        }
    }

    /// `n` distinct random positions on the smallest picture at most 1920 wide that holds
    /// them, its edges included.
    pub fn random(which: Which, n: usize, rng: &mut Rng) -> Layout {
        let s = which.size();
        let cols = (1920 / s).min(n.max(1)).max(1);
        // Twice the cells needed, so the positions are scattered rather than packed.
        let rows = (2 * n).div_ceil(cols).max(1);
        let mut all = Layout::full_frame(which, cols * s, rows * s, rng);
        all.positions.truncate(n);
        all
    }
}

fn shuffle<T>(v: &mut [T], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

/// A batch ready to run: the plane with its guard band, the coefficients and, for VP9, each
/// block's type and eob.
pub struct Batch {
    pub which: Which,
    pub layout: Layout,
    /// Bytes per plane row (picture width + 2 guard bands).
    pub stride: usize,
    pub plane: Vec<u8>,
    pub coefs: Vec<i16>,
    pub vp9: Vec<(Vp9TxType, u32)>,
}

impl Batch {
    /// Random pixels everywhere (picture and guard band) and generated coefficients.
    pub fn new(which: Which, layout: Layout, seed: u64) -> Batch {
        let mut rng = Rng::new(seed);
        let stride = layout.width + 2 * GUARD;
        let rows = layout.height + 2 * GUARD;
        let plane = (0..stride * rows).map(|_| rng.pixel(8) as u8).collect();
        let n = layout.positions.len();
        let per = which.coefs_per_block();
        let mut coefs = Vec::with_capacity(n * per);
        let mut vp9 = Vec::new();
        let sources: Vec<_> = which
            .sources()
            .iter()
            .map(|name| catalog::find(name).expect("golden catalog kernel"))
            .collect();
        // Draw cases from the generators, a fresh generator seed each time the pool runs out,
        // picking the source kernel (the VP9 type) at random per block.
        let mut pools: Vec<Vec<Inputs>> = vec![Vec::new(); sources.len()];
        for _ in 0..n {
            let s = rng.below(sources.len() as u64) as usize;
            if pools[s].is_empty() {
                pools[s] = sources[s].generate(rng.next_u64());
                pools[s].reverse();
            }
            let case = pools[s].pop().expect("generators make cases");
            // Buffers are (dst, block) for the transforms.
            let block = &case.buffers[1];
            debug_assert_eq!(block.len(), per);
            coefs.extend(block.iter().map(|&c| c as i16));
            if matches!(
                which,
                Which::Vp9Itxfm4
                    | Which::Vp9Itxfm8
                    | Which::Vp9Itxfm16
                    | Which::Vp9Iwht4
                    | Which::Vp9Idct32
            ) {
                let eob_i = sources[s]
                    .params()
                    .iter()
                    .position(|p| *p == "eob")
                    .expect("vp9 cases carry eob");
                let ty = [
                    Vp9TxType::DctDct,
                    Vp9TxType::DctAdst,
                    Vp9TxType::AdstDct,
                    Vp9TxType::AdstAdst,
                ][s];
                vp9.push((ty, case.params[eob_i] as u32));
            }
        }
        Batch {
            which,
            layout,
            stride,
            plane,
            coefs,
            vp9,
        }
    }

    fn origin(&self, k: usize) -> usize {
        let (x, y) = self.layout.positions[k];
        (y + GUARD) * self.stride + x + GUARD
    }

    /// Runs FFmpeg's C function on every block, in batch order, directly on copies of the
    /// plane and coefficients. Returns them and the time FFmpeg's calls took.
    pub fn reference_timed(&self) -> Result<(Vec<u8>, Vec<i16>, Duration), CheckError> {
        let r = Reference::c()?;
        let mut plane = self.plane.clone();
        let mut coefs = self.coefs.clone();
        let origins: Vec<usize> = (0..self.layout.positions.len())
            .map(|k| self.origin(k))
            .collect();
        let elapsed = match self.which.h264_kind() {
            Some(kind) => r.h264_idct_batch(kind, &mut plane, self.stride, &origins, &mut coefs)?,
            None => {
                let tx = match self.which {
                    Which::Vp9Iwht4 => Vp9TxSize::Wht,
                    Which::Vp9Itxfm8 => Vp9TxSize::Tx8,
                    Which::Vp9Itxfm16 => Vp9TxSize::Tx16,
                    Which::Vp9Idct32 => Vp9TxSize::Tx32,
                    _ => Vp9TxSize::Tx4,
                };
                r.vp9_itxfm_batch(tx, &mut plane, self.stride, &origins, &mut coefs, &self.vp9)?
            }
        };
        Ok((plane, coefs, elapsed))
    }

    /// FFmpeg's result for the batch: (plane, coefficients).
    pub fn reference(&self) -> Result<(Vec<u8>, Vec<i16>), CheckError> {
        self.reference_timed().map(|(p, c, _)| (p, c))
    }

    /// Runs the QPU kernel on the device.
    pub fn run(&self, device: &Device) -> Result<(Vec<u8>, Vec<i16>, Stats), CheckError> {
        let mut plane = device.alloc(self.plane.len() as u32)?;
        plane.write(0, &self.plane)?;
        let coef_bytes = (self.coefs.len() * 2).max(16) as u32;
        let mut coefs = device.alloc(coef_bytes)?;
        coefs.write_pod(0, &self.coefs)?;
        let dests: Vec<Dest> = (0..self.layout.positions.len())
            .map(|k| Dest {
                offset: self.origin(k) as u32,
                stride: self.stride as u32,
            })
            .collect();
        let stats = match self.which {
            Which::H264Idct4 => kernels::h264_idct4::H264Idct4::new(device)?
                .run(device, &mut plane, &mut coefs, &dests)?,
            Which::H264Idct8 => kernels::h264_idct8::H264Idct8::new(device)?
                .run(device, &mut plane, &mut coefs, &dests)?,
            Which::H264Idct4Dc => kernels::h264_idct_dc::H264Idct4Dc::new(device)?
                .run(device, &mut plane, &mut coefs, &dests)?,
            Which::H264Idct8Dc => kernels::h264_idct_dc::H264Idct8Dc::new(device)?
                .run(device, &mut plane, &mut coefs, &dests)?,
            Which::Vp9Iwht4 => kernels::vp9_iwht4::Vp9Iwht4::new(device)?
                .run(device, &mut plane, &mut coefs, &dests)?,
            Which::Vp9Itxfm4 | Which::Vp9Itxfm8 | Which::Vp9Itxfm16 | Which::Vp9Idct32 => {
                let blocks: Vec<Vp9Block> = dests
                    .iter()
                    .zip(&self.vp9)
                    .map(|(&dest, &(ty, eob))| Vp9Block {
                        dest,
                        tx_type: match ty {
                            Vp9TxType::DctDct => TxType::DctDct,
                            Vp9TxType::DctAdst => TxType::DctAdst,
                            Vp9TxType::AdstDct => TxType::AdstDct,
                            Vp9TxType::AdstAdst => TxType::AdstAdst,
                        },
                        eob,
                    })
                    .collect();
                match self.which {
                    Which::Vp9Itxfm8 => {
                        Vp9Itxfm8::new(device)?.run(device, &mut plane, &mut coefs, &blocks)?
                    }
                    Which::Vp9Itxfm16 => {
                        Vp9Itxfm16::new(device)?.run(device, &mut plane, &mut coefs, &blocks)?
                    }
                    Which::Vp9Idct32 => {
                        Vp9Idct32::new(device)?.run(device, &mut plane, &mut coefs, &blocks)?
                    }
                    _ => Vp9Itxfm4::new(device)?.run(device, &mut plane, &mut coefs, &blocks)?,
                }
            }
        };
        let plane_after = plane.to_vec()?;
        let coefs_after = coefs.read_pod::<i16>(0, self.coefs.len())?;
        Ok((plane_after, coefs_after, stats))
    }

    /// The block whose pixels hold plane byte `at`, if any.
    fn block_at(&self, at: usize) -> Option<usize> {
        let s = self.which.size();
        let (y, x) = (at / self.stride, at % self.stride);
        (0..self.layout.positions.len()).find(|&k| {
            let o = self.origin(k);
            let (oy, ox) = (o / self.stride, o % self.stride);
            (oy..oy + s).contains(&y) && (ox..ox + s).contains(&x)
        })
    }
}

/// The outcome of checking one batch.
#[derive(Clone, Debug)]
pub struct Report {
    pub which: Which,
    pub seed: u64,
    pub blocks: usize,
    /// Blocks whose pixels and coefficients match FFmpeg byte for byte.
    pub exact: usize,
    /// The first difference, described (block, byte, position, values), if any.
    pub first_mismatch: Option<String>,
    /// Whether anything outside the blocks (the guard band, the gaps) changed.
    pub outside_written: bool,
    pub stats: Stats,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.exact == self.blocks && self.first_mismatch.is_none() && !self.outside_written
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}/{} bit-exact",
            self.which, self.exact, self.blocks
        )?;
        if let Some(m) = &self.first_mismatch {
            write!(f, " (seed {}; {m})", self.seed)?;
        }
        Ok(())
    }
}

/// Runs `batch` on the device and compares it with FFmpeg.
pub fn check_batch(device: &Device, batch: &Batch, seed: u64) -> Result<Report, CheckError> {
    let n = batch.layout.positions.len();
    if n == 0 {
        return Err(CheckError::Empty);
    }
    let want = batch.reference()?;
    let (got_plane, got_coefs, stats) = batch.run(device)?;
    Ok(compare(batch, &want, (&got_plane, &got_coefs), stats, seed))
}

/// Compares a kernel's output with FFmpeg's: every plane byte (blocks, gaps and guard band)
/// and every coefficient.
pub fn compare(
    batch: &Batch,
    want: &(Vec<u8>, Vec<i16>),
    got: (&[u8], &[i16]),
    stats: Stats,
    seed: u64,
) -> Report {
    let (want_plane, want_coefs) = (&want.0, &want.1);
    let (got_plane, got_coefs) = got;
    let n = batch.layout.positions.len();
    let per = batch.which.coefs_per_block();
    let mut bad = vec![false; n];
    let mut first: Option<(usize, String)> = None;
    let mut outside_written = false;
    for (at, (w, g)) in want_plane.iter().zip(got_plane).enumerate() {
        if w == g {
            continue;
        }
        let (y, x) = (at / batch.stride, at % batch.stride);
        let desc = match batch.block_at(at) {
            Some(k) => {
                bad[k] = true;
                let o = batch.origin(k);
                format!(
                    "block {k} at ({}, {}): first differing byte is pixel ({}, {}) of the block, plane byte {at}: expected {w}, got {g}",
                    batch.layout.positions[k].0,
                    batch.layout.positions[k].1,
                    x - o % batch.stride,
                    y - o / batch.stride
                )
            }
            None => {
                outside_written = true;
                format!(
                    "plane byte {at} (x {}, y {} including the {GUARD}-pixel guard band) outside every block changed: expected {w}, got {g}",
                    x, y
                )
            }
        };
        if first.as_ref().is_none_or(|(a, _)| at < *a) {
            first = Some((at, desc));
        }
    }
    let blocks_coefs = want_coefs.chunks(per).zip(got_coefs.chunks(per));
    for (k, (bad_k, (w, g))) in bad.iter_mut().zip(blocks_coefs).enumerate() {
        if let Some(i) = (0..per).find(|&i| w[i] != g[i]) {
            if !*bad_k && first.is_none() {
                first = Some((
                    usize::MAX,
                    format!(
                        "block {k}: coefficient {i} expected {}, got {} (the kernel must clear what FFmpeg clears)",
                        w[i], g[i]
                    ),
                ));
            }
            *bad_k = true;
        }
    }
    Report {
        which: batch.which,
        seed,
        blocks: n,
        exact: bad.iter().filter(|b| !**b).count(),
        first_mismatch: first.map(|(_, d)| d),
        outside_written,
        stats,
    }
}

/// `qpu check`: `n` random blocks of `kernel` from `seed`, checked against FFmpeg.
pub fn check(device: &Device, which: Which, seed: u64, n: usize) -> Result<Report, CheckError> {
    let mut rng = Rng::new(seed);
    let layout = Layout::random(which, n, &mut rng);
    let batch = Batch::new(which, layout, rng.next_u64());
    check_batch(device, &batch, seed)
}

/// One row of `qpu bench`: a 1080p frame's worth of the kernel's blocks, on the device and
/// through FFmpeg's C function on this host.
#[derive(Clone, Debug)]
pub struct BenchRow {
    pub which: Which,
    pub blocks: usize,
    /// QPU instructions issued per block (emulator; 0 on hardware).
    pub instructions_per_block: f64,
    /// Modelled GPU clocks per block, the whole GPU working on the batch (emulator).
    pub cycles_per_block: f64,
    /// Modelled time of the whole batch on a Pi 5, in seconds (emulator; 0 on hardware).
    pub modelled_seconds: f64,
    /// Host time of the dispatch (on hardware: the GPU's real time).
    pub device_seconds: f64,
    /// FFmpeg's C function on this host, in blocks per second.
    pub ffmpeg_c_blocks_per_second: f64,
    /// Whether the device's output matched FFmpeg's byte for byte.
    pub exact: bool,
}

impl BenchRow {
    /// Projected blocks per second on a Pi 5 (from the emulator's timing model).
    pub fn pi5_blocks_per_second(&self) -> f64 {
        if self.modelled_seconds > 0.0 {
            self.blocks as f64 / self.modelled_seconds
        } else {
            self.blocks as f64 / self.device_seconds.max(1e-12)
        }
    }
}

/// Benchmarks `which` on a whole 1920x1080 frame's worth of blocks in random order, from
/// `seed`: the device's run, FFmpeg's C function on the same batch, and their comparison.
pub fn bench(device: &Device, which: Which, seed: u64) -> Result<BenchRow, CheckError> {
    let mut rng = Rng::new(seed);
    let layout = Layout::full_frame(which, 1920, 1080, &mut rng);
    let batch = Batch::new(which, layout, rng.next_u64());
    let n = batch.layout.positions.len();
    let (want_plane, want_coefs, c_time) = batch.reference_timed()?;
    let (got_plane, got_coefs, stats) = batch.run(device)?;
    let exact = want_plane == got_plane && want_coefs == got_coefs;
    Ok(BenchRow {
        which,
        blocks: n,
        instructions_per_block: stats.instructions as f64 / n as f64,
        cycles_per_block: stats.cycles as f64 / n as f64,
        modelled_seconds: stats.modelled_seconds(),
        device_seconds: stats.elapsed.as_secs_f64(),
        ffmpeg_c_blocks_per_second: n as f64 / c_time.as_secs_f64().max(1e-12),
        exact,
    })
}
