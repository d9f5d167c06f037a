//! Faults: everything that stops a dispatch, as values.

use std::fmt;

use thiserror::Error;

/// Where a fault happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub qpu: u32,
    /// The thread slot on that QPU (the low two bits of `tidx`).
    pub thread: u32,
    /// The batch (0-based, in dispatch order) the thread was running.
    pub batch: u32,
    /// The GPU address of the instruction.
    pub pc: u32,
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum FaultKind {
    #[error("invalid instruction word {word:#018x}: {reason}")]
    InvalidInstruction { word: u64, reason: String },
    #[error(
        "the program counter left the code buffer (next instruction at {addr:#010x}); end every path with the thread-end sequence"
    )]
    PcOutsideCode { addr: u32 },
    #[error("branch target {addr:#010x} is not an 8-byte-aligned address inside the code buffer")]
    BadBranchTarget { addr: u32 },
    #[error("{what} at {addr:#010x} ({bytes} bytes, lane {lane}) is outside every buffer object")]
    OutOfBounds {
        what: &'static str,
        addr: u32,
        bytes: u32,
        lane: u32,
    },
    #[error(
        "{what} at {addr:#010x} (lane {lane}) is not {bytes}-byte aligned; the emulator does not guess how the TMU rounds it"
    )]
    Misaligned {
        what: &'static str,
        addr: u32,
        bytes: u32,
        lane: u32,
    },
    #[error("uniform read at {addr:#010x} is outside every buffer object")]
    UniformOutOfBounds { addr: u32 },
    #[error(
        "rf{reg} does not exist with {threads} threads per QPU (the register file has {nregs} entries per thread)"
    )]
    RegisterOutOfRange { reg: u8, nregs: u32, threads: u32 },
    #[error("hazard: {0}")]
    Hazard(String),
    #[error("not modelled: {0}")]
    Unsupported(String),
    #[error("semantics unknown: {0}; no public source documents what the hardware does")]
    SemanticsUnknown(String),
    #[error(
        "TMU output FIFO overflow: {queued} results queued and this request adds {adding}, but a thread may have at most {capacity} (Mesa nir_to_vir.c ntq_tmu_fifo_overflow: 16 / threads)"
    )]
    TmuFifoOverflow {
        queued: u32,
        adding: u32,
        capacity: u32,
    },
    #[error("ldtmu with no TMU result queued; issue a read (tmua) first")]
    LdtmuEmpty,
    #[error(
        "barrier can never complete: {arrived} of the {total} threads of supergroup {supergroup} arrived and the rest {why}"
    )]
    BarrierDeadlock {
        supergroup: u32,
        arrived: u32,
        total: u32,
        why: &'static str,
    },
    #[error(
        "step limit of {limit} instructions reached (on hardware this is a hang); raise max_steps if the kernel is just long"
    )]
    StepLimit { limit: u64 },
    #[error("bad dispatch configuration: {0}")]
    BadDispatch(String),
}

/// A fault: what and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    /// `None` for faults of the dispatch as a whole (a bad `cfg`, a barrier deadlock found when
    /// every thread is waiting).
    pub at: Option<Location>,
}

impl Fault {
    pub(crate) fn global(kind: FaultKind) -> Fault {
        Fault { kind, at: None }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(l) => write!(
                f,
                "qpu {} thread {} (batch {}) pc {:#010x}: {}",
                l.qpu, l.thread, l.batch, l.pc, self.kind
            ),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for Fault {}
