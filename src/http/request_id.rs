//! Every request has an id (CONTRACT §13), carried by every log line it causes: the caller's
//! `X-Request-Id` when it sends a usable one, else one made here; the id is returned in the
//! response's `X-Request-Id`, so a caller can quote it and an operator can find every log line the
//! request caused.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use rand::RngCore;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id taken from a caller; a longer or odder one is replaced, never echoed into logs.
const MAX_LEN: usize = 64;

/// The caller's id if it is short and made of safe characters (letters, digits, `-_.:`), so that
/// a log line never carries a caller's arbitrary text.
fn usable(given: Option<&HeaderValue>) -> Option<String> {
    let id = given?.to_str().ok()?;
    let ok =
        !id.is_empty() && id.len() <= MAX_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| id.to_owned())
}

/// A new id: 64 random bits in hex (cheap: this runs for every check a dialler makes).
fn make() -> String {
    format!("{:016x}", rand::rng().next_u64())
}

/// Middleware: the id for the request's log lines (`telemetry::scope`) and its answer.
pub async fn middleware(req: ServiceRequest, next: Next<impl MessageBody>) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id: std::sync::Arc<str> = usable(req.headers().get(&HEADER)).unwrap_or_else(make).into();
    // A request refused before its body was read leaves that body unread on the connection, and
    // actix would keep such a connection open, reading (a chunked body, for ever) or neither
    // reading nor closing it: every refusal of a request with a body closes it, and the wire
    // reads no more of that body, so no refusal can hold a connection (CONTRACT §9).
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req.headers().get(header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0");
    let conn = if has_body { req.conn_data::<super::wire::Conn>().cloned() } else { None };
    let answered = async {
        let res = next.call(req).await?;
        let status = res.status().as_u16();
        if res.status().is_server_error() {
            tracing::warn!(status, "answered");
        } else {
            tracing::debug!(status, "answered");
        }
        Ok::<_, actix_web::Error>(res)
    };
    let mut res = crate::telemetry::scope(id.clone(), answered).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HEADER, value);
    }
    if has_body && (res.status().is_client_error() || res.status().is_server_error()) {
        res.response_mut().head_mut().set_connection_type(ConnectionType::Close);
    }
    if res.response().head().connection_type() == ConnectionType::Close {
        // What the client still sends of the body is not read on (`wire`).
        if let Some(conn) = conn {
            conn.closing();
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callers_id_is_taken_only_when_safe() {
        let v = |s: &str| HeaderValue::from_str(s).ok();
        assert_eq!(usable(v("abc-123_x.y:z").as_ref()), Some("abc-123_x.y:z".to_owned()));
        assert_eq!(usable(v("has space").as_ref()), None);
        assert_eq!(usable(v("07912 345678").as_ref()), None);
        assert_eq!(usable(v(&"a".repeat(65)).as_ref()), None);
        assert_eq!(usable(None), None);
        let made = make();
        assert_eq!(made.len(), 16);
        assert_ne!(made, make());
    }
}
