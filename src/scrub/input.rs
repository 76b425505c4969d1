//! Reading a campaign list (CONTRACT §5): a header row; UTF-8 (a BOM is fine), UTF-16 with a BOM
//! (decoded as it streams), or Windows-1252 where a record is not UTF-8; records ended by LF, CRLF
//! or CR alone; comma / semicolon / tab (given, or told from the header); the key columns found by
//! their usual names ([`crate::domain::headers`]) or named by the caller; and a quote that never
//! closes (or spans more than [`MAX_QUOTED_LINES`] lines) refused, never left to swallow rows.

use std::io::{self, BufRead, BufReader, Read};

use crate::domain::headers::{self, Ambiguous, Field};
use crate::domain::{Channel, ContactKind};

/// Whom a mail list is addressed to: named people (the default; a surname column is needed), or
/// households (every row judged at household level).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailLevel {
    #[default]
    Individual,
    Household,
}

impl std::str::FromStr for MailLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "individual" => Ok(MailLevel::Individual),
            "household" => Ok(MailLevel::Household),
            _ => Err("mail_level must be individual or household".into()),
        }
    }
}

/// Columns named by the caller instead of found by name, and (mail) the level a list is judged at.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ColumnNames {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub postcode: Option<String>,
    pub surname: Option<String>,
    pub address: Option<Vec<String>>,
    #[serde(default)]
    pub mail_level: MailLevel,
}

/// Where a row's key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyColumns {
    Phone(usize),
    Email(usize),
    /// Postcode, surname (if any), address lines (each split at commas).
    Address {
        postcode: usize,
        surname: Option<usize>,
        lines: Vec<usize>,
    },
}

/// A quoted field may span at most this many lines (CONTRACT §5).
pub use crate::bytes::{QuoteTrouble, Watch, MAX_QUOTED_LINES};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    #[error("the list is empty: it needs a header row and at least one row")]
    Empty,
    #[error("no {wanted} column: name one with {parameter}=…; the headers found are: {}", found.join(", "))]
    MissingColumn { wanted: &'static str, parameter: &'static str, found: Vec<String> },
    #[error("a mail list needs a surname column, so that a person's MPS entry or opt-out is never missed: name one with \
             surname_column=…, or say the list is addressed to households with mail_level=household; the headers found are: {}", found.join(", "))]
    NoSurname { found: Vec<String> },
    #[error("the column {name:?} named by {parameter} is not in the header; the headers found are: {}", found.join(", "))]
    UnknownColumn { name: String, parameter: &'static str, found: Vec<String> },
    #[error("{ambiguous}; name the one to use with {parameter}=…")]
    AmbiguousColumn { ambiguous: Ambiguous, parameter: &'static str },
    #[error("the delimiter must be one character: , ; or a tab")]
    BadDelimiter,
    #[error("the list's encoding cannot be read: {0}; save it as CSV in UTF-8 (or as Unicode text, UTF-16)")]
    Encoding(&'static str),
    #[error("{} opens a quoted field that {}: the list is unreadable (no row is judged inside an unclosed quote); close the quote and send it again",
            at_row(*.row), if *.unterminated { "is never closed".to_owned() } else { format!("runs over more than {MAX_QUOTED_LINES} lines") })]
    UnclosedQuote { row: u64, unterminated: bool },
    #[error("the list is not readable CSV ({}): {message}", at_row(*.row))]
    Unreadable { row: u64, message: String },
}

/// `row N`, or `the header row` for row 0.
fn at_row(row: u64) -> String {
    if row == 0 {
        "the header row".into()
    } else {
        format!("row {row}")
    }
}

/// Decode one field: UTF-8, or Windows-1252 where it is not (the rule lives in `domain::text`).
pub use crate::domain::text::decode;

/// `,` `;` or tab, as given (`;`, `\t`, `tab`, `,`).
pub fn delimiter(given: &str) -> Result<u8, InputError> {
    match given {
        "," => Ok(b','),
        ";" => Ok(b';'),
        "\t" | "\\t" | "tab" | "TAB" => Ok(b'\t'),
        _ => Err(InputError::BadDelimiter),
    }
}

/// The delimiter most used in the header line (comma when none is).
pub fn sniff(header_line: &[u8]) -> u8 {
    let mut best = (0, b',');
    for d in [b',', b';', b'\t'] {
        let n = header_line.iter().filter(|b| **b == d).count();
        if n > best.0 {
            best = (n, d);
        }
    }
    best.1
}

/// UTF-16 decoded to UTF-8 as it is read (encoding_rs), a buffer at a time.
pub struct Utf16<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    out: Box<[u8]>,
    pos: usize,
    len: usize,
    done: bool,
}

impl<R: BufRead> Utf16<R> {
    fn new(inner: R, encoding: &'static encoding_rs::Encoding) -> Utf16<R> {
        Utf16 {
            inner,
            decoder: encoding.new_decoder_with_bom_removal(),
            out: vec![0; 1 << 16].into_boxed_slice(),
            pos: 0,
            len: 0,
            done: false,
        }
    }
}

impl<R: BufRead> BufRead for Utf16<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.len && !self.done {
            let src = self.inner.fill_buf()?;
            let last = src.is_empty();
            let (result, read, written, _) = self.decoder.decode_to_utf8(src, &mut self.out, last);
            self.inner.consume(read);
            (self.pos, self.len) = (0, written);
            self.done = last && result == encoding_rs::CoderResult::InputEmpty;
        }
        Ok(&self.out[self.pos..self.len])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.len);
    }
}

impl<R: BufRead> Read for Utf16<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let have = self.fill_buf()?;
            let n = have.len().min(buf.len());
            buf[..n].copy_from_slice(&have[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

/// A list's bytes as UTF-8 (or Windows-1252) text: as uploaded, or decoded from UTF-16.
pub enum Source<R> {
    Plain(BufReader<R>),
    Utf16(Utf16<BufReader<R>>),
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Plain(r) => r.read(buf),
            Source::Utf16(r) => r.read(buf),
        }
    }
}

impl<R: Read> BufRead for Source<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            Source::Plain(r) => r.fill_buf(),
            Source::Utf16(r) => r.fill_buf(),
        }
    }

    fn consume(&mut self, n: usize) {
        match self {
            Source::Plain(r) => r.consume(n),
            Source::Utf16(r) => r.consume(n),
        }
    }
}

/// A CSV reader's error while reading `row` (0: the header) as an input error.
pub fn read_error(e: &csv::Error, row: u64) -> InputError {
    if let csv::ErrorKind::Io(io) = e.kind() {
        if let Some(trouble) = io.get_ref().and_then(|inner| inner.downcast_ref::<QuoteTrouble>()) {
            return InputError::UnclosedQuote { row, unterminated: trouble.unterminated };
        }
    }
    InputError::Unreadable { row, message: e.to_string() }
}

/// A list opened for reading: its header and a CSV reader positioned on the first row.
pub struct List<R: Read> {
    pub headers: Vec<String>,
    pub delimiter: u8,
    pub reader: csv::Reader<Watch<Source<R>>>,
}

/// Open a list: settle its encoding (a BOM), the delimiter, read the header.
pub fn open<R: Read>(input: R, delimiter: Option<u8>) -> Result<List<R>, InputError> {
    let unreadable = |e: io::Error| InputError::Unreadable { row: 0, message: e.to_string() };
    let mut buffered = BufReader::with_capacity(1 << 20, input);
    let head = buffered.fill_buf().map_err(unreadable)?;
    if head.is_empty() {
        return Err(InputError::Empty);
    }
    let mut source = if head.starts_with(b"\xFF\xFE\x00\x00") || head.starts_with(b"\x00\x00\xFE\xFF") {
        return Err(InputError::Encoding("it is UTF-32"));
    } else if head.starts_with(b"\xFF\xFE") {
        Source::Utf16(Utf16::new(buffered, encoding_rs::UTF_16LE))
    } else if head.starts_with(b"\xFE\xFF") {
        Source::Utf16(Utf16::new(buffered, encoding_rs::UTF_16BE))
    } else {
        if head.starts_with(b"\xEF\xBB\xBF") {
            buffered.consume(3);
        }
        Source::Plain(buffered)
    };
    let head = source.fill_buf().map_err(unreadable)?;
    let first_line = head.split(|b| *b == b'\n' || *b == b'\r').next().unwrap_or_default();
    let delimiter = delimiter.unwrap_or_else(|| sniff(first_line));
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).has_headers(true).from_reader(Watch::new(source, delimiter));
    let raw = reader.byte_headers().map_err(|e| read_error(&e, 0))?;
    if raw.as_slice().contains(&0) {
        return Err(InputError::Encoding(
            "the header holds NUL bytes, as UTF-16 or UTF-32 without a byte-order mark would; only UTF-16 with a byte-order mark is read",
        ));
    }
    let headers: Vec<String> = raw.iter().map(|h| decode(h).trim().to_owned()).collect();
    if headers.iter().all(String::is_empty) {
        return Err(InputError::Empty);
    }
    Ok(List { headers, delimiter, reader })
}

/// The one column found by its usual names; `Ok(None)` when there is none.
fn found(headers: &[String], f: Field, parameter: &'static str) -> Result<Option<usize>, InputError> {
    headers::unique(headers, f).map_err(|ambiguous| InputError::AmbiguousColumn { ambiguous, parameter })
}

/// The column a caller named.
fn named(headers: &[String], name: &str, f: Field, parameter: &'static str) -> Result<usize, InputError> {
    headers::named(headers, name, f)
        .map_err(|ambiguous| InputError::AmbiguousColumn { ambiguous, parameter })?
        .ok_or_else(|| InputError::UnknownColumn { name: name.to_owned(), parameter, found: headers.to_vec() })
}

/// The column of a field: named by the caller, or found by its usual names.
fn column(headers: &[String], given: Option<&str>, f: Field, parameter: &'static str) -> Result<Option<usize>, InputError> {
    match given {
        Some(n) => named(headers, n, f, parameter).map(Some),
        None => found(headers, f, parameter),
    }
}

/// The columns a channel's key is made from.
pub fn key_columns(headers: &[String], channel: Channel, given: &ColumnNames) -> Result<KeyColumns, InputError> {
    let missing = |wanted, parameter| InputError::MissingColumn { wanted, parameter, found: headers.to_vec() };
    match channel.contact_kind() {
        ContactKind::Phone => {
            let i =
                column(headers, given.phone.as_deref(), Field::Phone, "phone_column")?.ok_or_else(|| missing("phone", "phone_column"))?;
            Ok(KeyColumns::Phone(i))
        }
        ContactKind::Email => {
            let i =
                column(headers, given.email.as_deref(), Field::Email, "email_column")?.ok_or_else(|| missing("email", "email_column"))?;
            Ok(KeyColumns::Email(i))
        }
        ContactKind::Address => {
            let postcode = column(headers, given.postcode.as_deref(), Field::Postcode, "postcode_column")?
                .ok_or_else(|| missing("postcode", "postcode_column"))?;
            let surname = match given.mail_level {
                // Every row at household level: a surname column, if any, is not used.
                MailLevel::Household => None,
                MailLevel::Individual => Some(
                    column(headers, given.surname.as_deref(), Field::Surname, "surname_column")?
                        .ok_or_else(|| InputError::NoSurname { found: headers.to_vec() })?,
                ),
            };
            let lines = match &given.address {
                Some(names) => {
                    names.iter().map(|n| named(headers, n, Field::AddressLine, "address_columns")).collect::<Result<Vec<_>, _>>()?
                }
                None => {
                    let lines = headers::positions(headers, Field::AddressLine);
                    if lines.is_empty() {
                        vec![found(headers, Field::Address, "address_columns")?
                            .ok_or_else(|| missing("address lines (address_1…, or address)", "address_columns"))?]
                    } else {
                        lines
                    }
                }
            };
            Ok(KeyColumns::Address { postcode, surname, lines })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(s: &str) -> Vec<String> {
        open(s.as_bytes(), None).map(|l| l.headers).unwrap_or_default()
    }

    #[test]
    fn boms_delimiters_and_headers() {
        assert_eq!(headers("\u{feff}Name,Phone\nJo,020\n"), ["Name", "Phone"]);
        assert_eq!(open("a;b;c\n1;2;3\n".as_bytes(), None).map(|l| l.delimiter).ok(), Some(b';'));
        assert_eq!(open("a\tb\n1\t2\n".as_bytes(), None).map(|l| l.delimiter).ok(), Some(b'\t'));
        assert_eq!(open("a,b;c\n".as_bytes(), Some(b';')).map(|l| l.headers).ok(), Some(vec!["a,b".to_owned(), "c".to_owned()]));
        assert!(matches!(open("".as_bytes(), None), Err(InputError::Empty)));
        assert_eq!(delimiter("\\t"), Ok(b'\t'));
        assert!(delimiter("|").is_err());
    }

    #[test]
    fn windows_1252_is_read_where_utf8_is_not() {
        assert_eq!(decode(b"Sin\xe9ad"), "Sinéad");
        assert_eq!(decode("Siân".as_bytes()), "Siân");
    }

    #[test]
    fn key_columns_by_name_or_parameter() {
        let h: Vec<String> = ["Name", "Mobile", "E-mail", "Post_Code", "Last Name", "Address Line 1", "Street"].map(String::from).to_vec();
        let none = ColumnNames::default();
        assert_eq!(key_columns(&h, Channel::Call, &none), Ok(KeyColumns::Phone(1)));
        assert_eq!(key_columns(&h, Channel::Email, &none), Ok(KeyColumns::Email(2)));
        let named = ColumnNames { email: Some("e_mail".into()), ..ColumnNames::default() };
        assert_eq!(key_columns(&h, Channel::Email, &named), Ok(KeyColumns::Email(2)));
        assert_eq!(key_columns(&h, Channel::Mail, &none), Ok(KeyColumns::Address { postcode: 3, surname: Some(4), lines: vec![5, 6] }));
        let bad = ColumnNames { phone: Some("fax".into()), ..ColumnNames::default() };
        assert!(matches!(key_columns(&h, Channel::Sms, &bad), Err(InputError::UnknownColumn { .. })));
        let err = key_columns(&h[..1], Channel::Email, &none).unwrap_err();
        assert!(err.to_string().contains("no email column") && err.to_string().contains("found are: Name"), "{err}");
        // Mail without a surname: refused, unless addressed to households.
        let single: Vec<String> = ["postcode", "address"].map(String::from).to_vec();
        assert!(matches!(key_columns(&single, Channel::Mail, &none), Err(InputError::NoSurname { .. })));
        let household = ColumnNames { mail_level: MailLevel::Household, ..ColumnNames::default() };
        assert_eq!(key_columns(&single, Channel::Mail, &household), Ok(KeyColumns::Address { postcode: 0, surname: None, lines: vec![1] }));
        assert_eq!(
            key_columns(&h, Channel::Mail, &household),
            Ok(KeyColumns::Address { postcode: 3, surname: None, lines: vec![5, 6] }),
            "a household list ignores its surnames"
        );
        // Two columns for one key: never a silent choice.
        let two: Vec<String> = ["Home Phone", "Mobile Phone"].map(String::from).to_vec();
        let err = key_columns(&two, Channel::Call, &none).unwrap_err();
        assert!(matches!(&err, InputError::AmbiguousColumn { ambiguous, .. } if ambiguous.names == two), "{err}");
        let chosen = ColumnNames { phone: Some("Mobile Phone".into()), ..ColumnNames::default() };
        assert_eq!(key_columns(&two, Channel::Call, &chosen), Ok(KeyColumns::Phone(1)));
    }

    /// Every data record of a list as UTF-8 text, or the error reading it.
    fn records(list: &[u8]) -> Result<(Vec<String>, Vec<Vec<String>>), InputError> {
        let mut l = open(list, None)?;
        let mut out = Vec::new();
        let mut record = csv::ByteRecord::new();
        let mut row = 0;
        while l.reader.read_byte_record(&mut record).map_err(|e| read_error(&e, row + 1))? {
            row += 1;
            out.push(record.iter().map(|f| decode(f).into_owned()).collect());
        }
        Ok((l.headers, out))
    }

    fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
        let mut out = if big_endian { vec![0xFE, 0xFF] } else { vec![0xFF, 0xFE] };
        for unit in text.encode_utf16() {
            out.extend(if big_endian { unit.to_be_bytes() } else { unit.to_le_bytes() });
        }
        out
    }

    #[test]
    fn utf16_with_a_bom_is_decoded_as_it_streams() {
        // Longer than the decoder's buffer, tab-delimited as spreadsheets save "Unicode text".
        let mut text = String::from("Name\tPhone\r\n");
        for i in 0..5_000 {
            text.push_str(&format!("Siân {i}\t020 7946 {:04}\r\n", i % 10_000));
        }
        for big_endian in [false, true] {
            let (headers, rows) = records(&utf16(&text, big_endian)).unwrap();
            assert_eq!(headers, ["Name", "Phone"]);
            assert_eq!(rows.len(), 5_000);
            assert_eq!(rows[4_999], ["Siân 4999", "020 7946 4999"]);
        }
    }

    #[test]
    fn unreadable_encodings_are_named() {
        let mut utf32 = vec![0xFF, 0xFE, 0, 0];
        utf32.extend("p\0\0\0".as_bytes());
        assert_eq!(records(&utf32).err(), Some(InputError::Encoding("it is UTF-32")));
        let no_bom: Vec<u8> = "phone\n0207\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert!(matches!(records(&no_bom), Err(InputError::Encoding(_))));
    }

    #[test]
    fn records_end_with_lf_crlf_or_cr_alone() {
        for list in ["a,b\n1,2\n3,4\n", "a,b\r\n1,2\r\n3,4\r\n", "a,b\r1,2\r3,4\r", "a,b\r1,2\r3,4"] {
            let (headers, rows) = records(list.as_bytes()).unwrap();
            assert_eq!(headers, ["a", "b"], "{list:?}");
            assert_eq!(rows, [["1", "2"], ["3", "4"]], "{list:?}");
        }
        assert_eq!(open("a;b\r1;2\r".as_bytes(), None).map(|l| l.delimiter).ok(), Some(b';'));
    }

    #[test]
    fn quotes_that_never_close_or_run_too_long_are_refused_naming_their_row() {
        let unclosed = |row| Err(InputError::UnclosedQuote { row, unterminated: true });
        assert_eq!(records(b"name,notes\nAnn,ok\nBob,\"open\nCy,x\nDi,y\n").map(|_| ()), unclosed(2));
        assert_eq!(records(b"name,notes\rAnn,\"open\rCy,x\r").map(|_| ()), unclosed(1));
        assert_eq!(records(b"name,\"notes\nAnn,x\n").map(|_| ()), unclosed(0));
        // Closed quotes, doubled quotes, quotes inside unquoted text and multi-line fields are fine.
        let (_, rows) = records(b"a,b\n\"x, \"\"y\"\"\",5'10\"\n\"two\nlines\",\"\"\nz,\"q\"\"\"\n").unwrap();
        assert_eq!(rows, [["x, \"y\"", "5'10\""], ["two\nlines", ""], ["z", "q\""]]);
        // A field over 99 line ends is fine; over more than 100 lines it is refused, whatever the line ends.
        for end in ["\n", "\r\n", "\r"] {
            let field = |n: usize| format!("\"{}\"", vec!["l"; n].join(end));
            let list = format!("a,b{end}1,{}{end}2,x{end}", field(100));
            assert_eq!(records(list.as_bytes()).map(|(_, r)| r.len()), Ok(2), "{end:?}");
            let list = format!("a,b{end}1,x{end}2,{}{end}3,x{end}", field(101));
            assert_eq!(records(list.as_bytes()).map(|_| ()), Err(InputError::UnclosedQuote { row: 2, unterminated: false }), "{end:?}");
        }
    }

    proptest::proptest! {
        /// The watch never refuses a list whose every quoted field closes (within the line limit),
        /// and the csv crate reads the same records through it as without it.
        #[test]
        fn the_watch_passes_well_formed_lists_unchanged(rows in proptest::collection::vec(proptest::collection::vec(
            proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just(b'a'), proptest::strategy::Just(b','), proptest::strategy::Just(b'"'),
                proptest::strategy::Just(b'\n'), proptest::strategy::Just(b'\r'), proptest::strategy::Just(b' ')
            ], 0..6), 1..4), 1..20), end in 0usize..3) {
            let end = ["\n", "\r\n", "\r"][end].as_bytes();
            let mut w = csv::WriterBuilder::new().flexible(true).terminator(csv::Terminator::Any(end[end.len() - 1])).from_writer(Vec::new());
            w.write_record(["h1", "h2"]).unwrap();
            for r in &rows {
                w.write_record(r).unwrap();
            }
            let list = w.into_inner().unwrap();
            let plain: Vec<csv::ByteRecord> = csv::ReaderBuilder::new().flexible(true).from_reader(list.as_slice()).byte_records().map(Result::unwrap).collect();
            let mut l = open(list.as_slice(), Some(b',')).unwrap();
            let watched: Vec<csv::ByteRecord> = l.reader.byte_records().map(Result::unwrap).collect();
            proptest::prop_assert_eq!(watched, plain);
        }
    }
}
