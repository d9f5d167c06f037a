//! criterion benchmarks live in `benches/`: `cargo bench -p benches`.
#![forbid(unsafe_code)]
