//! Scrubbing a list: every row gets one outcome (CONTRACT §5), in one streaming pass. The facts —
//! the in-house statement in force for each key, and the register snapshots — are taken once at
//! the start, so the whole list is judged against one state, which the summary names.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::mpsc;

use chrono::NaiveDate;
use csv::ByteRecord;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;

use super::input::{self, ColumnNames, InputError, KeyColumns, MailLevel};
use super::judge::Mode;
use super::knowledge::Key;
/// What a scrub judges against (the read model), here where a scrub's callers look for it.
pub use super::knowledge::Knowledge;
use super::results::{self, Part, Renderer};
use crate::domain::{AddressKey, Channel, EmailKey, InForce, PhoneKey, Reason};
use crate::registers::NotCovered;

/// What a scrub is asked.
#[derive(Debug, Clone)]
pub struct Request {
    pub channel: Channel,
    pub contact_date: NaiveDate,
    pub mode: Mode,
    pub delimiter: Option<u8>,
    pub columns: ColumnNames,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegisterUsed {
    pub name: crate::domain::Register,
    pub as_of: NaiveDate,
    pub entries: u64,
    pub file_sha256: String,
}

/// The outcome counts and the evidence of how the list was screened.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub channel: Channel,
    pub contact_date: NaiveDate,
    pub mode: Mode,
    pub rows: u64,
    pub kept: u64,
    pub suppressed: u64,
    pub by_reason: BTreeMap<&'static str, u64>,
    pub valid_until: Option<NaiveDate>,
    pub registers: Vec<RegisterUsed>,
    pub input_sha256: String,
    /// The highest in-house statement id taken into account. Every statement committed when the
    /// scrub began was (on PostgreSQL a lower id can commit later: it was not).
    pub statements_up_to: i64,
    /// The key columns as the caller named them (none: found by their usual names).
    pub columns: ColumnNames,
    /// Mail: whether rows were judged as named people (`individual`) or households; null for
    /// other channels.
    pub mail_level: Option<MailLevel>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScrubError {
    #[error("{}; the scrub was refused (contact date {contact_date})", .reason.explain())]
    NotCovered { reason: NotCovered, contact_date: NaiveDate },
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("cannot write the results: {0}")]
    Output(#[from] std::io::Error),
}

/// One row's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub kept: bool,
    pub reason: Option<Reason>,
    pub key: Option<String>,
    pub detail: String,
}

/// Where a scrub's result goes: runs of rows encoded as `results` records, in list order, the
/// header's record first.
pub trait Sink {
    /// Runs on the worker thread that rendered the run: turns it into what `write` takes (the
    /// store compresses here, on every core).
    fn seal(run: Vec<u8>) -> Vec<u8>;
    /// Takes the runs in list order, on one thread.
    fn write(&mut self, sealed: Vec<u8>) -> std::io::Result<()>;
    /// Called once, after the last run.
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The result as CSV files: any of clean (kept rows as uploaded), suppressed (+ reason, detail)
/// and annotated (every row + status, reason, key, detail).
#[derive(Default)]
pub struct Files<'a> {
    parts: Vec<(Renderer, Box<dyn Write + 'a>)>,
    text: Vec<u8>,
}

impl<'a> Files<'a> {
    /// Also write `part` to `w`.
    pub fn with(mut self, part: Part, w: impl Write + 'a) -> Files<'a> {
        self.parts.push((Renderer::new(part), Box::new(w)));
        self
    }
}

impl Sink for Files<'_> {
    fn seal(run: Vec<u8>) -> Vec<u8> {
        run
    }

    fn write(&mut self, run: Vec<u8>) -> std::io::Result<()> {
        for (renderer, w) in &mut self.parts {
            self.text.clear();
            renderer.render(&run, &mut self.text).map_err(std::io::Error::other)?;
            w.write_all(&self.text)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.parts.iter_mut().try_for_each(|(_, w)| w.flush())
    }
}

/// The row's key, or the outcome that it has none.
enum RowKey {
    Phone(PhoneKey),
    Email(EmailKey),
    Address(AddressKey),
}

impl RowKey {
    /// The key as text (as statements are stored under it).
    fn text(&self) -> Cow<'_, str> {
        match self {
            RowKey::Phone(k) => Cow::Borrowed(k.as_str()),
            RowKey::Email(k) => Cow::Borrowed(k.as_str()),
            RowKey::Address(k) => Cow::Owned(k.to_string()),
        }
    }

    /// The key as the read model looks it up.
    fn key(&self) -> Key<'_> {
        match self {
            RowKey::Phone(k) => Key::Phone(k),
            RowKey::Email(k) => Key::Email(k),
            RowKey::Address(k) => Key::Address(k),
        }
    }
}

/// A field of a row, decoded (UTF-8, or Windows-1252 where it is not); empty if the row is short.
fn field(record: &ByteRecord, i: usize) -> Cow<'_, str> {
    input::decode(record.get(i).unwrap_or_default())
}

fn key_of(record: &ByteRecord, columns: &KeyColumns) -> Result<RowKey, (Reason, String)> {
    match columns {
        KeyColumns::Phone(i) => PhoneKey::parse(&field(record, *i)).map(RowKey::Phone).map_err(|e| (Reason::InvalidPhone, e.to_string())),
        KeyColumns::Email(i) => EmailKey::parse(&field(record, *i)).map(RowKey::Email).map_err(|e| (Reason::InvalidEmail, e.to_string())),
        KeyColumns::Address { postcode, surname, lines } => {
            let decoded: Vec<Cow<'_, str>> = lines.iter().map(|&i| field(record, i)).collect();
            let lines: Vec<&str> = decoded.iter().flat_map(|d| d.split(',')).collect();
            let surname = surname.map(|i| field(record, i)).filter(|s| !s.trim().is_empty());
            AddressKey::from_lines(&lines, &field(record, *postcode), surname.as_deref())
                .map(RowKey::Address)
                .map_err(|e| (Reason::InvalidAddress, e.to_string()))
        }
    }
}

fn detail(reason: Option<Reason>, statement: Option<InForce>, binding_from: Option<NaiveDate>) -> String {
    let since = statement.map(|s| crate::domain::time::rfc3339(s.recorded_at)).unwrap_or_default();
    let id = statement.map_or(0, |s| s.id);
    match reason {
        Some(Reason::OptedOut) => format!("opted out at {since} (statement {id})"),
        Some(Reason::ConsentOverride) => format!("listed, but consent recorded at {since} (statement {id}) is in force"),
        Some(Reason::Deceased) => "MPS: deceased".into(),
        Some(r @ (Reason::Tps | Reason::Ctps | Reason::Mps)) => match binding_from {
            Some(b) => format!("listed on {}; binding from {b}", r.as_str()),
            None => format!("listed on {} since before its first import", r.as_str()),
        },
        Some(r @ (Reason::TpsGrace | Reason::CtpsGrace | Reason::MpsGrace)) => {
            format!("listed, not binding until {} ({})", binding_from.map(|d| d.to_string()).unwrap_or_default(), r.as_str())
        }
        _ => String::new(),
    }
}

/// Scrub a list. Fails closed: a channel whose registers cannot vouch for the contact date is
/// refused before a row is read. The list is read on one thread, judged and rendered on every
/// core, and its duplicates found in list order.
pub fn scrub<R: Read + Send, S: Sink>(input: R, req: &Request, k: &Knowledge, sink: &mut S) -> Result<Summary, ScrubError> {
    check_coverage(req, k)?;
    let bound = RowBound::new(input);
    let since_row = bound.since_row.clone();
    let mut hashing = crate::bytes::Hashing::new(bound);
    let mut summary = {
        let list = input::open(&mut hashing, req.delimiter)?;
        let columns = input::key_columns(&list.headers, req.channel, &req.columns)?;
        run(list, &columns, req, k, sink, &since_row)?
    };
    summary.input_sha256 = hashing.finish();
    Ok(summary)
}

/// Why a contact date cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ContactDateError {
    #[error("{0}")]
    Invalid(String),
    #[error("contact_date {date} is before today ({today} in UK time): a list is screened for the days it will be used; give today or a later date")]
    Past { date: NaiveDate, today: NaiveDate },
}

/// The contact date a scrub is asked for: the given ISO date, or today (UK). A date before today
/// is refused (CONTRACT §5): a list is screened for use, not for the past.
pub fn contact_date(given: Option<&str>) -> Result<NaiveDate, ContactDateError> {
    let today = crate::domain::time::today_uk();
    let Some(given) = given else { return Ok(today) };
    let date = crate::domain::time::parse_date(given).map_err(ContactDateError::Invalid)?;
    if date < today {
        return Err(ContactDateError::Past { date, today });
    }
    Ok(date)
}

fn check_coverage(req: &Request, k: &Knowledge) -> Result<(), ScrubError> {
    k.registers.coverage(req.channel, req.contact_date).map_err(|reason| ScrubError::NotCovered { reason, contact_date: req.contact_date })
}

fn new_summary(req: &Request, k: &Knowledge) -> Summary {
    Summary {
        channel: req.channel,
        contact_date: req.contact_date,
        mode: req.mode,
        rows: 0,
        kept: 0,
        suppressed: 0,
        by_reason: BTreeMap::new(),
        valid_until: k.registers.valid_until(req.channel),
        registers: req
            .channel
            .registers()
            .iter()
            .filter_map(|&r| {
                k.registers.head(r).map(|h| RegisterUsed { name: r, as_of: h.as_of, entries: h.entries as u64, file_sha256: h.file_sha256 })
            })
            .collect(),
        input_sha256: String::new(),
        statements_up_to: k.in_house.up_to(),
        columns: req.columns.clone(),
        mail_level: (req.channel == Channel::Mail).then_some(req.columns.mail_level),
    }
}

/// Rows read and judged together, at most.
const BATCH: usize = 16_384;

/// A batch ends once its rows hold this many bytes as read (or at [`BATCH`] rows): a list of wide
/// rows holds no more in memory than one of narrow ones.
const BATCH_BYTES: usize = 32 << 20;

/// What the readers before the CSV reader may hold ahead of the row being read (its 1 MiB
/// buffer, the CSV reader's own).
const READ_AHEAD: u64 = 2 << 20;

/// The list as read, refused once more bytes go by without a row ending than a row of
/// [`results::MAX_ROW`] can take (quotes doubled, with the read-ahead): the CSV reader holds a
/// whole row in memory, so a row without end would hold the whole list.
struct RowBound<R> {
    inner: R,
    /// Bytes read since the reader last finished a row; set to 0 by whoever reads the rows.
    since_row: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R> RowBound<R> {
    const CAP: u64 = 4 * results::MAX_ROW as u64 + READ_AHEAD;

    fn new(inner: R) -> RowBound<R> {
        RowBound { inner, since_row: Default::default() }
    }
}

impl<R: Read> Read for RowBound<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let since = self.since_row.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed) + n as u64;
        if since > Self::CAP {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, row_too_large()));
        }
        Ok(n)
    }
}

/// What a row weighs against the byte bounds: its field bytes, and 8 bytes a field — the
/// reader's position of each field, and its delimiter and quotes when it is rendered again — so
/// that a row of nothing but delimiters is bounded like a row of text.
fn row_bytes(record: &ByteRecord) -> usize {
    record.as_slice().len() + 8 * record.len()
}

fn row_too_large() -> String {
    format!("a row is larger than the {} bytes a row may hold", results::MAX_ROW)
}

/// Rows as read, reused from batch to batch: `records[..len]`, the first of them row `first`.
/// A row's number is its place among the data records (CONTRACT §5): the first record after the
/// header is row 1, whatever the line ends and however many lines a quoted field spans; blank
/// lines are not data records and have no number.
#[derive(Default)]
struct Batch {
    records: Vec<ByteRecord>,
    first: u64,
    len: usize,
}

/// Read the list's rows in batches (blank lines skipped), handing each full batch on and taking
/// spent ones back to refill.
fn read_batches<R: Read>(
    mut reader: csv::Reader<R>,
    width: usize,
    full: mpsc::SyncSender<Result<Batch, ScrubError>>,
    spent: mpsc::Receiver<Batch>,
    since_row: &std::sync::atomic::AtomicU64,
) {
    // Data records read so far: the number of the last one.
    let mut rows = 0u64;
    loop {
        let mut batch = spent.try_recv().unwrap_or_default();
        batch.len = 0;
        batch.first = rows + 1;
        let mut bytes = 0;
        let mut done = false;
        while batch.len < BATCH && bytes < BATCH_BYTES {
            if batch.records.len() == batch.len {
                batch.records.push(ByteRecord::new());
            }
            let record = &mut batch.records[batch.len];
            match reader.read_byte_record(record) {
                Ok(true) => {}
                Ok(false) => {
                    done = true;
                    break;
                }
                Err(e) => {
                    let _ = full.send(Err(input::read_error(&e, rows + 1).into()));
                    return;
                }
            }
            since_row.store(0, std::sync::atomic::Ordering::Relaxed);
            if row_bytes(record) > results::MAX_ROW {
                let _ = full.send(Err(InputError::Unreadable { row: rows + 1, message: row_too_large() }.into()));
                return;
            }
            bytes += row_bytes(record);
            if record.len() == 1 && width > 1 && input::decode(&record[0]).trim().is_empty() {
                continue; // a blank line
            }
            rows += 1;
            batch.len += 1;
        }
        // The scrub stopped taking batches (it failed): stop reading.
        if (batch.len > 0 && full.send(Ok(batch)).is_err()) || done {
            return;
        }
    }
}

/// Keys seen so far in a list, with the number of the row that first had each.
#[derive(Default)]
struct Seen {
    numbers: FxHashMap<u64, u64>,
    others: FxHashMap<String, u64>,
}

impl Seen {
    /// The duplicate rule, in list order: a keyed row whose key an earlier row had is a DUPLICATE.
    fn judge(&mut self, prepared: &mut Prepared, row: u64) {
        let Some(key) = &prepared.outcome.key else { return };
        let first = match prepared.number {
            Some(n) => *self.numbers.entry(n).or_insert(row),
            None => match self.others.get(key) {
                Some(first) => *first,
                None => {
                    self.others.insert(key.clone(), row);
                    row
                }
            },
        };
        if first != row {
            prepared.outcome.kept = false;
            prepared.outcome.reason = Some(Reason::Duplicate);
            prepared.outcome.detail = format!("same key as row {first}");
        }
    }
}

/// A row's outcome if it is the first with its key, and its key as a number where it is a UK
/// phone number (the duplicate rule's fast path).
struct Prepared {
    outcome: Outcome,
    number: Option<u64>,
}

fn run<R: Read + Send, S: Sink>(
    list: input::List<R>,
    columns: &KeyColumns,
    req: &Request,
    k: &Knowledge,
    sink: &mut S,
    since_row: &std::sync::atomic::AtomicU64,
) -> Result<Summary, ScrubError> {
    let width = list.headers.len();
    let mut summary = new_summary(req, k);
    sink.write(S::seal(header_record(&list.headers)))?;
    let mut seen = Seen::default();
    let mut counts = Counts { rows: 0, kept: 0, by_reason: [0; Reason::ALL.len()] };
    std::thread::scope(|s| -> Result<(), ScrubError> {
        let (full_tx, full_rx) = mpsc::sync_channel(1);
        let (spent_tx, spent_rx) = mpsc::channel();
        let reader = list.reader;
        s.spawn(move || read_batches(reader, width, full_tx, spent_rx, since_row));
        // Batch i is judged while batch i-1 is rendered: the duplicate rule, which must go in
        // list order on one thread, overlaps with work on every core.
        let mut pending: Option<(Batch, Vec<Prepared>)> = None;
        for batch in full_rx {
            let batch: Batch = batch?;
            // Keys and facts on every core, as if each row were the first with its key.
            let mut prepared: Vec<Prepared> = Vec::with_capacity(batch.len);
            batch.records[..batch.len]
                .par_iter()
                .with_min_len(256)
                .map(|r| prepare(r, width, columns, req, k))
                .collect_into_vec(&mut prepared);
            let mut runs = Vec::new();
            rayon::in_place_scope(|scope| {
                if let Some((before, judged)) = &pending {
                    let runs = &mut runs;
                    scope.spawn(move |_| *runs = render::<S>(&before.records[..before.len], judged, width));
                }
                // Duplicates, in list order.
                for (p, row) in prepared.iter_mut().zip(batch.first..) {
                    seen.judge(p, row);
                    counts.add(&p.outcome);
                }
            });
            for run in runs {
                sink.write(run)?;
            }
            if let Some((spent, _)) = pending.replace((batch, prepared)) {
                let _ = spent_tx.send(spent);
            }
        }
        if let Some((last, judged)) = pending {
            for run in render::<S>(&last.records[..last.len], &judged, width) {
                sink.write(run)?;
            }
        }
        Ok(())
    })?;
    if counts.rows == 0 {
        return Err(InputError::Empty.into());
    }
    sink.finish()?;
    counts.into_summary(&mut summary);
    Ok(summary)
}

/// Rows rendered and sealed on every core, a run of rows at a time, in order. A run ends at
/// [`results::RUN`] rows or once it holds [`results::RUN_BYTES`], so that any run can be read back.
fn render<S: Sink>(records: &[ByteRecord], prepared: &[Prepared], width: usize) -> Vec<Vec<u8>> {
    let (mut bounds, mut start, mut bytes) = (Vec::new(), 0, 0);
    for (i, record) in records.iter().enumerate() {
        if i - start == results::RUN || bytes >= results::RUN_BYTES {
            bounds.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += row_bytes(record);
    }
    if start < records.len() {
        bounds.push(start..records.len());
    }
    let mut runs = Vec::new();
    bounds
        .into_par_iter()
        .map(|range| (&records[range.clone()], &prepared[range]))
        .map(|(part, prepared)| {
            let mut run = Vec::with_capacity(part.len() * 128);
            let mut scratch = Scratch::default();
            for (record, p) in part.iter().zip(prepared) {
                render_row(&mut run, &mut scratch, record, width, &p.outcome);
            }
            S::seal(run)
        })
        .collect_into_vec(&mut runs);
    runs
}

/// The outcome counts of a summary, kept as plain numbers while the rows go by.
struct Counts {
    rows: u64,
    kept: u64,
    by_reason: [u64; Reason::ALL.len()],
}

impl Counts {
    fn add(&mut self, o: &Outcome) {
        self.rows += 1;
        self.kept += u64::from(o.kept);
        if let Some(r) = o.reason {
            self.by_reason[r as usize] += 1;
        }
    }

    fn into_summary(self, summary: &mut Summary) {
        summary.rows = self.rows;
        summary.kept = self.kept;
        summary.suppressed = self.rows - self.kept;
        summary.by_reason = Reason::ALL.iter().zip(self.by_reason).filter(|(_, n)| *n > 0).map(|(r, n)| (r.as_str(), n)).collect();
    }
}

/// A result's first record: the header row.
fn header_record(headers: &[String]) -> Vec<u8> {
    let (mut data, mut record) = (Vec::new(), Vec::new());
    push_record(&mut data, headers.iter().map(|h| Cow::Borrowed(h.as_str())));
    results::encode(&mut record, &results::Row { kept: true, data: &data, reason: b"", key: b"", detail: b"" });
    record
}

/// Append fields as one CSV line (no terminator).
fn push_record<'f>(out: &mut Vec<u8>, fields: impl Iterator<Item = Cow<'f, str>>) {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        results::push_field(out, f.as_bytes());
    }
}

/// Buffers reused from row to row.
#[derive(Default)]
struct Scratch {
    data: Vec<u8>,
    key: Vec<u8>,
    detail: Vec<u8>,
}

/// Whether a record's fields can be written as they are: each valid UTF-8 (the whole is, and no
/// field starts inside a character), and none needing quotes.
fn plain(record: &ByteRecord) -> bool {
    let Ok(text) = std::str::from_utf8(record.as_slice()) else { return false };
    let mut at = 0;
    record.iter().all(|f| {
        let starts_whole = text.is_char_boundary(at);
        at += f.len();
        starts_whole
    }) && !results::needs_quotes(record.as_slice())
}

/// Append a row's record: its fields as uploaded (decoded to UTF-8), exactly `width` of them (a
/// short row padded with empty fields, a long one cut: its whole record is in its detail), and
/// its outcome.
fn render_row(run: &mut Vec<u8>, scratch: &mut Scratch, record: &ByteRecord, width: usize, o: &Outcome) {
    scratch.data.clear();
    scratch.key.clear();
    scratch.detail.clear();
    if plain(record) {
        for (i, f) in record.iter().take(width).enumerate() {
            if i > 0 {
                scratch.data.push(b',');
            }
            scratch.data.extend_from_slice(f);
        }
    } else {
        push_record(&mut scratch.data, record.iter().take(width).map(input::decode));
    }
    for _ in record.len()..width {
        scratch.data.push(b',');
    }
    results::push_field(&mut scratch.key, o.key.as_deref().unwrap_or_default().as_bytes());
    results::push_field(&mut scratch.detail, o.detail.as_bytes());
    let reason = o.reason.map_or("", Reason::as_str);
    results::encode(
        run,
        &results::Row { kept: o.kept, data: &scratch.data, reason: reason.as_bytes(), key: &scratch.key, detail: &scratch.detail },
    );
}

/// Revocations (CONTRACT §5): the rows a scrub kept that a scrub made now would suppress, with
/// today's outcome in the annotated columns. `clean` is the scrub's clean.csv as rendered from
/// its stored result; `k` is what is known now. Returns how many rows were revoked.
pub fn revocations<R: Read, W: Write>(clean: R, req: &Request, k: &Knowledge, mut out: W) -> Result<u64, ScrubError> {
    check_coverage(req, k)?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(clean);
    let headers: Vec<String> = reader.headers().map_err(|e| input::read_error(&e, 0))?.iter().map(str::to_owned).collect();
    let columns = input::key_columns(&headers, req.channel, &req.columns)?;
    let mut renderer = Renderer::new(Part::Annotated);
    let (mut run, mut text, mut scratch) = (header_record(&headers), Vec::new(), Scratch::default());
    renderer.render(&run, &mut text).map_err(std::io::Error::other)?;
    out.write_all(&text)?;
    let mut revoked = 0;
    let mut record = ByteRecord::new();
    let mut row = 0;
    while reader.read_byte_record(&mut record).map_err(|e| input::read_error(&e, row + 1))? {
        row += 1;
        // Kept rows have distinct keys: no row is a duplicate of another here.
        let outcome = prepare(&record, headers.len(), &columns, req, k).outcome;
        if !outcome.kept {
            revoked += 1;
            run.clear();
            text.clear();
            render_row(&mut run, &mut scratch, &record, headers.len(), &outcome);
            renderer.render(&run, &mut text).map_err(std::io::Error::other)?;
            out.write_all(&text)?;
        }
    }
    out.flush()?;
    Ok(revoked)
}

/// One row's outcome if it is the first with its key (the duplicate rule is applied after).
fn prepare(record: &ByteRecord, width: usize, columns: &KeyColumns, req: &Request, k: &Knowledge) -> Prepared {
    let suppressed =
        |reason, detail: String| Prepared { outcome: Outcome { kept: false, reason: Some(reason), key: None, detail }, number: None };
    if record.len() < width {
        return suppressed(Reason::MalformedRow, format!("the row has {} fields; the header has {width}", record.len()));
    }
    if record.len() > width {
        // Only the header's fields are kept in the row: the whole record, as read, is the detail.
        let mut whole = Vec::new();
        push_record(&mut whole, record.iter().map(input::decode));
        return suppressed(Reason::MalformedRow, String::from_utf8_lossy(&whole).into_owned());
    }
    let key = match key_of(record, columns) {
        Ok(k) => k,
        Err((reason, detail)) => return suppressed(reason, detail),
    };
    let text = key.text();
    let (facts, verdict) = k.verdict(key.key(), &text, req.mode, req.contact_date);
    let number = match &key {
        RowKey::Phone(p) => p.uk_national(),
        _ => None,
    };
    Prepared {
        outcome: Outcome {
            kept: verdict.allowed,
            reason: verdict.reason,
            key: Some(text.into_owned()),
            detail: detail(verdict.reason, facts.in_house, verdict.binding_from),
        },
        number,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use chrono::NaiveDate;
    use proptest::prelude::*;

    use super::*;
    use crate::domain::time::fixtures;
    use crate::inhouse::in_force::Statements;
    use crate::registers::{PhoneSet, View};
    use crate::store::statements::Change;

    fn date() -> NaiveDate {
        fixtures::date("2026-11-24")
    }

    /// TPS lists 020 3000 0000–0004; 020 3000 0005 is opted out of calls; jo@example.com of email;
    /// the household at 10 High Street, SW1A 1AA of mail.
    fn knowledge(channel: &str) -> Knowledge {
        let at = fixtures::at("2026-11-24", 9, 0);
        let channel: Channel = channel.parse().expect("a channel");
        let statement =
            |id, key: &str| Change { id, contact_key: key.into(), channel, recorded_at: at, kind: crate::domain::StatementKind::OptOut };
        let mut statements = Statements::default();
        match channel {
            Channel::Call => statements.apply([statement(1, "+442030000005")]),
            Channel::Email => statements.apply([statement(2, "jo@example.com")]),
            Channel::Mail => statements.apply([statement(3, "SW1A 1AA|10")]),
            Channel::Sms => {}
        }
        let in_house = statements.on(channel);
        let tps = PhoneSet::new(crate::domain::Register::Tps, date(), (2_030_000_000..2_030_000_005).collect(), HashMap::new());
        let ctps = PhoneSet::new(crate::domain::Register::Ctps, date(), vec![], HashMap::new());
        let mps = crate::registers::MpsSet::new(date(), vec![]);
        Knowledge { in_house, registers: View::new(Some(Arc::new(tps)), Some(Arc::new(ctps)), Some(Arc::new(mps))) }
    }

    /// (reason, key) of each row of a list scrubbed on a channel.
    fn outcomes(channel: Channel, list: &str) -> Vec<(String, String)> {
        let req = Request { channel, contact_date: date(), mode: Mode::Strict, delimiter: None, columns: ColumnNames::default() };
        let mut annotated = Vec::new();
        {
            let mut out = Files::default().with(Part::Annotated, &mut annotated);
            if let Err(e) = scrub(list.as_bytes(), &req, &knowledge(channel.as_str()), &mut out) {
                return vec![("error".into(), e.to_string())];
            }
        }
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(annotated.as_slice());
        reader.records().flatten().map(|r| (r[r.len() - 3].to_owned(), r[r.len() - 2].to_owned())).collect()
    }

    fn quoted(s: &str) -> String {
        format!("\"{}\"", s.replace('"', "\"\""))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Any spelling of a number the contract accepts scrubs exactly as its E.164 form.
        #[test]
        fn phone_spellings_scrub_as_the_canonical_form(last in 0u32..8, style in 0usize..9, ext in 0usize..12) {
            let nsn = format!("20300000{last:02}");
            let (a, b) = nsn.split_at(2);
            let spelled = [
                format!("0{nsn}"), format!("0{a} {b}"), format!("+44 {a} {b}"), format!("+44 (0){a} {b}"),
                format!("0044 {a} {b}"), format!("(0{a}) {}-{}", &b[..4], &b[4..]), nsn.clone(), format!("+44{nsn}"),
                format!("tel:+44-{a}-{}-{}", &b[..4], &b[4..]),
            ][style].clone();
            let extension = [
                "", " ext 12", " ext. 123", " x123", " #123", ";ext=770", ", ext. 688", " / ext 497", "; x21", ",#3", "/ext 9", " EXTN: 4",
            ][ext];
            let spelled = format!("{spelled}{extension}");
            let list = format!("phone\n{}\n+44{nsn}\n", quoted(&spelled));
            let got = outcomes(Channel::Call, &list);
            // The first row judged as the facts say: TPS lists 0000–0004, 0005 is opted out.
            let reason = match last { 0..=4 => "TPS", 5 => "OPTED_OUT", _ => "" };
            prop_assert_eq!(&got[0], &(reason.to_owned(), format!("+44{nsn}")), "spelling {:?}", spelled);
            // ... as the canonical row would be; the second is its duplicate.
            let alone = outcomes(Channel::Call, &format!("phone\n+44{nsn}\n"));
            prop_assert_eq!(&got[0], &alone[0], "spelling {:?}", spelled);
            prop_assert_eq!(got[1].0.as_str(), "DUPLICATE");
        }

        /// Any case and surrounding space of an email address scrubs as its canonical form.
        #[test]
        fn email_spellings_scrub_as_the_canonical_form(upper in proptest::collection::vec(any::<bool>(), 14), pad in 0usize..3) {
            let canonical = "jo@example.com";
            let spelled: String = canonical.chars().zip(upper.iter().chain(std::iter::repeat(&false))).map(|(c, u)| if *u { c.to_ascii_uppercase() } else { c }).collect();
            let spelled = format!("{}{spelled}{}", " ".repeat(pad), " ".repeat(pad));
            let got = outcomes(Channel::Email, &format!("email\n{}\n", quoted(&spelled)));
            // jo@example.com is opted out of email.
            prop_assert_eq!(&got, &vec![("OPTED_OUT".to_owned(), canonical.to_owned())], "spelling {:?}", spelled);
            prop_assert_eq!(got, outcomes(Channel::Email, &format!("email\n{canonical}\n")));
        }

        /// Postcode spacing and case, and the spelling of the surname, do not change the outcome.
        #[test]
        fn address_spellings_scrub_as_the_canonical_form(pc in 0usize..4, name in 0usize..4, line in 0usize..3) {
            let postcode = ["SW1A 1AA", "sw1a1aa", " Sw1A  1aA ", "SW1A1AA"][pc];
            let surname = ["O'Brien", "OBRIEN", "o'brien", "O Brien"][name];
            let lines = ["10 High Street,", "10, High Street", "10 HIGH ST,"][line];
            let got = outcomes(Channel::Mail, &format!("surname,address,postcode\n{},{},{}\n", quoted(surname), quoted(lines), quoted(postcode)));
            let canonical = outcomes(Channel::Mail, "surname,address,postcode\nOBRIEN,10 High Street,SW1A 1AA\n");
            prop_assert_eq!(&got, &canonical);
            // The household at 10 High Street, SW1A 1AA is opted out of mail.
            prop_assert_eq!(&got, &vec![("OPTED_OUT".to_owned(), "SW1A 1AA|10|OBRIEN".to_owned())]);
        }
    }

    /// A list long enough to be judged on several threads and in several batches: every row's
    /// outcome is what the rules say, duplicates across splits and batches included.
    #[test]
    fn a_long_list_is_judged_as_a_short_one_would_be() {
        let rows = 10_000;
        let mut list = String::from("phone\n");
        for i in 0..rows {
            list.push_str(&format!("020 3000 {:04}\n", i % 3_000));
        }
        let got = outcomes(Channel::Call, &list);
        assert_eq!(got.len(), rows);
        for (i, (reason, key)) in got.iter().enumerate() {
            let n = i % 3_000;
            let want = if i >= 3_000 {
                "DUPLICATE"
            } else if n < 5 {
                "TPS"
            } else if n == 5 {
                "OPTED_OUT"
            } else {
                ""
            };
            assert_eq!((reason.as_str(), key.as_str()), (want, format!("+4420300{n:05}").as_str()), "row {i}");
        }
    }

    proptest! {
        /// A row's fields are rendered the same by the fast path (written as they are) as by
        /// decoding and quoting each: UTF-8 split across fields, Windows-1252, quotes, commas.
        #[test]
        fn plain_rows_render_as_decoded_rows_do(fields in proptest::collection::vec(proptest::collection::vec(prop_oneof![
            Just(b'a'), Just(b' '), Just(b','), Just(b'"'), Just(b'\n'), Just(0xc3u8), Just(0xa9u8), Just(0xe9u8), Just(b'7')
        ], 0..5), 1..5)) {
            let record = ByteRecord::from(fields);
            let outcome = Outcome { kept: true, reason: None, key: None, detail: String::new() };
            let mut run = Vec::new();
            render_row(&mut run, &mut Scratch::default(), &record, record.len(), &outcome);
            let mut decoded = Vec::new();
            push_record(&mut decoded, record.iter().map(input::decode));
            let row = results::decode(&run).next().unwrap().unwrap();
            prop_assert_eq!(row.data, decoded.as_slice());
        }
    }

    #[test]
    fn the_facts_give_the_expected_outcomes() {
        let got = outcomes(Channel::Call, "phone\n020 3000 0000\n020 3000 0005\n020 3000 0006\n");
        let reasons: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(reasons, ["TPS", "OPTED_OUT", ""]);
    }
}
