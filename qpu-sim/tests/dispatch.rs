//! Whole dispatches: 1/2/4 threads per QPU with 12, 24 and 48 threads, barriers, the
//! start-of-thread payload, determinism, and the dispatch-level faults.

mod common;
use common::*;
use qpu_sim::{DispatchOptions, FaultKind, Gpu, GpuConfig};

/// Each thread writes tidx + 1 into row tidx (16 words) of buffer 0 (py-videocore7
/// test_parallel_full writes tidx to its own row).
fn tidx_rows_kernel(thrsw_first: bool) -> String {
    format!(
        "    tidx rf1 ; ldunifrf.rf2
    shl rf3, rf1, 6
    add rf2, rf2, rf3{}
    eidx rf4
    shl rf4, rf4, 2
    add rf2, rf2, rf4
    add rf5, rf1, 1
    mov tmud, rf5
    mov tmua, rf2
    tmuwt -
{END}",
        if thrsw_first {
            " ; thrsw\n    nop\n    nop"
        } else {
            ""
        }
    )
}

fn written_rows(batches: u32, threading: bool, threads: Option<u32>) -> Vec<u32> {
    let mut s = Setup::new(&tidx_rows_kernel(true), &[buf(0)], &[vec![0; 64 * 16]]);
    let c = cfg(batches, 1, threading);
    match threads {
        Some(t) => s.run_threads(c, t).unwrap(),
        None => s.run(c).unwrap(),
    };
    let out = s.words(0);
    (0..64u32)
        .filter(|&r| out[(r * 16) as usize] != 0)
        .inspect(|&r| {
            assert!(
                out[(r * 16) as usize..(r * 16 + 16) as usize]
                    .iter()
                    .all(|&v| v == r + 1)
            );
        })
        .collect()
}

#[test]
fn twelve_threads_one_per_qpu() {
    // py-videocore7 test_parallel: with 12 threads the thread id is (tidx & 0b111100) >> 2.
    let rows = written_rows(12, false, None);
    assert_eq!(rows, (0..12).map(|q| q << 2).collect::<Vec<_>>());
    let rows = written_rows(12, false, Some(1));
    assert_eq!(rows, (0..12).map(|q| q << 2).collect::<Vec<_>>());
}

#[test]
fn twenty_four_threads_two_per_qpu() {
    // py-videocore7 test_parallel / test_barrier: with 24 threads the thread id is
    // (tidx & 0b111110) >> 1, so the two threads of a QPU are slots 0 and 2.
    let rows = written_rows(24, false, None);
    let want: Vec<u32> = (0..12).flat_map(|q| [q << 2, (q << 2) | 2]).collect();
    assert_eq!(rows, want);
}

#[test]
fn forty_eight_threads_four_per_qpu() {
    // py-videocore7 test_parallel_full: 48 threads with the THREADING flag cover tidx 0..47.
    let rows = written_rows(48, true, None);
    assert_eq!(rows, (0..48).collect::<Vec<_>>());
}

#[test]
fn more_batches_than_thread_slots_run_as_slots_free_up() {
    // 30 batches on 12 QPUs x 1 thread: slots are reused and every batch runs once. Each
    // batch adds 1 per lane to one counter with a TMU atomic add (config byte 0x87).
    let src = format!(
        "    nop ; ldunifrf.rf2
    nop ; ldunifrf.rf6
    mov tmuc, rf6
    mov tmud, 1
    mov tmua, rf2
    nop ; ldtmu.rf7
{END}"
    );
    let mut s = Setup::new(&src, &[buf(0), 0xffff_ff87], &[vec![0; 16]]);
    let st = s.run_threads(cfg(30, 1, false), 1).unwrap();
    assert_eq!(s.words(0)[0], 30 * 16);
    assert_eq!(st.batches, 30);
    let per_slot: u64 = st.qpus.iter().map(|q| q.threads[0].batches).sum();
    assert_eq!(per_slot, 30);
}

fn barrier_kernel() -> String {
    // py-videocore7 test_barrier: thread t busy-waits t*256 iterations, writes its x row to
    // its y row, waits at the barrier, then copies y row (t + 1) % 24 into its z row (py
    // writes back into y, which races with the neighbour's read; a third buffer does not).
    format!(
        "    tidx rf10
    shr rf12, rf10, 2
    and rf11, rf10, 3
    and rf12, rf12, 15
    shr rf11, rf11, 1
    shl rf12, rf12, 1
    add rf31, rf11, rf12 ; ldunifrf.rf2
    nop ; ldunifrf.rf3
    nop ; ldunifrf.rf8
    eidx rf13
    shl rf13, rf13, 2
    shl rf14, rf31, 6
    add rf4, rf2, rf14
    add rf4, rf4, rf13
    mov tmua, rf4 ; thrsw
    nop
    nop
    nop ; ldtmu.rf10
    shl rf11, rf31, 8
loop:
    sub.pushn rf11, rf11, 1
    b.anyna loop
    nop
    nop
    nop
    add rf5, rf3, rf14
    add rf5, rf5, rf13
    mov tmud, rf10
    mov tmua, rf5
    tmuwt -
    barrierid syncb ; thrsw
    add rf6, rf31, 1
    mov rf7, 12
    add rf7, rf7, 12
    sub.pushz -, rf6, rf7
    b.allna skip
    nop
    nop
    nop
    mov rf6, 0
skip:
    shl rf6, rf6, 6
    add rf6, rf3, rf6
    add rf6, rf6, rf13
    mov tmua, rf6 ; thrsw
    nop
    nop
    nop ; ldtmu.rf10
    add rf8, rf8, rf14
    add rf8, rf8, rf13
    mov tmud, rf10
    mov tmua, rf8
    tmuwt -
{END}"
    )
}

#[test]
fn barrier_orders_the_supergroup() {
    let x: Vec<u32> = (0..24 * 16).map(|i| 1000 + i).collect();
    let mut s = Setup::new(
        &barrier_kernel(),
        &[buf(0), buf(1), buf(2)],
        &[x.clone(), vec![0; 24 * 16], vec![0; 24 * 16]],
    );
    // All 24 batches in one supergroup.
    s.run(cfg(24, 24, false)).unwrap();
    let y = s.words(2);
    for t in 0..24 {
        let src = (t + 1) % 24;
        assert_eq!(
            &y[t * 16..t * 16 + 16],
            &x[src * 16..src * 16 + 16],
            "row {t}"
        );
    }
}

#[test]
fn barrier_deadlocks_are_faults() {
    // A barrier without thrsw stops its QPU, so the other thread there never arrives.
    let src = format!("    barrierid syncb\n    nop\n    nop\n{END}");
    let mut s = Setup::new(&src, &[], &[]);
    let f = s.run(cfg(24, 24, false)).unwrap_err();
    expect_kind(
        &f,
        |k| matches!(k, FaultKind::BarrierDeadlock { .. }),
        "deadlock",
    );
    // A supergroup larger than the thread slots can never be resident at once.
    let src = format!("    barrierid syncb ; thrsw\n    nop\n    nop\n{END}");
    let mut s = Setup::new(&src, &[], &[]);
    let f = s.run(cfg(30, 30, false)).unwrap_err();
    expect_kind(
        &f,
        |k| matches!(k, FaultKind::BarrierDeadlock { total: 30, .. }),
        "deadlock",
    );
    // The same barrier completes when the supergroup fits.
    let mut s = Setup::new(&src, &[], &[]);
    s.run(cfg(24, 24, false)).unwrap();
}

#[test]
fn payload_registers_hold_workgroup_and_local_ids() {
    // Mesa nir_to_vir.c (V3D 7.1): rf3 = wg_x | wg_y << 16, rf2 = wg_z | ... | local index in
    // the top local_invocation_index_bits (6 for workgroups of up to 64 items).
    // Workgroups of 8 items: 4 x 3 x 2 of them, 2 per batch, 12 batches.
    let src = format!(
        "    tidx rf1 ; ldunifrf.rf20
    nop ; ldunifrf.rf21
    eidx rf4
    shl rf4, rf4, 2
    mov rf8, rf3
    mov rf9, rf2
    shr rf1, rf1, 2
    shl rf1, rf1, 6
    add rf20, rf20, rf1
    add rf21, rf21, rf1
    add rf20, rf20, rf4
    add rf21, rf21, rf4
    mov tmud, rf8
    mov tmua, rf20
    mov tmud, rf9
    mov tmua, rf21
    tmuwt -
{END}"
    );
    let mut s = Setup::new(
        &src,
        &[buf(0), buf(1)],
        &[vec![0; 12 * 16], vec![0; 12 * 16]],
    );
    // cfg: wg counts 4, 3, 2; wg size 8; 2 workgroups (1 batch) per supergroup; 12 batches.
    let c = [4 << 16, 3 << 16, 2 << 16, 8 | (2 << 8), 12, CODE, UNIF];
    s.run_threads(c, 1).unwrap();
    let (r3, r2) = (s.words(0), s.words(1));
    for batch in 0..12u32 {
        // One batch per QPU: QPU q ran batch q.
        for lane in 0..16u32 {
            let wg = batch * 2 + lane / 8;
            let (x, y, z) = (wg % 4, (wg / 4) % 3, wg / 12);
            let i = (batch * 16 + lane) as usize;
            assert_eq!(r3[i], x | (y << 16), "rf3 batch {batch} lane {lane}");
            assert_eq!(r2[i] & 0xffff, z, "rf2 z");
            assert_eq!(r2[i] >> 26, lane % 8, "local invocation index");
            assert_eq!(
                (r2[i] >> 16) & 0x3ff,
                lane / 8,
                "workgroup within the supergroup"
            );
        }
    }
}

#[test]
fn scheduling_is_deterministic() {
    let x: Vec<u32> = (0..24 * 16).map(|i| i * 7).collect();
    let run = || {
        let mut s = Setup::new(
            &barrier_kernel(),
            &[buf(0), buf(1), buf(2)],
            &[x.clone(), vec![0; 24 * 16], vec![0; 24 * 16]],
        );
        let st = s.run(cfg(24, 24, false)).unwrap();
        (st, s.words(2))
    };
    let (a, ya) = run();
    let (b, yb) = run();
    assert_eq!(a, b);
    assert_eq!(ya, yb);
    assert!(a.thread_switches() > 0 && a.total_cycles > 0);
}

#[test]
fn batch_count_rule_follows_the_revision() {
    let src = tidx_rows_kernel(false);
    let mut gpu = Gpu::new(GpuConfig {
        batch_count: qpu_sim::BatchCount::MinusOne,
        ..GpuConfig::default()
    });
    gpu.map_bo(CODE, asm(&src)).unwrap();
    gpu.map_bo(UNIF, words_to_bytes(&[buf(0)])).unwrap();
    gpu.map_bo(buf(0), vec![0; 64 * 64]).unwrap();
    // cfg[4] = 3 means 4 batches before revision 6 (3 under the default rule).
    let mut c = cfg(4, 1, false);
    c[4] = 3;
    let st = gpu.dispatch(c, DispatchOptions::default()).unwrap();
    assert_eq!(st.batches, 4);
    let mut gpu = Gpu::new(GpuConfig::default());
    gpu.map_bo(CODE, asm(&src)).unwrap();
    gpu.map_bo(UNIF, words_to_bytes(&[buf(0)])).unwrap();
    gpu.map_bo(buf(0), vec![0; 64 * 64]).unwrap();
    let st = gpu.dispatch(c, DispatchOptions::default()).unwrap();
    assert_eq!(st.batches, 3);
}

#[test]
fn hangs_and_bad_code_are_faults() {
    // An endless loop hits the step limit.
    let src = format!("loop:\n    b loop\n    nop\n    nop\n    nop\n{END}");
    let mut gpu = Gpu::new(GpuConfig {
        max_steps: 1000,
        ..GpuConfig::default()
    });
    gpu.map_bo(CODE, asm(&src)).unwrap();
    gpu.map_bo(UNIF, vec![0; 64]).unwrap();
    let f = gpu
        .dispatch(cfg(1, 1, false), DispatchOptions::default())
        .unwrap_err();
    expect_kind(
        &f,
        |k| matches!(k, FaultKind::StepLimit { limit: 1000 }),
        "step limit",
    );
    assert!(
        f.to_string()
            .starts_with("qpu 0 thread 0 (batch 0) pc 0x000100"),
        "{f}"
    );

    // A word that does not decode faults where it is executed.
    let mut code = asm("    nop\n    nop\n");
    code.extend(0u64.to_le_bytes());
    let mut gpu = Gpu::new(GpuConfig::default());
    gpu.map_bo(CODE, code).unwrap();
    gpu.map_bo(UNIF, vec![0; 64]).unwrap();
    let f = gpu
        .dispatch(cfg(1, 1, false), DispatchOptions::default())
        .unwrap_err();
    expect_kind(
        &f,
        |k| matches!(k, FaultKind::InvalidInstruction { word: 0, .. }),
        "invalid instruction",
    );
    assert_eq!(f.at.unwrap().pc, CODE + 16);

    // Running off the end of the code.
    let mut gpu = Gpu::new(GpuConfig::default());
    gpu.map_bo(CODE, asm("    nop\n")).unwrap();
    gpu.map_bo(UNIF, vec![0; 64]).unwrap();
    let f = gpu
        .dispatch(cfg(1, 1, false), DispatchOptions::default())
        .unwrap_err();
    expect_kind(
        &f,
        |k| matches!(k, FaultKind::PcOutsideCode { .. }),
        "pc outside code",
    );

    // A shader address outside every buffer.
    let mut gpu = Gpu::new(GpuConfig::default());
    let f = gpu
        .dispatch(cfg(1, 1, false), DispatchOptions::default())
        .unwrap_err();
    expect_kind(
        &f,
        |k| matches!(k, FaultKind::BadDispatch(_)),
        "bad dispatch",
    );
    assert!(f.at.is_none());
}

#[test]
fn trace_lists_each_instruction_and_the_lanes_written() {
    let src = format!("    eidx rf5\n    add.pushz rf6, rf5, 1\n{END}");
    let mut gpu = Gpu::new(GpuConfig::default());
    gpu.map_bo(CODE, asm(&src)).unwrap();
    gpu.map_bo(UNIF, vec![0; 64]).unwrap();
    let mut out: Vec<u8> = Vec::new();
    gpu.dispatch(
        cfg(1, 1, false),
        DispatchOptions {
            trace: Some(&mut out),
            threads_per_qpu: None,
        },
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("qpu  0 thread 0 pc 0x00010000  eidx rf5"),
        "{}",
        lines[0]
    );
    assert!(lines[1].trim_start().starts_with("rf5 "));
    assert!(lines[1].ends_with("0000000e 0000000f"), "{}", lines[1]);
    assert!(lines[2].contains("add.pushz rf6, rf5, 1"), "{}", lines[2]);
    assert!(lines[3].ends_with("0000000f 00000010"), "{}", lines[3]);
    // 2 + 7 executed instructions of the ending (the last nop is never reached).
    assert_eq!(text.lines().filter(|l| l.starts_with("qpu")).count(), 9);
}

#[test]
fn an_absurd_batch_count_ends_at_the_step_limit() {
    // cfg[4] = 0xfffffffe asks for 2^32 - 1 batches: the dispatch must neither allocate per
    // batch up front nor run forever.
    let mut gpu = Gpu::new(GpuConfig {
        max_steps: 100_000,
        ..GpuConfig::default()
    });
    gpu.map_bo(CODE, asm(END)).unwrap();
    gpu.map_bo(UNIF, vec![0; 64]).unwrap();
    let mut c = cfg(1, 1, false);
    c[4] = 0xffff_fffe;
    let f = gpu.dispatch(c, DispatchOptions::default()).unwrap_err();
    expect_kind(
        &f,
        |k| matches!(k, FaultKind::StepLimit { .. }),
        "step limit",
    );
}
