//! `/admin` (users and keys) and `/compliance` over plain HTTP (CONTRACT §7, §10, §12).

use serde_json::json;
use suppress::domain::access::Role;

use crate::helpers::{Person, TestApp};

/// The text of the element with this id (its first text, up to the next tag).
fn by_id(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let rest = &html[at..];
    let start = rest.find('>')? + 1;
    let rest = &rest[start..];
    let rest = rest.strip_prefix("<p>").unwrap_or(rest);
    Some(rest[..rest.find('<')?].trim().to_owned())
}

/// The users as the store lists them: (name, role, one-time, disabled).
fn users(app: &TestApp) -> Vec<(String, String, bool, bool)> {
    suppress::app::users::list(&app.store)
        .unwrap()
        .into_iter()
        .map(|u| (u.name, u.role.as_str().to_owned(), u.must_change_password, u.disabled_at.is_some()))
        .collect()
}

/// The keys: (name, role, revoked).
fn keys(app: &TestApp) -> Vec<(String, String, bool)> {
    suppress::app::keys::list(&app.store)
        .unwrap()
        .into_iter()
        .map(|k| (k.name, k.role.as_str().to_owned(), k.revoked_at.is_some()))
        .collect()
}

fn check_status(app: &TestApp, key: &str) -> u16 {
    app.get("/v1/check?phone=02079460018&channel=call", Some(key)).0
}

#[test]
fn an_admin_creates_a_user_whose_one_time_password_is_shown_once_and_must_be_changed() {
    let app = TestApp::spawn();
    let mut admin = app.person("the.admin", Role::Admin);
    let page = admin.get("/admin");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"create-user\""), "{}", page.body);
    let made = admin.post("/admin/users", &[("name", "j.smith"), ("role", "compliance"), ("email", "j.smith@example.com")]);
    assert_eq!((made.status, made.location.as_deref()), (200, None), "shown on the answer to the POST, never by a redirect");
    assert_eq!(
        by_id(&made.body, "secret-sentence").as_deref(),
        Some("Give j.smith this one-time password; they must change it when they first sign in.")
    );
    let password = by_id(&made.body, "secret-value").expect("the one-time password");
    assert!(password.len() >= 12, "{password}");
    assert!(made.content_type.starts_with("text/html"));
    assert!(users(&app).contains(&("j.smith".into(), "compliance".into(), true, false)), "{:?}", users(&app));
    // Once: the page read again does not show it.
    let again = admin.get("/admin");
    assert!(!again.body.contains(&password));
    assert!(again.body.contains("j.smith@example.com") && again.body.contains("one-time: not yet changed"), "{}", again.body);
    // It signs in once, to the change-password page only.
    let mut j = Person::new(&app.base, "j.smith", "");
    let signed = j.sign_in(&password);
    assert_eq!((signed.status, signed.location.as_deref()), (303, Some("/password")));
    assert_eq!(j.get("/compliance").location.as_deref(), Some("/password"));
    assert_eq!(j.get("/password").status, 200);
    let changed =
        j.post("/password", &[("current", &password), ("password", "j.smith's own passphrase"), ("confirm", "j.smith's own passphrase")]);
    assert_eq!(changed.status, 303, "{}", changed.body);
    assert_eq!(j.get("/compliance").status, 200);
    assert!(users(&app).contains(&("j.smith".into(), "compliance".into(), false, false)));
}

#[test]
fn a_refused_user_or_key_is_said_in_a_sentence_with_the_input_kept() {
    let app = TestApp::spawn();
    let mut admin = app.person("the.admin", Role::Admin);
    admin.get("/admin");
    let before = users(&app);
    let taken = admin.post("/admin/users", &[("name", "the.admin"), ("role", "agent"), ("email", "kept@example.com")]);
    assert_eq!(taken.status, 409, "{}", taken.body);
    let sentence = by_id(&taken.body, "create-user-error").unwrap();
    assert!(sentence.contains("exists already") && sentence.ends_with('.'), "{sentence}");
    assert!(taken.body.contains("value=\"kept@example.com\""), "the email typed is kept");
    assert!(taken.body.contains("<option value=\"agent\" selected>"), "the role chosen is kept");
    let blank = admin.post("/admin/users", &[("name", "   "), ("role", "agent"), ("email", "")]);
    assert_eq!(blank.status, 422);
    assert!(by_id(&blank.body, "create-user-error").unwrap().contains("needs a name"));
    let control = admin.post("/admin/users", &[("name", "bad\u{7}name"), ("role", "agent"), ("email", "")]);
    assert_eq!(control.status, 422);
    let role = admin.post("/admin/users", &[("name", "ok.name"), ("role", "superuser"), ("email", "")]);
    assert_eq!(role.status, 422);
    assert!(by_id(&role.body, "create-user-error").unwrap().contains("expected one of"), "{}", role.body);
    assert!(role.body.contains("value=\"ok.name\""));
    let email = admin.post("/admin/users", &[("name", "ok.name"), ("role", "agent"), ("email", "not an email")]);
    assert_eq!(email.status, 422);
    assert!(email.body.contains("value=\"not an email\""));
    assert_eq!(users(&app), before, "nothing refused was stored");
    let key_taken = admin.post("/admin/keys", &[("name", "agent"), ("role", "campaign")]);
    assert_eq!(key_taken.status, 409);
    assert!(by_id(&key_taken.body, "create-key-error").unwrap().contains("already in use"), "{}", key_taken.body);
    assert!(key_taken.body.contains("id=\"key-name\" name=\"name\" type=\"text\" required value=\"agent\""));
    assert!(key_taken.body.contains("<option value=\"campaign\" selected>"));
    let missing = admin.post("/admin/users/disable", &[("name", "nobody")]);
    assert_eq!(missing.status, 404);
    assert!(by_id(&missing.body, "admin-error").unwrap().contains("There is no user in use named"), "{}", missing.body);
}

#[test]
fn disabling_on_the_page_ends_that_users_session_at_once_but_no_one_disables_themself() {
    let app = TestApp::spawn();
    let mut admin = app.person("the.admin", Role::Admin);
    let mut leaver = app.person("leaver", Role::Agent);
    assert_eq!(leaver.get("/").status, 200);
    let page = admin.get("/admin");
    assert!(page.body.contains(">Disable leaver</button>"), "a clear button label");
    assert!(!page.body.contains(">Disable the.admin</button>"), "no button to disable oneself");
    let done = admin.post("/admin/users/disable", &[("name", "leaver")]);
    assert_eq!((done.status, done.location.as_deref()), (303, Some("/admin?disabled=leaver")));
    let shown = admin.get("/admin?disabled=leaver");
    assert_eq!(
        by_id(&shown.body, "admin-done").as_deref(),
        Some("leaver is disabled: they cannot sign in, and their sessions have ended.")
    );
    let gone = leaver.get("/");
    assert_eq!(gone.status, 200, "the sign-in page");
    assert!(gone.body.contains("action=\"/sign-in\""), "the leaver's session ended: {}", gone.body);
    assert_eq!(Person::new(&app.base, "leaver", "").sign_in("leaver-password-long").status, 401);
    // An outcome a link names is said only when it is so.
    let forged = admin.get("/admin?disabled=the.admin");
    assert!(by_id(&forged.body, "admin-done").is_none());
    // Themself: refused with a sentence; still signed in, still in use.
    let me = admin.post("/admin/users/disable", &[("name", "the.admin")]);
    assert_eq!(me.status, 409);
    assert!(by_id(&me.body, "admin-error").unwrap().contains("cannot disable yourself"), "{}", me.body);
    assert_eq!(admin.get("/admin").status, 200);
    assert!(users(&app).contains(&("the.admin".into(), "admin".into(), false, false)));
}

#[test]
fn a_reset_on_the_page_shows_a_new_one_time_password_and_ends_sessions() {
    let app = TestApp::spawn();
    let mut admin = app.person("the.admin", Role::Admin);
    let mut forgetful = app.person("forgetful", Role::Campaign);
    admin.get("/admin");
    let reset = admin.post("/admin/users/reset", &[("name", "forgetful")]);
    assert_eq!((reset.status, reset.location), (200, None));
    assert!(by_id(&reset.body, "secret-sentence").unwrap().starts_with("Give forgetful this one-time password"), "{}", reset.body);
    let password = by_id(&reset.body, "secret-value").unwrap();
    assert!(forgetful.get("/").body.contains("action=\"/sign-in\""), "their session ended");
    assert_eq!(Person::new(&app.base, "forgetful", "").sign_in("forgetful-password-long").status, 401, "the old password is gone");
    let mut again = Person::new(&app.base, "forgetful", "");
    assert_eq!(again.sign_in(&password).location.as_deref(), Some("/password"));
    let missing = admin.post("/admin/users/reset", &[("name", "nobody")]);
    assert_eq!(missing.status, 404);
    assert!(by_id(&missing.body, "admin-error").is_some());
}

#[test]
fn a_key_made_on_the_page_works_on_the_api_until_it_is_revoked() {
    let app = TestApp::spawn();
    let mut admin = app.person("the.admin", Role::Admin);
    admin.get("/admin");
    let made = admin.post("/admin/keys", &[("name", "crm-sync"), ("role", "agent")]);
    assert_eq!((made.status, made.location.as_deref()), (200, None));
    let key = by_id(&made.body, "secret-value").unwrap();
    assert!(key.starts_with("sup_") && key.len() == 68, "{key}");
    assert!(!admin.get("/admin").body.contains(&key), "shown once");
    assert_eq!(check_status(&app, &key), 200);
    let page = admin.get("/admin");
    assert!(page.body.contains(">Revoke key crm-sync</button>"));
    let revoked = admin.post("/admin/keys/revoke", &[("name", "crm-sync")]);
    assert_eq!((revoked.status, revoked.location.as_deref()), (303, Some("/admin?revoked=crm-sync")));
    assert!(by_id(&admin.get("/admin?revoked=crm-sync").body, "admin-done").unwrap().contains("The key crm-sync is revoked"));
    assert_eq!(check_status(&app, &key), 401);
    assert!(keys(&app).contains(&("crm-sync".into(), "agent".into(), true)));
    let twice = admin.post("/admin/keys/revoke", &[("name", "crm-sync")]);
    assert_eq!(twice.status, 404);
}

#[test]
fn only_admins_may_use_the_admin_page_and_its_forms() {
    let app = TestApp::spawn();
    let _ = app.person("target", Role::Agent);
    let (users_before, keys_before) = (users(&app), keys(&app));
    for (name, role) in [("an.agent", Role::Agent), ("a.campaign", Role::Campaign), ("a.compliance", Role::Compliance)] {
        let mut p = app.person(name, role);
        let home = p.get("/");
        assert!(!home.body.contains("href=\"/admin\""), "{name}: not linked");
        assert_eq!(p.get("/admin").status, 403, "{name}");
        for (path, fields) in [
            ("/admin/users", vec![("name", "sneaky"), ("role", "admin"), ("email", "")]),
            ("/admin/users/disable", vec![("name", "target")]),
            ("/admin/users/reset", vec![("name", "target")]),
            ("/admin/keys", vec![("name", "sneaky"), ("role", "admin")]),
            ("/admin/keys/revoke", vec![("name", "admin")]),
        ] {
            let answer = p.post(path, &fields);
            assert_eq!(answer.status, 403, "{name} {path}");
            assert!(!answer.body.contains("secret-value"), "{name} {path}");
        }
    }
    let users_after: Vec<_> = users(&app).into_iter().filter(|u| u.0 == "target" || u.0 == "sneaky").collect();
    assert_eq!(users_after, users_before.into_iter().filter(|u| u.0 == "target").collect::<Vec<_>>(), "nothing changed");
    assert_eq!(keys(&app), keys_before);
    assert_eq!(check_status(&app, &app.admin), 200, "the admin key still works");
}

#[test]
fn forged_admin_forms_change_nothing() {
    let app = TestApp::spawn();
    let mut admin = app.person("the.admin", Role::Admin);
    let mut other = app.person("other.admin", Role::Admin);
    let _ = app.person("target", Role::Agent);
    admin.get("/admin");
    other.get("/admin");
    let (users_before, keys_before) = (users(&app), keys(&app));
    let forms: [(&str, &str); 4] = [
        ("/admin/users", "name=forged&role=admin&email="),
        ("/admin/users/disable", "name=target"),
        ("/admin/keys", "name=forged&role=admin"),
        ("/admin/keys/revoke", "name=admin"),
    ];
    let form = "application/x-www-form-urlencoded";
    for (path, fields) in forms {
        // No token.
        let none = admin.post_raw(path, &[("Origin", app.base.as_str()), ("Sec-Fetch-Site", "same-origin")], form, fields.into());
        assert_eq!(none.status, 403, "{path}");
        // Another session's token.
        let wrong = admin.post_raw(
            path,
            &[("Origin", app.base.as_str()), ("Sec-Fetch-Site", "same-origin")],
            form,
            format!("{fields}&csrf={}", other.csrf).into(),
        );
        assert_eq!(wrong.status, 403, "{path}");
        // From another site, with the right token.
        let cross = admin.post_raw(
            path,
            &[("Origin", "https://evil.example"), ("Sec-Fetch-Site", "cross-site")],
            form,
            format!("{fields}&csrf={}", admin.csrf).into(),
        );
        assert_eq!(cross.status, 403, "{path}");
        assert!(cross.body.contains("nothing was changed"), "{}", cross.body);
        assert!(!cross.body.contains("secret-value"));
    }
    assert_eq!(users(&app), users_before);
    assert_eq!(keys(&app), keys_before);
    let mut target = Person::new(&app.base, "target", "");
    assert_eq!(target.sign_in("target-password-long").status, 303, "the target was not disabled");
}

#[test]
fn compliance_and_admins_see_the_compliance_page_agents_and_campaign_do_not() {
    let app = TestApp::spawn();
    for (name, role, status) in [
        ("a.compliance", Role::Compliance, 200),
        ("the.admin", Role::Admin, 200),
        ("an.agent", Role::Agent, 403),
        ("a.campaign", Role::Campaign, 403),
    ] {
        let mut p = app.person(name, role);
        assert_eq!(p.get("/compliance").status, status, "{name}");
        assert_eq!(p.get("/compliance?q=02079460018").status, status, "{name}");
        assert_eq!(p.get("/").body.contains("href=\"/compliance\""), status == 200, "{name}: linked only when served");
    }
}

#[test]
fn the_compliance_look_up_shows_notes_and_evidence_recorded_through_the_api() {
    let app = TestApp::spawn();
    app.opt_out(json!({"phone": "020 7946 0018", "channels": ["call"], "source": "call_centre", "recorded_by": "a.agent", "note": "complained about <b>three</b> calls"}));
    let (s, b) = app.post(
        "/v1/consents",
        Some(&app.agent),
        &json!({"phone": "020 7946 0018", "channels": ["sms"], "source": "web", "evidence": "web form 2026-11-24, ref W-1234"}),
    );
    assert_eq!(s, 201, "{b}");
    let mut c = app.person("a.compliance", Role::Compliance);
    let page = c.get("/compliance?q=%2B44%20(0)20-7946-0018");
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(by_id(&page.body, "result-key").as_deref(), Some("+442079460018"));
    assert!(page.body.contains("complained about &#60;b&#62;three&#60;/b&#62; calls"), "the note, escaped: {}", page.body);
    assert!(page.body.contains("web form 2026-11-24, ref W-1234"), "the evidence");
    assert!(page.body.contains("No marketing calls</span>: opted out on"), "{}", page.body);
    assert!(page.body.contains("Marketing texts allowed</span>: consent given on"), "{}", page.body);
    assert!(page.body.contains("a.agent"));
    assert!(page.body.contains("value=\"+44 (0)20-7946-0018\""), "the search is kept");
    assert_eq!(page.body.matches("method=\"post\"").count(), 1, "read-only: no form but signing out");
    // A contact point with nothing recorded says so.
    let empty = c.get("/compliance?q=someone%40example.com");
    assert_eq!(empty.status, 200);
    assert!(empty.body.contains("id=\"history-empty\""));
    // A search that is no contact point: a sentence saying what to type, the input kept.
    let bad = c.get("/compliance?q=SW1A%201AA");
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(by_id(&bad.body, "compliance-error").unwrap().contains("house number or name"));
    assert!(bad.body.contains("value=\"SW1A 1AA\""));
}
