//! Server ingest benchmark, through the real HTTP API of a release-built server on a fresh
//! Postgres database (the server runs in this process on a loopback port, like the tests).
//!
//! ```sh
//! cargo bench -p sync-server --bench ingest
//! BENCH_CHECK_INS=100000 BENCH_KIOSKS=200 BENCH_ROUNDS=5 BENCH_KIOSK_BATCH=20 \
//!   BENCH_PUSH_EVERY_MS=10000 BENCH_STREAMS=1000 cargo bench -p sync-server --bench ingest
//! BENCH_PARTS=ingest cargo bench -p sync-server --bench ingest   # part 1 only (or fleet, streams)
//! BENCH_PARTS=burst BENCH_PULLS=0 cargo bench -p sync-server --bench ingest
//!   # part 2's burst only (or steady), kiosks not pulling: pushes alone
//! ```
//!
//! 1. **Ingest**: one kiosk pushes `BENCH_CHECK_INS` offline admissions of distinct, existing
//!    tickets in batches of 1000, one batch after the other; then two kiosks do the same at once
//!    on fresh tickets; then a third kiosk admits every ticket of the first run again, so every
//!    check-in is a double admission (the conflict path). Each run prints two rates: pushes
//!    answered (the change log and the feed are stored), and filed (the server's filer has filed
//!    every check-in, its merge and its conflicts, after the pushes).
//! 2. **Many kiosks**: `BENCH_KIOSKS` kiosks each push `BENCH_ROUNDS` batches of
//!    `BENCH_KIOSK_BATCH` check-ins while holding the live stream open and pulling whenever it
//!    says the feed grew (as the kiosk engine does): once as a burst (the venue's network comes
//!    back: every kiosk pushes its backlog of `BENCH_ROUNDS` x `BENCH_KIOSK_BATCH` check-ins in
//!    one push, all at the same moment), once steady (one push of `BENCH_KIOSK_BATCH` per kiosk
//!    every `BENCH_PUSH_EVERY_MS`). Prints push latency percentiles and checks that nothing was lost
//!    (every check-in stored and fed, every kiosk acknowledged to its last seq and every kiosk
//!    pulled every change of the run).
//! 3. **Live streams**: `BENCH_STREAMS` live streams on a server process of its own while two
//!    kiosks push; prints that process's resident memory and CPU.
//!
//! Results go to stdout; docs/benchmarks.md records them.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use support::{Kiosk, T0, TestApp, TestDb};
use sync_protocol::changes::{Change, ChangeBody, CheckIn, FoundBy};
use sync_protocol::crypto::SecretKey;
use sync_protocol::hlc::Hlc;
use sync_protocol::ids::{
    AttendeeId, ChangeId, CheckInId, EventId, GateId, TicketId, TicketTypeId,
};
use sync_protocol::model::Direction;
use sync_protocol::verdict::VerdictCode;
use sync_protocol::wire::{Cursor, LiveNotice, PushResponse};
use sync_server::api::HttpLimits;
use sync_server::store::SyncStore;
use uuid::Uuid;

/// Whether `BENCH_PARTS` (comma-separated; every part when unset) names `part`.
fn part(part: &str) -> bool {
    std::env::var("BENCH_PARTS").map_or(true, |parts| parts.split(',').any(|p| p.trim() == part))
}

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
    // As an import does after its upserts: the planner knows the tables' sizes.
    sqlx::query("analyze attendees, tickets")
        .execute(app.store.pool())
        .await
        .unwrap();
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
        found_by: FoundBy::Code,
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

/// Waits until the server's filer has filed every device change of `event` (without asking it
/// to catch up, as no admin read does here); returns the time since `start`.
async fn filed(app: &TestApp, event: EventId, start: Instant) -> Duration {
    loop {
        if !app.filer_behind(event).await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "the filer did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Part 2: a fleet of kiosks pushing and pulling at once.
#[derive(Clone, Copy)]
struct Fleet {
    kiosks: usize,
    rounds: usize,
    per_push: usize,
    /// `None`: each kiosk pushes its rounds back to back; else one push per period, the fleet's
    /// first pushes spread over the first period.
    every: Option<Duration>,
    /// Kiosks pull on the live notice (`BENCH_PULLS=0`: they only push).
    pulling: bool,
}

impl Fleet {
    async fn run(self, app: &TestApp, setup: &Setup, pool: &[TicketId]) {
        let Fleet {
            kiosks,
            rounds,
            per_push,
            every,
            pulling,
        } = self;
        let mut fleet = Vec::with_capacity(kiosks);
        for _ in 0..kiosks {
            fleet.push(app.enrol(setup.event).await);
        }
        if every.is_none() {
            // The burst comes after an outage: the server has not heard from any kiosk for a
            // while (it notes when it last saw each one).
            sqlx::query(
                "update devices set last_seen_at = now() - interval '1 hour' where event_id = $1",
            )
            .bind(setup.event.as_uuid())
            .execute(app.store.pool())
            .await
            .unwrap();
        }
        let stored = "select count(*) from check_ins where event_id = $1";
        let fed = "select coalesce(sum(seq_end - seq + 1), 0)::bigint from feed
                   where event_id = $1 and device_id is not null";
        let (stored_before, fed_before) = (
            count(app, stored, setup.event).await,
            count(app, fed, setup.event).await,
        );
        // Kiosks start where their package left them: at the feed head.
        let (head, _) = app.store.feed_head(setup.event).await.unwrap();
        let gate = setup.gate;
        let sent = kiosks * rounds * per_push;
        let pushes_done = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
        let pushed = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
        // Each kiosk's pushes are made and serialised before the clock starts: a kiosk builds
        // them on its own machine (a burst's backlog exists before the network comes back), and
        // here that work would take the server's cores.
        let fleet: Vec<(Kiosk, Vec<Vec<u8>>)> = fleet
            .into_iter()
            .map(|mut kiosk| {
                let pushes = (0..rounds)
                    .map(|_| {
                        let changes: Vec<Change> = (0..per_push)
                            .map(|_| {
                                let t = pool[(kiosk.rng.next_u64() % pool.len() as u64) as usize];
                                admission(&mut kiosk, t, gate)
                            })
                            .collect();
                        serde_json::to_vec(&serde_json::json!({ "changes": changes })).unwrap()
                    })
                    .collect();
                (kiosk, pushes)
            })
            .collect();
        let retries_before = RETRIES.load(std::sync::atomic::Ordering::Relaxed);
        let cpu_before = cpu_now();
        let start = Instant::now();
        let runs = fleet.into_iter().enumerate().map(|(i, (kiosk, pushes))| {
            let pushes_done = pushes_done.clone();
            let pushed = pushed.clone();
            async move {
                let token = kiosk.token.clone();
                let pushing = async {
                    let mut latencies = Vec::with_capacity(rounds);
                    let mut acknowledged = 0;
                    if let Some(every) = every {
                        tokio::time::sleep(every.mul_f64(i as f64 / kiosks as f64)).await;
                    }
                    let mut next = tokio::time::Instant::now();
                    for body in pushes {
                        if let Some(every) = every {
                            tokio::time::sleep_until(next).await;
                            next += every;
                        }
                        let sent = Instant::now();
                        acknowledged = push_body(app, &kiosk.token, body).await.acknowledged_seq;
                        latencies.push(sent.elapsed());
                    }
                    pushes_done.add_permits(1);
                    pushed.add_permits(1);
                    (kiosk.next_seq - 1, acknowledged, latencies)
                };
                let following = async {
                    if pulling {
                        follow(app, &token, head, sent, &pushes_done, kiosks).await
                    } else {
                        Followed { items: 0, pulls: 0 }
                    }
                };
                let (pushed, pulled) = tokio::join!(pushing, following);
                (pushed.0, pushed.1, pushed.2, pulled)
            }
        });
        // The filer's lag: from the start until every check-in is filed, watched from the moment
        // the last push was answered (the kiosks are still pulling then).
        let filing = async {
            let _all = pushed.acquire_many(kiosks as u32).await.unwrap();
            let cpu_pushed = cpu_now();
            (filed(app, setup.event, start).await, cpu_pushed)
        };
        let (results, (filed_after, cpu_pushed)) =
            tokio::join!(futures_util::future::join_all(runs), filing);
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
        let stored_after = count(app, stored, setup.event).await;
        assert_eq!(
            (stored_after - stored_before) as usize,
            sent,
            "check-ins lost"
        );
        let fed_after = count(app, fed, setup.event).await;
        assert_eq!((fed_after - fed_before) as usize, sent, "feed items lost");
        assert!(
            !pulling || results.iter().all(|r| r.3.items == sent),
            "a kiosk did not pull every change of the run"
        );
        let pulled: usize = results.iter().map(|r| r.3.items).sum();
        let pulls: usize = results.iter().map(|r| r.3.pulls).sum();
        match every {
            None => println!(
                "{kiosks} kiosks at once, burst: each pushes a backlog of {per_push} at the same \
                 moment, pulling on the live notice: {:.2} s",
                elapsed.as_secs_f64()
            ),
            Some(every) => println!(
                "{kiosks} kiosks at once, steady: a push of {per_push} every {:.1} s each \
                 ({:.0} check-ins/s in all), {rounds} rounds, pulling on the live notice: {:.2} s",
                every.as_secs_f64(),
                (kiosks * per_push) as f64 / every.as_secs_f64(),
                elapsed.as_secs_f64()
            ),
        }
        println!(
            "  push latency p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} pushes)",
            percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
            percentile(&latencies, 0.95).as_secs_f64() * 1000.0,
            percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
            latencies.last().unwrap().as_secs_f64() * 1000.0,
            latencies.len()
        );
        // Steady, the pushes are spread over the whole run, and so are the pulls.
        if every.is_none() {
            let (own, postgres) = (cpu_pushed.0 - cpu_before.0, cpu_pushed.1 - cpu_before.1);
            println!(
                "  CPU until the last push was answered: {:.2} s this process (server and \
                 kiosks), {:.2} s Postgres; {:.0} us per check-in",
                own,
                postgres,
                (own + postgres) * 1e6 / sent as f64
            );
        }
        println!(
            "  every check-in filed (check_ins, merge, conflicts) {:.2} s after the start",
            filed_after.as_secs_f64()
        );
        println!(
            "  requests answered 503 and retried: {}",
            RETRIES.load(std::sync::atomic::Ordering::Relaxed) - retries_before
        );
        println!(
            "  nothing lost: {sent} check-ins stored and in the feed, every kiosk acknowledged to \
             its last seq and pulled all {sent}; {pulled} feed items in {pulls} pulls ({:.0} items/s)",
            pulled as f64 / elapsed.as_secs_f64()
        );
    }
}

/// The parts of a pulled page a kiosk's loop needs.
#[derive(serde::Deserialize)]
struct PageHead {
    items: Vec<serde::de::IgnoredAny>,
    next_cursor: Cursor,
    has_more: bool,
    pending: bool,
}

/// What one kiosk pulled.
struct Followed {
    items: usize,
    pulls: usize,
}

/// A kiosk's pull side: holds the live stream open and pulls whenever a notice is beyond its
/// cursor; ends once every kiosk has pushed and it has pulled `expected` changes.
async fn follow(
    app: &TestApp,
    token: &str,
    mut cursor: Cursor,
    expected: usize,
    pushes_done: &tokio::sync::Semaphore,
    kiosks: usize,
) -> Followed {
    let mut notices = live_stream(&app.http, &app.url("/api/v1/live"), token).await;
    let mut followed = Followed { items: 0, pulls: 0 };
    let mut idle_after_pushes = 0;
    loop {
        let notice = tokio::select! {
            notice = notices.recv() => notice,
            // Every kiosk pushed: pull until everything is here (a few tries, then it is lost).
            _ = pushes_done.acquire_many(kiosks as u32) => {
                idle_after_pushes += 1;
                assert!(idle_after_pushes < 100, "a kiosk pulled only {} of {expected} changes", followed.items);
                tokio::time::sleep(Duration::from_millis(50)).await;
                None
            }
        };
        if let Some(notice) = notice
            && notice.position <= cursor
        {
            continue;
        }
        loop {
            let response = app
                .http
                .get(app.url(&format!("/api/v1/pull?after={cursor}&limit=1000")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            if response.status() == 503 {
                RETRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            assert_eq!(response.status(), 200);
            // Only what the loop needs: the items are counted, not decoded (a kiosk decodes
            // them on its own machine; here it would take the server's cores).
            let page: PageHead = response.json().await.unwrap();
            followed.pulls += 1;
            followed.items += page.items.len();
            cursor = page.next_cursor;
            if page.pending {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            if !page.has_more {
                break;
            }
        }
        if followed.items >= expected {
            return followed;
        }
    }
}

/// Opens `GET /api/v1/live` and hands its notices over a channel.
async fn live_stream(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> tokio::sync::mpsc::Receiver<LiveNotice> {
    let response = http.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200, "live stream refused");
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                for line in event.lines() {
                    if let Some(data) = line.strip_prefix("data:")
                        && let Ok(notice) = serde_json::from_str(data.trim())
                        && tx.send(notice).await.is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Part 3: `streams` live streams held open on a server process of its own (so its memory and
/// CPU are the server's alone) while two kiosks push for about ten seconds.
async fn streams(app: &TestApp, db: &TestDb, setup: &Setup, tickets: &[TicketId], streams: usize) {
    if streams == 0 {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = std::env::temp_dir().join(format!("gatepass-bench-{port}"));
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_sync-server"))
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("SYNC_LISTEN", format!("127.0.0.1:{port}"))
        .env("SYNC_DATA_DIR", &data)
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start the server process");
    let pid = server.id();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let idle = process_figures(pid);
    let mut tokens = Vec::with_capacity(streams);
    for _ in 0..streams {
        tokens.push(app.enrol(setup.event).await.token);
    }
    let mut receivers = Vec::with_capacity(streams);
    for token in &tokens {
        receivers.push(live_stream(&http, &format!("{base}/api/v1/live"), token).await);
    }
    // Each stream's first notice: the head at connection.
    for rx in &mut receivers {
        rx.recv().await.expect("a first notice");
    }
    let open = process_figures(pid);
    let counting = receivers
        .into_iter()
        .map(|mut rx| {
            tokio::spawn(async move {
                let mut n = 0usize;
                while tokio::time::timeout(Duration::from_secs(3), rx.recv())
                    .await
                    .ok()
                    .flatten()
                    .is_some()
                {
                    n += 1;
                }
                n
            })
        })
        .collect::<Vec<_>>();
    let mut pushers = Vec::new();
    for half in tickets.chunks(tickets.len().div_ceil(2)).take(2) {
        let mut kiosk = app.enrol(setup.event).await;
        let http = http.clone();
        let base = base.clone();
        let gate = setup.gate;
        let half: Vec<TicketId> = half.iter().take(2000).copied().collect();
        pushers.push(tokio::spawn(async move {
            for chunk in half.chunks(20) {
                let changes: Vec<Change> = chunk
                    .iter()
                    .map(|&t| admission(&mut kiosk, t, gate))
                    .collect();
                let response = http
                    .post(format!("{base}/api/v1/push"))
                    .bearer_auth(&kiosk.token)
                    .json(&serde_json::json!({ "changes": changes }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    let flowing = Instant::now();
    let cpu_before = process_figures(pid);
    for p in pushers {
        p.await.unwrap();
    }
    let busy = process_figures(pid);
    let window = flowing.elapsed();
    let mut notices = Vec::with_capacity(streams);
    for c in counting {
        notices.push(c.await.unwrap());
    }
    notices.sort();
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&data);
    println!(
        "{streams} live streams on one server process, 2 kiosks pushing 20 check-ins every 100 ms:"
    );
    println!(
        "  resident memory: {:.1} MB idle, {:.1} MB with the streams open, {:.1} MB peak while pushes flowed",
        idle.rss_mb, open.rss_mb, busy.peak_mb
    );
    println!(
        "  server CPU while pushes flowed: {:.0}% of one core over {:.1} s (200 pushes)",
        (busy.cpu_s - cpu_before.cpu_s) / window.as_secs_f64() * 100.0,
        window.as_secs_f64()
    );
    println!(
        "  notices per stream: min {}, median {}, max {}",
        notices[0],
        notices[notices.len() / 2],
        notices[notices.len() - 1]
    );
    assert!(
        notices[0] > 0,
        "a stream heard no notice while pushes flowed"
    );
}

/// Resident memory and CPU time of a process, from /proc.
struct Figures {
    rss_mb: f64,
    peak_mb: f64,
    cpu_s: f64,
}

fn process_figures(pid: u32) -> Figures {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 14th, stime the 15th.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Figures {
        rss_mb: kb("VmRSS:") / 1024.0,
        peak_mb: kb("VmHWM:") / 1024.0,
        // Clock ticks are 100 per second on Linux.
        cpu_s: (ticks(11) + ticks(12)) / 100.0,
    }
}

/// CPU seconds used so far by this process (the server and the bench's kiosks) and by every
/// Postgres process of the machine: the burst's cost, less noisy than its latency on a shared
/// machine.
fn cpu_now() -> (f64, f64) {
    if std::env::var_os("BENCH_MARK").is_some() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        eprintln!("MARK {:.6}", t.as_secs_f64());
    }
    let own = process_figures(std::process::id()).cpu_s;
    let mut postgres = 0.0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim_end() == "postgres" {
            postgres += process_figures(pid).cpu_s;
        }
    }
    (own, postgres)
}

#[tokio::main]
async fn main() {
    let n = env("BENCH_CHECK_INS", 100_000);
    let kiosks = env("BENCH_KIOSKS", 200);
    let rounds = env("BENCH_ROUNDS", 5);
    let per_push = env("BENCH_KIOSK_BATCH", 20);
    let db = TestDb::new().await;
    let key = SecretKey::generate(&mut ChaCha20Rng::seed_from_u64(9));
    // The pool of a serving instance (`SYNC_DB_POOL`, as `sync-server serve` reads it).
    let connections = env(
        "SYNC_DB_POOL",
        sync_server::config::DEFAULT_DATABASE_POOL as usize,
    ) as u32;
    let app = TestApp::start_serving(&db, key, HttpLimits::default(), connections).await;
    let setup = setup(&app).await;
    let first = tickets(&app, &setup, n, 1).await;
    let second = tickets(&app, &setup, n, 2).await;
    if part("ingest") {
        ingest(&app, &setup, n, &first, &second).await;
    }

    let pulling = env("BENCH_PULLS", 1) != 0;
    if part("fleet") || part("burst") {
        // 2. Many kiosks pushing and pulling at once, each pulling when its live stream says so:
        //    a burst (the venue's network comes back: every kiosk pushes its backlog of all its
        //    rounds in one push, as the kiosk engine does, at the same moment), then a steady peak
        //    (every kiosk pushes once per `BENCH_PUSH_EVERY_MS`, starts spread out).
        for _ in 0..env("BENCH_BURSTS", 1) {
            Fleet {
                kiosks,
                rounds: 1,
                per_push: rounds * per_push,
                every: None,
                pulling,
            }
            .run(&app, &setup, &second)
            .await;
        }
    }
    if part("fleet") || part("steady") {
        let every = Duration::from_millis(env("BENCH_PUSH_EVERY_MS", 10_000) as u64);
        Fleet {
            kiosks,
            rounds,
            per_push,
            every: Some(every),
            pulling,
        }
        .run(&app, &setup, &second)
        .await;
    }
    // 3. Many live streams on one server process while pushes flow.
    if part("streams") {
        streams(&app, &db, &setup, &second, env("BENCH_STREAMS", 1000)).await;
    }

    app.stop().await;
    // BENCH_KEEP_DB=1 leaves the database to look at with psql (its name is printed).
    if env("BENCH_KEEP_DB", 0) == 0 {
        db.drop_db().await;
    } else {
        println!("database kept: {}", db.name);
    }
}

/// Part 1: one kiosk, two kiosks at once, and one kiosk whose every check-in is a double
/// admission.
async fn ingest(app: &TestApp, setup: &Setup, n: usize, first: &[TicketId], second: &[TicketId]) {
    println!("ingest: {n} check-ins of {n} existing tickets per run, batches of 1000");

    // 1a. One kiosk, sequential batches.
    let mut a = app.enrol(setup.event).await;
    let batches = bodies(&mut a, first, setup.gate);
    let start = Instant::now();
    let ack = push_all(app, &a.token, batches).await;
    let one = start.elapsed();
    let one_filed = filed(app, setup.event, start).await;
    assert_eq!(ack, n as u64);
    println!(
        "  1 kiosk:                 {:>8.0} check-ins/s answered ({:.2} s), {:>8.0}/s filed ({:.2} s)",
        rate(n, one),
        one.as_secs_f64(),
        rate(n, one_filed),
        one_filed.as_secs_f64()
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
    let (ab, ac) = tokio::join!(push_all(app, &b.token, bb), push_all(app, &c.token, cb));
    let two = start.elapsed();
    let two_filed = filed(app, setup.event, start).await;
    assert_eq!((ab + ac) as usize, n);
    println!(
        "  2 kiosks at once:        {:>8.0} check-ins/s answered ({:.2} s), {:>8.0}/s filed ({:.2} s)",
        rate(n, two),
        two.as_secs_f64(),
        rate(n, two_filed),
        two_filed.as_secs_f64()
    );

    // 1c. Every ticket of the first run admitted again: n double admissions.
    let mut d = app.enrol(setup.event).await;
    let batches = bodies(&mut d, first, setup.gate);
    let start = Instant::now();
    push_all(app, &d.token, batches).await;
    let doubles = start.elapsed();
    let doubles_filed = filed(app, setup.event, start).await;
    let conflicts = count(
        app,
        "select count(*) from conflicts where event_id = $1 and kind = 'double_admission'",
        setup.event,
    )
    .await;
    assert_eq!(conflicts, n as i64);
    println!(
        "  1 kiosk, all conflicts:  {:>8.0} check-ins/s answered ({:.2} s), {:>8.0}/s filed \
         ({:.2} s, {conflicts} double admissions)",
        rate(n, doubles),
        doubles.as_secs_f64(),
        rate(n, doubles_filed),
        doubles_filed.as_secs_f64()
    );
    let stored = count(
        app,
        "select count(*) from check_ins where event_id = $1",
        setup.event,
    )
    .await;
    assert_eq!(stored, 3 * n as i64);
}
