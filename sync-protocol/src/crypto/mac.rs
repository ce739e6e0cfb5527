//! Row tags: HMAC-SHA256 over rows the kiosk keeps in plain text but must not be edited.
//!
//! Some rows stay readable on purpose (a gate's rules, the list of revoked kiosks, which tickets
//! went through which gate) yet a verdict depends on them. [`row_tag`] binds such a row, or a
//! whole set of rows, to the kiosk's data key: someone with the file but not the PIN can read it
//! but cannot change, add or remove a row without its tag failing to [`verify`]. The key is a
//! subkey of the data key ([`super::DataKey::row_tag_key`]), independent of the sealing and
//! blind-index keys.
//!
//! A tag is taken over a list of parts, each length-prefixed, so `["ab", "c"]` and `["a", "bc"]`
//! never share a tag.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Length of a row tag in bytes.
pub const ROW_TAG_LEN: usize = 32;

/// The HMAC key of row tags. Wiped on drop, never printed.
pub struct RowTagKey(Zeroizing<[u8; 32]>);

impl RowTagKey {
    pub(crate) fn from_raw(bytes: Zeroizing<[u8; 32]>) -> Self {
        Self(bytes)
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_ref())
            .expect("HMAC takes keys of any length")
    }
}

impl fmt::Debug for RowTagKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RowTagKey(..)")
    }
}

/// A running tag over many parts (a whole table, row by row).
pub struct RowTagger(Hmac<Sha256>);

impl RowTagger {
    /// A tag of the parts given to [`RowTagger::part`] in order, starting with `label` (the
    /// table, so a tag of one table never verifies for another).
    pub fn new(key: &RowTagKey, label: &str) -> Self {
        let mut tagger = Self(key.mac());
        tagger.part(label.as_bytes());
        tagger
    }

    /// Adds one part (length-prefixed).
    pub fn part(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update(&(bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
        self
    }

    /// The tag.
    pub fn finish(self) -> [u8; ROW_TAG_LEN] {
        self.0.finalize().into_bytes().into()
    }

    /// Whether `tag` is the tag of the parts given (compared in constant time).
    pub fn verify(self, tag: &[u8]) -> bool {
        self.0.verify_slice(tag).is_ok()
    }
}

/// The tag of `parts` under `label`: [`RowTagger`] in one call.
pub fn row_tag(key: &RowTagKey, label: &str, parts: &[&[u8]]) -> [u8; ROW_TAG_LEN] {
    let mut tagger = RowTagger::new(key, label);
    for part in parts {
        tagger.part(part);
    }
    tagger.finish()
}

/// Whether `tag` is the tag of `parts` under `label`.
pub fn verify(key: &RowTagKey, label: &str, parts: &[&[u8]], tag: &[u8]) -> bool {
    let mut tagger = RowTagger::new(key, label);
    for part in parts {
        tagger.part(part);
    }
    tagger.verify(tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::DataKey;

    #[test]
    fn a_tag_binds_key_label_and_every_part_with_its_bounds() {
        let key = DataKey::from_bytes([1; 32]).row_tag_key();
        let other = DataKey::from_bytes([2; 32]).row_tag_key();
        let tag = row_tag(&key, "gates", &[b"ab", b"c"]);
        assert!(verify(&key, "gates", &[b"ab", b"c"], &tag));
        assert!(
            !verify(&other, "gates", &[b"ab", b"c"], &tag),
            "another key"
        );
        assert!(
            !verify(&key, "forms", &[b"ab", b"c"], &tag),
            "another table"
        );
        assert!(!verify(&key, "gates", &[b"a", b"bc"], &tag), "parts moved");
        assert!(!verify(&key, "gates", &[b"ab"], &tag), "a part removed");
        assert!(
            !verify(&key, "gates", &[b"ab", b"c", b""], &tag),
            "a part added"
        );
        assert!(
            !verify(&key, "gates", &[b"ab", b"c"], &tag[..31]),
            "a cut tag"
        );
        assert_eq!(format!("{key:?}"), "RowTagKey(..)");
        // Independent of the blind index, which is an HMAC under another subkey.
        let index =
            crate::crypto::blind_index(&DataKey::from_bytes([1; 32]).blind_index_key(), "c");
        assert_ne!(&tag[..16], &index[..]);
    }
}
