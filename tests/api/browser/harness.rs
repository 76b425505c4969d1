//! The harness itself, on small pages served as `data:` URLs (no app, no database).

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use super::axe::violations;
use super::{accessible, availability, shot, Availability, Browser};

/// An unlabelled field and grey text on white (#bbb on #fff is 1.9:1; AA wants 4.5:1).
const BAD_PAGE: &str = r#"<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8"><title>Bad page</title></head>
<body><main><h1>Bad page</h1>
<p style="color:#bbb;background:#fff">Hard to read</p>
<input type="text" id="q">
</main></body></html>"#;

/// Landmarks, one h1, a labelled field, AA contrast; taller than the window.
const GOOD_PAGE: &str = r##"<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8"><title>Customer look-up</title></head>
<body style="margin:0;font-family:sans-serif;color:#1a1a1a;background:#fff">
<header><p>Suppress</p></header>
<nav aria-label="Main"><a href="#q" style="color:#0b4f9c">Look-up</a></nav>
<main style="min-height:2000px"><h1>Customer look-up</h1>
<form><label for="q">Phone, email or postcode</label> <input id="q" name="q" type="search">
<button type="submit">Look up</button></form>
</main>
<footer><p>Made for the tests</p></footer>
</body></html>"##;

fn data_url(html: &str) -> String {
    let mut url = String::from("data:text/html;charset=utf-8,");
    for b in html.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

#[test]
fn axe_reports_an_unlabelled_field_and_low_contrast() {
    let Some(b) = Browser::open("axe_reports_an_unlabelled_field_and_low_contrast", &data_url(BAD_PAGE)) else { return };
    b.block_on(async {
        let found = violations(&b).await;
        let ids: Vec<&str> = found.iter().map(|v| v.id.as_str()).collect();
        assert!(ids.contains(&"label"), "no `label` violation in {found:?}");
        assert!(ids.contains(&"color-contrast"), "no `color-contrast` violation in {found:?}");

        let failure = AssertUnwindSafe(accessible(&b, "harness-bad")).catch_unwind().await.expect_err("the bad page must fail the check");
        let message = failure.downcast_ref::<String>().expect("a panic message");
        assert!(message.starts_with("page harness-bad has "), "{message}");
        assert!(message.contains("\n- label (critical): Form elements must have labels — at #q"), "{message}");
        assert!(message.contains("\n- color-contrast (serious): "), "{message}");
        shot(&b, "harness-bad").await;
    });
}

#[test]
fn a_well_formed_page_passes_and_its_screenshot_is_a_full_page_png() {
    let Some(b) = Browser::open("a_well_formed_page_passes_and_its_screenshot_is_a_full_page_png", &data_url(GOOD_PAGE)) else { return };
    let path = b.block_on(async {
        accessible(&b, "harness-good").await;
        shot(&b, "harness-good").await
    });
    assert!(path.ends_with("screenshots/harness-good.png"), "{}", path.display());
    let png = std::fs::read(&path).expect("the screenshot file");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let (width, height) = (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()));
    assert_eq!(width, 1280, "the window is 1280 px wide");
    assert!(height >= 2000, "the whole page, not only the window: {height} px high");
}

#[test]
fn a_request_for_the_internet_is_caught_and_goes_nowhere() {
    let page = r#"<!doctype html><html lang="en-GB"><head><title>Outside</title></head>
        <body><main><h1>Outside</h1><img src="http://example.invalid/logo.png" alt="Logo"></main></body></html>"#;
    let Some(b) = Browser::open("a_request_for_the_internet_is_caught_and_goes_nowhere", &data_url(page)) else { return };
    let started = Instant::now();
    let mut seen = Vec::new();
    while seen.is_empty() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
        seen.extend(b.take_outside_requests());
    }
    assert!(seen.iter().any(|r| r.contains("example.invalid/logo.png")), "the image request was not caught: {seen:?}");
}

#[test]
fn a_missing_browser_is_skipped_here_and_fails_in_ci() {
    let (missing, present) = (Path::new("/nonexistent/chromium"), Path::new(env!("CARGO_MANIFEST_DIR")));
    let skipped = Availability::Skip("browser test t skipped: chromium/chromedriver not installed".into());
    assert_eq!(availability("t", missing, present, None), skipped);
    assert_eq!(availability("t", present, missing, Some("false")), skipped);
    match availability("t", present, missing, Some("true")) {
        Availability::Fail(sentence) => {
            assert!(sentence.contains("apt-get install chromium chromium-driver fonts-liberation"), "{sentence}")
        }
        other => panic!("CI=true must fail, not {other:?}"),
    }
    assert_eq!(availability("t", present, present, Some("true")), Availability::Ready);
}
