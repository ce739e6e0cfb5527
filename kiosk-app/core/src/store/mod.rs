//! The kiosk's encrypted store: one SQLite file (WAL, `synchronous=FULL`).
//!
//! A random data key encrypts personal data and ticket codes row by row (AES-256-GCM, with the
//! row's table and id as associated data, so sealed values cannot be swapped between rows); the
//! data key itself is stored only wrapped under an Argon2id key derived from the kiosk PIN.
//! Tickets are found by a keyed blind index (HMAC) of their code, never by plaintext. A copied
//! file without the PIN shows no name, email or code.
//!
//! This module: opening, PIN, keys. `package` applies event packages; `tickets` reads them;
//! `checkins` records scans and the outbox; `counts` counts admissions; `coordinator` keeps the
//! coordinator PIN; `download` keeps a package body while it downloads.

mod checkins;
mod coordinator;
mod counts;
mod download;
mod identity;
mod package;
mod sync;
mod tickets;

use std::path::Path;

use rand::rngs::OsRng;
use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};
use sync_protocol::crypto::{
    BlindIndexKey, CryptoError, DataKey, KdfParams, SealingKey, WrappedKey, open, unwrap_data_key,
    wrap_data_key,
};

pub use checkins::DAMAGED_KIND;

/// The meta key of the pull cursor (where the next pull starts; absent: the package's cursor).
const META_CURSOR: &str = "cursor";
pub use counts::GateCounts;
pub use download::Download;
pub use identity::Identity;
pub use sync::PageApplied;
pub use tickets::TicketRecord;

/// What the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the kiosk store at {0} does not exist yet: set it up first")]
    NotSetUp(String),
    #[error("a kiosk store exists already at {0}")]
    AlreadySetUp(String),
    #[error("wrong PIN")]
    WrongPin,
    #[error("the PIN must be 4 to 64 characters")]
    BadPin,
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("crypto: {0}")]
    Crypto(CryptoError),
    /// A row that does not decrypt or parse: tampered or damaged. Only that row is affected.
    #[error("the {table} row {id} is damaged or was tampered with")]
    DamagedRow { table: &'static str, id: String },
    #[error("stored data is malformed: {0}")]
    Malformed(String),
    #[error("package refused: {0}")]
    Package(#[from] sync_protocol::package::PackageError),
}

/// The schema, as migrations applied in order (never edit an applied one).
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("../../../../migrations/kiosk/0001_store.sql")),
        M::up(include_str!(
            "../../../../migrations/kiosk/0002_package_download.sql"
        )),
    ])
}

const META_WRAPPED_KEY: &str = "wrapped_data_key";

/// An unlocked store.
pub struct KioskStore {
    conn: Connection,
    sealing: SealingKey,
    index: BlindIndexKey,
}

impl std::fmt::Debug for KioskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KioskStore").finish_non_exhaustive()
    }
}

fn check_pin(pin: &str) -> Result<(), StoreError> {
    let len = pin.chars().count();
    if (4..=64).contains(&len) {
        Ok(())
    } else {
        Err(StoreError::BadPin)
    }
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(path)?;
    // WAL for concurrent readers; FULL so a check-in is on disk before the verdict shows.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    migrations().to_latest(&mut conn)?;
    Ok(conn)
}

impl KioskStore {
    /// Creates a new store at `path`, protected by `pin`.
    pub fn create(path: &Path, pin: &str, kdf: KdfParams) -> Result<KioskStore, StoreError> {
        check_pin(pin)?;
        if path.exists() {
            return Err(StoreError::AlreadySetUp(path.display().to_string()));
        }
        let conn = connect(path)?;
        let data_key = DataKey::generate(&mut OsRng);
        let wrapped = wrap_data_key(pin, &data_key, kdf, &mut OsRng).map_err(StoreError::Crypto)?;
        let wrapped = serde_json::to_vec(&wrapped).expect("wrapped keys serialize");
        conn.execute(
            "insert into meta (key, value) values (?1, ?2)",
            params![META_WRAPPED_KEY, wrapped],
        )?;
        Ok(Self::with_key(conn, &data_key))
    }

    /// Opens the store at `path` with `pin`. A wrong PIN changes nothing.
    pub fn unlock(path: &Path, pin: &str) -> Result<KioskStore, StoreError> {
        if !path.exists() {
            return Err(StoreError::NotSetUp(path.display().to_string()));
        }
        let conn = connect(path)?;
        let wrapped = Self::wrapped_key(&conn)?;
        let data_key = unwrap_data_key(pin, &wrapped).map_err(|e| match e {
            CryptoError::WrongPin => StoreError::WrongPin,
            other => StoreError::Crypto(other),
        })?;
        Ok(Self::with_key(conn, &data_key))
    }

    /// Re-wraps the data key under a new PIN (the data itself is not re-encrypted).
    pub fn change_pin(
        &mut self,
        old_pin: &str,
        new_pin: &str,
        kdf: KdfParams,
    ) -> Result<(), StoreError> {
        check_pin(new_pin)?;
        let wrapped = Self::wrapped_key(&self.conn)?;
        let data_key = unwrap_data_key(old_pin, &wrapped).map_err(|e| match e {
            CryptoError::WrongPin => StoreError::WrongPin,
            other => StoreError::Crypto(other),
        })?;
        let rewrapped =
            wrap_data_key(new_pin, &data_key, kdf, &mut OsRng).map_err(StoreError::Crypto)?;
        let rewrapped = serde_json::to_vec(&rewrapped).expect("wrapped keys serialize");
        self.conn.execute(
            "update meta set value = ?2 where key = ?1",
            params![META_WRAPPED_KEY, rewrapped],
        )?;
        Ok(())
    }

    fn wrapped_key(conn: &Connection) -> Result<WrappedKey, StoreError> {
        let bytes: Vec<u8> = conn
            .query_row(
                "select value from meta where key = ?1",
                params![META_WRAPPED_KEY],
                |row| row.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::Malformed("no wrapped data key".into()))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Malformed(format!("wrapped data key: {e}")))
    }

    fn with_key(conn: Connection, data_key: &DataKey) -> KioskStore {
        KioskStore {
            conn,
            sealing: data_key.sealing_key(),
            index: data_key.blind_index_key(),
        }
    }

    /// Opens a sealed value of the row `id` of `table`.
    fn open_row(
        &self,
        table: &'static str,
        id: &[u8],
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, StoreError> {
        open(&self.sealing, sealed, &row_aad(table, id))
            .map_err(|_| StoreError::DamagedRow { table, id: hex(id) })
    }

    /// A stored setting.
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "select value from meta where key = ?1",
                params![key],
                |row| row.get(0),
            )
            .optional()?)
    }
}

/// Sets the meta value `key` to `value` (as text).
pub(super) fn put_meta(
    conn: &rusqlite::Connection,
    key: &str,
    value: impl ToString,
) -> Result<(), StoreError> {
    conn.execute(
        "insert into meta (key, value) values (?1, ?2)
         on conflict (key) do update set value = excluded.value",
        params![key, value.to_string().into_bytes()],
    )?;
    Ok(())
}

/// Associated data binding a sealed value to its row.
fn row_aad(table: &str, id: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(table.len() + 1 + id.len());
    aad.extend_from_slice(table.as_bytes());
    aad.push(0);
    aad.extend_from_slice(id);
    aad
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
