//! Scrub a list and store its result (`POST /v1/scrubs`, `suppress scrub --store`): a pending row,
//! the engine's result blocks stored as they are made, then the summary with its expiry — or, if
//! anything fails, nothing left behind. And read stored results back: the summaries, the clean,
//! suppressed and annotated files, and the revocations (kept rows a scrub now would suppress).

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{AppError, ErrorCode};
use super::App;
use crate::domain::time::{now_utc, rfc3339};
use crate::domain::{Channel, EmailKey};
use crate::registers::NotCovered;
use crate::scrub::engine::{self, Files, Request, ScrubError, Sink};
use crate::scrub::input::{ColumnNames, InputError};
use crate::scrub::results::{self, Part, Renderer};
use crate::scrub::Knowledge;
use crate::store::scrubs::{self as db, NewScrub, ScrubRow};
use crate::store::{DbConnection, ScrubState, Store};

/// Why a scrub was refused, with the code and details the API answers.
pub fn scrub_error(e: ScrubError) -> AppError {
    let message = e.to_string();
    let column = |code, column: &str, parameter: &str, found: &[String]| {
        AppError::new(code, message.clone()).details(json!({ "column": column, "parameter": parameter, "headers_found": found }))
    };
    match e {
        ScrubError::NotCovered { reason, contact_date } => {
            let (code, register, as_of, needed) = match reason {
                NotCovered::Missing(r) => (ErrorCode::RegisterMissing, r, None, None),
                NotCovered::Stale { register, as_of, needed_as_of } => (ErrorCode::RegisterStale, register, Some(as_of), needed_as_of),
            };
            AppError::new(code, message)
                .details(json!({ "register": register, "as_of": as_of, "as_of_needed": needed, "contact_date": contact_date }))
        }
        ScrubError::Input(InputError::MissingColumn { wanted, parameter, found }) => {
            column(ErrorCode::MissingColumn, wanted, parameter, &found)
        }
        ScrubError::Input(InputError::NoSurname { found }) => column(ErrorCode::MissingColumn, "surname", "surname_column", &found),
        ScrubError::Input(InputError::UnknownColumn { name, parameter, found }) => {
            column(ErrorCode::MissingColumn, &name, parameter, &found)
        }
        ScrubError::Input(InputError::AmbiguousColumn { ambiguous, parameter }) => AppError::new(ErrorCode::AmbiguousColumn, message)
            .details(json!({ "column": ambiguous.field.as_str(), "parameter": parameter, "headers": ambiguous.names })),
        ScrubError::Input(InputError::Encoding(_)) => AppError::new(ErrorCode::UnreadableEncoding, message),
        ScrubError::Input(InputError::Empty) => AppError::new(ErrorCode::EmptyList, message),
        ScrubError::Input(InputError::BadDelimiter) => AppError::field(ErrorCode::InvalidDelimiter, "delimiter", message),
        ScrubError::Input(InputError::Unreadable { row, .. } | InputError::UnclosedQuote { row, .. }) => {
            AppError::new(ErrorCode::UnreadableList, message).details(json!({ "row": row }))
        }
        ScrubError::Output(e) => AppError::internal(e),
    }
}

/// Where a stored scrub's parts are read.
fn links(id: i64) -> Value {
    let base = format!("/v1/scrubs/{id}");
    json!({
        "clean": format!("{base}/clean.csv"),
        "suppressed": format!("{base}/suppressed.csv"),
        "annotated": format!("{base}/annotated.csv"),
        "revocations": format!("{base}/revocations"),
    })
}

/// Who asked for a stored scrub, and what they called it.
#[derive(Debug, Clone)]
pub struct Origin {
    pub name: Option<String>,
    /// `api:KEY NAME`, `cli:USER`.
    pub created_by: String,
    /// How long the list took to arrive (logged).
    pub received_in: Duration,
}

/// The engine's result blocks, sealed on the workers, handed to the thread that stores them.
pub struct ToStore {
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
}

impl ToStore {
    fn send(&mut self, sealed: Vec<u8>) -> std::io::Result<()> {
        // Never stored if it could not be read back (the engine's run sizes keep this from happening).
        results::openable(&sealed).map_err(std::io::Error::other)?;
        self.tx.send(sealed).map_err(|_| std::io::Error::other("the result writer stopped"))
    }
}

impl Sink for ToStore {
    fn seal(run: Vec<u8>) -> Vec<u8> {
        results::seal(&run)
    }

    fn write(&mut self, sealed: Vec<u8>) -> std::io::Result<()> {
        self.send(sealed)
    }
}

/// The result stored and also written as files (`suppress scrub --store`): the files are
/// rendered from the same runs the store keeps.
pub struct AlsoToFiles<'a> {
    store: ToStore,
    files: Files<'a>,
}

impl<'a> AlsoToFiles<'a> {
    pub fn new(store: ToStore, files: Files<'a>) -> AlsoToFiles<'a> {
        AlsoToFiles { store, files }
    }
}

impl Sink for AlsoToFiles<'_> {
    fn seal(run: Vec<u8>) -> Vec<u8> {
        run
    }

    fn write(&mut self, run: Vec<u8>) -> std::io::Result<()> {
        self.store.send(results::seal(&run))?;
        self.files.write(run)
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.files.finish()
    }
}

/// Scrub `list` and store its result under a new scrub; returns the stored summary document
/// (what `GET /v1/scrubs/{id}` answers). `sink` wraps the store's sink (`|s| s` for the store
/// alone). Nothing of a refused or failed scrub stays.
pub fn scrub_and_store<R, S>(app: &App, list: R, req: &Request, origin: Origin, sink: impl FnOnce(ToStore) -> S) -> Result<Value, AppError>
where
    R: Read + Send,
    S: Sink,
{
    let store = &app.store;
    let t = Instant::now();
    let knowledge = app.knowledge(&mut *store.conn()?, req.channel)?;
    let facts = t.elapsed();
    let created_at = now_utc();
    let pending = NewScrub {
        created_at,
        name: origin.name.clone(),
        channel: req.channel,
        created_by: origin.created_by,
        summary: "{}".into(),
        results_expire_at: created_at,
        state: ScrubState::Pending,
    };
    let id = db::begin(&mut *store.conn()?, &pending)?;
    let finished = (|| -> Result<(Value, Duration), AppError> {
        let summary = scrub_into_store(store, id, list, req, &knowledge, sink)?;
        let judged = t.elapsed();
        let retention = app.settings.result_retention;
        let expires = now_utc() + chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(7));
        let mut document = serde_json::to_value(&summary).map_err(AppError::internal)?;
        if let Some(o) = document.as_object_mut() {
            o.insert("id".into(), json!(id));
            o.insert("name".into(), json!(origin.name));
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
        upload_ms = origin.received_in.as_millis() as u64,
        facts_ms = facts.as_millis() as u64,
        judge_and_store_ms = (judged - facts).as_millis() as u64,
        finish_ms = (t.elapsed() - judged).as_millis() as u64,
        "scrub stored"
    );
    Ok(document)
}

/// Scrub a list, storing its result blocks under the pending scrub `id` as they are made: on a
/// thread of their own, the blocks waiting at each moment in one transaction, so that storing
/// overlaps judging.
fn scrub_into_store<R: Read + Send, S: Sink>(
    store: &Store,
    id: i64,
    list: R,
    req: &Request,
    k: &Knowledge,
    sink: impl FnOnce(ToStore) -> S,
) -> Result<engine::Summary, AppError> {
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
        let mut sink = sink(ToStore { tx });
        let summary = engine::scrub(list, req, k, &mut sink);
        drop(sink); // the writer finishes what it has and stops
        let written = writer.join().map_err(|_| AppError::internal("the scrub result writer failed"))?;
        // A failed write shows in the scrub as a writer that stopped: report the write's error.
        match (summary, written) {
            (_, Err(e)) => Err(AppError::internal(e)),
            (Err(e), Ok(())) => Err(scrub_error(e)),
            (Ok(summary), Ok(())) => Ok(summary),
        }
    })
}

/// The stored summaries, newest first.
pub fn list(conn: &mut DbConnection) -> Result<Vec<Value>, AppError> {
    let rows = db::list(conn, 1000)?;
    Ok(rows.into_iter().map(|r| r.summary).collect())
}

/// Past scrubs, newest first, `per_page` a page: page `page` (from 1), and whether a later page
/// has any.
pub fn page(conn: &mut DbConnection, page: u32, per_page: u32) -> Result<(Vec<ScrubRow>, bool), AppError> {
    let per_page = i64::from(per_page.max(1));
    let offset = i64::from(page.max(1) - 1) * per_page;
    let mut rows = db::page(conn, offset, per_page + 1)?;
    let more = rows.len() as i64 > per_page;
    rows.truncate(per_page as usize);
    Ok((rows, more))
}

/// A scrub named by its id as given (a path segment).
pub fn find(conn: &mut DbConnection, raw: &str) -> Result<ScrubRow, AppError> {
    let id: i64 = raw.parse().map_err(|_| AppError::not_found(format!("there is no scrub {raw:?}")))?;
    db::get(conn, id)?.ok_or_else(|| AppError::not_found(format!("there is no scrub {id}")))
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Download {
    Part(Part),
    /// Kept rows a scrub now would suppress.
    Revocations,
}

impl Download {
    /// A download named as in a scrub's links.
    pub fn parse(name: &str) -> Result<Download, AppError> {
        Ok(match name {
            "annotated.csv" => Download::Part(Part::Annotated),
            "clean.csv" => Download::Part(Part::Clean),
            "suppressed.csv" => Download::Part(Part::Suppressed),
            "revocations" => Download::Revocations,
            other => {
                return Err(AppError::not_found(format!(
                    "a scrub has no {other:?}; it has clean.csv, suppressed.csv, annotated.csv and revocations"
                )))
            }
        })
    }
}

/// A scrub's stored result rendered as one part, read block by block from the store.
pub struct PartReader {
    store: Store,
    id: i64,
    seq: i32,
    renderer: Renderer,
    text: Vec<u8>,
    at: usize,
}

impl PartReader {
    pub fn new(store: Store, id: i64, part: Part) -> PartReader {
        PartReader::with(store, id, Renderer::new(part))
    }

    pub fn with(store: Store, id: i64, renderer: Renderer) -> PartReader {
        PartReader { store, id, seq: 0, renderer, text: Vec::new(), at: 0 }
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

/// Writes a download into whatever carries it, flushing at its end (a blocking call).
pub type Producer = Box<dyn FnOnce(&mut dyn Write) -> Result<(), ScrubError> + Send>;

/// A download of scrub `raw_id`, ready to be produced: refused if there is no such scrub or
/// part (404), if the results have expired (410), or, for the revocations, judged against what is
/// known now, if the registers cannot vouch for the contact date (409, as a scrub is).
///
/// With `unsubscribe`, only `clean.csv` of an `email` list (422 otherwise): each kept row gets one
/// last column, `unsubscribe_url`, its one-click unsubscribe link (CONTRACT §11).
pub fn download(app: &App, conn: &mut DbConnection, raw_id: &str, part: &str, unsubscribe: bool) -> Result<Producer, AppError> {
    let what = Download::parse(part)?;
    if unsubscribe && what != Download::Part(Part::Clean) {
        return Err(AppError::new(ErrorCode::InvalidQuery, "unsubscribe=true adds links to clean.csv only; download clean.csv with it"));
    }
    let row = find(conn, raw_id)?;
    if now_utc() >= row.results_expire_at {
        return Err(AppError::new(
            ErrorCode::ResultsExpired,
            format!("the results of scrub {} expired at {}; its summary is kept", row.id, rfc3339(row.results_expire_at)),
        ));
    }
    let (store, id) = (app.store.clone(), row.id);
    if unsubscribe {
        let stored = StoredRequest::deserialize(&row.summary).map_err(AppError::internal)?;
        if stored.channel != Channel::Email {
            return Err(AppError::new(
                ErrorCode::ChannelNotAllowed,
                format!("scrub {} is of a {} list: unsubscribe links are made for email lists only; download clean.csv without unsubscribe=true", row.id, stored.channel),
            ));
        }
        let (tokens, base) = (app.unsubscribe.clone(), app.public_url.clone());
        let link: results::Link = Box::new(move |key: &str| match EmailKey::parse(key) {
            Ok(email) => tokens.link(&base, &email),
            Err(_) => String::new(),
        });
        return Ok(Box::new(move |out: &mut dyn Write| {
            std::io::copy(&mut PartReader::with(store, id, Renderer::clean_with_links(link)), out)?;
            Ok(out.flush()?)
        }));
    }
    Ok(match what {
        Download::Part(part) => Box::new(move |out: &mut dyn Write| {
            std::io::copy(&mut PartReader::new(store, id, part), out)?;
            Ok(out.flush()?)
        }),
        Download::Revocations => {
            let stored = StoredRequest::deserialize(&row.summary).map_err(AppError::internal)?;
            let req = Request {
                channel: stored.channel,
                contact_date: stored.contact_date,
                mode: stored.mode,
                delimiter: None,
                columns: stored.columns,
            };
            let registers = app.registers.view();
            registers
                .coverage(req.channel, req.contact_date)
                .map_err(|reason| scrub_error(ScrubError::NotCovered { reason, contact_date: req.contact_date }))?;
            let in_house = app.in_house.current(conn)?.on(req.channel);
            let knowledge = Knowledge { in_house, registers };
            Box::new(move |out: &mut dyn Write| {
                engine::revocations(PartReader::new(store, id, Part::Clean), &req, &knowledge, out)?;
                Ok(())
            })
        }
    })
}
