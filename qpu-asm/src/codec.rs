//! Packing and unpacking of 64-bit instruction words. The only code that sees a `u64`.
//!
//! Field layout (V3D 7.1, Mesa `qpu_pack.c`):
//!
//! | bits  | ALU        | branch |
//! |-------|------------|--------|
//! | 63:58 | op_mul     | 0 |
//! | 57:53 | sig        | 57:56 = 0b10, then addr_low |
//! | 52:46 | cond / sig_addr | addr_low (55:35) |
//! | 45    | mm         | |
//! | 44    | ma         | |
//! | 43:38 | waddr_m    | |
//! | 37:32 | waddr_a    | 34:32 cond |
//! | 31:24 | op_add     | addr_high |
//! | 23:18 | raddr_c    | 23 link, 22:21 msfign |
//! | 17:12 | raddr_d    | 17:15 bdu, 14 ub, 13:12 bdi |
//! | 11:6  | raddr_a    | raddr_a |
//! | 5:0   | raddr_b    | |
//!
//! # Canonical form
//!
//! Decoding then encoding gives the word back, except for bits the hardware ignores, which are
//! rewritten to their value in the canonical no-op `0x38003186bb03f000` (for ALU words; `ma` of
//! `stvpm*` is 0, as Mesa packs it) or to 0 (for branches). [`ignored_bits`] names them: the destination of an op without one (add `nop`,
//! `setnnmode_*`, mul `nop`; `ma` for `stvpm*`), the source A of an op without sources, the
//! signal field when it only names a small immediate for an input no op reads; and in a branch
//! bits 20:18 and 5:0, `bdu` without `ub`, `raddr_a` unless a target is a register, and
//! the offset unless the code target is absolute or relative.

use thiserror::Error;

use crate::instr::{AddAlu, Alu, AluFlags, AluInstr, BranchInstr, Input, Instr, MulAlu, Src};
use crate::isa::{
    ADD_OPS, AddOp, BranchCond, BranchDest, Cond, MUL_OPS, Magic, ModClass, Msfign, OpDesc, Pack,
    Pf, SIGNAL_MAP, Signals, SmallImmSlot, Uf, Unpack, Waddr, operand_order_key, ordered_pair,
    small_imm_value,
};

/// The canonical no-op: add `nop` and mul `nop`, both writing the null magic address.
pub const NOP_WORD: u64 = 0x3800_3186_bb03_f000;

const fn field(word: u64, hi: u32, lo: u32) -> u8 {
    ((word >> lo) & ((1u64 << (hi - lo + 1)) - 1)) as u8
}

/// Why a word does not decode.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error(
        "word {word:#018x}: mul opcode 0 is only valid for a branch, and sig {sig} is not a branch"
    )]
    NotAnInstruction { word: u64, sig: u8 },
    #[error("word {word:#018x}: signal field value {sig} is reserved")]
    ReservedSignal { word: u64, sig: u8 },
    #[error("word {word:#018x}: condition field value {cond} is not a valid flags combination")]
    InvalidFlags { word: u64, cond: u8 },
    #[error("word {word:#018x}: add opcode {opcode} with raddr_b {raddr_b} is not an operation")]
    InvalidAddOp { word: u64, opcode: u8, raddr_b: u8 },
    #[error("word {word:#018x}: mul opcode {opcode} with raddr_d {raddr_d} is not an operation")]
    InvalidMulOp { word: u64, opcode: u8, raddr_d: u8 },
    #[error("word {word:#018x}: stvpm sub-op (waddr_a) {waddr} is not 0, 1 or 2")]
    InvalidStvpm { word: u64, waddr: u8 },
    #[error("word {word:#018x}: magic write address {waddr} is reserved")]
    ReservedMagic { word: u64, waddr: u8 },
    #[error("word {word:#018x}: small immediate index {index} is out of the 48-entry table")]
    InvalidSmallImm { word: u64, index: u8 },
    #[error("word {word:#018x}: branch condition value 1 is invalid")]
    InvalidBranchCond { word: u64 },
    #[error("word {word:#018x}: branch msfign value 3 is invalid")]
    InvalidMsfign { word: u64 },
    #[error("word {word:#018x}: uniform branch destination (bdu) {bdu} is invalid")]
    InvalidBdu { word: u64, bdu: u8 },
}

/// Why an instruction cannot be encoded. These are the rules a text that parses can still break.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("register rf{0} does not exist (rf0..rf63)")]
    BadRegister(u8),
    #[error("small immediate index {0} is out of the 48-entry table")]
    BadSmallImm(u8),
    #[error("only one small immediate fits in an instruction")]
    TooManySmallImms,
    #[error("`{op}` does not read source {which}, so it cannot take a small immediate there")]
    SmallImmOnUnusedInput { op: &'static str, which: char },
    #[error("`{op}` cannot take the unpack `{unpack}` on source {which}")]
    BadUnpack {
        op: &'static str,
        which: char,
        unpack: &'static str,
    },
    #[error("`{op}` cannot take an output pack")]
    BadPack { op: &'static str },
    #[error("`{op}` needs a register-file destination (its magic bit selects the _out variant)")]
    NeedsRfDest { op: &'static str },
    #[error("`{op}` with two identical operands cannot be encoded (it decodes as `{other}`)")]
    OperandOrder {
        op: &'static str,
        other: &'static str,
    },
    #[error("this combination of conditions and flag updates cannot be encoded")]
    BadFlags,
    #[error("this combination of signals cannot be encoded in one instruction")]
    BadSignals,
    #[error("a small immediate occupies the signal field, so no other signal fits beside it")]
    SmallImmWithSignal,
    #[error("a signal that writes an address leaves no room for conditions or flag updates")]
    FlagsWithSigAddr,
    #[error("the signal needs a destination address (e.g. `ldtmu.rf3`)")]
    MissingSigAddr,
    #[error("only ldtmu, ldunifrf, ldunifarf, ldvary, ldtlb and ldtlbu take a destination")]
    UnexpectedSigAddr,
    #[error("branch offset {0:#x} is not a multiple of 8")]
    MisalignedBranch(u32),
}

fn src_bits(s: Src) -> Result<(u8, bool), EncodeError> {
    match s {
        Src::Rf(n) if n < 64 => Ok((n, false)),
        Src::Rf(n) => Err(EncodeError::BadRegister(n)),
        Src::SmallImm(i) if i < 48 => Ok((i, true)),
        Src::SmallImm(i) => Err(EncodeError::BadSmallImm(i)),
    }
}

fn waddr_bits(w: Waddr) -> Result<(u8, bool), EncodeError> {
    match w {
        Waddr::Rf(n) if n >= 64 => Err(EncodeError::BadRegister(n)),
        w => Ok(w.to_bits()),
    }
}

fn bad_unpack(op: &'static str, which: char, u: Unpack) -> EncodeError {
    EncodeError::BadUnpack {
        op,
        which,
        unpack: u.suffix(),
    }
}

/// The encoded modifier bits of one op: extra bits for the opcode, the selector value and the
/// (possibly swapped) two sources.
struct Encoded {
    opcode: u8,
    sel: u8,
    a: (u8, bool),
    b: (u8, bool),
}

/// Encodes the op, modifiers and sources of one ALU half. Shared by both ALUs; the class says
/// where each modifier goes.
fn encode_half<Op: Copy + PartialEq>(
    desc: &OpDesc<Op>,
    alu: &Alu<Op>,
    order: Option<(Op, Op, &'static str)>,
) -> Result<Encoded, EncodeError> {
    let name = desc.name;
    let mut a = if desc.nsrc >= 1 {
        src_bits(alu.a.src)?
    } else {
        (0, false)
    };
    let mut b = if desc.nsrc >= 2 {
        src_bits(alu.b.src)?
    } else {
        (0, false)
    };
    let (mut ua, mut ub) = (alu.a.unpack, alu.b.unpack);
    if desc.nsrc < 1 && ua != Unpack::None {
        return Err(bad_unpack(name, 'a', ua));
    }
    if desc.nsrc < 2 && ub != Unpack::None {
        return Err(bad_unpack(name, 'b', ub));
    }
    let sel = desc.sel.unwrap_or(0);
    let no_pack = || {
        if alu.pack == Pack::None {
            Ok(())
        } else {
            Err(EncodeError::BadPack { op: name })
        }
    };
    let f32_2bit = |u: Unpack, which| match u.f32_code() {
        Some(c) if c <= 3 => Ok(c),
        _ => Err(bad_unpack(name, which, u)),
    };
    let pack = alu.pack.code();
    let mut out = Encoded {
        opcode: desc.opcode,
        sel,
        a,
        b,
    };
    match desc.class {
        ModClass::Plain => {
            no_pack()?;
            if ua != Unpack::None {
                return Err(bad_unpack(name, 'a', ua));
            }
            if ub != Unpack::None {
                return Err(bad_unpack(name, 'b', ub));
            }
        }
        ModClass::F32Binary | ModClass::FMul | ModClass::F32Compare => {
            if desc.class == ModClass::F32Compare {
                no_pack()?;
            }
            let (mut ca, mut cb) = (f32_2bit(ua, 'a')?, f32_2bit(ub, 'b')?);
            if let Some((first, second, first_name)) = order {
                let ka = operand_order_key(a.1, ca, a.0);
                let kb = operand_order_key(b.1, cb, b.0);
                let natural = if ka <= kb { first } else { second };
                if natural != alu.op {
                    if ka == kb {
                        return Err(EncodeError::OperandOrder {
                            op: name,
                            other: first_name,
                        });
                    }
                    std::mem::swap(&mut a, &mut b);
                    std::mem::swap(&mut ca, &mut cb);
                    std::mem::swap(&mut ua, &mut ub);
                }
            }
            let pack_bits = if desc.class == ModClass::F32Compare {
                0
            } else {
                pack << 4
            };
            out.opcode = desc.opcode + (pack_bits | ca << 2 | cb);
            out.a = a;
            out.b = b;
        }
        ModClass::Vfpack => {
            no_pack()?;
            let code = |u: Unpack, which| match u.f32_code() {
                Some(c @ 1..=3) => Ok(c),
                _ => Err(bad_unpack(name, which, u)),
            };
            out.opcode = desc.opcode | code(ua, 'a')? << 2 | code(ub, 'b')?;
        }
        ModClass::F16A => {
            no_pack()?;
            if ub != Unpack::None {
                return Err(bad_unpack(name, 'b', ub));
            }
            let c = ua.f16_code().ok_or_else(|| bad_unpack(name, 'a', ua))?;
            out.opcode = desc.opcode + c;
        }
        ModClass::F32UnaryRb => {
            out.sel = sel | f32_2bit(ua, 'a')? << 2 | pack;
        }
        ModClass::FtoiRb => {
            no_pack()?;
            out.sel = sel | f32_2bit(ua, 'a')? << 2;
        }
        ModClass::PackRb => {
            if ua != Unpack::None {
                return Err(bad_unpack(name, 'a', ua));
            }
            out.sel = sel | pack;
        }
        ModClass::FmovRb => {
            let c = ua.f32_code().ok_or_else(|| bad_unpack(name, 'a', ua))?;
            out.sel = sel | c << 2 | pack;
        }
        ModClass::MovRb => {
            no_pack()?;
            let c = ua.i32_code().ok_or_else(|| bad_unpack(name, 'a', ua))?;
            out.sel = sel | c << 2;
        }
    }
    Ok(out)
}

fn encode_flags(add: &AluFlags, mul: &AluFlags) -> Result<u8, EncodeError> {
    // Mesa `v3d_qpu_flags_pack`: the encodable combinations and their base bits.
    let (ac, mc) = (add.cond, mul.cond);
    let (apf, mpf) = (add.pf, mul.pf);
    let (auf, muf) = (add.uf, mul.uf);
    if apf.is_some() && auf.is_some() || mpf.is_some() && muf.is_some() {
        return Err(EncodeError::BadFlags);
    }
    let c = |c: Cond| c as u8;
    let v = match (ac, mc, apf, mpf, auf, muf) {
        (None, None, None, None, None, None) => 0,
        (None, None, Some(p), None, None, None) => p as u8,
        (None, None, None, None, Some(u), None) => u as u8,
        (None, None, None, Some(p), None, None) => 16 | p as u8,
        (None, None, None, None, None, Some(u)) => 16 | u as u8,
        (Some(a), None, None, mp, None, None) => 32 | c(a) << 2 | mp.map_or(0, |p| p as u8),
        (None, Some(m), ap, None, None, None) => 48 | c(m) << 2 | ap.map_or(0, |p| p as u8),
        (Some(a), Some(m), None, None, None, None) => 64 | c(m) << 4 | c(a),
        (None, Some(m), None, None, Some(u), None) => 64 | c(m) << 4 | u as u8,
        _ => return Err(EncodeError::BadFlags),
    };
    Ok(v)
}

fn decode_flags(v: u8) -> Option<(AluFlags, AluFlags)> {
    let mut a = AluFlags::default();
    let mut m = AluFlags::default();
    match v {
        0 => {}
        1..=3 => a.pf = Pf::from_code(v),
        4..=15 => a.uf = Uf::from_code(v),
        16 => return None,
        17..=19 => m.pf = Pf::from_code(v & 3),
        20..=31 => m.uf = Uf::from_code(v & 15),
        32..=47 => {
            a.cond = Some(Cond::from_code(v >> 2));
            m.pf = Pf::from_code(v & 3);
        }
        48..=63 => {
            m.cond = Some(Cond::from_code(v >> 2));
            a.pf = Pf::from_code(v & 3);
        }
        _ => {
            m.cond = Some(Cond::from_code(v >> 4));
            if (v >> 2) & 3 == 0 {
                a.cond = Some(Cond::from_code(v));
            } else {
                a.uf = Uf::from_code(v & 15);
            }
        }
    }
    Some((a, m))
}

fn encode_alu(i: &AluInstr) -> Result<u64, EncodeError> {
    let add = &i.add;
    let mul = &i.mul;
    let add_desc = add.op.desc();
    let mul_desc = mul.op.desc();

    // At most one small immediate, on an input the op reads.
    let inputs = [
        (add.a, add_desc.nsrc >= 1, add_desc.name, 'a'),
        (add.b, add_desc.nsrc >= 2, add_desc.name, 'b'),
        (mul.a, mul_desc.nsrc >= 1, mul_desc.name, 'a'),
        (mul.b, mul_desc.nsrc >= 2, mul_desc.name, 'b'),
    ];
    let mut n_imm = 0;
    for (inp, used, op, which) in inputs {
        if let Src::SmallImm(_) = inp.src {
            if !used {
                return Err(EncodeError::SmallImmOnUnusedInput { op, which });
            }
            n_imm += 1;
        }
    }
    if n_imm > 1 {
        return Err(EncodeError::TooManySmallImms);
    }

    // LDVPM*_OUT are the _IN rows with the magic bit set.
    let (add_row, force_ma) = match add.op {
        AddOp::LdvpmvOut => (AddOp::LdvpmvIn.desc(), true),
        AddOp::LdvpmdOut => (AddOp::LdvpmdIn.desc(), true),
        AddOp::LdvpmgOut => (AddOp::LdvpmgIn.desc(), true),
        _ => (add_desc, false),
    };
    let add_enc = encode_half(
        add_row,
        add,
        ordered_pair(add.op).map(|(f, s)| (f, s, f.name())),
    )?;
    let (waddr_a, ma) = match add.op {
        AddOp::Stvpmv => (0, false),
        AddOp::Stvpmd => (1, false),
        AddOp::Stvpmp => (2, false),
        AddOp::LdvpmvIn
        | AddOp::LdvpmdIn
        | AddOp::LdvpmgIn
        | AddOp::LdvpmvOut
        | AddOp::LdvpmdOut
        | AddOp::LdvpmgOut => match add.dst {
            Waddr::Rf(n) if n < 64 => (n, force_ma),
            Waddr::Rf(n) => return Err(EncodeError::BadRegister(n)),
            Waddr::Magic(_) => return Err(EncodeError::NeedsRfDest { op: add_desc.name }),
        },
        _ if add_desc.dst => waddr_bits(add.dst)?,
        _ => Waddr::NOP.to_bits(),
    };
    let mul_enc = encode_half(mul_desc, mul, None)?;
    let (waddr_m, mm) = if mul_desc.dst {
        waddr_bits(mul.dst)?
    } else {
        Waddr::NOP.to_bits()
    };

    // Selector ops carry the selector in raddr_b / raddr_d.
    let raddr_a = add_enc.a.0;
    let raddr_b = if add_row.sel.is_some() {
        add_enc.sel
    } else {
        add_enc.b.0
    };
    let raddr_c = mul_enc.a.0;
    let raddr_d = if mul_desc.sel.is_some() {
        mul_enc.sel
    } else {
        mul_enc.b.0
    };
    let slot = if add_enc.a.1 {
        Some(SmallImmSlot::A)
    } else if add_enc.b.1 {
        Some(SmallImmSlot::B)
    } else if mul_enc.a.1 {
        Some(SmallImmSlot::C)
    } else if mul_enc.b.1 {
        Some(SmallImmSlot::D)
    } else {
        None
    };
    if slot.is_some() && !i.sig.is_empty() {
        return Err(EncodeError::SmallImmWithSignal);
    }
    let sig = SIGNAL_MAP
        .iter()
        .position(|e| *e == Some((i.sig, slot)))
        .ok_or(EncodeError::BadSignals)? as u64;

    let cond = if i.sig.writes_address() {
        if add.flags != AluFlags::default() || mul.flags != AluFlags::default() {
            return Err(EncodeError::FlagsWithSigAddr);
        }
        let (n, magic) = waddr_bits(i.sig_addr.ok_or(EncodeError::MissingSigAddr)?)?;
        n | u8::from(magic) << 6
    } else {
        if i.sig_addr.is_some() {
            return Err(EncodeError::UnexpectedSigAddr);
        }
        encode_flags(&add.flags, &mul.flags)?
    };

    Ok(u64::from(mul_enc.opcode) << 58
        | sig << 53
        | u64::from(cond) << 46
        | u64::from(mm) << 45
        | u64::from(ma) << 44
        | u64::from(waddr_m) << 38
        | u64::from(waddr_a) << 32
        | u64::from(add_enc.opcode) << 24
        | u64::from(raddr_c) << 18
        | u64::from(raddr_d) << 12
        | u64::from(raddr_a) << 6
        | u64::from(raddr_b))
}

fn encode_branch(b: &BranchInstr) -> Result<u64, EncodeError> {
    let uses_offset = matches!(b.dest, BranchDest::Abs | BranchDest::Rel);
    let offset = if uses_offset { b.offset } else { 0 };
    if offset & 7 != 0 {
        return Err(EncodeError::MisalignedBranch(offset));
    }
    let uses_reg = b.dest == BranchDest::Regfile || b.unif == Some(BranchDest::Regfile);
    let raddr = if uses_reg { b.raddr_a } else { 0 };
    if raddr >= 64 {
        return Err(EncodeError::BadRegister(raddr));
    }
    let mut w = 0b10u64 << 56;
    w |= u64::from((offset & 0x00ff_ffff) >> 3) << 35;
    w |= u64::from(b.cond as u8) << 32;
    w |= u64::from(offset >> 24) << 24;
    w |= u64::from(b.link) << 23;
    w |= (b.msfign as u64) << 21;
    if let Some(bdu) = b.unif {
        w |= (bdu as u64) << 15 | 1 << 14;
    }
    w |= (b.dest as u64) << 12;
    w |= u64::from(raddr) << 6;
    Ok(w)
}

/// Encodes an instruction.
pub fn encode(instr: &Instr) -> Result<u64, EncodeError> {
    match instr {
        Instr::Alu(a) => encode_alu(a),
        Instr::Branch(b) => encode_branch(b),
    }
}

/// Finds the row of `table` that the opcode and selector read address select, and returns it with
/// the modifier bits of the opcode (`opcode - row.opcode`).
fn lookup<Op: Copy>(
    table: &'static [OpDesc<Op>],
    rows: usize,
    opcode: u8,
    sel: u8,
) -> Option<(&'static OpDesc<Op>, u8)> {
    table[..rows].iter().find_map(|d| {
        let m = opcode.checked_sub(d.opcode)?;
        if m >= d.class.op_span() {
            return None;
        }
        if let Some(s) = d.sel {
            let mask = d.class.rb_mod_mask();
            if sel & !mask != s {
                return None;
            }
            let ok = match d.class {
                ModClass::F32UnaryRb | ModClass::PackRb => sel & 3 != 3,
                ModClass::FmovRb => sel & 3 != 3 && (sel >> 2) & 7 <= 6,
                ModClass::MovRb => (sel >> 2) & 7 <= 4,
                _ => true,
            };
            if !ok {
                return None;
            }
        }
        if d.class == ModClass::Vfpack && (m & 3 == 0 || m >> 2 == 0) {
            return None;
        }
        Some((d, m))
    })
}

/// The unpacks and pack an op's modifier bits stand for, or `None` if a code is invalid.
fn decode_mods(class: ModClass, m: u8, sel: u8) -> Option<(Unpack, Unpack, Pack)> {
    let f32c = Unpack::from_f32_code;
    Some(match class {
        ModClass::Plain => (Unpack::None, Unpack::None, Pack::None),
        ModClass::F32Binary | ModClass::FMul => {
            (f32c(m >> 2 & 3)?, f32c(m & 3)?, Pack::from_code(m >> 4)?)
        }
        ModClass::F32Compare | ModClass::Vfpack => (f32c(m >> 2 & 3)?, f32c(m & 3)?, Pack::None),
        ModClass::F16A => (Unpack::from_f16_code(m)?, Unpack::None, Pack::None),
        ModClass::F32UnaryRb => (f32c(sel >> 2 & 3)?, Unpack::None, Pack::from_code(sel & 3)?),
        ModClass::FtoiRb => (f32c(sel >> 2 & 3)?, Unpack::None, Pack::None),
        ModClass::PackRb => (Unpack::None, Unpack::None, Pack::from_code(sel & 3)?),
        ModClass::FmovRb => (f32c(sel >> 2 & 7)?, Unpack::None, Pack::from_code(sel & 3)?),
        ModClass::MovRb => (
            Unpack::from_i32_code(sel >> 2 & 7)?,
            Unpack::None,
            Pack::None,
        ),
    })
}

/// The rows of `ADD_OPS` that the opcode lookup considers (the `_OUT` rows come from `ma`).
const ADD_LOOKUP_ROWS: usize = AddOp::LdvpmvOut as usize;

fn decode_alu(word: u64) -> Result<AluInstr, DecodeError> {
    let sig_field = field(word, 57, 53);
    let (sig, slot) = SIGNAL_MAP[usize::from(sig_field)].ok_or(DecodeError::ReservedSignal {
        word,
        sig: sig_field,
    })?;
    let cond = field(word, 52, 46);
    let mm = field(word, 45, 45) != 0;
    let ma = field(word, 44, 44) != 0;
    let waddr_m = field(word, 43, 38);
    let waddr_a = field(word, 37, 32);
    let op_add = field(word, 31, 24);
    let raddr_c = field(word, 23, 18);
    let raddr_d = field(word, 17, 12);
    let raddr_a = field(word, 11, 6);
    let raddr_b = field(word, 5, 0);
    let op_mul = field(word, 63, 58);

    let magic =
        |waddr: u8| Magic::from_index(waddr).ok_or(DecodeError::ReservedMagic { word, waddr });
    let waddr = |n: u8, is_magic: bool| -> Result<Waddr, DecodeError> {
        Ok(if is_magic {
            Waddr::Magic(magic(n)?)
        } else {
            Waddr::Rf(n)
        })
    };

    // Add ALU.
    let (adesc, am) =
        lookup(ADD_OPS, ADD_LOOKUP_ROWS, op_add, raddr_b).ok_or(DecodeError::InvalidAddOp {
            word,
            opcode: op_add,
            raddr_b,
        })?;
    let (ua, ub, apack) =
        decode_mods(adesc.class, am, raddr_b).ok_or(DecodeError::InvalidAddOp {
            word,
            opcode: op_add,
            raddr_b,
        })?;
    let mut add_op = adesc.op;
    if let Some((first, second)) = ordered_pair(add_op) {
        let ka = operand_order_key(slot == Some(SmallImmSlot::A), am >> 2 & 3, raddr_a);
        let kb = operand_order_key(slot == Some(SmallImmSlot::B), am & 3, raddr_b);
        add_op = if ka <= kb { first } else { second };
    }
    let mut add_dst = if adesc.dst {
        waddr(waddr_a, ma)?
    } else {
        Waddr::NOP
    };
    match add_op {
        AddOp::Stvpmv | AddOp::Stvpmd | AddOp::Stvpmp => {
            add_op = match waddr_a {
                0 => AddOp::Stvpmv,
                1 => AddOp::Stvpmd,
                2 => AddOp::Stvpmp,
                _ => {
                    return Err(DecodeError::InvalidStvpm {
                        word,
                        waddr: waddr_a,
                    });
                }
            };
        }
        AddOp::LdvpmvIn | AddOp::LdvpmdIn | AddOp::LdvpmgIn if ma => {
            add_op = match add_op {
                AddOp::LdvpmvIn => AddOp::LdvpmvOut,
                AddOp::LdvpmdIn => AddOp::LdvpmdOut,
                _ => AddOp::LdvpmgOut,
            };
            add_dst = Waddr::Rf(waddr_a);
        }
        _ => {}
    }

    // Mul ALU.
    let (mdesc, mmods) =
        lookup(MUL_OPS, MUL_OPS.len(), op_mul, raddr_d).ok_or(DecodeError::InvalidMulOp {
            word,
            opcode: op_mul,
            raddr_d,
        })?;
    let (uc, ud, mpack) =
        decode_mods(mdesc.class, mmods, raddr_d).ok_or(DecodeError::InvalidMulOp {
            word,
            opcode: op_mul,
            raddr_d,
        })?;
    let mul_dst = if mdesc.dst {
        waddr(waddr_m, mm)?
    } else {
        Waddr::NOP
    };

    // Small immediates only where an op reads the input.
    let used = |s: SmallImmSlot| match s {
        SmallImmSlot::A => adesc.nsrc >= 1,
        SmallImmSlot::B => adesc.nsrc >= 2,
        SmallImmSlot::C => mdesc.nsrc >= 1,
        SmallImmSlot::D => mdesc.nsrc >= 2,
    };
    // A small-immediate signal naming an input the op does not read changes nothing: Mesa
    // decodes such words (its reference vectors contain them) and prints no immediate. It is an
    // ignored bit pattern (see `ignored_bits`).
    let slot = slot.filter(|s| used(*s));
    if let Some(s) = slot {
        let index = match s {
            SmallImmSlot::A => raddr_a,
            SmallImmSlot::B => raddr_b,
            SmallImmSlot::C => raddr_c,
            SmallImmSlot::D => raddr_d,
        };
        if small_imm_value(index).is_none() {
            return Err(DecodeError::InvalidSmallImm { word, index });
        }
    }
    let input = |n: u8, is_imm: bool, unpack: Unpack| Input {
        src: if is_imm { Src::SmallImm(n) } else { Src::Rf(n) },
        unpack,
    };

    let (aflags, mflags, sig_addr) = if sig.writes_address() {
        (
            AluFlags::default(),
            AluFlags::default(),
            Some(waddr(cond & 63, cond & 64 != 0)?),
        )
    } else {
        let (a, m) = decode_flags(cond).ok_or(DecodeError::InvalidFlags { word, cond })?;
        (a, m, None)
    };

    let add = AddAlu {
        op: add_op,
        dst: add_dst,
        pack: apack,
        // Source A of a source-less op is ignored: canonically rf0.
        a: if adesc.nsrc >= 1 {
            input(raddr_a, slot == Some(SmallImmSlot::A), ua)
        } else {
            Input::default()
        },
        b: if adesc.nsrc >= 2 {
            input(raddr_b, slot == Some(SmallImmSlot::B), ub)
        } else {
            Input::default()
        },
        flags: aflags,
    };
    let mul = MulAlu {
        op: mdesc.op,
        dst: mul_dst,
        pack: mpack,
        a: if mdesc.nsrc >= 1 {
            input(raddr_c, slot == Some(SmallImmSlot::C), uc)
        } else {
            Input::default()
        },
        b: if mdesc.nsrc >= 2 {
            input(raddr_d, slot == Some(SmallImmSlot::D), ud)
        } else {
            Input::default()
        },
        flags: mflags,
    };
    Ok(AluInstr {
        add,
        mul,
        sig,
        sig_addr,
    })
}

fn decode_branch(word: u64) -> Result<BranchInstr, DecodeError> {
    let cond = BranchCond::from_code(field(word, 34, 32))
        .ok_or(DecodeError::InvalidBranchCond { word })?;
    let msfign = match field(word, 22, 21) {
        0 => Msfign::None,
        1 => Msfign::P,
        2 => Msfign::Q,
        _ => return Err(DecodeError::InvalidMsfign { word }),
    };
    let dest = BranchDest::from_code(field(word, 13, 12)).unwrap_or(BranchDest::Abs);
    let unif = if field(word, 14, 14) != 0 {
        let bdu = field(word, 17, 15);
        Some(BranchDest::from_code(bdu).ok_or(DecodeError::InvalidBdu { word, bdu })?)
    } else {
        None
    };
    let uses_offset = matches!(dest, BranchDest::Abs | BranchDest::Rel);
    let offset = if uses_offset {
        (((word >> 35) & 0x1f_ffff) << 3 | ((word >> 24) & 0xff) << 24) as u32
    } else {
        0
    };
    let uses_reg = dest == BranchDest::Regfile || unif == Some(BranchDest::Regfile);
    Ok(BranchInstr {
        cond,
        msfign,
        dest,
        offset,
        unif,
        raddr_a: if uses_reg { field(word, 11, 6) } else { 0 },
        link: field(word, 23, 23) != 0,
    })
}

/// Decodes a 64-bit instruction word. Never panics; every word either decodes or says why not.
pub fn decode(word: u64) -> Result<Instr, DecodeError> {
    if field(word, 63, 58) != 0 {
        return decode_alu(word).map(Instr::Alu);
    }
    let sig = field(word, 57, 53);
    if sig & 0b11000 == 0b10000 {
        decode_branch(word).map(Instr::Branch)
    } else {
        Err(DecodeError::NotAnInstruction { word, sig })
    }
}

/// The bits of `word` (which decodes to `instr`) that the hardware ignores; [`encode`] writes
/// their canonical value instead (from [`NOP_WORD`] for ALU words, 0 for branches).
pub fn ignored_bits(instr: &Instr) -> u64 {
    const WADDR_A_MA: u64 = 0x3f << 32 | 1 << 44;
    const WADDR_M_MM: u64 = 0x3f << 38 | 1 << 45;
    match instr {
        Instr::Alu(a) => {
            let mut m = 0;
            if !a.add.op.has_dst() {
                m |= match a.add.op {
                    AddOp::Stvpmv | AddOp::Stvpmd | AddOp::Stvpmp => 1 << 44,
                    _ => WADDR_A_MA,
                };
            }
            if a.add.op.nsrc() == 0 {
                m |= 0x3f << 6;
            }
            if !a.mul.op.has_dst() {
                m |= WADDR_M_MM;
            }
            if a.mul.op.nsrc() == 0 {
                m |= 0x3f << 18;
            }
            // With no signal and no immediate in use, the signal field may hold a small-immediate
            // code for an input no op reads; that is ignored, canonically 0.
            let some_input_unused = a.add.op.nsrc() < 2 || a.mul.op.nsrc() < 2;
            if a.sig.is_empty() && a.small_imm_slot().is_none() && some_input_unused {
                m |= 0x1f << 53;
            }
            m
        }
        Instr::Branch(b) => {
            let mut m = 0x7 << 18 | 0x3f;
            if b.unif.is_none() {
                m |= 0x7 << 15;
            }
            if b.dest != BranchDest::Regfile && b.unif != Some(BranchDest::Regfile) {
                m |= 0x3f << 6;
            }
            if !matches!(b.dest, BranchDest::Abs | BranchDest::Rel) {
                m |= 0x1f_ffff << 35 | 0xff << 24;
            }
            m
        }
    }
}

/// `word` in canonical form: its ignored bits (see [`ignored_bits`]) rewritten to the values
/// the encoder writes (those of [`NOP_WORD`] for ALU words, except `ma` = 0 for `stvpm*` as
/// Mesa packs it; 0 in branches). This is `encode(decode(word))`.
pub fn canonicalize(word: u64) -> Result<u64, DecodeError> {
    let instr = decode(word)?;
    Ok(encode(&instr).expect("a decoded instruction always encodes"))
}

/// Helper for `Signals` users that want a plain list.
pub fn signals_of(instr: &Instr) -> Signals {
    match instr {
        Instr::Alu(a) => a.sig,
        Instr::Branch(_) => Signals::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nop_round_trips() {
        let i = decode(NOP_WORD).unwrap();
        assert_eq!(i, Instr::NOP);
        assert_eq!(encode(&i).unwrap(), NOP_WORD);
    }

    #[test]
    fn flags_encoding_is_the_inverse_of_decoding() {
        for v in 0u8..128 {
            match decode_flags(v) {
                None => assert_eq!(v, 16),
                Some((a, m)) => assert_eq!(encode_flags(&a, &m).unwrap(), v, "value {v}"),
            }
        }
    }

    #[test]
    fn fadd_operand_order_selects_faddnf() {
        // fadd rf1, rf2, rf3 has key(a) < key(b); asking for faddnf swaps the operands.
        let mut i = AluInstr::NOP;
        i.add = AddAlu {
            op: AddOp::Faddnf,
            dst: Waddr::Rf(1),
            pack: Pack::None,
            a: Input::rf(2),
            b: Input::rf(3),
            flags: AluFlags::default(),
        };
        let w = encode(&Instr::Alu(i)).unwrap();
        match decode(w).unwrap() {
            Instr::Alu(d) => {
                assert_eq!(d.add.op, AddOp::Faddnf);
                assert_eq!(d.add.a, Input::rf(3));
                assert_eq!(d.add.b, Input::rf(2));
            }
            _ => panic!("not an ALU word"),
        }
        i.add.b = Input::rf(2);
        assert!(matches!(
            encode(&Instr::Alu(i)),
            Err(EncodeError::OperandOrder { .. })
        ));
    }
}
