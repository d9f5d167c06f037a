//! The `qpu asm` / `qpu disasm` contract, through the real binary.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn qpu(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_qpu"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run qpu");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

const PROGRAM: &str = "top:\n  eidx rf1 ; nop ; ldunifrf.rf2\n  add.pushz rf1, rf1, rf2 ; fmul rf3, rf1, 1.0\n  b.anyna top\n  nop\n  nop\n  nop\n";

#[test]
fn asm_writes_little_endian_words_and_disasm_reads_them() {
    let dir = std::env::temp_dir().join(format!("qpu-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("p.qasm");
    let bin = dir.join("p.bin");
    std::fs::write(&src, PROGRAM).unwrap();
    let out = qpu(
        &["asm", src.to_str().unwrap(), "-o", bin.to_str().unwrap()],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&bin).unwrap();
    assert_eq!(bytes.len(), 6 * 8);
    // The first word is eidx + ldunifrf, in little-endian order.
    let w0 = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    assert_eq!(qpu_asm_text(w0), "eidx rf1 ; nop ; ldunifrf.rf2");

    let out = qpu(&["disasm", "--addr", bin.to_str().unwrap()], b"");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6);
    assert!(lines[0].starts_with("0x0000: eidx rf1"), "{}", lines[0]);
    assert!(lines[2].starts_with("0x0010: b.anyna  -48"), "{}", lines[2]);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn qpu_asm_text(w: u64) -> String {
    let out = qpu(&["disasm", "--hex", "-"], format!("{w:x}\n").as_bytes());
    qpu_asm_fold(&String::from_utf8(out.stdout).unwrap())
}

fn qpu_asm_fold(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn hex_format_and_stdin_round_trip() {
    let out = qpu(&["asm", "-", "--format", "hex"], PROGRAM.as_bytes());
    assert!(out.status.success());
    let hex = String::from_utf8(out.stdout).unwrap();
    assert_eq!(hex.lines().count(), 6);
    assert!(hex.lines().all(|l| l.len() == 18 && l.starts_with("0x")));
    let out = qpu(&["disasm", "--hex", "-"], hex.as_bytes());
    assert!(out.status.success());
    // The disassembly assembles back to the same words.
    let again = qpu(&["asm", "-", "--format", "hex"], &out.stdout);
    assert_eq!(String::from_utf8(again.stdout).unwrap(), hex);
}

#[test]
fn errors_exit_1_with_diagnostics() {
    let out = qpu(&["asm", "-"], b"add rf1, rf2\nfoo\n");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("<stdin>:1:1: error"), "{err}");
    assert!(err.contains("<stdin>:2:1: error"), "{err}");
    assert!(err.contains("2 errors"), "{err}");

    let out = qpu(&["disasm", "-"], &[0u8; 12]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("not a whole number of 8-byte")
    );

    let out = qpu(
        &["disasm", "--hex", "-"],
        b"0x38003186bb03f000\n0x0000000000000000\nzz\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("line 3"));

    // An undecodable word is reported with its offset; the others still print.
    let out = qpu(&["disasm", "--hex", "-"], b"38003186bb03f000\n0\n");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("nop"), "{text}");
    assert!(text.contains("# invalid instruction 0x0000000000000000"));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("offset 0x8")
    );
}

#[test]
fn mesa_syntax_switch() {
    let out = qpu(&["disasm", "--hex", "--mesa", "-"], b"0x380031acf903f043\n");
    assert_eq!(
        qpu_asm_fold(&String::from_utf8(out.stdout).unwrap()),
        "mov tmuscm, rf1 ; nop"
    );
    let out = qpu(&["disasm", "--hex", "-"], b"0x380031acf903f043\n");
    assert_eq!(
        qpu_asm_fold(&String::from_utf8(out.stdout).unwrap()),
        "mov tmuhscm, rf1 ; nop"
    );
}
