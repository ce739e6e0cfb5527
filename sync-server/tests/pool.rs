//! The server's database pool: transactions that begin safely when their request is cancelled,
//! and connections warmed at start.
//!
//! sqlx 0.8.6 sends `BEGIN` before it records that a transaction is open: a request cancelled in
//! between (a kiosk hanging up, a timeout) gives its connection back to the pool inside a
//! transaction sqlx does not know of, and the next requests' writes never commit
//! (transact-rs/sqlx#4393). `PgStore::begin` runs the `BEGIN` in a task of its own.

mod support;

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use support::TestDb;
use sync_server::store::pg::PgStore;

/// Begins a transaction with `begin` and cancels it after `polls` steps (each poll lets it go
/// as far as its next wait for Postgres, then Postgres has 5 ms to answer): from before the
/// `BEGIN` is sent to after it was answered. Then writes a row through `pool`: answers whether
/// another connection sees the row.
async fn write_after_cancelled_begin<F: Future>(
    begin: F,
    polls: usize,
    pool: &PgPool,
    observer: &PgPool,
    round: i32,
) -> bool {
    {
        let mut begin = std::pin::pin!(begin);
        for _ in 0..polls {
            if futures_util::poll!(begin.as_mut()).is_ready() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let written = sqlx::query("insert into pool_probe (round) values ($1)")
        .bind(round)
        .execute(pool)
        .await;
    let seen: bool =
        sqlx::query_scalar("select exists (select 1 from pool_probe where round = $1)")
            .bind(round)
            .fetch_one(observer)
            .await
            .unwrap();
    written.is_ok() && seen
}

#[tokio::test]
async fn a_request_cancelled_while_its_transaction_begins_loses_no_later_write() {
    let db = TestDb::new().await;
    let observer = PgPool::connect(&db.url).await.unwrap();
    sqlx::query("create table pool_probe (round integer not null)")
        .execute(&observer)
        .await
        .unwrap();

    // sqlx's own begin (what the server would do without PgStore::begin).
    let plain = PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    // Cancelled at each step in turn, sqlx's begin hands on a connection inside a transaction
    // at one of them: the write after it is lost.
    let mut lost = None;
    for polls in 1..=20 {
        #[allow(clippy::disallowed_methods)]
        let begin = plain.begin();
        if !write_after_cancelled_begin(begin, polls, &plain, &observer, -(polls as i32)).await {
            lost = Some(polls);
            break;
        }
    }
    plain.close().await;
    assert!(
        lost.is_some(),
        "sqlx's begin never lost a write here (is sqlx fixed?)"
    );

    // The server's transactions: every write after a cancelled begin commits.
    let store = PgStore::connect_with(&db.url, 1).await.unwrap();
    for round in 1..=12 {
        let polls = round as usize % 6 + 1;
        assert!(
            write_after_cancelled_begin(store.begin(), polls, store.pool(), &observer, round).await,
            "round {round}: a write after a cancelled begin was lost"
        );
    }

    store.pool().close().await;
    observer.close().await;
    db.drop_db().await;
}

/// How many of the kiosk request's statements (the one-statement push, the device look-up) each
/// of `n` connections of the pool holds prepared (all `n` taken at once, so each is another).
async fn kiosk_statements_prepared(store: &PgStore, n: usize) -> Vec<i64> {
    let mut conns = Vec::new();
    for _ in 0..n {
        conns.push(store.pool().acquire().await.unwrap());
    }
    let mut counts = Vec::new();
    for conn in &mut conns {
        let count: i64 = sqlx::query_scalar(
            "select count(*) from pg_prepared_statements
             where statement like 'with device as materialized%'
                or statement like 'with device as (%'",
        )
        .fetch_one(&mut **conn)
        .await
        .unwrap();
        counts.push(count);
    }
    counts
}

/// A serving instance warms its pool at start: every connection then holds the kiosk
/// request's statements prepared (its backend has planned them once), and nothing was written.
#[tokio::test]
async fn warming_prepares_the_kiosk_statements_on_every_connection_and_writes_nothing() {
    let db = TestDb::new().await;
    let store = PgStore::connect_serving(&db.url, 3).await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(
        kiosk_statements_prepared(&store, 3).await,
        vec![0, 0, 0],
        "nothing prepared before warming"
    );
    assert_eq!(store.warm().await.unwrap(), 3, "every connection warmed");
    assert_eq!(
        kiosk_statements_prepared(&store, 3).await,
        vec![2, 2, 2],
        "the push and the device look-up are prepared on every connection"
    );
    for table in ["changes", "feed", "devices"] {
        let rows: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(rows, 0, "warming wrote to {table}");
    }
    store.pool().close().await;
    db.drop_db().await;
}
