//! Package download and refetch through the real server: a body cut mid-way resumes with
//! `Range` where it stopped (kept sealed on disk meanwhile), and a kiosk whose cursor the server
//! does not know starts again from a full package and misses nothing.

use std::sync::Mutex;

use kiosk_core::gate::scan;
use kiosk_core::sync::{SyncClient, SyncError};
use sqlx::PgPool;
use sync_protocol::model::Direction;
use sync_protocol::verdict::VerdictCode;
use sync_protocol::wire::Cursor;
use system_tests::db::TestDb;
use system_tests::kiosk::{enrolled_store, now};
use system_tests::proxy::FaultProxy;
use system_tests::seed;
use system_tests::server::ServerProcess;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_download_cut_mid_way_resumes_where_it_stopped() {
    let db = TestDb::new().await;
    let server = ServerProcess::start(&db.url).await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    let event = seed::event(&pool).await;
    // Enrolled before anything is published: no package yet.
    let (store, dir, version) = enrolled_store(&server.base, &pool, event.event_id, "gate").await;
    assert_eq!(version, None);
    let codes = seed::tickets(&pool, event.event_id, 1500).await;
    let published = server.admin(&["package", "publish", "--event", &event.event_id.to_string()]);
    assert_eq!(published["version"], 1, "{published}");

    let proxy = FaultProxy::start(server.addr()).await;
    let client = SyncClient::new(&proxy.url(), store.device_token().unwrap().unwrap());
    let store = Mutex::new(store);

    // The link drops after 40 kB: the download fails as offline and keeps what arrived.
    proxy.cut_after(Some(40_000));
    let cut = client.fetch_package(&store).await;
    assert!(matches!(cut, Err(SyncError::Offline(_))), "{cut:?}");
    let kept = store
        .lock()
        .unwrap()
        .download()
        .unwrap()
        .expect("a download under way");
    assert!(
        kept.received > 0 && kept.received < kept.body_len,
        "{} of {} bytes kept",
        kept.received,
        kept.body_len
    );
    assert_eq!(store.lock().unwrap().package_version().unwrap(), None);

    // Meanwhile the body is on disk, sealed: no name, email or code readable.
    let mut raw = std::fs::read(dir.join("kiosk.db")).unwrap();
    if let Ok(wal) = std::fs::read(dir.join("kiosk.db-wal")) {
        raw.extend(wal);
    }
    let contains = |needle: &str| raw.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(!contains("SYS-0001") && !contains("guest1@example.org") && !contains("Guest1"));

    // The link is back: the download resumes at the byte it stopped at, then applies.
    proxy.cut_after(None);
    let applied = client.fetch_package(&store).await.unwrap();
    assert_eq!(applied, Some(1));
    let requests = proxy.sent().to_ascii_lowercase();
    assert!(
        requests.contains(&format!("range: bytes={}-", kept.received)),
        "the second request resumes: {requests}"
    );
    let mut store = store.into_inner().unwrap();
    assert_eq!(store.download().unwrap(), None);
    assert_eq!(store.package_version().unwrap(), Some(1));
    for code in [&codes[0], &codes[749], &codes[1499]] {
        let verdict = scan(
            &mut store,
            code.as_bytes(),
            event.gate_id,
            Direction::Entry,
            now(),
            true,
        )
        .unwrap()
        .verdict;
        assert_eq!(
            verdict.code,
            VerdictCode::Admitted,
            "{code}: {}",
            verdict.reason
        );
    }

    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    pool.close().await;
    drop(server);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_whose_cursor_the_server_does_not_know_starts_again_from_the_package() {
    let db = TestDb::new().await;
    let server = ServerProcess::start(&db.url).await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    let event = seed::event(&pool).await;
    let codes = seed::tickets(&pool, event.event_id, 5).await;
    server.admin(&["package", "publish", "--event", &event.event_id.to_string()]);
    let (north, north_dir, _) = enrolled_store(&server.base, &pool, event.event_id, "north").await;
    let (south, south_dir, _) = enrolled_store(&server.base, &pool, event.event_id, "south").await;
    let north_client = SyncClient::for_store(&north).unwrap();
    let south_client = SyncClient::for_store(&south).unwrap();
    let (north, south) = (Mutex::new(north), Mutex::new(south));
    let t = now();

    // South admits ticket 1 and syncs it.
    let verdict = scan(
        &mut south.lock().unwrap(),
        codes[0].as_bytes(),
        event.gate_id,
        Direction::Entry,
        t,
        false,
    )
    .unwrap()
    .verdict;
    assert_eq!(verdict.code, VerdictCode::Admitted);
    south_client.sync_once(&south, |_| {}).await.unwrap();

    // North's cursor names a point this database never reached (it last synced with a
    // database since restored from an older backup). North admits ticket 2 meanwhile.
    north
        .lock()
        .unwrap()
        .apply_pull_page(
            &[],
            Cursor {
                tx: 1 << 40,
                pos: 0,
            },
        )
        .unwrap();
    scan(
        &mut north.lock().unwrap(),
        codes[1].as_bytes(),
        event.gate_id,
        Direction::Entry,
        t.plus_millis(10),
        false,
    )
    .unwrap();

    let report = north_client.sync_once(&north, |_| {}).await.unwrap();
    assert!(report.refetched, "{report:?}");
    assert_eq!((report.pushed, report.pending_after), (1, 0));
    let at_north = |code: &str| {
        scan(
            &mut north.lock().unwrap(),
            code.as_bytes(),
            event.gate_id,
            Direction::Entry,
            t.plus_millis(60_000),
            false,
        )
        .unwrap()
        .verdict
        .code
    };
    assert_eq!(
        at_north(&codes[0]),
        VerdictCode::AlreadyUsed,
        "south's admission reached north"
    );
    assert_eq!(
        at_north(&codes[1]),
        VerdictCode::AlreadyUsed,
        "north's own admission stayed"
    );
    assert_eq!(at_north(&codes[2]), VerdictCode::Admitted);
    assert!(north.lock().unwrap().cursor().unwrap().tx < 1 << 40);

    // A second sync finds nothing to refetch.
    let report = north_client.sync_once(&north, |_| {}).await.unwrap();
    assert!(!report.refetched);

    drop((north, south));
    let _ = std::fs::remove_dir_all(&north_dir);
    let _ = std::fs::remove_dir_all(&south_dir);
    pool.close().await;
    drop(server);
    db.drop_db().await;
}
