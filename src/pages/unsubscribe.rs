//! One-click unsubscribe (CONTRACT §11): `GET /u/{token}` shows the address (partly masked) and
//! one button; `POST /u/{token}` — the button, or a mail client's RFC 8058 `List-Unsubscribe=One-Click`
//! — records an `email` opt-out with `source: email` through the statement writer. No session, no
//! key, no form token: the signed token in the address is the permission, and a token altered in
//! any way is a 404 page that records nothing.

use actix_web::{web, HttpResponse};
use askama::Template;

use super::{Chrome, PageError};
use crate::app::statements::{self, StatementParams};
use crate::domain::mask::mask_email;
use crate::domain::{Channel, EmailKey, StatementKind};
use crate::http::AppState;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/u/{token}")
            .app_data(web::PayloadConfig::new(BODY_LIMIT))
            .route(web::get().to(show))
            .route(web::post().to(unsubscribe)),
    );
}

/// The largest body a POST may carry: the button's empty form, or `List-Unsubscribe=One-Click`.
/// It is read (and not used) so that the connection is left ready for the next request.
const BODY_LIMIT: usize = 4 << 10;

/// How an unsubscribe is recorded (`recorded_via`).
pub const VIA: &str = "unsubscribe";

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage {
    chrome: Chrome,
    /// The form's address (the page's own).
    action: String,
    /// The address, partly masked.
    shown: String,
    done: bool,
}

/// The address a token names, or the 404 page.
fn verified(state: &AppState, token: &str) -> Result<EmailKey, PageError> {
    state.unsubscribe.verify(token).ok_or_else(|| {
        PageError::not_found(
            "This unsubscribe link is not valid: it may have been cut short or changed. Open the link from the email again, or reply to the email to ask to be unsubscribed.",
        )
    })
}

fn page(token: &str, email: &EmailKey, done: bool) -> HttpResponse {
    // Not the stale-register banner: this page is for the public, not for staff.
    super::ok(&UnsubscribePage { chrome: Chrome::anonymous(None), action: format!("/u/{token}"), shown: mask_email(email.as_str()), done })
}

async fn show(state: web::Data<AppState>, token: web::Path<String>) -> Result<HttpResponse, PageError> {
    let email = verified(&state, &token)?;
    Ok(page(&token, &email, false))
}

/// Whatever the body (the button's empty form, or `List-Unsubscribe=One-Click`) and its type:
/// the token decides. Each POST records the opt-out again (the history shows each).
async fn unsubscribe(state: web::Data<AppState>, token: web::Path<String>, _body: web::Bytes) -> Result<HttpResponse, PageError> {
    let email = verified(&state, &token)?;
    let params = StatementParams {
        phone: None,
        email: Some(email.as_str().to_owned()),
        address: None,
        channels: Some(vec![Channel::Email.as_str().to_owned()]),
        source: "email".into(),
        recorded_by: None,
        note: None,
        evidence: None,
    };
    statements::record(&state.app, params, StatementKind::OptOut, VIA).await?;
    Ok(page(&token, &email, true))
}
