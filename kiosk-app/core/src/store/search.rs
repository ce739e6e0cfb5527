//! The guest search over the store: the in-memory index (`crate::search`) built from the sealed
//! rows when a search needs it, kept up to date with walk-ins made here or pulled, dropped when a
//! package replaces the guest list and with the store at lock. Statuses and admissions of the hits are read
//! from the store at each search, so they are never older than the last scan or pull.

use std::collections::HashMap;

use sync_protocol::UnixMillis;
use sync_protocol::crypto::{SealingKey, open};
use sync_protocol::model::{Attendee, Direction, Ticket, TicketStatus};

use super::tickets::{TicketRow, open_ticket};
use super::{KioskStore, StoreError, row_aad};
use crate::search::{Guest, GuestIndex, Prepared};

/// One guest a search found, with what the store knows of the ticket now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestFound {
    pub guest: Guest,
    pub status: TicketStatus,
    /// Entries that count (admitted, not annulled), at every gate and by every kiosk this one
    /// has heard of.
    pub entries: u32,
    /// The last of them, by its stamp.
    pub last_entry_at: Option<UnixMillis>,
}

/// A search's answer: the best guests, best first, and how many matched in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestSearch {
    pub found: Vec<GuestFound>,
    pub total: usize,
}

impl KioskStore {
    /// The `limit` guests that best match `query` (see `crate::search` for the rules). The first
    /// search after an unlock or a change of the guest list builds the index (every ticket and
    /// attendee opened once); later ones only search it.
    pub fn search_guests(&mut self, query: &str, limit: usize) -> Result<GuestSearch, StoreError> {
        if self.guests.is_none() {
            self.guests = Some(self.build_guest_index()?);
        }
        let index = self.guests.as_ref().expect("built above");
        let hits = index.search(query, limit);
        let total = hits.total;
        let guests: Vec<Guest> = hits.best.into_iter().cloned().collect();
        let mut found = Vec::with_capacity(guests.len());
        for guest in guests {
            let Some(ticket) = self.ticket_by_id(guest.ticket_id)? else {
                continue; // removed since the index was built; the next build drops it
            };
            let entries: Vec<_> = self
                .check_ins_of(guest.ticket_id)?
                .into_iter()
                .filter(|f| f.admitted && !f.annulled && f.direction == Direction::Entry)
                .collect();
            found.push(GuestFound {
                status: ticket.status,
                entries: entries.len() as u32,
                last_entry_at: entries.iter().map(|f| f.hlc.wall()).max(),
                guest,
            });
        }
        Ok(GuestSearch { found, total })
    }

    /// Builds the search index now if it is not built (see `app::Kiosk`, which does it after an
    /// unlock or a package on a thread of its own).
    pub fn warm_guest_search(&mut self) -> Result<(), StoreError> {
        if self.guests.is_none() && self.package_version()?.is_some() {
            self.guests = Some(self.build_guest_index()?);
        }
        Ok(())
    }

    /// Forgets the search index: the guest list was replaced (a package).
    pub(super) fn guests_changed(&mut self) {
        self.guests = None;
    }

    /// Adds a guest to the search index, if it is built (a walk-in, a ticket issued).
    pub(super) fn guest_added(&mut self, attendee: &Attendee, ticket: &Ticket) {
        if let Some(index) = self.guests.as_mut() {
            index.upsert(Guest::of(attendee, ticket), &ticket.code);
        }
    }

    /// Every ticket with its attendee, opened: rows are read in batches and each batch opened
    /// and folded on two threads (AES-GCM and JSON are most of the work). A row that does not
    /// open (damaged, or edited in the file) is left out of the search and logged; it is refused
    /// where it is scanned.
    fn build_guest_index(&self) -> Result<GuestIndex, StoreError> {
        const BATCH: usize = 4096;
        let started = std::time::Instant::now();
        // Two scans in table order: a join would look up each ticket's attendee at random in a
        // file larger than SQLite's page cache, several times slower at 100,000 tickets.
        let mut people: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        {
            let mut statement = self.conn.prepare("select id, sealed from attendees")?;
            let mut rows = statement.query([])?;
            while let Some(r) = rows.next()? {
                people.insert(r.get(0)?, r.get(1)?);
            }
        }
        let mut statement = self
            .conn
            .prepare("select id, attendee_id, ticket_type_id, status, sealed from tickets")?;
        let mut rows = statement.query([])?;
        let sealing = &self.sealing;
        let mut prepared = Vec::new();
        let mut damaged = 0usize;
        let mut batch: Vec<(TicketRow, Option<Vec<u8>>)> = Vec::with_capacity(BATCH);
        loop {
            batch.clear();
            while batch.len() < BATCH {
                let Some(r) = rows.next()? else { break };
                let ticket: TicketRow = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
                let person = people.get(&ticket.1).cloned();
                batch.push((ticket, person));
            }
            if batch.is_empty() {
                break;
            }
            let (first, second) = batch.split_at(batch.len() / 2);
            let (first, second) = std::thread::scope(|scope| {
                let helper = scope.spawn(|| open_guests(sealing, first));
                let second = open_guests(sealing, second);
                (helper.join(), second)
            });
            let first = first.map_err(|_| {
                StoreError::Malformed("opening the guest list failed on its helper thread".into())
            })?;
            for part in [first, second] {
                damaged += part.iter().filter(|p| p.is_none()).count();
                prepared.extend(part.into_iter().flatten());
            }
        }
        if damaged > 0 {
            tracing::warn!(
                damaged,
                "tickets left out of the guest search: their rows do not open"
            );
        }
        let index = GuestIndex::from_prepared(prepared);
        tracing::debug!(
            tickets = index.len(),
            ms = started.elapsed().as_millis() as u64,
            "guest search index built"
        );
        Ok(index)
    }
}

/// Opens and folds a batch of rows (`None` for a row that does not open).
fn open_guests(
    sealing: &SealingKey,
    rows: &[(TicketRow, Option<Vec<u8>>)],
) -> Vec<Option<Prepared>> {
    rows.iter()
        .map(|(ticket, attendee)| {
            let (guest, code) = open_guest(sealing, ticket, attendee.as_deref())?;
            Some(Prepared::new(guest, &code))
        })
        .collect()
}

fn open_guest(
    sealing: &SealingKey,
    ticket: &TicketRow,
    attendee: Option<&[u8]>,
) -> Option<(Guest, String)> {
    let ticket = open_ticket(sealing, ticket).ok()?;
    let person: Option<Attendee> = match attendee {
        Some(sealed) => {
            let key = ticket.attendee_id.to_bytes();
            let plain = open(sealing, sealed, &row_aad("attendees", &key)).ok()?;
            Some(serde_json::from_slice(&plain).ok()?)
        }
        None => None,
    };
    let guest = Guest {
        ticket_id: ticket.id,
        attendee_id: ticket.attendee_id,
        ticket_type_id: ticket.ticket_type_id,
        name: person
            .as_ref()
            .map(|p| format!("{} {}", p.first_name, p.last_name))
            .unwrap_or_default(),
        email: person.and_then(|p| p.email),
    };
    Some((guest, ticket.code))
}
