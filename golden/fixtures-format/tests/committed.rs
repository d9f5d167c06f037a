//! What a kernel's test looks like without FFmpeg: load the committed fixtures, run an
//! implementation on each case's inputs and compare every buffer. The implementations here
//! are small Rust models written from the H.264 spec's formulas, so this also checks the
//! fixtures' semantics independently of the harness that made them.

use golden_fixtures::{ElemType, Fixture, default_dir, list_kernels};

fn elems(e: ElemType, b: &[u8]) -> Vec<i64> {
    (0..b.len() / e.size()).map(|i| e.get(b, i)).collect()
}

#[test]
fn every_committed_fixture_loads() {
    let names = list_kernels(&default_dir()).unwrap();
    assert!(names.len() >= 100, "{} fixtures", names.len());
    for n in names {
        let f = Fixture::load(&default_dir(), &n).unwrap();
        assert_eq!(f.kernel, n);
        assert!(!f.cases.is_empty());
    }
}

/// H.264 8.4.2.2.2 chroma sample interpolation, with FFmpeg's put/avg rounding.
#[allow(clippy::too_many_arguments)]
fn chroma_mc(
    dst: &mut [u8],
    d0: usize,
    src: &[u8],
    s0: usize,
    stride: usize,
    w: usize,
    h: usize,
    x: i64,
    y: i64,
    avg: bool,
) {
    let (a, b, c, d) = ((8 - x) * (8 - y), x * (8 - y), (8 - x) * y, x * y);
    for r in 0..h {
        for col in 0..w {
            let s = |dy: usize, dx: usize| i64::from(src[s0 + (r + dy) * stride + col + dx]);
            let v = (a * s(0, 0) + b * s(0, 1) + c * s(1, 0) + d * s(1, 1) + 32) >> 6;
            let p = &mut dst[d0 + r * stride + col];
            *p = if avg {
                ((i64::from(*p) + v + 1) >> 1) as u8
            } else {
                v as u8
            };
        }
    }
}

#[test]
fn a_rust_chroma_mc_matches_the_fixtures() {
    for (name, w, avg) in [
        ("h264_put_chroma_mc8", 8, false),
        ("h264_put_chroma_mc4", 4, false),
        ("h264_avg_chroma_mc2", 2, true),
        ("h264_avg_chroma_mc8", 8, true),
    ] {
        let f = Fixture::load(&default_dir(), name).unwrap();
        for (i, c) in f.cases.iter().enumerate() {
            let p = |n: &str| f.param(i, n).unwrap() as usize;
            let mut dst = c.buffers[0].before.clone();
            let src = c.buffers[1].before.clone();
            chroma_mc(
                &mut dst,
                p("dst_origin"),
                &src,
                p("src_origin"),
                p("stride"),
                w,
                p("h"),
                p("x") as i64,
                p("y") as i64,
                avg,
            );
            let r = f.check(i, &[&dst, &src]).unwrap();
            assert_eq!(r, Ok(()), "{name}");
        }
    }
}

#[test]
fn a_rust_idct_dc_matches_the_fixtures_and_a_wrong_one_does_not() {
    let f = Fixture::load(&default_dir(), "h264_idct4_dc").unwrap();
    let (dst_e, blk_e) = (f.buffers[0].elem, f.buffers[1].elem);
    let mut wrong_caught = 0;
    for (i, c) in f.cases.iter().enumerate() {
        let stride = f.param(i, "stride").unwrap() as usize;
        let origin = f.param(i, "origin").unwrap() as usize;
        let block = elems(blk_e, &c.buffers[1].before);
        let run = |round: i64| {
            let mut dst = elems(dst_e, &c.buffers[0].before);
            let dc = (block[0] + round) >> 6;
            for y in 0..4 {
                for x in 0..4 {
                    let p = &mut dst[origin + y * stride + x];
                    *p = (*p + dc).clamp(0, 255);
                }
            }
            let dst: Vec<u8> = dst.iter().map(|&v| v as u8).collect();
            // Only block[0] was set, and the function clears it.
            let blk = vec![0u8; c.buffers[1].before.len()];
            f.check(i, &[&dst, &blk]).unwrap().err()
        };
        assert_eq!(run(32), None, "case {i}");
        // Truncating instead of rounding: a typical kernel bug.
        if let Some(m) = run(0) {
            assert!(
                m.to_string()
                    .starts_with(&format!("h264_idct4_dc: case {i} ")),
                "{m}"
            );
            wrong_caught += 1;
        }
    }
    // Truncation and rounding differ when block[0] & 63 >= 32: about half the cases.
    assert!(wrong_caught * 4 > f.cases.len(), "{wrong_caught}");
}
