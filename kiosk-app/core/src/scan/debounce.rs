//! Debounce: a payload seen again within the window (3 s by default) is dropped; a different
//! payload passes at once. Pure: the caller passes the time in.
//!
//! Every sighting renews the window, so a badge held in front of the camera is judged once, and
//! again only after it has been out of view for a whole window. Payloads are remembered per
//! payload (not only the last one), so two badges alternating in view are each judged once.
//!
//! A payload is remembered by its canonical code ([`TicketCode::as_str`]): the same badge read
//! once with a trailing space or newline, or a signed code in lower case (a scanner with caps
//! lock), is the same code. A payload that is not a code is remembered by its bytes.

use std::collections::HashMap;

use sync_protocol::UnixMillis;
use sync_protocol::ticket_code::TicketCode;

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
        let key = match TicketCode::parse_bytes(payload) {
            Ok(code) => code.as_str().as_bytes().to_vec(),
            Err(_) => payload.to_vec(),
        };
        let fresh = match self.last_seen.get(&key) {
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
        self.last_seen.insert(key, now);
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
    fn the_same_code_in_another_spelling_is_the_same_code() {
        let mut d = Debounce::default();
        assert!(d.admit(b"DEMO-0042", UnixMillis(T)));
        assert!(!d.admit(b"DEMO-0042\r\n", UnixMillis(T + 10)));
        assert!(!d.admit(b"  DEMO-0042 ", UnixMillis(T + 20)));
        assert!(d.admit(b"DEMO-0043", UnixMillis(T + 30)));
        // A signed code read in lower case (a wedge scanner with caps lock on).
        let code = "GP1:$50B90  OITDYNEK/J4081K7F9BB90  OITDF7FCYH325Z146X9B90  OITD*YEH-NITUVELU1B:LD6$HHG2:FLMTAAB2Z.QM:639B1OGP6I/U2J1F996 WMHDC72LJL838R+LLX1LO49DJK*05E05-TRNH84WM+E1EGOE.7CX6L+QBKS";
        assert!(
            TicketCode::parse(code).is_ok(),
            "the documented example parses"
        );
        assert!(d.admit(code.as_bytes(), UnixMillis(T + 40)));
        assert!(!d.admit(code.to_ascii_lowercase().as_bytes(), UnixMillis(T + 50)));
        // Not a code at all: by its bytes.
        assert!(d.admit(b"\xff\xfe", UnixMillis(T + 60)));
        assert!(!d.admit(b"\xff\xfe", UnixMillis(T + 70)));
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
