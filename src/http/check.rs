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
use crate::scrub::{judge, Facts, Mode, Verdict};

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

/// Answer for many numbers in order, with one database read for the lot.
async fn answer(state: &web::Data<AppState>, q: &Question, phones: &[String]) -> Result<Vec<Answer>, ApiError> {
    let keys: Vec<Result<PhoneKey, String>> = phones.iter().map(|p| PhoneKey::parse(p).map_err(|e| e.to_string())).collect();
    // One view of the registers for the whole request: a batch is answered against one state even
    // if an import lands meanwhile.
    let registers = state.registers.view();
    let coverage = registers.coverage(q.channel, q.date);
    let in_house: HashMap<String, String> = match coverage {
        Ok(()) => {
            let mut wanted: Vec<String> = keys.iter().filter_map(|k| k.as_ref().ok()).map(ToString::to_string).collect();
            wanted.sort_unstable();
            wanted.dedup();
            let channel = q.channel.to_string();
            let lookup = move |conn: &mut crate::store::DbConnection| -> anyhow::Result<_> {
                let refs: Vec<&str> = wanted.iter().map(String::as_str).collect();
                Ok(crate::store::statements::kinds_in_force(conn, &refs, &channel)?)
            };
            // One number is a point read; a batch is work for the blocking pool.
            if keys.len() == 1 {
                super::read(&state.store, lookup).await?
            } else {
                super::work(&state.store, lookup).await?
            }
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
    let mut answers = answer(&state, &q, std::slice::from_ref(&query.phone)).await?;
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
    let results = answer(&state, &q, &body.phones).await?;
    Ok(HttpResponse::Ok().json(Answers { channel: q.channel, date: q.date, results }))
}
