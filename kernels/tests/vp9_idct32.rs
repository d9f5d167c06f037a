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
    common::vp9_dc_only_keeps_the_other_coefficients(32, |device, plane, coefs, blocks| {
        Vp9Idct32::new(device)?.run(device, plane, coefs, blocks)
    });
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
