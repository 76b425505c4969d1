//! The load benchmark: generates realistic data, drives the real `suppress` server (release build)
//! over loopback, and prints the figures BENCHMARKS.md records.
//!
//! cargo bench --bench load                                  # SQLite
//! BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/test cargo bench --bench load   # PostgreSQL
//!
//! Options after `--`: `--statements N` (in-house statements preloaded, default 100000),
//! `--agents N` (concurrent agents, 20), `--opt-outs N` (opt-outs they record in all, 20000),
//! `--wrk-seconds N` (30), `--workers N` (server workers; default the server's own: half the cores), `--pin` (server on
//! CPU 0 and wrk on CPU 1, with taskset, so the load generator does not take the server's core).
//! Needs `wrk` on the PATH for the check figures. The check run follows a 5-second warm-up. The
//! opt-outs run twice, each naming a number and an email address: with confirmations off, then
//! (a new server on the same database) with confirmations on, sent to aiosmtpd
//! (`/usr/bin/python3`, python3-aiosmtpd).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed step ends the run

use std::io::Write;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};

#[path = "common/mod.rs"]
mod common;

const BIN: &str = env!("CARGO_BIN_EXE_suppress");

struct Options {
    statements: usize,
    agents: usize,
    opt_outs: usize,
    wrk_seconds: u64,
    workers: usize,
    pin: bool,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str, default: usize| {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    Options {
        statements: get("--statements", 100_000),
        agents: get("--agents", 20),
        opt_outs: get("--opt-outs", 20_000),
        wrk_seconds: get("--wrk-seconds", 30) as u64,
        workers: get("--workers", 0),
        pin: args.iter().any(|a| a == "--pin"),
    }
}

/// A mobile number in the 07912 range (valid per phonenumber), spelled one of several ways.
fn spelled(i: usize) -> String {
    let n = 100_000 + i % 900_000;
    match i % 5 {
        0 => format!("07912 {n:06}"),
        1 => format!("+44 7912 {n:06}"),
        2 => format!("07912{n:06}"),
        3 => format!("0044 (0)7912 {n:06}"),
        _ => format!("+447912{n:06}"),
    }
}

fn database() -> (String, Option<(String, String)>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    match std::env::var("BENCH_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(admin) => {
            let name = format!("suppress_bench_{}", std::process::id());
            let mut conn = PgConnection::establish(&admin).unwrap();
            diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).unwrap();
            let mut url = url::Url::parse(&admin).unwrap();
            url.set_path(&name);
            (url.to_string(), Some((admin, name)), dir)
        }
        None => (dir.path().join("bench.db").to_string_lossy().into_owned(), None, dir),
    }
}

fn cli(db: &str, args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).env("SUPPRESS_DATABASE_URL", db).output().unwrap();
    assert!(out.status.success(), "suppress {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A command, on CPU `cpu` when pinning.
fn command(program: &str, pin: Option<u32>) -> Command {
    match pin {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &cpu.to_string(), program]);
            c
        }
        None => Command::new(program),
    }
}

fn start_server(db: &str, o: &Options) -> (Child, String) {
    let mut command = command(BIN, o.pin.then_some(0));
    command
        .args(["serve", "--bind", "127.0.0.1:0", "--workers", &o.workers.to_string()])
        .env("SUPPRESS_DATABASE_URL", db)
        .env("RUST_LOG", "warn,suppress=info");
    common::start_server(command)
}

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// `o.opt_outs` opt-outs from `o.agents` concurrent agents (numbers and addresses from `offset`),
/// each waiting for its 201: the rate and latency, as a sentence.
fn opt_outs(addr: &str, key: &str, o: &Options, offset: usize) -> String {
    let per_agent = o.opt_outs / o.agents;
    let t = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..o.agents)
            .map(|a| {
                s.spawn(move || {
                    let agent = ureq::AgentBuilder::new().build();
                    let mut lat = Vec::with_capacity(per_agent);
                    for i in 0..per_agent {
                        let n = offset + a * per_agent + i;
                        let phone = spelled(2 * n + 1);
                        let email = format!("Customer.{n}@Example.co.uk");
                        let body = format!(
                            r#"{{"phone":"{phone}","email":"{email}","source":"call_centre","recorded_by":"agent{a}","note":"bench"}}"#
                        );
                        let start = Instant::now();
                        let r = agent
                            .post(&format!("http://{addr}/v1/opt-outs"))
                            .set("Authorization", &format!("Bearer {key}"))
                            .set("Content-Type", "application/json")
                            .send_string(&body)
                            .unwrap();
                        assert_eq!(r.status(), 201);
                        lat.push(start.elapsed());
                    }
                    lat
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let elapsed = t.elapsed();
    latencies.sort();
    format!(
        "{} from {} concurrent agents in {:.2} s = {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms",
        latencies.len(),
        o.agents,
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    )
}

fn main() {
    let o = options();
    let (db, pg, dir) = database();
    let backend = if pg.is_some() { "postgres" } else { "sqlite" };
    println!(
        "# suppress load benchmark ({backend}; server workers: {}; pinned: {})",
        if o.workers == 0 { "the default (half the cores)".to_owned() } else { o.workers.to_string() },
        o.pin
    );

    // 1. In-house statements, as a legacy file with mixed spellings, loaded by the CLI.
    let csv_path = dir.path().join("legacy.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&csv_path).unwrap());
    writeln!(f, "phone,channel,kind,recorded_at,source,evidence").unwrap();
    for i in 0..o.statements {
        // Every other generated number has a statement: half the checks below find one.
        let (kind, evidence) = if i % 10 == 0 { ("consent", "recorded call") } else { ("opt_out", "") };
        writeln!(f, "{},sms,{kind},2025-{:02}-{:02} 10:00,bulk_load,{evidence}", spelled(2 * i), 1 + i % 12, 1 + i % 28).unwrap();
    }
    drop(f);
    cli(&db, &["migrate"]);
    let t = Instant::now();
    cli(&db, &["import", "opt-outs", csv_path.to_str().unwrap()]);
    let load = t.elapsed();
    println!("bulk load: {} statements in {:.2} s ({:.0}/s)", o.statements, load.as_secs_f64(), o.statements as f64 / load.as_secs_f64());

    let key = cli(&db, &["keys", "create", "--role", "agent", "--name", "bench"]);
    let (mut server, addr) = start_server(&db, &o);

    // 2. Opt-outs from concurrent agents, each waiting for its 201 before the next; each names a
    // number and an email address (so that, with confirmations on, each is confirmed).
    println!("opt-outs (confirmations off): {}", opt_outs(&addr, &key, &o, 0));

    // 3. GET /v1/check under wrk: 1 thread, 64 connections, numbers varying over the data set.
    let lua = r#"local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", string.format("/v1/check?phone=07912%06d&channel=sms", 100000 + (n * 7919) % 900000))
end
"#;
    let figures = common::wrk_get(|| command("wrk", o.pin.then_some(1)), dir.path(), &addr, &key, lua, o.wrk_seconds);
    println!("GET /v1/check {figures}");

    // 4. POST /v1/check with 10,000 numbers.
    let phones: Vec<String> = (0..10_000).map(spelled).collect();
    let body = serde_json::json!({"channel": "sms", "phones": phones}).to_string();
    let times = common::batch_check_times(&addr, &key, &body, 20);
    println!("POST /v1/check, 10,000 numbers: median {:.1} ms, max {:.1} ms (20 runs)", times[10], times[19]);

    println!("server peak memory (VmHWM): {:.0} MB", peak_rss_mb(server.id()));
    server.kill().unwrap();
    let _ = server.wait();

    // 5. The same opt-outs with confirmations on, sent to a real SMTP server (aiosmtpd): the
    // outbox row is written in each opt-out's transaction; sending is the worker's.
    let maildir = dir.path().join("maildir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // At the lowest priority: a mail server is not on the service's two cores in production, and
    // here it would take them from the agents' requests being measured.
    let mut smtp = Command::new("nice")
        .args(["-n", "19", "/usr/bin/python3", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/server.py")])
        .args(["--port", &port.to_string(), "--maildir", maildir.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 with aiosmtpd (apt-get install python3-aiosmtpd)");
    {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(smtp.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
    }
    let mut command = command(BIN, o.pin.then_some(0));
    command
        .args(["serve", "--bind", "127.0.0.1:0", "--workers", &o.workers.to_string()])
        .env("SUPPRESS_DATABASE_URL", &db)
        .env("SUPPRESS_SMTP_URL", format!("smtp://127.0.0.1:{port}"))
        .env("SUPPRESS_MAIL_FROM", "Suppress <suppress@example.com>")
        .env("SUPPRESS_CONFIRM_OPT_OUTS", "true")
        .env("RUST_LOG", "warn,suppress=info");
    let (mut server, addr) = common::start_server(command);
    let t = Instant::now();
    println!("opt-outs (confirmations on): {}", opt_outs(&addr, &key, &o, o.opt_outs));
    let sent = || std::fs::read_dir(maildir.join("new")).map(|d| d.count()).unwrap_or(0);
    println!("confirmations delivered by the end of the run: {}; {:.0} s after its start: {}", sent(), 20.0, {
        std::thread::sleep(Duration::from_secs(20).saturating_sub(t.elapsed()));
        sent()
    });
    server.kill().unwrap();
    let _ = server.wait();
    let _ = smtp.kill();
    let _ = smtp.wait();
    if let Some((admin, name)) = pg {
        let mut conn = PgConnection::establish(&admin).unwrap();
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn);
    }
}
