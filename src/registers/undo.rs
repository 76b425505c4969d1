//! Undoing a register's latest applied import (CONTRACT §4), the pure part: the snapshot before
//! it is rebuilt from the one in force and what the import changed (with each changed entry as it
//! was). The use case (`app::imports::undo`) reads those from the import history and has the store
//! write the undo in one transaction (`store::registers::apply_undo`), kept in the import history
//! as a row of kind `undo` naming the import, which is marked `undone`. The next import is judged
//! against the restored snapshot.

use anyhow::Context;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::codec;
use super::import::{mps_meta, ImportError};
use crate::domain::Register;
use crate::store::registers::{Change, ChangeKind, ImportRow, SnapshotHead};
use crate::store::ImportKind;

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
#[derive(Debug)]
pub struct Rebuilt {
    pub encoded: Vec<u8>,
    pub entries: usize,
    /// Phone registers: listings to drop (the import's additions) and to put back.
    pub drop: Vec<u64>,
    pub put_back: Vec<(u64, NaiveDate)>,
}

fn rebuild_phones(current: &[u8], changes: &[Change]) -> anyhow::Result<Rebuilt> {
    let current = codec::decode(current).context("the stored snapshot is damaged")?;
    let mut added: Vec<u64> = changes.iter().filter(|c| c.kind == ChangeKind::Added).map(|c| c.number).collect();
    added.sort_unstable();
    let removed: Vec<&Change> = changes.iter().filter(|c| c.kind == ChangeKind::Removed).collect();
    let mut numbers: Vec<u64> = current.into_iter().filter(|n| added.binary_search(n).is_err()).collect();
    numbers.extend(removed.iter().map(|c| c.number));
    numbers.sort_unstable();
    numbers.dedup();
    let put_back = removed.iter().filter_map(|c| c.listed_since.map(|d| (c.number, d))).collect();
    Ok(Rebuilt { encoded: codec::encode(&numbers), entries: numbers.len(), drop: added, put_back })
}

fn rebuild_mps(current: &[u8], changes: &[Change]) -> anyhow::Result<Rebuilt> {
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
    Ok(Rebuilt { encoded: codec::encode_entries(&entries), entries: entries.len(), drop: Vec::new(), put_back: Vec::new() })
}

/// Plan the undo of `target`, the import whose snapshot (`head`, `current`) is in force, given
/// what it changed and the import before it (`previous`, `None`: it was the register's only one,
/// and the register is left with no snapshot). The history must rebuild the earlier snapshot
/// exactly; if not, nothing is restored.
pub fn plan(
    register: Register,
    head: &SnapshotHead,
    current: &[u8],
    target: &ImportRow,
    previous: Option<&ImportRow>,
    changes: &[Change],
) -> Result<(UndoReport, Option<Rebuilt>), ImportError> {
    let rebuilt = match previous {
        None => None,
        Some(prev) => {
            let r = if register == Register::Mps { rebuild_mps(current, changes)? } else { rebuild_phones(current, changes)? };
            if r.entries as i64 != prev.entries_after {
                return Err(ImportError::CannotUndo { register, import: target.id, rebuilt: r.entries as u64, had: prev.entries_after });
            }
            Some(r)
        }
    };
    let taken_out = changes.iter().filter(|c| c.kind == ChangeKind::Added).count() as u64;
    let report = UndoReport {
        register,
        kind: ImportKind::Undo,
        undone_import: target.id,
        undone_as_of: target.as_of,
        restored_import: previous.map(|p| p.id),
        as_of: previous.map(|p| p.as_of),
        added: changes.iter().filter(|c| c.kind == ChangeKind::Removed).count() as u64,
        removed: if previous.is_some() { taken_out } else { head.entries as u64 },
        entries_after: rebuilt.as_ref().map_or(0, |r| r.entries as u64),
        duration_ms: 0,
    };
    Ok((report, rebuilt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ImportStatus;

    use crate::domain::time::fixtures;

    fn d(s: &str) -> NaiveDate {
        fixtures::date(s)
    }

    fn import(id: i64, as_of: &str, entries_after: i64) -> ImportRow {
        ImportRow {
            id,
            register: Register::Tps,
            as_of: d(as_of),
            kind: ImportKind::Full,
            file_sha256: format!("{id:064}"),
            status: ImportStatus::Applied,
            error: None,
            records: entries_after,
            added: 0,
            removed: 0,
            unchanged: 0,
            rejected: 0,
            entries_after,
            duration_ms: 0,
            imported_at: fixtures::at(as_of, 0, 0),
            report: serde_json::json!({}),
            undoes: None,
        }
    }

    /// Without a database: the snapshot before an import is its snapshot with the additions
    /// taken out and the removals put back (with their listed_since), and a history that does not
    /// add up to the earlier import's entries restores nothing.
    #[test]
    fn an_undo_rebuilds_the_snapshot_before_the_import() {
        let (before, after) = (import(1, "2026-11-01", 3), import(2, "2026-11-02", 3));
        let head = SnapshotHead {
            register: Register::Tps,
            import_id: 2,
            as_of: after.as_of,
            entries: 3,
            file_sha256: after.file_sha256.clone(),
            imported_at: after.imported_at,
        };
        let current = codec::encode(&[2, 3, 4]);
        let changes = [
            Change { number: 4, kind: ChangeKind::Added, listed_since: None, deceased: false },
            Change { number: 1, kind: ChangeKind::Removed, listed_since: Some(d("2026-10-02")), deceased: false },
        ];
        let (report, rebuilt) = plan(Register::Tps, &head, &current, &after, Some(&before), &changes).unwrap_or_else(|e| panic!("{e:#}"));
        let rebuilt = rebuilt.unwrap_or_else(|| panic!("a snapshot to restore"));
        assert_eq!(codec::decode(&rebuilt.encoded), Some(vec![1, 2, 3]));
        assert_eq!((rebuilt.drop, rebuilt.put_back), (vec![4], vec![(1, d("2026-10-02"))]));
        assert_eq!((report.undone_import, report.restored_import, report.as_of), (2, Some(1), Some(d("2026-11-01"))));
        assert_eq!((report.added, report.removed, report.entries_after), (1, 1, 3));
        // The import before recorded 4 entries: the history does not add up.
        let err = plan(Register::Tps, &head, &current, &after, Some(&import(1, "2026-11-01", 4)), &changes).err();
        assert!(err.is_some_and(|e| e.to_string().contains("rebuilds 3")));
        // The register's only import: nothing to restore, every entry taken out.
        let (report, rebuilt) = plan(Register::Tps, &head, &current, &after, None, &changes).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!((rebuilt.is_none(), report.removed, report.entries_after), (true, 3, 0));
    }
}
