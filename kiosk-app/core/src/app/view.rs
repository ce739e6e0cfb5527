//! What the kiosk's screens see: plain, serialisable views of the engine's state. These types
//! are the contract with the front end; their TypeScript declarations are generated from here
//! (see `app::bindings`), never written twice.

use serde::{Deserialize, Serialize};
use sync_protocol::UnixMillis;
use sync_protocol::forms::{Field, Form};
use sync_protocol::ids::{CheckInId, DeviceId, EventId, GateId, TicketId, TicketTypeId};
use sync_protocol::model::{Direction, Gate, TicketStatus, TicketType};
use sync_protocol::verdict::Verdict;

/// Where the kiosk is in its life, which decides the first screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No store yet: choose the kiosk PIN and the coordinator PIN.
    Setup,
    /// The store exists and is locked: the kiosk PIN opens it.
    Locked,
    /// Unlocked but not enrolled with a server (a package file can still be imported later).
    Enrol,
    /// Enrolled, but no event package yet: fetch it, or import a file.
    Package,
    /// Ready to scan and register.
    Ready,
}

/// The whole state a screen needs to decide what to show.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AppState {
    pub phase: Phase,
    pub event: Option<EventView>,
    pub device: Option<DeviceView>,
    /// Version of the event package held, if any.
    pub package_version: Option<u64>,
    /// The gate this kiosk scans at, once picked.
    pub gate: Option<Gate>,
    pub settings: Settings,
    /// Whether the window is in kiosk mode (fullscreen, leaves only with the coordinator PIN).
    pub kiosk_mode: bool,
}

/// The event, as the package describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EventView {
    pub id: EventId,
    pub name: String,
    pub time_zone: String,
}

/// This kiosk, as enrolled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DeviceView {
    pub device_id: DeviceId,
    pub server_url: String,
}

/// Settings of this kiosk, kept in a plain file beside the store (they hold nothing personal and
/// are needed before unlocking, e.g. the language).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct Settings {
    /// The gate picked for scanning.
    pub gate_id: Option<GateId>,
    /// Entry or exit, at a gate that scans both.
    pub direction: Direction,
    /// The camera picked (its id from the camera list); none: the first one found.
    pub camera: Option<String>,
    /// Play a sound with each verdict.
    pub sound: bool,
    /// UI language: "en" or "fr".
    pub language: String,
    /// High-contrast colours.
    pub high_contrast: bool,
    /// Show the attendee's name with the verdict.
    pub show_names: bool,
    /// The desk screen (walk-in registration, personal data on screen) locks itself after this
    /// many minutes without a key press or touch: 1 to 60.
    pub desk_lock_minutes: u32,
    /// Where a gate's badges go when the gate prints them: none, the system print dialog for each
    /// badge (someone picks the printer and presses Print); a printer's name as the system (CUPS)
    /// knows it, straight to that printer with no dialog; [`BADGE_PRINTER_FILE`], straight to a
    /// PDF file in the kiosk's data folder (`printed/`), for trying a badge layout without paper.
    pub badge_printer: Option<String>,
}

/// The longest idle time before the desk screen locks itself, in minutes.
pub const MAX_DESK_LOCK_MINUTES: u32 = 60;

/// The `badge_printer` that prints badges to PDF files in the data folder.
pub const BADGE_PRINTER_FILE: &str = "file";

impl Default for Settings {
    fn default() -> Self {
        Settings {
            gate_id: None,
            direction: Direction::Entry,
            camera: None,
            sound: true,
            language: "en".to_owned(),
            high_contrast: false,
            show_names: true,
            desk_lock_minutes: 2,
            badge_printer: None,
        }
    }
}

/// Where a scanned code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ScanSource {
    /// The camera (decoded on the Rust side).
    Camera,
    /// A USB scanner typing into the window (keyboard wedge).
    Wedge,
    /// Typed by the volunteer.
    Typed,
    /// Picked from a search by name, email or part of the code (no code was read).
    Search,
}

/// One guest a search found, for the search list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GuestHit {
    pub ticket_id: TicketId,
    /// The attendee's name (empty when the ticket has no attendee).
    pub name: String,
    pub email: Option<String>,
    /// The ticket type's name, when known here.
    pub ticket_type: Option<String>,
    pub status: TicketStatus,
    /// Entries that count, at every gate, as far as this kiosk knows (its own and those synced).
    pub entries: u32,
    /// When the last of them was.
    pub last_entry_at: Option<UnixMillis>,
}

/// A search's answer: the best guests, best first, and how many matched in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GuestSearchView {
    pub query: String,
    pub hits: Vec<GuestHit>,
    pub total: u32,
}

/// One judged scan, for the verdict screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ScanOutcome {
    pub verdict: Verdict,
    pub ticket_id: Option<TicketId>,
    /// The attendee's name, when known here and the settings allow showing it.
    pub attendee_name: Option<String>,
    /// The ticket type's name, when known.
    pub ticket_type: Option<String>,
    pub gate_id: GateId,
    pub direction: Direction,
    pub source: ScanSource,
    pub at: UnixMillis,
    /// The recorded check-in, which this kiosk may annul for a short while.
    pub check_in_id: Option<CheckInId>,
    /// Outbox sequence number of the recorded check-in or failed scan.
    pub seq: u64,
    /// For a `needs_answers` verdict: the questions to ask, as the event's form defines them, in
    /// the gate's order (a question no form defines is left out; answering then says so).
    pub questions: Vec<Field>,
    /// The guest's answers the gate shows (its `show_answers`), with their fields; empty when
    /// the settings hide names (answers are as personal).
    pub answers: Vec<ShownAnswer>,
    /// The badge to print now: the gate prints at admission and this one is due (see the
    /// gate's `print_badge`); the print is in the print log already.
    pub badge: Option<Box<BadgeView>>,
}

/// One answer shown on the verdict, with its field (label, kind, choices) for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ShownAnswer {
    pub field: Field,
    pub value: serde_json::Value,
}

/// What the walk-in screen needs: the event's form and the ticket types it can issue.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct WalkInSetup {
    pub form: Option<Form>,
    pub ticket_types: Vec<TicketType>,
}

/// A registered walk-in's badge, ready to show and print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BadgeView {
    pub ticket_id: TicketId,
    pub ticket_type_id: TicketTypeId,
    pub attendee_name: String,
    pub ticket_type: String,
    pub event_name: String,
    /// The code in the QR (also printed small under it).
    pub code: String,
    /// The QR as an SVG document.
    pub qr_svg: String,
    pub qr_version: i16,
    /// Outbox sequence number of the change that made the badge: the walk-in's registration, the
    /// admission that printed it, or the reprint.
    pub seq: u64,
}

/// A package that was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PackageApplied {
    pub version: u64,
    pub tickets: u64,
}

/// The outbox, for the coordinator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OutboxView {
    pub pending: u64,
    pub acknowledged: u64,
    pub parked: u64,
    /// Parked changes a coordinator set aside (kept, not counted as parked).
    pub dismissed: u64,
    /// Changes the server refused for good, with its reason.
    pub parked_changes: Vec<ParkedChange>,
}

/// A change the server refused for good (it never blocks later changes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ParkedChange {
    pub seq: u64,
    pub kind: String,
    pub code: String,
    pub message: String,
}

/// The event's open conflicts as the server reports them, for the coordinator screen (online
/// only). They are resolved in the server's admin; the kiosk shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ConflictsView {
    /// The oldest open ones, at most 100.
    pub conflicts: Vec<ConflictView>,
    /// How many are open in all.
    pub total_open: u64,
}

/// One open conflict, its records named from this kiosk's package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ConflictView {
    pub id: String,
    /// `double_admission`, `admitted_while_canceled`, `admitted_while_revoked`,
    /// `possible_duplicate`, `field_conflict`, `parked_ticket` or `unfiled_change`.
    pub kind: String,
    /// When it arose (the later record's time).
    pub at: UnixMillis,
    /// The tickets and attendees involved that this kiosk knows.
    pub subjects: Vec<ConflictSubject>,
}

/// A ticket or attendee a conflict names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ConflictSubject {
    pub name: Option<String>,
    /// The ticket's code, when the subject is a ticket.
    pub code: Option<String>,
    pub ticket_type: Option<String>,
}

/// A camera the kiosk can scan with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CameraInfo {
    /// Stable id for the settings.
    pub id: String,
    pub name: String,
}

/// One downscaled camera frame for the live preview, with the outline of a code found in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PreviewFrame {
    /// A `data:image/jpeg;base64,...` URL.
    pub image: String,
    pub width: u32,
    pub height: u32,
    /// Corners of the detected code, in this frame's pixels.
    pub outline: Option<Vec<Point>>,
}

/// A point in a preview frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

/// The camera's state, for the gate screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CameraStatus {
    /// Opening the camera: `running` (or why not) follows as an event.
    Starting { camera: CameraInfo },
    /// Frames are coming in.
    Running { camera: CameraInfo },
    /// No camera was found: scan with a USB scanner or type the code.
    NoCamera { message: String },
    /// The camera failed; the message says why.
    Failed { message: String },
    /// Stopped on request.
    Stopped,
}
