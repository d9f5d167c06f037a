//! h264_idct4_dc and h264_idct8_dc against FFmpeg's `ff_h264_idct_dc_add_8_c` and
//! `ff_h264_idct8_dc_add_8_c`, through the golden fixtures.

mod common;

use kernels::h264_idct_dc::{H264Idct4Dc, H264Idct8Dc};

#[test]
fn idct4_dc_every_fixture_case_in_one_batch() {
    let device = common::device();
    let k = H264Idct4Dc::new(&device).unwrap();
    let batch = common::pack(&["h264_idct4_dc"], 32, &[]);
    batch.run_and_check(&device, |plane, coefs, placed| {
        let dests: Vec<_> = placed.iter().map(|p| p.dest).collect();
        k.run(&device, plane, coefs, &dests)
    });
}

#[test]
fn idct8_dc_every_fixture_case_in_one_batch() {
    let device = common::device();
    let k = H264Idct8Dc::new(&device).unwrap();
    let batch = common::pack(&["h264_idct8_dc"], 128, &[]);
    batch.run_and_check(&device, |plane, coefs, placed| {
        let dests: Vec<_> = placed.iter().map(|p| p.dest).collect();
        k.run(&device, plane, coefs, &dests)
    });
}
