//! `daedalusd`: the decode daemon and its file decoder.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// Decode daemon behind the daedalus V4L2 stateful decoder.
#[derive(Parser, Debug)]
#[command(name = "daedalusd", version)]
struct Cli {
    /// Log every request and libav* warnings.
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Decode a file (IVF, Annex-B H.264, OBU, MP4, MKV ...) to raw NV12/P010 frames.
    Decode {
        /// The input file.
        input: PathBuf,
        /// Where to write the frames; `-` for standard output.
        #[arg(short, long)]
        output: PathBuf,
        /// Decoding threads.
        #[arg(long, default_value_t = 1)]
        threads: u32,
    },
}

/// Exit codes, stable for scripts and systemd (`sysexits.h` values).
mod exit {
    /// The input file cannot be opened or demuxed.
    pub const NO_INPUT: u8 = 66;
    /// The input's codec is not supported.
    pub const DATA_ERR: u8 = 65;
    /// An internal error (a bug, or libavcodec failing for no input-related reason).
    pub const SOFTWARE: u8 = 70;
    /// The output cannot be created.
    pub const CANT_CREAT: u8 = 73;
    /// Reading or writing failed.
    pub const IO_ERR: u8 = 74;
}

fn exit_code(e: &anyhow::Error) -> u8 {
    use daedalus_daemon::filedec::FileError;
    for cause in e.chain() {
        if let Some(f) = cause.downcast_ref::<FileError>() {
            return match f {
                FileError::Demux { .. } => exit::NO_INPUT,
                FileError::UnsupportedCodec { .. } => exit::DATA_ERR,
                FileError::Open { .. } => exit::SOFTWARE,
                FileError::Write(_) => exit::IO_ERR,
            };
        }
        if let Some(k) = cause.downcast_ref::<Fatal>() {
            return match k {
                Fatal::CantCreate => exit::CANT_CREAT,
            };
        }
    }
    exit::SOFTWARE
}

/// Fatal conditions that have their own exit code, attached as context.
#[derive(Debug, thiserror::Error)]
enum Fatal {
    #[error("cannot create the output")]
    CantCreate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    daedalus_daemon::sys::set_log_verbose(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("daedalusd: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Decode {
            input,
            output,
            threads,
        } => {
            let sink: Box<dyn std::io::Write> = if output.as_os_str() == "-" {
                Box::new(std::io::stdout().lock())
            } else {
                Box::new(
                    File::create(&output)
                        .context(Fatal::CantCreate)
                        .with_context(|| format!("cannot create {}", output.display()))?,
                )
            };
            let mut sink = BufWriter::new(sink);
            let summary =
                daedalus_daemon::filedec::decode_file(&input, threads, &mut sink, &mut |tag, e| {
                    eprintln!("daedalusd: packet {tag}: {e}")
                })
                .with_context(|| format!("decoding {}", input.display()))?;
            eprintln!(
                "daedalusd: {} frames from {} ({} errors)",
                summary.frames, summary.container, summary.errors
            );
            Ok(())
        }
    }
}
