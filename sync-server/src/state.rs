//! What every handler shares: the store, the signing key, this instance's clock, the live hub.
//!
//! Nothing here must break with two instances on one database: the clock is per instance (an HLC
//! node), and live updates come from Postgres NOTIFY, not from this process.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use sync_protocol::UnixMillis;
use sync_protocol::crypto::SecretKey;
use sync_protocol::hlc::{DEFAULT_MAX_DRIFT_MS, Hlc, HlcClock, Receipt};

use crate::filer::FilerBell;
use crate::live::LiveHub;
use crate::pushes::Pushes;

/// The shared state of one server instance.
#[derive(Clone)]
pub struct AppState<S> {
    pub store: S,
    pub signing_key: Arc<SecretKey>,
    pub live: LiveHub,
    /// Pulls served at once: pulls are bulk reads every kiosk of an event makes after every
    /// change, pushes are what a gate waits for; a bound on pulls keeps the database's and this
    /// instance's cores for pushes when hundreds of kiosks pull together.
    pub pulls: Arc<tokio::sync::Semaphore>,
    /// Rung after a push stored changes for the filer.
    pub filer: FilerBell,
    /// The pushes in flight, which pulls and filing wait for ([`crate::pushes`]).
    pub pushes: Pushes,
    clock: Arc<Mutex<HlcClock>>,
}

/// Pulls one instance serves at once unless told otherwise: two per core (a pull is CPU work on
/// both sides, the database's and this process's), at least two.
pub fn default_concurrent_pulls() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| 2 * n.get())
        .max(2)
}

impl<S> AppState<S> {
    pub fn new(store: S, signing_key: SecretKey, live: LiveHub) -> Self {
        Self {
            store,
            signing_key: Arc::new(signing_key),
            live,
            pulls: Arc::new(tokio::sync::Semaphore::new(default_concurrent_pulls())),
            filer: FilerBell::default(),
            pushes: Pushes::default(),
            clock: Arc::new(Mutex::new(HlcClock::new(DEFAULT_MAX_DRIFT_MS))),
        }
    }

    /// Serves at most `pulls` pulls at once (at least one).
    pub fn with_concurrent_pulls(mut self, pulls: usize) -> Self {
        self.pulls = Arc::new(tokio::sync::Semaphore::new(pulls.max(1)));
        self
    }

    /// A stamp for a server event.
    pub fn tick(&self) -> Hlc {
        self.clock().tick(now())
    }

    /// Merges a stamp received from a kiosk.
    pub fn receive(&self, remote: Hlc) -> Receipt {
        self.clock().receive(remote, now())
    }

    fn clock(&self) -> std::sync::MutexGuard<'_, HlcClock> {
        // A poisoned clock is still a valid clock: its state is a plain value.
        self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The server's wall clock.
pub fn now() -> UnixMillis {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    UnixMillis(ms)
}
