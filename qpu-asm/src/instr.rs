//! The decoded instruction: what the assembler, the disassembler and the emulator talk about.
//! Only [`crate::encode`] and [`crate::decode`] ever see a `u64`.

use crate::isa::{
    AddOp, BranchCond, BranchDest, Cond, Magic, Msfign, MulOp, Pack, Pf, Signals, SmallImmSlot, Uf,
    Unpack, Waddr,
};

/// Where an ALU input comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Src {
    /// A register-file entry, rf0..rf63.
    Rf(u8),
    /// A small immediate, by index into the 48-entry table (see [`crate::isa::small_imm_value`]).
    SmallImm(u8),
}

impl Default for Src {
    fn default() -> Self {
        Src::Rf(0)
    }
}

/// One ALU input: a source and its unpack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Input {
    pub src: Src,
    pub unpack: Unpack,
}

impl Input {
    pub const fn rf(n: u8) -> Input {
        Input {
            src: Src::Rf(n),
            unpack: Unpack::None,
        }
    }
}

/// The per-ALU flag controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct AluFlags {
    /// Write only the lanes where this holds.
    pub cond: Option<Cond>,
    /// Push a new flag from the result.
    pub pf: Option<Pf>,
    /// Update the A flags from the result.
    pub uf: Option<Uf>,
}

/// One half (add or mul) of an ALU instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Alu<Op> {
    pub op: Op,
    pub dst: Waddr,
    pub pack: Pack,
    pub a: Input,
    pub b: Input,
    pub flags: AluFlags,
}

pub type AddAlu = Alu<AddOp>;
pub type MulAlu = Alu<MulOp>;

impl AddAlu {
    pub const NOP: AddAlu = Alu {
        op: AddOp::Nop,
        dst: Waddr::NOP,
        pack: Pack::None,
        a: Input::rf(0),
        b: Input::rf(0),
        flags: AluFlags {
            cond: None,
            pf: None,
            uf: None,
        },
    };
}

impl MulAlu {
    pub const NOP: MulAlu = Alu {
        op: MulOp::Nop,
        dst: Waddr::NOP,
        pack: Pack::None,
        a: Input::rf(0),
        b: Input::rf(0),
        flags: AluFlags {
            cond: None,
            pf: None,
            uf: None,
        },
    };
}

/// An ALU instruction: an add op, a mul op and signals, issued together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AluInstr {
    pub add: AddAlu,
    pub mul: MulAlu,
    pub sig: Signals,
    /// The address written by the signal that writes one (`ldtmu.rf3`, `ldunifrf.tmud`, ...).
    /// Present exactly when [`Signals::writes_address`] holds.
    pub sig_addr: Option<Waddr>,
}

impl AluInstr {
    pub const NOP: AluInstr = AluInstr {
        add: AddAlu::NOP,
        mul: MulAlu::NOP,
        sig: Signals {
            thrsw: false,
            ldunif: false,
            ldunifa: false,
            ldunifrf: false,
            ldunifarf: false,
            ldtmu: false,
            ldvary: false,
            ldtlb: false,
            ldtlbu: false,
            ucb: false,
            wrtmuc: false,
        },
        sig_addr: None,
    };

    /// The input slot that holds a small immediate, if any.
    pub fn small_imm_slot(&self) -> Option<SmallImmSlot> {
        if matches!(self.add.a.src, Src::SmallImm(_)) {
            Some(SmallImmSlot::A)
        } else if matches!(self.add.b.src, Src::SmallImm(_)) {
            Some(SmallImmSlot::B)
        } else if matches!(self.mul.a.src, Src::SmallImm(_)) {
            Some(SmallImmSlot::C)
        } else if matches!(self.mul.b.src, Src::SmallImm(_)) {
            Some(SmallImmSlot::D)
        } else {
            None
        }
    }

    /// Whether the add or mul ALU (or the signal address) writes this magic address.
    pub fn writes_magic(&self, m: Magic) -> bool {
        let w = Waddr::Magic(m);
        (self.add.op.has_dst() && self.add.dst == w)
            || (self.mul.op.has_dst() && self.mul.dst == w)
            || self.sig_addr == Some(w)
    }
}

/// A branch instruction. The branch takes effect after three delay slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BranchInstr {
    pub cond: BranchCond,
    pub msfign: Msfign,
    /// Where the code target comes from (`bdi`).
    pub dest: BranchDest,
    /// The immediate byte offset (absolute or relative to the instruction after the three delay
    /// slots), meaningful when `dest` is `Abs` or `Rel`. Always a multiple of 8.
    pub offset: u32,
    /// Also branch the uniform stream, taking its target from `unif_dest` (`ub`, `bdu`).
    pub unif: Option<BranchDest>,
    /// The register read when `dest` or `unif` is `Regfile`.
    pub raddr_a: u8,
    /// Branch-and-link (bit 23): write the return address into the link register. Mesa does
    /// not model it; py-videocore7 uses it and `tests/test_branch.py::test_branch_link_reg`
    /// validates it on hardware.
    pub link: bool,
}

/// A decoded V3D 7.1 instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Instr {
    Alu(AluInstr),
    Branch(BranchInstr),
}

impl Instr {
    pub const NOP: Instr = Instr::Alu(AluInstr::NOP);
}
