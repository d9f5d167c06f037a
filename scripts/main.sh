#!/usr/bin/env bash
# The main job. Installs what it needs, builds the `qpu` tool optimised, assembles the example
# kernel and prints its disassembly (the kernels and their benchmark table take over this
# script as they land).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_toolchain
ensure_apt_packages

log "building qpu (release)"
cargo build --release --locked -p qpu-cli
qpu=target/release/qpu

log "assembling qpu-asm/examples/copy.qasm"
"$qpu" asm qpu-asm/examples/copy.qasm -o target/copy.bin
log "disassembling target/copy.bin ($(stat -c %s target/copy.bin) bytes)"
"$qpu" disasm --addr target/copy.bin
