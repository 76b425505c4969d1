//! Email out (CONTRACT §11): the SMTP mailer (lettre over rustls, no OpenSSL) and the outbox
//! worker that sends what the use cases wrote to the outbox. Nothing here runs inside a request.

pub mod worker;

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::SmtpTransport;
use lettre::{Message, Transport};

use crate::config::MailSettings;
use crate::store::outbox::Claimed;

/// How long one SMTP conversation may take before it counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends messages over SMTP.
pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
    /// Where the mail goes, for the log: `host:port`, never the credentials.
    pub relay: String,
}

/// Why a send failed, and whether trying again can help (a message that cannot be composed
/// never will be).
#[derive(Debug)]
pub struct SendError {
    pub message: String,
    pub permanent: bool,
}

/// Check every email setting; a setting that cannot work is an error naming it (and never
/// echoing a password). Unset SMTP: Ok(None).
pub fn check(settings: &MailSettings) -> anyhow::Result<Option<Mailer>> {
    for to in &settings.report_to {
        // The address is masked: settings errors reach logs.
        Mailbox::from_str(to)
            .map_err(|e| anyhow::anyhow!("{:?} is not an email address: {e}", crate::domain::mask::mask_addresses(to)))
            .context("SUPPRESS_REPORT_TO")?;
    }
    let from = settings
        .from
        .as_deref()
        .map(|f| Mailbox::from_str(f).map_err(|e| anyhow::anyhow!("{f:?} is not an email address: {e}")))
        .transpose()
        .context("SUPPRESS_MAIL_FROM")?;
    let Some(url) = &settings.smtp_url else { return Ok(None) };
    let Some(from) = from else {
        bail!("SUPPRESS_MAIL_FROM: email is on (SUPPRESS_SMTP_URL is set) but has no From address; set SUPPRESS_MAIL_FROM");
    };
    let roots = match &settings.ca_file {
        Some(path) => {
            let pem = std::fs::read(path).with_context(|| format!("SUPPRESS_SMTP_CA_FILE: cannot read {}", path.display()))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| anyhow::anyhow!("{} holds no PEM certificate: {e}", path.display()))
                .context("SUPPRESS_SMTP_CA_FILE")?;
            vec![cert]
        }
        None => Vec::new(),
    };
    let (transport, relay) = transport(url.expose(), roots).context("SUPPRESS_SMTP_URL")?;
    Ok(Some(Mailer { transport, from, relay }))
}

/// The transport a URL names: `smtp://` tries STARTTLS and goes on in clear only where the
/// server does not offer it; `smtps://` is TLS from the first byte. A user in the URL logs in,
/// and then STARTTLS is required: a password is never sent in clear.
fn transport(given: &str, roots: Vec<Certificate>) -> anyhow::Result<(SmtpTransport, String)> {
    // The error never repeats the URL: it may hold a password.
    let url = url::Url::parse(given.trim()).map_err(|e| anyhow::anyhow!("not an smtp:// or smtps:// address ({e})"))?;
    let wrapped = match url.scheme() {
        "smtp" => false,
        "smtps" => true,
        other => bail!("the scheme {other:?} is not smtp:// or smtps://"),
    };
    let host = url.host_str().filter(|h| !h.is_empty()).context("the address names no host")?.trim_matches(['[', ']']).to_owned();
    if url.path() != "" && url.path() != "/" || url.query().is_some() {
        bail!("the address has a path or query; give only smtp[s]://[user:password@]host[:port]");
    }
    let port = url.port().unwrap_or(if wrapped { 465 } else { 25 });
    let mut params = TlsParameters::builder(host.clone());
    for cert in roots {
        params = params.add_root_certificate(cert);
    }
    let params = params.build_rustls().map_err(|e| anyhow::anyhow!("cannot set up TLS: {e}"))?;
    let login = !url.username().is_empty();
    let tls = match (wrapped, login) {
        (true, _) => Tls::Wrapper(params),
        (false, true) => Tls::Required(params),
        (false, false) => Tls::Opportunistic(params),
    };
    let mut builder = SmtpTransport::builder_dangerous(host.as_str()).port(port).tls(tls).timeout(Some(SMTP_TIMEOUT));
    if login {
        let decode = |s: &str| percent_decode(s).context("the user or password is not percent-encoded UTF-8");
        builder = builder.credentials(Credentials::new(decode(url.username())?, decode(url.password().unwrap_or(""))?));
    }
    Ok((builder.build(), format!("{host}:{port}")))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Mailer {
    /// Send one message; it is delivered when this returns Ok.
    pub fn send(&self, m: &Claimed) -> Result<(), SendError> {
        let email = compose(m, &self.from, SystemTime::now()).map_err(|e| SendError { message: e, permanent: true })?;
        // Every refusal by the server, even a permanent one (a login refused, a relay denied: often
        // a setting being fixed), is retried until the message's time is up (CONTRACT §11).
        self.transport.send(&email).map(drop).map_err(|e| SendError { message: e.to_string(), permanent: false })
    }
}

/// The message as sent: From, To, a UTF-8 subject, Date, the stored Message-ID (the same on every
/// attempt), `List-Unsubscribe` with RFC 8058's one-click `List-Unsubscribe-Post` where the
/// message has a link, and text and HTML alternatives.
pub fn compose(m: &Claimed, from: &Mailbox, date: SystemTime) -> Result<Message, String> {
    // A row that holds what to say (an opt-out confirmation) is rendered here, off the request.
    let (text, html) = match &m.params {
        Some(params) if m.body_text.is_empty() => crate::app::mail::render(&m.kind, &m.subject, params, m.unsubscribe_url.as_deref())?,
        _ => (m.body_text.clone(), m.body_html.clone()),
    };
    let mut builder = Message::builder().from(from.clone()).subject(m.subject.clone()).date(date).message_id(Some(m.message_id.clone()));
    for to in m.recipients.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let mailbox = Mailbox::from_str(to).map_err(|e| format!("a recipient is not an email address: {e}"))?;
        builder = builder.to(mailbox);
    }
    if let Some(url) = &m.unsubscribe_url {
        let name = |n: &str| HeaderName::new_from_ascii(n.to_owned()).map_err(|e| e.to_string());
        builder = builder
            .raw_header(HeaderValue::new(name("List-Unsubscribe")?, format!("<{url}>")))
            .raw_header(HeaderValue::new(name("List-Unsubscribe-Post")?, "List-Unsubscribe=One-Click".to_owned()));
    }
    builder.multipart(MultiPart::alternative_plain_html(text, html)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Hidden;

    fn claimed() -> Claimed {
        Claimed {
            id: 1,
            kind: "opt_out_confirmation".into(),
            recipients: "zoë@example.com".into(),
            to_masked: "z…@example.com".into(),
            subject: "TPS 2026-11-24 imported: +3,912 −14".into(),
            body_text: "text part".into(),
            body_html: "<p>html part</p>".into(),
            params: None,
            unsubscribe_url: Some("https://suppress.example.com/u/abc".into()),
            message_id: "<0123@example.com>".into(),
            created_at: chrono::NaiveDateTime::default(),
            attempts: 1,
        }
    }

    #[test]
    fn a_message_has_both_parts_its_headers_and_a_utf8_subject() {
        let from = Mailbox::from_str("Suppress <suppress@example.com>").expect("an address");
        let formatted = String::from_utf8(compose(&claimed(), &from, SystemTime::now()).expect("a message").formatted()).expect("ascii");
        for needle in [
            "From: Suppress <suppress@example.com>",
            "Message-ID: <0123@example.com>",
            "List-Unsubscribe: <https://suppress.example.com/u/abc>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "Content-Type: multipart/alternative",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Type: text/html; charset=utf-8",
            // RFC 2047: the word with the minus sign is encoded, the rest stays readable.
            "Subject: TPS 2026-11-24 imported: +3,912 =?utf-8?b?4oiSMTQ=?=",
            "Date: ",
        ] {
            assert!(formatted.contains(needle), "{needle:?} missing from\n{formatted}");
        }
    }

    #[test]
    fn settings_that_cannot_work_are_named() {
        let on = |url: &str| MailSettings {
            smtp_url: Some(Hidden::new(url.into())),
            from: Some("a@example.com".into()),
            ..MailSettings::default()
        };
        let err = |s: MailSettings| format!("{:#}", check(&s).err().expect("refused"));
        assert!(err(on("http://mail.example.com")).starts_with("SUPPRESS_SMTP_URL"));
        assert!(err(on("smtp://")).starts_with("SUPPRESS_SMTP_URL"));
        let secret = err(on("smtp://user:hunter2@mail.example.com:25/x"));
        assert!(secret.starts_with("SUPPRESS_SMTP_URL") && !secret.contains("hunter2"), "{secret}");
        assert!(err(MailSettings { from: None, ..on("smtp://mail.example.com") }).starts_with("SUPPRESS_MAIL_FROM"));
        assert!(err(MailSettings { report_to: vec!["not an address".into()], ..on("smtp://mail.example.com") })
            .starts_with("SUPPRESS_REPORT_TO"));
        assert!(err(MailSettings { ca_file: Some("/nonexistent.pem".into()), ..on("smtp://mail.example.com") })
            .starts_with("SUPPRESS_SMTP_CA_FILE"));
        assert!(check(&on("smtps://user:p%40ss@mail.example.com")).expect("works").is_some());
        assert!(check(&MailSettings::default()).expect("unset is fine").is_none());
    }
}
