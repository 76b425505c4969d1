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
pub fn error_code(status: u16, body: &Value, want_status: u16) -> String {
    assert_eq!(status, want_status, "status; body: {body}");
    let err = &body["error"];
    assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()), "error message missing: {body}");
    assert!(err["details"].is_object(), "error details missing: {body}");
    err["code"].as_str().expect("error code").to_owned()
}
