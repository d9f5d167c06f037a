//! The per-frame MD5 lists of the test streams (`golden/streams/<name>.md5`, format v1; see
//! `golden/streams/README.md`), readable without FFmpeg.

use std::path::{Path, PathBuf};

/// The first line of a version-1 list.
pub const HEADER: &str = "# daedalus frame-md5 v1";

#[derive(Debug, thiserror::Error)]
pub enum Md5ListError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: first line is {found:?}, expected {HEADER:?}; regenerate with `golden regen --streams`"
    )]
    Header { path: PathBuf, found: String },
    #[error("{path}:{line}: {problem}")]
    Line {
        path: PathBuf,
        line: usize,
        problem: String,
    },
}

/// The decoded frame's pixel format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixFmt {
    /// 8-bit Y plane, then interleaved CbCr at half resolution (rounded up).
    Nv12,
    /// As NV12 with 16-bit little-endian samples holding 10 bits in the high bits.
    P010le,
}

impl PixFmt {
    /// Bytes of one frame of this size, as `ffmpeg -f rawvideo` writes it.
    pub fn frame_bytes(self, width: u32, height: u32) -> u64 {
        let (w, h) = (u64::from(width), u64::from(height));
        let chroma = 2 * w.div_ceil(2) * h.div_ceil(2);
        let samples = w * h + chroma;
        match self {
            PixFmt::Nv12 => samples,
            PixFmt::P010le => 2 * samples,
        }
    }
}

/// One decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameMd5 {
    pub index: u32,
    pub width: u32,
    pub height: u32,
    pub pix_fmt: PixFmt,
    pub bytes: u64,
    /// Lowercase hex.
    pub md5: String,
}

/// Reads and validates a list: header, consecutive indices, byte counts that match the
/// frame size, 32-digit lowercase hex MD5s.
pub fn load(path: &Path) -> Result<Vec<FrameMd5>, Md5ListError> {
    let text = std::fs::read_to_string(path).map_err(|source| Md5ListError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<Vec<FrameMd5>, Md5ListError> {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("");
    if first != HEADER {
        return Err(Md5ListError::Header {
            path: path.to_owned(),
            found: first.to_owned(),
        });
    }
    let mut frames = Vec::new();
    for (n, line) in lines.enumerate() {
        let line_no = n + 2;
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let bad = |problem: String| Md5ListError::Line {
            path: path.to_owned(),
            line: line_no,
            problem,
        };
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() != 6 {
            return Err(bad(format!(
                "{} fields, expected 6 (index width height pix_fmt bytes md5)",
                f.len()
            )));
        }
        let num = |s: &str, what: &str| {
            s.parse::<u64>()
                .map_err(|_| bad(format!("{what} {s:?} is not a number")))
        };
        let index = num(f[0], "index")? as u32;
        let width = num(f[1], "width")? as u32;
        let height = num(f[2], "height")? as u32;
        let pix_fmt = match f[3] {
            "nv12" => PixFmt::Nv12,
            "p010le" => PixFmt::P010le,
            other => return Err(bad(format!("pixel format {other:?} is not nv12 or p010le"))),
        };
        let bytes = num(f[4], "bytes")?;
        if index as usize != frames.len() {
            return Err(bad(format!(
                "frame index {index}, expected {}",
                frames.len()
            )));
        }
        if bytes != pix_fmt.frame_bytes(width, height) {
            return Err(bad(format!(
                "{bytes} bytes does not match a {width}x{height} {} frame",
                f[3]
            )));
        }
        if f[5].len() != 32
            || !f[5]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad(format!("{:?} is not a lowercase hex md5", f[5])));
        }
        frames.push(FrameMd5 {
            index,
            width,
            height,
            pix_fmt,
            bytes,
            md5: f[5].to_owned(),
        });
    }
    Ok(frames)
}

/// `golden/streams` of this checkout.
pub fn streams_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).join("streams")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let p = Path::new("t.md5");
        let ok = format!(
            "{HEADER}\n# stream x\n0 201 131 nv12 39663 825ddb909a4d252139fbe6aafc55c4eb\n1 4 2 p010le 24 00000000000000000000000000000000\n"
        );
        let v = parse(p, &ok).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].width, 201);
        assert!(parse(p, "# other\n").is_err());
        let wrong_size =
            format!("{HEADER}\n0 201 131 nv12 39662 825ddb909a4d252139fbe6aafc55c4eb\n");
        assert!(
            parse(p, &wrong_size)
                .unwrap_err()
                .to_string()
                .contains("does not match")
        );
        let skipped = format!("{HEADER}\n1 4 2 nv12 16 825ddb909a4d252139fbe6aafc55c4eb\n");
        assert!(parse(p, &skipped).is_err());
    }

    #[test]
    fn committed_lists_are_valid() {
        let dir = streams_dir();
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "md5") {
                let frames = load(&path).unwrap();
                assert!(!frames.is_empty(), "{}", path.display());
                n += 1;
            }
        }
        assert!(n >= 14, "found {n} md5 lists in {}", dir.display());
    }
}
