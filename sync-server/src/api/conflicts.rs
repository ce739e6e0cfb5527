//! Conflicts for coordinators: `GET /api/v1/admin/events/{id}/conflicts` (filter by `status`
//! and `kind`) and `POST /api/v1/admin/conflicts/{id}/resolve`; and for kiosks,
//! `GET /api/v1/conflicts`, the open conflicts of the kiosk's own event (kinds and record ids
//! only: the kiosk names them from its package).
//!
//! Coordinators and admins may both list and resolve. Each resolution is audited as
//! `conflict.resolve`. The body of a resolution names its `action`, which must fit the kind:
//!
//! | kind | actions |
//! |---|---|
//! | `double_admission`, `admitted_while_canceled`, `admitted_while_revoked`, `parked_ticket`, `unfiled_change` | `{"action":"reviewed","note":"..."}` |
//! | `possible_duplicate` | `{"action":"merge","keep":"<attendee id>"}`, `{"action":"not_duplicate"}` |
//! | `field_conflict` | `{"action":"pick","side":"overwritten"\|"overwriting"}` or `{"action":"pick","value":...}` |

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sync_protocol::ids::{ConflictId, EventId};
use uuid::Uuid;

use sync_protocol::wire::{ConflictNotice, MAX_CONFLICT_NOTICES, OpenConflicts};

use crate::auth::Device;
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::staff::Staff;
use crate::state::AppState;
use crate::store::{
    AuditEntry, ConflictFilter, ConflictRecord, ConflictStatus, Resolution, Store, Who,
};

/// A list of conflicts.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConflictList {
    pub conflicts: Vec<ConflictRecord>,
}

pub(crate) fn parse_event(id: &str) -> Result<EventId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::Validation(format!("{id:?} is not an event id")))
}

fn parse_conflict(id: &str) -> Result<Uuid, ApiError> {
    id.parse()
        .map_err(|_| ApiError::Validation(format!("{id:?} is not a conflict id")))
}

/// `GET /api/v1/admin/events/{id}/conflicts?status=open&kind=double_admission&limit=100`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/events/{id}/conflicts",
    tag = "conflicts",
    summary = "The event's conflicts, oldest first (staff).",
    params(("id" = EventId, Path, description = "The event."), ConflictFilter),
    responses(
        (status = 200, description = "The conflicts.", body = ConflictList)
    ),
    security(("staff_session" = []))
)]
pub async fn list<S: Store>(
    State(state): State<AppState<S>>,
    _staff: Staff,
    Path(event_id): Path<String>,
    ApiQuery(filter): ApiQuery<ConflictFilter>,
) -> Result<ApiJson<ConflictList>, ApiError> {
    let event_id = parse_event(&event_id)?;
    let conflicts = state.store.list_conflicts(event_id, &filter).await?;
    Ok(ApiJson(ConflictList { conflicts }))
}

/// `GET /api/v1/conflicts`: the open conflicts of the calling kiosk's event, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/conflicts",
    tag = "kiosk",
    summary = "The open conflicts of the kiosk's event, oldest first, for its coordinator screen.",
    responses(
        (status = 200, description = "At most 100, and how many are open in all.", body = OpenConflicts)
    ),
    security(("device_token" = []))
)]
pub async fn open_for_device<S: Store>(
    State(state): State<AppState<S>>,
    Device(device): Device,
) -> Result<ApiJson<OpenConflicts>, ApiError> {
    let filter = ConflictFilter {
        status: Some(ConflictStatus::Open),
        kind: None,
        limit: Some(MAX_CONFLICT_NOTICES),
    };
    let conflicts = state
        .store
        .list_conflicts(device.event_id, &filter)
        .await?
        .into_iter()
        .map(|c| ConflictNotice {
            id: c.id,
            kind: c.kind,
            at: c.at,
            detected_at: c.detected_at,
            records: c.records,
        })
        .collect();
    let total_open = state.store.count_open_conflicts(device.event_id).await?;
    Ok(ApiJson(OpenConflicts {
        conflicts,
        total_open,
    }))
}

/// `GET /api/v1/admin/conflicts/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/conflicts/{id}",
    tag = "conflicts",
    summary = "One conflict (staff).",
    params(("id" = ConflictId, Path, description = "The conflict.")),
    responses(
        (status = 200, description = "The conflict.", body = ConflictRecord)
    ),
    security(("staff_session" = []))
)]
pub async fn show<S: Store>(
    State(state): State<AppState<S>>,
    _staff: Staff,
    Path(id): Path<String>,
) -> Result<ApiJson<ConflictRecord>, ApiError> {
    let id = parse_conflict(&id)?;
    let conflict = state
        .store
        .conflict(id)
        .await?
        .ok_or(ApiError::NotFound("conflict"))?;
    Ok(ApiJson(conflict))
}

/// The audit entry of `who` resolving conflict `id`, made from the resolved record (the HTTP API
/// and `sync-server admin conflict resolve` write the same).
pub fn resolution_audit(
    who: &Who,
    id: uuid::Uuid,
) -> impl FnOnce(&ConflictRecord) -> AuditEntry + Send + use<> {
    let who = who.clone();
    move |resolved| {
        who.entry(
            "conflict.resolve",
            Some(id.to_string()),
            json!({
                "event_id": resolved.event_id,
                "kind": resolved.kind,
                "resolution": resolved.resolution,
            }),
        )
    }
}

/// `POST /api/v1/admin/conflicts/{id}/resolve`: the resolved conflict.
#[utoipa::path(
    post,
    path = "/api/v1/admin/conflicts/{id}/resolve",
    tag = "conflicts",
    summary = "Resolves an open conflict, with its effects (staff).",
    params(("id" = ConflictId, Path, description = "The conflict.")),
    request_body = Resolution,
    responses(
        (status = 200, description = "The resolved conflict.", body = ConflictRecord)
    ),
    security(("staff_session" = []))
)]
pub async fn resolve<S: Store>(
    State(state): State<AppState<S>>,
    staff: Staff,
    Path(id): Path<String>,
    ApiJson(resolution): ApiJson<Resolution>,
) -> Result<ApiJson<ConflictRecord>, ApiError> {
    let id = parse_conflict(&id)?;
    crate::catalogue::refuse_nul("a resolution", &resolution)?;
    let resolved = state
        .store
        .resolve_conflict(
            id,
            &resolution,
            &staff.username,
            state.tick(),
            resolution_audit(&staff.who(), id),
        )
        .await?;
    Ok(ApiJson(resolved))
}
