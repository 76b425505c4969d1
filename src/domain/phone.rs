//! Phone numbers: any accepted spelling to its E.164 key (CONTRACT §2).

use std::fmt;

use phonenumber::{country, Mode};

/// A phone number in E.164 form, e.g. `+442079460018`. Only [`PhoneKey::parse`] and
/// [`PhoneKey::from_register`] make one, so every value is a key the contract accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneKey(String);

/// Why a cell does not give a phone key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("the cell is empty")]
    Empty,
    #[error("the cell holds more than one number; it is never guessed which is meant")]
    TwoNumbers,
    #[error("not a phone number")]
    NotANumber,
    #[error("not a valid phone number")]
    Invalid,
}

/// Words and signs that join two numbers in one cell (`07912 345678 / 01632 960001`).
const SEPARATORS: [char; 5] = ['/', ';', ',', '&', '|'];

impl PhoneKey {
    /// Parse a cell as written by a person or a CRM, default region GB.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let cell = input.trim();
        if cell.is_empty() {
            return Err(PhoneError::Empty);
        }
        if holds_two_numbers(cell) {
            return Err(PhoneError::TwoNumbers);
        }
        let number =
            phonenumber::parse(Some(country::Id::GB), cell).map_err(|_| PhoneError::NotANumber)?;
        if !phonenumber::is_valid(&number) {
            return Err(PhoneError::Invalid);
        }
        // The extension, if any, is dropped: E.164 has none.
        Ok(PhoneKey(number.format().mode(Mode::E164).to_string()))
    }

    /// A number from a TPS/CTPS file: UK national digits with the leading 0. The register is
    /// authoritative, so no validity check beyond the shape is made.
    pub fn from_register(national: &str) -> Option<Self> {
        let digits = national.strip_prefix('0')?;
        let ok = (9..=10).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        ok.then(|| PhoneKey(format!("+44{digits}")))
    }

    /// Re-make a key that was stored by this service (already canonical).
    pub fn from_stored(key: &str) -> Option<Self> {
        let digits = key.strip_prefix('+')?;
        let ok = (4..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| PhoneKey(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// UK numbers only: the national significant digits as an integer, the compact form the
    /// registers are kept in (fits in 8 bytes).
    pub fn uk_national(&self) -> Option<u64> {
        self.0.strip_prefix("+44")?.parse().ok()
    }
}

impl fmt::Display for PhoneKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A cell holds two numbers when a separator (or the word `or`) splits it into more than one part
/// that has digits in it. An extension marker (`x123`, `#123`, `ext 123`) is not a separator.
fn holds_two_numbers(cell: &str) -> bool {
    let lowered = cell.to_ascii_lowercase();
    let mut parts_with_digits = 0;
    for part in lowered.split(|c| SEPARATORS.contains(&c)) {
        for piece in part.split(" or ") {
            if piece.bytes().any(|b| b.is_ascii_digit()) {
                parts_with_digits += 1;
            }
        }
    }
    parts_with_digits > 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Result<String, PhoneError> {
        PhoneKey::parse(s).map(|k| k.0)
    }

    #[test]
    fn every_contract_spelling_gives_the_same_key() {
        for s in [
            "020 7946 0018",
            "02079460018",
            "+44 20 7946 0018",
            "+44 (0)20 7946 0018",
            "0044 20 7946 0018",
            "(020) 7946-0018",
            "2079460018",
            "  020 7946 0018  ",
            "+442079460018",
        ] {
            assert_eq!(key(s).as_deref(), Ok("+442079460018"), "spelling {s:?}");
        }
    }

    #[test]
    fn extensions_are_dropped() {
        for s in [
            "020 7946 0018 ext 123",
            "020 7946 0018 ext. 123",
            "020 7946 0018 x123",
            "020 7946 0018 #123",
        ] {
            assert_eq!(key(s).as_deref(), Ok("+442079460018"), "spelling {s:?}");
        }
    }

    #[test]
    fn two_numbers_in_a_cell_are_invalid() {
        for s in [
            "07912 345678 / 01632 960001",
            "07912 345678 or 01632 960001",
            "07912 345678 OR 02079460018",
            "07912 345678; 01632 960001",
            "07912 345678, 01632 960001",
            "07912 345678 & 01632 960001",
        ] {
            assert_eq!(key(s), Err(PhoneError::TwoNumbers), "cell {s:?}");
        }
    }

    #[test]
    fn mobiles_and_non_uk_numbers_are_valid_keys() {
        assert_eq!(key("07912 345678").as_deref(), Ok("+447912345678"));
        assert_eq!(key("+1 212 555 0100").as_deref(), Ok("+12125550100"));
        assert_eq!(key("00353 1 234 5678").as_deref(), Ok("+35312345678"));
    }

    #[test]
    fn invalid_numbers_are_rejected() {
        assert_eq!(key(""), Err(PhoneError::Empty));
        assert_eq!(key("   "), Err(PhoneError::Empty));
        assert_eq!(key("abc"), Err(PhoneError::NotANumber));
        assert_eq!(key("12345"), Err(PhoneError::Invalid));
        assert_eq!(key("+44 20 7946 001"), Err(PhoneError::Invalid));
        // A fictional (drama) range that phonenumber does not call valid.
        assert_eq!(key("01632 960001"), Err(PhoneError::Invalid));
    }

    #[test]
    fn register_numbers_keep_the_digits_after_the_trunk_zero() {
        assert_eq!(
            PhoneKey::from_register("02073787244")
                .map(|k| k.0)
                .as_deref(),
            Some("+442073787244")
        );
        // The register is authoritative: a number phonenumber calls invalid is still a key.
        assert_eq!(
            PhoneKey::from_register("01632960001")
                .map(|k| k.0)
                .as_deref(),
            Some("+441632960001")
        );
        assert_eq!(PhoneKey::from_register("2073787244"), None);
        assert_eq!(PhoneKey::from_register("0207378724x"), None);
        assert_eq!(PhoneKey::from_register("0123"), None);
    }

    #[test]
    fn uk_keys_fit_in_a_u64() {
        let k = PhoneKey::parse("020 7946 0018").ok();
        assert_eq!(k.and_then(|k| k.uk_national()), Some(2_079_460_018));
        let us = PhoneKey::parse("+1 212 555 0100").ok();
        assert_eq!(us.and_then(|k| k.uk_national()), None);
    }
}
