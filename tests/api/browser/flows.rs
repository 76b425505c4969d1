//! End-to-end flows through the pages in a real Chromium (issue 12, CONTRACT §7, §10): each test a
//! real server on a fresh database (SQLite, or PostgreSQL with `TEST_DATABASE_URL`), one Chrome
//! session, a screenshot of every page and state it visits and the accessibility check on each.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use suppress::domain::access::Role;
use thirtyfour::prelude::*;

use super::{accessible, shot, Browser};
use crate::helpers::{Person, TestApp};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// [`Browser::open`] (kept short: every flow opens one).
fn open(test: &str, base_url: &str) -> Option<Browser> {
    Browser::open(test, base_url)
}

/// [`Browser::open_with`], with or without JavaScript in the pages.
fn open_with(test: &str, base_url: &str, javascript: bool) -> Option<Browser> {
    Browser::open_with(test, base_url, javascript)
}

/// A user with a chosen password (not one-time); returns the password.
fn user(app: &TestApp, name: &str, role: Role) -> String {
    let password = format!("{name} long password");
    suppress::app::users::create(&app.store, name, role, None, Some(&password)).expect("create user");
    password
}

/// The text of the page's `h1` ("" when there is none).
async fn h1(d: &WebDriver) -> String {
    match d.find_all(By::Css("h1")).await.expect("read the page").first() {
        Some(h) => h.text().await.unwrap_or_default(),
        None => String::new(),
    }
}

/// The path and query the browser shows.
async fn here(d: &WebDriver) -> String {
    let url = d.current_url().await.expect("the current URL");
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Waits (up to 10 s) until the page's `h1` reads `want`: a form's answer may still be loading
/// when the key press that sent it returns.
async fn wait_for_h1(d: &WebDriver, want: &str) {
    let started = Instant::now();
    loop {
        let now = h1(d).await;
        if now == want {
            return;
        }
        if started.elapsed() > Duration::from_secs(10) {
            panic!("waited 10 s for the page {want:?}; the browser shows {now:?} at {}", here(d).await);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The document shown now, to tell when a form's answer has replaced it.
async fn document(d: &WebDriver) -> WebElement {
    d.find(By::Css("html")).await.expect("the document")
}

/// Waits (up to 10 s) until `old` is gone: the browser shows the next page. A key press or click
/// that sends a form may return before the answer has loaded, and the answer may have the same
/// title as the form.
async fn wait_for_new(d: &WebDriver, old: WebElement) {
    let started = Instant::now();
    while old.is_present().await.unwrap_or(false) {
        if started.elapsed() > Duration::from_secs(10) {
            panic!("waited 10 s for a new page; the browser still shows {:?} at {}", h1(d).await, here(d).await);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Signs in on the sign-in page by keyboard (name, Tab, password, Enter) and waits until the
/// sign-in form is gone (the answer may still be loading when the key press returns).
async fn sign_in(b: &Browser, name: &str, password: &str) {
    b.visit("/").await;
    b.find(By::Id("name")).await.expect("the sign-in form's name field").send_keys(name).await.expect("type the name");
    press(b, Key::Tab).await;
    let old = document(b).await;
    press(b, password + Key::Enter).await;
    wait_for_new(b, old).await;
    let started = Instant::now();
    while !b.find_all(By::Css("input#name")).await.expect("read the page").is_empty() {
        if started.elapsed() > Duration::from_secs(10) {
            let said = match b.find_all(By::Id("sign-in-error")).await.expect("read the page").first() {
                Some(e) => e.text().await.unwrap_or_default(),
                None => String::new(),
            };
            panic!("signing in as {name} failed: the sign-in form is still shown after 10 s: {said}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The links of the main navigation.
async fn nav(d: &WebDriver) -> Vec<String> {
    let mut hrefs = Vec::new();
    for a in d.find_all(By::Css("nav[aria-label=Main] a")).await.expect("read the navigation") {
        hrefs.push(a.attr("href").await.expect("a link's href").unwrap_or_default());
    }
    hrefs
}

/// The sentences of the stale-register banner (none when it is not shown).
async fn banner(d: &WebDriver) -> Vec<String> {
    let mut lines = Vec::new();
    for li in d.find_all(By::Css("section.stale li")).await.expect("read the banner") {
        lines.push(li.text().await.expect("a banner line"));
    }
    lines
}

/// Keys typed into whatever has the focus, as a person at the keyboard types them.
async fn press(d: &WebDriver, keys: impl Into<TypingData>) {
    d.active_element().await.expect("the focused element").send_keys(keys).await.expect("type");
}

/// The value of this browser's session cookie (`None` when signed out).
async fn session_cookie(d: &WebDriver) -> Option<String> {
    d.get_all_cookies().await.expect("the cookies").into_iter().find(|c| c.name == "suppress_session").map(|c| c.value)
}

/// The form token of the page shown (the sign-out form's, which every signed-in page has).
async fn page_token(d: &WebDriver) -> String {
    d.find(By::Css("form.who input[name=csrf]"))
        .await
        .expect("the sign-out form's token")
        .attr("value")
        .await
        .expect("its value")
        .expect("a token")
}

/// Signs out with the button at the top of the page.
async fn sign_out(d: &WebDriver) {
    d.find(By::Css("form.who button")).await.expect("the sign-out button").click().await.expect("press sign out");
    wait_for_h1(d, "Sign in").await;
}

/// The computed style of the page chrome, to tell pages that look alike.
async fn looks(d: &WebDriver) -> serde_json::Value {
    let script = r#"
        const s = (sel, p) => { const e = document.querySelector(sel); return e ? getComputedStyle(e)[p] : null; };
        return {
            sheets: document.styleSheets.length,
            header: s('header.top', 'backgroundColor'),
            brand: document.querySelector('header.top a.brand') ? document.querySelector('header.top a.brand').textContent : null,
            font: s('html', 'fontFamily'),
            main: s('main', 'maxWidth'),
            footer: s('footer', 'borderTopColor'),
        };"#;
    d.execute(script, Vec::new()).await.expect("read the page's style").json().clone()
}

/// Chooses `value` in the `<select>` with `id` by keyboard: focus it and type the option's text.
async fn choose(d: &WebDriver, id: &str, value: &str) {
    let select = d.find(By::Id(id)).await.unwrap_or_else(|_| panic!("the field #{id}"));
    select.send_keys(value).await.expect("type the choice");
    let chosen = select.prop("value").await.expect("the choice").unwrap_or_default();
    assert_eq!(chosen, value, "#{id}");
}

/// Presses the submit button of the form with `id` and waits for the answer.
async fn send(d: &WebDriver, form: &str) {
    let old = document(d).await;
    d.find(By::Css(format!("form#{form} button[type=submit]")))
        .await
        .unwrap_or_else(|_| panic!("the button of #{form}"))
        .click()
        .await
        .expect("press");
    wait_for_new(d, old).await;
}

/// The text of the element with `id`.
async fn text_of(d: &WebDriver, id: &str) -> String {
    d.find(By::Id(id)).await.unwrap_or_else(|e| panic!("#{id}: {e}")).text().await.expect("text")
}

/// Presses Tab until the element matched by `css` has the focus (at most 60 times).
async fn tab_to(d: &WebDriver, css: &str) {
    let target = d.find(By::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    for _ in 0..60 {
        press(d, Key::Tab).await;
        if d.active_element().await.expect("the focused element").element_id() == target.element_id() {
            return;
        }
    }
    panic!("60 presses of Tab never reached {css} on {}", here(d).await);
}

/// `GET /v1/check` for a phone number on a channel, with the agent's key: (allowed, reason).
fn check(app: &TestApp, phone: &str, channel: &str) -> (serde_json::Value, serde_json::Value) {
    let q = url::form_urlencoded::Serializer::new(String::new()).extend_pairs([("phone", phone), ("channel", channel)]).finish();
    let (status, body) = app.get(&format!("/v1/check?{q}"), Some(&app.agent));
    assert_eq!(status, 200, "check {phone} {channel}: {body}");
    (body["allowed"].clone(), body["reason"].clone())
}

/// A call list: a TPS number, a CTPS number, two clean, a duplicate and a bad number.
const CALL_LIST: &str = "name,phone,notes\nAnn,020 3000 0000,tps\nBo,020 3000 0101,ctps\nEd,020 7946 0500,clean\nFlo,020 7946 0600,clean\nGus,02079460600,dup\nHal,12345,bad\n";

/// Fetches `href` in the page itself (with the session's cookie, as a download from the page).
async fn fetch_in_page(d: &WebDriver, href: &str) -> String {
    let script = "const done = arguments[arguments.length - 1];
        fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.ok ? r.text() : Promise.reject(r.status)).then(done, e => done({error: String(e)}));";
    let got = d.execute_async(script, vec![serde_json::json!(href)]).await.expect("fetch in the page");
    match got.json() {
        serde_json::Value::String(text) => text.clone(),
        other => panic!("fetching {href} failed: {other}"),
    }
}

/// A TPS/CTPS full file (the spaced layout) of London numbers `from..to`.
fn register_file(from: u32, to: u32) -> String {
    (from..to)
        .map(|i| {
            let national = format!("020{:08}", 30_000_000 + i);
            format!("{} {}\r\n", &national[..4], &national[4..])
        })
        .collect()
}

fn import(app: &TestApp, register: &str, as_of: NaiveDate, file: &str) {
    let path = format!("/v1/registers/{register}/imports?as_of={as_of}");
    let (status, report) = app.raw("POST", &path, Some(&app.admin), Some("text/plain"), file);
    assert_eq!(status, 201, "{register} import: {report}");
    crate::registers::wait_for(app, register, &as_of.to_string());
}

/// A page of another origin (same host, another port: a cross-origin, same-site attacker, the one
/// that `SameSite` cookies do not stop), served until dropped.
struct OtherSite {
    url: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl OtherSite {
    fn serve(html: String) -> OtherSite {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a listener for the other site");
        let port = listener.local_addr().expect("its address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_in = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop_in.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut reader = BufReader::new(match stream.try_clone() {
                    Ok(s) => s,
                    Err(_) => continue,
                });
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    html.len()
                );
                let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(html.as_bytes()));
            }
        });
        OtherSite { url: format!("http://127.0.0.1:{port}/"), stop, thread: Some(thread) }
    }
}

impl Drop for OtherSite {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(port) = self.url.trim_end_matches('/').rsplit(':').next() {
            let _ = TcpStream::connect(format!("127.0.0.1:{port}"));
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Every page that only some roles may use.
const ROLE_PAGES: [&str; 4] = ["/people", "/lists", "/compliance", "/admin"];

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn each_role_sees_only_its_pages() {
    let app = TestApp::spawn();
    let Some(b) = open("each_role_sees_only_its_pages", &app.base) else { return };
    let roles = [
        (Role::Agent, "agent", vec!["/", "/people", "/registers"]),
        (Role::Campaign, "campaign", vec!["/", "/lists", "/registers"]),
        (Role::Compliance, "compliance", vec!["/", "/people", "/registers", "/compliance"]),
        (Role::Admin, "admin", vec!["/", "/people", "/lists", "/registers", "/compliance", "/admin"]),
    ];
    b.block_on(async {
        for (role, word, want) in roles {
            let name = format!("{word}.person");
            let password = user(&app, &name, role);
            sign_in(&b, &name, &password).await;
            wait_for_h1(&b, &format!("Hello, {name}")).await;
            assert_eq!(nav(&b).await, want, "the navigation of a {word}");
            // The home page offers the same pages as the navigation.
            let mut cards = Vec::new();
            for a in b.find_all(By::Css("main ul.cards a")).await.expect("the home page's cards") {
                cards.push(a.attr("href").await.expect("href").unwrap_or_default());
            }
            assert_eq!(cards, want[1..], "the home page of a {word}");
            let role_text = b.find(By::Css("form.who .role")).await.expect("who is signed in").text().await.expect("text");
            assert_eq!(role_text, format!("({word})"));
            shot(&b, &format!("home-{word}")).await;
            accessible(&b, &format!("home-{word}")).await;
            for page in ROLE_PAGES {
                b.visit(page).await;
                let title = h1(&b).await;
                if want.contains(&page) {
                    assert!(title != "Not for your role" && title != "Not found", "a {word} must be able to open {page}: {title}");
                    let lines = banner(&b).await;
                    assert_eq!(lines.len(), 3, "the stale banner on {page} for a {word}: {lines:?}");
                } else {
                    assert_eq!(title, "Not for your role", "a {word} must get the 403 page at {page}");
                    shot(&b, &format!("error-403-{word}{}", page.replace('/', "-"))).await;
                }
            }
            // Every page a role may not use is unlinked everywhere on the page, not only in the
            // navigation.
            b.visit("/registers").await;
            assert_eq!(banner(&b).await.len(), 3, "the stale banner on /registers for a {word}");
            if role == Role::Admin {
                // The admin's registers page has the import form.
                b.find(By::Css("main form[method=post]")).await.expect("the import form for an admin");
                shot(&b, "registers-admin").await;
                accessible(&b, "registers-admin").await;
            }
            for page in ROLE_PAGES.iter().filter(|p| !want.contains(p)) {
                let links = b.find_all(By::Css(format!("a[href^='{page}']"))).await.expect("links");
                assert!(links.is_empty(), "a {word} sees a link to {page} on /registers");
            }
            sign_out(&b).await;
            assert_eq!(session_cookie(&b).await, None, "signing out removes the session cookie");
        }
    });
}

#[test]
fn a_one_time_password_is_changed_at_first_sign_in_by_keyboard_alone() {
    let app = TestApp::spawn();
    let one_time = suppress::app::users::create(&app.store, "new.starter", Role::Agent, None, None).expect("create user");
    let Some(b) = open("a_one_time_password_is_changed_at_first_sign_in_by_keyboard_alone", &app.base) else { return };
    b.block_on(async {
        b.visit("/").await;
        shot(&b, "sign-in").await;
        accessible(&b, "sign-in").await;
        // The name field has the focus when the page opens.
        assert_eq!(b.active_element().await.expect("focus").id().await.expect("id").as_deref(), Some("name"));
        press(&b, "new.starter").await;
        press(&b, Key::Tab).await;
        press(&b, one_time.as_str()).await;
        let old = document(&b).await;
        press(&b, Key::Enter).await;
        wait_for_new(&b, old).await;
        wait_for_h1(&b, "Change your password").await;
        assert_eq!(here(&b).await, "/password");
        shot(&b, "password-change").await;
        accessible(&b, "password-change").await;

        // No other page opens until the password is changed.
        b.visit("/registers").await;
        wait_for_h1(&b, "Change your password").await;
        assert_eq!(here(&b).await, "/password");

        // Two different new passwords: refused, said on the page.
        tab_to(&b, "#current").await;
        press(&b, one_time.as_str()).await;
        press(&b, Key::Tab).await;
        press(&b, "my own passphrase").await;
        press(&b, Key::Tab).await;
        press(&b, "my own passphrase typo").await;
        let old = document(&b).await;
        press(&b, Key::Enter).await;
        wait_for_new(&b, old).await;
        wait_for_h1(&b, "Change your password").await;
        let error = b.find(By::Css("main .error[role=alert]")).await.expect("the refusal").text().await.expect("text");
        assert!(error.contains("type the same password in both"), "{error}");
        shot(&b, "password-change-refused").await;
        accessible(&b, "password-change-refused").await;

        tab_to(&b, "#current").await;
        press(&b, one_time.as_str()).await;
        press(&b, Key::Tab).await;
        press(&b, "my own passphrase").await;
        press(&b, Key::Tab).await;
        press(&b, "my own passphrase").await;
        let old = document(&b).await;
        press(&b, Key::Enter).await;
        wait_for_new(&b, old).await;
        wait_for_h1(&b, "Hello, new.starter").await;
        b.visit("/registers").await;
        wait_for_h1(&b, "Registers").await;
    });
    // The one-time password is spent; the new one signs in.
    assert_eq!(Person::new(&app.base, "new.starter", "").sign_in(&one_time).status, 401);
    assert_eq!(Person::new(&app.base, "new.starter", "").sign_in("my own passphrase").status, 303);
}

#[test]
fn the_stale_banner_is_on_every_page_until_the_registers_are_imported() {
    let app = TestApp::spawn();
    let password = user(&app, "banner.reader", Role::Agent);
    let Some(b) = open("the_stale_banner_is_on_every_page_until_the_registers_are_imported", &app.base) else { return };
    let never = |register: &str| format!("The {register} register has never been imported");
    b.block_on(async {
        // A fresh database: all three registers never imported, said on every page.
        b.visit("/").await;
        let lines = banner(&b).await;
        assert_eq!(lines.len(), 3, "on the sign-in page: {lines:?}");
        sign_in(&b, "banner.reader", &password).await;
        for path in ["/", "/registers", "/password"] {
            b.visit(path).await;
            let lines = banner(&b).await;
            assert_eq!(lines.len(), 3, "{path}: {lines:?}");
            for (line, register) in lines.iter().zip(["TPS", "CTPS", "MPS"]) {
                assert!(line.starts_with(&never(register)), "{path}: {line}");
            }
        }
        b.visit("/registers").await;
        let badges = b.find_all(By::Css("main table tbody .badge.stale")).await.expect("badges");
        assert_eq!(badges.len(), 3, "every register is marked stale");
        assert_eq!(badges[0].text().await.expect("text"), "never imported");
        shot(&b, "registers-stale").await;
        accessible(&b, "registers-stale").await;
    });

    // TPS 26 days old (valid for 2 more days), CTPS of today.
    let today = suppress::domain::time::today_uk();
    import(&app, "tps", today - chrono::Days::new(26), &register_file(0, 40));
    import(&app, "ctps", today, &register_file(100, 110));

    b.block_on(async {
        for path in ["/", "/registers", "/password"] {
            b.visit(path).await;
            let lines = banner(&b).await;
            assert_eq!(lines.len(), 1, "{path}: only MPS is still stale: {lines:?}");
            assert!(lines[0].starts_with(&never("MPS")), "{path}: {lines:?}");
        }
        b.visit("/registers").await;
        let mut rows = Vec::new();
        for tr in b.find_all(By::Css("main table:first-of-type tbody tr")).await.expect("rows") {
            let name = tr.find(By::Css("th")).await.expect("name").text().await.expect("text");
            let badge = tr.find(By::Css(".badge")).await.expect("badge");
            let class = badge.class_name().await.expect("class").unwrap_or_default();
            rows.push((name, class, badge.text().await.expect("text")));
        }
        let row = |n: &str| rows.iter().find(|r| r.0 == n).cloned().unwrap_or_else(|| panic!("no {n} row in {rows:?}"));
        assert_eq!(row("TPS"), ("TPS".into(), "badge soon".into(), "2 days left".into()), "{rows:?}");
        let ctps = row("CTPS");
        assert_eq!(ctps.1, "badge ok", "{rows:?}");
        assert!(ctps.2.ends_with(" days left") && ctps.2 != "2 days left", "{rows:?}");
        assert_eq!(row("MPS").1, "badge stale", "{rows:?}");
        let history = b.find_all(By::Css("main table:nth-of-type(2) tbody tr")).await.expect("history");
        assert_eq!(history.len(), 2, "both imports are in the history");
        shot(&b, "registers-soon").await;
        accessible(&b, "registers-soon").await;
    });
}

#[test]
fn a_forged_cross_site_post_and_another_session_s_token_change_nothing() {
    let app = TestApp::spawn();
    let password = user(&app, "victim", Role::Agent);
    let mut other = app.person("other.user", Role::Agent);
    let Some(b) = open("a_forged_cross_site_post_and_another_session_s_token_change_nothing", &app.base) else { return };
    b.block_on(async {
        sign_in(&b, "victim", &password).await;
        let session = session_cookie(&b).await.expect("signed in");
        // Another origin's page posts the sign-out form, even with the victim's own token, and
        // Chrome sends the session cookie (same site): the origin check alone refuses it.
        let token = page_token(&b).await;
        let evil = OtherSite::serve(format!(
            r#"<!doctype html><html lang="en"><head><title>You have won</title></head><body>
            <form id="f" method="post" action="{}/sign-out"><input type="hidden" name="csrf" value="{token}"></form>
            <script>document.getElementById('f').submit();</script></body></html>"#,
            app.base
        ));
        b.goto(evil.url.as_str()).await.expect("open the other site");
        wait_for_h1(&b, "Form refused").await;
        assert_eq!(here(&b).await, "/sign-out");
        shot(&b, "error-403-cross-site").await;
        accessible(&b, "error-403-cross-site").await;
        drop(evil);
        b.visit("/").await;
        wait_for_h1(&b, "Hello, victim").await;
        assert_eq!(session_cookie(&b).await, Some(session.clone()), "still the same session");

        // This site's own form with another session's token: refused, nothing changed.
        b.visit("/").await;
        let theirs = other.csrf.clone();
        assert!(!theirs.is_empty() && theirs != page_token(&b).await);
        b.execute("document.querySelector('form.who input[name=csrf]').value = arguments[0];", vec![serde_json::json!(theirs)])
            .await
            .expect("swap the token");
        b.find(By::Css("form.who button")).await.expect("sign out").click().await.expect("press sign out");
        wait_for_h1(&b, "Form refused").await;
        shot(&b, "error-403-token").await;
        b.visit("/").await;
        wait_for_h1(&b, "Hello, victim").await;
        assert_eq!(session_cookie(&b).await, Some(session.clone()), "still signed in");

        // The password form with another session's token: the password stays.
        b.visit("/password").await;
        b.find(By::Id("current")).await.expect("current").send_keys(password.as_str()).await.expect("type");
        b.find(By::Id("password")).await.expect("new").send_keys("a stolen passphrase").await.expect("type");
        b.find(By::Id("confirm")).await.expect("confirm").send_keys("a stolen passphrase").await.expect("type");
        b.execute("document.querySelector('main form input[name=csrf]').value = arguments[0];", vec![serde_json::json!(theirs)])
            .await
            .expect("swap the token");
        b.find(By::Css("main form button[type=submit]")).await.expect("change").click().await.expect("press change");
        wait_for_h1(&b, "Form refused").await;
    });
    assert_eq!(Person::new(&app.base, "victim", "").sign_in(&password).status, 303, "the password is unchanged");
    assert_eq!(Person::new(&app.base, "victim", "").sign_in("a stolen passphrase").status, 401);
    assert_eq!(other.get("/").status, 200, "the other session goes on");
}

#[test]
fn an_idle_session_ends_and_signing_in_again_goes_back() {
    let app = TestApp::spawn_with(|s| s.session_idle = Duration::from_secs(3));
    let password = user(&app, "idler", Role::Agent);
    let Some(b) = open("an_idle_session_ends_and_signing_in_again_goes_back", &app.base) else { return };
    b.block_on(async {
        sign_in(&b, "idler", &password).await;
        b.visit("/registers").await;
        wait_for_h1(&b, "Registers").await;
        std::thread::sleep(Duration::from_secs(4));
        b.visit("/registers").await;
        wait_for_h1(&b, "Sign in").await;
        assert_eq!(here(&b).await, "/?next=%2Fregisters");
        shot(&b, "sign-in-expired").await;
        accessible(&b, "sign-in-expired").await;
        b.find(By::Id("name")).await.expect("name").send_keys("idler").await.expect("type");
        let old = document(&b).await;
        b.find(By::Id("password")).await.expect("password").send_keys(password.as_str() + Key::Enter).await.expect("type");
        wait_for_new(&b, old).await;
        wait_for_h1(&b, "Registers").await;
        assert_eq!(here(&b).await, "/registers", "back to the page asked for");
    });
}

#[test]
fn five_failed_sign_ins_hold_the_name() {
    let app = TestApp::spawn();
    let password = user(&app, "held.user", Role::Agent);
    let Some(b) = open("five_failed_sign_ins_hold_the_name", &app.base) else { return };
    let error = |d: &WebDriver| {
        let d = d.clone();
        async move { d.find(By::Id("sign-in-error")).await.expect("the sign-in error").text().await.expect("text") }
    };
    b.block_on(async {
        b.visit("/").await;
        b.find(By::Id("name")).await.expect("name").send_keys("held.user").await.expect("type");
        for attempt in 1..=5 {
            // The name is kept after a failure; only the password is typed again.
            assert_eq!(b.find(By::Id("name")).await.expect("name").value().await.expect("value").as_deref(), Some("held.user"));
            let old = document(&b).await;
            b.find(By::Id("password")).await.expect("password").send_keys("not the password" + Key::Enter).await.expect("type");
            wait_for_new(&b, old).await;
            wait_for_h1(&b, "Sign in").await;
            let said = error(&b).await;
            if attempt < 5 {
                assert!(!said.contains("15 minutes"), "attempt {attempt}: {said}");
            } else {
                assert!(said.contains("try again in 15 minutes"), "attempt {attempt}: {said}");
            }
            if attempt == 1 {
                shot(&b, "sign-in-failed").await;
                accessible(&b, "sign-in-failed").await;
            }
        }
        // Held: even the right password is refused, and the page says so.
        let old = document(&b).await;
        b.find(By::Id("password")).await.expect("password").send_keys(password.as_str() + Key::Enter).await.expect("type");
        wait_for_new(&b, old).await;
        wait_for_h1(&b, "Sign in").await;
        let said = error(&b).await;
        assert!(said.contains("try again in 15 minutes"), "{said}");
        assert_eq!(session_cookie(&b).await, None, "not signed in");
        shot(&b, "sign-in-held").await;
        accessible(&b, "sign-in-held").await;
    });
}

#[test]
fn the_404_and_403_pages_look_like_the_rest() {
    let app = TestApp::spawn();
    let password = user(&app, "looker", Role::Agent);
    let Some(b) = open("the_404_and_403_pages_look_like_the_rest", &app.base) else { return };
    b.block_on(async {
        sign_in(&b, "looker", &password).await;
        b.visit("/registers").await;
        let normal = looks(&b).await;
        assert!(normal["sheets"].as_u64().is_some_and(|n| n >= 1), "{normal}");

        b.visit("/no-such-page").await;
        wait_for_h1(&b, "Not found").await;
        assert_eq!(looks(&b).await, normal, "the 404 page looks like the rest");
        let sentence = b.find(By::Css("main .error-sentence")).await.expect("the sentence").text().await.expect("text");
        assert_eq!(sentence, "There is no page at this address. Use the links at the top of the page, or go to the home page.");
        b.find(By::Css("main a[href='/']")).await.expect("a way home");
        // The person's navigation and the stale registers, as on every page.
        b.find(By::Css("header nav a[href='/people']")).await.expect("the agent's navigation on the 404 page");
        b.find(By::Css("section.stale")).await.expect("the stale banner on the 404 page");
        shot(&b, "error-404").await;
        accessible(&b, "error-404").await;

        // The 403 page: a page the role may not use, opened by its address.
        b.visit("/admin").await;
        wait_for_h1(&b, "Not for your role").await;
        assert_eq!(looks(&b).await, normal, "the 403 page looks like the rest");
        let sentence = b.find(By::Css("main .error-sentence")).await.expect("the sentence").text().await.expect("text");
        assert_eq!(sentence, "Your role does not give you this page. If you need it, ask an administrator.");
        b.find(By::Css("header nav a[href='/people']")).await.expect("the agent's navigation on the 403 page");
        b.find(By::Css("section.stale")).await.expect("the stale banner on the 403 page");
        shot(&b, "error-403").await;
        accessible(&b, "error-403").await;

        // And a refused form's 403 page.
        b.visit("/").await;
        b.execute("document.querySelector('form.who input[name=csrf]').value = 'not-a-token';", Vec::new()).await.expect("swap");
        b.find(By::Css("form.who button")).await.expect("sign out").click().await.expect("press");
        wait_for_h1(&b, "Form refused").await;
        assert_eq!(looks(&b).await, normal, "the refused form's page looks like the rest");
        shot(&b, "error-403-form").await;
        accessible(&b, "error-403-form").await;
    });
}

#[test]
fn an_admin_creates_a_user_and_a_key_and_the_new_user_looks_up_a_customer() {
    let app = TestApp::spawn();
    let password = user(&app, "the.admin", Role::Admin);
    app.opt_out(serde_json::json!({
        "phone": "020 7946 0018", "channels": ["call"], "source": "call_centre", "recorded_by": "a.agent",
        "note": "complained about three calls",
    }));
    let Some(b) = open("an_admin_creates_a_user_and_a_key_and_the_new_user_looks_up_a_customer", &app.base) else { return };
    let (one_time, key) = b.block_on(async {
        sign_in(&b, "the.admin", &password).await;
        b.visit("/admin").await;
        wait_for_h1(&b, "Users and keys").await;
        shot(&b, "admin").await;
        accessible(&b, "admin").await;

        b.find(By::Id("user-name")).await.expect("name").send_keys("c.officer").await.expect("type");
        choose(&b, "user-role", "compliance").await;
        send(&b, "create-user").await;
        wait_for_h1(&b, "Users and keys").await;
        let one_time = text_of(&b, "secret-value").await;
        assert!(one_time.len() >= 12, "a one-time password: {one_time:?}");
        let mut rows = Vec::new();
        for tr in b.find_all(By::Css("#users tbody tr")).await.expect("users") {
            rows.push(tr.text().await.expect("row"));
        }
        assert!(rows.iter().any(|r| r.starts_with("c.officer compliance") && r.contains("one-time: not yet changed")), "{rows:?}");
        shot(&b, "admin-user-created").await;
        accessible(&b, "admin-user-created").await;

        b.find(By::Id("key-name")).await.expect("name").send_keys("crm-sync").await.expect("type");
        choose(&b, "key-role", "agent").await;
        send(&b, "create-key").await;
        let key = text_of(&b, "secret-value").await;
        assert!(b.find(By::Css("#keys tbody th")).await.is_ok(), "the keys table lists the key");
        shot(&b, "admin-key-created").await;
        accessible(&b, "admin-key-created").await;
        // Shown once: the page again does not show it.
        b.visit("/admin").await;
        assert!(b.find_all(By::Id("secret-value")).await.expect("read").is_empty(), "the secret is shown once");
        sign_out(&b).await;
        (one_time, key)
    });
    // The new key answers the API as an agent.
    let (status, body) = app.post("/v1/opt-outs", Some(&key), &serde_json::json!({"phone": "07912 345678", "source": "call_centre"}));
    assert_eq!(status, 201, "the key made on the page records an opt-out: {body}");

    b.block_on(async {
        // The new user: one-time password, then their own, then the compliance look-up.
        b.visit("/").await;
        b.find(By::Id("name")).await.expect("name").send_keys("c.officer").await.expect("type");
        let old = document(&b).await;
        b.find(By::Id("password")).await.expect("password").send_keys(one_time.as_str() + Key::Enter).await.expect("type");
        wait_for_new(&b, old).await;
        wait_for_h1(&b, "Change your password").await;
        b.find(By::Id("current")).await.expect("current").send_keys(one_time.as_str()).await.expect("type");
        b.find(By::Id("password")).await.expect("new").send_keys("officer's own passphrase").await.expect("type");
        b.find(By::Id("confirm")).await.expect("confirm").send_keys("officer's own passphrase" + Key::Enter).await.expect("type");
        wait_for_h1(&b, "Hello, c.officer").await;
        assert_eq!(nav(&b).await, ["/", "/people", "/registers", "/compliance"]);

        b.visit("/compliance").await;
        wait_for_h1(&b, "Compliance").await;
        shot(&b, "compliance").await;
        accessible(&b, "compliance").await;
        tab_to(&b, "#q").await;
        let old = document(&b).await;
        press(&b, "+44 (0)20-7946-0018" + Key::Enter).await;
        wait_for_new(&b, old).await;
        assert_eq!(text_of(&b, "result-key").await, "+442079460018");
        let states = text_of(&b, "state-call").await;
        assert!(states.starts_with("No marketing calls: opted out on ") && states.ends_with(" by a.agent"), "{states}");
        let history = text_of(&b, "history").await;
        assert!(history.contains("complained about three calls") && history.contains("a.agent"), "{history}");
        assert_eq!(
            b.find(By::Id("q")).await.expect("q").value().await.expect("value").as_deref(),
            Some("+44 (0)20-7946-0018"),
            "the search is kept"
        );
        shot(&b, "compliance-found").await;
        accessible(&b, "compliance-found").await;
    });
}

#[test]
fn an_agent_records_an_opt_out_by_keyboard_alone_and_the_api_answers_at_once() {
    let app = TestApp::spawn();
    let today = suppress::domain::time::today_uk();
    import(&app, "tps", today, &register_file(0, 40));
    import(&app, "ctps", today, &register_file(100, 110));
    let password = user(&app, "p.agent", Role::Agent);
    let phone = "020 7946 0018";
    assert_eq!(check(&app, phone, "call"), (serde_json::json!(true), serde_json::Value::Null), "allowed before");
    let Some(b) = open("an_agent_records_an_opt_out_by_keyboard_alone_and_the_api_answers_at_once", &app.base) else { return };
    b.block_on(async {
        sign_in(&b, "p.agent", &password).await;
        // To the look-up by the navigation, by keyboard.
        tab_to(&b, "nav[aria-label=Main] a[href='/people']").await;
        let old = document(&b).await;
        press(&b, Key::Enter).await;
        wait_for_new(&b, old).await;
        wait_for_h1(&b, "Customers").await;
        shot(&b, "people").await;
        accessible(&b, "people").await;
        // The search box has the focus: type the number in another spelling, Enter.
        assert_eq!(b.active_element().await.expect("focus").id().await.expect("id").as_deref(), Some("q"));
        let old = document(&b).await;
        press(&b, "+44 (0)20-7946 0018" + Key::Enter).await;
        wait_for_new(&b, old).await;
        assert_eq!(text_of(&b, "result-key").await, "+442079460018");
        let before = text_of(&b, "state-call").await;
        assert!(b.find_all(By::Id("history-empty")).await.expect("read").len() == 1, "nothing recorded yet");
        shot(&b, "people-found").await;
        accessible(&b, "people-found").await;

        // Calls only: Tab into the radio group (on "all", the one checked), an arrow to the next.
        tab_to(&b, "#opt-out-channel-all").await;
        press(&b, Key::Down).await;
        assert!(
            b.find(By::Id("opt-out-channel-call")).await.expect("calls only").is_selected().await.expect("checked"),
            "calls only chosen"
        );
        tab_to(&b, "#opt-out-note").await;
        press(&b, "asked on the phone").await;
        tab_to(&b, "#opt-out-submit").await;
        let old = document(&b).await;
        press(&b, Key::Space).await;
        wait_for_new(&b, old).await;
        wait_for_h1(&b, "Customers").await;
        assert_eq!(text_of(&b, "say-sentence").await, "We have stopped marketing calls to 020 7946 0018 from now.");
        let after = text_of(&b, "state-call").await;
        assert_ne!(after, before, "the state in force changed");
        let history = text_of(&b, "history").await;
        assert!(history.contains("p.agent") && history.contains("web:p.agent") && history.contains("asked on the phone"), "{history}");
        shot(&b, "people-said").await;
        accessible(&b, "people-said").await;
    });
    // The API answers at once: calls stopped, texts not.
    assert_eq!(check(&app, phone, "call"), (serde_json::json!(false), serde_json::json!("OPTED_OUT")));
    assert_eq!(check(&app, phone, "sms").0, serde_json::json!(true), "only calls were stopped");

    b.block_on(async {
        // A consent without evidence is refused on the page, and nothing is recorded.
        tab_to(&b, "#consent-submit").await;
        let old = document(&b).await;
        press(&b, Key::Enter).await;
        wait_for_new(&b, old).await;
        wait_for_h1(&b, "Customers").await;
        let refusal = b.find(By::Css("#consent-form .error[role=alert]")).await.expect("the refusal").text().await.expect("text");
        assert!(refusal.to_lowercase().contains("evidence"), "{refusal}");
        assert!(b.find_all(By::Id("say-sentence")).await.expect("read").is_empty(), "no sentence to read");
        assert_eq!(b.find_all(By::Css("#history tbody tr")).await.expect("rows").len(), 1, "nothing more recorded");
        shot(&b, "people-consent-refused").await;
        accessible(&b, "people-consent-refused").await;
    });
    assert_eq!(check(&app, phone, "call"), (serde_json::json!(false), serde_json::json!("OPTED_OUT")), "the consent was not recorded");

    b.block_on(async {
        // The refusal puts the focus on the evidence: type it, Tab to the button, Space.
        let focused = b.active_element().await.expect("focus").id().await.expect("id");
        assert_eq!(focused.as_deref(), Some("consent-evidence"), "the focus is on the missing evidence");
        press(&b, "Asked on the phone today for offers by phone; script 4 read").await;
        tab_to(&b, "#consent-submit").await;
        let old = document(&b).await;
        press(&b, Key::Space).await;
        wait_for_new(&b, old).await;
        assert_eq!(text_of(&b, "say-sentence").await, "We have recorded your consent to marketing calls and texts on 020 7946 0018.");
        assert_eq!(b.find_all(By::Css("#history tbody tr")).await.expect("rows").len(), 3, "a consent for calls and for texts");
        shot(&b, "people-consented").await;
    });
    assert_eq!(check(&app, phone, "call"), (serde_json::json!(true), serde_json::Value::Null), "the later consent is in force");
}

#[test]
fn a_campaign_manager_screens_a_list_on_the_page_and_gets_the_api_s_files() {
    let app = TestApp::spawn();
    let password = user(&app, "m.jones", Role::Campaign);
    let dir = tempfile::tempdir().expect("a folder for the list");
    let file = dir.path().join("december.csv");
    std::fs::write(&file, CALL_LIST).expect("write the list");
    let file = file.to_string_lossy().into_owned();
    let Some(b) = open("a_campaign_manager_screens_a_list_on_the_page_and_gets_the_api_s_files", &app.base) else { return };
    b.block_on(async {
        sign_in(&b, "m.jones", &password).await;
        b.visit("/lists").await;
        wait_for_h1(&b, "Lists").await;
        b.find(By::Id("list-name")).await.expect("name").send_keys("December calls").await.expect("type");
        b.find(By::Id("list-file")).await.expect("file").send_keys(file.as_str()).await.expect("choose the file");
        // Registers never imported: refused with a sentence, the form still there.
        send(&b, "list-form").await;
        wait_for_h1(&b, "Lists").await;
        let refusal = text_of(&b, "list-error").await;
        assert!(refusal.contains("TPS"), "{refusal}");
        assert_eq!(
            b.find(By::Id("list-name")).await.expect("name").value().await.expect("value").as_deref(),
            Some("December calls"),
            "kept"
        );
        shot(&b, "lists-refused-stale").await;
        accessible(&b, "lists-refused-stale").await;
    });
    let (s, all) = app.get("/v1/scrubs", Some(&app.admin));
    assert_eq!((s, all["scrubs"].as_array().map(Vec::len)), (200, Some(0)), "a refused list stores nothing: {all}");

    let today = suppress::domain::time::today_uk();
    // TPS 26 days old: it vouches for contact dates up to 2 days from now.
    import(&app, "tps", today - chrono::Days::new(26), &register_file(0, 40));
    import(&app, "ctps", today, &register_file(100, 110));
    let (id, params, files) = b.block_on(async {
        b.visit("/lists").await;
        b.find(By::Id("list-name")).await.expect("name").send_keys("December calls").await.expect("type");
        b.find(By::Id("list-file")).await.expect("file").send_keys(file.as_str()).await.expect("choose the file");
        let value = |id: &'static str| {
            let b = &b;
            async move { b.find(By::Id(id)).await.expect(id).prop("value").await.expect("value").unwrap_or_default() }
        };
        let (channel, date) = (value("list-channel").await, value("list-contact-date").await);
        let mode =
            b.find(By::Css("#list-mode input:checked")).await.expect("a mode").prop("value").await.expect("value").unwrap_or_default();
        assert!(!banner(&b).await.iter().any(|l| l.contains("TPS") || l.contains("CTPS")), "TPS and CTPS are fresh");
        shot(&b, "lists-upload").await;
        accessible(&b, "lists-upload").await;
        send(&b, "list-form").await;
        wait_for_h1(&b, "December calls").await;
        let id = text_of(&b, "list-id").await;
        assert_eq!(here(&b).await, format!("/lists/{id}"));
        assert_eq!((text_of(&b, "list-rows").await, text_of(&b, "list-kept").await), ("6".to_owned(), "2".to_owned()));
        let reasons = text_of(&b, "list-reasons").await;
        assert!(reasons.contains("TPS") && reasons.contains("CTPS"), "{reasons}");
        shot(&b, "lists-result").await;
        accessible(&b, "lists-result").await;
        let mut files = Vec::new();
        for (link, part) in [
            ("download-clean", "clean.csv"),
            ("download-suppressed", "suppressed.csv"),
            ("download-annotated", "annotated.csv"),
            ("download-revocations", "revocations"),
        ] {
            let href = b.find(By::Id(link)).await.expect(link).attr("href").await.expect("href").unwrap_or_default();
            assert_eq!(href, format!("/lists/{id}/{part}"));
            files.push((part, fetch_in_page(&b, &href).await));
        }
        // The list is among the past lists.
        b.visit("/lists").await;
        let past = text_of(&b, "past-lists").await;
        assert!(past.contains("December calls") && past.contains("m.jones"), "{past}");

        // A contact date past what TPS vouches for: a 409 sentence that says what to do.
        b.find(By::Id("list-file")).await.expect("file").send_keys(file.as_str()).await.expect("choose the file");
        let later = (today + chrono::Days::new(10)).to_string();
        let field = b.find(By::Id("list-contact-date")).await.expect("the contact date");
        b.execute("arguments[0].value = arguments[1];", vec![field.to_json().expect("the field"), serde_json::json!(later)])
            .await
            .expect("set the contact date");
        send(&b, "list-form").await;
        wait_for_h1(&b, "Lists").await;
        let refusal = text_of(&b, "list-error").await;
        assert!(
            refusal.starts_with("The TPS register is 26 days old: import a TPS file dated ")
                && refusal.ends_with(" or later, or choose an earlier contact date."),
            "{refusal}"
        );
        let kept = b.find(By::Id("list-contact-date")).await.expect("the contact date").prop("value").await.expect("value");
        assert_eq!(kept.as_deref(), Some(later.as_str()), "the date typed is kept");
        shot(&b, "lists-refused-date").await;
        accessible(&b, "lists-refused-date").await;
        (id, (channel, date, mode), files)
    });
    assert_eq!(files[0].1, "name,phone,notes\nEd,020 7946 0500,clean\nFlo,020 7946 0600,clean\n", "the clean list");
    // The API, same file, same parameters: the same files, byte for byte.
    let (channel, date, mode) = params;
    let (s, api) = app.raw(
        "POST",
        &format!("/v1/scrubs?channel={channel}&contact_date={date}&mode={mode}"),
        Some(&app.campaign),
        Some("text/csv"),
        CALL_LIST,
    );
    assert_eq!(s, 201, "{api}");
    let api_id = api["id"].as_i64().expect("the API's list id");
    assert_ne!(api_id.to_string(), id);
    for (part, from_page) in files {
        let r =
            ureq::get(&format!("{}/v1/scrubs/{api_id}/{part}", app.base)).set("Authorization", &format!("Bearer {}", app.campaign)).call();
        let from_api = r.expect("the API's download").into_string().expect("text");
        assert_eq!(from_page, from_api, "{part}: the page's and the API's differ");
    }
}

#[test]
fn the_core_flows_work_without_javascript() {
    let app = TestApp::spawn();
    let today = suppress::domain::time::today_uk();
    import(&app, "tps", today, &register_file(0, 40));
    import(&app, "ctps", today, &register_file(100, 110));
    let password = user(&app, "no.script", Role::Admin);
    let dir = tempfile::tempdir().expect("a folder for the list");
    let file = dir.path().join("december.csv");
    std::fs::write(&file, CALL_LIST).expect("write the list");
    let file = file.to_string_lossy().into_owned();
    let page = "<!doctype html><html lang=en><head><title>no script</title></head><body><script>document.title = 'script ran'</script></body></html>";
    let Some(b) = open_with("the_core_flows_work_without_javascript", &app.base, false) else { return };
    let (cookie, href) = b.block_on(async {
        b.goto(format!("data:text/html,{page}")).await.expect("open the test page");
        assert_eq!(b.title().await.expect("the title"), "no script", "JavaScript is off in this browser");
        sign_in(&b, "no.script", &password).await;
        // Look up and record.
        b.visit("/people").await;
        b.find(By::Id("q")).await.expect("the search box").send_keys("020 7946 0500" + Key::Enter).await.expect("type");
        wait_for_h1(&b, "Customers").await;
        let old = document(&b).await;
        b.find(By::Id("opt-out-submit")).await.expect("record opt-out").click().await.expect("press");
        wait_for_new(&b, old).await;
        assert_eq!(text_of(&b, "say-sentence").await, "We have stopped marketing calls and texts to 020 7946 0500 from now.");
        // Upload: the form is sent by the browser itself, no progress script.
        b.visit("/lists").await;
        b.find(By::Id("list-file")).await.expect("file").send_keys(file.as_str()).await.expect("choose the file");
        send(&b, "list-form").await;
        let id = text_of(&b, "list-id").await;
        assert_eq!(here(&b).await, format!("/lists/{id}"));
        let href = b.find(By::Id("download-clean")).await.expect("the clean list").attr("href").await.expect("href").unwrap_or_default();
        shot(&b, "lists-result-no-script").await;
        (session_cookie(&b).await.expect("signed in"), href)
    });
    // The download, with the browser's session cookie.
    let r = ureq::get(&format!("{}{href}", app.base)).set("Cookie", &format!("suppress_session={cookie}")).call().expect("the download");
    assert!(r.header("content-disposition").is_some_and(|d| d.starts_with("attachment")), "a download");
    assert_eq!(
        r.into_string().expect("text"),
        "name,phone,notes\nFlo,020 7946 0600,clean\n",
        "the clean list, without the number opted out"
    );
    assert_eq!(check(&app, "020 7946 0500", "call"), (serde_json::json!(false), serde_json::json!("OPTED_OUT")));
}

#[test]
fn an_admin_reads_the_outbox_and_an_agent_the_last_import_report() {
    let smtp = crate::email::Smtp::start();
    let app = TestApp::spawn_with(crate::email::with_mail(&smtp.url(), true));
    app.opt_out(serde_json::json!({"email": "screen.shot@example.com", "phone": "07911 123456", "source": "call_centre"}));
    let as_of = suppress::domain::time::today_uk() - chrono::Days::new(1);
    import(&app, "tps", as_of, &register_file(0, 1_500));
    crate::email::wait_outbox(&app, "everything sent", |rows| !rows.is_empty() && rows.iter().all(|r| r["status"] == "sent"));
    let admin = user(&app, "the.admin", Role::Admin);
    let agent = user(&app, "an.agent", Role::Agent);
    let Some(b) = open("an_admin_reads_the_outbox_and_an_agent_the_last_import_report", &app.base) else { return };
    b.block_on(async {
        sign_in(&b, "the.admin", &admin).await;
        b.visit("/admin").await;
        wait_for_h1(&b, "Users and keys").await;
        let mut rows = Vec::new();
        for tr in b.find_all(By::Css("#outbox tbody tr")).await.expect("the outbox") {
            rows.push(tr.text().await.expect("row"));
        }
        assert!(rows.iter().any(|r| r.contains("Opt-out confirmation") && r.contains("s…@example.com") && r.contains("sent")), "{rows:?}");
        assert!(rows.iter().any(|r| r.contains(&format!("TPS {as_of} imported: +1,500"))), "{rows:?}");
        b.find(By::Id("outbox-heading")).await.expect("the outbox heading").scroll_into_view().await.expect("scroll");
        shot(&b, "admin-outbox").await;
        accessible(&b, "admin-outbox").await;
        sign_out(&b).await;

        sign_in(&b, "an.agent", &agent).await;
        b.visit("/registers").await;
        wait_for_h1(&b, "Registers").await;
        let last = text_of(&b, "last-report").await;
        assert!(last.contains("Last import report") && last.contains(&format!("TPS {as_of} imported: +1,500")), "{last}");
        shot(&b, "registers-last-report").await;
        accessible(&b, "registers-last-report").await;
    });
}
