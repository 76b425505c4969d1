//! Phone numbers: any accepted spelling to its E.164 key (CONTRACT §2).

use std::fmt;

use phonenumber::{country, Mode};

/// A phone number in E.164 form, e.g. `+442079460018`. Only [`PhoneKey::parse`] (and
/// [`PhoneKey::from_stored`] for keys it made) make one, so every value is a key the contract accepts.
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
    /// does not take (other countries, anything unusual). An extension is split off first, as
    /// [`PhoneKey::parse`] does.
    pub fn parse_slow(input: &str) -> Result<Self, PhoneError> {
        slow(precheck(input)?)
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

    /// The number as people read it aloud: a UK number in its national form (`020 7946 0018`),
    /// another country's in international form (`+33 1 23 45 67 89`); the key itself if it cannot
    /// be formatted.
    pub fn readable(&self) -> String {
        let mode = if self.0.starts_with("+44") { Mode::National } else { Mode::International };
        phonenumber::parse(None, &self.0).map(|n| n.format().mode(mode).to_string()).unwrap_or_else(|_| self.0.clone())
    }
}

impl fmt::Display for PhoneKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a TPS/CTPS file's number is not a register number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegisterNumberError {
    #[error("no number")]
    Empty,
    #[error("the character {0:?} is not a digit")]
    NotADigit(char),
    #[error("does not start with 0 (a UK national number)")]
    NoTrunkZero,
    #[error("{0} digits; a UK number has 10 or 11 with its leading 0")]
    Length(usize),
    #[error("the digits after the leading 0 start with 0")]
    ZeroAfterTrunk,
}

/// The register number rule: a TPS/CTPS number is a UK national number written with its trunk 0,
/// 10 or 11 digits, the digit after the 0 not another 0. The register is authoritative, so no
/// validity check beyond that shape is made. Gives the national significant number as an
/// integer, the compact form the registers are kept in (as [`PhoneKey::uk_national`] reads a key).
pub fn register_national(digits: &[u8]) -> Result<u64, RegisterNumberError> {
    if let Some(b) = digits.iter().find(|b| !b.is_ascii_digit()) {
        return Err(RegisterNumberError::NotADigit(char::from(*b)));
    }
    match digits {
        [] => Err(RegisterNumberError::Empty),
        [first, ..] if *first != b'0' => Err(RegisterNumberError::NoTrunkZero),
        _ if !(10..=11).contains(&digits.len()) => Err(RegisterNumberError::Length(digits.len())),
        [_, b'0', ..] => Err(RegisterNumberError::ZeroAfterTrunk),
        [_, rest @ ..] => Ok(rest.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'))),
    }
}

/// The number in the cell: trimmed and without its extension, unless the cell is empty or holds
/// two numbers.
fn precheck(input: &str) -> Result<&str, PhoneError> {
    let cell = input.trim();
    if cell.is_empty() {
        return Err(PhoneError::Empty);
    }
    let number = without_extension(cell);
    if holds_two_numbers(number) {
        return Err(PhoneError::TwoNumbers);
    }
    Ok(number)
}

/// Words and signs that mark an extension, longest first (matched case-insensitively).
const EXTENSION_MARKERS: [&[u8]; 5] = [b"extension", b"extn", b"ext", b"x", b"#"];

/// The cell without an extension at its end (CONTRACT §2), or the cell as it is. An extension is
/// a marker (`ext`, `extn`, `extension`, `x`, `#`), optionally followed by `:`, `.` or `=` and
/// spaces or `-`, then 1 to 7 digits (as many as phonenumber reads) and an optional `#`; the
/// marker may follow a `,`, `/` or `;` (`07919 233214, ext. 688`, `020 3988 9558 / ext 497`,
/// `…;ext=770`), and is not the end of a word (`fax 123` is no extension). What is left is the
/// number, which then takes the same path as a cell without an extension. Only the end of the
/// cell is looked at, so the usual cell costs a few byte comparisons.
fn without_extension(cell: &str) -> &str {
    let b = cell.as_bytes();
    let mut end = b.len();
    if b.last() == Some(&b'#') {
        end -= 1;
    }
    let digits = b[..end].iter().rev().take_while(|c| c.is_ascii_digit()).count();
    if !(1..=7).contains(&digits) {
        return cell;
    }
    end -= digits;
    end -= b[..end].iter().rev().take_while(|c| matches!(c, b' ' | b'\t' | b'-')).count();
    if end > 0 && matches!(b[end - 1], b':' | b'.' | b'=') {
        end -= 1;
    }
    let Some(marker) = EXTENSION_MARKERS.iter().find(|m| end >= m.len() && b[end - m.len()..end].eq_ignore_ascii_case(m)) else {
        return cell;
    };
    end -= marker.len();
    if end > 0 && b[end - 1].is_ascii_alphabetic() {
        return cell;
    }
    let spaces = |end: usize| end - b[..end].iter().rev().take_while(|c| c.is_ascii_whitespace()).count();
    end = spaces(end);
    if end > 0 && matches!(b[end - 1], b',' | b'/' | b';') {
        end = spaces(end - 1);
    }
    // `end` is at an ASCII byte or the start, so a char boundary.
    let number = cell.get(..end).unwrap_or(cell);
    if number.bytes().any(|c| c.is_ascii_digit()) {
        number
    } else {
        cell
    }
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
/// `2079460018`, also after `tel:` — or `None` for anything else, which then takes phonenumber's
/// path. Only digits, spaces, `-`, `.`, brackets and a leading `+` are taken, and only where
/// phonenumber is known to read the digits the same way (`tests::fast_path_agrees_with_phonenumber`).
fn common_uk_spelling(cell: &str) -> Option<Nsn> {
    let cell = match cell.get(..4) {
        Some(scheme) if scheme.eq_ignore_ascii_case("tel:") => &cell[4..],
        _ => cell,
    };
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

    #[test]
    fn keys_read_aloud_in_their_country_s_form() {
        let readable = |s: &str| PhoneKey::parse(s).unwrap().readable();
        assert_eq!(readable("+44 (0)20-7946-0018"), "020 7946 0018");
        assert_eq!(readable("07912-345678"), "07912 345678");
        assert_eq!(readable("+33 1 23 45 67 89"), "+33 1 23 45 67 89");
    }

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
            format!("tel:+44-{a}-{b}"),
            format!("TEL:0{nsn}"),
            format!("tel: 0{a} {b}"),
        ]
    }

    /// Extension forms as a cell may end (CONTRACT §2), each with the spelling phonenumber reads
    /// as the same extension (phonenumber does not read `;` before an extension outside a `tel:`
    /// URI). The last ones are not extensions: 8 digits, or a marker that ends a word.
    const EXTENSIONS: [(&str, &str); 20] = [
        ("", ""),
        (" ext 123", " ext 123"),
        (" ext. 123", " ext. 123"),
        (" x123", " x123"),
        ("x12", "x12"),
        (" #123", " #123"),
        (" #12#", " #12#"),
        (";ext=770", " ext 770"),
        ("; ext 12", " ext 12"),
        (", ext. 688", ", ext. 688"),
        (",x12", ",x12"),
        (" / ext 497", " / ext 497"),
        ("/#12", "/#12"),
        (" EXT: 12", " EXT: 12"),
        (" Extension 1234567", " Extension 1234567"),
        (" extn 4", " extn 4"),
        (" ext-12", " ext-12"),
        (" x 1234567", " x 1234567"),
        (" x12345678", " x12345678"),
        (" fax 123", " fax 123"),
    ];

    /// phonenumber's own key for a whole cell, extension and all, as it reads it.
    fn phonenumber_key(cell: &str) -> Option<PhoneKey> {
        let number = phonenumber::parse(Some(country::Id::GB), cell).ok()?;
        phonenumber::is_valid(&number).then(|| PhoneKey(number.format().mode(Mode::E164).to_string()))
    }

    /// The fast path, the slow path and phonenumber reading the whole cell give one answer for a
    /// spelling followed by an extension form.
    fn paths_agree(spelling: &str, (ext, as_phonenumber_reads_it): (&str, &str)) -> Result<(), TestCaseError> {
        let cell = format!("{spelling}{ext}");
        let fast = PhoneKey::parse(&cell).ok();
        prop_assert_eq!(&fast, &PhoneKey::parse_slow(&cell).ok(), "cell {:?}", cell);
        prop_assert_eq!(&fast, &phonenumber_key(&format!("{spelling}{as_phonenumber_reads_it}")), "cell {:?}", cell);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// The fast path gives exactly phonenumber's key and verdict, for any spelling, with any
        /// extension form or none (phonenumber reading the whole cell); with the sweep below
        /// over every prefix and form, 2,000 cases are enough.
        #[test]
        fn fast_path_agrees_with_phonenumber(
            prefix in proptest::sample::select(PREFIXES.to_vec()),
            tail in "[0-9]{2,9}",
            random in "[1-9][0-9]{5,10}",
            pick_random in any::<bool>(),
            ext in proptest::sample::select(EXTENSIONS.to_vec()),
        ) {
            let nsn = if pick_random { random } else { format!("{prefix}{tail}") };
            for s in spellings(&nsn) {
                paths_agree(&s, ext)?;
            }
        }

        /// Two numbers in a cell stay invalid, whichever joins them and whichever has an extension.
        #[test]
        fn two_numbers_stay_invalid_whatever_their_extensions(
            first in "0(20|113|7912) ?[0-9]{3} ?[0-9]{4}",
            second in "(\\+44 ?|0)(20|1632|7700) ?[0-9]{3} ?[0-9]{3,4}",
            join in proptest::sample::select(vec![" / ", "/", " or ", " OR ", "; ", ";", ", ", ",", " & ", "&"]),
            ext in proptest::sample::select(EXTENSIONS[..18].to_vec()),
            on_first in any::<bool>(),
        ) {
            let cell = if on_first { format!("{first}{}{join}{second}", ext.0) } else { format!("{first}{join}{second}{}", ext.0) };
            prop_assert_eq!(PhoneKey::parse(&cell), Err(PhoneError::TwoNumbers), "cell {:?}", cell);
            prop_assert_eq!(PhoneKey::parse_slow(&cell), Err(PhoneError::TwoNumbers), "cell {:?}", cell);
        }
    }

    /// Every prefix, every extension form, every spelling: the three readings agree.
    #[test]
    fn every_prefix_with_every_extension_form_agrees() {
        for prefix in PREFIXES {
            for tail in ["9460018", "960001", "0000"] {
                let nsn: String = format!("{prefix}{tail}").chars().take(10).collect();
                for s in spellings(&nsn) {
                    for ext in EXTENSIONS {
                        if let Err(e) = paths_agree(&s, ext) {
                            panic!("{e}");
                        }
                    }
                }
            }
        }
    }

    /// An extension is split off and the number then takes the fast path.
    #[test]
    fn extensions_take_the_fast_path() {
        for s in [
            "07919 233214, ext. 688",
            "020 3988 9558 / ext 497",
            "tel:+44-20-3123-8311;ext=770",
            "020 7946 0018 x123",
            "020 7946 0018 #12#",
        ] {
            let number = precheck(s);
            assert!(number.clone().is_ok_and(|n| common_uk_spelling(n).is_some()), "{s}: {number:?}");
        }
        assert_eq!(precheck("020 7946 0018 fax 123"), Ok("020 7946 0018 fax 123"));
        assert_eq!(precheck("020 7946 0018 x12345678"), Ok("020 7946 0018 x12345678"));
    }

    #[test]
    fn the_fast_path_takes_the_common_spellings() {
        for s in [
            "020 7946 0018",
            "(020) 7946-0018",
            "+44 (0)20 7946 0018",
            "0044 20 7946 0018",
            "2079460018",
            "+447912345678",
            "tel: 020 7946 0018",
        ] {
            assert!(common_uk_spelling(s).is_some(), "{s}");
        }
        for s in ["020 7946 0018 x123", "+1 212 555 0100", "44 20 7946 0018", "+44 020 7946 0018", "tel 020 7946 0018"] {
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
        for s in [
            "020 7946 0018 ext 123",
            "020 7946 0018 ext. 123",
            "020 7946 0018 x123",
            "020 7946 0018 #123",
            "020 7946 0018;ext=123",
            "020 7946 0018, ext. 123",
            "020 7946 0018 / ext 123",
            "020 7946 0018; x123",
            "020 7946 0018/#123",
            "tel:+44-20-7946-0018;ext=770",
        ] {
            assert_eq!(key(s).as_deref(), Ok("+442079460018"), "spelling {s:?}");
        }
        assert_eq!(key("07919 233214, ext. 688").as_deref(), Ok("+447919233214"));
        assert_eq!(key("020 3988 9558 / ext 497").as_deref(), Ok("+442039889558"));
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
            "07912 345678 x12 / 01632 960001",
            "07912 345678 / 01632 960001 ext 5",
            "07912 345678;ext=1; 02079460018;ext=2",
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
        assert_eq!(register_national(b"02073787244"), Ok(2073787244));
        // The register is authoritative: a number phonenumber calls invalid is still listed.
        assert_eq!(register_national(b"01632960001"), Ok(1632960001));
        // The same number as a key reads back as the same integer.
        assert_eq!(PhoneKey::parse("020 7378 7244").ok().and_then(|k| k.uk_national()), Some(2073787244));
        assert_eq!(register_national(b"2073787244"), Err(RegisterNumberError::NoTrunkZero));
        assert_eq!(register_national(b"0207378724x"), Err(RegisterNumberError::NotADigit('x')));
        assert_eq!(register_national(b"0123"), Err(RegisterNumberError::Length(4)));
        assert_eq!(register_national(b"00207378724"), Err(RegisterNumberError::ZeroAfterTrunk));
        assert_eq!(register_national(b""), Err(RegisterNumberError::Empty));
    }

    #[test]
    fn uk_keys_fit_in_a_u64() {
        let k = PhoneKey::parse("020 7946 0018").ok();
        assert_eq!(k.and_then(|k| k.uk_national()), Some(2_079_460_018));
        let us = PhoneKey::parse("+1 212 555 0100").ok();
        assert_eq!(us.and_then(|k| k.uk_national()), None);
    }
}
