//! Phone parsing speed: the fast UK path (`PhoneKey::parse`) against phonenumber's path
//! (`PhoneKey::parse_slow`), on one thread and on every core, over realistic mixed spellings, then
//! the same numbers each with an extension (every form CONTRACT §2 lists).
//!
//! cargo bench --bench phone [-- --numbers N]

use std::time::Instant;

use suppress::domain::PhoneKey;

fn spelled(i: usize) -> String {
    let n = 100_000 + (i * 7919) % 900_000;
    match i % 8 {
        0 => format!("07912 {n:06}"),
        1 => format!("+44 7912 {n:06}"),
        2 => format!("(020) 7946-{:04}", n % 10_000),
        3 => format!("0044 (0)7912 {n:06}"),
        4 => format!("0161 496 {:04}", n % 10_000),
        5 => format!("+44 (0)113 496 {:04}", n % 10_000),
        6 => format!("7912{n:06}"),
        _ => format!("01632 {n:06}"),
    }
}

/// The extension forms CONTRACT §2 lists, after a space, comma, slash or semicolon.
const EXTENSIONS: [&str; 10] = [" ext 123", " ext. 45", " x678", " #12", ";ext=770", ", ext. 688", " / ext 497", "; x21", ", #3", "/ext 9"];

/// The same numbers, each with an extension.
fn with_extension(i: usize) -> String {
    format!("{}{}", spelled(i), EXTENSIONS[i % EXTENSIONS.len()])
}

fn run(name: &str, inputs: &[String], threads: usize, parse: fn(&str) -> Result<PhoneKey, suppress::domain::phone::PhoneError>) {
    let start = Instant::now();
    let valid: usize = std::thread::scope(|s| {
        let chunk = inputs.len().div_ceil(threads);
        let handles: Vec<_> = inputs.chunks(chunk).map(|c| s.spawn(move || c.iter().filter(|x| parse(x).is_ok()).count())).collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name:<40} {threads} thread(s): {:>6.2} M numbers/s ({:.3} µs each), {valid} valid",
        inputs.len() as f64 / secs / 1e6,
        secs * 1e6 / inputs.len() as f64 * threads as f64
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = args.iter().position(|a| a == "--numbers").and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(1_000_000usize);
    let plain: Vec<String> = (0..n).map(spelled).collect();
    let extended: Vec<String> = (0..n).map(with_extension).collect();
    let cores = std::thread::available_parallelism().map_or(2, |c| c.get());
    // Warm both paths (lazy metadata, regex caches).
    let _ = PhoneKey::parse(&plain[0]);
    let _ = PhoneKey::parse_slow(&plain[0]);
    for threads in [1, cores] {
        for (what, inputs) in [("", &plain), (", extensions", &extended)] {
            run(&format!("PhoneKey::parse{what}"), inputs, threads, PhoneKey::parse);
            run(&format!("phonenumber (parse_slow){what}"), &inputs[..n / 10], threads, PhoneKey::parse_slow);
        }
    }
}
