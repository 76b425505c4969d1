//! `GET /v1/check` and `POST /v1/check`: may this number be called (or texted) on this date?
//! Answered through the scrubbing engine, as a one-row scrub.

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{Authorized, Check};
use super::batch_reads::Batcher;
use super::error::ApiError;
use super::{AppState, Deferred};
use crate::domain::time::{parse_date, today_uk};
use crate::domain::{Channel, ContactKind, PhoneKey, Reason};
use crate::scrub::{Key, Knowledge, Mode, Verdict};
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
    let today = today_uk();
    let date = date
        .map(parse_date)
        .transpose()
        .map_err(|e| ApiError::unprocessable("invalid_date", e).details(json!({"field": "date"})))?
        .unwrap_or(today);
    // A past date would answer for a day already gone, by rules (statutory grace) that no longer
    // hold for any call made now (CONTRACT §6).
    if date < today {
        return Err(ApiError::unprocessable(
            "date_in_past",
            format!("date {date} is before today ({today} in UK time): a check is for a day still to come"),
        )
        .details(json!({"field": "date", "today": today})));
    }
    let mode = mode
        .map(str::parse)
        .transpose()
        .map_err(|e: String| ApiError::unprocessable("invalid_mode", e).details(json!({"field": "mode"})))?
        .unwrap_or_default();
    Ok(Question { channel, date, mode })
}

/// Answer for numbers in order, against one state: the registers as they stand and every
/// in-house statement committed before the request (the index caught up by a read shared with
/// the other checks this worker holds). A batch is answered in memory, split across the cores.
async fn answer(state: &web::Data<AppState>, batcher: &Batcher, q: &Question, phones: Vec<String>) -> Result<Vec<Answer>, ApiError> {
    let registers = state.registers.view();
    let in_house = batcher.current(&state.store, &state.in_house).await?.on(q.channel);
    let known = Knowledge { in_house, registers };
    if phones.len() == 1 {
        return Ok(answer_part(q, &known, &phones));
    }
    let q = q.clone();
    Ok(web::block(move || {
        let part = phones.len().div_ceil(rayon::current_num_threads()).max(1_000);
        let parts: Vec<Vec<Answer>> = phones.par_chunks(part).map(|phones| answer_part(&q, &known, phones)).collect();
        parts.into_iter().flatten().collect()
    })
    .await?)
}

/// Answers for some numbers, in order, each as a one-row scrub would judge it (`known` is on
/// the question's channel).
fn answer_part(q: &Question, known: &Knowledge, phones: &[String]) -> Vec<Answer> {
    let coverage = known.registers.coverage(q.channel, q.date);
    phones
        .iter()
        .map(|p| PhoneKey::parse(p).map_err(|e| e.to_string()))
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
                    let (_, Verdict { allowed, reason, binding_from }) = known.verdict(Key::Phone(&key), key.as_str(), q.mode, q.date);
                    Answer { key: Some(key.to_string()), channel: q.channel, allowed, reason, binding_from, detail: None }
                }
            },
        })
        .collect()
}

async fn check_one(
    _auth: Authorized<Check>,
    state: web::Data<AppState>,
    batcher: web::Data<Batcher>,
    query: Deferred<web::Query<CheckQuery>>,
) -> Result<HttpResponse, ApiError> {
    let query = query?;
    let q = question(&query.channel, query.date.as_deref(), query.mode.as_deref())?;
    let mut answers = answer(&state, &batcher, &q, vec![query.phone.clone()]).await?;
    let one = answers.pop().ok_or_else(|| ApiError::internal("a check gave no answer"))?;
    Ok(HttpResponse::Ok().json(one))
}

async fn check_many(
    _auth: Authorized<Check>,
    state: web::Data<AppState>,
    batcher: web::Data<Batcher>,
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
    let results = answer(&state, &batcher, &q, body.into_inner().phones).await?;
    Ok(HttpResponse::Ok().json(Answers { channel: q.channel, date: q.date, results }))
}
