//! The emulator backend: the same API over `qpu-sim`.
//!
//! Semantics kept identical to the hardware backend:
//! - Buffer objects get page-aligned, non-zero 32-bit GPU addresses from an allocator like the
//!   kernel's, and are page-rounded, so a kernel may touch the tail of its last page as it can
//!   on the GPU. Every live buffer of the device is mapped while a job runs, as every BO is in
//!   the V3D MMU's page table; an address outside all of them is a fault (on hardware an MMU
//!   error in the kernel log, here an [`Error::Fault`] naming the instruction and address).
//! - Jobs run in submission order on a worker thread, as the kernel runs one fd's CSD jobs,
//!   so `submit` returns at once and `wait` takes a timeout. The emulator's step limit bounds
//!   every job: a kernel that never ends makes `wait` return [`Error::Timeout`] while it runs,
//!   and [`Error::GpuHang`] once the limit is hit, the way the kernel's hang check resets the
//!   GPU. The worker thread never outlives its last job.
//! - Errors carry the errno the kernel would give for the same mistake.
//!
//! A buffer's bytes live in the buffer itself between jobs; the worker moves them into the
//! emulator's memory for the job and back afterwards (no copy). CPU access to a buffer waits
//! while a job runs, which on hardware would be a racy read anyway.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use qpu_sim::{BatchCount, DispatchOptions, FaultKind, Gpu, GpuConfig, Stats};

use crate::error::{EFAULT, EINVAL, EIO, ENOMEM, ETIME, Result};
use crate::{Error, Identity};

/// GPU page size; allocations are rounded up to it and aligned on it.
const PAGE: u64 = 4096;
/// The lowest address handed out: the kernel never returns 0 ("various HW units treat 0
/// specially", v3d_drm.h), and a first page left unmapped catches null-pointer kernels.
const FIRST_ADDR: u64 = PAGE;
/// One past the highest address: 32-bit GPU addresses.
const ADDR_END: u64 = 1 << 32;

/// The emulated GPU's shape and limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Hub revision reported (and used for the `cfg[4]` rule on both sides). Default 6: the
    /// evidence in [`crate::csd`] is that Pi 5 boards count batches exactly (7.1.6 rule).
    pub rev: u8,
    /// Slices and QPUs per slice: 3 × 4 on a Pi 5.
    pub slices: u8,
    pub qpus_per_slice: u8,
    /// Instructions (over all threads) after which a job is declared hung. Default 2^30:
    /// about 0.45 s of a Pi 5 issuing 12 QPUs x 800 MHz / 4 clocks, close to the kernel's
    /// 500 ms CSD hang check, and 20 s to a minute of emulation (qpu-sim ran 20 to 60 M
    /// instructions/s on the 2-core build machine).
    /// Lower it for tests of runaway kernels.
    pub max_steps: u64,
    /// Bytes of buffer objects the device may hold at once. Default 1 GiB.
    pub memory_limit: u64,
    /// Host threads the emulator may use for one job. Default: the host's available
    /// parallelism. Results (memory and statistics) do not depend on it.
    pub host_threads: usize,
    /// Runs every instruction through the emulator's generic path, without its fast forms
    /// (`qpu_sim::GpuConfig::generic_only`): slower, the same results; for checking them.
    pub generic_only: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            rev: 6,
            slices: 3,
            qpus_per_slice: 4,
            max_steps: 1 << 30,
            memory_limit: 1 << 30,
            host_threads: qpu_sim::GpuConfig::default().host_threads,
            generic_only: false,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; carry on with it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// First-fit allocator over the 32-bit GPU address space.
struct AddrSpace {
    used: BTreeMap<u64, u64>,
    total: u64,
    limit: u64,
}

impl AddrSpace {
    fn alloc(&mut self, len: u64) -> Option<u32> {
        if self.total + len > self.limit {
            return None;
        }
        let mut start = FIRST_ADDR;
        for (&a, &l) in &self.used {
            if a - start >= len {
                break;
            }
            start = a + l;
        }
        if start + len > ADDR_END {
            return None;
        }
        self.used.insert(start, len);
        self.total += len;
        Some(start as u32)
    }

    fn free(&mut self, addr: u32) {
        if let Some(len) = self.used.remove(&u64::from(addr)) {
            self.total -= len;
        }
    }
}

struct Registry {
    space: Mutex<AddrSpace>,
    bos: Mutex<Vec<Weak<BoInner>>>,
}

struct BoInner {
    addr: u32,
    /// Bytes in `data` (the size rounded up to pages).
    len: usize,
    data: Mutex<Vec<u8>>,
    /// The last job submitted with this buffer: jobs run in order, so it finishing means the
    /// buffer is idle (what WAIT_BO waits for).
    last_job: Mutex<Option<Arc<SimJob>>>,
    registry: Arc<Registry>,
}

impl Drop for BoInner {
    fn drop(&mut self) {
        lock(&self.registry.space).free(self.addr);
    }
}

/// An emulated buffer object. Clones share the buffer; a queued job holds one.
#[derive(Clone)]
pub(crate) struct SimBo(Arc<BoInner>);

impl SimBo {
    pub(crate) fn addr(&self) -> u32 {
        self.0.addr
    }

    pub(crate) fn read(&self, offset: usize, out: &mut [u8]) -> Result<()> {
        out.copy_from_slice(&lock(&self.0.data)[offset..offset + out.len()]);
        Ok(())
    }

    pub(crate) fn write(&mut self, offset: usize, data: &[u8]) -> Result<()> {
        lock(&self.0.data)[offset..offset + data.len()].copy_from_slice(data);
        Ok(())
    }

    pub(crate) fn wait_idle(&self, timeout: Duration) -> Result<()> {
        let last = lock(&self.0.last_job).clone();
        // Like WAIT_BO, this waits for the jobs to be over, whatever their outcome: a faulted
        // or hung job leaves the buffer idle too.
        match last.map(|job| job.wait(job.id, timeout)) {
            Some(Err(e @ Error::Timeout { .. })) => Err(e),
            _ => Ok(()),
        }
    }
}

/// A queued or finished emulated job.
pub(crate) struct SimJob {
    id: u64,
    result: Mutex<Option<Result<Stats>>>,
    done: Condvar,
}

impl SimJob {
    fn finish(&self, r: Result<Stats>) {
        *lock(&self.result) = Some(r);
        self.done.notify_all();
    }

    /// Waits without a time limit; only the worker does this, for dependencies, which are
    /// bounded by their own step limits.
    fn wait_done(&self) {
        let mut g = lock(&self.result);
        while g.is_none() {
            g = self.done.wait(g).unwrap_or_else(PoisonError::into_inner);
        }
    }

    pub(crate) fn wait(&self, job: u64, timeout: Duration) -> Result<Stats> {
        let deadline = Instant::now().checked_add(timeout);
        let mut g = lock(&self.result);
        loop {
            if let Some(r) = g.as_ref() {
                return r.clone();
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                return Err(Error::Timeout {
                    job,
                    timeout,
                    errno: ETIME,
                });
            }
            g = self
                .done
                .wait_timeout(g, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    pub(crate) fn stats(&self) -> Option<Stats> {
        lock(&self.result)
            .as_ref()
            .and_then(|r| r.as_ref().ok().cloned())
    }
}

struct Task {
    job: Arc<SimJob>,
    cfg: [u32; 7],
    /// Keeps the job's buffers alive until it ran.
    bos: Vec<SimBo>,
    deps: Vec<Arc<SimJob>>,
}

/// The emulated device: its buffers and the worker that runs its jobs.
pub(crate) struct SimDevice {
    config: SimConfig,
    registry: Arc<Registry>,
    queue: Mutex<Option<Sender<Task>>>,
}

impl SimDevice {
    pub(crate) fn new(config: SimConfig) -> Result<SimDevice> {
        let qpus = u32::from(config.slices) * u32::from(config.qpus_per_slice);
        if qpus == 0 || qpus > 16 {
            return Err(Error::InvalidArgument {
                op: "open emulator",
                detail: format!("{qpus} QPUs; the emulator models 1 to 16 (tidx has 4 QPU bits)"),
                errno: EINVAL,
            });
        }
        Ok(SimDevice {
            config,
            registry: Arc::new(Registry {
                space: Mutex::new(AddrSpace {
                    used: BTreeMap::new(),
                    total: 0,
                    limit: config.memory_limit,
                }),
                bos: Mutex::new(Vec::new()),
            }),
            queue: Mutex::new(None),
        })
    }

    pub(crate) fn identity(&self) -> Identity {
        Identity {
            slices: self.config.slices,
            qpus_per_slice: self.config.qpus_per_slice,
            ..Identity::pi5(self.config.rev)
        }
    }

    pub(crate) fn description(&self) -> String {
        format!(
            "qpu-sim emulator, step limit {} instructions",
            self.config.max_steps
        )
    }

    pub(crate) fn create_bo(&self, size: u32) -> Result<SimBo> {
        let len = u64::from(size).div_ceil(PAGE) * PAGE;
        let addr = lock(&self.registry.space)
            .alloc(len)
            .ok_or(Error::OutOfMemory {
                op: "alloc",
                size: size.into(),
                errno: ENOMEM,
            })?;
        let bo = Arc::new(BoInner {
            addr,
            len: len as usize,
            data: Mutex::new(vec![0; len as usize]),
            last_job: Mutex::new(None),
            registry: Arc::clone(&self.registry),
        });
        let mut bos = lock(&self.registry.bos);
        bos.retain(|w| w.strong_count() > 0);
        bos.push(Arc::downgrade(&bo));
        Ok(SimBo(bo))
    }

    pub(crate) fn submit(
        &self,
        id: u64,
        cfg: [u32; 7],
        bos: Vec<SimBo>,
        deps: Vec<Arc<SimJob>>,
    ) -> Result<Arc<SimJob>> {
        let job = Arc::new(SimJob {
            id,
            result: Mutex::new(None),
            done: Condvar::new(),
        });
        for b in &bos {
            *lock(&b.0.last_job) = Some(Arc::clone(&job));
        }
        let task = Task {
            job: Arc::clone(&job),
            cfg,
            bos,
            deps,
        };
        let mut queue = lock(&self.queue);
        let tx = match queue.as_ref() {
            Some(tx) => tx.clone(),
            None => {
                let (tx, rx) = mpsc::channel();
                let gpu_config = GpuConfig {
                    slices: self.config.slices.into(),
                    qpus_per_slice: self.config.qpus_per_slice.into(),
                    batch_count: BatchCount::for_revision(self.config.rev.into()),
                    max_steps: self.config.max_steps,
                    host_threads: self.config.host_threads.max(1),
                    generic_only: self.config.generic_only,
                    ..GpuConfig::default()
                };
                let registry = Arc::clone(&self.registry);
                std::thread::Builder::new()
                    .name("qpu-sim".into())
                    .spawn(move || worker(rx, gpu_config, registry))
                    .map_err(|e| Error::DeviceLost {
                        op: "submit",
                        errno: e.raw_os_error().unwrap_or(EIO),
                        message: format!("cannot start the emulator's thread: {e}"),
                    })?;
                *queue = Some(tx.clone());
                tx
            }
        };
        tx.send(task).map_err(|_| Error::DeviceLost {
            op: "submit",
            errno: EIO,
            message: "the emulator's thread is gone".into(),
        })?;
        Ok(job)
    }
}

/// Runs the device's jobs in order until the device is dropped and the queue drained.
fn worker(rx: Receiver<Task>, config: GpuConfig, registry: Arc<Registry>) {
    let mut gpu = Gpu::new(config);
    for task in rx {
        for d in &task.deps {
            d.wait_done();
        }
        let r = run_one(&mut gpu, &registry, task.job.id, task.cfg);
        // Release the buffers before signalling, so that a buffer dropped while its job was
        // queued is free (its address reusable) once a wait returns, as with the kernel.
        drop(task.bos);
        task.job.finish(r);
    }
}

fn run_one(gpu: &mut Gpu, registry: &Registry, job: u64, cfg: [u32; 7]) -> Result<Stats> {
    // Every live buffer, in address order (the only place that locks several buffers, so the
    // order cannot deadlock with CPU accessors, which lock one at a time).
    let mut live: Vec<Arc<BoInner>> = lock(&registry.bos)
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    live.sort_by_key(|b| b.addr);
    let mut guards: Vec<MutexGuard<'_, Vec<u8>>> = live.iter().map(|b| lock(&b.data)).collect();
    let mut mapped = Vec::with_capacity(live.len());
    let mut map_error = None;
    for (b, g) in live.iter().zip(guards.iter_mut()) {
        match gpu.map_bo(b.addr, std::mem::take(&mut **g)) {
            Ok(()) => mapped.push(b.addr),
            Err(e) => {
                // Cannot happen with this allocator's disjoint ranges; if it does, the bytes
                // moved into the failed call are gone and the buffer reads as zeros.
                **g = vec![0; b.len];
                map_error = Some(e.to_string());
                break;
            }
        }
    }
    let result = match map_error {
        Some(e) => Err(Error::DeviceLost {
            op: "submit",
            errno: EIO,
            message: format!("the emulator could not map the device's buffers: {e}"),
        }),
        None => {
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                gpu.dispatch(cfg, DispatchOptions::default())
            }));
            match run {
                Ok(Ok(stats)) => Ok(stats),
                Ok(Err(fault)) => Err(match fault.kind {
                    FaultKind::StepLimit { .. } => Error::GpuHang {
                        job,
                        detail: fault.to_string(),
                        errno: EIO,
                    },
                    _ => Error::Fault {
                        job,
                        detail: fault.to_string(),
                        errno: EFAULT,
                    },
                }),
                Err(panic) => Err(Error::DeviceLost {
                    op: "run job",
                    errno: EIO,
                    message: format!(
                        "the emulator panicked (a qpu-sim bug; please report it with the \
                         program): {}",
                        panic
                            .downcast_ref::<String>()
                            .map(String::as_str)
                            .or_else(|| panic.downcast_ref::<&str>().copied())
                            .unwrap_or("no message")
                    ),
                }),
            }
        }
    };
    // Move every buffer's bytes back, whatever happened.
    for (b, g) in live.iter().zip(guards.iter_mut()) {
        if mapped.contains(&b.addr) {
            **g = gpu.unmap_bo(b.addr).unwrap_or_else(|| {
                tracing::error!(
                    addr = b.addr,
                    "the emulator lost a buffer; it reads as zeros"
                );
                vec![0; b.len]
            });
        }
    }
    result
}
