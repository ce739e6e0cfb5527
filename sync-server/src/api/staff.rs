//! Staff login and logout, who am I, and the audit log.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use sync_protocol::UnixMillis;

use crate::auth::{bearer, hash_token, new_token};
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::staff::{
    FAILURE_WINDOW_MINUTES, MAX_FAILURES, MAX_SOURCE_FAILURES, SESSION_HOURS, Staff, source_of,
    verify_password,
};
use crate::state::{AppState, now};
use crate::store::{Actor, AuditEntry, AuditRecord, Role, Store};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoginResponse {
    /// Bearer token for later requests.
    pub token: String,
    pub expires_at: UnixMillis,
    pub role: Role,
}

/// `POST /api/v1/admin/login`.
#[utoipa::path(
    post,
    path = "/api/v1/admin/login",
    tag = "staff",
    summary = "Logs a staff member in; limited per client against guessing.",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "A session token.", body = LoginResponse)
    )
)]
pub async fn login<S: Store>(
    State(state): State<AppState<S>>,
    parts: Parts,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<ApiJson<LoginResponse>, ApiError> {
    let source = source_of(&parts);
    let now = now();
    let window_start = UnixMillis(now.as_u64().saturating_sub(FAILURE_WINDOW_MINUTES * 60_000));
    // A name no account can have is refused before anything is stored or checked.
    crate::staff::check_username(&request.username).map_err(ApiError::Validation)?;
    // Counted as a failure first (so parallel guesses cannot all pass), forgiven on success.
    let attempt = state
        .store
        .begin_attempt(&request.username, &source, window_start)
        .await?;
    if attempt.pair > MAX_FAILURES || attempt.from_source > MAX_SOURCE_FAILURES {
        tracing::info!(username = %request.username, %source, "login refused: too many failures");
        return Err(ApiError::RateLimited);
    }
    let user = state.store.user_by_name(&request.username).await?;
    let hash = match &user {
        Some(user) if !user.disabled => Some(user.password_hash.clone()),
        _ => None,
    };
    // Argon2 takes tens of milliseconds of CPU: off the async workers.
    let password = request.password.clone();
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(hash) => verify_password(&password, &hash),
        None => {
            // Spend the same time as a real check, so timing does not reveal usernames.
            let _ = verify_password(&password, &DUMMY_HASH);
            false
        }
    })
    .await
    .unwrap_or(false);
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!(username = %request.username, %source, "failed login");
        return Err(ApiError::Unauthorized);
    };
    state.store.forgive_attempt(attempt.id).await?;
    let (token, hash) = new_token();
    let expires_at = now.plus_millis(SESSION_HOURS * 3_600_000);
    let audit = AuditEntry {
        actor: Actor::User {
            username: user.username.clone(),
        },
        action: "session.login",
        target: None,
        details: serde_json::json!({}),
        source,
    };
    state
        .store
        .create_session(hash, user.id, expires_at, &audit)
        .await?;
    Ok(ApiJson(LoginResponse {
        token,
        expires_at,
        role: user.role,
    }))
}

/// A real Argon2id hash to verify against for unknown usernames.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    crate::staff::hash_password("no such user, only for timing").unwrap_or_default()
});

/// `POST /api/v1/admin/logout`: ends this session.
#[utoipa::path(
    post,
    path = "/api/v1/admin/logout",
    tag = "staff",
    summary = "Ends this session.",
    responses(
        (status = 204, description = "The session ended.")
    ),
    security(("staff_session" = []))
)]
pub async fn logout<S: Store>(
    State(state): State<AppState<S>>,
    staff: Staff,
    parts: Parts,
) -> Result<StatusCode, ApiError> {
    let audit = staff.audit("session.logout", None, serde_json::json!({}));
    match bearer(&parts) {
        Some(token) => {
            state
                .store
                .revoke_session(hash_token(token), &audit)
                .await?
        }
        None => state.store.audit(&audit).await?,
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Me {
    pub username: String,
    pub role: Role,
}

/// `GET /api/v1/admin/me`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/me",
    tag = "staff",
    summary = "The staff member of this session.",
    responses(
        (status = 200, description = "Name and role.", body = Me)
    ),
    security(("staff_session" = []))
)]
pub async fn me(staff: Staff) -> ApiJson<Me> {
    ApiJson(Me {
        username: staff.username,
        role: staff.role,
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub limit: Option<u32>,
}

/// `GET /api/v1/admin/audit?limit=N` (admin): the newest entries first.
#[utoipa::path(
    get,
    path = "/api/v1/admin/audit",
    tag = "staff",
    summary = "The newest audit log entries first (admin).",
    params(AuditQuery),
    responses(
        (status = 200, description = "The entries.", body = Vec<AuditRecord>)
    ),
    security(("staff_session" = []))
)]
pub async fn audit<S: Store>(
    State(state): State<AppState<S>>,
    staff: Staff,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<ApiJson<Vec<AuditRecord>>, ApiError> {
    staff.require_admin()?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    Ok(ApiJson(state.store.list_audit(limit).await?))
}
