//! Reading a campaign list (CONTRACT §5): a header row, UTF-8 (a BOM is fine) or Windows-1252
//! where a record is not UTF-8, comma / semicolon / tab (given, or told from the header), and the
//! key columns found by their usual names or named by the caller.

use std::io::{BufRead, BufReader, Read};

use crate::domain::address::is_address_line_header;
use crate::domain::{Channel, ContactKind};

/// Columns named by the caller instead of found by name.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ColumnNames {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub postcode: Option<String>,
    pub surname: Option<String>,
    pub address: Option<Vec<String>>,
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

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    #[error("the list is empty: it needs a header row and at least one row")]
    Empty,
    #[error("no {wanted} column: name one with {parameter}=…; the headers found are: {}", found.join(", "))]
    MissingColumn { wanted: &'static str, parameter: &'static str, found: Vec<String> },
    #[error("the column {name:?} named by {parameter} is not in the header; the headers found are: {}", found.join(", "))]
    UnknownColumn { name: String, parameter: &'static str, found: Vec<String> },
    #[error("the delimiter must be one character: , ; or a tab")]
    BadDelimiter,
    #[error("the list is not readable CSV at line {line}: {message}")]
    Unreadable { line: u64, message: String },
}

/// Decode one field: UTF-8, or Windows-1252 where it is not.
pub fn decode(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0,
    }
}

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

/// A list opened for reading: its header and a CSV reader positioned on the first row.
pub struct List<R: Read> {
    pub headers: Vec<String>,
    pub delimiter: u8,
    pub reader: csv::Reader<BufReader<R>>,
}

/// Open a list: strip a BOM, settle the delimiter, read the header.
pub fn open<R: Read>(input: R, delimiter: Option<u8>) -> Result<List<R>, InputError> {
    let mut buffered = BufReader::with_capacity(1 << 20, input);
    let head = buffered.fill_buf().map_err(|e| InputError::Unreadable { line: 1, message: e.to_string() })?;
    if head.is_empty() {
        return Err(InputError::Empty);
    }
    if head.starts_with(b"\xEF\xBB\xBF") {
        buffered.consume(3);
    }
    let head = buffered.fill_buf().map_err(|e| InputError::Unreadable { line: 1, message: e.to_string() })?;
    let first_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let delimiter = delimiter.unwrap_or_else(|| sniff(first_line));
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).has_headers(true).from_reader(buffered);
    let headers: Vec<String> = reader
        .byte_headers()
        .map_err(|e| InputError::Unreadable { line: 1, message: e.to_string() })?
        .iter()
        .map(|h| decode(h).trim().to_owned())
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err(InputError::Empty);
    }
    Ok(List { headers, delimiter, reader })
}

fn find(headers: &[String], names: &[&str]) -> Option<usize> {
    headers.iter().position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
}

fn named(headers: &[String], name: &str, parameter: &'static str) -> Result<usize, InputError> {
    headers.iter().position(|h| h.eq_ignore_ascii_case(name.trim())).ok_or_else(|| InputError::UnknownColumn {
        name: name.to_owned(),
        parameter,
        found: headers.to_vec(),
    })
}

/// The columns a channel's key is made from.
pub fn key_columns(headers: &[String], channel: Channel, given: &ColumnNames) -> Result<KeyColumns, InputError> {
    let missing = |wanted, parameter| InputError::MissingColumn { wanted, parameter, found: headers.to_vec() };
    match channel.contact_kind() {
        ContactKind::Phone => {
            let i = match &given.phone {
                Some(n) => named(headers, n, "phone_column")?,
                None => find(headers, &["phone", "telephone", "tel", "mobile", "phone_number", "telephone_number"])
                    .ok_or_else(|| missing("phone", "phone_column"))?,
            };
            Ok(KeyColumns::Phone(i))
        }
        ContactKind::Email => {
            let i = match &given.email {
                Some(n) => named(headers, n, "email_column")?,
                None => find(headers, &["email", "email_address"]).ok_or_else(|| missing("email", "email_column"))?,
            };
            Ok(KeyColumns::Email(i))
        }
        ContactKind::Address => {
            let postcode = match &given.postcode {
                Some(n) => named(headers, n, "postcode_column")?,
                None => find(headers, &["postcode", "post_code", "postal_code"]).ok_or_else(|| missing("postcode", "postcode_column"))?,
            };
            let surname = match &given.surname {
                Some(n) => Some(named(headers, n, "surname_column")?),
                None => find(headers, &["surname", "last_name", "lastname"]),
            };
            let lines = match &given.address {
                Some(names) => names.iter().map(|n| named(headers, n, "address_columns")).collect::<Result<Vec<_>, _>>()?,
                None => {
                    let lines: Vec<usize> = (0..headers.len()).filter(|&i| is_address_line_header(&headers[i])).collect();
                    if lines.is_empty() {
                        vec![find(headers, &["address"])
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
        let h: Vec<String> = ["Name", "Mobile", "E-mail", "Post_Code", "Last_Name", "Address1", "Address2"].map(String::from).to_vec();
        let none = ColumnNames::default();
        assert_eq!(key_columns(&h, Channel::Call, &none), Ok(KeyColumns::Phone(1)));
        let err = key_columns(&h, Channel::Email, &none).unwrap_err();
        assert!(err.to_string().contains("Name, Mobile, E-mail"), "{err}");
        let named = ColumnNames { email: Some("e-mail".into()), ..ColumnNames::default() };
        assert_eq!(key_columns(&h, Channel::Email, &named), Ok(KeyColumns::Email(2)));
        assert_eq!(key_columns(&h, Channel::Mail, &none), Ok(KeyColumns::Address { postcode: 3, surname: Some(4), lines: vec![5, 6] }));
        let bad = ColumnNames { phone: Some("fax".into()), ..ColumnNames::default() };
        assert!(matches!(key_columns(&h, Channel::Sms, &bad), Err(InputError::UnknownColumn { .. })));
        let single: Vec<String> = ["postcode", "address"].map(String::from).to_vec();
        assert_eq!(key_columns(&single, Channel::Mail, &none), Ok(KeyColumns::Address { postcode: 0, surname: None, lines: vec![1] }));
    }
}
