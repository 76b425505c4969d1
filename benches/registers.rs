//! Register imports at full size: generates a TPS full file of 17,000,000 numbers (~240 MB, both
//! layouts, CRLF), imports it into an empty register with the real `suppress` binary, then the next
//! night's full file (~4,000 added, ~500 removed), then a 10,000-record change file; measures peak
//! memory of each import and how long a server takes to answer checks with the registers loaded.
//! A 1,000,000-row call list (`--scrub-rows N`) is then scrubbed through the CLI and over HTTP,
//! written three ways with the same numbers: as CRMs export lists (every spelling of CONTRACT §2,
//! ~8% with an extension, names with diacritics, quoted notes, `Phone Number` and other CRM
//! headers), the same without extensions, and the first, easy list (four spellings).
//! With `--baseline`, the `sqlite3` shell's own `.import` of the same numbers into an
//! `INTEGER PRIMARY KEY` table is timed in the same run, for the ratio, and so is an import and
//! anti-join of the list's keys.
//!
//! Then an MPS Personal fixed-width file of 6,000,000 records (~2.5 GB; `--mps N`), imported the
//! same way. `--skip-tps` / `--skip-mps` run one part only.
//!
//! cargo bench --bench registers [-- --numbers 17000000 --scrub-rows 1000000 --baseline]
//! BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench registers

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed step ends the run

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};

#[path = "common/mod.rs"]
mod common;
use common::{numbers, ListStyle};

const BIN: &str = env!("CARGO_BIN_EXE_suppress");

/// A UK number in the TPS layouts from a national significant number.
fn record(nsn: u64, i: usize) -> String {
    let national = format!("0{nsn}");
    if i % 2 == 0 {
        let code = if national.starts_with("07") || national.starts_with("02") { 4 } else { 5 };
        format!("{:<5}{:>7}\r\n", &national[..code], &national[code..])
    } else {
        format!("{national:<12}\r\n")
    }
}

fn write_file(path: &std::path::Path, nsns: &[u64]) -> u64 {
    let mut f = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    for (i, n) in nsns.iter().enumerate() {
        f.write_all(record(*n, i).as_bytes()).unwrap();
    }
    f.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

/// CPU seconds (user + system) a process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in brackets: utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<f64> = after.split_whitespace().map(|f| f.parse().unwrap_or(0.0)).collect();
    (fields.get(11).unwrap_or(&0.0) + fields.get(12).unwrap_or(&0.0)) / 100.0
}

/// Run the binary, returning (seconds, peak RSS MB, stdout).
fn timed(db: &str, args: &[&str]) -> (f64, f64, String) {
    let start = Instant::now();
    let mut child =
        Command::new(BIN).args(args).env("SUPPRESS_DATABASE_URL", db).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let mut peak = 0.0f64;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        peak = peak.max(vm_hwm_mb(pid));
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    assert!(status.success(), "suppress {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    (start.elapsed().as_secs_f64(), peak, String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn vm_hwm_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize =
        args.iter().position(|a| a == "--numbers").and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(17_000_000);
    let baseline = args.iter().any(|a| a == "--baseline");
    let guard = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| "/tmp".into())).unwrap();
    let root = guard.path().to_owned();
    // BENCH_KEEP=1 keeps the generated files and database (to profile against them).
    let _guard = if std::env::var("BENCH_KEEP").is_ok() {
        println!("keeping the data in {}", guard.keep().display());
        None
    } else {
        Some(guard)
    };
    let (db, pg) = match std::env::var("BENCH_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(admin) => {
            let name = format!("suppress_regbench_{}", std::process::id());
            let mut conn = PgConnection::establish(&admin).unwrap();
            diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).unwrap();
            let mut url = url::Url::parse(&admin).unwrap();
            url.set_path(&name);
            (url.to_string(), Some((admin, name)))
        }
        None => (root.as_path().join("bench.db").to_string_lossy().into_owned(), None),
    };
    println!("# register import benchmark ({}; {n} numbers)", if pg.is_some() { "postgres" } else { "sqlite" });
    timed(&db, &["migrate"]);
    if !args.iter().any(|a| a == "--skip-mps") {
        let records: usize =
            args.iter().position(|a| a == "--mps").and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(6_000_000);
        mps(&db, root.as_path(), records);
    }
    if args.iter().any(|a| a == "--skip-tps") {
        return drop_pg(pg);
    }

    let t = Instant::now();
    let all = numbers(n + 4_000);
    // Night 1: all but 4,000; night 2: those 4,000 added and 500 others removed.
    let (night1, night2): (Vec<u64>, Vec<u64>) = {
        let added: std::collections::HashSet<u64> = all.iter().step_by(all.len() / 4_000).take(4_000).copied().collect();
        let removed: std::collections::HashSet<u64> =
            all.iter().skip(7).step_by(all.len() / 500).take(500).copied().filter(|x| !added.contains(x)).collect();
        (all.iter().copied().filter(|x| !added.contains(x)).collect(), all.iter().copied().filter(|x| !removed.contains(x)).collect())
    };
    let f1 = root.as_path().join("tps-2026-11-23.txt");
    let f2 = root.as_path().join("tps-2026-11-24.txt");
    let size = write_file(&f1, &night1);
    write_file(&f2, &night2);
    let delta_path = root.as_path().join("tps-2026-11-25-delta.txt");
    {
        let mut f = BufWriter::new(std::fs::File::create(&delta_path).unwrap());
        for (i, x) in night2.iter().step_by(night2.len() / 5_000).take(5_000).enumerate() {
            write!(f, "D {}", record(*x, i)).unwrap();
        }
        for (i, x) in numbers(5_000).iter().map(|x| x + 37).enumerate() {
            write!(f, "A {}", record(x, i)).unwrap();
        }
    }
    println!(
        "generated: {} + {} numbers, {:.0} MB a full file, in {:.1} s",
        night1.len(),
        night2.len(),
        size as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let ctps = root.as_path().join("ctps-2026-11-24.txt");
    write_file(&ctps, &numbers(1_300_000).iter().map(|x| x + 11).collect::<Vec<_>>());
    drop((all, night1, night2));

    let (secs, peak, out) = timed(&db, &["import", "tps", f1.to_str().unwrap()]);
    println!("full import into an empty register: {secs:.2} s, peak memory {peak:.0} MB — {out}");
    let (secs, peak, out) = timed(&db, &["import", "tps", f2.to_str().unwrap()]);
    println!("next night's full file:              {secs:.2} s, peak memory {peak:.0} MB — {out}");
    let (secs, peak, out) = timed(&db, &["import", "tps", delta_path.to_str().unwrap(), "--delta"]);
    println!("change file of 10,000 records:       {secs:.2} s, peak memory {peak:.0} MB — {out}");
    let (secs, _, out) = timed(&db, &["import", "ctps", ctps.to_str().unwrap()]);
    println!("CTPS full file (1.3M):               {secs:.2} s — {out}");

    // A campaign list against the full-size registers, through `suppress scrub` (CLI), written
    // three ways with the same numbers row by row (so the same keys): as CRMs export lists, the
    // same without extensions, and the benchmark's first, easy list.
    let rows: usize =
        args.iter().position(|a| a == "--scrub-rows").and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let styles = [ListStyle::Realistic { extensions: true }, ListStyle::Realistic { extensions: false }, ListStyle::Easy];
    let lists: Vec<std::path::PathBuf> = (0..styles.len()).map(|k| root.as_path().join(format!("list-{k}.csv"))).collect();
    let list_numbers = root.as_path().join("list-numbers.csv");
    {
        let listed = numbers(n);
        let mut files: Vec<_> = lists.iter().map(|l| BufWriter::with_capacity(1 << 20, std::fs::File::create(l).unwrap())).collect();
        let mut normalised = BufWriter::new(std::fs::File::create(&list_numbers).unwrap());
        for (f, style) in files.iter_mut().zip(styles) {
            writeln!(f, "{}", style.header()).unwrap();
        }
        for i in 0..rows {
            // One row in ten is on TPS; the rest are numbers near them (mostly not listed).
            let nsn = if i % 10 == 0 { listed[(i * 7919) % listed.len()] } else { listed[(i * 104_729) % listed.len()] + 1 };
            for (f, style) in files.iter_mut().zip(styles) {
                writeln!(f, "{}", style.row(i, nsn)).unwrap();
            }
            writeln!(normalised, "{nsn}").unwrap();
        }
        for f in &mut files {
            f.flush().unwrap();
        }
    }
    // 100,000 in-house statements, as the issue sets the scene: opt-outs and consents for calls
    // and texts on valid numbers the list holds (from every fifth row), recorded a month ago.
    let statements = root.as_path().join("statements.csv");
    {
        let normalised = std::fs::read_to_string(&list_numbers).unwrap();
        let mut f = BufWriter::new(std::fs::File::create(&statements).unwrap());
        writeln!(f, "phone,channel,kind,recorded_at,source,evidence").unwrap();
        let valid = normalised.lines().skip(3).step_by(5).filter(|nsn| suppress::domain::PhoneKey::parse(&format!("0{nsn}")).is_ok());
        for (j, nsn) in valid.take(100_000).enumerate() {
            let (channel, kind) = [("call", "opt_out"), ("sms", "opt_out"), ("call", "consent"), ("call", "opt_out")][j % 4];
            writeln!(f, "0{nsn},{channel},{kind},2026-10-24T10:00:00Z,bulk_load,recorded call").unwrap();
        }
    }
    let (secs, _, out) = timed(&db, &["import", "opt-outs", statements.to_str().unwrap()]);
    println!("100,000 in-house statements loaded: {secs:.2} s — {out}");
    let (clean, annotated) = (root.as_path().join("clean.csv"), root.as_path().join("annotated.csv"));
    for (list, style) in lists.iter().zip(styles) {
        let args_scrub = [
            "scrub",
            "--channel",
            "call",
            list.to_str().unwrap(),
            "--out",
            clean.to_str().unwrap(),
            "--annotated",
            annotated.to_str().unwrap(),
        ];
        let (secs, peak, out) = timed(&db, &args_scrub);
        let summary: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        println!(
            "scrub (CLI) of {rows} rows ({:.0} MB), {}, against TPS {n} + CTPS: {secs:.2} s, peak memory {peak:.0} MB — kept {}, by reason {}",
            std::fs::metadata(list).unwrap().len() as f64 / 1e6,
            style.label(),
            summary["kept"],
            summary["by_reason"]
        );
    }

    // A server starting with the registers: time until a check answers from them.
    let key = timed(&db, &["keys", "create", "--role", "agent", "--name", "bench"]).2;
    let start = Instant::now();
    let mut command = Command::new(BIN);
    command.args(["serve", "--bind", "127.0.0.1:0"]).env("SUPPRESS_DATABASE_URL", &db).env("RUST_LOG", "info");
    let (mut server, addr) = common::start_server(command);
    let answer: serde_json::Value = ureq::get(&format!("http://{addr}/v1/check?phone=02000000000&channel=call"))
        .set("Authorization", &format!("Bearer {key}"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    println!(
        "server start to first check answered from the registers: {:.2} s (answer: {}); server memory {:.0} MB",
        start.elapsed().as_secs_f64(),
        answer["reason"],
        vm_hwm_mb(server.id())
    );

    // The same lists over HTTP: upload to 201, then the downloads.
    let campaign = timed(&db, &["keys", "create", "--role", "campaign", "--name", "bench-campaign"]).2;
    // Five uploads of the realistic list, three of each other (the first warms the caches: the
    // file and the registers' pages); the headers are found by name, as a real upload's are.
    let mut medians = Vec::new();
    let mut summary = serde_json::Value::Null;
    for (list, style) in lists.iter().zip(styles) {
        let mut times = Vec::new();
        for _ in 0..if medians.is_empty() { 5 } else { 3 } {
            let cpu = cpu_seconds(server.id());
            let start = Instant::now();
            let response = ureq::post(&format!("http://{addr}/v1/scrubs?channel=call"))
                .set("Authorization", &format!("Bearer {campaign}"))
                .set("Content-Type", "text/csv")
                .send(std::fs::File::open(list).unwrap())
                .unwrap();
            let answer: serde_json::Value = response.into_json().unwrap();
            let secs = start.elapsed().as_secs_f64();
            println!(
                "scrub (HTTP) of {rows} rows, {}, upload to 201: {secs:.2} s, server CPU {:.2} s",
                style.label(),
                cpu_seconds(server.id()) - cpu
            );
            times.push(secs);
            if medians.is_empty() {
                summary = answer;
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "scrub (HTTP) of {rows} rows, {}: median {:.2} s, best {:.2} s; server peak memory {:.0} MB",
            style.label(),
            times[times.len() / 2],
            times[0],
            vm_hwm_mb(server.id())
        );
        medians.push(times[times.len() / 2]);
    }
    println!(
        "scrub (HTTP), realistic list: kept {}, by reason {}; {:.2}× the time of the same list without extensions",
        summary["kept"],
        summary["by_reason"],
        medians[0] / medians[1]
    );
    for part in ["annotated.csv", "clean.csv"] {
        let start = Instant::now();
        let mut body = ureq::get(&format!("http://{addr}/v1/scrubs/{}/{part}", summary["id"]))
            .set("Authorization", &format!("Bearer {campaign}"))
            .call()
            .unwrap()
            .into_reader();
        let bytes = std::io::copy(&mut body, &mut std::io::sink()).unwrap();
        let secs = start.elapsed().as_secs_f64();
        println!("download {part}: {:.0} MB in {secs:.2} s = {:.0} MB/s", bytes as f64 / 1e6, bytes as f64 / 1e6 / secs);
    }
    // A dialler's batch against the full-size registers: 10,000 of the list's numbers (about one
    // in ten on TPS, one in ten with an in-house statement).
    let normalised: Vec<String> = std::fs::read_to_string(&list_numbers).unwrap().lines().map(str::to_owned).collect();
    let phones: Vec<String> = (0..10_000usize).map(|i| format!("0{}", normalised[(i * 97) % normalised.len()])).collect();
    let body = serde_json::json!({"channel": "call", "phones": phones}).to_string();
    let times = common::batch_check_times(&addr, &key, &body, 20);
    println!("POST /v1/check, 10,000 numbers, channel call: median {:.1} ms, max {:.1} ms (20 runs)", times[10], times[19]);
    // A dialler's single checks, the same numbers in turn, under wrk.
    let lua = format!(
        "local phones = {{{}}}\nlocal n = 0\nrequest = function()\n  n = n % #phones + 1\n  \
         return wrk.format(\"GET\", \"/v1/check?channel=call&phone=\" .. phones[n])\nend\n",
        phones.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(",")
    );
    let figures = common::wrk_get(|| Command::new("wrk"), root.as_path(), &addr, &key, &lua, 10);
    println!("GET /v1/check, channel call, full-size registers {figures}");
    server.kill().unwrap();
    let _ = server.wait();

    if baseline {
        let nums = root.as_path().join("numbers.csv");
        {
            let mut f = BufWriter::new(std::fs::File::create(&nums).unwrap());
            for line in BufReader::new(std::fs::File::open(&f1).unwrap()).lines() {
                let digits: String = line.unwrap().chars().filter(char::is_ascii_digit).collect();
                writeln!(f, "{}", &digits[1..]).unwrap();
            }
        }
        let base_db = root.as_path().join("baseline.db");
        let start = Instant::now();
        let mut sqlite = Command::new("sqlite3").arg(&base_db).stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        writeln!(
            sqlite.stdin.as_mut().unwrap(),
            "CREATE TABLE tps(number INTEGER PRIMARY KEY);\n.mode csv\n.import {} tps\n.quit",
            nums.display()
        )
        .unwrap();
        assert!(sqlite.wait().unwrap().success());
        println!("baseline: sqlite3 .import of the same numbers into an INTEGER PRIMARY KEY table: {:.2} s", start.elapsed().as_secs_f64());
        // The tool a team would reach for instead of a scrub: the list's numbers, already
        // normalised, imported and anti-joined against that TPS table.
        let start = Instant::now();
        let mut sqlite = Command::new("sqlite3").arg(&base_db).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        writeln!(
            sqlite.stdin.as_mut().unwrap(),
            "CREATE TABLE list(number INTEGER);\n.mode csv\n.import {} list\nSELECT count(*) FROM list WHERE number NOT IN (SELECT number FROM tps);\n.quit",
            list_numbers.display()
        )
        .unwrap();
        let out = sqlite.wait_with_output().unwrap();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "baseline: sqlite3 import of the list's {rows} normalised numbers (the keys of every list above) + anti-join against TPS: \
             {secs:.2} s ({} not on TPS); the realistic list over HTTP took {:.2}× that",
            String::from_utf8_lossy(&out.stdout).trim(),
            medians[0] / secs
        );
    }
    drop_pg(pg);
}

fn drop_pg(pg: Option<(String, String)>) {
    if let Some((admin, name)) = pg {
        let mut conn = PgConnection::establish(&admin).unwrap();
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn);
    }
}

/// An MPS Personal fixed-width file of `records` people at generated addresses: numbered houses,
/// flats, named houses; 10% household entries (no surname), 2% deceased.
fn mps(db: &str, dir: &std::path::Path, records: usize) {
    const SURNAMES: [&str; 12] =
        ["SMITH", "JONES", "TAYLOR", "BROWN", "O'BRIEN", "WILLIAMS", "DAVIES", "EVANS", "WILSON", "THOMAS", "JOHNSON", "ROBERTS"];
    const AREAS: [&str; 10] = ["SW", "M", "LS", "B", "EH", "CF", "BS", "NE", "G", "YO"];
    const STREETS: [&str; 6] = ["HIGH STREET", "MILL LANE", "CHURCH ROAD", "STATION ROAD", "PARK AVENUE", "THE GREEN"];
    let t = Instant::now();
    let path = dir.join("mps-2026-11-24.dat");
    let mut f = BufWriter::with_capacity(1 << 22, std::fs::File::create(&path).unwrap());
    let letters = b"ABDEFGHJLNPQRSTUWXYZ";
    for i in 0..records {
        let area = AREAS[i % AREAS.len()];
        let district = 1 + (i / 7) % 29;
        let sector = (i / 203) % 10;
        let unit = [letters[(i / 3) % 20] as char, letters[(i / 61) % 20] as char];
        let postcode = format!("{area}{district} {sector}{}{}", unit[0], unit[1]);
        let (line1, line2) = match i % 20 {
            0 => (format!("FLAT {}", 1 + i % 9), format!("{} {}", 1 + (i / 11) % 300, STREETS[i % 6])),
            1 => ("ROSE COTTAGE".to_owned(), STREETS[i % 6].to_owned()),
            _ => (format!("{} {}", 1 + (i / 11) % 300, STREETS[i % 6]), String::new()),
        };
        let surname = if i % 10 == 9 { "" } else { SURNAMES[i % SURNAMES.len()] };
        let flag = if i % 50 == 0 { "X" } else { "P" };
        let date = format!("{:02}{:02}20{:02}", 1 + i % 28, 1 + i % 12, 15 + i % 11);
        write!(
            f,
            "{flag:<1}{date:<8}{:<16}{:<20}{:<50}{surname:<50}{:<10}{line1:<50}{line2:<50}{:<50}{:<50}{:<50}{postcode:<8}{:<2}\r\n",
            "", "MR", "A", "", "", "TOWN", "", "1A"
        )
        .unwrap();
    }
    f.flush().unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    println!("generated: MPS fixed-width, {records} records, {:.0} MB, in {:.1} s", size as f64 / 1e6, t.elapsed().as_secs_f64());
    let (secs, peak, out) = timed(db, &["import", "mps", path.to_str().unwrap()]);
    println!("MPS file into an empty register:     {secs:.2} s, peak memory {peak:.0} MB — {out}");
    std::fs::remove_file(&path).unwrap();

    // A 1,000,000-row mail list: the same kind of addresses, half of them people on MPS.
    let list = dir.join("mail.csv");
    {
        let mut f = BufWriter::with_capacity(1 << 20, std::fs::File::create(&list).unwrap());
        writeln!(f, "customer_id,surname,address_1,address_2,town,postcode").unwrap();
        for j in 0..1_000_000usize {
            // Even rows: a record of the MPS file; odd rows: someone at a house number MPS never had.
            let i = (j * 7) % records;
            let area = AREAS[i % AREAS.len()];
            let postcode =
                format!("{area}{} {}{}{}", 1 + (i / 7) % 29, (i / 203) % 10, letters[(i / 3) % 20] as char, letters[(i / 61) % 20] as char);
            let (line1, line2) = match (j % 2, i % 20) {
                (1, _) => (format!("{} ACACIA AVENUE", 400 + j % 300), String::new()),
                (_, 0) => (format!("FLAT {}", 1 + i % 9), format!("{} {}", 1 + (i / 11) % 300, STREETS[i % 6])),
                (_, 1) => ("ROSE COTTAGE".to_owned(), STREETS[i % 6].to_owned()),
                _ => (format!("{} {}", 1 + (i / 11) % 300, STREETS[i % 6]), String::new()),
            };
            writeln!(f, "M{j:07},{},{line1},{line2},TOWN,{postcode}", SURNAMES[i % SURNAMES.len()]).unwrap();
        }
    }
    let clean = dir.join("mail-clean.csv");
    let (secs, peak, out) = timed(db, &["scrub", "--channel", "mail", list.to_str().unwrap(), "--out", clean.to_str().unwrap()]);
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    println!(
        "mail scrub (CLI) of 1,000,000 rows against MPS: {secs:.2} s, peak memory {peak:.0} MB — kept {}, by reason {}",
        summary["kept"], summary["by_reason"]
    );
}
