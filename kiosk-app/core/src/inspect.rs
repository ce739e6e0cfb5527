//! Reading a scanned code or a package file without a store: what a coordinator runs to answer
//! "what is on this badge?" or "is this USB stick's package genuine?".

use serde::Serialize;
use sync_protocol::crypto::PublicKey;
use sync_protocol::ids::EventId;
use sync_protocol::package::{PackageBody, PackageError, PackageFile, open_package};
use sync_protocol::ticket_code::{CodeError, Signer, TicketCode};

/// What a scanned code says, before any lookup or signature check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CodeReport {
    /// A signed code: who signed it and what it claims (not yet verified).
    Signed {
        signer: String,
        binary_len: usize,
        text_len: usize,
    },
    /// A code from an imported ticket list: only a lookup in the package can say more.
    Opaque { text_len: usize },
}

/// Parses a scanned payload (any bytes) and reports what kind of code it is.
pub fn inspect_code(payload: &[u8]) -> Result<CodeReport, CodeError> {
    Ok(match TicketCode::parse_bytes(payload)? {
        TicketCode::Signed(code) => CodeReport::Signed {
            signer: match code.signer() {
                Signer::Server => "server".to_owned(),
                Signer::Device(device) => format!("device {device}"),
            },
            binary_len: code.binary_len(),
            text_len: code.as_str().len(),
        },
        TicketCode::Opaque(code) => CodeReport::Opaque {
            text_len: code.as_str().len(),
        },
    })
}

/// What a verified package file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageReport {
    pub event_id: EventId,
    pub version: u64,
    pub base_version: Option<u64>,
    pub body_len: u64,
    pub tickets: u64,
    pub attendees: u64,
    pub gates: u64,
    pub forms: u64,
    pub certificates: u64,
}

/// Verifies a package file against the server key and event, and counts what it holds.
pub fn inspect_package(
    bytes: &[u8],
    server_key: &PublicKey,
    event_id: EventId,
) -> Result<PackageReport, PackageError> {
    let file = PackageFile::from_bytes(bytes)?;
    let (manifest, body) = open_package(&file, server_key, event_id, None)?;
    let (tickets, attendees, gates, forms, certificates) = match &body {
        PackageBody::Full(s) => (
            s.tickets.len(),
            s.attendees.len(),
            s.gates.len(),
            s.forms.len(),
            s.certificates.len(),
        ),
        PackageBody::Delta(d) => (
            d.upsert_tickets.len(),
            d.upsert_attendees.len(),
            d.gates.len(),
            d.forms.len(),
            d.certificates.len(),
        ),
    };
    Ok(PackageReport {
        event_id: manifest.event_id,
        version: manifest.version,
        base_version: manifest.base_version,
        body_len: manifest.body_len,
        tickets: tickets as u64,
        attendees: attendees as u64,
        gates: gates as u64,
        forms: forms as u64,
        certificates: certificates as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use sync_protocol::UnixMillis;
    use sync_protocol::crypto::SecretKey;
    use sync_protocol::ids::{TicketId, TicketTypeId};
    use sync_protocol::model::Event;
    use sync_protocol::package::{PackageMeta, PackageSnapshot, seal_package};
    use sync_protocol::ticket_code::{CodeClaims, issue_server_code};
    use sync_protocol::wire::Cursor;

    const T: UnixMillis = UnixMillis(1_790_000_000_000);

    #[test]
    fn codes_are_told_apart_and_garbage_is_an_error() {
        let rng = &mut ChaCha20Rng::seed_from_u64(3);
        let key = SecretKey::generate(rng);
        let event = EventId::new(T, rng);
        let claims = CodeClaims {
            ticket_id: TicketId::new(T, rng),
            ticket_type_id: TicketTypeId::new(T, rng),
            valid_from: None,
            valid_until: None,
        };
        let code = issue_server_code(event, &claims, &key).unwrap();
        let report = inspect_code(code.as_str().as_bytes()).unwrap();
        assert!(matches!(report, CodeReport::Signed { ref signer, .. } if signer == "server"));
        assert_eq!(
            inspect_code(b"TICKET-0042").unwrap(),
            CodeReport::Opaque { text_len: 11 }
        );
        assert!(inspect_code(&[0xff, 0x00, 0x13]).is_err());
        assert!(inspect_code(b"").is_err());
    }

    #[test]
    fn a_package_file_is_verified_before_it_is_counted() {
        let rng = &mut ChaCha20Rng::seed_from_u64(4);
        let key = SecretKey::generate(rng);
        let other = SecretKey::generate(rng);
        let event = Event {
            id: EventId::new(T, rng),
            name: "Harbour Days".into(),
            time_zone: "Europe/Berlin".into(),
            starts_at: T,
            ends_at: T.plus_millis(3_600_000),
        };
        let snapshot = PackageSnapshot {
            event: event.clone(),
            ticket_types: vec![],
            gates: vec![],
            forms: vec![],
            attendees: vec![],
            tickets: vec![],
            check_ins: vec![],
            certificates: vec![],
            revoked_devices: vec![],
            printed_badges: vec![],
        };
        let meta = PackageMeta {
            event_id: event.id,
            version: 3,
            base_version: None,
            created_at: T,
            cursor: Cursor::START,
        };
        let bytes = seal_package(meta, &PackageBody::Full(snapshot), &key).to_bytes();
        let report = inspect_package(&bytes, &key.public_key(), event.id).unwrap();
        assert_eq!((report.version, report.tickets), (3, 0));
        assert!(inspect_package(&bytes, &other.public_key(), event.id).is_err());
        let mut tampered = bytes.clone();
        let last = tampered.len() - 2;
        tampered[last] ^= 0x01;
        assert!(inspect_package(&tampered, &key.public_key(), event.id).is_err());
    }
}
