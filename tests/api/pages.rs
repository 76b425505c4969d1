//! The pages' sign-in, sessions and form rules over plain HTTP (CONTRACT §7, §10); what a browser
//! adds is in `browser`.

use std::process::Command;
use std::time::Duration;

use suppress::domain::access::Role;

use crate::helpers::{hidden, Person, TestApp};

#[test]
fn a_signed_in_person_gets_a_database_session_in_a_strict_http_only_cookie() {
    let app = TestApp::spawn();
    let anon = Person::new(&app.base, "nobody", "x").get("/");
    assert_eq!(anon.status, 200);
    assert!(anon.body.contains("<form method=\"post\" action=\"/sign-in\""), "{}", anon.body);
    let mut p = Person::new(&app.base, "j.smith", "");
    suppress::app::users::create(&app.store, "j.smith", Role::Agent, None, Some("a long enough password")).unwrap();
    let answer = p.sign_in("a long enough password");
    assert_eq!(answer.status, 303);
    let cookie = answer.set_cookie.iter().find(|c| c.starts_with("suppress_session=")).expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: no Secure flag: {cookie}");
    // The cookie holds a random id only: the database keeps its hash, never the id.
    let id = cookie.split(';').next().unwrap().trim_start_matches("suppress_session=").to_owned();
    let home = p.get("/");
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Hello, j.smith"), "{}", home.body);
    let mut conn = app.store.conn().unwrap();
    let stored = suppress::store::users::find_session(&mut conn, &id).unwrap();
    assert!(stored.is_none(), "the session id itself must not be a key in the database");
    let hashed = suppress::store::users::find_session(&mut conn, &suppress::domain::access::hash_key(&id)).unwrap();
    assert_eq!(hashed.map(|s| s.user.name), Some("j.smith".to_owned()));
}

#[test]
fn behind_https_the_session_cookie_is_secure() {
    let app = TestApp::spawn_with(|s| s.public_url = Some("https://suppress.example".into()));
    suppress::app::users::create(&app.store, "sec", Role::Agent, None, Some("a long enough password")).unwrap();
    let mut p = Person::new(&app.base, "sec", "");
    // The origin a browser sends is the public address.
    let form = p.get("/");
    let token = hidden(&form.body, "token").unwrap();
    let jar = form.set_cookie.iter().find(|c| c.starts_with("suppress_sign_in=")).unwrap().split(';').next().unwrap().to_owned();
    let body = format!("name=sec&password=a+long+enough+password&token={token}&next=%2F");
    let answer = p.post_raw(
        "/sign-in",
        &[("Cookie", &jar), ("Origin", "https://suppress.example")],
        "application/x-www-form-urlencoded",
        body.into(),
    );
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert!(answer.set_cookie.iter().any(|c| c.starts_with("suppress_session=") && c.contains("Secure")), "{:?}", answer.set_cookie);
}

#[test]
fn a_wrong_password_says_nothing_of_whether_the_name_exists_and_five_hold_the_name() {
    let app = TestApp::spawn();
    suppress::app::users::create(&app.store, "held", Role::Agent, None, Some("the right password")).unwrap();
    let mut known = Person::new(&app.base, "held", "");
    let mut unknown = Person::new(&app.base, "no-such-user", "");
    let a = known.sign_in("a wrong password");
    let b = unknown.sign_in("a wrong password");
    assert_eq!((a.status, b.status), (401, 401));
    let sentence = |html: &str| html.split("id=\"sign-in-error\"><p>").nth(1).and_then(|s| s.split("</p>").next()).map(str::to_owned);
    assert!(sentence(&a.body).is_some(), "{}", a.body);
    assert_eq!(sentence(&a.body), sentence(&b.body), "the answers must not tell a known name from an unknown one");
    for _ in 0..3 {
        assert_eq!(known.sign_in("a wrong password").status, 401);
    }
    // The fifth failure holds the name: even the right password is refused, and the page says so.
    let fifth = known.sign_in("a wrong password");
    assert_eq!(fifth.status, 429, "{}", fifth.body);
    let held = known.sign_in("the right password");
    assert_eq!(held.status, 429);
    assert!(held.retry_after.as_deref().is_some_and(|s| s.parse::<u64>().unwrap() > 800), "{:?}", held.retry_after);
    assert!(held.body.contains("try again in 15 minutes"), "{}", held.body);
    assert!(held.cookie_named("suppress_session").is_none());
    // Another name is not held.
    let mut other = app.person("other", Role::Agent);
    assert_eq!(other.get("/").status, 200);
}

#[test]
fn a_one_time_password_must_be_changed_before_any_page() {
    let app = TestApp::spawn();
    let one_time = suppress::app::users::create(&app.store, "new.starter", Role::Agent, None, None).unwrap();
    assert!(one_time.len() >= 12);
    let mut p = Person::new(&app.base, "new.starter", "");
    let answer = p.sign_in(&one_time);
    assert_eq!((answer.status, answer.location.as_deref()), (303, Some("/password")));
    let people = p.get("/registers");
    assert_eq!((people.status, people.location.as_deref()), (303, Some("/password")));
    let form = p.get("/password");
    assert_eq!(form.status, 200);
    let short = p.post("/password", &[("current", &one_time), ("password", "too short"), ("confirm", "too short")]);
    assert_eq!(short.status, 422);
    assert!(short.body.contains("at least 12 characters"), "{}", short.body);
    let changed = p.post("/password", &[("current", &one_time), ("password", "my own passphrase"), ("confirm", "my own passphrase")]);
    assert_eq!((changed.status, changed.location.as_deref()), (303, Some("/")));
    assert_eq!(p.get("/registers").status, 200);
    // The one-time password no longer works; the new one does.
    let mut again = Person::new(&app.base, "new.starter", "");
    assert_eq!(again.sign_in(&one_time).status, 401);
    assert_eq!(again.sign_in("my own passphrase").status, 303);
}

#[test]
fn signing_out_and_disabling_end_sessions_at_once() {
    let app = TestApp::spawn();
    let mut p = app.person("leaver", Role::Agent);
    let mut q = app.person("stayer", Role::Agent);
    let mut q2 = Person::new(&app.base, "stayer", "");
    q2.cookie = q.cookie.clone();
    assert_eq!(q2.get("/").status, 200);
    assert_eq!(q.post("/sign-out", &[]).status, 303);
    let after = q2.get("/registers");
    assert_eq!(after.status, 303, "a signed-out session must not open pages");
    assert_eq!(p.get("/").status, 200);
    suppress::app::users::disable(&app.store, "leaver").unwrap();
    let gone = p.get("/registers");
    assert_eq!((gone.status, gone.location.as_deref()), (303, Some("/?next=%2Fregisters")));
    assert_eq!(Person::new(&app.base, "leaver", "").sign_in(&p.password.clone()).status, 401, "a disabled user cannot sign in");
}

#[test]
fn an_idle_session_ends() {
    let app = TestApp::spawn_with(|s| s.session_idle = Duration::from_secs(2));
    let mut p = app.person("idler", Role::Agent);
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(p.get("/").status, 200, "used within the idle time, the session goes on");
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(p.get("/").status, 200, "use renews the session");
    std::thread::sleep(Duration::from_millis(2300));
    let after = p.get("/registers");
    assert_eq!(after.status, 303, "idle past SUPPRESS_SESSION_IDLE: signed out");
}

#[test]
fn forged_forms_change_nothing() {
    let app = TestApp::spawn();
    let mut victim = app.person("victim", Role::Agent);
    let mut attacker = app.person("attacker", Role::Agent);
    victim.get("/");
    attacker.get("/");
    // From another site: refused whatever the token.
    let token = victim.csrf.clone();
    let cross = victim.post_raw(
        "/sign-out",
        &[("Origin", "https://evil.example"), ("Sec-Fetch-Site", "cross-site")],
        "application/x-www-form-urlencoded",
        format!("csrf={token}").into(),
    );
    assert_eq!(cross.status, 403);
    assert!(cross.body.contains("nothing was changed"), "{}", cross.body);
    assert_eq!(victim.get("/").status, 200, "the forged sign-out changed nothing");
    // Same site, another session's token: refused.
    let other = attacker.csrf.clone();
    let wrong = victim.post("/sign-out", &[("csrf", &other)]);
    assert_eq!(wrong.status, 403);
    assert_eq!(victim.get("/").status, 200);
    // No token at all: refused.
    let none = victim.post_raw("/sign-out", &[], "application/x-www-form-urlencoded", Vec::new());
    assert_eq!(none.status, 403);
    assert_eq!(victim.get("/").status, 200);
    // A sign-in posted from another site is refused too.
    let mut p = Person::new(&app.base, "attacker", "");
    let login = p.post_raw(
        "/sign-in",
        &[("Origin", "https://evil.example")],
        "application/x-www-form-urlencoded",
        b"name=attacker&password=attacker-password-long&token=x&next=%2F".to_vec(),
    );
    assert_eq!(login.status, 403);
    assert!(login.cookie_named("suppress_session").is_none());
}

#[test]
fn pages_not_for_the_role_are_not_linked_and_unknown_paths_are_a_404_page() {
    let app = TestApp::spawn();
    let mut agent = app.person("an.agent", Role::Agent);
    let home = agent.get("/");
    assert!(!home.body.contains("href=\"/lists\""), "a page the role may not use is not linked");
    assert!(!home.body.contains("href=\"/admin\""));
    let missing = agent.get("/no-such-page");
    assert_eq!(missing.status, 404);
    assert!(missing.content_type.starts_with("text/html"));
    assert!(missing.body.contains("/assets/style.css"), "error pages look like the rest");
    // The API keeps its JSON errors.
    let (status, body) = app.get("/v1/no-such-thing", Some(&app.admin));
    assert_eq!(crate::helpers::error_code(status, &body, 404), "not_found");
}

#[test]
fn every_page_shows_the_stale_registers() {
    let app = TestApp::spawn();
    let mut p = app.person("looker", Role::Campaign);
    let page = p.get("/registers");
    assert_eq!(page.status, 200);
    for name in ["TPS", "CTPS", "MPS"] {
        assert!(page.body.contains(&format!("The {name} register has never been imported")), "{name}: {}", page.body);
    }
    let error = p.get("/nowhere");
    assert!(error.body.contains("class=\"stale\"") || error.status == 404);
}

#[test]
fn users_are_managed_on_the_command_line() {
    let app = TestApp::spawn();
    let url = app.db.url.clone();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_suppress")).args(args).env("SUPPRESS_DATABASE_URL", &url).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, password, _) = run(&["users", "create", "--role", "compliance", "--name", "c.officer", "--email", "c.officer@example.com"]);
    assert!(ok);
    let password = password.trim().to_owned();
    assert!(password.len() >= 12 && !password.contains(' '), "the one-time password alone on a line: {password:?}");
    let (ok, _, err) = run(&["users", "create", "--role", "agent", "--name", "c.officer"]);
    assert!(!ok && err.contains("exists already"), "{err}");
    let (_, list, _) = run(&["users", "list"]);
    assert!(list.contains("c.officer") && list.contains("compliance") && list.contains("one-time"), "{list}");
    assert!(!list.contains(&password));
    let mut p = Person::new(&app.base, "c.officer", "");
    assert_eq!(p.sign_in(&password).location.as_deref(), Some("/password"));
    let (ok, reset, _) = run(&["users", "reset", "c.officer"]);
    assert!(ok);
    assert_ne!(reset.trim(), password);
    assert_eq!(p.get("/password").status, 303, "a reset ends the user's sessions");
    assert_eq!(Person::new(&app.base, "c.officer", "").sign_in(&password).status, 401, "the old one-time password is gone");
    let (ok, _, _) = run(&["users", "disable", "c.officer"]);
    assert!(ok);
    assert_eq!(Person::new(&app.base, "c.officer", "").sign_in(reset.trim()).status, 401);
    let (ok, _, err) = run(&["users", "reset", "c.officer"]);
    assert!(!ok && err.contains("disabled"), "a disabled user gets no new password: {err}");
    let (ok, _, err) = run(&["users", "disable", "nobody"]);
    assert!(!ok && err.contains("no user"), "{err}");
    // Stored as Argon2id, never the password.
    let users = suppress::app::users::list(&app.store).unwrap();
    assert_eq!(users.len(), 1);
    let mut conn = app.store.conn().unwrap();
    let row = suppress::store::users::find_by_name(&mut conn, "c.officer").unwrap().unwrap();
    assert!(row.password_hash.starts_with("$argon2id$"), "{}", row.password_hash);
}

#[test]
fn a_session_ends_twelve_hours_after_sign_in_however_busy() {
    let app = TestApp::spawn();
    let mut p = app.person("long.day", Role::Agent);
    // A session begun 12 hours and a minute ago, used a second ago.
    let token = suppress::domain::access::generate_key();
    let user = suppress::app::users::list(&app.store).unwrap().into_iter().find(|u| u.name == "long.day").unwrap();
    let now = suppress::domain::time::now_utc();
    let mut conn = app.store.conn().unwrap();
    let hash = suppress::domain::access::hash_key(&token);
    suppress::store::users::insert_session(&mut conn, &hash, user.id, "t", now - chrono::Duration::minutes(12 * 60 + 1)).unwrap();
    suppress::store::users::touch_session(&mut conn, &hash, now - chrono::Duration::seconds(1)).unwrap();
    p.cookie = Some(format!("suppress_session={token}"));
    let answer = p.get("/registers");
    assert_eq!(answer.status, 303, "a session older than 12 hours has ended");
    // Eleven hours is still fine.
    let token = suppress::domain::access::generate_key();
    let hash = suppress::domain::access::hash_key(&token);
    suppress::store::users::insert_session(&mut conn, &hash, user.id, "t", now - chrono::Duration::hours(11)).unwrap();
    suppress::store::users::touch_session(&mut conn, &hash, now).unwrap();
    p.cookie = Some(format!("suppress_session={token}"));
    assert_eq!(p.get("/registers").status, 200);
}

#[test]
fn pages_load_nothing_from_elsewhere() {
    let app = TestApp::spawn();
    let mut p = app.person("strict", Role::Admin);
    let page = p.get("/registers");
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("http://") && !page.body.contains("https://"), "a page names no other site");
    let answer = ureq::get(&format!("{}/registers", app.base)).set("Cookie", p.cookie.as_deref().unwrap()).call().unwrap();
    let csp = answer.header("content-security-policy").unwrap_or("");
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let css = ureq::get(&format!("{}/assets/style.css", app.base)).call().unwrap();
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    assert!(!css.into_string().unwrap().contains("url("), "the stylesheet fetches nothing");
}

#[test]
fn error_pages_keep_the_navigation_and_the_stale_banner() {
    let app = TestApp::spawn();
    let mut agent = app.person("lost.agent", Role::Agent);
    for (path, status) in [("/admin", 403), ("/no-such-page", 404)] {
        let page = agent.get(path);
        assert_eq!(page.status, status, "{path}");
        assert!(page.body.contains("href=\"/people\""), "{path}: the agent's navigation: {}", page.body);
        assert!(page.body.contains("action=\"/sign-out\""), "{path}: sign out");
        assert!(page.body.contains("The TPS register has never been imported"), "{path}: the stale banner");
    }
    // A forged form's page too.
    let forged = agent.post("/sign-out", &[("csrf", "not-the-token")]);
    assert_eq!(forged.status, 403);
    assert!(forged.body.contains("The MPS register has never been imported") && forged.body.contains("href=\"/people\""));
    // Signed out, an unknown page still names the stale registers, with no navigation.
    let anon = Person::new(&app.base, "nobody", "").get("/no-such-page");
    assert_eq!(anon.status, 404);
    assert!(anon.body.contains("The CTPS register has never been imported") && !anon.body.contains("href=\"/people\""));
}

#[test]
fn odd_names_and_addresses_in_sign_in_and_admin_forms_are_refused_not_failed() {
    let app = TestApp::spawn();
    // A NUL or an over-long name is no user: the usual answer, nothing stored, never a 500
    // (PostgreSQL refuses NUL in text).
    for name in ["a\u{0}b", &"n".repeat(300)] {
        let mut p = Person::new(&app.base, name, "");
        let answer = p.sign_in("some password here");
        assert_eq!(answer.status, 401, "{name:?}: {}", answer.body);
    }
    let mut admin = app.person("the.admin", Role::Admin);
    admin.get("/admin");
    for path in ["/admin/users/disable", "/admin/users/reset", "/admin/keys/revoke"] {
        let answer = admin.post(path, &[("name", "x\u{0}y")]);
        assert!(answer.status == 422 || answer.status == 404, "{path}: {} {}", answer.status, answer.body);
    }
    // Where to go after signing in: an address of this site, in ASCII (a Location header).
    suppress::app::users::create(&app.store, "traveller", Role::Agent, None, Some("a long enough password")).unwrap();
    let mut t = Person::new(&app.base, "traveller", "");
    let form = t.get("/?next=/caf%C3%A9");
    let token = hidden(&form.body, "token").unwrap();
    let jar = form.cookie_named("suppress_sign_in").unwrap();
    let body = format!("name=traveller&password=a+long+enough+password&token={token}&next=%2Fcaf%C3%A9");
    let origin = app.base.clone();
    let answer = t.post_raw("/sign-in", &[("Cookie", &jar), ("Origin", &origin)], "application/x-www-form-urlencoded", body.into());
    assert_eq!((answer.status, answer.location.as_deref()), (303, Some("/")));
    // The sign-in address opened in the browser's bar leads to the sign-in page.
    let get = Person::new(&app.base, "x", "").get("/sign-in");
    assert_eq!((get.status, get.location.as_deref()), (303, Some("/")));
}
