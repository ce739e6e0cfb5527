//! What a sync does to the store: acknowledgements of pushed changes, and pulled feed pages
//! applied together with the cursor that follows them (one transaction per page, so a pull cut
//! anywhere resumes without a gap or a repeat).

use rand::rngs::OsRng;
use rusqlite::params;
use sync_protocol::changes::{ChangeBody, ChangeKind};
use sync_protocol::crypto::{SealingKey, blind_index, seal};
use sync_protocol::merge::ChangeMeta;
use sync_protocol::ticket_code::TicketCode;
use sync_protocol::wire::{ChangeResult, ChangeStatus, Cursor, PullItem};

use super::package::status_code;
use super::tickets::{seal_ticket_code, set_status};
use super::timeline::{self, CheckInRow};
use super::{KioskStore, META_CURSOR, StoreError, row_aad};

/// The associated-data table name of a parked change's sealed reason (with its seq as the id).
const REJECT_TABLE: &str = "outbox_reject";

/// A parked change's reason, sealed to its outbox row.
fn seal_reject(key: &sync_protocol::crypto::SealingKey, seq: u64, message: &str) -> Vec<u8> {
    seal(
        key,
        &mut OsRng,
        message.as_bytes(),
        &row_aad(REJECT_TABLE, &seq.to_be_bytes()),
    )
}

/// What applying a pull page did, for progress and live views.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageApplied {
    pub check_ins: u64,
    pub walk_ins: u64,
    pub status_changes: u64,
    pub revoked_devices: u64,
    /// Attendee edits from other kiosks (answers given at their gates).
    pub attendee_edits: u64,
    /// Whether an edit changed a name, email or phone (the guest search must see it).
    pub names_edited: bool,
    /// Items that could not be applied here (logged; the server keeps them).
    pub skipped: u64,
}

/// The meta key of the sealed acknowledgement mark (see [`KioskStore::acknowledged_mark`]).
const META_ACKNOWLEDGED: &str = "acknowledged_seq";

fn put_acknowledged_mark(
    conn: &rusqlite::Connection,
    sealing: &SealingKey,
    mark: u64,
) -> Result<(), StoreError> {
    super::put_sealed_meta_u64(conn, sealing, META_ACKNOWLEDGED, mark)
}

impl KioskStore {
    /// Where the next pull starts: the stored cursor, else the package's.
    pub fn cursor(&self) -> Result<Cursor, StoreError> {
        let text = match self.meta(META_CURSOR)? {
            Some(bytes) => bytes,
            None => match self.meta("package_cursor")? {
                Some(bytes) => bytes,
                None => return Ok(Cursor::START),
            },
        };
        String::from_utf8(text)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| StoreError::Malformed("cursor".into()))
    }

    /// Records the server's answers to a push. Rows up to `acknowledged_seq` that were accepted
    /// or duplicates are marked acknowledged; rejected ones are parked with their reason. Rows the
    /// server has not acknowledged stay pending whatever the answer said.
    pub fn record_push_results(
        &mut self,
        results: &[ChangeResult],
        acknowledged_seq: u64,
    ) -> Result<(), StoreError> {
        let mark = self.acknowledged_mark()?;
        let tx = self.conn.transaction()?;
        for result in results {
            if result.seq > acknowledged_seq {
                continue;
            }
            match &result.status {
                ChangeStatus::Accepted | ChangeStatus::Duplicate => {
                    tx.execute(
                        "update outbox set state = 1 where seq = ?1 and state = 0",
                        params![result.seq as i64],
                    )?;
                }
                ChangeStatus::Rejected { code, message } => {
                    let sealed = seal_reject(&self.sealing, result.seq, message);
                    tx.execute(
                        "update outbox set state = 2, reject_code = ?2, reject_sealed = ?3,
                                           reject_message = null
                         where seq = ?1",
                        params![result.seq as i64, code.as_str(), sealed],
                    )?;
                }
            }
        }
        // Anything at or below the acknowledgement that the answer did not list was stored
        // before (an earlier push whose answer was lost): acknowledged too.
        tx.execute(
            "update outbox set state = 1 where seq <= ?1 and state = 0",
            params![acknowledged_seq as i64],
        )?;
        if acknowledged_seq > mark {
            put_acknowledged_mark(&tx, &self.sealing, acknowledged_seq)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The highest seq the server acknowledged, as sealed in the store: every outbox row above
    /// it is pending, whatever its plain `state` says, so marking rows sent in the file does not
    /// keep them from the server. Absent: 0 (every row is sent again; the server answers
    /// duplicates). One that does not open is a damaged row.
    pub fn acknowledged_mark(&self) -> Result<u64, StoreError> {
        Ok(super::sealed_meta_u64(&self.conn, &self.sealing, META_ACKNOWLEDGED)?.unwrap_or(0))
    }

    /// Seals the acknowledgement mark of a store from before format 2, from the plain states:
    /// the run of rows from seq 1 that are acknowledged or parked (at unlock, once).
    pub(super) fn seal_acknowledged_mark(&mut self) -> Result<(), StoreError> {
        if self.meta(META_ACKNOWLEDGED)?.is_some() {
            return Ok(());
        }
        let first_pending: Option<i64> =
            self.conn
                .query_row("select min(seq) from outbox where state = 0", [], |r| {
                    r.get(0)
                })?;
        let mark: i64 = match first_pending {
            Some(seq) => seq - 1,
            None => self
                .conn
                .query_row("select coalesce(max(seq), 0) from outbox", [], |r| r.get(0))?,
        };
        put_acknowledged_mark(&self.conn, &self.sealing, mark.max(0) as u64)
    }

    /// Parked changes: (seq, kind, code, message), for the coordinator screen. A reason that
    /// does not open (a damaged row) is shown as such; the other rows are unaffected.
    pub fn parked_changes(&self) -> Result<Vec<(u64, String, String, String)>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "select seq, envelope, coalesce(reject_code, ''), reject_sealed, reject_message
             from outbox where state = 2 order by seq",
        )?;
        let rows = statement.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, Option<Vec<u8>>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<Vec<u8>>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        let mut parked = Vec::new();
        for row in rows {
            let (seq, envelope, code, sealed, plain) = row?;
            let kind = super::outbox::open_envelope(&self.sealing, seq as i64, envelope.as_deref())
                .map(|e| e.kind)
                .unwrap_or_else(|_| "(damaged)".to_owned());
            let message = match (sealed, plain) {
                (Some(sealed), _) => self
                    .open_row(REJECT_TABLE, &seq.to_be_bytes(), &sealed)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
                    .unwrap_or_else(|| "(the reason is damaged and cannot be read)".to_owned()),
                (None, Some(plain)) => plain,
                (None, None) => String::new(),
            };
            parked.push((seq, kind, code, message));
        }
        Ok(parked)
    }

    /// Seals the reasons of parked changes that an older version of the kiosk stored in plain
    /// text, and clears the text. Runs at unlock; a no-op once done.
    pub(super) fn seal_plain_reject_messages(&mut self) -> Result<(), StoreError> {
        let plain: Vec<(i64, String)> = {
            let mut statement = self.conn.prepare(
                "select seq, reject_message from outbox where reject_message is not null",
            )?;
            let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        if plain.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        for (seq, message) in plain {
            let sealed = seal_reject(&self.sealing, seq as u64, &message);
            tx.execute(
                "update outbox set reject_sealed = ?2, reject_message = null where seq = ?1",
                params![seq, sealed],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Puts a parked change back in the queue, so the next sync sends it again (a coordinator's
    /// retry, after the server learned its kind or schema). `false`: no parked change `seq`.
    pub fn retry_parked(&mut self, seq: u64) -> Result<bool, StoreError> {
        let changed = self.conn.execute(
            "update outbox set state = 0, reject_code = null, reject_message = null,
                               reject_sealed = null
             where seq = ?1 and state = 2",
            params![seq as i64],
        )?;
        Ok(changed == 1)
    }

    /// Sets a parked change aside (a coordinator looked at it): it is kept with its reason but no
    /// longer counted as parked. `false`: no parked change `seq`.
    pub fn dismiss_parked(&mut self, seq: u64) -> Result<bool, StoreError> {
        let changed = self.conn.execute(
            "update outbox set state = 3 where seq = ?1 and state = 2",
            params![seq as i64],
        )?;
        Ok(changed == 1)
    }

    /// Parked changes a coordinator set aside.
    pub fn dismissed_count(&self) -> Result<u64, StoreError> {
        let n: i64 =
            self.conn
                .query_row("select count(*) from outbox where state = 3", [], |r| {
                    r.get(0)
                })?;
        Ok(n.max(0) as u64)
    }

    /// Applies one pulled page and stores `next_cursor`, atomically.
    pub fn apply_pull_page(
        &mut self,
        items: &[PullItem],
        next_cursor: Cursor,
    ) -> Result<PageApplied, StoreError> {
        let me = self.identity()?.map(|i| i.device_id);
        let mut tx = self.conn.transaction()?;
        let keys = timeline::RowKeys {
            tags: &self.tags,
            sealing: &self.sealing,
        };
        let mut applied = PageApplied::default();
        for item in items {
            // Each item in its own savepoint: one that breaks a local rule (a damaged row, a
            // constraint) is skipped and reported, and the page and its cursor still apply, so
            // one bad item can never stop every later pull.
            let sp = tx.savepoint()?;
            let result = (|| -> Result<(), StoreError> {
                match item {
                    PullItem::DeviceChange { change, .. } => {
                        if Some(change.device_id) == me {
                            return Ok(()); // already here: it was made here
                        }
                        let hlc = change.hlc.to_i64().unwrap_or(i64::MAX);
                        // A change this kiosk cannot read (a newer kind) is skipped; the server has it.
                        let Ok(body) = change.body() else {
                            return Ok(());
                        };
                        match body {
                            ChangeBody::CheckIn(c) => {
                                let row = CheckInRow::of(&c, hlc, change.device_id);
                                timeline::add_known(&sp, keys, &row)?;
                                applied.check_ins += 1;
                            }
                            ChangeBody::CheckInAnnulment(a) => {
                                timeline::annul(
                                    &sp,
                                    keys,
                                    a.check_in_id,
                                    a.ticket_id,
                                    change.device_id,
                                    hlc,
                                )?;
                            }
                            ChangeBody::WalkIn(w) => {
                                let id = w.attendee.id.to_bytes();
                                let person =
                                    serde_json::to_vec(&w.attendee).expect("attendees serialize");
                                sp.execute(
                                    "insert into attendees (id, sealed) values (?1, ?2) on conflict (id) do nothing",
                                    params![id, seal(&self.sealing, &mut OsRng, &person, &row_aad("attendees", &id))],
                                )?;
                                if let Ok(code) = TicketCode::parse(&w.ticket.code) {
                                    let ticket_id = w.ticket.id.to_bytes();
                                    sp.execute(
                                        "insert into tickets (id, code_index, attendee_id, ticket_type_id, status, sealed)
                                         values (?1, ?2, ?3, ?4, ?5, ?6) on conflict do nothing",
                                        params![
                                            ticket_id,
                                            blind_index(&self.index, code.as_str()),
                                            w.ticket.attendee_id.to_bytes(),
                                            w.ticket.ticket_type_id.to_bytes(),
                                            status_code(w.ticket.status),
                                            seal_ticket_code(&self.sealing, &w.ticket, &code),
                                        ],
                                    )?;
                                }
                                applied.walk_ins += 1;
                            }
                            ChangeBody::AttendeeEdit(e) => {
                                let meta = ChangeMeta::from(change);
                                if super::edits::apply_edit(
                                    &sp,
                                    &self.sealing,
                                    change.id,
                                    meta,
                                    &e,
                                )? {
                                    applied.attendee_edits += 1;
                                    applied.names_edited |=
                                        e.fields.keys().any(|f| !f.starts_with("answers."));
                                }
                            }
                            ChangeBody::BadgePrint(p) => {
                                super::prints::mark_printed(&sp, p.ticket_id)?;
                            }
                            ChangeBody::FailedScan(_) => {}
                        }
                    }
                    PullItem::TicketStatus {
                        ticket_id, status, ..
                    } => {
                        set_status(
                            &sp,
                            &self.sealing,
                            &ticket_id.to_bytes(),
                            status_code(*status),
                        )?;
                        applied.status_changes += 1;
                    }
                    PullItem::TicketIssued {
                        attendee, ticket, ..
                    } => {
                        let id = attendee.id.to_bytes();
                        let person = serde_json::to_vec(attendee).expect("attendees serialize");
                        sp.execute(
                            "insert into attendees (id, sealed) values (?1, ?2)
                             on conflict (id) do update set sealed = excluded.sealed",
                            params![
                                id,
                                seal(
                                    &self.sealing,
                                    &mut OsRng,
                                    &person,
                                    &row_aad("attendees", &id)
                                )
                            ],
                        )?;
                        if let Ok(code) = TicketCode::parse(&ticket.code) {
                            let ticket_id = ticket.id.to_bytes();
                            sp.execute(
                                "insert into tickets (id, code_index, attendee_id, ticket_type_id, status, sealed)
                                 values (?1, ?2, ?3, ?4, ?5, ?6)
                                 on conflict (id) do update set code_index = excluded.code_index,
                                   attendee_id = excluded.attendee_id,
                                   ticket_type_id = excluded.ticket_type_id,
                                   status = excluded.status, sealed = excluded.sealed",
                                params![
                                    ticket_id,
                                    blind_index(&self.index, code.as_str()),
                                    ticket.attendee_id.to_bytes(),
                                    ticket.ticket_type_id.to_bytes(),
                                    status_code(ticket.status),
                                    seal_ticket_code(&self.sealing, ticket, &code),
                                ],
                            )?;
                        }
                    }
                    PullItem::DeviceRevoked { device_id, .. } => {
                        super::rules::add_revoked_device(&sp, &self.tags, *device_id)?;
                        applied.revoked_devices += 1;
                    }
                }
                Ok(())
            })();
            match result {
                Ok(()) => sp.commit()?,
                Err(err) => {
                    drop(sp);
                    tracing::error!(error = %err, item = ?item_name(item), "a pulled item cannot be applied here: skipped");
                    applied.skipped += 1;
                }
            }
        }
        timeline::seal_count(&tx, &self.sealing)?;
        tx.execute(
            "insert into meta (key, value) values (?1, ?2)
             on conflict (key) do update set value = excluded.value",
            params![META_CURSOR, next_cursor.to_string().into_bytes()],
        )?;
        tx.commit()?;
        if applied.names_edited {
            // A guest's name or email changed: the index is built again from the rows.
            self.guests_changed();
        }
        // New guests to find (see `search`): walk-ins of other kiosks, tickets issued since.
        for item in items {
            match item {
                PullItem::TicketIssued {
                    attendee, ticket, ..
                } => self.guest_added(attendee, ticket),
                PullItem::DeviceChange { change, .. }
                    if change.kind == ChangeKind::WalkIn.as_str()
                        && Some(change.device_id) != me =>
                {
                    if let Ok(ChangeBody::WalkIn(w)) = change.body() {
                        self.guest_added(&w.attendee, &w.ticket);
                    }
                }
                _ => {}
            }
        }
        Ok(applied)
    }
}

/// What a pulled item is, for the log (never its personal data).
fn item_name(item: &PullItem) -> String {
    match item {
        PullItem::DeviceChange { position, change } => {
            format!(
                "{} {}#{} at {position}",
                change.kind, change.device_id, change.seq
            )
        }
        PullItem::TicketStatus { ticket_id, .. } => format!("ticket status {ticket_id}"),
        PullItem::TicketIssued { ticket, .. } => format!("ticket issued {}", ticket.id),
        PullItem::DeviceRevoked { device_id, .. } => format!("device revoked {device_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::STORE_FORMAT;
    use crate::store::identity::test_identity;
    use sync_protocol::UnixMillis;
    use sync_protocol::crypto::{KdfParams, SecretKey};

    const PIN: &str = "24681012";

    fn pending(store: &KioskStore) -> Vec<u64> {
        store
            .pending_changes(100)
            .unwrap()
            .iter()
            .map(|c| c.seq)
            .collect()
    }

    /// Marking outbox rows sent or parked with plain SQL does not keep them from the server: the
    /// acknowledgement mark is sealed. A store from before format 2 gets its mark from the plain
    /// states once, at unlock.
    #[test]
    fn rows_marked_sent_in_the_file_are_still_pushed() {
        let dir = std::env::temp_dir().join(format!("gp-outbox-mark-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kiosk.db");
        let server = SecretKey::generate(&mut OsRng);
        let device_key = SecretKey::generate(&mut OsRng);
        let mut store = KioskStore::create(&path, PIN, KdfParams::FOR_TESTS).unwrap();
        store
            .save_identity(&test_identity(&server, &device_key), "token", &device_key)
            .unwrap();
        let now = UnixMillis(1_800_000_000_000);
        for _ in 0..4 {
            let body = ChangeBody::AttendeeEdit(sync_protocol::changes::AttendeeEdit {
                attendee_id: sync_protocol::ids::AttendeeId::new(now, &mut OsRng),
                fields: Default::default(),
            });
            store.record(&body, now).unwrap();
        }
        let accepted = |seq| ChangeResult {
            seq,
            status: ChangeStatus::Accepted,
            clock_ahead_ms: None,
        };
        store
            .record_push_results(&[accepted(1), accepted(2)], 2)
            .unwrap();
        assert_eq!(store.acknowledged_mark().unwrap(), 2);
        assert_eq!(pending(&store), [3, 4]);
        assert_eq!(store.outbox_counts().unwrap(), (2, 2, 0));

        // Someone with the file marks the pending rows sent and parked.
        store
            .conn
            .execute("update outbox set state = 1 where seq = 3", [])
            .unwrap();
        store
            .conn
            .execute("update outbox set state = 2 where seq = 4", [])
            .unwrap();
        assert_eq!(pending(&store), [3, 4], "still pushed");
        // The batch after one on its way to the server holds only what follows it, the row
        // marked parked in the file included.
        let after = |seq| -> Vec<u64> {
            store
                .pending_changes_after(seq, 100)
                .unwrap()
                .iter()
                .map(|c| c.seq)
                .collect()
        };
        assert_eq!(after(0), [3, 4]);
        assert_eq!(after(1), [3, 4]);
        assert_eq!(after(3), [4]);
        assert_eq!(after(4), Vec::<u64>::new());
        assert_eq!(store.outbox_counts().unwrap(), (2, 2, 0));
        // Deleting the mark only sends everything again (the server answers duplicates).
        let sealed_mark = store.meta(META_ACKNOWLEDGED).unwrap().unwrap();
        store
            .conn
            .execute(
                "delete from meta where key = ?1",
                params![META_ACKNOWLEDGED],
            )
            .unwrap();
        assert_eq!(pending(&store), [1, 2, 3, 4]);
        // A mark written without the key does not open.
        store
            .conn
            .execute(
                "insert into meta (key, value) values (?1, ?2)",
                params![META_ACKNOWLEDGED, 4u64.to_be_bytes().to_vec()],
            )
            .unwrap();
        assert!(matches!(
            store.pending_changes(100),
            Err(StoreError::DamagedRow { .. })
        ));
        store
            .conn
            .execute(
                "update meta set value = ?2 where key = ?1",
                params![META_ACKNOWLEDGED, sealed_mark],
            )
            .unwrap();
        assert_eq!(pending(&store), [3, 4]);

        // A store an older kiosk left (no mark, plain states) gets its mark at unlock.
        store
            .conn
            .execute("update outbox set state = 0 where seq in (3, 4)", [])
            .unwrap();
        store.downgrade_for_tests(PIN, 1);
        assert!(store.meta(META_ACKNOWLEDGED).unwrap().is_none());
        drop(store);
        let store = KioskStore::unlock(&path, PIN).unwrap();
        assert_eq!(store.format().unwrap(), STORE_FORMAT);
        assert_eq!(store.acknowledged_mark().unwrap(), 2);
        assert_eq!(pending(&store), [3, 4]);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
