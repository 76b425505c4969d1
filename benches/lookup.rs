//! Register lookups: a full-size TPS snapshot (17M numbers over real UK ranges) in memory, probed
//! with 2M numbers (half listed, half their neighbours), one by one on one thread.
//!
//! cargo bench --bench lookup [-- --numbers N]

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed step ends the run

use std::collections::HashMap;
use std::time::Instant;

use chrono::NaiveDate;
use suppress::domain::Register;
use suppress::registers::PhoneSet;

#[path = "common/mod.rs"]
mod common;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n =
        args.iter().position(|a| a == "--numbers").and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(17_000_000usize);
    let numbers = common::numbers(n);
    let probes: Vec<u64> = (0..2_000_000usize).map(|i| numbers[(i * 104_729) % numbers.len()] + (i % 2) as u64).collect();
    let start = Instant::now();
    let set = PhoneSet::new(Register::Tps, NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(), numbers, HashMap::new());
    println!("# lookups in a register of {n} numbers (index built in {:.2} s)", start.elapsed().as_secs_f64());
    for round in 0..3 {
        let start = Instant::now();
        let hits = probes.iter().filter(|p| set.lookup(**p).is_some()).count();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "round {round}: {:.0} ns a lookup ({:.1} M/s), {hits} listed",
            secs * 1e9 / probes.len() as f64,
            probes.len() as f64 / secs / 1e6
        );
    }
}
