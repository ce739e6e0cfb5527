//! Event packages: everything a kiosk needs to work offline, signed by the server.
//!
//! A package is a [`PackageManifest`] signed with the server's Ed25519 key plus a body: a full
//! [`PackageSnapshot`], or a [`PackageDelta`] from an earlier version. The manifest carries the
//! body's SHA-256, so the signature covers the body without hashing it twice. A kiosk pins the
//! server key at enrolment and [`open_package`] refuses anything unsigned, tampered, for another
//! event, older than what it holds, or a delta whose base it does not hold.
//!
//! Snapshots keep their lists sorted by id, so [`diff`] and [`apply_delta`] are plain merges and
//! `apply_delta(old, diff(old, new)) == new`.
//!
//! On a USB stick a package is one file: the line `GATEPASS-PACKAGE 1`, the signed manifest as
//! one JSON line, then the body bytes ([`PackageFile`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::certificate::DeviceCertificate;
use crate::changes::CheckIn;
use crate::crypto::{PublicKey, SecretKey, SignatureError, Signed};
use crate::forms::Form;
use crate::hlc::Hlc;
use crate::ids::{AttendeeId, CheckInId, DeviceId, EventId, TicketId};
use crate::model::{Attendee, Event, Gate, Ticket, TicketType};
use crate::time::UnixMillis;
use crate::wire::Cursor;

/// Format of manifests and bodies this build reads and writes.
pub const PACKAGE_FORMAT: u16 = 1;

/// First line of a package file.
const FILE_MAGIC: &[u8] = b"GATEPASS-PACKAGE 1\n";

/// What a signed manifest says about its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageManifest {
    pub format: u16,
    pub event_id: EventId,
    /// Version of the event's data this package brings the kiosk to.
    pub version: u64,
    /// `None` for a full snapshot; the version a delta applies to otherwise.
    pub base_version: Option<u64>,
    pub created_at: UnixMillis,
    /// The change feed's position when the package was built: pull from here after applying it.
    pub cursor: Cursor,
    /// Lowercase hex SHA-256 of the body bytes.
    pub body_sha256: String,
    pub body_len: u64,
    /// Tickets in the snapshot (after applying, for a delta).
    pub ticket_count: u64,
}

/// A check-in the server knew when the package was built, so a kiosk that joins late still says
/// "already used".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownCheckIn {
    pub check_in: CheckIn,
    pub device_id: DeviceId,
    pub hlc: Hlc,
    /// Annulled by its device (a turnstile that did not turn): does not count as an admission.
    pub annulled: bool,
}

/// A full copy of one event's data for kiosks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageSnapshot {
    pub event: Event,
    pub ticket_types: Vec<TicketType>,
    pub gates: Vec<Gate>,
    pub forms: Vec<Form>,
    pub attendees: Vec<Attendee>,
    pub tickets: Vec<Ticket>,
    pub check_ins: Vec<KnownCheckIn>,
    /// Certificates of the event's kiosks, so badges signed by any of them verify offline.
    pub certificates: Vec<Signed<DeviceCertificate>>,
    /// Devices whose certificates and signed badges are no longer accepted.
    pub revoked_devices: Vec<DeviceId>,
    /// Tickets whose badge some kiosk has printed, so a gate printing the first badge only does
    /// not print it again at a kiosk that joins late.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub printed_badges: Vec<TicketId>,
}

/// The change from one snapshot to the next. Small tables (event, ticket types, gates, forms,
/// certificates, revoked devices) travel whole; large ones as upserts and removals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageDelta {
    pub event: Event,
    pub ticket_types: Vec<TicketType>,
    pub gates: Vec<Gate>,
    pub forms: Vec<Form>,
    pub certificates: Vec<Signed<DeviceCertificate>>,
    pub revoked_devices: Vec<DeviceId>,
    pub upsert_attendees: Vec<Attendee>,
    pub remove_attendees: Vec<AttendeeId>,
    pub upsert_tickets: Vec<Ticket>,
    pub remove_tickets: Vec<TicketId>,
    pub upsert_check_ins: Vec<KnownCheckIn>,
    pub remove_check_ins: Vec<CheckInId>,
    /// Tickets whose badge was printed since the base (a print is never taken back).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_printed_badges: Vec<TicketId>,
}

/// A package body: `{"kind": "full" | "delta", ...the snapshot's or delta's fields}`.
///
/// Read by hand rather than by serde's internally tagged derive, which first copies the whole
/// object into an untyped buffer to find the tag: for a package of 100,000 tickets that buffer
/// cost more memory than the package itself. Here `kind` must be the first key (as every body
/// this crate writes has it) and the rest is read straight into its type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PackageBody {
    Full(PackageSnapshot),
    Delta(PackageDelta),
}

impl<'de> Deserialize<'de> for PackageBody {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(BodyVisitor)
    }
}

struct BodyVisitor;

impl<'de> serde::de::Visitor<'de> for BodyVisitor {
    type Value = PackageBody;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a package body: an object whose first key is \"kind\"")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<PackageBody, A::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Kind {
            Full,
            Delta,
        }
        let key: Option<std::borrow::Cow<'de, str>> = map.next_key()?;
        if key.as_deref() != Some("kind") {
            return Err(serde::de::Error::custom(
                "a package body starts with its \"kind\" (full or delta)",
            ));
        }
        let kind: Kind = map.next_value()?;
        let rest = serde::de::value::MapAccessDeserializer::new(map);
        match kind {
            Kind::Full => PackageSnapshot::deserialize(rest).map(PackageBody::Full),
            Kind::Delta => PackageDelta::deserialize(rest).map(PackageBody::Delta),
        }
    }
}

/// Why a package was refused. The kiosk keeps what it had in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    #[error("package signature: {0}")]
    Signature(#[from] SignatureError),
    #[error("package format {0} is not supported by this kiosk (it reads {PACKAGE_FORMAT})")]
    UnsupportedFormat(u16),
    #[error("package is for event {found}, this kiosk is enrolled for {expected}")]
    WrongEvent { expected: EventId, found: EventId },
    #[error("package body does not match its signed manifest (altered or truncated)")]
    BodyMismatch,
    #[error("package body is malformed: {0}")]
    MalformedBody(String),
    #[error("package version {offered} is not newer than the version {held} this kiosk holds")]
    NotNewer { held: u64, offered: u64 },
    #[error("package is a delta from version {base}, but this kiosk holds {held:?}")]
    BaseMismatch { base: u64, held: Option<u64> },
    #[error("not a package file")]
    NotAPackageFile,
    /// The body could not be read back (a damaged download on the kiosk's disk).
    #[error("package body could not be read: {0}")]
    Unreadable(String),
}

impl PackageSnapshot {
    /// Sorts every list by id (and drops exact duplicates), the canonical form for diffs.
    pub fn normalize(&mut self) {
        sort_dedup(&mut self.ticket_types, |t| t.id);
        sort_dedup(&mut self.gates, |g| g.id);
        sort_dedup(&mut self.forms, |f| (f.id, f.version));
        sort_dedup(&mut self.attendees, |a| a.id);
        sort_dedup(&mut self.tickets, |t| t.id);
        sort_dedup(&mut self.check_ins, |c| c.check_in.id);
        self.certificates.sort_by(|a, b| a.payload.cmp(&b.payload));
        self.certificates.dedup();
        self.revoked_devices.sort();
        self.revoked_devices.dedup();
        self.printed_badges.sort();
        self.printed_badges.dedup();
    }
}

fn sort_dedup<T, K: Ord>(items: &mut Vec<T>, key: impl Fn(&T) -> K) {
    items.sort_by_key(|item| key(item));
    items.dedup_by(|a, b| key(a) == key(b));
}

/// The delta that turns `old` into `new` (both normalized).
pub fn diff(old: &PackageSnapshot, new: &PackageSnapshot) -> PackageDelta {
    let (upsert_attendees, remove_attendees) = diff_list(&old.attendees, &new.attendees, |a| a.id);
    let (upsert_tickets, remove_tickets) = diff_list(&old.tickets, &new.tickets, |t| t.id);
    let (upsert_check_ins, remove_check_ins) =
        diff_list(&old.check_ins, &new.check_ins, |c| c.check_in.id);
    PackageDelta {
        event: new.event.clone(),
        ticket_types: new.ticket_types.clone(),
        gates: new.gates.clone(),
        forms: new.forms.clone(),
        certificates: new.certificates.clone(),
        revoked_devices: new.revoked_devices.clone(),
        upsert_attendees,
        remove_attendees,
        upsert_tickets,
        remove_tickets,
        upsert_check_ins,
        remove_check_ins,
        add_printed_badges: new
            .printed_badges
            .iter()
            .filter(|t| old.printed_badges.binary_search(t).is_err())
            .copied()
            .collect(),
    }
}

fn diff_list<T: Clone + PartialEq, K: Ord + Copy>(
    old: &[T],
    new: &[T],
    key: impl Fn(&T) -> K,
) -> (Vec<T>, Vec<K>) {
    let old_by_key: BTreeMap<K, &T> = old.iter().map(|item| (key(item), item)).collect();
    let new_keys: std::collections::BTreeSet<K> = new.iter().map(&key).collect();
    let upserts = new
        .iter()
        .filter(|item| old_by_key.get(&key(item)) != Some(item))
        .cloned()
        .collect();
    let removals = old_by_key
        .keys()
        .filter(|k| !new_keys.contains(k))
        .copied()
        .collect();
    (upserts, removals)
}

/// Applies `delta` to `base`, giving the next snapshot (normalized).
pub fn apply_delta(base: &PackageSnapshot, delta: &PackageDelta) -> PackageSnapshot {
    let mut next = PackageSnapshot {
        event: delta.event.clone(),
        ticket_types: delta.ticket_types.clone(),
        gates: delta.gates.clone(),
        forms: delta.forms.clone(),
        attendees: apply_list(
            &base.attendees,
            &delta.upsert_attendees,
            &delta.remove_attendees,
            |a| a.id,
        ),
        tickets: apply_list(
            &base.tickets,
            &delta.upsert_tickets,
            &delta.remove_tickets,
            |t| t.id,
        ),
        check_ins: apply_list(
            &base.check_ins,
            &delta.upsert_check_ins,
            &delta.remove_check_ins,
            |c| c.check_in.id,
        ),
        certificates: delta.certificates.clone(),
        revoked_devices: delta.revoked_devices.clone(),
        printed_badges: base
            .printed_badges
            .iter()
            .chain(&delta.add_printed_badges)
            .copied()
            .collect(),
    };
    next.normalize();
    next
}

fn apply_list<T: Clone, K: Ord + Copy>(
    base: &[T],
    upserts: &[T],
    removals: &[K],
    key: impl Fn(&T) -> K,
) -> Vec<T> {
    let mut by_key: BTreeMap<K, T> = base.iter().map(|item| (key(item), item.clone())).collect();
    for k in removals {
        by_key.remove(k);
    }
    for item in upserts {
        by_key.insert(key(item), item.clone());
    }
    by_key.into_values().collect()
}

/// A signed manifest with its body bytes, as served or written to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    pub manifest: Signed<PackageManifest>,
    pub body: Vec<u8>,
}

/// What a package builder says about the package besides its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageMeta {
    pub event_id: EventId,
    pub version: u64,
    pub base_version: Option<u64>,
    pub created_at: UnixMillis,
    pub cursor: Cursor,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Serialises and signs a package body.
pub fn seal_package(meta: PackageMeta, body: &PackageBody, key: &SecretKey) -> PackageFile {
    let bytes = serde_json::to_vec(body).expect("protocol types always serialize");
    let ticket_count = match body {
        PackageBody::Full(snapshot) => snapshot.tickets.len() as u64,
        PackageBody::Delta(_) => 0,
    };
    seal_body_bytes(meta, bytes, ticket_count, key)
}

/// Signs body bytes already serialised (the server streams large bodies).
pub fn seal_body_bytes(
    meta: PackageMeta,
    body: Vec<u8>,
    ticket_count: u64,
    key: &SecretKey,
) -> PackageFile {
    let manifest = PackageManifest {
        format: PACKAGE_FORMAT,
        event_id: meta.event_id,
        version: meta.version,
        base_version: meta.base_version,
        created_at: meta.created_at,
        cursor: meta.cursor,
        body_sha256: sha256_hex(&body),
        body_len: body.len() as u64,
        ticket_count,
    };
    PackageFile {
        manifest: Signed::sign(&manifest, key),
        body,
    }
}

/// Checks a package against the pinned server key and what the kiosk holds, then parses it.
///
/// `held_version` is the version the kiosk holds (`None`: no package yet).
pub fn open_package(
    file: &PackageFile,
    server_key: &PublicKey,
    event_id: EventId,
    held_version: Option<u64>,
) -> Result<(PackageManifest, PackageBody), PackageError> {
    open_parts(
        &file.manifest,
        &file.body,
        server_key,
        event_id,
        held_version,
    )
}

/// [`open_package`] for a file read in place ([`PackageFileRef`]): the body is not copied.
pub fn open_package_ref(
    file: &PackageFileRef<'_>,
    server_key: &PublicKey,
    event_id: EventId,
    held_version: Option<u64>,
) -> Result<(PackageManifest, PackageBody), PackageError> {
    open_parts(
        &file.manifest,
        file.body,
        server_key,
        event_id,
        held_version,
    )
}

fn open_parts(
    manifest: &Signed<PackageManifest>,
    body: &[u8],
    server_key: &PublicKey,
    event_id: EventId,
    held_version: Option<u64>,
) -> Result<(PackageManifest, PackageBody), PackageError> {
    let manifest = verify_manifest(manifest, server_key, event_id, held_version)?;
    if body.len() as u64 != manifest.body_len || sha256_hex(body) != manifest.body_sha256 {
        return Err(PackageError::BodyMismatch);
    }
    let body: PackageBody =
        serde_json::from_slice(body).map_err(|e| PackageError::MalformedBody(e.to_string()))?;
    check_kind(&manifest, &body)?;
    Ok((manifest, body))
}

/// Reads the body of an already verified manifest from `reader` (a download read back from
/// disk): its bytes are hashed as they are parsed, so the body is never held in memory whole.
/// The length and SHA-256 are checked before the parse result is trusted, so a damaged or
/// altered body is [`PackageError::BodyMismatch`] even when it happens to parse.
pub fn read_body(
    manifest: &PackageManifest,
    reader: impl std::io::Read,
) -> Result<PackageBody, PackageError> {
    let mut hashing = HashingReader {
        // One byte past the signed length is enough to know the body is too long.
        inner: std::io::Read::take(reader, manifest.body_len.saturating_add(1)),
        hasher: Sha256::new(),
        len: 0,
    };
    let parsed: Result<PackageBody, serde_json::Error> =
        serde_json::from_reader(std::io::BufReader::with_capacity(1 << 16, &mut hashing));
    if let Err(e) = &parsed
        && e.is_io()
    {
        return Err(PackageError::Unreadable(e.to_string()));
    }
    // What the parser did not need still counts for the digest.
    std::io::copy(&mut hashing, &mut std::io::sink())
        .map_err(|e| PackageError::Unreadable(e.to_string()))?;
    let digest: String = hashing
        .hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if hashing.len != manifest.body_len || digest != manifest.body_sha256 {
        return Err(PackageError::BodyMismatch);
    }
    let body = parsed.map_err(|e| PackageError::MalformedBody(e.to_string()))?;
    check_kind(manifest, &body)?;
    Ok(body)
}

/// A full body for a manifest without a base, a delta for one with.
fn check_kind(manifest: &PackageManifest, body: &PackageBody) -> Result<(), PackageError> {
    let is_full = matches!(body, PackageBody::Full(_));
    if is_full != manifest.base_version.is_none() {
        return Err(PackageError::MalformedBody(
            "body kind does not match the manifest".into(),
        ));
    }
    Ok(())
}

/// Counts and hashes the bytes read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Checks a signed manifest alone (before downloading the body it describes).
pub fn verify_manifest(
    manifest: &Signed<PackageManifest>,
    server_key: &PublicKey,
    event_id: EventId,
    held_version: Option<u64>,
) -> Result<PackageManifest, PackageError> {
    let manifest = manifest.open(server_key)?;
    if manifest.format != PACKAGE_FORMAT {
        return Err(PackageError::UnsupportedFormat(manifest.format));
    }
    if manifest.event_id != event_id {
        return Err(PackageError::WrongEvent {
            expected: event_id,
            found: manifest.event_id,
        });
    }
    if let Some(held) = held_version
        && manifest.version <= held
    {
        return Err(PackageError::NotNewer {
            held,
            offered: manifest.version,
        });
    }
    if let Some(base) = manifest.base_version
        && held_version != Some(base)
    {
        return Err(PackageError::BaseMismatch {
            base,
            held: held_version,
        });
    }
    Ok(manifest)
}

impl PackageFile {
    /// The file form: magic line, manifest JSON line, body bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let manifest = serde_json::to_vec(&self.manifest).expect("protocol types always serialize");
        let mut out = Vec::with_capacity(FILE_MAGIC.len() + manifest.len() + 1 + self.body.len());
        out.extend_from_slice(FILE_MAGIC);
        out.extend_from_slice(&manifest);
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out
    }

    /// Reads the file form; the content is checked later by [`open_package`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PackageError> {
        let file = PackageFileRef::from_bytes(bytes)?;
        Ok(Self {
            manifest: file.manifest,
            body: file.body.to_vec(),
        })
    }
}

/// A package file read in place: its manifest, and its body borrowed from the bytes (a package
/// of 100,000 tickets has a body of tens of megabytes, not worth a second copy).
#[derive(Debug, Clone)]
pub struct PackageFileRef<'a> {
    pub manifest: Signed<PackageManifest>,
    pub body: &'a [u8],
}

impl<'a> PackageFileRef<'a> {
    /// Reads the file form; the content is checked later by [`open_package_ref`].
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, PackageError> {
        let rest = bytes
            .strip_prefix(FILE_MAGIC)
            .ok_or(PackageError::NotAPackageFile)?;
        let newline = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PackageError::NotAPackageFile)?;
        let manifest =
            serde_json::from_slice(&rest[..newline]).map_err(|_| PackageError::NotAPackageFile)?;
        Ok(Self {
            manifest,
            body: &rest[newline + 1..],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{GateId, TicketTypeId};
    use crate::model::{GateMode, Reentry, TicketStatus};
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    const T0: UnixMillis = UnixMillis(1_790_000_000_000);

    fn snapshot(rng: &mut ChaCha20Rng, tickets: usize) -> PackageSnapshot {
        let event = Event {
            id: EventId::new(T0, rng),
            name: "Harbour Days".into(),
            time_zone: "Europe/Berlin".into(),
            starts_at: T0,
            ends_at: T0.plus_millis(86_400_000),
        };
        let day = TicketType {
            id: TicketTypeId::new(T0, rng),
            name: "Day pass".into(),
            valid_from: None,
            valid_until: None,
        };
        let gate = Gate {
            id: GateId::new(T0, rng),
            name: "North".into(),
            allowed_ticket_types: vec![],
            mode: GateMode::EntryAndExit,
            reentry: Reentry::AfterExit,
            required_answers: vec![],
            show_answers: vec![],
            print_badge: Default::default(),
        };
        let mut snapshot = PackageSnapshot {
            event,
            ticket_types: vec![day.clone()],
            gates: vec![gate],
            forms: vec![],
            attendees: vec![],
            tickets: vec![],
            check_ins: vec![],
            certificates: vec![],
            revoked_devices: vec![],
            printed_badges: vec![],
        };
        for i in 0..tickets {
            let attendee = Attendee {
                id: AttendeeId::new(T0, rng),
                first_name: format!("Ada{i}"),
                last_name: "Lovelace".into(),
                email: Some(format!("ada{i}@example.org")),
                phone: None,
                answers: Default::default(),
                form: None,
            };
            snapshot.tickets.push(Ticket {
                id: TicketId::new(T0, rng),
                attendee_id: attendee.id,
                ticket_type_id: day.id,
                status: TicketStatus::Valid,
                code: format!("OPAQUE-{i}"),
            });
            snapshot.attendees.push(attendee);
        }
        // Every third guest has had their badge printed.
        snapshot.printed_badges = snapshot.tickets.iter().step_by(3).map(|t| t.id).collect();
        snapshot.normalize();
        snapshot
    }

    fn meta(event_id: EventId, version: u64, base_version: Option<u64>) -> PackageMeta {
        PackageMeta {
            event_id,
            version,
            base_version,
            created_at: T0,
            cursor: Cursor::START,
        }
    }

    #[test]
    fn sealed_package_opens_with_the_pinned_key() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let key = SecretKey::generate(&mut rng);
        let snap = snapshot(&mut rng, 3);
        let file = seal_package(
            meta(snap.event.id, 1, None),
            &PackageBody::Full(snap.clone()),
            &key,
        );
        let bytes = file.to_bytes();
        let file = PackageFile::from_bytes(&bytes).unwrap();
        let (manifest, body) = open_package(&file, &key.public_key(), snap.event.id, None).unwrap();
        assert_eq!(manifest.version, 1);
        assert_eq!(manifest.ticket_count, 3);
        assert_eq!(body, PackageBody::Full(snap));
    }

    /// Bodies round-trip, read in place and through a reader; one whose kind is not its first key,
    /// or is unknown, is refused with a message that says so.
    #[test]
    fn a_body_is_read_straight_into_its_kind() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let snap = snapshot(&mut rng, 3);
        let mut next = snap.clone();
        next.tickets[0].status = TicketStatus::Canceled;
        for body in [
            PackageBody::Full(snap.clone()),
            PackageBody::Delta(diff(&snap, &next)),
        ] {
            let bytes = serde_json::to_vec(&body).unwrap();
            assert!(bytes.starts_with(b"{\"kind\":"));
            assert_eq!(serde_json::from_slice::<PackageBody>(&bytes).unwrap(), body);
            let read: PackageBody = serde_json::from_reader(Trickle(&bytes)).unwrap();
            assert_eq!(read, body);
        }
        let moved = r#"{"base_version":1,"kind":"delta"}"#;
        let err = serde_json::from_str::<PackageBody>(moved).unwrap_err();
        assert!(
            err.to_string().contains("starts with its \"kind\""),
            "{err}"
        );
        let unknown = r#"{"kind":"partial"}"#;
        assert!(serde_json::from_str::<PackageBody>(unknown).is_err());
        assert!(serde_json::from_str::<PackageBody>("[]").is_err());
    }

    /// A reader that hands out a few bytes at a time, as a download read back chunk by chunk.
    struct Trickle<'a>(&'a [u8]);

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(7);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_body_read_back_is_checked_against_its_manifest() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let key = SecretKey::generate(&mut rng);
        let snap = snapshot(&mut rng, 4);
        let event = snap.event.id;
        let file = seal_package(meta(event, 2, None), &PackageBody::Full(snap.clone()), &key);
        let manifest = verify_manifest(&file.manifest, &key.public_key(), event, None).unwrap();
        assert_eq!(
            read_body(&manifest, Trickle(&file.body)),
            Ok(PackageBody::Full(snap))
        );

        let mut flipped = file.body.clone();
        let at = flipped.len() / 3;
        flipped[at] ^= 0x20;
        assert_eq!(
            read_body(&manifest, Trickle(&flipped)),
            Err(PackageError::BodyMismatch)
        );
        let short = &file.body[..file.body.len() - 1];
        assert_eq!(
            read_body(&manifest, Trickle(short)),
            Err(PackageError::BodyMismatch)
        );
        let mut long = file.body.clone();
        long.extend_from_slice(b"   ");
        assert_eq!(
            read_body(&manifest, Trickle(&long)),
            Err(PackageError::BodyMismatch)
        );

        struct Broken;
        impl std::io::Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("chunk 3 is damaged"))
            }
        }
        assert!(matches!(
            read_body(&manifest, Broken),
            Err(PackageError::Unreadable(message)) if message.contains("chunk 3")
        ));

        // A signed manifest of a delta with a full body inside: refused on kind.
        let delta_manifest = PackageManifest {
            base_version: Some(1),
            ..manifest
        };
        assert!(matches!(
            read_body(&delta_manifest, Trickle(&file.body)),
            Err(PackageError::MalformedBody(_))
        ));
    }

    #[test]
    fn tampered_unsigned_foreign_or_stale_packages_are_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let key = SecretKey::generate(&mut rng);
        let impostor = SecretKey::generate(&mut rng);
        let snap = snapshot(&mut rng, 2);
        let event = snap.event.id;
        let body = PackageBody::Full(snap);
        let file = seal_package(meta(event, 5, None), &body, &key);

        let mut tampered = file.clone();
        let at = tampered.body.len() / 2;
        tampered.body[at] ^= 1;
        assert_eq!(
            open_package(&tampered, &key.public_key(), event, None),
            Err(PackageError::BodyMismatch)
        );
        let mut truncated = file.clone();
        truncated.body.pop();
        assert_eq!(
            open_package(&truncated, &key.public_key(), event, None),
            Err(PackageError::BodyMismatch)
        );

        let forged = seal_package(meta(event, 5, None), &body, &impostor);
        assert!(matches!(
            open_package(&forged, &key.public_key(), event, None),
            Err(PackageError::Signature(_))
        ));

        let other_event = EventId::new(T0, &mut rng);
        assert!(matches!(
            open_package(&file, &key.public_key(), other_event, None),
            Err(PackageError::WrongEvent { .. })
        ));
        assert_eq!(
            open_package(&file, &key.public_key(), event, Some(5)),
            Err(PackageError::NotNewer {
                held: 5,
                offered: 5
            })
        );
        assert_eq!(
            PackageFile::from_bytes(b"not a package"),
            Err(PackageError::NotAPackageFile)
        );
    }

    #[test]
    fn a_delta_needs_its_base() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let key = SecretKey::generate(&mut rng);
        let old = snapshot(&mut rng, 2);
        let mut new = old.clone();
        new.tickets[0].status = TicketStatus::Revoked;
        let delta = diff(&old, &new);
        assert_eq!(delta.upsert_tickets.len(), 1);
        let file = seal_package(
            meta(old.event.id, 2, Some(1)),
            &PackageBody::Delta(delta.clone()),
            &key,
        );
        assert_eq!(
            open_package(&file, &key.public_key(), old.event.id, None),
            Err(PackageError::BaseMismatch {
                base: 1,
                held: None
            })
        );
        let (_, body) = open_package(&file, &key.public_key(), old.event.id, Some(1)).unwrap();
        let PackageBody::Delta(opened) = body else {
            panic!("expected a delta")
        };
        assert_eq!(apply_delta(&old, &opened), new);
    }

    proptest! {
        /// Whatever changed between two snapshots, applying the diff to the old gives the new.
        #[test]
        fn apply_of_diff_gives_the_new_snapshot(
            seed in any::<u64>(),
            keep in proptest::collection::vec(any::<bool>(), 6),
            revoke in proptest::collection::vec(any::<bool>(), 6),
            added in 0usize..4,
        ) {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let old = snapshot(&mut rng, 6);
            let extra = snapshot(&mut rng, added);
            let mut new = old.clone();
            new.tickets = old.tickets.iter().zip(&keep).zip(&revoke)
                .filter(|((_, keep), _)| **keep)
                .map(|((t, _), revoke)| {
                    let mut t = t.clone();
                    if *revoke { t.status = TicketStatus::Revoked; }
                    t
                })
                .chain(extra.tickets.iter().cloned())
                .collect();
            new.attendees.extend(extra.attendees.iter().cloned());
            // Badges printed since: a print is never taken back, so the old ones stay.
            new.printed_badges = old.printed_badges.iter().copied()
                .chain(new.tickets.iter().zip(&revoke).filter(|(_, r)| **r).map(|(t, _)| t.id))
                .collect();
            new.normalize();
            let delta = diff(&old, &new);
            prop_assert!(delta.add_printed_badges.iter().all(|t| !old.printed_badges.contains(t)));
            prop_assert_eq!(apply_delta(&old, &delta), new);
        }
    }
}
