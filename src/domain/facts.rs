//! What is known about one key on one channel: the in-house statement in force and the key's
//! register listings. The read model (`scrub::knowledge`) gathers them; `scrub::judge` decides
//! from them. The two rules that make facts out of raw entries live here, once: which of a
//! person's and their household's statements is in force, and when a listing binds.

use chrono::{NaiveDate, NaiveDateTime};

use super::channel::LeadTime;
use super::preference::is_later;
use super::{Register, StatementKind};

/// The latest statement about one stored key on one channel (as the in-house index holds it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement {
    pub recorded_at: NaiveDateTime,
    pub id: i64,
    pub kind: StatementKind,
}

impl Statement {
    /// Whether this statement takes over from `other`: later by (recorded_at, id).
    pub fn is_later_than(&self, other: &Statement) -> bool {
        is_later((self.recorded_at, self.id), (other.recorded_at, other.id))
    }
}

/// Whose statement is in force for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    /// The key's own.
    Own,
    /// The household's, for a named person at an address.
    Household,
}

/// The in-house statement in force for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InForce {
    pub recorded_at: NaiveDateTime,
    pub id: i64,
    pub kind: StatementKind,
    pub whose: Whose,
}

impl InForce {
    /// The statement in force for a key, from its own latest statement and (for a named person
    /// at an address) their household's: the later of the two by (recorded_at, id).
    pub fn of(own: Option<&Statement>, household: Option<&Statement>) -> Option<InForce> {
        let (s, whose) = match (own, household) {
            (Some(o), Some(h)) if h.is_later_than(o) => (h, Whose::Household),
            (Some(o), _) => (o, Whose::Own),
            (None, Some(h)) => (h, Whose::Household),
            (None, None) => return None,
        };
        Some(InForce { recorded_at: s.recorded_at, id: s.id, kind: s.kind, whose })
    }
}

/// A key's entry on a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listing {
    pub register: Register,
    /// `None`: listed since before the register's first import.
    pub listed_since: Option<NaiveDate>,
    /// `None`: binding whatever the date (listed since before the register's first import).
    pub binding_from: Option<NaiveDate>,
    pub deceased: bool,
}

impl Listing {
    /// An entry listed since `listed_since`: it binds from then plus the register's lead time.
    pub fn new(register: Register, listed_since: Option<NaiveDate>, lead_time: LeadTime, deceased: bool) -> Listing {
        Listing { register, listed_since, binding_from: listed_since.and_then(|d| lead_time.after(d)), deceased }
    }
}

/// A key's listings: at most one per register, kept in the registers' order (TPS, CTPS, MPS).
/// Fixed slots, no allocation: a key has at most two listings on a channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Listings([Option<Listing>; Register::ALL.len()]);

impl Listings {
    /// Add a listing (replacing any other on the same register).
    pub fn add(&mut self, listing: Listing) {
        self.0[listing.register as usize] = Some(listing);
    }

    /// The listing on one register.
    pub fn on(&self, register: Register) -> Option<&Listing> {
        self.0[register as usize].as_ref()
    }

    /// The listings, in the registers' order.
    pub fn iter(&self) -> impl Iterator<Item = &Listing> + Clone {
        self.0.iter().flatten()
    }
}

impl FromIterator<Listing> for Listings {
    fn from_iter<I: IntoIterator<Item = Listing>>(iter: I) -> Listings {
        let mut listings = Listings::default();
        iter.into_iter().for_each(|l| listings.add(l));
        listings
    }
}

/// What is known about one key on one channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// The in-house statement in force, if any.
    pub in_house: Option<InForce>,
    /// The key's entries on the channel's registers.
    pub listings: Listings,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::fixtures;

    fn at(minute: u32, id: i64, kind: StatementKind) -> Statement {
        let recorded_at = fixtures::at("2026-11-25", 9, minute);
        Statement { recorded_at, id, kind }
    }

    #[test]
    fn the_later_of_own_and_household_is_in_force() {
        let (early, late) = (at(1, 9, StatementKind::OptOut), at(2, 3, StatementKind::Consent));
        let whose = |own, household| InForce::of(own, household).map(|s| (s.id, s.kind, s.whose));
        // The household's later: it is in force, whatever the ids.
        assert_eq!(whose(Some(&early), Some(&late)), Some((3, StatementKind::Consent, Whose::Household)));
        // The person's own later.
        assert_eq!(whose(Some(&late), Some(&early)), Some((3, StatementKind::Consent, Whose::Own)));
        // Same time: the higher id.
        let (a, b) = (at(1, 4, StatementKind::OptOut), at(1, 5, StatementKind::Consent));
        assert_eq!(whose(Some(&a), Some(&b)), Some((5, StatementKind::Consent, Whose::Household)));
        assert_eq!(whose(Some(&b), Some(&a)), Some((5, StatementKind::Consent, Whose::Own)));
        // One alone.
        assert_eq!(whose(Some(&early), None), Some((9, StatementKind::OptOut, Whose::Own)));
        assert_eq!(whose(None, Some(&early)), Some((9, StatementKind::OptOut, Whose::Household)));
        assert_eq!(whose(None, None), None);
        let full = InForce::of(None, Some(&late));
        assert_eq!(full.map(|s| s.recorded_at), Some(late.recorded_at));
    }

    #[test]
    fn a_listing_binds_from_listed_since_plus_the_lead_time() {
        let d = |s: &str| Some(fixtures::date(s));
        let tps = Listing::new(Register::Tps, d("2026-10-02"), LeadTime::Days(28), false);
        assert_eq!((tps.listed_since, tps.binding_from), (d("2026-10-02"), d("2026-10-30")));
        let mps = Listing::new(Register::Mps, d("2026-11-30"), LeadTime::Months(3), true);
        assert_eq!((mps.binding_from, mps.deceased), (d("2027-02-28"), true));
        // Listed since before the first import: binding whatever the date.
        let old = Listing::new(Register::Ctps, None, LeadTime::Days(28), false);
        assert_eq!((old.listed_since, old.binding_from), (None, None));
    }

    #[test]
    fn listings_keep_the_registers_order_one_per_register() {
        let l = |r| Listing::new(r, None, LeadTime::Days(28), false);
        let listings: Listings = [l(Register::Mps), l(Register::Ctps), l(Register::Tps), l(Register::Ctps)].into_iter().collect();
        let order: Vec<Register> = listings.iter().map(|l| l.register).collect();
        assert_eq!(order, [Register::Tps, Register::Ctps, Register::Mps]);
        assert_eq!(listings.on(Register::Ctps), Some(&l(Register::Ctps)));
        assert_eq!(Listings::default().iter().next(), None);
    }
}
