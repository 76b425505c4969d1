//! The `suppress` binary: keys, bulk loads, database URLs, and durability across a kill -9.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};

use serde_json::json;

use crate::helpers::{TestApp, TestDb};

fn suppress(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_suppress")).args(args).env("SUPPRESS_DATABASE_URL", db).env("RUST_LOG", "info").output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn keys_create_prints_the_key_alone_and_it_works_until_revoked() {
    let app = TestApp::spawn();
    let out = suppress(&app.db.url, &["keys", "create", "--role", "agent", "--name", "desk-7"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout:?}");
    let key = stdout.trim();
    assert!(key.starts_with("sup_") && key.len() == 68);
    assert_eq!(app.get("/v1/check?phone=07912345678&channel=sms", Some(key)).0, 200);

    let list = text(&suppress(&app.db.url, &["keys", "list"]).stdout);
    assert!(list.contains("desk-7") && list.contains("agent"), "{list}");
    assert!(!list.contains(key), "a key must never be listed");

    let dup = suppress(&app.db.url, &["keys", "create", "--role", "admin", "--name", "desk-7"]);
    assert!(!dup.status.success());
    assert!(text(&dup.stderr).contains("already in use"));

    assert!(suppress(&app.db.url, &["keys", "revoke", "desk-7"]).status.success());
    assert_eq!(app.get("/v1/check?phone=07912345678&channel=sms", Some(key)).0, 401);
    let again = suppress(&app.db.url, &["keys", "revoke", "desk-7"]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("desk-7"));
}

fn write_csv(dir: &tempfile::TempDir, name: &str, content: &str) -> String {
    let path = dir.path().join(name);
    std::fs::File::create(&path).unwrap().write_all(content.as_bytes()).unwrap();
    path.to_string_lossy().into_owned()
}

const HEADER: &str = "phone,email,postcode,address_1,surname,channel,kind,recorded_at,source,evidence\n";

#[test]
fn a_bulk_load_with_a_bad_row_loads_nothing_and_names_the_line() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    let csv = format!(
        "{HEADER}07912 345678,,,,,call,opt_out,2025-01-02,letter,\n12345,,,,,call,opt_out,2025-01-02,letter,\n,jo@example.com,,,,,opt_out,2025-01-03 10:00,,\n,,SW1A 1AA,10 High St,Smith,mail,consent,2025-01-04,web,\n"
    );
    let file = write_csv(&dir, "legacy.csv", &csv);
    let out = suppress(&app.db.url, &["import", "opt-outs", &file]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("line 3: phone"), "{err}");
    assert!(err.contains("line 5: a consent needs evidence"), "{err}");
    assert_eq!(app.get("/v1/preferences?phone=07912345678", Some(&app.agent)).1["history"].as_array().unwrap().len(), 0);

    let out = suppress(&app.db.url, &["import", "opt-outs", &file, "--skip-rejected", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows"], 4);
    assert_eq!(report["rejected"], 2);
    assert_eq!(report["statements"], 2);
    assert_eq!(report["rejected_samples"][0]["line"], 3);
    let (_, p) = app.get("/v1/preferences?phone=07912345678", Some(&app.agent));
    assert_eq!(p["channels"]["call"]["state"], "opted_out");
    assert_eq!(p["history"][0]["recorded_at"], "2025-01-02T00:00:00Z");
    assert_eq!(p["history"][0]["source"], "letter");
    let (_, p) = app.get("/v1/preferences?email=jo@example.com", Some(&app.agent));
    assert_eq!(p["history"][0]["source"], "bulk_load");
    assert_eq!(p["history"][0]["recorded_at"], "2025-01-03T10:00:00Z");
}

#[test]
fn a_bulk_load_refuses_unknown_columns_and_bad_files_whole() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    let file = write_csv(&dir, "typo.csv", "phone,chanel,kind,recorded_at\n07912 345678,call,opt_out,2025-01-02\n");
    let out = suppress(&app.db.url, &["import", "opt-outs", &file]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("unknown column \"chanel\""), "{}", text(&out.stderr));

    let file = write_csv(&dir, "nokind.csv", "phone,recorded_at\n07912 345678,2025-01-02\n");
    let out = suppress(&app.db.url, &["import", "opt-outs", &file]);
    assert!(text(&out.stderr).contains("no kind column"), "{}", text(&out.stderr));

    let missing = suppress(&app.db.url, &["import", "opt-outs", "/no/such/file.csv"]);
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("/no/such/file.csv"));

    let path = dir.path().join("latin1.csv");
    std::fs::write(&path, b"phone,kind,recorded_at,note\n07912 345678,opt_out,2025-01-02,caf\xe9\n").unwrap();
    let out = suppress(&app.db.url, &["import", "opt-outs", path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("line 2: the row is not UTF-8"), "{}", text(&out.stderr));
    assert_eq!(app.get("/v1/preferences?phone=07912345678", Some(&app.agent)).1["history"].as_array().unwrap().len(), 0);
}

#[test]
fn the_database_url_decides_and_a_new_sqlite_file_is_announced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/fresh.db");
    let out = suppress(path.to_str().unwrap(), &["migrate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("creating a new, empty one"));
    assert!(path.exists());
    let again = suppress(path.to_str().unwrap(), &["migrate"]);
    assert!(!text(&again.stderr).contains("creating a new"));

    let bad = suppress("mysql://root@localhost/suppress", &["migrate"]);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("unknown database URL scheme \"mysql\""), "{}", text(&bad.stderr));
}

/// A server process on the database, and the address it listens on.
fn start_server(db: &str) -> (Child, String) {
    start_server_with(db, &[])
}

/// A server process on the database with these environment variables set.
pub fn start_server_with(db: &str, env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_suppress"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("SUPPRESS_DATABASE_URL", db)
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("server exited before listening").unwrap();
        if let Some(rest) = line.split("listening addr=").nth(1) {
            break rest.trim().to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://{addr}"))
}

#[test]
fn an_opt_out_survives_a_kill_9_right_after_its_201() {
    let db = TestDb::new();
    let key = text(&suppress(&db.url, &["keys", "create", "--role", "agent", "--name", "k"]).stdout).trim().to_owned();
    let (mut server, base) = start_server(&db.url);
    for i in 0..20 {
        let resp = ureq::post(&format!("{base}/v1/opt-outs"))
            .set("Authorization", &format!("Bearer {key}"))
            .send_json(json!({"phone": format!("07912 {:06}", i), "channels": ["call"], "source": "call_centre"}))
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    let (mut server, base) = start_server(&db.url);
    for i in 0..20 {
        let p: serde_json::Value = ureq::get(&format!("{base}/v1/preferences?phone=07912{:06}", i))
            .set("Authorization", &format!("Bearer {key}"))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        assert_eq!(p["channels"]["call"]["state"], "opted_out", "number {i}");
    }
    server.kill().unwrap();
    let _ = server.wait();
}

/// A bulk load by another process while the server runs: its statements bind the server's next
/// checks (the in-memory index catches up), and on PostgreSQL the load leaves fresh planner
/// statistics, without which every catch-up read would scan the whole table.
#[test]
fn a_bulk_load_binds_the_running_server_at_once_and_leaves_statistics() {
    let app = TestApp::spawn();
    let numbers = ["07912 000001", "07912 000002", "07912 000003"];
    let sms = |n: &str| app.get(&format!("/v1/check?phone={}&channel=sms", n.replace(' ', "")), Some(&app.agent)).1;
    assert_eq!(sms(numbers[0])["allowed"], true);
    let dir = tempfile::tempdir().unwrap();
    let rows: String = numbers.iter().map(|n| format!("{n},sms,opt_out,2025-01-02,letter\n")).collect();
    let file = write_csv(&dir, "legacy.csv", &format!("phone,channel,kind,recorded_at,source\n{rows}"));
    let out = suppress(&app.db.url, &["import", "opt-outs", &file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for n in numbers {
        assert_eq!(sms(n)["reason"], "OPTED_OUT", "{n}");
    }
    let (s, b) = app.post("/v1/check", Some(&app.campaign), &json!({"channel": "sms", "phones": numbers}));
    assert_eq!(s, 200, "{b}");
    assert!(b["results"].as_array().unwrap().iter().all(|r| r["reason"] == "OPTED_OUT"), "{b}");
    if app.db.is_postgres() {
        use diesel::{Connection, RunQueryDsl};
        #[derive(diesel::QueryableByName)]
        struct Tuples {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut c = diesel::PgConnection::establish(&app.db.url).unwrap();
        let t: Vec<Tuples> =
            diesel::sql_query("SELECT reltuples::bigint AS n FROM pg_class WHERE relname = 'statements'").load(&mut c).unwrap();
        assert_eq!(t[0].n, 3, "the planner knows the rows the load wrote");
    }
}

/// CONTRACT §13: every request has an id, taken from `X-Request-Id` when usable or made, returned
/// in the response, and present in the log lines the request causes.
#[test]
fn every_request_has_an_id_in_its_answer_and_its_log_lines() {
    let db = TestDb::new();
    let key = text(&suppress(&db.url, &["keys", "create", "--role", "agent", "--name", "k"]).stdout).trim().to_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_suppress"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("SUPPRESS_DATABASE_URL", &db.url)
        .env("RUST_LOG", "debug")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("server exited before listening").unwrap();
        if let Some(rest) = line.split("listening addr=").nth(1) {
            break rest.trim().to_owned();
        }
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let base = format!("http://{addr}");
    let get = |id: Option<&str>| {
        let mut req = ureq::get(&format!("{base}/v1/check?phone=07912345678&channel=sms")).set("Authorization", &format!("Bearer {key}"));
        if let Some(id) = id {
            req = req.set("X-Request-Id", id);
        }
        req.call().unwrap().header("x-request-id").map(str::to_owned)
    };
    assert_eq!(get(Some("dialler-7.call:42")).as_deref(), Some("dialler-7.call:42"));
    let made = get(None).unwrap();
    assert!(made.len() == 16 && made.bytes().all(|b| b.is_ascii_hexdigit()), "{made}");
    // An id with text a log should not carry is replaced, not echoed.
    let replaced = get(Some("07912 345678")).unwrap();
    assert_ne!(replaced, "07912 345678");
    // An error answer carries it too.
    let err = ureq::get(&format!("{base}/v1/check?phone=1&channel=fax")).set("X-Request-Id", "bad-one").call().unwrap_err();
    match err {
        ureq::Error::Status(_, r) => assert_eq!(r.header("x-request-id"), Some("bad-one")),
        other => panic!("{other}"),
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen = Vec::new();
    while std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
            seen.push(line);
        }
        let has = |id: &str| seen.iter().any(|l| l.contains(&format!("request_id={id}")));
        if has("dialler-7.call:42") && has(&made) && has("bad-one") {
            break;
        }
    }
    child.kill().unwrap();
    let _ = child.wait();
    for id in ["dialler-7.call:42", made.as_str(), "bad-one"] {
        assert!(seen.iter().any(|l| l.contains(&format!("request_id={id}"))), "no log line with request_id={id}: {seen:#?}");
    }
    assert!(!seen.iter().any(|l| l.contains("07912 345678")), "a caller's id with a phone number reached the log");
}

#[test]
fn a_bulk_load_rejects_a_future_recorded_at_and_unkeepable_text() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    let tomorrow = suppress::domain::time::today_uk().succ_opt().unwrap();
    let csv = format!(
        "phone,channel,kind,recorded_at,evidence,note\n\
         07912 345678,call,opt_out,2025-01-02,,\n\
         07912 345678,call,consent,2099-01-01,legacy consent,\n\
         07912 345679,call,consent,{tomorrow} 00:00,legacy consent,\n\
         07912 345680,call,opt_out,2025-01-02,,asked\u{0}twice\n\
         07912 345681,call,opt_out,2025-01-02,,{}\n",
        "n".repeat(501)
    );
    let file = write_csv(&dir, "legacy.csv", &csv);
    let out = suppress(&app.db.url, &["import", "opt-outs", &file]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("line 3: recorded_at is in the future"), "{err}");
    assert!(err.contains("line 4: recorded_at is in the future"), "{err}");
    assert!(err.contains("line 5: note holds a control character"), "{err}");
    assert!(err.contains("line 6: note is 501 characters long; it may be at most 500"), "{err}");
    assert!(!err.contains("twice"), "file content is not echoed: {err}");

    let out = suppress(&app.db.url, &["import", "opt-outs", &file, "--skip-rejected", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["rows"].clone(), report["rejected"].clone(), report["statements"].clone()), (json!(5), json!(4), json!(1)));
    // The opt-out stays in force: no consent from the future outranks it.
    let (_, p) = app.get("/v1/preferences?phone=07912345678", Some(&app.agent));
    assert_eq!(p["channels"]["call"]["state"], "opted_out", "{p}");
    assert_eq!(p["history"].as_array().map(Vec::len), Some(1));
}

#[test]
fn a_key_name_with_control_characters_or_too_long_is_refused() {
    let app = TestApp::spawn();
    for name in ["desk\u{1b}[31m7", "desk\t7", &"d".repeat(201)] {
        let out = suppress(&app.db.url, &["keys", "create", "--role", "agent", "--name", name]);
        assert!(!out.status.success(), "{name:?}");
        assert!(out.stdout.is_empty());
        let err = text(&out.stderr);
        assert!(err.contains("--name"), "{err}");
    }
    let list = text(&suppress(&app.db.url, &["keys", "list"]).stdout);
    assert!(!list.contains("desk"), "{list}");
    assert!(suppress(&app.db.url, &["keys", "create", "--role", "agent", "--name", &"d".repeat(200)]).status.success());
}

#[test]
fn keys_create_makes_a_compliance_key_with_its_rights() {
    let app = TestApp::spawn();
    let out = suppress(&app.db.url, &["keys", "create", "--role", "compliance", "--name", "dpo"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = text(&out.stdout).trim().to_owned();
    assert_eq!(app.get("/v1/registers/tps/imports", Some(&key)).0, 200);
    assert_eq!(app.get("/v1/preferences?phone=07912345678", Some(&key)).0, 200);
    assert_eq!(app.post("/v1/opt-outs", Some(&key), &json!({"phone": "07912 345678", "source": "call_centre"})).0, 403);
    let list = text(&suppress(&app.db.url, &["keys", "list"]).stdout);
    assert!(list.lines().any(|l| l.starts_with("dpo") && l.contains("compliance")), "{list}");
}

/// A legacy load reads headers as a scrub does (CONTRACT §5: folded, with the same aliases), and
/// refuses two columns for one contact point rather than record a statement about a guessed one.
#[test]
fn a_bulk_load_reads_headers_as_a_scrub_does() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    let file = write_csv(
        &dir,
        "crm.csv",
        "Mobile Phone,E-mail,Channel,Kind,Recorded At,Source,Recorded-By\n\
         07912 100001,,sms,opt_out,2025-01-02,letter,j.smith\n\
         ,sam@example.com,email,opt_out,2025-01-02,web,\n",
    );
    let out = suppress(&app.db.url, &["import", "opt-outs", &file, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (_, p) = app.get("/v1/preferences?phone=07912100001", Some(&app.agent));
    assert_eq!(p["channels"]["sms"]["state"], "opted_out", "{p}");
    assert_eq!(p["history"][0]["recorded_by"], "j.smith", "{p}");
    let (_, p) = app.get("/v1/preferences?email=sam@example.com", Some(&app.agent));
    assert_eq!(p["channels"]["email"]["state"], "opted_out", "{p}");

    let file = write_csv(&dir, "two.csv", "Home Phone,Mobile Phone,kind,recorded_at\n07912 100002,07912 100003,opt_out,2025-01-02\n");
    let out = suppress(&app.db.url, &["import", "opt-outs", &file]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("Home Phone, Mobile Phone"), "{}", text(&out.stderr));
    assert_eq!(app.get("/v1/preferences?phone=07912100002", Some(&app.agent)).1["history"].as_array().unwrap().len(), 0);
}

/// An opt-out file whose quote never closes stops the load, even with --skip-rejected: the rows
/// after it are never swallowed into one rejected row and lost.
#[test]
fn a_bulk_load_with_an_unclosed_quote_loads_nothing() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("phone,channel,kind,recorded_at,note\n07912 100001,call,opt_out,2025-01-02,first\n");
    csv.push_str("07912 100002,call,opt_out,2025-01-02,\"never closed\n");
    for i in 3..60 {
        csv.push_str(&format!("07912 1000{i:02},call,opt_out,2025-01-02,later\n"));
    }
    let file = write_csv(&dir, "quote.csv", &csv);
    let out = suppress(&app.db.url, &["import", "opt-outs", &file, "--skip-rejected"]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("unclosed"), "{}", text(&out.stderr));
    for phone in ["07912100001", "07912100059"] {
        let (_, p) = app.get(&format!("/v1/preferences?phone={phone}"), Some(&app.agent));
        assert_eq!(p["history"].as_array().unwrap().len(), 0, "{phone}: {p}");
    }
}
