//! The server's error type: every failed request answers `{code, message}` with a stable code.
//!
//! Internal causes (database errors, bugs) are logged with their whole chain and never shown to
//! the client, which gets `internal` or `unavailable`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sync_protocol::wire::{ErrorBody, ErrorCode};

use crate::store::StoreError;

/// Everything a handler can fail with. Each variant's doc names its HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not JSON of the expected shape.
    #[error("{0}")]
    InvalidJson(String),
    /// 422: well-formed, but breaks a rule.
    #[error("{0}")]
    Validation(String),
    /// 413: the body is over the limit.
    #[error("request body is too large")]
    PayloadTooLarge,
    /// 401: no or unknown credentials.
    #[error("missing or unknown credentials")]
    Unauthorized,
    /// 401: the session expired; log in again.
    #[error("the session has expired; log in again")]
    TokenExpired,
    /// 429: too many attempts.
    #[error("too many attempts; wait a few minutes and try again")]
    RateLimited,
    /// 401: the device was revoked.
    #[error("this device was revoked; enrol it again")]
    DeviceRevoked,
    /// 401: the enrolment token is unknown, used or expired.
    #[error("the enrolment token is unknown, already used or expired")]
    EnrolmentTokenInvalid,
    /// 403: authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 404.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 503: the database cannot be reached.
    #[error("the database is unavailable; retry later")]
    Unavailable(#[source] StoreError),
    /// 500: a bug or an unexpected failure; details only in the log.
    #[error("internal error")]
    Internal(#[source] StoreError),
}

impl ApiError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::InvalidJson(_) => ErrorCode::InvalidJson,
            ApiError::Validation(_) => ErrorCode::ValidationFailed,
            ApiError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            ApiError::Unauthorized => ErrorCode::Unauthorized,
            ApiError::DeviceRevoked => ErrorCode::DeviceRevoked,
            ApiError::TokenExpired => ErrorCode::TokenExpired,
            ApiError::RateLimited => ErrorCode::RateLimited,
            ApiError::EnrolmentTokenInvalid => ErrorCode::EnrolmentTokenInvalid,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::Unavailable(_) => ErrorCode::Unavailable,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => ApiError::Unavailable(err),
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::Invalid(message) => ApiError::Validation(message),
            _ => ApiError::Internal(err),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::PayloadTooLarge;
        }
        ApiError::InvalidJson(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::Validation(rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        match &self {
            ApiError::Internal(source) | ApiError::Unavailable(source) => {
                tracing::error!(error = %error_chain(source), code = ?code, "request failed");
            }
            _ => tracing::debug!(error = %self, code = ?code, "request refused"),
        }
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            code,
            message: self.to_string(),
        };
        (status, Json(body)).into_response()
    }
}

/// An error with all its causes, for logs.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// `axum::Json`, but a bad body answers with our `{code, message}`.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// `axum::extract::Query`, but a bad query string answers with our `{code, message}`.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);
