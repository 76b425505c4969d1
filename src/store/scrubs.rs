//! Scrubs: their summaries (kept) and their results (LZ4 blocks of row records, see
//! `scrub::results`, until they expire).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{scrub_results, scrubs};
use super::{on_backend, DbConnection, QueryResult};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = scrubs)]
pub struct ScrubRow {
    pub id: i64,
    pub created_at: NaiveDateTime,
    pub name: Option<String>,
    pub channel: String,
    pub created_by: String,
    pub summary: String,
    pub results_expire_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = scrubs)]
pub struct NewScrub {
    pub created_at: NaiveDateTime,
    pub name: Option<String>,
    pub channel: String,
    pub created_by: String,
    pub summary: String,
    pub results_expire_at: NaiveDateTime,
    pub state: String,
}

/// A scrub whose result is being written: listed nowhere until [`finish`].
pub const PENDING: &str = "pending";
const DONE: &str = "done";

/// A pending scrub left longer than this was abandoned (its server died midway).
const ABANDONED_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(6);

/// Start a scrub: its row, pending, to write its result blocks under.
pub fn begin(conn: &mut DbConnection, row: &NewScrub) -> QueryResult<i64> {
    on_backend!(conn, |c| diesel::insert_into(scrubs::table).values(row).returning(scrubs::id).get_result(c))
}

/// Write a scrub's summary and make it (and its result) visible, in one step.
pub fn finish(conn: &mut DbConnection, id: i64, summary: &str, results_expire_at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(scrubs::table.filter(scrubs::id.eq(id)))
        .set((scrubs::summary.eq(summary), scrubs::results_expire_at.eq(results_expire_at), scrubs::state.eq(DONE)))
        .execute(conn)
        .map(drop)
}

/// Remove a scrub that failed: its blocks and its pending row.
pub fn discard(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
    conn.transaction(|c| {
        diesel::delete(scrub_results::table.filter(scrub_results::scrub_id.eq(id))).execute(c)?;
        diesel::delete(scrubs::table.filter(scrubs::id.eq(id)).filter(scrubs::state.eq(PENDING))).execute(c).map(drop)
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
    let rows: Vec<ScrubRow> =
        scrubs::table.filter(scrubs::id.eq(id)).filter(scrubs::state.eq(DONE)).select(ScrubRow::as_select()).load(conn)?;
    Ok(rows.into_iter().next())
}

/// Past scrubs (finished), newest first.
pub fn list(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<ScrubRow>> {
    scrubs::table.filter(scrubs::state.eq(DONE)).select(ScrubRow::as_select()).order(scrubs::id.desc()).limit(limit).load(conn)
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
    let expired = scrubs::table.filter(scrubs::state.eq(DONE)).filter(scrubs::results_expire_at.le(now)).select(scrubs::id);
    let blocks = diesel::delete(scrub_results::table.filter(scrub_results::scrub_id.eq_any(expired))).execute(conn)?;
    let abandoned = scrubs::table.filter(scrubs::state.eq(PENDING)).filter(scrubs::created_at.le(now - ABANDONED_AFTER)).select(scrubs::id);
    let ids: Vec<i64> = abandoned.load(conn)?;
    for id in &ids {
        discard(conn, *id)?;
    }
    Ok(blocks)
}
