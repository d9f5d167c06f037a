//! `daedalusd decode` must equal `ffmpeg -threads 1 -i IN -autoscale 0 -f rawvideo
//! -pix_fmt nv12|p010le -` byte for byte on every committed stream, in every container.

mod common;

use std::process::Command;

use common::*;
use daedalus_daemon::filedec::decode_file;

fn decode(path: &std::path::Path) -> Vec<u8> {
    daedalus_daemon::sys::set_log_verbose(false);
    let mut out = Vec::new();
    let summary = decode_file(path, 1, &mut out, &mut |tag, e| {
        panic!("{}: packet {tag} failed: {e}", path.display())
    })
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(summary.errors, 0);
    out
}

#[test]
fn committed_streams_match_their_md5_lists_and_the_ffmpeg_cli() {
    let cli = have_ffmpeg();
    for s in streams() {
        let out = decode(&s.path);
        check_against_list(&s.name, &out, &s.frames);
        if cli {
            let reference = ffmpeg_decode(&s.path, s.ten_bit(), s.name.starts_with("av1"));
            assert!(out == reference, "{}: differs from the ffmpeg CLI", s.name);
        }
        println!("{}: {} frames identical", s.name, s.frames.len());
    }
}

#[test]
fn containers_mp4_mkv_obu_match_the_ffmpeg_cli() {
    if !have_ffmpeg() {
        return;
    }
    let dir = scratch("containers");
    let d = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let streams = streams_dir();
    let s = |n: &str| streams.join(n).to_str().unwrap().to_string();
    // IVF carries timestamps, so VP9 and AV1 remux as they are. Raw H.264 has none, so
    // H.264 in MP4/MKV (length-prefixed NAL units, avcC) is encoded directly into them.
    for (src, codec) in [
        ("vp9_10bit_320x240.ivf", "vp9"),
        ("vp9_reschange_320x240_176x144.ivf", "vp9"),
        ("av1_320x240.ivf", "av1"),
    ] {
        for ext in ["mp4", "mkv"] {
            ffmpeg(&[
                "-i",
                &s(src),
                "-c",
                "copy",
                &d(&format!("{codec}-{src}.{ext}")),
            ]);
        }
    }
    ffmpeg(&[
        "-i",
        &s("av1_320x240.ivf"),
        "-c",
        "copy",
        "-f",
        "obu",
        &d("av1.obu"),
    ]);
    let lavfi = "testsrc2=size=320x240:rate=25,fade=in:0:10";
    for (name, extra) in [
        ("h264-bframes", &["-bf", "3"][..]),
        (
            "h264-interlaced",
            &["-flags", "+ildct+ilme", "-x264-params", "interlaced=1"][..],
        ),
    ] {
        for ext in ["mp4", "mkv"] {
            let mut args = vec!["-f", "lavfi", "-i", lavfi, "-frames:v", "15"];
            args.extend_from_slice(&["-pix_fmt", "yuv420p", "-c:v", "libx264", "-threads", "1"]);
            args.extend_from_slice(extra);
            let out = d(&format!("{name}.{ext}"));
            args.push(&out);
            ffmpeg(&args);
        }
    }
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let out = decode(&path);
        let reference = ffmpeg_decode(&path, name.contains("10bit"), name.starts_with("av1"));
        assert!(!out.is_empty(), "{name}: no frames");
        assert!(out == reference, "{name}: differs from the ffmpeg CLI");
        checked += 1;
    }
    assert_eq!(checked, 11);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_binary_writes_the_same_bytes() {
    let s = streams()
        .into_iter()
        .find(|s| s.name == "vp9_odd_201x131.ivf")
        .expect("vp9_odd_201x131.ivf is committed");
    let dir = scratch("binary");
    let out = dir.join("out.yuv");
    let run = Command::new(env!("CARGO_BIN_EXE_daedalusd"))
        .arg("decode")
        .arg(&s.path)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    check_against_list(&s.name, &std::fs::read(&out).unwrap(), &s.frames);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_gets_a_clear_error_and_exit_code() {
    let dir = scratch("badinput");
    let junk = dir.join("junk.bin");
    std::fs::write(&junk, b"this is not a video file at all").unwrap();
    for (input, needle) in [
        (junk.clone(), "cannot read"),
        (dir.join("missing.ivf"), "cannot read"),
    ] {
        let run = Command::new(env!("CARGO_BIN_EXE_daedalusd"))
            .arg("decode")
            .arg(&input)
            .arg("-o")
            .arg(dir.join("o.yuv"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(66), "{err}");
        assert!(err.contains(needle), "{err}");
    }
    // The output cannot be created.
    let s = streams_dir().join("av1_320x240.ivf");
    let run = Command::new(env!("CARGO_BIN_EXE_daedalusd"))
        .arg("decode")
        .arg(&s)
        .arg("-o")
        .arg(dir.join("no/such/dir/o.yuv"))
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(73),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The socket cannot be bound.
    let run = Command::new(env!("CARGO_BIN_EXE_daedalusd"))
        .args(["serve", "--listen"])
        .arg(dir.join("no/such/dir/s.sock"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(71), "{err}");
    assert!(err.contains("does its directory exist"), "{err}");
    // A codec the daemon does not decode.
    if have_ffmpeg() {
        let avi = dir.join("mpeg4.avi");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x48:rate=5",
            "-frames:v",
            "3",
            "-c:v",
            "mpeg4",
            avi.to_str().unwrap(),
        ]);
        let run = Command::new(env!("CARGO_BIN_EXE_daedalusd"))
            .arg("decode")
            .arg(&avi)
            .arg("-o")
            .arg(dir.join("o.yuv"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(65), "{err}");
        assert!(err.contains("mpeg4 is not supported"), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
