//! The HTTP API: routes and the layers every request passes through.

mod catalogue;
pub mod conflicts;
pub(crate) mod enrol;
mod health;
mod live;
pub mod openapi;
mod packages;
pub mod reports;
mod staff;
mod sync;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::{HeaderName, StatusCode};
use axum::routing::{MethodFilter, on};
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::HttpMethod;

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

/// The routes, each added at the path and methods of its `#[utoipa::path]` attribute (see
/// [`openapi`]), so what the router serves and what `/openapi.json` describes cannot drift apart.
pub struct Routes<S: Store> {
    router: Router<AppState<S>>,
    served: Vec<(String, String)>,
}

impl<S: Store> Routes<S> {
    /// Adds `handler` at the path and methods that `P`, its `#[utoipa::path]` description, names.
    fn add<P: utoipa::Path, H, T>(mut self, handler: H) -> Self
    where
        H: Handler<T, AppState<S>>,
        T: 'static,
    {
        let path = P::path();
        for method in P::methods() {
            let filter = match method {
                HttpMethod::Get => MethodFilter::GET,
                HttpMethod::Post => MethodFilter::POST,
                HttpMethod::Put => MethodFilter::PUT,
                HttpMethod::Patch => MethodFilter::PATCH,
                HttpMethod::Delete => MethodFilter::DELETE,
                HttpMethod::Head => MethodFilter::HEAD,
                HttpMethod::Options => MethodFilter::OPTIONS,
                HttpMethod::Trace => MethodFilter::TRACE,
            };
            self.router = self.router.route(&path, on(filter, handler.clone()));
            self.served.push((method_name(&method), path.clone()));
        }
        self
    }

    /// Every (method, path) served, for the test that holds it against `/openapi.json`.
    pub fn served(&self) -> &[(String, String)] {
        &self.served
    }
}

fn method_name(method: &HttpMethod) -> String {
    serde_json::to_value(method)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Every route of the server.
pub fn routes<S: Store>() -> Routes<S> {
    use self::openapi::__path_serve as openapi_json;
    use catalogue::*;
    let routes = Routes {
        router: Router::new(),
        served: Vec::new(),
    };
    routes
        // Probes, metrics and the API's description.
        .add::<health::__path_healthz, _, _>(health::healthz)
        .add::<health::__path_readyz, _, _>(health::readyz::<S>)
        .add::<crate::metrics::__path_serve, _, _>(crate::metrics::serve::<S>)
        .add::<openapi_json, _, _>(openapi::serve)
        // Kiosks.
        .add::<enrol::__path_enrol, _, _>(enrol::enrol::<S>)
        .add::<sync::__path_push, _, _>(sync::push::<S>)
        .add::<sync::__path_pull, _, _>(sync::pull::<S>)
        .add::<live::__path_live, _, _>(live::live::<S>)
        .add::<packages::__path_manifest, _, _>(packages::manifest::<S>)
        .add::<packages::__path_body, _, _>(packages::body::<S>)
        .add::<conflicts::__path_open_for_device, _, _>(conflicts::open_for_device::<S>)
        // Staff (admins and coordinators).
        .add::<staff::__path_login, _, _>(staff::login::<S>)
        .add::<staff::__path_logout, _, _>(staff::logout::<S>)
        .add::<staff::__path_me, _, _>(staff::me)
        .add::<staff::__path_audit, _, _>(staff::audit::<S>)
        // The admin catalogue.
        .add::<__path_list_events, _, _>(list_events::<S>)
        .add::<__path_create_event, _, _>(create_event::<S>)
        .add::<__path_get_event, _, _>(get_event::<S>)
        .add::<__path_update_event, _, _>(update_event::<S>)
        .add::<__path_list_ticket_types, _, _>(list_ticket_types::<S>)
        .add::<__path_create_ticket_type, _, _>(create_ticket_type::<S>)
        .add::<__path_update_ticket_type, _, _>(update_ticket_type::<S>)
        .add::<__path_list_gates, _, _>(list_gates::<S>)
        .add::<__path_create_gate, _, _>(create_gate::<S>)
        .add::<__path_update_gate, _, _>(update_gate::<S>)
        .add::<__path_list_forms, _, _>(list_forms::<S>)
        .add::<__path_upload_form, _, _>(upload_form::<S>)
        .add::<__path_import_csv, _, _>(import_csv::<S>)
        .add::<__path_list_tickets, _, _>(list_tickets::<S>)
        .add::<__path_ticket_status, _, _>(ticket_status::<S>)
        .add::<__path_create_enrolment_token, _, _>(create_enrolment_token::<S>)
        .add::<__path_list_devices, _, _>(list_devices::<S>)
        .add::<__path_revoke_device, _, _>(revoke_device::<S>)
        // Packages, conflicts and reports.
        .add::<packages::__path_publish, _, _>(packages::publish::<S>)
        .add::<packages::__path_list, _, _>(packages::list::<S>)
        .add::<conflicts::__path_list, _, _>(conflicts::list::<S>)
        .add::<conflicts::__path_show, _, _>(conflicts::show::<S>)
        .add::<conflicts::__path_resolve, _, _>(conflicts::resolve::<S>)
        .add::<reports::__path_check_ins_csv, _, _>(reports::check_ins_csv::<S>)
        .add::<reports::__path_registrations_csv, _, _>(reports::registrations_csv::<S>)
        .add::<reports::__path_badge_prints_csv, _, _>(reports::badge_prints_csv::<S>)
        .add::<reports::__path_stats, _, _>(reports::stats::<S>)
}

/// The whole application.
pub fn router<S: Store>(state: AppState<S>, limits: HttpLimits) -> Router {
    crate::metrics::handle();
    let timed = routes::<S>()
        .router
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
