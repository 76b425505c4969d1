//! `GET /` (the sign-in page, or the signed-in person's home), `POST /sign-in`, `POST /sign-out`,
//! and `GET|POST /password` (a one-time password changed at first sign-in).

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::session::{self, Posted, Signed};
use super::{Chrome, PageError};
use crate::app::{users, ErrorCode};
use crate::domain::access::generate_key;
use crate::http::AppState;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/sign-in", web::post().to(sign_in))
        // Opened by its address (a reload after a refusal, a bookmark): the sign-in page.
        .route("/sign-in", web::get().to(|| async { super::see_other("/") }))
        .route("/sign-out", web::post().to(sign_out))
        .route("/password", web::get().to(password_page))
        .route("/password", web::post().to(change_password));
}

/// The sign-in form's own token (a cookie and a hidden field that must agree), so another site
/// cannot sign a browser in as someone else.
const SIGN_IN_COOKIE: &str = "suppress_sign_in";

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    token: String,
    next: String,
    name: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    name: String,
    role: &'static str,
    sections: Vec<(&'static str, &'static str, &'static str)>,
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

/// Where to go after signing in: a path of this site only (never `//elsewhere`).
fn safe_next(next: Option<&str>) -> String {
    match next {
        // ASCII only: a path is sent back in a `Location` header.
        Some(n)
            if n.is_ascii() && n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") && !n.chars().any(char::is_control) =>
        {
            n.to_owned()
        }
        _ => "/".into(),
    }
}

fn sign_in_form(state: &AppState, status: StatusCode, next: String, name: String, error: Option<String>) -> HttpResponse {
    let token = generate_key();
    let mut res = super::page(status, &SignInPage { chrome: Chrome::anonymous(Some(state)), token: token.clone(), next, name, error });
    let cookie = Cookie::build(SIGN_IN_COOKIE, token)
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/sign-in")
        .secure(session::secure(state))
        .finish();
    let _ = res.add_cookie(&cookie);
    res
}

/// What each page is for, as the home page lists it.
fn describe(href: &str) -> &'static str {
    match href {
        "/people" => "Find a customer by phone number, email or address; record an opt-out or a consent.",
        "/lists" => "Upload a campaign list and download the clean list, with the reasons for every row removed.",
        "/registers" => "TPS, CTPS and MPS: when each was imported and how long it can be relied on.",
        "/compliance" => "What was known about a customer, and why.",
        "/admin" => "Create, disable and reset users; create and revoke API keys.",
        _ => "",
    }
}

async fn home(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed: Result<Signed, PageError>,
    q: web::Query<Next>,
) -> Result<HttpResponse, PageError> {
    match signed {
        Ok(signed) => {
            let sections =
                super::sections(signed.user.role).into_iter().filter(|(h, _)| *h != "/").map(|(h, l)| (h, l, describe(h))).collect();
            Ok(super::ok(&HomePage {
                chrome: Chrome::new(&state, &signed, "/"),
                name: signed.user.name.clone(),
                role: signed.user.role.as_str(),
                sections,
            }))
        }
        Err(PageError::SignIn { .. }) => {
            let _ = req;
            Ok(sign_in_form(&state, StatusCode::OK, safe_next(q.next.as_deref()), String::new(), None))
        }
        Err(other) => Err(other),
    }
}

#[derive(Deserialize)]
struct SignInForm {
    name: String,
    password: String,
    token: String,
    next: Option<String>,
}

async fn sign_in(state: web::Data<AppState>, req: HttpRequest, form: web::Form<SignInForm>) -> Result<HttpResponse, PageError> {
    let SignInForm { name, password, token, next } = form.into_inner();
    let next = safe_next(next.as_deref());
    let cookie_token = req.cookie(SIGN_IN_COOKIE).map(|c| c.value().to_owned()).unwrap_or_default();
    if !session::from_this_site(&req, &state) || cookie_token.is_empty() || cookie_token != token {
        let error = "The sign-in form had expired or came from another site. Nothing was done: sign in again here.".to_owned();
        return Ok(sign_in_form(&state, StatusCode::FORBIDDEN, next, name, Some(error)));
    }
    let app = state.app.clone();
    let who = name.clone();
    let outcome = crate::http::blocking(move || users::sign_in(&app.store, &app.password_checks, &who, &password)).await?;
    match outcome {
        Ok(new) => {
            let to = if new.user.must_change_password { "/password".to_owned() } else { next };
            let mut res = super::see_other(&to);
            res.add_cookie(&session::cookie(&state, new.token)).map_err(crate::app::AppError::internal)?;
            Ok(res)
        }
        Err(e) if matches!(e.code, ErrorCode::SignInFailed | ErrorCode::TooManyAttempts) => {
            let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::UNAUTHORIZED);
            let mut res = sign_in_form(&state, status, next, name, Some(super::sentence(&e.message)));
            if let Some(s) = e.retry_after.and_then(|s| actix_web::http::header::HeaderValue::from_str(&s.to_string()).ok()) {
                res.headers_mut().insert(actix_web::http::header::RETRY_AFTER, s);
            }
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
}

/// A form with no fields but the token (sign out, and other one-button forms).
#[derive(Deserialize)]
pub struct NoFields {}

async fn sign_out(state: web::Data<AppState>, posted: Posted<NoFields>) -> Result<HttpResponse, PageError> {
    let session = posted.signed.session;
    crate::http::call(&state.store, move |conn| users::sign_out(conn, &session)).await?;
    let mut res = super::see_other("/");
    res.add_cookie(&session::removal(&state)).map_err(crate::app::AppError::internal)?;
    Ok(res)
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    chrome: Chrome,
    one_time: bool,
    min: usize,
    error: Option<String>,
}

async fn password_page(state: web::Data<AppState>, signed: Signed) -> Result<HttpResponse, PageError> {
    let one_time = signed.user.must_change_password;
    Ok(super::ok(&PasswordPage { chrome: Chrome::new(&state, &signed, "/password"), one_time, min: users::MIN_PASSWORD, error: None }))
}

#[derive(Deserialize)]
struct PasswordForm {
    current: String,
    password: String,
    confirm: String,
}

async fn change_password(state: web::Data<AppState>, posted: Posted<PasswordForm>) -> Result<HttpResponse, PageError> {
    let Posted { signed, form } = posted;
    let again = |error: String| {
        let one_time = signed.user.must_change_password;
        super::page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &PasswordPage { chrome: Chrome::new(&state, &signed, "/password"), one_time, min: users::MIN_PASSWORD, error: Some(error) },
        )
    };
    if form.password != form.confirm {
        return Ok(again("The new password and its confirmation differ: type the same password in both.".into()));
    }
    let app = state.app.clone();
    let session = signed.session.clone();
    match crate::http::blocking(move || users::change_password(&app.store, &app.password_checks, &session, &form.current, &form.password))
        .await?
    {
        Ok(()) => Ok(super::see_other("/")),
        Err(e) if e.code != ErrorCode::Internal && e.code != ErrorCode::DatabaseUnavailable => Ok(again(super::sentence(&e.message))),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_site_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/people?q=1")), "/people?q=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some("/caf\u{e9}")), "/", "a Location header takes ASCII only");
    }
}
