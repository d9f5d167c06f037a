//! `qpu`: the command-line front end of daedalus.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

mod asm_cmd;

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
    }
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
