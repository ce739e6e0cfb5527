//! The server's database pool against a connection handed back inside a transaction.
//!
//! sqlx 0.8.6 sends `BEGIN` before it records that a transaction is open: a request cancelled in
//! between (a kiosk hanging up, a timeout) gives its connection back to the pool inside a
//! transaction sqlx does not know of, and the next requests' writes never commit
//! (transact-rs/sqlx#4393). The test makes that state directly (a `BEGIN` sqlx does not track)
//! and checks that the server's pool closes such a connection (`PgStore::connect_with`).

mod support;

use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgPool};
use support::TestDb;
use sync_server::store::pg::PgStore;

/// Leaves `pool`'s connection inside an untracked transaction, then writes a row through the
/// pool: answers whether another connection sees the row.
async fn write_after_leaked_begin(pool: &PgPool, observer: &PgPool, round: i32) -> bool {
    {
        let mut conn = pool.acquire().await.unwrap();
        conn.execute("begin").await.unwrap();
        // Dropped: back to the pool, as a cancelled `Pool::begin` leaves it.
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
async fn a_connection_left_inside_a_transaction_is_closed_and_no_later_write_is_lost() {
    let db = TestDb::new().await;
    let observer = PgPool::connect(&db.url).await.unwrap();
    sqlx::query("create table pool_probe (round integer not null)")
        .execute(&observer)
        .await
        .unwrap();

    // A plain sqlx pool of one connection hands the connection on: the write is lost.
    let plain = PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    assert!(
        !write_after_leaked_begin(&plain, &observer, 0).await,
        "a plain pool no longer hands on a connection inside a transaction (is sqlx fixed?)"
    );
    plain.close().await;

    // The server's pool closes it instead: every write after it commits.
    let store = PgStore::connect_with(&db.url, 1).await.unwrap();
    for round in 1..=5 {
        assert!(
            write_after_leaked_begin(store.pool(), &observer, round).await,
            "round {round}: a write after a leaked transaction was lost"
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
