//! CONTRACT §11 email, against a real SMTP server (aiosmtpd, `tests/smtp/server.py`, writing a
//! Maildir that the tests read back): import reports, spool reports, staleness alarms, opt-out
//! confirmations with their one-click link, retries while the server is down, no duplicate after
//! SIGKILL or with two instances, STARTTLS and smtps with a certificate made here.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use suppress::config::{Hidden, MailSettings, Settings};

use crate::cli::start_server_with;
use crate::helpers::{TestApp, TestDb};

/// A real SMTP server on 127.0.0.1, and the Maildir it writes.
pub struct Smtp {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    extra: Vec<String>,
}

/// One message as the server received it.
#[derive(Debug)]
pub struct Received {
    pub raw: Vec<u8>,
}

impl Received {
    fn parsed(&self) -> mailparse::ParsedMail<'_> {
        mailparse::parse_mail(&self.raw).expect("a message")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        use mailparse::MailHeaderMap;
        self.parsed().headers.get_first_value(name)
    }

    pub fn subject(&self) -> String {
        self.header("Subject").unwrap_or_default()
    }

    /// The text/plain and text/html parts, decoded.
    pub fn parts(&self) -> (String, String) {
        let parsed = self.parsed();
        let (mut text, mut html) = (String::new(), String::new());
        for part in &parsed.subparts {
            match part.ctype.mimetype.as_str() {
                "text/plain" => text = part.get_body().expect("text part"),
                "text/html" => html = part.get_body().expect("html part"),
                _ => {}
            }
        }
        (text, html)
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Debian's python, which has aiosmtpd (`.ci/run` installs python3-aiosmtpd).
fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

impl Smtp {
    pub fn start() -> Smtp {
        Smtp::start_with(&[])
    }

    /// Reserve a port but do not listen yet (the server is "down").
    pub fn down() -> Smtp {
        Smtp { port: free_port(), dir: tempfile::tempdir().unwrap(), child: None, extra: Vec::new() }
    }

    pub fn start_with(extra: &[&str]) -> Smtp {
        let mut s = Smtp::down();
        s.extra = extra.iter().map(|e| e.to_string()).collect();
        s.up();
        s
    }

    pub fn up(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/server.py");
        let mut child = Command::new(python())
            .arg(script)
            .args(["--port", &self.port.to_string(), "--maildir"])
            .arg(self.maildir())
            .args(&self.extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 with aiosmtpd (apt-get install python3-aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP server did not start (is python3-aiosmtpd installed?)");
        self.child = Some(child);
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn maildir(&self) -> PathBuf {
        self.dir.path().join("box")
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<Received> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir().join(sub)) else { continue };
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            out.extend(paths.into_iter().map(|p| Received { raw: std::fs::read(p).unwrap() }));
        }
        out
    }

    /// Wait until at least `n` messages whose subject passes `want` arrived; return them.
    pub fn wait_for(&self, n: usize, want: impl Fn(&str) -> bool, within: Duration) -> Vec<Received> {
        let until = Instant::now() + within;
        loop {
            let found: Vec<Received> = self.messages().into_iter().filter(|m| want(&m.subject())).collect();
            if found.len() >= n || Instant::now() > until {
                let subjects: Vec<String> = self.messages().iter().map(Received::subject).collect();
                assert!(found.len() >= n, "waited for {n} messages, got {}; all subjects: {subjects:#?}", found.len());
                return found;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Email settings for a test app: fast retries, this server.
fn mail(smtp_url: &str, confirm: bool) -> MailSettings {
    MailSettings {
        smtp_url: Some(Hidden::new(smtp_url.into())),
        from: Some("Suppress <suppress@example.com>".into()),
        report_to: vec!["ops@example.com".into(), "dpo@example.com".into()],
        confirm_opt_outs: confirm,
        retry_base: Duration::from_secs(1),
        poll: Duration::from_millis(200),
        ..MailSettings::default()
    }
}

pub fn with_mail(smtp_url: &str, confirm: bool) -> impl FnOnce(&mut Settings) {
    let m = mail(smtp_url, confirm);
    move |s: &mut Settings| s.mail = m
}

/// The environment a server or CLI process gets for this SMTP server.
fn mail_env(smtp: &Smtp, confirm: bool) -> Vec<(&'static str, String)> {
    vec![
        ("SUPPRESS_SMTP_URL", smtp.url()),
        ("SUPPRESS_MAIL_FROM", "Suppress <suppress@example.com>".into()),
        ("SUPPRESS_REPORT_TO", "ops@example.com, dpo@example.com".into()),
        ("SUPPRESS_CONFIRM_OPT_OUTS", confirm.to_string()),
        ("SUPPRESS_MAIL_RETRY_BASE", "1s".into()),
    ]
}

/// A server process whose log lines are kept, to be read by the test.
fn start_logged(db: &str, env: &[(&str, &str)]) -> (Child, String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_suppress"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("SUPPRESS_DATABASE_URL", db)
        .env("RUST_LOG", "debug,actix=info,h2=info,rustls=info,lettre=info")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let addr = loop {
        let line = lines.next().expect("server exited before listening").unwrap();
        log.lock().unwrap().push(line.clone());
        if let Some(rest) = line.split("listening addr=").nth(1) {
            break rest.trim().to_owned();
        }
    };
    let kept = std::sync::Arc::clone(&log);
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    (child, format!("http://{addr}"), log)
}

/// An environment as `Command::envs` and `start_server_with` take it.
fn pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A new API key of `role`, made by the binary on the test's database.
fn key_for(db: &TestDb, role: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_suppress"))
        .args(["keys", "create", "--role", role, "--name", role])
        .env("SUPPRESS_DATABASE_URL", &db.url)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn tps_file(n: u32) -> String {
    (0..n).map(|i| format!("020{:08}\r\n", 30_000_000 + i)).collect()
}

fn yesterday() -> chrono::NaiveDate {
    suppress::domain::time::today_uk() - chrono::Days::new(1)
}

fn outbox(app: &TestApp) -> Vec<Value> {
    let (status, body) = app.get("/v1/outbox", Some(&app.admin));
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

pub fn wait_outbox(app: &TestApp, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = outbox(app);
        if done(&rows) {
            return rows;
        }
        assert!(Instant::now() < until, "outbox never showed {what}: {rows:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn import_reports_arrive_with_their_subject_figures_parts_and_headers() {
    let smtp = Smtp::start();
    let app = TestApp::spawn_with(with_mail(&smtp.url(), false));
    let as_of = yesterday();
    let (status, body) =
        app.raw("POST", &format!("/v1/registers/tps/imports?as_of={as_of}"), Some(&app.admin), Some("text/plain"), &tps_file(1_200));
    assert_eq!(status, 201, "{body}");
    let until = as_of + chrono::Days::new(28);
    let subject = format!("TPS {as_of} imported: +1,200 \u{2212}0, valid until {until}");
    let got = smtp.wait_for(1, |s| s == subject, Duration::from_secs(30));
    let m = &got[0];
    assert_eq!(m.header("From").as_deref(), Some("Suppress <suppress@example.com>"));
    assert_eq!(m.header("To").as_deref(), Some("ops@example.com, dpo@example.com"));
    assert!(m.header("Date").is_some_and(|d| d.contains(&chrono::Utc::now().format("%Y").to_string())), "{:?}", m.header("Date"));
    assert!(m.header("Message-ID").is_some_and(|id| id.starts_with('<') && id.ends_with("@example.com>")), "{:?}", m.header("Message-ID"));
    assert!(m.header("Content-Type").is_some_and(|c| c.starts_with("multipart/alternative")), "{:?}", m.header("Content-Type"));
    let (text, html) = m.parts();
    assert!(text.contains("Records read: 1,200"), "{text}");
    assert!(text.contains(&format!("Valid until: {}", until.format("%-d %b %Y"))), "{text}");
    assert!(html.contains("<th scope=\"row\"") && html.contains("1,200"), "{html}");

    // A refused file: its report says FAILED and why, and what to do.
    let mut corrupt = tps_file(100);
    corrupt.push_str(&"not a number\r\n".repeat(10));
    let (status, _) = app.raw(
        "POST",
        &format!("/v1/registers/tps/imports?as_of={}", suppress::domain::time::today_uk()),
        Some(&app.admin),
        Some("text/plain"),
        &corrupt,
    );
    assert_eq!(status, 422);
    let failed = smtp.wait_for(1, |s| s.starts_with("FAILED: TPS"), Duration::from_secs(30));
    assert_eq!(failed[0].subject(), format!("FAILED: TPS {} import refused: corrupt file", suppress::domain::time::today_uk()));
    assert!(failed[0].parts().0.contains("What to do:"), "{}", failed[0].parts().0);

    // The outbox lists them for admins, recipients masked; nobody else may read it.
    let rows = wait_outbox(&app, "both reports sent", |rows| {
        rows.iter().filter(|r| r["kind"] == "import_report" && r["status"] == "sent").count() == 2
    });
    let report = rows.iter().find(|r| r["subject"] == subject.as_str()).unwrap();
    assert_eq!(report["to_masked"], "o…@example.com, d…@example.com");
    assert_eq!(report["attempts"], 1);
    assert!(!rows.iter().any(|r| r.to_string().contains("ops@example.com")), "a recipient in clear: {rows:?}");
    for key in [&app.agent, &app.campaign] {
        assert_eq!(app.get("/v1/outbox", Some(key)).0, 403);
    }
}

#[test]
fn a_spool_run_sends_one_report_and_alarms_go_once_a_day() {
    let smtp = Smtp::start();
    let db = TestDb::new();
    let spool = tempfile::tempdir().unwrap();
    let day = yesterday();
    std::fs::write(spool.path().join(format!("tps-{day}.txt")), tps_file(50)).unwrap();
    std::fs::write(spool.path().join(format!("ctps-{day}.txt")), tps_file(20)).unwrap();
    std::fs::write(spool.path().join(format!("mps-{day}-delta.csv")), "x").unwrap(); // MPS has no change files: refused
    let env = mail_env(&smtp, false);
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_suppress")).args(args).env("SUPPRESS_DATABASE_URL", &db.url).envs(pairs(&env)).output().unwrap()
    };
    let out = run(&["import", "--spool", &spool.path().to_string_lossy()]);
    assert!(!out.status.success(), "a refused file fails the run");
    let runs = smtp.wait_for(1, |s| s.contains("register files refused"), Duration::from_secs(30));
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].subject(), format!("FAILED: 1 of 3 register files refused (MPS {day}: MPS change file)"));
    let (text, _) = runs[0].parts();
    assert!(text.contains(&format!("tps-{day}.txt: imported: +50 \u{2212}0, 50 entries")), "{text}");
    assert!(!smtp.messages().iter().any(|m| m.subject().starts_with("TPS ")), "each file must not report on its own");
    assert!(!smtp.messages().iter().any(|m| m.subject().contains("did not finish")), "the run finished: its watchdog was replaced");

    // MPS was never imported: one alarm today, however often the registers are checked.
    for _ in 0..2 {
        let out = run(&["check-registers"]);
        assert_eq!(out.status.code(), Some(1), "stale MPS: exit 1");
        assert!(String::from_utf8_lossy(&out.stdout).contains("STALE  MPS: never imported"), "{}", String::from_utf8_lossy(&out.stdout));
    }
    let (mut server, _) = start_server_with(&db.url, &pairs(&env));
    std::thread::sleep(Duration::from_secs(2));
    server.kill().unwrap();
    server.wait().unwrap();
    let alarms: Vec<String> = smtp.messages().iter().map(Received::subject).filter(|s| s.contains("MPS has never been imported")).collect();
    assert_eq!(alarms, ["STALE: MPS has never been imported: import an MPS file"]);
    assert!(!smtp.messages().iter().any(|m| m.subject().contains("TPS has never")), "TPS is fresh: no alarm");
}

#[test]
fn an_opt_out_is_confirmed_with_a_one_click_link_that_records_an_email_opt_out() {
    let smtp = Smtp::start();
    let app = TestApp::spawn_with(with_mail(&smtp.url(), true));
    app.opt_out(json!({"email": "Zoë.Dupont@Example.com", "phone": "07911 123456", "source": "call_centre"}));
    // An opt-out without an email address is not confirmed.
    app.opt_out(json!({"phone": "07912 345678", "source": "call_centre"}));
    let got = smtp.wait_for(1, |s| s == "Your marketing preferences are recorded", Duration::from_secs(30));
    let m = &got[0];
    assert_eq!(m.header("To").as_deref(), Some("zoë.dupont@example.com"));
    let (text, html) = m.parts();
    assert!(text.contains("no marketing calls") && text.contains("no marketing emails") && text.contains("takes effect at once"), "{text}");
    assert!(!text.contains("07911123456") && !text.contains("447911123456"), "the number is masked: {text}");
    assert!(html.contains("<li>no marketing texts"), "{html}");
    let link = m.header("List-Unsubscribe").unwrap();
    assert_eq!(m.header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
    let url = link.trim_start_matches('<').trim_end_matches('>').to_owned();
    assert!(url.starts_with(&format!("{}/u/", app.base)) && text.contains(&url), "{url}\n{text}");

    // A tampered link records nothing; the real one-click POST records an email opt-out.
    let tampered = format!("{}x", url);
    let resp = ureq::post(&tampered).set("Content-Type", "application/x-www-form-urlencoded").send_string("List-Unsubscribe=One-Click");
    assert_eq!(resp.map_or_else(|e| e.into_response().map_or(0, |r| r.status()), |r| r.status()), 404);
    let resp = ureq::post(&url).set("Content-Type", "application/x-www-form-urlencoded").send_string("List-Unsubscribe=One-Click").unwrap();
    assert_eq!(resp.status(), 200);
    let q: String = url::form_urlencoded::byte_serialize("zoë.dupont@example.com".as_bytes()).collect();
    let (_, prefs) = app.get(&format!("/v1/preferences?email={q}"), Some(&app.admin));
    let history = prefs["history"].as_array().unwrap();
    assert!(history.iter().any(|s| s["source"] == "email" && s["channel"] == "email" && s["kind"] == "opt_out"), "{prefs}");
    // One confirmation an address a day: the one-click opt-out, and the same opt-out again, write
    // none (a token cannot be used to flood the person).
    app.opt_out(json!({"email": "zoe.dupont@example.com", "source": "web"}));
    app.opt_out(json!({"email": "Zoë.Dupont@Example.com", "source": "web"}));
    let rows = outbox(&app);
    let confirmations: Vec<&Value> = rows.iter().filter(|r| r["kind"] == "opt_out_confirmation").collect();
    assert_eq!(confirmations.len(), 2, "one for zoë, one for zoe: {rows:?}");
    assert!(confirmations.iter().any(|r| r["to_masked"] == "z…@example.com"), "{rows:?}");
    smtp.wait_for(2, |s| s == "Your marketing preferences are recorded", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(1));
    let to: Vec<String> = smtp.messages().iter().filter_map(|m| m.header("To")).collect();
    assert_eq!(to.iter().filter(|t| t.as_str() == "zoë.dupont@example.com").count(), 1, "{to:?}");
}

#[test]
fn with_the_mail_server_down_an_opt_out_is_answered_at_once_and_its_mail_arrives_once_later() {
    let mut smtp = Smtp::down();
    let app = TestApp::spawn_with(with_mail(&smtp.url(), true));
    let started = Instant::now();
    app.opt_out(json!({"email": "late@example.com", "source": "web"}));
    assert!(started.elapsed() < Duration::from_secs(2), "the 201 must not wait for the mail: {:?}", started.elapsed());
    let rows = wait_outbox(&app, "a failed attempt", |rows| {
        rows.iter().any(|r| {
            r["kind"] == "opt_out_confirmation" && r["status"] == "pending" && r["last_error"].as_str().is_some_and(|e| !e.is_empty())
        })
    });
    assert!(!rows.iter().any(|r| r["last_error"].as_str().is_some_and(|e| e.contains("late@example.com"))), "{rows:?}");
    smtp.up();
    smtp.wait_for(1, |s| s == "Your marketing preferences are recorded", Duration::from_secs(30));
    wait_outbox(&app, "the message sent", |rows| rows.iter().any(|r| r["kind"] == "opt_out_confirmation" && r["status"] == "sent"));
    std::thread::sleep(Duration::from_secs(3));
    let n = smtp.messages().iter().filter(|m| m.subject() == "Your marketing preferences are recorded").count();
    assert_eq!(n, 1, "sent once");
}

#[test]
fn a_message_sent_before_a_kill_9_is_not_sent_again_after_the_restart() {
    let smtp = Smtp::start();
    let db = TestDb::new();
    let key = key_for(&db, "admin");
    let env = mail_env(&smtp, true);
    let env = pairs(&env);
    let (mut server, base, log) = start_logged(&db.url, &env);
    for i in 0..5 {
        let resp = ureq::post(&format!("{base}/v1/opt-outs"))
            .set("Authorization", &format!("Bearer {key}"))
            .send_json(json!({"email": format!("kill{i}@example.com"), "source": "web"}))
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    smtp.wait_for(5, |s| s == "Your marketing preferences are recorded", Duration::from_secs(30));
    // Wait until the outbox says sent, then kill -9.
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let rows: Value =
            ureq::get(&format!("{base}/v1/outbox")).set("Authorization", &format!("Bearer {key}")).call().unwrap().into_json().unwrap();
        if rows.as_array().unwrap().iter().filter(|r| r["kind"] == "opt_out_confirmation" && r["status"] == "sent").count() == 5 {
            break;
        }
        assert!(Instant::now() < until, "{rows}");
        std::thread::sleep(Duration::from_millis(100));
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let (mut server, _) = start_server_with(&db.url, &env);
    std::thread::sleep(Duration::from_secs(3));
    server.kill().unwrap();
    server.wait().unwrap();
    let n = smtp.messages().iter().filter(|m| m.subject() == "Your marketing preferences are recorded").count();
    assert_eq!(n, 5, "no message twice after the restart");
    // The log (at debug) said each was sent, never to whom in clear.
    let log = log.lock().unwrap();
    assert_eq!(log.iter().filter(|l| l.contains("email sent") && l.contains("k…@example.com")).count(), 5, "{log:#?}");
    for i in 0..5 {
        assert!(!log.iter().any(|l| l.contains(&format!("kill{i}@example.com"))), "an address in the log: {log:#?}");
    }
}

#[test]
fn two_instances_on_one_database_send_each_message_once() {
    let smtp = Smtp::start();
    let db = TestDb::new();
    let key = key_for(&db, "agent");
    let env = mail_env(&smtp, true);
    let env = pairs(&env);
    let (mut one, base_one) = start_server_with(&db.url, &env);
    let (mut two, base_two) = start_server_with(&db.url, &env);
    for i in 0..40 {
        let base = if i % 2 == 0 { &base_one } else { &base_two };
        let resp = ureq::post(&format!("{base}/v1/opt-outs"))
            .set("Authorization", &format!("Bearer {key}"))
            .send_json(json!({"email": format!("twin{i}@example.com"), "source": "web"}))
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    smtp.wait_for(40, |s| s == "Your marketing preferences are recorded", Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(3));
    for s in [&mut one, &mut two] {
        s.kill().unwrap();
        s.wait().unwrap();
    }
    let mut to: Vec<String> = smtp
        .messages()
        .iter()
        .filter(|m| m.subject() == "Your marketing preferences are recorded")
        .map(|m| m.header("To").unwrap())
        .collect();
    assert_eq!(to.len(), 40, "each confirmation once");
    to.sort();
    to.dedup();
    assert_eq!(to.len(), 40);
    // Both instances wrote alarms for the never-imported registers at start: one each a day.
    let alarms = smtp.messages().iter().filter(|m| m.subject().starts_with("STALE: TPS has never")).count();
    assert_eq!(alarms, 1);
}

/// A self-signed certificate for `localhost`, as PEM files.
fn certificate(dir: &Path) -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.cert.pem()).unwrap();
    std::fs::write(&k, cert.signing_key.serialize_pem()).unwrap();
    (c.to_string_lossy().into_owned(), k.to_string_lossy().into_owned())
}

#[test]
fn starttls_and_smtps_with_a_private_certificate_and_a_login() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(certs.path());
    let starttls = Smtp::start_with(&["--cert", &cert, "--key", &key, "--tls", "starttls", "--auth", "mailer:s3cret pass"]);
    let implicit = Smtp::start_with(&["--cert", &cert, "--key", &key, "--tls", "implicit"]);
    let settings = |url: String| {
        let mut m = mail(&url, true);
        m.ca_file = Some(PathBuf::from(&cert));
        move |s: &mut Settings| s.mail = m
    };
    let a = TestApp::spawn_with(settings(format!("smtp://mailer:s3cret%20pass@localhost:{}", starttls.port)));
    a.opt_out(json!({"email": "tls@example.com", "source": "web"}));
    starttls.wait_for(1, |s| s == "Your marketing preferences are recorded", Duration::from_secs(30));
    let b = TestApp::spawn_with(settings(format!("smtps://localhost:{}", implicit.port)));
    b.opt_out(json!({"email": "smtps@example.com", "source": "web"}));
    implicit.wait_for(1, |s| s == "Your marketing preferences are recorded", Duration::from_secs(30));

    // Without the certificate the relay is not trusted: nothing goes in clear instead.
    let untrusted = Smtp::start_with(&["--cert", &cert, "--key", &key, "--tls", "starttls"]);
    let c = TestApp::spawn_with(with_mail(&format!("smtp://localhost:{}", untrusted.port), true));
    c.opt_out(json!({"email": "nope@example.com", "source": "web"}));
    let rows =
        wait_outbox(&c, "a TLS failure", |rows| rows.iter().any(|r| r["kind"] == "opt_out_confirmation" && !r["last_error"].is_null()));
    assert!(untrusted.messages().is_empty(), "{rows:?}");

    // A login is never sent in clear: a server that offers no STARTTLS (and would take the login
    // and the message without it) gets neither.
    let plain = Smtp::start_with(&["--auth", "mailer:secret"]);
    let d = TestApp::spawn_with(with_mail(&format!("smtp://mailer:secret@127.0.0.1:{}", plain.port), true));
    d.opt_out(json!({"email": "clear@example.com", "source": "web"}));
    let rows = wait_outbox(&d, "a refusal to log in in clear", |rows| {
        rows.iter().any(|r| r["kind"] == "opt_out_confirmation" && !r["last_error"].is_null())
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(plain.messages().is_empty(), "{rows:?}");
}

#[test]
fn a_claimed_message_is_one_senders_and_a_sent_one_is_never_claimed_again() {
    use suppress::app::outbox::Senders;
    let db = TestDb::new();
    let store = suppress::store::Store::open(&db.url, 4).unwrap();
    let senders = Senders::new(store.clone(), suppress::store::writer::Writer::start(store.pool.clone()).unwrap());
    let m = suppress::app::mail::Mail::new(&mail("smtp://127.0.0.1:25", false), Default::default(), String::new());
    let today = suppress::domain::time::today_uk();
    let alarm = m.stale_alarm(suppress::domain::Register::Mps, None, today).unwrap();
    assert!(suppress::app::outbox::write(&store, alarm.clone()).unwrap());
    assert!(!suppress::app::outbox::write(&store, alarm).unwrap(), "one alarm a register a day");
    let now = suppress::domain::time::now_utc();
    let minute = chrono::Duration::seconds(60);
    let claimed = senders.claim("a", now, now + minute, 10).unwrap();
    assert_eq!(claimed.len(), 1);
    let id = claimed[0].id;
    assert!(senders.claim("b", now, now + minute, 10).unwrap().is_empty(), "leased to a");
    // a's lease runs out before it gets to the message: b takes it, and a may no longer send it.
    let later = now + minute + chrono::Duration::seconds(1);
    assert_eq!(senders.claim("b", later, later + minute, 10).unwrap().len(), 1);
    assert!(!senders.renew(id, "a", later + minute).unwrap());
    assert!(!senders.sent(id, "a", later).unwrap());
    assert!(senders.renew(id, "b", later + minute).unwrap());
    assert!(senders.sent(id, "b", later).unwrap());
    // Sent: never due again, whoever asks and however late.
    let much_later = now + chrono::Duration::days(2);
    assert!(!senders.any_due(much_later).unwrap());
    assert!(senders.claim("c", much_later, much_later + minute, 10).unwrap().is_empty());
}

#[test]
fn a_mail_setting_that_cannot_work_stops_the_service_naming_it() {
    let db = TestDb::new();
    let serve = |env: &[(&str, &str)]| {
        Command::new(env!("CARGO_BIN_EXE_suppress"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("SUPPRESS_DATABASE_URL", &db.url)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    for (env, named) in [
        (vec![("SUPPRESS_SMTP_URL", "http://user:hunter2@mail.example.com")], "SUPPRESS_SMTP_URL"),
        (vec![("SUPPRESS_SMTP_URL", "smtp://mail.example.com")], "SUPPRESS_MAIL_FROM"),
        (vec![("SUPPRESS_SMTP_URL", "smtp://mail.example.com"), ("SUPPRESS_MAIL_FROM", "nobody")], "SUPPRESS_MAIL_FROM"),
        (vec![("SUPPRESS_REPORT_TO", "ops@example.com, not an address")], "SUPPRESS_REPORT_TO"),
        (vec![("SUPPRESS_CONFIRM_OPT_OUTS", "perhaps")], "SUPPRESS_CONFIRM_OPT_OUTS"),
    ] {
        let out = serve(&env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{env:?} must stop the start");
        assert!(err.contains(named), "{env:?}: {err}");
        assert!(!err.contains("hunter2"), "a password in the log: {err}");
    }
    // Unset: the service says once, at start, that no email will be sent.
    let (mut server, _) = {
        let mut child = Command::new(env!("CARGO_BIN_EXE_suppress"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("SUPPRESS_DATABASE_URL", &db.url)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut said = 0;
        for line in lines {
            let line = line.unwrap();
            said += usize::from(line.contains("no email will be sent"));
            if line.contains("listening") {
                break;
            }
        }
        assert_eq!(said, 1);
        (child, ())
    };
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn admins_see_the_outbox_and_everyone_the_last_import_report() {
    let smtp = Smtp::start();
    let app = TestApp::spawn_with(with_mail(&smtp.url(), true));
    app.opt_out(json!({"email": "page.reader@example.com", "source": "web"}));
    let as_of = yesterday();
    let (status, _) =
        app.raw("POST", &format!("/v1/registers/tps/imports?as_of={as_of}"), Some(&app.admin), Some("text/plain"), &tps_file(30));
    assert_eq!(status, 201);
    wait_outbox(&app, "everything sent", |rows| !rows.is_empty() && rows.iter().all(|r| r["status"] == "sent"));

    let mut admin = app.person("the.admin", suppress::domain::access::Role::Admin);
    let page = admin.get("/admin");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"outbox\""), "{}", page.body);
    assert!(page.body.contains("Opt-out confirmation") && page.body.contains("p…@example.com"), "{}", page.body);
    assert!(!page.body.contains("page.reader@example.com"), "a recipient in clear on the page");
    assert!(page.body.contains("Import reports and staleness alarms go to o…@example.com, d…@example.com."), "{}", page.body);
    assert!(page.body.contains("class=\"state-yes\">sent"), "{}", page.body);

    let mut agent = app.person("an.agent", suppress::domain::access::Role::Agent);
    let page = agent.get("/registers");
    let subject = format!("TPS {as_of} imported: +30 \u{2212}0, valid until {}", as_of + chrono::Days::new(28));
    assert!(page.body.contains("id=\"last-report\"") && page.body.contains(&subject), "{}", page.body);
    assert_eq!(agent.get("/admin").status, 403);
}

#[test]
fn a_nightly_run_that_never_finishes_is_reported_by_its_watchdog() {
    let smtp = Smtp::start();
    let db = TestDb::new();
    let store = suppress::store::Store::open(&db.url, 4).unwrap();
    let m = suppress::app::mail::Mail::new(&mail(&smtp.url(), false), Default::default(), String::new());
    let now = suppress::domain::time::now_utc();
    // A run killed seven hours ago left its watchdog; a run that started a minute ago is running.
    let killed = m.spool_watchdog(now - chrono::Duration::hours(7), &["tps-2026-11-26.txt".into()]).unwrap();
    let running = m.spool_watchdog(now - chrono::Duration::minutes(1), &["ctps-2026-11-26.txt".into()]).unwrap();
    assert!(suppress::app::outbox::write(&store, killed).unwrap());
    assert!(suppress::app::outbox::write(&store, running).unwrap());
    let env = mail_env(&smtp, false);
    for _ in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_suppress"))
            .arg("check-registers")
            .env("SUPPRESS_DATABASE_URL", &db.url)
            .envs(pairs(&env))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
    }
    let got = smtp.wait_for(1, |s| s.contains("did not finish"), Duration::from_secs(30));
    assert_eq!(got.len(), 1, "only the killed run's watchdog, once");
    assert!(got[0].subject().starts_with("FAILED: the nightly import started"), "{}", got[0].subject());
    assert!(got[0].parts().0.contains("tps-2026-11-26.txt"), "{}", got[0].parts().0);
}
