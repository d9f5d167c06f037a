//! The committed per-frame MD5 lists are what FFmpeg decodes from the committed streams.

use std::path::Path;
use std::process::Command;

#[test]
fn md5_lists_are_reproduced_by_ffmpeg() {
    if Command::new("ffmpeg").arg("-version").output().is_err() {
        println!("ffmpeg CLI not found: not checking the MD5 lists (apt-get install ffmpeg)");
        return;
    }
    let src = golden::streams::dir();
    let tmp = std::env::temp_dir().join(format!("golden-streams-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut streams = 0;
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap();
        if p.extension()
            .is_some_and(|x| x == "ivf" || x == "h264" || x == "sh")
        {
            std::fs::copy(&p, tmp.join(name)).unwrap();
            streams += usize::from(p.extension().is_some_and(|x| x != "sh"));
        }
    }
    assert!(streams >= 14, "{streams} streams in {}", src.display());
    let out = Command::new("bash")
        .arg(tmp.join("make-streams.sh"))
        .arg("--md5-only")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "make-streams.sh --md5-only: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut compared = 0;
    for e in std::fs::read_dir(&tmp).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md5") {
            let committed = std::fs::read_to_string(src.join(p.file_name().unwrap())).unwrap();
            let fresh = std::fs::read_to_string(&p).unwrap();
            // The third line names the ffmpeg version; the frame lines must be identical.
            let frames = |s: &str| {
                s.lines()
                    .filter(|l| !l.starts_with('#'))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            };
            assert_eq!(frames(&fresh), frames(&committed), "{}", p.display());
            golden::fixtures::frame_md5::load(&p).unwrap();
            compared += 1;
        }
    }
    assert_eq!(compared, streams);
    std::fs::remove_dir_all(Path::new(&tmp)).unwrap();
}
