//! Column headers as offices and CRMs write them (CONTRACT §5): compared after folding case and
//! removing spaces, underscores, hyphens and dots, so `Phone Number`, `phone_number` and
//! `PhoneNumber` are one name. One rule for every file the service reads with a header: campaign
//! lists, legacy opt-out loads and MPS CSV files.

use std::fmt;

/// A contact-point field a header can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Phone,
    Email,
    Postcode,
    Surname,
    /// One of several address line columns (`address_1`…`address_5`, `addressline1`, `street`).
    AddressLine,
    /// A single address column, split at commas.
    Address,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Phone => "phone",
            Field::Email => "email",
            Field::Postcode => "postcode",
            Field::Surname => "surname",
            Field::AddressLine => "address line",
            Field::Address => "address",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A header folded for comparison: lower case, without white space, `_`, `-`, `.` (and a BOM).
pub fn fold(header: &str) -> String {
    header.chars().filter(|c| !(c.is_whitespace() || matches!(c, '_' | '-' | '.' | '\u{feff}'))).flat_map(char::to_lowercase).collect()
}

/// The recognised names of each field, folded (CONTRACT §5).
const PHONE: &[&str] = &[
    "phone",
    "telephone",
    "tel",
    "mobile",
    "cell",
    "phonenumber",
    "telephonenumber",
    "telno",
    "phoneno",
    "mobilephone",
    "mobilenumber",
    "contactnumber",
    "homephone",
    "workphone",
    "businessphone",
    "primaryphone",
];
const EMAIL: &[&str] = &["email", "emailaddress"];
const POSTCODE: &[&str] = &["postcode", "postalcode"];
const SURNAME: &[&str] = &["surname", "lastname", "familyname"];

/// `address1`…`address5`, `line1`…`line5`, `addressline1`…`addressline5`, `street` (folded).
fn is_address_line(folded: &str) -> bool {
    folded == "street"
        || ["addressline", "address", "line"]
            .iter()
            .any(|p| folded.strip_prefix(p).is_some_and(|n| matches!(n, "1" | "2" | "3" | "4" | "5")))
}

/// The field a folded header names, if any.
fn field_of_folded(folded: &str) -> Option<Field> {
    let is = |names: &[&str]| names.contains(&folded);
    Some(if is(PHONE) {
        Field::Phone
    } else if is(EMAIL) {
        Field::Email
    } else if is(POSTCODE) {
        Field::Postcode
    } else if is(SURNAME) {
        Field::Surname
    } else if folded == "address" {
        Field::Address
    } else if is_address_line(folded) {
        Field::AddressLine
    } else {
        return None;
    })
}

/// The field a header names, if any.
pub fn field(header: &str) -> Option<Field> {
    field_of_folded(&fold(header))
}

/// The columns whose headers name `f`, in order.
pub fn positions<S: AsRef<str>>(headers: &[S], f: Field) -> Vec<usize> {
    (0..headers.len()).filter(|&i| field(headers[i].as_ref()) == Some(f)).collect()
}

/// More than one column fits one field: the list would be screened on a guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("more than one column could be the {field} column ({}): a list is never screened on a column the service guessed", names.join(", "))]
pub struct Ambiguous {
    pub field: Field,
    /// The headers that fit, as written.
    pub names: Vec<String>,
}

/// The one column whose header names `f`, if any; two or more are [`Ambiguous`].
pub fn unique<S: AsRef<str>>(headers: &[S], f: Field) -> Result<Option<usize>, Ambiguous> {
    at_most_one(headers, &positions(headers, f), f)
}

/// The one column of `hits`, if any; two or more are [`Ambiguous`].
fn at_most_one<S: AsRef<str>>(headers: &[S], hits: &[usize], f: Field) -> Result<Option<usize>, Ambiguous> {
    match hits {
        [] => Ok(None),
        [i] => Ok(Some(*i)),
        many => Err(Ambiguous { field: f, names: many.iter().map(|&i| headers[i].as_ref().to_owned()).collect() }),
    }
}

/// The column a caller named: the header equal to `name` ignoring case, else the one header equal
/// to it once both are folded (`None`: no such column; two folded matches are [`Ambiguous`]).
pub fn named<S: AsRef<str>>(headers: &[S], name: &str, f: Field) -> Result<Option<usize>, Ambiguous> {
    let name = name.trim();
    if let Some(i) = headers.iter().position(|h| h.as_ref().trim().eq_ignore_ascii_case(name)) {
        return Ok(Some(i));
    }
    let folded = fold(name);
    let hits: Vec<usize> = (0..headers.len()).filter(|&i| fold(headers[i].as_ref()) == folded).collect();
    at_most_one(headers, &hits, f)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn spellings_offices_use_are_recognised() {
        for (h, want) in [
            ("Phone Number", Field::Phone),
            ("phone_number", Field::Phone),
            ("PhoneNumber", Field::Phone),
            ("Mobile Phone", Field::Phone),
            ("Tel. No.", Field::Phone),
            ("Contact-Number", Field::Phone),
            ("Email Address", Field::Email),
            ("E-mail", Field::Email),
            ("Post Code", Field::Postcode),
            ("Postal Code", Field::Postcode),
            ("Last Name", Field::Surname),
            ("Family Name", Field::Surname),
            ("Address Line 1", Field::AddressLine),
            ("address_1", Field::AddressLine),
            ("Address5", Field::AddressLine),
            ("line_1", Field::AddressLine),
            ("Street", Field::AddressLine),
            ("\u{feff}Address", Field::Address),
        ] {
            assert_eq!(field(h), Some(want), "{h}");
        }
        for h in ["Name", "address_6", "line", "Notes", "Phone 2x", "address_0", "Town"] {
            assert_eq!(field(h), None, "{h}");
        }
    }

    #[test]
    fn two_columns_for_one_field_are_ambiguous() {
        let h = ["Name", "Home Phone", "Mobile Phone"];
        let err = unique(&h, Field::Phone).unwrap_err();
        assert_eq!(err.names, ["Home Phone", "Mobile Phone"]);
        assert_eq!(unique(&h, Field::Email), Ok(None));
        assert_eq!(unique(&["x", "E-Mail"], Field::Email), Ok(Some(1)));
        assert_eq!(named(&h, "mobile phone", Field::Phone), Ok(Some(2)));
        assert_eq!(named(&h, "mobile_phone", Field::Phone), Ok(Some(2)));
        assert_eq!(named(&h, "fax", Field::Phone), Ok(None));
        assert!(named(&["a b", "a_b"], "ab", Field::Phone).is_err());
    }

    /// Every recognised name, spelled with any case and any spaces, underscores, hyphens and dots.
    fn spelled() -> impl Strategy<Value = (String, Field)> {
        let names: Vec<(&str, Field)> = PHONE
            .iter()
            .map(|n| (*n, Field::Phone))
            .chain(EMAIL.iter().map(|n| (*n, Field::Email)))
            .chain(POSTCODE.iter().map(|n| (*n, Field::Postcode)))
            .chain(SURNAME.iter().map(|n| (*n, Field::Surname)))
            .chain([
                ("address", Field::Address),
                ("street", Field::AddressLine),
                ("addressline3", Field::AddressLine),
                ("line5", Field::AddressLine),
            ])
            .collect();
        (proptest::sample::select(names), proptest::collection::vec((any::<bool>(), 0usize..6), 24)).prop_map(|((name, f), noise)| {
            let mut out = String::new();
            for (c, (upper, sep)) in name.chars().zip(noise) {
                out.push(if upper { c.to_ascii_uppercase() } else { c });
                out.push_str(["", "", " ", "_", "-", "."][sep]);
            }
            (out, f)
        })
    }

    proptest! {
        /// Any header spelling that folds to an alias finds the column, among other columns.
        #[test]
        fn any_spelling_that_folds_to_an_alias_finds_the_column((header, f) in spelled(), at in 0usize..3) {
            prop_assert_eq!(fold(&header), fold(&header.to_lowercase().replace([' ', '_', '-', '.'], "")));
            let mut headers = vec!["Name".to_owned(), "Notes".to_owned()];
            headers.insert(at, header.clone());
            prop_assert_eq!(unique(&headers, f), Ok(Some(at)), "{}", header);
        }
    }
}
