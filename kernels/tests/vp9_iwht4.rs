//! vp9_iwht4 against FFmpeg's `iwht_iwht_4x4_add_c`, through the golden fixtures.

mod common;

use kernels::vp9_iwht4::Vp9Iwht4;

#[test]
fn every_fixture_case_in_one_batch() {
    let device = common::device();
    let k = Vp9Iwht4::new(&device).unwrap();
    let batch = common::pack(&["vp9_itxfm_4x4_wht_wht"], 32, &[]);
    batch.run_and_check(&device, |plane, coefs, placed| {
        let dests: Vec<_> = placed.iter().map(|p| p.dest).collect();
        k.run(&device, plane, coefs, &dests)
    });
}
