//! The check-ins a verdict reads (each ticket's timeline), kept so that someone with the file but
//! not the PIN cannot change them.
//!
//! - **Each row is tagged**: an HMAC of all its columns (`sync_protocol::crypto::row_tag`, label
//!   `check_ins`). A row edited (an admission turned into a refusal, marked annulled) or made up
//!   is refused as damaged when the ticket is scanned; other tickets go on.
//! - **Its time is sealed** (`hlc_sealed`, AES-GCM bound to the row; the plain `hlc` column holds
//!   0), so the file does not show when a ticket came and went. What stays plain is what counting
//!   admissions needs without opening every row: ticket, gate, direction, admitted, annulled, and
//!   the kiosk.
//! - **Their number is sealed** (meta `check_in_count`, AES-GCM bound to its key). A removed row
//!   leaves nothing to tag, so every unlock counts the rows: fewer than sealed means rows were
//!   removed, and the kiosk puts back what it can at once. Its own check-ins and annulments come
//!   back from its outbox, which holds every change made here, sealed; the other kiosks' come back
//!   with the next sync, which pulls the whole feed again from its start.
//!
//! Every write goes through this module: the scan path adds one row and one to the count; the
//! bulk paths (a package, a pulled page) count again at their end, which is safe because every
//! unlock checked the count first.

use rand::rngs::OsRng;
use rusqlite::{Connection, OptionalExtension, params};
use sync_protocol::changes::{ChangeKind, CheckIn, CheckInAnnulment};
use sync_protocol::crypto::{RowTagKey, RowTagger, SealingKey, open, seal};
use sync_protocol::hlc::Hlc;
use sync_protocol::ids::{CheckInId, DeviceId, GateId, TicketId};
use sync_protocol::merge::{ChangeMeta, annulment_counts};
use sync_protocol::model::Direction;
use sync_protocol::wire::Cursor;

use super::package::direction_code;
use super::{
    KioskStore, META_CURSOR, StoreError, hex, put_sealed_meta_u64, row_aad, sealed_meta_u64,
};

/// The meta key of the sealed number of check-in rows.
const META_COUNT: &str = "check_in_count";

/// The keys a check-in row is written and read with.
#[derive(Clone, Copy)]
pub(super) struct RowKeys<'a> {
    pub tags: &'a RowTagKey,
    pub sealing: &'a SealingKey,
}

/// The associated data of a check-in's sealed time.
fn hlc_aad(id: CheckInId) -> Vec<u8> {
    row_aad("check_ins_hlc", &id.to_bytes())
}

/// One check-in row, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CheckInRow {
    pub id: CheckInId,
    pub ticket: TicketId,
    pub gate: GateId,
    pub direction: Direction,
    pub admitted: bool,
    pub hlc: i64,
    pub device: DeviceId,
    pub annulled: bool,
}

impl CheckInRow {
    /// The row of `check_in`, stamped `hlc`, made by `device`, not annulled.
    pub fn of(check_in: &CheckIn, hlc: i64, device: DeviceId) -> CheckInRow {
        CheckInRow {
            id: check_in.id,
            ticket: check_in.ticket_id,
            gate: check_in.gate_id,
            direction: check_in.direction,
            admitted: check_in.verdict.admits(),
            hlc,
            device,
            annulled: false,
        }
    }

    fn tag(&self, key: &RowTagKey) -> [u8; 32] {
        self.tagger(key).finish()
    }

    fn verifies(&self, key: &RowTagKey, tag: &[u8]) -> bool {
        self.tagger(key).verify(tag)
    }

    /// Every column, in order.
    fn tagger(&self, key: &RowTagKey) -> RowTagger {
        let mut tagger = RowTagger::new(key, "check_ins");
        tagger
            .part(&self.id.to_bytes())
            .part(&self.ticket.to_bytes())
            .part(&self.gate.to_bytes())
            .part(&direction_code(self.direction).to_be_bytes())
            .part(&[self.admitted as u8])
            .part(&self.hlc.to_be_bytes())
            .part(&self.device.to_bytes())
            .part(&[self.annulled as u8]);
        tagger
    }
}

/// Reads rows from `select <ROW_COLUMNS>, tag ...`, refusing one whose tag does not verify.
pub(super) const ROW_COLUMNS: &str =
    "id, ticket_id, gate_id, direction, admitted, hlc, device_id, annulled, tag, hlc_sealed";

/// A row read with [`ROW_COLUMNS`], and its stored tag.
fn parse_row(
    r: &rusqlite::Row<'_>,
    sealing: &SealingKey,
) -> Result<(CheckInRow, Option<Vec<u8>>), StoreError> {
    let id: Vec<u8> = r.get(0)?;
    let damaged = || StoreError::DamagedRow {
        table: "check_ins",
        id: hex(&id),
    };
    let id16 = |i: usize| -> Result<[u8; 16], StoreError> {
        r.get::<_, Vec<u8>>(i)?.try_into().map_err(|_| damaged())
    };
    let check_in = CheckInId::from_bytes(id16(0)?).map_err(|_| damaged())?;
    // The time is sealed; a row from before format 5 has it plain until the upgrade.
    let hlc = match r.get::<_, Option<Vec<u8>>>(9)? {
        Some(sealed) => {
            let plain = open(sealing, &sealed, &hlc_aad(check_in)).map_err(|_| damaged())?;
            i64::from_be_bytes(plain[..].try_into().map_err(|_| damaged())?)
        }
        None => r.get(5)?,
    };
    let row = CheckInRow {
        id: check_in,
        ticket: TicketId::from_bytes(id16(1)?).map_err(|_| damaged())?,
        gate: GateId::from_bytes(id16(2)?).map_err(|_| damaged())?,
        direction: match r.get::<_, i64>(3)? {
            0 => Direction::Entry,
            1 => Direction::Exit,
            _ => return Err(damaged()),
        },
        admitted: r.get(4)?,
        hlc,
        device: DeviceId::from_bytes(id16(6)?).map_err(|_| damaged())?,
        annulled: r.get(7)?,
    };
    Ok((row, r.get(8)?))
}

/// A row read with [`ROW_COLUMNS`], once its tag verifies.
pub(super) fn read_row(r: &rusqlite::Row<'_>, keys: RowKeys<'_>) -> Result<CheckInRow, StoreError> {
    let (row, tag) = parse_row(r, keys.sealing)?;
    if tag.is_some_and(|tag| row.verifies(keys.tags, &tag)) {
        Ok(row)
    } else {
        tracing::error!(check_in = %row.id, ticket = %row.ticket, "a check-in row does not verify");
        Err(StoreError::DamagedRow {
            table: "check_ins",
            id: hex(&row.id.to_bytes()),
        })
    }
}

/// The stored row `id`, if there and intact (`Ok(None)` also for a damaged row).
fn intact_row(
    conn: &Connection,
    keys: RowKeys<'_>,
    id: CheckInId,
) -> Result<Option<CheckInRow>, StoreError> {
    let mut statement = conn.prepare_cached(&format!(
        "select {ROW_COLUMNS} from check_ins where id = ?1"
    ))?;
    let mut rows = statement.query(params![id.to_bytes()])?;
    match rows.next()? {
        Some(r) => Ok(read_row(r, keys).ok()),
        None => Ok(None),
    }
}

/// Writes `row` with its tag, in place of any row with its id. Returns whether the row is new.
fn put(conn: &Connection, keys: RowKeys<'_>, row: &CheckInRow) -> Result<bool, StoreError> {
    let existed: bool = conn
        .query_row(
            "select 1 from check_ins where id = ?1",
            params![row.id.to_bytes()],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    conn.prepare_cached(
        "insert into check_ins (id, ticket_id, gate_id, direction, admitted, hlc, device_id,
                                annulled, tag, hlc_sealed)
         values (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?8, ?9)
         on conflict (id) do update set ticket_id = excluded.ticket_id, gate_id = excluded.gate_id,
           direction = excluded.direction, admitted = excluded.admitted, hlc = 0,
           device_id = excluded.device_id, annulled = excluded.annulled, tag = excluded.tag,
           hlc_sealed = excluded.hlc_sealed",
    )?
    .execute(params![
        row.id.to_bytes(),
        row.ticket.to_bytes(),
        row.gate.to_bytes(),
        direction_code(row.direction),
        row.admitted,
        row.device.to_bytes(),
        row.annulled,
        row.tag(keys.tags),
        seal(
            keys.sealing,
            &mut OsRng,
            &row.hlc.to_be_bytes(),
            &hlc_aad(row.id)
        ),
    ])?;
    Ok(!existed)
}

/// Adds a check-in made here (the scan path): the row and one more in the sealed count.
pub(super) fn add_own(
    conn: &Connection,
    keys: RowKeys<'_>,
    row: &CheckInRow,
) -> Result<(), StoreError> {
    if put(conn, keys, row)? {
        let count = sealed_count(conn, keys.sealing)?.unwrap_or(0);
        seal_count_as(conn, keys.sealing, count + 1)?;
    }
    Ok(())
}

/// Adds a check-in another kiosk made, unless it is here already (a pulled item). Call
/// [`seal_count`] at the end of the batch.
pub(super) fn add_known(
    conn: &Connection,
    keys: RowKeys<'_>,
    row: &CheckInRow,
) -> Result<(), StoreError> {
    if intact_row(conn, keys, row.id)?.is_none() {
        put(conn, keys, row)?;
    }
    Ok(())
}

/// A package's check-in: its values, except that an intact stored row's annulment is kept (an
/// annulment is final). A stored row that does not verify is replaced by the package's. Call
/// [`seal_count`] at the end of the batch.
pub(super) fn put_from_package(
    conn: &Connection,
    keys: RowKeys<'_>,
    row: &CheckInRow,
) -> Result<(), StoreError> {
    let annulled =
        row.annulled || intact_row(conn, keys, row.id)?.is_some_and(|stored| stored.annulled);
    put(
        conn,
        keys,
        &CheckInRow {
            annulled,
            ..row.clone()
        },
    )?;
    Ok(())
}

/// Marks the check-in `id` annulled by an annulment of `ticket` stamped `at` by `device`, when
/// the protocol's rule counts it (`sync_protocol::merge::annulment_counts`: its own device, the
/// same ticket, within the window by stamps), as the server does. Returns whether it did.
pub(super) fn annul(
    conn: &Connection,
    keys: RowKeys<'_>,
    id: CheckInId,
    ticket: TicketId,
    device: DeviceId,
    at: i64,
) -> Result<bool, StoreError> {
    let (Some(row), Some(at)) = (intact_row(conn, keys, id)?, Hlc::from_i64(at)) else {
        return Ok(false);
    };
    let counts = Hlc::from_i64(row.hlc).is_some_and(|made| {
        annulment_counts(
            ChangeMeta {
                hlc: at,
                device_id: device,
            },
            ticket,
            ChangeMeta {
                hlc: made,
                device_id: row.device,
            },
            row.ticket,
        )
    });
    if !counts {
        return Ok(false);
    }
    put(
        conn,
        keys,
        &CheckInRow {
            annulled: true,
            ..row
        },
    )?;
    Ok(true)
}

fn sealed_count(conn: &Connection, sealing: &SealingKey) -> Result<Option<u64>, StoreError> {
    sealed_meta_u64(conn, sealing, META_COUNT)
}

fn seal_count_as(conn: &Connection, sealing: &SealingKey, count: u64) -> Result<(), StoreError> {
    put_sealed_meta_u64(conn, sealing, META_COUNT, count)
}

fn row_count(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row("select count(*) from check_ins", [], |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

/// Seals the number of rows as it now stands (at the end of a bulk write).
pub(super) fn seal_count(conn: &Connection, sealing: &SealingKey) -> Result<(), StoreError> {
    seal_count_as(conn, sealing, row_count(conn)?)
}

/// What the unlock found of the check-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckInsAtUnlock {
    /// As many rows as sealed.
    Whole,
    /// Rows were removed from the file (`missing`: how many; `None` when the sealed count itself
    /// was removed or altered): this kiosk's own were put back from its outbox (`restored`), and
    /// the next sync pulls the whole feed again for the others'.
    Restored { missing: Option<u64>, restored: u64 },
}

impl KioskStore {
    /// The keys check-in rows are read with.
    pub(super) fn row_keys(&self) -> RowKeys<'_> {
        RowKeys {
            tags: &self.tags,
            sealing: &self.sealing,
        }
    }

    /// Checks at unlock that no check-in row was removed, and puts back what was (see the module
    /// doc). A store from before the tags has its rows tagged and its count sealed, once.
    pub(super) fn check_check_ins(&mut self) -> Result<CheckInsAtUnlock, StoreError> {
        let rows = row_count(&self.conn)?;
        // A count removed or replaced is treated as rows removed: what can be put back is.
        let missing = match sealed_count(&self.conn, &self.sealing) {
            Ok(Some(sealed)) if rows >= sealed => return Ok(CheckInsAtUnlock::Whole),
            Ok(Some(sealed)) => Some(sealed - rows),
            Ok(None) | Err(StoreError::DamagedRow { .. }) => None,
            Err(e) => return Err(e),
        };
        tracing::error!(
            ?missing,
            "check-ins were removed from the kiosk's file: putting back this kiosk's own from its outbox and pulling the others' again"
        );
        // A kiosk not enrolled yet has made no change of its own.
        let me = self.identity()?.map(|i| i.device_id);
        let tx = self.conn.transaction()?;
        let keys = RowKeys {
            tags: &self.tags,
            sealing: &self.sealing,
        };
        let before = row_count(&tx)?;
        if let Some(me) = me {
            let own = super::outbox::own_changes(
                &tx,
                &self.sealing,
                &[
                    ChangeKind::CheckIn.as_str(),
                    ChangeKind::CheckInAnnulment.as_str(),
                ],
            )?;
            for (seq, envelope, sealed) in own {
                let (kind, hlc) = (envelope.kind, envelope.hlc);
                let Ok(plain) = open(
                    &self.sealing,
                    &sealed,
                    &row_aad("outbox", &seq.to_be_bytes()),
                ) else {
                    tracing::error!(seq, "an outbox row does not open: its check-in stays lost");
                    continue;
                };
                if kind == ChangeKind::CheckIn.as_str() {
                    let Ok(c) = serde_json::from_slice::<CheckIn>(&plain) else {
                        continue;
                    };
                    let row = CheckInRow::of(&c, hlc, me);
                    add_known(&tx, keys, &row)?;
                } else if let Ok(a) = serde_json::from_slice::<CheckInAnnulment>(&plain) {
                    annul(&tx, keys, a.check_in_id, a.ticket_id, me, hlc)?;
                }
            }
        }
        let restored = row_count(&tx)? - before;
        // The others' check-ins: the next pull starts from the beginning of the feed.
        tx.execute(
            "insert into meta (key, value) values (?1, ?2)
             on conflict (key) do update set value = excluded.value",
            params![META_CURSOR, Cursor::START.to_string().into_bytes()],
        )?;
        seal_count(&tx, &self.sealing)?;
        tx.commit()?;
        Ok(CheckInsAtUnlock::Restored { missing, restored })
    }

    /// Tags every check-in row, seals its time and seals their number (a store from before
    /// format 5, once).
    pub(super) fn tag_check_ins(&mut self) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let rows = {
            let mut statement = tx.prepare(&format!("select {ROW_COLUMNS} from check_ins"))?;
            let mut rows = statement.query([])?;
            let mut parsed = Vec::new();
            while let Some(r) = rows.next()? {
                match parse_row(r, &self.sealing) {
                    Ok((row, _)) => parsed.push(row),
                    // Left untagged: refused as damaged when its ticket is scanned.
                    Err(e) => tracing::error!(error = %e, "a check-in row cannot be read"),
                }
            }
            parsed
        };
        for row in &rows {
            put(
                &tx,
                RowKeys {
                    tags: &self.tags,
                    sealing: &self.sealing,
                },
                row,
            )?;
        }
        seal_count(&tx, &self.sealing)?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_protocol::crypto::KdfParams;

    /// A store from before the tags (format 3) has its check-ins tagged and counted at its first
    /// unlock; after that an untagged row is damaged, and a count removed from the file is taken
    /// as rows removed (what can be put back is), never as a kiosk that no longer opens.
    #[test]
    fn check_ins_from_before_the_tags_are_tagged_and_counted_at_unlock() {
        let dir = std::env::temp_dir().join(format!("gp-timeline-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kiosk.db");
        let mut store = KioskStore::create(&path, "24682468", KdfParams::FOR_TESTS).unwrap();
        let now = sync_protocol::UnixMillis(1_800_000_000_000);
        let ticket = TicketId::new(now, &mut OsRng);
        store
            .conn
            .execute(
                "insert into check_ins (id, ticket_id, gate_id, direction, admitted, hlc, device_id)
                 values (?1, ?2, ?3, 0, 1, 5, ?4)",
                params![
                    CheckInId::new(now, &mut OsRng).to_bytes(),
                    ticket.to_bytes(),
                    GateId::new(now, &mut OsRng).to_bytes(),
                    DeviceId::new(now, &mut OsRng).to_bytes(),
                ],
            )
            .unwrap();
        assert!(matches!(
            store.check_ins_of(ticket),
            Err(StoreError::DamagedRow {
                table: "check_ins",
                ..
            })
        ));
        store.downgrade_for_tests("24682468", 3);
        drop(store);
        let store = KioskStore::unlock(&path, "24682468").unwrap();
        assert_eq!(store.format().unwrap(), crate::store::STORE_FORMAT);
        assert_eq!(store.check_ins_at_unlock(), CheckInsAtUnlock::Whole);
        assert_eq!(store.check_ins_of(ticket).unwrap().len(), 1);
        store
            .conn
            .execute("delete from meta where key = ?1", params![META_COUNT])
            .unwrap();
        drop(store);
        let store = KioskStore::unlock(&path, "24682468").unwrap();
        assert_eq!(
            store.check_ins_at_unlock(),
            CheckInsAtUnlock::Restored {
                missing: None,
                restored: 0
            }
        );
        assert_eq!(store.check_ins_of(ticket).unwrap().len(), 1);
        drop(store);
        let store = KioskStore::unlock(&path, "24682468").unwrap();
        assert_eq!(store.check_ins_at_unlock(), CheckInsAtUnlock::Whole);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
