//! Undoing a register's latest applied import (CONTRACT §4): the snapshot before it is rebuilt
//! from the one in force and what the import changed (with each changed entry as it was), written
//! in one transaction, and kept in the import history as a row of kind `undo` naming the import,
//! which is marked `undone`. The next import is judged against the restored snapshot.

use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDate;
use diesel::Connection;
use serde::{Deserialize, Serialize};

use super::codec;
use super::import::{mps_meta, ImportError, TxError};
use crate::domain::time::now_utc;
use crate::domain::Register;
use crate::store::registers::{self as db, Change, ChangeKind, NewImport, NewSnapshot};
use crate::store::{ImportKind, ImportStatus, Store};

/// What an undo did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UndoReport {
    pub register: Register,
    pub kind: ImportKind,
    /// The import undone, and its date.
    pub undone_import: i64,
    pub undone_as_of: NaiveDate,
    /// The snapshot in force after the undo (`None`: the register is never imported again).
    pub restored_import: Option<i64>,
    pub as_of: Option<NaiveDate>,
    /// Entries put back (those the import removed) and taken out (those it added).
    pub added: u64,
    pub removed: u64,
    pub entries_after: u64,
    pub duration_ms: u64,
}

/// The snapshot before an import, rebuilt.
struct Restored {
    encoded: Vec<u8>,
    entries: usize,
    /// Phone registers: listings to drop (the import's additions) and to put back.
    drop: Vec<u64>,
    put_back: Vec<(u64, NaiveDate)>,
}

fn rebuild_phones(current: &[u8], changes: &[Change]) -> anyhow::Result<Restored> {
    let current = codec::decode(current).context("the stored snapshot is damaged")?;
    let mut added: Vec<u64> = changes.iter().filter(|c| c.kind == ChangeKind::Added).map(|c| c.number).collect();
    added.sort_unstable();
    let removed: Vec<&Change> = changes.iter().filter(|c| c.kind == ChangeKind::Removed).collect();
    let mut numbers: Vec<u64> = current.into_iter().filter(|n| added.binary_search(n).is_err()).collect();
    numbers.extend(removed.iter().map(|c| c.number));
    numbers.sort_unstable();
    numbers.dedup();
    let put_back = removed.iter().filter_map(|c| c.listed_since.map(|d| (c.number, d))).collect();
    Ok(Restored { encoded: codec::encode(&numbers), entries: numbers.len(), drop: added, put_back })
}

fn rebuild_mps(current: &[u8], changes: &[Change]) -> anyhow::Result<Restored> {
    let current = codec::decode_entries(current).context("the stored MPS snapshot is damaged")?;
    let mut by_hash: std::collections::BTreeMap<u64, u32> = current.into_iter().collect();
    for c in changes {
        match c.kind {
            ChangeKind::Added => {
                by_hash.remove(&c.number);
            }
            ChangeKind::Removed | ChangeKind::Changed => {
                by_hash.insert(c.number, mps_meta(c.listed_since, c.deceased));
            }
        }
    }
    let entries: Vec<(u64, u32)> = by_hash.into_iter().collect();
    Ok(Restored { encoded: codec::encode_entries(&entries), entries: entries.len(), drop: Vec::new(), put_back: Vec::new() })
}

/// Undo the latest applied import of a register.
pub fn run(store: &Store, register: Register) -> Result<UndoReport, ImportError> {
    let started = Instant::now();
    let mut conn = store.conn()?;
    let name = register.as_str();
    let Some((head, current)) = db::numbers(&mut conn, name).context("reading the register's snapshot")? else {
        return Err(ImportError::NothingToUndo(register));
    };
    let target = db::import_by_id(&mut conn, head.import_id)
        .context("reading the import history")?
        .with_context(|| format!("the {register} snapshot names import {}, which is not in the import history", head.import_id))?;
    let previous = db::previous_applied(&mut conn, name, target.id).context("reading the import history")?;
    let changes = db::changes(&mut conn, target.id).context("reading what the import changed")?;
    let restored = match &previous {
        None => None,
        Some(prev) => {
            let r = if register == Register::Mps { rebuild_mps(&current, &changes)? } else { rebuild_phones(&current, &changes)? };
            // The history must rebuild the earlier snapshot exactly; if not, restore nothing.
            if r.entries as i64 != prev.entries_after {
                return Err(anyhow::anyhow!(
                    "the import history rebuilds {} {register} entries for import {}, which had {}; nothing was undone",
                    r.entries,
                    prev.id,
                    prev.entries_after
                )
                .into());
            }
            Some(r)
        }
    };
    drop(current);
    let taken_out = changes.iter().filter(|c| c.kind == ChangeKind::Added).count() as u64;
    let mut report = UndoReport {
        register,
        kind: ImportKind::Undo,
        undone_import: target.id,
        undone_as_of: target.as_of,
        restored_import: previous.as_ref().map(|p| p.id),
        as_of: previous.as_ref().map(|p| p.as_of),
        added: changes.iter().filter(|c| c.kind == ChangeKind::Removed).count() as u64,
        removed: if previous.is_some() { taken_out } else { head.entries as u64 },
        entries_after: restored.as_ref().map_or(0, |r| r.entries as u64),
        duration_ms: started.elapsed().as_millis() as u64,
    };
    let outcome = conn.transaction::<_, TxError, _>(|c| {
        // The first write (SQLite: the write lock), then the head, locked on PostgreSQL.
        let row = NewImport {
            register,
            as_of: target.as_of,
            kind: ImportKind::Undo,
            file_sha256: target.file_sha256.clone(),
            status: ImportStatus::Applied,
            error: None,
            records: 0,
            added: report.added as i64,
            removed: report.removed as i64,
            unchanged: report.entries_after.saturating_sub(report.added) as i64,
            rejected: 0,
            entries_after: report.entries_after as i64,
            duration_ms: report.duration_ms as i64,
            imported_at: now_utc(),
            report: serde_json::to_string(&report)?,
            undoes: Some(target.id),
        };
        db::insert_import(c, &row)?;
        if db::lock_head(c, name)? != Some(target.id) || db::mark_undone(c, target.id)? != 1 {
            return Err(TxError::Raced);
        }
        match (&previous, restored) {
            (Some(prev), Some(r)) => {
                db::drop_listings(c, name, &r.drop)?;
                db::add_listings(c, name, &r.put_back)?;
                let snapshot = NewSnapshot {
                    register,
                    import_id: prev.id,
                    as_of: prev.as_of,
                    entries: r.entries as i64,
                    file_sha256: prev.file_sha256.clone(),
                    imported_at: prev.imported_at,
                    numbers: r.encoded,
                };
                db::put_snapshot(c, &snapshot, true)?;
            }
            _ => db::delete_snapshot(c, name)?,
        }
        Ok(())
    });
    match outcome {
        Ok(()) => {
            report.duration_ms = started.elapsed().as_millis() as u64;
            tracing::info!(register = %register, undone_import = target.id, as_of = ?report.as_of, entries = report.entries_after, "register import undone");
            Ok(report)
        }
        Err(TxError::Raced | TxError::SameFile) => Err(ImportError::Raced(register)),
        Err(TxError::Db(e)) => {
            Err(anyhow::Error::new(e).context("the database refused the undo; the snapshot in force is unchanged").into())
        }
        Err(TxError::Json(e)) => Err(anyhow::Error::new(e).into()),
    }
}
