//! Assembles every `src/*.qasm` kernel at build time into `$OUT_DIR/code.rs`: one
//! `pub const NAME: &[u64]` per kernel. An assembler error fails the build with the
//! assembler's own diagnostics.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let src = Path::new("src");
    println!("cargo:rerun-if-changed=src");
    let mut entries: Vec<_> = std::fs::read_dir(src)
        .expect("read kernels/src")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "qasm"))
        .collect();
    entries.sort();
    let mut out = String::new();
    let mut names = Vec::new();
    let mut failed = false;
    for path in &entries {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        match qpu_asm::assemble_file(path) {
            Ok(p) => {
                writeln!(
                    out,
                    "/// `src/{name}.qasm`, assembled ({} instructions).",
                    p.words.len()
                )
                .unwrap();
                write!(out, "pub const {}: &[u64] = &[", name.to_uppercase()).unwrap();
                for w in &p.words {
                    write!(out, "{w:#018x},").unwrap();
                }
                out.push_str("];\n");
                names.push(name);
            }
            Err(diags) => {
                failed = true;
                for d in diags {
                    for line in d.to_string().lines() {
                        println!("cargo:warning={line}");
                    }
                }
            }
        }
    }
    out.push_str("/// Every kernel: (name, code).\npub const ALL: &[(&str, &[u64])] = &[");
    for n in &names {
        write!(out, "(\"{n}\", {}),", n.to_uppercase()).unwrap();
    }
    out.push_str("];\n");
    if failed {
        panic!("a kernel does not assemble; see the warnings above");
    }
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("code.rs");
    std::fs::write(dest, out).expect("write code.rs");
}
