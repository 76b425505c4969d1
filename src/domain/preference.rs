//! In-house statements (opt-outs and consents) and which one is in force.

use chrono::NaiveDateTime;

use super::channel::string_enum;

string_enum!(
    /// What a statement says.
    StatementKind { OptOut => "opt_out", Consent => "consent" }
);

string_enum!(
    /// Where a statement came from.
    Source {
        CallCentre => "call_centre",
        Web => "web",
        Letter => "letter",
        Email => "email",
        Sms => "sms",
        BulkLoad => "bulk_load",
    }
);

/// The ordering that decides which statement is in force: the latest `recorded_at`, and among
/// equal times the one recorded last (highest id).
pub fn is_later(a: (NaiveDateTime, i64), b: (NaiveDateTime, i64)) -> bool {
    a > b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse() {
        assert_eq!("opt_out".parse::<StatementKind>(), Ok(StatementKind::OptOut));
        assert_eq!("call_centre".parse::<Source>(), Ok(Source::CallCentre));
        assert!("phone".parse::<Source>().is_err());
    }

    #[test]
    fn later_time_wins_then_later_id() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("a fixture time");
        assert!(is_later((t("2026-01-02 00:00:00"), 1), (t("2026-01-01 00:00:00"), 9)));
        assert!(is_later((t("2026-01-01 00:00:00"), 9), (t("2026-01-01 00:00:00"), 1)));
        assert!(!is_later((t("2025-01-01 00:00:00"), 99), (t("2026-01-01 00:00:00"), 1)));
    }
}

use super::text::{self, TextError};
use super::{AddressKey, Channel, ContactKind, EmailKey, PhoneKey};

/// A contact point that could not be made a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactError {
    pub kind: ContactKind,
    pub message: String,
}

/// An address as given: its lines, postcode and (for a person) surname.
pub struct AddressInput<'a, S> {
    pub lines: &'a [S],
    pub postcode: &'a str,
    pub surname: Option<&'a str>,
}

/// What a statement says, apart from whom it is about.
#[derive(Debug, Clone)]
pub struct Said {
    pub kind: StatementKind,
    pub source: Source,
    pub recorded_at: NaiveDateTime,
    pub recorded_by: Option<String>,
    pub note: Option<String>,
    pub evidence: Option<String>,
}

pub const EVIDENCE_REQUIRED: &str = "a consent needs evidence: how and when it was obtained and what it covers";

/// Why a statement's own fields cannot be kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaidError {
    #[error("{}", EVIDENCE_REQUIRED)]
    EvidenceRequired,
    /// `recorded_by`, `note` or `evidence` too long or holding control characters (CONTRACT §6).
    #[error(transparent)]
    Text(#[from] TextError),
}

impl Said {
    /// A consent needs evidence, a non-blank text (DOMAIN: record how and when it was given);
    /// `recorded_by`, `note` and `evidence` are bounded text (`text::RECORDED_BY`, `NOTE`, `EVIDENCE`).
    pub fn new(
        kind: StatementKind,
        source: Source,
        recorded_at: NaiveDateTime,
        recorded_by: Option<String>,
        note: Option<String>,
        evidence: Option<&str>,
    ) -> Result<Said, SaidError> {
        text::check_opt("recorded_by", recorded_by.as_deref(), text::RECORDED_BY)?;
        text::check_opt("note", note.as_deref(), text::NOTE)?;
        text::check_opt("evidence", evidence, text::EVIDENCE)?;
        let evidence = evidence.map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned);
        if kind == StatementKind::Consent && evidence.is_none() {
            return Err(SaidError::EvidenceRequired);
        }
        Ok(Said { kind, source, recorded_at, recorded_by, note, evidence })
    }
}

/// The contact points a statement is made about.
#[derive(Debug, Clone, Default)]
pub struct Contacts {
    pub phone: Option<PhoneKey>,
    pub email: Option<EmailKey>,
    pub address: Option<AddressKey>,
}

/// Why a statement cannot be recorded as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    NoContact,
    /// `channels` given but empty (CONTRACT §6: a 422, not every channel).
    NoChannels,
    /// A channel that none of the given contact points allows.
    ChannelNotAllowed(Channel),
}

impl std::fmt::Display for TargetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetError::NoContact => f.write_str("give at least one of phone, email or address"),
            TargetError::NoChannels => {
                f.write_str("channels is empty: name the channels, or leave it out for every channel the contact points allow")
            }
            TargetError::ChannelNotAllowed(c) => {
                write!(f, "channel {c} needs a {} and none was given", c.contact_kind())
            }
        }
    }
}

impl Contacts {
    /// Make keys of the contact points given; the first that cannot be made is the error.
    pub fn parse<S: AsRef<str>>(
        phone: Option<&str>,
        email: Option<&str>,
        address: Option<AddressInput<'_, S>>,
    ) -> Result<Contacts, ContactError> {
        let fail = |kind: ContactKind| move |e: &dyn std::fmt::Display| ContactError { kind, message: format!("{kind}: {e}") };
        Ok(Contacts {
            phone: phone.map(PhoneKey::parse).transpose().map_err(|e| fail(ContactKind::Phone)(&e))?,
            email: email.map(EmailKey::parse).transpose().map_err(|e| fail(ContactKind::Email)(&e))?,
            address: address
                .map(|a| AddressKey::from_lines(a.lines, a.postcode, a.surname))
                .transpose()
                .map_err(|e| fail(ContactKind::Address)(&e))?,
        })
    }

    fn key(&self, kind: ContactKind) -> Option<String> {
        match kind {
            ContactKind::Phone => self.phone.as_ref().map(ToString::to_string),
            ContactKind::Email => self.email.as_ref().map(ToString::to_string),
            ContactKind::Address => self.address.as_ref().map(ToString::to_string),
        }
    }

    /// The (key, channel) pairs a statement covers: the channels asked for, or every channel the
    /// given contact points allow (phone → call, sms; email → email; address → mail).
    pub fn targets(&self, channels: Option<&[Channel]>) -> Result<Vec<(String, Channel)>, TargetError> {
        if self.phone.is_none() && self.email.is_none() && self.address.is_none() {
            return Err(TargetError::NoContact);
        }
        let wanted: Vec<Channel> = match channels {
            Some([]) => return Err(TargetError::NoChannels),
            Some(cs) => {
                let mut cs = cs.to_vec();
                cs.sort();
                cs.dedup();
                cs
            }
            None => Channel::ALL.iter().copied().filter(|c| self.key(c.contact_kind()).is_some()).collect(),
        };
        wanted.into_iter().map(|c| self.key(c.contact_kind()).map(|k| (k, c)).ok_or(TargetError::ChannelNotAllowed(c))).collect()
    }
}

#[cfg(test)]
mod target_tests {
    use super::*;

    fn phone_only() -> Contacts {
        Contacts { phone: PhoneKey::parse("020 7946 0018").ok(), ..Contacts::default() }
    }

    #[test]
    fn channels_default_to_what_the_contacts_allow() {
        let t = phone_only().targets(None);
        assert_eq!(t, Ok(vec![("+442079460018".into(), Channel::Call), ("+442079460018".into(), Channel::Sms)]));
        let both = Contacts { email: EmailKey::parse("Jo@X.com").ok(), ..phone_only() };
        assert_eq!(both.targets(Some(&[Channel::Email])), Ok(vec![("jo@x.com".into(), Channel::Email)]));
        assert_eq!(both.targets(None).map(|t| t.len()), Ok(3));
    }

    #[test]
    fn a_channel_no_contact_allows_is_refused() {
        assert_eq!(phone_only().targets(Some(&[Channel::Mail])), Err(TargetError::ChannelNotAllowed(Channel::Mail)));
        assert_eq!(Contacts::default().targets(None), Err(TargetError::NoContact));
        assert_eq!(phone_only().targets(Some(&[])), Err(TargetError::NoChannels));
    }
}
