//! `qpu run` and `qpu info` through the real binary, on the emulator (DAEDALUS_BACKEND=sim).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn qpu(backend: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qpu"))
        .args(args)
        .env("DAEDALUS_BACKEND", backend)
        .output()
        .expect("run qpu")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn kernel(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../runtime/tests/kernels")
        .join(format!("{name}.qasm"))
        .display()
        .to_string()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("qpu-run-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn run_dispatches_and_dumps_the_buffers() {
    let k = kernel("thread_ids");
    let out = qpu(
        "sim",
        &[
            "run",
            &k,
            "--threads",
            "2",
            "--buffer",
            "out=0x80",
            "--uniform",
            "@out",
            "-u",
            "0x100",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("buffer out (128 bytes at 0x"),
        "{stdout}"
    );
    assert_eq!(
        lines[1],
        "  0x0000: 00000100 00000101 00000102 00000103 00000104 00000105 00000106 00000107"
    );
    assert_eq!(
        lines[4],
        "  0x0060: 00000118 00000119 0000011a 0000011b 0000011c 0000011d 0000011e 0000011f"
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("backend: sim"), "{stderr}");
    assert!(stderr.contains("cfg [00020000, "), "{stderr}");
    assert!(stderr.contains("emulator: 40 instructions"), "{stderr}");
}

#[test]
fn run_loads_files_and_writes_buffers_out() {
    let dir = scratch("files");
    let input: Vec<u8> = (0..12u32 * 16)
        .flat_map(|i| (i * 3).to_le_bytes())
        .collect();
    std::fs::write(dir.join("in.bin"), &input).unwrap();
    let k = kernel("add_one");
    let infile = format!("in=:{}", dir.join("in.bin").display());
    let outdir = dir.join("dump");
    let out = qpu(
        "sim",
        &[
            "run",
            &k,
            "-t",
            "12",
            "-b",
            &infile,
            "-b",
            "res=768",
            "-u",
            "@in,@res",
            "--dump",
            "none",
            "--out-dir",
            outdir.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let res = std::fs::read(outdir.join("res.bin")).unwrap();
    let want: Vec<u8> = (0..12u32 * 16)
        .flat_map(|i| (i * 3 + 1).to_le_bytes())
        .collect();
    assert_eq!(res, want);
    assert_eq!(std::fs::read(outdir.join("in.bin")).unwrap(), input);
}

#[test]
fn run_reports_bad_input_clearly() {
    let k = kernel("thread_ids");
    let cases: [(&[&str], &str); 5] = [
        (
            &["run", &k, "-b", "out=64", "-u", "@nope"],
            "names buffer `nope`, but the buffers are: out",
        ),
        (&["run", &k, "-b", "out"], "NAME=SIZE"),
        (&["run", &k, "-b", "out=64", "-b", "out=64"], "given twice"),
        (&["run", &k, "-t", "0"], "workgroup count x is 0"),
        (&["run", "/nonexistent.qasm"], "reading /nonexistent.qasm"),
    ];
    for (args, want) in cases {
        let out = qpu("sim", args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}

#[test]
fn run_turns_a_fault_and_a_runaway_kernel_into_errors() {
    let out = qpu("sim", &["run", &kernel("store_at"), "-u", "0xf0000000"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("outside every buffer object"), "{stderr}");

    let out = qpu("sim", &["run", &kernel("forever"), "--timeout", "0.2"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("still running after 200ms"), "{stderr}");

    let out = qpu("sim", &["run", &kernel("forever"), "--max-steps", "10000"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("GPU hang"), "{stderr}");
    assert!(stderr.contains("step limit of 10000"), "{stderr}");
}

#[test]
fn info_names_the_backend_and_the_gpu() {
    let out = qpu("sim", &["info"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("backend:     sim"), "{stdout}");
    assert!(stdout.contains("gpu:         V3D 7.1"), "{stdout}");
    assert!(
        stdout.contains("qpus:        12 (3 slices x 4 QPUs)"),
        "{stdout}"
    );

    let out = qpu("bogus", &["info"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("DAEDALUS_BACKEND is `bogus`"));

    // Asking for the hardware: the GPU on a Pi 5, a clear error elsewhere.
    let out = qpu("hw", &["info"]);
    if out.status.success() {
        assert!(text(&out.stdout).contains("backend:     hw"));
    } else {
        let stderr = text(&out.stderr);
        assert!(stderr.contains("no v3d GPU found"), "{stderr}");
        println!("no v3d GPU here: {stderr}");
    }
}
