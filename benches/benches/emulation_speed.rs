//! Emulation speed on the project's real kernels: `h264_idct4` and `vp9_itxfm16` on a whole
//! 1080p frame's worth of blocks in random order (the batch `kernels-check`'s host-thread test
//! runs), on the emulator with 1 and 2 host threads. criterion's throughput is in QPU
//! instructions, so its "elem/s" is QPU instructions per second of host time. Two timings per
//! host thread count: `host_threads_N` times a whole `Batch::run` (loading the kernel, copying
//! the plane and coefficients in and out, and the dispatch, as a decoder would pay it);
//! `dispatch/host_threads_N` times the dispatch alone, from submission to completion as the
//! runtime reports it (`kernels::Stats::elapsed`): the emulator's own speed. The results are
//! the same on 1 and 2 threads (`kernels/check/tests/host_threads.rs`), only the speed differs.
//! qpu-sim's own `emulation_speed` bench times synthetic register- and TMU-bound loops.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use golden::rng::Rng;
use kernels_check::{Batch, Layout, Which};
use runtime::{Device, SimConfig};

fn emulation_speed(c: &mut Criterion) {
    let seed = 0x5eed_0002;
    for which in [Which::H264Idct4, Which::Vp9Itxfm16] {
        let mut rng = Rng::new(seed);
        let layout = Layout::full_frame(which, 1920, 1080, &mut rng);
        let batch = Batch::new(which, layout, seed);
        let device = |host_threads| {
            Device::open_sim(SimConfig {
                host_threads,
                ..SimConfig::default()
            })
            .expect("open the emulator")
        };
        let (_, _, stats) = batch.run(&device(1)).expect("kernel runs");
        eprintln!(
            "{which}: 1080p frame, {} blocks, {} QPU instructions, {} modelled cycles",
            stats.blocks, stats.instructions, stats.cycles
        );
        let mut g = c.benchmark_group(format!("emulation_speed/{which}_1080p"));
        g.throughput(Throughput::Elements(stats.instructions));
        g.sample_size(10);
        for host_threads in [1, 2] {
            let device = device(host_threads);
            g.bench_function(format!("host_threads_{host_threads}"), |b| {
                b.iter(|| black_box(batch.run(&device).expect("kernel runs")))
            });
            g.bench_function(format!("dispatch/host_threads_{host_threads}"), |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| batch.run(&device).expect("kernel runs").2.elapsed)
                        .sum::<Duration>()
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, emulation_speed);
criterion_main!(benches);
