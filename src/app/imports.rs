//! Use cases that load files: import a register file, undo a register's latest import, and
//! bulk-load legacy statements. The CLI (one file, or the spool), the HTTP API and the demo call
//! these. Each reads and plans in the pure modules (`registers::import`, `registers::undo`,
//! `inhouse::bulk_load`), keeps every attempt in the import history, and has the store write
//! what was planned in one transaction.

use std::io::Read;
use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDateTime;
use serde_json::json;

use super::error::{AppError, ErrorCode};
use super::mail::Mail;

use crate::domain::time::now_utc;
use crate::domain::Register;
use crate::inhouse::bulk_load::{LoadError, Loader, Report as LoadReport, Stop};
use crate::registers::import::{self, ImportError, InForce, Refused, Report, Request};
use crate::registers::undo::UndoReport;
use crate::store::registers::{self as db, ImportWrite, NewImport, NewSnapshot, Restored, UndoWrite, WriteError};
use crate::store::statements::{insert_bulk, refresh_statistics, BulkError};
use crate::store::{DbConnection, Store};
use crate::store::{ImportKind, ImportStatus};

/// Import one register file: read and hash it, refuse what must be refused, plan the next
/// snapshot against the one in force and write it (CONTRACT §4). The same file applied before
/// for the same date is a no-op reported `already_imported`. Every attempt, applied, refused or
/// a no-op, is kept in the import history. `progress` is told the records read so far.
///
/// Each attempt's report goes to the outbox (`mail`), written with the attempt's history row;
/// an attempt that never reached the history (an unreadable file, a failure of ours) is
/// reported on its own.
pub fn import_register<R: Read>(
    store: &Store,
    req: &Request,
    input: R,
    progress: impl FnMut(u64),
    mail: &Mail,
) -> Result<Report, ImportError> {
    let mut reported = false;
    let result = import_and_report(store, req, input, progress, mail, &mut reported);
    if let (false, Err(e)) = (reported, &result) {
        if let Some(m) = mail.import_report(req.register, req.as_of, Err(e)) {
            super::outbox::write_or_log(store, m, "a failed import's report");
        }
    }
    result
}

fn import_and_report<R: Read>(
    store: &Store,
    req: &Request,
    input: R,
    progress: impl FnMut(u64),
    mail: &Mail,
    reported: &mut bool,
) -> Result<Report, ImportError> {
    let started = Instant::now();
    let file = import::read(req, input, progress)?;
    let mut conn = store.conn()?;
    let (content, report) = match import::check(req, file, import::latest_as_of()) {
        Ok(checked) => checked,
        Err(refused) => return Err(record_refusal(&mut conn, req, refused, mail, reported)),
    };
    if let Some(done) = already_imported(&mut conn, req, &report.file_sha256, started, mail, reported)? {
        return Ok(done);
    }
    let planned = {
        let in_force = db::numbers(&mut conn, req.register.as_str()).context("reading the register's snapshot")?;
        let in_force =
            in_force.as_ref().map(|(head, encoded)| InForce { import_id: head.import_id, as_of: head.as_of, encoded: encoded.as_slice() });
        import::plan(req, content, report, in_force)
    };
    let mut plan = match planned {
        Ok(plan) => plan,
        Err(refused) => return Err(record_refusal(&mut conn, req, refused, mail, reported)),
    };
    plan.report.duration_ms = started.elapsed().as_millis() as u64;
    let imported_at = now_utc();
    let write = ImportWrite {
        history: history_row(req, &plan.report, ImportStatus::Applied, None, imported_at)?,
        base: plan.base,
        snapshot: NewSnapshot {
            register: req.register,
            import_id: 0,
            as_of: req.as_of,
            entries: plan.report.entries_after as i64,
            file_sha256: plan.report.file_sha256.clone(),
            imported_at,
            numbers: plan.encoded,
        },
        changes: plan.changes,
        messages: mail.import_report(req.register, req.as_of, Ok(&plan.report)).into_iter().collect(),
    };
    let mut report = plan.report;
    match db::apply_import(&mut conn, write) {
        Ok(_) => {
            *reported = true;
            tracing::info!(register = %req.register, as_of = %req.as_of, added = report.added, removed = report.removed, entries = report.entries_after, "register import applied");
            report.duration_ms = started.elapsed().as_millis() as u64;
            Ok(report)
        }
        // The same file, applied by an import that ran at the same time: the no-op it is.
        Err(WriteError::SameFile) => already_imported(&mut conn, req, &report.file_sha256, started, mail, reported)?
            .ok_or_else(|| anyhow::anyhow!("the import history refused this import and holds no applied import of the file").into()),
        Err(WriteError::Raced) => Err(record_refusal(
            &mut conn,
            req,
            Refused { error: ImportError::Raced(req.register), report: Box::new(report) },
            mail,
            reported,
        )),
        Err(WriteError::Db(e)) => {
            Err(anyhow::Error::new(e).context("the database refused the import; the previous snapshot stays in force").into())
        }
    }
}

/// Keep a refused import in the history with its reason (a failure to keep it is logged, not
/// hidden), and give the error to answer with. A failure of ours is not a fact about the file:
/// it is not kept.
fn record_refusal(conn: &mut DbConnection, req: &Request, refused: Refused, mail: &Mail, reported: &mut bool) -> ImportError {
    let Refused { error, report } = refused;
    if error.is_refusal() {
        let message: Vec<_> = mail.import_report(req.register, req.as_of, Err(&error)).into_iter().collect();
        let kept = history_row(req, &report, ImportStatus::Failed, Some(error.to_string()), now_utc())
            .and_then(|row| db::insert_import_noting(conn, &row, &message).map(drop).map_err(|e| anyhow::Error::new(e).into()));
        match kept {
            Ok(()) => *reported = true,
            Err(e) => tracing::error!(error = %e, "could not record a failed import"),
        }
    }
    error
}

/// The report of this file's applied import for this date, if any, marked `already_imported`;
/// the attempt is recorded in the history.
fn already_imported(
    conn: &mut DbConnection,
    req: &Request,
    sha: &str,
    started: Instant,
    mail: &Mail,
    reported: &mut bool,
) -> Result<Option<Report>, ImportError> {
    let Some(done) = db::applied_file(conn, req.register.as_str(), sha, req.as_of).context("reading the import history")? else {
        return Ok(None);
    };
    let mut earlier: Report = serde_json::from_value(done.report).context("reading an earlier import's report")?;
    earlier.already_imported = true;
    earlier.duration_ms = started.elapsed().as_millis() as u64;
    let note = format!("the same file was applied by import {}; nothing changed", done.id);
    let row = history_row(req, &earlier, ImportStatus::AlreadyImported, Some(note), now_utc())?;
    let message: Vec<_> = mail.import_report(req.register, req.as_of, Ok(&earlier)).into_iter().collect();
    db::insert_import_noting(conn, &row, &message).context("recording the attempt in the import history")?;
    *reported = true;
    Ok(Some(earlier))
}

/// An import's row in the history.
fn history_row(
    req: &Request,
    report: &Report,
    status: ImportStatus,
    error: Option<String>,
    at: NaiveDateTime,
) -> Result<NewImport, ImportError> {
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
        report: serde_json::to_string(report).map_err(anyhow::Error::from)?,
        undoes: None,
    })
}

/// Undo the latest applied import of a register (CONTRACT §4): the snapshot before it is in
/// force again (or none, if it was the register's only import).
pub fn undo(store: &Store, register: Register) -> Result<UndoReport, ImportError> {
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
    let (mut report, rebuilt) = crate::registers::undo::plan(register, &head, &current, &target, previous.as_ref(), &changes)?;
    drop(current);
    report.duration_ms = started.elapsed().as_millis() as u64;
    let history = NewImport {
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
        report: serde_json::to_string(&report).map_err(anyhow::Error::from)?,
        undoes: Some(target.id),
    };
    let restored = previous.zip(rebuilt).map(|(prev, r)| Restored {
        snapshot: NewSnapshot {
            register,
            import_id: prev.id,
            as_of: prev.as_of,
            entries: r.entries as i64,
            file_sha256: prev.file_sha256,
            imported_at: prev.imported_at,
            numbers: r.encoded,
        },
        drop: r.drop,
        put_back: r.put_back,
    });
    match db::apply_undo(&mut conn, UndoWrite { history, register: name.to_owned(), undone: target.id, restored }) {
        Ok(()) => {
            report.duration_ms = started.elapsed().as_millis() as u64;
            tracing::info!(register = %register, undone_import = target.id, as_of = ?report.as_of, entries = report.entries_after, "register import undone");
            Ok(report)
        }
        Err(WriteError::Raced | WriteError::SameFile) => Err(ImportError::Raced(register)),
        Err(WriteError::Db(e)) => {
            Err(anyhow::Error::new(e).context("the database refused the undo; the snapshot in force is unchanged").into())
        }
    }
}

/// Load a legacy file of statements in one transaction: every row, or (a row rejected without
/// `skip_rejected`, a file that cannot be read on) none. `via` names who loaded it.
pub fn bulk_load<R: Read>(store: &Store, input: R, skip_rejected: bool, via: &str) -> Result<LoadReport, LoadError> {
    let mut loader = Loader::new(input, skip_rejected, via)?;
    let mut conn = store.conn()?;
    let result = insert_bulk(&mut conn, &mut loader);
    let mut report = loader.into_report();
    let held_back = report.rejected > 0 && !skip_rejected;
    match result {
        Ok(_) => {
            report.loaded = true;
            // Committed; fresh statistics keep every instance's catch-up read on its index.
            if let Err(e) = refresh_statistics(&mut conn) {
                tracing::warn!(error = %e, "could not refresh the statistics on statements after the load");
            }
            Ok(report)
        }
        Err(BulkError::Source(Stop::File(e))) if !held_back => Err(e.into()),
        Err(BulkError::Source(_)) => {
            report.statements = 0;
            Err(LoadError::Rejected { rejected: report.rejected, report: Box::new(report) })
        }
        Err(BulkError::Db(e)) => Err(anyhow::Error::new(e).context("the database refused the statements; nothing was loaded").into()),
    }
}

/// The latest `limit` rows of the import history, of one register or all, newest first.
pub fn history(conn: &mut DbConnection, register: Option<Register>, limit: i64) -> Result<Vec<db::ImportRow>, super::AppError> {
    Ok(db::imports(conn, register.map(Register::as_str), limit)?)
}

/// A register file refused or failed, as every caller answers it: its code, sentence and details.
pub fn refusal(e: ImportError) -> AppError {
    let message = e.to_string();
    match e {
        ImportError::Corrupt { report, .. } => AppError::new(ErrorCode::RegisterFileCorrupt, message).details(json!({ "report": report })),
        ImportError::Empty => AppError::new(ErrorCode::RegisterFileEmpty, message),
        ImportError::Truncated(_) => AppError::new(ErrorCode::RegisterFileTruncated, message),
        ImportError::OlderAsOf { register, current, given } => AppError::new(ErrorCode::RegisterOlderAsOf, message)
            .details(json!({ "register": register, "current_as_of": current, "as_of": given })),
        ImportError::TooManyRemovals { register, removed, entries, limit, report, .. } => {
            AppError::new(ErrorCode::TooManyRemovals, message)
                .details(json!({ "register": register, "removed": removed, "entries": entries, "limit_percent": limit, "report": report }))
        }
        ImportError::NoBase(register) => AppError::new(ErrorCode::RegisterMissing, message).details(json!({ "register": register })),
        ImportError::Raced(register) => AppError::new(ErrorCode::ImportConflict, message).details(json!({ "register": register })),
        ImportError::MpsDelta => AppError::new(ErrorCode::InvalidKind, message).details(json!({ "field": "kind" })),
        ImportError::FutureAsOf { given, latest } => AppError::new(ErrorCode::RegisterFutureAsOf, message)
            .details(json!({ "field": "as_of", "as_of": given, "latest_as_of": latest })),
        ImportError::Unreadable(_) => AppError::new(ErrorCode::RegisterFileUnreadable, message),
        ImportError::NothingToUndo(register) => AppError::new(ErrorCode::NothingToUndo, message).details(json!({ "register": register })),
        ImportError::CannotUndo { register, import, .. } => {
            AppError::new(ErrorCode::CannotUndo, message).details(json!({ "register": register, "import": import }))
        }
        ImportError::Other(e) => AppError::internal(format!("{e:#}")),
    }
}

/// Serve the register snapshots now in the store at once (after an import or an undo here),
/// rather than at the watcher's next look.
/// The registers are checked for staleness alarms too (CONTRACT §11: after each import).
pub fn serve_now(app: &super::App) -> Result<(), AppError> {
    app.registers.refresh(&app.store).map_err(|e| AppError::internal(format!("{e:#}")))?;
    if app.mail.reports() {
        if let Err(e) = super::alarms::check(&app.store, &app.mail) {
            tracing::warn!(error = %format!("{e:#}"), "could not check the registers for staleness");
        }
    }
    Ok(())
}
