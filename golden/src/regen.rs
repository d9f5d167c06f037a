//! Making fixtures from the reference, and checking fixtures against a reference.

use std::path::{Path, PathBuf};

use golden_fixtures::{After, Case, CaseBuffer, ElemType, Fixture, FormatError, Mismatch};

use crate::catalog::{Inputs, Kernel};
use crate::reference::{GoldenError, Reference};
use crate::rng::kernel_seed;

#[derive(Debug, thiserror::Error)]
pub enum RegenError {
    #[error("{kernel}: {source}")]
    Golden {
        kernel: String,
        #[source]
        source: GoldenError,
    },
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "fixture {kernel} has a different layout ({detail}) than this golden's kernel; run `golden regen --kernel {kernel}`"
    )]
    Layout { kernel: String, detail: String },
}

/// Little-endian bytes of `v` as elements of type `e`.
pub fn encode(e: ElemType, v: &[i32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * e.size());
    for &x in v {
        match e {
            ElemType::U8 => out.push(u8::try_from(x).expect("u8 element in range")),
            ElemType::U16 => out.extend(
                u16::try_from(x)
                    .expect("u16 element in range")
                    .to_le_bytes(),
            ),
            ElemType::I16 => out.extend(
                i16::try_from(x)
                    .expect("i16 element in range")
                    .to_le_bytes(),
            ),
            ElemType::I32 => out.extend(x.to_le_bytes()),
        }
    }
    out
}

pub fn decode(e: ElemType, b: &[u8]) -> Vec<i32> {
    (0..b.len() / e.size())
        .map(|i| e.get(b, i) as i32)
        .collect()
}

/// Generates `k`'s cases from its seed and runs `r` (the C reference) on them.
pub fn build(k: &Kernel, r: &Reference) -> Result<Fixture, RegenError> {
    let seed = kernel_seed(&k.name);
    build_from(k, k.generate(seed), seed, r)
}

/// Runs `r` on the given inputs (e.g. captured from a decode) and makes a fixture of them.
pub fn build_from(
    k: &Kernel,
    inputs: Vec<Inputs>,
    seed: u64,
    r: &Reference,
) -> Result<Fixture, RegenError> {
    let specs = k.buffer_specs();
    let mut cases = Vec::new();
    for inputs in inputs {
        let mut bufs = inputs.buffers.clone();
        k.run(r, &inputs.params, &mut bufs)
            .map_err(|source| RegenError::Golden {
                kernel: k.name.clone(),
                source,
            })?;
        let buffers = specs
            .iter()
            .zip(inputs.buffers.iter().zip(&bufs))
            .map(|(s, (before, after))| {
                let before = encode(s.elem, before);
                let after = After::describe(&before, encode(s.elem, after));
                CaseBuffer { before, after }
            })
            .collect();
        cases.push(Case {
            params: inputs.params,
            buffers,
        });
    }
    Ok(Fixture {
        kernel: k.name.clone(),
        bit_depth: k.bits as u8,
        seed,
        params: k.params().iter().map(|s| (*s).to_owned()).collect(),
        buffers: specs,
        cases,
    })
}

/// Checks that a loaded fixture was made for this kernel's layout.
pub fn check_layout(k: &Kernel, f: &Fixture) -> Result<(), RegenError> {
    let params: Vec<String> = k.params().iter().map(|s| (*s).to_owned()).collect();
    let detail = if f.kernel != k.name {
        format!("it is named {}", f.kernel)
    } else if u32::from(f.bit_depth) != k.bits {
        format!("bit depth {} instead of {}", f.bit_depth, k.bits)
    } else if f.params != params {
        format!("parameters {:?} instead of {:?}", f.params, params)
    } else if f.buffers != k.buffer_specs() {
        format!(
            "buffers {:?}",
            f.buffers.iter().map(|b| &b.name).collect::<Vec<_>>()
        )
    } else {
        return Ok(());
    };
    Err(RegenError::Layout {
        kernel: k.name.clone(),
        detail,
    })
}

/// Runs `r` on every case's inputs and compares with the fixture's expected buffers.
/// Returns the first mismatch of each failing case.
pub fn verify(k: &Kernel, f: &Fixture, r: &Reference) -> Result<Vec<Mismatch>, RegenError> {
    check_layout(k, f)?;
    let mut mismatches = Vec::new();
    for (ci, case) in f.cases.iter().enumerate() {
        let mut bufs: Vec<Vec<i32>> = f
            .buffers
            .iter()
            .zip(&case.buffers)
            .map(|(s, b)| decode(s.elem, &b.before))
            .collect();
        k.run(r, &case.params, &mut bufs)
            .map_err(|source| RegenError::Golden {
                kernel: k.name.clone(),
                source,
            })?;
        let actual: Vec<Vec<u8>> = f
            .buffers
            .iter()
            .zip(&bufs)
            .map(|(s, b)| encode(s.elem, b))
            .collect();
        let refs: Vec<&[u8]> = actual.iter().map(Vec::as_slice).collect();
        match f.check(ci, &refs) {
            Ok(Ok(())) => {}
            Ok(Err(m)) => mismatches.push(m),
            Err(e) => {
                return Err(RegenError::Layout {
                    kernel: k.name.clone(),
                    detail: e.to_string(),
                });
            }
        }
    }
    Ok(mismatches)
}

/// What regenerating one fixture did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    New,
    Changed,
    Unchanged,
}

/// Regenerates `k`'s fixture under `dir`; with `write` false only reports what would change.
pub fn regen_one(
    dir: &Path,
    k: &Kernel,
    r: &Reference,
    write: bool,
) -> Result<(Outcome, usize), RegenError> {
    let bytes = build(k, r)?.encode();
    store(&Fixture::path_in(dir, &k.name), &bytes, write)
}

/// Compares `bytes` with the file at `path` and, if `write`, replaces it when different.
pub fn store(path: &Path, bytes: &[u8], write: bool) -> Result<(Outcome, usize), RegenError> {
    let outcome = match std::fs::read(path) {
        Ok(old) if old == bytes => Outcome::Unchanged,
        Ok(_) => Outcome::Changed,
        Err(_) => Outcome::New,
    };
    if write && outcome != Outcome::Unchanged {
        let io = |source| RegenError::Io {
            path: path.to_owned(),
            source,
        };
        std::fs::create_dir_all(path.parent().expect("fixture path has a directory"))
            .map_err(io)?;
        std::fs::write(path, bytes).map_err(io)?;
    }
    Ok((outcome, bytes.len()))
}
