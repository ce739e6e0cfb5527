//! The filer: files the domain effects of pushed changes after their push committed.
//!
//! A push stores the change log and the feed rows and answers at once; what the changes mean on
//! the server (check-ins, walk-ins, attendee edits, the merge, conflicts) is filed here, from the
//! feed, in batches that span many pushes (`store::pg::filer` holds the SQL and the position in
//! each event's feed). A push rings the [`FilerBell`]; the filer also looks every
//! [`FILER_TICK`] for work another instance's pushes left (or a restart interrupted), so nothing
//! waits on a bell that was never rung. Reads that must see every answered push (reports, the
//! conflict list) catch up first (`PgStore::catch_up`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::pushes::{FILING_YIELDS_AT_MOST, Pushes};
use crate::store::pg::PgStore;
use crate::store::pg::filer::FILING_BATCH;

/// How often the filer looks for work nobody rang for.
pub const FILER_TICK: Duration = Duration::from_secs(1);

/// After a round that filed something, the filer lets pushes gather this long before the next
/// one: at a steady peak (hundreds of kiosks pushing a few check-ins each) one round then files
/// many pushes at once instead of one round per push, which would cost more than filing inside
/// each push did. The server's own view lags by about this much more; reads catch up anyway.
pub const FILER_GATHER: Duration = Duration::from_millis(50);

/// Wakes the filer of this instance (a push stored changes to file).
#[derive(Debug, Clone, Default)]
pub struct FilerBell(Arc<Notify>);

impl FilerBell {
    pub fn ring(&self) {
        self.0.notify_one();
    }
}

/// Runs the filer until `stop` turns true.
pub async fn run(store: PgStore, bell: FilerBell, pushes: Pushes, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        if file_all(&store, &pushes).await > 0 {
            tokio::select! {
                _ = tokio::time::sleep(FILER_GATHER) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        tokio::select! {
            _ = bell.0.notified() => {}
            _ = tokio::time::sleep(FILER_TICK) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Files every settled change of every event, each round after the pushes in flight
/// ([`crate::pushes`]); a failure is logged and tried again next time. Returns how many changes
/// it filed.
async fn file_all(store: &PgStore, pushes: &Pushes) -> u64 {
    let events = match store.events_to_file().await {
        Ok(events) => events,
        Err(err) => {
            tracing::warn!(error = %crate::error::error_chain(&err), "filer: cannot list events to file");
            return 0;
        }
    };
    let mut changes = 0;
    for event in events {
        loop {
            pushes.quiet(FILING_YIELDS_AT_MOST).await;
            let filing = store.file_settled(event, FILING_BATCH).await;
            crate::metrics::record_filing(
                filing.as_ref().map_or(0, |f| f.changes),
                filing.is_err(),
            );
            match filing {
                Ok(filed) if filed.more => changes += filed.changes,
                Ok(filed) => {
                    changes += filed.changes;
                    break;
                }
                Err(err) => {
                    tracing::warn!(event = %event, error = %crate::error::error_chain(&err),
                        "filer: filing failed; trying again");
                    break;
                }
            }
        }
    }
    changes
}
