//! What the service tells people by email (CONTRACT §11), composed here and written to the outbox
//! by the use case that causes it: import reports (one import, or one spool run), staleness
//! alarms, and opt-out confirmations. Text and HTML parts come from templates compiled into the
//! binary (`templates/mail/`); figures and dates are written as people read them
//! (`domain::say`). Sending is the outbox worker's (`notify`), never a request's.

use std::collections::HashMap;

use askama::Template;
use chrono::NaiveDate;

use crate::config::MailSettings;
use crate::domain::channel::LeadTime;
use crate::domain::mask::{mask, mask_email};
use crate::domain::say::{a, changes, count, day};
use crate::domain::time::now_utc;
use crate::domain::{Channel, Register, StatementKind};
use crate::registers::import::{ImportError, Report};
use crate::store::outbox::{NewMessage, PENDING};
use crate::store::statements::NewStatement;

/// A nightly run's watchdog is sent this long after the run started, if the run has not replaced
/// it by its report.
pub const SPOOL_WATCHDOG: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// The kinds of message, as stored and listed.
pub const IMPORT_REPORT: &str = "import_report";
pub const SPOOL_REPORT: &str = "spool_report";
pub const STALE_ALARM: &str = "stale_alarm";
pub const OPT_OUT_CONFIRMATION: &str = "opt_out_confirmation";

/// What composing needs from the settings. `Mail::off()` composes nothing.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Email is configured (`SUPPRESS_SMTP_URL`): without it nothing is written to the outbox.
    on: bool,
    report_to: Vec<String>,
    confirm_opt_outs: bool,
    /// The domain of `SUPPRESS_MAIL_FROM`, for Message-IDs.
    domain: String,
    lead_times: HashMap<Register, LeadTime>,
    /// Where links point (`SUPPRESS_PUBLIC_URL`).
    pub public_url: String,
}

/// An opt-out confirmation's subject.
pub const CONFIRMATION_SUBJECT: &str = "Your marketing preferences are recorded";

/// What an opt-out confirmation says, kept in its outbox row and rendered when it is sent.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Said {
    headline: String,
    lines: Vec<String>,
}

/// The text and HTML parts of a message whose row holds what to say (`params`) rather than its
/// parts: an opt-out confirmation, rendered by the sender.
pub fn render(kind: &str, subject: &str, params: &str, unsubscribe_url: Option<&str>) -> Result<(String, String), String> {
    if kind != OPT_OUT_CONFIRMATION {
        return Err(format!("a {kind} message has no parts"));
    }
    let said: Said = serde_json::from_str(params).map_err(|e| format!("an opt-out confirmation's content is unreadable: {e}"))?;
    let url = unsubscribe_url.unwrap_or_default();
    let text =
        ConfirmationText { headline: &said.headline, lines: &said.lines, unsubscribe_url: url }.render().map_err(|e| e.to_string())?;
    let html = ConfirmationHtml { subject, headline: &said.headline, lines: &said.lines, unsubscribe_url: url }
        .render()
        .map_err(|e| e.to_string())?;
    Ok((text, html))
}

/// One import's outcome, as a report tells it.
pub type Outcome<'a> = Result<&'a Report, &'a ImportError>;

/// One file of a spool run: its name, the request's register and date, and what happened.
pub struct SpoolFile<'a> {
    pub name: &'a str,
    pub register: Register,
    pub as_of: NaiveDate,
    pub outcome: Outcome<'a>,
}

#[derive(Template)]
#[template(path = "mail/report.txt")]
struct ReportText<'a> {
    headline: &'a str,
    facts: &'a [(String, String)],
    todo: &'a str,
    public_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/report.html")]
struct ReportHtml<'a> {
    subject: &'a str,
    headline: &'a str,
    facts: &'a [(String, String)],
    todo: &'a str,
    public_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/opt_out_confirmation.txt")]
struct ConfirmationText<'a> {
    headline: &'a str,
    lines: &'a [String],
    unsubscribe_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/opt_out_confirmation.html")]
struct ConfirmationHtml<'a> {
    subject: &'a str,
    headline: &'a str,
    lines: &'a [String],
    unsubscribe_url: &'a str,
}

impl Mail {
    pub fn new(settings: &MailSettings, lead_times: HashMap<Register, LeadTime>, public_url: String) -> Mail {
        let domain = settings.from.as_deref().and_then(|f| f.rsplit_once('@')).map(|(_, d)| d.trim_end_matches('>').to_owned());
        Mail {
            on: settings.smtp_url.is_some(),
            report_to: settings.report_to.clone(),
            confirm_opt_outs: settings.confirm_opt_outs,
            domain: domain.unwrap_or_else(|| "suppress.invalid".into()),
            lead_times,
            public_url,
        }
    }

    /// Nothing is composed (email not configured, or reports kept for one message at the end of
    /// a spool run).
    pub fn off() -> Mail {
        Mail {
            on: false,
            report_to: Vec::new(),
            confirm_opt_outs: false,
            domain: String::new(),
            lead_times: HashMap::new(),
            public_url: String::new(),
        }
    }

    /// The same settings with reports off: a spool run's imports report once, at the end.
    pub fn without_reports(&self) -> Mail {
        Mail { report_to: Vec::new(), ..self.clone() }
    }

    /// Whether reports and alarms go anywhere.
    pub fn reports(&self) -> bool {
        self.on && !self.report_to.is_empty()
    }

    pub fn lead_time(&self, r: Register) -> LeadTime {
        self.lead_times.get(&r).copied().unwrap_or_else(|| r.default_lead_time())
    }

    /// The report of one import (CLI or HTTP).
    pub fn import_report(&self, register: Register, as_of: NaiveDate, outcome: Outcome<'_>) -> Option<NewMessage> {
        let reg = register.label();
        if !self.reports() {
            return None;
        }
        let subject = self.import_subject(register, as_of, outcome);
        let (headline, todo) = match outcome {
            Ok(r) if r.already_imported => {
                (format!("This {reg} file dated {} had been imported before: nothing changed.", day(as_of)), String::new())
            }
            Ok(_) => (format!("The {reg} file dated {} was imported.", day(as_of)), String::new()),
            Err(e) => (format!("The {reg} file dated {} was refused: {e}.", day(as_of)), self.todo(register, e)),
        };
        let facts = self.import_facts(register, as_of, outcome);
        self.report(IMPORT_REPORT, &subject, &headline, &facts, &todo, None)
    }

    /// `TPS 2026-11-24 imported: +3,912 −14, valid until 2026-12-22`, or `FAILED: …`.
    fn import_subject(&self, register: Register, as_of: NaiveDate, outcome: Outcome<'_>) -> String {
        let reg = register.label();
        match outcome {
            Ok(r) if r.already_imported => format!("{reg} {as_of} already imported: nothing changed"),
            Ok(r) => {
                let until = self.lead_time(register).after(as_of).map(|u| format!(", valid until {u}")).unwrap_or_default();
                format!("{reg} {as_of} imported: {}{until}", changes(r.added, r.removed))
            }
            Err(e) => format!("FAILED: {reg} {as_of} import refused: {}", e.short()),
        }
    }

    fn import_facts(&self, register: Register, as_of: NaiveDate, outcome: Outcome<'_>) -> Vec<(String, String)> {
        let mut facts = vec![("Register".to_owned(), register.label().to_owned()), ("File dated".to_owned(), day(as_of))];
        let report = match outcome {
            Ok(r) => Some(r),
            Err(e) => e.report(),
        };
        if let Some(r) = report {
            facts.push(("Kind".into(), if r.kind.to_string() == "delta" { "change file".into() } else { "full file".into() }));
            facts.push(("Records read".into(), count(r.records)));
            facts.push(("Added".into(), count(r.added)));
            facts.push(("Removed".into(), count(r.removed)));
            facts.push(("Unchanged".into(), count(r.unchanged)));
            facts.push(("Rejected lines".into(), count(r.rejected)));
            if outcome.is_ok() {
                facts.push(("Entries now".into(), count(r.entries_after)));
                if let Some(until) = self.lead_time(register).after(as_of) {
                    facts.push(("Valid until".into(), format!("{} (the last contact date this snapshot vouches for)", day(until))));
                }
            }
            facts.push(("File SHA-256".into(), r.file_sha256.clone()));
            facts.push(("Took".into(), format!("{:.1} s", r.duration_ms as f64 / 1000.0)));
        }
        if let Err(e) = outcome {
            facts.push(("Reason".into(), e.to_string()));
        }
        facts
    }

    /// What to do about a refusal, in a sentence.
    fn todo(&self, register: Register, e: &ImportError) -> String {
        let reg = register.label();
        if e.is_refusal() {
            let needed = self
                .lead_time(register)
                .before(crate::domain::time::today_uk())
                .map(|d| format!(" dated {} or later", day(d)))
                .unwrap_or_default();
            format!("the snapshot in force is unchanged. Check the file and import a whole {reg} file{needed}.",)
        } else {
            "the snapshot in force is unchanged. The service could not finish the import: see its log, then import the file again.".into()
        }
    }

    /// The watchdog of a `--spool` run that started at `started` (UTC) with these files: held in
    /// the outbox, replaced by the run's report when it ends, and sent in its place if the run
    /// never ends (killed, out of memory, the machine down) — `SPOOL_WATCHDOG` later.
    pub fn spool_watchdog(&self, started: chrono::NaiveDateTime, names: &[String]) -> Option<NewMessage> {
        if !self.reports() {
            return None;
        }
        let at = crate::domain::time::uk(started);
        let when = format!("{} at {}", day(at.date()), at.format("%H:%M"));
        let subject = format!("FAILED: the nightly import started {when} did not finish");
        let headline = format!(
            "The nightly import started {when} with {} register files and stopped before it finished: it was killed, ran out of memory, or the machine went down.",
            names.len()
        );
        let facts: Vec<(String, String)> = names.iter().map(|n| (n.clone(), "in the run".to_owned())).collect();
        let todo = "see the import history on the registers page for what was applied, and the spool folder for what is left; then run the import again.";
        let mut m = self.report(
            SPOOL_REPORT,
            &subject,
            &headline,
            &facts,
            todo,
            Some(format!("spool_watchdog:{}", hex::encode(rand::random::<[u8; 12]>()))),
        )?;
        m.status = crate::store::outbox::HELD.to_owned();
        m.created_at = started;
        m.next_attempt_at = started;
        Some(m)
    }

    /// One message for a whole `--spool` run.
    pub fn spool_report(&self, files: &[SpoolFile<'_>]) -> Option<NewMessage> {
        if !self.reports() {
            return None;
        }
        let failed: Vec<&SpoolFile<'_>> = files.iter().filter(|f| f.outcome.is_err()).collect();
        let subject = if files.is_empty() {
            "FAILED: nightly import found no register files in the spool".to_owned()
        } else if let Some(first) = failed.first() {
            let e = first.outcome.err().map(|e| e.short()).unwrap_or_default();
            format!("FAILED: {} of {} register files refused ({} {}: {e})", failed.len(), files.len(), first.register.label(), first.as_of)
        } else {
            let each: Vec<String> = files.iter().map(|f| self.import_subject(f.register, f.as_of, f.outcome)).collect();
            each.join("; ")
        };
        let headline = if files.is_empty() {
            "The nightly import ran and found no register files to import. The registers are unchanged.".to_owned()
        } else {
            format!(
                "The nightly import read {} register files: {} imported, {} refused.",
                files.len(),
                files.len() - failed.len(),
                failed.len()
            )
        };
        let facts: Vec<(String, String)> = files
            .iter()
            .map(|f| {
                let what = match f.outcome {
                    Ok(r) if r.already_imported => "imported before: nothing changed".to_owned(),
                    Ok(r) => format!("imported: {}, {} entries", changes(r.added, r.removed), count(r.entries_after)),
                    Err(e) => format!("FAILED: {e}"),
                };
                (f.name.to_owned(), what)
            })
            .collect();
        let todo = match failed.first() {
            Some(f) => f
                .outcome
                .err()
                .map(|e| format!("refused files are in the spool's failed/ folder. For {}: {}", f.name, self.todo(f.register, e)))
                .unwrap_or_default(),
            None if files.is_empty() => "check that the register files are delivered to the spool folder.".into(),
            None => String::new(),
        };
        self.report(SPOOL_REPORT, &subject, &headline, &facts, &todo, None)
    }

    /// The staleness alarm for a register whose snapshot is dated `as_of` (None: never
    /// imported), if it is due on `today` (`registers::alarm_due`). At most
    /// one a register a day: the message carries that as its dedupe key.
    pub fn stale_alarm(&self, register: Register, as_of: Option<NaiveDate>, today: NaiveDate) -> Option<NewMessage> {
        let reg = register.label();
        if !self.reports() {
            return None;
        }
        let lead = self.lead_time(register);
        let until = as_of.and_then(|d| lead.after(d));
        if !crate::registers::alarm_due(until, today) {
            return None;
        }
        let left = until.map(|u| (u - today).num_days());
        // A file that covers today, and newer than the snapshot in force (an older one is refused).
        let needed = match (lead.before(today), as_of.and_then(|d| d.succ_opt())) {
            (Some(cover), Some(newer)) => Some(cover.max(newer)),
            (cover, None) => cover,
            (None, newer) => newer,
        }
        .map(|d| format!(" dated {} or later", day(d)))
        .unwrap_or_default();
        let subject = match (as_of, until, left) {
            (Some(d), Some(u), Some(l)) if l < 0 => format!("STALE: {reg} {d} expired on {u}: import a newer {reg} file"),
            (Some(d), Some(u), Some(l)) => format!("{reg} {d} valid until {u} ({l} days left): import a newer {reg} file"),
            _ => format!("STALE: {reg} has never been imported: import {} {reg} file", a(reg)),
        };
        let headline = match (as_of, until, left) {
            (Some(d), Some(u), Some(l)) if l < 0 => format!(
                "The {reg} snapshot in force is dated {} and was valid until {}: {} lists cannot be screened until a newer file is imported.",
                day(d),
                day(u),
                register.channel()
            ),
            (Some(d), Some(u), _) => format!("The {reg} snapshot in force is dated {} and is valid until {}.", day(d), day(u)),
            _ => format!("{reg} has never been imported: {} lists cannot be screened against it.", register.channel()),
        };
        let mut facts = vec![("Register".to_owned(), register.label().to_owned())];
        facts.push(("Snapshot dated".into(), as_of.map_or_else(|| "none".into(), day)));
        if let Some(u) = until {
            facts.push(("Valid until".into(), day(u)));
        }
        facts.push(("Lead time".into(), lead.to_string()));
        let todo = format!("import {} {reg} file{needed} (by the nightly spool, `suppress import`, or the registers page).", a(reg));
        let dedupe = format!("{STALE_ALARM}:{reg}:{today}");
        self.report(STALE_ALARM, &subject, &headline, &facts, &todo, Some(dedupe))
    }

    fn report(
        &self,
        kind: &str,
        subject: &str,
        headline: &str,
        facts: &[(String, String)],
        todo: &str,
        dedupe: Option<String>,
    ) -> Option<NewMessage> {
        let text = ReportText { headline, facts, todo, public_url: &self.public_url }.render();
        let html = ReportHtml { subject, headline, facts, todo, public_url: &self.public_url }.render();
        let (text, html) = match (text, html) {
            (Ok(t), Ok(h)) => (t, h),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, kind, "could not compose a message");
                return None;
            }
        };
        Some(self.message(kind, &self.report_to, subject, text, html, None, dedupe))
    }

    /// The confirmation of an opt-out that names an email address, to that address, if
    /// confirmations are on. `unsubscribe_url` is the address's one-click link.
    pub fn confirmation(&self, rows: &[NewStatement], unsubscribe_url: impl FnOnce(&str) -> Option<String>) -> Option<NewMessage> {
        if !self.on || !self.confirm_opt_outs || rows.iter().any(|r| r.kind != StatementKind::OptOut) {
            return None;
        }
        let email = rows.iter().find(|r| r.channel == Channel::Email)?.contact_key.clone();
        let url = unsubscribe_url(&email)?;
        let at = rows.first().map_or_else(now_utc, |r| r.recorded_at);
        let lines: Vec<String> = rows
            .iter()
            .map(|r| match r.channel {
                Channel::Email => "no marketing emails to this address".to_owned(),
                Channel::Call => format!("no marketing calls to the number {}", mask(&r.contact_key)),
                Channel::Sms => format!("no marketing texts to the number {}", mask(&r.contact_key)),
                Channel::Mail => "no marketing post to your postal address".to_owned(),
            })
            .collect();
        let when = crate::domain::time::uk(at);
        let said = Said { headline: format!("We have recorded your request of {} at {}:", day(when.date()), when.format("%H:%M")), lines };
        let params = serde_json::to_string(&said).ok()?;
        // What to say, not the parts: a small row in the opt-out's commit; the sender renders it.
        // (One an address a day: the writer skips it when the address's email opt-out was already
        // recorded today, `app::statements::record`.)
        let mut m = self.message(
            OPT_OUT_CONFIRMATION,
            std::slice::from_ref(&email),
            CONFIRMATION_SUBJECT,
            String::new(),
            String::new(),
            Some(url),
            None,
        );
        m.params = Some(params);
        Some(m)
    }

    #[allow(clippy::too_many_arguments)]
    fn message(
        &self,
        kind: &str,
        to: &[String],
        subject: &str,
        text: String,
        html: String,
        unsubscribe_url: Option<String>,
        dedupe: Option<String>,
    ) -> NewMessage {
        let now = now_utc();
        NewMessage {
            kind: kind.to_owned(),
            recipients: to.join(", "),
            to_masked: to.iter().map(|a| mask_email(a)).collect::<Vec<_>>().join(", "),
            subject: subject.to_owned(),
            body_text: text,
            body_html: html,
            params: None,
            unsubscribe_url,
            message_id: format!("<{}@{}>", hex::encode(rand::random::<[u8; 16]>()), self.domain),
            dedupe,
            created_at: now,
            status: PENDING.to_owned(),
            next_attempt_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registers::import::Kind;

    fn mail() -> Mail {
        let settings = MailSettings {
            smtp_url: Some(crate::config::Hidden::new("smtp://127.0.0.1:25".into())),
            from: Some("Suppress <suppress@example.com>".into()),
            report_to: vec!["ops@example.com".into(), "dpo@example.com".into()],
            confirm_opt_outs: true,
            ..MailSettings::default()
        };
        Mail::new(&settings, HashMap::new(), "https://suppress.example.com".into())
    }

    fn report(added: u64, removed: u64) -> Report {
        Report {
            register: Register::Tps,
            as_of: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap_or_default(),
            kind: Kind::Full,
            file_sha256: "ab".repeat(32),
            records: 17_003_912,
            added,
            removed,
            unchanged: 17_000_000,
            rejected: 0,
            rejected_samples: vec![],
            entries_after: 17_003_898,
            duration_ms: 2_345,
            already_imported: false,
        }
    }

    #[test]
    fn an_import_report_says_what_happened_in_its_subject() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap_or_default();
        let r = report(3_912, 14);
        let m = mail().import_report(Register::Tps, d, Ok(&r)).expect("a report");
        assert_eq!(m.subject, "TPS 2026-11-24 imported: +3,912 −14, valid until 2026-12-22");
        assert_eq!(m.recipients, "ops@example.com, dpo@example.com");
        assert_eq!(m.to_masked, "o…@example.com, d…@example.com");
        assert!(m.body_text.contains("Entries now: 17,003,898"), "{}", m.body_text);
        assert!(m.body_html.contains("22 Dec 2026"), "{}", m.body_html);
        assert!(m.message_id.ends_with("@example.com>"), "{}", m.message_id);

        let failed = ImportError::Truncated("the file ends inside a record".into());
        let m = mail().import_report(Register::Mps, d, Err(&failed)).expect("a report");
        assert_eq!(m.subject, "FAILED: MPS 2026-11-24 import refused: truncated file");
        assert!(m.body_text.contains("What to do:"), "{}", m.body_text);
    }

    #[test]
    fn a_confirmation_row_holds_what_to_say_and_the_sender_renders_it() {
        let said = crate::domain::preference::Said::new(StatementKind::OptOut, crate::domain::Source::Web, now_utc(), None, None, None)
            .expect("a statement");
        let rows = NewStatement::for_targets(
            vec![("+447911123456".into(), Channel::Call), ("ann@example.com".into(), Channel::Email)],
            &said,
            "api:test",
        );
        let m = mail().confirmation(&rows, |e| Some(format!("https://s.example.com/u/{e}"))).expect("a confirmation");
        assert_eq!((m.body_text.as_str(), m.body_html.as_str()), ("", ""));
        assert_eq!(m.recipients, "ann@example.com");
        let (text, html) = render(&m.kind, &m.subject, m.params.as_deref().expect("params"), m.unsubscribe_url.as_deref()).expect("parts");
        assert!(
            text.contains("- no marketing calls to the number +447*******56") && text.contains("https://s.example.com/u/ann@example.com"),
            "{text}"
        );
        assert!(html.contains("<li>no marketing emails to this address</li>"), "{html}");
        assert!(render(IMPORT_REPORT, "x", "{}", None).is_err());
    }

    #[test]
    fn nothing_is_composed_without_email_or_recipients() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap_or_default();
        let r = report(1, 0);
        assert!(Mail::off().import_report(Register::Tps, d, Ok(&r)).is_none());
        assert!(mail().without_reports().import_report(Register::Tps, d, Ok(&r)).is_none());
        assert!(mail().without_reports().stale_alarm(Register::Tps, None, d).is_none());
    }

    #[test]
    fn alarms_come_three_days_ahead_and_carry_their_day() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap_or_default();
        // TPS: valid 28 days after its date.
        let fresh = today - chrono::Days::new(20);
        assert!(mail().stale_alarm(Register::Tps, Some(fresh), today).is_none());
        let soon = today - chrono::Days::new(26);
        let m = mail().stale_alarm(Register::Tps, Some(soon), today).expect("an alarm 2 days ahead");
        assert_eq!(m.subject, "TPS 2026-11-01 valid until 2026-11-29 (2 days left): import a newer TPS file");
        assert_eq!(m.dedupe.as_deref(), Some("stale_alarm:TPS:2026-11-27"));
        // The file to import is newer than the snapshot in force (an older one would be refused).
        assert!(m.body_text.contains("import a TPS file dated 2 Nov 2026 or later"), "{}", m.body_text);
        let gone = today - chrono::Days::new(40);
        assert!(mail()
            .stale_alarm(Register::Tps, Some(gone), today)
            .expect("an alarm")
            .subject
            .starts_with("STALE: TPS 2026-10-18 expired on"));
        let never = mail().stale_alarm(Register::Mps, None, today).expect("an alarm");
        assert_eq!(never.subject, "STALE: MPS has never been imported: import an MPS file");
    }
}
