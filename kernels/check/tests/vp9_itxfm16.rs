//! vp9_itxfm16 beyond the decoder's domain: coefficients drawn from the whole int16 range,
//! where FFmpeg's C transform overflows int16 in tmp[] and out[] and wraps its unsigned
//! 32-bit products. The kernel claims bit-exactness there too (vp9_itxfm16.qasm), so it is
//! checked against FFmpeg's C function on such blocks, every type, with eob 1 on DCT_DCT
//! blocks (the DC-only shortcut) among them.

use golden::reference::Vp9TxType;
use golden::rng::Rng;
use kernels_check::{Batch, Layout, Which, check_batch};

#[test]
fn full_range_coefficients_match_ffmpeg() {
    let device = runtime::Device::open().expect("open a device");
    let seed = std::env::var("KERNELS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x1616);
    eprintln!("seed {seed} (set KERNELS_SEED to repeat or vary)");
    let mut rng = Rng::new(seed);
    let which = Which::Vp9Itxfm16;
    let layout = Layout::random(which, 200, &mut rng);
    let mut batch = Batch::new(which, layout, rng.next_u64());
    let types = [
        Vp9TxType::DctDct,
        Vp9TxType::DctAdst,
        Vp9TxType::AdstDct,
        Vp9TxType::AdstAdst,
    ];
    for (k, block) in batch.coefs.chunks_mut(256).enumerate() {
        // Small, large and extreme magnitudes, so both the wrapping and the ordinary paths
        // are taken.
        let bits = [6, 12, 16][k % 3];
        for c in block.iter_mut() {
            let v = rng.next_u64() as u32 as i32 >> (32 - bits);
            *c = v as i16;
        }
        let ty = types[k % 4];
        let eob = if k % 8 == 0 {
            1
        } else {
            2 + (k as u32 * 37) % 255
        };
        batch.vp9[k] = (ty, eob);
    }
    let report = check_batch(&device, &batch, seed).unwrap();
    eprintln!("{report}");
    assert!(report.passed(), "{report}");
}
