//! `/v1/scrubs`: list scrubbing over HTTP is not built yet; the CLI (`suppress scrub`) runs the
//! same engine. Until it is, every scrub route says so plainly (501) rather than 404.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::auth::{Authorized, Scrub};
use super::error::ApiError;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/scrubs").route(web::get().to(not_built)).route(web::post().to(not_built)))
        .service(super::resource("/v1/scrubs/{rest:.*}").route(web::get().to(not_built)));
}

async fn not_built(_auth: Authorized<Scrub>) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "list scrubbing over HTTP is not built yet; use `suppress scrub` on the command line, which runs the same engine",
    ))
}
