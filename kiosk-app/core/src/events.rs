//! The kiosk's event stream: what a screen (or `kiosk run`'s output) learns without asking.
//!
//! One [`KioskEvent`] per thing that happened: a judged scan, whatever its source; the
//! background sync's status (online or offline, pending, parked, clock skew, package versions);
//! its progress and its end; a package applied; an error outside a screen's own action (a sync
//! that failed, a camera frame that could not be judged). The [`Kiosk`](crate::app::Kiosk) handle
//! owns the sender; [`Kiosk::subscribe`](crate::app::Kiosk::subscribe) gives a receiver. A
//! receiver that falls behind by more than [`CAPACITY`] events misses the oldest (it is told
//! how many); the status it needs is always in the next `sync` event or `sync_status()`.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::app::{ScanOutcome, UiError};
use crate::background::SyncStatus;
use crate::sync::{SyncProgress, SyncReport};

/// Events kept for a receiver that is behind.
pub const CAPACITY: usize = 256;

/// One event, serialised with its name in `"event"` and its fields beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum KioskEvent {
    /// A scan was judged and recorded (camera, keyboard wedge or a typed code).
    Scan(ScanOutcome),
    /// The background sync's status changed.
    Sync(SyncStatus),
    /// A sync is running: how far it is.
    Progress(SyncProgress),
    /// A sync finished.
    Synced(SyncReport),
    /// A package was applied (fetched, fetched again on the server's request, or imported).
    Package { version: u64 },
    /// Something failed outside a screen's own action; the kiosk carries on.
    Error(UiError),
}

/// The sending side, cloned into every part that reports.
pub type EventSender = broadcast::Sender<KioskEvent>;

/// A new stream with no receiver yet.
pub fn channel() -> EventSender {
    broadcast::channel(CAPACITY).0
}

/// Sends `event` to whoever listens (nobody listening is fine).
pub fn emit(sender: &EventSender, event: KioskEvent) {
    let _ = sender.send(event);
}

/// `progress`, also sent as `progress` events: what a sync reports while it runs.
pub fn reporting_progress(
    sender: &EventSender,
    progress: impl Fn(SyncProgress) + Send,
) -> impl Fn(SyncProgress) + Send {
    let sender = sender.clone();
    move |step| {
        progress(step);
        emit(&sender, KioskEvent::Progress(step));
    }
}

/// What a finished sync reports: the package it applied, if any, then its report.
pub fn emit_synced(sender: &EventSender, report: &SyncReport) {
    if let Some(version) = report.package_applied {
        emit(sender, KioskEvent::Package { version });
    }
    emit(sender, KioskEvent::Synced(report.clone()));
}
