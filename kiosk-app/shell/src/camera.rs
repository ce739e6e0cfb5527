//! The camera loop's reports, sent to the window: previews over the channel the page opened,
//! failures as `scan-error` events, states as `camera-status` events (verdicts come through the
//! kiosk's event stream).

use std::sync::Arc;

use kiosk_core::app::camera::{CameraLoop, CameraSink, choose, describe};
use kiosk_core::app::{AppError, CameraStatus, PreviewFrame, ScanOutcome};
use tauri::ipc::Channel;
use tauri::{AppHandle, Emitter};

use crate::Shell;

struct WindowSink {
    app: AppHandle,
    preview: Channel<PreviewFrame>,
}

impl CameraSink for WindowSink {
    fn preview(&self, frame: PreviewFrame) {
        // A page that went away closed its channel: nothing to do.
        let _ = self.preview.send(frame);
    }

    fn scanned(&self, outcome: Result<ScanOutcome, AppError>) {
        // A verdict reaches the window through the kiosk's event stream (see `sync`).
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "a camera scan could not be judged");
            let _ = self.app.emit("scan-error", e.to_ui());
        }
    }

    fn status(&self, status: CameraStatus) {
        let _ = self.app.emit("camera-status", status);
    }
}

/// Starts the camera picked in the settings (replacing a running one).
pub fn start(
    app: &AppHandle,
    shell: &Shell,
    preview: Channel<PreviewFrame>,
) -> Result<CameraStatus, AppError> {
    stop(shell);
    let settings = shell.kiosk.settings();
    let Some(source) = choose(settings.camera.as_deref(), shell.replay_dir.as_ref()) else {
        let status = CameraStatus::NoCamera {
            message: "no camera found: scan with a USB scanner or type the code".to_owned(),
        };
        let _ = app.emit("camera-status", status.clone());
        return Ok(status);
    };
    let sink = Arc::new(WindowSink {
        app: app.clone(),
        preview,
    });
    let camera = describe(&source);
    let running = CameraLoop::start(shell.kiosk.clone(), source, sink)?;
    *shell.camera.lock().unwrap_or_else(|e| e.into_inner()) = Some(running);
    // `running` comes as an event with the first frame (it may come before this answer).
    Ok(CameraStatus::Starting { camera })
}

/// Stops the camera, if one runs.
pub fn stop(shell: &Shell) -> CameraStatus {
    let running = shell
        .camera
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(running) = running {
        running.stop();
    }
    CameraStatus::Stopped
}
