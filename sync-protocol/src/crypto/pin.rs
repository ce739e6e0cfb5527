//! The data key wrapped under the kiosk PIN.
//!
//! Argon2id stretches the PIN and a random salt into a key-encryption key, which seals the
//! [`DataKey`] (see [`super::seal`]). The parameters and salt travel in the [`WrappedKey`] and are
//! bound to the seal as associated data, and so is the *format* of the store the key opens: a
//! number the holder of the PIN sets, which nobody without it can lower, so a reader can refuse
//! data in an older, weaker layout once the format says it was upgraded. Parameters read back
//! from a file are range-checked
//! before any memory is allocated, so a corrupted or hostile file cannot make the kiosk try to
//! allocate terabytes.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::seal::{CryptoError, DataKey, SealingKey, open, seal};

const SALT_LEN: usize = 16;
/// Upper bounds for parameters read from a file.
const MAX_MEMORY_KIB: u32 = 1024 * 1024;
const MAX_ITERATIONS: u32 = 64;
const MAX_PARALLELISM: u32 = 16;
/// Prefix of the associated data of the sealed key.
const AAD_LABEL: &[u8] = b"gatepass/v1/pin-wrapped-data-key";

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl KdfParams {
    /// 64 MiB, 3 passes, 1 lane: RFC 9106's second recommended setting (64 MiB, 3 passes) with
    /// one lane, because the argon2 crate computes lanes one after the other (more would add
    /// time, not defence). Chosen by measurement (`cargo bench -p sync-protocol --bench pin`,
    /// docs/benchmarks.md): about 120 ms per unlock on the 2-core development machine, eight
    /// times the OWASP minimum (19 MiB, 2 passes: 15 ms), while 128 MiB (270 ms) and 256 MiB
    /// (600 ms) would take a slower kiosk near or past a second and its memory past what the
    /// kiosk may use. An attacker guessing PINs from a stolen disk pays the same per guess;
    /// stores wrapped with lower costs are wrapped again at their next unlock.
    pub const RECOMMENDED: Self = Self {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    /// Minimal costs that keep unit tests fast. Never for real data.
    pub const FOR_TESTS: Self = Self {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    /// Checks the parameters are within sane bounds (at most 1 GiB, 64 passes, 16 lanes).
    pub fn validate(&self) -> Result<(), CryptoError> {
        let Self {
            memory_kib,
            iterations,
            parallelism,
        } = *self;
        if !(1..=MAX_PARALLELISM).contains(&parallelism) {
            return Err(CryptoError::BadKdfParams(format!(
                "parallelism {parallelism} outside 1..={MAX_PARALLELISM}"
            )));
        }
        if !(1..=MAX_ITERATIONS).contains(&iterations) {
            return Err(CryptoError::BadKdfParams(format!(
                "iterations {iterations} outside 1..={MAX_ITERATIONS}"
            )));
        }
        let min_memory = 8 * parallelism;
        if !(min_memory..=MAX_MEMORY_KIB).contains(&memory_kib) {
            return Err(CryptoError::BadKdfParams(format!(
                "memory {memory_kib} KiB outside {min_memory}..={MAX_MEMORY_KIB} KiB"
            )));
        }
        Ok(())
    }

    /// Derives the key-encryption key from `pin` and `salt`.
    fn derive(&self, pin: &str, salt: &[u8]) -> Result<SealingKey, CryptoError> {
        self.validate()?;
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(|e| CryptoError::BadKdfParams(e.to_string()))?;
        let mut kek = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(pin.as_bytes(), salt, kek.as_mut())
            .map_err(|e| CryptoError::BadKdfParams(e.to_string()))?;
        Ok(SealingKey::from_raw(kek))
    }
}

/// A data key sealed under a PIN-derived key, as stored on the kiosk's disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    params: KdfParams,
    #[serde(with = "b64")]
    salt: Vec<u8>,
    #[serde(with = "b64")]
    sealed_key: Vec<u8>,
    /// Format of the store this key opens, bound to the seal (0, and absent, before formats).
    #[serde(default, skip_serializing_if = "is_zero")]
    format: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl WrappedKey {
    /// The Argon2id parameters this key was wrapped with.
    pub fn params(&self) -> KdfParams {
        self.params
    }

    /// The store format this key was wrapped for; authentic once [`unwrap_data_key`] succeeded.
    pub fn format(&self) -> u32 {
        self.format
    }

    /// Associated data of the seal: label, parameters, salt and (from format 1) the format.
    fn aad(params: &KdfParams, salt: &[u8], format: u32) -> Vec<u8> {
        let mut aad = AAD_LABEL.to_vec();
        for n in [params.memory_kib, params.iterations, params.parallelism] {
            aad.extend_from_slice(&n.to_be_bytes());
        }
        aad.extend_from_slice(salt);
        if format > 0 {
            aad.extend_from_slice(b"/format");
            aad.extend_from_slice(&format.to_be_bytes());
        }
        aad
    }
}

/// Wraps `key` under `pin` with a fresh salt, for a store of `format`. Refuses out-of-range
/// `params`.
pub fn wrap_data_key(
    pin: &str,
    key: &DataKey,
    params: KdfParams,
    format: u32,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<WrappedKey, CryptoError> {
    let mut salt = vec![0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    let kek = params.derive(pin, &salt)?;
    let sealed_key = seal(
        &kek,
        rng,
        key.to_bytes().as_ref(),
        &WrappedKey::aad(&params, &salt, format),
    );
    Ok(WrappedKey {
        params,
        salt,
        sealed_key,
        format,
    })
}

/// Unwraps the data key with `pin`: [`CryptoError::WrongPin`] if the PIN does not match,
/// [`CryptoError::BadKdfParams`] or [`CryptoError::Malformed`] if the stored record is unusable.
pub fn unwrap_data_key(pin: &str, wrapped: &WrappedKey) -> Result<DataKey, CryptoError> {
    if wrapped.salt.len() != SALT_LEN {
        return Err(CryptoError::Malformed("salt must be 16 bytes"));
    }
    let kek = wrapped.params.derive(pin, &wrapped.salt)?;
    let aad = WrappedKey::aad(&wrapped.params, &wrapped.salt, wrapped.format);
    let bytes = match open(&kek, &wrapped.sealed_key, &aad) {
        Ok(bytes) => bytes,
        Err(CryptoError::Unauthentic) => return Err(CryptoError::WrongPin),
        Err(other) => return Err(other),
    };
    let bytes: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::Malformed("a data key is 32 bytes"))?;
    Ok(DataKey::from_bytes(bytes))
}

/// Serde of byte strings as base64url without padding.
mod b64 {
    use super::B64;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        B64.decode(s.as_bytes())
            .map_err(|_| serde::de::Error::custom("expected base64url"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn wrapped(rng: &mut ChaCha20Rng) -> (DataKey, WrappedKey) {
        let key = DataKey::generate(rng);
        let wrapped = wrap_data_key("4711", &key, KdfParams::FOR_TESTS, 1, rng).unwrap();
        (key, wrapped)
    }

    #[test]
    fn right_pin_unwraps_after_serde() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (key, wrapped) = wrapped(&mut rng);
        let json = serde_json::to_string(&wrapped).unwrap();
        let back: WrappedKey = serde_json::from_str(&json).unwrap();
        assert_eq!(back, wrapped);
        let unwrapped = unwrap_data_key("4711", &back).unwrap();
        assert_eq!(*unwrapped.to_bytes(), *key.to_bytes());
        assert!(!json.contains(&B64.encode(*key.to_bytes())));
    }

    #[test]
    fn wrong_pin_is_a_clear_error() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let (_, wrapped) = wrapped(&mut rng);
        assert_eq!(
            unwrap_data_key("4712", &wrapped).unwrap_err(),
            CryptoError::WrongPin
        );
        assert_eq!(
            unwrap_data_key("", &wrapped).unwrap_err(),
            CryptoError::WrongPin
        );
    }

    #[test]
    fn altered_record_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let (_, wrapped) = wrapped(&mut rng);

        let mut salted = wrapped.clone();
        salted.salt[0] ^= 1;
        assert_eq!(
            unwrap_data_key("4711", &salted).unwrap_err(),
            CryptoError::WrongPin
        );

        let mut cheaper = wrapped.clone();
        cheaper.params.memory_kib = 32;
        assert_eq!(
            unwrap_data_key("4711", &cheaper).unwrap_err(),
            CryptoError::WrongPin
        );

        // The format cannot be lowered (or raised) without the PIN, nor dropped from the file.
        for format in [0, 2] {
            let mut other = wrapped.clone();
            other.format = format;
            assert_eq!(
                unwrap_data_key("4711", &other).unwrap_err(),
                CryptoError::WrongPin
            );
        }
        let mut json: serde_json::Value = serde_json::to_value(&wrapped).unwrap();
        assert_eq!(json["format"], 1);
        json.as_object_mut().unwrap().remove("format");
        let dropped: WrappedKey = serde_json::from_value(json).unwrap();
        assert_eq!(
            unwrap_data_key("4711", &dropped).unwrap_err(),
            CryptoError::WrongPin
        );

        let mut short_salt = wrapped.clone();
        short_salt.salt.truncate(4);
        assert!(matches!(
            unwrap_data_key("4711", &short_salt),
            Err(CryptoError::Malformed(_))
        ));

        let mut truncated = wrapped;
        truncated.sealed_key.truncate(10);
        assert!(matches!(
            unwrap_data_key("4711", &truncated),
            Err(CryptoError::Malformed(_))
        ));
    }

    #[test]
    fn absurd_params_are_refused_before_allocating() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let (_, wrapped) = wrapped(&mut rng);
        let absurd = [
            (u32::MAX, 1, 1),
            (MAX_MEMORY_KIB + 1, 1, 1),
            (64, 0, 1),
            (64, 1_000_000, 1),
            (64, 1, 0),
            (64, 1, u32::MAX),
            (8, 1, 2),
        ];
        for (memory_kib, iterations, parallelism) in absurd {
            let params = KdfParams {
                memory_kib,
                iterations,
                parallelism,
            };
            let mut hostile = wrapped.clone();
            hostile.params = params;
            assert!(
                matches!(
                    unwrap_data_key("4711", &hostile),
                    Err(CryptoError::BadKdfParams(_))
                ),
                "{params:?}"
            );
            let key = DataKey::generate(&mut rng);
            assert!(wrap_data_key("4711", &key, params, 0, &mut rng).is_err());
        }
        assert!(KdfParams::RECOMMENDED.validate().is_ok());
        assert!(KdfParams::FOR_TESTS.validate().is_ok());
    }

    #[test]
    fn hostile_json_is_refused() {
        let json = r#"{"params":{"memory_kib":4294967295,"iterations":1,"parallelism":1},
                       "salt":"AAAAAAAAAAAAAAAAAAAAAA","sealed_key":"AA"}"#;
        let wrapped: WrappedKey = serde_json::from_str(json).unwrap();
        assert!(matches!(
            unwrap_data_key("0000", &wrapped),
            Err(CryptoError::BadKdfParams(_))
        ));
        assert!(serde_json::from_str::<WrappedKey>(r#"{"params":{}}"#).is_err());
    }
}
