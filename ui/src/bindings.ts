// Generated from the Rust types by kiosk-core (app::bindings). Do not edit by hand:
// UPDATE_BINDINGS=1 cargo test -p kiosk-core --features ts bindings
/* eslint-disable */

export type JsonValue = number | string | boolean | Array<JsonValue> | { [key in string]: JsonValue } | null;

export type EventId = string;

export type TicketId = string;

export type TicketTypeId = string;

export type AttendeeId = string;

export type GateId = string;

export type DeviceId = string;

export type CheckInId = string;

export type FormId = string;

export type UnixMillis = number;

export type TicketType = { id: TicketTypeId, name: string, 
/**
 * Not valid before this time (`None`: no lower bound).
 */
valid_from: UnixMillis | null, 
/**
 * Not valid after this time (`None`: no upper bound).
 */
valid_until: UnixMillis | null, };

export type Gate = { id: GateId, name: string, 
/**
 * Ticket types admitted here; empty means every type of the event.
 */
allowed_ticket_types: Array<TicketTypeId>, mode: GateMode, reentry: Reentry, 
/**
 * Form field ids that must be answered before a ticket is admitted here (e.g. a consent).
 */
required_answers: Array<string>, 
/**
 * Form field ids whose answers the verdict screen shows here (a diet at the dinner gate, a
 * T-shirt size at the swag desk).
 */
show_answers?: Array<string>, 
/**
 * Whether the gate prints the guest's badge when it admits them.
 */
print_badge?: BadgePrinting, };

export type GateMode = "entry_only" | "exit_only" | "entry_and_exit";

export type Reentry = "never" | "after_exit" | "always";

export type BadgePrinting = "never" | "first" | "every";

export type Direction = "entry" | "exit";

export type TicketStatus = "valid" | "canceled" | "revoked";

export type Verdict = { code: VerdictCode, 
/**
 * A sentence for the volunteer, in English.
 */
reason: string, 
/**
 * For [`VerdictCode::AlreadyUsed`]: the first admission that counts against the rule (the
 * earliest ever under [`Reentry::Never`], the earliest since the last exit under
 * [`Reentry::AfterExit`]).
 */
first_admission?: Admission, 
/**
 * For [`VerdictCode::NeedsAnswers`]: the required field ids not answered, in gate order.
 */
missing_answers?: Array<string>, };

export type VerdictCode = "admitted" | "already_used" | "wrong_gate" | "not_yet_valid" | "expired" | "canceled" | "revoked" | "unknown" | "bad_signature" | "needs_answers";

export type Admission = { check_in_id: CheckInId, gate_id: GateId, 
/**
 * The wall part of the check-in's stamp.
 */
at: UnixMillis, };

export type Form = { id: FormId, 
/**
 * Raised on every published change; a registration records the version it was made against.
 */
version: number, title: string, pages: Array<Page>, };

export type Page = { id: string, title: string, sections: Array<Section>, };

export type Section = { id: string, title: string, fields: Array<Field>, };

export type Field = { 
/**
 * The answer key: `[a-z0-9_]`, unique in the form.
 */
id: string, label: string, 
/**
 * A hint shown under the field.
 */
help?: string, kind: FieldKind, 
/**
 * Whether an answer is needed (for a checkbox: that it is ticked). Ignored while hidden.
 */
required?: boolean, validation?: Validation, 
/**
 * The options of a single or multiple choice field.
 */
choices?: Array<Choice>, 
/**
 * Show the field only when this holds; always shown when absent.
 */
show_when?: Condition, };

export type FieldKind = "text" | "multiline" | "email" | "phone" | "number" | "date" | "single_choice" | "multiple_choice" | "checkbox" | "country";

export type Validation = { 
/**
 * Lower bound: length, value, count or date depending on the kind (see the module doc).
 */
min?: Bound, 
/**
 * Upper bound, with the same meaning as `min`.
 */
max?: Bound, 
/**
 * A regular expression (the `regex` crate's syntax) the whole trimmed answer must match.
 */
pattern?: string, 
/**
 * Shown to the person when `pattern` does not match.
 */
pattern_message?: string, 
/**
 * Number fields only: accept whole numbers only.
 */
integer?: boolean, };

export type Bound = number | string;

export type Choice = { id: string, label: string, };

export type Condition = { 
/**
 * The id of the controlling field, which must come earlier in the form.
 */
field: string, } & ({ "op": "equals", "value": JsonValue } | { "op": "not_equals", "value": JsonValue } | { "op": "one_of", "value": Array<JsonValue> } | { "op": "is_answered" } | { "op": "checked" });

export type Operator = { "op": "equals", "value": JsonValue } | { "op": "not_equals", "value": JsonValue } | { "op": "one_of", "value": Array<JsonValue> } | { "op": "is_answered" } | { "op": "checked" };

export type FieldError = { 
/**
 * The field id (or, for [`FieldErrorCode::UnknownField`], the refused key).
 */
field: string, code: FieldErrorCode, 
/**
 * What is wrong, in English, for the person filling the form.
 */
message: string, };

export type FieldErrorCode = "required" | "too_short" | "too_long" | "too_small" | "too_large" | "pattern" | "invalid_email" | "invalid_phone" | "invalid_number" | "invalid_date" | "invalid_choice" | "invalid_country" | "must_accept" | "unknown_field" | "wrong_type";

export type Phase = "setup" | "locked" | "enrol" | "package" | "ready";

export type AppState = { phase: Phase, event: EventView | null, device: DeviceView | null, 
/**
 * Version of the event package held, if any.
 */
package_version: number | null, 
/**
 * The gate this kiosk scans at, once picked.
 */
gate: Gate | null, settings: Settings, 
/**
 * Whether the window is in kiosk mode (fullscreen, leaves only with the coordinator PIN).
 */
kiosk_mode: boolean, };

export type EventView = { id: EventId, name: string, time_zone: string, };

export type DeviceView = { device_id: DeviceId, server_url: string, };

export type Settings = { 
/**
 * The gate picked for scanning.
 */
gate_id: GateId | null, 
/**
 * Entry or exit, at a gate that scans both.
 */
direction: Direction, 
/**
 * The camera picked (its id from the camera list); none: the first one found.
 */
camera: string | null, 
/**
 * Play a sound with each verdict.
 */
sound: boolean, 
/**
 * UI language: "en" or "fr".
 */
language: string, 
/**
 * High-contrast colours.
 */
high_contrast: boolean, 
/**
 * Show the attendee's name with the verdict.
 */
show_names: boolean, 
/**
 * The desk screen (walk-in registration, personal data on screen) locks itself after this
 * many minutes without a key press or touch: 1 to 60.
 */
desk_lock_minutes: number, 
/**
 * Where a gate's badges go when the gate prints them: none, the system print dialog for each
 * badge (someone picks the printer and presses Print); a printer's name as the system (CUPS)
 * knows it, straight to that printer with no dialog; [`BADGE_PRINTER_FILE`], straight to a
 * PDF file in the kiosk's data folder (`printed/`), for trying a badge layout without paper.
 */
badge_printer: string | null, };

export type ScanSource = "camera" | "wedge" | "typed" | "search";

export type ScanOutcome = { verdict: Verdict, ticket_id: TicketId | null, 
/**
 * The attendee's name, when known here and the settings allow showing it.
 */
attendee_name: string | null, 
/**
 * The ticket type's name, when known.
 */
ticket_type: string | null, gate_id: GateId, direction: Direction, source: ScanSource, at: UnixMillis, 
/**
 * The recorded check-in, which this kiosk may annul for a short while.
 */
check_in_id: CheckInId | null, 
/**
 * Outbox sequence number of the recorded check-in or failed scan.
 */
seq: number, 
/**
 * For a `needs_answers` verdict: the questions to ask, as the event's form defines them, in
 * the gate's order (a question no form defines is left out; answering then says so).
 */
questions: Array<Field>, 
/**
 * The guest's answers the gate shows (its `show_answers`), with their fields; empty when
 * the settings hide names (answers are as personal).
 */
answers: Array<ShownAnswer>, 
/**
 * The badge to print now: the gate prints at admission and this one is due (see the
 * gate's `print_badge`); the print is in the print log already.
 */
badge: BadgeView | null, };

export type ShownAnswer = { field: Field, value: JsonValue, };

export type GuestHit = { ticket_id: TicketId, 
/**
 * The attendee's name (empty when the ticket has no attendee).
 */
name: string, email: string | null, 
/**
 * The ticket type's name, when known here.
 */
ticket_type: string | null, status: TicketStatus, 
/**
 * Entries that count, at every gate, as far as this kiosk knows (its own and those synced).
 */
entries: number, 
/**
 * When the last of them was.
 */
last_entry_at: UnixMillis | null, };

export type GuestSearchView = { query: string, hits: Array<GuestHit>, total: number, };

export type WalkInSetup = { form: Form | null, ticket_types: Array<TicketType>, };

export type BadgeView = { ticket_id: TicketId, ticket_type_id: TicketTypeId, attendee_name: string, ticket_type: string, event_name: string, 
/**
 * The code in the QR (also printed small under it).
 */
code: string, 
/**
 * The QR as an SVG document.
 */
qr_svg: string, qr_version: number, 
/**
 * Outbox sequence number of the change that made the badge: the walk-in's registration, the
 * admission that printed it, or the reprint.
 */
seq: number, };

export type PackageApplied = { version: number, tickets: number, };

export type OutboxView = { pending: number, acknowledged: number, parked: number, 
/**
 * Parked changes a coordinator set aside (kept, not counted as parked).
 */
dismissed: number, 
/**
 * Changes the server refused for good, with its reason.
 */
parked_changes: Array<ParkedChange>, };

export type ParkedChange = { seq: number, kind: string, code: string, message: string, };

export type ConflictsView = { 
/**
 * The oldest open ones, at most 100.
 */
conflicts: Array<ConflictView>, 
/**
 * How many are open in all.
 */
total_open: number, };

export type ConflictView = { id: string, 
/**
 * `double_admission`, `admitted_while_canceled`, `admitted_while_revoked`,
 * `possible_duplicate`, `field_conflict`, `parked_ticket` or `unfiled_change`.
 */
kind: string, 
/**
 * When it arose (the later record's time).
 */
at: UnixMillis, 
/**
 * The tickets and attendees involved that this kiosk knows.
 */
subjects: Array<ConflictSubject>, };

export type ConflictSubject = { name: string | null, 
/**
 * The ticket's code, when the subject is a ticket.
 */
code: string | null, ticket_type: string | null, };

export type CameraInfo = { 
/**
 * Stable id for the settings.
 */
id: string, name: string, };

export type PreviewFrame = { 
/**
 * A `data:image/jpeg;base64,...` URL.
 */
image: string, width: number, height: number, 
/**
 * Corners of the detected code, in this frame's pixels.
 */
outline: Array<Point> | null, };

export type Point = { x: number, y: number, };

export type CameraStatus = { "state": "starting", camera: CameraInfo, } | { "state": "running", camera: CameraInfo, } | { "state": "no_camera", message: string, } | { "state": "failed", message: string, } | { "state": "stopped" };

export type GateCounts = { 
/**
 * Entries admitted at this gate (each admission counts, re-entries too), on every day.
 */
gate_entries: number, 
/**
 * Exits scanned at this gate, on every day.
 */
gate_exits: number, 
/**
 * Distinct tickets admitted at least once, at any gate, on any day.
 */
event_admitted: number, 
/**
 * Tickets this kiosk holds.
 */
tickets: number, 
/**
 * Of `gate_entries`, those this kiosk admitted.
 */
own_gate_entries: number, 
/**
 * Inside now, the whole event: entries minus exits at every gate (never below zero).
 */
inside: number, 
/**
 * Entries admitted at this gate today (the venue's day, in the event's time zone).
 */
gate_entries_today: number, 
/**
 * Of `gate_entries_today`, those this kiosk admitted.
 */
own_gate_entries_today: number, 
/**
 * Exits scanned at this gate today.
 */
gate_exits_today: number, 
/**
 * Distinct tickets admitted today, at any gate.
 */
event_admitted_today: number, };

export type WalkInRequest = { first_name: string, last_name: string, email?: string, phone?: string, ticket_type_id?: TicketTypeId, answers: { [key in string]: JsonValue }, };

export type SyncProgress = { "phase": "pushing", sent: number, total: number, } | { "phase": "pulling", received: number, };

export type SyncReport = { pushed: number, parked: number, pulled: number, pending_after: number, write_checkpoint: number, 
/**
 * The newest package the server has (fetch it when newer than the one held).
 */
package_version: number, 
/**
 * Set when the server said this kiosk's clock runs ahead.
 */
clock_ahead_ms: number | null, 
/**
 * The server asked for a refetch and the full package was applied again.
 */
refetched: boolean, 
/**
 * The package version this sync applied, if it applied one.
 */
package_applied: number | null, };

export type SyncStatus = { 
/**
 * The last try reached the server.
 */
online: boolean, 
/**
 * A sync (or package fetch) is running now.
 */
syncing: boolean, 
/**
 * Changes recorded here that the server has not acknowledged yet.
 */
pending: number, acknowledged: number, 
/**
 * Changes the server refused for good (kept here for the coordinator).
 */
parked: number, 
/**
 * When the last sync succeeded.
 */
last_sync_at: UnixMillis | null, 
/**
 * When the last sync started, successful or not.
 */
last_attempt_at: UnixMillis | null, 
/**
 * Why the last try failed; `None` once a sync succeeds.
 */
last_error: string | null, 
/**
 * The server revoked this kiosk: it no longer syncs and must be enrolled again.
 */
revoked: boolean, 
/**
 * The server said this kiosk's clock runs ahead by this much (from the last push).
 */
clock_ahead_ms: number | null, 
/**
 * The package version this kiosk holds.
 */
package_version: number | null, 
/**
 * The newest package version the server announced.
 */
server_package_version: number | null, 
/**
 * The live stream is connected.
 */
live: boolean, 
/**
 * Feed items (other gates' check-ins, walk-ins, ticket changes) pulled since the start, so a
 * screen knows when to refresh its counts.
 */
pulled_total: number, };

export type KioskEvent = { "event": "scan" } & ScanOutcome | { "event": "sync" } & SyncStatus | { "event": "progress" } & SyncProgress | { "event": "synced" } & SyncReport | { "event": "package", version: number, } | { "event": "error" } & UiError;

export type ErrorKind = "wrong_pin" | "bad_pin" | "too_many_attempts" | "locked" | "already_set_up" | "not_set_up" | "not_enrolled" | "no_package" | "no_gate" | "invalid" | "fields" | "package_refused" | "offline" | "busy" | "revoked" | "server" | "camera" | "printer" | "store" | "internal";

export type UiError = { kind: ErrorKind, 
/**
 * A sentence for the person at the kiosk, in English (the UI may show its own per kind).
 */
message: string, 
/**
 * The input the error is about, when it is about one.
 */
field: string | null, 
/**
 * For `fields`: one problem per form field.
 */
fields: Array<FieldError>, };
