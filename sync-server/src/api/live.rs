//! `GET /api/v1/live`: Server-Sent Events telling an online kiosk to pull now.
//!
//! The stream sends the feed head at once (the one the hub holds when other streams of the event
//! are open), then a notice each time the kiosk's event's head
//! moves (the hub reads it once per instance when any instance's push grows the feed, see
//! [`crate::live`]), and a keep-alive comment every 15 seconds. It ends when its device is
//! revoked: a revocation grows the feed, and the head the hub reads lists the event's revoked
//! devices; the kiosk's next request then answers `device_revoked`.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use sync_protocol::wire::LiveNotice;
use tokio_stream::wrappers::ReceiverStream;

use crate::auth::Device;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::Store;

/// How long a new stream waits for the hub's first read of its event's head before it reads
/// the head itself.
const HUB_HEAD_WAIT: Duration = Duration::from_secs(2);

#[utoipa::path(
    get,
    path = "/api/v1/live",
    tag = "kiosk",
    summary = "Server-Sent Events: a `changes` event with the feed head each time the event's feed grows.",
    responses(
        (status = 200, description = "An event stream whose `changes` events carry a LiveNotice.", body = LiveNotice, content_type = "text/event-stream")
    ),
    security(("device_token" = []))
)]
pub async fn live<S: Store>(
    State(state): State<AppState<S>>,
    Device(device): Device,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let event_id = device.event_id;
    let mut heads = state.live.watch(event_id);
    // The hub's head: other streams of the event keep it fresh, and for the event's first
    // stream the hub reads it now (`watch` asked). So 200 kiosks coming back online at once
    // read it once, not 200 times; read here only if the hub's read does not come in time.
    let hub_head = tokio::time::timeout(HUB_HEAD_WAIT, heads.wait_for(Option::is_some))
        .await
        .ok()
        .and_then(Result::ok)
        .and_then(|head| {
            head.as_ref()
                .map(|head| (head.notice.position, head.notice.package_version))
        });
    heads.mark_unchanged();
    let (position, package_version) = match hub_head {
        Some(head) => head,
        None => state.store.feed_head(event_id).await?,
    };
    let live = state.live.clone();
    let device_id = device.device_id;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let mut sent = LiveNotice {
            event_id,
            position,
            package_version,
        };
        if tx.send(sent).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                () = live.stopped() => return,
                changed = heads.changed() => if changed.is_err() { return },
            }
            let Some(head) = heads.borrow_and_update().clone() else {
                continue;
            };
            if head.revoked.contains(&device_id) {
                tracing::info!(device = %device_id, "live: device revoked, stream ended");
                return;
            }
            // The hub's read may predate this stream's own first read: never go back.
            let newer = head.notice.position > sent.position
                || head.notice.package_version > sent.package_version;
            if newer {
                sent = LiveNotice {
                    event_id,
                    position: head.notice.position.max(sent.position),
                    package_version: head.notice.package_version.max(sent.package_version),
                };
                if tx.send(sent).await.is_err() {
                    return;
                }
            }
        }
    });
    let stream = ReceiverStream::new(rx).map(|notice| {
        Ok(SseEvent::default()
            .event("changes")
            .json_data(notice)
            .unwrap_or_else(|_| SseEvent::default().comment("notice not serialisable")))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
