//! CONTRACT §5 through `suppress scrub`: every outcome code on every channel, the input variants,
//! the refusals, and the outputs.

use std::path::Path;
use std::process::{Command, Output};

use chrono::Days;
use serde_json::{json, Value};

use crate::helpers::{error_code, TestApp};

fn suppress(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_suppress")).args(args).env("SUPPRESS_DATABASE_URL", db).output().unwrap()
}

fn ok(out: &Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn today() -> String {
    suppress::domain::time::today_uk().to_string()
}

/// TPS: 020 3000 0000–0009; CTPS: 020 3000 0100–0104 and 0005 (on both); MPS from the samples;
/// all as of today. Statements: an opt-out and a consent on call, an email opt-out, mail ones.
fn world(dir: &Path) -> TestApp {
    let app = TestApp::spawn();
    let nums = |r: std::ops::Range<u32>| r.map(|i| format!("{:<12}\r\n", format!("020{:08}", 30_000_000 + i))).collect::<String>();
    let t = today();
    let files = [
        ("tps", format!("tps-{t}.txt"), nums(0..10)),
        ("ctps", format!("ctps-{t}.txt"), nums(100..105) + nums(5..6).as_str()),
        (
            "mps",
            format!("mps-{t}.dat"),
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("imports/sample/mps-2026-11-23.dat")).unwrap(),
        ),
    ];
    for (register, name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        ok(&suppress(&app.db.url, &["import", register, path.to_str().unwrap(), "--json"]));
        crate::registers::wait_for(&app, register, &t);
    }
    app.opt_out(json!({"phone": "020 3000 0500", "channels": ["call"], "source": "call_centre"}));
    let consent = json!({"phone": "020 3000 0001", "channels": ["call"], "source": "call_centre", "evidence": "recorded call"});
    assert_eq!(app.post("/v1/consents", Some(&app.agent), &consent).0, 201);
    app.opt_out(json!({"email": "jo@example.com", "source": "email"}));
    app.opt_out(json!({"address": {"lines": ["7 Park Avenue"], "postcode": "LS2 9JT"}, "source": "letter"}));
    app.opt_out(json!({"address": {"lines": ["9 Park Avenue"], "postcode": "LS2 9JT", "surname": "Khan"}, "source": "letter"}));
    app
}

struct Scrubbed {
    summary: Value,
    annotated: Vec<Vec<String>>,
    clean: String,
}

fn scrub(app: &TestApp, dir: &Path, channel: &str, list: &[u8], extra: &[&str]) -> Scrubbed {
    let input = dir.join("list.csv");
    std::fs::write(&input, list).unwrap();
    let (clean, annotated) = (dir.join("clean.csv"), dir.join("annotated.csv"));
    let mut args = vec![
        "scrub",
        "--channel",
        channel,
        input.to_str().unwrap(),
        "--out",
        clean.to_str().unwrap(),
        "--annotated",
        annotated.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let summary = ok(&suppress(&app.db.url, &args));
    let annotated = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(&annotated)
        .unwrap()
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    Scrubbed { summary, annotated, clean: std::fs::read_to_string(clean).unwrap() }
}

/// (reason, key) of each annotated row.
fn reasons(s: &Scrubbed) -> Vec<(String, String)> {
    s.annotated.iter().map(|r| (r[r.len() - 3].clone(), r[r.len() - 2].clone())).collect()
}

#[test]
fn a_call_list_gets_every_outcome_in_order_of_precedence() {
    let dir = tempfile::tempdir().unwrap();
    let app = world(dir.path());
    let list = "name,phone,notes\n\
        Ann,020 3000 0000,tps\n\
        Bob,020 3000 0101,ctps\n\
        Cy,020 3000 0005,both\n\
        Di,+44 (0)20 3000 0001,consent\n\
        Ed,020 3000 0500,opted out\n\
        Flo,020 3000 0600,clean\n\
        Gus,02030000600,duplicate\n\
        Hal,12345,invalid\n\
        Ivy,020 3000 0700,extra,field\n\
        Jo,07912 345678 / 020 3000 0800,two numbers\n";
    let s = scrub(&app, dir.path(), "call", list.as_bytes(), &[]);
    let got = reasons(&s);
    let want = [
        ("TPS", "+442030000000"),
        ("CTPS", "+442030000101"),
        ("TPS", "+442030000005"),
        ("CONSENT_OVERRIDE", "+442030000001"),
        ("OPTED_OUT", "+442030000500"),
        ("", "+442030000600"),
        ("DUPLICATE", "+442030000600"),
        ("INVALID_PHONE", ""),
        ("MALFORMED_ROW", ""),
        ("INVALID_PHONE", ""),
    ];
    assert_eq!(got, want.map(|(a, b)| (a.to_owned(), b.to_owned())));
    let statuses: Vec<&str> = s.annotated.iter().map(|r| r[r.len() - 4].as_str()).collect();
    assert_eq!(
        statuses,
        ["suppressed", "suppressed", "suppressed", "kept", "suppressed", "kept", "suppressed", "suppressed", "suppressed", "suppressed"]
    );
    assert_eq!((s.summary["rows"].clone(), s.summary["kept"].clone(), s.summary["suppressed"].clone()), (json!(10), json!(2), json!(8)));
    assert_eq!(s.summary["by_reason"]["TPS"], 2);
    assert_eq!(s.summary["by_reason"]["CONSENT_OVERRIDE"], 1);
    assert_eq!(s.summary["valid_until"], (suppress::domain::time::today_uk() + Days::new(28)).to_string());
    let regs: Vec<&str> = s.summary["registers"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(regs, ["tps", "ctps"]);
    assert_eq!(s.summary["registers"][0]["entries"], 10);
    assert_eq!(s.summary["input_sha256"].as_str().unwrap().len(), 64);
    // The clean list: kept rows, columns and values exactly as uploaded, in order.
    assert_eq!(s.clean, "name,phone,notes\nDi,+44 (0)20 3000 0001,consent\nFlo,020 3000 0600,clean\n");
    assert!(s.annotated[6][6].contains("same key as row 6"), "{:?}", s.annotated[6]);
}

#[test]
fn statutory_mode_keeps_listings_in_their_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let app = world(dir.path());
    // A number listed after the first import binds 28 days after it was listed.
    let t = suppress::domain::time::today_uk();
    let later = (t + Days::new(1)).to_string();
    let path = dir.path().join(format!("tps-{later}.txt"));
    std::fs::write(&path, (0..11).map(|i| format!("{:<12}\r\n", format!("020{:08}", 30_000_000 + i))).collect::<String>()).unwrap();
    ok(&suppress(&app.db.url, &["import", "tps", path.to_str().unwrap(), "--json"]));
    let list = b"phone\n020 3000 0010\n020 3000 0000\n";
    let date = (t + Days::new(2)).to_string();
    let s = scrub(&app, dir.path(), "call", list, &["--mode", "statutory", "--contact-date", &date]);
    assert_eq!(reasons(&s)[0].0, "TPS_GRACE");
    assert_eq!(reasons(&s)[1].0, "TPS");
    assert_eq!(s.summary["kept"], 1);
    let s = scrub(&app, dir.path(), "call", list, &["--contact-date", &date]);
    assert_eq!(reasons(&s)[0].0, "TPS");
}

#[test]
fn sms_email_and_mail_lists() {
    let dir = tempfile::tempdir().unwrap();
    let app = world(dir.path());
    // SMS: no register (TPS does not cover SMS); an opt-out on call does not cover sms.
    let s = scrub(&app, dir.path(), "sms", b"mobile\n020 3000 0000\n020 3000 0500\n", &[]);
    assert_eq!(reasons(&s).iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["", ""]);
    assert_eq!(s.summary["valid_until"], Value::Null);
    let s = scrub(&app, dir.path(), "email", b"Email_Address\nJO@example.com\nnot-an-email\nann@example.com\n", &[]);
    assert_eq!(reasons(&s).iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["OPTED_OUT", "INVALID_EMAIL", ""]);
    // Mail: MPS individual and household entries, deceased, in-house household and individual.
    let list = "surname,address_1,address_2,postcode\n\
        Bloggs,Flat 2,10 High Street,SW1A 1AA\n\
        Smith,Flat 2,10 High Street,SW1A 1AA\n\
        Smith,23 Church Road,,M1 1AE\n\
        Patel,7 Park Avenue,,LS2 9JT\n\
        Khan,9 Park Avenue,,LS2 9JT\n\
        Lee,9 Park Avenue,,LS2 9JT\n\
        Nobody,1 Nowhere,,NOT A CODE\n";
    let s = scrub(&app, dir.path(), "mail", list.as_bytes(), &[]);
    let got: Vec<(String, String)> = reasons(&s);
    assert_eq!(got[0], ("MPS".into(), "SW1A 1AA|2/10|BLOGGS".into()));
    assert_eq!(got[1].0, "");
    assert_eq!(got[2].0, "DECEASED");
    assert_eq!(got[3], ("OPTED_OUT".into(), "LS2 9JT|7|PATEL".into()));
    assert_eq!(got[4].0, "OPTED_OUT");
    assert_eq!(got[5].0, "");
    assert_eq!(got[6].0, "INVALID_ADDRESS");
    assert_eq!(s.summary["registers"][0]["name"], "mps");
}

#[test]
fn input_variants_are_read_alike() {
    let dir = tempfile::tempdir().unwrap();
    let app = world(dir.path());
    let want = ["TPS", ""];
    let variants: [&[u8]; 4] = [
        b"\xEF\xBB\xBFphone,name\n020 3000 0000,Ann\n020 3000 0600,Sin\xC3\xA9ad\n",
        b"phone;name\n020 3000 0000;Ann\n020 3000 0600;Sin\xE9ad\n",
        b"phone\tname\r\n020 3000 0000\tAnn\r\n020 3000 0600\tSin\xE9ad\r\n",
        b"\"phone\",\"name\"\n\"020 3000 0000\",\"Ann\"\n\"020 3000 0600\",\"Sin\xE9ad\"\n",
    ];
    for v in variants {
        let s = scrub(&app, dir.path(), "call", v, &[]);
        assert_eq!(reasons(&s).iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), want, "{}", String::from_utf8_lossy(v));
        // Output is UTF-8 whatever the input.
        assert!(s.clean.contains("Sinéad"), "{}", s.clean);
    }
    // A delimiter and a key column named by the caller.
    let s = scrub(&app, dir.path(), "call", b"Tel No,x;y\n020 3000 0000,1;2\n", &["--delimiter", ";", "--phone-column", "y"]);
    assert_eq!(reasons(&s)[0], ("INVALID_PHONE".to_owned(), String::new()));
    let s = scrub(&app, dir.path(), "call", b"Tel No;x\n020 3000 0000;1\n", &["--delimiter", ";", "--phone-column", "tel no"]);
    assert_eq!(reasons(&s)[0].0, "TPS");
}

#[test]
fn refusals_fail_closed_and_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn();
    let input = dir.path().join("list.csv");
    std::fs::write(&input, "phone\n020 3000 0000\n").unwrap();
    let clean = dir.path().join("clean.csv");
    let run = |args: &[&str]| {
        let mut all = vec!["scrub", input.to_str().unwrap(), "--out", clean.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = suppress(&app.db.url, &all);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(run(&["--channel", "call"]).contains("no tps snapshot has been imported"));
    // Stale: past as_of + 28 days, naming the as_of needed.
    let t = suppress::domain::time::today_uk();
    for r in ["tps", "ctps"] {
        let p = dir.path().join(format!("{r}-{t}.txt"));
        std::fs::write(&p, "02030000000 \r\n").unwrap();
        ok(&suppress(&app.db.url, &["import", r, p.to_str().unwrap(), "--json"]));
    }
    let late = (t + Days::new(40)).to_string();
    let err = run(&["--channel", "call", "--contact-date", &late]);
    assert!(err.contains(&format!("one dated {} or later is needed", t + Days::new(12))), "{err}");
    // A missing key column lists the headers found; an empty list is refused.
    let err = run(&["--channel", "email"]);
    assert!(err.contains("no email column") && err.contains("the headers found are: phone"), "{err}");
    std::fs::write(&input, "phone\n").unwrap();
    assert!(run(&["--channel", "sms"]).contains("the list is empty"));
    assert!(run(&["--channel", "fax"]).contains("unknown channel"));
}

fn post_list(app: &TestApp, key: &str, query: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
    app.raw("POST", &format!("/v1/scrubs?{query}"), Some(key), Some(content_type), std::str::from_utf8(body).unwrap())
}

fn download(app: &TestApp, path: &str) -> (u16, String) {
    let r = ureq::get(&format!("{}{path}", app.base)).set("Authorization", &format!("Bearer {}", app.campaign)).call();
    match r {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("{e}"),
    }
}

const CALL_LIST: &str = "name,phone,notes\nAnn,020 3000 0000,tps\nDi,+44 (0)20 3000 0001,consent\nEd,020 3000 0500,opted out\nFlo,020 3000 0600,clean\nGus,02030000600,dup\nHal,12345,bad\nIvy,020 3000 0700,extra,field\n";

#[test]
fn http_scrubs_give_the_cli_s_answers_and_keep_the_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let app = world(dir.path());
    let date = suppress::domain::time::today_uk().to_string();
    let (s, summary) =
        post_list(&app, &app.campaign, &format!("channel=call&name=November&contact_date={date}"), "text/csv", CALL_LIST.as_bytes());
    assert_eq!(s, 201, "{summary}");
    let id = summary["id"].as_i64().unwrap();
    assert_eq!((summary["rows"].clone(), summary["kept"].clone(), summary["suppressed"].clone()), (json!(7), json!(2), json!(5)));
    assert_eq!(summary["name"], "November");
    assert_eq!(summary["channel"], "call");
    assert_eq!(summary["mode"], "strict");
    assert_eq!(summary["registers"][0]["name"], "tps");
    assert_eq!(summary["links"]["clean"], format!("/v1/scrubs/{id}/clean.csv"));
    assert!(chrono::DateTime::parse_from_rfc3339(summary["created_at"].as_str().unwrap()).is_ok());
    // The same list through the CLI: the same annotated output, byte for byte.
    let cli = scrub(&app, dir.path(), "call", CALL_LIST.as_bytes(), &["--contact-date", &date]);
    assert_eq!(cli.summary["input_sha256"], summary["input_sha256"]);
    let (s, annotated) = download(&app, &format!("/v1/scrubs/{id}/annotated.csv"));
    assert_eq!(s, 200);
    assert_eq!(annotated, std::fs::read_to_string(dir.path().join("annotated.csv")).unwrap());
    let (_, clean) = download(&app, &format!("/v1/scrubs/{id}/clean.csv"));
    assert_eq!(clean, cli.clean);
    assert_eq!(clean, "name,phone,notes\nDi,+44 (0)20 3000 0001,consent\nFlo,020 3000 0600,clean\n");
    let (_, suppressed) = download(&app, &format!("/v1/scrubs/{id}/suppressed.csv"));
    let lines: Vec<&str> = suppressed.lines().collect();
    assert_eq!(lines[0], "name,phone,notes,suppress_reason,suppress_detail");
    assert!(lines[1].starts_with("Ann,020 3000 0000,tps,TPS,"), "{suppressed}");
    assert_eq!(lines.len(), 6);
    // The summary is kept and listed.
    let (s, again) = app.get(&format!("/v1/scrubs/{id}"), Some(&app.campaign));
    assert_eq!((s, again["id"].clone()), (200, json!(id)));
    let (_, all) = app.get("/v1/scrubs", Some(&app.admin));
    assert_eq!(all["scrubs"][0]["id"], id);
    // Access and unknowns.
    assert_eq!(app.get("/v1/scrubs", Some(&app.agent)).0, 403);
    assert_eq!(app.get("/v1/scrubs/999999", Some(&app.campaign)).0, 404);
    assert_eq!(download(&app, &format!("/v1/scrubs/{id}/other.csv")).0, 404);
    // Nothing has changed since: no revocations, just the header.
    let (s, none) = download(&app, &format!("/v1/scrubs/{id}/revocations"));
    assert_eq!((s, none.lines().count()), (200, 1), "{none}");
}

/// `suppress scrub --store` stores its result as `POST /v1/scrubs` does: the same summary and
/// evidence, created by `cli:USER`, its parts downloadable over the API byte for byte as the CLI
/// wrote them; a refused list stores nothing.
#[test]
fn a_cli_scrub_with_store_keeps_the_evidence_the_api_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let app = world(dir.path());
    let date = today();
    let stored = scrub(&app, dir.path(), "call", CALL_LIST.as_bytes(), &["--contact-date", &date, "--store", "--name", "November"]);
    let id = stored.summary["id"].as_i64().expect("the stored summary has an id");
    assert_eq!(stored.summary["name"], "November");
    assert_eq!(stored.summary["links"]["annotated"], format!("/v1/scrubs/{id}/annotated.csv"));
    // The stored summary is what the API answers for it.
    let (s, kept) = app.get(&format!("/v1/scrubs/{id}"), Some(&app.campaign));
    assert_eq!((s, &kept), (200, &stored.summary));
    // Its parts, downloaded, are the CLI's files byte for byte.
    let (s, annotated) = download(&app, &format!("/v1/scrubs/{id}/annotated.csv"));
    assert_eq!(s, 200);
    assert_eq!(annotated, std::fs::read_to_string(dir.path().join("annotated.csv")).unwrap());
    assert_eq!(download(&app, &format!("/v1/scrubs/{id}/clean.csv")).1, stored.clean);
    // The same summary as the API's for the same list, but for what names the stored scrub.
    let (s, http) =
        post_list(&app, &app.campaign, &format!("channel=call&name=November&contact_date={date}"), "text/csv", CALL_LIST.as_bytes());
    assert_eq!(s, 201, "{http}");
    let without = |v: &Value| {
        let mut v = v.clone();
        for k in ["id", "created_at", "results_expire_at", "links"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    assert_eq!(without(&stored.summary), without(&http));
    // Made by the command line, as its evidence says.
    let row = suppress::store::scrubs::get(&mut app.store.conn().unwrap(), id).unwrap().unwrap();
    assert!(row.created_by.starts_with("cli:"), "{}", row.created_by);
    // A refused list stores nothing.
    let before = scrub_rows(&app);
    let input = dir.path().join("bad.csv");
    std::fs::write(&input, "phone\n07912 345678\n").unwrap();
    let out_path = dir.path().join("bad-out.csv");
    let out =
        suppress(&app.db.url, &["scrub", "--channel", "email", input.to_str().unwrap(), "--out", out_path.to_str().unwrap(), "--store"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no email column"));
    assert_eq!(scrub_rows(&app), before);
    assert!(!out_path.exists());
}

#[test]
fn http_scrub_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(|s| s.max_upload_bytes = 2_000);
    let list = b"phone\n020 3000 0000\n";
    let (s, b) = post_list(&app, &app.campaign, "channel=call", "text/csv", list);
    assert_eq!(crate::helpers::error_code(s, &b, 409), "register_missing");
    assert_eq!(b["error"]["details"]["register"], "tps");
    let (s, b) = post_list(&app, &app.campaign, "channel=email", "text/csv", list);
    assert_eq!(crate::helpers::error_code(s, &b, 422), "missing_column");
    assert_eq!(b["error"]["details"]["headers_found"], json!(["phone"]));
    let (s, b) = post_list(&app, &app.campaign, "channel=sms", "text/csv", b"phone\n");
    assert_eq!(crate::helpers::error_code(s, &b, 422), "empty_list");
    let big = format!("phone\n{}", "020 3000 0000\n".repeat(200));
    let (s, b) = post_list(&app, &app.campaign, "channel=sms", "text/csv", big.as_bytes());
    assert_eq!(crate::helpers::error_code(s, &b, 413), "body_too_large");
    let (s, b) = post_list(&app, &app.campaign, "channel=sms", "application/json", list);
    assert_eq!(crate::helpers::error_code(s, &b, 415), "unsupported_media_type");
    let (s, b) = post_list(&app, &app.campaign, "channel=fax", "text/csv", list);
    assert_eq!(crate::helpers::error_code(s, &b, 422), "invalid_channel");
    let (s, b) = post_list(&app, &app.campaign, "channel=sms&colour=red", "text/csv", list);
    assert_eq!(crate::helpers::error_code(s, &b, 400), "invalid_query");
    let (s, _) = post_list(&app, &app.agent, "channel=sms", "text/csv", list);
    assert_eq!(s, 403);
    // Stale: 409 naming the as_of needed.
    let t = suppress::domain::time::today_uk();
    for r in ["tps", "ctps"] {
        let p = dir.path().join(format!("{r}-{t}.txt"));
        std::fs::write(&p, "02030000000 \r\n").unwrap();
        ok(&suppress(&app.db.url, &["import", r, p.to_str().unwrap(), "--json"]));
    }
    crate::registers::wait_for(&app, "ctps", &t.to_string());
    let late = t + Days::new(40);
    let (s, b) = post_list(&app, &app.campaign, &format!("channel=call&contact_date={late}"), "text/csv", list);
    assert_eq!(crate::helpers::error_code(s, &b, 409), "register_stale");
    assert_eq!(b["error"]["details"]["as_of_needed"], (t + Days::new(12)).to_string());
}

#[test]
fn results_expire_and_the_summary_stays() {
    let app = TestApp::spawn_with(|s| s.result_retention = std::time::Duration::from_secs(1));
    let (s, summary) = post_list(&app, &app.campaign, "channel=sms", "text/csv", b"phone\n07912 345678\n");
    assert_eq!(s, 201, "{summary}");
    let id = summary["id"].as_i64().unwrap();
    assert_eq!(download(&app, &format!("/v1/scrubs/{id}/clean.csv")).0, 200);
    std::thread::sleep(std::time::Duration::from_millis(1_200));
    let (s, body) = download(&app, &format!("/v1/scrubs/{id}/clean.csv"));
    assert_eq!(s, 410, "{body}");
    assert!(body.contains("results_expired"));
    assert_eq!(app.get(&format!("/v1/scrubs/{id}"), Some(&app.campaign)).0, 200);
}

/// A stored summary that is no longer JSON (a damaged database, an edit by hand) is a 500, the
/// scrub named in the log: never a `null` in the list nor a broken document served.
#[test]
fn a_corrupt_stored_summary_is_an_error_not_null() {
    let app = TestApp::spawn();
    let (s, summary) = post_list(&app, &app.campaign, "channel=sms", "text/csv", b"phone\n07912 345678\n");
    assert_eq!(s, 201, "{summary}");
    let id = summary["id"].as_i64().unwrap();
    let mut conn = app.store.conn().unwrap();
    let corrupt = format!("UPDATE scrubs SET summary = '{{\"rows\": 1' WHERE id = {id}");
    diesel::connection::SimpleConnection::batch_execute(&mut *conn, &corrupt).unwrap();
    for path in ["/v1/scrubs".to_owned(), format!("/v1/scrubs/{id}"), format!("/v1/scrubs/{id}/revocations")] {
        let (s, body) = app.get(&path, Some(&app.campaign));
        assert_eq!(error_code(s, &body, 500), "internal", "{path}");
    }
}

#[test]
fn revocations_list_kept_rows_that_are_now_suppressed() {
    let dir = tempfile::tempdir().unwrap();
    let app = world(dir.path());
    let list = b"name,phone\nFlo,020 3000 0600\nGil,020 3000 0601\nHan,020 3000 0602\nAnn,020 3000 0000\n";
    let (s, summary) = post_list(&app, &app.campaign, "channel=call", "text/csv", list);
    assert_eq!((s, summary["kept"].clone()), (201, json!(3)), "{summary}");
    let id = summary["id"].as_i64().unwrap();
    // Since the scrub: Gil opts out; Han is newly listed on TPS.
    app.opt_out(json!({"phone": "020 3000 0601", "channels": ["call"], "source": "call_centre"}));
    let t = today();
    let path = dir.path().join(format!("tps-{t}-b.txt"));
    let mut tps: String = (0..10).map(|i| format!("{:<12}\r\n", format!("020{:08}", 30_000_000 + i))).collect();
    tps.push_str("02030000602 \r\n");
    std::fs::write(&path, tps).unwrap();
    ok(&suppress(&app.db.url, &["import", "tps", path.to_str().unwrap(), "--as-of", &t, "--json"]));
    // Wait for the server to see the new snapshot (one more entry).
    let start = std::time::Instant::now();
    while app.get("/v1/registers", Some(&app.admin)).1[0]["entries"] != 11 {
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (s, body) = download(&app, &format!("/v1/scrubs/{id}/revocations"));
    assert_eq!(s, 200, "{body}");
    let rows: Vec<Vec<String>> =
        csv::Reader::from_reader(body.as_bytes()).records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
    let got: Vec<(&str, &str)> = rows.iter().map(|r| (r[0].as_str(), r[3].as_str())).collect();
    assert_eq!(got, [("Gil", "OPTED_OUT"), ("Han", "TPS")]);
    assert!(body.starts_with("name,phone,suppress_status,suppress_reason,suppress_key,suppress_detail"), "{body}");
}

#[test]
fn a_multipart_upload_is_the_same_list() {
    let dir = tempfile::tempdir().unwrap();
    let app = world(dir.path());
    let multipart = |parts: &[(&str, &str)]| {
        let mut body = String::new();
        for (name, content) in parts {
            body.push_str(&format!("--XYZ\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.csv\"\r\nContent-Type: text/csv\r\n\r\n{content}\r\n"));
        }
        body.push_str("--XYZ--\r\n");
        body
    };
    let body = multipart(&[("note", "ignored"), ("file", CALL_LIST)]);
    let (s, via_multipart) =
        app.raw("POST", "/v1/scrubs?channel=call", Some(&app.campaign), Some("multipart/form-data; boundary=XYZ"), &body);
    assert_eq!(s, 201, "{via_multipart}");
    let (_, plain) = post_list(&app, &app.campaign, "channel=call", "text/csv", CALL_LIST.as_bytes());
    for field in ["rows", "kept", "suppressed", "by_reason", "input_sha256"] {
        assert_eq!(via_multipart[field], plain[field], "{field}");
    }
    let (s, b) = app.raw(
        "POST",
        "/v1/scrubs?channel=call",
        Some(&app.campaign),
        Some("multipart/form-data; boundary=XYZ"),
        &multipart(&[("list", CALL_LIST)]),
    );
    assert_eq!(crate::helpers::error_code(s, &b, 422), "missing_file_part");
}

/// CONTRACT §6: a check answers as a one-row scrub would, for every outcome: `GET` and `POST
/// /v1/check` and a one-row scrub give the same reason, key, allowed and binding date, in strict
/// and statutory mode, on call and sms, listings in their grace period included.
#[test]
fn a_check_answers_as_a_one_row_scrub() {
    let dir = tempfile::tempdir().unwrap();
    let app = world(dir.path());
    // Listed the day after the first snapshots: 0010 and 0011 on TPS, 0105 on CTPS, binding 28
    // days later; a consent for 0011; an SMS opt-out for 0700.
    let t = suppress::domain::time::today_uk();
    let later = (t + Days::new(1)).to_string();
    let nums = |r: std::ops::Range<u32>| r.map(|i| format!("{:<12}\r\n", format!("020{:08}", 30_000_000 + i))).collect::<String>();
    for (register, text) in [("tps", nums(0..12)), ("ctps", nums(100..106) + nums(5..6).as_str())] {
        let path = dir.path().join(format!("{register}-{later}.txt"));
        std::fs::write(&path, text).unwrap();
        ok(&suppress(&app.db.url, &["import", register, path.to_str().unwrap(), "--json"]));
        crate::registers::wait_for(&app, register, &later);
    }
    let consent = json!({"phone": "020 3000 0011", "channels": ["call"], "source": "call_centre", "evidence": "recorded call"});
    assert_eq!(app.post("/v1/consents", Some(&app.agent), &consent).0, 201);
    app.opt_out(json!({"phone": "020 3000 0700", "channels": ["sms"], "source": "sms"}));
    let date = (t + Days::new(2)).to_string();
    // The binding date a scrub's detail names, if any.
    let binding =
        |detail: &str| ["binding from ", "not binding until "].iter().find_map(|p| detail.split(p).nth(1)).map(|d| d[..10].to_owned());
    let mut seen = std::collections::BTreeSet::new();
    let cases = [
        ("call", vec!["020 3000 0000", "020 3000 0101", "020 3000 0005", "020 3000 0001", "020 3000 0500", "020 3000 0600"]),
        ("call", vec!["020 3000 0010", "020 3000 0105", "020 3000 0011", "12345", "+1 212 555 0100"]),
        ("sms", vec!["020 3000 0700", "020 3000 0000", "020 3000 0500"]),
    ];
    for (channel, phones) in cases {
        for mode in ["strict", "statutory"] {
            let (_, batch) =
                app.post("/v1/check", Some(&app.agent), &json!({"channel": channel, "date": date, "mode": mode, "phones": phones}));
            for (i, phone) in phones.iter().enumerate() {
                // A one-row scrub (over HTTP: the CLI's answers are the same, as tested above).
                let query = format!("channel={channel}&mode={mode}&contact_date={date}");
                let (status, summary) = post_list(&app, &app.campaign, &query, "text/csv", format!("phone\n{phone}\n").as_bytes());
                assert_eq!(status, 201, "{summary}");
                let (_, annotated) = download(&app, &format!("/v1/scrubs/{}/annotated.csv", summary["id"]));
                let row = csv::Reader::from_reader(annotated.as_bytes()).records().next().unwrap().unwrap();
                let (reason, key, detail) = (row[row.len() - 3].to_owned(), row[row.len() - 2].to_owned(), row[row.len() - 1].to_owned());
                let q =
                    format!("/v1/check?phone={}&channel={channel}&mode={mode}&date={date}", phone.replace(' ', "%20").replace('+', "%2B"));
                let (status, one) = app.get(&q, Some(&app.agent));
                assert_eq!(status, 200, "{one}");
                for check in [&one, &batch["results"][i]] {
                    let case = format!("{phone} {channel} {mode}: {check} / {detail}");
                    assert_eq!(check["reason"].as_str().unwrap_or(""), reason, "{case}");
                    assert_eq!(check["key"].as_str().unwrap_or(""), key, "{case}");
                    assert_eq!(check["allowed"], summary["kept"] == 1, "{case}");
                    if reason.contains("TPS") || reason.contains("CTPS") {
                        assert_eq!(check["binding_from"].as_str().map(str::to_owned), binding(&detail), "{case}");
                    }
                }
                seen.insert(format!("{reason} {mode}"));
            }
        }
    }
    // Every outcome a check can give was compared.
    for want in [
        "TPS strict",
        "CTPS strict",
        "OPTED_OUT strict",
        "CONSENT_OVERRIDE statutory",
        "TPS_GRACE statutory",
        "CTPS_GRACE statutory",
        " strict",
        "INVALID_PHONE strict",
    ] {
        assert!(seen.contains(want), "{want} not compared: {seen:?}");
    }
}

/// Rows in the scrub tables: (scrubs, result blocks).
fn scrub_rows(app: &TestApp) -> (i64, i64) {
    use diesel::{QueryDsl, RunQueryDsl};
    use suppress::store::schema::{scrub_results, scrubs};
    let mut conn = app.store.conn().unwrap();
    let n = scrubs::table.count().get_result::<i64>(&mut *conn).unwrap();
    let blocks = scrub_results::table.count().get_result::<i64>(&mut *conn).unwrap();
    (n, blocks)
}

#[test]
fn a_scrub_is_invisible_until_finished_and_a_failed_or_abandoned_one_leaves_nothing() {
    use suppress::domain::Channel;
    use suppress::store::scrubs::{self as db, NewScrub};
    use suppress::store::ScrubState;
    let app = TestApp::spawn();
    // A refused list leaves no row: its pending scrub is removed with whatever it wrote.
    let (s, _) = post_list(&app, &app.campaign, "channel=email", "text/csv", b"phone\n07912 345678\n");
    assert_eq!(s, 422);
    assert_eq!(scrub_rows(&app), (0, 0));
    let (s, done) = post_list(&app, &app.campaign, "channel=sms", "text/csv", b"phone\n07912 345678\n");
    assert_eq!(s, 201, "{done}");
    assert_eq!(scrub_rows(&app), (1, 2), "the header's block and the row's");
    // A scrub midway (or one whose server died midway): listed nowhere, then swept away.
    let now = suppress::domain::time::now_utc();
    let pending = |created_at| NewScrub {
        created_at,
        name: None,
        channel: Channel::Sms,
        created_by: "campaign".into(),
        summary: "{}".into(),
        results_expire_at: created_at,
        state: ScrubState::Pending,
    };
    let mut conn = app.store.conn().unwrap();
    let old = db::begin(&mut conn, &pending(now - chrono::TimeDelta::hours(7))).unwrap();
    let recent = db::begin(&mut conn, &pending(now - chrono::TimeDelta::minutes(5))).unwrap();
    for id in [old, recent] {
        db::insert_blocks(&mut conn, id, 0, &[suppress::scrub::results::seal(b"")]).unwrap();
        assert_eq!(app.get(&format!("/v1/scrubs/{id}"), Some(&app.campaign)).0, 404);
        assert_eq!(download(&app, &format!("/v1/scrubs/{id}/annotated.csv")).0, 404);
    }
    let (_, listed) = app.get("/v1/scrubs", Some(&app.campaign));
    assert_eq!(listed["scrubs"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed["scrubs"][0]["id"], done["id"]);
    db::expire(&mut conn, now).unwrap();
    assert_eq!(scrub_rows(&app), (2, 3), "the abandoned scrub and its block are gone; the recent one stays");
}

#[test]
fn a_scrub_name_with_control_characters_or_too_long_is_422_and_nothing_is_kept() {
    let app = TestApp::spawn();
    let list = b"phone\n07912 345678\n";
    for (name, code) in [("nov%00mailing", "invalid_text"), ("nov%1B%5B2J", "invalid_text"), (&*"n".repeat(201), "text_too_long")] {
        let (s, b) = post_list(&app, &app.campaign, &format!("channel=sms&name={name}"), "text/csv", list);
        assert_eq!(crate::helpers::error_code(s, &b, 422), code, "{name}: {b}");
        assert_eq!(b["error"]["details"]["field"], "name");
    }
    let (_, listed) = app.get("/v1/scrubs", Some(&app.campaign));
    assert!(!listed.to_string().contains("mailing"), "{listed}");
    let (s, b) = post_list(&app, &app.campaign, &format!("channel=sms&name={}", "n".repeat(200)), "text/csv", list);
    assert_eq!(s, 201, "{b}");
}

// ---- Lists as offices and CRMs write them (issue 9; issue 10 #5, #8): each through the binary
// and over HTTP, read back by header name.

/// What a list gave: its summary and its annotated and suppressed files.
struct Run {
    how: &'static str,
    summary: Value,
    annotated: String,
    suppressed: String,
}

/// The list through `suppress scrub` with `params` as options (`mail_level` → `--mail-level`).
fn run_cli(app: &TestApp, dir: &Path, channel: &str, params: &[(&str, &str)], list: &[u8]) -> Result<Run, String> {
    let input = dir.join("in.csv");
    std::fs::write(&input, list).unwrap();
    let (clean, suppressed, annotated) = (dir.join("c.csv"), dir.join("s.csv"), dir.join("a.csv"));
    let mut args: Vec<String> = ["scrub", "--channel", channel, input.to_str().unwrap()].map(String::from).to_vec();
    for (flag, path) in [("--out", &clean), ("--suppressed", &suppressed), ("--annotated", &annotated)] {
        args.extend([flag.to_owned(), path.to_str().unwrap().to_owned()]);
    }
    for (name, value) in params {
        args.extend([format!("--{}", name.replace('_', "-")), (*value).to_owned()]);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_suppress")).args(&args).env("SUPPRESS_DATABASE_URL", &app.db.url).output().unwrap();
    if !out.status.success() {
        for p in [&clean, &suppressed, &annotated] {
            assert!(!p.exists(), "a refused list leaves no output: {}", p.display());
        }
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(Run {
        how: "cli",
        summary: serde_json::from_slice(&out.stdout).unwrap(),
        annotated: std::fs::read_to_string(annotated).unwrap(),
        suppressed: std::fs::read_to_string(suppressed).unwrap(),
    })
}

/// The list's bytes as the body of `POST /v1/scrubs` with `params` in the query.
fn post_bytes(app: &TestApp, channel: &str, params: &[(&str, &str)], list: &[u8]) -> (u16, Value) {
    let mut url = format!("{}/v1/scrubs?channel={channel}", app.base);
    for (name, value) in params {
        url.push_str(&format!("&{name}={}", value.replace(' ', "%20")));
    }
    let r = ureq::post(&url).set("Authorization", &format!("Bearer {}", app.campaign)).set("Content-Type", "text/csv").send_bytes(list);
    let r = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let status = r.status();
    let text = r.into_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn run_http(app: &TestApp, channel: &str, params: &[(&str, &str)], list: &[u8]) -> Result<Run, (u16, Value)> {
    let (status, summary) = post_bytes(app, channel, params, list);
    if status != 201 {
        return Err((status, summary));
    }
    let id = summary["id"].as_i64().unwrap();
    let (s1, annotated) = download(app, &format!("/v1/scrubs/{id}/annotated.csv"));
    let (s2, suppressed) = download(app, &format!("/v1/scrubs/{id}/suppressed.csv"));
    assert_eq!((s1, s2), (200, 200));
    Ok(Run { how: "http", summary, annotated, suppressed })
}

/// The list through both; each must be accepted.
fn both(app: &TestApp, dir: &Path, channel: &str, params: &[(&str, &str)], list: &[u8]) -> [Run; 2] {
    let cli = run_cli(app, dir, channel, params, list).unwrap_or_else(|e| panic!("cli refused {params:?}: {e}"));
    let http = run_http(app, channel, params, list).unwrap_or_else(|e| panic!("http refused {params:?}: {e:?}"));
    [cli, http]
}

/// The list through both; each must refuse it: the CLI's message, and the HTTP error's code and
/// details (422 unless said).
fn refused(app: &TestApp, dir: &Path, channel: &str, params: &[(&str, &str)], list: &[u8]) -> (String, String, Value) {
    let before = scrub_rows(app);
    let stderr = run_cli(app, dir, channel, params, list).err().unwrap_or_else(|| panic!("cli accepted {params:?}"));
    let (status, body) = run_http(app, channel, params, list).err().unwrap_or_else(|| panic!("http accepted {params:?}"));
    let code = crate::helpers::error_code(status, &body, 422);
    assert_eq!(scrub_rows(app), before, "a refused list stores nothing");
    (stderr, code, body["error"]["details"].clone())
}

/// A result file's records by header name; a record with more or fewer fields than the header
/// fails the read.
fn by_name(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap_or_else(|e| panic!("{e}: {text}"));
            headers.iter().zip(r.iter()).map(|(h, v)| (h.to_owned(), v.to_owned())).collect()
        })
        .collect()
}

/// Each annotated row's `suppress_reason`.
fn reasons_of(run: &Run) -> Vec<String> {
    by_name(&run.annotated).iter().map(|r| r["suppress_reason"].clone()).collect()
}

#[test]
fn every_header_alias_finds_its_column_and_two_for_one_key_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = world(dir.path());
    for h in [
        "Phone",
        "Telephone",
        "Tel",
        "Mobile",
        "Cell",
        "Phone Number",
        "phone_number",
        "PhoneNumber",
        "Telephone Number",
        "Tel No",
        "Tel. No.",
        "Phone No",
        "Mobile Phone",
        "Mobile Number",
        "Contact Number",
        "Home Phone",
        "Work Phone",
        "Business Phone",
        "Primary Phone",
        "PRIMARY-PHONE",
    ] {
        let list = format!("Name,{h}\nAnn,020 3000 0000\nFlo,020 3000 0600\n");
        for run in both(&app, dir.path(), "call", &[], list.as_bytes()) {
            assert_eq!(reasons_of(&run), ["TPS", ""], "{h} via {}", run.how);
        }
    }
    for h in ["Email", "Email Address", "E-mail", "e_mail_address", "E.Mail"] {
        let list = format!("Name,{h}\nJo,jo@example.com\n");
        for run in both(&app, dir.path(), "email", &[], list.as_bytes()) {
            assert_eq!(reasons_of(&run), ["OPTED_OUT"], "{h} via {}", run.how);
        }
    }
    for (postcode, surname, lines) in [
        ("Post Code", "Last Name", "Address Line 1,Address Line 2"),
        ("Postal Code", "Family Name", "address_1,address_2"),
        ("POSTCODE", "Surname", "Address1,Street"),
        ("post_code", "last_name", "line_1,line_2"),
    ] {
        let list = format!("{surname},{lines},{postcode}\nBloggs,Flat 2,10 High Street,SW1A 1AA\n");
        for run in both(&app, dir.path(), "mail", &[], list.as_bytes()) {
            assert_eq!(reasons_of(&run), ["MPS"], "{list} via {}", run.how);
        }
    }
    let list = "Surname,Address,Postcode\nBloggs,\"Flat 2, 10 High Street\",SW1A 1AA\n";
    for run in both(&app, dir.path(), "mail", &[], list.as_bytes()) {
        assert_eq!(reasons_of(&run), ["MPS"], "a single address column via {}", run.how);
    }
    // Two columns that fit one key: refused, naming both, unless the caller names one.
    let list = b"Name,Home Phone,Mobile Phone\nAnn,020 3000 0600,020 3000 0000\n";
    let (stderr, code, details) = refused(&app, dir.path(), "call", &[], list);
    assert_eq!(code, "ambiguous_column");
    assert_eq!(details["headers"], json!(["Home Phone", "Mobile Phone"]));
    assert!(stderr.contains("Home Phone, Mobile Phone"), "{stderr}");
    for run in both(&app, dir.path(), "call", &[("phone_column", "Mobile Phone")], list) {
        assert_eq!(reasons_of(&run), ["TPS"], "{}", run.how);
    }
    let (_, code, _) = refused(&app, dir.path(), "mail", &[], b"Surname,Last Name,Address,Postcode\nA,B,1 High St,SW1A 1AA\n");
    assert_eq!(code, "ambiguous_column");
}

#[test]
fn a_mail_list_is_judged_per_person_or_refused_unless_addressed_to_households() {
    let dir = tempfile::tempdir().unwrap();
    let app = world(dir.path());
    // `Last Name`: a named person's MPS entry, an MPS deceased record and an individual opt-out
    // suppress; two people at one address are not duplicates of each other.
    let list = "First Name,Last Name,address_1,address_2,postcode\n\
        Jo,Bloggs,Flat 2,10 High Street,SW1A 1AA\n\
        Albert,Smith,23 Church Road,,M1 1AE\n\
        Imran,Khan,9 Park Avenue,,LS2 9JT\n\
        Amy,Lee,9 Park Avenue,,LS2 9JT\n";
    for run in both(&app, dir.path(), "mail", &[], list.as_bytes()) {
        assert_eq!(reasons_of(&run), ["MPS", "DECEASED", "OPTED_OUT", ""], "{}", run.how);
        assert_eq!(run.summary["mail_level"], "individual", "{}", run.how);
    }
    // No surname column: refused, naming surname.
    let households = "Address,Postcode\n9 Park Avenue,LS2 9JT\n7 Park Avenue,LS2 9JT\n23 Church Road,M1 1AE\n";
    let (stderr, code, details) = refused(&app, dir.path(), "mail", &[], households.as_bytes());
    assert_eq!(code, "missing_column");
    assert_eq!(details["column"], "surname");
    assert!(stderr.contains("surname") && stderr.contains("mail_level=household"), "{stderr}");
    let (_, code, _) = refused(&app, dir.path(), "mail", &[("mail_level", "everyone")], households.as_bytes());
    assert_eq!(code, "invalid_mail_level");
    // Addressed to households: every row judged at household level, and the summary says so.
    for run in both(&app, dir.path(), "mail", &[("mail_level", "household")], households.as_bytes()) {
        let rows = by_name(&run.annotated);
        let keys: Vec<&str> = rows.iter().map(|r| r["suppress_key"].as_str()).collect();
        assert_eq!(keys, ["LS2 9JT|9", "LS2 9JT|7", "M1 1AE|23"], "{}", run.how);
        assert_eq!(rows[1]["suppress_reason"], "OPTED_OUT", "{}", run.how);
        assert_eq!(run.summary["mail_level"], "household", "{}", run.how);
        if run.how == "http" {
            // Revocations judge the kept rows at the level the list was scrubbed at.
            let (status, body) = download(&app, &format!("/v1/scrubs/{}/revocations", run.summary["id"]));
            assert_eq!((status, body.lines().count()), (200, 1), "{body}");
        }
    }
    for run in both(&app, dir.path(), "mail", &[("mail_level", "individual")], list.as_bytes()) {
        assert_eq!(run.summary["mail_level"], "individual");
    }
    let run = run_http(&app, "call", &[], b"phone\n020 3000 0600\n").unwrap();
    assert_eq!(run.summary["mail_level"], Value::Null);
}

#[test]
fn rows_are_numbered_among_data_records_whatever_the_line_ends() {
    let dir = tempfile::tempdir().unwrap();
    let app = world(dir.path());
    let lists: [(&str, &[u8]); 4] = [
        ("CR alone", b"name,phone\rAnn,020 3000 0600\rBob,020 3000 0601\rCy,02030000600\r"),
        ("CRLF", b"name,phone\r\nAnn,020 3000 0600\r\nBob,020 3000 0601\r\nCy,02030000600\r\n"),
        ("a field over lines", b"name,phone\n\"Ann\nof two\nlines\",020 3000 0600\nBob,020 3000 0601\nCy,02030000600\n"),
        ("blank lines", b"name,phone\n\nAnn,020 3000 0600\n\n\nBob,020 3000 0601\nCy,02030000600\n"),
    ];
    for (what, list) in lists {
        for run in both(&app, dir.path(), "call", &[], list) {
            let rows = by_name(&run.annotated);
            assert_eq!(reasons_of(&run), ["", "", "DUPLICATE"], "{what} via {}", run.how);
            assert_eq!(rows[2]["suppress_detail"], "same key as row 1", "{what} via {}", run.how);
            assert_eq!(run.summary["rows"], 3, "{what} via {}", run.how);
        }
    }
    let list = b"name,phone\r\nAnn,020 3000 0600\r\nBob,020 3000 0601\r\nCy,020 3000 0602\r\nDi,+44 20 3000 0602\r\n";
    for run in both(&app, dir.path(), "call", &[], list) {
        assert_eq!(by_name(&run.suppressed)[0]["suppress_detail"], "same key as row 3", "{}", run.how);
    }
}

#[test]
fn malformed_rows_keep_every_value_under_its_own_header() {
    let dir = tempfile::tempdir().unwrap();
    let app = world(dir.path());
    let list = b"name,phone,notes\nAnn,020 3000 0600,ok,\"extra, field\"\nBob,020 3000 0000\nCy,020 3000 0601,fine\n";
    for run in both(&app, dir.path(), "call", &[], list) {
        let annotated = by_name(&run.annotated);
        assert_eq!(annotated.len(), 3);
        let (long, short) = (&annotated[0], &annotated[1]);
        assert_eq!((long["name"].as_str(), long["phone"].as_str(), long["notes"].as_str()), ("Ann", "020 3000 0600", "ok"), "{}", run.how);
        assert_eq!((long["suppress_status"].as_str(), long["suppress_reason"].as_str()), ("suppressed", "MALFORMED_ROW"), "{}", run.how);
        assert_eq!(long["suppress_detail"], "Ann,020 3000 0600,ok,\"extra, field\"", "the whole record as read, via {}", run.how);
        assert_eq!((short["name"].as_str(), short["notes"].as_str()), ("Bob", ""), "{}", run.how);
        assert_eq!((short["suppress_status"].as_str(), short["suppress_reason"].as_str()), ("suppressed", "MALFORMED_ROW"), "{}", run.how);
        assert_eq!(annotated[2]["suppress_status"], "kept");
        let suppressed = by_name(&run.suppressed);
        assert_eq!(suppressed.len(), 2);
        assert_eq!((suppressed[0]["notes"].as_str(), suppressed[0]["suppress_reason"].as_str()), ("ok", "MALFORMED_ROW"), "{}", run.how);
        assert_eq!(suppressed[0]["suppress_detail"], long["suppress_detail"]);
        assert_eq!((suppressed[1]["notes"].as_str(), suppressed[1]["suppress_reason"].as_str()), ("", "MALFORMED_ROW"), "{}", run.how);
    }
}

#[test]
fn utf16_lists_with_a_bom_are_read_and_unreadable_encodings_named() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let app = world(dir.path());
    let text = "Name\tPhone Number\r\nSiân\t020 3000 0000\r\nFlo\t020 3000 0600\r\n";
    for big_endian in [false, true] {
        let mut list = if big_endian { vec![0xFE, 0xFF] } else { vec![0xFF, 0xFE] };
        for unit in text.encode_utf16() {
            list.extend(if big_endian { unit.to_be_bytes() } else { unit.to_le_bytes() });
        }
        for run in both(&app, dir.path(), "call", &[], &list) {
            let rows = by_name(&run.annotated);
            assert_eq!(reasons_of(&run), ["TPS", ""], "big endian {big_endian} via {}", run.how);
            assert_eq!(rows[0]["Name"], "Siân", "output is UTF-8, via {}", run.how);
            assert_eq!(run.summary["input_sha256"], hex::encode(sha2::Sha256::digest(&list)), "the hash of the bytes as uploaded");
        }
    }
    let mut utf32 = vec![0xFF, 0xFE, 0, 0];
    utf32.extend("phone\n".chars().flat_map(|c| (c as u32).to_le_bytes()));
    let (stderr, code, _) = refused(&app, dir.path(), "call", &[], &utf32);
    assert_eq!(code, "unreadable_encoding");
    assert!(stderr.contains("UTF-32"), "{stderr}");
    let no_bom: Vec<u8> = "phone\n020 3000 0000\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let (stderr, code, _) = refused(&app, dir.path(), "call", &[], &no_bom);
    assert_eq!(code, "unreadable_encoding");
    assert!(stderr.contains("NUL"), "{stderr}");
}

#[test]
fn a_quote_that_never_closes_makes_the_list_unreadable_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let app = world(dir.path());
    let list = b"name,phone,notes\nFlo,020 3000 0600,ok\nGil,020 3000 0601,\"never closed\nAnn,020 3000 0000,listed\n";
    let (stderr, code, details) = refused(&app, dir.path(), "call", &[], list);
    assert_eq!((code.as_str(), details["row"].clone()), ("unreadable_list", json!(2)));
    assert!(stderr.contains("row 2") && stderr.contains("never closed"), "{stderr}");
    assert!(!stderr.contains("020 3000"), "no list content in the message: {stderr}");
    // Closed, but over more than 100 lines.
    let long = format!("name,phone,notes\nFlo,020 3000 0600,\"{}\"\nAnn,020 3000 0000,x\n", "a\r\n".repeat(100));
    let (stderr, code, details) = refused(&app, dir.path(), "call", &[], long.as_bytes());
    assert_eq!((code.as_str(), details["row"].clone()), ("unreadable_list", json!(1)));
    assert!(stderr.contains("more than 100 lines"), "{stderr}");
}

#[test]
fn a_contact_date_before_today_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = world(dir.path());
    let list = b"phone\n020 3000 0000\n";
    let yesterday = (suppress::domain::time::today_uk() - Days::new(1)).to_string();
    for date in ["0000-01-01", "2000-01-01", yesterday.as_str()] {
        let (stderr, code, details) = refused(&app, dir.path(), "call", &[("contact_date", date)], list);
        assert_eq!((code.as_str(), details["field"].as_str()), ("date_in_past", Some("contact_date")), "{date}");
        assert!(stderr.contains("before today"), "{date}: {stderr}");
    }
    let (stderr, code, _) = refused(&app, dir.path(), "call", &[("contact_date", "2026-13-01")], list);
    assert_eq!(code, "invalid_date");
    assert!(stderr.contains("YYYY-MM-DD"), "{stderr}");
    for run in both(&app, dir.path(), "call", &[("contact_date", &today())], list) {
        assert_eq!(run.summary["contact_date"], today());
    }
}

/// CONTRACT §2: an extension after a space, comma, slash or semicolon is dropped (one key each);
/// a cell with two numbers stays INVALID_PHONE whatever joins them. HTTP and CLI alike.
#[test]
fn extensions_give_one_key_and_two_numbers_stay_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let app = world(dir.path());
    let cells = [
        ("07919 233214, ext. 688", "", "+447919233214"),
        ("020 3988 9558 / ext 497", "", "+442039889558"),
        ("tel:+44-20-3123-8311;ext=770", "", "+442031238311"),
        ("020 3000 0000 ext 123", "TPS", "+442030000000"),
        ("020 3000 0002 x123", "TPS", "+442030000002"),
        ("020 3000 0003 #123", "TPS", "+442030000003"),
        ("020 3000 0004;ext=123", "TPS", "+442030000004"),
        ("+44 20 3000 0006, x12", "TPS", "+442030000006"),
        ("(020) 3000-0007/ext 9", "TPS", "+442030000007"),
        ("0044 20 3000 0008; ext. 4", "TPS", "+442030000008"),
        ("2030000009 EXT: 77", "TPS", "+442030000009"),
        ("020 3000 0500 ext 5", "OPTED_OUT", "+442030000500"),
        ("07912 345678 / 01632 960001", "INVALID_PHONE", ""),
        ("07912 345678 or 020 3000 0800", "INVALID_PHONE", ""),
        ("07912 345678; 020 3000 0801", "INVALID_PHONE", ""),
        ("07912 345678, 020 3000 0802", "INVALID_PHONE", ""),
        ("07912 345678 & 020 3000 0803", "INVALID_PHONE", ""),
        ("07912 345678 x12 / 020 3000 0804", "INVALID_PHONE", ""),
        ("07912 345678 / 020 3000 0805 ext 1", "INVALID_PHONE", ""),
    ];
    let mut list = String::from("name,phone\n");
    for (i, (cell, _, _)) in cells.iter().enumerate() {
        list.push_str(&format!("P{i},\"{cell}\"\n"));
    }
    let want: Vec<(String, String)> = cells.iter().map(|(_, r, k)| (r.to_string(), k.to_string())).collect();
    let date = today();
    let cli = scrub(&app, dir.path(), "call", list.as_bytes(), &["--contact-date", &date]);
    assert_eq!(reasons(&cli), want);
    let (s, summary) = post_list(&app, &app.campaign, &format!("channel=call&contact_date={date}"), "text/csv", list.as_bytes());
    assert_eq!(s, 201, "{summary}");
    let (_, annotated) = download(&app, &format!("/v1/scrubs/{}/annotated.csv", summary["id"]));
    assert_eq!(annotated, std::fs::read_to_string(dir.path().join("annotated.csv")).unwrap());
    assert_eq!(summary["by_reason"]["INVALID_PHONE"], 7, "{summary}");
}

/// CONTRACT §1: an email address that starts with `=`, `+`, `-` or `@` is INVALID_EMAIL, and never
/// reaches the key column where a spreadsheet would run it.
#[test]
fn email_cells_a_spreadsheet_would_run_are_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let app = world(dir.path());
    let list = "email\n=jo@example.com\n\" +jo@example.com\"\n-jo@example.com\n@jo@example.com\nJo@Example.com\njo-=@example.com\n";
    let date = today();
    let cli = scrub(&app, dir.path(), "email", list.as_bytes(), &["--contact-date", &date]);
    let want: Vec<(String, String)> = [
        ("INVALID_EMAIL", ""),
        ("INVALID_EMAIL", ""),
        ("INVALID_EMAIL", ""),
        ("INVALID_EMAIL", ""),
        ("OPTED_OUT", "jo@example.com"),
        ("", "jo-=@example.com"),
    ]
    .iter()
    .map(|(r, k)| (r.to_string(), k.to_string()))
    .collect();
    assert_eq!(reasons(&cli), want);
    let (s, summary) = post_list(&app, &app.campaign, &format!("channel=email&contact_date={date}"), "text/csv", list.as_bytes());
    assert_eq!(s, 201, "{summary}");
    let (_, annotated) = download(&app, &format!("/v1/scrubs/{}/annotated.csv", summary["id"]));
    assert_eq!(annotated, std::fs::read_to_string(dir.path().join("annotated.csv")).unwrap());
}
