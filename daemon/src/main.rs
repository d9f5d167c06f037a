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
    /// Serve the module side until SIGTERM: the kernel module's character device with
    /// `--device`, otherwise connections on a SOCK_SEQPACKET socket.
    Serve {
        /// Socket path to listen on (the loopback transport, without the kernel module).
        #[arg(long, default_value = "/run/daedalus/daemon.sock")]
        listen: PathBuf,
        /// Serve daedalus.ko through its character device (usually /dev/daedalus) instead of
        /// a socket. Needs root (CAP_SYS_ADMIN), as the module admits nobody else.
        #[arg(long, conflicts_with = "listen")]
        device: Option<PathBuf>,
        /// Decoding threads per session.
        #[arg(long, default_value_t = 1)]
        threads: u32,
        /// Sessions served at once per connection.
        #[arg(long, default_value_t = 16)]
        max_sessions: u32,
    },
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
    /// The socket cannot be set up or a system call failed.
    pub const OS_ERR: u8 = 71;
    /// The output cannot be created.
    pub const CANT_CREAT: u8 = 73;
    /// Reading or writing failed.
    pub const IO_ERR: u8 = 74;
}

fn exit_code(e: &anyhow::Error) -> u8 {
    use daedalus_daemon::filedec::FileError;
    // A `Fatal` is attached as context; anyhow finds it through nested contexts only when
    // asked on the error itself, not on the chain's elements.
    if let Some(k) = e.downcast_ref::<Fatal>() {
        return match k {
            Fatal::CantCreate => exit::CANT_CREAT,
            Fatal::Os => exit::OS_ERR,
        };
    }
    for cause in e.chain() {
        if let Some(f) = cause.downcast_ref::<FileError>() {
            return match f {
                FileError::Demux { .. } => exit::NO_INPUT,
                FileError::UnsupportedCodec { .. } => exit::DATA_ERR,
                FileError::Open { .. } => exit::SOFTWARE,
                FileError::Write(_) => exit::IO_ERR,
            };
        }
    }
    exit::SOFTWARE
}

/// Fatal conditions that have their own exit code, attached as context.
#[derive(Debug, thiserror::Error)]
enum Fatal {
    #[error("output error")]
    CantCreate,
    #[error("system error")]
    Os,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    daedalus_daemon::sys::set_log_verbose(cli.verbose);
    let filter = if cli.verbose { "debug" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DAEDALUS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .init();
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
        Command::Serve {
            listen,
            device,
            threads,
            max_sessions,
        } => {
            let cfg = daedalus_daemon::server::ServerConfig {
                max_sessions: max_sessions.max(1),
                threads: threads.max(1),
            };
            match device {
                Some(dev) => serve_device(&dev, &cfg),
                None => serve(&listen, &cfg),
            }
        }
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

/// Accepts connections until SIGTERM/SIGINT; each connection is served on its own thread.
/// On the signal every connection finishes or fails its in-flight work, says goodbye, and
/// the process exits 0.
fn serve(path: &std::path::Path, cfg: &daedalus_daemon::server::ServerConfig) -> Result<()> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    use std::sync::Arc;

    let sigfd = stop_signals()?;
    // Connection threads watch the read end; one write wakes them all, and it stays readable.
    let (stop_rx, stop_tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .context(Fatal::Os)
        .context("cannot create the stop pipe")?;
    let stop_rx = Arc::new(stop_rx);
    let listener = daedalus_daemon::transport::Listener::bind(path)
        .context(Fatal::Os)
        .with_context(|| {
            format!(
                "cannot listen on {} (does its directory exist and is it writable?)",
                path.display()
            )
        })?;
    tracing::info!(socket = %path.display(), "daedalusd listening");
    let mut connections = Vec::new();
    loop {
        let mut fds = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context(Fatal::Os).context("poll failed"),
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            if let Ok(Some(info)) = sigfd.read_signal() {
                tracing::info!(signal = info.ssi_signo, "shutting down");
            }
            break;
        }
        if fds[0].revents().is_some_and(|r| !r.is_empty()) {
            let chan = match listener.accept() {
                Ok(c) => Arc::new(c),
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    continue;
                }
            };
            tracing::info!("module side connected");
            let cfg = cfg.clone();
            let stop = stop_rx.clone();
            connections.push(std::thread::spawn(
                move || match daedalus_daemon::server::serve(chan, &cfg, Some(stop.as_fd())) {
                    Ok(outcome) => tracing::info!(?outcome, "connection ended"),
                    Err(e) => tracing::error!("connection failed: {e}"),
                },
            ));
        }
        connections.retain(|c| !c.is_finished());
    }
    nix::unistd::write(&stop_tx, &[1])
        .context(Fatal::Os)
        .context("cannot signal the connections")?;
    for c in connections {
        let _ = c.join();
    }
    let _ = std::fs::remove_file(path);
    tracing::info!("daedalusd stopped");
    Ok(())
}

/// Blocks SIGTERM and SIGINT and returns a signalfd that becomes readable when one arrives.
/// Called before any thread starts, so they all inherit the mask and the signals are only
/// ever seen through the signalfd.
fn stop_signals() -> Result<nix::sys::signalfd::SignalFd> {
    use nix::sys::signal::{SigSet, Signal};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGTERM);
    mask.add(Signal::SIGINT);
    mask.thread_block()
        .context(Fatal::Os)
        .context("cannot block SIGTERM")?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC)
        .context(Fatal::Os)
        .context("cannot create a signalfd")
}

/// Waits up to `ms` for a stop signal; true if one arrived (and logs it).
fn stop_requested(sigfd: &nix::sys::signalfd::SignalFd, ms: u16) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(sigfd.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::from(ms)) {
        Ok(n) if n > 0 => {
            if let Ok(Some(info)) = sigfd.read_signal() {
                tracing::info!(signal = info.ssi_signo, "shutting down");
            }
            true
        }
        _ => false,
    }
}

/// Serves the kernel module through its character device until SIGTERM/SIGINT. The module
/// admits one daemon; if it declares this one dead (silent too long, or not reading) it
/// ends the connection, and the daemon opens the device again and serves as a new instance.
fn serve_device(path: &std::path::Path, cfg: &daedalus_daemon::server::ServerConfig) -> Result<()> {
    use daedalus_daemon::server::Outcome;
    use daedalus_daemon::transport::Channel;
    use std::os::fd::AsFd;
    use std::sync::Arc;

    let sigfd = stop_signals()?;
    let mut attached_once = false;
    loop {
        let chan = match Channel::open_device(path) {
            Ok(c) => Arc::new(c),
            // At start-up a missing module or missing privilege is a set-up error to report.
            Err(e) if !attached_once => {
                return Err(e)
                    .context(Fatal::Os)
                    .context("cannot serve the kernel module");
            }
            Err(e) => {
                tracing::warn!("{e}; trying again in 1 s");
                if stop_requested(&sigfd, 1000) {
                    break;
                }
                continue;
            }
        };
        attached_once = true;
        tracing::info!(device = %path.display(), "daedalusd serving the kernel module");
        match daedalus_daemon::server::serve(chan, cfg, Some(sigfd.as_fd())) {
            Ok(Outcome::Stopped) => {
                if let Ok(Some(info)) = sigfd.read_signal() {
                    tracing::info!(signal = info.ssi_signo, "stopped");
                }
                break;
            }
            Ok(Outcome::PeerClosed) => {
                tracing::warn!(
                    "the module ended the connection (it declared this daemon dead); reopening"
                )
            }
            // Not a disconnect: the device does not behave as daedalus.ko does (e.g. the
            // path names another file). Reopening would fail the same way.
            Err(e) => {
                return Err(e).context(Fatal::Os).with_context(|| {
                    format!(
                        "serving {} failed; is it daedalus.ko's character device?",
                        path.display()
                    )
                });
            }
        }
        if stop_requested(&sigfd, 200) {
            break;
        }
    }
    tracing::info!("daedalusd stopped");
    Ok(())
}
