//! Sealed rows: AES-256-GCM with associated data, the kiosk's data key, and the subkeys derived
//! from it.
//!
//! The kiosk holds one random [`DataKey`] (wrapped under the PIN, see [`super::pin`]). It is never
//! used directly: [`DataKey::sealing_key`], [`DataKey::blind_index_key`] and
//! [`DataKey::row_tag_key`] derive one subkey per purpose with HMAC-SHA256 over a fixed label, so
//! the keys that encrypt rows, index ticket codes and tag plain rows are independent.
//!
//! Sealed format: `version (1 byte, = 1) | nonce (12 random bytes) | ciphertext | tag (16 bytes)`,
//! so a seal is 29 bytes longer than its plaintext. The caller passes the row's identity (table and
//! primary key) as associated data: a sealed value copied into another row no longer opens.
//! Random 96-bit nonces stay safe for about 2^32 seals under one key, far beyond what a kiosk writes.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::blind::BlindIndexKey;
use super::mac::RowTagKey;

/// The version byte of the sealed format.
const SEAL_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Bytes a seal adds to its plaintext.
pub const SEAL_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

/// Why a sealed value, a wrapped key or its parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Too short or otherwise not in the expected layout.
    #[error("malformed sealed data: {0}")]
    Malformed(&'static str),
    /// A format version this build does not know.
    #[error("unsupported sealed-data version {0}")]
    UnsupportedVersion(u8),
    /// The tag did not verify: wrong key, wrong associated data (a swapped row), or altered bytes.
    #[error("sealed data does not open: wrong key, wrong row, or altered data")]
    Unauthentic,
    /// The PIN does not unwrap the data key (or the wrapped key was altered).
    #[error("wrong PIN")]
    WrongPin,
    /// Key-derivation parameters outside the accepted range.
    #[error("refused key-derivation parameters: {0}")]
    BadKdfParams(String),
}

/// The kiosk's root data key: 32 random bytes, wiped on drop, never printed.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; 32]);

impl DataKey {
    /// A fresh key from the caller's randomness.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut key = Self([0; 32]);
        rng.fill_bytes(&mut key.0);
        key
    }

    /// A key from its raw bytes (e.g. as kept by the OS keyring).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes, for handing to the OS keyring or wrapping. Wiped when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0)
    }

    /// The subkey that seals rows.
    pub fn sealing_key(&self) -> SealingKey {
        SealingKey(self.derive(b"gatepass/v1/row-sealing"))
    }

    /// The subkey of the ticket-code blind index.
    pub fn blind_index_key(&self) -> BlindIndexKey {
        BlindIndexKey::from_raw(self.derive(b"gatepass/v1/blind-index"))
    }

    /// The subkey of row tags (plain rows that must not be edited, see [`super::mac`]).
    pub fn row_tag_key(&self) -> RowTagKey {
        RowTagKey::from_raw(self.derive(b"gatepass/v1/row-tag"))
    }

    /// HMAC-SHA256(data key, label): one independent 32-byte subkey per purpose.
    fn derive(&self, label: &[u8]) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(hmac_sha256(&self.0, label))
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// HMAC-SHA256 of `message` under `key`.
pub(crate) fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// An AES-256-GCM key for [`seal`] and [`open`]. Wiped on drop, never printed.
pub struct SealingKey(Zeroizing<[u8; 32]>);

impl SealingKey {
    /// A sealing key from raw key material (the PIN-derived key-encryption key).
    pub(crate) fn from_raw(bytes: Zeroizing<[u8; 32]>) -> Self {
        Self(bytes)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.as_ref().into())
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(..)")
    }
}

/// Encrypts `plaintext` bound to `aad` (the row's identity) with a fresh random nonce.
pub fn seal(
    key: &SealingKey,
    rng: &mut (impl RngCore + CryptoRng),
    plaintext: &[u8],
    aad: &[u8],
) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let ciphertext = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encrypts any message shorter than 64 GiB");
    let mut out = Vec::with_capacity(SEAL_OVERHEAD + plaintext.len());
    out.push(SEAL_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    out
}

/// Decrypts a value made by [`seal`] with the same key and `aad`. The plaintext is wiped on drop.
pub fn open(
    key: &SealingKey,
    sealed: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (&version, rest) = sealed
        .split_first()
        .ok_or(CryptoError::Malformed("empty"))?;
    if version != SEAL_VERSION {
        return Err(CryptoError::UnsupportedVersion(version));
    }
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Malformed("shorter than nonce and tag"));
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    key.cipher()
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Unauthentic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn key(seed: u64) -> SealingKey {
        DataKey::generate(&mut ChaCha20Rng::seed_from_u64(seed)).sealing_key()
    }

    #[test]
    fn round_trip_and_layout() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let key = key(1);
        let sealed = seal(&key, &mut rng, b"Ada Lovelace", b"attendee/1");
        assert_eq!(sealed.len(), SEAL_OVERHEAD + 12);
        assert_eq!(sealed[0], SEAL_VERSION);
        assert_eq!(
            open(&key, &sealed, b"attendee/1").unwrap().as_slice(),
            b"Ada Lovelace"
        );
        // Fresh nonce each time.
        assert_ne!(seal(&key, &mut rng, b"Ada Lovelace", b"attendee/1"), sealed);
        // Empty plaintext is fine too.
        let empty = seal(&key, &mut rng, b"", b"");
        assert!(open(&key, &empty, b"").unwrap().is_empty());
    }

    #[test]
    fn swapped_row_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let key = key(2);
        let sealed = seal(&key, &mut rng, b"secret", b"ticket/1");
        assert_eq!(
            open(&key, &sealed, b"ticket/2"),
            Err(CryptoError::Unauthentic)
        );
    }

    #[test]
    fn wrong_key_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let sealed = seal(&key(3), &mut rng, b"secret", b"row");
        assert_eq!(
            open(&key(4), &sealed, b"row"),
            Err(CryptoError::Unauthentic)
        );
    }

    #[test]
    fn every_altered_or_truncated_byte_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let key = key(5);
        let sealed = seal(&key, &mut rng, b"secret", b"row");
        for i in 0..sealed.len() {
            let mut altered = sealed.clone();
            altered[i] ^= 0x01;
            assert!(open(&key, &altered, b"row").is_err(), "byte {i}");
        }
        for len in 0..sealed.len() {
            assert!(open(&key, &sealed[..len], b"row").is_err(), "len {len}");
        }
        assert_eq!(
            open(&key, &[2, 0, 0], b"row"),
            Err(CryptoError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn subkeys_differ_by_purpose_and_debug_hides_bytes() {
        let data = DataKey::from_bytes([7; 32]);
        assert_ne!(*data.sealing_key().0, *data.blind_index_key().as_raw());
        assert_ne!(*data.sealing_key().0, [7; 32]);
        assert_eq!(format!("{data:?}"), "DataKey(..)");
        assert_eq!(format!("{:?}", data.sealing_key()), "SealingKey(..)");
        assert_eq!(*data.to_bytes(), [7; 32]);
    }
}
