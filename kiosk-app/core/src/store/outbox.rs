//! What the outbox says about each change besides its payload: its id, stamp, kind, the record it
//! is about and when it was made (the "envelope").
//!
//! Kept plain, these would give a timeline of every badge scanned here (a check-in's entity is
//! its ticket), so the envelope is sealed as one value (AES-GCM, bound to the row's seq as
//! `outbox_envelope`) beside the sealed payload, and the plain columns hold empty values. Reading
//! the changes of one kind (this kiosk's walk-ins, its check-ins) therefore opens every envelope:
//! the outbox holds one row per change made here, a few thousand on a busy day, and those reads
//! happen when a package is applied or at unlock, not per scan.
//!
//! The outbox's state (pending, acknowledged, parked) stays plain, covered by the sealed
//! acknowledgement mark (`sync`). Its rows are never removed, and the highest seq given out is
//! sealed too (the head, meta `outbox_head`): at unlock every seq up to the head has a row, and a
//! row removed from the file is replaced by a damaged placeholder, which the push sends and the
//! server parks, so the coordinator sees the loss and the server's acknowledgement is never held
//! back by the gap.

use rand::rngs::OsRng;
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use sync_protocol::crypto::{SealingKey, open, seal};
use sync_protocol::ids::ChangeId;

use super::{KioskStore, StoreError, put_sealed_meta_u64, row_aad, sealed_meta_u64};

const ENVELOPE_TABLE: &str = "outbox_envelope";
const META_HEAD: &str = "outbox_head";

/// The sealed head: the highest seq given out (`None`: none recorded, or the value was removed).
fn sealed_head(conn: &Connection, sealing: &SealingKey) -> Result<Option<u64>, StoreError> {
    sealed_meta_u64(conn, sealing, META_HEAD)
}

fn put_head(conn: &Connection, sealing: &SealingKey, head: u64) -> Result<(), StoreError> {
    put_sealed_meta_u64(conn, sealing, META_HEAD, head)
}

fn highest_row(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row("select coalesce(max(seq), 0) from outbox", [], |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

/// Gives out the seq of a new change: one above the sealed head and every row (so a seq is never
/// given twice, even when the last rows were removed from the file), and moves the head to it.
pub(super) fn next_seq(conn: &Connection, sealing: &SealingKey) -> Result<i64, StoreError> {
    let head = sealed_head(conn, sealing).unwrap_or(None).unwrap_or(0);
    let seq = head.max(highest_row(conn)?) + 1;
    put_head(conn, sealing, seq)?;
    Ok(seq as i64)
}

/// A change's envelope, as sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Envelope {
    pub change_id: ChangeId,
    pub hlc: i64,
    pub kind: String,
    pub schema_version: u16,
    pub entity_id: String,
    /// When the change was made, by this kiosk's clock (Unix milliseconds).
    pub created_at: i64,
}

/// Seals the envelope of the outbox row `seq`.
pub(super) fn seal_envelope(sealing: &SealingKey, seq: i64, envelope: &Envelope) -> Vec<u8> {
    let plain = serde_json::to_vec(envelope).expect("envelopes serialize");
    seal(
        sealing,
        &mut OsRng,
        &plain,
        &row_aad(ENVELOPE_TABLE, &seq.to_be_bytes()),
    )
}

/// Opens the envelope of the outbox row `seq` (absent or not opening: a damaged row).
pub(super) fn open_envelope(
    sealing: &SealingKey,
    seq: i64,
    sealed: Option<&[u8]>,
) -> Result<Envelope, StoreError> {
    let damaged = || StoreError::DamagedRow {
        table: "outbox",
        id: seq.to_string(),
    };
    let sealed = sealed.ok_or_else(damaged)?;
    let plain = open(
        sealing,
        sealed,
        &row_aad(ENVELOPE_TABLE, &seq.to_be_bytes()),
    )
    .map_err(|_| damaged())?;
    serde_json::from_slice(&plain).map_err(|_| damaged())
}

/// This kiosk's changes of the `kinds` given, oldest first: seq, envelope and sealed payload.
/// A row whose envelope does not open is left out (and logged): it is sent to the server as
/// damaged by the push, where the coordinator sees it.
pub(super) fn own_changes(
    conn: &Connection,
    sealing: &SealingKey,
    kinds: &[&str],
) -> Result<Vec<(i64, Envelope, Vec<u8>)>, StoreError> {
    let mut statement = conn.prepare("select seq, envelope, sealed from outbox order by seq")?;
    let mut rows = statement.query([])?;
    let mut changes = Vec::new();
    while let Some(r) = rows.next()? {
        let (seq, envelope, sealed): (i64, Option<Vec<u8>>, Vec<u8>) =
            (r.get(0)?, r.get(1)?, r.get(2)?);
        match open_envelope(sealing, seq, envelope.as_deref()) {
            Ok(envelope) if kinds.contains(&envelope.kind.as_str()) => {
                changes.push((seq, envelope, sealed))
            }
            Ok(_) => {}
            Err(e) => tracing::error!(seq, error = %e, "an outbox row's envelope does not open"),
        }
    }
    Ok(changes)
}

/// An envelope as a kiosk before format 5 kept it: seq, change id, stamp, kind, schema version,
/// entity, time.
type PlainEnvelope = (i64, Vec<u8>, i64, String, u16, String, i64);

impl KioskStore {
    /// At unlock: every seq up to the head has a row. A seq whose row was removed from the file
    /// gets a damaged placeholder (pushed like any change, parked by the server, shown to the
    /// coordinator). Returns how many were missing.
    pub(super) fn fill_outbox_gaps(&mut self) -> Result<u64, StoreError> {
        let tx = self.conn.transaction()?;
        let head = match sealed_head(&tx, &self.sealing) {
            Ok(Some(head)) => head,
            Ok(None) => 0,
            Err(e) => {
                tracing::error!(error = %e, "the outbox head does not open: taken from the rows");
                0
            }
        };
        let top = head.max(highest_row(&tx)?);
        let present: std::collections::HashSet<u64> = {
            let mut statement = tx.prepare("select seq from outbox")?;
            let rows = statement.query_map([], |r| r.get::<_, i64>(0))?;
            rows.map(|seq| seq.map(|s| s.max(0) as u64))
                .collect::<Result<_, _>>()?
        };
        let mut missing = 0;
        for seq in (1..=top).filter(|seq| !present.contains(seq)) {
            missing += 1;
            tracing::error!(
                seq,
                "an outbox row was removed from the kiosk's file: sent as damaged"
            );
            let seq = seq as i64;
            let envelope = Envelope {
                change_id: ChangeId::new(sync_protocol::UnixMillis(1), &mut OsRng),
                hlc: 0,
                kind: super::DAMAGED_KIND.into(),
                schema_version: 1,
                entity_id: format!("outbox-{seq}"),
                created_at: 0,
            };
            let payload = serde_json::json!({
                "reason": "this change was removed from the kiosk's file; what it held is lost"
            });
            let sealed = seal(
                &self.sealing,
                &mut OsRng,
                &serde_json::to_vec(&payload).expect("json serializes"),
                &row_aad("outbox", &seq.to_be_bytes()),
            );
            tx.execute(
                "insert into outbox (seq, change_id, hlc, kind, schema_version, entity_id, sealed,
                                     package_version, created_at, envelope)
                 values (?1, x'', 0, '', 0, '', ?2, 0, 0, ?3)",
                params![seq, sealed, seal_envelope(&self.sealing, seq, &envelope)],
            )?;
        }
        if head != top || missing > 0 {
            put_head(&tx, &self.sealing, top)?;
        }
        tx.commit()?;
        Ok(missing)
    }

    /// Seals the envelopes of outbox rows written before format 5 from their plain columns, and
    /// empties those (at unlock, once).
    pub(super) fn seal_outbox_envelopes(&mut self) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let plain: Vec<PlainEnvelope> = {
            let mut statement = tx.prepare(
                "select seq, change_id, hlc, kind, schema_version, entity_id, created_at
                 from outbox where envelope is null",
            )?;
            let rows = statement.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        for (seq, change_id, hlc, kind, schema_version, entity_id, created_at) in plain {
            let Some(change_id) = <[u8; 16]>::try_from(change_id)
                .ok()
                .and_then(|b| ChangeId::from_bytes(b).ok())
            else {
                // Left without an envelope: sent to the server as a damaged row.
                tracing::error!(seq, "an outbox row has no readable change id");
                continue;
            };
            let envelope = Envelope {
                change_id,
                hlc,
                kind,
                schema_version,
                entity_id,
                created_at,
            };
            tx.execute(
                "update outbox set envelope = ?2, change_id = x'', hlc = 0, kind = '',
                                   schema_version = 0, entity_id = '', created_at = 0
                 where seq = ?1",
                params![seq, seal_envelope(&self.sealing, seq, &envelope)],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
impl KioskStore {
    /// Test scaffolding: puts the times back in plain, as a kiosk before format 5 kept them.
    pub(super) fn downgrade_times_for_tests(&mut self) {
        let sealing = &self.sealing;
        let envelopes: Vec<(i64, Option<Vec<u8>>)> = self
            .conn
            .prepare("select seq, envelope from outbox")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (seq, envelope) in envelopes {
            let e = open_envelope(sealing, seq, envelope.as_deref()).unwrap();
            self.conn
                .execute(
                    "update outbox set envelope = null, change_id = ?2, hlc = ?3, kind = ?4,
                                       schema_version = ?5, entity_id = ?6, created_at = ?7
                     where seq = ?1",
                    params![
                        seq,
                        e.change_id.to_bytes(),
                        e.hlc,
                        e.kind,
                        e.schema_version,
                        e.entity_id,
                        e.created_at
                    ],
                )
                .unwrap();
        }
        let times: Vec<(Vec<u8>, Vec<u8>)> = self
            .conn
            .prepare("select id, hlc_sealed from check_ins where hlc_sealed is not null")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (id, sealed) in times {
            let plain = open(sealing, &sealed, &row_aad("check_ins_hlc", &id)).unwrap();
            let hlc = i64::from_be_bytes(plain[..].try_into().unwrap());
            self.conn
                .execute(
                    "update check_ins set hlc = ?2, hlc_sealed = null where id = ?1",
                    params![id, hlc],
                )
                .unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::identity::test_identity;
    use sync_protocol::UnixMillis;
    use sync_protocol::changes::{ChangeBody, CheckIn, FoundBy};
    use sync_protocol::crypto::{KdfParams, SecretKey};
    use sync_protocol::ids::{CheckInId, GateId, TicketId};
    use sync_protocol::model::Direction;
    use sync_protocol::verdict::VerdictCode;

    const PIN: &str = "13572468";

    /// No time and no ticket is left plain by a check-in: the outbox's columns are empty and the
    /// check-in's time is sealed. A store from before format 5 is sealed at unlock, and reads
    /// the same after.
    #[test]
    fn times_and_entities_are_sealed_and_older_stores_sealed_at_unlock() {
        let dir = std::env::temp_dir().join(format!("gp-outbox-times-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kiosk.db");
        let server = SecretKey::generate(&mut OsRng);
        let device_key = SecretKey::generate(&mut OsRng);
        let mut store = KioskStore::create(&path, PIN, KdfParams::FOR_TESTS).unwrap();
        store
            .save_identity(&test_identity(&server, &device_key), "token", &device_key)
            .unwrap();
        let now = UnixMillis(1_800_000_000_000);
        let ticket = TicketId::new(now, &mut OsRng);
        for minutes in 0..3 {
            let body = ChangeBody::CheckIn(CheckIn {
                id: CheckInId::new(now, &mut OsRng),
                ticket_id: ticket,
                gate_id: GateId::new(now, &mut OsRng),
                direction: Direction::Entry,
                verdict: VerdictCode::Admitted,
                offline: true,
                scanned_at: now,
                found_by: FoundBy::Code,
            });
            store
                .record(&body, now.plus_millis(minutes * 60_000))
                .unwrap();
        }
        let plain_left = |store: &KioskStore| -> i64 {
            store
                .conn
                .query_row(
                    "select (select count(*) from outbox
                             where hlc <> 0 or kind <> '' or entity_id <> '' or created_at <> 0
                                   or length(change_id) > 0 or envelope is null)
                          + (select count(*) from check_ins where hlc <> 0 or hlc_sealed is null)",
                    [],
                    |r| r.get(0),
                )
                .unwrap()
        };
        assert_eq!(plain_left(&store), 0);
        let pending = store.pending_changes(10).unwrap();
        assert_eq!(pending.len(), 3);
        assert!(pending.iter().all(|c| c.entity_id == ticket.to_string()));
        let facts = store.check_ins_of(ticket).unwrap();
        assert_eq!(facts.len(), 3);

        store.downgrade_for_tests(PIN, 4);
        assert_eq!(
            plain_left(&store),
            6,
            "the older layout keeps times in plain"
        );
        drop(store);
        let store = KioskStore::unlock(&path, PIN).unwrap();
        assert_eq!(store.format().unwrap(), crate::store::STORE_FORMAT);
        assert_eq!(plain_left(&store), 0);
        assert_eq!(store.pending_changes(10).unwrap(), pending);
        assert_eq!(store.check_ins_of(ticket).unwrap(), facts);
        assert_eq!(
            store.check_ins_at_unlock(),
            crate::store::CheckInsAtUnlock::Whole
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Rows removed from the file, in the middle or at the end, come back as damaged
    /// placeholders at unlock: the server parks them and its acknowledgement goes on; a seq is
    /// never given twice.
    #[test]
    fn removed_rows_are_sent_as_damaged_and_no_seq_is_given_twice() {
        let dir = std::env::temp_dir().join(format!("gp-outbox-gaps-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kiosk.db");
        let server = SecretKey::generate(&mut OsRng);
        let device_key = SecretKey::generate(&mut OsRng);
        let mut store = KioskStore::create(&path, PIN, KdfParams::FOR_TESTS).unwrap();
        store
            .save_identity(&test_identity(&server, &device_key), "token", &device_key)
            .unwrap();
        let now = UnixMillis(1_800_000_000_000);
        let check_in = || {
            ChangeBody::CheckIn(CheckIn {
                id: CheckInId::new(now, &mut OsRng),
                ticket_id: TicketId::new(now, &mut OsRng),
                gate_id: GateId::new(now, &mut OsRng),
                direction: Direction::Entry,
                verdict: VerdictCode::Admitted,
                offline: true,
                scanned_at: now,
                found_by: FoundBy::Code,
            })
        };
        for _ in 0..5 {
            store.record(&check_in(), now).unwrap();
        }
        store
            .conn
            .execute("delete from outbox where seq in (2, 5)", [])
            .unwrap();
        drop(store);
        let mut store = KioskStore::unlock(&path, PIN).unwrap();
        let pending = store.pending_changes(10).unwrap();
        let kinds: Vec<(u64, &str)> = pending.iter().map(|c| (c.seq, c.kind.as_str())).collect();
        assert_eq!(
            kinds,
            vec![
                (1, "check_in"),
                (2, crate::store::DAMAGED_KIND),
                (3, "check_in"),
                (4, "check_in"),
                (5, crate::store::DAMAGED_KIND),
            ]
        );
        assert_eq!(store.record(&check_in(), now).unwrap().seq, 6);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
