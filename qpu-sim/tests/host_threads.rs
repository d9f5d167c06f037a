//! The result of a dispatch does not depend on the host threads that run it: memory,
//! statistics and faults are the same with 1 and 2 (docs/qpu-sim.md, "Scheduling"). The
//! helpers in `common` check this for every dispatch the other tests make; the cases here are
//! long enough for the parallel phase to spread QPUs over host threads, and fault in it.

mod common;
use common::*;

use qpu_sim::{DispatchOptions, Fault, FaultKind, Gpu, GpuConfig, Stats};

/// A register-bound loop of the kind the video kernels run (the emulation-speed bench's
/// butterfly): integer add/sub/shift/multiply with a flag push and a branch, then one TMU
/// write of the result per thread.
fn butterfly(iters: u32) -> String {
    format!(
        "
    nop ; ldunifrf.rf1
    nop ; ldunifrf.rf20
    eidx rf2
    tidx rf21
    shl rf21, rf21, 6
    add rf20, rf20, rf21
    eidx rf21
    shl rf21, rf21, 2
    add rf20, rf20, rf21
    mov rf3, 7
    mov rf4, 3
    mov rf5, 5
    mov rf6, 1
    mov rf9, 1
loop:
    add rf10, rf2, rf5 ; smul24 rf11, rf3, rf4
    sub rf12, rf2, rf5 ; smul24 rf13, rf4, rf6
    asr rf14, rf11, 2 ; add rf15, rf10, rf13
    sub rf16, rf12, rf14 ; smul24 rf17, rf15, rf3
    shl rf18, rf16, 1 ; sub rf19, rf17, rf15
    add rf2, rf18, rf19 ; add rf5, rf5, rf9
    and rf3, rf2, 15 ; sub rf4, rf12, rf10
    sub.pushz rf1, rf1, rf9 ; mov rf6, rf16
    b.na0 loop
    xor rf2, rf2, rf17
    max rf3, rf3, rf9
    nop
    mov tmud, rf2
    mov tmua, rf20
    tmuwt -
{END}"
    ) + &format!("# {iters} iterations\n")
}

/// Runs `src` with `batches` batches on 1 and on 2 host threads; asserts the same result and
/// memory; returns the result.
fn both(
    src: &str,
    uniforms: &[u32],
    out_words: usize,
    batches: u32,
    max_steps: u64,
) -> Result<Stats, Fault> {
    let gpu = |host_threads| {
        let mut g = Gpu::new(GpuConfig {
            host_threads,
            max_steps,
            ..GpuConfig::default()
        });
        g.map_bo(CODE, asm(src)).unwrap();
        g.map_bo(UNIF, words_to_bytes(uniforms)).unwrap();
        g.map_bo(buf(0), vec![0; 4 * out_words]).unwrap();
        g
    };
    let (mut one, mut two) = (gpu(1), gpu(2));
    let r1 = one.dispatch(cfg(batches, 1, false), DispatchOptions::default());
    let r2 = two.dispatch(cfg(batches, 1, false), DispatchOptions::default());
    assert_eq!(r1, r2, "1 and 2 host threads give different results");
    same_memory(&one, &two);
    r1
}

#[test]
fn a_register_bound_loop_on_24_threads() {
    let iters = 3000;
    let st = both(&butterfly(iters), &[iters, buf(0)], 16 * 64, 24, 1 << 30).unwrap();
    // Enough work per QPU between TMU lookups for the parallel phase to use both threads.
    assert!(st.instructions() > 24 * 8 * u64::from(iters));
}

#[test]
fn the_step_limit_falls_where_it_falls_serially() {
    // The limit lands in the middle of the loop: before any parallel phase can run, just
    // after the first, and after several (a phase covers at most 12 QPUs x 32,769
    // instructions, and this dispatch runs about 650,000).
    let iters = 3000;
    for limit in [1_000, 400_001, 600_001] {
        let f = both(&butterfly(iters), &[iters, buf(0)], 16 * 64, 24, limit).unwrap_err();
        assert!(matches!(f.kind, FaultKind::StepLimit { .. }), "{f}");
    }
}

#[test]
fn a_fault_met_ahead_of_time_is_raised_in_serial_order() {
    // Every batch writes through the TMU, then reads one uniform per iteration for
    // 300 + 8 * tidx iterations. The uniform buffer ends after 300 + 8 * 20 of them, so the
    // batches with tidx above 20 run off its end inside a stretch the parallel phase runs
    // (the instruction that faults has run before, so it is decoded). The first fault of the
    // serial schedule must win, with the same memory.
    let src = format!(
        "
    nop ; ldunifrf.rf1
    nop ; ldunifrf.rf20
    tidx rf21
    eidx rf22
    shl rf22, rf22, 2
    shl rf23, rf21, 6
    add rf20, rf20, rf22
    add rf20, rf20, rf23
    mov tmud, rf21
    mov tmua, rf20
    shl rf2, rf21, 3
    add rf1, rf1, rf2
    mov rf9, 1
loop:
    nop ; ldunif
    sub.pushz rf1, rf1, rf9
    b.na0 loop
    nop
    nop
    nop
    tmuwt -
{END}"
    );
    let mut unif = vec![300, buf(0)];
    unif.resize(2 + 300 + 8 * 20, 0);
    let gpu = |host_threads| {
        let mut g = Gpu::new(GpuConfig {
            host_threads,
            ..GpuConfig::default()
        });
        g.map_bo(CODE, asm(&src)).unwrap();
        g.map_bo(UNIF, words_to_bytes(&unif)).unwrap();
        g.map_bo(buf(0), vec![0; 64 * 64]).unwrap();
        g
    };
    let (mut one, mut two) = (gpu(1), gpu(2));
    let c = cfg(48, 1, true);
    let r1 = one.dispatch(c, DispatchOptions::default());
    let r2 = two.dispatch(c, DispatchOptions::default());
    assert_eq!(r1, r2);
    same_memory(&one, &two);
    let f = r1.unwrap_err();
    assert!(
        matches!(f.kind, FaultKind::UniformOutOfBounds { .. }),
        "{f}"
    );
}

#[test]
fn scopy_on_12_qpus() {
    // TMU-bound: the parallel phase stops at every lookup.
    let (src_addr, dst_addr) = (0x0100_0000u32, 0x0800_0000u32);
    let bytes = 256 << 10;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/scopy.qasm");
    let code = qpu_asm::assemble_file(&path).unwrap().to_bytes();
    let run = |host_threads| {
        let mut g = Gpu::new(GpuConfig {
            host_threads,
            ..GpuConfig::default()
        });
        g.map_bo(CODE, code.clone()).unwrap();
        let unif = [
            bytes / (512 * 12),
            src_addr,
            dst_addr,
            256 * 12,
            0xfc80_fcfc,
            (-8i32) as u32,
        ];
        g.map_bo(UNIF, words_to_bytes(&unif)).unwrap();
        let data: Vec<u32> = (0..bytes / 4)
            .map(|i| i.wrapping_mul(2_654_435_761))
            .collect();
        g.map_bo(src_addr, words_to_bytes(&data)).unwrap();
        g.map_bo(dst_addr, vec![0; bytes as usize]).unwrap();
        let r = g.dispatch(cfg(12, 1, false), DispatchOptions::default());
        (g, r)
    };
    let ((one, r1), (two, r2)) = (run(1), run(2));
    assert_eq!(r1, r2);
    assert!(r1.is_ok());
    same_memory(&one, &two);
}

#[test]
fn a_fault_found_ahead_is_not_skipped_past() {
    // Two QPUs, one thread each. QPU 1 reads one uniform per loop iteration and runs off the
    // end of the uniform buffer after `k` iterations; QPU 0 loops `n` times, then writes
    // through the TMU. Both loops run ahead in the parallel phase. Whenever QPU 1's fault
    // comes first in the serial schedule, QPU 0's write must not happen, so 1 and 2 host
    // threads must leave the same memory. The sweep over `k`, `n` and one optional nop puts
    // the fault in every position of a quantum; with k = 51 (no nop) it starts in the last
    // slot of a quantum several quanta ahead and QPU 0's write falls in the next one, which
    // the serial loop's skip-ahead once let happen before the fault.
    let src = |pad: bool| {
        format!(
            "
    nop ; ldunifrf.rf1
    nop ; ldunifrf.rf2
    nop ; ldunifrf.rf3
    eidx rf4
    shl rf4, rf4, 2
    add rf1, rf1, rf4
    mov rf9, 1
    tidx rf6
    sub.pushz -, rf6, 0
    b.na0 reader
    nop
    nop
    nop
spin:
    sub.pushz rf2, rf2, rf9
    b.na0 spin
    nop
    nop
    nop
    mov tmud, rf9
    mov tmua, rf1
    tmuwt -
    b done
    nop
    nop
    nop
reader:
    {}
read:
    nop ; ldunif
    sub.pushz rf3, rf3, rf9
    b.na0 read
    nop
    nop
    nop
done:
{END}",
            if pad { "nop" } else { "" }
        )
    };
    let mut faults = 0;
    for pad in [false, true] {
        let code = asm(&src(pad));
        for k in 12..=60u32 {
            for n in [60u32, 61, 62, 63, 64, 65, 66, 67] {
                // Uniforms: buffer, QPU 0's count, QPU 1's count, then room for all but the
                // last of QPU 1's reads.
                let mut unif = vec![buf(0), n, k + 1];
                unif.resize(3 + k as usize, 0);
                let run = |host_threads| {
                    let mut g = Gpu::new(GpuConfig {
                        slices: 1,
                        qpus_per_slice: 2,
                        host_threads,
                        ..GpuConfig::default()
                    });
                    g.map_bo(CODE, code.clone()).unwrap();
                    g.map_bo(UNIF, words_to_bytes(&unif)).unwrap();
                    g.map_bo(buf(0), vec![0; 64]).unwrap();
                    let r = g.dispatch(
                        cfg(2, 1, false),
                        DispatchOptions {
                            trace: None,
                            threads_per_qpu: Some(1),
                        },
                    );
                    (g, r)
                };
                let ((one, r1), (two, r2)) = (run(1), run(2));
                assert_eq!(r1, r2, "pad {pad}, k {k}, n {n}");
                same_memory(&one, &two);
                faults += usize::from(r1.is_err());
            }
        }
    }
    assert!(faults > 0, "no run faulted; the test exercises nothing");
}
