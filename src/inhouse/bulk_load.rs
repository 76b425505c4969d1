//! `suppress import opt-outs FILE.csv`: legacy statements loaded in one transaction.
//!
//! The file must be well formed as a whole (a header of known columns, UTF-8); a row whose
//! content cannot be used is rejected with its line number. By default one rejected row stops the
//! load and nothing is written (`skip_rejected` loads the rest), so a file is never half-applied by
//! accident.

use std::io::Read;

use anyhow::{bail, Context};
use diesel::Connection;
use serde::Serialize;

use crate::domain::address::is_address_line_header;
use crate::domain::preference::{AddressInput, Said};
use crate::domain::text;
use crate::domain::time::{now_utc, parse_timestamp};
use crate::domain::{Channel, Contacts, Source, StatementKind};
use crate::store::statements::{insert_many, refresh_statistics, NewStatement};
use crate::store::{QueryError, Store};

/// Rejected rows kept in a report.
pub const SAMPLE_LIMIT: usize = 100;
const BATCH: usize = 1_000;

#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub line: u64,
    pub error: String,
}

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

pub const KNOWN_COLUMNS: &str = "phone, email, postcode, surname, address, address_1…address_5 (address1, line_1), town, county, \
    channel, kind, recorded_at, source, recorded_by, note, evidence";

fn column(header: &str) -> Option<Column> {
    let h = header.trim().to_ascii_lowercase();
    Some(match h.as_str() {
        "phone" | "telephone" | "tel" | "mobile" | "phone_number" | "telephone_number" => Column::Phone,
        "email" | "email_address" => Column::Email,
        "postcode" | "post_code" | "postal_code" => Column::Postcode,
        "surname" | "last_name" | "lastname" => Column::Surname,
        "address" => Column::Address,
        "town" | "county" | "title" | "prefix" | "forename" | "first_name" => Column::Ignored,
        "channel" | "channels" => Column::Channel,
        "kind" => Column::Kind,
        "recorded_at" => Column::RecordedAt,
        "source" => Column::Source,
        "recorded_by" => Column::RecordedBy,
        "note" => Column::Note,
        "evidence" => Column::Evidence,
        _ if is_address_line_header(&h) => Column::Line,
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

enum Abort {
    Db(QueryError),
    File(anyhow::Error),
}

impl From<QueryError> for Abort {
    fn from(e: QueryError) -> Self {
        Abort::Db(e)
    }
}

/// Load a legacy file. `via` names who loaded it (kept with each statement).
pub fn load<R: Read>(store: &Store, input: R, skip_rejected: bool, via: &str) -> Result<Report, LoadError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).has_headers(true).from_reader(input);
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
    if !columns.iter().any(|c| matches!(c, Column::Phone | Column::Email | Column::Postcode)) {
        return Err(anyhow::anyhow!("the header has no phone, email or postcode column; found: {}", headers.join(", ")).into());
    }
    for needed in [Column::Kind, Column::RecordedAt] {
        if !columns.contains(&needed) {
            let name = if needed == Column::Kind { "kind" } else { "recorded_at" };
            return Err(anyhow::anyhow!("the header has no {name} column; found: {}", headers.join(", ")).into());
        }
    }

    let mut report = Report { rows: 0, statements: 0, rejected: 0, rejected_samples: vec![], loaded: false };
    let mut conn = store.conn()?;
    let result = conn.transaction::<(), Abort, _>(|conn| {
        let mut batch: Vec<NewStatement> = Vec::with_capacity(BATCH);
        let mut record = csv::ByteRecord::new();
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    return Err(Abort::File(anyhow::anyhow!("the file is not readable CSV at line {line}: {e}")));
                }
            }
            report.rows += 1;
            let line = record.position().map_or(0, |p| p.line());
            let row_result = (|| -> Result<Vec<NewStatement>, String> {
                if record.len() != columns.len() {
                    return Err(format!("the row has {} fields; the header has {}", record.len(), columns.len()));
                }
                let fields: Vec<&str> =
                    record.iter().map(std::str::from_utf8).collect::<Result<_, _>>().map_err(|_| "the row is not UTF-8".to_owned())?;
                let mut row = Row::default();
                for (c, f) in columns.iter().zip(&fields) {
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
                statements_of(&row, via)
            })();
            match row_result {
                Ok(rows) => {
                    report.statements += rows.len() as u64;
                    batch.extend(rows);
                    if batch.len() >= BATCH {
                        insert_many(conn, &batch)?;
                        batch.clear();
                    }
                }
                Err(error) => {
                    report.rejected += 1;
                    if report.rejected_samples.len() < SAMPLE_LIMIT {
                        report.rejected_samples.push(Rejected { line, error });
                    }
                }
            }
        }
        if report.rejected > 0 && !skip_rejected {
            return Err(Abort::File(anyhow::anyhow!("rejected rows")));
        }
        if report.rows == 0 {
            return Err(Abort::File(anyhow::anyhow!("the file has a header but no rows")));
        }
        insert_many(conn, &batch)?;
        Ok(())
    });
    match result {
        Ok(()) => {
            report.loaded = true;
            // Committed; fresh statistics keep every instance's catch-up read on its index.
            if let Err(e) = refresh_statistics(&mut conn) {
                tracing::warn!(error = %e, "could not refresh the statistics on statements after the load");
            }
            Ok(report)
        }
        Err(Abort::File(_)) if report.rejected > 0 && !skip_rejected => {
            report.statements = 0;
            Err(LoadError::Rejected { rejected: report.rejected, report: Box::new(report) })
        }
        Err(Abort::File(e)) => Err(e.into()),
        Err(Abort::Db(e)) => Err(anyhow::Error::new(e).context("the database refused the statements; nothing was loaded").into()),
    }
}

/// Check a path before loading it, for a clear message.
pub fn open(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    if path.is_dir() {
        bail!("{} is a folder, not a file", path.display());
    }
    std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))
}
