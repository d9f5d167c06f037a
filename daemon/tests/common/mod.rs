//! Helpers shared by the integration tests: the committed streams, their per-frame MD5
//! lists, and the ffmpeg CLI as the reference decoder.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use md5::{Digest, Md5};

/// `golden/streams/` at the repository root.
pub fn streams_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../golden/streams")
}

/// One line of a `<stream>.md5` list (format v1, see golden/streams/README.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameRef {
    pub width: u32,
    pub height: u32,
    pub pix_fmt: String,
    pub bytes: usize,
    pub md5: String,
}

/// A committed stream and its reference list.
pub struct Stream {
    pub path: PathBuf,
    pub name: String,
    pub frames: Vec<FrameRef>,
}

impl Stream {
    pub fn ten_bit(&self) -> bool {
        self.frames.iter().any(|f| f.pix_fmt == "p010le")
    }
}

/// Every committed stream with its MD5 list. Fails loudly if the directory is empty, so a
/// checkout without the streams cannot pass by testing nothing.
pub fn streams() -> Vec<Stream> {
    let dir = streams_dir();
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("md5") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("# daedalus frame-md5 v1"),
            "{}",
            path.display()
        );
        let mut stream = None;
        let mut frames = Vec::new();
        for line in text.lines() {
            if let Some(s) = line.strip_prefix("# stream ") {
                stream = Some(s.trim().to_string());
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f.len(), 6, "{}: {line}", path.display());
            frames.push(FrameRef {
                width: f[1].parse().unwrap(),
                height: f[2].parse().unwrap(),
                pix_fmt: f[3].to_string(),
                bytes: f[4].parse().unwrap(),
                md5: f[5].to_string(),
            });
        }
        let name = stream.unwrap_or_else(|| panic!("{} names no stream", path.display()));
        out.push(Stream {
            path: dir.join(&name),
            name,
            frames,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(
        out.len() >= 10,
        "expected the committed streams in {}",
        dir.display()
    );
    out
}

pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks packed output against a reference list frame by frame.
pub fn check_against_list(name: &str, out: &[u8], frames: &[FrameRef]) {
    let mut pos = 0;
    for (i, f) in frames.iter().enumerate() {
        assert!(
            pos + f.bytes <= out.len(),
            "{name}: output ends before frame {i} ({} bytes, {} frames expected)",
            out.len(),
            frames.len()
        );
        let got = md5_hex(&out[pos..pos + f.bytes]);
        assert_eq!(
            got, f.md5,
            "{name}: frame {i} ({}x{} {}) differs",
            f.width, f.height, f.pix_fmt
        );
        pos += f.bytes;
    }
    assert_eq!(
        pos,
        out.len(),
        "{name}: {} bytes after the last expected frame",
        out.len() - pos
    );
}

/// Whether the ffmpeg CLI is installed; says so when it is not.
pub fn have_ffmpeg() -> bool {
    let ok = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!(
            "ffmpeg CLI not found: the comparisons against it are not run (install the Debian package `ffmpeg`, listed in daemon/apt-packages.txt); the per-frame MD5 lists are still checked"
        );
    }
    ok
}

/// The reference decode: `ffmpeg -threads 1 -i IN -autoscale 0 -f rawvideo -pix_fmt FMT -`.
pub fn ffmpeg_decode(input: &Path, ten_bit: bool, av1: bool) -> Vec<u8> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-threads", "1"]);
    if av1 {
        // FFmpeg 5.1's native AV1 decoder only drives hardware; name the software one.
        cmd.args(["-c:v", "libdav1d"]);
    }
    cmd.arg("-i").arg(input).args([
        "-autoscale",
        "0",
        "-f",
        "rawvideo",
        "-pix_fmt",
        if ten_bit { "p010le" } else { "nv12" },
        "-",
    ]);
    let out = cmd.output().expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg failed on {}: {}",
        input.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs the ffmpeg CLI with `args`, panicking with its stderr on failure.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh scratch directory for one test.
pub fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("daedalusd-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
