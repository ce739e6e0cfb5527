//! The admin catalogue over HTTP, under `/api/v1/admin`: events, ticket types, gates, form
//! versions, CSV imports, ticket status, enrolment tokens and the device list.
//!
//! Handlers are thin: they check the role and call [`crate::catalogue`] as the staff member, whose
//! audit entry is written in the change's own transaction.
//! Everything is for admins, except the device list, which coordinators may read too.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::json;
use sync_protocol::ids::{DeviceId, EventId, GateId, TicketId, TicketTypeId};
use sync_protocol::model::{Event, Gate, TicketType};

use crate::catalogue::{
    self, CatalogueError, EnrolmentTokenCreated, EventPatch, GatePatch, NewEnrolmentToken,
    NewEvent, NewGate, NewTicketType, ProblemsBody, TicketAction, TicketTypePatch,
};
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::staff::Staff;
use crate::state::AppState;
use crate::store::{DeviceRecord, FormVersion, ImportSummary, StatusChange, Store, TicketRecord};

/// A staff member with the admin role. Checked before the body is read, so a coordinator gets
/// `403` whatever the body holds.
pub struct Admin(pub Staff);

impl<S: Store> FromRequestParts<AppState<S>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState<S>,
    ) -> Result<Self, Self::Rejection> {
        let staff = Staff::from_request_parts(parts, state).await?;
        staff.require_admin()?;
        Ok(Admin(staff))
    }
}

/// An id from the path; a malformed one answers 404, like an unknown one.
fn id<T: std::str::FromStr>(text: &str, what: &'static str) -> Result<T, ApiError> {
    text.parse().map_err(|_| ApiError::NotFound(what))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/events",
    tag = "catalogue",
    summary = "Every event, newest start first (admin).",
    responses(
        (status = 200, description = "The events.", body = Vec<Event>)
    ),
    security(("staff_session" = []))
)]
pub async fn list_events<S: Store>(
    State(state): State<AppState<S>>,
    _admin: Admin,
) -> Result<ApiJson<Vec<Event>>, ApiError> {
    Ok(ApiJson(state.store.list_events().await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/events",
    tag = "catalogue",
    summary = "Creates an event (admin).",
    request_body = NewEvent,
    responses(
        (status = 201, description = "The event.", body = Event)
    ),
    security(("staff_session" = []))
)]
pub async fn create_event<S: Store>(
    State(state): State<AppState<S>>,
    Admin(staff): Admin,
    ApiJson(new): ApiJson<NewEvent>,
) -> Result<(StatusCode, ApiJson<Event>), ApiError> {
    let event = catalogue::create_event(&state.store, new, &staff.who()).await?;
    Ok((StatusCode::CREATED, ApiJson(event)))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/events/{id}",
    tag = "catalogue",
    summary = "One event (admin).",
    params(("id" = EventId, Path, description = "The event.")),
    responses(
        (status = 200, description = "The event.", body = Event)
    ),
    security(("staff_session" = []))
)]
pub async fn get_event<S: Store>(
    State(state): State<AppState<S>>,
    _admin: Admin,
    Path(event_id): Path<String>,
) -> Result<ApiJson<Event>, ApiError> {
    let event_id: EventId = id(&event_id, "event")?;
    Ok(ApiJson(catalogue::event(&state.store, event_id).await?))
}

#[utoipa::path(
    patch,
    path = "/api/v1/admin/events/{id}",
    tag = "catalogue",
    summary = "Changes an event; absent fields stay (admin).",
    params(("id" = EventId, Path, description = "The event.")),
    request_body = EventPatch,
    responses(
        (status = 200, description = "The event as changed.", body = Event)
    ),
    security(("staff_session" = []))
)]
pub async fn update_event<S: Store>(
    State(state): State<AppState<S>>,
    Admin(staff): Admin,
    Path(event_id): Path<String>,
    ApiJson(patch): ApiJson<EventPatch>,
) -> Result<ApiJson<Event>, ApiError> {
    let event_id: EventId = id(&event_id, "event")?;
    let event = catalogue::update_event(&state.store, event_id, patch, &staff.who()).await?;
    Ok(ApiJson(event))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/events/{id}/ticket-types",
    tag = "catalogue",
    summary = "The event's ticket types (admin).",
    params(("id" = EventId, Path, description = "The event.")),
    responses(
        (status = 200, description = "The ticket types.", body = Vec<TicketType>)
    ),
    security(("staff_session" = []))
)]
pub async fn list_ticket_types<S: Store>(
    State(state): State<AppState<S>>,
    _admin: Admin,
    Path(event_id): Path<String>,
) -> Result<ApiJson<Vec<TicketType>>, ApiError> {
    let event_id: EventId = id(&event_id, "event")?;
    catalogue::event(&state.store, event_id).await?;
    Ok(ApiJson(state.store.ticket_types(event_id).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/events/{id}/ticket-types",
    tag = "catalogue",
    summary = "Creates a ticket type (admin).",
    params(("id" = EventId, Path, description = "The event.")),
    request_body = NewTicketType,
    responses(
        (status = 201, description = "The ticket type.", body = TicketType)
    ),
    security(("staff_session" = []))
)]
pub async fn create_ticket_type<S: Store>(
    State(state): State<AppState<S>>,
    Admin(staff): Admin,
    Path(event_id): Path<String>,
    ApiJson(new): ApiJson<NewTicketType>,
) -> Result<(StatusCode, ApiJson<TicketType>), ApiError> {
    let event_id: EventId = id(&event_id, "event")?;
    let ticket_type =
        catalogue::create_ticket_type(&state.store, event_id, new, &staff.who()).await?;
    Ok((StatusCode::CREATED, ApiJson(ticket_type)))
}

#[utoipa::path(
    patch,
    path = "/api/v1/admin/events/{id}/ticket-types/{type_id}",
    tag = "catalogue",
    summary = "Changes a ticket type: an absent field stays, null clears a bound (admin).",
    params(("id" = EventId, Path, description = "The event."), ("type_id" = TicketTypeId, Path, description = "The ticket type.")),
    request_body = TicketTypePatch,
    responses(
        (status = 200, description = "The ticket type as changed.", body = TicketType)
    ),
    security(("staff_session" = []))
)]
pub async fn update_ticket_type<S: Store>(
    State(state): State<AppState<S>>,
    Admin(staff): Admin,
    Path((event_id, type_id)): Path<(String, String)>,
    ApiJson(patch): ApiJson<TicketTypePatch>,
) -> Result<ApiJson<TicketType>, ApiError> {
    let event_id: EventId = id(&event_id, "event")?;
    let type_id: TicketTypeId = id(&type_id, "ticket type")?;
    let ticket_type =
        catalogue::update_ticket_type(&state.store, event_id, type_id, patch, &staff.who()).await?;
    Ok(ApiJson(ticket_type))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/events/{id}/gates",
    tag = "catalogue",
    summary = "The event's gates (admin).",
    params(("id" = EventId, Path, description = "The event.")),
    responses(
        (status = 200, description = "The gates.", body = Vec<Gate>)
    ),
    security(("staff_session" = []))
)]
pub async fn list_gates<S: Store>(
    State(state): State<AppState<S>>,
    _admin: Admin,
    Path(event_id): Path<String>,
) -> Result<ApiJson<Vec<Gate>>, ApiError> {
    let event_id: EventId = id(&event_id, "event")?;
    catalogue::event(&state.store, event_id).await?;
    Ok(ApiJson(state.store.gates(event_id).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/events/{id}/gates",
    tag = "catalogue",
    summary = "Creates a gate (admin).",
    params(("id" = EventId, Path, description = "The event.")),
    request_body = NewGate,
    responses(
        (status = 201, description = "The gate.", body = Gate)
    ),
    security(("staff_session" = []))
)]
pub async fn create_gate<S: Store>(
    State(state): State<AppState<S>>,
    Admin(staff): Admin,
    Path(event_id): Path<String>,
    ApiJson(new): ApiJson<NewGate>,
) -> Result<(StatusCode, ApiJson<Gate>), ApiError> {
    let event_id: EventId = id(&event_id, "event")?;
    let gate = catalogue::create_gate(&state.store, event_id, new, &staff.who()).await?;
    Ok((StatusCode::CREATED, ApiJson(gate)))
}

#[utoipa::path(
    patch,
    path = "/api/v1/admin/events/{id}/gates/{gate_id}",
    tag = "catalogue",
    summary = "Changes a gate; absent fields stay (admin).",
    params(("id" = EventId, Path, description = "The event."), ("gate_id" = GateId, Path, description = "The gate.")),
    request_body = GatePatch,
    responses(
        (status = 200, description = "The gate as changed.", body = Gate)
    ),
    security(("staff_session" = []))
)]
pub async fn update_gate<S: Store>(
    State(state): State<AppState<S>>,
    Admin(staff): Admin,
    Path((event_id, gate_id)): Path<(String, String)>,
    ApiJson(patch): ApiJson<GatePatch>,
) -> Result<ApiJson<Gate>, ApiError> {
    let event_id: EventId = id(&event_id, "event")?;
    let gate_id: GateId = id(&gate_id, "gate")?;
    let gate = catalogue::update_gate(&state.store, event_id, gate_id, patch, &staff.who()).await?;
    Ok(ApiJson(gate))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/events/{id}/forms",
    tag = "catalogue",
    summary = "Every version of every form of the event (admin).",
    params(("id" = EventId, Path, description = "The event.")),
    responses(
        (status = 200, description = "The form versions.", body = Vec<FormVersion>)
    ),
    security(("staff_session" = []))
)]
pub async fn list_forms<S: Store>(
    State(state): State<AppState<S>>,
    _admin: Admin,
    Path(event_id): Path<String>,
) -> Result<ApiJson<Vec<FormVersion>>, ApiError> {
    let event_id: EventId = id(&event_id, "event")?;
    catalogue::event(&state.store, event_id).await?;
    Ok(ApiJson(state.store.form_versions(event_id).await?))
}

/// `POST .../forms`: the body is a form definition; each upload is a new version.
#[utoipa::path(
    post,
    path = "/api/v1/admin/events/{id}/forms",
    tag = "catalogue",
    summary = "Stores a form definition as the next version of its form (admin); see docs/protocol.md for the definition.",
    params(("id" = EventId, Path, description = "The event.")),
    request_body = Object,
    responses(
        (status = 201, description = "The stored version.", body = FormVersion),
        (status = 422, description = "Every problem of the definition.", body = ProblemsBody)
    ),
    security(("staff_session" = []))
)]
pub async fn upload_form<S: Store>(
    State(state): State<AppState<S>>,
    Admin(staff): Admin,
    Path(event_id): Path<String>,
    ApiJson(definition): ApiJson<serde_json::Value>,
) -> Result<(StatusCode, ApiJson<FormVersion>), CatalogueError> {
    let event_id: EventId = id(&event_id, "event")?;
    let form = catalogue::upload_form(&state.store, event_id, definition, &staff.who()).await?;
    Ok((StatusCode::CREATED, ApiJson(form)))
}

/// `POST .../import` with a `text/csv` body: all rows or none.
#[utoipa::path(
    post,
    path = "/api/v1/admin/events/{id}/import",
    tag = "catalogue",
    summary = "Imports a CSV file of attendees and tickets, whole or not at all (admin); see docs/operations.md for the columns.",
    params(("id" = EventId, Path, description = "The event.")),
    request_body(content = String, content_type = "text/csv", description = "UTF-8 CSV with a header row."),
    responses(
        (status = 200, description = "Rows created and updated.", body = ImportSummary),
        (status = 422, description = "Every problem of the file, by line; nothing was imported.", body = ProblemsBody)
    ),
    security(("staff_session" = []))
)]
pub async fn import_csv<S: Store>(
    State(state): State<AppState<S>>,
    Admin(staff): Admin,
    Path(event_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ApiJson<ImportSummary>, CatalogueError> {
    let event_id: EventId = id(&event_id, "event")?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !matches!(
        essence.as_str(),
        "text/csv" | "application/csv" | "text/plain"
    ) {
        return Err(ApiError::Validation(format!(
            "send the file with Content-Type: text/csv (got {:?})",
            content_type.chars().take(60).collect::<String>()
        ))
        .into());
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::InvalidJson(rejection.body_text())
        }
    })?;
    let hlc = state.tick();
    let summary = catalogue::import_csv(
        &state.store,
        event_id,
        &body,
        None,
        &state.signing_key,
        hlc,
        &mut |_| {},
        &staff.who(),
    )
    .await?;
    Ok(ApiJson(summary))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketsQuery {
    pub after: Option<TicketId>,
    pub limit: Option<u32>,
}

/// `GET .../tickets?after=ID&limit=N`: tickets with their attendees, in id order.
#[utoipa::path(
    get,
    path = "/api/v1/admin/events/{id}/tickets",
    tag = "catalogue",
    summary = "Tickets with their attendees, in id order (admin).",
    params(("id" = EventId, Path, description = "The event."), TicketsQuery),
    responses(
        (status = 200, description = "A page of tickets.", body = Vec<TicketRecord>)
    ),
    security(("staff_session" = []))
)]
pub async fn list_tickets<S: Store>(
    State(state): State<AppState<S>>,
    _admin: Admin,
    Path(event_id): Path<String>,
    ApiQuery(query): ApiQuery<TicketsQuery>,
) -> Result<ApiJson<Vec<TicketRecord>>, ApiError> {
    let event_id: EventId = id(&event_id, "event")?;
    catalogue::event(&state.store, event_id).await?;
    let limit = query.limit.unwrap_or(500).clamp(1, 5000);
    Ok(ApiJson(
        state.store.tickets(event_id, query.after, limit).await?,
    ))
}

/// `POST /admin/tickets/{id}/{cancel|revoke|reinstate}`.
#[utoipa::path(
    post,
    path = "/api/v1/admin/tickets/{ticket_id}/{action}",
    tag = "catalogue",
    summary = "Cancels, revokes or reinstates a ticket; kiosks hear of it through the feed (admin).",
    params(("ticket_id" = TicketId, Path, description = "The ticket."), ("action" = TicketAction, Path, description = "What to do.")),
    responses(
        (status = 200, description = "What changed.", body = StatusChange)
    ),
    security(("staff_session" = []))
)]
pub async fn ticket_status<S: Store>(
    State(state): State<AppState<S>>,
    Admin(staff): Admin,
    Path((ticket_id, action)): Path<(String, String)>,
) -> Result<ApiJson<StatusChange>, ApiError> {
    let action = TicketAction::parse(&action).ok_or(ApiError::NotFound("action"))?;
    let ticket_id: TicketId = id(&ticket_id, "ticket")?;
    let change = catalogue::change_ticket_status(
        &state.store,
        ticket_id,
        action,
        state.tick(),
        &staff.who(),
    )
    .await?;
    Ok(ApiJson(change))
}

/// The address the client used to reach us, as a default for the enrolment QR code.
fn request_url(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    Some(format!("{scheme}://{host}"))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/events/{id}/enrolment-tokens",
    tag = "catalogue",
    summary = "A one-time enrolment token and its QR text (admin); shown once.",
    params(("id" = EventId, Path, description = "The event.")),
    request_body = NewEnrolmentToken,
    responses(
        (status = 201, description = "The token.", body = EnrolmentTokenCreated)
    ),
    security(("staff_session" = []))
)]
pub async fn create_enrolment_token<S: Store>(
    State(state): State<AppState<S>>,
    Admin(staff): Admin,
    Path(event_id): Path<String>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<NewEnrolmentToken>,
) -> Result<(StatusCode, ApiJson<EnrolmentTokenCreated>), ApiError> {
    let event_id: EventId = id(&event_id, "event")?;
    let created = catalogue::create_enrolment_token(
        &state.store,
        event_id,
        request,
        request_url(&headers),
        &staff.who(),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(created)))
}

/// `GET .../devices` (admins and coordinators).
#[utoipa::path(
    get,
    path = "/api/v1/admin/events/{id}/devices",
    tag = "catalogue",
    summary = "The event's kiosks (admins and coordinators).",
    params(("id" = EventId, Path, description = "The event.")),
    responses(
        (status = 200, description = "The kiosks.", body = Vec<DeviceRecord>)
    ),
    security(("staff_session" = []))
)]
pub async fn list_devices<S: Store>(
    State(state): State<AppState<S>>,
    _staff: Staff,
    Path(event_id): Path<String>,
) -> Result<ApiJson<Vec<DeviceRecord>>, ApiError> {
    let event_id: EventId = id(&event_id, "event")?;
    catalogue::event(&state.store, event_id).await?;
    Ok(ApiJson(state.store.devices(event_id).await?))
}

/// `POST /admin/devices/{id}/revoke`: its token stops working at once; kiosks hear of it.
#[utoipa::path(
    post,
    path = "/api/v1/admin/devices/{device_id}/revoke",
    tag = "catalogue",
    summary = "Revokes a kiosk: its token stops working at once and kiosks hear of it (admin).",
    params(("device_id" = DeviceId, Path, description = "The kiosk.")),
    responses(
        (status = 204, description = "Revoked.")
    ),
    security(("staff_session" = []))
)]
pub async fn revoke_device<S: Store>(
    State(state): State<AppState<S>>,
    Admin(staff): Admin,
    Path(device_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let device_id: DeviceId = id(&device_id, "device")?;
    let audit = staff.audit("device.revoke", Some(device_id.to_string()), json!({}));
    state.store.revoke_device(device_id, &audit).await?;
    Ok(StatusCode::NO_CONTENT)
}
