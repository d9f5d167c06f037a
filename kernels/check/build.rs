//! `golden` links libavcodec.a, whose x86 SIMD objects cannot go into a position-independent
//! executable; every binary and test of a crate that uses it must be linked with -no-pie
//! (golden/build.rs).
fn main() {
    println!("cargo:rustc-link-arg=-no-pie");
}
