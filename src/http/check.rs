//! `GET /v1/check` and `POST /v1/check`: may this number be called (or texted) on this date?
//! Answered through the scrubbing engine, as a one-row scrub.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{Authorized, Check};
use super::error::ApiError;
use super::{AppState, Deferred};
use crate::domain::time::{parse_date, today_uk};
use crate::domain::{Channel, ContactKind, PhoneKey, Reason, StatementKind};
use crate::registers::View;
use crate::scrub::{judge, Facts, Mode, Verdict};
use crate::store::DbConnection;
use rayon::prelude::*;

/// Numbers one `POST /v1/check` may ask about.
pub const MAX_BATCH: usize = 10_000;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/check").route(web::get().to(check_one)).route(web::post().to(check_many)));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckQuery {
    phone: String,
    channel: String,
    date: Option<String>,
    mode: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckBody {
    channel: String,
    date: Option<String>,
    mode: Option<String>,
    phones: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Answer {
    key: Option<String>,
    channel: Channel,
    allowed: bool,
    reason: Option<Reason>,
    binding_from: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// The answer to `POST /v1/check`, serialized as it stands (no JSON tree built first).
#[derive(Debug, Serialize)]
struct Answers {
    channel: Channel,
    date: NaiveDate,
    results: Vec<Answer>,
}

/// The parameters every check shares, validated.
#[derive(Debug, Clone)]
struct Question {
    channel: Channel,
    date: NaiveDate,
    mode: Mode,
}

fn question(channel: &str, date: Option<&str>, mode: Option<&str>) -> Result<Question, ApiError> {
    let channel: Channel =
        channel.parse().map_err(|e: String| ApiError::unprocessable("invalid_channel", e).details(json!({"field": "channel"})))?;
    if channel.contact_kind() != ContactKind::Phone {
        return Err(ApiError::unprocessable(
            "invalid_channel",
            format!("a check is about a phone number: channel must be call or sms, not {channel}"),
        )
        .details(json!({"field": "channel"})));
    }
    let date = date
        .map(parse_date)
        .transpose()
        .map_err(|e| ApiError::unprocessable("invalid_date", e).details(json!({"field": "date"})))?
        .unwrap_or_else(today_uk);
    let mode = mode
        .map(str::parse)
        .transpose()
        .map_err(|e: String| ApiError::unprocessable("invalid_mode", e).details(json!({"field": "mode"})))?
        .unwrap_or_default();
    Ok(Question { channel, date, mode })
}

/// Answer for many numbers in order. One number is a point read; a batch is split across the
/// cores, each part with one database read for its numbers.
async fn answer(state: &web::Data<AppState>, q: &Question, phones: Vec<String>) -> Result<Vec<Answer>, ApiError> {
    // One view of the registers for the whole request: a batch is answered against one state even
    // if an import lands meanwhile.
    let registers = state.registers.view();
    let q = q.clone();
    if phones.len() == 1 {
        return super::read(&state.store, move |conn| answer_part(conn, &q, &registers, &phones)).await;
    }
    let store = state.store.clone();
    Ok(web::block(move || -> anyhow::Result<Vec<Answer>> {
        let part = phones.len().div_ceil(rayon::current_num_threads()).max(1_000);
        let parts: Vec<Vec<Answer>> = phones
            .par_chunks(part)
            .map(|phones| answer_part(&mut *store.conn()?, &q, &registers, phones))
            .collect::<anyhow::Result<_>>()?;
        Ok(parts.into_iter().flatten().collect())
    })
    .await??)
}

/// Answers for some numbers, in order, with one database read for them all.
fn answer_part(conn: &mut DbConnection, q: &Question, registers: &View, phones: &[String]) -> anyhow::Result<Vec<Answer>> {
    let keys: Vec<Result<PhoneKey, String>> = phones.iter().map(|p| PhoneKey::parse(p).map_err(|e| e.to_string())).collect();
    let coverage = registers.coverage(q.channel, q.date);
    let in_house: HashMap<String, String> = match coverage {
        Ok(()) => {
            let mut wanted: Vec<&str> = keys.iter().filter_map(|k| k.as_ref().ok()).map(PhoneKey::as_str).collect();
            wanted.sort_unstable();
            wanted.dedup();
            crate::store::statements::kinds_in_force(conn, &wanted, q.channel.as_str())?
        }
        Err(_) => HashMap::new(),
    };
    Ok(keys
        .into_iter()
        .map(|k| match k {
            Err(e) => Answer {
                key: None,
                channel: q.channel,
                allowed: false,
                reason: Some(Reason::InvalidPhone),
                binding_from: None,
                detail: Some(e),
            },
            Ok(key) => match &coverage {
                Err(nc) => Answer {
                    key: Some(key.to_string()),
                    channel: q.channel,
                    allowed: false,
                    reason: Some(Reason::RegisterStale),
                    binding_from: None,
                    detail: Some(nc.explain()),
                },
                Ok(()) => {
                    let facts = Facts {
                        in_house: in_house.get(key.as_str()).and_then(|k| k.parse::<StatementKind>().ok()),
                        listings: if q.channel == Channel::Call { registers.phone_listings(&key) } else { Vec::new() },
                    };
                    let Verdict { allowed, reason, binding_from } = judge(q.channel, &facts, q.mode, q.date);
                    Answer { key: Some(key.to_string()), channel: q.channel, allowed, reason, binding_from, detail: None }
                }
            },
        })
        .collect())
}

async fn check_one(
    _auth: Authorized<Check>,
    state: web::Data<AppState>,
    query: Deferred<web::Query<CheckQuery>>,
) -> Result<HttpResponse, ApiError> {
    let query = query?;
    let q = question(&query.channel, query.date.as_deref(), query.mode.as_deref())?;
    let mut answers = answer(&state, &q, vec![query.phone.clone()]).await?;
    let one = answers.pop().ok_or_else(|| ApiError::internal("a check gave no answer"))?;
    Ok(HttpResponse::Ok().json(one))
}

async fn check_many(
    _auth: Authorized<Check>,
    state: web::Data<AppState>,
    body: Deferred<web::Json<CheckBody>>,
) -> Result<HttpResponse, ApiError> {
    let body = body?;
    if body.phones.len() > MAX_BATCH {
        return Err(ApiError::unprocessable(
            "too_many_phones",
            format!("a check takes at most {MAX_BATCH} numbers; this one has {}: split it", body.phones.len()),
        )
        .details(json!({"max": MAX_BATCH, "given": body.phones.len()})));
    }
    let q = question(&body.channel, body.date.as_deref(), body.mode.as_deref())?;
    let results = answer(&state, &q, body.into_inner().phones).await?;
    Ok(HttpResponse::Ok().json(Answers { channel: q.channel, date: q.date, results }))
}
