//! The application layer: the service's use cases, called alike by the HTTP handlers, the CLI and
//! (next) the pages and the mailer. A caller parses what it was given into plain strings, calls a
//! use case here, and renders what comes back; the rules the use cases apply live below them, in
//! `domain`, `scrub`, `inhouse` and `registers`, and every transaction in `store`.
//!
//! - `params`: one parser per request type, from plain strings (channels, dates, modes, columns).
//! - `statements`: record opt-outs and consents.
//! - `check`: may this number be called or texted (one or many): a one-row scrub each.
//! - `preferences`: what is known about one contact point, and its history.
//! - `scrubs`: scrub a list and store the result (the API's and `suppress scrub --store`), and read
//!   stored results back (summary, downloads, revocations).
//! - `keys`: create, list and revoke API keys.
//! - `users`: people who sign in to the pages: users, passwords, the sign-in hold, sessions.
//! - `imports`: import a register file (CLI, HTTP, spool), undo an import, bulk-load statements.
//! - `secret`: the server's secret, configured or generated once and kept with the data.
//! - `mail`: the messages the service sends (reports, alarms, confirmations), composed for the outbox.
//! - `alarms`: which registers are stale or about to be, and their daily alarm.
//! - `outbox`: the outbox as admins read it.
//! - `error`: the errors use cases answer, and the closed list of error codes.

pub mod alarms;
pub mod check;
pub mod error;
pub mod imports;
pub mod keys;
pub mod mail;
pub mod outbox;
pub mod params;
pub mod preferences;
pub mod scrubs;
pub mod secret;
pub mod statements;
pub mod users;

use std::sync::Arc;

use anyhow::Context;

pub use error::{AppError, ErrorCode};

use crate::config::Settings;
use crate::domain::unsubscribe::Tokens;
use crate::domain::Channel;
use crate::inhouse::in_force::InHouse;
use crate::registers::Registers;
use crate::scrub::Knowledge;
use crate::store::writer::Writer;
use crate::store::{DbConnection, Store};

/// What the use cases work over: the store and its statement writer, the register snapshots and
/// the in-house statements in force held in memory, and the settings. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub writer: Writer,
    pub registers: Arc<Registers>,
    /// The in-house statements in force, caught up before each use.
    pub in_house: Arc<InHouse>,
    pub settings: Arc<Settings>,
    /// Password checks running at once (sign-in, password changes).
    pub password_checks: Arc<users::PasswordChecks>,
    /// One-click unsubscribe tokens, signed under a key derived from the server's secret.
    pub unsubscribe: Arc<Tokens>,
    /// What the use cases write to the outbox (email settings; `Mail::off()` without SMTP).
    pub mail: Arc<mail::Mail>,
    /// The address links are written with (`SUPPRESS_PUBLIC_URL`, or `http://` and the address
    /// listened on), without a trailing slash.
    pub public_url: String,
}

impl App {
    /// Load the register snapshots and the statements in force, and start the statement writer.
    pub fn open(store: Store, settings: Settings) -> anyhow::Result<App> {
        let writer = Writer::start(store.pool.clone())?;
        let registers = Arc::new(Registers::load(&store, settings.lead_times.clone()).context("loading the register snapshots")?);
        let in_house = Arc::new(InHouse::load(&mut *store.conn()?).context("loading the in-house statements")?);
        let secret = secret::load_or_create(&store, settings.secret.as_ref().map(crate::config::Hidden::expose))?;
        let public_url = settings.public_url.clone().unwrap_or_else(|| format!("http://{}", settings.bind));
        let mail = Arc::new(mail::Mail::new(&settings.mail, settings.lead_times.clone(), public_url.clone()));
        Ok(App {
            mail,
            store,
            writer,
            registers,
            in_house,
            settings: Arc::new(settings),
            password_checks: Arc::new(users::PasswordChecks::new()),
            unsubscribe: Arc::new(Tokens::new(&secret)),
            public_url,
        })
    }

    /// Links are written with `public_url` from now on (the address actually listened on).
    pub fn set_public_url(&mut self, public_url: String) {
        let mut mail = (*self.mail).clone();
        mail.public_url = public_url.clone();
        self.mail = Arc::new(mail);
        self.public_url = public_url;
    }

    /// The one-click unsubscribe link of an email key (CONTRACT §11).
    pub fn unsubscribe_url(&self, email_key: &str) -> Option<String> {
        let key = crate::domain::EmailKey::parse(email_key).ok()?;
        Some(self.unsubscribe.link(&self.public_url, &key))
    }

    /// What is known now on `channel`: every statement committed before this call, and the
    /// register snapshots in force.
    pub fn knowledge(&self, conn: &mut DbConnection, channel: Channel) -> Result<Knowledge, AppError> {
        let in_house = self.in_house.current(conn)?.on(channel);
        Ok(Knowledge { in_house, registers: self.registers.view() })
    }
}
