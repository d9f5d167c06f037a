#!/usr/bin/env bash
# The whole test suite: formatting, lints, every crate's tests, and the kernel module's guest
# suite in QEMU (its Rust-enabled kernels are built once and cached under ~/.cache/daedalus).
# Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_toolchain
ensure_apt_packages

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "cargo test"
cargo test --workspace --locked
log "cargo xtask vm-test (the kernel module in QEMU; guest kernels cached under ~/.cache/daedalus)"
cargo xtask vm-test
