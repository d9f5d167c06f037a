//! The assembler: Mesa's disassembly syntax, plus what a person writing kernels needs.
//!
//! One instruction per line:
//!
//! ```text
//! # comments start with '#' or '//'
//! .include "common.qinc"        # text inclusion, relative to the including file
//! .set STRIDE, 8                # a named constant: any operand text (number, register, ...)
//! .macro butterfly a, b, t      # a macro: `\a` is replaced by the argument, `\@` by a
//!     add \t, \a, \b             # number unique to each expansion (for labels)
//!     sub \b, \a, \b
//!     mov \a, \t
//! .endm
//!     butterfly rf1, rf2, rf9
//! loop:                         # a label (may share a line with an instruction)
//!     add rf1, rf1, STRIDE ; fmul rf2, rf3, rf4.abs ; ldtmu.rf5
//!     fmul rf2, rf3, rf4         # shorthand: the add ALU does nop
//!     thrsw                      # shorthand: both ALUs do nop
//!     b.anyna loop               # relative offset computed from the delay-slot rule
//! ```
//!
//! An instruction is `ADD ; MUL ; SIGNAL ; SIGNAL ...`. The first part is the add ALU unless its
//! mnemonic exists only on the mul ALU (then the add ALU idles) or is a signal (then both idle).
//! Mnemonics that exist on both ALUs (`add`, `sub`, `mov`, `fmov`, `nop`) mean the add ALU first
//! and the mul ALU second. Every error of a file is reported, with file:line:column.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::codec::encode;
use crate::instr::{AddAlu, AluFlags, AluInstr, BranchInstr, Input, Instr, MulAlu, Src};
use crate::isa::{
    AddOp, BranchCond, BranchDest, Cond, Magic, Msfign, MulOp, Pack, Pf, Signals, Uf, Unpack,
    Waddr, small_imm_index,
};

/// One problem found in the source, with its location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The offending text.
    pub text: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file, self.line, self.column, self.message
        )?;
        if !self.text.is_empty() {
            write!(f, "\n    at `{}`", self.text)?;
        }
        Ok(())
    }
}

/// An assembled program.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Program {
    /// The instruction words, in order.
    pub words: Vec<u64>,
    /// Label name → instruction index.
    pub labels: HashMap<String, usize>,
    /// For each word, the (file, line) it came from.
    pub lines: Vec<(String, usize)>,
}

impl Program {
    /// The words as little-endian bytes, as the GPU reads them.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}

/// Where `.include` reads files from.
pub trait SourceLoader {
    fn load(&self, path: &Path) -> std::io::Result<String>;
}

/// Reads included files from the file system.
pub struct FsLoader;

impl SourceLoader for FsLoader {
    fn load(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// Assembles a file from disk (includes resolve relative to it).
pub fn assemble_file(path: &Path) -> Result<Program, Vec<Diagnostic>> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(src) => assemble(&src, &name, path.parent(), &FsLoader),
        Err(e) => Err(vec![Diagnostic {
            file: name,
            line: 0,
            column: 0,
            text: String::new(),
            message: format!("cannot read the file: {e}"),
        }]),
    }
}

/// Assembles `src`, named `file` in diagnostics; `.include` paths resolve against `dir`.
pub fn assemble(
    src: &str,
    file: &str,
    dir: Option<&Path>,
    loader: &dyn SourceLoader,
) -> Result<Program, Vec<Diagnostic>> {
    let mut asm = Assembler::default();
    let mut stack = Vec::new();
    asm.read_source(src, file, dir, loader, &mut stack);
    asm.finish()
}

/// A source line after include expansion, with comments removed.
struct Line {
    file: String,
    line: usize,
    /// The code part (comments stripped), and the column offset it starts at.
    code: String,
    /// Instruction index this line assembles to (if it holds an instruction).
    index: Option<usize>,
    /// Position in reading order (across includes), to report errors in source order.
    seq: usize,
    /// The macro this line was expanded from, if any.
    in_macro: Option<String>,
}

/// A `.macro` definition.
#[derive(Clone, Debug)]
struct Macro {
    name: String,
    params: Vec<String>,
    body: Vec<String>,
    line: usize,
}

#[derive(Default)]
struct Assembler {
    macros: HashMap<String, Macro>,
    /// The macro being recorded, between `.macro` and `.endm`.
    recording: Option<Macro>,
    /// Expansion counter, for `\@`.
    unique: usize,
    /// The macros being expanded, innermost last.
    expanding: Vec<String>,
    lines: Vec<Line>,
    labels: HashMap<String, usize>,
    constants: HashMap<String, String>,
    /// Diagnostics with the reading-order position of their line.
    diags: Vec<(usize, Diagnostic)>,
    count: usize,
    seq: usize,
}

fn strip_comment(line: &str) -> &str {
    let mut end = line.len();
    if let Some(i) = line.find('#') {
        end = end.min(i);
    }
    if let Some(i) = line.find("//") {
        end = end.min(i);
    }
    &line[..end]
}

fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

impl Assembler {
    fn diag(&mut self, file: &str, line: usize, column: usize, text: &str, message: String) {
        self.diags.push((
            self.seq,
            Diagnostic {
                file: file.to_string(),
                line,
                column,
                text: text.to_string(),
                message,
            },
        ));
    }

    /// Pass 1: expand includes and macros, record labels and constants, number the
    /// instructions.
    fn read_source(
        &mut self,
        src: &str,
        file: &str,
        dir: Option<&Path>,
        loader: &dyn SourceLoader,
        stack: &mut Vec<PathBuf>,
    ) {
        let mut last = 0;
        for (n, raw) in src.lines().enumerate() {
            self.seq += 1;
            last = n + 1;
            self.source_line(raw, file, n + 1, dir, loader, stack, 0);
        }
        if let Some(m) = self.recording.take() {
            self.diag(
                file,
                last,
                1,
                "",
                format!(
                    "macro `{}` (defined at line {}) has no `.endm`",
                    m.name, m.line
                ),
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn source_line(
        &mut self,
        raw: &str,
        file: &str,
        lineno: usize,
        dir: Option<&Path>,
        loader: &dyn SourceLoader,
        stack: &mut Vec<PathBuf>,
        depth: usize,
    ) {
        let code = strip_comment(raw);
        if let Some(m) = self.recording.as_mut() {
            let t = code.trim();
            if t == ".endm" || t.starts_with(".endm ") {
                let m = self.recording.take().expect("recording");
                self.macros.insert(m.name.clone(), m);
            } else if t.starts_with(".macro") {
                self.diag(
                    file,
                    lineno,
                    1,
                    t,
                    "macros cannot be defined inside a macro; close the first with `.endm`".into(),
                );
            } else {
                m.body.push(code.to_string());
            }
            return;
        }
        let mut rest = code.trim_start();
        let mut col = code.len() - rest.len() + 1;
        // Labels: `name:` (several may precede an instruction).
        while let Some(colon) = rest.find(':') {
            let name = rest[..colon].trim();
            // `a:unif` / `r:unif` in branches are not labels.
            if !is_ident(name) || rest[..colon].contains(char::is_whitespace) {
                break;
            }
            if name == "a" || name == "r" {
                break;
            }
            if self.labels.insert(name.to_string(), self.count).is_some() {
                self.diag(
                    file,
                    lineno,
                    col,
                    name,
                    format!("label `{name}` is defined twice; rename one of them"),
                );
            }
            let after = &rest[colon + 1..];
            let trimmed = after.trim_start();
            col += colon + 1 + (after.len() - trimmed.len());
            rest = trimmed;
        }
        let rest = rest.trim_end();
        if rest.is_empty() {
            return;
        }
        if let Some(directive) = rest.strip_prefix('.') {
            self.directive(rest, directive, file, lineno, col, dir, loader, stack);
            return;
        }
        let head = rest.split_whitespace().next().unwrap_or("");
        if let Some(m) = self.macros.get(head).cloned() {
            self.expand(&m, rest, head, file, lineno, col, dir, loader, stack, depth);
            return;
        }
        self.lines.push(Line {
            file: file.to_string(),
            line: lineno,
            code: format!("{}{}", " ".repeat(col - 1), rest),
            index: Some(self.count),
            seq: self.seq,
            in_macro: self.expanding.last().cloned(),
        });
        self.count += 1;
    }

    /// Expands a macro invocation: `\param` becomes the argument, `\@` a number unique to this
    /// expansion (for labels). Errors inside point at the invocation.
    #[allow(clippy::too_many_arguments)]
    fn expand(
        &mut self,
        m: &Macro,
        call: &str,
        head: &str,
        file: &str,
        lineno: usize,
        col: usize,
        dir: Option<&Path>,
        loader: &dyn SourceLoader,
        stack: &mut Vec<PathBuf>,
        depth: usize,
    ) {
        if depth >= 64 {
            self.diag(
                file,
                lineno,
                col,
                call,
                format!("macro `{}` expands too deeply (recursion?)", m.name),
            );
            return;
        }
        let args_text = call[head.len()..].trim();
        let args: Vec<&str> = if args_text.is_empty() {
            Vec::new()
        } else {
            args_text.split(',').map(str::trim).collect()
        };
        if args.len() != m.params.len() {
            self.diag(
                file,
                lineno,
                col,
                call,
                format!(
                    "macro `{}` takes {} argument{} ({}), but {} were given",
                    m.name,
                    m.params.len(),
                    if m.params.len() == 1 { "" } else { "s" },
                    m.params.join(", "),
                    args.len()
                ),
            );
            return;
        }
        self.unique += 1;
        let unique = self.unique.to_string();
        // Longest parameter names first, so `\ab` is not taken for `\a` followed by `b`.
        let mut order: Vec<usize> = (0..m.params.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(m.params[i].len()));
        self.expanding.push(m.name.clone());
        for body_line in &m.body {
            let mut line = body_line.replace("\\@", &unique);
            for &i in &order {
                line = line.replace(&format!("\\{}", m.params[i]), args[i]);
            }
            self.source_line(&line, file, lineno, dir, loader, stack, depth + 1);
        }
        self.expanding.pop();
    }

    #[allow(clippy::too_many_arguments)]
    fn directive(
        &mut self,
        whole: &str,
        d: &str,
        file: &str,
        line: usize,
        col: usize,
        dir: Option<&Path>,
        loader: &dyn SourceLoader,
        stack: &mut Vec<PathBuf>,
    ) {
        let (name, args) = match d.find(char::is_whitespace) {
            Some(i) => (&d[..i], d[i..].trim()),
            None => (d, ""),
        };
        match name {
            "include" => {
                let Some(path) = args
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .filter(|s| !s.is_empty())
                else {
                    self.diag(
                        file,
                        line,
                        col,
                        whole,
                        "expected `.include \"path\"` with the path in double quotes".into(),
                    );
                    return;
                };
                let full = match dir {
                    Some(dir) => dir.join(path),
                    None => PathBuf::from(path),
                };
                if stack.contains(&full) || stack.len() > 32 {
                    self.diag(
                        file,
                        line,
                        col,
                        whole,
                        format!("`{}` includes itself (an include cycle)", full.display()),
                    );
                    return;
                }
                match loader.load(&full) {
                    Ok(text) => {
                        stack.push(full.clone());
                        let name = full.display().to_string();
                        self.read_source(&text, &name, full.parent(), loader, stack);
                        stack.pop();
                    }
                    Err(e) => self.diag(
                        file,
                        line,
                        col,
                        whole,
                        format!("cannot read included file `{}`: {e}", full.display()),
                    ),
                }
            }
            "set" | "equ" => {
                let mut parts = args.splitn(2, |c: char| c == ',' || c.is_whitespace());
                let key = parts.next().unwrap_or("").trim();
                let value = parts
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_start_matches(',')
                    .trim();
                if !is_ident(key) || value.is_empty() {
                    self.diag(
                        file,
                        line,
                        col,
                        whole,
                        format!("expected `.{name} NAME, VALUE`"),
                    );
                    return;
                }
                let value = self
                    .constants
                    .get(value)
                    .cloned()
                    .unwrap_or(value.to_string());
                self.constants.insert(key.to_string(), value);
            }
            "macro" => {
                let (mname, params) = match args.find(char::is_whitespace) {
                    Some(i) => (&args[..i], args[i..].trim()),
                    None => (args, ""),
                };
                let params: Vec<String> = if params.is_empty() {
                    Vec::new()
                } else {
                    params.split(',').map(|p| p.trim().to_string()).collect()
                };
                if !is_ident(mname) || params.iter().any(|p| !is_ident(p)) {
                    self.diag(
                        file,
                        line,
                        col,
                        whole,
                        "expected `.macro NAME param, param, ...`".into(),
                    );
                    return;
                }
                self.recording = Some(Macro {
                    name: mname.to_string(),
                    params,
                    body: Vec::new(),
                    line,
                });
            }
            "endm" => self.diag(file, line, col, whole, "`.endm` without `.macro`".into()),
            _ => self.diag(
                file,
                line,
                col,
                whole,
                format!(
                    "unknown directive `.{name}`; expected .include, .set, .equ, .macro or .endm"
                ),
            ),
        }
    }

    /// Pass 2: parse and encode every instruction.
    fn finish(mut self) -> Result<Program, Vec<Diagnostic>> {
        let mut program = Program {
            labels: self.labels.clone(),
            ..Program::default()
        };
        let lines = std::mem::take(&mut self.lines);
        for l in &lines {
            let index = l.index.unwrap_or(0);
            let mut p = LineParser {
                asm: &self,
                file: &l.file,
                line: l.line,
                index,
                diags: Vec::new(),
            };
            let instr = p.instruction(&l.code);
            let mut diags = p.diags;
            if let Some(m) = &l.in_macro {
                for d in &mut diags {
                    d.message = format!("in macro `{m}`: {}", d.message);
                }
            }
            if let Some(instr) = instr {
                match encode(&instr) {
                    Ok(w) => program.words.push(w),
                    Err(e) => {
                        let start = l.code.len() - l.code.trim_start().len();
                        let context = l
                            .in_macro
                            .as_ref()
                            .map(|m| format!("in macro `{m}`: "))
                            .unwrap_or_default();
                        diags.push(Diagnostic {
                            file: l.file.clone(),
                            line: l.line,
                            column: start + 1,
                            text: l.code.trim().to_string(),
                            message: format!("{context}cannot encode this instruction: {e}"),
                        });
                    }
                }
            }
            program.lines.push((l.file.clone(), l.line));
            self.diags.extend(diags.into_iter().map(|d| (l.seq, d)));
        }
        if self.diags.is_empty() {
            Ok(program)
        } else {
            // Report in source order; stable, so pass-1 errors of a line come first.
            self.diags.sort_by_key(|(seq, _)| *seq);
            Err(self.diags.into_iter().map(|(_, d)| d).collect())
        }
    }
}

/// A piece of a line with its 1-based column.
#[derive(Clone, Copy)]
struct Piece<'a> {
    text: &'a str,
    col: usize,
}

/// Splits `text` (starting at column `col`) on `sep`, trimming each piece.
fn split<'a>(text: &'a str, col: usize, sep: char) -> Vec<Piece<'a>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, ch) in text
        .char_indices()
        .chain(std::iter::once((text.len(), sep)))
    {
        if ch == sep {
            let raw = &text[start..i];
            let trimmed = raw.trim_start();
            let lead = raw.len() - trimmed.len();
            out.push(Piece {
                text: trimmed.trim_end(),
                col: col + start + lead,
            });
            start = i + ch.len_utf8();
        }
    }
    out
}

struct LineParser<'a> {
    asm: &'a Assembler,
    file: &'a str,
    line: usize,
    index: usize,
    diags: Vec<Diagnostic>,
}

/// Which ALU a mnemonic can run on.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Add,
    Mul,
}

const SIGNAL_NAMES: [&str; 11] = [
    "thrsw",
    "ldunif",
    "ldunifa",
    "ldunifrf",
    "ldunifarf",
    "ldtmu",
    "ldvary",
    "ldtlb",
    "ldtlbu",
    "ucb",
    "wrtmuc",
];

impl LineParser<'_> {
    fn err(&mut self, p: Piece<'_>, message: String) {
        self.diags.push(Diagnostic {
            file: self.file.to_string(),
            line: self.line,
            column: p.col,
            text: p.text.to_string(),
            message,
        });
    }

    fn instruction(&mut self, code: &str) -> Option<Instr> {
        let parts = split(code, 1, ';');
        let first = parts[0];
        let mnemonic = first.text.split_whitespace().next().unwrap_or("");
        if is_branch_mnemonic(mnemonic) {
            if parts.len() > 1 {
                self.err(parts[1], "a branch takes no mul op or signals".into());
            }
            return self.branch(first);
        }

        let mut instr = AluInstr::NOP;
        let mut have_add = false;
        let mut have_mul = false;
        let mut ok = true;
        for (k, part) in parts.iter().enumerate() {
            if part.text.is_empty() {
                self.err(
                    *part,
                    "empty part between `;`s; expected an op or a signal".into(),
                );
                ok = false;
                continue;
            }
            let name = part
                .text
                .split(|c: char| c.is_whitespace() || c == '.')
                .next()
                .unwrap_or("");
            let is_add = AddOp::from_name(name).is_some();
            let is_mul = MulOp::from_name(name).is_some();
            let is_sig = SIGNAL_NAMES.contains(&name);
            if k == 0 && is_add {
                ok &= self.alu_part(*part, Side::Add, &mut instr);
                have_add = true;
            } else if !have_mul && is_mul && !is_sig && (k == 1 || (k == 0 && !is_add)) {
                ok &= self.alu_part(*part, Side::Mul, &mut instr);
                have_mul = true;
            } else if is_sig {
                ok &= self.signal(*part, &mut instr);
            } else if is_add && have_add {
                self.err(
                    *part,
                    format!("`{name}` here would be a second add op; the mul ALU does not have it"),
                );
                ok = false;
            } else {
                let what = if k == 0 {
                    "an add op, a mul op or a signal"
                } else if !have_mul && k == 1 {
                    "a mul op or a signal"
                } else {
                    "a signal (thrsw, ldunif, ldunifa, ldunifrf, ldunifarf, ldtmu, ldvary, ldtlb, ldtlbu, ucb, wrtmuc)"
                };
                self.err(*part, format!("unknown mnemonic `{name}`; expected {what}"));
                ok = false;
            }
        }
        ok.then_some(Instr::Alu(instr))
    }

    /// Replaces a named constant by its value.
    fn resolve<'b>(&self, text: &'b str) -> std::borrow::Cow<'b, str> {
        // Only the base (before the first `.suffix`) can be a constant name.
        let (base, suffix) = match text.find('.') {
            Some(i) if is_ident(&text[..i]) => (&text[..i], &text[i..]),
            _ => (text, ""),
        };
        match self.asm.constants.get(base) {
            Some(v) => std::borrow::Cow::Owned(format!("{v}{suffix}")),
            None => std::borrow::Cow::Borrowed(text),
        }
    }

    fn alu_part(&mut self, part: Piece<'_>, side: Side, instr: &mut AluInstr) -> bool {
        let (head, args) = match part.text.find(char::is_whitespace) {
            Some(i) => (&part.text[..i], part.text[i..].trim_start()),
            None => (part.text, ""),
        };
        let args_col = part.col + (part.text.len() - args.len());
        let mut mods = head.split('.');
        let name = mods.next().unwrap_or("");
        let mut flags = AluFlags::default();
        let mut ok = true;
        for m in mods {
            let p = Piece {
                text: m,
                col: part.col,
            };
            if let Some(c) = Cond::ALL.iter().find(|c| c.name() == m) {
                ok &= self.set_once(&mut flags.cond, *c, p, "condition");
            } else if let Some(f) = Pf::ALL.iter().find(|f| f.name() == m) {
                ok &= self.set_once(&mut flags.pf, *f, p, "flag push");
            } else if let Some(u) = Uf::ALL.iter().find(|u| u.name() == m) {
                ok &= self.set_once(&mut flags.uf, *u, p, "flag update");
            } else {
                self.err(
                    p,
                    format!(
                        "unknown modifier `.{m}` on `{name}`; expected a condition (ifa, ifb, ifna, ifnb), a push (pushz, pushn, pushc) or an update (andz ... norc)"
                    ),
                );
                ok = false;
            }
        }
        let (nsrc, dst) = match side {
            Side::Add => {
                let op = AddOp::from_name(name).expect("checked by caller");
                (op.nsrc(), op.has_dst())
            }
            Side::Mul => {
                let op = MulOp::from_name(name).expect("checked by caller");
                (op.nsrc(), op.has_dst())
            }
        };
        let mut expected = usize::from(dst) + usize::from(nsrc);
        let operands: Vec<Piece<'_>> = if args.is_empty() {
            Vec::new()
        } else {
            split(args, args_col, ',')
        };
        // Shorthand: a source-less op written without its destination (`tmuwt`, `vpmwt`)
        // writes nowhere (`-`).
        let implicit_nop_dst = dst && nsrc == 0 && operands.is_empty();
        if implicit_nop_dst {
            expected = 0;
        }
        if operands.len() != expected {
            let shape = match (dst, nsrc) {
                (false, 0) => "no operands".to_string(),
                (true, 0) => "a destination".to_string(),
                (true, n) => format!(
                    "a destination and {n} source{}",
                    if n > 1 { "s" } else { "" }
                ),
                (false, n) => format!("{n} source{}", if n > 1 { "s" } else { "" }),
            };
            self.err(
                part,
                format!(
                    "`{name}` takes {shape}, but {} operand{} given",
                    operands.len(),
                    if operands.len() == 1 {
                        " was"
                    } else {
                        "s were"
                    }
                ),
            );
            return false;
        }
        let mut it = operands.into_iter();
        let mut dst_w = Waddr::NOP;
        let mut pack = Pack::None;
        if dst && !implicit_nop_dst {
            let p = it.next().expect("counted");
            match self.dest(p) {
                Some((w, pk)) => {
                    dst_w = w;
                    pack = pk;
                }
                None => ok = false,
            }
        }
        let mut inputs = [Input::default(); 2];
        for slot in inputs.iter_mut().take(usize::from(nsrc)) {
            let p = it.next().expect("counted");
            match self.source(p) {
                Some(i) => *slot = i,
                None => ok = false,
            }
        }
        if !ok {
            return false;
        }
        match side {
            Side::Add => {
                instr.add = AddAlu {
                    op: AddOp::from_name(name).expect("checked"),
                    dst: dst_w,
                    pack,
                    a: inputs[0],
                    b: inputs[1],
                    flags,
                }
            }
            Side::Mul => {
                instr.mul = MulAlu {
                    op: MulOp::from_name(name).expect("checked"),
                    dst: dst_w,
                    pack,
                    a: inputs[0],
                    b: inputs[1],
                    flags,
                }
            }
        }
        true
    }

    fn set_once<T>(&mut self, slot: &mut Option<T>, v: T, p: Piece<'_>, what: &str) -> bool {
        if slot.is_some() {
            self.err(p, format!("a second {what}; an ALU takes at most one"));
            false
        } else {
            *slot = Some(v);
            true
        }
    }

    /// A register or magic name, without suffixes.
    fn waddr(&mut self, p: Piece<'_>, text: &str) -> Option<Waddr> {
        if let Some(n) = text.strip_prefix("rf") {
            if let Ok(n) = n.parse::<u8>() {
                if n < 64 {
                    return Some(Waddr::Rf(n));
                }
            }
            self.err(
                p,
                format!("`{text}` is not a register; expected rf0 .. rf63"),
            );
            return None;
        }
        if let Some(m) = Magic::from_name(text) {
            return Some(Waddr::Magic(m));
        }
        self.err(
            p,
            format!("`{text}` is not a destination; expected rf0 .. rf63 or a magic address (tmua, tmud, unifa, rep, quad, syncb, -, ...)"),
        );
        None
    }

    fn dest(&mut self, p: Piece<'_>) -> Option<(Waddr, Pack)> {
        let resolved = self.resolve(p.text).into_owned();
        let (base, suffix) = match resolved.split_once('.') {
            Some((b, s)) => (b.to_string(), Some(s.to_string())),
            None => (resolved.clone(), None),
        };
        let w = self.waddr(p, &base)?;
        let pack = match suffix.as_deref() {
            None => Pack::None,
            Some("l") => Pack::L,
            Some("h") => Pack::H,
            Some(s) => {
                self.err(
                    p,
                    format!("`.{s}` is not an output pack; expected `.l` or `.h`"),
                );
                return None;
            }
        };
        Some((w, pack))
    }

    fn source(&mut self, p: Piece<'_>) -> Option<Input> {
        let resolved = self.resolve(p.text).into_owned();
        let (base, suffixes) = split_number_suffix(&resolved);
        let unpack = match suffixes {
            "" => Unpack::None,
            s => match s.strip_prefix('.').and_then(Unpack::from_suffix) {
                Some(u) => u,
                None => {
                    self.err(
                        p,
                        format!("`{s}` is not an input unpack; expected one of .abs .l .h .sat .nsat .max0 .ff .ll .hh .swp .ul .uh .il .ih"),
                    );
                    return None;
                }
            },
        };
        if base.starts_with("rf") {
            let w = self.waddr(p, base)?;
            let Waddr::Rf(n) = w else { unreachable!() };
            return Some(Input {
                src: Src::Rf(n),
                unpack,
            });
        }
        match parse_number(base) {
            Some(bits) => match small_imm_index(bits) {
                Some(i) => Some(Input {
                    src: Src::SmallImm(i),
                    unpack,
                }),
                None => {
                    self.err(
                        p,
                        format!("`{base}` is not a small immediate; the encodable values are -16..15 and the floats 2^-8 .. 2^7 (0x3b800000 .. 0x43000000)"),
                    );
                    None
                }
            },
            None => {
                self.err(
                    p,
                    format!("`{base}` is not a source; expected rf0 .. rf63, a small immediate, or a `.set` constant"),
                );
                None
            }
        }
    }

    fn signal(&mut self, p: Piece<'_>, instr: &mut AluInstr) -> bool {
        let (name, addr) = match p.text.split_once('.') {
            Some((n, a)) => (n, Some(a)),
            None => (p.text, None),
        };
        if name.contains(char::is_whitespace) {
            self.err(
                p,
                "a signal takes no operands; an address goes after a dot, e.g. `ldtmu.rf3`".into(),
            );
            return false;
        }
        let mut one = Signals::default();
        one.set_by_name(name);
        let takes_addr = one.writes_address();
        let mut before = instr.sig;
        if !before.set_by_name(name) || before == instr.sig {
            self.err(p, format!("signal `{name}` is given twice"));
            return false;
        }
        instr.sig = before;
        match (takes_addr, addr) {
            (true, Some(a)) => {
                let resolved = self.resolve(a).into_owned();
                let Some(w) = self.waddr(p, &resolved) else {
                    return false;
                };
                if instr.sig_addr.is_some() {
                    self.err(
                        p,
                        "only one signal per instruction can write an address".into(),
                    );
                    return false;
                }
                instr.sig_addr = Some(w);
                true
            }
            (true, None) => {
                self.err(
                    p,
                    format!("`{name}` writes a register: give it, e.g. `{name}.rf3`"),
                );
                false
            }
            (false, Some(_)) => {
                self.err(p, format!("`{name}` takes no address"));
                false
            }
            (false, None) => true,
        }
    }

    fn branch(&mut self, p: Piece<'_>) -> Option<Instr> {
        let (head, args) = match p.text.find(char::is_whitespace) {
            Some(i) => (&p.text[..i], p.text[i..].trim_start()),
            None => (p.text, ""),
        };
        let args_col = p.col + (p.text.len() - args.len());
        let (link, ub, cond, msfign) = parse_branch_mnemonic(head)?;
        let ops: Vec<Piece<'_>> = if args.is_empty() {
            Vec::new()
        } else {
            split(args, args_col, ',')
        };
        let want = if ub { 2 } else { 1 };
        if ops.len() != want {
            self.err(
                p,
                if ub {
                    format!("`{head}` takes a code target and a uniform target (a:unif, r:unif, lri or rfN)")
                } else {
                    format!("`{head}` takes one target: a label, a relative byte offset, zero_addr+ADDR, lri or rfN")
                },
            );
            return None;
        }
        let mut b = BranchInstr {
            cond,
            msfign,
            dest: BranchDest::Rel,
            offset: 0,
            unif: None,
            raddr_a: 0,
            link,
        };
        let t = ops[0];
        let target = self.resolve(t.text).into_owned();
        let mut reg: Option<u8> = None;
        if let Some(addr) = target.strip_prefix("zero_addr+") {
            b.dest = BranchDest::Abs;
            match parse_number(addr) {
                Some(v) => b.offset = v,
                None => {
                    self.err(t, format!("`{addr}` is not an address"));
                    return None;
                }
            }
        } else if target == "lri" {
            b.dest = BranchDest::LinkReg;
        } else if target.starts_with("rf") {
            let Waddr::Rf(n) = self.waddr(t, &target)? else {
                unreachable!()
            };
            b.dest = BranchDest::Regfile;
            reg = Some(n);
        } else if let Some(v) = parse_number(&target) {
            b.offset = v;
        } else if is_ident(&target) {
            match self.asm.labels.get(&target) {
                Some(&to) => {
                    // Relative to the instruction after the three delay slots
                    // (py-videocore7 computes `(label - serial - 4) * 8`).
                    let delta = (to as i64 - (self.index as i64 + 4)) * 8;
                    b.offset = delta as i32 as u32;
                }
                None => {
                    self.err(t, format!("unknown label `{target}`"));
                    return None;
                }
            }
        } else {
            self.err(t, format!("`{target}` is not a branch target"));
            return None;
        }
        if b.offset & 7 != 0 {
            self.err(
                t,
                format!(
                    "branch offset {} is not a multiple of 8 bytes",
                    b.offset as i32
                ),
            );
            return None;
        }
        if ub {
            let u = ops[1];
            let text = self.resolve(u.text).into_owned();
            b.unif = Some(match text.as_str() {
                "a:unif" => BranchDest::Abs,
                "r:unif" => BranchDest::Rel,
                "lri" => BranchDest::LinkReg,
                s if s.starts_with("rf") => {
                    let Waddr::Rf(n) = self.waddr(u, s)? else {
                        unreachable!()
                    };
                    if reg.is_some_and(|r| r != n) {
                        self.err(u, "the code and uniform targets share one register field; use the same register".into());
                        return None;
                    }
                    reg = Some(n);
                    BranchDest::Regfile
                }
                _ => {
                    self.err(
                        u,
                        format!(
                            "`{text}` is not a uniform target; expected a:unif, r:unif, lri or rfN"
                        ),
                    );
                    return None;
                }
            });
        }
        b.raddr_a = reg.unwrap_or(0);
        Some(Instr::Branch(b))
    }
}

fn is_branch_mnemonic(m: &str) -> bool {
    parse_branch_mnemonic(m).is_some()
}

/// `b[l][u][.cond][p|q]`.
fn parse_branch_mnemonic(m: &str) -> Option<(bool, bool, BranchCond, Msfign)> {
    let mut rest = m.strip_prefix('b')?;
    let link = if let Some(r) = rest.strip_prefix('l') {
        rest = r;
        true
    } else {
        false
    };
    let ub = if let Some(r) = rest.strip_prefix('u') {
        rest = r;
        true
    } else {
        false
    };
    let (mut cond_part, msf) = match rest.strip_suffix('p') {
        Some(r) => (r, Msfign::P),
        None => match rest.strip_suffix('q') {
            Some(r) => (r, Msfign::Q),
            None => (rest, Msfign::None),
        },
    };
    let cond = if cond_part.is_empty() {
        BranchCond::Always
    } else {
        cond_part = cond_part.strip_prefix('.')?;
        *BranchCond::ALL
            .iter()
            .find(|c| !c.name().is_empty() && c.name() == cond_part)?
    };
    Some((link, ub, cond, msf))
}

/// Splits a source operand into its value and its `.unpack` suffix, minding float literals
/// (`0.5.l` is 0.5 with `.l`).
fn split_number_suffix(s: &str) -> (&str, &str) {
    let bytes = s.as_bytes();
    let mut i = 0;
    if i < bytes.len() && (bytes[i] == b'-' || bytes[i] == b'+') {
        i += 1;
    }
    if i < bytes.len() && bytes[i].is_ascii_digit() {
        if s[i..].starts_with("0x") {
            i += 2;
            while i < bytes.len() && bytes[i].is_ascii_hexdigit() {
                i += 1;
            }
        } else {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
        }
        return (&s[..i], &s[i..]);
    }
    match s.find('.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

/// Parses an integer (decimal or hex, signed) or a float literal into the 32 bits it stands for.
fn parse_number(s: &str) -> Option<u32> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let value: i64 = if let Some(hex) = body.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if body.contains('.') || body.contains('e') {
        let f: f32 = s.parse().ok()?;
        return Some(f.to_bits());
    } else {
        body.parse().ok()?
    };
    let v = if neg { -value } else { value };
    if !(i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&v) {
        return None;
    }
    Some(v as u32)
}

/// The set of signal names, for tools that list them.
pub fn signal_names() -> HashSet<&'static str> {
    SIGNAL_NAMES.iter().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asm(src: &str) -> Result<Vec<u64>, Vec<Diagnostic>> {
        assemble(src, "t.qasm", None, &FsLoader).map(|p| p.words)
    }

    #[test]
    fn text_after_a_number_is_an_error_not_a_panic() {
        // Found by the `assemble` fuzz target: a multi-byte character right after a number.
        let e = asm("fsub rf18.l, 12\u{48d}, rf2").unwrap_err();
        assert!(e[0].message.contains("is not an input unpack"), "{}", e[0]);
        assert!(asm("mov rf1, 3x").is_err());
    }

    #[test]
    fn numbers_and_suffixes() {
        assert_eq!(split_number_suffix("-16.h"), ("-16", ".h"));
        assert_eq!(split_number_suffix("0.5.l"), ("0.5", ".l"));
        assert_eq!(split_number_suffix("0x3d000000"), ("0x3d000000", ""));
        assert_eq!(split_number_suffix("rf3.abs"), ("rf3", ".abs"));
        assert_eq!(parse_number("-1"), Some(u32::MAX));
        assert_eq!(parse_number("1.0"), Some(0x3f80_0000));
    }

    #[test]
    fn labels_give_delay_slot_relative_offsets() {
        let w = asm("top: nop\nb top\nnop\nnop\nnop").unwrap();
        // from index 1: target 0 - (1 + 4) = -5 instructions = -40 bytes
        match crate::decode(w[1]).unwrap() {
            Instr::Branch(b) => assert_eq!(b.offset as i32, -40),
            _ => panic!(),
        }
    }

    #[test]
    fn constants_substitute() {
        let a = asm(".set S, 7\nadd rf1, rf2, S").unwrap();
        let b = asm("add rf1, rf2, 7").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn macros_expand_with_arguments_and_unique_labels() {
        let src = ".macro butterfly a, b, t\n\
                   add \\t, \\a, \\b\n\
                   sub \\b, \\a, \\b\n\
                   l\\@: mov \\a, \\t\n\
                   .endm\n\
                   butterfly rf1, rf2, rf9\n\
                   butterfly rf3, rf4, rf9\n";
        let by_hand = "add rf9, rf1, rf2\nsub rf2, rf1, rf2\nmov rf1, rf9\n\
                       add rf9, rf3, rf4\nsub rf4, rf3, rf4\nmov rf3, rf9\n";
        assert_eq!(asm(src).unwrap(), asm(by_hand).unwrap());
        let e = asm(".macro m a\nadd \\a, rf1, rf2\n.endm\nm rf1, rf2\nm rf77\n").unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].message.contains("takes 1 argument"), "{}", e[0]);
        assert_eq!(e[1].line, 5);
        assert!(
            asm(".macro m\nnop\n").unwrap_err()[0]
                .message
                .contains("no `.endm`")
        );
    }

    #[test]
    fn every_error_is_reported() {
        let e = asm("add rf1, rf2\nfoo rf1\nadd rf99, rf1, rf2").unwrap_err();
        assert_eq!(e.len(), 3, "{e:?}");
        assert_eq!(e[0].line, 1);
        assert_eq!(e[1].line, 2);
        assert_eq!(e[2].line, 3);
    }
}
