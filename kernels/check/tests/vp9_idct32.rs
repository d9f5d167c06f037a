//! vp9_idct32 against FFmpeg's `idct_idct_32x32_add_c` on coefficients no encoder produces:
//! every int16 value, so that pass 1's results overflow FFmpeg's int16 `tmp[]` and pass 2's
//! its int16 `out[]`. FFmpeg's C function is well defined there (unsigned products, int
//! sums), and the kernel must truncate exactly where it does. The checkasm-style inputs of
//! the other tests never get near those limits.

use golden::reference::Vp9TxType;
use golden::rng::Rng;
use kernels_check::{Batch, GUARD, Layout, Which, check_batch};
use runtime::Device;

fn seed() -> u64 {
    let s = std::env::var("KERNELS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x3232_1d37);
    eprintln!("seed {s} (set KERNELS_SEED to repeat or vary)");
    s
}

#[test]
fn full_range_coefficients_truncate_as_ffmpeg_does() {
    let device = Device::open().expect("open a device");
    eprintln!("running on: {}", device.description());
    let seed = seed();
    let mut rng = Rng::new(seed);
    let which = Which::Vp9Idct32;
    let n = 64;
    let layout = Layout::random(which, n, &mut rng);
    let stride = layout.width + 2 * GUARD;
    let rows = layout.height + 2 * GUARD;
    let plane = (0..stride * rows).map(|_| rng.pixel(8) as u8).collect();
    let mut coefs = Vec::with_capacity(n * 1024);
    let mut vp9 = Vec::with_capacity(n);
    for k in 0..n {
        // Three kinds of block: uniform over int16; every coefficient at an extreme (the
        // largest sums); and a few large low-frequency ones over zeros.
        let block: Vec<i16> = match k % 3 {
            0 => (0..1024).map(|_| rng.next_u64() as i16).collect(),
            1 => (0..1024)
                .map(|_| if rng.chance(1, 2) { i16::MAX } else { i16::MIN })
                .collect(),
            _ => (0..1024)
                .map(|i| {
                    if i % 32 < 4 && i / 32 < 4 {
                        rng.next_u64() as i16
                    } else {
                        0
                    }
                })
                .collect(),
        };
        coefs.extend_from_slice(&block);
        // eob 1 takes the DC-only form whatever else the block holds.
        let eob = if k % 7 == 0 {
            1
        } else {
            rng.range(2, 1024) as u32
        };
        vp9.push((Vp9TxType::DctDct, eob));
    }
    let batch = Batch {
        which,
        layout,
        stride,
        plane,
        coefs,
        vp9,
    };
    let report = check_batch(&device, &batch, seed).unwrap();
    eprintln!("{report}");
    assert!(report.passed(), "{report}");
}
