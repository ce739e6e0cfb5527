//! The messages kiosks and the server exchange over HTTP, as documented in docs/protocol.md.
//!
//! Every endpoint lives under `/api/v1`; a breaking change to any message here means a new
//! [`PROTOCOL_VERSION`] and a new path prefix, while additive fields are allowed within a version
//! (readers ignore unknown fields). What travels: enrolment, package manifests (see
//! [`crate::package`]), push requests with per-change results, pull pages with a cursor and a
//! write checkpoint, live-update notices, and the `{code, message}` error body.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::certificate::{BadgeCertificate, DeviceCertificate};
use crate::changes::Change;
use crate::crypto::{PublicKey, Signed};
use crate::hlc::Hlc;
use crate::ids::{DeviceId, EventId, GateId, TicketId};
use crate::model::{Attendee, Ticket, TicketStatus};
use crate::time::UnixMillis;

/// Version of this wire protocol; the path prefix is `/api/v{PROTOCOL_VERSION}`.
pub const PROTOCOL_VERSION: u16 = 1;

/// Most changes one push may carry; a kiosk with more sends several batches.
pub const MAX_PUSH_BATCH: usize = 1000;

/// Most items one pull page may carry.
pub const MAX_PULL_PAGE: u32 = 1000;

/// Text a kiosk scans (or an admin types) to enrol: the server's address and a one-time token.
///
/// As QR text: `GATEPASS-ENROL:<token>@<server url>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentInvite {
    pub server_url: String,
    pub token: String,
}

const INVITE_PREFIX: &str = "GATEPASS-ENROL:";

impl EnrolmentInvite {
    /// The text to put in the enrolment QR code.
    pub fn to_qr_text(&self) -> String {
        format!("{INVITE_PREFIX}{}@{}", self.token, self.server_url)
    }

    /// Reads the text of an enrolment QR code; `None` if it is not one.
    pub fn parse_qr_text(text: &str) -> Option<Self> {
        let rest = text.trim().strip_prefix(INVITE_PREFIX)?;
        let (token, url) = rest.split_once('@')?;
        let url_ok = url.starts_with("http://") || url.starts_with("https://");
        let token_ok = !token.is_empty()
            && token.len() <= 128
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        (url_ok && token_ok).then(|| Self {
            server_url: url.to_owned(),
            token: token.to_owned(),
        })
    }
}

/// `POST /api/v1/enrol`: a kiosk exchanges a one-time token for its device identity.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentRequest {
    /// The one-time enrolment token.
    pub token: String,
    /// The kiosk's own badge-signing key, to be certified by the server.
    pub device_public_key: PublicKey,
    /// A name for the device list ("Main entrance, left").
    pub label: String,
    /// The kiosk software version, for the device list.
    pub app_version: String,
}

/// The answer to an enrolment.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentResponse {
    pub device_id: DeviceId,
    pub event_id: EventId,
    /// Bearer token for every later request of this device. Shown once; stored hashed.
    pub device_token: String,
    /// The key that signs packages and certificates: the kiosk pins it.
    pub server_public_key: PublicKey,
    /// The server's certificate for the kiosk's key.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::SignedValue))]
    pub certificate: Signed<DeviceCertificate>,
    /// The same statement in the compact form every walk-in badge of this kiosk carries, so any
    /// kiosk of the event verifies those badges with the server key alone. Absent from servers
    /// that predate it: the kiosk then signs badges that need its package certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge_certificate: Option<BadgeCertificate>,
    /// The gate the token was bound to, if any.
    pub gate_id: Option<GateId>,
    /// The latest published package version (0: none yet).
    pub package_version: u64,
    /// Server wall clock, so the kiosk can warn about a wrong clock at once.
    pub server_time: UnixMillis,
}

/// `POST /api/v1/push`: a batch of outbox rows, in seq order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRequest {
    pub changes: Vec<Change>,
}

/// The server's answer to one pushed change.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeResult {
    pub seq: u64,
    #[serde(flatten)]
    pub status: ChangeStatus,
    /// Set when the change's stamp was further ahead of the server clock than allowed: the change
    /// is kept, and the kiosk should show that its clock is wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_ahead_ms: Option<u64>,
}

/// What the server did with one pushed change.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ChangeStatus {
    /// Stored now.
    Accepted,
    /// Stored before (a replay after a lost acknowledgement): nothing changed.
    Duplicate,
    /// Can never be accepted: parked as a rejection the kiosk and coordinators can see. The kiosk
    /// drops it from the queue (keeping it in its rejected list) and goes on with the next.
    Rejected { code: RejectCode, message: String },
}

/// Why a change was parked.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// The kind is not one this server knows.
    UnknownKind,
    /// The kind's schema version is newer than this server reads.
    UnsupportedSchema,
    /// The payload does not parse for its kind, or refers to records of another event.
    InvalidPayload,
    /// The same (device, seq) was stored before with a different payload: the kiosk's log was
    /// restored or cloned. Loud on purpose.
    SeqReused,
    /// The change claims another device than the token's.
    WrongDevice,
}

impl RejectCode {
    /// Stable name, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::UnknownKind => "unknown_kind",
            RejectCode::UnsupportedSchema => "unsupported_schema",
            RejectCode::InvalidPayload => "invalid_payload",
            RejectCode::SeqReused => "seq_reused",
            RejectCode::WrongDevice => "wrong_device",
        }
    }
}

/// The answer to a push: one result per change, in the order sent.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResponse {
    pub results: Vec<ChangeResult>,
    /// Highest seq of this device such that every seq up to it is stored (accepted, duplicate or
    /// parked). The kiosk may forget outbox rows up to here.
    pub acknowledged_seq: u64,
    /// The server's clock after the push, for the kiosk's HLC.
    pub server_hlc: Hlc,
}

/// A position in the server's change feed for one event: the writing transaction's id and the
/// row's sequence within the feed. Opaque to kiosks: they store it and send it back, as text
/// `"<tx>-<pos>"`.
///
/// The server only hands out rows of transactions older than every transaction still running, so
/// a transaction that commits late can never land behind a cursor a kiosk already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cursor {
    pub tx: u64,
    pub pos: u64,
}

impl Cursor {
    /// The start of the feed.
    pub const START: Cursor = Cursor { tx: 0, pos: 0 };
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.tx, self.pos)
    }
}

impl std::str::FromStr for Cursor {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (tx, pos) = s.split_once('-').ok_or("a cursor looks like <tx>-<pos>")?;
        Ok(Cursor {
            tx: tx.parse().map_err(|_| "cursor tx is not a number")?,
            pos: pos.parse().map_err(|_| "cursor pos is not a number")?,
        })
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `GET /api/v1/pull?after=<cursor>&limit=<n>`: query of a pull.
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullQuery {
    /// Start after this cursor (absent: from the beginning).
    #[serde(default)]
    pub after: Cursor,
    /// Page size, at most [`MAX_PULL_PAGE`].
    pub limit: Option<u32>,
}

/// One page of the change feed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullPage {
    pub items: Vec<PullItem>,
    /// Where the next page starts. Store it only after applying `items`.
    pub next_cursor: Cursor,
    /// More items are ready now: ask again at once.
    pub has_more: bool,
    /// Newer items exist but wait behind transactions still committing: ask again in a moment
    /// (a few hundred milliseconds) rather than at the next poll.
    #[serde(default)]
    pub pending: bool,
    /// Highest seq of the asking device reflected in the feed up to `next_cursor`: local rows up to
    /// it may be replaced by server state (the write checkpoint).
    pub write_checkpoint: u64,
    /// The latest published package version; fetch it when newer than the kiosk's.
    pub package_version: u64,
    /// The server forgot history before the kiosk's cursor: fetch the package again, then pull from
    /// the start. Unacknowledged outbox rows are kept and pushed regardless.
    #[serde(default)]
    pub refetch: bool,
    /// The server's clock, for the kiosk's HLC and a wrong-clock warning.
    pub server_hlc: Hlc,
}

/// One entry of the change feed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PullItem {
    /// A change some device pushed (check-ins, walk-ins, edits, annulments), as it was pushed.
    DeviceChange { position: Cursor, change: Change },
    /// The organiser changed a ticket's status.
    TicketStatus {
        position: Cursor,
        ticket_id: TicketId,
        status: TicketStatus,
        hlc: Hlc,
    },
    /// A ticket was issued or edited at the office after the package was built.
    TicketIssued {
        position: Cursor,
        attendee: Attendee,
        ticket: Ticket,
        hlc: Hlc,
    },
    /// A device was revoked: codes it signed are no longer accepted.
    DeviceRevoked {
        position: Cursor,
        device_id: DeviceId,
    },
}

impl PullItem {
    /// This item's place in the feed.
    pub fn position(&self) -> Cursor {
        match self {
            PullItem::DeviceChange { position, .. }
            | PullItem::TicketStatus { position, .. }
            | PullItem::TicketIssued { position, .. }
            | PullItem::DeviceRevoked { position, .. } => *position,
        }
    }
}

/// `GET /api/v1/package?held=N`: the package a kiosk should fetch next and where its body is.
/// The body is a delta when the kiosk holds the version before, else a full snapshot.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageOffer {
    pub version: u64,
    /// Set when the body is a delta from this version (the kiosk said it holds it).
    pub base_version: Option<u64>,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::SignedValue))]
    pub manifest: Signed<crate::package::PackageManifest>,
    /// Path of the body, relative to the server; supports Range requests and gzip.
    pub body_url: String,
}

/// `GET /api/v1/live` (Server-Sent Events, event name `changes`): sent when the feed of the
/// kiosk's event grows, so an online kiosk pulls at once instead of waiting for its next poll.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveNotice {
    pub event_id: EventId,
    /// The feed's newest position: pull if it is beyond the kiosk's cursor.
    pub position: Cursor,
    /// The latest package version, so a newly published package is fetched without waiting.
    pub package_version: u64,
}

/// Most conflicts `GET /api/v1/conflicts` answers in one list.
pub const MAX_CONFLICT_NOTICES: u32 = 100;

/// `GET /api/v1/conflicts`: the open conflicts of the kiosk's event, oldest first, for its
/// coordinator screen. Coordinators resolve them on the server; the kiosk only shows them.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenConflicts {
    /// At most [`MAX_CONFLICT_NOTICES`].
    pub conflicts: Vec<ConflictNotice>,
    /// How many conflicts of the event are open in all.
    pub total_open: u64,
}

/// One open conflict as a kiosk sees it: its kind and the records it names, which the kiosk
/// looks up in its own package (no names travel in this list).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictNotice {
    pub id: uuid::Uuid,
    /// `double_admission`, `admitted_while_canceled`, `admitted_while_revoked`,
    /// `possible_duplicate`, `field_conflict`, `parked_ticket` or `unfiled_change`.
    pub kind: String,
    /// When it arose (the stamp of the later record).
    pub at: Hlc,
    pub detected_at: UnixMillis,
    /// Ids of the tickets, check-ins and attendees involved.
    pub records: Vec<uuid::Uuid>,
}

/// Stable error codes of the `{code, message}` body every failed request gets.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not valid JSON or has the wrong shape (400).
    InvalidJson,
    /// A well-formed request with values that break a rule; `message` says which (422).
    ValidationFailed,
    /// The body is larger than the server accepts (413).
    PayloadTooLarge,
    /// No credentials, or credentials the server does not know (401).
    Unauthorized,
    /// The token has expired: log in again (401).
    TokenExpired,
    /// The device was revoked (401): re-enrol.
    DeviceRevoked,
    /// Authenticated, but the role may not do this (403).
    Forbidden,
    /// The enrolment token is unknown, used or expired (401).
    EnrolmentTokenInvalid,
    /// No such record, or no such route (404).
    NotFound,
    /// The route exists but not with this method (405).
    MethodNotAllowed,
    /// The request took longer than the server allows (408): retry.
    Timeout,
    /// The request conflicts with stored state, e.g. a duplicate name (409).
    Conflict,
    /// Too many requests: wait and retry (429).
    RateLimited,
    /// The database is unreachable: retry later (503).
    Unavailable,
    /// Something failed inside the server; details are in its log (500).
    Internal,
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidJson => 400,
            ErrorCode::ValidationFailed => 422,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::Unauthorized
            | ErrorCode::TokenExpired
            | ErrorCode::DeviceRevoked
            | ErrorCode::EnrolmentTokenInvalid => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Timeout => 408,
            ErrorCode::Conflict => 409,
            ErrorCode::RateLimited => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }

    /// Whether a client should simply try again later (after a pause): the request may succeed
    /// unchanged.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorCode::Timeout
                | ErrorCode::RateLimited
                | ErrorCode::Unavailable
                | ErrorCode::Internal
        )
    }
}

/// The body of every error answer.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrolment_invite_round_trip() {
        let invite = EnrolmentInvite {
            server_url: "https://sync.example.org:8443".into(),
            token: "k3J9-abc_Z".into(),
        };
        let text = invite.to_qr_text();
        assert_eq!(EnrolmentInvite::parse_qr_text(&text), Some(invite));
        assert_eq!(
            EnrolmentInvite::parse_qr_text("GATEPASS-ENROL:@http://x"),
            None
        );
        assert_eq!(
            EnrolmentInvite::parse_qr_text("GATEPASS-ENROL:abc@ftp://x"),
            None
        );
        assert_eq!(EnrolmentInvite::parse_qr_text("GP1:whatever"), None);
    }

    #[test]
    fn change_status_is_flat_json() {
        let result = ChangeResult {
            seq: 7,
            status: ChangeStatus::Rejected {
                code: RejectCode::SeqReused,
                message: "seq 7 was stored with another payload".into(),
            },
            clock_ahead_ms: None,
        };
        let json = serde_json::to_value(&result).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "seq": 7,
                "status": "rejected",
                "code": "seq_reused",
                "message": "seq 7 was stored with another payload"
            })
        );
        assert_eq!(
            serde_json::from_value::<ChangeResult>(json).unwrap(),
            result
        );
    }

    #[test]
    fn cursor_round_trips_as_text_and_orders_by_tx_then_pos() {
        let c = Cursor { tx: 812, pos: 9 };
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"812-9\"");
        assert_eq!(serde_json::from_str::<Cursor>("\"812-9\"").unwrap(), c);
        assert!(serde_json::from_str::<Cursor>("\"812\"").is_err());
        assert!(serde_json::from_str::<Cursor>("12").is_err());
        assert!(Cursor { tx: 1, pos: 99 } < Cursor { tx: 2, pos: 0 });
        assert_eq!(Cursor::default(), Cursor::START);
    }

    #[test]
    fn error_codes_are_stable_snake_case() {
        let body = ErrorBody {
            code: ErrorCode::DeviceRevoked,
            message: "this kiosk was revoked".into(),
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"code":"device_revoked","message":"this kiosk was revoked"}"#
        );
        assert_eq!(ErrorCode::PayloadTooLarge.http_status(), 413);
    }

    #[test]
    fn reject_code_names_match_serde() {
        for code in [
            RejectCode::UnknownKind,
            RejectCode::UnsupportedSchema,
            RejectCode::InvalidPayload,
            RejectCode::SeqReused,
            RejectCode::WrongDevice,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }
}
