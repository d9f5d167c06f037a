//! Every branch form: conditions, absolute/relative/link/register targets, branch-and-link,
//! uniform-stream branches, and the three delay slots (py-videocore7 tests/test_branch.py).

mod common;
use common::*;
use qpu_sim::FaultKind;

const STORE: &str = "    nop ; ldunifrf.rf24
    eidx rf23
    shl rf23, rf23, 2
    add rf24, rf24, rf23
    mov tmud, rf10
    mov tmua, rf24
    tmuwt -
";

fn run_store(body: &str, unif: &[u32]) -> Vec<u32> {
    let src = format!("{body}{STORE}{END}");
    let mut u = unif.to_vec();
    u.push(buf(0));
    run1(&src, &u, &[vec![0; 16]], 0)
}

#[test]
fn relative_offset_counts_from_after_the_delay_slots() {
    // py-videocore7 test_branch_rel_imm: `b 16` skips two of four increments, and the three
    // delay slots run.
    let body = "    mov rf10, 0
    b 16
    add rf10, rf10, 1
    add rf10, rf10, 1
    add rf10, rf10, 1
    add rf10, rf10, 4
    add rf10, rf10, 4
    add rf10, rf10, 8
    add rf10, rf10, 8
";
    assert_eq!(run_store(body, &[]), vec![3 + 16; 16]);
}

#[test]
fn absolute_label_register_and_link_targets() {
    // Absolute: the address of instruction 8 (the `add ... 8`) in the code buffer.
    let abs = format!(
        "    mov rf10, 0
    b zero_addr+{}
    nop
    nop
    nop
    add rf10, rf10, 1
    add rf10, rf10, 2
    add rf10, rf10, 4
    add rf10, rf10, 8
",
        CODE + 8 * 8
    );
    assert_eq!(run_store(&abs, &[]), vec![8; 16]);
    let label = "    mov rf10, 0
    b there
    nop
    nop
    nop
    add rf10, rf10, 1
there:
    add rf10, rf10, 2
";
    assert_eq!(run_store(label, &[]), vec![2; 16]);
    // Register: every lane holds the same address (py-videocore7 test_branch_abs_reg).
    let reg = "    nop ; ldunifrf.rf2
    mov rf10, 0
    b rf2
    nop
    nop
    nop
    add rf10, rf10, 1
    add rf10, rf10, 2
";
    assert_eq!(run_store(reg, &[CODE + 7 * 8]), vec![2; 16]);
}

#[test]
fn branch_and_link_returns_after_the_delay_slots() {
    // py-videocore7 test_branch_link_reg: `bl` saves the address of the instruction after the
    // delay slots; `b lri` and `lr` + `b rfN` return there.
    for ret in ["    b lri\n", "    lr rf32\n    b rf32\n"] {
        let body = format!(
            "    mov rf10, 0
    bl sub
    nop
    nop
    nop
    add rf10, rf10, 1
    b done
    nop
    nop
    nop
sub:
    add rf10, rf10, 4
{ret}    nop
    nop
    nop
done:
"
        );
        assert_eq!(
            run_store(&body, &[]),
            vec![5; 16],
            "return by {}",
            ret.trim()
        );
    }
}

fn cond_taken(setup: &str, cond: &str) -> bool {
    let body = format!(
        "    eidx rf11
{setup}    mov rf10, 1
    b{cond} taken
    nop
    nop
    nop
    mov rf10, 0
taken:
"
    );
    let out = run_store(&body, &[]);
    assert!(out.iter().all(|&v| v == out[0]));
    out[0] == 1
}

#[test]
fn branch_conditions() {
    let all = "    xor.pushz -, rf11, rf11\n";
    let none = "    mov.pushz -, 1\n";
    let only0 = "    mov.pushz -, rf11\n";
    let only5 = "    sub.pushz -, rf11, 5\n";
    let table: [(&str, [bool; 4]); 7] = [
        ("", [true, true, true, true]),
        (".a0", [true, false, true, false]),
        (".na0", [false, true, false, true]),
        (".alla", [true, false, false, false]),
        (".anyna", [false, true, true, true]),
        (".anya", [true, false, true, true]),
        (".allna", [false, true, false, false]),
    ];
    for (cond, want) in table {
        for (setup, w) in [all, none, only0, only5].iter().zip(want) {
            assert_eq!(
                cond_taken(setup, cond),
                w,
                "b{cond} with flags from `{}`",
                setup.trim()
            );
        }
    }
}

#[test]
fn uniform_stream_branches() {
    // py-videocore7 test_uniform_branch_rel: the offset uniform (8) is relative to the uniform
    // after it, so the stream lands on unif[4] (counting the one read before).
    let rel = "    nop ; ldunifrf.rf5
    bu next, r:unif
    nop
    nop
    nop
next:
    nop ; ldunifrf.rf10
";
    // Uniforms: [first, 8, 5, 6, 7, store address...]; after the branch, 7 then the address.
    let out = run1(
        &format!("{rel}{STORE}{END}"),
        &[0, 8, 5, 6, 7, buf(0)],
        &[vec![0; 16]],
        0,
    );
    assert_eq!(out, vec![7; 16]);
    // Absolute (test_uniform_branch_abs): the uniform holds the new stream address.
    let abs = "    nop ; ldunifrf.rf5
    bu next, a:unif
    nop
    nop
    nop
next:
    nop ; ldunifrf.rf10
";
    let out = run1(
        &format!("{abs}{STORE}{END}"),
        &[0, UNIF + 12, 5, 6, buf(0)],
        &[vec![0; 16]],
        0,
    );
    assert_eq!(out, vec![6; 16]);
    // Register (test_uniform_branch_reg): the address is taken from lane 1.
    let reg = "    nop ; ldunifrf.rf5
    eidx rf6
    mov.pushz -, rf6
    mov rf2, 0
    mov.ifa rf2, rf5
    rot rf2, rf2, -1
    bu next, rf2
    nop
    nop
    nop
next:
    nop ; ldunifrf.rf10
";
    let out = run1(
        &format!("{reg}{STORE}{END}"),
        &[UNIF + 12, 3, 4, 5, buf(0)],
        &[vec![0; 16]],
        0,
    );
    assert_eq!(out, vec![5; 16]);
}

#[test]
fn branch_hazards() {
    let f = fault1(
        &format!("    b x\n    b x\n    nop\n    nop\nx:\n    nop\n{END}"),
        &[],
        &[],
    );
    expect_kind(
        &f,
        |k| matches!(k, FaultKind::Hazard(m) if m.contains("branch")),
        "branch in delay slot",
    );
    let f = fault1(
        &format!("    nop ; thrsw\n    b x\n    nop\n    nop\nx:\n    nop\n{END}"),
        &[],
        &[],
    );
    expect_kind(
        &f,
        |k| matches!(k, FaultKind::Hazard(m) if m.contains("thrsw")),
        "branch in thrsw delay slot",
    );
    let f = fault1(
        &format!("    b zero_addr+{}\n    nop\n    nop\n    nop\n{END}", 0x40),
        &[],
        &[],
    );
    expect_kind(
        &f,
        |k| matches!(k, FaultKind::BadBranchTarget { addr: 0x40 }),
        "bad target",
    );
    assert!(f.at.is_some_and(|l| l.pc == CODE));
}
