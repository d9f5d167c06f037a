//! vp9_itxfm4 against FFmpeg's `itxfm_add[TX_4X4][type]`, through the golden fixtures of all
//! four types, run as one mixed batch.

mod common;

use kernels::vp9_itxfm4::Vp9Itxfm4;

#[test]
fn all_four_types_in_one_batch() {
    common::vp9_all_types_in_one_batch(4, |device, plane, coefs, blocks| {
        Vp9Itxfm4::new(device)
            .unwrap()
            .run(device, plane, coefs, blocks)
    });
}

/// FFmpeg's DC-only form clears only `block[0]` and ignores the other coefficients.
#[test]
fn dc_only_ignores_and_keeps_the_other_coefficients() {
    common::vp9_dc_only_keeps_the_other_coefficients(4, |device, plane, coefs, blocks| {
        Vp9Itxfm4::new(device)
            .unwrap()
            .run(device, plane, coefs, blocks)
    });
}
