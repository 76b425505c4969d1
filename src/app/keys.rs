//! API keys: create one (only its hash is stored), list them (never the keys), revoke one by name.

use serde_json::json;

use super::error::{AppError, ErrorCode};
use crate::domain::access::{generate_key, hash_key, Role};
use crate::domain::time::now_utc;
use crate::store::keys::{self, ApiKeyRow};
use crate::store::{is_unique_violation, Store};

/// Create a key named `name` with `role` and return it; only its hash is stored.
pub fn create(store: &Store, name: &str, role: Role) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::field(ErrorCode::InvalidText, "name", "a key needs a name"));
    }
    crate::domain::text::check("name", name, crate::domain::text::NAME)?;
    let key = generate_key();
    let mut conn = store.conn()?;
    match keys::insert(&mut conn, name, role, &hash_key(&key), now_utc()) {
        Ok(()) => Ok(key),
        Err(e) if is_unique_violation(&e) => Err(AppError::new(
            ErrorCode::KeyNameTaken,
            format!("a key named {name:?} is already in use: revoke it first or choose another name"),
        )
        .details(json!({ "field": "name" }))),
        Err(e) => Err(e.into()),
    }
}

/// Every key, in use or revoked.
pub fn list(store: &Store) -> Result<Vec<ApiKeyRow>, AppError> {
    Ok(keys::list(&mut *store.conn()?)?)
}

/// Revoke the key in use named `name`.
pub fn revoke(store: &Store, name: &str) -> Result<(), AppError> {
    crate::domain::text::check("name", name, crate::domain::text::NAME)?;
    if keys::revoke(&mut *store.conn()?, name, now_utc())? == 0 {
        return Err(AppError::not_found(format!("no key in use is named {name:?} (see suppress keys list)")));
    }
    Ok(())
}
