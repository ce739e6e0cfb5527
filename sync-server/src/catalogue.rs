//! The admin catalogue as operations shared by the HTTP API ([`crate::api`]) and the command line
//! ([`crate::cli`]): events, ticket types, gates, form versions, CSV imports, ticket status
//! changes and enrolment tokens. Each operation checks its input, says clearly what is wrong, and
//! changes nothing stored when it refuses.
//!
//! Who may call what, and the audit entries, are the callers' business; SQL is the store's.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use sync_protocol::UnixMillis;
use sync_protocol::crypto::SecretKey;
use sync_protocol::forms::{Form, validate_definition};
use sync_protocol::hlc::Hlc;
use sync_protocol::ids::{EventId, FormId, GateId, TicketId, TicketTypeId};
use sync_protocol::model::{
    BadgePrinting, Event, Gate, GateMode, Reentry, TicketStatus, TicketType,
};
use sync_protocol::ticket_code::{CodeClaims, issue_server_code};
use sync_protocol::wire::{EnrolmentInvite, ErrorBody, ErrorCode};

use crate::error::ApiError;
use crate::store::{
    FormVersion, ImportOutcome, ImportSummary, StatusChange, Store, StoreError, Who,
};

/// Longest event, ticket type or gate name.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest enrolment token life: a week.
pub const MAX_TOKEN_MINUTES: u64 = 7 * 24 * 60;
/// Default enrolment token life.
pub const DEFAULT_TOKEN_MINUTES: u64 = 60;
/// Latest time a signed ticket code can carry (u32 seconds).
const MAX_CODE_MS: u64 = u32::MAX as u64 * 1000;

/// Why an operation was refused: one error, or a list of problems (a form definition, a CSV
/// file) that answers 422 with every problem in `problems`.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("{summary}")]
    Problems {
        summary: String,
        problems: Vec<Problem>,
    },
}

impl From<StoreError> for CatalogueError {
    fn from(err: StoreError) -> Self {
        CatalogueError::Api(err.into())
    }
}

/// One problem of a list: where (a line of a file, or a path in a definition) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.line, &self.path) {
            (Some(line), _) => write!(f, "line {line}: {}", self.message),
            (None, Some(path)) => write!(f, "{path}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// The 422 body: `{code, message}`, with every problem in `problems` when there is a list of
/// them (a form definition, a CSV file).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProblemsBody {
    #[serde(flatten)]
    pub error: ErrorBody,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

impl IntoResponse for CatalogueError {
    fn into_response(self) -> Response {
        match self {
            CatalogueError::Api(err) => err.into_response(),
            CatalogueError::Problems { summary, problems } => {
                let shown: Vec<String> = problems.iter().take(5).map(Problem::to_string).collect();
                let more = problems.len().saturating_sub(shown.len());
                let mut message = format!("{summary}: {}", shown.join("; "));
                if more > 0 {
                    message.push_str(&format!("; and {more} more (see problems)"));
                }
                let body = ProblemsBody {
                    error: ErrorBody {
                        code: ErrorCode::ValidationFailed,
                        message,
                    },
                    problems,
                };
                (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
            }
        }
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::Validation(message.into())
}

/// Refuses a staff member's JSON input holding a NUL character anywhere: Postgres stores none,
/// in text or in jsonb. (What kiosks push is kept instead: the push replaces NULs, see
/// `api::sync`.)
pub fn refuse_nul(what: &str, value: &impl Serialize) -> Result<(), ApiError> {
    let text = serde_json::to_string(value).unwrap_or_default();
    if text.contains("\\u0000") {
        return Err(invalid(format!("{what} must not contain NUL characters")));
    }
    Ok(())
}

/// A trimmed name of 1 to [`MAX_NAME_CHARS`] characters without control characters.
pub fn check_name(what: &str, name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(format!(
            "{what} name must be 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what} name must not contain control characters"
        )));
    }
    Ok(name.to_owned())
}

/// Whether `tz` looks like an IANA time zone name: `UTC`, or `Area/Location` with a known area
/// (`Europe/Berlin`, `America/Argentina/Buenos_Aires`, `Etc/GMT+2`). The server holds no zone
/// database, so a well-formed name that does not exist is not caught.
pub fn plausible_time_zone(tz: &str) -> bool {
    const AREAS: [&str; 11] = [
        "Africa",
        "America",
        "Antarctica",
        "Arctic",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
        "Etc",
    ];
    if matches!(tz, "UTC" | "GMT") {
        return true;
    }
    if tz.len() > 64 {
        return false;
    }
    let mut parts = tz.split('/');
    let Some(area) = parts.next() else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    AREAS.contains(&area)
        && (1..=2).contains(&rest.len())
        && rest.iter().all(|part| {
            part.len() >= 2
                && part.starts_with(|c: char| c.is_ascii_uppercase())
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
        })
}

/// `Some(value)` for a present field (even `null`), so a patch can tell "clear" from "keep".
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/// A new event.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    pub name: String,
    /// IANA name, e.g. `Europe/Berlin`.
    pub time_zone: String,
    pub starts_at: UnixMillis,
    pub ends_at: UnixMillis,
}

/// Changes to an event; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventPatch {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    pub starts_at: Option<UnixMillis>,
    pub ends_at: Option<UnixMillis>,
}

fn check_event(event: &Event) -> Result<Event, ApiError> {
    let name = check_name("an event", &event.name)?;
    let time_zone = event.time_zone.trim();
    if !plausible_time_zone(time_zone) {
        return Err(invalid(format!(
            "time_zone {:?} is not an IANA time zone name such as \"Europe/Berlin\" or \"UTC\"",
            time_zone.chars().take(80).collect::<String>()
        )));
    }
    if event.ends_at <= event.starts_at {
        return Err(invalid("ends_at must be after starts_at"));
    }
    Ok(Event {
        name,
        time_zone: time_zone.to_owned(),
        ..event.clone()
    })
}

pub async fn create_event<S: Store>(
    store: &S,
    new: NewEvent,
    who: &Who,
) -> Result<Event, ApiError> {
    let event = check_event(&Event {
        id: EventId::new(crate::state::now(), &mut rand::rngs::OsRng),
        name: new.name,
        time_zone: new.time_zone,
        starts_at: new.starts_at,
        ends_at: new.ends_at,
    })?;
    let audit = who.entry("event.create", Some(event.id.to_string()), json!(event));
    store.create_event(&event, &audit).await?;
    Ok(event)
}

pub async fn event<S: Store>(store: &S, id: EventId) -> Result<Event, ApiError> {
    store.event(id).await?.ok_or(ApiError::NotFound("event"))
}

pub async fn update_event<S: Store>(
    store: &S,
    id: EventId,
    patch: EventPatch,
    who: &Who,
) -> Result<Event, ApiError> {
    let audit = who.entry("event.update", Some(id.to_string()), json!(patch));
    let old = event(store, id).await?;
    let event = check_event(&Event {
        id,
        name: patch.name.unwrap_or(old.name),
        time_zone: patch.time_zone.unwrap_or(old.time_zone),
        starts_at: patch.starts_at.unwrap_or(old.starts_at),
        ends_at: patch.ends_at.unwrap_or(old.ends_at),
    })?;
    store.update_event(&event, &audit).await?;
    Ok(event)
}

// ---------------------------------------------------------------------------------------------
// Ticket types
// ---------------------------------------------------------------------------------------------

/// A new ticket type; an absent bound means no bound.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicketType {
    pub name: String,
    #[serde(default)]
    pub valid_from: Option<UnixMillis>,
    #[serde(default)]
    pub valid_until: Option<UnixMillis>,
}

/// Changes to a ticket type: an absent field stays, `null` clears a bound.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketTypePatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub valid_from: Option<Option<UnixMillis>>,
    #[serde(default, deserialize_with = "present")]
    pub valid_until: Option<Option<UnixMillis>>,
}

fn check_ticket_type(ticket_type: &TicketType) -> Result<TicketType, ApiError> {
    let name = check_name("a ticket type", &ticket_type.name)?;
    for bound in [ticket_type.valid_from, ticket_type.valid_until]
        .into_iter()
        .flatten()
    {
        if bound.as_u64() > MAX_CODE_MS {
            return Err(invalid("validity bounds must lie before the year 2106"));
        }
    }
    if let (Some(from), Some(until)) = (ticket_type.valid_from, ticket_type.valid_until)
        && until <= from
    {
        return Err(invalid("valid_until must be after valid_from"));
    }
    Ok(TicketType {
        name,
        ..ticket_type.clone()
    })
}

pub async fn create_ticket_type<S: Store>(
    store: &S,
    event_id: EventId,
    new: NewTicketType,
    who: &Who,
) -> Result<TicketType, ApiError> {
    event(store, event_id).await?;
    let ticket_type = check_ticket_type(&TicketType {
        id: TicketTypeId::new(crate::state::now(), &mut rand::rngs::OsRng),
        name: new.name,
        valid_from: new.valid_from,
        valid_until: new.valid_until,
    })?;
    let audit = who.entry(
        "ticket_type.create",
        Some(ticket_type.id.to_string()),
        json!({ "event_id": event_id, "ticket_type": ticket_type }),
    );
    store
        .create_ticket_type(event_id, &ticket_type, &audit)
        .await?;
    Ok(ticket_type)
}

pub async fn update_ticket_type<S: Store>(
    store: &S,
    event_id: EventId,
    id: TicketTypeId,
    patch: TicketTypePatch,
    who: &Who,
) -> Result<TicketType, ApiError> {
    let audit = who.entry(
        "ticket_type.update",
        Some(id.to_string()),
        json!({ "event_id": event_id, "patch": patch }),
    );
    let old = store
        .ticket_types(event_id)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or(ApiError::NotFound("ticket type"))?;
    let ticket_type = check_ticket_type(&TicketType {
        id,
        name: patch.name.unwrap_or(old.name),
        valid_from: patch.valid_from.unwrap_or(old.valid_from),
        valid_until: patch.valid_until.unwrap_or(old.valid_until),
    })?;
    store
        .update_ticket_type(event_id, &ticket_type, &audit)
        .await?;
    Ok(ticket_type)
}

// ---------------------------------------------------------------------------------------------
// Gates
// ---------------------------------------------------------------------------------------------

fn entry_only() -> GateMode {
    GateMode::EntryOnly
}

fn never() -> Reentry {
    Reentry::Never
}

/// A new gate. Defaults: entry only, no re-entry, every ticket type, no required answers.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGate {
    pub name: String,
    #[serde(default = "entry_only")]
    pub mode: GateMode,
    #[serde(default = "never")]
    pub reentry: Reentry,
    /// Empty: every ticket type of the event.
    #[serde(default)]
    pub allowed_ticket_types: Vec<TicketTypeId>,
    /// Form field ids that must be answered before admission here.
    #[serde(default)]
    pub required_answers: Vec<String>,
    /// Form field ids whose answers the verdict screen shows here.
    #[serde(default)]
    pub show_answers: Vec<String>,
    /// Whether the gate prints the guest's badge as it admits them (default: never).
    #[serde(default)]
    pub print_badge: BadgePrinting,
}

/// Changes to a gate; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GatePatch {
    pub name: Option<String>,
    pub mode: Option<GateMode>,
    pub reentry: Option<Reentry>,
    pub allowed_ticket_types: Option<Vec<TicketTypeId>>,
    pub required_answers: Option<Vec<String>>,
    pub show_answers: Option<Vec<String>>,
    pub print_badge: Option<BadgePrinting>,
}

/// Whether `id` is a form field id: 1 to 64 characters of `[a-z0-9_]`.
fn is_field_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

async fn check_gate<S: Store>(store: &S, event_id: EventId, gate: &Gate) -> Result<Gate, ApiError> {
    let name = check_name("a gate", &gate.name)?;
    let types = store.ticket_types(event_id).await?;
    let mut allowed = Vec::new();
    for id in &gate.allowed_ticket_types {
        if !types.iter().any(|t| t.id == *id) {
            return Err(invalid(format!(
                "allowed_ticket_types: {id} is not a ticket type of this event"
            )));
        }
        if !allowed.contains(id) {
            allowed.push(*id);
        }
    }
    Ok(Gate {
        id: gate.id,
        name,
        allowed_ticket_types: allowed,
        mode: gate.mode,
        reentry: gate.reentry,
        required_answers: field_ids("required_answers", &gate.required_answers)?,
        show_answers: field_ids("show_answers", &gate.show_answers)?,
        print_badge: gate.print_badge,
    })
}

/// A gate's list of form field ids, checked and without repeats (`what` names it in errors).
fn field_ids(what: &str, fields: &[String]) -> Result<Vec<String>, ApiError> {
    if fields.len() > MAX_GATE_FIELDS {
        return Err(invalid(format!("{what}: at most {MAX_GATE_FIELDS} fields")));
    }
    let mut ids: Vec<String> = Vec::new();
    for field in fields {
        if !is_field_id(field) {
            return Err(invalid(format!(
                "{what}: {:?} is not a form field id (1 to 64 of a-z, 0-9, _)",
                field.chars().take(80).collect::<String>()
            )));
        }
        if !ids.contains(field) {
            ids.push(field.clone());
        }
    }
    Ok(ids)
}

/// The most fields a gate may ask or show (a form holds at most a few hundred).
const MAX_GATE_FIELDS: usize = 64;

pub async fn create_gate<S: Store>(
    store: &S,
    event_id: EventId,
    new: NewGate,
    who: &Who,
) -> Result<Gate, ApiError> {
    event(store, event_id).await?;
    let gate = Gate {
        id: GateId::new(crate::state::now(), &mut rand::rngs::OsRng),
        name: new.name,
        allowed_ticket_types: new.allowed_ticket_types,
        mode: new.mode,
        reentry: new.reentry,
        required_answers: new.required_answers,
        show_answers: new.show_answers,
        print_badge: new.print_badge,
    };
    let gate = check_gate(store, event_id, &gate).await?;
    let audit = who.entry(
        "gate.create",
        Some(gate.id.to_string()),
        json!({ "event_id": event_id, "gate": gate }),
    );
    store.create_gate(event_id, &gate, &audit).await?;
    Ok(gate)
}

pub async fn update_gate<S: Store>(
    store: &S,
    event_id: EventId,
    id: GateId,
    patch: GatePatch,
    who: &Who,
) -> Result<Gate, ApiError> {
    let audit = who.entry(
        "gate.update",
        Some(id.to_string()),
        json!({ "event_id": event_id, "patch": patch }),
    );
    let old = store
        .gates(event_id)
        .await?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or(ApiError::NotFound("gate"))?;
    let gate = Gate {
        id,
        name: patch.name.unwrap_or(old.name),
        allowed_ticket_types: patch
            .allowed_ticket_types
            .unwrap_or(old.allowed_ticket_types),
        mode: patch.mode.unwrap_or(old.mode),
        reentry: patch.reentry.unwrap_or(old.reentry),
        required_answers: patch.required_answers.unwrap_or(old.required_answers),
        show_answers: patch.show_answers.unwrap_or(old.show_answers),
        print_badge: patch.print_badge.unwrap_or(old.print_badge),
    };
    let gate = check_gate(store, event_id, &gate).await?;
    store.update_gate(event_id, &gate, &audit).await?;
    Ok(gate)
}

// ---------------------------------------------------------------------------------------------
// Forms
// ---------------------------------------------------------------------------------------------

/// Stores `definition` as the next version of its form (a new form when it has no `id`). The
/// `version` in the upload is ignored: the server numbers versions. Every problem of the
/// definition is reported at once.
pub async fn upload_form<S: Store>(
    store: &S,
    event_id: EventId,
    mut definition: serde_json::Value,
    who: &Who,
) -> Result<FormVersion, CatalogueError> {
    event(store, event_id).await?;
    refuse_nul("a form definition", &definition)?;
    let Some(object) = definition.as_object_mut() else {
        return Err(invalid("a form definition is a JSON object").into());
    };
    if object.get("id").is_none_or(serde_json::Value::is_null) {
        let id = FormId::new(crate::state::now(), &mut rand::rngs::OsRng);
        object.insert("id".into(), serde_json::Value::String(id.to_string()));
    }
    // A placeholder: the store assigns the real number.
    object.insert("version".into(), serde_json::Value::from(1));
    let mut form: Form = serde_json::from_value(definition)
        .map_err(|e| invalid(format!("not a form definition: {e}")))?;
    if let Err(errors) = validate_definition(&form) {
        return Err(CatalogueError::Problems {
            summary: format!("the form definition has {} problem(s)", errors.len()),
            problems: errors
                .into_iter()
                .map(|e| Problem {
                    line: None,
                    path: Some(e.path),
                    message: e.message,
                })
                .collect(),
        });
    }
    let audit = |version: u32| {
        who.entry(
            "form.upload",
            Some(form.id.to_string()),
            json!({ "event_id": event_id, "version": version, "title": form.title }),
        )
    };
    let version = store.add_form_version(event_id, &form, audit).await?;
    form.version = version;
    Ok(FormVersion {
        id: form.id,
        version,
        title: form.title,
        created_at: crate::state::now(),
    })
}

// ---------------------------------------------------------------------------------------------
// CSV import
// ---------------------------------------------------------------------------------------------

/// Imports a CSV file of attendees and tickets into `event_id`, whole or not at all (see
/// [`crate::import`] for the format). Tickets without a code get one signed with `key`. The
/// audit entry names the file when there is one (`sync-server admin import`).
#[allow(clippy::too_many_arguments)]
pub async fn import_csv<S: Store>(
    store: &S,
    event_id: EventId,
    bytes: &[u8],
    file: Option<&str>,
    key: &SecretKey,
    hlc: Hlc,
    progress: &mut (dyn FnMut(u64) + Send),
    who: &Who,
) -> Result<ImportSummary, CatalogueError> {
    event(store, event_id).await?;
    let types = store.ticket_types(event_id).await?;
    let started = std::time::Instant::now();
    // Parsing and checking 100,000 rows takes a while: not on an async worker's time.
    let rows = cpu_bound(|| crate::import::parse(bytes, &types, progress)).map_err(csv_problems)?;
    let parsed = started.elapsed();
    let windows: HashMap<TicketTypeId, (Option<UnixMillis>, Option<UnixMillis>)> = types
        .iter()
        .map(|t| (t.id, (t.valid_from, t.valid_until)))
        .collect();
    let issue = |ticket_id: TicketId, ticket_type_id: TicketTypeId| {
        let (valid_from, valid_until) = windows.get(&ticket_type_id).copied().unwrap_or_default();
        issue_server_code(
            event_id,
            &CodeClaims {
                ticket_id,
                ticket_type_id,
                valid_from,
                valid_until,
            },
            key,
        )
        .map(|code| code.as_str().to_owned())
        .map_err(|e| e.to_string())
    };
    let audit = |summary: &ImportSummary| {
        let details = match file {
            Some(file) => json!({ "file": file, "summary": summary }),
            None => json!(summary),
        };
        who.entry("import.csv", Some(event_id.to_string()), details)
    };
    match store
        .import_tickets(event_id, &rows, hlc, &issue, audit)
        .await?
    {
        ImportOutcome::Imported(summary) => {
            tracing::info!(
                event = %event_id,
                rows = summary.rows,
                created = summary.created,
                updated = summary.updated,
                check_ms = parsed.as_millis() as u64,
                total_ms = started.elapsed().as_millis() as u64,
                "csv import"
            );
            Ok(summary)
        }
        ImportOutcome::Rejected(errors) => Err(csv_problems(errors)),
    }
}

/// Runs CPU-heavy work where it does not hold up other requests: on a multi-threaded runtime the
/// worker hands its other tasks over while `work` runs (`block_in_place`); elsewhere (the
/// command line, single-threaded tests) it just runs.
pub(crate) fn cpu_bound<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

fn csv_problems(errors: Vec<crate::import::LineError>) -> CatalogueError {
    CatalogueError::Problems {
        summary: format!(
            "the CSV file has {} problem(s); nothing was imported",
            errors.len()
        ),
        problems: errors
            .into_iter()
            .map(|e| Problem {
                line: Some(e.line),
                path: None,
                message: e.message,
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// Ticket status
// ---------------------------------------------------------------------------------------------

/// What an admin does to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketAction {
    /// The booking was canceled (refund, no-show policy).
    Cancel,
    /// The ticket must not be admitted (abuse, a leaked code).
    Revoke,
    /// Valid again.
    Reinstate,
}

impl TicketAction {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cancel" => Some(Self::Cancel),
            "revoke" => Some(Self::Revoke),
            "reinstate" => Some(Self::Reinstate),
            _ => None,
        }
    }

    pub fn status(self) -> TicketStatus {
        match self {
            Self::Cancel => TicketStatus::Canceled,
            Self::Revoke => TicketStatus::Revoked,
            Self::Reinstate => TicketStatus::Valid,
        }
    }

    pub fn audit_action(self) -> &'static str {
        match self {
            Self::Cancel => "ticket.cancel",
            Self::Revoke => "ticket.revoke",
            Self::Reinstate => "ticket.reinstate",
        }
    }
}

/// Sets a ticket's status; kiosks hear of it through the feed. Setting the status it has already
/// is a no-op (`changed: false`).
pub async fn change_ticket_status<S: Store>(
    store: &S,
    ticket_id: TicketId,
    action: TicketAction,
    hlc: Hlc,
    who: &Who,
) -> Result<StatusChange, ApiError> {
    let audit = |change: &StatusChange| {
        who.entry(
            action.audit_action(),
            Some(ticket_id.to_string()),
            json!(change),
        )
    };
    Ok(store
        .set_ticket_status(ticket_id, action.status(), hlc, audit)
        .await?)
}

// ---------------------------------------------------------------------------------------------
// Enrolment tokens
// ---------------------------------------------------------------------------------------------

/// A request for an enrolment token.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEnrolmentToken {
    /// Bind the kiosk to this gate.
    #[serde(default)]
    pub gate_id: Option<GateId>,
    /// Shown in the device list until the kiosk names itself.
    #[serde(default)]
    pub label: Option<String>,
    /// Minutes until the token expires (default 60, at most a week).
    #[serde(default)]
    pub expires_in_minutes: Option<u64>,
    /// The address kiosks reach this server at (default: from the request).
    #[serde(default)]
    pub server_url: Option<String>,
}

/// A created enrolment token: shown once, only its hash is stored.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnrolmentTokenCreated {
    pub token: String,
    pub event_id: EventId,
    pub gate_id: Option<GateId>,
    pub label: String,
    pub expires_at: UnixMillis,
    /// The text of the enrolment QR code.
    pub qr_text: String,
}

fn check_server_url(url: &str) -> Result<String, ApiError> {
    let url = url.trim().trim_end_matches('/');
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 200
        && url.len() > "https://".len()
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(url.to_owned())
    } else {
        Err(invalid(
            "server_url must be an http:// or https:// address kiosks can reach",
        ))
    }
}

pub async fn create_enrolment_token<S: Store>(
    store: &S,
    event_id: EventId,
    request: NewEnrolmentToken,
    default_server_url: Option<String>,
    who: &Who,
) -> Result<EnrolmentTokenCreated, ApiError> {
    event(store, event_id).await?;
    let server_url = request
        .server_url
        .or(default_server_url)
        .ok_or_else(|| invalid("server_url is needed: the address kiosks reach this server at"))?;
    let server_url = check_server_url(&server_url)?;
    let minutes = request.expires_in_minutes.unwrap_or(DEFAULT_TOKEN_MINUTES);
    if !(1..=MAX_TOKEN_MINUTES).contains(&minutes) {
        return Err(invalid(format!(
            "expires_in_minutes must be 1 to {MAX_TOKEN_MINUTES}"
        )));
    }
    let label = request.label.unwrap_or_default().trim().to_owned();
    if label.chars().count() > 120 || label.chars().any(char::is_control) {
        return Err(invalid(
            "label must be at most 120 characters without control characters",
        ));
    }
    if let Some(gate_id) = request.gate_id
        && !store
            .gates(event_id)
            .await?
            .iter()
            .any(|gate| gate.id == gate_id)
    {
        return Err(invalid(format!(
            "gate {gate_id} is not a gate of this event"
        )));
    }
    let (token, hash) = crate::auth::new_token();
    let expires_at = crate::state::now().plus_millis(minutes * 60_000);
    let audit = who.entry(
        "enrolment_token.create",
        Some(event_id.to_string()),
        json!({ "gate_id": request.gate_id, "label": label, "expires_at": expires_at }),
    );
    store
        .create_enrolment_token(hash, event_id, request.gate_id, &label, expires_at, &audit)
        .await?;
    let qr_text = EnrolmentInvite {
        server_url,
        token: token.clone(),
    }
    .to_qr_text();
    Ok(EnrolmentTokenCreated {
        token,
        event_id,
        gate_id: request.gate_id,
        label,
        expires_at,
        qr_text,
    })
}

/// `text` as a QR code drawn with Unicode half blocks (two modules per character cell), dark on a
/// light terminal background, with the quiet zone.
pub fn qr_for_terminal(text: &str) -> Result<String, String> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| format!("cannot make a QR code: {e}"))?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones() {
        for ok in [
            "UTC",
            "Europe/Berlin",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+2",
            "America/Port-au-Prince",
        ] {
            assert!(plausible_time_zone(ok), "{ok}");
        }
        for bad in [
            "",
            "Berlin",
            "Europe/",
            "europe/berlin",
            "Mars/Olympus",
            "Europe/Berlin/x/y",
            "Europe/Ber lin",
            "Europe/../etc/passwd",
            "CET; drop table",
        ] {
            assert!(!plausible_time_zone(bad), "{bad}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(check_name("a gate", "  North ").unwrap(), "North");
        assert!(check_name("a gate", "   ").is_err());
        assert!(check_name("a gate", &"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(check_name("a gate", "a\u{7}b").is_err());
    }

    #[test]
    fn patches_tell_null_from_absent() {
        let patch: TicketTypePatch = serde_json::from_str(r#"{"valid_from": null}"#).unwrap();
        assert_eq!(patch.valid_from, Some(None));
        assert_eq!(patch.valid_until, None);
        assert!(serde_json::from_str::<TicketTypePatch>(r#"{"nmae": "x"}"#).is_err());
    }

    #[test]
    fn enrolment_qr_renders_with_half_blocks() {
        let text = EnrolmentInvite {
            server_url: "https://sync.example.org".into(),
            token: "q7Xv2Lk9PzN4mW8rT1yB".into(),
        }
        .to_qr_text();
        let drawn = qr_for_terminal(&text).unwrap();
        assert!(drawn.contains('▀') || drawn.contains('▄'));
        assert!(drawn.lines().count() > 10);
    }
}
