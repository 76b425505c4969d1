//! `/people`, the customer look-up, over plain HTTP (CONTRACT §6, §7, §10): the page reads and
//! records through the same use cases as the API, so every assertion about what was recorded is
//! made through the API.

use serde_json::Value;
use suppress::domain::access::Role;

use crate::helpers::{PageAnswer, Person, TestApp};

fn look(p: &mut Person, q: &str) -> PageAnswer {
    let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    p.get(&format!("/people?q={q}"))
}

/// The text of the element with `id` (to the end of its line in the page), tags removed.
fn text(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let rest = &html[at..];
    let line = &rest[rest.find('>')? + 1..];
    let line = line.split('\n').next()?;
    let mut out = String::new();
    let mut in_tag = false;
    for c in line.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    Some(out.replace("&#x27;", "'").replace("&amp;", "&").replace("&#x2b;", "+").trim().to_owned())
}

fn history(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/v1/preferences?{query}"), Some(&app.agent));
    assert_eq!(status, 200, "{body}");
    body["history"].as_array().cloned().unwrap_or_default()
}

fn today() -> String {
    suppress::pages::day(suppress::domain::time::today_uk())
}

#[test]
fn a_number_in_any_spelling_finds_one_key_and_an_opt_out_on_one_channel_binds_check_at_once() {
    let app = TestApp::spawn();
    let mut p = app.person("j.smith", Role::Agent);
    let empty = p.get("/people");
    assert_eq!(empty.status, 200);
    assert!(empty.body.contains("<label for=\"q\">Phone number, email or address</label>"), "{}", empty.body);
    assert!(empty.body.contains(" autofocus>"), "the box takes the keyboard when there is no query");
    assert!(!empty.body.contains("id=\"result\""));

    let a = look(&mut p, "+44 (0)20 7946 0018");
    let b = look(&mut p, "020-7946-0018");
    assert_eq!((a.status, b.status), (200, 200), "{}", a.body);
    assert_eq!(text(&a.body, "result-key").as_deref(), Some("+442079460018"));
    assert_eq!(text(&b.body, "result-key"), text(&a.body, "result-key"));
    assert_eq!(text(&a.body, "result-title").as_deref(), Some("020 7946 0018"));
    assert_eq!(text(&a.body, "state-sms").as_deref(), Some("No statement: no opt-out or consent is recorded for texts"));
    assert_eq!(text(&a.body, "state-call").as_deref(), Some("No statement: calls follow the registers (TPS, CTPS)"));
    assert!(a.body.contains("id=\"history-empty\""));

    // The form's recorded_by is ignored: the signed-in person recorded it (CONTRACT §7).
    let posted = p.post(
        "/people/opt-out",
        &[
            ("q", "020-7946-0018"),
            ("channels", "sms"),
            ("source", "call_centre"),
            ("note", "asked on the phone"),
            ("recorded_by", "someone.else"),
        ],
    );
    assert_eq!(posted.status, 303, "{}", posted.body);
    let (_, check) = app.get("/v1/check?phone=02079460018&channel=sms", Some(&app.agent));
    assert_eq!(check["reason"], "OPTED_OUT", "{check}");
    let (_, call) = app.get("/v1/check?phone=02079460018&channel=call", Some(&app.agent));
    assert_ne!(call["reason"], "OPTED_OUT", "one channel only: {call}");
    let h = history(&app, "phone=02079460018");
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!((h[0]["channel"].as_str(), h[0]["kind"].as_str()), (Some("sms"), Some("opt_out")));
    assert_eq!((h[0]["recorded_by"].as_str(), h[0]["recorded_via"].as_str()), (Some("j.smith"), Some("web:j.smith")));
    assert_eq!(h[0]["note"], "asked on the phone");

    let location = posted.location.expect("a place to look next");
    assert!(location.starts_with("/people?"), "{location}");
    let after = p.get(&location);
    assert_eq!(after.status, 200);
    assert!(after.body.contains("role=\"status\" id=\"say\""), "{}", after.body);
    assert_eq!(text(&after.body, "say-sentence").as_deref(), Some("We have stopped marketing texts to 020 7946 0018 from now."));
    assert_eq!(text(&after.body, "state-sms"), Some(format!("No marketing texts: opted out on {} by j.smith", today())));
    assert!(text(&after.body, "state-call").is_some_and(|s| s.starts_with("No statement")));
    assert!(after.body.contains("<td>asked on the phone</td>"), "the history shows the note");
    assert!(after.body.contains("web:j.smith"));
    // A plain look-up says nothing to read, nor does the same address to someone who did not record it.
    assert!(!look(&mut p, "02079460018").body.contains("id=\"say\""));
    let mut other = app.person("other.agent", Role::Agent);
    let theirs = other.get(&location);
    assert_eq!(theirs.status, 200);
    assert!(!theirs.body.contains("id=\"say\""), "{}", theirs.body);
}

#[test]
fn all_channels_is_the_default_and_the_sentence_names_them() {
    let app = TestApp::spawn();
    let mut p = app.person("agent.all", Role::Agent);
    let page = look(&mut p, "07912 345678");
    assert!(page.body.contains("id=\"opt-out-channel-all\" value=\"all\" checked"), "{}", page.body);
    let posted = p.post("/people/opt-out", &[("q", "07912 345678"), ("channels", "all"), ("source", "call_centre")]);
    assert_eq!(posted.status, 303, "{}", posted.body);
    let h = history(&app, "phone=07912345678");
    let mut channels: Vec<&str> = h.iter().filter_map(|s| s["channel"].as_str()).collect();
    channels.sort_unstable();
    assert_eq!(channels, ["call", "sms"]);
    let after = p.get(&posted.location.unwrap());
    assert_eq!(text(&after.body, "say-sentence").as_deref(), Some("We have stopped marketing calls and texts to 07912 345678 from now."));
}

#[test]
fn a_consent_without_evidence_is_refused_on_the_page_and_nothing_is_recorded() {
    let app = TestApp::spawn();
    let mut p = app.person("a.agent", Role::Agent);
    look(&mut p, "020 7946 0018");
    let refused =
        p.post("/people/consent", &[("q", "020 7946 0018"), ("channels", "call"), ("note", "keep this note"), ("evidence", "   ")]);
    assert_eq!(refused.status, 422, "{}", refused.body);
    let sentence = text(&refused.body, "record-error").unwrap_or_default();
    assert!(sentence.contains("consent needs evidence"), "{sentence}");
    assert!(refused.body.contains("keep this note</textarea>"), "the person's input is kept");
    assert!(refused.body.contains("id=\"consent-channel-call\" value=\"call\" checked"), "the channel chosen is kept");
    assert!(history(&app, "phone=02079460018").is_empty());

    let given = p
        .post("/people/consent", &[("q", "020 7946 0018"), ("channels", "call"), ("evidence", "asked for offers by phone; script 4 read")]);
    assert_eq!(given.status, 303, "{}", given.body);
    let after = p.get(&given.location.unwrap());
    assert_eq!(text(&after.body, "say-sentence").as_deref(), Some("We have recorded your consent to marketing calls on 020 7946 0018."));
    assert_eq!(text(&after.body, "state-call"), Some(format!("Marketing calls allowed: consent given on {} by a.agent", today())));
    let h = history(&app, "phone=02079460018");
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["evidence"], "asked for offers by phone; script 4 read");
}

#[test]
fn compliance_reads_without_forms_and_campaign_is_refused() {
    let app = TestApp::spawn();
    app.opt_out(serde_json::json!({"phone": "020 7946 0018", "source": "letter", "recorded_by": "k.jones"}));
    let mut c = app.person("c.officer", Role::Compliance);
    let page = look(&mut c, "020 7946 0018");
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(text(&page.body, "result-key").as_deref(), Some("+442079460018"));
    assert_eq!(text(&page.body, "state-call"), Some(format!("No marketing calls: opted out on {} by k.jones", today())));
    for form in ["opt-out-form", "consent-form", "action=\"/people/"] {
        assert!(!page.body.contains(form), "compliance sees no {form}");
    }
    for path in ["/people/opt-out", "/people/consent"] {
        let refused = c.post(path, &[("q", "07912 345678"), ("channels", "all"), ("evidence", "x")]);
        assert_eq!(refused.status, 403, "{path}: {}", refused.body);
    }
    assert!(history(&app, "phone=07912345678").is_empty(), "a refused post records nothing");

    let mut m = app.person("m.campaign", Role::Campaign);
    assert_eq!(m.get("/people").status, 403);
    assert_eq!(look(&mut m, "020 7946 0018").status, 403);
    let home = m.get("/");
    assert!(!home.body.contains("href=\"/people\""), "not linked for campaign");
    assert_eq!(m.post("/people/opt-out", &[("q", "07912 345678")]).status, 403);
    assert!(history(&app, "phone=07912345678").is_empty());

    // Admins may record.
    let mut a = app.person("the.admin", Role::Admin);
    assert!(look(&mut a, "07912 345678").body.contains("id=\"opt-out-form\""));
}

#[test]
fn an_email_and_an_address_are_looked_up_and_recorded_as_the_api_keys_them() {
    let app = TestApp::spawn();
    let mut p = app.person("e.agent", Role::Agent);
    let email = look(&mut p, " A.Jones@Example.COM ");
    assert_eq!(email.status, 200, "{}", email.body);
    let (_, api) = app.get("/v1/preferences?email=A.Jones@Example.COM", Some(&app.agent));
    assert_eq!(text(&email.body, "result-key").as_deref(), api["key"].as_str());
    assert!(!email.body.contains("opt-out-channel-"), "one channel: no choice to make");
    let posted = p.post("/people/opt-out", &[("q", "A.Jones@Example.COM"), ("channels", "all")]);
    assert_eq!(posted.status, 303, "{}", posted.body);
    let after = p.get(&posted.location.unwrap());
    let key = api["key"].as_str().unwrap();
    assert_eq!(text(&after.body, "say-sentence"), Some(format!("We have stopped marketing emails to {key} from now.")));

    // A household (no surname), then one person there: the household's opt-out is in force for them.
    let household = look(&mut p, "12 High Street, sw1a1aa");
    assert_eq!(household.status, 200, "{}", household.body);
    assert_eq!(text(&household.body, "result-key").as_deref(), Some("SW1A 1AA|12"));
    assert!(text(&household.body, "result-what").unwrap().starts_with("The household"));
    let posted = p.post("/people/opt-out", &[("q", "12 High Street, sw1a1aa"), ("source", "letter")]);
    assert_eq!(posted.status, 303, "{}", posted.body);
    let after = p.get(&posted.location.unwrap());
    assert_eq!(text(&after.body, "say-sentence").as_deref(), Some("We have stopped marketing post to 12, SW1A 1AA from now."));
    let person = look(&mut p, "12 High Street SW1A 1AA Jones");
    assert_eq!(text(&person.body, "result-key").as_deref(), Some("SW1A 1AA|12|JONES"));
    assert_eq!(
        text(&person.body, "state-mail"),
        Some(format!("No marketing post: opted out on {} by e.agent, for the whole household", today()))
    );
    let (_, api) = app.get("/v1/preferences?postcode=SW1A1AA&premise=12&surname=Jones", Some(&app.agent));
    assert_eq!(api["channels"]["mail"]["state"], "opted_out", "{api}");
    assert_eq!(api["history"][0]["source"], "letter");
}

#[test]
fn refused_searches_and_forms_say_what_to_do_and_record_nothing() {
    let app = TestApp::spawn();
    let mut p = app.person("r.agent", Role::Agent);
    for q in ["not a number", "SW1A 1AA", "0207 946"] {
        let page = look(&mut p, q);
        assert_eq!(page.status, 422, "{q}: {}", page.body);
        assert!(text(&page.body, "search-error").is_some_and(|s| s.ends_with('.') && s.len() > 10), "{q}: {}", page.body);
        assert!(!page.body.contains("id=\"result\""));
    }
    look(&mut p, "020 7946 0018");
    let long = "x".repeat(501);
    let refusals: [(&str, &[(&str, &str)]); 5] = [
        ("/people/opt-out", &[("q", "020 7946 0018"), ("note", "ring\u{7}bell")]),
        ("/people/opt-out", &[("q", "020 7946 0018"), ("note", &long)]),
        ("/people/opt-out", &[("q", "020 7946 0018"), ("channels", "mail")]),
        ("/people/opt-out", &[("q", "020 7946 0018"), ("source", "carrier pigeon")]),
        ("/people/consent", &[("q", "020 7946 0018"), ("evidence", "said yes\u{0}")]),
    ];
    for (path, fields) in refusals {
        let page = p.post(path, fields);
        assert_eq!(page.status, 422, "{fields:?}: {}", page.body);
        let sentence = text(&page.body, "record-error").unwrap_or_default();
        assert!(sentence.ends_with('.') && sentence.len() > 10, "{fields:?}: {sentence}");
        assert!(!sentence.contains('\u{7}') && !sentence.contains('{'), "{sentence}");
    }
    let bad_q = p.post("/people/opt-out", &[("q", "0207 946")]);
    assert_eq!(bad_q.status, 422);
    assert!(text(&bad_q.body, "search-error").is_some());
    assert!(history(&app, "phone=02079460018").is_empty());
}

#[test]
fn a_forged_post_records_nothing() {
    let app = TestApp::spawn();
    let mut p = app.person("f.agent", Role::Agent);
    look(&mut p, "020 7946 0018");
    let form = "q=020+7946+0018&channels=all&source=call_centre";
    let origin = p.base.clone();
    let cookie = p.cookie.clone().unwrap();
    let attempts: [(Vec<(&str, &str)>, String); 3] = [
        // No token.
        (vec![("Cookie", &cookie), ("Origin", &origin)], form.to_owned()),
        // Another token.
        (vec![("Cookie", &cookie), ("Origin", &origin)], format!("{form}&csrf=not-the-token")),
        // The right token, from another site.
        (
            vec![("Cookie", &cookie), ("Origin", "https://evil.example"), ("Sec-Fetch-Site", "cross-site")],
            format!("{form}&csrf={}", p.csrf),
        ),
    ];
    for (headers, body) in attempts {
        let answer = p.post_raw("/people/opt-out", &headers, "application/x-www-form-urlencoded", body.into_bytes());
        assert_eq!(answer.status, 403, "{}", answer.body);
    }
    assert!(history(&app, "phone=02079460018").is_empty());
    // The same form from the page goes through.
    assert_eq!(p.post("/people/opt-out", &[("q", "020 7946 0018")]).status, 303);
    assert_eq!(history(&app, "phone=02079460018").len(), 2);
}

#[test]
fn register_listings_are_shown_in_words() {
    let app = TestApp::spawn();
    let today = suppress::domain::time::today_uk();
    let (status, body) = app.raw(
        "POST",
        &format!("/v1/registers/tps/imports?as_of={today}"),
        Some(&app.admin),
        Some("text/plain"),
        "0207 9460018\r\n0207 9460019\r\n",
    );
    assert_eq!(status, 201, "{body}");
    let mut p = app.person("l.agent", Role::Agent);
    let page = look(&mut p, "020 7946 0018");
    let tps = text(&page.body, "register-tps").unwrap();
    assert!(tps.starts_with("TPScallListed"), "{tps}");
    assert!(tps.contains("binding now"), "{tps}");
    assert!(tps.ends_with(&suppress::pages::day(today)), "{tps}");
    assert!(text(&page.body, "register-ctps").unwrap().contains("Never imported"));
    let other = look(&mut p, "020 7946 0020");
    assert!(text(&other.body, "register-tps").unwrap().contains("Not listed"));
}
