//! Postal addresses: postcode, premise and surname, and the keys made of them (CONTRACT §3).

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// A UK postcode in its canonical spelling, e.g. `SW1A 1AA`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Postcode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("the postcode is missing")]
    NoPostcode,
    #[error("the postcode does not have a UK postcode's shape")]
    BadPostcode,
    #[error("no building number or name could be found in the address lines")]
    NoPremise,
}

impl Postcode {
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let compact: String = input.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
        if compact.is_empty() {
            return Err(AddressError::NoPostcode);
        }
        if compact == "GIR0AA" {
            return Ok(Postcode("GIR 0AA".into()));
        }
        if !compact.is_ascii() || compact.len() < 5 || compact.len() > 7 {
            return Err(AddressError::BadPostcode);
        }
        let (outward, inward) = compact.split_at(compact.len() - 3);
        let inward_ok = matches!(inward.as_bytes(), [d, a, b] if d.is_ascii_digit() && a.is_ascii_alphabetic() && b.is_ascii_alphabetic());
        if !inward_ok || !outward_ok(outward) {
            return Err(AddressError::BadPostcode);
        }
        Ok(Postcode(format!("{outward} {inward}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Outward codes: `A9`, `A99`, `A9A`, `AA9`, `AA99`, `AA9A`.
fn outward_ok(outward: &str) -> bool {
    let shape: String = outward.chars().map(|c| if c.is_ascii_digit() { '9' } else { 'A' }).collect();
    matches!(shape.as_str(), "A9" | "A99" | "A9A" | "AA9" | "AA99" | "AA9A")
}

/// Text folded to ASCII for a key. Symbols (emoji, pictographs, currency and other signs) and
/// invisible format characters become spaces first: a transliteration would spell them out as
/// words (😀 → `grinning`, £ → `PS`) and invent a premise or a surname. Then letters with
/// diacritics are folded (`Siân` → `Sian`, `Łódź` → `Lodz`). ASCII text is left as it is.
fn fold_to_ascii(text: &str) -> Cow<'_, str> {
    /// Anything not ASCII and not a letter, mark, number, punctuation or space.
    static NOT_TEXT: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"[^\p{L}\p{M}\p{N}\p{P}\p{Z}\x00-\x7F]").ok());
    if text.is_ascii() {
        return Cow::Borrowed(text);
    }
    let kept = match NOT_TEXT.as_ref() {
        Some(not_text) => not_text.replace_all(text, " "),
        None => Cow::Borrowed(text),
    };
    Cow::Owned(deunicode::deunicode(&kept))
}

/// Surname: letters only, diacritics folded to ASCII, upper-cased (`Siân` → `SIAN`).
/// `None` when nothing is left.
pub fn normalise_surname(input: &str) -> Option<String> {
    let folded = fold_to_ascii(input);
    let s: String = folded.chars().filter(|c| c.is_ascii_alphabetic()).map(|c| c.to_ascii_uppercase()).collect();
    (!s.is_empty()).then_some(s)
}

/// Whether a column header names an address line: `address_1`…`address_5`, `address1`,
/// `line_1`, `address_line_1`, `Address Line 1`, `street` (folded as every header is,
/// [`super::headers`]). One rule for every file the service reads.
pub fn is_address_line_header(header: &str) -> bool {
    super::headers::field(header) == Some(super::headers::Field::AddressLine)
}

const SUB_BUILDING_WORDS: [&str; 6] = ["FLAT", "APARTMENT", "APT", "UNIT", "SUITE", "ROOM"];

/// `N` with an optional letter: `2`, `2B`.
fn is_sub_number(t: &str) -> bool {
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && (t.len() == digits || (t.len() == digits + 1 && t.as_bytes()[digits].is_ascii_alphabetic()))
}

/// A building number: `10`, `10A`, `10-12`.
fn is_building_number(t: &str) -> bool {
    if let Some((a, b)) = t.split_once('-') {
        return !a.is_empty() && !b.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit());
    }
    is_sub_number(t)
}

/// Upper-case, punctuation removed (kept: letters, digits, `/` and `-` inside numbers), white space collapsed.
fn clean_name(line: &str) -> String {
    let folded = fold_to_ascii(line).to_ascii_uppercase();
    let kept: String = folded
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c
            } else if c == '\'' || c == '.' {
                '\0'
            } else {
                ' '
            }
        })
        .filter(|c| *c != '\0')
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The premise from the address lines, in order (CONTRACT §3): `SUB/NUMBER`, else `NUMBER`, else
/// the building `NAME`. With a sub-building but no number, `SUB/NAME`.
pub fn premise_from_lines<S: AsRef<str>>(lines: &[S]) -> Result<String, AddressError> {
    // Tokens of every line, with the line each came from.
    let lines: Vec<String> = lines
        .iter()
        .flat_map(|l| l.as_ref().split(',').map(str::to_owned).collect::<Vec<_>>())
        .map(|l| fold_to_ascii(&l).to_ascii_uppercase())
        .filter(|l| !l.trim().is_empty())
        .collect();
    let mut sub: Option<String> = None;
    let mut number: Option<String> = None;
    // Indexes (line, token) used by the sub-building, so that the name skips them.
    let mut used: Vec<(usize, usize)> = Vec::new();
    'lines: for (li, line) in lines.iter().enumerate() {
        let tokens: Vec<String> = line
            .split_whitespace()
            .map(|t| t.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '/' && c != '-').to_owned())
            .collect();
        let mut ti = 0;
        while ti < tokens.len() {
            let t = tokens[ti].as_str();
            if sub.is_none() && SUB_BUILDING_WORDS.contains(&t) {
                if let Some(n) = tokens.get(ti + 1).filter(|n| is_sub_number(n)) {
                    sub = Some(n.clone());
                    used.extend([(li, ti), (li, ti + 1)]);
                    ti += 2;
                    continue;
                }
            }
            if let Some((s, n)) = t.split_once('/') {
                if sub.is_none() && number.is_none() && is_sub_number(s) && is_building_number(n) {
                    sub = Some(s.to_owned());
                    number = Some(n.to_owned());
                    break 'lines;
                }
            }
            if is_building_number(t) {
                number = Some(t.to_owned());
                break 'lines;
            }
            ti += 1;
        }
    }
    let main = match number {
        Some(n) => n,
        None => {
            // The first line that has words left once the sub-building is taken out.
            let name = lines.iter().enumerate().find_map(|(li, line)| {
                let rest: Vec<&str> =
                    line.split_whitespace().enumerate().filter(|(ti, _)| !used.contains(&(li, *ti))).map(|(_, t)| t).collect();
                let name = clean_name(&rest.join(" "));
                (!name.is_empty()).then_some(name)
            });
            name.ok_or(AddressError::NoPremise)?
        }
    };
    Ok(match sub {
        Some(s) => format!("{s}/{main}"),
        None => main,
    })
}

/// `POSTCODE|PREMISE` (household) or `POSTCODE|PREMISE|SURNAME` (individual).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddressKey {
    pub postcode: Postcode,
    pub premise: String,
    pub surname: Option<String>,
}

impl AddressKey {
    /// From address lines as a list or CRM holds them.
    pub fn from_lines<S: AsRef<str>>(lines: &[S], postcode: &str, surname: Option<&str>) -> Result<Self, AddressError> {
        let postcode = Postcode::parse(postcode)?;
        let premise = premise_from_lines(lines)?;
        Ok(AddressKey { postcode, premise, surname: surname.and_then(normalise_surname) })
    }

    /// From a premise already given as such (`2/10`, `10A`, `Rose Cottage`), as in a query.
    pub fn from_premise(postcode: &str, premise: &str, surname: Option<&str>) -> Result<Self, AddressError> {
        Self::from_lines(&[premise], postcode, surname)
    }

    /// The household this key belongs to (itself, when it has no surname).
    pub fn household(&self) -> AddressKey {
        AddressKey { surname: None, ..self.clone() }
    }

    pub fn is_individual(&self) -> bool {
        self.surname.is_some()
    }
}

impl fmt::Display for AddressKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}|{}", self.postcode.0, self.premise)?;
        if let Some(s) = &self.surname {
            write!(f, "|{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pc(s: &str) -> Result<String, AddressError> {
        Postcode::parse(s).map(|p| p.0)
    }

    fn premise(lines: &[&str]) -> String {
        premise_from_lines(lines).unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn postcodes_are_canonicalised() {
        assert_eq!(pc("sw1a1aa").as_deref(), Ok("SW1A 1AA"));
        assert_eq!(pc(" SW1A  1AA ").as_deref(), Ok("SW1A 1AA"));
        assert_eq!(pc("gir0aa").as_deref(), Ok("GIR 0AA"));
        for (input, want) in [
            ("M11AA", "M1 1AA"),
            ("M601NW", "M60 1NW"),
            ("W1A0AX", "W1A 0AX"),
            ("CR26XH", "CR2 6XH"),
            ("DN551PT", "DN55 1PT"),
            ("EC1A1BB", "EC1A 1BB"),
        ] {
            assert_eq!(pc(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn bad_postcodes_are_rejected() {
        assert_eq!(pc(""), Err(AddressError::NoPostcode));
        for s in ["SW1A", "12345", "SW1A 1A1", "SWAA 1AA", "S1AAA 1AA", "1W1 1AA", "SW1A 1AAA", "SW1Á 1AA"] {
            assert_eq!(pc(s), Err(AddressError::BadPostcode), "{s}");
        }
    }

    #[test]
    fn contract_premise_examples() {
        assert_eq!(premise(&["Flat 2, 10 High Street"]), "2/10");
        assert_eq!(premise(&["Apt 2B 10 High St"]), "2B/10");
        assert_eq!(premise(&["10a high st"]), "10A");
        assert_eq!(premise(&["2/10 High Street"]), "2/10");
        assert_eq!(premise(&["Rose Cottage", "Mill Lane"]), "ROSE COTTAGE");
    }

    #[test]
    fn more_premise_spellings() {
        assert_eq!(premise(&["Flat 2", "10 High Street"]), "2/10");
        assert_eq!(premise(&["flat 2b", "10 High Street"]), "2B/10");
        assert_eq!(premise(&["10-12 Market Place"]), "10-12");
        assert_eq!(premise(&["Unit 5, 23 Mill Road"]), "5/23");
        assert_eq!(premise(&["St. Mary's House, Church Lane"]), "ST MARYS HOUSE");
        assert_eq!(premise(&["Flat 3, Rose Court", "Mill Lane"]), "3/ROSE COURT");
        assert_eq!(premise(&["  ", "The Old Mill"]), "THE OLD MILL");
        assert_eq!(premise(&["23 High St"]), "23");
        assert_ne!(premise(&["23A High St"]), premise(&["23 High St"]));
        assert!(premise_from_lines::<&str>(&[]).is_err());
        assert!(premise_from_lines(&["", " , "]).is_err());
    }

    #[test]
    fn address_line_headers() {
        for h in ["address_1", "Address2", "LINE_3", "line4", "address_line_5"] {
            assert!(is_address_line_header(h), "{h}");
        }
        for h in ["address", "address_6", "line", "postcode", "address_0"] {
            assert!(!is_address_line_header(h), "{h}");
        }
    }

    #[test]
    fn surnames_are_letters_only() {
        assert_eq!(normalise_surname("O'Brien").as_deref(), Some("OBRIEN"));
        assert_eq!(normalise_surname("Smith-Jones").as_deref(), Some("SMITHJONES"));
        assert_eq!(normalise_surname("Siân").as_deref(), Some("SIAN"));
        assert_eq!(normalise_surname("  müller ").as_deref(), Some("MULLER"));
        assert_eq!(normalise_surname(" - "), None);
        assert_eq!(normalise_surname("Łukasz").as_deref(), Some("LUKASZ"));
        assert_eq!(normalise_surname("Zoë 😀").as_deref(), Some("ZOE"));
        assert_eq!(normalise_surname("😀"), None);
    }

    /// Symbols are dropped, never spelled out as words; letters with diacritics are folded.
    #[test]
    fn transliteration_invents_no_words() {
        let key = |lines: &[&str], surname: &str| AddressKey::from_lines(lines, "SW1A 1AA", Some(surname)).map(|k| k.to_string());
        assert_eq!(key(&["😀", "Mill Lane"], "Smith").as_deref(), Ok("SW1A 1AA|MILL LANE|SMITH"));
        assert_eq!(key(&["Rose Cottage 🌹", "Mill Lane"], "Siân").as_deref(), Ok("SW1A 1AA|ROSE COTTAGE|SIAN"));
        assert_eq!(key(&["🏠 Łódź House"], "Renée ❤️").as_deref(), Ok("SW1A 1AA|LODZ HOUSE|RENEE"));
        assert_eq!(key(&["Flat 2 👍, 10 High Street"], "O’Brien").as_deref(), Ok("SW1A 1AA|2/10|OBRIEN"));
        assert_eq!(key(&["10–12 Market Place"], "Zoë").as_deref(), Ok("SW1A 1AA|10-12|ZOE"));
        assert_eq!(key(&["© £ ™ 👨‍👩‍👧"], "Smith"), Err(AddressError::NoPremise));
        assert_eq!(key(&["St Mary’s House"], "Smith").as_deref(), Ok("SW1A 1AA|ST MARYS HOUSE|SMITH"));
    }

    #[test]
    fn keys_print_as_the_contract_says() {
        let k = AddressKey::from_lines(&["Flat 2, 10 High Street"], "sw1a1aa", Some("O'Brien")).map(|k| k.to_string());
        assert_eq!(k.as_deref(), Ok("SW1A 1AA|2/10|OBRIEN"));
        let h = AddressKey::from_lines(&["Rose Cottage", "Mill Lane"], "GIR 0AA", None).map(|k| k.to_string());
        assert_eq!(h.as_deref(), Ok("GIR 0AA|ROSE COTTAGE"));
        let q = AddressKey::from_premise("sw1a 1aa", "2/10", Some("smith")).map(|k| k.household().to_string());
        assert_eq!(q.as_deref(), Ok("SW1A 1AA|2/10"));
    }
}
