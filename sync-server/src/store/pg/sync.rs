//! Enrolment, device tokens, push and pull on Postgres.
//!
//! Pushes insert a whole batch with `UNNEST` and `ON CONFLICT DO NOTHING`, so a replay is one
//! round trip and never a duplicate row. A replay of a change parked earlier that this server now
//! accepts (it learned the kind or schema since: a coordinator's retry after an upgrade) is
//! accepted then, filed and fed like a new one. The feed is ordered by (writing transaction id, row) and a
//! pull only returns rows of transactions older than the oldest one still running
//! (`pg_snapshot_xmin`), so a transaction that commits late never lands behind a cursor.

use sqlx::Row;
use sync_protocol::UnixMillis;
use sync_protocol::hlc::Hlc;
use sync_protocol::ids::{ChangeId, DeviceId, EventId, GateId};
use sync_protocol::model::Event;
use sync_protocol::wire::{Cursor, PullItem};
use uuid::Uuid;

use super::staff::write_audit;
use super::{FEED_CHANNEL, PgStore, block_floor, feed_runs, ms_to_secs, parse_cursor, to_i64};
use crate::store::{
    AuditEntry, DeviceAuth, EnrolmentTicket, FeedPage, NewDevice, PreparedChange, PushOutcome,
    StoreError, Stored, SyncStore,
};

/// The change log's columns as a push writes them ($1 the device, $2 the event, then
/// `change_rows!`).
macro_rules! change_columns {
    () => {
        "(device_id, event_id, seq, change_id, hlc, kind, schema_version, \
     entity_id, package_version, payload, digest, status, reject_code, reject_message, \
     clock_ahead_ms)"
    };
}

/// The rows of [`NewChanges`], bound as $3 to $15 by [`NewChanges::bind`].
macro_rules! change_rows {
    () => {
        "unnest($3::bigint[], $4::uuid[], $5::bigint[], $6::text[], \
     $7::int[], $8::text[], $9::bigint[], $10::text[]::json[], $11::bytea[], $12::text[], \
     $13::text[], $14::text[], $15::bigint[]) as s"
    };
}

/// The one-statement push ([`PgStore::push_new`]): $1 the device, $2 the event, $3 to $15 the
/// change rows, $16 and $19 the first and last seqs of the runs to feed (one feed row each,
/// [`super::feed_runs`]), $17 the batch's highest seq, $18 the end of its run of consecutive
/// seqs. Only when nothing is stored above the acknowledgement (no gap waits to be
/// filled) and the batch starts above the stored seqs; the locked row is the newest version
/// even after waiting for another push of this device.
const PUSH_NEW: &str = concat!(
    "with device as materialized (
                 select acknowledged_seq, stored_seq from devices where id = $1 for update),
             new as materialized (
                 select acknowledged_seq from device
                 where stored_seq < $3[1] and acknowledged_seq = stored_seq),
             logged as (
                 insert into changes ",
    change_columns!(),
    " select $1, $2, s.* from new, ",
    change_rows!(),
    "),
             fed as (
                 insert into feed (event_id, device_id, seq, seq_end)
                 select $2, $1, f.first, f.last
                 from new, unnest($16::bigint[], $19::bigint[]) with ordinality as f(first, last, ord)
                 order by f.ord),
             acked as (
                 update devices d set last_push_at = now(), stored_seq = $17,
                     acknowledged_seq = case when $3[1] = new.acknowledged_seq + 1 then $18
                                             else new.acknowledged_seq end
                 from new where d.id = $1
                 returning d.acknowledged_seq)
             select (select acknowledged_seq from acked) from device"
);

/// A device by the hash of its token ($1), noting when it was last seen (to the minute).
const DEVICE_BY_TOKEN: &str = "with device as (
         select id, event_id, revoked_at, last_seen_at from devices where token_hash = $1),
     seen as (
         update devices d set last_seen_at = now() from device
         where d.id = device.id
           and (device.last_seen_at is null
                or device.last_seen_at < now() - interval '1 minute'))
     select id, event_id, revoked_at is not null as revoked from device";

/// Runs a kiosk request's statements once on `conn`, for no device (nothing is read or written):
/// the connection then holds them prepared, and its Postgres backend has loaded the tables,
/// indexes, types and plans they use. A serving instance does this for its whole pool at start
/// ([`PgStore::warm`]), so that a burst right after a start does not pay for that first use.
pub(super) async fn warm_connection(conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    let nobody = Uuid::nil();
    sqlx::query(DEVICE_BY_TOKEN)
        .bind(&[0u8; 32][..])
        .fetch_optional(&mut *conn)
        .await?;
    let none = NewChanges::with_capacity(0);
    let query = sqlx::query(PUSH_NEW).bind(nobody).bind(nobody);
    none.bind(query)
        .bind(Vec::<i64>::new())
        .bind(0i64)
        .bind(0i64)
        .bind(Vec::<i64>::new())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(())
}

impl SyncStore for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_event(&self, event: &Event, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "insert into events (id, name, time_zone, starts_at, ends_at) values ($1, $2, $3, $4, $5)",
        )
        .bind(event.id.as_uuid())
        .bind(&event.name)
        .bind(&event.time_zone)
        .bind(to_i64(event.starts_at.as_u64(), "starts_at")?)
        .bind(to_i64(event.ends_at.as_u64(), "ends_at")?)
        .execute(&mut *tx)
        .await?;
        write_audit(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_enrolment_token(
        &self,
        token_hash: [u8; 32],
        event_id: EventId,
        gate_id: Option<GateId>,
        label: &str,
        expires_at: UnixMillis,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query(
            "insert into enrolment_tokens (token_hash, event_id, gate_id, label, expires_at)
             select $1, $2, $3, $4, to_timestamp($5) where exists (select 1 from events where id = $2)",
        )
        .bind(&token_hash[..])
        .bind(event_id.as_uuid())
        .bind(gate_id.map(|g| g.as_uuid()))
        .bind(label)
        .bind(ms_to_secs(expires_at))
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound("event"));
        }
        write_audit(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_enrolment_token(
        &self,
        token_hash: [u8; 32],
        now: UnixMillis,
    ) -> Result<Option<EnrolmentTicket>, StoreError> {
        let row = sqlx::query(
            "select event_id, gate_id from enrolment_tokens
             where token_hash = $1 and used_at is null and expires_at > to_timestamp($2)",
        )
        .bind(&token_hash[..])
        .bind(ms_to_secs(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let event_id: Uuid = row.try_get("event_id")?;
            let gate_id: Option<Uuid> = row.try_get("gate_id")?;
            Ok(EnrolmentTicket {
                event_id: EventId::from_uuid(event_id)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                gate_id: gate_id
                    .map(GateId::from_uuid)
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            })
        })
        .transpose()
    }

    async fn complete_enrolment(
        &self,
        token_hash: [u8; 32],
        device: &NewDevice,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let claimed = sqlx::query(
            "update enrolment_tokens set used_at = now(), used_by = $2
             where token_hash = $1 and used_at is null and expires_at > to_timestamp($3)",
        )
        .bind(&token_hash[..])
        .bind(device.id.as_uuid())
        .bind(ms_to_secs(now))
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            return Ok(false);
        }
        let certificate = serde_json::to_value(&device.certificate)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        sqlx::query(
            "insert into devices
               (id, event_id, label, app_version, token_hash, public_key, certificate, gate_id, last_seen_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, now())",
        )
        .bind(device.id.as_uuid())
        .bind(device.event_id.as_uuid())
        .bind(&device.label)
        .bind(&device.app_version)
        .bind(&device.token_hash[..])
        .bind(&device.public_key.to_bytes()[..])
        .bind(certificate)
        .bind(device.gate_id.map(|g| g.as_uuid()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn device_by_token(
        &self,
        token_hash: [u8; 32],
    ) -> Result<Option<DeviceAuth>, StoreError> {
        // One round trip, and a write at most once a minute per device (last seen to the minute).
        let row = sqlx::query(DEVICE_BY_TOKEN)
            .bind(&token_hash[..])
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let corrupt = |e: sync_protocol::ids::IdError| StoreError::Corrupt(e.to_string());
            Ok(DeviceAuth {
                device_id: DeviceId::from_uuid(row.try_get("id")?).map_err(corrupt)?,
                event_id: EventId::from_uuid(row.try_get("event_id")?).map_err(corrupt)?,
                revoked: row.try_get("revoked")?,
            })
        })
        .transpose()
    }

    async fn revoke_device(
        &self,
        device_id: DeviceId,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "update devices set revoked_at = coalesce(revoked_at, now()) where id = $1 returning event_id",
        )
        .bind(device_id.as_uuid())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("device"))?;
        let event_id: Uuid = row.try_get("event_id")?;
        let item = serde_json::to_value(PullItem::DeviceRevoked {
            position: Cursor::START,
            device_id,
        })
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
        sqlx::query("insert into feed (event_id, item) values ($1, $2)")
            .bind(event_id)
            .bind(item)
            .execute(&mut *tx)
            .await?;
        sqlx::query("select pg_notify($1, $2)")
            .bind(FEED_CHANNEL)
            .bind(event_id.to_string())
            .execute(&mut *tx)
            .await?;
        write_audit(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn push(
        &self,
        device: DeviceAuth,
        changes: &[PreparedChange],
    ) -> Result<PushOutcome, StoreError> {
        if let Some(outcome) = self.push_new(device, changes).await? {
            return Ok(outcome);
        }
        let mut tx = self.begin().await?;
        // Serialise pushes of one device (two sync loops after a restart, say), and learn the
        // highest seq it stored. Read from the locked row, both are the newest values even after
        // waiting for another push of this device.
        let (ack, stored_seq): (i64, i64) = sqlx::query_as(
            "select acknowledged_seq, stored_seq from devices where id = $1 for update",
        )
        .bind(device.device_id.as_uuid())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("device"))?;

        let n = changes.len();
        let seqs: Vec<i64> = changes
            .iter()
            .map(|p| to_i64(p.change.seq, "seq"))
            .collect::<Result<_, _>>()?;

        // What this device stored before within the batch's seq range (nothing, unless this is
        // a replay): same digest is a replay, another is a reuse. One range scan of the key, and
        // none for a batch wholly above what the device stored (the usual push).
        let mut earlier = std::collections::HashMap::new();
        if let (Some(&low), Some(&high)) = (seqs.iter().min(), seqs.iter().max())
            && stored_seq >= low
        {
            let rows = sqlx::query(
                "select seq, digest, reject_code, reject_message from changes
                 where device_id = $1 and seq between $2 and $3",
            )
            .bind(device.device_id.as_uuid())
            .bind(low)
            .bind(high)
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                let seq: i64 = row.try_get("seq")?;
                let digest: Vec<u8> = row.try_get("digest")?;
                let code: Option<String> = row.try_get("reject_code")?;
                let message: Option<String> = row.try_get("reject_message")?;
                let rejection = match code {
                    Some(code) => Some((
                        serde_json::from_value(serde_json::Value::String(code.clone()))
                            .map_err(|_| StoreError::Corrupt(format!("reject code {code:?}")))?,
                        message.unwrap_or_default(),
                    )),
                    None => None,
                };
                earlier.insert(seq, (digest, rejection));
            }
        }

        let mut stored = Vec::with_capacity(n);
        // New rows of the change log; plain inserts: the device row lock above keeps every other
        // push of this device out until this one commits.
        let mut new = NewChanges::with_capacity(n);
        // Parked before, acceptable now (a retry after the server learned its kind or schema).
        let mut revived = Vec::new();
        // New, accepted changes: fed (the feed row refers to the change row); the filer files
        // their domain effects from the feed.
        let mut feed_seqs = Vec::new();
        // A seq stored before with another payload: kept aside for coordinators.
        let (mut refused_seqs, mut refused_digests, mut refused) = (vec![], vec![], vec![]);
        for (prepared, &seq) in changes.iter().zip(&seqs) {
            let outcome = match earlier.get_mut(&seq) {
                None => {
                    new.push(prepared)?;
                    earlier.insert(seq, (prepared.digest.to_vec(), prepared.rejection.clone()));
                    Stored::New
                }
                Some((digest, rejection)) if digest[..] == prepared.digest[..] => {
                    if rejection.is_some() && prepared.rejection.is_none() {
                        *rejection = None;
                        revived.push(seq);
                        Stored::New
                    } else {
                        Stored::Duplicate(rejection.clone())
                    }
                }
                Some(_) => Stored::SeqReused,
            };
            if outcome == Stored::New && prepared.body.is_some() {
                feed_seqs.push(seq);
            }
            if outcome == Stored::SeqReused {
                refused_seqs.push(seq);
                refused_digests.push(prepared.digest.to_vec());
                refused.push(
                    serde_json::to_value(&prepared.change)
                        .map_err(|e| StoreError::Invalid(e.to_string()))?,
                );
            }
            stored.push(outcome);
        }
        new.insert(&mut tx, device).await?;

        if !refused.is_empty() {
            sqlx::query(
                "insert into refused_changes (device_id, seq, digest, change)
                 select $1, s.* from unnest($2::bigint[], $3::bytea[], $4::jsonb[]) as s",
            )
            .bind(device.device_id.as_uuid())
            .bind(&refused_seqs)
            .bind(&refused_digests)
            .bind(&refused)
            .execute(&mut *tx)
            .await?;
        }
        if !revived.is_empty() {
            sqlx::query(
                "update changes set status = 'accepted', reject_code = null, reject_message = null
                 where device_id = $1 and seq = any($2)",
            )
            .bind(device.device_id.as_uuid())
            .bind(&revived)
            .execute(&mut *tx)
            .await?;
        }
        if !feed_seqs.is_empty() {
            // The item is the change rows themselves (null here): a pull joins them.
            let (firsts, lasts) = feed_runs(&feed_seqs);
            sqlx::query(
                "insert into feed (event_id, device_id, seq, seq_end)
                 select $1, $2, s.first, s.last
                 from unnest($3::bigint[], $4::bigint[]) with ordinality as s(first, last, ord)
                 order by s.ord",
            )
            .bind(device.event_id.as_uuid())
            .bind(device.device_id.as_uuid())
            .bind(&firsts)
            .bind(&lasts)
            .execute(&mut *tx)
            .await?;
        }

        // Advance the acknowledgement over the contiguous run of stored seqs.
        let acknowledged: i64 = sqlx::query_scalar(
            "update devices set last_push_at = now(), stored_seq = greatest(stored_seq, $3),
                 acknowledged_seq = (
                     select coalesce(max(seq), $2) from (
                         select seq, row_number() over (order by seq) as rn
                         from changes where device_id = $1 and seq > $2
                     ) s where s.seq - $2 = s.rn)
             where id = $1
             returning acknowledged_seq",
        )
        .bind(device.device_id.as_uuid())
        .bind(ack)
        .bind(seqs.iter().copied().max().unwrap_or(0))
        .fetch_one(&mut *tx)
        .await?;
        // The domain effects of the accepted changes are filed by the filer once this commits.
        tx.commit().await?;
        Ok(PushOutcome {
            stored,
            acknowledged_seq: acknowledged.max(0) as u64,
            fed: !feed_seqs.is_empty(),
        })
    }

    async fn pull(
        &self,
        device: DeviceAuth,
        after: Cursor,
        limit: u32,
    ) -> Result<FeedPage, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("set transaction isolation level repeatable read read only")
            .execute(&mut *tx)
            .await?;
        // Every committed row's tx is below the snapshot's xmax; a cursor at or past it comes
        // from a feed this database does not hold.
        let unknown_cursor: bool =
            sqlx::query_scalar("select $1::text::xid8 >= pg_snapshot_xmax(pg_current_snapshot())")
                .bind(after.tx.to_string())
                .fetch_one(&mut *tx)
                .await?;
        if unknown_cursor {
            let package_version = Self::package_version(&mut tx, device.event_id).await?;
            tx.commit().await?;
            return Ok(FeedPage {
                items: Vec::new(),
                next_cursor: after,
                has_more: false,
                pending: false,
                write_checkpoint: 0,
                package_version,
                refetch: true,
            });
        }
        let rows = sqlx::query(
            // A device row stands for its run of changes, each at its own position; the rows
            // from one block before the cursor are read, since a cursor may point inside a run.
            "select f.tx::text as tx, f.pos + coalesce(c.seq - f.seq, 0) as pos, f.item,
                    c.change_id, c.device_id, c.seq, c.hlc, c.package_version, c.kind,
                    c.schema_version, c.entity_id, c.payload::text as payload
             from feed f
             left join changes c on f.item is null and c.device_id = f.device_id
                                and c.seq between f.seq and f.seq_end
             where f.event_id = $1
               and (f.tx, f.pos) > ($2::text::xid8, $5)
               and (f.tx, f.pos + coalesce(c.seq - f.seq, 0)) > ($2::text::xid8, $3)
               and f.tx < pg_snapshot_xmin(pg_current_snapshot())
             order by f.tx, f.pos, c.seq
             limit $4",
        )
        .bind(device.event_id.as_uuid())
        .bind(after.tx.to_string())
        .bind(to_i64(after.pos, "cursor pos")?)
        .bind(i64::from(limit) + 1)
        .bind(block_floor(after.pos, "cursor pos")?)
        .fetch_all(&mut *tx)
        .await?;
        let has_more = rows.len() > limit as usize;
        let mut items = Vec::with_capacity(rows.len().min(limit as usize));
        let mut next_cursor = after;
        for row in rows.into_iter().take(limit as usize) {
            let position = parse_cursor(row.try_get("tx")?, row.try_get("pos")?)?;
            items.push(feed_item(&row, position)?);
            next_cursor = position;
        }
        // The highest seq of this device's changes the kiosk has now been handed (all of them
        // when the page reaches the end): the changes of older transactions, and those of the
        // cursor's own transaction up to the cursor. Both by index: a catching-up kiosk must not
        // make each page scan the event's feed.
        let write_checkpoint: i64 = if has_more {
            sqlx::query_scalar(
                "select greatest(
                     (select max(seq) from changes where device_id = $2 and tx < $3::text::xid8),
                     (select max(least(seq_end, seq + ($4 - pos))) from feed
                      where event_id = $1 and tx = $3::text::xid8 and pos <= $4
                        and device_id = $2),
                     0)",
            )
            .bind(device.event_id.as_uuid())
            .bind(device.device_id.as_uuid())
            .bind(next_cursor.tx.to_string())
            .bind(to_i64(next_cursor.pos, "cursor pos")?)
            .fetch_one(&mut *tx)
            .await?
        } else {
            sqlx::query_scalar(
                "select coalesce(max(seq), 0) from changes
                 where device_id = $1 and tx < pg_snapshot_xmin(pg_current_snapshot())",
            )
            .bind(device.device_id.as_uuid())
            .fetch_one(&mut *tx)
            .await?
        };
        let pending: bool = if has_more {
            false
        } else {
            sqlx::query_scalar(
                "select exists (select 1 from feed
                   where event_id = $1 and (tx, pos) > ($2::text::xid8, $3)
                     and tx >= pg_snapshot_xmin(pg_current_snapshot()))",
            )
            .bind(device.event_id.as_uuid())
            .bind(next_cursor.tx.to_string())
            .bind(to_i64(next_cursor.pos, "cursor pos")?)
            .fetch_one(&mut *tx)
            .await?
        };
        let package_version = Self::package_version(&mut tx, device.event_id).await?;
        tx.commit().await?;
        // To the minute: a write per device and minute, not per page.
        sqlx::query(
            "update devices set last_pull_at = now() where id = $1
               and (last_pull_at is null or last_pull_at < now() - interval '1 minute')",
        )
        .bind(device.device_id.as_uuid())
        .execute(&self.pool)
        .await?;
        Ok(FeedPage {
            items,
            next_cursor,
            has_more,
            pending,
            write_checkpoint: write_checkpoint.max(0) as u64,
            package_version,
            refetch: false,
        })
    }

    async fn feed_head(&self, event_id: EventId) -> Result<(Cursor, u64), StoreError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            // Ordered by the xid8 column, not by its text (a bare `tx` here would be the text).
            // The last position of the last row (the end of its run).
            "select f.tx::text as tx, f.pos + coalesce(f.seq_end - f.seq, 0) as pos from feed f
             where f.event_id = $1 order by f.tx desc, f.pos desc limit 1",
        )
        .bind(event_id.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        let head = match row {
            Some(row) => parse_cursor(row.try_get("tx")?, row.try_get("pos")?)?,
            None => Cursor::START,
        };
        let version = Self::package_version(&mut tx, event_id).await?;
        tx.commit().await?;
        Ok((head, version))
    }
}

/// A feed row as the JSON of the item a pull hands out, with its position: a device change is
/// written from the change row it refers to, its payload copied as Postgres prints it; any other
/// item is stored whole.
fn feed_item(
    row: &sqlx::postgres::PgRow,
    position: Cursor,
) -> Result<Box<serde_json::value::RawValue>, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("feed item: {e}"));
    let item: Option<serde_json::Value> = row.try_get("item")?;
    let Some(item) = item else {
        let change_id: Option<Uuid> = row.try_get("change_id")?;
        let Some(change_id) = change_id else {
            return Err(corrupt(&"a change the feed refers to is missing"));
        };
        let hlc: i64 = row.try_get("hlc")?;
        let payload: String = row.try_get("payload")?;
        let payload = serde_json::value::RawValue::from_string(payload).map_err(|e| corrupt(&e))?;
        let item = DeviceChangeItem {
            position,
            change: ChangeRow {
                id: ChangeId::from_uuid(change_id).map_err(|e| corrupt(&e))?,
                device_id: DeviceId::from_uuid(row.try_get("device_id")?)
                    .map_err(|e| corrupt(&e))?,
                seq: row.try_get::<i64, _>("seq")?.max(0) as u64,
                hlc: Hlc::from_i64(hlc).ok_or_else(|| corrupt(&format!("hlc {hlc}")))?,
                package_version: row.try_get::<i64, _>("package_version")?.max(0) as u64,
                kind: row.try_get("kind")?,
                schema_version: u16::try_from(row.try_get::<i32, _>("schema_version")?)
                    .map_err(|e| corrupt(&e))?,
                entity_id: row.try_get("entity_id")?,
                payload,
            },
        };
        return serde_json::value::to_raw_value(&item).map_err(|e| corrupt(&e));
    };
    let item: PullItem = serde_json::from_value(item).map_err(|e| corrupt(&e))?;
    let item = match item {
        PullItem::DeviceChange { change, .. } => PullItem::DeviceChange { position, change },
        PullItem::TicketStatus {
            ticket_id,
            status,
            hlc,
            ..
        } => PullItem::TicketStatus {
            position,
            ticket_id,
            status,
            hlc,
        },
        PullItem::TicketIssued {
            attendee,
            ticket,
            hlc,
            ..
        } => PullItem::TicketIssued {
            position,
            attendee,
            ticket,
            hlc,
        },
        PullItem::DeviceRevoked { device_id, .. } => PullItem::DeviceRevoked {
            position,
            device_id,
        },
    };
    serde_json::value::to_raw_value(&item).map_err(|e| corrupt(&e))
}

/// [`PullItem::DeviceChange`] as JSON, with the change's payload as stored (the same fields and
/// tag; a test compares the two).
#[derive(serde::Serialize)]
#[serde(tag = "type", rename = "device_change")]
struct DeviceChangeItem {
    position: Cursor,
    change: ChangeRow,
}

/// [`Change`](sync_protocol::changes::Change) with a payload that is already JSON text.
#[derive(serde::Serialize)]
struct ChangeRow {
    id: ChangeId,
    device_id: DeviceId,
    seq: u64,
    hlc: Hlc,
    package_version: u64,
    kind: String,
    schema_version: u16,
    entity_id: String,
    payload: Box<serde_json::value::RawValue>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_protocol::changes::{Change, ChangeBody, CheckIn, FoundBy};
    use sync_protocol::ids::{CheckInId, TicketId};

    #[test]
    fn a_change_row_is_written_as_the_device_change_item() {
        let mut rng = rand::rngs::OsRng;
        let t0 = sync_protocol::UnixMillis(1_790_000_000_000);
        let body = ChangeBody::CheckIn(CheckIn {
            id: CheckInId::new(t0, &mut rng),
            ticket_id: TicketId::new(t0, &mut rng),
            gate_id: GateId::new(t0, &mut rng),
            direction: sync_protocol::model::Direction::Entry,
            verdict: sync_protocol::verdict::VerdictCode::Admitted,
            offline: true,
            scanned_at: t0,
            found_by: FoundBy::Code,
        });
        let change = Change::new(
            ChangeId::new(t0, &mut rng),
            DeviceId::new(t0, &mut rng),
            7,
            Hlc::new(t0.as_u64(), 3),
            2,
            &body,
        );
        let position = Cursor { tx: 925, pos: 80 };
        let row = DeviceChangeItem {
            position,
            change: ChangeRow {
                id: change.id,
                device_id: change.device_id,
                seq: change.seq,
                hlc: change.hlc,
                package_version: change.package_version,
                kind: change.kind.clone(),
                schema_version: change.schema_version,
                entity_id: change.entity_id.clone(),
                payload: serde_json::value::to_raw_value(&change.payload).unwrap(),
            },
        };
        let written: serde_json::Value = serde_json::to_value(&row).unwrap();
        let item = PullItem::DeviceChange { position, change };
        assert_eq!(written, serde_json::to_value(&item).unwrap());
        assert_eq!(serde_json::from_value::<PullItem>(written).unwrap(), item);
    }
}

impl PgStore {
    /// A push whose batch lies wholly above what the device stored (every push but a replay,
    /// seqs rising) in one statement: lock the device, log the changes, feed the accepted ones,
    /// advance the acknowledgement. `None` when the batch is not of that kind, decided from the
    /// locked row (nothing is written then): the caller takes the general path.
    async fn push_new(
        &self,
        device: DeviceAuth,
        changes: &[PreparedChange],
    ) -> Result<Option<PushOutcome>, StoreError> {
        let mut new = NewChanges::with_capacity(changes.len());
        for prepared in changes {
            new.push(prepared)?;
        }
        let seqs = &new.seqs;
        let (Some(&low), Some(&high)) = (seqs.first(), seqs.last()) else {
            return Ok(None);
        };
        if !seqs.windows(2).all(|w| w[0] < w[1]) {
            return Ok(None);
        }
        // The end of the batch's run of consecutive seqs from its first: the acknowledgement
        // when the device had everything up to `low - 1`.
        let mut run_end = low;
        for &seq in &seqs[1..] {
            if run_end.checked_add(1) != Some(seq) {
                break;
            }
            run_end = seq;
        }
        let fed: Vec<i64> = changes
            .iter()
            .zip(seqs)
            .filter(|(p, _)| p.body.is_some())
            .map(|(_, seq)| *seq)
            .collect();
        let (firsts, lasts) = feed_runs(&fed);
        let query = sqlx::query(PUSH_NEW)
            .bind(device.device_id.as_uuid())
            .bind(device.event_id.as_uuid());
        let acknowledged: Option<i64> = new
            .bind(query)
            .bind(&firsts)
            .bind(high)
            .bind(run_end)
            .bind(&lasts)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("device"))?
            .try_get(0)?;
        Ok(acknowledged.map(|acknowledged| PushOutcome {
            stored: vec![Stored::New; changes.len()],
            acknowledged_seq: acknowledged.max(0) as u64,
            fed: !fed.is_empty(),
        }))
    }

    /// What the live streams of an event read (see [`crate::live`]): its feed head, package
    /// version and revoked devices, in one snapshot.
    pub async fn live_head(&self, event_id: EventId) -> Result<crate::live::EventHead, StoreError> {
        let (position, package_version) = self.feed_head(event_id).await?;
        let revoked: Vec<Uuid> = sqlx::query_scalar(
            "select id from devices where event_id = $1 and revoked_at is not null",
        )
        .bind(event_id.as_uuid())
        .fetch_all(&self.pool)
        .await?;
        let revoked = revoked
            .into_iter()
            .filter_map(|id| DeviceId::from_uuid(id).ok())
            .collect();
        Ok(crate::live::EventHead {
            notice: sync_protocol::wire::LiveNotice {
                event_id,
                position,
                package_version,
            },
            revoked: std::sync::Arc::new(revoked),
        })
    }
}

/// The new rows of one push's change log, as columns for one `UNNEST` insert.
#[derive(Default)]
struct NewChanges<'a> {
    seqs: Vec<i64>,
    change_ids: Vec<Uuid>,
    hlcs: Vec<i64>,
    kinds: Vec<&'a str>,
    schemas: Vec<i32>,
    entities: Vec<&'a str>,
    package_versions: Vec<i64>,
    payloads: Vec<String>,
    digests: Vec<&'a [u8]>,
    statuses: Vec<&'static str>,
    reject_codes: Vec<Option<&'static str>>,
    reject_messages: Vec<Option<&'a str>>,
    aheads: Vec<Option<i64>>,
}

impl<'a> NewChanges<'a> {
    fn with_capacity(n: usize) -> Self {
        Self {
            seqs: Vec::with_capacity(n),
            change_ids: Vec::with_capacity(n),
            hlcs: Vec::with_capacity(n),
            kinds: Vec::with_capacity(n),
            schemas: Vec::with_capacity(n),
            entities: Vec::with_capacity(n),
            package_versions: Vec::with_capacity(n),
            payloads: Vec::with_capacity(n),
            digests: Vec::with_capacity(n),
            statuses: Vec::with_capacity(n),
            reject_codes: Vec::with_capacity(n),
            reject_messages: Vec::with_capacity(n),
            aheads: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, prepared: &'a PreparedChange) -> Result<(), StoreError> {
        let c = &prepared.change;
        self.seqs.push(to_i64(c.seq, "seq")?);
        self.change_ids.push(c.id.as_uuid());
        self.hlcs.push(
            c.hlc
                .to_i64()
                .ok_or_else(|| StoreError::Invalid(format!("hlc {} out of range", c.hlc)))?,
        );
        self.kinds.push(&c.kind);
        self.schemas.push(i32::from(c.schema_version));
        self.entities.push(&c.entity_id);
        self.package_versions
            .push(to_i64(c.package_version, "package_version")?);
        self.payloads.push(c.payload.to_string());
        self.digests.push(&prepared.digest);
        self.statuses.push(if prepared.rejection.is_some() {
            "rejected"
        } else {
            "accepted"
        });
        self.reject_codes
            .push(prepared.rejection.as_ref().map(|(code, _)| code.as_str()));
        self.reject_messages
            .push(prepared.rejection.as_ref().map(|(_, m)| m.as_str()));
        self.aheads.push(
            prepared
                .clock_ahead_ms
                .map(|v| v.min(i64::MAX as u64) as i64),
        );
        Ok(())
    }

    async fn insert(
        &self,
        tx: &mut sqlx::PgConnection,
        device: DeviceAuth,
    ) -> Result<(), StoreError> {
        if self.seqs.is_empty() {
            return Ok(());
        }
        let query = sqlx::query(concat!(
            "insert into changes ",
            change_columns!(),
            " select $1, $2, s.* from ",
            change_rows!()
        ))
        .bind(device.device_id.as_uuid())
        .bind(device.event_id.as_uuid());
        self.bind(query).execute(tx).await?;
        Ok(())
    }

    /// Binds the columns as parameters $3 to $15 of [`CHANGE_ROWS`].
    fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(&self.seqs)
            .bind(&self.change_ids)
            .bind(&self.hlcs)
            .bind(&self.kinds)
            .bind(&self.schemas)
            .bind(&self.entities)
            .bind(&self.package_versions)
            .bind(&self.payloads)
            .bind(&self.digests)
            .bind(&self.statuses)
            .bind(&self.reject_codes)
            .bind(&self.reject_messages)
            .bind(&self.aheads)
    }
}
