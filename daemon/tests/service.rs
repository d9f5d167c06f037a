//! The systemd unit and the binary agree: the unit's ExecStart command line (with the socket
//! moved to a scratch directory) starts a daemon that serves and stops cleanly on SIGTERM,
//! which is how systemd stops it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn unit_exec_start_runs_and_stops_cleanly_on_sigterm() {
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("daedalusd.service"),
    )
    .unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("the unit has an ExecStart line");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/daedalusd"));
    let dir = common::scratch("service");
    let sock = dir.join("daemon.sock");
    let args: Vec<String> = words
        .map(|w| {
            if w.starts_with("/run/daedalus/") {
                sock.to_str().unwrap().to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    assert!(args.iter().any(|a| a == sock.to_str().unwrap()), "{exec}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_daedalusd"))
        .args(&args)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !sock.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(!sock.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The module unit's command line is one the binary accepts, and a missing module gives the
/// exit status the unit does not restart on, with a message saying what to do.
#[test]
fn kmod_unit_exec_start_is_accepted_and_missing_module_is_not_restarted() {
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("daedalusd-kmod.service"),
    )
    .unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("the unit has an ExecStart line");
    let no_restart: i32 = unit
        .lines()
        .find_map(|l| l.strip_prefix("RestartPreventExitStatus="))
        .expect("the unit names the exit status it does not restart on")
        .trim()
        .parse()
        .unwrap();
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/daedalusd"));
    let args: Vec<String> = words
        .map(|w| {
            if w == "/dev/daedalus" {
                "/nonexistent/daedalus".to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    assert!(args.iter().any(|a| a == "/nonexistent/daedalus"), "{exec}");
    let out = Command::new(env!("CARGO_BIN_EXE_daedalusd"))
        .args(&args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(no_restart), "{stderr}");
    assert!(stderr.contains("daedalus.ko"), "{stderr}");
}
