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

/// Awkward inputs at every endpoint: each answer is the status that fits it, and every refusal
/// is in the error shape (CONTRACT §9).
#[test]
fn no_input_makes_the_server_answer_500() {
    let app = TestApp::spawn();
    // Each body, and the status it gets at /v1/opt-outs, /v1/consents and /v1/check.
    let bodies: [(&str, [u16; 3]); 17] = [
        ("", [400, 400, 400]),
        ("null", [422, 422, 422]),
        ("[]", [422, 422, 422]),
        ("{}", [422, 422, 422]),
        ("\"text\"", [422, 422, 422]),
        ("{\"phone\": null, \"source\": \"web\"}", [422, 422, 422]),
        ("{\"phone\": \"\", \"source\": \"web\"}", [422, 422, 422]),
        // A raw control character is not JSON.
        ("{\"phone\": \"\u{0000}\", \"source\": \"web\"}", [400, 400, 422]),
        ("{\"phone\": \"+99999999999999999999999\", \"source\": \"web\"}", [422, 422, 422]),
        ("{\"address\": {\"lines\": [\"\u{1F600}\"], \"postcode\": \"\u{1F600}\"}, \"source\": \"web\"}", [422, 422, 422]),
        // An opt-out with no channels is not an opt-out from every channel (CONTRACT §6).
        ("{\"email\": \"a@b.c\", \"channels\": [], \"source\": \"web\"}", [422, 422, 422]),
        ("{\"channel\": \"sms\", \"phones\": []}", [422, 422, 200]),
        // Each unusable number is answered in its place.
        ("{\"channel\": \"sms\", \"phones\": [\"\", \"\u{FFFF}\", \"++44\", \"0\"]}", [422, 422, 200]),
        ("{\"channel\": \"sms\", \"phones\": \"07912345678\"}", [422, 422, 422]),
        ("{\"channel\": \"sms\", \"date\": \"2026-02-30\", \"phones\": [\"07912345678\"]}", [422, 422, 422]),
        ("\u{FEFF}{}", [400, 400, 400]),
        ("{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", [422, 422, 422]),
    ];
    for (i, path) in ["/v1/opt-outs", "/v1/consents", "/v1/check"].into_iter().enumerate() {
        for (body, want) in bodies {
            let (s, b) = app.raw("POST", path, Some(&app.admin), Some("application/json"), body);
            expect(s, &b, want[i], &format!("{path} {body:?}"));
        }
    }
    // Each query, and the status it gets at /v1/check and /v1/preferences.
    for (q, want) in [
        ("phone=%00", [400, 422]),
        ("phone=%FF%FE", [400, 422]),
        ("phone=0&channel=call&date=9999-99-99", [422, 400]),
        ("phone=020&channel=sms&mode=", [422, 400]),
        ("postcode=%F0%9F%98%80&premise=x", [400, 422]),
        ("email=@@", [400, 422]),
    ] {
        for (i, path) in ["/v1/check", "/v1/preferences"].into_iter().enumerate() {
            let (s, b) = app.get(&format!("{path}?{q}"), Some(&app.admin));
            expect(s, &b, want[i], &format!("{path}?{q}"));
        }
    }
    // Uploads: lists and register files.
    let multipart = "multipart/form-data; boundary=XYZ";
    let list = "--XYZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nphone\n07912345678\n\r\n--XYZ--\r\n";
    let note = format!("--XYZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n{}\r\n{list}", "n".repeat(100_000));
    let endless_header = format!("--XYZ\r\nContent-Disposition: form-data; name=\"file\"\r\nX-Pad: {}", "p".repeat(1 << 20));
    let endless_preamble = "p".repeat(1 << 20);
    for (path, content_type, body, want) in [
        ("/v1/scrubs?channel=sms", "text/csv", "", 422),
        ("/v1/scrubs?channel=sms", "application/json", "{}", 415),
        ("/v1/scrubs?channel=sms", "multipart/form-data", list, 400),
        ("/v1/scrubs?channel=sms", multipart, "--XYZ--\r\n", 400),
        ("/v1/scrubs?channel=sms", multipart, "--XYZ\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\nx\r\n--XYZ--\r\n", 422),
        ("/v1/scrubs?channel=sms", multipart, "--XYZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nphone", 400),
        ("/v1/scrubs?channel=sms", multipart, &note, 413),
        ("/v1/scrubs?channel=sms", multipart, &endless_header, 413),
        ("/v1/scrubs?channel=sms", multipart, &endless_preamble, 413),
        ("/v1/scrubs?channel=sms&contact_date=x", "text/csv", "phone\n07912345678\n", 422),
        ("/v1/registers/tps/imports?as_of=2026-01-01", "text/plain", "", 422),
        ("/v1/registers/tps/imports", "text/plain", "07912345678\n", 400),
        ("/v1/registers/nope/imports?as_of=2026-01-01", "text/plain", "07912345678\n", 404),
    ] {
        let (s, b) = app.raw("POST", path, Some(&app.admin), Some(content_type), body);
        expect(s, &b, want, &format!("{path} {content_type} {}", &body[..body.len().min(40)]));
    }
    assert_eq!(app.get("/health", None).0, 200);
}

/// The status an input must get (0: a 2xx or a 4xx), and a refusal in the error shape.
fn expect(status: u16, body: &serde_json::Value, want: u16, what: &str) {
    assert_eq!(status, want, "{what}: {body}");
    if status >= 400 {
        error_code(status, body, status);
    }
}
