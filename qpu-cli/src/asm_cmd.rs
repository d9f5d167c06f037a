//! `qpu asm` and `qpu disasm`.

use std::path::Path;

use anyhow::{Result, bail};
use qpu_asm::{Diagnostic, FsLoader, Syntax, assemble, decode};

/// Assembles `src` read from `path` (`-` for standard input: includes resolve against the
/// current directory).
pub fn assemble_source(src: &str, path: &Path) -> Result<Vec<u64>, Vec<Diagnostic>> {
    let (name, dir) = if path == Path::new("-") {
        ("<stdin>".to_string(), None)
    } else {
        (path.display().to_string(), path.parent())
    };
    assemble(src, &name, dir, &FsLoader).map(|p| p.words)
}

/// Parses one hex word per line (`0x` optional; blank lines and `#` comments skipped).
pub fn parse_hex_words(bytes: &[u8]) -> Result<Vec<u64>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("the --hex input is not UTF-8 text"))?;
    let mut words = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let t = line.split('#').next().unwrap_or("").trim();
        if t.is_empty() {
            continue;
        }
        let digits = t
            .strip_prefix("0x")
            .or_else(|| t.strip_prefix("0X"))
            .unwrap_or(t);
        match u64::from_str_radix(digits, 16) {
            Ok(w) => words.push(w),
            Err(_) => bail!(
                "line {}: `{t}` is not a 64-bit hex word (up to 16 hex digits, `0x` optional)",
                n + 1
            ),
        }
    }
    Ok(words)
}

/// Disassembles `words`: the text (one line per word) and one message per word that does not
/// decode (its line shows the raw word as a comment).
pub fn disassemble_words(words: &[u64], addr: bool, mesa: bool) -> (String, Vec<String>) {
    let syntax = if mesa { Syntax::Mesa } else { Syntax::Daedalus };
    let mut out = String::new();
    let mut errors = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if addr {
            out.push_str(&format!("{:#06x}: ", i * 8));
        }
        match decode(*w) {
            Ok(instr) => out.push_str(instr.to_text(syntax).trim_end()),
            Err(e) => {
                out.push_str(&format!("# invalid instruction 0x{w:016x}"));
                errors.push(format!("offset {:#x}: {e}", i * 8));
            }
        }
        out.push('\n');
    }
    (out, errors)
}
