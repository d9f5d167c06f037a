//! Runs one kernel on a whole 1080p frame's worth of blocks (the batch of the
//! `emulation_speed` bench) a fixed number of times and prints the emulator's speed, per
//! whole `Batch::run` and for the dispatch alone (as the bench's two timings): a fixed
//! amount of work for profilers (`perf record`, `valgrind --tool=callgrind`), where
//! criterion's timed loop is not.
//!
//! `cargo run --release -p benches --example emu_speed -- [KERNEL] [ITERATIONS] [HOST_THREADS]`
//! (defaults: h264_idct4, 20, 1).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use golden::rng::Rng;
use kernels_check::{Batch, Layout, Which};
use runtime::{Device, SimConfig};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map_or("h264_idct4", String::as_str);
    let Some(which) = Which::from_name(name) else {
        eprintln!(
            "unknown kernel `{name}`; one of: h264_idct4, h264_idct8, h264_idct4_dc, h264_idct8_dc, vp9_itxfm4, vp9_itxfm8, vp9_itxfm16, vp9_iwht4, vp9_idct32"
        );
        return ExitCode::FAILURE;
    };
    let number = |i: usize, default: usize, what: &str| -> Result<usize, ExitCode> {
        match args.get(i) {
            None => Ok(default),
            Some(s) => s.parse().map_err(|_| {
                eprintln!("{what} must be a whole number, got `{s}`");
                ExitCode::FAILURE
            }),
        }
    };
    let (iters, host_threads) = match (number(1, 20, "ITERATIONS"), number(2, 1, "HOST_THREADS")) {
        (Ok(i), Ok(h)) => (i.max(1), h.max(1)),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let seed = 0x5eed_0002;
    let mut rng = Rng::new(seed);
    let layout = Layout::full_frame(which, 1920, 1080, &mut rng);
    let batch = Batch::new(which, layout, seed);
    let device = match Device::open_sim(SimConfig {
        host_threads,
        ..SimConfig::default()
    }) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot open the emulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    let t = Instant::now();
    let mut instructions = 0u64;
    let mut dispatch = Duration::ZERO;
    for _ in 0..iters {
        match batch.run(&device) {
            Ok((_, _, stats)) => {
                instructions += stats.instructions;
                dispatch += stats.elapsed;
            }
            Err(e) => {
                eprintln!("{which}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let d = dispatch.as_secs_f64();
    println!(
        "{which}: {iters} x 1080p frame, {} QPU instructions each, {:.1} ms per frame, {:.1} M QPU instructions/s on {host_threads} host thread(s); the dispatch alone {:.1} ms, {:.1} M/s",
        instructions / iters as u64,
        secs * 1e3 / iters as f64,
        instructions as f64 / secs / 1e6,
        d * 1e3 / iters as f64,
        instructions as f64 / d.max(1e-9) / 1e6
    );
    ExitCode::SUCCESS
}
