//! The randomized convergence test: kiosk engines (store and background sync loop), two server
//! instances on one Postgres, and a fault link per kiosk, driven by a seeded random schedule of
//! venue operations and faults. After the schedule everything is healed, sync settles, and the run
//! checks that nothing was lost, doubled or left behind (see [`run`] and docs/testing.md).
//!
//! A seed fixes the schedule: which operations and faults, in which order, with which codes,
//! names and delays. Timing is real (a kill lands wherever the process is at that moment, the
//! background loops run on their own), so a replay runs the same schedule, not necessarily the
//! same interleaving; a failure prints its seed and its schedule.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiosk_core::background::{Clock, LoopConfig, SyncHandle, SyncLoop, system_clock};
use kiosk_core::gate::{annul, scan};
use kiosk_core::store::KioskStore;
use kiosk_core::sync::SyncClient;
use kiosk_core::walkin::{WalkInRequest, register};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sqlx::PgPool;
use sync_protocol::UnixMillis;
use sync_protocol::changes::{AttendeeEdit, Change, ChangeBody, FieldEdit};
use sync_protocol::hlc::Hlc;
use sync_protocol::ids::{ChangeId, CheckInId, DeviceId, TicketId};
use sync_protocol::merge::{MergeState, TicketStatusChange};
use sync_protocol::model::{Direction, TicketStatus};
use sync_protocol::ticket_code::TicketCode;
use uuid::Uuid;

use crate::db::{TestDb, filer_settled};
use crate::faultnet::{Link, LinkMode};
use crate::kiosk::enrolled_store;
use crate::seed;
use crate::server::{ServerProcess, workspace_binary};

/// The kiosks' PIN (as [`enrolled_store`] sets it).
const PIN: &str = "24682468";
/// A day, for kiosks whose clock is wrong.
const DAY_MS: i64 = 86_400_000;

/// The size of one run.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub kiosks: usize,
    pub tickets: usize,
    /// Operations and faults in the schedule.
    pub steps: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kiosks: 4,
            tickets: 12,
            steps: 60,
        }
    }
}

/// What a run did, for the summary line.
#[derive(Debug, Default)]
pub struct Summary {
    pub changes: u64,
    pub check_ins: u64,
    pub walk_ins: u64,
    pub edits: u64,
    pub conflicts: u64,
    pub faults: u64,
}

/// One kiosk engine of the venue, with its link.
struct Gatekeeper {
    label: String,
    dir: PathBuf,
    /// `None` while the kiosk's process is down (killed, not yet reopened).
    store: Option<Arc<Mutex<KioskStore>>>,
    /// The engine's background sync over the open store (as the kiosk app runs it).
    sync: Option<SyncHandle>,
    client: SyncClient,
    link: Link,
    device_id: DeviceId,
    /// This kiosk's clock (a day wrong on some).
    clock: Clock,
    /// This kiosk's admissions, newest last (for annulments).
    admissions: Vec<CheckInId>,
    /// Codes this kiosk issued to walk-ins.
    walk_in_codes: Vec<String>,
}

impl Drop for Gatekeeper {
    fn drop(&mut self) {
        self.sync = None;
        self.store = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A clock a day ahead, and one a day behind.
fn clock_ahead() -> UnixMillis {
    UnixMillis(system_clock().as_u64() + DAY_MS as u64)
}

fn clock_behind() -> UnixMillis {
    UnixMillis(system_clock().as_u64() - DAY_MS as u64)
}

/// The background loop of the test: it syncs often, pushes soon after a local change and comes
/// back fast after a failure, so that it runs many times during a schedule.
fn loop_config() -> LoopConfig {
    LoopConfig {
        interval: Duration::from_millis(800),
        local_change_delay: Duration::from_millis(100),
        backoff_start: Duration::from_millis(50),
        backoff_cap: Duration::from_secs(1),
        live: true,
    }
}

impl Gatekeeper {
    fn now(&self) -> UnixMillis {
        (self.clock)()
    }

    /// The open store, reopened after a kill.
    fn open_store(&mut self) -> Arc<Mutex<KioskStore>> {
        if self.store.is_none() {
            let store = KioskStore::unlock(&self.dir.join("kiosk.db"), PIN)
                .unwrap_or_else(|e| panic!("{}: the store does not reopen: {e}", self.label));
            self.store = Some(Arc::new(Mutex::new(store)));
        }
        self.store.clone().expect("opened above")
    }

    /// The open store with its background sync running (both started again after a kill).
    fn store(&mut self) -> Arc<Mutex<KioskStore>> {
        let store = self.open_store();
        if self.sync.is_none() {
            self.sync = Some(SyncLoop::spawn(
                store.clone(),
                self.client.clone(),
                loop_config(),
                self.clock,
                kiosk_core::events::channel(),
            ));
        }
        store
    }

    /// A local change was recorded: the background sync pushes it soon.
    fn changed(&self) {
        if let Some(sync) = &self.sync {
            sync.notify_local_change();
        }
    }

    /// Stops the background sync.
    async fn stop_sync(&mut self) {
        if let Some(sync) = self.sync.take() {
            tokio::time::timeout(Duration::from_secs(30), sync.shutdown())
                .await
                .unwrap_or_else(|_| panic!("{}: the background sync did not stop", self.label));
        }
    }

    /// Stops the background sync and closes the store, as the kiosk's process ending does.
    async fn close(&mut self) {
        self.stop_sync().await;
        self.store = None;
    }
}

/// The schedule as it ran, printed when a check fails.
#[derive(Default)]
struct Log(String);

impl Log {
    fn step(&mut self, n: usize, what: impl std::fmt::Display) {
        let _ = writeln!(self.0, "  {n:3}. {what}");
    }
}

/// Runs the schedule of `seed` and checks convergence; panics with the seed and the schedule on
/// a failed check.
pub async fn run(seed: u64, config: Config) -> Summary {
    let log = Arc::new(Mutex::new(Log::default()));
    let task = tokio::spawn(run_logged(seed, config, log.clone()));
    match task.await {
        Ok(summary) => summary,
        Err(e) => {
            let schedule = std::mem::take(&mut log.lock().unwrap().0);
            eprintln!(
                "convergence: seed {seed} FAILED (replay: CONVERGENCE_SEED={seed}); schedule:\n{schedule}"
            );
            match e.try_into_panic() {
                Ok(payload) => std::panic::resume_unwind(payload),
                Err(e) => panic!("seed {seed}: the run was cancelled: {e}"),
            }
        }
    }
}

async fn run_logged(seed: u64, config: Config, log: Arc<Mutex<Log>>) -> Summary {
    let rng = &mut ChaCha20Rng::seed_from_u64(seed);
    let db = TestDb::new().await;
    // A failed run leaves its database behind, for a look at what the server holds.
    log.lock().unwrap().step(0, format!("database {}", db.url));
    let mut servers = vec![ServerProcess::start(&db.url).await];
    servers.push(servers[0].start_sibling().await);
    let addrs: Vec<_> = servers.iter().map(ServerProcess::addr).collect();
    let pool = PgPool::connect(&db.url).await.unwrap();
    let event = seed::event(&pool).await;
    let codes = seed::tickets(&pool, event.event_id, config.tickets).await;
    let event_arg = event.event_id.to_string();
    let published = servers[0].admin(&["package", "publish", "--event", &event_arg]);
    assert_eq!(published["version"], 1, "{published}");

    let mut kiosks = Vec::new();
    for i in 0..config.kiosks {
        let link = Link::start(addrs.clone()).await;
        let label = format!("gate-{i}");
        let (store, dir, version) =
            enrolled_store(&link.url(), &pool, event.event_id, &label).await;
        assert_eq!(version, Some(1));
        let device_id = store.identity().unwrap().unwrap().device_id;
        // One kiosk in four has a clock a day wrong, ahead or behind.
        let (clock, said): (Clock, _) = match rng.gen_range(0..8) {
            0 => (clock_ahead, "a day ahead"),
            1 => (clock_behind, "a day behind"),
            _ => (system_clock, "right"),
        };
        let client = SyncClient::for_store(&store).unwrap().with_clock(clock);
        log.lock()
            .unwrap()
            .step(0, format!("{label}: clock {said}"));
        let mut kiosk = Gatekeeper {
            label,
            dir,
            store: Some(Arc::new(Mutex::new(store))),
            sync: None,
            client,
            link,
            device_id,
            clock,
            admissions: Vec::new(),
            walk_in_codes: Vec::new(),
        };
        kiosk.store();
        kiosks.push(kiosk);
    }
    let gate = event.gate_id;
    let names = ["Ada Byron", "Alan Turing", "Grace Hopper"];
    let mut summary = Summary::default();

    for n in 1..=config.steps {
        let k = rng.gen_range(0..kiosks.len());
        let roll = rng.gen_range(0..100);
        let what = match roll {
            // Scans: admits, re-entries, exits, unknown codes.
            0..=34 => {
                let kiosk = &mut kiosks[k];
                let code = match rng.gen_range(0..10) {
                    0 => format!("NO-SUCH-{}", rng.gen_range(0..1000)),
                    1 if !kiosk.walk_in_codes.is_empty() => {
                        kiosk.walk_in_codes.choose(rng).unwrap().clone()
                    }
                    _ => codes.choose(rng).unwrap().clone(),
                };
                let direction = if rng.gen_bool(0.25) {
                    Direction::Exit
                } else {
                    Direction::Entry
                };
                let offline = kiosk.link.mode() != LinkMode::Up;
                let at = kiosk.now();
                let store = kiosk.store();
                let result = scan(
                    &mut store.lock().unwrap(),
                    code.as_bytes(),
                    gate,
                    direction,
                    at,
                    offline,
                );
                kiosk.changed();
                match result {
                    Ok(r) => {
                        if r.verdict.code == sync_protocol::verdict::VerdictCode::Admitted
                            && let Some(id) = r.check_in_id
                        {
                            kiosk.admissions.push(id);
                        }
                        format!(
                            "{}: scan {code} {direction:?} -> {:?}",
                            kiosk.label, r.verdict.code
                        )
                    }
                    Err(e) => panic!("{}: scan {code} failed: {e}", kiosk.label),
                }
            }
            35..=39 => {
                let kiosk = &mut kiosks[k];
                match kiosk.admissions.last().copied() {
                    Some(id) => {
                        let at = kiosk.now();
                        let store = kiosk.store();
                        let result = annul(&mut store.lock().unwrap(), id, at);
                        kiosk.changed();
                        format!(
                            "{}: annul {id} -> {:?}",
                            kiosk.label,
                            result.map(|a| a.seq).map_err(|e| e.to_string())
                        )
                    }
                    None => format!("{}: nothing to annul", kiosk.label),
                }
            }
            // A desk corrects a guest's name or phone (two desks may correct the same field).
            40..=47 if rng.gen_bool(0.35) => {
                let kiosk = &mut kiosks[k];
                let code = codes.choose(rng).unwrap().clone();
                let (field, value) = if rng.gen_bool(0.5) {
                    ("first_name", *["Anna", "Bea", "Cyd"].choose(rng).unwrap())
                } else {
                    (
                        "phone",
                        *["+49 30 1111", "+49 30 2222"].choose(rng).unwrap(),
                    )
                };
                let at = kiosk.now();
                let store = kiosk.store();
                let mut store = store.lock().unwrap();
                let ticket = store
                    .ticket_by_code(&TicketCode::parse(&code).unwrap())
                    .unwrap()
                    .expect("a seeded ticket is in the package");
                let edit = ChangeBody::AttendeeEdit(AttendeeEdit {
                    attendee_id: ticket.attendee_id,
                    fields: [(
                        field.to_owned(),
                        FieldEdit {
                            value: serde_json::Value::String(value.into()),
                            seen: None,
                        },
                    )]
                    .into(),
                });
                let change = store
                    .record(&edit, at)
                    .unwrap_or_else(|e| panic!("{}: edit refused: {e}", kiosk.label));
                drop(store);
                kiosk.changed();
                summary.edits += 1;
                format!(
                    "{}: edit {code} {field} = {value} (seq {})",
                    kiosk.label, change.seq
                )
            }
            // Walk-ins, some the same person at two desks.
            40..=47 => {
                let kiosk = &mut kiosks[k];
                let name = names.choose(rng).unwrap();
                let (first, last) = name.split_once(' ').unwrap();
                let request = WalkInRequest {
                    first_name: first.into(),
                    last_name: last.into(),
                    email: Some(format!("{}@example.org", first.to_lowercase())),
                    phone: None,
                    ticket_type_id: None,
                    answers: Default::default(),
                };
                let at = kiosk.now();
                let store = kiosk.store();
                let registered = register(&mut store.lock().unwrap(), request, at)
                    .unwrap_or_else(|e| panic!("{}: walk-in refused: {e}", kiosk.label));
                kiosk.changed();
                kiosk.walk_in_codes.push(registered.ticket.code.clone());
                summary.walk_ins += 1;
                format!(
                    "{}: walk-in {name} -> {}",
                    kiosk.label, registered.ticket.code
                )
            }
            // A sync asked for now (the sync button), waited for until a random deadline; the
            // background loop syncs besides, on its own.
            48..=69 => {
                let kiosk = &mut kiosks[k];
                let deadline = Duration::from_millis(rng.gen_range(200..3_000));
                kiosk.store();
                let sync = kiosk.sync.as_ref().expect("started by store()");
                let result = tokio::time::timeout(deadline, sync.sync_now(|_| {})).await;
                let outcome = match result {
                    Ok(Ok(r)) => format!("pushed {} pulled {}", r.pushed, r.pulled),
                    Ok(Err(e)) => format!("error: {e}"),
                    Err(_) => format!("cut short after {deadline:?}"),
                };
                format!("{}: sync -> {outcome}", kiosk.label)
            }
            // Link faults.
            70..=79 => {
                summary.faults += 1;
                let kiosk = &kiosks[k];
                match rng.gen_range(0..5) {
                    0 | 1 => {
                        kiosk.link.set_mode(LinkMode::Down);
                        format!("{}: link down", kiosk.label)
                    }
                    2 => {
                        kiosk.link.set_mode(LinkMode::Stall);
                        format!("{}: link stalled", kiosk.label)
                    }
                    3 => {
                        let ms = rng.gen_range(5..80);
                        kiosk.link.set_delay(Duration::from_millis(ms));
                        kiosk.link.set_mode(LinkMode::Up);
                        format!("{}: link up, {ms} ms per chunk", kiosk.label)
                    }
                    _ => {
                        let bytes = rng.gen_range(50..4_000);
                        kiosk.link.cut_next_after(bytes);
                        kiosk.link.set_mode(LinkMode::Up);
                        format!(
                            "{}: link up, next connection cut after {bytes} bytes",
                            kiosk.label
                        )
                    }
                }
            }
            80..=81 => {
                kiosks[k].link.heal();
                format!("{}: link healed", kiosks[k].label)
            }
            // The kiosk's process killed mid-sync or mid-scan, then reopened.
            82..=86 => {
                summary.faults += 1;
                let kiosk = &mut kiosks[k];
                kiosk.close().await;
                let after = Duration::from_millis(rng.gen_range(0..400));
                let args: Vec<String> = if rng.gen_bool(0.7) {
                    vec!["sync".into()]
                } else {
                    let code = codes.choose(rng).unwrap().clone();
                    vec!["scan".into(), code, "--gate".into(), gate.to_string()]
                };
                let status = kill_kiosk_process(kiosk, &args, after).await;
                format!(
                    "{}: kiosk {} killed after {after:?} ({status})",
                    kiosk.label, args[0]
                )
            }
            // A server instance killed or brought back.
            87..=90 => {
                summary.faults += 1;
                let i = rng.gen_range(0..servers.len());
                if servers[i].is_running() {
                    servers[i].kill();
                    format!("server {i} killed")
                } else {
                    servers[i].restart().await;
                    format!("server {i} started again")
                }
            }
            // Postgres drops every connection of the servers (as in a restart of the database).
            91..=92 => {
                summary.faults += 1;
                let dropped: i64 = sqlx::query_scalar(
                    "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity
                     where datname = current_database() and pid <> pg_backend_pid()) t",
                )
                .fetch_one(&pool)
                .await
                .unwrap();
                format!("postgres: {dropped} server connections dropped")
            }
            // The admin revokes a ticket or publishes a new package.
            93..=96 => {
                let code = codes.choose(rng).unwrap();
                let id: Uuid =
                    sqlx::query_scalar("select id from tickets where event_id = $1 and code = $2")
                        .bind(event.event_id.as_uuid())
                        .bind(code)
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                let out = servers[0].admin(&["ticket", "revoke", &id.to_string()]);
                format!("admin: revoke {code} -> {out}")
            }
            _ => {
                let out = servers[0].admin(&["package", "publish", "--event", &event_arg]);
                format!("admin: publish -> version {}", out["version"])
            }
        };
        log.lock().unwrap().step(n, what);
    }

    // Heal everything and let sync settle.
    log.lock()
        .unwrap()
        .step(config.steps + 1, "heal: links up, servers up, kiosks open");
    for server in &mut servers {
        if !server.is_running() {
            server.restart().await;
        }
    }
    for kiosk in &mut kiosks {
        kiosk.link.heal();
        kiosk.store();
    }
    // The background loops push everything on their own...
    let start = std::time::Instant::now();
    loop {
        let mut pending = 0;
        for kiosk in &mut kiosks {
            pending += kiosk
                .open_store()
                .lock()
                .unwrap()
                .outbox_counts()
                .unwrap()
                .0;
        }
        if pending == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the background loops left {pending} changes unpushed for 60 s on a healed network"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    log.lock().unwrap().step(
        0,
        format!(
            "background loops pushed everything in {:?}",
            start.elapsed()
        ),
    );
    // ...then they stop, and rounds of syncs make sure every kiosk has pulled everything.
    for kiosk in &mut kiosks {
        kiosk.stop_sync().await;
    }
    settle(&mut kiosks, &pool, &log).await;
    check(&kiosks, &pool, event.event_id, &mut summary).await;
    drop(kiosks);
    drop(servers);
    pool.close().await;
    db.drop_db().await;
    summary
}

/// Runs the headless `kiosk` on the kiosk's store (`kiosk sync`, `kiosk scan ...`) and kills it
/// with SIGKILL after `after`, wherever it is. Returns how it ended.
async fn kill_kiosk_process(kiosk: &Gatekeeper, args: &[String], after: Duration) -> String {
    let mut child = tokio::process::Command::new(workspace_binary("kiosk"))
        .arg("--data")
        .arg(&kiosk.dir)
        .args(args)
        .env("KIOSK_PIN", PIN)
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the kiosk command");
    match tokio::time::timeout(after, child.wait()).await {
        Ok(status) => format!("had ended: {:?}", status.ok().and_then(|s| s.code())),
        Err(_) => {
            let _ = child.kill().await;
            "killed".into()
        }
    }
}

/// Syncs every kiosk, round after round, until a whole round moves nothing; fails after 30
/// rounds.
async fn settle(kiosks: &mut [Gatekeeper], pool: &PgPool, log: &Arc<Mutex<Log>>) {
    for round in 1..=30 {
        let mut moved = 0;
        for kiosk in kiosks.iter_mut() {
            let store = kiosk.open_store();
            // As the background loop does, a failed sync is tried again; on a healed network
            // one may still meet a connection that a fault left half-closed, never five in a row.
            let mut attempt = 0;
            let report = loop {
                attempt += 1;
                let result = tokio::time::timeout(
                    Duration::from_secs(60),
                    kiosk.client.sync_once(&store, |_| {}),
                )
                .await
                .unwrap_or_else(|_| {
                    panic!("{}: a sync on a healed network took over 60 s", kiosk.label)
                });
                match result {
                    Ok(report) => break report,
                    Err(e) if attempt < 5 => {
                        log.lock().unwrap().step(
                            0,
                            format!(
                                "settle round {round}: {} sync failed ({e}), again",
                                kiosk.label
                            ),
                        );
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => panic!(
                        "{}: a sync on a healed network failed {attempt} times: {e}",
                        kiosk.label
                    ),
                }
            };
            moved += report.pushed + report.pulled + u64::from(report.package_applied.is_some());
        }
        filer_settled(pool).await;
        log.lock()
            .unwrap()
            .step(0, format!("settle round {round}: {moved} changes moved"));
        if moved == 0 {
            return;
        }
    }
    panic!("sync did not settle in 30 rounds");
}

/// A change as the server's change log holds it.
#[derive(sqlx::FromRow)]
struct ChangeRow {
    change_id: Uuid,
    device_id: Uuid,
    seq: i64,
    hlc: i64,
    package_version: i64,
    kind: String,
    schema_version: i32,
    entity_id: String,
    payload: serde_json::Value,
}

/// The checks of a settled run (see the module doc).
async fn check(
    kiosks: &[Gatekeeper],
    pool: &PgPool,
    event: sync_protocol::ids::EventId,
    summary: &mut Summary,
) {
    // 1. Every change a kiosk committed is on the server exactly once, acknowledged, accepted.
    for kiosk in kiosks {
        let (pending, acknowledged, parked) = {
            let store = kiosk.store.as_ref().expect("open after the heal");
            store.lock().unwrap().outbox_counts().unwrap()
        };
        assert_eq!(
            pending, 0,
            "{}: changes still pending after sync settled",
            kiosk.label
        );
        assert_eq!(parked, 0, "{}: changes parked by the server", kiosk.label);
        let (count, max_seq, accepted): (i64, Option<i64>, i64) = sqlx::query_as(
            "select count(*), max(seq), count(*) filter (where status = 'accepted')
             from changes where device_id = $1",
        )
        .bind(kiosk.device_id.as_uuid())
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(
            (count as u64, max_seq.unwrap_or(0) as u64),
            (acknowledged, acknowledged),
            "{}: the server holds {count} changes up to seq {max_seq:?}; the kiosk made {acknowledged}",
            kiosk.label
        );
        assert_eq!(
            count, accepted,
            "{}: changes the server parked",
            kiosk.label
        );
        summary.changes += acknowledged;
    }

    // 2. Every kiosk holds the server's view: check-ins (with annulments) and ticket statuses.
    let server_check_ins: BTreeSet<(Uuid, Uuid, bool)> = sqlx::query_as(
        "select id, ticket_id, annulled from check_ins
         where event_id = $1 and not failed and ticket_id is not null",
    )
    .bind(event.as_uuid())
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    summary.check_ins = server_check_ins.len() as u64;
    let tickets: Vec<(Uuid, String, i64)> = sqlx::query_as(
        "select id, status, status_hlc from tickets where event_id = $1 order by id",
    )
    .bind(event.as_uuid())
    .fetch_all(pool)
    .await
    .unwrap();
    for kiosk in kiosks {
        let store = kiosk.store.as_ref().expect("open").lock().unwrap();
        let mut held = BTreeSet::new();
        for (id, status, _) in &tickets {
            let ticket = TicketId::from_uuid(*id).unwrap();
            let record = store
                .ticket_by_id(ticket)
                .unwrap()
                .unwrap_or_else(|| panic!("{}: ticket {id} ({status}) unknown", kiosk.label));
            assert_eq!(
                serde_json::to_value(record.status).unwrap(),
                serde_json::Value::String(status.clone()),
                "{}: ticket {id}",
                kiosk.label
            );
            for fact in store.check_ins_of(ticket).unwrap() {
                held.insert((fact.id.as_uuid(), *id, fact.annulled));
            }
        }
        assert_eq!(
            held, server_check_ins,
            "{}: the kiosk's check-ins differ from the server's",
            kiosk.label
        );
    }

    // 3. The conflicts the server lists are exactly those the merge rules find in every change
    //    the kiosks made (double admissions, admissions while revoked, possible duplicates).
    let walk_in_attendees: BTreeSet<Uuid> = sqlx::query_scalar(
        "select id from attendees where event_id = $1 and created_seq is not null",
    )
    .bind(event.as_uuid())
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let (gates, package) = {
        let first = kiosks[0].store.as_ref().expect("open").lock().unwrap();
        let mut package = Vec::new();
        for (id, _, _) in &tickets {
            let ticket = TicketId::from_uuid(*id).unwrap();
            let record = first.ticket_by_id(ticket).unwrap().unwrap();
            if !walk_in_attendees.contains(&record.attendee_id.as_uuid())
                && let Some(attendee) = first.attendee(record.attendee_id).unwrap()
            {
                package.push(attendee);
            }
        }
        (first.gates().unwrap(), package)
    };
    let mut merge = MergeState::new(&gates, package);
    let rows: Vec<ChangeRow> = sqlx::query_as(
        "select change_id, device_id, seq, hlc, package_version, kind, schema_version,
                entity_id, payload
         from changes where event_id = $1 and status = 'accepted' order by device_id, seq",
    )
    .bind(event.as_uuid())
    .fetch_all(pool)
    .await
    .unwrap();
    for row in rows {
        let change = Change {
            id: ChangeId::from_uuid(row.change_id).unwrap(),
            device_id: DeviceId::from_uuid(row.device_id).unwrap(),
            seq: row.seq as u64,
            hlc: Hlc::from_i64(row.hlc).unwrap(),
            package_version: row.package_version as u64,
            kind: row.kind,
            schema_version: row.schema_version as u16,
            entity_id: row.entity_id,
            payload: row.payload,
        };
        merge.apply_change(&change).unwrap();
    }
    for (id, status, hlc) in &tickets {
        if status != "valid" {
            merge.apply_status(TicketStatusChange {
                ticket_id: TicketId::from_uuid(*id).unwrap(),
                status: serde_json::from_value::<TicketStatus>(serde_json::Value::String(
                    status.clone(),
                ))
                .unwrap(),
                hlc: Hlc::from_i64(*hlc).unwrap(),
            });
        }
    }
    let expected: BTreeMap<String, String> = merge
        .conflicts()
        .iter()
        .map(|c| (c.key(), format!("{c:?}")))
        .collect();
    let listed: BTreeSet<String> =
        sqlx::query_scalar("select key from conflicts where event_id = $1 and status = 'open'")
            .bind(event.as_uuid())
            .fetch_all(pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let missing: Vec<_> = expected
        .iter()
        .filter(|(k, _)| !listed.contains(*k))
        .map(|(_, c)| c.clone())
        .collect();
    let extra: Vec<_> = listed
        .iter()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "conflicts: the server misses {missing:#?} and lists {extra:#?} that the changes do not make; \
         the changes make {:#?}",
        expected.keys().collect::<Vec<_>>()
    );
    summary.conflicts = expected.len() as u64;
}
