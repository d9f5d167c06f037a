//! Emulation speed in QPU instructions per second of host time, on two realistic kernels:
//! `docs/examples/vector_add.qasm` (TMU-bound streaming, 24 threads with thread switches) and
//! a register-heavy 4-point butterfly loop of the kind the video kernels run (integer
//! add/sub/shift/multiply with flags and a branch, 12 threads), each on 1 and on 2 host
//! threads (`GpuConfig::host_threads`; the results are identical, only the speed differs).

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qpu_sim::{DispatchOptions, Gpu, GpuConfig};

const CODE: u32 = 0x0001_0000;
const UNIF: u32 = 0x0002_0000;
const DATA: u32 = 0x0010_0000;

fn words(w: &[u32]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn cfg(batches: u32) -> [u32; 7] {
    [
        batches << 16,
        1 << 16,
        1 << 16,
        16 | (1 << 8),
        batches - 1,
        CODE,
        UNIF,
    ]
}

fn gpu(host_threads: usize) -> Gpu {
    Gpu::new(GpuConfig {
        host_threads,
        ..GpuConfig::default()
    })
}

fn vector_add_gpu(iters: u32, host_threads: usize) -> Gpu {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/vector_add.qasm");
    let code = qpu_asm::assemble_file(&path)
        .expect("vector_add assembles")
        .to_bytes();
    let threads = 24;
    let n = 16 * threads * iters;
    let mut gpu = gpu(host_threads);
    gpu.map_bo(CODE, code).unwrap();
    let (a, b, c) = (DATA, DATA + 4 * n, DATA + 8 * n);
    gpu.map_bo(UNIF, words(&[a, b, c, iters, 64 * threads]))
        .unwrap();
    let v: Vec<u32> = (0..n).map(|i| (i as f32).to_bits()).collect();
    gpu.map_bo(a, words(&v)).unwrap();
    gpu.map_bo(b, words(&v)).unwrap();
    gpu.map_bo(c, vec![0; 4 * n as usize]).unwrap();
    gpu
}

const BUTTERFLY: &str = "
    nop ; ldunifrf.rf1
    eidx rf2
    mov rf3, 7
    mov rf4, 3
    mov rf5, 5
    mov rf6, 1
    mov rf9, 1
loop:
    add rf10, rf2, rf5 ; smul24 rf11, rf3, rf4
    sub rf12, rf2, rf5 ; smul24 rf13, rf4, rf6
    asr rf14, rf11, 2 ; add rf15, rf10, rf13
    sub rf16, rf12, rf14 ; smul24 rf17, rf15, rf3
    shl rf18, rf16, 1 ; sub rf19, rf17, rf15
    add rf2, rf18, rf19 ; add rf5, rf5, rf9
    and rf3, rf2, 15 ; sub rf4, rf12, rf10
    sub.pushz rf1, rf1, rf9 ; mov rf6, rf16
    b.na0 loop
    xor rf2, rf2, rf17
    max rf3, rf3, rf9
    nop
";

fn butterfly_gpu(iters: u32, host_threads: usize) -> Gpu {
    let src = format!("{BUTTERFLY}{}", qpu_sim::THREAD_END);
    let code = qpu_asm::assemble(&src, "butterfly", None, &qpu_asm::FsLoader)
        .expect("butterfly assembles")
        .to_bytes();
    let mut gpu = gpu(host_threads);
    gpu.map_bo(CODE, code).unwrap();
    gpu.map_bo(UNIF, words(&[iters])).unwrap();
    gpu
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("emulation_speed");
    group.sample_size(10);

    let iters = 4000;
    let instrs = vector_add_gpu(iters, 1)
        .dispatch(cfg(24), DispatchOptions::default())
        .expect("vector_add runs")
        .instructions();
    group.throughput(Throughput::Elements(instrs));
    for host in [1, 2] {
        group.bench_function(format!("vector_add_24_threads/host_threads_{host}"), |b| {
            b.iter_batched(
                || vector_add_gpu(iters, host),
                |mut gpu| gpu.dispatch(cfg(24), DispatchOptions::default()).unwrap(),
                criterion::BatchSize::LargeInput,
            )
        });
    }

    let iters = 20_000;
    let instrs = butterfly_gpu(iters, 1)
        .dispatch(cfg(12), DispatchOptions::default())
        .expect("butterfly runs")
        .instructions();
    group.throughput(Throughput::Elements(instrs));
    for host in [1, 2] {
        group.bench_function(format!("butterfly_12_threads/host_threads_{host}"), |b| {
            b.iter_batched(
                || butterfly_gpu(iters, host),
                |mut gpu| gpu.dispatch(cfg(12), DispatchOptions::default()).unwrap(),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
