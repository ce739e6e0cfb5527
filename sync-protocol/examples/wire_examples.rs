//! Prints one example of every wire message as JSON, for docs/protocol.md.
//!
//! `cargo run -p sync-protocol --example wire_examples` — deterministic (seeded randomness, fixed
//! times), so the docs can be regenerated and compared.

use std::collections::BTreeMap;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::Serialize;
use serde_json::json;
use sync_protocol::UnixMillis;
use sync_protocol::certificate::{BadgeCertificate, DeviceCertificate};
use sync_protocol::changes::{
    AttendeeEdit, Change, ChangeBody, CheckIn, CheckInAnnulment, FailedScan, FieldEdit, FoundBy,
    WalkIn,
};
use sync_protocol::crypto::{SecretKey, Signed};
use sync_protocol::hlc::Hlc;
use sync_protocol::ids::*;
use sync_protocol::model::{Attendee, Direction, FormRef, Ticket, TicketStatus};
use sync_protocol::package::{PackageBody, PackageMeta, PackageSnapshot, seal_package};
use sync_protocol::ticket_code::{CodeClaims, issue_device_code};
use sync_protocol::verdict::VerdictCode;
use sync_protocol::wire::*;

const T: UnixMillis = UnixMillis(1_790_000_000_000);

fn show(name: &str, value: &impl Serialize) {
    println!("<!-- example: {name} -->");
    println!("```json");
    println!("{}", serde_json::to_string_pretty(value).unwrap());
    println!("```");
    println!();
}

fn main() {
    let rng = &mut ChaCha20Rng::seed_from_u64(2026);
    let server_key = SecretKey::generate(rng);
    let kiosk_key = SecretKey::generate(rng);
    let event_id = EventId::new(T, rng);
    let device_id = DeviceId::new(T, rng);
    let gate_id = GateId::new(T, rng);
    let ticket_id = TicketId::new(T, rng);
    let ticket_type_id = TicketTypeId::new(T, rng);
    let attendee_id = AttendeeId::new(T, rng);
    let form = FormRef {
        id: FormId::new(T, rng),
        version: 3,
    };

    println!(
        "{}",
        EnrolmentInvite {
            server_url: "https://sync.example.org".into(),
            token: "q7Xv2Lk9PzN4mW8rT1yB".into(),
        }
        .to_qr_text()
    );
    println!();
    show(
        "EnrolmentRequest",
        &EnrolmentRequest {
            token: "q7Xv2Lk9PzN4mW8rT1yB".into(),
            device_public_key: kiosk_key.public_key(),
            label: "North gate, left".into(),
            app_version: "0.1.0".into(),
        },
    );
    let certificate = Signed::sign(
        &DeviceCertificate {
            device_id,
            event_id,
            public_key: kiosk_key.public_key(),
            label: "North gate, left".into(),
            gate_id: Some(gate_id),
            issued_at: T,
        },
        &server_key,
    );
    show(
        "EnrolmentResponse",
        &EnrolmentResponse {
            device_id,
            event_id,
            device_token: "mN3bQ8vX1cK5zR7tY2wP9aL4sD6fG0hJ-uI_eO".into(),
            server_public_key: server_key.public_key(),
            certificate,
            badge_certificate: Some(BadgeCertificate::issue(
                event_id,
                device_id,
                kiosk_key.public_key(),
                T,
                &server_key,
            )),
            gate_id: Some(gate_id),
            package_version: 4,
            server_time: T,
        },
    );

    let check_in = ChangeBody::CheckIn(CheckIn {
        id: CheckInId::new(T, rng),
        ticket_id,
        gate_id,
        direction: Direction::Entry,
        verdict: VerdictCode::Admitted,
        offline: true,
        scanned_at: T,
        found_by: FoundBy::Code,
    });
    let change = Change::new(
        ChangeId::new(T, rng),
        device_id,
        41,
        Hlc::new(T.0, 0),
        4,
        &check_in,
    );
    show(
        "PushRequest",
        &PushRequest {
            changes: vec![change.clone()],
        },
    );

    show(
        "FailedScan",
        &FailedScan {
            id: CheckInId::new(T, rng),
            gate_id,
            direction: Direction::Entry,
            ticket_id: None,
            verdict: VerdictCode::Unknown,
            scanned_text: "HELLO-WORLD".into(),
            offline: true,
            scanned_at: T,
            found_by: FoundBy::Code,
        },
    );
    show(
        "CheckInAnnulment",
        &CheckInAnnulment {
            check_in_id: CheckInId::new(T, rng),
            ticket_id,
            reason: "turnstile did not turn".into(),
        },
    );
    let walk_in_ticket = TicketId::new(T, rng);
    let walk_in_attendee = AttendeeId::new(T, rng);
    let code = issue_device_code(
        event_id,
        device_id,
        &CodeClaims {
            ticket_id: walk_in_ticket,
            ticket_type_id,
            valid_from: None,
            valid_until: Some(UnixMillis(T.0 + 86_400_000)),
        },
        &kiosk_key,
    )
    .unwrap();
    show(
        "WalkIn",
        &WalkIn {
            attendee: Attendee {
                id: walk_in_attendee,
                first_name: "Grace".into(),
                last_name: "Hopper".into(),
                email: Some("grace@example.org".into()),
                phone: Some("+1 555 0100".into()),
                answers: BTreeMap::from([
                    ("diet".to_owned(), json!("vegetarian")),
                    ("consent_photos".to_owned(), json!(true)),
                ]),
                form: Some(form),
            },
            ticket: Ticket {
                id: walk_in_ticket,
                attendee_id: walk_in_attendee,
                ticket_type_id,
                status: TicketStatus::Valid,
                code: code.as_str().to_owned(),
            },
            form: Some(form),
        },
    );
    show(
        "AttendeeEdit",
        &AttendeeEdit {
            attendee_id,
            fields: BTreeMap::from([
                (
                    "email".to_owned(),
                    FieldEdit {
                        value: json!("ada@example.net"),
                        seen: None,
                    },
                ),
                (
                    "answers.diet".to_owned(),
                    FieldEdit {
                        value: json!("vegan"),
                        seen: Some(Hlc::new(T.0 - 60_000, 2)),
                    },
                ),
            ]),
        },
    );

    show(
        "PushResponse",
        &PushResponse {
            results: vec![
                ChangeResult {
                    seq: 41,
                    status: ChangeStatus::Accepted,
                    clock_ahead_ms: None,
                },
                ChangeResult {
                    seq: 42,
                    status: ChangeStatus::Duplicate,
                    clock_ahead_ms: None,
                },
                ChangeResult {
                    seq: 43,
                    status: ChangeStatus::Rejected {
                        code: RejectCode::UnknownKind,
                        message: "unknown change kind \"teleport\"".into(),
                    },
                    clock_ahead_ms: Some(86_400_000),
                },
            ],
            acknowledged_seq: 43,
            server_hlc: Hlc::new(T.0 + 5, 1),
        },
    );
    show(
        "PullPage",
        &PullPage {
            items: vec![
                PullItem::DeviceChange {
                    position: Cursor { tx: 918, pos: 77 },
                    change,
                },
                PullItem::TicketStatus {
                    position: Cursor { tx: 920, pos: 78 },
                    ticket_id,
                    status: TicketStatus::Revoked,
                    hlc: Hlc::new(T.0 + 9, 0),
                },
                PullItem::DeviceRevoked {
                    position: Cursor { tx: 925, pos: 80 },
                    device_id,
                },
            ],
            next_cursor: Cursor { tx: 925, pos: 80 },
            has_more: false,
            pending: false,
            write_checkpoint: 41,
            package_version: 4,
            refetch: false,
            server_hlc: Hlc::new(T.0 + 12, 0),
        },
    );
    show(
        "LiveNotice",
        &LiveNotice {
            event_id,
            position: Cursor { tx: 925, pos: 80 },
            package_version: 4,
        },
    );
    show(
        "ErrorBody",
        &ErrorBody {
            code: ErrorCode::DeviceRevoked,
            message: "this device was revoked; enrol it again".into(),
        },
    );

    let snapshot = PackageSnapshot {
        event: sync_protocol::model::Event {
            id: event_id,
            name: "Harbour Days".into(),
            time_zone: "Europe/Berlin".into(),
            starts_at: T,
            ends_at: UnixMillis(T.0 + 86_400_000),
        },
        ticket_types: vec![],
        gates: vec![],
        forms: vec![],
        attendees: vec![],
        tickets: vec![],
        check_ins: vec![],
        certificates: vec![],
        revoked_devices: vec![],
        printed_badges: vec![],
    };
    let file = seal_package(
        PackageMeta {
            event_id,
            version: 4,
            base_version: None,
            created_at: T,
            cursor: Cursor { tx: 900, pos: 70 },
        },
        &PackageBody::Full(snapshot),
        &server_key,
    );
    show("SignedPackageManifest", &file.manifest);
    show(
        "PackageManifest",
        &file.manifest.open(&server_key.public_key()).unwrap(),
    );
    println!("ticket code: {}", code.as_str());
}
