//! The admin catalogue on Postgres: events, ticket types, gates, form versions, CSV imports,
//! ticket status changes and the device list.
//!
//! An import is one transaction that takes a per-event advisory lock (two imports of one event
//! run one after the other), finds earlier imports of the rows, checks codes against the event's
//! other tickets, and writes attendees and tickets with one `UNNEST` upsert each: 100,000 rows are
//! a handful of statements, not 100,000 round trips.

use std::collections::HashMap;

use sqlx::Row;
use sqlx::postgres::PgRow;
use sync_protocol::UnixMillis;
use sync_protocol::forms::Form;
use sync_protocol::hlc::Hlc;
use sync_protocol::ids::{AttendeeId, DeviceId, EventId, FormId, GateId, TicketId, TicketTypeId};
use sync_protocol::model::{Attendee, Event, FormRef, Gate, Ticket, TicketStatus, TicketType};
use sync_protocol::ticket_code::SIGNED_PREFIX;
use sync_protocol::wire::{Cursor, PullItem};
use uuid::Uuid;

use super::ingest::{TicketAliases, lock, recompute_tickets, upsert_conflicts};
use super::staff::write_audit;
use super::{FEED_CHANNEL, PgStore, to_i64};
use crate::import::{ImportRow, LineError};
use crate::ingest::lock_keys;
use crate::store::{
    AuditEntry, CatalogueStore, DeviceRecord, FormVersion, ImportOutcome, ImportSummary, IssueCode,
    StatusChange, StoreError, TicketRecord,
};

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// A unique violation as `Conflict(message)`, anything else as usual.
fn on_unique(err: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(message()),
        _ => err.into(),
    }
}

/// The snake_case text of a unit enum variant (as serde writes it).
fn text_of<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn parse_text<T: serde::de::DeserializeOwned>(text: String) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(text.clone()))
        .map_err(|_| StoreError::Corrupt(format!("value {text:?}")))
}

fn ms(value: Option<i64>) -> Option<UnixMillis> {
    value.map(|v| UnixMillis(v.max(0) as u64))
}

fn opt_ms(value: Option<UnixMillis>, what: &str) -> Result<Option<i64>, StoreError> {
    value.map(|v| to_i64(v.as_u64(), what)).transpose()
}

fn hlc_i64(hlc: Hlc) -> Result<i64, StoreError> {
    hlc.to_i64()
        .ok_or_else(|| StoreError::Invalid(format!("hlc {hlc} out of range")))
}

fn event_of(row: &PgRow) -> Result<Event, StoreError> {
    Ok(Event {
        id: EventId::from_uuid(row.try_get("id")?).map_err(corrupt)?,
        name: row.try_get("name")?,
        time_zone: row.try_get("time_zone")?,
        starts_at: UnixMillis(row.try_get::<i64, _>("starts_at")?.max(0) as u64),
        ends_at: UnixMillis(row.try_get::<i64, _>("ends_at")?.max(0) as u64),
    })
}

fn gate_of(row: &PgRow) -> Result<Gate, StoreError> {
    let allowed: Vec<Uuid> = row.try_get("allowed_ticket_types")?;
    Ok(Gate {
        id: GateId::from_uuid(row.try_get("id")?).map_err(corrupt)?,
        name: row.try_get("name")?,
        allowed_ticket_types: allowed
            .into_iter()
            .map(TicketTypeId::from_uuid)
            .collect::<Result<_, _>>()
            .map_err(corrupt)?,
        mode: parse_text(row.try_get("mode")?)?,
        reentry: parse_text(row.try_get("reentry")?)?,
        required_answers: row.try_get("required_answers")?,
        show_answers: row.try_get("show_answers")?,
        print_badge: parse_text(row.try_get("print_badge")?)?,
    })
}

/// What an earlier import left for one attendee.
#[derive(Debug, Clone)]
struct Existing {
    attendee_id: Uuid,
    external_ref: Option<String>,
    ticket: Option<(Uuid, String, Uuid)>,
}

fn existing_of(row: &PgRow) -> Result<Existing, StoreError> {
    let ticket_id: Option<Uuid> = row.try_get("ticket_id")?;
    let code: Option<String> = row.try_get("code")?;
    let ticket_type_id: Option<Uuid> = row.try_get("ticket_type_id")?;
    Ok(Existing {
        attendee_id: row.try_get("id")?,
        external_ref: row.try_get("external_ref")?,
        ticket: match (ticket_id, code, ticket_type_id) {
            (Some(id), Some(code), Some(t)) => Some((id, code, t)),
            _ => None,
        },
    })
}

/// The arrays one import writes.
#[derive(Default)]
struct Plan {
    attendee_ids: Vec<Uuid>,
    first_names: Vec<String>,
    last_names: Vec<String>,
    emails: Vec<Option<String>>,
    phones: Vec<Option<String>>,
    answers: Vec<serde_json::Value>,
    refs: Vec<Option<String>>,
    ticket_ids: Vec<Uuid>,
    ticket_types: Vec<Uuid>,
    codes: Vec<String>,
    created: u64,
    updated: u64,
}

/// Decides, for every row, which attendee and ticket it writes and with which code. Pure apart
/// from fresh ids; every problem is collected.
fn plan_import(
    rows: &[ImportRow],
    by_ref: &HashMap<String, Existing>,
    by_email: &HashMap<(String, Uuid), Existing>,
    code_owners: &HashMap<String, Uuid>,
    issue: IssueCode<'_>,
) -> Result<Plan, Vec<LineError>> {
    let now = crate::state::now();
    let mut rng = rand::thread_rng();
    let mut errors = Vec::new();
    let mut plan = Plan::default();
    let mut targets: HashMap<Uuid, u64> = HashMap::new();
    for row in rows {
        let type_uuid = row.ticket_type_id.as_uuid();
        let matched = row
            .external_ref
            .as_ref()
            .and_then(|r| by_ref.get(r))
            .or_else(|| {
                let key = (row.email.as_ref()?.to_lowercase(), type_uuid);
                by_email
                    .get(&key)
                    .filter(|e| row.external_ref.is_none() || e.external_ref.is_none())
            });
        if let Some(existing) = matched
            && let Some(first) = targets.insert(existing.attendee_id, row.line)
        {
            errors.push(LineError {
                line: row.line,
                message: format!(
                    "matches the same earlier attendee as line {first}; each attendee once per file"
                ),
            });
            continue;
        }
        let existing_ticket = matched.and_then(|e| e.ticket.clone());
        let ticket_id = match &existing_ticket {
            Some((id, _, _)) => TicketId::from_uuid(*id).map_err(|e| {
                vec![LineError {
                    line: row.line,
                    message: format!("stored ticket id is corrupt: {e}"),
                }]
            })?,
            None => TicketId::new(now, &mut rng),
        };
        if let Some(code) = &row.code
            && let Some(owner) = code_owners.get(code)
            && *owner != ticket_id.as_uuid()
        {
            errors.push(LineError {
                line: row.line,
                message: "code is already used by another ticket of this event".into(),
            });
            continue;
        }
        let code = match (&row.code, &existing_ticket) {
            (Some(code), _) => code.clone(),
            // A signed code names its ticket type: a changed type needs a new one.
            (None, Some((_, code, old_type)))
                if !(code.starts_with(SIGNED_PREFIX) && *old_type != type_uuid) =>
            {
                code.clone()
            }
            _ => match issue(ticket_id, row.ticket_type_id) {
                Ok(code) => code,
                Err(message) => {
                    errors.push(LineError {
                        line: row.line,
                        message: format!("cannot sign a code: {message}"),
                    });
                    continue;
                }
            },
        };
        if matched.is_some() {
            plan.updated += 1;
        } else {
            plan.created += 1;
        }
        plan.attendee_ids.push(
            matched
                .map(|e| e.attendee_id)
                .unwrap_or_else(|| AttendeeId::new(now, &mut rng).as_uuid()),
        );
        plan.first_names.push(row.first_name.clone());
        plan.last_names.push(row.last_name.clone());
        plan.emails.push(row.email.clone());
        plan.phones.push(row.phone.clone());
        plan.answers
            .push(serde_json::to_value(&row.answers).unwrap_or_default());
        plan.refs.push(row.external_ref.clone());
        plan.ticket_ids.push(ticket_id.as_uuid());
        plan.ticket_types.push(type_uuid);
        plan.codes.push(code);
    }
    if errors.is_empty() {
        Ok(plan)
    } else {
        Err(errors)
    }
}

impl CatalogueStore for PgStore {
    async fn list_events(&self) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(
            "select id, name, time_zone, starts_at, ends_at from events order by starts_at desc, id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(event_of).collect()
    }

    async fn event(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        let row =
            sqlx::query("select id, name, time_zone, starts_at, ends_at from events where id = $1")
                .bind(id.as_uuid())
                .fetch_optional(self.pool())
                .await?;
        row.as_ref().map(event_of).transpose()
    }

    async fn update_event(&self, event: &Event, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query(
            "update events set name = $2, time_zone = $3, starts_at = $4, ends_at = $5 where id = $1",
        )
        .bind(event.id.as_uuid())
        .bind(&event.name)
        .bind(&event.time_zone)
        .bind(to_i64(event.starts_at.as_u64(), "starts_at")?)
        .bind(to_i64(event.ends_at.as_u64(), "ends_at")?)
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound("event"));
        }
        write_audit(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn ticket_types(&self, event_id: EventId) -> Result<Vec<TicketType>, StoreError> {
        let rows = sqlx::query(
            "select id, name, valid_from, valid_until from ticket_types where event_id = $1
             order by name, id",
        )
        .bind(event_id.as_uuid())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TicketType {
                    id: TicketTypeId::from_uuid(row.try_get("id")?).map_err(corrupt)?,
                    name: row.try_get("name")?,
                    valid_from: ms(row.try_get("valid_from")?),
                    valid_until: ms(row.try_get("valid_until")?),
                })
            })
            .collect()
    }

    async fn create_ticket_type(
        &self,
        event_id: EventId,
        ticket_type: &TicketType,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "insert into ticket_types (id, event_id, name, valid_from, valid_until)
             values ($1, $2, $3, $4, $5)",
        )
        .bind(ticket_type.id.as_uuid())
        .bind(event_id.as_uuid())
        .bind(&ticket_type.name)
        .bind(opt_ms(ticket_type.valid_from, "valid_from")?)
        .bind(opt_ms(ticket_type.valid_until, "valid_until")?)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            on_unique(e, || {
                format!(
                    "a ticket type named {:?} exists in this event",
                    ticket_type.name
                )
            })
        })?;
        write_audit(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn update_ticket_type(
        &self,
        event_id: EventId,
        ticket_type: &TicketType,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query(
            "update ticket_types set name = $3, valid_from = $4, valid_until = $5
             where id = $1 and event_id = $2",
        )
        .bind(ticket_type.id.as_uuid())
        .bind(event_id.as_uuid())
        .bind(&ticket_type.name)
        .bind(opt_ms(ticket_type.valid_from, "valid_from")?)
        .bind(opt_ms(ticket_type.valid_until, "valid_until")?)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            on_unique(e, || {
                format!(
                    "a ticket type named {:?} exists in this event",
                    ticket_type.name
                )
            })
        })?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound("ticket type"));
        }
        write_audit(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn gates(&self, event_id: EventId) -> Result<Vec<Gate>, StoreError> {
        let rows = sqlx::query(
            "select id, name, mode, reentry, allowed_ticket_types, required_answers, show_answers,
                    print_badge
             from gates where event_id = $1 order by name, id",
        )
        .bind(event_id.as_uuid())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(gate_of).collect()
    }

    async fn create_gate(
        &self,
        event_id: EventId,
        gate: &Gate,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let allowed: Vec<Uuid> = gate
            .allowed_ticket_types
            .iter()
            .map(|t| t.as_uuid())
            .collect();
        sqlx::query(
            "insert into gates (id, event_id, name, mode, reentry, allowed_ticket_types, required_answers,
                                show_answers, print_badge)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(gate.id.as_uuid())
        .bind(event_id.as_uuid())
        .bind(&gate.name)
        .bind(text_of(&gate.mode))
        .bind(text_of(&gate.reentry))
        .bind(&allowed)
        .bind(&gate.required_answers)
        .bind(&gate.show_answers)
        .bind(gate.print_badge.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| on_unique(e, || format!("a gate named {:?} exists in this event", gate.name)))?;
        write_audit(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn update_gate(
        &self,
        event_id: EventId,
        gate: &Gate,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let allowed: Vec<Uuid> = gate
            .allowed_ticket_types
            .iter()
            .map(|t| t.as_uuid())
            .collect();
        let result = sqlx::query(
            "update gates set name = $3, mode = $4, reentry = $5, allowed_ticket_types = $6,
                              required_answers = $7, show_answers = $8, print_badge = $9
             where id = $1 and event_id = $2",
        )
        .bind(gate.id.as_uuid())
        .bind(event_id.as_uuid())
        .bind(&gate.name)
        .bind(text_of(&gate.mode))
        .bind(text_of(&gate.reentry))
        .bind(&allowed)
        .bind(&gate.required_answers)
        .bind(&gate.show_answers)
        .bind(gate.print_badge.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            on_unique(e, || {
                format!("a gate named {:?} exists in this event", gate.name)
            })
        })?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound("gate"));
        }
        write_audit(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn add_form_version(
        &self,
        event_id: EventId,
        form: &Form,
        audit: impl FnOnce(u32) -> AuditEntry + Send,
    ) -> Result<u32, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("select pg_advisory_xact_lock(hashtextextended('form:' || $1::text, 0))")
            .bind(form.id.as_uuid())
            .execute(&mut *tx)
            .await?;
        let owner = sqlx::query(
            "select event_id, max(version) as version from forms where id = $1 group by event_id",
        )
        .bind(form.id.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        let version = match owner {
            None => 1,
            Some(row) => {
                let owner: Uuid = row.try_get("event_id")?;
                if owner != event_id.as_uuid() {
                    return Err(StoreError::Conflict(format!(
                        "form {} belongs to another event",
                        form.id
                    )));
                }
                let last: i32 = row.try_get("version")?;
                u32::try_from(last).map_err(corrupt)? + 1
            }
        };
        let mut stored = form.clone();
        stored.version = version;
        let definition =
            serde_json::to_value(&stored).map_err(|e| StoreError::Invalid(e.to_string()))?;
        sqlx::query(
            "insert into forms (id, version, event_id, definition) values ($1, $2, $3, $4)",
        )
        .bind(form.id.as_uuid())
        .bind(i32::try_from(version).map_err(corrupt)?)
        .bind(event_id.as_uuid())
        .bind(definition)
        .execute(&mut *tx)
        .await?;
        write_audit(&mut *tx, &audit(version)).await?;
        tx.commit().await?;
        Ok(version)
    }

    async fn form_versions(&self, event_id: EventId) -> Result<Vec<FormVersion>, StoreError> {
        let rows = sqlx::query(
            "select id, version, coalesce(definition->>'title', '') as title,
                    (extract(epoch from created_at) * 1000)::bigint as created_ms
             from forms where event_id = $1 order by id, version",
        )
        .bind(event_id.as_uuid())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let version: i32 = row.try_get("version")?;
                Ok(FormVersion {
                    id: FormId::from_uuid(row.try_get("id")?).map_err(corrupt)?,
                    version: u32::try_from(version).map_err(corrupt)?,
                    title: row.try_get("title")?,
                    created_at: ms(row.try_get("created_ms")?).unwrap_or(UnixMillis(0)),
                })
            })
            .collect()
    }

    async fn import_tickets(
        &self,
        event_id: EventId,
        rows: &[ImportRow],
        hlc: Hlc,
        issue: IssueCode<'_>,
        audit: impl FnOnce(&ImportSummary) -> AuditEntry + Send,
    ) -> Result<ImportOutcome, StoreError> {
        // Walk-in tickets pushed before take their codes first.
        self.catch_up(event_id).await?;
        let event = event_id.as_uuid();
        let mut tx = self.begin().await?;
        sqlx::query("select pg_advisory_xact_lock(hashtextextended('import:' || $1::text, 0))")
            .bind(event)
            .execute(&mut *tx)
            .await?;
        // Earlier imports of these rows: by external_ref, and by email and ticket type.
        let refs: Vec<&str> = rows
            .iter()
            .filter_map(|r| r.external_ref.as_deref())
            .collect();
        let mut by_ref = HashMap::new();
        if !refs.is_empty() {
            let found = sqlx::query(
                "select a.id, a.external_ref, t.id as ticket_id, t.code, t.ticket_type_id
                 from unnest($2::text[]) as r(external_ref)
                 join attendees a on a.event_id = $1 and a.external_ref = r.external_ref
                 left join lateral (select id, code, ticket_type_id from tickets
                                    where attendee_id = a.id order by id limit 1) t on true",
            )
            .bind(event)
            .bind(&refs)
            .fetch_all(&mut *tx)
            .await?;
            for row in &found {
                let existing = existing_of(row)?;
                if let Some(r) = existing.external_ref.clone() {
                    by_ref.insert(r, existing);
                }
            }
        }
        let emails: Vec<String> = rows
            .iter()
            .filter(|r| {
                r.external_ref
                    .as_ref()
                    .is_none_or(|x| !by_ref.contains_key(x))
            })
            .filter_map(|r| r.email.as_ref().map(|e| e.to_lowercase()))
            .collect();
        let mut by_email = HashMap::new();
        if !emails.is_empty() {
            let found = sqlx::query(
                "select a.id, lower(a.email) as email, a.external_ref, t.id as ticket_id, t.code,
                        t.ticket_type_id
                 from (select distinct e from unnest($2::text[]) as e) r
                 join attendees a on a.event_id = $1 and lower(a.email) = r.e
                 join tickets t on t.attendee_id = a.id
                 order by a.id, t.id",
            )
            .bind(event)
            .bind(&emails)
            .fetch_all(&mut *tx)
            .await?;
            for row in &found {
                let email: String = row.try_get("email")?;
                let existing = existing_of(row)?;
                if let Some((_, _, ticket_type)) = existing.ticket {
                    by_email.entry((email, ticket_type)).or_insert(existing);
                }
            }
        }
        let codes: Vec<&str> = rows.iter().filter_map(|r| r.code.as_deref()).collect();
        let mut code_owners = HashMap::new();
        if !codes.is_empty() {
            let found = sqlx::query(
                "select t.code, t.id from unnest($2::text[]) as c(code)
                 join tickets t on t.event_id = $1 and t.code = c.code",
            )
            .bind(event)
            .bind(&codes)
            .fetch_all(&mut *tx)
            .await?;
            for row in &found {
                code_owners.insert(
                    row.try_get::<String, _>("code")?,
                    row.try_get::<Uuid, _>("id")?,
                );
            }
        }
        // Signing a code per new ticket is CPU work (100,000 of them take seconds).
        let plan = match crate::catalogue::cpu_bound(|| {
            plan_import(rows, &by_ref, &by_email, &code_owners, issue)
        }) {
            Ok(plan) => plan,
            Err(mut errors) => {
                errors.sort_by_key(|e| e.line);
                return Ok(ImportOutcome::Rejected(errors));
            }
        };
        sqlx::query(
            "insert into attendees (id, event_id, first_name, last_name, email, phone, answers,
                                    external_ref, updated_hlc)
             select s.id, $1, s.first_name, s.last_name, s.email, s.phone, s.answers, s.external_ref, $9
             from unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[],
                         $8::text[]) as s(id, first_name, last_name, email, phone, answers, external_ref)
             on conflict (id) do update set
                 first_name = excluded.first_name,
                 last_name = excluded.last_name,
                 email = coalesce(excluded.email, attendees.email),
                 phone = coalesce(excluded.phone, attendees.phone),
                 answers = attendees.answers || excluded.answers,
                 external_ref = coalesce(excluded.external_ref, attendees.external_ref),
                 updated_hlc = excluded.updated_hlc",
        )
        .bind(event)
        .bind(&plan.attendee_ids)
        .bind(&plan.first_names)
        .bind(&plan.last_names)
        .bind(&plan.emails)
        .bind(&plan.phones)
        .bind(&plan.answers)
        .bind(&plan.refs)
        .bind(hlc_i64(hlc)?)
        .execute(&mut *tx)
        .await
        .map_err(|e| on_unique(e, || "an external_ref is used twice".to_owned()))?;
        sqlx::query(
            "insert into tickets (id, event_id, attendee_id, ticket_type_id, status, code)
             select s.id, $1, s.attendee_id, s.ticket_type_id, 'valid', s.code
             from unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::text[])
                  as s(id, attendee_id, ticket_type_id, code)
             on conflict (id) do update set
                 ticket_type_id = excluded.ticket_type_id,
                 code = excluded.code",
        )
        .bind(event)
        .bind(&plan.ticket_ids)
        .bind(&plan.attendee_ids)
        .bind(&plan.ticket_types)
        .bind(&plan.codes)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            on_unique(e, || {
                "two tickets would share a code (codes swapped between tickets?); import in two steps"
                    .to_owned()
            })
        })?;
        // Kiosks holding a package hear of the tickets through the feed; before the first
        // package, the package carries them.
        if PgStore::package_version(&mut tx, event_id).await? > 0 {
            let issued = sqlx::query(
                "select t.id, t.attendee_id, t.ticket_type_id, t.status, t.code, a.first_name,
                        a.last_name, a.email, a.phone, a.answers, a.form_id, a.form_version
                 from tickets t join attendees a on a.id = t.attendee_id
                 join unnest($1::uuid[]) as i(id) on i.id = t.id
                 order by t.id",
            )
            .bind(&plan.ticket_ids)
            .fetch_all(&mut *tx)
            .await?;
            let mut items = Vec::with_capacity(issued.len());
            for row in &issued {
                items.push(issued_item(row, hlc)?);
            }
            sqlx::query(
                "insert into feed (event_id, item)
                 select $1, s.item from unnest($2::jsonb[]) with ordinality as s(item, ord)
                 order by s.ord",
            )
            .bind(event)
            .bind(&items)
            .execute(&mut *tx)
            .await?;
            sqlx::query("select pg_notify($1, $2)")
                .bind(FEED_CHANNEL)
                .bind(event.to_string())
                .execute(&mut *tx)
                .await?;
        }
        // Fresh statistics after a bulk load, or the next import's lookups are planned for
        // the empty tables of before (a nested loop over 100,000 rows each side).
        if plan.created >= 1000 {
            sqlx::query("analyze attendees, tickets")
                .execute(&mut *tx)
                .await?;
        }
        let summary = ImportSummary {
            rows: rows.len() as u64,
            created: plan.created,
            updated: plan.updated,
        };
        write_audit(&mut *tx, &audit(&summary)).await?;
        tx.commit().await?;
        Ok(ImportOutcome::Imported(summary))
    }

    async fn tickets(
        &self,
        event_id: EventId,
        after: Option<TicketId>,
        limit: u32,
    ) -> Result<Vec<TicketRecord>, StoreError> {
        self.catch_up(event_id).await?;
        let rows = sqlx::query(
            "select t.id, t.attendee_id, t.ticket_type_id, t.status, t.code, a.first_name,
                    a.last_name, a.email, a.external_ref
             from tickets t join attendees a on a.id = t.attendee_id
             where t.event_id = $1 and ($2::uuid is null or t.id > $2)
             order by t.id limit $3",
        )
        .bind(event_id.as_uuid())
        .bind(after.map(|t| t.as_uuid()))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TicketRecord {
                    ticket_id: TicketId::from_uuid(row.try_get("id")?).map_err(corrupt)?,
                    attendee_id: AttendeeId::from_uuid(row.try_get("attendee_id")?)
                        .map_err(corrupt)?,
                    ticket_type_id: TicketTypeId::from_uuid(row.try_get("ticket_type_id")?)
                        .map_err(corrupt)?,
                    status: parse_text(row.try_get("status")?)?,
                    code: row.try_get("code")?,
                    first_name: row.try_get("first_name")?,
                    last_name: row.try_get("last_name")?,
                    email: row.try_get("email")?,
                    external_ref: row.try_get("external_ref")?,
                })
            })
            .collect()
    }

    async fn set_ticket_status(
        &self,
        ticket_id: TicketId,
        status: TicketStatus,
        hlc: Hlc,
        audit: impl FnOnce(&StatusChange) -> AuditEntry + Send,
    ) -> Result<StatusChange, StoreError> {
        let mut tx = self.begin().await?;
        // The ticket's ingest lock first (the filer takes it before reading statuses), so the
        // conflicts recomputed below see every check-in filed before and none half-filed.
        let event_of: Option<Uuid> =
            sqlx::query_scalar("select event_id from tickets where id = $1")
                .bind(ticket_id.as_uuid())
                .fetch_optional(&mut *tx)
                .await?;
        let event_of = event_of.ok_or(StoreError::NotFound("ticket"))?;
        lock(
            &mut tx,
            &lock_keys(event_of, [ticket_id.as_uuid()], [], false),
        )
        .await?;
        let row = sqlx::query(
            "select event_id, status, status_hlc from tickets where id = $1 for update",
        )
        .bind(ticket_id.as_uuid())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("ticket"))?;
        // Stamps never go backwards: an instance whose clock is behind the one that set the
        // current status stamps just above it (kiosks keep the status with the higher stamp).
        let stored: i64 = row.try_get("status_hlc")?;
        let hlc = match Hlc::from_i64(stored) {
            Some(stored) if stored >= hlc => Hlc::from_u64(stored.to_u64() + 1),
            _ => hlc,
        };
        let event_uuid: Uuid = row.try_get("event_id")?;
        let event_id = EventId::from_uuid(event_uuid).map_err(corrupt)?;
        let previous: TicketStatus = parse_text(row.try_get("status")?)?;
        let change = StatusChange {
            ticket_id,
            event_id,
            previous,
            status,
            changed: previous != status,
        };
        // Setting the status it has already changes nothing but is still an admin's act.
        write_audit(&mut *tx, &audit(&change)).await?;
        if !change.changed {
            tx.commit().await?;
            return Ok(change);
        }
        sqlx::query("update tickets set status = $2, status_hlc = $3 where id = $1")
            .bind(ticket_id.as_uuid())
            .bind(text_of(&status))
            .bind(hlc_i64(hlc)?)
            .execute(&mut *tx)
            .await?;
        // The ticket's conflicts follow from its statuses too: an admission stamped after this
        // status, filed before it was set, is an admission while revoked or canceled now
        // (docs/conflicts.md). Recomputed here, whatever the order things reached the server.
        let touched = std::collections::BTreeSet::from([ticket_id.as_uuid()]);
        let aliases = TicketAliases::load(&mut tx, event_id, &touched).await?;
        let touched = touched.iter().map(|&t| aliases.canonical(t)).collect();
        let conflicts = recompute_tickets(&mut tx, event_id, &aliases, &touched).await?;
        upsert_conflicts(&mut tx, event_id, &conflicts).await?;
        let item = serde_json::to_value(PullItem::TicketStatus {
            position: Cursor::START,
            ticket_id,
            status,
            hlc,
        })
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
        sqlx::query("insert into feed (event_id, item) values ($1, $2)")
            .bind(event_uuid)
            .bind(item)
            .execute(&mut *tx)
            .await?;
        sqlx::query("select pg_notify($1, $2)")
            .bind(FEED_CHANNEL)
            .bind(event_uuid.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(change)
    }

    async fn devices(&self, event_id: EventId) -> Result<Vec<DeviceRecord>, StoreError> {
        let rows = sqlx::query(
            "select id, event_id, label, app_version, gate_id, acknowledged_seq,
                    (extract(epoch from enrolled_at) * 1000)::bigint as enrolled_ms,
                    (extract(epoch from last_seen_at) * 1000)::bigint as seen_ms,
                    (extract(epoch from last_push_at) * 1000)::bigint as push_ms,
                    (extract(epoch from last_pull_at) * 1000)::bigint as pull_ms,
                    (extract(epoch from revoked_at) * 1000)::bigint as revoked_ms
             from devices where event_id = $1 order by enrolled_at, id",
        )
        .bind(event_id.as_uuid())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let gate: Option<Uuid> = row.try_get("gate_id")?;
                let ack: i64 = row.try_get("acknowledged_seq")?;
                Ok(DeviceRecord {
                    id: DeviceId::from_uuid(row.try_get("id")?).map_err(corrupt)?,
                    event_id: EventId::from_uuid(row.try_get("event_id")?).map_err(corrupt)?,
                    label: row.try_get("label")?,
                    app_version: row.try_get("app_version")?,
                    gate_id: gate.map(GateId::from_uuid).transpose().map_err(corrupt)?,
                    enrolled_at: ms(row.try_get("enrolled_ms")?).unwrap_or(UnixMillis(0)),
                    last_seen_at: ms(row.try_get("seen_ms")?),
                    last_push_at: ms(row.try_get("push_ms")?),
                    last_pull_at: ms(row.try_get("pull_ms")?),
                    acknowledged_seq: ack.max(0) as u64,
                    revoked_at: ms(row.try_get("revoked_ms")?),
                })
            })
            .collect()
    }
}

/// A `ticket_issued` feed item from a joined ticket and attendee row.
fn issued_item(row: &PgRow, hlc: Hlc) -> Result<serde_json::Value, StoreError> {
    let attendee_id = AttendeeId::from_uuid(row.try_get("attendee_id")?).map_err(corrupt)?;
    let form_id: Option<Uuid> = row.try_get("form_id")?;
    let form_version: Option<i32> = row.try_get("form_version")?;
    let form = match (form_id, form_version) {
        (Some(id), Some(version)) => Some(FormRef {
            id: FormId::from_uuid(id).map_err(corrupt)?,
            version: u32::try_from(version).map_err(corrupt)?,
        }),
        _ => None,
    };
    let answers: serde_json::Value = row.try_get("answers")?;
    let item = PullItem::TicketIssued {
        position: Cursor::START,
        attendee: Attendee {
            id: attendee_id,
            first_name: row.try_get("first_name")?,
            last_name: row.try_get("last_name")?,
            email: row.try_get("email")?,
            phone: row.try_get("phone")?,
            answers: serde_json::from_value(answers).map_err(corrupt)?,
            form,
        },
        ticket: Ticket {
            id: TicketId::from_uuid(row.try_get("id")?).map_err(corrupt)?,
            attendee_id,
            ticket_type_id: TicketTypeId::from_uuid(row.try_get("ticket_type_id")?)
                .map_err(corrupt)?,
            status: parse_text(row.try_get("status")?)?,
            code: row.try_get("code")?,
        },
        hlc,
    };
    serde_json::to_value(item).map_err(|e| StoreError::Invalid(e.to_string()))
}
