//! Scrubs: their summaries (kept) and their results (LZ4 blocks of row records, see
//! `scrub::results`, until they expire).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::columns::{json, ScrubState};
use super::schema::{scrub_results, scrubs};
use super::{on_backend, DbConnection, QueryResult};
use crate::domain::Channel;

/// A finished scrub, its summary read as JSON.
#[derive(Debug, Clone)]
pub struct ScrubRow {
    pub id: i64,
    pub created_at: NaiveDateTime,
    pub name: Option<String>,
    pub channel: Channel,
    pub created_by: String,
    pub summary: serde_json::Value,
    pub results_expire_at: NaiveDateTime,
}

/// A scrub row as stored: its summary the JSON text.
#[derive(Queryable, Selectable)]
#[diesel(table_name = scrubs)]
struct StoredScrub {
    id: i64,
    created_at: NaiveDateTime,
    name: Option<String>,
    channel: Channel,
    created_by: String,
    summary: String,
    results_expire_at: NaiveDateTime,
}

impl TryFrom<StoredScrub> for ScrubRow {
    type Error = diesel::result::Error;

    /// A summary that is not JSON is an error naming the scrub, never a `null`.
    fn try_from(s: StoredScrub) -> QueryResult<ScrubRow> {
        Ok(ScrubRow {
            summary: json("scrubs", s.id, "summary", &s.summary)?,
            id: s.id,
            created_at: s.created_at,
            name: s.name,
            channel: s.channel,
            created_by: s.created_by,
            results_expire_at: s.results_expire_at,
        })
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = scrubs)]
pub struct NewScrub {
    pub created_at: NaiveDateTime,
    pub name: Option<String>,
    pub channel: Channel,
    pub created_by: String,
    pub summary: String,
    pub results_expire_at: NaiveDateTime,
    pub state: ScrubState,
}

/// A pending scrub left longer than this was abandoned (its server died midway).
const ABANDONED_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(6);

/// Start a scrub: its row, [`ScrubState::Pending`] (listed nowhere until [`finish`]), to write its
/// result blocks under.
pub fn begin(conn: &mut DbConnection, row: &NewScrub) -> QueryResult<i64> {
    on_backend!(conn, |c| diesel::insert_into(scrubs::table).values(row).returning(scrubs::id).get_result(c))
}

/// Write a scrub's summary and make it (and its result) visible, in one step.
pub fn finish(conn: &mut DbConnection, id: i64, summary: &str, results_expire_at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(scrubs::table.filter(scrubs::id.eq(id)))
        .set((scrubs::summary.eq(summary), scrubs::results_expire_at.eq(results_expire_at), scrubs::state.eq(ScrubState::Done)))
        .execute(conn)
        .map(drop)
}

/// Remove a scrub that failed: its blocks and its pending row.
pub fn discard(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
    conn.transaction(|c| {
        diesel::delete(scrub_results::table.filter(scrub_results::scrub_id.eq(id))).execute(c)?;
        diesel::delete(scrubs::table.filter(scrubs::id.eq(id)).filter(scrubs::state.eq(ScrubState::Pending))).execute(c).map(drop)
    })
}

/// Result blocks of a scrub, numbered from `first`, in one multi-row insert.
pub fn insert_blocks(conn: &mut DbConnection, scrub_id: i64, first: i32, blocks: &[Vec<u8>]) -> QueryResult<()> {
    let rows = blocks
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let seq = i32::try_from(i)
                .ok()
                .and_then(|i| first.checked_add(i))
                .ok_or_else(|| diesel::result::Error::QueryBuilderError("a result has too many blocks".into()))?;
            Ok((scrub_results::scrub_id.eq(scrub_id), scrub_results::seq.eq(seq), scrub_results::data.eq(data)))
        })
        .collect::<QueryResult<Vec<_>>>()?;
    on_backend!(conn, |c| diesel::insert_into(scrub_results::table).values(&rows).execute(c)).map(drop)
}

/// A finished scrub.
pub fn get(conn: &mut DbConnection, id: i64) -> QueryResult<Option<ScrubRow>> {
    let rows: Vec<StoredScrub> =
        scrubs::table.filter(scrubs::id.eq(id)).filter(scrubs::state.eq(ScrubState::Done)).select(StoredScrub::as_select()).load(conn)?;
    rows.into_iter().next().map(ScrubRow::try_from).transpose()
}

/// Past scrubs (finished), newest first.
pub fn list(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<ScrubRow>> {
    let rows: Vec<StoredScrub> = scrubs::table
        .filter(scrubs::state.eq(ScrubState::Done))
        .select(StoredScrub::as_select())
        .order(scrubs::id.desc())
        .limit(limit)
        .load(conn)?;
    rows.into_iter().map(ScrubRow::try_from).collect()
}

/// A page of past scrubs (finished), newest first: `limit` of them after the first `offset`.
pub fn page(conn: &mut DbConnection, offset: i64, limit: i64) -> QueryResult<Vec<ScrubRow>> {
    let rows: Vec<StoredScrub> = scrubs::table
        .filter(scrubs::state.eq(ScrubState::Done))
        .select(StoredScrub::as_select())
        .order(scrubs::id.desc())
        .offset(offset)
        .limit(limit)
        .load(conn)?;
    rows.into_iter().map(ScrubRow::try_from).collect()
}

/// One block of a scrub's result (None past the last).
pub fn block(conn: &mut DbConnection, scrub_id: i64, seq: i32) -> QueryResult<Option<Vec<u8>>> {
    let rows: Vec<Vec<u8>> = scrub_results::table
        .filter(scrub_results::scrub_id.eq(scrub_id))
        .filter(scrub_results::seq.eq(seq))
        .select(scrub_results::data)
        .load(conn)?;
    Ok(rows.into_iter().next())
}

/// Delete the results of scrubs whose retention has passed (their summaries stay), and scrubs
/// abandoned while pending. Returns the blocks deleted.
pub fn expire(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    let expired = scrubs::table.filter(scrubs::state.eq(ScrubState::Done)).filter(scrubs::results_expire_at.le(now)).select(scrubs::id);
    let blocks = diesel::delete(scrub_results::table.filter(scrub_results::scrub_id.eq_any(expired))).execute(conn)?;
    let abandoned =
        scrubs::table.filter(scrubs::state.eq(ScrubState::Pending)).filter(scrubs::created_at.le(now - ABANDONED_AFTER)).select(scrubs::id);
    let ids: Vec<i64> = abandoned.load(conn)?;
    for id in &ids {
        discard(conn, *id)?;
    }
    Ok(blocks)
}
