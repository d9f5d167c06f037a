//! Every TMU access kind: scalar and vector reads and writes, configuration through tmuc and
//! through the uniform (tmuau), 8- and 16-bit types, atomics, lane masking, prefetch, bounds
//! and FIFO faults (py-videocore7 tests/test_tmu.py).

mod common;
use common::*;
use qpu_sim::FaultKind;

/// Config word for one lookup with `byte` (the others default).
fn cfg_word(byte: u32) -> u32 {
    0xffff_ff00 | byte
}

const PROLOGUE: &str = "    eidx rf23
    shl rf23, rf23, 2
";

#[test]
fn vector_writes_put_words_in_consecutive_addresses() {
    // py-videocore7 test_tmu_multiple_interleaved_transform_write: N tmud writes, then a vecN
    // config, then one tmua per lane writes N consecutive words.
    for n in 1..=4u32 {
        let tmuds: String = (0..n)
            .map(|k| format!("    add rf10, rf23, {k}\n    mov tmud, rf10\n"))
            .collect();
        let src = format!(
            "{PROLOGUE}    nop ; ldunifrf.rf24
    nop ; ldunifrf.rf25
{tmuds}    mov tmuc, rf25
    shl rf12, rf23, 2
    add rf24, rf24, rf12
    mov tmua, rf24
    tmuwt -
{END}"
        );
        // The vecN type byte (py-videocore7 TMULookUpConfig: per-pixel, regular op, type N).
        let ty = if n == 1 { 7 } else { n };
        let out = run1(
            &src,
            &[buf(0), cfg_word(0xf8 | ty)],
            &[vec![0xffff_ffff; 64]],
            0,
        );
        for lane in 0..16u32 {
            for k in 0..4 {
                let want = if k < n { 4 * lane + k } else { 0xffff_ffff };
                assert_eq!(
                    out[(4 * lane + k) as usize],
                    want,
                    "vec{n} lane {lane} word {k}"
                );
            }
        }
    }
}

#[test]
fn vector_reads_with_the_config_from_the_uniform_stream() {
    // tmuau takes the config from the next uniform (py-videocore7
    // test_tmu_multiple_read_with_uniform_config); a vec4 read returns 4 FIFO entries.
    let src = format!(
        "{PROLOGUE}    nop ; ldunifrf.rf24
    shl rf12, rf23, 2
    add rf24, rf24, rf12
    mov tmuau, rf24
    nop ; ldtmu.rf10
    nop ; ldtmu.rf11
    nop ; ldtmu.rf12
    nop ; ldtmu.rf13
    add rf10, rf10, rf11
    add rf10, rf10, rf12
    add rf10, rf10, rf13
    nop ; ldunifrf.rf25
    add rf25, rf25, rf23
    mov tmud, rf10
    mov tmua, rf25
    tmuwt -
{END}"
    );
    let data: Vec<u32> = (0..64).collect();
    let out = run1(
        &src,
        &[buf(0), cfg_word(0xfc), buf(1)],
        &[data, vec![0; 16]],
        1,
    );
    let want: Vec<u32> = (0..16u32)
        .map(|l| (0..4).map(|k| 4 * l + k).sum())
        .collect();
    assert_eq!(out, want);
}

#[test]
fn config_bytes_apply_to_successive_lookups() {
    // py-videocore7 examples/scopy.py: 0xFC80FCFC configures read vec4, read vec4, prefetch,
    // write vec4. Here: vec2 read, then a default read.
    let src = format!(
        "{PROLOGUE}    nop ; ldunifrf.rf24
    nop ; ldunifrf.rf25
    mov tmuc, rf25
    shl rf12, rf23, 1
    add rf12, rf24, rf12
    mov tmua, rf12
    add rf13, rf24, rf23
    mov tmua, rf13
    nop ; ldtmu.rf10
    nop ; ldtmu.rf11
    nop ; ldtmu.rf14
    shl rf11, rf11, 8
    shl rf14, rf14, 8
    shl rf14, rf14, 8
    or rf10, rf10, rf11
    or rf10, rf10, rf14
    nop ; ldunifrf.rf26
    add rf26, rf26, rf23
    mov tmud, rf10
    mov tmua, rf26
    tmuwt -
{END}"
    );
    let data: Vec<u32> = (0..64).collect();
    let out = run1(
        &src,
        &[buf(0), 0xffff_fffa, buf(1)],
        &[data, vec![0; 16]],
        1,
    );
    // Lane l: vec2 at byte 8l gives words 2l, 2l+1; the default read gives word l.
    let want: Vec<u32> = (0..16u32)
        .map(|l| (2 * l) | ((2 * l + 1) << 8) | (l << 16))
        .collect();
    assert_eq!(out, want);
}

fn read_typed(byte: u32, data: Vec<u32>, stride_shift: u32) -> Vec<u32> {
    let src = format!(
        "{PROLOGUE}    nop ; ldunifrf.rf24
    nop ; ldunifrf.rf25
    mov tmuc, rf25
    eidx rf12
    shl rf12, rf12, {stride_shift}
    add rf24, rf24, rf12
    mov tmua, rf24
    nop ; ldtmu.rf10
    nop ; ldunifrf.rf26
    add rf26, rf26, rf23
    mov tmud, rf10
    mov tmua, rf26
    tmuwt -
{END}"
    );
    run1(
        &src,
        &[buf(0), cfg_word(byte), buf(1)],
        &[data, vec![0; 16]],
        1,
    )
}

#[test]
fn eight_and_sixteen_bit_reads_extend() {
    // Bytes 0x80, 0x81, ... at byte addresses 0..15.
    let bytes: Vec<u8> = (0..64u32).map(|i| 0x80 + i as u8).collect();
    let data: Vec<u32> = bytes
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    // int8 (type 0) sign-extends, uint8 (type 5) zero-extends.
    let got = read_typed(0xf8, data.clone(), 0);
    assert_eq!(
        got,
        (0..16)
            .map(|i| (0x80 + i) as u8 as i8 as i32 as u32)
            .collect::<Vec<_>>()
    );
    let got = read_typed(0xfd, data.clone(), 0);
    assert_eq!(got, (0..16).map(|i| 0x80 + i).collect::<Vec<u32>>());
    // int16 (type 1) and uint16 (type 6) at byte addresses 2l.
    let got = read_typed(0xf9, data.clone(), 1);
    let h = |l: usize| u16::from_le_bytes([bytes[2 * l], bytes[2 * l + 1]]);
    assert_eq!(
        got,
        (0..16)
            .map(|l| h(l) as i16 as i32 as u32)
            .collect::<Vec<_>>()
    );
    let got = read_typed(0xfe, data, 1);
    assert_eq!(got, (0..16).map(|l| u32::from(h(l))).collect::<Vec<_>>());
}

#[test]
fn eight_and_sixteen_bit_reads_at_spread_addresses() {
    // Lane l reads at byte address 4l: not back to back, so lane by lane within the span.
    let bytes: Vec<u8> = (0..64u32).map(|i| 0x70 + i as u8).collect();
    let data: Vec<u32> = bytes
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let got = read_typed(0xf8, data.clone(), 2);
    let want: Vec<u32> = (0..16).map(|l| bytes[4 * l] as i8 as i32 as u32).collect();
    assert_eq!(got, want);
    let got = read_typed(0xfe, data.clone(), 2);
    let h = |l: usize| u16::from_le_bytes([bytes[4 * l], bytes[4 * l + 1]]);
    assert_eq!(got, (0..16).map(|l| u32::from(h(l))).collect::<Vec<_>>());
    let got = read_typed(0xf9, data, 2);
    assert_eq!(
        got,
        (0..16)
            .map(|l| h(l) as i16 as i32 as u32)
            .collect::<Vec<_>>()
    );
}

/// Writes 0x8765_4300 + lane with config `byte` at `shift`-scaled lane offsets, from the odd
/// lanes only when `odd_only`; returns the buffer's bytes (filled with 0xaa before).
fn write_typed(byte: u32, shift: u32, odd_only: bool) -> Vec<u8> {
    let cond = if odd_only { ".ifna" } else { "" };
    let src = format!(
        "    nop ; ldunifrf.rf24
    nop ; ldunifrf.rf25
    nop ; ldunifrf.rf26
    mov tmuc, rf25
    eidx rf12
    and.pushz -, rf12, 1
    shl rf13, rf12, {shift}
    add rf24, rf24, rf13
    add rf14, rf26, rf12
    mov tmud, rf14
    mov{cond} tmua, rf24
    tmuwt -
{END}"
    );
    run1(
        &src,
        &[buf(0), cfg_word(byte), 0x8765_4300],
        &[vec![0xaaaa_aaaa; 16]],
        0,
    )
    .iter()
    .flat_map(|w| w.to_le_bytes())
    .collect()
}

#[test]
fn eight_and_sixteen_bit_writes_store_the_low_bytes_only() {
    for (byte, size) in [(0xfdu32, 1usize), (0xf8, 1), (0xfe, 2), (0xf9, 2)] {
        for shift in [size.trailing_zeros(), 2] {
            for odd_only in [false, true] {
                let got = write_typed(byte, shift, odd_only);
                let mut want = vec![0xaau8; 64];
                for l in (0..16).filter(|l| !odd_only || l % 2 == 1) {
                    let v = 0x8765_4300u32 + l as u32;
                    let at = l << shift;
                    want[at..at + size].copy_from_slice(&v.to_le_bytes()[..size]);
                }
                assert_eq!(
                    got, want,
                    "config {byte:#04x}, lane offset l << {shift}, odd lanes only: {odd_only}"
                );
            }
        }
    }
}

#[test]
fn conditional_tmua_masks_lanes() {
    let src = format!(
        "{PROLOGUE}    nop ; ldunifrf.rf24
    add rf24, rf24, rf23
    eidx rf10
    and.pushz -, rf10, 1
    mov tmud, 7
    mov.ifa tmua, rf24
    tmuwt -
{END}"
    );
    let out = run1(&src, &[buf(0)], &[vec![1; 16]], 0);
    assert_eq!(
        out,
        (0..16)
            .map(|i| if i % 2 == 0 { 7 } else { 1 })
            .collect::<Vec<u32>>()
    );
}

/// Runs an atomic with data words `data` (per lane) on memory `initial`; returns (memory,
/// old values).
fn atomic(op: u32, initial: &[u32; 16], data: &[[u32; 16]]) -> (Vec<u32>, Vec<u32>) {
    let byte = 0x80 | (op << 3) | 7;
    let loads: String = (0..data.len())
        .map(|k| format!("    nop ; ldunifrf.rf20\n    add rf20, rf20, rf23\n    mov tmua, rf20\n    nop ; ldtmu.rf{}\n", 10 + k))
        .collect();
    let writes: String = (0..data.len())
        .map(|k| {
            format!(
                "    mov {}, rf{}\n",
                if k == 0 { "tmudref" } else { "tmuoff" },
                10 + k
            )
        })
        .collect();
    let src = format!(
        "{PROLOGUE}{loads}    nop ; ldunifrf.rf24
    nop ; ldunifrf.rf25
    add rf24, rf24, rf23
    mov tmuc, rf25
{writes}    mov tmua, rf24
    nop ; ldtmu.rf13
    nop ; ldunifrf.rf26
    add rf26, rf26, rf23
    mov tmud, rf13
    mov tmua, rf26
    tmuwt -
{END}"
    );
    let nd = data.len();
    let mut unif: Vec<u32> = (0..nd).map(|k| buf(2 + k)).collect();
    unif.extend([buf(0), cfg_word(byte), buf(1)]);
    let mut bufs = vec![initial.to_vec(), vec![0; 16]];
    bufs.extend(data.iter().map(|d| d.to_vec()));
    let mut s = Setup::new(&src, &unif, &bufs);
    s.run(cfg(1, 1, false)).unwrap_or_else(|f| panic!("{f}"));
    (s.words(0), s.words(1))
}

#[test]
fn atomics_return_the_old_value() {
    // py-videocore7 test_tmu_op_write_*: memory gets op(initial, src), ldtmu gives initial.
    let initial: [u32; 16] = std::array::from_fn(|i| (i as u32).wrapping_mul(0x9e37_79b9));
    let src: [u32; 16] = std::array::from_fn(|i| (i as u32 + 3).wrapping_mul(0x85eb_ca6b));
    type Reference = fn(u32, u32) -> u32;
    let cases: [(u32, Reference); 10] = [
        (0, |a, b| a.wrapping_add(b)),
        (1, |a, b| a.wrapping_sub(b)),
        (2, |_, b| b),
        (4, |a, b| a.min(b)),
        (5, |a, b| a.max(b)),
        (6, |a, b| (a as i32).min(b as i32) as u32),
        (7, |a, b| (a as i32).max(b as i32) as u32),
        (8, |a, b| a & b),
        (9, |a, b| a | b),
        (10, |a, b| a ^ b),
    ];
    for (op, f) in cases {
        let (mem, old) = atomic(op, &initial, &[src]);
        let want: Vec<u32> = (0..16).map(|i| f(initial[i], src[i])).collect();
        assert_eq!(mem, want, "op {op}");
        assert_eq!(old, initial.to_vec(), "op {op} returns the old value");
    }
}

#[test]
fn compare_exchange() {
    // py-videocore7 test_tmu_op_write_cmpxchg: compare value first, new value second; lanes
    // whose memory equals the compare value take the new value.
    let initial: [u32; 16] = std::array::from_fn(|i| 1000 + i as u32);
    let cmp: [u32; 16] = std::array::from_fn(|i| 1000 + i as u32 + (i as u32 % 2));
    let new: [u32; 16] = std::array::from_fn(|i| 5000 + i as u32);
    let (mem, old) = atomic(3, &initial, &[cmp, new]);
    let want: Vec<u32> = (0..16)
        .map(|i| if i % 2 == 0 { new[i] } else { initial[i] })
        .collect();
    assert_eq!(mem, want);
    assert_eq!(old, initial.to_vec());
}

#[test]
fn lanes_hitting_one_address_apply_in_lane_order() {
    // Increment without data (Mesa's atomic_add_replaced): 16 lanes on one word.
    let src = format!(
        "    nop ; ldunifrf.rf24
    nop ; ldunifrf.rf25
    mov tmuc, rf25
    mov tmua, rf24
    nop ; ldtmu.rf10
    nop ; ldunifrf.rf26
    eidx rf23
    shl rf23, rf23, 2
    add rf26, rf26, rf23
    mov tmud, rf10
    mov tmua, rf26
    tmuwt -
{END}"
    );
    let mut s = Setup::new(
        &src,
        &[buf(0), cfg_word(0x80 | (8 << 3) | 7), buf(1)],
        &[vec![40], vec![0; 16]],
    );
    s.run(cfg(1, 1, false)).unwrap();
    assert_eq!(s.words(0), vec![56]);
    assert_eq!(s.words(1), (40..56).collect::<Vec<u32>>());
}

#[test]
fn prefetch_returns_nothing() {
    let src = format!(
        "    nop ; ldunifrf.rf1
    nop ; ldunifrf.rf24
    mov tmuc, rf1
    mov tmua, rf24
    nop ; ldtmu.rf10
{END}"
    );
    // The prefetch (config byte 0x80) queues no result, so the ldtmu finds the FIFO empty.
    let f = fault1(&src, &[cfg_word(0x80), 0x7000_0000], &[]);
    expect_kind(&f, |k| matches!(k, FaultKind::LdtmuEmpty), "empty FIFO");
}

#[test]
fn out_of_bounds_access_names_the_lane() {
    let src = format!(
        "{PROLOGUE}    nop ; ldunifrf.rf24
    add rf24, rf24, rf23
    mov tmua, rf24
    nop ; ldtmu.rf10
{END}"
    );
    // Buffer 0 has 3 words: lane 3 reads past its end.
    let f = fault1(&src, &[buf(0)], &[vec![0; 3]]);
    expect_kind(
        &f,
        |k| matches!(k, FaultKind::OutOfBounds { lane: 3, addr, .. } if *addr == buf(0) + 12),
        "out of bounds in lane 3",
    );
    let loc = f.at.expect("a located fault");
    assert_eq!((loc.qpu, loc.thread, loc.pc), (0, 0, CODE + 4 * 8));
}

#[test]
fn output_fifo_overflow_faults() {
    // 2 threads per QPU: 16 / 2 = 8 words per thread (Mesa ntq_tmu_fifo_overflow).
    let reads = "    mov tmua, rf24\n".repeat(9);
    let src = format!("{PROLOGUE}    nop ; ldunifrf.rf24\n    add rf24, rf24, rf23\n{reads}{END}");
    let f = fault1(&src, &[buf(0)], &[vec![0; 16]]);
    expect_kind(
        &f,
        |k| {
            matches!(
                k,
                FaultKind::TmuFifoOverflow {
                    queued: 8,
                    adding: 1,
                    capacity: 8
                }
            )
        },
        "overflow",
    );
    // Eight fit.
    let reads = "    mov tmua, rf24\n".repeat(8);
    let pops = "    nop ; ldtmu.rf10\n".repeat(8);
    let src =
        format!("{PROLOGUE}    nop ; ldunifrf.rf24\n    add rf24, rf24, rf23\n{reads}{pops}{END}");
    run1(&src, &[buf(0)], &[vec![0; 16]], 0);
}

#[test]
fn tmuwt_waits_for_writes() {
    let src = format!(
        "{PROLOGUE}    nop ; ldunifrf.rf24
    add rf24, rf24, rf23
    mov tmud, 1
    mov tmua, rf24
    tmuwt -
{END}"
    );
    let mut s = Setup::new(&src, &[buf(0)], &[vec![0; 16]]);
    let st = s.run(cfg(1, 1, false)).unwrap();
    assert!(
        st.tmu_wait_cycles() > 0,
        "the write latency shows as TMU wait"
    );
    assert_eq!(st.tmu_requests(), 1);
}
