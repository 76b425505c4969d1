//! CONTRACT §6: opt-outs, consents, the state in force and the history.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::helpers::{error_code, TestApp};

fn state(app: &TestApp, query: &str, channel: &str) -> String {
    let (s, b) = app.get(&format!("/v1/preferences?{query}"), Some(&app.agent));
    assert_eq!(s, 200, "{b}");
    b["channels"][channel]["state"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn an_opt_out_covers_every_channel_of_its_contact_points_by_default() {
    let app = TestApp::spawn();
    let body = app.opt_out(json!({"phone": "+44 (0)20 7946 0018", "email": " Jo.Bloggs@Example.CO.UK", "source": "call_centre", "recorded_by": "agent.007", "note": "angry"}));
    let statements = body["statements"].as_array().unwrap();
    let got: HashSet<(String, String)> =
        statements.iter().map(|s| (s["key"].as_str().unwrap().into(), s["channel"].as_str().unwrap().into())).collect();
    let want: HashSet<(String, String)> = [("+442079460018", "call"), ("+442079460018", "sms"), ("jo.bloggs@example.co.uk", "email")]
        .iter()
        .map(|(k, c)| (k.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want);
    for s in statements {
        assert_eq!(s["kind"], "opt_out");
        assert_eq!(s["source"], "call_centre");
        assert_eq!(s["recorded_by"], "agent.007");
        assert!(s["id"].as_i64().is_some());
        assert!(chrono::DateTime::parse_from_rfc3339(s["recorded_at"].as_str().unwrap()).is_ok());
    }
    // Any spelling of the number finds it.
    for spelling in ["020%207946%200018", "2079460018", "0044%2020%207946%200018"] {
        assert_eq!(state(&app, &format!("phone={spelling}"), "call"), "opted_out");
    }
    assert_eq!(state(&app, "email=jo.bloggs@example.co.uk", "email"), "opted_out");
}

#[test]
fn channels_can_be_narrowed_and_a_channel_without_its_contact_point_is_422() {
    let app = TestApp::spawn();
    let body = app.opt_out(json!({"phone": "07912 345678", "channels": ["sms"], "source": "sms"}));
    assert_eq!(body["statements"].as_array().unwrap().len(), 1);
    assert_eq!(state(&app, "phone=07912345678", "sms"), "opted_out");
    assert_eq!(state(&app, "phone=07912345678", "call"), "none");
    let (s, b) = app.post("/v1/opt-outs", Some(&app.agent), &json!({"phone": "07912 345678", "channels": ["mail"], "source": "web"}));
    assert_eq!(error_code(s, &b, 422), "channel_not_allowed");
    let (s, b) = app.post("/v1/opt-outs", Some(&app.agent), &json!({"phone": "07912 345678", "channels": ["fax"], "source": "web"}));
    assert_eq!(error_code(s, &b, 422), "invalid_channel");
}

#[test]
fn bad_contact_points_and_sources_are_422_naming_the_field() {
    let app = TestApp::spawn();
    let cases = [
        (json!({"source": "web"}), "missing_contact"),
        (json!({"phone": "12345", "source": "web"}), "invalid_phone"),
        (json!({"phone": "07912 345678 / 01632 960001", "source": "web"}), "invalid_phone"),
        (json!({"email": "jo@", "source": "web"}), "invalid_email"),
        (json!({"address": {"lines": ["10 High St"], "postcode": "NOT A CODE"}, "source": "web"}), "invalid_address"),
        (json!({"address": {"lines": [], "postcode": "SW1A 1AA"}, "source": "web"}), "invalid_address"),
        (json!({"phone": "07912 345678", "source": "carrier pigeon"}), "invalid_source"),
    ];
    for (body, code) in cases {
        let (s, b) = app.post("/v1/opt-outs", Some(&app.agent), &body);
        assert_eq!(error_code(s, &b, 422), code, "body {body}");
    }
    // Nothing was recorded by any of them.
    let (_, b) = app.get("/v1/preferences?phone=07912345678", Some(&app.agent));
    assert_eq!(b["history"].as_array().unwrap().len(), 0);
}

#[test]
fn a_consent_needs_evidence() {
    let app = TestApp::spawn();
    for evidence in [None, Some(""), Some("   ")] {
        let mut body = json!({"phone": "07912 345678", "channels": ["call"], "source": "call_centre"});
        if let Some(e) = evidence {
            body["evidence"] = json!(e);
        }
        let (s, b) = app.post("/v1/consents", Some(&app.agent), &body);
        assert_eq!(error_code(s, &b, 422), "evidence_required");
    }
    let (s, b) = app.post(
        "/v1/consents",
        Some(&app.agent),
        &json!({"phone": "07912 345678", "channels": ["call"], "source": "call_centre", "evidence": "recorded call 2026-11-24 10:02, renewals"}),
    );
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["statements"][0]["kind"], "consent");
    let (_, p) = app.get("/v1/preferences?phone=07912345678", Some(&app.agent));
    assert_eq!(p["channels"]["call"]["state"], "consented");
    assert_eq!(p["history"][0]["evidence"], "recorded call 2026-11-24 10:02, renewals");
}

#[test]
fn the_latest_statement_is_in_force_either_way_round() {
    let app = TestApp::spawn();
    let phone = json!({"phone": "07912 345678", "channels": ["sms"], "source": "call_centre", "evidence": "said yes on the phone"});
    app.opt_out(phone.clone());
    assert_eq!(state(&app, "phone=07912345678", "sms"), "opted_out");
    assert_eq!(app.post("/v1/consents", Some(&app.agent), &phone).0, 201);
    assert_eq!(state(&app, "phone=07912345678", "sms"), "consented");
    app.opt_out(phone);
    assert_eq!(state(&app, "phone=07912345678", "sms"), "opted_out");
}

#[test]
fn a_repeated_opt_out_is_recorded_again_in_the_history() {
    let app = TestApp::spawn();
    let body = json!({"phone": "07912 345678", "channels": ["call"], "source": "call_centre", "recorded_by": "a1"});
    let first = app.opt_out(body.clone());
    let second = app.opt_out(body);
    assert_ne!(first["statements"][0]["id"], second["statements"][0]["id"]);
    let (_, p) = app.get("/v1/preferences?phone=07912345678", Some(&app.agent));
    let history = p["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|h| h["kind"] == "opt_out" && h["recorded_by"] == "a1" && h["recorded_via"] == "api:agent"));
    assert_eq!(p["channels"]["call"]["state"], "opted_out");
    assert_eq!(p["channels"]["call"]["statement_id"], second["statements"][0]["id"]);
}

#[test]
fn mail_statements_apply_to_the_person_and_the_household() {
    let app = TestApp::spawn();
    // O'Brien at Flat 2, 10 High Street opts out as a person.
    app.opt_out(
        json!({"address": {"lines": ["Flat 2", "10 High Street"], "postcode": "sw1a1aa", "surname": "O'Brien"}, "source": "letter"}),
    );
    assert_eq!(state(&app, "postcode=SW1A%201AA&premise=2/10&surname=obrien", "mail"), "opted_out");
    assert_eq!(state(&app, "postcode=SW1A%201AA&premise=2/10&surname=Smith", "mail"), "none");
    // The household view shows the person's statement in the history, but the household is not opted out.
    let (_, h) = app.get("/v1/preferences?postcode=SW1A1AA&premise=2/10", Some(&app.agent));
    assert_eq!(h["channels"]["mail"]["state"], "none");
    assert_eq!(h["history"][0]["key"], "SW1A 1AA|2/10|OBRIEN");
    // A household opt-out covers everyone there, Smith included.
    app.opt_out(json!({"address": {"lines": ["Flat 2, 10 High Street"], "postcode": "SW1A 1AA"}, "source": "letter"}));
    assert_eq!(state(&app, "postcode=SW1A%201AA&premise=2/10&surname=Smith", "mail"), "opted_out");
    // A later consent by Smith is the latest statement about Smith, so it is in force for Smith only.
    let consent = json!({"address": {"lines": ["Flat 2, 10 High Street"], "postcode": "SW1A 1AA", "surname": "Smith"}, "source": "web", "evidence": "web form 2026-11-24"});
    assert_eq!(app.post("/v1/consents", Some(&app.agent), &consent).0, 201);
    assert_eq!(state(&app, "postcode=SW1A%201AA&premise=2/10&surname=Smith", "mail"), "consented");
    assert_eq!(state(&app, "postcode=SW1A%201AA&premise=2/10&surname=Jones", "mail"), "opted_out");
    // Premise numbers match exactly.
    assert_eq!(state(&app, "postcode=SW1A%201AA&premise=10&surname=Smith", "mail"), "none");
}

#[test]
fn preferences_show_the_registers_of_the_channel() {
    let app = TestApp::spawn();
    let (_, p) = app.get("/v1/preferences?phone=02079460018", Some(&app.agent));
    let names: Vec<&str> = p["registers"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["tps", "ctps"]);
    assert_eq!(p["registers"][0]["as_of"], Value::Null);
    let (_, p) = app.get("/v1/preferences?postcode=GIR0AA&premise=Rose%20Cottage", Some(&app.agent));
    assert_eq!(p["key"], "GIR 0AA|ROSE COTTAGE");
    assert_eq!(p["registers"][0]["name"], "mps");
}

#[test]
fn a_preferences_query_needs_exactly_one_contact_point() {
    let app = TestApp::spawn();
    for q in ["", "phone=02079460018&email=a@b.com", "postcode=SW1A1AA", "phone=02079460018&colour=red"] {
        let (s, b) = app.get(&format!("/v1/preferences?{q}"), Some(&app.agent));
        assert_eq!(s, 400, "query {q:?}: {b}");
        assert!(b["error"]["code"].is_string());
    }
    let (s, b) = app.get("/v1/preferences?phone=12", Some(&app.agent));
    assert_eq!(error_code(s, &b, 422), "invalid_phone");
}

#[test]
fn twenty_concurrent_agents_lose_no_opt_out() {
    let app = TestApp::spawn();
    let per_agent = 25;
    std::thread::scope(|scope| {
        for agent in 0..20 {
            let app = &app;
            scope.spawn(move || {
                for i in 0..per_agent {
                    let phone = format!("07912 {:06}", agent * 1000 + i);
                    let body = app.opt_out(
                        json!({"phone": phone, "channels": ["call"], "source": "call_centre", "recorded_by": format!("agent{agent}")}),
                    );
                    // Each agent gets back its own statement, though the writer commits many at once.
                    assert_eq!(body["statements"][0]["key"], format!("+447912{:06}", agent * 1000 + i));
                    assert_eq!(body["statements"][0]["recorded_by"], format!("agent{agent}"));
                    assert_eq!(body["statements"].as_array().unwrap().len(), 1);
                }
            });
        }
    });
    for agent in 0..20 {
        for i in 0..per_agent {
            let q = format!("phone=07912{:06}", agent * 1000 + i);
            assert_eq!(state(&app, &q, "call"), "opted_out", "{q}");
        }
    }
    let mut conn = app.store.conn().unwrap();
    let keys: Vec<String> = (0..20).flat_map(|a| (0..per_agent).map(move |i| format!("+447912{:06}", a * 1000 + i))).collect();
    assert_eq!(suppress::store::statements::history(&mut conn, &keys).unwrap().len(), 20 * per_agent);
}

/// The state in force for a named person at an address is the later by (recorded_at, id) of
/// their own statement and their household's, whichever was recorded first, and names whose it
/// is: its key and id.
#[test]
fn a_persons_state_is_the_later_of_their_own_and_their_households_statement() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    // A legacy household statement, recorded on a given day.
    let load = |recorded_at: &str| {
        let path = dir.path().join(format!("legacy-{recorded_at}.csv"));
        let csv = format!(
            "postcode,address_1,surname,channel,kind,recorded_at,source\nSW1A 1AA,10 High Street,,mail,opt_out,{recorded_at},letter\n"
        );
        std::fs::write(&path, csv).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_suppress"))
            .args(["import", "opt-outs", path.to_str().unwrap()])
            .env("SUPPRESS_DATABASE_URL", &app.db.url)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let mail = |query: &str| -> Value {
        let (s, b) = app.get(&format!("/v1/preferences?postcode=SW1A1AA&premise=10{query}"), Some(&app.agent));
        assert_eq!(s, 200, "{b}");
        b["channels"]["mail"].clone()
    };
    let at = |surname: Option<&str>| json!({"lines": ["10 High Street"], "postcode": "SW1A 1AA", "surname": surname});
    load("2025-01-04");
    let household_key = "SW1A 1AA|10";
    assert_eq!(
        (mail("&surname=Smith")["state"].clone(), mail("&surname=Smith")["key"].clone()),
        (json!("opted_out"), json!(household_key))
    );
    // Smith's own consent, recorded now: later than the household's opt-out.
    let consent = json!({"address": at(Some("Smith")), "source": "web", "evidence": "web form"});
    let (s, own) = app.post("/v1/consents", Some(&app.agent), &consent);
    assert_eq!(s, 201, "{own}");
    let own = &own["statements"][0];
    let smith = mail("&surname=Smith");
    assert_eq!((&smith["state"], &smith["key"], &smith["statement_id"]), (&json!("consented"), &own["key"], &own["id"]));
    // Another legacy household opt-out: a higher id, but recorded before Smith's consent.
    load("2025-01-05");
    assert_eq!(mail("&surname=Smith")["statement_id"], own["id"]);
    // A household opt-out recorded now: later than Smith's own, so in force for Smith too.
    let household = app.opt_out(json!({"address": at(None), "source": "letter"}));
    let household = &household["statements"][0];
    let smith = mail("&surname=Smith");
    assert_eq!((&smith["state"], &smith["key"], &smith["statement_id"]), (&json!("opted_out"), &json!(household_key), &household["id"]));
    assert_eq!(mail("")["statement_id"], household["id"]);
    assert_eq!(mail("&surname=Jones")["key"], household_key);
}

#[test]
fn empty_channels_are_refused_not_taken_as_every_channel() {
    let app = TestApp::spawn();
    let opt_out = json!({"phone": "07912 345678", "email": "jo@example.com", "channels": [], "source": "call_centre"});
    let (s, b) = app.post("/v1/opt-outs", Some(&app.agent), &opt_out);
    assert_eq!(error_code(s, &b, 422), "no_channels");
    assert_eq!(b["error"]["details"]["field"], "channels");
    let consent = json!({"phone": "07912 345678", "channels": [], "source": "web", "evidence": "ticked box"});
    let (s, b) = app.post("/v1/consents", Some(&app.agent), &consent);
    assert_eq!(error_code(s, &b, 422), "no_channels");
    for q in ["phone=07912345678", "email=jo@example.com"] {
        let (_, p) = app.get(&format!("/v1/preferences?{q}"), Some(&app.agent));
        assert_eq!(p["history"].as_array().map(Vec::len), Some(0), "{q}: {p}");
    }
}

/// A body recording one opt-out on the phone, with `extra` merged in.
fn with(extra: Value) -> Value {
    let mut body = json!({"phone": "07912 345678", "channels": ["call"], "source": "call_centre"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

#[test]
fn control_characters_in_any_text_are_422_and_other_agents_are_answered_meanwhile() {
    let app = TestApp::spawn();
    let address = |lines: Value, surname: &str| json!({"address": {"lines": lines, "postcode": "SW1A 1AA", "surname": surname}, "channels": ["mail"], "source": "letter"});
    let cases: Vec<(&str, &str, Value)> = vec![
        ("/v1/opt-outs", "note", with(json!({"note": "asked\u{0}twice"}))),
        ("/v1/opt-outs", "recorded_by", with(json!({"recorded_by": "j.smith\u{0}"}))),
        ("/v1/opt-outs", "recorded_by", with(json!({"recorded_by": "j.smith\nadmin"}))),
        ("/v1/opt-outs", "note", with(json!({"note": "\u{1b}[2J cleared"}))),
        ("/v1/consents", "evidence", with(json!({"evidence": "call\u{0} 10:02"}))),
        ("/v1/consents", "evidence", with(json!({"evidence": "call \u{7f}"}))),
        ("/v1/opt-outs", "address.lines[1]", address(json!(["Flat 2", "10 High\u{0} Street"]), "Smith")),
        ("/v1/opt-outs", "address.surname", address(json!(["10 High Street"]), "Sm\u{0}ith")),
    ];
    for (path, field, body) in cases {
        // A valid opt-out sent in the same moment is recorded as usual.
        let (bad, good) = std::thread::scope(|scope| {
            let bad = scope.spawn(|| app.post(path, Some(&app.agent), &body));
            let good = scope.spawn(|| app.post("/v1/opt-outs", Some(&app.agent), &json!({"phone": "020 7946 0018", "source": "web"})));
            (bad.join().unwrap(), good.join().unwrap())
        });
        assert_eq!(error_code(bad.0, &bad.1, 422), "invalid_text", "{field}: {}", bad.1);
        assert_eq!(bad.1["error"]["details"]["field"], field);
        assert!(!bad.1.to_string().contains("twice") && !bad.1.to_string().contains("High"), "the text is not echoed: {}", bad.1);
        assert_eq!(good.0, 201, "{}", good.1);
    }
    // Nothing of the refused requests was recorded; tab and newline are fine in a note and evidence.
    let (_, p) = app.get("/v1/preferences?phone=07912345678", Some(&app.agent));
    assert_eq!(p["history"].as_array().map(Vec::len), Some(0), "{p}");
    let (_, p) = app.get("/v1/preferences?postcode=SW1A1AA&premise=10&surname=Smith", Some(&app.agent));
    assert_eq!(p["history"].as_array().map(Vec::len), Some(0), "{p}");
    app.opt_out(with(json!({"note": "line one\nline two\tend\r\n", "recorded_by": "Siân O'Brien"})));
    let consent = with(json!({"evidence": "recorded call\n10:02\trenewals only"}));
    assert_eq!(app.post("/v1/consents", Some(&app.agent), &consent).0, 201);
    let (_, p) = app.get("/v1/preferences?phone=07912345678", Some(&app.agent));
    assert_eq!(p["history"][0]["note"], "line one\nline two\tend\r\n");
}

#[test]
fn free_text_is_bounded_and_the_error_names_the_field_and_limit() {
    let app = TestApp::spawn();
    // Characters, not bytes: 500 two-byte letters are a note of 500.
    for (path, field, limit, extra) in [
        ("/v1/opt-outs", "note", 500, json!({})),
        ("/v1/opt-outs", "recorded_by", 500, json!({})),
        ("/v1/consents", "evidence", 2_000, json!({})),
    ] {
        let mut at_limit = with(extra.clone());
        let mut over = with(extra);
        if path == "/v1/consents" {
            at_limit["evidence"] = json!("ok");
            over["evidence"] = json!("ok");
        }
        at_limit[field] = json!("é".repeat(limit));
        over[field] = json!("é".repeat(limit + 1));
        assert_eq!(app.post(path, Some(&app.agent), &at_limit).0, 201, "{field} at its limit");
        let (s, b) = app.post(path, Some(&app.agent), &over);
        assert_eq!(error_code(s, &b, 422), "text_too_long", "{field}");
        assert_eq!(b["error"]["details"], json!({"field": field, "limit": limit}));
        assert!(b["error"]["message"].as_str().unwrap().contains(&limit.to_string()), "{b}");
    }
    // Addresses: at most 10 lines of 200 characters, a surname of 100.
    let address = |lines: Value, surname: String| json!({"address": {"lines": lines, "postcode": "SW1A 1AA", "surname": surname}, "channels": ["mail"], "source": "letter"});
    for (body, field, limit) in [
        (address(json!(vec!["10 High Street"; 11]), "Smith".into()), "address.lines", 10),
        (address(json!(["10 High Street", "x".repeat(201)]), "Smith".into()), "address.lines[1]", 200),
        (address(json!(["10 High Street"]), "s".repeat(101)), "address.surname", 100),
    ] {
        let (s, b) = app.post("/v1/opt-outs", Some(&app.agent), &body);
        assert_eq!(error_code(s, &b, 422), "text_too_long", "{field}");
        assert_eq!(b["error"]["details"], json!({"field": field, "limit": limit}));
    }
    let fine = address(json!(["10 High Street", "x".repeat(200)]), "s".repeat(100));
    assert_eq!(app.post("/v1/opt-outs", Some(&app.agent), &fine).0, 201);
}

/// CONTRACT §1: an email address a spreadsheet would run as a formula is a 422 wherever a key is
/// taken, records nothing, and the message does not echo it.
#[test]
fn formula_email_addresses_are_422() {
    let app = TestApp::spawn();
    for email in ["=jo@example.com", "+jo@example.com", " -jo@example.com", "@jo@example.com"] {
        let (s, b) = app.post("/v1/opt-outs", Some(&app.agent), &json!({"email": email, "source": "web"}));
        assert_eq!(error_code(s, &b, 422), "invalid_email", "{email}");
        assert!(!b.to_string().contains("jo@example.com"), "{b}");
        let consent = json!({"email": email, "channels": ["email"], "source": "web", "evidence": "ticked the box"});
        let (s, b) = app.post("/v1/consents", Some(&app.agent), &consent);
        assert_eq!(error_code(s, &b, 422), "invalid_email", "{email}");
        let query: String = email.bytes().map(|b| format!("%{b:02X}")).collect();
        let (s, b) = app.get(&format!("/v1/preferences?email={query}"), Some(&app.agent));
        assert_eq!(error_code(s, &b, 422), "invalid_email", "{email}");
    }
    let (_, b) = app.get("/v1/preferences?email=jo@example.com", Some(&app.agent));
    assert_eq!(b["history"].as_array().map(Vec::len), Some(0), "{b}");
}

/// CONTRACT §3: an emoji in an address line or a surname is dropped, never spelled out as a word
/// (it once became the premise GRINNING); letters with diacritics are folded.
#[test]
fn an_emoji_in_an_address_invents_no_premise() {
    let app = TestApp::spawn();
    let body = app.opt_out(json!({
        "address": {"lines": ["😀", "Mill Lane 🌳"], "postcode": "SW1A 1AA", "surname": "Zoë 😀"},
        "source": "letter"
    }));
    assert_eq!(body["statements"][0]["key"], "SW1A 1AA|MILL LANE|ZOE", "{body}");
    let (s, p) = app.get("/v1/preferences?postcode=SW1A%201AA&premise=Mill%20Lane&surname=Zoe", Some(&app.agent));
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["channels"]["mail"]["state"], "opted_out", "{p}");
    assert!(!p.to_string().to_uppercase().contains("GRINNING"), "{p}");
    assert_eq!(state(&app, "postcode=SW1A%201AA&premise=GRINNING&surname=Zoe", "mail"), "none");
}
