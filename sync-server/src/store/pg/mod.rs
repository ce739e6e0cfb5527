//! [`Store`](super::Store) on Postgres with sqlx, one file per concern.
//!
//! - `sync`: enrolment, device tokens, push and pull.
//! - `staff`: staff accounts, sessions, failed logins, audit log.
//! - `filer`: the filer's position in each event's feed, and its steps.
//! - `ingest`: domain effects and conflicts of pushed changes, filed by the filer.
//! - `conflicts`: listing and resolving conflicts, exports and counts.
//! - `packages`: reading what a package carries, storing and serving published packages.

mod catalogue;
mod conflicts;
pub mod filer;
pub(crate) mod ingest;
mod packages;
mod staff;
mod sync;

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Transaction};
use sync_protocol::UnixMillis;
use sync_protocol::ids::EventId;
use sync_protocol::wire::Cursor;

use super::StoreError;

/// The server's migrations, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/server");

/// Channel on which every instance hears that an event's feed grew (payload: the event id).
pub const FEED_CHANNEL: &str = "gatepass_feed";

/// Postgres storage.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

pub(crate) fn ms_to_secs(ms: UnixMillis) -> f64 {
    ms.as_u64() as f64 / 1000.0
}

pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Invalid(format!("{what} {value} is out of range")))
}

/// How long a pooled connection may sit idle before the pool pings it before handing it out.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(10);

/// Positions each feed row takes (migration `20261207000002_feed_runs`): a run of consecutive
/// seqs of one device is fed as one row, the change at seq s at position `pos + (s - seq)`, so a
/// cursor may point inside a run. A run is never longer.
pub(crate) const FEED_BLOCK: i64 = 1024;

/// The lowest position of a row that can hold positions after `pos` of the same transaction:
/// a feed row's positions lie within one block from its own.
pub(crate) fn block_floor(pos: u64, what: &str) -> Result<i64, StoreError> {
    Ok(to_i64(pos, what)? - (FEED_BLOCK - 1))
}

/// The runs of consecutive rising seqs in `seqs` as (first, last) columns, in order, none
/// longer than [`FEED_BLOCK`]: one feed row each.
pub(crate) fn feed_runs(seqs: &[i64]) -> (Vec<i64>, Vec<i64>) {
    let (mut firsts, mut lasts): (Vec<i64>, Vec<i64>) = (Vec::new(), Vec::new());
    for &seq in seqs {
        match (firsts.last(), lasts.last_mut()) {
            (Some(&first), Some(last))
                if last.checked_add(1) == Some(seq) && seq - first < FEED_BLOCK =>
            {
                *last = seq
            }
            _ => {
                firsts.push(seq);
                lasts.push(seq);
            }
        }
    }
    (firsts, lasts)
}

pub(crate) fn parse_cursor(tx: &str, pos: i64) -> Result<Cursor, StoreError> {
    Ok(Cursor {
        tx: tx
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("feed tx {tx:?}")))?,
        pos: u64::try_from(pos).map_err(|_| StoreError::Corrupt(format!("feed pos {pos}")))?,
    })
}

impl PgStore {
    /// Connects a pool of the default size to `url` (the admin CLI, tests).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, crate::config::DEFAULT_DATABASE_POOL).await
    }

    /// Connects a pool of at most `connections` to `url`, opening them as needed (the admin CLI,
    /// tests).
    pub async fn connect_with(url: &str, connections: u32) -> Result<Self, StoreError> {
        Self::open(url, connections, 0).await
    }

    /// Connects the pool of a serving instance: all `connections` opened at once and kept open.
    ///
    /// A venue's burst (the network comes back and every kiosk pushes its backlog at once)
    /// arrives after a quiet spell, when a pool that closes idle or old connections has closed them:
    /// opening a connection at that moment costs Postgres a new backend process and its caches,
    /// and the first 200-kiosk burst then took twice as long as the next (docs/benchmarks.md).
    pub async fn connect_serving(url: &str, connections: u32) -> Result<Self, StoreError> {
        Self::open(url, connections, connections).await
    }

    /// Sessions run without JIT compilation: the server's statements are short, and Postgres
    /// compiles any whose estimated cost passes `jit_above_cost`, as a filer batch's or a feed
    /// probe's can, spending 100 ms and more to save microseconds (docs/benchmarks.md).
    async fn open(url: &str, connections: u32, kept_open: u32) -> Result<Self, StoreError> {
        let options = url
            .parse::<sqlx::postgres::PgConnectOptions>()?
            .options([("jit", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .min_connections(kept_open.min(connections))
            .acquire_timeout(Duration::from_secs(5))
            // Connections live as long as the pool (a dead one is replaced once the check below
            // or its failed request finds it): with a lifetime, a venue's outage longer than it
            // made the burst after the outage open every connection again at its peak.
            .max_lifetime(None)
            // A connection idle for a while is checked before it is handed out (Postgres may
            // have restarted meanwhile); a busy pool's are not, which saves a round trip per
            // statement. One that fails anyway fails its request (a kiosk retries) and is then
            // closed, as sqlx closes a connection that does not answer on its way back.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= CHECK_IDLE_AFTER {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// Prepares the connections the pool keeps open for the kiosks' requests (each runs their
    /// statements once, for no device) and says how many: a serving instance calls it once the
    /// database is migrated, so that a burst right after a start does not pay for every
    /// backend's first use of the tables and statements. Connections the pool cannot hand out
    /// at once (the live listener holds one) and those opened later warm up as they serve.
    pub async fn warm(&self) -> Result<usize, StoreError> {
        let mut held = Vec::new();
        // Held until every one is warm, so that each turn takes another connection.
        for _ in 0..self.pool.options().get_min_connections() {
            match tokio::time::timeout(Duration::from_millis(250), self.pool.acquire()).await {
                Ok(conn) => held.push(conn?),
                Err(_) => break,
            }
        }
        for conn in &mut held {
            sync::warm_connection(conn).await?;
        }
        Ok(held.len())
    }

    /// Begins a transaction on a connection of the pool, safe against cancellation: every
    /// transaction of the server starts here (clippy refuses `Pool::begin` elsewhere).
    ///
    /// sqlx 0.8.6 sends `BEGIN` before it records that a transaction is open: a request
    /// cancelled in between (a kiosk hanging up, a timeout) would give the pool a session inside
    /// a transaction nothing ends, the next requests' writes would run inside it and never
    /// commit (transact-rs/sqlx#4393). Here the `BEGIN` runs in a task of its own, which always
    /// finishes it; when nobody awaits the transaction any more, it is dropped and rolled back
    /// like any other.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let pool = self.pool.clone();
        #[allow(clippy::disallowed_methods)]
        let begun = tokio::spawn(async move { pool.begin().await });
        begun.await.map_err(|_| sqlx::Error::WorkerCrashed)?
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool, for LISTEN connections and tests.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    pub(crate) async fn package_version(
        tx: &mut Transaction<'_, Postgres>,
        event_id: EventId,
    ) -> Result<u64, StoreError> {
        let version: i64 = sqlx::query_scalar(
            "select coalesce(max(version), 0) from packages where event_id = $1",
        )
        .bind(event_id.as_uuid())
        .fetch_one(&mut **tx)
        .await?;
        Ok(version.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::{FEED_BLOCK, feed_runs};

    #[test]
    fn a_batch_is_fed_as_its_runs_of_consecutive_seqs_in_order() {
        assert_eq!(feed_runs(&[]), (vec![], vec![]));
        assert_eq!(feed_runs(&[5]), (vec![5], vec![5]));
        assert_eq!(
            feed_runs(&[1, 2, 3, 5, 6, 9, 4]),
            (vec![1, 5, 9, 4], vec![3, 6, 9, 4])
        );
        // Falling or repeated seqs start a new run: a run lists its changes by seq.
        assert_eq!(feed_runs(&[3, 2, 2]), (vec![3, 2, 2], vec![3, 2, 2]));
        assert_eq!(
            feed_runs(&[i64::MAX - 1, i64::MAX]),
            (vec![i64::MAX - 1], vec![i64::MAX])
        );
    }

    #[test]
    fn no_run_is_longer_than_a_block() {
        let seqs: Vec<i64> = (1..=2 * FEED_BLOCK + 5).collect();
        let (firsts, lasts) = feed_runs(&seqs);
        assert_eq!(firsts, vec![1, FEED_BLOCK + 1, 2 * FEED_BLOCK + 1]);
        assert_eq!(lasts, vec![FEED_BLOCK, 2 * FEED_BLOCK, 2 * FEED_BLOCK + 5]);
    }
}
