//! Booting the guest and collecting the suite's results.
//!
//! The initramfs holds only busybox, the guest kernel's modules, the daedalus module and the
//! suite script. Its init mounts the host's root read-only over virtio-9p, lays a tmpfs overlay
//! on it and chroots there, so the suite finds v4l2-compliance, FFmpeg, GStreamer, the daemon
//! binary and the test streams exactly where the host has them, without copying libraries.
//!
//! The suite reports on the serial console with lines `@@RESULT <name> <PASS|FAIL|SKIP> <why>`;
//! anything else is kept in the log only.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::kernel::{self, Kernel, Variant};
use crate::module;
use crate::run::{self, command};

/// Outcome of one guest test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    pub name: String,
    pub outcome: Outcome,
    pub detail: String,
}

/// Parses one `@@RESULT name OUTCOME detail...` line.
pub fn parse_result(line: &str) -> Option<TestResult> {
    let rest = line.trim_end().split_once("@@RESULT ")?.1;
    let mut words = rest.splitn(3, ' ');
    let name = words.next()?.to_string();
    let outcome = match words.next()? {
        "PASS" => Outcome::Pass,
        "FAIL" => Outcome::Fail,
        "SKIP" => Outcome::Skip,
        _ => return None,
    };
    let detail = words.next().unwrap_or("").to_string();
    (!name.is_empty()).then_some(TestResult {
        name,
        outcome,
        detail,
    })
}

#[derive(Debug, Default)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Summary {
    fn add(&mut self, r: &TestResult) {
        match r.outcome {
            Outcome::Pass => self.passed += 1,
            Outcome::Fail => self.failed += 1,
            Outcome::Skip => self.skipped += 1,
        }
    }

    /// The closing line: `N passed, M failed`, with `, K skipped` when something was skipped.
    pub fn line(&self) -> String {
        let mut s = format!("{} passed, {} failed", self.passed, self.failed);
        if self.skipped > 0 {
            s.push_str(&format!(", {} skipped", self.skipped));
        }
        s
    }
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// Copies the guest kernel's modules, the daedalus module and the suite into a busybox
/// initramfs.
fn make_initramfs(
    root: &Path,
    k: &Kernel,
    ko: &Path,
    work: &Path,
    env_lines: &[String],
) -> Result<PathBuf> {
    let stage = work.join("initramfs");
    if stage.exists() {
        fs::remove_dir_all(&stage)?;
    }
    for d in ["bin", "dev", "proc", "sys", "newroot", "daedalus", "lib"] {
        fs::create_dir_all(stage.join(d))?;
    }
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        bail!("/bin/busybox is missing: install busybox-static (kmod/apt-packages.txt)");
    }
    fs::copy(busybox, stage.join("bin/busybox"))?;
    for applet in [
        "sh", "mount", "mkdir", "cp", "chroot", "reboot", "cat", "echo", "cut", "sleep", "ls",
    ] {
        std::os::unix::fs::symlink("busybox", stage.join("bin").join(applet))?;
    }
    let log = work.join("initramfs.log");
    run::logged(
        k.make()
            .arg(format!("INSTALL_MOD_PATH={}", stage.display()))
            .arg("modules_install"),
        &log,
    )?;
    fs::copy(ko, stage.join("daedalus/daedalus.ko"))?;
    fs::copy(
        root.join("kmod/vm/guest-suite.sh"),
        stage.join("daedalus/guest-suite.sh"),
    )?;
    fs::write(stage.join("daedalus/env"), env_lines.join("\n") + "\n")?;
    let init = stage.join("init");
    fs::copy(root.join("kmod/vm/init.sh"), &init)?;
    let out = work.join("initramfs.cpio.gz");
    let script = format!(
        "cd '{}' && find . | cpio -o -H newc 2>/dev/null | gzip -1 > '{}'",
        stage.display(),
        out.display()
    );
    run::logged(command("sh").args(["-c", &script]), &log)?;
    Ok(out)
}

/// Boots the guest and streams its console into `log`, returning the results it reported.
fn boot(k: &Kernel, initrd: &Path, log: &Path, timeout: Duration) -> Result<Vec<TestResult>> {
    let mut child: Child = command("qemu-system-x86_64")
        // KVM does not work on these machines (nested guest), so TCG; -cpu max gives the guest
        // every feature TCG emulates, except AVX2: with it libdav1d (FFmpeg's and the
        // daemon's AV1 decoder, which picks its AVX2 code from CPUID) segfaulted on every AV1
        // stream under bookworm's QEMU 7.2 (docs/kmod.md, "Testing").
        .args(["-accel", "tcg", "-cpu", "max,-avx2"])
        .args(["-smp", "2", "-m", "2G"])
        .args(["-display", "none", "-serial", "stdio", "-monitor", "none"])
        .args(["-no-reboot", "-kernel"])
        .arg(k.bzimage())
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 panic=-1 oops=panic loglevel=5"])
        .args([
            "-virtfs",
            "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context(
            "cannot start qemu-system-x86_64: install qemu-system-x86 (kmod/apt-packages.txt)",
        )?;
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().context("qemu stdout")?;
    let stderr = child.stderr.take().context("qemu stderr")?;
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n').map_while(Result::ok) {
            if tx
                .send(String::from_utf8_lossy(&line).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
            let text = format!("qemu: {}", String::from_utf8_lossy(&line));
            if tx2.send(text).is_err() {
                break;
            }
        }
    });
    let mut log_file = fs::File::create(log)?;
    let mut results = Vec::new();
    let started = Instant::now();
    let mut done = false;
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            let _ = child.kill();
            results.push(TestResult {
                name: "guest-finished".into(),
                outcome: Outcome::Fail,
                detail: format!(
                    "the guest did not finish within {} s (log: {})",
                    timeout.as_secs(),
                    log.display()
                ),
            });
            break;
        }
        match rx.recv_timeout(left.min(Duration::from_secs(1))) {
            Ok(line) => {
                writeln!(log_file, "{line}")?;
                if let Some(r) = parse_result(&line) {
                    let tag = match r.outcome {
                        Outcome::Pass => "PASS",
                        Outcome::Fail => "FAIL",
                        Outcome::Skip => "SKIP",
                    };
                    println!("  {tag} {} {}", r.name, r.detail);
                    results.push(r);
                } else if line.contains("@@DONE") {
                    done = true;
                } else if let Some(text) = line.strip_prefix("@@LOG ") {
                    println!("  {text}");
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(status) = child.try_wait()? {
                    // Drain what is still buffered before deciding.
                    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                        writeln!(log_file, "{line}")?;
                        if let Some(r) = parse_result(&line) {
                            results.push(r);
                        } else if line.contains("@@DONE") {
                            done = true;
                        }
                    }
                    if !done {
                        results.push(TestResult {
                            name: "guest-finished".into(),
                            outcome: Outcome::Fail,
                            detail: format!(
                                "qemu exited ({status}) before the suite finished; last lines:\n{}",
                                run::tail(log, 20)
                            ),
                        });
                    }
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait()?;
                if !done {
                    results.push(TestResult {
                        name: "guest-finished".into(),
                        outcome: Outcome::Fail,
                        detail: format!(
                            "qemu exited ({status}) before the suite finished; last lines:\n{}",
                            run::tail(log, 20)
                        ),
                    });
                }
                break;
            }
        }
    }
    let _ = child.wait();
    let check = console_check(log)?;
    println!(
        "  {} {} {}",
        if check.outcome == Outcome::Pass {
            "PASS"
        } else {
            "FAIL"
        },
        check.name,
        check.detail
    );
    results.push(check);
    Ok(results)
}

/// Kernel reports that mean a bug, as they appear on the console (printed at loglevel 5 even
/// when the guest's own log buffer has wrapped).
const KERNEL_TROUBLE: &[&str] = &[
    "WARNING:",
    "BUG:",
    "Oops",
    "general protection fault",
    "possible recursive locking",
    "possible circular locking",
    "inconsistent lock state",
    "blocked for more than",
    "refcount_t:",
    "UBSAN:",
    "Kernel panic",
];

/// Scans the whole console log for kernel trouble.
fn console_check(log: &Path) -> Result<TestResult> {
    let text = fs::read_to_string(log)?;
    let bad: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with('[') && KERNEL_TROUBLE.iter().any(|p| l.contains(p)))
        .take(3)
        .collect();
    Ok(if bad.is_empty() {
        TestResult {
            name: "kernel-console-clean".into(),
            outcome: Outcome::Pass,
            detail: "no warning, BUG, KASAN or lockdep report on the console".into(),
        }
    } else {
        TestResult {
            name: "kernel-console-clean".into(),
            outcome: Outcome::Fail,
            detail: bad.join(" | "),
        }
    })
}

/// Finds the daemon binary, newest build first, so the guest can run the end-to-end tests.
fn daemon_binary(root: &Path) -> Option<PathBuf> {
    let t = target_dir(root);
    ["release", "debug"]
        .iter()
        .map(|p| t.join(p).join("daedalusd"))
        .filter(|p| p.is_file())
        .max_by_key(|p| fs::metadata(p).and_then(|m| m.modified()).ok())
}

/// Builds the scripted protocol peer the guest uses in place of the daemon for the module's
/// streaming tests.
fn build_test_peer(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let log = target_dir(root).join("vm-test-peer-build.log");
    let _ = fs::remove_file(&log);
    run::logged(
        command(cargo).current_dir(root).args([
            "build",
            "--release",
            "-p",
            "daedalus-kmod-testpeer",
        ]),
        &log,
    )?;
    Ok(target_dir(root).join("release/daedalus-test-peer"))
}

pub fn vm_test(root: &Path, variants: &[Variant], jobs: usize, timeout: u64) -> Result<Summary> {
    let mut summary = Summary::default();
    let daemon = daemon_binary(root);
    let peer = build_test_peer(root);
    for &v in variants {
        println!("== vm-test: kernel variant {}", v.name());
        let started = Instant::now();
        let outcome = (|| -> Result<Vec<TestResult>> {
            let k = kernel::ensure(root, v, jobs)?;
            let work = target_dir(root).join("vm").join(v.name());
            fs::create_dir_all(&work)?;
            let ko = module::build(root, &k, &work)?;
            let env_lines = vec![
                format!("WORKSPACE={}", root.display()),
                format!(
                    "DAEMON={}",
                    daemon
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                ),
                format!("VARIANT={}", v.name()),
                format!(
                    "PEER={}",
                    peer.as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                ),
                format!("KERNEL_RELEASE={}", k.release()?),
            ];
            let initrd = make_initramfs(root, &k, &ko, &work, &env_lines)?;
            let log = work.join("console.log");
            println!("   booting (console log: {})", log.display());
            boot(&k, &initrd, &log, Duration::from_secs(timeout))
        })();
        let results = match outcome {
            Ok(r) => r,
            Err(e) => vec![TestResult {
                name: "setup".into(),
                outcome: Outcome::Fail,
                detail: format!("{e:#}"),
            }],
        };
        for r in results {
            let r = TestResult {
                name: format!("{}/{}", v.name(), r.name),
                ..r
            };
            if matches!(r.outcome, Outcome::Fail) && r.name.ends_with("setup") {
                println!("  FAIL {} {}", r.name, r.detail);
            }
            summary.add(&r);
        }
        println!(
            "== vm-test: variant {} took {} s",
            v.name(),
            started.elapsed().as_secs()
        );
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_result_lines() {
        let r = parse_result("[   3.1] @@RESULT load PASS daedalus.ko loaded\r").unwrap();
        assert_eq!(r.name, "load");
        assert_eq!(r.outcome, Outcome::Pass);
        assert_eq!(r.detail, "daedalus.ko loaded");
        let r = parse_result("@@RESULT ffmpeg-h264 SKIP").unwrap();
        assert_eq!((r.outcome, r.detail.as_str()), (Outcome::Skip, ""));
        assert!(parse_result("@@RESULT x MAYBE y").is_none());
        assert!(parse_result("no marker here").is_none());
        assert!(parse_result("@@RESULT  PASS").is_none());
    }

    #[test]
    fn summary_line_matches_the_plain_format() {
        let mut s = Summary::default();
        for o in [Outcome::Pass, Outcome::Pass, Outcome::Fail] {
            s.add(&TestResult {
                name: "t".into(),
                outcome: o,
                detail: String::new(),
            });
        }
        assert_eq!(s.line(), "2 passed, 1 failed");
        s.add(&TestResult {
            name: "t".into(),
            outcome: Outcome::Skip,
            detail: String::new(),
        });
        assert_eq!(s.line(), "2 passed, 1 failed, 1 skipped");
    }
}
