//! The kiosk engine at a venue's size, through the engine handle (`kiosk_core::app::Kiosk`), on a
//! real SQLite file (`synchronous=FULL`): a package of N tickets imported from a file, then scans
//! at a gate, each judged and recorded durably (check-in and outbox row committed) before the next.
//!
//! ```text
//! cargo bench -p kiosk-core --bench gate                       # 100,000 tickets
//! BENCH_TICKETS=1000000 cargo bench -p kiosk-core --bench gate # 1,000,000 tickets
//! ```
//!
//! Then guest searches as a volunteer types names (one search per keystroke) and walk-ins at
//! the desk (form checked, ticket recorded, badge drawn), each followed now and then by a search.
//!
//! Prints the import time, the scan latencies (p50, p99, max: a gate's volunteer waits for each
//! one, so the tail matters, which a mean would hide), and the peak resident memory after import
//! and after the scans. Targets (issue "Kiosk engine speed and memory"): import <= 1 s and scan
//! p99 <= 2 ms at 100,000 tickets, scan p99 <= 3 ms at 1,000,000, memory <= 150 MB. The figures
//! live in docs/benchmarks.md.

use std::time::{Duration, Instant};

use kiosk_core::app::{Kiosk, ScanSource};
use kiosk_core::store::Identity;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sync_protocol::UnixMillis;
use sync_protocol::certificate::DeviceCertificate;
use sync_protocol::crypto::{KdfParams, SecretKey, Signed};
use sync_protocol::ids::{AttendeeId, DeviceId, EventId, GateId, TicketId, TicketTypeId};
use sync_protocol::model::{
    Attendee, Event, Gate, GateMode, Reentry, Ticket, TicketStatus, TicketType,
};
use sync_protocol::package::{PackageBody, PackageMeta, PackageSnapshot, seal_package};
use sync_protocol::wire::Cursor;

const T: UnixMillis = UnixMillis(1_800_000_000_000);
const SCANS: usize = 3_000;
const WALK_INS: usize = 200;

fn code(i: usize) -> String {
    format!("BENCH-{i:07}")
}

/// A signed package of `tickets` tickets, one attendee each, and an identity that trusts it.
fn package(tickets: usize) -> (Vec<u8>, Identity, SecretKey, GateId) {
    let rng = &mut ChaCha20Rng::seed_from_u64(7);
    let server = SecretKey::generate(rng);
    let event = Event {
        id: EventId::new(T, rng),
        name: "Benchmark Days".into(),
        time_zone: "Europe/Berlin".into(),
        starts_at: T,
        ends_at: T.plus_millis(3 * 86_400_000),
    };
    let day = TicketType {
        id: TicketTypeId::new(T, rng),
        name: "Day pass".into(),
        valid_from: None,
        valid_until: None,
    };
    let gate = Gate {
        id: GateId::new(T, rng),
        name: "North".into(),
        allowed_ticket_types: vec![],
        mode: GateMode::EntryAndExit,
        reentry: Reentry::AfterExit,
        required_answers: vec![],
        show_answers: vec![],
        print_badge: Default::default(),
    };
    let mut attendees = Vec::with_capacity(tickets);
    let mut all = Vec::with_capacity(tickets);
    for i in 0..tickets {
        let attendee = Attendee {
            id: AttendeeId::new(T, rng),
            first_name: format!("Guest{i}"),
            last_name: "Bench".into(),
            email: Some(format!("guest{i}@example.org")),
            phone: None,
            answers: Default::default(),
            form: None,
        };
        all.push(Ticket {
            id: TicketId::new(T, rng),
            attendee_id: attendee.id,
            ticket_type_id: day.id,
            status: TicketStatus::Valid,
            code: code(i),
        });
        attendees.push(attendee);
    }
    let device_key = SecretKey::generate(rng);
    let device_id = DeviceId::new(T, rng);
    let certificate = Signed::sign(
        &DeviceCertificate {
            device_id,
            event_id: event.id,
            public_key: device_key.public_key(),
            label: "bench kiosk".into(),
            gate_id: None,
            issued_at: T,
        },
        &server,
    );
    let mut snapshot = PackageSnapshot {
        event: event.clone(),
        ticket_types: vec![day],
        gates: vec![gate.clone()],
        forms: vec![walk_in_form()],
        attendees,
        tickets: all,
        check_ins: vec![],
        certificates: vec![certificate.clone()],
        revoked_devices: vec![],
        printed_badges: vec![],
    };
    snapshot.normalize();
    let meta = PackageMeta {
        event_id: event.id,
        version: 1,
        base_version: None,
        created_at: T,
        cursor: Cursor::START,
    };
    let file = seal_package(meta, &PackageBody::Full(snapshot), &server).to_bytes();
    let identity = Identity {
        device_id,
        event_id: event.id,
        server_url: "http://127.0.0.1:9".into(),
        server_key: server.public_key(),
        gate_id: None,
        certificate,
        badge_certificate: None,
    };
    (file, identity, device_key, gate.id)
}

/// The walk-in form of a conference desk: a required company, an optional role from a list.
fn walk_in_form() -> sync_protocol::forms::Form {
    serde_json::from_value(serde_json::json!({
        "id": "01890a5d-ac96-774b-bcce-b302099a8057",
        "version": 1,
        "title": "Walk-in",
        "pages": [{ "id": "p", "title": "About you", "sections": [{ "id": "s", "title": "", "fields": [
            { "id": "company", "label": "Company", "kind": "text", "required": true },
            { "id": "role", "label": "Role", "kind": "single_choice",
              "choices": [{ "id": "dev", "label": "Developer" }, { "id": "ops", "label": "Operations" }] }
        ]}]}]
    }))
    .expect("the bench's form parses")
}

/// Peak resident memory of this process so far, in MB (Linux: VmHWM).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Builds the package file and identity, then runs the engine in a child process of its own, so
/// the memory figures are the engine's and not the package builder's.
fn main() {
    if let Ok(dir) = std::env::var("GATE_BENCH_DIR") {
        return run(std::path::Path::new(&dir));
    }
    let tickets: usize = std::env::var("BENCH_TICKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("gp-bench-gate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (file, identity, device_key, gate) = package(tickets);
    std::fs::write(dir.join("package.gpkg"), &file).unwrap();
    let setup = serde_json::json!({
        "tickets": tickets,
        "identity": identity,
        "device_key": device_key.to_seed().to_vec(),
        "gate": gate,
    });
    std::fs::write(dir.join("setup.json"), setup.to_string()).unwrap();
    drop(file);
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .env("GATE_BENCH_DIR", &dir)
        .status()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "the engine run failed");
}

/// The engine's part: a new kiosk imports the package file, then scans.
fn run(dir: &std::path::Path) {
    let setup: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("setup.json")).unwrap()).unwrap();
    let tickets = setup["tickets"].as_u64().unwrap() as usize;
    let identity: Identity = serde_json::from_value(setup["identity"].clone()).unwrap();
    let seed: [u8; 32] = serde_json::from_value(setup["device_key"].clone()).unwrap();
    let device_key = SecretKey::from_seed(&seed);
    let gate: GateId = serde_json::from_value(setup["gate"].clone()).unwrap();
    let before_import = peak_rss_mb();

    let kiosk = Kiosk::open(&dir.join("kiosk"), KdfParams::FOR_TESTS).unwrap();
    kiosk.set_up("24682468", "1357").unwrap();
    kiosk
        .store()
        .unwrap()
        .lock()
        .unwrap()
        .save_identity(&identity, "bench-token", &device_key)
        .unwrap();

    // Import from the file: read, verify, seal and index every ticket, write.
    let started = Instant::now();
    let bytes = std::fs::read(dir.join("package.gpkg")).unwrap();
    let applied = kiosk.import_package(&bytes).unwrap();
    drop(bytes);
    let import = started.elapsed();
    assert_eq!(applied.tickets, tickets as u64);
    let after_import = peak_rss_mb();

    kiosk.select_gate(gate).unwrap();
    // The guest search's index is built in the background after an import: the first search
    // waits for it (and so would a scan made in that moment).
    let started = Instant::now();
    let first = kiosk.search_guests("guest", 20).unwrap();
    let first_search = started.elapsed();
    assert_eq!(first.total as usize, tickets);
    // Scans spread over the store (every ticket a first entry: the full path, check-in written).
    let stride = (tickets / SCANS).max(1);
    let mut latencies = Vec::with_capacity(SCANS);
    for n in 0..SCANS.min(tickets) {
        let payload = code(n * stride);
        let started = Instant::now();
        let outcome = kiosk.scan(payload.as_bytes(), ScanSource::Wedge).unwrap();
        latencies.push(started.elapsed());
        assert!(
            outcome.verdict.code.admits(),
            "{payload}: {:?}",
            outcome.verdict
        );
    }
    // And re-entries refused (the ticket's check-ins are read and judged).
    let mut refused = Vec::with_capacity(SCANS / 3);
    for n in 0..(SCANS / 3).min(tickets) {
        let payload = code(n * stride);
        let started = Instant::now();
        let outcome = kiosk.scan(payload.as_bytes(), ScanSource::Wedge).unwrap();
        refused.push(started.elapsed());
        assert!(!outcome.verdict.code.admits());
    }
    let after_scans = peak_rss_mb();

    // Finding a guest as a volunteer types a name: one search per keystroke, the best 20 shown.
    let mut typed = Vec::new();
    let step = (tickets / 50).max(1);
    for n in (0..tickets).step_by(step).take(50) {
        let name = format!("Guest{n} Bench");
        for end in 1..=name.len() {
            let started = Instant::now();
            let found = kiosk.search_guests(&name[..end], 20).unwrap();
            typed.push(started.elapsed());
            assert!(!found.hits.is_empty(), "{}", &name[..end]);
        }
        assert_eq!(
            kiosk.search_guests(&name, 20).unwrap().hits[0].name,
            name,
            "the whole name ranks its guest first"
        );
    }
    for query in ["guest7@example", "0004242", "bench guest99"] {
        let started = Instant::now();
        kiosk.search_guests(query, 20).unwrap();
        typed.push(started.elapsed());
    }
    let after_search = peak_rss_mb();

    // Walk-ins at the desk: the form checked, the ticket issued and recorded, the badge drawn.
    let mut walk_ins = Vec::with_capacity(WALK_INS);
    let mut search_after_walk_in = Vec::with_capacity(WALK_INS / 10);
    for n in 0..WALK_INS {
        let started = Instant::now();
        let badge = kiosk
            .register_walk_in(kiosk_core::walkin::WalkInRequest {
                first_name: format!("Walk{n}"),
                last_name: "In".into(),
                email: Some(format!("walk{n}@example.org")),
                answers: [("company".to_owned(), serde_json::json!("Harbour Ltd"))].into(),
                ..Default::default()
            })
            .unwrap();
        walk_ins.push(started.elapsed());
        assert!(badge.qr_svg.contains("<svg"));
        if n % 10 == 0 {
            // The first search after a new guest builds the index again.
            let started = Instant::now();
            let found = kiosk.search_guests(&format!("walk{n}"), 20).unwrap();
            search_after_walk_in.push(started.elapsed());
            assert_eq!(found.hits[0].name, format!("Walk{n} In"));
        }
    }

    let quantile = |sorted: &[Duration], q: f64| {
        sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
    };
    // Locked and unlocked: a search at once waits for the index built again after the unlock.
    kiosk.lock();
    kiosk.unlock("24682468").unwrap();
    let started = Instant::now();
    kiosk.search_guests("walk1", 20).unwrap();
    let search_after_unlock = started.elapsed();

    latencies.sort();
    refused.sort();
    typed.sort();
    walk_ins.sort();
    search_after_walk_in.sort();
    println!(
        "kiosk engine, {tickets} tickets (release, synchronous=FULL, through the engine handle)"
    );
    println!("  package import from file: {:.0} ms", ms(import));
    println!(
        "  first guest search after import (waits for the index, built in the background): {:.0} ms",
        ms(first_search)
    );
    println!(
        "  first guest search at once after an unlock (the same wait): {:.0} ms",
        ms(search_after_unlock)
    );
    for (what, sorted) in [
        ("scan, admitted", &latencies),
        ("scan, re-entry refused", &refused),
        ("search, per keystroke", &typed),
        ("walk-in, form to badge", &walk_ins),
        ("search after a walk-in", &search_after_walk_in),
    ] {
        println!(
            "  {what:<24} n={:<5} p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            sorted.len(),
            ms(quantile(sorted, 0.50)),
            ms(quantile(sorted, 0.99)),
            ms(*sorted.last().unwrap()),
        );
    }
    println!(
        "  peak resident memory of the engine's process: {before_import:.0} MB at start, {after_import:.0} MB after import, {after_scans:.0} MB after the scans, {after_search:.0} MB after the searches"
    );
}
