//! Crypto envelopes: signatures (packages, certificates, ticket codes), sealed rows, PIN-wrapped
//! data keys, and blind indexes.
//!
//! Everything takes its randomness from the caller (a `CryptoRng`), so tests are deterministic.

mod blind;
mod pin;
mod seal;
mod sign;

pub use sign::{KeyId, PublicKey, SecretKey, SignatureError, Signed};
