//! What writing one decoded 1080p frame into a capture buffer costs: the NV12 conversion
//! the daemon does on top of decoding (`ffmpeg -f null`, the reference of the loopback
//! benchmark, does none). Two ways, on the first frame of `h264_1080p.h264` written into a
//! memfd mapping laid out as the daemon announces it:
//!
//! * `scratch_rows`: every row through the scratch row, then copied (the writer before
//!   `write_picture` used `Picture::direct_row`);
//! * `direct_luma`: luma rows copied straight from the decoder's plane, with ordinary
//!   stores;
//! * `direct_luma_streaming`: the same through `Mapping::streaming`'s non-temporal stores,
//!   as the daemon writes capture buffers.
//!
//! Source and destination stay in the caches between iterations, so this is the cost of
//! the work itself, not of memory traffic a real pipeline adds; non-temporal stores always
//! go to memory and so lose here what they win in the loopback benchmark, where the
//! destination is not cached anyway (docs/daemon.md, "Benchmark").
//!
//! `cargo bench -p daedalus-daemon --bench frame_write`

use std::os::fd::AsFd;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use daedalus_daemon::decoder::{
    self, DecoderConfig, FrameInfo, Picture, PlaneLayout, write_picture,
};
use daedalus_daemon::server::capture_format;
use daedalus_daemon::sys::Mapping;
use daedalus_proto::Codec;

/// A picture that hides `direct_row`, so `write_picture` converts every row through the
/// scratch row.
struct ScratchOnly(Box<dyn Picture>);

impl Picture for ScratchOnly {
    fn info(&self) -> &FrameInfo {
        self.0.info()
    }
    fn write_row(&self, plane: usize, y: u32, dst: &mut [u8]) {
        self.0.write_row(plane, y, dst)
    }
}

fn first_frame() -> Box<dyn Picture> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../golden/streams/h264_1080p.h264");
    let data = std::fs::read(&path).unwrap();
    let mut dec = decoder::open(&DecoderConfig {
        codec: Codec::H264,
        threads: 1,
        extradata: Vec::new(),
    })
    .unwrap();
    let mut pics = Vec::new();
    dec.decode(&data, 1, &mut |p| pics.push(p)).unwrap();
    dec.drain(&mut |p| pics.push(p)).unwrap();
    pics.swap_remove(0)
}

fn frame_write(c: &mut Criterion) {
    daedalus_daemon::sys::set_log_verbose(false);
    let scratch = ScratchOnly(first_frame());
    let pic = &scratch.0;
    let fmt = capture_format(pic.info());
    let size = fmt.size_image as usize;
    let fd =
        nix::sys::memfd::memfd_create(c"frame-write", nix::sys::memfd::MemFdCreateFlag::empty())
            .unwrap();
    nix::unistd::ftruncate(&fd, size as i64).unwrap();
    let map = Mapping::new(fd.as_fd(), 0, size).unwrap();
    let layout = PlaneLayout::capture(fmt.stride as usize, fmt.height);
    let mut row = Vec::new();
    let mut g = c.benchmark_group(format!(
        "frame_write_{}x{}",
        pic.info().width,
        pic.info().height
    ));
    g.throughput(Throughput::Bytes(pic.info().packed_size() as u64));
    g.bench_function("scratch_rows", |b| {
        b.iter(|| {
            assert!(write_picture(&scratch, &layout, &mut row, &mut |o, s| {
                map.write(o, s)
            }))
        })
    });
    g.bench_function("direct_luma", |b| {
        b.iter(|| assert!(write_picture(&**pic, &layout, &mut row, &mut |o, s| map.write(o, s))))
    });
    g.bench_function("direct_luma_streaming", |b| {
        b.iter(|| {
            let mut w = map.streaming();
            assert!(write_picture(&**pic, &layout, &mut row, &mut |o, s| w.write(o, s)))
        })
    });
    g.finish();
}

criterion_group!(benches, frame_write);
criterion_main!(benches);
