//! `GET /health`: no key needed; says whether the database answers.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::error::ApiError;
use super::AppState;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/health").route(web::get().to(health)));
}

async fn health(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    super::blocking(move || store.ping()).await?.map_err(|e| ApiError::unavailable(format!("{e:#}")))?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ok", "database": state.store.backend() })))
}
