//! The background sync: one task per kiosk that pushes and pulls on its own, so nobody at a gate
//! has to press "sync".
//!
//! [`SyncLoop::spawn`] starts it on the current tokio runtime and returns a [`SyncHandle`]. The
//! task syncs (push, then pull) every [`LoopConfig::interval`] while online, soon after a local
//! check-in or walk-in ([`SyncHandle::notify_local_change`]), and when the server's live stream
//! says the feed grew (another gate's check-in). It tells offline from online by itself: a
//! connection failure marks the kiosk offline and the next try waits an exponential backoff with
//! full jitter; the first success marks it online again. A revoked kiosk stops syncing.
//!
//! Every sync, [`SyncHandle::sync_now`] and [`SyncHandle::fetch_package`] included, runs inside
//! this one task, so two never overlap. Retrying is safe because the outbox and the idempotent
//! push already guarantee that nothing is lost or doubled: this module keeps no record of what was
//! sent. What it knows for the screens is a [`SyncStatus`], published on a watch channel and, with
//! each change, as a `sync` event on the kiosk's event stream, beside its progress, its reports,
//! the packages it applied and the failures that start a run of them.
//!
//! The live stream client (Server-Sent Events) is in `live`.

mod live;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::Rng;
use serde::Serialize;
use sync_protocol::UnixMillis;
use sync_protocol::wire::LiveNotice;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::events::{EventSender, KioskEvent, emit, emit_synced, reporting_progress};
use crate::store::{KioskStore, StoreError};
use crate::sync::{SyncClient, SyncError, SyncProgress, SyncReport};

/// When the background sync runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopConfig {
    /// Time between syncs while online when nothing else asks for one.
    pub interval: Duration,
    /// Time from a local check-in or walk-in to its push; changes within it go together.
    pub local_change_delay: Duration,
    /// Ceiling of the first wait after a failure. It doubles with each failure in a row, up to
    /// `backoff_cap`; each wait is drawn at random below the ceiling (full jitter), so kiosks that
    /// lost the network together do not come back together.
    pub backoff_start: Duration,
    pub backoff_cap: Duration,
    /// Keep the server's live stream open while online, so another gate's check-in arrives within
    /// about a second rather than at the next interval.
    pub live: bool,
}

impl Default for LoopConfig {
    fn default() -> Self {
        LoopConfig {
            interval: Duration::from_secs(15),
            local_change_delay: Duration::from_millis(300),
            backoff_start: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(30),
            live: true,
        }
    }
}

/// What the background sync knows, for the status bar and the coordinator screen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncStatus {
    /// The last try reached the server.
    pub online: bool,
    /// A sync (or package fetch) is running now.
    pub syncing: bool,
    /// Changes recorded here that the server has not acknowledged yet.
    pub pending: u64,
    pub acknowledged: u64,
    /// Changes the server refused for good (kept here for the coordinator).
    pub parked: u64,
    /// When the last sync succeeded.
    pub last_sync_at: Option<UnixMillis>,
    /// When the last sync started, successful or not.
    pub last_attempt_at: Option<UnixMillis>,
    /// Why the last try failed; `None` once a sync succeeds.
    pub last_error: Option<String>,
    /// The server revoked this kiosk: it no longer syncs and must be enrolled again.
    pub revoked: bool,
    /// The server said this kiosk's clock runs ahead by this much (from the last push).
    pub clock_ahead_ms: Option<u64>,
    /// The package version this kiosk holds.
    pub package_version: Option<u64>,
    /// The newest package version the server announced.
    pub server_package_version: Option<u64>,
    /// The live stream is connected.
    pub live: bool,
    /// Feed items (other gates' check-ins, walk-ins, ticket changes) pulled since the start, so a
    /// screen knows when to refresh its counts.
    pub pulled_total: u64,
}

/// Where the loop reads the time for the status (tests pass a fixed clock).
pub type Clock = fn() -> UnixMillis;

/// The system's wall clock.
pub fn system_clock() -> UnixMillis {
    UnixMillis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    )
}

type ProgressFn = Box<dyn Fn(SyncProgress) + Send>;

/// Requests from the handle to the task.
enum Command {
    SyncNow {
        progress: ProgressFn,
        reply: oneshot::Sender<Result<SyncReport, SyncError>>,
    },
    FetchPackage {
        reply: oneshot::Sender<Result<Option<u64>, SyncError>>,
    },
    LocalChange,
}

/// What both the task and the handle reach: the store and the published status.
struct Shared {
    store: Arc<Mutex<KioskStore>>,
    status: watch::Sender<SyncStatus>,
    events: EventSender,
    /// Held while counts are read and published, so an older reading never overwrites a newer.
    counts_turn: Mutex<()>,
}

impl Shared {
    /// Applies `change` to the status; watchers wake only when something changed.
    fn update(&self, change: impl FnOnce(&mut SyncStatus)) {
        let changed = self.status.send_if_modified(|status| {
            let before = status.clone();
            change(status);
            *status != before
        });
        if changed {
            emit(&self.events, KioskEvent::Sync(self.status.borrow().clone()));
        }
    }

    /// Re-reads the outbox counts and the package version held.
    fn refresh_counts(&self) {
        let _turn = self.counts_turn.lock().unwrap_or_else(|e| e.into_inner());
        let read = || -> Result<_, StoreError> {
            let store = lock(&self.store);
            Ok((store.outbox_counts()?, store.package_version()?))
        };
        match read() {
            Ok(((pending, acknowledged, parked), package_version)) => self.update(|s| {
                s.pending = pending;
                s.acknowledged = acknowledged;
                s.parked = parked;
                s.package_version = package_version;
            }),
            Err(err) => tracing::warn!(error = %err, "cannot read the outbox counts"),
        }
    }
}

/// The background sync task (see the module doc). [`SyncLoop::spawn`] starts one.
pub struct SyncLoop {
    shared: Arc<Shared>,
    client: SyncClient,
    config: LoopConfig,
    clock: Clock,
    commands: mpsc::UnboundedReceiver<Command>,
    notices: mpsc::Receiver<LiveNotice>,
    stop: Arc<Notify>,
    live: Option<JoinHandle<()>>,
    /// Failed tries in a row (0 when the last one succeeded).
    failures: u32,
    revoked: bool,
    /// When the next timed sync runs.
    due: Instant,
}

/// The app's side of a running [`SyncLoop`]. Dropping it stops the loop too, without waiting.
pub struct SyncHandle {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    stop: Arc<Notify>,
    task: JoinHandle<()>,
    runtime: tokio::runtime::Handle,
}

impl SyncLoop {
    /// Starts the background sync on the current tokio runtime; the first sync runs at once.
    /// The live stream connects to the server and token the kiosk was enrolled with.
    ///
    /// Panics outside a tokio runtime.
    pub fn spawn(
        store: Arc<Mutex<KioskStore>>,
        client: SyncClient,
        config: LoopConfig,
        clock: Clock,
        events: EventSender,
    ) -> SyncHandle {
        let runtime = tokio::runtime::Handle::current();
        let shared = Arc::new(Shared {
            store,
            status: watch::channel(SyncStatus::default()).0,
            events,
            counts_turn: Mutex::new(()),
        });
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let (notices_tx, notices) = mpsc::channel(16);
        let live = config.live.then(|| {
            runtime.spawn(live::run(
                shared.clone(),
                notices_tx,
                config.backoff_start,
                config.backoff_cap,
            ))
        });
        let stop = Arc::new(Notify::new());
        let task = runtime.spawn(
            SyncLoop {
                shared: shared.clone(),
                client: client.with_clock(clock),
                config,
                clock,
                commands,
                notices,
                stop: stop.clone(),
                live,
                failures: 0,
                revoked: false,
                due: Instant::now(),
            }
            .run(),
        );
        SyncHandle {
            shared,
            commands: commands_tx,
            stop,
            task,
            runtime,
        }
    }

    async fn run(mut self) {
        self.shared.refresh_counts();
        loop {
            let carry_on = tokio::select! {
                biased;
                () = self.stop.notified() => false,
                command = self.commands.recv() => match command {
                    Some(command) => self.obey(command).await,
                    None => false,
                },
                Some(notice) = self.notices.recv() => {
                    self.on_notice(notice);
                    true
                }
                () = tokio::time::sleep_until(self.due), if !self.revoked => {
                    self.sync(Box::new(|_| {})).await.is_some()
                }
            };
            if !carry_on {
                break;
            }
        }
        if let Some(live) = self.live.take() {
            live.abort();
            let _ = live.await;
        }
        self.shared.update(|s| {
            s.syncing = false;
            s.live = false;
        });
        tracing::debug!("background sync stopped");
    }

    /// Carries out one request; `false` when the loop was stopped meanwhile.
    async fn obey(&mut self, command: Command) -> bool {
        match command {
            Command::LocalChange => {
                if self.failures == 0 && !self.revoked {
                    self.due = self
                        .due
                        .min(Instant::now() + self.config.local_change_delay);
                }
                self.shared.refresh_counts();
                true
            }
            Command::SyncNow { progress, reply } => {
                if self.revoked {
                    let _ = reply.send(Err(SyncError::Revoked));
                    return true;
                }
                let Some(result) = self.sync(progress).await else {
                    return false;
                };
                let _ = reply.send(result);
                true
            }
            Command::FetchPackage { reply } => {
                if self.revoked {
                    let _ = reply.send(Err(SyncError::Revoked));
                    return true;
                }
                self.shared.update(|s| s.syncing = true);
                let result = tokio::select! {
                    biased;
                    () = self.stop.notified() => None,
                    result = self.client.fetch_package(&self.shared.store) => Some(result),
                };
                self.shared.update(|s| s.syncing = false);
                let Some(result) = result else {
                    return false;
                };
                match &result {
                    Ok(applied) => {
                        if let Some(version) = *applied {
                            emit(&self.shared.events, KioskEvent::Package { version });
                        }
                        self.shared.refresh_counts();
                    }
                    Err(err) => self.record_failure(err),
                }
                let _ = reply.send(result);
                true
            }
        }
    }

    /// One push-then-pull; `None` when the loop was stopped meanwhile (the sync is dropped
    /// between two requests, which the outbox makes safe).
    async fn sync(&mut self, progress: ProgressFn) -> Option<Result<SyncReport, SyncError>> {
        let started = (self.clock)();
        self.shared.update(|s| {
            s.syncing = true;
            s.last_attempt_at = Some(started);
        });
        let progress = reporting_progress(&self.shared.events, progress);
        let result = tokio::select! {
            biased;
            () = self.stop.notified() => None,
            result = self.client.sync_once(&self.shared.store, progress) => Some(result),
        };
        match &result {
            Some(Ok(report)) => self.record_success(report),
            Some(Err(err)) => self.record_failure(err),
            None => self.shared.update(|s| s.syncing = false),
        }
        self.shared.refresh_counts();
        result
    }

    fn record_success(&mut self, report: &SyncReport) {
        let now = (self.clock)();
        if self.failures > 0 || !self.shared.status.borrow().online {
            tracing::info!("sync server reachable: online");
        }
        tracing::debug!(
            pushed = report.pushed,
            pulled = report.pulled,
            parked = report.parked,
            "synced"
        );
        self.failures = 0;
        self.due = Instant::now() + self.config.interval;
        self.shared.update(|s| {
            s.syncing = false;
            s.online = true;
            s.last_sync_at = Some(now);
            s.last_error = None;
            s.pulled_total += report.pulled;
            if report.pushed > 0 {
                // Only a push tells how far ahead the clock runs.
                s.clock_ahead_ms = report.clock_ahead_ms;
            }
            if report.package_version > 0 {
                s.server_package_version = Some(report.package_version);
            }
        });
        emit_synced(&self.shared.events, report);
    }

    fn record_failure(&mut self, err: &SyncError) {
        let message = err.to_string();
        // The first failure of a run, or a new reason, is reported; the retries that follow
        // show in the status only (an offline hour is not a hundred error messages).
        if self.failures == 0 || self.shared.status.borrow().last_error.as_ref() != Some(&message) {
            emit(
                &self.shared.events,
                KioskEvent::Error(crate::app::AppError::from_sync(err).to_ui()),
            );
        }
        if let SyncError::Revoked = err {
            tracing::warn!("this kiosk was revoked: the background sync stops");
            self.revoked = true;
            if let Some(live) = self.live.take() {
                live.abort();
            }
            self.shared.update(|s| {
                s.syncing = false;
                s.online = true;
                s.revoked = true;
                s.live = false;
                s.last_error = Some(message);
            });
            return;
        }
        self.failures = self.failures.saturating_add(1);
        let wait = backoff(
            self.failures,
            self.config.backoff_start,
            self.config.backoff_cap,
            &mut rand::thread_rng(),
        );
        self.due = Instant::now() + wait;
        // Whether the server was reached: an answer it gave says so; a local failure does not.
        let reached = match err {
            SyncError::Offline(_) => Some(false),
            SyncError::Server { .. } | SyncError::Busy(_) | SyncError::Protocol(_) => Some(true),
            SyncError::Revoked | SyncError::NotEnrolled | SyncError::Store(_) => None,
        };
        if reached == Some(false) && self.shared.status.borrow().online {
            tracing::info!("sync server unreachable: offline");
        }
        tracing::warn!(
            error = %err,
            failures = self.failures,
            retry_in_ms = wait.as_millis() as u64,
            "sync failed"
        );
        self.shared.update(|s| {
            s.syncing = false;
            if let Some(reached) = reached {
                s.online = reached;
            }
            s.last_error = Some(message);
        });
    }

    /// The feed grew (or a package was published): pull now if this kiosk is behind.
    fn on_notice(&mut self, notice: LiveNotice) {
        let read = || -> Result<_, StoreError> {
            let store = lock(&self.shared.store);
            Ok((store.cursor()?, store.package_version()?.unwrap_or(0)))
        };
        let (cursor, held) = match read() {
            Ok(read) => read,
            Err(err) => {
                tracing::warn!(error = %err, "live notice: cannot read the cursor");
                return;
            }
        };
        if notice.package_version > held {
            self.shared
                .update(|s| s.server_package_version = Some(notice.package_version));
        }
        if notice.position > cursor || notice.package_version > held {
            tracing::debug!(position = %notice.position, "live notice: pulling now");
            self.due = Instant::now();
        }
    }
}

impl SyncHandle {
    /// The latest status.
    pub fn status(&self) -> SyncStatus {
        self.shared.status.borrow().clone()
    }

    /// A receiver that sees every new status.
    pub fn subscribe(&self) -> watch::Receiver<SyncStatus> {
        self.shared.status.subscribe()
    }

    /// Runs one sync now (after the one running, if any) and returns its report.
    pub async fn sync_now(
        &self,
        progress: impl Fn(SyncProgress) + Send + 'static,
    ) -> Result<SyncReport, SyncError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::SyncNow {
            progress: Box::new(progress),
            reply,
        };
        if self.commands.send(command).is_err() {
            return Err(self.stopped());
        }
        answer.await.unwrap_or_else(|_| Err(self.stopped()))
    }

    /// Fetches and applies the newest package (after the running sync, if any). Returns the
    /// version applied, or `None` when there is nothing newer.
    pub async fn fetch_package(&self) -> Result<Option<u64>, SyncError> {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::FetchPackage { reply }).is_err() {
            return Err(self.stopped());
        }
        answer.await.unwrap_or_else(|_| Err(self.stopped()))
    }

    /// A check-in or walk-in was just recorded: push it soon (changes close together go in one
    /// push). Does not block; the counts are refreshed in the background.
    pub fn notify_local_change(&self) {
        let _ = self.commands.send(Command::LocalChange);
        self.refresh_counts();
    }

    /// Re-reads the outbox counts and the package version into the status, in the background
    /// (safe to call while holding the store's lock).
    pub fn refresh_counts(&self) {
        let shared = self.shared.clone();
        self.runtime.spawn_blocking(move || shared.refresh_counts());
    }

    /// Stops the loop (a running sync is dropped between two requests) and waits for it to end.
    pub async fn shutdown(self) {
        self.stop.notify_one();
        if let Err(err) = self.task.await
            && err.is_panic()
        {
            tracing::error!(error = %err, "the background sync had panicked");
        }
    }

    /// The error a request gets when the loop is gone.
    fn stopped(&self) -> SyncError {
        if self.shared.status.borrow().revoked {
            SyncError::Revoked
        } else {
            SyncError::Offline("the background sync has stopped".into())
        }
    }
}

/// The wait before the next try after `failures` failures in a row: a random duration up to
/// `start * 2^(failures - 1)`, at most `cap` (exponential backoff with full jitter).
fn backoff(failures: u32, start: Duration, cap: Duration, rng: &mut impl Rng) -> Duration {
    let ceiling = backoff_ceiling(failures, start, cap);
    Duration::from_millis(rng.gen_range(0..=ceiling.as_millis() as u64))
}

fn backoff_ceiling(failures: u32, start: Duration, cap: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(31);
    start.saturating_mul(1 << doublings).min(cap)
}

fn lock(store: &Mutex<KioskStore>) -> MutexGuard<'_, KioskStore> {
    // Every store write is one SQLite transaction: a poisoned lock still guards a usable store.
    store.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn backoff_doubles_from_the_start_to_the_cap() {
        let (start, cap) = (Duration::from_secs(1), Duration::from_secs(60));
        let ceilings: Vec<u64> = (1..=9)
            .map(|n| backoff_ceiling(n, start, cap).as_secs())
            .collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff_ceiling(u32::MAX, start, cap), cap);
        assert_eq!(backoff_ceiling(0, start, cap), start);
    }

    #[test]
    fn each_wait_is_drawn_below_its_ceiling() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let (start, cap) = (Duration::from_secs(1), Duration::from_secs(60));
        for failures in 1..40 {
            let ceiling = backoff_ceiling(failures, start, cap);
            let waits: Vec<Duration> = (0..200)
                .map(|_| backoff(failures, start, cap, &mut rng))
                .collect();
            assert!(waits.iter().all(|w| *w <= ceiling));
            // Full jitter: the waits spread over the whole range, not bunched at the ceiling.
            assert!(waits.iter().any(|w| *w < ceiling / 2), "{failures}");
        }
    }

    #[test]
    fn the_default_config_is_the_documented_one() {
        let config = LoopConfig::default();
        assert_eq!(config.interval, Duration::from_secs(15));
        assert!(config.local_change_delay <= Duration::from_secs(1));
        assert_eq!(config.backoff_start, Duration::from_secs(1));
        assert_eq!(config.backoff_cap, Duration::from_secs(30));
    }
}
