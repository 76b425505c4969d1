//! The command line: `suppress serve | migrate | keys | users | import | scrub | demo`.

mod demo;
mod import;
mod keys;
mod scrub;
mod users;

pub use crate::app::keys::create as create_key;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{MailSettings, Settings, DEFAULT_DATABASE_URL, DEFAULT_MAX_REMOVAL_PERCENT};
use crate::domain::secret::Secret;
use crate::domain::time::{format_duration, parse_duration};
use crate::domain::Register;
use crate::store::Store;

/// UK marketing suppression: in-house opt-outs and consents merged with TPS, CTPS and MPS.
#[derive(Debug, Parser)]
#[command(name = "suppress", version, about)]
pub struct Cli {
    /// The database: a SQLite file path (or sqlite://PATH), or postgres://…
    #[arg(long, global = true, env = "SUPPRESS_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Create, list, disable and reset the users who sign in to the pages.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Load files: legacy opt-outs, or register files (TPS, CTPS, MPS).
    Import(import::ImportArgs),
    /// Scrub a campaign list against in-house statements and the registers.
    Scrub(Box<ScrubArgs>),
    /// Check each register's snapshot: print its date and how long it vouches for, write today's
    /// staleness alarms to the outbox and send them (for cron: exit 1 when any register is stale).
    CheckRegisters(CheckArgs),
    /// Run the API on a demo database (data/demo.db) loaded with sample statements, printing a
    /// key for each role.
    Demo(ServeArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SUPPRESS_BIND", default_value_t = Settings::default().bind)]
    pub bind: String,
    /// Largest list or register upload, in bytes.
    #[arg(long, env = "SUPPRESS_MAX_UPLOAD_BYTES", default_value_t = Settings::default().max_upload_bytes)]
    pub max_upload_bytes: u64,
    /// Largest JSON request body, in bytes.
    #[arg(long, env = "SUPPRESS_MAX_JSON_BYTES", default_value_t = Settings::default().max_json_bytes)]
    pub max_json_bytes: usize,
    /// An upload whose body sends nothing for this long is cut off with 408 (30s, 2m).
    #[arg(long, env = "SUPPRESS_UPLOAD_IDLE_TIMEOUT", default_value_t = format_duration(Settings::default().upload_idle_timeout))]
    pub upload_idle_timeout: String,
    /// Uploads (lists, register files) taken at once; past it 503 with Retry-After.
    #[arg(long, env = "SUPPRESS_MAX_UPLOADS", default_value_t = Settings::default().max_uploads as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_uploads: u64,
    /// How long scrub results stay downloadable (7d, 12h, 90s).
    #[arg(long, env = "SUPPRESS_RESULT_RETENTION", default_value_t = format_duration(Settings::default().result_retention))]
    pub result_retention: String,
    /// HTTP worker threads (0: half the cores, at least one).
    #[arg(long, env = "SUPPRESS_WORKERS", default_value_t = Settings::default().workers)]
    pub workers: usize,
    #[command(flatten)]
    pub lead_times: LeadTimeArgs,
    #[command(flatten)]
    pub limit: RemovalLimitArgs,
    /// Database connections in the pool.
    #[arg(long, env = "SUPPRESS_DB_POOL_SIZE", default_value_t = Settings::default().pool_size)]
    pub pool_size: u32,
    /// A page session ends after this long without use (30m).
    #[arg(long, env = "SUPPRESS_SESSION_IDLE", default_value_t = format_duration(Settings::default().session_idle))]
    pub session_idle: String,
    /// The address people reach the service at; https:// makes the session cookie Secure
    /// (default: http:// and the bind address).
    #[arg(long, env = "SUPPRESS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The secret signed links are made with: at least 32 bytes, hex or base64 (default: one
    /// generated at first start and kept with the data, shared by every instance on the database).
    #[arg(long, env = "SUPPRESS_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    #[command(flatten)]
    pub mail: MailArgs,
}

/// Email (CONTRACT §11), shared by every command that writes or sends messages.
#[derive(Debug, Clone, clap::Args)]
pub struct MailArgs {
    /// smtp://[user:password@]host[:port] (STARTTLS where the server offers it) or smtps://…
    /// (TLS from the start). Unset: no email is sent.
    #[arg(long, env = "SUPPRESS_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// PEM certificates to trust besides the public roots (a relay with a private CA).
    #[arg(long, env = "SUPPRESS_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,
    /// The From of every message, e.g. "Suppress <suppress@example.com>".
    #[arg(long, env = "SUPPRESS_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Who gets import reports and staleness alarms (comma-separated addresses).
    #[arg(long, env = "SUPPRESS_REPORT_TO", value_delimiter = ',')]
    pub report_to: Vec<String>,
    /// Confirm each opt-out that names an email address to that address (true or false).
    #[arg(long, env = "SUPPRESS_CONFIRM_OPT_OUTS", default_value = "false")]
    pub confirm_opt_outs: String,
    /// The first retry of an unsent message waits this long, each next one twice as long (at
    /// most an hour).
    #[arg(long, env = "SUPPRESS_MAIL_RETRY_BASE", default_value_t = format_duration(MailSettings::default().retry_base))]
    pub mail_retry_base: String,
    /// An unsent message is retried for this long after it was written, then marked failed.
    #[arg(long, env = "SUPPRESS_MAIL_RETRY_FOR", default_value_t = format_duration(MailSettings::default().retry_for))]
    pub mail_retry_for: String,
}

impl MailArgs {
    pub fn settings(&self) -> anyhow::Result<MailSettings> {
        let positive = |name: &'static str, v: &str| {
            parse_duration(v)
                .and_then(|d| if d.is_zero() { Err("must be at least 1s".into()) } else { Ok(d) })
                .map_err(anyhow::Error::msg)
                .context(name)
        };
        let settings = MailSettings {
            smtp_url: self.smtp_url.as_deref().map(str::trim).filter(|u| !u.is_empty()).map(|u| crate::config::Hidden::new(u.to_owned())),
            ca_file: self.smtp_ca_file.clone(),
            from: self.mail_from.as_deref().map(str::trim).filter(|f| !f.is_empty()).map(str::to_owned),
            report_to: self.report_to.iter().map(|a| a.trim()).filter(|a| !a.is_empty()).map(str::to_owned).collect(),
            confirm_opt_outs: match self.confirm_opt_outs.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => true,
                "false" | "no" | "off" | "0" | "" => false,
                _ => anyhow::bail!("SUPPRESS_CONFIRM_OPT_OUTS: {:?} is neither true nor false", self.confirm_opt_outs),
            },
            retry_base: positive("SUPPRESS_MAIL_RETRY_BASE", &self.mail_retry_base)?,
            retry_for: positive("SUPPRESS_MAIL_RETRY_FOR", &self.mail_retry_for)?,
            ..MailSettings::default()
        };
        // A setting that cannot work stops the command here, naming it.
        crate::notify::check(&settings)?;
        Ok(settings)
    }
}

/// What a command that writes reports and alarms needs besides the mail settings: the lead times
/// (a report's valid-until) and the address the links name (`import`, `check-registers`).
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub lead_times: LeadTimeArgs,
    #[command(flatten)]
    pub mail: MailArgs,
    /// The address people reach the service at, for the links in messages.
    #[arg(long, env = "SUPPRESS_PUBLIC_URL")]
    pub public_url: Option<String>,
}

impl ReportArgs {
    /// The checked mail settings, and what composes messages with them.
    pub fn mail(&self) -> anyhow::Result<(MailSettings, crate::app::mail::Mail)> {
        let settings = self.mail.settings()?;
        let public_url = self.public_url.as_deref().map(public_url).transpose().context("SUPPRESS_PUBLIC_URL")?.unwrap_or_default();
        let mail = crate::app::mail::Mail::new(&settings, self.lead_times.parse()?, public_url);
        Ok((settings, mail))
    }
}

/// `suppress check-registers`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub reports: ReportArgs,
}

/// Register lead times (CONTRACT §1), shared by every command that judges against registers.
#[derive(Debug, Clone, clap::Args)]
pub struct LeadTimeArgs {
    /// TPS lead time: how long after listing a registration binds, and how long a snapshot
    /// vouches for (28d).
    #[arg(long, env = "SUPPRESS_LEAD_TIME_TPS", default_value_t = default_lead_time(Register::Tps))]
    pub lead_time_tps: String,
    /// CTPS lead time (28d).
    #[arg(long, env = "SUPPRESS_LEAD_TIME_CTPS", default_value_t = default_lead_time(Register::Ctps))]
    pub lead_time_ctps: String,
    /// MPS lead time in calendar months or days (3m).
    #[arg(long, env = "SUPPRESS_LEAD_TIME_MPS", default_value_t = default_lead_time(Register::Mps))]
    pub lead_time_mps: String,
}

/// A register's lead time in `Settings::default()`, as a flag is written.
fn default_lead_time(r: Register) -> String {
    Settings::default().lead_times.get(&r).copied().unwrap_or_else(|| r.default_lead_time()).spec()
}

impl LeadTimeArgs {
    pub fn parse(&self) -> anyhow::Result<std::collections::HashMap<Register, crate::domain::channel::LeadTime>> {
        [(Register::Tps, &self.lead_time_tps), (Register::Ctps, &self.lead_time_ctps), (Register::Mps, &self.lead_time_mps)]
            .into_iter()
            .map(|(r, v)| v.parse().map(|l| (r, l)).map_err(|e: String| anyhow::anyhow!("lead time for {r}: {e}")))
            .collect()
    }
}

/// The removal limit of full register files, shared by every command that imports them (the
/// server's HTTP imports, `import`, the spool).
#[derive(Debug, Clone, clap::Args)]
pub struct RemovalLimitArgs {
    /// A full register file that would remove more than this percentage of the entries is
    /// refused unless forced (0 to 100).
    #[arg(long, env = "SUPPRESS_MAX_REMOVAL_PERCENT", default_value_t = DEFAULT_MAX_REMOVAL_PERCENT, value_parser = removal_percent)]
    pub max_removal_percent: f64,
}

fn removal_percent(s: &str) -> Result<f64, String> {
    s.trim().parse::<f64>().ok().filter(|p| (0.0..=100.0).contains(p)).ok_or_else(|| format!("{s:?} is not a percentage from 0 to 100"))
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Campaign,
    Agent,
    /// Reads preferences, checks, registers and their import histories, and scrubs; records nothing.
    Compliance,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user and print their one-time password alone on one line (changed at first sign-in).
    Create {
        #[arg(long, value_enum)]
        role: RoleArg,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
    },
    /// List users (names, roles, whether disabled; never passwords).
    List,
    /// Disable the user: they cannot sign in, and their sessions end at once.
    Disable { name: String },
    /// Give the user a new one-time password (printed alone on one line); their sessions end.
    Reset { name: String },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it alone on one line (only its hash is stored).
    Create {
        #[arg(long, value_enum)]
        role: RoleArg,
        #[arg(long)]
        name: String,
    },
    /// List keys (names, roles, dates; never the keys).
    List,
    /// Revoke the key of that name.
    Revoke { name: String },
}

/// `suppress scrub`: the same engine and outcomes as `POST /v1/scrubs`, and with `--store` the
/// same stored result.
#[derive(Debug, clap::Args)]
pub struct ScrubArgs {
    /// call, sms, mail or email.
    #[arg(long)]
    pub channel: String,
    /// The last day the list will be used (default: today, UK time).
    #[arg(long)]
    pub contact_date: Option<String>,
    /// strict (every listing suppresses) or statutory (listings bind from binding_from).
    #[arg(long, default_value = "strict")]
    pub mode: String,
    /// The target list (CSV with a header row).
    pub input: PathBuf,
    /// Where the kept rows go, as uploaded.
    #[arg(long)]
    pub out: PathBuf,
    /// The suppressed rows, with suppress_reason and suppress_detail.
    #[arg(long)]
    pub suppressed: Option<PathBuf>,
    /// Every row, with suppress_status, suppress_reason, suppress_key and suppress_detail.
    #[arg(long)]
    pub annotated: Option<PathBuf>,
    /// `,` `;` or `\t` (default: told from the header).
    #[arg(long)]
    pub delimiter: Option<String>,
    #[arg(long)]
    pub phone_column: Option<String>,
    #[arg(long)]
    pub email_column: Option<String>,
    #[arg(long)]
    pub postcode_column: Option<String>,
    #[arg(long)]
    pub surname_column: Option<String>,
    /// Address line columns, comma-separated.
    #[arg(long)]
    pub address_columns: Option<String>,
    /// Mail: `individual` (the default; the list needs a surname column) or `household` (every
    /// row judged at household level).
    #[arg(long, default_value = "individual")]
    pub mail_level: String,
    /// Also store the result as `POST /v1/scrubs` does (the same summary and evidence, its parts
    /// downloadable over the API until they expire), created by `cli:USER`; the stored summary
    /// is printed.
    #[arg(long)]
    pub store: bool,
    /// The stored scrub's name (with --store).
    #[arg(long, requires = "store")]
    pub name: Option<String>,
    /// How long a stored result stays downloadable (7d, 12h, 90s).
    #[arg(long, env = "SUPPRESS_RESULT_RETENTION", default_value_t = format_duration(Settings::default().result_retention))]
    pub result_retention: String,
    #[command(flatten)]
    pub lead_times: LeadTimeArgs,
}

impl ServeArgs {
    pub fn settings(&self, database_url: &str) -> anyhow::Result<Settings> {
        Ok(Settings {
            database_url: database_url.to_owned(),
            bind: self.bind.clone(),
            max_upload_bytes: self.max_upload_bytes,
            max_json_bytes: self.max_json_bytes,
            upload_idle_timeout: parse_duration(&self.upload_idle_timeout)
                .and_then(|d| if d.is_zero() { Err("an upload must be given at least 1s to send its next bytes".into()) } else { Ok(d) })
                .map_err(anyhow::Error::msg)
                .context("SUPPRESS_UPLOAD_IDLE_TIMEOUT")?,
            max_uploads: usize::try_from(self.max_uploads).unwrap_or(usize::MAX),
            result_retention: parse_duration(&self.result_retention).map_err(anyhow::Error::msg).context("SUPPRESS_RESULT_RETENTION")?,
            workers: self.workers,
            pool_size: self.pool_size,
            lead_times: self.lead_times.parse()?,
            max_removal_percent: self.limit.max_removal_percent,
            session_idle: parse_duration(&self.session_idle)
                .and_then(|d| if d.is_zero() { Err("a session must last at least 1s".into()) } else { Ok(d) })
                .map_err(anyhow::Error::msg)
                .context("SUPPRESS_SESSION_IDLE")?,
            public_url: self.public_url.as_deref().map(public_url).transpose().context("SUPPRESS_PUBLIC_URL")?,
            secret: self
                .secret
                .as_deref()
                .map(|s| Secret::parse(s).map(|_| crate::config::Hidden::new(s.trim().to_owned())))
                .transpose()
                .context("SUPPRESS_SECRET")?,
            mail: self.mail.settings()?,
            ..Settings::default()
        })
    }
}

/// `SUPPRESS_PUBLIC_URL`: an http or https address, kept without a trailing slash.
pub fn public_url(given: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(given.trim()).map_err(|e| anyhow::anyhow!("{given:?} is not an address: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        anyhow::bail!("{given:?} must be an http:// or https:// address");
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

pub fn open_store(url: &str) -> anyhow::Result<Store> {
    Store::open(url, 4)
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args.settings(&cli.database_url)?),
        Command::Migrate => {
            let store = open_store(&cli.database_url)?;
            println!("the {} database is up to date", store.backend());
            Ok(())
        }
        Command::Keys(cmd) => keys::run(&open_store(&cli.database_url)?, cmd),
        Command::Users(cmd) => users::run(&open_store(&cli.database_url)?, cmd),
        Command::Import(args) => import::run(&cli.database_url, args),
        Command::Scrub(args) => scrub::run(&cli.database_url, args),
        Command::CheckRegisters(args) => check_registers(&cli.database_url, &args),
        Command::Demo(args) => demo::run(&cli.database_url, args),
    }
}

/// Send what the command wrote to the outbox now (a command may run where no server does); what
/// cannot go within half a minute is left to the servers' workers, which retry it.
pub fn deliver(store: &Store, settings: &MailSettings) {
    let mailer = match crate::notify::check(settings) {
        Ok(Some(m)) => m,
        Ok(None) => return,
        Err(e) => return eprintln!("email: {e:#}"),
    };
    let writer = match crate::store::writer::Writer::start(store.pool.clone()) {
        Ok(w) => w,
        Err(e) => return eprintln!("email: could not start the writer ({e}); a server will send the outbox"),
    };
    let senders = crate::app::outbox::Senders::new(store.clone(), writer);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    match crate::notify::worker::drain(&senders, &mailer, settings, &crate::notify::worker::worker_id(), Some(deadline)) {
        Ok(0) => {}
        Ok(n) => eprintln!("email: {n} message(s) sent through {}", mailer.relay),
        Err(e) => eprintln!("email: could not send the outbox ({e:#}); a server will retry"),
    }
}

/// `suppress check-registers`: exit 1 (an error) when any register is stale.
fn check_registers(database_url: &str, args: &CheckArgs) -> anyhow::Result<()> {
    let store = open_store(database_url)?;
    let (settings, mail) = args.reports.mail()?;
    let states = crate::app::alarms::check(&store, &mail)?;
    let today = crate::domain::time::today_uk();
    for s in &states {
        let line = match (s.as_of, s.valid_until) {
            (Some(a), Some(u)) if s.stale => format!("STALE  {}: dated {a}, was valid until {u}", s.register.label()),
            (Some(a), Some(u)) => format!(
                "{}  {}: dated {a}, valid until {u} ({} days left)",
                if s.alarm { "SOON " } else { "ok   " },
                s.register,
                (u - today).num_days()
            ),
            _ => format!("STALE  {}: never imported", s.register.label()),
        };
        println!("{line}");
    }
    deliver(&store, &settings);
    let stale: Vec<String> = states.iter().filter(|s| s.stale).map(|s| s.register.label().to_owned()).collect();
    if !stale.is_empty() {
        anyhow::bail!("stale: {} (import newer files)", stale.join(", "));
    }
    Ok(())
}

/// Run the HTTP server until it is stopped.
pub fn serve(settings: Settings) -> anyhow::Result<()> {
    let store = Store::open(&settings.database_url, settings.pool_size)?;
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let bound = crate::http::bind(settings, store)?;
        tracing::info!(addr = %bound.addr, "listening");
        bound.server.await.context("the HTTP server failed")
    })
}

/// A progress bar for reading a file of `len` bytes: drawn on a terminal, hidden otherwise.
pub fn file_bar(len: Option<u64>) -> indicatif::ProgressBar {
    indicatif::ProgressBar::with_draw_target(len, indicatif::ProgressDrawTarget::stderr()).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    )
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;

    /// `suppress serve` with no flags runs on `Settings::default()`: the defaults are written
    /// once. (The `SUPPRESS_*` variables are set aside, so the test does not depend on the
    /// environment it runs in.)
    #[test]
    fn serve_runs_on_the_default_settings() {
        let cmd = Cli::command().mut_args(|a| a.env(None::<&str>)).mut_subcommand("serve", |s| s.mut_args(|a| a.env(None::<&str>)));
        let matches = cmd.try_get_matches_from(["suppress", "serve"]).expect("`suppress serve` parses");
        let cli = Cli::from_arg_matches(&matches).expect("the command line");
        let Command::Serve(args) = cli.command else { panic!("`suppress serve` parsed as another command") };
        assert_eq!(args.settings(&cli.database_url).expect("the default settings"), Settings::default());
    }
}
