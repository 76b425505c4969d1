//! May this number be called (or texted) on this date? One number or many, each answered as a
//! one-row scrub would judge it, against one state of what is known.

use chrono::NaiveDate;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::{AppError, ErrorCode};
pub use super::params::Question;
use crate::domain::{Channel, PhoneKey, Reason};
use crate::scrub::{Key, Knowledge, Verdict};

/// Numbers one batch check may ask about.
pub const MAX_BATCH: usize = 10_000;

/// One number's check, as given (`GET /v1/check`'s query).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckParams {
    pub phone: String,
    pub channel: String,
    pub date: Option<String>,
    pub mode: Option<String>,
}

impl CheckParams {
    pub fn question(&self) -> Result<Question, AppError> {
        Question::parse(&self.channel, self.date.as_deref(), self.mode.as_deref())
    }
}

/// Many numbers' check, as given (`POST /v1/check`'s body).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchParams {
    pub channel: String,
    pub date: Option<String>,
    pub mode: Option<String>,
    pub phones: Vec<String>,
}

impl BatchParams {
    /// The question, once the batch is known not to be too large.
    pub fn question(&self) -> Result<Question, AppError> {
        if self.phones.len() > MAX_BATCH {
            return Err(AppError::new(
                ErrorCode::TooManyPhones,
                format!("a check takes at most {MAX_BATCH} numbers; this one has {}: split it", self.phones.len()),
            )
            .details(json!({"max": MAX_BATCH, "given": self.phones.len()})));
        }
        Question::parse(&self.channel, self.date.as_deref(), self.mode.as_deref())
    }
}

/// One number's answer.
#[derive(Debug, Serialize)]
pub struct Answer {
    pub key: Option<String>,
    pub channel: Channel,
    pub allowed: bool,
    pub reason: Option<Reason>,
    pub binding_from: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A batch's answer, serialized as it stands (no JSON tree built first).
#[derive(Debug, Serialize)]
pub struct Answers {
    pub channel: Channel,
    pub date: NaiveDate,
    pub results: Vec<Answer>,
}

/// Answers for some numbers, in order, each as a one-row scrub would judge it (`known` is on
/// the question's channel).
pub fn answer(q: &Question, known: &Knowledge, phones: &[String]) -> Vec<Answer> {
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

/// A batch's answers, in order, the numbers split across the cores (a blocking call: run it off
/// any thread that must stay responsive).
pub fn answer_many(q: &Question, known: &Knowledge, phones: &[String]) -> Vec<Answer> {
    let part = phones.len().div_ceil(rayon::current_num_threads()).max(1_000);
    let parts: Vec<Vec<Answer>> = phones.par_chunks(part).map(|phones| answer(q, known, phones)).collect();
    parts.into_iter().flatten().collect()
}
