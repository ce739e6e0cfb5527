//! Event packages over HTTP.
//!
//! Admins: `POST /api/v1/admin/events/{id}/packages` publishes the next version,
//! `GET /api/v1/admin/events/{id}/packages` lists the stored versions.
//!
//! Kiosks (device token, own event only): `GET /api/v1/package?held=N` answers the latest signed
//! manifest (of the delta when the kiosk holds its base) and the URL of its body;
//! `GET /api/v1/package/{version}/body?base=N` streams that body. Bodies are resumable (`Range`,
//! `If-Range` against the ETag, which is the body's SHA-256) and compressed (the stored gzip form
//! with `Content-Encoding: gzip` when the client accepts it). Ranges are always served on the
//! identity encoding, so a download cut mid-way resumes at the byte count the client decoded.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sync_protocol::ids::EventId;

use crate::auth::Device;
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::packages::{
    PackageOffer, Published, RangeAnswer, accepts_gzip, parse_range, publish as publish_package,
};
use crate::staff::Staff;
use crate::state::{AppState, now};
use crate::store::{PackageStore, PackageSummary, Store, StoreError};

/// Bytes read from the database per step while streaming a body.
const CHUNK: u64 = 1 << 20;

/// Header naming the version a delta body applies to (absent for a full body).
const BASE_HEADER: &str = "gatepass-package-base";

fn event_id(raw: &str) -> Result<EventId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::Validation(format!("{raw:?} is not an event id")))
}

/// `POST /api/v1/admin/events/{id}/packages`
#[utoipa::path(
    post,
    path = "/api/v1/admin/events/{id}/packages",
    tag = "packages",
    summary = "Builds, signs and stores the next package version of the event (admin).",
    params(("id" = EventId, Path, description = "The event.")),
    responses(
        (status = 201, description = "The published version.", body = Published)
    ),
    security(("staff_session" = []))
)]
pub async fn publish<S: Store>(
    State(state): State<AppState<S>>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<(StatusCode, ApiJson<Published>), ApiError> {
    staff.require_admin()?;
    let event_id = event_id(&id)?;
    let published = publish_package(
        &state.store,
        &state.signing_key,
        event_id,
        now(),
        &staff.who(),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(published)))
}

/// `GET /api/v1/admin/events/{id}/packages`
#[utoipa::path(
    get,
    path = "/api/v1/admin/events/{id}/packages",
    tag = "packages",
    summary = "Every stored package body of the event, newest first (admin).",
    params(("id" = EventId, Path, description = "The event.")),
    responses(
        (status = 200, description = "The stored bodies.", body = Vec<PackageSummary>)
    ),
    security(("staff_session" = []))
)]
pub async fn list<S: Store>(
    State(state): State<AppState<S>>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<ApiJson<Vec<PackageSummary>>, ApiError> {
    staff.require_admin()?;
    let event_id = event_id(&id)?;
    Ok(ApiJson(state.store.list_packages(event_id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ManifestQuery {
    /// The version the kiosk holds, if any.
    held: Option<u64>,
}

/// `GET /api/v1/package?held=N`
#[utoipa::path(
    get,
    path = "/api/v1/package",
    tag = "kiosk",
    summary = "The package a kiosk should fetch next and where its body is.",
    params(ManifestQuery),
    responses(
        (status = 200, description = "The offer: a delta when the kiosk holds the version before.", body = PackageOffer)
    ),
    security(("device_token" = []))
)]
pub async fn manifest<S: Store>(
    State(state): State<AppState<S>>,
    Device(device): Device,
    ApiQuery(query): ApiQuery<ManifestQuery>,
) -> Result<ApiJson<PackageOffer>, ApiError> {
    let stored = state
        .store
        .latest_manifest(device.event_id, query.held)
        .await?
        .ok_or(ApiError::NotFound("published package"))?;
    let body_url = match stored.base_version {
        Some(base) => format!("/api/v1/package/{}/body?base={base}", stored.version),
        None => format!("/api/v1/package/{}/body", stored.version),
    };
    Ok(ApiJson(PackageOffer {
        version: stored.version,
        base_version: stored.base_version,
        manifest: stored.signed,
        body_url,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BodyQuery {
    /// The version the kiosk holds: the delta from it is served when one is stored.
    base: Option<u64>,
}

/// `GET /api/v1/package/{version}/body?base=N`
#[utoipa::path(
    get,
    path = "/api/v1/package/{version}/body",
    tag = "kiosk",
    summary = "A package body; supports Range, If-Range and gzip.",
    params(("version" = u64, Path, description = "The package version."), BodyQuery),
    responses(
        (status = 200, description = "The whole body: the bytes whose SHA-256 the signed manifest names, a JSON document (docs/protocol.md).", body = Object, content_type = "application/json"),
        (status = 206, description = "The bytes of the range asked for (`Range: bytes=N-`), to resume a download.", body = String, content_type = "application/json"),
        (status = 416, description = "The range lies beyond the body.")
    ),
    security(("device_token" = []))
)]
pub async fn body<S: Store>(
    State(state): State<AppState<S>>,
    Device(device): Device,
    Path(version): Path<String>,
    ApiQuery(query): ApiQuery<BodyQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let version: u64 = version
        .parse()
        .map_err(|_| ApiError::Validation(format!("{version:?} is not a package version")))?;
    let info = state
        .store
        .package_body_info(device.event_id, version, query.base)
        .await?
        .ok_or(ApiError::NotFound("package version"))?;
    let etag = format!("\"{}\"", info.body_sha256);
    let gzip_etag = format!("\"{}-gzip\"", info.body_sha256);
    let header_str = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };

    // A range whose If-Range names another body is ignored: the whole (new) body is sent.
    let range_header = match header_str(header::IF_RANGE) {
        Some(tag) if tag.trim() != etag && tag.trim() != gzip_etag => None,
        _ => header_str(header::RANGE),
    };
    let range = parse_range(range_header, info.body_len);
    let gzip = range == RangeAnswer::Whole
        && info.body_gzip_len > 0
        && accepts_gzip(header_str(header::ACCEPT_ENCODING));

    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::VARY, "accept-encoding")
        .header(header::CACHE_CONTROL, "private, no-transform")
        .header(header::ETAG, if gzip { &gzip_etag } else { &etag });
    if let Some(base) = info.base_version {
        builder = builder.header(BASE_HEADER, base);
    }
    let (status, start, end) = match range {
        RangeAnswer::Unsatisfiable => {
            return Ok((
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{}", info.body_len))],
            )
                .into_response());
        }
        RangeAnswer::Part { start, end } => {
            builder = builder.header(
                header::CONTENT_RANGE,
                format!("bytes {start}-{end}/{}", info.body_len),
            );
            (StatusCode::PARTIAL_CONTENT, start, end + 1)
        }
        RangeAnswer::Whole if gzip => {
            builder = builder.header(header::CONTENT_ENCODING, "gzip");
            (StatusCode::OK, 0, info.body_gzip_len)
        }
        RangeAnswer::Whole => (StatusCode::OK, 0, info.body_len),
    };
    let stream = body_stream(
        state.store.clone(),
        device.event_id,
        &info,
        gzip,
        start,
        end,
    );
    builder
        .status(status)
        .header(header::CONTENT_LENGTH, end - start)
        .body(stream)
        .map_err(|e| ApiError::Internal(StoreError::Invalid(format!("package response: {e}"))))
}

/// Streams bytes `start..end` of a stored body, [`CHUNK`] at a time, so a large body is never
/// held in memory whole.
fn body_stream<S: PackageStore>(
    store: S,
    event_id: EventId,
    info: &crate::store::PackageBodyInfo,
    gzip: bool,
    start: u64,
    end: u64,
) -> Body {
    let (version, base_version) = (info.version, info.base_version);
    let chunks = futures_util::stream::try_unfold(start, move |offset| {
        let store = store.clone();
        async move {
            if offset >= end {
                return Ok(None);
            }
            let len = (end - offset).min(CHUNK);
            let bytes = store
                .package_body_chunk(event_id, version, base_version, gzip, offset, len)
                .await
                .map_err(|e| {
                    tracing::error!(error = %crate::error::error_chain(&e), version, "package body read failed mid-stream");
                    std::io::Error::other(e)
                })?;
            if bytes.len() as u64 != len {
                return Err(std::io::Error::other(
                    "package body shorter than stored length",
                ));
            }
            Ok(Some((Bytes::from(bytes), offset + len)))
        }
    });
    Body::from_stream(chunks)
}
