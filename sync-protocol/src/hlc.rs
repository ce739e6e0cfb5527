//! Hybrid logical clock (Kulkarni et al., 2014).
//!
//! Every change a kiosk or the server makes carries an [`Hlc`] stamp. Stamps are totally ordered,
//! never go backwards on one node even when its wall clock does, and respect happened-before: a
//! node that has received a stamp only issues larger ones afterwards. Ties between nodes are broken
//! by the merge rules (by device id), not here.
//!
//! Bounded drift: a remote stamp more than `max_drift` ahead of our own wall clock is accepted (the
//! change it carries is kept) but flagged, and it does not move our clock. Otherwise one kiosk with
//! its clock a day ahead would drag every later write of every node a day forward and win every
//! last-writer-wins comparison for a day.
//!
//! The wall part is 48 bits of milliseconds and the counter 16 bits, so a stamp packs into a u64
//! (and, below year 6000, into a non-negative i64 for Postgres and SQLite).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::UnixMillis;

/// Largest wall time a stamp can hold (2^48 - 1 ms, about year 10889).
pub const MAX_WALL_MS: u64 = (1 << 48) - 1;

/// A hybrid logical timestamp: wall milliseconds plus a logical counter.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Hlc {
    /// Physical part: the largest wall time this node has seen, in Unix milliseconds.
    pub wall_ms: u64,
    /// Logical part: orders events within one wall millisecond.
    pub counter: u16,
}

impl Hlc {
    /// The smallest stamp.
    pub const ZERO: Hlc = Hlc {
        wall_ms: 0,
        counter: 0,
    };

    /// A stamp from its parts; the wall part is clamped to [`MAX_WALL_MS`].
    pub fn new(wall_ms: u64, counter: u16) -> Self {
        Self {
            wall_ms: wall_ms.min(MAX_WALL_MS),
            counter,
        }
    }

    /// Packs the stamp into a u64 whose order is the stamp's order.
    pub fn to_u64(self) -> u64 {
        (self.wall_ms << 16) | u64::from(self.counter)
    }

    /// Unpacks a stamp made by [`Hlc::to_u64`].
    pub fn from_u64(packed: u64) -> Self {
        Self {
            wall_ms: packed >> 16,
            counter: (packed & 0xffff) as u16,
        }
    }

    /// Packs into an i64 for SQL columns (`None` if the wall part is beyond year 6000).
    pub fn to_i64(self) -> Option<i64> {
        i64::try_from(self.to_u64()).ok()
    }

    /// Unpacks from an SQL column; negative values are refused.
    pub fn from_i64(packed: i64) -> Option<Self> {
        u64::try_from(packed).ok().map(Self::from_u64)
    }

    /// The wall part as a [`UnixMillis`].
    pub fn wall(self) -> UnixMillis {
        UnixMillis(self.wall_ms)
    }

    /// The next stamp after `self` at the same or a later wall time: counter + 1, or the next
    /// millisecond when the counter is full.
    fn successor(self) -> Self {
        match self.counter.checked_add(1) {
            Some(counter) => Self {
                wall_ms: self.wall_ms,
                counter,
            },
            None => Self {
                wall_ms: (self.wall_ms + 1).min(MAX_WALL_MS),
                counter: 0,
            },
        }
    }
}

impl fmt::Debug for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hlc({}.{:04})", self.wall_ms, self.counter)
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:04}", self.wall_ms, self.counter)
    }
}

/// What [`HlcClock::receive`] did with a remote stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The local stamp for the receive event; larger than the remote stamp unless it was flagged.
    pub stamp: Hlc,
    /// Set when the remote stamp was more than the allowed drift ahead of our wall clock: how far
    /// ahead it was. The remote change is still accepted; the clock did not move to it.
    pub ahead_by_ms: Option<u64>,
}

/// One node's clock state. Persist [`HlcClock::last`] and restore it with [`HlcClock::resume`] so
/// stamps stay monotonic across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HlcClock {
    last: Hlc,
    max_drift_ms: u64,
}

/// Default allowed drift of a remote stamp ahead of our wall clock: 5 minutes.
pub const DEFAULT_MAX_DRIFT_MS: u64 = 5 * 60 * 1000;

impl HlcClock {
    /// A clock that has issued nothing yet.
    pub fn new(max_drift_ms: u64) -> Self {
        Self::resume(Hlc::ZERO, max_drift_ms)
    }

    /// A clock resumed from the last stamp it issued or received before a restart.
    pub fn resume(last: Hlc, max_drift_ms: u64) -> Self {
        Self { last, max_drift_ms }
    }

    /// The last stamp issued or merged.
    pub fn last(&self) -> Hlc {
        self.last
    }

    /// The allowed drift in milliseconds.
    pub fn max_drift_ms(&self) -> u64 {
        self.max_drift_ms
    }

    /// How far this clock runs ahead of the wall clock `now` (zero when it does not).
    pub fn ahead_of(&self, now: UnixMillis) -> u64 {
        self.last.wall_ms.saturating_sub(now.0)
    }

    /// A stamp for a local event (a write, or sending a message).
    pub fn tick(&mut self, now: UnixMillis) -> Hlc {
        let now = now.0.min(MAX_WALL_MS);
        self.last = if now > self.last.wall_ms {
            Hlc::new(now, 0)
        } else {
            self.last.successor()
        };
        self.last
    }

    /// Merges a stamp received from another node and returns the stamp of the receive event.
    pub fn receive(&mut self, remote: Hlc, now: UnixMillis) -> Receipt {
        let ahead = remote.wall_ms.saturating_sub(now.0);
        if ahead > self.max_drift_ms {
            return Receipt {
                stamp: self.tick(now),
                ahead_by_ms: Some(ahead),
            };
        }
        let now = now.0.min(MAX_WALL_MS);
        let wall = self.last.wall_ms.max(remote.wall_ms).max(now);
        let local_same = wall == self.last.wall_ms;
        let remote_same = wall == remote.wall_ms;
        self.last = match (local_same, remote_same) {
            (true, true) => Hlc::new(wall, self.last.counter.max(remote.counter)).successor(),
            (true, false) => self.last.successor(),
            (false, true) => remote.successor(),
            (false, false) => Hlc::new(wall, 0),
        };
        Receipt {
            stamp: self.last,
            ahead_by_ms: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn packs_in_order() {
        let a = Hlc::new(1_700_000_000_000, 5);
        let b = Hlc::new(1_700_000_000_000, 6);
        let c = Hlc::new(1_700_000_000_001, 0);
        assert!(a.to_u64() < b.to_u64() && b.to_u64() < c.to_u64());
        assert_eq!(Hlc::from_u64(a.to_u64()), a);
        assert_eq!(Hlc::from_i64(c.to_i64().unwrap()), Some(c));
        assert_eq!(Hlc::from_i64(-1), None);
    }

    #[test]
    fn counter_overflow_moves_to_next_millisecond() {
        let mut clock = HlcClock::resume(Hlc::new(10, u16::MAX), DEFAULT_MAX_DRIFT_MS);
        assert_eq!(clock.tick(UnixMillis(5)), Hlc::new(11, 0));
    }

    #[test]
    fn a_stamp_a_day_ahead_is_flagged_and_does_not_move_the_clock() {
        let day = 24 * 3600 * 1000;
        let now = UnixMillis(1_700_000_000_000);
        let mut clock = HlcClock::new(DEFAULT_MAX_DRIFT_MS);
        let receipt = clock.receive(Hlc::new(now.0 + day, 0), now);
        assert_eq!(receipt.ahead_by_ms, Some(day));
        assert_eq!(receipt.stamp, Hlc::new(now.0, 0));
        assert_eq!(clock.tick(now), Hlc::new(now.0, 1));
    }

    #[test]
    fn a_stamp_within_drift_moves_the_clock() {
        let now = UnixMillis(1_000_000);
        let mut clock = HlcClock::new(DEFAULT_MAX_DRIFT_MS);
        let remote = Hlc::new(now.0 + 1000, 7);
        let receipt = clock.receive(remote, now);
        assert_eq!(receipt.ahead_by_ms, None);
        assert_eq!(receipt.stamp, Hlc::new(now.0 + 1000, 8));
    }

    /// One step of a simulated node: a local event or the receipt of another node's last stamp,
    /// with the wall clock jumping by `jump` (which may be negative: clocks go backwards).
    #[derive(Debug, Clone)]
    enum Step {
        Local { node: usize, jump: i64 },
        Send { from: usize, to: usize, jump: i64 },
    }

    fn step() -> impl Strategy<Value = Step> {
        let jump = -5_000i64..5_000;
        prop_oneof![
            (0usize..3, jump.clone()).prop_map(|(node, jump)| Step::Local { node, jump }),
            (0usize..3, 0usize..3, jump).prop_map(|(from, to, jump)| Step::Send { from, to, jump }),
        ]
    }

    proptest! {
        /// Stamps issued by one node strictly increase, whatever its wall clock does.
        #[test]
        fn monotonic_even_when_the_wall_clock_goes_backwards(
            start in 0u64..1_000_000_000_000,
            jumps in proptest::collection::vec(-100_000i64..100_000, 1..200),
        ) {
            let mut clock = HlcClock::new(DEFAULT_MAX_DRIFT_MS);
            let mut wall = start as i64;
            let mut prev = Hlc::ZERO;
            for jump in jumps {
                wall = (wall + jump).max(0);
                let stamp = clock.tick(UnixMillis(wall as u64));
                prop_assert!(stamp > prev, "{stamp:?} after {prev:?}");
                prev = stamp;
            }
        }

        /// If a happened before b (same node, or a was received before b was issued), stamp(a) <
        /// stamp(b), as long as the sender's clock was within the allowed drift.
        #[test]
        fn respects_happened_before(steps in proptest::collection::vec(step(), 1..300)) {
            let base = 1_700_000_000_000i64;
            let mut walls = [base; 3];
            let mut clocks = [HlcClock::new(DEFAULT_MAX_DRIFT_MS); 3];
            let mut last_issued = [Hlc::ZERO; 3];
            for step in steps {
                match step {
                    Step::Local { node, jump } => {
                        walls[node] = (walls[node] + jump).max(base - 60_000);
                        let stamp = clocks[node].tick(UnixMillis(walls[node] as u64));
                        prop_assert!(stamp > last_issued[node]);
                        last_issued[node] = stamp;
                    }
                    Step::Send { from, to, jump } => {
                        walls[from] = (walls[from] + jump).max(base - 60_000);
                        let sent = clocks[from].tick(UnixMillis(walls[from] as u64));
                        last_issued[from] = sent;
                        let receipt = clocks[to].receive(sent, UnixMillis(walls[to] as u64));
                        // Clocks here differ by far less than the allowed drift.
                        prop_assert_eq!(receipt.ahead_by_ms, None);
                        prop_assert!(receipt.stamp > sent);
                        prop_assert!(receipt.stamp > last_issued[to]);
                        last_issued[to] = receipt.stamp;
                    }
                }
            }
        }

        /// The clock stays within the drift bound of the largest wall clock it has seen: a node
        /// whose clock runs far ahead never drags the others beyond `max_drift`.
        #[test]
        fn bounded_drift(
            remote_ahead in 0u64..(10 * 24 * 3600 * 1000),
            now in 1_000_000u64..1_000_000_000_000,
        ) {
            let mut clock = HlcClock::new(DEFAULT_MAX_DRIFT_MS);
            let receipt = clock.receive(Hlc::new(now + remote_ahead, 3), UnixMillis(now));
            prop_assert!(clock.ahead_of(UnixMillis(now)) <= DEFAULT_MAX_DRIFT_MS);
            prop_assert_eq!(receipt.ahead_by_ms.is_some(), remote_ahead > DEFAULT_MAX_DRIFT_MS);
        }

        #[test]
        fn packing_round_trips(wall in 0u64..=MAX_WALL_MS, counter in any::<u16>()) {
            let stamp = Hlc::new(wall, counter);
            prop_assert_eq!(Hlc::from_u64(stamp.to_u64()), stamp);
        }
    }
}
