//! What every handler shares: the store, the signing key, this instance's clock, the live hub.
//!
//! Nothing here must break with two instances on one database: the clock is per instance (an HLC
//! node), and live updates come from Postgres NOTIFY, not from this process.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use sync_protocol::UnixMillis;
use sync_protocol::crypto::SecretKey;
use sync_protocol::hlc::{DEFAULT_MAX_DRIFT_MS, Hlc, HlcClock, Receipt};

use crate::live::LiveHub;

/// The shared state of one server instance.
#[derive(Clone)]
pub struct AppState<S> {
    pub store: S,
    pub signing_key: Arc<SecretKey>,
    pub live: LiveHub,
    clock: Arc<Mutex<HlcClock>>,
}

impl<S> AppState<S> {
    pub fn new(store: S, signing_key: SecretKey, live: LiveHub) -> Self {
        Self {
            store,
            signing_key: Arc::new(signing_key),
            live,
            clock: Arc::new(Mutex::new(HlcClock::new(DEFAULT_MAX_DRIFT_MS))),
        }
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
