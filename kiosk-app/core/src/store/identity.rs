//! Who this kiosk is: its device id, event, pinned server key and certificate, its device token
//! and badge-signing key, all sealed. The identity holds nothing secret, but it says which server
//! key packages must be signed with: sealed, it cannot be edited in the file without the PIN (a
//! plain identity from before store format 1 is sealed at unlock, then refused).

use rand::rngs::OsRng;
use rusqlite::params;
use serde::{Deserialize, Serialize};
use sync_protocol::certificate::{BadgeCertificate, DeviceCertificate};
use sync_protocol::crypto::{PublicKey, SecretKey, Signed, seal};
use sync_protocol::ids::{DeviceId, EventId, GateId};

use super::{KioskStore, StoreError, row_aad};

pub(super) const META_IDENTITY: &str = "identity";
const META_DEVICE_TOKEN: &str = "device_token";
const META_DEVICE_KEY: &str = "device_key";
/// Kept in meta by itself so SQL can tell this kiosk's own check-ins apart.
const META_DEVICE_ID: &str = "device_id";

/// The enrolled identity of this kiosk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub device_id: DeviceId,
    pub event_id: EventId,
    pub server_url: String,
    /// Pinned at enrolment: packages and certificates must be signed by it.
    pub server_key: PublicKey,
    pub gate_id: Option<GateId>,
    pub certificate: Signed<DeviceCertificate>,
    /// The compact certificate the kiosk's walk-in badges carry (absent when the kiosk enrolled
    /// with a server that did not issue one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge_certificate: Option<BadgeCertificate>,
}

impl KioskStore {
    /// Records the identity from an enrolment, with its secrets sealed.
    pub fn save_identity(
        &mut self,
        identity: &Identity,
        device_token: &str,
        device_key: &SecretKey,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let upsert = "insert into meta (key, value) values (?1, ?2)
                      on conflict (key) do update set value = excluded.value";
        let plain = serde_json::to_vec(identity).expect("identities serialize");
        let sealed = seal(
            &self.sealing,
            &mut OsRng,
            &plain,
            &row_aad("meta", META_IDENTITY.as_bytes()),
        );
        tx.execute(upsert, params![META_IDENTITY, sealed])?;
        tx.execute(
            upsert,
            params![META_DEVICE_ID, identity.device_id.to_bytes().to_vec()],
        )?;
        let token = seal(
            &self.sealing,
            &mut OsRng,
            device_token.as_bytes(),
            &row_aad("meta", META_DEVICE_TOKEN.as_bytes()),
        );
        tx.execute(upsert, params![META_DEVICE_TOKEN, token])?;
        let key = seal(
            &self.sealing,
            &mut OsRng,
            &device_key.to_seed()[..],
            &row_aad("meta", META_DEVICE_KEY.as_bytes()),
        );
        tx.execute(upsert, params![META_DEVICE_KEY, key])?;
        tx.commit()?;
        Ok(())
    }

    /// The enrolled identity, if enrolled. One that does not open (edited in the file, or left
    /// plain) is a damaged row: the kiosk trusts no server key it did not pin itself.
    pub fn identity(&self) -> Result<Option<Identity>, StoreError> {
        self.meta(META_IDENTITY)?
            .map(|sealed| {
                let plain = self.open_row("meta", META_IDENTITY.as_bytes(), &sealed)?;
                serde_json::from_slice(&plain)
                    .map_err(|e| StoreError::Malformed(format!("identity: {e}")))
            })
            .transpose()
    }

    /// Seals an identity a kiosk before store format 1 kept in plain (at unlock, once).
    pub(super) fn seal_plain_identity(&mut self) -> Result<(), StoreError> {
        let Some(bytes) = self.meta(META_IDENTITY)? else {
            return Ok(());
        };
        if serde_json::from_slice::<Identity>(&bytes).is_err() {
            // Sealed already (an upgrade cut short after this step).
            return Ok(());
        }
        let sealed = seal(
            &self.sealing,
            &mut OsRng,
            &bytes,
            &row_aad("meta", META_IDENTITY.as_bytes()),
        );
        self.conn.execute(
            "update meta set value = ?2 where key = ?1",
            params![META_IDENTITY, sealed],
        )?;
        Ok(())
    }

    /// The device's bearer token, opened.
    pub fn device_token(&self) -> Result<Option<String>, StoreError> {
        self.meta(META_DEVICE_TOKEN)?
            .map(|sealed| {
                let plain = self.open_row("meta", META_DEVICE_TOKEN.as_bytes(), &sealed)?;
                String::from_utf8(plain.to_vec())
                    .map_err(|_| StoreError::Malformed("device token".into()))
            })
            .transpose()
    }

    /// The device's badge-signing key, opened.
    pub fn device_key(&self) -> Result<Option<SecretKey>, StoreError> {
        self.meta(META_DEVICE_KEY)?
            .map(|sealed| {
                let plain = self.open_row("meta", META_DEVICE_KEY.as_bytes(), &sealed)?;
                let seed: [u8; 32] = plain[..]
                    .try_into()
                    .map_err(|_| StoreError::Malformed("device key".into()))?;
                Ok(SecretKey::from_seed(&seed))
            })
            .transpose()
    }
}

/// An identity for tests: a fresh device and event, certified by `server`.
#[cfg(test)]
pub(crate) fn test_identity(server: &SecretKey, device_key: &SecretKey) -> Identity {
    let now = sync_protocol::UnixMillis(1_800_000_000_000);
    let device_id = DeviceId::new(now, &mut OsRng);
    let event_id = EventId::new(now, &mut OsRng);
    Identity {
        device_id,
        event_id,
        server_url: "https://gatepass.example.org".into(),
        server_key: server.public_key(),
        gate_id: None,
        certificate: Signed::sign(
            &DeviceCertificate {
                device_id,
                event_id,
                public_key: device_key.public_key(),
                label: "north-1".into(),
                gate_id: None,
                issued_at: now,
            },
            server,
        ),
        badge_certificate: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::STORE_FORMAT;
    use sync_protocol::crypto::KdfParams;

    const PIN: &str = "24681012";

    fn raw_identity(store: &KioskStore) -> Vec<u8> {
        store.meta(META_IDENTITY).unwrap().unwrap()
    }

    /// The identity is sealed; one written in the file without the PIN (to make the kiosk trust
    /// another server key) is refused, and the rest of the store still works; a plain identity
    /// of a store from before format 1 is sealed at unlock, after which plain is refused.
    #[test]
    fn the_identity_is_sealed_and_an_edited_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("gp-identity-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kiosk.db");
        let server = SecretKey::generate(&mut OsRng);
        let device_key = SecretKey::generate(&mut OsRng);
        let mine = test_identity(&server, &device_key);
        let mut store = KioskStore::create(&path, PIN, KdfParams::FOR_TESTS).unwrap();
        assert_eq!(store.format().unwrap(), STORE_FORMAT);
        store
            .save_identity(&mine, "device-token", &device_key)
            .unwrap();
        assert_eq!(store.identity().unwrap(), Some(mine.clone()));
        let raw = raw_identity(&store);
        assert!(serde_json::from_slice::<serde_json::Value>(&raw).is_err());
        assert!(!String::from_utf8_lossy(&raw).contains("gatepass.example.org"));

        // Someone with the file but not the PIN writes an identity pinning their own key.
        let thief = SecretKey::generate(&mut OsRng);
        let forged = test_identity(&thief, &device_key);
        store
            .conn
            .execute(
                "update meta set value = ?2 where key = ?1",
                params![META_IDENTITY, serde_json::to_vec(&forged).unwrap()],
            )
            .unwrap();
        assert!(matches!(
            store.identity(),
            Err(StoreError::DamagedRow { table: "meta", .. })
        ));
        assert_eq!(
            store.device_token().unwrap().as_deref(),
            Some("device-token")
        );
        drop(store);
        // An unlock does not take it for a store from before format 1 and seal it.
        let store = KioskStore::unlock(&path, PIN).unwrap();
        assert!(matches!(
            store.identity(),
            Err(StoreError::DamagedRow { .. })
        ));
        drop(store);

        // A store a kiosk before format 1 left: the identity in plain, sealed at unlock.
        let _ = std::fs::remove_file(&path);
        let mut store = KioskStore::create(&path, PIN, KdfParams::FOR_TESTS).unwrap();
        store
            .save_identity(&mine, "device-token", &device_key)
            .unwrap();
        store.downgrade_for_tests(PIN, 0);
        assert_eq!(store.format().unwrap(), 0);
        assert!(serde_json::from_slice::<Identity>(&raw_identity(&store)).is_ok());
        drop(store);
        let store = KioskStore::unlock(&path, PIN).unwrap();
        assert_eq!(store.format().unwrap(), STORE_FORMAT);
        assert!(serde_json::from_slice::<serde_json::Value>(&raw_identity(&store)).is_err());
        assert_eq!(store.identity().unwrap(), Some(mine));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
