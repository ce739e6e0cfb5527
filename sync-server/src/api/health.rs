//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;

use sync_protocol::wire::ErrorBody;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::Store;

/// `GET /healthz`: the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    summary = "The process is up.",
    responses(
        (status = 200, description = "`ok`", body = String, content_type = "text/plain")
    )
)]
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    summary = "The database answers.",
    responses(
        (status = 200, description = "`ready`", body = String, content_type = "text/plain"),
        (status = 503, description = "The database does not answer.", body = ErrorBody)
    )
)]
pub async fn readyz<S: Store>(
    State(state): State<AppState<S>>,
) -> Result<(StatusCode, &'static str), ApiError> {
    state.store.ping().await.map_err(ApiError::Unavailable)?;
    Ok((StatusCode::OK, "ready"))
}
