//! The add and mul ALUs: every op, lane by lane.
//!
//! Each op reads its inputs (already fetched, before unpacks) and returns its 16 results plus
//! what the flags need. Sources for each op's semantics are in `docs/qpu-sim.md` ("Ops").

use qpu_asm::isa::{AddOp, MulOp, Pack, Unpack};

use crate::fault::FaultKind;
use crate::float::{
    F16Unpack, F32Pack, F32Unpack, f2h, f16x2, fin, fmax, fmin, fout, round_even, to_i32, to_u32,
    unpack_f16, unpack_f32,
};

pub type Lanes = [u32; 16];

/// How the flags of an op's result are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagKind {
    /// Z: the value is 0; N: bit 31 set.
    Int,
    /// Z: ±0; N: less than zero (false for -0 and NaN).
    Float,
}

/// What an op produced.
pub struct OpResult {
    pub val: Lanes,
    pub kind: FlagKind,
    /// The carry flag per lane, for the ops whose carry a source establishes.
    pub carry: Option<u16>,
    /// FCMP sets its flags from the comparison, not from its value: (Z, N, C) masks.
    pub cmp: Option<(u16, u16, u16)>,
    /// The f32 output pack to apply when writing (float ops only).
    pub pack: F32Pack,
}

impl OpResult {
    fn int(val: Lanes) -> OpResult {
        OpResult {
            val,
            kind: FlagKind::Int,
            carry: None,
            cmp: None,
            pack: F32Pack::None,
        }
    }
    fn float(val: Lanes, pack: Pack) -> OpResult {
        OpResult {
            val,
            kind: FlagKind::Float,
            carry: None,
            cmp: None,
            pack: f32_pack(pack),
        }
    }
}

/// Per-lane context the special ops read.
pub struct LaneCtx {
    pub tidx: u32,
    pub flags_a: u16,
    pub flags_b: u16,
    pub link: u32,
    /// Lanes the op's condition selects (all when it has none).
    pub cond_mask: u16,
}

pub fn f32_unpack(u: Unpack) -> Result<F32Unpack, FaultKind> {
    Ok(match u {
        Unpack::None => F32Unpack::None,
        Unpack::Abs => F32Unpack::Abs,
        Unpack::L => F32Unpack::L,
        Unpack::H => F32Unpack::H,
        Unpack::Sat => F32Unpack::Sat,
        Unpack::Nsat => F32Unpack::Nsat,
        Unpack::Max0 => F32Unpack::Max0,
        other => {
            return Err(FaultKind::InvalidInstruction {
                word: 0,
                reason: format!("unpack {other:?} on an f32 input"),
            });
        }
    })
}

fn f16_unpack(u: Unpack) -> F16Unpack {
    match u {
        Unpack::Ff => F16Unpack::Ff,
        Unpack::Ll => F16Unpack::Ll,
        Unpack::Hh => F16Unpack::Hh,
        Unpack::Swp => F16Unpack::Swp,
        _ => F16Unpack::None,
    }
}

fn f32_pack(p: Pack) -> F32Pack {
    match p {
        Pack::None => F32Pack::None,
        Pack::L => F32Pack::L,
        Pack::H => F32Pack::H,
    }
}

#[inline(always)]
fn map1(a: &Lanes, f: impl Fn(u32) -> u32) -> Lanes {
    let mut r = [0u32; 16];
    for i in 0..16 {
        r[i] = f(a[i]);
    }
    r
}

#[inline(always)]
fn map2(a: &Lanes, b: &Lanes, f: impl Fn(u32, u32) -> u32) -> Lanes {
    let mut r = [0u32; 16];
    for i in 0..16 {
        r[i] = f(a[i], b[i]);
    }
    r
}

#[inline(always)]
fn mask_of(f: impl Fn(usize) -> bool) -> u16 {
    let mut m = 0u16;
    for i in 0..16 {
        if f(i) {
            m |= 1 << i;
        }
    }
    m
}

fn f32_binary(
    a: &Lanes,
    b: &Lanes,
    ua: Unpack,
    ub: Unpack,
    pack: Pack,
    op: impl Fn(f32, f32) -> f32,
) -> Result<OpResult, FaultKind> {
    let (ua, ub) = (f32_unpack(ua)?, f32_unpack(ub)?);
    let val = map2(a, b, |x, y| {
        fout(op(fin(unpack_f32(ua, x)), fin(unpack_f32(ub, y))))
    });
    Ok(OpResult::float(val, pack))
}

fn f32_unary(
    a: &Lanes,
    ua: Unpack,
    pack: Pack,
    op: impl Fn(f32) -> f32,
) -> Result<OpResult, FaultKind> {
    let ua = f32_unpack(ua)?;
    Ok(OpResult::float(
        map1(a, |x| fout(op(fin(unpack_f32(ua, x))))),
        pack,
    ))
}

fn f32_to_int(a: &Lanes, ua: Unpack, op: impl Fn(f32) -> u32) -> Result<OpResult, FaultKind> {
    let ua = f32_unpack(ua)?;
    Ok(OpResult::int(map1(a, |x| op(fin(unpack_f32(ua, x))))))
}

fn int_unpack(u: Unpack, x: u32) -> u32 {
    match u {
        Unpack::Ul => x & 0xffff,
        Unpack::Uh => x >> 16,
        Unpack::Il => x as u16 as i16 as i32 as u32,
        Unpack::Ih => (x >> 16) as u16 as i16 as i32 as u32,
        _ => x,
    }
}

fn unknown(op: &str) -> FaultKind {
    FaultKind::SemanticsUnknown(format!("`{op}`"))
}

fn sub_carry(a: &Lanes, b: &Lanes) -> u16 {
    // SUB's carry is the unsigned borrow: py-videocore7 test_condition_codes.py
    // (test_cond_push_a, pushc after `sub eidx, 10` sets lanes 0..9) and Mesa's ult32/uge32
    // (nir_to_vir.c ntq_emit_comparison: SUB + PUSHC).
    mask_of(|i| a[i] < b[i])
}

/// The SFU functions (7.1 reaches the SFU through add ops). The hardware computes
/// approximations whose exact bits no public source gives; py-videocore7 checks them to 1%.
/// This model returns the correctly rounded value (docs/qpu-sim.md).
fn sfu(op: AddOp, x: u32) -> u32 {
    let v = f64::from(fin(x));
    let r = match op {
        AddOp::Recip => 1.0 / v,
        AddOp::Rsqrt | AddOp::Rsqrt2 => 1.0 / v.sqrt(),
        AddOp::Exp => v.exp2(),
        AddOp::Log => v.log2(),
        AddOp::Sin => (std::f64::consts::PI * v).sin(),
        _ => unreachable!("sfu() called with a non-SFU op"),
    };
    fout(r as f32)
}

pub fn is_sfu(op: AddOp) -> bool {
    matches!(
        op,
        AddOp::Recip | AddOp::Rsqrt | AddOp::Rsqrt2 | AddOp::Exp | AddOp::Log | AddOp::Sin
    )
}

/// An op's 16 lanes computed from its two (raw) inputs. Each is the one definition of its op:
/// `eval_add`/`eval_mul` call these functions, and the lowered forms reach them through
/// [`LaneOp`].
pub(crate) type LaneFn = fn(&Lanes, &Lanes, &mut Lanes);

/// A lane function's result as a value.
#[inline(always)]
fn val(f: LaneFn, a: &Lanes, b: &Lanes) -> Lanes {
    let mut r = [0u32; 16];
    f(a, b, &mut r);
    r
}

macro_rules! lane_ops {
    ($($name:ident = |$x:ident, $y:ident| $e:expr;)*) => {
        $(
            #[inline(always)]
            #[allow(unused_variables)]
            pub(crate) fn $name(a: &Lanes, b: &Lanes, r: &mut Lanes) {
                for i in 0..16 {
                    let ($x, $y) = (a[i], b[i]);
                    r[i] = $e;
                }
            }
        )*
    };
}

lane_ops! {
    l_add = |x, y| x.wrapping_add(y);
    l_sub = |x, y| x.wrapping_sub(y);
    l_min = |x, y| (x as i32).min(y as i32) as u32;
    l_max = |x, y| (x as i32).max(y as i32) as u32;
    l_umin = |x, y| x.min(y);
    l_umax = |x, y| x.max(y);
    // Shift counts use the low 5 bits (py-videocore7 test_alu.py: `b % 32`).
    l_shl = |x, y| x << (y & 31);
    l_shr = |x, y| x >> (y & 31);
    l_asr = |x, y| ((x as i32) >> (y & 31)) as u32;
    l_ror = |x, y| x.rotate_right(y & 31);
    l_and = |x, y| x & y;
    l_or = |x, y| x | y;
    l_xor = |x, y| x ^ y;
    // Packed 16-bit integers, wrapping (py-videocore7 test_alu.py checks full-range int16
    // inputs against numpy's wrapping add/sub).
    l_vadd = |x, y| u32::from((x as u16).wrapping_add(y as u16))
        | (u32::from(((x >> 16) as u16).wrapping_add((y >> 16) as u16)) << 16);
    l_vsub = |x, y| u32::from((x as u16).wrapping_sub(y as u16))
        | (u32::from(((x >> 16) as u16).wrapping_sub((y >> 16) as u16)) << 16);
    l_not = |x, y| !x;
    l_neg = |x, y| x.wrapping_neg();
    l_clz = |x, y| x.leading_zeros();
    l_mov = |x, y| x;
    l_itof = |x, y| fout(x as i32 as f32);
    l_utof = |x, y| fout(x as f32);
    l_smul24 = |x, y| (((x << 8) as i32) >> 8).wrapping_mul(((y << 8) as i32) >> 8) as u32;
    // The f32 ops without unpacks or packs: `f32_binary`/`f32_unary` with
    // `F32Unpack::None`, whose unpack is the identity.
    l_fadd = |x, y| fout(fin(x) + fin(y));
    l_fsub = |x, y| fout(fin(x) - fin(y));
    l_fmul = |x, y| fout(fin(x) * fin(y));
    l_fmin = |x, y| fout(fmin(fin(x), fin(y)));
    l_fmax = |x, y| fout(fmax(fin(x), fin(y)));
    l_fmov = |x, y| fout(fin(x));
}

// Shifts by a count that is the same in every lane (a small immediate): the same results as
// `l_shl`/`l_shr`/`l_asr`, in a form the compiler vectorises (SSE2 shifts all lanes by one
// count; a count per lane has no SSE2 instruction).
#[inline(always)]
pub(crate) fn l_shl_uniform(a: &Lanes, b: &Lanes, r: &mut Lanes) {
    let c = b[0] & 31;
    for (r, &x) in r.iter_mut().zip(a) {
        *r = x << c;
    }
}

#[inline(always)]
pub(crate) fn l_shr_uniform(a: &Lanes, b: &Lanes, r: &mut Lanes) {
    let c = b[0] & 31;
    for (r, &x) in r.iter_mut().zip(a) {
        *r = x >> c;
    }
}

#[inline(always)]
pub(crate) fn l_asr_uniform(a: &Lanes, b: &Lanes, r: &mut Lanes) {
    let c = b[0] & 31;
    for (r, &x) in r.iter_mut().zip(a) {
        *r = ((x as i32) >> c) as u32;
    }
}

// Moves with an integer unpack (the kernels sign-extend 16-bit coefficients with `.il`).
macro_rules! mov_unpack_ops {
    ($($name:ident = $u:ident;)*) => {
        $(
            #[inline(always)]
            pub(crate) fn $name(a: &Lanes, _b: &Lanes, r: &mut Lanes) {
                for (r, &x) in r.iter_mut().zip(a) {
                    *r = int_unpack(Unpack::$u, x);
                }
            }
        )*
    };
}

mov_unpack_ops! {
    l_mov_il = Il;
    l_mov_ih = Ih;
    l_mov_ul = Ul;
    l_mov_uh = Uh;
}

/// `mov` with input unpack `ua`: the unpacks `int_unpack` knows, the identity for the rest.
fn mov_lane_op(ua: Unpack) -> LaneOp {
    match ua {
        Unpack::Il => LaneOp::MovIl,
        Unpack::Ih => LaneOp::MovIh,
        Unpack::Ul => LaneOp::MovUl,
        Unpack::Uh => LaneOp::MovUh,
        _ => LaneOp::Mov,
    }
}

macro_rules! lane_op_table {
    ($($v:ident => $f:ident,)*) => {
        /// A lane function as a value, for the lowered forms (`crate::lower`): `apply` runs
        /// it inlined, so its result goes straight to its destination.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum LaneOp {
            $($v,)*
        }

        impl LaneOp {
            /// The op's 16 lanes from its two (raw) inputs.
            #[inline(always)]
            pub(crate) fn apply(self, a: &Lanes, b: &Lanes) -> Lanes {
                let mut r = [0u32; 16];
                match self {
                    $(LaneOp::$v => $f(a, b, &mut r),)*
                }
                r
            }

            /// The op on registers `a` and `b` of a register file, its result written to
            /// register `d`. The store is made in each op's own arm, so the result goes from
            /// the op's vector registers straight to its destination.
            #[inline(always)]
            pub(crate) fn apply_rf<const N: usize>(
                self,
                rf: &mut [Lanes; N],
                a: usize,
                b: usize,
                d: usize,
            ) {
                match self {
                    $(LaneOp::$v => {
                        let mut r = [0u32; 16];
                        $f(&rf[a], &rf[b], &mut r);
                        rf[d] = r;
                    })*
                }
            }
        }
    };
}

lane_op_table! {
    Add => l_add,
    Sub => l_sub,
    Min => l_min,
    Max => l_max,
    Umin => l_umin,
    Umax => l_umax,
    Shl => l_shl,
    Shr => l_shr,
    Asr => l_asr,
    ShlUniform => l_shl_uniform,
    ShrUniform => l_shr_uniform,
    AsrUniform => l_asr_uniform,
    Ror => l_ror,
    And => l_and,
    Or => l_or,
    Xor => l_xor,
    Vadd => l_vadd,
    Vsub => l_vsub,
    Not => l_not,
    Neg => l_neg,
    Clz => l_clz,
    Mov => l_mov,
    MovIl => l_mov_il,
    MovIh => l_mov_ih,
    MovUl => l_mov_ul,
    MovUh => l_mov_uh,
    Rot => l_rot,
    Rotq => l_rotq,
    Shuffle => l_shuffle,
    Itof => l_itof,
    Utof => l_utof,
    Smul24 => l_smul24,
    Fadd => l_fadd,
    Fsub => l_fsub,
    Fmul => l_fmul,
    Fmin => l_fmin,
    Fmax => l_fmax,
    Fmov => l_fmov,
}

/// `rotate`: dst[i] = a[(i + b[0]) % 16].
#[inline(always)]
pub(crate) fn l_rot(a: &Lanes, b: &Lanes, r: &mut Lanes) {
    // The lanes twice over, read from lane n: 16 lanes in one copy instead of one index each.
    let n = b[0] as usize & 15;
    let mut twice = [0u32; 32];
    twice[..16].copy_from_slice(a);
    twice[16..].copy_from_slice(a);
    r.copy_from_slice(&twice[n..n + 16]);
}

/// `shuffle`: dst[i] = a[b[i] % 16].
#[inline(always)]
pub(crate) fn l_shuffle(a: &Lanes, b: &Lanes, r: &mut Lanes) {
    for (r, &y) in r.iter_mut().zip(b) {
        *r = a[y as usize & 15];
    }
}

/// `quad_rotate` (py-videocore7 test_alu.py): lane j of quad q reads lane (j + b[4q]) % 4
/// of the same quad.
#[inline(always)]
pub(crate) fn l_rotq(a: &Lanes, b: &Lanes, r: &mut Lanes) {
    for (i, r) in r.iter_mut().enumerate() {
        let q = i & !3;
        *r = a[q + ((i + (b[q] as usize & 3)) & 3)];
    }
}

/// The direct form of an add op, when it has one: ops that read nothing but their inputs,
/// have no side effects, and whose unpacks and pack are the identity (the integer ops ignore
/// the unpack fields, except `mov`). `b_uniform` says input B is the same in every lane.
pub(crate) fn add_lane_op(
    op: AddOp,
    ua: Unpack,
    ub: Unpack,
    pack: Pack,
    b_uniform: bool,
) -> Option<(LaneOp, FlagKind)> {
    use AddOp::*;
    let plain = ua == Unpack::None && ub == Unpack::None && pack == Pack::None;
    let int = |f: LaneOp| Some((f, FlagKind::Int));
    let float = |f: LaneOp| {
        if plain {
            Some((f, FlagKind::Float))
        } else {
            None
        }
    };
    match op {
        Add => int(LaneOp::Add),
        Sub => int(LaneOp::Sub),
        Min => int(LaneOp::Min),
        Max => int(LaneOp::Max),
        Umin => int(LaneOp::Umin),
        Umax => int(LaneOp::Umax),
        Shl if b_uniform => int(LaneOp::ShlUniform),
        Shr if b_uniform => int(LaneOp::ShrUniform),
        Asr if b_uniform => int(LaneOp::AsrUniform),
        Shl => int(LaneOp::Shl),
        Shr => int(LaneOp::Shr),
        Asr => int(LaneOp::Asr),
        Ror => int(LaneOp::Ror),
        And => int(LaneOp::And),
        Or => int(LaneOp::Or),
        Xor => int(LaneOp::Xor),
        Vadd => int(LaneOp::Vadd),
        Vsub => int(LaneOp::Vsub),
        Not => int(LaneOp::Not),
        Neg => int(LaneOp::Neg),
        Clz => int(LaneOp::Clz),
        Mov => int(mov_lane_op(ua)),
        Rot => int(LaneOp::Rot),
        Rotq => int(LaneOp::Rotq),
        Shuffle => int(LaneOp::Shuffle),
        Itof if pack == Pack::None => Some((LaneOp::Itof, FlagKind::Float)),
        Utof if pack == Pack::None => Some((LaneOp::Utof, FlagKind::Float)),
        Fadd | Faddnf => float(LaneOp::Fadd),
        Fsub => float(LaneOp::Fsub),
        Fmin => float(LaneOp::Fmin),
        Fmax => float(LaneOp::Fmax),
        Fmov => float(LaneOp::Fmov),
        _ => None,
    }
}

/// The direct form of a mul op, as [`add_lane_op`].
pub(crate) fn mul_lane_op(
    op: MulOp,
    ua: Unpack,
    ub: Unpack,
    pack: Pack,
) -> Option<(LaneOp, FlagKind)> {
    use MulOp::*;
    let plain = ua == Unpack::None && ub == Unpack::None && pack == Pack::None;
    match op {
        Add => Some((LaneOp::Add, FlagKind::Int)),
        Sub => Some((LaneOp::Sub, FlagKind::Int)),
        Smul24 => Some((LaneOp::Smul24, FlagKind::Int)),
        Mov => Some((mov_lane_op(ua), FlagKind::Int)),
        Fmul if plain => Some((LaneOp::Fmul, FlagKind::Float)),
        Fmov if plain => Some((LaneOp::Fmov, FlagKind::Float)),
        _ => None,
    }
}

/// Evaluates an add-ALU op. `a`/`b` are the raw inputs (unused ones are zero).
#[allow(clippy::too_many_arguments)]
// Out of line: inlined into the lowered step, it only bloats that hot frame.
#[inline(never)]
pub fn eval_add(
    op: AddOp,
    a: &Lanes,
    b: &Lanes,
    ua: Unpack,
    ub: Unpack,
    pack: Pack,
    cx: &LaneCtx,
) -> Result<OpResult, FaultKind> {
    use AddOp::*;
    Ok(match op {
        Fadd | Faddnf => f32_binary(a, b, ua, ub, pack, |x, y| x + y)?,
        Fsub => f32_binary(a, b, ua, ub, pack, |x, y| x - y)?,
        Fmin => f32_binary(a, b, ua, ub, pack, fmin)?,
        Fmax => f32_binary(a, b, ua, ub, pack, fmax)?,
        Fcmp => {
            let (fa, fb) = (f32_unpack(ua)?, f32_unpack(ub)?);
            let mut val = [0u32; 16];
            let (mut z, mut n, mut c) = (0u16, 0u16, 0u16);
            for i in 0..16 {
                let x = fin(unpack_f32(fa, a[i]));
                let y = fin(unpack_f32(fb, b[i]));
                // py-videocore7 test_alu.py checks the written value as `a - b`; Mesa's
                // ntq_emit_comparison reads Z as a == b (feq), N as a < b (flt) and C as
                // a <= b (fge is FCMP(b, a) with PUSHC). Unordered compares set none.
                val[i] = fout(x - y);
                if x == y {
                    z |= 1 << i;
                }
                if x < y {
                    n |= 1 << i;
                }
                if x <= y {
                    c |= 1 << i;
                }
            }
            let mut r = OpResult::float(val, Pack::None);
            r.cmp = Some((z, n, c));
            r
        }
        Vfpack => {
            let (fa, fb) = (f32_unpack(ua)?, f32_unpack(ub)?);
            OpResult::int(map2(a, b, |x, y| {
                u32::from(f2h(fin(unpack_f32(fa, x))))
                    | (u32::from(f2h(fin(unpack_f32(fb, y)))) << 16)
            }))
        }
        Add => OpResult::int(val(l_add, a, b)),
        Sub => {
            let mut r = OpResult::int(val(l_sub, a, b));
            r.carry = Some(sub_carry(a, b));
            r
        }
        Min => {
            let mut r = OpResult::int(val(l_min, a, b));
            // Mesa ilt32/ige32 use MIN(b, a) with PUSHC: C is "first operand greater".
            r.carry = Some(mask_of(|i| (a[i] as i32) > (b[i] as i32)));
            r
        }
        Max => OpResult::int(val(l_max, a, b)),
        Umin => OpResult::int(val(l_umin, a, b)),
        Umax => OpResult::int(val(l_umax, a, b)),
        // Shift counts use the low 5 bits (py-videocore7 test_alu.py: `b % 32`).
        Shl => OpResult::int(val(l_shl, a, b)),
        Shr => OpResult::int(val(l_shr, a, b)),
        Asr => OpResult::int(val(l_asr, a, b)),
        Ror => OpResult::int(val(l_ror, a, b)),
        Vfmin => {
            let fu = f16_unpack(ua);
            OpResult::int(map2(a, b, |x, y| f16x2(unpack_f16(fu, x), y, fmin)))
        }
        Vfmax => {
            let fu = f16_unpack(ua);
            OpResult::int(map2(a, b, |x, y| f16x2(unpack_f16(fu, x), y, fmax)))
        }
        And => OpResult::int(val(l_and, a, b)),
        Or => OpResult::int(val(l_or, a, b)),
        Xor => OpResult::int(val(l_xor, a, b)),
        // Packed 16-bit integers, wrapping (py-videocore7 test_alu.py checks full-range int16
        // inputs against numpy's wrapping add/sub).
        Vadd => OpResult::int(val(l_vadd, a, b)),
        Vsub => OpResult::int(val(l_vsub, a, b)),
        Not => OpResult::int(val(l_not, a, b)),
        Neg => OpResult::int(val(l_neg, a, b)),
        Clz => OpResult::int(val(l_clz, a, b)),
        Tidx => OpResult::int([cx.tidx; 16]),
        Eidx => OpResult::int(std::array::from_fn(|i| i as u32)),
        Lr => OpResult::int([cx.link; 16]),
        Vfla => OpResult::int(std::array::from_fn(|i| u32::from(cx.flags_a >> i & 1))),
        Vflna => OpResult::int(std::array::from_fn(|i| u32::from(!cx.flags_a >> i & 1))),
        Vflb => OpResult::int(std::array::from_fn(|i| u32::from(cx.flags_b >> i & 1))),
        Vflnb => OpResult::int(std::array::from_fn(|i| u32::from(!cx.flags_b >> i & 1))),
        // Mesa's `elect` (nir_to_vir.c) turns FLAFIRST into a boolean by comparing with 1:
        // 1 in the first lane whose A flag is set, 0 elsewhere.
        Flafirst => {
            let first = cx.flags_a.trailing_zeros();
            OpResult::int(std::array::from_fn(|i| u32::from(i as u32 == first)))
        }
        Flnafirst => {
            let first = (!cx.flags_a).trailing_zeros();
            OpResult::int(std::array::from_fn(|i| u32::from(i as u32 == first)))
        }
        Recip | Rsqrt | Rsqrt2 | Exp | Log | Sin => {
            OpResult::float(map1(a, |x| sfu(op, x)), Pack::None)
        }
        // py-videocore7 test_alu.py: each lane's `x != 0` as bit `lane`, in every lane.
        // Lanes outside the condition do not vote (Mesa uses BALLOT under IFA in divergent
        // control flow).
        Ballot => {
            let m = mask_of(|i| a[i] != 0) & cx.cond_mask;
            OpResult::int([u32::from(m); 16])
        }
        // py-videocore7: lane 0 broadcast. Under a condition, the first selected lane (Mesa's
        // read_first_invocation runs BCASTF under IFA).
        Bcastf => {
            let first = if cx.cond_mask == 0 {
                0
            } else {
                cx.cond_mask.trailing_zeros() as usize
            };
            OpResult::int([a[first]; 16])
        }
        Alleq => {
            let first = if cx.cond_mask == 0 {
                0
            } else {
                cx.cond_mask.trailing_zeros() as usize
            };
            let all = (0..16).all(|i| cx.cond_mask >> i & 1 == 0 || a[i] == a[first]);
            OpResult::int([u32::from(all); 16])
        }
        Allfeq => {
            let first = if cx.cond_mask == 0 {
                0
            } else {
                cx.cond_mask.trailing_zeros() as usize
            };
            let all = (0..16).all(|i| cx.cond_mask >> i & 1 == 0 || fin(a[i]) == fin(a[first]));
            OpResult::int([u32::from(all); 16])
        }
        Fround => f32_unary(a, ua, pack, round_even)?,
        Ftrunc => f32_unary(a, ua, pack, f32::trunc)?,
        Ffloor => f32_unary(a, ua, pack, f32::floor)?,
        Fceil => f32_unary(a, ua, pack, f32::ceil)?,
        Ftoin => f32_to_int(a, ua, |v| to_i32(round_even(v)))?,
        Ftoiz => f32_to_int(a, ua, to_i32)?,
        Ftouz => f32_to_int(a, ua, to_u32)?,
        Fdx => {
            // py-videocore7 test_alu.py: each lane pair (2k, 2k+1) gets x[2k+1] - x[2k].
            let u = f32_unpack(ua)?;
            let x: Lanes = map1(a, |v| unpack_f32(u, v));
            let val = std::array::from_fn(|i| {
                let k = i & !1;
                fout(fin(x[k + 1]) - fin(x[k]))
            });
            OpResult::float(val, pack)
        }
        Fdy => {
            // py-videocore7 test_alu.py: within each quad, lane j gets x[j|2] - x[j&1].
            let u = f32_unpack(ua)?;
            let x: Lanes = map1(a, |v| unpack_f32(u, v));
            let val = std::array::from_fn(|i| {
                let q = i & !3;
                let j = i & 1;
                fout(fin(x[q + 2 + j]) - fin(x[q + j]))
            });
            OpResult::float(val, pack)
        }
        Itof => OpResult::float(val(l_itof, a, b), pack),
        Utof => OpResult::float(val(l_utof, a, b), pack),
        Fmov => f32_unary(a, ua, pack, |x| x)?,
        Mov => OpResult::int(mov_lane_op(ua).apply(a, b)),
        Rotq => OpResult::int(val(l_rotq, a, b)),
        Rot => OpResult::int(val(l_rot, a, b)),
        Shuffle => OpResult::int(val(l_shuffle, a, b)),
        Nop | Barrierid | Tmuwt => OpResult::int([0; 16]),
        Xcd | Ycd | Fxcd | Fycd | Iid | Sampid | Msf | Setmsf | Revf | Setrevf => {
            return Err(FaultKind::Unsupported(format!(
                "`{}` reads fragment or vertex state, which a compute dispatch does not have",
                op.name()
            )));
        }
        LdvpmvIn | LdvpmdIn | Ldvpmp | LdvpmgIn | LdvpmvOut | LdvpmdOut | LdvpmgOut | Stvpmv
        | Stvpmd | Stvpmp | Vpmwt => {
            return Err(FaultKind::Unsupported(format!(
                "`{}`: the VPM is not part of the compute path this emulator models",
                op.name()
            )));
        }
        Flapush | Flbpush | Flpop | Ftoc | Vpack | V8pack | V10pack | V11fpack | Vfadd | Vfsub
        | Vfcmp | Vfmov | Vfabs | Vfneg | Vfnab | SetnnmodeUu | SetnnmodeSu | SetnnmodeUs
        | SetnnmodeSs => return Err(unknown(op.name())),
    })
}

/// The MULTOP/UMUL24 pair: Mesa's `vir_UMUL` (v3d_compiler.h) emits MULTOP then UMUL24 with
/// the same operands to get the low 32 bits of a full 32x32 product. We keep, per lane, what
/// UMUL24 must add to its 24x24 product for that to hold.
pub fn multop_rtop(a: &Lanes, b: &Lanes) -> Lanes {
    map2(a, b, |x, y| {
        x.wrapping_mul(y)
            .wrapping_sub((x & 0xff_ffff).wrapping_mul(y & 0xff_ffff))
    })
}

/// Evaluates a mul-ALU op. `rtop` is the MULTOP state (consumed by UMUL24).
#[inline(never)]
pub fn eval_mul(
    op: MulOp,
    a: &Lanes,
    b: &Lanes,
    ua: Unpack,
    ub: Unpack,
    pack: Pack,
    rtop: Option<&Lanes>,
) -> Result<OpResult, FaultKind> {
    use MulOp::*;
    Ok(match op {
        Add => OpResult::int(val(l_add, a, b)),
        Sub => {
            let mut r = OpResult::int(val(l_sub, a, b));
            r.carry = Some(sub_carry(a, b));
            r
        }
        Umul24 => {
            let mut v = map2(a, b, |x, y| (x & 0xff_ffff).wrapping_mul(y & 0xff_ffff));
            if let Some(t) = rtop {
                for i in 0..16 {
                    v[i] = v[i].wrapping_add(t[i]);
                }
            }
            OpResult::int(v)
        }
        Smul24 => OpResult::int(val(l_smul24, a, b)),
        Vfmul => {
            let fu = f16_unpack(ua);
            OpResult::int(map2(a, b, |x, y| f16x2(unpack_f16(fu, x), y, |p, q| p * q)))
        }
        Fmul => f32_binary(a, b, ua, ub, pack, |x, y| x * y)?,
        Fmov => f32_unary(a, ua, pack, |x| x)?,
        Mov => OpResult::int(mov_lane_op(ua).apply(a, b)),
        Nop | Multop => OpResult::int([0; 16]),
        V8dot | Ftounorm16 | Ftosnorm16 | Vftounorm8 | Vftosnorm8 | Funpackunormlo
        | Funpackunormhi | Funpacksnormlo | Funpacksnormhi | Vftounorm10lo | Vftounorm10hi => {
            return Err(unknown(op.name()));
        }
    })
}
