/// The n-th triangle number.
pub fn number(n: u64) -> u64 {
    n * (n + 1) / 2
}
