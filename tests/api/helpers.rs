//! Test harness: the real app on port 0 against a fresh database — a new SQLite file, or, when
//! TEST_DATABASE_URL is set, a new PostgreSQL database made for the test and dropped after it.

use std::sync::mpsc;
use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::Value;
use suppress::config::Settings;
use suppress::domain::access::Role;
use suppress::store::Store;

/// A database of its own for one test.
pub struct TestDb {
    pub url: String,
    admin_url: Option<String>,
    name: String,
    _dir: tempfile::TempDir,
}

impl TestDb {
    pub fn new() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let name = format!("suppress_t_{}", hex_suffix());
        match std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
            Some(admin_url) => {
                let mut conn = PgConnection::establish(&admin_url).expect("TEST_DATABASE_URL must reach PostgreSQL");
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).expect("create test database");
                let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&name);
                TestDb { url: url.to_string(), admin_url: Some(admin_url), name, _dir: dir }
            }
            None => {
                let url = dir.path().join("suppress.db").to_string_lossy().into_owned();
                TestDb { url, admin_url: None, name, _dir: dir }
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.admin_url.is_some()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(admin) = &self.admin_url {
            if let Ok(mut conn) = PgConnection::establish(admin) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut conn);
            }
        }
    }
}

fn hex_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}_{}_{}", std::process::id(), nanos % 1_000_000_000, N.fetch_add(1, Ordering::Relaxed))
}

/// A running app with a key for each role.
pub struct TestApp {
    pub base: String,
    pub store: Store,
    pub admin: String,
    pub agent: String,
    pub campaign: String,
    pub db: TestDb,
    handle: actix_web::dev::ServerHandle,
}

pub fn settings_for(url: &str) -> Settings {
    Settings {
        database_url: url.to_owned(),
        bind: "127.0.0.1:0".into(),
        workers: 2,
        pool_size: 4,
        key_cache: Duration::ZERO,
        ..Settings::default()
    }
}

impl TestApp {
    pub fn spawn() -> TestApp {
        Self::spawn_with(|_| {})
    }

    pub fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let db = TestDb::new();
        let mut settings = settings_for(&db.url);
        adjust(&mut settings);
        let store = Store::open(&db.url, settings.pool_size).expect("open store");
        let key = |name: &str, role| suppress::cli::create_key(&store, name, role).expect("create key");
        let (admin, agent, campaign) = (key("admin", Role::Admin), key("agent", Role::Agent), key("campaign", Role::Campaign));
        let (tx, rx) = mpsc::channel();
        let server_store = store.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let bound = suppress::http::bind(settings, server_store).expect("bind");
                tx.send((bound.addr, bound.server.handle())).expect("send address");
                let _ = bound.server.await;
            })
        });
        let (addr, handle) = rx.recv_timeout(Duration::from_secs(30)).expect("server started");
        TestApp { base: format!("http://{addr}"), store, admin, agent, campaign, db, handle }
    }

    pub fn get(&self, path: &str, key: Option<&str>) -> (u16, Value) {
        send(key, ureq::request("GET", &format!("{}{path}", self.base)), None)
    }

    pub fn post(&self, path: &str, key: Option<&str>, body: &Value) -> (u16, Value) {
        let req = ureq::request("POST", &format!("{}{path}", self.base)).set("Content-Type", "application/json");
        send(key, req, Some(body.to_string()))
    }

    /// A raw request: any method, content type and body.
    pub fn raw(&self, method: &str, path: &str, key: Option<&str>, content_type: Option<&str>, body: &str) -> (u16, Value) {
        let mut req = ureq::request(method, &format!("{}{path}", self.base));
        if let Some(ct) = content_type {
            req = req.set("Content-Type", ct);
        }
        send(key, req, Some(body.to_owned()))
    }

    /// Record an opt-out as the agent; panics unless it is recorded.
    pub fn opt_out(&self, body: Value) -> Value {
        let (status, json) = self.post("/v1/opt-outs", Some(&self.agent), &body);
        assert_eq!(status, 201, "opt-out not recorded: {json}");
        json
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command at once; the server thread ends by itself.
        drop(self.handle.stop(false));
    }
}

fn send(key: Option<&str>, mut req: ureq::Request, body: Option<String>) -> (u16, Value) {
    if let Some(k) = key {
        req = req.set("Authorization", &format!("Bearer {k}"));
    }
    let result = match body {
        Some(b) => req.send_string(&b),
        None => req.call(),
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("request failed: {e}"),
    };
    let status = response.status();
    let text = response.into_string().expect("body");
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json)
}

/// Assert the contract's error shape and return the code.
/// One answer read off a raw connection, starting at `raw[at..]`, its body as long as its
/// `Content-Length`: the status, the head, the body, and where the answer ends. `None` until it
/// is all there.
pub fn raw_answer(raw: &[u8], at: usize) -> Option<(u16, String, Vec<u8>, usize)> {
    let end = at + raw.get(at..)?.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[at..end]).into_owned();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0);
    let body = raw.get(end + 4..end + 4 + length)?.to_vec();
    Some((status, head, body, end + 4 + length))
}

pub fn error_code(status: u16, body: &Value, want_status: u16) -> String {
    assert_eq!(status, want_status, "status; body: {body}");
    let err = &body["error"];
    assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()), "error message missing: {body}");
    assert!(err["details"].is_object(), "error details missing: {body}");
    err["code"].as_str().expect("error code").to_owned()
}

/// A person using the pages over plain HTTP (no browser): a user of a role with a known password,
/// signed in, keeping the session cookie and the page's form token.
pub struct Person {
    pub base: String,
    pub name: String,
    pub password: String,
    pub cookie: Option<String>,
    /// The form token of the last page read (`csrf` hidden field).
    pub csrf: String,
    agent: ureq::Agent,
}

/// A page's answer: status, headers that matter, body.
#[derive(Debug)]
pub struct PageAnswer {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Vec<String>,
    pub retry_after: Option<String>,
    pub content_type: String,
    pub body: String,
}

impl TestApp {
    /// A user of `role` named `name` with a chosen password (not one-time), signed in.
    pub fn person(&self, name: &str, role: Role) -> Person {
        let password = format!("{name}-password-long");
        suppress::app::users::create(&self.store, name, role, None, Some(&password)).expect("create user");
        let mut p = Person::new(&self.base, name, &password);
        let answer = p.sign_in(&password);
        assert_eq!(answer.status, 303, "sign-in failed: {}", answer.body);
        assert_eq!(p.get("/").status, 200, "home after sign-in");
        p
    }
}

impl Person {
    pub fn new(base: &str, name: &str, password: &str) -> Person {
        // Redirects are followed by hand, so tests see each 303.
        let agent = ureq::AgentBuilder::new().redirects(0).build();
        Person { base: base.into(), name: name.into(), password: password.into(), cookie: None, csrf: String::new(), agent }
    }

    fn send(&mut self, req: ureq::Request, body: Option<(&str, Vec<u8>)>) -> PageAnswer {
        let req = match &self.cookie {
            Some(c) => req.set("Cookie", c),
            None => req,
        };
        let result = match body {
            Some((ct, bytes)) => req.set("Content-Type", ct).send_bytes(&bytes),
            None => req.call(),
        };
        let r = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("request failed: {e}"),
        };
        let set_cookie: Vec<String> = r.all("set-cookie").into_iter().map(str::to_owned).collect();
        let answer = PageAnswer {
            status: r.status(),
            location: r.header("location").map(str::to_owned),
            retry_after: r.header("retry-after").map(str::to_owned),
            content_type: r.header("content-type").unwrap_or("").to_owned(),
            set_cookie,
            body: r.into_string().expect("page body"),
        };
        for c in &answer.set_cookie {
            let pair = c.split(';').next().unwrap_or("").to_owned();
            if pair.starts_with("suppress_session=") {
                self.cookie = if pair == "suppress_session=" { None } else { Some(pair) };
            }
        }
        if let Some(t) = hidden(&answer.body, "csrf") {
            self.csrf = t;
        }
        answer
    }

    pub fn get(&mut self, path: &str) -> PageAnswer {
        let req = self.agent.get(&format!("{}{path}", self.base));
        self.send(req, None)
    }

    /// POST a urlencoded form from this site (Origin and Sec-Fetch-Site as a browser sends them);
    /// `csrf` is added with the last page's token unless the fields give one.
    pub fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> PageAnswer {
        let mut all: Vec<(String, String)> = fields.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        if !fields.iter().any(|(k, _)| *k == "csrf") {
            all.push(("csrf".into(), self.csrf.clone()));
        }
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(all).finish();
        let req = self.agent.post(&format!("{}{path}", self.base)).set("Origin", &self.base).set("Sec-Fetch-Site", "same-origin");
        self.send(req, Some(("application/x-www-form-urlencoded", body.into_bytes())))
    }

    /// POST with the headers given (to forge a cross-site post, say).
    pub fn post_raw(&mut self, path: &str, headers: &[(&str, &str)], content_type: &str, body: Vec<u8>) -> PageAnswer {
        let mut req = self.agent.post(&format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.set(k, v);
        }
        self.send(req, Some((content_type, body)))
    }

    /// Sign in with the sign-in page's own token.
    pub fn sign_in(&mut self, password: &str) -> PageAnswer {
        let form = self.get("/");
        let token = hidden(&form.body, "token").expect("the sign-in form has a token");
        let sign_in_cookie = form.set_cookie.iter().find(|c| c.starts_with("suppress_sign_in=")).expect("sign-in cookie").clone();
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("name", self.name.as_str()), ("password", password), ("token", &token), ("next", "/")])
            .finish();
        let req = self
            .agent
            .post(&format!("{}/sign-in", self.base))
            .set("Cookie", sign_in_cookie.split(';').next().unwrap_or(""))
            .set("Origin", &self.base)
            .set("Sec-Fetch-Site", "same-origin");
        self.send(req, Some(("application/x-www-form-urlencoded", body.into_bytes())))
    }
}

/// The value of the hidden field `name` in a page, if any.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    rest.split('"').next().map(|v| v.replace("&#x2b;", "+").replace("&amp;", "&"))
}

impl PageAnswer {
    /// The cookie of that name this answer sets, if any (`name=value`).
    pub fn cookie_named(&self, name: &str) -> Option<String> {
        self.set_cookie.iter().map(|c| c.split(';').next().unwrap_or("").to_owned()).find(|c| c.starts_with(&format!("{name}=")))
    }
}
