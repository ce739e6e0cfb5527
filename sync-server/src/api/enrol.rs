//! `POST /api/v1/enrol`: a kiosk trades a one-time token for its identity and certificate.

use axum::extract::State;
use sync_protocol::certificate::{BadgeCertificate, DeviceCertificate};
use sync_protocol::crypto::Signed;
use sync_protocol::ids::DeviceId;
use sync_protocol::wire::{EnrolmentRequest, EnrolmentResponse};

use crate::auth::{hash_token, new_token};
use crate::error::{ApiError, ApiJson};
use crate::state::{AppState, now};
use crate::store::{NewDevice, Store};

const MAX_LABEL: usize = 120;

/// Failed enrolments are counted like failed logins (per address: with the login failures from
/// the same address), under the name `(enrolment) <address>`.
fn failure_name(source: &str) -> String {
    format!("(enrolment) {source}")
}
/// Failed enrolments allowed per address in the failure window.
const MAX_ENROLMENT_FAILURES: u64 = 20;

#[utoipa::path(
    post,
    path = "/api/v1/enrol",
    tag = "kiosk",
    summary = "A kiosk trades a one-time enrolment token for its identity and certificates.",
    request_body = EnrolmentRequest,
    responses(
        (status = 200, description = "The kiosk is enrolled.", body = EnrolmentResponse)
    )
)]
pub async fn enrol<S: Store>(
    State(state): State<AppState<S>>,
    parts: axum::http::request::Parts,
    ApiJson(request): ApiJson<EnrolmentRequest>,
) -> Result<ApiJson<EnrolmentResponse>, ApiError> {
    let source = crate::staff::source_of(&parts);
    let window_start = sync_protocol::UnixMillis(
        now()
            .as_u64()
            .saturating_sub(crate::staff::FAILURE_WINDOW_MINUTES * 60_000),
    );
    let attempt = state
        .store
        .begin_attempt(&failure_name(&source), &source, window_start)
        .await?;
    if attempt.pair > MAX_ENROLMENT_FAILURES {
        return Err(ApiError::RateLimited);
    }
    match enrol_device(&state.store, &state.signing_key, &request).await {
        // Only an unknown token counts against the client.
        Err(ApiError::EnrolmentTokenInvalid) => Err(ApiError::EnrolmentTokenInvalid),
        answer => {
            state.store.forgive_attempt(attempt.id).await?;
            answer.map(ApiJson)
        }
    }
}

/// Trades a one-time token for a device: its id, certificates and token. The HTTP handler and
/// the admin's kiosk kit (`sync-server admin enrol kit`) both enrol through here.
pub async fn enrol_device<S: Store>(
    store: &S,
    signing_key: &sync_protocol::crypto::SecretKey,
    request: &EnrolmentRequest,
) -> Result<EnrolmentResponse, ApiError> {
    let label = request.label.trim();
    if label.is_empty() || label.chars().count() > MAX_LABEL || label.chars().any(char::is_control)
    {
        return Err(ApiError::Validation(format!(
            "label must be 1 to {MAX_LABEL} characters without control characters"
        )));
    }
    let now = now();
    let token_hash = hash_token(&request.token);
    let Some(ticket) = store.find_enrolment_token(token_hash, now).await? else {
        return Err(ApiError::EnrolmentTokenInvalid);
    };

    let device_id = DeviceId::new(now, &mut rand::rngs::OsRng);
    let certificate = Signed::sign(
        &DeviceCertificate {
            device_id,
            event_id: ticket.event_id,
            public_key: request.device_public_key,
            label: label.to_owned(),
            gate_id: ticket.gate_id,
            issued_at: now,
        },
        signing_key,
    );
    let badge_certificate = BadgeCertificate::issue(
        ticket.event_id,
        device_id,
        request.device_public_key,
        now,
        signing_key,
    );
    let (device_token, device_token_hash) = new_token();
    let device = NewDevice {
        id: device_id,
        event_id: ticket.event_id,
        gate_id: ticket.gate_id,
        label: label.to_owned(),
        app_version: request.app_version.chars().take(64).collect(),
        token_hash: device_token_hash,
        public_key: request.device_public_key,
        certificate: certificate.clone(),
    };
    if !store.complete_enrolment(token_hash, &device, now).await? {
        return Err(ApiError::EnrolmentTokenInvalid);
    }
    let (_, package_version) = store.feed_head(ticket.event_id).await?;
    tracing::info!(device = %device_id, event = %ticket.event_id, "device enrolled");
    Ok(EnrolmentResponse {
        device_id,
        event_id: ticket.event_id,
        device_token,
        server_public_key: signing_key.public_key(),
        certificate,
        badge_certificate: Some(badge_certificate),
        gate_id: ticket.gate_id,
        package_version,
        server_time: now,
    })
}
