//! The engine handle as the coordinator screen uses it, against the real server: parked changes
//! are listed, sent again on "retry" and set aside on "dismiss", and every step shows on the
//! kiosk's event stream (verdicts, sync reports, status, errors).

use kiosk_core::app::{AppError, Kiosk, KioskEvent, ScanSource};
use sqlx::PgPool;
use sync_protocol::crypto::KdfParams;
use sync_protocol::verdict::VerdictCode;
use system_tests::db::TestDb;
use system_tests::kiosk::enrolled_store;
use system_tests::seed;
use system_tests::server::ServerProcess;
use tokio::sync::broadcast::Receiver;

/// Every event received so far.
fn drain(events: &mut Receiver<KioskEvent>) -> Vec<KioskEvent> {
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    seen
}

/// Receives events into `seen` until `found` holds (a minute at most: a failure, not a timing).
async fn wait_for(
    events: &mut Receiver<KioskEvent>,
    seen: &mut Vec<KioskEvent>,
    what: &str,
    found: impl Fn(&[KioskEvent]) -> bool,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !found(seen) {
        assert!(
            std::time::Instant::now() < deadline,
            "no {what} in {seen:?}"
        );
        match tokio::time::timeout(std::time::Duration::from_secs(1), events.recv()).await {
            Ok(Ok(event)) => seen.push(event),
            Ok(Err(e)) => panic!("event stream: {e}"),
            Err(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_change_is_retried_or_set_aside_and_every_step_is_an_event() {
    let db = TestDb::new().await;
    let mut server = ServerProcess::start(&db.url).await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    let event = seed::event(&pool).await;
    let codes = seed::tickets(&pool, event.event_id, 3).await;
    server.admin(&["package", "publish", "--event", &event.event_id.to_string()]);
    let (store, dir, _) = enrolled_store(&server.base, &pool, event.event_id, "desk").await;
    drop(store);

    let kiosk = Kiosk::open(&dir, KdfParams::FOR_TESTS).unwrap();
    kiosk.unlock("24682468").unwrap();
    kiosk.select_gate(event.gate_id).unwrap();
    let mut events = kiosk.subscribe();

    let first = kiosk.scan(codes[0].as_bytes(), ScanSource::Wedge).unwrap();
    assert_eq!(first.verdict.code, VerdictCode::Admitted);
    let second = kiosk.scan(codes[1].as_bytes(), ScanSource::Wedge).unwrap();
    assert_eq!(
        drain(&mut events),
        vec![
            KioskEvent::Scan(first.clone()),
            KioskEvent::Scan(second.clone())
        ],
        "each verdict is an event"
    );

    // The first check-in's outbox row is damaged on disk: it goes out as a placeholder the
    // server parks, and the second goes through.
    {
        let raw = rusqlite::Connection::open(dir.join("kiosk.db")).unwrap();
        raw.execute(
            "update outbox set sealed = x'00' where seq = ?1",
            [first.seq as i64],
        )
        .unwrap();
    }
    let report = kiosk.sync_now(|_| {}).await.unwrap();
    assert_eq!(
        (report.pushed, report.parked, report.pending_after),
        (2, 1, 0)
    );
    let outbox = kiosk.outbox().unwrap();
    assert_eq!((outbox.pending, outbox.parked, outbox.dismissed), (0, 1, 0));
    let parked = &outbox.parked_changes[0];
    assert_eq!(
        (parked.seq, parked.kind.as_str(), parked.code.as_str()),
        (first.seq, "check_in", "unknown_kind"),
        "the row's own kind, refused as the placeholder it went out as"
    );

    // Retry: back in the queue, sent again; the server gives its reason again (the row is still
    // damaged), so it is parked again, and nothing else moves.
    let retried = kiosk.retry_parked(parked.seq).unwrap();
    assert_eq!((retried.pending, retried.parked), (1, 0));
    let report = kiosk.sync_now(|_| {}).await.unwrap();
    assert_eq!((report.pushed, report.parked), (1, 1));
    assert_eq!(kiosk.outbox().unwrap().parked, 1);

    // Dismiss: kept, no longer parked; a second dismiss or retry of it is refused clearly.
    let dismissed = kiosk.dismiss_parked(parked.seq).unwrap();
    assert_eq!((dismissed.parked, dismissed.dismissed), (0, 1));
    assert!(dismissed.parked_changes.is_empty());
    assert!(matches!(
        kiosk.retry_parked(parked.seq),
        Err(AppError::Invalid { field: Some(f), .. }) if f == "seq"
    ));
    assert!(kiosk.dismiss_parked(parked.seq).is_err());
    assert_eq!(kiosk.sync_status().unwrap().parked, 0);

    // The background sync reports on the same stream: its status, its reports and, when the
    // server goes away, one error (not one per retry).
    kiosk
        .start_sync(kiosk_core::background::LoopConfig {
            interval: std::time::Duration::from_millis(200),
            backoff_start: std::time::Duration::from_millis(50),
            backoff_cap: std::time::Duration::from_millis(200),
            ..Default::default()
        })
        .unwrap()
        .expect("the background sync starts");
    let mut seen = Vec::new();
    wait_for(&mut events, &mut seen, "online status and report", |seen| {
        seen.iter()
            .any(|e| matches!(e, KioskEvent::Sync(s) if s.online))
            && seen.iter().any(|e| matches!(e, KioskEvent::Synced(_)))
    })
    .await;
    assert!(kiosk.is_online());
    seen.clear();
    server.kill();
    wait_for(&mut events, &mut seen, "several failed tries", |seen| {
        seen.iter()
            .filter(|e| matches!(e, KioskEvent::Sync(s) if s.last_error.is_some() && !s.syncing))
            .count()
            >= 6
    })
    .await;
    let errors: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            KioskEvent::Error(error) => Some(error),
            _ => None,
        })
        .collect();
    // The first failure is reported (and a new reason would be), not each retry.
    assert!(
        (1..=2).contains(&errors.len()),
        "errors for a run of failures: {errors:?}"
    );
    assert!(
        errors
            .iter()
            .all(|e| e.kind == kiosk_core::app::ErrorKind::Offline)
    );
    assert!(!kiosk.is_online());
    kiosk.shut_down().await;

    let _ = std::fs::remove_dir_all(&dir);
    pool.close().await;
    drop(server);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coordinator_sees_the_events_open_conflicts_named_from_the_package() {
    let db = TestDb::new().await;
    let mut server = ServerProcess::start(&db.url).await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    let event = seed::event(&pool).await;
    let codes = seed::tickets(&pool, event.event_id, 2).await;
    server.admin(&["package", "publish", "--event", &event.event_id.to_string()]);
    let mut kiosks = Vec::new();
    for label in ["north", "south"] {
        let (store, dir, _) = enrolled_store(&server.base, &pool, event.event_id, label).await;
        drop(store);
        let kiosk = Kiosk::open(&dir, KdfParams::FOR_TESTS).unwrap();
        kiosk.unlock("24682468").unwrap();
        kiosk.select_gate(event.gate_id).unwrap();
        kiosks.push((kiosk, dir));
    }
    let (north, south) = (&kiosks[0].0, &kiosks[1].0);
    let none = north.conflicts().await.unwrap();
    assert_eq!((none.total_open, none.conflicts.len()), (0, 0));

    // Both gates admit the same badge before either has synced: a double admission.
    for kiosk in [north, south] {
        let outcome = kiosk.scan(codes[0].as_bytes(), ScanSource::Wedge).unwrap();
        assert_eq!(outcome.verdict.code, VerdictCode::Admitted);
        kiosk.sync_now(|_| {}).await.unwrap();
    }
    let seen = north.conflicts().await.unwrap();
    assert_eq!(seen.total_open, 1, "{seen:?}");
    let conflict = &seen.conflicts[0];
    assert_eq!(conflict.kind, "double_admission");
    assert_eq!(
        conflict.subjects,
        vec![kiosk_core::app::ConflictSubject {
            name: Some("Guest1 Tester".to_owned()),
            code: Some(codes[0].clone()),
            ticket_type: Some("Day pass".to_owned()),
        }],
        "the ticket is named from the package; the check-ins are not listed as subjects"
    );
    assert_eq!(
        south.conflicts().await.unwrap(),
        seen,
        "every kiosk of the event sees it"
    );

    // Offline, the screen gets a plain "cannot reach the server", and the gate goes on.
    server.kill();
    assert!(matches!(north.conflicts().await, Err(AppError::Offline(_))));
    let later = north.scan(codes[1].as_bytes(), ScanSource::Wedge).unwrap();
    assert_eq!(later.verdict.code, VerdictCode::Admitted);

    for (_, dir) in &kiosks {
        let _ = std::fs::remove_dir_all(dir);
    }
    pool.close().await;
    drop(server);
    db.drop_db().await;
}
