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

/// Bad batches are refused before anything runs, naming the block and the value: a block
/// whose 16 rows end past the plane, an eob outside 1..=256, and a coefficient buffer that
/// does not hold 512 bytes per block. Nothing is written.
#[test]
fn bad_batches_are_refused_with_the_offending_value() {
    use kernels::vp9_itxfm4::{TxType, Vp9Block};
    use kernels::{Dest, Error};

    let device = common::device();
    let k = Vp9Itxfm16::new(&device).unwrap();
    let stride = 64u32;
    let mut plane = device.alloc(stride * 16).unwrap();
    plane.write(0, &vec![7u8; plane.size() as usize]).unwrap();
    let mut coefs = device.alloc(2 * 512).unwrap();
    coefs.write(0, &[1u8; 1024]).unwrap();
    let block = |offset, eob| Vp9Block {
        dest: Dest { offset, stride },
        tx_type: TxType::AdstDct,
        eob,
    };

    let e = k
        .run(
            &device,
            &mut plane,
            &mut coefs,
            &[block(0, 5), block(stride, 5)],
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::OutsidePlane {
                block: 1,
                offset: 64,
                rows: 16,
                ..
            }
        ),
        "{e}"
    );
    for eob in [0, 257] {
        let e = k
            .run(
                &device,
                &mut plane,
                &mut coefs,
                &[block(0, 256), block(4, eob)],
            )
            .unwrap_err();
        assert!(
            matches!(e, Error::BadParameter { block: 1, what: "eob", value, .. } if value == eob),
            "{e}"
        );
    }
    let e = k
        .run(&device, &mut plane, &mut coefs, &[block(0, 9); 3])
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::CoefBufferTooSmall {
                have: 1024,
                need: 1536,
                blocks: 3
            }
        ),
        "{e}"
    );
    assert!(plane.to_vec().unwrap().iter().all(|&p| p == 7));
    assert!(coefs.to_vec().unwrap().iter().all(|&c| c == 1));
}
