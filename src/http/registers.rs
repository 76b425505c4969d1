//! `GET /v1/registers`, `GET /v1/registers/{name}/imports` (the import history),
//! `POST /v1/registers/{name}/imports` (a register file as the body, streamed to disk) and
//! `POST /v1/registers/{name}/undo` (undo the latest applied import).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::auth::{Authorized, Import, ReadImports, ReadRegisters};
use super::error::{ApiError, ErrorCode};
use super::{AppState, Deferred};
use crate::app::imports;
use crate::domain::time::{parse_date, rfc3339};
use crate::domain::Register;
use crate::registers::import::{ImportError, Kind, Request};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/registers").route(web::get().to(list)))
        .service(super::resource("/v1/registers/{name}/imports").route(web::get().to(history)).route(web::post().to(import_file)))
        .service(super::resource("/v1/registers/{name}/undo").route(web::post().to(undo_import)));
}

async fn list(_auth: Authorized<ReadRegisters>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.registers.status()))
}

fn register(name: &str) -> Result<Register, ApiError> {
    name.parse().map_err(|e: String| ApiError::not_found(e))
}

async fn history(_auth: Authorized<ReadImports>, state: web::Data<AppState>, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let r = register(&name)?;
    let rows = super::read(&state.store, move |conn| Ok(crate::store::registers::imports(conn, Some(r.as_str()), 1000)?)).await?;
    let items: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|row| {
            json!({"id": row.id, "kind": row.kind, "status": row.status, "error": row.error, "undoes": row.undoes, "imported_at": rfc3339(row.imported_at), "report": row.report})
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "register": r, "imports": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    as_of: Option<String>,
    kind: Option<String>,
    force: Option<bool>,
}

/// A register file refused or failed, as the API answers it (the rule is `app::imports::refusal`).
pub fn import_error(e: ImportError) -> ApiError {
    imports::refusal(e).into()
}

async fn import_file(
    auth: Authorized<Import>,
    state: web::Data<AppState>,
    name: web::Path<String>,
    query: Deferred<web::Query<ImportQuery>>,
    http: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let query = query?;
    let r = register(&name)?;
    let as_of = query.as_of.as_deref().ok_or_else(|| ApiError::new(ErrorCode::InvalidQuery, "give the file's date as as_of=YYYY-MM-DD"))?;
    let as_of = parse_date(as_of).map_err(|e| ApiError::new(ErrorCode::InvalidDate, e).details(json!({"field": "as_of"})))?;
    let kind: Kind = query
        .kind
        .as_deref()
        .unwrap_or("full")
        .parse()
        .map_err(|e: String| ApiError::new(ErrorCode::InvalidKind, e).details(json!({"field": "kind"})))?;

    // The body goes to a temporary file as it arrives: a register file is hundreds of MB.
    let upload = state.uploads.admit(http.headers(), &format!("key:{}", auth.caller.name))?;
    let mut file = upload.body(body).await?;
    let req =
        Request { register: r, as_of, kind, force: query.force.unwrap_or(false), max_removal_percent: state.settings.max_removal_percent };
    let (store, mail) = (state.store.clone(), state.mail.clone());
    let report = super::blocking(move || -> Result<_, ImportError> {
        use std::io::Seek;
        file.rewind().map_err(anyhow::Error::from)?;
        imports::import_register(&store, &req, file, |_| {}, &mail)
    })
    .await?
    .map_err(import_error)?;
    serve_now(&state).await?;
    let status = if report.already_imported { StatusCode::OK } else { StatusCode::CREATED };
    Ok(HttpResponse::build(status).json(report))
}

/// Serve the register's new snapshot from this instance at once; others notice within their poll.
pub(crate) async fn serve_now(state: &web::Data<AppState>) -> Result<(), ApiError> {
    let app = state.app.clone();
    Ok(super::blocking(move || imports::serve_now(&app)).await??)
}

async fn undo_import(_auth: Authorized<Import>, state: web::Data<AppState>, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let r = register(&name)?;
    let store = state.store.clone();
    let report = super::blocking(move || imports::undo(&store, r)).await?.map_err(import_error)?;
    serve_now(&state).await?;
    Ok(HttpResponse::Ok().json(report))
}
