//! Frame-level batches against FFmpeg: a whole 1080p frame's worth of blocks in random
//! order, a batch of one block, and random batches from a printed seed. The plane's guard
//! band and every gap between blocks must stay untouched.

use golden::rng::Rng;
use kernels_check::{Batch, GUARD, KERNELS, Layout, Which, check, check_batch, compare};
use runtime::Device;

fn device() -> Device {
    let d = Device::open().expect("open a device");
    eprintln!("running on: {}", d.description());
    d
}

fn seed() -> u64 {
    let s = std::env::var("KERNELS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x1080_da3d);
    eprintln!("seed {s} (set KERNELS_SEED to repeat or vary)");
    s
}

#[test]
fn a_1080p_frame_of_blocks_in_random_order() {
    let device = device();
    let seed = seed();
    for which in KERNELS {
        let mut rng = Rng::new(seed);
        let layout = Layout::full_frame(which, 1920, 1080, &mut rng);
        let n = layout.positions.len();
        assert_eq!(n, (1920 / which.size()) * 1080usize.div_ceil(which.size()));
        let batch = Batch::new(which, layout, rng.next_u64());
        let report = check_batch(&device, &batch, seed).unwrap();
        eprintln!(
            "{report}  ({} instructions, {} cycles)",
            report.stats.instructions, report.stats.cycles
        );
        assert!(report.passed(), "{report}");
    }
}

#[test]
fn a_batch_of_one_block_at_each_corner() {
    let device = device();
    for which in KERNELS {
        let s = which.size();
        for (x, y) in [(0, 0), (64 - s, 0), (0, 32 - s), (64 - s, 32 - s)] {
            let layout = Layout {
                width: 64,
                height: 32,
                positions: vec![(x, y)],
            };
            let batch = Batch::new(which, layout, 7 + x as u64 + y as u64);
            let report = check_batch(&device, &batch, 7).unwrap();
            assert!(report.passed(), "{which} at ({x}, {y}): {report}");
        }
    }
}

#[test]
fn random_batches_of_every_size_class() {
    let device = device();
    let seed = seed();
    for which in KERNELS {
        for n in [1, 15, 16, 17, 100, 1000] {
            let report = check(&device, which, seed ^ n as u64, n).unwrap();
            assert!(report.passed(), "{report}");
            assert_eq!(report.blocks, n);
        }
    }
}

#[test]
fn a_wrong_result_is_reported_with_block_and_byte() {
    let device = device();
    let mut rng = Rng::new(3);
    let which = Which::H264Idct4;
    let layout = Layout::random(which, 40, &mut rng);
    let batch = Batch::new(which, layout, 99);
    let want = batch.reference().unwrap();
    let (mut plane, mut coefs, stats) = batch.run(&device).unwrap();
    let good = compare(&batch, &want, (&plane, &coefs), stats.clone(), 99);
    assert!(good.passed(), "{good}");

    // One pixel of block 5 off by one.
    let (x, y) = batch.layout.positions[5];
    let at = (y + 1 + GUARD) * batch.stride + x + 2 + GUARD;
    plane[at] ^= 1;
    let r = compare(&batch, &want, (&plane, &coefs), stats.clone(), 99);
    assert!(!r.passed());
    assert_eq!(r.exact, 39);
    let m = r.first_mismatch.clone().unwrap();
    assert!(m.contains("block 5") && m.contains("pixel (2, 1)"), "{m}");
    assert!(r.to_string().contains("39/40 bit-exact") && r.to_string().contains("seed 99"));
    plane[at] ^= 1;

    // A write into the guard band.
    plane[3] ^= 0x80;
    let r = compare(&batch, &want, (&plane, &coefs), stats.clone(), 99);
    assert!(r.outside_written && !r.passed(), "{r}");
    plane[3] ^= 0x80;

    // A coefficient left uncleared.
    coefs[7 * 16 + 3] = 1;
    let r = compare(&batch, &want, (&plane, &coefs), stats, 99);
    assert!(!r.passed());
    assert!(r.first_mismatch.unwrap().contains("block 7: coefficient 3"));
}

/// `qpu bench`'s own batch (seed 1) of every kernel runs and is exact. On vp9_itxfm8 this
/// batch once made the emulator report a deadlock: a QPU's TMU stall ended exactly on a
/// scheduling quantum's boundary, so no QPU ran in the next quantum although one could.
#[test]
fn the_bench_batches_run_and_are_exact() {
    let device = device();
    for which in KERNELS {
        let row = kernels_check::bench(&device, which, 1).unwrap();
        assert!(row.exact, "{which}: the bench batch differs from FFmpeg");
    }
}
