//! The commands the front end may call: each forwards to `kiosk_core::app::Kiosk` in two or
//! three lines. Errors travel as `UiError {kind, message, field, fields}` (AppError serialises
//! to it). The list, with arguments and answers, is in docs/kiosk-app.md.

use kiosk_core::app::{
    AppError, AppState, BadgeView, CameraInfo, CameraStatus, ConflictsView, GuestSearchView,
    OutboxView, PackageApplied, PreviewFrame, ScanOutcome, ScanSource, Settings, WalkInSetup,
};
use kiosk_core::background::SyncStatus;
use kiosk_core::store::GateCounts;
use kiosk_core::sync::{SyncProgress, SyncReport};
use kiosk_core::walkin::WalkInRequest;
use sync_protocol::ids::{CheckInId, GateId, TicketId};
use sync_protocol::model::{Answers, Direction, Gate};
use tauri::ipc::{Channel, InvokeBody, Request};
use tauri::{AppHandle, State, WebviewWindow};

use crate::Shell;

type Answer<T> = Result<T, AppError>;

#[tauri::command]
pub fn app_state(shell: State<'_, Shell>) -> Answer<AppState> {
    shell.kiosk.state()
}

#[tauri::command]
pub fn set_up(shell: State<'_, Shell>, pin: String, coordinator_pin: String) -> Answer<AppState> {
    let state = shell.kiosk.set_up(&pin, &coordinator_pin)?;
    crate::sync::start(&shell);
    Ok(state)
}

#[tauri::command]
pub fn unlock(shell: State<'_, Shell>, pin: String) -> Answer<AppState> {
    let state = shell.kiosk.unlock(&pin)?;
    crate::sync::start(&shell);
    Ok(state)
}

#[tauri::command]
pub fn lock(shell: State<'_, Shell>) -> AppState {
    crate::camera::stop(&shell);
    shell.kiosk.lock()
}

#[tauri::command]
pub async fn enrol(
    shell: State<'_, Shell>,
    invite: String,
    token: Option<String>,
    label: String,
) -> Answer<AppState> {
    let state = shell.kiosk.enrol(&invite, token.as_deref(), &label).await?;
    crate::sync::start(&shell);
    Ok(state)
}

/// The package file's bytes come as the raw request body.
#[tauri::command]
pub fn import_package(shell: State<'_, Shell>, request: Request<'_>) -> Answer<PackageApplied> {
    match request.body() {
        InvokeBody::Raw(bytes) => shell.kiosk.import_package(bytes),
        InvokeBody::Json(_) => Err(AppError::invalid("file", "send the package file's bytes")),
    }
}

/// A kiosk kit: the file's bytes as the raw request body, its code in the header
/// `gatepass-kit-code`.
#[tauri::command]
pub fn enrol_from_kit(shell: State<'_, Shell>, request: Request<'_>) -> Answer<AppState> {
    let code = request
        .headers()
        .get("gatepass-kit-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let state = match request.body() {
        InvokeBody::Raw(bytes) => shell.kiosk.enrol_from_kit(bytes, code)?,
        InvokeBody::Json(_) => return Err(AppError::invalid("kit", "send the kit file's bytes")),
    };
    crate::sync::start(&shell);
    Ok(state)
}

#[tauri::command]
pub async fn fetch_package(shell: State<'_, Shell>) -> Answer<PackageApplied> {
    shell.kiosk.fetch_package().await
}

#[tauri::command]
pub fn gates(shell: State<'_, Shell>) -> Answer<Vec<Gate>> {
    shell.kiosk.gates()
}

#[tauri::command]
pub fn select_gate(shell: State<'_, Shell>, gate_id: GateId) -> Answer<AppState> {
    shell.kiosk.select_gate(gate_id)
}

#[tauri::command]
pub fn set_direction(shell: State<'_, Shell>, direction: Direction) -> Answer<AppState> {
    shell.kiosk.set_direction(direction)
}

/// A code from a USB scanner (keyboard wedge) or typed; camera codes arrive as `scan` events.
#[tauri::command]
pub fn scan_code(shell: State<'_, Shell>, code: String, source: ScanSource) -> Answer<ScanOutcome> {
    shell.kiosk.scan(code.trim().as_bytes(), source)
}

/// Guests matching what the volunteer typed, best first.
#[tauri::command]
pub fn search_guests(
    shell: State<'_, Shell>,
    query: String,
    limit: Option<usize>,
) -> Answer<GuestSearchView> {
    shell.kiosk.search_guests(&query, limit.unwrap_or(20))
}

/// Judges the ticket of a guest picked from the search list, as a scan of its code would be.
#[tauri::command]
pub fn admit_found(shell: State<'_, Shell>, ticket_id: TicketId) -> Answer<ScanOutcome> {
    shell.kiosk.admit_found(ticket_id)
}

/// Takes the answers to the questions the gate asks of this ticket, then judges it again.
#[tauri::command]
pub fn answer_questions(
    shell: State<'_, Shell>,
    ticket_id: TicketId,
    answers: Answers,
    source: ScanSource,
) -> Answer<ScanOutcome> {
    shell.kiosk.answer_questions(ticket_id, answers, source)
}

#[tauri::command]
pub fn annul_check_in(shell: State<'_, Shell>, check_in_id: CheckInId) -> Answer<GateCounts> {
    shell.kiosk.annul_check_in(check_in_id)
}

#[tauri::command]
pub fn counts(shell: State<'_, Shell>) -> Answer<GateCounts> {
    shell.kiosk.counts()
}

#[tauri::command]
pub fn walk_in_setup(shell: State<'_, Shell>) -> Answer<WalkInSetup> {
    shell.kiosk.walk_in_setup()
}

#[tauri::command]
pub fn register_walk_in(shell: State<'_, Shell>, request: WalkInRequest) -> Answer<BadgeView> {
    shell.kiosk.register_walk_in(request)
}

/// Prints the badge card in the window (its print styles leave the card alone): to the badge
/// printer of the settings with no dialog, else through the system print dialog (see `printing`).
#[tauri::command]
pub async fn print_badge(shell: State<'_, Shell>, window: WebviewWindow) -> Answer<()> {
    let printer = shell.kiosk.settings().badge_printer;
    crate::printing::print(&window, printer, shell.kiosk.data_dir()).await
}

/// The printers the system knows, for the settings' badge printer.
#[tauri::command]
pub async fn printers() -> Answer<Vec<String>> {
    Ok(crate::printing::printers().await)
}

/// A coordinator prints a guest's badge again: logged as a reprint, answered with the badge for
/// the page to show and send to the printer (`print_badge`).
#[tauri::command]
pub fn reprint_badge(shell: State<'_, Shell>, ticket_id: TicketId) -> Answer<BadgeView> {
    shell.kiosk.reprint_badge(ticket_id)
}

#[tauri::command]
pub fn check_coordinator_pin(shell: State<'_, Shell>, pin: String) -> Answer<()> {
    shell.kiosk.check_coordinator_pin(&pin)
}

#[tauri::command]
pub fn outbox(shell: State<'_, Shell>) -> Answer<OutboxView> {
    shell.kiosk.outbox()
}

#[tauri::command]
pub fn retry_parked(shell: State<'_, Shell>, seq: u64) -> Answer<OutboxView> {
    shell.kiosk.retry_parked(seq)
}

#[tauri::command]
pub fn dismiss_parked(shell: State<'_, Shell>, seq: u64) -> Answer<OutboxView> {
    shell.kiosk.dismiss_parked(seq)
}

#[tauri::command]
pub async fn conflicts(shell: State<'_, Shell>) -> Answer<ConflictsView> {
    shell.kiosk.conflicts().await
}

#[tauri::command]
pub fn sync_status(shell: State<'_, Shell>) -> Answer<SyncStatus> {
    shell.kiosk.sync_status()
}

#[tauri::command]
pub async fn sync_now(
    shell: State<'_, Shell>,
    on_progress: Channel<SyncProgress>,
) -> Answer<SyncReport> {
    let report = move |p| drop(on_progress.send(p));
    shell.kiosk.sync_now(report).await
}

#[tauri::command]
pub fn save_settings(shell: State<'_, Shell>, settings: Settings) -> Answer<AppState> {
    shell.kiosk.save_settings(settings)
}

#[tauri::command]
pub fn cameras(shell: State<'_, Shell>) -> Vec<CameraInfo> {
    kiosk_core::app::camera::cameras(shell.replay_dir.as_ref())
}

#[tauri::command]
pub fn start_camera(
    app: AppHandle,
    shell: State<'_, Shell>,
    preview: Channel<PreviewFrame>,
) -> Answer<CameraStatus> {
    crate::camera::start(&app, &shell, preview)
}

#[tauri::command]
pub fn stop_camera(shell: State<'_, Shell>) -> CameraStatus {
    crate::camera::stop(&shell)
}

/// Entering kiosk mode needs nothing; leaving it needs the coordinator PIN.
#[tauri::command]
pub fn set_kiosk_mode(
    app: AppHandle,
    shell: State<'_, Shell>,
    on: bool,
    pin: Option<String>,
) -> Answer<AppState> {
    crate::window::set_kiosk_mode(&app, &shell, on, pin.as_deref())
}
