//! `/compliance` (compliance and administrators, `Capability::Evidence`): for now, a look-up by
//! key of what is held about a contact point, read-only — the state in force on each channel, the
//! register listings, and the full history of statements with their notes and evidence (CONTRACT
//! §10, §12). The same search box as `/people` (`app::preferences::search`), the same answer as
//! `GET /v1/preferences` (`app::preferences::lookup`) and the same rendering of it
//! (`people::found`, templates `found.html` and `history.html`), so the pages and the API agree.
//!
//! Still to come with the evidence work (§12): what was known on a date, the scrubs that held the
//! key, certificates, subject access and erasure; and recording each compliance look-up itself
//! ("each action is itself recorded"), which this page does not do yet.

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{Chrome, PageError, Signed};
use crate::app::preferences::{self, Subject};
use crate::domain::access::Capability;
use crate::http::AppState;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/compliance", web::get().to(compliance));
}

#[derive(Deserialize)]
struct Query {
    q: Option<String>,
}

#[derive(Template)]
#[template(path = "compliance.html")]
struct CompliancePage {
    chrome: Chrome,
    q: String,
    error: Option<String>,
    found: Option<super::people::Found>,
}

async fn compliance(state: web::Data<AppState>, signed: Signed, query: web::Query<Query>) -> Result<HttpResponse, PageError> {
    signed.require(Capability::Evidence)?;
    let chrome = Chrome::new(&state, &signed, "/compliance");
    let Some(q) = query.into_inner().q else {
        return Ok(super::ok(&CompliancePage { chrome, q: String::new(), error: None, found: None }));
    };
    let subject = match preferences::search(&q).and_then(|p| Subject::parse(&p)) {
        Ok(subject) => subject,
        Err(e) => {
            let (status, sentence) = super::refusal(e)?;
            return Ok(super::page(status, &CompliancePage { chrome, q, error: Some(sentence), found: None }));
        }
    };
    let app = state.app.clone();
    let held = crate::http::call(&state.store, move |conn| preferences::lookup(&app, conn, &subject)).await?;
    Ok(super::ok(&CompliancePage { chrome, q, error: None, found: Some(super::people::found(&held)) }))
}
