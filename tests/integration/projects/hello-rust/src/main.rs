fn main() {
    let total: u64 = (1..=20u64).product::<u64>() % 1_000_003;
    println!("hello-rust on {}: {}", std::env::consts::ARCH, total);
}
