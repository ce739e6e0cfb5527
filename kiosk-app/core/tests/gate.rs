//! Scanning at a gate: every verdict path against a real store, and the outbox it leaves.

mod support;

use kiosk_core::gate::scan;
use kiosk_core::store::{Identity, KioskStore};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use support::{Fixture, PIN, T};
use sync_protocol::certificate::DeviceCertificate;
use sync_protocol::changes::ChangeBody;
use sync_protocol::crypto::{KdfParams, SecretKey, Signed};
use sync_protocol::ids::{DeviceId, TicketId};
use sync_protocol::model::Direction;
use sync_protocol::ticket_code::{CodeClaims, issue_device_code};
use sync_protocol::verdict::VerdictCode;

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
