//! Shared helpers: assemble a kernel, map buffers, dispatch, read results back.
#![allow(dead_code)]

use qpu_asm::{FsLoader, assemble};
use qpu_sim::{DispatchOptions, Fault, FaultKind, Gpu, GpuConfig, Stats};

pub const CODE: u32 = 0x0001_0000;
pub const UNIF: u32 = 0x0002_0000;
/// Data buffers are mapped from here, 64 KiB apart.
pub const DATA: u32 = 0x0010_0000;

/// The standard thread end (`qpu_sim::THREAD_END`).
pub const END: &str = qpu_sim::THREAD_END;

pub fn asm(src: &str) -> Vec<u8> {
    match assemble(src, "test.qasm", None, &FsLoader) {
        Ok(p) => p.to_bytes(),
        Err(diags) => {
            let msg: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
            panic!(
                "assembly failed:\n{}\n--- source ---\n{src}",
                msg.join("\n")
            );
        }
    }
}

pub fn words_to_bytes(w: &[u32]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn bytes_to_words(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// `cfg[0..6]` for `batches` batches of one 16-item workgroup each, `sg` batches per
/// supergroup, the uniforms at UNIF and the code at CODE. `cfg[4]` holds the batch count (the
/// default, observed-on-Pi-5 rule: 7.1.6 and later).
pub fn cfg(batches: u32, sg: u32, threading: bool) -> [u32; 7] {
    [
        batches << 16,
        1 << 16,
        1 << 16,
        16 | ((sg & 0xf) << 8) | ((sg - 1) << 12),
        batches,
        CODE | u32::from(threading),
        UNIF,
    ]
}

pub struct Setup {
    pub gpu: Gpu,
}

impl Setup {
    /// A GPU with the kernel, its uniforms and data buffers (mapped at DATA + i * 64 KiB).
    pub fn new(src: &str, uniforms: &[u32], buffers: &[Vec<u32>]) -> Setup {
        let mut gpu = Gpu::new(GpuConfig::default());
        gpu.map_bo(CODE, asm(src)).unwrap();
        let mut u = uniforms.to_vec();
        // Room for kernels that read a little past their uniforms.
        u.resize(uniforms.len() + 16, 0);
        gpu.map_bo(UNIF, words_to_bytes(&u)).unwrap();
        for (i, b) in buffers.iter().enumerate() {
            gpu.map_bo(buf(i), words_to_bytes(b)).unwrap();
        }
        Setup { gpu }
    }

    pub fn run(&mut self, cfg: [u32; 7]) -> Result<Stats, Fault> {
        self.dispatch_both(cfg, None)
    }

    pub fn run_threads(&mut self, cfg: [u32; 7], threads: u32) -> Result<Stats, Fault> {
        self.dispatch_both(cfg, Some(threads))
    }

    /// Runs the dispatch on one host thread and, on copies of the buffers, on two, and on one
    /// with a trace (into a sink), under which every instruction takes the generic path
    /// instead of the fast forms and blocks. All three must give the same statistics or
    /// fault and the same memory (scheduling is deterministic whatever the host thread count,
    /// and the fast paths are optimisations only); the one-thread result is kept.
    fn dispatch_both(&mut self, cfg: [u32; 7], threads: Option<u32>) -> Result<Stats, Fault> {
        let mut two = Gpu::new(GpuConfig {
            host_threads: 2,
            ..self.gpu.config.clone()
        });
        two.memory = self.gpu.memory.clone();
        self.gpu.config.host_threads = 1;
        let mut generic = Gpu::new(self.gpu.config.clone());
        generic.memory = self.gpu.memory.clone();
        let opts = || DispatchOptions {
            trace: None,
            threads_per_qpu: threads,
        };
        let r1 = self.gpu.dispatch(cfg, opts());
        let r2 = two.dispatch(cfg, opts());
        assert_eq!(r1, r2, "1 and 2 host threads give different results");
        same_memory(&self.gpu, &two);
        let mut sink = std::io::sink();
        let rg = generic.dispatch(
            cfg,
            DispatchOptions {
                trace: Some(&mut sink),
                threads_per_qpu: threads,
            },
        );
        assert_eq!(
            r1, rg,
            "the fast paths and the generic path give different results"
        );
        same_memory(&self.gpu, &generic);
        r1
    }

    pub fn words(&self, i: usize) -> Vec<u32> {
        bytes_to_words(self.gpu.bo(buf(i)).unwrap())
    }
}

/// Asserts that two GPUs hold the same buffers with the same contents.
pub fn same_memory(a: &Gpu, b: &Gpu) {
    let bufs: Vec<(u32, usize)> = a.memory.buffers().collect();
    assert_eq!(bufs, b.memory.buffers().collect::<Vec<_>>());
    for (addr, _) in bufs {
        assert!(
            a.bo(addr) == b.bo(addr),
            "buffer {addr:#010x} differs between the two runs"
        );
    }
}

pub fn buf(i: usize) -> u32 {
    DATA + (i as u32) * 0x1_0000
}

/// Runs a one-batch kernel and returns buffer `out`.
pub fn run1(src: &str, uniforms: &[u32], buffers: &[Vec<u32>], out: usize) -> Vec<u32> {
    let mut s = Setup::new(src, uniforms, buffers);
    if let Err(f) = s.run(cfg(1, 1, false)) {
        panic!("unexpected fault: {f}\n--- source ---\n{src}");
    }
    s.words(out)
}

/// Runs a one-batch kernel that must fault; returns the fault.
pub fn fault1(src: &str, uniforms: &[u32], buffers: &[Vec<u32>]) -> Fault {
    let mut s = Setup::new(src, uniforms, buffers);
    match s.run(cfg(1, 1, false)) {
        Ok(_) => panic!("expected a fault\n--- source ---\n{src}"),
        Err(f) => f,
    }
}

/// Loads A (buffer 0) into rf10, B (buffer 1) into rf11 and C (buffer 2) into rf12, runs
/// `body`, then stores rf12 into buffer 3. Uniforms: the four buffer addresses.
pub fn op_kernel(body: &str) -> String {
    format!(
        "
    eidx rf20 ; ldunifrf.rf21
    nop ; ldunifrf.rf22
    nop ; ldunifrf.rf23
    shl rf20, rf20, 2 
    add rf21, rf21, rf20 ; ldunifrf.rf24
    add rf22, rf22, rf20
    add rf23, rf23, rf20
    add rf24, rf24, rf20
    mov tmua, rf21
    mov tmua, rf22
    mov tmua, rf23
    nop ; ldtmu.rf10
    nop ; ldtmu.rf11
    nop ; ldtmu.rf12
{body}
    mov tmud, rf12
    mov tmua, rf24
    tmuwt -
{END}"
    )
}

/// Runs `body` over lanes (a, b, c) and returns rf12 per lane.
pub fn eval(body: &str, a: &[u32; 16], b: &[u32; 16], c: &[u32; 16]) -> [u32; 16] {
    let src = op_kernel(body);
    let out = run1(
        &src,
        &[buf(0), buf(1), buf(2), buf(3)],
        &[a.to_vec(), b.to_vec(), c.to_vec(), vec![0; 16]],
        3,
    );
    out.try_into().unwrap()
}

/// Checks a table of (a, b, expected) lanes for one op (c = 0).
pub fn check_table(body: &str, rows: &[(u32, u32, u32)]) {
    for chunk in rows.chunks(16) {
        let mut a = [0u32; 16];
        let mut b = [0u32; 16];
        let mut want = [0u32; 16];
        for i in 0..16 {
            let (x, y, w) = chunk[i.min(chunk.len() - 1)];
            a[i] = x;
            b[i] = y;
            want[i] = w;
        }
        let got = eval(body, &a, &b, &[0; 16]);
        for i in 0..chunk.len() {
            assert_eq!(
                got[i], want[i],
                "`{body}` with a={:#010x} b={:#010x}: got {:#010x}, want {:#010x}",
                a[i], b[i], got[i], want[i]
            );
        }
    }
}

pub fn expect_kind(f: &Fault, pred: impl Fn(&FaultKind) -> bool, what: &str) {
    assert!(pred(&f.kind), "expected {what}, got: {f}");
}

pub fn f(x: f32) -> u32 {
    x.to_bits()
}
