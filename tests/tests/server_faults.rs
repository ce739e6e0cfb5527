//! Faults on the server side: killed mid-push, acknowledgement lost. Nothing lost, nothing doubled.

use std::collections::BTreeMap;

use sqlx::PgPool;
use sync_protocol::wire::PullItem;
use system_tests::db::TestDb;
use system_tests::kiosk::SimKiosk;
use system_tests::seed;
use system_tests::server::ServerProcess;

/// Counts each (device, seq) that reached the feed.
fn count_by_seq(items: &[PullItem]) -> BTreeMap<(String, u64), usize> {
    let mut counts = BTreeMap::new();
    for item in items {
        if let PullItem::DeviceChange { change, .. } = item {
            *counts
                .entry((change.device_id.to_string(), change.seq))
                .or_default() += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_mid_push_loses_and_doubles_nothing() {
    let db = TestDb::new().await;
    let mut server = ServerProcess::start(&db.url).await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    let event = seed::event(&pool).await;
    let token = seed::enrolment_token(&pool, event.event_id).await;
    let mut kiosk = SimKiosk::enrol(&server.base, &token, "North gate").await;
    let reader_token = seed::enrolment_token(&pool, event.event_id).await;
    let mut reader = SimKiosk::enrol(&server.base, &reader_token, "Coordinator").await;

    const TOTAL: usize = 10_000;
    kiosk.queue_check_ins(TOTAL, event.gate_id);

    // Push in the background while the server is killed and restarted under it.
    let base = server.base.clone();
    let pushing = tokio::spawn(async move {
        let failures = kiosk.push_all(&base, 100, 10_000).await;
        (kiosk, failures)
    });
    // Killed once the first pushes are stored, with most of the queue still to go (not after a
    // fixed time: a fast build pushes the whole queue before it).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let stored: i64 = sqlx::query_scalar("select count(*) from changes")
            .fetch_one(&pool)
            .await
            .unwrap();
        if stored > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no push was stored in 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    server.kill();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    server.restart().await;
    let (kiosk, failures) = pushing.await.unwrap();
    assert!(failures > 0, "the kill happened while pushing");
    assert_eq!(kiosk.acknowledged, TOTAL as u64);

    let items = reader.pull_all(&server.base).await;
    let counts = count_by_seq(&items);
    assert_eq!(counts.len(), TOTAL, "every change arrived");
    assert!(counts.values().all(|&n| n == 1), "no change doubled");
    let stored: i64 = sqlx::query_scalar("select count(*) from changes")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, TOTAL as i64);
    pool.close().await;
    drop(server);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_acknowledgements_are_replayed_as_duplicates() {
    let db = TestDb::new().await;
    let server = ServerProcess::start(&db.url).await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    let event = seed::event(&pool).await;
    let token = seed::enrolment_token(&pool, event.event_id).await;
    let mut kiosk = SimKiosk::enrol(&server.base, &token, "South gate").await;
    kiosk.queue_check_ins(250, event.gate_id);
    kiosk.push_all(&server.base, 100, 0).await;

    // The kiosk never saw the acknowledgements (a crash before it recorded them): it sends all
    // of it again, and more.
    kiosk.acknowledged = 0;
    kiosk.queue_check_ins(50, event.gate_id);
    kiosk.push_all(&server.base, 120, 0).await;
    assert_eq!(kiosk.acknowledged, 300);

    let items = kiosk.pull_all(&server.base).await;
    let counts = count_by_seq(&items);
    assert_eq!(counts.len(), 300);
    assert!(counts.values().all(|&n| n == 1));
    pool.close().await;
    drop(server);
    db.drop_db().await;
}
