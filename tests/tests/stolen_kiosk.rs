//! What a copy of a kiosk's files reveals after a day's work: a real kiosk engine against the real
//! server scans badges, registers walk-ins (one the server parks), syncs, and its files —
//! `kiosk.db` with its `-wal` and `-shm`, read while the store is open and again once it is
//! closed — hold no name, email, phone number or badge code.

use std::sync::Mutex;

use kiosk_core::gate::scan;
use kiosk_core::sync::SyncClient;
use kiosk_core::walkin::{WalkInRequest, register};
use sqlx::PgPool;
use sync_protocol::changes::{ChangeBody, WalkIn};
use sync_protocol::ids::{AttendeeId, TicketId};
use sync_protocol::model::{Attendee, Direction, Ticket, TicketStatus};
use sync_protocol::verdict::VerdictCode;
use system_tests::db::TestDb;
use system_tests::kiosk::{enrolled_store, now};
use system_tests::seed;
use system_tests::server::ServerProcess;

/// The bytes of the store's files that exist now: the database, its WAL and shared memory.
fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    ["kiosk.db", "kiosk.db-wal", "kiosk.db-shm"]
        .into_iter()
        .filter_map(|name| {
            std::fs::read(dir.join(name))
                .ok()
                .map(|bytes| (name.to_owned(), bytes))
        })
        .collect()
}

fn assert_absent(files: &[(String, Vec<u8>)], secrets: &[String]) {
    for (name, bytes) in files {
        for secret in secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret:?} is readable in {name}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_days_work_leaves_no_name_email_phone_or_code_in_the_files() {
    let db = TestDb::new().await;
    let server = ServerProcess::start(&db.url).await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    let event = seed::event(&pool).await;
    let codes = seed::tickets(&pool, event.event_id, 4).await;
    let published = server.admin(&["package", "publish", "--event", &event.event_id.to_string()]);
    assert_eq!(published["version"], 1, "{published}");
    let (store, dir, _) = enrolled_store(&server.base, &pool, event.event_id, "north").await;
    let store = Mutex::new(store);
    let client = SyncClient::for_store(&store.lock().unwrap()).unwrap();

    // The gate: three admissions and one badge shown twice.
    for code in [&codes[0], &codes[1], &codes[2], &codes[0]] {
        scan(
            &mut store.lock().unwrap(),
            code.as_bytes(),
            event.gate_id,
            Direction::Entry,
            now(),
            true,
        )
        .unwrap();
    }
    // The desk: a walk-in, and one the server parks (a control character in the name, which
    // the desk's form would refuse; recorded here as an older kiosk could have).
    let walk_in = register(
        &mut store.lock().unwrap(),
        WalkInRequest {
            first_name: "Dorothy".into(),
            last_name: "Vaughan".into(),
            email: Some("dorothy.vaughan@example.org".into()),
            phone: Some("+44 20 7946 0958".into()),
            ..WalkInRequest::default()
        },
        now(),
    )
    .unwrap();
    let parked = {
        let mut store = store.lock().unwrap();
        let attendee = AttendeeId::new(now(), &mut rand::thread_rng());
        let ticket_type = store.ticket_types().unwrap()[0].id;
        store
            .record(
                &ChangeBody::WalkIn(WalkIn {
                    attendee: Attendee {
                        id: attendee,
                        first_name: "Katherine\u{7}".into(),
                        last_name: "Johnson".into(),
                        email: Some("katherine.johnson@example.org".into()),
                        phone: None,
                        answers: Default::default(),
                        form: None,
                    },
                    ticket: Ticket {
                        id: TicketId::new(now(), &mut rand::thread_rng()),
                        attendee_id: attendee,
                        ticket_type_id: ticket_type,
                        status: TicketStatus::Valid,
                        code: "PARKED-BADGE-7".into(),
                    },
                    form: None,
                }),
                now(),
            )
            .unwrap()
    };
    let report = client.sync_once(&store, |_| {}).await.unwrap();
    assert_eq!(report.pending_after, 0);
    let rejected: String =
        sqlx::query_scalar("select status from changes where device_id = $1 and seq = $2")
            .bind(parked.device_id.as_uuid())
            .bind(parked.seq as i64)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(rejected, "rejected", "the server parked the bad walk-in");
    // The kiosk still works with what it holds.
    let again = scan(
        &mut store.lock().unwrap(),
        codes[3].as_bytes(),
        event.gate_id,
        Direction::Entry,
        now(),
        true,
    )
    .unwrap();
    assert_eq!(again.verdict.code, VerdictCode::Admitted);

    let mut secrets: Vec<String> = Vec::new();
    for i in 1..=4 {
        secrets.push(format!("Guest{i}"));
        secrets.push(format!("guest{i}@example.org"));
    }
    secrets.extend(codes.iter().cloned());
    for s in [
        "Tester",
        "Dorothy",
        "Vaughan",
        "dorothy.vaughan@example.org",
        "7946 0958",
        "Katherine",
        "Johnson",
        "katherine.johnson@example.org",
        "PARKED-BADGE-7",
    ] {
        secrets.push(s.to_owned());
    }
    secrets.push(walk_in.ticket.code.clone());

    // While the kiosk runs: the WAL holds the day's pages.
    let open = files(&dir);
    assert!(
        open.iter()
            .any(|(name, bytes)| name == "kiosk.db-wal" && !bytes.is_empty()),
        "the store runs with a write-ahead log"
    );
    assert_absent(&open, &secrets);
    // Sanity: the search does find what is meant to be plain (the event's name).
    assert!(
        open.iter()
            .any(|(_, bytes)| bytes.windows(11).any(|w| w == b"System test")),
        "the event's name is plain, so the search finds plain text"
    );
    drop(store);
    assert_absent(&files(&dir), &secrets);
    let _ = std::fs::remove_dir_all(&dir);
    drop(server);
    db.drop_db().await;
}
