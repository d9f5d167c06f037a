//! `qpu`: the command-line front end of daedalus.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

mod asm_cmd;
#[cfg(feature = "ffmpeg")]
mod kernels_cmd;
mod run_cmd;

#[derive(Parser)]
#[command(
    name = "qpu",
    version,
    about = "Assemble, disassemble and run V3D 7.1 QPU code"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Little-endian 64-bit words.
    Bin,
    /// One `0x%016x` word per line.
    Hex,
}

#[derive(Subcommand)]
enum Cmd {
    /// Assemble a program (Mesa's disassembly syntax plus labels, constants and includes).
    Asm {
        /// Source file, or `-` for standard input.
        input: PathBuf,
        /// Output file, or `-` for standard output.
        #[arg(short, long, default_value = "-")]
        output: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "bin")]
        format: Format,
    },
    /// Disassemble a program: one line per instruction word.
    Disasm {
        /// Binary file of little-endian 64-bit words (or hex with --hex), or `-` for standard input.
        input: PathBuf,
        /// Read hex words, one per line, with or without `0x`.
        #[arg(long)]
        hex: bool,
        /// Prefix each line with its byte offset.
        #[arg(long)]
        addr: bool,
        /// Print exactly Mesa's text (drops `ucb`, branch-and-link, and prints register 44 as
        /// `tmuscm`, as Mesa does).
        #[arg(long)]
        mesa: bool,
    },
    /// Assemble a program, run it on the default backend (the v3d GPU, else the emulator;
    /// DAEDALUS_BACKEND=hw|sim forces one) and dump its buffers.
    Run {
        /// Program: `.qasm` source, or `.bin` little-endian instruction words.
        program: PathBuf,
        /// QPU threads of 16 lanes to run (one 16-invocation workgroup each).
        #[arg(short, long, default_value_t = 1, conflicts_with = "workgroups")]
        threads: u32,
        /// Workgroup counts X,Y,Z instead of --threads (with --local).
        #[arg(long, value_parser = parse_xyz, requires = "local")]
        workgroups: Option<[u32; 3]>,
        /// Workgroup size X,Y,Z (invocations; product at most 256).
        #[arg(long, value_parser = parse_xyz, requires = "workgroups")]
        local: Option<[u32; 3]>,
        /// Uniform words, in order; repeat the flag or separate with commas. A number (42, -1,
        /// 0x2a, 1.5f), @NAME (buffer NAME's GPU address), @NAME+OFFSET or size:NAME.
        #[arg(short, long = "uniform", value_name = "VALUE[,VALUE...]")]
        uniforms: Vec<String>,
        /// A buffer: NAME=SIZE (zeroed), NAME=SIZE:FILE (FILE's bytes first) or NAME=:FILE
        /// (the file's size). SIZE: bytes, 0x hex, or with K / M.
        #[arg(short, long = "buffer", value_name = "NAME=SIZE[:FILE]")]
        buffers: Vec<String>,
        /// Threads per QPU the program allows (1, 2 or 4; 4 sets the THREADING flag).
        #[arg(long, default_value_t = 1)]
        threads_per_qpu: u32,
        /// Seconds to wait for the job.
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
        /// Emulator only: instructions after which the job counts as hung.
        #[arg(long, default_value_t = runtime::SimConfig::default().max_steps)]
        max_steps: u64,
        /// How to print the buffers after the job.
        #[arg(long, value_enum, default_value = "words")]
        dump: run_cmd::Dump,
        /// Also write each buffer to DIR/NAME.bin.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Show the backend that `qpu run` would use and the GPU's identity.
    Info {
        /// Also list the performance counters (hardware with perfmon support).
        #[arg(long)]
        counters: bool,
    },
    /// Run a compute dispatch on the emulator, as a Pi 5 would: JOB.json is
    /// {"bos":[{"addr":N,"file":"PATH"}...], "cfg":[c0..c6], "qpus":12, "max_steps":N}.
    /// Writes every buffer's final contents back into its file and prints the statistics;
    /// exits 1 (after printing it) on a fault.
    Sim {
        job: PathBuf,
        /// Print every executed instruction (QPU, thread, PC, disassembly) and the lanes it wrote.
        #[arg(long)]
        trace: bool,
    },
    /// Check the QPU kernels on the default backend against FFmpeg's C functions, live, on fresh
    /// random inputs: one line per kernel, `NAME: N/N bit-exact`; exit 1 on any mismatch.
    #[cfg(feature = "ffmpeg")]
    Check {
        /// Only this kernel (default: all).
        #[arg(long)]
        kernel: Option<String>,
        /// Random seed (default: from the clock; printed, so a failure can be repeated).
        #[arg(long)]
        seed: Option<u64>,
        /// Blocks per kernel.
        #[arg(short, default_value_t = 1000)]
        n: usize,
    },
    /// Benchmark every kernel on a 1080p frame's worth of blocks: QPU instructions and
    /// modelled cycles per block, projected Pi 5 throughput, and FFmpeg's C function on this
    /// host, measured in the same run.
    #[cfg(feature = "ffmpeg")]
    Bench {
        /// Only this kernel (default: all).
        #[arg(long)]
        kernel: Option<String>,
        /// Random seed for the inputs.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn parse_xyz(s: &str) -> Result<[u32; 3], String> {
    let parts: Vec<&str> = s.split(',').collect();
    let n: Vec<u32> = parts
        .iter()
        .map(|p| p.trim().parse::<u32>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("`{s}` is not X,Y,Z (three whole numbers)"))?;
    match n[..] {
        [x] => Ok([x, 1, 1]),
        [x, y] => Ok([x, y, 1]),
        [x, y, z] => Ok([x, y, z]),
        _ => Err(format!(
            "`{s}` has {} numbers; give X, X,Y or X,Y,Z",
            n.len()
        )),
    }
}

fn read_input(path: &Path) -> Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        Ok(buf)
    } else {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    }
}

fn write_output(path: &Path, bytes: &[u8]) -> Result<()> {
    if path == Path::new("-") {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes).context("writing standard output")?;
        out.flush().context("writing standard output")
    } else {
        std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Asm {
            input,
            output,
            format,
        } => {
            let src = String::from_utf8(read_input(&input)?)
                .with_context(|| format!("{} is not UTF-8 text", input.display()))?;
            match asm_cmd::assemble_source(&src, &input) {
                Ok(words) => {
                    let bytes = match format {
                        Format::Bin => words.iter().flat_map(|w| w.to_le_bytes()).collect(),
                        Format::Hex => words
                            .iter()
                            .map(|w| format!("0x{w:016x}\n"))
                            .collect::<String>()
                            .into_bytes(),
                    };
                    write_output(&output, &bytes)?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(diags) => {
                    for d in &diags {
                        eprintln!("{d}");
                    }
                    eprintln!(
                        "{} error{} in {}",
                        diags.len(),
                        if diags.len() == 1 { "" } else { "s" },
                        input.display()
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
        Cmd::Disasm {
            input,
            hex,
            addr,
            mesa,
        } => {
            let bytes = read_input(&input)?;
            let words = if hex {
                asm_cmd::parse_hex_words(&bytes)?
            } else {
                if bytes.len() % 8 != 0 {
                    bail!(
                        "{} is {} bytes, not a whole number of 8-byte instruction words; pass --hex if it is text",
                        input.display(),
                        bytes.len()
                    );
                }
                bytes
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect()
            };
            let (text, errors) = asm_cmd::disassemble_words(&words, addr, mesa);
            write_output(Path::new("-"), text.as_bytes())?;
            for e in &errors {
                eprintln!("{}: error: {e}", input.display());
            }
            Ok(if errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Run {
            program,
            threads,
            workgroups,
            local,
            uniforms,
            buffers,
            threads_per_qpu,
            timeout,
            max_steps,
            dump,
            out_dir,
        } => {
            if !(timeout > 0.0 && timeout.is_finite()) {
                bail!("--timeout {timeout}: give a positive number of seconds");
            }
            let shape = match (workgroups, local) {
                (Some(count), Some(size)) => runtime::Shape::Workgroups { count, size },
                _ => runtime::Shape::Threads(threads),
            };
            let buffers = buffers
                .iter()
                .map(|b| b.parse())
                .collect::<Result<Vec<run_cmd::BufferSpec>>>()?;
            let out = run_cmd::run(&run_cmd::RunArgs {
                program,
                shape,
                uniforms,
                buffers,
                threads_per_qpu,
                timeout: std::time::Duration::from_secs_f64(timeout),
                max_steps,
                dump,
                out_dir,
            })?;
            write_output(Path::new("-"), out.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Info { counters } => {
            write_output(Path::new("-"), run_cmd::info(counters)?.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Sim { job, trace } => sim(&job, trace),
        #[cfg(feature = "ffmpeg")]
        Cmd::Check { kernel, seed, n } => kernels_cmd::check(kernel.as_deref(), seed, n),
        #[cfg(feature = "ffmpeg")]
        Cmd::Bench { kernel, seed } => kernels_cmd::bench(kernel.as_deref(), seed),
    }
}

/// `qpu sim JOB.json`: the stable contract outside harnesses drive.
fn sim(job: &Path, trace: bool) -> Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    let mut trace_out = std::io::stdout();
    let options = qpu_sim::job::RunOptions {
        trace: if trace {
            Some(&mut trace_out as &mut dyn Write)
        } else {
            None
        },
    };
    let report = qpu_sim::job::run_job_file(job, options)
        .with_context(|| format!("running {}", job.display()))?;
    writeln!(stdout, "{report}").context("writing standard output")?;
    Ok(if report.fault.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("qpu: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
