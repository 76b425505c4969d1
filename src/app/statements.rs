//! Record what a person said: an opt-out or a consent, about one contact point, on some channels
//! (CONTRACT §6). The request is checked whole before anything is written; the rows of one
//! statement are committed together by the statement writer.

use serde::{Deserialize, Serialize};

use super::error::{AppError, ErrorCode};
use super::App;
use crate::domain::mask::mask;
use crate::domain::preference::{AddressInput, ContactError, Said, SaidError, TargetError};
use crate::domain::text;
use crate::domain::time::{now_utc, rfc3339};
use crate::domain::{Channel, ContactKind, Contacts, Source, StatementKind};
use crate::store::statements::NewStatement;

/// A postal address as given.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressParams {
    #[serde(default)]
    pub lines: Vec<String>,
    pub postcode: String,
    pub surname: Option<String>,
}

/// A statement as given (`POST /v1/opt-outs` and `/v1/consents`' body).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementParams {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<AddressParams>,
    pub channels: Option<Vec<String>>,
    pub source: String,
    pub recorded_by: Option<String>,
    pub note: Option<String>,
    pub evidence: Option<String>,
}

/// A statement as recorded, one per (key, channel).
#[derive(Debug, Serialize)]
pub struct Recorded {
    pub id: i64,
    pub key: String,
    pub channel: String,
    pub kind: String,
    pub recorded_at: String,
    pub source: String,
    pub recorded_by: Option<String>,
}

/// Contact points as keys; an address's lines and surname are bounded text first.
pub fn parse_contacts<S: AsRef<str>>(
    phone: Option<&str>,
    email: Option<&str>,
    address: Option<AddressInput<'_, S>>,
) -> Result<Contacts, AppError> {
    if let Some(a) = &address {
        text::check_address("address", a.lines, a.surname)?;
    }
    Contacts::parse(phone, email, address).map_err(|e| contact_error(&e))
}

fn contact_error(e: &ContactError) -> AppError {
    let code = match e.kind {
        ContactKind::Phone => ErrorCode::InvalidPhone,
        ContactKind::Email => ErrorCode::InvalidEmail,
        ContactKind::Address => ErrorCode::InvalidAddress,
    };
    AppError::field(code, e.kind.as_str(), &e.message)
}

/// Turn a request into the rows to record, or say what is wrong with it.
pub fn rows(params: StatementParams, kind: StatementKind, via: &str) -> Result<Vec<NewStatement>, AppError> {
    let address = params.address.as_ref().map(|a| AddressInput { lines: &a.lines, postcode: &a.postcode, surname: a.surname.as_deref() });
    let contacts = parse_contacts(params.phone.as_deref(), params.email.as_deref(), address)?;
    let channels = params
        .channels
        .as_ref()
        .map(|cs| cs.iter().map(|c| c.parse::<Channel>()).collect::<Result<Vec<_>, _>>())
        .transpose()
        .map_err(|e| AppError::field(ErrorCode::InvalidChannel, "channels", e))?;
    let source: Source = params.source.parse().map_err(|e: String| AppError::field(ErrorCode::InvalidSource, "source", e))?;
    let said = Said::new(kind, source, now_utc(), params.recorded_by, params.note, params.evidence.as_deref()).map_err(|e| match e {
        SaidError::EvidenceRequired => AppError::field(ErrorCode::EvidenceRequired, "evidence", e),
        SaidError::Text(t) => t.into(),
    })?;
    let targets = contacts.targets(channels.as_deref()).map_err(|e| match e {
        TargetError::NoContact => AppError::field(ErrorCode::MissingContact, "phone", e),
        TargetError::NoChannels => AppError::field(ErrorCode::NoChannels, "channels", e),
        TargetError::ChannelNotAllowed(_) => AppError::field(ErrorCode::ChannelNotAllowed, "channels", e),
    })?;
    Ok(NewStatement::for_targets(targets, &said, via))
}

/// Record a statement of `kind`, made through `via` (`api:NAME`, …); answered once committed.
/// An opt-out naming an email address is confirmed to it when confirmations are on: the message
/// is committed with the statement and sent later by the outbox worker, so the answer never
/// waits for, nor depends on, the mail.
pub async fn record(app: &App, params: StatementParams, kind: StatementKind, via: &str) -> Result<Vec<Recorded>, AppError> {
    let rows = rows(params, kind, via)?;
    let confirmation = app.mail.confirmation(&rows, |email| app.unsubscribe_url(email));
    // One confirmation an address a day: none if its email opt-out was recorded earlier today
    // (a repeated opt-out, a one-click link used again, cannot flood the person).
    let once_today = confirmation.as_ref().map(|_| crate::domain::time::uk_day_start(crate::domain::time::today_uk()));
    let stored = app.writer.record(rows, confirmation.into_iter().collect(), once_today).await.map_err(AppError::internal)?;
    for s in &stored {
        // Masked: logs never hold a contact point in clear.
        tracing::debug!(id = s.id, key = %mask(&s.contact_key), channel = %s.channel, kind = %s.kind, via = %s.recorded_via, "statement recorded");
    }
    Ok(stored
        .into_iter()
        .map(|s| Recorded {
            id: s.id,
            channel: s.channel.to_string(),
            kind: s.kind.to_string(),
            recorded_at: rfc3339(s.recorded_at),
            source: s.source.to_string(),
            key: s.contact_key,
            recorded_by: s.recorded_by,
        })
        .collect())
}
