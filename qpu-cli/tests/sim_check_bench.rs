//! `qpu sim` (the JOB.json contract), `qpu check` and `qpu bench`, through the real binary.

use std::path::Path;
use std::process::{Command, Output};

fn qpu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qpu"))
        .args(args)
        .env("DAEDALUS_BACKEND", "sim")
        .output()
        .expect("run qpu")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Each thread writes its tidx into 16 words at `out + tidx * 64`.
const TIDS: &str = "
    nop ; ldunifrf.rf1
    tidx rf2
    eidx rf3
    shl rf4, rf2, 6
    shl rf3, rf3, 2
    add rf4, rf4, rf3
    add rf1, rf1, rf4
    mov tmud, rf2
    mov tmua, rf1
    tmuwt
    thrsw
    thrsw
    nop
    nop
    thrsw
    nop
    nop
    nop
";

fn job(dir: &Path, program: &str, uniform: u32) -> std::path::PathBuf {
    std::fs::write(dir.join("p.qasm"), program).unwrap();
    let out = qpu(&[
        "asm",
        dir.join("p.qasm").to_str().unwrap(),
        "-o",
        dir.join("code.bin").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(dir.join("unif.bin"), uniform.to_le_bytes()).unwrap();
    std::fs::write(dir.join("out.bin"), vec![0xeeu8; 4096]).unwrap();
    // 12 batches of 16 lanes: cfg[3] = one 16-invocation workgroup per supergroup, cfg[4] =
    // the batch count (the Pi 5's rule, the emulator's default).
    let json = format!(
        r#"{{"bos":[{{"addr":65536,"file":"code.bin"}},{{"addr":131072,"file":"unif.bin"}},{{"addr":196608,"file":"out.bin"}}],
            "cfg":[{},{},{},{},12,65536,131072],"qpus":12,"max_steps":100000}}"#,
        12 << 16,
        1 << 16,
        1 << 16,
        (1 << 8) | 16
    );
    let path = dir.join("job.json");
    std::fs::write(&path, json).unwrap();
    path
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("qpu-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn sim_runs_a_job_and_writes_the_buffers_back() {
    let dir = tempdir("sim");
    let path = job(&dir, TIDS, 196608);
    let out = qpu(&["sim", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("batches 12"), "{}", text(&out));
    let bytes = std::fs::read(dir.join("out.bin")).unwrap();
    for qpu_i in 0..12u32 {
        let tidx = qpu_i << 2; // one thread per QPU: slot 0
        for lane in 0..16 {
            let at = (tidx * 64 + lane * 4) as usize;
            let w = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
            assert_eq!(w, tidx, "QPU {qpu_i} lane {lane}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sim_exits_1_on_a_fault_and_names_it() {
    let dir = tempdir("simfault");
    // The uniform points the writes at address 0, inside no buffer object.
    let path = job(&dir, TIDS, 0);
    let out = qpu(&["sim", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("qpu") && t.contains("pc"), "{t}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sim_rejects_a_malformed_job() {
    let dir = tempdir("simbad");
    std::fs::write(dir.join("job.json"), "{\"cfg\": [1, 2]}").unwrap();
    let out = qpu(&["sim", dir.join("job.json").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_prints_one_line_per_kernel() {
    let out = qpu(&["check", "--seed", "7", "-n", "40"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for k in [
        "h264_idct4",
        "h264_idct8",
        "h264_idct4_dc",
        "h264_idct8_dc",
        "vp9_itxfm4",
        "vp9_itxfm8",
        "vp9_iwht4",
    ] {
        assert!(
            t.contains(&format!("{k}: 40/40 bit-exact")),
            "{k} missing in\n{t}"
        );
    }
    let out = qpu(&["check", "--kernel", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("unknown kernel `nope`"));
}

#[test]
fn bench_prints_the_table_with_its_assumptions() {
    let out = qpu(&["bench", "--kernel", "h264_idct4_dc"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let row = t
        .lines()
        .find(|l| l.starts_with("h264_idct4_dc"))
        .unwrap_or_else(|| panic!("no row in\n{t}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[1], "129600");
    assert_eq!(cols.last(), Some(&"yes"));
    let ms: f64 = cols[6].parse().unwrap();
    assert!(ms > 0.0 && ms < 100.0, "{row}");
    assert!(t.contains("800 MHz"), "{t}");
}
