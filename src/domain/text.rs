//! Free text a request or a file gives the service to keep (CONTRACT §6): bounded in length, and
//! without control characters, which a database may refuse (PostgreSQL refuses NUL in text) and
//! a person reading the history cannot see. One rule for every field; its errors name the field
//! and the limit, never the text.

use std::fmt;

/// What a field may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRule {
    /// Characters (not bytes) at most.
    pub max_chars: usize,
    /// Whether tab and newline (`\t`, `\n`, `\r\n`) are allowed: only in long text such as a note.
    pub multiline: bool,
}

/// `note`: a line or a paragraph.
pub const NOTE: TextRule = TextRule { max_chars: 500, multiline: true };
/// `recorded_by`: a person's or a system's name.
pub const RECORDED_BY: TextRule = TextRule { max_chars: 500, multiline: false };
/// `evidence` of a consent: how and when it was obtained, what it covers.
pub const EVIDENCE: TextRule = TextRule { max_chars: 2_000, multiline: true };
/// One postal address line.
pub const ADDRESS_LINE: TextRule = TextRule { max_chars: 200, multiline: false };
/// Address lines in one address at most.
pub const MAX_ADDRESS_LINES: usize = 10;
/// A surname.
pub const SURNAME: TextRule = TextRule { max_chars: 100, multiline: false };
/// A name given to a thing the service keeps: an API key, a scrub.
pub const NAME: TextRule = TextRule { max_chars: 200, multiline: false };

/// Why a text cannot be kept. Holds the field's name, never the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextError {
    /// A control character (NUL, escape, …) at this character position, counting from 1.
    Control {
        field: String,
        position: usize,
    },
    TooLong {
        field: String,
        limit: usize,
        given: usize,
    },
    /// More address lines than an address may have.
    TooManyLines {
        field: String,
        limit: usize,
        given: usize,
    },
}

impl TextError {
    pub fn field(&self) -> &str {
        match self {
            TextError::Control { field, .. } | TextError::TooLong { field, .. } | TextError::TooManyLines { field, .. } => field,
        }
    }

    /// The limit broken, for a length error.
    pub fn limit(&self) -> Option<usize> {
        match self {
            TextError::Control { .. } => None,
            TextError::TooLong { limit, .. } | TextError::TooManyLines { limit, .. } => Some(*limit),
        }
    }
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::Control { field, position } => {
                write!(f, "{field} holds a control character (at character {position}); send printable text")
            }
            TextError::TooLong { field, limit, given } => {
                write!(f, "{field} is {given} characters long; it may be at most {limit}")
            }
            TextError::TooManyLines { field, limit, given } => write!(f, "{field} has {given} lines; an address has at most {limit}"),
        }
    }
}

impl std::error::Error for TextError {}

/// Text from a file as people's programs write it: UTF-8, or Windows-1252 where it is not
/// (CONTRACT §4, §5). Lists and register files are read through this one rule.
pub fn decode(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0,
    }
}

/// Whether `value` may be kept as `field` under `rule`.
pub fn check(field: &str, value: &str, rule: TextRule) -> Result<(), TextError> {
    let mut chars = 0;
    let mut iter = value.chars().enumerate().peekable();
    while let Some((i, c)) = iter.next() {
        chars = i + 1;
        // Tab and newline only (CONTRACT §6); a CR only as the first half of a CRLF newline.
        let crlf = c == '\r' && iter.peek().is_some_and(|(_, next)| *next == '\n');
        let allowed = rule.multiline && (matches!(c, '\t' | '\n') || crlf);
        if c.is_control() && !allowed {
            return Err(TextError::Control { field: field.to_owned(), position: i + 1 });
        }
    }
    if chars > rule.max_chars {
        return Err(TextError::TooLong { field: field.to_owned(), limit: rule.max_chars, given: chars });
    }
    Ok(())
}

/// [`check`] for an optional field.
pub fn check_opt(field: &str, value: Option<&str>, rule: TextRule) -> Result<(), TextError> {
    value.map_or(Ok(()), |v| check(field, v, rule))
}

/// The lines and surname of an address (`field` names the address, e.g. `address`).
pub fn check_address<S: AsRef<str>>(field: &str, lines: &[S], surname: Option<&str>) -> Result<(), TextError> {
    if lines.len() > MAX_ADDRESS_LINES {
        return Err(TextError::TooManyLines { field: format!("{field}.lines"), limit: MAX_ADDRESS_LINES, given: lines.len() });
    }
    for (i, line) in lines.iter().enumerate() {
        check(&format!("{field}.lines[{i}]"), line.as_ref(), ADDRESS_LINE)?;
    }
    check_opt(&format!("{field}.surname"), surname, SURNAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_where_they_do_not_belong() {
        assert_eq!(check("note", "a\0b", NOTE), Err(TextError::Control { field: "note".into(), position: 2 }));
        assert!(check("note", "line one\nline two\tend\r\n", NOTE).is_ok());
        // A CR alone is no newline: it would hide what comes before it on a terminal.
        assert_eq!(check("note", "paid\rrefused", NOTE), Err(TextError::Control { field: "note".into(), position: 5 }));
        assert!(check("evidence", "a\r", EVIDENCE).is_err());
        assert!(check("evidence", "call\u{1b}[31m", EVIDENCE).is_err());
        assert!(check("recorded_by", "j.smith\n", RECORDED_BY).is_err());
        assert!(check("recorded_by", "j\tsmith", RECORDED_BY).is_err());
        assert!(check("name", "a\u{7f}", NAME).is_err());
        assert!(check("name", "a\u{85}", NAME).is_err());
        assert!(check("recorded_by", "Siân O'Brien 😀", RECORDED_BY).is_ok());
    }

    #[test]
    fn length_is_counted_in_characters() {
        assert!(check("note", &"é".repeat(500), NOTE).is_ok());
        let long = check("note", &"é".repeat(501), NOTE);
        assert_eq!(long, Err(TextError::TooLong { field: "note".into(), limit: 500, given: 501 }));
        assert_eq!(long.map_err(|e| e.limit()), Err(Some(500)));
        assert!(check("evidence", &"x".repeat(2_000), EVIDENCE).is_ok());
        assert!(check("evidence", &"x".repeat(2_001), EVIDENCE).is_err());
    }

    #[test]
    fn errors_name_the_field_never_the_text() {
        let e = check("note", "secret 07912345678\0", NOTE).map_err(|e| e.to_string());
        assert!(e.as_ref().is_err_and(|m| m.contains("note") && !m.contains("07912345678")), "{e:?}");
    }

    #[test]
    fn addresses_are_bounded() {
        assert!(check_address("address", &["10 High Street"], Some("O'Brien")).is_ok());
        let e = check_address("address", &["10 High Street", "Flat\u{0}2"], None);
        assert_eq!(e.map_err(|e| e.field().to_owned()), Err("address.lines[1]".to_owned()));
        assert!(check_address("address", &["x"; 11], None).is_err());
        assert!(check_address("address", &["1 Street"], Some(&"a".repeat(101))).is_err());
    }
}
