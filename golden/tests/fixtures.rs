//! The committed fixtures against the reference: regeneration reproduces them byte for byte,
//! FFmpeg's SIMD functions agree with them, and the comparison catches a wrong kernel.

use golden::catalog::{self, Kernel};
use golden::fixtures::{After, Fixture, default_dir, list_kernels};
use golden::reference::Reference;
use golden::regen::{self, decode, encode};

fn load(k: &Kernel) -> Fixture {
    Fixture::load(&default_dir(), &k.name)
        .unwrap_or_else(|e| panic!("{}: {e}; run `golden regen`", k.name))
}

#[test]
fn regen_reproduces_every_committed_fixture() {
    let r = Reference::c().unwrap();
    let mut differ = Vec::new();
    for k in catalog::all() {
        let path = Fixture::path_in(&default_dir(), &k.name);
        let committed = std::fs::read(&path).unwrap_or_default();
        if regen::build(&k, r).unwrap().encode() != committed {
            differ.push(k.name);
        }
    }
    assert!(
        differ.is_empty(),
        "regenerated fixtures differ from the committed ones: {differ:?}"
    );
}

#[test]
fn every_fixture_belongs_to_a_kernel_and_the_set_is_small() {
    let names: Vec<String> = catalog::all().into_iter().map(|k| k.name).collect();
    let present = list_kernels(&default_dir()).unwrap();
    assert_eq!(present.len(), names.len(), "fixtures {present:?}");
    let mut total = 0;
    for k in catalog::all() {
        let f = load(&k);
        regen::check_layout(&k, &f).unwrap();
        assert!(!f.cases.is_empty(), "{}", k.name);
        total += std::fs::metadata(Fixture::path_in(&default_dir(), &k.name))
            .unwrap()
            .len();
    }
    assert!(total < 16 << 20, "fixtures total {total} bytes");
}

#[test]
fn simd_agrees_with_every_fixture() {
    let simd = Reference::simd().unwrap();
    let mut failures = Vec::new();
    let mut captured = 0;
    for k in catalog::all() {
        for m in regen::verify(&k, &load(&k), simd).unwrap() {
            failures.push(m.to_string());
        }
        let path = Fixture::captured_path_in(&default_dir(), &k.name);
        if path.is_file() {
            captured += 1;
            for m in regen::verify(&k, &Fixture::load_file(&path).unwrap(), simd).unwrap() {
                failures.push(m.to_string());
            }
        }
    }
    assert!(
        captured >= 40,
        "only {captured} captured fixtures; run golden regen --captured"
    );
    assert!(
        failures.is_empty(),
        "{} disagreements, first: {}",
        failures.len(),
        failures[0]
    );
}

#[test]
fn the_c_reference_reproduces_its_own_fixtures() {
    let c = Reference::c().unwrap();
    for name in [
        "h264_idct8_add4_10bit",
        "vp9_loop_filter_h_16_16",
        "h264_avg_qpel8",
    ] {
        let k = catalog::find(name).unwrap();
        assert_eq!(regen::verify(&k, &load(&k), c).unwrap(), vec![]);
    }
}

/// The side effects the fixtures promise: transforms clear their coefficients, sources are
/// untouched, and destinations change in most cases (but loop filters leave some alone,
/// i.e. the inputs reach both the filtering and the skipping branches).
#[test]
fn fixtures_record_the_expected_side_effects() {
    for k in catalog::all() {
        let f = load(&k);
        let captured = Fixture::captured_path_in(&default_dir(), &k.name);
        if captured.is_file() {
            // Captured cases: the same side effects; how often they write is the stream's.
            let c = Fixture::load_file(&captured).unwrap();
            for (spec_i, spec) in c.buffers.iter().enumerate() {
                for case in &c.cases {
                    let b = &case.buffers[spec_i];
                    match spec.name.as_str() {
                        "block" => assert!(
                            b.expected().iter().all(|&v| v == 0),
                            "{}: captured block not cleared",
                            k.name
                        ),
                        "src" | "block_offset" | "nnzc" => {
                            assert_eq!(b.after, After::Unchanged, "{}", k.name)
                        }
                        _ => {}
                    }
                }
            }
        }
        for (spec_i, spec) in f.buffers.iter().enumerate() {
            let afters: Vec<&After> = f.cases.iter().map(|c| &c.buffers[spec_i].after).collect();
            let changed = afters
                .iter()
                .filter(|a| matches!(a, After::Bytes(_)))
                .count();
            match spec.name.as_str() {
                "block" => {
                    for c in &f.cases {
                        let b = &c.buffers[spec_i];
                        assert_eq!(
                            b.expected().iter().filter(|&&v| v != 0).count(),
                            0,
                            "{}: coefficients not cleared",
                            k.name
                        );
                    }
                }
                "src" | "block_offset" | "nnzc" => {
                    assert!(
                        afters.iter().all(|a| **a == After::Unchanged),
                        "{}: {} written",
                        k.name,
                        spec.name
                    )
                }
                _ if k.name.contains("loop_filter") => {
                    let (filtered, kept) = lf_lines(&k, &f);
                    let n = filtered + kept;
                    assert!(
                        filtered * 5 > n && kept * 10 > n,
                        "{}: {filtered} of {n} edge lines filtered",
                        k.name
                    );
                }
                _ => assert!(
                    changed * 4 > f.cases.len() * 3,
                    "{}: {} written in {changed} cases",
                    k.name,
                    spec.name
                ),
            }
        }
    }
}

/// Over all cases of a loop filter's fixture: how many lines across the edge it changed and
/// how many it left alone.
fn lf_lines(k: &Kernel, f: &Fixture) -> (usize, usize) {
    use golden::catalog::Kind;
    let (len, vertical) = match k.kind {
        Kind::H264LoopFilter(l) => (l.length(), l.is_vertical()),
        Kind::Vp9LoopFilter { kind, vertical } => (kind.length(), vertical),
        _ => unreachable!("{} is not a loop filter", k.name),
    };
    let (mut filtered, mut kept) = (0, 0);
    for (ci, c) in f.cases.iter().enumerate() {
        let stride = f.param(ci, "stride").unwrap() as isize;
        let origin = f.param(ci, "origin").unwrap() as isize;
        let before = &c.buffers[0].before;
        let after = c.buffers[0].expected();
        for along in 0..len as isize {
            let changed = (-8..8).any(|across| {
                let p = if vertical {
                    origin + across * stride + along
                } else {
                    origin + along * stride + across
                };
                usize::try_from(p)
                    .ok()
                    .filter(|&p| p < before.len())
                    .is_some_and(|p| before[p] != after[p])
            });
            if changed {
                filtered += 1;
            } else {
                kept += 1;
            }
        }
    }
    (filtered, kept)
}

/// Runs the C reference on case `case` of `f` and returns the buffers it leaves.
fn run_case(k: &Kernel, f: &Fixture, case: usize) -> Vec<Vec<u8>> {
    let c = &f.cases[case];
    let mut bufs: Vec<Vec<i32>> = f
        .buffers
        .iter()
        .zip(&c.buffers)
        .map(|(s, b)| decode(s.elem, &b.before))
        .collect();
    k.run(Reference::c().unwrap(), &c.params, &mut bufs)
        .unwrap();
    f.buffers
        .iter()
        .zip(&bufs)
        .map(|(s, b)| encode(s.elem, b))
        .collect()
}

#[test]
fn an_altered_reference_output_is_reported_with_kernel_case_and_byte() {
    let k = catalog::find("h264_idct4").unwrap();
    let mut f = load(&k);
    let case = 5;
    // Change one expected pixel inside the block (row 1, column 2 of the 4x4 at origin).
    let stride = f.param(case, "stride").unwrap() as usize;
    let origin = f.param(case, "origin").unwrap() as usize;
    let at = origin + stride + 2;
    let After::Bytes(expected) = &mut f.cases[case].buffers[0].after else {
        panic!("case {case} of h264_idct4 leaves dst unchanged");
    };
    expected[at] ^= 0x10;
    let actual = run_case(&k, &f, case);
    let refs: Vec<&[u8]> = actual.iter().map(Vec::as_slice).collect();
    let m = f.check(case, &refs).unwrap().unwrap_err();
    assert_eq!(
        (m.kernel.as_str(), m.case, m.buffer.as_str(), m.byte_offset),
        ("h264_idct4", case, "dst", at)
    );
    assert_eq!(m.xy, Some((at % stride, at / stride)));
    let text = m.to_string();
    assert!(
        text.starts_with(&format!("h264_idct4: case {case} (stride={stride} origin={origin}): buffer dst first differs at byte {at}")),
        "{text}"
    );
    // The other cases still pass.
    let actual = run_case(&k, &f, case + 1);
    let refs: Vec<&[u8]> = actual.iter().map(Vec::as_slice).collect();
    assert_eq!(f.check(case + 1, &refs).unwrap(), Ok(()));
}

#[test]
fn a_kernel_writing_the_guard_band_or_not_clearing_coefficients_fails() {
    let k = catalog::find("vp9_itxfm_8x8_adst_dct").unwrap();
    let f = load(&k);
    let mut actual = run_case(&k, &f, 3);
    // One pixel to the right of the 8x8 block, in the guard band.
    let origin = f.param(3, "origin").unwrap() as usize;
    actual[0][origin + 8] = actual[0][origin + 8].wrapping_add(1);
    let refs: Vec<&[u8]> = actual.iter().map(Vec::as_slice).collect();
    let m = f.check(3, &refs).unwrap().unwrap_err();
    assert_eq!((m.buffer.as_str(), m.byte_offset), ("dst", origin + 8));
    // A kernel that leaves a coefficient behind.
    let mut actual = run_case(&k, &f, 3);
    actual[1][6] = 1;
    let refs: Vec<&[u8]> = actual.iter().map(Vec::as_slice).collect();
    let m = f.check(3, &refs).unwrap().unwrap_err();
    assert_eq!(
        (m.buffer.as_str(), m.element, m.expected, m.actual),
        ("block", 3, 0, 1)
    );
    assert!(
        m.to_string().contains("vp9_itxfm_8x8_adst_dct: case 3"),
        "{m}"
    );
}

#[test]
fn a_wrong_kernel_is_caught() {
    // The avg form of chroma MC run where the put form is expected: what a kernel with the
    // wrong rounding or op would produce.
    let put = catalog::find("h264_put_chroma_mc4").unwrap();
    let avg = catalog::find("h264_avg_chroma_mc4").unwrap();
    let f = load(&put);
    let mut caught = 0;
    for case in 0..f.cases.len() {
        let c = &f.cases[case];
        let mut bufs: Vec<Vec<i32>> = f
            .buffers
            .iter()
            .zip(&c.buffers)
            .map(|(s, b)| decode(s.elem, &b.before))
            .collect();
        avg.run(Reference::c().unwrap(), &c.params, &mut bufs)
            .unwrap();
        let actual: Vec<Vec<u8>> = f
            .buffers
            .iter()
            .zip(&bufs)
            .map(|(s, b)| encode(s.elem, b))
            .collect();
        let refs: Vec<&[u8]> = actual.iter().map(Vec::as_slice).collect();
        if let Err(m) = f.check(case, &refs).unwrap() {
            assert!(
                m.to_string()
                    .starts_with(&format!("h264_put_chroma_mc4: case {case} "))
            );
            caught += 1;
        }
    }
    assert_eq!(caught, f.cases.len());
}

/// The fixtures captured from decoding the committed streams (FFmpeg's decoders with the DSP
/// init functions wrapped) are reproduced by a fresh capture.
#[test]
fn captured_fixtures_are_reproduced_by_decoding_the_streams() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_golden-capture"))
        .arg("--check")
        .output()
        .expect("run golden-capture");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "golden-capture --check failed:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("decoded vp9_8bit_320x240.ivf: 20 frames"),
        "{text}"
    );
    assert!(
        text.contains("decoded h264_high_bframes_wp_320x240.h264: 30 frames"),
        "{text}"
    );
    assert!(
        !text.contains("missing:") && !text.contains("differs:"),
        "{text}"
    );
}
