//! The lowered form of an ALU instruction: `qpu_asm`'s decoded `Instr`, resolved once per
//! dispatch into what the per-step loop needs (operand sources as register indices or
//! immediate values, the op as a direct lane function, the destination as a register index,
//! the registers the instruction reads) so that the common instruction costs no re-inspection
//! of the generic `Instr`.
//!
//! Lowering is an optimisation only. An instruction lowers when every check the generic path
//! (`Thread::alu_instr`) would make of it statically is known to pass for this dispatch's
//! register-file size; anything else (signals other than thrsw and the loads from the uniform
//! streams and the TMU, SFU ops, MULTOP/UMUL24, `tmuwt`, `barrierid`, nops with flag updates,
//! registers past the file, small-immediate indices without a value) stays on the generic
//! path, which reports its faults. Checks that depend on thread state (thread-end rules, tracing) are made per
//! step and send the instruction to the generic path too.

use qpu_asm::isa::{AddOp, Cond, Magic, MulOp, Pf, Uf, Waddr, small_imm_value};
use qpu_asm::{AluFlags, AluInstr, Input, Src};

use crate::alu::{FlagKind, LaneOp, add_lane_op, mul_lane_op};

/// Where an input comes from: an index into the thread's extended register file
/// (`exec::RF_SLOTS`): a register (below 64), or the slot holding small immediate `i` in every
/// lane (`IMM_BASE + i`); an input the op does not read reads small immediate 0, which is 0.
pub(crate) type Operand = u8;

/// The first slot of the extended register file that holds the small immediates.
pub(crate) const IMM_BASE: u8 = 64;

/// The slot of the extended register file past the small immediates that holds a block
/// instruction's temporary (see [`BlockInstr`]): written before it is read, in the same
/// instruction.
pub(crate) const TEMP: u8 = 128;

/// How one ALU computes its result.
#[derive(Clone, Copy)]
pub(crate) enum Eval {
    /// A direct lane function, and how its flags are read.
    Direct(LaneOp, FlagKind),
    /// `alu::eval_add`/`eval_mul` with the instruction's op, unpacks and pack (ops that read
    /// per-thread state, unpacks, packs, and ops whose carry a flag update needs).
    Generic,
}

/// One lowered ALU (add or mul).
#[derive(Clone, Copy)]
pub(crate) struct Half {
    pub eval: Eval,
    pub a: Operand,
    pub b: Operand,
    pub dst: Waddr,
    pub cond: Option<Cond>,
    /// A flag push or update.
    pub flags: bool,
    /// The push and the update, when `flags`.
    pub pf: Option<Pf>,
    pub uf: Option<Uf>,
}

/// The signal part the lowered form handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SigLoad {
    None,
    /// `ldunif`/`ldunifrf`: the next uniform into this register.
    Unif(u8),
    /// `ldunifa`/`ldunifarf`: the next word of the second uniform stream into this register.
    Unifa(u8),
    /// `ldtmu`: the next TMU FIFO entry into this register.
    Tmu(u8),
}

/// A lowered ALU instruction.
#[derive(Clone, Copy)]
pub(crate) struct Lowered {
    /// `None` for an idle ALU (a nop without flag updates).
    pub add: Option<Half>,
    pub mul: Option<Half>,
    /// Registers the ALU inputs read, one bit each (for the SFU-result stall).
    pub reads: u64,
    pub sig: SigLoad,
    pub thrsw: bool,
    /// The common shape that runs through its fast form (`Fast`, `Thread::exec`): every present ALU a direct lane function
    /// without condition or flag update writing a register or a magic address that writes
    /// no register (the TMU, `unifa`), and every register written (by the ALUs or the signal
    /// load) written once.
    pub simple: bool,
}

/// Where a simple instruction's ALU result goes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FastDst {
    Rf(u8),
    /// `nop`: nowhere.
    Discard,
    /// A magic address that writes no register (the TMU, `unifa`).
    Magic(Magic),
}

/// One ALU of a simple instruction.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastHalf {
    pub op: LaneOp,
    pub a: Operand,
    pub b: Operand,
    pub dst: FastDst,
}

/// A lowered instruction of the simple shape (`Lowered::simple`), reduced to what the
/// per-step fast path (`Thread::exec`) reads: the ops, the register-file slots of their
/// inputs and their destinations.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fast {
    pub add: Option<FastHalf>,
    pub mul: Option<FastHalf>,
    pub reads: u64,
    pub sig: SigLoad,
    pub thrsw: bool,
}

impl Lowered {
    /// The fast form, for an instruction of the simple shape.
    pub(crate) fn fast(&self) -> Option<Fast> {
        if !self.simple {
            return None;
        }
        let half = |h: &Option<Half>| -> Option<Option<FastHalf>> {
            let Some(h) = h else { return Some(None) };
            let Eval::Direct(op, _) = h.eval else {
                return None;
            };
            let dst = match h.dst {
                Waddr::Rf(n) => FastDst::Rf(n),
                Waddr::Magic(Magic::Nop) => FastDst::Discard,
                Waddr::Magic(m) => FastDst::Magic(m),
            };
            Some(Some(FastHalf {
                op,
                a: h.a,
                b: h.b,
                dst,
            }))
        };
        Some(Fast {
            add: half(&self.add)?,
            mul: half(&self.mul)?,
            reads: self.reads,
            sig: self.sig,
            thrsw: self.thrsw,
        })
    }
}

/// One ALU of a block instruction that writes a register: `rf[dst] = op(rf[a], rf[b])` in
/// the lanes its condition selects.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RfOp {
    pub op: LaneOp,
    pub a: Operand,
    pub b: Operand,
    pub dst: u8,
    pub cond: Option<Cond>,
}

/// The ALU of a block instruction that writes a magic address writing no register (the
/// TMU, `unifa`), in the lanes its condition selects.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MagicOp {
    pub op: LaneOp,
    pub a: Operand,
    pub b: Operand,
    pub dst: Magic,
    pub cond: Option<Cond>,
}

/// The ALU of a block instruction that pushes or updates the flags (with Z and N; the carry
/// is left to the generic path), evaluated on its own for them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FlagOp {
    pub op: LaneOp,
    pub kind: FlagKind,
    pub a: Operand,
    pub b: Operand,
    pub pf: Option<Pf>,
    pub uf: Option<Uf>,
}

/// An instruction as a block runs it (`Thread::run_block`): no thrsw, no signal but the
/// loads, ALUs that are direct lane functions writing registers or a magic address that
/// writes no register, under any condition, and at most one flag push or update without the
/// carry. Its register writes are put in an order in which none of them changes a register
/// another op of the instruction still reads, so that each can write its register directly;
/// when each of the two reads what the other writes, the second is computed first into the
/// temporary slot [`TEMP`] (in every lane) and moved to its register, under its condition,
/// after the first: three ops.
///
/// Run in this order: the flag op's Z and N and the magic op's value and lanes (inputs read
/// before any write); `rf[..n]`, each written at once; the signal's load and its register;
/// the magic write; the flag push or update. That has the same effect as reading everything
/// and taking every condition first, then writing add, mul and signal, then updating the
/// flags: no op reads a register an earlier one wrote, no two write the same register,
/// conditions see the flags from before the instruction, and what another QPU or a fault can
/// see (the signal's uniform or FIFO read, then the magic write) keeps its order. Registers
/// written before a fault are not seen: a fault ends the dispatch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlockInstr {
    /// Only register ops: no flag op, magic op or signal load.
    pub regs_only: bool,
    /// Register ops and a load from a uniform stream (`ldunif`, `ldunifa`): no flag op or
    /// magic op.
    pub loads_unif_only: bool,
    /// The register ops `rf[..n]`, in the order they run (`n` at most 3).
    pub n: u8,
    pub rf: [RfOp; 3],
    pub magic: Option<MagicOp>,
    pub sig: SigLoad,
    pub flags: Option<FlagOp>,
}

impl BlockInstr {
    /// What `Code` holds for an instruction without a block form (never run).
    pub(crate) const PLACEHOLDER: BlockInstr = BlockInstr {
        regs_only: false,
        loads_unif_only: false,
        n: 0,
        rf: [RfOp::NOP; 3],
        magic: None,
        sig: SigLoad::None,
        flags: None,
    };
}

impl RfOp {
    /// A padding op (never run: `BlockInstr::n` excludes it).
    const NOP: RfOp = RfOp {
        op: LaneOp::Mov,
        a: IMM_BASE,
        b: IMM_BASE,
        dst: 0,
        cond: None,
    };
}

impl Lowered {
    /// The block form (see [`BlockInstr`]), when the instruction has one.
    pub(crate) fn block(&self) -> Option<BlockInstr> {
        if self.thrsw {
            return None;
        }
        let mut rf = Vec::with_capacity(2);
        let mut magic = None;
        let mut flags = None;
        for h in [&self.add, &self.mul].into_iter().flatten() {
            let Eval::Direct(op, kind) = h.eval else {
                return None;
            };
            if h.flags {
                let carry = h.pf == Some(Pf::Pushc)
                    || matches!(h.uf, Some(Uf::Andc | Uf::Andnc | Uf::Nornc | Uf::Norc));
                if carry || flags.is_some() {
                    return None;
                }
                flags = Some(FlagOp {
                    op,
                    kind,
                    a: h.a,
                    b: h.b,
                    pf: h.pf,
                    uf: h.uf,
                });
            }
            match h.dst {
                Waddr::Rf(n) => rf.push(RfOp {
                    op,
                    a: h.a,
                    b: h.b,
                    dst: n,
                    cond: h.cond,
                }),
                Waddr::Magic(Magic::Nop) => {}
                Waddr::Magic(
                    m @ (Magic::Tmua
                    | Magic::Tmuau
                    | Magic::Tmud
                    | Magic::Tmudref
                    | Magic::Tmuoff
                    | Magic::Tmuc
                    | Magic::Unifa),
                ) if magic.is_none() && !h.flags => {
                    magic = Some(MagicOp {
                        op,
                        a: h.a,
                        b: h.b,
                        dst: m,
                        cond: h.cond,
                    });
                }
                _ => return None,
            }
        }
        let sig_dst = match self.sig {
            SigLoad::None => None,
            SigLoad::Unif(n) | SigLoad::Unifa(n) | SigLoad::Tmu(n) => Some(n),
        };
        // Every register written once.
        let dsts: Vec<u8> = rf.iter().map(|o: &RfOp| o.dst).chain(sig_dst).collect();
        if (1..dsts.len()).any(|i| dsts[..i].contains(&dsts[i])) {
            return None;
        }
        let reads = |o: &RfOp, r: u8| o.a == r || o.b == r;
        if let [x, y] = rf[..] {
            match (reads(&y, x.dst), reads(&x, y.dst)) {
                (false, _) => {}
                (true, false) => rf.swap(0, 1),
                (true, true) => {
                    // y into the temporary in every lane, x, then the temporary into y's
                    // register in the lanes y's condition selects.
                    rf = vec![
                        RfOp {
                            dst: TEMP,
                            cond: None,
                            ..y
                        },
                        x,
                        RfOp {
                            op: LaneOp::Mov,
                            a: TEMP,
                            b: IMM_BASE,
                            dst: y.dst,
                            cond: y.cond,
                        },
                    ];
                }
            }
        }
        Some(BlockInstr {
            regs_only: magic.is_none() && flags.is_none() && self.sig == SigLoad::None,
            loads_unif_only: magic.is_none()
                && flags.is_none()
                && matches!(self.sig, SigLoad::Unif(_) | SigLoad::Unifa(_)),
            n: rf.len() as u8,
            rf: [0, 1, 2].map(|i| rf.get(i).copied().unwrap_or(RfOp::NOP)),
            magic,
            sig: self.sig,
            flags,
        })
    }
}

/// Add ops the lowered form may evaluate: those without side effects, not SFU ops, not
/// `barrierid`/`tmuwt` (which have timing or barrier effects), that read no state but their
/// inputs and the lane context (`tidx`, flags, link).
fn add_op_lowers(op: AddOp) -> bool {
    use AddOp::*;
    matches!(
        op,
        Fadd | Faddnf
            | Fsub
            | Fmin
            | Fmax
            | Fcmp
            | Vfpack
            | Add
            | Sub
            | Min
            | Max
            | Umin
            | Umax
            | Shl
            | Shr
            | Asr
            | Ror
            | Vfmin
            | Vfmax
            | And
            | Or
            | Xor
            | Vadd
            | Vsub
            | Not
            | Neg
            | Clz
            | Tidx
            | Eidx
            | Lr
            | Vfla
            | Vflna
            | Vflb
            | Vflnb
            | Flafirst
            | Flnafirst
            | Ballot
            | Bcastf
            | Alleq
            | Allfeq
            | Fround
            | Ftoin
            | Ftrunc
            | Ftoiz
            | Ffloor
            | Ftouz
            | Fceil
            | Fdx
            | Fdy
            | Itof
            | Utof
            | Fmov
            | Mov
            | Rotq
            | Rot
            | Shuffle
    )
}

/// Mul ops the lowered form may evaluate (UMUL24 reads MULTOP's state; MULTOP sets it).
fn mul_op_lowers(op: MulOp) -> bool {
    use MulOp::*;
    matches!(op, Add | Sub | Smul24 | Vfmul | Fmul | Fmov | Mov)
}

fn operand(i: &Input, used: bool, nregs: u32) -> Option<Operand> {
    if !used {
        return Some(IMM_BASE);
    }
    match i.src {
        Src::Rf(n) if u32::from(n) < nregs => Some(n),
        Src::Rf(_) => None,
        Src::SmallImm(idx) => small_imm_value(idx).map(|_| IMM_BASE + idx),
    }
}

/// Whether a flag push or update reads the carry flag.
fn reads_carry(f: &AluFlags) -> bool {
    f.pf == Some(Pf::Pushc) || matches!(f.uf, Some(Uf::Andc | Uf::Andnc | Uf::Nornc | Uf::Norc))
}

fn reg_bit(o: Operand) -> u64 {
    if o < IMM_BASE { 1 << o } else { 0 }
}

#[allow(clippy::too_many_arguments)]
fn half(
    nsrc: u8,
    a: &Input,
    b: &Input,
    dst: Waddr,
    cond: Option<Cond>,
    af: &AluFlags,
    direct: Option<(LaneOp, FlagKind)>,
    carry_op: bool,
    nregs: u32,
) -> Option<(Half, u64)> {
    let a = operand(a, nsrc >= 1, nregs)?;
    let b = operand(b, nsrc >= 2, nregs)?;
    let flags = af.pf.is_some() || af.uf.is_some();
    let carry_read = reads_carry(af);
    if let Waddr::Rf(n) = dst {
        if u32::from(n) >= nregs {
            return None;
        }
    }
    // A flag push or update that reads the carry of an op with an established carry needs
    // it, and only the generic evaluation computes it. (For other ops the carry is unknown
    // either way, and the flag update faults on it as the generic path does.)
    let eval = match direct {
        Some((f, k)) if !(carry_read && carry_op) => Eval::Direct(f, k),
        _ => Eval::Generic,
    };
    Some((
        Half {
            eval,
            a,
            b,
            dst,
            cond,
            flags,
            pf: af.pf,
            uf: af.uf,
        },
        reg_bit(a) | reg_bit(b),
    ))
}

/// Lowers an ALU instruction for a register file of `nregs` entries, or `None` when it must
/// take the generic path.
pub(crate) fn lower(ins: &AluInstr, nregs: u32) -> Option<Lowered> {
    let sig = ins.sig;
    if sig.ldvary
        || sig.ldtlb
        || sig.ldtlbu
        || sig.ucb
        || sig.wrtmuc
        || u8::from(sig.ldunif)
            + u8::from(sig.ldunifrf)
            + u8::from(sig.ldunifa)
            + u8::from(sig.ldunifarf)
            + u8::from(sig.ldtmu)
            > 1
    {
        return None;
    }
    let sig_reg = || match ins.sig_addr {
        Some(Waddr::Rf(n)) if u32::from(n) < nregs => Some(n),
        _ => None,
    };
    let load = if sig.ldunif {
        // ldunif writes rf0 (Mesa v3d_qpu_writes_rf0_implicitly).
        SigLoad::Unif(0)
    } else if sig.ldunifrf {
        SigLoad::Unif(sig_reg()?)
    } else if sig.ldunifa {
        // Like ldunif, ldunifa writes rf0 (Mesa v3d_qpu_writes_rf0_implicitly).
        SigLoad::Unifa(0)
    } else if sig.ldunifarf {
        SigLoad::Unifa(sig_reg()?)
    } else if sig.ldtmu {
        SigLoad::Tmu(sig_reg()?)
    } else {
        SigLoad::None
    };

    let (add, mul) = (&ins.add, &ins.mul);
    let add_flags = add.flags.pf.is_some() || add.flags.uf.is_some();
    let mul_flags = mul.flags.pf.is_some() || mul.flags.uf.is_some();
    let mut reads = 0u64;
    let add_half = if add.op == AddOp::Nop && !add_flags {
        None
    } else if add_op_lowers(add.op) && add.op.has_dst() {
        let (h, r) = half(
            add.op.nsrc(),
            &add.a,
            &add.b,
            add.dst,
            add.flags.cond,
            &add.flags,
            add_lane_op(
                add.op,
                add.a.unpack,
                add.b.unpack,
                add.pack,
                matches!(add.b.src, Src::SmallImm(_)),
            ),
            matches!(add.op, AddOp::Sub | AddOp::Min),
            nregs,
        )?;
        reads |= r;
        Some(h)
    } else {
        return None;
    };
    let mul_half = if mul.op == MulOp::Nop && !mul_flags {
        None
    } else if mul_op_lowers(mul.op) && mul.op.has_dst() {
        let (h, r) = half(
            mul.op.nsrc(),
            &mul.a,
            &mul.b,
            mul.dst,
            mul.flags.cond,
            &mul.flags,
            mul_lane_op(mul.op, mul.a.unpack, mul.b.unpack, mul.pack),
            mul.op == MulOp::Sub,
            nregs,
        )?;
        reads |= r;
        Some(h)
    } else {
        return None;
    };
    let plain_rf = |h: &Option<Half>| match h {
        None => true,
        Some(h) => {
            matches!(h.eval, Eval::Direct(..))
                && h.cond.is_none()
                && !h.flags
                && matches!(
                    h.dst,
                    Waddr::Rf(_)
                        | Waddr::Magic(
                            Magic::Nop
                                | Magic::Tmua
                                | Magic::Tmuau
                                | Magic::Tmud
                                | Magic::Tmudref
                                | Magic::Tmuoff
                                | Magic::Tmuc
                                | Magic::Unifa
                        )
                )
        }
    };
    // Every register written must be written once.
    let mut seen = 0u64;
    let mut distinct = true;
    let dsts = [
        add_half.as_ref().map(|h| h.dst),
        mul_half.as_ref().map(|h| h.dst),
        match load {
            SigLoad::None => None,
            SigLoad::Unif(n) | SigLoad::Unifa(n) | SigLoad::Tmu(n) => Some(Waddr::Rf(n)),
        },
    ];
    for d in dsts.into_iter().flatten() {
        if let Waddr::Rf(n) = d {
            distinct &= seen >> n & 1 == 0;
            seen |= 1 << n;
        }
    }
    let simple = plain_rf(&add_half) && plain_rf(&mul_half) && distinct;
    Some(Lowered {
        add: add_half,
        mul: mul_half,
        reads,
        sig: load,
        thrsw: sig.thrsw,
        simple,
    })
}
