//! The harness itself: the tables load, the mirrors match, the forward transforms used for
//! the inputs are the inverse of FFmpeg's, and the safe API refuses out-of-bounds calls.

use golden::inputs::vp9_forward;
use golden::reference::{
    D8, D10, GoldenError, H264Idct, H264LoopFilter, Op, Reference, Vp9Filter, Vp9TxSize, Vp9TxType,
    libavcodec_version,
};
use golden::rng::Rng;
use golden::transform::{Forward, Kind1d};

#[test]
fn tables_load_for_the_checked_libavcodec() {
    assert_eq!(libavcodec_version(), golden::reference::CHECKED_VERSION);
    let c = Reference::c().expect("C tables");
    let s = Reference::simd().expect("SIMD tables");
    assert_eq!(c.implementation(), golden::reference::Impl::C);
    assert_eq!(s.implementation(), golden::reference::Impl::Simd);
}

/// Max |reconstructed - residual| over `trials` random residuals on a mid-grey block.
fn h264_roundtrip_error(n: usize, trials: usize) -> i32 {
    let r = Reference::c().unwrap();
    let fwd = Forward::new(n, Kind1d::H264, Kind1d::H264, 64.0);
    let kind = if n == 4 {
        H264Idct::Idct4
    } else {
        H264Idct::Idct8
    };
    let mut rng = Rng::new(5);
    let mut worst = 0;
    for _ in 0..trials {
        let res: Vec<i32> = (0..n * n).map(|_| rng.range(-100, 100)).collect();
        let mut block: Vec<i16> = fwd.apply(&res).iter().map(|v| v.round() as i16).collect();
        let mut dst = vec![128u8; n * n];
        r.h264_idct::<D8>(kind, &mut dst, 0, n, &mut block).unwrap();
        assert!(block.iter().all(|&c| c == 0), "coefficients cleared");
        for (d, e) in dst.iter().zip(&res) {
            worst = worst.max((i32::from(*d) - 128 - e).abs());
        }
    }
    worst
}

#[test]
fn h264_forward_transform_inverts_ffmpegs_idct() {
    // Rounding the coefficients and the 16-bit intermediate shifts cost at most a couple of
    // levels; a wrong model or layout costs tens.
    assert!(h264_roundtrip_error(4, 200) <= 2, "idct4");
    assert!(h264_roundtrip_error(8, 200) <= 2, "idct8");
}

#[test]
fn vp9_forward_transforms_invert_ffmpegs_itxfm() {
    let r = Reference::c().unwrap();
    let mut rng = Rng::new(9);
    for tx in [
        Vp9TxSize::Tx4,
        Vp9TxSize::Tx8,
        Vp9TxSize::Tx16,
        Vp9TxSize::Tx32,
        Vp9TxSize::Wht,
    ] {
        let types: &[Vp9TxType] = match tx {
            Vp9TxSize::Tx32 | Vp9TxSize::Wht => &[Vp9TxType::DctDct],
            _ => &[
                Vp9TxType::DctDct,
                Vp9TxType::DctAdst,
                Vp9TxType::AdstDct,
                Vp9TxType::AdstAdst,
            ],
        };
        for &ty in types {
            let n = tx.size();
            let fwd = vp9_forward(tx, ty);
            let mut worst = 0;
            for _ in 0..40 {
                let res: Vec<i32> = (0..n * n).map(|_| rng.range(-100, 100)).collect();
                let mut block: Vec<i32> =
                    fwd.apply(&res).iter().map(|v| v.round() as i32).collect();
                let mut dst = vec![512u16; n * n];
                r.vp9_itxfm::<D10>(tx, ty, &mut dst, 0, n, &mut block, (n * n) as u32)
                    .unwrap();
                assert!(block.iter().all(|&c| c == 0));
                for (d, e) in dst.iter().zip(&res) {
                    worst = worst.max((i32::from(*d) - 512 - e).abs());
                }
            }
            assert!(worst <= 2, "{tx:?} {ty:?}: reconstruction off by {worst}");
        }
    }
}

#[test]
fn out_of_bounds_calls_are_refused() {
    let r = Reference::c().unwrap();
    let mut dst = vec![0u8; 4 * 4];
    let mut block = vec![0i16; 16];
    // Origin 1 with stride 4 needs 4 + 3*4 + 1 = 17 elements.
    let e = r
        .h264_idct::<D8>(H264Idct::Idct4, &mut dst, 1, 4, &mut block)
        .unwrap_err();
    assert!(
        matches!(e, GoldenError::OutOfBounds { buffer: "dst", .. }),
        "{e}"
    );
    let e = r
        .h264_idct::<D8>(H264Idct::Idct8, &mut dst, 0, 4, &mut block)
        .unwrap_err();
    assert!(matches!(e, GoldenError::OutOfBounds { .. }));
    // The loop filter reads 4 rows above the edge.
    let mut lf = vec![0u8; 32 * 8];
    let e = r
        .h264_loop_filter::<D8>(H264LoopFilter::VLuma, &mut lf, 32 * 3, 32, 10, 4, [1; 4])
        .unwrap_err();
    assert!(matches!(e, GoldenError::OutOfBounds { .. }));
    assert!(
        r.h264_loop_filter::<D8>(H264LoopFilter::VLuma, &mut lf, 32 * 4, 32, 10, 4, [1; 4])
            .is_ok()
    );
    // Sub-pel positions outside the filter tables.
    let src = vec![0u8; 80 * 80];
    let mut d = vec![0u8; 64 * 64];
    let e = r
        .vp9_mc::<D8>(
            Op::Put,
            Vp9Filter::Regular,
            8,
            8,
            16,
            0,
            &mut d,
            0,
            64,
            &src,
            3 * 80 + 3,
            80,
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            GoldenError::InvalidParam {
                name: "mx",
                value: 16,
                ..
            }
        ),
        "{e}"
    );
    let e = r
        .h264_qpel::<D8>(Op::Avg, 16, 4, 0, &mut d, 0, &src, 2 * 21 + 2, 21)
        .unwrap_err();
    assert!(matches!(e, GoldenError::InvalidParam { name: "x", .. }));
    let e = r
        .vp9_itxfm::<D8>(
            Vp9TxSize::Tx4,
            Vp9TxType::DctDct,
            &mut d,
            0,
            8,
            &mut block,
            17,
        )
        .unwrap_err();
    assert!(matches!(e, GoldenError::InvalidParam { name: "eob", .. }));
}
