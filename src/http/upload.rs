//! Bodies that are files (scrub lists, register files), taken to a temporary file as they arrive:
//! one way in for both (CONTRACT §5, §8, §9).
//!
//! - An upload is admitted before its body is read: a declared `Content-Length` over
//!   `SUPPRESS_MAX_UPLOAD_BYTES` is a 413, and with `SUPPRESS_MAX_UPLOADS` already running a 503
//!   with `Retry-After`. So is a client (a key, or a signed-in person) already holding half of
//!   them (rounded up): one client, however slowly it sends, cannot take every slot. The slot is
//!   held until the request is answered.
//! - Every byte of the raw body counts against the limit before any parser sees it (413).
//! - A body that sends nothing for `SUPPRESS_UPLOAD_IDLE_TIMEOUT` is cut off (408).
//! - In a multipart body, the bytes that are not part content (preamble, boundaries, part headers)
//!   may take at most [`OVERHEAD`] together, and a part other than the list at most [`PART`]
//!   (413). The multipart parser buffers those whole and searches them again on every piece:
//!   unbounded, one request could hold memory and a worker's CPU. The bound is kept without a
//!   second parser: the body is handed to the parser a piece at a time, each piece only once the
//!   parser has taken the one before, and what the parser has been handed but not yielded as
//!   content is what it holds.

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::File;
use std::future::Future;
use std::io::{Seek, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::error::PayloadError;
use actix_web::http::header::{HeaderMap, CONTENT_LENGTH};
use actix_web::rt::time::{sleep, Instant, Sleep};
use actix_web::web::{self, Bytes};
use futures_util::{Stream, StreamExt};
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::{body_too_large, ApiError, ErrorCode};
use crate::config::Settings;

/// What a multipart body may hold besides its parts' content: preamble, boundaries, part headers.
pub const OVERHEAD: u64 = 64 << 10;

/// The largest part other than the list (`file`).
pub const PART: u64 = 64 << 10;

/// The largest piece of body handed to the multipart parser at once, outside the list's content.
/// Small, because the parser takes a piece on every poll whether it needs one or not: moving from
/// one part to the next it takes two or three, and holds them (the next part's content, yielded
/// later) — so the bytes it holds stay near what is really framing. Inside the list (`file`)
/// part, whose content the parser yields as fast as it takes it, the body goes in whole chunks.
const PIECE: usize = 1 << 10;

/// What the parser may hold beyond [`OVERHEAD`]: the next parts' content it took while moving on
/// from one part to the next (a few pieces a part). Without it, a form whose text fields come
/// before the file — as every browser sends a page's form — was refused once the file passed
/// 64 KiB.
const READ_AHEAD: u64 = 64 << 10;

/// What a busy server asks a client to wait before trying again.
const RETRY_AFTER_SECS: u64 = 10;

/// The uploads a server takes, and how.
pub struct Uploads {
    slots: Arc<Semaphore>,
    running_at_most: usize,
    /// The slots each client holds, and how many one may.
    clients: Arc<Mutex<HashMap<String, usize>>>,
    per_client: usize,
    limit: u64,
    idle: Duration,
}

impl Uploads {
    pub fn new(settings: &Settings) -> Uploads {
        let n = settings.max_uploads.clamp(1, Semaphore::MAX_PERMITS);
        Uploads {
            slots: Arc::new(Semaphore::new(n)),
            running_at_most: n,
            clients: Arc::default(),
            per_client: n.div_ceil(2),
            limit: settings.max_upload_bytes,
            idle: settings.upload_idle_timeout,
        }
    }

    /// Admit an upload from `client` (`key:NAME` or `web:NAME`), before its body is read: its
    /// declared length within the limit, a slot free, and the client within its share. The slot
    /// is the returned value's, until it is dropped. A refusal closes the connection, as every
    /// refusal of a body does: what the client still sends is not read.
    pub fn admit(&self, headers: &HeaderMap, client: &str) -> Result<Admitted, ApiError> {
        self.try_admit(headers, client).map_err(ApiError::closing)
    }

    fn try_admit(&self, headers: &HeaderMap, client: &str) -> Result<Admitted, ApiError> {
        let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.limit) {
            return Err(body_too_large(self.limit));
        }
        let busy = |message: String| {
            ApiError::new(ErrorCode::TooManyUploads, message)
                .details(json!({ "running_at_most": self.running_at_most, "running_at_most_per_client": self.per_client }))
                .retry_after(RETRY_AFTER_SECS)
        };
        let share = ClientSlot::take(&self.clients, client, self.per_client).ok_or_else(|| {
            busy(format!("you have {} uploads being taken already; try again in {RETRY_AFTER_SECS} seconds", self.per_client))
        })?;
        let slot = self.slots.clone().try_acquire_owned().map_err(|_| {
            busy(format!("{} uploads are being taken already; try again in {RETRY_AFTER_SECS} seconds", self.running_at_most))
        })?;
        Ok(Admitted { _slot: slot, _share: share, limit: self.limit, idle: self.idle })
    }
}

/// One of a client's slots, given back when dropped.
struct ClientSlot {
    clients: Arc<Mutex<HashMap<String, usize>>>,
    client: String,
}

impl ClientSlot {
    fn take(clients: &Arc<Mutex<HashMap<String, usize>>>, client: &str, at_most: usize) -> Option<ClientSlot> {
        // The map is whole whatever a panic interrupted (each change is one statement).
        let mut held = clients.lock().unwrap_or_else(PoisonError::into_inner);
        let n = held.entry(client.to_owned()).or_insert(0);
        if *n >= at_most {
            return None;
        }
        *n += 1;
        Some(ClientSlot { clients: clients.clone(), client: client.to_owned() })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut held = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.client);
            }
        }
    }
}

/// An upload admitted: its slots, and the rules its body is read by.
pub struct Admitted {
    _slot: OwnedSemaphorePermit,
    _share: ClientSlot,
    limit: u64,
    idle: Duration,
}

impl Admitted {
    /// The body as a file.
    pub async fn body(&self, payload: web::Payload) -> Result<File, ApiError> {
        self.read_body(payload).await.map_err(ApiError::closing)
    }

    /// The `file` part of a multipart/form-data body as a file; other parts are read past.
    pub async fn file_part(&self, headers: &HeaderMap, payload: web::Payload) -> Result<File, ApiError> {
        Ok(self.read_file_part(headers, payload, false).await.map_err(ApiError::closing)?.file)
    }

    /// The `file` part as a file, with the other parts as text fields (a page's upload form):
    /// each field within [`PART`], all of them together within [`PART`] too, and UTF-8.
    pub async fn file_part_and_fields(&self, headers: &HeaderMap, payload: web::Payload) -> Result<Form, ApiError> {
        self.read_file_part(headers, payload, true).await.map_err(ApiError::closing)
    }

    async fn read_body(&self, payload: web::Payload) -> Result<File, ApiError> {
        let tally = Rc::new(Tally::default());
        let mut body = Guarded::new(payload, tally.clone(), self, false);
        let mut file = tempfile::tempfile().map_err(ApiError::internal)?;
        drain(&mut body, &tally, Some(&mut file), u64::MAX, |e| bad(ErrorCode::BadBody, "the body could not be read", e)).await?;
        file.rewind().map_err(ApiError::internal)?;
        Ok(file)
    }

    async fn read_file_part(&self, headers: &HeaderMap, payload: web::Payload, keep_fields: bool) -> Result<Form, ApiError> {
        let tally = Rc::new(Tally::default());
        let body = Guarded::new(payload, tally.clone(), self, true);
        let broken = |e: &dyn std::fmt::Display| bad(ErrorCode::BadMultipart, "the multipart body could not be read", e);
        let mut parts = actix_multipart::Multipart::new(headers, body);
        let mut list = None;
        let mut fields = Vec::new();
        // What the kept fields hold together: their text, bounded as one part is.
        let mut kept = Vec::new();
        while let Some(part) = parts.next().await {
            let mut part = part.map_err(|e| tally.refusal().unwrap_or_else(|| broken(&e)))?;
            if part.name() == Some("file") && list.is_none() {
                let filename = part.content_disposition().and_then(|d| d.get_filename()).map(str::to_owned);
                let mut file = tempfile::tempfile().map_err(ApiError::internal)?;
                tally.in_list.set(true);
                drain(&mut part, &tally, Some(&mut file), u64::MAX, broken).await?;
                tally.in_list.set(false);
                file.rewind().map_err(ApiError::internal)?;
                list = Some((file, filename));
            } else if keep_fields {
                let name = part.name().unwrap_or("").to_owned();
                let from = kept.len();
                drain(&mut part, &tally, Some(&mut kept), PART, broken).await?;
                if kept.len() as u64 > PART {
                    return Err(part_too_large(PART));
                }
                let value = std::str::from_utf8(&kept[from..])
                    .map_err(|_| ApiError::new(ErrorCode::BadMultipart, format!("the form field {name:?} is not UTF-8 text")))?
                    .to_owned();
                fields.push((name, value));
            } else {
                drain(&mut part, &tally, None::<&mut File>, PART, broken).await?;
            }
        }
        let (file, filename) = list.ok_or_else(|| {
            ApiError::new(ErrorCode::MissingFilePart, "the multipart body has no part named `file`: send the list as that part")
        })?;
        Ok(Form { file, filename, fields })
    }
}

/// A multipart body as a page's form sends it: the `file` part, the name the browser gave it,
/// and the other parts as text, in order.
#[derive(Debug)]
pub struct Form {
    pub file: File,
    pub filename: Option<String>,
    pub fields: Vec<(String, String)>,
}

impl Form {
    /// The first field of that name, if any.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

fn part_too_large(cap: u64) -> ApiError {
    ApiError::new(ErrorCode::PartTooLarge, format!("a part other than the list (`file`) is larger than {cap} bytes"))
        .details(json!({ "limit_bytes": cap }))
}

fn bad(code: ErrorCode, what: &str, e: &dyn std::fmt::Display) -> ApiError {
    ApiError::new(code, format!("{what}: {e}"))
}

/// Read a stream of content to its end, into `file` if given, refusing it past `cap` bytes.
async fn drain<S, E, W>(
    stream: &mut S,
    tally: &Tally,
    mut file: Option<&mut W>,
    cap: u64,
    broken: impl Fn(&dyn std::fmt::Display) -> ApiError,
) -> Result<(), ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
    W: Write,
{
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| tally.refusal().unwrap_or_else(|| broken(&e)))?;
        let n = chunk.len() as u64;
        tally.content.set(tally.content.get() + n);
        size += n;
        if size > cap {
            return Err(part_too_large(cap));
        }
        if let Some(f) = file.as_deref_mut() {
            f.write_all(&chunk).map_err(ApiError::internal)?;
        }
    }
    Ok(())
}

/// Bytes a body must bring within each `SUPPRESS_UPLOAD_IDLE_TIMEOUT` (16 KiB: about 550 bytes a
/// second at the 30 s default; a body that ends sooner is never cut off).
pub const MIN_PROGRESS: u64 = 16 << 10;

/// Why a body was cut off.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    TooLarge { limit: u64 },
    Overhead,
    Idle { after: Duration },
}

/// What one body has brought, shared by the guard and the reader of its content.
#[derive(Default)]
struct Tally {
    /// Bytes the client sent.
    received: Cell<u64>,
    /// Bytes handed to the parser.
    handed: Cell<u64>,
    /// Bytes taken out as content.
    content: Cell<u64>,
    refused: Cell<Option<Refusal>>,
    /// The list's content is being read: hand the parser whole chunks.
    in_list: Cell<bool>,
}

impl Tally {
    /// The answer for a body the guard cut off (the parser reports it as its own error).
    fn refusal(&self) -> Option<ApiError> {
        self.refused.get().map(|r| match r {
            Refusal::TooLarge { limit } => body_too_large(limit),
            Refusal::Overhead => ApiError::new(
                ErrorCode::PartHeadersTooLarge,
                format!("the multipart body's preamble, boundaries and part headers take more than {OVERHEAD} bytes"),
            )
            .details(json!({ "limit_bytes": OVERHEAD })),
            Refusal::Idle { after } => ApiError::new(
                ErrorCode::UploadTimeout,
                format!("fewer than {MIN_PROGRESS} bytes of the body arrived in {} seconds; the upload was cut off", after.as_secs()),
            )
            .details(json!({ "idle_timeout_seconds": after.as_secs(), "min_bytes": MIN_PROGRESS })),
        })
    }
}

/// The raw body, counted, timed and (multipart) handed out a piece at a time.
struct Guarded<S> {
    inner: S,
    tally: Rc<Tally>,
    limit: u64,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    /// Bytes received since the timer was last reset.
    since_reset: u64,
    /// Multipart: the rest of the chunk being handed out.
    rest: Option<Bytes>,
    /// Multipart: a piece went out on the last poll, so the next one waits for the parser.
    just_handed: bool,
    done: bool,
}

impl<S> Guarded<S> {
    fn new(inner: S, tally: Rc<Tally>, rules: &Admitted, multipart: bool) -> Guarded<S> {
        Guarded {
            inner,
            tally,
            limit: rules.limit,
            idle: rules.idle,
            timer: Box::pin(sleep(rules.idle)),
            since_reset: 0,
            rest: multipart.then(Bytes::new),
            just_handed: false,
            done: false,
        }
    }

    fn refuse(&mut self, why: Refusal) -> Poll<Option<Result<Bytes, PayloadError>>> {
        self.tally.refused.set(Some(why));
        self.done = true;
        Poll::Ready(Some(Err(PayloadError::Overflow)))
    }

    /// The next piece of the chunk being handed out, if it keeps the parser within its bound.
    fn hand_out(&mut self, cx: &mut Context<'_>) -> Option<Poll<Option<Result<Bytes, PayloadError>>>> {
        if self.just_handed {
            // Let the parser take the last piece first; this stream is polled again at once.
            self.just_handed = false;
            cx.waker().wake_by_ref();
            return Some(Poll::Pending);
        }
        let rest = self.rest.as_mut().filter(|r| !r.is_empty())?;
        let size = if self.tally.in_list.get() { rest.len() } else { rest.len().min(PIECE) };
        let piece = rest.split_to(size);
        let handed = self.tally.handed.get() + piece.len() as u64;
        self.tally.handed.set(handed);
        // Inside the list the parser yields what it takes (bounded by the upload limit); framing
        // is weighed everywhere else.
        if !self.tally.in_list.get() && handed.saturating_sub(self.tally.content.get()) > OVERHEAD + READ_AHEAD {
            return Some(self.refuse(Refusal::Overhead));
        }
        self.just_handed = true;
        Some(Poll::Ready(Some(Ok(piece))))
    }
}

impl<S: Stream<Item = Result<Bytes, PayloadError>> + Unpin> Stream for Guarded<S> {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(poll) = this.hand_out(cx) {
            return poll;
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let received = this.tally.received.get() + chunk.len() as u64;
                this.tally.received.set(received);
                if received > this.limit {
                    return this.refuse(Refusal::TooLarge { limit: this.limit });
                }
                // Progress is a window's worth of bytes, not a byte: a client trickling a byte
                // at a time cannot hold an upload slot for ever.
                this.since_reset += chunk.len() as u64;
                if this.since_reset >= MIN_PROGRESS {
                    this.since_reset = 0;
                    this.timer.as_mut().reset(Instant::now() + this.idle);
                }
                match &mut this.rest {
                    None => Poll::Ready(Some(Ok(chunk))),
                    Some(rest) => {
                        *rest = chunk;
                        this.hand_out(cx).unwrap_or(Poll::Ready(Some(Ok(Bytes::new()))))
                    }
                }
            }
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => this.refuse(Refusal::Idle { after: this.idle }),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
