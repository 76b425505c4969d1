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
        let cell = precheck(input)?;
        if let Some(uk) = super::uk_numbers::UK.as_ref() {
            if let Some(nsn) = common_uk_spelling(cell) {
                return if uk.is_valid(nsn.as_str()) { Ok(PhoneKey(format!("+44{}", nsn.as_str()))) } else { Err(PhoneError::Invalid) };
            }
        }
        slow(cell)
    }

    /// The general path: phonenumber's parser and validator, for every spelling the fast path
    /// does not take (extensions, other countries, anything unusual).
    pub fn parse_slow(input: &str) -> Result<Self, PhoneError> {
        slow(precheck(input)?)
    }

    /// A number from a TPS/CTPS file: UK national digits with the leading 0. The register is
    /// authoritative, so no validity check beyond the shape is made.
    pub fn from_register(national: &str) -> Option<Self> {
        let digits = national.strip_prefix('0')?;
        let ok = (9..=10).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
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

/// The cell trimmed, unless it is empty or holds two numbers.
fn precheck(input: &str) -> Result<&str, PhoneError> {
    let cell = input.trim();
    if cell.is_empty() {
        return Err(PhoneError::Empty);
    }
    if holds_two_numbers(cell) {
        return Err(PhoneError::TwoNumbers);
    }
    Ok(cell)
}

/// phonenumber's parser and validator.
fn slow(cell: &str) -> Result<PhoneKey, PhoneError> {
    let number = phonenumber::parse(Some(country::Id::GB), cell).map_err(|_| PhoneError::NotANumber)?;
    if !phonenumber::is_valid(&number) {
        return Err(PhoneError::Invalid);
    }
    // The extension, if any, is dropped: E.164 has none.
    Ok(PhoneKey(number.format().mode(Mode::E164).to_string()))
}

/// The national significant number of a UK number in one of the common spellings — `020 7946
/// 0018`, `(020) 7946-0018`, `+44 20 7946 0018`, `+44 (0)20 7946 0018`, `0044 20 7946 0018`,
/// `2079460018` — or `None` for anything else, which then takes phonenumber's path. Only digits,
/// spaces, `-`, `.`, brackets and a leading `+` are taken, and only where phonenumber is known to
/// read the digits the same way (`tests::fast_path_agrees_with_phonenumber`).
fn common_uk_spelling(cell: &str) -> Option<Nsn> {
    let mut digits = [0u8; 16];
    let mut n = 0;
    let mut plus = false;
    let mut trunk_in_brackets = false;
    let bytes = cell.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'0'..=b'9' => {
                *digits.get_mut(n)? = bytes[i];
                n += 1;
            }
            b'+' if n == 0 && !plus => plus = true,
            // `(0)` straight after the country code is the trunk prefix, dropped.
            b'(' if bytes.get(i..i + 3) == Some(b"(0)") && !trunk_in_brackets && is_country_code(plus, &digits[..n]) => {
                trunk_in_brackets = true;
                i += 3;
                continue;
            }
            b' ' | b'-' | b'.' | b'(' | b')' => {}
            _ => return None,
        }
        i += 1;
    }
    let digits = &digits[..n];
    let nsn = if plus {
        digits.strip_prefix(b"44")?
    } else if let Some(rest) = digits.strip_prefix(b"0044") {
        rest
    } else if digits.starts_with(b"00") || digits.starts_with(b"44") {
        return None;
    } else if let Some(rest) = digits.strip_prefix(b"0") {
        if trunk_in_brackets {
            return None;
        }
        rest
    } else if digits.len() == 10 && !trunk_in_brackets {
        digits
    } else {
        return None;
    };
    if !(7..=10).contains(&nsn.len()) || nsn.first() == Some(&b'0') {
        return None;
    }
    Nsn::new(nsn)
}

fn is_country_code(plus: bool, digits: &[u8]) -> bool {
    (plus && digits == b"44") || (!plus && digits == b"0044")
}

/// Up to 10 ASCII digits, on the stack.
struct Nsn {
    digits: [u8; 10],
    len: usize,
}

impl Nsn {
    fn new(d: &[u8]) -> Option<Nsn> {
        let mut digits = [0u8; 10];
        digits.get_mut(..d.len())?.copy_from_slice(d);
        Some(Nsn { digits, len: d.len() })
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.digits[..self.len]).unwrap_or_default()
    }
}

/// A cell holds two numbers when a separator (or the word `or`) splits it into more than one part
/// that has digits in it. An extension marker (`x123`, `#123`, `ext 123`) is not a separator.
fn holds_two_numbers(cell: &str) -> bool {
    // The usual cell has only digits and the signs numbers are written with: no separator, no
    // word, so one number at most.
    if cell.bytes().all(|b| matches!(b, b'0'..=b'9' | b' ' | b'+' | b'-' | b'.' | b'(' | b')')) {
        return false;
    }
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
    use proptest::prelude::*;

    /// UK ranges worth hitting often: London, Birmingham, drama ranges, mobiles, freephone,
    /// non-geographic, Jersey, Guernsey, Isle of Man, and some that are not allocated.
    const PREFIXES: [&str; 24] = [
        "20", "121", "1632", "113", "1481", "1534", "1624", "7700", "7912", "7781", "7624", "7509", "800", "808", "845", "870", "300", "3",
        "55", "56", "76", "9", "5", "6",
    ];

    fn spellings(nsn: &str) -> Vec<String> {
        let (a, b) = nsn.split_at(nsn.len().min(3));
        vec![
            format!("0{nsn}"),
            format!("0{a} {b}"),
            format!("(0{a}) {b}"),
            format!("(0{a}) {}-{}", &b[..b.len() / 2], &b[b.len() / 2..]),
            format!("+44{nsn}"),
            format!("+44 {a} {b}"),
            format!("+44 (0){a} {b}"),
            format!("+44(0){nsn}"),
            format!("0044 {a} {b}"),
            format!("0044{nsn}"),
            format!("  0{a}.{b}  "),
            nsn.to_owned(),
            format!("+44 0{nsn}"),
            format!("0{a}\t{b}"),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]

        /// The fast path gives exactly phonenumber's key and verdict, for any spelling.
        #[test]
        fn fast_path_agrees_with_phonenumber(
            prefix in proptest::sample::select(PREFIXES.to_vec()),
            tail in "[0-9]{2,9}",
            random in "[1-9][0-9]{5,10}",
            pick_random in any::<bool>(),
        ) {
            let nsn = if pick_random { random } else { format!("{prefix}{tail}") };
            for s in spellings(&nsn) {
                let fast = PhoneKey::parse(&s).ok();
                let slow = PhoneKey::parse_slow(&s).ok();
                prop_assert_eq!(fast, slow, "spelling {:?}", s);
            }
        }
    }

    #[test]
    fn the_fast_path_takes_the_common_spellings() {
        for s in ["020 7946 0018", "(020) 7946-0018", "+44 (0)20 7946 0018", "0044 20 7946 0018", "2079460018", "+447912345678"] {
            assert!(common_uk_spelling(s).is_some(), "{s}");
        }
        for s in ["020 7946 0018 x123", "+1 212 555 0100", "44 20 7946 0018", "+44 020 7946 0018", "tel: 020 7946 0018"] {
            assert!(common_uk_spelling(s).is_none(), "{s}");
        }
    }

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
        for s in ["020 7946 0018 ext 123", "020 7946 0018 ext. 123", "020 7946 0018 x123", "020 7946 0018 #123"] {
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
        assert_eq!(PhoneKey::from_register("02073787244").map(|k| k.0).as_deref(), Some("+442073787244"));
        // The register is authoritative: a number phonenumber calls invalid is still a key.
        assert_eq!(PhoneKey::from_register("01632960001").map(|k| k.0).as_deref(), Some("+441632960001"));
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
