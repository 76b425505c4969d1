//! Importing a register file: parse (hashing as it reads), refuse what must be refused, diff
//! against the snapshot in force, and write the changes and the new snapshot in one transaction.
//! Readers keep the previous snapshot until the commit; a failure changes nothing but the import
//! history, which records every attempt.

use std::io::{BufReader, Read};
use std::time::Instant;

use anyhow::Context;
use chrono::{Datelike, NaiveDate, TimeDelta};
use diesel::Connection;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::codec;
use super::mps_file;
use super::phone_file::{self, FileError, Rejected};
use crate::domain::time::{now_utc, today_uk};
use crate::domain::Register;
use crate::store::registers::{self as db, Change, ChangeKind, NewImport, NewSnapshot};
use crate::store::{is_unique_violation, ImportKind, ImportStatus, QueryError, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Full,
    Delta,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Full => "full",
            Kind::Delta => "delta",
        })
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "full" => Ok(Kind::Full),
            "delta" => Ok(Kind::Delta),
            other => Err(format!("unknown import kind {other:?}; expected full or delta")),
        }
    }
}

/// How the import history records an import of this kind.
impl From<Kind> for ImportKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Full => ImportKind::Full,
            Kind::Delta => ImportKind::Delta,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub register: Register,
    pub as_of: NaiveDate,
    pub kind: Kind,
    /// Apply a full file even when it would remove more than `max_removal_percent`.
    pub force: bool,
    pub max_removal_percent: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RejectedRecord {
    pub line: u64,
    pub text: String,
    pub error: String,
}

/// The import report (CONTRACT §4), plus `already_imported` for a file applied before.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub register: Register,
    pub as_of: NaiveDate,
    pub kind: Kind,
    pub file_sha256: String,
    pub records: u64,
    pub added: u64,
    pub removed: u64,
    pub unchanged: u64,
    pub rejected: u64,
    pub rejected_samples: Vec<RejectedRecord>,
    pub entries_after: u64,
    pub duration_ms: u64,
    #[serde(default)]
    pub already_imported: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file is corrupt: {rejected} of {records} records were rejected (more than 1%); nothing was imported")]
    Corrupt { rejected: u64, records: u64, report: Box<Report> },
    #[error("the file holds no records; nothing was imported")]
    Empty,
    #[error("{0}; nothing was imported")]
    Truncated(String),
    #[error("the {register} snapshot in force is dated {current}; a file dated {given} is older and was refused")]
    OlderAsOf { register: Register, current: NaiveDate, given: NaiveDate },
    #[error("this full file would remove {removed} of {entries} {register} entries ({percent:.1}%, more than the limit of {limit}%); a truncated file must not empty the register. Nothing was imported; import with --force (force=true) if the removals are real")]
    TooManyRemovals { register: Register, removed: u64, entries: u64, percent: f64, limit: f64, report: Box<Report> },
    #[error("the {0} register has no snapshot yet: a change file needs a full file first")]
    NoBase(Register),
    #[error("MPS files are full files; there are no MPS change files")]
    MpsDelta,
    #[error("another {0} import or undo was applied while this one ran; nothing was changed: try again")]
    Raced(Register),
    #[error(
        "the file is dated {given}, after tomorrow ({latest}); a register file is never dated ahead: check the date. Nothing was imported"
    )]
    FutureAsOf { given: NaiveDate, latest: NaiveDate },
    #[error("the file cannot be read: {0}; nothing was imported")]
    Unreadable(String),
    #[error("the {0} register has no applied import to undo (it was never imported, or every import was undone)")]
    NothingToUndo(Register),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A reader that hashes what passes through it (register files, scrubbed lists).
pub struct Hashing<R> {
    inner: R,
    sha: Sha256,
}

impl<R> Hashing<R> {
    pub fn new(inner: R) -> Hashing<R> {
        Hashing { inner, sha: Sha256::new() }
    }

    /// The SHA-256 of everything read, in hex.
    pub fn finish(self) -> String {
        hex::encode(self.sha.finalize())
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
}

fn samples(s: Vec<Rejected>) -> Vec<RejectedRecord> {
    s.into_iter().map(|r| RejectedRecord { line: r.line, text: r.text, error: r.error }).collect()
}

/// Numbers in `a` and not in `b` (both sorted, deduplicated).
fn difference(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = Vec::new();
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v.dedup();
    v
}

/// What a file holds, by register kind.
enum Content {
    /// TPS/CTPS: numbers listed (full file: all; change file: `A`) and removed (`D`).
    Phones {
        listed: Vec<u64>,
        removed: Vec<u64>,
    },
    Mps(Vec<mps_file::Entry>),
}

/// The new snapshot, worked out against the one in force.
struct Next {
    encoded: Vec<u8>,
    added: Vec<u64>,
    removed: Vec<u64>,
    entries_before: usize,
    entries_after: usize,
    /// Entries in both snapshots.
    kept: usize,
    /// Phone registers keep `listed_since` in a table; MPS keeps it in the snapshot.
    listings: bool,
    /// MPS: the entries removed or changed, as they were (phone registers' removed listings are
    /// read from their table as they are dropped).
    before: Vec<Change>,
}

/// A stable 64-bit key for an MPS entry: the first 8 bytes of the SHA-256 of its address key. A
/// collision (~1 in 10^6 across 6M entries) can only over-suppress, never let a listing through.
pub fn mps_hash(key: &str) -> u64 {
    let digest = Sha256::digest(key.as_bytes());
    u64::from_be_bytes([digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7]])
}

/// An MPS entry's meta: its `listed_since` as a day number (0: unknown) and a deceased bit.
pub fn mps_meta(listed_since: Option<NaiveDate>, deceased: bool) -> u32 {
    let days = listed_since.map_or(0, |d| u32::try_from(d.num_days_from_ce()).unwrap_or(0));
    (days << 1) | u32::from(deceased)
}

pub fn mps_meta_parts(meta: u32) -> (Option<NaiveDate>, bool) {
    let days = meta >> 1;
    let date = (days > 0).then(|| NaiveDate::from_num_days_from_ce_opt(days as i32)).flatten();
    (date, meta & 1 == 1)
}

fn next_phones(req: &Request, current: &[u8], listed: Vec<u64>, removed: Vec<u64>) -> anyhow::Result<Next> {
    let current = codec::decode(current).context("the stored snapshot is damaged")?;
    let new = match req.kind {
        Kind::Full => sorted(listed),
        Kind::Delta => {
            let mut all = difference(&current, &sorted(removed));
            all.extend(difference(&sorted(listed), &current));
            sorted(all)
        }
    };
    let added = difference(&new, &current);
    let removed = difference(&current, &new);
    Ok(Next {
        encoded: codec::encode(&new),
        kept: new.len() - added.len(),
        entries_before: current.len(),
        entries_after: new.len(),
        added,
        removed,
        listings: true,
        before: Vec::new(),
    })
}

fn next_mps(current: &[u8], entries: Vec<mps_file::Entry>, since_for_new: Option<NaiveDate>) -> anyhow::Result<Next> {
    // No snapshot yet: nothing stored.
    let current =
        if current.is_empty() { Vec::new() } else { codec::decode_entries(current).context("the stored MPS snapshot is damaged")? };
    let mut new: Vec<(u64, Option<NaiveDate>, bool)> =
        mps_file::merge(entries).into_values().map(|e| (mps_hash(&e.key), e.requested, e.deceased)).collect();
    new.sort_unstable_by_key(|e| e.0);
    new.dedup_by(|b, a| {
        // Two keys with one hash: keep one entry that suppresses as much as both.
        let same = a.0 == b.0;
        if same {
            a.2 |= b.2;
            a.1 = a.1.min(b.1).or(a.1).or(b.1);
        }
        same
    });
    let current_hashes: Vec<u64> = current.iter().map(|e| e.0).collect();
    let new_hashes: Vec<u64> = new.iter().map(|e| e.0).collect();
    let added = difference(&new_hashes, &current_hashes);
    let removed = difference(&current_hashes, &new_hashes);
    // An entry without a date of request keeps the listed_since it had; a new one is listed since
    // the day after the snapshot in force (unknown on the first import).
    let mut before = Vec::new();
    let entries: Vec<(u64, u32)> = new
        .iter()
        .map(|(h, requested, deceased)| {
            let old = current_hashes.binary_search(h).ok().map(|i| current[i].1);
            let since = requested.or_else(|| match old {
                Some(meta) => mps_meta_parts(meta).0,
                None => since_for_new,
            });
            let meta = mps_meta(since, *deceased);
            if let Some(old) = old.filter(|&old| old != meta) {
                before.push(mps_change(*h, ChangeKind::Changed, old));
            }
            (*h, meta)
        })
        .collect();
    for h in &removed {
        if let Ok(i) = current_hashes.binary_search(h) {
            before.push(mps_change(*h, ChangeKind::Removed, current[i].1));
        }
    }
    Ok(Next {
        encoded: codec::encode_entries(&entries),
        kept: new.len() - added.len(),
        entries_before: current.len(),
        entries_after: new.len(),
        added,
        removed,
        listings: false,
        before,
    })
}

/// An MPS entry as it was before an import.
fn mps_change(hash: u64, kind: ChangeKind, meta: u32) -> Change {
    let (listed_since, deceased) = mps_meta_parts(meta);
    Change { number: hash, kind, listed_since, deceased }
}

/// The latest `as_of` a file may have: tomorrow in the UK (a file is never dated further ahead;
/// a mistyped date must not lock the register, CONTRACT §4).
pub fn latest_as_of() -> NaiveDate {
    today_uk().succ_opt().unwrap_or(NaiveDate::MAX)
}

/// Import one file. `progress` is told the records read so far, now and then.
pub fn run<R: Read>(store: &Store, req: &Request, input: R, mut progress: impl FnMut(u64)) -> Result<Report, ImportError> {
    if req.register == Register::Mps && req.kind == Kind::Delta {
        return Err(ImportError::MpsDelta);
    }
    let started = Instant::now();
    let mut reader = Hashing::new(input);
    let parsed: Result<(Content, u64, u64, Vec<Rejected>), FileError> = {
        let buffered = BufReader::with_capacity(1 << 20, &mut reader);
        match (req.register, req.kind) {
            (Register::Mps, _) => {
                mps_file::parse(buffered, &mut progress).map(|p| (Content::Mps(p.entries), p.records, p.rejected, p.samples))
            }
            (_, Kind::Full) => phone_file::parse_full(buffered, &mut progress)
                .map(|p| (Content::Phones { listed: p.listed, removed: p.removed }, p.records, p.rejected, p.samples)),
            (_, Kind::Delta) => phone_file::parse_delta(buffered, &mut progress)
                .map(|p| (Content::Phones { listed: p.listed, removed: p.removed }, p.records, p.rejected, p.samples)),
        }
    };
    // A truncation is found at the end of the file, so the hash is of the whole file either way.
    let sha = reader.finish();
    let (content, records, rejected, rejected_samples, unreadable) = match parsed {
        Ok((c, records, rejected, s)) => (Some(c), records, rejected, s, None),
        Err(e @ FileError::Truncated { .. }) => (None, 0, 0, Vec::new(), Some(ImportError::Truncated(e.to_string()))),
        // A file that is not of the register's layout is the sender's, recorded like any refusal.
        Err(e @ FileError::Unreadable(_)) => (None, 0, 0, Vec::new(), Some(ImportError::Unreadable(e.to_string()))),
        Err(e @ FileError::Io(_)) => return Err(anyhow::Error::new(e).into()),
    };
    let mut report = Report {
        register: req.register,
        as_of: req.as_of,
        kind: req.kind,
        file_sha256: sha.clone(),
        records,
        added: 0,
        removed: 0,
        unchanged: 0,
        rejected,
        rejected_samples: samples(rejected_samples),
        entries_after: 0,
        duration_ms: 0,
        already_imported: false,
    };
    let mut conn = store.conn()?;
    let fail = |conn: &mut crate::store::DbConnection, report: &Report, err: ImportError| -> ImportError {
        // Every attempt is kept for compliance; a failure to record it is logged, not hidden.
        if let Err(e) = record_failure(conn, req, report, &err.to_string()) {
            tracing::error!(error = %e, "could not record a failed import");
        }
        err
    };
    let latest = latest_as_of();
    if req.as_of > latest {
        return Err(fail(&mut conn, &report, ImportError::FutureAsOf { given: req.as_of, latest }));
    }
    let content = match (content, unreadable) {
        (Some(c), None) => c,
        (_, e) => return Err(fail(&mut conn, &report, e.unwrap_or_else(|| ImportError::Unreadable("no content".into())))),
    };
    if records == 0 {
        return Err(fail(&mut conn, &report, ImportError::Empty));
    }
    if rejected * 100 > records {
        let err = ImportError::Corrupt { rejected, records, report: Box::new(report.clone()) };
        return Err(fail(&mut conn, &report, err));
    }
    if let Some(done) = already_imported(&mut conn, req, &sha, started)? {
        return Ok(done);
    }
    let (head, current) = match db::numbers(&mut conn, req.register.as_str()).context("reading the register's snapshot")? {
        Some((head, bytes)) => (Some(head), bytes),
        None => (None, Vec::new()),
    };
    if let Some(h) = &head {
        if h.as_of > req.as_of {
            let err = ImportError::OlderAsOf { register: req.register, current: h.as_of, given: req.as_of };
            return Err(fail(&mut conn, &report, err));
        }
    }
    if req.kind == Kind::Delta && head.is_none() {
        return Err(fail(&mut conn, &report, ImportError::NoBase(req.register)));
    }
    // The day after the as_of of the latest snapshot that did not contain an added entry.
    let listed_since = head.as_ref().and_then(|h| h.as_of.checked_add_signed(TimeDelta::days(1)));
    let next = match content {
        Content::Phones { listed, removed } => next_phones(req, &current, listed, removed)?,
        Content::Mps(entries) => next_mps(&current, entries, listed_since)?,
    };
    drop(current);
    report.added = next.added.len() as u64;
    report.removed = next.removed.len() as u64;
    report.unchanged = match req.kind {
        Kind::Full => next.kept as u64,
        // Records that changed nothing (listed already, or removed already).
        Kind::Delta => records.saturating_sub(report.added + report.removed + rejected),
    };
    report.entries_after = next.entries_after as u64;
    if req.kind == Kind::Full && !req.force && next.entries_before > 0 {
        let percent = next.removed.len() as f64 * 100.0 / next.entries_before as f64;
        if percent > req.max_removal_percent {
            let err = ImportError::TooManyRemovals {
                register: req.register,
                removed: next.removed.len() as u64,
                entries: next.entries_before as u64,
                percent,
                limit: req.max_removal_percent,
                report: Box::new(report.clone()),
            };
            return Err(fail(&mut conn, &report, err));
        }
    }
    report.duration_ms = started.elapsed().as_millis() as u64;

    let imported_at = now_utc();
    let head_id = head.as_ref().map(|h| h.import_id);
    let Next { encoded, added, removed, listings, before, .. } = next;
    let outcome = conn.transaction::<_, TxError, _>(|c| {
        // The first write: on SQLite it takes the one write lock; the same file applied meanwhile
        // by another import is a unique violation here.
        let id = db::insert_import(c, &import_row(req, &report, ImportStatus::Applied, None, imported_at)?).map_err(|e| {
            if is_unique_violation(&e) {
                TxError::SameFile
            } else {
                TxError::Db(e)
            }
        })?;
        // Another import or undo may have been applied since the snapshot was read: then this
        // diff is stale.
        if db::lock_head(c, req.register.as_str())? != head_id {
            return Err(TxError::Raced);
        }
        if let Some(since) = listed_since {
            let mut changes: Vec<Change> =
                added.iter().map(|&n| Change { number: n, kind: ChangeKind::Added, listed_since: None, deceased: false }).collect();
            if listings {
                let mut dropped = db::drop_listings(c, req.register.as_str(), &removed)?;
                dropped.sort_unstable();
                changes.extend(removed.iter().map(|&n| Change {
                    number: n,
                    kind: ChangeKind::Removed,
                    listed_since: dropped.binary_search_by_key(&n, |d| d.0).ok().map(|i| dropped[i].1),
                    deceased: false,
                }));
                let new_listings: Vec<(u64, NaiveDate)> = added.iter().map(|&n| (n, since)).collect();
                db::add_listings(c, req.register.as_str(), &new_listings)?;
            } else {
                changes.extend(before);
            }
            db::record_changes(c, id, &changes)?;
        }
        let snapshot = NewSnapshot {
            register: req.register,
            import_id: id,
            as_of: req.as_of,
            entries: report.entries_after as i64,
            file_sha256: sha.clone(),
            imported_at,
            numbers: encoded,
        };
        db::put_snapshot(c, &snapshot, head_id.is_some())
            .map_err(|e| if is_unique_violation(&e) { TxError::Raced } else { TxError::Db(e) })?;
        Ok(())
    });
    match outcome {
        Ok(()) => {
            tracing::info!(register = %req.register, as_of = %req.as_of, added = report.added, removed = report.removed, entries = report.entries_after, "register import applied");
            report.duration_ms = started.elapsed().as_millis() as u64;
            Ok(report)
        }
        // The same file, applied by an import that ran at the same time: the no-op it is.
        Err(TxError::SameFile) => already_imported(&mut conn, req, &sha, started)?
            .ok_or_else(|| anyhow::anyhow!("the import history refused this import and holds no applied import of the file").into()),
        Err(TxError::Raced) => Err(fail(&mut conn, &report, ImportError::Raced(req.register))),
        Err(TxError::Db(e)) => {
            Err(anyhow::Error::new(e).context("the database refused the import; the previous snapshot stays in force").into())
        }
        Err(TxError::Json(e)) => Err(anyhow::Error::new(e).into()),
    }
}

/// The report of this file's applied import for this date, if any, marked `already_imported`;
/// the attempt is recorded in the history.
fn already_imported(conn: &mut crate::store::DbConnection, req: &Request, sha: &str, started: Instant) -> anyhow::Result<Option<Report>> {
    let Some(done) = db::applied_file(conn, req.register.as_str(), sha, req.as_of).context("reading the import history")? else {
        return Ok(None);
    };
    let mut earlier: Report = serde_json::from_value(done.report).context("reading an earlier import's report")?;
    earlier.already_imported = true;
    earlier.duration_ms = started.elapsed().as_millis() as u64;
    let note = format!("the same file was applied by import {}; nothing changed", done.id);
    let row = import_row(req, &earlier, ImportStatus::AlreadyImported, Some(note), now_utc())?;
    db::insert_import(conn, &row).context("recording the attempt in the import history")?;
    Ok(Some(earlier))
}

/// Why a transaction that writes a snapshot (an import's or an undo's) was rolled back.
#[derive(Debug)]
pub(super) enum TxError {
    /// Another import or undo changed the snapshot first.
    Raced,
    /// The same file was applied first by another import.
    SameFile,
    Db(QueryError),
    Json(serde_json::Error),
}

impl From<QueryError> for TxError {
    fn from(e: QueryError) -> Self {
        TxError::Db(e)
    }
}

impl From<serde_json::Error> for TxError {
    fn from(e: serde_json::Error) -> Self {
        TxError::Json(e)
    }
}

fn import_row(
    req: &Request,
    report: &Report,
    status: ImportStatus,
    error: Option<String>,
    at: chrono::NaiveDateTime,
) -> Result<NewImport, serde_json::Error> {
    Ok(NewImport {
        register: req.register,
        as_of: req.as_of,
        kind: req.kind.into(),
        file_sha256: report.file_sha256.clone(),
        status,
        error,
        records: report.records as i64,
        added: report.added as i64,
        removed: report.removed as i64,
        unchanged: report.unchanged as i64,
        rejected: report.rejected as i64,
        entries_after: report.entries_after as i64,
        duration_ms: report.duration_ms as i64,
        imported_at: at,
        report: serde_json::to_string(report)?,
        undoes: None,
    })
}

fn record_failure(conn: &mut crate::store::DbConnection, req: &Request, report: &Report, error: &str) -> anyhow::Result<()> {
    let row = import_row(req, report, ImportStatus::Failed, Some(error.to_owned()), now_utc())?;
    db::insert_import(conn, &row)?;
    Ok(())
}

/// The as-of date in a register file's name: `tps-2026-11-24.txt`, `TPS_20261124.txt`.
pub fn as_of_from_name(name: &str) -> Option<NaiveDate> {
    static DATE: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"(?:^|[^0-9])([0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{8})(?:[^0-9]|$)").ok());
    let found = DATE.as_ref()?.captures(name)?.get(1)?.as_str().to_owned();
    NaiveDate::parse_from_str(&found, "%Y-%m-%d").or_else(|_| NaiveDate::parse_from_str(&found, "%Y%m%d")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_comes_from_the_file_name() {
        let d = Some(crate::domain::time::fixtures::date("2026-11-24"));
        assert_eq!(as_of_from_name("tps-2026-11-24.txt"), d);
        assert_eq!(as_of_from_name("TPS_20261124.txt"), d);
        assert_eq!(as_of_from_name("/var/spool/ctps-2026-11-24-delta.txt"), d);
        assert_eq!(as_of_from_name("tps.txt"), None);
        assert_eq!(as_of_from_name("tps-123456789.txt"), None);
    }

    #[test]
    fn differences() {
        assert_eq!(difference(&[1, 2, 3, 5], &[2, 5, 7]), vec![1, 3]);
        assert_eq!(difference(&[], &[1]), Vec::<u64>::new());
    }
}
