//! h264_idct4 against FFmpeg's `ff_h264_idct_add_8_c`, through the golden fixtures.

mod common;

use kernels::h264_idct4::H264Idct4;

#[test]
fn every_fixture_case_in_one_batch() {
    let device = common::device();
    let k = H264Idct4::new(&device).unwrap();
    let batch = common::pack(&["h264_idct4"], 32, &[]);
    let stats = batch.run_and_check(&device, |plane, coefs, placed| {
        let dests: Vec<_> = placed.iter().map(|p| p.dest).collect();
        k.run(&device, plane, coefs, &dests)
    });
    eprintln!("{stats:?}");
}

#[test]
fn idct8_every_fixture_case_in_one_batch() {
    let device = common::device();
    let k = kernels::h264_idct8::H264Idct8::new(&device).unwrap();
    let batch = common::pack(&["h264_idct8"], 128, &[]);
    batch.run_and_check(&device, |plane, coefs, placed| {
        let dests: Vec<_> = placed.iter().map(|p| p.dest).collect();
        k.run(&device, plane, coefs, &dests)
    });
}
