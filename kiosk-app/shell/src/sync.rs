//! The background sync, started once the kiosk is unlocked and enrolled; its status goes to the
//! window as `sync-status` events, and tells the kiosk whether scans are made offline.

use kiosk_core::background::LoopConfig;
use tauri::{AppHandle, Emitter};

use crate::Shell;

/// Starts the background sync if it can run and does not yet.
pub fn start(app: &AppHandle, shell: &Shell) {
    let kiosk = shell.kiosk.clone();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let mut status = match kiosk.start_sync(LoopConfig::default()) {
            Ok(Some(status)) => status,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "background sync not started");
                return;
            }
        };
        loop {
            let current = status.borrow_and_update().clone();
            kiosk.set_online(current.online);
            let _ = app.emit("sync-status", current);
            if status.changed().await.is_err() {
                break; // the sync stopped (the kiosk was locked)
            }
        }
    });
}
