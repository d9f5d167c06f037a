use kernels_check::{Which, check};
fn main() {
    let d = runtime::Device::open().unwrap();
    for n in [16usize, 17, 32, 48, 100, 384, 385, 400, 1000] {
        match check(&d, Which::H264Idct8, 5, n) {
            Ok(r) => println!("n={n}: {r}"),
            Err(e) => println!("n={n}: ERROR {e}"),
        }
    }
}
