//! The one error type at the HTTP boundary, and its JSON shape (CONTRACT §9):
//! `{"error": {"code", "message", "details"}}` with a fitting status.

use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PayloadError, QueryPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};

pub use crate::app::error::{AppError, ErrorCode};

/// An [`AppError`] on its way to the client, and what only HTTP adds to it.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
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
        write!(f, "{} ({}): {}", self.status(), self.code, self.message)
    }
}

impl ApiError {
    /// The code's status (one table: `ErrorCode`).
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        AppError::new(code, message).into()
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    /// The use case's error it carries, and whether the connection is to close after the answer
    /// (for the pages, which answer it as a page).
    pub fn into_parts(self) -> (AppError, bool) {
        let close = self.close;
        (AppError { code: self.code, message: self.message, details: self.details, retry_after: self.retry_after }, close)
    }

    pub fn closing(mut self) -> ApiError {
        self.close = true;
        self
    }

    pub fn details(mut self, details: Value) -> ApiError {
        self.details = details;
        self
    }

    /// 429 (CONTRACT §9): too many failed attempts; the client may try again after `retry_after`
    /// seconds (the `Retry-After` header and `details.retry_after_seconds`).
    pub fn too_many_attempts(retry_after: u64, message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::TooManyAttempts, message).details(json!({ "retry_after_seconds": retry_after })).retry_after(retry_after)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, message)
    }

    /// A failure of ours, not of the input: logged in full, answered without internals.
    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        AppError::internal(error).into()
    }

    pub fn unavailable(error: impl std::fmt::Display) -> ApiError {
        AppError::unavailable(error).into()
    }

    /// A JSON body that could not be taken.
    pub fn from_json(err: &JsonPayloadError, limit: usize) -> ApiError {
        match err {
            JsonPayloadError::ContentType => {
                ApiError::new(ErrorCode::UnsupportedMediaType, "the body must be JSON, sent with Content-Type: application/json")
            }
            JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => body_too_large(limit as u64),
            JsonPayloadError::Payload(PayloadError::Overflow) => body_too_large(limit as u64),
            JsonPayloadError::Deserialize(e) if e.is_data() => {
                ApiError::new(ErrorCode::InvalidBody, format!("the JSON body does not have the expected fields: {e}"))
                    .details(json!({"line": e.line(), "column": e.column()}))
            }
            JsonPayloadError::Deserialize(e) => ApiError::new(ErrorCode::MalformedJson, format!("the body is not valid JSON: {e}"))
                .details(json!({"line": e.line(), "column": e.column()})),
            other => ApiError::new(ErrorCode::BadBody, format!("the body could not be read: {other}")),
        }
    }

    pub fn from_query(err: &QueryPayloadError) -> ApiError {
        ApiError::new(ErrorCode::InvalidQuery, format!("the query string is not usable: {err}"))
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError { code: e.code, message: e.message, details: e.details, retry_after: e.retry_after, close: false }
    }
}

pub fn body_too_large(limit: u64) -> ApiError {
    ApiError::new(ErrorCode::BodyTooLarge, format!("the body is larger than the limit of {limit} bytes"))
        .details(json!({"limit_bytes": limit}))
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status());
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        if self.close {
            response.force_close();
        }
        response.json(shape(self.code.as_str(), &self.message, &self.details))
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
    let code = ErrorCode::for_status(status.as_u16());
    let message = if status.is_server_error() {
        "the server failed to answer; the error is in its log".to_owned()
    } else {
        format!("the request was refused: {}", reason.to_lowercase())
    };
    let mut new = HttpResponse::build(status).json(shape(code.as_str(), &message, &json!({})));
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
            None => ApiError::new(ErrorCode::BadRequest, e.to_string()),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::internal(e)
    }
}

/// Store failures reached from a handler: a pool that cannot give a connection is 503, anything
/// else is ours (`AppError`'s rule).
impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        AppError::from(e).into()
    }
}

/// Text that cannot be kept (CONTRACT §6): 422 naming the field and, for a length, the limit.
impl From<crate::domain::text::TextError> for ApiError {
    fn from(e: crate::domain::text::TextError) -> Self {
        AppError::from(e).into()
    }
}

impl From<crate::store::QueryError> for ApiError {
    fn from(e: crate::store::QueryError) -> Self {
        AppError::from(e).into()
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
                .route("/ours", web::get().to(|| async { Err::<HttpResponse, _>(ApiError::new(ErrorCode::InvalidQuery, "our message")) }))
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
        assert_eq!((body["error"]["code"].as_str(), body["error"]["message"].as_str()), (Some("invalid_query"), Some("our message")));
        assert_eq!(test::read_body(call("/fine").await).await, "fine");
    }
}
