//! `/admin` (administrators only, `Capability::ManageAccess`): users and API keys (CONTRACT §7,
//! §10), through `app::users` and `app::keys` as the CLI uses them.
//!
//! A one-time password or a new key is shown once, on the page answered to the POST that made it
//! (200, `no-store`): never in a URL, a redirect or a log; only its hash is kept.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::session::Posted;
use super::{day, Chrome, PageError, Signed};
use crate::app::{keys, users, AppError, ErrorCode};
use crate::domain::access::{Capability, Role};
use crate::http::AppState;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(admin))
        .route("/admin/users", web::post().to(create_user))
        .route("/admin/users/disable", web::post().to(disable_user))
        .route("/admin/users/reset", web::post().to(reset_user))
        .route("/admin/keys", web::post().to(create_key))
        .route("/admin/keys/revoke", web::post().to(revoke_key));
}

/// What each role may do, as the forms explain it (the rights themselves are `Role::may`).
fn role_hint(role: Role) -> &'static str {
    match role {
        Role::Agent => "Finds customers and records their opt-outs and consents.",
        Role::Campaign => "Uploads lists to screen and downloads the results.",
        Role::Compliance => "Sees what is held about a customer, past lists and the import history, to answer complaints.",
        Role::Admin => "Everything, including users, API keys and register imports.",
    }
}

/// A role as the forms offer it.
pub struct RoleChoice {
    pub value: &'static str,
    pub hint: &'static str,
    pub selected: bool,
}

fn role_choices(selected: &str) -> Vec<RoleChoice> {
    [Role::Agent, Role::Campaign, Role::Compliance, Role::Admin]
        .into_iter()
        .map(|r| RoleChoice { value: r.as_str(), hint: role_hint(r), selected: r.as_str() == selected })
        .collect()
}

/// A user as the table shows them.
pub struct UserLine {
    pub name: String,
    pub role: &'static str,
    pub email: String,
    /// "one-time" (not yet changed at first sign-in) or "set".
    pub password: &'static str,
    pub created: String,
    pub disabled: String,
    /// Actions are offered for users in use; `me` has no disable button.
    pub in_use: bool,
    pub me: bool,
}

/// A key as the table shows it (never the key).
pub struct KeyLine {
    pub name: String,
    pub role: &'static str,
    pub created: String,
    pub revoked: String,
    pub in_use: bool,
}

/// The create-user form as typed, and why it was refused.
#[derive(Default)]
pub struct UserFormState {
    pub name: String,
    pub role: String,
    pub email: String,
    pub error: Option<String>,
}

#[derive(Default)]
pub struct KeyFormState {
    pub name: String,
    pub role: String,
    pub error: Option<String>,
}

/// A secret shown once: a one-time password or a key.
pub struct Secret {
    pub heading: String,
    pub sentence: String,
    pub value: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    chrome: Chrome,
    users: Vec<UserLine>,
    keys: Vec<KeyLine>,
    user_form: UserFormState,
    user_roles: Vec<RoleChoice>,
    key_form: KeyFormState,
    key_roles: Vec<RoleChoice>,
    secret: Option<Secret>,
    done: Option<String>,
    /// A refused disable, reset or revoke.
    error: Option<String>,
    /// Whether and where email goes, in a sentence.
    email: String,
    outbox: Vec<MessageLine>,
}

/// A message of the outbox as the table shows it (recipients masked, as the API lists them).
pub struct MessageLine {
    pub written: String,
    pub kind: &'static str,
    pub subject: String,
    pub to: String,
    pub status: String,
    /// `state-yes` (sent), `state-no` (failed) or `state-wait` (pending): the colour beside the words.
    pub class: &'static str,
    pub error: String,
}

/// Messages the admin page shows.
const OUTBOX_SHOWN: i64 = 50;

pub fn message_line(m: crate::app::outbox::Listed) -> MessageLine {
    let kind = match m.kind.as_str() {
        crate::app::mail::IMPORT_REPORT => "Import report",
        crate::app::mail::SPOOL_REPORT => "Nightly import report",
        crate::app::mail::STALE_ALARM => "Staleness alarm",
        crate::app::mail::OPT_OUT_CONFIRMATION => "Opt-out confirmation",
        _ => "Message",
    };
    use crate::app::outbox::{FAILED, SENT};
    let (status, class) = match m.status.as_str() {
        SENT => (
            format!(
                "sent{}",
                m.sent_at
                    .as_deref()
                    .and_then(|t| crate::domain::time::parse_timestamp(t).ok())
                    .map(|t| format!(" {}", stamp(crate::domain::time::uk(t))))
                    .unwrap_or_default()
            ),
            "state-yes",
        ),
        FAILED => (format!("failed after {} attempts", m.attempts), "state-no"),
        _ if m.attempts > 0 => (format!("waiting: {} attempts so far", m.attempts), "state-wait"),
        _ => ("waiting".to_owned(), "state-wait"),
    };
    MessageLine {
        written: crate::domain::time::parse_timestamp(&m.created_at).map(|t| stamp(crate::domain::time::uk(t))).unwrap_or(m.created_at),
        kind,
        subject: m.subject,
        to: m.to_masked,
        status,
        class,
        error: m.last_error.unwrap_or_default(),
    }
}

/// What the page shows besides the tables.
#[derive(Default)]
struct Shown {
    user_form: UserFormState,
    key_form: KeyFormState,
    secret: Option<Secret>,
    /// A change a redirect names, confirmed against the tables before it is said.
    outcome: Outcome,
    error: Option<String>,
}

fn stamp(t: chrono::NaiveDateTime) -> String {
    t.format("%-d %b %Y %H:%M").to_string()
}

/// The page, read fresh (after a change it shows the change), with `status`.
async fn render(state: &AppState, signed: &Signed, status: StatusCode, shown: Shown) -> Result<HttpResponse, PageError> {
    let store = state.store.clone();
    let (user_rows, key_rows, messages) = crate::http::blocking(move || -> Result<_, AppError> {
        let messages = crate::app::outbox::list(&mut *store.conn()?, None, Some(OUTBOX_SHOWN))?;
        Ok((users::list(&store)?, keys::list(&store)?, messages))
    })
    .await??;
    let mail = &state.settings.mail;
    let email =
        match (&mail.smtp_url, mail.report_to.is_empty()) {
            (None, _) => "Email is off (SUPPRESS_SMTP_URL is not set): no import reports, alarms or confirmations are sent.".to_owned(),
            (Some(_), true) => {
                "Email is on, but nobody gets import reports or staleness alarms (SUPPRESS_REPORT_TO is not set).".to_owned()
            }
            (Some(_), false) => format!(
                "Import reports and staleness alarms go to {}.",
                mail.report_to.iter().map(|a| crate::domain::mask::mask_email(a)).collect::<Vec<_>>().join(", ")
            ),
        } + if mail.smtp_url.is_some() && mail.confirm_opt_outs { " Opt-outs that name an email address are confirmed to it." } else { "" };
    let me = signed.user.name.clone();
    let users: Vec<UserLine> = user_rows
        .into_iter()
        .map(|u| UserLine {
            me: u.name == me,
            in_use: u.disabled_at.is_none(),
            name: u.name,
            role: u.role.as_str(),
            email: u.email.unwrap_or_default(),
            password: if u.must_change_password { "one-time" } else { "set" },
            created: day(u.created_at.date()),
            disabled: u.disabled_at.map(stamp).unwrap_or_default(),
        })
        .collect();
    let mut keys: Vec<KeyLine> = key_rows
        .into_iter()
        .map(|k| KeyLine {
            in_use: k.revoked_at.is_none(),
            name: k.name,
            role: k.role.as_str(),
            created: day(k.created_at.date()),
            revoked: k.revoked_at.map(stamp).unwrap_or_default(),
        })
        .collect();
    // Keys in use first, then by name.
    keys.sort_by(|a, b| (!a.in_use, &a.name).cmp(&(!b.in_use, &b.name)));
    let Shown { user_form, key_form, secret, outcome, error } = shown;
    let done = match outcome {
        Outcome { disabled: Some(name), .. } if users.iter().any(|u: &UserLine| u.name == name && !u.in_use) => {
            Some(format!("{name} is disabled: they cannot sign in, and their sessions have ended."))
        }
        Outcome { revoked: Some(name), .. } if keys.iter().any(|k| k.name == name && !k.in_use) => {
            Some(format!("The key {name} is revoked: requests with it are refused from now."))
        }
        _ => None,
    };
    let user_roles = role_choices(if user_form.role.is_empty() { "agent" } else { &user_form.role });
    let key_roles = role_choices(if key_form.role.is_empty() { "agent" } else { &key_form.role });
    Ok(super::page(
        status,
        &AdminPage {
            chrome: Chrome::new(state, signed, "/admin"),
            users,
            keys,
            user_form,
            user_roles,
            key_form,
            key_roles,
            secret,
            done,
            error,
            email,
            outbox: messages.into_iter().map(message_line).collect(),
        },
    ))
}

/// An outcome a redirect names (`?disabled=NAME`, `?revoked=NAME`); shown only as a sentence.
#[derive(Deserialize, Default)]
struct Outcome {
    disabled: Option<String>,
    revoked: Option<String>,
}

async fn admin(state: web::Data<AppState>, signed: Signed, q: web::Query<Outcome>) -> Result<HttpResponse, PageError> {
    signed.require(Capability::ManageAccess)?;
    render(&state, &signed, StatusCode::OK, Shown { outcome: q.into_inner(), ..Shown::default() }).await
}

/// A refusal of what was typed: its status and sentence; a failure of ours is an error page.
fn refusal(e: AppError) -> Result<(StatusCode, String), PageError> {
    if e.code.status() >= 500 {
        return Err(e.into());
    }
    let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    Ok((status, super::sentence(&e.message)))
}

/// A row's action on a name that is not (or no longer) in use: the use case's message points
/// at the command line; the page points at its table.
fn row_refusal(e: AppError, name: &str, what: &str) -> Result<(StatusCode, String), PageError> {
    if e.code == ErrorCode::NotFound {
        return Ok((StatusCode::NOT_FOUND, format!("There is no {what} in use named {name:?}: choose one from the table of {what}s.")));
    }
    refusal(e)
}

fn parse_role(given: &str) -> Result<Role, AppError> {
    given.parse::<Role>().map_err(|m| AppError::field(ErrorCode::InvalidBody, "role", m))
}

#[derive(Deserialize)]
struct UserForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    email: String,
}

async fn create_user(state: web::Data<AppState>, posted: Posted<UserForm>) -> Result<HttpResponse, PageError> {
    let Posted { signed, form } = posted;
    signed.require(Capability::ManageAccess)?;
    let store = state.store.clone();
    let (name, role, email) = (form.name.trim().to_owned(), form.role.clone(), form.email.clone());
    let made = crate::http::blocking(move || {
        let role = parse_role(&role)?;
        users::create(&store, &name, role, Some(&email), None)
    })
    .await?;
    match made {
        Ok(password) => {
            let name = form.name.trim().to_owned();
            tracing::info!(by = %signed.user.name, user = %name, role = %form.role.trim(), "user created on the admin page");
            let secret = Secret {
                heading: format!("{name} is created"),
                sentence: format!("Give {name} this one-time password; they must change it when they first sign in."),
                value: password,
            };
            render(&state, &signed, StatusCode::OK, Shown { secret: Some(secret), ..Shown::default() }).await
        }
        Err(e) => {
            let (status, sentence) = refusal(e)?;
            let user_form = UserFormState { name: form.name, role: form.role, email: form.email, error: Some(sentence) };
            render(&state, &signed, status, Shown { user_form, ..Shown::default() }).await
        }
    }
}

/// A form naming one user or key (the row's button).
#[derive(Deserialize)]
struct NameForm {
    #[serde(default)]
    name: String,
}

async fn disable_user(state: web::Data<AppState>, posted: Posted<NameForm>) -> Result<HttpResponse, PageError> {
    let Posted { signed, form } = posted;
    signed.require(Capability::ManageAccess)?;
    let (store, by, name) = (state.store.clone(), signed.user.name.clone(), form.name.trim().to_owned());
    let who = name.clone();
    match crate::http::blocking(move || users::disable_by(&store, &by, &who)).await? {
        Ok(()) => {
            tracing::info!(by = %signed.user.name, user = %name, "user disabled on the admin page");
            Ok(super::see_other(&format!("/admin?disabled={}", encode(&name))))
        }
        Err(e) => {
            let (status, sentence) = row_refusal(e, &name, "user")?;
            render(&state, &signed, status, Shown { error: Some(sentence), ..Shown::default() }).await
        }
    }
}

async fn reset_user(state: web::Data<AppState>, posted: Posted<NameForm>) -> Result<HttpResponse, PageError> {
    let Posted { signed, form } = posted;
    signed.require(Capability::ManageAccess)?;
    let (store, name) = (state.store.clone(), form.name.trim().to_owned());
    let who = name.clone();
    match crate::http::blocking(move || users::reset(&store, &who)).await? {
        Ok(password) => {
            tracing::info!(by = %signed.user.name, user = %name, "password reset on the admin page");
            let secret = Secret {
                heading: format!("{name}'s password is reset"),
                sentence: format!(
                    "Give {name} this one-time password; they must change it when they first sign in. Their sessions have ended."
                ),
                value: password,
            };
            render(&state, &signed, StatusCode::OK, Shown { secret: Some(secret), ..Shown::default() }).await
        }
        Err(e) => {
            let (status, sentence) = row_refusal(e, &name, "user")?;
            render(&state, &signed, status, Shown { error: Some(sentence), ..Shown::default() }).await
        }
    }
}

#[derive(Deserialize)]
struct KeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

async fn create_key(state: web::Data<AppState>, posted: Posted<KeyForm>) -> Result<HttpResponse, PageError> {
    let Posted { signed, form } = posted;
    signed.require(Capability::ManageAccess)?;
    let (store, name, role) = (state.store.clone(), form.name.trim().to_owned(), form.role.clone());
    let made = crate::http::blocking(move || {
        let role = parse_role(&role)?;
        keys::create(&store, &name, role)
    })
    .await?;
    match made {
        Ok(key) => {
            let name = form.name.trim().to_owned();
            tracing::info!(by = %signed.user.name, key = %name, role = %form.role.trim(), "API key created on the admin page");
            let secret = Secret {
                heading: format!("The key {name} is created"),
                sentence: "Copy this key now: it is shown only this once. Programs send it as Authorization: Bearer followed by the key."
                    .to_owned(),
                value: key,
            };
            render(&state, &signed, StatusCode::OK, Shown { secret: Some(secret), ..Shown::default() }).await
        }
        Err(e) => {
            let (status, sentence) = refusal(e)?;
            let key_form = KeyFormState { name: form.name, role: form.role, error: Some(sentence) };
            render(&state, &signed, status, Shown { key_form, ..Shown::default() }).await
        }
    }
}

async fn revoke_key(state: web::Data<AppState>, posted: Posted<NameForm>) -> Result<HttpResponse, PageError> {
    let Posted { signed, form } = posted;
    signed.require(Capability::ManageAccess)?;
    let (store, name) = (state.store.clone(), form.name.trim().to_owned());
    let which = name.clone();
    match crate::http::blocking(move || keys::revoke(&store, &which)).await? {
        Ok(()) => {
            state.keys.forget_all();
            tracing::info!(by = %signed.user.name, key = %name, "API key revoked on the admin page");
            Ok(super::see_other(&format!("/admin?revoked={}", encode(&name))))
        }
        Err(e) => {
            let (status, sentence) = row_refusal(e, &name, "key")?;
            render(&state, &signed, status, Shown { error: Some(sentence), ..Shown::default() }).await
        }
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_is_offered_with_a_hint_and_the_chosen_one_selected() {
        let choices = role_choices("compliance");
        assert_eq!(choices.len(), Role::ALL.len());
        assert!(choices.iter().all(|c| !c.hint.is_empty()));
        assert_eq!(choices.iter().filter(|c| c.selected).map(|c| c.value).collect::<Vec<_>>(), ["compliance"]);
    }
}
