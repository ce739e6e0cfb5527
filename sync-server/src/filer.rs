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

use crate::store::pg::PgStore;
use crate::store::pg::filer::FILING_BATCH;

/// How often the filer looks for work nobody rang for.
pub const FILER_TICK: Duration = Duration::from_secs(1);

/// Wakes the filer of this instance (a push stored changes to file).
#[derive(Debug, Clone, Default)]
pub struct FilerBell(Arc<Notify>);

impl FilerBell {
    pub fn ring(&self) {
        self.0.notify_one();
    }
}

/// Runs the filer until `stop` turns true.
pub async fn run(store: PgStore, bell: FilerBell, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        file_all(&store).await;
        tokio::select! {
            _ = bell.0.notified() => {}
            _ = tokio::time::sleep(FILER_TICK) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Files every settled change of every event; a failure is logged and tried again next time.
async fn file_all(store: &PgStore) {
    let events = match store.events_to_file().await {
        Ok(events) => events,
        Err(err) => {
            tracing::warn!(error = %crate::error::error_chain(&err), "filer: cannot list events to file");
            return;
        }
    };
    for event in events {
        loop {
            match store.file_settled(event, FILING_BATCH).await {
                Ok(filed) if filed.more => continue,
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(event = %event, error = %crate::error::error_chain(&err),
                        "filer: filing failed; trying again");
                    break;
                }
            }
        }
    }
}
