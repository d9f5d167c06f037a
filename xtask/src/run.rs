//! Running external tools with their output kept in a log file.

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// Environment that cargo or rustup put in place for the xtask itself and that must not leak into
/// Kbuild: rustup's toolchain override would make a bare `rustc` resolve to rustup's compiler,
/// and a jobserver from cargo would cap or confuse `make -j`.
const SCRUBBED_ENV: &[&str] = &[
    "RUSTUP_TOOLCHAIN",
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
];

/// A command with the xtask's toolchain environment removed.
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    cmd
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Last `n` lines of a log, for error messages.
pub fn tail(log: &Path, n: usize) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs `cmd` with stdout and stderr appended to `log`; fails with the log's tail.
pub fn logged(cmd: &mut Command, log: &Path) -> Result<()> {
    let desc = describe(cmd);
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open log {}", log.display()))?;
    let err = out.try_clone()?;
    {
        use std::io::Write;
        let mut header = out.try_clone()?;
        writeln!(header, "\n$ {desc}")?;
    }
    let status = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .with_context(|| {
            format!("cannot start `{desc}`: is it installed (kmod/apt-packages.txt)?")
        })?;
    if !status.success() {
        bail!(
            "`{desc}` failed ({status}); last lines of {}:\n{}",
            log.display(),
            tail(log, 30)
        );
    }
    Ok(())
}

/// Runs `cmd` and returns its trimmed stdout.
pub fn output(cmd: &mut Command) -> Result<String> {
    let desc = describe(cmd);
    let out = cmd.stdin(Stdio::null()).output().with_context(|| {
        format!("cannot start `{desc}`: is it installed (kmod/apt-packages.txt)?")
    })?;
    if !out.status.success() {
        bail!(
            "`{desc}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
