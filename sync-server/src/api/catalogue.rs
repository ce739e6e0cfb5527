//! The admin catalogue over HTTP, under `/api/v1/admin`: events, ticket types, gates, form
//! versions, CSV imports, ticket status, enrolment tokens and the device list.
//!
//! Handlers are thin: they check the role and call [`crate::catalogue`] as the staff member, whose
//! audit entry is written in the change's own transaction.
//! Everything is for admins, except the device list, which coordinators may read too.

use axum::Router;
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
    NewEvent, NewGate, NewTicketType, TicketAction, TicketTypePatch,
};
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::staff::Staff;
use crate::state::AppState;
use crate::store::{DeviceRecord, FormVersion, ImportSummary, StatusChange, Store, TicketRecord};

/// The catalogue's routes, added to the `/api/v1` router. Event ids are `{id}` in every
/// `/admin/events/{id}/...` path (axum refuses two names for one segment).
pub fn routes<S: Store>(api: Router<AppState<S>>) -> Router<AppState<S>> {
    use axum::routing::{get, patch, post};
    api.route(
        "/admin/events",
        get(list_events::<S>).post(create_event::<S>),
    )
    .route(
        "/admin/events/{id}",
        get(get_event::<S>).patch(update_event::<S>),
    )
    .route(
        "/admin/events/{id}/ticket-types",
        get(list_ticket_types::<S>).post(create_ticket_type::<S>),
    )
    .route(
        "/admin/events/{id}/ticket-types/{type_id}",
        patch(update_ticket_type::<S>),
    )
    .route(
        "/admin/events/{id}/gates",
        get(list_gates::<S>).post(create_gate::<S>),
    )
    .route(
        "/admin/events/{id}/gates/{gate_id}",
        patch(update_gate::<S>),
    )
    .route(
        "/admin/events/{id}/forms",
        get(list_forms::<S>).post(upload_form::<S>),
    )
    .route("/admin/events/{id}/import", post(import_csv::<S>))
    .route("/admin/events/{id}/tickets", get(list_tickets::<S>))
    .route(
        "/admin/events/{id}/enrolment-tokens",
        post(create_enrolment_token::<S>),
    )
    .route("/admin/events/{id}/devices", get(list_devices::<S>))
    .route(
        "/admin/tickets/{ticket_id}/{action}",
        post(ticket_status::<S>),
    )
    .route(
        "/admin/devices/{device_id}/revoke",
        post(revoke_device::<S>),
    )
}

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

pub async fn list_events<S: Store>(
    State(state): State<AppState<S>>,
    _admin: Admin,
) -> Result<ApiJson<Vec<Event>>, ApiError> {
    Ok(ApiJson(state.store.list_events().await?))
}

pub async fn create_event<S: Store>(
    State(state): State<AppState<S>>,
    Admin(staff): Admin,
    ApiJson(new): ApiJson<NewEvent>,
) -> Result<(StatusCode, ApiJson<Event>), ApiError> {
    let event = catalogue::create_event(&state.store, new, &staff.who()).await?;
    Ok((StatusCode::CREATED, ApiJson(event)))
}

pub async fn get_event<S: Store>(
    State(state): State<AppState<S>>,
    _admin: Admin,
    Path(event_id): Path<String>,
) -> Result<ApiJson<Event>, ApiError> {
    let event_id: EventId = id(&event_id, "event")?;
    Ok(ApiJson(catalogue::event(&state.store, event_id).await?))
}

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

pub async fn list_ticket_types<S: Store>(
    State(state): State<AppState<S>>,
    _admin: Admin,
    Path(event_id): Path<String>,
) -> Result<ApiJson<Vec<TicketType>>, ApiError> {
    let event_id: EventId = id(&event_id, "event")?;
    catalogue::event(&state.store, event_id).await?;
    Ok(ApiJson(state.store.ticket_types(event_id).await?))
}

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

pub async fn list_gates<S: Store>(
    State(state): State<AppState<S>>,
    _admin: Admin,
    Path(event_id): Path<String>,
) -> Result<ApiJson<Vec<Gate>>, ApiError> {
    let event_id: EventId = id(&event_id, "event")?;
    catalogue::event(&state.store, event_id).await?;
    Ok(ApiJson(state.store.gates(event_id).await?))
}

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

#[derive(Debug, Deserialize)]
pub struct TicketsQuery {
    pub after: Option<TicketId>,
    pub limit: Option<u32>,
}

/// `GET .../tickets?after=ID&limit=N`: tickets with their attendees, in id order.
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
