//! The `qpu sim JOB.json` contract.
//!
//! ```json
//! {"bos": [{"addr": 65536, "file": "code.bin"}, {"addr": 131072, "file": "data.bin"}],
//!  "cfg": [786432, 65536, 65536, 272, 12, 65536, 131072],
//!  "qpus": 12, "max_steps": 100000000, "rev": 6}
//! ```
//!
//! `qpus`, `max_steps` and `rev` are optional. Buffer files may be any size and are found
//! relative to the job file. The dispatch runs as on a Pi 5; every buffer's final contents are
//! written back into its file, also after a fault (so the state can be inspected).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::fault::Fault;
use crate::gpu::{BatchCount, DispatchOptions, Gpu, GpuConfig};
use crate::memory::MapError;
use crate::timing::Stats;

/// One buffer object of a job.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BoSpec {
    /// The 32-bit GPU address the buffer is mapped at.
    pub addr: u32,
    /// The file holding its initial contents; receives the final contents.
    pub file: PathBuf,
}

/// A job file.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    pub bos: Vec<BoSpec>,
    /// `cfg[0..6]` of `DRM_IOCTL_V3D_SUBMIT_CSD`.
    pub cfg: [u32; 7],
    /// Number of QPUs (default 12).
    #[serde(default)]
    pub qpus: Option<u32>,
    /// Instructions after which the dispatch counts as hung.
    #[serde(default)]
    pub max_steps: Option<u64>,
    /// The V3D 7.1 revision: 6 and later (and the default, as py-videocore7 observes on a
    /// Pi 5) take `cfg[4]` as the batch count, earlier ones as the count minus one.
    #[serde(default)]
    pub rev: Option<u32>,
}

/// Options of [`run_job_file`].
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Where `--trace` output goes.
    pub trace: Option<&'a mut dyn Write>,
}

/// What a job did.
#[derive(Clone, Debug)]
pub struct JobReport {
    /// The statistics, when the dispatch completed.
    pub stats: Option<Stats>,
    /// The fault that stopped the dispatch, if any (the CLI then exits 1).
    pub fault: Option<Fault>,
}

impl fmt::Display for JobReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.stats {
            write!(f, "{s}")?;
        }
        if let Some(e) = &self.fault {
            writeln!(f, "fault: {e}")?;
        }
        Ok(())
    }
}

/// Why a job could not run (as opposed to a fault of the dispatch itself).
#[derive(Debug, Error)]
pub enum JobError {
    #[error("cannot read the job file {path}: {source}")]
    ReadJob {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the job file {path} is not a valid job: {source}; expected {{\"bos\":[{{\"addr\":N,\"file\":\"PATH\"}}...],\"cfg\":[7 numbers]}}"
    )]
    ParseJob {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot read the buffer file {path}: {source}")]
    ReadBo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the buffer file {path} back: {source}")]
    WriteBo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("buffer {path}: {source}")]
    Map { path: PathBuf, source: MapError },
    #[error("\"qpus\": {0} is not between 1 and 16")]
    BadQpus(u32),
}

/// Reads and parses a job file.
pub fn load_job(path: &Path) -> Result<JobSpec, JobError> {
    let text = std::fs::read_to_string(path).map_err(|source| JobError::ReadJob {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| JobError::ParseJob {
        path: path.to_owned(),
        source,
    })
}

/// Runs the job in `path` and writes the buffers back.
pub fn run_job_file(path: &Path, options: RunOptions<'_>) -> Result<JobReport, JobError> {
    let spec = load_job(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    run_job(&spec, dir, options)
}

/// Runs a parsed job whose buffer paths are relative to `dir`.
pub fn run_job(spec: &JobSpec, dir: &Path, options: RunOptions<'_>) -> Result<JobReport, JobError> {
    let mut config = GpuConfig::default();
    if let Some(q) = spec.qpus {
        if !(1..=16).contains(&q) {
            return Err(JobError::BadQpus(q));
        }
        config.slices = 1;
        config.qpus_per_slice = q;
    }
    if let Some(m) = spec.max_steps {
        config.max_steps = m;
    }
    if let Some(r) = spec.rev {
        config.batch_count = BatchCount::for_revision(r);
    }
    let mut gpu = Gpu::new(config);
    let paths: Vec<PathBuf> = spec.bos.iter().map(|b| dir.join(&b.file)).collect();
    for (b, path) in spec.bos.iter().zip(&paths) {
        let data = std::fs::read(path).map_err(|source| JobError::ReadBo {
            path: path.clone(),
            source,
        })?;
        gpu.map_bo(b.addr, data).map_err(|source| JobError::Map {
            path: path.clone(),
            source,
        })?;
    }
    let result = gpu.dispatch(
        spec.cfg,
        DispatchOptions {
            trace: options.trace,
            threads_per_qpu: None,
        },
    );
    for (b, path) in spec.bos.iter().zip(&paths) {
        let data = gpu.bo(b.addr).unwrap_or_default();
        std::fs::write(path, data).map_err(|source| JobError::WriteBo {
            path: path.clone(),
            source,
        })?;
    }
    Ok(match result {
        Ok(stats) => JobReport {
            stats: Some(stats),
            fault: None,
        },
        Err(fault) => JobReport {
            stats: None,
            fault: Some(fault),
        },
    })
}
