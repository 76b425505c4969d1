//! `suppress import opt-outs FILE` (legacy statements), `suppress import tps|ctps|mps FILE`
//! (register files), `suppress import undo tps|ctps|mps` (take back a register's latest import)
//! and `suppress import --spool DIR` (the nightly job).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{RemovalLimitArgs, ReportArgs};
use crate::app::imports;
use crate::app::mail::{Mail, SpoolFile};
use crate::domain::Register;
use crate::inhouse::bulk_load::{self, LoadError, Report};
use crate::registers::import::{self, as_of_from_name, ImportError, Kind, Request};
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum What {
    /// Legacy in-house opt-outs and consents (CSV).
    OptOuts,
    Tps,
    Ctps,
    Mps,
    /// Undo the latest applied import of the register named next (tps, ctps or mps), restoring
    /// the snapshot before it.
    Undo,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[arg(value_enum, required_unless_present = "spool")]
    pub what: Option<What>,
    /// The file to import (for undo: the register, tps, ctps or mps).
    #[arg(required_unless_present = "spool")]
    pub file: Option<PathBuf>,
    /// The register file's date (default: from the file name, e.g. tps-2026-11-24.txt).
    #[arg(long)]
    pub as_of: Option<String>,
    /// The file is a change file (A/D records), not a full file.
    #[arg(long)]
    pub delta: bool,
    /// Apply a full file even if it removes more than --max-removal-percent of the entries.
    #[arg(long)]
    pub force: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// opt-outs: load the valid rows even when some are rejected.
    #[arg(long)]
    pub skip_rejected: bool,
    /// Import every `{tps|ctps|mps}-YYYY-MM-DD[-delta].{txt|csv|dat}` in DIR, in date order,
    /// moving each to DIR/done or DIR/failed (with a .error file).
    #[arg(long, conflicts_with_all = ["what", "file"])]
    pub spool: Option<PathBuf>,
    #[command(flatten)]
    pub limit: RemovalLimitArgs,
    #[command(flatten)]
    pub reports: ReportArgs,
}

pub fn run(database_url: &str, args: ImportArgs) -> anyhow::Result<()> {
    let store = super::open_store(database_url)?;
    let (settings, mail) = args.reports.mail()?;
    let result = import(&store, &args, &mail);
    if mail.reports() {
        // After an import (applied or not), today's staleness alarms too.
        if let Err(e) = crate::app::alarms::check(&store, &mail) {
            eprintln!("could not check the registers for staleness: {e:#}");
        }
    }
    super::deliver(&store, &settings);
    result
}

fn import(store: &Store, args: &ImportArgs, mail: &Mail) -> anyhow::Result<()> {
    if let Some(dir) = &args.spool {
        return spool(store, dir, args.limit.max_removal_percent, mail);
    }
    let (Some(what), Some(file)) = (args.what, args.file.as_ref()) else { bail!("name what to import and the file") };
    let register = match what {
        What::OptOuts => return opt_outs(store, file, args.skip_rejected, args.json),
        What::Tps => Register::Tps,
        What::Ctps => Register::Ctps,
        What::Mps => Register::Mps,
        What::Undo => return undo(store, file, args.json),
    };
    let as_of = match &args.as_of {
        Some(d) => crate::domain::time::parse_date(d).map_err(anyhow::Error::msg)?,
        None => file_date(file)?,
    };
    let req = Request {
        register,
        as_of,
        kind: if args.delta { Kind::Delta } else { Kind::Full },
        force: args.force,
        max_removal_percent: args.limit.max_removal_percent,
    };
    let report = import_register(store, &req, file, mail).map_err(|e| not_imported(e, file))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", summary(&report));
    }
    Ok(())
}

fn undo(store: &Store, register: &Path, json: bool) -> anyhow::Result<()> {
    let register: Register = register.to_string_lossy().parse().map_err(|e: String| anyhow::anyhow!("{e}"))?;
    let r = imports::undo(store, register).map_err(anyhow::Error::new)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    match (r.restored_import, r.as_of) {
        (Some(id), Some(as_of)) => println!(
            "{} import {} (dated {}) undone: the snapshot of import {id}, dated {as_of}, is in force again; {} put back, {} taken out; {} entries",
            r.register, r.undone_import, r.undone_as_of, r.added, r.removed, r.entries_after
        ),
        _ => println!(
            "{} import {} (dated {}) undone: it was the register's only import, so {} has no snapshot (never imported)",
            r.register, r.undone_import, r.undone_as_of, r.register
        ),
    }
    Ok(())
}

fn file_date(file: &Path) -> anyhow::Result<NaiveDate> {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    as_of_from_name(&name).with_context(|| format!("no date in the file name {name:?}: give --as-of YYYY-MM-DD"))
}

fn summary(r: &import::Report) -> String {
    if r.already_imported {
        return format!(
            "{} {} {}: this file (sha256 {}) was imported before; nothing changed",
            r.register,
            r.as_of,
            r.kind,
            &r.file_sha256[..12]
        );
    }
    format!(
        "{} {}: {} records, {} added, {} removed, {} unchanged, {} rejected; {} entries; {} ms",
        r.register, r.as_of, r.records, r.added, r.removed, r.unchanged, r.rejected, r.entries_after, r.duration_ms
    )
}

/// Import one register file with a progress bar (records and records/s) on a terminal.
fn import_register(store: &Store, req: &Request, file: &Path, mail: &Mail) -> Result<import::Report, ImportError> {
    let f = bulk_load::open(file)?;
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
        ProgressStyle::with_template("{spinner} {human_pos} records ({per_sec}) {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let result = imports::import_register(store, req, f, |records| bar.set_position(records), mail);
    bar.finish_and_clear();
    result.inspect_err(|e| {
        if let ImportError::Corrupt { report, .. } | ImportError::TooManyRemovals { report, .. } = e {
            // The lines' text stays in the report (--json): a terminal or a cron log may be kept.
            for s in &report.rejected_samples {
                eprintln!("line {}: {}", s.line, s.error);
            }
        }
    })
}

fn not_imported(e: ImportError, file: &Path) -> anyhow::Error {
    anyhow::Error::new(e).context(format!("{} was not imported", file.display()))
}

fn opt_outs(store: &Store, file: &Path, skip_rejected: bool, json: bool) -> anyhow::Result<()> {
    let f = bulk_load::open(file)?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = super::file_bar(Some(len));
    let result = imports::bulk_load(store, bar.wrap_read(f), skip_rejected, &format!("cli:{}", file.display()));
    bar.finish_and_clear();
    match result {
        Ok(report) => print_report(&report, json),
        Err(LoadError::Rejected { rejected, report }) => {
            print_report(&report, json)?;
            bail!("{rejected} row(s) rejected, so nothing was loaded (fix them, or load the rest with --skip-rejected)")
        }
        Err(LoadError::File(e)) => Err(e.context(format!("{} was not loaded", file.display()))),
    }
}

fn print_report(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    if report.loaded {
        println!("loaded {} statements from {} rows; {} rows rejected", report.statements, report.rows, report.rejected);
    } else {
        println!("nothing loaded: {} of {} rows rejected", report.rejected, report.rows);
    }
    for r in &report.rejected_samples {
        eprintln!("line {}: {}", r.line, r.error);
    }
    if report.rejected > report.rejected_samples.len() as u64 {
        eprintln!("… and {} more rejected rows", report.rejected - report.rejected_samples.len() as u64);
    }
    Ok(())
}

/// A spool file's name: `{register}-YYYY-MM-DD[-delta].{txt|csv|dat}`.
fn spool_name(name: &str) -> Option<(Register, NaiveDate, Kind)> {
    let (stem, ext) = name.rsplit_once('.')?;
    if !matches!(ext, "txt" | "csv" | "dat") {
        return None;
    }
    let (stem, kind) = match stem.strip_suffix("-delta") {
        Some(s) => (s, Kind::Delta),
        None => (stem, Kind::Full),
    };
    let (register, date) = stem.split_once('-')?;
    let register: Register = register.parse().ok().filter(|_| register.chars().all(|c| c.is_ascii_lowercase()))?;
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok().filter(|d| d.format("%Y-%m-%d").to_string() == date)?;
    Some((register, date, kind))
}

/// Whether a path is a regular file itself (a symbolic link is not followed); None if it is gone.
fn regular(path: &Path) -> Option<bool> {
    path.symlink_metadata().ok().map(|m| m.file_type().is_file())
}

/// The nightly job: every spool file in date order (a full file before a change file of the same
/// date), each moved to done/ or failed/; an error if any failed.
fn spool(store: &Store, dir: &Path, max_removal_percent: f64, mail: &Mail) -> anyhow::Result<()> {
    let mut files: Vec<(NaiveDate, bool, Register, Kind, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read the spool folder {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match regular(&path) {
            Some(true) => {}
            // done/ and failed/ live here.
            _ if path.symlink_metadata().is_ok_and(|m| m.is_dir()) => continue,
            _ => {
                eprintln!("skipped {name}: not a regular file (a link, a device or a pipe); left in place");
                continue;
            }
        }
        match spool_name(&name) {
            Some((r, d, k)) => files.push((d, k == Kind::Delta, r, k, path)),
            None => eprintln!("skipped {name}: not named {{tps|ctps|mps}}-YYYY-MM-DD[-delta].{{txt|csv|dat}}"),
        }
    }
    files.sort_by_key(|f| (f.0, f.1, f.2));
    let (done, failed) = (dir.join("done"), dir.join("failed"));
    std::fs::create_dir_all(&done)
        .and_then(|_| std::fs::create_dir_all(&failed))
        .with_context(|| format!("cannot create done/ and failed/ in {}", dir.display()))?;
    // Each file's import reports nothing itself: the run sends one message for all of them. A
    // watchdog is held in the outbox meanwhile, sent in the report's place if the run never ends.
    let quiet = mail.without_reports();
    let names: Vec<String> = files.iter().map(|f| f.4.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()).collect();
    let watchdog = mail.spool_watchdog(crate::domain::time::now_utc(), &names);
    let held = watchdog.as_ref().and_then(|w| w.dedupe.clone());
    if let Some(w) = watchdog {
        crate::app::outbox::write(store, w).context("the run's watchdog could not be written to the outbox")?;
    }
    let mut outcomes: Vec<(String, Register, NaiveDate, Result<import::Report, ImportError>)> = Vec::new();
    let mut moved = Ok(());
    for (as_of, _, register, kind, path) in files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let req = Request { register, as_of, kind, force: false, max_removal_percent };
        // Replaced by a link since the folder was read: still not followed.
        if regular(&path) != Some(true) {
            eprintln!("skipped {name}: not a regular file (a link, a device or a pipe); left in place");
            continue;
        }
        let outcome = import_register(store, &req, &path, &quiet);
        let placed = match &outcome {
            Ok(report) => {
                println!("ok     {name}: {}", summary(report));
                std::fs::rename(&path, done.join(&name)).with_context(|| format!("cannot move {name} to done/"))
            }
            Err(e) => {
                let message = format!("{e:#}");
                println!("FAILED {name}: {message}");
                std::fs::write(failed.join(format!("{name}.error")), format!("{message}\n"))
                    .with_context(|| format!("cannot write {name}.error"))
                    .and_then(|()| std::fs::rename(&path, failed.join(&name)).with_context(|| format!("cannot move {name} to failed/")))
            }
        };
        outcomes.push((name, register, as_of, outcome));
        if placed.is_err() {
            moved = placed;
            break;
        }
    }
    let files: Vec<SpoolFile<'_>> = outcomes
        .iter()
        .map(|(name, register, as_of, outcome)| SpoolFile { name, register: *register, as_of: *as_of, outcome: outcome.as_ref() })
        .collect();
    let report = mail.spool_report(&files);
    match &held {
        Some(held) => crate::app::outbox::replace_held(store, held, report.as_ref()),
        None => report.map_or(Ok(()), |r| crate::app::outbox::write(store, r).map(drop)),
    }
    .context("the run's report could not be written to the outbox")?;
    moved?;
    let failures = outcomes.iter().filter(|o| o.3.is_err()).count();
    if failures > 0 {
        bail!("{failures} spool file(s) failed; see {}", failed.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_names() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        assert_eq!(spool_name("tps-2026-11-24.txt"), Some((Register::Tps, d, Kind::Full)));
        assert_eq!(spool_name("ctps-2026-11-24-delta.dat"), Some((Register::Ctps, d, Kind::Delta)));
        assert_eq!(spool_name("mps-2026-11-24.csv"), Some((Register::Mps, d, Kind::Full)));
        for bad in ["tps-2026-11-24.zip", "TPS-2026-11-24.txt", "tps-20261124.txt", "fax-2026-11-24.txt", "tps-2026-13-01.txt", "notes.txt"]
        {
            assert_eq!(spool_name(bad), None, "{bad}");
        }
    }
}
