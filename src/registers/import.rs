//! Importing a register file, the pure part: read the file (hashing as it reads), refuse what
//! must be refused, and plan the next snapshot against the one in force — the entries added and
//! removed, and what each changed entry was before. No database here: the use case
//! (`app::imports::import_register`) reads the snapshot in force, records every attempt in the
//! import history, and has the store write a plan in one transaction
//! (`store::registers::apply_import`). Readers keep the previous snapshot until the commit.

use std::io::{BufReader, Read};

use anyhow::Context;
use chrono::{Datelike, NaiveDate, TimeDelta};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::codec;
use super::mps_file::{self, Mark};
use super::phone_file::{self, FileError};
use crate::domain::time::today_uk;
use crate::domain::{Register, Rejected};
use crate::store::registers::{Change, ChangeKind, Changed};
use crate::store::ImportKind;

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
    pub rejected_samples: Vec<Rejected>,
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
    #[error("import {import} cannot be undone: what the history recorded of its changes rebuilds {rebuilt} {register} entries, not the {had} before it (imports made before the service recorded their changes cannot be undone); nothing was undone: import the right file instead")]
    CannotUndo { register: Register, import: i64, rebuilt: u64, had: i64 },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub use crate::bytes::Hashing;

impl ImportError {
    /// A refusal of the file or of the attempt, kept in the import history with its reason; a
    /// failure of ours (`Other`) is not a fact about the file.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, ImportError::Other(_))
    }

    /// A few words for an inbox's subject line: "truncated file".
    pub fn short(&self) -> &'static str {
        match self {
            ImportError::Corrupt { .. } => "corrupt file",
            ImportError::Empty => "empty file",
            ImportError::Truncated(_) => "truncated file",
            ImportError::OlderAsOf { .. } => "older than the snapshot in force",
            ImportError::TooManyRemovals { .. } => "too many removals",
            ImportError::NoBase(_) => "change file without a full file",
            ImportError::MpsDelta => "MPS change file",
            ImportError::Raced(_) => "another import ran at the same time",
            ImportError::FutureAsOf { .. } => "dated in the future",
            ImportError::Unreadable(_) => "unreadable file",
            ImportError::NothingToUndo(_) => "nothing to undo",
            ImportError::CannotUndo { .. } => "cannot be undone",
            ImportError::Other(_) => "the service failed",
        }
    }

    /// The figures read before the file was refused, where there are any.
    pub fn report(&self) -> Option<&Report> {
        match self {
            ImportError::Corrupt { report, .. } | ImportError::TooManyRemovals { report, .. } => Some(report),
            _ => None,
        }
    }
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
#[derive(Debug)]
pub enum Content {
    /// TPS/CTPS: numbers listed (full file: all; change file: `A`) and removed (`D`).
    Phones {
        listed: Vec<u64>,
        removed: Vec<u64>,
    },
    Mps(Vec<mps_file::Entry>),
}

/// A register file as read: its hash and records, and what it holds or why it cannot be used.
#[derive(Debug)]
pub struct File {
    pub sha256: String,
    pub records: u64,
    pub rejected: u64,
    pub samples: Vec<Rejected>,
    /// What the file holds, or why it cannot be used (cut short, or not of the register's layout).
    pub content: Result<Content, ImportError>,
}

/// Read a register file whole, hashing it. Only a failure to read it is an error here (and an
/// MPS change file, which does not exist); a file that cannot be used says why in `content`.
/// `progress` is told the records read so far, now and then.
pub fn read<R: Read>(req: &Request, input: R, mut progress: impl FnMut(u64)) -> Result<File, ImportError> {
    if req.register == Register::Mps && req.kind == Kind::Delta {
        return Err(ImportError::MpsDelta);
    }
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
    let sha256 = reader.finish();
    let unusable = |error| File { sha256: sha256.clone(), records: 0, rejected: 0, samples: Vec::new(), content: Err(error) };
    Ok(match parsed {
        Ok((content, records, rejected, samples)) => File { sha256: sha256.clone(), records, rejected, samples, content: Ok(content) },
        Err(e @ FileError::Truncated { .. }) => unusable(ImportError::Truncated(e.to_string())),
        // A file that is not of the register's layout is the sender's, refused like any other.
        Err(e @ FileError::Unreadable(_)) => unusable(ImportError::Unreadable(e.to_string())),
        Err(e @ FileError::Io(_)) => return Err(anyhow::Error::new(e).into()),
    })
}

/// An import refused: why, and its report as far as it got (the import history keeps both).
#[derive(Debug)]
pub struct Refused {
    pub error: ImportError,
    pub report: Box<Report>,
}

/// The refusals judged on the file alone, before the snapshot in force is read: a date after
/// `latest` (tomorrow: see [`latest_as_of`]), a file cut short or not of the register's layout,
/// no records, more than 1% of records rejected. Gives the content and the report so far.
pub fn check(req: &Request, file: File, latest: NaiveDate) -> Result<(Content, Report), Refused> {
    let report = Report {
        register: req.register,
        as_of: req.as_of,
        kind: req.kind,
        file_sha256: file.sha256,
        records: file.records,
        added: 0,
        removed: 0,
        unchanged: 0,
        rejected: file.rejected,
        rejected_samples: file.samples,
        entries_after: 0,
        duration_ms: 0,
        already_imported: false,
    };
    let refuse = |error, report| Err(Refused { error, report: Box::new(report) });
    if req.as_of > latest {
        return refuse(ImportError::FutureAsOf { given: req.as_of, latest }, report);
    }
    let content = match file.content {
        Ok(c) => c,
        Err(e) => return refuse(e, report),
    };
    if report.records == 0 {
        return refuse(ImportError::Empty, report);
    }
    if report.rejected * 100 > report.records {
        let error = ImportError::Corrupt { rejected: report.rejected, records: report.records, report: Box::new(report.clone()) };
        return refuse(error, report);
    }
    Ok((content, report))
}

/// The snapshot in force, as stored.
#[derive(Debug, Clone, Copy)]
pub struct InForce<'a> {
    pub import_id: i64,
    pub as_of: NaiveDate,
    /// The encoded snapshot (`codec`).
    pub encoded: &'a [u8],
}

/// What an import writes: the next snapshot and what changed, with its report.
#[derive(Debug)]
pub struct Plan {
    pub report: Report,
    /// The import whose snapshot the plan was worked out against (`None`: the first import).
    pub base: Option<i64>,
    /// The next snapshot, encoded.
    pub encoded: Vec<u8>,
    /// What changed (`None` on a register's first import: everything in it was listed before).
    pub changes: Option<Changed>,
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
    /// MPS: the entries removed or changed, as they were (phone registers keep `listed_since`
    /// in a table, and the removed listings are read from it as they are dropped); `None` for
    /// phone registers.
    before: Option<Vec<Change>>,
}

/// Plan a checked file's import against the snapshot in force: refused if the file is dated
/// before it, if a change file has no snapshot to change, or if a full file would remove more
/// than the limit (unless forced).
pub fn plan(req: &Request, content: Content, mut report: Report, in_force: Option<InForce<'_>>) -> Result<Plan, Refused> {
    if let Some(h) = &in_force {
        if h.as_of > req.as_of {
            let error = ImportError::OlderAsOf { register: req.register, current: h.as_of, given: req.as_of };
            return Err(Refused { error, report: Box::new(report) });
        }
    }
    if req.kind == Kind::Delta && in_force.is_none() {
        return Err(Refused { error: ImportError::NoBase(req.register), report: Box::new(report) });
    }
    // The day after the as_of of the latest snapshot that did not contain an added entry.
    let listed_since = in_force.as_ref().and_then(|h| h.as_of.checked_add_signed(TimeDelta::days(1)));
    let current = in_force.as_ref().map_or(&[][..], |h| h.encoded);
    let next = match content {
        Content::Phones { listed, removed } => next_phones(req, current, listed, removed),
        Content::Mps(entries) => next_mps(current, entries, listed_since),
    };
    let next = match next {
        Ok(n) => n,
        Err(e) => return Err(Refused { error: e.into(), report: Box::new(report) }),
    };
    report.added = next.added.len() as u64;
    report.removed = next.removed.len() as u64;
    report.unchanged = match req.kind {
        Kind::Full => next.kept as u64,
        // Records that changed nothing (listed already, or removed already).
        Kind::Delta => report.records.saturating_sub(report.added + report.removed + report.rejected),
    };
    report.entries_after = next.entries_after as u64;
    if req.kind == Kind::Full && !req.force && next.entries_before > 0 {
        let percent = next.removed.len() as f64 * 100.0 / next.entries_before as f64;
        if percent > req.max_removal_percent {
            let error = ImportError::TooManyRemovals {
                register: req.register,
                removed: next.removed.len() as u64,
                entries: next.entries_before as u64,
                percent,
                limit: req.max_removal_percent,
                report: Box::new(report.clone()),
            };
            return Err(Refused { error, report: Box::new(report) });
        }
    }
    let Next { encoded, added, removed, before, .. } = next;
    let changes = listed_since.map(|since| match before {
        None => Changed::Phones { added, removed, listed_since: since },
        Some(before) => Changed::Entries { added, before },
    });
    Ok(Plan { report, base: in_force.map(|h| h.import_id), encoded, changes })
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
        before: None,
    })
}

fn next_mps(current: &[u8], entries: Vec<mps_file::Entry>, since_for_new: Option<NaiveDate>) -> anyhow::Result<Next> {
    // No snapshot yet: nothing stored.
    let current =
        if current.is_empty() { Vec::new() } else { codec::decode_entries(current).context("the stored MPS snapshot is damaged")? };
    let mut new: Vec<(u64, Mark)> = mps_file::merge(entries).into_values().map(|e| (mps_hash(&e.key), e.mark)).collect();
    new.sort_unstable_by_key(|e| e.0);
    new.dedup_by(|b, a| {
        // Two keys with one hash: one entry that suppresses as much as both.
        let same = a.0 == b.0;
        if same {
            a.1 = a.1.merge(b.1);
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
        .map(|(h, mark)| {
            let old = current_hashes.binary_search(h).ok().map(|i| current[i].1);
            let since = mark.requested.date().or_else(|| match old {
                Some(meta) => mps_meta_parts(meta).0,
                None => since_for_new,
            });
            let meta = mps_meta(since, mark.deceased);
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
        before: Some(before),
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

/// The as-of date in a register file's name: `tps-2026-11-24.txt`, `TPS_20261124.txt`.
pub fn as_of_from_name(name: &str) -> Option<NaiveDate> {
    static DATE: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"(?:^|[^0-9])([0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{8})(?:[^0-9]|$)").ok());
    let found = DATE.as_ref()?.captures(name)?.get(1)?.as_str().to_owned();
    NaiveDate::parse_from_str(&found, "%Y-%m-%d").or_else(|_| NaiveDate::parse_from_str(&found, "%Y%m%d")).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

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

    // Planning, without a database: a file and the snapshot in force give the next snapshot,
    // what changed, or the refusal.

    fn d(s: &str) -> NaiveDate {
        crate::domain::time::fixtures::date(s)
    }

    /// The national number of test number `i` (020 3xxx xxxx).
    fn nsn(i: u64) -> u64 {
        2_030_000_000 + i
    }

    fn lines(numbers: impl Iterator<Item = u64>) -> String {
        numbers.map(|i| format!("0{}\r\n", nsn(i))).collect()
    }

    fn request(kind: Kind, as_of: &str) -> Request {
        Request { register: Register::Tps, as_of: d(as_of), kind, force: false, max_removal_percent: 10.0 }
    }

    const LATEST: &str = "2026-12-01";

    fn checked(req: &Request, text: &str) -> Result<(Content, Report), Refused> {
        check(req, read(req, text.as_bytes(), |_| {}).unwrap_or_else(|e| panic!("{e}")), d(LATEST))
    }

    fn planned(req: &Request, text: &str, in_force: Option<InForce<'_>>) -> Result<Plan, Refused> {
        let (content, report) = checked(req, text).unwrap_or_else(|r| panic!("{}", r.error));
        plan(req, content, report, in_force)
    }

    fn encoded(numbers: impl Iterator<Item = u64>) -> Vec<u8> {
        codec::encode(&numbers.map(nsn).collect::<Vec<_>>())
    }

    #[test]
    fn a_first_full_file_lists_every_number_since_before_the_first_import() {
        let req = request(Kind::Full, "2026-11-01");
        let plan = planned(&req, &lines([3, 1, 2, 2].into_iter()), None).unwrap_or_else(|r| panic!("{}", r.error));
        assert_eq!((plan.report.records, plan.report.added, plan.report.entries_after), (4, 3, 3));
        assert_eq!((plan.base, plan.changes), (None, None));
        assert_eq!(codec::decode(&plan.encoded), Some(vec![nsn(1), nsn(2), nsn(3)]));
        assert_eq!(plan.report.file_sha256, hex::encode(Sha256::digest(lines([3, 1, 2, 2].into_iter()).as_bytes())));
    }

    #[test]
    fn a_full_file_is_diffed_against_the_snapshot_in_force() {
        let current = encoded(0..20);
        let in_force = InForce { import_id: 7, as_of: d("2026-11-01"), encoded: &current };
        // 0 and 1 gone (10%, the limit), 20 new.
        let plan = planned(&request(Kind::Full, "2026-11-02"), &lines(2..21), Some(in_force)).unwrap_or_else(|r| panic!("{}", r.error));
        assert_eq!((plan.report.added, plan.report.removed, plan.report.unchanged, plan.report.entries_after), (1, 2, 18, 19));
        assert_eq!(plan.base, Some(7));
        assert_eq!(
            plan.changes,
            Some(Changed::Phones { added: vec![nsn(20)], removed: vec![nsn(0), nsn(1)], listed_since: d("2026-11-02") })
        );
        assert_eq!(codec::decode(&plan.encoded), Some((2..21).map(nsn).collect()));
    }

    #[test]
    fn a_change_file_adds_and_removes_and_counts_what_changed_nothing() {
        let current = encoded(0..5);
        let in_force = InForce { import_id: 1, as_of: d("2026-11-01"), encoded: &current };
        let delta = format!("A 0{}\r\nD 0{}\r\nA 0{}\r\nD 0{}\r\n", nsn(9), nsn(0), nsn(1), nsn(8));
        let plan = planned(&request(Kind::Delta, "2026-11-03"), &delta, Some(in_force)).unwrap_or_else(|r| panic!("{}", r.error));
        assert_eq!((plan.report.added, plan.report.removed, plan.report.unchanged, plan.report.entries_after), (1, 1, 2, 5));
        assert_eq!(codec::decode(&plan.encoded), Some(vec![nsn(1), nsn(2), nsn(3), nsn(4), nsn(9)]));
        // A change file never meets the removal limit.
        let all_gone: String = (0..5).map(|i| format!("D 0{}\r\n", nsn(i))).collect();
        let plan = planned(&request(Kind::Delta, "2026-11-03"), &all_gone, Some(in_force)).unwrap_or_else(|r| panic!("{}", r.error));
        assert_eq!((plan.report.removed, plan.report.entries_after), (5, 0));
    }

    #[test]
    fn files_are_refused_for_their_date_and_content_alone() {
        let req = request(Kind::Full, "2026-12-02");
        let refused = checked(&req, &lines(0..10)).err().map(|r| (r.error, r.report.records));
        assert!(matches!(refused, Some((ImportError::FutureAsOf { .. }, 10))), "{refused:?}");
        let req = request(Kind::Full, LATEST);
        let mut cut = lines(0..10);
        cut.truncate(cut.len() - 6);
        assert!(matches!(checked(&req, &cut).err().map(|r| r.error), Some(ImportError::Truncated(_))));
        assert!(matches!(checked(&req, "\r\n  \r\n").err().map(|r| r.error), Some(ImportError::Empty)));
        // 1 bad record in 101 is within 1%; 2 in 102 are not, and the report names them.
        let one_bad = lines(0..100) + "hello\r\n";
        assert_eq!(checked(&req, &one_bad).ok().map(|(_, r)| r.rejected), Some(1));
        let two_bad = one_bad + "world\r\n";
        let Some(Refused { error: ImportError::Corrupt { rejected, records, report }, .. }) = checked(&req, &two_bad).err() else {
            panic!("corrupt")
        };
        assert_eq!((rejected, records, report.rejected_samples[1].line), (2, 102, 102));
        let mps = Request { register: Register::Mps, ..request(Kind::Full, LATEST) };
        assert!(matches!(checked(&mps, "postcode,colour\nSW1A 1AA,red\n").err().map(|r| r.error), Some(ImportError::Unreadable(_))));
        assert!(matches!(read(&Request { kind: Kind::Delta, ..mps }, "".as_bytes(), |_| {}), Err(ImportError::MpsDelta)));
    }

    #[test]
    fn files_are_refused_against_the_snapshot_in_force() {
        let current = encoded(0..100);
        let in_force = InForce { import_id: 3, as_of: d("2026-11-10"), encoded: &current };
        let refusal = |req: &Request, text: &str, in_force| planned(req, text, in_force).err().map(|r| r.error);
        assert!(matches!(
            refusal(&request(Kind::Full, "2026-11-09"), &lines(0..100), Some(in_force)),
            Some(ImportError::OlderAsOf { current, given, .. }) if current == d("2026-11-10") && given == d("2026-11-09")
        ));
        assert!(matches!(refusal(&request(Kind::Delta, "2026-11-11"), "A 02030000001\r\n", None), Some(ImportError::NoBase(_))));
        // 11% removed: over the limit of 10, with the report of what it would have done.
        let Some(Refused { error: ImportError::TooManyRemovals { removed, entries, percent, limit, .. }, report }) =
            planned(&request(Kind::Full, "2026-11-11"), &lines(11..100), Some(in_force)).err()
        else {
            panic!("too many removals")
        };
        assert_eq!((removed, entries, limit, report.removed, report.entries_after), (11, 100, 10.0, 11, 89));
        assert!((percent - 11.0).abs() < 1e-9, "{percent}");
        // Forced, or under a higher limit, it is planned.
        let forced = Request { force: true, ..request(Kind::Full, "2026-11-11") };
        assert_eq!(planned(&forced, &lines(11..100), Some(in_force)).ok().map(|p| p.report.removed), Some(11));
        let lenient = Request { max_removal_percent: 11.0, ..request(Kind::Full, "2026-11-11") };
        assert_eq!(planned(&lenient, &lines(11..100), Some(in_force)).ok().map(|p| p.report.removed), Some(11));
        // A damaged snapshot is a failure of ours, not a refusal of the file.
        let damaged = InForce { encoded: &[0x80], ..in_force };
        let error = refusal(&request(Kind::Full, "2026-11-11"), &lines(0..100), Some(damaged));
        assert!(error.as_ref().is_some_and(|e| !e.is_refusal()), "{error:?}");
    }

    fn mps_file_of(entries: &[(&str, bool, Option<&str>)]) -> (Content, Report) {
        let entries = entries
            .iter()
            .map(|&(key, deceased, requested)| mps_file::Entry {
                key: key.to_owned(),
                mark: Mark { deceased, requested: requested.map_or(mps_file::Requested::Undated, |r| mps_file::Requested::On(d(r))) },
            })
            .collect::<Vec<_>>();
        let file = File {
            sha256: "0".repeat(64),
            records: entries.len() as u64,
            rejected: 0,
            samples: vec![],
            content: Ok(Content::Mps(entries)),
        };
        let req = Request { register: Register::Mps, ..request(Kind::Full, LATEST) };
        check(&req, file, d(LATEST)).unwrap_or_else(|r| panic!("{}", r.error))
    }

    fn mps_snapshot(encoded: &[u8]) -> HashMap<u64, (Option<NaiveDate>, bool)> {
        codec::decode_entries(encoded).unwrap_or_default().into_iter().map(|(h, meta)| (h, mps_meta_parts(meta))).collect()
    }

    #[test]
    fn mps_entries_keep_or_get_their_listed_since() {
        let mps = |as_of| Request { register: Register::Mps, ..request(Kind::Full, as_of) };
        // First import: a date of request is kept; none is listed since before the first import.
        // A key twice is one entry, merged.
        let (content, report) = mps_file_of(&[("A", false, Some("2026-09-01")), ("B", false, None), ("A", true, Some("2026-08-01"))]);
        let first = plan(&mps("2026-11-01"), content, report, None).unwrap_or_else(|r| panic!("{}", r.error));
        assert_eq!((first.report.added, first.report.entries_after, first.changes.is_none()), (2, 2, true));
        let snapshot = mps_snapshot(&first.encoded);
        assert_eq!(snapshot[&mps_hash("A")], (Some(d("2026-08-01")), true));
        assert_eq!(snapshot[&mps_hash("B")], (None, false));
        // Next import: B kept (its date unknown still), A now alive (changed), C new: listed since
        // the day after the snapshot in force; then A goes.
        let in_force = InForce { import_id: 1, as_of: d("2026-11-01"), encoded: &first.encoded };
        let (content, report) = mps_file_of(&[("A", false, Some("2026-08-01")), ("B", false, None), ("C", false, None)]);
        let next = plan(&mps("2026-11-02"), content, report, Some(in_force)).unwrap_or_else(|r| panic!("{}", r.error));
        let snapshot = mps_snapshot(&next.encoded);
        assert_eq!(snapshot[&mps_hash("B")], (None, false));
        assert_eq!(snapshot[&mps_hash("C")], (Some(d("2026-11-02")), false));
        assert_eq!(snapshot[&mps_hash("A")], (Some(d("2026-08-01")), false));
        let was = Change { number: mps_hash("A"), kind: ChangeKind::Changed, listed_since: Some(d("2026-08-01")), deceased: true };
        assert_eq!(next.changes, Some(Changed::Entries { added: vec![mps_hash("C")], before: vec![was] }));
        let in_force = InForce { import_id: 2, as_of: d("2026-11-02"), encoded: &next.encoded };
        let (content, report) = mps_file_of(&[("B", false, None), ("C", false, None)]);
        let last =
            plan(&Request { force: true, ..mps("2026-11-03") }, content, report, Some(in_force)).unwrap_or_else(|r| panic!("{}", r.error));
        let gone = Change { number: mps_hash("A"), kind: ChangeKind::Removed, listed_since: Some(d("2026-08-01")), deceased: false };
        assert_eq!(last.changes, Some(Changed::Entries { added: vec![], before: vec![gone] }));
        assert_eq!(mps_snapshot(&last.encoded)[&mps_hash("C")], (Some(d("2026-11-02")), false));
    }
}
