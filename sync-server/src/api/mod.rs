//! The HTTP API: routes and the layers every request passes through.

mod catalogue;
pub mod conflicts;
pub(crate) mod enrol;
mod health;
mod live;
mod packages;
pub mod reports;
mod staff;
mod sync;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::routing::{get, post};
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::state::AppState;
use crate::store::Store;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Limits of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Reverse proxies whose forwarded client addresses are believed (see [`crate::client`]).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Pulls served at once (see [`AppState::pulls`]); others wait their turn.
    pub concurrent_pulls: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: crate::config::DEFAULT_MAX_BODY_BYTES,
            request_timeout: Duration::from_secs(30),
            trusted_proxies: Vec::new(),
            concurrent_pulls: crate::state::default_concurrent_pulls(),
        }
    }
}

/// The whole application.
pub fn router<S: Store>(state: AppState<S>, limits: HttpLimits) -> Router {
    let api = Router::new()
        .route("/enrol", post(enrol::enrol::<S>))
        .route("/push", post(sync::push::<S>))
        .route("/pull", get(sync::pull::<S>))
        .route("/live", get(live::live::<S>))
        // Event packages: kiosks download, admins publish and list.
        .route("/package", get(packages::manifest::<S>))
        .route("/package/{version}/body", get(packages::body::<S>))
        .route(
            "/admin/events/{id}/packages",
            post(packages::publish::<S>).get(packages::list::<S>),
        )
        // Staff (admins and coordinators).
        .route("/admin/login", post(staff::login::<S>))
        .route("/admin/logout", post(staff::logout::<S>))
        .route("/admin/me", get(staff::me))
        .route("/admin/audit", get(staff::audit::<S>));
    let api = catalogue::routes::<S>(api);
    // Conflicts and reports (coordinators and admins).
    let api = conflicts::routes::<S>(api);
    let api = reports::routes::<S>(api);
    crate::metrics::handle();
    let timed = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz::<S>))
        .route("/metrics", get(crate::metrics::serve::<S>))
        .nest("/api/v1", api)
        .fallback(crate::error::no_route)
        .method_not_allowed_fallback(crate::error::method_not_allowed)
        .layer(axum::middleware::from_fn(crate::metrics::track))
        .with_state(state);
    timed
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(RequestDecompressionLayer::new())
        // The fastest gzip level: pull pages are served to every kiosk of an event, and level 1
        // still shrinks their JSON several times over at a fraction of the default level's CPU.
        .layer(CompressionLayer::new().quality(tower_http::CompressionLevel::Fastest))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        // Outside the timeout, the body limit and decompression: their bare answers become JSON.
        .layer(axum::middleware::from_fn(crate::error::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            crate::client::TrustedProxies(std::sync::Arc::new(limits.trusted_proxies)),
            crate::client::client_address,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(
            |request: &axum::http::Request<axum::body::Body>| {
                let id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %request.method(), uri = %request.uri().path(), request_id = %id)
            },
        ))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}
