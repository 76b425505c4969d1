//! `/compliance` (compliance and administrators, `Capability::Evidence`): for now, a look-up by
//! key of what is held about a contact point, read-only — the state in force on each channel, the
//! register listings, and the full history of statements with their notes and evidence (CONTRACT
//! §10, §12). The same search box as `/people` (`app::preferences::search`) and the same answer as
//! `GET /v1/preferences` (`app::preferences::preferences`), so the page and the API agree.
//!
//! Still to come with the evidence work (§12): what was known on a date, the scrubs that held the
//! key, certificates, subject access and erasure; and recording each compliance look-up itself
//! ("each action is itself recorded"), which this page does not do yet.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono_tz::Europe::London;
use serde::Deserialize;

use super::{Chrome, PageError, Signed};
use crate::app::preferences::{self, Subject};
use crate::app::AppError;
use crate::domain::access::Capability;
use crate::http::AppState;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/compliance", web::get().to(compliance));
}

#[derive(Deserialize)]
struct Query {
    q: Option<String>,
}

/// The answer of `app::preferences::preferences`, as far as this page reads it.
#[derive(Deserialize)]
struct Held {
    key: String,
    channels: std::collections::BTreeMap<String, InForce>,
    registers: Vec<Listing>,
    history: Vec<Statement>,
}

#[derive(Deserialize)]
struct InForce {
    state: String,
    statement_id: Option<i64>,
    since: Option<String>,
    key: Option<String>,
}

#[derive(Deserialize)]
struct Listing {
    name: String,
    as_of: Option<chrono::NaiveDate>,
    listed: Option<bool>,
    listed_since: Option<chrono::NaiveDate>,
    binding_from: Option<chrono::NaiveDate>,
    deceased: Option<bool>,
}

#[derive(Deserialize)]
struct Statement {
    id: i64,
    key: String,
    channel: String,
    kind: String,
    recorded_at: String,
    source: String,
    recorded_by: Option<String>,
    recorded_via: String,
    note: Option<String>,
    evidence: Option<String>,
}

/// A channel's state as the page says it.
pub struct StateLine {
    pub channel: &'static str,
    /// "state-no", "state-yes" or "" (the class; the words say it too).
    pub class: &'static str,
    pub words: String,
    pub statement: String,
}

pub struct RegisterLine {
    pub name: String,
    pub as_of: String,
    pub listed: String,
    pub listed_since: String,
    pub binding_from: String,
}

pub struct HistoryLine {
    pub id: i64,
    pub recorded_at: String,
    pub channel: &'static str,
    pub kind: &'static str,
    pub source: String,
    pub recorded_by: String,
    pub recorded_via: String,
    pub note: String,
    pub evidence: String,
    pub key: String,
}

pub struct Found {
    pub key: String,
    pub states: Vec<StateLine>,
    pub registers: Vec<RegisterLine>,
    pub history: Vec<HistoryLine>,
}

#[derive(Template)]
#[template(path = "compliance.html")]
struct CompliancePage {
    chrome: Chrome,
    q: String,
    error: Option<String>,
    found: Option<Found>,
}

fn channel_words(c: &str) -> &'static str {
    match c {
        "call" => "Calls",
        "sms" => "Texts",
        "mail" => "Post",
        "email" => "Email",
        _ => "Other",
    }
}

/// A stored time (RFC 3339, UTC) as people in the UK read it.
fn when(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|t| t.with_timezone(&London).format("%-d %b %Y %H:%M").to_string())
        .unwrap_or_else(|_| t.to_owned())
}

fn day(d: Option<chrono::NaiveDate>) -> String {
    d.map(super::day).unwrap_or_default()
}

fn found(held: Held) -> Found {
    let states = held
        .channels
        .iter()
        .map(|(c, s)| {
            let since = s.since.as_deref().map(when).unwrap_or_default();
            let (class, words) = match s.state.as_str() {
                "opted_out" => ("state-no", format!("Opted out since {since}")),
                "consented" => ("state-yes", format!("Consented since {since}")),
                _ => ("", "No statement of ours: the registers decide".to_owned()),
            };
            let statement = match (s.statement_id, &s.key) {
                (Some(id), Some(k)) if *k != held.key => format!("statement {id}, about the household {k}"),
                (Some(id), _) => format!("statement {id}"),
                _ => String::new(),
            };
            StateLine { channel: channel_words(c), class, words, statement }
        })
        .collect();
    let registers = held
        .registers
        .into_iter()
        .map(|r| RegisterLine {
            name: r.name.to_uppercase(),
            as_of: r.as_of.map(super::day).unwrap_or_else(|| "never imported".into()),
            listed: match (r.listed, r.deceased) {
                (None, _) => "unknown: never imported".into(),
                (Some(true), Some(true)) => "yes, as deceased".into(),
                (Some(true), _) => "yes".into(),
                (Some(false), _) => "no".into(),
            },
            listed_since: match (r.listed, r.listed_since) {
                (Some(true), None) => "before the first import".into(),
                (_, since) => day(since),
            },
            binding_from: day(r.binding_from),
        })
        .collect();
    // Newest first: a complaint is usually about the latest.
    let history = held
        .history
        .into_iter()
        .rev()
        .map(|s| HistoryLine {
            id: s.id,
            recorded_at: when(&s.recorded_at),
            channel: channel_words(&s.channel),
            kind: if s.kind == "opt_out" { "Opt-out" } else { "Consent" },
            source: s.source.replace('_', " "),
            recorded_by: s.recorded_by.unwrap_or_default(),
            recorded_via: s.recorded_via,
            note: s.note.unwrap_or_default(),
            evidence: s.evidence.unwrap_or_default(),
            key: s.key,
        })
        .collect();
    Found { key: held.key, states, registers, history }
}

async fn compliance(state: web::Data<AppState>, signed: Signed, query: web::Query<Query>) -> Result<HttpResponse, PageError> {
    signed.require(Capability::Evidence)?;
    let chrome = Chrome::new(&state, &signed, "/compliance");
    let Some(q) = query.into_inner().q else {
        return Ok(super::ok(&CompliancePage { chrome, q: String::new(), error: None, found: None }));
    };
    let subject = match preferences::search(&q).and_then(|p| Subject::parse(&p)) {
        Ok(subject) => subject,
        Err(e) if e.code.status() < 500 => {
            let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let error = Some(super::sentence(&e.message));
            return Ok(super::page(status, &CompliancePage { chrome, q, error, found: None }));
        }
        Err(e) => return Err(e.into()),
    };
    let app = state.app.clone();
    let answer = crate::http::call(&state.store, move |conn| preferences::preferences(&app, conn, &subject)).await?;
    let held: Held = serde_json::from_value(answer).map_err(AppError::internal)?;
    Ok(super::ok(&CompliancePage { chrome, q, error: None, found: Some(found(held)) }))
}
