//! Browser tests: the pages in a real headless Chromium, driven through WebDriver (CONTRACT §10).
//!
//! **Needs** Debian's `chromium`, `chromium-driver` and `fonts-liberation`
//! (`apt-get install chromium chromium-driver fonts-liberation`; `.ci/run` does it). Nothing is
//! downloaded. Without them a browser test prints
//! `browser test NAME skipped: chromium/chromedriver not installed` and passes; with `CI=true` it
//! fails instead.
//!
//! **Run** `cargo test --test api browser` (SQLite), with `TEST_DATABASE_URL=postgres://…` for
//! PostgreSQL.
//!
//! **Screenshots** land in `target/screenshots/NAME.png` (under `CARGO_TARGET_DIR` when set), one
//! per page and state, the whole page at 1280 px wide (the window is 1280×800); a test that fails
//! leaves `TEST-failed.png` too, with what the browser showed when it failed.
//!
//! **Accessibility**: [`accessible`] runs axe-core (vendored in `tests/vendor/axe-core`) in the page
//! for WCAG 2.1 A and AA and axe's best practices, and fails listing every problem.
//!
//! One chromedriver serves the whole test binary: started on first use, on a port it picks itself,
//! and ended when the binary exits, however it exits. Each test has its own Chrome session and a
//! small tokio runtime; the steps are async, in [`Browser::block_on`]:
//!
//! ```ignore
//! #[test]
//! fn agent_looks_up_a_number() {
//!     let app = TestApp::spawn();
//!     let Some(b) = Browser::open("agent_looks_up_a_number", &app.base) else { return };
//!     b.block_on(async {
//!         b.sign_in("agent", "a-password").await;
//!         b.visit("/people").await;
//!         shot(&b, "people-empty").await;
//!         accessible(&b, "people-empty").await;
//!     });
//! }
//! ```
//!
//! Chrome makes no request outside this machine: its background services are switched off or pointed
//! at a port on this machine that Chrome refuses, host names other than `localhost` do not resolve,
//! and every request for a non-loopback address goes to a proxy that is a listener of the test's own,
//! and [`Browser`] fails the test if anything reached it.

mod axe;
mod flows;
mod harness;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::Deref;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine;
use serde_json::json;
use thirtyfour::prelude::*;

pub use axe::accessible;

/// Debian's Chromium itself: `/usr/bin/chromium` is a launcher script that adds Google API keys and
/// `--enable-remote-extensions` from /etc/chromium.d.
const CHROMIUM: &str = "/usr/lib/chromium/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Chrome's switches: headless at the size of an office screen, and nothing that talks to the
/// internet. Each Google service below was seen reaching the proxy (see [`Sentinel`]) until switched
/// off or pointed at port 9 on this machine, which Chrome refuses to connect to (an "unsafe port").
const CHROME_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox", // the tests run as root in CI
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1280,800",
    "--hide-scrollbars", // screenshots 1280 px wide whatever the page's length
    "--lang=en-GB",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-breakpad",
    "--metrics-recording-only", // records, never uploads
    // NetworkTimeServiceQuerying: clients2.google.com/time
    "--disable-features=NetworkTimeServiceQuerying,Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
    // the on-device model component asks update.googleapis.com even with component updates off
    "--component-updater=url-source=http://127.0.0.1:9/",
    // the account reconcilor's ListAccounts to accounts.google.com has no switch of its own
    "--gaia-url=http://127.0.0.1:9/",
    // no DNS look-ups: only localhost resolves (the app under test and the proxy are on 127.0.0.1)
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
];

/// Whether browser tests can run here, and what to say when they cannot.
#[derive(Debug, PartialEq, Eq)]
enum Availability {
    Ready,
    Skip(String),
    Fail(String),
}

fn availability(test: &str, chromium: &Path, chromedriver: &Path, ci: Option<&str>) -> Availability {
    if chromium.exists() && chromedriver.exists() {
        return Availability::Ready;
    }
    if ci == Some("true") {
        Availability::Fail(format!(
            "browser test {test} cannot run: {} or {} is missing; install Debian's packages with \
             `apt-get install chromium chromium-driver fonts-liberation` (CI=true makes a missing browser a failure)",
            chromium.display(),
            chromedriver.display()
        ))
    } else {
        Availability::Skip(format!("browser test {test} skipped: chromium/chromedriver not installed"))
    }
}

/// The chromedriver of this test binary: its URL, or why it did not start.
fn chromedriver_url() -> &'static str {
    static DRIVER: OnceLock<Result<Chromedriver, String>> = OnceLock::new();
    match DRIVER.get_or_init(Chromedriver::start) {
        Ok(driver) => &driver.url,
        Err(why) => panic!("{why}"),
    }
}

struct Chromedriver {
    url: String,
    /// The write end of the wrapper's stdin: the kernel closes it when the test binary exits, however
    /// it exits, and the wrapper then ends chromedriver. Never written to.
    _lifeline: ChildStdin,
}

impl Chromedriver {
    fn start() -> Result<Chromedriver, String> {
        // chromedriver picks a free port itself (--port=0) and prints it. The shell around it, in a
        // process group of its own, waits for its stdin to close, then ends the group: chromedriver
        // and any Chrome that a killed test binary left.
        let mut child = Command::new("sh")
            .args(["-c", r#""$1" --port=0 & read -r _line; kill 0"#, "sh", CHROMEDRIVER])
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {CHROMEDRIVER}: {e}"))?;
        let lifeline = child.stdin.take().ok_or("chromedriver's stdin is not piped")?;
        let stdout = child.stdout.take().ok_or("chromedriver's stdout is not piped")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut line = String::new();
            while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
                if let Some(port) = line.trim().strip_prefix("ChromeDriver was started successfully on port ") {
                    let _ = tx.send(port.trim_end_matches('.').to_owned());
                    break;
                }
                line.clear();
            }
            // keep draining so chromedriver never blocks on a full pipe
            let _ = std::io::copy(&mut lines, &mut std::io::sink());
        });
        let port = rx
            .recv_timeout(Duration::from_secs(20))
            .map_err(|_| format!("{CHROMEDRIVER} did not say which port it listens on within 20 s"))?;
        Ok(Chromedriver { url: format!("http://127.0.0.1:{port}"), _lifeline: lifeline })
    }
}

/// A listener that Chrome uses as its proxy for every non-loopback address: it records the first
/// line of each request and closes the connection, so nothing leaves the machine.
struct Sentinel {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sentinel {
    fn start() -> std::io::Result<Sentinel> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let (seen, stop) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
        let (seen_in, stop_in) = (Arc::clone(&seen), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop_in.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                let mut first = String::new();
                let _ = BufReader::new(stream.take(2048)).read_line(&mut first);
                let first = if first.trim().is_empty() { "(a connection that sent no request line)" } else { first.trim() };
                seen_in.lock().unwrap_or_else(|e| e.into_inner()).push(first.to_owned());
            }
        });
        Ok(Sentinel { port, seen, stop, thread: Some(thread) })
    }

    /// The requests seen so far, forgotten once taken.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(mut wake) = TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = wake.write_all(b"\n");
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One test's Chrome session. Derefs to thirtyfour's [`WebDriver`]; drive it inside
/// [`Browser::block_on`]. Dropping it ends the session, and fails the test if Chrome tried to reach
/// anything outside this machine.
pub struct Browser {
    test: String,
    base: String,
    driver: WebDriver,
    sentinel: Sentinel,
    rt: tokio::runtime::Runtime,
}

impl Browser {
    /// A new session for the test named `test`, at `base_url` (the app's `http://127.0.0.1:PORT`,
    /// or a `data:` URL). `None` when the browser is not installed and `CI` is not `true`: the test
    /// has said it was skipped and should return.
    pub fn open(test: &str, base_url: &str) -> Option<Browser> {
        Browser::open_with(test, base_url, true)
    }

    /// [`Browser::open`], with or without JavaScript in the pages (the core flows must work
    /// without it).
    pub fn open_with(test: &str, base_url: &str, javascript: bool) -> Option<Browser> {
        let ci = std::env::var("CI").ok();
        match availability(test, Path::new(CHROMIUM), Path::new(CHROMEDRIVER), ci.as_deref()) {
            Availability::Ready => {}
            Availability::Skip(line) => {
                eprintln!("{line}");
                return None;
            }
            Availability::Fail(sentence) => panic!("{sentence}"),
        }
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime for the browser test");
        let sentinel = Sentinel::start().expect("a local listener for Chrome's proxy");
        let driver =
            rt.block_on(session(sentinel.port, javascript)).unwrap_or_else(|e| panic!("browser test {test}: no Chrome session: {e}"));
        let browser = Browser { test: test.to_owned(), base: base_url.trim_end_matches('/').to_owned(), driver, sentinel, rt };
        browser.block_on(async {
            browser.goto(base_url).await.unwrap_or_else(|e| panic!("browser test {test}: cannot open {base_url}: {e}"));
        });
        Some(browser)
    }

    /// Runs the test's steps (a future that borrows this browser) to the end.
    pub fn block_on<T>(&self, steps: impl std::future::Future<Output = T>) -> T {
        self.rt.block_on(steps)
    }

    /// Goes to `path` (e.g. `/people`) on the app this browser was opened at.
    pub async fn visit(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.goto(url.as_str()).await.unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// The requests that Chrome tried to send outside this machine so far; taking them means the
    /// end of the test does not fail on them.
    pub fn take_outside_requests(&self) -> Vec<String> {
        self.sentinel.take()
    }
}

impl Deref for Browser {
    type Target = WebDriver;

    fn deref(&self) -> &WebDriver {
        &self.driver
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let failing = std::thread::panicking();
        let driver = self.driver.clone();
        let failed_shot = format!("{}-failed", self.test);
        self.rt.block_on(async move {
            if failing {
                let _ = save_shot(&driver, &failed_shot).await;
            }
            let _ = driver.quit().await;
        });
        self.sentinel.stop();
        let outside = self.sentinel.take();
        if !failing && !outside.is_empty() {
            panic!("browser test {}: Chrome tried to reach outside this machine: {}", self.test, outside.join("; "));
        }
    }
}

/// Chrome's preferences for these tests: no password manager. Once a form with a password field
/// is sent, Chrome's leak detection asks `passwordsleakcheck-pa.googleapis.com` about the
/// password (the proxy would catch it and fail the test); and a "save password?" bubble has no
/// place in a screenshot. With `javascript` false, no page may run a script either.
fn prefs(javascript: bool) -> serde_json::Value {
    let mut profile = serde_json::json!({"password_manager_enabled": false, "password_manager_leak_detection": false});
    if !javascript {
        profile["managed_default_content_settings"] = serde_json::json!({"javascript": 2});
    }
    serde_json::json!({"credentials_enable_service": false, "profile": profile})
}

async fn session(proxy_port: u16, javascript: bool) -> WebDriverResult<WebDriver> {
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(CHROMIUM)?;
    for arg in CHROME_ARGS {
        caps.add_arg(arg)?;
    }
    // Loopback addresses bypass a proxy by default, so the app under test is reached directly.
    caps.add_arg(&format!("--proxy-server=http://127.0.0.1:{proxy_port}"))?;
    caps.add_experimental_option("prefs", prefs(javascript))?;
    let driver = WebDriver::new(chromedriver_url(), caps).await?;
    driver.set_page_load_timeout(Duration::from_secs(30)).await?;
    driver.set_script_timeout(Duration::from_secs(30)).await?;
    Ok(driver)
}

/// The folder screenshots go to: `target/screenshots` (honouring `CARGO_TARGET_DIR`).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("screenshots")
}

/// Saves a full-page PNG of what the browser shows as `target/screenshots/NAME.png` and returns its
/// path. `name` says the page and its state (`people-found`, `lists-refused-stale`): lower case,
/// digits, `-` and `_`, so a reviewer finds the same file run after run.
pub async fn shot(driver: &WebDriver, name: &str) -> PathBuf {
    save_shot(driver, name).await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"))
}

async fn save_shot(driver: &WebDriver, name: &str) -> Result<PathBuf, String> {
    let stable = !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !stable {
        return Err(format!("{name:?} is not a screenshot name: use lower case, digits, '-' and '_'"));
    }
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let png = full_page_png(driver).await.map_err(|e| e.to_string())?;
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// The whole page, not only the window: Chrome's DevTools `Page.captureScreenshot` over the
/// document's size (at least the window's).
async fn full_page_png(driver: &WebDriver) -> Result<Vec<u8>, String> {
    let cdp = driver.cdp();
    let metrics = cdp.send_raw("Page.getLayoutMetrics", ()).await.map_err(|e| e.to_string())?;
    let size = |key: &str, field: &str| metrics[key][field].as_f64().unwrap_or(0.0).ceil();
    let width = size("cssContentSize", "width").max(size("cssLayoutViewport", "clientWidth"));
    let height = size("cssContentSize", "height").max(size("cssLayoutViewport", "clientHeight"));
    let params = json!({
        "format": "png",
        "captureBeyondViewport": true,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
    });
    let shot = cdp.send_raw("Page.captureScreenshot", params).await.map_err(|e| e.to_string())?;
    let data = shot["data"].as_str().ok_or("Chrome sent no screenshot data")?;
    base64::engine::general_purpose::STANDARD.decode(data).map_err(|e| format!("the screenshot is not base64: {e}"))
}
