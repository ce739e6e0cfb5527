//! The kiosk kit: one file that sets up a kiosk at a venue with no network at all.
//!
//! An admin makes it on the server (`sync-server admin enrol kit`): the server enrols a device
//! as it would over HTTP (its own certificate, badge certificate and device token, for a key pair
//! made there), and writes that enrolment with the event's latest package. The enrolment holds
//! secrets (the device token and signing key), so it is sealed (AES-256-GCM) under a key derived
//! (Argon2id) from a kit code the command prints once; the package is signed as always.
//!
//! File: the line `GATEPASS-KIT 1`, one JSON line `{wrapped_key, sealed}`, then the package file
//! ([`PackageFile::to_bytes`]).

use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::crypto::{
    CryptoError, DataKey, KdfParams, SecretKey, WrappedKey, open, seal, unwrap_data_key,
    wrap_data_key,
};
use crate::package::{PackageError, PackageFile};
use crate::wire::EnrolmentResponse;

const KIT_MAGIC: &[u8] = b"GATEPASS-KIT 1\n";
const AAD: &[u8] = b"gatepass kiosk kit v1";

/// What a kit's sealed part holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KitEnrolment {
    /// Where the kiosk syncs once it has a network.
    pub server_url: String,
    pub enrolment: EnrolmentResponse,
    /// The seed of the device's badge-signing key, base64url.
    device_key: String,
}

impl KitEnrolment {
    pub fn new(server_url: &str, enrolment: EnrolmentResponse, device_key: &SecretKey) -> Self {
        use base64::Engine;
        KitEnrolment {
            server_url: server_url.trim_end_matches('/').to_owned(),
            enrolment,
            device_key: base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(device_key.to_seed().as_ref()),
        }
    }

    /// The device's badge-signing key.
    pub fn device_key(&self) -> Result<SecretKey, KitError> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&self.device_key)
            .map_err(|_| KitError::Malformed("device key".into()))?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KitError::Malformed("device key length".into()))?;
        Ok(SecretKey::from_seed(&seed))
    }
}

/// Why a kit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KitError {
    #[error("not a kiosk kit file")]
    NotAKit,
    #[error("wrong kit code")]
    WrongCode,
    #[error("the kiosk kit is damaged: {0}")]
    Malformed(String),
    #[error("the kit's package: {0}")]
    Package(#[from] PackageError),
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    wrapped_key: WrappedKey,
    /// base64url of the sealed JSON of a [`KitEnrolment`].
    sealed: String,
}

/// Writes a kit: `enrolment` sealed under `code`, then `package`.
pub fn seal_kit(
    enrolment: &KitEnrolment,
    package: &PackageFile,
    code: &str,
    kdf: KdfParams,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Vec<u8>, KitError> {
    use base64::Engine;
    let key = DataKey::generate(rng);
    let wrapped_key = wrap_data_key(code, &key, kdf, 0, rng)
        .map_err(|e| KitError::Malformed(format!("kit code: {e}")))?;
    let plain = serde_json::to_vec(enrolment).expect("kits serialize");
    let sealed = seal(&key.sealing_key(), rng, &plain, AAD);
    let head = Sealed {
        wrapped_key,
        sealed: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed),
    };
    let mut out = KIT_MAGIC.to_vec();
    out.extend(serde_json::to_vec(&head).expect("kits serialize"));
    out.push(b'\n');
    out.extend(package.to_bytes());
    Ok(out)
}

/// Reads a kit with its code. The package inside is still to be checked against the server key
/// the enrolment names (as any package).
pub fn open_kit(bytes: &[u8], code: &str) -> Result<(KitEnrolment, PackageFile), KitError> {
    use base64::Engine;
    let rest = bytes.strip_prefix(KIT_MAGIC).ok_or(KitError::NotAKit)?;
    let newline = rest
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| KitError::Malformed("no package after the enrolment".into()))?;
    let head: Sealed = serde_json::from_slice(&rest[..newline])
        .map_err(|e| KitError::Malformed(format!("enrolment: {e}")))?;
    let key = unwrap_data_key(code.trim(), &head.wrapped_key).map_err(|e| match e {
        CryptoError::WrongPin => KitError::WrongCode,
        other => KitError::Malformed(other.to_string()),
    })?;
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&head.sealed)
        .map_err(|_| KitError::Malformed("enrolment encoding".into()))?;
    let plain = open(&key.sealing_key(), &sealed, AAD)
        .map_err(|_| KitError::Malformed("the enrolment does not open".into()))?;
    let enrolment: KitEnrolment = serde_json::from_slice(&plain)
        .map_err(|e| KitError::Malformed(format!("enrolment: {e}")))?;
    let package = PackageFile::from_bytes(&rest[newline + 1..])?;
    Ok((enrolment, package))
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::certificate::DeviceCertificate;
    use crate::crypto::Signed;
    use crate::ids::{DeviceId, EventId};
    use crate::package::{PackageMeta, PackageSnapshot, seal_package};
    use crate::time::UnixMillis;
    use crate::wire::Cursor;

    const T: UnixMillis = UnixMillis(1_790_000_000_000);

    #[test]
    fn a_kit_opens_with_its_code_only_and_keeps_the_device_key() {
        let rng = &mut ChaCha20Rng::seed_from_u64(3);
        let server = SecretKey::generate(rng);
        let device = SecretKey::generate(rng);
        let event_id = EventId::new(T, rng);
        let device_id = DeviceId::new(T, rng);
        let certificate = Signed::sign(
            &DeviceCertificate {
                device_id,
                event_id,
                public_key: device.public_key(),
                label: "Desk".into(),
                gate_id: None,
                issued_at: T,
            },
            &server,
        );
        let enrolment = EnrolmentResponse {
            device_id,
            event_id,
            device_token: "secret-device-token".into(),
            server_public_key: server.public_key(),
            certificate,
            badge_certificate: None,
            gate_id: None,
            package_version: 1,
            server_time: T,
        };
        let snapshot: PackageSnapshot = serde_json::from_value(serde_json::json!({
            "event": {"id": event_id, "name": "Harbour Days", "time_zone": "UTC",
                      "starts_at": T, "ends_at": T},
            "ticket_types": [], "gates": [], "forms": [], "attendees": [], "tickets": [],
            "check_ins": [], "certificates": [], "revoked_devices": []
        }))
        .unwrap();
        let package = seal_package(
            PackageMeta {
                event_id,
                version: 1,
                base_version: None,
                created_at: T,
                cursor: Cursor::START,
            },
            &crate::package::PackageBody::Full(snapshot),
            &server,
        );
        let kit = KitEnrolment::new("https://sync.example.org/", enrolment.clone(), &device);
        let bytes = seal_kit(&kit, &package, "KIT-CODE-1234", KdfParams::FOR_TESTS, rng).unwrap();
        let plain = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        assert!(!plain("secret-device-token"), "the token is sealed");

        let (opened, opened_package) = open_kit(&bytes, " KIT-CODE-1234 ").unwrap();
        assert_eq!(opened.server_url, "https://sync.example.org");
        assert_eq!(opened.enrolment, enrolment);
        assert_eq!(
            opened.device_key().unwrap().public_key(),
            device.public_key()
        );
        assert_eq!(opened_package, package);

        assert_eq!(
            open_kit(&bytes, "KIT-CODE-9999").unwrap_err(),
            KitError::WrongCode
        );
        assert_eq!(open_kit(b"hello", "x").unwrap_err(), KitError::NotAKit);
        let truncated = &bytes[..bytes.len() / 2];
        assert!(open_kit(truncated, "KIT-CODE-1234").is_err());
    }
}
