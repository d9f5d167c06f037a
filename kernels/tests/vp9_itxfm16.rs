//! vp9_itxfm16 against FFmpeg's `itxfm_add[TX_16X16][type]`, through the golden fixtures of
//! all four types, run as one mixed batch.

mod common;

use kernels::vp9_itxfm16::Vp9Itxfm16;

#[test]
fn all_four_types_in_one_batch() {
    common::vp9_all_types_in_one_batch(16, |device, plane, coefs, blocks| {
        Vp9Itxfm16::new(device)
            .unwrap()
            .run(device, plane, coefs, blocks)
    });
}

/// FFmpeg's DC-only form clears only `block[0]` and ignores the other coefficients.
#[test]
fn dc_only_ignores_and_keeps_the_other_coefficients() {
    common::vp9_dc_only_keeps_the_other_coefficients(16, |device, plane, coefs, blocks| {
        Vp9Itxfm16::new(device)
            .unwrap()
            .run(device, plane, coefs, blocks)
    });
}
