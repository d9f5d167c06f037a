//! Over a million random words: decoding never panics, every word that decodes re-encodes to
//! itself up to the bits named by `ignored_bits`, and its text assembles back to the same word.

use qpu_asm::{FsLoader, Instr, assemble, decode, encode, ignored_bits};

/// xorshift64*: deterministic, no dependency, seed printed on failure.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn seed() -> u64 {
    std::env::var("QPU_ASM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_da3d_a105_0001)
}

/// Random words biased towards valid ones: half fully random, half with a valid op_mul/sig and
/// branch shapes, so that every table row is reached many times.
fn word(rng: &mut Rng) -> u64 {
    let w = rng.next();
    match w & 3 {
        0 | 1 => w,
        2 => (w & !(0x3f << 58)) | ((rng.next() % 63 + 1) << 58),
        _ => (w & !(0x3f << 58 | 0x3 << 56)) | 0b10 << 56,
    }
}

#[test]
fn a_million_random_words_round_trip() {
    let seed = seed();
    let mut rng = Rng(seed);
    let (mut decoded, mut branches) = (0u32, 0u32);
    for n in 0..1_000_000u32 {
        let w = word(&mut rng);
        let Ok(instr) = decode(w) else { continue };
        decoded += 1;
        if matches!(instr, Instr::Branch(_)) {
            branches += 1;
        }
        let back = encode(&instr).unwrap_or_else(|e| {
            panic!("seed {seed:#x} word #{n} {w:#018x} decodes but does not encode: {e}")
        });
        let ignored = ignored_bits(&instr);
        assert_eq!(
            (back ^ w) & !ignored,
            0,
            "seed {seed:#x} word #{n} {w:#018x} re-encodes to {back:#018x}; differing bits {:#018x} are not ignored bits",
            (back ^ w) & !ignored
        );
        assert_eq!(
            decode(back),
            Ok(instr),
            "canonical word {back:#018x} decodes differently"
        );
    }
    // The generator must actually exercise the decoder.
    assert!(decoded > 200_000, "only {decoded} words decoded");
    assert!(branches > 10_000, "only {branches} branches decoded");
}

#[test]
fn the_text_of_every_decodable_word_assembles_back() {
    let seed = seed() ^ 0xabcdef;
    let mut rng = Rng(seed);
    let mut checked = 0;
    // Assemble in batches of a few thousand lines so the assembler itself is exercised on
    // multi-line programs.
    for _ in 0..40 {
        let mut src = String::new();
        let mut want = Vec::new();
        while want.len() < 2_500 {
            let w = word(&mut rng);
            if let Ok(i) = decode(w) {
                src.push_str(&i.to_string());
                src.push('\n');
                want.push(encode(&i).unwrap());
            }
        }
        let p = assemble(&src, "random", None, &FsLoader)
            .unwrap_or_else(|d| panic!("seed {seed:#x}: disassembly does not assemble: {}", d[0]));
        for (k, (got, want)) in p.words.iter().zip(&want).enumerate() {
            assert_eq!(
                got,
                want,
                "seed {seed:#x}: line {} `{}`",
                k + 1,
                src.lines().nth(k).unwrap()
            );
        }
        checked += want.len();
    }
    assert_eq!(checked, 100_000);
}
