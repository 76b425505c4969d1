//! The outbox (CONTRACT §11): messages written before they are sent, claimed by one worker at a
//! time with a lease, and marked sent, retried or failed. Claiming is one statement: on
//! PostgreSQL the rows are locked with `FOR UPDATE SKIP LOCKED`, so workers of several instances
//! never claim the same message; SQLite has one writer at a time.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

use super::schema::outbox;
use super::{DbConnection, QueryResult};

/// Message states as stored.
pub const PENDING: &str = "pending";
pub const SENT: &str = "sent";
pub const FAILED: &str = "failed";
/// Written but not to be sent unless what wrote it fails to replace it (a nightly run's watchdog).
pub const HELD: &str = "held";

/// A message to write. `dedupe`: at most one message per key is ever written (the others are
/// dropped silently), across instances.
#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = outbox)]
pub struct NewMessage {
    pub kind: String,
    pub recipients: String,
    pub to_masked: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    /// What to say, where the parts are rendered when sent (empty parts).
    pub params: Option<String>,
    pub unsubscribe_url: Option<String>,
    pub message_id: String,
    pub dedupe: Option<String>,
    pub created_at: NaiveDateTime,
    pub status: String,
    pub next_attempt_at: NaiveDateTime,
}

/// A message claimed for sending: what the mailer needs.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = outbox)]
pub struct Claimed {
    pub id: i64,
    pub kind: String,
    pub recipients: String,
    pub to_masked: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub params: Option<String>,
    pub unsubscribe_url: Option<String>,
    pub message_id: String,
    pub created_at: NaiveDateTime,
    pub attempts: i32,
}

/// A message as listed (`GET /v1/outbox`, the admin page): never its recipients in clear.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct Listed {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub to_masked: String,
    pub created_at: NaiveDateTime,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sent_at: Option<NaiveDateTime>,
}

/// Write messages (in the caller's transaction, if any). Returns how many were written: a
/// message whose `dedupe` key is taken is not.
pub fn insert(conn: &mut DbConnection, messages: &[NewMessage]) -> QueryResult<usize> {
    match conn {
        // In-process: one cached prepared statement a row (as `statements::insert_returning`).
        DbConnection::Sqlite(c) => {
            let mut written = 0;
            for m in messages {
                written += diesel::insert_into(outbox::table).values(m).on_conflict_do_nothing().execute(c)?;
            }
            Ok(written)
        }
        // Over the network: one round trip for a group commit's messages.
        DbConnection::Postgres(c) if !messages.is_empty() => {
            diesel::insert_into(outbox::table).values(messages).on_conflict_do_nothing().execute(c)
        }
        DbConnection::Postgres(_) => Ok(0),
    }
}

/// Claim up to `limit` messages due at `now` for `worker` until `lease_until`, counting the
/// attempt. A message leased by another worker is skipped until its lease ends.
pub fn claim(
    conn: &mut DbConnection,
    worker: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Claimed>> {
    const COLUMNS: &str =
        "id, kind, recipients, to_masked, subject, body_text, body_html, params, unsubscribe_url, message_id, created_at, attempts";
    match conn {
        DbConnection::Postgres(c) => diesel::sql_query(format!(
            "UPDATE outbox SET lease_until = $1, leased_by = $2, attempts = attempts + 1 WHERE id IN (\
                 SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $3 \
                 AND (lease_until IS NULL OR lease_until < $3) ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING {COLUMNS}"
        ))
        .bind::<Timestamp, _>(lease_until)
        .bind::<Text, _>(worker)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load(c),
        DbConnection::Sqlite(c) => diesel::sql_query(format!(
            "UPDATE outbox SET lease_until = ?, leased_by = ?, attempts = attempts + 1 WHERE id IN (\
                 SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? \
                 AND (lease_until IS NULL OR lease_until < ?) ORDER BY id LIMIT ?) \
             RETURNING {COLUMNS}"
        ))
        .bind::<Timestamp, _>(lease_until)
        .bind::<Text, _>(worker)
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load(c),
    }
}

/// Put `message` in the place of the held message `dedupe` (one transaction): the watchdog of a
/// run that finished becomes its report.
pub fn replace_held(conn: &mut DbConnection, dedupe: &str, message: Option<&NewMessage>) -> QueryResult<()> {
    conn.transaction(|c| {
        diesel::delete(outbox::table.filter(outbox::dedupe.eq(dedupe)).filter(outbox::status.eq(HELD))).execute(c)?;
        insert(c, message.map(std::slice::from_ref).unwrap_or_default())?;
        Ok(())
    })
}

/// Held messages written before `cutoff` are due now: what held them stopped without replacing
/// them. Returns how many.
pub fn release_held(conn: &mut DbConnection, cutoff: NaiveDateTime, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(outbox::table.filter(outbox::status.eq(HELD)).filter(outbox::created_at.lt(cutoff)))
        .set((outbox::status.eq(PENDING), outbox::next_attempt_at.eq(now)))
        .execute(conn)
}

/// Whether any message is due at `now` (a read: on SQLite a claim is a write, and an idle worker
/// must not take the write lock every second).
pub fn any_due(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(outbox::table.filter(outbox::status.eq(PENDING)).filter(outbox::next_attempt_at.le(now))))
        .get_result(conn)
}

/// Extend the worker's lease on `id` just before sending it. False: the message is no longer
/// this worker's (its lease ended and another worker claimed it) or no longer pending.
pub fn renew(conn: &mut DbConnection, id: i64, worker: &str, lease_until: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(outbox::table.filter(outbox::id.eq(id)).filter(outbox::leased_by.eq(worker)).filter(outbox::status.eq(PENDING)))
        .set(outbox::lease_until.eq(Some(lease_until)))
        .execute(conn)
        .map(|n| n > 0)
}

/// Give back the worker's claimed messages it will not send now (a deadline came): due at once
/// for any worker.
pub fn release(conn: &mut DbConnection, ids: &[i64], worker: &str) -> QueryResult<usize> {
    diesel::update(outbox::table.filter(outbox::id.eq_any(ids)).filter(outbox::leased_by.eq(worker)).filter(outbox::status.eq(PENDING)))
        .set(outbox::lease_until.eq(None::<NaiveDateTime>))
        .execute(conn)
}

/// The worker's message `id` was accepted by the mail server. Returns whether it was still this
/// worker's to mark.
pub fn mark_sent(conn: &mut DbConnection, id: i64, worker: &str, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(outbox::table.filter(outbox::id.eq(id)).filter(outbox::leased_by.eq(worker)).filter(outbox::status.eq(PENDING)))
        .set((
            outbox::status.eq(SENT),
            outbox::sent_at.eq(Some(now)),
            outbox::lease_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)
        .map(|n| n > 0)
}

/// Sending `id` failed with `error`: tried again from `next` (pending), or given up (failed).
pub fn mark_unsent(conn: &mut DbConnection, id: i64, worker: &str, error: &str, next: Option<NaiveDateTime>) -> QueryResult<bool> {
    let target = outbox::table.filter(outbox::id.eq(id)).filter(outbox::leased_by.eq(worker)).filter(outbox::status.eq(PENDING));
    let changed = match next {
        Some(at) => diesel::update(target)
            .set((outbox::next_attempt_at.eq(at), outbox::lease_until.eq(None::<NaiveDateTime>), outbox::last_error.eq(Some(error))))
            .execute(conn)?,
        None => diesel::update(target)
            .set((outbox::status.eq(FAILED), outbox::lease_until.eq(None::<NaiveDateTime>), outbox::last_error.eq(Some(error))))
            .execute(conn)?,
    };
    Ok(changed > 0)
}

/// The latest messages, newest first; `before` pages back by id; `kind` narrows them.
pub fn list(conn: &mut DbConnection, kind: Option<&str>, before: Option<i64>, limit: i64) -> QueryResult<Vec<Listed>> {
    let mut query = outbox::table.select(Listed::as_select()).order(outbox::id.desc()).limit(limit).into_boxed();
    if let Some(kind) = kind {
        // A literal, as the partial indexes of report kinds are written (a bound value would not
        // let the planner use them); a kind is a word of ours, never a caller's text.
        if !kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Ok(Vec::new());
        }
        query = query.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!("kind = '{kind}'")));
    }
    if let Some(before) = before {
        query = query.filter(outbox::id.lt(before));
    }
    query.load(conn)
}

/// Messages waiting to be sent.
pub fn pending(conn: &mut DbConnection) -> QueryResult<i64> {
    outbox::table.filter(outbox::status.eq(PENDING)).count().get_result(conn)
}
