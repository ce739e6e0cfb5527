//! The keyboard-wedge (USB HID) scanner: it "types" the code and presses Enter. The
//! [`WedgeAssembler`] turns timestamped keystrokes into lines.
//!
//! - A line ends on CR, LF or CRLF (the LF of a CRLF does not make an empty second line).
//! - Control characters (tab, escape, the GS separator some scanners send...) are stripped.
//! - Too slow to be a scanner: a scanner types a whole code in a burst (a few ms per key, some
//!   Bluetooth models ~30 ms). When `max_key_gap_ms` is set (80 ms by default), a line in which
//!   any two keys, or the last key and Enter, are further apart is a person typing and is dropped
//!   (with a debug log): the kiosk's keyboard focus must not turn stray typing into scans. `None`
//!   accepts any pace.
//! - Lines longer than 4 KiB are cut there (a stuck key must not grow memory).

use sync_protocol::UnixMillis;

const MAX_LINE: usize = 4096;

#[derive(Debug, Clone)]
pub struct WedgeAssembler {
    max_key_gap_ms: Option<u64>,
    line: String,
    last_key: Option<UnixMillis>,
    too_slow: bool,
    after_cr: bool,
}

impl Default for WedgeAssembler {
    fn default() -> Self {
        Self::new(Some(80))
    }
}

impl WedgeAssembler {
    pub fn new(max_key_gap_ms: Option<u64>) -> Self {
        Self {
            max_key_gap_ms,
            line: String::new(),
            last_key: None,
            too_slow: false,
            after_cr: false,
        }
    }

    /// Feeds one key; returns the finished line when `key` ends a non-empty, scanner-paced line.
    pub fn push(&mut self, key: char, at: UnixMillis) -> Option<Vec<u8>> {
        let after_cr = std::mem::take(&mut self.after_cr);
        if key == '\n' && after_cr {
            return None;
        }
        if let (Some(gap), Some(last)) = (self.max_key_gap_ms, self.last_key)
            && at.0.saturating_sub(last.0) > gap
        {
            self.too_slow = true;
        }
        if key == '\r' || key == '\n' {
            self.after_cr = key == '\r';
            return self.finish();
        }
        self.last_key = Some(at);
        if !key.is_control() && self.line.len() + key.len_utf8() <= MAX_LINE {
            self.line.push(key);
        }
        None
    }

    fn finish(&mut self) -> Option<Vec<u8>> {
        let line = std::mem::take(&mut self.line);
        let too_slow = std::mem::take(&mut self.too_slow);
        self.last_key = None;
        if line.is_empty() {
            return None;
        }
        if too_slow {
            tracing::debug!(
                chars = line.chars().count(),
                "typed too slowly for a scanner; dropped"
            );
            return None;
        }
        Some(line.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Types `text` one key every `gap` ms from `start`; returns every line produced.
    fn type_text(w: &mut WedgeAssembler, text: &str, start: u64, gap: u64) -> Vec<String> {
        text.chars()
            .enumerate()
            .filter_map(|(i, c)| w.push(c, UnixMillis(start + i as u64 * gap)))
            .map(|l| String::from_utf8(l).unwrap())
            .collect()
    }

    #[test]
    fn cr_lf_and_crlf_each_end_one_line() {
        let mut w = WedgeAssembler::default();
        assert_eq!(type_text(&mut w, "A1\r", 0, 5), ["A1"]);
        assert_eq!(type_text(&mut w, "B2\n", 1_000, 5), ["B2"]);
        assert_eq!(type_text(&mut w, "C3\r\nD4\r\n", 2_000, 5), ["C3", "D4"]);
    }

    #[test]
    fn empty_lines_yield_nothing() {
        let mut w = WedgeAssembler::default();
        assert!(type_text(&mut w, "\n\r\r\n\n", 0, 5).is_empty());
    }

    #[test]
    fn control_characters_are_stripped() {
        let mut w = WedgeAssembler::default();
        assert_eq!(
            type_text(&mut w, "\u{1d}GP1:\tAB\u{1b}C\r", 0, 5),
            ["GP1:ABC"]
        );
    }

    #[test]
    fn a_slow_typist_is_not_a_scanner() {
        let mut w = WedgeAssembler::default();
        assert!(type_text(&mut w, "GP1:ABC\r", 0, 150).is_empty());
        // The next, scanner-fast line is not tainted by the slow one.
        assert_eq!(type_text(&mut w, "GP1:ABC\r", 10_000, 4), ["GP1:ABC"]);
    }

    #[test]
    fn a_long_pause_between_lines_is_fine() {
        let mut w = WedgeAssembler::default();
        assert_eq!(type_text(&mut w, "A\r", 0, 5), ["A"]);
        assert_eq!(type_text(&mut w, "B\r", 60_000, 5), ["B"]);
    }

    #[test]
    fn any_pace_when_the_check_is_off() {
        let mut w = WedgeAssembler::new(None);
        assert_eq!(type_text(&mut w, "slow\n", 0, 1_000), ["slow"]);
    }

    #[test]
    fn a_stuck_key_does_not_grow_memory() {
        let mut w = WedgeAssembler::new(None);
        for i in 0..10_000 {
            assert_eq!(w.push('x', UnixMillis(i)), None);
        }
        let line = w.push('\r', UnixMillis(10_000)).unwrap();
        assert_eq!(line.len(), MAX_LINE);
    }
}
