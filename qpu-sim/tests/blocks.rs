//! Straight-line runs of simple instructions execute as blocks (docs/qpu-sim.md, "How
//! instructions run"), each op writing its register at once. These tests pin the rules that
//! makes delicate: every input is read before the instruction writes anything, conditions see
//! the flags from before the instruction, and a block stops where the scheduler would stop
//! the thread. Every dispatch here also runs through the generic path (`common`), which must
//! give the same memory and statistics.

mod common;
use common::*;

fn lanes(f: impl Fn(usize) -> u32) -> [u32; 16] {
    std::array::from_fn(f)
}

/// The mul reads the register the add writes: it must see the old value.
#[test]
fn an_op_reads_the_register_the_other_op_writes_before_it_is_written() {
    let a = lanes(|i| 100 + i as u32);
    let b = lanes(|i| 7 * i as u32 + 1);
    let got = eval(
        "
    mov rf13, rf10 ; mov rf14, rf11
    add rf13, rf13, rf11 ; mov rf14, rf13
    sub rf12, rf13, rf14
",
        &a,
        &b,
        &[0; 16],
    );
    // rf13 = a + b, rf14 = the old rf13 = a, so rf12 = b.
    assert_eq!(got, b);
    // The add reads what the mul writes.
    let got = eval(
        "
    mov rf13, rf10 ; mov rf14, rf11
    add rf14, rf13, 0 ; mov rf13, rf11
    sub rf12, rf14, rf13
",
        &a,
        &b,
        &[0; 16],
    );
    // rf14 = the old rf13 = a, rf13 = b.
    assert_eq!(got, lanes(|i| a[i].wrapping_sub(b[i])));
}

/// Two ops that each read what the other writes: a swap.
#[test]
fn two_ops_can_swap_two_registers() {
    let a = lanes(|i| 3 + i as u32);
    let b = lanes(|i| 1000 - i as u32);
    let got = eval(
        "
    mov rf13, rf10 ; mov rf14, rf11
    mov rf13, rf14 ; mov rf14, rf13
    shl rf12, rf13, -16  # a count of -16 shifts by 16 (the low 5 bits)
    or rf12, rf12, rf14
",
        &a,
        &b,
        &[0; 16],
    );
    assert_eq!(got, lanes(|i| b[i] << 16 | a[i]));
    // The same under conditions, the second op's lanes chosen by the flags.
    let c = lanes(|i| if i % 3 == 1 { 0 } else { 1 });
    let got = eval(
        "
    mov.pushz -, rf12
    mov rf13, rf10 ; mov rf14, rf11
    mov.ifa rf13, rf14 ; mov.ifna rf14, rf13
    shl rf12, rf13, -16  # by 16
    or rf12, rf12, rf14
",
        &a,
        &b,
        &c,
    );
    // Where c == 0 (A set): rf13 = b, rf14 stays b; elsewhere rf13 stays a, rf14 = a.
    assert_eq!(
        got,
        lanes(|i| if c[i] == 0 {
            b[i] << 16 | b[i]
        } else {
            a[i] << 16 | a[i]
        })
    );
}

/// A magic write (here `tmud`) takes its value from before the instruction's register writes.
#[test]
fn a_magic_write_reads_its_input_before_the_register_writes() {
    let a = lanes(|i| 5 * i as u32);
    let b = lanes(|i| 9 + i as u32);
    let got = eval(
        "
    mov rf12, rf11
    add rf12, rf12, rf10 ; mov tmud, rf12
    mov tmua, rf24
    tmuwt -
    mov tmua, rf24
    nop
    nop ; ldtmu.rf12
",
        &a,
        &b,
        &[0; 16],
    );
    // The word written and read back is the old rf12: b, not a + b.
    assert_eq!(got, b);
}

/// A uniform load into a register an op of the same instruction reads: the op sees the old
/// value.
#[test]
fn a_signal_load_lands_after_the_ops_read_their_inputs() {
    let a = lanes(|i| 11 * i as u32);
    let b = lanes(|i| 40 + i as u32);
    let got = eval(
        "
    mov rf0, rf10
    add rf12, rf0, rf11 ; nop ; ldunif
    add rf12, rf12, rf0
",
        &a,
        &b,
        &[0; 16],
    );
    // The uniform after the kernel's four is 0 (Setup pads the stream with zeros).
    assert_eq!(got, lanes(|i| a[i] + b[i]));
}

/// A condition in an instruction that also pushes flags uses the flags from before it, and
/// the push moves A into B.
#[test]
fn conditions_use_the_flags_from_before_a_push_in_the_same_instruction() {
    let a = lanes(|i| if i % 3 == 0 { 0 } else { 20 + i as u32 });
    let b = lanes(|i| 500 + i as u32);
    let c = lanes(|i| if i % 2 == 0 { 0 } else { 1 });
    let got = eval(
        "
    mov.pushz -, rf10
    mov rf13, rf11 ; mov rf14, rf11
    mov.pushz rf15, rf12 ; mov.ifa rf13, rf10
    mov.ifb rf14, rf10
    mov.ifa rf15, 1
    shl rf12, rf15, -8  # by 24
    add rf12, rf12, rf13
    add rf12, rf12, rf14
",
        &a,
        &b,
        &c,
    );
    let want = lanes(|i| {
        // rf13: a where a == 0 (the flags before the push), else b.
        let r13 = if a[i] == 0 { a[i] } else { b[i] };
        // rf14: B holds the pushed-out A (a == 0).
        let r14 = if a[i] == 0 { a[i] } else { b[i] };
        // rf15: c, then 1 where c == 0 (the new A).
        let r15 = if c[i] == 0 { 1 } else { c[i] };
        (r15 << 24) + r13 + r14
    });
    assert_eq!(got, want);
}

/// Long straight-line stretches with TMU reads whose `ldtmu` stalls fall in the middle, on
/// every QPU at 2 and 4 threads: where a stall takes a thread to the end of its scheduling
/// quantum, the block must stop there, or the QPUs' lookups reach the modelled bus in another
/// order and the cycles change (the comparison with the generic path in `common` catches it).
#[test]
fn a_stall_inside_a_block_ends_it_at_the_quantum() {
    let mut body = String::new();
    for round in 0..6 {
        body += "    mov tmua, rf20\n";
        for k in 0..(30 + 7 * round) {
            body += &format!("    add rf1, rf1, {}\n", k % 15 + 1);
            if k == 9 + round {
                body += "    nop ; ldtmu.rf2\n    add rf1, rf1, rf2\n";
            }
        }
        body += "    mov tmud, rf1\n    mov tmua, rf21\n";
    }
    let src = format!(
        "
    nop ; ldunifrf.rf20
    nop ; ldunifrf.rf21
    tidx rf3
    shl rf3, rf3, 6
    eidx rf4
    shl rf4, rf4, 2
    add rf3, rf3, rf4
    add rf20, rf20, rf3
    add rf21, rf21, rf3
    mov rf1, rf3
{body}
    tmuwt -
{END}"
    );
    for (threading, batches) in [(false, 24), (true, 48)] {
        let input: Vec<u32> = (0..64 * 16)
            .map(|i: u32| i.wrapping_mul(2_654_435_761))
            .collect();
        let mut s = Setup::new(&src, &[buf(0), buf(1)], &[input, vec![0; 64 * 16]]);
        let stats = s
            .run(cfg(batches, 1, threading))
            .unwrap_or_else(|f| panic!("unexpected fault: {f}"));
        assert!(stats.qpus.iter().all(|q| q.tmu_wait_cycles > 0));
        assert!(s.words(1).iter().any(|&w| w != 0));
    }
}
