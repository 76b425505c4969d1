//! Users who sign in to the pages, their sessions, and failed sign-ins (CONTRACT §7, §10).
//! Passwords arrive here hashed; session ids arrive hashed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{sessions, sign_in_failures, users};
use super::{on_backend, DbConnection, QueryResult};
use crate::domain::access::Role;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub email: Option<String>,
    pub password_hash: String,
    pub must_change_password: bool,
    pub created_at: NaiveDateTime,
    pub disabled_at: Option<NaiveDateTime>,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUser<'a> {
    name: &'a str,
    role: Role,
    email: Option<&'a str>,
    password_hash: &'a str,
    must_change_password: bool,
    created_at: NaiveDateTime,
}

/// A new user; `must_change` when the password is a one-time one.
pub fn insert(
    conn: &mut DbConnection,
    name: &str,
    role: Role,
    email: Option<&str>,
    password_hash: &str,
    must_change: bool,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let row = NewUser { name, role, email, password_hash, must_change_password: must_change, created_at: now };
    diesel::insert_into(users::table).values(row).execute(conn).map(drop)
}

pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<UserRow>> {
    users::table.select(UserRow::as_select()).order(users::name).load(conn)
}

pub fn find_by_name(conn: &mut DbConnection, name: &str) -> QueryResult<Option<UserRow>> {
    users::table.filter(users::name.eq(name)).select(UserRow::as_select()).first(conn).optional()
}

/// Disable the user named `name` and end their sessions, together. Returns whether a user
/// in use was disabled.
pub fn disable(conn: &mut DbConnection, name: &str, now: NaiveDateTime) -> QueryResult<bool> {
    conn.transaction::<bool, diesel::result::Error, _>(|conn| {
        let n = diesel::update(users::table.filter(users::name.eq(name)).filter(users::disabled_at.is_null()))
            .set(users::disabled_at.eq(Some(now)))
            .execute(conn)?;
        let ids = users::table.filter(users::name.eq(name)).select(users::id);
        diesel::delete(sessions::table.filter(sessions::user_id.eq_any(ids))).execute(conn)?;
        Ok(n > 0)
    })
}

/// Give the user named `name` a new password hash and end their sessions, together (a reset, or
/// a password changed: every other session signs in again). `keep` is a session to keep (the
/// one that changed its own password). Returns whether the user exists.
pub fn set_password(
    conn: &mut DbConnection,
    user_id: i64,
    password_hash: &str,
    must_change: bool,
    keep: Option<&str>,
) -> QueryResult<bool> {
    conn.transaction::<bool, diesel::result::Error, _>(|conn| {
        let n = diesel::update(users::table.find(user_id))
            .set((users::password_hash.eq(password_hash), users::must_change_password.eq(must_change)))
            .execute(conn)?;
        let mine = sessions::table.filter(sessions::user_id.eq(user_id));
        match keep {
            Some(keep) => diesel::delete(mine.filter(sessions::id_hash.ne(keep))).execute(conn)?,
            None => diesel::delete(mine).execute(conn)?,
        };
        Ok(n > 0)
    })
}

/// A session's user and token, as a page request needs them.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub user: UserRow,
    pub csrf: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
}

pub fn insert_session(conn: &mut DbConnection, id_hash: &str, user_id: i64, csrf: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::id_hash.eq(id_hash),
            sessions::user_id.eq(user_id),
            sessions::csrf.eq(csrf),
            sessions::created_at.eq(now),
            sessions::last_seen_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// The session with this id hash and its user (one indexed read).
pub fn find_session(conn: &mut DbConnection, id_hash: &str) -> QueryResult<Option<SessionRow>> {
    let row: Option<(UserRow, String, NaiveDateTime, NaiveDateTime)> = sessions::table
        .inner_join(users::table)
        .filter(sessions::id_hash.eq(id_hash))
        .select((UserRow::as_select(), sessions::csrf, sessions::created_at, sessions::last_seen_at))
        .first(conn)
        .optional()?;
    Ok(row.map(|(user, csrf, created_at, last_seen_at)| SessionRow { user, csrf, created_at, last_seen_at }))
}

pub fn touch_session(conn: &mut DbConnection, id_hash: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(sessions::table.find(id_hash)).set(sessions::last_seen_at.eq(now)).execute(conn).map(drop)
}

pub fn delete_session(conn: &mut DbConnection, id_hash: &str) -> QueryResult<()> {
    diesel::delete(sessions::table.find(id_hash)).execute(conn).map(drop)
}

/// Sessions unused since `idle_before`, or begun before `begun_before`, go.
pub fn delete_expired_sessions(conn: &mut DbConnection, idle_before: NaiveDateTime, begun_before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::last_seen_at.lt(idle_before).or(sessions::created_at.lt(begun_before)))).execute(conn)
}

/// A sign-in attempt for `name`, counted as failed until it is forgotten; returns its id.
pub fn record_failure(conn: &mut DbConnection, name: &str, now: NaiveDateTime) -> QueryResult<i64> {
    on_backend!(conn, |c| diesel::insert_into(sign_in_failures::table)
        .values((sign_in_failures::name.eq(name), sign_in_failures::at.eq(now)))
        .returning(sign_in_failures::id)
        .get_result(c))
}

/// An attempt that was no failure after all (its password was right).
pub fn forget_failure(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
    diesel::delete(sign_in_failures::table.find(id)).execute(conn).map(drop)
}

/// The times of the failed sign-ins for `name` since `since`, oldest first.
pub fn failures_since(conn: &mut DbConnection, name: &str, since: NaiveDateTime) -> QueryResult<Vec<NaiveDateTime>> {
    sign_in_failures::table
        .filter(sign_in_failures::name.eq(name))
        .filter(sign_in_failures::at.ge(since))
        .select(sign_in_failures::at)
        .order(sign_in_failures::at)
        .load(conn)
}

/// Failed sign-ins older than `before` are forgotten.
pub fn forget_failures(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(sign_in_failures::table.filter(sign_in_failures::at.lt(before))).execute(conn)
}

/// A successful sign-in forgets the name's failures.
pub fn clear_failures(conn: &mut DbConnection, name: &str) -> QueryResult<()> {
    diesel::delete(sign_in_failures::table.filter(sign_in_failures::name.eq(name))).execute(conn).map(drop)
}
