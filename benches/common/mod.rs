//! Data the benchmarks share.

/// Distinct NSNs spread over real UK ranges (London, other geographic, mobile).
pub fn numbers(n: usize) -> Vec<u64> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut out: Vec<u64> = Vec::with_capacity(n + n / 10);
    let bases = [2_000_000_000u64, 1_100_000_000, 1_600_000_000, 7_000_000_000, 7_900_000_000];
    while out.len() < n + n / 20 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let base = bases[(state % bases.len() as u64) as usize];
        out.push(base + (state >> 8) % 100_000_000);
    }
    out.sort_unstable();
    out.dedup();
    out.truncate(n);
    out
}
