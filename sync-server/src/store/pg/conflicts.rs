//! Conflicts (list, resolve with their effects) and the reports coordinators read, on Postgres.
//!
//! Conflicts are found and stored by the filer (`ingest`); here they are read and resolved. Every
//! read of conflicts, check-ins or registrations catches the filer up first, so it sees every
//! push answered before it. A
//! merge of duplicate walk-ins writes aliases (flattened: an alias always names a canonical
//! record) and recomputes the kept ticket's conflicts at once, since the merged ticket's
//! admissions now count against it. A picked field value is a server edit stamped above every
//! stored version, which "saw" the current winner, so it wins without a new conflict.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use sqlx::{PgConnection, Row};
use sync_protocol::UnixMillis;
use sync_protocol::hlc::Hlc;
use sync_protocol::ids::EventId;
use sync_protocol::merge::Conflict;
use uuid::Uuid;

use super::PgStore;
use super::ingest::{
    TicketAliases, attendee_aliases, insert_edit_rows, lock, recompute_attendees,
    recompute_tickets, upsert_conflicts,
};
use crate::ingest::{PARKED_TICKET, UNFILED_CHANGE, lock_keys, server_device};
use crate::store::{
    AuditEntry, BadgePrintExport, CheckInCounts, CheckInExport, ConflictFilter, ConflictRecord,
    ConflictStatus, ConflictStore, DayStats, EventStats, GateStats, HourStats, PickSide,
    RegistrationExport, Resolution, StoreError,
};

const MAX_LIST: u32 = 1000;

const CONFLICT_COLUMNS: &str = "id, event_id, kind, key, records, detail, at_hlc,
    (extract(epoch from detected_at) * 1000)::bigint as detected_ms, status, resolution,
    resolved_by, (extract(epoch from resolved_at) * 1000)::bigint as resolved_ms";

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn ms(value: i64) -> UnixMillis {
    UnixMillis(value.max(0) as u64)
}

fn hlc_of(packed: i64) -> Result<Hlc, StoreError> {
    Hlc::from_i64(packed).ok_or_else(|| corrupt(format!("hlc {packed}")))
}

fn conflict_of(row: &sqlx::postgres::PgRow) -> Result<ConflictRecord, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(ConflictRecord {
        id: row.try_get("id")?,
        event_id: EventId::from_uuid(row.try_get("event_id")?).map_err(corrupt)?,
        kind: row.try_get("kind")?,
        key: row.try_get("key")?,
        records: row.try_get("records")?,
        detail: row.try_get("detail")?,
        at: hlc_of(row.try_get("at_hlc")?)?,
        detected_at: ms(row.try_get("detected_ms")?),
        status: match status.as_str() {
            "open" => ConflictStatus::Open,
            "resolved" => ConflictStatus::Resolved,
            other => return Err(corrupt(format!("conflict status {other:?}"))),
        },
        resolution: row.try_get("resolution")?,
        resolved_by: row.try_get("resolved_by")?,
        resolved_at: row.try_get::<Option<i64>, _>("resolved_ms")?.map(ms),
    })
}

async fn require_event(conn: &mut PgConnection, event_id: EventId) -> Result<(), StoreError> {
    let exists: bool = sqlx::query_scalar("select exists (select 1 from events where id = $1)")
        .bind(event_id.as_uuid())
        .fetch_one(conn)
        .await?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::NotFound("event"))
    }
}

/// One group of check-ins of a stats query (columns `entry`, `admitted`, `annulled`, `n`).
#[derive(Clone, Copy)]
struct Group {
    entry: bool,
    admitted: bool,
    annulled: bool,
    n: u64,
}

impl Group {
    fn of(row: &sqlx::postgres::PgRow) -> Result<Group, StoreError> {
        Ok(Group {
            entry: row.try_get("entry")?,
            admitted: row.try_get("admitted")?,
            annulled: row.try_get("annulled")?,
            n: row.try_get::<i64, _>("n")?.max(0) as u64,
        })
    }

    /// Adds the group to the counts it falls in.
    fn count(self, counts: &mut CheckInCounts) {
        let n = self.n;
        match (self.admitted, self.annulled, self.entry) {
            (false, _, _) => counts.refused += n,
            (true, true, _) => counts.annulled += n,
            (true, false, true) => counts.admitted += n,
            (true, false, false) => counts.exits += n,
        }
    }
}

/// Counts by gate, with the gates' names.
fn gate_stats(
    gates: BTreeMap<Uuid, CheckInCounts>,
    names: &BTreeMap<Uuid, String>,
) -> Vec<GateStats> {
    gates
        .into_iter()
        .map(|(gate_id, counts)| GateStats {
            gate_id,
            name: names.get(&gate_id).cloned(),
            counts,
        })
        .collect()
}

/// The event's counts by venue day: its calendar days in its time zone (UTC when Postgres does
/// not know the zone), by the check-ins' HLC wall time, as a kiosk counts "today".
async fn event_days(
    conn: &mut PgConnection,
    event_id: EventId,
    names: &BTreeMap<Uuid, String>,
) -> Result<Vec<DayStats>, StoreError> {
    let zone: String = sqlx::query_scalar(
        "select coalesce((select name from pg_timezone_names where name = e.time_zone), 'UTC')
         from events e where e.id = $1",
    )
    .bind(event_id.as_uuid())
    .fetch_one(&mut *conn)
    .await?;
    const DAY: &str = "to_char(to_timestamp((c.hlc >> 16) / 1000.0) at time zone $2, 'YYYY-MM-DD')";
    let rows = sqlx::query(&format!(
        "select {DAY} as day, c.gate_id, c.direction = 'entry' as entry,
                c.verdict = 'admitted' and not c.failed as admitted, c.annulled, count(*) as n
         from check_ins c where c.event_id = $1
         group by 1, 2, 3, 4, 5"
    ))
    .bind(event_id.as_uuid())
    .bind(&zone)
    .fetch_all(&mut *conn)
    .await?;
    let tickets: BTreeMap<String, i64> = sqlx::query_as::<_, (String, i64)>(&format!(
        "select {DAY} as day, count(distinct coalesce(ta.ticket_id, c.ticket_id))
         from check_ins c left join ticket_aliases ta on ta.alias_id = c.ticket_id
         where c.event_id = $1 and c.verdict = 'admitted' and c.direction = 'entry'
           and not c.annulled and not c.failed
         group by 1"
    ))
    .bind(event_id.as_uuid())
    .bind(&zone)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let mut days: BTreeMap<String, (CheckInCounts, BTreeMap<Uuid, CheckInCounts>)> =
        BTreeMap::new();
    for row in &rows {
        let group = Group::of(row)?;
        let (total, gates) = days.entry(row.try_get("day")?).or_default();
        group.count(total);
        group.count(gates.entry(row.try_get("gate_id")?).or_default());
    }
    Ok(days
        .into_iter()
        .map(|(day, (counts, gates))| DayStats {
            tickets_admitted: tickets.get(&day).copied().unwrap_or(0).max(0) as u64,
            day,
            counts,
            gates: gate_stats(gates, names),
        })
        .collect())
}

impl ConflictStore for PgStore {
    async fn list_conflicts(
        &self,
        event_id: EventId,
        filter: &ConflictFilter,
    ) -> Result<Vec<ConflictRecord>, StoreError> {
        self.catch_up(event_id).await?;
        let mut conn = self.pool.acquire().await?;
        require_event(&mut conn, event_id).await?;
        let limit = filter.limit.unwrap_or(MAX_LIST).clamp(1, MAX_LIST);
        let rows = sqlx::query(&format!(
            "select {CONFLICT_COLUMNS} from conflicts
             where event_id = $1 and ($2::text is null or status = $2)
               and ($3::text is null or kind = $3)
             order by at_hlc, id limit $4"
        ))
        .bind(event_id.as_uuid())
        .bind(filter.status.map(ConflictStatus::as_str))
        .bind(filter.kind.as_deref())
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(conflict_of).collect()
    }

    async fn conflict(&self, id: Uuid) -> Result<Option<ConflictRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "select {CONFLICT_COLUMNS} from conflicts where id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(conflict_of).transpose()
    }

    async fn count_open_conflicts(&self, event_id: EventId) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from conflicts where event_id = $1 and status = 'open'",
        )
        .bind(event_id.as_uuid())
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn resolve_conflict(
        &self,
        id: Uuid,
        resolution: &Resolution,
        resolved_by: &str,
        stamp: Hlc,
        audit: impl FnOnce(&ConflictRecord) -> AuditEntry + Send,
    ) -> Result<ConflictRecord, StoreError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(&format!(
            "select {CONFLICT_COLUMNS} from conflicts where id = $1 for update"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("conflict"))?;
        let record = conflict_of(&row)?;
        if record.status == ConflictStatus::Resolved {
            return Err(StoreError::Conflict(
                "this conflict is already resolved".into(),
            ));
        }
        let event = record.event_id;
        let parsed = || -> Result<Conflict, StoreError> {
            serde_json::from_value(record.detail.clone()).map_err(corrupt)
        };
        let kind = record.kind.as_str();
        let outcome = match resolution {
            Resolution::Reviewed { note }
                if matches!(
                    kind,
                    "double_admission"
                        | "admitted_while_canceled"
                        | "admitted_while_revoked"
                        | PARKED_TICKET
                        | UNFILED_CHANGE
                ) =>
            {
                json!({ "action": "reviewed", "note": note })
            }
            Resolution::NotDuplicate { note } if kind == "possible_duplicate" => {
                json!({ "action": "not_duplicate", "note": note })
            }
            Resolution::Merge { keep, note } if kind == "possible_duplicate" => {
                let Conflict::PossibleDuplicate { newer, older, .. } = parsed()? else {
                    return Err(corrupt("possible_duplicate detail"));
                };
                let other = if *keep == newer {
                    older
                } else if *keep == older {
                    newer
                } else {
                    return Err(StoreError::Invalid(format!(
                        "keep must be {newer} or {older}, the attendees of this conflict"
                    )));
                };
                let merged = merge(&mut tx, event, keep.as_uuid(), other.as_uuid()).await?;
                json!({ "action": "merge", "keep": keep, "alias": other, "note": note,
                        "ticket": merged.ticket, "ticket_aliases": merged.ticket_aliases })
            }
            Resolution::Pick { side, value, note } if kind == "field_conflict" => {
                let Conflict::FieldConflict {
                    attendee_id,
                    field,
                    overwritten,
                    overwriting,
                } = parsed()?
                else {
                    return Err(corrupt("field_conflict detail"));
                };
                let value = match (value, side) {
                    (Some(value), _) => value.clone(),
                    (None, Some(PickSide::Overwritten)) => overwritten.value,
                    (None, Some(PickSide::Overwriting)) => overwriting.value,
                    (None, None) => {
                        return Err(StoreError::Invalid(
                            "pick needs a side (overwritten or overwriting) or a value".into(),
                        ));
                    }
                };
                let hlc =
                    pick(&mut tx, event, attendee_id.as_uuid(), &field, &value, stamp).await?;
                json!({ "action": "pick", "field": field, "value": value, "hlc": hlc,
                        "note": note })
            }
            other => {
                let action = serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.get("action").cloned())
                    .unwrap_or_default();
                return Err(StoreError::Invalid(format!(
                    "{action} does not resolve a {kind} conflict"
                )));
            }
        };
        sqlx::query(
            "update conflicts set status = 'resolved', resolution = $2, resolved_by = $3,
                 resolved_at = now()
             where id = $1",
        )
        .bind(id)
        .bind(&outcome)
        .bind(resolved_by)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(&format!(
            "select {CONFLICT_COLUMNS} from conflicts where id = $1"
        ))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let record = conflict_of(&row)?;
        super::staff::write_audit(&mut *tx, &audit(&record)).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn export_check_ins(&self, event_id: EventId) -> Result<Vec<CheckInExport>, StoreError> {
        self.catch_up(event_id).await?;
        let mut conn = self.pool.acquire().await?;
        require_event(&mut conn, event_id).await?;
        let rows = sqlx::query(
            "select c.id, c.ticket_id, a.id as attendee_id,
                    nullif(btrim(coalesce(a.first_name, '') || ' ' || coalesce(a.last_name, '')), '')
                        as attendee_name,
                    c.gate_id, g.name as gate_name, c.direction, c.device_id, d.label as device_label,
                    c.hlc, c.verdict, c.offline, c.scanned_at, c.failed, c.annulled, c.found_by
             from check_ins c
             left join ticket_aliases ta on ta.alias_id = c.ticket_id
             left join tickets t on t.id = coalesce(ta.ticket_id, c.ticket_id)
             left join attendee_aliases aa on aa.alias_id = t.attendee_id
             left join attendees a on a.id = coalesce(aa.attendee_id, t.attendee_id)
             left join gates g on g.id = c.gate_id
             left join devices d on d.id = c.device_id
             where c.event_id = $1
             order by c.hlc, c.device_id, c.id",
        )
        .bind(event_id.as_uuid())
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CheckInExport {
                    id: row.try_get("id")?,
                    ticket_id: row.try_get("ticket_id")?,
                    attendee_id: row.try_get("attendee_id")?,
                    attendee_name: row.try_get("attendee_name")?,
                    gate_id: row.try_get("gate_id")?,
                    gate_name: row.try_get("gate_name")?,
                    direction: row.try_get("direction")?,
                    device_id: row.try_get("device_id")?,
                    device_label: row.try_get("device_label")?,
                    hlc: hlc_of(row.try_get("hlc")?)?,
                    verdict: row.try_get("verdict")?,
                    offline: row.try_get("offline")?,
                    scanned_at: ms(row.try_get("scanned_at")?),
                    failed: row.try_get("failed")?,
                    annulled: row.try_get("annulled")?,
                    found_by: row.try_get("found_by")?,
                })
            })
            .collect()
    }

    async fn export_badge_prints(
        &self,
        event_id: EventId,
    ) -> Result<Vec<BadgePrintExport>, StoreError> {
        self.catch_up(event_id).await?;
        let mut conn = self.pool.acquire().await?;
        require_event(&mut conn, event_id).await?;
        let rows = sqlx::query(
            "select p.ticket_id, a.id as attendee_id,
                    nullif(btrim(coalesce(a.first_name, '') || ' ' || coalesce(a.last_name, '')), '')
                        as attendee_name,
                    p.gate_id, g.name as gate_name, p.check_in_id, p.reprint, p.printed_at, p.hlc,
                    p.device_id, d.label as device_label
             from badge_prints p
             left join ticket_aliases ta on ta.alias_id = p.ticket_id
             left join tickets t on t.id = coalesce(ta.ticket_id, p.ticket_id)
             left join attendee_aliases aa on aa.alias_id = t.attendee_id
             left join attendees a on a.id = coalesce(aa.attendee_id, t.attendee_id)
             left join gates g on g.id = p.gate_id
             left join devices d on d.id = p.device_id
             where p.event_id = $1
             order by p.hlc, p.device_id, p.seq",
        )
        .bind(event_id.as_uuid())
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(BadgePrintExport {
                    ticket_id: row.try_get("ticket_id")?,
                    attendee_id: row.try_get("attendee_id")?,
                    attendee_name: row.try_get("attendee_name")?,
                    gate_id: row.try_get("gate_id")?,
                    gate_name: row.try_get("gate_name")?,
                    check_in_id: row.try_get("check_in_id")?,
                    reprint: row.try_get("reprint")?,
                    printed_at: ms(row.try_get("printed_at")?),
                    hlc: hlc_of(row.try_get("hlc")?)?,
                    device_id: row.try_get("device_id")?,
                    device_label: row.try_get("device_label")?,
                })
            })
            .collect()
    }

    async fn export_registrations(
        &self,
        event_id: EventId,
    ) -> Result<Vec<RegistrationExport>, StoreError> {
        self.catch_up(event_id).await?;
        let mut conn = self.pool.acquire().await?;
        require_event(&mut conn, event_id).await?;
        let rows = sqlx::query(
            "select a.id, a.first_name, a.last_name, a.email, a.phone, a.answers,
                    t.id as ticket_id, tt.name as ticket_type, t.status as ticket_status,
                    a.created_by_device, al.attendee_id as merged_into,
                    (select min(c.hlc) from check_ins c
                     where c.event_id = a.event_id and c.verdict = 'admitted'
                       and c.direction = 'entry' and not c.annulled and not c.failed
                       and (c.ticket_id = t.id or c.ticket_id in
                            (select x.alias_id from ticket_aliases x where x.ticket_id = t.id)))
                        as first_admitted_hlc
             from attendees a
             left join tickets t on t.attendee_id = a.id
             left join ticket_types tt on tt.id = t.ticket_type_id
             left join attendee_aliases al on al.alias_id = a.id
             where a.event_id = $1
             order by a.last_name, a.first_name, a.id, t.id",
        )
        .bind(event_id.as_uuid())
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RegistrationExport {
                    attendee_id: row.try_get("id")?,
                    first_name: row.try_get("first_name")?,
                    last_name: row.try_get("last_name")?,
                    email: row.try_get("email")?,
                    phone: row.try_get("phone")?,
                    answers: row.try_get("answers")?,
                    ticket_id: row.try_get("ticket_id")?,
                    ticket_type: row.try_get("ticket_type")?,
                    ticket_status: row.try_get("ticket_status")?,
                    created_by_device: row.try_get("created_by_device")?,
                    merged_into: row.try_get("merged_into")?,
                    first_admitted_at: row
                        .try_get::<Option<i64>, _>("first_admitted_hlc")?
                        .map(|h| hlc_of(h).map(|h| h.wall()))
                        .transpose()?,
                })
            })
            .collect()
    }

    async fn event_stats(&self, event_id: EventId) -> Result<EventStats, StoreError> {
        self.catch_up(event_id).await?;
        let mut conn = self.pool.acquire().await?;
        require_event(&mut conn, event_id).await?;
        let rows = sqlx::query(
            "select c.gate_id, ((c.hlc >> 16) / 3600000) * 3600000 as hour,
                    c.direction = 'entry' as entry,
                    c.verdict = 'admitted' and not c.failed as admitted, c.annulled,
                    count(*) as n
             from check_ins c where c.event_id = $1
             group by 1, 2, 3, 4, 5",
        )
        .bind(event_id.as_uuid())
        .fetch_all(&mut *conn)
        .await?;
        let mut total = CheckInCounts::default();
        let mut gates: BTreeMap<Uuid, CheckInCounts> = BTreeMap::new();
        let mut hours: BTreeMap<i64, CheckInCounts> = BTreeMap::new();
        for row in &rows {
            let group = Group::of(row)?;
            group.count(&mut total);
            group.count(gates.entry(row.try_get("gate_id")?).or_default());
            group.count(hours.entry(row.try_get("hour")?).or_default());
        }
        let names: BTreeMap<Uuid, String> =
            sqlx::query_as::<_, (Uuid, String)>("select id, name from gates where event_id = $1")
                .bind(event_id.as_uuid())
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .collect();
        let tickets_admitted: i64 = sqlx::query_scalar(
            "select count(distinct coalesce(ta.ticket_id, c.ticket_id)) from check_ins c
             left join ticket_aliases ta on ta.alias_id = c.ticket_id
             where c.event_id = $1 and c.verdict = 'admitted' and c.direction = 'entry'
               and not c.annulled and not c.failed",
        )
        .bind(event_id.as_uuid())
        .fetch_one(&mut *conn)
        .await?;
        let days = event_days(&mut conn, event_id, &names).await?;
        let open_conflicts: i64 = sqlx::query_scalar(
            "select count(*) from conflicts where event_id = $1 and status = 'open'",
        )
        .bind(event_id.as_uuid())
        .fetch_one(&mut *conn)
        .await?;
        Ok(EventStats {
            event_id,
            total,
            tickets_admitted: tickets_admitted.max(0) as u64,
            open_conflicts: open_conflicts.max(0) as u64,
            gates: gate_stats(gates, &names),
            hours: hours
                .into_iter()
                .map(|(hour, counts)| HourStats {
                    hour: ms(hour),
                    counts,
                })
                .collect(),
            days,
        })
    }
}

/// What a merge did.
struct Merged {
    /// The kept attendee's ticket, which the other's tickets now alias.
    ticket: Option<Uuid>,
    ticket_aliases: Vec<Uuid>,
}

/// Makes `other` an alias of `keep` (both followed to their canonical attendee), and the other's
/// tickets aliases of the kept attendee's first ticket; recomputes that ticket's conflicts.
async fn merge(
    conn: &mut PgConnection,
    event: EventId,
    keep: Uuid,
    other: Uuid,
) -> Result<Merged, StoreError> {
    let aliases = attendee_aliases(conn, event, &[keep, other].into()).await?;
    let keep = aliases.get(&keep).copied().unwrap_or(keep);
    let other = aliases.get(&other).copied().unwrap_or(other);
    if keep == other {
        return Ok(Merged {
            ticket: None,
            ticket_aliases: Vec::new(),
        });
    }
    let keep_ticket: Option<Uuid> = sqlx::query_scalar(
        "select id from tickets where attendee_id = $1 and event_id = $2 order by id limit 1",
    )
    .bind(keep)
    .bind(event.as_uuid())
    .fetch_optional(&mut *conn)
    .await?;
    let other_tickets: Vec<Uuid> =
        sqlx::query_scalar("select id from tickets where attendee_id = $1 and event_id = $2")
            .bind(other)
            .bind(event.as_uuid())
            .fetch_all(&mut *conn)
            .await?;
    let keys = lock_keys(
        event.as_uuid(),
        keep_ticket.iter().chain(&other_tickets).copied(),
        [keep, other],
        true,
    );
    lock(conn, &keys).await?;
    sqlx::query(
        "insert into attendee_aliases (alias_id, attendee_id, event_id) values ($1, $2, $3)
         on conflict (alias_id) do update set attendee_id = excluded.attendee_id",
    )
    .bind(other)
    .bind(keep)
    .bind(event.as_uuid())
    .execute(&mut *conn)
    .await?;
    sqlx::query("update attendee_aliases set attendee_id = $2 where attendee_id = $1")
        .bind(other)
        .bind(keep)
        .execute(&mut *conn)
        .await?;
    let Some(keep_ticket) = keep_ticket else {
        return Ok(Merged {
            ticket: None,
            ticket_aliases: Vec::new(),
        });
    };
    if !other_tickets.is_empty() {
        sqlx::query(
            "insert into ticket_aliases (alias_id, ticket_id, event_id)
             select t, $2, $3 from unnest($1::uuid[]) t
             on conflict (alias_id) do update set ticket_id = excluded.ticket_id",
        )
        .bind(&other_tickets)
        .bind(keep_ticket)
        .bind(event.as_uuid())
        .execute(&mut *conn)
        .await?;
        sqlx::query("update ticket_aliases set ticket_id = $2 where ticket_id = any($1)")
            .bind(&other_tickets)
            .bind(keep_ticket)
            .execute(&mut *conn)
            .await?;
    }
    let touched: BTreeSet<Uuid> = [keep_ticket].into();
    let aliases = TicketAliases::load(conn, event, &touched).await?;
    let conflicts = recompute_tickets(conn, event, &aliases, &touched).await?;
    upsert_conflicts(conn, event, &conflicts).await?;
    Ok(Merged {
        ticket: Some(keep_ticket),
        ticket_aliases: other_tickets,
    })
}

/// Writes `value` as a server edit of the field that wins over every stored version; returns
/// its stamp.
async fn pick(
    conn: &mut PgConnection,
    event: EventId,
    attendee: Uuid,
    field: &str,
    value: &serde_json::Value,
    stamp: Hlc,
) -> Result<Hlc, StoreError> {
    let aliases = attendee_aliases(conn, event, &[attendee].into()).await?;
    let attendee = aliases.get(&attendee).copied().unwrap_or(attendee);
    lock(conn, &lock_keys(event.as_uuid(), [], [attendee], false)).await?;
    let winner: Option<i64> = sqlx::query_scalar(
        "select max(hlc) from attendee_edits where attendee_id = $1 and field = $2",
    )
    .bind(attendee)
    .bind(field)
    .fetch_one(&mut *conn)
    .await?;
    let winner = winner.map(hlc_of).transpose()?;
    let hlc = match winner {
        Some(w) if w >= stamp => Hlc::from_u64(w.to_u64() + 1),
        _ => stamp,
    };
    let to_i64 = |h: Hlc| {
        h.to_i64()
            .ok_or_else(|| StoreError::Invalid(format!("hlc {h} out of range")))
    };
    insert_edit_rows(
        conn,
        event,
        &[attendee],
        &[field.to_owned()],
        &[to_i64(hlc)?],
        &[server_device().as_uuid()],
        std::slice::from_ref(value),
        &[winner.map(to_i64).transpose()?],
        &[0],
    )
    .await?;
    let conflicts = recompute_attendees(conn, event, &[attendee].into()).await?;
    upsert_conflicts(conn, event, &conflicts).await?;
    Ok(hlc)
}
