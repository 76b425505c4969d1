//! CONTRACT §4 and §8: register imports (CLI, HTTP, spool), their safety rules, `listed_since`,
//! and the registers as checks and preferences see them.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate};
use serde_json::{json, Value};

use crate::helpers::{error_code, TestApp, TestDb};

/// A TPS-layout number for index `i`: London 020 7946 xxxx and 020 3xxx xxxx ranges, alternating
/// the two layouts.
fn number(i: u32) -> String {
    let national = format!("020{:08}", 30_000_000 + i);
    if i % 2 == 0 {
        format!("{} {}", &national[..4], &national[4..])
    } else {
        format!("{national:<12}")
    }
}

fn e164(i: u32) -> String {
    format!("+4420{:08}", 30_000_000 + i)
}

fn full_file(numbers: impl Iterator<Item = u32>) -> String {
    numbers.map(|i| format!("{}\r\n", number(i))).collect()
}

fn suppress(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_suppress")).args(args).env("SUPPRESS_DATABASE_URL", db).output().unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

fn import_json(db: &str, args: &[&str]) -> Value {
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = suppress(db, &all);
    assert!(out.status.success(), "import {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Wait until the server serves the register at this as_of (it polls every second).
pub fn wait_for(app: &TestApp, register: &str, as_of: &str) {
    wait_for_as_of(app, register, &json!(as_of));
}

/// Wait until the server serves the register at this as_of (`null`: no snapshot).
fn wait_for_as_of(app: &TestApp, register: &str, as_of: &Value) {
    let start = Instant::now();
    loop {
        let (_, regs) = app.get("/v1/registers", Some(&app.admin));
        if regs.as_array().unwrap().iter().any(|r| r["name"] == register && &r["as_of"] == as_of) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the server did not load {register} {as_of} within 10 s: {regs}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn check(app: &TestApp, phone: &str, q: &str) -> Value {
    let (s, b) = app.get(&format!("/v1/check?phone={phone}&channel=call{q}"), Some(&app.agent));
    assert_eq!(s, 200, "{b}");
    b
}

fn today() -> NaiveDate {
    suppress::domain::time::today_uk()
}

/// TPS with numbers 0..100 and CTPS with 100..110, both dated today.
fn imported(app: &TestApp, dir: &Path) -> String {
    let as_of = today().to_string();
    let tps = write(dir, &format!("tps-{as_of}.txt"), &full_file(0..100));
    let ctps = write(dir, &format!("CTPS_{}.txt", today().format("%Y%m%d")), &full_file(100..110));
    let r = import_json(&app.db.url, &["tps", &tps]);
    assert_eq!((r["records"].as_u64(), r["added"].as_u64(), r["entries_after"].as_u64()), (Some(100), Some(100), Some(100)));
    assert_eq!(r["as_of"], as_of);
    assert_eq!(r["kind"], "full");
    assert_eq!(r["file_sha256"].as_str().unwrap().len(), 64);
    import_json(&app.db.url, &["ctps", &ctps]);
    wait_for(app, "tps", &as_of);
    wait_for(app, "ctps", &as_of);
    as_of
}

#[test]
fn a_full_import_makes_calls_answerable() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(check(&app, "020%203000%200005", "")["reason"], "REGISTER_STALE");
    let as_of = imported(&app, dir.path());

    let listed = check(&app, "020%203000%200005", "");
    assert_eq!((listed["allowed"].clone(), listed["reason"].clone()), (json!(false), json!("TPS")));
    assert_eq!(listed["binding_from"], Value::Null, "listed since the first import: binding");
    assert_eq!(check(&app, "%2B442030000105", "")["reason"], "CTPS");
    let free = check(&app, "020%203000%200500", "");
    assert_eq!((free["allowed"].clone(), free["reason"].clone()), (json!(true), Value::Null));
    // A non-UK number is never on TPS.
    assert_eq!(check(&app, "%2B12125550100", "")["allowed"], true);
    // An in-house opt-out comes first; a consent overrides TPS.
    app.opt_out(json!({"phone": "020 3000 0500", "channels": ["call"], "source": "call_centre"}));
    assert_eq!(check(&app, "02030000500", "")["reason"], "OPTED_OUT");
    let consent = json!({"phone": "020 3000 0006", "channels": ["call"], "source": "call_centre", "evidence": "recorded call"});
    assert_eq!(app.post("/v1/consents", Some(&app.agent), &consent).0, 201);
    let c = check(&app, "02030000006", "");
    assert_eq!((c["allowed"].clone(), c["reason"].clone()), (json!(true), json!("CONSENT_OVERRIDE")));

    // The registers, as a campaign sees them.
    let (s, regs) = app.get("/v1/registers", Some(&app.campaign));
    assert_eq!(s, 200);
    let tps = regs.as_array().unwrap().iter().find(|r| r["name"] == "tps").unwrap().clone();
    assert_eq!(tps["entries"], 100);
    assert_eq!(tps["channel"], "call");
    assert_eq!(tps["as_of"], as_of);
    assert_eq!(tps["valid_until"], (today() + Days::new(28)).to_string());
    assert_eq!(tps["stale"], false);
    let mps = regs.as_array().unwrap().iter().find(|r| r["name"] == "mps").unwrap().clone();
    assert_eq!((mps["as_of"].clone(), mps["stale"].clone()), (Value::Null, json!(true)));
    assert_eq!(app.get("/v1/registers", Some(&app.agent)).0, 403);

    // Past the lead time the snapshot no longer vouches: fail closed, naming what is needed.
    let late = (today() + Days::new(29)).to_string();
    let stale = check(&app, "02030000500", &format!("&date={late}"));
    assert_eq!(stale["reason"], "REGISTER_STALE");
    assert!(stale["detail"].as_str().unwrap().contains(&(today() + Days::new(1)).to_string()), "{stale}");

    // Preferences show the listing.
    let (_, p) = app.get("/v1/preferences?phone=02030000005", Some(&app.agent));
    assert_eq!(p["registers"][0]["name"], "tps");
    assert_eq!(p["registers"][0]["listed"], true);
    assert_eq!(p["registers"][1]["listed"], false);
}

#[test]
fn the_same_file_twice_is_a_no_op_and_an_older_file_is_refused() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "tps-2026-11-20.txt", &full_file(0..50));
    import_json(&app.db.url, &["tps", &file]);
    let again = import_json(&app.db.url, &["tps", &file]);
    assert_eq!(again["already_imported"], true);
    let text = String::from_utf8_lossy(&suppress(&app.db.url, &["import", "tps", &file]).stdout).into_owned();
    assert!(text.contains("imported before"), "{text}");

    let older = write(dir.path(), "tps-2026-11-19.txt", &full_file(0..51));
    let out = suppress(&app.db.url, &["import", "tps", &older]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("dated 2026-11-20; a file dated 2026-11-19 is older"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Over HTTP: 409.
    let (s, b) = app.raw("POST", "/v1/registers/tps/imports?as_of=2026-11-19", Some(&app.admin), Some("text/plain"), &full_file(0..51));
    assert_eq!(error_code(s, &b, 409), "register_older_as_of");
    // The same bytes dated later (a quiet night): applied, confirming the snapshot as of that date.
    let quiet = write(dir.path(), "tps-2026-11-21.txt", &full_file(0..50));
    let r = import_json(&app.db.url, &["tps", &quiet]);
    assert_eq!((r["already_imported"].clone(), r["added"].clone(), r["as_of"].clone()), (json!(false), json!(0), json!("2026-11-21")));
    // The same as_of is allowed.
    let same = write(dir.path(), "tps-20261121.txt", &full_file(0..52));
    assert_eq!(import_json(&app.db.url, &["tps", &same])["added"], 2);
    // No date anywhere: an error.
    let undated = write(dir.path(), "tps.txt", &full_file(0..52));
    let out = suppress(&app.db.url, &["import", "tps", &undated]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--as-of"));
}

/// A stored import report that is no longer JSON (a damaged database, an edit by hand) is an
/// error naming its row: a 500 for the history, never a `null` report; a refusal for the import
/// that would read it.
#[test]
fn a_corrupt_stored_report_is_an_error_not_null() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "tps-2026-11-20.txt", &full_file(0..50));
    import_json(&app.db.url, &["tps", &file]);
    let (s, h) = app.get("/v1/registers/tps/imports", Some(&app.admin));
    assert_eq!(s, 200, "{h}");
    let id = h["imports"][0]["id"].as_i64().unwrap();
    let mut conn = app.store.conn().unwrap();
    diesel::connection::SimpleConnection::batch_execute(
        &mut *conn,
        &format!("UPDATE register_imports SET report = 'not json' WHERE id = {id}"),
    )
    .unwrap();
    let (s, h) = app.get("/v1/registers/tps/imports", Some(&app.admin));
    assert_eq!(error_code(s, &h, 500), "internal");
    let out = suppress(&app.db.url, &["import", "tps", &file]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("the report stored in register_imports row {id} is not valid JSON")), "{err}");
}

#[test]
fn truncated_corrupt_and_shrinking_files_change_nothing() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    import_json(&app.db.url, &["tps", &write(dir.path(), "tps-2026-11-20.txt", &full_file(0..300))]);

    // Cut mid-record.
    let mut cut = full_file(0..300);
    cut.truncate(cut.len() - 8);
    let out = suppress(&app.db.url, &["import", "tps", &write(dir.path(), "tps-2026-11-21.txt", &cut)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ends mid-record"), "{}", String::from_utf8_lossy(&out.stderr));

    // A third of its lines: more than 10% removed.
    let out = suppress(&app.db.url, &["import", "tps", &write(dir.path(), "tps-2026-11-22.txt", &full_file(0..100))]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("would remove 200 of 300"), "{}", String::from_utf8_lossy(&out.stderr));

    // More than 1% of records rejected: corrupt, with the lines named.
    let mut bad = full_file(0..300);
    bad.push_str("hello\r\nworld\r\n0207 946 00\r\n12345678901 \r\n");
    let out = suppress(&app.db.url, &["import", "tps", &write(dir.path(), "tps-2026-11-23.txt", &bad)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("corrupt") && err.contains("line 301"), "{err}");

    // Nothing changed: the register is the first snapshot.
    let heads = suppress::store::registers::heads(&mut app.store.conn().unwrap()).unwrap();
    assert_eq!((heads[0].entries, heads[0].as_of), (300, date("2026-11-20")));
    // Every attempt is in the history, failed ones with their reason.
    let (_, h) = app.get("/v1/registers/tps/imports", Some(&app.admin));
    let statuses: Vec<&str> = h["imports"].as_array().unwrap().iter().map(|i| i["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["failed", "failed", "failed", "applied"]);
    assert!(h["imports"][0]["error"].as_str().unwrap().contains("corrupt"));

    // A few bad records (≤ 1%) are reported and the rest imported; --force applies a real shrink.
    let mut few = full_file(0..300);
    few.push_str("hello\r\n");
    let r = import_json(&app.db.url, &["tps", &write(dir.path(), "tps-2026-11-24.txt", &few)]);
    assert_eq!((r["rejected"].as_u64(), r["rejected_samples"][0]["line"].as_u64()), (Some(1), Some(301)));
    let r = import_json(&app.db.url, &["tps", &write(dir.path(), "tps-2026-11-25.txt", &full_file(0..100)), "--force"]);
    assert_eq!((r["removed"].as_u64(), r["entries_after"].as_u64()), (Some(200), Some(100)));
}

#[test]
fn listed_since_comes_from_the_sequence_of_imports() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    // Three nights ending 26 days ago, so that a listing of the second binds tomorrow (a check's
    // date cannot be in the past).
    let night = |n: u64| (today() - Days::new(29 - n)).to_string();
    let (d1, d2, d3) = (night(1), night(2), night(3));
    let (binding, grace) = ((today() + Days::new(1)).to_string(), today().to_string());
    import_json(&app.db.url, &["tps", &write(dir.path(), &format!("tps-{d1}.txt"), &full_file(0..20))]);
    import_json(&app.db.url, &["ctps", &write(dir.path(), &format!("ctps-{d1}.txt"), &full_file(100..101))]);
    // Next night: 20 and 21 added, 0 removed.
    let r = import_json(&app.db.url, &["tps", &write(dir.path(), &format!("tps-{d2}.txt"), &full_file(1..22))]);
    assert_eq!((r["added"].as_u64(), r["removed"].as_u64(), r["unchanged"].as_u64()), (Some(2), Some(1), Some(19)));
    // A change file: 0 back (listed again: starts again), 5 removed, 21 already listed.
    let delta = format!("A {}\r\nD {}\r\nA {}\r\n", number(0), number(5), number(21));
    let r = import_json(&app.db.url, &["tps", &write(dir.path(), &format!("tps-{d3}-delta.txt"), &delta), "--delta"]);
    assert_eq!(
        (r["kind"].as_str(), r["added"].as_u64(), r["removed"].as_u64(), r["unchanged"].as_u64()),
        (Some("delta"), Some(1), Some(1), Some(1))
    );
    assert_eq!(r["entries_after"], 21);
    import_json(&app.db.url, &["ctps", &write(dir.path(), &format!("ctps-{d3}.txt"), &full_file(100..101))]);
    wait_for(&app, "tps", &d3);
    wait_for(&app, "ctps", &d3);

    let entry = |i: u32| -> Value {
        let (_, p) = app.get(&format!("/v1/preferences?phone={}", e164(i).replace('+', "%2B")), Some(&app.agent));
        p["registers"][0].clone()
    };
    assert_eq!(entry(1)["listed_since"], Value::Null); // since the first import
    assert_eq!(entry(20)["listed_since"], d2); // the day after the first snapshot
    assert_eq!(entry(20)["binding_from"], binding); // + 28 days
    assert_eq!(entry(0)["listed_since"], d3); // removed on the second night, listed again
    assert_eq!(entry(5)["listed"], false);

    // Statutory mode: not binding before binding_from.
    let q = |d: &str| check(&app, &e164(20).replace('+', "%2B"), &format!("&mode=statutory&date={d}"));
    let in_grace = q(&grace);
    assert_eq!(
        (in_grace["allowed"].clone(), in_grace["reason"].clone(), in_grace["binding_from"].clone()),
        (json!(true), json!("TPS_GRACE"), json!(binding))
    );
    assert_eq!(q(&binding)["reason"], "TPS");
    // Strict mode: suppressed at once.
    assert_eq!(check(&app, &e164(20).replace('+', "%2B"), &format!("&date={grace}"))["reason"], "TPS");
    // A change file for a register with no snapshot is refused.
    let out = suppress(&app.db.url, &["import", "ctps", &write(dir.path(), "x.txt", &delta), "--delta", "--as-of", &d3]);
    assert!(out.status.success(), "ctps has a snapshot: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn http_imports_are_admin_only_streamed_and_reported() {
    let app = TestApp::spawn_with(|s| s.max_upload_bytes = 20_000);
    let body = full_file(0..1000);
    assert!(body.len() < 20_000);
    let (s, b) = app.raw("POST", "/v1/registers/tps/imports?as_of=2026-11-24", Some(&app.campaign), Some("text/plain"), &body);
    assert_eq!(error_code(s, &b, 403), "forbidden");
    let (s, r) =
        app.raw("POST", "/v1/registers/tps/imports?as_of=2026-11-24&kind=full", Some(&app.admin), Some("application/octet-stream"), &body);
    assert_eq!(s, 201, "{r}");
    assert_eq!((r["records"].as_u64(), r["entries_after"].as_u64()), (Some(1000), Some(1000)));
    // Served at once by this instance.
    let (_, regs) = app.get("/v1/registers", Some(&app.admin));
    assert_eq!(regs[0]["entries"], 1000);
    // Again: 200, already imported.
    let (s, r) = app.raw("POST", "/v1/registers/tps/imports?as_of=2026-11-24", Some(&app.admin), Some("text/plain"), &body);
    assert_eq!((s, r["already_imported"].clone()), (200, json!(true)));
    // Too large, corrupt, missing as_of, unknown register, unknown kind, MPS not built.
    let (s, b) = app.raw("POST", "/v1/registers/tps/imports?as_of=2026-11-25", Some(&app.admin), Some("text/plain"), &full_file(0..2000));
    assert_eq!(error_code(s, &b, 413), "body_too_large");
    let (s, b) =
        app.raw("POST", "/v1/registers/ctps/imports?as_of=2026-11-25", Some(&app.admin), Some("text/plain"), "junk\r\nmore junk\r\n");
    assert_eq!(error_code(s, &b, 422), "register_file_corrupt");
    assert_eq!(b["error"]["details"]["report"]["rejected_samples"][1]["line"], 2);
    let (s, b) = app.raw("POST", "/v1/registers/tps/imports", Some(&app.admin), Some("text/plain"), &body);
    assert_eq!(error_code(s, &b, 400), "invalid_query");
    let (s, b) = app.raw("POST", "/v1/registers/fax/imports?as_of=2026-11-25", Some(&app.admin), Some("text/plain"), &body);
    assert_eq!(error_code(s, &b, 404), "not_found");
    let (s, b) = app.raw("POST", "/v1/registers/tps/imports?as_of=2026-11-25&kind=partial", Some(&app.admin), Some("text/plain"), &body);
    assert_eq!(error_code(s, &b, 422), "invalid_kind");
    let (s, b) = app.raw(
        "POST",
        "/v1/registers/ctps/imports?as_of=2026-11-25&kind=delta",
        Some(&app.admin),
        Some("text/plain"),
        "A 0207 9460000\r\n",
    );
    assert_eq!(error_code(s, &b, 409), "register_missing");
    let (s, b) = app.raw(
        "POST",
        "/v1/registers/mps/imports?as_of=2026-11-25&kind=delta",
        Some(&app.admin),
        Some("text/csv"),
        "postcode\nSW1A 1AA\n",
    );
    assert_eq!(error_code(s, &b, 422), "invalid_kind");
}

#[test]
fn the_spool_imports_in_date_order_and_files_each_away() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path();
    write(spool, "tps-2026-11-02-delta.txt", &format!("A {}\r\n", number(50)));
    write(spool, "tps-2026-11-01.txt", &full_file(0..10));
    write(spool, "tps-2026-11-02.txt", &full_file(0..11));
    write(spool, "ctps-2026-11-01.txt", "rubbish\r\n");
    write(spool, "readme.md", "not a register file");
    let out = suppress(&app.db.url, &["import", "--spool", spool.to_str().unwrap()]);
    assert!(!out.status.success(), "one file failed, so the run fails");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines[0].starts_with("FAILED ctps-2026-11-01.txt") || lines[0].starts_with("ok     tps-2026-11-01.txt"), "{stdout}");
    assert!(lines[2].starts_with("ok     tps-2026-11-02.txt"), "{stdout}");
    assert!(lines[3].starts_with("ok     tps-2026-11-02-delta.txt"), "{stdout}");
    for f in ["tps-2026-11-01.txt", "tps-2026-11-02.txt", "tps-2026-11-02-delta.txt"] {
        assert!(spool.join("done").join(f).exists(), "{f}");
    }
    assert!(spool.join("failed/ctps-2026-11-01.txt").exists());
    let error = std::fs::read_to_string(spool.join("failed/ctps-2026-11-01.txt.error")).unwrap();
    assert!(error.contains("corrupt"), "{error}");
    assert!(spool.join("readme.md").exists());
    let heads = suppress::store::registers::heads(&mut app.store.conn().unwrap()).unwrap();
    assert_eq!((heads[0].entries, heads[0].as_of), (12, date("2026-11-02")));
}

/// The register's stored snapshot, decoded: (entries in the head, numbers in the blob).
fn stored(app: &TestApp, register: &str) -> (i64, usize) {
    let (head, bytes) = suppress::store::registers::numbers(&mut app.store.conn().unwrap(), register).unwrap().unwrap();
    (head.entries, suppress::registers::codec::decode(&bytes).expect("the snapshot decodes whole").len())
}

#[test]
fn a_kill_9_during_an_import_leaves_a_whole_snapshot_and_the_file_imports_after() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    import_json(&app.db.url, &["tps", &write(dir.path(), "tps-2026-11-01.txt", &full_file(0..1000))]);
    let big = write(dir.path(), "tps-2026-11-02.txt", &full_file(0..400_000));
    for delay_ms in [50, 200, 400, 700, 1000] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_suppress"))
            .args(["import", "tps", &big, "--force"])
            .env("SUPPRESS_DATABASE_URL", &app.db.url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let (entries, decoded) = stored(&app, "tps");
        assert_eq!(entries as usize, decoded, "head and blob disagree after a kill at {delay_ms} ms");
        assert!(decoded == 1000 || decoded == 400_000, "a half-applied snapshot ({decoded}) after a kill at {delay_ms} ms");
    }
    // The same file then imports cleanly (or says it already did, if a kill came after the commit).
    let r = import_json(&app.db.url, &["tps", &big, "--force"]);
    assert_eq!(r["entries_after"], 400_000);
    assert_eq!(stored(&app, "tps"), (400_000, 400_000));
}

#[test]
fn an_import_does_not_hold_up_agents_or_diallers() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    import_json(&app.db.url, &["tps", &write(dir.path(), "tps-2026-11-01.txt", &full_file(0..1000))]);
    let body = full_file(0..300_000);
    let importing = std::sync::atomic::AtomicBool::new(true);
    let (import_status, during) = std::thread::scope(|s| {
        let import = s.spawn(|| {
            let r = app.raw("POST", "/v1/registers/tps/imports?as_of=2026-11-02&force=true", Some(&app.admin), Some("text/plain"), &body);
            importing.store(false, std::sync::atomic::Ordering::SeqCst);
            r.0
        });
        let worker = s.spawn(|| {
            let mut answered_during_import = 0;
            let mut i = 0;
            while importing.load(std::sync::atomic::Ordering::SeqCst) || i < 20 {
                let (s1, b1) =
                    app.post("/v1/opt-outs", Some(&app.agent), &json!({"phone": format!("07912 {:06}", i), "source": "call_centre"}));
                assert_eq!(s1, 201, "an opt-out failed during the import: {b1}");
                let (s2, b2) = app.get(&format!("/v1/check?phone=07912{:06}&channel=sms", i), Some(&app.agent));
                assert_eq!((s2, b2["reason"].clone()), (200, json!("OPTED_OUT")), "a check failed during the import: {b2}");
                if importing.load(std::sync::atomic::Ordering::SeqCst) {
                    answered_during_import += 1;
                }
                i += 1;
            }
            answered_during_import
        });
        (import.join().unwrap(), worker.join().unwrap())
    });
    assert_eq!(import_status, 201);
    assert!(during > 0, "no request was answered while the import ran");
}

fn sample(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("imports/sample").join(name).to_string_lossy().into_owned()
}

fn mps_entry(app: &TestApp, query: &str) -> Value {
    let (s, p) = app.get(&format!("/v1/preferences?{query}"), Some(&app.agent));
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["registers"][0]["name"], "mps");
    p["registers"][0].clone()
}

#[test]
fn mps_files_in_both_layouts() {
    let app = TestApp::spawn();
    let r = import_json(&app.db.url, &["mps", &sample("mps-2026-11-23.dat")]);
    assert_eq!((r["records"].as_u64(), r["entries_after"].as_u64(), r["rejected"].as_u64()), (Some(3), Some(3), Some(0)));
    wait_for(&app, "mps", "2026-11-23");
    // An individual entry: that person, by any spelling of the address.
    let bloggs = mps_entry(&app, "postcode=sw1a1aa&premise=2/10&surname=Bloggs");
    assert_eq!((bloggs["listed"].clone(), bloggs["listed_since"].clone()), (json!(true), json!("2026-09-01")));
    assert_eq!(bloggs["binding_from"], "2026-12-01"); // + 3 calendar months
    assert_eq!(mps_entry(&app, "postcode=SW1A%201AA&premise=2/10&surname=Smith")["listed"], false);
    assert_eq!(mps_entry(&app, "postcode=M1%201AE&premise=23&surname=SMITH")["deceased"], true);
    assert_eq!(mps_entry(&app, "postcode=M1%201AE&premise=23A&surname=SMITH")["listed"], false);

    // The CSV layout, as the next full file: a household entry covers everyone there.
    let dir = tempfile::tempdir().unwrap();
    let csv = std::fs::read_to_string(sample("mps-2026-11-24.csv")).unwrap();
    let out = suppress(&app.db.url, &["import", "mps", &write(dir.path(), "mps-2026-11-24.csv", &csv)]);
    assert!(!out.status.success(), "it would remove 3 of 3 entries");
    assert!(String::from_utf8_lossy(&out.stderr).contains("would remove 3 of 3"));
    let r = import_json(&app.db.url, &["mps", &write(dir.path(), "mps-2026-11-24.csv", &csv), "--force"]);
    assert_eq!((r["added"].as_u64(), r["removed"].as_u64(), r["entries_after"].as_u64()), (Some(2), Some(3), Some(2)));
    wait_for(&app, "mps", "2026-11-24");
    for surname in ["Brown", "Jones"] {
        let e = mps_entry(&app, &format!("postcode=YO1%207HH&premise=The%20Old%20Mill&surname={surname}"));
        assert_eq!((e["listed"].clone(), e["listed_since"].clone()), (json!(true), json!("2026-11-20")), "{surname}");
    }
    assert_eq!(mps_entry(&app, "postcode=CF10%201AA&premise=2B/10&surname=jones")["listed"], true);
    assert_eq!(mps_entry(&app, "postcode=SW1A%201AA&premise=2/10&surname=Bloggs")["listed"], false);
    let (_, regs) = app.get("/v1/registers", Some(&app.admin));
    let mps = regs.as_array().unwrap().iter().find(|r| r["name"] == "mps").unwrap().clone();
    assert_eq!(
        (mps["entries"].clone(), mps["lead_time"].clone(), mps["valid_until"].clone()),
        (json!(2), json!("3 months"), json!("2027-02-24"))
    );
    // No change files for MPS.
    let out = suppress(&app.db.url, &["import", "mps", &write(dir.path(), "mps-2026-11-25.csv", &csv), "--delta"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("MPS files are full files"));
}

#[test]
fn lead_times_are_configurable() {
    use suppress::domain::channel::LeadTime;
    use suppress::domain::Register;
    let app = TestApp::spawn_with(|s| {
        s.lead_times.insert(Register::Tps, LeadTime::Days(14));
    });
    let dir = tempfile::tempdir().unwrap();
    // Two nights ending 14 days ago: the second night's listing binds today.
    let (d1, d2) = ((today() - Days::new(15)).to_string(), (today() - Days::new(14)).to_string());
    let day = |n: u64| (today() + Days::new(n)).to_string();
    import_json(&app.db.url, &["tps", &write(dir.path(), &format!("tps-{d1}.txt"), &full_file(0..10))]);
    import_json(&app.db.url, &["ctps", &write(dir.path(), &format!("ctps-{d1}.txt"), &full_file(100..101))]);
    import_json(&app.db.url, &["tps", &write(dir.path(), &format!("tps-{d2}.txt"), &full_file(0..11))]);
    wait_for(&app, "tps", &d2);
    wait_for(&app, "ctps", &d1);
    let (_, regs) = app.get("/v1/registers", Some(&app.admin));
    assert_eq!((regs[0]["lead_time"].clone(), regs[0]["valid_until"].clone()), (json!("14 days"), json!(day(0))));
    assert_eq!(regs[1]["valid_until"], day(13), "CTPS keeps its default");
    // Listed since the second night (the day after the first snapshot): binding 14 days later.
    assert_eq!(check(&app, &e164(10).replace('+', "%2B"), &format!("&date={}", day(0)))["binding_from"], day(0));
    assert_eq!(check(&app, &e164(10).replace('+', "%2B"), &format!("&date={}", day(1)))["reason"], "REGISTER_STALE");
}

/// The import history of a register as (kind, status) pairs, newest first.
fn history(app: &TestApp, register: &str) -> Vec<(String, String)> {
    let (s, h) = app.get(&format!("/v1/registers/{register}/imports"), Some(&app.admin));
    assert_eq!(s, 200, "{h}");
    h["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["kind"].as_str().unwrap().to_owned(), i["status"].as_str().unwrap().to_owned()))
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn a_date_after_tomorrow_is_refused_and_recorded_and_today_s_file_then_imports() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    let body = full_file(0..50);
    let (s, b) = app.raw("POST", "/v1/registers/tps/imports?as_of=2999-12-31", Some(&app.admin), Some("text/plain"), &body);
    assert_eq!(error_code(s, &b, 422), "register_future_as_of");
    assert_eq!(b["error"]["details"]["latest_as_of"], (today() + Days::new(1)).to_string());
    // By the CLI: --as-of, and a date taken from the file name.
    let out = suppress(&app.db.url, &["import", "tps", &write(dir.path(), "tps.txt", &body), "--as-of", "2999-12-31"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("after tomorrow"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = suppress(&app.db.url, &["import", "tps", &write(dir.path(), "tps-2999-12-31.txt", &body)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("after tomorrow"), "{}", String::from_utf8_lossy(&out.stderr));
    // Nothing applied; every refusal in the history.
    assert!(suppress::store::registers::heads(&mut app.store.conn().unwrap()).unwrap().is_empty());
    assert_eq!(history(&app, "tps"), pairs(&[("full", "failed"), ("full", "failed"), ("full", "failed")]));
    // Today's file imports; tomorrow's date is still allowed (a file sent the evening before).
    let r = import_json(&app.db.url, &["tps", &write(dir.path(), &format!("tps-{}.txt", today()), &body)]);
    assert_eq!(r["entries_after"], 50);
    let tomorrow = (today() + Days::new(1)).to_string();
    let (s, b) = app.raw("POST", &format!("/v1/registers/ctps/imports?as_of={tomorrow}"), Some(&app.admin), Some("text/plain"), &body);
    assert_eq!(s, 201, "{b}");
}

#[test]
fn a_wrongly_dated_import_is_undone_and_the_right_file_then_imports() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    let (day1, day2, tomorrow) = (today() - Days::new(2), today() - Days::new(1), today() + Days::new(1));
    import_json(&app.db.url, &["tps", &write(dir.path(), &format!("tps-{day1}.txt"), &full_file(0..100))]);
    import_json(&app.db.url, &["ctps", &write(dir.path(), &format!("ctps-{day1}.txt"), &full_file(500..501))]);
    // The next night adds 100..105 (listed since day2).
    import_json(&app.db.url, &["tps", &write(dir.path(), &format!("tps-{day2}.txt"), &full_file(0..105))]);
    // Today's file, sent with tomorrow's date: it drops 95..100 and 103, and adds 200..205.
    let wrong = full_file((0..95).chain([100, 101, 102, 104]).chain(200..205));
    let (s, r) = app.raw("POST", &format!("/v1/registers/tps/imports?as_of={tomorrow}"), Some(&app.admin), Some("text/plain"), &wrong);
    assert_eq!(s, 201, "{r}");
    let wrong_id = app.get("/v1/registers/tps/imports", Some(&app.admin)).1["imports"][0]["id"].as_i64().unwrap();
    // The right file for today is now older than the register: refused.
    let right = full_file((0..95).chain([100, 101, 102, 104]).chain(300..302));
    let (s, b) = app.raw("POST", &format!("/v1/registers/tps/imports?as_of={}", today()), Some(&app.admin), Some("text/plain"), &right);
    assert_eq!(error_code(s, &b, 409), "register_older_as_of");

    // Undo: admin only.
    for key in [&app.campaign, &app.agent] {
        let (s, b) = app.post("/v1/registers/tps/undo", Some(key), &json!({}));
        assert_eq!(error_code(s, &b, 403), "forbidden");
    }
    let (s, u) = app.post("/v1/registers/tps/undo", Some(&app.admin), &json!({}));
    assert_eq!(s, 200, "{u}");
    assert_eq!(
        (u["undone_import"].as_i64(), u["as_of"].clone(), u["entries_after"].clone()),
        (Some(wrong_id), json!(day2.to_string()), json!(105))
    );
    assert_eq!((u["added"].clone(), u["removed"].clone()), (json!(6), json!(5)));
    // The server answers from the restored snapshot, listings as they were.
    let (_, regs) = app.get("/v1/registers", Some(&app.admin));
    assert_eq!(regs[0]["as_of"], day2.to_string());
    assert_eq!(check(&app, &e164(97).replace('+', "%2B"), "")["reason"], "TPS");
    assert_eq!(check(&app, &e164(202).replace('+', "%2B"), "")["allowed"], true);
    let (_, p) = app.get(&format!("/v1/preferences?phone={}", e164(103).replace('+', "%2B")), Some(&app.agent));
    assert_eq!((p["registers"][0]["listed"].clone(), p["registers"][0]["listed_since"].clone()), (json!(true), json!(day2.to_string())));
    let (_, p) = app.get(&format!("/v1/preferences?phone={}", e164(202).replace('+', "%2B")), Some(&app.agent));
    assert_eq!(p["registers"][0]["listed"], false);

    // The right file is judged against the restored snapshot: applied.
    let (s, r) = app.raw("POST", &format!("/v1/registers/tps/imports?as_of={}", today()), Some(&app.admin), Some("text/plain"), &right);
    assert_eq!(s, 201, "{r}");
    assert_eq!((r["added"].clone(), r["removed"].clone()), (json!(2), json!(6)));
    let (_, p) = app.get(&format!("/v1/preferences?phone={}", e164(300).replace('+', "%2B")), Some(&app.agent));
    assert_eq!(p["registers"][0]["listed_since"], today().to_string(), "listed since the day after the restored day2 snapshot");
    // The history keeps it all: the undo beside the import it undid, which stays listed, undone.
    assert_eq!(
        history(&app, "tps"),
        pairs(&[
            ("full", "applied"),
            ("undo", "applied"),
            ("full", "failed"),
            ("full", "undone"),
            ("full", "applied"),
            ("full", "applied")
        ])
    );
    let (_, h) = app.get("/v1/registers/tps/imports", Some(&app.admin));
    assert_eq!(h["imports"][1]["undoes"].as_i64(), Some(wrong_id));
    assert_eq!(h["imports"][1]["report"]["undone_as_of"], tomorrow.to_string());

    // By the CLI, back to the start and past it: the register is then never imported.
    let undo = |json: bool| {
        let mut args = vec!["import", "undo", "tps"];
        if json {
            args.push("--json");
        }
        suppress(&app.db.url, &args)
    };
    let out = undo(false);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("dated {day2}, is in force again")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = undo(true);
    let u: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((u["as_of"].clone(), u["entries_after"].clone()), (json!(day1.to_string()), json!(100)));
    wait_for(&app, "tps", &day1.to_string());
    assert_eq!(check(&app, &e164(103).replace('+', "%2B"), "")["allowed"], true);
    assert_eq!(check(&app, &e164(99).replace('+', "%2B"), "")["reason"], "TPS");
    let out = undo(false);
    assert!(String::from_utf8_lossy(&out.stdout).contains("never imported"), "{}", String::from_utf8_lossy(&out.stdout));
    wait_for_as_of(&app, "tps", &Value::Null);
    let c = check(&app, &e164(5).replace('+', "%2B"), "");
    assert_eq!(c["reason"], "REGISTER_STALE", "fails closed: {c}");
    assert!(c["detail"].as_str().unwrap().contains("no tps snapshot"), "{c}");
    // Nothing left to undo: 409, and the CLI says so.
    let out = undo(false);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no applied import to undo"), "{}", String::from_utf8_lossy(&out.stderr));
    let (s, b) = app.post("/v1/registers/tps/undo", Some(&app.admin), &json!({}));
    assert_eq!(error_code(s, &b, 409), "nothing_to_undo");
    let (s, b) = app.post("/v1/registers/fax/undo", Some(&app.admin), &json!({}));
    assert_eq!(error_code(s, &b, 404), "not_found");
    // A first import again: listed since unknown.
    let r = import_json(&app.db.url, &["tps", &write(dir.path(), &format!("tps-{}.txt", today()), &right)]);
    assert_eq!(r["entries_after"], 101);
}

/// An import whose recorded changes cannot rebuild the snapshot before it (one made before
/// imports recorded them) is refused as a conflict, and nothing changes.
#[test]
fn an_import_whose_changes_were_not_recorded_cannot_be_undone() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    let (day1, day2) = (today() - Days::new(2), today() - Days::new(1));
    import_json(&app.db.url, &["tps", &write(dir.path(), &format!("tps-{day1}.txt"), &full_file(0..100))]);
    import_json(&app.db.url, &["tps", &write(dir.path(), &format!("tps-{day2}.txt"), &full_file(0..105))]);
    wait_for(&app, "tps", &day2.to_string());
    let latest = app.get("/v1/registers/tps/imports", Some(&app.admin)).1["imports"][0]["id"].as_i64().unwrap();
    let mut conn = app.store.conn().unwrap();
    diesel::connection::SimpleConnection::batch_execute(&mut *conn, &format!("DELETE FROM register_changes WHERE import_id = {latest}"))
        .unwrap();
    let (s, b) = app.post("/v1/registers/tps/undo", Some(&app.admin), &json!({}));
    assert_eq!(error_code(s, &b, 409), "cannot_undo");
    assert_eq!(b["error"]["details"]["import"].as_i64(), Some(latest), "{b}");
    let (_, regs) = app.get("/v1/registers", Some(&app.admin));
    assert_eq!((regs[0]["as_of"].clone(), regs[0]["entries"].clone()), (json!(day2.to_string()), json!(105)));
    assert_eq!(history(&app, "tps"), pairs(&[("full", "applied"), ("full", "applied")]));
}

#[test]
fn an_mps_undo_restores_listed_since_and_deceased() {
    let app = TestApp::spawn();
    import_json(&app.db.url, &["mps", &sample("mps-2026-11-23.dat")]);
    let dir = tempfile::tempdir().unwrap();
    let csv = std::fs::read_to_string(sample("mps-2026-11-24.csv")).unwrap();
    import_json(&app.db.url, &["mps", &write(dir.path(), "mps-2026-11-24.csv", &csv), "--force"]);
    wait_for(&app, "mps", "2026-11-24");
    assert_eq!(mps_entry(&app, "postcode=SW1A%201AA&premise=2/10&surname=Bloggs")["listed"], false);
    let (s, u) = app.post("/v1/registers/mps/undo", Some(&app.admin), &json!({}));
    assert_eq!(s, 200, "{u}");
    assert_eq!((u["as_of"].clone(), u["entries_after"].clone()), (json!("2026-11-23"), json!(3)));
    let bloggs = mps_entry(&app, "postcode=sw1a1aa&premise=2/10&surname=Bloggs");
    assert_eq!((bloggs["listed"].clone(), bloggs["listed_since"].clone()), (json!(true), json!("2026-09-01")));
    assert_eq!(mps_entry(&app, "postcode=M1%201AE&premise=23&surname=SMITH")["deceased"], true);
    assert_eq!(mps_entry(&app, "postcode=CF10%201AA&premise=2B/10&surname=jones")["listed"], false);
    // The same CSV imports again after its undo (the undone import no longer holds the file).
    let r = import_json(&app.db.url, &["mps", &write(dir.path(), "mps-2026-11-24.csv", &csv), "--force"]);
    assert_eq!((r["already_imported"].clone(), r["added"].clone()), (json!(false), json!(2)));
}

#[test]
fn an_mps_csv_with_an_unknown_header_is_refused_recorded_and_not_echoed() {
    let app = TestApp::spawn();
    // A file that lost its header: its first row is taken for one, and holds a person's address.
    let body = "SW1A 2AA postcode,Smithers,10 Downing Street\nSW1A 1AA,Bloggs,2/10 High St\n";
    let (s, b) = app.raw("POST", "/v1/registers/mps/imports?as_of=2026-11-24", Some(&app.admin), Some("text/csv"), body);
    assert_eq!(error_code(s, &b, 422), "register_file_unreadable");
    let message = b["error"]["message"].as_str().unwrap();
    assert!(message.contains("column 1"), "{message}");
    for secret in ["SW1A", "Smithers", "Downing"] {
        assert!(!b.to_string().contains(secret), "the error echoes file content: {b}");
    }
    // No postcode column at all.
    let (s, b) = app.raw(
        "POST",
        "/v1/registers/mps/imports?as_of=2026-11-24",
        Some(&app.admin),
        Some("text/csv"),
        "surname,postcode_x,flag\nBloggs,x,P\n",
    );
    assert_eq!(error_code(s, &b, 422), "register_file_unreadable");
    let (_, h) = app.get("/v1/registers/mps/imports", Some(&app.admin));
    let imports = h["imports"].as_array().unwrap();
    assert_eq!(imports.len(), 2, "{h}");
    assert!(imports.iter().all(|i| i["status"] == "failed"));
    assert!(!h.to_string().contains("Smithers"), "{h}");
}

#[test]
fn the_same_file_imported_twice_at_once_is_applied_once_and_both_are_recorded() {
    let app = TestApp::spawn();
    let body = full_file(0..200_000);
    for round in 0..3 {
        let as_of = (today() - Days::new(5 - round)).to_string();
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let runs: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        let (st, b) = app.raw(
                            "POST",
                            &format!("/v1/registers/tps/imports?as_of={as_of}&force=true"),
                            Some(&app.admin),
                            Some("text/plain"),
                            &body,
                        );
                        assert!(st == 200 || st == 201 || st == 409, "{st}: {b}");
                        st
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "one applied: {statuses:?}");
    }
    let h = history(&app, "tps");
    assert_eq!(h.len(), 6, "every attempt recorded: {h:?}");
    assert_eq!(h.iter().filter(|(_, s)| s == "applied").count(), 3, "{h:?}");
}

#[test]
fn rejected_samples_keep_a_short_text_of_a_huge_line() {
    let app = TestApp::spawn();
    let mut body = full_file(0..300);
    body.push_str(&"7".repeat(2_000_000));
    body.push_str("\r\n");
    let (s, r) = app.raw("POST", "/v1/registers/tps/imports?as_of=2026-11-24", Some(&app.admin), Some("text/plain"), &body);
    assert_eq!(s, 201, "{r}");
    assert_eq!((r["rejected"].clone(), r["rejected_samples"][0]["line"].clone()), (json!(1), json!(301)));
    assert_eq!(r["rejected_samples"][0]["text"].as_str().unwrap().len(), 200);
    let (_, h) = app.get("/v1/registers/tps/imports", Some(&app.admin));
    assert!(h.to_string().len() < 10_000, "the history holds the whole line");
}

#[test]
fn the_spool_skips_links_and_leaves_them_in_place() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let outside = write(dir.path(), "secrets.txt", "api_password=hunter2\n");
    std::os::unix::fs::symlink(&outside, spool.join("tps-2026-11-01.txt")).unwrap();
    write(&spool, "ctps-2026-11-01.txt", &full_file(0..10));
    let out = suppress(&app.db.url, &["import", "--spool", spool.to_str().unwrap()]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stderr.contains("skipped tps-2026-11-01.txt: not a regular file"), "{stderr}");
    assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2") && !stderr.contains("secrets"), "{stdout}{stderr}");
    assert!(stdout.contains("ok     ctps-2026-11-01.txt"), "{stdout}");
    assert!(spool.join("tps-2026-11-01.txt").symlink_metadata().unwrap().file_type().is_symlink(), "the link stays in place");
    assert!(!spool.join("failed/tps-2026-11-01.txt").exists() && !spool.join("done/tps-2026-11-01.txt").exists());
    assert!(history(&app, "tps").is_empty());
}

/// The removal limit is one setting: `SUPPRESS_MAX_REMOVAL_PERCENT` binds the server's HTTP
/// imports as it binds the CLI's, and a limit that is not a percentage is refused.
#[test]
fn the_removal_limit_binds_http_imports_as_it_binds_the_cli() {
    let db = TestDb::new();
    let out = suppress(&db.url, &["keys", "create", "--role", "admin", "--name", "a"]);
    let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let (mut server, base) = crate::cli::start_server_with(&db.url, &[("SUPPRESS_MAX_REMOVAL_PERCENT", "5")]);
    let post = |as_of: &str, body: &str| -> (u16, Value) {
        let result = ureq::post(&format!("{base}/v1/registers/tps/imports?as_of={as_of}"))
            .set("Authorization", &format!("Bearer {key}"))
            .set("Content-Type", "text/plain")
            .send_string(body);
        let response = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("request failed: {e}"),
        };
        (response.status(), response.into_json().unwrap())
    };
    let (s, r) = post("2026-11-01", &full_file(0..100));
    assert_eq!(s, 201, "{r}");
    // 8% removed: within the default 10%, over the 5% set.
    let (s, b) = post("2026-11-02", &full_file(8..100));
    server.kill().unwrap();
    let _ = server.wait();
    assert_eq!(error_code(s, &b, 409), "too_many_removals");
    assert_eq!((b["error"]["details"]["limit_percent"].as_f64(), b["error"]["details"]["removed"].as_u64()), (Some(5.0), Some(8)));
    // The CLI under the same setting refuses the same file, and takes it under the default.
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "tps-2026-11-02.txt", &full_file(8..100));
    let cli = |limit: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_suppress"));
        cmd.args(["import", "tps", &file]).env("SUPPRESS_DATABASE_URL", &db.url);
        if let Some(l) = limit {
            cmd.env("SUPPRESS_MAX_REMOVAL_PERCENT", l);
        }
        cmd.output().unwrap()
    };
    let out = cli(Some("5"));
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("limit of 5%"), "{out:?}");
    let out = cli(Some("150"));
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not a percentage"), "{out:?}");
    let out = cli(None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// CONTRACT §5's quote rule holds for every CSV the service reads: an MPS CSV whose quote never
/// closes is refused whole (and recorded), never applied with the rows after it swallowed into
/// one rejected record under the 1% limit.
#[test]
fn an_mps_csv_with_an_unclosed_quote_is_refused_not_applied_short() {
    let app = TestApp::spawn();
    let mut body = String::from("flag,date_of_request,surname,address_1,postcode\n");
    for i in 0..200 {
        body.push_str(&format!("P,2026-11-01,Bloggs,{} High St,SW1A 1AA\n", i + 1));
    }
    body.push_str("P,2026-11-01,\"Smith,7 Low St,SW1A 2AA\n");
    for i in 0..50 {
        body.push_str(&format!("P,2026-11-01,Jones,{} Mill Lane,YO1 7HH\n", i + 1));
    }
    let (s, b) = app.raw("POST", &format!("/v1/registers/mps/imports?as_of={}", today()), Some(&app.admin), Some("text/csv"), &body);
    assert_eq!(error_code(s, &b, 422), "register_file_unreadable", "{b}");
    assert!(!b.to_string().contains("Smith"), "the error echoes file content: {b}");
    let (_, h) = app.get("/v1/registers/mps/imports", Some(&app.admin));
    assert_eq!(h["imports"][0]["status"], "failed", "{h}");
    let (_, r) = app.get("/v1/registers", Some(&app.admin));
    let mps = r.as_array().unwrap().iter().find(|x| x["name"] == "mps").unwrap().clone();
    assert!(mps["as_of"].is_null(), "nothing applied: {mps}");
}
