//! MPS files (CONTRACT §4): the Personal fixed-width layout (415 characters a record) or CSV with
//! a header row, told apart by content. Each record becomes an address key — individual with a
//! surname, household without — with its flag (`P` remove from mailings, `X` deceased) and date
//! of request.

use std::collections::HashMap;
use std::io::BufRead;

use chrono::NaiveDate;

use super::phone_file::{read_line_capped, FileError, LINE_BYTES, SAMPLE_CHARS};
use crate::domain::address::is_address_line_header;
use crate::domain::{AddressKey, Rejected};

/// One MPS entry: an address key, and what the file says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub mark: Mark,
}

/// What an MPS file says of one address: whether the person is deceased, and the date of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub deceased: bool,
    pub requested: Requested,
}

/// The date of request an MPS record gives, if it gives one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// The record gives no date of request: it says nothing of since when.
    Undated,
    On(NaiveDate),
}

impl Requested {
    pub fn date(self) -> Option<NaiveDate> {
        match self {
            Requested::Undated => None,
            Requested::On(d) => Some(d),
        }
    }
}

impl Mark {
    /// Two records of one address (or of two addresses whose keys share a hash) as one entry
    /// that suppresses as much as both: deceased if either says so, requested on the earlier
    /// date; a date wins over none.
    pub fn merge(self, other: Mark) -> Mark {
        let requested = match (self.requested, other.requested) {
            (Requested::On(a), Requested::On(b)) => Requested::On(a.min(b)),
            (Requested::On(d), Requested::Undated) | (Requested::Undated, Requested::On(d)) => Requested::On(d),
            (Requested::Undated, Requested::Undated) => Requested::Undated,
        };
        Mark { deceased: self.deceased || other.deceased, requested }
    }
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub entries: Vec<Entry>,
    pub records: u64,
    pub rejected: u64,
    pub samples: Vec<Rejected>,
}

const RECORD: usize = 415;

/// Decode a line: UTF-8, or Windows-1252 where it is not.
fn text(bytes: &[u8]) -> String {
    crate::domain::text::decode(bytes).into_owned()
}

/// `DDMMCCYY` or ISO `YYYY-MM-DD`; empty is none.
fn date(s: &str) -> Result<Requested, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Requested::Undated);
    }
    NaiveDate::parse_from_str(s, "%d%m%Y")
        .or_else(|_| NaiveDate::parse_from_str(s, "%Y-%m-%d"))
        .map(Requested::On)
        .map_err(|_| "the date of request is neither DDMMCCYY nor YYYY-MM-DD".to_owned())
}

fn flag(s: &str) -> Result<bool, String> {
    match s.trim() {
        "P" | "p" | "" => Ok(false),
        "X" | "x" => Ok(true),
        _ => Err("the flag is neither P nor X".to_owned()),
    }
}

fn entry(flag_text: &str, date_text: &str, surname: &str, lines: &[&str], postcode: &str) -> Result<Entry, String> {
    let deceased = flag(flag_text)?;
    let requested = date(date_text)?;
    let surname = Some(surname.trim()).filter(|s| !s.is_empty());
    let lines: Vec<&str> = lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).collect();
    let key = AddressKey::from_lines(&lines, postcode, surname).map_err(|e| e.to_string())?;
    Ok(Entry { key: key.to_string(), mark: Mark { deceased, requested } })
}

fn reject(p: &mut Parsed, line: u64, text: &str, error: String) {
    p.rejected += 1;
    Rejected::keep(&mut p.samples, || Rejected { line, text: Some(text.chars().take(SAMPLE_CHARS).collect()), error });
}

/// One fixed-width record, by character position.
fn fixed(record: &str) -> Result<Entry, String> {
    let chars: Vec<char> = record.chars().collect();
    if chars.len() != RECORD {
        return Err(format!("{} characters; an MPS Personal record has {RECORD}", chars.len()));
    }
    let field = |from: usize, to: usize| chars[from..to].iter().collect::<String>();
    let lines = [field(155, 205), field(205, 255), field(255, 305)];
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    entry(&field(0, 1), &field(1, 9), &field(95, 145), &lines, &field(405, 413))
}

#[derive(Default)]
struct Columns {
    flag: Option<usize>,
    date: Option<usize>,
    surname: Option<usize>,
    lines: Vec<usize>,
    postcode: Option<usize>,
}

fn columns(header: &csv::StringRecord) -> Result<Columns, String> {
    let mut c = Columns::default();
    for (i, h) in header.iter().enumerate() {
        let h = crate::domain::headers::fold(h);
        match h.as_str() {
            "flag" => c.flag = Some(i),
            "dateofrequest" => c.date = Some(i),
            "surname" => c.surname = Some(i),
            "postcode" => c.postcode = Some(i),
            "title" | "prefix" | "forename" | "town" | "county" | "suffix" | "dps" => {}
            _ if is_address_line_header(&h) => c.lines.push(i),
            // Named by position only: a file without its header would echo a person's address.
            _ => {
                return Err(format!(
                    "column {} of the MPS header is not a recognised name (expected {})",
                    i + 1,
                    "flag, date_of_request, title or prefix, forename, surname, suffix, address_1 to address_5, town, county, postcode, dps"
                ))
            }
        }
    }
    if c.postcode.is_none() {
        return Err("the MPS header has no postcode column".to_owned());
    }
    Ok(c)
}

fn parse_csv<R: BufRead>(input: R, progress: &mut dyn FnMut(u64)) -> Result<Parsed, FileError> {
    let mut p = Parsed::default();
    // A quote that never closes would swallow the rest of the file into one rejected record.
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(crate::bytes::Watch::new(input, b','));
    let header = reader.byte_headers().map_err(|e| csv_error(&e))?.clone();
    let header = csv::StringRecord::from(header.iter().map(text).collect::<Vec<_>>());
    let cols = columns(&header).map_err(FileError::Unreadable)?;
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(&e)),
        }
        let line = record.position().map_or(0, |pos| pos.line());
        let fields: Vec<String> = record.iter().map(text).collect();
        if fields.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        p.records += 1;
        if p.records % 65_536 == 0 {
            progress(p.records);
        }
        if fields.len() != header.len() {
            reject(&mut p, line, &csv_sample(&fields), format!("{} fields; the header has {}", fields.len(), header.len()));
            continue;
        }
        let get = |i: Option<usize>| i.and_then(|i| fields.get(i)).map_or("", String::as_str);
        let lines: Vec<&str> = cols.lines.iter().map(|&i| fields[i].as_str()).collect();
        match entry(get(cols.flag), get(cols.date), get(cols.surname), &lines, get(cols.postcode)) {
            Ok(e) => p.entries.push(e),
            Err(e) => reject(&mut p, line, &csv_sample(&fields), e),
        }
    }
    Ok(p)
}

/// A CSV row as a rejected record's sample, joined only as far as the sample keeps.
fn csv_sample(fields: &[String]) -> String {
    fields.iter().enumerate().flat_map(|(i, f)| (i > 0).then_some(',').into_iter().chain(f.chars())).take(SAMPLE_CHARS).collect()
}

/// A CSV file the reader cannot take, named by line (csv's own message may quote the file).
fn csv_error(e: &csv::Error) -> FileError {
    match (e.kind(), e.position()) {
        (csv::ErrorKind::Io(io), at) if io.get_ref().is_some_and(|i| i.is::<crate::bytes::QuoteTrouble>()) => {
            FileError::Unreadable(format!(
                "a quoted field opened by line {} is never closed (or runs over more lines than a record may)",
                at.map_or(0, |p| p.line())
            ))
        }
        (csv::ErrorKind::Io(io), _) => FileError::Io(std::io::Error::new(io.kind(), io.to_string())),
        (csv::ErrorKind::Utf8 { pos: Some(pos), .. }, _) | (_, Some(pos)) => {
            FileError::Unreadable(format!("the CSV is not readable at line {}", pos.line()))
        }
        _ => FileError::Unreadable("the CSV is not readable".to_owned()),
    }
}

fn parse_fixed<R: BufRead>(mut input: R, progress: &mut dyn FnMut(u64)) -> Result<Parsed, FileError> {
    let mut p = Parsed::default();
    let mut buf = Vec::with_capacity(512);
    let mut line = 0u64;
    loop {
        buf.clear();
        let (n, long) = read_line_capped(&mut input, &mut buf, LINE_BYTES)?;
        if n == 0 {
            return Ok(p);
        }
        line += 1;
        let terminated = long || buf.last() == Some(&b'\n');
        let record = text(buf.strip_suffix(b"\n").unwrap_or(&buf));
        let record = record.strip_suffix('\r').unwrap_or(&record);
        if record.trim().is_empty() {
            continue;
        }
        if !terminated && record.chars().count() < RECORD {
            return Err(FileError::Truncated { line, len: record.chars().count() });
        }
        p.records += 1;
        if p.records % 65_536 == 0 {
            progress(p.records);
        }
        if long {
            reject(&mut p, line, record, format!("longer than {RECORD} characters, the length of an MPS Personal record"));
            continue;
        }
        match fixed(record) {
            Ok(e) => p.entries.push(e),
            Err(e) => reject(&mut p, line, record, e),
        }
    }
}

/// Parse either layout: a first line with a comma and a `postcode` header is CSV; anything else
/// is read as fixed-width.
pub fn parse<R: BufRead>(mut input: R, progress: &mut dyn FnMut(u64)) -> Result<Parsed, FileError> {
    let head = input.fill_buf()?;
    let first_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let first = text(first_line).to_ascii_lowercase();
    if first.contains(',') && first.contains("postcode") {
        parse_csv(input, progress)
    } else {
        parse_fixed(input, progress)
    }
}

/// Entries by key, a key listed twice merged ([`Mark::merge`]).
pub fn merge(entries: Vec<Entry>) -> HashMap<String, Entry> {
    let mut by_key: HashMap<String, Entry> = HashMap::with_capacity(entries.len());
    for e in entries {
        by_key.entry(e.key.clone()).and_modify(|old| old.mark = old.mark.merge(e.mark)).or_insert(e);
    }
    by_key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::fixtures;

    fn entry(key: &str, deceased: bool, requested: Option<NaiveDate>) -> Entry {
        Entry { key: key.into(), mark: Mark { deceased, requested: requested.map_or(Requested::Undated, Requested::On) } }
    }

    fn sample(name: &str) -> Parsed {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("imports/sample").join(name);
        parse(std::io::BufReader::new(std::fs::File::open(path).unwrap()), &mut |_| {}).unwrap()
    }

    #[test]
    fn the_fixed_width_sample() {
        let p = sample("mps-2026-11-23.dat");
        assert_eq!((p.records, p.rejected), (3, 0), "{:?}", p.samples);
        assert_eq!(p.entries[0], entry("SW1A 1AA|2/10|BLOGGS", false, Some(fixtures::date("2026-09-01"))));
        assert_eq!(p.entries[1].key, "LS1 1AA|ROSE COTTAGE|OBRIEN");
        assert!(p.entries[2].mark.deceased);
        assert_eq!(p.entries[2].key, "M1 1AE|23|SMITH");
    }

    #[test]
    fn the_csv_sample() {
        let p = sample("mps-2026-11-24.csv");
        assert_eq!((p.records, p.rejected), (2, 0), "{:?}", p.samples);
        assert_eq!(p.entries[0].key, "CF10 1AA|2B/10|JONES");
        assert_eq!(p.entries[0].mark.requested.date(), Some(fixtures::date("2026-11-02")));
        assert_eq!(p.entries[1], entry("YO1 7HH|THE OLD MILL", false, Some(fixtures::date("2026-11-20"))));
    }

    #[test]
    fn bad_records_and_files() {
        let p = parse(
            "postcode,surname,address_1,flag\nSW1A 1AA,Smith,10 High St,P\nnot a code,Smith,10 High St,P\nSW1A 1AA,Smith,10 High St,Q\n"
                .as_bytes(),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(p.entries.len(), 1);
        let lines: Vec<u64> = p.samples.iter().map(|s| s.line).collect();
        assert_eq!(lines, vec![3, 4]);
        assert!(parse("postcode,colour\nSW1A 1AA,red\n".as_bytes(), &mut |_| {}).is_err());
        // A header error names the column's position, never its text.
        let Err(FileError::Unreadable(e)) = parse("postcode,SMITH,SW1A 2AA\n".as_bytes(), &mut |_| {}) else { panic!("read") };
        assert!(e.contains("column 2") && !e.contains("SMITH") && !e.contains("SW1A"), "{e}");
        let huge = format!("postcode,surname\nSW1A 1AA,Smith,{}\n", "x".repeat(100_000));
        let p = parse(huge.as_bytes(), &mut |_| {}).unwrap();
        assert_eq!(p.samples[0].text.as_deref().map(|t| t.chars().count()), Some(SAMPLE_CHARS));
        let p = parse(format!("P{}\n", "y".repeat(100_000)).as_bytes(), &mut |_| {}).unwrap();
        assert_eq!((p.rejected, p.samples[0].text.as_deref().map(|t| t.chars().count())), (1, Some(SAMPLE_CHARS)));
        let short = "P01092026".to_string() + &" ".repeat(100);
        let p = parse(format!("{short}\n").as_bytes(), &mut |_| {}).unwrap();
        assert!(p.samples[0].error.contains("415"), "{:?}", p.samples);
        assert!(matches!(parse(short.as_bytes(), &mut |_| {}), Err(FileError::Truncated { .. })));
    }

    #[test]
    fn duplicates_merge() {
        let d = |s| Some(fixtures::date(s));
        let m = merge(vec![entry("K", false, d("2026-03-01")), entry("K", true, d("2026-01-01"))]);
        assert_eq!(m["K"], entry("K", true, d("2026-01-01")));
        // A date of request wins over none, whichever comes first; none and none stay none.
        let m = merge(vec![entry("K", false, None), entry("K", false, d("2026-03-01")), entry("L", false, None)]);
        assert_eq!((m["K"].mark.requested.date(), m["L"].mark.requested), (d("2026-03-01"), Requested::Undated));
        let m = merge(vec![entry("K", false, d("2026-03-01")), entry("K", false, None)]);
        assert_eq!(m["K"].mark.requested.date(), d("2026-03-01"));
    }
}
