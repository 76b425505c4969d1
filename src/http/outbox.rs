//! `GET /v1/outbox` (admin): the latest messages, newest first, recipients masked (CONTRACT §11).
//! `?limit=` (1 to 1,000; default 100) and `?before=ID` page back.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::auth::{Authorized, ReadOutbox};
use super::error::ApiError;
use super::{AppState, Deferred};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/outbox").route(web::get().to(list)));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    before: Option<i64>,
    limit: Option<i64>,
}

async fn list(
    _auth: Authorized<ReadOutbox>,
    state: web::Data<AppState>,
    page: Deferred<web::Query<Page>>,
) -> Result<HttpResponse, ApiError> {
    let page = page?.into_inner();
    let messages = super::read(&state.store, move |conn| Ok(crate::app::outbox::list(conn, page.before, page.limit)?)).await?;
    Ok(HttpResponse::Ok().json(messages))
}
