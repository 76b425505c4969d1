//! Importing a register file: parse (hashing as it reads), refuse what must be refused, diff
//! against the snapshot in force, and write the changes and the new snapshot in one transaction.
//! Readers keep the previous snapshot until the commit; a failure changes nothing but the import
//! history, which records every attempt.

use std::io::{BufReader, Read};
use std::time::Instant;

use anyhow::Context;
use chrono::{NaiveDate, TimeDelta};
use diesel::Connection;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::codec;
use super::phone_file::{self, FileError, Parsed, Rejected};
use crate::domain::time::now_utc;
use crate::domain::Register;
use crate::store::registers::{self as db, NewImport, NewSnapshot};
use crate::store::{QueryError, Store};

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
    #[error("{0} imports are not built yet; nothing was imported")]
    NotBuilt(Register),
    #[error("another {0} import was applied while this one ran; nothing was imported: try again")]
    Raced(Register),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    sha: Sha256,
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

/// Import one file. `progress` is told the records read so far, now and then.
pub fn run<R: Read>(store: &Store, req: &Request, input: R, mut progress: impl FnMut(u64)) -> Result<Report, ImportError> {
    if req.register == Register::Mps {
        return Err(ImportError::NotBuilt(Register::Mps));
    }
    let started = Instant::now();
    let mut reader = Hashing { inner: input, sha: Sha256::new() };
    let parsed: Result<Parsed, FileError> = {
        let buffered = BufReader::with_capacity(1 << 20, &mut reader);
        match req.kind {
            Kind::Full => phone_file::parse_full(buffered, &mut progress),
            Kind::Delta => phone_file::parse_delta(buffered, &mut progress),
        }
    };
    // A truncation is found at the end of the file, so the hash is of the whole file either way.
    let sha = hex::encode(reader.sha.finalize());
    let (parsed, truncated) = match parsed {
        Ok(p) => (p, None),
        Err(e @ FileError::Truncated { .. }) => (Parsed::default(), Some(e.to_string())),
        Err(e) => return Err(anyhow::Error::new(e).into()),
    };
    let mut report = Report {
        register: req.register,
        as_of: req.as_of,
        kind: req.kind,
        file_sha256: sha.clone(),
        records: parsed.records,
        added: 0,
        removed: 0,
        unchanged: 0,
        rejected: parsed.rejected,
        rejected_samples: samples(parsed.samples),
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
    if let Some(t) = truncated {
        return Err(fail(&mut conn, &report, ImportError::Truncated(t)));
    }
    if parsed.records == 0 {
        return Err(fail(&mut conn, &report, ImportError::Empty));
    }
    if parsed.rejected * 100 > parsed.records {
        let err = ImportError::Corrupt { rejected: parsed.rejected, records: parsed.records, report: Box::new(report.clone()) };
        return Err(fail(&mut conn, &report, err));
    }
    if let Some(done) = db::applied_file(&mut conn, req.register.as_str(), &sha, req.as_of).context("reading the import history")? {
        let mut earlier: Report = serde_json::from_str(&done.report).context("reading an earlier import's report")?;
        earlier.already_imported = true;
        earlier.duration_ms = started.elapsed().as_millis() as u64;
        return Ok(earlier);
    }
    let current = db::numbers(&mut conn, req.register.as_str()).context("reading the register's snapshot")?;
    let (head, current_numbers) = match current {
        Some((head, bytes)) => (Some(head), codec::decode(&bytes).context("the stored snapshot is damaged")?),
        None => (None, Vec::new()),
    };
    if let Some(h) = &head {
        if h.as_of > req.as_of {
            let err = ImportError::OlderAsOf { register: req.register, current: h.as_of, given: req.as_of };
            return Err(fail(&mut conn, &report, err));
        }
    }
    let new_numbers = match req.kind {
        Kind::Full => sorted(parsed.listed),
        Kind::Delta => {
            if head.is_none() {
                return Err(fail(&mut conn, &report, ImportError::NoBase(req.register)));
            }
            let removed = sorted(parsed.removed);
            let listed = sorted(parsed.listed);
            let kept = difference(&current_numbers, &removed);
            let mut all = kept;
            all.extend(difference(&listed, &current_numbers));
            sorted(all)
        }
    };
    let added = difference(&new_numbers, &current_numbers);
    let removed = difference(&current_numbers, &new_numbers);
    report.added = added.len() as u64;
    report.removed = removed.len() as u64;
    report.unchanged = match req.kind {
        // Entries in both snapshots.
        Kind::Full => (new_numbers.len() - added.len()) as u64,
        // Records that changed nothing (listed already, or removed already).
        Kind::Delta => report.records.saturating_sub(report.added + report.removed + report.rejected),
    };
    report.entries_after = new_numbers.len() as u64;
    if req.kind == Kind::Full && !req.force && !current_numbers.is_empty() {
        let percent = removed.len() as f64 * 100.0 / current_numbers.len() as f64;
        if percent > req.max_removal_percent {
            let err = ImportError::TooManyRemovals {
                register: req.register,
                removed: removed.len() as u64,
                entries: current_numbers.len() as u64,
                percent,
                limit: req.max_removal_percent,
                report: Box::new(report.clone()),
            };
            return Err(fail(&mut conn, &report, err));
        }
    }
    drop(current_numbers);
    let encoded = codec::encode(&new_numbers);
    drop(new_numbers);
    report.duration_ms = started.elapsed().as_millis() as u64;

    let imported_at = now_utc();
    let head_id = head.as_ref().map(|h| h.import_id);
    // The day after the as_of of the latest snapshot that did not contain an added entry.
    let listed_since = head.as_ref().and_then(|h| h.as_of.checked_add_signed(TimeDelta::days(1)));
    let outcome = conn.transaction::<_, TxError, _>(|c| {
        let id = db::insert_import(c, &import_row(req, &report, "applied", None, imported_at)?)?;
        // Another import may have been applied since the snapshot was read: then this diff is stale.
        if db::head(c, req.register.as_str())?.map(|h| h.import_id) != head_id {
            return Err(TxError::Raced);
        }
        if let Some(since) = listed_since {
            db::apply_changes(c, req.register.as_str(), id, &added, &removed, since)?;
        }
        db::put_snapshot(
            c,
            &NewSnapshot {
                register: req.register.to_string(),
                import_id: id,
                as_of: req.as_of,
                entries: report.entries_after as i64,
                file_sha256: sha.clone(),
                imported_at,
                numbers: encoded,
            },
        )?;
        Ok(())
    });
    match outcome {
        Ok(()) => {
            tracing::info!(register = %req.register, as_of = %req.as_of, added = report.added, removed = report.removed, entries = report.entries_after, "register import applied");
            report.duration_ms = started.elapsed().as_millis() as u64;
            Ok(report)
        }
        Err(TxError::Raced) => Err(ImportError::Raced(req.register)),
        Err(TxError::Db(e)) => {
            Err(anyhow::Error::new(e).context("the database refused the import; the previous snapshot stays in force").into())
        }
        Err(TxError::Json(e)) => Err(anyhow::Error::new(e).into()),
    }
}

#[derive(Debug)]
enum TxError {
    Raced,
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
    status: &str,
    error: Option<String>,
    at: chrono::NaiveDateTime,
) -> Result<NewImport, serde_json::Error> {
    Ok(NewImport {
        register: req.register.to_string(),
        as_of: req.as_of,
        kind: req.kind.to_string(),
        file_sha256: report.file_sha256.clone(),
        status: status.to_owned(),
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
    })
}

fn record_failure(conn: &mut crate::store::DbConnection, req: &Request, report: &Report, error: &str) -> anyhow::Result<()> {
    let row = import_row(req, report, "failed", Some(error.to_owned()), now_utc())?;
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
        let d = NaiveDate::from_ymd_opt(2026, 11, 24);
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
