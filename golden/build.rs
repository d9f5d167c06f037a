//! Links Debian's static libavcodec.a (the shared library exports no `ff_*` symbols, so the DSP
//! init functions are reachable only from the archive) and refuses a libavcodec whose version
//! the `#[repr(C)]` mirrors in src/ffi.rs were not checked against.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The libavcodec version the context mirrors were checked against (Debian bookworm's
/// FFmpeg 5.1.9). The contexts are internal structs, so a minor bump may change them too.
const CHECKED_MAJOR: u32 = 59;
const CHECKED_MINOR: u32 = 37;

fn main() {
    println!("cargo:rerun-if-env-changed=GOLDEN_LIBAVCODEC_DIR");
    println!("cargo:rerun-if-env-changed=GOLDEN_LIBAVCODEC_INCLUDE");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let multiarch = match arch.as_str() {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        other => fail(&format!(
            "golden supports x86_64 and aarch64 Debian hosts, not {other}"
        )),
    };

    let libdir = env::var_os("GOLDEN_LIBAVCODEC_DIR")
        .map(PathBuf::from)
        .or_else(|| pkg_config_var("libdir"))
        .unwrap_or_else(|| PathBuf::from(format!("/usr/lib/{multiarch}")));
    let archive = libdir.join("libavcodec.a");
    if !archive.is_file() {
        fail(&format!(
            "{} not found: install Debian's libavcodec-dev and libavutil-dev \
             (apt-get install libavcodec-dev libavutil-dev), or set GOLDEN_LIBAVCODEC_DIR",
            archive.display()
        ));
    }
    println!("cargo:rerun-if-changed={}", archive.display());

    let include = env::var_os("GOLDEN_LIBAVCODEC_INCLUDE")
        .map(PathBuf::from)
        .or_else(|| pkg_config_var("includedir"))
        .unwrap_or_else(|| PathBuf::from(format!("/usr/include/{multiarch}")));
    let major = header_define(&include, "version_major.h", "LIBAVCODEC_VERSION_MAJOR");
    let minor = header_define(&include, "version.h", "LIBAVCODEC_VERSION_MINOR");
    if (major, minor) != (CHECKED_MAJOR, CHECKED_MINOR) {
        fail(&format!(
            "libavcodec {major}.{minor} found, but golden's context mirrors were checked only \
             against {CHECKED_MAJOR}.{CHECKED_MINOR} (FFmpeg 5.1); check src/ffi.rs against that \
             version's h264dsp.h, h264qpel.h, h264chroma.h and vp9dsp.h before changing the \
             version in build.rs"
        ));
    }
    println!("cargo:rustc-env=GOLDEN_LIBAVCODEC_MAJOR={major}");
    println!("cargo:rustc-env=GOLDEN_LIBAVCODEC_MINOR={minor}");

    println!("cargo:rustc-link-search=native={}", libdir.display());
    // Not bundled into the rlib: the 21 MB archive is handed to the final link instead.
    println!("cargo:rustc-link-lib=static:-bundle=avcodec");
    println!("cargo:rustc-link-lib=dylib=avutil");
    println!("cargo:rustc-link-lib=dylib=m");
    // The x86 SIMD objects in libavcodec.a carry absolute relocations (R_X86_64_32S), so a
    // position-independent executable cannot be linked (measured, golden-pipeline.md A).
    // This applies to this package's binaries and tests; a crate that depends on `golden`
    // must pass -no-pie itself.
    println!("cargo:rustc-link-arg=-no-pie");

    capture_link_args(&libdir);
}

/// `golden-capture` links FFmpeg's whole H.264 and VP9 decoders from the archive and wraps
/// the DSP init functions (-Wl,--wrap) to record the calls a real decode makes. A decoder
/// pulls in libavcodec's codec tables, hence every external library libavcodec and
/// libavutil use, and libavutil's internal symbols (ff_log2_tab, ...), which only its
/// static archive has. The external libraries have no -dev packages installed, so they are
/// linked by soname, read from the shared libraries' DT_NEEDED entries.
fn capture_link_args(libdir: &Path) {
    let bin = "golden-capture";
    println!(
        "cargo:rustc-link-arg-bin={bin}=-Wl,--wrap=ff_h264dsp_init,--wrap=ff_vp9dsp_init,--wrap=ff_h264qpel_init,--wrap=ff_h264chroma_init"
    );
    println!("cargo:rustc-link-arg-bin={bin}=-Wl,-Bstatic");
    println!("cargo:rustc-link-arg-bin={bin}=-lavcodec");
    println!("cargo:rustc-link-arg-bin={bin}=-lavutil");
    println!("cargo:rustc-link-arg-bin={bin}=-Wl,-Bdynamic");
    let mut needed = Vec::new();
    for so in ["libavcodec.so.59", "libavutil.so.57"] {
        let path = libdir.join(so);
        let out = Command::new("objdump")
            .arg("-p")
            .arg(&path)
            .output()
            .unwrap_or_else(|e| {
                fail(&format!(
                    "cannot run objdump on {}: {e}; install binutils",
                    path.display()
                ))
            });
        if !out.status.success() {
            fail(&format!(
                "objdump -p {} failed; install libavcodec59 and libavutil57 (pulled in by libavcodec-dev)",
                path.display()
            ));
        }
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut f = line.split_whitespace();
            if f.next() == Some("NEEDED")
                && let Some(lib) = f.next()
                && !lib.starts_with("libavcodec.")
                && !lib.starts_with("libavutil.")
                && !needed.iter().any(|n: &String| n == lib)
            {
                needed.push(lib.to_owned());
            }
        }
    }
    for lib in needed {
        println!("cargo:rustc-link-arg-bin={bin}=-l:{lib}");
    }
}

fn pkg_config_var(var: &str) -> Option<PathBuf> {
    let out = Command::new("pkg-config")
        .args(["--variable", var, "libavcodec"])
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?;
    let s = s.trim();
    (out.status.success() && !s.is_empty()).then(|| PathBuf::from(s))
}

fn header_define(include: &Path, file: &str, name: &str) -> u32 {
    let path = include.join("libavcodec").join(file);
    println!("cargo:rerun-if-changed={}", path.display());
    let text = fs::read_to_string(&path).unwrap_or_else(|e| {
        fail(&format!(
            "cannot read {}: {e}; install libavcodec-dev or set GOLDEN_LIBAVCODEC_INCLUDE",
            path.display()
        ))
    });
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("#define "))
        .filter_map(|l| l.trim().strip_prefix(name))
        .find_map(|v| v.trim().parse().ok())
        .unwrap_or_else(|| fail(&format!("{name} not found in {}", path.display())))
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    println!("cargo:warning={msg}");
    std::process::exit(1);
}
