//! The kiosk's background sync against the real sync-server binary on real Postgres: another
//! gate's check-in arrives through the live stream, an offline kiosk keeps everything and pushes
//! each change once when the server is back, and a revoked kiosk stops.
//!
//! No timing is asserted: each wait has a generous deadline and fails only when it passes.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiosk_core::background::{LoopConfig, SyncHandle, SyncLoop, SyncStatus, system_clock};
use kiosk_core::gate::scan;
use kiosk_core::store::KioskStore;
use kiosk_core::sync::{SyncClient, SyncError};
use sqlx::PgPool;
use sync_protocol::ids::{EventId, GateId};
use sync_protocol::model::Direction;
use sync_protocol::ticket_code::TicketCode;
use sync_protocol::verdict::VerdictCode;
use system_tests::db::TestDb;
use system_tests::kiosk::enrolled_store;
use system_tests::kiosk::now;
use system_tests::seed;
use system_tests::server::ServerProcess;

/// Longest wait for anything here; reaching it is a failure, not a measurement.
const DEADLINE: Duration = Duration::from_secs(60);

struct Kiosk {
    store: Arc<Mutex<KioskStore>>,
    client: SyncClient,
    dir: std::path::PathBuf,
}

impl Drop for Kiosk {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Kiosk {
    /// Scans `code` at `gate` now and returns the verdict.
    fn scan(&self, code: &str, gate: GateId) -> VerdictCode {
        let mut store = self.store.lock().unwrap();
        scan(
            &mut store,
            code.as_bytes(),
            gate,
            Direction::Entry,
            now(),
            true,
        )
        .unwrap()
        .verdict
        .code
    }

    /// How many check-ins of the ticket with `code` this kiosk knows.
    fn check_ins_known(&self, code: &str) -> usize {
        let store = self.store.lock().unwrap();
        let ticket = store
            .ticket_by_code(&TicketCode::parse(code).unwrap())
            .unwrap()
            .expect("the ticket is in the package");
        store.check_ins_of(ticket.id).unwrap().len()
    }

    fn device_id(&self) -> sync_protocol::ids::DeviceId {
        self.store
            .lock()
            .unwrap()
            .identity()
            .unwrap()
            .unwrap()
            .device_id
    }
}

/// An enrolled kiosk holding the event's package.
async fn kiosk(server: &ServerProcess, pool: &PgPool, event: EventId, label: &str) -> Kiosk {
    let (store, dir, version) = enrolled_store(&server.base, pool, event, label).await;
    assert_eq!(version, Some(1));
    let store = Arc::new(Mutex::new(store));
    let client = SyncClient::for_store(&store.lock().unwrap()).unwrap();
    Kiosk { store, client, dir }
}

/// A server with an event of `tickets` tickets and its package published.
async fn venue(
    tickets: usize,
) -> (
    TestDb,
    ServerProcess,
    PgPool,
    seed::SeededEvent,
    Vec<String>,
) {
    let db = TestDb::new().await;
    let server = ServerProcess::start(&db.url).await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    let event = seed::event(&pool).await;
    let codes = seed::tickets(&pool, event.event_id, tickets).await;
    let published = server.admin(&["package", "publish", "--event", &event.event_id.to_string()]);
    assert_eq!(published["version"], 1, "{published}");
    (db, server, pool, event, codes)
}

/// Waits until the loop's status satisfies `ok`; fails after [`DEADLINE`].
async fn status_until(
    handle: &SyncHandle,
    what: &str,
    ok: impl Fn(&SyncStatus) -> bool,
) -> SyncStatus {
    let mut status = handle.subscribe();
    let reached = tokio::time::timeout(DEADLINE, async {
        status.wait_for(|s| ok(s)).await.map(|s| s.clone())
    })
    .await;
    match reached {
        Ok(Ok(status)) => status,
        _ => panic!("{what}: not reached; status {:?}", handle.status()),
    }
}

/// Polls `ok` until it holds; fails after [`DEADLINE`].
async fn until<F: Future<Output = bool>>(what: &str, ok: impl Fn() -> F) {
    let start = Instant::now();
    while !ok().await {
        assert!(start.elapsed() < DEADLINE, "{what}: not reached");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A loop that syncs only when something asks: the timed sync is far away.
fn on_demand() -> LoopConfig {
    LoopConfig {
        interval: Duration::from_secs(3_600),
        backoff_start: Duration::from_millis(50),
        backoff_cap: Duration::from_millis(500),
        ..LoopConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_gates_check_in_arrives_through_the_live_stream() {
    let (db, server, pool, event, codes) = venue(5).await;
    let north = kiosk(&server, &pool, event.event_id, "north").await;
    let south = kiosk(&server, &pool, event.event_id, "south").await;

    // South runs the background loop; its timed sync is an hour away, so only the live stream
    // can bring north's check-in in.
    let handle = SyncLoop::spawn(
        south.store.clone(),
        south.client.clone(),
        on_demand(),
        system_clock,
        kiosk_core::events::channel(),
    );
    let first = status_until(&handle, "south online with its live stream", |s| {
        s.online && s.live && s.last_sync_at.is_some()
    })
    .await;
    assert_eq!(first.package_version, Some(1));
    assert!(first.last_error.is_none() && !first.revoked);

    // North admits a ticket and pushes it.
    assert_eq!(north.scan(&codes[0], event.gate_id), VerdictCode::Admitted);
    let report = north.client.sync_once(&north.store, |_| {}).await.unwrap();
    assert_eq!((report.pushed, report.pending_after), (1, 0));

    let pulled = status_until(&handle, "south pulled north's check-in", |s| {
        s.pulled_total >= 1
    })
    .await;
    assert!(pulled.online && pulled.last_error.is_none());
    assert_eq!(south.check_ins_known(&codes[0]), 1);
    assert_eq!(
        south.scan(&codes[0], event.gate_id),
        VerdictCode::AlreadyUsed,
        "south knows the ticket was used at north"
    );

    handle.shutdown().await;
    pool.close().await;
    drop(server);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_kiosk_keeps_its_check_ins_and_pushes_each_once_when_back() {
    let (db, mut server, pool, event, codes) = venue(5).await;
    let gate = kiosk(&server, &pool, event.event_id, "east").await;
    let device = gate.device_id();

    // The server goes away; the gate keeps admitting.
    server.kill();
    assert_eq!(gate.scan(&codes[0], event.gate_id), VerdictCode::Admitted);
    let config = LoopConfig {
        live: false, // only the loop's own tries and notify_local_change push here
        ..on_demand()
    };
    let handle = SyncLoop::spawn(
        gate.store.clone(),
        gate.client.clone(),
        config,
        system_clock,
        kiosk_core::events::channel(),
    );
    let offline = status_until(&handle, "offline noticed", |s| {
        !s.online && s.last_error.is_some() && s.last_attempt_at.is_some() && !s.syncing
    })
    .await;
    assert_eq!(offline.pending, 1, "{offline:?}");
    assert!(!offline.revoked && offline.last_sync_at.is_none());
    let error = handle.sync_now(|_| {}).await.unwrap_err();
    assert!(matches!(error, SyncError::Offline(_)), "{error:?}");

    // Another admission while offline: counted as pending, nothing lost.
    assert_eq!(gate.scan(&codes[1], event.gate_id), VerdictCode::Admitted);
    handle.notify_local_change();
    status_until(&handle, "two pending", |s| s.pending == 2).await;
    assert_eq!(
        gate.store.lock().unwrap().outbox_counts().unwrap(),
        (2, 0, 0)
    );

    // The server is back on the same port: the loop finds it by itself and pushes.
    server.restart().await;
    let back = status_until(&handle, "back online with everything pushed", |s| {
        s.online && s.pending == 0 && s.acknowledged == 2
    })
    .await;
    assert!(back.last_error.is_none() && back.last_sync_at.is_some());

    // Online: a new admission is pushed on notice alone (the timed sync is an hour away).
    assert_eq!(gate.scan(&codes[2], event.gate_id), VerdictCode::Admitted);
    handle.notify_local_change();
    status_until(&handle, "the new admission pushed", |s| {
        s.pending == 0 && s.acknowledged == 3
    })
    .await;
    let report = handle.sync_now(|_| {}).await.unwrap();
    assert_eq!((report.pushed, report.pending_after), (0, 0));
    handle.shutdown().await;

    // The server holds each change, and each check-in, exactly once.
    let changes: i64 = sqlx::query_scalar("select count(*) from changes where device_id = $1")
        .bind(device.as_uuid())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(changes, 3);
    let distinct: i64 =
        sqlx::query_scalar("select count(distinct change_id) from changes where device_id = $1")
            .bind(device.as_uuid())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(distinct, 3);
    system_tests::db::filer_settled(&pool).await;
    let check_ins: i64 = sqlx::query_scalar("select count(*) from check_ins where device_id = $1")
        .bind(device.as_uuid())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(check_ins, 3);
    assert_eq!(
        gate.store.lock().unwrap().outbox_counts().unwrap(),
        (0, 3, 0)
    );

    pool.close().await;
    drop(server);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_kiosk_stops_syncing() {
    let (db, server, pool, event, codes) = venue(2).await;
    let gate = kiosk(&server, &pool, event.event_id, "west").await;
    let config = LoopConfig {
        interval: Duration::from_millis(100),
        ..on_demand()
    };
    let handle = SyncLoop::spawn(
        gate.store.clone(),
        gate.client.clone(),
        config,
        system_clock,
        kiosk_core::events::channel(),
    );
    status_until(&handle, "online", |s| s.online && s.last_sync_at.is_some()).await;

    let revoked = server.admin(&["device", "revoke", &gate.device_id().to_string()]);
    assert_eq!(revoked["revoked"], true, "{revoked}");
    let stopped = status_until(&handle, "revocation noticed", |s| {
        s.revoked && !s.syncing && !s.live
    })
    .await;
    assert!(stopped.last_error.is_some());

    // Nothing more is sent: a request gets the revocation at once, and a local admission stays.
    assert!(matches!(
        handle.sync_now(|_| {}).await,
        Err(SyncError::Revoked)
    ));
    assert!(matches!(
        handle.fetch_package().await,
        Err(SyncError::Revoked)
    ));
    assert_eq!(gate.scan(&codes[0], event.gate_id), VerdictCode::Admitted);
    handle.notify_local_change();
    until("the admission counted as pending", || async {
        handle.status().pending == 1
    })
    .await;
    let last = handle.status();
    assert!(last.revoked && !last.syncing);
    handle.shutdown().await;
    let sent: i64 = sqlx::query_scalar("select count(*) from changes where device_id = $1")
        .bind(gate.device_id().as_uuid())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sent, 0, "a revoked kiosk sends nothing");

    pool.close().await;
    drop(server);
    db.drop_db().await;
}
