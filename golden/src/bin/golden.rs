//! `golden`: regenerates and checks the golden fixtures (and the streams' MD5 lists).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use golden::catalog::{self, Kernel};
use golden::fixtures::Fixture;
use golden::reference::Reference;
use golden::regen::{self, Outcome};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(about = "FFmpeg's C DSP kernels as the golden reference: fixtures and stream MD5s")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Regenerate fixtures from their seeds with FFmpeg's C functions and report changes.
    Regen {
        /// Only this kernel (repeatable); default: every kernel.
        #[arg(long = "kernel", value_name = "NAME")]
        kernels: Vec<String>,
        /// Rebuild the streams' per-frame MD5 lists instead (needs the ffmpeg CLI).
        #[arg(long)]
        streams: bool,
        /// Rebuild the fixtures captured from decoding the streams instead (runs golden-capture).
        #[arg(long)]
        captured: bool,
        /// Report what would change without writing anything; exit 1 if something would.
        #[arg(long)]
        check: bool,
        /// Fixtures directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Check that FFmpeg's SIMD functions agree with every committed fixture.
    SelfCheck {
        #[arg(long = "kernel", value_name = "NAME")]
        kernels: Vec<String>,
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// List the kernels, their case counts and fixture sizes.
    List {
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

fn select(names: &[String]) -> anyhow::Result<Vec<Kernel>> {
    if names.is_empty() {
        return Ok(catalog::all());
    }
    names
        .iter()
        .map(|n| {
            catalog::find(n)
                .with_context(|| format!("unknown kernel {n}; `golden list` shows the names"))
        })
        .collect()
}

fn bar(len: usize) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .expect("static progress template"),
    );
    pb
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Regen {
            kernels,
            streams,
            captured,
            check,
            dir,
        } => {
            if captured {
                if !kernels.is_empty() || streams {
                    bail!(
                        "--captured rebuilds every captured fixture; run it without --kernel and --streams"
                    );
                }
                let exe = std::env::current_exe().context("cannot find this executable")?;
                let capture = exe.with_file_name("golden-capture");
                let mut cmd = std::process::Command::new(&capture);
                if check {
                    cmd.arg("--check");
                }
                if let Some(d) = &dir {
                    cmd.arg("--dir").arg(d);
                }
                let status = cmd.status().with_context(|| {
                    format!(
                        "cannot run {}; build it with cargo build -p golden",
                        capture.display()
                    )
                })?;
                return Ok(if status.success() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            if streams {
                if !kernels.is_empty() || check {
                    bail!(
                        "--streams rebuilds only the MD5 lists; run it without --kernel and --check"
                    );
                }
                let d = golden::streams::dir();
                let changed = golden::streams::regen_md5(&d)?;
                if changed.is_empty() {
                    println!("all MD5 lists in {} unchanged", d.display());
                } else {
                    for c in &changed {
                        println!("changed: {c}");
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            let dir = dir.unwrap_or_else(golden::fixtures::default_dir);
            let ks = select(&kernels)?;
            let r = Reference::c().context("cannot set up FFmpeg's C reference")?;
            let pb = bar(ks.len());
            let (mut changed, mut total) = (Vec::new(), 0usize);
            for k in &ks {
                pb.set_message(k.name.clone());
                let (outcome, size) = regen::regen_one(&dir, k, r, !check)?;
                total += size;
                if outcome != Outcome::Unchanged {
                    changed.push((k.name.clone(), outcome));
                }
                pb.inc(1);
            }
            pb.finish_and_clear();
            for (name, o) in &changed {
                let what = match (o, check) {
                    (Outcome::New, false) => "new",
                    (Outcome::New, true) => "missing",
                    (_, false) => "changed",
                    (_, true) => "differs",
                };
                println!("{what}: {name}");
            }
            println!(
                "{} fixtures, {} bytes, {} {}",
                ks.len(),
                total,
                changed.len(),
                if check {
                    "differ from the generator"
                } else {
                    "rewritten"
                }
            );
            let known: Vec<String> = catalog::all().into_iter().map(|k| k.name).collect();
            if let Ok(present) = golden::fixtures::list_kernels(&dir) {
                for p in present.iter().filter(|p| !known.contains(p)) {
                    println!(
                        "stale: {p} has a fixture but no kernel in the catalog; delete golden/fixtures/{p}"
                    );
                }
            }
            Ok(if check && !changed.is_empty() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Cmd::SelfCheck { kernels, dir } => {
            let dir = dir.unwrap_or_else(golden::fixtures::default_dir);
            let ks = select(&kernels)?;
            let r = Reference::simd().context("cannot set up FFmpeg's SIMD functions")?;
            let pb = bar(ks.len());
            let mut failures = 0;
            let mut cases = 0;
            for k in &ks {
                pb.set_message(k.name.clone());
                let mut fixtures = vec![Fixture::load(&dir, &k.name)?];
                let captured = Fixture::captured_path_in(&dir, &k.name);
                if captured.is_file() {
                    fixtures.push(Fixture::load_file(&captured)?);
                }
                for f in &fixtures {
                    cases += f.cases.len();
                    for m in regen::verify(k, f, r)? {
                        pb.suspend(|| println!("SIMD disagrees: {m}"));
                        failures += 1;
                    }
                }
                pb.inc(1);
            }
            pb.finish_and_clear();
            println!(
                "{} kernels, {cases} cases, {failures} disagreements",
                ks.len()
            );
            Ok(if failures == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::List { dir } => {
            let dir = dir.unwrap_or_else(golden::fixtures::default_dir);
            for k in catalog::all() {
                match Fixture::load(&dir, &k.name) {
                    Ok(f) => {
                        let size = std::fs::metadata(Fixture::path_in(&dir, &k.name))
                            .map(|m| m.len())
                            .unwrap_or(0);
                        let captured =
                            Fixture::load_file(&Fixture::captured_path_in(&dir, &k.name))
                                .map(|c| format!(", {} captured", c.cases.len()))
                                .unwrap_or_default();
                        println!(
                            "{:40} {:3} cases {:8} bytes{captured}",
                            k.name,
                            f.cases.len(),
                            size
                        );
                    }
                    Err(e) => println!("{:40} no fixture ({e})", k.name),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
