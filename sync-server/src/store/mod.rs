//! The server's storage, behind one narrow trait so handlers and sync logic do not know SQL.
//!
//! [`Store`] is the sum of one small trait per concern ([`SyncStore`] for kiosks,
//! [`StaffStore`] for staff accounts and the audit log, ...), all implemented by [`pg::PgStore`]
//! on Postgres. Methods take and return protocol or plain types; each is one transaction.
//!
//! A method that changes something on a person's behalf takes its [`AuditEntry`] (or a closure
//! that makes it from the result) and writes it in that same transaction: the change and its
//! entry commit together or not at all, so the audit log never misses a change nor lists one that
//! did not happen.

pub mod pg;

use std::future::Future;

use sync_protocol::UnixMillis;
use sync_protocol::certificate::DeviceCertificate;
use sync_protocol::changes::{Change, ChangeBody};
use sync_protocol::crypto::{PublicKey, Signed};
use sync_protocol::ids::{DeviceId, EventId, GateId};
use sync_protocol::model::Event;
use sync_protocol::wire::{Cursor, RejectCode};

/// What storage can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (connection refused, pool timeout).
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// Stored data that does not parse: a bug or manual tampering.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err),
            // The connection was lost or Postgres is stopping, restarting or starting (SQLSTATE
            // classes 08 and 57P): the request may succeed on another connection, so the
            // client is told to retry (503), as for a broken socket.
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")) =>
            {
                StoreError::Unavailable(err)
            }
            _ => StoreError::Database(err),
        }
    }
}

/// An enrolment token found and still usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrolmentTicket {
    pub event_id: EventId,
    pub gate_id: Option<GateId>,
}

/// A device to record at enrolment.
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub id: DeviceId,
    pub event_id: EventId,
    pub gate_id: Option<GateId>,
    pub label: String,
    pub app_version: String,
    pub token_hash: [u8; 32],
    pub public_key: PublicKey,
    pub certificate: Signed<DeviceCertificate>,
}

/// The device behind a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceAuth {
    pub device_id: DeviceId,
    pub event_id: EventId,
    pub revoked: bool,
}

/// A pushed change, checked and ready to store.
#[derive(Debug, Clone)]
pub struct PreparedChange {
    pub change: Change,
    /// SHA-256 of the change as received: replays must match it.
    pub digest: [u8; 32],
    /// `None`: accepted. Otherwise parked with this reason.
    pub rejection: Option<(RejectCode, String)>,
    /// The parsed payload of an accepted change (`Some` exactly when `rejection` is `None`):
    /// parsed once when the push checks it, used again to file its effects.
    pub body: Option<ChangeBody>,
    pub clock_ahead_ms: Option<u64>,
}

/// What storing one prepared change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Stored now (accepted, or parked as a rejection).
    New,
    /// The same change was stored before; carries the reason if it was parked then.
    Duplicate(Option<(RejectCode, String)>),
    /// The same (device, seq) was stored before with another payload.
    SeqReused,
}

/// The outcome of a push batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// One per prepared change, in order.
    pub stored: Vec<Stored>,
    /// Highest seq such that every seq up to it is stored.
    pub acknowledged_seq: u64,
    /// The event's feed grew: the caller tells the live hub once the push committed.
    pub fed: bool,
}

/// One page of the feed as stored.
#[derive(Debug, Clone)]
pub struct FeedPage {
    /// Each a [`PullItem`](sync_protocol::wire::PullItem) as JSON, encoded once by the store: a stored change goes out without
    /// being decoded into values and encoded again.
    pub items: Vec<Box<serde_json::value::RawValue>>,
    pub next_cursor: Cursor,
    pub has_more: bool,
    /// Newer rows are held back behind transactions still running.
    pub pending: bool,
    pub write_checkpoint: u64,
    pub package_version: u64,
    /// The cursor names a point this database never reached (the kiosk last synced with a
    /// database since restored from an older backup, or another one): fetch the package again.
    pub refetch: bool,
}

/// Everything the server stores: the sum of the per-concern traits.
pub trait Store: SyncStore + StaffStore + PackageStore + ConflictStore + CatalogueStore {}

impl<T: SyncStore + StaffStore + PackageStore + ConflictStore + CatalogueStore> Store for T {}

/// What kiosks need: enrolment, device tokens, push, pull. Each method is one transaction.
pub trait SyncStore: Clone + Send + Sync + 'static {
    /// Whether the database answers.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Creates an event (admin).
    fn create_event(
        &self,
        event: &Event,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records a one-time enrolment token (only its hash).
    fn create_enrolment_token(
        &self,
        token_hash: [u8; 32],
        event_id: EventId,
        gate_id: Option<GateId>,
        label: &str,
        expires_at: UnixMillis,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The event and gate of a token that is unused and unexpired at `now`.
    fn find_enrolment_token(
        &self,
        token_hash: [u8; 32],
        now: UnixMillis,
    ) -> impl Future<Output = Result<Option<EnrolmentTicket>, StoreError>> + Send;

    /// Marks the token used and records the device, atomically. `Ok(false)` when the token was
    /// used or expired in the meantime.
    fn complete_enrolment(
        &self,
        token_hash: [u8; 32],
        device: &NewDevice,
        now: UnixMillis,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The device with this token hash, if any.
    fn device_by_token(
        &self,
        token_hash: [u8; 32],
    ) -> impl Future<Output = Result<Option<DeviceAuth>, StoreError>> + Send;

    /// Revokes a device; its token stops working at the next request.
    fn revoke_device(
        &self,
        device_id: DeviceId,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores a batch of one device's changes, exactly once per (device, seq).
    fn push(
        &self,
        device: DeviceAuth,
        changes: &[PreparedChange],
    ) -> impl Future<Output = Result<PushOutcome, StoreError>> + Send;

    /// A page of the event's feed after `after`.
    fn pull(
        &self,
        device: DeviceAuth,
        after: Cursor,
        limit: u32,
    ) -> impl Future<Output = Result<FeedPage, StoreError>> + Send;

    /// The newest feed position and package version of an event (for live notices).
    fn feed_head(
        &self,
        event_id: EventId,
    ) -> impl Future<Output = Result<(Cursor, u64), StoreError>> + Send;
}

/// A staff role. Admins do everything; coordinators see devices and conflicts and resolve
/// conflicts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Coordinator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Coordinator => "coordinator",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "coordinator" => Some(Role::Coordinator),
            _ => None,
        }
    }
}

/// A staff account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: uuid::Uuid,
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub disabled: bool,
}

/// The staff member behind a session token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub user_id: uuid::Uuid,
    pub username: String,
    pub role: Role,
    /// The session expired (the token is known but too old).
    pub expired: bool,
}

/// Who did something, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A staff member through the HTTP API.
    User { username: String },
    /// Someone on the server host through `sync-server admin`.
    Cli { os_user: String },
    /// A kiosk.
    Device { device_id: DeviceId },
}

/// One audit log entry to write.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub actor: Actor,
    /// What was done, e.g. `event.create`, `device.revoke`, `conflict.resolve`.
    pub action: &'static str,
    /// The record acted on, e.g. an event or device id.
    pub target: Option<String>,
    pub details: serde_json::Value,
    /// Client address, or `cli`.
    pub source: String,
}

/// Who does something and from where: what every audit entry of their actions starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    pub actor: Actor,
    /// Client address, or `cli`.
    pub source: String,
}

impl Who {
    /// Someone on the server host through `sync-server admin` (the operating-system user, the one
    /// behind `sudo` when there is one).
    pub fn cli() -> Self {
        let os_user = std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "unknown".to_owned());
        Self {
            actor: Actor::Cli { os_user },
            source: "cli".to_owned(),
        }
    }

    /// The audit entry of one action of theirs.
    pub fn entry(
        &self,
        action: &'static str,
        target: Option<String>,
        details: serde_json::Value,
    ) -> AuditEntry {
        AuditEntry {
            actor: self.actor.clone(),
            action,
            target,
            details,
            source: self.source.clone(),
        }
    }
}

/// A stored audit log entry.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: i64,
    pub at: UnixMillis,
    pub actor_kind: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub details: serde_json::Value,
    pub source: String,
}

/// Staff accounts, sessions, login rate limiting and the audit log.
pub trait StaffStore: Clone + Send + Sync + 'static {
    /// Creates an account; `Conflict` if the username is taken.
    fn create_user(
        &self,
        user: &UserRecord,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sets a new password hash and ends the user's sessions.
    fn set_password(
        &self,
        username: &str,
        password_hash: &str,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn user_by_name(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<UserRecord>, StoreError>> + Send;

    /// Number of staff accounts (a first admin is created by the CLI when there are none).
    fn count_users(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    fn create_session(
        &self,
        token_hash: [u8; 32],
        user_id: uuid::Uuid,
        expires_at: UnixMillis,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The user of a live (unrevoked, enabled) session token.
    fn session_user(
        &self,
        token_hash: [u8; 32],
        now: UnixMillis,
    ) -> impl Future<Output = Result<Option<SessionUser>, StoreError>> + Send;

    fn revoke_session(
        &self,
        token_hash: [u8; 32],
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Counts a login (or enrolment) attempt as a failure before it is checked, then answers the
    /// failures since `since`, this one included. Attempts from one source take their turn, so
    /// the k-th of a burst of parallel guesses counts k: the limit holds however many arrive at
    /// once.
    fn begin_attempt(
        &self,
        username: &str,
        source: &str,
        since: UnixMillis,
    ) -> impl Future<Output = Result<Attempt, StoreError>> + Send;

    /// The attempt succeeded: it no longer counts as a failure.
    fn forgive_attempt(&self, id: i64) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Writes an entry for an action that changes nothing stored (an export, a kit written to a
    /// file). An action that changes something takes its entry into its own transaction instead.
    fn audit(&self, entry: &AuditEntry) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The newest audit entries first, at most `limit`.
    fn list_audit(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AuditRecord>, StoreError>> + Send;
}

/// A check-in as stored: the payload with who made it and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckInRow {
    pub check_in: sync_protocol::changes::CheckIn,
    pub device_id: DeviceId,
    pub hlc: sync_protocol::hlc::Hlc,
}

/// Everything a package is built from, read in one repeatable-read snapshot.
#[derive(Debug, Clone)]
pub struct PackageRows {
    pub event: Event,
    pub ticket_types: Vec<sync_protocol::model::TicketType>,
    pub gates: Vec<sync_protocol::model::Gate>,
    /// The latest version of each of the event's forms.
    pub forms: Vec<sync_protocol::forms::Form>,
    pub attendees: Vec<sync_protocol::model::Attendee>,
    pub tickets: Vec<sync_protocol::model::Ticket>,
    /// Accepted check-ins.
    pub check_ins: Vec<CheckInRow>,
    /// Accepted annulments: (device, check-in it annuls).
    pub annulments: Vec<(DeviceId, sync_protocol::ids::CheckInId)>,
    /// Certificates of the event's unrevoked devices.
    pub certificates: Vec<Signed<DeviceCertificate>>,
    pub revoked_devices: Vec<DeviceId>,
    /// Tickets whose badge some kiosk printed.
    pub printed_badges: Vec<sync_protocol::ids::TicketId>,
    /// Feed position below which no transaction can still commit, in the same snapshot.
    pub cursor: Cursor,
    /// The latest full package: its version and body bytes.
    pub previous: Option<(u64, Vec<u8>)>,
}

/// One stored body (full or delta) of a package version, ready to insert.
#[derive(Debug, Clone)]
pub struct NewPackage {
    pub manifest: sync_protocol::package::PackageManifest,
    pub signed: Signed<sync_protocol::package::PackageManifest>,
    /// The bytes the manifest hashes.
    pub body: Vec<u8>,
    /// The same, gzip-compressed.
    pub body_gzip: Vec<u8>,
}

/// A stored package body, as listed for admins.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PackageSummary {
    pub version: u64,
    /// `None` for the full snapshot; the version a delta applies to otherwise.
    pub base_version: Option<u64>,
    pub body_len: u64,
    pub body_gzip_len: u64,
    pub body_sha256: String,
    pub ticket_count: u64,
    pub created_at: UnixMillis,
}

/// A stored manifest and which body it describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredManifest {
    pub version: u64,
    pub base_version: Option<u64>,
    pub signed: Signed<sync_protocol::package::PackageManifest>,
}

/// What a body download needs to know before reading bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageBodyInfo {
    pub version: u64,
    pub base_version: Option<u64>,
    pub body_sha256: String,
    pub body_len: u64,
    pub body_gzip_len: u64,
}

/// Published event packages: building input, storing, listing and serving them.
pub trait PackageStore: Clone + Send + Sync + 'static {
    /// Reads everything a package of `event_id` carries in one repeatable-read transaction.
    /// `NotFound("event")` when there is no such event.
    fn package_rows(
        &self,
        event_id: EventId,
    ) -> impl Future<Output = Result<PackageRows, StoreError>> + Send;

    /// Stores a new version (full, plus the delta from the version before) and wakes live
    /// kiosks. `Conflict` when another publish stored this version first.
    fn insert_package(
        &self,
        full: &NewPackage,
        delta: Option<&NewPackage>,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every stored body of the event, newest version first. `NotFound("event")` when there is
    /// no such event.
    fn list_packages(
        &self,
        event_id: EventId,
    ) -> impl Future<Output = Result<Vec<PackageSummary>, StoreError>> + Send;

    /// The manifest of the latest version: the delta when `held` is its base, else the full one.
    fn latest_manifest(
        &self,
        event_id: EventId,
        held: Option<u64>,
    ) -> impl Future<Output = Result<Option<StoredManifest>, StoreError>> + Send;

    /// The body of `version`: the delta from `base` when one is stored, else the full body.
    fn package_body_info(
        &self,
        event_id: EventId,
        version: u64,
        base: Option<u64>,
    ) -> impl Future<Output = Result<Option<PackageBodyInfo>, StoreError>> + Send;

    /// `len` bytes at `offset` of a stored body (identity, or its gzip form).
    fn package_body_chunk(
        &self,
        event_id: EventId,
        version: u64,
        base_version: Option<u64>,
        gzip: bool,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = Result<Vec<u8>, StoreError>> + Send;

    /// The full package of `version` (latest when `None`) as one file, for a USB stick.
    fn package_file(
        &self,
        event_id: EventId,
        version: Option<u64>,
    ) -> impl Future<Output = Result<Option<sync_protocol::package::PackageFile>, StoreError>> + Send;
}

// ---------------------------------------------------------------------------------------------
// Conflicts and reports (see crate::ingest for how the filer finds conflicts).

/// Whether a conflict still needs a coordinator.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ConflictStatus {
    Open,
    Resolved,
}

impl ConflictStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictStatus::Open => "open",
            ConflictStatus::Resolved => "resolved",
        }
    }
}

/// Which conflicts to list. `kind` is a [`sync_protocol::merge::ConflictKind`] name, or
/// `parked_ticket` (a walk-in ticket the server could not file, see [`crate::ingest`]).
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::IntoParams,
)]
#[into_params(parameter_in = Query)]
pub struct ConflictFilter {
    pub status: Option<ConflictStatus>,
    pub kind: Option<String>,
    /// At most this many, oldest first (default and maximum 1000).
    pub limit: Option<u32>,
}

/// A stored conflict.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ConflictRecord {
    /// The deterministic id ([`sync_protocol::merge::Conflict::id`]).
    pub id: uuid::Uuid,
    pub event_id: EventId,
    pub kind: String,
    pub key: String,
    /// Ids of the tickets, check-ins and attendees involved.
    pub records: Vec<uuid::Uuid>,
    /// The conflict as the merge reported it, with both sides and both values.
    pub detail: serde_json::Value,
    /// When it arose (the stamp of the later record).
    pub at: sync_protocol::Hlc,
    pub detected_at: UnixMillis,
    pub status: ConflictStatus,
    pub resolution: Option<serde_json::Value>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<UnixMillis>,
}

/// Which side of a field conflict to keep.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PickSide {
    /// The value that was overwritten (the older write).
    Overwritten,
    /// The value that overwrote it (the newer write).
    Overwriting,
}

/// How a coordinator resolves a conflict; which actions fit which kind is checked by the store.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Resolution {
    /// Double admission, admitted while canceled/revoked, parked ticket: seen and dealt with.
    Reviewed {
        #[serde(default)]
        note: String,
    },
    /// Possible duplicate: keep this attendee; the other becomes its alias (and its tickets
    /// aliases of the kept attendee's ticket), so later check-ins and edits follow.
    Merge {
        keep: sync_protocol::ids::AttendeeId,
        #[serde(default)]
        note: String,
    },
    /// Possible duplicate: two different people; both stay.
    NotDuplicate {
        #[serde(default)]
        note: String,
    },
    /// Field conflict: keep one side's value, or an explicit `value`. Written as a server edit
    /// that wins by HLC over every version stored.
    Pick {
        #[serde(default)]
        side: Option<PickSide>,
        #[serde(default)]
        value: Option<serde_json::Value>,
        #[serde(default)]
        note: String,
    },
}

/// One check-in or failed scan, for the CSV export.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CheckInExport {
    pub id: uuid::Uuid,
    pub ticket_id: Option<uuid::Uuid>,
    /// The attendee holding the ticket, following merges.
    pub attendee_id: Option<uuid::Uuid>,
    pub attendee_name: Option<String>,
    pub gate_id: uuid::Uuid,
    pub gate_name: Option<String>,
    pub direction: String,
    pub device_id: uuid::Uuid,
    pub device_label: Option<String>,
    pub hlc: sync_protocol::Hlc,
    pub verdict: String,
    pub offline: bool,
    pub scanned_at: UnixMillis,
    pub failed: bool,
    pub annulled: bool,
    /// `code` (its code read) or `search` (the guest picked from a search by name).
    pub found_by: String,
}

/// One badge print, for the CSV export.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BadgePrintExport {
    pub ticket_id: uuid::Uuid,
    /// The attendee holding the ticket, following merges.
    pub attendee_id: Option<uuid::Uuid>,
    pub attendee_name: Option<String>,
    pub gate_id: uuid::Uuid,
    pub gate_name: Option<String>,
    /// The admission that printed it (`None`: a coordinator's reprint).
    pub check_in_id: Option<uuid::Uuid>,
    pub reprint: bool,
    pub printed_at: UnixMillis,
    pub hlc: sync_protocol::Hlc,
    pub device_id: uuid::Uuid,
    pub device_label: Option<String>,
}

/// One attendee with one of their tickets (or none), for the CSV export.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RegistrationExport {
    pub attendee_id: uuid::Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub answers: serde_json::Value,
    pub ticket_id: Option<uuid::Uuid>,
    pub ticket_type: Option<String>,
    pub ticket_status: Option<String>,
    /// The kiosk that registered a walk-in.
    pub created_by_device: Option<uuid::Uuid>,
    /// Set when this attendee was merged into another as a duplicate.
    pub merged_into: Option<uuid::Uuid>,
    /// The first admission of the ticket (or of a ticket merged into it), if any.
    pub first_admitted_at: Option<UnixMillis>,
}

/// Check-in counts of one gate, or of one hour.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct CheckInCounts {
    /// Admitted entries (annulled ones excluded).
    pub admitted: u64,
    /// Admitted exits (annulled ones excluded).
    pub exits: u64,
    /// Scans the kiosk refused, and failed scans.
    pub refused: u64,
    pub annulled: u64,
}

/// Counts of one gate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct GateStats {
    pub gate_id: uuid::Uuid,
    pub name: Option<String>,
    #[serde(flatten)]
    pub counts: CheckInCounts,
}

/// Counts of one hour.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct HourStats {
    /// Start of the hour (UTC), Unix milliseconds, by the check-in's HLC wall time.
    pub hour: UnixMillis,
    #[serde(flatten)]
    pub counts: CheckInCounts,
}

/// Counts of one venue day: the event's calendar day (midnight to midnight in its time zone),
/// as the kiosks' "today" counts are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DayStats {
    /// The day, `YYYY-MM-DD`, in the event's time zone (UTC when Postgres does not know it).
    pub day: String,
    #[serde(flatten)]
    pub counts: CheckInCounts,
    /// Distinct tickets admitted that day (merged tickets count once).
    pub tickets_admitted: u64,
    /// The day's counts of each gate that scanned that day.
    pub gates: Vec<GateStats>,
}

/// Counts of an event: overall, per gate, per hour and per venue day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct EventStats {
    pub event_id: EventId,
    #[serde(flatten)]
    pub total: CheckInCounts,
    /// Distinct tickets admitted at least once (merged tickets count once).
    pub tickets_admitted: u64,
    pub open_conflicts: u64,
    pub gates: Vec<GateStats>,
    pub hours: Vec<HourStats>,
    pub days: Vec<DayStats>,
}

/// Conflicts the filer found, their resolution, and the reports coordinators read.
pub trait ConflictStore: Clone + Send + Sync + 'static {
    /// The event's conflicts matching `filter`, oldest first. `NotFound` for an unknown event.
    fn list_conflicts(
        &self,
        event_id: EventId,
        filter: &ConflictFilter,
    ) -> impl Future<Output = Result<Vec<ConflictRecord>, StoreError>> + Send;

    fn conflict(
        &self,
        id: uuid::Uuid,
    ) -> impl Future<Output = Result<Option<ConflictRecord>, StoreError>> + Send;

    /// How many of the event's conflicts are open.
    fn count_open_conflicts(
        &self,
        event_id: EventId,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Resolves an open conflict, with its effects (merge, picked value) in the same
    /// transaction. `Conflict` when already resolved, `Invalid` when the action does not fit the
    /// kind. `stamp` is a fresh server HLC (a picked value is written at least that late).
    fn resolve_conflict(
        &self,
        id: uuid::Uuid,
        resolution: &Resolution,
        resolved_by: &str,
        stamp: sync_protocol::Hlc,
        audit: impl FnOnce(&ConflictRecord) -> AuditEntry + Send,
    ) -> impl Future<Output = Result<ConflictRecord, StoreError>> + Send;

    /// Every check-in and failed scan of the event, in HLC order.
    fn export_check_ins(
        &self,
        event_id: EventId,
    ) -> impl Future<Output = Result<Vec<CheckInExport>, StoreError>> + Send;

    /// The event's badge print log, in HLC order.
    fn export_badge_prints(
        &self,
        event_id: EventId,
    ) -> impl Future<Output = Result<Vec<BadgePrintExport>, StoreError>> + Send;

    /// Every attendee of the event with their tickets.
    fn export_registrations(
        &self,
        event_id: EventId,
    ) -> impl Future<Output = Result<Vec<RegistrationExport>, StoreError>> + Send;

    /// Check-in counts, overall, per gate and per hour.
    fn event_stats(
        &self,
        event_id: EventId,
    ) -> impl Future<Output = Result<EventStats, StoreError>> + Send;
}

/// A login or enrolment attempt, counted as a failure until it is forgiven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub id: i64,
    /// Failures of this username from this source in the window, this attempt included.
    pub pair: u64,
    /// Failures from this source for any username in the window, this attempt included.
    pub from_source: u64,
}

/// A form version as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FormVersion {
    pub id: sync_protocol::ids::FormId,
    pub version: u32,
    pub title: String,
    pub created_at: UnixMillis,
}

/// What a CSV import did.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
pub struct ImportSummary {
    pub rows: u64,
    /// New attendees with their tickets.
    pub created: u64,
    /// Rows that matched an earlier import (by external_ref, else email and ticket type).
    pub updated: u64,
}

/// The outcome of an import: done, or refused with every problem (and nothing stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Imported(ImportSummary),
    Rejected(Vec<crate::import::LineError>),
}

/// Makes the signed code of a new ticket (the store holds no key).
pub type IssueCode<'a> = &'a (
        dyn Fn(
    sync_protocol::ids::TicketId,
    sync_protocol::ids::TicketTypeId,
) -> Result<String, String>
            + Sync
    );

/// A ticket with its attendee, as listed for admins.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct TicketRecord {
    pub ticket_id: sync_protocol::ids::TicketId,
    pub attendee_id: sync_protocol::ids::AttendeeId,
    pub ticket_type_id: sync_protocol::ids::TicketTypeId,
    pub status: sync_protocol::model::TicketStatus,
    pub code: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub external_ref: Option<String>,
}

/// What a ticket status change did.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct StatusChange {
    pub ticket_id: sync_protocol::ids::TicketId,
    pub event_id: EventId,
    pub previous: sync_protocol::model::TicketStatus,
    pub status: sync_protocol::model::TicketStatus,
    /// `false` when the ticket had that status already (nothing was written).
    pub changed: bool,
}

/// A kiosk as the device list shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DeviceRecord {
    pub id: DeviceId,
    pub event_id: EventId,
    pub label: String,
    pub app_version: String,
    pub gate_id: Option<GateId>,
    pub enrolled_at: UnixMillis,
    pub last_seen_at: Option<UnixMillis>,
    pub last_push_at: Option<UnixMillis>,
    pub last_pull_at: Option<UnixMillis>,
    pub acknowledged_seq: u64,
    pub revoked_at: Option<UnixMillis>,
}

/// The admin catalogue: events, ticket types, gates, form versions, imports, ticket status, the
/// device list. Each method is one transaction.
pub trait CatalogueStore: Clone + Send + Sync + 'static {
    /// Every event, newest start first.
    fn list_events(&self) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;

    fn event(&self, id: EventId) -> impl Future<Output = Result<Option<Event>, StoreError>> + Send;

    /// Replaces an event's fields; `NotFound` if it does not exist.
    fn update_event(
        &self,
        event: &Event,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn ticket_types(
        &self,
        event_id: EventId,
    ) -> impl Future<Output = Result<Vec<sync_protocol::model::TicketType>, StoreError>> + Send;

    /// `Conflict` if the name is taken in the event.
    fn create_ticket_type(
        &self,
        event_id: EventId,
        ticket_type: &sync_protocol::model::TicketType,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn update_ticket_type(
        &self,
        event_id: EventId,
        ticket_type: &sync_protocol::model::TicketType,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn gates(
        &self,
        event_id: EventId,
    ) -> impl Future<Output = Result<Vec<sync_protocol::model::Gate>, StoreError>> + Send;

    /// `Conflict` if the name is taken in the event.
    fn create_gate(
        &self,
        event_id: EventId,
        gate: &sync_protocol::model::Gate,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn update_gate(
        &self,
        event_id: EventId,
        gate: &sync_protocol::model::Gate,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores `form` as the next version of its id (1 for a new form) and returns that version.
    /// `Conflict` if the form id belongs to another event.
    fn add_form_version(
        &self,
        event_id: EventId,
        form: &sync_protocol::forms::Form,
        audit: impl FnOnce(u32) -> AuditEntry + Send,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// Every version of every form of the event.
    fn form_versions(
        &self,
        event_id: EventId,
    ) -> impl Future<Output = Result<Vec<FormVersion>, StoreError>> + Send;

    /// Imports checked rows whole or not at all: a row matching an earlier import (same
    /// external_ref, else same email and ticket type) updates it, others are created with a code
    /// from `issue` unless they carry one.
    fn import_tickets(
        &self,
        event_id: EventId,
        rows: &[crate::import::ImportRow],
        hlc: sync_protocol::hlc::Hlc,
        issue: IssueCode<'_>,
        audit: impl FnOnce(&ImportSummary) -> AuditEntry + Send,
    ) -> impl Future<Output = Result<ImportOutcome, StoreError>> + Send;

    /// Tickets of the event in id order, after `after`.
    fn tickets(
        &self,
        event_id: EventId,
        after: Option<sync_protocol::ids::TicketId>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<TicketRecord>, StoreError>> + Send;

    /// Sets a ticket's status and appends it to the event's feed, in one transaction. The stamp is
    /// raised above the stored one when `hlc` is not later (another instance's clock ahead).
    fn set_ticket_status(
        &self,
        ticket_id: sync_protocol::ids::TicketId,
        status: sync_protocol::model::TicketStatus,
        hlc: sync_protocol::hlc::Hlc,
        audit: impl FnOnce(&StatusChange) -> AuditEntry + Send,
    ) -> impl Future<Output = Result<StatusChange, StoreError>> + Send;

    /// The event's kiosks, enrolled first first.
    fn devices(
        &self,
        event_id: EventId,
    ) -> impl Future<Output = Result<Vec<DeviceRecord>, StoreError>> + Send;
}
