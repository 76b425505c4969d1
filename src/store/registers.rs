//! Register storage: the snapshot in force (a compact blob per register), what each import
//! changed, the `listed_since` of entries added after a register's first import, and the import
//! history.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::columns::{json, ImportKind, ImportStatus};
use super::schema::{register_changes, register_imports, register_listings, register_snapshots};
use super::{is_unique_violation, on_backend, DbConnection, QueryError, QueryResult};
use crate::domain::Register;

/// Rows in one multi-row insert (3 columns: well under the bind limits).
const CHUNK: usize = 5_000;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = register_snapshots)]
pub struct SnapshotHead {
    pub register: Register,
    pub import_id: i64,
    pub as_of: NaiveDate,
    pub entries: i64,
    pub file_sha256: String,
    pub imported_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = register_snapshots)]
pub struct NewSnapshot {
    pub register: Register,
    pub import_id: i64,
    pub as_of: NaiveDate,
    pub entries: i64,
    pub file_sha256: String,
    pub imported_at: NaiveDateTime,
    pub numbers: Vec<u8>,
}

/// A row of the import history, its report read as JSON.
#[derive(Debug, Clone)]
pub struct ImportRow {
    pub id: i64,
    pub register: Register,
    pub as_of: NaiveDate,
    pub kind: ImportKind,
    pub file_sha256: String,
    pub status: ImportStatus,
    pub error: Option<String>,
    pub records: i64,
    pub added: i64,
    pub removed: i64,
    pub unchanged: i64,
    pub rejected: i64,
    pub entries_after: i64,
    pub duration_ms: i64,
    pub imported_at: NaiveDateTime,
    pub report: serde_json::Value,
    pub undoes: Option<i64>,
}

/// A row of the import history as stored: its report the JSON text.
#[derive(Queryable, Selectable)]
#[diesel(table_name = register_imports)]
struct StoredImport {
    id: i64,
    register: Register,
    as_of: NaiveDate,
    kind: ImportKind,
    file_sha256: String,
    status: ImportStatus,
    error: Option<String>,
    records: i64,
    added: i64,
    removed: i64,
    unchanged: i64,
    rejected: i64,
    entries_after: i64,
    duration_ms: i64,
    imported_at: NaiveDateTime,
    report: String,
    undoes: Option<i64>,
}

impl TryFrom<StoredImport> for ImportRow {
    type Error = diesel::result::Error;

    /// A report that is not JSON is an error naming the import, never a `null`.
    fn try_from(r: StoredImport) -> QueryResult<ImportRow> {
        Ok(ImportRow {
            report: json("register_imports", r.id, "report", &r.report)?,
            id: r.id,
            register: r.register,
            as_of: r.as_of,
            kind: r.kind,
            file_sha256: r.file_sha256,
            status: r.status,
            error: r.error,
            records: r.records,
            added: r.added,
            removed: r.removed,
            unchanged: r.unchanged,
            rejected: r.rejected,
            entries_after: r.entries_after,
            duration_ms: r.duration_ms,
            imported_at: r.imported_at,
            undoes: r.undoes,
        })
    }
}

/// The first of the rows read, as an [`ImportRow`].
fn first_import(rows: Vec<StoredImport>) -> QueryResult<Option<ImportRow>> {
    rows.into_iter().next().map(ImportRow::try_from).transpose()
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = register_imports)]
pub struct NewImport {
    pub register: Register,
    pub as_of: NaiveDate,
    pub kind: ImportKind,
    pub file_sha256: String,
    pub status: ImportStatus,
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
    /// An undo: the import it undid.
    pub undoes: Option<i64>,
}

/// What one import did to one entry (a number, or an MPS key hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Removed = 0,
    Added = 1,
    /// Kept, with another `listed_since` or deceased flag (MPS).
    Changed = 2,
}

/// One entry an import changed, with what it was before (removed and changed entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub number: u64,
    pub kind: ChangeKind,
    pub listed_since: Option<NaiveDate>,
    pub deceased: bool,
}

/// The heads of every snapshot (no numbers): cheap, polled to notice new imports.
pub fn heads(conn: &mut DbConnection) -> QueryResult<Vec<SnapshotHead>> {
    register_snapshots::table.select(SnapshotHead::as_select()).load(conn)
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
    let rows: Vec<StoredImport> = register_imports::table
        .filter(register_imports::register.eq(register))
        .filter(register_imports::file_sha256.eq(sha256))
        .filter(register_imports::as_of.eq(as_of))
        .filter(register_imports::status.eq(ImportStatus::Applied))
        .filter(register_imports::kind.ne(ImportKind::Undo))
        .select(StoredImport::as_select())
        .load(conn)?;
    first_import(rows)
}

pub fn insert_import(conn: &mut DbConnection, row: &NewImport) -> QueryResult<i64> {
    on_backend!(conn, |c| diesel::insert_into(register_imports::table).values(row).returning(register_imports::id).get_result(c))
}

/// A row in the import history and the messages it causes (its report), in one transaction.
pub fn insert_import_noting(conn: &mut DbConnection, row: &NewImport, messages: &[super::outbox::NewMessage]) -> QueryResult<i64> {
    conn.transaction(|c| {
        let id = insert_import(c, row)?;
        super::outbox::insert(c, messages)?;
        Ok(id)
    })
}

/// The import history, newest first.
pub fn imports(conn: &mut DbConnection, register: Option<&str>, limit: i64) -> QueryResult<Vec<ImportRow>> {
    let mut q = register_imports::table.select(StoredImport::as_select()).order(register_imports::id.desc()).limit(limit).into_boxed();
    if let Some(r) = register {
        q = q.filter(register_imports::register.eq(r.to_owned()));
    }
    q.load::<StoredImport>(conn)?.into_iter().map(ImportRow::try_from).collect()
}

/// One row of the import history.
pub fn import_by_id(conn: &mut DbConnection, id: i64) -> QueryResult<Option<ImportRow>> {
    let rows: Vec<StoredImport> =
        register_imports::table.filter(register_imports::id.eq(id)).select(StoredImport::as_select()).load(conn)?;
    first_import(rows)
}

/// The latest import of a register applied before `before_id` and not undone: whose snapshot an
/// undo of `before_id` restores.
pub fn previous_applied(conn: &mut DbConnection, register: &str, before_id: i64) -> QueryResult<Option<ImportRow>> {
    let rows: Vec<StoredImport> = register_imports::table
        .filter(register_imports::register.eq(register))
        .filter(register_imports::id.lt(before_id))
        .filter(register_imports::status.eq(ImportStatus::Applied))
        .filter(register_imports::kind.ne(ImportKind::Undo))
        .order(register_imports::id.desc())
        .limit(1)
        .select(StoredImport::as_select())
        .load(conn)?;
    first_import(rows)
}

/// Mark an applied import undone; 0 when it was not (any longer) applied.
pub fn mark_undone(conn: &mut DbConnection, id: i64) -> QueryResult<usize> {
    diesel::update(register_imports::table.filter(register_imports::id.eq(id)).filter(register_imports::status.eq(ImportStatus::Applied)))
        .set(register_imports::status.eq(ImportStatus::Undone))
        .execute(conn)
}

/// Inside a transaction that has already written (SQLite: so it holds the one write lock), the
/// import id of the register's snapshot, locked on PostgreSQL until the transaction ends: two
/// imports or undos of one register never both build on the same snapshot.
pub fn lock_head(conn: &mut DbConnection, register: &str) -> QueryResult<Option<i64>> {
    let q = register_snapshots::table.filter(register_snapshots::register.eq(register)).select(register_snapshots::import_id);
    let ids: Vec<i64> = match conn {
        DbConnection::Postgres(c) => q.for_update().load(c)?,
        DbConnection::Sqlite(c) => q.load(c)?,
    };
    Ok(ids.into_iter().next())
}

/// Write the register's snapshot: a new row for a register that had none (a unique violation
/// if another transaction made one meanwhile), else a replacement of the row `lock_head` locked.
pub fn put_snapshot(conn: &mut DbConnection, snapshot: &NewSnapshot, replace: bool) -> QueryResult<()> {
    if replace {
        diesel::update(register_snapshots::table.filter(register_snapshots::register.eq(snapshot.register)))
            .set(snapshot)
            .execute(conn)
            .map(drop)
    } else {
        diesel::insert_into(register_snapshots::table).values(snapshot).execute(conn).map(drop)
    }
}

/// Remove a register's snapshot and listings: never imported (an undo of its only import).
pub fn delete_snapshot(conn: &mut DbConnection, register: &str) -> QueryResult<()> {
    diesel::delete(register_listings::table.filter(register_listings::register.eq(register))).execute(conn)?;
    diesel::delete(register_snapshots::table.filter(register_snapshots::register.eq(register))).execute(conn)?;
    Ok(())
}

/// Record what an import changed (numbers, or MPS key hashes), with what each was before.
pub fn record_changes(conn: &mut DbConnection, import_id: i64, changes: &[Change]) -> QueryResult<()> {
    for chunk in changes.chunks(CHUNK) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|ch| {
                (
                    register_changes::import_id.eq(import_id),
                    register_changes::number.eq(ch.number as i64),
                    register_changes::added.eq(ch.kind as i32),
                    register_changes::listed_since.eq(ch.listed_since),
                    register_changes::deceased.eq(i32::from(ch.deceased)),
                )
            })
            .collect();
        on_backend!(&mut *conn, |c| diesel::insert_into(register_changes::table).values(&rows).execute(c))?;
    }
    Ok(())
}

/// What an import changed, with what each entry was before.
pub fn changes(conn: &mut DbConnection, import_id: i64) -> QueryResult<Vec<Change>> {
    let rows: Vec<(i64, i32, Option<NaiveDate>, i32)> = register_changes::table
        .filter(register_changes::import_id.eq(import_id))
        .select((register_changes::number, register_changes::added, register_changes::listed_since, register_changes::deceased))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(n, kind, listed_since, deceased)| Change {
            number: n as u64,
            kind: match kind {
                0 => ChangeKind::Removed,
                1 => ChangeKind::Added,
                _ => ChangeKind::Changed,
            },
            listed_since,
            deceased: deceased != 0,
        })
        .collect())
}

/// Forget the `listed_since` of these numbers, returning those that had one.
pub fn drop_listings(conn: &mut DbConnection, register: &str, numbers: &[u64]) -> QueryResult<Vec<(u64, NaiveDate)>> {
    let mut dropped = Vec::new();
    for chunk in numbers.chunks(CHUNK) {
        let numbers: Vec<i64> = chunk.iter().map(|n| *n as i64).collect();
        let q = diesel::delete(
            register_listings::table.filter(register_listings::register.eq(register)).filter(register_listings::number.eq_any(numbers)),
        )
        .returning((register_listings::number, register_listings::listed_since));
        let rows: Vec<(i64, NaiveDate)> = on_backend!(&mut *conn, |c| q.get_results(c))?;
        dropped.extend(rows.into_iter().map(|(n, d)| (n as u64, d)));
    }
    Ok(dropped)
}

/// Keep these `listed_since` dates.
pub fn add_listings(conn: &mut DbConnection, register: &str, listings: &[(u64, NaiveDate)]) -> QueryResult<()> {
    for chunk in listings.chunks(CHUNK) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|(n, d)| {
                (register_listings::register.eq(register), register_listings::number.eq(*n as i64), register_listings::listed_since.eq(*d))
            })
            .collect();
        on_backend!(&mut *conn, |c| diesel::insert_into(register_listings::table).values(&rows).execute(c))?;
    }
    Ok(())
}

/// What an import changed, as it is kept: enough to rebuild the snapshot before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// A phone register: numbers added (listed since `listed_since`) and removed. Their
    /// `listed_since` is kept in the listings table; a removed number's is read as it is dropped.
    Phones { added: Vec<u64>, removed: Vec<u64>, listed_since: NaiveDate },
    /// MPS (whose `listed_since` is in the snapshot): the entries added, and those removed or
    /// changed as they were before.
    Entries { added: Vec<u64>, before: Vec<Change> },
}

/// An import to write.
#[derive(Debug, Clone)]
pub struct ImportWrite {
    /// Its row in the import history (status `applied`).
    pub history: NewImport,
    /// The import whose snapshot it was planned against (`None`: the register had none).
    pub base: Option<i64>,
    /// The new snapshot; its `import_id` is set here, to the history row's.
    pub snapshot: NewSnapshot,
    /// What changed (`None`: the register's first import, whose entries were all listed before).
    pub changes: Option<Changed>,
    /// Messages written with it (its report), in the same transaction.
    pub messages: Vec<super::outbox::NewMessage>,
}

/// Why a transaction that writes a snapshot (an import's or an undo's) was rolled back.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Another import or undo changed the snapshot first: the plan is stale.
    #[error("another import or undo changed the register's snapshot first")]
    Raced,
    /// The same file was applied first by another import.
    #[error("the same file was applied by another import first")]
    SameFile,
    #[error(transparent)]
    Db(#[from] QueryError),
}

/// Write an import in one transaction: its history row, what it changed, and the new snapshot;
/// returns the history row's id. Nothing is written if the snapshot in force is no longer the
/// one it was planned against (`Raced`), or the same file was applied meanwhile (`SameFile`).
pub fn apply_import(conn: &mut DbConnection, write: ImportWrite) -> Result<i64, WriteError> {
    let ImportWrite { history, base, mut snapshot, changes, messages } = write;
    conn.transaction::<_, WriteError, _>(|c| {
        // The first write: on SQLite it takes the one write lock; the same file applied meanwhile
        // by another import is a unique violation here.
        let id = insert_import(c, &history).map_err(|e| if is_unique_violation(&e) { WriteError::SameFile } else { WriteError::Db(e) })?;
        // Another import or undo may have been applied since the snapshot was read: then this
        // diff is stale.
        if lock_head(c, snapshot.register.as_str())? != base {
            return Err(WriteError::Raced);
        }
        match changes {
            None => {}
            Some(Changed::Phones { added, removed, listed_since }) => {
                let mut dropped = drop_listings(c, snapshot.register.as_str(), &removed)?;
                dropped.sort_unstable();
                let mut changes = added_changes(&added);
                changes.extend(removed.iter().map(|&n| Change {
                    number: n,
                    kind: ChangeKind::Removed,
                    listed_since: dropped.binary_search_by_key(&n, |d| d.0).ok().map(|i| dropped[i].1),
                    deceased: false,
                }));
                let new_listings: Vec<(u64, NaiveDate)> = added.iter().map(|&n| (n, listed_since)).collect();
                add_listings(c, snapshot.register.as_str(), &new_listings)?;
                record_changes(c, id, &changes)?;
            }
            Some(Changed::Entries { added, before }) => {
                let mut changes = added_changes(&added);
                changes.extend(before);
                record_changes(c, id, &changes)?;
            }
        }
        snapshot.import_id = id;
        put_snapshot(c, &snapshot, base.is_some())
            .map_err(|e| if is_unique_violation(&e) { WriteError::Raced } else { WriteError::Db(e) })?;
        super::outbox::insert(c, &messages)?;
        Ok(id)
    })
}

fn added_changes(added: &[u64]) -> Vec<Change> {
    added.iter().map(|&n| Change { number: n, kind: ChangeKind::Added, listed_since: None, deceased: false }).collect()
}

/// An undo to write.
#[derive(Debug, Clone)]
pub struct UndoWrite {
    /// Its row in the import history (kind `undo`, naming the import undone).
    pub history: NewImport,
    pub register: String,
    /// The import undone: the one whose snapshot is in force.
    pub undone: i64,
    /// The snapshot restored (`None`: the undone import was the register's only one, so the
    /// register has no snapshot after).
    pub restored: Option<Restored>,
}

/// The snapshot an undo restores, and the listings it takes back and puts back.
#[derive(Debug, Clone)]
pub struct Restored {
    pub snapshot: NewSnapshot,
    /// Phone registers: the listings of the numbers the undone import added.
    pub drop: Vec<u64>,
    /// Phone registers: the listings of the numbers it removed.
    pub put_back: Vec<(u64, NaiveDate)>,
}

/// Write an undo in one transaction: its history row, the undone import marked `undone`, and
/// the restored snapshot (or none). Nothing is written if the snapshot in force is no longer the
/// undone import's (`Raced`).
pub fn apply_undo(conn: &mut DbConnection, write: UndoWrite) -> Result<(), WriteError> {
    let UndoWrite { history, register, undone, restored } = write;
    conn.transaction::<_, WriteError, _>(|c| {
        // The first write (SQLite: the write lock), then the head, locked on PostgreSQL.
        insert_import(c, &history)?;
        if lock_head(c, &register)? != Some(undone) || mark_undone(c, undone)? != 1 {
            return Err(WriteError::Raced);
        }
        match restored {
            Some(r) => {
                drop_listings(c, &register, &r.drop)?;
                add_listings(c, &register, &r.put_back)?;
                put_snapshot(c, &r.snapshot, true)?;
            }
            None => delete_snapshot(c, &register)?,
        }
        Ok(())
    })
}
