//! Scrubbing a list: every row gets one outcome (CONTRACT §5), in one streaming pass. The facts —
//! the in-house statement in force for each key, and the register snapshots — are taken once at
//! the start, so the whole list is judged against one state, which the summary names.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};

use chrono::NaiveDate;
use serde::Serialize;

use super::input::{self, ColumnNames, InputError, KeyColumns};
use super::judge::{judge, Facts, Mode};
use crate::domain::preference::is_later;
use crate::domain::{AddressKey, Channel, EmailKey, PhoneKey, Reason, StatementKind};
use crate::registers::{NotCovered, View};
use crate::store::statements::InForce;

/// What a scrub is asked.
#[derive(Debug, Clone)]
pub struct Request {
    pub channel: Channel,
    pub contact_date: NaiveDate,
    pub mode: Mode,
    pub delimiter: Option<u8>,
    pub columns: ColumnNames,
}

/// What is known, captured at the start of a scrub.
pub struct Knowledge {
    /// For the channel: key → (recorded_at, id, kind) of the statement in force.
    pub in_house: HashMap<String, InForce>,
    /// The highest statement id the scrub saw.
    pub statements_up_to: i64,
    pub registers: View,
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
    /// In-house statements up to this id were taken into account.
    pub statements_up_to: i64,
    /// The key columns as the caller named them (none: found by their usual names).
    pub columns: ColumnNames,
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

/// Where results go: any of clean (kept rows as uploaded), suppressed (+ reason, detail) and
/// annotated (every row + status, reason, key, detail).
#[derive(Default)]
pub struct Outputs<'a> {
    pub clean: Option<csv::Writer<Box<dyn Write + 'a>>>,
    pub suppressed: Option<csv::Writer<Box<dyn Write + 'a>>>,
    pub annotated: Option<csv::Writer<Box<dyn Write + 'a>>>,
}

impl<'a> Outputs<'a> {
    pub fn writer(w: impl Write + 'a) -> csv::Writer<Box<dyn Write + 'a>> {
        csv::WriterBuilder::new().flexible(true).from_writer(Box::new(w))
    }

    fn header(&mut self, headers: &[String]) -> csv::Result<()> {
        if let Some(w) = &mut self.clean {
            w.write_record(headers)?;
        }
        if let Some(w) = &mut self.suppressed {
            w.write_record(headers.iter().map(String::as_str).chain(["suppress_reason", "suppress_detail"]))?;
        }
        if let Some(w) = &mut self.annotated {
            w.write_record(headers.iter().map(String::as_str).chain([
                "suppress_status",
                "suppress_reason",
                "suppress_key",
                "suppress_detail",
            ]))?;
        }
        Ok(())
    }

    fn row(&mut self, fields: &[String], o: &Outcome) -> csv::Result<()> {
        let reason = o.reason.map_or("", Reason::as_str);
        if o.kept {
            if let Some(w) = &mut self.clean {
                w.write_record(fields)?;
            }
        } else if let Some(w) = &mut self.suppressed {
            w.write_record(fields.iter().map(String::as_str).chain([reason, o.detail.as_str()]))?;
        }
        if let Some(w) = &mut self.annotated {
            let status = if o.kept { "kept" } else { "suppressed" };
            w.write_record(fields.iter().map(String::as_str).chain([status, reason, o.key.as_deref().unwrap_or(""), o.detail.as_str()]))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        for w in [&mut self.clean, &mut self.suppressed, &mut self.annotated].into_iter().flatten() {
            w.flush()?;
        }
        Ok(())
    }
}

fn csv_error(e: csv::Error) -> ScrubError {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => ScrubError::Output(io),
        other => ScrubError::Output(std::io::Error::other(format!("{other:?}"))),
    }
}

/// The row's key, or the outcome that it has none.
enum RowKey {
    Phone(PhoneKey),
    Email(EmailKey),
    Address(AddressKey),
}

impl RowKey {
    fn text(&self) -> String {
        match self {
            RowKey::Phone(k) => k.to_string(),
            RowKey::Email(k) => k.to_string(),
            RowKey::Address(k) => k.to_string(),
        }
    }
}

fn key_of(fields: &[String], columns: &KeyColumns) -> Result<RowKey, (Reason, String)> {
    let field = |i: usize| fields.get(i).map_or("", String::as_str);
    match columns {
        KeyColumns::Phone(i) => PhoneKey::parse(field(*i)).map(RowKey::Phone).map_err(|e| (Reason::InvalidPhone, e.to_string())),
        KeyColumns::Email(i) => EmailKey::parse(field(*i)).map(RowKey::Email).map_err(|e| (Reason::InvalidEmail, e.to_string())),
        KeyColumns::Address { postcode, surname, lines } => {
            let lines: Vec<&str> = lines.iter().flat_map(|&i| field(i).split(',')).collect();
            let surname = surname.map(field).filter(|s| !s.trim().is_empty());
            AddressKey::from_lines(&lines, field(*postcode), surname)
                .map(RowKey::Address)
                .map_err(|e| (Reason::InvalidAddress, e.to_string()))
        }
    }
}

/// The in-house statement in force for a key: for an address, the later of the person's own and
/// their household's.
fn in_force<'k>(k: &'k Knowledge, key: &RowKey) -> Option<&'k InForce> {
    let own = k.in_house.get(&key.text());
    let household = match key {
        RowKey::Address(a) if a.is_individual() => k.in_house.get(&a.household().to_string()),
        _ => None,
    };
    match (own, household) {
        (Some(a), Some(b)) => Some(if is_later((b.0, b.1), (a.0, a.1)) { b } else { a }),
        (a, b) => a.or(b),
    }
}

fn detail(reason: Option<Reason>, statement: Option<&InForce>, binding_from: Option<NaiveDate>) -> String {
    let since = |s: Option<&InForce>| s.map(|s| crate::domain::time::rfc3339(s.0)).unwrap_or_default();
    match reason {
        Some(Reason::OptedOut) => format!("opted out at {} (statement {})", since(statement), statement.map_or(0, |s| s.1)),
        Some(Reason::ConsentOverride) => {
            format!("listed, but consent recorded at {} (statement {}) is in force", since(statement), statement.map_or(0, |s| s.1))
        }
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
/// refused before a row is read.
pub fn scrub<R: Read>(input: R, req: &Request, k: &Knowledge, out: &mut Outputs<'_>) -> Result<Summary, ScrubError> {
    check_coverage(req, k)?;
    let mut hashing = crate::registers::import::Hashing::new(input);
    let mut summary = {
        let list = input::open(&mut hashing, req.delimiter)?;
        let columns = input::key_columns(&list.headers, req.channel, &req.columns)?;
        run(list, &columns, req, k, out)?
    };
    summary.input_sha256 = hashing.finish();
    Ok(summary)
}

fn check_coverage(req: &Request, k: &Knowledge) -> Result<(), ScrubError> {
    k.registers.coverage(req.channel, req.contact_date).map_err(|reason| ScrubError::NotCovered { reason, contact_date: req.contact_date })
}

fn run<R: Read>(
    mut list: input::List<R>,
    columns: &KeyColumns,
    req: &Request,
    k: &Knowledge,
    out: &mut Outputs<'_>,
) -> Result<Summary, ScrubError> {
    out.header(&list.headers).map_err(csv_error)?;
    let mut summary = Summary {
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
        statements_up_to: k.statements_up_to,
        columns: req.columns.clone(),
    };
    // Keys seen, with the line of the row that first had each.
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut record = csv::ByteRecord::new();
    let width = list.headers.len();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
    let mut batch: Vec<(u64, Vec<String>)> = Vec::with_capacity(BATCH);
    let mut done = false;
    while !done {
        batch.clear();
        while batch.len() < BATCH {
            match list.reader.read_byte_record(&mut record) {
                Ok(false) => {
                    done = true;
                    break;
                }
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    return Err(InputError::Unreadable { line, message: e.to_string() }.into());
                }
            }
            let line = record.position().map_or(0, |p| p.line());
            let fields: Vec<String> = record.iter().map(|f| input::decode(f).into_owned()).collect();
            if fields.len() == 1 && fields[0].trim().is_empty() && width > 1 {
                continue; // a blank line
            }
            batch.push((line, fields));
        }
        // Keys and facts for the batch on every core; then, in list order, duplicates and output.
        let prepared = prepare_batch(&batch, workers, width, columns, req, k)?;
        for ((line, fields), outcome) in batch.iter().zip(prepared) {
            let outcome = first_or_duplicate(outcome, *line, &mut seen);
            summary.rows += 1;
            if outcome.kept {
                summary.kept += 1;
            } else {
                summary.suppressed += 1;
            }
            if let Some(r) = outcome.reason {
                *summary.by_reason.entry(r.as_str()).or_default() += 1;
            }
            out.row(fields, &outcome).map_err(csv_error)?;
        }
    }
    if summary.rows == 0 {
        return Err(InputError::Empty.into());
    }
    out.flush()?;
    Ok(summary)
}

/// Revocations (CONTRACT §5): the rows a scrub kept that a scrub made now would suppress, with
/// today's outcome in the annotated columns. `annotated` is the scrub's stored annotated result;
/// `k` is what is known now. Returns how many rows were revoked.
pub fn revocations<R: Read, W: Write>(annotated: R, req: &Request, k: &Knowledge, out: W) -> Result<u64, ScrubError> {
    check_coverage(req, k)?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(annotated);
    let all: Vec<String> =
        reader.headers().map_err(|e| InputError::Unreadable { line: 1, message: e.to_string() })?.iter().map(str::to_owned).collect();
    let headers = &all[..all.len().saturating_sub(4)];
    let columns = input::key_columns(headers, req.channel, &req.columns)?;
    let mut writer = Outputs { annotated: Some(Outputs::writer(out)), ..Outputs::default() };
    writer.header(headers).map_err(csv_error)?;
    let mut revoked = 0;
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(|e| InputError::Unreadable { line: 0, message: e.to_string() })? {
        let n = record.len();
        if n < 4 || &record[n - 4] != "kept" {
            continue;
        }
        let fields: Vec<String> = record.iter().take(n - 4).map(str::to_owned).collect();
        // Kept rows have distinct keys: no row is a duplicate of another here.
        let outcome = prepare(&fields, headers.len(), &columns, req, k);
        if !outcome.kept {
            revoked += 1;
            writer.row(&fields, &outcome).map_err(csv_error)?;
        }
    }
    writer.flush()?;
    Ok(revoked)
}

/// Rows read and judged together.
const BATCH: usize = 4_096;

/// Judge a batch's rows as if each were the first with its key, split across `workers` threads.
fn prepare_batch(
    batch: &[(u64, Vec<String>)],
    workers: usize,
    width: usize,
    columns: &KeyColumns,
    req: &Request,
    k: &Knowledge,
) -> Result<Vec<Outcome>, ScrubError> {
    let one = |rows: &[(u64, Vec<String>)]| rows.iter().map(|(_, f)| prepare(f, width, columns, req, k)).collect::<Vec<_>>();
    if workers < 2 || batch.len() < 512 {
        return Ok(one(batch));
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = batch.chunks(batch.len().div_ceil(workers)).map(|rows| s.spawn(move || one(rows))).collect();
        let mut all = Vec::with_capacity(batch.len());
        for h in handles {
            // A worker that failed must fail the scrub: a row without an outcome is never dropped.
            all.extend(h.join().map_err(|_| ScrubError::Output(std::io::Error::other("a scrub worker failed")))?);
        }
        Ok(all)
    })
}

/// The duplicate rule, in list order: a keyed row whose key an earlier row had is a DUPLICATE.
fn first_or_duplicate(outcome: Outcome, line: u64, seen: &mut HashMap<String, u64>) -> Outcome {
    let Some(key) = &outcome.key else { return outcome };
    if let Some(first) = seen.get(key) {
        return Outcome {
            kept: false,
            reason: Some(Reason::Duplicate),
            key: outcome.key.clone(),
            detail: format!("same key as the row on line {first}"),
        };
    }
    seen.insert(key.clone(), line);
    outcome
}

/// One row's outcome if it is the first with its key (the duplicate rule is applied after).
fn prepare(fields: &[String], width: usize, columns: &KeyColumns, req: &Request, k: &Knowledge) -> Outcome {
    let suppressed = |reason, key: Option<String>, detail: String| Outcome { kept: false, reason: Some(reason), key, detail };
    if fields.len() != width {
        return suppressed(Reason::MalformedRow, None, format!("the row has {} fields; the header has {width}", fields.len()));
    }
    let key = match key_of(fields, columns) {
        Ok(k) => k,
        Err((reason, detail)) => return suppressed(reason, None, detail),
    };
    let text = key.text();
    let statement = in_force(k, &key);
    let listings = match (&key, req.channel) {
        (RowKey::Phone(p), crate::domain::Channel::Call) => k.registers.phone_listings(p),
        (RowKey::Address(a), crate::domain::Channel::Mail) => k.registers.address_listings(a),
        _ => Vec::new(),
    };
    let facts = Facts { in_house: statement.and_then(|s| s.2.parse::<StatementKind>().ok()), listings };
    let verdict = judge(req.channel, &facts, req.mode, req.contact_date);
    Outcome {
        kept: verdict.allowed,
        reason: verdict.reason,
        key: Some(text),
        detail: detail(verdict.reason, statement, verdict.binding_from),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use chrono::NaiveDate;
    use proptest::prelude::*;

    use super::*;
    use crate::registers::PhoneSet;

    fn date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 24).unwrap_or_default()
    }

    /// TPS lists 020 3000 0000–0004; 020 3000 0005 is opted out of calls; jo@example.com of email;
    /// the household at 10 High Street, SW1A 1AA of mail.
    fn knowledge(channel: &str) -> Knowledge {
        let at = date().and_hms_opt(9, 0, 0).unwrap_or_default();
        let in_house: HashMap<String, InForce> = match channel {
            "call" => [("+442030000005".to_owned(), (at, 1, "opt_out".to_owned()))].into(),
            "email" => [("jo@example.com".to_owned(), (at, 2, "opt_out".to_owned()))].into(),
            "mail" => [("SW1A 1AA|10".to_owned(), (at, 3, "opt_out".to_owned()))].into(),
            _ => HashMap::new(),
        };
        let tps = PhoneSet::new(crate::domain::Register::Tps, date(), (2_030_000_000..2_030_000_005).collect(), HashMap::new());
        let ctps = PhoneSet::new(crate::domain::Register::Ctps, date(), vec![], HashMap::new());
        let mps = crate::registers::MpsSet::new(date(), vec![]);
        Knowledge { in_house, statements_up_to: 3, registers: View::new(Some(Arc::new(tps)), Some(Arc::new(ctps)), Some(Arc::new(mps))) }
    }

    /// (reason, key) of each row of a list scrubbed on a channel.
    fn outcomes(channel: Channel, list: &str) -> Vec<(String, String)> {
        let req = Request { channel, contact_date: date(), mode: Mode::Strict, delimiter: None, columns: ColumnNames::default() };
        let mut annotated = Vec::new();
        {
            let mut out = Outputs { annotated: Some(Outputs::writer(&mut annotated)), ..Outputs::default() };
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
        fn phone_spellings_scrub_as_the_canonical_form(last in 0u32..8, style in 0usize..8) {
            let nsn = format!("20300000{last:02}");
            let (a, b) = nsn.split_at(2);
            let spelled = [
                format!("0{nsn}"), format!("0{a} {b}"), format!("+44 {a} {b}"), format!("+44 (0){a} {b}"),
                format!("0044 {a} {b}"), format!("(0{a}) {}-{}", &b[..4], &b[4..]), nsn.clone(), format!("0{a} {b} ext 12"),
            ][style].clone();
            let list = format!("phone\n{}\n+44{nsn}\n", quoted(&spelled));
            let got = outcomes(Channel::Call, &list);
            // The first row judged as the canonical row would be; the second is its duplicate.
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
            prop_assert_eq!(got[0].0.as_str(), "OPTED_OUT");
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

    #[test]
    fn the_facts_give_the_expected_outcomes() {
        let got = outcomes(Channel::Call, "phone\n020 3000 0000\n020 3000 0005\n020 3000 0006\n");
        let reasons: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(reasons, ["TPS", "OPTED_OUT", ""]);
    }
}
