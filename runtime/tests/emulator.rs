//! The whole API on the emulator backend: allocation, upload, dispatch with several thread
//! counts and shapes, uniform streams, chained jobs, timeouts, hangs, out-of-bounds kernels
//! and the argument checks.

use std::path::Path;
use std::time::{Duration, Instant};

use runtime::{
    BackendKind, Buffer, Device, Dispatch, Error, Program, ProgramOptions, Shape, SimConfig,
    Supergroups,
};

const WAIT: Duration = Duration::from_secs(60);
const MAGIC: u32 = 0x5a00_0000;
/// What the output buffers are filled with before a job, so untouched words show.
const GUARD: u32 = 0xdead_beef;

fn sim() -> Device {
    Device::open_sim(SimConfig::default()).expect("open the emulator")
}

fn words(name: &str) -> Vec<u64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/kernels")
        .join(format!("{name}.qasm"));
    match qpu_asm::assemble_file(&path) {
        Ok(p) => p.words,
        Err(diags) => panic!(
            "{}: {}",
            path.display(),
            diags
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn program(dev: &Device, name: &str) -> Program {
    dev.upload_program(&words(name), ProgramOptions::default())
        .expect("upload")
}

fn guarded(dev: &Device, words: usize) -> Buffer {
    let mut b = dev.alloc((words * 4) as u32).unwrap();
    b.write_pod(0, &vec![GUARD; words]).unwrap();
    b
}

/// Checks the thread_ids.qasm output: `threads` batches wrote `magic + slot`, nothing else
/// was touched.
fn check_thread_ids(out: &Buffer, threads: usize, magic: u32) {
    let got: Vec<u32> = out.read_pod(0, out.size() as usize / 4).unwrap();
    for (slot, &w) in got.iter().enumerate() {
        let want = if slot < threads * 16 {
            magic + slot as u32
        } else {
            GUARD
        };
        assert_eq!(
            w, want,
            "word {slot} with {threads} threads: {w:#010x}, want {want:#010x}"
        );
    }
}

#[test]
fn device_reports_the_emulated_pi5() {
    let dev = sim();
    assert_eq!(dev.backend(), BackendKind::Emulator);
    let id = dev.identity();
    assert_eq!((id.major, id.minor, id.qpu_count()), (7, 1, 12));
    assert!(id.supports_csd);
    assert!(
        dev.description().contains("qpu-sim"),
        "{}",
        dev.description()
    );
}

#[test]
fn buffers_have_distinct_aligned_addresses_and_keep_their_bytes() {
    let dev = sim();
    let mut a = dev.alloc(100).unwrap();
    let b = dev.alloc(5000).unwrap();
    let c = dev.alloc(1).unwrap();
    let mut spans: Vec<(u64, u64)> = [&a, &b, &c]
        .iter()
        .map(|x| {
            assert_ne!(x.gpu_addr(), 0);
            assert_eq!(x.gpu_addr() % 4096, 0, "{x:?}");
            (u64::from(x.gpu_addr()), u64::from(x.size()))
        })
        .collect();
    spans.sort();
    for w in spans.windows(2) {
        assert!(w[0].0 + w[0].1 <= w[1].0, "overlap: {spans:?}");
    }
    assert_eq!(a.to_vec().unwrap(), vec![0; 100], "new buffers are zeroed");
    a.write(10, b"daedalus").unwrap();
    let mut back = [0u8; 8];
    a.read(10, &mut back).unwrap();
    assert_eq!(&back, b"daedalus");
    {
        let mut m = a.map(WAIT).unwrap();
        assert_eq!(&m[10..18], b"daedalus");
        m[0] = 7;
    }
    assert_eq!(
        a.read_pod::<u8>(0, 1).unwrap(),
        vec![7],
        "the mapping was written back"
    );

    // A freed buffer's range is reused.
    let addr = b.gpu_addr();
    drop(b);
    let d = dev.alloc(4096).unwrap();
    assert_eq!(d.gpu_addr(), addr);
}

#[test]
fn buffer_misuse_is_a_clear_error() {
    let dev = sim();
    let mut a = dev.alloc(16).unwrap();
    match a.write(12, &[0; 8]) {
        Err(Error::OutOfRange { offset, len, size }) => {
            assert_eq!((offset, len, size), (12, 8, 16))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.read_pod::<u32>(4, 4),
        Err(Error::OutOfRange { .. })
    ));
    let e = dev.alloc(0).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    assert_eq!(e.errno(), Some(22));
    let e = dev
        .upload_program(&[], ProgramOptions::default())
        .unwrap_err();
    assert!(e.to_string().contains("no instructions"), "{e}");
}

#[test]
fn memory_runs_out_with_enomem() {
    let dev = Device::open_sim(SimConfig {
        memory_limit: 64 * 1024,
        ..SimConfig::default()
    })
    .unwrap();
    let _a = dev.alloc(40 * 1024).unwrap();
    let e = dev.alloc(40 * 1024).unwrap_err();
    match &e {
        Error::OutOfMemory { size, errno, .. } => assert_eq!((*size, *errno), (40 * 1024, 12)),
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("out of GPU memory"), "{e}");
}

#[test]
fn dispatch_runs_exactly_the_requested_threads() {
    let dev = sim();
    let prog = program(&dev, "thread_ids");
    // 1 thread, one per QPU, a few more than the QPUs, every slot of 2-thread QPUs, and more
    // batches than the GPU runs at once.
    for threads in [1usize, 12, 13, 24, 40] {
        let out = guarded(&dev, 48 * 16);
        let job = dev
            .submit(
                &Dispatch::threads(&prog, threads as u32)
                    .uniforms(&[out.gpu_addr(), MAGIC])
                    .buffer(&out),
            )
            .unwrap();
        // The cfg words are the documented ones: count in X, 16-lane workgroups, one batch each.
        assert_eq!(job.cfg()[0], (threads as u32) << 16);
        assert_eq!(job.cfg()[3], 0x110);
        assert_eq!(job.cfg()[4], threads as u32, "rev 6 counts batches exactly");
        job.wait(WAIT).unwrap();
        check_thread_ids(&out, threads, MAGIC);
        let stats = job.emulator_stats().expect("emulator statistics");
        assert_eq!(stats.batches as usize, threads);
        // 20 instructions issue per thread: the 21st word is past the last thrsw's two
        // delay slots.
        assert_eq!(stats.instructions(), 20 * threads as u64);
    }
}

#[test]
fn both_batch_count_revisions_run_the_same_threads() {
    // The runtime encodes cfg[4] for the device's revision and the emulator decodes it with
    // the same rule, so a revision-5 GPU runs the same job with cfg[4] one lower.
    for rev in [5u8, 6] {
        let dev = Device::open_sim(SimConfig {
            rev,
            ..SimConfig::default()
        })
        .unwrap();
        let prog = program(&dev, "thread_ids");
        let out = guarded(&dev, 32 * 16);
        let job = dev
            .run(
                &Dispatch::threads(&prog, 12)
                    .uniforms(&[out.gpu_addr(), MAGIC])
                    .buffer(&out),
                WAIT,
            )
            .unwrap();
        assert_eq!(job.cfg()[4], if rev < 6 { 11 } else { 12 });
        check_thread_ids(&out, 12, MAGIC);
    }
}

#[test]
fn workgroup_shapes_and_supergroup_packing() {
    let dev = sim();
    let prog = program(&dev, "thread_ids");
    // 5 workgroups of 16 in X: the payload's X is the workgroup, 5 batches.
    for sg in [
        Supergroups::default(),
        Supergroups::Fixed(5),
        Supergroups::Fixed(16),
    ] {
        let out = guarded(&dev, 16 * 16);
        dev.run(
            &Dispatch::new(
                &prog,
                Shape::Workgroups {
                    count: [5, 1, 1],
                    size: [4, 4, 1],
                },
            )
            .supergroups(sg)
            .uniforms(&[out.gpu_addr(), MAGIC])
            .buffer(&out),
            WAIT,
        )
        .unwrap();
        check_thread_ids(&out, 5, MAGIC);
    }
}

#[test]
fn uniform_streams_from_words_and_from_a_buffer() {
    let dev = sim();
    let prog = program(&dev, "thread_ids");
    let out = guarded(&dev, 16 * 16);
    // Every thread starts at the same stream: all 3 threads see the same magic.
    dev.run(
        &Dispatch::threads(&prog, 3)
            .uniforms(&[out.gpu_addr(), 0x1000])
            .buffer(&out),
        WAIT,
    )
    .unwrap();
    check_thread_ids(&out, 3, 0x1000);

    // A stream 64 bytes into a buffer of the caller's.
    let out2 = guarded(&dev, 16 * 16);
    let mut unif = dev.alloc(256).unwrap();
    unif.write_pod(64, &[out2.gpu_addr(), 0x7700_0000]).unwrap();
    dev.run(
        &Dispatch::threads(&prog, 4)
            .uniforms_in(&unif, 64)
            .buffer(&out2),
        WAIT,
    )
    .unwrap();
    check_thread_ids(&out2, 4, 0x7700_0000);

    let e = dev
        .submit(&Dispatch::threads(&prog, 1).uniforms_in(&unif, 6))
        .unwrap_err();
    assert!(e.to_string().contains("4-byte aligned"), "{e}");
}

#[test]
fn chained_jobs_see_each_others_results() {
    let dev = sim();
    let ids = program(&dev, "thread_ids");
    let add = program(&dev, "add_one");
    let a = guarded(&dev, 12 * 16);
    let b = guarded(&dev, 12 * 16);
    let c = guarded(&dev, 12 * 16);
    let first = dev
        .submit(
            &Dispatch::threads(&ids, 12)
                .uniforms(&[a.gpu_addr(), MAGIC])
                .buffer(&a),
        )
        .unwrap();
    let second = dev
        .submit(
            &Dispatch::threads(&add, 12)
                .uniforms(&[a.gpu_addr(), b.gpu_addr()])
                .buffers(&[&a, &b])
                .after(&first),
        )
        .unwrap();
    let third = dev
        .submit(
            &Dispatch::threads(&add, 12)
                .uniforms(&[b.gpu_addr(), c.gpu_addr()])
                .buffers(&[&b, &c])
                .after(&first)
                .after(&second),
        )
        .unwrap();
    // Waiting for the last is enough: the others ran before it.
    third.wait(WAIT).unwrap();
    check_thread_ids(&c, 12, MAGIC + 2);
    first.wait(Duration::ZERO).unwrap();
    second.wait(Duration::ZERO).unwrap();
    check_thread_ids(&b, 12, MAGIC + 1);
    // Buffer::wait_idle waits for the last job using the buffer.
    c.wait_idle(Duration::ZERO).unwrap();
}

#[test]
fn dropping_a_buffer_while_its_job_is_queued_keeps_the_job_valid() {
    let dev = sim();
    let prog = program(&dev, "thread_ids");
    let out = guarded(&dev, 12 * 16);
    let addr = out.gpu_addr();
    let job = dev
        .submit(
            &Dispatch::threads(&prog, 12)
                .uniforms(&[addr, MAGIC])
                .buffer(&out),
        )
        .unwrap();
    drop(out);
    job.wait(WAIT).unwrap();
    // The range is free again once the job is done with it.
    let again = dev.alloc(12 * 16 * 4).unwrap();
    assert_eq!(again.gpu_addr(), addr);
}

#[test]
fn a_kernel_that_never_ends_times_out_then_hangs() {
    // A step limit the emulator reaches in well under a second.
    let dev = Device::open_sim(SimConfig {
        max_steps: 3_000_000,
        ..SimConfig::default()
    })
    .unwrap();
    let prog = program(&dev, "forever");
    let t = Instant::now();
    let mut busy = dev.alloc(64).unwrap();
    let job = dev
        .submit(&Dispatch::threads(&prog, 12).buffer(&busy))
        .unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "submit must not run the job"
    );
    // Waiting for the buffer is waiting for its job.
    match busy.wait_idle(Duration::from_millis(1)) {
        Err(Error::Timeout { job: j, .. }) => assert_eq!(j, job.id()),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(busy.map(Duration::from_millis(1)).unwrap_err().is_timeout());
    match job.wait(Duration::from_millis(1)) {
        Err(e @ Error::Timeout { .. }) => {
            assert!(e.is_timeout());
            assert_eq!(e.errno(), Some(62));
            assert!(e.to_string().contains("still running"), "{e}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    // The emulator's hang check (its step limit) ends the job, as the kernel's would.
    match job.wait(WAIT) {
        Err(e @ Error::GpuHang { .. }) => {
            assert!(e.to_string().contains("step limit"), "{e}");
            assert_eq!(e.errno(), Some(5));
        }
        other => panic!("expected a GPU hang, got {other:?}"),
    }
    // The buffer is idle once the hung job is over.
    busy.wait_idle(Duration::ZERO).unwrap();
    // The device still works after a hang.
    let ids = program(&dev, "thread_ids");
    let out = guarded(&dev, 16);
    dev.run(
        &Dispatch::threads(&ids, 1)
            .uniforms(&[out.gpu_addr(), MAGIC])
            .buffer(&out),
        WAIT,
    )
    .unwrap();
    check_thread_ids(&out, 1, MAGIC);
}

#[test]
fn an_out_of_bounds_kernel_is_a_clear_fault() {
    let dev = sim();
    let prog = program(&dev, "store_at");
    let bad = 0xf000_0000u32;
    let job = dev
        .submit(&Dispatch::threads(&prog, 1).uniforms(&[bad]))
        .unwrap();
    match job.wait(WAIT) {
        Err(e @ Error::Fault { .. }) => {
            let text = e.to_string();
            assert!(text.contains("0xf0000000"), "{text}");
            assert!(text.contains("outside every buffer object"), "{text}");
            assert_eq!(e.errno(), Some(14));
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    // The same kernel pointed inside a buffer works: the fault was the address.
    let out = guarded(&dev, 16);
    dev.run(
        &Dispatch::threads(&prog, 1)
            .uniforms(&[out.gpu_addr()])
            .buffer(&out),
        WAIT,
    )
    .unwrap();
    assert_eq!(
        out.read_pod::<u32>(0, 16).unwrap(),
        (0..16).collect::<Vec<u32>>()
    );
}

#[test]
fn invalid_dispatches_are_refused_before_submission() {
    let dev = sim();
    let prog = program(&dev, "thread_ids");
    for (shape, field) in [
        (Shape::Threads(0), "workgroup count x"),
        (Shape::Threads(70_000), "workgroup count x"),
        (
            Shape::Workgroups {
                count: [1, 1, 1],
                size: [16, 16, 2],
            },
            "workgroup size",
        ),
    ] {
        match dev.submit(&Dispatch::new(&prog, shape)) {
            Err(Error::InvalidDispatch { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{shape:?}: {other:?}"),
        }
    }
    let e = dev
        .upload_program(
            &words("thread_ids"),
            ProgramOptions {
                threads_per_qpu: 3,
                single_seg: false,
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("1, 2 or 4"), "{e}");
}

#[test]
fn objects_of_another_device_are_refused() {
    let a = sim();
    let b = sim();
    let prog = program(&a, "thread_ids");
    let out_b = b.alloc(64).unwrap();
    let e = b.submit(&Dispatch::threads(&prog, 1)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::ForeignObject {
                what: "the program"
            }
        ),
        "{e}"
    );
    let prog_b = program(&b, "thread_ids");
    let out_a = a.alloc(64).unwrap();
    let e = b
        .submit(&Dispatch::threads(&prog_b, 1).buffer(&out_a))
        .unwrap_err();
    assert!(e.to_string().contains("another Device"), "{e}");
    drop(out_b);
}

#[test]
fn handles_are_shareable_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Device>();
    send_sync::<Buffer>();
    send_sync::<Program>();
    send_sync::<runtime::Job>();
    send_sync::<Error>();

    // A job submitted on one thread and waited for on another.
    let dev = sim();
    let prog = program(&dev, "thread_ids");
    let out = guarded(&dev, 16 * 16);
    let job = dev
        .submit(
            &Dispatch::threads(&prog, 16)
                .uniforms(&[out.gpu_addr(), MAGIC])
                .buffer(&out),
        )
        .unwrap();
    std::thread::spawn(move || job.wait(WAIT).unwrap())
        .join()
        .unwrap();
    check_thread_ids(&out, 16, MAGIC);
}

#[test]
fn threads_submitting_to_one_device_each_get_their_results() {
    let dev = sim();
    let prog = std::sync::Arc::new(program(&dev, "thread_ids"));
    let workers: Vec<_> = (0..4u32)
        .map(|t| {
            let dev = dev.clone();
            let prog = std::sync::Arc::clone(&prog);
            std::thread::spawn(move || {
                for round in 0..5u32 {
                    let threads = 1 + (t * 5 + round) as usize % 13;
                    let magic = (t << 24) | (round << 16);
                    let out = guarded(&dev, 16 * 16);
                    dev.run(
                        &Dispatch::threads(&prog, threads as u32)
                            .uniforms(&[out.gpu_addr(), magic])
                            .buffer(&out),
                        WAIT,
                    )
                    .unwrap();
                    check_thread_ids(&out, threads, magic);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
}

#[test]
fn hardware_only_features_say_so() {
    let dev = sim();
    let e = dev.perf_counters().unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("emulator_stats"), "{e}");
    let file = std::fs::File::open(env!("CARGO_MANIFEST_DIR")).unwrap();
    let e = dev
        .import_dmabuf(std::os::fd::AsFd::as_fd(&file))
        .unwrap_err();
    assert!(e.to_string().contains("dmabuf"), "{e}");
    let prog = program(&dev, "store_at");
    let out = guarded(&dev, 16);
    let job = dev
        .submit(
            &Dispatch::threads(&prog, 1)
                .uniforms(&[out.gpu_addr()])
                .buffer(&out),
        )
        .unwrap();
    let e = job.sync_file().unwrap_err();
    assert!(e.to_string().contains("sync_file"), "{e}");
    job.wait(WAIT).unwrap();
}
