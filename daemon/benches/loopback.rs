//! Loopback throughput: the daemon's frames per second when a module-side client streams a
//! 1080p H.264 and a 1080p VP9 stream through it (socketpair, 4-deep queues, frames written
//! into memfd capture buffers and handed back as a zero-copy consumer would), against `ffmpeg -threads 1 -i IN -f null -`
//! on the same file in the same run. Goal: at least 0.95 of FFmpeg's rate.
//!
//! `cargo bench -p daedalus-daemon --bench loopback`; `DAEDALUS_BENCH_REPEAT` sets how many
//! times each stream is concatenated (default 40), `DAEDALUS_BENCH_RUNS` the runs per side
//! (default 7). Runs alternate between the two sides so that load from other processes hits
//! both alike. Two figures per side: wall-clock frames per second (best run), and frames
//! per CPU-second (user + system time of the run: this process's threads for the daemon and
//! its client, the child for ffmpeg; best run), which a loaded machine disturbs far less.
//!
//! For profiling one side under `perf stat`/`perf record`/callgrind, `DAEDALUS_BENCH_SIDE`
//! (`daemon` or `ffmpeg`) runs only that side and `DAEDALUS_BENCH_STREAM` (`h264` or `vp9`)
//! only that stream; the ratios are then not printed.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use daedalus_daemon::client::{ModuleClient, StreamOptions};
use daedalus_daemon::server::{self, ServerConfig};
use daedalus_daemon::transport::Channel;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Annex B concatenates as is (every pass starts with SPS, PPS and an IDR picture).
fn repeat_annexb(src: &[u8], n: usize) -> Vec<u8> {
    src.repeat(n)
}

/// IVF: one header, then the frames `n` times with running frame numbers.
fn repeat_ivf(src: &[u8], n: usize) -> Vec<u8> {
    let hdr_len = usize::from(u16::from_le_bytes([src[6], src[7]]));
    let mut frames = Vec::new();
    let mut pos = hdr_len;
    while pos + 12 <= src.len() {
        let len = u32::from_le_bytes(src[pos..pos + 4].try_into().unwrap()) as usize;
        frames.push(&src[pos + 12..pos + 12 + len]);
        pos += 12 + len;
    }
    let mut out = src[..hdr_len].to_vec();
    let total = (frames.len() * n) as u32;
    out[24..28].copy_from_slice(&total.to_le_bytes());
    let mut pts = 0u64;
    for _ in 0..n {
        for f in &frames {
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(&pts.to_le_bytes());
            out.extend_from_slice(f);
            pts += 1;
        }
    }
    out
}

fn cpu(who: nix::sys::resource::UsageWho) -> Duration {
    let u = nix::sys::resource::getrusage(who).unwrap();
    let t = |tv: nix::sys::time::TimeVal| {
        Duration::from_secs(tv.tv_sec() as u64) + Duration::from_micros(tv.tv_usec() as u64)
    };
    t(u.user_time()) + t(u.system_time())
}

/// Wall and CPU time of one run.
struct Sample {
    wall: Duration,
    cpu: Duration,
}

fn time_daemon(input: &Path) -> (usize, Sample) {
    let (a, b) = Channel::pair().unwrap();
    let (stop_rx, _stop_tx) = nix::unistd::pipe().unwrap();
    let server = std::thread::spawn(move || {
        server::serve(Arc::new(a), &ServerConfig::default(), Some(stop_rx.as_fd())).unwrap()
    });
    let client = ModuleClient::connect(b).unwrap();
    let c0 = cpu(nix::sys::resource::UsageWho::RUSAGE_SELF);
    let t = Instant::now();
    let opts = StreamOptions {
        keep_frames: false,
        ..StreamOptions::default()
    };
    let r = client.stream(1, input, &opts).unwrap();
    let elapsed = t.elapsed();
    let used = cpu(nix::sys::resource::UsageWho::RUSAGE_SELF) - c0;
    assert!(
        r.failed_requests.is_empty() && r.errors.is_empty(),
        "{:?}",
        r.errors
    );
    drop(client);
    server.join().unwrap();
    (
        r.frame_count,
        Sample {
            wall: elapsed,
            cpu: used,
        },
    )
}

/// `ffmpeg -threads 1 -i IN [-pix_fmt nv12] -f null -`: the reference decode, and for
/// context the same decode also converting every frame to NV12 as the daemon must.
fn time_ffmpeg(input: &Path, nv12: bool) -> Sample {
    let c0 = cpu(nix::sys::resource::UsageWho::RUSAGE_CHILDREN);
    let t = Instant::now();
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-threads", "1", "-i"])
        .arg(input)
        .args(if nv12 {
            &["-pix_fmt", "nv12", "-f", "null", "-"][..]
        } else {
            &["-f", "null", "-"][..]
        })
        .output()
        .expect("ffmpeg CLI (Debian package ffmpeg) is needed for the comparison");
    let elapsed = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Sample {
        wall: elapsed,
        cpu: cpu(nix::sys::resource::UsageWho::RUSAGE_CHILDREN) - c0,
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs us with no argument and
    // only wants to know that we build and start.
    if !std::env::args().any(|a| a == "--bench") {
        println!("loopback benchmark: run with `cargo bench -p daedalus-daemon --bench loopback`");
        return;
    }
    daedalus_daemon::sys::set_log_verbose(false);
    let repeat = env_usize("DAEDALUS_BENCH_REPEAT", 40).max(1);
    let runs = env_usize("DAEDALUS_BENCH_RUNS", 7).max(1);
    let side = std::env::var("DAEDALUS_BENCH_SIDE").unwrap_or_default();
    let (run_daemon, run_ffmpeg) = match side.as_str() {
        "" | "both" => (true, true),
        "daemon" => (true, false),
        "ffmpeg" => (false, true),
        other => {
            eprintln!("DAEDALUS_BENCH_SIDE={other}: expected daemon, ffmpeg or both");
            std::process::exit(2);
        }
    };
    let only = std::env::var("DAEDALUS_BENCH_STREAM").unwrap_or_default();
    if !["", "h264", "vp9"].contains(&only.as_str()) {
        eprintln!("DAEDALUS_BENCH_STREAM={only}: expected h264 or vp9");
        std::process::exit(2);
    }
    let streams = Path::new(env!("CARGO_MANIFEST_DIR")).join("../golden/streams");
    let dir = std::env::temp_dir().join(format!("daedalusd-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "stream            frames | wall fps: daemon  ffmpeg  ratio | fps per cpu-s: daemon  ffmpeg  ratio"
    );
    for (name, ivf) in [("h264_1080p.h264", false), ("vp9_1080p.ivf", true)] {
        if !only.is_empty() && !name.starts_with(only.as_str()) {
            continue;
        }
        let src = std::fs::read(streams.join(name)).unwrap();
        let long = if ivf {
            repeat_ivf(&src, repeat)
        } else {
            repeat_annexb(&src, repeat)
        };
        let path: PathBuf = dir.join(name);
        std::fs::write(&path, long).unwrap();
        let (mut dw, mut dc, mut fw, mut fc) =
            (Duration::MAX, Duration::MAX, Duration::MAX, Duration::MAX);
        let mut nc = Duration::MAX;
        let mut frames = 0;
        for _ in 0..runs {
            if run_daemon {
                let (n, d) = time_daemon(&path);
                frames = n;
                dw = dw.min(d.wall);
                dc = dc.min(d.cpu);
            }
            if run_ffmpeg {
                let f = time_ffmpeg(&path, false);
                fw = fw.min(f.wall);
                fc = fc.min(f.cpu);
                nc = nc.min(time_ffmpeg(&path, true).cpu);
            }
        }
        let fps = |d: Duration| frames as f64 / d.as_secs_f64();
        if !(run_daemon && run_ffmpeg) {
            let (who, wall, cpu) = if run_daemon {
                ("daemon", dw, dc)
            } else {
                ("ffmpeg", fw, fc)
            };
            println!(
                "{name:<17} {who}: wall {:.3} s, cpu {:.3} s{}",
                wall.as_secs_f64(),
                cpu.as_secs_f64(),
                if run_daemon {
                    format!(
                        ", {frames} frames, {:.1} fps, {:.1} fps per cpu-s",
                        fps(wall),
                        fps(cpu)
                    )
                } else {
                    String::new()
                }
            );
            continue;
        }
        println!(
            "{name:<17} {frames:>6} |        {:>7.1} {:>7.1}  {:>5.3} |               {:>7.1} {:>7.1}  {:>5.3}",
            fps(dw),
            fps(fw),
            fps(dw) / fps(fw),
            fps(dc),
            fps(fc),
            fps(dc) / fps(fc)
        );
        println!(
            "{:<24} fps per cpu-s of ffmpeg -pix_fmt nv12 -f null: {:.1} (daemon ratio {:.3})",
            "",
            fps(nc),
            fps(dc) / fps(nc)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
