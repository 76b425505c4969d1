//! Register storage: the snapshot in force (a compact blob per register), what each import
//! changed, the `listed_since` of entries added after a register's first import, and the import
//! history.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{register_changes, register_imports, register_listings, register_snapshots};
use super::{on_backend, DbConnection, QueryResult};

/// Rows in one multi-row insert (3 columns: well under the bind limits).
const CHUNK: usize = 5_000;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = register_snapshots)]
pub struct SnapshotHead {
    pub register: String,
    pub import_id: i64,
    pub as_of: NaiveDate,
    pub entries: i64,
    pub file_sha256: String,
    pub imported_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = register_snapshots)]
pub struct NewSnapshot {
    pub register: String,
    pub import_id: i64,
    pub as_of: NaiveDate,
    pub entries: i64,
    pub file_sha256: String,
    pub imported_at: NaiveDateTime,
    pub numbers: Vec<u8>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = register_imports)]
pub struct ImportRow {
    pub id: i64,
    pub register: String,
    pub as_of: NaiveDate,
    pub kind: String,
    pub file_sha256: String,
    pub status: String,
    pub error: Option<String>,
    pub records: i64,
    pub added: i64,
    pub removed: i64,
    pub unchanged: i64,
    pub rejected: i64,
    pub entries_after: i64,
    pub duration_ms: i64,
    pub imported_at: NaiveDateTime,
    pub report: String,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = register_imports)]
pub struct NewImport {
    pub register: String,
    pub as_of: NaiveDate,
    pub kind: String,
    pub file_sha256: String,
    pub status: String,
    pub error: Option<String>,
    pub records: i64,
    pub added: i64,
    pub removed: i64,
    pub unchanged: i64,
    pub rejected: i64,
    pub entries_after: i64,
    pub duration_ms: i64,
    pub imported_at: NaiveDateTime,
    pub report: String,
}

/// The heads of every snapshot (no numbers): cheap, polled to notice new imports.
pub fn heads(conn: &mut DbConnection) -> QueryResult<Vec<SnapshotHead>> {
    register_snapshots::table.select(SnapshotHead::as_select()).load(conn)
}

pub fn head(conn: &mut DbConnection, register: &str) -> QueryResult<Option<SnapshotHead>> {
    Ok(heads(conn)?.into_iter().find(|h| h.register == register))
}

/// The snapshot's numbers as stored (encoded).
pub fn numbers(conn: &mut DbConnection, register: &str) -> QueryResult<Option<(SnapshotHead, Vec<u8>)>> {
    let rows: Vec<(SnapshotHead, Vec<u8>)> = register_snapshots::table
        .filter(register_snapshots::register.eq(register))
        .select((SnapshotHead::as_select(), register_snapshots::numbers))
        .load(conn)?;
    Ok(rows.into_iter().next())
}

/// Every entry of a register with a known `listed_since`.
pub fn listings(conn: &mut DbConnection, register: &str) -> QueryResult<Vec<(i64, NaiveDate)>> {
    register_listings::table
        .filter(register_listings::register.eq(register))
        .select((register_listings::number, register_listings::listed_since))
        .load(conn)
}

/// The applied import of this file for this date, if any.
pub fn applied_file(conn: &mut DbConnection, register: &str, sha256: &str, as_of: NaiveDate) -> QueryResult<Option<ImportRow>> {
    let rows: Vec<ImportRow> = register_imports::table
        .filter(register_imports::register.eq(register))
        .filter(register_imports::file_sha256.eq(sha256))
        .filter(register_imports::as_of.eq(as_of))
        .filter(register_imports::status.eq("applied"))
        .select(ImportRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().next())
}

pub fn insert_import(conn: &mut DbConnection, row: &NewImport) -> QueryResult<i64> {
    on_backend!(conn, |c| diesel::insert_into(register_imports::table).values(row).returning(register_imports::id).get_result(c))
}

/// The import history, newest first.
pub fn imports(conn: &mut DbConnection, register: Option<&str>, limit: i64) -> QueryResult<Vec<ImportRow>> {
    let mut q = register_imports::table.select(ImportRow::as_select()).order(register_imports::id.desc()).limit(limit).into_boxed();
    if let Some(r) = register {
        q = q.filter(register_imports::register.eq(r.to_owned()));
    }
    q.load(conn)
}

/// Replace the register's snapshot.
pub fn put_snapshot(conn: &mut DbConnection, snapshot: &NewSnapshot) -> QueryResult<()> {
    on_backend!(conn, |c| diesel::insert_into(register_snapshots::table)
        .values(snapshot)
        .on_conflict(register_snapshots::register)
        .do_update()
        .set(snapshot)
        .execute(c))
    .map(drop)
}

/// Record what an import changed (numbers, or MPS key hashes).
pub fn record_changes(conn: &mut DbConnection, import_id: i64, added: &[u64], removed: &[u64]) -> QueryResult<()> {
    let change_rows: Vec<_> =
        added
            .iter()
            .map(|n| (register_changes::import_id.eq(import_id), register_changes::number.eq(*n as i64), register_changes::added.eq(1)))
            .chain(removed.iter().map(|n| {
                (register_changes::import_id.eq(import_id), register_changes::number.eq(*n as i64), register_changes::added.eq(0))
            }))
            .collect();
    for chunk in change_rows.chunks(CHUNK) {
        on_backend!(&mut *conn, |c| diesel::insert_into(register_changes::table).values(chunk).execute(c))?;
    }
    Ok(())
}

/// Keep `listed_since` for the numbers an import added; forget it for those it removed.
pub fn update_listings(
    conn: &mut DbConnection,
    register: &str,
    added: &[u64],
    removed: &[u64],
    listed_since: NaiveDate,
) -> QueryResult<()> {
    for chunk in removed.chunks(CHUNK) {
        let numbers: Vec<i64> = chunk.iter().map(|n| *n as i64).collect();
        diesel::delete(
            register_listings::table.filter(register_listings::register.eq(register)).filter(register_listings::number.eq_any(numbers)),
        )
        .execute(conn)?;
    }
    let listing_rows: Vec<_> = added
        .iter()
        .map(|n| {
            (
                register_listings::register.eq(register),
                register_listings::number.eq(*n as i64),
                register_listings::listed_since.eq(listed_since),
            )
        })
        .collect();
    for chunk in listing_rows.chunks(CHUNK) {
        on_backend!(&mut *conn, |c| diesel::insert_into(register_listings::table).values(chunk).execute(c))?;
    }
    Ok(())
}
