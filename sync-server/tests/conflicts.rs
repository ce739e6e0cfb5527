//! Domain effects of pushes, conflict detection and resolution, exports and counts, against a
//! real server on a fresh Postgres database per test. Ticket types, gates and tickets are put in
//! with SQL, as the catalogue would.

mod support;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};
use support::{Kiosk, T0, TestApp, TestDb};
use sync_protocol::changes::{
    AttendeeEdit, Change, ChangeBody, CheckIn, CheckInAnnulment, FailedScan, FieldEdit, FoundBy,
    WalkIn,
};
use sync_protocol::crypto::SecretKey;
use sync_protocol::hlc::Hlc;
use sync_protocol::ids::{
    AttendeeId, ChangeId, CheckInId, EventId, GateId, TicketId, TicketTypeId,
};
use sync_protocol::model::{Attendee, Direction, Ticket, TicketStatus};
use sync_protocol::verdict::VerdictCode;
use sync_protocol::wire::{ChangeStatus, OpenConflicts, PushResponse};
use sync_server::api::HttpLimits;
use sync_server::store::Role;

async fn app() -> (TestDb, TestApp) {
    let db = TestDb::new().await;
    let key = SecretKey::generate(&mut ChaCha20Rng::seed_from_u64(7));
    let app = TestApp::start(&db, key, HttpLimits::default()).await;
    (db, app)
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::from_entropy()
}

/// An event with one ticket type; gates and tickets are added per test.
struct Venue {
    event: EventId,
    ticket_type: TicketTypeId,
}

impl Venue {
    async fn new(app: &TestApp) -> Venue {
        let event = app.create_event().await;
        let ticket_type = TicketTypeId::new(T0, &mut rng());
        sqlx::query("insert into ticket_types (id, event_id, name) values ($1, $2, 'Day pass')")
            .bind(ticket_type.as_uuid())
            .bind(event.as_uuid())
            .execute(app.store.pool())
            .await
            .unwrap();
        Venue { event, ticket_type }
    }

    async fn gate(&self, app: &TestApp, name: &str, reentry: &str) -> GateId {
        let id = GateId::new(T0, &mut rng());
        sqlx::query(
            "insert into gates (id, event_id, name, mode, reentry)
             values ($1, $2, $3, 'entry_and_exit', $4)",
        )
        .bind(id.as_uuid())
        .bind(self.event.as_uuid())
        .bind(name)
        .bind(reentry)
        .execute(app.store.pool())
        .await
        .unwrap();
        id
    }

    /// An imported attendee with one ticket.
    async fn attendee(
        &self,
        app: &TestApp,
        first: &str,
        last: &str,
        phone: Option<&str>,
        status: &str,
        status_hlc: Hlc,
    ) -> (AttendeeId, TicketId) {
        let attendee = AttendeeId::new(T0, &mut rng());
        let ticket = TicketId::new(T0, &mut rng());
        sqlx::query(
            "insert into attendees (id, event_id, first_name, last_name, phone) values ($1, $2, $3, $4, $5)",
        )
        .bind(attendee.as_uuid())
        .bind(self.event.as_uuid())
        .bind(first)
        .bind(last)
        .bind(phone)
        .execute(app.store.pool())
        .await
        .unwrap();
        sqlx::query(
            "insert into tickets (id, event_id, attendee_id, ticket_type_id, status, code, status_hlc)
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(ticket.as_uuid())
        .bind(self.event.as_uuid())
        .bind(attendee.as_uuid())
        .bind(self.ticket_type.as_uuid())
        .bind(status)
        .bind(format!("CODE-{ticket}"))
        .bind(status_hlc.to_i64().unwrap())
        .execute(app.store.pool())
        .await
        .unwrap();
        (attendee, ticket)
    }

    fn walk_in(&self, first: &str, last: &str, email: Option<&str>, phone: Option<&str>) -> WalkIn {
        let mut rng = rng();
        let attendee = AttendeeId::new(T0, &mut rng);
        let ticket = TicketId::new(T0, &mut rng);
        WalkIn {
            attendee: Attendee {
                id: attendee,
                first_name: first.into(),
                last_name: last.into(),
                email: email.map(Into::into),
                phone: phone.map(Into::into),
                answers: Default::default(),
                form: None,
            },
            ticket: Ticket {
                id: ticket,
                attendee_id: attendee,
                ticket_type_id: self.ticket_type,
                status: TicketStatus::Valid,
                code: format!("GP1:WALKIN-{ticket}"),
            },
            form: None,
        }
    }
}

/// A change of `kiosk` with the next seq, stamped `wall_ms` (offset from T0).
fn change(kiosk: &mut Kiosk, body: ChangeBody, wall_offset_ms: u64) -> Change {
    let seq = kiosk.next_seq;
    kiosk.next_seq += 1;
    Change::new(
        ChangeId::new(T0, &mut kiosk.rng),
        kiosk.device_id,
        seq,
        Hlc::new(T0.as_u64() + wall_offset_ms, 0),
        1,
        &body,
    )
}

fn admit(ticket: TicketId, gate: GateId, direction: Direction) -> ChangeBody {
    ChangeBody::CheckIn(CheckIn {
        id: CheckInId::new(T0, &mut rng()),
        ticket_id: ticket,
        gate_id: gate,
        direction,
        verdict: VerdictCode::Admitted,
        offline: true,
        scanned_at: T0,
        found_by: FoundBy::Code,
    })
}

fn check_in_id(change: &Change) -> String {
    change.payload["id"].as_str().unwrap().to_owned()
}

/// Pushes `changes` and answers the server's per-change results, whatever they are.
async fn push_answer(app: &TestApp, kiosk: &Kiosk, changes: &[Change]) -> PushResponse {
    let response = app
        .http
        .post(app.url("/api/v1/push"))
        .bearer_auth(&kiosk.token)
        .json(&json!({ "changes": changes }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

/// Pushes `changes`, every one of which must be accepted (or a duplicate).
async fn push(app: &TestApp, kiosk: &Kiosk, changes: &[Change]) -> PushResponse {
    let body = push_answer(app, kiosk, changes).await;
    for result in &body.results {
        assert!(
            matches!(
                result.status,
                ChangeStatus::Accepted | ChangeStatus::Duplicate
            ),
            "{result:?}"
        );
    }
    body
}

async fn conflicts(app: &TestApp, token: &str, event: EventId, query: &str) -> Vec<Value> {
    let response = app
        .http
        .get(app.url(&format!("/api/v1/admin/events/{event}/conflicts{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let body: Value = response.json().await.unwrap();
    body["conflicts"].as_array().unwrap().clone()
}

async fn open_for_device(app: &TestApp, token: &str) -> OpenConflicts {
    let response = app
        .http
        .get(app.url("/api/v1/conflicts"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

async fn resolve(app: &TestApp, token: &str, id: &str, body: Value) -> (u16, Value) {
    let response = app
        .http
        .post(app.url(&format!("/api/v1/admin/conflicts/{id}/resolve")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn scalar_i64(app: &TestApp, sql: &str, id: uuid::Uuid) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(app.store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn two_offline_kiosks_admitting_one_ticket_make_one_double_admission_stored_once() {
    let (db, app) = app().await;
    let venue = Venue::new(&app).await;
    let gate = venue.gate(&app, "North", "never").await;
    let (_, ticket) = venue
        .attendee(&app, "Ann", "Lee", None, "valid", Hlc::ZERO)
        .await;
    let (_, ticket2) = venue
        .attendee(&app, "Bo", "Ng", None, "valid", Hlc::ZERO)
        .await;
    let mut a = app.enrol(venue.event).await;
    let mut b = app.enrol(venue.event).await;
    let coordinator = app.staff("cora", Role::Coordinator).await;

    let a1 = change(&mut a, admit(ticket, gate, Direction::Entry), 1_000);
    let b1 = change(&mut b, admit(ticket, gate, Direction::Entry), 2_000);
    // The second ticket arrives in the other order: the later admission is pushed first.
    let a2 = change(&mut a, admit(ticket2, gate, Direction::Entry), 3_000);
    let b2 = change(&mut b, admit(ticket2, gate, Direction::Entry), 4_000);
    push(&app, &b, &[b1.clone(), b2.clone()]).await;
    push(&app, &a, &[a1.clone(), a2.clone()]).await;
    // Both batches replayed (lost acknowledgements): nothing new.
    push(&app, &a, &[a1.clone(), a2.clone()]).await;
    push(&app, &b, &[b1.clone(), b2.clone()]).await;

    app.store.catch_up(venue.event).await.unwrap();
    let stored = scalar_i64(
        &app,
        "select count(*) from check_ins where event_id = $1",
        venue.event.as_uuid(),
    )
    .await;
    assert_eq!(stored, 4, "every admission is kept as a fact");
    let found = conflicts(&app, &coordinator, venue.event, "?kind=double_admission").await;
    assert_eq!(found.len(), 2, "{found:#?}");
    let first = &found[0];
    assert_eq!(first["status"], "open");
    assert_eq!(first["detail"]["ticket_id"], ticket.to_string());
    assert_eq!(first["detail"]["first"]["check_in_id"], check_in_id(&a1));
    assert_eq!(first["detail"]["second"]["check_in_id"], check_in_id(&b1));
    assert_eq!(
        first["detail"]["first"]["device_id"],
        a.device_id.to_string()
    );
    assert_eq!(found[1]["detail"]["first"]["check_in_id"], check_in_id(&a2));
    let total = scalar_i64(
        &app,
        "select count(*) from conflicts where event_id = $1",
        venue.event.as_uuid(),
    )
    .await;
    assert_eq!(total, 2);

    // A coordinator marks one reviewed; it is audited, and cannot be resolved twice.
    let id = first["id"].as_str().unwrap();
    let (status, body) = resolve(
        &app,
        &coordinator,
        id,
        json!({ "action": "reviewed", "note": "same family, let in" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "resolved");
    assert_eq!(body["resolved_by"], "cora");
    assert_eq!(body["resolution"]["note"], "same family, let in");
    let (status, body) = resolve(&app, &coordinator, id, json!({ "action": "reviewed" })).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("conflict")));
    let (status, _) = resolve(
        &app,
        &coordinator,
        found[1]["id"].as_str().unwrap(),
        json!({ "action": "not_duplicate" }),
    )
    .await;
    assert_eq!(status, 422, "an action that does not fit the kind");
    let open = conflicts(&app, &coordinator, venue.event, "?status=open").await;
    assert_eq!(open.len(), 1);

    // Each kiosk of the event sees the open one on its coordinator screen, by record ids only;
    // a kiosk of another event sees none, and staff tokens are not device tokens.
    let seen = open_for_device(&app, &b.token).await;
    assert_eq!(seen.total_open, 1);
    assert_eq!(seen.conflicts.len(), 1);
    let notice = &seen.conflicts[0];
    assert_eq!(notice.id.to_string(), open[0]["id"].as_str().unwrap());
    assert_eq!(notice.kind, "double_admission");
    assert!(notice.records.contains(&ticket2.as_uuid()), "{notice:?}");
    let other_event = app.create_event().await;
    let stranger = app.enrol(other_event).await;
    let none = open_for_device(&app, &stranger.token).await;
    assert_eq!((none.total_open, none.conflicts.len()), (0, 0));
    let response = app
        .http
        .get(app.url("/api/v1/conflicts"))
        .bearer_auth(&coordinator)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where action = 'conflict.resolve' and target = $1",
    )
    .bind(id)
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert_eq!(audited, 1);

    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn admission_after_revocation_is_kept_and_flagged_and_exit_reentry_rules_hold() {
    let (db, app) = app().await;
    let venue = Venue::new(&app).await;
    let gate = venue.gate(&app, "Main", "after_exit").await;
    let revoked_at = Hlc::new(T0.as_u64() + 500, 0);
    let (_, revoked) = venue
        .attendee(&app, "Rev", "Oked", None, "revoked", revoked_at)
        .await;
    let (_, fine) = venue
        .attendee(&app, "Fi", "Ne", None, "valid", Hlc::ZERO)
        .await;
    let mut kiosk = app.enrol(venue.event).await;
    let admin = app.staff("ada", Role::Admin).await;

    let before = change(&mut kiosk, admit(revoked, gate, Direction::Entry), 100);
    let exit = change(&mut kiosk, admit(revoked, gate, Direction::Exit), 200);
    let after = change(&mut kiosk, admit(revoked, gate, Direction::Entry), 1_000);
    // Re-entry after an exit at an after_exit gate is fine; entering twice is not.
    let in1 = change(&mut kiosk, admit(fine, gate, Direction::Entry), 300);
    let out = change(&mut kiosk, admit(fine, gate, Direction::Exit), 400);
    let in2 = change(&mut kiosk, admit(fine, gate, Direction::Entry), 500);
    let in3 = change(&mut kiosk, admit(fine, gate, Direction::Entry), 600);
    let response = push(
        &app,
        &kiosk,
        &[
            before,
            exit,
            after.clone(),
            in1,
            out,
            in2.clone(),
            in3.clone(),
        ],
    )
    .await;
    assert!(
        response
            .results
            .iter()
            .all(|r| r.status == ChangeStatus::Accepted),
        "offline check-ins are facts, never refused"
    );
    let found = conflicts(&app, &admin, venue.event, "").await;
    let kinds: Vec<&str> = found.iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["double_admission", "admitted_while_revoked"],
        "{found:#?}"
    );
    assert_eq!(
        found[0]["detail"]["first"]["check_in_id"],
        check_in_id(&in2)
    );
    assert_eq!(
        found[0]["detail"]["second"]["check_in_id"],
        check_in_id(&in3)
    );
    let flagged = &found[1]["detail"];
    assert_eq!(flagged["admission"]["check_in_id"], check_in_id(&after));
    assert_eq!(flagged["status_hlc"]["wall_ms"], revoked_at.wall_ms);

    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn annulments_count_only_from_the_device_that_checked_in() {
    let (db, app) = app().await;
    let venue = Venue::new(&app).await;
    let gate = venue.gate(&app, "Turnstile", "never").await;
    let (_, ticket) = venue
        .attendee(&app, "Tu", "Rn", None, "valid", Hlc::ZERO)
        .await;
    let mut a = app.enrol(venue.event).await;
    let mut b = app.enrol(venue.event).await;
    let admin = app.staff("ada", Role::Admin).await;

    let first = change(&mut a, admit(ticket, gate, Direction::Entry), 1_000);
    let second = change(&mut a, admit(ticket, gate, Direction::Entry), 2_000);
    push(&app, &a, &[first.clone(), second.clone()]).await;
    assert_eq!(
        conflicts(&app, &admin, venue.event, "?status=open")
            .await
            .len(),
        1
    );

    let annul = |c: &Change| {
        ChangeBody::CheckInAnnulment(CheckInAnnulment {
            check_in_id: c.payload["id"].as_str().unwrap().parse().unwrap(),
            ticket_id: ticket,
            reason: "turnstile did not turn".into(),
        })
    };
    // Another device cannot annul it.
    let foreign = change(&mut b, annul(&second), 3_000);
    push(&app, &b, &[foreign]).await;
    assert_eq!(
        conflicts(&app, &admin, venue.event, "?status=open")
            .await
            .len(),
        1
    );
    // The device that made it can, within the window: the double admission no longer holds.
    let own = change(&mut a, annul(&second), 3_000);
    push(&app, &a, &[own]).await;
    app.store.catch_up(venue.event).await.unwrap();
    let annulled: bool = sqlx::query_scalar("select annulled from check_ins where id = $1")
        .bind(check_in_id(&second).parse::<uuid::Uuid>().unwrap())
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert!(annulled);
    assert!(
        conflicts(&app, &admin, venue.event, "?status=open")
            .await
            .is_empty()
    );
    let resolved = conflicts(&app, &admin, venue.event, "?status=resolved").await;
    assert_eq!(resolved[0]["resolution"]["action"], "annulled");
    // Too late: 20 minutes after the check-in.
    let third = change(&mut a, admit(ticket, gate, Direction::Entry), 4_000);
    let late = change(&mut a, annul(&third), 4_000 + 20 * 60_000);
    push(&app, &a, &[third.clone(), late]).await;
    let open = conflicts(&app, &admin, venue.event, "?status=open").await;
    assert_eq!(open.len(), 1);
    assert_eq!(
        open[0]["detail"]["second"]["check_in_id"],
        check_in_id(&third)
    );

    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn duplicate_walk_ins_are_flagged_and_a_merge_makes_check_ins_follow() {
    let (db, app) = app().await;
    let venue = Venue::new(&app).await;
    let gate = venue.gate(&app, "North", "never").await;
    let (imported, _) = venue
        .attendee(
            &app,
            "Ada",
            "Lovelace",
            Some("+44 20 7946 0000"),
            "valid",
            Hlc::ZERO,
        )
        .await;
    let mut a = app.enrol(venue.event).await;
    let mut b = app.enrol(venue.event).await;
    let coordinator = app.staff("cora", Role::Coordinator).await;

    let grace_a = venue.walk_in("Grace", "Hopper", Some("grace@example.org"), None);
    let grace_b = venue.walk_in("grace", "hopper", Some(" GRACE@example.org"), None);
    let ada = venue.walk_in("Ada", "Lovelace", None, Some("020 7946 0000"));
    let other = venue.walk_in("Alan", "Turing", Some("alan@example.org"), None);
    let wa = change(&mut a, ChangeBody::WalkIn(grace_a.clone()), 1_000);
    let wb = change(&mut b, ChangeBody::WalkIn(grace_b.clone()), 2_000);
    let wada = change(&mut b, ChangeBody::WalkIn(ada.clone()), 3_000);
    let wother = change(&mut a, ChangeBody::WalkIn(other), 4_000);
    push(&app, &b, &[wb.clone(), wada.clone()]).await;
    push(&app, &a, &[wa.clone(), wother.clone()]).await;
    push(&app, &a, &[wa, wother]).await;
    app.store.catch_up(venue.event).await.unwrap();

    let walk_ins: i64 = scalar_i64(
        &app,
        "select count(*) from attendees where event_id = $1 and created_by_device is not null",
        venue.event.as_uuid(),
    )
    .await;
    assert_eq!(
        walk_ins, 4,
        "walk-ins are stored, never merged automatically"
    );
    let found = conflicts(&app, &coordinator, venue.event, "?kind=possible_duplicate").await;
    assert_eq!(found.len(), 2, "{found:#?}");
    let grace = found
        .iter()
        .find(|c| c["detail"]["reason"] == "same_email")
        .unwrap();
    assert_eq!(grace["detail"]["older"], grace_a.attendee.id.to_string());
    assert_eq!(grace["detail"]["newer"], grace_b.attendee.id.to_string());
    let lovelace = found
        .iter()
        .find(|c| c["detail"]["reason"] == "same_name_and_phone")
        .unwrap();
    assert_eq!(lovelace["detail"]["older"], imported.to_string());
    let (status, _) = resolve(
        &app,
        &coordinator,
        lovelace["id"].as_str().unwrap(),
        json!({ "action": "not_duplicate", "note": "mother and daughter" }),
    )
    .await;
    assert_eq!(status, 200);

    // A stranger is not a party to the conflict.
    let (status, _) = resolve(
        &app,
        &coordinator,
        grace["id"].as_str().unwrap(),
        json!({ "action": "merge", "keep": imported }),
    )
    .await;
    assert_eq!(status, 422);
    // Merge: keep the first registration; the second becomes its alias.
    let (status, body) = resolve(
        &app,
        &coordinator,
        grace["id"].as_str().unwrap(),
        json!({ "action": "merge", "keep": grace_a.attendee.id }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resolution"]["alias"], grace_b.attendee.id.to_string());
    assert_eq!(body["resolution"]["ticket"], grace_a.ticket.id.to_string());

    // Grace enters with her first badge at A, then with the second badge at B: one person,
    // admitted twice at a gate without re-entry.
    let first = change(
        &mut a,
        admit(grace_a.ticket.id, gate, Direction::Entry),
        5_000,
    );
    let second = change(
        &mut b,
        admit(grace_b.ticket.id, gate, Direction::Entry),
        6_000,
    );
    push(&app, &a, std::slice::from_ref(&first)).await;
    push(&app, &b, std::slice::from_ref(&second)).await;
    let doubles = conflicts(&app, &coordinator, venue.event, "?kind=double_admission").await;
    assert_eq!(doubles.len(), 1, "{doubles:#?}");
    assert_eq!(
        doubles[0]["detail"]["ticket_id"],
        grace_a.ticket.id.to_string()
    );
    assert_eq!(
        doubles[0]["detail"]["second"]["check_in_id"],
        check_in_id(&second)
    );

    // The registrations export shows the alias; the check-ins export follows it to the
    // kept attendee.
    let csv = get_text(&app, &coordinator, venue.event, "export/registrations.csv").await;
    let line = csv
        .lines()
        .find(|l| l.starts_with(&grace_b.attendee.id.to_string()))
        .unwrap();
    assert!(line.contains(&grace_a.attendee.id.to_string()), "{line}");
    let csv = get_text(&app, &coordinator, venue.event, "export/check-ins.csv").await;
    let line = csv
        .lines()
        .find(|l| l.starts_with(&check_in_id(&second)))
        .unwrap();
    assert!(line.contains(&grace_a.attendee.id.to_string()), "{line}");

    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_walk_in_whose_code_is_taken_is_kept_and_its_ticket_parked() {
    let (db, app) = app().await;
    let venue = Venue::new(&app).await;
    let (_, taken) = venue
        .attendee(&app, "Old", "Badge", None, "valid", Hlc::ZERO)
        .await;
    let mut kiosk = app.enrol(venue.event).await;
    let admin = app.staff("ada", Role::Admin).await;
    let mut walk_in = venue.walk_in("New", "Person", None, None);
    walk_in.ticket.code = format!("CODE-{taken}");
    let c = change(&mut kiosk, ChangeBody::WalkIn(walk_in.clone()), 1_000);
    push(&app, &kiosk, &[c]).await;
    app.store.catch_up(venue.event).await.unwrap();
    let kept = scalar_i64(
        &app,
        "select count(*) from attendees where id = $1",
        walk_in.attendee.id.as_uuid(),
    )
    .await;
    assert_eq!(kept, 1);
    let found = conflicts(&app, &admin, venue.event, "?kind=parked_ticket").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["detail"]["reason"], "code_clash");
    let (status, _) = resolve(
        &app,
        &admin,
        found[0]["id"].as_str().unwrap(),
        json!({ "action": "reviewed", "note": "reissued" }),
    )
    .await;
    assert_eq!(status, 200);
    app.stop().await;
    db.drop_db().await;
}

fn edit(attendee: AttendeeId, field: &str, value: Value, seen: Option<Hlc>) -> ChangeBody {
    ChangeBody::AttendeeEdit(AttendeeEdit {
        attendee_id: attendee,
        fields: [(field.to_owned(), FieldEdit { value, seen })].into(),
    })
}

#[tokio::test]
async fn conflicting_edits_keep_both_values_and_a_pick_wins() {
    let (db, app) = app().await;
    let venue = Venue::new(&app).await;
    let (attendee, _) = venue
        .attendee(&app, "An", "Smith", None, "valid", Hlc::ZERO)
        .await;
    let mut a = app.enrol(venue.event).await;
    let mut b = app.enrol(venue.event).await;
    let coordinator = app.staff("cora", Role::Coordinator).await;

    let ea = change(
        &mut a,
        edit(attendee, "first_name", json!("Ann"), None),
        1_000,
    );
    let eb = change(
        &mut b,
        edit(attendee, "first_name", json!("Anne"), None),
        2_000,
    );
    // An edit that saw the current value is no conflict.
    let seen = Hlc::new(T0.as_u64() + 2_000, 0);
    let ec = change(
        &mut b,
        edit(attendee, "last_name", json!("Smyth"), None),
        2_500,
    );
    let ed = change(
        &mut a,
        edit(attendee, "answers.diet", json!("vegan"), Some(seen)),
        3_000,
    );
    push(&app, &b, &[eb, ec]).await;
    push(&app, &a, &[ea, ed]).await;
    app.store.catch_up(venue.event).await.unwrap();

    let row: (String, String, Value) =
        sqlx::query_as("select first_name, last_name, answers from attendees where id = $1")
            .bind(attendee.as_uuid())
            .fetch_one(app.store.pool())
            .await
            .unwrap();
    assert_eq!(row.0, "Anne", "the last writer by HLC wins");
    assert_eq!(row.1, "Smyth");
    assert_eq!(row.2["diet"], "vegan");
    let edits = scalar_i64(
        &app,
        "select count(*) from attendee_edits where attendee_id = $1",
        attendee.as_uuid(),
    )
    .await;
    assert_eq!(edits, 4, "every version is kept");
    let found = conflicts(&app, &coordinator, venue.event, "?kind=field_conflict").await;
    assert_eq!(found.len(), 1, "{found:#?}");
    let detail = &found[0]["detail"];
    assert_eq!(detail["field"], "first_name");
    assert_eq!(detail["overwritten"]["value"], "Ann");
    assert_eq!(detail["overwriting"]["value"], "Anne");

    let (status, _) = resolve(
        &app,
        &coordinator,
        found[0]["id"].as_str().unwrap(),
        json!({ "action": "pick" }),
    )
    .await;
    assert_eq!(status, 422, "pick needs a side or a value");
    let (status, body) = resolve(
        &app,
        &coordinator,
        found[0]["id"].as_str().unwrap(),
        json!({ "action": "pick", "side": "overwritten", "note": "she spells it Ann" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let name: String = sqlx::query_scalar("select first_name from attendees where id = $1")
        .bind(attendee.as_uuid())
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(name, "Ann");
    assert!(
        conflicts(&app, &coordinator, venue.event, "?status=open")
            .await
            .is_empty(),
        "the picked value saw the winner: no new conflict"
    );

    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn only_staff_reach_conflicts_and_reports() {
    let (db, app) = app().await;
    let venue = Venue::new(&app).await;
    let kiosk = app.enrol(venue.event).await;
    let event = venue.event;
    for path in [
        format!("/api/v1/admin/events/{event}/conflicts"),
        format!("/api/v1/admin/events/{event}/stats"),
        format!("/api/v1/admin/events/{event}/export/check-ins.csv"),
    ] {
        let response = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path} without a token");
        let response = app
            .http
            .get(app.url(&path))
            .bearer_auth(&kiosk.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path} with a kiosk token");
    }
    let id = uuid::Uuid::now_v7();
    let response = app
        .http
        .post(app.url(&format!("/api/v1/admin/conflicts/{id}/resolve")))
        .json(&json!({ "action": "reviewed" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let coordinator = app.staff("cora", Role::Coordinator).await;
    let (status, body) = resolve(
        &app,
        &coordinator,
        &id.to_string(),
        json!({ "action": "reviewed" }),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let unknown = EventId::new(T0, &mut rng());
    let response = app
        .http
        .get(app.url(&format!("/api/v1/admin/events/{unknown}/conflicts")))
        .bearer_auth(&coordinator)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    app.stop().await;
    db.drop_db().await;
}

async fn get_text(app: &TestApp, token: &str, event: EventId, path: &str) -> String {
    let response = app
        .http
        .get(app.url(&format!("/api/v1/admin/events/{event}/{path}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[tokio::test]
async fn exports_and_counts_per_gate_and_hour() {
    let (db, app) = app().await;
    let venue = Venue::new(&app).await;
    let north = venue.gate(&app, "North", "always").await;
    let south = venue.gate(&app, "South, side door", "always").await;
    let (_, t1) = venue
        .attendee(&app, "=cmd", "Evil", None, "valid", Hlc::ZERO)
        .await;
    let (_, t2) = venue
        .attendee(&app, "Bo", "Ng", None, "valid", Hlc::ZERO)
        .await;
    let mut kiosk = app.enrol(venue.event).await;
    let coordinator = app.staff("cora", Role::Coordinator).await;
    let hour = 3_600_000;
    let refused = ChangeBody::CheckIn(CheckIn {
        id: CheckInId::new(T0, &mut rng()),
        ticket_id: t2,
        gate_id: south,
        direction: Direction::Entry,
        verdict: VerdictCode::WrongGate,
        offline: false,
        scanned_at: T0,
        // Picked from a search by name at the kiosk: the export says so.
        found_by: FoundBy::Search,
    });
    let failed = ChangeBody::FailedScan(FailedScan {
        id: CheckInId::new(T0, &mut rng()),
        gate_id: south,
        direction: Direction::Entry,
        ticket_id: None,
        verdict: VerdictCode::Unknown,
        scanned_text: "HELLO, \"WORLD\"".into(),
        offline: false,
        scanned_at: T0,
        found_by: FoundBy::Code,
    });
    let changes = vec![
        change(&mut kiosk, admit(t1, north, Direction::Entry), 0),
        change(&mut kiosk, admit(t1, north, Direction::Exit), 10),
        change(&mut kiosk, admit(t1, north, Direction::Entry), hour),
        change(&mut kiosk, admit(t2, south, Direction::Entry), hour + 1),
        change(&mut kiosk, refused, hour + 2),
        change(&mut kiosk, failed, hour + 3),
        // 22:13 UTC is 00:13 on the next day at the venue (Europe/Berlin, UTC+2).
        change(&mut kiosk, admit(t2, north, Direction::Exit), 8 * hour),
    ];
    push(&app, &kiosk, &changes).await;

    let response = app
        .http
        .get(app.url(&format!("/api/v1/admin/events/{}/stats", venue.event)))
        .bearer_auth(&coordinator)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let stats: Value = response.json().await.unwrap();
    assert_eq!(stats["admitted"], 3);
    assert_eq!(stats["exits"], 2);
    assert_eq!(stats["refused"], 2);
    assert_eq!(stats["tickets_admitted"], 2);
    let gates = stats["gates"].as_array().unwrap();
    let by_name = |name: &str| gates.iter().find(|g| g["name"] == name).unwrap().clone();
    assert_eq!(by_name("North")["admitted"], 2);
    assert_eq!(by_name("North")["exits"], 2);
    // Venue days, midnight to midnight in the event's time zone, as a kiosk counts "today".
    let days = stats["days"].as_array().unwrap();
    assert_eq!(days.len(), 2, "{stats}");
    assert_eq!(days[0]["day"], "2026-09-21");
    assert_eq!(
        (&days[0]["admitted"], &days[0]["exits"], &days[0]["refused"]),
        (&json!(3), &json!(1), &json!(2))
    );
    assert_eq!(days[0]["tickets_admitted"], 2);
    assert_eq!(days[0]["gates"].as_array().unwrap().len(), 2);
    assert_eq!(days[1]["day"], "2026-09-22");
    assert_eq!(
        (
            &days[1]["admitted"],
            &days[1]["exits"],
            &days[1]["tickets_admitted"]
        ),
        (&json!(0), &json!(1), &json!(0))
    );
    let late = days[1]["gates"].as_array().unwrap();
    assert_eq!((late.len(), &late[0]["name"]), (1, &json!("North")));
    assert_eq!(by_name("South, side door")["admitted"], 1);
    assert_eq!(by_name("South, side door")["refused"], 2);
    let hours = stats["hours"].as_array().unwrap();
    let counted: Vec<u64> = hours
        .iter()
        .map(|h| h["admitted"].as_u64().unwrap())
        .collect();
    let first_hour = T0.as_u64() / hour * hour;
    assert_eq!(hours[0]["hour"], first_hour);
    assert_eq!(counted.iter().sum::<u64>(), 3);

    let csv = get_text(&app, &coordinator, venue.event, "export/check-ins.csv").await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 8, "{csv}");
    assert!(lines[0].starts_with("check_in_id,ticket_id,attendee_id,attendee_name,gate_id"));
    assert!(csv.contains("\"South, side door\""), "{csv}");
    assert!(csv.contains("'=cmd Evil"), "formulas are defused: {csv}");
    assert!(lines[0].ends_with(",found_by"), "{csv}");
    for line in &lines[1..] {
        let found_by = if line.contains("wrong_gate") {
            ",search"
        } else {
            ",code"
        };
        assert!(line.ends_with(found_by), "{line}");
    }
    assert!(csv.contains("2026-09-21T"), "{csv}");
    let registrations = get_text(&app, &coordinator, venue.event, "export/registrations.csv").await;
    assert_eq!(registrations.lines().count(), 3, "{registrations}");
    assert!(registrations.contains("Day pass"));
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn an_oversized_or_control_character_walk_in_is_parked_and_the_rest_of_the_push_goes_in() {
    let (db, app) = app().await;
    let venue = Venue::new(&app).await;
    let mut kiosk = app.enrol(venue.event).await;
    let long_email = format!("{}@example.org", "a".repeat(5_000));
    let huge = venue.walk_in("Long", "Mail", Some(&long_email), None);
    let bell = venue.walk_in("Ring\u{7}", "Bell", None, None);
    let fine = venue.walk_in("Fine", "Person", Some("fine@example.org"), None);
    let mut big_answers = venue.walk_in("Many", "Answers", None, None);
    big_answers
        .attendee
        .answers
        .insert("essay".into(), json!("x".repeat(70 * 1024)));
    let changes: Vec<Change> = [&huge, &bell, &fine, &big_answers]
        .into_iter()
        .map(|w| change(&mut kiosk, ChangeBody::WalkIn(w.clone()), 1_000))
        .collect();
    let body = push_answer(&app, &kiosk, &changes).await;
    let codes: Vec<Option<sync_protocol::wire::RejectCode>> = body
        .results
        .iter()
        .map(|r| match &r.status {
            ChangeStatus::Rejected { code, .. } => Some(*code),
            _ => None,
        })
        .collect();
    use sync_protocol::wire::RejectCode::InvalidPayload;
    assert_eq!(
        codes,
        vec![
            Some(InvalidPayload),
            Some(InvalidPayload),
            None,
            Some(InvalidPayload)
        ],
        "{body:?}"
    );
    // Only the fine one reached the attendees; the others are kept as parked rejections.
    app.store.catch_up(venue.event).await.unwrap();
    for (walk_in, kept) in [(&huge, 0), (&bell, 0), (&fine, 1), (&big_answers, 0)] {
        let n = scalar_i64(
            &app,
            "select count(*) from attendees where id = $1",
            walk_in.attendee.id.as_uuid(),
        )
        .await;
        assert_eq!(n, kept, "{}", walk_in.attendee.first_name);
    }

    // An enrolment label with a control character is a clear 422, not a 500.
    let token = app.enrolment_token(venue.event).await;
    let response = app
        .http
        .post(app.url("/api/v1/enrol"))
        .json(&sync_protocol::wire::EnrolmentRequest {
            token,
            device_public_key: SecretKey::generate(&mut rng()).public_key(),
            label: "gate\u{0}one".into(),
            app_version: "test".into(),
        })
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        (status, error["code"].as_str()),
        (422, Some("validation_failed")),
        "{error}"
    );
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_change_that_cannot_be_filed_is_shown_to_coordinators_and_the_rest_is_filed() {
    let (db, app) = app().await;
    let venue = Venue::new(&app).await;
    let damaged = venue.gate(&app, "Damaged", "never").await;
    let fine = venue.gate(&app, "Fine", "never").await;
    let (_, first) = venue
        .attendee(&app, "Ann", "Lee", None, "valid", Hlc::ZERO)
        .await;
    let (_, second) = venue
        .attendee(&app, "Bo", "Ng", None, "valid", Hlc::ZERO)
        .await;
    let mut kiosk = app.enrol(venue.event).await;
    let coordinator = app.staff("cora", Role::Coordinator).await;
    // A fault no retry fixes: the database refuses check-ins at one gate.
    for statement in [
        format!(
            "create function refuse_damaged_gate() returns trigger language plpgsql as $$
             begin
               if new.gate_id = '{damaged}' then
                 raise exception 'damaged row at the gate' using errcode = '23514';
               end if;
               return new;
             end $$"
        ),
        "create trigger refuse_damaged_gate before insert on check_ins
         for each row execute function refuse_damaged_gate()"
            .to_owned(),
    ] {
        sqlx::query(&statement)
            .execute(app.store.pool())
            .await
            .unwrap();
    }

    let bad = change(&mut kiosk, admit(first, damaged, Direction::Entry), 1_000);
    let good = change(&mut kiosk, admit(second, fine, Direction::Entry), 2_000);
    let pushed = push(&app, &kiosk, &[bad.clone(), good.clone()]).await;
    assert_eq!(
        pushed.acknowledged_seq, good.seq,
        "both are stored: the queue moves on"
    );

    // The good one has its effect; the bad one is not dropped in silence.
    app.store.catch_up(venue.event).await.unwrap();
    let filed = |ticket: TicketId| {
        scalar_i64(
            &app,
            "select count(*) from check_ins where ticket_id = $1",
            ticket.as_uuid(),
        )
    };
    assert_eq!((filed(first).await, filed(second).await), (0, 1));
    let open = conflicts(&app, &coordinator, venue.event, "?kind=unfiled_change").await;
    assert_eq!(open.len(), 1, "{open:#?}");
    let detail = &open[0]["detail"];
    assert_eq!(detail["seq"], bad.seq);
    assert_eq!(detail["change_kind"], "check_in");
    assert_eq!(detail["device_id"], kiosk.device_id.to_string());
    assert!(
        detail["reason"]
            .as_str()
            .unwrap()
            .contains("damaged row at the gate"),
        "{detail}"
    );
    assert_eq!(open[0]["records"][0], first.to_string());
    // Kiosks of the event see it too, and a coordinator marks it reviewed.
    let seen = open_for_device(&app, &kiosk.token).await;
    assert!(seen.conflicts.iter().any(|c| c.kind == "unfiled_change"));
    let (status, body) = resolve(
        &app,
        &coordinator,
        open[0]["id"].as_str().unwrap(),
        json!({ "action": "reviewed", "note": "re-entered by hand" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // A replay of the push changes nothing and files no second conflict.
    push(&app, &kiosk, &[bad, good]).await;
    let all = conflicts(&app, &coordinator, venue.event, "?kind=unfiled_change").await;
    assert_eq!(all.len(), 1);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_check_in_naming_another_events_ticket_takes_nothing_from_it() {
    let (db, app) = app().await;
    let here = Venue::new(&app).await;
    let elsewhere = Venue::new(&app).await;
    let gate = here.gate(&app, "North", "never").await;
    let revoked_at = Hlc::new(T0.as_u64() + 500, 0);
    let (_, foreign) = elsewhere
        .attendee(&app, "Rev", "Oked", None, "revoked", revoked_at)
        .await;
    let mut kiosk = app.enrol(here.event).await;
    let admin = app.staff("ada", Role::Admin).await;
    // A damaged (or hostile) kiosk of this event admits a ticket id of the other event.
    let c = change(&mut kiosk, admit(foreign, gate, Direction::Entry), 1_000);
    push(&app, &kiosk, &[c]).await;
    // The other event's revocation says nothing about this event: no "admitted while revoked"
    // here, and nothing there.
    assert!(conflicts(&app, &admin, here.event, "").await.is_empty());
    assert!(
        conflicts(&app, &admin, elsewhere.event, "")
            .await
            .is_empty()
    );
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_status_set_by_an_instance_whose_clock_is_behind_still_stamps_later() {
    use sync_server::store::CatalogueStore;
    let (db, app) = app().await;
    let venue = Venue::new(&app).await;
    let (_, ticket) = venue
        .attendee(&app, "Ann", "Lee", None, "valid", Hlc::ZERO)
        .await;
    let ahead = Hlc::new(T0.as_u64() + 60_000, 3);
    let behind = Hlc::new(T0.as_u64() + 1_000, 0);
    let stamp = || {
        scalar_i64(
            &app,
            "select status_hlc from tickets where id = $1",
            ticket.as_uuid(),
        )
    };
    // Instance A (clock ahead) revokes; instance B (clock a minute behind) reinstates after.
    app.store
        .set_ticket_status(ticket, TicketStatus::Revoked, ahead, |_| {
            support::test_audit("ticket.revoke")
        })
        .await
        .unwrap();
    assert_eq!(stamp().await, ahead.to_i64().unwrap());
    app.store
        .set_ticket_status(ticket, TicketStatus::Valid, behind, |_| {
            support::test_audit("ticket.reinstate")
        })
        .await
        .unwrap();
    let reinstated = Hlc::from_i64(stamp().await).unwrap();
    assert!(
        reinstated > ahead,
        "the later change wins on every kiosk: {reinstated:?}"
    );
    // The feed carries the same stamp.
    let fed: Value = sqlx::query_scalar(
        "select item->'hlc' from feed
         where event_id = $1 and item->>'type' = 'ticket_status' order by pos desc limit 1",
    )
    .bind(venue.event.as_uuid())
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert_eq!(serde_json::from_value::<Hlc>(fed).unwrap(), reinstated);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_filing_waiting_on_a_merge_reads_the_merge_and_finds_the_double_admission() {
    let (db, app) = app().await;
    let venue = Venue::new(&app).await;
    let gate = venue.gate(&app, "North", "never").await;
    let (keep, kept) = venue
        .attendee(&app, "Ann", "Lee", None, "valid", Hlc::ZERO)
        .await;
    let (other, merged) = venue
        .attendee(&app, "Ann", "Lee", None, "valid", Hlc::ZERO)
        .await;
    let mut a = app.enrol(venue.event).await;
    let mut b = app.enrol(venue.event).await;
    let first = change(&mut a, admit(kept, gate, Direction::Entry), 1_000);
    push(&app, &a, &[first]).await;

    // A merge of the two tickets holds their locks (as the server's merge takes them) and has
    // written the alias, not yet committed.
    let pool = support::raw_pool(&db).await;
    // A raw pool of the test, not the server's.
    #[allow(clippy::disallowed_methods)]
    let mut merge = pool.begin().await.unwrap();
    let plan = sync_server::ingest::lock_keys(
        venue.event.as_uuid(),
        [kept.as_uuid(), merged.as_uuid()],
        [keep.as_uuid(), other.as_uuid()],
        true,
    );
    let keys: Vec<i64> = plan.steps.iter().flat_map(|(k, _)| k.clone()).collect();
    sqlx::query("select pg_advisory_xact_lock(k) from unnest($1::bigint[]) k order by k")
        .bind(&keys)
        .execute(&mut *merge)
        .await
        .unwrap();
    sqlx::query("insert into ticket_aliases (alias_id, ticket_id, event_id) values ($1, $2, $3)")
        .bind(merged.as_uuid())
        .bind(kept.as_uuid())
        .bind(venue.event.as_uuid())
        .execute(&mut *merge)
        .await
        .unwrap();

    // Another kiosk admits the merged ticket meanwhile: the push is stored and answered at once,
    // and a filing of it (a catch-up: the filer itself waits for the open merge to settle) waits
    // for the merge's locks.
    let admission = change(&mut b, admit(merged, gate, Direction::Entry), 2_000);
    push(&app, &b, &[admission]).await;
    let filing = {
        let store = app.store.clone();
        let event = venue.event;
        tokio::spawn(async move { store.catch_up(event).await })
    };
    let mut waiting = false;
    for _ in 0..200 {
        let waiters: i64 = sqlx::query_scalar(
            "select count(*) from pg_locks where locktype = 'advisory' and not granted
               and database = (select oid from pg_database where datname = current_database())",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if waiters > 0 {
            waiting = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(waiting, "the filing waits on the merge's locks");
    merge.commit().await.unwrap();
    filing.await.unwrap().unwrap();

    // The filing read the aliases once it held its locks: both admissions count for one ticket.
    let coordinator = app.staff("cora", Role::Coordinator).await;
    let found = conflicts(&app, &coordinator, venue.event, "?kind=double_admission").await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["detail"]["ticket_id"], kept.to_string());
    app.stop().await;
    db.drop_db().await;
}

/// What the filer filed for an event, as one value to compare.
async fn filed_state(app: &TestApp, event: EventId) -> Value {
    sqlx::query_scalar(
        "select jsonb_build_object(
           'check_ins', (select jsonb_agg(jsonb_build_array(id, annulled) order by id)
                         from check_ins where event_id = $1),
           'attendees', (select jsonb_agg(jsonb_build_array(id, first_name, last_name, email)
                         order by id) from attendees where event_id = $1),
           'tickets', (select jsonb_agg(jsonb_build_array(id, status, code) order by id)
                       from tickets where event_id = $1),
           'parked', (select jsonb_agg(ticket_id order by ticket_id)
                      from parked_walk_in_tickets where event_id = $1),
           'edits', (select count(*) from attendee_edits where event_id = $1),
           'conflicts', (select jsonb_agg(jsonb_build_array(id, kind, status, records) order by id)
                         from conflicts where event_id = $1))",
    )
    .bind(event.as_uuid())
    .fetch_one(app.store.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn a_push_is_answered_at_once_and_the_filer_files_it_unasked() {
    let (db, app) = app().await;
    let venue = Venue::new(&app).await;
    let gate = venue.gate(&app, "North", "never").await;
    let (_, ticket) = venue
        .attendee(&app, "Di", "Ng", None, "valid", Hlc::ZERO)
        .await;
    let mut a = app.enrol(venue.event).await;
    let mut b = app.enrol(venue.event).await;
    let first = change(&mut a, admit(ticket, gate, Direction::Entry), 1_000);
    push(&app, &a, &[first]).await;
    let second = change(&mut b, admit(ticket, gate, Direction::Entry), 2_000);
    push(&app, &b, &[second]).await;

    // No read asks for a catch-up: the filer, rung by the pushes, files both admissions, finds
    // the double admission and moves its position to the feed's head.
    let start = std::time::Instant::now();
    loop {
        let (check_ins, doubles): (i64, i64) = sqlx::query_as(
            "select (select count(*) from check_ins where event_id = $1),
                    (select count(*) from conflicts where event_id = $1
                       and kind = 'double_admission')",
        )
        .bind(venue.event.as_uuid())
        .fetch_one(app.store.pool())
        .await
        .unwrap();
        let behind = app.filer_behind(venue.event).await;
        if (check_ins, doubles, behind) == (2, 1, false) {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "the filer has not filed the pushes: {check_ins} check-ins, {doubles} conflicts, \
             behind: {behind}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn filing_the_whole_feed_again_changes_nothing() {
    let (db, app) = app().await;
    let venue = Venue::new(&app).await;
    let gate = venue.gate(&app, "North", "never").await;
    let (attendee, ticket) = venue
        .attendee(&app, "Ed", "Ge", None, "valid", Hlc::ZERO)
        .await;
    let (_, taken) = venue
        .attendee(&app, "Old", "Badge", None, "valid", Hlc::ZERO)
        .await;
    let mut a = app.enrol(venue.event).await;
    let mut b = app.enrol(venue.event).await;
    let admin = app.staff("ada", Role::Admin).await;

    // A day's mix: a double admission, one admission annulled by its kiosk, duplicate walk-ins,
    // a walk-in whose code is taken, and two edits of one field.
    let twice = change(&mut a, admit(ticket, gate, Direction::Entry), 1_000);
    let again = change(&mut b, admit(ticket, gate, Direction::Entry), 2_000);
    let annulled = change(&mut a, admit(ticket, gate, Direction::Entry), 3_000);
    let annulment = change(
        &mut a,
        ChangeBody::CheckInAnnulment(CheckInAnnulment {
            check_in_id: check_in_id(&annulled).parse().unwrap(),
            ticket_id: ticket,
            reason: "scanned twice".into(),
        }),
        4_000,
    );
    let grace_a = venue.walk_in("Grace", "Hopper", Some("grace@example.org"), None);
    let grace_b = venue.walk_in("Grace", "Hopper", Some("grace@example.org"), None);
    let mut clash = venue.walk_in("New", "Person", None, None);
    clash.ticket.code = format!("CODE-{taken}");
    let wa = change(&mut a, ChangeBody::WalkIn(grace_a), 5_000);
    let wb = change(&mut b, ChangeBody::WalkIn(grace_b), 6_000);
    let wc = change(&mut b, ChangeBody::WalkIn(clash), 7_000);
    let ea = change(
        &mut a,
        edit(attendee, "first_name", json!("Eddie"), None),
        8_000,
    );
    let eb = change(
        &mut b,
        edit(attendee, "first_name", json!("Ed"), None),
        9_000,
    );
    push(&app, &a, &[twice, annulled, annulment, wa, ea]).await;
    push(&app, &b, &[again, wb, wc, eb]).await;

    // The conflict list catches the filer up; a coordinator resolves one conflict.
    let open = conflicts(&app, &admin, venue.event, "").await;
    let mut kinds: Vec<&str> = open.iter().map(|c| c["kind"].as_str().unwrap()).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "double_admission",
            "field_conflict",
            "parked_ticket",
            "possible_duplicate"
        ],
        "{open:#?}"
    );
    let duplicate = open
        .iter()
        .find(|c| c["kind"] == "possible_duplicate")
        .unwrap();
    let (status, body) = resolve(
        &app,
        &admin,
        duplicate["id"].as_str().unwrap(),
        json!({ "action": "not_duplicate", "note": "two people" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let before = filed_state(&app, venue.event).await;

    // As after a crash between a filing and the move of its position: the whole feed again.
    sqlx::query("delete from filer_positions where event_id = $1")
        .bind(venue.event.as_uuid())
        .execute(app.store.pool())
        .await
        .unwrap();
    app.store.catch_up(venue.event).await.unwrap();
    assert_eq!(filed_state(&app, venue.event).await, before);
    app.stop().await;
    db.drop_db().await;
}

/// The (first, second) check-in ids of the double admissions in `found`.
fn admission_pairs(found: &[Value]) -> std::collections::BTreeSet<(String, String)> {
    found
        .iter()
        .filter(|c| c["kind"] == "double_admission")
        .map(|c| {
            let id = |side: &str| {
                c["detail"][side]["check_in_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            };
            (id("first"), id("second"))
        })
        .collect()
}

/// Conflicts follow from the set of facts, whatever order they reach the server in (found by
/// the convergence test, seeds 13 and 42): an admission that arrives late but comes first (an
/// offline kiosk, a clock behind) replaces the double admission found between two later ones;
/// a ticket revoked after an admission stamped later was filed flags it, as it does the other
/// way round.
#[tokio::test]
async fn conflicts_follow_the_facts_whatever_order_they_arrive_in() {
    use sync_server::store::CatalogueStore;
    let (db, app) = app().await;
    let venue = Venue::new(&app).await;
    let gate = venue.gate(&app, "Main", "never").await;
    let (_, ticket) = venue
        .attendee(&app, "Ear", "Ly", None, "valid", Hlc::ZERO)
        .await;
    let (_, revoked) = venue
        .attendee(&app, "La", "Te", None, "valid", Hlc::ZERO)
        .await;
    let mut online = app.enrol(venue.event).await;
    let mut offline = app.enrol(venue.event).await;
    let admin = app.staff("ada", Role::Admin).await;

    let second = change(&mut online, admit(ticket, gate, Direction::Entry), 200);
    let third = change(&mut online, admit(ticket, gate, Direction::Entry), 300);
    push(&app, &online, &[second.clone(), third.clone()]).await;
    let open = conflicts(&app, &admin, venue.event, "?status=open").await;
    assert_eq!(
        admission_pairs(&open),
        [(check_in_id(&second), check_in_id(&third))].into()
    );

    // The offline kiosk admitted the ticket first; its push comes last.
    let first = change(&mut offline, admit(ticket, gate, Direction::Entry), 100);
    push(&app, &offline, std::slice::from_ref(&first)).await;
    let open = conflicts(&app, &admin, venue.event, "?status=open").await;
    assert_eq!(
        admission_pairs(&open),
        [
            (check_in_id(&first), check_in_id(&second)),
            (check_in_id(&first), check_in_id(&third)),
        ]
        .into(),
        "each later admission conflicts with the first, and only with it: {open:#?}"
    );
    let resolved = conflicts(&app, &admin, venue.event, "?status=resolved").await;
    assert_eq!(resolved.len(), 1, "{resolved:#?}");
    assert_eq!(resolved[0]["resolution"]["action"], "superseded");
    assert_eq!(resolved[0]["resolved_by"], "system");

    // An admission stamped a day ahead is filed; then the ticket is revoked.
    let admitted = change(
        &mut offline,
        admit(revoked, gate, Direction::Entry),
        86_400_000,
    );
    push(&app, &offline, std::slice::from_ref(&admitted)).await;
    app.store
        .set_ticket_status(
            revoked,
            TicketStatus::Revoked,
            Hlc::new(T0.as_u64() + 5_000, 0),
            |_| support::test_audit("ticket.revoke"),
        )
        .await
        .unwrap();
    let flagged = conflicts(
        &app,
        &admin,
        venue.event,
        "?status=open&kind=admitted_while_revoked",
    )
    .await;
    assert_eq!(flagged.len(), 1, "{flagged:#?}");
    assert_eq!(
        flagged[0]["detail"]["admission"]["check_in_id"],
        check_in_id(&admitted)
    );
    app.stop().await;
    db.drop_db().await;
}

/// A badge printed at an admission and a coordinator's reprint are filed into the print log
/// (once, however often they are pushed), exported, and listed in the next package so every
/// kiosk's "first badge only" gate knows the badge exists.
#[tokio::test]
async fn badge_prints_are_filed_once_exported_and_carried_by_the_package() {
    use sync_protocol::changes::BadgePrint;
    use sync_server::store::PackageStore;
    let (db, app) = app().await;
    let venue = Venue::new(&app).await;
    let gate = venue.gate(&app, "North, hall 2", "always").await;
    let (_, printed) = venue
        .attendee(&app, "Ida", "Pfeiffer", None, "valid", Hlc::ZERO)
        .await;
    let (_, other) = venue
        .attendee(&app, "Ole", "Rømer", None, "valid", Hlc::ZERO)
        .await;
    let mut kiosk = app.enrol(venue.event).await;
    let coordinator = app.staff("cora", Role::Coordinator).await;
    let admission = change(&mut kiosk, admit(printed, gate, Direction::Entry), 0);
    let check_in: CheckInId = check_in_id(&admission).parse().unwrap();
    let print = |check_in_id, reprint| {
        ChangeBody::BadgePrint(BadgePrint {
            ticket_id: printed,
            gate_id: gate,
            check_in_id,
            reprint,
            printed_at: T0,
        })
    };
    let changes = vec![
        admission,
        change(&mut kiosk, print(Some(check_in), false), 1),
        change(&mut kiosk, admit(other, gate, Direction::Entry), 2),
        change(&mut kiosk, print(None, true), 60_000),
    ];
    push(&app, &kiosk, &changes).await;
    // Pushed again (a retry after a lost answer): duplicates, nothing filed twice.
    push(&app, &kiosk, &changes).await;

    let start = std::time::Instant::now();
    let csv = loop {
        let csv = get_text(&app, &coordinator, venue.event, "export/badge-prints.csv").await;
        if csv.lines().count() == 3 && !app.filer_behind(venue.event).await {
            break csv;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "the prints are not filed: {csv}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with(
            "ticket_id,attendee_id,attendee_name,gate_id,gate_name,check_in_id,reprint,printed_at"
        ),
        "{csv}"
    );
    assert!(lines[1].starts_with(&printed.to_string()), "{csv}");
    assert!(lines[1].contains("Ida Pfeiffer"), "{csv}");
    assert!(lines[1].contains("\"North, hall 2\""), "{csv}");
    assert!(lines[1].contains(&format!("{check_in},false,")), "{csv}");
    assert!(
        lines[2].contains(",,true,"),
        "a reprint names no admission: {csv}"
    );
    assert!(csv.contains("2026-09-21T"), "{csv}");
    assert_eq!(
        scalar_i64(
            &app,
            "select count(*) from badge_prints where event_id = $1",
            venue.event.as_uuid()
        )
        .await,
        2
    );

    let rows = app.store.package_rows(venue.event).await.unwrap();
    assert_eq!(rows.printed_badges, vec![printed]);
    app.stop().await;
    db.drop_db().await;
}
