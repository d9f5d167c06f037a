//! The V3D 7.1 instruction set, described once.
//!
//! Every fact about an ALU op (mnemonic, opcode, selector value in the read-address field, operand
//! count, whether it writes a destination, and where its modifiers live) is one row of
//! [`ADD_OPS`] or [`MUL_OPS`]. The encoder, the decoder, the printer, the parser and the emulator
//! all read these rows; none keeps a second list.
//!
//! Sources: Mesa `src/broadcom/qpu/{qpu_instr.c,qpu_pack.c,qpu_disasm.c}` (the 7.1 tables
//! `v3d71_add_ops`/`v3d71_mul_ops`), cross-checked against Idein's py-videocore7
//! (`src/_videocore7/assembler.py`, whose encodings were run on a Raspberry Pi 5). Where the two
//! disagree we follow py-videocore7 and say so next to the row.

use std::fmt;

/// Which of the two ALUs an op runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alu {
    Add,
    Mul,
}

/// Where an op keeps its input unpacks and output pack.
///
/// The opcode or the selector read address carries them; the class says which bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModClass {
    /// No modifiers at all.
    Plain,
    /// Two-source float op: `op = base + (pack << 4 | a_unpack << 2 | b_unpack)`, each unpack a
    /// 2-bit f32 code (abs, none, l, h). FADD/FADDNF/FSUB/FMIN/FMAX.
    F32Binary,
    /// FCMP: `op = base | a_unpack << 2 | b_unpack`, no output pack.
    F32Compare,
    /// VFPACK: `op = 48 | a << 2 | b` with both 2-bit unpacks in 1..=3 (abs not allowed).
    Vfpack,
    /// Mul FMUL: `op = 16 + (pack << 4 | a_unpack << 2 | b_unpack)`.
    FMul,
    /// Half-float pair op whose source A has a 16-bit unpack in the opcode: `op = base + unpack`
    /// (none, ff, ll, hh, swp). VFMIN/VFMAX/VFADD/VFSUB/VFCMP on the add ALU, VFMUL on the mul ALU.
    F16A,
    /// One-source float op with pack in `rb[1:0]` and the f32 unpack in `rb[3:2]`:
    /// FROUND/FTRUNC/FFLOOR/FCEIL/FDX/FDY.
    ///
    /// Mesa's 7.1 decoder reads this unpack from opcode bits 3:2 instead (`qpu_pack.c`,
    /// `v3d71_qpu_add_unpack`), so `.l`/`.h` never show in its disassembly; its packer writes
    /// `rb[3:2]`, and the hardware honours `rb[3:2]` (py-videocore7 `tests/test_alu.py`,
    /// `test_unary_ops`). We follow the hardware.
    F32UnaryRb,
    /// Float-to-int conversion: f32 unpack in `rb[3:2]`, `rb[1:0]` = 3, no pack.
    FtoiRb,
    /// Int-to-float conversion (and FXCD/FYCD): output pack in `rb[1:0]`, no unpack.
    PackRb,
    /// FMOV: pack in `rb[1:0]` (0..=2) and a 3-bit f32 unpack in `rb[4:2]` (0..=6, which
    /// includes 7.1's sat/nsat/max0).
    ///
    /// On the mul ALU Mesa decodes the unpack as `(rd >> 2) & 3` (`v3d71_qpu_mul_unpack`), so a
    /// mul `fmov` with `.sat`/`.nsat`/`.max0` disassembles as `.abs`/none/`.l`; its packer writes
    /// all three bits. We decode all three bits, as the hardware does.
    FmovRb,
    /// MOV: `rb[1:0]` = 3 and the integer unpack (none, ul, uh, il, ih) in `rb[4:2]`.
    MovRb,
}

impl ModClass {
    /// The bits of the selector read address that carry modifiers rather than the op identity.
    pub const fn rb_mod_mask(self) -> u8 {
        match self {
            ModClass::F32UnaryRb => 0b00_1111,
            ModClass::FtoiRb => 0b00_1100,
            ModClass::PackRb => 0b00_0011,
            ModClass::FmovRb => 0b01_1111,
            ModClass::MovRb => 0b01_1100,
            _ => 0,
        }
    }

    /// How many consecutive opcodes, starting at the row's base, the op occupies.
    pub const fn op_span(self) -> u8 {
        match self {
            ModClass::F32Binary | ModClass::FMul => 48,
            ModClass::F32Compare | ModClass::Vfpack => 16,
            ModClass::F16A => 5,
            _ => 1,
        }
    }
}

/// One row of the op table.
#[derive(Clone, Copy, Debug)]
pub struct OpDesc<Op> {
    pub op: Op,
    pub name: &'static str,
    /// The first (base) opcode.
    pub opcode: u8,
    /// For ops selected by a read address (`raddr_b` on the add ALU, `raddr_d` on the mul ALU):
    /// the selector value with all modifier bits zero. `None` when that field is a source.
    pub sel: Option<u8>,
    /// Number of sources (0, 1 or 2).
    pub nsrc: u8,
    /// Whether the op writes its destination.
    pub dst: bool,
    pub class: ModClass,
}

macro_rules! op_table {
    (
        $(#[$emeta:meta])* enum $enum:ident; table $table:ident;
        $( $(#[$vmeta:meta])* $variant:ident = $name:literal, $opcode:literal, $sel:tt, $nsrc:literal, $dst:ident, $class:ident; )*
    ) => {
        $(#[$emeta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $enum {
            $( $(#[$vmeta])* $variant, )*
        }

        /// The op table: one row per op, in decode priority order.
        pub const $table: &[OpDesc<$enum>] = &[
            $( OpDesc {
                op: $enum::$variant,
                name: $name,
                opcode: $opcode,
                sel: op_table!(@sel $sel),
                nsrc: $nsrc,
                dst: op_table!(@dst $dst),
                class: ModClass::$class,
            }, )*
        ];

        impl $enum {
            /// This op's row of the table.
            pub fn desc(self) -> &'static OpDesc<$enum> {
                // The table is in enum order (checked by a unit test), so index directly.
                &$table[self as usize]
            }
            /// The mnemonic, as Mesa prints it.
            pub fn name(self) -> &'static str {
                self.desc().name
            }
            pub fn nsrc(self) -> u8 {
                self.desc().nsrc
            }
            pub fn has_dst(self) -> bool {
                self.desc().dst
            }
            pub fn class(self) -> ModClass {
                self.desc().class
            }
            /// Looks an op up by mnemonic.
            pub fn from_name(name: &str) -> Option<$enum> {
                $table.iter().find(|d| d.name == name).map(|d| d.op)
            }
        }

        impl fmt::Display for $enum {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
    (@sel -) => { None };
    (@sel $v:literal) => { Some($v) };
    (@dst D) => { true };
    (@dst N) => { false };
}

op_table! {
    /// Add-ALU operations of V3D 7.1.
    enum AddOp; table ADD_OPS;
    // FADD and FADDNF share opcodes 0..47: the order of the operands picks the op (see
    // `operand_order_key`). Likewise FMIN/FMAX.
    Fadd = "fadd", 0, -, 2, D, F32Binary;
    Faddnf = "faddnf", 0, -, 2, D, F32Binary;
    /// Added to Mesa's 7.1 table after 2025 (half-float pair add).
    Vfadd = "vfadd", 48, -, 2, D, F16A;
    Vfpack = "vfpack", 48, -, 2, D, Vfpack;
    Add = "add", 56, -, 2, D, Plain;
    Sub = "sub", 60, -, 2, D, Plain;
    Fsub = "fsub", 64, -, 2, D, F32Binary;
    /// Added to Mesa's 7.1 table after 2025 (half-float pair subtract).
    Vfsub = "vfsub", 112, -, 2, D, F16A;
    Min = "min", 120, -, 2, D, Plain;
    Max = "max", 121, -, 2, D, Plain;
    Umin = "umin", 122, -, 2, D, Plain;
    Umax = "umax", 123, -, 2, D, Plain;
    Shl = "shl", 124, -, 2, D, Plain;
    Shr = "shr", 125, -, 2, D, Plain;
    Asr = "asr", 126, -, 2, D, Plain;
    Ror = "ror", 127, -, 2, D, Plain;
    Fmin = "fmin", 128, -, 2, D, F32Binary;
    Fmax = "fmax", 128, -, 2, D, F32Binary;
    /// Mesa's 7.1 decoder hits `unreachable` here; py-videocore7 runs it on hardware
    /// (`test_alu.py::test_binary_ops`).
    Vfmin = "vfmin", 176, -, 2, D, F16A;
    And = "and", 181, -, 2, D, Plain;
    Or = "or", 182, -, 2, D, Plain;
    Xor = "xor", 183, -, 2, D, Plain;
    Vadd = "vadd", 184, -, 2, D, Plain;
    Vsub = "vsub", 185, -, 2, D, Plain;
    Not = "not", 186, 0, 1, D, Plain;
    Neg = "neg", 186, 1, 1, D, Plain;
    Flapush = "flapush", 186, 2, 1, D, Plain;
    Flbpush = "flbpush", 186, 3, 1, D, Plain;
    Flpop = "flpop", 186, 4, 1, D, Plain;
    /// RECIP on 4.2; CLZ on 7.1.
    Clz = "clz", 186, 5, 1, D, Plain;
    Setmsf = "setmsf", 186, 6, 1, D, Plain;
    Setrevf = "setrevf", 186, 7, 1, D, Plain;
    Nop = "nop", 187, 0, 0, N, Plain;
    Tidx = "tidx", 187, 1, 0, D, Plain;
    Eidx = "eidx", 187, 2, 0, D, Plain;
    Lr = "lr", 187, 3, 0, D, Plain;
    Vfla = "vfla", 187, 4, 0, D, Plain;
    Vflna = "vflna", 187, 5, 0, D, Plain;
    Vflb = "vflb", 187, 6, 0, D, Plain;
    Vflnb = "vflnb", 187, 7, 0, D, Plain;
    Xcd = "xcd", 187, 8, 0, D, Plain;
    Ycd = "ycd", 187, 9, 0, D, Plain;
    Msf = "msf", 187, 10, 0, D, Plain;
    Revf = "revf", 187, 11, 0, D, Plain;
    Iid = "iid", 187, 12, 0, D, Plain;
    Sampid = "sampid", 187, 13, 0, D, Plain;
    Barrierid = "barrierid", 187, 14, 0, D, Plain;
    Tmuwt = "tmuwt", 187, 15, 0, D, Plain;
    Vpmwt = "vpmwt", 187, 16, 0, D, Plain;
    Flafirst = "flafirst", 187, 17, 0, D, Plain;
    Flnafirst = "flnafirst", 187, 18, 0, D, Plain;
    /// Selectors 32..=34: the low bits are an output pack, as for ITOF (Mesa lists the range
    /// but only ever packs 32, so its own unpack-pack does not round-trip 33 and 34).
    Fxcd = "fxcd", 187, 32, 0, D, PackRb;
    Fycd = "fycd", 187, 36, 0, D, PackRb;
    /// Added to Mesa's 7.1 table after 2025.
    SetnnmodeUu = "setnnmode_uu", 187, 48, 0, N, Plain;
    SetnnmodeSu = "setnnmode_su", 187, 49, 0, N, Plain;
    SetnnmodeUs = "setnnmode_us", 187, 50, 0, N, Plain;
    SetnnmodeSs = "setnnmode_ss", 187, 51, 0, N, Plain;
    LdvpmvIn = "ldvpmv_in", 188, 0, 1, D, Plain;
    LdvpmdIn = "ldvpmd_in", 188, 1, 1, D, Plain;
    Ldvpmp = "ldvpmp", 188, 2, 1, D, Plain;
    /// The SFU is reached through add ops on 7.1; results arrive two instructions later.
    Recip = "recip", 188, 32, 1, D, Plain;
    Rsqrt = "rsqrt", 188, 33, 1, D, Plain;
    Exp = "exp", 188, 34, 1, D, Plain;
    Log = "log", 188, 35, 1, D, Plain;
    Sin = "sin", 188, 36, 1, D, Plain;
    Rsqrt2 = "rsqrt2", 188, 37, 1, D, Plain;
    Ballot = "ballot", 188, 38, 1, D, Plain;
    Bcastf = "bcastf", 188, 39, 1, D, Plain;
    Alleq = "alleq", 188, 40, 1, D, Plain;
    Allfeq = "allfeq", 188, 41, 1, D, Plain;
    LdvpmgIn = "ldvpmg_in", 189, -, 2, D, Plain;
    /// STVPM* are told apart by `waddr_a` (0, 1, 2), with `ma` clear.
    Stvpmv = "stvpmv", 190, -, 2, N, Plain;
    Stvpmd = "stvpmd", 190, -, 2, N, Plain;
    Stvpmp = "stvpmp", 190, -, 2, N, Plain;
    /// Added to Mesa's 7.1 table after 2025: op 191 with rb 0/5/10/15.
    Vfmov = "vfmov", 191, 0, 1, D, Plain;
    Vfabs = "vfabs", 191, 5, 1, D, Plain;
    Vfneg = "vfneg", 191, 10, 1, D, Plain;
    Vfnab = "vfnab", 191, 15, 1, D, Plain;
    Fcmp = "fcmp", 192, -, 2, D, F32Compare;
    /// Added to Mesa's 7.1 table after 2025.
    Vfcmp = "vfcmp", 208, -, 2, D, F16A;
    /// Missing from Mesa's 7.1 table; py-videocore7 runs it on hardware
    /// (`test_alu.py::test_binary_ops`).
    Vfmax = "vfmax", 240, -, 2, D, F16A;
    Fround = "fround", 245, 0, 1, D, F32UnaryRb;
    Ftoin = "ftoin", 245, 3, 1, D, FtoiRb;
    Ftrunc = "ftrunc", 245, 16, 1, D, F32UnaryRb;
    Ftoiz = "ftoiz", 245, 19, 1, D, FtoiRb;
    Ffloor = "ffloor", 245, 32, 1, D, F32UnaryRb;
    Ftouz = "ftouz", 245, 35, 1, D, FtoiRb;
    Fceil = "fceil", 245, 48, 1, D, F32UnaryRb;
    Ftoc = "ftoc", 245, 51, 1, D, FtoiRb;
    Fdx = "fdx", 246, 0, 1, D, F32UnaryRb;
    Fdy = "fdy", 246, 16, 1, D, F32UnaryRb;
    Itof = "itof", 246, 32, 1, D, PackRb;
    Utof = "utof", 246, 36, 1, D, PackRb;
    Vpack = "vpack", 247, -, 2, D, Plain;
    V8pack = "v8pack", 248, -, 2, D, Plain;
    Fmov = "fmov", 249, 0, 1, D, FmovRb;
    Mov = "mov", 249, 3, 1, D, MovRb;
    V10pack = "v10pack", 250, -, 2, D, Plain;
    V11fpack = "v11fpack", 251, -, 2, D, Plain;
    /// py-videocore7's `quad_rotate`: rotate within each quad by that quad's lane-0 value of b.
    Rotq = "rotq", 252, -, 2, D, Plain;
    /// py-videocore7's `rotate`: `dst[i] = a[(i + b[0]) % 16]` (`test_alu.py`).
    Rot = "rot", 253, -, 2, D, Plain;
    /// `dst[i] = a[b[i] % 16]` (`test_alu.py`).
    Shuffle = "shuffle", 254, -, 2, D, Plain;
    // Not in the opcode table: selected by the `ma` bit on LDVPM*_IN (see `decode`).
    LdvpmvOut = "ldvpmv_out", 188, 0, 1, D, Plain;
    LdvpmdOut = "ldvpmd_out", 188, 1, 1, D, Plain;
    LdvpmgOut = "ldvpmg_out", 189, -, 2, D, Plain;
}

op_table! {
    /// Mul-ALU operations of V3D 7.1.
    enum MulOp; table MUL_OPS;
    Add = "add", 1, -, 2, D, Plain;
    Sub = "sub", 2, -, 2, D, Plain;
    Umul24 = "umul24", 3, -, 2, D, Plain;
    /// Mesa's 7.1 decoder hits `unreachable` here; py-videocore7 runs it on hardware.
    Vfmul = "vfmul", 4, -, 2, D, F16A;
    Smul24 = "smul24", 9, -, 2, D, Plain;
    Multop = "multop", 10, -, 2, D, Plain;
    /// Added to Mesa's 7.1 table after 2025.
    V8dot = "v8dot", 11, -, 2, D, Plain;
    Fmov = "fmov", 14, 0, 1, D, FmovRb;
    Mov = "mov", 14, 3, 1, D, MovRb;
    Ftounorm16 = "ftounorm16", 14, 32, 1, D, Plain;
    Ftosnorm16 = "ftosnorm16", 14, 33, 1, D, Plain;
    Vftounorm8 = "vftounorm8", 14, 34, 1, D, Plain;
    Vftosnorm8 = "vftosnorm8", 14, 35, 1, D, Plain;
    Funpackunormlo = "funpackunormlo", 14, 36, 1, D, Plain;
    Funpackunormhi = "funpackunormhi", 14, 37, 1, D, Plain;
    Funpacksnormlo = "funpacksnormlo", 14, 38, 1, D, Plain;
    Funpacksnormhi = "funpacksnormhi", 14, 39, 1, D, Plain;
    Vftounorm10lo = "vftounorm10lo", 14, 48, 1, D, Plain;
    Vftounorm10hi = "vftounorm10hi", 14, 49, 1, D, Plain;
    Nop = "nop", 14, 63, 0, N, Plain;
    Fmul = "fmul", 16, -, 2, D, FMul;
}

/// The operand-order rule of the commutative float ops.
///
/// FADD/FADDNF and FMIN/FMAX share opcodes; the hardware picks FADD (FMIN) when
/// `key(a) <= key(b)` and FADDNF (FMAX) otherwise (Mesa `v3d71_qpu_add_unpack`/`_pack`). An
/// encoder swaps the operands (with their unpacks and small-immediate signals) to get the op it
/// wants.
pub fn operand_order_key(small_imm: bool, unpack_code: u8, raddr: u8) -> u32 {
    u32::from(small_imm) * 256 + u32::from(unpack_code) * 64 + u32::from(raddr)
}

/// Whether `op` is one of the pairs told apart by operand order, and if so which member is the
/// one chosen when `key(a) <= key(b)`.
pub fn ordered_pair(op: AddOp) -> Option<(AddOp, AddOp)> {
    match op {
        AddOp::Fadd | AddOp::Faddnf => Some((AddOp::Fadd, AddOp::Faddnf)),
        AddOp::Fmin | AddOp::Fmax => Some((AddOp::Fmin, AddOp::Fmax)),
        _ => None,
    }
}

/// Magic write addresses (`ma`/`mm` or the signal's magic bit set).
///
/// Numbers 0..=4 and 19..=24 are reserved on 7.1 (they were r0..r4 and the SFU on 4.2); Mesa
/// still prints the 4.2 names for them, so we do too, and the emulator faults on a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Magic {
    R0 = 0,
    R1 = 1,
    R2 = 2,
    R3 = 3,
    R4 = 4,
    /// Writes rf0 with each quad's lane-0 value broadcast to its 4 lanes (r5 on 4.2).
    Quad = 5,
    Nop = 6,
    Tlb = 7,
    Tlbu = 8,
    Unifa = 9,
    Tmul = 10,
    Tmud = 11,
    Tmua = 12,
    Tmuau = 13,
    Vpm = 14,
    Vpmu = 15,
    Sync = 16,
    Syncu = 17,
    Syncb = 18,
    Recip = 19,
    Rsqrt = 20,
    Exp = 21,
    Log = 22,
    Sin = 23,
    Rsqrt2 = 24,
    Tmuc = 32,
    Tmus = 33,
    Tmut = 34,
    Tmur = 35,
    Tmui = 36,
    Tmub = 37,
    Tmudref = 38,
    Tmuoff = 39,
    Tmuscm = 40,
    Tmusf = 41,
    Tmuslod = 42,
    Tmuhs = 43,
    /// Mesa prints `tmuscm` for this one too (a copy-paste slip in `qpu_instr.c`); it is the
    /// half-size TMU's SCM register, `tmuhscm` in py-videocore7.
    Tmuhscm = 44,
    Tmuhsf = 45,
    Tmuhslod = 46,
    /// Writes rf0 on all lanes with lane 0's value (r5rep on 4.2).
    Rep = 55,
}

const MAGICS: &[(Magic, &str)] = &[
    (Magic::R0, "r0"),
    (Magic::R1, "r1"),
    (Magic::R2, "r2"),
    (Magic::R3, "r3"),
    (Magic::R4, "r4"),
    (Magic::Quad, "quad"),
    (Magic::Nop, "-"),
    (Magic::Tlb, "tlb"),
    (Magic::Tlbu, "tlbu"),
    (Magic::Unifa, "unifa"),
    (Magic::Tmul, "tmul"),
    (Magic::Tmud, "tmud"),
    (Magic::Tmua, "tmua"),
    (Magic::Tmuau, "tmuau"),
    (Magic::Vpm, "vpm"),
    (Magic::Vpmu, "vpmu"),
    (Magic::Sync, "sync"),
    (Magic::Syncu, "syncu"),
    (Magic::Syncb, "syncb"),
    (Magic::Recip, "recip"),
    (Magic::Rsqrt, "rsqrt"),
    (Magic::Exp, "exp"),
    (Magic::Log, "log"),
    (Magic::Sin, "sin"),
    (Magic::Rsqrt2, "rsqrt2"),
    (Magic::Tmuc, "tmuc"),
    (Magic::Tmus, "tmus"),
    (Magic::Tmut, "tmut"),
    (Magic::Tmur, "tmur"),
    (Magic::Tmui, "tmui"),
    (Magic::Tmub, "tmub"),
    (Magic::Tmudref, "tmudref"),
    (Magic::Tmuoff, "tmuoff"),
    (Magic::Tmuscm, "tmuscm"),
    (Magic::Tmusf, "tmusf"),
    (Magic::Tmuslod, "tmuslod"),
    (Magic::Tmuhs, "tmuhs"),
    (Magic::Tmuhscm, "tmuhscm"),
    (Magic::Tmuhsf, "tmuhsf"),
    (Magic::Tmuhslod, "tmuhslod"),
    (Magic::Rep, "rep"),
];

impl Magic {
    pub fn from_index(n: u8) -> Option<Magic> {
        MAGICS.iter().find(|(m, _)| *m as u8 == n).map(|(m, _)| *m)
    }
    pub fn name(self) -> &'static str {
        MAGICS
            .iter()
            .find(|(m, _)| *m == self)
            .map(|(_, n)| *n)
            .unwrap_or("?")
    }
    pub fn from_name(name: &str) -> Option<Magic> {
        MAGICS.iter().find(|(_, n)| *n == name).map(|(m, _)| *m)
    }
    pub fn all() -> impl Iterator<Item = Magic> {
        MAGICS.iter().map(|(m, _)| *m)
    }
    /// The TMU write addresses (Mesa `v3d_qpu_magic_waddr_is_tmu`): 11..=13 and 32..=46.
    pub fn is_tmu(self) -> bool {
        matches!(self as u8, 11..=13 | 32..=46)
    }
    /// Reserved on V3D 7.1 (4.2's accumulators and SFU addresses).
    pub fn is_reserved_on_71(self) -> bool {
        matches!(self as u8, 0..=4 | 19..=24)
    }
    /// Writing these also consumes a uniform (Mesa `v3d_qpu_magic_waddr_loads_unif`).
    pub fn loads_uniform(self) -> bool {
        matches!(
            self,
            Magic::Vpmu | Magic::Tlbu | Magic::Tmuau | Magic::Syncu
        )
    }
}

impl fmt::Display for Magic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A write address: a register-file entry or a magic address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Waddr {
    Rf(u8),
    Magic(Magic),
}

impl Waddr {
    pub const NOP: Waddr = Waddr::Magic(Magic::Nop);

    /// The 6-bit field value and the magic bit.
    pub fn to_bits(self) -> (u8, bool) {
        match self {
            Waddr::Rf(n) => (n & 63, false),
            Waddr::Magic(m) => (m as u8, true),
        }
    }
}

impl fmt::Display for Waddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Waddr::Rf(n) => write!(f, "rf{n}"),
            Waddr::Magic(m) => f.write_str(m.name()),
        }
    }
}

/// Input unpacks (the `.abs`, `.l`, ... suffixes on a source).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Unpack {
    #[default]
    None,
    // f32 unpacks
    Abs,
    /// f16 low half converted to f32.
    L,
    /// f16 high half converted to f32.
    H,
    /// 7.1: clamp to [0, 1].
    Sat,
    /// 7.1: clamp to [-1, 1].
    Nsat,
    /// 7.1: clamp to [0, +inf).
    Max0,
    // f16-pair unpacks (VFMIN/VFMAX/VFMUL ...)
    /// f32 converted to f16 and replicated to both halves (py-videocore7 `r32`).
    Ff,
    /// Low half replicated (`rl2h`).
    Ll,
    /// High half replicated (`rh2l`).
    Hh,
    /// Halves swapped (`swap`).
    Swp,
    // integer unpacks (MOV)
    /// Low 16 bits zero-extended.
    Ul,
    /// High 16 bits zero-extended.
    Uh,
    /// Low 16 bits sign-extended.
    Il,
    /// High 16 bits sign-extended.
    Ih,
}

impl Unpack {
    pub fn suffix(self) -> &'static str {
        match self {
            Unpack::None => "",
            Unpack::Abs => ".abs",
            Unpack::L => ".l",
            Unpack::H => ".h",
            Unpack::Sat => ".sat",
            Unpack::Nsat => ".nsat",
            Unpack::Max0 => ".max0",
            Unpack::Ff => ".ff",
            Unpack::Ll => ".ll",
            Unpack::Hh => ".hh",
            Unpack::Swp => ".swp",
            Unpack::Ul => ".ul",
            Unpack::Uh => ".uh",
            Unpack::Il => ".il",
            Unpack::Ih => ".ih",
        }
    }

    pub fn from_suffix(s: &str) -> Option<Unpack> {
        Some(match s {
            "abs" => Unpack::Abs,
            "l" => Unpack::L,
            "h" => Unpack::H,
            "sat" => Unpack::Sat,
            "nsat" => Unpack::Nsat,
            "max0" => Unpack::Max0,
            "ff" => Unpack::Ff,
            "ll" => Unpack::Ll,
            "hh" => Unpack::Hh,
            "swp" => Unpack::Swp,
            "ul" => Unpack::Ul,
            "uh" => Unpack::Uh,
            "il" => Unpack::Il,
            "ih" => Unpack::Ih,
            _ => return None,
        })
    }

    /// The f32 unpack code (`qpu_pack.c`: 0 abs, 1 none, 2 l, 3 h, 4 sat, 5 nsat, 6 max0).
    pub fn f32_code(self) -> Option<u8> {
        Some(match self {
            Unpack::Abs => 0,
            Unpack::None => 1,
            Unpack::L => 2,
            Unpack::H => 3,
            Unpack::Sat => 4,
            Unpack::Nsat => 5,
            Unpack::Max0 => 6,
            _ => return None,
        })
    }
    pub fn from_f32_code(code: u8) -> Option<Unpack> {
        Some(match code {
            0 => Unpack::Abs,
            1 => Unpack::None,
            2 => Unpack::L,
            3 => Unpack::H,
            4 => Unpack::Sat,
            5 => Unpack::Nsat,
            6 => Unpack::Max0,
            _ => return None,
        })
    }
    /// The f16-pair unpack code (0 none, 1 ff, 2 ll, 3 hh, 4 swp).
    pub fn f16_code(self) -> Option<u8> {
        Some(match self {
            Unpack::None => 0,
            Unpack::Ff => 1,
            Unpack::Ll => 2,
            Unpack::Hh => 3,
            Unpack::Swp => 4,
            _ => return None,
        })
    }
    pub fn from_f16_code(code: u8) -> Option<Unpack> {
        Some(match code {
            0 => Unpack::None,
            1 => Unpack::Ff,
            2 => Unpack::Ll,
            3 => Unpack::Hh,
            4 => Unpack::Swp,
            _ => return None,
        })
    }
    /// The integer unpack code (0 none, 1 ul, 2 uh, 3 il, 4 ih).
    pub fn i32_code(self) -> Option<u8> {
        Some(match self {
            Unpack::None => 0,
            Unpack::Ul => 1,
            Unpack::Uh => 2,
            Unpack::Il => 3,
            Unpack::Ih => 4,
            _ => return None,
        })
    }
    pub fn from_i32_code(code: u8) -> Option<Unpack> {
        Some(match code {
            0 => Unpack::None,
            1 => Unpack::Ul,
            2 => Unpack::Uh,
            3 => Unpack::Il,
            4 => Unpack::Ih,
            _ => return None,
        })
    }
}

/// Output pack of an f32 result: `.l` writes an f16 into the low half and keeps the high half,
/// `.h` the other way round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Pack {
    #[default]
    None,
    L,
    H,
}

impl Pack {
    pub fn code(self) -> u8 {
        self as u8
    }
    pub fn from_code(code: u8) -> Option<Pack> {
        match code {
            0 => Some(Pack::None),
            1 => Some(Pack::L),
            2 => Some(Pack::H),
            _ => None,
        }
    }
    pub fn suffix(self) -> &'static str {
        match self {
            Pack::None => "",
            Pack::L => ".l",
            Pack::H => ".h",
        }
    }
}

/// Per-ALU conditions: the write happens on the lanes where the condition holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cond {
    Ifa = 0,
    Ifb = 1,
    Ifna = 2,
    Ifnb = 3,
}

impl Cond {
    pub const ALL: [Cond; 4] = [Cond::Ifa, Cond::Ifb, Cond::Ifna, Cond::Ifnb];
    pub fn name(self) -> &'static str {
        ["ifa", "ifb", "ifna", "ifnb"][self as usize]
    }
    pub fn from_code(c: u8) -> Cond {
        Cond::ALL[usize::from(c & 3)]
    }
}

/// Flag pushes: shift the A flags into B and set A from the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pf {
    Pushz = 1,
    Pushn = 2,
    Pushc = 3,
}

impl Pf {
    pub const ALL: [Pf; 3] = [Pf::Pushz, Pf::Pushn, Pf::Pushc];
    pub fn name(self) -> &'static str {
        ["pushz", "pushn", "pushc"][self as usize - 1]
    }
    pub fn from_code(c: u8) -> Option<Pf> {
        match c {
            1 => Some(Pf::Pushz),
            2 => Some(Pf::Pushn),
            3 => Some(Pf::Pushc),
            _ => None,
        }
    }
}

/// Flag updates: combine the A flags with a condition on the result (`qpu_pack.c`
/// `v3d_qpu_flags_unpack`; codes 4..=15 in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Uf {
    Andz = 4,
    Andnz = 5,
    Nornz = 6,
    Norz = 7,
    Andn = 8,
    Andnn = 9,
    Nornn = 10,
    Norn = 11,
    Andc = 12,
    Andnc = 13,
    Nornc = 14,
    Norc = 15,
}

impl Uf {
    pub const ALL: [Uf; 12] = [
        Uf::Andz,
        Uf::Andnz,
        Uf::Nornz,
        Uf::Norz,
        Uf::Andn,
        Uf::Andnn,
        Uf::Nornn,
        Uf::Norn,
        Uf::Andc,
        Uf::Andnc,
        Uf::Nornc,
        Uf::Norc,
    ];
    pub fn name(self) -> &'static str {
        [
            "andz", "andnz", "nornz", "norz", "andn", "andnn", "nornn", "norn", "andc", "andnc",
            "nornc", "norc",
        ][self as usize - 4]
    }
    pub fn from_code(c: u8) -> Option<Uf> {
        if (4..=15).contains(&c) {
            Some(Uf::ALL[usize::from(c - 4)])
        } else {
            None
        }
    }
}

/// The non-immediate signals of one instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Signals {
    pub thrsw: bool,
    pub ldunif: bool,
    pub ldunifa: bool,
    pub ldunifrf: bool,
    pub ldunifarf: bool,
    pub ldtmu: bool,
    pub ldvary: bool,
    pub ldtlb: bool,
    pub ldtlbu: bool,
    pub ucb: bool,
    pub wrtmuc: bool,
}

/// Which ALU input a small-immediate signal applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SmallImmSlot {
    /// Add ALU source A (`raddr_a`), signal 14.
    A,
    /// Add ALU source B (`raddr_b`), signal 15.
    B,
    /// Mul ALU source A (`raddr_c`), signal 30.
    C,
    /// Mul ALU source B (`raddr_d`), signal 31.
    D,
}

impl Signals {
    /// Whether one of the signals writes a register or magic address (its address then lives in
    /// the condition field, so the instruction can carry no conditions or flag updates).
    pub fn writes_address(&self) -> bool {
        self.ldunifrf || self.ldunifarf || self.ldvary || self.ldtmu || self.ldtlb || self.ldtlbu
    }

    /// The signals in the order Mesa prints them, with their names.
    pub fn list(&self) -> [(bool, &'static str); 11] {
        [
            (self.thrsw, "thrsw"),
            (self.ldvary, "ldvary"),
            (self.ldtmu, "ldtmu"),
            (self.ldtlb, "ldtlb"),
            (self.ldtlbu, "ldtlbu"),
            (self.ldunif, "ldunif"),
            (self.ldunifrf, "ldunifrf"),
            (self.ldunifa, "ldunifa"),
            (self.ldunifarf, "ldunifarf"),
            (self.wrtmuc, "wrtmuc"),
            (self.ucb, "ucb"),
        ]
    }

    /// Sets the signal called `name`; false if there is no such signal.
    pub fn set_by_name(&mut self, name: &str) -> bool {
        let slot = match name {
            "thrsw" => &mut self.thrsw,
            "ldunif" => &mut self.ldunif,
            "ldunifa" => &mut self.ldunifa,
            "ldunifrf" => &mut self.ldunifrf,
            "ldunifarf" => &mut self.ldunifarf,
            "ldtmu" => &mut self.ldtmu,
            "ldvary" => &mut self.ldvary,
            "ldtlb" => &mut self.ldtlb,
            "ldtlbu" => &mut self.ldtlbu,
            "ucb" => &mut self.ucb,
            "wrtmuc" => &mut self.wrtmuc,
            _ => return false,
        };
        *slot = true;
        true
    }

    pub fn is_empty(&self) -> bool {
        *self == Signals::default()
    }
}

const fn sig(thrsw: bool, ldtmu: bool, ldvary: bool, ldunif: bool, wrtmuc: bool) -> Signals {
    Signals {
        thrsw,
        ldunif,
        ldunifa: false,
        ldunifrf: false,
        ldunifarf: false,
        ldtmu,
        ldvary,
        ldtlb: false,
        ldtlbu: false,
        ucb: false,
        wrtmuc,
    }
}

const NOSIG: Signals = sig(false, false, false, false, false);

/// The 7.1 signal table (`qpu_pack.c` `v3d71_sig_map`): what each of the 32 values of the 5-bit
/// `sig` field means. `None` marks a reserved value.
pub const SIGNAL_MAP: [Option<(Signals, Option<SmallImmSlot>)>; 32] = {
    const T: bool = true;
    const F: bool = false;
    let mut m: [Option<(Signals, Option<SmallImmSlot>)>; 32] = [None; 32];
    m[0] = Some((NOSIG, None));
    m[1] = Some((sig(T, F, F, F, F), None));
    m[2] = Some((sig(F, F, F, T, F), None));
    m[3] = Some((sig(T, F, F, T, F), None));
    m[4] = Some((sig(F, T, F, F, F), None));
    m[5] = Some((sig(T, T, F, F, F), None));
    m[6] = Some((sig(F, T, F, T, F), None));
    m[7] = Some((sig(T, T, F, T, F), None));
    m[8] = Some((sig(F, F, T, F, F), None));
    m[9] = Some((sig(T, F, T, F, F), None));
    m[10] = Some((sig(F, F, T, T, F), None));
    m[11] = Some((sig(T, F, T, T, F), None));
    m[12] = Some((
        Signals {
            ldunifrf: T,
            ..NOSIG
        },
        None,
    ));
    m[13] = Some((
        Signals {
            thrsw: T,
            ldunifrf: T,
            ..NOSIG
        },
        None,
    ));
    m[14] = Some((NOSIG, Some(SmallImmSlot::A)));
    m[15] = Some((NOSIG, Some(SmallImmSlot::B)));
    m[16] = Some((Signals { ldtlb: T, ..NOSIG }, None));
    m[17] = Some((Signals { ldtlbu: T, ..NOSIG }, None));
    m[18] = Some((sig(F, F, F, F, T), None));
    m[19] = Some((sig(T, F, F, F, T), None));
    m[20] = Some((sig(F, F, T, F, T), None));
    m[21] = Some((sig(T, F, T, F, T), None));
    m[22] = Some((Signals { ucb: T, ..NOSIG }, None));
    // 23 reserved (4.2's rotate signal; 7.1 rotates with the ROT/ROTQ add ops)
    m[24] = Some((
        Signals {
            ldunifa: T,
            ..NOSIG
        },
        None,
    ));
    m[25] = Some((
        Signals {
            ldunifarf: T,
            ..NOSIG
        },
        None,
    ));
    // 26 and 27 are new in 7.x: ldtmu together with wrtmuc.
    m[26] = Some((sig(F, T, F, F, T), None));
    m[27] = Some((sig(T, T, F, F, T), None));
    // 28, 29 reserved
    m[30] = Some((NOSIG, Some(SmallImmSlot::C)));
    m[31] = Some((NOSIG, Some(SmallImmSlot::D)));
    m
};

/// The value of a small immediate (`qpu_pack.c` `small_immediates`): 0..=15, then -16..=-1, then
/// the float bit patterns of 2^-8 .. 2^7. Indexes 48..=63 are invalid.
pub fn small_imm_value(index: u8) -> Option<u32> {
    match index {
        0..=15 => Some(u32::from(index)),
        16..=31 => Some((i32::from(index) - 32) as u32),
        32..=47 => Some((0x3b80_0000u32).wrapping_add(u32::from(index - 32) << 23)),
        _ => None,
    }
}

/// The small-immediate index holding `value`, if any.
pub fn small_imm_index(value: u32) -> Option<u8> {
    (0..48u8).find(|&i| small_imm_value(i) == Some(value))
}

/// Branch conditions (`qpu_pack.c` branch unpack; field value 1 is invalid).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BranchCond {
    Always = 0,
    A0 = 2,
    Na0 = 3,
    Alla = 4,
    Anyna = 5,
    Anya = 6,
    Allna = 7,
}

impl BranchCond {
    pub const ALL: [BranchCond; 7] = [
        BranchCond::Always,
        BranchCond::A0,
        BranchCond::Na0,
        BranchCond::Alla,
        BranchCond::Anyna,
        BranchCond::Anya,
        BranchCond::Allna,
    ];
    pub fn from_code(c: u8) -> Option<BranchCond> {
        BranchCond::ALL.iter().copied().find(|b| *b as u8 == c)
    }
    pub fn name(self) -> &'static str {
        match self {
            BranchCond::Always => "",
            BranchCond::A0 => "a0",
            BranchCond::Na0 => "na0",
            BranchCond::Alla => "alla",
            BranchCond::Anyna => "anyna",
            BranchCond::Anya => "anya",
            BranchCond::Allna => "allna",
        }
    }
}

/// Multisample-flag ignore for branches (`p`/`q` suffix).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Msfign {
    #[default]
    None = 0,
    P = 1,
    Q = 2,
}

/// Where a branch (or its uniform-stream part) takes its target from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BranchDest {
    /// The immediate offset is an absolute address (for the uniform stream: take a uniform).
    Abs = 0,
    /// The immediate is relative to the instruction after the delay slots (for the uniform
    /// stream: a uniform holding a relative offset).
    Rel = 1,
    /// The link register.
    LinkReg = 2,
    /// A register-file entry (`raddr_a`).
    Regfile = 3,
}

impl BranchDest {
    pub fn from_code(c: u8) -> Option<BranchDest> {
        match c {
            0 => Some(BranchDest::Abs),
            1 => Some(BranchDest::Rel),
            2 => Some(BranchDest::LinkReg),
            3 => Some(BranchDest::Regfile),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn tables_are_in_enum_order_and_names_unique() {
        for (i, d) in ADD_OPS.iter().enumerate() {
            assert_eq!(
                d.op as usize, i,
                "ADD_OPS row {i} ({}) out of order",
                d.name
            );
        }
        for (i, d) in MUL_OPS.iter().enumerate() {
            assert_eq!(
                d.op as usize, i,
                "MUL_OPS row {i} ({}) out of order",
                d.name
            );
        }
        let names: HashSet<_> = ADD_OPS.iter().map(|d| d.name).collect();
        assert_eq!(names.len(), ADD_OPS.len());
        let names: HashSet<_> = MUL_OPS.iter().map(|d| d.name).collect();
        assert_eq!(names.len(), MUL_OPS.len());
    }

    #[test]
    fn rows_are_consistent() {
        for d in ADD_OPS.iter().chain(std::iter::empty()) {
            // A selector op with modifiers in the selector must leave room for them.
            if let Some(sel) = d.sel {
                assert_eq!(sel & d.class.rb_mod_mask(), 0, "{}", d.name);
                assert!(
                    d.nsrc < 2,
                    "{} selects by raddr_b but reads two sources",
                    d.name
                );
            }
            assert!(u16::from(d.opcode) + u16::from(d.class.op_span()) <= 256);
        }
        for d in MUL_OPS {
            if let Some(sel) = d.sel {
                assert_eq!(sel & d.class.rb_mod_mask(), 0, "{}", d.name);
                assert!(d.nsrc < 2, "{}", d.name);
            }
            assert!(u16::from(d.opcode) + u16::from(d.class.op_span()) <= 64);
        }
    }

    #[test]
    fn small_immediates_match_the_documented_table() {
        assert_eq!(small_imm_value(0), Some(0));
        assert_eq!(small_imm_value(15), Some(15));
        assert_eq!(small_imm_value(16), Some(-16i32 as u32));
        assert_eq!(small_imm_value(31), Some(-1i32 as u32));
        assert_eq!(small_imm_value(32), Some(0x3b80_0000));
        assert_eq!(small_imm_value(40), Some(1.0f32.to_bits()));
        assert_eq!(small_imm_value(47), Some(0x4300_0000));
        assert_eq!(small_imm_value(48), None);
        for i in 0..48 {
            assert_eq!(small_imm_index(small_imm_value(i).unwrap()), Some(i));
        }
    }

    #[test]
    fn signal_map_has_every_documented_entry() {
        let reserved: Vec<usize> = (0..32).filter(|&i| SIGNAL_MAP[i].is_none()).collect();
        assert_eq!(reserved, vec![23, 28, 29]);
        // Each non-reserved entry is unique, so packing can search the map.
        for (i, a) in SIGNAL_MAP.iter().enumerate() {
            for (j, b) in SIGNAL_MAP[..i].iter().enumerate() {
                if let (Some(a), Some(b)) = (a, b) {
                    assert_ne!(a, b, "signal entries {i} and {j} are equal");
                }
            }
        }
    }

    #[test]
    fn magic_names_round_trip() {
        for m in Magic::all() {
            assert_eq!(Magic::from_name(m.name()), Some(m));
            assert_eq!(Magic::from_index(m as u8), Some(m));
        }
        assert_eq!(Magic::Tmuhscm.name(), "tmuhscm");
        assert_eq!(Magic::from_index(25), None);
    }
}
