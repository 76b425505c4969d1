//! In-house preferences: `POST /v1/opt-outs`, `POST /v1/consents`, `GET /v1/preferences`.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{Authorized, ReadPreferences, RecordStatements};
use super::error::ApiError;
use super::{AppState, Deferred};
use crate::domain::mask::mask;
use crate::domain::preference::{AddressInput, ContactError, Said, SaidError, TargetError};
use crate::domain::text;
use crate::domain::time::{now_utc, rfc3339};
use crate::domain::{Channel, ContactKind, Contacts, Facts, Listing, Register, Source, StatementKind, Whose};
use crate::inhouse::in_force::Statements;
use crate::scrub::{Key, Knowledge};
use crate::store::statements::{NewStatement, StatementRow};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/opt-outs").route(web::post().to(record_opt_out)))
        .service(super::resource("/v1/consents").route(web::post().to(record_consent)))
        .service(super::resource("/v1/preferences").route(web::get().to(preferences)));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    #[serde(default)]
    pub lines: Vec<String>,
    pub postcode: String,
    pub surname: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementBody {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<AddressBody>,
    pub channels: Option<Vec<String>>,
    pub source: String,
    pub recorded_by: Option<String>,
    pub note: Option<String>,
    pub evidence: Option<String>,
}

fn invalid(code: &'static str, field: &str, message: String) -> ApiError {
    ApiError::unprocessable(code, message).details(json!({ "field": field }))
}

/// Contact points as keys; an address's lines and surname are bounded text first.
fn parse_contacts<S: AsRef<str>>(
    phone: Option<&str>,
    email: Option<&str>,
    address: Option<AddressInput<'_, S>>,
) -> Result<Contacts, ApiError> {
    if let Some(a) = &address {
        text::check_address("address", a.lines, a.surname)?;
    }
    Contacts::parse(phone, email, address).map_err(|e| contact_error(&e))
}

/// The body's contact points, as keys.
fn contacts(body: &StatementBody) -> Result<Contacts, ApiError> {
    let address = body.address.as_ref().map(|a| AddressInput { lines: &a.lines, postcode: &a.postcode, surname: a.surname.as_deref() });
    parse_contacts(body.phone.as_deref(), body.email.as_deref(), address)
}

fn contact_error(e: &ContactError) -> ApiError {
    let code = match e.kind {
        ContactKind::Phone => "invalid_phone",
        ContactKind::Email => "invalid_email",
        ContactKind::Address => "invalid_address",
    };
    invalid(code, e.kind.as_str(), e.message.clone())
}

/// Turn a request into the rows to record, or say what is wrong with it.
fn statements(body: StatementBody, kind: StatementKind, via: &str) -> Result<Vec<NewStatement>, ApiError> {
    let contacts = contacts(&body)?;
    let channels = body
        .channels
        .as_ref()
        .map(|cs| cs.iter().map(|c| c.parse::<Channel>()).collect::<Result<Vec<_>, _>>())
        .transpose()
        .map_err(|e| invalid("invalid_channel", "channels", e))?;
    let source: Source = body.source.parse().map_err(|e| invalid("invalid_source", "source", e))?;
    let said = Said::new(kind, source, now_utc(), body.recorded_by, body.note, body.evidence.as_deref()).map_err(|e| match e {
        SaidError::EvidenceRequired => invalid("evidence_required", "evidence", e.to_string()),
        SaidError::Text(t) => t.into(),
    })?;
    let targets = contacts.targets(channels.as_deref()).map_err(|e| match e {
        TargetError::NoContact => invalid("missing_contact", "phone", e.to_string()),
        TargetError::NoChannels => invalid("no_channels", "channels", e.to_string()),
        TargetError::ChannelNotAllowed(_) => invalid("channel_not_allowed", "channels", e.to_string()),
    })?;
    Ok(NewStatement::for_targets(targets, &said, via))
}

#[derive(Serialize)]
struct RecordedStatement {
    id: i64,
    key: String,
    channel: Channel,
    kind: StatementKind,
    recorded_at: String,
    source: Source,
    recorded_by: Option<String>,
}

async fn record(state: web::Data<AppState>, caller_name: &str, body: StatementBody, kind: StatementKind) -> Result<HttpResponse, ApiError> {
    let rows = statements(body, kind, &format!("api:{caller_name}"))?;
    let stored = state.writer.record(rows).await.map_err(ApiError::internal)?;
    for s in &stored {
        // Masked: logs never hold a contact point in clear.
        tracing::debug!(id = s.id, key = %mask(&s.contact_key), channel = %s.channel, kind = %s.kind, via = %s.recorded_via, "statement recorded");
    }
    let statements: Vec<RecordedStatement> = stored
        .into_iter()
        .map(|s| RecordedStatement {
            id: s.id,
            key: s.contact_key,
            channel: s.channel,
            kind: s.kind,
            recorded_at: rfc3339(s.recorded_at),
            source: s.source,
            recorded_by: s.recorded_by,
        })
        .collect();
    Ok(HttpResponse::Created().json(json!({ "statements": statements })))
}

async fn record_opt_out(
    auth: Authorized<RecordStatements>,
    state: web::Data<AppState>,
    body: Deferred<web::Json<StatementBody>>,
) -> Result<HttpResponse, ApiError> {
    let body = body?;
    record(state, &auth.caller.name, body.into_inner(), StatementKind::OptOut).await
}

async fn record_consent(
    auth: Authorized<RecordStatements>,
    state: web::Data<AppState>,
    body: Deferred<web::Json<StatementBody>>,
) -> Result<HttpResponse, ApiError> {
    let body = body?;
    record(state, &auth.caller.name, body.into_inner(), StatementKind::Consent).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PreferencesQuery {
    phone: Option<String>,
    email: Option<String>,
    postcode: Option<String>,
    premise: Option<String>,
    surname: Option<String>,
}

/// Which contact point a preferences query is about, and which stored keys speak for it.
struct Subject {
    kind: ContactKind,
    key: String,
    /// Keys whose statements decide the state in force (an individual's and their household's).
    deciding: Vec<String>,
    /// For a household, the range of its members' individual keys (shown in the history).
    members: Option<String>,
    /// The contact point as a key (exactly one of its fields), to look up in the read model.
    contact: Contacts,
}

impl Subject {
    /// The key the read model looks up.
    fn lookup(&self) -> Option<Key<'_>> {
        let c = &self.contact;
        c.phone.as_ref().map(Key::Phone).or_else(|| c.email.as_ref().map(Key::Email)).or_else(|| c.address.as_ref().map(Key::Address))
    }
}

fn subject(q: &PreferencesQuery) -> Result<Subject, ApiError> {
    let given = [q.phone.is_some(), q.email.is_some(), q.postcode.is_some() || q.premise.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(ApiError::bad_request(
            "invalid_query",
            "give exactly one of phone=, email=, or postcode= with premise= (and surname=)",
        ));
    }
    let lines: Vec<&str> = q.premise.as_deref().into_iter().collect();
    let address = match (&q.postcode, &q.premise) {
        (Some(postcode), Some(_)) => Some(AddressInput { lines: &lines[..], postcode, surname: q.surname.as_deref() }),
        (None, None) => None,
        _ => return Err(ApiError::bad_request("invalid_query", "an address query needs both postcode= and premise=")),
    };
    let contact = parse_contacts(q.phone.as_deref(), q.email.as_deref(), address)?;
    let single = |kind, key: String, contact| Subject { kind, deciding: vec![key.clone()], key, members: None, contact };
    if let Some(p) = &contact.phone {
        return Ok(single(ContactKind::Phone, p.to_string(), contact));
    }
    if let Some(e) = &contact.email {
        return Ok(single(ContactKind::Email, e.to_string(), contact));
    }
    let key = contact.address.as_ref().ok_or_else(|| ApiError::bad_request("invalid_query", "no contact point given"))?;
    let household = key.household().to_string();
    Ok(if key.is_individual() {
        Subject { kind: ContactKind::Address, key: key.to_string(), deciding: vec![key.to_string(), household], members: None, contact }
    } else {
        Subject { kind: ContactKind::Address, key: household.clone(), deciding: vec![household.clone()], members: Some(household), contact }
    })
}

/// A contact point's entry on one register, from the snapshot's date (`None`: never imported)
/// and the key's listing on it: `as_of` null when the register was never imported;
/// `listed_since` null (with `listed` true) when listed since before its first import.
fn register_entry(r: Register, as_of: Option<NaiveDate>, listing: Option<&Listing>) -> serde_json::Value {
    let Some(as_of) = as_of else {
        return json!({ "name": r, "as_of": null, "listed": null, "listed_since": null, "binding_from": null });
    };
    let mut entry = json!({
        "name": r,
        "as_of": as_of,
        "listed": listing.is_some(),
        "listed_since": listing.and_then(|l| l.listed_since),
        "binding_from": listing.and_then(|l| l.binding_from),
    });
    if r == Register::Mps {
        entry["deceased"] = json!(listing.is_some_and(|l| l.deceased));
    }
    entry
}

#[derive(Serialize)]
struct HistoryEntry {
    id: i64,
    key: String,
    channel: Channel,
    kind: StatementKind,
    recorded_at: String,
    source: Source,
    recorded_by: Option<String>,
    recorded_via: String,
    note: Option<String>,
    evidence: Option<String>,
}

impl From<&StatementRow> for HistoryEntry {
    fn from(s: &StatementRow) -> Self {
        HistoryEntry {
            id: s.id,
            key: s.contact_key.clone(),
            channel: s.channel,
            kind: s.kind,
            recorded_at: rfc3339(s.recorded_at),
            source: s.source,
            recorded_by: s.recorded_by.clone(),
            recorded_via: s.recorded_via.clone(),
            note: s.note.clone(),
            evidence: s.evidence.clone(),
        }
    }
}

async fn preferences(
    _auth: Authorized<ReadPreferences>,
    state: web::Data<AppState>,
    query: Deferred<web::Query<PreferencesQuery>>,
) -> Result<HttpResponse, ApiError> {
    let query = query?;
    let subject = subject(&query)?;
    let (deciding, members, index) = (subject.deciding.clone(), subject.members.clone(), state.in_house.clone());
    let (history, statements) = super::read(&state.store, move |conn| -> anyhow::Result<(Vec<StatementRow>, Statements)> {
        let mut rows = crate::store::statements::history(conn, &deciding)?;
        if let Some(household) = members {
            rows.extend(crate::store::statements::household_members(conn, &household)?);
            rows.sort_by_key(|r| (r.recorded_at, r.id));
        }
        // The statements in force, caught up after the history was read: each statement the
        // history shows is weighed.
        Ok((rows, index.current(conn)?))
    })
    .await?;
    let key = subject.lookup().ok_or_else(|| ApiError::internal("a preferences query without a contact point"))?;

    // What is known on each of the contact point's channels (the read model).
    let view = state.registers.view();
    let facts: Vec<(Channel, Facts)> = subject
        .kind
        .channels()
        .iter()
        .map(|&c| (c, Knowledge { in_house: statements.on(c), registers: view.clone() }.facts(key, &subject.key)))
        .collect();
    let channels: BTreeMap<&str, serde_json::Value> = facts
        .iter()
        .map(|(c, f)| {
            let state = match f.in_house {
                Some(s) => json!({
                    "state": if s.kind == StatementKind::OptOut { "opted_out" } else { "consented" },
                    "statement_id": s.id,
                    "since": rfc3339(s.recorded_at),
                    "key": match (s.whose, key) {
                        (Whose::Household, Key::Address(a)) => a.household().to_string(),
                        _ => subject.key.clone(),
                    },
                }),
                None => json!({ "state": "none" }),
            };
            (c.as_str(), state)
        })
        .collect();
    let registers: Vec<serde_json::Value> = facts
        .iter()
        .flat_map(|(c, f)| c.registers().iter().map(|&r| register_entry(r, view.head(r).map(|h| h.as_of), f.listings.on(r))))
        .collect();
    let history: Vec<HistoryEntry> = history.iter().map(HistoryEntry::from).collect();
    Ok(HttpResponse::Ok().json(json!({
        "contact": subject.kind,
        "key": subject.key,
        "channels": channels,
        "registers": registers,
        "history": history,
    })))
}
