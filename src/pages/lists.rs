//! `/lists` (campaign, admin): upload a list to screen, past lists, a list's result page and its
//! downloads (CONTRACT §5, §10). The upload goes through the API's way in (`Uploads::admit`, the
//! same multipart reader), the same parameters (`ScrubParams`) and the same use case
//! (`scrubs::scrub_and_store`); the downloads through the API's streaming. A refusal is the form
//! again, as it was sent, with a sentence that says what to do.

use std::time::Instant;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::ConnectionType;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;

use super::registers::count;
use super::session::token_matches;
use super::{day, Chrome, PageError, Signed};
use crate::app::params::ScrubParams;
use crate::app::scrubs::{self, Origin};
use crate::app::{AppError, ErrorCode};
use crate::domain::access::Capability;
use crate::domain::time::{now_utc, today_uk};
use crate::domain::{Channel, Reason, Register};
use crate::http::upload::Form;
use crate::http::AppState;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/lists", web::get().to(lists))
        .route("/lists", web::post().to(upload))
        .route("/lists/{id}", web::get().to(result))
        .route("/lists/{id}/{part}", web::get().to(download));
}

/// Past lists a page.
pub const PER_PAGE: u32 = 20;

/// The upload form's fields, as sent (kept when the form is shown again).
#[derive(Debug, Clone)]
pub struct ListForm {
    pub name: String,
    pub channel: String,
    pub contact_date: String,
    pub mode: String,
    pub mail_level: String,
    pub phone_column: String,
    pub email_column: String,
    pub postcode_column: String,
    pub surname_column: String,
    pub address_columns: String,
    pub delimiter: String,
}

impl ListForm {
    /// A blank form: calls, today, strict, named people.
    pub fn new(today: NaiveDate) -> ListForm {
        ListForm {
            name: String::new(),
            channel: "call".into(),
            contact_date: today.to_string(),
            mode: "strict".into(),
            mail_level: "individual".into(),
            phone_column: String::new(),
            email_column: String::new(),
            postcode_column: String::new(),
            surname_column: String::new(),
            address_columns: String::new(),
            delimiter: String::new(),
        }
    }

    /// The fields of an uploaded form (a field left out is empty).
    pub fn sent(form: &Form) -> ListForm {
        let f = |name: &str| form.field(name).unwrap_or("").to_owned();
        ListForm {
            name: f("name"),
            channel: f("channel"),
            contact_date: f("contact_date"),
            mode: f("mode"),
            mail_level: f("mail_level"),
            phone_column: f("phone_column"),
            email_column: f("email_column"),
            postcode_column: f("postcode_column"),
            surname_column: f("surname_column"),
            address_columns: f("address_columns"),
            delimiter: f("delimiter"),
        }
    }

    /// The API's parameters for the same request: a field left empty is a parameter not given.
    /// The delimiter is not trimmed (a tab is one).
    pub fn params(&self) -> ScrubParams {
        let given = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        ScrubParams {
            channel: self.channel.trim().to_owned(),
            contact_date: given(&self.contact_date),
            mode: given(&self.mode),
            name: given(&self.name),
            delimiter: Some(self.delimiter.clone()).filter(|s| !s.is_empty()),
            phone_column: given(&self.phone_column),
            email_column: given(&self.email_column),
            postcode_column: given(&self.postcode_column),
            surname_column: given(&self.surname_column),
            address_columns: given(&self.address_columns),
            mail_level: given(&self.mail_level),
        }
    }
}

/// A choice of a select or a radio group.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    pub checked: bool,
}

fn choices(options: &[(&'static str, &'static str, &'static str)], given: &str) -> Vec<Choice> {
    options.iter().map(|&(value, label, hint)| Choice { value, label, hint, checked: value == given }).collect()
}

const CHANNELS: &[(&str, &str, &str)] =
    &[("call", "Phone calls (TPS and CTPS)", ""), ("sms", "Text messages (SMS)", ""), ("mail", "Post (MPS)", ""), ("email", "Email", "")];

const MODES: &[(&str, &str, &str)] = &[
    ("strict", "Strict", "Remove every number or address on a register, however recently it was listed. The safe choice."),
    (
        "statutory",
        "Statutory",
        "Keep entries listed too recently to bind on the contact date (within the register's lead time: 28 days for TPS and CTPS, 3 months for MPS). Their rows are kept and marked.",
    ),
];

const MAIL_LEVELS: &[(&str, &str, &str)] = &[
    (
        "individual",
        "Named people",
        "Each row is a person, with a surname column: a person's MPS entry or opt-out is matched by name and address.",
    ),
    ("household", "Households", "The list is addressed to households (\"The Occupier\"): every row is judged at household level."),
];

/// A past list, as the table shows it.
pub struct Past {
    pub id: i64,
    pub name: String,
    pub channel: String,
    pub contact_date: String,
    pub screened: String,
    pub by: String,
    pub rows: String,
    pub kept: String,
    pub suppressed: String,
}

#[derive(Template)]
#[template(path = "lists.html")]
struct ListsPage {
    chrome: Chrome,
    form: ListForm,
    today: String,
    channels: Vec<Choice>,
    modes: Vec<Choice>,
    mail_levels: Vec<Choice>,
    /// The columns' details open (a column was named, or a refusal is about columns).
    columns_open: bool,
    error: Option<String>,
    may_scrub: bool,
    past: Vec<Past>,
    page: u32,
    previous: Option<String>,
    next: Option<String>,
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<String>,
}

/// The page number asked for (1 when none or not a number).
fn page_number(q: &PageQuery) -> u32 {
    q.page.as_deref().and_then(|p| p.trim().parse::<u32>().ok()).filter(|&p| p >= 1).unwrap_or(1)
}

fn words_of_channel(c: &str) -> String {
    match c {
        "call" => "phone calls",
        "sms" => "text messages",
        "mail" => "post",
        "email" => "email",
        other => other,
    }
    .to_owned()
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("").to_owned()
}

fn date_of(v: &Value) -> Option<NaiveDate> {
    v.as_str().and_then(|s| s.parse().ok())
}

fn at(t: chrono::NaiveDateTime) -> String {
    format!("{} {} UTC", day(t.date()), t.format("%H:%M"))
}

/// Who screened a list, as people read it: the user's name for the pages, the key's for the API.
fn by(created_by: &str) -> String {
    match created_by.split_once(':') {
        Some(("web", name)) => name.to_owned(),
        Some(("api", key)) => format!("{key} (API)"),
        Some(("cli", user)) => format!("{user} (command line)"),
        _ => created_by.to_owned(),
    }
}

fn title_of(id: i64, name: Option<&str>) -> String {
    name.filter(|n| !n.is_empty()).map_or_else(|| format!("List {id}"), str::to_owned)
}

/// The form page: blank, or as sent with a refusal's sentence, and the past lists.
async fn form_page(
    state: &AppState,
    signed: &Signed,
    status: StatusCode,
    form: ListForm,
    error: Option<String>,
    page: u32,
) -> Result<HttpResponse, PageError> {
    let may_scrub = signed.user.role.may(Capability::Scrub);
    let (rows, more) = if signed.user.role.may(Capability::ReadScrubs) {
        crate::http::call(&state.store, move |conn| scrubs::page(conn, page, PER_PAGE)).await?
    } else {
        (Vec::new(), false)
    };
    let past = rows
        .into_iter()
        .map(|r| Past {
            id: r.id,
            name: title_of(r.id, r.name.as_deref()),
            channel: words_of_channel(r.channel.as_str()),
            contact_date: date_of(&r.summary["contact_date"]).map(day).unwrap_or_default(),
            screened: at(r.created_at),
            by: by(&r.created_by),
            rows: count(r.summary["rows"].as_u64().unwrap_or(0)),
            kept: count(r.summary["kept"].as_u64().unwrap_or(0)),
            suppressed: count(r.summary["suppressed"].as_u64().unwrap_or(0)),
        })
        .collect();
    let columns_open = [&form.phone_column, &form.email_column, &form.postcode_column, &form.surname_column, &form.address_columns]
        .iter()
        .any(|c| !c.trim().is_empty())
        || !form.delimiter.is_empty();
    let t = ListsPage {
        chrome: Chrome::new(state, signed, "/lists"),
        today: today_uk().to_string(),
        channels: choices(CHANNELS, &form.channel),
        modes: choices(MODES, &form.mode),
        mail_levels: choices(MAIL_LEVELS, &form.mail_level),
        columns_open,
        form,
        error,
        may_scrub,
        past,
        page,
        previous: (page > 1).then(|| format!("/lists?page={}", page - 1)),
        next: more.then(|| format!("/lists?page={}", page + 1)),
    };
    Ok(super::page(status, &t))
}

async fn lists(state: web::Data<AppState>, signed: Signed, q: web::Query<PageQuery>) -> Result<HttpResponse, PageError> {
    signed.require(Capability::Scrub)?;
    form_page(&state, &signed, StatusCode::OK, ListForm::new(today_uk()), None, page_number(&q)).await
}

/// Whether an error is about what the person sent or did (the form again, with a sentence), not a
/// failure of the server (an error page).
fn refusal(e: &AppError) -> bool {
    !matches!(e.code, ErrorCode::Internal | ErrorCode::DatabaseUnavailable | ErrorCode::Forbidden | ErrorCode::Unauthorized)
}

/// The form again, as sent, with the refusal's sentence and status.
async fn refused(state: &AppState, signed: &Signed, form: ListForm, e: AppError, close: bool) -> Result<HttpResponse, PageError> {
    if !refusal(&e) {
        return Err(e.into());
    }
    let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    let sentence = say(&e, &form, today_uk());
    let mut res = form_page(state, signed, status, form, Some(sentence), 1).await?;
    if let Some(s) = e.retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        res.headers_mut().insert(header::RETRY_AFTER, s);
    }
    if close {
        res.head_mut().set_connection_type(ConnectionType::Close);
    }
    Ok(res)
}

async fn upload(state: web::Data<AppState>, signed: Signed, req: HttpRequest, body: web::Payload) -> Result<HttpResponse, PageError> {
    signed.require(Capability::Scrub)?;
    // Held until the list is screened, as the API's: at most SUPPRESS_MAX_UPLOADS at once.
    let admitted = match state.uploads.admit(req.headers(), &signed.via()) {
        Ok(a) => a,
        Err(e) => {
            let (e, close) = e.into_parts();
            return refused(&state, &signed, ListForm::new(today_uk()), e, close).await;
        }
    };
    let started = Instant::now();
    let sent = match admitted.file_part_and_fields(req.headers(), body).await {
        Ok(sent) => sent,
        Err(e) => {
            let (e, close) = e.into_parts();
            return refused(&state, &signed, ListForm::new(today_uk()), e, close).await;
        }
    };
    if !token_matches(&signed, sent.field("csrf").unwrap_or("")) {
        tracing::warn!(user = %signed.user.name, "a list upload without this session's token was refused");
        return Err(PageError::forged());
    }
    let form = ListForm::sent(&sent);
    let params = form.params();
    let scrub_req = match params.request() {
        Ok(r) => r,
        Err(e) => return refused(&state, &signed, form, e, false).await,
    };
    let origin = Origin { name: params.name.clone(), created_by: signed.via(), received_in: started.elapsed() };
    let app = state.app.clone();
    let list = sent.file;
    let stored = crate::http::blocking(move || scrubs::scrub_and_store(&app, list, &scrub_req, origin, |store| store)).await?;
    drop(admitted);
    match stored {
        Ok(document) => match document["id"].as_i64() {
            Some(id) => Ok(super::see_other(&format!("/lists/{id}"))),
            None => Err(AppError::internal("a stored scrub's summary has no id").into()),
        },
        Err(e) => refused(&state, &signed, form, e, false).await,
    }
}

/// What the form calls a column parameter.
fn column_label(parameter: &str) -> &'static str {
    match parameter {
        "phone_column" => "Phone column",
        "email_column" => "Email column",
        "postcode_column" => "Postcode column",
        "surname_column" => "Surname column",
        "address_columns" => "Address columns",
        _ => "the column names",
    }
}

/// What a key column holds, in words.
fn column_words(column: &str) -> String {
    match column {
        "phone" => "phone numbers".into(),
        "email" => "email addresses".into(),
        "postcode" => "postcodes".into(),
        "surname" => "surnames".into(),
        "address" => "address lines".into(),
        other => format!("{other:?}"),
    }
}

fn headers_found(details: &Value, key: &str) -> String {
    let found: Vec<String> = details[key].as_array().map(|a| a.iter().map(|h| format!("\"{}\"", text(h))).collect()).unwrap_or_default();
    if found.is_empty() {
        "none".into()
    } else {
        found.join(", ")
    }
}

fn register_named(details: &Value) -> Option<Register> {
    details["register"].as_str().and_then(|r| r.parse().ok())
}

fn mib(bytes: u64) -> String {
    count(bytes.div_ceil(1 << 20))
}

/// The sentence a refused upload is shown with: what is wrong and what to do, from the error's
/// code and details (the form's fields for what the person typed). One place for every refusal
/// of the lists page.
pub fn say(e: &AppError, form: &ListForm, today: NaiveDate) -> String {
    let d = &e.details;
    let channel = words_of_channel(form.channel.trim());
    let later_date = date_of(&d["contact_date"]).is_some_and(|c| c > today);
    match e.code {
        ErrorCode::RegisterStale | ErrorCode::RegisterMissing => {
            let Some(r) = register_named(d) else { return super::sentence(&e.message) };
            let name = r.label();
            let channel = words_of_channel(r.channel().as_str());
            let file = match date_of(&d["as_of_needed"]) {
                Some(n) => format!("{} {name} file dated {} or later", super::a(name), day(n)),
                None => format!("a newer {name} file"),
            };
            let what = match date_of(&d["as_of"]) {
                Some(as_of) if e.code == ErrorCode::RegisterStale => {
                    let old = (today - as_of).num_days();
                    format!("The {name} register is {old} day{} old: import {file}", if old == 1 { "" } else { "s" })
                }
                _ => format!("The {name} register has never been imported: import {} {name} file", super::a(name)),
            };
            if later_date {
                format!("{what}, or choose an earlier contact date.")
            } else {
                format!("{what} before screening lists for {channel}.")
            }
        }
        ErrorCode::MissingColumn => {
            let column = text(&d["column"]);
            let parameter = text(&d["parameter"]);
            let found = headers_found(d, "headers_found");
            let named = match parameter.as_str() {
                "phone_column" => form.phone_column.trim(),
                "email_column" => form.email_column.trim(),
                "postcode_column" => form.postcode_column.trim(),
                "surname_column" => form.surname_column.trim(),
                "address_columns" => form.address_columns.trim(),
                _ => "",
            };
            let label = column_label(&parameter);
            if !named.is_empty() && named.split(',').any(|n| n.trim() == column) {
                format!(
                    "The list has no column named \"{column}\" (given as {label}): the headers found are {found}. Correct the name under \"My columns have other names\", or leave it empty."
                )
            } else if column == "surname" && form.channel.trim() == "mail" {
                format!(
                    "A mail list needs a surname column, so that no person's MPS entry or opt-out is missed: the headers found are {found}. Give its name as {label} under \"My columns have other names\", or choose Households if the list is addressed to households."
                )
            } else {
                format!(
                    "The list has no column of {} for {channel}: the headers found are {found}. Give the column's name as {label} under \"My columns have other names\", or choose the channel the list is for.",
                    column_words(&column)
                )
            }
        }
        ErrorCode::AmbiguousColumn => {
            let column = text(&d["column"]);
            format!(
                "More than one column could hold the {} ({}): the list is never screened on a column guessed. Give the one to screen as {} under \"My columns have other names\".",
                column_words(&column),
                headers_found(d, "headers"),
                column_label(&text(&d["parameter"]))
            )
        }
        ErrorCode::DateInPast => format!(
            "The contact date is before today: choose today ({}) or a later day, the last day the list will be used.",
            date_of(&d["today"]).map_or_else(|| day(today), day)
        ),
        ErrorCode::InvalidDate => "The contact date is not a date: choose a day in the calendar (year-month-day).".into(),
        ErrorCode::InvalidChannel => "Choose the channel the list is for: phone calls, text messages, post or email.".into(),
        ErrorCode::InvalidMode => "Choose Strict or Statutory.".into(),
        ErrorCode::InvalidMailLevel if text(&d["field"]) == "surname_column" => {
            "A surname column was named, but the list is for households, which are judged without surnames: clear the Surname column or choose Named people.".into()
        }
        ErrorCode::InvalidMailLevel => "Choose Named people or Households.".into(),
        ErrorCode::InvalidDelimiter => "The delimiter must be one character: a comma, a semicolon or the word tab; or leave it empty to have it found.".into(),
        ErrorCode::MissingFilePart => "Choose the file of the list to screen.".into(),
        ErrorCode::EmptyList => "The file holds no rows: the list needs a header row and at least one row. Choose the right file.".into(),
        ErrorCode::UnreadableEncoding => {
            "The file's text cannot be read: save it as CSV in UTF-8 (or as Unicode text, UTF-16) and upload it again.".into()
        }
        ErrorCode::UnreadableList => super::sentence(&e.message),
        ErrorCode::TextTooLong | ErrorCode::InvalidText if text(&d["field"]) == "name" => match d["limit"].as_u64() {
            Some(limit) => format!("The list's name is too long: shorten it to {limit} characters or fewer."),
            None => "The list's name holds characters that cannot be kept (control characters): type it again.".into(),
        },
        ErrorCode::BodyTooLarge | ErrorCode::PayloadTooLarge => match d["limit_bytes"].as_u64() {
            Some(limit) => format!("The file is larger than the limit of {} MB: split the list into smaller files and screen each.", mib(limit)),
            None => "The file is too large: split the list into smaller files and screen each.".into(),
        },
        ErrorCode::PartTooLarge | ErrorCode::PartHeadersTooLarge => {
            "The form's fields are too long: shorten the name and column names and send it again.".into()
        }
        ErrorCode::TooManyUploads => format!(
            "Other lists are being screened now: nothing was stored. Send the list again in {} seconds.",
            e.retry_after.unwrap_or(10)
        ),
        ErrorCode::UploadTimeout => "The upload stalled and was stopped: nothing was stored. Check the connection and send the list again.".into(),
        ErrorCode::BadMultipart | ErrorCode::BadBody => {
            "The upload could not be read: nothing was stored. Choose the file again and send the form again.".into()
        }
        _ => super::sentence(&e.message),
    }
}

/// A reason in plain words, and whether its rows are kept.
pub fn reason_words(r: Reason) -> (bool, &'static str) {
    match r {
        Reason::MalformedRow => (false, "The row has the wrong number of fields"),
        Reason::InvalidPhone => (false, "No usable phone number"),
        Reason::InvalidEmail => (false, "No usable email address"),
        Reason::InvalidAddress => (false, "No usable postal address"),
        Reason::Duplicate => (false, "The same contact as an earlier row"),
        Reason::OptedOut => (false, "Opted out with us"),
        Reason::Deceased => (false, "Deceased (MPS)"),
        Reason::Tps => (false, "On the Telephone Preference Service (TPS)"),
        Reason::Ctps => (false, "On the Corporate Telephone Preference Service (CTPS)"),
        Reason::Mps => (false, "On the Mailing Preference Service (MPS)"),
        Reason::RegisterStale => (false, "The register could not vouch for the contact date"),
        Reason::ConsentOverride => (true, "On a register, but has given us consent"),
        Reason::TpsGrace => (true, "Joined TPS too recently to bind on the contact date"),
        Reason::CtpsGrace => (true, "Joined CTPS too recently to bind on the contact date"),
        Reason::MpsGrace => (true, "Joined MPS too recently to bind on the contact date"),
    }
}

/// A line of the counts by reason.
pub struct ReasonLine {
    pub outcome: &'static str,
    pub words: &'static str,
    pub code: &'static str,
    pub rows: String,
}

pub struct RegisterUsed {
    pub name: String,
    pub as_of: String,
    pub entries: String,
    pub sha: String,
    pub sha_full: String,
}

pub struct Link {
    pub id: &'static str,
    pub href: String,
    pub label: &'static str,
    pub hint: &'static str,
}

#[derive(Template)]
#[template(path = "list.html")]
struct ResultPage {
    chrome: Chrome,
    id: i64,
    title: String,
    channel: String,
    contact_date: String,
    mode: String,
    mail_level: Option<String>,
    rows: String,
    kept: String,
    suppressed: String,
    reasons: Vec<ReasonLine>,
    valid_until: String,
    registers: Vec<RegisterUsed>,
    by: String,
    screened: String,
    /// The files' fate: kept until a time, or deleted.
    kept_until: String,
    expired: Option<String>,
    downloads: Vec<Link>,
}

/// The counts by reason, in the order the contract judges them, the kept rows first.
fn reason_lines(by_reason: &Value, kept: u64) -> Vec<ReasonLine> {
    let n = |r: Reason| by_reason[r.as_str()].as_u64().unwrap_or(0);
    let kept_marked: u64 = Reason::ALL.iter().filter(|&&r| reason_words(r).0).map(|&r| n(r)).sum();
    let mut lines = Vec::new();
    if kept > kept_marked {
        lines.push(ReasonLine { outcome: "Kept", words: "Nothing against it", code: "", rows: count(kept - kept_marked) });
    }
    for &(want_kept, outcome) in &[(true, "Kept"), (false, "Removed")] {
        for &r in Reason::ALL {
            let (is_kept, words) = reason_words(r);
            if is_kept == want_kept && n(r) > 0 {
                lines.push(ReasonLine { outcome, words, code: r.as_str(), rows: count(n(r)) });
            }
        }
    }
    lines
}

async fn result(state: web::Data<AppState>, signed: Signed, id: web::Path<String>) -> Result<HttpResponse, PageError> {
    signed.require(Capability::ReadScrubs)?;
    let row = crate::http::call(&state.store, move |conn| scrubs::find(conn, &id)).await.map_err(|e| match e.code {
        ErrorCode::NotFound => PageError::not_found("There is no list at this address. Open it from the Lists page."),
        _ => e.into(),
    })?;
    let s = &row.summary;
    let channel: Option<Channel> = s["channel"].as_str().and_then(|c| c.parse().ok());
    let channel_words = words_of_channel(s["channel"].as_str().unwrap_or(row.channel.as_str()));
    let contact_date = date_of(&s["contact_date"]);
    let valid_until = match date_of(&s["valid_until"]) {
        Some(d) => format!("Safe to use until {}", day(d)),
        None => format!(
            "No register covers {channel_words}: the list was screened against our own opt-outs only; use it by {}",
            contact_date.map(day).unwrap_or_default()
        ),
    };
    let registers = s["registers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    let sha = text(&r["file_sha256"]);
                    RegisterUsed {
                        name: text(&r["name"]).to_uppercase(),
                        as_of: date_of(&r["as_of"]).map(day).unwrap_or_default(),
                        entries: count(r["entries"].as_u64().unwrap_or(0)),
                        sha: sha.chars().take(12).collect(),
                        sha_full: sha,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let expired = now_utc() >= row.results_expire_at;
    let downloads = if expired {
        Vec::new()
    } else {
        let base = format!("/lists/{}", row.id);
        vec![
            Link { id: "download-clean", href: format!("{base}/clean.csv"), label: "Clean list", hint: "The rows you may use: columns and values exactly as uploaded." },
            Link { id: "download-suppressed", href: format!("{base}/suppressed.csv"), label: "Removed rows", hint: "Each removed row with its reason." },
            Link { id: "download-annotated", href: format!("{base}/annotated.csv"), label: "Every row, annotated", hint: "Every row with its outcome, reason and key." },
            Link {
                id: "download-revocations",
                href: format!("{base}/revocations"),
                label: "Rows to drop now",
                hint: "Rows of the clean list that a screening made now would remove (opted out or newly listed since): drop them from a list you already use.",
            },
        ]
    };
    let mode = match s["mode"].as_str() {
        Some("statutory") => "Statutory: entries listed too recently to bind were kept".to_owned(),
        Some("strict") => "Strict: every register entry removed".to_owned(),
        other => other.unwrap_or("").to_owned(),
    };
    let mail_level = (channel == Some(Channel::Mail)).then(|| match s["mail_level"].as_str() {
        Some("household") => "Households: every row judged at household level".to_owned(),
        _ => "Named people".to_owned(),
    });
    let t = ResultPage {
        chrome: Chrome::new(&state, &signed, "/lists"),
        id: row.id,
        title: title_of(row.id, row.name.as_deref()),
        channel: channel_words,
        contact_date: contact_date.map(day).unwrap_or_default(),
        mode,
        mail_level,
        rows: count(s["rows"].as_u64().unwrap_or(0)),
        kept: count(s["kept"].as_u64().unwrap_or(0)),
        suppressed: count(s["suppressed"].as_u64().unwrap_or(0)),
        reasons: reason_lines(&s["by_reason"], s["kept"].as_u64().unwrap_or(0)),
        valid_until,
        registers,
        by: by(&row.created_by),
        screened: at(row.created_at),
        kept_until: at(row.results_expire_at),
        expired: expired.then(|| {
            format!(
                "The files of this list were deleted on {}, as screening results are after {} days; this summary is kept. To download the lists, screen the file again.",
                at(row.results_expire_at),
                state.settings.result_retention.as_secs() / 86_400
            )
        }),
        downloads,
    };
    Ok(super::ok(&t))
}

/// A download's file name in the browser.
fn file_name(id: &str, part: &str) -> String {
    let part = if part == "revocations" { "revocations.csv" } else { part };
    format!("list-{}-{part}", id.chars().filter(char::is_ascii_digit).collect::<String>())
}

async fn download(state: web::Data<AppState>, signed: Signed, path: web::Path<(String, String)>) -> Result<HttpResponse, PageError> {
    signed.require(Capability::ReadScrubs)?;
    let (id, part) = path.into_inner();
    let name = file_name(&id, &part);
    let mut res = crate::http::scrubs::stream_download(&state, id.clone(), part, false).await.map_err(|e| match e.code {
        ErrorCode::ResultsExpired => PageError::Shown {
            status: StatusCode::GONE,
            title: "No longer available",
            sentence: format!(
                "The files of this list were deleted when its results expired; its summary is kept on its page (/lists/{}). To download the lists, screen the file again.",
                id.chars().filter(char::is_ascii_digit).collect::<String>()
            ),
            retry_after: None,
        },
        ErrorCode::NotFound => PageError::not_found("There is no such list or download. Open the list from the Lists page."),
        _ => e.into(),
    })?;
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::time::fixtures::date;

    fn form(f: impl FnOnce(&mut ListForm)) -> ListForm {
        let mut form = ListForm::new(date("2026-12-21"));
        f(&mut form);
        form
    }

    fn err(code: ErrorCode, details: Value) -> AppError {
        AppError::new(code, "a message").details(details)
    }

    #[test]
    fn a_stale_register_says_how_old_it_is_and_what_to_import() {
        let today = date("2026-12-21");
        let stale = |contact| {
            err(
                ErrorCode::RegisterStale,
                json!({"register": "tps", "as_of": "2026-11-20", "as_of_needed": "2026-11-23", "contact_date": contact}),
            )
        };
        assert_eq!(
            say(&stale("2026-12-21"), &form(|_| {}), today),
            "The TPS register is 31 days old: import a TPS file dated 23 Nov 2026 or later before screening lists for phone calls."
        );
        assert_eq!(
            say(&stale("2027-01-05"), &form(|_| {}), today),
            "The TPS register is 31 days old: import a TPS file dated 23 Nov 2026 or later, or choose an earlier contact date."
        );
        let missing =
            err(ErrorCode::RegisterMissing, json!({"register": "mps", "as_of": null, "as_of_needed": null, "contact_date": "2026-12-21"}));
        assert_eq!(
            say(&missing, &form(|f| f.channel = "mail".into()), today),
            "The MPS register has never been imported: import an MPS file before screening lists for post."
        );
    }

    #[test]
    fn column_refusals_name_the_headers_and_the_field_to_fill() {
        let today = date("2026-12-21");
        let missing =
            err(ErrorCode::MissingColumn, json!({"column": "phone", "parameter": "phone_column", "headers_found": ["name", "tel no."]}));
        let s = say(&missing, &form(|_| {}), today);
        assert!(
            s.starts_with("The list has no column of phone numbers for phone calls: the headers found are \"name\", \"tel no.\"."),
            "{s}"
        );
        assert!(s.contains("Phone column"), "{s}");
        let unknown =
            err(ErrorCode::MissingColumn, json!({"column": "Mobile", "parameter": "phone_column", "headers_found": ["name", "tel"]}));
        let s = say(&unknown, &form(|f| f.phone_column = "Mobile".into()), today);
        assert!(s.starts_with("The list has no column named \"Mobile\" (given as Phone column)"), "{s}");
        let surname =
            err(ErrorCode::MissingColumn, json!({"column": "surname", "parameter": "surname_column", "headers_found": ["postcode"]}));
        assert!(say(&surname, &form(|f| f.channel = "mail".into()), today).contains("choose Households"));
        let two =
            err(ErrorCode::AmbiguousColumn, json!({"column": "phone", "parameter": "phone_column", "headers": ["Home Phone", "Mobile"]}));
        assert_eq!(
            say(&two, &form(|_| {}), today),
            "More than one column could hold the phone numbers (\"Home Phone\", \"Mobile\"): the list is never screened on a column guessed. Give the one to screen as Phone column under \"My columns have other names\"."
        );
    }

    #[test]
    fn other_refusals_say_what_to_do() {
        let today = date("2026-12-21");
        let f = form(|_| {});
        assert!(say(&err(ErrorCode::DateInPast, json!({"field": "contact_date", "today": "2026-12-21"})), &f, today)
            .contains("choose today (21 Dec 2026) or a later day"));
        assert!(say(&AppError::new(ErrorCode::TooManyUploads, "x").retry_after(10), &f, today).contains("in 10 seconds"));
        assert!(say(&err(ErrorCode::BodyTooLarge, json!({"limit_bytes": 2u64 << 30})), &f, today).contains("2,048 MB"));
        // Anything else: the use case's message, made a sentence.
        assert_eq!(say(&AppError::new(ErrorCode::UnreadableList, "row 3 is odd"), &f, today), "Row 3 is odd.");
    }

    #[test]
    fn empty_fields_are_parameters_not_given() {
        let p = form(|f| f.contact_date = String::new()).params();
        assert_eq!((p.channel.as_str(), p.contact_date, p.name, p.delimiter), ("call", None, None, None));
        assert_eq!(form(|f| f.delimiter = "\t".into()).params().delimiter.as_deref(), Some("\t"));
    }

    #[test]
    fn counts_by_reason_list_the_kept_first_then_the_removed_in_judging_order() {
        let lines = reason_lines(&json!({"TPS": 2, "OPTED_OUT": 1, "CONSENT_OVERRIDE": 1}), 3);
        let got: Vec<(&str, &str, &str)> = lines.iter().map(|l| (l.outcome, l.code, l.rows.as_str())).collect();
        assert_eq!(got, [("Kept", "", "2"), ("Kept", "CONSENT_OVERRIDE", "1"), ("Removed", "OPTED_OUT", "1"), ("Removed", "TPS", "2")]);
    }
}
