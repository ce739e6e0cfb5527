//! Crypto envelopes: signatures (packages, certificates, ticket codes), sealed rows, PIN-wrapped
//! data keys, blind indexes and row tags.
//!
//! Everything takes its randomness from the caller (a `CryptoRng`), so tests are deterministic.

mod blind;
mod mac;
mod pin;
mod seal;
mod sign;

pub use blind::{BLIND_INDEX_LEN, BlindIndexKey, blind_index};
pub use mac::{ROW_TAG_LEN, RowTagKey, RowTagger, row_tag, verify as verify_row_tag};
pub use pin::{KdfParams, WrappedKey, unwrap_data_key, wrap_data_key};
pub use seal::{CryptoError, DataKey, SEAL_OVERHEAD, SealingKey, open, seal};
pub use sign::{KeyId, PublicKey, SecretKey, SignatureError, Signed};
