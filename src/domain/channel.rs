//! Channels, contact kinds, registers with their lead times, and the reason codes of outcomes.

use std::fmt;

use chrono::{Months, NaiveDate, TimeDelta};

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name { $( #[serde(rename = $text)] $variant ),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Every spelling accepted, for error messages.
            pub fn names() -> Vec<&'static str> {
                vec![$($text),+]
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("unknown {} {:?}; expected one of: {}", stringify!($name).to_ascii_lowercase(), other, $name::names().join(", "))),
                }
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// A marketing channel.
    Channel { Call => "call", Sms => "sms", Mail => "mail", Email => "email" }
);

string_enum!(
    /// The kind of contact point a key is made from.
    ContactKind { Phone => "phone", Email => "email", Address => "address" }
);

string_enum!(
    /// An external preference register.
    Register { Tps => "tps", Ctps => "ctps", Mps => "mps" }
);

impl ContactKind {
    /// The channels a contact point of this kind allows.
    pub fn channels(self) -> &'static [Channel] {
        match self {
            ContactKind::Phone => &[Channel::Call, Channel::Sms],
            ContactKind::Email => &[Channel::Email],
            ContactKind::Address => &[Channel::Mail],
        }
    }
}

impl Channel {
    pub fn contact_kind(self) -> ContactKind {
        match self {
            Channel::Call | Channel::Sms => ContactKind::Phone,
            Channel::Email => ContactKind::Email,
            Channel::Mail => ContactKind::Address,
        }
    }

    /// The registers that bind this channel (TPS does not cover SMS).
    pub fn registers(self) -> &'static [Register] {
        match self {
            Channel::Call => &[Register::Tps, Register::Ctps],
            Channel::Mail => &[Register::Mps],
            Channel::Sms | Channel::Email => &[],
        }
    }
}

/// A register's lead time: how long after listing a registration binds, and how long a snapshot
/// stays usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadTime {
    Days(u32),
    Months(u32),
}

impl LeadTime {
    pub fn after(self, date: NaiveDate) -> Option<NaiveDate> {
        match self {
            LeadTime::Days(d) => date.checked_add_signed(TimeDelta::days(i64::from(d))),
            LeadTime::Months(m) => date.checked_add_months(Months::new(m)),
        }
    }

    pub fn before(self, date: NaiveDate) -> Option<NaiveDate> {
        match self {
            LeadTime::Days(d) => date.checked_sub_signed(TimeDelta::days(i64::from(d))),
            LeadTime::Months(m) => date.checked_sub_months(Months::new(m)),
        }
    }
}

impl std::str::FromStr for LeadTime {
    type Err = String;
    /// `28d` (days) or `3m` (calendar months).
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let err = || format!("{s:?} is not a lead time such as 28d or 3m");
        let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?);
        let n: u32 = num.parse().map_err(|_| err())?;
        match unit {
            "d" => Ok(LeadTime::Days(n)),
            "m" => Ok(LeadTime::Months(n)),
            _ => Err(err()),
        }
    }
}

impl LeadTime {
    /// As [`LeadTime::from_str`](std::str::FromStr) reads it: `28d`, `3m`.
    pub fn spec(self) -> String {
        match self {
            LeadTime::Days(d) => format!("{d}d"),
            LeadTime::Months(m) => format!("{m}m"),
        }
    }
}

impl fmt::Display for LeadTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeadTime::Days(d) => write!(f, "{d} days"),
            LeadTime::Months(m) => write!(f, "{m} months"),
        }
    }
}

impl Register {
    /// The register's name as people write it: TPS, CTPS, MPS.
    pub fn label(self) -> &'static str {
        match self {
            Register::Tps => "TPS",
            Register::Ctps => "CTPS",
            Register::Mps => "MPS",
        }
    }

    pub fn channel(self) -> Channel {
        match self {
            Register::Tps | Register::Ctps => Channel::Call,
            Register::Mps => Channel::Mail,
        }
    }

    pub fn default_lead_time(self) -> LeadTime {
        match self {
            Register::Tps | Register::Ctps => LeadTime::Days(28),
            Register::Mps => LeadTime::Months(3),
        }
    }
}

string_enum!(
    /// The reason code of an outcome (CONTRACT §5, §6).
    Reason {
        MalformedRow => "MALFORMED_ROW",
        InvalidPhone => "INVALID_PHONE",
        InvalidEmail => "INVALID_EMAIL",
        InvalidAddress => "INVALID_ADDRESS",
        Duplicate => "DUPLICATE",
        OptedOut => "OPTED_OUT",
        Deceased => "DECEASED",
        Tps => "TPS",
        Ctps => "CTPS",
        Mps => "MPS",
        ConsentOverride => "CONSENT_OVERRIDE",
        TpsGrace => "TPS_GRACE",
        CtpsGrace => "CTPS_GRACE",
        MpsGrace => "MPS_GRACE",
        RegisterStale => "REGISTER_STALE",
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::fixtures::date;

    #[test]
    fn parses_and_prints() {
        assert_eq!("CALL".parse::<Channel>(), Ok(Channel::Call));
        assert_eq!(Channel::Mail.to_string(), "mail");
        assert!("fax".parse::<Channel>().unwrap_err().contains("call, sms, mail, email"));
        assert_eq!(Reason::ConsentOverride.as_str(), "CONSENT_OVERRIDE");
    }

    #[test]
    fn lead_times() {
        let d = |s: &str| Some(date(s));
        let nov24 = date("2026-11-24");
        assert_eq!(Register::Tps.default_lead_time().after(nov24), d("2026-12-22"));
        assert_eq!(Register::Mps.default_lead_time().after(nov24), d("2027-02-24"));
        // Calendar months clamp at the month's end.
        assert_eq!(LeadTime::Months(3).after(date("2026-11-30")), d("2027-02-28"));
        assert_eq!(LeadTime::Days(28).before(nov24), d("2026-10-27"));
    }

    #[test]
    fn lead_times_parse() {
        assert_eq!("28d".parse::<LeadTime>(), Ok(LeadTime::Days(28)));
        assert_eq!("3m".parse::<LeadTime>(), Ok(LeadTime::Months(3)));
        assert!("3 weeks".parse::<LeadTime>().is_err());
        assert!("d".parse::<LeadTime>().is_err());
        for l in [LeadTime::Days(28), LeadTime::Months(3)] {
            assert_eq!(l.spec().parse::<LeadTime>(), Ok(l));
        }
    }

    #[test]
    fn channels_of_contact_points() {
        assert_eq!(ContactKind::Phone.channels(), &[Channel::Call, Channel::Sms]);
        assert_eq!(Channel::Sms.registers(), &[] as &[Register]);
        assert_eq!(Channel::Call.registers(), &[Register::Tps, Register::Ctps]);
    }
}
