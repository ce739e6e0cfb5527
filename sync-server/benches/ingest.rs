//! Server ingest benchmark, through the real HTTP API of a release-built server on a fresh
//! Postgres database (the server runs in this process on a loopback port, like the tests).
//!
//! ```sh
//! cargo bench -p sync-server --bench ingest
//! BENCH_CHECK_INS=100000 BENCH_KIOSKS=200 BENCH_ROUNDS=5 BENCH_KIOSK_BATCH=20 cargo bench -p sync-server --bench ingest
//! ```
//!
//! 1. **Ingest**: one kiosk pushes `BENCH_CHECK_INS` offline admissions of distinct, existing
//!    tickets in batches of 1000, one batch after the other; then two kiosks do the same at once
//!    on fresh tickets; then a third kiosk admits every ticket of the first run again, so every
//!    check-in is a double admission (the conflict path).
//! 2. **200 kiosks**: `BENCH_KIOSKS` kiosks each push `BENCH_ROUNDS` batches of
//!    `BENCH_KIOSK_BATCH` check-ins and pull the feed after each push, all at once; prints push
//!    latency percentiles and checks that nothing was lost (every check-in stored, every kiosk
//!    acknowledged to its last seq, every change in the feed).
//!
//! Results go to stdout; docs/benchmarks.md records them.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use support::{Kiosk, T0, TestApp, TestDb};
use sync_protocol::changes::{Change, ChangeBody, CheckIn};
use sync_protocol::crypto::SecretKey;
use sync_protocol::hlc::Hlc;
use sync_protocol::ids::{
    AttendeeId, ChangeId, CheckInId, EventId, GateId, TicketId, TicketTypeId,
};
use sync_protocol::model::Direction;
use sync_protocol::verdict::VerdictCode;
use sync_protocol::wire::{Cursor, PullPage, PushResponse};
use sync_server::api::HttpLimits;
use sync_server::store::SyncStore;
use uuid::Uuid;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Setup {
    event: EventId,
    gate: GateId,
}

async fn setup(app: &TestApp) -> Setup {
    let event = app.create_event().await;
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let gate = GateId::new(T0, &mut rng);
    let ticket_type = TicketTypeId::new(T0, &mut rng);
    let pool = app.store.pool();
    sqlx::query("insert into ticket_types (id, event_id, name) values ($1, $2, 'Day')")
        .bind(ticket_type.as_uuid())
        .bind(event.as_uuid())
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into gates (id, event_id, name, mode, reentry)
         values ($1, $2, 'Main', 'entry_and_exit', 'never')",
    )
    .bind(gate.as_uuid())
    .bind(event.as_uuid())
    .execute(pool)
    .await
    .unwrap();
    Setup { event, gate }
}

/// Creates `n` attendees with one valid ticket each; returns the ticket ids.
async fn tickets(app: &TestApp, setup: &Setup, n: usize, seed: u64) -> Vec<TicketId> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let ticket_type: Uuid = sqlx::query_scalar("select id from ticket_types where event_id = $1")
        .bind(setup.event.as_uuid())
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    let mut all = Vec::with_capacity(n);
    for chunk in 0..n.div_ceil(10_000) {
        let size = (n - chunk * 10_000).min(10_000);
        let attendees: Vec<Uuid> = (0..size)
            .map(|_| AttendeeId::new(T0, &mut rng).as_uuid())
            .collect();
        let ids: Vec<TicketId> = (0..size).map(|_| TicketId::new(T0, &mut rng)).collect();
        let uuids: Vec<Uuid> = ids.iter().map(|t| t.as_uuid()).collect();
        sqlx::query(
            "insert into attendees (id, event_id, first_name, last_name)
             select a, $2, 'Bench', 'Attendee' from unnest($1::uuid[]) a",
        )
        .bind(&attendees)
        .bind(setup.event.as_uuid())
        .execute(app.store.pool())
        .await
        .unwrap();
        sqlx::query(
            "insert into tickets (id, event_id, attendee_id, ticket_type_id, status, code)
             select t, $3, a, $4, 'valid', t::text from unnest($1::uuid[], $2::uuid[]) as s(t, a)",
        )
        .bind(&uuids)
        .bind(&attendees)
        .bind(setup.event.as_uuid())
        .bind(ticket_type)
        .execute(app.store.pool())
        .await
        .unwrap();
        all.extend(ids);
    }
    all
}

/// An offline admission of `ticket` by `kiosk`, with the next seq.
fn admission(kiosk: &mut Kiosk, ticket: TicketId, gate: GateId) -> Change {
    let seq = kiosk.next_seq;
    kiosk.next_seq += 1;
    let now = sync_server::state::now().as_u64();
    let body = ChangeBody::CheckIn(CheckIn {
        id: CheckInId::new(T0, &mut kiosk.rng),
        ticket_id: ticket,
        gate_id: gate,
        direction: Direction::Entry,
        verdict: VerdictCode::Admitted,
        offline: true,
        scanned_at: sync_protocol::UnixMillis(now),
    });
    Change::new(
        ChangeId::new(T0, &mut kiosk.rng),
        kiosk.device_id,
        seq,
        Hlc::new(now, (seq % 60_000) as u16),
        1,
        &body,
    )
}

/// Push bodies of 1000 changes each, serialised before the clock starts.
fn bodies(kiosk: &mut Kiosk, tickets: &[TicketId], gate: GateId) -> Vec<Vec<u8>> {
    tickets
        .chunks(1000)
        .map(|chunk| {
            let changes: Vec<Change> = chunk.iter().map(|&t| admission(kiosk, t, gate)).collect();
            serde_json::to_vec(&serde_json::json!({ "changes": changes })).unwrap()
        })
        .collect()
}

/// Pushes retried after a 503 (as a kiosk retries), reported with the latencies.
static RETRIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

async fn push_body(app: &TestApp, token: &str, body: Vec<u8>) -> PushResponse {
    for _ in 0..10 {
        let response = app
            .http
            .post(app.url("/api/v1/push"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = response.status();
        if status == 503 {
            RETRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        assert_eq!(status, 200, "{}", response.text().await.unwrap_or_default());
        return response.json().await.unwrap();
    }
    panic!("push still unavailable after 10 attempts");
}

async fn push_all(app: &TestApp, token: &str, bodies: Vec<Vec<u8>>) -> u64 {
    let mut acknowledged = 0;
    for body in bodies {
        acknowledged = push_body(app, token, body).await.acknowledged_seq;
    }
    acknowledged
}

fn rate(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

async fn count(app: &TestApp, sql: &str, event: EventId) -> i64 {
    sqlx::query_scalar(sql)
        .bind(event.as_uuid())
        .fetch_one(app.store.pool())
        .await
        .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

#[tokio::main]
async fn main() {
    let n = env("BENCH_CHECK_INS", 100_000);
    let kiosks = env("BENCH_KIOSKS", 200);
    let rounds = env("BENCH_ROUNDS", 5);
    let per_push = env("BENCH_KIOSK_BATCH", 20);
    let db = TestDb::new().await;
    let key = SecretKey::generate(&mut ChaCha20Rng::seed_from_u64(9));
    let app = TestApp::start(&db, key, HttpLimits::default()).await;
    let setup = setup(&app).await;
    let first = tickets(&app, &setup, n, 1).await;
    let second = tickets(&app, &setup, n, 2).await;
    println!("ingest: {n} check-ins of {n} existing tickets per run, batches of 1000");

    // 1a. One kiosk, sequential batches.
    let mut a = app.enrol(setup.event).await;
    let batches = bodies(&mut a, &first, setup.gate);
    let start = Instant::now();
    let ack = push_all(&app, &a.token, batches).await;
    let one = start.elapsed();
    assert_eq!(ack, n as u64);
    println!(
        "  1 kiosk:                 {:>8.0} check-ins/s ({:.2} s)",
        rate(n, one),
        one.as_secs_f64()
    );

    // 1b. Two kiosks at once, half each.
    let mut b = app.enrol(setup.event).await;
    let mut c = app.enrol(setup.event).await;
    let (left, right) = second.split_at(n / 2);
    let (bb, cb) = (
        bodies(&mut b, left, setup.gate),
        bodies(&mut c, right, setup.gate),
    );
    let start = Instant::now();
    let (ab, ac) = tokio::join!(push_all(&app, &b.token, bb), push_all(&app, &c.token, cb));
    let two = start.elapsed();
    assert_eq!((ab + ac) as usize, n);
    println!(
        "  2 kiosks at once:        {:>8.0} check-ins/s ({:.2} s)",
        rate(n, two),
        two.as_secs_f64()
    );

    // 1c. Every ticket of the first run admitted again: n double admissions.
    let mut d = app.enrol(setup.event).await;
    let batches = bodies(&mut d, &first, setup.gate);
    let start = Instant::now();
    push_all(&app, &d.token, batches).await;
    let doubles = start.elapsed();
    let conflicts = count(
        &app,
        "select count(*) from conflicts where event_id = $1 and kind = 'double_admission'",
        setup.event,
    )
    .await;
    assert_eq!(conflicts, n as i64);
    println!(
        "  1 kiosk, all conflicts:  {:>8.0} check-ins/s ({:.2} s, {conflicts} double admissions)",
        rate(n, doubles),
        doubles.as_secs_f64()
    );
    let stored = count(
        &app,
        "select count(*) from check_ins where event_id = $1",
        setup.event,
    )
    .await;
    assert_eq!(stored, 3 * n as i64);

    // 2. Many kiosks pushing and pulling at once.
    let mut fleet = Vec::with_capacity(kiosks);
    for _ in 0..kiosks {
        fleet.push(app.enrol(setup.event).await);
    }
    let before = count(
        &app,
        "select count(*) from check_ins where event_id = $1",
        setup.event,
    )
    .await;
    // Kiosks start where their package left them: at the feed head.
    let (head, _) = app.store.feed_head(setup.event).await.unwrap();
    let pool = &second;
    let gate = setup.gate;
    let start = Instant::now();
    let runs = fleet.into_iter().map(|mut kiosk| {
        let app = &app;
        async move {
            let mut latencies = Vec::with_capacity(rounds);
            let mut cursor: Cursor = head;
            let mut acknowledged = 0;
            let mut pulled = 0usize;
            for _ in 0..rounds {
                let changes: Vec<Change> = (0..per_push)
                    .map(|_| {
                        let t = pool[(kiosk.rng.next_u64() % pool.len() as u64) as usize];
                        admission(&mut kiosk, t, gate)
                    })
                    .collect();
                let body = serde_json::to_vec(&serde_json::json!({ "changes": changes })).unwrap();
                let sent = Instant::now();
                acknowledged = push_body(app, &kiosk.token, body).await.acknowledged_seq;
                latencies.push(sent.elapsed());
                // Pull what is ready, bounded (a page of 1000 at most 20 times per round).
                for _ in 0..20 {
                    let response = app
                        .http
                        .get(app.url(&format!("/api/v1/pull?after={cursor}&limit=1000")))
                        .bearer_auth(&kiosk.token)
                        .send()
                        .await
                        .unwrap();
                    if response.status() == 503 {
                        RETRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                    assert_eq!(response.status(), 200);
                    let page: PullPage = response.json().await.unwrap();
                    pulled += page.items.len();
                    cursor = page.next_cursor;
                    if !page.has_more {
                        break;
                    }
                }
            }
            (kiosk.next_seq - 1, acknowledged, latencies, pulled)
        }
    });
    let results = futures_util::future::join_all(runs).await;
    let elapsed = start.elapsed();
    let mut latencies: Vec<Duration> = Vec::new();
    for (last_seq, acknowledged, l, _) in &results {
        assert_eq!(
            last_seq, acknowledged,
            "a kiosk was not acknowledged to its last seq"
        );
        latencies.extend(l);
    }
    latencies.sort();
    let sent = kiosks * rounds * per_push;
    let after = count(
        &app,
        "select count(*) from check_ins where event_id = $1",
        setup.event,
    )
    .await;
    assert_eq!((after - before) as usize, sent, "check-ins lost");
    let fed = count(
        &app,
        "select count(*) from feed where event_id = $1 and device_id is not null",
        setup.event,
    )
    .await;
    assert_eq!(fed as usize, 3 * n + sent, "feed items lost");
    let pulled: usize = results.iter().map(|r| r.3).sum();
    println!(
        "{kiosks} kiosks x {rounds} rounds of push({per_push}) + pull, all at once: {:.2} s",
        elapsed.as_secs_f64()
    );
    println!(
        "  push latency p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} pushes)",
        percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.95).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0,
        latencies.len()
    );
    println!(
        "  requests retried after 503 (push latency counts from the first attempt): {}",
        RETRIES.load(std::sync::atomic::Ordering::Relaxed)
    );
    println!(
        "  nothing lost: {sent} check-ins stored and in the feed, every kiosk acknowledged to its \
         last seq; {pulled} feed items pulled"
    );
    app.stop().await;
    db.drop_db().await;
}
