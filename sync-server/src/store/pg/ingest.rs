//! Domain effects and conflict detection of pushed changes on Postgres, filed by the filer
//! (`filer`) after their push committed (the decisions live in [`crate::ingest`]).
//!
//! Every query is batched (`UNNEST` arrays, `= any($1)`): a batch of 1000 check-ins costs a fixed
//! handful of round trips. Filing is idempotent (a change filed twice has the effects of one
//! filing): the filer may file a change again after a crash or a catch-up. A filing touching
//! tickets or attendees takes transaction-level advisory locks on hash buckets of their ids
//! first, in one sorted order, so a merge or a ticket status change by a coordinator and the
//! filer see each other's facts, and never deadlock.
//! The filing runs in a savepoint. Transient failures fail the filing so the filer tries again. A
//! failure a retry cannot fix (a bug, a damaged row) rolls the savepoint back and files the
//! batch's changes one by one, each in its own savepoint: the ones that file keep their effects,
//! and each one that still fails gets an open `unfiled_change` conflict with its reason, for
//! coordinators. Either way the filer moves on (the change stays in the change log, the filer
//! never wedges) and nothing is dropped without a word.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::{Acquire, PgConnection, Row};
use sync_protocol::UnixMillis;
use sync_protocol::changes::{Change, ChangeBody, WalkIn};
use sync_protocol::hlc::Hlc;
use sync_protocol::ids::{AttendeeId, CheckInId, DeviceId, EventId, GateId, TicketId};
use sync_protocol::merge::{ChangeMeta, CheckInRecord, FieldVersion, TicketStatusChange};
use sync_protocol::model::{Attendee, FormRef, Reentry, TicketStatus};
use uuid::Uuid;

use crate::ingest::{
    self, Batch, ConflictRow, LockPlan, Registered, StoredCheckIn, StoredEdit, annulment_counts,
    duplicate_conflicts, gate_rule, lock_keys, merge_edits, ticket_conflicts,
};
use crate::store::StoreError;

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn hlc_of(packed: i64) -> Result<Hlc, StoreError> {
    Hlc::from_i64(packed).ok_or_else(|| corrupt(format!("hlc {packed}")))
}

fn hlc_i64(hlc: Hlc) -> Result<i64, StoreError> {
    hlc.to_i64()
        .ok_or_else(|| StoreError::Invalid(format!("hlc {hlc} out of range")))
}

fn text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

fn parse_text<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| corrupt(format!("value {s:?}")))
}

/// Files the effects of accepted changes of `event`. See the module doc for failures.
pub(crate) async fn file(
    conn: &mut PgConnection,
    event: EventId,
    changes: &[(&Change, &ChangeBody)],
) -> Result<(), StoreError> {
    let batch = Batch::of(changes.iter().copied());
    if batch.is_empty() {
        return Ok(());
    }
    let mut savepoint = conn.begin().await?;
    match file_batch(&mut savepoint, event, &batch).await {
        Ok(()) => {
            savepoint.commit().await?;
            Ok(())
        }
        Err(err) if is_transient(&err) => Err(err),
        Err(err) => {
            savepoint.rollback().await?;
            tracing::error!(event = %event, changes = changes.len(),
                error = %crate::error::error_chain(&err),
                "filing a batch of pushed changes failed; filing them one by one");
            file_one_by_one(conn, event, changes).await
        }
    }
}

/// Files each change in its own savepoint; one that cannot be filed gets an `unfiled_change`
/// conflict (see the module doc).
async fn file_one_by_one(
    conn: &mut PgConnection,
    event: EventId,
    changes: &[(&Change, &ChangeBody)],
) -> Result<(), StoreError> {
    for &(change, body) in changes {
        let batch = Batch::of(std::iter::once((change, body)));
        if batch.is_empty() {
            continue;
        }
        let mut savepoint = conn.begin().await?;
        match file_batch(&mut savepoint, event, &batch).await {
            Ok(()) => savepoint.commit().await?,
            Err(err) if is_transient(&err) => return Err(err),
            Err(err) => {
                savepoint.rollback().await?;
                let reason = crate::error::error_chain(&err);
                tracing::error!(device = %change.device_id, seq = change.seq, kind = %change.kind,
                    error = %reason, "a pushed change could not be filed; a coordinator sees it");
                upsert_conflicts(conn, event, &[ConflictRow::unfiled_change(change, &reason)])
                    .await?;
            }
        }
    }
    Ok(())
}

/// Shows coordinators accepted changes that cannot be filed (an `unfiled_change` conflict each).
pub(crate) async fn report_unfiled(
    conn: &mut PgConnection,
    event: EventId,
    changes: &[(&Change, String)],
) -> Result<(), StoreError> {
    let rows: Vec<ConflictRow> = changes
        .iter()
        .map(|(change, reason)| {
            tracing::error!(device = %change.device_id, seq = change.seq, kind = %change.kind,
                error = %reason, "a stored change could not be read for filing; a coordinator sees it");
            ConflictRow::unfiled_change(change, reason)
        })
        .collect();
    upsert_conflicts(conn, event, &rows).await
}

/// Whether a retry of the filing may succeed (connection lost, deadlock, serialization).
fn is_transient(err: &StoreError) -> bool {
    match err {
        StoreError::Unavailable(_) => true,
        StoreError::Database(sqlx::Error::Database(db)) => db.code().is_some_and(|code| {
            // Serialization failure, deadlock, lock timeout, connection, resources, shutdown.
            matches!(&*code, "40001" | "40P01" | "55P03")
                || code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
        }),
        StoreError::Database(
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_),
        ) => true,
        _ => false,
    }
}

async fn file_batch(
    conn: &mut PgConnection,
    event: EventId,
    batch: &Batch,
) -> Result<(), StoreError> {
    // Writes that need no alias first, then the locks, then the aliases and the reads the
    // merge needs: a push that takes the locks after another one committed sees its facts, and
    // a merge of these tickets or attendees (which locks them too) is either wholly before or
    // wholly after; the locked stretch is short.
    let mut conflicts: Vec<ConflictRow> = Vec::new();
    if !batch.check_ins.is_empty() || !batch.failed_scans.is_empty() {
        insert_check_ins(conn, event, batch).await?;
    }
    let mut scanned: BTreeSet<Uuid> = batch
        .check_ins
        .iter()
        .filter(|(_, _, c)| c.verdict.admits())
        .map(|(_, _, c)| c.ticket_id.as_uuid())
        .collect();
    if !batch.annulments.is_empty() {
        scanned.extend(apply_annulments(conn, event, batch).await?);
    }
    let edited: BTreeSet<Uuid> = batch
        .edits
        .iter()
        .map(|(_, _, e)| e.attendee_id.as_uuid())
        .collect();
    let mut recompute: BTreeSet<Uuid> = BTreeSet::new();
    if !batch.walk_ins.is_empty() {
        conflicts.extend(insert_walk_ins(conn, event, batch).await?);
        recompute.extend(
            batch
                .walk_ins
                .iter()
                .map(|(_, _, w)| w.attendee.id.as_uuid()),
        );
    }
    let raw_attendees: BTreeSet<Uuid> = recompute.union(&edited).copied().collect();
    lock(
        conn,
        &lock_keys(
            event.as_uuid(),
            scanned.iter().copied(),
            raw_attendees.iter().copied(),
            !batch.walk_ins.is_empty(),
        ),
    )
    .await?;

    // Read under the locks: no merge of these records runs now.
    let tickets = TicketAliases::load(conn, event, &scanned).await?;
    let attendee_aliases = attendee_aliases(conn, event, &edited).await?;
    let canonical_attendee = |id: Uuid| attendee_aliases.get(&id).copied().unwrap_or(id);
    let touched: BTreeSet<Uuid> = scanned.iter().map(|&t| tickets.canonical(t)).collect();
    recompute.extend(edited.iter().map(|&a| canonical_attendee(a)));
    // The canonical records of merged ones are locked too (out of the global order, so two such
    // pushes can deadlock: Postgres then fails one, and its kiosk retries).
    let more_tickets: Vec<Uuid> = touched.difference(&scanned).copied().collect();
    let more_attendees: Vec<Uuid> = recompute.difference(&raw_attendees).copied().collect();
    if !more_tickets.is_empty() || !more_attendees.is_empty() {
        lock(
            conn,
            &lock_keys(event.as_uuid(), more_tickets, more_attendees, false),
        )
        .await?;
    }
    if !batch.edits.is_empty() {
        insert_edits(conn, event, batch, &canonical_attendee).await?;
    }
    if !batch.prints.is_empty() {
        insert_prints(conn, event, batch).await?;
    }
    if !touched.is_empty() {
        conflicts.extend(recompute_tickets(conn, event, &tickets, &touched).await?);
    }
    if !batch.walk_ins.is_empty() {
        conflicts.extend(find_duplicates(conn, event, batch).await?);
    }
    if !recompute.is_empty() {
        conflicts.extend(recompute_attendees(conn, event, &recompute).await?);
    }
    upsert_conflicts(conn, event, &conflicts).await
}

/// Takes the advisory locks of `plan` (transaction-scoped), step by step, in key order, in one
/// statement.
pub(crate) async fn lock(conn: &mut PgConnection, plan: &LockPlan) -> Result<(), StoreError> {
    let (keys, shared): (Vec<i64>, Vec<bool>) = plan
        .steps
        .iter()
        .flat_map(|(keys, shared)| keys.iter().map(move |&k| (k, *shared)))
        .unzip();
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "select case when s then pg_advisory_xact_lock_shared(k) else pg_advisory_xact_lock(k) end
         from unnest($1::bigint[], $2::bool[]) with ordinality as x(k, s, n) order by n",
    )
    .bind(&keys)
    .bind(&shared)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Merged tickets: alias -> canonical ticket, for the tickets of a batch and their aliases.
#[derive(Debug, Default)]
pub(crate) struct TicketAliases {
    canonical: HashMap<Uuid, Uuid>,
}

impl TicketAliases {
    /// The aliases of every canonical ticket behind `tickets`.
    pub(crate) async fn load(
        conn: &mut PgConnection,
        event: EventId,
        tickets: &BTreeSet<Uuid>,
    ) -> Result<Self, StoreError> {
        if tickets.is_empty() {
            return Ok(Self::default());
        }
        let ids: Vec<Uuid> = tickets.iter().copied().collect();
        let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "select alias_id, ticket_id from ticket_aliases
             where event_id = $2 and ticket_id in (
                 select coalesce(a.ticket_id, t) from unnest($1::uuid[]) t
                 left join ticket_aliases a on a.alias_id = t)",
        )
        .bind(&ids)
        .bind(event.as_uuid())
        .fetch_all(conn)
        .await?;
        Ok(Self {
            canonical: rows.into_iter().collect(),
        })
    }

    pub(crate) fn canonical(&self, ticket: Uuid) -> Uuid {
        self.canonical.get(&ticket).copied().unwrap_or(ticket)
    }

    /// Every ticket id (canonical and aliases) whose check-ins count for `canonical`.
    fn members(&self, canonical: &BTreeSet<Uuid>) -> Vec<Uuid> {
        let mut ids: BTreeSet<Uuid> = canonical.clone();
        ids.extend(
            self.canonical
                .iter()
                .filter(|(_, c)| canonical.contains(c))
                .map(|(a, _)| *a),
        );
        ids.into_iter().collect()
    }
}

/// alias -> canonical attendee, for these attendees.
pub(crate) async fn attendee_aliases(
    conn: &mut PgConnection,
    event: EventId,
    attendees: &BTreeSet<Uuid>,
) -> Result<HashMap<Uuid, Uuid>, StoreError> {
    if attendees.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<Uuid> = attendees.iter().copied().collect();
    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "select alias_id, attendee_id from attendee_aliases where event_id = $2 and alias_id = any($1)",
    )
    .bind(&ids)
    .bind(event.as_uuid())
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

async fn insert_check_ins(
    conn: &mut PgConnection,
    event: EventId,
    batch: &Batch,
) -> Result<(), StoreError> {
    let n = batch.check_ins.len() + batch.failed_scans.len();
    let mut ids = Vec::with_capacity(n);
    let mut tickets: Vec<Option<Uuid>> = Vec::with_capacity(n);
    let mut gates = Vec::with_capacity(n);
    let mut directions = Vec::with_capacity(n);
    let mut devices = Vec::with_capacity(n);
    let mut seqs = Vec::with_capacity(n);
    let mut hlcs = Vec::with_capacity(n);
    let mut verdicts = Vec::with_capacity(n);
    let mut offlines = Vec::with_capacity(n);
    let mut scanned_ats = Vec::with_capacity(n);
    let mut faileds = Vec::with_capacity(n);
    let mut texts: Vec<Option<String>> = Vec::with_capacity(n);
    let mut found_bys: Vec<&str> = Vec::with_capacity(n);
    for (meta, seq, c) in &batch.check_ins {
        ids.push(c.id.as_uuid());
        tickets.push(Some(c.ticket_id.as_uuid()));
        gates.push(c.gate_id.as_uuid());
        directions.push(text(&c.direction));
        devices.push(meta.device_id.as_uuid());
        seqs.push(*seq as i64);
        hlcs.push(hlc_i64(meta.hlc)?);
        verdicts.push(text(&c.verdict));
        offlines.push(c.offline);
        scanned_ats.push(c.scanned_at.as_u64().min(i64::MAX as u64) as i64);
        faileds.push(false);
        texts.push(None);
        found_bys.push(c.found_by.as_str());
    }
    for (meta, seq, f) in &batch.failed_scans {
        ids.push(f.id.as_uuid());
        tickets.push(f.ticket_id.map(|t| t.as_uuid()));
        gates.push(f.gate_id.as_uuid());
        directions.push(text(&f.direction));
        devices.push(meta.device_id.as_uuid());
        seqs.push(*seq as i64);
        hlcs.push(hlc_i64(meta.hlc)?);
        verdicts.push(text(&f.verdict));
        offlines.push(f.offline);
        scanned_ats.push(f.scanned_at.as_u64().min(i64::MAX as u64) as i64);
        faileds.push(true);
        texts.push(Some(f.scanned_text.chars().take(256).collect()));
        found_bys.push(f.found_by.as_str());
    }
    // A check-in id seen before (the same nonce pushed under another seq) keeps its first row.
    sqlx::query(
        "insert into check_ins (event_id, id, ticket_id, gate_id, direction, device_id, seq, hlc,
                                verdict, offline, scanned_at, failed, scanned_text, found_by)
         select $1, s.* from unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::uuid[],
                $7::bigint[], $8::bigint[], $9::text[], $10::bool[], $11::bigint[], $12::bool[],
                $13::text[], $14::text[]) as s
         on conflict (id) do nothing",
    )
    .bind(event.as_uuid())
    .bind(&ids)
    .bind(&tickets)
    .bind(&gates)
    .bind(&directions)
    .bind(&devices)
    .bind(&seqs)
    .bind(&hlcs)
    .bind(&verdicts)
    .bind(&offlines)
    .bind(&scanned_ats)
    .bind(&faileds)
    .bind(&texts)
    .bind(&found_bys)
    .execute(conn)
    .await?;
    Ok(())
}

fn check_in_record(row: &sqlx::postgres::PgRow) -> Result<StoredCheckIn, StoreError> {
    let direction: String = row.try_get("direction")?;
    let verdict: String = row.try_get("verdict")?;
    Ok(StoredCheckIn {
        record: CheckInRecord {
            hlc: hlc_of(row.try_get("hlc")?)?,
            device_id: DeviceId::from_uuid(row.try_get("device_id")?).map_err(corrupt)?,
            check_in_id: CheckInId::from_uuid(row.try_get("id")?).map_err(corrupt)?,
            ticket_id: TicketId::from_uuid(row.try_get("ticket_id")?).map_err(corrupt)?,
            gate_id: GateId::from_uuid(row.try_get("gate_id")?).map_err(corrupt)?,
            direction: parse_text(&direction)?,
            verdict: parse_text(&verdict)?,
            offline: row.try_get("offline")?,
            scanned_at: UnixMillis(row.try_get::<i64, _>("scanned_at")?.max(0) as u64),
        },
        annulled: row.try_get("annulled")?,
    })
}

const CHECK_IN_COLUMNS: &str =
    "id, ticket_id, gate_id, direction, device_id, hlc, verdict, offline, scanned_at, annulled";

/// Marks the check-ins the batch's annulments annul; returns their tickets.
async fn apply_annulments(
    conn: &mut PgConnection,
    event: EventId,
    batch: &Batch,
) -> Result<Vec<Uuid>, StoreError> {
    let ids: Vec<Uuid> = batch
        .annulments
        .iter()
        .map(|(_, a)| a.check_in_id.as_uuid())
        .collect();
    let rows = sqlx::query(&format!(
        "select {CHECK_IN_COLUMNS} from check_ins
         where event_id = $1 and id = any($2) and not failed and ticket_id is not null"
    ))
    .bind(event.as_uuid())
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut known: HashMap<CheckInId, StoredCheckIn> = HashMap::new();
    for row in &rows {
        let stored = check_in_record(row)?;
        known.insert(stored.record.check_in_id, stored);
    }
    let (mut annulled, mut hlcs, mut reasons, mut tickets) = (vec![], vec![], vec![], vec![]);
    for (meta, annulment) in &batch.annulments {
        match known.get_mut(&annulment.check_in_id) {
            Some(stored)
                if !stored.annulled && annulment_counts(*meta, annulment, &stored.record) =>
            {
                stored.annulled = true;
                annulled.push(annulment.check_in_id.as_uuid());
                hlcs.push(hlc_i64(meta.hlc)?);
                reasons.push(annulment.reason.chars().take(500).collect::<String>());
                tickets.push(stored.record.ticket_id.as_uuid());
            }
            _ => tracing::info!(device = %meta.device_id, check_in = %annulment.check_in_id,
                "annulment without effect: unknown check-in, another device's, or too late"),
        }
    }
    if annulled.is_empty() {
        return Ok(tickets);
    }
    sqlx::query(
        "update check_ins c set annulled = true, annulled_hlc = s.hlc, annul_reason = s.reason
         from unnest($1::uuid[], $2::bigint[], $3::text[]) as s(id, hlc, reason)
         where c.id = s.id",
    )
    .bind(&annulled)
    .bind(&hlcs)
    .bind(&reasons)
    .execute(&mut *conn)
    .await?;
    // Conflicts that named an annulled check-in no longer hold; the recomputation below finds
    // whatever follows instead.
    sqlx::query(
        "update conflicts set status = 'resolved', resolved_by = 'system', resolved_at = now(),
             resolution = jsonb_build_object('action', 'annulled', 'note',
                 'a check-in it names was annulled by the device that made it')
         where event_id = $1 and status = 'open' and records && $2::uuid[]
           and kind in ('double_admission', 'admitted_while_canceled', 'admitted_while_revoked')",
    )
    .bind(event.as_uuid())
    .bind(&annulled)
    .execute(&mut *conn)
    .await?;
    Ok(tickets)
}

/// Ticket conflicts of the canonical tickets `touched`, from every stored fact.
pub(crate) async fn recompute_tickets(
    conn: &mut PgConnection,
    event: EventId,
    aliases: &TicketAliases,
    touched: &BTreeSet<Uuid>,
) -> Result<Vec<ConflictRow>, StoreError> {
    let members = aliases.members(touched);
    let rows = sqlx::query(&format!(
        // One index probe per ticket, whatever the statistics say: `offset 0` keeps the planner
        // from turning the lateral probe into one scan of the event's admissions (what it picks
        // while check_ins has grown since its last analyze, making every push slower).
        "select c.* from unnest($1::uuid[]) t(wanted), lateral (
             select {CHECK_IN_COLUMNS} from check_ins
             where ticket_id = t.wanted and event_id = $2 and verdict = 'admitted' and not failed
             offset 0) c"
    ))
    .bind(&members)
    .bind(event.as_uuid())
    .fetch_all(&mut *conn)
    .await?;
    let mut facts = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut stored = check_in_record(row)?;
        let canonical = aliases.canonical(stored.record.ticket_id.as_uuid());
        stored.record.ticket_id = TicketId::from_uuid(canonical).map_err(corrupt)?;
        facts.push(stored);
    }
    let touched_ids: Vec<Uuid> = touched.iter().copied().collect();
    let status_rows: Vec<(Uuid, String, i64)> = sqlx::query_as(
        // Only this event's tickets: a check-in naming another event's ticket (a damaged or
        // hostile kiosk) must not take that ticket's status.
        "select id, status, status_hlc from tickets
         where id = any($1) and event_id = $2 and (status <> 'valid' or status_hlc > 0)",
    )
    .bind(&touched_ids)
    .bind(event.as_uuid())
    .fetch_all(&mut *conn)
    .await?;
    let mut statuses = Vec::with_capacity(status_rows.len());
    for (id, status, hlc) in status_rows {
        statuses.push(TicketStatusChange {
            ticket_id: TicketId::from_uuid(id).map_err(corrupt)?,
            status: parse_text::<TicketStatus>(&status)?,
            hlc: hlc_of(hlc)?,
        });
    }
    let gate_rows: Vec<(Uuid, String)> =
        sqlx::query_as("select id, reentry from gates where event_id = $1")
            .bind(event.as_uuid())
            .fetch_all(&mut *conn)
            .await?;
    let mut gates = Vec::with_capacity(gate_rows.len());
    for (id, reentry) in gate_rows {
        gates.push(gate_rule(
            GateId::from_uuid(id).map_err(corrupt)?,
            parse_text::<Reentry>(&reentry)?,
        ));
    }
    let tickets: BTreeSet<TicketId> = touched
        .iter()
        .filter_map(|&t| TicketId::from_uuid(t).ok())
        .collect();
    let rows: Vec<ConflictRow> = ticket_conflicts(&gates, &facts, &statuses, &tickets)
        .iter()
        .map(ConflictRow::of)
        .collect();
    retire_superseded(conn, event, touched, &rows).await?;
    Ok(rows)
}

/// Resolves the open ticket conflicts of `touched` that the recomputation no longer finds.
///
/// A check-in that reaches the server late can come before those it already holds (a kiosk that
/// was offline, or whose clock was behind): the earliest admission is then another one, and a
/// double admission first found between two later check-ins no longer holds; the recomputation
/// lists the conflicts that do. The old one is kept, resolved by the system with the reason, so
/// that coordinators see each extra admission once. Should it hold again (the earlier check-in
/// annulled), [`upsert_conflicts`] opens it again.
async fn retire_superseded(
    conn: &mut PgConnection,
    event: EventId,
    touched: &BTreeSet<Uuid>,
    holding: &[ConflictRow],
) -> Result<(), StoreError> {
    let touched: Vec<Uuid> = touched.iter().copied().collect();
    let holding: Vec<Uuid> = holding.iter().map(|c| c.id).collect();
    sqlx::query(
        // One index probe per ticket (`offset 0` keeps the planner from scanning the event's
        // open conflicts instead).
        "update conflicts c set status = 'resolved', resolved_by = 'system', resolved_at = now(),
             resolution = jsonb_build_object('action', 'superseded', 'note',
                 'a check-in that reached the server later comes first: this conflict no longer holds, the open ones of the ticket replace it')
         from (select x.id from unnest($2::uuid[]) t(ticket), lateral (
                   select id from conflicts
                   where event_id = $1 and status = 'open' and records[1] = t.ticket
                     and kind in ('double_admission', 'admitted_while_canceled',
                                  'admitted_while_revoked')
                   offset 0) x
               where x.id not in (select unnest($3::uuid[]))) gone
         where c.id = gone.id",
    )
    .bind(event.as_uuid())
    .bind(&touched)
    .bind(&holding)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores walk-ins: the attendee always, the ticket or a parked ticket.
async fn insert_walk_ins(
    conn: &mut PgConnection,
    event: EventId,
    batch: &Batch,
) -> Result<Vec<ConflictRow>, StoreError> {
    let n = batch.walk_ins.len();
    let mut ids = Vec::with_capacity(n);
    let (mut firsts, mut lasts, mut emails, mut phones) = (vec![], vec![], vec![], vec![]);
    let (mut answers, mut form_ids, mut form_versions) = (vec![], vec![], vec![]);
    let (mut devices, mut seqs, mut hlcs) = (vec![], vec![], vec![]);
    let (mut ticket_ids, mut types, mut statuses, mut codes) = (vec![], vec![], vec![], vec![]);
    for (meta, seq, w) in &batch.walk_ins {
        let a = &w.attendee;
        ids.push(a.id.as_uuid());
        firsts.push(a.first_name.clone());
        lasts.push(a.last_name.clone());
        emails.push(a.email.clone());
        phones.push(a.phone.clone());
        answers.push(serde_json::to_value(&a.answers).map_err(corrupt)?);
        form_ids.push(a.form.map(|f| f.id.as_uuid()));
        form_versions.push(a.form.map(|f| f.version.min(i32::MAX as u32) as i32));
        devices.push(meta.device_id.as_uuid());
        seqs.push(*seq as i64);
        hlcs.push(hlc_i64(meta.hlc)?);
        ticket_ids.push(w.ticket.id.as_uuid());
        types.push(w.ticket.ticket_type_id.as_uuid());
        statuses.push(text(&w.ticket.status));
        codes.push(w.ticket.code.clone());
    }
    sqlx::query(
        "insert into attendees (event_id, id, first_name, last_name, email, phone, answers,
                                form_id, form_version, created_by_device, created_seq, created_hlc,
                                updated_hlc)
         select $1, s.*, s.hlc from unnest($2::uuid[], $3::text[], $4::text[], $5::text[],
                $6::text[], $7::jsonb[], $8::uuid[], $9::int[], $10::uuid[], $11::bigint[],
                $12::bigint[]) as s(id, f, l, e, p, a, fi, fv, d, seq, hlc)
         on conflict do nothing",
    )
    .bind(event.as_uuid())
    .bind(&ids)
    .bind(&firsts)
    .bind(&lasts)
    .bind(&emails)
    .bind(&phones)
    .bind(&answers)
    .bind(&form_ids)
    .bind(&form_versions)
    .bind(&devices)
    .bind(&seqs)
    .bind(&hlcs)
    .execute(&mut *conn)
    .await?;
    let filed: Vec<Uuid> = sqlx::query_scalar(
        "insert into tickets (event_id, id, attendee_id, ticket_type_id, status, code)
         select $1, s.* from unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[])
                as s(id, attendee_id, type_id, status, code)
         where exists (select 1 from ticket_types t where t.id = s.type_id and t.event_id = $1)
           and s.status in ('valid', 'canceled', 'revoked')
         on conflict do nothing
         returning id",
    )
    .bind(event.as_uuid())
    .bind(&ticket_ids)
    .bind(&ids)
    .bind(&types)
    .bind(&statuses)
    .bind(&codes)
    .fetch_all(&mut *conn)
    .await?;
    if filed.len() < n {
        return park_tickets(conn, event, batch, &filed).await;
    }
    Ok(Vec::new())
}

/// Parks the walk-in tickets the tickets table did not take, with the reason.
async fn park_tickets(
    conn: &mut PgConnection,
    event: EventId,
    batch: &Batch,
    filed: &[Uuid],
) -> Result<Vec<ConflictRow>, StoreError> {
    let filed: BTreeSet<Uuid> = filed.iter().copied().collect();
    let left: Vec<&(ChangeMeta, u64, WalkIn)> = batch
        .walk_ins
        .iter()
        .filter(|(_, _, w)| !filed.contains(&w.ticket.id.as_uuid()))
        .collect();
    let ids: Vec<Uuid> = left.iter().map(|(_, _, w)| w.ticket.id.as_uuid()).collect();
    let codes: Vec<String> = left.iter().map(|(_, _, w)| w.ticket.code.clone()).collect();
    // Ticket ids are global: one of another event is taken too, never "stored before".
    let same: Vec<(Uuid, Uuid, Uuid)> =
        sqlx::query_as("select id, attendee_id, event_id from tickets where id = any($1)")
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await?;
    let same: HashMap<Uuid, (Uuid, Uuid)> = same
        .into_iter()
        .map(|(id, attendee, event)| (id, (attendee, event)))
        .collect();
    let used: BTreeSet<String> =
        sqlx::query_scalar("select code from tickets where event_id = $1 and code = any($2)")
            .bind(event.as_uuid())
            .bind(&codes)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    let mut conflicts = Vec::new();
    for (meta, _, w) in left {
        let t = &w.ticket;
        let reason = match same.get(&t.id.as_uuid()) {
            // The same ticket of the same attendee, stored before: nothing to park.
            Some((attendee, stored_in))
                if *attendee == w.attendee.id.as_uuid() && *stored_in == event.as_uuid() =>
            {
                continue;
            }
            Some(_) => "ticket_id_taken",
            None if used.contains(&t.code) => "code_clash",
            None => "unknown_ticket_type",
        };
        tracing::warn!(ticket = %t.id, reason, "walk-in ticket parked");
        sqlx::query(
            "insert into parked_walk_in_tickets
               (ticket_id, event_id, attendee_id, ticket_type_id, status, code, reason, device_id, hlc)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict do nothing",
        )
        .bind(t.id.as_uuid())
        .bind(event.as_uuid())
        .bind(w.attendee.id.as_uuid())
        .bind(t.ticket_type_id.as_uuid())
        .bind(text(&t.status))
        .bind(&t.code)
        .bind(reason)
        .bind(meta.device_id.as_uuid())
        .bind(hlc_i64(meta.hlc)?)
        .execute(&mut *conn)
        .await?;
        conflicts.push(ConflictRow::parked_ticket(
            t.id,
            w.attendee.id,
            &t.code,
            reason,
            *meta,
        ));
    }
    Ok(conflicts)
}

/// Possible duplicates of the batch's walk-ins among themselves and the event's attendees.
async fn find_duplicates(
    conn: &mut PgConnection,
    event: EventId,
    batch: &Batch,
) -> Result<Vec<ConflictRow>, StoreError> {
    let new_ids: Vec<Uuid> = batch
        .walk_ins
        .iter()
        .map(|(_, _, w)| w.attendee.id.as_uuid())
        .collect();
    let emails: Vec<String> = batch
        .walk_ins
        .iter()
        .filter_map(|(_, _, w)| ingest::email_key(w.attendee.email.as_deref()))
        .collect();
    let tails: Vec<String> = batch
        .walk_ins
        .iter()
        .filter_map(|(_, _, w)| ingest::phone_tail(w.attendee.phone.as_deref()))
        .collect();
    let rows = sqlx::query(
        "select a.id, a.first_name, a.last_name, a.email, a.phone, a.answers, a.form_id,
                a.form_version, c.payload, c.hlc, c.device_id
         from attendees a
         left join changes c on c.device_id = a.created_by_device and c.seq = a.created_seq
                            and c.kind = 'walk_in' and c.status = 'accepted'
         where a.event_id = $1 and a.id <> all($2)
           and (lower(btrim(a.email, E' \\t\\r\\n')) = any($3)
                or right(regexp_replace(a.phone, '[^0-9]', '', 'g'), 6) = any($4))
           and not exists (select 1 from attendee_aliases x where x.alias_id = a.id)",
    )
    .bind(event.as_uuid())
    .bind(&new_ids)
    .bind(&emails)
    .bind(&tails)
    .fetch_all(&mut *conn)
    .await?;
    let mut stored = Vec::with_capacity(rows.len());
    for row in &rows {
        let payload: Option<serde_json::Value> = row.try_get("payload")?;
        let walk_in = match payload {
            Some(p) => serde_json::from_value::<WalkIn>(p).ok(),
            None => None,
        };
        if let Some(walk_in) = walk_in {
            let meta = ChangeMeta {
                hlc: hlc_of(row.try_get("hlc")?)?,
                device_id: DeviceId::from_uuid(row.try_get("device_id")?).map_err(corrupt)?,
            };
            stored.push(Registered::WalkIn(meta, walk_in));
        } else {
            stored.push(Registered::Package(attendee_of(row)?));
        }
    }
    Ok(duplicate_conflicts(stored, &batch.walk_ins)
        .iter()
        .map(ConflictRow::of)
        .collect())
}

fn attendee_of(row: &sqlx::postgres::PgRow) -> Result<Attendee, StoreError> {
    let answers: serde_json::Value = row.try_get("answers")?;
    let form_id: Option<Uuid> = row.try_get("form_id")?;
    let form_version: Option<i32> = row.try_get("form_version")?;
    Ok(Attendee {
        id: AttendeeId::from_uuid(row.try_get("id")?).map_err(corrupt)?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        email: row.try_get("email")?,
        phone: row.try_get("phone")?,
        answers: serde_json::from_value(answers).unwrap_or_default(),
        form: match (form_id, form_version) {
            (Some(id), Some(version)) => Some(FormRef {
                id: sync_protocol::ids::FormId::from_uuid(id).map_err(corrupt)?,
                version: version.max(0) as u32,
            }),
            _ => None,
        },
    })
}

async fn insert_edits(
    conn: &mut PgConnection,
    event: EventId,
    batch: &Batch,
    canonical: &impl Fn(Uuid) -> Uuid,
) -> Result<(), StoreError> {
    let (mut attendees, mut fields, mut hlcs, mut devices) = (vec![], vec![], vec![], vec![]);
    let (mut values, mut seens, mut seqs) = (vec![], vec![], vec![]);
    for (meta, seq, edit) in &batch.edits {
        for (field, e) in &edit.fields {
            attendees.push(canonical(edit.attendee_id.as_uuid()));
            fields.push(field.clone());
            hlcs.push(hlc_i64(meta.hlc)?);
            devices.push(meta.device_id.as_uuid());
            values.push(e.value.clone());
            seens.push(e.seen.map(hlc_i64).transpose()?);
            seqs.push(*seq as i64);
        }
    }
    insert_edit_rows(
        conn, event, &attendees, &fields, &hlcs, &devices, &values, &seens, &seqs,
    )
    .await
}

/// Files the batch's badge prints into the print log, in one statement (a replay is a no-op).
async fn insert_prints(
    conn: &mut PgConnection,
    event: EventId,
    batch: &Batch,
) -> Result<(), StoreError> {
    let (mut devices, mut seqs, mut hlcs, mut tickets) = (vec![], vec![], vec![], vec![]);
    let (mut gates, mut check_ins, mut reprints, mut times) = (vec![], vec![], vec![], vec![]);
    for (meta, seq, print) in &batch.prints {
        devices.push(meta.device_id.as_uuid());
        seqs.push(*seq as i64);
        hlcs.push(hlc_i64(meta.hlc)?);
        tickets.push(print.ticket_id.as_uuid());
        gates.push(print.gate_id.as_uuid());
        check_ins.push(print.check_in_id.map(|c| c.as_uuid()));
        reprints.push(print.reprint);
        times.push(print.printed_at.as_u64() as i64);
    }
    sqlx::query(
        "insert into badge_prints (event_id, device_id, seq, hlc, ticket_id, gate_id, check_in_id,
                                   reprint, printed_at)
         select $1, s.* from unnest($2::uuid[], $3::bigint[], $4::bigint[], $5::uuid[], $6::uuid[],
                $7::uuid[], $8::boolean[], $9::bigint[]) as s
         on conflict do nothing",
    )
    .bind(event.as_uuid())
    .bind(devices)
    .bind(seqs)
    .bind(hlcs)
    .bind(tickets)
    .bind(gates)
    .bind(check_ins)
    .bind(reprints)
    .bind(times)
    .execute(conn)
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_edit_rows(
    conn: &mut PgConnection,
    event: EventId,
    attendees: &[Uuid],
    fields: &[String],
    hlcs: &[i64],
    devices: &[Uuid],
    values: &[serde_json::Value],
    seens: &[Option<i64>],
    seqs: &[i64],
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into attendee_edits (event_id, attendee_id, field, hlc, device_id, value, seen_hlc, seq)
         select $1, s.* from unnest($2::uuid[], $3::text[], $4::bigint[], $5::uuid[], $6::jsonb[],
                $7::bigint[], $8::bigint[]) as s
         on conflict do nothing",
    )
    .bind(event.as_uuid())
    .bind(attendees)
    .bind(fields)
    .bind(hlcs)
    .bind(devices)
    .bind(values)
    .bind(seens)
    .bind(seqs)
    .execute(conn)
    .await?;
    Ok(())
}

/// Rewrites the rows of these attendees from their stored edits (last writer wins per field)
/// and returns their field conflicts.
pub(crate) async fn recompute_attendees(
    conn: &mut PgConnection,
    event: EventId,
    attendees: &BTreeSet<Uuid>,
) -> Result<Vec<ConflictRow>, StoreError> {
    let ids: Vec<Uuid> = attendees.iter().copied().collect();
    let rows = sqlx::query(
        "select attendee_id, field, hlc, device_id, value, seen_hlc from attendee_edits
         where attendee_id = any($1) and event_id = $2",
    )
    .bind(&ids)
    .bind(event.as_uuid())
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut edits = Vec::with_capacity(rows.len());
    for row in &rows {
        edits.push(StoredEdit {
            attendee_id: AttendeeId::from_uuid(row.try_get("attendee_id")?).map_err(corrupt)?,
            field: row.try_get("field")?,
            version: FieldVersion {
                hlc: hlc_of(row.try_get("hlc")?)?,
                device_id: DeviceId::from_uuid(row.try_get("device_id")?).map_err(corrupt)?,
                value: row.try_get("value")?,
                seen: row
                    .try_get::<Option<i64>, _>("seen_hlc")?
                    .map(hlc_of)
                    .transpose()?,
            },
        });
    }
    let base_rows = sqlx::query(
        "select id, first_name, last_name, email, phone, answers, form_id, form_version
         from attendees where id = any($1) and event_id = $2",
    )
    .bind(&ids)
    .bind(event.as_uuid())
    .fetch_all(&mut *conn)
    .await?;
    let mut base = Vec::with_capacity(base_rows.len());
    for row in &base_rows {
        base.push(attendee_of(row)?);
    }
    let (merged, conflicts) = merge_edits(base, &edits);
    if !merged.is_empty() {
        let (mut ids, mut firsts, mut lasts, mut emails) = (vec![], vec![], vec![], vec![]);
        let (mut phones, mut answers, mut hlcs) = (vec![], vec![], vec![]);
        for (a, hlc) in &merged {
            ids.push(a.id.as_uuid());
            firsts.push(a.first_name.clone());
            lasts.push(a.last_name.clone());
            emails.push(a.email.clone());
            phones.push(a.phone.clone());
            answers.push(serde_json::to_value(&a.answers).map_err(corrupt)?);
            hlcs.push(hlc_i64(*hlc)?);
        }
        sqlx::query(
            "update attendees a set first_name = s.f, last_name = s.l, email = s.e, phone = s.p,
                 answers = s.a, updated_hlc = greatest(a.updated_hlc, s.h)
             from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[],
                         $7::bigint[]) as s(id, f, l, e, p, a, h)
             where a.id = s.id",
        )
        .bind(&ids)
        .bind(&firsts)
        .bind(&lasts)
        .bind(&emails)
        .bind(&phones)
        .bind(&answers)
        .bind(&hlcs)
        .execute(&mut *conn)
        .await?;
    }
    Ok(conflicts.iter().map(ConflictRow::of).collect())
}

/// Stores conflicts once each: a conflict found again (a replay, a recomputation) is a no-op,
/// and a resolved one stays resolved.
pub(crate) async fn upsert_conflicts(
    conn: &mut PgConnection,
    event: EventId,
    conflicts: &[ConflictRow],
) -> Result<(), StoreError> {
    if conflicts.is_empty() {
        return Ok(());
    }
    let mut unique: BTreeMap<Uuid, &ConflictRow> = BTreeMap::new();
    for c in conflicts {
        unique.insert(c.id, c);
    }
    let (mut ids, mut kinds, mut keys, mut records) = (vec![], vec![], vec![], vec![]);
    let (mut details, mut ats) = (vec![], vec![]);
    for c in unique.values() {
        ids.push(c.id);
        kinds.push(c.kind.clone());
        keys.push(c.key.clone());
        records.push(serde_json::to_value(&c.records).map_err(corrupt)?);
        details.push(c.detail.clone());
        ats.push(hlc_i64(c.at)?);
    }
    sqlx::query(
        "insert into conflicts (event_id, id, kind, key, records, detail, at_hlc)
         select $1, s.id, s.kind, s.key,
                array(select jsonb_array_elements_text(s.records)::uuid), s.detail, s.at
         from unnest($2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[], $7::bigint[])
              as s(id, kind, key, records, detail, at)
         on conflict (id) do update set status = 'open', resolution = null,
             resolved_by = null, resolved_at = null
           where conflicts.status = 'resolved' and conflicts.resolved_by = 'system'
             and conflicts.resolution ->> 'action' = 'superseded'",
    )
    .bind(event.as_uuid())
    .bind(&ids)
    .bind(&kinds)
    .bind(&keys)
    .bind(&records)
    .bind(&details)
    .bind(&ats)
    .execute(conn)
    .await?;
    Ok(())
}
