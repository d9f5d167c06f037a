//! Any text: the assembler never panics; what it accepts disassembles and re-assembles to the
//! same words.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qpu_asm::{FsLoader, assemble, decode};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    // Includes would read the file system; the fuzzer exercises the directive parser only.
    let Ok(p) = assemble(src, "fuzz", None, &NoFiles) else { return };
    let text: String = p
        .words
        .iter()
        .map(|w| decode(*w).expect("assembled word must decode").to_string() + "\n")
        .collect();
    let again = assemble(&text, "again", None, &FsLoader).expect("disassembly must assemble");
    assert_eq!(again.words, p.words);
});

struct NoFiles;
impl qpu_asm::SourceLoader for NoFiles {
    fn load(&self, _: &std::path::Path) -> std::io::Result<String> {
        Err(std::io::Error::new(std::io::ErrorKind::NotFound, "fuzzing"))
    }
}
