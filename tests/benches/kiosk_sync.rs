//! A kiosk's own sync at a venue's size, through the real sync-server (release) on real Postgres
//! on loopback: fetching the package of 100,000 tickets (download, verify, seal, write), then
//! pushing a backlog of queued check-ins (a kiosk back online after a day at a gate without
//! network). The kiosk is the engine's store and sync client, as the background sync runs them.
//!
//!   cargo build --release -p sync-server
//!   cargo bench -p system-tests --bench kiosk_sync [-- TICKETS [BACKLOG]]
//!
//! TICKETS defaults to 100,000 and BACKLOG (check-ins queued before the push) to TICKETS. A
//! measurement, not a test: it asserts what must hold (every ticket imported, every change
//! acknowledged and stored once), never a time. The figures go in docs/benchmarks.md.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use kiosk_core::gate::scan;
use kiosk_core::store::KioskStore;
use kiosk_core::sync::{SyncClient, SyncProgress};
use sqlx::PgPool;
use sync_protocol::model::Direction;
use sync_protocol::verdict::VerdictCode;
use system_tests::db::TestDb;
use system_tests::kiosk::now;
use system_tests::seed;
use system_tests::server::ServerProcess;

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<usize>().ok());
    let tickets = args.next().unwrap_or(100_000);
    let backlog = args.next().unwrap_or(tickets).min(tickets);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let db = TestDb::new().await;
        let server = ServerProcess::start(&db.url).await;
        let pool = PgPool::connect(&db.url).await.unwrap();
        let event = seed::event(&pool).await;
        let started = Instant::now();
        let codes = seed::many_tickets(&pool, event.event_id, tickets).await;
        println!("seeded {tickets} tickets in {:.1?}", started.elapsed());
        let started = Instant::now();
        server.admin(&["package", "publish", "--event", &event.event_id.to_string()]);
        println!("published the package in {:.1?}", started.elapsed());

        // A new kiosk, enrolled; then the package, as the coordinator's "fetch" does it.
        let dir = std::env::temp_dir().join(format!("gp-bench-kiosk-sync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Mutex::new(
            KioskStore::create(
                &dir.join("kiosk.db"),
                "24682468",
                sync_protocol::crypto::KdfParams::FOR_TESTS,
            )
            .unwrap(),
        );
        let token = seed::enrolment_token(&pool, event.event_id).await;
        let invite = kiosk_core::enrol::invite_from(&server.base, Some(&token)).unwrap();
        kiosk_core::enrol::enrol(&store, &invite, "bench").await.unwrap();
        let client = SyncClient::for_store(&store.lock().unwrap()).unwrap();
        let started = Instant::now();
        let version = client.fetch_package(&store).await.unwrap();
        let fetch = started.elapsed();
        assert_eq!(version, Some(1));
        assert_eq!(store.lock().unwrap().ticket_count().unwrap(), tickets as u64);

        // A day offline: every guest admitted once, each check-in queued durably.
        let started = Instant::now();
        let t = now();
        for (i, code) in codes[..backlog].iter().enumerate() {
            let outcome = scan(
                &mut store.lock().unwrap(),
                code.as_bytes(),
                event.gate_id,
                Direction::Entry,
                t.plus_millis(i as u64),
                false,
            )
            .unwrap();
            assert_eq!(outcome.verdict.code, VerdictCode::Admitted, "{code}");
        }
        let scanning = started.elapsed();
        assert_eq!(store.lock().unwrap().outbox_counts().unwrap().0, backlog as u64);

        // What the kiosk itself spends reading a batch to push (opening the sealed outbox rows).
        let started = Instant::now();
        for _ in 0..10 {
            store
                .lock()
                .unwrap()
                .pending_changes(sync_protocol::wire::MAX_PUSH_BATCH)
                .unwrap();
        }
        let read_batch = started.elapsed() / 10;

        // Back online: push the backlog (and pull, as every sync does).
        let pushed_at = Mutex::new(None::<Duration>);
        let started = Instant::now();
        let report = client
            .sync_once(&store, |progress| {
                if let SyncProgress::Pulling { .. } = progress {
                    pushed_at.lock().unwrap().get_or_insert(started.elapsed());
                }
            })
            .await
            .unwrap();
        let sync = started.elapsed();
        let push = pushed_at.into_inner().unwrap().unwrap_or(sync);
        assert_eq!((report.pushed, report.pending_after), (backlog as u64, 0));
        let stored: i64 = sqlx::query_scalar("select count(*) from changes")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(stored, backlog as i64, "every change stored once");

        println!();
        println!("| what | figure |");
        println!("|---|---|");
        println!("| fetch the package of {tickets} tickets (download, verify, seal, write) | {:.2} s |", fetch.as_secs_f64());
        println!(
            "| {backlog} first entries, each committed durably with its outbox row | {:.1} s ({:.2} ms each) |",
            scanning.as_secs_f64(),
            scanning.as_secs_f64() * 1000.0 / backlog.max(1) as f64
        );
        println!("| push the {backlog} queued check-ins, until all are acknowledged | {:.2} s ({:.0} changes/s) |", push.as_secs_f64(), backlog as f64 / push.as_secs_f64());
        println!(
            "| of which the kiosk reads each batch ({}) from its outbox | {:.1} ms a batch |",
            sync_protocol::wire::MAX_PUSH_BATCH,
            read_batch.as_secs_f64() * 1000.0
        );
        println!("| the whole sync (the push, then the pull of {} items) | {:.2} s |", report.pulled, sync.as_secs_f64());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    });
}
