#!/usr/bin/env bash
# The main job: with no Pi, assemble the kernels (at build time), run each on the emulator on a
# 1080p frame's worth of blocks, check it against FFmpeg's C function and print the benchmark
# table. On a Pi 5 the same command runs on the GPU. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_toolchain
ensure_apt_packages

log "building qpu (release)"
cargo build --release --locked -p qpu-cli
log "qpu bench"
exec target/release/qpu bench
