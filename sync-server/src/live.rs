//! Live updates: Postgres LISTEN/NOTIFY fanned out to the kiosks connected to this instance.
//!
//! Every push that grows an event's feed sends `NOTIFY gatepass_feed, '<event id>'` in its
//! transaction; each instance listens and wakes its Server-Sent-Events streams for that event, so
//! N instances behind a load balancer behave as one. Notices sent while the listener was
//! reconnecting are lost to it, so after a reconnect every stream is woken once ([`Wake::All`])
//! and reads its feed head again.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use sync_protocol::ids::EventId;
use tokio::sync::{broadcast, watch};

use crate::store::pg::FEED_CHANNEL;

/// What wakes a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// This event's feed grew.
    Event(EventId),
    /// Any feed may have grown unheard (the listener reconnected): every stream reads again.
    All,
}

/// Fan-out of "this event's feed grew" to the streams of this instance.
#[derive(Debug, Clone)]
pub struct LiveHub {
    sender: broadcast::Sender<Wake>,
    stopping: watch::Receiver<bool>,
}

impl LiveHub {
    /// A hub whose streams end when `stopping` turns true (graceful shutdown must not wait for
    /// streams that never end by themselves).
    pub fn new(stopping: watch::Receiver<bool>) -> Self {
        let (sender, _) = broadcast::channel(1024);
        Self { sender, stopping }
    }

    /// Resolves when the server begins to shut down.
    pub async fn stopped(&self) {
        let mut stopping = self.stopping.clone();
        let _ = stopping.wait_for(|stop| *stop).await;
    }

    /// A receiver of wake-ups.
    pub fn subscribe(&self) -> broadcast::Receiver<Wake> {
        self.sender.subscribe()
    }

    /// Tells this instance's streams that `event_id`'s feed grew.
    pub fn notify(&self, event_id: EventId) {
        // No subscribers is fine.
        let _ = self.sender.send(Wake::Event(event_id));
    }

    /// Wakes every stream of this instance (after notices may have been missed).
    pub fn resync(&self) {
        let _ = self.sender.send(Wake::All);
    }

    /// Listens on Postgres until shutdown, reconnecting after failures.
    pub async fn listen(self, pool: PgPool) {
        let mut shutdown = self.stopping.clone();
        let mut backoff = Duration::from_millis(200);
        let mut listened_before = false;
        loop {
            if *shutdown.borrow() {
                return;
            }
            match PgListener::connect_with(&pool).await {
                Ok(mut listener) => {
                    if let Err(err) = listener.listen(FEED_CHANNEL).await {
                        tracing::warn!(error = %err, "LISTEN failed");
                    } else {
                        backoff = Duration::from_millis(200);
                        if listened_before {
                            tracing::info!(
                                "live listener back: every stream reads its feed head again"
                            );
                            self.resync();
                        }
                        listened_before = true;
                        loop {
                            tokio::select! {
                                _ = shutdown.changed() => return,
                                // try_recv, not recv: recv would reconnect by itself and
                                // hide that notices were lost meanwhile.
                                msg = listener.try_recv() => match msg {
                                    Ok(Some(n)) => {
                                        if let Ok(event_id) = n.payload().parse() {
                                            self.notify(event_id);
                                        }
                                    }
                                    Ok(None) => {
                                        tracing::warn!("live listener lost its connection");
                                        break;
                                    }
                                    Err(err) => {
                                        tracing::warn!(error = %err, "live listener lost its connection");
                                        break;
                                    }
                                }
                            }
                        }
                    }
                }
                Err(err) => tracing::warn!(error = %err, "cannot connect the live listener"),
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }
}
