//! vp9_itxfm8 against FFmpeg's `itxfm_add[TX_8X8][type]`, through the golden fixtures of all
//! four types, run as one mixed batch.

mod common;

use kernels::vp9_itxfm4::{TxType, Vp9Block};
use kernels::vp9_itxfm8::Vp9Itxfm8;

const FIXTURES: [(&str, TxType); 4] = [
    ("vp9_itxfm_8x8_dct_dct", TxType::DctDct),
    ("vp9_itxfm_8x8_dct_adst", TxType::DctAdst),
    ("vp9_itxfm_8x8_adst_dct", TxType::AdstDct),
    ("vp9_itxfm_8x8_adst_adst", TxType::AdstAdst),
];

#[test]
fn all_four_types_in_one_batch() {
    let device = common::device();
    let k = Vp9Itxfm8::new(&device).unwrap();
    let names: Vec<&str> = FIXTURES.iter().map(|f| f.0).collect();
    let batch = common::pack(&names, 128, &["eob"]);
    batch.run_and_check(&device, |plane, coefs, placed| {
        let blocks: Vec<_> = placed
            .iter()
            .map(|p| Vp9Block {
                dest: p.dest,
                tx_type: FIXTURES[p.fixture].1,
                eob: p.params[0] as u32,
            })
            .collect();
        k.run(&device, plane, coefs, &blocks)
    });
}

/// FFmpeg's DC-only form clears only `block[0]` and ignores the other coefficients.
#[test]
fn dc_only_ignores_and_keeps_the_other_coefficients() {
    common::vp9_dc_only_keeps_the_other_coefficients(8, |device, plane, coefs, blocks| {
        Vp9Itxfm8::new(device)
            .unwrap()
            .run(device, plane, coefs, blocks)
    });
}
