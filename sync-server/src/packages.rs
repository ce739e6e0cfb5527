//! Building and publishing event packages, and the HTTP details of serving their bodies.
//!
//! [`publish`] reads everything a kiosk needs in one snapshot ([`PackageStore::package_rows`]),
//! turns the rows into a normalized [`PackageSnapshot`] ([`snapshot_from_rows`]), signs version
//! N+1 in full plus the delta from version N (the previous full body, parsed back), gzips both and
//! stores them. The manifest hashes the uncompressed JSON body; gzip is only a transfer encoding.
//!
//! The pure helpers for serving ([`parse_range`], [`accepts_gzip`]) live here too, tested beside
//! them. Routes are in `api::packages`, SQL in `store::pg::packages`.

use std::collections::HashSet;
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use sync_protocol::UnixMillis;
use sync_protocol::crypto::SecretKey;
use sync_protocol::package::{
    KnownCheckIn, PackageBody, PackageMeta, PackageSnapshot, diff, seal_body_bytes,
};

use crate::store::{CheckInRow, NewPackage, PackageRows, PackageStore, StoreError};

/// Gzip level of stored bodies: a package is built once and served many times.
const GZIP_LEVEL: u32 = 6;

/// What a publish stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Published {
    pub event_id: sync_protocol::ids::EventId,
    pub version: u64,
    pub created_at: UnixMillis,
    pub cursor: sync_protocol::wire::Cursor,
    pub ticket_count: u64,
    pub body_sha256: String,
    pub body_len: u64,
    pub body_gzip_len: u64,
    /// The delta from the previous version, when there was one.
    pub delta: Option<PublishedDelta>,
    /// Id of the key that signed it (kiosks pinned it at enrolment).
    pub key_id: String,
}

pub use sync_protocol::wire::PackageOffer;

/// The delta stored with a new version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PublishedDelta {
    pub base_version: u64,
    pub body_len: u64,
    pub body_gzip_len: u64,
}

/// The check-ins a package carries: every accepted check-in, marked annulled when its own device
/// annulled it.
pub fn known_check_ins(
    rows: Vec<CheckInRow>,
    annulments: &[(sync_protocol::ids::DeviceId, sync_protocol::ids::CheckInId)],
) -> Vec<KnownCheckIn> {
    let annulled: HashSet<_> = annulments.iter().copied().collect();
    rows.into_iter()
        .map(|row| KnownCheckIn {
            annulled: annulled.contains(&(row.device_id, row.check_in.id)),
            check_in: row.check_in,
            device_id: row.device_id,
            hlc: row.hlc,
        })
        .collect()
}

/// The normalized snapshot of the rows (the cursor and previous body are left in `rows`).
pub fn snapshot_from_rows(rows: &mut PackageRows) -> PackageSnapshot {
    let mut snapshot = PackageSnapshot {
        event: rows.event.clone(),
        ticket_types: std::mem::take(&mut rows.ticket_types),
        gates: std::mem::take(&mut rows.gates),
        forms: std::mem::take(&mut rows.forms),
        attendees: std::mem::take(&mut rows.attendees),
        tickets: std::mem::take(&mut rows.tickets),
        check_ins: known_check_ins(std::mem::take(&mut rows.check_ins), &rows.annulments),
        certificates: std::mem::take(&mut rows.certificates),
        revoked_devices: std::mem::take(&mut rows.revoked_devices),
        printed_badges: std::mem::take(&mut rows.printed_badges),
    };
    snapshot.normalize();
    snapshot
}

/// Gzip of `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        Compression::new(GZIP_LEVEL),
    );
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .expect("writing to a Vec does not fail")
}

/// Signs and compresses version N+1 of the rows (full) and the delta from N, if N exists and its
/// body still parses. Pure apart from the CPU time: serialising, hashing, diffing, gzip.
pub fn build(
    mut rows: PackageRows,
    key: &SecretKey,
    now: UnixMillis,
) -> (NewPackage, Option<NewPackage>) {
    let snapshot = snapshot_from_rows(&mut rows);
    let previous_version = rows.previous.as_ref().map_or(0, |(v, _)| *v);
    let version = previous_version + 1;
    let ticket_count = snapshot.tickets.len() as u64;
    let meta = PackageMeta {
        event_id: snapshot.event.id,
        version,
        base_version: None,
        created_at: now,
        cursor: rows.cursor,
    };

    let delta = rows.previous.take().and_then(|(base, body)| {
        match serde_json::from_slice::<PackageBody>(&body) {
            Ok(PackageBody::Full(old)) => {
                let delta = PackageBody::Delta(diff(&old, &snapshot));
                let bytes = serde_json::to_vec(&delta).expect("protocol types always serialize");
                Some(seal(
                    PackageMeta {
                        base_version: Some(base),
                        ..meta
                    },
                    bytes,
                    ticket_count,
                    key,
                ))
            }
            // An old format we no longer read: kiosks that hold it download the full body.
            Ok(PackageBody::Delta(_)) | Err(_) => {
                tracing::warn!(
                    version = base,
                    "previous package body does not parse; no delta"
                );
                None
            }
        }
    });
    let body =
        serde_json::to_vec(&PackageBody::Full(snapshot)).expect("protocol types always serialize");
    (seal(meta, body, ticket_count, key), delta)
}

fn seal(meta: PackageMeta, body: Vec<u8>, ticket_count: u64, key: &SecretKey) -> NewPackage {
    let file = seal_body_bytes(meta, body, ticket_count, key);
    let manifest = file
        .manifest
        .open(&key.public_key())
        .expect("a manifest just signed opens with the same key");
    let body_gzip = gzip(&file.body);
    NewPackage {
        manifest,
        signed: file.manifest,
        body: file.body,
        body_gzip,
    }
}

/// Builds, signs and stores the next package version of `event_id`, audited as `who`'s.
pub async fn publish<S: PackageStore>(
    store: &S,
    key: &SecretKey,
    event_id: sync_protocol::ids::EventId,
    now: UnixMillis,
    who: &crate::store::Who,
) -> Result<Published, StoreError> {
    let rows = store.package_rows(event_id).await?;
    let key = key.clone();
    let (full, delta) = tokio::task::spawn_blocking(move || build(rows, &key, now))
        .await
        .map_err(|e| StoreError::Corrupt(format!("building the package failed: {e}")))?;
    let audit = who.entry(
        "package.publish",
        Some(event_id.to_string()),
        serde_json::json!({
            "version": full.manifest.version,
            "ticket_count": full.manifest.ticket_count,
            "body_sha256": full.manifest.body_sha256,
            "cursor": full.manifest.cursor,
        }),
    );
    store.insert_package(&full, delta.as_ref(), &audit).await?;
    Ok(Published {
        event_id,
        version: full.manifest.version,
        created_at: full.manifest.created_at,
        cursor: full.manifest.cursor,
        ticket_count: full.manifest.ticket_count,
        body_sha256: full.manifest.body_sha256.clone(),
        body_len: full.manifest.body_len,
        body_gzip_len: full.body_gzip.len() as u64,
        delta: delta.map(|d| PublishedDelta {
            base_version: d.manifest.base_version.unwrap_or_default(),
            body_len: d.manifest.body_len,
            body_gzip_len: d.body_gzip.len() as u64,
        }),
        key_id: full.signed.key_id.to_string(),
    })
}

/// What to answer to a `Range` header, for a body of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// No (usable) range: the whole body, 200.
    Whole,
    /// Bytes `start..=end`, 206.
    Part { start: u64, end: u64 },
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Reads a `Range` header. Only one `bytes` range is served; anything else (several ranges,
/// another unit, garbage) gets the whole body, which RFC 9110 allows.
pub fn parse_range(header: Option<&str>, len: u64) -> RangeAnswer {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAnswer::Whole;
    };
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Whole;
    };
    let parse = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match parse(last) {
            Some(0) => RangeAnswer::Unsatisfiable,
            Some(n) if len > 0 => RangeAnswer::Part {
                start: len.saturating_sub(n),
                end: len - 1,
            },
            Some(_) => RangeAnswer::Unsatisfiable,
            None => RangeAnswer::Whole,
        },
        // bytes=N-: from N to the end.
        (false, true) => match parse(first) {
            Some(start) if start < len => RangeAnswer::Part {
                start,
                end: len - 1,
            },
            Some(_) => RangeAnswer::Unsatisfiable,
            None => RangeAnswer::Whole,
        },
        (false, false) => match (parse(first), parse(last)) {
            (Some(start), Some(end)) if start <= end => {
                if start < len {
                    RangeAnswer::Part {
                        start,
                        end: end.min(len - 1),
                    }
                } else {
                    RangeAnswer::Unsatisfiable
                }
            }
            _ => RangeAnswer::Whole,
        },
        (true, true) => RangeAnswer::Whole,
    }
}

/// Whether an `Accept-Encoding` header accepts gzip (explicitly or by `*`, with q > 0).
pub fn accepts_gzip(header: Option<&str>) -> bool {
    let Some(header) = header else { return false };
    let mut gzip = None;
    let mut star = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q=").map(str::to_owned))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match name.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q > 0.0),
            "*" => star = Some(q > 0.0),
            _ => {}
        }
    }
    gzip.or(star).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeAnswer::*;
        let len = 100;
        let cases = [
            (None, Whole),
            (Some("bytes=0-49"), Part { start: 0, end: 49 }),
            (Some("bytes=50-"), Part { start: 50, end: 99 }),
            (Some("bytes=-10"), Part { start: 90, end: 99 }),
            (Some("bytes=-1000"), Part { start: 0, end: 99 }),
            (Some("bytes=90-1000"), Part { start: 90, end: 99 }),
            (Some("bytes=100-"), Unsatisfiable),
            (Some("bytes=100-200"), Unsatisfiable),
            (Some("bytes=-0"), Unsatisfiable),
            (Some("bytes=5-2"), Whole),
            (Some("bytes=0-1,5-6"), Whole),
            (Some("items=0-1"), Whole),
            (Some("bytes=x-"), Whole),
            (Some("bytes=-"), Whole),
        ];
        for (header, expected) in cases {
            assert_eq!(parse_range(header, len), expected, "{header:?}");
        }
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
    }

    #[test]
    fn accept_encoding() {
        let cases = [
            (None, false),
            (Some("gzip"), true),
            (Some("br, gzip;q=0.5"), true),
            (Some("gzip;q=0"), false),
            (Some("identity"), false),
            (Some("*"), true),
            (Some("*;q=0, gzip"), true),
            (Some("GZIP"), true),
            (Some("deflate, *;q=0"), false),
        ];
        for (header, expected) in cases {
            assert_eq!(accepts_gzip(header), expected, "{header:?}");
        }
    }

    #[test]
    fn annulled_check_ins_are_marked_not_dropped() {
        use rand_chacha::ChaCha20Rng;
        use rand_core::SeedableRng;
        use sync_protocol::changes::{CheckIn, FoundBy};
        use sync_protocol::hlc::Hlc;
        use sync_protocol::ids::{CheckInId, DeviceId, GateId, TicketId};
        use sync_protocol::model::Direction;
        use sync_protocol::verdict::VerdictCode;

        let t0 = UnixMillis(1_790_000_000_000);
        let rng = &mut ChaCha20Rng::seed_from_u64(7);
        let device = DeviceId::new(t0, rng);
        let other = DeviceId::new(t0, rng);
        let row = |rng: &mut ChaCha20Rng| CheckInRow {
            check_in: CheckIn {
                id: CheckInId::new(t0, rng),
                ticket_id: TicketId::new(t0, rng),
                gate_id: GateId::new(t0, rng),
                direction: Direction::Entry,
                verdict: VerdictCode::Admitted,
                offline: false,
                scanned_at: t0,
                found_by: FoundBy::Code,
            },
            device_id: device,
            hlc: Hlc::new(t0.as_u64(), 0),
        };
        let (a, b, c) = (row(rng), row(rng), row(rng));
        let annulments = [
            (device, a.check_in.id),
            // Another device cannot annul a check-in it did not make.
            (other, b.check_in.id),
        ];
        let known = known_check_ins(vec![a, b, c], &annulments);
        let flags: Vec<bool> = known.iter().map(|k| k.annulled).collect();
        assert_eq!(flags, [true, false, false]);
    }
}
