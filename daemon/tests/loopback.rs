//! Streams files through the daemon over the loopback transport, playing the kernel
//! module: 4-deep queues, arbitrary H.264 chunking, source changes, drains, several sessions
//! at once, corrupt input, and a daemon that is killed or stopped mid-stream.

mod common;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use daedalus_daemon::client::{ModuleClient, StreamOptions, StreamReport};
use daedalus_daemon::server::{self, Outcome, ServerConfig};
use daedalus_daemon::transport::Channel;
use daedalus_proto::{ErrorCode, GoodbyeReason, Memory};

/// A daemon serving one end of a socketpair on a thread, and a client on the other.
struct InProcess {
    client: Option<ModuleClient>,
    server: Option<JoinHandle<Outcome>>,
    stop_tx: Option<OwnedFd>,
}

impl InProcess {
    fn start() -> Self {
        // The tests feed corrupt data on purpose; libav*'s own log would only add noise.
        daedalus_daemon::sys::set_log_verbose(false);
        let (a, b) = Channel::pair().unwrap();
        let (stop_rx, stop_tx) = nix::unistd::pipe().unwrap();
        let server = std::thread::spawn(move || {
            use std::os::fd::AsFd;
            server::serve(Arc::new(a), &ServerConfig::default(), Some(stop_rx.as_fd())).unwrap()
        });
        let client = ModuleClient::connect(b).unwrap();
        Self {
            client: Some(client),
            server: Some(server),
            stop_tx: Some(stop_tx),
        }
    }

    fn client(&self) -> &ModuleClient {
        self.client.as_ref().unwrap()
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        // Closing the client's end ends the connection; the server returns PeerClosed.
        drop(self.client.take());
        if let Some(s) = self.server.take() {
            let outcome = s.join().unwrap();
            if !std::thread::panicking() {
                assert_eq!(outcome, Outcome::PeerClosed);
            }
        }
        drop(self.stop_tx.take());
    }
}

fn opts_for(name: &str, i: usize) -> StreamOptions {
    StreamOptions {
        // Arbitrary chunks for H.264, as a V4L2 client may queue them.
        max_chunk: if name.starts_with("h264") { 3000 } else { 0 },
        output_memory: if i % 2 == 0 {
            Memory::Shared
        } else {
            Memory::Dmabuf
        },
        ..StreamOptions::default()
    }
}

fn assert_clean(name: &str, r: &StreamReport) {
    assert!(
        r.failed_requests.is_empty(),
        "{name}: {:?}",
        r.failed_requests
    );
    assert!(r.errors.is_empty(), "{name}: {:?}", r.errors);
    assert!(!r.daemon_gone, "{name}: daemon went away");
    assert_eq!(r.corrupt_frames, 0, "{name}");
}

#[test]
fn every_committed_stream_round_trips_through_the_daemon() {
    let d = InProcess::start();
    for (i, s) in streams().iter().enumerate() {
        let r = d
            .client()
            .stream(i as u32 + 1, &s.path, &opts_for(&s.name, i))
            .unwrap();
        assert_clean(&s.name, &r);
        check_against_list(&s.name, &r.frames, &s.frames);
        assert_eq!(r.frame_count, s.frames.len());
        let sizes: std::collections::BTreeSet<_> =
            s.frames.iter().map(|f| (f.width, f.height)).collect();
        assert_eq!(
            r.source_changes,
            sizes.len(),
            "{}: one source change per size",
            s.name
        );
        assert_eq!(r.end_of_streams, 1);
        println!(
            "{}: {} frames identical through the loopback",
            s.name, r.frame_count
        );
    }
}

#[test]
fn parallel_sessions_are_independent() {
    let d = InProcess::start();
    let all = streams();
    let picked: Vec<&Stream> = all
        .iter()
        .filter(|s| {
            [
                "h264_high_bframes_wp_320x240.h264",
                "vp9_10bit_320x240.ivf",
                "av1_320x240.ivf",
                "h264_reschange_320x240_176x144.h264",
                "vp9_reschange_320x240_176x144.ivf",
                "vp9_odd_201x131.ivf",
            ]
            .contains(&s.name.as_str())
        })
        .collect();
    assert_eq!(picked.len(), 6);
    std::thread::scope(|scope| {
        let handles: Vec<_> = picked
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let client = d.client();
                scope.spawn(move || {
                    // Each stream twice in one session, with a drain between the passes.
                    let opts = StreamOptions {
                        repeat: 2,
                        ..opts_for(&s.name, i)
                    };
                    (s, client.stream(100 + i as u32, &s.path, &opts).unwrap())
                })
            })
            .collect();
        for h in handles {
            let (s, r) = h.join().unwrap();
            assert_clean(&s.name, &r);
            let n = r.frames.len() / 2;
            check_against_list(&s.name, &r.frames[..n], &s.frames);
            check_against_list(&s.name, &r.frames[n..], &s.frames);
            assert_eq!(r.end_of_streams, 2, "{}", s.name);
        }
    });
}

fn corrupt(i: usize, data: &[u8]) -> Option<Vec<u8>> {
    // Every third request after the first few: garbage in the middle, or cut short.
    if i < 3 || i % 3 != 0 {
        return None;
    }
    let mut v = data.to_vec();
    if i % 2 == 0 {
        v.truncate((v.len() / 3).max(1));
    } else {
        let mid = v.len() / 2;
        let end = (mid + 64).min(v.len());
        for (k, b) in v[mid..end].iter_mut().enumerate() {
            *b ^= 0x5a ^ k as u8;
        }
    }
    Some(v)
}

#[test]
fn corrupt_input_fails_only_its_frames_and_decoding_goes_on() {
    let d = InProcess::start();
    let all = streams();
    for (i, name) in [
        "h264_high_bframes_wp_320x240.h264",
        "vp9_8bit_320x240.ivf",
        "av1_320x240.ivf",
    ]
    .iter()
    .enumerate()
    {
        let s = all.iter().find(|s| s.name == *name).unwrap();
        let opts = StreamOptions {
            mutate: Some(corrupt),
            ..StreamOptions::default()
        };
        let r = d.client().stream(200 + i as u32, &s.path, &opts).unwrap();
        assert!(!r.daemon_gone, "{name}");
        assert_eq!(r.end_of_streams, 1, "{name}: the drain still completes");
        for (_, code) in &r.failed_requests {
            assert_eq!(*code, ErrorCode::DecodeFailed, "{name}");
        }
        // Every request got its answer (the client checks each cookie), and frames kept
        // coming after the damage.
        assert!(r.frame_count > 3, "{name}: only {} frames", r.frame_count);
        println!(
            "{name}: {} frames, {} failed requests, {} frames flagged corrupt",
            r.frame_count,
            r.failed_requests.len(),
            r.corrupt_frames
        );
        // The same session id is free again and a clean stream decodes exactly.
        let clean = d
            .client()
            .stream(200 + i as u32, &s.path, &StreamOptions::default())
            .unwrap();
        assert_clean(name, &clean);
        check_against_list(name, &clean.frames, &s.frames);
    }
}

fn daemon_bin() -> &'static str {
    env!("CARGO_BIN_EXE_daedalusd")
}

struct Spawned {
    child: Child,
    sock: PathBuf,
}

fn spawn_daemon(dir: &Path) -> Spawned {
    let sock = dir.join("daemon.sock");
    let child = Command::new(daemon_bin())
        .args(["serve", "--listen"])
        .arg(&sock)
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
    Spawned { child, sock }
}

fn connect(sock: &Path) -> ModuleClient {
    let start = Instant::now();
    loop {
        match Channel::connect(sock) {
            Ok(c) => return ModuleClient::connect(c).unwrap(),
            Err(e) => {
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "cannot connect: {e}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

#[test]
fn killed_daemon_fails_lost_frames_and_a_restarted_one_serves_again() {
    let dir = scratch("kill");
    let s = streams()
        .into_iter()
        .find(|s| s.name == "vp9_8bit_320x240.ivf")
        .unwrap();
    let mut d = spawn_daemon(&dir);
    let client = connect(&d.sock);
    let first_instance = client.instance();
    let started = Instant::now();
    let report = std::thread::scope(|scope| {
        let h = scope.spawn(|| {
            let opts = StreamOptions {
                repeat: 10_000,
                ..StreamOptions::default()
            };
            client.stream(1, &s.path, &opts).unwrap()
        });
        std::thread::sleep(Duration::from_millis(500));
        // Stop the daemon first so the client fills its 4-deep queue with requests nobody
        // answers: killed at an arbitrary instant, the daemon may have just finished every
        // request while the client thread was descheduled (seen on a loaded 2-core host),
        // and then nothing was in flight to be lost.
        let pid = nix::unistd::Pid::from_raw(d.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
        h.join().unwrap()
    });
    let _ = d.child.wait();
    assert!(report.daemon_gone);
    assert!(
        report.lost > 0,
        "requests were in flight when the daemon died ({} frames, {} drains, errors {:?})",
        report.frame_count,
        report.end_of_streams,
        report.errors
    );
    assert!(
        report
            .failed_requests
            .iter()
            .any(|(_, c)| *c == ErrorCode::Lost),
        "{:?}",
        report.failed_requests
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the client hung"
    );
    println!(
        "killed after {} frames; {} requests/buffers lost",
        report.frame_count, report.lost
    );
    drop(client);
    let mut d2 = spawn_daemon(&dir);
    let client = connect(&d2.sock);
    assert_ne!(client.instance(), first_instance);
    let r = client
        .stream(1, &s.path, &StreamOptions::default())
        .unwrap();
    assert_clean(&s.name, &r);
    check_against_list(&s.name, &r.frames, &s.frames);
    drop(client);
    d2.child.kill().unwrap();
    let _ = d2.child.wait();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sigterm_finishes_in_flight_work_says_goodbye_and_exits_zero() {
    let dir = scratch("sigterm");
    let s = streams()
        .into_iter()
        .find(|s| s.name == "h264_high_bframes_wp_320x240.h264")
        .unwrap();
    let mut d = spawn_daemon(&dir);
    let client = connect(&d.sock);
    let report = std::thread::scope(|scope| {
        let h = scope.spawn(|| {
            let opts = StreamOptions {
                repeat: 10_000,
                ..StreamOptions::default()
            };
            client.stream(7, &s.path, &opts).unwrap()
        });
        std::thread::sleep(Duration::from_millis(500));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(d.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        h.join().unwrap()
    });
    let status = d.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(client.goodbye(), Some(GoodbyeReason::Shutdown));
    assert!(report.daemon_gone);
    assert!(report.frame_count > 0);
    // Requests still queued in the daemon were failed with ShuttingDown, not dropped.
    assert!(
        report
            .failed_requests
            .iter()
            .all(|(_, c)| matches!(c, ErrorCode::ShuttingDown | ErrorCode::Lost)),
        "{:?}",
        report.failed_requests
    );
    assert!(!d.sock.exists(), "socket removed on shutdown");
    std::fs::remove_dir_all(&dir).unwrap();
}
