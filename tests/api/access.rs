//! CONTRACT §7: bearer keys, roles, 401 and 403.

use serde_json::json;

use crate::helpers::{error_code, TestApp};

#[test]
fn health_needs_no_key_and_names_the_database() {
    let app = TestApp::spawn();
    let (status, body) = app.get("/health", None);
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], if app.db.is_postgres() { "postgres" } else { "sqlite" });
}

#[test]
fn no_key_or_an_unknown_key_is_401() {
    let app = TestApp::spawn();
    let (s, b) = app.get("/v1/check?phone=02079460018&channel=sms", None);
    assert_eq!(error_code(s, &b, 401), "unauthorized");
    let (s, b) = app.get("/v1/check?phone=02079460018&channel=sms", Some("sup_not_a_real_key"));
    assert_eq!(error_code(s, &b, 401), "unauthorized");
    let (s, b) = app.raw("GET", "/v1/preferences?phone=02079460018", None, None, "");
    assert_eq!(error_code(s, &b, 401), "unauthorized");
}

#[test]
fn roles_get_exactly_their_rights() {
    let app = TestApp::spawn();
    let opt_out = json!({"phone": "020 7946 0018", "source": "call_centre"});
    // campaign may check but not record or read preferences
    let (s, b) = app.post("/v1/opt-outs", Some(&app.campaign), &opt_out);
    assert_eq!(error_code(s, &b, 403), "forbidden");
    let (s, b) = app.get("/v1/preferences?phone=02079460018", Some(&app.campaign));
    assert_eq!(error_code(s, &b, 403), "forbidden");
    assert_eq!(app.get("/v1/check?phone=02079460018&channel=sms", Some(&app.campaign)).0, 200);
    // agent and admin may record, read and check
    for key in [&app.agent, &app.admin] {
        assert_eq!(app.post("/v1/opt-outs", Some(key), &opt_out).0, 201);
        assert_eq!(app.get("/v1/preferences?phone=02079460018", Some(key)).0, 200);
        assert_eq!(app.get("/v1/check?phone=02079460018&channel=sms", Some(key)).0, 200);
    }
}

#[test]
fn a_forbidden_request_is_refused_before_its_body_is_read() {
    let app = TestApp::spawn();
    let (s, b) = app.raw("POST", "/v1/opt-outs", Some(&app.campaign), Some("application/json"), "{not json");
    assert_eq!(error_code(s, &b, 403), "forbidden");
}

#[test]
fn a_revoked_key_stops_working() {
    let app = TestApp::spawn();
    let key = suppress::cli::create_key(&app.store, "temp", suppress::domain::access::Role::Agent).unwrap();
    assert_eq!(app.get("/v1/check?phone=02079460018&channel=sms", Some(&key)).0, 200);
    let mut conn = app.store.conn().unwrap();
    assert_eq!(suppress::store::keys::revoke(&mut conn, "temp", suppress::domain::time::now_utc()).unwrap(), 1);
    let (s, b) = app.get("/v1/check?phone=02079460018&channel=sms", Some(&key));
    assert_eq!(error_code(s, &b, 401), "unauthorized");
}

/// A request with the Authorization header exactly as given.
fn with_authorization(app: &TestApp, value: &str) -> u16 {
    match ureq::get(&format!("{}/v1/check?phone=02079460018&channel=sms", app.base)).set("Authorization", value).call() {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let app = TestApp::spawn();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        assert_eq!(with_authorization(&app, &format!("{scheme} {}", app.agent)), 200, "{scheme}");
    }
    for value in [format!("Basic {}", app.agent), format!("Bearer{}", app.agent), "Bearer ".to_owned(), app.agent.clone()] {
        assert_eq!(with_authorization(&app, &value), 401, "{value}");
    }
}

/// A keep-alive HTTP/1.1 connection from a chosen local address (127.0.0.0/8 is all loopback).
struct RawClient {
    reader: std::io::BufReader<std::net::TcpStream>,
}

impl RawClient {
    fn connect(app: &TestApp, local: [u8; 4]) -> RawClient {
        let server: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
        let stream = actix_web::rt::System::new().block_on(async move {
            let socket = actix_web::rt::net::TcpSocket::new_v4().unwrap();
            socket.bind(std::net::SocketAddr::from((local, 0))).unwrap();
            socket.connect(server).await.unwrap().into_std().unwrap()
        });
        stream.set_nonblocking(false).unwrap();
        RawClient { reader: std::io::BufReader::new(stream) }
    }

    /// GET a check with this key (or none): status, Retry-After, body.
    fn check(&mut self, key: Option<&str>) -> (u16, Option<u64>, serde_json::Value) {
        use std::io::{BufRead, Read, Write};
        let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
        let request = format!("GET /v1/check?phone=02079460018&channel=sms HTTP/1.1\r\nHost: x\r\n{auth}\r\n");
        self.reader.get_mut().write_all(request.as_bytes()).unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
        let (mut length, mut retry_after) = (0, None);
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let Some((name, value)) = line.trim_end().split_once(':') else { break };
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap(),
                "retry-after" => retry_after = Some(value.trim().parse().unwrap()),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).unwrap();
        (status, retry_after, serde_json::from_slice(&body).unwrap())
    }
}

#[test]
fn repeated_failed_authentication_is_answered_429_for_that_address_only() {
    let app = TestApp::spawn();
    // The agent's key has been used (this instance has seen it valid).
    assert_eq!(app.get("/v1/check?phone=02079460018&channel=sms", Some(&app.agent)).0, 200);
    let mut attacker = RawClient::connect(&app, [127, 0, 0, 2]);
    for i in 0..20 {
        let (s, _, b) = attacker.check(Some(&format!("sup_guess_{i}")));
        assert_eq!(error_code(s, &b, 401), "unauthorized", "attempt {i}");
    }
    let started = std::time::Instant::now();
    for i in 0..200 {
        let key = format!("sup_guess_more_{i}");
        let (s, retry_after, b) = attacker.check(if i % 2 == 0 { Some(&key) } else { None });
        assert_eq!(error_code(s, &b, 429), "too_many_attempts", "attempt {i}");
        let retry_after = retry_after.expect("Retry-After");
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        assert_eq!(b["error"]["details"]["retry_after_seconds"], retry_after);
        // Other clients meanwhile: a valid key is answered, a wrong one is a plain 401.
        if i % 50 == 0 {
            let t = std::time::Instant::now();
            assert_eq!(app.get("/v1/check?phone=02079460018&channel=sms", Some(&app.campaign)).0, 200);
            assert!(t.elapsed() < std::time::Duration::from_secs(1), "{:?}", t.elapsed());
            assert_eq!(app.get("/v1/check?phone=02079460018&channel=sms", Some("sup_typo")).0, 401);
        }
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "429s are answered at once: {:?}", started.elapsed());
    // From the held address, a key this instance has seen valid still works (a dialler behind
    // the same NAT); one it has never seen waits for the window to end, like a guess.
    let mut dialler = RawClient::connect(&app, [127, 0, 0, 2]);
    let (s, _, b) = dialler.check(Some(&app.agent));
    assert_eq!((s, b["allowed"].clone()), (200, json!(true)), "{b}");
    let (s, _, b) = dialler.check(Some(&app.admin));
    assert_eq!(error_code(s, &b, 429), "too_many_attempts");
}
