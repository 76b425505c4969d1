//! One-click unsubscribe (CONTRACT §8 `SUPPRESS_SECRET`, §11): links from clean.csv, the page and
//! its POST, tampered tokens, and the secret kept across restarts and instances.

use std::process::{Command, Stdio};

use serde_json::Value;

use crate::helpers::{error_code, TestApp, TestDb};

const LIST: &str = "name,email\nAnn,Ann@Example.com\nJo,jo@example.com\n\"Smith, Di\",di@example.org\n";

/// A stored scrub of an email list: its id.
fn scrub_email_list(base: &str, key: &str, list: &str) -> i64 {
    let r = ureq::post(&format!("{base}/v1/scrubs?channel=email"))
        .set("Authorization", &format!("Bearer {key}"))
        .set("Content-Type", "text/csv");
    let summary: Value = r.send_string(list).expect("scrub stored").into_json().unwrap();
    summary["id"].as_i64().unwrap_or_else(|| panic!("no id in {summary}"))
}

/// A download: status and text.
fn get_text(base: &str, path: &str, key: Option<&str>) -> (u16, String) {
    let mut r = ureq::get(&format!("{base}{path}"));
    if let Some(k) = key {
        r = r.set("Authorization", &format!("Bearer {k}"));
    }
    match r.call() {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("{e}"),
    }
}

fn post_raw(base: &str, path: &str, content_type: Option<&str>, body: &str) -> (u16, String) {
    let mut r = ureq::post(&format!("{base}{path}"));
    if let Some(ct) = content_type {
        r = r.set("Content-Type", ct);
    }
    match r.send_string(body) {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("{e}"),
    }
}

/// clean.csv?unsubscribe=true as rows of fields.
fn clean_with_links(base: &str, key: &str, id: i64) -> Vec<Vec<String>> {
    let (s, text) = get_text(base, &format!("/v1/scrubs/{id}/clean.csv?unsubscribe=true"), Some(key));
    assert_eq!(s, 200, "{text}");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

fn history(app: &TestApp, email: &str) -> Vec<Value> {
    let (s, b) = app.get(&format!("/v1/preferences?email={email}"), Some(&app.agent));
    assert_eq!(s, 200, "{b}");
    b["history"].as_array().unwrap().clone()
}

#[test]
fn a_link_from_clean_csv_unsubscribes_in_one_click_and_the_next_scrub_suppresses() {
    let app = TestApp::spawn();
    let id = scrub_email_list(&app.base, &app.campaign, LIST);

    // Without the flag clean.csv is as uploaded; with it, one last column of links.
    let (s, plain) = get_text(&app.base, &format!("/v1/scrubs/{id}/clean.csv"), Some(&app.campaign));
    assert_eq!((s, plain.as_str()), (200, LIST));
    let rows = clean_with_links(&app.base, &app.campaign, id);
    assert_eq!(rows[0], ["name", "email", "unsubscribe_url"]);
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[3][0], "Smith, Di", "the row's own fields are kept as uploaded");
    let prefix = format!("{}/u/", app.base);
    for row in &rows[1..] {
        assert!(row[2].starts_with(&prefix), "{row:?}");
    }
    let ann = rows[1][2].clone();
    assert_ne!(ann, rows[2][2], "each address has its own link");

    // The page: the address partly masked, one button posting to the same address.
    let (s, page) = get_text(&ann, "", None);
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("a…@example.com") && !page.contains("ann@example.com"), "{page}");
    assert!(page.contains("id=\"unsubscribe-form\"") && page.contains("method=\"post\""), "{page}");
    assert_eq!(page.matches("<button").count(), 1, "{page}");
    assert!(history(&app, "ann@example.com").is_empty(), "opening the page records nothing");

    // The RFC 8058 POST, no session, no key.
    let (s, page) = post_raw(&ann, "", Some("application/x-www-form-urlencoded"), "List-Unsubscribe=One-Click");
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("You will get no more marketing emails at a…@example.com"), "{page}");

    let h = history(&app, "ann@example.com");
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0]["channel"], "email");
    assert_eq!(h[0]["kind"], "opt_out");
    assert_eq!(h[0]["source"], "email");
    assert_eq!(h[0]["recorded_via"], "unsubscribe");
    let (_, p) = app.get("/v1/preferences?email=ann@example.com", Some(&app.agent));
    assert_eq!(p["channels"]["email"]["state"], "opted_out", "{p}");
    assert!(history(&app, "jo@example.com").is_empty(), "only the address the token names");

    // A scrub now suppresses the address.
    let id2 = scrub_email_list(&app.base, &app.campaign, LIST);
    let (_, annotated) = get_text(&app.base, &format!("/v1/scrubs/{id2}/annotated.csv"), Some(&app.campaign));
    let ann_row = annotated.lines().find(|l| l.starts_with("Ann,")).unwrap();
    assert!(ann_row.contains(",suppressed,OPTED_OUT,"), "{annotated}");
    let rows = clean_with_links(&app.base, &app.campaign, id2);
    assert_eq!(rows.len(), 3, "Ann is no longer kept: {rows:?}");

    // The button's empty POST, again: recorded again (history), answered 200.
    let (s, _) = post_raw(&ann, "", None, "");
    assert_eq!(s, 200);
    assert_eq!(history(&app, "ann@example.com").len(), 2);

    // One kept-alive connection: a POST with a body, then another request, both answered.
    let agent = ureq::AgentBuilder::new().timeout(std::time::Duration::from_secs(10)).build();
    for _ in 0..2 {
        let r = agent.post(&ann).set("Content-Type", "application/x-www-form-urlencoded").send_string("List-Unsubscribe=One-Click");
        assert_eq!(r.map(|r| r.status()).unwrap_or_else(|e| panic!("{e}")), 200);
    }
    assert_eq!(history(&app, "ann@example.com").len(), 4);
    // A body larger than a one-click POST is refused, and records nothing.
    let (s, _) = post_raw(&ann, "", Some("text/plain"), &"x".repeat(64 << 10));
    assert_eq!(s, 413);
    assert_eq!(history(&app, "ann@example.com").len(), 4);
}

#[test]
fn a_changed_token_is_a_404_page_and_records_nothing() {
    let app = TestApp::spawn();
    let id = scrub_email_list(&app.base, &app.campaign, LIST);
    let link = clean_with_links(&app.base, &app.campaign, id)[1][2].clone();
    let token = link.rsplit('/').next().unwrap().to_owned();
    let mut changed = Vec::new();
    for at in [0, token.len() / 2, token.len() - 1] {
        let mut t: Vec<char> = token.chars().collect();
        t[at] = if t[at] == 'A' { 'B' } else { 'A' };
        changed.push(t.into_iter().collect::<String>());
    }
    changed.push(token[..token.len() - 1].to_owned());
    changed.push(format!("{token}A"));
    changed.push("x".into());
    for bad in &changed {
        let (s, page) = get_text(&app.base, &format!("/u/{bad}"), None);
        assert_eq!(s, 404, "{bad}: {page}");
        assert!(page.contains("not valid") && page.contains("<html"), "{page}");
        let (s, _) = post_raw(&app.base, &format!("/u/{bad}"), Some("application/x-www-form-urlencoded"), "List-Unsubscribe=One-Click");
        assert_eq!(s, 404, "{bad}");
    }
    assert!(history(&app, "ann@example.com").is_empty());
    // The unchanged token still works.
    assert_eq!(post_raw(&app.base, &format!("/u/{token}"), None, "").0, 200);
    assert_eq!(history(&app, "ann@example.com").len(), 1);
}

#[test]
fn links_are_for_email_lists_and_clean_csv_only() {
    let app = TestApp::spawn();
    let today = suppress::domain::time::today_uk().to_string();
    let (s, b) =
        app.raw("POST", &format!("/v1/registers/tps/imports?as_of={today}"), Some(&app.admin), Some("text/plain"), "02030000000 \r\n");
    assert_eq!(s, 201, "{b}");
    crate::registers::wait_for(&app, "tps", &today);
    let (s, b) = app.raw("POST", "/v1/scrubs?channel=sms", Some(&app.campaign), Some("text/csv"), "phone\n07912 345678\n");
    assert_eq!(s, 201, "{b}");
    let sms = b["id"].as_i64().unwrap();
    let (s, text) = get_text(&app.base, &format!("/v1/scrubs/{sms}/clean.csv?unsubscribe=true"), Some(&app.campaign));
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error_code(s, &body, 422), "channel_not_allowed");
    assert!(body["error"]["message"].as_str().unwrap().contains("email lists only"), "{body}");
    assert_eq!(get_text(&app.base, &format!("/v1/scrubs/{sms}/clean.csv?unsubscribe=false"), Some(&app.campaign)).0, 200);

    let email = scrub_email_list(&app.base, &app.campaign, LIST);
    let (s, text) = get_text(&app.base, &format!("/v1/scrubs/{email}/annotated.csv?unsubscribe=true"), Some(&app.campaign));
    assert_eq!(error_code(s, &serde_json::from_str(&text).unwrap(), 400), "invalid_query");
    let (s, text) = get_text(&app.base, &format!("/v1/scrubs/{email}/clean.csv?unsubscribe=maybe"), Some(&app.campaign));
    assert_eq!(error_code(s, &serde_json::from_str(&text).unwrap(), 400), "invalid_query");
    // The download still needs a key that may read scrubs.
    assert_eq!(get_text(&app.base, &format!("/v1/scrubs/{email}/clean.csv?unsubscribe=true"), None).0, 401);
}

/// A `suppress` command on the database.
fn suppress(db: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_suppress")).args(args).env("SUPPRESS_DATABASE_URL", db).env_remove("SUPPRESS_SECRET").output().unwrap()
}

/// The token part of each link.
fn tokens(rows: &[Vec<String>]) -> Vec<String> {
    rows[1..].iter().map(|r| r[2].rsplit('/').next().unwrap().to_owned()).collect()
}

/// Unset, the secret is generated once and kept with the data: the same links after a restart
/// (SQLite: the server stopped first) and from a second instance on the same database.
#[test]
fn the_generated_secret_is_kept_across_restarts_and_shared_by_instances() {
    let db = TestDb::new();
    let out = suppress(&db.url, &["keys", "create", "--role", "campaign", "--name", "c"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    let (mut first, base1) = crate::cli::start_server_with(&db.url, &[]);
    let id = scrub_email_list(&base1, &key, LIST);
    let before = tokens(&clean_with_links(&base1, &key, id));
    if !db.is_postgres() {
        first.kill().unwrap();
        first.wait().unwrap();
        let file = std::path::PathBuf::from(format!("{}.secret", db.url));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600, "{}", file.display());
        }
    }
    let (mut second, base2) = crate::cli::start_server_with(&db.url, &[]);
    let rows = clean_with_links(&base2, &key, id);
    assert!(rows[1][2].starts_with(&format!("{base2}/u/")), "links name the address listened on: {rows:?}");
    assert_eq!(tokens(&rows), before);
    let (s, page) = post_raw(&base2, &format!("/u/{}", before[0]), Some("text/plain"), "List-Unsubscribe=One-Click");
    assert_eq!(s, 200, "{page}");
    if db.is_postgres() {
        // Both instances running, one database: the first honours the second's links too.
        assert_eq!(get_text(&base1, &format!("/u/{}", before[1]), None).0, 200);
        first.kill().unwrap();
        first.wait().unwrap();
    }
    second.kill().unwrap();
    second.wait().unwrap();

    // A configured secret is another key: the stored one's links are no longer valid.
    let (mut third, base3) = crate::cli::start_server_with(&db.url, &[("SUPPRESS_SECRET", &"7f".repeat(32))]);
    assert_eq!(get_text(&base3, &format!("/u/{}", before[0]), None).0, 404);
    assert_ne!(tokens(&clean_with_links(&base3, &key, id)), before);
    third.kill().unwrap();
    third.wait().unwrap();
}

#[test]
fn a_bad_secret_stops_serve_naming_the_variable() {
    let db = TestDb::new();
    for bad in ["too-short", &"ab".repeat(31), "not hex and not base64, though long enough!!"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_suppress"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("SUPPRESS_DATABASE_URL", &db.url)
            .env("SUPPRESS_SECRET", bad)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // It must stop by itself; a server that started anyway is stopped here and fails the test.
        let start = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > std::time::Duration::from_secs(20) {
                child.kill().unwrap();
                panic!("serve started with SUPPRESS_SECRET={bad:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success(), "{bad:?} was taken");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("SUPPRESS_SECRET") && err.contains("at least 32 bytes"), "{err}");
        assert!(!err.contains(bad), "the value is not echoed: {err}");
    }
}

#[test]
fn the_unsubscribe_page_is_public_and_plain() {
    let app = TestApp::spawn();
    let id = scrub_email_list(&app.base, &app.campaign, LIST);
    let link = clean_with_links(&app.base, &app.campaign, id)[2][2].clone();
    // No session and no key: the page shows no navigation, no sign-out, no stale registers.
    let (s, page) = get_text(&link, "", None);
    assert_eq!(s, 200);
    assert!(!page.contains("Sign out") && !page.contains("Stale registers"), "{page}");
    assert!(page.contains("j…@example.com"), "{page}");
}
