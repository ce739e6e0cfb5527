//! Walk-in registration at the desk: validation per field, the stored attendee and ticket, the
//! badge, and the badge admitted at the gate.

mod support;

use kiosk_core::gate::scan;
use kiosk_core::store::{Identity, KioskStore};
use kiosk_core::walkin::{WalkInError, WalkInRequest, register};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::json;
use support::{Fixture, PIN, T};
use sync_protocol::certificate::DeviceCertificate;
use sync_protocol::changes::ChangeBody;
use sync_protocol::crypto::{KdfParams, SecretKey, Signed};
use sync_protocol::forms::{FieldErrorCode, Form};
use sync_protocol::ids::DeviceId;
use sync_protocol::model::Direction;
use sync_protocol::verdict::VerdictCode;

fn form(event_seed: u64) -> Form {
    let _ = event_seed;
    serde_json::from_value(json!({
        "id": "01890a5d-ac96-774b-bcce-b302099a8057",
        "version": 2,
        "title": "Walk-in registration",
        "pages": [{
            "id": "about_you",
            "title": "About you",
            "sections": [{
                "id": "details",
                "title": "Details",
                "fields": [
                    { "id": "company", "label": "Company", "kind": "text", "validation": { "max": 40 } },
                    { "id": "diet", "label": "Diet", "kind": "single_choice", "required": true,
                      "choices": [ { "id": "any", "label": "Anything" }, { "id": "vegan", "label": "Vegan" } ] },
                    { "id": "photos", "label": "Photos may be taken", "kind": "checkbox", "required": true }
                ]
            }]
        }]
    }))
    .unwrap()
}

fn desk(f: &mut Fixture) -> KioskStore {
    let rng = &mut ChaCha20Rng::seed_from_u64(21);
    let me = DeviceId::new(T, rng);
    let my_key = SecretKey::generate(rng);
    let certificate = Signed::sign(
        &DeviceCertificate {
            device_id: me,
            event_id: f.event_id(),
            public_key: my_key.public_key(),
            label: "Desk".into(),
            gate_id: None,
            issued_at: T,
        },
        &f.key,
    );
    f.snapshot.certificates = vec![certificate.clone()];
    f.snapshot.forms = vec![form(1)];
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
                certificate,
                badge_certificate: None,
            },
            "token",
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
fn a_walk_in_gets_a_badge_that_the_gate_admits() {
    let mut f = Fixture::new("walkin");
    let mut store = desk(&mut f);
    let request = WalkInRequest {
        first_name: "  Mary ".into(),
        last_name: "Jackson".into(),
        email: Some("mary@example.org".into()),
        phone: Some("+1 555 0100".into()),
        ticket_type_id: None,
        answers: [
            ("diet".to_owned(), json!("vegan")),
            ("photos".to_owned(), json!(true)),
            ("company".to_owned(), json!(" NACA ")),
        ]
        .into_iter()
        .collect(),
    };
    let registration = register(&mut store, request, T).unwrap();
    assert_eq!(registration.attendee.first_name, "Mary");
    assert_eq!(registration.attendee.answers["company"], json!("NACA"));
    assert_eq!(registration.attendee.form.map(|f| f.version), Some(2));
    assert!(registration.ticket.code.starts_with("GP1:"));
    assert!(registration.badge_svg.contains("<svg"));
    assert!(registration.badge_qr_version <= 10);

    // Stored with its outbox row.
    let pending = store.pending_changes(10).unwrap();
    assert_eq!(pending.len(), 1);
    assert!(matches!(pending[0].body().unwrap(), ChangeBody::WalkIn(_)));

    // The badge is admitted at the gate at once, with the name.
    let gate = f.snapshot.gates[0].id;
    let result = scan(
        &mut store,
        registration.ticket.code.as_bytes(),
        gate,
        Direction::Entry,
        T.plus_millis(60_000),
        true,
    )
    .unwrap();
    assert_eq!(
        result.verdict.code,
        VerdictCode::Admitted,
        "{}",
        result.verdict.reason
    );
    assert_eq!(result.attendee_name.as_deref(), Some("Mary Jackson"));
}

#[test]
fn every_problem_is_reported_at_its_field_and_nothing_is_stored() {
    let mut f = Fixture::new("walkin-bad");
    let mut store = desk(&mut f);
    let request = WalkInRequest {
        first_name: " ".into(),
        last_name: "Vaughan".into(),
        email: Some("not-an-email".into()),
        phone: Some("call me".into()),
        ticket_type_id: None,
        answers: [("diet".to_owned(), json!("carnivore"))]
            .into_iter()
            .collect(),
    };
    let Err(WalkInError::Fields(errors)) = register(&mut store, request, T) else {
        panic!("expected field errors");
    };
    let by_field: Vec<(&str, FieldErrorCode)> =
        errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
    assert!(
        by_field.contains(&("first_name", FieldErrorCode::Required)),
        "{by_field:?}"
    );
    assert!(
        by_field.contains(&("email", FieldErrorCode::InvalidEmail)),
        "{by_field:?}"
    );
    assert!(
        by_field.contains(&("phone", FieldErrorCode::InvalidPhone)),
        "{by_field:?}"
    );
    assert!(
        by_field.contains(&("diet", FieldErrorCode::InvalidChoice)),
        "{by_field:?}"
    );
    assert!(
        by_field.contains(&("photos", FieldErrorCode::MustAccept)),
        "{by_field:?}"
    );
    assert!(errors.iter().all(|e| !e.message.is_empty()));
    assert_eq!(store.outbox_counts().unwrap(), (0, 0, 0), "nothing stored");
    assert_eq!(store.ticket_count().unwrap(), 3);
}
