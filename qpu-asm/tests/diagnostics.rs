//! The assembler's diagnostics, as a person sees them: every error of a file, with
//! file:line:column, the offending text and what was expected.

use std::collections::HashMap;
use std::path::Path;

use qpu_asm::{SourceLoader, assemble};

/// Serves includes from memory, so the tests need no files.
struct Mem(HashMap<&'static str, &'static str>);

impl SourceLoader for Mem {
    fn load(&self, path: &Path) -> std::io::Result<String> {
        self.0
            .get(path.to_str().unwrap_or(""))
            .map(|s| s.to_string())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
    }
}

fn diagnostics(src: &str) -> String {
    let files = Mem(HashMap::from([
        ("lib/consts.qinc", ".set STRIDE, 8\n.set PTR, rf12\n"),
        ("lib/bad.qinc", "add rf1, rf2, rf3\nfrob rf1\n"),
        ("lib/loop.qinc", ".include \"loop.qinc\"\n"),
    ]));
    match assemble(src, "kernel.qasm", Some(Path::new("lib")), &files) {
        Ok(p) => format!("ok: {} words", p.words.len()),
        Err(d) => d.iter().map(|d| format!("{d}\n")).collect(),
    }
}

#[test]
fn unknown_mnemonics_and_operand_counts() {
    insta::assert_snapshot!(diagnostics(
        "fadd rf1, rf2\n\
         frobnicate rf1, rf2\n\
         nop ; fmul rf1, rf2, rf3, rf4\n\
         add rf1, rf2, rf3 ; add rf4, rf5, rf6 ; thrsw ; bogus\n"
    ));
}

#[test]
fn bad_operands() {
    insta::assert_snapshot!(diagnostics(
        "add rf64, rf1, rf2\n\
         add rf1, 17, rf2\n\
         fadd rf1, rf2.zz, rf3\n\
         mov tmux, rf1\n\
         add rf1.q, rf2, rf3\n\
         fmul rf1, 0.3, rf2\n"
    ));
}

#[test]
fn encoding_rules() {
    insta::assert_snapshot!(diagnostics(
        "add rf1, 1, rf2 ; fmul rf3, rf4, 2.0\n\
         add.ifa.pushz rf1, rf2, rf3 ; fmul.ifb.pushn rf4, rf5, rf6\n\
         add.ifa rf1, rf2, rf3 ; ldtmu.rf4\n\
         add rf1, rf2.abs, rf3\n\
         faddnf rf1, rf2, rf2\n\
         ldtmu\n\
         thrsw ; thrsw\n"
    ));
}

#[test]
fn labels_branches_and_directives() {
    insta::assert_snapshot!(diagnostics(
        "top: nop\n\
         top: nop\n\
         b nowhere\n\
         b.anyna 12\n\
         bu.a0 top\n\
         bu top, rf3 ; thrsw\n\
         .frob 1\n\
         .set\n\
         .include \"missing.qinc\"\n\
         .include \"bad.qinc\"\n\
         .include \"loop.qinc\"\n"
    ));
}

#[test]
fn constants_and_includes_assemble() {
    insta::assert_snapshot!(diagnostics(
        ".include \"consts.qinc\"\n\
         loop:\n\
         add PTR, PTR, STRIDE   # comment\n\
         sub.pushz rf1, rf1, 1  // comment\n\
         b.anyna loop\n\
         nop\n\
         nop\n\
         nop\n"
    ));
}

#[test]
fn macro_errors() {
    insta::assert_snapshot!(diagnostics(
        ".macro twice a\n\
         add \\a, \\a, \\a\n\
         frob \\a\n\
         .endm\n\
         twice rf1\n\
         twice rf1, rf2\n\
         .endm\n\
         .macro 9bad\n\
         .macro open x\n\
         nop\n"
    ));
}
