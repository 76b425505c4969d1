//! Errors of the use cases, and the one closed list of error codes the API answers (CONTRACT §9),
//! each with its HTTP status beside it. The HTTP layer renders an [`AppError`] as
//! `{"error": {"code", "message", "details"}}` with its code's status; the CLI prints its message.

use serde_json::{json, Value};

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $code:literal, $status:literal;)*) => {
        /// Every error code the API answers, with its status. Closed: a new refusal adds a variant here.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, for tests and documentation.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as the API writes it (`snake_case`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }

            /// The HTTP status it is answered with.
            pub fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }
        }
    };
}

error_codes! {
    // 400: a request that is not well-formed.
    MalformedJson = "malformed_json", 400;
    BadBody = "bad_body", 400;
    BadMultipart = "bad_multipart", 400;
    InvalidQuery = "invalid_query", 400;
    /// A malformed request refused by the HTTP framework itself.
    BadRequest = "bad_request", 400;
    // 401, 403, 404, 405.
    Unauthorized = "unauthorized", 401;
    /// A page sign-in (or a password confirmation) whose name and password do not match.
    SignInFailed = "sign_in_failed", 401;
    Forbidden = "forbidden", 403;
    NotFound = "not_found", 404;
    MethodNotAllowed = "method_not_allowed", 405;
    // 408.
    UploadTimeout = "upload_timeout", 408;
    /// A request the HTTP framework timed out itself.
    RequestTimeout = "request_timeout", 408;
    // 409: the state does not allow it.
    RegisterMissing = "register_missing", 409;
    RegisterStale = "register_stale", 409;
    RegisterOlderAsOf = "register_older_as_of", 409;
    TooManyRemovals = "too_many_removals", 409;
    ImportConflict = "import_conflict", 409;
    NothingToUndo = "nothing_to_undo", 409;
    /// An import whose recorded changes do not rebuild the snapshot before it (one made before
    /// imports recorded their changes).
    CannotUndo = "cannot_undo", 409;
    KeyNameTaken = "key_name_taken", 409;
    UserNameTaken = "user_name_taken", 409;
    UserDisabled = "user_disabled", 409;
    /// An administrator asked to disable themself (another administrator must).
    CannotDisableSelf = "cannot_disable_self", 409;
    // 410.
    ResultsExpired = "results_expired", 410;
    // 413: too large.
    BodyTooLarge = "body_too_large", 413;
    PartTooLarge = "part_too_large", 413;
    PartHeadersTooLarge = "part_headers_too_large", 413;
    /// A body the HTTP framework refused as too large itself.
    PayloadTooLarge = "payload_too_large", 413;
    UriTooLong = "uri_too_long", 414;
    /// An HTTP/1.0 request with a body but no `Content-Length`.
    LengthRequired = "length_required", 411;
    UnsupportedMediaType = "unsupported_media_type", 415;
    RequestHeaderFieldsTooLarge = "request_header_fields_too_large", 431;
    // 422: well-formed but unusable.
    InvalidBody = "invalid_body", 422;
    InvalidChannel = "invalid_channel", 422;
    InvalidDate = "invalid_date", 422;
    DateInPast = "date_in_past", 422;
    InvalidMode = "invalid_mode", 422;
    InvalidDelimiter = "invalid_delimiter", 422;
    InvalidMailLevel = "invalid_mail_level", 422;
    InvalidKind = "invalid_kind", 422;
    MissingColumn = "missing_column", 422;
    AmbiguousColumn = "ambiguous_column", 422;
    UnreadableEncoding = "unreadable_encoding", 422;
    EmptyList = "empty_list", 422;
    UnreadableList = "unreadable_list", 422;
    MissingFilePart = "missing_file_part", 422;
    TooManyPhones = "too_many_phones", 422;
    TextTooLong = "text_too_long", 422;
    InvalidText = "invalid_text", 422;
    InvalidPhone = "invalid_phone", 422;
    InvalidEmail = "invalid_email", 422;
    InvalidAddress = "invalid_address", 422;
    InvalidSource = "invalid_source", 422;
    EvidenceRequired = "evidence_required", 422;
    WeakPassword = "weak_password", 422;
    MissingContact = "missing_contact", 422;
    NoChannels = "no_channels", 422;
    ChannelNotAllowed = "channel_not_allowed", 422;
    RegisterFileCorrupt = "register_file_corrupt", 422;
    RegisterFileEmpty = "register_file_empty", 422;
    RegisterFileTruncated = "register_file_truncated", 422;
    RegisterFileUnreadable = "register_file_unreadable", 422;
    RegisterFutureAsOf = "register_future_as_of", 422;
    // 429.
    TooManyAttempts = "too_many_attempts", 429;
    // 5xx: failures of ours, or of what we depend on.
    Internal = "internal", 500;
    /// A failure the HTTP framework answered itself.
    InternalServerError = "internal_server_error", 500;
    DatabaseUnavailable = "database_unavailable", 503;
    TooManyUploads = "too_many_uploads", 503;
    /// Unavailable, as answered by the HTTP framework itself.
    ServiceUnavailable = "service_unavailable", 503;
}

impl ErrorCode {
    /// The code for an error the HTTP framework answered itself with `status`, its body not
    /// ours: the code named after the status where there is one, else the class's general code.
    pub fn for_status(status: u16) -> ErrorCode {
        match status {
            400 => ErrorCode::BadRequest,
            401 => ErrorCode::Unauthorized,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            408 => ErrorCode::RequestTimeout,
            411 => ErrorCode::LengthRequired,
            413 => ErrorCode::PayloadTooLarge,
            414 => ErrorCode::UriTooLong,
            415 => ErrorCode::UnsupportedMediaType,
            431 => ErrorCode::RequestHeaderFieldsTooLarge,
            503 => ErrorCode::ServiceUnavailable,
            s if (400..500).contains(&s) => ErrorCode::BadRequest,
            _ => ErrorCode::InternalServerError,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A use case's refusal or failure: a code, a sentence a person can act on, and details.
/// Never holds a contact point or file content in clear.
#[derive(Debug, Clone)]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Value,
    /// Seconds after which the caller may try again (answered as `Retry-After`).
    pub retry_after: Option<u64>,
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AppError {}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> AppError {
        AppError { code, message: message.into(), details: json!({}), retry_after: None }
    }

    /// Seconds after which the caller may try again (`Retry-After`).
    pub fn retry_after(mut self, seconds: u64) -> AppError {
        self.retry_after = Some(seconds);
        self.details["retry_after_seconds"] = json!(seconds);
        self
    }

    pub fn details(mut self, details: Value) -> AppError {
        self.details = details;
        self
    }

    /// A refusal naming the request field at fault.
    pub fn field(code: ErrorCode, field: &str, message: impl std::fmt::Display) -> AppError {
        AppError::new(code, message.to_string()).details(json!({ "field": field }))
    }

    pub fn not_found(message: impl Into<String>) -> AppError {
        AppError::new(ErrorCode::NotFound, message)
    }

    /// A failure of ours, not of the input: logged in full, answered without internals.
    pub fn internal(error: impl std::fmt::Display) -> AppError {
        tracing::error!(error = %error, "internal error");
        AppError::new(ErrorCode::Internal, "the server failed to answer; the error is in its log")
    }

    /// The database cannot be reached: logged, answered as a passing condition.
    pub fn unavailable(error: impl std::fmt::Display) -> AppError {
        tracing::error!(error = %error, "database unavailable");
        AppError::new(ErrorCode::DatabaseUnavailable, "the database cannot be reached; try again shortly")
    }
}

/// Store failures: a pool that cannot give a connection is "unavailable", anything else is ours.
impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        if e.chain().any(|c| c.is::<crate::store::PoolError>()) {
            AppError::unavailable(format!("{e:#}"))
        } else {
            AppError::internal(format!("{e:#}"))
        }
    }
}

impl From<crate::store::QueryError> for AppError {
    fn from(e: crate::store::QueryError) -> Self {
        AppError::internal(e)
    }
}

/// Text that cannot be kept (CONTRACT §6): naming the field and, for a length, the limit.
impl From<crate::domain::text::TextError> for AppError {
    fn from(e: crate::domain::text::TextError) -> Self {
        let code = if e.limit().is_some() { ErrorCode::TextTooLong } else { ErrorCode::InvalidText };
        AppError::new(code, e.to_string()).details(json!({ "field": e.field(), "limit": e.limit() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each code is written once, in snake_case, with a status of its class.
    #[test]
    fn codes_are_distinct_snake_case_with_error_statuses() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert!(c.as_str().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{c}");
            assert!((400..600).contains(&c.status()), "{c}");
        }
        assert_eq!(ErrorCode::for_status(404), ErrorCode::NotFound);
        assert_eq!(ErrorCode::for_status(418).status(), 400);
        assert_eq!(ErrorCode::for_status(502).status(), 500);
    }
}
