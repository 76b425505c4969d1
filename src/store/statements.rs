//! In-house statements: append-only rows, read as history or as the statement in force.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::statements;
use super::{on_backend, DbConnection, QueryError, QueryResult};
use crate::domain::preference::{is_later, Said};
use crate::domain::Channel;

/// A statement to record.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = statements)]
pub struct NewStatement {
    pub contact_key: String,
    pub channel: String,
    pub kind: String,
    pub recorded_at: NaiveDateTime,
    pub source: String,
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
                channel: channel.to_string(),
                kind: said.kind.to_string(),
                recorded_at: said.recorded_at,
                source: said.source.to_string(),
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
    pub channel: String,
    pub kind: String,
    pub recorded_at: NaiveDateTime,
    pub source: String,
    pub recorded_by: Option<String>,
    pub recorded_via: String,
    pub note: Option<String>,
    pub evidence: Option<String>,
}

#[derive(QueryableByName)]
struct KeyKind {
    #[diesel(sql_type = diesel::sql_types::Text)]
    contact_key: String,
    #[diesel(sql_type = diesel::sql_types::Timestamp)]
    recorded_at: NaiveDateTime,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
}

/// Bind parameters per `IN (…)` list: well under SQLite's 32,766 and PostgreSQL's 65,535.
const CHUNK: usize = 2_000;
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

/// Every statement about these keys, oldest first.
pub fn history(conn: &mut DbConnection, keys: &[String]) -> QueryResult<Vec<StatementRow>> {
    statements::table
        .filter(statements::contact_key.eq_any(keys))
        .order((statements::recorded_at, statements::id))
        .select(StatementRow::as_select())
        .load(conn)
}

/// The statement in force for one key on one channel. Run on the inner connection so that the
/// prepared statement is cached, and without `LIMIT ?`: SQLite re-prepares a statement whose
/// LIMIT is a bound parameter on every run (+5 µs), and a key has few statements.
pub fn in_force(conn: &mut DbConnection, key: &str, channel: &str) -> QueryResult<Option<StatementRow>> {
    let rows: Vec<StatementRow> = on_backend!(conn, |c| statements::table
        .filter(statements::contact_key.eq(key))
        .filter(statements::channel.eq(channel))
        .order((statements::recorded_at.desc(), statements::id.desc()))
        .select(StatementRow::as_select())
        .load(c))?;
    Ok(rows.into_iter().next())
}

/// The kind of the statement in force for each of many keys on one channel, in one query per
/// chunk of keys. Keys with no statement are absent.
pub fn kinds_in_force(conn: &mut DbConnection, keys: &[&str], channel: &str) -> QueryResult<HashMap<String, String>> {
    // One key (a dialler's check): a fixed-shape query the connection keeps prepared; an
    // `IN (…)` list is prepared anew each time.
    if let [key] = keys {
        return Ok(in_force(conn, key, channel)?.map(|row| (row.contact_key, row.kind)).into_iter().collect());
    }
    let mut latest: HashMap<String, (NaiveDateTime, i64, String)> = HashMap::new();
    for chunk in keys.chunks(CHUNK) {
        let rows: Vec<(String, NaiveDateTime, i64, String)> = match conn {
            // The keys as one JSON array: one statement, prepared once and cached, however many
            // keys (an `IN (?, ?, …)` list is a new statement for each length).
            DbConnection::Sqlite(c) => {
                let json = serde_json::to_string(chunk).map_err(|e| QueryError::SerializationError(Box::new(e)))?;
                diesel::sql_query(
                    "SELECT contact_key, recorded_at, id, kind FROM statements \
                     WHERE channel = ? AND contact_key IN (SELECT value FROM json_each(?))",
                )
                .bind::<diesel::sql_types::Text, _>(channel)
                .bind::<diesel::sql_types::Text, _>(json)
                .load::<KeyKind>(c)?
                .into_iter()
                .map(|r| (r.contact_key, r.recorded_at, r.id, r.kind))
                .collect()
            }
            DbConnection::Postgres(c) => statements::table
                .filter(statements::channel.eq(channel))
                .filter(statements::contact_key.eq_any(chunk))
                .select((statements::contact_key, statements::recorded_at, statements::id, statements::kind))
                .load(c)?,
        };
        for (key, at, id, kind) in rows {
            let newer = latest.get(&key).is_none_or(|(t, i, _)| is_later((at, id), (*t, *i)));
            if newer {
                latest.insert(key, (at, id, kind));
            }
        }
    }
    Ok(latest.into_iter().map(|(k, (_, _, kind))| (k, kind)).collect())
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

/// A statement in force, as a scrub needs it: (recorded_at, id, kind).
pub type InForce = (NaiveDateTime, i64, String);

/// The statement in force for every key on one channel, in one pass: what a scrub reads once at
/// its start. Also returns the highest statement id seen (the state the scrub used).
pub fn all_in_force(conn: &mut DbConnection, channel: &str) -> QueryResult<(HashMap<String, InForce>, i64)> {
    let rows: Vec<(String, NaiveDateTime, i64, String)> = statements::table
        .filter(statements::channel.eq(channel))
        .select((statements::contact_key, statements::recorded_at, statements::id, statements::kind))
        .load(conn)?;
    let mut latest: HashMap<String, InForce> = HashMap::with_capacity(rows.len());
    let mut max_id = 0;
    for (key, at, id, kind) in rows {
        max_id = max_id.max(id);
        if latest.get(&key).is_none_or(|(t, i, _)| is_later((at, id), (*t, *i))) {
            latest.insert(key, (at, id, kind));
        }
    }
    Ok((latest, max_id))
}
