//! Who this kiosk is: its device id, event, pinned server key and certificate (plain: nothing
//! secret), and its device token and badge-signing key (sealed).

use rand::rngs::OsRng;
use rusqlite::params;
use serde::{Deserialize, Serialize};
use sync_protocol::certificate::{BadgeCertificate, DeviceCertificate};
use sync_protocol::crypto::{PublicKey, SecretKey, Signed, seal};
use sync_protocol::ids::{DeviceId, EventId, GateId};

use super::{KioskStore, StoreError, row_aad};

const META_IDENTITY: &str = "identity";
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
        tx.execute(upsert, params![META_IDENTITY, plain])?;
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

    /// The enrolled identity, if enrolled.
    pub fn identity(&self) -> Result<Option<Identity>, StoreError> {
        self.meta(META_IDENTITY)?
            .map(|bytes| {
                serde_json::from_slice(&bytes)
                    .map_err(|e| StoreError::Malformed(format!("identity: {e}")))
            })
            .transpose()
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
