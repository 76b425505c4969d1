//! `/v1/scrubs`: a list in (streamed to disk), scrubbed and stored by `app::scrubs` (the same
//! use case as `suppress scrub --store`); downloads streamed from the stored result until it
//! expires.

use std::io::Write;

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::auth::{Authorized, ReadScrubs, Scrub};
use super::error::{ApiError, ErrorCode};
use super::{AppState, Deferred};
use crate::app::params::ScrubParams;
use crate::app::scrubs::{self, Origin};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/scrubs").route(web::get().to(list)).route(web::post().to(create)))
        .service(super::resource("/v1/scrubs/{id}").route(web::get().to(summary)))
        .service(super::resource("/v1/scrubs/{id}/{part}").route(web::get().to(download)));
}

async fn create(
    auth: Authorized<Scrub>,
    state: web::Data<AppState>,
    query: Deferred<web::Query<ScrubParams>>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let query = query?.into_inner();
    let scrub_req = query.request()?;
    let content_type =
        req.headers().get(actix_web::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let multipart = content_type.starts_with("multipart/form-data");
    if !multipart && !["text/csv", "text/plain", "application/csv"].iter().any(|t| content_type.starts_with(t)) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the list as the body with Content-Type: text/csv, or as the `file` part of multipart/form-data",
        ));
    }
    // Held until the scrub is answered: at most SUPPRESS_MAX_UPLOADS lists are taken at once.
    let upload = state.uploads.admit(req.headers(), &format!("key:{}", auth.caller.name))?;
    let started = std::time::Instant::now();
    let list = if multipart { upload.file_part(req.headers(), body).await? } else { upload.body(body).await? };
    let origin = Origin { name: query.name, created_by: auth.caller.name.clone(), received_in: started.elapsed() };
    let app = state.app.clone();
    let stored = super::blocking(move || scrubs::scrub_and_store(&app, list, &scrub_req, origin, |store| store)).await??;
    Ok(HttpResponse::Created().json(stored))
}

async fn list(_auth: Authorized<ReadScrubs>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let items = super::call(&state.store, scrubs::list).await?;
    Ok(HttpResponse::Ok().json(json!({ "scrubs": items })))
}

async fn summary(_auth: Authorized<ReadScrubs>, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let row = super::call(&state.store, move |conn| scrubs::find(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(row.summary))
}

/// Bytes written go to the response in pieces of ~256 KB.
struct Sender {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
}

impl Sender {
    fn send(&mut self) -> std::io::Result<()> {
        let bytes = std::mem::take(&mut self.buf);
        // An error here means the client went away: stop producing.
        self.tx
            .blocking_send(Ok(Bytes::from(bytes)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for Sender {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 1 << 18 {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.send()?;
        }
        Ok(())
    }
}

/// A download's query: `unsubscribe=true` adds each kept row's unsubscribe link to clean.csv.
#[derive(Deserialize)]
struct DownloadQuery {
    unsubscribe: Option<bool>,
}

async fn download(
    _auth: Authorized<ReadScrubs>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: Deferred<web::Query<DownloadQuery>>,
) -> Result<HttpResponse, ApiError> {
    let unsubscribe = query?.unsubscribe.unwrap_or(false);
    let (id, part) = path.into_inner();
    stream_download(&state, id, part, unsubscribe).await
}

/// A stored scrub's download (`clean.csv`, `suppressed.csv`, `annotated.csv`, `revocations`),
/// streamed as it is produced: the API's and the pages' one way to send it.
pub(crate) async fn stream_download(state: &AppState, id: String, part: String, unsubscribe: bool) -> Result<HttpResponse, ApiError> {
    let app = state.app.clone();
    // Off the workers: the revocations catch up with the statements in force first.
    let produce = super::blocking(move || -> Result<scrubs::Producer, ApiError> {
        let mut conn = app.store.conn()?;
        Ok(scrubs::download(&app, &mut conn, &id, &part, unsubscribe)?)
    })
    .await??;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut sender = Sender { buf: Vec::with_capacity(1 << 18), tx: tx.clone() };
    actix_web::rt::task::spawn_blocking(crate::telemetry::carry(move || {
        if let Err(e) = produce(&mut sender) {
            tracing::error!(error = %e, "a scrub download failed");
            let _ = tx.blocking_send(Err(std::io::Error::other("the download failed; see the server log")));
        }
    }));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Ok(HttpResponse::Ok().content_type("text/csv; charset=utf-8").streaming(stream))
}
