//! The outbox worker: one thread per server (and a short run at the end of a CLI command) that
//! claims due messages with a lease, sends them, and marks each sent, due again later (backoff),
//! or failed. A message is marked sent as soon as the mail server accepted it; only a crash in
//! between can send it twice (after its lease ends), never a restart or a second instance.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use super::Mailer;
use crate::app::mail::Mail;
use crate::app::outbox::{Claimed, Senders};
use crate::config::MailSettings;
use crate::domain::mask::mask_addresses;
use crate::domain::time::now_utc;
use crate::store::Store;

/// How long a claimed message is this worker's, renewed just before it is sent: longer than any
/// one SMTP conversation may take (each of its dozen steps is bounded by `SMTP_TIMEOUT`).
const LEASE: Duration = Duration::from_secs(600);
/// A message is sent only with this much of its lease left (more than one conversation can take,
/// with room for clocks that differ between instances); else the lease is renewed first.
const RENEW_WITHIN: Duration = Duration::from_secs(300);
/// Messages one sender claims at once (few, so that the senders share a burst).
const BATCH: i64 = 5;
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Who claims: unique per process and start.
pub fn worker_id() -> String {
    format!("{}-{}-{}", hostname(), std::process::id(), hex::encode(rand::random::<[u8; 4]>()))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "host".into())
}

/// When to try a message again after its `attempts`-th failed attempt; None when its time is up.
pub fn next_attempt(settings: &MailSettings, created_at: NaiveDateTime, attempts: i32, now: NaiveDateTime) -> Option<NaiveDateTime> {
    let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(20);
    let wait = settings.retry_base.saturating_mul(1 << doublings).min(MAX_BACKOFF);
    let next = now + chrono::Duration::from_std(wait).ok()?;
    let give_up = created_at + chrono::Duration::from_std(settings.retry_for).ok()?;
    (next <= give_up).then_some(next)
}

/// Send what is due, until nothing is or `deadline` passes. Returns the messages sent.
///
/// A claimed message is this sender's until its lease ends; before each send the lease must have
/// `RENEW_WITHIN` left, else it is renewed first (a write, on SQLite the one writer's time, so
/// only then) — and a message whose lease was lost meanwhile (another sender claimed it) is
/// skipped: never sent by both. Messages not reached before the deadline are given back at once.
pub fn drain(
    senders: &Senders,
    mailer: &Mailer,
    settings: &MailSettings,
    worker: &str,
    deadline: Option<Instant>,
) -> anyhow::Result<usize> {
    let past = |d: Option<Instant>| d.is_some_and(|d| Instant::now() >= d);
    let (lease, margin) = (chrono::Duration::from_std(LEASE)?, chrono::Duration::from_std(RENEW_WITHIN)?);
    let mut sent = 0;
    loop {
        let now = now_utc();
        if past(deadline) || !senders.any_due(now)? {
            return Ok(sent);
        }
        let lease_until = now + lease;
        let claimed = senders.claim(worker, now, lease_until, BATCH)?;
        if claimed.is_empty() {
            return Ok(sent);
        }
        for (i, m) in claimed.iter().enumerate() {
            if past(deadline) {
                let rest: Vec<i64> = claimed[i..].iter().map(|m| m.id).collect();
                senders.release(&rest, worker)?;
                return Ok(sent);
            }
            // The batch's lease, unless this message's own is renewed now.
            if now_utc() + margin > lease_until && !senders.renew(m.id, worker, now_utc() + lease)? {
                continue;
            }
            sent += usize::from(send_one(senders, mailer, settings, worker, m)?);
        }
    }
}

fn send_one(senders: &Senders, mailer: &Mailer, settings: &MailSettings, worker: &str, m: &Claimed) -> anyhow::Result<bool> {
    match mailer.send(m) {
        Ok(()) => {
            // Marked at once, and tried again if the database is briefly away: until it is marked,
            // a crash or a lost lease could send it again.
            let mut marked = senders.sent(m.id, worker, now_utc());
            for wait in [100, 400, 1_600, 6_400] {
                if marked.is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(wait));
                marked = senders.sent(m.id, worker, now_utc());
            }
            match marked {
                Ok(true) => tracing::info!(id = m.id, kind = %m.kind, to = %m.to_masked, attempt = m.attempts, "email sent"),
                Ok(false) => tracing::warn!(id = m.id, kind = %m.kind, to = %m.to_masked, "email sent, but another sender held it by then"),
                Err(e) => {
                    tracing::error!(id = m.id, kind = %m.kind, to = %m.to_masked, error = %format!("{e:#}"), "email sent but not marked sent: it may be sent again")
                }
            }
            Ok(true)
        }
        Err(e) => {
            let error = mask_addresses(&e.message);
            let now = now_utc();
            let next = if e.permanent { None } else { next_attempt(settings, m.created_at, m.attempts, now) };
            senders.unsent(m.id, worker, &error, next)?;
            match next {
                Some(at) => {
                    tracing::warn!(id = m.id, kind = %m.kind, to = %m.to_masked, attempt = m.attempts, error = %error, retry_at = %at, "email not sent; will retry")
                }
                None => {
                    tracing::error!(id = m.id, kind = %m.kind, to = %m.to_masked, attempt = m.attempts, error = %error, "email not sent; given up")
                }
            }
            Ok(false)
        }
    }
}

/// Messages sent at once by one server. lettre writes a message's final `.` in a write of its own
/// and cannot set `TCP_NODELAY`, so each message waits out the mail server's delayed ACK (about
/// 40 ms on Linux): one sender manages some 20 messages a second. More senders deliver faster
/// but take more of the cores from the requests (measured: BENCHMARKS.md, "Email").
pub const SENDERS: usize = 2;

/// Start the server's senders: each sends the outbox every `settings.poll`; the first also checks
/// the registers for staleness alarms at start and every `settings.alarm_every`. They stop when
/// the server's application (which holds `mail`) is gone.
pub fn start(senders: Senders, store: Store, mailer: Arc<Mailer>, settings: MailSettings, mail: Weak<Mail>) {
    for n in 0..SENDERS {
        let (senders, store, mailer, settings, mail) =
            (senders.clone(), store.clone(), Arc::clone(&mailer), settings.clone(), mail.clone());
        let worker = worker_id();
        let spawned = std::thread::Builder::new().name(format!("outbox-{n}")).spawn(move || {
            yield_to_requests();
            let mut last_alarm_check: Option<Instant> = None;
            loop {
                let Some(mail) = mail.upgrade() else { return };
                if n == 0 && last_alarm_check.is_none_or(|t| t.elapsed() >= settings.alarm_every) {
                    last_alarm_check = Some(Instant::now());
                    if let Err(e) = crate::app::alarms::check(&store, &mail) {
                        tracing::warn!(error = %format!("{e:#}"), "could not check the registers for staleness");
                    }
                }
                if let Err(e) = drain(&senders, &mailer, &settings, &worker, None) {
                    tracing::warn!(error = %format!("{e:#}"), "the outbox could not be read; trying again");
                }
                drop(mail);
                std::thread::sleep(settings.poll);
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start an outbox sender");
        }
    }
}

/// Background work gives way to requests: this thread runs at a lower priority (nice 10), so a
/// burst of messages to send never takes the cores from the opt-outs that caused it.
fn yield_to_requests() {
    // SAFETY: gettid and setpriority take no pointers; on Linux PRIO_PROCESS with a thread id
    // changes that thread alone. A failure only leaves the priority as it was.
    #[cfg(target_os = "linux")]
    unsafe {
        let tid = libc::gettid();
        if libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10) != 0 {
            tracing::debug!("could not lower the outbox sender's priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_stop_after_their_time() {
        let s = MailSettings::default();
        let t0 = crate::domain::time::now_utc();
        let wait = |attempts, now| next_attempt(&s, t0, attempts, now).map(|n| (n - now).num_seconds());
        assert_eq!(wait(1, t0), Some(30));
        assert_eq!(wait(2, t0), Some(60));
        assert_eq!(wait(5, t0), Some(480));
        assert_eq!(wait(30, t0), Some(3600));
        let late = t0 + chrono::Duration::hours(23) + chrono::Duration::minutes(30);
        assert_eq!(wait(30, late), None, "an hour's wait would end after 24 hours");
    }
}
