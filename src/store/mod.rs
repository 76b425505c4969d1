//! Storage on diesel: one code base for SQLite (embedded default) and PostgreSQL, chosen at run
//! time from the database URL. Only this module imports diesel.

pub mod columns;
pub mod keys;
pub mod outbox;
pub mod registers;
pub mod schema;
pub mod scrubs;
pub mod secret;
pub mod statements;
pub mod users;
pub mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub use columns::{CorruptJson, ImportKind, ImportStatus, ScrubState};
pub use diesel::r2d2::PoolError;
pub use diesel::result::Error as QueryError;
pub type QueryResult<T> = Result<T, QueryError>;

/// One connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Run the same diesel code on the inner connection of either backend, for what does not compile
/// through the multi-connection (RETURNING, multi-row inserts, ON CONFLICT, COPY).
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::DbConnection::Sqlite($c) => $body,
            $crate::store::DbConnection::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_backend;

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConnection = r2d2::PooledConnection<Manager>;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Every SQLite connection: WAL so readers never wait for the writer, FULL sync so a statement is
/// on disk when its 201 is sent, and a busy timeout instead of an immediate `database is locked`.
/// The busy timeout comes first so that the others wait rather than fail; WAL is set once, on
/// the file, before the pool opens (connections switching it at once would lock each other out).
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 30000; PRAGMA synchronous = FULL; \
    PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;";

/// Which database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Target {
    /// `postgres://…` / `postgresql://…` is PostgreSQL; `sqlite://path`, `sqlite:path` or a plain
    /// path is SQLite; any other scheme is an error (diesel would otherwise try PostgreSQL, then
    /// silently create a SQLite file named like the URL).
    pub fn parse(url: &str) -> anyhow::Result<Target> {
        let url = url.trim();
        if url.is_empty() {
            bail!("the database URL is empty");
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Target::Postgres(url.to_owned()));
        }
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if path.is_empty() {
                bail!("the SQLite URL {url:?} names no file");
            }
            return Ok(Target::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            bail!("unknown database URL scheme {scheme:?}: use postgres://…, sqlite://PATH or a plain file path");
        }
        if let Some((scheme, _)) = url.split_once(':').filter(|(s, _)| s.len() > 1 && s.chars().all(|c| c.is_ascii_alphanumeric())) {
            bail!("unknown database URL scheme {scheme:?}: use postgres://…, sqlite://PATH or a plain file path");
        }
        Ok(Target::Sqlite(PathBuf::from(url)))
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Target::Sqlite(_) => "sqlite",
            Target::Postgres(_) => "postgres",
        }
    }
}

/// Makes pooled connections for a [`Target`], with the SQLite settings applied to each.
#[derive(Debug, Clone)]
pub struct Manager {
    target: Target,
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.target {
            Target::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy()).map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(SQLITE_PRAGMAS).map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
            Target::Postgres(url) => PgConnection::establish(url).map(DbConnection::Postgres).map_err(r2d2::Error::ConnectionError),
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

/// An open database: the pool and what it points at.
#[derive(Clone)]
pub struct Store {
    pub pool: Pool,
    pub target: Target,
}

impl Store {
    /// Open (and for SQLite create, with its folder) the database, and run pending migrations.
    pub fn open(url: &str, pool_size: u32) -> anyhow::Result<Store> {
        let target = Target::parse(url)?;
        if let Target::Sqlite(path) = &target {
            prepare_sqlite_file(path)?;
        }
        let pool = r2d2::Pool::builder()
            .max_size(pool_size.max(2))
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(30))
            .build(Manager { target: target.clone() })
            .with_context(|| format!("cannot connect to the {} database", target.backend()))?;
        let store = Store { pool, target };
        let applied = store.migrate()?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "applied database migrations");
        }
        Ok(store)
    }

    pub fn conn(&self) -> anyhow::Result<PooledConnection> {
        self.pool.get().context("no database connection available")
    }

    /// Run pending migrations; returns the versions applied.
    pub fn migrate(&self) -> anyhow::Result<Vec<String>> {
        let mut conn = self.conn()?;
        run_migrations(&mut conn)
    }

    pub fn backend(&self) -> &'static str {
        self.target.backend()
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self.target, Target::Sqlite(_))
    }
}

fn prepare_sqlite_file(path: &Path) -> anyhow::Result<()> {
    if !path.exists() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create the folder {} for the SQLite database", dir.display()))?;
        }
        tracing::warn!(path = %path.display(), "no SQLite database at this path: creating a new, empty one");
    }
    let mut conn = SqliteConnection::establish(&path.to_string_lossy())
        .with_context(|| format!("cannot open the SQLite database {}", path.display()))?;
    conn.batch_execute("PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL;")
        .with_context(|| format!("cannot put the SQLite database {} in WAL mode", path.display()))?;
    Ok(())
}

fn run_migrations(conn: &mut DbConnection) -> anyhow::Result<Vec<String>> {
    let versions = match conn {
        DbConnection::Sqlite(c) => {
            c.run_pending_migrations(SQLITE_MIGRATIONS).map_err(|e| anyhow::anyhow!("{e}"))?.iter().map(ToString::to_string).collect()
        }
        DbConnection::Postgres(c) => {
            // Several instances may start at once against one database: one migrates, the
            // others wait for it.
            c.batch_execute("SELECT pg_advisory_lock(7413000001)")?;
            let result = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .map(|v| v.iter().map(ToString::to_string).collect::<Vec<_>>());
            c.batch_execute("SELECT pg_advisory_unlock(7413000001)")?;
            result?
        }
    };
    Ok(versions)
}

/// Whether an error is a unique-constraint violation.
pub fn is_unique_violation(e: &QueryError) -> bool {
    matches!(e, QueryError::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))
}

impl Store {
    /// Whether the database answers.
    pub fn ping(&self) -> anyhow::Result<()> {
        let mut conn = self.conn()?;
        conn.batch_execute("SELECT 1")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Target;
    use std::path::{Path, PathBuf};

    /// Only this module uses diesel, and so only it runs queries and transactions: no other
    /// source file names diesel outside its comments.
    #[test]
    fn only_the_store_uses_diesel() {
        fn walk(dir: &Path, store: &Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
                let path = entry.path();
                if path == store {
                    continue;
                }
                if path.is_dir() {
                    walk(&path, store, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    for (i, line) in text.lines().enumerate() {
                        let code = line.split("//").next().unwrap_or_default();
                        if code.contains("diesel") {
                            found.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                        }
                    }
                }
            }
        }
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        walk(&src, &src.join("store"), &mut found);
        assert!(found.is_empty(), "diesel outside src/store:\n{}", found.join("\n"));
    }

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(Target::parse("data/suppress.db").ok(), Some(Target::Sqlite(PathBuf::from("data/suppress.db"))));
        assert_eq!(Target::parse("sqlite:///tmp/x.db").ok(), Some(Target::Sqlite(PathBuf::from("/tmp/x.db"))));
        assert_eq!(Target::parse("sqlite:x.db").ok(), Some(Target::Sqlite(PathBuf::from("x.db"))));
        assert!(matches!(Target::parse("postgres://u@h/db"), Ok(Target::Postgres(_))));
        assert!(matches!(Target::parse("postgresql://u@h/db"), Ok(Target::Postgres(_))));
        for bad in ["mysql://u@h/db", "postgress://u@h/db", "http://x", "redis:x", ""] {
            assert!(Target::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
