//! Ed25519 keys and signed JSON envelopes.
//!
//! A [`Signed<T>`] carries the exact bytes that were signed (base64url of the JSON of `T`) beside
//! the signature, so a verifier checks the bytes first and parses them only once they are known to
//! be genuine: no canonical-JSON pitfalls, and nothing unsigned is ever parsed into a trusted type.

use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signer as _, Verifier as _};
use rand_core::{CryptoRng, RngCore};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Why a signature or a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("malformed key: {0}")]
    MalformedKey(&'static str),
    #[error("malformed signed envelope: {0}")]
    Malformed(&'static str),
    #[error("signed by key {found}, expected key {expected}")]
    WrongKey { expected: KeyId, found: KeyId },
    #[error("signature does not verify: the data was altered or signed by another key")]
    BadSignature,
    #[error("signed data is not a valid {what}: {detail}")]
    BadPayload { what: &'static str, detail: String },
}

/// Short fingerprint of a public key: the first 8 bytes of its SHA-256, shown as hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; 8]);

impl KeyId {
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut out = [0u8; 8];
        if s.len() != 16 || !s.is_ascii() {
            return Err(serde::de::Error::custom("key id must be 16 hex digits"));
        }
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)
                .map_err(|_| serde::de::Error::custom("key id must be 16 hex digits"))?;
        }
        Ok(KeyId(out))
    }
}

/// An Ed25519 public key (server package key, or a kiosk's badge-signing key).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// Parses the 32 raw bytes of a public key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SignatureError> {
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| SignatureError::MalformedKey("a public key is 32 bytes"))?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|_| SignatureError::MalformedKey("not a point on the curve"))
    }

    /// The 32 raw bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// This key's fingerprint.
    pub fn key_id(&self) -> KeyId {
        let digest = Sha256::digest(self.0.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }

    /// Verifies a detached signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        let signature = ed25519_dalek::Signature::from_slice(signature)
            .map_err(|_| SignatureError::BadSignature)?;
        self.0
            .verify(message, &signature)
            .map_err(|_| SignatureError::BadSignature)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", B64.encode(self.0.as_bytes()))
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(self.0.as_bytes()))
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let bytes = B64
            .decode(s.as_bytes())
            .map_err(|_| serde::de::Error::custom("public key must be base64url"))?;
        PublicKey::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 secret key. Its bytes are wiped on drop and never printed.
#[derive(Clone)]
pub struct SecretKey(ed25519_dalek::SigningKey);

impl SecretKey {
    /// A fresh key from the caller's randomness.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        Self(ed25519_dalek::SigningKey::generate(rng))
    }

    /// A key from its 32-byte seed (as stored on disk).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed, for storing the key (sealed).
    pub fn to_seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.to_bytes())
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// A detached 64-byte signature over `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}, ..)", self.public_key().key_id())
    }
}

/// A value of type `T` signed as JSON by one key.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Signed<T> {
    /// Fingerprint of the signing key.
    pub key_id: KeyId,
    /// base64url of the signed JSON bytes.
    pub payload: String,
    /// base64url of the 64-byte Ed25519 signature over the JSON bytes.
    pub signature: String,
    #[serde(skip)]
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Signed<T> {
    fn clone(&self) -> Self {
        Self {
            key_id: self.key_id,
            payload: self.payload.clone(),
            signature: self.signature.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> PartialEq for Signed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.key_id == other.key_id
            && self.payload == other.payload
            && self.signature == other.signature
    }
}

impl<T> Eq for Signed<T> {}

impl<T> fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed")
            .field("key_id", &self.key_id)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> Signed<T> {
    /// Signs `value` with `key`.
    pub fn sign(value: &T, key: &SecretKey) -> Self {
        let bytes = serde_json::to_vec(value).expect("protocol types always serialize");
        let signature = key.sign(&bytes);
        Self {
            key_id: key.public_key().key_id(),
            payload: B64.encode(&bytes),
            signature: B64.encode(signature),
            _type: PhantomData,
        }
    }

    /// Verifies the signature with `key`, then parses the payload.
    pub fn open(&self, key: &PublicKey) -> Result<T, SignatureError> {
        if self.key_id != key.key_id() {
            return Err(SignatureError::WrongKey {
                expected: key.key_id(),
                found: self.key_id,
            });
        }
        let bytes = B64
            .decode(self.payload.as_bytes())
            .map_err(|_| SignatureError::Malformed("payload is not base64url"))?;
        let signature = B64
            .decode(self.signature.as_bytes())
            .map_err(|_| SignatureError::Malformed("signature is not base64url"))?;
        key.verify(&bytes, &signature)?;
        serde_json::from_slice(&bytes).map_err(|e| SignatureError::BadPayload {
            what: std::any::type_name::<T>(),
            detail: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Note {
        text: String,
    }

    #[test]
    fn signed_round_trip_and_tamper() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let key = SecretKey::generate(&mut rng);
        let other = SecretKey::generate(&mut rng);
        let note = Note {
            text: "gate A opens at 9".into(),
        };
        let signed = Signed::sign(&note, &key);
        assert_eq!(signed.open(&key.public_key()).unwrap(), note);

        let json = serde_json::to_string(&signed).unwrap();
        let back: Signed<Note> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.open(&key.public_key()).unwrap(), note);

        assert!(matches!(
            signed.open(&other.public_key()),
            Err(SignatureError::WrongKey { .. })
        ));

        let mut tampered = signed.clone();
        let forged = serde_json::to_vec(&Note {
            text: "gate A opens at 8".into(),
        })
        .unwrap();
        tampered.payload = B64.encode(forged);
        assert_eq!(
            tampered.open(&key.public_key()),
            Err(SignatureError::BadSignature)
        );

        let mut garbled = signed;
        garbled.signature = "!!".into();
        assert!(matches!(
            garbled.open(&key.public_key()),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn key_serde_round_trip() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let public = SecretKey::generate(&mut rng).public_key();
        let json = serde_json::to_string(&public).unwrap();
        assert_eq!(serde_json::from_str::<PublicKey>(&json).unwrap(), public);
        let id = serde_json::to_string(&public.key_id()).unwrap();
        assert_eq!(serde_json::from_str::<KeyId>(&id).unwrap(), public.key_id());
        assert!(serde_json::from_str::<PublicKey>("\"AAAA\"").is_err());
    }
}
