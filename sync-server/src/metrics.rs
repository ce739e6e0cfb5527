//! Prometheus metrics: request counts and latencies per route, what pushes did, what the filer
//! filed.
//!
//! Served at `GET /metrics` to staff, or to a scraper with the bearer token in
//! `SYNC_METRICS_TOKEN`; never to kiosks. The recorder is process-wide (installed once), so
//! several server instances in one test process share it; in production one process is one
//! instance.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::auth::bearer;
use crate::error::ApiError;
use crate::staff::Staff;
use crate::state::AppState;
use crate::store::Store;

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then ours renders nothing.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Middleware: counts every request and its latency, by method, route pattern and status.
pub async fn track(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    response
}

/// Records what a push did with its changes.
pub fn record_push(accepted: u64, duplicates: u64, rejected: u64) {
    metrics::counter!("sync_changes_total", "result" => "accepted").increment(accepted);
    metrics::counter!("sync_changes_total", "result" => "duplicate").increment(duplicates);
    metrics::counter!("sync_changes_total", "result" => "rejected").increment(rejected);
}

/// Records a round of the filer: changes filed (a change filed again after a catch-up counts
/// again) and whether a filing failed.
pub fn record_filing(changes: u64, failed: bool) {
    metrics::counter!("sync_filed_changes_total").increment(changes);
    if failed {
        metrics::counter!("sync_filer_failures_total").increment(1);
    }
}

/// `GET /metrics`: the Prometheus text format, for staff or the configured scraper token.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    summary = "Prometheus metrics, for staff or the configured scraper token.",
    responses(
        (status = 200, description = "The Prometheus text format.", body = String, content_type = "text/plain; version=0.0.4")
    ),
    security(("staff_session" = []), ("metrics_token" = []))
)]
pub async fn serve<S: Store>(
    State(state): State<AppState<S>>,
    parts: axum::http::request::Parts,
) -> Result<Response, ApiError> {
    let scraper = std::env::var("SYNC_METRICS_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let by_scraper = match (&scraper, bearer(&parts)) {
        (Some(expected), Some(given)) => constant_time_eq(expected.as_bytes(), given.as_bytes()),
        _ => false,
    };
    if !by_scraper {
        let mut parts = parts;
        <Staff as axum::extract::FromRequestParts<AppState<S>>>::from_request_parts(
            &mut parts, &state,
        )
        .await?;
    }
    Ok((
        StatusCode::OK,
        [("content-type", "text/plain; version=0.0.4")],
        handle().render(),
    )
        .into_response())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
