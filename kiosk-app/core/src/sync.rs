//! The sync client: push the outbox, then pull the feed, over HTTP.
//!
//! Push first (as the field's best systems do), in seq order and in batches; the store marks rows
//! acknowledged only up to the server's acknowledged seq, so a lost answer means a replay the
//! server recognises, never a loss or a double. Then pull page by page, each page applied with
//! its cursor in one transaction. The store is locked only between network calls.

use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use sync_protocol::UnixMillis;
use sync_protocol::wire::{
    ErrorBody, ErrorCode, MAX_PUSH_BATCH, OpenConflicts, PackageOffer, PullPage, PushRequest,
    PushResponse,
};

use crate::store::{Download, KioskStore, StoreError};

/// The longest a whole package body may take to download (a large event on a slow link).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(3600);
/// A package download that delivers no byte for this long is given up (and resumed later).
pub const BODY_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Body bytes kept per sealed chunk while downloading.
const DOWNLOAD_CHUNK: usize = 1 << 20;

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The server cannot be reached: the kiosk is offline. Nothing is lost; try later.
    #[error("offline: {0}")]
    Offline(String),
    /// The server answered but cannot serve now (it timed out the request or limits the rate):
    /// nothing is lost; try again after a pause.
    #[error("the server is busy: {0}")]
    Busy(String),
    /// This kiosk was revoked: it must be enrolled again.
    #[error("this kiosk was revoked")]
    Revoked,
    /// The server answered with an error.
    #[error("server refused ({code:?}): {message}")]
    Server { code: ErrorCode, message: String },
    #[error("the server's answer is not understood: {0}")]
    Protocol(String),
    #[error("this kiosk is not enrolled")]
    NotEnrolled,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncReport {
    pub pushed: u64,
    pub parked: u64,
    pub pulled: u64,
    pub pending_after: u64,
    pub write_checkpoint: u64,
    /// The newest package the server has (fetch it when newer than the one held).
    pub package_version: u64,
    /// Set when the server said this kiosk's clock runs ahead.
    pub clock_ahead_ms: Option<u64>,
    /// The server asked for a refetch and the full package was applied again.
    pub refetched: bool,
    /// The package version this sync applied, if it applied one.
    pub package_applied: Option<u64>,
}

/// Progress of a running sync, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum SyncProgress {
    Pushing { sent: u64, total: u64 },
    Pulling { received: u64 },
}

/// Talks to one sync server for one enrolled kiosk.
#[derive(Debug, Clone)]
pub struct SyncClient {
    http: reqwest::Client,
    base: String,
    token: String,
    /// This kiosk's clock, read when the server's time arrives (to measure the offset).
    clock: fn() -> UnixMillis,
}

impl SyncClient {
    /// A client for the server and token this kiosk was enrolled with.
    pub fn for_store(store: &KioskStore) -> Result<SyncClient, SyncError> {
        let identity = store.identity()?.ok_or(SyncError::NotEnrolled)?;
        let token = store.device_token()?.ok_or(SyncError::NotEnrolled)?;
        Ok(SyncClient::new(&identity.server_url, token))
    }

    pub fn new(base: &str, token: String) -> SyncClient {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .expect("a TLS backend is compiled in");
        SyncClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
            clock: crate::background::system_clock,
        }
    }

    /// The same client reading another clock (the kiosk's, or a test's).
    pub fn with_clock(mut self, clock: fn() -> UnixMillis) -> SyncClient {
        self.clock = clock;
        self
    }

    /// Pushes every pending change, then pulls until the feed is caught up.
    pub async fn sync_once(
        &self,
        store: &Mutex<KioskStore>,
        progress: impl Fn(SyncProgress),
    ) -> Result<SyncReport, SyncError> {
        let mut report = SyncReport::default();
        let total = lock(store).outbox_counts()?.0;
        // The protocol's largest batch: a backlog of 100,000 pushed 1.1 to 1.3 times faster than
        // in batches of 500 (docs/benchmarks.md, "A kiosk's sync at a venue's size").
        let mut next = lock(store).pending_changes(MAX_PUSH_BATCH)?;
        loop {
            let batch = std::mem::take(&mut next);
            let Some(last_sent) = batch.last().map(|c| c.seq) else {
                break;
            };
            let sent = batch.len() as u64;
            // While the server stores this batch, the kiosk reads the next one from its sealed
            // outbox. Batches still go one after the other: the next leaves once this one is
            // acknowledged, as the server takes a kiosk's changes in order.
            let request = self.send::<PushResponse>(
                self.http
                    .post(format!("{}/api/v1/push", self.base))
                    .json(&PushRequest { changes: batch }),
            );
            let (response, following) = tokio::join!(request, async {
                lock(store).pending_changes_after(last_sent, MAX_PUSH_BATCH)
            });
            let response = response?;
            next = following?;
            let parked = response
                .results
                .iter()
                .filter(|r| matches!(r.status, sync_protocol::wire::ChangeStatus::Rejected { .. }))
                .count() as u64;
            if let Some(ahead) = response
                .results
                .iter()
                .filter_map(|r| r.clock_ahead_ms)
                .max()
            {
                report.clock_ahead_ms = Some(ahead);
            }
            {
                let mut store = lock(store);
                store.record_push_results(&response.results, response.acknowledged_seq)?;
                store.observe_server_time(response.server_hlc, (self.clock)())?;
            }
            if response.acknowledged_seq < last_sent {
                // The server holds a gap before this batch: a protocol error, not a retry loop.
                return Err(SyncError::Protocol(format!(
                    "server acknowledged up to {} after a push up to {last_sent}",
                    response.acknowledged_seq
                )));
            }
            report.pushed += sent;
            report.parked += parked;
            progress(SyncProgress::Pushing {
                sent: report.pushed,
                total,
            });
        }

        let mut pending_waits = 0;
        let mut refetched = false;
        loop {
            let cursor = lock(store).cursor()?;
            let page: PullPage = self
                .send(
                    self.http
                        .get(format!("{}/api/v1/pull", self.base))
                        .query(&[("after", cursor.to_string()), ("limit", "1000".to_owned())]),
                )
                .await?;
            if page.refetch {
                // The server no longer holds the feed before this cursor: start again from a
                // full package (which moves the cursor to its own), once per sync.
                if refetched {
                    return Err(SyncError::Protocol(
                        "the server asked for a refetch again after a fresh package".into(),
                    ));
                }
                refetched = true;
                tracing::warn!(%cursor, "the server asked for a refetch: fetching the full package");
                let Some(version) = self.fetch_package_again(store).await? else {
                    return Err(SyncError::Protocol(
                        "the server asked for a refetch but has no package".into(),
                    ));
                };
                report.refetched = true;
                report.package_applied = Some(version);
                continue;
            }
            {
                let mut store = lock(store);
                store.apply_pull_page(&page.items, page.next_cursor)?;
                store.observe_server_time(page.server_hlc, (self.clock)())?;
            }
            report.pulled += page.items.len() as u64;
            report.write_checkpoint = page.write_checkpoint;
            report.package_version = page.package_version;
            progress(SyncProgress::Pulling {
                received: report.pulled,
            });
            if page.has_more {
                continue;
            }
            if page.pending && page.items.is_empty() && pending_waits < 20 {
                pending_waits += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            break;
        }
        report.pending_after = lock(store).outbox_counts()?.0;
        let held = lock(store).package_version()?.unwrap_or(0);
        if report.package_version > held
            && let Some(version) = self.fetch_package(store).await?
        {
            report.package_applied = Some(version);
        }
        Ok(report)
    }

    /// Fetches and applies the newest package (a delta when the kiosk holds the version before).
    /// Returns the version applied, or `None` when there is nothing newer.
    pub async fn fetch_package(&self, store: &Mutex<KioskStore>) -> Result<Option<u64>, SyncError> {
        self.fetch(store, false).await
    }

    /// Fetches the newest full package even when its version is the one held: the server no
    /// longer holds the feed before this kiosk's cursor (`refetch`), so the kiosk starts again
    /// from a snapshot. Its own check-ins, walk-ins and outbox stay.
    pub async fn fetch_package_again(
        &self,
        store: &Mutex<KioskStore>,
    ) -> Result<Option<u64>, SyncError> {
        self.fetch(store, true).await
    }

    async fn fetch(
        &self,
        store: &Mutex<KioskStore>,
        again: bool,
    ) -> Result<Option<u64>, SyncError> {
        let (held, identity) = {
            let store = lock(store);
            (
                store.package_version()?,
                store.identity()?.ok_or(SyncError::NotEnrolled)?,
            )
        };
        let mut query = Vec::new();
        if let Some(held) = held
            && !again
        {
            query.push(("held", held.to_string()));
        }
        let offer: Result<PackageOffer, SyncError> = self
            .send(
                self.http
                    .get(format!("{}/api/v1/package", self.base))
                    .query(&query),
            )
            .await;
        let offer = match offer {
            Ok(offer) => offer,
            Err(SyncError::Server {
                code: ErrorCode::NotFound,
                ..
            }) => return Ok(None),
            Err(other) => return Err(other),
        };
        if held.is_some_and(|held| offer.version < held || (offer.version == held && !again)) {
            return Ok(None);
        }
        // The manifest is checked before a byte of its body is downloaded.
        let download = {
            let mut store = lock(store);
            let manifest = store.check_manifest(
                &offer.manifest,
                &identity.server_key,
                identity.event_id,
                again,
            )?;
            store.start_download(&offer.manifest, &manifest)?
        };
        self.download_body(store, &offer.body_url, download).await?;
        let manifest =
            lock(store).apply_download(&identity.server_key, identity.event_id, again)?;
        tracing::info!(version = manifest.version, again, "package applied");
        Ok(Some(manifest.version))
    }

    /// Downloads the rest of a package body into the store, chunk by chunk, resuming with
    /// `Range` (and `If-Range`, so a changed body is sent whole) where an earlier attempt
    /// stopped. The body has its own time bounds: [`BODY_TIMEOUT`] in all, and
    /// [`BODY_STALL_TIMEOUT`] without a byte; what arrived before a failure is kept.
    async fn download_body(
        &self,
        store: &Mutex<KioskStore>,
        body_url: &str,
        download: Download,
    ) -> Result<(), SyncError> {
        let mut received = download.received;
        if download.is_complete() {
            return Ok(());
        }
        let mut request = self
            .http
            .get(format!("{}{body_url}", self.base))
            .bearer_auth(&self.token)
            .timeout(BODY_TIMEOUT);
        if received > 0 {
            request = request
                .header(reqwest::header::RANGE, format!("bytes={received}-"))
                .header(
                    reqwest::header::IF_RANGE,
                    format!("\"{}\"", download.body_sha256),
                );
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| SyncError::Offline(e.to_string()))?;
        match response.status() {
            reqwest::StatusCode::PARTIAL_CONTENT if received > 0 => {
                let range = response
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if !range.starts_with(&format!("bytes {received}-")) {
                    lock(store).clear_download()?;
                    return Err(SyncError::Protocol(format!(
                        "package body: asked for bytes from {received}, got {range:?}"
                    )));
                }
            }
            reqwest::StatusCode::OK => {
                if received > 0 {
                    // The server sent the whole body: start again from its first byte.
                    lock(store).restart_download()?;
                    received = 0;
                }
            }
            reqwest::StatusCode::RANGE_NOT_SATISFIABLE => {
                lock(store).clear_download()?;
                return Err(SyncError::Protocol(
                    "package body: the server refused the resumed range; it starts again".into(),
                ));
            }
            // Transient: the download resumes from what it has on the next try.
            status @ (reqwest::StatusCode::REQUEST_TIMEOUT
            | reqwest::StatusCode::TOO_MANY_REQUESTS) => {
                return Err(SyncError::Busy(format!("package body: HTTP {status}")));
            }
            status if status.is_server_error() => {
                return Err(SyncError::Offline(format!("package body: HTTP {status}")));
            }
            status => {
                return Err(SyncError::Protocol(format!("package body: HTTP {status}")));
            }
        }
        let mut buffer = Vec::with_capacity(DOWNLOAD_CHUNK);
        let outcome = loop {
            let next = match tokio::time::timeout(BODY_STALL_TIMEOUT, response.chunk()).await {
                Err(_) => {
                    break Err(SyncError::Offline(format!(
                        "package download stalled: no byte for {} s",
                        BODY_STALL_TIMEOUT.as_secs()
                    )));
                }
                Ok(Err(e)) => break Err(SyncError::Offline(format!("package download: {e}"))),
                Ok(Ok(next)) => next,
            };
            let Some(bytes) = next else { break Ok(()) };
            if received + (buffer.len() + bytes.len()) as u64 > download.body_len {
                lock(store).clear_download()?;
                return Err(SyncError::Protocol(
                    "package body is longer than its signed manifest says".into(),
                ));
            }
            buffer.extend_from_slice(&bytes);
            if buffer.len() >= DOWNLOAD_CHUNK {
                received = lock(store).append_download(&buffer)?;
                buffer.clear();
            }
        };
        // What arrived before a failure is kept, so the next attempt resumes after it.
        if !buffer.is_empty() {
            received = lock(store).append_download(&buffer)?;
        }
        outcome?;
        if received < download.body_len {
            return Err(SyncError::Offline(format!(
                "package download ended at {received} of {} bytes",
                download.body_len
            )));
        }
        Ok(())
    }

    /// The open conflicts of this kiosk's event, as the server has them now (a screen waits
    /// on this: it gives up after 10 s).
    pub async fn open_conflicts(&self) -> Result<OpenConflicts, SyncError> {
        self.send(
            self.http
                .get(format!("{}/api/v1/conflicts", self.base))
                .timeout(Duration::from_secs(10)),
        )
        .await
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, SyncError> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| SyncError::Offline(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            // Read whole first: a connection lost half-way through the answer is the network
            // (offline, retried), not an answer the kiosk cannot read.
            let body = response.bytes().await.map_err(|e| {
                SyncError::Offline(format!("the connection was lost during the answer: {e}"))
            })?;
            return serde_json::from_slice(&body).map_err(|e| SyncError::Protocol(e.to_string()));
        }
        let body: Option<ErrorBody> = response.json().await.ok();
        match body {
            Some(ErrorBody {
                code: ErrorCode::DeviceRevoked,
                ..
            }) => Err(SyncError::Revoked),
            // Worth a retry later: busy (it answered) or down (it did not get that far).
            Some(ErrorBody { code, message }) if code.is_transient() => Err(match code {
                ErrorCode::Timeout | ErrorCode::RateLimited => SyncError::Busy(message),
                _ => SyncError::Offline(message),
            }),
            Some(ErrorBody { code, message }) => Err(SyncError::Server { code, message }),
            // A proxy in front may answer without our body.
            None if status == reqwest::StatusCode::REQUEST_TIMEOUT
                || status == reqwest::StatusCode::TOO_MANY_REQUESTS =>
            {
                Err(SyncError::Busy(status.to_string()))
            }
            None if status.is_server_error() => Err(SyncError::Offline(status.to_string())),
            None => Err(SyncError::Protocol(format!(
                "HTTP {status} without an error body"
            ))),
        }
    }
}

fn lock(store: &Mutex<KioskStore>) -> std::sync::MutexGuard<'_, KioskStore> {
    // A panic while holding the store cannot leave it half-written: every write is one SQLite
    // transaction. So a poisoned lock is still a usable store.
    store.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server on loopback that answers every request with `answer` (a whole HTTP response).
    async fn answering(answer: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        base
    }

    #[tokio::test]
    async fn a_busy_or_unreachable_server_is_retried_and_a_refusal_is_not() {
        let json = |status: &str, body: &str| {
            format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
        };
        let cases: Vec<(String, &str)> = vec![
            (
                json("408 Request Timeout", r#"{"code":"timeout","message":"the request took too long; retry"}"#),
                "busy",
            ),
            (
                json("429 Too Many Requests", r#"{"code":"rate_limited","message":"too many attempts"}"#),
                "busy",
            ),
            // A proxy's own answers, without our body.
            ("HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(), "busy"),
            ("HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(), "busy"),
            ("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(), "offline"),
            (
                json("404 Not Found", r#"{"code":"not_found","message":"no such route: GET /api/v1/conflicts"}"#),
                "server",
            ),
        ];
        for (answer, expected) in cases {
            let answer: &'static str = Box::leak(answer.into_boxed_str());
            let client = SyncClient::new(&answering(answer).await, "token".into());
            let error = client.open_conflicts().await.unwrap_err();
            let kind = match &error {
                SyncError::Busy(_) => "busy",
                SyncError::Offline(_) => "offline",
                SyncError::Server { .. } => "server",
                _ => "other",
            };
            assert_eq!(kind, expected, "{answer:?} gave {error:?}");
        }
    }
}
