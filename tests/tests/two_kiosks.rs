//! Two real kiosk engines (encrypted SQLite stores) against the real sync-server binary on real
//! Postgres: offline work at both, then sync, then the same picture everywhere.

use std::sync::Mutex;

use kiosk_core::gate::scan;
use kiosk_core::store::KioskStore;
use kiosk_core::sync::SyncClient;
use kiosk_core::walkin::{WalkInRequest, register};
use sqlx::PgPool;
use sync_protocol::model::Direction;
use sync_protocol::verdict::VerdictCode;
use system_tests::db::TestDb;
use system_tests::kiosk::enrolled_store;
use system_tests::kiosk::now;
use system_tests::seed;
use system_tests::server::ServerProcess;

struct Kiosk {
    store: Mutex<KioskStore>,
    client: SyncClient,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn kiosk(
    server: &ServerProcess,
    pool: &PgPool,
    event: sync_protocol::ids::EventId,
    label: &str,
) -> Kiosk {
    let (store, dir, version) = enrolled_store(&server.base, pool, event, label).await;
    assert_eq!(version, Some(1));
    let client = SyncClient::for_store(&store).unwrap();
    let store = Mutex::new(store);
    Kiosk {
        store,
        client,
        _dir: TempDir(dir),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_kiosks_converge_and_the_server_flags_what_happened() {
    let db = TestDb::new().await;
    let server = ServerProcess::start(&db.url).await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    let event = seed::event(&pool).await;
    let codes = seed::tickets(&pool, event.event_id, 20).await;
    let published = server.admin(&["package", "publish", "--event", &event.event_id.to_string()]);
    assert_eq!(published["version"], 1, "{published}");

    let north = kiosk(&server, &pool, event.event_id, "north").await;
    let south = kiosk(&server, &pool, event.event_id, "south").await;
    let t = now();

    // Offline: both gates admit ticket 1 (a double admission), each admits one more of its own.
    let at = |k: &Kiosk, code: &str, ms: u64| {
        let mut store = k.store.lock().unwrap();
        scan(
            &mut store,
            code.as_bytes(),
            event.gate_id,
            Direction::Entry,
            t.plus_millis(ms),
            true,
        )
        .unwrap()
    };
    assert_eq!(at(&north, &codes[0], 0).verdict.code, VerdictCode::Admitted);
    assert_eq!(
        at(&south, &codes[0], 10).verdict.code,
        VerdictCode::Admitted
    );
    assert_eq!(
        at(&north, &codes[1], 20).verdict.code,
        VerdictCode::Admitted
    );
    assert_eq!(
        at(&south, &codes[2], 30).verdict.code,
        VerdictCode::Admitted
    );
    // Both desks register the same walk-in.
    for k in [&north, &south] {
        let request = WalkInRequest {
            first_name: "Dorothy".into(),
            last_name: "Vaughan".into(),
            email: Some("dorothy@example.org".into()),
            ..WalkInRequest::default()
        };
        register(&mut k.store.lock().unwrap(), request, t.plus_millis(40)).unwrap();
    }

    // Back online: each syncs twice (so each sees the other's changes).
    for _ in 0..2 {
        for k in [&north, &south] {
            let report = k.client.sync_once(&k.store, |_| {}).await.unwrap();
            assert_eq!(report.pending_after, 0);
        }
    }

    // The server holds every change exactly once.
    let stored: i64 = sqlx::query_scalar("select count(*) from changes")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 6, "4 check-ins + 2 walk-ins, each once");
    let stored: i64 = sqlx::query_scalar("select count(*) from changes where status = 'accepted'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 6);

    system_tests::db::filer_settled(&pool).await;
    // The server flagged what the offline hours produced, each once.
    let mut kinds: Vec<String> =
        sqlx::query_scalar("select kind from conflicts where status = 'open' order by kind")
            .fetch_all(&pool)
            .await
            .unwrap();
    kinds.sort();
    assert_eq!(kinds, ["double_admission", "possible_duplicate"]);

    // After the sync, both gate screens count what the server's report says: entries at the
    // gate (the double admission twice, as the report counts it), tickets admitted, inside.
    let stats = server.admin(&["export", "stats", "--event", &event.event_id.to_string()]);
    let number = |v: &serde_json::Value| v.as_u64().unwrap_or_else(|| panic!("{stats}"));
    let gate = stats["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gate_id"] == event.gate_id.to_string())
        .unwrap_or_else(|| panic!("the gate is in the report: {stats}"))
        .clone();
    for (k, own) in [(&north, 2), (&south, 2)] {
        let counts = k
            .store
            .lock()
            .unwrap()
            .gate_counts(Some(event.gate_id), t)
            .unwrap();
        assert_eq!(counts.gate_entries, number(&gate["admitted"]), "{stats}");
        assert_eq!(counts.gate_exits, number(&gate["exits"]), "{stats}");
        assert_eq!(
            counts.event_admitted,
            number(&stats["tickets_admitted"]),
            "{stats}"
        );
        assert_eq!(
            counts.inside,
            number(&stats["admitted"]) - number(&stats["exits"]),
            "{stats}"
        );
        assert_eq!(counts.own_gate_entries, own);
        // Every check-in of this test was made within 30 ms: the report has one venue day, and
        // "today" at both gates is that day.
        let days = stats["days"].as_array().unwrap();
        assert_eq!(days.len(), 1, "{stats}");
        let today = days[0]["gates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["gate_id"] == event.gate_id.to_string())
            .unwrap_or_else(|| panic!("the gate is in the day's report: {stats}"));
        assert_eq!(
            counts.gate_entries_today,
            number(&today["admitted"]),
            "{stats}"
        );
        assert_eq!(counts.gate_exits_today, number(&today["exits"]), "{stats}");
        assert_eq!(
            counts.event_admitted_today,
            number(&days[0]["tickets_admitted"]),
            "{stats}"
        );
        assert_eq!(counts.own_gate_entries_today, own);
    }

    // Both kiosks now judge every ticket the same way: all admitted ones are "already used".
    for code in &codes[..3] {
        for k in [&north, &south] {
            let verdict = at(k, code, 60_000).verdict;
            assert_eq!(
                verdict.code,
                VerdictCode::AlreadyUsed,
                "{code}: {}",
                verdict.reason
            );
        }
    }
    for k in [&north, &south] {
        let verdict = at(k, &codes[3], 60_000).verdict;
        assert_eq!(
            verdict.code,
            VerdictCode::Admitted,
            "an unused ticket stays valid"
        );
    }

    pool.close().await;
    drop(server);
    db.drop_db().await;
}

/// The usual order at a venue: publish the package, then enrol the kiosks. A walk-in badge from
/// the desk kiosk is admitted at once at the desk itself and at a gate that has never synced
/// since (its package lists neither kiosk), offline; a revoked desk's badges are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walk_in_badges_are_admitted_everywhere_even_by_kiosks_enrolled_after_the_package() {
    let db = TestDb::new().await;
    let server = ServerProcess::start(&db.url).await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    let event = seed::event(&pool).await;
    seed::tickets(&pool, event.event_id, 3).await;
    let published = server.admin(&["package", "publish", "--event", &event.event_id.to_string()]);
    assert_eq!(published["version"], 1, "{published}");

    let desk = kiosk(&server, &pool, event.event_id, "desk").await;
    let gate = kiosk(&server, &pool, event.event_id, "gate").await;
    let t = now();
    let badge = |k: &Kiosk, first: &str, ms: u64| {
        let request = WalkInRequest {
            first_name: first.into(),
            last_name: "Walk-in".into(),
            ..WalkInRequest::default()
        };
        register(&mut k.store.lock().unwrap(), request, t.plus_millis(ms))
            .unwrap()
            .ticket
            .code
    };
    let at = |k: &Kiosk, code: &str, ms: u64| {
        let mut store = k.store.lock().unwrap();
        scan(
            &mut store,
            code.as_bytes(),
            event.gate_id,
            Direction::Entry,
            t.plus_millis(ms),
            true,
        )
        .unwrap()
        .verdict
    };

    // Offline, nobody synced since enrolling: admitted at the other kiosk and at the desk.
    let ada = badge(&desk, "Ada", 0);
    let verdict = at(&gate, &ada, 10);
    assert_eq!(verdict.code, VerdictCode::Admitted, "{}", verdict.reason);
    let grace = badge(&desk, "Grace", 20);
    let verdict = at(&desk, &grace, 30);
    assert_eq!(verdict.code, VerdictCode::Admitted, "{}", verdict.reason);
    // A badge the gate itself signs, scanned at the desk.
    let mary = badge(&gate, "Mary", 40);
    let verdict = at(&desk, &mary, 50);
    assert_eq!(verdict.code, VerdictCode::Admitted, "{}", verdict.reason);

    // Online too, after both synced.
    for k in [&desk, &gate] {
        k.client.sync_once(&k.store, |_| {}).await.unwrap();
    }
    let joan = badge(&desk, "Joan", 60);
    let verdict = at(&gate, &joan, 70);
    assert_eq!(verdict.code, VerdictCode::Admitted, "{}", verdict.reason);

    // The desk is revoked; once the gate has heard, the desk's badges are refused there.
    let desk_id = desk
        .store
        .lock()
        .unwrap()
        .identity()
        .unwrap()
        .unwrap()
        .device_id;
    server.admin(&["device", "revoke", &desk_id.to_string()]);
    let hedy = badge(&desk, "Hedy", 80);
    gate.client.sync_once(&gate.store, |_| {}).await.unwrap();
    let verdict = at(&gate, &hedy, 90);
    assert_eq!(
        verdict.code,
        VerdictCode::BadSignature,
        "{}",
        verdict.reason
    );
}

/// A gate set (with the admin command line) to print first badges only: the kiosk that admits a
/// guest first prints their badge; once the kiosks synced, the other kiosk admits that guest
/// without printing again, and the server's print log has each badge once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_badge_printed_at_one_kiosk_is_not_printed_again_at_another_after_sync() {
    let db = TestDb::new().await;
    let server = ServerProcess::start(&db.url).await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    let event = seed::event(&pool).await;
    let (event_id, gate_id) = (event.event_id.to_string(), event.gate_id.to_string());
    let codes = seed::tickets(&pool, event.event_id, 5).await;
    let gate = server.admin(&[
        "gate",
        "update",
        "--event",
        &event_id,
        &gate_id,
        "--print",
        "first",
        "--reentry",
        "always",
    ]);
    assert_eq!(gate["print_badge"], "first", "{gate}");
    server.admin(&["package", "publish", "--event", &event_id]);

    let north = kiosk(&server, &pool, event.event_id, "north").await;
    let south = kiosk(&server, &pool, event.event_id, "south").await;
    let t = now();
    let at = |k: &Kiosk, code: &str, ms: u64| {
        let mut store = k.store.lock().unwrap();
        let result = scan(
            &mut store,
            code.as_bytes(),
            event.gate_id,
            Direction::Entry,
            t.plus_millis(ms),
            false,
        )
        .unwrap();
        assert_eq!(result.verdict.code, VerdictCode::Admitted);
        result.print_badge
    };
    assert!(at(&north, &codes[0], 0), "the first admission prints");
    for k in [&north, &south] {
        k.client.sync_once(&k.store, |_| {}).await.unwrap();
    }
    // The gate lets a guest in again at any time (`--reentry always`), so south admits them too.
    assert!(
        !at(&south, &codes[0], 10),
        "printed at north: not again at south"
    );
    assert!(
        at(&south, &codes[1], 20),
        "another guest's first badge prints"
    );
    for k in [&south, &north] {
        let report = k.client.sync_once(&k.store, |_| {}).await.unwrap();
        assert_eq!(report.pending_after, 0);
    }
    system_tests::db::filer_settled(&pool).await;

    let out = std::env::temp_dir().join(format!("gp-badge-prints-{}.csv", std::process::id()));
    let written = server.admin(&[
        "export",
        "badge-prints",
        "--event",
        &event_id,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(written["rows"], 2, "{written}");
    let csv = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.lines().skip(1).all(|l| l.contains(",false,")), "{csv}");
}
