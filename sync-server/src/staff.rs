//! Staff authentication: Argon2id passwords, expiring session tokens, roles, login rate limiting.
//!
//! Passwords are hashed with Argon2id (PHC strings, parameters inside). A login returns a bearer
//! token valid for [`SESSION_HOURS`]; only its SHA-256 is stored, and every request looks it up, so
//! a revoked session or a disabled account stops at the next request. Failed logins are counted in
//! the database (so limits hold across instances), each attempt counted before its password is
//! checked (so parallel guesses cannot slip past) and forgiven when it succeeds. Within
//! [`FAILURE_WINDOW_MINUTES`], more than [`MAX_FAILURES`] for one username from one client, or
//! [`MAX_SOURCE_FAILURES`] from one client for any usernames, answer `rate_limited`. Limits are
//! per client, never per username alone: nobody can lock `admin` out by guessing at it. The client
//! is the peer address, or behind a configured trusted proxy, the address it forwards.

use std::net::SocketAddr;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use uuid::Uuid;

use crate::auth::{bearer, hash_token};
use crate::error::ApiError;
use crate::state::{AppState, now};
use crate::store::{Actor, AuditEntry, Role, Store, Who};

/// How long a login lasts.
pub const SESSION_HOURS: u64 = 12;
/// Failed logins allowed per window, for one username from one client.
pub const MAX_FAILURES: u64 = 10;
/// Failed logins allowed per window from one client, whatever the usernames (password spraying).
pub const MAX_SOURCE_FAILURES: u64 = 30;
/// The window for counting failed logins.
pub const FAILURE_WINDOW_MINUTES: u64 = 15;
/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;

/// Why a password cannot be set.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password needs at least {MIN_PASSWORD_LEN} characters")]
    TooShort,
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// The Argon2id PHC hash of `password`.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort);
    }
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A staff member with a live session.
#[derive(Debug, Clone)]
pub struct Staff {
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
    /// The client address, for the audit log.
    pub source: String,
}

impl Staff {
    /// Refuses unless the member is an admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Coordinator => Err(ApiError::Forbidden("this needs the admin role")),
        }
    }

    /// This member as the author of audit entries.
    pub fn who(&self) -> Who {
        Who {
            actor: Actor::User {
                username: self.username.clone(),
            },
            source: self.source.clone(),
        }
    }

    /// An audit entry for an action of this member.
    pub fn audit(
        &self,
        action: &'static str,
        target: Option<String>,
        details: serde_json::Value,
    ) -> AuditEntry {
        self.who().entry(action, target, details)
    }
}

/// Longest username.
pub const MAX_USERNAME_CHARS: usize = 64;

/// Whether `username` can name an account: 1 to [`MAX_USERNAME_CHARS`] characters, no control
/// characters (Postgres text cannot even hold a NUL). Otherwise the sentence that says why.
pub fn check_username(username: &str) -> Result<(), String> {
    let count = username.chars().count();
    if count == 0 || count > MAX_USERNAME_CHARS || username.chars().any(char::is_control) {
        return Err(format!(
            "a username is 1 to {MAX_USERNAME_CHARS} characters without control characters"
        ));
    }
    Ok(())
}

/// The client address of a request ("unknown" when the server runs without connect info).
pub fn source_of(parts: &Parts) -> String {
    if let Some(crate::client::ClientAddr(ip)) = parts.extensions.get() {
        return ip.to_string();
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}

impl<S: Store> FromRequestParts<AppState<S>> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState<S>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
        let user = state
            .store
            .session_user(hash_token(token), now())
            .await?
            .ok_or(ApiError::Unauthorized)?;
        if user.expired {
            return Err(ApiError::TokenExpired);
        }
        Ok(Staff {
            user_id: user.user_id,
            username: user.username,
            role: user.role,
            source: source_of(parts),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("anything", "not a phc string"));
        assert!(matches!(
            hash_password("short"),
            Err(PasswordError::TooShort)
        ));
    }
}
