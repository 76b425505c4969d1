//! Typed settings, from the environment and flags (flags win), passed explicitly.
//!
//! `Settings::default()` is where every default is written: the command line's defaults are
//! taken from it (`cli::ServeArgs`), never written a second time.

use std::collections::HashMap;
use std::time::Duration;

use crate::domain::channel::LeadTime;
use crate::domain::Register;

/// Where the embedded default database lives.
pub const DEFAULT_DATABASE_URL: &str = "data/suppress.db";

/// The share of a register's entries a full file may remove unless forced (CONTRACT §4).
pub const DEFAULT_MAX_REMOVAL_PERCENT: f64 = 10.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub database_url: String,
    pub bind: String,
    /// Largest list or register body (CONTRACT §8).
    pub max_upload_bytes: u64,
    /// Largest JSON body.
    pub max_json_bytes: usize,
    /// An upload's body that sends nothing for this long is cut off (408).
    pub upload_idle_timeout: Duration,
    /// Uploads (lists, register files) read and processed at once; more wait for none (503).
    pub max_uploads: usize,
    pub result_retention: Duration,
    /// HTTP worker threads; 0 means half the cores, at least one (`http::default_workers`).
    pub workers: usize,
    pub pool_size: u32,
    /// How long a key's role is trusted from memory before the database is asked again.
    pub key_cache: Duration,
    /// A full register file that would remove more than this share of entries is refused
    /// (`SUPPRESS_MAX_REMOVAL_PERCENT`; the HTTP and the CLI imports alike).
    pub max_removal_percent: f64,
    /// How often the server looks for register snapshots imported elsewhere.
    pub register_poll: Duration,
    /// Lead times (CONTRACT §1): each register's default unless configured; a register left
    /// out keeps its default.
    pub lead_times: HashMap<Register, LeadTime>,
    /// A page session ends after this long without use (`SUPPRESS_SESSION_IDLE`).
    pub session_idle: Duration,
    /// A page session ends this long after sign-in, used or not.
    pub session_max: Duration,
    /// The address people reach the service at (`SUPPRESS_PUBLIC_URL`); `https://` makes the
    /// session cookie `Secure`. None: `http://` and the bind address.
    pub public_url: Option<String>,
    /// The server's secret for signed links (`SUPPRESS_SECRET`): at least 32 bytes, hex or base64.
    /// None: generated at first start and kept with the data (`app::secret`).
    pub secret: Option<Hidden>,
    /// Email (CONTRACT §11).
    pub mail: MailSettings,
}

/// Email settings (CONTRACT §11), checked at start (`notify::Mailer::new`): one that cannot work
/// stops the service naming it.
#[derive(Debug, Clone, PartialEq)]
pub struct MailSettings {
    /// `SUPPRESS_SMTP_URL`: `smtp://[user:password@]host[:port]` (STARTTLS where offered) or
    /// `smtps://…` (TLS from the start). None: no email. Hidden: it may hold a password.
    pub smtp_url: Option<Hidden>,
    /// `SUPPRESS_SMTP_CA_FILE`: PEM certificates trusted besides the public roots (a private relay).
    pub ca_file: Option<std::path::PathBuf>,
    /// `SUPPRESS_MAIL_FROM`: the From of every message.
    pub from: Option<String>,
    /// `SUPPRESS_REPORT_TO`: who gets import reports and staleness alarms.
    pub report_to: Vec<String>,
    /// `SUPPRESS_CONFIRM_OPT_OUTS`: confirm opt-outs that name an email address to that address.
    pub confirm_opt_outs: bool,
    /// The first retry of a failed send waits this long; each next one twice as long (at most an
    /// hour), until `retry_for` after the message was written, when it is marked failed.
    pub retry_base: Duration,
    pub retry_for: Duration,
    /// How often the outbox worker looks for messages to send.
    pub poll: Duration,
    /// How often the server checks for stale registers (besides at start and after imports).
    pub alarm_every: Duration,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            smtp_url: None,
            ca_file: None,
            from: None,
            report_to: Vec::new(),
            confirm_opt_outs: false,
            retry_base: Duration::from_secs(30),
            retry_for: Duration::from_secs(24 * 3600),
            poll: Duration::from_secs(1),
            alarm_every: Duration::from_secs(600),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: DEFAULT_DATABASE_URL.into(),
            bind: "127.0.0.1:8080".into(),
            max_upload_bytes: 2 << 30,
            max_json_bytes: 1 << 20,
            upload_idle_timeout: Duration::from_secs(30),
            max_uploads: 8,
            result_retention: Duration::from_secs(7 * 86_400),
            workers: 0,
            pool_size: 8,
            key_cache: Duration::from_secs(5),
            max_removal_percent: DEFAULT_MAX_REMOVAL_PERCENT,
            register_poll: Duration::from_secs(1),
            lead_times: Register::ALL.iter().map(|&r| (r, r.default_lead_time())).collect(),
            session_idle: Duration::from_secs(30 * 60),
            session_max: Duration::from_secs(12 * 3600),
            public_url: None,
            secret: None,
            mail: MailSettings::default(),
        }
    }
}

/// A setting that must never be printed (the server's secret): its `Debug` hides it, so logging
/// the settings can never leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Hidden(String);

impl Hidden {
    pub fn new(value: String) -> Hidden {
        Hidden(value)
    }

    /// The value itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hidden(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_never_prints() {
        let settings = Settings {
            secret: Some(Hidden::new("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff".into())),
            ..Settings::default()
        };
        let printed = format!("{settings:?}");
        assert!(!printed.contains("0011223344"), "{printed}");
        assert!(printed.contains("Hidden(..)"));
    }
}
