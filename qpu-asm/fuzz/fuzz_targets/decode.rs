//! Any 8 bytes: decoding never panics, a word that decodes re-encodes to itself up to its
//! ignored bits, and its text assembles back to the same canonical word.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qpu_asm::{FsLoader, assemble, decode, encode, ignored_bits};

fuzz_target!(|data: &[u8]| {
    for chunk in data.chunks_exact(8) {
        let w = u64::from_le_bytes(chunk.try_into().unwrap());
        let Ok(instr) = decode(w) else { continue };
        let back = encode(&instr).expect("decoded instruction must encode");
        assert_eq!((back ^ w) & !ignored_bits(&instr), 0, "{w:#018x} -> {back:#018x}");
        let text = instr.to_string();
        let p = assemble(&text, "fuzz", None, &FsLoader).expect("own text must assemble");
        assert_eq!(p.words, vec![back], "`{text}`");
    }
});
