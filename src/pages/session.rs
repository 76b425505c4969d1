//! Who is signed in, and whether a form may change anything (CONTRACT §10).
//!
//! - The session cookie holds a random id only (`HttpOnly`, `SameSite=Strict`, `Path=/`, `Secure`
//!   when `SUPPRESS_PUBLIC_URL` is https); the session is looked up in the database on every
//!   request, so signing out, disabling a user and every instance agree at once.
//! - Every request that changes something is refused unless it comes from this site
//!   (`Sec-Fetch-Site`, `Origin`) and, for a signed-in person, carries the session's token:
//!   [`Posted`] is the only way a page handler gets a form, so none can forget.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::{header, Method};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use serde::de::DeserializeOwned;

use super::PageError;
use crate::app::users::{self, Session, User};
use crate::domain::access::Capability;
use crate::http::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "suppress_session";

/// A signed-in person.
pub struct Signed {
    pub user: User,
    /// The token this session's forms carry.
    pub csrf: String,
    pub session: Session,
}

impl Signed {
    /// Refuse (403 page) unless the person's role has `what`.
    pub fn require(&self, what: Capability) -> Result<(), PageError> {
        if self.user.role.may(what) {
            Ok(())
        } else {
            Err(PageError::forbidden())
        }
    }

    /// `recorded_via` for what this person records (CONTRACT §7).
    pub fn via(&self) -> String {
        format!("web:{}", self.user.name)
    }
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, PageError> {
    req.app_data::<web::Data<AppState>>().cloned().ok_or_else(|| crate::app::AppError::internal("the pages have no state").into())
}

/// The session cookie for a new session.
pub fn cookie(state: &AppState, token: String) -> Cookie<'static> {
    Cookie::build(COOKIE, token).http_only(true).same_site(SameSite::Strict).path("/").secure(secure(state)).finish()
}

/// The cookie that ends the session in the browser.
pub fn removal(state: &AppState) -> Cookie<'static> {
    let mut c = cookie(state, String::new());
    c.make_removal();
    c
}

/// Whether cookies go over https only (`SUPPRESS_PUBLIC_URL` is https).
pub(super) fn secure(state: &AppState) -> bool {
    state.settings.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
}

/// Whether a request that changes something came from this site's own pages: a browser says so
/// with `Sec-Fetch-Site` and `Origin`; a request with neither (an old browser, a script) is judged
/// by its token alone.
pub fn from_this_site(req: &HttpRequest, state: &AppState) -> bool {
    let header_str = |name| req.headers().get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
    if let Some(site) = header_str("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    let Some(origin) = header_str(header::ORIGIN.as_str()) else { return true };
    match state.settings.public_url.as_deref() {
        Some(public) => url::Url::parse(public).is_ok_and(|u| u.origin().ascii_serialization() == origin),
        None => {
            let host = header_str(header::HOST.as_str()).unwrap_or("");
            !host.is_empty() && (origin == format!("http://{host}") || origin == format!("https://{host}"))
        }
    }
}

/// Equal in constant time (a token compared byte by byte would tell its prefix by timing).
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && !a.is_empty() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Signed {
    async fn from_req(req: HttpRequest) -> Result<Signed, PageError> {
        let state = state(&req)?;
        let back_to =
            if req.method() == Method::GET { req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned() } else { "/".into() };
        let Some(token) = req.cookie(COOKIE).map(|c| c.value().to_owned()) else { return Err(PageError::SignIn { back_to }) };
        let (idle, max) = (state.settings.session_idle, state.settings.session_max);
        let session = crate::http::call(&state.store, move |conn| users::session(conn, &token, idle, max)).await?;
        let Some(session) = session else { return Err(PageError::SignIn { back_to }) };
        req.extensions_mut().insert(super::Seen { name: session.user.name.clone(), role: session.user.role, csrf: session.csrf.clone() });
        if session.user.must_change_password && !matches!(req.path(), "/password" | "/sign-out") {
            return Err(PageError::ChangePassword);
        }
        if req.method() != Method::GET && req.method() != Method::HEAD && !from_this_site(&req, &state) {
            tracing::warn!(user = %session.user.name, path = %req.path(), "a form from another site was refused");
            return Err(PageError::forged());
        }
        Ok(Signed { user: session.user.clone(), csrf: session.csrf.clone(), session })
    }
}

impl FromRequest for Signed {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Signed, PageError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(Signed::from_req(req.clone()))
    }
}

/// A form posted by a signed-in person from this site with this session's token (its `csrf`
/// field), or refused (403 page, nothing changed). The form's own fields need not name the token.
pub struct Posted<T> {
    pub signed: Signed,
    pub form: T,
}

/// The largest form a page takes (lists and register files come as uploads, not forms).
const FORM_LIMIT: usize = 64 << 10;

/// Only the token of a form, read first: a form without it is forged, whatever else it holds.
#[derive(serde::Deserialize)]
struct TokenField {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + 'static> FromRequest for Posted<T> {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Posted<T>, PageError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let signed = Signed::from_req(req).await?;
            let unreadable = || PageError::Shown {
                status: actix_web::http::StatusCode::BAD_REQUEST,
                title: "Cannot do that",
                sentence: "The form could not be read. Open the page again and send it from there.".into(),
                retry_after: None,
            };
            let body = body.await.map_err(|_| unreadable())?;
            if body.len() > FORM_LIMIT {
                return Err(unreadable());
            }
            let token: TokenField = serde_urlencoded::from_bytes(&body).map_err(|_| unreadable())?;
            if !same_token(&token.csrf, &signed.csrf) {
                tracing::warn!(user = %signed.user.name, "a form without this session's token was refused");
                return Err(PageError::forged());
            }
            let form: T = serde_urlencoded::from_bytes(&body).map_err(|_| unreadable())?;
            Ok(Posted { signed, form })
        })
    }
}

/// Whether `given` is the session's token (for forms read another way, as a list upload is).
pub fn token_matches(signed: &Signed, given: &str) -> bool {
    same_token(given, &signed.csrf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
        assert!(!same_token("", ""));
    }
}
