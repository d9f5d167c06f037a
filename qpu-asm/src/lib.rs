//! Assembler and disassembler for the Broadcom V3D 7.1 QPU (Raspberry Pi 5, "VideoCore VII").
//!
//! - [`isa`]: the instruction set, described once (one table row per op).
//! - [`Instr`]: the decoded instruction everything else talks about.
//! - [`encode`]/[`decode`]: the only code that sees a 64-bit word.
//! - `Display for Instr`: Mesa's disassembly text.
//! - [`assemble`]: the text syntax (Mesa's, plus labels, constants, includes and shorthands).
#![forbid(unsafe_code)]

pub mod asm;
pub mod codec;
pub mod instr;
pub mod isa;
pub mod print;

pub use asm::{Diagnostic, FsLoader, Program, SourceLoader, assemble, assemble_file};
pub use codec::{DecodeError, EncodeError, NOP_WORD, canonicalize, decode, encode, ignored_bits};
pub use instr::{AddAlu, Alu, AluFlags, AluInstr, BranchInstr, Input, Instr, MulAlu, Src};
pub use print::{Syntax, fold_whitespace};

/// Disassembles one word to Mesa's text.
pub fn disassemble(word: u64) -> Result<String, DecodeError> {
    decode(word).map(|i| i.to_string())
}
