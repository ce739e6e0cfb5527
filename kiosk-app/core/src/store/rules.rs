//! The event's rules as its package gave them: the event, ticket types, gates, forms, the kiosks'
//! certificates and the revoked kiosks.
//!
//! They are not personal, so they are kept as plain JSON, but verdicts depend on them (which
//! ticket types a gate lets in, when a ticket is valid, which kiosks' badges are refused), so
//! someone with the file but not the PIN must not be able to change them unseen. Two HMAC tags
//! under the data key's row-tag subkey (`sync_protocol::crypto::row_tag`) guard them:
//!
//! - **each row** of the event, ticket types, gates and forms carries a tag of all its columns
//!   (column `tag`), so an edited row is known for what it is;
//! - **each table** has a tag of the set of its rows, by key, in order (`meta`, `tag:<table>`), so
//!   a row added or removed is seen: a removed row leaves nothing behind to blame, so then the
//!   whole table is refused ([`StoreError::DamagedTable`]). Certificates and revoked kiosks have
//!   no key but their content, so this tag covers them whole.
//!
//! What a damaged row stops depends on the table. An edited **gate** or **ticket type** is refused
//! alone ([`StoreError::DamagedRule`]): scans at that gate, or of tickets of that type, answer
//! that error, while the other gates and types go on working. In the **event** and **forms** any
//! damaged row refuses the table, because reading around it would be wrong rather than less: an
//! older form would be used in place of an edited newer one. Every way fails closed: nothing
//! damaged is ever read as if it were intact, and the next full package writes the tables afresh.
//!
//! Tags are written with the rows they cover, in the same transaction. A write that adds to a
//! table (a revocation pulled from the feed) checks the tag first and leaves a table that does not
//! verify as it found it, so a tampered table is never blessed by a later write.

use rusqlite::{Connection, OptionalExtension, params, types::ValueRef};
use sync_protocol::crypto::{RowTagKey, RowTagger, row_tag, verify_row_tag};
use sync_protocol::ids::{DeviceId, GateId, TicketTypeId};
use sync_protocol::model::{Event, Gate, TicketType};

use super::{KioskStore, StoreError, hex};

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

    /// One row, in words, for errors.
    fn item(self) -> &'static str {
        match self {
            Rules::Event => "event",
            Rules::TicketTypes => "ticket type",
            Rules::Gates => "gate",
            Rules::Forms => "form",
            Rules::Certificates => "kiosk certificate",
            Rules::RevokedDevices => "revoked kiosk",
        }
    }

    /// Every column of every row but the tag, in a fixed order: the key columns first, the last
    /// column is what readers parse.
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

    /// How many of the leading columns of [`Rules::rows_sql`] make a row's key.
    fn key_columns(self) -> usize {
        match self {
            Rules::Forms => 2,
            _ => 1,
        }
    }

    /// Whether each row carries its own tag (else the table's tag covers the rows whole).
    fn tagged_rows(self) -> bool {
        matches!(
            self,
            Rules::Event | Rules::TicketTypes | Rules::Gates | Rules::Forms
        )
    }

    /// Whether a damaged row is refused alone, the rest of the table read (see the module doc).
    fn row_by_row(self) -> bool {
        matches!(self, Rules::TicketTypes | Rules::Gates)
    }

    fn meta_key(self) -> String {
        format!("tag:{}", self.table())
    }

    /// The label of the table's tag (the set of its keys).
    fn keys_label(self) -> String {
        format!("{}:keys", self.table())
    }
}

/// One row of a rules table as read.
struct RuleRow {
    /// The first key column (the id), for errors.
    id: Vec<u8>,
    /// The last column: the JSON body, or the device id.
    body: Vec<u8>,
    /// Whether its own tag verified (always, for tables without row tags).
    intact: bool,
}

fn column_bytes(value: ValueRef<'_>) -> Vec<u8> {
    match value {
        ValueRef::Blob(b) | ValueRef::Text(b) => b.to_vec(),
        ValueRef::Integer(n) => n.to_be_bytes().to_vec(),
        ValueRef::Real(x) => x.to_be_bytes().to_vec(),
        ValueRef::Null => Vec::new(),
    }
}

/// One row of a rules table as stored.
struct RawRow {
    /// Its columns but the tag, in the order of [`Rules::rows_sql`].
    columns: Vec<Vec<u8>>,
    /// Its own tag, for tables whose rows carry one.
    tag: Option<Vec<u8>>,
    rowid: i64,
}

/// Every row of `rules`, in key order.
fn raw_rows(conn: &Connection, rules: Rules) -> Result<Vec<RawRow>, StoreError> {
    let base = rules.rows_sql();
    let select = base
        .strip_prefix("select ")
        .expect("rules queries start with select");
    let sql = if rules.tagged_rows() {
        format!("select rowid, tag, {select}")
    } else {
        format!("select rowid, null, {select}")
    };
    let mut statement = conn.prepare_cached(&sql)?;
    let columns = statement.column_count();
    let mut rows = statement.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let rowid: i64 = row.get(0)?;
        let tag: Option<Vec<u8>> = row.get(1)?;
        let columns = (2..columns)
            .map(|i| row.get_ref(i).map(column_bytes))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(RawRow {
            columns,
            tag,
            rowid,
        });
    }
    Ok(out)
}

fn parts_of(columns: &[Vec<u8>]) -> Vec<&[u8]> {
    columns.iter().map(Vec::as_slice).collect()
}

/// The tag of the set of rows: their keys, in order.
fn keys_tag(key: &RowTagKey, rules: Rules, rows: &[RawRow]) -> RowTagger {
    let mut tagger = RowTagger::new(key, &rules.keys_label());
    for row in rows {
        for column in &row.columns[..rules.key_columns()] {
            tagger.part(column);
        }
    }
    tagger
}

/// Tags `rules` as it now stands, rows and table (after writing it whole, or when a store first
/// gets tags).
pub(super) fn write_tags(
    conn: &Connection,
    key: &RowTagKey,
    rules: Rules,
) -> Result<(), StoreError> {
    let rows = raw_rows(conn, rules)?;
    if rules.tagged_rows() {
        let mut update = conn.prepare_cached(&format!(
            "update {} set tag = ?1 where rowid = ?2",
            rules.table()
        ))?;
        for row in &rows {
            let tag = row_tag(key, rules.table(), &parts_of(&row.columns));
            update.execute(params![tag.to_vec(), row.rowid])?;
        }
    }
    let tag = keys_tag(key, rules, &rows).finish();
    conn.execute(
        "insert into meta (key, value) values (?1, ?2)
         on conflict (key) do update set value = excluded.value",
        params![rules.meta_key(), tag.to_vec()],
    )?;
    Ok(())
}

/// Every row of `rules` once the table's tag verifies, each marked intact or not; a damaged row
/// of a table not read row by row refuses the whole table.
fn read_checked(
    conn: &Connection,
    key: &RowTagKey,
    rules: Rules,
) -> Result<Vec<RuleRow>, StoreError> {
    let rows = raw_rows(conn, rules)?;
    let stored = stored_tag(conn, rules)?;
    let damaged_table = || {
        tracing::error!(table = rules.table(), "the table's tag does not verify");
        StoreError::DamagedTable {
            table: rules.table(),
        }
    };
    if !stored.is_some_and(|stored| keys_tag(key, rules, &rows).verify(&stored)) {
        return Err(damaged_table());
    }
    let mut out = Vec::with_capacity(rows.len());
    for RawRow {
        mut columns, tag, ..
    } in rows
    {
        let intact = !rules.tagged_rows()
            || tag.is_some_and(|tag| verify_row_tag(key, rules.table(), &parts_of(&columns), &tag));
        if !intact && !rules.row_by_row() {
            return Err(damaged_table());
        }
        let body = columns.pop().unwrap_or_default();
        let id = columns.into_iter().next().unwrap_or_else(|| body.clone());
        if !intact {
            tracing::error!(
                table = rules.table(),
                id = hex(&id),
                "a row's tag does not verify"
            );
        }
        out.push(RuleRow { id, body, intact });
    }
    Ok(out)
}

/// The error for a damaged row of `rules`.
fn damaged_rule(rules: Rules, id: &[u8]) -> StoreError {
    StoreError::DamagedRule {
        item: rules.item(),
        id: hex(id),
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
    write_tags(conn, key, Rules::RevokedDevices)
}

/// Whether `rules` carries tags of this format (each row's and the set's) that verify.
fn tags_verify(conn: &Connection, key: &RowTagKey, rules: Rules) -> Result<bool, StoreError> {
    match read_checked(conn, key, rules) {
        Ok(rows) => Ok(rows.iter().all(|r| r.intact)),
        Err(StoreError::DamagedTable { .. }) => Ok(false),
        Err(other) => Err(other),
    }
}

/// The table's tag as `meta` holds it.
fn stored_tag(conn: &Connection, rules: Rules) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .query_row(
            "select value from meta where key = ?1",
            params![rules.meta_key()],
            |r| r.get(0),
        )
        .optional()?)
}

/// The tag of store formats 3 to 5 over `rules`: every column of every row, in order, labelled
/// with the table's name.
fn whole_table_tagger(
    conn: &Connection,
    key: &RowTagKey,
    rules: Rules,
) -> Result<RowTagger, StoreError> {
    let mut tagger = RowTagger::new(key, rules.table());
    for row in raw_rows(conn, rules)? {
        for column in &row.columns {
            tagger.part(column);
        }
    }
    Ok(tagger)
}

/// Whether `rules` verifies under the tag of store formats 3 to 5: one HMAC of every column of
/// every row, in order, labelled with the table's name.
fn whole_table_tag_verifies(
    conn: &Connection,
    key: &RowTagKey,
    rules: Rules,
) -> Result<bool, StoreError> {
    let tagger = whole_table_tagger(conn, key, rules)?;
    let stored = stored_tag(conn, rules)?;
    Ok(stored.is_some_and(|stored| tagger.verify(&stored)))
}

impl KioskStore {
    /// The intact rows of `rules`, parsed; damaged ones are left out (only tables read row by
    /// row have any: the others refuse the table).
    fn rules_json<T: serde::de::DeserializeOwned>(
        &self,
        rules: Rules,
    ) -> Result<Vec<T>, StoreError> {
        read_checked(&self.conn, &self.tags, rules)?
            .into_iter()
            .filter(|row| row.intact)
            .map(|row| serde_json::from_slice(&row.body).map_err(|_| damaged_rule(rules, &row.id)))
            .collect()
    }

    /// The row of `rules` whose id is `id`, if the table has it; a damaged one is an error.
    fn rule_json<T: serde::de::DeserializeOwned>(
        &self,
        rules: Rules,
        id: &[u8],
    ) -> Result<Option<T>, StoreError> {
        let Some(row) = read_checked(&self.conn, &self.tags, rules)?
            .into_iter()
            .find(|row| row.id == id)
        else {
            return Ok(None);
        };
        if !row.intact {
            return Err(damaged_rule(rules, &row.id));
        }
        serde_json::from_slice(&row.body)
            .map(Some)
            .map_err(|_| damaged_rule(rules, &row.id))
    }

    /// The event's gates; a gate whose row is damaged is left out (and refused by
    /// [`KioskStore::gate`]).
    pub fn gates(&self) -> Result<Vec<Gate>, StoreError> {
        self.rules_json(Rules::Gates)
    }

    /// The gate `id`, if the package has it; [`StoreError::DamagedRule`] if its row is damaged.
    pub fn gate(&self, id: GateId) -> Result<Option<Gate>, StoreError> {
        self.rule_json(Rules::Gates, &id.to_bytes())
    }

    /// The event's forms, every version held, oldest first.
    pub fn forms(&self) -> Result<Vec<sync_protocol::forms::Form>, StoreError> {
        self.rules_json(Rules::Forms)
    }

    /// The event, once a package is applied.
    pub fn event(&self) -> Result<Option<Event>, StoreError> {
        Ok(self.rules_json(Rules::Event)?.into_iter().next())
    }

    /// The event's ticket types; one whose row is damaged is left out (and refused by
    /// [`KioskStore::ticket_type`]).
    pub fn ticket_types(&self) -> Result<Vec<TicketType>, StoreError> {
        self.rules_json(Rules::TicketTypes)
    }

    /// The ticket type `id`, if the package has it; [`StoreError::DamagedRule`] if its row is
    /// damaged.
    pub fn ticket_type(&self, id: TicketTypeId) -> Result<Option<TicketType>, StoreError> {
        self.rule_json(Rules::TicketTypes, &id.to_bytes())
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
            .map(|row| {
                <[u8; 16]>::try_from(row.body)
                    .ok()
                    .and_then(|b| DeviceId::from_bytes(b).ok())
                    .ok_or(StoreError::DamagedTable {
                        table: Rules::RevokedDevices.table(),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok((certificates, revoked))
    }

    /// Tags every rules table as it stands (a new store, or one from before any tags at its
    /// first unlock).
    pub(super) fn tag_rules(&self) -> Result<(), StoreError> {
        for rules in Rules::ALL {
            write_tags(&self.conn, &self.tags, rules)?;
        }
        Ok(())
    }

    /// Moves the rules of a store of format 3 to 5 to row tags: a table whose whole-table tag
    /// verifies is tagged afresh; one that does not is left refused. A table already tagged the
    /// new way is left alone, so a step cut short is done again safely.
    pub(super) fn tag_rule_rows(&self) -> Result<(), StoreError> {
        for rules in Rules::ALL {
            if tags_verify(&self.conn, &self.tags, rules)? {
                continue;
            }
            if whole_table_tag_verifies(&self.conn, &self.tags, rules)? {
                write_tags(&self.conn, &self.tags, rules)?;
            } else {
                tracing::error!(
                    table = rules.table(),
                    "the table's tag does not verify: it stays refused until the next package"
                );
            }
        }
        Ok(())
    }

    /// Puts the rules back as a store of format 5 kept them: no row tags, one tag of each whole
    /// table.
    #[cfg(test)]
    pub(super) fn untag_rule_rows_for_tests(&self) {
        for rules in Rules::ALL {
            if rules.tagged_rows() {
                self.conn
                    .execute(&format!("update {} set tag = null", rules.table()), [])
                    .unwrap();
            }
            let tagger = whole_table_tagger(&self.conn, &self.tags, rules).unwrap();
            self.conn
                .execute(
                    "update meta set value = ?2 where key = ?1",
                    params![rules.meta_key(), tagger.finish().to_vec()],
                )
                .unwrap();
        }
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

    /// A store of format 5 (one tag over each whole table) gets row tags at unlock where its
    /// table's tag verifies; a table edited before the upgrade is not blessed: it stays refused.
    #[test]
    fn a_store_with_whole_table_tags_gets_row_tags_at_unlock() {
        let dir = std::env::temp_dir().join(format!("gp-rules-rows-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kiosk.db");
        let mut store = KioskStore::create(&path, "24682468", KdfParams::FOR_TESTS).unwrap();
        let gates: Vec<Gate> = ["01890a5d-ac96-774b-bcce-b302099a8057", "01890a5d-ac96-774b-bcce-b302099a8058"]
            .into_iter()
            .map(|id| {
                serde_json::from_str(&format!(
                    r#"{{"id":"{id}","name":"West","allowed_ticket_types":[],"mode":"entry_only","reentry":"never","required_answers":[]}}"#
                ))
                .unwrap()
            })
            .collect();
        for gate in &gates {
            store
                .conn
                .execute(
                    "insert into gates (id, body) values (?1, ?2)",
                    params![gate.id.to_bytes(), serde_json::to_string(gate).unwrap()],
                )
                .unwrap();
        }
        store.tag_rules().unwrap();
        store.downgrade_for_tests("24682468", 5);
        let row_tags: i64 = store
            .conn
            .query_row("select count(tag) from gates", [], |r| r.get(0))
            .unwrap();
        assert_eq!(row_tags, 0, "a format-5 store has no row tags");
        // Edited with the file before the upgrade: a kiosk taken off the revoked list.
        store
            .conn
            .execute(
                "insert into revoked_devices (device_id) values (x'01890a5dac96774bbcceb302099a8059')",
                [],
            )
            .unwrap();
        drop(store);
        let store = KioskStore::unlock(&path, "24682468").unwrap();
        assert_eq!(store.format().unwrap(), crate::store::STORE_FORMAT);
        assert_eq!(store.gates().unwrap(), gates);
        assert_eq!(store.gate(gates[1].id).unwrap(), Some(gates[1].clone()));
        assert!(matches!(
            store.certificates(),
            Err(StoreError::DamagedTable {
                table: "revoked_devices"
            })
        ));
        drop(store);
        // Upgraded once: the next unlock reads the same.
        let store = KioskStore::unlock(&path, "24682468").unwrap();
        assert_eq!(store.gates().unwrap(), gates);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
