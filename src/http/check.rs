//! `GET /v1/check` and `POST /v1/check`: may this number be called (or texted) on this date?
//! Parsed and answered by `app::check` (a one-row scrub each); this module picks the threads.

use actix_web::{web, HttpResponse};

use super::auth::{Authorized, Check};
use super::batch_reads::Batcher;
use super::error::ApiError;
use super::{AppState, Deferred};
use crate::app::check::{self, Answer, Answers, BatchParams, CheckParams, Question};
use crate::scrub::Knowledge;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/check").route(web::get().to(check_one)).route(web::post().to(check_many)));
}

/// Answer for numbers in order, against one state: the registers as they stand and every
/// in-house statement committed before the request (the index caught up by a read shared with
/// the other checks this worker holds). A batch is answered in memory, split across the cores.
async fn answer(state: &web::Data<AppState>, batcher: &Batcher, q: &Question, phones: Vec<String>) -> Result<Vec<Answer>, ApiError> {
    let registers = state.registers.view();
    let in_house = batcher.current(&state.store, &state.in_house).await?.on(q.channel);
    let known = Knowledge { in_house, registers };
    if phones.len() == 1 {
        return Ok(check::answer(q, &known, &phones));
    }
    let q = q.clone();
    Ok(super::blocking(move || check::answer_many(&q, &known, &phones)).await?)
}

async fn check_one(
    _auth: Authorized<Check>,
    state: web::Data<AppState>,
    batcher: web::Data<Batcher>,
    query: Deferred<web::Query<CheckParams>>,
) -> Result<HttpResponse, ApiError> {
    let query = query?.into_inner();
    let q = query.question()?;
    let mut answers = answer(&state, &batcher, &q, vec![query.phone]).await?;
    let one = answers.pop().ok_or_else(|| ApiError::internal("a check gave no answer"))?;
    Ok(HttpResponse::Ok().json(one))
}

async fn check_many(
    _auth: Authorized<Check>,
    state: web::Data<AppState>,
    batcher: web::Data<Batcher>,
    body: Deferred<web::Json<BatchParams>>,
) -> Result<HttpResponse, ApiError> {
    let body = body?.into_inner();
    let q = body.question()?;
    let results = answer(&state, &batcher, &q, body.phones).await?;
    Ok(HttpResponse::Ok().json(Answers { channel: q.channel, date: q.date, results }))
}
