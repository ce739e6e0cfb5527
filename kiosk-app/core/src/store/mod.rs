//! The kiosk's encrypted store: one SQLite file (WAL, `synchronous=FULL`).
//!
//! A random data key encrypts personal data and ticket codes row by row (AES-256-GCM, with the
//! row's table and id as associated data, so sealed values cannot be swapped between rows); the
//! data key itself is stored only wrapped under an Argon2id key derived from the kiosk PIN.
//! Tickets are found by a keyed blind index (HMAC) of their code, never by plaintext. A copied
//! file without the PIN shows no name, email or code.
//!
//! This module: opening, PIN, keys (`attempts` counts wrong PINs and makes the kiosk wait after
//! too many). `package` applies event packages; `rules` keeps the event's rules
//! (gates, ticket types, ...) tagged against edits; `tickets` reads tickets;
//! `checkins` records scans and the outbox; `timeline` keeps the check-ins
//! tagged and counted; `counts` counts admissions; `coordinator` keeps the
//! coordinator PIN; `download` keeps a package body while it downloads; `search` finds guests
//! by name in an index held in memory; `edits` applies attendee edits (answers given at a gate).

mod attempts;
mod checkins;
mod coordinator;
mod counts;
mod download;
mod edits;
mod identity;
mod outbox;
mod package;
mod prints;
mod rules;
mod search;
mod sync;
mod tickets;
mod timeline;

use std::path::Path;

use rand::rngs::OsRng;
use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};
use sync_protocol::crypto::{
    BlindIndexKey, CryptoError, DataKey, KdfParams, RowTagKey, SealingKey, WrappedKey, open,
    unwrap_data_key, wrap_data_key,
};

pub use attempts::FREE_ATTEMPTS;
pub use checkins::DAMAGED_KIND;

/// The meta key of the pull cursor (where the next pull starts; absent: the package's cursor).
const META_CURSOR: &str = "cursor";
pub use counts::{GateCounts, venue_day};
pub use download::Download;
pub use identity::Identity;
pub use sync::PageApplied;
pub use tickets::TicketRecord;
pub use timeline::CheckInsAtUnlock;

/// What the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the kiosk store at {0} does not exist yet: set it up first")]
    NotSetUp(String),
    #[error("a kiosk store exists already at {0}")]
    AlreadySetUp(String),
    #[error("wrong PIN")]
    WrongPin,
    #[error("the PIN must be {min} to {PIN_MAX} characters")]
    BadPin { min: usize },
    #[error("too many wrong PINs: try again in {wait_secs} s")]
    TooManyAttempts { wait_secs: u64 },
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("crypto: {0}")]
    Crypto(CryptoError),
    /// A row that does not decrypt or parse: tampered or damaged. Only that row is affected.
    #[error("the {table} row {id} is damaged or was tampered with")]
    DamagedRow { table: &'static str, id: String },
    /// A table of the event's rules whose tag does not verify (see `rules`): edited, added to
    /// or cut by someone with the file. The next full package writes it afresh.
    #[error(
        "the event's {table} are damaged or were tampered with: sync to fetch the package again"
    )]
    DamagedTable { table: &'static str },
    /// One row of the event's rules (a gate, a ticket type) whose tag does not verify; the other
    /// rows of its table are still read (see `rules`).
    #[error(
        "the event's {item} {id} is damaged or was tampered with: sync to fetch the package again"
    )]
    DamagedRule { item: &'static str, id: String },
    /// An annulment that the protocol's rule would not count (`sync_protocol::merge::
    /// annulment_counts`): not this kiosk's check-in, or stamped too long after it.
    #[error("this check-in can no longer be annulled")]
    AnnulmentTooLate,
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
        M::up(include_str!(
            "../../../../migrations/kiosk/0003_sealed_reject_messages.sql"
        )),
        M::up(include_str!(
            "../../../../migrations/kiosk/0004_tagged_check_ins.sql"
        )),
        M::up(include_str!(
            "../../../../migrations/kiosk/0005_sealed_times.sql"
        )),
        M::up(include_str!(
            "../../../../migrations/kiosk/0006_tagged_rule_rows.sql"
        )),
        M::up(include_str!(
            "../../../../migrations/kiosk/0007_attendee_edits.sql"
        )),
        M::up(include_str!(
            "../../../../migrations/kiosk/0008_printed_badges.sql"
        )),
    ])
}

const META_WRAPPED_KEY: &str = "wrapped_data_key";
/// The layout of what the store seals, bound to the wrapped data key (so only the PIN's holder
/// can lower it, see `sync_protocol::crypto::pin`). 0: before formats. 1: the identity is sealed
/// and every ticket's sealed code is bound to its row; a plain identity or a code sealed the
/// older way is refused as damaged. 2: the outbox's acknowledgement mark is sealed (rows above
/// it are pending whatever their plain state says). 3: the event's rules (event, ticket types,
/// gates, forms, certificates, revoked kiosks) are tagged table by table; a table without its tag
/// is refused as damaged. 4: every check-in row is tagged and their number sealed (an edited row is
/// refused, removed rows are found and put back at unlock, see `timeline`). 5: times are sealed:
/// each check-in's, and the outbox rows' envelopes (id, stamp, kind, entity, time; see `outbox`).
/// 6: the rules are tagged row by row as well, so an edited gate or ticket type is refused alone
/// (see `rules`).
pub const STORE_FORMAT: u32 = 6;

/// An unlocked store.
pub struct KioskStore {
    conn: Connection,
    sealing: SealingKey,
    index: BlindIndexKey,
    tags: RowTagKey,
    /// What the last unlock found of the check-ins.
    check_ins_at_unlock: CheckInsAtUnlock,
    /// The guest search's index, in memory only; `None` until a search needs it, and again after
    /// every change of the guest list (see `search`).
    guests: Option<crate::search::GuestIndex>,
    /// The check-ins of the venue's day, in memory only (see `counts`).
    day_index: counts::DayIndex,
    /// The check-in rows written since `day_index` last looked, noted by SQLite's update hook.
    written_check_ins: counts::WrittenRows,
}

impl std::fmt::Debug for KioskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KioskStore").finish_non_exhaustive()
    }
}

/// The shortest kiosk PIN. The kiosk PIN wraps the data key, so it is all that stands between
/// a copied file and an offline search: at eight digits and the recommended Argon2id costs, a
/// search of every PIN takes hundreds of core-days (docs/security.md). Stores set up under a
/// shorter PIN before this rule still open with it.
pub const KIOSK_PIN_MIN: usize = 8;
/// The shortest coordinator PIN: it guards screens of a running kiosk, where wrong PINs are
/// counted and made to wait (`attempts`), and unlocks no data.
pub const COORDINATOR_PIN_MIN: usize = 4;
/// The longest PIN (a passphrase fits).
pub const PIN_MAX: usize = 64;

/// Checks a PIN's length against `min` and [`PIN_MAX`].
pub fn check_pin(pin: &str, min: usize) -> Result<(), StoreError> {
    let len = pin.chars().count();
    if (min..=PIN_MAX).contains(&len) {
        Ok(())
    } else {
        Err(StoreError::BadPin { min })
    }
}

/// Opens the file with the store's settings; the schema is brought up to date separately
/// ([`migrate`]), once the PIN is known to be right.
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    // WAL for concurrent readers; FULL so a check-in is on disk before the verdict shows.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // What is deleted or overwritten is zeroed in the file, not left in free pages (a value sealed
    // at an upgrade leaves no plain copy behind).
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    migrations().to_latest(conn)?;
    Ok(())
}

/// The file a store is made in before it takes its place at `path`.
fn creating_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".creating");
    std::path::PathBuf::from(name)
}

/// Removes a database file and its WAL and shared-memory files, if there.
fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(name));
    }
}

/// Whether `stored` costs less than `wanted` (a key wrapped before the costs were raised).
fn weaker(stored: KdfParams, wanted: KdfParams) -> bool {
    stored.memory_kib < wanted.memory_kib || stored.iterations < wanted.iterations
}

impl KioskStore {
    /// Creates a new store at `path`, protected by `pin`.
    pub fn create(path: &Path, pin: &str, kdf: KdfParams) -> Result<KioskStore, StoreError> {
        Self::create_with(path, pin, kdf, |_| Ok(()))
    }

    /// Creates a new store at `path`, protected by `pin`, and lets `prepare` write into it (the
    /// coordinator PIN) before it takes its place: whole or not at all. The store is made in a
    /// file beside `path` and renamed into place, so a failure or a power cut on the way leaves
    /// no half-made store behind (the next set-up starts afresh).
    pub fn create_with(
        path: &Path,
        pin: &str,
        kdf: KdfParams,
        prepare: impl FnOnce(&mut KioskStore) -> Result<(), StoreError>,
    ) -> Result<KioskStore, StoreError> {
        check_pin(pin, KIOSK_PIN_MIN)?;
        if path.exists() {
            return Err(StoreError::AlreadySetUp(path.display().to_string()));
        }
        let creating = creating_path(path);
        remove_database(&creating);
        let made = (|| {
            let mut conn = connect(&creating)?;
            migrate(&mut conn)?;
            let data_key = DataKey::generate(&mut OsRng);
            let wrapped = wrap_data_key(pin, &data_key, kdf, STORE_FORMAT, &mut OsRng)
                .map_err(StoreError::Crypto)?;
            let wrapped = serde_json::to_vec(&wrapped).expect("wrapped keys serialize");
            conn.execute(
                "insert into meta (key, value) values (?1, ?2)",
                params![META_WRAPPED_KEY, wrapped],
            )?;
            // A new store seals every ticket the current way: nothing to upgrade at unlock.
            put_meta(&conn, tickets::META_TICKET_SEAL, 1)?;
            let mut store = Self::with_key(conn, &data_key);
            store.tag_rules()?;
            timeline::seal_count(&store.conn, &store.sealing)?;
            prepare(&mut store)?;
            // Closing the last connection checkpoints the WAL into the file and removes it, so
            // the one file renamed holds everything.
            store.conn.close().map_err(|(_, e)| StoreError::Sqlite(e))?;
            Ok::<_, StoreError>(data_key)
        })();
        let data_key = match made {
            Ok(data_key) => data_key,
            Err(e) => {
                remove_database(&creating);
                return Err(e);
            }
        };
        if let Err(e) = std::fs::rename(&creating, path) {
            remove_database(&creating);
            return Err(StoreError::Malformed(format!(
                "cannot put the new store in place at {}: {e}",
                path.display()
            )));
        }
        Ok(Self::with_key(connect(path)?, &data_key))
    }

    /// Opens the store at `path` with `pin`. The PIN is checked before anything else is done to
    /// the file (its schema is brought up to date only after); a wrong PIN changes nothing but
    /// the count of wrong PINs, and after [`FREE_ATTEMPTS`] of them in a row the kiosk refuses
    /// every PIN for a while that doubles each time (see `attempts`).
    pub fn unlock(path: &Path, pin: &str) -> Result<KioskStore, StoreError> {
        Self::unlock_at(path, pin, crate::background::system_clock())
    }

    /// [`KioskStore::unlock`] at the time `now`.
    pub fn unlock_at(
        path: &Path,
        pin: &str,
        now: sync_protocol::UnixMillis,
    ) -> Result<KioskStore, StoreError> {
        if !path.exists() {
            return Err(StoreError::NotSetUp(path.display().to_string()));
        }
        let mut conn = connect(path)?;
        let guarded = attempts::Guarded::KioskPin;
        let attempts = attempts::Attempts::read(&conn, guarded)?;
        attempts.check(now)?;
        let wrapped = Self::wrapped_key(&conn)?;
        let data_key = match unwrap_data_key(pin, &wrapped) {
            Ok(key) => key,
            Err(CryptoError::WrongPin) => {
                attempts::Attempts::record_failure(&conn, guarded, now)?;
                return Err(StoreError::WrongPin);
            }
            Err(other) => return Err(StoreError::Crypto(other)),
        };
        if attempts.failures > 0 {
            attempts::Attempts::clear(&conn, guarded)?;
        }
        migrate(&mut conn)?;
        let mut store = Self::with_key(conn, &data_key);
        store.seal_plain_reject_messages()?;
        if wrapped.format() < STORE_FORMAT {
            store.upgrade_format(pin, &data_key, wrapped.params())?;
        }
        store.check_ins_at_unlock = store.check_check_ins()?;
        store.fill_outbox_gaps()?;
        Ok(store)
    }

    /// Brings a store of an older format to [`STORE_FORMAT`]: every ticket's code sealed to its
    /// row, the identity sealed (format 1), the acknowledgement mark sealed (2), the rules tagged
    /// (3), the check-ins tagged and counted (4), times sealed (5), the rules tagged row by row (6);
    /// then the data key is wrapped again for the new format, after which the older layout is
    /// refused. A step cut short is done again at the next unlock.
    fn upgrade_format(
        &mut self,
        pin: &str,
        data_key: &DataKey,
        kdf: KdfParams,
    ) -> Result<(), StoreError> {
        let format = Self::wrapped_key(&self.conn)?.format();
        if format < 1 {
            self.upgrade_ticket_seals()?;
            self.seal_plain_identity()?;
        }
        if format < 2 {
            self.seal_acknowledged_mark()?;
        }
        if format < 3 {
            self.tag_rules()?;
        }
        if format < 5 {
            self.tag_check_ins()?;
            self.seal_outbox_envelopes()?;
        }
        if (3..6).contains(&format) {
            self.tag_rule_rows()?;
        }
        self.wrap_for_format(pin, data_key, kdf, STORE_FORMAT)
    }

    fn wrap_for_format(
        &mut self,
        pin: &str,
        data_key: &DataKey,
        kdf: KdfParams,
        format: u32,
    ) -> Result<(), StoreError> {
        let wrapped =
            wrap_data_key(pin, data_key, kdf, format, &mut OsRng).map_err(StoreError::Crypto)?;
        let wrapped = serde_json::to_vec(&wrapped).expect("wrapped keys serialize");
        self.conn.execute(
            "update meta set value = ?2 where key = ?1",
            params![META_WRAPPED_KEY, wrapped],
        )?;
        Ok(())
    }

    /// What the unlock found of the check-ins: all there, or some removed from the file and what
    /// was put back (see `timeline`).
    pub fn check_ins_at_unlock(&self) -> CheckInsAtUnlock {
        self.check_ins_at_unlock
    }

    /// The format the data key is wrapped for.
    pub fn format(&self) -> Result<u32, StoreError> {
        Ok(Self::wrapped_key(&self.conn)?.format())
    }

    /// Test scaffolding: makes this store look as a kiosk of `format` left it (the data key
    /// wrapped for it; at format 0, the identity in plain).
    #[cfg(test)]
    pub(crate) fn downgrade_for_tests(&mut self, pin: &str, format: u32) {
        let wrapped = Self::wrapped_key(&self.conn).unwrap();
        let data_key = unwrap_data_key(pin, &wrapped).unwrap();
        if format == 0
            && let Some(identity) = self.identity().unwrap()
        {
            let plain = serde_json::to_vec(&identity).unwrap();
            self.conn
                .execute(
                    "update meta set value = ?2 where key = ?1",
                    params![identity::META_IDENTITY, plain],
                )
                .unwrap();
        }
        if format < 2 {
            self.conn
                .execute("delete from meta where key = 'acknowledged_seq'", [])
                .unwrap();
        }
        if format < 6 {
            self.untag_rule_rows_for_tests();
        }
        if format < 3 {
            self.conn
                .execute("delete from meta where key like 'tag:%'", [])
                .unwrap();
        }
        if format < 4 {
            self.conn
                .execute_batch(
                    "update check_ins set tag = null; delete from meta where key = 'check_in_count'",
                )
                .unwrap();
        }
        if format < 5 {
            self.downgrade_times_for_tests();
        }
        self.wrap_for_format(pin, &data_key, wrapped.params(), format)
            .unwrap();
    }

    /// The Argon2id costs the data key is wrapped with.
    pub fn kdf_params(&self) -> Result<KdfParams, StoreError> {
        Ok(Self::wrapped_key(&self.conn)?.params())
    }

    /// Wraps the data key again under `pin` with `kdf` when the stored wrapping costs less (the
    /// costs were raised since the PIN was set). Returns whether it did. Call it right after an
    /// unlock, with the PIN that unlocked.
    pub fn upgrade_kdf(&mut self, pin: &str, kdf: KdfParams) -> Result<bool, StoreError> {
        if !weaker(self.kdf_params()?, kdf) {
            return Ok(false);
        }
        self.change_pin(pin, pin, kdf)?;
        Ok(true)
    }

    /// Re-wraps the data key under a new PIN (the data itself is not re-encrypted).
    pub fn change_pin(
        &mut self,
        old_pin: &str,
        new_pin: &str,
        kdf: KdfParams,
    ) -> Result<(), StoreError> {
        check_pin(new_pin, KIOSK_PIN_MIN)?;
        let wrapped = Self::wrapped_key(&self.conn)?;
        let data_key = unwrap_data_key(old_pin, &wrapped).map_err(|e| match e {
            CryptoError::WrongPin => StoreError::WrongPin,
            other => StoreError::Crypto(other),
        })?;
        let rewrapped = wrap_data_key(new_pin, &data_key, kdf, wrapped.format(), &mut OsRng)
            .map_err(StoreError::Crypto)?;
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
        let written_check_ins = counts::watch_check_ins(&conn);
        KioskStore {
            conn,
            sealing: data_key.sealing_key(),
            index: data_key.blind_index_key(),
            tags: data_key.row_tag_key(),
            check_ins_at_unlock: CheckInsAtUnlock::Whole,
            guests: None,
            day_index: counts::DayIndex::default(),
            written_check_ins,
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

/// A number kept sealed in `meta` under `key` (a mark, a head, a count that plain SQL must not
/// move): `None` when absent; one that does not open is a damaged row.
pub(super) fn sealed_meta_u64(
    conn: &Connection,
    sealing: &SealingKey,
    key: &'static str,
) -> Result<Option<u64>, StoreError> {
    let Some(sealed) = conn
        .query_row("select value from meta where key = ?1", params![key], |r| {
            r.get::<_, Vec<u8>>(0)
        })
        .optional()?
    else {
        return Ok(None);
    };
    let damaged = || StoreError::DamagedRow {
        table: "meta",
        id: key.into(),
    };
    let plain = open(sealing, &sealed, &row_aad("meta", key.as_bytes())).map_err(|_| damaged())?;
    let bytes: [u8; 8] = plain[..].try_into().map_err(|_| damaged())?;
    Ok(Some(u64::from_be_bytes(bytes)))
}

/// Seals `value` in `meta` under `key` (see [`sealed_meta_u64`]).
pub(super) fn put_sealed_meta_u64(
    conn: &Connection,
    sealing: &SealingKey,
    key: &'static str,
    value: u64,
) -> Result<(), StoreError> {
    let sealed = sync_protocol::crypto::seal(
        sealing,
        &mut OsRng,
        &value.to_be_bytes(),
        &row_aad("meta", key.as_bytes()),
    );
    conn.execute(
        "insert into meta (key, value) values (?1, ?2)
         on conflict (key) do update set value = excluded.value",
        params![key, sealed],
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
