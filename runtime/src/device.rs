//! The backend-independent API: devices, buffers, programs, dispatches and jobs.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytemuck::Pod;

use crate::csd::{self, CsdParams, Supergroups};
use crate::error::{EINVAL, EIO, Result};
use crate::sim::{SimBo, SimConfig, SimDevice, SimJob};
use crate::{BACKEND_ENV, BackendKind, CounterInfo, EmulatorStats, Error, Identity, hw};

enum Backend {
    Hw(Arc<hw::HwDevice>),
    Sim(SimDevice),
}

/// What every object of a device shares: the backend and the device's identity for
/// ownership checks.
struct Shared {
    id: u64,
    backend: Backend,
    next_job: AtomicU64,
}

static NEXT_DEVICE: AtomicU64 = AtomicU64::new(1);

/// A GPU (or the emulator of one). Cheap to clone; every clone is the same device.
#[derive(Clone)]
pub struct Device {
    shared: Arc<Shared>,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("backend", &self.backend())
            .field("description", &self.description())
            .finish()
    }
}

impl Device {
    fn wrap(backend: Backend) -> Device {
        Device {
            shared: Arc::new(Shared {
                id: NEXT_DEVICE.fetch_add(1, Ordering::Relaxed),
                backend,
                next_job: AtomicU64::new(1),
            }),
        }
    }

    /// Opens the default backend: `DAEDALUS_BACKEND=hw` or `sim` if set; otherwise the v3d GPU
    /// if the machine has one, and the emulator (with [`SimConfig::default`]) if it has none.
    /// A v3d GPU that cannot be used (no permission, not 7.1, no compute) is an error, not a
    /// silent fall-back to the emulator.
    pub fn open() -> Result<Device> {
        Device::open_with(SimConfig::default())
    }

    /// [`Device::open`], with `sim` as the emulator's configuration if the emulator is chosen.
    pub fn open_with(sim: SimConfig) -> Result<Device> {
        match std::env::var(BACKEND_ENV) {
            Ok(v) if v == "hw" => Device::open_hw(),
            Ok(v) if v == "sim" => Device::open_sim(sim),
            Ok(v) if !v.is_empty() => Err(Error::BadBackend { value: v }),
            _ => match Device::open_hw() {
                Err(Error::NoDevice { searched }) => {
                    tracing::info!(%searched, "no v3d GPU; using the emulator");
                    Device::open_sim(sim)
                }
                r => r,
            },
        }
    }

    /// Opens the v3d GPU, found by its DRM driver name.
    pub fn open_hw() -> Result<Device> {
        Ok(Device::wrap(Backend::Hw(Arc::new(hw::HwDevice::open()?))))
    }

    /// Opens an emulated GPU.
    pub fn open_sim(config: SimConfig) -> Result<Device> {
        Ok(Device::wrap(Backend::Sim(SimDevice::new(config)?)))
    }

    pub fn backend(&self) -> BackendKind {
        match self.shared.backend {
            Backend::Hw(_) => BackendKind::Hardware,
            Backend::Sim(_) => BackendKind::Emulator,
        }
    }

    /// The GPU's identity (version, revision, QPUs, what the kernel supports).
    pub fn identity(&self) -> Identity {
        match &self.shared.backend {
            Backend::Hw(h) => h.identity(),
            Backend::Sim(s) => s.identity(),
        }
    }

    /// The device node, or the emulator's configuration.
    pub fn description(&self) -> String {
        match &self.shared.backend {
            Backend::Hw(h) => h.node().to_string(),
            Backend::Sim(s) => s.description(),
        }
    }

    fn check_owner(&self, owner: u64, what: &'static str) -> Result<()> {
        if owner == self.shared.id {
            Ok(())
        } else {
            Err(Error::ForeignObject { what })
        }
    }

    /// Allocates a zero-filled buffer object of `size` bytes (at most 4 GiB - 1; the GPU
    /// address space is 32 bits). Its GPU address is fixed for its lifetime.
    pub fn alloc(&self, size: u32) -> Result<Buffer> {
        if size == 0 {
            return Err(Error::InvalidArgument {
                op: "alloc",
                detail: "a buffer of 0 bytes; ask for at least 1".into(),
                errno: EINVAL,
            });
        }
        let inner = match &self.shared.backend {
            Backend::Hw(h) => BufInner::Hw(h.create_bo(size)?),
            Backend::Sim(s) => BufInner::Sim(s.create_bo(size)?),
        };
        Ok(Buffer {
            owner: self.shared.id,
            size,
            inner,
        })
    }

    /// Imports a dmabuf (a V4L2 CAPTURE buffer exported with `VIDIOC_EXPBUF`, say) as a buffer
    /// kernels can read and write in place. Hardware only: the emulator has no dmabufs.
    ///
    /// Import each dmabuf once per device and keep the `Buffer`: the kernel gives the same
    /// GEM handle to every import of one dmabuf on an fd, and dropping any of the `Buffer`s
    /// closes it for all.
    pub fn import_dmabuf(&self, fd: BorrowedFd<'_>) -> Result<Buffer> {
        match &self.shared.backend {
            Backend::Hw(h) => {
                let bo = h.import_dmabuf(fd)?;
                Ok(Buffer {
                    owner: self.shared.id,
                    size: bo.size() as u32,
                    inner: BufInner::Hw(bo),
                })
            }
            Backend::Sim(_) => Err(Error::Unsupported {
                what: "importing a dmabuf",
                backend: BackendKind::Emulator,
                why: "the emulator's memory is not shared with other devices; copy the data \
                      into a buffer from Device::alloc",
            }),
        }
    }

    /// Uploads QPU code (little-endian 64-bit instruction words) into its own buffer object.
    pub fn upload_program(&self, code: &[u64], options: ProgramOptions) -> Result<Program> {
        if code.is_empty() {
            return Err(Error::InvalidArgument {
                op: "upload_program",
                detail: "the program has no instructions".into(),
                errno: EINVAL,
            });
        }
        if !matches!(options.threads_per_qpu, 1 | 2 | 4) {
            return Err(Error::InvalidArgument {
                op: "upload_program",
                detail: format!(
                    "{} threads per QPU; a QPU runs 1, 2 or 4",
                    options.threads_per_qpu
                ),
                errno: EINVAL,
            });
        }
        let bytes = u32::try_from(code.len() * 8).map_err(|_| Error::InvalidArgument {
            op: "upload_program",
            detail: format!(
                "{} instructions do not fit the GPU's address space",
                code.len()
            ),
            errno: EINVAL,
        })?;
        let mut buffer = self.alloc(bytes)?;
        buffer.write_pod(0, code)?;
        Ok(Program {
            buffer,
            words: code.len(),
            options,
        })
    }

    /// Queues a dispatch. Jobs of one device run in submission order, as the kernel runs the
    /// CSD jobs of one fd.
    pub fn submit(&self, d: &Dispatch<'_>) -> Result<Job> {
        self.check_owner(d.program.buffer.owner, "the program")?;
        for b in &d.buffers {
            self.check_owner(b.owner, "a buffer of the dispatch")?;
        }
        for j in &d.after {
            self.check_owner(j.owner, "a job the dispatch waits for")?;
        }
        if let Some(p) = d.perfmon {
            self.check_owner(p.owner, "the performance monitor")?;
        }
        let ident = self.identity();

        // The uniform stream: copied into a buffer object of its own, kept alive by the job.
        let mut uniform_bo = None;
        let uniforms_addr = match &d.uniforms {
            Uniforms::None => 0,
            Uniforms::Words(w) => {
                let mut b = self.alloc((w.len() * 4).max(4) as u32)?;
                b.write_pod(0, w)?;
                let addr = b.gpu_addr();
                uniform_bo = Some(b);
                addr
            }
            Uniforms::InBuffer(b, offset) => {
                self.check_owner(b.owner, "the uniform buffer")?;
                if *offset % 4 != 0 || *offset >= b.size {
                    return Err(Error::InvalidArgument {
                        op: "submit",
                        detail: format!(
                            "uniform stream at offset {offset} of a {}-byte buffer; it must be \
                             4-byte aligned and inside the buffer",
                            b.size
                        ),
                        errno: EINVAL,
                    });
                }
                b.gpu_addr() + offset
            }
        };

        let (wg_count, wg_size) = d.shape.counts_and_size()?;
        let config = csd::csd_config(
            &ident,
            &CsdParams {
                wg_count,
                wg_size,
                supergroups: d.supergroups,
                threads_per_qpu: d.program.options.threads_per_qpu,
                single_seg: d.program.options.single_seg,
                code_addr: d.program.gpu_addr(),
                uniforms_addr,
            },
        )?;
        let id = self.shared.next_job.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(job = id, cfg = ?config.cfg, batches = config.num_batches, "submit");

        let mut all: Vec<&Buffer> = vec![&d.program.buffer];
        all.extend(uniform_bo.as_ref());
        if let Uniforms::InBuffer(b, _) = &d.uniforms {
            all.push(b);
        }
        all.extend(d.buffers.iter().copied());

        let inner = match &self.shared.backend {
            Backend::Hw(h) => {
                let mut handles: Vec<u32> = all
                    .iter()
                    .map(|b| match &b.inner {
                        BufInner::Hw(bo) => bo.handle(),
                        BufInner::Sim(_) => unreachable!("owner checked: a hardware device"),
                    })
                    .collect();
                handles.sort_unstable();
                handles.dedup();
                // Jobs of one fd run in order, so waiting for the newest of the jobs named is
                // waiting for all of them: one in_sync, no multi-sync extension needed.
                let in_sync = d
                    .after
                    .iter()
                    .max_by_key(|j| j.id)
                    .and_then(|j| match &j.inner {
                        JobInner::Hw { syncobj, .. } => Some(*syncobj),
                        JobInner::Sim(_) => None,
                    })
                    .unwrap_or(0);
                let resets_before = h.reset_counter();
                let syncobj =
                    h.submit_csd(config.cfg, &handles, in_sync, d.perfmon.map_or(0, |p| p.id))?;
                JobInner::Hw {
                    dev: Arc::clone(h),
                    syncobj,
                    resets_before,
                }
            }
            Backend::Sim(s) => {
                let bos: Vec<SimBo> = all
                    .iter()
                    .map(|b| match &b.inner {
                        BufInner::Sim(bo) => bo.clone(),
                        BufInner::Hw(_) => unreachable!("owner checked: an emulated device"),
                    })
                    .collect();
                let deps: Vec<Arc<SimJob>> = d
                    .after
                    .iter()
                    .filter_map(|j| match &j.inner {
                        JobInner::Sim(sj) => Some(Arc::clone(sj)),
                        JobInner::Hw { .. } => None,
                    })
                    .collect();
                JobInner::Sim(s.submit(id, config.cfg, bos, deps)?)
            }
        };
        Ok(Job {
            owner: self.shared.id,
            id,
            cfg: config.cfg,
            inner,
            _uniforms: uniform_bo,
        })
    }

    /// Submits and waits: the common case.
    pub fn run(&self, d: &Dispatch<'_>, timeout: Duration) -> Result<Job> {
        let job = self.submit(d)?;
        job.wait(timeout)?;
        Ok(job)
    }

    /// The performance counters the device offers (hardware with a perfmon-capable kernel).
    pub fn perf_counters(&self) -> Result<Vec<CounterInfo>> {
        match &self.shared.backend {
            Backend::Hw(h) => {
                if !h.identity().supports_perfmon {
                    return Err(Error::Unsupported {
                        what: "performance counters",
                        backend: BackendKind::Hardware,
                        why: "this kernel has no perfmon support (SUPPORTS_PERFMON is 0 or \
                              unknown)",
                    });
                }
                // MAX_PERF_COUNTERS is unknown to kernels older than PERFMON_GET_COUNTER.
                let n = h.identity().max_perf_counters.min(256);
                (0..n).map(|i| h.counter_info(i as u8)).collect()
            }
            Backend::Sim(_) => Err(sim_no_perfmon()),
        }
    }

    /// Creates a performance monitor counting `counters` (indices from
    /// [`Device::perf_counters`], at most 32). Attach it to dispatches with
    /// [`Dispatch::perfmon`] and read it after their jobs finished.
    pub fn perf_monitor(&self, counters: &[u8]) -> Result<PerfMonitor> {
        match &self.shared.backend {
            Backend::Hw(h) => Ok(PerfMonitor {
                owner: self.shared.id,
                dev: Arc::clone(h),
                id: h.perfmon_create(counters)?,
                counters: counters.to_vec(),
            }),
            Backend::Sim(_) => Err(sim_no_perfmon()),
        }
    }
}

fn sim_no_perfmon() -> Error {
    Error::Unsupported {
        what: "performance counters",
        backend: BackendKind::Emulator,
        why: "the emulator reports its modelled statistics through Job::emulator_stats instead",
    }
}

enum BufInner {
    Hw(hw::HwBo),
    Sim(SimBo),
}

/// A buffer object: memory the GPU addresses at [`Buffer::gpu_addr`] and the CPU reads and
/// writes through this handle. Freed on drop (a job still using it keeps it alive).
///
/// CPU accesses are not ordered with running jobs: wait for the job (or
/// [`Buffer::wait_idle`]) before reading what it wrote.
pub struct Buffer {
    owner: u64,
    size: u32,
    inner: BufInner,
}

impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Buffer({} bytes at {:#010x})",
            self.size,
            self.gpu_addr()
        )
    }
}

impl Buffer {
    /// The buffer's address in the GPU's 32-bit address space (never 0).
    pub fn gpu_addr(&self) -> u32 {
        match &self.inner {
            BufInner::Hw(b) => b.addr(),
            BufInner::Sim(b) => b.addr(),
        }
    }

    /// The size asked for (the backing store is rounded up to whole 4 KiB pages, which the
    /// GPU may touch without a fault, as on hardware).
    pub fn size(&self) -> u32 {
        self.size
    }

    fn range(&self, offset: u32, len: usize) -> Result<usize> {
        let end = u64::from(offset) + len as u64;
        if end > u64::from(self.size) {
            return Err(Error::OutOfRange {
                offset: offset.into(),
                len: len as u64,
                size: self.size.into(),
            });
        }
        Ok(offset as usize)
    }

    /// Copies `data` into the buffer at byte `offset`.
    pub fn write(&mut self, offset: u32, data: &[u8]) -> Result<()> {
        let off = self.range(offset, data.len())?;
        match &mut self.inner {
            BufInner::Hw(b) => b.write(off, data),
            BufInner::Sim(b) => b.write(off, data),
        }
    }

    /// Copies bytes from `offset` into `out`.
    pub fn read(&self, offset: u32, out: &mut [u8]) -> Result<()> {
        let off = self.range(offset, out.len())?;
        match &self.inner {
            BufInner::Hw(b) => b.read(off, out),
            BufInner::Sim(b) => b.read(off, out),
        }
    }

    /// Writes plain values (u32 words, u64 instructions, ...) in the GPU's little-endian order.
    pub fn write_pod<T: Pod>(&mut self, offset: u32, values: &[T]) -> Result<()> {
        self.write(offset, bytemuck::cast_slice(values))
    }

    /// Reads `count` plain values starting at byte `offset`.
    pub fn read_pod<T: Pod>(&self, offset: u32, count: usize) -> Result<Vec<T>> {
        let mut v = vec![T::zeroed(); count];
        self.read(offset, bytemuck::cast_slice_mut(&mut v))?;
        Ok(v)
    }

    /// The whole buffer's contents.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut v = vec![0; self.size as usize];
        self.read(0, &mut v)?;
        Ok(v)
    }

    /// Sets every byte to `byte`.
    pub fn fill(&mut self, byte: u8) -> Result<()> {
        let v = vec![byte; self.size as usize];
        self.write(0, &v)
    }

    /// Waits until no submitted job uses the buffer any more, whatever the jobs' outcome
    /// (`WAIT_BO`: a faulted or hung job leaves the buffer idle too).
    pub fn wait_idle(&self, timeout: Duration) -> Result<()> {
        match &self.inner {
            BufInner::Hw(b) => b.wait_idle(timeout),
            BufInner::Sim(b) => b.wait_idle(timeout),
        }
    }

    /// Maps the buffer for direct access, after waiting (up to `timeout`) for the jobs using
    /// it. While the mapping lives, the buffer cannot be passed to a dispatch. On hardware it
    /// is the BO's own CPU mapping; on the emulator the emulator's memory is copied in and
    /// written back when the mapping is dropped, which is indistinguishable to the caller.
    pub fn map(&mut self, timeout: Duration) -> Result<MappedBuffer<'_>> {
        self.wait_idle(timeout)?;
        let size = self.size as usize;
        match &mut self.inner {
            BufInner::Hw(b) => Ok(MappedBuffer {
                inner: MapInner::Hw(&mut b.slice_mut()?[..size]),
            }),
            BufInner::Sim(b) => {
                let mut copy = vec![0; size];
                b.read(0, &mut copy)?;
                Ok(MappedBuffer {
                    inner: MapInner::Sim { bo: b, copy },
                })
            }
        }
    }
}

enum MapInner<'a> {
    Hw(&'a mut [u8]),
    Sim { bo: &'a mut SimBo, copy: Vec<u8> },
}

/// A buffer's contents, readable and writable as a byte slice. See [`Buffer::map`].
pub struct MappedBuffer<'a> {
    inner: MapInner<'a>,
}

impl fmt::Debug for MappedBuffer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MappedBuffer({} bytes)", self.len())
    }
}

impl Deref for MappedBuffer<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.inner {
            MapInner::Hw(s) => s,
            MapInner::Sim { copy, .. } => copy,
        }
    }
}

impl DerefMut for MappedBuffer<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        match &mut self.inner {
            MapInner::Hw(s) => s,
            MapInner::Sim { copy, .. } => copy,
        }
    }
}

impl Drop for MappedBuffer<'_> {
    fn drop(&mut self) {
        if let MapInner::Sim { bo, copy } = &mut self.inner
            && let Err(e) = bo.write(0, copy)
        {
            tracing::error!(error = %e, "writing a mapped buffer back to the emulator failed");
        }
    }
}

/// How a program was written, which the dispatch words encode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramOptions {
    /// Threads per QPU the program's register use allows: 1, 2 or 4. With 4 the dispatch sets
    /// the THREADING flag (Mesa `v3d_launch_grid`); 1 and 2 leave it clear. Default 1.
    pub threads_per_qpu: u32,
    /// The program fits in one segment (Mesa's `single_seg`, `cfg[5]` bit 1). Default false.
    pub single_seg: bool,
}

impl Default for ProgramOptions {
    fn default() -> Self {
        ProgramOptions {
            threads_per_qpu: 1,
            single_seg: false,
        }
    }
}

/// QPU code in a buffer object of its own, uploaded once and dispatched any number of times.
pub struct Program {
    buffer: Buffer,
    words: usize,
    options: ProgramOptions,
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Program({} instructions at {:#010x}, {:?})",
            self.words,
            self.gpu_addr(),
            self.options
        )
    }
}

impl Program {
    /// The GPU address of the first instruction (page-aligned, so 8-byte aligned).
    pub fn gpu_addr(&self) -> u32 {
        self.buffer.gpu_addr()
    }

    /// Instructions in the program.
    pub fn len(&self) -> usize {
        self.words
    }

    /// Always false: an empty program is refused at upload.
    pub fn is_empty(&self) -> bool {
        self.words == 0
    }

    pub fn options(&self) -> ProgramOptions {
        self.options
    }
}

/// How many invocations a dispatch runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `n` QPU threads of 16 lanes each (one 16-invocation workgroup per thread): the usual
    /// shape for hand-written kernels, which find their share of the work from `tidx` and
    /// `eidx` (py-videocore7 style). 1 to 65535.
    Threads(u32),
    /// Workgroups as a compute API has them: a count in X, Y, Z and a local size.
    Workgroups { count: [u32; 3], size: [u32; 3] },
}

impl Shape {
    fn counts_and_size(&self) -> Result<([u32; 3], u32)> {
        match *self {
            Shape::Threads(n) => Ok(([n, 1, 1], csd::LANES_PER_BATCH)),
            Shape::Workgroups { count, size } => {
                let wg_size = size.iter().map(|&s| u64::from(s)).product::<u64>();
                if size.contains(&0) || wg_size > u64::from(csd::MAX_WG_SIZE) {
                    return Err(Error::InvalidDispatch {
                        field: "workgroup size",
                        value: wg_size,
                        reason: "each dimension must be at least 1 and their product at most 256",
                    });
                }
                Ok((count, wg_size as u32))
            }
        }
    }
}

enum Uniforms<'a> {
    None,
    Words(Vec<u32>),
    InBuffer(&'a Buffer, u32),
}

/// One compute dispatch: a program, a shape, a uniform stream and the buffers it touches.
pub struct Dispatch<'a> {
    program: &'a Program,
    shape: Shape,
    supergroups: Supergroups,
    uniforms: Uniforms<'a>,
    buffers: Vec<&'a Buffer>,
    after: Vec<&'a Job>,
    perfmon: Option<&'a PerfMonitor>,
}

impl<'a> Dispatch<'a> {
    pub fn new(program: &'a Program, shape: Shape) -> Dispatch<'a> {
        Dispatch {
            program,
            shape,
            supergroups: Supergroups::default(),
            uniforms: Uniforms::None,
            buffers: Vec::new(),
            after: Vec::new(),
            perfmon: None,
        }
    }

    /// `n` QPU threads of 16 lanes (see [`Shape::Threads`]).
    pub fn threads(program: &'a Program, n: u32) -> Dispatch<'a> {
        Dispatch::new(program, Shape::Threads(n))
    }

    /// `count` workgroups of `size` invocations.
    pub fn workgroups(program: &'a Program, count: [u32; 3], size: [u32; 3]) -> Dispatch<'a> {
        Dispatch::new(program, Shape::Workgroups { count, size })
    }

    /// The uniform stream: copied to a buffer object at submission. Every thread starts
    /// reading at its first word (v3d-uapi notes §7).
    pub fn uniforms(mut self, words: &[u32]) -> Self {
        self.uniforms = Uniforms::Words(words.to_vec());
        self
    }

    /// A uniform stream already in a buffer, starting `offset` bytes in.
    pub fn uniforms_in(mut self, buffer: &'a Buffer, offset: u32) -> Self {
        self.uniforms = Uniforms::InBuffer(buffer, offset);
        self
    }

    /// A buffer the program reads or writes (the job keeps it alive and is waited for by
    /// [`Buffer::wait_idle`]).
    pub fn buffer(mut self, buffer: &'a Buffer) -> Self {
        self.buffers.push(buffer);
        self
    }

    /// Several buffers.
    pub fn buffers(mut self, buffers: &[&'a Buffer]) -> Self {
        self.buffers.extend_from_slice(buffers);
        self
    }

    /// Starts only after `job` finished (on hardware: the job's syncobj is this one's
    /// `in_sync`). Jobs of one device already run in submission order, as the kernel runs one
    /// fd's CSD jobs, so this states the dependency rather than adding one; any number of jobs
    /// may be named.
    pub fn after(mut self, job: &'a Job) -> Self {
        self.after.push(job);
        self
    }

    /// Supergroup packing (default: Mesa's choice without barrier).
    pub fn supergroups(mut self, s: Supergroups) -> Self {
        self.supergroups = s;
        self
    }

    /// Counts this job's events in `perfmon`.
    pub fn perfmon(mut self, perfmon: &'a PerfMonitor) -> Self {
        self.perfmon = Some(perfmon);
        self
    }
}

enum JobInner {
    Hw {
        dev: Arc<hw::HwDevice>,
        syncobj: u32,
        resets_before: Option<u64>,
    },
    Sim(Arc<SimJob>),
}

/// A submitted dispatch.
pub struct Job {
    owner: u64,
    id: u64,
    cfg: [u32; 7],
    inner: JobInner,
    _uniforms: Option<Buffer>,
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Job({}, cfg {:08x?})", self.id, self.cfg)
    }
}

impl Job {
    /// The job's number on its device (1, 2, ...), used in error messages.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The cfg words that were submitted.
    pub fn cfg(&self) -> [u32; 7] {
        self.cfg
    }

    /// Waits up to `timeout` for the job to finish. [`Error::Timeout`] if it is still running
    /// (the job goes on; wait again), [`Error::GpuHang`] if the GPU was reset under it (or the
    /// emulator gave up on it), [`Error::Fault`] if the emulator caught the program faulting.
    pub fn wait(&self, timeout: Duration) -> Result<()> {
        match &self.inner {
            JobInner::Hw {
                dev,
                syncobj,
                resets_before,
            } => {
                dev.wait_syncobj(*syncobj, timeout)
                    .map_err(|e| hw::wait_error(dev, "SYNCOBJ_WAIT", e, self.id, timeout))?;
                if let (Some(before), Some(now)) = (resets_before, dev.reset_counter())
                    && now > *before
                {
                    return Err(Error::GpuHang {
                        job: self.id,
                        detail: format!(
                            "the kernel reset the GPU {} time(s) while the job was queued or \
                             running (CONTEXT_RESET_COUNTER); see `dmesg` for \"CSD timeout\" \
                             or MMU errors",
                            now - before
                        ),
                        errno: EIO,
                    });
                }
                Ok(())
            }
            JobInner::Sim(j) => j.wait(self.id, timeout).map(|_| ()),
        }
    }

    /// A sync_file for the job's completion, to `poll` together with V4L2 buffers (hardware;
    /// readable once the job is done).
    pub fn sync_file(&self) -> Result<std::os::fd::OwnedFd> {
        match &self.inner {
            JobInner::Hw { dev, syncobj, .. } => dev.syncobj_sync_file(*syncobj),
            JobInner::Sim(_) => Err(Error::Unsupported {
                what: "a sync_file for a job",
                backend: BackendKind::Emulator,
                why: "emulated jobs have no kernel fence; use Job::wait",
            }),
        }
    }

    /// The emulator's statistics once the job finished; `None` on hardware or before then.
    pub fn emulator_stats(&self) -> Option<EmulatorStats> {
        match &self.inner {
            JobInner::Sim(j) => j.stats(),
            JobInner::Hw { .. } => None,
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // The kernel holds its own reference to the job's fence; the handle can go at once.
        if let JobInner::Hw { dev, syncobj, .. } = &self.inner {
            dev.destroy_syncobj(*syncobj);
        }
    }
}

/// A kernel performance monitor (hardware only). Destroyed on drop.
pub struct PerfMonitor {
    owner: u64,
    dev: Arc<hw::HwDevice>,
    id: u32,
    counters: Vec<u8>,
}

impl PerfMonitor {
    /// The counters, in the order [`PerfMonitor::values`] returns them.
    pub fn counters(&self) -> &[u8] {
        &self.counters
    }

    /// The counts accumulated so far. The kernel does not synchronise: wait for the jobs first.
    pub fn values(&self) -> Result<Vec<u64>> {
        self.dev.perfmon_values(self.id, self.counters.len())
    }
}

impl Drop for PerfMonitor {
    fn drop(&mut self) {
        self.dev.perfmon_destroy(self.id);
    }
}
