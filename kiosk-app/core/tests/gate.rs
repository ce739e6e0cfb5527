//! Scanning at a gate: every verdict path against a real store, and the outbox it leaves; and
//! annulling a check-in (a turnstile that did not turn).

mod support;

use kiosk_core::gate::{ANNUL_WINDOW_MS, GateError, annul, scan};
use kiosk_core::store::{CheckInsAtUnlock, Identity, KioskStore, StoreError};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use support::{Fixture, PIN, T};
use sync_protocol::certificate::DeviceCertificate;
use sync_protocol::changes::{Change, ChangeBody, CheckIn, FoundBy};
use sync_protocol::crypto::{KdfParams, SecretKey, Signed};
use sync_protocol::hlc::Hlc;
use sync_protocol::ids::{ChangeId, CheckInId, DeviceId, GateId, TicketId, TicketTypeId};
use sync_protocol::model::{Direction, Gate, TicketType};
use sync_protocol::ticket_code::{CodeClaims, issue_device_code};
use sync_protocol::verdict::VerdictCode;
use sync_protocol::wire::{Cursor, PullItem};

/// An enrolled kiosk holding the fixture's package, plus a second kiosk's certificate in it.
fn enrolled(f: &mut Fixture, other_kiosk: &SecretKey, other_id: DeviceId) -> KioskStore {
    let rng = &mut ChaCha20Rng::seed_from_u64(11);
    let me = DeviceId::new(T, rng);
    let my_key = SecretKey::generate(rng);
    let (event_id, server_key) = (f.event_id(), f.key.clone());
    let certify = |device_id, key: &SecretKey| {
        Signed::sign(
            &DeviceCertificate {
                device_id,
                event_id,
                public_key: key.public_key(),
                label: "kiosk".into(),
                gate_id: None,
                issued_at: T,
            },
            &server_key,
        )
    };
    f.snapshot.certificates = vec![certify(me, &my_key), certify(other_id, other_kiosk)];
    f.snapshot.normalize();
    let mut store = KioskStore::create(&f.path(), PIN, KdfParams::FOR_TESTS).unwrap();
    store
        .save_identity(
            &Identity {
                device_id: me,
                event_id: f.event_id(),
                server_url: "http://127.0.0.1:9".into(),
                server_key: f.key.public_key(),
                gate_id: None,
                certificate: certify(me, &my_key),
                badge_certificate: None,
            },
            "device-token",
            &my_key,
        )
        .unwrap();
    store
        .apply_package(
            &f.package(&f.snapshot, 1),
            &f.key.public_key(),
            f.event_id(),
        )
        .unwrap();
    store
}

#[test]
fn every_path_gives_its_verdict_and_leaves_one_outbox_row() {
    let mut f = Fixture::new("gate");
    let rng = &mut ChaCha20Rng::seed_from_u64(12);
    let other_key = SecretKey::generate(rng);
    let other_id = DeviceId::new(T, rng);
    let mut store = enrolled(&mut f, &other_key, other_id);
    let gate = f.snapshot.gates[0].id;
    let signed = f
        .snapshot
        .tickets
        .iter()
        .find(|t| t.code.starts_with("GP1:"))
        .unwrap()
        .clone();
    let opaque = f
        .snapshot
        .tickets
        .iter()
        .find(|t| !t.code.starts_with("GP1:"))
        .unwrap()
        .clone();
    let at = |minutes: u64| T.plus_millis(minutes * 60_000);

    let mut expect = |payload: &[u8], direction, minute, code: VerdictCode| {
        let result = scan(&mut store, payload, gate, direction, at(minute), true).unwrap();
        assert_eq!(
            result.verdict.code,
            code,
            "{}: {}",
            String::from_utf8_lossy(payload),
            result.verdict.reason
        );
        result
    };
    let first = expect(
        opaque.code.as_bytes(),
        Direction::Entry,
        1,
        VerdictCode::Admitted,
    );
    assert!(first.attendee_name.is_some());
    let again = expect(
        opaque.code.as_bytes(),
        Direction::Entry,
        2,
        VerdictCode::AlreadyUsed,
    );
    // Venue time (Europe/Berlin, summer: UTC+2), not UTC: admitted at 14:14 UTC.
    assert!(
        again.verdict.reason.contains("16:14"),
        "{}",
        again.verdict.reason
    );
    expect(
        opaque.code.as_bytes(),
        Direction::Exit,
        3,
        VerdictCode::Admitted,
    );
    expect(
        opaque.code.as_bytes(),
        Direction::Entry,
        4,
        VerdictCode::Admitted,
    );
    expect(
        signed.code.as_bytes(),
        Direction::Entry,
        5,
        VerdictCode::Admitted,
    );
    expect(b"NO-SUCH-TICKET", Direction::Entry, 6, VerdictCode::Unknown);
    expect(
        &[0xff, 0xfe, 0x00],
        Direction::Entry,
        7,
        VerdictCode::Unknown,
    );

    // A walk-in badge signed by the other kiosk, sold after this kiosk's package: admitted offline.
    let walk_in = TicketId::new(T, rng);
    let claims = CodeClaims {
        ticket_id: walk_in,
        ticket_type_id: f.snapshot.ticket_types[0].id,
        valid_from: None,
        valid_until: None,
    };
    let badge = issue_device_code(f.event_id(), other_id, &claims, &other_key).unwrap();
    let result = expect(
        badge.as_str().as_bytes(),
        Direction::Entry,
        8,
        VerdictCode::Admitted,
    );
    assert_eq!(result.ticket_id, Some(walk_in));
    assert_eq!(
        result.attendee_name, None,
        "offline, only the code is known"
    );
    // The same badge forged by a kiosk the package does not know.
    let stranger = SecretKey::generate(rng);
    let forged = issue_device_code(f.event_id(), other_id, &claims, &stranger).unwrap();
    expect(
        forged.as_str().as_bytes(),
        Direction::Entry,
        9,
        VerdictCode::BadSignature,
    );

    // One outbox row per scan, dense seqs, payloads that parse as their kinds.
    let pending = store.pending_changes(100).unwrap();
    assert_eq!(
        pending.iter().map(|c| c.seq).collect::<Vec<_>>(),
        (1..=9).collect::<Vec<_>>()
    );
    let kinds: Vec<&str> = pending
        .iter()
        .map(|c| match c.body().unwrap() {
            ChangeBody::CheckIn(_) => "check_in",
            ChangeBody::FailedScan(_) => "failed_scan",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "check_in",
            "failed_scan",
            "check_in",
            "check_in",
            "check_in",
            "failed_scan",
            "failed_scan",
            "check_in",
            "failed_scan"
        ]
    );
    assert!(
        pending.windows(2).all(|w| w[0].hlc < w[1].hlc),
        "stamps increase"
    );
    assert_eq!(store.outbox_counts().unwrap(), (9, 0, 0));

    // The check-ins survive a restart: the second entry after re-opening is still judged on them.
    drop(store);
    let mut store = KioskStore::unlock(&f.path(), PIN).unwrap();
    let again = scan(
        &mut store,
        signed.code.as_bytes(),
        gate,
        Direction::Entry,
        at(10),
        true,
    )
    .unwrap();
    assert_eq!(again.verdict.code, VerdictCode::AlreadyUsed);
    assert_eq!(again.seq, 10);
}

#[test]
fn a_kiosk_annuls_only_its_own_recent_check_in_and_only_once() {
    let mut f = Fixture::new("annul");
    let rng = &mut ChaCha20Rng::seed_from_u64(13);
    let other_key = SecretKey::generate(rng);
    let other_id = DeviceId::new(T, rng);
    let mut store = enrolled(&mut f, &other_key, other_id);
    let gate = f.snapshot.gates[0].id;
    let tickets: Vec<_> = f
        .snapshot
        .tickets
        .iter()
        .filter(|t| !t.code.starts_with("GP1:"))
        .cloned()
        .collect();
    let at = |minutes: u64| T.plus_millis(minutes * 60_000);

    // A scan that admits names its check-in; a failed scan names none.
    let admitted = scan(
        &mut store,
        tickets[0].code.as_bytes(),
        gate,
        Direction::Entry,
        at(1),
        true,
    )
    .unwrap();
    assert_eq!(admitted.verdict.code, VerdictCode::Admitted);
    let check_in = admitted
        .check_in_id
        .expect("an admission records a check-in");
    let failed = scan(&mut store, b"NO-SUCH", gate, Direction::Entry, at(1), true).unwrap();
    assert_eq!(failed.check_in_id, None);
    let recorded = store.pending_changes(10).unwrap();
    assert!(
        matches!(recorded[0].body().unwrap(), ChangeBody::CheckIn(c) if c.id == check_in),
        "the id is the recorded check-in's"
    );

    // Too late, unknown, another kiosk's: refused, nothing recorded.
    let too_late = annul(&mut store, check_in, at(1).plus_millis(ANNUL_WINDOW_MS + 1));
    assert!(
        matches!(too_late, Err(GateError::AnnulTooLate(id)) if id == check_in),
        "{too_late:?}"
    );
    let stranger = CheckInId::new(at(1), rng);
    let unknown = annul(&mut store, stranger, at(1));
    assert!(
        matches!(unknown, Err(GateError::UnknownCheckIn(id)) if id == stranger),
        "{unknown:?}"
    );
    let theirs = CheckInId::new(at(1), rng);
    let body = ChangeBody::CheckIn(CheckIn {
        id: theirs,
        ticket_id: tickets[1].id,
        gate_id: gate,
        direction: Direction::Entry,
        verdict: VerdictCode::Admitted,
        offline: false,
        scanned_at: at(1),
        found_by: FoundBy::Code,
    });
    let change = Change::new(
        ChangeId::new(at(1), rng),
        other_id,
        1,
        Hlc::new(at(1).as_u64(), 0),
        1,
        &body,
    );
    let position = Cursor { tx: 1, pos: 1 };
    store
        .apply_pull_page(&[PullItem::DeviceChange { position, change }], position)
        .unwrap();
    let other = annul(&mut store, theirs, at(1));
    assert!(
        matches!(other, Err(GateError::OtherKiosksCheckIn(id)) if id == theirs),
        "{other:?}"
    );
    assert_eq!(store.outbox_counts().unwrap(), (2, 0, 0));

    // Its own, at the very end of the window: annulled, with an outbox row for the server.
    let annulled = annul(&mut store, check_in, at(1).plus_millis(ANNUL_WINDOW_MS)).unwrap();
    assert_eq!(annulled.check_in_id, check_in);
    assert_eq!(annulled.ticket_id, tickets[0].id);
    assert_eq!(annulled.seq, 3);
    let pending = store.pending_changes(10).unwrap();
    match pending[2].body().unwrap() {
        ChangeBody::CheckInAnnulment(a) => {
            assert_eq!((a.check_in_id, a.ticket_id), (check_in, tickets[0].id));
            assert!(!a.reason.is_empty());
        }
        other => panic!("expected an annulment, got {other:?}"),
    }

    // Twice: refused.
    let twice = annul(&mut store, check_in, at(3));
    assert!(
        matches!(twice, Err(GateError::AlreadyAnnulled(id)) if id == check_in),
        "{twice:?}"
    );
    assert_eq!(store.outbox_counts().unwrap(), (3, 0, 0));

    // The annulled check-in no longer counts: the ticket admits again.
    let again = scan(
        &mut store,
        tickets[0].code.as_bytes(),
        gate,
        Direction::Entry,
        at(4),
        true,
    )
    .unwrap();
    assert_eq!(
        again.verdict.code,
        VerdictCode::Admitted,
        "{}",
        again.verdict.reason
    );
}

#[test]
fn a_damaged_outbox_row_goes_out_as_a_placeholder_and_blocks_nothing() {
    let mut f = Fixture::new("damaged-outbox");
    let rng = &mut ChaCha20Rng::seed_from_u64(17);
    let other_key = SecretKey::generate(rng);
    let mut store = enrolled(&mut f, &other_key, DeviceId::new(T, rng));
    let gate = f.snapshot.gates[0].id;
    for (i, code) in [b"ONE".as_slice(), b"TWO", b"THREE"]
        .into_iter()
        .enumerate()
    {
        scan(
            &mut store,
            code,
            gate,
            Direction::Entry,
            T.plus_millis(i as u64),
            true,
        )
        .unwrap();
    }
    let before = store.pending_changes(10).unwrap();
    drop(store);
    {
        // The disk flips bytes in the second row's sealed payload.
        let conn = rusqlite::Connection::open(f.path()).unwrap();
        conn.execute("update outbox set sealed = x'00010203' where seq = 2", [])
            .unwrap();
    }
    let store = KioskStore::unlock(&f.path(), PIN).unwrap();
    let pending = store.pending_changes(10).unwrap();
    assert_eq!(
        pending.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [1, 2, 3],
        "the seq stays dense"
    );
    assert_eq!(pending[0], before[0]);
    assert_eq!(pending[2], before[2]);
    assert_eq!(pending[1].kind, kiosk_core::store::DAMAGED_KIND);
    assert!(
        pending[1].body().is_err(),
        "no server accepts it: it is parked there, and the rows after it go on"
    );
    assert!(
        pending[1].payload["reason"]
            .as_str()
            .unwrap()
            .contains("outbox")
    );
}

/// A full snapshot (a refetch, or a package file from a USB stick) is a picture as of its
/// cursor: what was pulled after it comes back on the next pull, and this kiosk's own walk-ins
/// keep their names.
#[test]
fn a_full_package_forgets_nothing_pulled_after_it_nor_this_kiosks_walk_ins() {
    let mut f = Fixture::new("snapshot-keeps");
    let rng = &mut ChaCha20Rng::seed_from_u64(19);
    let other_key = SecretKey::generate(rng);
    let other_id = DeviceId::new(T, rng);
    let mut store = enrolled(&mut f, &other_key, other_id);
    let gate = f.snapshot.gates[0].id;
    let ticket = f.snapshot.tickets[0].clone();

    // Pulled after the package: the office canceled a ticket; another gate admitted one.
    let hlc = Hlc::new(T.as_u64(), 0);
    let check_in = ChangeBody::CheckIn(CheckIn {
        id: CheckInId::new(T, rng),
        ticket_id: f.snapshot.tickets[1].id,
        gate_id: gate,
        direction: Direction::Entry,
        verdict: VerdictCode::Admitted,
        offline: false,
        scanned_at: T,
        found_by: FoundBy::Code,
    });
    let page = [
        PullItem::TicketStatus {
            position: Cursor { tx: 5, pos: 1 },
            ticket_id: ticket.id,
            status: sync_protocol::model::TicketStatus::Canceled,
            hlc,
        },
        PullItem::DeviceChange {
            position: Cursor { tx: 5, pos: 2 },
            change: Change::new(ChangeId::new(T, rng), other_id, 1, hlc, 1, &check_in),
        },
    ];
    let after = Cursor { tx: 5, pos: 2 };
    store.apply_pull_page(&page, after).unwrap();
    // A walk-in registered here, not yet in any package.
    let walk_in = kiosk_core::walkin::register(
        &mut store,
        kiosk_core::walkin::WalkInRequest {
            first_name: "Katherine".into(),
            last_name: "Johnson".into(),
            ..Default::default()
        },
        T.plus_millis(10),
    )
    .unwrap();
    let canceled = |store: &KioskStore| {
        store.ticket_by_id(ticket.id).unwrap().unwrap().status
            == sync_protocol::model::TicketStatus::Canceled
    };
    assert!(canceled(&store));

    // The same picture again as version 2 (built before those items): the pull goes back to it.
    store
        .apply_package(
            &f.package(&f.snapshot, 2),
            &f.key.public_key(),
            f.event_id(),
        )
        .unwrap();
    assert_eq!(
        store.cursor().unwrap(),
        Cursor::START,
        "the next pull starts at the package"
    );
    let named = store
        .attendee(walk_in.attendee.id)
        .unwrap()
        .expect("the walk-in is still here");
    assert_eq!(named.first_name, "Katherine");
    let badge = scan(
        &mut store,
        walk_in.ticket.code.as_bytes(),
        gate,
        Direction::Entry,
        T.plus_millis(20),
        true,
    )
    .unwrap();
    assert_eq!(badge.attendee_name.as_deref(), Some("Katherine Johnson"));

    // The next pull brings the items again; applying them twice changes nothing.
    for _ in 0..2 {
        store.apply_pull_page(&page, after).unwrap();
        assert!(canceled(&store));
        assert_eq!(
            store.check_ins_of(f.snapshot.tickets[1].id).unwrap().len(),
            1
        );
    }
}

/// The server's reason for a parked change can quote a name: it is kept sealed, never in plain
/// text in the file, and a reason an older kiosk stored in plain text is sealed at the next unlock.
#[test]
fn reasons_of_parked_changes_are_sealed() {
    use sync_protocol::wire::{ChangeResult, ChangeStatus, RejectCode};
    let mut f = Fixture::new("sealed-reasons");
    let rng = &mut ChaCha20Rng::seed_from_u64(14);
    let other_key = SecretKey::generate(rng);
    let other_id = DeviceId::new(T, rng);
    let mut store = enrolled(&mut f, &other_key, other_id);
    let gate = f.snapshot.gates[0].id;
    for (i, ticket) in f.snapshot.tickets.iter().take(2).enumerate() {
        scan(
            &mut store,
            ticket.code.as_bytes(),
            gate,
            Direction::Entry,
            T.plus_millis(i as u64),
            true,
        )
        .unwrap();
    }
    let reason = |name: &str| format!("the walk-in of {name} is beyond the limits");
    store
        .record_push_results(
            &[
                ChangeResult {
                    seq: 1,
                    status: ChangeStatus::Rejected {
                        code: RejectCode::InvalidPayload,
                        message: reason("Zebulon Quirinius"),
                    },
                    clock_ahead_ms: None,
                },
                ChangeResult {
                    seq: 2,
                    status: ChangeStatus::Accepted,
                    clock_ahead_ms: None,
                },
            ],
            2,
        )
        .unwrap();
    let parked = store.parked_changes().unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].3, reason("Zebulon Quirinius"));
    drop(store);
    let raw = f.raw_bytes();
    let contains = |needle: &str| raw.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(!contains("Quirinius"), "the reason is not in the file");

    // As an older kiosk stored it: in plain text.
    {
        let conn = rusqlite::Connection::open(f.path()).unwrap();
        conn.execute(
            "update outbox set reject_sealed = null, reject_message = ?1 where seq = 1",
            [reason("Xanthippe Ottoline")],
        )
        .unwrap();
    }
    let store = KioskStore::unlock(&f.path(), PIN).unwrap();
    assert_eq!(
        store.parked_changes().unwrap()[0].3,
        reason("Xanthippe Ottoline")
    );
    drop(store);
    let conn = rusqlite::Connection::open(f.path()).unwrap();
    let plain: Option<String> = conn
        .query_row("select reject_message from outbox where seq = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(plain, None, "sealed at unlock, the text cleared");
}

/// Someone with the file but not the PIN tries to let badges in twice: an edited check-in (an
/// admission made annulled) is refused as damaged for its ticket alone; removed check-ins are
/// found at unlock, this kiosk's own put back from its outbox, the other kiosks' pulled again.
#[test]
fn check_ins_edited_or_removed_in_the_file_let_no_badge_in_twice() {
    let mut f = Fixture::new("check-in-tamper");
    let rng = &mut ChaCha20Rng::seed_from_u64(23);
    let other_key = SecretKey::generate(rng);
    let other_id = DeviceId::new(T, rng);
    let mut store = enrolled(&mut f, &other_key, other_id);
    let gate = f.snapshot.gates[0].id;
    let [pulled, edited, removed] = [0, 1, 2].map(|i| f.snapshot.tickets[i].clone());
    let entry = |store: &mut KioskStore, code: &str, minutes: u64| {
        scan(
            store,
            code.as_bytes(),
            gate,
            Direction::Entry,
            T.plus_millis(minutes * 60_000),
            true,
        )
    };
    for ticket in [&edited, &removed] {
        let first = entry(&mut store, &ticket.code, 1).unwrap();
        assert_eq!(first.verdict.code, VerdictCode::Admitted);
    }
    // Another gate admitted the third ticket: pulled from the server.
    let hlc = Hlc::new(T.as_u64(), 0);
    let check_in = ChangeBody::CheckIn(CheckIn {
        id: CheckInId::new(T, rng),
        ticket_id: pulled.id,
        gate_id: gate,
        direction: Direction::Entry,
        verdict: VerdictCode::Admitted,
        offline: false,
        scanned_at: T,
        found_by: FoundBy::Code,
    });
    let page = [PullItem::DeviceChange {
        position: Cursor { tx: 5, pos: 1 },
        change: Change::new(ChangeId::new(T, rng), other_id, 1, hlc, 1, &check_in),
    }];
    store
        .apply_pull_page(&page, Cursor { tx: 5, pos: 1 })
        .unwrap();
    assert!(
        !entry(&mut store, &pulled.code, 2)
            .unwrap()
            .verdict
            .code
            .admits()
    );
    drop(store);
    let tamper = |sql: String| {
        rusqlite::Connection::open(f.path())
            .unwrap()
            .execute_batch(&sql)
            .unwrap()
    };
    let id = |t: &sync_protocol::model::Ticket| {
        t.id.to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };

    // Edited: the admission marked annulled.
    tamper(format!(
        "update check_ins set annulled = 1 where ticket_id = x'{}'",
        id(&edited)
    ));
    let mut store = KioskStore::unlock(&f.path(), PIN).unwrap();
    assert_eq!(store.check_ins_at_unlock(), CheckInsAtUnlock::Whole);
    assert!(matches!(
        entry(&mut store, &edited.code, 3),
        Err(GateError::Store(StoreError::DamagedRow {
            table: "check_ins",
            ..
        }))
    ));
    // The other tickets are judged as before.
    assert!(
        !entry(&mut store, &removed.code, 3)
            .unwrap()
            .verdict
            .code
            .admits()
    );
    drop(store);

    // Removed: this kiosk's own check-in comes back from the outbox at once.
    tamper(format!(
        "delete from check_ins where ticket_id = x'{}'",
        id(&removed)
    ));
    let mut store = KioskStore::unlock(&f.path(), PIN).unwrap();
    assert_eq!(
        store.check_ins_at_unlock(),
        CheckInsAtUnlock::Restored {
            missing: Some(1),
            restored: 1
        }
    );
    assert!(
        !entry(&mut store, &removed.code, 4)
            .unwrap()
            .verdict
            .code
            .admits()
    );
    drop(store);

    // Removed: another kiosk's check-in comes back with the next pull, from the feed's start.
    tamper(format!(
        "delete from check_ins where ticket_id = x'{}'",
        id(&pulled)
    ));
    let mut store = KioskStore::unlock(&f.path(), PIN).unwrap();
    assert_eq!(
        store.check_ins_at_unlock(),
        CheckInsAtUnlock::Restored {
            missing: Some(1),
            restored: 0
        }
    );
    assert_eq!(store.cursor().unwrap(), Cursor::START);
    store
        .apply_pull_page(&page, Cursor { tx: 5, pos: 1 })
        .unwrap();
    assert!(
        !entry(&mut store, &pulled.code, 5)
            .unwrap()
            .verdict
            .code
            .admits()
    );
    drop(store);
    let store = KioskStore::unlock(&f.path(), PIN).unwrap();
    assert_eq!(store.check_ins_at_unlock(), CheckInsAtUnlock::Whole);
}

/// The file does not show which tickets were scanned here, nor when: the outbox's envelope (a
/// check-in's entity is its ticket) and the check-ins' times are sealed.
#[test]
fn the_file_shows_no_scanned_ticket_and_no_time() {
    let mut f = Fixture::new("no-timeline");
    let rng = &mut ChaCha20Rng::seed_from_u64(29);
    let other_key = SecretKey::generate(rng);
    let other_id = DeviceId::new(T, rng);
    let mut store = enrolled(&mut f, &other_key, other_id);
    let gate = f.snapshot.gates[0].id;
    for (minutes, ticket) in f.snapshot.tickets.iter().enumerate() {
        let scanned_at = T.plus_millis(minutes as u64 * 60_000);
        let result = scan(
            &mut store,
            ticket.code.as_bytes(),
            gate,
            Direction::Entry,
            scanned_at,
            true,
        )
        .unwrap();
        assert_eq!(result.verdict.code, VerdictCode::Admitted);
    }
    drop(store);
    let raw = f.raw_bytes();
    let contains = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    for ticket in &f.snapshot.tickets {
        assert!(
            !contains(ticket.id.to_string().as_bytes()),
            "ticket {} named in the file",
            ticket.id
        );
    }
    let conn = rusqlite::Connection::open(f.path()).unwrap();
    let plain_times: i64 = conn
        .query_row(
            "select (select count(*) from check_ins where hlc <> 0)
                  + (select count(*) from outbox where hlc <> 0 or created_at <> 0)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(plain_times, 0);
    // Sanity: the check-ins are there, with what counting needs in plain.
    let admitted: i64 = conn
        .query_row(
            "select count(*) from check_ins where admitted = 1 and direction = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(admitted, f.snapshot.tickets.len() as i64);
}

/// A gate or ticket type edited in the file (with the file but not the PIN) is refused alone: scans
/// at that gate, or of tickets of that type, answer the damage; the other gates and types go on
/// admitting; the next full package puts it right.
#[test]
fn an_edited_gate_or_ticket_type_is_refused_alone() {
    let mut f = Fixture::new("rule-row-tamper");
    let rng = &mut ChaCha20Rng::seed_from_u64(31);
    let (north, day) = (
        f.snapshot.gates[0].clone(),
        f.snapshot.ticket_types[0].clone(),
    );
    let south = Gate {
        id: GateId::new(T, rng),
        name: "South".into(),
        ..north.clone()
    };
    let evening = TicketType {
        id: TicketTypeId::new(T, rng),
        name: "Evening".into(),
        ..day.clone()
    };
    f.snapshot.gates.push(south.clone());
    f.snapshot.ticket_types.push(evening.clone());
    f.snapshot.tickets[2].ticket_type_id = evening.id;
    let other_key = SecretKey::generate(rng);
    let mut store = enrolled(&mut f, &other_key, DeviceId::new(T, rng));
    drop(store);
    let tickets = f.snapshot.tickets.clone();
    let entry = |store: &mut KioskStore, code: &str, gate: GateId, minutes: u64| {
        scan(
            store,
            code.as_bytes(),
            gate,
            Direction::Entry,
            T.plus_millis(minutes * 60_000),
            true,
        )
    };
    let tamper = |sql: String| {
        rusqlite::Connection::open(f.path())
            .unwrap()
            .execute_batch(&sql)
            .unwrap()
    };
    let damaged = |result: Result<_, GateError>, what: &str| match result {
        Err(GateError::Store(StoreError::DamagedRule { item, .. })) => assert_eq!(item, what),
        other => panic!("a damaged {what} was read: {other:?}"),
    };

    // North is made to let every ticket type in: it refuses; South admits.
    tamper(format!(
        "update gates set body = replace(body, 'North', 'Every door') where id = x'{}'",
        hex(&north.id.to_bytes())
    ));
    store = KioskStore::unlock(&f.path(), PIN).unwrap();
    damaged(entry(&mut store, &tickets[1].code, north.id, 1), "gate");
    assert_eq!(store.gates().unwrap(), vec![south.clone()]);
    let admitted = entry(&mut store, &tickets[1].code, south.id, 2).unwrap();
    assert_eq!(admitted.verdict.code, VerdictCode::Admitted);

    // The evening type loses its tag: its tickets are refused, day passes still admit.
    tamper(format!(
        "update ticket_types set tag = null where id = x'{}'",
        hex(&evening.id.to_bytes())
    ));
    drop(store);
    store = KioskStore::unlock(&f.path(), PIN).unwrap();
    damaged(
        entry(&mut store, &tickets[2].code, south.id, 3),
        "ticket type",
    );
    assert_eq!(store.ticket_types().unwrap(), vec![day.clone()]);
    let admitted = entry(&mut store, &tickets[0].code, south.id, 4).unwrap();
    assert_eq!(admitted.verdict.code, VerdictCode::Admitted);

    // The next full package is the way back.
    store
        .apply_package(
            &f.package(&f.snapshot, 2),
            &f.key.public_key(),
            f.event_id(),
        )
        .unwrap();
    let mut gates = vec![north.clone(), south];
    gates.sort_by_key(|g| g.id.to_bytes());
    let mut got = store.gates().unwrap();
    got.sort_by_key(|g| g.id.to_bytes());
    assert_eq!(got, gates);
    let admitted = entry(&mut store, &tickets[2].code, north.id, 5).unwrap();
    assert_eq!(admitted.verdict.code, VerdictCode::Admitted);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A print pulled from another kiosk's log marks the badge printed here: a first-badge gate
/// admits that guest without printing, and another guest's first admission still prints.
#[test]
fn a_pulled_print_keeps_a_first_badge_gate_from_printing_it_again() {
    use sync_protocol::changes::BadgePrint;
    use sync_protocol::model::BadgePrinting;
    let mut f = Fixture::new("pulled-print");
    f.snapshot.gates[0].print_badge = BadgePrinting::First;
    let rng = &mut ChaCha20Rng::seed_from_u64(41);
    let other_key = SecretKey::generate(rng);
    let other_id = DeviceId::new(T, rng);
    let mut store = enrolled(&mut f, &other_key, other_id);
    let gate = f.snapshot.gates[0].id;
    let (printed, fresh) = (f.snapshot.tickets[1].clone(), f.snapshot.tickets[2].clone());
    assert!(!store.badge_printed(printed.id).unwrap());

    let print = ChangeBody::BadgePrint(BadgePrint {
        ticket_id: printed.id,
        gate_id: gate,
        check_in_id: None,
        reprint: false,
        printed_at: T,
    });
    let hlc = Hlc::new(T.as_u64(), 0);
    let page = [PullItem::DeviceChange {
        position: Cursor { tx: 3, pos: 1 },
        change: Change::new(ChangeId::new(T, rng), other_id, 1, hlc, 1, &print),
    }];
    store
        .apply_pull_page(&page, Cursor { tx: 3, pos: 1 })
        .unwrap();
    assert!(store.badge_printed(printed.id).unwrap());

    let at = T.plus_millis(60_000);
    let result = scan(
        &mut store,
        printed.code.as_bytes(),
        gate,
        Direction::Entry,
        at,
        true,
    )
    .unwrap();
    assert_eq!(result.verdict.code, VerdictCode::Admitted);
    assert!(!result.print_badge);
    let result = scan(
        &mut store,
        fresh.code.as_bytes(),
        gate,
        Direction::Entry,
        at,
        true,
    )
    .unwrap();
    assert!(result.print_badge);
    assert!(store.badge_printed(fresh.id).unwrap());
    // The admission and its print, one outbox row each.
    let kinds: Vec<String> = store
        .pending_changes(10)
        .unwrap()
        .iter()
        .map(|c| c.kind.clone())
        .collect();
    assert_eq!(kinds, ["check_in", "check_in", "badge_print"]);
}
