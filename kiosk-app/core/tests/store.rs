//! The encrypted store on a real SQLite file: PIN, package import, lookups, and what a copied
//! file reveals (nothing).

mod support;

use kiosk_core::store::{KioskStore, StoreError};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use support::{Fixture, PIN, T};
use sync_protocol::crypto::{KdfParams, SecretKey};
use sync_protocol::ids::TicketId;
use sync_protocol::model::TicketStatus;
use sync_protocol::package::{PackageBody, PackageMeta, diff, seal_package};
use sync_protocol::ticket_code::TicketCode;
use sync_protocol::wire::Cursor;

/// A new store at the fixture's path holding the fixture's package.
fn store_with_package(f: &Fixture) -> KioskStore {
    let mut store = KioskStore::create(&f.path(), PIN, KdfParams::FOR_TESTS).unwrap();
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
fn the_pin_protects_the_store_and_a_wrong_pin_destroys_nothing() {
    let f = Fixture::new("pin");
    drop(store_with_package(&f));

    assert!(matches!(
        KioskStore::unlock(&f.path(), "0000"),
        Err(StoreError::WrongPin)
    ));
    let store = KioskStore::unlock(&f.path(), PIN).unwrap();
    assert_eq!(store.ticket_count().unwrap(), 3);
    drop(store);

    assert!(matches!(
        KioskStore::create(&f.path(), PIN, KdfParams::FOR_TESTS),
        Err(StoreError::AlreadySetUp(_))
    ));
    assert!(matches!(
        KioskStore::unlock(&f.dir.join("missing.db"), PIN),
        Err(StoreError::NotSetUp(_))
    ));

    let mut store = KioskStore::unlock(&f.path(), PIN).unwrap();
    assert!(matches!(
        store.change_pin("9999", "12345678", KdfParams::FOR_TESTS),
        Err(StoreError::WrongPin)
    ));
    assert!(matches!(
        store.change_pin(PIN, "1234567", KdfParams::FOR_TESTS),
        Err(StoreError::BadPin { min: 8 })
    ));
    store
        .change_pin(PIN, "12345678", KdfParams::FOR_TESTS)
        .unwrap();
    drop(store);
    assert!(matches!(
        KioskStore::unlock(&f.path(), PIN),
        Err(StoreError::WrongPin)
    ));
    let store = KioskStore::unlock(&f.path(), "12345678").unwrap();
    assert_eq!(store.ticket_count().unwrap(), 3, "a new PIN keeps the data");
}

#[test]
fn tickets_are_found_by_their_code_and_people_opened_on_demand() {
    let f = Fixture::new("lookup");
    let mut store = KioskStore::create(&f.path(), PIN, KdfParams::FOR_TESTS).unwrap();
    let manifest = store
        .apply_package(
            &f.package(&f.snapshot, 1),
            &f.key.public_key(),
            f.event_id(),
        )
        .unwrap();
    assert_eq!(manifest.version, 1);
    assert_eq!(store.package_version().unwrap(), Some(1));

    for ticket in &f.snapshot.tickets {
        let code = TicketCode::parse(&ticket.code).unwrap();
        let found = store
            .ticket_by_code(&code)
            .unwrap()
            .expect("ticket found by its code");
        assert_eq!(found.id, ticket.id);
        assert_eq!(found.code, code.as_str());
        assert_eq!(store.ticket_by_id(ticket.id).unwrap(), Some(found.clone()));
        let attendee = store.attendee(found.attendee_id).unwrap().unwrap();
        let expected = f
            .snapshot
            .attendees
            .iter()
            .find(|a| a.id == ticket.attendee_id)
            .unwrap();
        assert_eq!(&attendee, expected);
    }
    // Scanner input with stray whitespace still finds the ticket.
    let code = TicketCode::parse("  SECRET-CODE-1 \r\n").unwrap();
    assert!(store.ticket_by_code(&code).unwrap().is_some());
    let unknown = TicketCode::parse("NOT-A-TICKET").unwrap();
    assert_eq!(store.ticket_by_code(&unknown).unwrap(), None);
}

#[test]
fn a_copied_file_without_the_pin_reveals_no_name_email_or_code() {
    let f = Fixture::new("raw");
    let mut store = KioskStore::create(&f.path(), PIN, KdfParams::FOR_TESTS).unwrap();
    store
        .apply_package(
            &f.package(&f.snapshot, 1),
            &f.key.public_key(),
            f.event_id(),
        )
        .unwrap();
    drop(store); // closes the connection; the WAL is checkpointed into the file

    let raw = f.raw_bytes();
    let contains = |needle: &str| raw.windows(needle.len()).any(|w| w == needle.as_bytes());
    for attendee in &f.snapshot.attendees {
        assert!(
            !contains(&attendee.first_name),
            "{} in the file",
            attendee.first_name
        );
        assert!(
            !contains(&attendee.last_name),
            "{} in the file",
            attendee.last_name
        );
        assert!(!contains(attendee.email.as_deref().unwrap()));
    }
    assert!(!contains("+49 30 1234567"));
    for ticket in &f.snapshot.tickets {
        assert!(!contains(&ticket.code), "a ticket code is in the file");
    }
    assert!(
        contains("Harbour Days"),
        "non-personal event data stays readable (sanity check)"
    );
}

#[test]
fn a_swapped_or_damaged_row_is_an_error_for_that_row_only() {
    let f = Fixture::new("tamper");
    drop(store_with_package(&f));

    // An attacker with the file swaps the sealed codes of two tickets.
    let [a, b, c] = [0, 1, 2].map(|i| f.snapshot.tickets[i].id);
    {
        let conn = rusqlite::Connection::open(f.path()).unwrap();
        let sealed = |id: TicketId| -> Vec<u8> {
            conn.query_row(
                "select sealed from tickets where id = ?1",
                [id.to_bytes()],
                |r| r.get(0),
            )
            .unwrap()
        };
        let (sa, sb) = (sealed(a), sealed(b));
        conn.execute(
            "update tickets set sealed = ?2 where id = ?1",
            rusqlite::params![a.to_bytes(), sb],
        )
        .unwrap();
        conn.execute(
            "update tickets set sealed = ?2 where id = ?1",
            rusqlite::params![b.to_bytes(), sa],
        )
        .unwrap();
    }
    let store = KioskStore::unlock(&f.path(), PIN).unwrap();
    assert!(matches!(
        store.ticket_by_id(a),
        Err(StoreError::DamagedRow {
            table: "tickets",
            ..
        })
    ));
    assert!(matches!(
        store.ticket_by_id(b),
        Err(StoreError::DamagedRow { .. })
    ));
    assert!(
        store.ticket_by_id(c).unwrap().is_some(),
        "other rows are fine"
    );
}

#[test]
fn a_refused_package_leaves_the_store_as_it_was_and_deltas_apply() {
    let f = Fixture::new("refuse");
    let mut store = KioskStore::create(&f.path(), PIN, KdfParams::FOR_TESTS).unwrap();
    store
        .apply_package(
            &f.package(&f.snapshot, 1),
            &f.key.public_key(),
            f.event_id(),
        )
        .unwrap();

    let mut next = f.snapshot.clone();
    next.tickets[1].status = TicketStatus::Revoked;
    next.tickets.remove(2);
    next.normalize();

    // Tampered: one byte of the body flipped.
    let mut tampered = f.package(&next, 2);
    let at = tampered.body.len() / 3;
    tampered.body[at] ^= 0x20;
    assert!(matches!(
        store.apply_package(&tampered, &f.key.public_key(), f.event_id()),
        Err(StoreError::Package(_))
    ));
    // Signed by someone else.
    let impostor = SecretKey::generate(&mut ChaCha20Rng::seed_from_u64(99));
    let forged = seal_package(
        PackageMeta {
            event_id: f.event_id(),
            version: 2,
            base_version: None,
            created_at: T,
            cursor: Cursor::START,
        },
        &PackageBody::Full(next.clone()),
        &impostor,
    );
    assert!(
        store
            .apply_package(&forged, &f.key.public_key(), f.event_id())
            .is_err()
    );
    // An older version.
    assert!(
        store
            .apply_package(
                &f.package(&f.snapshot, 1),
                &f.key.public_key(),
                f.event_id()
            )
            .is_err()
    );
    assert_eq!(store.package_version().unwrap(), Some(1));
    assert_eq!(store.ticket_count().unwrap(), 3, "nothing changed");

    // The genuine delta applies.
    let delta = seal_package(
        PackageMeta {
            event_id: f.event_id(),
            version: 2,
            base_version: Some(1),
            created_at: T,
            cursor: Cursor::START,
        },
        &PackageBody::Delta(diff(&f.snapshot, &next)),
        &f.key,
    );
    store
        .apply_package(&delta, &f.key.public_key(), f.event_id())
        .unwrap();
    assert_eq!(store.package_version().unwrap(), Some(2));
    assert_eq!(store.ticket_count().unwrap(), 2);
    let revoked = store
        .ticket_by_id(
            next.tickets
                .iter()
                .find(|t| t.status == TicketStatus::Revoked)
                .unwrap()
                .id,
        )
        .unwrap()
        .unwrap();
    assert_eq!(revoked.status, TicketStatus::Revoked);
}

#[test]
fn a_pulled_item_that_breaks_a_local_rule_is_skipped_and_the_page_still_applies() {
    let f = Fixture::new("bad-pull-item");
    let mut store = KioskStore::create(&f.path(), PIN, KdfParams::FOR_TESTS).unwrap();
    store
        .apply_package(
            &f.package(&f.snapshot, 1),
            &f.key.public_key(),
            f.event_id(),
        )
        .unwrap();
    let rng = &mut ChaCha20Rng::seed_from_u64(31);
    let taken = &f.snapshot.tickets[0];
    let other = &f.snapshot.tickets[1];
    // The office issued a ticket whose code another ticket here already has (a unique index).
    let clash = sync_protocol::model::Ticket {
        id: TicketId::new(T, rng),
        code: taken.code.clone(),
        ..taken.clone()
    };
    let attendee = f.snapshot.attendees[0].clone();
    let hlc = sync_protocol::hlc::Hlc::new(T.as_u64(), 0);
    let at = |pos| Cursor { tx: 7, pos };
    let items = [
        sync_protocol::wire::PullItem::TicketIssued {
            position: at(1),
            attendee,
            ticket: clash.clone(),
            hlc,
        },
        sync_protocol::wire::PullItem::TicketStatus {
            position: at(2),
            ticket_id: other.id,
            status: TicketStatus::Canceled,
            hlc,
        },
    ];
    let applied = store.apply_pull_page(&items, at(2)).unwrap();
    assert_eq!(applied.skipped, 1);
    assert_eq!(applied.status_changes, 1);
    assert_eq!(
        store.cursor().unwrap(),
        at(2),
        "the cursor moves past the bad item"
    );
    assert_eq!(
        store.ticket_by_id(other.id).unwrap().unwrap().status,
        TicketStatus::Canceled
    );
    assert!(store.ticket_by_id(clash.id).unwrap().is_none());
    assert_eq!(
        store.ticket_by_id(taken.id).unwrap().unwrap().id,
        taken.id,
        "the ticket already here is untouched"
    );
}

#[test]
fn a_package_download_is_kept_sealed_resumes_after_a_restart_and_a_damaged_one_starts_again() {
    use sync_protocol::package::verify_manifest;
    let f = Fixture::new("download");
    let file = f.package(&f.snapshot, 1);
    let manifest =
        verify_manifest(&file.manifest, &f.key.public_key(), f.event_id(), None).unwrap();
    let third = file.body.len() / 3;
    {
        let mut store = KioskStore::create(&f.path(), PIN, KdfParams::FOR_TESTS).unwrap();
        let download = store.start_download(&file.manifest, &manifest).unwrap();
        assert_eq!(
            (download.received, download.body_len),
            (0, file.body.len() as u64)
        );
        assert_eq!(
            store.append_download(&file.body[..third]).unwrap(),
            third as u64
        );
        assert_eq!(
            store.append_download(&file.body[third..2 * third]).unwrap(),
            2 * third as u64
        );
        // Not complete: it cannot be applied yet, and nothing else changed.
        assert!(
            store
                .apply_download(&f.key.public_key(), f.event_id(), false)
                .is_err()
        );
        assert_eq!(store.package_version().unwrap(), None);
    }
    // The kept bytes are on disk, but no name, email or code is readable there.
    let raw = f.raw_bytes();
    let contains = |needle: &str| raw.windows(needle.len()).any(|w| w == needle.as_bytes());
    for attendee in &f.snapshot.attendees {
        assert!(!contains(attendee.email.as_deref().unwrap()));
        assert!(!contains(&attendee.last_name));
    }
    assert!(!contains("SECRET-CODE-1"));

    // After a restart, the same body resumes where it stopped; then it applies.
    let mut store = KioskStore::unlock(&f.path(), PIN).unwrap();
    let download = store.start_download(&file.manifest, &manifest).unwrap();
    assert_eq!(download.received, 2 * third as u64);
    let received = store.append_download(&file.body[2 * third..]).unwrap();
    assert_eq!(received, file.body.len() as u64);
    // More bytes than the signed manifest says are refused.
    assert!(store.append_download(b"x").is_err());
    let applied = store
        .apply_download(&f.key.public_key(), f.event_id(), false)
        .unwrap();
    assert_eq!(applied.version, 1);
    assert_eq!(
        store.download().unwrap(),
        None,
        "applied downloads are cleared"
    );
    let code = TicketCode::parse("SECRET-CODE-2").unwrap();
    assert!(store.ticket_by_code(&code).unwrap().is_some());

    // Version 2 downloads whole, then a chunk is damaged on disk: refused, dropped, and
    // version 1 stays.
    let mut next = f.snapshot.clone();
    next.tickets[1].status = TicketStatus::Revoked;
    let file2 = f.package(&next, 2);
    let manifest2 =
        verify_manifest(&file2.manifest, &f.key.public_key(), f.event_id(), Some(1)).unwrap();
    store.start_download(&file2.manifest, &manifest2).unwrap();
    store.append_download(&file2.body[..10]).unwrap();
    store.append_download(&file2.body[10..]).unwrap();
    {
        let raw = rusqlite::Connection::open(f.path()).unwrap();
        raw.execute(
            "update package_download set sealed = cast(sealed || x'00' as blob) where chunk = 1",
            [],
        )
        .unwrap();
    }
    assert!(matches!(
        store.apply_download(&f.key.public_key(), f.event_id(), false),
        Err(StoreError::Package(
            sync_protocol::package::PackageError::Unreadable(_)
        ))
    ));
    assert_eq!(
        store.download().unwrap(),
        None,
        "a damaged download starts again"
    );
    assert_eq!(store.package_version().unwrap(), Some(1));

    // A download of another body replaces the one under way.
    store.start_download(&file2.manifest, &manifest2).unwrap();
    store.append_download(&file2.body[..10]).unwrap();
    let file3 = f.package(&next, 3);
    let manifest3 =
        verify_manifest(&file3.manifest, &f.key.public_key(), f.event_id(), Some(1)).unwrap();
    let fresh = store.start_download(&file3.manifest, &manifest3).unwrap();
    assert_eq!((fresh.version, fresh.received), (3, 0));
}

/// The user_version SQLite keeps for the schema (the number of migrations applied).
fn schema_version(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap()
}

#[test]
fn wrong_pins_make_the_kiosk_wait_longer_each_time_even_across_restarts() {
    use kiosk_core::store::FREE_ATTEMPTS;
    use sync_protocol::UnixMillis;
    let f = Fixture::new("attempts");
    drop(KioskStore::create(&f.path(), PIN, KdfParams::FOR_TESTS).unwrap());
    let t0 = UnixMillis(1_800_000_000_000);
    // Mistypes cost nothing, and a right PIN clears them.
    for _ in 0..FREE_ATTEMPTS {
        assert!(matches!(
            KioskStore::unlock_at(&f.path(), "0000", t0),
            Err(StoreError::WrongPin)
        ));
    }
    drop(KioskStore::unlock_at(&f.path(), PIN, t0).unwrap());
    for _ in 0..FREE_ATTEMPTS {
        assert!(matches!(
            KioskStore::unlock_at(&f.path(), "0000", t0),
            Err(StoreError::WrongPin)
        ));
    }
    // One more: each open below is a new one, as after a restart of the kiosk.
    assert!(matches!(
        KioskStore::unlock_at(&f.path(), "0000", t0),
        Err(StoreError::WrongPin)
    ));
    assert!(
        matches!(
            KioskStore::unlock_at(&f.path(), PIN, t0.plus_millis(10_000)),
            Err(StoreError::TooManyAttempts { wait_secs: 20 })
        ),
        "while it waits, not even the right PIN is checked"
    );
    // After the wait, a wrong PIN makes the next wait twice as long.
    let t1 = t0.plus_millis(30_000);
    assert!(matches!(
        KioskStore::unlock_at(&f.path(), "1111", t1),
        Err(StoreError::WrongPin)
    ));
    assert!(matches!(
        KioskStore::unlock_at(&f.path(), PIN, t1.plus_millis(59_000)),
        Err(StoreError::TooManyAttempts { wait_secs: 1 })
    ));
    // The right PIN after the wait opens the store and clears the count.
    let t2 = t1.plus_millis(60_000);
    drop(KioskStore::unlock_at(&f.path(), PIN, t2).unwrap());
    assert!(matches!(
        KioskStore::unlock_at(&f.path(), "0000", t2),
        Err(StoreError::WrongPin)
    ));
    drop(KioskStore::unlock_at(&f.path(), PIN, t2).unwrap());
}

#[test]
fn the_pin_is_checked_before_the_schema_is_touched() {
    let f = Fixture::new("migrate-after-pin");
    drop(KioskStore::create(&f.path(), PIN, KdfParams::FOR_TESTS).unwrap());
    let current = schema_version(&f.path());
    assert!(current >= 2);
    // As if the kiosk software was upgraded and a migration is pending.
    let conn = rusqlite::Connection::open(f.path()).unwrap();
    conn.execute_batch(
        "alter table outbox drop column reject_sealed; drop table package_download;
         alter table check_ins drop column tag; alter table check_ins drop column hlc_sealed;
         alter table outbox drop column envelope; alter table event drop column tag;
         alter table ticket_types drop column tag; alter table gates drop column tag;
         alter table forms drop column tag; drop table attendee_edits;
         drop table printed_badges;
         pragma user_version = 1;",
    )
    .unwrap();
    drop(conn);
    assert!(matches!(
        KioskStore::unlock(&f.path(), "0000"),
        Err(StoreError::WrongPin)
    ));
    assert_eq!(
        schema_version(&f.path()),
        1,
        "a wrong PIN runs no migration"
    );
    drop(KioskStore::unlock(&f.path(), PIN).unwrap());
    assert_eq!(schema_version(&f.path()), current);
}

#[test]
fn a_set_up_that_fails_half_way_leaves_no_store() {
    let f = Fixture::new("create-atomic");
    let failed = KioskStore::create_with(&f.path(), PIN, KdfParams::FOR_TESTS, |_| {
        Err(StoreError::Malformed(
            "the coordinator PIN could not be stored".into(),
        ))
    });
    assert!(matches!(failed, Err(StoreError::Malformed(_))));
    assert!(!f.path().exists(), "no store at the path");
    let leftovers: Vec<_> = std::fs::read_dir(&f.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(leftovers.is_empty(), "nothing left behind: {leftovers:?}");
    // Set-up can start afresh, and what `prepare` wrote is in the store.
    let store = KioskStore::create_with(&f.path(), PIN, KdfParams::FOR_TESTS, |store| {
        store.set_coordinator_pin("97531", KdfParams::FOR_TESTS)
    })
    .unwrap();
    drop(store);
    let store = KioskStore::unlock(&f.path(), PIN).unwrap();
    store.check_coordinator_pin("97531").unwrap();
}

#[test]
fn a_key_wrapped_with_lower_costs_is_wrapped_again_at_unlock() {
    let f = Fixture::new("kdf-upgrade");
    drop(KioskStore::create(&f.path(), PIN, KdfParams::FOR_TESTS).unwrap());
    let raised = KdfParams {
        memory_kib: KdfParams::FOR_TESTS.memory_kib * 2,
        iterations: KdfParams::FOR_TESTS.iterations + 1,
        parallelism: 1,
    };
    let mut store = KioskStore::unlock(&f.path(), PIN).unwrap();
    assert_eq!(store.kdf_params().unwrap(), KdfParams::FOR_TESTS);
    assert!(store.upgrade_kdf(PIN, raised).unwrap());
    assert_eq!(store.kdf_params().unwrap(), raised);
    assert!(
        !store.upgrade_kdf(PIN, KdfParams::FOR_TESTS).unwrap(),
        "never lowered"
    );
    drop(store);
    let store = KioskStore::unlock(&f.path(), PIN).unwrap();
    assert_eq!(store.kdf_params().unwrap(), raised);
}

#[test]
fn a_code_index_moved_to_another_row_finds_nothing_to_admit() {
    let f = Fixture::new("index-swap");
    drop(store_with_package(&f));
    // Someone with the file swaps the lookup keys of two tickets: code A now finds ticket B's row.
    let [a, b, c] = [0, 1, 2].map(|i| f.snapshot.tickets[i].clone());
    {
        let conn = rusqlite::Connection::open(f.path()).unwrap();
        let index = |id: TicketId| -> Vec<u8> {
            conn.query_row(
                "select code_index from tickets where id = ?1",
                [id.to_bytes()],
                |r| r.get(0),
            )
            .unwrap()
        };
        let (ia, ib) = (index(a.id), index(b.id));
        conn.execute(
            "update tickets set code_index = ?2 where id = ?1",
            rusqlite::params![a.id.to_bytes(), vec![0u8; ia.len()]],
        )
        .unwrap();
        conn.execute(
            "update tickets set code_index = ?2 where id = ?1",
            rusqlite::params![b.id.to_bytes(), ia],
        )
        .unwrap();
        conn.execute(
            "update tickets set code_index = ?2 where id = ?1",
            rusqlite::params![a.id.to_bytes(), ib],
        )
        .unwrap();
    }
    let store = KioskStore::unlock(&f.path(), PIN).unwrap();
    let code = |t: &sync_protocol::model::Ticket| TicketCode::parse(&t.code).unwrap();
    assert!(
        matches!(
            store.ticket_by_code(&code(&a)),
            Err(StoreError::DamagedRow {
                table: "tickets",
                ..
            })
        ),
        "code A must not open ticket B"
    );
    assert!(matches!(
        store.ticket_by_code(&code(&b)),
        Err(StoreError::DamagedRow { .. })
    ));
    assert_eq!(
        store.ticket_by_code(&code(&c)).unwrap().unwrap().id,
        c.id,
        "other rows are fine"
    );
}

#[test]
fn wrong_coordinator_pins_are_counted_apart_from_the_kiosk_pin() {
    use kiosk_core::store::FREE_ATTEMPTS;
    use sync_protocol::UnixMillis;
    let f = Fixture::new("coordinator-attempts");
    let store = KioskStore::create_with(&f.path(), PIN, KdfParams::FOR_TESTS, |store| {
        store.set_coordinator_pin("97531", KdfParams::FOR_TESTS)
    })
    .unwrap();
    let t0 = UnixMillis(1_800_000_000_000);
    for _ in 0..=FREE_ATTEMPTS {
        assert!(matches!(
            store.check_coordinator_pin_at("0000", t0),
            Err(StoreError::WrongPin)
        ));
    }
    assert!(matches!(
        store.check_coordinator_pin_at("97531", t0.plus_millis(1_000)),
        Err(StoreError::TooManyAttempts { wait_secs: 29 })
    ));
    drop(store);
    // The kiosk PIN is not held up by the coordinator PIN's count, and the count survives.
    let store = KioskStore::unlock_at(&f.path(), PIN, t0.plus_millis(2_000)).unwrap();
    assert!(matches!(
        store.check_coordinator_pin_at("97531", t0.plus_millis(2_000)),
        Err(StoreError::TooManyAttempts { .. })
    ));
    store
        .check_coordinator_pin_at("97531", t0.plus_millis(30_000))
        .unwrap();
    assert!(matches!(
        store.check_coordinator_pin_at("0000", t0.plus_millis(30_000)),
        Err(StoreError::WrongPin)
    ));
}

#[test]
fn an_edited_status_attendee_or_ticket_type_makes_that_row_fail_to_open() {
    let f = Fixture::new("bound-columns");
    drop(store_with_package(&f));
    let [a, b, c] = [0, 1, 2].map(|i| f.snapshot.tickets[i].clone());
    {
        let conn = rusqlite::Connection::open(f.path()).unwrap();
        // A revoked ticket made valid again; another ticket given to someone else.
        conn.execute(
            "update tickets set status = (status + 1) % 3 where id = ?1",
            [a.id.to_bytes()],
        )
        .unwrap();
        conn.execute(
            "update tickets set attendee_id = ?2 where id = ?1",
            rusqlite::params![b.id.to_bytes(), c.attendee_id.to_bytes()],
        )
        .unwrap();
    }
    let store = KioskStore::unlock(&f.path(), PIN).unwrap();
    let code = |t: &sync_protocol::model::Ticket| TicketCode::parse(&t.code).unwrap();
    for ticket in [&a, &b] {
        assert!(
            matches!(
                store.ticket_by_code(&code(ticket)),
                Err(StoreError::DamagedRow {
                    table: "tickets",
                    ..
                })
            ),
            "{:?}",
            ticket.id
        );
        assert!(matches!(
            store.ticket_by_id(ticket.id),
            Err(StoreError::DamagedRow { .. })
        ));
    }
    assert_eq!(
        store.ticket_by_code(&code(&c)).unwrap().unwrap().status,
        c.status,
        "other rows are fine"
    );
}

/// The event's rules stay readable in the file but cannot be changed there: a gate edited, a
/// ticket type added, a revoked kiosk taken off the list or a table's tag removed makes that
/// table refused as damaged (the tickets and the other tables still work), until the next full
/// package writes it afresh.
#[test]
fn rules_edited_in_the_file_are_refused_until_the_next_package() {
    let f = Fixture::new("rules");
    let mut snapshot = f.snapshot.clone();
    let revoked = sync_protocol::ids::DeviceId::new(T, &mut ChaCha20Rng::seed_from_u64(5));
    snapshot.revoked_devices.push(revoked);
    snapshot.normalize();
    let mut store = KioskStore::create(&f.path(), PIN, KdfParams::FOR_TESTS).unwrap();
    store
        .apply_package(&f.package(&snapshot, 1), &f.key.public_key(), f.event_id())
        .unwrap();
    assert_eq!(store.gates().unwrap(), snapshot.gates);
    assert_eq!(store.certificates().unwrap().1, vec![revoked]);
    drop(store);

    let gate = snapshot.gates[0].id;
    let other_type = sync_protocol::ids::TicketTypeId::new(T, &mut ChaCha20Rng::seed_from_u64(6));
    let other_gate = sync_protocol::ids::GateId::new(T, &mut ChaCha20Rng::seed_from_u64(7));
    // Rows added or removed, an edited event, a tag removed: the whole table is refused (an
    // edited gate or ticket type is refused alone: tests/gate.rs).
    let tampers: [(&str, String); 6] = [
        (
            "event",
            "update event set body = replace(body, 'Harbour', 'Harbor')".into(),
        ),
        (
            "gates",
            format!(
                "insert into gates (id, body, tag) select x'{}', replace(body, 'North', 'Every door'), tag from gates where id = x'{}'",
                hex(&other_gate.to_bytes()),
                hex(&gate.to_bytes())
            ),
        ),
        (
            "ticket_types",
            format!(
                "insert into ticket_types (id, body) select x'{}', replace(body, 'Day pass', 'All areas') from ticket_types",
                hex(&other_type.to_bytes())
            ),
        ),
        ("revoked_devices", "delete from revoked_devices".into()),
        ("event", "delete from meta where key = 'tag:event'".into()),
        ("gates", "delete from gates".into()),
    ];
    for (version, (table, sql)) in (2..).zip(tampers) {
        rusqlite::Connection::open(f.path())
            .unwrap()
            .execute_batch(&sql)
            .unwrap();
        let mut store = KioskStore::unlock(&f.path(), PIN).unwrap();
        let refused = match table {
            "gates" => store.gates().err(),
            "ticket_types" => store.ticket_types().err(),
            "revoked_devices" => store.certificates().err(),
            "event" => store.event().err(),
            _ => unreachable!(),
        };
        assert!(
            matches!(refused, Some(StoreError::DamagedTable { table: t }) if t == table),
            "{sql}: {refused:?}"
        );
        // The rest works: tickets are found, the other tables read.
        let code = TicketCode::parse(&snapshot.tickets[1].code).unwrap();
        assert!(store.ticket_by_code(&code).unwrap().is_some(), "{sql}");
        if table != "gates" {
            assert_eq!(store.gates().unwrap(), snapshot.gates, "{sql}");
        } else {
            assert_eq!(
                store.ticket_types().unwrap(),
                snapshot.ticket_types,
                "{sql}"
            );
        }
        // The next full package is the way back.
        store
            .apply_package(
                &f.package(&snapshot, version),
                &f.key.public_key(),
                f.event_id(),
            )
            .unwrap();
        assert_eq!(store.gates().unwrap(), snapshot.gates);
        assert_eq!(store.ticket_types().unwrap(), snapshot.ticket_types);
        assert_eq!(store.certificates().unwrap().1, vec![revoked]);
        assert_eq!(store.event().unwrap().as_ref(), Some(&snapshot.event));
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
