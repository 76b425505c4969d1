//! Where the server's generated secret is kept (CONTRACT §8 `SUPPRESS_SECRET` unset): a file
//! beside the SQLite database (mode 0600), or the one-row `server_secret` table on PostgreSQL.
//! Whichever instance comes first writes its candidate; every other reads that one back.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use diesel::prelude::*;

use super::schema::server_secret;
use super::{on_backend, Store, Target};
use crate::domain::time::now_utc;

/// The file beside a SQLite database that holds its secret: `NAME.secret`.
pub fn secret_file(database: &Path) -> PathBuf {
    let mut name = database.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "suppress.db".into());
    name.push(".secret");
    database.with_file_name(name)
}

/// The stored secret; `candidate` is stored first if there is none yet. Its text is returned as
/// stored (the caller parses it).
pub fn load_or_insert(store: &Store, candidate: &str) -> anyhow::Result<String> {
    match &store.target {
        Target::Sqlite(path) => file_load_or_insert(&secret_file(path), candidate),
        Target::Postgres(_) => {
            let mut conn = store.conn()?;
            let row = (server_secret::id.eq(1), server_secret::secret.eq(candidate), server_secret::created_at.eq(now_utc()));
            on_backend!(&mut *conn, |c| {
                diesel::insert_into(server_secret::table).values(row).on_conflict_do_nothing().execute(c)?;
                server_secret::table.select(server_secret::secret).filter(server_secret::id.eq(1)).first::<String>(c)
            })
            .context("cannot read or store the server secret in the database")
        }
    }
}

/// Read the file, or create it holding `candidate` whole: written to a private temporary file
/// first and linked into place, so that no instance ever reads it half written, and of two
/// instances starting at once one link wins and both read the winner.
fn file_load_or_insert(path: &Path, candidate: &str) -> anyhow::Result<String> {
    if let Some(text) = read(path)? {
        return Ok(text);
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // A temporary file is made readable by its owner only (0600 on Unix); the link keeps that.
    let mut tmp = tempfile::Builder::new()
        .prefix(".secret-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write the server secret in {}", dir.display()))?;
    tmp.write_all(candidate.as_bytes()).and_then(|()| tmp.as_file().sync_all()).context("cannot write the server secret")?;
    match std::fs::hard_link(tmp.path(), path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("cannot create the server secret file {}", path.display())),
    }
    read(path)?.with_context(|| format!("the server secret file {} vanished", path.display()))
}

fn read(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read the server secret file {}", path.display())),
    }
}
