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
use sync_protocol::ids::{DeviceId, EventId, GateId};
use sync_protocol::model::Event;
use sync_protocol::wire::{Cursor, PullItem};
use uuid::Uuid;

use super::{FEED_CHANNEL, PgStore, ms_to_secs, parse_cursor, to_i64};
use crate::store::{
    DeviceAuth, EnrolmentTicket, FeedPage, NewDevice, PreparedChange, PushOutcome, StoreError,
    Stored, SyncStore,
};

impl SyncStore for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_event(&self, event: &Event) -> Result<(), StoreError> {
        sqlx::query(
            "insert into events (id, name, time_zone, starts_at, ends_at) values ($1, $2, $3, $4, $5)",
        )
        .bind(event.id.as_uuid())
        .bind(&event.name)
        .bind(&event.time_zone)
        .bind(to_i64(event.starts_at.as_u64(), "starts_at")?)
        .bind(to_i64(event.ends_at.as_u64(), "ends_at")?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn create_enrolment_token(
        &self,
        token_hash: [u8; 32],
        event_id: EventId,
        gate_id: Option<GateId>,
        label: &str,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(
            "insert into enrolment_tokens (token_hash, event_id, gate_id, label, expires_at)
             select $1, $2, $3, $4, to_timestamp($5) where exists (select 1 from events where id = $2)",
        )
        .bind(&token_hash[..])
        .bind(event_id.as_uuid())
        .bind(gate_id.map(|g| g.as_uuid()))
        .bind(label)
        .bind(ms_to_secs(expires_at))
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound("event"));
        }
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
        let mut tx = self.pool.begin().await?;
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
        let row = sqlx::query(
            "update devices set last_seen_at = now() where token_hash = $1
             returning id, event_id, revoked_at is not null as revoked",
        )
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

    async fn device_revoked(&self, device_id: DeviceId) -> Result<bool, StoreError> {
        let revoked: Option<bool> =
            sqlx::query_scalar("select revoked_at is not null from devices where id = $1")
                .bind(device_id.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
        Ok(revoked.unwrap_or(true))
    }

    async fn revoke_device(&self, device_id: DeviceId) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
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
        tx.commit().await?;
        Ok(())
    }

    async fn push(
        &self,
        device: DeviceAuth,
        changes: &[PreparedChange],
    ) -> Result<PushOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Serialise pushes of one device (two sync loops after a restart, say).
        let ack: i64 =
            sqlx::query_scalar("select acknowledged_seq from devices where id = $1 for update")
                .bind(device.device_id.as_uuid())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound("device"))?;

        let n = changes.len();
        let mut seqs = Vec::with_capacity(n);
        let mut change_ids = Vec::with_capacity(n);
        let mut hlcs = Vec::with_capacity(n);
        let mut kinds = Vec::with_capacity(n);
        let mut schemas = Vec::with_capacity(n);
        let mut entities = Vec::with_capacity(n);
        let mut package_versions = Vec::with_capacity(n);
        let mut payloads = Vec::with_capacity(n);
        let mut digests = Vec::with_capacity(n);
        let mut statuses = Vec::with_capacity(n);
        let mut reject_codes = Vec::with_capacity(n);
        let mut reject_messages = Vec::with_capacity(n);
        let mut aheads = Vec::with_capacity(n);
        for prepared in changes {
            let c = &prepared.change;
            seqs.push(to_i64(c.seq, "seq")?);
            change_ids.push(c.id.as_uuid());
            hlcs.push(
                c.hlc
                    .to_i64()
                    .ok_or_else(|| StoreError::Invalid(format!("hlc {} out of range", c.hlc)))?,
            );
            kinds.push(c.kind.clone());
            schemas.push(i32::from(c.schema_version));
            entities.push(c.entity_id.clone());
            package_versions.push(to_i64(c.package_version, "package_version")?);
            payloads.push(c.payload.clone());
            digests.push(prepared.digest.to_vec());
            statuses.push(if prepared.rejection.is_some() {
                "rejected"
            } else {
                "accepted"
            });
            reject_codes.push(prepared.rejection.as_ref().map(|(code, _)| code.as_str()));
            reject_messages.push(prepared.rejection.as_ref().map(|(_, m)| m.clone()));
            aheads.push(
                prepared
                    .clock_ahead_ms
                    .map(|v| v.min(i64::MAX as u64) as i64),
            );
        }

        let inserted: Vec<i64> = sqlx::query_scalar(
            "insert into changes (device_id, event_id, seq, change_id, hlc, kind, schema_version,
                                  entity_id, package_version, payload, digest, status, reject_code,
                                  reject_message, clock_ahead_ms)
             select $1, $2, s.* from unnest($3::bigint[], $4::uuid[], $5::bigint[], $6::text[],
                    $7::int[], $8::text[], $9::bigint[], $10::jsonb[], $11::bytea[], $12::text[],
                    $13::text[], $14::text[], $15::bigint[]) as s
             on conflict (device_id, seq) do nothing
             returning seq",
        )
        .bind(device.device_id.as_uuid())
        .bind(device.event_id.as_uuid())
        .bind(&seqs)
        .bind(&change_ids)
        .bind(&hlcs)
        .bind(&kinds)
        .bind(&schemas)
        .bind(&entities)
        .bind(&package_versions)
        .bind(&payloads)
        .bind(&digests)
        .bind(&statuses)
        .bind(&reject_codes)
        .bind(&reject_messages)
        .bind(&aheads)
        .fetch_all(&mut *tx)
        .await?;
        let inserted: std::collections::HashSet<i64> = inserted.into_iter().collect();

        // Changes not inserted were stored before: same digest is a replay, another is a reuse.
        let missing: Vec<i64> = seqs
            .iter()
            .copied()
            .filter(|s| !inserted.contains(s))
            .collect();
        let mut earlier = std::collections::HashMap::new();
        if !missing.is_empty() {
            let rows = sqlx::query(
                "select seq, digest, reject_code, reject_message from changes
                 where device_id = $1 and seq = any($2)",
            )
            .bind(device.device_id.as_uuid())
            .bind(&missing)
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
        // Parked before, acceptable now (a retry after the server learned its kind or schema).
        let mut revived = Vec::new();
        let mut feed_seqs = Vec::new();
        let mut feed_items = Vec::new();
        // New, accepted changes: their domain effects are filed in this transaction.
        let mut accepted = Vec::new();
        for (i, prepared) in changes.iter().enumerate() {
            let seq = seqs[i];
            // A seq inserted now is new for its first occurrence in the batch only.
            let outcome = if inserted.contains(&seq) && !earlier.contains_key(&seq) {
                earlier.insert(seq, (digests[i].clone(), prepared.rejection.clone()));
                Stored::New
            } else {
                match earlier.get_mut(&seq) {
                    Some((digest, rejection)) if digest[..] == prepared.digest[..] => {
                        if rejection.is_some() && prepared.rejection.is_none() {
                            *rejection = None;
                            revived.push(seq);
                            Stored::New
                        } else {
                            Stored::Duplicate(rejection.clone())
                        }
                    }
                    _ => Stored::SeqReused,
                }
            };
            if outcome == Stored::New && prepared.rejection.is_none() {
                accepted.push(&prepared.change);
                feed_seqs.push(seq);
                feed_items.push(
                    serde_json::to_value(PullItem::DeviceChange {
                        position: Cursor::START,
                        change: prepared.change.clone(),
                    })
                    .map_err(|e| StoreError::Invalid(e.to_string()))?,
                );
            }
            if outcome == Stored::SeqReused {
                let change = serde_json::to_value(&prepared.change)
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                sqlx::query(
                    "insert into refused_changes (device_id, seq, digest, change) values ($1, $2, $3, $4)",
                )
                .bind(device.device_id.as_uuid())
                .bind(seq)
                .bind(&prepared.digest[..])
                .bind(change)
                .execute(&mut *tx)
                .await?;
            }
            stored.push(outcome);
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
        if !feed_items.is_empty() {
            sqlx::query(
                "insert into feed (event_id, device_id, seq, item)
                 select $1, $2, s.seq, s.item from unnest($3::bigint[], $4::jsonb[]) with ordinality
                   as s(seq, item, ord) order by s.ord",
            )
            .bind(device.event_id.as_uuid())
            .bind(device.device_id.as_uuid())
            .bind(&feed_seqs)
            .bind(&feed_items)
            .execute(&mut *tx)
            .await?;
            sqlx::query("select pg_notify($1, $2)")
                .bind(FEED_CHANNEL)
                .bind(device.event_id.to_string())
                .execute(&mut *tx)
                .await?;
        }

        // Advance the acknowledgement over the contiguous run of stored seqs.
        let acknowledged: i64 = sqlx::query_scalar(
            "select coalesce(max(seq), $2) from (
                 select seq, row_number() over (order by seq) as rn
                 from changes where device_id = $1 and seq > $2
             ) s where s.seq - $2 = s.rn",
        )
        .bind(device.device_id.as_uuid())
        .bind(ack)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("update devices set acknowledged_seq = $2, last_push_at = now() where id = $1")
            .bind(device.device_id.as_uuid())
            .bind(acknowledged)
            .execute(&mut *tx)
            .await?;
        // Last before the commit: the filing holds locks on the tickets it touched until then.
        super::ingest::file(&mut tx, device, &accepted).await?;
        tx.commit().await?;
        Ok(PushOutcome {
            stored,
            acknowledged_seq: acknowledged.max(0) as u64,
        })
    }

    async fn pull(
        &self,
        device: DeviceAuth,
        after: Cursor,
        limit: u32,
    ) -> Result<FeedPage, StoreError> {
        let mut tx = self.pool.begin().await?;
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
            "select tx::text as tx, pos, item from feed
             where event_id = $1
               and (tx, pos) > ($2::text::xid8, $3)
               and tx < pg_snapshot_xmin(pg_current_snapshot())
             order by tx, pos
             limit $4",
        )
        .bind(device.event_id.as_uuid())
        .bind(after.tx.to_string())
        .bind(to_i64(after.pos, "cursor pos")?)
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *tx)
        .await?;
        let has_more = rows.len() > limit as usize;
        let mut items = Vec::with_capacity(rows.len().min(limit as usize));
        let mut next_cursor = after;
        for row in rows.into_iter().take(limit as usize) {
            let cursor = parse_cursor(row.try_get("tx")?, row.try_get("pos")?)?;
            let item: serde_json::Value = row.try_get("item")?;
            let item: PullItem = serde_json::from_value(item)
                .map_err(|e| StoreError::Corrupt(format!("feed item: {e}")))?;
            items.push(with_position(item, cursor));
            next_cursor = cursor;
        }
        let write_checkpoint: i64 = if has_more {
            sqlx::query_scalar(
                "select coalesce(max(seq), 0) from feed
                 where event_id = $1 and device_id = $2 and (tx, pos) <= ($3::text::xid8, $4)",
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
        sqlx::query("update devices set last_pull_at = now() where id = $1")
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
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "select tx::text as tx, pos from feed where event_id = $1 order by tx desc, pos desc limit 1",
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

/// The item with its feed position filled in.
fn with_position(item: PullItem, position: Cursor) -> PullItem {
    match item {
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
    }
}
