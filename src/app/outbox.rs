//! The outbox: a message written on its own (a nightly run's report, an alarm, a failure that
//! reached no history row), what the senders claim and mark (`notify::worker`), and the outbox
//! as admins read it (`GET /v1/outbox`, the admin and registers pages): what was written, to whom
//! (masked), and whether it went. Messages an event causes are written with the event, by the
//! store function that writes it.

use serde::Serialize;

use super::error::{AppError, ErrorCode};
use super::mail::{IMPORT_REPORT, SPOOL_REPORT};
use crate::domain::time::rfc3339;
use chrono::NaiveDateTime;

use crate::store::outbox;
pub use crate::store::outbox::{Claimed, NewMessage, FAILED, HELD, PENDING, SENT};
use crate::store::writer::Writer;
use crate::store::{DbConnection, Store};

/// Write one message; false when its dedupe key was taken (already written today).
pub fn write(store: &Store, message: NewMessage) -> anyhow::Result<bool> {
    Ok(outbox::insert(&mut *store.conn()?, &[message])? > 0)
}

/// Put `message` (the report) in the place of the held watchdog `held`, in one transaction.
pub fn replace_held(store: &Store, held: &str, message: Option<&NewMessage>) -> anyhow::Result<()> {
    Ok(outbox::replace_held(&mut *store.conn()?, held, message)?)
}

/// Write one message, logging (not failing) when it cannot be.
pub fn write_or_log(store: &Store, message: NewMessage, what: &str) {
    if let Err(e) = write(store, message) {
        tracing::error!(error = %format!("{e:#}"), "could not write {what} to the outbox");
    }
}

/// What a sender does with the outbox (`notify::worker`). Its writes (claims, renewals, marks)
/// go through the writer thread, committed with the statements beside them: on SQLite, senders
/// never fight the statement writer for the one write lock.
#[derive(Clone)]
pub struct Senders {
    store: Store,
    writer: Writer,
}

impl Senders {
    pub fn new(store: Store, writer: Writer) -> Senders {
        Senders { store, writer }
    }

    /// A read: an idle sender takes no write lock.
    pub fn any_due(&self, now: NaiveDateTime) -> anyhow::Result<bool> {
        Ok(outbox::any_due(&mut *self.store.conn()?, now)?)
    }

    pub fn claim(&self, worker: &str, now: NaiveDateTime, lease_until: NaiveDateTime, limit: i64) -> anyhow::Result<Vec<Claimed>> {
        let worker = worker.to_owned();
        Ok(self.writer.write_blocking(move |c| outbox::claim(c, &worker, now, lease_until, limit))?)
    }

    pub fn renew(&self, id: i64, worker: &str, lease_until: NaiveDateTime) -> anyhow::Result<bool> {
        let worker = worker.to_owned();
        Ok(self.writer.write_blocking(move |c| outbox::renew(c, id, &worker, lease_until))?)
    }

    pub fn release(&self, ids: &[i64], worker: &str) -> anyhow::Result<usize> {
        let (ids, worker) = (ids.to_vec(), worker.to_owned());
        Ok(self.writer.write_blocking(move |c| outbox::release(c, &ids, &worker))?)
    }

    pub fn sent(&self, id: i64, worker: &str, now: NaiveDateTime) -> anyhow::Result<bool> {
        let worker = worker.to_owned();
        Ok(self.writer.write_blocking(move |c| outbox::mark_sent(c, id, &worker, now))?)
    }

    pub fn unsent(&self, id: i64, worker: &str, error: &str, next: Option<NaiveDateTime>) -> anyhow::Result<bool> {
        let (worker, error) = (worker.to_owned(), error.to_owned());
        Ok(self.writer.write_blocking(move |c| outbox::mark_unsent(c, id, &worker, &error, next))?)
    }
}

/// Messages listed at most at once.
pub const MAX_LIMIT: i64 = 1_000;

/// One message as listed (CONTRACT §11): never its recipients in clear.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub to_masked: String,
    pub created_at: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sent_at: Option<String>,
}

impl From<outbox::Listed> for Listed {
    fn from(m: outbox::Listed) -> Listed {
        Listed {
            id: m.id,
            kind: m.kind,
            subject: m.subject,
            to_masked: m.to_masked,
            created_at: rfc3339(m.created_at),
            status: m.status,
            attempts: m.attempts,
            last_error: m.last_error,
            sent_at: m.sent_at.map(rfc3339),
        }
    }
}

/// The latest messages, newest first (`before`: older than that id; at most `limit`, 1 to 1,000).
pub fn list(conn: &mut DbConnection, before: Option<i64>, limit: Option<i64>) -> Result<Vec<Listed>, AppError> {
    let limit = limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::field(ErrorCode::InvalidQuery, "limit", format!("limit must be from 1 to {MAX_LIMIT}")));
    }
    Ok(outbox::list(conn, None, before, limit)?.into_iter().map(Listed::from).collect())
}

/// The latest import report (one import's or a spool run's), if any.
pub fn latest_report(conn: &mut DbConnection) -> Result<Option<Listed>, AppError> {
    let one = outbox::list(conn, Some(IMPORT_REPORT), None, 1)?.into_iter().next();
    let run = outbox::list(conn, Some(SPOOL_REPORT), None, 1)?.into_iter().next();
    Ok(one.into_iter().chain(run).max_by_key(|m| m.id).map(Listed::from))
}
