//! The read model: what is known about a key on a channel, at one moment. Every answer the
//! service gives about a key goes through [`Knowledge::facts`]: a scrub's rows (and its
//! revocations), `GET`/`POST /v1/check` (a check is a one-row scrub: [`Knowledge::verdict`]) and
//! `GET /v1/preferences` (its state in force per channel and its register entries).
//!
//! It sits above the in-house index (`inhouse::in_force`) and the register snapshots
//! (`registers::View`), and beside `judge`, which decides an outcome from the facts.

use chrono::NaiveDate;

use super::judge::{judge, Mode, Verdict};
use crate::domain::{AddressKey, Channel, EmailKey, Facts, InForce, Listings, PhoneKey};
use crate::inhouse::in_force::OnChannel;
use crate::registers::View;

/// What is known on one channel, taken at one moment: a scrub holds one for its whole list.
#[derive(Clone)]
pub struct Knowledge {
    /// The in-house statements in force on the channel (with the highest statement id they take
    /// in).
    pub in_house: OnChannel,
    pub registers: View,
}

/// A key to look up.
#[derive(Debug, Clone, Copy)]
pub enum Key<'a> {
    Phone(&'a PhoneKey),
    Email(&'a EmailKey),
    Address(&'a AddressKey),
}

impl Knowledge {
    /// The channel this knowledge is about.
    pub fn channel(&self) -> Channel {
        self.in_house.channel()
    }

    /// What is known about `key` on the channel; `text` is the key as statements are stored
    /// under it (its `Display` form, which the caller usually has already). The statement in
    /// force is the key's own or, for a named person at an address, their household's if later;
    /// the listings are the key's entries on the channel's registers.
    pub fn facts(&self, key: Key<'_>, text: &str) -> Facts {
        let own = self.in_house.get(text);
        let household = match key {
            Key::Address(a) if a.is_individual() => self.in_house.get(&a.household().to_string()),
            _ => None,
        };
        let listings = match (key, self.channel()) {
            (Key::Phone(p), Channel::Call) => self.registers.phone_listings(p),
            (Key::Address(a), Channel::Mail) => self.registers.address_listings(a),
            _ => Listings::default(),
        };
        Facts { in_house: InForce::of(own, household), listings }
    }

    /// The outcome for a key that has passed the row-level steps (it has a key and is not a
    /// duplicate): what is known, judged. A scrub's row and a check both answer through this.
    pub fn verdict(&self, key: Key<'_>, text: &str, mode: Mode, contact_date: NaiveDate) -> (Facts, Verdict) {
        let facts = self.facts(key, text);
        let verdict = judge(self.channel(), &facts, mode, contact_date);
        (facts, verdict)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use chrono::NaiveDateTime;

    use super::*;
    use crate::domain::channel::LeadTime;
    use crate::domain::time::fixtures::{self, date};
    use crate::domain::{Listing, Register, StatementKind, Whose};
    use crate::inhouse::in_force::Statements;
    use crate::registers::import::{mps_hash, mps_meta};
    use crate::registers::{MpsSet, PhoneSet};
    use crate::store::statements::Change;

    fn at(minute: u32) -> NaiveDateTime {
        fixtures::at("2026-11-25", 9, minute)
    }

    fn change(id: i64, key: &str, channel: Channel, minute: u32, kind: StatementKind) -> Change {
        Change { id, contact_key: key.into(), channel, recorded_at: at(minute), kind }
    }

    fn address(surname: Option<&str>) -> AddressKey {
        AddressKey::from_premise("SW1A 1AA", "10", surname).unwrap_or_else(|e| panic!("{e}"))
    }

    fn knowledge(channel: Channel, changes: Vec<Change>, registers: View) -> Knowledge {
        let mut statements = Statements::default();
        statements.apply(changes);
        Knowledge { in_house: statements.on(channel), registers }
    }

    fn no_registers() -> View {
        View::new(None, None, None)
    }

    /// For a named person at an address, the later by (recorded_at, id) of their own statement
    /// and their household's is in force, whichever is recorded first; a household answers with
    /// its own only.
    #[test]
    fn a_persons_statement_in_force_is_the_later_of_their_own_and_their_households() {
        let (person, household) = (address(Some("Smith")), address(None));
        let (p, h) = (person.to_string(), household.to_string());
        let in_force = |changes: Vec<Change>, key: &AddressKey| {
            let k = knowledge(Channel::Mail, changes, no_registers());
            k.facts(Key::Address(key), &key.to_string()).in_house.map(|s| (s.id, s.kind, s.whose))
        };
        // The household's statement later than the person's own: the household's is in force.
        let household_later =
            vec![change(1, &p, Channel::Mail, 1, StatementKind::Consent), change(2, &h, Channel::Mail, 2, StatementKind::OptOut)];
        assert_eq!(in_force(household_later.clone(), &person), Some((2, StatementKind::OptOut, Whose::Household)));
        // The person's own later (recorded later, though its id is lower): their own is in force.
        let own_later =
            vec![change(1, &p, Channel::Mail, 3, StatementKind::Consent), change(2, &h, Channel::Mail, 2, StatementKind::OptOut)];
        assert_eq!(in_force(own_later, &person), Some((1, StatementKind::Consent, Whose::Own)));
        // Same time: the higher id.
        let same_time =
            vec![change(5, &p, Channel::Mail, 2, StatementKind::OptOut), change(4, &h, Channel::Mail, 2, StatementKind::Consent)];
        assert_eq!(in_force(same_time, &person), Some((5, StatementKind::OptOut, Whose::Own)));
        // A household is answered by its own statement; a person's statement does not speak for it.
        assert_eq!(in_force(household_later, &household), Some((2, StatementKind::OptOut, Whose::Own)));
        assert_eq!(in_force(vec![change(1, &p, Channel::Mail, 1, StatementKind::OptOut)], &household), None);
        // Only the knowledge's channel counts.
        assert_eq!(in_force(vec![change(1, &p, Channel::Email, 1, StatementKind::OptOut)], &person), None);
    }

    /// Listings carry `listed_since` and bind from it plus the register's lead time; a listing
    /// since before the first import binds whatever the date. Only the channel's registers count.
    #[test]
    fn listings_give_binding_from_per_lead_time() {
        let (d1, d2) = (date("2026-10-02"), date("2026-11-30"));
        let tps = PhoneSet::new(Register::Tps, d1, vec![2_030_000_000, 2_030_000_001], HashMap::from([(2_030_000_001, d1)]));
        let ctps = PhoneSet::new(Register::Ctps, d1, vec![2_030_000_001], HashMap::new());
        let household = address(None);
        let mps = MpsSet::new(d2, vec![(mps_hash(&household.to_string()), mps_meta(Some(d2), true))]);
        let view = View::new(Some(Arc::new(tps)), Some(Arc::new(ctps)), Some(Arc::new(mps)));
        let call = knowledge(Channel::Call, vec![], view.clone());
        let listings = |k: &Knowledge, key: Key<'_>, text: &str| k.facts(key, text).listings.iter().copied().collect::<Vec<_>>();
        let phone = |s: &str| PhoneKey::parse(s).unwrap_or_else(|e| panic!("{e}"));
        let (old, new) = (phone("020 3000 0000"), phone("020 3000 0001"));
        assert_eq!(listings(&call, Key::Phone(&old), old.as_str()), [Listing::new(Register::Tps, None, LeadTime::Days(28), false)]);
        let both = listings(&call, Key::Phone(&new), new.as_str());
        assert_eq!(
            both.iter().map(|l| (l.register, l.listed_since, l.binding_from)).collect::<Vec<_>>(),
            [(Register::Tps, Some(d1), Some(date("2026-10-30"))), (Register::Ctps, None, None)]
        );
        // Not on the channel's registers: SMS has none.
        let sms = knowledge(Channel::Sms, vec![], view.clone());
        assert!(listings(&sms, Key::Phone(&new), new.as_str()).is_empty());
        // MPS: a person matches their household's entry; three months' lead time.
        let mail = knowledge(Channel::Mail, vec![], view);
        let person = address(Some("Smith"));
        let got = listings(&mail, Key::Address(&person), &person.to_string());
        assert_eq!(
            got,
            [Listing { register: Register::Mps, listed_since: Some(d2), binding_from: Some(date("2027-02-28")), deceased: true }]
        );
    }

    /// A check and a scrub's row answer through `verdict`: the facts judged on the knowledge's
    /// channel.
    #[test]
    fn a_verdict_is_the_facts_judged() {
        let key = PhoneKey::parse("020 3000 0005").unwrap_or_else(|e| panic!("{e}"));
        let k = knowledge(Channel::Call, vec![change(1, key.as_str(), Channel::Call, 1, StatementKind::OptOut)], no_registers());
        let (facts, verdict) = k.verdict(Key::Phone(&key), key.as_str(), Mode::Strict, date("2026-11-25"));
        assert_eq!(facts.in_house.map(|s| s.id), Some(1));
        assert_eq!(verdict, judge(Channel::Call, &facts, Mode::Strict, date("2026-11-25")));
        assert_eq!(verdict.reason, Some(crate::domain::Reason::OptedOut));
    }
}
