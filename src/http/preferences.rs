//! In-house preferences: `POST /v1/opt-outs`, `POST /v1/consents`, `GET /v1/preferences`, answered
//! by `app::statements` and `app::preferences`.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::auth::{Authorized, ReadPreferences, RecordStatements};
use super::error::ApiError;
use super::{AppState, Deferred};
use crate::app::preferences::{self, PreferencesParams, Subject};
use crate::app::statements::{self, StatementParams};
use crate::domain::StatementKind;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/opt-outs").route(web::post().to(record_opt_out)))
        .service(super::resource("/v1/consents").route(web::post().to(record_consent)))
        .service(super::resource("/v1/preferences").route(web::get().to(get_preferences)));
}

async fn record(
    state: web::Data<AppState>,
    caller_name: &str,
    body: StatementParams,
    kind: StatementKind,
) -> Result<HttpResponse, ApiError> {
    let recorded = statements::record(&state.app, body, kind, &format!("api:{caller_name}")).await?;
    Ok(HttpResponse::Created().json(json!({ "statements": recorded })))
}

async fn record_opt_out(
    auth: Authorized<RecordStatements>,
    state: web::Data<AppState>,
    body: Deferred<web::Json<StatementParams>>,
) -> Result<HttpResponse, ApiError> {
    let body = body?;
    record(state, &auth.caller.name, body.into_inner(), StatementKind::OptOut).await
}

async fn record_consent(
    auth: Authorized<RecordStatements>,
    state: web::Data<AppState>,
    body: Deferred<web::Json<StatementParams>>,
) -> Result<HttpResponse, ApiError> {
    let body = body?;
    record(state, &auth.caller.name, body.into_inner(), StatementKind::Consent).await
}

async fn get_preferences(
    _auth: Authorized<ReadPreferences>,
    state: web::Data<AppState>,
    query: Deferred<web::Query<PreferencesParams>>,
) -> Result<HttpResponse, ApiError> {
    let subject = Subject::parse(&query?.into_inner())?;
    let app = state.app.clone();
    let answer = super::call(&state.store, move |conn| preferences::preferences(&app, conn, &subject)).await?;
    Ok(HttpResponse::Ok().json(answer))
}
