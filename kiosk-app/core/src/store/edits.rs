//! Attendee edits: this kiosk's own (answers given at a gate) and those pulled from other kiosks.
//!
//! An edit is applied to the attendee's sealed row field by field with the server's rule
//! (`sync_protocol::merge`): per field, the version with the largest (HLC, device) wins, whatever
//! order the versions arrive in, and any edit beats the package's value. Every version is also
//! kept, sealed, in `attendee_edits`:
//! - a package replaces attendee rows with the server's view as of its building, which may not
//!   hold the newest edits yet: they are applied again after every import;
//! - a new edit names the version of each field it replaced (`seen`), so the server can tell an
//!   edit made over a value its writer never saw.
//!
//! An edit of an attendee this kiosk does not hold (a walk-in at another kiosk, not pulled yet)
//! is kept and applied when the attendee arrives in a package.

use std::collections::BTreeMap;

use rand::rngs::OsRng;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sync_protocol::changes::{AttendeeEdit, Change, ChangeBody, FieldEdit};
use sync_protocol::crypto::{SealingKey, open, seal};
use sync_protocol::hlc::Hlc;
use sync_protocol::ids::{AttendeeId, ChangeId};
use sync_protocol::merge::{ChangeMeta, MergeState};
use sync_protocol::model::Attendee;
use sync_protocol::time::UnixMillis;

use super::{KioskStore, StoreError, hex, row_aad};

/// One stored version: who wrote it, when, and what.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredEdit {
    meta: ChangeMeta,
    edit: AttendeeEdit,
}

/// Keeps the edit carried by change `change_id` and applies it to the attendee's row. Returns
/// whether it was new (a replayed change changes nothing).
pub(super) fn apply_edit(
    conn: &Connection,
    sealing: &SealingKey,
    change_id: ChangeId,
    meta: ChangeMeta,
    edit: &AttendeeEdit,
) -> Result<bool, StoreError> {
    let key = change_id.to_bytes();
    let stored = StoredEdit {
        meta,
        edit: edit.clone(),
    };
    let plain = serde_json::to_vec(&stored).expect("edits serialize");
    let added = conn.execute(
        "insert into attendee_edits (change_id, attendee_id, sealed) values (?1, ?2, ?3)
         on conflict (change_id) do nothing",
        params![
            key,
            edit.attendee_id.to_bytes(),
            seal(
                sealing,
                &mut OsRng,
                &plain,
                &row_aad("attendee_edits", &key)
            )
        ],
    )?;
    if added == 0 {
        return Ok(false);
    }
    merge_into_row(conn, sealing, edit.attendee_id)?;
    Ok(true)
}

/// Applies every kept edit again, to the attendee rows a package has just written.
pub(super) fn reapply_edits(conn: &Connection, sealing: &SealingKey) -> Result<(), StoreError> {
    let attendees: Vec<Vec<u8>> = conn
        .prepare("select distinct attendee_id from attendee_edits")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in attendees {
        let Some(id) = <[u8; 16]>::try_from(id.as_slice())
            .ok()
            .and_then(|bytes| AttendeeId::from_bytes(bytes).ok())
        else {
            continue;
        };
        merge_into_row(conn, sealing, id)?;
    }
    Ok(())
}

/// Every kept version of this attendee's fields, opened.
fn stored_edits(
    conn: &Connection,
    sealing: &SealingKey,
    attendee_id: AttendeeId,
) -> Result<Vec<StoredEdit>, StoreError> {
    let mut statement =
        conn.prepare_cached("select change_id, sealed from attendee_edits where attendee_id = ?1")?;
    let rows = statement
        .query_map(params![attendee_id.to_bytes()], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(key, sealed)| {
            let damaged = || StoreError::DamagedRow {
                table: "attendee_edits",
                id: hex(&key),
            };
            let plain =
                open(sealing, &sealed, &row_aad("attendee_edits", &key)).map_err(|_| damaged())?;
            serde_json::from_slice(&plain).map_err(|_| damaged())
        })
        .collect()
}

/// The merge of this attendee's row with every kept version of its fields.
fn merged(base: Attendee, edits: &[StoredEdit]) -> Attendee {
    let id = base.id;
    let mut state = MergeState::new(&[], [base.clone()]);
    for stored in edits {
        state.apply(stored.meta, &ChangeBody::AttendeeEdit(stored.edit.clone()));
    }
    state.attendee(id).unwrap_or(base)
}

/// Rewrites the attendee's sealed row with its kept edits applied (nothing when it is not here).
fn merge_into_row(
    conn: &Connection,
    sealing: &SealingKey,
    attendee_id: AttendeeId,
) -> Result<(), StoreError> {
    let Some(base) = read_attendee(conn, sealing, attendee_id)? else {
        return Ok(());
    };
    let edits = stored_edits(conn, sealing, attendee_id)?;
    let attendee = merged(base.clone(), &edits);
    if attendee != base {
        let key = attendee_id.to_bytes();
        let plain = serde_json::to_vec(&attendee).expect("attendees serialize");
        conn.execute(
            "update attendees set sealed = ?2 where id = ?1",
            params![
                key,
                seal(sealing, &mut OsRng, &plain, &row_aad("attendees", &key))
            ],
        )?;
    }
    Ok(())
}

fn read_attendee(
    conn: &Connection,
    sealing: &SealingKey,
    attendee_id: AttendeeId,
) -> Result<Option<Attendee>, StoreError> {
    let key = attendee_id.to_bytes();
    let sealed: Option<Vec<u8>> = conn
        .query_row(
            "select sealed from attendees where id = ?1",
            params![key],
            |r| r.get(0),
        )
        .optional()?;
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let damaged = || StoreError::DamagedRow {
        table: "attendees",
        id: hex(&key),
    };
    let plain = open(sealing, &sealed, &row_aad("attendees", &key)).map_err(|_| damaged())?;
    serde_json::from_slice(&plain)
        .map(Some)
        .map_err(|_| damaged())
}

impl KioskStore {
    /// Records this kiosk's edit of an attendee's fields (`answers.<field id>`, `first_name`,
    /// ...), each naming the version it replaced, applied here at once and queued for the server.
    pub fn edit_attendee(
        &mut self,
        attendee_id: AttendeeId,
        values: BTreeMap<String, Value>,
        now: UnixMillis,
    ) -> Result<Change, StoreError> {
        let seen = self.field_stamps(attendee_id)?;
        if values.keys().any(|field| !field.starts_with("answers.")) {
            self.guests_changed();
        }
        let fields = values
            .into_iter()
            .map(|(field, value)| {
                let seen = seen.get(&field).copied();
                (field, FieldEdit { value, seen })
            })
            .collect();
        self.record(
            &ChangeBody::AttendeeEdit(AttendeeEdit {
                attendee_id,
                fields,
            }),
            now,
        )
    }

    /// The stamp of the version this kiosk holds of each edited field of an attendee (fields
    /// absent: the package's value).
    pub fn field_stamps(
        &self,
        attendee_id: AttendeeId,
    ) -> Result<BTreeMap<String, Hlc>, StoreError> {
        let edits = stored_edits(&self.conn, &self.sealing, attendee_id)?;
        let mut state = MergeState::new(&[], std::iter::empty());
        for stored in &edits {
            state.apply(stored.meta, &ChangeBody::AttendeeEdit(stored.edit.clone()));
        }
        let fields: std::collections::BTreeSet<&String> =
            edits.iter().flat_map(|e| e.edit.fields.keys()).collect();
        Ok(fields
            .into_iter()
            .filter_map(|field| {
                let version = state.field_version(attendee_id, field)?;
                Some((field.clone(), version.hlc))
            })
            .collect())
    }
}
