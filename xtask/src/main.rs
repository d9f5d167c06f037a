//! Developer tasks for the daedalus workspace.
//!
//! `cargo xtask vm-test` builds (or reuses from `~/.cache/daedalus/`) a Linux 6.12 kernel with
//! `CONFIG_RUST=y`, builds the `kmod/` module against it, boots it under QEMU (TCG) with the host
//! root shared read-only, runs the guest suite and ends with one line `N passed, M failed`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

mod cache;
mod guest;
mod kernel;
mod module;
mod run;

use kernel::Variant;

const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  vm-test [--variant base|debug|all] [--timeout SECS] [--jobs N]
        build or reuse the cached kernel(s), build kmod/, boot QEMU and run the guest suite;
        the last line printed is `N passed, M failed`. Default variant: all
  kernel [--variant base|debug|all] [--jobs N]
        only build (or verify) the cached kernel(s) and print their directories
  cache-key [--variant base|debug|all]
        print the cache key of each kernel variant without building anything

environment:
  DAEDALUS_CACHE   cache root (default: $XDG_CACHE_HOME/daedalus or ~/.cache/daedalus)";

struct Options {
    variants: Vec<Variant>,
    timeout_secs: u64,
    jobs: usize,
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut opts = Options {
        variants: vec![Variant::Base, Variant::Debug],
        timeout_secs: 900,
        jobs: std::thread::available_parallelism().map_or(2, usize::from),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("{name} needs a value\n\n{USAGE}"))
        };
        match arg.as_str() {
            "--variant" => {
                let v = value("--variant")?;
                opts.variants = match v.as_str() {
                    "all" => vec![Variant::Base, Variant::Debug],
                    other => vec![Variant::parse(other).with_context(|| {
                        format!("unknown variant `{other}`: use base, debug or all")
                    })?],
                };
            }
            "--timeout" => {
                let v = value("--timeout")?;
                opts.timeout_secs = v
                    .parse()
                    .with_context(|| format!("--timeout `{v}` is not a number of seconds"))?;
            }
            "--jobs" | "-j" => {
                let v = value("--jobs")?;
                opts.jobs = v
                    .parse()
                    .ok()
                    .filter(|&j| j > 0)
                    .with_context(|| format!("--jobs `{v}` is not a positive number"))?;
            }
            other => bail!("unknown option `{other}`\n\n{USAGE}"),
        }
    }
    Ok(opts)
}

fn workspace_root() -> PathBuf {
    // xtask/ sits directly under the workspace root.
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        bail!("no task given\n\n{USAGE}");
    };
    let root = workspace_root();
    match task.as_str() {
        "vm-test" => {
            let opts = parse_options(rest)?;
            let summary = guest::vm_test(&root, &opts.variants, opts.jobs, opts.timeout_secs)?;
            println!("{}", summary.line());
            Ok(if summary.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        "kernel" => {
            let opts = parse_options(rest)?;
            for v in opts.variants {
                let k = kernel::ensure(&root, v, opts.jobs)?;
                println!("{}: {}", v.name(), k.tree.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        "cache-key" => {
            let opts = parse_options(rest)?;
            let tools = kernel::Toolchain::detect()?;
            for v in opts.variants {
                println!("{}: {}", v.name(), kernel::cache_key(&root, v, &tools)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => bail!("unknown task `{other}`\n\n{USAGE}"),
    }
}
