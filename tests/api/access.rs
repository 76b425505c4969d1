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
