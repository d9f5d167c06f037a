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

/// FFmpeg's DC-only form (DCT_DCT, eob 1) reads only `block[0]` and clears only `block[0]`,
/// whatever the other coefficients hold; a DCT_DCT block with a larger eob runs the full
/// transform and clears all 64. The fixtures' DC-only blocks have nothing but `block[0]`, on
/// which both forms agree, so this checks the difference with coefficients a conforming
/// decoder would never leave.
#[test]
fn dc_only_ignores_and_keeps_the_other_coefficients() {
    let device = common::device();
    let k = Vp9Itxfm8::new(&device).unwrap();
    let stride = 24u32;
    let dc = [1000i16, -32768, 700, 32767, -5];
    let n = dc.len();
    let mut pixels = vec![0u8; (stride * 8 * n as u32) as usize];
    for (i, p) in pixels.iter_mut().enumerate() {
        *p = (i * 37 % 256) as u8;
    }
    let mut coefs_in = vec![0i16; 64 * n];
    let mut blocks = Vec::new();
    for (b, &d) in dc.iter().enumerate() {
        coefs_in[64 * b] = d;
        // Block 2 is a full DCT_DCT block holding only its DC (eob 2): the same pixels,
        // every coefficient cleared. The others are DC-only with garbage behind the DC.
        if b != 2 {
            for i in 1..64 {
                coefs_in[64 * b + i] = (i as i16 * 311 - 5000) * if b % 2 == 0 { 1 } else { -1 };
            }
        }
        blocks.push(Vp9Block {
            dest: kernels::Dest {
                offset: stride * 8 * b as u32 + 8,
                stride,
            },
            tx_type: TxType::DctDct,
            eob: if b == 2 { 2 } else { 1 },
        });
    }
    let mut plane = device.alloc(pixels.len() as u32).unwrap();
    plane.write(0, &pixels).unwrap();
    let mut coefs = device.alloc(coefs_in.len() as u32 * 2).unwrap();
    coefs.write_pod(0, &coefs_in).unwrap();
    k.run(&device, &mut plane, &mut coefs, &blocks).unwrap();

    let mut want = pixels.clone();
    let mut want_coefs = coefs_in.clone();
    for (b, &d) in dc.iter().enumerate() {
        let t = ((i32::from(d) * 11585 + (1 << 13)) >> 14) * 11585 + (1 << 13);
        let r = ((t >> 14) + 16) >> 5;
        for y in 0..8 {
            for x in 0..8 {
                let at = (stride * (8 * b as u32 + y) + 8 + x) as usize;
                want[at] = (i32::from(want[at]) + r).clamp(0, 255) as u8;
            }
        }
        if b == 2 {
            want_coefs[64 * b..64 * (b + 1)].fill(0);
        } else {
            want_coefs[64 * b] = 0;
        }
    }
    assert_eq!(plane.to_vec().unwrap(), want, "pixels");
    assert_eq!(
        coefs.read_pod::<i16>(0, coefs_in.len()).unwrap(),
        want_coefs,
        "coefficients"
    );
}
