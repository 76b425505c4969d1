//! `/people`, the customer look-up (CONTRACT §10): one search box, the state in force on each
//! channel in plain words, the register listings and the full history; and, for those who may
//! record, an opt-out or a consent with the sentence to read to the customer.
//!
//! The search is read by `app::preferences::search` and answered by `app::preferences::lookup`,
//! the use case behind `GET /v1/preferences`; statements are recorded by `app::statements::record`,
//! the use case behind `POST /v1/opt-outs` and `/v1/consents`: a page and the API cannot disagree.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Europe::London;
use serde::Deserialize;

use super::session::{Posted, Signed};
use super::{day, Chrome, PageError};
use crate::app::preferences::{self, Preferences, PreferencesParams, RegisterEntry, Subject};
use crate::app::statements;
use crate::domain::access::Capability;
use crate::domain::phone::PhoneKey;
use crate::domain::time::today_uk;
use crate::domain::{Channel, ContactKind, Source, StatementKind, Whose};
use crate::http::AppState;
use crate::store::statements::StatementRow;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/people", web::get().to(look_up))
        .route("/people/opt-out", web::post().to(record_opt_out))
        .route("/people/consent", web::post().to(record_consent));
}

/// The most statement ids a page's `recorded=` names (one statement is a row per channel).
const MAX_RECORDED: usize = 8;

#[derive(Deserialize)]
struct LookUp {
    #[serde(default)]
    q: String,
    /// The statements just recorded (`12,13`), whose sentence to read is shown.
    #[serde(default)]
    recorded: String,
}

/// An opt-out or consent form. Fields a form does not know (`recorded_by`, say) are ignored: the
/// signed-in person is who recorded it (CONTRACT §7).
#[derive(Deserialize)]
struct RecordForm {
    /// The search box's text, read again as the look-up read it.
    #[serde(default)]
    q: String,
    /// `all` (every channel the contact point allows) or one channel.
    #[serde(default)]
    channels: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    evidence: String,
}

/// One option of a select or radio group.
pub struct Choice {
    pub value: &'static str,
    pub label: String,
    pub selected: bool,
}

/// A record form's values as shown (the person's input kept after a refusal) and its refusal.
pub struct FormState {
    pub channels: Vec<Choice>,
    pub sources: Vec<Choice>,
    pub note: String,
    pub evidence: String,
    pub error: Option<String>,
}

/// The state in force on one channel, in words.
pub struct StateLine {
    pub channel: &'static str,
    /// "No marketing calls", "Marketing calls allowed", "No statement".
    pub headline: String,
    /// `state-no`, `state-yes` or `muted`: colour beside the words, never instead of them.
    pub class: &'static str,
    pub detail: String,
}

pub struct RegisterLine {
    pub name: String,
    pub channel: &'static str,
    /// "Listed", "Not listed", "Never imported", "Listed as deceased".
    pub listed: String,
    pub class: &'static str,
    pub listed_since: String,
    pub binding: String,
    pub as_of: String,
}

pub struct HistoryLine {
    pub when: String,
    pub key: String,
    pub channel: String,
    pub kind: &'static str,
    pub class: &'static str,
    pub source: &'static str,
    pub by: String,
    pub via: String,
    pub note: String,
    pub evidence: String,
}

/// What the look-up found.
pub struct Found {
    /// The contact point as people read it: `020 7946 0018`, `a@b.com`, `12, SW1A 1AA`.
    pub title: String,
    /// What it is: "Phone number", "Email address", "Household at this address", ….
    pub what: String,
    pub key: String,
    pub states: Vec<StateLine>,
    pub registers: Vec<RegisterLine>,
    pub history: Vec<HistoryLine>,
    /// Whether the history names each statement's key (an address's person and household keys).
    pub show_keys: bool,
    /// The one channel a contact point of this kind allows, in words, when there is no choice.
    pub only_channel: Option<String>,
}

#[derive(Template)]
#[template(path = "people.html")]
struct PeoplePage {
    chrome: Chrome,
    q: String,
    search_error: Option<String>,
    say: Option<String>,
    found: Option<Found>,
    may_record: bool,
    opt_out: FormState,
    consent: FormState,
}

/// What a channel is called in a sentence.
fn noun(c: Channel) -> &'static str {
    match c {
        Channel::Call => "calls",
        Channel::Sms => "texts",
        Channel::Email => "emails",
        Channel::Mail => "post",
    }
}

/// "marketing calls and texts".
fn marketing(channels: &[Channel]) -> String {
    let nouns: Vec<&str> = channels.iter().map(|&c| noun(c)).collect();
    let list = match nouns.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    format!("marketing {list}")
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

fn source_words(s: Source) -> &'static str {
    match s {
        Source::CallCentre => "Call centre",
        Source::Web => "Web",
        Source::Letter => "Letter",
        Source::Email => "Email",
        Source::Sms => "Text message",
        Source::BulkLoad => "Bulk load",
    }
}

/// A stored UTC time as the UK reads it.
fn uk_time(t: NaiveDateTime) -> String {
    London.from_utc_datetime(&t).format("%-d %b %Y %H:%M").to_string()
}

fn uk_day(t: NaiveDateTime) -> String {
    day(London.from_utc_datetime(&t).date_naive())
}

/// Who recorded a statement, as people read it.
fn who(r: &StatementRow) -> String {
    r.recorded_by.clone().unwrap_or_else(|| r.recorded_via.clone())
}

/// An address key (`POSTCODE|PREMISE[|SURNAME]`) as people read it.
fn address_words(key: &str) -> (String, Option<String>) {
    let mut parts = key.split('|');
    let (postcode, premise, surname) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
    (format!("{premise}, {postcode}"), surname.map(capital_name))
}

fn capital_name(s: &str) -> String {
    capital(&s.to_lowercase())
}

/// The contact point as people read it, and what it is.
fn title(p: &Preferences) -> (String, String) {
    match p.contact {
        ContactKind::Phone => (PhoneKey::from_stored(&p.key).map(|k| k.readable()).unwrap_or_else(|| p.key.clone()), "Phone number".into()),
        ContactKind::Email => (p.key.clone(), "Email address".into()),
        ContactKind::Address => {
            let (place, surname) = address_words(&p.key);
            let what = match surname {
                Some(s) => format!("{s} at this address (their household's statements count too)"),
                None => "The household at this address (everyone who lives there)".into(),
            };
            (place, what)
        }
    }
}

fn state_line(p: &Preferences, c: &preferences::ChannelState) -> StateLine {
    let what = marketing(&[c.channel]);
    let Some(s) = &c.in_force else {
        let registers = c.channel.registers();
        let detail = if registers.is_empty() {
            format!("no opt-out or consent is recorded for {}", noun(c.channel))
        } else {
            let names: Vec<String> = registers.iter().map(|r| r.as_str().to_uppercase()).collect();
            format!("{} follow the registers ({})", noun(c.channel), names.join(", "))
        };
        return StateLine { channel: c.channel.as_str(), headline: "No statement".into(), class: "muted", detail };
    };
    let by = p.statement(s.id).map(|r| format!(" by {}", who(r))).unwrap_or_default();
    let household = if s.whose == Whose::Household { ", for the whole household" } else { "" };
    let on = uk_day(s.recorded_at);
    match s.kind {
        StatementKind::OptOut => StateLine {
            channel: c.channel.as_str(),
            headline: format!("No {what}"),
            class: "state-no",
            detail: format!("opted out on {on}{by}{household}"),
        },
        StatementKind::Consent => StateLine {
            channel: c.channel.as_str(),
            headline: format!("{} allowed", capital(&what)),
            class: "state-yes",
            detail: format!("consent given on {on}{by}{household}"),
        },
    }
}

fn register_line(e: &RegisterEntry, today: NaiveDate) -> RegisterLine {
    let name = e.register.as_str().to_uppercase();
    let channel = e.channel.as_str();
    let Some(as_of) = e.as_of else {
        return RegisterLine {
            name,
            channel,
            listed: "Never imported".into(),
            class: "state-no",
            listed_since: "—".into(),
            binding: format!("{} cannot be checked until it is imported", noun(e.channel)),
            as_of: "—".into(),
        };
    };
    let Some(l) = &e.listing else {
        return RegisterLine {
            name,
            channel,
            listed: "Not listed".into(),
            class: "state-yes",
            listed_since: "—".into(),
            binding: "—".into(),
            as_of: day(as_of),
        };
    };
    let binding = match l.binding_from {
        None => "binding now (listed before the first import)".to_owned(),
        Some(b) if b <= today => format!("binding since {}", day(b)),
        Some(b) => format!("binding from {}", day(b)),
    };
    RegisterLine {
        name,
        channel,
        listed: if l.deceased { "Listed as deceased".into() } else { "Listed".into() },
        class: "state-no",
        listed_since: l.listed_since.map(day).unwrap_or_else(|| "before the first import".into()),
        binding,
        as_of: day(as_of),
    }
}

fn history_line(r: &StatementRow) -> HistoryLine {
    let (kind, class) = match r.kind {
        StatementKind::OptOut => ("Opt-out", "state-no"),
        StatementKind::Consent => ("Consent", "state-yes"),
    };
    HistoryLine {
        when: uk_time(r.recorded_at),
        key: r.contact_key.clone(),
        channel: capital(noun(r.channel)),
        kind,
        class,
        source: source_words(r.source),
        by: r.recorded_by.clone().unwrap_or_else(|| "—".into()),
        via: r.recorded_via.clone(),
        note: r.note.clone().unwrap_or_default(),
        evidence: r.evidence.clone().unwrap_or_default(),
    }
}

/// What is held about a contact point, as the people and compliance pages show it.
pub(super) fn found(p: &Preferences) -> Found {
    let (title, what) = title(p);
    let today = today_uk();
    let only = p.contact.channels();
    Found {
        title,
        what,
        key: p.key.clone(),
        states: p.channels.iter().map(|c| state_line(p, c)).collect(),
        registers: p.registers.iter().map(|e| register_line(e, today)).collect(),
        history: p.history.iter().rev().map(history_line).collect(),
        show_keys: p.contact == ContactKind::Address,
        only_channel: (only.len() == 1).then(|| marketing(only)),
    }
}

/// The sentence to read to the customer about statements this person (`via`) just recorded: found
/// in the history by their ids, so the page says only what was recorded.
fn to_read(p: &Preferences, title: &str, ids: &[i64], via: &str) -> Option<String> {
    let rows: Vec<&StatementRow> = p.history.iter().filter(|r| ids.contains(&r.id) && r.recorded_via == via).collect();
    let first = rows.first()?;
    let mut channels: Vec<Channel> = Vec::new();
    for c in p.contact.channels() {
        if rows.iter().any(|r| r.channel == *c) {
            channels.push(*c);
        }
    }
    let what = marketing(&channels);
    let at = if p.contact == ContactKind::Phone { "on" } else { "at" };
    Some(match first.kind {
        StatementKind::OptOut => format!("We have stopped {what} to {title} from now."),
        StatementKind::Consent => format!("We have recorded your consent to {what} {at} {title}."),
    })
}

fn form_state(kind: ContactKind, form: Option<&RecordForm>, error: Option<String>) -> FormState {
    let chosen = form.map(|f| f.channels.as_str()).filter(|c| !c.is_empty()).unwrap_or("all");
    let allowed = kind.channels();
    let mut channels = vec![Choice { value: "all", label: capital(&marketing(allowed)), selected: chosen == "all" }];
    if allowed.len() > 1 {
        channels.extend(allowed.iter().map(|&c| Choice {
            value: c.as_str(),
            label: format!("{} only", capital(&marketing(&[c]))),
            selected: chosen == c.as_str(),
        }));
    }
    let source = form.map(|f| f.source.as_str()).filter(|s| !s.is_empty()).unwrap_or(Source::CallCentre.as_str());
    let sources = [Source::CallCentre, Source::Web, Source::Letter, Source::Email, Source::Sms]
        .into_iter()
        .map(|s| Choice { value: s.as_str(), label: source_words(s).into(), selected: s.as_str() == source })
        .collect();
    FormState {
        channels,
        sources,
        note: form.map(|f| f.note.clone()).unwrap_or_default(),
        evidence: form.map(|f| f.evidence.clone()).unwrap_or_default(),
        error,
    }
}

/// What was posted, and how it was refused, to show again.
struct Posting<'a> {
    kind: StatementKind,
    form: &'a RecordForm,
    error: String,
}

/// Look the search up and render the page (422 with the sentence when the search or the posted
/// form is refused).
async fn render(
    state: &web::Data<AppState>,
    signed: &Signed,
    q: &str,
    recorded: &[i64],
    posting: Option<Posting<'_>>,
) -> Result<HttpResponse, PageError> {
    let may_record = signed.user.role.may(Capability::RecordStatements);
    let chrome = Chrome::new(state, signed, "/people");
    let mut page = PeoplePage {
        chrome,
        q: q.to_owned(),
        search_error: None,
        say: None,
        found: None,
        may_record,
        opt_out: form_state(ContactKind::Phone, None, None),
        consent: form_state(ContactKind::Phone, None, None),
    };
    let status = if q.trim().is_empty() {
        StatusCode::OK
    } else {
        match preferences::search(q).and_then(|p| Subject::parse(&p)) {
            Err(e) => {
                let (status, sentence) = super::refusal(e)?;
                page.search_error = Some(sentence);
                status
            }
            Ok(subject) => {
                let app = state.app.clone();
                let p = crate::http::call(&state.store, move |conn| preferences::lookup(&app, conn, &subject)).await?;
                let found = found(&p);
                page.say = if recorded.is_empty() { None } else { to_read(&p, &found.title, recorded, &signed.via()) };
                let (mut status, mut opt_out_error, mut consent_error) = (StatusCode::OK, None, None);
                let (mut opt_out_form, mut consent_form) = (None, None);
                if let Some(posted) = posting {
                    status = StatusCode::UNPROCESSABLE_ENTITY;
                    match posted.kind {
                        StatementKind::OptOut => (opt_out_error, opt_out_form) = (Some(posted.error), Some(posted.form)),
                        StatementKind::Consent => (consent_error, consent_form) = (Some(posted.error), Some(posted.form)),
                    }
                }
                page.opt_out = form_state(p.contact, opt_out_form, opt_out_error);
                page.consent = form_state(p.contact, consent_form, consent_error);
                page.found = Some(found);
                status
            }
        }
    };
    Ok(super::page(status, &page))
}

async fn look_up(state: web::Data<AppState>, signed: Signed, query: web::Query<LookUp>) -> Result<HttpResponse, PageError> {
    signed.require(Capability::ReadPreferences)?;
    let recorded: Vec<i64> = query.recorded.split(',').filter_map(|s| s.trim().parse().ok()).take(MAX_RECORDED).collect();
    render(&state, &signed, &query.q, &recorded, None).await
}

async fn record_opt_out(state: web::Data<AppState>, posted: Posted<RecordForm>) -> Result<HttpResponse, PageError> {
    record(state, posted, StatementKind::OptOut).await
}

async fn record_consent(state: web::Data<AppState>, posted: Posted<RecordForm>) -> Result<HttpResponse, PageError> {
    record(state, posted, StatementKind::Consent).await
}

fn some_text(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.to_owned())
}

async fn record(state: web::Data<AppState>, posted: Posted<RecordForm>, kind: StatementKind) -> Result<HttpResponse, PageError> {
    let Posted { signed, form } = posted;
    signed.require(Capability::RecordStatements)?;
    let q = form.q.trim().to_owned();
    let searched = match preferences::search(&q) {
        Ok(p) => p,
        // The search box's text no longer reads: the page shows why, as the look-up does.
        Err(e) => {
            super::refusal(e)?;
            return render(&state, &signed, &q, &[], None).await;
        }
    };
    let params = statement(searched, &form, signed.user.name.clone());
    let (status, sentence) = match statements::record(&state.app, params, kind, &signed.via()).await {
        Ok(recorded) => {
            let ids: Vec<String> = recorded.iter().map(|r| r.id.to_string()).collect();
            let to = format!(
                "/people?{}",
                url::form_urlencoded::Serializer::new(String::new()).append_pair("q", &q).append_pair("recorded", &ids.join(",")).finish()
            );
            return Ok(super::see_other(&to));
        }
        Err(e) => super::refusal(e)?,
    };
    let mut res = render(&state, &signed, &q, &[], Some(Posting { kind, form: &form, error: sentence })).await?;
    *res.status_mut() = status;
    Ok(res)
}

/// The statement the form asks for; `recorded_by` is the signed-in person, whatever was posted.
fn statement(searched: PreferencesParams, form: &RecordForm, recorded_by: String) -> statements::StatementParams {
    let channels = match form.channels.trim() {
        "" | "all" => None,
        one => Some(vec![one.to_owned()]),
    };
    let source = if form.source.trim().is_empty() { Source::CallCentre.as_str().to_owned() } else { form.source.clone() };
    searched.statement(channels, source, Some(recorded_by), some_text(&form.note), some_text(&form.evidence))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_named_as_people_say_them() {
        assert_eq!(marketing(&[Channel::Call, Channel::Sms]), "marketing calls and texts");
        assert_eq!(marketing(&[Channel::Email]), "marketing emails");
        assert_eq!(address_words("SW1A 1AA|2/10|JONES"), ("2/10, SW1A 1AA".to_owned(), Some("Jones".to_owned())));
        assert_eq!(address_words("SW1A 1AA|ROSE COTTAGE").1, None);
    }
}
