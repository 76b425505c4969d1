//! Data and steps the benchmarks share (each uses part of them).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

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

/// Post one batch check `runs` times, the first dropped as warm-up; the times in ms, sorted.
pub fn batch_check_times(addr: &str, key: &str, body: &str, runs: usize) -> Vec<f64> {
    let agent = ureq::AgentBuilder::new().build();
    let mut times: Vec<f64> = (0..=runs)
        .map(|_| {
            let start = Instant::now();
            let answer = agent
                .post(&format!("http://{addr}/v1/check"))
                .set("Authorization", &format!("Bearer {key}"))
                .set("Content-Type", "application/json")
                .send_string(body)
                .unwrap()
                .into_string()
                .unwrap();
            assert!(answer.contains("\"results\""), "{answer}");
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.remove(0);
    times.sort_by(f64::total_cmp);
    times
}

/// Start `suppress serve` (already given its arguments and database) with its log on a pipe;
/// returns it and the address it listens on, once it says so. The rest of its log is drained.
pub fn start_server(mut command: Command) -> (Child, String) {
    let mut child = command.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("server exited").unwrap();
        if let Some(rest) = line.split("listening addr=").nth(1) {
            break rest.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

/// `wrk -t1 -c64 --latency` against `GET` requests made by the Lua body given (which defines
/// `request`; the key is set here), 5 s of warm-up then `seconds` measured. `wrk` is the command
/// to run it (`taskset … wrk` to pin it). The figures as one line, or why wrk did not run.
pub fn wrk_get(mut wrk: impl FnMut() -> Command, dir: &std::path::Path, addr: &str, key: &str, lua: &str, seconds: u64) -> String {
    let script = dir.join("wrk-get.lua");
    std::fs::write(&script, format!("wrk.headers[\"Authorization\"] = \"Bearer {key}\"\n{lua}")).unwrap();
    let mut run = |seconds: u64| {
        wrk()
            .args(["-t1", "-c64", &format!("-d{seconds}s"), "--latency", "-s", script.to_str().unwrap(), &format!("http://{addr}/")])
            .output()
    };
    let _ = run(5); // warm-up: page cache, each thread's regex caches
    match run(seconds) {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let pick =
                |prefix: &str| text.lines().find(|l| l.trim_start().starts_with(prefix)).map(|l| l.trim().to_owned()).unwrap_or_default();
            let errors = pick("Non-2xx");
            let errors = if errors.is_empty() { "no non-2xx answers".to_owned() } else { errors };
            format!("(wrk -t1 -c64 -d{seconds}s): {} | latency {} | {} | {errors}", pick("Requests/sec"), pick("50%"), pick("99%"))
        }
        Err(e) => format!("wrk not run ({e}); install it with apt-get install wrk"),
    }
}
