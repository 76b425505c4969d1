//! Bearer-key authentication and role checks. A key's role is kept in memory for a few seconds
//! (`Settings::key_cache`) so that a dialler's checks do not each cost a database read; a revoked
//! key stops working within that time.
//!
//! Failed authentication is throttled per client address (CONTRACT §9): after
//! [`FAILURE_LIMIT`] failures (401) within [`FAILURE_WINDOW`] of the first, the address's further
//! attempts with a key this instance has not seen valid are answered 429 with `Retry-After`, at
//! once and without a database read, until that window ends. Keys seen valid still work from a
//! held address (a dialler behind the same NAT as an attacker keeps calling).

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use actix_web::{web, FromRequest, HttpRequest};

use super::error::{ApiError, ErrorCode};
use super::AppState;
use crate::domain::access::{hash_key, Capability, Role};

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

/// Keys recently found valid, by hash, and the client addresses failing to authenticate.
pub struct KeyCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, (Caller, Instant)>>,
    failures: FailedAttempts,
}

/// Entries kept at most; past it the cache starts again (no unbounded growth from many keys).
const CACHE_LIMIT: usize = 10_000;

impl KeyCache {
    pub fn new(ttl: Duration) -> KeyCache {
        KeyCache { ttl, entries: RwLock::new(HashMap::new()), failures: FailedAttempts::default() }
    }

    fn get(&self, hash: &str) -> Option<Caller> {
        let entries = self.entries.read().ok()?;
        entries.get(hash).filter(|(_, at)| at.elapsed() < self.ttl).map(|(c, _)| c.clone())
    }

    /// Whether this key was found valid since the cache last started again, however long ago
    /// (it is still looked up: a revoked key fails).
    fn known(&self, hash: &str) -> bool {
        self.entries.read().is_ok_and(|entries| entries.contains_key(hash))
    }

    /// Forget every key this instance trusts from memory (after a key is revoked here: it stops
    /// working at once on this instance, and within the cache's time on the others).
    pub fn forget_all(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }

    fn put(&self, hash: String, caller: Caller) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= CACHE_LIMIT {
                entries.clear();
            }
            entries.insert(hash, (caller, Instant::now()));
        }
    }
}

/// Failed authentications from one client address within [`FAILURE_WINDOW`] that hold it.
pub const FAILURE_LIMIT: u32 = 20;
/// The window failures are counted in, from the first; a held address is free when it ends.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Client addresses tracked at most (bounded memory). When full, windows that have ended are
/// dropped (at most once a second); a new address that still finds no room is not tracked.
const ADDRESS_LIMIT: usize = 10_000;

/// A client as throttling sees it: an IPv4 address, or an IPv6 /64 (what one site usually holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Client(IpAddr);

impl Client {
    fn of(ip: IpAddr) -> Client {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Client(IpAddr::V4(v4)),
                None => Client(IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into())),
            },
            v4 => Client(v4),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl Window {
    fn ended(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.started) >= FAILURE_WINDOW
    }
}

/// Failed authentications per client address, in memory, per instance.
#[derive(Default)]
struct FailedAttempts {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    windows: HashMap<Client, Window>,
    purged: Option<Instant>,
}

impl FailedAttempts {
    /// Whole seconds until a held client may try again (at least 1); `None` when it is not held.
    fn held(&self, client: Client, now: Instant) -> Option<u64> {
        let table = self.table.lock().ok()?;
        let w = table.windows.get(&client).filter(|w| w.failures >= FAILURE_LIMIT && !w.ended(now))?;
        let left = FAILURE_WINDOW.saturating_sub(now.saturating_duration_since(w.started));
        Some(left.as_secs() + u64::from(left.subsec_nanos() > 0)).map(|s| s.max(1))
    }

    fn record(&self, client: Client, now: Instant) {
        let Ok(mut table) = self.table.lock() else { return };
        if !table.windows.contains_key(&client) && table.windows.len() >= ADDRESS_LIMIT {
            if table.purged.is_some_and(|at| now.saturating_duration_since(at) < Duration::from_secs(1)) {
                return;
            }
            table.purged = Some(now);
            table.windows.retain(|_, w| !w.ended(now));
            if table.windows.len() >= ADDRESS_LIMIT {
                return;
            }
        }
        let w = table.windows.entry(client).or_insert(Window { started: now, failures: 0 });
        if w.ended(now) {
            *w = Window { started: now, failures: 0 };
        }
        w.failures = w.failures.saturating_add(1);
        if w.failures == FAILURE_LIMIT {
            tracing::warn!(client = %client.0, failures = FAILURE_LIMIT, "client held after repeated failed authentication");
        }
    }
}

/// A capability a handler needs, as a type, so that the check runs before the body is read.
pub trait Needs {
    const CAPABILITY: Capability;
}

macro_rules! needs {
    ($($name:ident),+) => {$(
        pub struct $name;
        impl Needs for $name {
            const CAPABILITY: Capability = Capability::$name;
        }
    )+};
}
needs!(RecordStatements, ReadPreferences, Check, ReadRegisters, ReadImports, Import, Scrub, ReadScrubs, ReadOutbox);

/// An authenticated caller whose role allows `N`.
pub struct Authorized<N: Needs> {
    pub caller: Caller,
    _needs: PhantomData<N>,
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, message)
}

/// The key of an `Authorization: Bearer KEY` header; the scheme is case-insensitive (RFC 7235).
fn bearer_key(req: &HttpRequest) -> Result<&str, &'static str> {
    let header = req.headers().get(actix_web::http::header::AUTHORIZATION).ok_or("send the API key as Authorization: Bearer KEY")?;
    let value = header.to_str().map_err(|_| "the Authorization header is not readable text")?;
    value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
        .filter(|k| !k.is_empty())
        .ok_or("the Authorization header must be: Bearer KEY")
}

/// A failed authentication: 429 while the client is held, else counted and 401.
fn refuse(keys: &KeyCache, client: Option<Client>, message: &str) -> ApiError {
    let now = Instant::now();
    let Some(client) = client else { return unauthorized(message) };
    if let Some(retry_after) = keys.failures.held(client, now) {
        return too_many_failures(retry_after);
    }
    keys.failures.record(client, now);
    unauthorized(message)
}

fn too_many_failures(retry_after: u64) -> ApiError {
    ApiError::too_many_attempts(
        retry_after,
        format!(
            "too many failed authentications from this address ({FAILURE_LIMIT} within {} s): try again in {retry_after} s",
            FAILURE_WINDOW.as_secs()
        ),
    )
}

async fn authenticate(req: HttpRequest) -> Result<Caller, ApiError> {
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| ApiError::internal("application state missing"))?.clone();
    let client = req.peer_addr().map(|a| Client::of(a.ip()));
    let key = bearer_key(&req).map_err(|message| refuse(&state.keys, client, message))?;
    let hash = hash_key(key);
    if let Some(caller) = state.keys.get(&hash) {
        return Ok(caller);
    }
    // A held client's unknown keys are refused before any database read.
    if let Some(retry_after) = client.and_then(|c| state.keys.failures.held(c, Instant::now())) {
        if !state.keys.known(&hash) {
            return Err(too_many_failures(retry_after));
        }
    }
    let lookup_hash = hash.clone();
    let found = super::read(&state.store, move |conn| Ok(crate::store::keys::find_active(conn, &lookup_hash)?)).await?;
    let (name, role) = found.ok_or_else(|| refuse(&state.keys, client, "the API key is unknown or revoked"))?;
    let caller = Caller { name, role };
    state.keys.put(hash, caller.clone());
    Ok(caller)
}

impl<N: Needs + 'static> FromRequest for Authorized<N> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let caller = authenticate(req).await?;
            if !caller.role.may(N::CAPABILITY) {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    format!("a key with role {} may not do this; it needs a role allowed to {:?}", caller.role, N::CAPABILITY),
                ));
            }
            Ok(Authorized { caller, _needs: PhantomData })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_held_after_the_limit_until_the_window_ends() {
        let f = FailedAttempts::default();
        let (a, b) = (Client::of([10, 0, 0, 1].into()), Client::of([10, 0, 0, 2].into()));
        let t0 = Instant::now();
        for i in 0..FAILURE_LIMIT {
            assert_eq!(f.held(a, t0), None, "held after {i}");
            f.record(a, t0);
        }
        assert_eq!(f.held(a, t0), Some(60));
        assert_eq!(f.held(a, t0 + Duration::from_millis(59_500)), Some(1));
        assert_eq!(f.held(b, t0), None);
        assert_eq!(f.held(a, t0 + FAILURE_WINDOW), None);
        f.record(a, t0 + FAILURE_WINDOW);
        assert_eq!(f.held(a, t0 + FAILURE_WINDOW), None, "a new window starts counting again");
    }

    #[test]
    fn the_table_is_bounded() {
        let f = FailedAttempts::default();
        let t0 = Instant::now();
        for i in 0..(ADDRESS_LIMIT as u32 + 50) {
            f.record(Client::of(IpAddr::V4(i.into())), t0);
        }
        assert_eq!(f.table.lock().map(|t| t.windows.len()).unwrap_or(0), ADDRESS_LIMIT);
        // Once the windows have ended, room is made.
        let later = t0 + FAILURE_WINDOW;
        f.record(Client::of([192, 0, 2, 1].into()), later);
        assert_eq!(f.table.lock().map(|t| t.windows.len()).unwrap_or(0), 1);
    }

    #[test]
    fn ipv6_clients_are_their_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap_or(IpAddr::V4([0, 0, 0, 0].into()));
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap_or(IpAddr::V4([0, 0, 0, 0].into()));
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IpAddr::V4([0, 0, 0, 0].into()));
        assert_eq!(Client::of(a), Client::of(b));
        assert_ne!(Client::of(a), Client::of(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap_or(IpAddr::V4([0, 0, 0, 0].into()));
        assert_eq!(Client::of(mapped), Client::of([192, 0, 2, 1].into()));
    }
}
