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

/// An opt-out as another instance or process writes it: straight into the shared database.
fn opt_out_elsewhere(conn: &mut suppress::store::DbConnection, key: &str) {
    let row = suppress::store::statements::NewStatement {
        contact_key: key.into(),
        channel: suppress::domain::Channel::Sms,
        kind: suppress::domain::StatementKind::OptOut,
        recorded_at: suppress::domain::time::now_utc(),
        source: suppress::domain::Source::CallCentre,
        recorded_by: Some("agent on another instance".into()),
        recorded_via: "api".into(),
        note: None,
        evidence: None,
    };
    suppress::store::statements::insert_many(conn, &[row]).unwrap();
}

/// A stored statement whose channel no variant spells (a damaged database, an edit by hand) is an
/// error naming the value, never a statement silently left out of what is in force.
#[test]
fn a_stored_statement_of_unknown_channel_is_an_error_not_skipped() {
    let app = TestApp::spawn();
    let (s, b) = app.get("/v1/check?phone=07912345678&channel=sms", Some(&app.agent));
    assert_eq!((s, b["allowed"].clone()), (200, json!(true)), "{b}");
    let mut conn = app.store.conn().unwrap();
    diesel::connection::SimpleConnection::batch_execute(
        &mut *conn,
        "INSERT INTO statements (contact_key, channel, kind, recorded_at, source, recorded_via) \
         VALUES ('+447912345678', 'fax', 'opt_out', '2026-11-25 09:00:00', 'web', 'api')",
    )
    .unwrap();
    let (s, b) = app.get("/v1/check?phone=07912345678&channel=sms", Some(&app.agent));
    assert_eq!(error_code(s, &b, 500), "internal");
}

#[test]
fn a_statement_written_elsewhere_binds_the_next_answer_at_once() {
    let app = TestApp::spawn();
    // The server has read the statements (none yet) and answered from memory.
    assert_eq!(check(&app, "07912345678", "sms")["allowed"], true);
    opt_out_elsewhere(&mut app.store.conn().unwrap(), "+447912345678");
    // No wait, no poll interval: the next check, batch and scrub each see it.
    assert_eq!(check(&app, "07912345678", "sms")["reason"], "OPTED_OUT");
    let (s, b) = app.post("/v1/check", Some(&app.campaign), &json!({"channel": "sms", "phones": ["07912 345679", "07912 345678"]}));
    assert_eq!(s, 200, "{b}");
    assert_eq!((b["results"][0]["reason"].clone(), b["results"][1]["reason"].clone()), (Value::Null, json!("OPTED_OUT")));
    let list = "name,phone\nAnn,07912 345678\nBo,07912 345679\n";
    let (s, b) = app.raw("POST", "/v1/scrubs?channel=sms", Some(&app.campaign), Some("text/csv"), list);
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["by_reason"]["OPTED_OUT"], 1, "{b}");
    assert_eq!(b["kept"], 1);
}

/// On PostgreSQL a transaction can take a statement id and commit after another transaction has
/// committed a higher one. A server that caught up by id would have moved past the lower id
/// while it was still invisible, and would never see that opt-out. (SQLite commits one writer at
/// a time, so there the two writes cannot overlap: the test runs them one after the other.)
#[test]
fn a_statement_committed_after_a_later_one_is_not_missed() {
    use diesel::{Connection, RunQueryDsl};
    let app = TestApp::spawn();
    assert_eq!(check(&app, "07912000001", "sms")["allowed"], true);
    let insert = "INSERT INTO statements (contact_key, channel, kind, recorded_at, source, recorded_via) \
                  VALUES ('+447912000001', 'sms', 'opt_out', CURRENT_TIMESTAMP, 'call_centre', 'api')";
    let first_id = |app: &TestApp, key: &str| -> i64 {
        let mut conn = app.store.conn().unwrap();
        suppress::store::statements::history(&mut conn, &[key.to_owned()]).unwrap().iter().map(|s| s.id).min().unwrap()
    };
    if app.db.is_postgres() {
        let mut slow = diesel::PgConnection::establish(&app.db.url).unwrap();
        diesel::sql_query("BEGIN").execute(&mut slow).unwrap();
        diesel::sql_query(insert).execute(&mut slow).unwrap();
        // Another agent's opt-out commits first, with a higher id, and the server reads it.
        app.opt_out(json!({"phone": "07912 000002", "source": "call_centre"}));
        assert_eq!(check(&app, "07912000002", "sms")["reason"], "OPTED_OUT");
        assert_eq!(check(&app, "07912000001", "sms")["allowed"], true, "not committed yet");
        diesel::sql_query("COMMIT").execute(&mut slow).unwrap();
    } else {
        let mut c = diesel::SqliteConnection::establish(&app.db.url).unwrap();
        diesel::sql_query(insert).execute(&mut c).unwrap();
        app.opt_out(json!({"phone": "07912 000002", "source": "call_centre"}));
        assert_eq!(check(&app, "07912000002", "sms")["reason"], "OPTED_OUT");
    }
    assert!(first_id(&app, "+447912000001") < first_id(&app, "+447912000002"), "the late statement took the lower id");
    assert_eq!(check(&app, "07912000001", "sms")["reason"], "OPTED_OUT");
    let (s, b) = app.post("/v1/check", Some(&app.campaign), &json!({"channel": "sms", "phones": ["07912000001", "07912000002"]}));
    assert_eq!(s, 200, "{b}");
    assert_eq!((b["results"][0]["reason"].clone(), b["results"][1]["reason"].clone()), (json!("OPTED_OUT"), json!("OPTED_OUT")));
}

/// Checks share statement reads when they arrive together, but none may be answered by a read
/// that began before it arrived: agents record opt-outs and check the number straight after the
/// 201, while other clients keep the workers full of checks.
#[test]
fn a_check_after_an_opt_out_sees_it_however_busy_the_server() {
    let app = TestApp::spawn();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for client in 0..6 {
            let (app, done) = (&app, &done);
            s.spawn(move || {
                let mut n = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    check(app, &format!("07912{:06}", 500_000 + (client * 7919 + n) % 400_000), "sms");
                }
            });
        }
        let agents: Vec<_> = (0..6)
            .map(|agent| {
                let app = &app;
                s.spawn(move || {
                    for i in 0..30 {
                        let number = format!("07912{:06}", agent * 1_000 + i);
                        app.opt_out(json!({"phone": number, "source": "call_centre"}));
                        let b = check(app, &number, "sms");
                        assert_eq!(b["reason"], "OPTED_OUT", "agent {agent}, number {i}: {b}");
                    }
                })
            })
            .collect();
        for a in agents {
            a.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}

#[test]
fn a_date_before_today_is_422_and_far_dates_never_500() {
    let app = TestApp::spawn();
    let today = suppress::domain::time::today_uk();
    let yesterday = today.pred_opt().unwrap();
    for date in ["0000-01-01".to_owned(), "2000-01-01".to_owned(), yesterday.to_string()] {
        let (s, b) = app.get(&format!("/v1/check?phone=07912345678&channel=sms&date={date}"), Some(&app.agent));
        assert_eq!(error_code(s, &b, 422), "date_in_past", "{date}");
        assert_eq!(b["error"]["details"]["field"], "date");
        let body = json!({"channel": "call", "date": date, "mode": "statutory", "phones": ["07912345678"]});
        let (s, b) = app.post("/v1/check", Some(&app.campaign), &body);
        assert_eq!(error_code(s, &b, 422), "date_in_past", "{date}");
    }
    let (s, b) = app.get(&format!("/v1/check?phone=07912345678&channel=sms&date={today}"), Some(&app.agent));
    assert_eq!((s, b["allowed"].clone()), (200, json!(true)), "{b}");
    // The far end of the calendar and past it: an answer or a 422, never a 500.
    for date in ["9999-12-31", "262143-12-31", "262144-01-01", "+262143-12-31", "-262144-01-01", "99999999999-01-01"] {
        for channel in ["sms", "call"] {
            let (s, b) = app.get(&format!("/v1/check?phone=07912345678&channel={channel}&date={date}"), Some(&app.agent));
            assert!(s == 200 || s == 422, "{date} {channel}: {s} {b}");
            let (s, b) = app.post("/v1/check", Some(&app.campaign), &json!({"channel": channel, "date": date, "phones": ["07912345678"]}));
            assert!(s == 200 || s == 422, "{date} {channel}: {s} {b}");
        }
    }
}
