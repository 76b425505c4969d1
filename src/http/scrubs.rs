//! `/v1/scrubs`: a list in (streamed to disk), the same engine as `suppress scrub`, the summary
//! and the annotated result stored; downloads streamed from the stored result until it expires.

use std::io::{Read, Write};

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{Authorized, ReadScrubs, Scrub};
use super::error::ApiError;
use super::{AppState, Deferred};
use crate::domain::time::{now_utc, rfc3339};
use crate::domain::Channel;
use crate::registers::NotCovered;
use crate::scrub::engine::{self, Knowledge, Request, ScrubError, Sink};
use crate::scrub::input::{self, ColumnNames, InputError};
use crate::scrub::results::{self, Part, Renderer};
use crate::store::scrubs::{self as db, NewScrub};
use crate::store::ScrubState;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/scrubs").route(web::get().to(list)).route(web::post().to(create)))
        .service(super::resource("/v1/scrubs/{id}").route(web::get().to(summary)))
        .service(super::resource("/v1/scrubs/{id}/{part}").route(web::get().to(download)));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScrubQuery {
    channel: String,
    contact_date: Option<String>,
    mode: Option<String>,
    name: Option<String>,
    delimiter: Option<String>,
    phone_column: Option<String>,
    email_column: Option<String>,
    postcode_column: Option<String>,
    surname_column: Option<String>,
    address_columns: Option<String>,
    mail_level: Option<String>,
}

fn field(code: &'static str, name: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::unprocessable(code, e.to_string()).details(json!({ "field": name }))
}

fn request(q: &ScrubQuery) -> Result<Request, ApiError> {
    Ok(Request {
        channel: q.channel.parse::<Channel>().map_err(|e| field("invalid_channel", "channel", e))?,
        contact_date: engine::contact_date(q.contact_date.as_deref()).map_err(|e| match e {
            // As a check's past date is answered (CONTRACT §5, §6).
            engine::ContactDateError::Past { today, .. } => {
                ApiError::unprocessable("date_in_past", e.to_string()).details(json!({ "field": "contact_date", "today": today }))
            }
            engine::ContactDateError::Invalid(_) => field("invalid_date", "contact_date", e),
        })?,
        mode: q.mode.as_deref().map(str::parse).transpose().map_err(|e: String| field("invalid_mode", "mode", e))?.unwrap_or_default(),
        delimiter: q.delimiter.as_deref().map(input::delimiter).transpose().map_err(|e| field("invalid_delimiter", "delimiter", e))?,
        columns: ColumnNames {
            phone: q.phone_column.clone(),
            email: q.email_column.clone(),
            postcode: q.postcode_column.clone(),
            surname: q.surname_column.clone(),
            address: q.address_columns.as_ref().map(|a| a.split(',').map(|s| s.trim().to_owned()).collect()),
            mail_level: q
                .mail_level
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e: String| field("invalid_mail_level", "mail_level", e))?
                .unwrap_or_default(),
        },
    })
}

fn scrub_error(e: ScrubError) -> ApiError {
    let message = e.to_string();
    match e {
        ScrubError::NotCovered { reason, contact_date } => {
            let (code, register, as_of, needed) = match reason {
                NotCovered::Missing(r) => ("register_missing", r, None, None),
                NotCovered::Stale { register, as_of, needed_as_of } => ("register_stale", register, Some(as_of), needed_as_of),
            };
            ApiError::new(StatusCode::CONFLICT, code, message)
                .details(json!({ "register": register, "as_of": as_of, "as_of_needed": needed, "contact_date": contact_date }))
        }
        ScrubError::Input(InputError::MissingColumn { wanted, parameter, found }) => ApiError::unprocessable("missing_column", message)
            .details(json!({ "column": wanted, "parameter": parameter, "headers_found": found })),
        ScrubError::Input(InputError::NoSurname { found }) => ApiError::unprocessable("missing_column", message)
            .details(json!({ "column": "surname", "parameter": "surname_column", "headers_found": found })),
        ScrubError::Input(InputError::UnknownColumn { name, parameter, found }) => ApiError::unprocessable("missing_column", message)
            .details(json!({ "column": name, "parameter": parameter, "headers_found": found })),
        ScrubError::Input(InputError::AmbiguousColumn { ambiguous, parameter }) => ApiError::unprocessable("ambiguous_column", message)
            .details(json!({ "column": ambiguous.field.as_str(), "parameter": parameter, "headers": ambiguous.names })),
        ScrubError::Input(InputError::Encoding(_)) => ApiError::unprocessable("unreadable_encoding", message),
        ScrubError::Input(InputError::Empty) => ApiError::unprocessable("empty_list", message),
        ScrubError::Input(InputError::BadDelimiter) => field("invalid_delimiter", "delimiter", message),
        ScrubError::Input(InputError::Unreadable { row, .. } | InputError::UnclosedQuote { row, .. }) => {
            ApiError::unprocessable("unreadable_list", message).details(json!({ "row": row }))
        }
        ScrubError::Output(e) => ApiError::internal(e),
    }
}

fn links(id: i64) -> Value {
    let base = format!("/v1/scrubs/{id}");
    json!({
        "clean": format!("{base}/clean.csv"),
        "suppressed": format!("{base}/suppressed.csv"),
        "annotated": format!("{base}/annotated.csv"),
        "revocations": format!("{base}/revocations"),
    })
}

async fn create(
    auth: Authorized<Scrub>,
    state: web::Data<AppState>,
    query: Deferred<web::Query<ScrubQuery>>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let query = query?;
    let scrub_req = request(&query)?;
    crate::domain::text::check_opt("name", query.name.as_deref(), crate::domain::text::NAME)?;
    let content_type =
        req.headers().get(actix_web::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let multipart = content_type.starts_with("multipart/form-data");
    if !multipart && !["text/csv", "text/plain", "application/csv"].iter().any(|t| content_type.starts_with(t)) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the list as the body with Content-Type: text/csv, or as the `file` part of multipart/form-data",
        ));
    }
    // Held until the scrub is answered: at most SUPPRESS_MAX_UPLOADS lists are taken at once.
    let upload = state.uploads.admit(req.headers())?;
    let started = std::time::Instant::now();
    let list = if multipart { upload.file_part(req.headers(), body).await? } else { upload.body(body).await? };
    let (registers, in_house, store, retention) =
        (state.registers.view(), state.in_house.clone(), state.store.clone(), state.settings.result_retention);
    let (name, created_by) = (query.name.clone(), auth.caller.name.clone());
    let spooled = started.elapsed();
    let stored = web::block(move || -> Result<Value, ApiError> {
        let t = std::time::Instant::now();
        let in_house = in_house.current(&mut *store.conn()?)?.on(scrub_req.channel);
        let facts = t.elapsed();
        let knowledge = Knowledge { in_house, registers };
        let created_at = now_utc();
        let pending = NewScrub {
            created_at,
            name: name.clone(),
            channel: scrub_req.channel,
            created_by,
            summary: "{}".into(),
            results_expire_at: created_at,
            state: ScrubState::Pending,
        };
        let id = db::begin(&mut *store.conn()?, &pending)?;
        let finished = (|| -> Result<(Value, std::time::Duration), ApiError> {
            let summary = scrub_into_store(&store, id, list, &scrub_req, &knowledge)?;
            let judged = t.elapsed();
            let expires = now_utc() + chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(7));
            let mut document = serde_json::to_value(&summary).map_err(ApiError::internal)?;
            if let Some(o) = document.as_object_mut() {
                o.insert("id".into(), json!(id));
                o.insert("name".into(), json!(name));
                o.insert("created_at".into(), json!(rfc3339(created_at)));
                o.insert("results_expire_at".into(), json!(rfc3339(expires)));
                o.insert("links".into(), links(id));
            }
            db::finish(&mut *store.conn()?, id, &document.to_string(), expires)?;
            Ok((document, judged))
        })();
        let (document, judged) = match finished {
            Ok(done) => done,
            Err(e) => {
                // Nothing of a failed scrub stays: its blocks and pending row go.
                if let Err(gone) = store.conn().and_then(|mut c| Ok(db::discard(&mut c, id)?)) {
                    tracing::warn!(scrub = id, error = %gone, "could not remove a failed scrub's rows; the sweep will");
                }
                return Err(e);
            }
        };
        tracing::info!(
            scrub = id,
            rows = document["rows"].as_u64().unwrap_or(0),
            upload_ms = spooled.as_millis() as u64,
            facts_ms = facts.as_millis() as u64,
            judge_and_store_ms = (judged - facts).as_millis() as u64,
            finish_ms = (t.elapsed() - judged).as_millis() as u64,
            "scrub stored"
        );
        Ok(document)
    })
    .await??;
    Ok(HttpResponse::Created().json(stored))
}

/// A scrub's result blocks, handed to the thread that stores them.
struct ToStore {
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
}

impl Sink for ToStore {
    fn seal(run: Vec<u8>) -> Vec<u8> {
        results::seal(&run)
    }

    fn write(&mut self, sealed: Vec<u8>) -> std::io::Result<()> {
        // Never stored if it could not be read back (the engine's run sizes keep this from happening).
        results::openable(&sealed).map_err(std::io::Error::other)?;
        self.tx.send(sealed).map_err(|_| std::io::Error::other("the result writer stopped"))
    }
}

/// Scrub a list, storing its result blocks under the pending scrub `id` as they are made: on a
/// thread of their own, the blocks waiting at each moment in one transaction, so that storing
/// overlaps judging.
fn scrub_into_store(
    store: &crate::store::Store,
    id: i64,
    list: std::fs::File,
    req: &Request,
    k: &Knowledge,
) -> Result<engine::Summary, ApiError> {
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(32);
        let writer = s.spawn(move || -> anyhow::Result<()> {
            let mut conn = store.conn()?;
            let mut seq = 0i32;
            while let Ok(block) = rx.recv() {
                let mut blocks = vec![block];
                while blocks.len() < 16 {
                    match rx.try_recv() {
                        Ok(b) => blocks.push(b),
                        Err(_) => break,
                    }
                }
                db::insert_blocks(&mut conn, id, seq, &blocks)?;
                seq = seq.saturating_add(i32::try_from(blocks.len()).unwrap_or(i32::MAX));
            }
            Ok(())
        });
        let mut sink = ToStore { tx };
        let summary = engine::scrub(list, req, k, &mut sink);
        drop(sink); // the writer finishes what it has and stops
        let written = writer.join().map_err(|_| ApiError::internal("the scrub result writer failed"))?;
        // A failed write shows in the scrub as a writer that stopped: report the write's error.
        match (summary, written) {
            (_, Err(e)) => Err(ApiError::internal(e)),
            (Err(e), Ok(())) => Err(scrub_error(e)),
            (Ok(summary), Ok(())) => Ok(summary),
        }
    })
}

async fn list(_auth: Authorized<ReadScrubs>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rows = super::read(&state.store, |conn| Ok(db::list(conn, 1000)?)).await?;
    let items: Vec<Value> = rows.into_iter().map(|r| r.summary).collect();
    Ok(HttpResponse::Ok().json(json!({ "scrubs": items })))
}

fn scrub_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found(format!("there is no scrub {raw:?}")))
}

async fn find(state: &web::Data<AppState>, id: i64) -> Result<db::ScrubRow, ApiError> {
    super::read(&state.store, move |conn| Ok(db::get(conn, id)?))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no scrub {id}")))
}

async fn summary(_auth: Authorized<ReadScrubs>, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let row = find(&state, scrub_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(row.summary))
}

/// What a stored summary says of how its list was scrubbed.
#[derive(Deserialize)]
struct StoredRequest {
    channel: Channel,
    contact_date: chrono::NaiveDate,
    mode: crate::scrub::Mode,
    #[serde(default)]
    columns: ColumnNames,
}

/// What a download is: a part of the stored result, or the revocations judged now.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Download {
    Part(Part),
    /// Kept rows a scrub now would suppress.
    Revocations,
}

/// A scrub's stored result rendered as one part, read block by block from the store.
struct PartReader {
    store: crate::store::Store,
    id: i64,
    seq: i32,
    renderer: Renderer,
    text: Vec<u8>,
    at: usize,
}

impl PartReader {
    fn new(store: crate::store::Store, id: i64, part: Part) -> PartReader {
        PartReader { store, id, seq: 0, renderer: Renderer::new(part), text: Vec::new(), at: 0 }
    }
}

impl Read for PartReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.text.len() {
            let mut conn = self.store.conn().map_err(std::io::Error::other)?;
            let Some(block) = db::block(&mut conn, self.id, self.seq).map_err(std::io::Error::other)? else { return Ok(0) };
            drop(conn);
            self.seq += 1;
            self.text.clear();
            self.at = 0;
            let run = results::open(&block).map_err(std::io::Error::other)?;
            self.renderer.render(&run, &mut self.text).map_err(std::io::Error::other)?;
        }
        let n = buf.len().min(self.text.len() - self.at);
        buf[..n].copy_from_slice(&self.text[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
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

async fn download(
    _auth: Authorized<ReadScrubs>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, part) = path.into_inner();
    let what = match part.as_str() {
        "annotated.csv" => Download::Part(Part::Annotated),
        "clean.csv" => Download::Part(Part::Clean),
        "suppressed.csv" => Download::Part(Part::Suppressed),
        "revocations" => Download::Revocations,
        other => {
            return Err(ApiError::not_found(format!(
                "a scrub has no {other:?}; it has clean.csv, suppressed.csv, annotated.csv and revocations"
            )))
        }
    };
    let row = find(&state, scrub_id(&id)?).await?;
    if now_utc() >= row.results_expire_at {
        return Err(ApiError::new(
            StatusCode::GONE,
            "results_expired",
            format!("the results of scrub {} expired at {}; its summary is kept", row.id, rfc3339(row.results_expire_at)),
        ));
    }
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut sender = Sender { buf: Vec::with_capacity(1 << 18), tx: tx.clone() };
    let (store, id) = (state.store.clone(), row.id);
    let produce: Box<dyn FnOnce() -> Result<(), ScrubError> + Send> = match what {
        Download::Part(part) => Box::new(move || {
            std::io::copy(&mut PartReader::new(store, id, part), &mut sender)?;
            Ok(sender.flush()?)
        }),
        Download::Revocations => {
            // Judged against what is known now, taken before the answer starts: refused like a
            // scrub (409) when the registers cannot vouch for the contact date.
            let stored = StoredRequest::deserialize(&row.summary).map_err(ApiError::internal)?;
            let req = Request {
                channel: stored.channel,
                contact_date: stored.contact_date,
                mode: stored.mode,
                delimiter: None,
                columns: stored.columns,
            };
            let registers = state.registers.view();
            registers
                .coverage(req.channel, req.contact_date)
                .map_err(|reason| scrub_error(ScrubError::NotCovered { reason, contact_date: req.contact_date }))?;
            let channel = req.channel;
            let index = state.in_house.clone();
            let in_house = super::work(&state.store, move |conn| Ok(index.current(conn)?.on(channel))).await?;
            let knowledge = Knowledge { in_house, registers };
            Box::new(move || {
                engine::revocations(PartReader::new(store, id, Part::Clean), &req, &knowledge, &mut sender)?;
                Ok(())
            })
        }
    };
    actix_web::rt::task::spawn_blocking(move || {
        if let Err(e) = produce() {
            tracing::error!(error = %e, "a scrub download failed");
            let _ = tx.blocking_send(Err(std::io::Error::other("the download failed; see the server log")));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Ok(HttpResponse::Ok().content_type("text/csv; charset=utf-8").streaming(stream))
}
