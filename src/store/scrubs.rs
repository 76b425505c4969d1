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
}

pub fn insert(conn: &mut DbConnection, row: &NewScrub) -> QueryResult<i64> {
    on_backend!(conn, |c| diesel::insert_into(scrubs::table).values(row).returning(scrubs::id).get_result(c))
}

pub fn set_summary(conn: &mut DbConnection, id: i64, summary: &str) -> QueryResult<()> {
    diesel::update(scrubs::table.filter(scrubs::id.eq(id))).set(scrubs::summary.eq(summary)).execute(conn).map(drop)
}

/// A scrub's result blocks, in order.
pub fn insert_blocks(conn: &mut DbConnection, scrub_id: i64, blocks: &[Vec<u8>]) -> QueryResult<()> {
    for (seq, data) in blocks.iter().enumerate() {
        let seq = i32::try_from(seq).map_err(|_| diesel::result::Error::QueryBuilderError("a result has too many blocks".into()))?;
        diesel::insert_into(scrub_results::table)
            .values((scrub_results::scrub_id.eq(scrub_id), scrub_results::seq.eq(seq), scrub_results::data.eq(data)))
            .execute(conn)?;
    }
    Ok(())
}

pub fn get(conn: &mut DbConnection, id: i64) -> QueryResult<Option<ScrubRow>> {
    let rows: Vec<ScrubRow> = scrubs::table.filter(scrubs::id.eq(id)).select(ScrubRow::as_select()).load(conn)?;
    Ok(rows.into_iter().next())
}

/// Past scrubs, newest first.
pub fn list(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<ScrubRow>> {
    scrubs::table.select(ScrubRow::as_select()).order(scrubs::id.desc()).limit(limit).load(conn)
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

/// Delete the results of scrubs whose retention has passed; their summaries stay.
pub fn expire(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    let expired = scrubs::table.filter(scrubs::results_expire_at.le(now)).select(scrubs::id);
    diesel::delete(scrub_results::table.filter(scrub_results::scrub_id.eq_any(expired))).execute(conn)
}
