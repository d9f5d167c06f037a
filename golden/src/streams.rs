//! Rebuilding the per-frame MD5 lists of `golden/streams/` with the ffmpeg CLI, through the
//! same script that made the streams (so there is one definition of the command).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// `golden/streams` of this checkout.
pub fn dir() -> PathBuf {
    golden_fixtures::frame_md5::streams_dir()
}

/// Rewrites every `<stream>.md5` and returns the names of the lists whose content changed.
pub fn regen_md5(dir: &Path) -> anyhow::Result<Vec<String>> {
    let lists = |dir: &Path| -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let path = e?.path();
            if path.extension().is_some_and(|x| x == "md5") {
                let name = path
                    .file_name()
                    .expect("file")
                    .to_string_lossy()
                    .into_owned();
                v.push((name, std::fs::read(&path)?));
            }
        }
        v.sort();
        Ok(v)
    };
    let before = lists(dir)?;
    let script = dir.join("make-streams.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg("--md5-only")
        .status()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !status.success() {
        bail!(
            "{} --md5-only failed ({status}); is ffmpeg installed (apt-get install ffmpeg)?",
            script.display()
        );
    }
    let after = lists(dir)?;
    let mut changed = Vec::new();
    for (name, content) in &after {
        golden_fixtures::frame_md5::load(&dir.join(name))
            .with_context(|| format!("the rebuilt {name} is invalid"))?;
        if before.iter().find(|(n, _)| n == name).map(|(_, c)| c) != Some(content) {
            changed.push(name.clone());
        }
    }
    Ok(changed)
}
