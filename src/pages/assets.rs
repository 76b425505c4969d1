//! The pages' stylesheet and script, served from the binary (no external requests, no CDN).

use actix_web::http::header;
use actix_web::{web, HttpResponse};

const STYLE: &str = include_str!("../../assets/style.css");
const SCRIPT: &str = include_str!("../../assets/app.js");

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/assets/style.css", web::get().to(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route("/assets/app.js", web::get().to(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }));
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    // An hour: a new release's stylesheet reaches every desk the same morning.
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}
