//! Bearer-key authentication and role checks. A key's role is kept in memory for a few seconds
//! (`Settings::key_cache`) so that a dialler's checks do not each cost a database read; a revoked
//! key stops working within that time.

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest};

use super::error::ApiError;
use super::AppState;
use crate::domain::access::{hash_key, Capability, Role};

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

/// Keys recently found valid, by hash.
pub struct KeyCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, (Caller, Instant)>>,
}

/// Entries kept at most; past it the cache starts again (no unbounded growth from many keys).
const CACHE_LIMIT: usize = 10_000;

impl KeyCache {
    pub fn new(ttl: Duration) -> KeyCache {
        KeyCache { ttl, entries: RwLock::new(HashMap::new()) }
    }

    fn get(&self, hash: &str) -> Option<Caller> {
        let entries = self.entries.read().ok()?;
        entries.get(hash).filter(|(_, at)| at.elapsed() < self.ttl).map(|(c, _)| c.clone())
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
needs!(RecordStatements, ReadPreferences, Check, ReadRegisters, ReadImports, Import, Scrub, ReadScrubs);

/// An authenticated caller whose role allows `N`.
pub struct Authorized<N: Needs> {
    pub caller: Caller,
    _needs: PhantomData<N>,
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

async fn authenticate(req: HttpRequest) -> Result<Caller, ApiError> {
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| ApiError::internal("application state missing"))?.clone();
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("send the API key as Authorization: Bearer KEY"))?;
    let value = header.to_str().map_err(|_| unauthorized("the Authorization header is not readable text"))?;
    let key = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header must be: Bearer KEY"))?;
    let hash = hash_key(key);
    if let Some(caller) = state.keys.get(&hash) {
        return Ok(caller);
    }
    let lookup_hash = hash.clone();
    let found = super::read(&state.store, move |conn| Ok(crate::store::keys::find_active(conn, &lookup_hash)?)).await?;
    let (name, role) = found.ok_or_else(|| unauthorized("the API key is unknown or revoked"))?;
    let role: Role = role.parse().map_err(ApiError::internal)?;
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
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!("a key with role {} may not do this; it needs a role allowed to {:?}", caller.role, N::CAPABILITY),
                ));
            }
            Ok(Authorized { caller, _needs: PhantomData })
        })
    }
}
