//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::Store;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database answers.
pub async fn readyz<S: Store>(
    State(state): State<AppState<S>>,
) -> Result<(StatusCode, &'static str), ApiError> {
    state.store.ping().await.map_err(ApiError::Unavailable)?;
    Ok((StatusCode::OK, "ready"))
}
