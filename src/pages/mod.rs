//! HTML pages for people (CONTRACT §10): server-rendered askama templates (checked at compile time,
//! escaped by default) over the same use cases (`app`) as the API, so a page and the API cannot
//! disagree. Sessions, sign-in and the CSRF rules are in `session`; each page is a module with a
//! `config` function. No page needs JavaScript; `assets/app.js` only adds upload progress.

pub mod admin;
pub mod assets;
pub mod compliance;
pub mod lists;
pub mod people;
pub mod registers;
pub mod session;
pub mod sign_in;
pub mod unsubscribe;

use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{web, HttpMessage, HttpResponse, ResponseError};
use askama::Template;

use crate::app::{AppError, ErrorCode};
use crate::domain::access::{Capability, Role};
use crate::domain::time::today_uk;
use crate::http::AppState;
pub use session::Signed;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.configure(assets::config)
        .configure(sign_in::config)
        .configure(registers::config)
        .configure(admin::config)
        .configure(compliance::config)
        .configure(people::config)
        .configure(lists::config)
        .configure(unsubscribe::config);
}

/// A link of the main navigation.
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The pages a person may open, in the order the navigation shows them: a page a role may not use
/// is not linked (CONTRACT §10).
pub fn sections(role: Role) -> Vec<(&'static str, &'static str)> {
    let mut items = vec![("/", "Home")];
    if role.may(Capability::RecordStatements) || role.may(Capability::ReadPreferences) {
        items.push(("/people", "Customers"));
    }
    if role.may(Capability::Scrub) {
        items.push(("/lists", "Lists"));
    }
    items.push(("/registers", "Registers"));
    if role.may(Capability::Evidence) {
        items.push(("/compliance", "Compliance"));
    }
    if role.may(Capability::ManageAccess) {
        items.push(("/admin", "Users and keys"));
    }
    items
}

/// What every page shows around its content: who is signed in, the navigation, the sign-out
/// form's token, and the registers that are stale.
pub struct Chrome {
    pub user: Option<(String, Role)>,
    pub nav: Vec<NavItem>,
    pub csrf: String,
    /// A sentence per stale register (CONTRACT §10: on every page, for every role).
    pub stale: Vec<String>,
}

/// Who a request's session showed (kept in the request by `Signed`), so that an error page shows
/// the same navigation, name and sign-out as the page it stands in for.
#[derive(Debug, Clone)]
pub struct Seen {
    pub name: String,
    pub role: Role,
    pub csrf: String,
}

impl Chrome {
    /// For a signed-in person on the page at `here`.
    pub fn new(state: &AppState, signed: &Signed, here: &str) -> Chrome {
        Chrome::of(state, Seen { name: signed.user.name.clone(), role: signed.user.role, csrf: signed.csrf.clone() }, here)
    }

    fn of(state: &AppState, seen: Seen, here: &str) -> Chrome {
        let nav = sections(seen.role)
            .into_iter()
            .map(|(href, label)| NavItem { href, label, current: if href == "/" { here == "/" } else { here.starts_with(href) } })
            .collect();
        Chrome { user: Some((seen.name, seen.role)), nav, csrf: seen.csrf, stale: stale(state) }
    }

    /// For a page seen without a session (sign-in, errors).
    pub fn anonymous(state: Option<&AppState>) -> Chrome {
        Chrome { user: None, nav: Vec::new(), csrf: String::new(), stale: state.map(stale).unwrap_or_default() }
    }
}

/// One sentence per register that cannot vouch for today, saying what to import.
pub fn stale(state: &AppState) -> Vec<String> {
    let today = today_uk();
    state
        .registers
        .status()
        .into_iter()
        .filter(|s| s.stale)
        .map(|s| {
            let name = s.name.label();
            match s.as_of {
                None => format!("The {name} register has never been imported: {} lists cannot be screened until {} {name} file is imported.", s.channel, a(name)),
                Some(as_of) => {
                    let needed = state.registers.lead_time(s.name).before(today).map(|d| format!(" dated {} or later", d.format("%-d %b %Y"))).unwrap_or_default();
                    format!(
                        "The {name} register is stale: its snapshot of {} is {} days old. Import {} {name} file{needed} before screening {} lists.",
                        as_of.format("%-d %b %Y"),
                        (today - as_of).num_days(),
                        a(name),
                        s.channel
                    )
                }
            }
        })
        .collect()
}

/// What a page may load: its own stylesheet and script, nothing else; forms post only here.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub use crate::domain::say::a;

/// Render a template as a page with `status`.
pub fn page(status: StatusCode, t: &impl Template) -> HttpResponse {
    match t.render() {
        Ok(html) => HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            // Nothing from elsewhere, no inline script, no framing by another site.
            .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::REFERRER_POLICY, "same-origin"))
            .insert_header((header::X_FRAME_OPTIONS, "DENY"))
            .body(html),
        Err(e) => PageError::from(AppError::internal(e)).error_response(),
    }
}

pub fn ok(t: &impl Template) -> HttpResponse {
    page(StatusCode::OK, t)
}

/// After a POST, where to look next (303, so a reload does not post again).
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    title: &'a str,
    sentence: &'a str,
}

/// A page's refusal or failure, shown as a page that looks like the rest: a title and a sentence
/// that says what to do; never a stack trace or JSON.
#[derive(Debug)]
pub enum PageError {
    /// No session (or it ended): to the sign-in page, coming back here after.
    SignIn { back_to: String },
    /// The user must change their one-time password first.
    ChangePassword,
    /// A refusal or failure with its status and sentence.
    Shown { status: StatusCode, title: &'static str, sentence: String, retry_after: Option<u64> },
}

impl PageError {
    pub fn forbidden() -> PageError {
        PageError::Shown {
            status: StatusCode::FORBIDDEN,
            title: "Not for your role",
            sentence: "Your role does not give you this page. If you need it, ask an administrator.".into(),
            retry_after: None,
        }
    }

    pub fn not_found(sentence: impl Into<String>) -> PageError {
        PageError::Shown { status: StatusCode::NOT_FOUND, title: "Not found", sentence: sentence.into(), retry_after: None }
    }

    /// A form that did not come from this site's page in this session.
    pub fn forged() -> PageError {
        PageError::Shown {
            status: StatusCode::FORBIDDEN,
            title: "Form refused",
            sentence:
                "This form did not come from your signed-in page, so nothing was changed. Open the page again and send the form from there."
                    .into(),
            retry_after: None,
        }
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PageError::SignIn { .. } => f.write_str("sign in first"),
            PageError::ChangePassword => f.write_str("change the one-time password first"),
            PageError::Shown { status, sentence, .. } => write!(f, "{status}: {sentence}"),
        }
    }
}

/// A use case's error, as a page: its message is already a sentence a person can act on.
impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let title = match e.code.status() {
            401 => "Not signed in",
            403 => "Not for your role",
            404 => "Not found",
            409 => "Not possible now",
            410 => "No longer available",
            413 => "Too large",
            429 => "Please wait",
            s if s >= 500 => "Something went wrong",
            _ => "Cannot do that",
        };
        let sentence = if e.code == ErrorCode::Internal {
            "The server failed to answer. Nothing was changed; try again, and if it happens again tell an administrator (the error is in the server's log).".into()
        } else {
            sentence(&e.message)
        };
        PageError::Shown { status, title, sentence, retry_after: e.retry_after }
    }
}

impl From<crate::http::error::ApiError> for PageError {
    fn from(e: crate::http::error::ApiError) -> Self {
        e.into_parts().0.into()
    }
}

impl From<actix_web::error::BlockingError> for PageError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::internal(e).into()
    }
}

/// A refusal of what the person typed (shown on the page with its status), or a failure (an
/// error page).
pub fn refusal(e: AppError) -> Result<(StatusCode, String), PageError> {
    if e.code == ErrorCode::Internal || e.code.status() >= 500 {
        return Err(e.into());
    }
    // The search box's own refusals (nothing typed) are 400 to the API; to a person, as any
    // other, something to correct.
    let status = if e.code.status() == 400 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
    };
    Ok((status, sentence(&e.message)))
}

/// A message as a sentence: a capital first letter and a full stop.
pub fn sentence(message: &str) -> String {
    let mut chars = message.trim().chars();
    let mut s: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
    if !s.ends_with(['.', '!', '?']) {
        s.push('.');
    }
    s
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::SignIn { .. } | PageError::ChangePassword => StatusCode::SEE_OTHER,
            PageError::Shown { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            PageError::SignIn { back_to } => {
                let to = format!("/?next={}", url::form_urlencoded::byte_serialize(back_to.as_bytes()).collect::<String>());
                see_other(&to)
            }
            PageError::ChangePassword => see_other("/password"),
            PageError::Shown { status, title, sentence, retry_after } => {
                let mut res = page(*status, &ErrorPage { chrome: Chrome::anonymous(None), title, sentence });
                if let Some(s) = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
                    res.headers_mut().insert(header::RETRY_AFTER, s);
                }
                res
            }
        }
    }
}

/// For `ErrorHandlers`, on a page's path: every error answer as a page that looks like the rest,
/// with the person's navigation and the stale registers (CONTRACT §10: on every page) — ours
/// (a `PageError`, rendered again here where the request is known) and those actix answered itself
/// (a path that matched no route, a method not allowed, a body it refused).
pub fn in_page_shape<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    if res.status() == StatusCode::SEE_OTHER {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let ours = res.response().error().and_then(|e| e.as_error::<PageError>()).map(|e| match e {
        PageError::Shown { status, title, sentence, retry_after } => (*status, *title, sentence.clone(), *retry_after),
        // Redirects are 303s, passed above.
        other => (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", other.to_string(), None),
    });
    let is_html = res.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if is_html && ours.is_none() {
        // A page answered with its own status and content (a form shown again with a sentence).
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let (req, old) = res.into_parts();
    let status = old.status();
    let (status, title, sentence, retry_after) = ours.unwrap_or_else(|| match status {
        StatusCode::NOT_FOUND => (status, "Not found", NO_PAGE.to_owned(), None),
        StatusCode::METHOD_NOT_ALLOWED => {
            (StatusCode::NOT_FOUND, "Not found", "There is no page at this address for that request.".to_owned(), None)
        }
        s if s.is_server_error() => (
            s,
            "Something went wrong",
            "The server failed to answer. Try again, and if it happens again tell an administrator.".to_owned(),
            None,
        ),
        s => (
            s,
            "Cannot do that",
            format!("The request was refused ({}). Go back and try again.", s.canonical_reason().unwrap_or("error").to_lowercase()),
            None,
        ),
    });
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let seen = req.extensions().get::<Seen>().cloned();
    let chrome = match (&state, seen) {
        (Some(state), Some(seen)) => Chrome::of(state, seen, req.path()),
        (state, None) => Chrome::anonymous(state.as_ref().map(|s| s.get_ref())),
        (None, Some(_)) => Chrome::anonymous(None),
    };
    let mut new = page(status, &ErrorPage { chrome, title, sentence: &sentence });
    if let Some(s) = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        new.headers_mut().insert(header::RETRY_AFTER, s);
    }
    if old.head().connection_type() == actix_web::http::ConnectionType::Close {
        new.head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
    }
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, new).map_into_right_body()))
}

const NO_PAGE: &str = "There is no page at this address. Use the links at the top of the page, or go to the home page.";

/// The 404 page for a path that is no page (the session, if any, is looked up so the page shows
/// the person's navigation).
pub async fn not_found(_signed: Option<Signed>) -> Result<HttpResponse, PageError> {
    Err(PageError::not_found(NO_PAGE))
}

pub use crate::domain::say::day;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_sees_home_and_registers_and_only_its_pages() {
        let hrefs = |r| sections(r).into_iter().map(|(h, _)| h).collect::<Vec<_>>();
        assert_eq!(hrefs(Role::Agent), ["/", "/people", "/registers"]);
        assert_eq!(hrefs(Role::Campaign), ["/", "/lists", "/registers"]);
        assert_eq!(hrefs(Role::Compliance), ["/", "/people", "/registers", "/compliance"]);
        assert_eq!(hrefs(Role::Admin), ["/", "/people", "/lists", "/registers", "/compliance", "/admin"]);
    }

    #[test]
    fn initialisms_take_the_article_they_are_said_with() {
        assert_eq!(
            format!("{} MPS file, {} TPS file, {} CTPS file", a("MPS"), a("TPS"), a("CTPS")),
            "an MPS file, a TPS file, a CTPS file"
        );
    }

    #[test]
    fn messages_become_sentences() {
        assert_eq!(sentence("the list has no phone column"), "The list has no phone column.");
        assert_eq!(sentence("Done."), "Done.");
        assert_eq!(sentence(""), ".");
    }
}
