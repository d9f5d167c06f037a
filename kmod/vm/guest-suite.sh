#!/bin/bash
# The guest half of `cargo xtask vm-test`: runs as root inside the test VM, in a tmpfs overlay
# of the host's root. Each test prints one line `@@RESULT <name> PASS|FAIL|SKIP <why>`; the
# harness counts them. Anything else on the console is kept in the log only.
#
# A test that needs something missing (the daemon binary, test streams, a client) says SKIP
# and names what is missing; it never reports PASS without having run.
set -u
. /daedalus/env
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
OUT=/tmp/daedalus-results
mkdir -p "$OUT"

pass() { echo "@@RESULT $1 PASS ${*:2}"; }
fail() { echo "@@RESULT $1 FAIL ${*:2}"; }
skip() { echo "@@RESULT $1 SKIP ${*:2}"; }
log() { echo "@@LOG $*"; }
# Shows a file's tail in the console log (not as results), for diagnosis.
show() { sed "s/^/    $2: /" "$1" | tail -n "${3:-40}"; }

log "kernel $(uname -r), variant $VARIANT, CPU SIMD: $(grep -m1 '^flags' /proc/cpuinfo | grep -oE '\b(sse4_2|avx|avx2|avx512[a-z]*)\b' | paste -sd ' ')"

# ---------------------------------------------------------------------------- module load
# daedalus.ko needs the media core modules, which are modules in this kernel configuration.
modprobe -a videobuf2-vmalloc v4l2-mem2mem videobuf2-v4l2 2>"$OUT/modprobe.err" ||
    show "$OUT/modprobe.err" modprobe
if insmod /daedalus/daedalus.ko 2>"$OUT/insmod.err"; then
    pass module-load "daedalus.ko loaded"
else
    fail module-load "insmod: $(cat "$OUT/insmod.err")"
    dmesg | tail -30
    exit 0
fi

find_node() { # name pattern -> /dev/videoN
    local d
    for d in /sys/class/video4linux/video*; do
        case "$(cat "$d/name")" in $1) echo "/dev/$(basename "$d")"; return 0 ;; esac
    done
    return 1
}

DEV=$(find_node daedalus-dec) || DEV=""
MEDIA=$(ls -d /sys/devices/platform/daedalus/media* 2>/dev/null | head -1)
if [ -n "$DEV" ] && [ -c "$DEV" ] && [ -n "$MEDIA" ] && [ -c "/dev/$(basename "$MEDIA")" ] &&
    [ -c /dev/daedalus ]; then
    MEDIA=/dev/$(basename "$MEDIA")
    pass device-nodes "video $DEV, media $MEDIA, daemon /dev/daedalus"
else
    fail device-nodes "video '$DEV', media '$MEDIA', /dev/daedalus $(ls -l /dev/daedalus 2>&1)"
fi

# ------------------------------------------------------------------ daemon character device
mode=$(stat -c '%a %U' /dev/daedalus 2>/dev/null)
if [ "$mode" = "600 root" ]; then
    pass chardev-root-only-mode "/dev/daedalus is $mode"
else
    fail chardev-root-only-mode "/dev/daedalus is '$mode', want '600 root'"
fi
# Even with the file mode opened up, an unprivileged process must be refused.
chmod 666 /dev/daedalus
if setpriv --reuid=65534 --regid=65534 --clear-groups sh -c 'exec 5<>/dev/daedalus' \
    2>"$OUT/nonroot.err"; then
    fail chardev-refuses-non-root "uid 65534 opened /dev/daedalus"
else
    pass chardev-refuses-non-root "$(tail -1 "$OUT/nonroot.err")"
fi
chmod 600 /dev/daedalus
exec 3<>/dev/daedalus
if (exec 4<>/dev/daedalus) 2>"$OUT/second.err"; then
    fail chardev-single-opener "a second open succeeded"
else
    pass chardev-single-opener "$(tail -1 "$OUT/second.err")"
fi
# The module greets first: a Hello of 32 bytes (16-byte header + 16-byte payload).
hello=$(timeout 5 dd bs=512 count=1 <&3 2>/dev/null | od -An -tx1 | tr -d ' \n')
case "$hello" in
    44444c5301000100200000000000000000000100*) pass chardev-hello "module hello: $hello" ;;
    *) fail chardev-hello "unexpected first message '$hello'" ;;
esac
# Malformed input is answered with an Error message (kind 5), the connection stays up.
printf 'this is not a daedalus message' >&3
reply=$(timeout 5 dd bs=512 count=1 <&3 2>/dev/null | od -An -tx1 | tr -d ' \n')
case "$reply" in
    44444c53010005*) pass chardev-rejects-malformed "error reply: ${reply:0:64}..." ;;
    *) fail chardev-rejects-malformed "reply '$reply'" ;;
esac
exec 3>&-

# ------------------------------------------------------------- no daemon: clear failure
if [ -n "$DEV" ]; then
    start=$(date +%s)
    timeout 30 v4l2-ctl -d "$DEV" --set-fmt-video-out=pixelformat=H264 \
        --stream-out-mmap --stream-mmap --stream-from=/dev/zero --stream-count=1 \
        >"$OUT/nodaemon.out" 2>&1
    rc=$?
    took=$(($(date +%s) - start))
    # v4l2-ctl reports the failed STREAMON but exits 0; the errno and the kernel log are
    # what a user sees.
    if [ $rc -ne 124 ] && grep -q 'VIDIOC_STREAMON returned -1 (Link has been severed)' "$OUT/nodaemon.out" &&
        dmesg | grep -q 'no decode daemon is attached'; then
        pass no-daemon-fails-clearly "STREAMON failed with ENOLINK after ${took}s; kernel log: $(dmesg | grep -m1 -o 'no decode daemon.*')"
    else
        fail no-daemon-fails-clearly "v4l2-ctl exit $rc after ${took}s"
        show "$OUT/nodaemon.out" v4l2-ctl
    fi
fi

# ------------------------------------------------------ v4l2-compliance against vicodec
# vicodec (the kernel's own stateful codec test driver) in the same guest is the baseline:
# the bookworm v4l-utils is older than 6.12 and fails some tests on any 6.12 driver.
compliance_failures() { # log -> sorted list of failing test names
    grep -E '^\s*test .*: FAIL' "$1" | sed -E 's/^\s*test (.*): FAIL.*/\1/' | sort -u
}
modprobe vicodec multiplanar=1 2>/dev/null
VIC=$(find_node '*stateful-decoder*') || VIC=""
if [ -z "$DEV" ] || [ -z "$VIC" ]; then
    fail v4l2-compliance "nodes missing: daedalus '$DEV', vicodec '$VIC'"
else
    timeout 120 v4l2-compliance -d "$VIC" >"$OUT/compliance-vicodec.log" 2>&1
    timeout 120 v4l2-compliance -d "$DEV" >"$OUT/compliance-daedalus.log" 2>&1
    compliance_failures "$OUT/compliance-vicodec.log" >"$OUT/fail-vicodec"
    compliance_failures "$OUT/compliance-daedalus.log" >"$OUT/fail-daedalus"
    log "vicodec:  $(grep -m1 '^Total' "$OUT/compliance-vicodec.log")"
    log "daedalus: $(grep -m1 '^Total' "$OUT/compliance-daedalus.log")"
    extra=$(comm -13 "$OUT/fail-vicodec" "$OUT/fail-daedalus" | paste -sd ';')
    fewer=$(comm -23 "$OUT/fail-vicodec" "$OUT/fail-daedalus" | paste -sd ';')
    both=$(comm -12 "$OUT/fail-vicodec" "$OUT/fail-daedalus" | paste -sd ';')
    log "compliance failures shared with vicodec: ${both:-none}"
    log "compliance failures of vicodec only: ${fewer:-none}"
    if [ -z "$extra" ] && grep -q '^Total' "$OUT/compliance-daedalus.log"; then
        pass v4l2-compliance "no failure beyond vicodec's"
    else
        fail v4l2-compliance "failures beyond vicodec's: ${extra:-no Total line}"
        grep -B3 -E 'fail:' "$OUT/compliance-daedalus.log" | head -60
    fi
fi

# --------------------------------------------------------------------------- rmmod
if [ -n "$DEV" ]; then
    sleep 30 <"$DEV" &
    holder=$!
    sleep 1
    if rmmod daedalus 2>"$OUT/rmmod1.err"; then
        fail rmmod-refused-with-client "rmmod succeeded with $DEV open"
    else
        pass rmmod-refused-with-client "$(cat "$OUT/rmmod1.err")"
    fi
    kill $holder; wait $holder 2>/dev/null
fi
sleep 30 <>/dev/daedalus &
holder=$!
sleep 1
if rmmod daedalus 2>"$OUT/rmmod2.err"; then
    fail rmmod-refused-with-daemon "rmmod succeeded with /dev/daedalus open"
    insmod /daedalus/daedalus.ko
else
    pass rmmod-refused-with-daemon "$(cat "$OUT/rmmod2.err")"
fi
kill $holder; wait $holder 2>/dev/null
if rmmod daedalus 2>"$OUT/rmmod3.err" && insmod /daedalus/daedalus.ko 2>>"$OUT/rmmod3.err"; then
    pass rmmod-clean-and-reload "unloaded and loaded again"
else
    fail rmmod-clean-and-reload "$(cat "$OUT/rmmod3.err")"
fi
DEV=$(find_node daedalus-dec) || DEV=""

# ------------------------------------------------- streaming through the scripted peer
# daedalus-test-peer (kmod/testpeer) speaks the daemon's side of the protocol with a scripted
# decoder: one frame per OUTPUT buffer, luma bytes = frame number, chroma 0x80. It exercises
# the module's whole streaming path (dmabuf attach, decode, source change, capture setup,
# drain, daemon death) with a real V4L2 client, v4l2-ctl.
CHUNK=65536
check_frames() { # file frames "WxH,..." -> verifies sizes and contents of NV12 frames
    python3 - "$@" <<'PY'
import sys
path, sizes = sys.argv[1], sys.argv[2:]
data = open(path, 'rb').read()
pos = 0
for n, wh in enumerate(sizes):
    # v4l2-ctl writes the visible rectangle (the compose selection) line by line, so the
    # file has no stride padding.
    w, h = map(int, wh.split('x'))
    stride = w
    size = stride * h * 3 // 2
    frame = data[pos:pos + size]
    if len(frame) != size:
        sys.exit(f"frame {n}: {len(frame)} bytes, want {size} ({wh})")
    luma, chroma = frame[:stride * h], frame[stride * h:]
    if luma != bytes([n % 256]) * len(luma) or chroma != b'\x80' * len(chroma):
        sys.exit(f"frame {n} ({wh}): wrong content: luma values {sorted(set(luma))[:8]}, "
                 f"chroma values {sorted(set(chroma))[:8]}")
    pos += size
if pos != len(data):
    sys.exit(f"{len(data) - pos} bytes after the last expected frame")
print(f"{len(sizes)} frames as expected")
PY
}
stream() { # frames outfile [extra v4l2-ctl args] -> runs v4l2-ctl on `frames` chunks
    local n=$1 out=$2; shift 2
    head -c $((n * CHUNK)) /dev/urandom >"$OUT/in.bin"
    timeout 60 v4l2-ctl -d "$DEV" --set-fmt-video-out=pixelformat=H264,sizeimage=$CHUNK \
        --stream-mmap --stream-out-mmap --stream-from="$OUT/in.bin" --stream-to="$out" "$@"
}
start_peer() { # returns once the module has the peer's capabilities (slow under KASAN)
    local tries=0
    rm -f "$OUT/peer.ready"
    "$PEER" --ready-file "$OUT/peer.ready" "$@" >>"$OUT/peer.log" 2>&1 &
    peer=$!
    while [ ! -e "$OUT/peer.ready" ] && [ $tries -lt 300 ]; do
        sleep 0.1
        tries=$((tries + 1))
    done
    [ -e "$OUT/peer.ready" ] || log "the test peer did not get ready in 30 s"
}
stop_peer() { kill "$peer" 2>/dev/null; wait "$peer" 2>/dev/null; }
if [ -z "$PEER" ] || [ ! -x "$PEER" ]; then
    for t in peer-decode-drain peer-resolution-change peer-compliance-streaming \
        daemon-killed-mid-stream daemon-restarted v4l2r-client-seek-drain \
        v4l2r-client-resolution-change daemon-hang-detected; do
        fail "$t" "the test peer was not built (target/vm-test-peer-build.log)"
    done
elif [ -n "$DEV" ]; then
    start_peer
    stream 20 "$OUT/out1.nv12" >"$OUT/stream1.log" 2>&1
    rc=$?
    sizes=$(for i in $(seq 20); do printf '64x48 '; done)
    if [ $rc -eq 0 ] && r=$(check_frames "$OUT/out1.nv12" $sizes 2>&1); then
        pass peer-decode-drain "v4l2-ctl streamed 20 chunks and drained: $r"
    else
        fail peer-decode-drain "v4l2-ctl exit $rc: $r"
        show "$OUT/stream1.log" v4l2-ctl
        show "$OUT/peer.log" peer
    fi
    stop_peer

    start_peer --change-after 8 --size2 96x64 --min-buffers 4
    stream 16 "$OUT/out2.nv12" >"$OUT/stream2.log" 2>&1
    rc=$?
    sizes="$(for i in $(seq 8); do printf '64x48 '; done)$(for i in $(seq 8); do printf '96x64 '; done)"
    if [ $rc -eq 0 ] && r=$(check_frames "$OUT/out2.nv12" $sizes 2>&1); then
        pass peer-resolution-change "64x48 -> 96x64 after 8 frames: $r"
    else
        fail peer-resolution-change "v4l2-ctl exit $rc: $r"
        show "$OUT/stream2.log" v4l2-ctl
        show "$OUT/peer.log" peer
    fi
    stop_peer

    start_peer
    timeout 60 v4l2-compliance -d "$VIC" -s >"$OUT/compliance-s-vicodec.log" 2>&1
    timeout 120 v4l2-compliance -d "$DEV" -s >"$OUT/compliance-s-daedalus.log" 2>&1
    compliance_failures "$OUT/compliance-s-vicodec.log" >"$OUT/fail-s-vicodec"
    compliance_failures "$OUT/compliance-s-daedalus.log" >"$OUT/fail-s-daedalus"
    log "vicodec -s:  $(grep -m1 '^Total' "$OUT/compliance-s-vicodec.log" || echo "no result: vicodec's streaming test did not finish in 60 s; only its non-streaming part is a baseline")"
    log "daedalus -s: $(grep -m1 '^Total' "$OUT/compliance-s-daedalus.log")"
    extra=$(comm -13 "$OUT/fail-s-vicodec" "$OUT/fail-s-daedalus" | paste -sd ';')
    log "streaming compliance failures of vicodec only: $(comm -23 "$OUT/fail-s-vicodec" "$OUT/fail-s-daedalus" | paste -sd ';')"
    if [ -z "$extra" ] && grep -q '^Total' "$OUT/compliance-s-daedalus.log"; then
        pass peer-compliance-streaming "v4l2-compliance -s: no failure beyond vicodec's"
    else
        fail peer-compliance-streaming "failures beyond vicodec's: ${extra:-no Total line}"
        grep -B3 -E 'fail:' "$OUT/compliance-s-daedalus.log" | head -40
        show "$OUT/compliance-s-daedalus.log" compliance 30
        show "$OUT/peer.log" peer 20
    fi
    stop_peer

    # SIGKILL mid-stream: the client must get errors and finish, not hang.
    start_peer --frame-delay-ms 100
    stream 100 "$OUT/out3.nv12" >"$OUT/stream3.log" 2>&1 &
    client=$!
    sleep 3
    # Look for the module's message among the lines logged after the kill (not only the last
    # few: under load other lines can follow it).
    logged_before=$(dmesg | wc -l)
    kill -9 "$peer"
    killed=$(date +%s%N)
    wait "$client"
    rc=$?
    ms=$((($(date +%s%N) - killed) / 1000000))
    if [ $rc -ne 124 ] && [ $ms -lt 5000 ] && dmesg | tail -n +$((logged_before + 1)) | grep -q 'the daemon closed /dev/daedalus; failing the buffers of'; then
        pass daemon-killed-mid-stream "client finished ${ms} ms after SIGKILL (exit $rc): $(grep -m1 -iE 'error|returned -1' "$OUT/stream3.log")"
    else
        fail daemon-killed-mid-stream "client exit $rc, ${ms} ms after SIGKILL"
        show "$OUT/stream3.log" v4l2-ctl
        show "$OUT/peer.log" peer 10
        dmesg | tail -n +$((logged_before + 1)) | tail -20
    fi
    wait "$peer" 2>/dev/null
    start_peer
    stream 5 "$OUT/out4.nv12" >"$OUT/stream4.log" 2>&1
    rc=$?
    if [ $rc -eq 0 ] && r=$(check_frames "$OUT/out4.nv12" 64x48 64x48 64x48 64x48 64x48 2>&1); then
        pass daemon-restarted "a new daemon serves a new stream: $r"
    else
        fail daemon-restarted "v4l2-ctl exit $rc: $r"
        show "$OUT/stream4.log" v4l2-ctl
    fi
    stop_peer

    # The v4l2r client: 4-deep queues, a seek, a resolution change, drain.
    CLIENT=$(dirname "$PEER")/daedalus-test-client
    head -c $((30 * CHUNK)) /dev/urandom >"$OUT/in30.bin"
    start_peer
    if r=$(timeout 90 "$CLIENT" --device "$DEV" --input "$OUT/in30.bin" --chunk $CHUNK \
        --expect-peer --seek-at 10 --seek-skip 5 2>"$OUT/client1.err"); then
        pass v4l2r-client-seek-drain "$r"
    else
        fail v4l2r-client-seek-drain "$r $(tail -1 "$OUT/client1.err")"
        show "$OUT/client1.err" client
        show "$OUT/peer.log" peer 10
    fi
    stop_peer
    start_peer --change-after 8 --size2 96x64 --min-buffers 4
    if r=$(timeout 90 "$CLIENT" --device "$DEV" --input "$OUT/in30.bin" --chunk $CHUNK \
        --expect-peer 2>"$OUT/client2.err") && echo "$r" | grep -q '30 frames, 1 resolution changes'; then
        pass v4l2r-client-resolution-change "$r"
    else
        fail v4l2r-client-resolution-change "$r $(tail -1 "$OUT/client2.err")"
        show "$OUT/client2.err" client
        show "$OUT/peer.log" peer 10
    fi
    stop_peer

    # A daemon that stops answering is declared dead by the watchdog.
    start_peer --hang-after 5
    start=$(date +%s%N)
    stream 20 "$OUT/out5.nv12" >"$OUT/stream5.log" 2>&1
    rc=$?
    ms=$((($(date +%s%N) - start) / 1000000))
    if [ $rc -ne 124 ] && [ $ms -lt 10000 ] && dmesg | grep -q 'the daemon stopped answering'; then
        pass daemon-hang-detected "client finished after ${ms} ms; kernel: $(dmesg | grep -m1 -o 'the daemon stopped answering.*')"
    else
        fail daemon-hang-detected "client exit $rc after ${ms} ms"
        show "$OUT/stream5.log" v4l2-ctl
    fi
    stop_peer
fi

# -------------------------------------------------------------- end to end with the daemon
# These need the daemon binary with its /dev/daedalus transport and the committed streams.
STREAMS=$WORKSPACE/golden/streams
E2E="ffmpeg-h264 ffmpeg-vp9 gst-h264 gst-vp9 v4l2r-client v4l2r-client-vp9 v4l2r-client-10bit v4l2r-client-av1 compliance-streaming daemon-kill daemon-sigterm"
why=""
if [ -z "$DAEMON" ] || [ ! -x "$DAEMON" ]; then
    why="the daemon binary (target/*/daedalusd) is not built"
elif ! "$DAEMON" serve --help 2>/dev/null | grep -q -- '--device'; then
    why="$DAEMON has no 'serve --device' (the /dev/daedalus transport) yet"
elif [ ! -d "$STREAMS" ]; then
    why="no test streams in $STREAMS"
fi
if [ -n "$why" ]; then
    for t in $E2E; do skip "$t" "$why"; done
else
    attached() { dmesg | grep -c 'daemon attached'; }
    start_daemon() { # returns once the module has the daemon's capabilities
        local before tries=0
        before=$(attached)
        "$DAEMON" serve --device /dev/daedalus >>"$OUT/daemon.log" 2>&1 &
        daemon=$!
        while [ "$(attached)" -le "$before" ] && [ $tries -lt 300 ]; do
            sleep 0.1
            tries=$((tries + 1))
        done
        [ "$(attached)" -gt "$before" ] || log "the daemon did not attach in 30 s"
    }
    start_daemon
    decode_one() { # codec stream -> 0 if the hardware path's NV12 equals the software decode
        local codec=$1 s=$2 b
        b=$(basename "$s")
        # Every decoded frame, whatever its timestamp: a raw Annex-B stream has none, so
        # all V4L2 buffers carry timestamp 0, and the default frame-rate mode would drop
        # frames as duplicates.
        ffmpeg -v error -threads 1 -i "$s" -fps_mode passthrough -f rawvideo -pix_fmt nv12 \
            -y "$OUT/$b.ref" &&
            timeout 300 ffmpeg -v error -c:v "$codec" -i "$s" -fps_mode passthrough \
                -f rawvideo -pix_fmt nv12 -y "$OUT/$b.out" 2>"$OUT/$b.err" &&
            cmp -s "$OUT/$b.ref" "$OUT/$b.out"
    }
    decode_check() { # name codec stream...
        local name=$1 codec=$2 s b ok="" bad=""
        shift 2
        for s in "$@"; do
            b=$(basename "$s")
            if decode_one "$codec" "$s"; then
                ok="$ok $b"
            else
                bad="$bad $b($(stat -c %s "$OUT/$b.out" 2>/dev/null || echo no) of $(stat -c %s "$OUT/$b.ref" 2>/dev/null || echo no) bytes: $(tail -1 "$OUT/$b.err" 2>/dev/null))"
                show "$OUT/$b.err" "$name $b" 10
            fi
        done
        if [ -z "$bad" ]; then
            pass "$name" "byte-identical to FFmpeg's software decode:$ok"
        else
            fail "$name" "differ or failed:$bad"
            show "$OUT/daemon.log" daemon 20
        fi
    }
    # 8-bit streams whose size is a multiple of 16: FFmpeg 5.1's V4L2 wrapper maps no 10-bit
    # capture format (libavcodec/v4l2_fmt.c has no P010 entry), and it takes the frame size
    # from the capture format (the coded size), not from the visible rectangle.
    decode_check ffmpeg-h264 h264_v4l2m2m "$STREAMS/h264_high_cavlc_320x240.h264" \
        "$STREAMS/h264_high_bframes_wp_320x240.h264" "$STREAMS/h264_interlaced_320x240.h264"
    decode_check ffmpeg-vp9 vp9_v4l2m2m "$STREAMS/vp9_8bit_320x240.ivf" \
        "$STREAMS/vp9_lossless_176x144.ivf"

    # GStreamer's stateful V4L2 decoders (gst-plugins-good's v4l2videodec), fed by the
    # parsers of gst-plugins-bad as in any real pipeline, writing raw NV12 to a file. Each
    # frame must equal FFmpeg's software decode at its visible size: the MD5 list committed
    # next to the stream (golden/streams/README.md), made by `ffmpeg -threads 1 -autoscale 0
    # -pix_fmt nv12`. GStreamer 1.22 copies a frame whose V4L2 buffer has padding (lines
    # longer than the width, rows below the height) into its own NV12 layout (lines of a
    # multiple of 4 bytes), but the buffer it hands on keeps the V4L2 buffer's size, so
    # filesink writes each frame in a slot of `sizeimage` bytes: the frame, then filler.
    # The check reads the visible rows of each frame from the start of its slot and
    # requires the file to hold exactly the expected slots.
    # The plugin names the first device that decodes a codec v4l2<codec>dec and later
    # ones v4l2video<N><codec>dec; the element is picked by the device it probed.
    # A registry of its own makes the plugin probe this guest's devices, not reuse a cache.
    export GST_REGISTRY=$OUT/gst-registry.bin
    gst_element() { # codec -> the decoder element GStreamer registered for $DEV
        local e
        for e in $(gst-inspect-1.0 video4linux2 2>/dev/null | grep -oE "v4l2[a-z0-9]*$1dec"); do
            if gst-inspect-1.0 "$e" 2>/dev/null | grep -A3 -E '^\s+device\s' | grep -q "\"$DEV\""; then
                echo "$e"
                return 0
            fi
        done
        return 1
    }
    gst_frames() { # output md5-list -> "" if every frame matches, else what differs
        python3 - "$1" "$2" <<'PY'
import hashlib, sys
out, lst = open(sys.argv[1], "rb").read(), sys.argv[2]
pos = n = 0
for line in open(lst):
    if line.startswith("#") or not line.strip():
        continue
    _, w, h, fmt, size, md5 = line.split()
    w, h = int(w), int(h)
    # GStreamer's NV12 layout: lines of round_up_4(width) bytes, chroma after
    # round_up_2(height) luma lines (gst-libs/gst/video/video-info.c).
    stride = (w + 3) // 4 * 4
    chroma = pos + stride * ((h + 1) // 2 * 2)
    rows = [out[pos + y * stride:pos + y * stride + w] for y in range(h)]
    cw = (w + 1) // 2 * 2
    rows += [out[chroma + y * stride:chroma + y * stride + cw] for y in range((h + 1) // 2)]
    if hashlib.md5(b"".join(rows)).hexdigest() != md5:
        print(f"frame {n} ({w}x{h} at byte {pos}) differs")
        sys.exit()
    # Each frame fills a slot of the capture buffer's size (docs/daemon.md: 16-aligned
    # size, 64-byte lines).
    pos += ((w + 15) // 16 * 16 + 63) // 64 * 64 * ((h + 15) // 16 * 16) * 3 // 2
    n += 1
if len(out) != pos:
    print(f"{len(out)} bytes written, {n} frames need {pos}")
PY
    }
    gst_check() { # name codec parser stream...
        local name=$1 codec=$2 parser=$3 el s b why ok="" bad=""
        shift 3
        if ! command -v gst-launch-1.0 >/dev/null ||
            ! gst-inspect-1.0 "$parser" >/dev/null 2>&1; then
            fail "$name" "gst-launch-1.0 or $parser is missing: install the GStreamer packages in kmod/apt-packages.txt"
            return
        fi
        if ! el=$(gst_element "$codec"); then
            fail "$name" "GStreamer registered no $codec decoder for $DEV: $(gst-inspect-1.0 video4linux2 2>&1 | grep -oE 'v4l2[a-z0-9]*dec' | paste -sd ' ')"
            return
        fi
        for s in "$@"; do
            b=$(basename "$s")
            # -v logs the caps negotiated on every pad, for the diagnosis below.
            if timeout 300 gst-launch-1.0 -v filesrc location="$s" ! "$parser" ! "$el" ! \
                video/x-raw,format=NV12 ! filesink location="$OUT/$b.gout" \
                >"$OUT/$b.gerr" 2>&1; then
                why=$(gst_frames "$OUT/$b.gout" "${s%.*}.md5")
            else
                why="gst-launch-1.0 failed: $(grep -m1 -E 'ERROR' "$OUT/$b.gerr")"
            fi
            if [ -z "$why" ]; then
                ok="$ok $b"
            else
                bad="$bad $b($why; $(grep -m1 -E 'WARN' "$OUT/$b.gerr"))"
                grep -E 'ERROR|WARN|caps = ' "$OUT/$b.gerr" >"$OUT/$b.gdiag"
                # A second run logs which timestamps the frames came back with.
                GST_DEBUG='v4l2videodec:6' timeout 300 gst-launch-1.0 -q filesrc \
                    location="$s" ! "$parser" ! "$el" ! video/x-raw,format=NV12 ! fakesink \
                    >"$OUT/$b.gdbg" 2>&1
                grep -iE 'timestamp|frame [0-9]|frame_number|undrained|source change' \
                    "$OUT/$b.gdbg" | sed 's/^.*v4l2videodec[^:]*: *//' | head -60 >>"$OUT/$b.gdiag"
                show "$OUT/$b.gdiag" "$name $b" 80
            fi
        done
        if [ -z "$bad" ]; then
            pass "$name" "$el: every frame byte-identical to FFmpeg's software decode:$ok"
        else
            fail "$name" "$el:$bad"
            show "$OUT/daemon.log" daemon 20
        fi
    }
    gst_check gst-h264 h264 h264parse "$STREAMS/h264_high_cavlc_320x240.h264" \
        "$STREAMS/h264_high_bframes_wp_320x240.h264" "$STREAMS/h264_interlaced_320x240.h264" \
        "$STREAMS/h264_odd_200x130.h264" "$STREAMS/h264_reschange_320x240_176x144.h264"
    gst_check gst-vp9 vp9 ivfparse "$STREAMS/vp9_8bit_320x240.ivf" \
        "$STREAMS/vp9_lossless_176x144.ivf" "$STREAMS/vp9_odd_201x131.ivf" \
        "$STREAMS/vp9_reschange_320x240_176x144.ivf"

    # The v4l2r client (kmod/testpeer) covers what FFmpeg's and GStreamer's wrappers cannot:
    # odd sizes written at their visible size, a resolution change (whose drain command, with
    # 3000-byte chunks, may reach the daemon before the change), 10-bit streams on P010, and
    # AV1. H.264 goes in arbitrary 3000-byte chunks; VP9 and AV1 go one frame (temporal
    # unit) per buffer, as their formats require: from IVF, from an AV1 low-overhead OBU
    # stream, or from Annex B rewritten as OBUs by the client. Each output must equal
    # `ffmpeg -threads 1 -i IN -autoscale 0 -f rawvideo -pix_fmt nv12|p010le`, every frame at
    # its own size.
    CLIENT=${PEER:+$(dirname "$PEER")/daedalus-test-client}
    client_check() { # name pix_fmt stream... (the codec comes from the name's prefix)
        local name=$1 fmt=$2 s b codec r ok="" bad=""
        shift 2
        if [ -z "$CLIENT" ] || [ ! -x "$CLIENT" ]; then
            skip "$name" "the test client was not built (target/vm-test-peer-build.log)"
            return
        fi
        for s in "$@"; do
            b=$(basename "$s")
            case "$b" in
            h264_*) codec=H264 ;;
            vp9_*) codec=VP90 ;;
            av1_*) codec=AV01 ;;
            esac
            if [ ! -s "$s" ]; then
                bad="$bad $b(missing)"
            elif ffmpeg -v error -threads 1 -i "$s" -autoscale 0 -fps_mode passthrough \
                -f rawvideo -pix_fmt "$fmt" -y "$OUT/$b.cref" 2>"$OUT/$b.creferr" &&
                [ -s "$OUT/$b.cref" ] &&
                r=$(timeout 120 "$CLIENT" --device "$DEV" --input "$s" --codec "$codec" \
                    --chunk 3000 --output "$OUT/$b.cout" 2>"$OUT/$b.cerr") &&
                cmp -s "$OUT/$b.cref" "$OUT/$b.cout"; then
                ok="$ok $b (${r#test-client: }; $(grep -m1 -oE '[0-9]+ units from [^ ]+ \([a-z]+\)' "$OUT/$b.cerr" | sed 's/ from [^ ]*//'), $(grep -m1 -oE 'capture [0-9]+x[0-9]+ [A-Z0-9]+' "$OUT/$b.cerr"))"
            else
                bad="$bad $b($(stat -c %s "$OUT/$b.cout" 2>/dev/null || echo no) of $(stat -c %s "$OUT/$b.cref" 2>/dev/null || echo no) bytes: $(tail -1 "$OUT/$b.cerr" 2>/dev/null) $(tail -1 "$OUT/$b.creferr" 2>/dev/null))"
                show "$OUT/$b.cerr" "client $b" 10
            fi
        done
        if [ -z "$bad" ]; then
            pass "$name" "byte-identical to FFmpeg's software decode:$ok"
        else
            fail "$name" "differ or failed:$bad"
            show "$OUT/daemon.log" daemon 20
        fi
    }
    client_check v4l2r-client nv12 "$STREAMS/h264_odd_200x130.h264" \
        "$STREAMS/h264_reschange_320x240_176x144.h264" "$STREAMS/h264_high_bframes_wp_320x240.h264"
    client_check v4l2r-client-vp9 nv12 "$STREAMS/vp9_8bit_320x240.ivf" \
        "$STREAMS/vp9_odd_201x131.ivf" "$STREAMS/vp9_reschange_320x240_176x144.ivf"
    client_check v4l2r-client-10bit p010le "$STREAMS/vp9_10bit_320x240.ivf" \
        "$STREAMS/h264_high10_320x240.h264"
    # AV1 in its three framings: the committed IVF; the same temporal units as a
    # low-overhead OBU stream (FFmpeg's obu muxer); and an Annex-B stream that libaom's
    # aomenc writes itself (no tool here turns IVF into Annex B), from the same test source.
    ffmpeg -v error -i "$STREAMS/av1_320x240.ivf" -c copy -f obu -y "$OUT/av1_320x240.obu"
    if command -v aomenc >/dev/null; then
        ffmpeg -v error -f lavfi -i 'testsrc2=size=320x240:rate=25,trim=end_frame=10' \
            -pix_fmt yuv420p -f yuv4mpegpipe -y "$OUT/av1src.y4m" &&
            aomenc --quiet --obu --annexb=1 --cpu-used=8 --threads=1 --limit=10 \
                --kf-max-dist=10 --target-bitrate=200 -o "$OUT/av1_annexb_320x240.obu" \
                "$OUT/av1src.y4m" 2>"$OUT/aomenc.err" || show "$OUT/aomenc.err" aomenc
    else
        log "aomenc is missing (Debian aom-tools, listed in kmod/apt-packages.txt): no Annex-B stream"
    fi
    client_check v4l2r-client-av1 nv12 "$STREAMS/av1_320x240.ivf" "$OUT/av1_320x240.obu" \
        "$OUT/av1_annexb_320x240.obu"

    # Streaming compliance with the real daemon; the baseline is vicodec's non-streaming
    # failures (its own streaming run does not finish in this guest, see above).
    timeout 180 v4l2-compliance -d "$DEV" -s >"$OUT/compliance-s.log" 2>&1
    compliance_failures "$OUT/compliance-s.log" >"$OUT/fail-s-daemon"
    base="$OUT/fail-vicodec"
    [ -s "$OUT/fail-s-vicodec" ] && sort -u "$OUT/fail-vicodec" "$OUT/fail-s-vicodec" >"$OUT/fail-base" &&
        base="$OUT/fail-base"
    extra=$(comm -13 "$base" "$OUT/fail-s-daemon" | paste -sd ';')
    if [ -z "$extra" ] && grep -q '^Total' "$OUT/compliance-s.log"; then
        pass compliance-streaming "$(grep -m1 '^Total' "$OUT/compliance-s.log"); no failure beyond vicodec's"
    else
        fail compliance-streaming "failures beyond vicodec's: ${extra:-no Total line}"
        grep -B3 -E 'fail:' "$OUT/compliance-s.log" | head -40
        show "$OUT/daemon.log" daemon 20
    fi

    # SIGKILL mid-stream: the client must get errors and finish, nothing may hang, and a
    # restarted daemon must decode a new stream exactly. The client is v4l2-ctl streaming a
    # long real stream in 64 KiB chunks: FFmpeg 5.1's V4L2 wrapper cannot be this client,
    # since it ignores POLLERR and retries forever once the queues are in error (see
    # docs/kmod.md, known limits).
    for i in $(seq 300); do cat "$STREAMS/h264_high_cavlc_320x240.h264"; done >"$OUT/long.h264"
    timeout 120 v4l2-ctl -d "$DEV" --set-fmt-video-out=pixelformat=H264,sizeimage=$CHUNK \
        --stream-mmap --stream-out-mmap --stream-from="$OUT/long.h264" \
        --stream-to="$OUT/kill.out" >"$OUT/kill.err" 2>&1 &
    client=$!
    sleep 4
    kill -9 "$daemon"
    killed=$(date +%s%N)
    wait "$client"
    rc=$?
    wait "$daemon" 2>/dev/null
    ms=$((($(date +%s%N) - killed) / 1000000))
    start_daemon
    if [ $rc -ne 124 ] && [ $ms -lt 10000 ] &&
        dmesg | tail -20 | grep -q 'the daemon closed /dev/daedalus; failing the buffers of 1 streams'; then
        if decode_one h264_v4l2m2m "$STREAMS/h264_high_cavlc_320x240.h264"; then
            pass daemon-kill "v4l2-ctl ended ${ms} ms after SIGKILL (exit $rc, $(stat -c %s "$OUT/kill.out") bytes decoded before: $(grep -m1 -oE 'VIDIOC_[A-Z_]+: failed: [A-Za-z/ ]+' "$OUT/kill.err")); a restarted daemon decoded the stream byte-identically"
        else
            fail daemon-kill "the restarted daemon did not decode the stream exactly: $(tail -1 "$OUT/h264_high_cavlc_320x240.h264.err")"
            show "$OUT/daemon.log" daemon 20
        fi
    else
        fail daemon-kill "v4l2-ctl exit $rc ${ms} ms after SIGKILL"
        show "$OUT/kill.err" v4l2-ctl 10
        dmesg | tail -10
    fi
    # SIGTERM: the daemon says goodbye (the module logs it) and exits 0.
    kill -TERM "$daemon"
    wait "$daemon"
    rc=$?
    if [ $rc -eq 0 ] && dmesg | tail -5 | grep -q 'the daemon is shutting down'; then
        pass daemon-sigterm "exit 0; kernel: $(dmesg | tail -5 | grep -m1 -o 'the daemon is shutting down.*')"
    else
        fail daemon-sigterm "daemon exit $rc; kernel: $(dmesg | tail -3 | paste -sd '|')"
        show "$OUT/daemon.log" daemon 10
    fi
fi

# ---------------------------------------------------------------------- kernel log
if dmesg | grep -E 'WARNING:|BUG:|KASAN|Oops|general protection|possible recursive locking|circular locking|INFO: task .* blocked|refcount_t:|UBSAN' \
    >"$OUT/dmesg-bad"; then
    fail kernel-log-clean "$(head -3 "$OUT/dmesg-bad" | paste -sd '|')"
    dmesg | tail -80
else
    pass kernel-log-clean "no warning, BUG, KASAN or lockdep report"
fi
dmesg | grep -i daedalus | tail -20 | sed 's/^/    dmesg: /'
exit 0
