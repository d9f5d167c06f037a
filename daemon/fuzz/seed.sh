#!/usr/bin/env bash
# Builds the seed corpus of the decode_mutated fuzz target from the committed test streams:
# one codec byte (0 H.264, 1 VP9, 2 AV1) followed by the stream. The 1080p streams are left
# out so that each execution stays fast.
set -euo pipefail
cd "$(dirname "$0")/.."
out=fuzz/corpus/decode_mutated
mkdir -p "$out"
for f in ../golden/streams/*.h264 ../golden/streams/*.ivf; do
    name=$(basename "$f")
    case "$name" in *1080p*) continue ;; esac
    case "$name" in
        h264*) sel='\x00' ;;
        vp9*) sel='\x01' ;;
        av1*) sel='\x02' ;;
        *) continue ;;
    esac
    { printf "$sel"; cat "$f"; } >"$out/$name"
done
echo "seeded $(ls "$out" | wc -l) inputs in daemon/$out"
