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

/// Every role against every kind of request (CONTRACT §7): exactly its rights, no more.
#[test]
fn the_role_matrix_including_compliance() {
    use suppress::domain::access::Role;
    let app = TestApp::spawn();
    let compliance = suppress::cli::create_key(&app.store, "compliance", Role::Compliance).unwrap();
    let (s, scrub) = app.raw("POST", "/v1/scrubs?channel=sms", Some(&app.campaign), Some("text/csv"), "phone\n07912345678\n");
    assert_eq!(s, 201, "{scrub}");
    let id = scrub["id"].as_i64().unwrap();
    let opt_out = json!({"phone": "020 7946 0018", "source": "call_centre"}).to_string();
    let tps = "0207 9460018\r\n0207 9460019\r\n";
    // (method, path, content type, body, statuses for agent, campaign, compliance, admin)
    let rows: Vec<(&str, String, &str, String, [u16; 4])> = vec![
        ("GET", "/v1/check?phone=02079460018&channel=sms".into(), "", String::new(), [200, 200, 200, 200]),
        ("GET", "/v1/preferences?phone=02079460018".into(), "", String::new(), [200, 403, 200, 200]),
        ("POST", "/v1/opt-outs".into(), "application/json", opt_out, [201, 403, 403, 201]),
        ("GET", "/v1/registers".into(), "", String::new(), [403, 200, 200, 200]),
        ("GET", "/v1/registers/tps/imports".into(), "", String::new(), [403, 403, 200, 200]),
        ("POST", "/v1/registers/tps/imports?as_of=2026-11-24".into(), "text/plain", tps.into(), [403, 403, 403, 201]),
        ("POST", "/v1/registers/tps/undo".into(), "application/json", "{}".into(), [403, 403, 403, 200]),
        ("POST", "/v1/scrubs?channel=sms".into(), "text/csv", "phone\n07912345679\n".into(), [403, 201, 403, 201]),
        ("GET", "/v1/scrubs".into(), "", String::new(), [403, 200, 200, 200]),
        ("GET", format!("/v1/scrubs/{id}"), "", String::new(), [403, 200, 200, 200]),
        ("GET", format!("/v1/scrubs/{id}/clean.csv"), "", String::new(), [403, 200, 200, 200]),
    ];
    let keys = [("agent", &app.agent), ("campaign", &app.campaign), ("compliance", &compliance), ("admin", &app.admin)];
    for (method, path, content_type, body, want) in &rows {
        for ((role, key), want) in keys.iter().zip(want) {
            let ct = Some(*content_type).filter(|c| !c.is_empty());
            let (s, b) = if *method == "GET" { app.get(path, Some(key)) } else { app.raw(method, path, Some(key), ct, body) };
            assert_eq!(s, *want, "{role} {method} {path}: {b}");
            if s == 403 {
                assert_eq!(error_code(s, &b, 403), "forbidden");
            }
        }
    }
}
