//! The disassembly of every assembled kernel, as insta snapshots: any change to a kernel's
//! code shows up in review as a readable diff of its instructions.

use qpu_asm::decode;

#[test]
fn kernels_disassemble_to_their_snapshots() {
    assert!(!kernels::code::ALL.is_empty());
    for (name, code) in kernels::code::ALL {
        let text: String = code
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let instr = decode(*w).unwrap_or_else(|e| panic!("{name}: word {i}: {e}"));
                format!("{:04x}: {}\n", i * 8, instr.to_string().trim_end())
            })
            .collect();
        insta::assert_snapshot!(*name, text);
    }
}
