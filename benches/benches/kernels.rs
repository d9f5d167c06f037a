//! Per kernel: one batch of 4,096 blocks in random order on the default backend (on this
//! machine, the emulator: this measures emulation speed), and FFmpeg's C function on the same
//! batch. The modelled Pi 5 time of each batch is printed once per kernel; `qpu bench` prints
//! the full table.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use golden::rng::Rng;
use kernels_check::{Batch, KERNELS, Layout};
use runtime::Device;

const BLOCKS: usize = 4096;

fn kernels(c: &mut Criterion) {
    let device = Device::open().expect("open a device");
    for which in KERNELS {
        let mut rng = Rng::new(0xbe7c);
        let layout = Layout::random(which, BLOCKS, &mut rng);
        let batch = Batch::new(which, layout, rng.next_u64());
        let (_, _, stats) = batch.run(&device).expect("kernel runs");
        eprintln!(
            "{which}: {BLOCKS} blocks, {} QPU instructions, {:.1} modelled us on a Pi 5",
            stats.instructions,
            stats.modelled_seconds() * 1e6
        );
        let mut g = c.benchmark_group(which.name());
        g.throughput(Throughput::Elements(BLOCKS as u64));
        g.sample_size(10);
        g.bench_function("device", |b| {
            b.iter(|| black_box(batch.run(&device).expect("kernel runs")))
        });
        g.bench_function("ffmpeg_c", |b| {
            b.iter(|| black_box(batch.reference_timed().expect("reference runs")))
        });
        g.finish();
    }
}

criterion_group!(benches, kernels);
criterion_main!(benches);
