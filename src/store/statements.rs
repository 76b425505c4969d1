//! In-house statements: append-only rows, read as history or as the statement in force.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::statements;
use super::{on_backend, DbConnection, QueryError, QueryResult};
use crate::domain::preference::Said;
use crate::domain::{Channel, Source, StatementKind};

/// A statement to record.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = statements)]
pub struct NewStatement {
    pub contact_key: String,
    pub channel: Channel,
    pub kind: StatementKind,
    pub recorded_at: NaiveDateTime,
    pub source: Source,
    pub recorded_by: Option<String>,
    pub recorded_via: String,
    pub note: Option<String>,
    pub evidence: Option<String>,
}

impl NewStatement {
    /// The rows for one statement made about several (key, channel) pairs.
    pub fn for_targets(targets: Vec<(String, Channel)>, said: &Said, via: &str) -> Vec<NewStatement> {
        targets
            .into_iter()
            .map(|(key, channel)| NewStatement {
                contact_key: key,
                channel,
                kind: said.kind,
                recorded_at: said.recorded_at,
                source: said.source,
                recorded_by: said.recorded_by.clone(),
                recorded_via: via.to_owned(),
                note: said.note.clone(),
                evidence: said.evidence.clone(),
            })
            .collect()
    }
}

/// A recorded statement.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = statements)]
pub struct StatementRow {
    pub id: i64,
    pub contact_key: String,
    pub channel: Channel,
    pub kind: StatementKind,
    pub recorded_at: NaiveDateTime,
    pub source: Source,
    pub recorded_by: Option<String>,
    pub recorded_via: String,
    pub note: Option<String>,
    pub evidence: Option<String>,
}

/// Rows in one insert: ten columns a row stays far below either backend's bind-parameter limit.
const INSERT_CHUNK: usize = 500;

/// Insert rows and read them back as stored (with ids), in as few statements as the backends'
/// bind-parameter limits allow.
pub fn insert_returning(conn: &mut DbConnection, rows: &[NewStatement]) -> QueryResult<Vec<StatementRow>> {
    let mut stored = Vec::with_capacity(rows.len());
    match conn {
        // In-process: one cached prepared statement a row beats a new multi-row statement
        // prepared for each group size (measured: 13.7k against 10.0k opt-outs/s).
        DbConnection::Sqlite(c) => {
            for row in rows {
                stored.push(diesel::insert_into(statements::table).values(row).returning(StatementRow::as_returning()).get_result(c)?);
            }
        }
        // Over the network: one round trip for the group.
        DbConnection::Postgres(c) => {
            for chunk in rows.chunks(INSERT_CHUNK) {
                stored.extend(diesel::insert_into(statements::table).values(chunk).returning(StatementRow::as_returning()).get_results(c)?);
            }
        }
    }
    Ok(stored)
}

/// Insert many rows without reading them back (bulk loads), in chunks of one statement each.
pub fn insert_many(conn: &mut DbConnection, rows: &[NewStatement]) -> QueryResult<usize> {
    let mut n = 0;
    for chunk in rows.chunks(INSERT_CHUNK) {
        n += on_backend!(&mut *conn, |c| diesel::insert_into(statements::table).values(chunk).execute(c))?;
    }
    Ok(n)
}

/// Why a bulk insert wrote nothing.
#[derive(Debug)]
pub enum BulkError<E> {
    /// The source of the rows stopped the load.
    Source(E),
    Db(QueryError),
}

impl<E> From<QueryError> for BulkError<E> {
    fn from(e: QueryError) -> Self {
        BulkError::Db(e)
    }
}

/// Insert every batch of rows a source gives, in one transaction: all of them, or (the source
/// stopping with an error, or the database refusing a row) none. Returns the rows inserted.
pub fn insert_bulk<E>(conn: &mut DbConnection, batches: impl Iterator<Item = Result<Vec<NewStatement>, E>>) -> Result<usize, BulkError<E>> {
    conn.transaction::<_, BulkError<E>, _>(|c| {
        let mut n = 0;
        for batch in batches {
            n += insert_many(c, &batch.map_err(BulkError::Source)?)?;
        }
        Ok(n)
    })
}

/// After a bulk load, on PostgreSQL: the planner's statistics on statements, so that `since`
/// keeps to its index. (Until autovacuum gets to a table just loaded, PostgreSQL has no
/// statistics and guesses that a third of the rows match, and a sequential scan of every
/// statement in the hot path of every check follows.) SQLite reads `since` by id: nothing to do.
pub fn refresh_statistics(conn: &mut DbConnection) -> QueryResult<()> {
    match conn {
        DbConnection::Sqlite(_) => Ok(()),
        DbConnection::Postgres(c) => diesel::sql_query("ANALYZE statements").execute(c).map(drop),
    }
}

/// Every statement about these keys, oldest first.
/// Whether an opt-out of `key` on `channel` was recorded at or after `since`, before the
/// statement `before_id` (read from the in-force index alone).
pub fn opted_out_since(conn: &mut DbConnection, key: &str, channel: Channel, since: NaiveDateTime, before_id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        statements::table
            .filter(statements::contact_key.eq(key))
            .filter(statements::channel.eq(channel))
            .filter(statements::recorded_at.ge(since))
            .filter(statements::id.lt(before_id))
            .filter(statements::kind.eq(StatementKind::OptOut)),
    ))
    .get_result(conn)
}

pub fn history(conn: &mut DbConnection, keys: &[String]) -> QueryResult<Vec<StatementRow>> {
    statements::table
        .filter(statements::contact_key.eq_any(keys))
        .order((statements::recorded_at, statements::id))
        .select(StatementRow::as_select())
        .load(conn)
}

/// Statements about named people at a household (`POSTCODE|PREMISE|…`), by key range so the
/// index serves it.
pub fn household_members(conn: &mut DbConnection, household: &str) -> QueryResult<Vec<StatementRow>> {
    // '|' is followed by '}' in ASCII: every "household|SURNAME" key sorts between the two.
    let low = format!("{household}|");
    let high = format!("{household}}}");
    statements::table
        .filter(statements::contact_key.gt(low))
        .filter(statements::contact_key.lt(high))
        .order((statements::recorded_at, statements::id))
        .select(StatementRow::as_select())
        .load(conn)
}

/// Where a reader of the statements has got to: what `since` has already handed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// Nothing read yet.
    Start,
    /// SQLite: the highest id read. SQLite commits one writer at a time and a statement takes its
    /// id inside its writer's transaction, so ids become visible in order.
    Id(i64),
    /// PostgreSQL: the snapshot of the last read, as `pg_current_snapshot()` spells it
    /// (`xmin:xmax:xip,…`). Ids are not enough there: a transaction can take a lower id and
    /// commit after another has committed a higher one.
    Snapshot(String),
}

impl Cursor {
    /// The further on of two cursors that have both been read up to. Either is safe to keep (a
    /// read from the earlier one only hands back statements already applied); the later saves work.
    pub fn later(self, other: Cursor) -> Cursor {
        fn xmin_xmax(s: &str) -> (u64, u64) {
            let mut parts = s.split(':').map(|p| p.parse::<u64>().unwrap_or(0));
            let xmin = parts.next().unwrap_or(0);
            (xmin, parts.next().unwrap_or(0))
        }
        match (self, other) {
            (Cursor::Start, c) | (c, Cursor::Start) => c,
            (Cursor::Id(a), Cursor::Id(b)) => Cursor::Id(a.max(b)),
            (Cursor::Snapshot(a), Cursor::Snapshot(b)) => {
                let (ka, kb) = (xmin_xmax(&a), xmin_xmax(&b));
                Cursor::Snapshot(if (kb.1, kb.0) > (ka.1, ka.0) { b } else { a })
            }
            // Backends never mix in one process; keep the newer.
            (_, c) => c,
        }
    }
}

/// A statement as the index of statements in force needs it.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct Change {
    pub id: i64,
    pub contact_key: String,
    pub channel: Channel,
    pub recorded_at: NaiveDateTime,
    pub kind: StatementKind,
}

/// PostgreSQL's read, `statements_since` (migration 000006), as a query of its own type so the
/// connection prepares it once and keeps it: diesel never keeps a `sql_query`, and parsing it
/// on every check cost PostgreSQL more than the read.
#[derive(Debug, Clone, diesel::query_builder::QueryId)]
struct StatementsSince(String);

type SinceRow = (String, Option<i64>, Option<String>, Option<Channel>, Option<NaiveDateTime>, Option<StatementKind>);

impl diesel::query_builder::Query for StatementsSince {
    type SqlType = (
        diesel::sql_types::Text,
        diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
        diesel::sql_types::Nullable<diesel::sql_types::Text>,
        diesel::sql_types::Nullable<diesel::sql_types::Text>,
        diesel::sql_types::Nullable<diesel::sql_types::Timestamp>,
        diesel::sql_types::Nullable<diesel::sql_types::Text>,
    );
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for StatementsSince {
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.push_sql("SELECT snapshot, id, contact_key, channel, recorded_at, kind FROM statements_since(");
        out.push_bind_param::<diesel::sql_types::Text, _>(&self.0)?;
        out.push_sql(")");
        Ok(())
    }
}

impl RunQueryDsl<diesel::PgConnection> for StatementsSince {}

/// Every statement committed since `cursor` (and, on PostgreSQL, perhaps a few already handed
/// back: applying one twice changes nothing), with the cursor to read from next. One query, so a
/// reader that finds nothing new pays one indexed probe.
pub fn since(conn: &mut DbConnection, cursor: &Cursor) -> QueryResult<(Vec<Change>, Cursor)> {
    match conn {
        DbConnection::Sqlite(c) => {
            let from = match cursor {
                Cursor::Id(id) => *id,
                _ => 0,
            };
            let rows: Vec<Change> = statements::table
                .filter(statements::id.gt(from))
                .order(statements::id)
                .select((statements::id, statements::contact_key, statements::channel, statements::recorded_at, statements::kind))
                .load(c)?;
            let up_to = rows.last().map_or(from, |r| r.id);
            Ok((rows, Cursor::Id(up_to)))
        }
        DbConnection::Postgres(c) => {
            // A snapshot that sees no transaction at all: everything is new.
            let from = match cursor {
                Cursor::Snapshot(s) => s.as_str(),
                _ => "1:1:",
            };
            // The statements this read's snapshot sees and `from` did not, each row carrying
            // that snapshot.
            let rows: Vec<SinceRow> = StatementsSince(from.to_owned()).load(c)?;
            let next = rows.first().map(|r| r.0.clone()).unwrap_or_else(|| from.to_owned());
            let changes = rows
                .into_iter()
                .filter_map(|(_, id, contact_key, channel, recorded_at, kind)| {
                    Some(Change { id: id?, contact_key: contact_key?, channel: channel?, recorded_at: recorded_at?, kind: kind? })
                })
                .collect();
            Ok((changes, Cursor::Snapshot(next)))
        }
    }
}
