//! Counts for the gate screen: admissions at this gate and across the event, as this kiosk
//! knows them: its own check-ins as they happen, other kiosks' as of the last sync. The screen
//! labels which is which (this kiosk's own, all kiosks as of the last sync), so a volunteer
//! never takes one for the other. The definitions match the server's report (`admin export
//! stats`): an entry counts each admission (re-entries too), an exit each exit scanned, and an
//! annulled check-in never counts.
//!
//! **Today** is the venue's calendar day, midnight to midnight in the event's time zone (the
//! server's report groups its `days` the same way). A check-in's time is sealed in the file, so
//! the counts of the day come from an index held in memory ([`DayIndex`]): the first count of a
//! day (after an unlock, or once midnight has passed at the venue) opens every check-in's time
//! and keeps the rows of the day; after that, SQLite's update hook notes each check-in row
//! written (a scan, an annulment, a pulled page, a package) and the next count reads those rows
//! alone. A write rolled back is read again as it stands, so the index never counts what the
//! file does not hold.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{NaiveDate, NaiveTime, Offset, TimeZone};
use rusqlite::params;
use sync_protocol::UnixMillis;
use sync_protocol::hlc::Hlc;
use sync_protocol::ids::{DeviceId, GateId, TicketId};
use sync_protocol::model::Direction;

use super::timeline::{self, CheckInRow};
use super::{KioskStore, StoreError};

/// Admission counts, for the gate screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GateCounts {
    /// Entries admitted at this gate (each admission counts, re-entries too), on every day.
    pub gate_entries: u64,
    /// Exits scanned at this gate, on every day.
    pub gate_exits: u64,
    /// Distinct tickets admitted at least once, at any gate, on any day.
    pub event_admitted: u64,
    /// Tickets this kiosk holds.
    pub tickets: u64,
    /// Of `gate_entries`, those this kiosk admitted.
    pub own_gate_entries: u64,
    /// Inside now, the whole event: entries minus exits at every gate (never below zero).
    pub inside: u64,
    /// Entries admitted at this gate today (the venue's day, in the event's time zone).
    pub gate_entries_today: u64,
    /// Of `gate_entries_today`, those this kiosk admitted.
    pub own_gate_entries_today: u64,
    /// Exits scanned at this gate today.
    pub gate_exits_today: u64,
    /// Distinct tickets admitted today, at any gate.
    pub event_admitted_today: u64,
}

/// Rows written to `check_ins` since the day index last looked, noted by SQLite's update hook.
/// Shared with the hook, which must be `Send + 'static`.
pub(super) type WrittenRows = Arc<Mutex<Written>>;

/// More rows than this written at once (a package, a big pulled page): the index is built again
/// rather than read row by row.
const REBUILD_AFTER: usize = 4096;

#[derive(Debug, Default)]
pub(super) struct Written {
    rows: HashSet<i64>,
    /// Too many to list: read every row again.
    all: bool,
}

impl Written {
    fn note(&mut self, rowid: i64) {
        if self.all {
            return;
        }
        if self.rows.len() >= REBUILD_AFTER {
            self.rows = HashSet::new();
            self.all = true;
        } else {
            self.rows.insert(rowid);
        }
    }
}

/// Notes every `check_ins` row `conn` writes, for the day index.
pub(super) fn watch_check_ins(conn: &rusqlite::Connection) -> WrittenRows {
    let written = WrittenRows::default();
    let hook = written.clone();
    conn.update_hook(Some(
        move |_: rusqlite::hooks::Action, _: &str, table: &str, rowid: i64| {
            if table == "check_ins" {
                hook.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .note(rowid);
            }
        },
    ));
    written
}

/// One check-in of the day, as counted.
#[derive(Debug, Clone, Copy)]
struct DayRow {
    ticket: TicketId,
    gate: GateId,
    device: DeviceId,
    direction: Direction,
    counts: bool,
}

impl DayRow {
    fn of(row: &CheckInRow) -> DayRow {
        DayRow {
            ticket: row.ticket,
            gate: row.gate,
            device: row.device,
            direction: row.direction,
            counts: row.admitted && !row.annulled,
        }
    }
}

/// The check-ins of one venue day, by rowid; in memory only, dropped at lock.
#[derive(Debug, Default)]
pub(super) struct DayIndex {
    /// The day the rows are of, `[start, end)` in Unix milliseconds; `None` until first built.
    day: Option<(u64, u64)>,
    rows: HashMap<i64, DayRow>,
}

/// The venue day holding `now`, `[start, end)` in Unix milliseconds, in the time zone `zone`
/// (an IANA name; an unknown one counts days in UTC, as the verdicts show times).
pub fn venue_day(zone: &str, now: UnixMillis) -> (u64, u64) {
    let utc = |date: NaiveDate| -> u64 {
        date.and_time(NaiveTime::MIN)
            .and_utc()
            .timestamp_millis()
            .max(0) as u64
    };
    let instant = chrono::DateTime::from_timestamp_millis(now.as_u64() as i64).unwrap_or_default();
    let Ok(zone) = zone.parse::<chrono_tz::Tz>() else {
        let date = instant.date_naive();
        return (utc(date), utc(date.succ_opt().unwrap_or(date)));
    };
    let date = instant.with_timezone(&zone).date_naive();
    // Midnight can be skipped by a clock change (a few zones move at 00:00): the day then starts
    // at the first instant it has, which is midnight less the offset in force before the change.
    let start = |date: NaiveDate| -> u64 {
        let midnight = date.and_time(NaiveTime::MIN);
        match zone.from_local_datetime(&midnight).earliest() {
            Some(t) => t.timestamp_millis().max(0) as u64,
            None => {
                let before = zone
                    .offset_from_utc_datetime(&midnight)
                    .fix()
                    .local_minus_utc();
                (midnight.and_utc().timestamp_millis() - i64::from(before) * 1000).max(0) as u64
            }
        }
    };
    (start(date), start(date.succ_opt().unwrap_or(date)))
}

impl KioskStore {
    /// Admission counts for `gate` and the whole event, on every day and on the venue day of
    /// `now`; annulled check-ins do not count.
    pub fn gate_counts(
        &mut self,
        gate: Option<GateId>,
        now: UnixMillis,
    ) -> Result<GateCounts, StoreError> {
        // The day of the kiosk's clock as corrected by the server's, as check-ins are stamped.
        let now = self.corrected(now)?;
        let me = self.identity()?.map(|i| i.device_id);
        let me_bytes = me.map(|d| d.to_bytes().to_vec()).unwrap_or_default();
        let (gate_entries, gate_exits, own_gate_entries) = match gate {
            Some(gate) => self.conn.query_row(
                "select coalesce(sum(direction = 0), 0), coalesce(sum(direction = 1), 0),
                        coalesce(sum(direction = 0 and device_id = ?2), 0)
                 from check_ins where gate_id = ?1 and admitted = 1 and annulled = 0",
                params![gate.to_bytes().to_vec(), me_bytes],
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
        self.refresh_day_index(now)?;
        let mut today = GateCounts::default();
        let mut admitted_today = HashSet::new();
        for row in self.day_index.rows.values().filter(|r| r.counts) {
            let here = Some(row.gate) == gate;
            match row.direction {
                Direction::Entry => {
                    admitted_today.insert(row.ticket);
                    if here {
                        today.gate_entries_today += 1;
                        if Some(row.device) == me {
                            today.own_gate_entries_today += 1;
                        }
                    }
                }
                Direction::Exit if here => today.gate_exits_today += 1,
                Direction::Exit => {}
            }
        }
        Ok(GateCounts {
            gate_entries: gate_entries.max(0) as u64,
            gate_exits: gate_exits.max(0) as u64,
            event_admitted: event_admitted.max(0) as u64,
            tickets: self.ticket_count()?,
            own_gate_entries: own_gate_entries.max(0) as u64,
            inside: (entries - exits).max(0) as u64,
            event_admitted_today: admitted_today.len() as u64,
            ..today
        })
    }

    /// Brings the day index up to date for the venue day of `now` (see the module doc).
    fn refresh_day_index(&mut self, now: UnixMillis) -> Result<(), StoreError> {
        let zone = self.event()?.map(|e| e.time_zone).unwrap_or_default();
        let day = venue_day(&zone, now);
        let written = std::mem::take(
            &mut *self
                .written_check_ins
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let in_day = |row: &CheckInRow| {
            Hlc::from_i64(row.hlc).is_some_and(|hlc| (day.0..day.1).contains(&hlc.wall().as_u64()))
        };
        let keys = timeline::RowKeys {
            tags: &self.tags,
            sealing: &self.sealing,
        };
        if self.day_index.day != Some(day) || written.all {
            let mut rows = HashMap::new();
            let mut statement = self.conn.prepare(&format!(
                "select {}, rowid from check_ins",
                timeline::ROW_COLUMNS
            ))?;
            let mut found = statement.query([])?;
            while let Some(r) = found.next()? {
                // A damaged row is refused when its ticket is scanned; it counts for nothing.
                if let Ok(row) = timeline::read_row(r, keys)
                    && in_day(&row)
                {
                    rows.insert(r.get::<_, i64>(10)?, DayRow::of(&row));
                }
            }
            self.day_index = DayIndex {
                day: Some(day),
                rows,
            };
            return Ok(());
        }
        let mut statement = self.conn.prepare_cached(&format!(
            "select {}, rowid from check_ins where rowid = ?1",
            timeline::ROW_COLUMNS
        ))?;
        for rowid in written.rows {
            let mut found = statement.query(params![rowid])?;
            let row = match found.next()? {
                Some(r) => timeline::read_row(r, keys).ok(),
                None => None,
            };
            match row.filter(in_day) {
                Some(row) => self.day_index.rows.insert(rowid, DayRow::of(&row)),
                None => self.day_index.rows.remove(&rowid),
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> UnixMillis {
        UnixMillis(
            chrono::DateTime::parse_from_rfc3339(rfc3339)
                .unwrap()
                .timestamp_millis() as u64,
        )
    }

    #[test]
    fn a_venue_day_runs_from_midnight_to_midnight_in_the_event_time_zone() {
        // 23:30 in Berlin (UTC+1 in December) is still the 4th there, the 5th is an hour later.
        let (start, end) = venue_day("Europe/Berlin", at("2026-12-04T22:30:00Z"));
        assert_eq!(start, at("2026-12-03T23:00:00Z").as_u64());
        assert_eq!(end, at("2026-12-04T23:00:00Z").as_u64());
        let (start, _) = venue_day("Europe/Berlin", at("2026-12-04T23:30:00Z"));
        assert_eq!(start, at("2026-12-04T23:00:00Z").as_u64());
        // New York is behind UTC: 02:00 UTC on the 5th is still the evening of the 4th.
        let (start, end) = venue_day("America/New_York", at("2026-12-05T02:00:00Z"));
        assert_eq!(start, at("2026-12-04T05:00:00Z").as_u64());
        assert_eq!(end, at("2026-12-05T05:00:00Z").as_u64());
    }

    #[test]
    fn a_day_with_a_clock_change_is_as_long_as_the_clocks_make_it() {
        // Berlin moved to summer time on 2026-03-29: that day has 23 hours, the autumn one 25.
        let (start, end) = venue_day("Europe/Berlin", at("2026-03-29T12:00:00Z"));
        assert_eq!(end - start, 23 * 3_600_000);
        let (start, end) = venue_day("Europe/Berlin", at("2026-10-25T12:00:00Z"));
        assert_eq!(end - start, 25 * 3_600_000);
        // Santiago moves its clocks at midnight: a day whose midnight does not exist starts at
        // the first instant it has.
        let (start, end) = venue_day("America/Santiago", at("2026-09-06T15:00:00Z"));
        assert!(start < at("2026-09-06T15:00:00Z").as_u64() && end > start);
        assert_eq!(end - start, 23 * 3_600_000);
    }

    #[test]
    fn an_unknown_time_zone_counts_days_in_utc() {
        let (start, end) = venue_day("Mars/Olympus", at("2026-12-04T22:30:00Z"));
        assert_eq!(start, at("2026-12-04T00:00:00Z").as_u64());
        assert_eq!(end, at("2026-12-05T00:00:00Z").as_u64());
    }
}
