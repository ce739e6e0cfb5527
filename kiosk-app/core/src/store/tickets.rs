//! Finding tickets and attendees: by the scanned code's blind index or by id, opening only the
//! rows asked for.

use rusqlite::{OptionalExtension, params};
use sync_protocol::crypto::blind_index;
use sync_protocol::ids::{AttendeeId, TicketId, TicketTypeId};
use sync_protocol::model::{Attendee, TicketStatus};
use sync_protocol::ticket_code::TicketCode;

use super::{KioskStore, StoreError, hex};

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

type TicketRow = (Vec<u8>, Vec<u8>, Vec<u8>, i64, Vec<u8>);

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

    fn ticket_from_row(
        &self,
        (id, attendee, ticket_type, status, sealed): TicketRow,
    ) -> Result<TicketRecord, StoreError> {
        let damaged = || StoreError::DamagedRow {
            table: "tickets",
            id: hex(&id),
        };
        let code = self.open_row("tickets", &id, &sealed)?;
        let to16 = |v: &[u8]| <[u8; 16]>::try_from(v).map_err(|_| damaged());
        Ok(TicketRecord {
            id: TicketId::from_bytes(to16(&id)?).map_err(|_| damaged())?,
            attendee_id: AttendeeId::from_bytes(to16(&attendee)?).map_err(|_| damaged())?,
            ticket_type_id: TicketTypeId::from_bytes(to16(&ticket_type)?).map_err(|_| damaged())?,
            status: status_of(status).ok_or_else(damaged)?,
            code: String::from_utf8(code.to_vec()).map_err(|_| damaged())?,
        })
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

    /// How many tickets the kiosk holds.
    pub fn ticket_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("select count(*) from tickets", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }
}
