//! Wrong PINs (the kiosk PIN at unlock, the coordinator PIN at the coordinator screen and when
//! leaving kiosk mode): how many in a row, and how long the kiosk then waits before it checks the
//! next one. Kept in the store's `meta` table, one count per PIN, so restarting the kiosk does
//! not reset them.
//!
//! The first [`FREE_ATTEMPTS`] wrong PINs cost nothing (people mistype). Every one after that
//! makes the kiosk refuse any PIN, the right one included, for a delay that doubles each time:
//! 30 s, 1 min, 2 min, ... up to an hour. Ten guesses an hour make a 6-digit PIN (a million
//! candidates) take decades at the kiosk. A right PIN clears the count.
//!
//! This limits guessing at the kiosk itself. Someone who copies the file can reset the count, so
//! the PIN must also resist an offline search: that is the Argon2id cost (docs/security.md).

use rusqlite::{Connection, OptionalExtension, params};
use sync_protocol::UnixMillis;

use super::StoreError;

/// Wrong PINs in a row that cost nothing.
pub const FREE_ATTEMPTS: u32 = 5;
/// The delay after the first wrong PIN beyond the free ones.
const FIRST_DELAY_MS: u64 = 30_000;
/// The longest delay.
const MAX_DELAY_MS: u64 = 3_600_000;

/// Which PIN a count is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    KioskPin,
    CoordinatorPin,
}

impl Guarded {
    /// The meta keys of its count and of the end of its wait.
    fn keys(self) -> (&'static str, &'static str) {
        match self {
            Guarded::KioskPin => ("unlock_failures", "unlock_not_before"),
            Guarded::CoordinatorPin => ("coordinator_failures", "coordinator_not_before"),
        }
    }
}

/// How long the kiosk waits after `failures` wrong PINs in a row (nothing within the free ones).
pub fn delay_after(failures: u32) -> Option<u64> {
    let beyond = failures.checked_sub(FREE_ATTEMPTS + 1)?;
    Some(
        FIRST_DELAY_MS
            .saturating_mul(1u64 << beyond.min(20))
            .min(MAX_DELAY_MS),
    )
}

/// Wrong PINs in a row so far, and when the next PIN may be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attempts {
    pub failures: u32,
    pub not_before: Option<UnixMillis>,
}

impl Attempts {
    /// The stored count (none stored: no failure).
    pub fn read(conn: &Connection, which: Guarded) -> Result<Attempts, StoreError> {
        let (failures, not_before) = which.keys();
        let number = |key: &str| -> Result<Option<u64>, StoreError> {
            let value: Option<Vec<u8>> = conn
                .query_row(
                    "select value from meta where key = ?1",
                    params![key],
                    |row| row.get(0),
                )
                .optional()?;
            value
                .map(|bytes| {
                    std::str::from_utf8(&bytes)
                        .ok()
                        .and_then(|text| text.parse().ok())
                        .ok_or_else(|| StoreError::Malformed(format!("meta {key}")))
                })
                .transpose()
        };
        Ok(Attempts {
            failures: number(failures)?.unwrap_or(0).min(u64::from(u32::MAX)) as u32,
            not_before: number(not_before)?.map(UnixMillis),
        })
    }

    /// Refuses while the kiosk waits: `TooManyAttempts` with the seconds left.
    pub fn check(&self, now: UnixMillis) -> Result<(), StoreError> {
        match self.not_before {
            Some(not_before) if now < not_before => Err(StoreError::TooManyAttempts {
                wait_secs: (not_before.as_u64() - now.as_u64()).div_ceil(1000),
            }),
            _ => Ok(()),
        }
    }

    /// Counts one more wrong PIN at `now`, and stores it.
    pub fn record_failure(
        conn: &Connection,
        which: Guarded,
        now: UnixMillis,
    ) -> Result<Attempts, StoreError> {
        let (failures_key, not_before_key) = which.keys();
        let mut attempts = Attempts::read(conn, which)?;
        attempts.failures = attempts.failures.saturating_add(1);
        attempts.not_before = delay_after(attempts.failures).map(|ms| now.plus_millis(ms));
        super::put_meta(conn, failures_key, attempts.failures)?;
        match attempts.not_before {
            Some(at) => super::put_meta(conn, not_before_key, at.as_u64())?,
            None => {
                conn.execute("delete from meta where key = ?1", params![not_before_key])?;
            }
        }
        Ok(attempts)
    }

    /// A right PIN: the count starts again.
    pub fn clear(conn: &Connection, which: Guarded) -> Result<(), StoreError> {
        let (failures, not_before) = which.keys();
        conn.execute(
            "delete from meta where key in (?1, ?2)",
            params![failures, not_before],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_wrong_pins_are_free_then_each_delay_doubles_up_to_an_hour() {
        for failures in 0..=FREE_ATTEMPTS {
            assert_eq!(delay_after(failures), None, "{failures} wrong PINs");
        }
        assert_eq!(delay_after(FREE_ATTEMPTS + 1), Some(30_000));
        assert_eq!(delay_after(FREE_ATTEMPTS + 2), Some(60_000));
        assert_eq!(delay_after(FREE_ATTEMPTS + 3), Some(120_000));
        assert_eq!(delay_after(FREE_ATTEMPTS + 7), Some(1_920_000));
        assert_eq!(delay_after(FREE_ATTEMPTS + 8), Some(MAX_DELAY_MS));
        assert_eq!(delay_after(u32::MAX), Some(MAX_DELAY_MS));
    }

    #[test]
    fn a_wait_is_reported_in_whole_seconds_and_ends() {
        let attempts = Attempts {
            failures: FREE_ATTEMPTS,
            not_before: Some(UnixMillis(10_500)),
        };
        assert!(matches!(
            attempts.check(UnixMillis(9_000)),
            Err(StoreError::TooManyAttempts { wait_secs: 2 })
        ));
        assert!(attempts.check(UnixMillis(10_500)).is_ok());
        assert!(Attempts::default().check(UnixMillis(0)).is_ok());
    }
}
