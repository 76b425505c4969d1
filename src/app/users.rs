//! People who sign in to the pages (CONTRACT §7, §10): users with Argon2id password hashes,
//! one-time passwords changed at first sign-in, the hold after five failed sign-ins, and sessions
//! kept in the database (the cookie holds a random id; only its hash is stored).

use std::time::Duration;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::NaiveDateTime;
use rand::Rng;
use serde_json::json;

use super::error::{AppError, ErrorCode};
use crate::domain::access::{generate_key, hash_key, Role};
use crate::domain::text;
use crate::domain::time::now_utc;
use crate::store::users::{self, SessionRow, UserRow};
use crate::store::{is_unique_violation, DbConnection, Store};

/// Failed sign-ins for one name within [`HOLD_WINDOW`] that hold it.
pub const HOLD_AFTER: usize = 5;
/// The window the failures are counted in, and how long a name is then held.
pub const HOLD_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Passwords people choose: at least this many characters (CONTRACT §7).
pub const MIN_PASSWORD: usize = 12;
/// And at most this many (Argon2 takes any length; a bound keeps a request's work bounded).
pub const MAX_PASSWORD: usize = 256;

/// A user as listed (never the hash).
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub email: Option<String>,
    pub must_change_password: bool,
    pub created_at: NaiveDateTime,
    pub disabled_at: Option<NaiveDateTime>,
}

impl From<UserRow> for User {
    fn from(u: UserRow) -> Self {
        User {
            id: u.id,
            name: u.name,
            role: u.role,
            email: u.email,
            must_change_password: u.must_change_password,
            created_at: u.created_at,
            disabled_at: u.disabled_at,
        }
    }
}

fn hash_password(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(AppError::internal)
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A one-time password: 16 characters a person can read out and type (no 0/O, 1/l/I), in four
/// groups; about 80 bits.
fn one_time_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let chars: Vec<char> = (0..16).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
    chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

/// A password a person chose, or why it cannot be one.
pub fn check_password(password: &str) -> Result<(), AppError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(AppError::field(ErrorCode::WeakPassword, "password", format!("a password needs at least {MIN_PASSWORD} characters")));
    }
    if n > MAX_PASSWORD {
        return Err(AppError::field(ErrorCode::TextTooLong, "password", format!("a password may have at most {MAX_PASSWORD} characters")));
    }
    if password.chars().any(char::is_control) {
        return Err(AppError::field(ErrorCode::InvalidText, "password", "a password cannot hold control characters"));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::field(ErrorCode::InvalidText, "name", "a user needs a name"));
    }
    text::check("name", name, text::NAME)?;
    Ok(name.to_owned())
}

/// Create a user with a one-time password, which is returned (shown once; only its hash is kept).
/// `password` given: that password, not one-time (the demo's users).
pub fn create(store: &Store, name: &str, role: Role, email: Option<&str>, password: Option<&str>) -> Result<String, AppError> {
    let name = check_name(name)?;
    let email = email.map(str::trim).filter(|e| !e.is_empty());
    if let Some(e) = email {
        crate::domain::email::EmailKey::parse(e).map_err(|m| AppError::field(ErrorCode::InvalidEmail, "email", m))?;
    }
    let (password, must_change) = match password {
        Some(p) => {
            check_password(p)?;
            (p.to_owned(), false)
        }
        None => (one_time_password(), true),
    };
    let hash = hash_password(&password)?;
    match users::insert(&mut *store.conn()?, &name, role, email, &hash, must_change, now_utc()) {
        Ok(()) => Ok(password),
        Err(e) if is_unique_violation(&e) => Err(AppError::new(
            ErrorCode::UserNameTaken,
            format!("a user named {name:?} exists already: reset or disable them, or choose another name"),
        )
        .details(json!({ "field": "name" }))),
        Err(e) => Err(e.into()),
    }
}

pub fn list(store: &Store) -> Result<Vec<User>, AppError> {
    Ok(users::list(&mut *store.conn()?)?.into_iter().map(User::from).collect())
}

/// Disable the user: they cannot sign in, and their sessions end at once.
pub fn disable(store: &Store, name: &str) -> Result<(), AppError> {
    let name = check_name(name)?;
    if !users::disable(&mut *store.conn()?, &name, now_utc())? {
        return Err(AppError::not_found(format!("no user in use is named {name:?} (see suppress users list)")));
    }
    Ok(())
}

/// Disable the user named `name` on behalf of the signed-in `by`: as [`disable`], but no one
/// disables themself (they would end their own session and might leave no administrator).
pub fn disable_by(store: &Store, by: &str, name: &str) -> Result<(), AppError> {
    if name.trim() == by {
        return Err(AppError::field(ErrorCode::CannotDisableSelf, "name", "you cannot disable yourself: another administrator must do it"));
    }
    disable(store, name)
}

/// A new one-time password for the user (returned), their sessions ended.
pub fn reset(store: &Store, name: &str) -> Result<String, AppError> {
    let name = check_name(name)?;
    let mut conn = store.conn()?;
    let user = users::find_by_name(&mut conn, &name)?
        .ok_or_else(|| AppError::not_found(format!("no user is named {name:?} (see suppress users list)")))?;
    if user.disabled_at.is_some() {
        return Err(AppError::new(ErrorCode::UserDisabled, format!("{name} is disabled: a new password could not be used to sign in")));
    }
    let password = one_time_password();
    users::set_password(&mut conn, user.id, &hash_password(&password)?, true, None)?;
    Ok(password)
}

/// Give the user named `name` this password, not one-time (the demo's users, whose passwords are
/// printed at every start); their sessions end.
pub fn set_known_password(store: &Store, name: &str, password: &str) -> Result<(), AppError> {
    check_password(password)?;
    let name = check_name(name)?;
    let mut conn = store.conn()?;
    let user = users::find_by_name(&mut conn, &name)?.ok_or_else(|| AppError::not_found(format!("no user is named {name:?}")))?;
    users::set_password(&mut conn, user.id, &hash_password(password)?, false, None)?;
    Ok(())
}

/// A session begun: the cookie's value (shown to the browser only) and its user.
pub struct NewSession {
    pub token: String,
    pub user: User,
}

/// Password checks running at once, across the process: each takes tens of milliseconds of one
/// core and 19 MiB, so a flood of sign-ins must wait its turn rather than take every core (and,
/// before, every database connection) from the service's other users.
pub struct PasswordChecks(tokio::sync::Semaphore);

impl PasswordChecks {
    /// As many at once as the machine has cores.
    pub fn new() -> PasswordChecks {
        PasswordChecks(tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
    }

    /// A turn, or a refusal to come back in a moment (429).
    fn turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, AppError> {
        self.0.try_acquire().map_err(|_| {
            AppError::new(ErrorCode::TooManyAttempts, "too many sign-ins are being checked at once: try again in a few seconds")
                .retry_after(2)
        })
    }
}

impl Default for PasswordChecks {
    fn default() -> Self {
        PasswordChecks::new()
    }
}

fn no_match() -> AppError {
    AppError::new(ErrorCode::SignInFailed, "that name and password do not match a user who may sign in")
}

/// Sign in by name and password. A failure says nothing of whether the name exists; five within
/// [`HOLD_WINDOW`] hold the name for that long (429 with `Retry-After`), wherever they were made.
/// The attempt is counted before its password is checked, so guesses sent side by side are held
/// as guesses sent in turn; no database connection is held while the password is hashed.
pub fn sign_in(store: &Store, checks: &PasswordChecks, name: &str, password: &str) -> Result<NewSession, AppError> {
    let name = name.trim();
    // A name no user can have (empty, too long, control characters) is no match: not stored.
    if name.is_empty() || text::check("name", name, text::NAME).is_err() || password.chars().count() > MAX_PASSWORD {
        return Err(no_match());
    }
    let now = now_utc();
    let turn = checks.turn()?;
    let (attempt, user) = {
        let mut conn = store.conn()?;
        if let Some(wait) = held(&mut conn, name, now)? {
            return Err(held_error(wait));
        }
        (users::record_failure(&mut conn, name, now)?, users::find_by_name(&mut conn, name)?)
    };
    // A name that does not exist costs a hash as one that does, so the time taken tells nothing.
    let ok = match &user {
        Some(u) => verify_password(password, &u.password_hash) && u.disabled_at.is_none(),
        None => {
            let _ = verify_password(password, DUMMY_HASH);
            false
        }
    };
    drop(turn);
    let mut conn = store.conn()?;
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!("a sign-in failed");
        if let Some(wait) = held(&mut conn, name, now)? {
            return Err(held_error(wait));
        }
        return Err(no_match());
    };
    // The right password: this attempt was no failure; but guesses at this name sent meanwhile
    // may have held it.
    users::forget_failure(&mut conn, attempt)?;
    if let Some(wait) = held(&mut conn, name, now)? {
        return Err(held_error(wait));
    }
    users::clear_failures(&mut conn, name)?;
    let token = generate_key();
    users::insert_session(&mut conn, &hash_key(&token), user.id, &generate_key(), now)?;
    tracing::info!(user = %user.name, "signed in");
    Ok(NewSession { token, user: user.into() })
}

/// An Argon2id hash of nothing anyone knows, verified against when a name does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c3VwcHJlc3NkdW1teQ$Q2nIgYJ4tF6OJ7k3fM0E8zvJm7lXyJp8c3u7mQk2v8Y";

/// Seconds until a held name may try again, if it is held.
fn held(conn: &mut DbConnection, name: &str, now: NaiveDateTime) -> Result<Option<u64>, AppError> {
    let window = chrono::Duration::from_std(HOLD_WINDOW).map_err(AppError::internal)?;
    let failures = users::failures_since(conn, name, now - window - window)?;
    // Held from the fifth failure within a window, for a window.
    let until = failures.windows(HOLD_AFTER).filter(|w| w[HOLD_AFTER - 1] - w[0] <= window).map(|w| w[HOLD_AFTER - 1] + window).max();
    Ok(until.filter(|u| *u > now).map(|u| (u - now).num_seconds().max(1) as u64))
}

fn held_error(wait: u64) -> AppError {
    let minutes = wait.div_ceil(60);
    AppError::new(
        ErrorCode::TooManyAttempts,
        format!("too many failed sign-ins for this name: try again in {minutes} minute{}", if minutes == 1 { "" } else { "s" }),
    )
    .retry_after(wait)
}

/// A signed-in person, as a page request sees them.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    /// The token every form of this session carries.
    pub csrf: String,
    /// The hash of the cookie's value (the session's key in the database).
    pub id_hash: String,
}

/// The session a cookie names, if it is still in force: not idle longer than `idle`, begun
/// within `max`, its user not disabled. Use renews it (written at most every `idle / 30`, so a
/// busy page does not write on every request).
pub fn session(conn: &mut DbConnection, token: &str, idle: Duration, max: Duration) -> Result<Option<Session>, AppError> {
    if token.len() != 68 {
        return Ok(None);
    }
    let id_hash = hash_key(token);
    let Some(SessionRow { user, csrf, created_at, last_seen_at }) = users::find_session(conn, &id_hash)? else { return Ok(None) };
    let now = now_utc();
    let since = |t: NaiveDateTime| (now - t).to_std().unwrap_or(Duration::ZERO);
    if since(last_seen_at) >= idle || since(created_at) >= max || user.disabled_at.is_some() {
        users::delete_session(conn, &id_hash)?;
        return Ok(None);
    }
    if since(last_seen_at) >= (idle / 30).min(Duration::from_secs(60)) {
        users::touch_session(conn, &id_hash, now)?;
    }
    Ok(Some(Session { user: user.into(), csrf, id_hash }))
}

pub fn sign_out(conn: &mut DbConnection, session: &Session) -> Result<(), AppError> {
    Ok(users::delete_session(conn, &session.id_hash)?)
}

/// Change the signed-in person's password (needed after a one-time one): the current one must
/// be right; their other sessions end.
pub fn change_password(store: &Store, checks: &PasswordChecks, session: &Session, current: &str, new: &str) -> Result<(), AppError> {
    check_password(new)?;
    if new == current {
        return Err(AppError::field(ErrorCode::WeakPassword, "password", "the new password must differ from the one it replaces"));
    }
    let user = users::find_by_name(&mut *store.conn()?, &session.user.name)?.ok_or_else(|| AppError::not_found("the user is gone"))?;
    let turn = checks.turn()?;
    if current.chars().count() > MAX_PASSWORD || !verify_password(current, &user.password_hash) {
        return Err(AppError::field(ErrorCode::SignInFailed, "current", "the current password is not right"));
    }
    let hash = hash_password(new)?;
    drop(turn);
    users::set_password(&mut *store.conn()?, user.id, &hash, false, Some(&session.id_hash))?;
    Ok(())
}

/// Sessions past their time, and failures past any window, are deleted (housekeeping).
pub fn expire(conn: &mut DbConnection, idle: Duration, max: Duration) -> Result<usize, AppError> {
    let now = now_utc();
    let ago = |d: Duration| now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero());
    let n = users::delete_expired_sessions(conn, ago(idle), ago(max))?;
    users::forget_failures(conn, ago(HOLD_WINDOW * 2))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_time_passwords_are_long_enough_and_differ() {
        let (a, b) = (one_time_password(), one_time_password());
        assert_ne!(a, b);
        assert!(check_password(&a).is_ok(), "{a}");
        assert_eq!(a.len(), 19);
    }

    #[test]
    fn passwords_are_hashed_with_argon2id_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterz", &h));
        assert!(!verify_password("anything", DUMMY_HASH));
        assert!(PasswordHash::new(DUMMY_HASH).is_ok(), "the dummy hash must parse, or unknown names answer faster");
    }

    #[test]
    fn short_or_control_passwords_are_refused() {
        assert_eq!(check_password("elevenchars").unwrap_err().code, ErrorCode::WeakPassword);
        assert_eq!(check_password("twelve chars").map_err(|e| e.code), Ok(()));
        assert_eq!(check_password("twelve\u{0}chars!").unwrap_err().code, ErrorCode::InvalidText);
    }
}
