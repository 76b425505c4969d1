//! The one error type at the HTTP boundary, and its JSON shape (CONTRACT §9):
//! `{"error": {"code", "message", "details"}}` with a fitting status.

use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PayloadError, QueryPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};

/// Error codes (CONTRACT §9), each with its status beside it: the answers to register imports
/// and uploads. (A closed list: a code is a variant here, never a literal at its use.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidQuery,
    InvalidDate,
    InvalidKind,
    BadBody,
    BadMultipart,
    MissingFilePart,
    BodyTooLarge,
    PartTooLarge,
    PartHeadersTooLarge,
    UploadTimeout,
    TooManyUploads,
    RegisterFileCorrupt,
    RegisterFileEmpty,
    RegisterFileTruncated,
    RegisterFileUnreadable,
    RegisterFutureAsOf,
    RegisterOlderAsOf,
    RegisterMissing,
    TooManyRemovals,
    ImportConflict,
    NothingToUndo,
}

impl ErrorCode {
    pub const ALL: &[ErrorCode] = &[
        ErrorCode::InvalidQuery,
        ErrorCode::InvalidDate,
        ErrorCode::InvalidKind,
        ErrorCode::BadBody,
        ErrorCode::BadMultipart,
        ErrorCode::MissingFilePart,
        ErrorCode::BodyTooLarge,
        ErrorCode::PartTooLarge,
        ErrorCode::PartHeadersTooLarge,
        ErrorCode::UploadTimeout,
        ErrorCode::TooManyUploads,
        ErrorCode::RegisterFileCorrupt,
        ErrorCode::RegisterFileEmpty,
        ErrorCode::RegisterFileTruncated,
        ErrorCode::RegisterFileUnreadable,
        ErrorCode::RegisterFutureAsOf,
        ErrorCode::RegisterOlderAsOf,
        ErrorCode::RegisterMissing,
        ErrorCode::TooManyRemovals,
        ErrorCode::ImportConflict,
        ErrorCode::NothingToUndo,
    ];

    /// The code as the answer spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::InvalidDate => "invalid_date",
            ErrorCode::InvalidKind => "invalid_kind",
            ErrorCode::BadBody => "bad_body",
            ErrorCode::BadMultipart => "bad_multipart",
            ErrorCode::MissingFilePart => "missing_file_part",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::PartTooLarge => "part_too_large",
            ErrorCode::PartHeadersTooLarge => "part_headers_too_large",
            ErrorCode::UploadTimeout => "upload_timeout",
            ErrorCode::TooManyUploads => "too_many_uploads",
            ErrorCode::RegisterFileCorrupt => "register_file_corrupt",
            ErrorCode::RegisterFileEmpty => "register_file_empty",
            ErrorCode::RegisterFileTruncated => "register_file_truncated",
            ErrorCode::RegisterFileUnreadable => "register_file_unreadable",
            ErrorCode::RegisterFutureAsOf => "register_future_as_of",
            ErrorCode::RegisterOlderAsOf => "register_older_as_of",
            ErrorCode::RegisterMissing => "register_missing",
            ErrorCode::TooManyRemovals => "too_many_removals",
            ErrorCode::ImportConflict => "import_conflict",
            ErrorCode::NothingToUndo => "nothing_to_undo",
        }
    }

    /// The status the code is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidQuery | ErrorCode::BadBody | ErrorCode::BadMultipart => StatusCode::BAD_REQUEST,
            ErrorCode::UploadTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::RegisterOlderAsOf
            | ErrorCode::RegisterMissing
            | ErrorCode::TooManyRemovals
            | ErrorCode::ImportConflict
            | ErrorCode::NothingToUndo => StatusCode::CONFLICT,
            ErrorCode::BodyTooLarge | ErrorCode::PartTooLarge | ErrorCode::PartHeadersTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::InvalidDate
            | ErrorCode::InvalidKind
            | ErrorCode::MissingFilePart
            | ErrorCode::RegisterFileCorrupt
            | ErrorCode::RegisterFileEmpty
            | ErrorCode::RegisterFileTruncated
            | ErrorCode::RegisterFileUnreadable
            | ErrorCode::RegisterFutureAsOf => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::TooManyUploads => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
    /// Seconds to send as `Retry-After` (a busy or throttled answer).
    pub retry_after: Option<u64>,
    /// Close the connection after the answer: a body was refused before its end, and is not
    /// read (nor waited for) any further.
    pub close: bool,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: json!({}), retry_after: None, close: false }
    }

    /// An answer with this code, at its status.
    pub fn of(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::new(code.status(), code.as_str(), message)
    }

    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    pub fn closing(mut self) -> ApiError {
        self.close = true;
        self
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
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", message)
            .details(json!({ "retry_after_seconds": retry_after }))
            .retry_after(retry_after)
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
    ApiError::of(ErrorCode::BodyTooLarge, format!("the body is larger than the limit of {limit} bytes"))
        .details(json!({"limit_bytes": limit}))
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        if self.close {
            response.force_close();
        }
        response.json(shape(self.code, &self.message, &self.details))
    }
}

/// The contract's error document (§9).
fn shape(code: &str, message: &str, details: &Value) -> Value {
    json!({"error": {"code": code, "message": message, "details": details}})
}

/// For `ErrorHandlers`: an error answer that is not already ours (one actix made itself, with an
/// empty or plain-text body) gets the contract's shape, its code taken from its status. Its body
/// is never passed on: it may echo the request.
pub fn in_contract_shape<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let (req, old) = res.into_parts();
    let status = old.status();
    let reason = status.canonical_reason().unwrap_or("Error");
    let code: String = reason.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    let message = if status.is_server_error() {
        "the server failed to answer; the error is in its log".to_owned()
    } else {
        format!("the request was refused: {}", reason.to_lowercase())
    };
    let mut new = HttpResponse::build(status).json(shape(&code, &message, &json!({})));
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().append(name.clone(), HeaderValue::clone(value));
        }
    }
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, new).map_into_right_body()))
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

#[cfg(test)]
mod code_tests {
    use super::*;

    /// Every code is spelled once, in snake case, and answered with a client or busy status.
    #[test]
    fn error_codes_are_distinct_and_fitting() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{text}");
            assert!(code.status().is_client_error() || code.status() == StatusCode::SERVICE_UNAVAILABLE, "{text}");
            assert_eq!(format!("{code:?}").to_lowercase(), text.replace('_', ""), "the variant names its code");
        }
        assert_eq!(ApiError::of(ErrorCode::TooManyRemovals, "m").status, StatusCode::CONFLICT);
    }
}

#[cfg(test)]
mod tests {
    use actix_web::middleware::ErrorHandlers;
    use actix_web::{test, web, App, HttpResponse};

    use super::*;

    /// An error actix answers itself, with an empty or plain body, reaches the client in the
    /// contract's shape, its headers kept; ours and successes pass as they are.
    #[actix_web::test]
    async fn errors_not_ours_are_given_the_contract_shape() {
        let app = test::init_service(
            App::new()
                .wrap(ErrorHandlers::new().default_handler(in_contract_shape))
                .route("/empty", web::get().to(|| async { HttpResponse::BadRequest().insert_header(("Retry-After", "3")).finish() }))
                .route("/plain", web::get().to(|| async { HttpResponse::NotFound().body("secret 07912 345678") }))
                .route("/ours", web::get().to(|| async { Err::<HttpResponse, _>(ApiError::bad_request("ours", "our message")) }))
                .route("/fine", web::get().to(|| async { HttpResponse::Ok().body("fine") })),
        )
        .await;
        let call = |path: &'static str| test::call_service(&app, test::TestRequest::get().uri(path).to_request());
        let res = call("/empty").await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.headers().get("retry-after").map(|v| v.as_bytes()), Some(&b"3"[..]));
        let body: Value = test::read_body_json(res).await;
        assert_eq!(body["error"]["code"], "bad_request");
        assert!(body["error"]["details"].is_object());
        let body: Value = test::read_body_json(call("/plain").await).await;
        assert_eq!(body["error"]["code"], "not_found");
        assert!(!body.to_string().contains("07912"), "{body}");
        let body: Value = test::read_body_json(call("/ours").await).await;
        assert_eq!((body["error"]["code"].as_str(), body["error"]["message"].as_str()), (Some("ours"), Some("our message")));
        assert_eq!(test::read_body(call("/fine").await).await, "fine");
    }
}
