//! Who is asking: device bearer tokens.
//!
//! Tokens are 32 random bytes (base64url); only their SHA-256 is stored. A fast hash is enough for
//! tokens of this entropy (a password would need Argon2). Revocation takes effect at the next
//! request because every request looks the token up.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{DeviceAuth, Store};

/// A new random token and the hash to store.
pub fn new_token() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = B64.encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

/// The stored form of a token.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The bearer token of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(axum::http::header::AUTHORIZATION)?;
    let value = value.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    (!token.is_empty() && token.len() <= 256).then_some(token)
}

/// An authenticated, unrevoked device.
#[derive(Debug, Clone, Copy)]
pub struct Device(pub DeviceAuth);

impl<S: Store> FromRequestParts<AppState<S>> for Device {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState<S>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
        let device = state
            .store
            .device_by_token(hash_token(token))
            .await?
            .ok_or(ApiError::Unauthorized)?;
        if device.revoked {
            return Err(ApiError::DeviceRevoked);
        }
        Ok(Device(device))
    }
}
