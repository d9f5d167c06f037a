//! With the `ffmpeg` feature the binary links Debian's libavcodec.a (through `golden`), whose
//! x86 SIMD objects cannot be linked into a position-independent executable
//! (golden/build.rs); so link `qpu` with -no-pie then.
fn main() {
    println!("cargo:rerun-if-env-changed=CARGO_FEATURE_FFMPEG");
    if std::env::var_os("CARGO_FEATURE_FFMPEG").is_some() {
        println!("cargo:rustc-link-arg=-no-pie");
    }
}
