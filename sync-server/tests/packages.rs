//! Event packages on a real server and database: publish, download, verify, deltas, ranges,
//! compression, roles and scoping, the USB-stick export, and a 100,000-ticket package.

mod support;

use std::io::Read;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};
use support::{Kiosk, T0, TestApp, TestDb};
use sync_protocol::changes::{CheckIn, CheckInAnnulment, FoundBy};
use sync_protocol::crypto::SecretKey;
use sync_protocol::forms::Form;
use sync_protocol::hlc::Hlc;
use sync_protocol::ids::{AttendeeId, CheckInId, EventId, FormId, GateId, TicketId, TicketTypeId};
use sync_protocol::model::{
    Attendee, Direction, Event, FormRef, Gate, GateMode, Reentry, Ticket, TicketStatus, TicketType,
};
use sync_protocol::package::{
    KnownCheckIn, PackageBody, PackageFile, PackageSnapshot, apply_delta, open_package,
};
use sync_protocol::verdict::VerdictCode;
use sync_protocol::wire::{ErrorBody, ErrorCode};
use sync_server::api::HttpLimits;
use sync_server::packages::PackageOffer;
use sync_server::store::{Role, SyncStore};

async fn app() -> (TestDb, TestApp) {
    let db = TestDb::new().await;
    let key = SecretKey::generate(&mut ChaCha20Rng::seed_from_u64(7));
    let app = TestApp::start(&db, key, HttpLimits::default()).await;
    (db, app)
}

async fn error_of(response: reqwest::Response) -> (u16, ErrorCode) {
    let status = response.status().as_u16();
    let body: ErrorBody = response.json().await.unwrap();
    (status, body.code)
}

/// The event as `TestApp::create_event` made it.
fn event_record(id: EventId) -> Event {
    Event {
        id,
        name: "Harbour Days".into(),
        time_zone: "Europe/Berlin".into(),
        starts_at: T0,
        ends_at: T0.plus_millis(86_400_000),
    }
}

/// What the tests put in the database, as the package should carry it.
struct Seeded {
    snapshot: PackageSnapshot,
    rng: ChaCha20Rng,
}

/// Inserts ticket types, gates, two versions of a form, `n` attendees with a ticket each.
async fn seed(app: &TestApp, event_id: EventId, n: usize) -> Seeded {
    let pool = app.store.pool();
    let mut rng = ChaCha20Rng::seed_from_u64(n as u64 + 11);
    let rng_ref = &mut rng;
    let day = TicketType {
        id: TicketTypeId::new(T0, rng_ref),
        name: "Day pass".into(),
        valid_from: Some(T0),
        valid_until: Some(T0.plus_millis(3_600_000)),
    };
    let vip = TicketType {
        id: TicketTypeId::new(T0, rng_ref),
        name: "VIP".into(),
        valid_from: None,
        valid_until: None,
    };
    for t in [&day, &vip] {
        sqlx::query(
            "insert into ticket_types (id, event_id, name, valid_from, valid_until)
             values ($1, $2, $3, $4, $5)",
        )
        .bind(t.id.as_uuid())
        .bind(event_id.as_uuid())
        .bind(&t.name)
        .bind(t.valid_from.map(|v| v.as_u64() as i64))
        .bind(t.valid_until.map(|v| v.as_u64() as i64))
        .execute(pool)
        .await
        .unwrap();
    }
    let gates = vec![
        Gate {
            id: GateId::new(T0, rng_ref),
            name: "North".into(),
            allowed_ticket_types: vec![],
            mode: GateMode::EntryAndExit,
            reentry: Reentry::AfterExit,
            required_answers: vec![],
            show_answers: vec![],
            print_badge: Default::default(),
        },
        Gate {
            id: GateId::new(T0, rng_ref),
            name: "VIP lounge".into(),
            allowed_ticket_types: vec![vip.id],
            mode: GateMode::EntryOnly,
            reentry: Reentry::Never,
            required_answers: vec!["consent".into()],
            show_answers: vec![],
            print_badge: Default::default(),
        },
    ];
    for g in &gates {
        sqlx::query(
            "insert into gates (id, event_id, name, mode, reentry, allowed_ticket_types,
                                required_answers)
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(g.id.as_uuid())
        .bind(event_id.as_uuid())
        .bind(&g.name)
        .bind(serde_json::to_value(g.mode).unwrap().as_str().unwrap())
        .bind(serde_json::to_value(g.reentry).unwrap().as_str().unwrap())
        .bind(
            g.allowed_ticket_types
                .iter()
                .map(|t| t.as_uuid())
                .collect::<Vec<_>>(),
        )
        .bind(&g.required_answers)
        .execute(pool)
        .await
        .unwrap();
    }
    // Two versions of one form: only the latest travels.
    let form_id = FormId::new(T0, rng_ref);
    for (version, title) in [(1, "Walk-in (draft)"), (2, "Walk-in")] {
        sqlx::query(
            "insert into forms (id, version, event_id, definition) values ($1, $2, $3, $4)",
        )
        .bind(form_id.as_uuid())
        .bind(version)
        .bind(event_id.as_uuid())
        .bind(json!({ "id": form_id, "version": version, "title": title, "pages": [] }))
        .execute(pool)
        .await
        .unwrap();
    }
    let form: Form = serde_json::from_value(
        json!({ "id": form_id, "version": 2, "title": "Walk-in", "pages": [] }),
    )
    .unwrap();

    let mut attendees = Vec::new();
    let mut tickets = Vec::new();
    for i in 0..n {
        let attendee = Attendee {
            id: AttendeeId::new(T0, rng_ref),
            first_name: format!("Ada{i}"),
            last_name: "Lovelace".into(),
            email: (i % 2 == 0).then(|| format!("ada{i}@example.org")),
            phone: None,
            answers: [("diet".to_owned(), json!("vegan"))].into(),
            form: (i == 0).then_some(FormRef {
                id: form_id,
                version: 2,
            }),
        };
        let ticket = Ticket {
            id: TicketId::new(T0, rng_ref),
            attendee_id: attendee.id,
            ticket_type_id: if i % 3 == 0 { vip.id } else { day.id },
            status: if i == 1 {
                TicketStatus::Canceled
            } else {
                TicketStatus::Valid
            },
            code: format!("CODE-{i:06}"),
        };
        attendees.push(attendee);
        tickets.push(ticket);
    }
    insert_people(app, event_id, &attendees, &tickets).await;
    Seeded {
        snapshot: PackageSnapshot {
            event: event_record(event_id),
            ticket_types: vec![day, vip],
            gates,
            forms: vec![form],
            attendees,
            tickets,
            check_ins: vec![],
            certificates: vec![],
            revoked_devices: vec![],
            printed_badges: vec![],
        },
        rng,
    }
}

async fn insert_people(
    app: &TestApp,
    event_id: EventId,
    attendees: &[Attendee],
    tickets: &[Ticket],
) {
    let pool = app.store.pool();
    for chunk in attendees.chunks(5_000) {
        sqlx::query(
            "insert into attendees (id, event_id, first_name, last_name, email, phone, answers,
                                    form_id, form_version)
             select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::jsonb[], $8::uuid[], $9::int[])",
        )
        .bind(chunk.iter().map(|a| a.id.as_uuid()).collect::<Vec<_>>())
        .bind(vec![event_id.as_uuid(); chunk.len()])
        .bind(
            chunk
                .iter()
                .map(|a| a.first_name.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|a| a.last_name.clone())
                .collect::<Vec<_>>(),
        )
        .bind(chunk.iter().map(|a| a.email.clone()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|a| a.phone.clone()).collect::<Vec<_>>())
        .bind(
            chunk
                .iter()
                .map(|a| serde_json::to_value(&a.answers).unwrap())
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|a| a.form.map(|f| f.id.as_uuid()))
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|a| a.form.map(|f| f.version as i32))
                .collect::<Vec<_>>(),
        )
        .execute(pool)
        .await
        .unwrap();
    }
    for chunk in tickets.chunks(5_000) {
        sqlx::query(
            "insert into tickets (id, event_id, attendee_id, ticket_type_id, status, code)
             select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[],
                                  $6::text[])",
        )
        .bind(chunk.iter().map(|t| t.id.as_uuid()).collect::<Vec<_>>())
        .bind(vec![event_id.as_uuid(); chunk.len()])
        .bind(
            chunk
                .iter()
                .map(|t| t.attendee_id.as_uuid())
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|t| t.ticket_type_id.as_uuid())
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|t| {
                    serde_json::to_value(t.status)
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect::<Vec<_>>(),
        )
        .bind(chunk.iter().map(|t| t.code.clone()).collect::<Vec<_>>())
        .execute(pool)
        .await
        .unwrap();
    }
}

/// Stores a change row as ingest would (accepted or rejected), bypassing HTTP so the test does
/// not depend on ingest rules.
async fn store_change(
    app: &TestApp,
    kiosk: &mut Kiosk,
    kind: &str,
    entity: String,
    payload: Value,
    accepted: bool,
) -> Hlc {
    let seq = kiosk.next_seq;
    kiosk.next_seq += 1;
    let hlc = Hlc::new(T0.as_u64() + seq, 0);
    sqlx::query(
        "insert into changes (device_id, seq, event_id, change_id, hlc, kind, schema_version,
                              entity_id, package_version, payload, digest, status)
         values ($1, $2, $3, $4, $5, $6, 1, $7, 0, $8, $9, $10)",
    )
    .bind(kiosk.device_id.as_uuid())
    .bind(seq as i64)
    .bind(kiosk.event_id.as_uuid())
    .bind(uuid::Uuid::now_v7())
    .bind(hlc.to_i64().unwrap())
    .bind(kind)
    .bind(entity)
    .bind(payload)
    .bind(vec![seq as u8; 32])
    .bind(if accepted { "accepted" } else { "rejected" })
    .execute(app.store.pool())
    .await
    .unwrap();
    hlc
}

async fn check_in(
    app: &TestApp,
    kiosk: &mut Kiosk,
    ticket: TicketId,
    gate: GateId,
) -> KnownCheckIn {
    let check_in = CheckIn {
        id: CheckInId::new(T0, &mut kiosk.rng),
        ticket_id: ticket,
        gate_id: gate,
        direction: Direction::Entry,
        verdict: VerdictCode::Admitted,
        offline: true,
        scanned_at: T0,
        found_by: FoundBy::Code,
    };
    let payload = serde_json::to_value(&check_in).unwrap();
    let hlc = store_change(app, kiosk, "check_in", ticket.to_string(), payload, true).await;
    KnownCheckIn {
        check_in,
        device_id: kiosk.device_id,
        hlc,
        annulled: false,
    }
}

async fn publish(app: &TestApp, admin: &str, event_id: EventId) -> Value {
    let response = app
        .http
        .post(app.url(&format!("/api/v1/admin/events/{event_id}/packages")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

async fn offer(app: &TestApp, kiosk: &Kiosk, held: Option<u64>) -> PackageOffer {
    let url = match held {
        Some(held) => format!("/api/v1/package?held={held}"),
        None => "/api/v1/package".to_owned(),
    };
    let response = app
        .http
        .get(app.url(&url))
        .bearer_auth(&kiosk.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Downloads what the offer names and opens it with the key pinned at enrolment.
async fn download(
    app: &TestApp,
    kiosk: &Kiosk,
    held: Option<u64>,
) -> (sync_protocol::package::PackageManifest, PackageBody) {
    let offer = offer(app, kiosk, held).await;
    let body = app
        .http
        .get(app.url(&offer.body_url))
        .bearer_auth(&kiosk.token)
        .send()
        .await
        .unwrap();
    assert_eq!(body.status(), 200);
    let file = PackageFile {
        manifest: offer.manifest,
        body: body.bytes().await.unwrap().to_vec(),
    };
    open_package(&file, &kiosk.server_key, kiosk.event_id, held).unwrap()
}

#[tokio::test]
async fn a_published_package_carries_exactly_the_database() {
    let (db, app) = app().await;
    let admin = app.staff("ada", Role::Admin).await;
    let event_id = app.create_event().await;
    let mut seeded = seed(&app, event_id, 5).await;
    let mut kiosk = app.enrol(event_id).await;
    let revoked = app.enrol(event_id).await;
    app.store
        .revoke_device(revoked.device_id, &support::test_audit("device.revoke"))
        .await
        .unwrap();
    assert_eq!(kiosk.server_key, app.key.public_key());

    // Check-ins: one plain, one annulled by its kiosk, one rejected (never carried).
    let gate = seeded.snapshot.gates[0].id;
    let tickets: Vec<TicketId> = seeded.snapshot.tickets.iter().map(|t| t.id).collect();
    let plain = check_in(&app, &mut kiosk, tickets[0], gate).await;
    let mut annulled = check_in(&app, &mut kiosk, tickets[2], gate).await;
    let annulment = CheckInAnnulment {
        check_in_id: annulled.check_in.id,
        ticket_id: tickets[2],
        reason: "turnstile did not turn".into(),
    };
    store_change(
        &app,
        &mut kiosk,
        "check_in_annulment",
        tickets[2].to_string(),
        serde_json::to_value(&annulment).unwrap(),
        true,
    )
    .await;
    annulled.annulled = true;
    let rejected = CheckIn {
        id: CheckInId::new(T0, &mut seeded.rng),
        ..plain.check_in.clone()
    };
    store_change(
        &app,
        &mut kiosk,
        "check_in",
        tickets[0].to_string(),
        serde_json::to_value(&rejected).unwrap(),
        false,
    )
    .await;

    // Nothing published yet: a clear 404.
    let none = app
        .http
        .get(app.url("/api/v1/package"))
        .bearer_auth(&kiosk.token)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(none).await, (404, ErrorCode::NotFound));

    let published = publish(&app, &admin, event_id).await;
    assert_eq!(published["version"], 1);
    assert_eq!(published["ticket_count"], 5);
    assert_eq!(published["delta"], Value::Null);

    let (manifest, body) = download(&app, &kiosk, None).await;
    assert_eq!(manifest.version, 1);
    assert_eq!(manifest.base_version, None);
    assert_eq!(manifest.ticket_count, 5);
    // The cursor never passes the feed head. It is the head (the revocation is the only feed
    // row, long committed) unless a transaction elsewhere on this Postgres was still running when
    // the package was built (tests run side by side): then it stays below, and the kiosk simply
    // pulls that row again after applying the package. Nothing is skipped either way.
    let (head, package_version) = app.store.feed_head(event_id).await.unwrap();
    assert_ne!(head, sync_protocol::wire::Cursor::START);
    assert!(
        manifest.cursor <= head,
        "{:?} beyond the head {head:?}",
        manifest.cursor
    );
    assert_eq!(package_version, 1);

    let kiosk_certificate: Value =
        sqlx::query_scalar("select certificate from devices where id = $1")
            .bind(kiosk.device_id.as_uuid())
            .fetch_one(app.store.pool())
            .await
            .unwrap();
    let mut expected = seeded.snapshot.clone();
    expected.check_ins = vec![plain, annulled];
    expected.certificates = vec![serde_json::from_value(kiosk_certificate).unwrap()];
    expected.revoked_devices = vec![revoked.device_id];
    expected.normalize();
    assert_eq!(body, PackageBody::Full(expected));

    // The kiosk's pull now says version 1 is current; the publish is audited.
    let page: Value = app
        .http
        .get(app.url("/api/v1/pull"))
        .bearer_auth(&kiosk.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["package_version"], 1);
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where action = 'package.publish' and target = $1",
    )
    .bind(event_id.to_string())
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert_eq!(audited, 1);

    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_second_publish_serves_a_delta_that_applies_to_the_first() {
    let (db, app) = app().await;
    let admin = app.staff("ada", Role::Admin).await;
    let event_id = app.create_event().await;
    let mut seeded = seed(&app, event_id, 6).await;
    let mut kiosk = app.enrol(event_id).await;
    publish(&app, &admin, event_id).await;
    let (_, first) = download(&app, &kiosk, None).await;
    let PackageBody::Full(first) = first else {
        panic!("expected a full body")
    };

    // Office changes: a ticket revoked, one removed, a new attendee with a ticket, a check-in.
    let pool = app.store.pool();
    let tickets = &seeded.snapshot.tickets;
    sqlx::query("update tickets set status = 'revoked' where id = $1")
        .bind(tickets[0].id.as_uuid())
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("delete from tickets where id = $1")
        .bind(tickets[1].id.as_uuid())
        .execute(pool)
        .await
        .unwrap();
    let attendee = Attendee {
        id: AttendeeId::new(T0, &mut seeded.rng),
        first_name: "Grace".into(),
        last_name: "Hopper".into(),
        email: None,
        phone: Some("+4930123456".into()),
        answers: Default::default(),
        form: None,
    };
    let ticket = Ticket {
        id: TicketId::new(T0, &mut seeded.rng),
        attendee_id: attendee.id,
        ticket_type_id: tickets[0].ticket_type_id,
        status: TicketStatus::Valid,
        code: "WALK-1".into(),
    };
    insert_people(&app, event_id, &[attendee], &[ticket]).await;
    check_in(&app, &mut kiosk, tickets[2].id, seeded.snapshot.gates[0].id).await;

    let second = publish(&app, &admin, event_id).await;
    assert_eq!(second["version"], 2);
    assert_eq!(second["delta"]["base_version"], 1);

    // Holding version 1, the kiosk is offered the delta.
    let offered = offer(&app, &kiosk, Some(1)).await;
    assert_eq!(offered.base_version, Some(1));
    assert_eq!(offered.body_url, "/api/v1/package/2/body?base=1");
    let (manifest, delta) = download(&app, &kiosk, Some(1)).await;
    assert_eq!(manifest.base_version, Some(1));
    assert_eq!(manifest.ticket_count, 6, "tickets after applying");
    let PackageBody::Delta(delta) = delta else {
        panic!("expected a delta")
    };
    assert_eq!(delta.upsert_tickets.len(), 2);
    assert_eq!(delta.remove_tickets, vec![tickets[1].id]);
    assert_eq!(delta.upsert_check_ins.len(), 1);

    // Holding nothing (or something older), it gets the full body; the delta applied equals it.
    let (_, full) = download(&app, &kiosk, None).await;
    let PackageBody::Full(full) = full else {
        panic!("expected a full body")
    };
    assert_eq!(apply_delta(&first, &delta), full);
    assert_eq!(offer(&app, &kiosk, Some(7)).await.base_version, None);

    // The admin list: newest first, full before delta.
    let listed: Vec<Value> = app
        .http
        .get(app.url(&format!("/api/v1/admin/events/{event_id}/packages")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let summary: Vec<(u64, Option<u64>, u64)> = listed
        .iter()
        .map(|p| {
            (
                p["version"].as_u64().unwrap(),
                p["base_version"].as_u64(),
                p["ticket_count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(summary, [(2, None, 6), (2, Some(1), 6), (1, None, 6)]);
    assert!(listed.iter().all(|p| p["body_len"].as_u64().unwrap() > 0));
    assert!(
        listed
            .iter()
            .all(|p| p["created_at"].as_u64().unwrap() > T0.as_u64())
    );

    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn bodies_resume_with_ranges_and_travel_gzip_compressed() {
    let (db, app) = app().await;
    let admin = app.staff("ada", Role::Admin).await;
    let event_id = app.create_event().await;
    seed(&app, event_id, 200).await;
    let kiosk = app.enrol(event_id).await;
    publish(&app, &admin, event_id).await;
    let offered = offer(&app, &kiosk, None).await;
    let manifest = offered.manifest.open(&kiosk.server_key).unwrap();
    let len = manifest.body_len;
    let etag = format!("\"{}\"", manifest.body_sha256);
    // A client that sees the raw encoding (reqwest's own gzip handling off).
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let url = app.url(&offered.body_url);

    // Whole body, gzip accepted: the stored gzip form, which inflates to the signed body.
    let gz = raw
        .get(&url)
        .bearer_auth(&kiosk.token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.status(), 200);
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["accept-ranges"], "bytes");
    let compressed = gz.bytes().await.unwrap();
    assert!((compressed.len() as u64) < len / 2, "gzip pays off");
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut inflated)
        .unwrap();
    assert_eq!(inflated.len() as u64, len);

    // First half (gzip still accepted: ranges are served on the identity encoding).
    let half = len / 2;
    let first = raw
        .get(&url)
        .bearer_auth(&kiosk.token)
        .header("accept-encoding", "gzip")
        .header("range", format!("bytes=0-{}", half - 1))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 206);
    assert!(first.headers().get("content-encoding").is_none());
    assert_eq!(
        first.headers()["content-range"],
        format!("bytes 0-{}/{len}", half - 1).as_str()
    );
    assert_eq!(first.headers()["etag"], etag.as_str());
    let first = first.bytes().await.unwrap();
    assert_eq!(first.len() as u64, half);

    // The connection dropped; resume from where it stopped, if the body is still the same.
    let rest = raw
        .get(&url)
        .bearer_auth(&kiosk.token)
        .header("range", format!("bytes={half}-"))
        .header("if-range", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 206);
    let rest = rest.bytes().await.unwrap();
    let file = PackageFile {
        manifest: offered.manifest.clone(),
        body: [&first[..], &rest[..]].concat(),
    };
    assert_eq!(file.body, inflated);
    open_package(&file, &kiosk.server_key, event_id, None).unwrap();

    // If-Range naming another body: the whole current body instead of a part.
    let stale = raw
        .get(&url)
        .bearer_auth(&kiosk.token)
        .header("range", format!("bytes={half}-"))
        .header("if-range", "\"0000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.bytes().await.unwrap().len() as u64, len);

    // A range past the end.
    let past = raw
        .get(&url)
        .bearer_auth(&kiosk.token)
        .header("range", format!("bytes={len}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(past.status(), 416);
    assert_eq!(
        past.headers()["content-range"],
        format!("bytes */{len}").as_str()
    );

    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn packages_are_scoped_to_the_event_and_publishing_needs_an_admin() {
    let (db, app) = app().await;
    let admin = app.staff("ada", Role::Admin).await;
    let coordinator = app.staff("cora", Role::Coordinator).await;
    let event_a = app.create_event().await;
    let event_b = app.create_event().await;
    seed(&app, event_a, 3).await;
    let kiosk_b = app.enrol(event_b).await;
    let publish_url = app.url(&format!("/api/v1/admin/events/{event_a}/packages"));

    let denied = app
        .http
        .post(&publish_url)
        .bearer_auth(&coordinator)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(denied).await, (403, ErrorCode::Forbidden));
    let listed = app
        .http
        .get(&publish_url)
        .bearer_auth(&coordinator)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(listed).await, (403, ErrorCode::Forbidden));
    let kiosk_tries = app
        .http
        .post(&publish_url)
        .bearer_auth(&kiosk_b.token)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(kiosk_tries).await, (401, ErrorCode::Unauthorized));
    let unknown = EventId::new(T0, &mut ChaCha20Rng::seed_from_u64(99));
    let missing = app
        .http
        .post(app.url(&format!("/api/v1/admin/events/{unknown}/packages")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(missing).await, (404, ErrorCode::NotFound));
    let garbage = app
        .http
        .post(app.url("/api/v1/admin/events/not-an-id/packages"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(garbage).await, (422, ErrorCode::ValidationFailed));

    publish(&app, &admin, event_a).await;

    // Event A has version 1; a kiosk of event B sees neither its manifest nor its body.
    for path in ["/api/v1/package", "/api/v1/package/1/body"] {
        let response = app
            .http
            .get(app.url(path))
            .bearer_auth(&kiosk_b.token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_of(response).await,
            (404, ErrorCode::NotFound),
            "{path}"
        );
    }
    let anonymous = app
        .http
        .get(app.url("/api/v1/package"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(anonymous).await, (401, ErrorCode::Unauthorized));
    // A revoked kiosk gets nothing either.
    let kiosk_a = app.enrol(event_a).await;
    app.store
        .revoke_device(kiosk_a.device_id, &support::test_audit("device.revoke"))
        .await
        .unwrap();
    let revoked = app
        .http
        .get(app.url("/api/v1/package/1/body"))
        .bearer_auth(&kiosk_a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(revoked).await, (401, ErrorCode::DeviceRevoked));

    app.stop().await;
    db.drop_db().await;
}

#[derive(clap::Parser)]
struct AdminCli {
    #[command(subcommand)]
    command: sync_server::cli::AdminCommand,
}

#[tokio::test]
async fn the_cli_publishes_with_the_key_on_disk_and_exports_a_file() {
    use clap::Parser;
    let db = TestDb::new().await;
    let data_dir = std::env::temp_dir().join(format!("gp-pkg-cli-{}", db.name));
    let key = sync_server::keys::load_or_create(&data_dir).unwrap();
    let app = TestApp::start(&db, key.clone(), HttpLimits::default()).await;
    let event_id = app.create_event().await;
    seed(&app, event_id, 4).await;
    let kiosk = app.enrol(event_id).await;
    let out = sync_server::cli::Output { json: true };
    let run = |args: Vec<String>| {
        let command = AdminCli::parse_from(std::iter::once("admin".to_owned()).chain(args)).command;
        let store = app.store.clone();
        let data_dir = data_dir.clone();
        async move { sync_server::cli::run(&store, command, out, &data_dir).await }
    };
    let event = event_id.to_string();
    run(vec![
        "package".into(),
        "publish".into(),
        "--event".into(),
        event.clone(),
    ])
    .await
    .unwrap();
    let file_path = data_dir.join("event.gatepass");
    run(vec![
        "package".into(),
        "export".into(),
        "--event".into(),
        event.clone(),
        "--out".into(),
        file_path.display().to_string(),
    ])
    .await
    .unwrap();

    // The file opens with the key the kiosk pinned, and matches what the server serves.
    let file = PackageFile::from_bytes(&std::fs::read(&file_path).unwrap()).unwrap();
    let (manifest, body) = open_package(&file, &kiosk.server_key, event_id, None).unwrap();
    assert_eq!(manifest.version, 1);
    let (_, served) = download(&app, &kiosk, None).await;
    assert_eq!(body, served);
    let audited: Vec<String> = sqlx::query_scalar(
        "select action from audit_log where actor_kind = 'cli' and source = 'cli' order by id",
    )
    .fetch_all(app.store.pool())
    .await
    .unwrap();
    assert_eq!(audited, ["package.publish", "package.export"]);

    app.stop().await;
    db.drop_db().await;
    std::fs::remove_dir_all(&data_dir).unwrap();
}

#[tokio::test]
async fn a_100k_ticket_package_is_built_and_served() {
    const TICKETS: usize = 100_000;
    let (db, app) = app().await;
    let admin = app.staff("ada", Role::Admin).await;
    let event_id = app.create_event().await;
    let seeded = seed(&app, event_id, TICKETS).await;
    let kiosk = app.enrol(event_id).await;
    let published = publish(&app, &admin, event_id).await;
    assert_eq!(published["ticket_count"], TICKETS);
    let (manifest, body) = download(&app, &kiosk, None).await;
    assert_eq!(manifest.ticket_count, TICKETS as u64);
    let PackageBody::Full(snapshot) = body else {
        panic!("expected a full body")
    };
    let mut expected_tickets = seeded.snapshot.tickets;
    expected_tickets.sort_by_key(|t| t.id);
    assert_eq!(snapshot.tickets, expected_tickets);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn live_kiosks_hear_of_a_new_package_at_once() {
    use futures_util::StreamExt;
    let (db, app) = app().await;
    let admin = app.staff("ada", Role::Admin).await;
    let event_id = app.create_event().await;
    seed(&app, event_id, 2).await;
    let kiosk = app.enrol(event_id).await;
    let response = app
        .http
        .get(app.url("/api/v1/live"))
        .bearer_auth(&kiosk.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut next_notice = async || -> Value {
        loop {
            if let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data:")) {
                    return serde_json::from_str(data.trim()).unwrap();
                }
                continue;
            }
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
                .await
                .expect("a live notice within 10 s")
                .expect("stream open")
                .unwrap();
            buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    };
    assert_eq!(next_notice().await["package_version"], 0);
    publish(&app, &admin, event_id).await;
    let notice = next_notice().await;
    assert_eq!(notice["package_version"], 1);
    // Publishing adds nothing to the feed.
    assert_eq!(notice["position"], "0-0");
    drop(stream);
    app.stop().await;
    db.drop_db().await;
}
