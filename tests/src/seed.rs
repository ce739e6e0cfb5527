//! Seeding a test database directly with SQL: an event, a gate, one-time enrolment tokens.
//! (The admin API has its own tests; system tests only need the records to exist.)

use sqlx::PgPool;
use sync_protocol::ids::{EventId, GateId};

use crate::kiosk::now;

/// An event with one gate, ready for enrolment.
pub struct SeededEvent {
    pub event_id: EventId,
    pub gate_id: GateId,
}

/// Creates an event and a gate (migrations must have run: start a server first).
pub async fn event(pool: &PgPool) -> SeededEvent {
    let mut crypto_rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::from_entropy();
    let now = now();
    let event_id = EventId::new(now, &mut crypto_rng);
    let gate_id = GateId::new(now, &mut crypto_rng);
    sqlx::query(
        "insert into events (id, name, time_zone, starts_at, ends_at) values ($1, 'System test', 'UTC', $2, $3)",
    )
    .bind(event_id.as_uuid())
    .bind(now.as_u64() as i64)
    .bind(now.as_u64() as i64 + 86_400_000)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into gates (id, event_id, name, mode, reentry) values ($1, $2, 'Main', 'entry_and_exit', 'after_exit')",
    )
    .bind(gate_id.as_uuid())
    .bind(event_id.as_uuid())
    .execute(pool)
    .await
    .unwrap();
    SeededEvent { event_id, gate_id }
}

/// A one-time enrolment token for `event`, valid for an hour.
pub async fn enrolment_token(pool: &PgPool, event: EventId) -> String {
    let token = format!("sys-{:032x}", rand::random::<u128>());
    sqlx::query(
        "insert into enrolment_tokens (token_hash, event_id, expires_at) values ($1, $2, now() + interval '1 hour')",
    )
    .bind(&sha256(token.as_bytes())[..])
    .bind(event.as_uuid())
    .execute(pool)
    .await
    .unwrap();
    token
}

/// SHA-256, as the server hashes tokens.
fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// Adds a ticket type and `n` attendees with opaque-coded tickets (`SYS-0001`...) to `event`.
pub async fn tickets(pool: &PgPool, event: EventId, n: usize) -> Vec<String> {
    let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::from_entropy();
    let now = now();
    let ticket_type = day_pass(pool, event, &mut rng).await;
    let mut codes = Vec::new();
    for i in 1..=n {
        let attendee = sync_protocol::ids::AttendeeId::new(now, &mut rng);
        let ticket = sync_protocol::ids::TicketId::new(now, &mut rng);
        let code = format!("SYS-{i:04}");
        sqlx::query(
            "insert into attendees (id, event_id, first_name, last_name, email) values ($1, $2, $3, 'Tester', $4)",
        )
        .bind(attendee.as_uuid())
        .bind(event.as_uuid())
        .bind(format!("Guest{i}"))
        .bind(format!("guest{i}@example.org"))
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "insert into tickets (id, event_id, attendee_id, ticket_type_id, status, code) values ($1, $2, $3, $4, 'valid', $5)",
        )
        .bind(ticket.as_uuid())
        .bind(event.as_uuid())
        .bind(attendee.as_uuid())
        .bind(ticket_type.as_uuid())
        .bind(&code)
        .execute(pool)
        .await
        .unwrap();
        codes.push(code);
    }
    codes
}

/// Adds a ticket type and `n` attendees with opaque-coded tickets (`BULK-000001`...) to `event`
/// in two statements, for a venue-sized package (100,000 tickets in seconds).
pub async fn many_tickets(pool: &PgPool, event: EventId, n: usize) -> Vec<String> {
    let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::from_entropy();
    let now = now();
    let ticket_type = day_pass(pool, event, &mut rng).await;
    let attendees: Vec<uuid::Uuid> = (0..n)
        .map(|_| sync_protocol::ids::AttendeeId::new(now, &mut rng).as_uuid())
        .collect();
    let tickets: Vec<uuid::Uuid> = (0..n)
        .map(|_| sync_protocol::ids::TicketId::new(now, &mut rng).as_uuid())
        .collect();
    let codes: Vec<String> = (1..=n).map(|i| format!("BULK-{i:06}")).collect();
    sqlx::query(
        "insert into attendees (id, event_id, first_name, last_name, email)
         select a, $2, 'Guest' || i, 'Bench', 'guest' || i || '@example.org'
         from unnest($1::uuid[]) with ordinality as t(a, i)",
    )
    .bind(&attendees)
    .bind(event.as_uuid())
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into tickets (id, event_id, attendee_id, ticket_type_id, status, code)
         select t, $2, a, $3, 'valid', c from unnest($1::uuid[], $4::uuid[], $5::text[]) as u(t, a, c)",
    )
    .bind(&tickets)
    .bind(event.as_uuid())
    .bind(ticket_type.as_uuid())
    .bind(&attendees)
    .bind(&codes)
    .execute(pool)
    .await
    .unwrap();
    for table in ["attendees", "tickets"] {
        sqlx::query(&format!("analyze {table}"))
            .execute(pool)
            .await
            .unwrap();
    }
    codes
}

/// A "Day pass" ticket type of `event`.
async fn day_pass(
    pool: &PgPool,
    event: EventId,
    rng: &mut rand_chacha::ChaCha20Rng,
) -> sync_protocol::ids::TicketTypeId {
    let ticket_type = sync_protocol::ids::TicketTypeId::new(now(), rng);
    sqlx::query("insert into ticket_types (id, event_id, name) values ($1, $2, 'Day pass')")
        .bind(ticket_type.as_uuid())
        .bind(event.as_uuid())
        .execute(pool)
        .await
        .unwrap();
    ticket_type
}
