//! TPS and CTPS files (CONTRACT §4): full files (one number a record, fixed width 12, with or
//! without the space after the dialling code) and change files (`A`/`D`, a space, a number).

use std::io::BufRead;

use crate::domain::phone::register_national;
use crate::domain::Rejected;

/// What a file held: numbers (national significant numbers as integers) and refused records.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Full file: every number. Change file: numbers marked `A`.
    pub listed: Vec<u64>,
    /// Change file: numbers marked `D`.
    pub removed: Vec<u64>,
    /// Records read (blank lines are not records).
    pub records: u64,
    pub rejected: u64,
    pub samples: Vec<Rejected>,
}

/// Characters of a rejected record kept in its sample (a huge line must not make every read of
/// the import history huge).
pub const SAMPLE_CHARS: usize = 200;
/// Bytes of one line held while reading: more than any record and its sample need (a UTF-8
/// character is at most 4 bytes); the rest of a longer line is read past, not kept.
pub const LINE_BYTES: usize = 4 * 512;

/// A rejected record's text for its sample: at most `SAMPLE_CHARS` characters.
pub fn sample_text(record: &[u8]) -> String {
    String::from_utf8_lossy(&record[..record.len().min(4 * SAMPLE_CHARS)]).chars().take(SAMPLE_CHARS).collect()
}

/// Read one line (through its `\n`) into `buf`, keeping at most `max` bytes of it. Returns the
/// bytes read (0 at the end of the input) and whether the line was longer than `max`.
pub fn read_line_capped<R: BufRead>(input: &mut R, buf: &mut Vec<u8>, max: usize) -> std::io::Result<(usize, bool)> {
    let start = buf.len();
    let kept = std::io::Read::take(&mut *input, max.saturating_sub(start) as u64).read_until(b'\n', buf)?;
    if buf.last() == Some(&b'\n') || buf.len() < max {
        return Ok((kept, false));
    }
    let rest = input.skip_until(b'\n')?;
    Ok((kept + rest, rest > 0))
}

/// The fixed width of a record.
const WIDTH: usize = 12;

/// Why a file cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(
        "the file ends mid-record: line {line} has {len} characters and no line end (a complete file ends every record with CRLF or LF)"
    )]
    Truncated { line: u64, len: usize },
    /// Not a file of this register's layout (the message names no content of the file).
    #[error("{0}")]
    Unreadable(String),
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
}

/// A number field as the register writes it: `0207 3787244`, `02073787244 `. The key is the
/// digits alone; they must be a UK national number with its trunk 0.
pub fn parse_number(field: &[u8]) -> Result<u64, String> {
    if field.len() > WIDTH {
        return Err(format!("longer than {WIDTH} characters"));
    }
    if let Some(b) = field.iter().find(|b| !b.is_ascii_digit() && **b != b' ') {
        return Err(format!("the character {:?} is not a digit or a space", char::from(*b)));
    }
    // One group of digits, or the dialling code and the rest.
    let groups: Vec<&[u8]> = field.split(|b| *b == b' ').filter(|g| !g.is_empty()).collect();
    if groups.len() > 2 {
        return Err("more than one number in the record".into());
    }
    register_national(&groups.concat()).map_err(|e| e.to_string())
}

/// Read records line by line (CRLF or LF); `each` gets (line number, the line without its end).
/// A line longer than `LINE_BYTES` comes to `each` cut to that length (longer than any record).
fn for_each_record<R: BufRead>(mut input: R, progress: &mut dyn FnMut(u64), mut each: impl FnMut(u64, &[u8])) -> Result<(), FileError> {
    let mut buf = Vec::with_capacity(64);
    let mut line = 0u64;
    loop {
        buf.clear();
        let (n, long) = read_line_capped(&mut input, &mut buf, LINE_BYTES)?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        if line % 65_536 == 0 {
            progress(line);
        }
        let terminated = buf.last() == Some(&b'\n');
        let mut record = buf.as_slice();
        if terminated {
            record = &record[..record.len() - 1];
        }
        if record.last() == Some(&b'\r') {
            record = &record[..record.len() - 1];
        }
        if record.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        // The last record of a cut file has no line end; a whole record without one (a file whose
        // writer left off the final newline) is still whole.
        if !terminated && !long && record.len() < WIDTH {
            return Err(FileError::Truncated { line, len: record.len() });
        }
        each(line, record);
    }
}

fn reject(parsed: &mut Parsed, line: u64, record: &[u8], error: String) {
    parsed.rejected += 1;
    Rejected::keep(&mut parsed.samples, || Rejected { line, text: Some(sample_text(record)), error });
}

/// A full file: every record a number.
/// `progress` is told the lines read so far, now and then.
pub fn parse_full<R: BufRead>(input: R, progress: &mut dyn FnMut(u64)) -> Result<Parsed, FileError> {
    let mut parsed = Parsed::default();
    for_each_record(input, progress, |line, record| {
        parsed.records += 1;
        match parse_number(record) {
            Ok(n) => parsed.listed.push(n),
            Err(e) => reject(&mut parsed, line, record, e),
        }
    })?;
    Ok(parsed)
}

/// A change file: `A NUMBER` (listed) or `D NUMBER` (removed).
pub fn parse_delta<R: BufRead>(input: R, progress: &mut dyn FnMut(u64)) -> Result<Parsed, FileError> {
    let mut parsed = Parsed::default();
    for_each_record(input, progress, |line, record| {
        parsed.records += 1;
        let (flag, rest) = match record {
            [f, b' ', rest @ ..] => (*f, rest),
            _ => return reject(&mut parsed, line, record, "a change record is A or D, a space, then the number".into()),
        };
        match (flag, parse_number(rest)) {
            (b'A' | b'a', Ok(n)) => parsed.listed.push(n),
            (b'D' | b'd', Ok(n)) => parsed.removed.push(n),
            (_, Ok(_)) => reject(&mut parsed, line, record, format!("unknown change flag {:?}; expected A or D", flag as char)),
            (_, Err(e)) => reject(&mut parsed, line, record, e),
        }
    })?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(text: &str) -> Parsed {
        parse_full(text.as_bytes(), &mut |_| {}).unwrap()
    }

    #[test]
    fn both_layouts_with_crlf_or_lf() {
        let p = full("0207 3787244\r\n01635 506160\r\n0191 5657153\n07860 338653\n02073787245 \n\n   \r\n");
        assert_eq!(p.listed, vec![2073787244, 1635506160, 1915657153, 7860338653, 2073787245]);
        assert_eq!((p.records, p.rejected), (5, 0));
    }

    #[test]
    fn nine_digit_areas_are_numbers() {
        // A few 01 areas have 9 digits after the 0 (10 with it).
        assert_eq!(parse_number(b"01697 72345 "), Ok(169772345));
        assert_eq!(parse_number(b"0169772345"), Ok(169772345));
    }

    #[test]
    fn bad_records_are_rejected_with_their_line() {
        let p = full("0207 3787244\r\nhello world\r\n1207 3787244\r\n0207 37872\r\n0207 3787244 01\r\n00207378724\r\n");
        assert_eq!(p.listed, vec![2073787244]);
        assert_eq!(p.rejected, 5);
        let lines: Vec<u64> = p.samples.iter().map(|s| s.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6]);
        assert_eq!(p.samples[0].text.as_deref(), Some("hello world"));
        assert!(p.samples[1].error.contains("does not start with 0"), "{:?}", p.samples[1]);
    }

    #[test]
    fn a_file_cut_mid_record_is_truncated() {
        assert!(matches!(parse_full("0207 3787244\r\n0207 37".as_bytes(), &mut |_| {}), Err(FileError::Truncated { line: 2, len: 7 })));
        // A whole last record without its line end is whole.
        assert_eq!(full("0207 3787244\r\n0207 3787245").listed.len(), 2);
    }

    /// The sample files `imports/make-samples.sh` writes parse whole.
    #[test]
    fn the_sample_files_parse() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("imports/sample");
        for (name, delta, listed) in
            [("tps-2026-11-23.txt", false, 60), ("ctps-2026-11-23.txt", false, 10), ("tps-2026-11-24-delta.txt", true, 1)]
        {
            let file = std::io::BufReader::new(std::fs::File::open(dir.join(name)).unwrap());
            let p = if delta { parse_delta(file, &mut |_| {}) } else { parse_full(file, &mut |_| {}) }.unwrap();
            assert_eq!((p.rejected, p.listed.len()), (0, listed), "{name}");
        }
    }

    #[test]
    fn a_huge_line_is_rejected_with_a_short_sample() {
        let huge = format!("0207 3787244\r\n{}\r\n0207 3787245\r\n", "9".repeat(1_000_000));
        let p = full(&huge);
        assert_eq!(p.listed, vec![2073787244, 2073787245]);
        assert_eq!((p.rejected, p.samples[0].line), (1, 2));
        assert_eq!(p.samples[0].text.as_deref().map(|t| t.chars().count()), Some(SAMPLE_CHARS));
        // Unterminated at the end of the file: rejected, not read as a cut record.
        let p = full(&format!("0207 3787244\r\n{}", "x".repeat(10_000)));
        assert_eq!((p.rejected, p.samples[0].text.as_deref().map(str::len)), (1, Some(SAMPLE_CHARS)));
    }

    #[test]
    fn capped_lines_read_past_what_they_do_not_keep() {
        let mut input = std::io::BufReader::with_capacity(8, "abcdefghijklmnop\nqr\n".as_bytes());
        let mut buf = Vec::new();
        assert_eq!(read_line_capped(&mut input, &mut buf, 5).unwrap(), (17, true));
        assert_eq!(buf, b"abcde");
        buf.clear();
        assert_eq!(read_line_capped(&mut input, &mut buf, 5).unwrap(), (3, false));
        assert_eq!(buf, b"qr\n");
        buf.clear();
        assert_eq!(read_line_capped(&mut input, &mut buf, 5).unwrap(), (0, false));
    }

    #[test]
    fn change_files() {
        let p = parse_delta("A 0207 3787244\r\nD 02073787245 \r\nX 0207 3787246\r\nA0207\r\n".as_bytes(), &mut |_| {}).unwrap();
        assert_eq!(p.listed, vec![2073787244]);
        assert_eq!(p.removed, vec![2073787245]);
        assert_eq!(p.rejected, 2);
        assert!(p.samples[0].error.contains("unknown change flag"));
    }
}
