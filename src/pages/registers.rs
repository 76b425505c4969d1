//! `/registers` (every role): each register's snapshot, how long it vouches for, and the import
//! history (CONTRACT §10); for admins, the import form (`POST /registers/import`, through the
//! API's way in and `app::imports::import_register`) and the undo of a register's latest import.

use std::io::Seek;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::session::{token_matches, Posted};
use super::{day, Chrome, PageError, Signed};
use crate::app::{imports, AppError, ErrorCode};
use crate::domain::access::Capability;
use crate::domain::time::{parse_date, today_uk};
use crate::domain::Register;
use crate::http::AppState;
use crate::registers::import::{as_of_from_name, Kind, Request};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/registers", web::get().to(registers))
        .route("/registers/import", web::post().to(import))
        .route("/registers/undo", web::post().to(undo));
}

/// A register as the page shows it.
pub struct Row {
    pub name: String,
    pub channel: String,
    pub lead_time: String,
    pub as_of: String,
    pub entries: String,
    pub valid_until: String,
    /// "ok", "soon" (3 days or fewer left) or "stale": the badge's class.
    pub state: &'static str,
    /// The same in words (colour is never the only sign).
    pub words: String,
}

pub struct Imported {
    pub id: i64,
    pub register: String,
    pub as_of: String,
    pub kind: String,
    pub status: String,
    pub added: i64,
    pub removed: i64,
    pub entries_after: i64,
    pub imported_at: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "registers.html")]
struct RegistersPage {
    chrome: Chrome,
    rows: Vec<Row>,
    history: Vec<Imported>,
    /// What the last import or undo did, in a sentence.
    done: Option<String>,
    /// Admins: the import form, as sent, and a refusal's sentence.
    may_import: bool,
    form: ImportForm,
    error: Option<String>,
    registers: Vec<(&'static str, &'static str, bool)>,
    /// Registers with an import to undo: (value, label).
    undoable: Vec<(&'static str, String)>,
    /// The latest import report written to the outbox (one import's or a nightly run's).
    last_report: Option<super::admin::MessageLine>,
}

/// The import form's fields, as sent (kept when the form is shown again).
#[derive(Debug, Clone, Default)]
pub struct ImportForm {
    pub register: String,
    pub kind: String,
    pub as_of: String,
    pub force: bool,
}

#[derive(Deserialize)]
struct Outcome {
    imported: Option<i64>,
    undone: Option<i64>,
}

pub use crate::domain::say::count;

pub fn rows(state: &AppState) -> Vec<Row> {
    let today = today_uk();
    state
        .registers
        .status()
        .into_iter()
        .map(|s| {
            let left = s.valid_until.map(|u| (u - today).num_days());
            let (badge, words) = match (s.as_of, left) {
                (None, _) => ("stale", "never imported".to_owned()),
                (_, Some(d)) if d < 0 => ("stale", format!("stale: expired {} day{} ago", -d, if d == -1 { "" } else { "s" })),
                (_, Some(0)) => ("soon", "last day: import a new file today".to_owned()),
                (_, Some(d)) if d <= 3 => ("soon", format!("{d} day{} left", if d == 1 { "" } else { "s" })),
                (_, Some(d)) => ("ok", format!("{d} days left")),
                (_, None) => ("stale", "stale".to_owned()),
            };
            Row {
                name: s.name.label().to_owned(),
                channel: s.channel.to_string(),
                lead_time: s.lead_time,
                as_of: s.as_of.map(day).unwrap_or_else(|| "—".into()),
                entries: count(s.entries),
                valid_until: s.valid_until.map(day).unwrap_or_else(|| "—".into()),
                state: badge,
                words,
            }
        })
        .collect()
}

/// The import history's row `id`, as a sentence of what it did (an import applied, a file already
/// imported, an undo).
fn outcome(state: &AppState, r: &crate::store::registers::ImportRow) -> String {
    let name = r.register.label();
    let signed = |added: i64, removed: i64| crate::domain::say::changes(added.unsigned_abs(), removed.unsigned_abs());
    match (r.kind.as_str(), r.status.as_str()) {
        ("undo", _) => {
            let now = match r.report["as_of"].as_str().and_then(|d| d.parse().ok()) {
                Some(as_of) => format!("{name} is back to its snapshot of {}", day(as_of)),
                None => format!("{name} has no snapshot now: lists for {} are refused until a file is imported", r.register.channel()),
            };
            format!("The {name} import of {} was undone ({}): {now}.", day(r.as_of), signed(r.added, r.removed))
        }
        (_, "already_imported") => format!("This {name} file of {} had been imported already: nothing changed.", day(r.as_of)),
        _ => {
            let until =
                state.registers.lead_time(r.register).after(r.as_of).map(|u| format!(", valid until {}", day(u))).unwrap_or_default();
            format!("{name} file of {} imported: {}{until}.", day(r.as_of), signed(r.added, r.removed))
        }
    }
}

/// The page, with the outcome of an import or undo, or the import form as sent with a refusal.
async fn render(
    state: &AppState,
    signed: &Signed,
    status: StatusCode,
    shown: Option<i64>,
    form: ImportForm,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let (history, last_report) =
        crate::http::call(&state.store, |conn| Ok((imports::history(conn, None, 30)?, crate::app::outbox::latest_report(conn)?))).await?;
    let last_report = last_report.map(super::admin::message_line);
    let done = shown.and_then(|id| history.iter().find(|r| r.id == id)).map(|r| outcome(state, r));
    let history = history
        .into_iter()
        .map(|r| Imported {
            id: r.id,
            register: r.register.label().to_owned(),
            as_of: day(r.as_of),
            kind: r.kind.to_string(),
            status: r.status.to_string(),
            added: r.added,
            removed: r.removed,
            entries_after: r.entries_after,
            imported_at: r.imported_at.format("%-d %b %Y %H:%M").to_string(),
            // Errors are written never to echo file content (CONTRACT §9); reports, which may,
            // are not shown here.
            error: r.error.map(|e| super::sentence(&e)).unwrap_or_default(),
        })
        .collect();
    let may_import = signed.user.role.may(Capability::Import);
    let status_now = state.registers.status();
    let undoable = Register::ALL
        .iter()
        .filter_map(|&r| {
            let as_of = status_now.iter().find(|s| s.name == r)?.as_of?;
            Some((r.as_str(), format!("Undo the latest {} import (file of {})", r.label(), day(as_of))))
        })
        .collect();
    let registers = [("tps", "TPS"), ("ctps", "CTPS"), ("mps", "MPS")].into_iter().map(|(v, l)| (v, l, form.register == v)).collect();
    let t = RegistersPage {
        chrome: Chrome::new(state, signed, "/registers"),
        rows: rows(state),
        history,
        done,
        may_import,
        form,
        error,
        registers,
        undoable,
        last_report,
    };
    Ok(super::page(status, &t))
}

async fn registers(state: web::Data<AppState>, signed: Signed, q: web::Query<Outcome>) -> Result<HttpResponse, PageError> {
    let blank = ImportForm { register: "tps".into(), kind: "full".into(), ..ImportForm::default() };
    render(&state, &signed, StatusCode::OK, q.imported.or(q.undone), blank, None).await
}

/// The sentence a refused import or undo is shown with: what is wrong and what to do.
pub fn say(e: &AppError, form: &ImportForm) -> String {
    let d = &e.details;
    match e.code {
        ErrorCode::TooManyRemovals => format!(
            "This full file would remove {} of the {} {} entries, more than the limit of {}%: a truncated file must not empty the register. Nothing was imported. If the removals are real, tick \"Apply even if it removes many entries\" and import it again.",
            count(d["removed"].as_u64().unwrap_or(0)),
            count(d["entries"].as_u64().unwrap_or(0)),
            d["register"].as_str().unwrap_or("").to_uppercase(),
            d["limit_percent"].as_f64().unwrap_or(0.0)
        ),
        ErrorCode::InvalidDate if form.as_of.is_empty() => {
            "The file's name holds no date (as tps-2026-11-24.txt does): give the date of the file.".into()
        }
        ErrorCode::InvalidDate => "The file's date is not a date: choose a day in the calendar, or leave it empty if the file's name holds it.".into(),
        ErrorCode::MissingFilePart => "Choose the register file to import.".into(),
        ErrorCode::TooManyUploads => format!("Other files are being taken now: nothing was imported. Try again in {} seconds.", e.retry_after.unwrap_or(10)),
        ErrorCode::BodyTooLarge | ErrorCode::PayloadTooLarge => "The file is larger than the upload limit: import it with the command line (suppress import) instead.".into(),
        ErrorCode::UploadTimeout | ErrorCode::BadMultipart | ErrorCode::BadBody | ErrorCode::PartTooLarge | ErrorCode::PartHeadersTooLarge => {
            "The upload could not be read: nothing was imported. Choose the file again and send the form again.".into()
        }
        _ => super::sentence(&e.message),
    }
}

/// The page again with the form as sent and the refusal's sentence and status; a failure of the
/// server is an error page.
async fn refused(state: &AppState, signed: &Signed, form: ImportForm, e: AppError, close: bool) -> Result<HttpResponse, PageError> {
    if matches!(e.code, ErrorCode::Internal | ErrorCode::DatabaseUnavailable) {
        return Err(e.into());
    }
    let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    let sentence = say(&e, &form);
    let mut res = render(state, signed, status, None, form, Some(sentence)).await?;
    if let Some(s) = e.retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        res.headers_mut().insert(header::RETRY_AFTER, s);
    }
    if close {
        res.head_mut().set_connection_type(ConnectionType::Close);
    }
    Ok(res)
}

/// The latest row of a register's import history: the one an import or undo just made.
async fn latest(state: &AppState, register: Register) -> Result<Option<i64>, PageError> {
    let rows = crate::http::call(&state.store, move |conn| imports::history(conn, Some(register), 1)).await?;
    Ok(rows.first().map(|r| r.id))
}

fn outcome_at(param: &str, id: Option<i64>) -> String {
    id.map_or_else(|| "/registers".to_owned(), |id| format!("/registers?{param}={id}"))
}

async fn import(state: web::Data<AppState>, signed: Signed, req: HttpRequest, body: web::Payload) -> Result<HttpResponse, PageError> {
    signed.require(Capability::Import)?;
    let blank = ImportForm { register: "tps".into(), kind: "full".into(), ..ImportForm::default() };
    // A register file is hundreds of MB: it goes to a temporary file as it arrives, as the API's.
    let admitted = match state.uploads.admit(req.headers(), &signed.via()) {
        Ok(a) => a,
        Err(e) => {
            let (e, close) = e.into_parts();
            return refused(&state, &signed, blank, e, close).await;
        }
    };
    let sent = match admitted.file_part_and_fields(req.headers(), body).await {
        Ok(sent) => sent,
        Err(e) => {
            let (e, close) = e.into_parts();
            return refused(&state, &signed, blank, e, close).await;
        }
    };
    if !token_matches(&signed, sent.field("csrf").unwrap_or("")) {
        tracing::warn!(user = %signed.user.name, "a register import without this session's token was refused");
        return Err(PageError::forged());
    }
    let f = |name: &str| sent.field(name).unwrap_or("").trim().to_owned();
    let form = ImportForm { register: f("register"), kind: f("kind"), as_of: f("as_of"), force: !f("force").is_empty() };
    let Ok(register) = form.register.parse::<Register>() else {
        let e = AppError::field(ErrorCode::InvalidKind, "register", "choose the register the file is for: TPS, CTPS or MPS");
        return refused(&state, &signed, form, e, false).await;
    };
    let kind = match form.kind.parse::<Kind>() {
        Ok(k) => k,
        Err(m) => return refused(&state, &signed, form, AppError::field(ErrorCode::InvalidKind, "kind", m), false).await,
    };
    let as_of = if form.as_of.is_empty() {
        match sent.filename.as_deref().and_then(as_of_from_name) {
            Some(d) => d,
            None => {
                let e = AppError::field(
                    ErrorCode::InvalidDate,
                    "as_of",
                    "The file's name holds no date (as tps-2026-11-24.txt does): give the date of the file",
                );
                return refused(&state, &signed, form, e, false).await;
            }
        }
    } else {
        match parse_date(&form.as_of) {
            Ok(d) => d,
            Err(m) => return refused(&state, &signed, form, AppError::field(ErrorCode::InvalidDate, "as_of", m), false).await,
        }
    };
    let request = Request { register, as_of, kind, force: form.force, max_removal_percent: state.settings.max_removal_percent };
    let (store, mail) = (state.store.clone(), state.mail.clone());
    let mut file = sent.file;
    let done = crate::http::blocking(move || {
        file.rewind().map_err(anyhow::Error::from)?;
        imports::import_register(&store, &request, file, |_| {}, &mail)
    })
    .await?;
    drop(admitted);
    if let Err(e) = done {
        return refused(&state, &signed, form, imports::refusal(e), false).await;
    }
    let app = state.app.clone();
    crate::http::blocking(move || imports::serve_now(&app)).await??;
    tracing::info!(user = %signed.user.name, register = %register, as_of = %as_of, "a register file was imported on the page");
    Ok(super::see_other(&outcome_at("imported", latest(&state, register).await?)))
}

#[derive(Deserialize)]
struct UndoForm {
    register: String,
}

async fn undo(state: web::Data<AppState>, posted: Posted<UndoForm>) -> Result<HttpResponse, PageError> {
    let Posted { signed, form } = posted;
    signed.require(Capability::Import)?;
    let blank = ImportForm { register: "tps".into(), kind: "full".into(), ..ImportForm::default() };
    let Ok(register) = form.register.parse::<Register>() else {
        return Err(PageError::not_found("There is no such register: use the buttons on the Registers page."));
    };
    let store = state.store.clone();
    let done = crate::http::blocking(move || imports::undo(&store, register)).await?;
    if let Err(e) = done {
        return refused(&state, &signed, blank, imports::refusal(e), false).await;
    }
    let app = state.app.clone();
    crate::http::blocking(move || imports::serve_now(&app)).await??;
    tracing::info!(user = %signed.user.name, register = %register, "a register import was undone on the page");
    Ok(super::see_other(&outcome_at("undone", latest(&state, register).await?)))
}
