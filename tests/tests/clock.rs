//! Kiosks whose clocks are a day wrong, against the real sync-server on real Postgres: their
//! scans are accepted and flagged, and once they have talked to the server they judge by its
//! time, so a re-entry after an exit at another gate is admitted and stamps order right.

use std::sync::Mutex;

use kiosk_core::background::system_clock;
use kiosk_core::gate::scan;
use kiosk_core::store::KioskStore;
use kiosk_core::sync::SyncClient;
use sqlx::PgPool;
use sync_protocol::UnixMillis;
use sync_protocol::ids::{EventId, GateId};
use sync_protocol::model::Direction;
use sync_protocol::verdict::VerdictCode;
use system_tests::db::TestDb;
use system_tests::kiosk::enrolled_store;
use system_tests::seed;
use system_tests::server::ServerProcess;

const DAY_MS: u64 = 86_400_000;

fn a_day_behind() -> UnixMillis {
    UnixMillis(system_clock().0 - DAY_MS)
}

fn a_day_ahead() -> UnixMillis {
    UnixMillis(system_clock().0 + DAY_MS)
}

struct Kiosk {
    store: Mutex<KioskStore>,
    client: SyncClient,
    clock: fn() -> UnixMillis,
    dir: std::path::PathBuf,
}

impl Drop for Kiosk {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Kiosk {
    async fn new(
        server: &ServerProcess,
        pool: &PgPool,
        event: EventId,
        clock: fn() -> UnixMillis,
    ) -> Kiosk {
        let (store, dir, _) = enrolled_store(&server.base, pool, event, "clock").await;
        let client = SyncClient::for_store(&store).unwrap().with_clock(clock);
        let store = Mutex::new(store);
        // What a kiosk enrolled long ago knows: nothing of the server's time yet.
        store
            .lock()
            .unwrap()
            .observe_server_time(sync_protocol::hlc::Hlc::new(clock().0, 0), clock())
            .unwrap();
        Kiosk {
            store,
            client,
            clock,
            dir,
        }
    }

    fn scan(&self, code: &str, gate: GateId, direction: Direction) -> VerdictCode {
        let mut store = self.store.lock().unwrap();
        let result = scan(
            &mut store,
            code.as_bytes(),
            gate,
            direction,
            (self.clock)(),
            true,
        )
        .unwrap();
        result.verdict.code
    }

    async fn sync(&self) -> kiosk_core::sync::SyncReport {
        self.client.sync_once(&self.store, |_| {}).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiosks_a_day_off_are_accepted_flagged_and_judge_by_the_servers_time() {
    let db = TestDb::new().await;
    let server = ServerProcess::start(&db.url).await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    let event = seed::event(&pool).await;
    let codes = seed::tickets(&pool, event.event_id, 4).await;
    server.admin(&["package", "publish", "--event", &event.event_id.to_string()]);
    let gate = event.gate_id;

    let slow = Kiosk::new(&server, &pool, event.event_id, a_day_behind).await;
    let right = Kiosk::new(&server, &pool, event.event_id, system_clock).await;
    let fast = Kiosk::new(&server, &pool, event.event_id, a_day_ahead).await;

    // Offline, the slow kiosk admits by its own clock; its first sync is accepted.
    assert_eq!(
        slow.scan(&codes[0], gate, Direction::Entry),
        VerdictCode::Admitted
    );
    let report = slow.sync().await;
    assert_eq!(report.pending_after, 0);
    assert!(
        slow.store.lock().unwrap().clock_offset_ms().unwrap() > (DAY_MS as i64) - 60_000,
        "the slow kiosk learnt it runs a day behind"
    );

    // The person leaves through the right kiosk, then comes back in at the slow one.
    right.sync().await;
    assert_eq!(
        right.scan(&codes[0], gate, Direction::Exit),
        VerdictCode::Admitted
    );
    right.sync().await;
    slow.sync().await;
    let again = slow.scan(&codes[0], gate, Direction::Entry);
    assert_eq!(again, VerdictCode::Admitted, "a re-entry after the exit");
    // And a second entry without an exit is refused, by the same order.
    assert_eq!(
        slow.scan(&codes[0], gate, Direction::Entry),
        VerdictCode::AlreadyUsed
    );

    // The fast kiosk: accepted, and the server says by how much it runs ahead.
    assert_eq!(
        fast.scan(&codes[1], gate, Direction::Entry),
        VerdictCode::Admitted
    );
    let report = fast.sync().await;
    assert_eq!(report.pending_after, 0);
    let ahead = report
        .clock_ahead_ms
        .expect("the server flags a clock a day ahead");
    assert!(ahead > DAY_MS - 60_000, "{ahead}");
    // Corrected now: its next check-in says when it happened by the server's time (its HLC
    // stays ahead, as an HLC never goes back, until the wall clock catches up).
    assert_eq!(
        fast.scan(&codes[2], gate, Direction::Entry),
        VerdictCode::Admitted
    );
    fast.sync().await;
    let scanned_at: Vec<i64> = sqlx::query_scalar(
        "select (payload->>'scanned_at')::bigint from changes
         where kind = 'check_in' and entity_id = (
             select entity_id from changes where kind = 'check_in' order by received_at desc limit 1)",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let off = (scanned_at[0] as u64).abs_diff(system_clock().0);
    assert!(off < 10 * 60_000, "scanned {off} ms from the server's time");

    // Every scan reached the server once: 3 at the slow kiosk, 1 at the right one, 2 fast.
    slow.sync().await;
    let count: i64 = sqlx::query_scalar("select count(*) from changes where status = 'accepted'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 6);
    drop(server);
    db.drop_db().await;
}
