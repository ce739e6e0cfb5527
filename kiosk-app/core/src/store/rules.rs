//! The event's rules as its package gave them: the event, ticket types, gates, forms, the kiosks'
//! certificates and the revoked kiosks.
//!
//! They are not personal, so they are kept as plain JSON, but verdicts depend on them (which
//! ticket types a gate lets in, when a ticket is valid, which kiosks' badges are refused). Each
//! table is therefore tagged as a whole: an HMAC of all its rows, in order, under the data key's
//! row-tag subkey (`sync_protocol::crypto::row_tag`), kept in `meta` as `tag:<table>`. Every read
//! checks the tag, so a row edited, added or removed by someone with the file but not the PIN
//! (a gate made to let every ticket type in, a revoked kiosk taken off the list) makes that table
//! refused as damaged ([`StoreError::DamagedTable`]) instead of read. A whole table, because a
//! removed row leaves nothing behind to blame; the tables are small and the next full package
//! writes them afresh, which is the way back.
//!
//! Tags are written with the rows they cover, in the same transaction. A write that adds to a
//! table (a revocation pulled from the feed) checks the tag first and leaves a table that does not
//! verify as it found it, so a tampered table is never blessed by a later write.

use rusqlite::{Connection, OptionalExtension, params, types::ValueRef};
use sync_protocol::crypto::{RowTagKey, RowTagger};
use sync_protocol::ids::{DeviceId, GateId};
use sync_protocol::model::{Event, Gate, TicketType};

use super::{KioskStore, StoreError};

/// The tables of the event's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rules {
    Event,
    TicketTypes,
    Gates,
    Forms,
    Certificates,
    RevokedDevices,
}

impl Rules {
    pub(super) const ALL: [Rules; 6] = [
        Rules::Event,
        Rules::TicketTypes,
        Rules::Gates,
        Rules::Forms,
        Rules::Certificates,
        Rules::RevokedDevices,
    ];

    pub(super) fn table(self) -> &'static str {
        match self {
            Rules::Event => "event",
            Rules::TicketTypes => "ticket_types",
            Rules::Gates => "gates",
            Rules::Forms => "forms",
            Rules::Certificates => "certificates",
            Rules::RevokedDevices => "revoked_devices",
        }
    }

    /// Every column of every row, in a fixed order; the last column is what readers parse.
    fn rows_sql(self) -> &'static str {
        match self {
            Rules::Event => "select id, body from event order by id",
            Rules::TicketTypes => "select id, body from ticket_types order by id",
            Rules::Gates => "select id, body from gates order by id",
            Rules::Forms => "select id, version, body from forms order by id, version",
            Rules::Certificates => "select body from certificates order by body",
            Rules::RevokedDevices => "select device_id from revoked_devices order by device_id",
        }
    }

    fn meta_key(self) -> String {
        format!("tag:{}", self.table())
    }
}

/// The last column of every row of `rules`, and the tagger that has read them all.
fn read_rows(
    conn: &Connection,
    key: &RowTagKey,
    rules: Rules,
) -> Result<(Vec<Vec<u8>>, RowTagger), StoreError> {
    let mut statement = conn.prepare_cached(rules.rows_sql())?;
    let columns = statement.column_count();
    let mut tagger = RowTagger::new(key, rules.table());
    let mut last_columns = Vec::new();
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let mut last = Vec::new();
        for i in 0..columns {
            let bytes = match row.get_ref(i)? {
                ValueRef::Blob(b) | ValueRef::Text(b) => b.to_vec(),
                ValueRef::Integer(n) => n.to_be_bytes().to_vec(),
                ValueRef::Real(x) => x.to_be_bytes().to_vec(),
                ValueRef::Null => Vec::new(),
            };
            tagger.part(&bytes);
            last = bytes;
        }
        last_columns.push(last);
    }
    Ok((last_columns, tagger))
}

/// Tags `rules` as it now stands (after writing it whole, or when a store first gets tags).
pub(super) fn write_tag(
    conn: &Connection,
    key: &RowTagKey,
    rules: Rules,
) -> Result<(), StoreError> {
    let (_, tagger) = read_rows(conn, key, rules)?;
    conn.execute(
        "insert into meta (key, value) values (?1, ?2)
         on conflict (key) do update set value = excluded.value",
        params![rules.meta_key(), tagger.finish().to_vec()],
    )?;
    Ok(())
}

/// The last column of every row of `rules`, once its tag verifies.
pub(super) fn read_checked(
    conn: &Connection,
    key: &RowTagKey,
    rules: Rules,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let (rows, tagger) = read_rows(conn, key, rules)?;
    let stored: Option<Vec<u8>> = conn
        .query_row(
            "select value from meta where key = ?1",
            params![rules.meta_key()],
            |r| r.get(0),
        )
        .optional()?;
    if stored.is_some_and(|stored| tagger.verify(&stored)) {
        Ok(rows)
    } else {
        tracing::error!(table = rules.table(), "the table's tag does not verify");
        Err(StoreError::DamagedTable {
            table: rules.table(),
        })
    }
}

/// Adds a revoked kiosk to the list, keeping its tag; a list whose tag does not verify is left
/// as it is (still refused) rather than tagged again with the revocation added.
pub(super) fn add_revoked_device(
    conn: &Connection,
    key: &RowTagKey,
    device: DeviceId,
) -> Result<(), StoreError> {
    read_checked(conn, key, Rules::RevokedDevices)?;
    conn.execute(
        "insert into revoked_devices (device_id) values (?1) on conflict do nothing",
        params![device.to_bytes()],
    )?;
    write_tag(conn, key, Rules::RevokedDevices)
}

impl KioskStore {
    fn rules_json<T: serde::de::DeserializeOwned>(
        &self,
        rules: Rules,
    ) -> Result<Vec<T>, StoreError> {
        read_checked(&self.conn, &self.tags, rules)?
            .into_iter()
            .map(|body| {
                serde_json::from_slice(&body).map_err(|_| StoreError::DamagedTable {
                    table: rules.table(),
                })
            })
            .collect()
    }

    /// The event's gates.
    pub fn gates(&self) -> Result<Vec<Gate>, StoreError> {
        self.rules_json(Rules::Gates)
    }

    /// The gate `id`, if the package has it.
    pub fn gate(&self, id: GateId) -> Result<Option<Gate>, StoreError> {
        Ok(self.gates()?.into_iter().find(|g| g.id == id))
    }

    /// The event's forms, every version held, oldest first.
    pub fn forms(&self) -> Result<Vec<sync_protocol::forms::Form>, StoreError> {
        self.rules_json(Rules::Forms)
    }

    /// The event, once a package is applied.
    pub fn event(&self) -> Result<Option<Event>, StoreError> {
        Ok(self.rules_json(Rules::Event)?.into_iter().next())
    }

    /// The event's ticket types.
    pub fn ticket_types(&self) -> Result<Vec<TicketType>, StoreError> {
        self.rules_json(Rules::TicketTypes)
    }

    /// The signed certificates of the event's kiosks and the revoked devices.
    pub fn certificates(
        &self,
    ) -> Result<
        (
            Vec<sync_protocol::crypto::Signed<sync_protocol::certificate::DeviceCertificate>>,
            Vec<DeviceId>,
        ),
        StoreError,
    > {
        let certificates = self.rules_json(Rules::Certificates)?;
        let revoked = read_checked(&self.conn, &self.tags, Rules::RevokedDevices)?
            .into_iter()
            .map(|bytes| {
                <[u8; 16]>::try_from(bytes)
                    .ok()
                    .and_then(|b| DeviceId::from_bytes(b).ok())
                    .ok_or(StoreError::DamagedTable {
                        table: Rules::RevokedDevices.table(),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok((certificates, revoked))
    }

    /// Tags every rules table as it stands (a store from before the tags, at its first unlock).
    pub(super) fn tag_rules(&self) -> Result<(), StoreError> {
        for rules in Rules::ALL {
            write_tag(&self.conn, &self.tags, rules)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_protocol::crypto::KdfParams;

    /// A store from before the tags (format 2) gets them at its first unlock, for the rules it
    /// holds then; after that, a missing tag is damage.
    #[test]
    fn a_store_from_before_the_tags_is_tagged_at_unlock() {
        let dir = std::env::temp_dir().join(format!("gp-rules-tags-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kiosk.db");
        let mut store = KioskStore::create(&path, "24682468", KdfParams::FOR_TESTS).unwrap();
        assert_eq!(
            store.gates().unwrap(),
            vec![],
            "a new store's empty tables are tagged"
        );
        let gate = r#"{"id":"01890a5d-ac96-774b-bcce-b302099a8057","name":"West","allowed_ticket_types":[],"mode":"entry_only","reentry":"never","required_answers":[]}"#;
        let parsed: Gate = serde_json::from_str(gate).unwrap();
        store
            .conn
            .execute(
                "insert into gates (id, body) values (?1, ?2)",
                params![parsed.id.to_bytes(), gate],
            )
            .unwrap();
        assert!(matches!(
            store.gates(),
            Err(StoreError::DamagedTable { table: "gates" })
        ));
        store.downgrade_for_tests("24682468", 2);
        drop(store);
        let store = KioskStore::unlock(&path, "24682468").unwrap();
        assert_eq!(store.format().unwrap(), crate::store::STORE_FORMAT);
        assert_eq!(store.gates().unwrap(), vec![parsed]);
        assert_eq!(store.certificates().unwrap(), (vec![], vec![]));
        store
            .conn
            .execute("delete from meta where key = 'tag:forms'", [])
            .unwrap();
        drop(store);
        let store = KioskStore::unlock(&path, "24682468").unwrap();
        assert!(matches!(
            store.forms(),
            Err(StoreError::DamagedTable { table: "forms" })
        ));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
