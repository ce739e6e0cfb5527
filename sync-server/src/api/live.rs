//! `GET /api/v1/live`: Server-Sent Events telling an online kiosk to pull now.
//!
//! The stream sends the feed head at once, then a notice each time the kiosk's event's feed grows
//! (woken by Postgres NOTIFY on any instance, or by the listener's resync after it reconnected),
//! and a keep-alive comment every 15 seconds. It ends when its device is revoked: checked at each
//! wake-up of its event (a revocation grows the feed) and every [`RECHECK`] in any case; the
//! kiosk's next request then answers `device_revoked`.

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
use crate::live::Wake;
use crate::state::AppState;
use crate::store::Store;

/// How often an idle stream checks that its device is still enrolled.
const RECHECK: Duration = Duration::from_secs(60);

pub async fn live<S: Store>(
    State(state): State<AppState<S>>,
    Device(device): Device,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let mut wakeups = state.live.subscribe();
    let event_id = device.event_id;
    let (position, package_version) = state.store.feed_head(event_id).await?;
    let store = state.store.clone();
    let live = state.live.clone();
    let device_id = device.device_id;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let mut head = LiveNotice {
            event_id,
            position,
            package_version,
        };
        let mut recheck = tokio::time::interval(RECHECK);
        recheck.tick().await;
        let still_enrolled = async || match store.device_revoked(device_id).await {
            Ok(revoked) => !revoked,
            // A database hiccup is no revocation: the next check decides.
            Err(err) => {
                tracing::warn!(error = %err, "live: cannot check the device");
                true
            }
        };
        while tx.send(head).await.is_ok() {
            let woken = tokio::select! {
                () = live.stopped() => return,
                woken = wakeups.recv() => Some(woken),
                _ = recheck.tick() => None,
            };
            match woken {
                Some(Ok(Wake::Event(id))) if id == event_id => {}
                Some(Ok(Wake::Event(_))) => continue,
                Some(Ok(Wake::All) | Err(RecvError::Lagged(_))) => {}
                Some(Err(RecvError::Closed)) => return,
                None => {
                    if still_enrolled().await {
                        continue;
                    }
                    tracing::info!(device = %device_id, "live: device revoked, stream ended");
                    return;
                }
            }
            if !still_enrolled().await {
                tracing::info!(device = %device_id, "live: device revoked, stream ended");
                return;
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
