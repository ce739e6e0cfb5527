//! Enrolment: the kiosk makes its badge-signing key, trades a one-time token for its identity,
//! checks the certificate it got, and stores everything (secrets sealed).
//!
//! The server's key is pinned here, on first contact (the admin hands the token over in person,
//! as a QR code on the kiosk's screen or paper); every package and certificate after that must be
//! signed by it. A kiosk kit ([`enrol_from_kit`]) carries the same answer, made by the server
//! for a kiosk that cannot reach it, sealed under a kit code.

use rand::rngs::OsRng;
use sync_protocol::crypto::SecretKey;
use sync_protocol::wire::{EnrolmentInvite, EnrolmentRequest, EnrolmentResponse, ErrorBody};

use crate::store::{Identity, KioskStore, StoreError};

/// Why enrolment failed. Nothing is stored unless it succeeded.
#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error("cannot reach the server at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("the server refused the enrolment: {0}")]
    Refused(String),
    #[error("the server's answer is not valid: {0}")]
    BadAnswer(String),
    #[error("this kiosk is enrolled already (device {0}); set it up anew to enrol again")]
    AlreadyEnrolled(sync_protocol::ids::DeviceId),
    #[error(transparent)]
    Kit(#[from] sync_protocol::kit::KitError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads what an admin handed over: an enrolment QR text, or a server URL and a token.
pub fn invite_from(text_or_url: &str, token: Option<&str>) -> Option<EnrolmentInvite> {
    match token {
        Some(token) => Some(EnrolmentInvite {
            server_url: text_or_url.trim().trim_end_matches('/').to_owned(),
            token: token.trim().to_owned(),
        }),
        None => EnrolmentInvite::parse_qr_text(text_or_url),
    }
}

/// Enrols this kiosk with `invite`, naming it `label`.
pub async fn enrol(
    store: &std::sync::Mutex<KioskStore>,
    invite: &EnrolmentInvite,
    label: &str,
) -> Result<Identity, EnrolError> {
    if let Some(identity) = store.lock().unwrap_or_else(|e| e.into_inner()).identity()? {
        return Err(EnrolError::AlreadyEnrolled(identity.device_id));
    }
    let device_key = SecretKey::generate(&mut OsRng);
    let url = format!("{}/api/v1/enrol", invite.server_url.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .timeout(std::time::Duration::from_secs(20))
        .json(&EnrolmentRequest {
            token: invite.token.clone(),
            device_public_key: device_key.public_key(),
            label: label.to_owned(),
            app_version: env!("CARGO_PKG_VERSION").to_owned(),
        })
        .send()
        .await
        .map_err(|e| EnrolError::Unreachable {
            url: invite.server_url.clone(),
            detail: e.to_string(),
        })?;
    if !response.status().is_success() {
        let status = response.status();
        let message = match response.json::<ErrorBody>().await {
            Ok(body) => body.message,
            Err(_) => format!("HTTP {status}"),
        };
        return Err(EnrolError::Refused(message));
    }
    let answer: EnrolmentResponse = response
        .json()
        .await
        .map_err(|e| EnrolError::BadAnswer(e.to_string()))?;
    keep(store, &invite.server_url, &answer, &device_key)
}

/// Enrols this kiosk from a kiosk kit (a venue with no network at all): the enrolment the server
/// made for it, opened with the kit code, checked as an answer over HTTP would be, then the
/// kit's package, checked against the server key the enrolment pins.
pub fn enrol_from_kit(
    store: &std::sync::Mutex<KioskStore>,
    kit: &[u8],
    code: &str,
) -> Result<(Identity, u64), EnrolError> {
    let mut guard = store.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(identity) = guard.identity()? {
        return Err(EnrolError::AlreadyEnrolled(identity.device_id));
    }
    drop(guard);
    let (kit, package) = sync_protocol::kit::open_kit(kit, code)?;
    // The package is checked first, so a kit whose package is refused enrols nothing.
    sync_protocol::package::open_package(
        &package,
        &kit.enrolment.server_public_key,
        kit.enrolment.event_id,
        None,
    )
    .map_err(StoreError::Package)?;
    let device_key = kit.device_key()?;
    let identity = keep(store, &kit.server_url, &kit.enrolment, &device_key)?;
    guard = store.lock().unwrap_or_else(|e| e.into_inner());
    let manifest = guard.apply_package(&package, &identity.server_key, identity.event_id)?;
    tracing::info!(device = %identity.device_id, version = manifest.version, "enrolled from a kiosk kit");
    Ok((identity, manifest.version))
}

/// Checks an enrolment answer against the device key it is for, then stores the identity.
fn keep(
    store: &std::sync::Mutex<KioskStore>,
    server_url: &str,
    answer: &EnrolmentResponse,
    device_key: &SecretKey,
) -> Result<Identity, EnrolError> {
    let certificate = answer
        .certificate
        .open(&answer.server_public_key)
        .map_err(|e| EnrolError::BadAnswer(format!("certificate: {e}")))?;
    if certificate.public_key != device_key.public_key()
        || certificate.device_id != answer.device_id
        || certificate.event_id != answer.event_id
    {
        return Err(EnrolError::BadAnswer(
            "the certificate is not for this kiosk's key".into(),
        ));
    }
    if let Some(badge) = &answer.badge_certificate
        && (badge.device_id != answer.device_id
            || badge.public_key != device_key.public_key()
            || badge
                .verify(answer.event_id, &answer.server_public_key)
                .is_err())
    {
        return Err(EnrolError::BadAnswer(
            "the badge certificate is not the server's for this kiosk's key".into(),
        ));
    }
    let identity = Identity {
        device_id: answer.device_id,
        event_id: answer.event_id,
        server_url: server_url.trim_end_matches('/').to_owned(),
        server_key: answer.server_public_key,
        gate_id: answer.gate_id,
        certificate: answer.certificate.clone(),
        badge_certificate: answer.badge_certificate.clone(),
    };
    store
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .save_identity(&identity, &answer.device_token, device_key)?;
    store
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .observe_server_time(
            sync_protocol::hlc::Hlc::new(answer.server_time.as_u64(), 0),
            crate::background::system_clock(),
        )?;
    tracing::info!(device = %identity.device_id, event = %identity.event_id, "enrolled");
    Ok(identity)
}
