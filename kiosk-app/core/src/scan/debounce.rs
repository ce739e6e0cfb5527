//! Debounce: a payload seen again within the window (3 s by default) is dropped; a different
//! payload passes at once. Pure: the caller passes the time in.
//!
//! Every sighting renews the window, so a badge held in front of the camera is judged once, and
//! again only after it has been out of view for a whole window. Payloads are remembered per
//! payload (not only the last one), so two badges alternating in view are each judged once.

use std::collections::HashMap;

use sync_protocol::UnixMillis;

/// Remembered payloads beyond this are pruned of expired entries (and, at worst, forgotten).
const MAX_REMEMBERED: usize = 1024;

#[derive(Debug, Clone)]
pub struct Debounce {
    window_ms: u64,
    last_seen: HashMap<Vec<u8>, UnixMillis>,
}

impl Default for Debounce {
    fn default() -> Self {
        Self::new(3_000)
    }
}

impl Debounce {
    pub fn new(window_ms: u64) -> Self {
        Self {
            window_ms,
            last_seen: HashMap::new(),
        }
    }

    /// Whether `payload`, seen at `now`, should be judged. Records the sighting either way.
    pub fn admit(&mut self, payload: &[u8], now: UnixMillis) -> bool {
        let fresh = match self.last_seen.get(payload) {
            // A clock that stepped back counts as "within the window": better one dropped
            // sighting than a double scan.
            Some(&seen) => now.0.saturating_sub(seen.0) >= self.window_ms,
            None => true,
        };
        if self.last_seen.len() >= MAX_REMEMBERED {
            let window = self.window_ms;
            self.last_seen
                .retain(|_, seen| now.0.saturating_sub(seen.0) < window);
            if self.last_seen.len() >= MAX_REMEMBERED {
                self.last_seen.clear();
            }
        }
        self.last_seen.insert(payload.to_vec(), now);
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_700_000_000_000;

    #[test]
    fn the_same_payload_within_the_window_is_dropped() {
        let mut d = Debounce::default();
        assert!(d.admit(b"A", UnixMillis(T)));
        assert!(!d.admit(b"A", UnixMillis(T + 2_999)));
    }

    #[test]
    fn a_different_payload_passes_at_once() {
        let mut d = Debounce::default();
        assert!(d.admit(b"A", UnixMillis(T)));
        assert!(d.admit(b"B", UnixMillis(T + 1)));
        assert!(
            !d.admit(b"A", UnixMillis(T + 2)),
            "A is still in its window"
        );
    }

    #[test]
    fn the_same_payload_passes_after_a_quiet_window() {
        let mut d = Debounce::new(3_000);
        assert!(d.admit(b"A", UnixMillis(T)));
        assert!(d.admit(b"A", UnixMillis(T + 3_000)));
    }

    #[test]
    fn a_badge_held_in_view_stays_suppressed() {
        let mut d = Debounce::new(3_000);
        assert!(d.admit(b"A", UnixMillis(T)));
        // Seen every 100 ms for ten seconds: never judged again.
        for i in 1..=100 {
            assert!(!d.admit(b"A", UnixMillis(T + i * 100)));
        }
        assert!(d.admit(b"A", UnixMillis(T + 10_000 + 3_000)));
    }

    #[test]
    fn a_clock_stepping_back_does_not_readmit() {
        let mut d = Debounce::default();
        assert!(d.admit(b"A", UnixMillis(T)));
        assert!(!d.admit(b"A", UnixMillis(T - 60_000)));
    }

    #[test]
    fn memory_stays_bounded() {
        let mut d = Debounce::default();
        for i in 0..5_000u64 {
            assert!(d.admit(&i.to_be_bytes(), UnixMillis(T + i)));
        }
        assert!(d.last_seen.len() <= MAX_REMEMBERED);
    }
}
