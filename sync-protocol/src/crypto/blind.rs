//! Keyed blind index of ticket codes.
//!
//! The kiosk stores no ticket code in plaintext: it stores `blind_index(key, code)` beside the
//! sealed row and looks a scanned code up by the same value. Without the key (derived from the
//! PIN-wrapped data key) the index reveals nothing and cannot be brute-forced from a list of
//! likely codes. 16 bytes of HMAC-SHA256 leave collisions out of reach (2^64 codes for even odds).

use std::fmt;

use zeroize::Zeroizing;

use super::seal::hmac_sha256;

/// Length of a blind index in bytes.
pub const BLIND_INDEX_LEN: usize = 16;

/// The HMAC key of the blind index, from [`super::DataKey::blind_index_key`]. Wiped on drop, never
/// printed.
pub struct BlindIndexKey(Zeroizing<[u8; 32]>);

impl BlindIndexKey {
    pub(crate) fn from_raw(bytes: Zeroizing<[u8; 32]>) -> Self {
        Self(bytes)
    }

    #[cfg(test)]
    pub(crate) fn as_raw(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for BlindIndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlindIndexKey(..)")
    }
}

/// HMAC-SHA256 of the code, trimmed of surrounding whitespace, truncated to 16 bytes.
///
/// The trim matches [`crate::ticket_code::TicketCode`]'s normalisation, so a code scanned with a
/// trailing newline finds the row indexed at import. Pass `TicketCode::as_str()` where a parsed
/// code is at hand: it is also the canonical form of a signed code.
pub fn blind_index(key: &BlindIndexKey, text: &str) -> [u8; BLIND_INDEX_LEN] {
    let mac = hmac_sha256(&key.0, text.trim().as_bytes());
    let mut out = [0u8; BLIND_INDEX_LEN];
    out.copy_from_slice(&mac[..BLIND_INDEX_LEN]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::DataKey;

    #[test]
    fn normalises_whitespace_and_depends_on_key_and_code() {
        let key = DataKey::from_bytes([1; 32]).blind_index_key();
        let other = DataKey::from_bytes([2; 32]).blind_index_key();
        let a = blind_index(&key, "ABC-123");
        assert_eq!(blind_index(&key, "  ABC-123\r\n"), a);
        assert_ne!(blind_index(&key, "ABC-124"), a);
        assert_ne!(blind_index(&other, "ABC-123"), a);
        assert_eq!(format!("{key:?}"), "BlindIndexKey(..)");
    }
}
