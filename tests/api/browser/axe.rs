//! The accessibility check: axe-core (vendored in tests/vendor/axe-core) run in the page itself.

use serde::Deserialize;
use thirtyfour::prelude::*;

/// axe-core, injected into the page as a script string: no request for it leaves the test.
const AXE: &str = include_str!("../../vendor/axe-core/axe.min.js");

/// WCAG 2.0 and 2.1, levels A and AA, and axe's best practices (landmarks, "all content in a
/// region", one `h1`, …). No rule is switched off.
const RUN_AXE: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, {
    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},
    resultTypes: ['violations'],
}).then(
    (r) => done(r.violations.map((v) => ({
        id: v.id,
        impact: v.impact || 'unknown',
        help: v.help,
        targets: v.nodes.map((n) => n.target.flat().join(' ')),
    }))),
    (e) => done({error: String(e)}),
);
"#;

/// One rule that the page breaks, and where.
#[derive(Debug, Deserialize)]
pub struct Violation {
    pub id: String,
    pub impact: String,
    pub help: String,
    pub targets: Vec<String>,
}

/// What axe finds wrong with the page the browser shows now.
pub async fn violations(driver: &WebDriver) -> Vec<Violation> {
    let loaded = driver.execute("return typeof window.axe === 'object';", Vec::new()).await.expect("ask the page for axe");
    if loaded.json().as_bool() != Some(true) {
        driver.execute(AXE, Vec::new()).await.expect("inject axe-core into the page");
    }
    let found = driver.execute_async(RUN_AXE, Vec::new()).await.expect("run axe-core");
    if let Some(error) = found.json().get("error") {
        panic!("axe-core failed on the page: {error}");
    }
    found.convert().expect("axe-core's violations")
}

/// Fails the test, naming each rule broken, its impact and help and the elements that break it,
/// unless the page shown now passes the check. `page` names the page and state in the message.
pub async fn accessible(driver: &WebDriver, page: &str) {
    let found = violations(driver).await;
    if found.is_empty() {
        return;
    }
    let mut report = format!("page {page} has {} accessibility problem(s):", found.len());
    for v in &found {
        report.push_str(&format!("\n- {} ({}): {} — at {}", v.id, v.impact, v.help, v.targets.join(", ")));
    }
    panic!("{report}");
}
