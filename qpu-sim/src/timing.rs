//! The timing model and the statistics it produces.
//!
//! Every parameter lives in [`Timing`], with the source or calibration of its default next to
//! it, so a measurement on a real Pi 5 corrects it in one place. `docs/qpu-sim.md` explains the
//! model and how the defaults were calibrated.

use std::fmt;

/// Timing parameters, in GPU clocks unless stated otherwise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// GPU clock frequency, for converting clocks to seconds. 800 MHz: Raspberry Pi launch
    /// material and py-videocore7's README (emulator-notes.md §2; 960 MHz is also quoted).
    pub clock_hz: u64,
    /// Clocks per instruction and QPU: a 16-lane instruction runs on 4 physical lanes over 4
    /// clocks (py-videocore README, "4 way pipelined and 4 way true"; VC4C's emulator).
    pub clocks_per_instr: u64,
    /// Clocks from a TMU read request (`tmua`) until its data can be popped by `ldtmu`,
    /// excluding time queued for memory bandwidth. Calibrated (docs/qpu-sim.md §Timing) so that
    /// a py-videocore7-style vec4 copy on one QPU thread moves ~1,689 MB/s as measured on a
    /// Pi 5 (py-videocore7 README, scopy example).
    pub tmu_read_latency: u64,
    /// Clocks from a TMU write request until `tmuwt` sees it complete.
    pub tmu_write_latency: u64,
    /// Memory bandwidth shared by every QPU, in bytes per clock (reads and writes together).
    /// Calibrated so the same copy on 12 QPUs moves ~4,142 MB/s (py-videocore7 README).
    pub mem_bytes_per_clock: f64,
    /// Instructions after an SFU op before its result can be read without a stall (Mesa
    /// `qpu_schedule.c` `instruction_latency`: 2 for an SFU op).
    pub sfu_latency_instrs: u64,
    /// Clocks each QPU runs before the scheduler moves to the next QPU. Events between QPUs
    /// (barrier releases, memory-bus order) are resolved at this granularity.
    pub quantum: u64,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            clock_hz: 800_000_000,
            clocks_per_instr: 4,
            tmu_read_latency: 165,
            tmu_write_latency: 165,
            mem_bytes_per_clock: 10.4,
            sfu_latency_instrs: 2,
            quantum: 256,
        }
    }
}

/// Counters of one thread slot of one QPU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadStats {
    /// Instructions issued by threads in this slot.
    pub instructions: u64,
    /// Thread switches taken (`thrsw` that switched, not the thread end).
    pub thread_switches: u64,
    /// Batches (hardware threads) that ran in this slot.
    pub batches: u64,
}

/// Counters of one QPU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QpuStats {
    /// Per thread slot (index = the low two bits of `tidx`).
    pub threads: Vec<ThreadStats>,
    /// TMU lookups issued (one per `tmua`/`tmuau` write, 16 lanes each).
    pub tmu_requests: u64,
    /// Bytes moved by those lookups (active lanes only).
    pub tmu_bytes: u64,
    /// Clocks the QPU stalled on `ldtmu` or `tmuwt` waiting for the TMU.
    pub tmu_wait_cycles: u64,
    /// Clocks the QPU stalled reading an SFU result early.
    pub sfu_wait_cycles: u64,
    /// Clocks with no runnable thread (waiting at a barrier, or no work left).
    pub idle_cycles: u64,
    /// The QPU's clock when its last thread ended.
    pub cycles: u64,
}

/// Statistics of one dispatch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub qpus: Vec<QpuStats>,
    /// Batches (threads of 16 lanes) dispatched.
    pub batches: u32,
    /// Total clocks under the timing model: when the last QPU finished.
    pub total_cycles: u64,
    /// The clock frequency used to turn cycles into time.
    pub clock_hz: u64,
}

impl Stats {
    /// Instructions issued by every thread.
    pub fn instructions(&self) -> u64 {
        self.qpus
            .iter()
            .flat_map(|q| q.threads.iter())
            .map(|t| t.instructions)
            .sum()
    }
    pub fn thread_switches(&self) -> u64 {
        self.qpus
            .iter()
            .flat_map(|q| q.threads.iter())
            .map(|t| t.thread_switches)
            .sum()
    }
    pub fn tmu_requests(&self) -> u64 {
        self.qpus.iter().map(|q| q.tmu_requests).sum()
    }
    pub fn tmu_wait_cycles(&self) -> u64 {
        self.qpus.iter().map(|q| q.tmu_wait_cycles).sum()
    }
    pub fn sfu_wait_cycles(&self) -> u64 {
        self.qpus.iter().map(|q| q.sfu_wait_cycles).sum()
    }
    /// Modelled run time in seconds.
    pub fn seconds(&self) -> f64 {
        self.total_cycles as f64 / self.clock_hz.max(1) as f64
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "batches {}  instructions {}  thread switches {}  tmu requests {}",
            self.batches,
            self.instructions(),
            self.thread_switches(),
            self.tmu_requests()
        )?;
        writeln!(
            f,
            "cycles {}  ({:.3} us at {} MHz)  tmu wait {}  sfu wait {}",
            self.total_cycles,
            self.seconds() * 1e6,
            self.clock_hz / 1_000_000,
            self.tmu_wait_cycles(),
            self.sfu_wait_cycles()
        )?;
        for (i, q) in self.qpus.iter().enumerate() {
            write!(f, "qpu {i:2}: cycles {:>10}  instr", q.cycles)?;
            for t in &q.threads {
                write!(f, " {:>9}", t.instructions)?;
            }
            writeln!(
                f,
                "  switches {:>6}  tmu {:>7} ({} B)  tmu wait {:>9}  sfu wait {:>6}  idle {:>9}",
                q.threads.iter().map(|t| t.thread_switches).sum::<u64>(),
                q.tmu_requests,
                q.tmu_bytes,
                q.tmu_wait_cycles,
                q.sfu_wait_cycles,
                q.idle_cycles
            )?;
        }
        Ok(())
    }
}
