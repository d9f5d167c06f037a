//! Every row of Mesa's reference vectors (`tests/data/mesa-v71-vectors.tsv`, a copy of the
//! project's `../shared/isa/mesa-v71-vectors.tsv`, kept in the tree so that a clone anywhere
//! runs these tests).
//!
//! For every row: `Syntax::Mesa` prints Mesa's TEXT (white space folded), the default syntax
//! reads back to WORD, and assembling TEXT gives WORD up to the bits the hardware ignores
//! (`canonicalize`). Two kinds of rows show where Mesa's text loses information, and are
//! checked for exactly that:
//! - words with the `ucb` signal: Mesa prints nothing for it, our default text adds `; ucb`;
//! - words whose signal field names a small immediate for an input the op does not read
//!   (a don't-care pattern Mesa keeps when it re-packs): TEXT assembles to the canonical word.

use std::path::PathBuf;

use qpu_asm::{FsLoader, Instr, Syntax, assemble, canonicalize, decode, encode, fold_whitespace};

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/mesa-v71-vectors.tsv")
}

/// Where the project's shared reference copy lives, when the checkout sits beside it.
fn shared_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/isa/mesa-v71-vectors.tsv")
}

#[test]
fn the_copy_in_the_tree_is_the_shared_one() {
    let ours = std::fs::read(vectors_path()).expect("read tests/data/mesa-v71-vectors.tsv");
    match std::fs::read(shared_path()) {
        Ok(shared) => assert!(
            ours == shared,
            "tests/data/mesa-v71-vectors.tsv differs from {}; copy the shared file over it",
            shared_path().display()
        ),
        Err(_) => println!(
            "no shared copy at {} (a checkout not beside ../shared); the tree's copy is used as is",
            shared_path().display()
        ),
    }
    assert_eq!(
        String::from_utf8_lossy(&ours).lines().count(),
        1395,
        "the reference vectors have 1,395 rows"
    );
}

fn rows() -> Vec<(u64, String)> {
    let text = std::fs::read_to_string(vectors_path()).expect("read vectors");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (w, t) = l.split_once('\t').expect("WORD<TAB>TEXT");
            let w = u64::from_str_radix(w.trim_start_matches("0x"), 16).expect("hex word");
            (w, t.to_string())
        })
        .collect()
}

fn asm_one(text: &str) -> Result<u64, String> {
    match assemble(text, "vector", None, &FsLoader) {
        Ok(p) if p.words.len() == 1 => Ok(p.words[0]),
        Ok(p) => Err(format!("{} words", p.words.len())),
        Err(d) => Err(d[0].to_string()),
    }
}

#[test]
fn every_row_disassembles_to_mesa_text_and_reencodes() {
    let rows = rows();
    assert!(rows.len() >= 1395, "only {} rows", rows.len());
    let mut bad = Vec::new();
    for (w, text) in &rows {
        match decode(*w) {
            Ok(i) => {
                let got = fold_whitespace(&i.to_text(Syntax::Mesa));
                if got != fold_whitespace(text) {
                    bad.push(format!("{w:#018x}: got `{got}`, Mesa `{text}`"));
                }
                let canon = canonicalize(*w).unwrap();
                assert_eq!(encode(&i).unwrap(), canon, "{w:#018x} does not re-encode");
            }
            Err(e) => bad.push(format!("{w:#018x}: {e} (Mesa `{text}`)")),
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} rows differ:\n{}",
        bad.len(),
        rows.len(),
        bad.join("\n")
    );
}

#[test]
fn every_row_assembles_back_to_its_word() {
    let rows = rows();
    let (mut ucb_rows, mut dont_care_rows) = (0, 0);
    let mut bad = Vec::new();
    for (w, text) in &rows {
        let instr = decode(*w).unwrap();
        let canon = canonicalize(*w).unwrap();
        let has_ucb = matches!(instr, Instr::Alu(a) if a.sig.ucb);
        // Our own text always reads back to the word (up to ignored bits).
        let ours = instr.to_string();
        if asm_one(&ours) != Ok(canon) {
            bad.push(format!("own text `{ours}` does not give {canon:#018x}"));
        }
        // Mesa's text gives the word, except that Mesa drops `ucb`.
        let mesa_text = if has_ucb {
            ucb_rows += 1;
            let squash = |s: &str| s.split_whitespace().collect::<String>();
            assert_eq!(squash(&ours), squash(&format!("{text};ucb")), "{w:#018x}");
            format!("{text} ; ucb")
        } else {
            text.clone()
        };
        if canon != *w {
            dont_care_rows += 1;
        }
        match asm_one(&mesa_text) {
            Ok(got) if got == canon => {}
            Ok(got) => bad.push(format!("`{text}`: got {got:#018x}, want {canon:#018x}")),
            Err(e) => bad.push(format!("`{text}`: {e}")),
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} rows differ:\n{}",
        bad.len(),
        rows.len(),
        bad.join("\n")
    );
    // The two exceptions are real and few; if the file changes, look again.
    assert!(ucb_rows > 0 && ucb_rows < 60, "{ucb_rows} ucb rows");
    assert!(
        dont_care_rows < 20,
        "{dont_care_rows} rows with ignored bits set"
    );
}
