//! Scalar number formats of the QPU: f32 with denormal flushing, f16 halves, input unpacks and
//! output packs.
//!
//! The rules, and where each comes from, are listed in `docs/qpu-sim.md` ("Arithmetic"). In
//! short: inputs and outputs of float ops are flushed to a signed zero when denormal, rounding is
//! IEEE round-to-nearest-even, and a NaN result is the canonical quiet NaN.

use half::f16;

/// The canonical quiet NaN a float op returns for a NaN result.
pub const QNAN: u32 = 0x7fc0_0000;
/// The canonical f16 quiet NaN.
pub const QNAN16: u16 = 0x7e00;

/// Flushes a denormal f32 bit pattern to a zero of the same sign.
#[inline(always)]
pub fn ftz(x: u32) -> u32 {
    if x & 0x7f80_0000 == 0 {
        x & 0x8000_0000
    } else {
        x
    }
}

/// An f32 input as the float ALU sees it (denormals read as zero).
#[inline(always)]
pub fn fin(x: u32) -> f32 {
    f32::from_bits(ftz(x))
}

/// An f32 result as the float ALU writes it: denormals flushed, NaN canonical.
#[inline(always)]
pub fn fout(v: f32) -> u32 {
    if v.is_nan() { QNAN } else { ftz(v.to_bits()) }
}

/// An f16 half converted to f32 (exact; f16 denormals become normal f32 values).
#[inline(always)]
pub fn h2f(h: u16) -> f32 {
    f16::from_bits(h).to_f32()
}

/// An f32 rounded to f16 (round-to-nearest-even, overflow to infinity, NaN canonical).
#[inline(always)]
pub fn f2h(v: f32) -> u16 {
    if v.is_nan() {
        QNAN16
    } else {
        f16::from_f32(v).to_bits()
    }
}

/// f32 input unpacks (`qpu_pack.c` f32 unpack codes; sat/nsat/max0 are 7.1 only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum F32Unpack {
    None,
    Abs,
    L,
    H,
    Sat,
    Nsat,
    Max0,
}

/// Applies an f32 input unpack to a raw register value, giving f32 bits (not yet flushed).
#[inline(always)]
pub fn unpack_f32(u: F32Unpack, x: u32) -> u32 {
    match u {
        F32Unpack::None => x,
        F32Unpack::Abs => x & 0x7fff_ffff,
        F32Unpack::L => h2f(x as u16).to_bits(),
        F32Unpack::H => h2f((x >> 16) as u16).to_bits(),
        // The clamps read the input as a float, so a denormal is a zero first. A NaN clamps to
        // the lower bound (see docs/qpu-sim.md: no source documents NaN here).
        F32Unpack::Sat => clamp(fin(x), 0.0, 1.0),
        F32Unpack::Nsat => clamp(fin(x), -1.0, 1.0),
        F32Unpack::Max0 => {
            let v = fin(x);
            if v.is_nan() || v < 0.0 || v.to_bits() == 0x8000_0000 {
                0
            } else {
                v.to_bits()
            }
        }
    }
}

fn clamp(v: f32, lo: f32, hi: f32) -> u32 {
    if v.is_nan() || v < lo {
        lo.to_bits()
    } else if v > hi {
        hi.to_bits()
    } else {
        v.to_bits()
    }
}

/// f32 output packs: `.l`/`.h` round to f16 and replace one half, keeping the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum F32Pack {
    None,
    L,
    H,
}

/// Applies an output pack: `value` is the f32 result bits, `old` the destination's value.
#[inline(always)]
pub fn pack_f32(p: F32Pack, value: u32, old: u32) -> u32 {
    match p {
        F32Pack::None => value,
        F32Pack::L => (old & 0xffff_0000) | u32::from(f2h(f32::from_bits(value))),
        F32Pack::H => (old & 0x0000_ffff) | (u32::from(f2h(f32::from_bits(value))) << 16),
    }
}

/// The f16-pair unpack of source A of VFMIN/VFMAX/VFMUL (py-videocore7 names in brackets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum F16Unpack {
    None,
    /// f32 rounded to f16, replicated to both halves (`r32`).
    Ff,
    /// Low half replicated (`rl2h`).
    Ll,
    /// High half replicated (`rh2l`).
    Hh,
    /// Halves swapped (`swap`).
    Swp,
}

#[inline(always)]
pub fn unpack_f16(u: F16Unpack, x: u32) -> u32 {
    match u {
        F16Unpack::None => x,
        F16Unpack::Ff => {
            let h = u32::from(f2h(fin(x)));
            h | (h << 16)
        }
        F16Unpack::Ll => (x & 0xffff) | (x << 16),
        F16Unpack::Hh => (x >> 16) | (x & 0xffff_0000),
        F16Unpack::Swp => x.rotate_left(16),
    }
}

/// Applies a binary f16 operation to both halves (computed in f32, rounded once to f16).
#[inline(always)]
pub fn f16x2(a: u32, b: u32, op: impl Fn(f32, f32) -> f32) -> u32 {
    let lo = f2h(op(h2f(a as u16), h2f(b as u16)));
    let hi = f2h(op(h2f((a >> 16) as u16), h2f((b >> 16) as u16)));
    u32::from(lo) | (u32::from(hi) << 16)
}

/// IEEE minNum with -0 < +0: a NaN operand yields the other operand.
#[inline(always)]
pub fn fmin(a: f32, b: f32) -> f32 {
    if a.is_nan() {
        b
    } else if b.is_nan() {
        a
    } else if a == b {
        // Picks -0 over +0.
        if a.is_sign_negative() { a } else { b }
    } else if a < b {
        a
    } else {
        b
    }
}

/// IEEE maxNum with +0 > -0.
#[inline(always)]
pub fn fmax(a: f32, b: f32) -> f32 {
    if a.is_nan() {
        b
    } else if b.is_nan() {
        a
    } else if a == b {
        if a.is_sign_negative() { b } else { a }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Rounds half to even (FROUND, FTOIN; py-videocore7 checks them against `numpy.round`).
#[inline(always)]
pub fn round_even(v: f32) -> f32 {
    v.round_ties_even()
}

/// f32 to i32 with saturation; NaN gives 0 (Rust's `as`, see docs/qpu-sim.md).
#[inline(always)]
pub fn to_i32(v: f32) -> u32 {
    (v as i32) as u32
}

/// f32 to u32 with saturation; negatives and NaN give 0.
#[inline(always)]
pub fn to_u32(v: f32) -> u32 {
    v as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_even_ties() {
        for (x, want) in [
            (0.5f32, 0.0f32),
            (1.5, 2.0),
            (2.5, 2.0),
            (-0.5, -0.0),
            (-1.5, -2.0),
            (-2.5, -2.0),
            (2.4, 2.0),
            (2.6, 3.0),
        ] {
            assert_eq!(round_even(x).to_bits(), want.to_bits(), "round_even({x})");
        }
    }

    #[test]
    fn ftz_keeps_sign() {
        assert_eq!(ftz(0x0000_0001), 0);
        assert_eq!(ftz(0x8000_0001), 0x8000_0000);
        assert_eq!(ftz(0x0080_0000), 0x0080_0000);
    }
}
