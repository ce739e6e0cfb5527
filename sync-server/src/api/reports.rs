//! Reports for coordinators: CSV exports of check-ins and registrations, and counts per gate
//! and per hour.
//!
//! - `GET /api/v1/admin/events/{id}/export/check-ins.csv`: every check-in and failed scan, in
//!   HLC order, annulled ones included (with `annulled=true`): the export is the record.
//! - `GET /api/v1/admin/events/{id}/export/registrations.csv`: one line per attendee and ticket,
//!   with `merged_into` for merged duplicates and the first admission.
//! - `GET /api/v1/admin/events/{id}/export/badge-prints.csv`: the badge print log (admissions
//!   that printed a badge, and coordinators' reprints), in HLC order.
//! - `GET /api/v1/admin/events/{id}/stats`: [`EventStats`] as JSON.
//!
//! Times in the CSV are UTC, RFC 3339 with milliseconds (spreadsheets read them); the HLC column
//! is the packed stamp that orders the check-ins. The CSV writer is here, shared with the
//! `sync-server admin export` command.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use sync_protocol::UnixMillis;
use sync_protocol::ids::EventId;

use super::conflicts::parse_event;
use crate::error::{ApiError, ApiJson};
use crate::staff::Staff;
use crate::state::AppState;
use crate::store::{BadgePrintExport, CheckInExport, EventStats, RegistrationExport, Store};

fn csv_response(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/events/{id}/export/check-ins.csv",
    tag = "reports",
    summary = "Every check-in and failed scan of the event as CSV (staff).",
    params(("id" = EventId, Path, description = "The event.")),
    responses(
        (status = 200, description = "The CSV file.", body = String, content_type = "text/csv")
    ),
    security(("staff_session" = []))
)]
pub async fn check_ins_csv<S: Store>(
    State(state): State<AppState<S>>,
    _staff: Staff,
    Path(event_id): Path<String>,
) -> Result<Response, ApiError> {
    let event_id = parse_event(&event_id)?;
    let rows = state.store.export_check_ins(event_id).await?;
    Ok(csv_response("check-ins.csv", check_ins_to_csv(&rows)))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/events/{id}/export/registrations.csv",
    tag = "reports",
    summary = "Every attendee and walk-in of the event as CSV (staff).",
    params(("id" = EventId, Path, description = "The event.")),
    responses(
        (status = 200, description = "The CSV file.", body = String, content_type = "text/csv")
    ),
    security(("staff_session" = []))
)]
pub async fn registrations_csv<S: Store>(
    State(state): State<AppState<S>>,
    _staff: Staff,
    Path(event_id): Path<String>,
) -> Result<Response, ApiError> {
    let event_id = parse_event(&event_id)?;
    let rows = state.store.export_registrations(event_id).await?;
    Ok(csv_response(
        "registrations.csv",
        registrations_to_csv(&rows),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/events/{id}/export/badge-prints.csv",
    tag = "reports",
    summary = "The event's badge print log as CSV (staff).",
    params(("id" = EventId, Path, description = "The event.")),
    responses(
        (status = 200, description = "The CSV file.", body = String, content_type = "text/csv")
    ),
    security(("staff_session" = []))
)]
pub async fn badge_prints_csv<S: Store>(
    State(state): State<AppState<S>>,
    _staff: Staff,
    Path(event_id): Path<String>,
) -> Result<Response, ApiError> {
    let event_id = parse_event(&event_id)?;
    let rows = state.store.export_badge_prints(event_id).await?;
    Ok(csv_response("badge-prints.csv", badge_prints_to_csv(&rows)))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/events/{id}/stats",
    tag = "reports",
    summary = "Check-in counts of the event by gate and hour (staff).",
    params(("id" = EventId, Path, description = "The event.")),
    responses(
        (status = 200, description = "The counts.", body = EventStats)
    ),
    security(("staff_session" = []))
)]
pub async fn stats<S: Store>(
    State(state): State<AppState<S>>,
    _staff: Staff,
    Path(event_id): Path<String>,
) -> Result<ApiJson<EventStats>, ApiError> {
    let event_id = parse_event(&event_id)?;
    Ok(ApiJson(state.store.event_stats(event_id).await?))
}

/// One CSV field: quoted when it holds a comma, quote or line break. A field that a
/// spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) gets a leading `'`.
fn field(out: &mut String, value: &str) {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&value);
    }
}

fn line(out: &mut String, fields: &[String]) {
    for (i, value) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(out, value);
    }
    out.push_str("\r\n");
}

/// RFC 3339 UTC with milliseconds, from Unix milliseconds (civil-from-days, no time crate).
pub fn rfc3339(ms: UnixMillis) -> String {
    let ms = ms.as_u64();
    let (days, rem) = ((ms / 86_400_000) as i64, ms % 86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

fn opt<T: ToString>(value: &Option<T>) -> String {
    value.as_ref().map(T::to_string).unwrap_or_default()
}

/// The check-ins export as CSV.
pub fn check_ins_to_csv(rows: &[CheckInExport]) -> String {
    let mut out = String::new();
    line(
        &mut out,
        &[
            "check_in_id",
            "ticket_id",
            "attendee_id",
            "attendee_name",
            "gate_id",
            "gate_name",
            "direction",
            "verdict",
            "offline",
            "failed_scan",
            "annulled",
            "scanned_at",
            "hlc",
            "device_id",
            "device_label",
            "found_by",
        ]
        .map(str::to_owned),
    );
    for r in rows {
        line(
            &mut out,
            &[
                r.id.to_string(),
                opt(&r.ticket_id),
                opt(&r.attendee_id),
                opt(&r.attendee_name),
                r.gate_id.to_string(),
                opt(&r.gate_name),
                r.direction.clone(),
                r.verdict.clone(),
                r.offline.to_string(),
                r.failed.to_string(),
                r.annulled.to_string(),
                rfc3339(r.scanned_at),
                r.hlc.to_u64().to_string(),
                r.device_id.to_string(),
                opt(&r.device_label),
                r.found_by.clone(),
            ],
        );
    }
    out
}

/// The badge print log as CSV.
pub fn badge_prints_to_csv(rows: &[BadgePrintExport]) -> String {
    let mut out = String::new();
    line(
        &mut out,
        &[
            "ticket_id",
            "attendee_id",
            "attendee_name",
            "gate_id",
            "gate_name",
            "check_in_id",
            "reprint",
            "printed_at",
            "hlc",
            "device_id",
            "device_label",
        ]
        .map(str::to_owned),
    );
    for r in rows {
        line(
            &mut out,
            &[
                r.ticket_id.to_string(),
                opt(&r.attendee_id),
                opt(&r.attendee_name),
                r.gate_id.to_string(),
                opt(&r.gate_name),
                opt(&r.check_in_id),
                r.reprint.to_string(),
                rfc3339(r.printed_at),
                r.hlc.to_u64().to_string(),
                r.device_id.to_string(),
                opt(&r.device_label),
            ],
        );
    }
    out
}

/// The registrations export as CSV.
pub fn registrations_to_csv(rows: &[RegistrationExport]) -> String {
    let mut out = String::new();
    line(
        &mut out,
        &[
            "attendee_id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "ticket_id",
            "ticket_type",
            "ticket_status",
            "walk_in_device",
            "merged_into",
            "first_admitted_at",
            "answers",
        ]
        .map(str::to_owned),
    );
    for r in rows {
        line(
            &mut out,
            &[
                r.attendee_id.to_string(),
                r.first_name.clone(),
                r.last_name.clone(),
                opt(&r.email),
                opt(&r.phone),
                opt(&r.ticket_id),
                opt(&r.ticket_type),
                opt(&r.ticket_status),
                opt(&r.created_by_device),
                opt(&r.merged_into),
                r.first_admitted_at.map(rfc3339).unwrap_or_default(),
                r.answers.to_string(),
            ],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        let mut out = String::new();
        line(
            &mut out,
            &["plain", "a,b", "say \"hi\"", "=1+1", "x\ny"].map(str::to_owned),
        );
        assert_eq!(out, "plain,\"a,b\",\"say \"\"hi\"\"\",'=1+1,\"x\ny\"\r\n");
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(UnixMillis(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(UnixMillis(1_790_000_000_123)),
            "2026-09-21T14:13:20.123Z"
        );
        assert_eq!(
            rfc3339(UnixMillis(951_782_400_000)),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
