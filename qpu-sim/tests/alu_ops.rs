//! Per-op reference tables with edge values. Every expected value is written out by hand from
//! IEEE-754 (round to nearest even, denormals flushed, canonical NaN 0x7fc00000), two's
//! complement arithmetic, or the numpy formula py-videocore7's hardware tests check the op
//! against (tests/test_alu.py); none is computed by the emulator's own code.

mod common;
use common::*;

const NAN: u32 = 0x7fc0_0000;
const INF: u32 = 0x7f80_0000;
const NINF: u32 = 0xff80_0000;
const ONE: u32 = 0x3f80_0000;
const NEG0: u32 = 0x8000_0000;
const SNAN: u32 = 0x7f80_0001;
const DENORM: u32 = 0x0000_0001;
const MIN_NORMAL: u32 = 0x0080_0000;
const MAX: u32 = 0x7f7f_ffff;

#[test]
fn fadd() {
    check_table(
        "fadd rf12, rf10, rf11",
        &[
            (ONE, f(2.0), f(3.0)),
            (INF, NINF, NAN),
            (SNAN, ONE, NAN),
            (DENORM, 0, 0),
            // A denormal input reads as zero.
            (MIN_NORMAL, 0x0040_0000, MIN_NORMAL),
            (0x8000_0001, ONE, ONE),
            // 1.5 * 2^-126 - 2^-126 is denormal: flushed to +0.
            (0x00c0_0000, 0x8080_0000, 0),
            (NEG0, NEG0, NEG0),
            (0, NEG0, 0),
            (f(3.0), f(-3.0), 0),
            // Ties round to even.
            (ONE, 0x3380_0000, ONE),
            (0x3f80_0001, 0x3380_0000, 0x3f80_0002),
            (MAX, MAX, INF),
            (f(-1.0), f(0.5), f(-0.5)),
            (INF, ONE, INF),
            (MIN_NORMAL, MIN_NORMAL, 0x0100_0000),
        ],
    );
}

#[test]
fn faddnf_matches_fadd_on_ordinary_values() {
    // FADDNF is FADD with the operands in the other order (qpu-asm picks the encoding); the
    // values py-videocore7 checks are the same `a + b`.
    check_table(
        "faddnf rf12, rf10, rf11",
        &[
            (ONE, f(2.0), f(3.0)),
            (f(-1.5), f(0.25), f(-1.25)),
            (NEG0, NEG0, NEG0),
        ],
    );
}

#[test]
fn fsub() {
    check_table(
        "fsub rf12, rf10, rf11",
        &[
            (ONE, ONE, 0),
            (NEG0, 0, NEG0),
            (INF, INF, NAN),
            (f(1.0), f(3.0), f(-2.0)),
            (DENORM, 0x8000_0001, 0),
            (NINF, INF, NINF),
        ],
    );
}

#[test]
fn fmul() {
    check_table(
        "nop ; fmul rf12, rf10, rf11",
        &[
            (f(3.0), f(0.5), f(1.5)),
            (f(-2.0), f(3.0), f(-6.0)),
            (ONE, NEG0, NEG0),
            (INF, 0, NAN),
            // 2^-100 * 2^-30 = 2^-130 is denormal: flushed.
            (0x0d80_0000, 0x3080_0000, 0),
            (DENORM, 0x7180_0000, 0),
            (MAX, f(2.0), INF),
            // (1 + 2^-23)^2 = 1 + 2^-22 + 2^-46 rounds to 1 + 2^-22.
            (0x3f80_0001, 0x3f80_0001, 0x3f80_0002),
            (NAN, ONE, NAN),
        ],
    );
}

#[test]
fn fmin_fmax() {
    check_table(
        "fmin rf12, rf10, rf11",
        &[
            (NEG0, 0, NEG0),
            (0, NEG0, NEG0),
            (NAN, ONE, ONE),
            (ONE, NAN, ONE),
            (NINF, f(5.0), NINF),
            (f(-1.0), f(-2.0), f(-2.0)),
            // Both denormals read as zeros of their sign.
            (DENORM, 0x8000_0001, NEG0),
        ],
    );
    check_table(
        "fmax rf12, rf10, rf11",
        &[
            (NEG0, 0, 0),
            (0, NEG0, 0),
            (NAN, ONE, ONE),
            (ONE, NAN, ONE),
            (NINF, f(5.0), f(5.0)),
            (f(-1.0), f(-2.0), f(-1.0)),
        ],
    );
}

#[test]
fn fcmp_writes_the_difference() {
    // py-videocore7 test_alu.py: fcmp is checked as `a - b`.
    check_table(
        "fcmp rf12, rf10, rf11",
        &[
            (f(5.0), f(3.0), f(2.0)),
            (f(1.0), f(4.0), f(-3.0)),
            (ONE, ONE, 0),
        ],
    );
}

#[test]
fn f32_unpacks() {
    // A = 0x4000_3c00: the low half is f16 1.0 (0x3c00), the high half 2.0 (0x4000).
    let a = 0x4000_3c00;
    check_table(
        "fmov rf12, rf10.l",
        &[(a, 0, ONE), (0x0000_c000, 0, f(-2.0))],
    );
    check_table(
        "fmov rf12, rf10.h",
        &[(a, 0, f(2.0)), (0x7c00_0000, 0, INF)],
    );
    check_table("fmov rf12, rf10.abs", &[(f(-2.5), 0, f(2.5)), (NEG0, 0, 0)]);
    check_table(
        "fmov rf12, rf10.sat",
        &[(f(2.0), 0, ONE), (f(-0.5), 0, 0), (f(0.25), 0, f(0.25))],
    );
    check_table(
        "fmov rf12, rf10.nsat",
        &[
            (f(-2.0), 0, f(-1.0)),
            (f(3.0), 0, ONE),
            (f(-0.75), 0, f(-0.75)),
        ],
    );
    check_table(
        "fmov rf12, rf10.max0",
        &[(f(-3.0), 0, 0), (f(5.0), 0, f(5.0))],
    );
    // Unpacks apply to both inputs of a binary op, and to the mul ALU's fmov.
    check_table(
        "fadd rf12, rf10.abs, rf11.h",
        &[(f(-1.0), 0x4000_0000, f(3.0))],
    );
    check_table("nop ; fmov rf12, rf10.sat", &[(f(7.0), 0, ONE)]);
}

#[test]
fn f32_output_packs_keep_the_other_half() {
    let c = [0xdead_beefu32; 16];
    let mut a = [ONE; 16];
    // 1 + 2^-11 is halfway between f16 1.0 and 1.0009765625: even is 1.0.
    a[1] = 0x3f80_1000;
    // 1 + 3*2^-11 is halfway between 0x3c01 and 0x3c02: even is 0x3c02.
    a[2] = 0x3f80_3000;
    // 65520 is halfway between 65504 (max f16) and 65536: even rounds to infinity.
    a[3] = f(65520.0);
    a[4] = f(-2.0);
    let got = eval("fmov rf12.l, rf10", &a, &[0; 16], &c);
    assert_eq!(
        &got[..5],
        &[
            0xdead_3c00,
            0xdead_3c00,
            0xdead_3c02,
            0xdead_7c00,
            0xdead_c000
        ]
    );
    let got = eval("fmov rf12.h, rf10", &a, &[0; 16], &c);
    assert_eq!(got[0], 0x3c00_beef);
    assert_eq!(got[4], 0xc000_beef);
    let got = eval("fadd rf12.h, rf10, rf10", &a, &[0; 16], &c);
    assert_eq!(got[0], 0x4000_beef);
}

#[test]
fn integer_add_sub_min_max() {
    check_table(
        "add rf12, rf10, rf11",
        &[
            (0xffff_ffff, 1, 0),
            (0x7fff_ffff, 1, 0x8000_0000),
            (5, 0xffff_fffd, 2),
        ],
    );
    check_table("nop ; add rf12, rf10, rf11", &[(0xffff_ffff, 2, 1)]);
    check_table(
        "sub rf12, rf10, rf11",
        &[(0, 1, 0xffff_ffff), (0x8000_0000, 1, 0x7fff_ffff)],
    );
    check_table("nop ; sub rf12, rf10, rf11", &[(3, 5, 0xffff_fffe)]);
    check_table(
        "min rf12, rf10, rf11",
        &[(0x8000_0000, 0, 0x8000_0000), (0xffff_ffff, 1, 0xffff_ffff)],
    );
    check_table(
        "max rf12, rf10, rf11",
        &[(0xffff_ffff, 1, 1), (0x8000_0000, 0x7fff_ffff, 0x7fff_ffff)],
    );
    check_table(
        "umin rf12, rf10, rf11",
        &[(0xffff_ffff, 1, 1), (0x8000_0000, 0x7fff_ffff, 0x7fff_ffff)],
    );
    check_table("umax rf12, rf10, rf11", &[(0xffff_ffff, 1, 0xffff_ffff)]);
}

#[test]
fn shifts_use_the_low_five_bits_of_the_count() {
    // py-videocore7 test_alu.py: shl/shr/asr/ror take `b % 32`.
    check_table(
        "shl rf12, rf10, rf11",
        &[
            (1, 31, 0x8000_0000),
            (3, 32, 3),
            (3, 33, 6),
            (0xffff_ffff, 4, 0xffff_fff0),
        ],
    );
    check_table(
        "shr rf12, rf10, rf11",
        &[
            (0x8000_0000, 31, 1),
            (0x8000_0000, 32, 0x8000_0000),
            (0xf0, 36, 0x0f),
        ],
    );
    check_table(
        "asr rf12, rf10, rf11",
        &[
            (0x8000_0000, 31, 0xffff_ffff),
            (0x8000_0000, 32, 0x8000_0000),
            (0x7fff_ffff, 30, 1),
        ],
    );
    check_table(
        "ror rf12, rf10, rf11",
        &[
            (0x1234_5678, 4, 0x8123_4567),
            (0x1234_5678, 32, 0x1234_5678),
            (1, 33, 0x8000_0000),
        ],
    );
}

#[test]
fn bitwise_and_unary_integer_ops() {
    check_table(
        "and rf12, rf10, rf11",
        &[(0xf0f0_f0f0, 0xff00_ff00, 0xf000_f000)],
    );
    check_table(
        "or rf12, rf10, rf11",
        &[(0xf0f0_f0f0, 0x0f00_0000, 0xfff0_f0f0)],
    );
    check_table(
        "xor rf12, rf10, rf11",
        &[(0xffff_0000, 0xff00_ff00, 0x00ff_ff00)],
    );
    check_table(
        "not rf12, rf10",
        &[(0, 0, 0xffff_ffff), (0x1234_5678, 0, 0xedcb_a987)],
    );
    check_table(
        "neg rf12, rf10",
        &[
            (1, 0, 0xffff_ffff),
            (0x8000_0000, 0, 0x8000_0000),
            (0, 0, 0),
        ],
    );
    check_table(
        "clz rf12, rf10",
        &[
            (0, 0, 32),
            (1, 0, 31),
            (0x8000_0000, 0, 0),
            (0x0001_ffff, 0, 15),
        ],
    );
}

#[test]
fn packed_16_bit_integer_ops_wrap() {
    check_table(
        "vadd rf12, rf10, rf11",
        &[
            (0x7fff_ffff, 0x0001_0001, 0x8000_0000),
            (0x0001_0002, 0x0003_0004, 0x0004_0006),
        ],
    );
    check_table(
        "vsub rf12, rf10, rf11",
        &[
            (0x0000_0000, 0x0001_0001, 0xffff_ffff),
            (0x8000_0005, 0x0001_0007, 0x7fff_fffe),
        ],
    );
}

#[test]
fn multiplies() {
    // umul24 uses the low 24 bits of each operand.
    check_table(
        "nop ; umul24 rf12, rf10, rf11",
        &[(0x0100_0003, 2, 6), (0x00ff_ffff, 0x00ff_ffff, 0xfe00_0001)],
    );
    // smul24 sign-extends 24 bits: 0x00ffffff is -1.
    check_table(
        "nop ; smul24 rf12, rf10, rf11",
        &[
            (0x00ff_ffff, 2, 0xffff_fffe),
            (0x0080_0000, 0x0000_0002, 0xff00_0000),
        ],
    );
    // MULTOP then UMUL24 is Mesa's full 32-bit multiply (vir_UMUL).
    check_table(
        "nop ; multop -, rf10, rf11\n    nop ; umul24 rf12, rf10, rf11",
        &[
            (0x1234_5678, 0x9abc_def1, 0x3661_76f8),
            (0xffff_fff0, 0x1000_0003, 0xffff_ffd0),
        ],
    );
}

#[test]
fn conversions() {
    check_table(
        "itof rf12, rf10",
        &[
            (0x8000_0000, 0, 0xcf00_0000),
            (16_777_217, 0, 0x4b80_0000),
            (0xffff_ffff, 0, f(-1.0)),
        ],
    );
    check_table(
        "utof rf12, rf10",
        &[(0xffff_ffff, 0, 0x4f80_0000), (3, 0, f(3.0))],
    );
    check_table(
        "ftoiz rf12, rf10",
        &[(f(3.7), 0, 3), (f(-3.7), 0, (-3i32) as u32), (f(0.5), 0, 0)],
    );
    check_table(
        "ftoin rf12, rf10",
        &[
            (f(2.5), 0, 2),
            (f(3.5), 0, 4),
            (f(-2.5), 0, (-2i32) as u32),
            (f(2.6), 0, 3),
        ],
    );
    check_table(
        "ftouz rf12, rf10",
        &[(f(-1.5), 0, 0), (f(3.9), 0, 3), (f(3e9), 0, 3_000_000_000)],
    );
    check_table(
        "fround rf12, rf10",
        &[(f(2.5), 0, f(2.0)), (f(-0.5), 0, NEG0), (f(3.5), 0, f(4.0))],
    );
    check_table(
        "ftrunc rf12, rf10",
        &[(f(-2.7), 0, f(-2.0)), (f(2.7), 0, f(2.0))],
    );
    check_table(
        "ffloor rf12, rf10",
        &[(f(-2.5), 0, f(-3.0)), (f(2.5), 0, f(2.0))],
    );
    check_table(
        "fceil rf12, rf10",
        &[(f(2.1), 0, f(3.0)), (f(-0.5), 0, NEG0)],
    );
    // Conversions read an f16 half through the unpack (py-videocore7 test_unary_ops).
    check_table("ftoiz rf12, rf10.h", &[(0xc500_0000, 0, (-5i32) as u32)]);
    check_table("ffloor rf12.l, rf10", &[(f(1.5), 0, 0x3c00)]);
}

#[test]
fn integer_unpacks_on_mov() {
    let x = 0x8001_fffe;
    check_table("mov rf12, rf10.ul", &[(x, 0, 0xfffe)]);
    check_table("mov rf12, rf10.uh", &[(x, 0, 0x8001)]);
    check_table("mov rf12, rf10.il", &[(x, 0, 0xffff_fffe)]);
    check_table("mov rf12, rf10.ih", &[(x, 0, 0xffff_8001)]);
    check_table("nop ; mov rf12, rf10.ih", &[(x, 0, 0xffff_8001)]);
}

#[test]
fn half_float_pair_ops() {
    // a: high 2.0, low 1.0. b: high 0.5, low 3.0.
    let a = 0x4000_3c00;
    let b = 0x3800_4200;
    check_table("vfpack rf12, rf10, rf11", &[(ONE, f(2.0), 0x4000_3c00)]);
    check_table("vfpack rf12, rf10.h, rf11.l", &[(a, a, 0x3c00_4000)]);
    check_table("nop ; vfmul rf12, rf10, rf11", &[(a, b, 0x3c00_4200)]);
    check_table("vfmin rf12, rf10, rf11", &[(a, b, 0x3800_3c00)]);
    check_table("vfmax rf12, rf10, rf11", &[(a, b, 0x4000_4200)]);
    // Source A unpacks: swp swaps the halves, ll/hh replicate one, ff rounds an f32.
    check_table("vfmin rf12, rf10.swp, rf11", &[(a, b, 0x3800_4000)]);
    check_table("vfmax rf12, rf10.ll, rf11", &[(a, b, 0x3c00_4200)]);
    check_table("vfmax rf12, rf10.hh, rf11", &[(a, b, 0x4000_4200)]);
    check_table(
        "nop ; vfmul rf12, rf10.ff, rf11",
        &[(f(2.0), b, 0x3c00_4600)],
    );
}

fn lanes(f: impl Fn(usize) -> u32) -> [u32; 16] {
    std::array::from_fn(f)
}

#[test]
fn cross_lane_ops() {
    let a = lanes(|i| 100 + i as u32);
    // rot: dst[i] = a[(i + b[0]) % 16]  (py-videocore7 `rotate`).
    let got = eval("rot rf12, rf10, rf11", &a, &[3; 16], &[0; 16]);
    assert_eq!(got, lanes(|i| 100 + ((i + 3) % 16) as u32));
    let got = eval("rot rf12, rf10, -1", &a, &[0; 16], &[0; 16]);
    assert_eq!(got, lanes(|i| 100 + ((i + 15) % 16) as u32));
    // rotq: per quad, by that quad's lane-0 value of b.
    let b = lanes(|i| [1, 9, 9, 9, 2, 9, 9, 9, 3, 9, 9, 9, 0, 9, 9, 9][i]);
    let got = eval("rotq rf12, rf10, rf11", &a, &b, &[0; 16]);
    assert_eq!(
        got,
        lanes(|i| {
            let q = i & !3;
            100 + (q + (i - q + b[q] as usize) % 4) as u32
        })
    );
    // shuffle: dst[i] = a[b[i] % 16].
    let b = lanes(|i| (31 - i) as u32);
    let got = eval("shuffle rf12, rf10, rf11", &a, &b, &[0; 16]);
    assert_eq!(got, lanes(|i| 100 + ((31 - i) % 16) as u32));
}

#[test]
fn derivatives() {
    let a = lanes(|i| f((i * i) as f32));
    // fdx: lanes 2k and 2k+1 get a[2k+1] - a[2k].
    let got = eval("fdx rf12, rf10", &a, &[0; 16], &[0; 16]);
    assert_eq!(
        got,
        lanes(|i| {
            let k = i & !1;
            f(((k + 1) * (k + 1) - k * k) as f32)
        })
    );
    // fdy: in each quad, lane j gets a[q + 2 + (j & 1)] - a[q + (j & 1)].
    let got = eval("fdy rf12, rf10", &a, &[0; 16], &[0; 16]);
    assert_eq!(
        got,
        lanes(|i| {
            let (q, j) = (i & !3, i & 1);
            f(((q + 2 + j).pow(2) - (q + j).pow(2)) as f32)
        })
    );
}

#[test]
fn special_function_unit() {
    // Exactly representable results, so the model's rounding does not matter.
    check_table(
        "recip rf12, rf10\n    nop\n    nop",
        &[
            (f(4.0), 0, f(0.25)),
            (f(-0.5), 0, f(-2.0)),
            (0, 0, INF),
            (NEG0, 0, NINF),
        ],
    );
    check_table(
        "rsqrt rf12, rf10\n    nop\n    nop",
        &[(f(4.0), 0, f(0.5)), (f(-1.0), 0, NAN)],
    );
    check_table(
        "rsqrt2 rf12, rf10\n    nop\n    nop",
        &[(f(16.0), 0, f(0.25))],
    );
    check_table(
        "exp rf12, rf10\n    nop\n    nop",
        &[(f(3.0), 0, f(8.0)), (f(-1.0), 0, f(0.5))],
    );
    check_table(
        "log rf12, rf10\n    nop\n    nop",
        &[(f(8.0), 0, f(3.0)), (0, 0, NINF)],
    );
    // sin(pi * x) (py-videocore7: `np.sin(np.pi * x)`).
    check_table(
        "sin rf12, rf10\n    nop\n    nop",
        &[(f(0.5), 0, ONE), (f(-0.5), 0, f(-1.0)), (0, 0, 0)],
    );
}

#[test]
fn sfu_result_read_early_stalls_and_is_correct() {
    // py-videocore7 test_alu.py reads a recip result in the next instruction on hardware.
    let src = op_kernel("    recip rf12, rf10");
    let mut s = Setup::new(
        &src,
        &[buf(0), buf(1), buf(2), buf(3)],
        &[vec![f(8.0); 16], vec![0; 16], vec![0; 16], vec![0; 16]],
    );
    let st = s.run(cfg(1, 1, false)).unwrap();
    assert_eq!(s.words(3), vec![f(0.125); 16]);
    assert_eq!(st.sfu_wait_cycles(), 4, "one instruction of stall");
}

#[test]
fn vote_and_broadcast_ops() {
    let a = lanes(|i| if i % 3 == 0 { 7 } else { 0 });
    let got = eval("ballot rf12, rf10", &a, &[0; 16], &[0; 16]);
    let want: u32 = (0..16).filter(|i| i % 3 == 0).map(|i| 1 << i).sum();
    assert_eq!(got, [want; 16]);
    let a = lanes(|i| 40 + i as u32);
    assert_eq!(eval("bcastf rf12, rf10", &a, &[0; 16], &[0; 16]), [40; 16]);
    assert_eq!(eval("alleq rf12, rf10", &a, &[0; 16], &[0; 16]), [0; 16]);
    assert_eq!(
        eval("alleq rf12, rf10", &[9; 16], &[0; 16], &[0; 16]),
        [1; 16]
    );
    // allfeq compares as floats: -0 equals +0.
    let a = lanes(|i| if i == 5 { NEG0 } else { 0 });
    assert_eq!(eval("allfeq rf12, rf10", &a, &[0; 16], &[0; 16]), [1; 16]);
    assert_eq!(eval("alleq rf12, rf10", &a, &[0; 16], &[0; 16]), [0; 16]);
}

#[test]
fn small_immediates_on_each_input() {
    check_table("add rf12, 15, rf10", &[(1, 0, 16)]);
    check_table("add rf12, rf10, -16", &[(20, 0, 4)]);
    check_table("nop ; fmul rf12, 0.5, rf10", &[(f(6.0), 0, f(3.0))]);
    check_table("nop ; fmul rf12, rf10, 128.0", &[(f(0.5), 0, f(64.0))]);
}

#[test]
fn ops_without_public_semantics_fault() {
    for body in [
        "vfadd rf12, rf10, rf11",
        "vfmov rf12, rf10",
        "nop ; v8dot rf12, rf10, rf11",
        "ftoc rf12, rf10",
    ] {
        let src = op_kernel(body);
        let f = fault1(
            &src,
            &[buf(0), buf(1), buf(2), buf(3)],
            &[vec![0; 16], vec![0; 16], vec![0; 16], vec![0; 16]],
        );
        expect_kind(
            &f,
            |k| matches!(k, qpu_sim::FaultKind::SemanticsUnknown(_)),
            "semantics unknown",
        );
    }
}

#[test]
fn shifts_by_a_small_immediate_match_shifts_by_a_register() {
    // A small-immediate count is the same in every lane, and the emulator then shifts all
    // lanes by one count; it must give what the per-lane rule (`b % 32`) gives, for every
    // integer small immediate (-16..=15; the negative ones are counts 16..=31).
    let a: [u32; 16] =
        std::array::from_fn(|i| 0x8765_4321u32.rotate_left(5 * i as u32) ^ (i as u32));
    type Shift = fn(u32, u32) -> u32;
    let ops: [(&str, Shift); 3] = [
        ("shl", |x, c| x << (c % 32)),
        ("shr", |x, c| x >> (c % 32)),
        ("asr", |x, c| ((x as i32) >> (c % 32)) as u32),
    ];
    for imm in -16i32..=15 {
        for (op, f) in ops {
            let got = eval(&format!("{op} rf12, rf10, {imm}"), &a, &[0; 16], &[0; 16]);
            for i in 0..16 {
                assert_eq!(got[i], f(a[i], imm as u32), "{op} by {imm}, lane {i}");
            }
        }
    }
}

#[test]
fn shifts_by_a_register_whose_lanes_agree_or_not() {
    // The per-lane rule (`b % 32`) with counts from a register that are equal in every lane
    // (a uniform, as the kernels shift by), equal only in their low 5 bits (3 and 35), and
    // equal in all lanes but one, for each lane: a shift that takes one count for all lanes
    // when they agree must see every lane.
    let a: [u32; 16] =
        std::array::from_fn(|i| 0x9abc_def0u32.rotate_left(7 * i as u32) ^ (i as u32) << 28);
    type Shift = fn(u32, u32) -> u32;
    let ops: [(&str, Shift); 3] = [
        ("shl", |x, c| x << (c % 32)),
        ("shr", |x, c| x >> (c % 32)),
        ("asr", |x, c| ((x as i32) >> (c % 32)) as u32),
    ];
    let mut counts: Vec<[u32; 16]> = vec![
        [5; 16],
        std::array::from_fn(|i| if i % 2 == 0 { 3 } else { 35 }),
    ];
    for odd in 0..16 {
        counts.push(std::array::from_fn(|i| if i == odd { 6 } else { 17 }));
    }
    for b in &counts {
        for (op, f) in ops {
            let got = eval(&format!("{op} rf12, rf10, rf11"), &a, b, &[0; 16]);
            for i in 0..16 {
                assert_eq!(got[i], f(a[i], b[i]), "{op} by {b:?}, lane {i}");
            }
        }
    }
}

#[test]
fn rotate_by_every_count() {
    // rot: dst[i] = a[(i + b[0]) % 16] for every count a register can hold in its low bits
    // (lane 0 decides; the other lanes of b hold something else).
    let a: [u32; 16] = std::array::from_fn(|i| 0x100 * i as u32 + 0x11);
    for n in 0u32..40 {
        let b: [u32; 16] = std::array::from_fn(|i| if i == 0 { n } else { 7 });
        let got = eval("rot rf12, rf10, rf11", &a, &b, &[0; 16]);
        let want: [u32; 16] = std::array::from_fn(|i| a[(i + n as usize) % 16]);
        assert_eq!(got, want, "rot by {n}");
    }
}
