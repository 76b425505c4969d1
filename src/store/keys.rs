//! API keys: stored as SHA-256 hashes, looked up by hash, revoked by name.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::api_keys;
use super::{on_backend, DbConnection, QueryResult};
use crate::domain::access::Role;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyRow {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Insertable)]
#[diesel(table_name = api_keys)]
struct NewApiKey<'a> {
    name: &'a str,
    role: Role,
    key_hash: &'a str,
    created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, name: &str, role: Role, key_hash: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::insert_into(api_keys::table).values(NewApiKey { name, role, key_hash, created_at: now }).execute(conn).map(drop)
}

pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<ApiKeyRow>> {
    api_keys::table.select(ApiKeyRow::as_select()).order(api_keys::id).load(conn)
}

/// Revoke the active key of that name; returns how many were revoked (0 or 1).
pub fn revoke(conn: &mut DbConnection, name: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(api_keys::table.filter(api_keys::name.eq(name)).filter(api_keys::revoked_at.is_null()))
        .set(api_keys::revoked_at.eq(Some(now)))
        .execute(conn)
}

/// The active key with this hash: (name, role).
pub fn find_active(conn: &mut DbConnection, key_hash: &str) -> QueryResult<Option<(String, Role)>> {
    // A hash is unique; `load` rather than `first` avoids SQLite re-preparing for `LIMIT ?`.
    let rows: Vec<(String, Role)> = on_backend!(conn, |c| api_keys::table
        .filter(api_keys::key_hash.eq(key_hash))
        .filter(api_keys::revoked_at.is_null())
        .select((api_keys::name, api_keys::role))
        .load(c))?;
    Ok(rows.into_iter().next())
}
