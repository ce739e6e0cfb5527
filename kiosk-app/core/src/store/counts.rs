//! Counts for the gate screen: admissions at this gate and across the event, as this kiosk
//! knows them: its own check-ins as they happen, other kiosks' as of the last sync. The screen
//! labels which is which (this kiosk's own, all kiosks as of the last sync), so a volunteer
//! never takes one for the other. The definitions match the server's report (`admin export
//! stats`): an entry counts each admission (re-entries too), an exit each exit scanned, and an
//! annulled check-in never counts.

use rusqlite::params;
use sync_protocol::ids::GateId;

use super::{KioskStore, StoreError};

/// Admission counts, for the gate screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GateCounts {
    /// Entries admitted at this gate (each admission counts, re-entries too).
    pub gate_entries: u64,
    /// Exits scanned at this gate.
    pub gate_exits: u64,
    /// Distinct tickets admitted at least once, at any gate.
    pub event_admitted: u64,
    /// Tickets this kiosk holds.
    pub tickets: u64,
    /// Of `gate_entries`, those this kiosk admitted.
    pub own_gate_entries: u64,
    /// Inside now, the whole event: entries minus exits at every gate (never below zero).
    pub inside: u64,
}

impl KioskStore {
    /// Admission counts for `gate` and the whole event; annulled check-ins do not count.
    pub fn gate_counts(&self, gate: Option<GateId>) -> Result<GateCounts, StoreError> {
        let me = self
            .identity()?
            .map(|i| i.device_id.to_bytes().to_vec())
            .unwrap_or_default();
        let (gate_entries, gate_exits, own_gate_entries) = match gate {
            Some(gate) => self.conn.query_row(
                "select coalesce(sum(direction = 0), 0), coalesce(sum(direction = 1), 0),
                        coalesce(sum(direction = 0 and device_id = ?2), 0)
                 from check_ins where gate_id = ?1 and admitted = 1 and annulled = 0",
                params![gate.to_bytes().to_vec(), me],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )?,
            None => (0, 0, 0),
        };
        let (entries, exits): (i64, i64) = self.conn.query_row(
            "select coalesce(sum(direction = 0), 0), coalesce(sum(direction = 1), 0)
             from check_ins where admitted = 1 and annulled = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let event_admitted: i64 = self.conn.query_row(
            "select count(distinct ticket_id) from check_ins
             where direction = 0 and admitted = 1 and annulled = 0",
            [],
            |r| r.get(0),
        )?;
        Ok(GateCounts {
            gate_entries: gate_entries.max(0) as u64,
            gate_exits: gate_exits.max(0) as u64,
            event_admitted: event_admitted.max(0) as u64,
            tickets: self.ticket_count()?,
            own_gate_entries: own_gate_entries.max(0) as u64,
            inside: (entries - exits).max(0) as u64,
        })
    }
}
