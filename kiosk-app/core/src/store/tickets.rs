//! Finding tickets and attendees: by the scanned code's blind index or by id, opening only the
//! rows asked for.
//!
//! A ticket's sealed code is bound to its row's plain columns (id, attendee, ticket type, status:
//! [`ticket_aad`]), so someone editing the file cannot change what a scan decides: an edited row
//! fails to open and the scan is refused for that row alone. Changing a ticket's status therefore
//! seals its code again ([`set_status`]).

use rand::rngs::OsRng;
use rusqlite::{Connection, OptionalExtension, params};
use sync_protocol::crypto::{SealingKey, blind_index, open, seal};
use sync_protocol::ids::{AttendeeId, TicketId, TicketTypeId};
use sync_protocol::model::{Attendee, TicketStatus};
use sync_protocol::ticket_code::TicketCode;

use super::{KioskStore, StoreError, hex, put_meta, row_aad};

/// Meta key set once every ticket's code is sealed with [`ticket_aad`] (older kiosks bound it to
/// the id alone).
pub(super) const META_TICKET_SEAL: &str = "ticket_seal_v2";

/// Associated data of a ticket's sealed code: the row's id and the plain columns a verdict reads.
pub(super) fn ticket_aad(
    id: &[u8],
    attendee_id: &[u8],
    ticket_type_id: &[u8],
    status: i64,
) -> Vec<u8> {
    let mut aad = row_aad("tickets", id);
    aad.extend_from_slice(attendee_id);
    aad.extend_from_slice(ticket_type_id);
    aad.extend_from_slice(&status.to_be_bytes());
    aad
}

/// A ticket's code sealed to its row as [`ticket_aad`] binds it.
pub(super) fn seal_ticket_code(
    sealing: &SealingKey,
    ticket: &sync_protocol::model::Ticket,
    code: &TicketCode,
) -> Vec<u8> {
    let aad = ticket_aad(
        &ticket.id.to_bytes(),
        &ticket.attendee_id.to_bytes(),
        &ticket.ticket_type_id.to_bytes(),
        super::package::status_code(ticket.status),
    );
    seal(sealing, &mut OsRng, code.as_str().as_bytes(), &aad)
}

/// Sets a ticket's status and seals its code again to match. A ticket this kiosk does not hold
/// is no error (nothing to change); one whose row does not open is a damaged row.
pub(super) fn set_status(
    conn: &Connection,
    sealing: &SealingKey,
    id: &[u8],
    status: i64,
) -> Result<(), StoreError> {
    let row: Option<TicketRow> = conn
        .query_row(
            "select id, attendee_id, ticket_type_id, status, sealed from tickets where id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let Some((_, attendee, ticket_type, old, sealed)) = row else {
        return Ok(());
    };
    let damaged = || StoreError::DamagedRow {
        table: "tickets",
        id: hex(id),
    };
    let code = open(
        sealing,
        &sealed,
        &ticket_aad(id, &attendee, &ticket_type, old),
    )
    .map_err(|_| damaged())?;
    let resealed = seal(
        sealing,
        &mut OsRng,
        &code,
        &ticket_aad(id, &attendee, &ticket_type, status),
    );
    conn.execute(
        "update tickets set status = ?2, sealed = ?3 where id = ?1",
        params![id, status, resealed],
    )?;
    Ok(())
}

/// A ticket as the kiosk holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRecord {
    pub id: TicketId,
    pub attendee_id: AttendeeId,
    pub ticket_type_id: TicketTypeId,
    pub status: TicketStatus,
    /// The code on the badge, opened.
    pub code: String,
}

fn status_of(code: i64) -> Option<TicketStatus> {
    match code {
        0 => Some(TicketStatus::Valid),
        1 => Some(TicketStatus::Canceled),
        2 => Some(TicketStatus::Revoked),
        _ => None,
    }
}

pub(super) type TicketRow = (Vec<u8>, Vec<u8>, Vec<u8>, i64, Vec<u8>);

/// Opens a ticket row: its code, sealed to the row's ids and status, and the ids themselves.
pub(super) fn open_ticket(
    sealing: &SealingKey,
    (id, attendee, ticket_type, status, sealed): &TicketRow,
) -> Result<TicketRecord, StoreError> {
    let damaged = || StoreError::DamagedRow {
        table: "tickets",
        id: hex(id),
    };
    let code = open(
        sealing,
        sealed,
        &ticket_aad(id, attendee, ticket_type, *status),
    )
    .map_err(|_| damaged())?;
    let to16 = |v: &[u8]| <[u8; 16]>::try_from(v).map_err(|_| damaged());
    Ok(TicketRecord {
        id: TicketId::from_bytes(to16(id)?).map_err(|_| damaged())?,
        attendee_id: AttendeeId::from_bytes(to16(attendee)?).map_err(|_| damaged())?,
        ticket_type_id: TicketTypeId::from_bytes(to16(ticket_type)?).map_err(|_| damaged())?,
        status: status_of(*status).ok_or_else(damaged)?,
        code: String::from_utf8(code.to_vec()).map_err(|_| damaged())?,
    })
}

impl KioskStore {
    /// The ticket whose code was scanned, if this kiosk knows it. The row found by the code's
    /// blind index must hold that very code once opened: an index copied onto another row (by
    /// someone editing the file) finds that row, and the scan is refused as a damaged row rather
    /// than answered for another ticket.
    pub fn ticket_by_code(&self, code: &TicketCode) -> Result<Option<TicketRecord>, StoreError> {
        let index = blind_index(&self.index, code.as_str());
        let row: Option<TicketRow> = self
            .conn
            .query_row(
                "select id, attendee_id, ticket_type_id, status, sealed from tickets where code_index = ?1",
                params![index],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id = row.0.clone();
        let record = self.ticket_from_row(row)?;
        let stored = TicketCode::parse(&record.code).map_err(|_| StoreError::DamagedRow {
            table: "tickets",
            id: hex(&id),
        })?;
        if stored.as_str() != code.as_str() {
            return Err(StoreError::DamagedRow {
                table: "tickets",
                id: hex(&id),
            });
        }
        Ok(Some(record))
    }

    /// The ticket with this id, if this kiosk knows it.
    pub fn ticket_by_id(&self, id: TicketId) -> Result<Option<TicketRecord>, StoreError> {
        let row = self
            .conn
            .query_row(
                "select id, attendee_id, ticket_type_id, status, sealed from tickets where id = ?1",
                params![id.to_bytes()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        row.map(|row| self.ticket_from_row(row)).transpose()
    }

    fn ticket_from_row(&self, row: TicketRow) -> Result<TicketRecord, StoreError> {
        open_ticket(&self.sealing, &row)
    }

    /// The attendee with this id, opened.
    pub fn attendee(&self, id: AttendeeId) -> Result<Option<Attendee>, StoreError> {
        let key = id.to_bytes();
        let sealed: Option<Vec<u8>> = self
            .conn
            .query_row(
                "select sealed from attendees where id = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()?;
        sealed
            .map(|sealed| {
                let plaintext = self.open_row("attendees", &key, &sealed)?;
                serde_json::from_slice(&plaintext).map_err(|_| StoreError::DamagedRow {
                    table: "attendees",
                    id: hex(&key),
                })
            })
            .transpose()
    }

    /// Seals again, with [`ticket_aad`], the codes an older kiosk sealed to the ticket's id alone.
    /// Runs at unlock until it has run once; afterwards only the new binding opens.
    pub(super) fn upgrade_ticket_seals(&mut self) -> Result<(), StoreError> {
        if self.meta(META_TICKET_SEAL)?.is_some() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut rows =
                tx.prepare("select id, attendee_id, ticket_type_id, status, sealed from tickets")?;
            let mut update = tx.prepare("update tickets set sealed = ?2 where id = ?1")?;
            let all = rows
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect::<Result<Vec<TicketRow>, _>>()?;
            for (id, attendee, ticket_type, status, sealed) in all {
                let aad = ticket_aad(&id, &attendee, &ticket_type, status);
                if open(&self.sealing, &sealed, &aad).is_ok() {
                    continue;
                }
                // A row that opens under neither binding stays as it is: damaged, for that row.
                if let Ok(code) = open(&self.sealing, &sealed, &row_aad("tickets", &id)) {
                    update.execute(params![id, seal(&self.sealing, &mut OsRng, &code, &aad)])?;
                }
            }
        }
        put_meta(&tx, META_TICKET_SEAL, 1)?;
        tx.commit()?;
        Ok(())
    }

    /// How many tickets the kiosk holds.
    pub fn ticket_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("select count(*) from tickets", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_protocol::crypto::KdfParams;

    /// A ticket sealed as an older kiosk sealed it (bound to its id alone) opens again after the
    /// upgrade at unlock, bound to its columns; one that opens under neither stays damaged.
    #[test]
    fn codes_sealed_to_the_id_alone_are_sealed_again_at_unlock() {
        let dir = std::env::temp_dir().join(format!("gp-ticket-seal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kiosk.db");
        let store = KioskStore::create(&path, "24682468", KdfParams::FOR_TESTS).unwrap();
        let now = sync_protocol::UnixMillis(1_800_000_000_000);
        let id = TicketId::new(now, &mut OsRng).to_bytes();
        let attendee = AttendeeId::new(now, &mut OsRng).to_bytes();
        let ticket_type = TicketTypeId::new(now, &mut OsRng).to_bytes();
        let code = TicketCode::parse("LEGACY-0001").unwrap();
        store
            .conn
            .execute(
                "insert into tickets (id, code_index, attendee_id, ticket_type_id, status, sealed)
                 values (?1, ?2, ?3, ?4, 0, ?5), (?6, ?7, ?3, ?4, 0, x'00')",
                params![
                    id,
                    blind_index(&store.index, code.as_str()),
                    attendee,
                    ticket_type,
                    seal(
                        &store.sealing,
                        &mut OsRng,
                        code.as_str().as_bytes(),
                        &row_aad("tickets", &id)
                    ),
                    [9u8; 16],
                    [9u8; 32],
                ],
            )
            .unwrap();
        store
            .conn
            .execute("delete from meta where key = ?1", params![META_TICKET_SEAL])
            .unwrap();
        // Deleting the flag alone changes nothing: the store's format says the codes are bound.
        drop(store);
        let store = KioskStore::unlock(&path, "24682468").unwrap();
        assert!(matches!(
            store.ticket_by_code(&code),
            Err(StoreError::DamagedRow { .. })
        ));
        assert!(store.meta(META_TICKET_SEAL).unwrap().is_none());
        // A store a kiosk before format 1 left is upgraded.
        let mut store = store;
        store.downgrade_for_tests("24682468", 0);
        drop(store);
        let store = KioskStore::unlock(&path, "24682468").unwrap();
        let ticket = store.ticket_by_code(&code).unwrap().unwrap();
        assert_eq!(ticket.code, "LEGACY-0001");
        assert!(store.meta(META_TICKET_SEAL).unwrap().is_some());
        assert!(matches!(
            store.ticket_by_code(&TicketCode::parse("NOPE-0009").unwrap()),
            Ok(None)
        ));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
