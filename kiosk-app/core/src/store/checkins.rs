//! Recording what happens at the kiosk: every local write and its outbox row in ONE transaction.
//!
//! [`KioskStore::record`] stamps the change with the kiosk's HLC (persisted, so it never goes
//! backwards across restarts), gives it the next dense seq, writes its domain rows (a check-in)
//! and its sealed outbox row, and commits durably before the caller shows the result.

use rand::rngs::OsRng;
use rusqlite::{OptionalExtension, params};
use sync_protocol::UnixMillis;
use sync_protocol::changes::{Change, ChangeBody};
use sync_protocol::crypto::{blind_index, seal};
use sync_protocol::hlc::{DEFAULT_MAX_DRIFT_MS, Hlc, HlcClock};
use sync_protocol::ids::{ChangeId, CheckInId, DeviceId, TicketId};
use sync_protocol::merge::ChangeMeta;
use sync_protocol::ticket_code::TicketCode;
use sync_protocol::verdict::CheckInFact;

use super::outbox::{Envelope, next_seq, open_envelope, seal_envelope};
use super::package::status_code;
use super::timeline::{self, CheckInRow};
use super::{KioskStore, StoreError, hex, put_meta, row_aad};

const META_HLC: &str = "hlc";
/// The server's clock minus this kiosk's, in milliseconds, as last measured.
const META_CLOCK_OFFSET: &str = "clock_offset_ms";
/// A measured offset below this is taken as zero (network round trips blur it anyway).
const CLOCK_OFFSET_NOISE_MS: i64 = 2_000;

/// A stored check-in as the verdict rule reads it.
fn fact(row: CheckInRow) -> Result<CheckInFact, StoreError> {
    Ok(CheckInFact {
        id: row.id,
        gate_id: row.gate,
        direction: row.direction,
        admitted: row.admitted,
        hlc: Hlc::from_i64(row.hlc).ok_or_else(|| StoreError::DamagedRow {
            table: "check_ins",
            id: hex(&row.id.to_bytes()),
        })?,
        annulled: row.annulled,
    })
}

/// The last HLC stamp this kiosk issued or merged (zero before any).
fn stored_hlc(conn: &rusqlite::Connection) -> Result<Hlc, StoreError> {
    let value: Option<Vec<u8>> = conn
        .query_row(
            "select value from meta where key = ?1",
            params![META_HLC],
            |r| r.get(0),
        )
        .optional()?;
    Ok(value
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse::<i64>().ok())
        .and_then(Hlc::from_i64)
        .unwrap_or(Hlc::ZERO))
}

impl KioskStore {
    /// The server's clock minus this kiosk's, as last measured (0 before any, or when small).
    pub fn clock_offset_ms(&self) -> Result<i64, StoreError> {
        Ok(self
            .meta(META_CLOCK_OFFSET)?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.parse().ok())
            .unwrap_or(0))
    }

    /// The time by this kiosk's clock `now`, corrected to the server's: verdicts, stamps and
    /// validity windows use it, so a kiosk whose clock is a day off still judges by the venue's
    /// time once it has talked to the server.
    pub fn corrected(&self, now: UnixMillis) -> Result<UnixMillis, StoreError> {
        let offset = self.clock_offset_ms()?;
        Ok(UnixMillis(now.as_u64().saturating_add_signed(offset)))
    }

    /// Records the server's stamp `server`, seen when this kiosk's clock read `local`: the clock
    /// offset is measured again, and the stamp merged into this kiosk's HLC, so a change made
    /// here after it orders after everything the server had seen.
    pub fn observe_server_time(
        &mut self,
        server: Hlc,
        local: UnixMillis,
    ) -> Result<(), StoreError> {
        let measured = server.wall().as_u64() as i64 - local.as_u64() as i64;
        let offset = if measured.abs() < CLOCK_OFFSET_NOISE_MS {
            0
        } else {
            measured
        };
        let previous = self.clock_offset_ms()?;
        if previous != offset {
            tracing::warn!(
                offset_ms = offset,
                "this kiosk's clock differs from the server's: corrected"
            );
        }
        let tx = self.conn.transaction()?;
        put_meta(&tx, META_CLOCK_OFFSET, offset)?;
        let corrected = UnixMillis(local.as_u64().saturating_add_signed(offset));
        let mut clock = HlcClock::resume(stored_hlc(&tx)?, DEFAULT_MAX_DRIFT_MS);
        clock.receive(server, corrected);
        if let Some(packed) = clock.last().to_i64() {
            put_meta(&tx, META_HLC, packed)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Stores `body` as a local change: domain rows plus the outbox row, atomically and durably.
    pub fn record(&mut self, body: &ChangeBody, now: UnixMillis) -> Result<Change, StoreError> {
        let identity = self
            .identity()?
            .ok_or_else(|| StoreError::Malformed("not enrolled: no device id".into()))?;
        let package_version = self.package_version()?.unwrap_or(0);
        let tx = self.conn.transaction()?;
        let mut clock = HlcClock::resume(stored_hlc(&tx)?, DEFAULT_MAX_DRIFT_MS);
        let hlc = clock.tick(now);
        let packed = hlc
            .to_i64()
            .ok_or_else(|| StoreError::Malformed("clock beyond range".into()))?;
        put_meta(&tx, META_HLC, packed)?;
        let seq = next_seq(&tx, &self.sealing)?;
        let change = Change::new(
            ChangeId::new(now, &mut OsRng),
            identity.device_id,
            seq as u64,
            hlc,
            package_version,
            body,
        );

        match body {
            ChangeBody::CheckIn(c) => {
                let row = CheckInRow::of(c, packed, identity.device_id);
                timeline::add_own(
                    &tx,
                    timeline::RowKeys {
                        tags: &self.tags,
                        sealing: &self.sealing,
                    },
                    &row,
                )?;
            }
            ChangeBody::CheckInAnnulment(a) => {
                let counts = timeline::annul(
                    &tx,
                    timeline::RowKeys {
                        tags: &self.tags,
                        sealing: &self.sealing,
                    },
                    a.check_in_id,
                    a.ticket_id,
                    identity.device_id,
                    packed,
                )?;
                // An annulment the server would not count (stamped too long after its check-in,
                // as when this kiosk's clock was pulled ahead) is not made at all: otherwise this
                // kiosk would count the check-in annulled and every other one would not.
                if !counts {
                    return Err(StoreError::AnnulmentTooLate);
                }
            }
            ChangeBody::WalkIn(w) => {
                let id = w.attendee.id.to_bytes();
                let person = serde_json::to_vec(&w.attendee).expect("attendees serialize");
                tx.execute(
                    "insert into attendees (id, sealed) values (?1, ?2)",
                    params![
                        id,
                        seal(
                            &self.sealing,
                            &mut OsRng,
                            &person,
                            &row_aad("attendees", &id)
                        )
                    ],
                )?;
                let code = TicketCode::parse(&w.ticket.code)
                    .map_err(|e| StoreError::Malformed(format!("walk-in code: {e}")))?;
                let ticket_id = w.ticket.id.to_bytes();
                tx.execute(
                    "insert into tickets (id, code_index, attendee_id, ticket_type_id, status, sealed)
                     values (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        ticket_id,
                        blind_index(&self.index, code.as_str()),
                        w.ticket.attendee_id.to_bytes(),
                        w.ticket.ticket_type_id.to_bytes(),
                        status_code(w.ticket.status),
                        super::tickets::seal_ticket_code(&self.sealing, &w.ticket, &code),
                    ],
                )?;
            }
            ChangeBody::AttendeeEdit(e) => {
                let meta = ChangeMeta {
                    hlc,
                    device_id: identity.device_id,
                };
                super::edits::apply_edit(&tx, &self.sealing, change.id, meta, e)?;
            }
            ChangeBody::BadgePrint(p) => super::prints::mark_printed(&tx, p.ticket_id)?,
            ChangeBody::FailedScan(_) => {}
        }

        let payload = serde_json::to_vec(&change.payload).expect("payloads serialize");
        let seq_bytes = seq.to_be_bytes();
        let sealed = seal(
            &self.sealing,
            &mut OsRng,
            &payload,
            &row_aad("outbox", &seq_bytes),
        );
        let envelope = Envelope {
            change_id: change.id,
            hlc: packed,
            kind: change.kind.clone(),
            schema_version: change.schema_version,
            entity_id: change.entity_id.clone(),
            created_at: now.as_u64() as i64,
        };
        // The plain columns stay empty: the envelope holds them, sealed (see `outbox`).
        tx.execute(
            "insert into outbox (seq, change_id, hlc, kind, schema_version, entity_id, sealed,
                                 package_version, created_at, envelope)
             values (?1, x'', 0, '', 0, '', ?2, ?3, 0, ?4)",
            params![
                seq,
                sealed,
                package_version as i64,
                seal_envelope(&self.sealing, seq, &envelope),
            ],
        )?;
        tx.commit()?;
        if let ChangeBody::WalkIn(w) = body {
            self.guest_added(&w.attendee, &w.ticket); // a new guest to find (see `search`)
        }
        Ok(change)
    }

    /// Every check-in known for `ticket`, as the verdict rule reads them.
    pub fn check_ins_of(&self, ticket: TicketId) -> Result<Vec<CheckInFact>, StoreError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "select {} from check_ins where ticket_id = ?1",
            timeline::ROW_COLUMNS
        ))?;
        let mut rows = statement.query(params![ticket.to_bytes()])?;
        let mut facts = Vec::new();
        while let Some(r) = rows.next()? {
            facts.push(fact(timeline::read_row(r, self.row_keys())?)?);
        }
        Ok(facts)
    }

    /// One check-in by its id, with its ticket and the device that made it (for annulment).
    pub fn check_in(
        &self,
        id: CheckInId,
    ) -> Result<Option<(TicketId, DeviceId, CheckInFact)>, StoreError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "select {} from check_ins where id = ?1",
            timeline::ROW_COLUMNS
        ))?;
        let mut rows = statement.query(params![id.to_bytes()])?;
        let Some(r) = rows.next()? else {
            return Ok(None);
        };
        let row = timeline::read_row(r, self.row_keys())?;
        let (ticket, device) = (row.ticket, row.device);
        Ok(Some((ticket, device, fact(row)?)))
    }

    /// Changes not yet acknowledged by the server, oldest first, at most `limit`.
    pub fn pending_changes(&self, limit: usize) -> Result<Vec<Change>, StoreError> {
        self.pending_changes_after(0, limit)
    }

    /// [`KioskStore::pending_changes`] with a seq above `after` only: the batch after one that
    /// is on its way to the server.
    pub fn pending_changes_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Change>, StoreError> {
        let after = after.min(i64::MAX as u64) as i64;
        let identity = self
            .identity()?
            .ok_or_else(|| StoreError::Malformed("not enrolled".into()))?;
        // Above the sealed acknowledgement mark every row is pending, whatever its plain state.
        let mark = self.acknowledged_mark()?.min(i64::MAX as u64) as i64;
        let mut statement = self.conn.prepare_cached(
            "select seq, envelope, sealed, package_version from outbox where state = 0 and seq > ?3
             union
             select seq, envelope, sealed, package_version from outbox where seq > max(?2, ?3)
             order by seq limit ?1",
        )?;
        let rows = statement.query_map(params![limit as i64, mark, after], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<Vec<u8>>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        let mut changes = Vec::new();
        for row in rows {
            let (seq, envelope, sealed, package_version) = row?;
            let seq_bytes = seq.to_be_bytes();
            let envelope = open_envelope(&self.sealing, seq, envelope.as_deref());
            let hlc = envelope.as_ref().map(|e| e.hlc).unwrap_or(0);
            let read = || -> Result<Change, StoreError> {
                let damaged = || StoreError::DamagedRow {
                    table: "outbox",
                    id: seq.to_string(),
                };
                let envelope = envelope?;
                let payload = self.open_row("outbox", &seq_bytes, &sealed)?;
                Ok(Change {
                    id: envelope.change_id,
                    device_id: identity.device_id,
                    seq: seq as u64,
                    hlc: Hlc::from_i64(envelope.hlc).ok_or_else(damaged)?,
                    package_version: package_version as u64,
                    kind: envelope.kind,
                    schema_version: envelope.schema_version,
                    entity_id: envelope.entity_id,
                    payload: serde_json::from_slice(&payload).map_err(|_| damaged())?,
                })
            };
            changes.push(match read() {
                Ok(change) => change,
                Err(err) => {
                    // One unreadable row must not stop every push after it: it goes out as a
                    // placeholder of a kind no server accepts, which the server parks (and
                    // acknowledges), so the seq stays dense and the coordinator sees it.
                    tracing::error!(seq, error = %err, "an outbox row cannot be read: sent as damaged");
                    damaged_placeholder(identity.device_id, seq as u64, hlc, package_version, &err)
                }
            });
        }
        Ok(changes)
    }

    /// Counts of outbox rows: (pending, acknowledged, parked). Rows above the sealed
    /// acknowledgement mark count as pending whatever their plain state.
    pub fn outbox_counts(&self) -> Result<(u64, u64, u64), StoreError> {
        let mark = self.acknowledged_mark()?.min(i64::MAX as u64) as i64;
        let (pending, acknowledged, parked): (i64, i64, i64) = self.conn.query_row(
            // By index: the plain states, corrected by the few rows above the mark.
            "select (select count(*) from outbox where state = 0)
                    + (select count(*) from outbox where seq > ?1 and state <> 0),
                    (select count(*) from outbox where state = 1)
                    - (select count(*) from outbox where seq > ?1 and state = 1),
                    (select count(*) from outbox where state = 2)
                    - (select count(*) from outbox where seq > ?1 and state = 2)",
            params![mark],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok((
            pending.max(0) as u64,
            acknowledged.max(0) as u64,
            parked.max(0) as u64,
        ))
    }
}

/// The kind a damaged outbox row is sent as: unknown to every server, so it is parked there.
pub const DAMAGED_KIND: &str = "damaged_outbox_row";

/// What is pushed in place of an outbox row that cannot be read (see [`KioskStore::pending_changes`]).
fn damaged_placeholder(
    device_id: DeviceId,
    seq: u64,
    hlc: i64,
    package_version: i64,
    error: &StoreError,
) -> Change {
    let hlc = Hlc::from_i64(hlc).unwrap_or(Hlc::new(0, 0));
    Change {
        id: ChangeId::new(UnixMillis(hlc.wall().as_u64().max(1)), &mut OsRng),
        device_id,
        seq,
        hlc,
        package_version: package_version.max(0) as u64,
        kind: DAMAGED_KIND.into(),
        schema_version: 1,
        entity_id: format!("outbox-{seq}"),
        payload: serde_json::json!({ "reason": error.to_string() }),
    }
}
