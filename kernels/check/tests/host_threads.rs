//! The emulator gives every kernel the same result whatever the number of host threads it
//! runs on: a whole 1080p frame's worth of blocks, in random order, leaves the same plane and
//! coefficients and costs the same modelled instructions and cycles on 1 and 2 threads.

use golden::rng::Rng;
use kernels::Stats;
use kernels_check::{Batch, KERNELS, Layout};
use runtime::{Device, SimConfig};

#[test]
fn every_kernel_runs_the_same_on_1_and_2_host_threads() {
    let seed = 0x5eed_0002;
    eprintln!("seed {seed}");
    for which in KERNELS {
        let mut rng = Rng::new(seed);
        let layout = Layout::full_frame(which, 1920, 1080, &mut rng);
        let batch = Batch::new(which, layout, seed);
        let run = |host_threads| {
            let device = Device::open_sim(SimConfig {
                host_threads,
                ..SimConfig::default()
            })
            .expect("open the emulator");
            batch.run(&device).expect("the kernel runs")
        };
        assert_same(which.name(), run(1), run(2));
    }
}

/// Asserts that two runs of a kernel left the same plane and coefficients and cost the same
/// modelled instructions and cycles, and that they ran.
fn assert_same(name: &str, one: (Vec<u8>, Vec<i16>, Stats), two: (Vec<u8>, Vec<i16>, Stats)) {
    let ((plane1, coefs1, st1), (plane2, coefs2, st2)) = (one, two);
    assert!(plane1 == plane2, "{name}: the planes differ");
    assert!(coefs1 == coefs2, "{name}: the coefficients differ");
    assert_eq!(
        (st1.blocks, st1.threads, st1.instructions, st1.cycles),
        (st2.blocks, st2.threads, st2.instructions, st2.cycles),
        "{name}: the statistics differ"
    );
    assert!(
        st1.instructions > 0 && st1.cycles > 0,
        "{name}: ran on the emulator"
    );
}

/// The emulator's fast paths (its fast forms and blocks of straight-line instructions) are
/// optimisations only: every kernel leaves the same plane and coefficients and costs the same
/// modelled instructions and cycles with them as through the generic path alone, on a batch
/// of blocks spread over a 1080p plane (a quarter of a frame's worth, so that the QPUs contend
/// for the modelled bus as on a whole frame).
#[test]
fn every_kernel_runs_the_same_through_the_generic_path() {
    let seed = 0x5eed_0003;
    eprintln!("seed {seed}");
    for which in KERNELS {
        let mut rng = Rng::new(seed);
        let mut layout = Layout::full_frame(which, 1920, 1080, &mut rng);
        let keep = layout.positions.len() / 4;
        layout.positions.truncate(keep);
        let batch = Batch::new(which, layout, seed);
        let run = |generic_only| {
            let device = Device::open_sim(SimConfig {
                host_threads: 1,
                generic_only,
                ..SimConfig::default()
            })
            .expect("open the emulator");
            batch.run(&device).expect("the kernel runs")
        };
        assert_same(which.name(), run(false), run(true));
    }
}
