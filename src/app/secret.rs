//! The server's secret (CONTRACT §8 `SUPPRESS_SECRET`): the one configured, or, when none is, the
//! one generated at first start and kept with the data (a file beside the SQLite database, a row
//! in PostgreSQL), so every instance sharing a database signs alike.

use anyhow::Context;

use crate::domain::secret::Secret;
use crate::store::Store;

/// The secret to run with: `configured` if given (refused, naming the variable, unless it is at
/// least 32 bytes of hex or base64), else the stored one, generated and stored first if needed.
pub fn load_or_create(store: &Store, configured: Option<&str>) -> anyhow::Result<Secret> {
    if let Some(text) = configured {
        return Secret::parse(text).context("SUPPRESS_SECRET");
    }
    let stored = crate::store::secret::load_or_insert(store, &Secret::generate_hex())?;
    Secret::parse(&stored).context("the stored server secret is damaged: set SUPPRESS_SECRET, or remove the stored one to generate another (links already sent stop working)")
}
