//! The benchmarks link `golden` (libavcodec.a), which needs -no-pie (golden/build.rs).
fn main() {
    println!("cargo:rustc-link-arg=-no-pie");
}
