//! Device certificates: the server's statement that a kiosk's Ed25519 key belongs to it.
//!
//! Each enrolled kiosk generates its own key; the server signs a [`DeviceCertificate`] for it and
//! ships every certificate of the event, with the list of revoked devices, in the package. A
//! kiosk builds a [`CertificateSet`] from them once (checking each signature against its pinned
//! server key) and then looks keys up by device id, e.g. to verify a badge another kiosk signed
//! offline. A revoked device's key is refused for everything it signed.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::crypto::{PublicKey, SignatureError, Signed};
use crate::ids::{DeviceId, EventId, GateId};
use crate::time::UnixMillis;

/// The server's statement that `public_key` is the badge-signing key of `device_id` for one event.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCertificate {
    pub device_id: DeviceId,
    pub event_id: EventId,
    pub public_key: PublicKey,
    /// Human name of the kiosk, e.g. "North gate 2".
    pub label: String,
    /// The gate the kiosk is bound to, if any.
    pub gate_id: Option<GateId>,
    pub issued_at: UnixMillis,
}

/// Why a device key is not available, or why a certificate was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("no certificate for device {0}")]
    UnknownDevice(DeviceId),
    #[error("device {0} is revoked")]
    Revoked(DeviceId),
    #[error("certificate signature refused: {0}")]
    BadSignature(#[from] SignatureError),
    #[error("certificate for event {found}, expected event {expected}")]
    WrongEvent { expected: EventId, found: EventId },
    #[error("certificate of device {0} superseded by a later one")]
    Superseded(DeviceId),
}

/// A certificate the set did not accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedCertificate {
    /// Position in the input list.
    pub index: usize,
    /// The device, when the certificate could be read.
    pub device_id: Option<DeviceId>,
    pub reason: CertificateError,
}

/// The verified device certificates of one event, with its revocation list.
#[derive(Debug, Clone)]
pub struct CertificateSet {
    event_id: EventId,
    /// Each device's certificate, with its position in the input list.
    certificates: BTreeMap<DeviceId, (usize, DeviceCertificate)>,
    revoked: BTreeSet<DeviceId>,
    rejected: Vec<RejectedCertificate>,
}

impl CertificateSet {
    /// Verifies each certificate once against the pinned `server_key`. Certificates that fail, or
    /// belong to another event, are dropped and listed in [`Self::rejected`]. When a device has
    /// several, the latest `issued_at` wins (the first of equals).
    pub fn new(
        event_id: EventId,
        server_key: &PublicKey,
        certificates: &[Signed<DeviceCertificate>],
        revoked: impl IntoIterator<Item = DeviceId>,
    ) -> Self {
        let mut set = Self {
            event_id,
            certificates: BTreeMap::new(),
            revoked: revoked.into_iter().collect(),
            rejected: Vec::new(),
        };
        for (index, signed) in certificates.iter().enumerate() {
            let reject = |device_id, reason| RejectedCertificate {
                index,
                device_id,
                reason,
            };
            let certificate = match signed.open(server_key) {
                Ok(certificate) => certificate,
                Err(e) => {
                    set.rejected.push(reject(None, e.into()));
                    continue;
                }
            };
            let device_id = certificate.device_id;
            if certificate.event_id != event_id {
                let reason = CertificateError::WrongEvent {
                    expected: event_id,
                    found: certificate.event_id,
                };
                set.rejected.push(reject(Some(device_id), reason));
                continue;
            }
            let superseded = match set.certificates.get(&device_id) {
                Some((_, kept)) if kept.issued_at >= certificate.issued_at => index,
                _ => match set.certificates.insert(device_id, (index, certificate)) {
                    Some((replaced, _)) => replaced,
                    None => continue,
                },
            };
            set.rejected.push(RejectedCertificate {
                index: superseded,
                device_id: Some(device_id),
                reason: CertificateError::Superseded(device_id),
            });
        }
        set.rejected.sort_by_key(|r| r.index);
        set
    }

    /// The event these certificates are for.
    pub fn event_id(&self) -> EventId {
        self.event_id
    }

    /// The badge-signing key of `device_id`, unless it is unknown or revoked.
    pub fn key_for(&self, device_id: DeviceId) -> Result<&PublicKey, CertificateError> {
        self.certificate(device_id).map(|c| &c.public_key)
    }

    /// The whole certificate of `device_id` (label, gate), unless it is unknown or revoked.
    pub fn certificate(&self, device_id: DeviceId) -> Result<&DeviceCertificate, CertificateError> {
        if self.revoked.contains(&device_id) {
            return Err(CertificateError::Revoked(device_id));
        }
        self.certificates
            .get(&device_id)
            .map(|(_, certificate)| certificate)
            .ok_or(CertificateError::UnknownDevice(device_id))
    }

    /// Whether `device_id` is on the revocation list.
    pub fn is_revoked(&self, device_id: DeviceId) -> bool {
        self.revoked.contains(&device_id)
    }

    /// Certificates dropped while building the set, to report to the operator.
    pub fn rejected(&self) -> &[RejectedCertificate] {
        &self.rejected
    }

    /// Number of accepted certificates (revoked devices included).
    pub fn len(&self) -> usize {
        self.certificates.len()
    }

    /// Whether no certificate was accepted.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }
}

/// The server's compact statement that `public_key` is kiosk `device_id`'s badge-signing key for
/// one event, carried inside every walk-in badge the kiosk signs. A kiosk that has never seen
/// the issuing kiosk's [`DeviceCertificate`] (it enrolled after the last package, and nobody has
/// synced since) still verifies the badge with the pinned server key alone.
///
/// Binary form ([`BADGE_CERTIFICATE_LEN`] bytes, after the device id the code already carries):
/// `public key, 32 | issued_at, u32 BE unix seconds | server signature, 64`. The signature covers
/// `event id, 16 | 0x02 | device id, 16 | public key, 32 | issued_at, 4`: the byte 0x02 after the
/// event id sets it apart from a code's signature (0x01 there) and from signed JSON (which never
/// holds that byte), so a certificate can never pass for either.
#[derive(Clone, PartialEq, Eq)]
pub struct BadgeCertificate {
    pub device_id: DeviceId,
    pub public_key: PublicKey,
    /// When the server issued it (whole seconds).
    pub issued_at: UnixMillis,
    signature: [u8; 64],
}

/// Length of a [`BadgeCertificate`] inside a code (the device id excluded).
pub const BADGE_CERTIFICATE_LEN: usize = 32 + 4 + 64;

/// The byte after the event id in what a badge certificate's signature covers.
const BADGE_CERTIFICATE_TAG: u8 = 0x02;

impl BadgeCertificate {
    /// The server certifies `public_key` as `device_id`'s badge key for `event_id`.
    pub fn issue(
        event_id: EventId,
        device_id: DeviceId,
        public_key: PublicKey,
        issued_at: UnixMillis,
        server_key: &crate::crypto::SecretKey,
    ) -> BadgeCertificate {
        let secs = u32::try_from(issued_at.as_secs()).unwrap_or(u32::MAX);
        let issued_at = UnixMillis(u64::from(secs) * 1000);
        let mut certificate = BadgeCertificate {
            device_id,
            public_key,
            issued_at,
            signature: [0; 64],
        };
        certificate.signature = server_key.sign(&certificate.signed_message(event_id));
        certificate
    }

    /// Checks the server's signature for `event_id`.
    pub fn verify(&self, event_id: EventId, server_key: &PublicKey) -> Result<(), SignatureError> {
        server_key.verify(&self.signed_message(event_id), &self.signature)
    }

    fn issued_secs(&self) -> u32 {
        u32::try_from(self.issued_at.as_secs()).unwrap_or(u32::MAX)
    }

    fn signed_message(&self, event_id: EventId) -> Vec<u8> {
        let mut message = Vec::with_capacity(16 + 1 + 16 + 32 + 4);
        message.extend(event_id.to_bytes());
        message.push(BADGE_CERTIFICATE_TAG);
        message.extend(self.device_id.to_bytes());
        message.extend(self.public_key.to_bytes());
        message.extend(self.issued_secs().to_be_bytes());
        message
    }

    /// The binary form inside a code (without the device id).
    pub fn to_bytes(&self) -> [u8; BADGE_CERTIFICATE_LEN] {
        let mut bytes = [0; BADGE_CERTIFICATE_LEN];
        bytes[..32].copy_from_slice(&self.public_key.to_bytes());
        bytes[32..36].copy_from_slice(&self.issued_secs().to_be_bytes());
        bytes[36..].copy_from_slice(&self.signature);
        bytes
    }

    /// Reads the binary form of [`Self::to_bytes`] for `device_id` (the signature unchecked).
    pub fn from_bytes(
        device_id: DeviceId,
        bytes: &[u8; BADGE_CERTIFICATE_LEN],
    ) -> Result<BadgeCertificate, SignatureError> {
        let public_key = PublicKey::from_bytes(&bytes[..32])?;
        let secs = u32::from_be_bytes(bytes[32..36].try_into().expect("4 bytes"));
        Ok(BadgeCertificate {
            device_id,
            public_key,
            issued_at: UnixMillis(u64::from(secs) * 1000),
            signature: bytes[36..].try_into().expect("64 bytes"),
        })
    }
}

impl std::fmt::Debug for BadgeCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BadgeCertificate")
            .field("device_id", &self.device_id)
            .field("issued_at", &self.issued_at)
            .finish_non_exhaustive()
    }
}

/// On the wire (the enrolment answer): `{"device_id": ..., "certificate": base64url}`.
#[derive(Serialize, Deserialize)]
struct BadgeCertificateWire {
    device_id: DeviceId,
    certificate: String,
}

impl Serialize for BadgeCertificate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        BadgeCertificateWire {
            device_id: self.device_id,
            certificate: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.to_bytes()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for BadgeCertificate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use base64::Engine as _;
        use serde::de::Error as _;
        let wire = BadgeCertificateWire::deserialize(deserializer)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(wire.certificate.as_bytes())
            .map_err(|_| D::Error::custom("badge certificate must be base64url"))?;
        let bytes: [u8; BADGE_CERTIFICATE_LEN] = bytes.try_into().map_err(|_| {
            D::Error::custom(format!(
                "badge certificate must be {BADGE_CERTIFICATE_LEN} bytes"
            ))
        })?;
        BadgeCertificate::from_bytes(wire.device_id, &bytes).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    const T0: UnixMillis = UnixMillis(1_750_000_000_000);

    fn certificate(
        event_id: EventId,
        device_key: &SecretKey,
        rng: &mut ChaCha20Rng,
    ) -> DeviceCertificate {
        DeviceCertificate {
            device_id: DeviceId::new(T0, rng),
            event_id,
            public_key: device_key.public_key(),
            label: "North gate 2".into(),
            gate_id: Some(GateId::new(T0, rng)),
            issued_at: T0,
        }
    }

    #[test]
    fn verified_keys_unknown_and_revoked_devices() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let server = SecretKey::generate(&mut rng);
        let event = EventId::new(T0, &mut rng);
        let (key_a, key_b) = (SecretKey::generate(&mut rng), SecretKey::generate(&mut rng));
        let a = certificate(event, &key_a, &mut rng);
        let b = certificate(event, &key_b, &mut rng);
        let stranger = DeviceId::new(T0, &mut rng);
        let signed = [Signed::sign(&a, &server), Signed::sign(&b, &server)];

        let set = CertificateSet::new(event, &server.public_key(), &signed, [b.device_id]);
        assert!(set.rejected().is_empty());
        assert_eq!(set.len(), 2);
        assert_eq!(set.key_for(a.device_id), Ok(&key_a.public_key()));
        assert_eq!(set.certificate(a.device_id).unwrap().label, "North gate 2");
        assert_eq!(
            set.key_for(b.device_id),
            Err(CertificateError::Revoked(b.device_id))
        );
        assert_eq!(
            set.key_for(stranger),
            Err(CertificateError::UnknownDevice(stranger))
        );
        assert!(set.is_revoked(b.device_id));
    }

    #[test]
    fn forged_and_foreign_certificates_are_dropped_and_reported() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let server = SecretKey::generate(&mut rng);
        let impostor = SecretKey::generate(&mut rng);
        let event = EventId::new(T0, &mut rng);
        let other_event = EventId::new(T0, &mut rng);
        let device_key = SecretKey::generate(&mut rng);
        let good = certificate(event, &device_key, &mut rng);
        let forged = certificate(event, &device_key, &mut rng);
        let foreign = certificate(other_event, &device_key, &mut rng);
        let mut tampered = Signed::sign(&good, &server);
        tampered.payload = Signed::sign(&forged, &server).payload;

        let signed = [
            Signed::sign(&good, &server),
            Signed::sign(&forged, &impostor),
            Signed::sign(&foreign, &server),
            tampered,
        ];
        let set = CertificateSet::new(event, &server.public_key(), &signed, []);
        assert_eq!(set.len(), 1);
        assert!(set.key_for(good.device_id).is_ok());
        assert_eq!(
            set.key_for(forged.device_id),
            Err(CertificateError::UnknownDevice(forged.device_id))
        );
        let reasons: Vec<_> = set
            .rejected()
            .iter()
            .map(|r| (r.index, r.reason.clone()))
            .collect();
        assert!(matches!(
            reasons[0],
            (
                1,
                CertificateError::BadSignature(SignatureError::WrongKey { .. })
            )
        ));
        assert_eq!(
            reasons[1],
            (
                2,
                CertificateError::WrongEvent {
                    expected: event,
                    found: other_event
                }
            )
        );
        assert_eq!(
            reasons[2],
            (
                3,
                CertificateError::BadSignature(SignatureError::BadSignature)
            )
        );
    }

    #[test]
    fn latest_certificate_of_a_device_wins() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let server = SecretKey::generate(&mut rng);
        let event = EventId::new(T0, &mut rng);
        let old_key = SecretKey::generate(&mut rng);
        let new_key = SecretKey::generate(&mut rng);
        let old = certificate(event, &old_key, &mut rng);
        let new = DeviceCertificate {
            public_key: new_key.public_key(),
            issued_at: T0.plus_millis(1),
            ..old.clone()
        };
        for order in [[&new, &old], [&old, &new]] {
            let signed: Vec<_> = order.iter().map(|c| Signed::sign(*c, &server)).collect();
            let set = CertificateSet::new(event, &server.public_key(), &signed, []);
            assert_eq!(set.key_for(old.device_id), Ok(&new_key.public_key()));
            assert_eq!(
                set.rejected()[0].reason,
                CertificateError::Superseded(old.device_id)
            );
        }
    }
}
