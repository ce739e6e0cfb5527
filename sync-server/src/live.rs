//! Live updates: Postgres LISTEN/NOTIFY fanned out to the kiosks connected to this instance.
//!
//! A push that grows an event's feed tells the hub ([`LiveHub::feed_grew`]) after it commits;
//! the hub's notifier sends `NOTIFY gatepass_feed, '<event id>'` for it. NOTIFY takes a
//! database-wide lock at commit, so it is never sent inside a push transaction, and pushes that
//! commit while one NOTIFY is on its way share the next one (one statement for every event that
//! grew meanwhile): the more pushes, the fewer notices each.
//!
//! Each instance listens, and for each event that grew reads the event's head once (feed position,
//! package version, revoked devices) and publishes it on that event's watch channel; every
//! Server-Sent-Events stream of the event on this instance reads it from there. So N instances
//! behind a load balancer behave as one, and a burst of pushes costs one head query per instance,
//! not one per stream. Notices sent while the listener was reconnecting are lost to it, so after a
//! reconnect every event with streams reads its head again.
//!
//! Both the notifier and the head reader go in rounds at most every [`LIVE_ROUND_EVERY`]: the
//! first notice after a quiet moment goes at once, the ones that follow within the interval share
//! the next round. When a venue's network comes back and 200 kiosks push their backlogs, that is
//! a few heads read and a few notices per stream, where there could be a head read per push and
//! a notice per push per stream (40,000 Server-Sent Events for 200 pushes); each kiosk pulls
//! once the pushes settle anyway.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use sync_protocol::ids::{DeviceId, EventId};
use sync_protocol::wire::LiveNotice;
use tokio::sync::{mpsc, watch};

use crate::store::pg::{FEED_CHANNEL, PgStore};

/// The least time between two rounds of the notifier, and between two rounds of the head
/// reader: what a notice may wait while pushes keep coming (well within the second a check-in
/// may take to reach the other gates, docs/architecture.md).
pub const LIVE_ROUND_EVERY: Duration = Duration::from_millis(100);

/// What the streams of one event read: its head, and the devices revoked (their streams end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHead {
    pub notice: LiveNotice,
    pub revoked: Arc<HashSet<DeviceId>>,
}

/// This instance's live streams' shared view of their events.
#[derive(Debug, Clone)]
pub struct LiveHub {
    heads: Arc<Mutex<HashMap<EventId, watch::Sender<Option<EventHead>>>>>,
    /// Events whose head to read again (the listener heard they grew, or a stream just started).
    refresh: mpsc::UnboundedSender<Refresh>,
    /// Events whose feed grew here, for the notifier.
    grew: mpsc::UnboundedSender<EventId>,
    stopping: watch::Receiver<bool>,
}

/// The hub's work: the notifier, the listener and the head reader ([`LiveTasks::run`]).
#[derive(Debug)]
pub struct LiveTasks {
    hub: LiveHub,
    refresh: mpsc::UnboundedReceiver<Refresh>,
    grew: mpsc::UnboundedReceiver<EventId>,
}

#[derive(Debug, Clone, Copy)]
enum Refresh {
    Event(EventId),
    /// Notices may have been lost: every event with streams.
    All,
}

impl LiveHub {
    /// A hub whose streams end when `stopping` turns true (graceful shutdown must not wait for
    /// streams that never end by themselves), and the tasks that do its work.
    pub fn new(stopping: watch::Receiver<bool>) -> (Self, LiveTasks) {
        let (refresh, refresh_rx) = mpsc::unbounded_channel();
        let (grew, grew_rx) = mpsc::unbounded_channel();
        let hub = Self {
            heads: Arc::default(),
            refresh,
            grew,
            stopping,
        };
        let tasks = LiveTasks {
            hub: hub.clone(),
            refresh: refresh_rx,
            grew: grew_rx,
        };
        (hub, tasks)
    }

    /// Resolves when the server begins to shut down.
    pub async fn stopped(&self) {
        let mut stopping = self.stopping.clone();
        let _ = stopping.wait_for(|stop| *stop).await;
    }

    /// The head of `event_id` as this instance last read it (`None` until the first read, which
    /// this call asks for when the event had no stream here).
    pub fn watch(&self, event_id: EventId) -> watch::Receiver<Option<EventHead>> {
        let mut heads = lock(&self.heads);
        heads.retain(|_, sender| sender.receiver_count() > 0);
        if let Some(sender) = heads.get(&event_id) {
            return sender.subscribe();
        }
        let (sender, receiver) = watch::channel(None);
        heads.insert(event_id, sender);
        let _ = self.refresh.send(Refresh::Event(event_id));
        receiver
    }

    /// Tells every instance (this one included) that `event_id`'s feed grew. Call it after the
    /// transaction that grew it committed.
    pub fn feed_grew(&self, event_id: EventId) {
        let _ = self.grew.send(event_id);
    }

    /// Waits until [`LIVE_ROUND_EVERY`] after the round before (not at all for the first), then
    /// starts a round; `false` when the server began to shut down meanwhile.
    async fn paced(&self, last_round: &mut Option<tokio::time::Instant>) -> bool {
        if let Some(last) = *last_round {
            tokio::select! {
                () = self.stopped() => return false,
                () = tokio::time::sleep_until(last + LIVE_ROUND_EVERY) => {}
            }
        }
        *last_round = Some(tokio::time::Instant::now());
        true
    }

    /// Sends the NOTIFYs: one statement for all the events that grew since the last one.
    async fn notify(self, pool: PgPool, mut grew: mpsc::UnboundedReceiver<EventId>) {
        let mut last_round = None;
        loop {
            let first = tokio::select! {
                () = self.stopped() => return,
                event = grew.recv() => match event {
                    Some(event) => event,
                    None => return,
                },
            };
            if !self.paced(&mut last_round).await {
                return;
            }
            let mut events: HashSet<EventId> = HashSet::from([first]);
            while let Ok(event) = grew.try_recv() {
                events.insert(event);
            }
            let payloads: Vec<String> = events.iter().map(ToString::to_string).collect();
            let sent = sqlx::query("select pg_notify($1, e) from unnest($2::text[]) e")
                .bind(FEED_CHANNEL)
                .bind(&payloads)
                .execute(&pool)
                .await;
            if let Err(err) = sent {
                // The kiosks' periodic sync still brings the changes; the streams are late.
                tracing::warn!(error = %err, events = payloads.len(), "cannot send live notices");
                tokio::select! {
                    () = self.stopped() => return,
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        }
    }

    /// Reads the heads the listener and new streams ask for, each event once per burst.
    async fn read_heads(self, store: PgStore, mut refresh: mpsc::UnboundedReceiver<Refresh>) {
        let mut last_round = None;
        loop {
            let first = tokio::select! {
                () = self.stopped() => return,
                r = refresh.recv() => match r {
                    Some(r) => r,
                    None => return,
                },
            };
            if !self.paced(&mut last_round).await {
                return;
            }
            let mut wanted: HashSet<EventId> = HashSet::new();
            let mut all = false;
            for r in std::iter::once(first).chain(std::iter::from_fn(|| refresh.try_recv().ok())) {
                match r {
                    Refresh::Event(event) => {
                        wanted.insert(event);
                    }
                    Refresh::All => all = true,
                }
            }
            let senders: Vec<(EventId, watch::Sender<Option<EventHead>>)> = {
                let mut heads = lock(&self.heads);
                heads.retain(|_, sender| sender.receiver_count() > 0);
                heads
                    .iter()
                    .filter(|(event, _)| all || wanted.contains(event))
                    .map(|(event, sender)| (*event, sender.clone()))
                    .collect()
            };
            for (event, sender) in senders {
                match store.live_head(event).await {
                    Ok(head) => {
                        sender.send_replace(Some(head));
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, event = %event, "live: cannot read the head");
                    }
                }
            }
        }
    }

    /// Listens on Postgres until shutdown, reconnecting after failures.
    async fn listen(self, pool: PgPool) {
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
                            tracing::info!("live listener back: every event reads its head again");
                            let _ = self.refresh.send(Refresh::All);
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
                                            let _ = self.refresh.send(Refresh::Event(event_id));
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

impl LiveTasks {
    /// Runs the notifier, the listener and the head reader until shutdown.
    pub async fn run(self, pool: PgPool) {
        let LiveTasks { hub, refresh, grew } = self;
        tokio::join!(
            hub.clone().notify(pool.clone(), grew),
            hub.clone().listen(pool.clone()),
            hub.read_heads(PgStore::from_pool(pool), refresh),
        );
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps hold plain values: a panic elsewhere leaves them usable.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
