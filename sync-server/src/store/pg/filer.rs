//! The filer's storage: it reads an event's feed after its position and files the device changes
//! it finds (`ingest`), then moves its position, in one transaction.
//!
//! One filer per event at a time across every instance (a transaction-level advisory lock), so
//! filings of one event never race each other. The position moves only over *settled* feed rows:
//! those of transactions older than every running one, as a pull's page does, since a slower push
//! can still commit a row below any position above that. Filing is idempotent, so
//! [`PgStore::catch_up`] may also file the committed rows above it, before a read that must see
//! them (an admin's report, the conflict list); the filer files them again once they settle.

use sqlx::{PgConnection, Row};
use sync_protocol::changes::Change;
use sync_protocol::hlc::Hlc;
use sync_protocol::ids::{ChangeId, DeviceId, EventId};
use sync_protocol::wire::Cursor;

use super::{FEED_BLOCK, PgStore, block_floor, parse_cursor, to_i64};
use crate::store::StoreError;

/// Changes one filing reads at most.
pub const FILING_BATCH: u32 = 5000;

/// Which feed rows a filing takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Settled rows only (the filer).
    Settled,
    /// Every committed row (a catch-up before a read).
    Committed,
}

/// What one filing did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filed {
    /// Device changes filed.
    pub changes: u64,
    /// The filing stopped at its batch size: more may be waiting.
    pub more: bool,
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl PgStore {
    /// Files up to `limit` settled device changes of `event` after its filer position and moves
    /// the position over them. The background filer's step.
    pub async fn file_settled(&self, event: EventId, limit: u32) -> Result<Filed, StoreError> {
        self.file_next(event, limit, Reach::Settled).await
    }

    /// Files every committed device change of `event` not yet filed, so that a read made next
    /// sees the effects of every push answered before it.
    pub async fn catch_up(&self, event: EventId) -> Result<(), StoreError> {
        // Settled rows first, moving the position; then what is committed above it.
        while self
            .file_next(event, FILING_BATCH, Reach::Settled)
            .await?
            .more
        {}
        while self
            .file_next(event, FILING_BATCH, Reach::Committed)
            .await?
            .more
        {}
        Ok(())
    }

    /// Events whose feed holds device changes past their filer position.
    pub async fn events_to_file(&self) -> Result<Vec<EventId>, StoreError> {
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
            // One index probe per event from its position (`limit 1` keeps it a probe: the
            // planner would otherwise hash the whole feed).
            "select e.id from events e
             left join filer_positions p on p.event_id = e.id
             cross join lateral (
                 select 1 from feed f
                 where f.event_id = e.id
                   and (f.tx, f.pos) > (coalesce(p.tx, '0'::xid8), coalesce(p.pos, 0) - $1)
                   and (f.tx, f.pos + f.seq_end - f.seq)
                       > (coalesce(p.tx, '0'::xid8), coalesce(p.pos, 0))
                   and f.tx < pg_snapshot_xmin(pg_current_snapshot())
                   and f.item is null
                 limit 1) waiting",
        )
        .bind(FEED_BLOCK - 1)
        .fetch_all(&self.pool)
        .await?;
        ids.into_iter()
            .map(|id| EventId::from_uuid(id).map_err(corrupt))
            .collect()
    }

    async fn file_next(
        &self,
        event: EventId,
        limit: u32,
        reach: Reach,
    ) -> Result<Filed, StoreError> {
        let mut tx = self.begin().await?;
        // One filer per event: a second one waits here, then finds the first one's position.
        sqlx::query("select pg_advisory_xact_lock(hashtext('gatepass filer'), hashtext($1::text))")
            .bind(event.as_uuid())
            .execute(&mut *tx)
            .await?;
        let position = position(&mut tx, event).await?;
        let rows = sqlx::query(
            // Each change of a device row's run at its own position; the position may point
            // inside a run (see `pull`).
            "select f.tx::text as tx, f.pos + (c.seq - f.seq) as pos,
                    f.tx < pg_snapshot_xmin(pg_current_snapshot()) as settled,
                    c.change_id, c.device_id, c.seq, c.hlc, c.package_version, c.kind,
                    c.schema_version, c.entity_id, c.payload
             from feed f
             join changes c on c.device_id = f.device_id and c.seq between f.seq and f.seq_end
             where f.event_id = $1
               and (f.tx, f.pos) > ($2::text::xid8, $6)
               and (f.tx, f.pos + (c.seq - f.seq)) > ($2::text::xid8, $3)
               and ($5 or f.tx < pg_snapshot_xmin(pg_current_snapshot()))
               and f.item is null and c.status = 'accepted'
             order by f.tx, f.pos, c.seq
             limit $4",
        )
        .bind(event.as_uuid())
        .bind(position.tx.to_string())
        .bind(to_i64(position.pos, "filer pos")?)
        .bind(i64::from(limit))
        .bind(reach == Reach::Committed)
        .bind(block_floor(position.pos, "filer pos")?)
        .fetch_all(&mut *tx)
        .await?;
        let more = rows.len() >= limit as usize;
        let mut changes = Vec::with_capacity(rows.len());
        let mut settled_to = None;
        for row in &rows {
            changes.push(change_of(row)?);
            if row.try_get::<bool, _>("settled")? {
                settled_to = Some(parse_cursor(row.try_get("tx")?, row.try_get("pos")?)?);
            }
        }
        // A stored, accepted change parsed when it was pushed; one that no longer does (a
        // damaged row) is shown to coordinators, never skipped without a word.
        let mut bodies = Vec::with_capacity(changes.len());
        let mut unreadable = Vec::new();
        for change in &changes {
            match change.body() {
                Ok(body) => bodies.push((change, body)),
                Err(err) => unreadable.push((change, err.to_string())),
            }
        }
        let pairs: Vec<_> = bodies.iter().map(|(c, b)| (*c, b)).collect();
        super::ingest::file(&mut tx, event, &pairs).await?;
        if !unreadable.is_empty() {
            super::ingest::report_unfiled(&mut tx, event, &unreadable).await?;
        }
        if let Some(to) = settled_to {
            set_position(&mut tx, event, to).await?;
        }
        tx.commit().await?;
        Ok(Filed {
            changes: changes.len() as u64,
            more,
        })
    }
}

async fn position(conn: &mut PgConnection, event: EventId) -> Result<Cursor, StoreError> {
    let row = sqlx::query("select tx::text as tx, pos from filer_positions where event_id = $1")
        .bind(event.as_uuid())
        .fetch_optional(conn)
        .await?;
    match row {
        Some(row) => parse_cursor(row.try_get("tx")?, row.try_get("pos")?),
        None => Ok(Cursor::START),
    }
}

async fn set_position(
    conn: &mut PgConnection,
    event: EventId,
    to: Cursor,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into filer_positions (event_id, tx, pos) values ($1, $2::text::xid8, $3)
         on conflict (event_id) do update set tx = excluded.tx, pos = excluded.pos",
    )
    .bind(event.as_uuid())
    .bind(to.tx.to_string())
    .bind(to_i64(to.pos, "filer pos")?)
    .execute(conn)
    .await?;
    Ok(())
}

/// The change a change-log row holds.
fn change_of(row: &sqlx::postgres::PgRow) -> Result<Change, StoreError> {
    let seq: i64 = row.try_get("seq")?;
    let package_version: i64 = row.try_get("package_version")?;
    let schema_version: i32 = row.try_get("schema_version")?;
    Ok(Change {
        id: ChangeId::from_uuid(row.try_get("change_id")?).map_err(corrupt)?,
        device_id: DeviceId::from_uuid(row.try_get("device_id")?).map_err(corrupt)?,
        seq: u64::try_from(seq).map_err(corrupt)?,
        hlc: Hlc::from_i64(row.try_get("hlc")?).ok_or_else(|| corrupt("change hlc"))?,
        package_version: u64::try_from(package_version).map_err(corrupt)?,
        kind: row.try_get("kind")?,
        schema_version: u16::try_from(schema_version).map_err(corrupt)?,
        entity_id: row.try_get("entity_id")?,
        payload: row.try_get("payload")?,
    })
}
