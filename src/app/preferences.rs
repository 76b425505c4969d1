//! What is known about one contact point: the state in force on each of its channels (whose
//! statement decides it), its register entries, and the history of statements about it.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::{AppError, ErrorCode};
use super::statements::{parse_contacts, AddressParams, StatementParams};
use super::App;
use crate::domain::preference::AddressInput;
use crate::domain::time::rfc3339;
use crate::domain::{Channel, ContactKind, Contacts, Facts, Listing, Register, StatementKind, Whose};
use crate::scrub::{Key, Knowledge};
use crate::store::statements::StatementRow;
use crate::store::DbConnection;

/// A contact point as given (`GET /v1/preferences`'s query).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferencesParams {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub postcode: Option<String>,
    pub premise: Option<String>,
    pub surname: Option<String>,
}

impl PreferencesParams {
    /// A statement about the contact point this query names, as a page records it from its search
    /// box: the address's premise is its one line, as [`Subject::parse`] reads it.
    pub fn statement(
        self,
        channels: Option<Vec<String>>,
        source: String,
        recorded_by: Option<String>,
        note: Option<String>,
        evidence: Option<String>,
    ) -> StatementParams {
        let address =
            self.postcode.map(|postcode| AddressParams { lines: self.premise.into_iter().collect(), postcode, surname: self.surname });
        StatementParams { phone: self.phone, email: self.email, address, channels, source, recorded_by, note, evidence }
    }
}

/// Which contact point a preferences query is about, and which stored keys speak for it.
pub struct Subject {
    kind: ContactKind,
    key: String,
    /// Keys whose statements decide the state in force (an individual's and their household's).
    deciding: Vec<String>,
    /// For a household, the range of its members' individual keys (shown in the history).
    members: Option<String>,
    /// The contact point as a key (exactly one of its fields), to look up in the read model.
    contact: Contacts,
}

impl Subject {
    /// The key the read model looks up.
    fn lookup(&self) -> Option<Key<'_>> {
        let c = &self.contact;
        c.phone.as_ref().map(Key::Phone).or_else(|| c.email.as_ref().map(Key::Email)).or_else(|| c.address.as_ref().map(Key::Address))
    }

    /// The contact point a query names, or what is wrong with it.
    pub fn parse(q: &PreferencesParams) -> Result<Subject, AppError> {
        let given = [q.phone.is_some(), q.email.is_some(), q.postcode.is_some() || q.premise.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(AppError::new(
                ErrorCode::InvalidQuery,
                "give exactly one of phone=, email=, or postcode= with premise= (and surname=)",
            ));
        }
        let lines: Vec<&str> = q.premise.as_deref().into_iter().collect();
        let address = match (&q.postcode, &q.premise) {
            (Some(postcode), Some(_)) => Some(AddressInput { lines: &lines[..], postcode, surname: q.surname.as_deref() }),
            (None, None) => None,
            _ => return Err(AppError::new(ErrorCode::InvalidQuery, "an address query needs both postcode= and premise=")),
        };
        let contact = parse_contacts(q.phone.as_deref(), q.email.as_deref(), address)?;
        let single = |kind, key: String, contact| Subject { kind, deciding: vec![key.clone()], key, members: None, contact };
        if let Some(p) = &contact.phone {
            return Ok(single(ContactKind::Phone, p.to_string(), contact));
        }
        if let Some(e) = &contact.email {
            return Ok(single(ContactKind::Email, e.to_string(), contact));
        }
        let key = contact.address.as_ref().ok_or_else(|| AppError::new(ErrorCode::InvalidQuery, "no contact point given"))?;
        let household = key.household().to_string();
        Ok(if key.is_individual() {
            Subject { kind: ContactKind::Address, key: key.to_string(), deciding: vec![key.to_string(), household], members: None, contact }
        } else {
            Subject {
                kind: ContactKind::Address,
                key: household.clone(),
                deciding: vec![household.clone()],
                members: Some(household),
                contact,
            }
        })
    }
}

/// A contact point's entry on one register: the snapshot's date (`None`: never imported) and the
/// key's listing on it (`None`: not listed).
#[derive(Debug, Clone)]
pub struct RegisterEntry {
    pub register: Register,
    /// The channel it binds.
    pub channel: Channel,
    pub as_of: Option<NaiveDate>,
    pub listing: Option<Listing>,
}

impl RegisterEntry {
    /// As `GET /v1/preferences` writes it: `as_of` null when the register was never imported;
    /// `listed_since` null (with `listed` true) when listed since before its first import.
    fn to_json(&self) -> Value {
        let (r, listing) = (self.register, self.listing.as_ref());
        let Some(as_of) = self.as_of else {
            return json!({ "name": r, "as_of": null, "listed": null, "listed_since": null, "binding_from": null });
        };
        let mut entry = json!({
            "name": r,
            "as_of": as_of,
            "listed": listing.is_some(),
            "listed_since": listing.and_then(|l| l.listed_since),
            "binding_from": listing.and_then(|l| l.binding_from),
        });
        if r == Register::Mps {
            entry["deceased"] = json!(listing.is_some_and(|l| l.deceased));
        }
        entry
    }
}

/// The in-house statement in force on a channel.
#[derive(Debug, Clone)]
pub struct InForceStatement {
    pub kind: StatementKind,
    pub id: i64,
    pub recorded_at: NaiveDateTime,
    /// The key it was made about (the household's, when a household's statement decides).
    pub key: String,
    pub whose: Whose,
}

/// The state in force on one of the contact point's channels.
#[derive(Debug, Clone)]
pub struct ChannelState {
    pub channel: Channel,
    /// `None`: no statement (the registers decide).
    pub in_force: Option<InForceStatement>,
}

/// What is known about a contact point now, and its history (oldest first).
#[derive(Debug, Clone)]
pub struct Preferences {
    pub contact: ContactKind,
    pub key: String,
    /// For a household (an address without a surname): its members' statements are in the history.
    pub household: bool,
    /// Each channel the contact point allows, in the contact kind's order.
    pub channels: Vec<ChannelState>,
    pub registers: Vec<RegisterEntry>,
    pub history: Vec<StatementRow>,
}

impl Preferences {
    /// A statement of the history by its id (the one in force on a channel, say), if the history holds it.
    pub fn statement(&self, id: i64) -> Option<&StatementRow> {
        self.history.iter().rev().find(|r| r.id == id)
    }

    /// As `GET /v1/preferences` answers.
    pub fn to_json(&self) -> Value {
        let channels: BTreeMap<&str, Value> = self
            .channels
            .iter()
            .map(|c| {
                let state = match &c.in_force {
                    Some(s) => json!({
                        "state": if s.kind == StatementKind::OptOut { "opted_out" } else { "consented" },
                        "statement_id": s.id,
                        "since": rfc3339(s.recorded_at),
                        "key": s.key,
                    }),
                    None => json!({ "state": "none" }),
                };
                (c.channel.as_str(), state)
            })
            .collect();
        let registers: Vec<Value> = self.registers.iter().map(RegisterEntry::to_json).collect();
        let history: Vec<HistoryEntry> = self.history.iter().map(HistoryEntry::from).collect();
        json!({
            "contact": self.contact,
            "key": self.key,
            "channels": channels,
            "registers": registers,
            "history": history,
        })
    }
}

#[derive(Serialize)]
struct HistoryEntry {
    id: i64,
    key: String,
    channel: String,
    kind: String,
    recorded_at: String,
    source: String,
    recorded_by: Option<String>,
    recorded_via: String,
    note: Option<String>,
    evidence: Option<String>,
}

impl From<&StatementRow> for HistoryEntry {
    fn from(s: &StatementRow) -> Self {
        HistoryEntry {
            id: s.id,
            key: s.contact_key.clone(),
            channel: s.channel.to_string(),
            kind: s.kind.to_string(),
            recorded_at: rfc3339(s.recorded_at),
            source: s.source.to_string(),
            recorded_by: s.recorded_by.clone(),
            recorded_via: s.recorded_via.clone(),
            note: s.note.clone(),
            evidence: s.evidence.clone(),
        }
    }
}

/// What is known about the subject now, and its history, as `GET /v1/preferences` answers (a
/// short read: the caller picks the thread).
pub fn preferences(app: &App, conn: &mut DbConnection, subject: &Subject) -> Result<Value, AppError> {
    Ok(lookup(app, conn, subject)?.to_json())
}

/// What is known about the subject now, and its history: one read of the history, then the
/// statements in force and the registers from memory.
pub fn lookup(app: &App, conn: &mut DbConnection, subject: &Subject) -> Result<Preferences, AppError> {
    let mut history = crate::store::statements::history(conn, &subject.deciding)?;
    if let Some(household) = &subject.members {
        history.extend(crate::store::statements::household_members(conn, household)?);
        history.sort_by_key(|r| (r.recorded_at, r.id));
    }
    // The statements in force, caught up after the history was read: each statement the
    // history shows is weighed.
    let statements = app.in_house.current(conn)?;
    let key = subject.lookup().ok_or_else(|| AppError::internal("a preferences query without a contact point"))?;

    // What is known on each of the contact point's channels (the read model).
    let view = app.registers.view();
    let facts: Vec<(Channel, Facts)> = subject
        .kind
        .channels()
        .iter()
        .map(|&c| (c, Knowledge { in_house: statements.on(c), registers: view.clone() }.facts(key, &subject.key)))
        .collect();
    let channels = facts
        .iter()
        .map(|(c, f)| ChannelState {
            channel: *c,
            in_force: f.in_house.map(|s| InForceStatement {
                kind: s.kind,
                id: s.id,
                recorded_at: s.recorded_at,
                key: match (s.whose, key) {
                    (Whose::Household, Key::Address(a)) => a.household().to_string(),
                    _ => subject.key.clone(),
                },
                whose: s.whose,
            }),
        })
        .collect();
    let registers = facts
        .iter()
        .flat_map(|(c, f)| {
            c.registers().iter().map(|&r| RegisterEntry {
                register: r,
                channel: *c,
                as_of: view.head(r).map(|h| h.as_of),
                listing: f.listings.on(r).copied(),
            })
        })
        .collect();
    Ok(Preferences { contact: subject.kind, key: subject.key.clone(), household: subject.members.is_some(), channels, registers, history })
}

/// What one search box holds (the people page's and the compliance page's): a phone number in any
/// spelling, an email address, or a premise and a postcode with, after it, a surname
/// (`12 High Street, SW1A 1AA, Jones`; the commas may be left out). Turned into the query
/// `GET /v1/preferences` takes, so both answer alike.
pub fn search(given: &str) -> Result<PreferencesParams, AppError> {
    use std::sync::LazyLock;
    static POSTCODE: LazyLock<Option<regex::Regex>> =
        LazyLock::new(|| regex::Regex::new(r"(?i)(?:^|[\s,])([A-Z]{1,2}[0-9][A-Z0-9]?\s*[0-9][A-Z]{2})(?:$|[\s,])").ok());
    let q = given.trim();
    crate::domain::text::check("q", q, crate::domain::text::NAME)?;
    let none = PreferencesParams { phone: None, email: None, postcode: None, premise: None, surname: None };
    if q.is_empty() {
        return Err(AppError::field(
            ErrorCode::InvalidQuery,
            "q",
            "type a phone number, an email address, or a house number or name with a postcode",
        ));
    }
    if q.contains('@') {
        return Ok(PreferencesParams { email: Some(q.to_owned()), ..none });
    }
    let found = POSTCODE.as_ref().and_then(|re| re.captures(q)).and_then(|c| c.get(1));
    let Some(postcode) = found.filter(|m| crate::domain::address::Postcode::parse(m.as_str()).is_ok()) else {
        return Ok(PreferencesParams { phone: Some(q.to_owned()), ..none });
    };
    let trim = |s: &str| s.trim_matches(|c: char| c == ',' || c.is_whitespace()).to_owned();
    let premise = trim(&q[..postcode.start()]);
    let surname = trim(&q[postcode.end()..]);
    if premise.is_empty() {
        return Err(AppError::field(
            ErrorCode::InvalidAddress,
            "q",
            "an address needs the house number or name before the postcode, e.g. 12 High Street, SW1A 1AA",
        ));
    }
    Ok(PreferencesParams {
        postcode: Some(postcode.as_str().to_owned()),
        premise: Some(premise),
        surname: Some(surname).filter(|s| !s.is_empty()),
        ..none
    })
}

#[cfg(test)]
mod search_tests {
    use super::search;

    type Parts = (Option<String>, Option<String>, Option<String>, Option<String>, Option<String>);

    fn parts(q: &str) -> Parts {
        let p = search(q).unwrap();
        (p.phone, p.email, p.postcode, p.premise, p.surname)
    }

    #[test]
    fn one_box_finds_the_kind_of_contact_point() {
        assert_eq!(parts(" 020 7946 0018 ").0.as_deref(), Some("020 7946 0018"));
        assert_eq!(parts("+44 (0)20-7946-0018 ext 12").0.as_deref(), Some("+44 (0)20-7946-0018 ext 12"));
        assert_eq!(parts("J.Smith@Example.com").1.as_deref(), Some("J.Smith@Example.com"));
        let (phone, email, postcode, premise, surname) = parts("12 High Street, SW1A 1AA, Jones");
        assert_eq!((phone, email), (None, None));
        assert_eq!(postcode.as_deref(), Some("SW1A 1AA"));
        assert_eq!(premise.as_deref(), Some("12 High Street"));
        assert_eq!(surname.as_deref(), Some("Jones"));
        let (_, _, postcode, premise, surname) = parts("Flat 2 Rose Cottage sw1a1aa");
        assert_eq!((postcode.as_deref(), premise.as_deref(), surname), (Some("sw1a1aa"), Some("Flat 2 Rose Cottage"), None));
    }

    #[test]
    fn a_postcode_alone_or_nothing_is_refused_with_what_to_type() {
        assert!(search("SW1A 1AA").unwrap_err().message.contains("house number or name"));
        assert!(search("   ").unwrap_err().message.contains("phone number"));
        assert_eq!(search("a\u{7}b").unwrap_err().code, crate::app::ErrorCode::InvalidText);
    }
}
