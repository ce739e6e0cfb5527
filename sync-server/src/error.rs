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
    /// 404: no route has this path.
    #[error("no such route: {method} {path}")]
    NoRoute { method: String, path: String },
    /// 405: the path exists, but not with this method.
    #[error("{path} does not take {method}")]
    MethodNotAllowed { method: String, path: String },
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
            ApiError::NotFound(_) | ApiError::NoRoute { .. } => ErrorCode::NotFound,
            ApiError::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
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

/// The router's fallback: `{code: "not_found"}` for a path no route has.
pub async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::NoRoute {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}

/// The fallback for a route's missing methods: `{code: "method_not_allowed"}`.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}

/// The outermost guard: an error answer that is not our JSON (made by a layer, such as the
/// request timeout's 408 or the body limit's 413, or by an extractor) becomes `{code, message}`
/// with the code its status means and its text, if any, as the message.
pub async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || is_json {
        return response;
    }
    let code = code_of_status(status);
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let message = text.unwrap_or_else(|| match code {
        ErrorCode::Timeout => "the request took too long; retry".to_owned(),
        ErrorCode::PayloadTooLarge => "request body is too large".to_owned(),
        _ => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase(),
    });
    tracing::debug!(status = status.as_u16(), code = ?code, %message, "error answered as JSON");
    let mut json = (status, Json(ErrorBody { code, message })).into_response();
    // Keep what the layer said besides the body (a request id, Retry-After).
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            json.headers_mut().insert(name.clone(), value.clone());
        }
    }
    json
}

/// The stable code a bare HTTP error status stands for.
fn code_of_status(status: StatusCode) -> ErrorCode {
    match status.as_u16() {
        400 | 415 => ErrorCode::InvalidJson,
        401 => ErrorCode::Unauthorized,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        408 => ErrorCode::Timeout,
        409 => ErrorCode::Conflict,
        413 => ErrorCode::PayloadTooLarge,
        429 => ErrorCode::RateLimited,
        503 | 504 => ErrorCode::Unavailable,
        500..=599 => ErrorCode::Internal,
        _ => ErrorCode::ValidationFailed,
    }
}
