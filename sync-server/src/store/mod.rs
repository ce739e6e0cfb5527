//! The server's storage, behind one narrow trait so handlers and sync logic do not know SQL.
//!
//! [`Store`] is the sum of one small trait per concern ([`SyncStore`] for kiosks,
//! [`StaffStore`] for staff accounts and the audit log, ...), all implemented by [`pg::PgStore`]
//! on Postgres. Methods take and return protocol or plain types; each is one transaction.

pub mod pg;

use std::future::Future;

use sync_protocol::UnixMillis;
use sync_protocol::certificate::DeviceCertificate;
use sync_protocol::changes::Change;
use sync_protocol::crypto::{PublicKey, Signed};
use sync_protocol::ids::{DeviceId, EventId, GateId};
use sync_protocol::model::Event;
use sync_protocol::wire::{Cursor, PullItem, RejectCode};

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
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
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
}

/// One page of the feed as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPage {
    pub items: Vec<PullItem>,
    pub next_cursor: Cursor,
    pub has_more: bool,
    /// Newer rows are held back behind transactions still running.
    pub pending: bool,
    pub write_checkpoint: u64,
    pub package_version: u64,
}

/// Everything the server stores: the sum of the per-concern traits.
pub trait Store: SyncStore + StaffStore {}

impl<T: SyncStore + StaffStore> Store for T {}

/// What kiosks need: enrolment, device tokens, push, pull. Each method is one transaction.
pub trait SyncStore: Clone + Send + Sync + 'static {
    /// Whether the database answers.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Creates an event (admin).
    fn create_event(&self, event: &Event) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records a one-time enrolment token (only its hash).
    fn create_enrolment_token(
        &self,
        token_hash: [u8; 32],
        event_id: EventId,
        gate_id: Option<GateId>,
        label: &str,
        expires_at: UnixMillis,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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

/// A stored audit log entry.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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
    fn create_user(&self, user: &UserRecord)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sets a new password hash.
    fn set_password(
        &self,
        username: &str,
        password_hash: &str,
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
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn record_login_failure(
        &self,
        username: &str,
        source: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Failed logins for this username or from this source since `since`.
    fn recent_login_failures(
        &self,
        username: &str,
        source: &str,
        since: UnixMillis,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    fn audit(&self, entry: &AuditEntry) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The newest audit entries first, at most `limit`.
    fn list_audit(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AuditRecord>, StoreError>> + Send;
}
