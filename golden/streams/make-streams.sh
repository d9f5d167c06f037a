#!/usr/bin/env bash
# Makes the frame-level test streams in this directory with Debian bookworm's ffmpeg CLI
# (5.1.9-0+deb12u1: libx264 164, libvpx 1.12, libaom 3.6). Encoder output can drift between
# Debian updates, so the streams are committed and this script is the record of how each one
# was made, not something CI runs. The per-frame MD5 lists are rebuilt from the committed
# streams by `golden regen --streams` (or `bash make-streams.sh --md5-only`).
#
# Every encoder runs single-threaded so that rerunning the script on the same package versions
# gives the same bytes. testsrc2 is RGB, so every command names the YUV pixel format it wants;
# without it libvpx-vp9 and libaom pick 4:4:4.
#
# Usage: bash golden/streams/make-streams.sh [--md5-only]
set -euo pipefail
cd "$(dirname "$0")"

ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }
src() { # src SIZE FRAMES [extra lavfi filters]
    local f="testsrc2=size=$1:rate=25"
    [ -n "${3:-}" ] && f="$f,$3"
    echo "$f,trim=end_frame=$2"
}

make_streams() {
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT

    # VP9 profile 0, 8-bit 4:2:0: intra and inter frames, altref (hidden) frames, all four
    # transform sizes and types in practice.
    ff -f lavfi -i "$(src 320x240 20)" -pix_fmt yuv420p -c:v libvpx-vp9 -threads 1 \
        -b:v 300k -g 10 -auto-alt-ref 1 -lag-in-frames 8 -deadline good -cpu-used 4 \
        vp9_8bit_320x240.ivf

    # VP9 profile 2, 10-bit 4:2:0 (HDR path: 10-bit transforms, MC and loop filter).
    ff -f lavfi -i "$(src 320x240 20)" -pix_fmt yuv420p10le -c:v libvpx-vp9 -threads 1 \
        -profile:v 2 -b:v 300k -g 10 -deadline good -cpu-used 4 \
        vp9_10bit_320x240.ivf

    # VP9 lossless: every block is a 4x4 Walsh-Hadamard transform.
    ff -f lavfi -i "$(src 176x144 8)" -pix_fmt yuv420p -c:v libvpx-vp9 -threads 1 \
        -lossless 1 -deadline good -cpu-used 4 \
        vp9_lossless_176x144.ivf

    # VP9 with an odd frame size: partial superblocks, chroma plane of (w+1)/2 x (h+1)/2 and
    # edge emulation for motion vectors pointing outside the frame.
    # testsrc2 rounds its size down to even numbers, so scale to the odd size afterwards.
    ff -f lavfi -i "$(src 202x132 15 'scale=201:131')" -pix_fmt yuv420p -c:v libvpx-vp9 -threads 1 \
        -b:v 200k -g 8 -deadline good -cpu-used 4 \
        vp9_odd_201x131.ivf

    # H.264 High, CABAC, 8x8 transforms, 3 B-frames with weighted bi-prediction and weighted
    # P prediction. The fade makes the encoder actually choose explicit weights.
    ff -f lavfi -i "$(src 320x240 30 'fade=in:0:15')" -pix_fmt yuv420p -c:v libx264 -threads 1 \
        -profile:v high -preset medium -crf 26 -g 15 \
        -x264-params bframes=3:b-pyramid=normal:weightp=2:weightb=1:8x8dct=1 \
        h264_high_bframes_wp_320x240.h264

    # H.264 High, CAVLC (coder 0) with the same weighted/bi-predicted structure.
    ff -f lavfi -i "$(src 320x240 20 'fade=out:5:15')" -pix_fmt yuv420p -c:v libx264 -threads 1 \
        -profile:v high -preset medium -crf 26 -g 10 -coder 0 \
        -x264-params bframes=3:weightp=2:weightb=1 \
        h264_high_cavlc_320x240.h264

    # H.264 interlaced (MBAFF field/frame macroblock pairs, the mbaff loop-filter entries).
    ff -f lavfi -i "$(src 320x240 20)" -pix_fmt yuv420p -c:v libx264 -threads 1 \
        -profile:v high -preset medium -crf 24 -g 10 -flags +ildct \
        -x264-params interlaced=1:tff=1:bframes=2 \
        h264_interlaced_320x240.h264

    # H.264 with a frame size that is not a multiple of 16 (cropped SPS, edge emulation).
    ff -f lavfi -i "$(src 200x130 20)" -pix_fmt yuv420p -c:v libx264 -threads 1 \
        -profile:v high -preset medium -crf 26 -g 10 -x264-params bframes=2 \
        h264_odd_200x130.h264

    # AV1 (libaom, decoded by libdav1d in FFmpeg 5.1, whose native av1 decoder is hwaccel only).
    ff -f lavfi -i "$(src 320x240 10)" -pix_fmt yuv420p -c:v libaom-av1 -threads 1 \
        -cpu-used 8 -b:v 200k -g 10 -row-mt 0 -tiles 1x1 \
        av1_320x240.ivf

    # 1080p streams for the daemon's benchmark: few frames, kept under 1 MB.
    ff -f lavfi -i "$(src 1920x1080 8)" -pix_fmt yuv420p -c:v libx264 -threads 1 \
        -profile:v high -preset fast -crf 30 -g 8 -x264-params bframes=2 \
        h264_1080p.h264
    ff -f lavfi -i "$(src 1920x1080 6)" -pix_fmt yuv420p -c:v libvpx-vp9 -threads 1 \
        -b:v 2M -g 6 -deadline realtime -cpu-used 8 \
        vp9_1080p.ivf

    # Resolution changes mid-stream: two independently encoded parts, the second starting
    # with a key frame at another size. Annex B concatenates byte-wise (new SPS/PPS + IDR);
    # for IVF the concat demuxer rewrites the frame headers and keeps the first header's size.
    ff -f lavfi -i "$(src 320x240 8)" -pix_fmt yuv420p -c:v libx264 -threads 1 \
        -profile:v high -preset medium -crf 26 -g 8 -x264-params bframes=2 "$tmp/a.h264"
    ff -f lavfi -i "$(src 176x144 8)" -pix_fmt yuv420p -c:v libx264 -threads 1 \
        -profile:v high -preset medium -crf 26 -g 8 -x264-params bframes=2 "$tmp/b.h264"
    cat "$tmp/a.h264" "$tmp/b.h264" >h264_reschange_320x240_176x144.h264

    ff -f lavfi -i "$(src 320x240 8)" -pix_fmt yuv420p -c:v libvpx-vp9 -threads 1 \
        -b:v 200k -g 8 -deadline good -cpu-used 4 "$tmp/a.ivf"
    ff -f lavfi -i "$(src 176x144 8)" -pix_fmt yuv420p -c:v libvpx-vp9 -threads 1 \
        -b:v 200k -g 8 -deadline good -cpu-used 4 "$tmp/b.ivf"
    printf "file '%s'\nfile '%s'\n" "$tmp/a.ivf" "$tmp/b.ivf" >"$tmp/list.txt"
    ff -f concat -safe 0 -i "$tmp/list.txt" -c copy vp9_reschange_320x240_176x144.ivf
}

# The decoder FFmpeg picks for each container/codec is pinned so that the MD5 lists do not
# depend on decoder probing order.
decoder_for() {
    case "$1" in
    av1_*) echo libdav1d ;;
    vp9_*) echo vp9 ;;
    h264_*) echo h264 ;;
    *) echo "unknown stream $1" >&2; return 1 ;;
    esac
}

# One line per decoded frame, "index width height pix_fmt bytes md5" (see README.md).
# The MD5 is over the frame exactly as `ffmpeg -threads 1 -c:v DEC -i IN -autoscale 0
# -f rawvideo -pix_fmt FMT -` writes it, each frame at its own size; widths and heights come
# from ffprobe and are cross-checked against the byte count.
write_md5() {
    local s=$1 dec fmt depth
    dec=$(decoder_for "$s")
    depth=$(ffprobe -v error -select_streams v:0 -show_entries stream=pix_fmt -of csv=p=0 "$s")
    case "$depth" in
    *10le | *10be) fmt=p010le ;;
    *) fmt=nv12 ;;
    esac
    {
        echo "# daedalus frame-md5 v1"
        echo "# stream $s"
        echo "# decoder ffmpeg $(ffmpeg -hide_banner -version | sed -n '1s/^ffmpeg version \([^ ]*\).*/\1/p') -c:v $dec -threads 1 -autoscale 0 -pix_fmt $fmt"
        echo "# index width height pix_fmt bytes md5"
        paste -d' ' \
            <(ffprobe -v error -select_streams v:0 -show_entries frame=width,height -of csv=p=0 "$s" |
                sed -n 's/^\([0-9]*\),\([0-9]*\).*/\1 \2/p') \
            <(ffmpeg -hide_banner -loglevel error -nostdin -threads 1 -c:v "$dec" -i "$s" -autoscale 0 \
                -pix_fmt "$fmt" -f framemd5 - | grep -v '^#' | awk -F', *' '{print $5, $6}') |
            awk -v fmt="$fmt" -v s="$s" '{
                bpp = (fmt == "p010le") ? 2 : 1
                cw = int(($1 + 1) / 2); ch = int(($2 + 1) / 2)
                want = ($1 * $2 + 2 * cw * ch) * bpp
                if (NF != 4 || $3 != want) { print s ": frame " NR-1 ": decoded size does not match the probed dimensions" > "/dev/stderr"; exit 1 }
                print NR-1, $1, $2, fmt, $3, $4
            }'
    } >"${s%.*}.md5"
}

if [ "${1:-}" != "--md5-only" ]; then
    command -v ffmpeg >/dev/null || { echo "ffmpeg not found: apt-get install ffmpeg" >&2; exit 1; }
    make_streams
fi
for s in *.ivf *.h264; do
    write_md5 "$s"
done
