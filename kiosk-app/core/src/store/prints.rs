//! Which guests' badges have been printed, as far as this kiosk knows: its own prints, those
//! pulled from other kiosks' print logs, and the package's list. A gate that prints the first
//! badge only asks [`KioskStore::badge_printed`] before it prints.
//!
//! The set holds ticket ids only (like `check_ins`, which holds them too), and rows are only ever
//! added: a print is never taken back. The print log itself (who printed, where, when, reprints)
//! is in the outbox and on the server (`admin export badge-prints`).

use rusqlite::{Connection, params};
use sync_protocol::ids::TicketId;

use super::{KioskStore, StoreError};

/// Notes that `ticket`'s badge has been printed (again: a no-op).
pub(super) fn mark_printed(conn: &Connection, ticket: TicketId) -> Result<(), StoreError> {
    conn.prepare_cached(
        "insert into printed_badges (ticket_id) values (?1) on conflict do nothing",
    )?
    .execute(params![ticket.to_bytes()])?;
    Ok(())
}

impl KioskStore {
    /// Whether some kiosk (this one or one whose prints reached it) printed `ticket`'s badge.
    pub fn badge_printed(&self, ticket: TicketId) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("select 1 from printed_badges where ticket_id = ?1")?
            .exists(params![ticket.to_bytes()])?)
    }
}
