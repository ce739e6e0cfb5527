//! How long from a scan at gate A to gate B's engine knowing it, through the real sync-server
//! on real Postgres: A's background sync pushes the check-in (a local change nudges a push), the
//! server's LISTEN/NOTIFY wakes the live stream B holds open, and B pulls. Both kiosks are the
//! `Kiosk` handle the window uses, with the default background-sync settings.
//!
//!   cargo bench -p system-tests --bench propagation [-- ROUNDS]
//!
//! Prints p50, p95 and the worst of ROUNDS scans (default 100). A measurement, not a test: it
//! asserts nothing about time. The figure and its machine go in docs/benchmarks.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kiosk_core::app::{Kiosk, ScanSource};
use kiosk_core::background::LoopConfig;
use sqlx::PgPool;
use sync_protocol::crypto::KdfParams;
use sync_protocol::ids::EventId;
use sync_protocol::ticket_code::TicketCode;
use system_tests::db::TestDb;
use system_tests::kiosk::enrolled_store;
use system_tests::seed;
use system_tests::server::ServerProcess;

async fn kiosk(server: &ServerProcess, pool: &PgPool, event: EventId, label: &str) -> Arc<Kiosk> {
    let (store, dir, _) = enrolled_store(&server.base, pool, event, label).await;
    drop(store);
    let kiosk = Arc::new(Kiosk::open(&dir, KdfParams::FOR_TESTS).unwrap());
    kiosk.unlock("24682468").unwrap();
    let gate = kiosk.gates().unwrap()[0].id;
    kiosk.select_gate(gate).unwrap();
    let mut status = kiosk.start_sync(LoopConfig::default()).unwrap().unwrap();
    // Ready when online with the live stream open.
    tokio::time::timeout(
        Duration::from_secs(30),
        status.wait_for(|s| s.online && s.live),
    )
    .await
    .expect("online within 30 s")
    .unwrap();
    kiosk
}

fn knows(kiosk: &Kiosk, code: &str) -> bool {
    let store = kiosk.store().unwrap();
    let store = store.lock().unwrap();
    let ticket = store
        .ticket_by_code(&TicketCode::parse(code).unwrap())
        .unwrap()
        .expect("in the package");
    !store.check_ins_of(ticket.id).unwrap().is_empty()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100);
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
        let codes = seed::tickets(&pool, event.event_id, rounds).await;
        server.admin(&["package", "publish", "--event", &event.event_id.to_string()]);
        let a = kiosk(&server, &pool, event.event_id, "a").await;
        let b = kiosk(&server, &pool, event.event_id, "b").await;

        let mut latencies = Vec::with_capacity(rounds);
        for code in &codes {
            let start = Instant::now();
            a.scan(code.as_bytes(), ScanSource::Wedge).unwrap();
            while !knows(&b, code) {
                assert!(start.elapsed() < Duration::from_secs(30), "B never heard of {code}");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            latencies.push(start.elapsed());
            if std::env::var_os("PROPAGATION_VERBOSE").is_some() {
                eprintln!("{code}: {:?}", start.elapsed());
            }
            // Scans a few hundred milliseconds apart, as at a busy gate.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        latencies.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "propagation A scan -> B knows, {rounds} scans: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
            ms(percentile(&latencies, 0.50)),
            ms(percentile(&latencies, 0.95)),
            ms(*latencies.last().unwrap()),
        );
        a.shut_down().await;
        b.shut_down().await;
        pool.close().await;
        drop(server);
        db.drop_db().await;
    });
}
