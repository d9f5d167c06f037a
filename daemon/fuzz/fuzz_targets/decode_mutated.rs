//! Mutated bitstreams through the decoder core exactly as a session feeds it: nothing may
//! crash, hang or write outside the capture buffer the daemon would announce, and the
//! decoder must accept a clean drain afterwards.
//!
//! Input: one byte choosing the codec (`0` H.264, `1` VP9, `2` AV1), then the stream. For
//! H.264 the stream is Annex B, cut into chunks whose sizes come from the data itself; for
//! VP9/AV1 it is an IVF file and each frame is one request. The seed corpus is the committed
//! streams with the codec byte prepended (see docs/daemon.md).

#![no_main]

use daedalus_daemon::decoder::{self, DecoderConfig, Picture, PlaneLayout, write_picture};
use daedalus_daemon::server::capture_format;
use daedalus_proto::Codec;
use libfuzzer_sys::fuzz_target;

fn ivf_frames(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let Some(hdr) = data.get(6..8) else {
        return out;
    };
    let mut pos = usize::from(u16::from_le_bytes([hdr[0], hdr[1]])).max(32);
    while let Some(h) = data.get(pos..pos + 12) {
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let start = pos + 12;
        let end = start.saturating_add(len).min(data.len());
        out.push(&data[start..end]);
        pos = end;
        if out.len() > 400 {
            break;
        }
    }
    out
}

fn h264_chunks(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut x: u32 = 0x9e37_79b9 ^ data.len() as u32;
    while pos < data.len() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let n = 1 + (x as usize) % 6000;
        let end = (pos + n).min(data.len());
        out.push(&data[pos..end]);
        pos = end;
    }
    out
}

fn sink(pic: Box<dyn Picture>, row: &mut Vec<u8>, frame: &mut Vec<u8>) {
    let fmt = capture_format(pic.info());
    assert!(fmt.visible.width <= fmt.width && fmt.visible.height <= fmt.height);
    // Refuse absurd sizes as the daemon's capture allocation would; dav1d/FFmpeg limit
    // dimensions themselves, this keeps the harness's memory bounded.
    if fmt.size_image > 64 << 20 {
        return;
    }
    frame.clear();
    frame.resize(fmt.size_image as usize, 0);
    let layout = PlaneLayout::capture(fmt.stride as usize, fmt.height);
    let ok = write_picture(&*pic, &layout, row, &mut |off, bytes| {
        let end = off + bytes.len();
        if end > frame.len() {
            return false;
        }
        frame[off..end].copy_from_slice(bytes);
        true
    });
    assert!(
        ok,
        "a picture does not fit the capture layout announced for it"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, stream)) = data.split_first() else {
        return;
    };
    let codec = match sel % 3 {
        0 => Codec::H264,
        1 => Codec::Vp9,
        _ => Codec::Av1,
    };
    let requests = match codec {
        Codec::H264 => h264_chunks(stream),
        _ => ivf_frames(stream),
    };
    let mut dec = decoder::open(&DecoderConfig {
        codec,
        threads: 1,
        extradata: Vec::new(),
    })
    .expect("the decoder opens");
    let (mut row, mut frame) = (Vec::new(), Vec::new());
    for (tag, r) in requests.iter().enumerate() {
        if r.is_empty() {
            continue;
        }
        let _ = dec.decode(r, tag as u64, &mut |p| sink(p, &mut row, &mut frame));
    }
    let _ = dec.drain(&mut |p| sink(p, &mut row, &mut frame));
    // After a drain the session goes on: a flush and another drain must work.
    dec.flush().expect("flush after drain");
    let _ = dec.drain(&mut |p| sink(p, &mut row, &mut frame));
});
