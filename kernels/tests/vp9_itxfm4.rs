//! vp9_itxfm4 against FFmpeg's `itxfm_add[TX_4X4][type]`, through the golden fixtures of all
//! four types, run as one mixed batch.

mod common;

use kernels::vp9_itxfm4::{TxType, Vp9Block, Vp9Itxfm4};

const FIXTURES: [(&str, TxType); 4] = [
    ("vp9_itxfm_4x4_dct_dct", TxType::DctDct),
    ("vp9_itxfm_4x4_dct_adst", TxType::DctAdst),
    ("vp9_itxfm_4x4_adst_dct", TxType::AdstDct),
    ("vp9_itxfm_4x4_adst_adst", TxType::AdstAdst),
];

#[test]
fn all_four_types_in_one_batch() {
    let device = common::device();
    let k = Vp9Itxfm4::new(&device).unwrap();
    let names: Vec<&str> = FIXTURES.iter().map(|f| f.0).collect();
    let batch = common::pack(&names, 32, &["eob"]);
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
    common::vp9_dc_only_keeps_the_other_coefficients(4, |device, plane, coefs, blocks| {
        Vp9Itxfm4::new(device)
            .unwrap()
            .run(device, plane, coefs, blocks)
    });
}
