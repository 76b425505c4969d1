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

/// How a benchmark's call list is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListStyle {
    /// As CRMs and spreadsheets export them: every spelling CONTRACT §2 lists in about equal
    /// shares (mobiles among the numbers), about 8% of rows with an extension in every form §2
    /// lists (unless `extensions` is false), names with diacritics, a quoted notes column with
    /// commas and quotes, and CRM header names.
    Realistic { extensions: bool },
    /// The benchmark's first list: four easy spellings, plain names, snake_case headers.
    Easy,
}

impl ListStyle {
    pub fn label(self) -> &'static str {
        match self {
            ListStyle::Realistic { extensions: true } => "realistic list",
            ListStyle::Realistic { extensions: false } => "realistic list without extensions",
            ListStyle::Easy => "easy list (four spellings, no extensions)",
        }
    }

    /// The header line, without its line end.
    pub fn header(self) -> &'static str {
        match self {
            ListStyle::Realistic { .. } => "Customer ID,First Name,Last Name,Phone Number,Email Address,Notes",
            ListStyle::Easy => "customer_id,name,phone,postcode,segment",
        }
    }

    /// Row `i` of the list, for the UK number with national significant number `nsn` (10
    /// digits), without its line end.
    pub fn row(self, i: usize, nsn: u64) -> String {
        let national = format!("0{nsn}");
        match self {
            ListStyle::Easy => {
                let phone = match i % 4 {
                    0 => format!("{} {}", &national[..4], &national[4..]),
                    1 => format!("+44 {}", &national[1..]),
                    2 => national.clone(),
                    _ => format!("+44 (0){} {}", &national[1..3], &national[3..]),
                };
                format!("C{i:07},Customer {i},{phone},SW1A 1AA,{}", ["gold", "silver", "bronze"][i % 3])
            }
            ListStyle::Realistic { extensions } => {
                const FIRST: [&str; 12] =
                    ["Siân", "Zoë", "Łukasz", "Renée", "José", "Bjørn", "Chloé", "Aoife", "Mohammed", "Niamh", "François", "Søren"];
                const LAST: [&str; 11] =
                    ["Jones", "Müller", "O'Brien", "Nowak", "García", "Smith-Jones", "Đorđević", "Kowalczyk", "Lefèvre", "Öztürk", "Brown"];
                const NOTES: [&str; 5] = [
                    "",
                    "Called 3 times, prefers \"evenings\"",
                    "VIP, renewal due",
                    "Said \"not now\", try again in spring, maybe",
                    "Moved from Cardiff; new number",
                ];
                let phone = if extensions && i % 50 % 13 == 0 {
                    // Rows 0, 13, 26, 39 of every 50: 8%, a quarter of them on TPS.
                    with_extension(&national, i)
                } else {
                    spelled(&national, i % 7)
                };
                format!(
                    "C{i:07},{},{},{},customer{i}@example.co.uk,{}",
                    FIRST[i % FIRST.len()],
                    LAST[i % LAST.len()],
                    csv_field(&phone),
                    csv_field(NOTES[i % NOTES.len()])
                )
            }
        }
    }
}

/// A UK national number (`0` and 10 digits) in the spelling `style` (0..7) of CONTRACT §2:
/// `020 7946 0018`, `02079460018`, `+44 20 7946 0018`, `+44 (0)20 7946 0018`,
/// `0044 20 7946 0018`, `(020) 7946-0018`, `2079460018` (mobiles: `07912 345678` …).
pub fn spelled(national: &str, style: usize) -> String {
    let (code, rest) = national.split_at(if national.starts_with("02") { 3 } else { 5 });
    let spaced = if rest.len() == 8 { format!("{} {}", &rest[..4], &rest[4..]) } else { rest.to_owned() };
    let half = rest.len() / 2;
    match style {
        0 => format!("{code} {spaced}"),
        1 => national.to_owned(),
        2 => format!("+44 {} {spaced}", &code[1..]),
        3 => format!("+44 (0){} {spaced}", &code[1..]),
        4 => format!("0044 {} {spaced}", &code[1..]),
        5 => format!("({code}) {}-{}", &rest[..half], &rest[half..]),
        _ => national[1..].to_owned(),
    }
}

/// Every extension form CONTRACT §2 lists, after a space, comma, slash or semicolon, and in a
/// `tel:` URI; `k` picks the form and the spelling of the number.
pub fn with_extension(national: &str, k: usize) -> String {
    const FORMS: [&str; 10] = [" ext 123", " ext. 45", " x678", " #12", ";ext=770", ", ext. 688", " / ext 497", "; x21", ",#3", "/ext 9"];
    if k % (FORMS.len() + 1) == FORMS.len() {
        let (code, rest) = national.split_at(if national.starts_with("02") { 3 } else { 5 });
        return format!("tel:+44-{}-{rest};ext=770", &code[1..]);
    }
    format!("{}{}", spelled(national, k % 7), FORMS[k % (FORMS.len() + 1)])
}

/// A CSV field, quoted when it must be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
