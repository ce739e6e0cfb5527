//! The kiosk's event stream, forwarded to the window, and the background sync's start.
//!
//! Each [`KioskEvent`] becomes one window event: `scan` (camera verdicts; the window's own
//! typed and wedge scans get their verdict as the command's answer), `sync-status`,
//! `sync-progress`, `synced`, `package-applied` and `kiosk-error`.

use kiosk_core::app::KioskEvent;
use kiosk_core::app::ScanSource;
use kiosk_core::background::LoopConfig;
use tauri::{AppHandle, Emitter};
use tokio::sync::broadcast::error::RecvError;

use crate::Shell;

/// Forwards the kiosk's events to the window for as long as the app runs.
pub fn forward_events(app: &AppHandle, shell: &Shell) {
    let mut events = shell.kiosk.subscribe();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                // The window missed some: the next status and counts catch it up.
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the window fell behind the kiosk's events");
                    continue;
                }
                Err(RecvError::Closed) => break,
            };
            let _ = match event {
                KioskEvent::Scan(outcome) if outcome.source == ScanSource::Camera => {
                    app.emit("scan", outcome)
                }
                KioskEvent::Scan(_) => Ok(()),
                KioskEvent::Sync(status) => app.emit("sync-status", status),
                KioskEvent::Progress(progress) => app.emit("sync-progress", progress),
                KioskEvent::Synced(report) => app.emit("synced", report),
                KioskEvent::Package { version } => app.emit("package-applied", version),
                KioskEvent::Error(error) => app.emit("kiosk-error", error),
            };
        }
    });
}

/// Starts the background sync if it can run and does not yet.
pub fn start(shell: &Shell) {
    let kiosk = shell.kiosk.clone();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = kiosk.start_sync(LoopConfig::default()) {
            tracing::warn!(error = %e, "background sync not started");
        }
    });
}
