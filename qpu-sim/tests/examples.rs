//! The example programs in docs/examples run and compute what their headers say; the scopy
//! example also checks the timing model against py-videocore7's measured Pi 5 figures; and
//! the job-file contract of `qpu sim` is exercised end to end.

mod common;
use common::*;
use std::path::{Path, PathBuf};

use qpu_sim::job::{JobError, RunOptions, run_job_file};
use qpu_sim::{DispatchOptions, Gpu, GpuConfig, Stats};

fn example(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/examples")
        .join(name);
    match qpu_asm::assemble_file(&path) {
        Ok(p) => p.to_bytes(),
        Err(d) => panic!("{}: {}", path.display(), d[0]),
    }
}

/// Copies `bytes` with the scopy example on `qpus` QPUs; returns the stats.
pub fn scopy(bytes: u32, qpus: u32) -> Stats {
    let src_addr = 0x0100_0000;
    let dst_addr = 0x0800_0000;
    let mut gpu = Gpu::new(GpuConfig::default());
    gpu.map_bo(CODE, example("scopy.qasm")).unwrap();
    let iters = bytes / (512 * qpus);
    let unif = [
        iters,
        src_addr,
        dst_addr,
        256 * qpus,
        0xfc80_fcfc,
        (-8i32) as u32,
    ];
    gpu.map_bo(UNIF, words_to_bytes(&unif)).unwrap();
    let data: Vec<u32> = (0..bytes / 4)
        .map(|i| i.wrapping_mul(2_654_435_761))
        .collect();
    gpu.map_bo(src_addr, words_to_bytes(&data)).unwrap();
    gpu.map_bo(dst_addr, vec![0; bytes as usize]).unwrap();
    let st = gpu
        .dispatch(cfg(qpus, 1, false), DispatchOptions::default())
        .unwrap_or_else(|f| panic!("{f}"));
    let (d, s) = (
        bytes_to_words(gpu.bo(dst_addr).unwrap()),
        bytes_to_words(gpu.bo(src_addr).unwrap()),
    );
    if let Some(i) = (0..d.len()).find(|&i| d[i] != s[i]) {
        panic!(
            "the copy differs at word {i}: {:#x} instead of {:#x}",
            d[i], s[i]
        );
    }
    st
}

#[test]
fn scopy_copies_and_matches_the_measured_pi5_bandwidth() {
    // py-videocore7 README (Pi 5): 1,689 MB/s on one QPU thread, 4,142 MB/s on 12 QPUs.
    let bytes = 3 << 20;
    for (qpus, measured) in [(1, 1689.0), (12, 4142.0)] {
        let st = scopy(bytes, qpus);
        let mbs = f64::from(bytes) / st.seconds() / 1e6;
        let err = (mbs - measured) / measured;
        println!("scopy on {qpus} QPU(s): modelled {mbs:.0} MB/s, Pi 5 measured {measured} MB/s");
        assert!(
            err.abs() < 0.05,
            "{qpus} QPU(s): modelled {mbs:.0} MB/s, measured on a Pi 5 {measured} MB/s"
        );
    }
}

#[test]
fn vector_add() {
    let n_threads = 24u32;
    let iters = 5u32;
    let n = 16 * n_threads * iters;
    let a: Vec<u32> = (0..n).map(|i| (i as f32 * 0.5).to_bits()).collect();
    let b: Vec<u32> = (0..n).map(|i| (1000.0 - i as f32).to_bits()).collect();
    let mut s = Setup {
        gpu: Gpu::new(GpuConfig::default()),
    };
    s.gpu.map_bo(CODE, example("vector_add.qasm")).unwrap();
    let unif = [buf(0), buf(1), buf(2), iters, 64 * n_threads];
    s.gpu.map_bo(UNIF, words_to_bytes(&unif)).unwrap();
    for (i, v) in [a.clone(), b.clone(), vec![0; n as usize]]
        .iter()
        .enumerate()
    {
        s.gpu.map_bo(buf(i), words_to_bytes(v)).unwrap();
    }
    let st = s.run(cfg(n_threads, 1, false)).unwrap();
    let c = s.words(2);
    for i in 0..n as usize {
        let want = f32::from_bits(a[i]) + f32::from_bits(b[i]);
        assert_eq!(c[i], want.to_bits(), "element {i}");
    }
    assert!(st.thread_switches() >= u64::from(n_threads * iters));
}

#[test]
fn barrier_sum() {
    let batches = 12u32;
    let input: Vec<u32> = (0..16 * batches).map(|i| i * 3 + 1).collect();
    let mut s = Setup {
        gpu: Gpu::new(GpuConfig::default()),
    };
    s.gpu.map_bo(CODE, example("barrier_sum.qasm")).unwrap();
    let unif = [buf(0), buf(1), buf(2), batches];
    s.gpu.map_bo(UNIF, words_to_bytes(&unif)).unwrap();
    s.gpu.map_bo(buf(0), words_to_bytes(&input)).unwrap();
    s.gpu.map_bo(buf(1), vec![0; 4 * batches as usize]).unwrap();
    s.gpu
        .map_bo(buf(2), vec![0; 64 * batches as usize])
        .unwrap();
    s.run(cfg(batches, batches, false)).unwrap();
    let partial = s.words(1);
    for b in 0..batches as usize {
        assert_eq!(partial[b], input[b * 16..b * 16 + 16].iter().sum::<u32>());
    }
    let total: u32 = input.iter().sum();
    assert_eq!(s.words(2), vec![total; 16 * batches as usize]);
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("qpu-sim-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn job_file_runs_and_writes_buffers_back() {
    let dir = temp_dir("job");
    std::fs::write(dir.join("code.bin"), example("barrier_sum.qasm")).unwrap();
    let input: Vec<u32> = (0..16 * 12).collect();
    std::fs::write(
        dir.join("unif.bin"),
        words_to_bytes(&[buf(0), buf(1), buf(2), 12]),
    )
    .unwrap();
    std::fs::write(dir.join("in.bin"), words_to_bytes(&input)).unwrap();
    std::fs::write(dir.join("partial.bin"), vec![0; 48]).unwrap();
    std::fs::write(dir.join("total.bin"), vec![0; 64 * 12]).unwrap();
    let c = cfg(12, 12, false);
    let job = format!(
        r#"{{"bos":[{{"addr":{CODE},"file":"code.bin"}},{{"addr":{UNIF},"file":"unif.bin"}},
            {{"addr":{},"file":"in.bin"}},{{"addr":{},"file":"partial.bin"}},{{"addr":{},"file":"total.bin"}}],
            "cfg":{c:?},"qpus":12,"max_steps":1000000}}"#,
        buf(0),
        buf(1),
        buf(2)
    );
    std::fs::write(dir.join("job.json"), job).unwrap();
    let mut trace: Vec<u8> = Vec::new();
    let report = run_job_file(
        &dir.join("job.json"),
        RunOptions {
            trace: Some(&mut trace),
        },
    )
    .unwrap();
    assert!(report.fault.is_none(), "{report}");
    let text = report.to_string();
    assert!(text.starts_with("batches 12  instructions "), "{text}");
    let total = bytes_to_words(&std::fs::read(dir.join("total.bin")).unwrap());
    assert_eq!(total, vec![input.iter().sum::<u32>(); 16 * 12]);
    assert!(
        String::from_utf8(trace)
            .unwrap()
            .contains("barrierid syncb")
    );

    // A fault is reported (the CLI exits 1) and the buffers are still written back.
    let job = format!(
        r#"{{"bos":[{{"addr":{CODE},"file":"code.bin"}},{{"addr":{UNIF},"file":"unif.bin"}}],"cfg":{c:?},"max_steps":1000000}}"#
    );
    std::fs::write(dir.join("bad.json"), job).unwrap();
    let report = run_job_file(&dir.join("bad.json"), RunOptions::default()).unwrap();
    let f = report
        .fault
        .as_ref()
        .expect("input buffer missing: a fault");
    assert!(
        report.to_string().contains("outside every buffer object"),
        "{f}"
    );

    // Problems with the job itself are errors naming the file.
    std::fs::write(dir.join("broken.json"), r#"{"bos":[],"cfg":[1,2,3]}"#).unwrap();
    let e = run_job_file(&dir.join("broken.json"), RunOptions::default()).unwrap_err();
    assert!(matches!(e, JobError::ParseJob { .. }), "{e}");
    assert!(e.to_string().contains("broken.json"));
    let job = format!(r#"{{"bos":[{{"addr":0,"file":"missing.bin"}}],"cfg":{c:?}}}"#);
    std::fs::write(dir.join("missing.json"), job).unwrap();
    let e = run_job_file(&dir.join("missing.json"), RunOptions::default()).unwrap_err();
    assert!(matches!(e, JobError::ReadBo { .. }), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
