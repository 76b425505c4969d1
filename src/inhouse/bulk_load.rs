//! `suppress import opt-outs FILE.csv`: legacy statements, read here into batches of rows that
//! the store writes in one transaction (`app::imports::bulk_load`, `store::statements::insert_bulk`).
//!
//! The file must be well formed as a whole (a header of known columns, UTF-8); a row whose
//! content cannot be used is rejected with its line number. By default one rejected row stops the
//! load and nothing is written (`skip_rejected` loads the rest), so a file is never half-applied by
//! accident.

use std::io::Read;

use anyhow::{bail, Context};
use serde::Serialize;

use crate::bytes::Watch;
use crate::domain::headers::{self, Field};
use crate::domain::preference::{AddressInput, Said};
use crate::domain::text;
use crate::domain::time::{now_utc, parse_timestamp};
use crate::domain::{Channel, Contacts, Rejected, Source, StatementKind};
use crate::store::statements::NewStatement;

const BATCH: usize = 1_000;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub rows: u64,
    pub statements: u64,
    pub rejected: u64,
    pub rejected_samples: Vec<Rejected>,
    pub loaded: bool,
}

/// What each column of the header is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Phone,
    Email,
    Postcode,
    Surname,
    Line,
    /// One address column, split at commas.
    Address,
    Ignored,
    Channel,
    Kind,
    RecordedAt,
    Source,
    RecordedBy,
    Note,
    Evidence,
}

pub const KNOWN_COLUMNS: &str = "phone (or any name a scrub knows: Phone Number, Mobile, …), email, postcode, surname, address, \
    address_1…address_5 (address1, line_1, Address Line 1, street), town, county, channel, kind, recorded_at, source, recorded_by, \
    note, evidence";

/// A header's column: the contact-point names as a scrub knows them (CONTRACT §5, compared folded),
/// and the statement's own columns, folded the same way.
fn column(header: &str) -> Option<Column> {
    if let Some(field) = headers::field(header) {
        return Some(match field {
            Field::Phone => Column::Phone,
            Field::Email => Column::Email,
            Field::Postcode => Column::Postcode,
            Field::Surname => Column::Surname,
            Field::AddressLine => Column::Line,
            Field::Address => Column::Address,
        });
    }
    Some(match headers::fold(header).as_str() {
        "town" | "county" | "title" | "prefix" | "forename" | "firstname" => Column::Ignored,
        "channel" | "channels" => Column::Channel,
        "kind" => Column::Kind,
        "recordedat" => Column::RecordedAt,
        "source" => Column::Source,
        "recordedby" => Column::RecordedBy,
        "note" => Column::Note,
        "evidence" => Column::Evidence,
        _ => return None,
    })
}

/// One row's fields by meaning.
#[derive(Default)]
struct Row<'a> {
    phone: Option<&'a str>,
    email: Option<&'a str>,
    postcode: Option<&'a str>,
    surname: Option<&'a str>,
    lines: Vec<&'a str>,
    channel: Option<&'a str>,
    kind: Option<&'a str>,
    recorded_at: Option<&'a str>,
    source: Option<&'a str>,
    recorded_by: Option<&'a str>,
    note: Option<&'a str>,
    evidence: Option<&'a str>,
}

fn nonempty(s: &str) -> Option<&str> {
    let t = s.trim();
    (!t.is_empty()).then_some(t)
}

fn statements_of(row: &Row<'_>, via: &str) -> Result<Vec<NewStatement>, String> {
    let address = row.postcode.map(|postcode| AddressInput { lines: &row.lines, postcode, surname: row.surname });
    if let Some(a) = &address {
        text::check_address("address", a.lines, a.surname).map_err(|e| e.to_string())?;
    }
    let contacts = Contacts::parse(row.phone, row.email, address).map_err(|e| e.message)?;
    let channels = row
        .channel
        .map(|c| c.split([';', '|']).filter_map(nonempty).map(str::parse::<Channel>).collect::<Result<Vec<_>, _>>())
        .transpose()?;
    let kind = match row.kind.map(|k| k.to_ascii_lowercase().replace(['-', ' '], "_")) {
        Some(k) if k == "optout" => StatementKind::OptOut,
        Some(k) => k.parse::<StatementKind>()?,
        None => return Err("kind is empty: give opt_out or consent".into()),
    };
    let recorded_at = parse_timestamp(row.recorded_at.ok_or("recorded_at is empty")?)?;
    let source = row.source.map(str::parse::<Source>).transpose()?.unwrap_or(Source::BulkLoad);
    if recorded_at > now_utc() {
        return Err("recorded_at is in the future: a statement can only be recorded once it was made".into());
    }
    let said = Said::new(kind, source, recorded_at, row.recorded_by.map(str::to_owned), row.note.map(str::to_owned), row.evidence)
        .map_err(|e| e.to_string())?;
    let targets = contacts.targets(channels.as_deref()).map_err(|e| e.to_string())?;
    Ok(NewStatement::for_targets(targets, &said, via))
}

/// Why a load was stopped with nothing written.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{rejected} row(s) rejected, so nothing was loaded (fix them, or load the rest with --skip-rejected)")]
    Rejected { rejected: u64, report: Box<Report> },
    #[error(transparent)]
    File(#[from] anyhow::Error),
}

/// Why a file's rows stop being read: nothing of it may be written.
#[derive(Debug)]
pub enum Stop {
    /// Some rows were rejected and the rest may not be loaded without them.
    Rejected,
    /// The file cannot be read on, or holds no rows.
    File(anyhow::Error),
}

/// A legacy file being read: its header taken, its rows read a batch at a time (an iterator of
/// batches; a `Stop` ends it, and then nothing may be written).
pub struct Loader<R> {
    reader: csv::Reader<Watch<R>>,
    columns: Vec<Column>,
    record: csv::ByteRecord,
    skip_rejected: bool,
    via: String,
    report: Report,
    done: bool,
}

impl<R: Read> Loader<R> {
    /// Read and check the header. `via` names who loads the file (kept with each statement).
    pub fn new(input: R, skip_rejected: bool, via: &str) -> anyhow::Result<Loader<R>> {
        // A quote that never closes would swallow the rest of the file into one rejected row.
        let mut reader = csv::ReaderBuilder::new().flexible(true).has_headers(true).from_reader(Watch::new(input, b','));
        let headers = reader.byte_headers().context("cannot read the header row")?.clone();
        let headers: Vec<String> = headers
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let h = std::str::from_utf8(h).map_err(|_| anyhow::anyhow!("the header row is not UTF-8"))?;
                Ok(if i == 0 { h.trim_start_matches('\u{feff}').to_owned() } else { h.to_owned() })
            })
            .collect::<anyhow::Result<_>>()?;
        let columns: Vec<Column> = headers
            .iter()
            .map(|h| column(h).ok_or_else(|| anyhow::anyhow!("unknown column {h:?} in the header; known columns: {KNOWN_COLUMNS}")))
            .collect::<anyhow::Result<_>>()?;
        // Two columns for one contact point would make a statement about a guessed one.
        for field in [Field::Phone, Field::Email, Field::Postcode, Field::Surname] {
            headers::unique(&headers, field).map_err(|e| anyhow::anyhow!("{e}; keep one of them"))?;
        }
        if !columns.iter().any(|c| matches!(c, Column::Phone | Column::Email | Column::Postcode)) {
            bail!("the header has no phone, email or postcode column; found: {}", headers.join(", "));
        }
        for needed in [Column::Kind, Column::RecordedAt] {
            if !columns.contains(&needed) {
                let name = if needed == Column::Kind { "kind" } else { "recorded_at" };
                bail!("the header has no {name} column; found: {}", headers.join(", "));
            }
        }
        Ok(Loader {
            reader,
            columns,
            record: csv::ByteRecord::new(),
            skip_rejected,
            via: via.to_owned(),
            report: Report { rows: 0, statements: 0, rejected: 0, rejected_samples: vec![], loaded: false },
            done: false,
        })
    }

    /// The report (whole once the batches have run out).
    pub fn into_report(self) -> Report {
        self.report
    }

    /// The statements of the row just read, or why it is rejected.
    fn row(&self) -> Result<Vec<NewStatement>, String> {
        let record = &self.record;
        if record.len() != self.columns.len() {
            return Err(format!("the row has {} fields; the header has {}", record.len(), self.columns.len()));
        }
        let fields: Vec<&str> =
            record.iter().map(std::str::from_utf8).collect::<Result<_, _>>().map_err(|_| "the row is not UTF-8".to_owned())?;
        let mut row = Row::default();
        for (c, f) in self.columns.iter().zip(&fields) {
            let v = nonempty(f);
            match c {
                Column::Phone => row.phone = row.phone.or(v),
                Column::Email => row.email = row.email.or(v),
                Column::Postcode => row.postcode = v,
                Column::Surname => row.surname = v,
                Column::Line => row.lines.extend(v),
                Column::Address => row.lines.extend(v.into_iter().flat_map(|a| a.split(','))),
                Column::Ignored => {}
                Column::Channel => row.channel = v,
                Column::Kind => row.kind = v,
                Column::RecordedAt => row.recorded_at = v,
                Column::Source => row.source = v,
                Column::RecordedBy => row.recorded_by = v,
                Column::Note => row.note = v,
                Column::Evidence => row.evidence = v,
            }
        }
        statements_of(&row, &self.via)
    }
}

impl<R: Read> Iterator for Loader<R> {
    type Item = Result<Vec<NewStatement>, Stop>;

    /// The next batch of statements (the last may be short, or empty).
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut batch: Vec<NewStatement> = Vec::with_capacity(BATCH);
        loop {
            match self.reader.read_byte_record(&mut self.record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    self.done = true;
                    let line = e.position().map_or(0, |p| p.line());
                    return Some(Err(Stop::File(anyhow::anyhow!("the file is not readable CSV at line {line}: {e}"))));
                }
            }
            self.report.rows += 1;
            let line = self.record.position().map_or(0, |p| p.line());
            match self.row() {
                Ok(rows) => {
                    self.report.statements += rows.len() as u64;
                    batch.extend(rows);
                    if batch.len() >= BATCH {
                        return Some(Ok(batch));
                    }
                }
                Err(error) => {
                    self.report.rejected += 1;
                    Rejected::keep(&mut self.report.rejected_samples, || Rejected { line, text: None, error });
                }
            }
        }
        self.done = true;
        if self.report.rejected > 0 && !self.skip_rejected {
            return Some(Err(Stop::Rejected));
        }
        if self.report.rows == 0 {
            return Some(Err(Stop::File(anyhow::anyhow!("the file has a header but no rows"))));
        }
        Some(Ok(batch))
    }
}

/// Check a path before loading it, for a clear message.
pub fn open(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    if path.is_dir() {
        bail!("{} is a folder, not a file", path.display());
    }
    std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))
}
