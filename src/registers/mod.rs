//! The national registers as the service holds them. Imports (TPS, CTPS, MPS files) are not built
//! yet: no snapshot exists, so every channel with registers is answered as not covered, which
//! fails closed (CONTRACT §5: a register never imported refuses the scrub; a check answers
//! `REGISTER_STALE`).

use chrono::NaiveDate;

use crate::domain::{Channel, Register};

/// Why a channel's registers cannot vouch for a contact date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotCovered {
    /// The register has never been imported.
    Missing(Register),
    /// The register's snapshot is too old for the date; `needed_as_of` is the oldest that would do.
    Stale {
        register: Register,
        as_of: NaiveDate,
        needed_as_of: Option<NaiveDate>,
    },
}

impl NotCovered {
    pub fn explain(&self) -> String {
        match self {
            NotCovered::Missing(r) => format!("no {r} snapshot has been imported"),
            NotCovered::Stale { register, as_of, needed_as_of } => match needed_as_of {
                Some(n) => format!("the {register} snapshot of {as_of} is too old; one dated {n} or later is needed"),
                None => format!("the {register} snapshot of {as_of} is too old"),
            },
        }
    }
}

/// The registers' snapshots in memory.
#[derive(Debug, Default)]
pub struct Registers {}

impl Registers {
    pub fn empty() -> Registers {
        Registers {}
    }

    /// Whether every register of the channel can vouch for `contact_date`.
    pub fn coverage(&self, channel: Channel, _contact_date: NaiveDate) -> Result<(), NotCovered> {
        match channel.registers().first() {
            Some(r) => Err(NotCovered::Missing(*r)),
            None => Ok(()),
        }
    }
}
