//! `GET /api/v1/live`: Server-Sent Events telling an online kiosk to pull now.
//!
//! The stream sends the feed head at once, then a notice each time the kiosk's event's feed grows
//! (woken by Postgres NOTIFY on any instance), and a keep-alive comment every 15 seconds.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use sync_protocol::wire::LiveNotice;
use tokio::sync::broadcast::error::RecvError;
use tokio_stream::wrappers::ReceiverStream;

use crate::auth::Device;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::Store;

pub async fn live<S: Store>(
    State(state): State<AppState<S>>,
    Device(device): Device,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let mut wakeups = state.live.subscribe();
    let event_id = device.event_id;
    let (position, package_version) = state.store.feed_head(event_id).await?;
    let store = state.store.clone();
    let live = state.live.clone();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let mut head = LiveNotice {
            event_id,
            position,
            package_version,
        };
        while tx.send(head).await.is_ok() {
            let woken = tokio::select! {
                () = live.stopped() => return,
                woken = wakeups.recv() => woken,
            };
            match woken {
                Ok(id) if id == event_id => {}
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
            // Coalesce a burst of wake-ups into one notice.
            while wakeups.try_recv().is_ok() {}
            match store.feed_head(event_id).await {
                Ok((position, package_version)) => {
                    head = LiveNotice {
                        event_id,
                        position,
                        package_version,
                    };
                }
                Err(err) => tracing::warn!(error = %err, "live: cannot read the feed head"),
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
