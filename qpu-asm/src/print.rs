//! The disassembler's text: exactly what Mesa's `qpu_disasm.c` prints for version 71, including
//! its column padding, so Mesa shader dumps and our output are interchangeable.
//!
//! Three deliberate differences in the default [`Syntax::Daedalus`], each where Mesa is wrong or
//! silent and its text would lose information:
//! - magic address 44 prints as `tmuhscm` (Mesa prints `tmuscm`, the name of 40);
//! - the `ucb` signal prints as `; ucb` (Mesa prints nothing for it);
//! - branch-and-link prints as `bl...` (Mesa ignores bit 23).
//!
//! [`Syntax::Mesa`] prints byte for byte what Mesa prints, for diffing against Mesa dumps.

use std::fmt::{self, Write};

use crate::instr::{Alu, AluInstr, BranchInstr, Input, Instr, Src};
use crate::isa::{AddOp, BranchDest, Magic, Msfign, MulOp, Waddr, small_imm_value};

/// Renders a small immediate the way Mesa does: small integers in decimal, the rest as hex.
pub fn small_imm_text(index: u8) -> String {
    match small_imm_value(index) {
        Some(v) if (-16..=15).contains(&(v as i32)) => format!("{}", v as i32),
        Some(v) => format!("0x{v:08x}"),
        None => format!("<bad small immediate {index}>"),
    }
}

/// Which dialect of the text to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Syntax {
    /// Mesa's text, plus what Mesa cannot express (see the module docs). The assembler reads it
    /// back to the same word.
    #[default]
    Daedalus,
    /// Exactly Mesa's text, losing `ucb`, branch-and-link and the 40/44 distinction.
    Mesa,
}

fn waddr_text(out: &mut String, w: Waddr, syntax: Syntax) {
    match (w, syntax) {
        (Waddr::Magic(Magic::Tmuhscm), Syntax::Mesa) => out.push_str("tmuscm"),
        _ => {
            let _ = write!(out, "{w}");
        }
    }
}

fn input(out: &mut String, i: &Input) {
    match i.src {
        Src::Rf(n) => {
            let _ = write!(out, "rf{n}");
        }
        Src::SmallImm(idx) => out.push_str(&small_imm_text(idx)),
    }
    out.push_str(i.unpack.suffix());
}

fn pad_to(out: &mut String, col: usize) {
    while out.len() < col {
        out.push(' ');
    }
}

trait OpInfo: Copy {
    fn name(self) -> &'static str;
    fn has_dst(self) -> bool;
    fn nsrc(self) -> u8;
}

impl OpInfo for AddOp {
    fn name(self) -> &'static str {
        AddOp::name(self)
    }
    fn has_dst(self) -> bool {
        AddOp::has_dst(self)
    }
    fn nsrc(self) -> u8 {
        AddOp::nsrc(self)
    }
}

impl OpInfo for MulOp {
    fn name(self) -> &'static str {
        MulOp::name(self)
    }
    fn has_dst(self) -> bool {
        MulOp::has_dst(self)
    }
    fn nsrc(self) -> u8 {
        MulOp::nsrc(self)
    }
}

fn half<Op: OpInfo>(
    out: &mut String,
    alu: &Alu<Op>,
    sig_writes_addr: bool,
    is_mul_nop: bool,
    syntax: Syntax,
) {
    out.push_str(alu.op.name());
    if !sig_writes_addr {
        if let Some(c) = alu.flags.cond {
            out.push('.');
            out.push_str(c.name());
        }
    }
    if let Some(p) = alu.flags.pf {
        out.push('.');
        out.push_str(p.name());
    }
    if let Some(u) = alu.flags.uf {
        out.push('.');
        out.push_str(u.name());
    }
    if is_mul_nop {
        return;
    }
    out.push(' ');
    let dst = alu.op.has_dst();
    if dst {
        waddr_text(out, alu.dst, syntax);
        out.push_str(alu.pack.suffix());
    }
    let n = alu.op.nsrc();
    if n >= 1 {
        if dst {
            out.push_str(", ");
        }
        input(out, &alu.a);
    }
    if n >= 2 {
        out.push_str(", ");
        input(out, &alu.b);
    }
}

fn alu_text(i: &AluInstr, syntax: Syntax) -> String {
    let mut out = String::with_capacity(80);
    let wa = i.sig.writes_address();
    half(&mut out, &i.add, wa, false, syntax);
    pad_to(&mut out, 30);
    out.push_str("; ");
    half(&mut out, &i.mul, wa, i.mul.op == MulOp::Nop, syntax);
    let mut sig = i.sig;
    if syntax == Syntax::Mesa {
        sig.ucb = false;
    }
    if !sig.is_empty() {
        pad_to(&mut out, 60);
        for (on, name) in sig.list() {
            if !on {
                continue;
            }
            out.push_str("; ");
            out.push_str(name);
            let takes_addr = matches!(
                name,
                "ldvary" | "ldtmu" | "ldtlb" | "ldtlbu" | "ldunifrf" | "ldunifarf"
            );
            if takes_addr {
                if let Some(a) = i.sig_addr {
                    out.push('.');
                    waddr_text(&mut out, a, syntax);
                }
            }
        }
    }
    out
}

fn dest_text(out: &mut String, d: BranchDest, b: &BranchInstr, unif: bool) {
    match (d, unif) {
        (BranchDest::Abs, false) => {
            let _ = write!(out, "zero_addr+0x{:08x}", b.offset);
        }
        (BranchDest::Rel, false) => {
            let _ = write!(out, "{}", b.offset as i32);
        }
        (BranchDest::Abs, true) => out.push_str("a:unif"),
        (BranchDest::Rel, true) => out.push_str("r:unif"),
        (BranchDest::LinkReg, _) => out.push_str("lri"),
        (BranchDest::Regfile, _) => {
            let _ = write!(out, "rf{}", b.raddr_a);
        }
    }
}

fn branch_text(b: &BranchInstr, syntax: Syntax) -> String {
    let mut out = String::from("b");
    if b.link && syntax == Syntax::Daedalus {
        out.push('l');
    }
    if b.unif.is_some() {
        out.push('u');
    }
    let c = b.cond.name();
    if !c.is_empty() {
        out.push('.');
        out.push_str(c);
    }
    match b.msfign {
        Msfign::None => {}
        Msfign::P => out.push('p'),
        Msfign::Q => out.push('q'),
    }
    out.push_str("  ");
    dest_text(&mut out, b.dest, b, false);
    if let Some(u) = b.unif {
        out.push_str(", ");
        dest_text(&mut out, u, b, true);
    }
    out
}

impl Instr {
    /// The instruction's text in the given dialect.
    pub fn to_text(&self, syntax: Syntax) -> String {
        match self {
            Instr::Alu(a) => alu_text(a, syntax),
            Instr::Branch(b) => branch_text(b, syntax),
        }
    }
}

impl fmt::Display for Instr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text(Syntax::Daedalus))
    }
}

/// Folds runs of white space to one space and trims, for comparing texts "white space aside".
pub fn fold_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
