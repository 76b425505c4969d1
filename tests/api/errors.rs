//! CONTRACT §9: every failure in the error shape, with a fitting status; no input gives a 500.

use serde_json::json;

use crate::helpers::{error_code, TestApp};

#[test]
fn malformed_json_is_400_and_unknown_fields_are_422() {
    let app = TestApp::spawn();
    let (s, b) = app.raw("POST", "/v1/opt-outs", Some(&app.agent), Some("application/json"), r#"{"phone": "07912 345678", "#);
    assert_eq!(error_code(s, &b, 400), "malformed_json");
    let (s, b) = app.raw(
        "POST",
        "/v1/opt-outs",
        Some(&app.agent),
        Some("application/json"),
        r#"{"phone": "07912 345678", "source": "web", "colour": "red"}"#,
    );
    assert_eq!(error_code(s, &b, 422), "invalid_body");
    assert!(b["error"]["message"].as_str().unwrap().contains("colour"));
    let (s, b) = app.raw("POST", "/v1/opt-outs", Some(&app.agent), Some("application/json"), r#"{"phone": 7912345678, "source": "web"}"#);
    assert_eq!(error_code(s, &b, 422), "invalid_body");
}

#[test]
fn a_body_that_is_not_json_is_415() {
    let app = TestApp::spawn();
    for ct in [Some("text/plain"), Some("text/csv"), None] {
        let (s, b) = app.raw("POST", "/v1/opt-outs", Some(&app.agent), ct, r#"{"phone": "07912 345678", "source": "web"}"#);
        // ureq sends no Content-Type when none is set; actix treats that as not JSON.
        assert_eq!(error_code(s, &b, 415), "unsupported_media_type", "content type {ct:?}");
    }
}

#[test]
fn a_body_over_the_limit_is_413() {
    let app = TestApp::spawn_with(|s| s.max_json_bytes = 1_000);
    let phones: Vec<String> = (0..200).map(|i| format!("07912 {:06}", i)).collect();
    let (s, b) = app.post("/v1/check", Some(&app.agent), &json!({"channel": "sms", "phones": phones}));
    assert_eq!(error_code(s, &b, 413), "body_too_large");
    assert_eq!(b["error"]["details"]["limit_bytes"], 1_000);
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405() {
    let app = TestApp::spawn();
    let (s, b) = app.get("/v1/nothing-here", Some(&app.admin));
    assert_eq!(error_code(s, &b, 404), "not_found");
    let (s, b) = app.raw("DELETE", "/v1/check", Some(&app.admin), None, "");
    assert_eq!(error_code(s, &b, 405), "method_not_allowed");
    let (s, b) = app.raw("PUT", "/v1/opt-outs", Some(&app.admin), Some("application/json"), "{}");
    assert_eq!(error_code(s, &b, 405), "method_not_allowed");
}

/// Awkward inputs at every endpoint: each answer is a 2xx or a 4xx in the error shape.
#[test]
fn no_input_makes_the_server_answer_500() {
    let app = TestApp::spawn();
    let bodies = [
        "",
        "null",
        "[]",
        "{}",
        "\"text\"",
        "{\"phone\": null, \"source\": \"web\"}",
        "{\"phone\": \"\", \"source\": \"web\"}",
        "{\"phone\": \"\u{0000}\", \"source\": \"web\"}",
        "{\"phone\": \"+99999999999999999999999\", \"source\": \"web\"}",
        "{\"address\": {\"lines\": [\"\u{1F600}\"], \"postcode\": \"\u{1F600}\"}, \"source\": \"web\"}",
        "{\"email\": \"a@b.c\", \"channels\": [], \"source\": \"web\"}",
        "{\"channel\": \"sms\", \"phones\": []}",
        "{\"channel\": \"sms\", \"phones\": [\"\", \"\u{FFFF}\", \"++44\", \"0\"]}",
        "{\"channel\": \"sms\", \"phones\": \"07912345678\"}",
        "{\"channel\": \"sms\", \"date\": \"2026-02-30\", \"phones\": [\"07912345678\"]}",
        "\u{FEFF}{}",
        "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
    ];
    for path in ["/v1/opt-outs", "/v1/consents", "/v1/check"] {
        for body in bodies {
            let (s, b) = app.raw("POST", path, Some(&app.admin), Some("application/json"), body);
            assert!(s < 500, "{path} {body:?} gave {s}: {b}");
            if s >= 400 {
                assert!(b["error"]["code"].is_string(), "{path} {body:?}: {b}");
            }
        }
    }
    for q in [
        "phone=%00",
        "phone=%FF%FE",
        "phone=0&channel=call&date=9999-99-99",
        "phone=020&channel=sms&mode=",
        "postcode=%F0%9F%98%80&premise=x",
        "email=@@",
    ] {
        for path in ["/v1/check", "/v1/preferences"] {
            let (s, b) = app.get(&format!("{path}?{q}"), Some(&app.admin));
            assert!(s < 500, "{path}?{q} gave {s}: {b}");
        }
    }
    assert_eq!(app.get("/health", None).0, 200);
}
