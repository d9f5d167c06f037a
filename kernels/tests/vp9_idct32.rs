//! vp9_idct32 against FFmpeg's `idct_idct_32x32_add_c`, through its golden fixture cases
//! (full, quantised, sparse and partial blocks, DC-only ones included), run as one batch.

mod common;

use kernels::vp9_idct32::Vp9Idct32;
use kernels::vp9_itxfm4::{TxType, Vp9Block};

#[test]
fn every_fixture_case_in_one_batch() {
    let device = common::device();
    let batch = common::pack(&["vp9_itxfm_32x32_dct_dct"], 2048, &["eob"]);
    let n = batch.placed.len();
    assert!(n > 0, "the fixture has no cases");
    let dc_only = batch.placed.iter().filter(|p| p.params[0] == 1).count();
    eprintln!("{n} cases, {dc_only} of them DC-only (eob 1)");
    let stats = batch.run_and_check(&device, |plane, coefs, placed| {
        let blocks: Vec<_> = placed
            .iter()
            .map(|p| Vp9Block {
                dest: p.dest,
                tx_type: TxType::DctDct,
                eob: p.params[0] as u32,
            })
            .collect();
        Vp9Idct32::new(&device)?.run(&device, plane, coefs, &blocks)
    });
    eprintln!(
        "{} instructions, {} modelled cycles",
        stats.instructions, stats.cycles
    );
}

/// FFmpeg's DC-only form (eob 1) reads and clears only `block[0]`, whatever the other
/// coefficients hold; a block with a larger eob runs the full transform and clears all 1024.
/// The fixtures' DC-only blocks have nothing behind the DC, on which both forms agree, so this
/// puts coefficients there (which a conforming decoder never leaves).
#[test]
fn dc_only_ignores_and_keeps_the_other_coefficients() {
    let device = common::device();
    const N: usize = 1024;
    let stride = 72u32;
    let dc = [1000i16, -32768, 700, 32767, -5];
    let n = dc.len();
    let mut pixels = vec![0u8; stride as usize * 32 * n];
    for (i, p) in pixels.iter_mut().enumerate() {
        *p = (i * 37 % 256) as u8;
    }
    let mut coefs_in = vec![0i16; N * n];
    let mut blocks = Vec::new();
    for (b, &d) in dc.iter().enumerate() {
        coefs_in[N * b] = d;
        // Block 2 is a full block holding only its DC (eob 2): the same pixels, every
        // coefficient cleared. The others are DC-only with coefficients behind the DC.
        if b != 2 {
            for i in 1..N {
                coefs_in[N * b + i] = (i as i16 * 31 - 5000) * if b % 2 == 0 { 1 } else { -1 };
            }
        }
        blocks.push(Vp9Block {
            dest: kernels::Dest {
                offset: stride * 32 * b as u32 + 4,
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
    Vp9Idct32::new(&device)
        .unwrap()
        .run(&device, &mut plane, &mut coefs, &blocks)
        .unwrap();

    let mut want = pixels.clone();
    let mut want_coefs = coefs_in.clone();
    for (b, &d) in dc.iter().enumerate() {
        // vp9dsp_template.c, itxfm_wrapper with bits 6.
        let t = (((i32::from(d) * 11585 + (1 << 13)) >> 14) * 11585 + (1 << 13)) >> 14;
        let r = (t + 32) >> 6;
        for y in 0..32 {
            for x in 0..32 {
                let at = (stride * (32 * b as u32 + y) + 4 + x) as usize;
                want[at] = (i32::from(want[at]) + r).clamp(0, 255) as u8;
            }
        }
        if b == 2 {
            want_coefs[N * b..N * (b + 1)].fill(0);
        } else {
            want_coefs[N * b] = 0;
        }
    }
    assert_eq!(plane.to_vec().unwrap(), want, "pixels");
    assert_eq!(
        coefs.read_pod::<i16>(0, coefs_in.len()).unwrap(),
        want_coefs,
        "coefficients"
    );
}

/// The scratch is one block per hardware thread, sized from the device at `new`: a GPU with
/// another QPU count (one slice of 4 QPUs: 8 threads) gets its own and gives the same bytes,
/// and running a kernel set up for one device on a device with another thread count is an
/// error naming both counts, not a write past the scratch.
#[test]
fn scratch_follows_the_device_thread_count() {
    use runtime::{Device, SimConfig};
    let small = Device::open_sim(SimConfig {
        slices: 1,
        ..SimConfig::default()
    })
    .unwrap();
    let batch = common::pack(&["vp9_itxfm_32x32_dct_dct"], 2048, &["eob"]);
    let blocks = |placed: &[&common::Placed]| -> Vec<Vp9Block> {
        placed
            .iter()
            .map(|p| Vp9Block {
                dest: p.dest,
                tx_type: TxType::DctDct,
                eob: p.params[0] as u32,
            })
            .collect()
    };
    let stats = batch.run_and_check(&small, |plane, coefs, placed| {
        Vp9Idct32::new(&small)?.run(&small, plane, coefs, &blocks(placed))
    });
    assert_eq!(stats.threads, 8);

    let full = Device::open_sim(SimConfig::default()).unwrap();
    let k = Vp9Idct32::new(&full).unwrap();
    let mut plane = small.alloc(64 * 32).unwrap();
    let mut coefs = small.alloc(2048).unwrap();
    let one = [Vp9Block {
        dest: kernels::Dest {
            offset: 0,
            stride: 64,
        },
        tx_type: TxType::DctDct,
        eob: 1,
    }];
    let err = k.run(&small, &mut plane, &mut coefs, &one).unwrap_err();
    assert!(
        matches!(
            err,
            kernels::Error::OtherDevice {
                threads: 8,
                expected: 24
            }
        ),
        "{err}"
    );
}

/// eob is a scan position + 1 of a 32x32 block: 1..=1024.
#[test]
fn an_eob_outside_the_block_is_refused() {
    let device = common::device();
    let k = Vp9Idct32::new(&device).unwrap();
    let mut plane = device.alloc(64 * 32).unwrap();
    let mut coefs = device.alloc(2048).unwrap();
    for eob in [0, 1025] {
        let one = [Vp9Block {
            dest: kernels::Dest {
                offset: 0,
                stride: 64,
            },
            tx_type: TxType::DctDct,
            eob,
        }];
        let err = k.run(&device, &mut plane, &mut coefs, &one).unwrap_err();
        assert!(
            matches!(err, kernels::Error::BadParameter { what: "eob", value, .. } if value == eob),
            "{err}"
        );
    }
}
