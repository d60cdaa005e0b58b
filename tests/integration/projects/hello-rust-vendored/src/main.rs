fn main() {
    println!("hello-rust-vendored on {}: {}", std::env::consts::ARCH, triangle::number(1000));
}
