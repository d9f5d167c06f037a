//! Shared test plumbing: pack fixture cases into one batch, run it, check every case.

#![allow(dead_code)]

use golden_fixtures::{Fixture, default_dir};
use kernels::vp9_itxfm4::{TxType, Vp9Block};
use kernels::{Dest, Stats};
use runtime::{Buffer, Device};

/// One case of a fixture, placed in the batch.
pub struct Placed {
    pub fixture: usize,
    pub case: usize,
    /// Byte offset of the case's whole destination buffer (guard bands included) in the plane.
    pub plane_offset: usize,
    pub dst_len: usize,
    /// Byte offset of its coefficients in the coefficient buffer.
    pub coef_offset: usize,
    pub dest: Dest,
    /// Extra per-case parameters the caller asked for, by name.
    pub params: Vec<i32>,
}

/// Fixture cases packed into one plane and one coefficient buffer.
pub struct Batch {
    pub fixtures: Vec<Fixture>,
    pub placed: Vec<Placed>,
    pub plane: Vec<u8>,
    pub coefs: Vec<u8>,
}

/// Loads the fixtures and packs every case: destination buffers one after another (each
/// 16-byte aligned), coefficient blocks `coef_bytes` apart. `dst` and `block` are the buffer
/// names; `extra` parameters are read per case.
pub fn pack(kernels: &[&str], coef_bytes: usize, extra: &[&str]) -> Batch {
    let mut b = Batch {
        fixtures: Vec::new(),
        placed: Vec::new(),
        plane: Vec::new(),
        coefs: Vec::new(),
    };
    for (fi, name) in kernels.iter().enumerate() {
        let f = Fixture::load(&default_dir(), name)
            .unwrap_or_else(|e| panic!("loading fixture {name}: {e}"));
        let dst_i = f.buffer_index("dst").unwrap();
        let blk_i = f.buffer_index("block").unwrap();
        for (ci, case) in f.cases.iter().enumerate() {
            let dst = &case.buffers[dst_i].before;
            let block = &case.buffers[blk_i].before;
            assert_eq!(
                block.len(),
                coef_bytes,
                "{name} case {ci}: coefficient block size"
            );
            let stride = f.param(ci, "stride").unwrap() as u32;
            let origin = f.param(ci, "origin").unwrap() as u32;
            let plane_offset = b.plane.len();
            b.plane.extend_from_slice(dst);
            while b.plane.len() % 16 != 0 {
                b.plane.push(0xa5);
            }
            let coef_offset = b.coefs.len();
            b.coefs.extend_from_slice(block);
            b.placed.push(Placed {
                fixture: fi,
                case: ci,
                plane_offset,
                dst_len: dst.len(),
                coef_offset,
                dest: Dest {
                    offset: plane_offset as u32 + origin,
                    stride,
                },
                params: extra.iter().map(|p| f.param(ci, p).unwrap()).collect(),
            });
        }
        b.fixtures.push(f);
    }
    b
}

impl Batch {
    /// Uploads the plane and coefficients, runs `run` on them, and checks every case against
    /// its fixture: the destination with its guard bands, and the cleared coefficients.
    pub fn run_and_check(
        &self,
        device: &Device,
        run: impl FnOnce(&mut Buffer, &mut Buffer, &[&Placed]) -> kernels::Result<Stats>,
    ) -> Stats {
        let mut plane = device.alloc(self.plane.len().max(16) as u32).unwrap();
        plane.write(0, &self.plane).unwrap();
        let mut coefs = device.alloc(self.coefs.len().max(16) as u32).unwrap();
        coefs.write(0, &self.coefs).unwrap();
        let placed: Vec<&Placed> = self.placed.iter().collect();
        let stats = run(&mut plane, &mut coefs, &placed).expect("kernel runs");
        let plane_after = plane.to_vec().unwrap();
        let coefs_after = coefs.to_vec().unwrap();
        let mut failures = Vec::new();
        for p in &self.placed {
            let f = &self.fixtures[p.fixture];
            let dst = &plane_after[p.plane_offset..p.plane_offset + p.dst_len];
            let blk_len = f.cases[p.case].buffers[f.buffer_index("block").unwrap()]
                .before
                .len();
            let block = &coefs_after[p.coef_offset..p.coef_offset + blk_len];
            let dst_i = f.buffer_index("dst").unwrap();
            let mut actual: Vec<&[u8]> = vec![&[]; f.buffers.len()];
            actual[dst_i] = dst;
            actual[f.buffer_index("block").unwrap()] = block;
            if let Err(m) = f.check(p.case, &actual).unwrap() {
                failures.push(m.to_string());
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} cases differ; first: {}",
            failures.len(),
            self.placed.len(),
            failures[0]
        );
        // The padding between cases is guard band too.
        for (i, p) in self.placed.iter().enumerate() {
            let end = p.plane_offset + p.dst_len;
            let next = self
                .placed
                .get(i + 1)
                .map_or(self.plane.len(), |n| n.plane_offset);
            assert_eq!(
                &plane_after[end..next],
                &self.plane[end..next],
                "bytes after case {} were written",
                i
            );
        }
        stats
    }
}

/// The device the tests run on: the default backend (the emulator here, the GPU on a Pi 5).
pub fn device() -> Device {
    let d = Device::open().expect("open a device");
    eprintln!("running on: {}", d.description());
    d
}

/// FFmpeg's VP9 DC-only form (DCT_DCT, eob 1) reads only `block[0]` and clears only
/// `block[0]`, whatever the other coefficients hold; a DCT_DCT block with a larger eob runs
/// the full transform and clears them all. The fixtures' DC-only blocks have nothing behind
/// the DC, on which both forms agree, so this puts coefficients there (which a conforming
/// decoder never leaves). `size` is the block size; `run` runs the kernel on the batch.
pub fn vp9_dc_only_keeps_the_other_coefficients(
    size: u32,
    run: impl FnOnce(&Device, &mut Buffer, &mut Buffer, &[Vp9Block]) -> kernels::Result<Stats>,
) {
    let device = device();
    let n_coefs = (size * size) as usize;
    // vp9dsp_template.c, itxfm_wrapper: the DC-only residual is (t + round) >> bits, with
    // bits 4 for 4x4, 5 for 8x8 and 6 for 16x16 and 32x32.
    let bits = match size {
        4 => 4,
        8 => 5,
        _ => 6,
    };
    let stride = 2 * size + 8;
    let dc = [1000i16, -32768, 700, 32767, -5];
    let n = dc.len();
    let mut pixels = vec![0u8; (stride * size * n as u32) as usize];
    for (i, p) in pixels.iter_mut().enumerate() {
        *p = (i * 37 % 256) as u8;
    }
    let mut coefs_in = vec![0i16; n_coefs * n];
    let mut blocks = Vec::new();
    for (b, &d) in dc.iter().enumerate() {
        coefs_in[n_coefs * b] = d;
        // Block 2 is a full DCT_DCT block holding only its DC (eob 2): the same pixels, every
        // coefficient cleared. The others are DC-only with other coefficients behind the DC.
        if b != 2 {
            for i in 1..n_coefs {
                // Wrapping: at 16x16 and up the pattern passes the int16 range.
                coefs_in[n_coefs * b + i] = (i as i16)
                    .wrapping_mul(311)
                    .wrapping_sub(5000)
                    .wrapping_mul(if b % 2 == 0 { 1 } else { -1 });
            }
        }
        blocks.push(Vp9Block {
            dest: kernels::Dest {
                offset: stride * size * b as u32 + 4,
                stride,
            },
            tx_type: TxType::DctDct,
            eob: if b == 2 { 2 } else { 1 },
        });
    }
    let mut plane = device.alloc(pixels.len() as u32).unwrap();
    plane.write(0, &pixels).unwrap();
    let mut coefs = device.alloc(coefs_in.len() as u32 * 2).unwrap();
    coefs.write_pod(0, &coefs_in).unwrap();
    run(&device, &mut plane, &mut coefs, &blocks).unwrap();

    let mut want = pixels.clone();
    let mut want_coefs = coefs_in.clone();
    for (b, &d) in dc.iter().enumerate() {
        let t = ((i32::from(d) * 11585 + (1 << 13)) >> 14) * 11585 + (1 << 13);
        let r = ((t >> 14) + (1 << (bits - 1))) >> bits;
        for y in 0..size {
            for x in 0..size {
                let at = (stride * (size * b as u32 + y) + 4 + x) as usize;
                want[at] = (i32::from(want[at]) + r).clamp(0, 255) as u8;
            }
        }
        if b == 2 {
            want_coefs[n_coefs * b..n_coefs * (b + 1)].fill(0);
        } else {
            want_coefs[n_coefs * b] = 0;
        }
    }
    assert_eq!(plane.to_vec().unwrap(), want, "pixels");
    assert_eq!(
        coefs.read_pod::<i16>(0, coefs_in.len()).unwrap(),
        want_coefs,
        "coefficients"
    );
}

/// Packs the four golden fixtures of a VP9 transform size (`vp9_itxfm_{size}x{size}_<type>`)
/// into one mixed batch, runs `run` on it and checks every case.
pub fn vp9_all_types_in_one_batch(
    size: u32,
    run: impl FnOnce(&Device, &mut Buffer, &mut Buffer, &[Vp9Block]) -> kernels::Result<Stats>,
) {
    let device = device();
    let types = [
        ("dct_dct", TxType::DctDct),
        ("dct_adst", TxType::DctAdst),
        ("adst_dct", TxType::AdstDct),
        ("adst_adst", TxType::AdstAdst),
    ];
    let names: Vec<String> = types
        .iter()
        .map(|(t, _)| format!("vp9_itxfm_{size}x{size}_{t}"))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let batch = pack(&names, (size * size * 2) as usize, &["eob"]);
    batch.run_and_check(&device, |plane, coefs, placed| {
        let blocks: Vec<_> = placed
            .iter()
            .map(|p| Vp9Block {
                dest: p.dest,
                tx_type: types[p.fixture].1,
                eob: p.params[0] as u32,
            })
            .collect();
        run(&device, plane, coefs, &blocks)
    });
}
