//! The one error type at the HTTP boundary, and its JSON shape (CONTRACT §9):
//! `{"error": {"code", "message", "details"}}` with a fitting status.

use actix_web::error::{JsonPayloadError, PayloadError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: json!({}) }
    }

    pub fn details(mut self, details: Value) -> ApiError {
        self.details = details;
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 429 (CONTRACT §9): too many failed attempts; the client may try again after `retry_after`
    /// seconds (the `Retry-After` header and `details.retry_after_seconds`).
    pub fn too_many_attempts(retry_after: u64, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", message).details(json!({ "retry_after_seconds": retry_after }))
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A failure of ours, not of the input: logged in full, answered without internals.
    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %error, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server failed to answer; the error is in its log")
    }

    pub fn unavailable(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %error, "database unavailable");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", "the database cannot be reached; try again shortly")
    }

    /// A JSON body that could not be taken.
    pub fn from_json(err: &JsonPayloadError, limit: usize) -> ApiError {
        match err {
            JsonPayloadError::ContentType => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON, sent with Content-Type: application/json",
            ),
            JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => body_too_large(limit as u64),
            JsonPayloadError::Payload(PayloadError::Overflow) => body_too_large(limit as u64),
            JsonPayloadError::Deserialize(e) if e.is_data() => {
                ApiError::unprocessable("invalid_body", format!("the JSON body does not have the expected fields: {e}"))
                    .details(json!({"line": e.line(), "column": e.column()}))
            }
            JsonPayloadError::Deserialize(e) => ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
                .details(json!({"line": e.line(), "column": e.column()})),
            other => ApiError::bad_request("bad_body", format!("the body could not be read: {other}")),
        }
    }

    pub fn from_query(err: &QueryPayloadError) -> ApiError {
        ApiError::bad_request("invalid_query", format!("the query string is not usable: {err}"))
    }
}

pub fn body_too_large(limit: u64) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", format!("the body is larger than the limit of {limit} bytes"))
        .details(json!({"limit_bytes": limit}))
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.details.get("retry_after_seconds").and_then(Value::as_u64) {
            response.insert_header((actix_web::http::header::RETRY_AFTER, secs));
        }
        response.json(json!({
            "error": {"code": self.code, "message": self.message, "details": self.details}
        }))
    }
}

/// An extractor's error, already in our shape when it came from our error handlers.
impl From<actix_web::Error> for ApiError {
    fn from(e: actix_web::Error) -> Self {
        match e.as_error::<ApiError>() {
            Some(api) => api.clone(),
            None => ApiError::bad_request("bad_request", e.to_string()),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::internal(e)
    }
}

/// Store failures reached from a handler: a pool that cannot give a connection is 503, anything
/// else is ours.
impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        if e.chain().any(|c| c.is::<crate::store::PoolError>()) {
            ApiError::unavailable(format!("{e:#}"))
        } else {
            ApiError::internal(format!("{e:#}"))
        }
    }
}

/// Text that cannot be kept (CONTRACT §6): 422 naming the field and, for a length, the limit.
impl From<crate::domain::text::TextError> for ApiError {
    fn from(e: crate::domain::text::TextError) -> Self {
        let code = if e.limit().is_some() { "text_too_long" } else { "invalid_text" };
        ApiError::unprocessable(code, e.to_string()).details(json!({ "field": e.field(), "limit": e.limit() }))
    }
}

impl From<crate::store::QueryError> for ApiError {
    fn from(e: crate::store::QueryError) -> Self {
        ApiError::internal(e)
    }
}
