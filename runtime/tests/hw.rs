//! The hardware backend on a real V3D 7.1. Without one (any machine but a Pi 5) each test
//! checks that the absence is reported as `Error::NoDevice`, says so on its output and returns.

use std::path::Path;
use std::time::Duration;

use runtime::{BackendKind, Device, Dispatch, Error, ProgramOptions, SimConfig};

const WAIT: Duration = Duration::from_secs(10);

/// The v3d device, or `None` (printed) when this machine has none. Any other failure to open
/// it (permissions, an unsupported GPU) fails the test with the runtime's message.
fn hw() -> Option<Device> {
    match Device::open_hw() {
        Ok(dev) => {
            assert_eq!(dev.backend(), BackendKind::Hardware);
            println!("testing on {} ({})", dev.description(), dev.identity());
            Some(dev)
        }
        Err(e @ Error::NoDevice { .. }) => {
            let text = e.to_string();
            assert!(text.contains("\"v3d\""), "{text}");
            println!("no v3d GPU on this machine, hardware checks skipped: {text}");
            None
        }
        Err(e) => panic!("the v3d GPU is present but unusable: {e}"),
    }
}

fn words(name: &str) -> Vec<u64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/kernels")
        .join(format!("{name}.qasm"));
    qpu_asm::assemble_file(&path)
        .unwrap_or_else(|d| panic!("{}: {d:?}", path.display()))
        .words
}

#[test]
fn identity_is_a_pi5_v3d() {
    let Some(dev) = hw() else { return };
    let id = dev.identity();
    assert_eq!(id.ver(), 71);
    assert!(id.supports_csd);
    assert!(id.qpu_count() >= 1);
    println!("{id:?}");
}

#[test]
fn buffers_round_trip_through_the_mapping() {
    let Some(dev) = hw() else { return };
    let mut b = dev.alloc(10_000).unwrap();
    assert_ne!(b.gpu_addr(), 0);
    assert_eq!(b.to_vec().unwrap(), vec![0; 10_000]);
    let pattern: Vec<u32> = (0..2500).map(|i| i * 2654435761u32).collect();
    b.write_pod(0, &pattern).unwrap();
    assert_eq!(b.read_pod::<u32>(0, 2500).unwrap(), pattern);
    let m = b.map(WAIT).unwrap();
    assert_eq!(m.len(), 10_000);
}

/// The same job on the GPU and on the emulator gives the same bytes, which also settles the
/// `cfg[4]` revision rule on this board: one batch too many or too few changes the output.
#[test]
fn thread_ids_match_the_emulator() {
    let Some(dev) = hw() else { return };
    let id = dev.identity();
    let emu = Device::open_sim(SimConfig {
        rev: id.rev,
        slices: id.slices,
        qpus_per_slice: id.qpus_per_slice,
        ..SimConfig::default()
    })
    .unwrap();
    let mut outputs = Vec::new();
    for d in [&dev, &emu] {
        let prog = d
            .upload_program(&words("thread_ids"), ProgramOptions::default())
            .unwrap();
        let mut out = d.alloc(64 * 16 * 4).unwrap();
        out.fill(0xee).unwrap();
        for threads in [1, 12, 24] {
            d.run(
                &Dispatch::threads(&prog, threads)
                    .uniforms(&[out.gpu_addr(), 0x5a00_0000 + threads])
                    .buffer(&out),
                WAIT,
            )
            .unwrap();
            outputs.push(out.to_vec().unwrap());
        }
    }
    let (gpu, sim) = outputs.split_at(3);
    assert_eq!(gpu, sim, "the GPU and the emulator disagree (cfg {:?})", id);
}

#[test]
fn perf_counters_are_listed_where_offered() {
    let Some(dev) = hw() else { return };
    if !dev.identity().supports_perfmon {
        println!("this kernel has no perfmon support; nothing to check");
        return;
    }
    let counters = dev.perf_counters().unwrap();
    assert!(!counters.is_empty());
    for c in &counters {
        println!("{:3} {:32} {}", c.index, c.name, c.description);
    }
    let pm = dev.perf_monitor(&[0]).unwrap();
    let prog = dev
        .upload_program(&words("thread_ids"), ProgramOptions::default())
        .unwrap();
    let out = dev.alloc(16 * 4 * 12).unwrap();
    dev.run(
        &Dispatch::threads(&prog, 12)
            .uniforms(&[out.gpu_addr(), 0])
            .buffer(&out)
            .perfmon(&pm),
        WAIT,
    )
    .unwrap();
    println!("{} = {:?}", counters[0].name, pm.values().unwrap());
}
