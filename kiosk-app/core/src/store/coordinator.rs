//! The coordinator PIN: a second PIN, separate from the kiosk PIN, that guards the coordinator
//! screen and leaving kiosk mode. It is kept as a random key wrapped under an Argon2id key from
//! the PIN (the same scheme as the data key), so checking it costs one key derivation and the
//! file never holds the PIN or a fast hash of it.

use rand::rngs::OsRng;
use rusqlite::params;
use sync_protocol::crypto::{CryptoError, DataKey, KdfParams, unwrap_data_key, wrap_data_key};

use super::attempts::{Attempts, Guarded};
use super::{COORDINATOR_PIN_MIN, KioskStore, StoreError, check_pin};

const META_COORDINATOR_PIN: &str = "coordinator_pin";

impl KioskStore {
    /// Sets (or replaces) the coordinator PIN.
    pub fn set_coordinator_pin(&mut self, pin: &str, kdf: KdfParams) -> Result<(), StoreError> {
        check_pin(pin, COORDINATOR_PIN_MIN)?;
        let check = DataKey::generate(&mut OsRng);
        let wrapped = wrap_data_key(pin, &check, kdf, 0, &mut OsRng).map_err(StoreError::Crypto)?;
        let wrapped = serde_json::to_vec(&wrapped).expect("wrapped keys serialize");
        self.conn.execute(
            "insert into meta (key, value) values (?1, ?2)
             on conflict (key) do update set value = excluded.value",
            params![META_COORDINATOR_PIN, wrapped],
        )?;
        Ok(())
    }

    /// Whether a coordinator PIN was set.
    pub fn has_coordinator_pin(&self) -> Result<bool, StoreError> {
        Ok(self.meta(META_COORDINATOR_PIN)?.is_some())
    }

    /// Checks the coordinator PIN: `Err(WrongPin)` when it does not match or none was set. Wrong
    /// ones are counted like the kiosk PIN's, and after too many the kiosk waits before it checks
    /// another (`TooManyAttempts`; see `attempts`).
    pub fn check_coordinator_pin(&self, pin: &str) -> Result<(), StoreError> {
        self.check_coordinator_pin_at(pin, crate::background::system_clock())
    }

    /// [`KioskStore::check_coordinator_pin`] at the time `now`.
    pub fn check_coordinator_pin_at(
        &self,
        pin: &str,
        now: sync_protocol::UnixMillis,
    ) -> Result<(), StoreError> {
        let guarded = Guarded::CoordinatorPin;
        let attempts = Attempts::read(&self.conn, guarded)?;
        attempts.check(now)?;
        let bytes = self
            .meta(META_COORDINATOR_PIN)?
            .ok_or(StoreError::WrongPin)?;
        let wrapped = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Malformed(format!("coordinator PIN: {e}")))?;
        match unwrap_data_key(pin, &wrapped) {
            Ok(_) => {
                if attempts.failures > 0 {
                    Attempts::clear(&self.conn, guarded)?;
                }
                Ok(())
            }
            Err(CryptoError::WrongPin) => {
                Attempts::record_failure(&self.conn, guarded, now)?;
                Err(StoreError::WrongPin)
            }
            Err(other) => Err(StoreError::Crypto(other)),
        }
    }
}
