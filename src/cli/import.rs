//! `suppress import opt-outs FILE` (legacy statements); `import tps|ctps|mps` is not built yet.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::inhouse::bulk_load::{self, LoadError, Report};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum What {
    /// Legacy in-house opt-outs and consents (CSV).
    OptOuts,
    Tps,
    Ctps,
    Mps,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[arg(value_enum)]
    pub what: What,
    pub file: PathBuf,
    /// opt-outs: load the valid rows even when some are rejected.
    #[arg(long)]
    pub skip_rejected: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(database_url: &str, args: ImportArgs) -> anyhow::Result<()> {
    if args.what != What::OptOuts {
        bail!("register imports (tps, ctps, mps) are not built yet; nothing was imported");
    }
    let file = bulk_load::open(&args.file)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr()).with_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let store = super::open_store(database_url)?;
    let result = bulk_load::load(
        &store,
        bar.wrap_read(file),
        args.skip_rejected,
        &format!("cli:{}", args.file.display()),
    );
    bar.finish_and_clear();
    match result {
        Ok(report) => {
            print_report(&report, args.json)?;
            Ok(())
        }
        Err(LoadError::Rejected { rejected, report }) => {
            print_report(&report, args.json)?;
            bail!("{rejected} row(s) rejected, so nothing was loaded (fix them, or load the rest with --skip-rejected)")
        }
        Err(LoadError::File(e)) => {
            Err(e.context(format!("{} was not loaded", args.file.display())))
        }
    }
}

fn print_report(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    if report.loaded {
        println!(
            "loaded {} statements from {} rows; {} rows rejected",
            report.statements, report.rows, report.rejected
        );
    } else {
        println!(
            "nothing loaded: {} of {} rows rejected",
            report.rejected, report.rows
        );
    }
    for r in &report.rejected_samples {
        eprintln!("line {}: {}", r.line, r.error);
    }
    if report.rejected > report.rejected_samples.len() as u64 {
        eprintln!(
            "… and {} more rejected rows",
            report.rejected - report.rejected_samples.len() as u64
        );
    }
    Ok(())
}
