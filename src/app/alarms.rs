//! Staleness alarms (CONTRACT §11): a register whose snapshot vouches for `registers::ALARM_DAYS` days
//! or fewer, or is past, or was never imported, gets one message a day to `SUPPRESS_REPORT_TO`.
//! Checked by every server on a schedule and after each import, and by `suppress
//! check-registers`; the outbox's dedupe key (register and UK day) keeps it to one a day across
//! restarts and instances. The same check sends the watchdog of a nightly run that never
//! finished (`mail::Mail::spool_watchdog`).

use chrono::NaiveDate;

use super::mail::Mail;
use crate::domain::time::today_uk;
use crate::domain::Register;
use crate::registers::{alarm_due, is_stale};
use crate::store::{outbox, registers, Store};

/// One register's state, as `check-registers` prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterState {
    pub register: Register,
    pub as_of: Option<NaiveDate>,
    pub valid_until: Option<NaiveDate>,
    /// Past its valid_until, or never imported.
    pub stale: bool,
    /// An alarm is due today (stale, or valid for `ALARM_DAYS` days or fewer).
    pub alarm: bool,
}

/// Each register's state from the snapshots in the database (their heads only), with today's
/// alarms written to the outbox. Returns the states.
pub fn check(store: &Store, mail: &Mail) -> anyhow::Result<Vec<RegisterState>> {
    let today = today_uk();
    let mut conn = store.conn()?;
    // A nightly run that never finished: its watchdog goes now.
    let now = crate::domain::time::now_utc();
    let released = outbox::release_held(&mut conn, now - chrono::Duration::from_std(super::mail::SPOOL_WATCHDOG)?, now)?;
    if released > 0 {
        tracing::warn!(runs = released, "a nightly import did not finish: its watchdog message is due");
    }
    let heads = registers::heads(&mut conn)?;
    let mut states = Vec::new();
    for &register in Register::ALL {
        let as_of = heads.iter().find(|h| h.register == register).map(|h| h.as_of);
        let valid_until = as_of.and_then(|d| mail.lead_time(register).after(d));
        let alarm = alarm_due(valid_until, today);
        if alarm {
            if let Some(message) = mail.stale_alarm(register, as_of, today) {
                if outbox::insert(&mut conn, &[message])? > 0 {
                    tracing::warn!(register = %register, "staleness alarm written to the outbox");
                }
            }
        }
        states.push(RegisterState { register, as_of, valid_until, stale: is_stale(valid_until, today), alarm });
    }
    Ok(states)
}
