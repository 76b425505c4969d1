//! The precedence of outcomes for one key on one channel (CONTRACT §5, steps 4–6).

use chrono::NaiveDate;
use serde::Serialize;

use crate::domain::{Channel, Facts, Reason, Register, StatementKind};

/// How register listings are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every listing suppresses, however recent.
    #[default]
    Strict,
    /// A listing binds only from `binding_from` (listed since + lead time), as the law says.
    Statutory,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "strict" => Ok(Mode::Strict),
            "statutory" => Ok(Mode::Statutory),
            other => Err(format!("unknown mode {other:?}; expected strict or statutory")),
        }
    }
}

/// An outcome: kept or suppressed, with its reason code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub reason: Option<Reason>,
    pub binding_from: Option<NaiveDate>,
}

impl Verdict {
    pub fn suppressed(reason: Reason) -> Verdict {
        Verdict { allowed: false, reason: Some(reason), binding_from: None }
    }
}

fn listed_code(r: Register) -> Reason {
    match r {
        Register::Tps => Reason::Tps,
        Register::Ctps => Reason::Ctps,
        Register::Mps => Reason::Mps,
    }
}

fn grace_code(r: Register) -> Reason {
    match r {
        Register::Tps => Reason::TpsGrace,
        Register::Ctps => Reason::CtpsGrace,
        Register::Mps => Reason::MpsGrace,
    }
}

/// Judge a key that has passed the row-level steps (it has a key and is not a duplicate).
pub fn judge(channel: Channel, facts: &Facts, mode: Mode, contact_date: NaiveDate) -> Verdict {
    let in_house = facts.in_house.map(|s| s.kind);
    if in_house == Some(StatementKind::OptOut) {
        return Verdict::suppressed(Reason::OptedOut);
    }
    if channel == Channel::Mail && facts.listings.iter().any(|l| l.deceased) {
        return Verdict::suppressed(Reason::Deceased);
    }
    // Registers in the contract's order (the listings keep it): TPS before CTPS, so a number on
    // both reports TPS.
    let mut listings = facts.listings.iter().filter(|l| l.register.channel() == channel);
    let Some(first) = listings.clone().next() else {
        return Verdict { allowed: true, reason: None, binding_from: None };
    };
    if in_house == Some(StatementKind::Consent) {
        return Verdict { allowed: true, reason: Some(Reason::ConsentOverride), binding_from: first.binding_from };
    }
    if mode == Mode::Statutory {
        // Suppressed by the first listing that binds on the contact date; kept in grace only when
        // none does.
        if let Some(binding) = listings.find(|l| l.binding_from.is_none_or(|b| contact_date >= b)) {
            return Verdict { allowed: false, reason: Some(listed_code(binding.register)), binding_from: binding.binding_from };
        }
        return Verdict { allowed: true, reason: Some(grace_code(first.register)), binding_from: first.binding_from };
    }
    Verdict { allowed: false, reason: Some(listed_code(first.register)), binding_from: first.binding_from }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InForce, Listing, Whose};

    use crate::domain::time::fixtures::date;

    fn listed(register: Register, binding_from: Option<&str>) -> Listing {
        Listing { register, listed_since: None, binding_from: binding_from.map(date), deceased: false }
    }

    fn stated(kind: StatementKind) -> Option<InForce> {
        Some(InForce { recorded_at: chrono::NaiveDateTime::default(), id: 1, kind, whose: Whose::Own })
    }

    fn reason(f: &Facts, mode: Mode, on: &str) -> Option<Reason> {
        judge(Channel::Call, f, mode, date(on)).reason
    }

    #[test]
    fn nothing_known_is_kept() {
        let v = judge(Channel::Call, &Facts::default(), Mode::Strict, date("2026-11-24"));
        assert_eq!(v, Verdict { allowed: true, reason: None, binding_from: None });
    }

    #[test]
    fn opt_out_beats_everything() {
        let f = Facts { in_house: stated(StatementKind::OptOut), listings: [listed(Register::Tps, None)].into_iter().collect() };
        assert_eq!(reason(&f, Mode::Strict, "2026-11-24"), Some(Reason::OptedOut));
    }

    #[test]
    fn consent_overrides_a_listing_and_a_grace() {
        let f =
            Facts { in_house: stated(StatementKind::Consent), listings: [listed(Register::Tps, Some("2026-12-01"))].into_iter().collect() };
        assert_eq!(reason(&f, Mode::Strict, "2026-11-24"), Some(Reason::ConsentOverride));
        assert_eq!(reason(&f, Mode::Statutory, "2026-11-24"), Some(Reason::ConsentOverride));
        assert!(judge(Channel::Call, &f, Mode::Strict, date("2026-11-24")).allowed);
    }

    #[test]
    fn tps_is_reported_before_ctps() {
        let f = Facts { in_house: None, listings: [listed(Register::Ctps, None), listed(Register::Tps, None)].into_iter().collect() };
        assert_eq!(reason(&f, Mode::Strict, "2026-11-24"), Some(Reason::Tps));
    }

    #[test]
    fn statutory_mode_keeps_listings_not_yet_binding() {
        let f = Facts { in_house: None, listings: [listed(Register::Tps, Some("2026-12-01"))].into_iter().collect() };
        assert_eq!(reason(&f, Mode::Statutory, "2026-11-30"), Some(Reason::TpsGrace));
        assert_eq!(reason(&f, Mode::Statutory, "2026-12-01"), Some(Reason::Tps));
        assert_eq!(reason(&f, Mode::Strict, "2026-11-30"), Some(Reason::Tps));
        // A binding CTPS listing suppresses even while the TPS one is in grace.
        let both = Facts {
            in_house: None,
            listings: [listed(Register::Tps, Some("2026-12-01")), listed(Register::Ctps, None)].into_iter().collect(),
        };
        assert_eq!(reason(&both, Mode::Statutory, "2026-11-30"), Some(Reason::Ctps));
    }

    #[test]
    fn deceased_only_for_mail() {
        let f = Facts {
            in_house: None,
            listings: [Listing { register: Register::Mps, listed_since: None, binding_from: None, deceased: true }].into_iter().collect(),
        };
        assert_eq!(judge(Channel::Mail, &f, Mode::Strict, date("2026-11-24")).reason, Some(Reason::Deceased));
    }
}
