//! The headless kiosk for a whole day (`kiosk run --gate NAME`): the same [`Kiosk`] handle the
//! window uses, with the background sync running, scans from a USB keyboard-wedge scanner (one
//! code per line on standard input) and, with a replay folder, from images, and one JSON line
//! per event on standard output.
//!
//! Lines out, each an object with an `"event"` field. Between the first and the last, they are
//! the kiosk's event stream ([`crate::events::KioskEvent`]) as the window receives it:
//!
//! - `{"event": "ready", "gate": ..., "direction": ..., "package_version": ...}` once at start;
//! - `{"event": "scan", ...ScanOutcome}` for every judged scan, recorded before it is printed;
//! - `{"event": "sync", ...SyncStatus}` whenever the background sync's status changes (online
//!   or offline, pending, parked, clock skew, package);
//! - `{"event": "progress", "phase", ...}` while a sync runs, `{"event": "synced", ...}` when it
//!   ends, `{"event": "package", "version"}` when a package was applied;
//! - `{"event": "camera", ...CameraStatus}` for the replay folder's state;
//! - `{"event": "error", "kind", "message", "field"}` for a scan, source or sync that failed
//!   (the run goes on);
//! - `{"event": "stopped", "pending": N}` at the end (standard input closed, or Ctrl-C).

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::mpsc;

use crate::app::camera::{CameraLoop, CameraSink, Source};
use crate::app::{AppError, CameraStatus, Kiosk, PreviewFrame, ScanOutcome, ScanSource};
use crate::background::LoopConfig;

/// What `kiosk run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The gate's name (any case) or id.
    pub gate: String,
    /// Scan exits instead of entries.
    pub exit: bool,
    /// A folder of badge images, played as a camera at `fps` frames a second.
    pub source: Option<PathBuf>,
    pub fps: f64,
    pub sync: LoopConfig,
}

fn event(name: &str, value: impl Serialize) -> Value {
    let mut value = serde_json::to_value(value).expect("events serialize");
    match value.as_object_mut() {
        Some(map) => {
            map.insert("event".into(), json!(name));
            value
        }
        None => json!({ "event": name, "value": value }),
    }
}

fn error_event(error: &AppError) -> Value {
    event("error", error.to_ui())
}

/// The output fell behind the event stream (it is not read): say what was missed.
fn lagged(missed: u64) -> Value {
    error_event(&AppError::Internal(format!(
        "{missed} events were not printed: the output is read too slowly"
    )))
}

/// Camera events, forwarded to the output (its verdicts come through the event stream).
struct ToOutput(mpsc::UnboundedSender<Value>);

impl CameraSink for ToOutput {
    fn preview(&self, _frame: PreviewFrame) {}

    fn scanned(&self, outcome: Result<ScanOutcome, AppError>) {
        if let Err(error) = outcome {
            let _ = self.0.send(error_event(&error));
        }
    }

    fn status(&self, status: CameraStatus) {
        let _ = self.0.send(event("camera", status));
    }
}

/// Runs the kiosk until `lines` ends or `stop` resolves, sending every event to `out`. The
/// kiosk must be unlocked. Scans from `lines` count as keyboard-wedge scans.
pub async fn run(
    kiosk: Arc<Kiosk>,
    options: RunOptions,
    lines: impl AsyncBufRead + Unpin,
    stop: impl std::future::Future<Output = ()>,
    mut out: impl FnMut(Value),
) -> Result<(), AppError> {
    let gate = pick_gate(&kiosk, &options.gate)?;
    kiosk.select_gate(gate)?;
    let direction = if options.exit {
        sync_protocol::model::Direction::Exit
    } else {
        sync_protocol::model::Direction::Entry
    };
    let state = kiosk.set_direction(direction)?;
    out(json!({
        "event": "ready",
        "gate": state.gate,
        "direction": state.settings.direction,
        "package_version": state.package_version,
    }));

    let mut stream = kiosk.subscribe();
    let (events, mut incoming) = mpsc::unbounded_channel::<Value>();
    kiosk.start_sync(options.sync.clone())?;
    let camera = match &options.source {
        Some(dir) => {
            let source = Source::Replay {
                dir: dir.clone(),
                fps: options.fps,
            };
            match CameraLoop::start(kiosk.clone(), source, Arc::new(ToOutput(events.clone()))) {
                Ok(camera) => Some(camera),
                Err(error) => {
                    out(error_event(&error));
                    None
                }
            }
        }
        None => None,
    };

    let mut lines = lines.lines();
    tokio::pin!(stop);
    let mut input_open = true;
    loop {
        tokio::select! {
            biased;
            () = &mut stop => break,
            received = stream.recv() => match received {
                Ok(kiosk_event) => out(serde_json::to_value(kiosk_event).expect("events serialize")),
                Err(RecvError::Lagged(missed)) => out(lagged(missed)),
                // The kiosk holds the sender for as long as it lives.
                Err(RecvError::Closed) => break,
            },
            Some(value) = incoming.recv() => out(value),
            line = lines.next_line(), if input_open => match line {
                Ok(Some(line)) => {
                    let code = line.trim_end_matches(['\r', '\n']);
                    if code.trim().is_empty() {
                        continue;
                    }
                    // A verdict arrives through the event stream; a failure is this line's own.
                    if let Err(error) = kiosk.scan(code.as_bytes(), ScanSource::Wedge) {
                        out(error_event(&error));
                    }
                }
                // Standard input closed: a replay folder keeps the kiosk running until stopped.
                Ok(None) | Err(_) if camera.is_some() => input_open = false,
                Ok(None) | Err(_) => break,
            },
        }
    }
    if let Some(camera) = camera {
        tokio::task::spawn_blocking(move || camera.stop())
            .await
            .map_err(|e| AppError::Camera(e.to_string()))?;
    }
    kiosk.shut_down().await;
    while let Ok(value) = incoming.try_recv() {
        out(value);
    }
    loop {
        match stream.try_recv() {
            Ok(kiosk_event) => out(serde_json::to_value(kiosk_event).expect("events serialize")),
            Err(TryRecvError::Lagged(missed)) => out(lagged(missed)),
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
    }
    let pending = kiosk.sync_status().map(|s| s.pending).unwrap_or(0);
    kiosk.lock();
    out(json!({ "event": "stopped", "pending": pending }));
    Ok(())
}

/// The gate named `name` (any case) or with that id.
fn pick_gate(kiosk: &Kiosk, name: &str) -> Result<sync_protocol::ids::GateId, AppError> {
    let gates = kiosk.gates()?;
    gates
        .iter()
        .find(|g| g.name.eq_ignore_ascii_case(name.trim()) || g.id.to_string() == name.trim())
        .map(|g| g.id)
        .ok_or_else(|| {
            let names: Vec<&str> = gates.iter().map(|g| g.name.as_str()).collect();
            AppError::invalid(
                "gate",
                format!(
                    "no gate {name:?} in the package (gates: {})",
                    names.join(", ")
                ),
            )
        })
}
