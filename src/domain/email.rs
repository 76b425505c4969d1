//! Email addresses: trimmed, lower-cased keys (CONTRACT §1).

use std::fmt;

/// A trimmed, lower-cased email address with one `@`, a local part and a dotted domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("the cell is empty")]
    Empty,
    #[error("not an email address: {0}")]
    Invalid(&'static str),
}

impl EmailKey {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(EmailError::Empty);
        }
        if s.len() > 254 {
            return Err(EmailError::Invalid("longer than 254 characters"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailError::Invalid("it contains white space"));
        }
        // A spreadsheet runs a cell that starts with one of these as a formula; no mailbox needs one.
        if s.starts_with(['=', '+', '-', '@']) {
            return Err(EmailError::Invalid("it starts with =, +, - or @"));
        }
        let (local, domain) = s.split_once('@').ok_or(EmailError::Invalid("no @"))?;
        if domain.contains('@') {
            return Err(EmailError::Invalid("more than one @"));
        }
        if local.is_empty() || local.len() > 64 {
            return Err(EmailError::Invalid("the part before @ is empty or too long"));
        }
        let labels_ok = domain
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-') && l.chars().all(|c| c.is_alphanumeric() || c == '-'));
        if !domain.contains('.') || !labels_ok {
            return Err(EmailError::Invalid("the domain is not a dotted name"));
        }
        Ok(EmailKey(s.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lower_cases() {
        assert_eq!(EmailKey::parse("  Jo.Bloggs@Example.CO.UK ").map(|k| k.0).as_deref(), Ok("jo.bloggs@example.co.uk"));
        assert_eq!(EmailKey::parse("a+tag@sub.example.com").map(|k| k.0).as_deref(), Ok("a+tag@sub.example.com"));
        assert_eq!(EmailKey::parse("jo-=@example.com").map(|k| k.0).as_deref(), Ok("jo-=@example.com"));
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        for s in [
            "",
            "jo",
            "jo@",
            "@example.com",
            "jo@example",
            "jo@@example.com",
            "jo bloggs@example.com",
            "jo@exa mple.com",
            "jo@-x.com",
            "jo@x..com",
            "=jo@example.com",
            " +jo@example.com",
            "-jo@example.com",
            "@jo@example.com",
            "=HYPERLINK(\"x\")@example.com",
        ] {
            assert!(EmailKey::parse(s).is_err(), "{s:?} must be invalid");
        }
    }
}
