//! CONTRACT §6: `GET /v1/check` and `POST /v1/check`.

use serde_json::{json, Value};

use crate::helpers::{error_code, TestApp};

fn check(app: &TestApp, phone: &str, channel: &str) -> Value {
    let (s, b) = app.get(&format!("/v1/check?phone={phone}&channel={channel}"), Some(&app.agent));
    assert_eq!(s, 200, "{b}");
    b
}

#[test]
fn calls_are_refused_as_register_stale_until_tps_and_ctps_are_imported() {
    let app = TestApp::spawn();
    let b = check(&app, "02079460018", "call");
    assert_eq!(b["allowed"], false);
    assert_eq!(b["reason"], "REGISTER_STALE");
    assert_eq!(b["key"], "+442079460018");
    assert_eq!(b["channel"], "call");
    assert!(b["detail"].as_str().unwrap().contains("tps"));
}

#[test]
fn an_unusable_number_is_invalid_whatever_the_registers() {
    let app = TestApp::spawn();
    for (phone, channel) in [("12345", "call"), ("07912%20345678%20or%2001632%20960001", "call"), ("abc", "sms")] {
        let b = check(&app, phone, channel);
        assert_eq!(b["allowed"], false);
        assert_eq!(b["reason"], "INVALID_PHONE");
        assert_eq!(b["key"], Value::Null);
    }
}

#[test]
fn sms_answers_from_in_house_statements() {
    let app = TestApp::spawn();
    let b = check(&app, "07912345678", "sms");
    assert_eq!((b["allowed"].clone(), b["reason"].clone()), (json!(true), Value::Null));
    app.opt_out(json!({"phone": "07912 345678", "source": "sms"}));
    let b = check(&app, "%2B447912345678", "sms");
    assert_eq!((b["allowed"].clone(), b["reason"].clone()), (json!(false), json!("OPTED_OUT")));
    // A later consent is in force.
    let consent = json!({"phone": "07912345678", "channels": ["sms"], "source": "web", "evidence": "ticked box, 2026-11-24"});
    assert_eq!(app.post("/v1/consents", Some(&app.agent), &consent).0, 201);
    assert_eq!(check(&app, "07912345678", "sms")["allowed"], true);
}

#[test]
fn check_parameters_are_validated() {
    let app = TestApp::spawn();
    for (q, code) in [
        ("phone=07912345678&channel=mail", "invalid_channel"),
        ("phone=07912345678&channel=pigeon", "invalid_channel"),
        ("phone=07912345678&channel=sms&date=24/11/2026", "invalid_date"),
        ("phone=07912345678&channel=sms&mode=lenient", "invalid_mode"),
    ] {
        let (s, b) = app.get(&format!("/v1/check?{q}"), Some(&app.agent));
        assert_eq!(error_code(s, &b, 422), code, "{q}");
    }
    let (s, b) = app.get("/v1/check?channel=sms", Some(&app.agent));
    assert_eq!(error_code(s, &b, 400), "invalid_query");
}

#[test]
fn a_batch_check_answers_in_order() {
    let app = TestApp::spawn();
    app.opt_out(json!({"phone": "07912 345678", "source": "sms"}));
    let phones = json!(["07912 345678", "junk", "07912 345679", "+44 7912 345678"]);
    let (s, b) = app.post("/v1/check", Some(&app.campaign), &json!({"channel": "sms", "phones": phones}));
    assert_eq!(s, 200, "{b}");
    let reasons: Vec<Value> = b["results"].as_array().unwrap().iter().map(|r| r["reason"].clone()).collect();
    assert_eq!(reasons, [json!("OPTED_OUT"), json!("INVALID_PHONE"), Value::Null, json!("OPTED_OUT")]);
    assert_eq!(b["results"][2]["key"], "+447912345679");
    let (s, b) = app.post("/v1/check", Some(&app.campaign), &json!({"channel": "call", "phones": ["07912 345679"]}));
    assert_eq!(s, 200);
    assert_eq!(b["results"][0]["reason"], "REGISTER_STALE");
}

#[test]
fn a_batch_of_ten_thousand_is_taken_and_more_is_refused() {
    let app = TestApp::spawn();
    let phones: Vec<String> = (0..10_000).map(|i| format!("07912 {:06}", i)).collect();
    let (s, b) = app.post("/v1/check", Some(&app.campaign), &json!({"channel": "sms", "phones": phones}));
    assert_eq!(s, 200);
    assert_eq!(b["results"].as_array().unwrap().len(), 10_000);
    let phones: Vec<String> = (0..10_001).map(|i| format!("07912 {:06}", i)).collect();
    let (s, b) = app.post("/v1/check", Some(&app.campaign), &json!({"channel": "sms", "phones": phones}));
    assert_eq!(error_code(s, &b, 422), "too_many_phones");
}
