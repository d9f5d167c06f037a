//! The forms Mesa gets wrong or cannot express, checked against words produced by
//! py-videocore7's assembler (Idein/py-videocore7 `src/_videocore7/assembler.py` at dc4f91d,
//! whose encodings run on a Raspberry Pi 5). The words below were generated with it:
//! `fround(rf1, rf2.unpack('l'))`, `nop().fmov(rf5, rf6.unpack('sat'))`, ... and
//! `b(R.x, cond='always', set_link=True)`.

use qpu_asm::{FsLoader, Syntax, assemble, canonicalize, decode, fold_whitespace};

const HW: &[(u64, &str)] = &[
    // FROUND/FTRUNC/FFLOOR/FCEIL/FDX/FDY: the unpack lives in rb[3:2]; Mesa reads it from the
    // opcode and never shows .l/.h.
    (0x38002181f503f088, "fround rf1, rf2.l ; nop"),
    (0x38002181f503f09c, "ftrunc rf1, rf2.h ; nop"),
    (0x38002183f503f124, "ffloor rf3, rf4 ; nop"),
    (0x38002183f503f13d, "fceil rf3.l, rf4.h ; nop"),
    (0x38002181f603f088, "fdx rf1, rf2.l ; nop"),
    (0x38002181f603f096, "fdy rf1.h, rf2 ; nop"),
    // Mul FMOV with 7.1's saturating unpacks: Mesa decodes only two of the three unpack bits.
    (0x38001146bb190000, "nop ; fmov rf5, rf6.sat"),
    (0x38001146bb194000, "nop ; fmov rf5, rf6.nsat"),
    (0x38001146bb198000, "nop ; fmov rf5, rf6.max0"),
    // Half-float VFMIN/VFMAX/VFMUL, which Mesa's 7.1 tables cannot decode.
    (0x38002181b003f083, "vfmin rf1, rf2, rf3 ; nop"),
    (0x38002181f203f083, "vfmax rf1, rf2.ll, rf3 ; nop"),
    (0x20001046bb083000, "nop ; vfmul rf1, rf2.swp, rf3"),
    // Register 44 is TMUHSCM (Mesa prints tmuscm, the name of 40).
    (0x380031acf903f043, "mov tmuhscm, rf1 ; nop"),
    // Branch-and-link (bit 23), ignored by Mesa. py-videocore7 also sets bdu=1 without ub,
    // which the hardware ignores: the canonical word has bdu=0.
    (0x0200000000809000, "bl 0"),
];

fn asm_one(text: &str) -> u64 {
    let p = assemble(text, "hw", None, &FsLoader)
        .unwrap_or_else(|d| panic!("`{text}` does not assemble: {}", d[0]));
    assert_eq!(p.words.len(), 1);
    p.words[0]
}

#[test]
fn hardware_forms_disassemble_and_assemble() {
    for &(w, text) in HW {
        let i = decode(w).unwrap_or_else(|e| panic!("{w:#018x}: {e}"));
        assert_eq!(fold_whitespace(&i.to_string()), text, "{w:#018x}");
        assert_eq!(asm_one(text), canonicalize(w).unwrap(), "`{text}`");
    }
    // Only the branch carried an ignored bit.
    assert_eq!(
        canonicalize(0x0200000000809000).unwrap(),
        0x0200000000801000
    );
}

#[test]
fn mesa_syntax_keeps_mesa_quirks() {
    let tmuhscm = decode(0x380031acf903f043).unwrap();
    assert_eq!(
        fold_whitespace(&tmuhscm.to_text(Syntax::Mesa)),
        "mov tmuscm, rf1 ; nop"
    );
    let link = decode(0x0200000000809000).unwrap();
    assert_eq!(fold_whitespace(&link.to_text(Syntax::Mesa)), "b 0");
}

#[test]
fn every_magic_address_round_trips() {
    for m in qpu_asm::isa::Magic::all() {
        let text = format!("mov {}, rf1", m.name());
        let w = asm_one(&text);
        let back = decode(w).unwrap().to_string();
        assert_eq!(fold_whitespace(&back), format!("{text} ; nop"));
    }
}

#[test]
fn reserved_magic_addresses_are_rejected() {
    // mov with ma=1 and waddr_a = 27 (reserved on every version).
    let w = asm_one("mov tmua, rf1") & !(0x3f << 32) | 27 << 32;
    assert!(matches!(
        decode(w),
        Err(qpu_asm::DecodeError::ReservedMagic { waddr: 27, .. })
    ));
}

#[test]
fn every_branch_form_round_trips() {
    let conds = ["", ".a0", ".na0", ".alla", ".anyna", ".anya", ".allna"];
    let msf = ["", "p", "q"];
    let code = ["-4096", "zero_addr+0x00001000", "lri", "rf7"];
    let unif = [
        None,
        Some("a:unif"),
        Some("r:unif"),
        Some("lri"),
        Some("rf7"),
    ];
    let mut n = 0;
    for link in ["", "l"] {
        for c in conds {
            for m in msf {
                for t in code {
                    for u in unif {
                        let ub = if u.is_some() { "u" } else { "" };
                        let text = match u {
                            Some(u) => format!("b{link}{ub}{c}{m} {t}, {u}"),
                            None => format!("b{link}{c}{m} {t}"),
                        };
                        let w = asm_one(&text);
                        let back = decode(w).unwrap().to_string();
                        assert_eq!(fold_whitespace(&back), text);
                        n += 1;
                    }
                }
            }
        }
    }
    assert_eq!(n, 2 * 7 * 3 * 4 * 5);
}
