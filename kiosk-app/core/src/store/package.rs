//! Applying event packages: verified first, then applied in one transaction (all or nothing).
//!
//! A full snapshot replaces everything the package owns; a delta replaces the small tables and
//! upserts or removes attendees, tickets and known check-ins. Check-ins this kiosk made itself and
//! its outbox are never touched by a package, and its own walk-ins survive a snapshot that does
//! not hold them yet (they are replayed from the outbox).
//!
//! A package is a picture as of its cursor. Whatever was pulled after that point would be
//! forgotten (or overwritten by an older status), so applying a package also moves the pull
//! cursor back to the package's: the next pull brings those items again, and applying a pulled
//! item twice changes nothing.

use rand::rngs::OsRng;
use rusqlite::{Transaction, params};
use sync_protocol::changes::{ChangeKind, WalkIn};
use sync_protocol::crypto::{PublicKey, RowTagKey, SealingKey, blind_index, open, seal};
use sync_protocol::ids::EventId;
use sync_protocol::model::{Direction, TicketStatus};
use sync_protocol::package::{
    KnownCheckIn, PackageBody, PackageDelta, PackageFile, PackageFileRef, PackageManifest,
    PackageSnapshot, open_package, open_package_ref,
};
use sync_protocol::ticket_code::TicketCode;

use super::rules::{Rules, write_tags};
use super::timeline::{self, CheckInRow};
use super::{KioskStore, StoreError, row_aad};

const META_PACKAGE_VERSION: &str = "package_version";
const META_PACKAGE_CURSOR: &str = "package_cursor";
/// SQLite's page cache while a package is applied (negative: KiB), and SQLite's default.
const IMPORT_CACHE_KIB: i64 = -16_384;
const DEFAULT_CACHE_KIB: i64 = -2_000;

pub(super) fn status_code(status: TicketStatus) -> i64 {
    match status {
        TicketStatus::Valid => 0,
        TicketStatus::Canceled => 1,
        TicketStatus::Revoked => 2,
    }
}

pub(super) fn direction_code(direction: Direction) -> i64 {
    match direction {
        Direction::Entry => 0,
        Direction::Exit => 1,
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("protocol types serialize")
}

impl KioskStore {
    /// The version of the package applied last (`None`: none yet).
    pub fn package_version(&self) -> Result<Option<u64>, StoreError> {
        self.meta(META_PACKAGE_VERSION)?
            .map(|bytes| {
                String::from_utf8(bytes)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| StoreError::Malformed("package version".into()))
            })
            .transpose()
    }

    /// Verifies `file` against the pinned server key and this kiosk's event, then applies it
    /// atomically. A refused package leaves the store as it was.
    pub fn apply_package(
        &mut self,
        file: &PackageFile,
        server_key: &PublicKey,
        event_id: EventId,
    ) -> Result<PackageManifest, StoreError> {
        let held = self.package_version()?;
        let (manifest, body) = open_package(file, server_key, event_id, held)?;
        self.apply_opened(manifest, &body)
    }

    /// [`KioskStore::apply_package`] for a file's bytes, read in place (the body is not copied).
    pub fn apply_package_bytes(
        &mut self,
        bytes: &[u8],
        server_key: &PublicKey,
        event_id: EventId,
    ) -> Result<PackageManifest, StoreError> {
        let held = self.package_version()?;
        let file = PackageFileRef::from_bytes(bytes)?;
        let (manifest, body) = open_package_ref(&file, server_key, event_id, held)?;
        self.apply_opened(manifest, &body)
    }

    /// Applies a verified package in one transaction. A download under way is dropped with it
    /// (it was for this package, or its base may no longer be the version held).
    pub(super) fn apply_opened(
        &mut self,
        manifest: PackageManifest,
        body: &PackageBody,
    ) -> Result<PackageManifest, StoreError> {
        // Tickets go in at random places of two indexes (ids and blind indexes are random): with
        // SQLite's default 2 MB page cache most inserts would read their page back from the file.
        // A larger cache for the import only; the scans afterwards need no more than the default.
        self.conn
            .pragma_update(None, "cache_size", IMPORT_CACHE_KIB)?;
        let applied = self.apply_opened_in(manifest, body);
        self.conn
            .pragma_update(None, "cache_size", DEFAULT_CACHE_KIB)?;
        applied
    }

    fn apply_opened_in(
        &mut self,
        manifest: PackageManifest,
        body: &PackageBody,
    ) -> Result<PackageManifest, StoreError> {
        self.guests_changed();
        let tx = self.conn.transaction()?;
        super::download::clear_download_in(&tx)?;
        match body {
            PackageBody::Full(snapshot) => {
                for table in [
                    "event",
                    "ticket_types",
                    "gates",
                    "forms",
                    "certificates",
                    "revoked_devices",
                    "attendees",
                    "tickets",
                ] {
                    tx.execute(&format!("delete from {table}"), [])?;
                }
                // Check-ins from other kiosks are replaced; this kiosk's own stay.
                tx.execute(
                    "delete from check_ins where device_id not in (select value from meta where key = 'device_id')",
                    [],
                )?;
                write_small_tables(&tx, &self.tags, snapshot_small(snapshot))?;
                write_people(
                    &self.sealing,
                    &self.index,
                    &tx,
                    &snapshot.attendees,
                    &snapshot.tickets,
                )?;
                write_check_ins(
                    &tx,
                    timeline::RowKeys {
                        tags: &self.tags,
                        sealing: &self.sealing,
                    },
                    &snapshot.check_ins,
                )?;
                let held: std::collections::HashSet<_> =
                    snapshot.tickets.iter().map(|t| t.id).collect();
                let (attendees, tickets): (Vec<_>, Vec<_>) = own_walk_ins(&tx, &self.sealing)?
                    .into_iter()
                    .filter(|w| !held.contains(&w.ticket.id))
                    .map(|w| (w.attendee, w.ticket))
                    .unzip();
                write_people(&self.sealing, &self.index, &tx, &attendees, &tickets)?;
                // Prints are never taken back: the package's list adds to what is known here.
                for ticket in &snapshot.printed_badges {
                    super::prints::mark_printed(&tx, *ticket)?;
                }
            }
            PackageBody::Delta(delta) => {
                for table in [
                    "event",
                    "ticket_types",
                    "gates",
                    "forms",
                    "certificates",
                    "revoked_devices",
                ] {
                    tx.execute(&format!("delete from {table}"), [])?;
                }
                write_small_tables(&tx, &self.tags, delta_small(delta))?;
                for id in &delta.remove_attendees {
                    tx.execute(
                        "delete from attendees where id = ?1",
                        params![id.to_bytes()],
                    )?;
                }
                for id in &delta.remove_tickets {
                    tx.execute("delete from tickets where id = ?1", params![id.to_bytes()])?;
                }
                for id in &delta.remove_check_ins {
                    tx.execute(
                        "delete from check_ins where id = ?1",
                        params![id.to_bytes()],
                    )?;
                }
                write_people(
                    &self.sealing,
                    &self.index,
                    &tx,
                    &delta.upsert_attendees,
                    &delta.upsert_tickets,
                )?;
                write_check_ins(
                    &tx,
                    timeline::RowKeys {
                        tags: &self.tags,
                        sealing: &self.sealing,
                    },
                    &delta.upsert_check_ins,
                )?;
                for ticket in &delta.add_printed_badges {
                    super::prints::mark_printed(&tx, *ticket)?;
                }
            }
        }
        // Edits the package may not hold yet (this kiosk's own, pulled ones) win over its rows.
        super::edits::reapply_edits(&tx, &self.sealing)?;
        timeline::seal_count(&tx, &self.sealing)?;
        // Pull again from the package's point (see the module doc).
        tx.execute(
            "delete from meta where key = ?1",
            params![super::META_CURSOR],
        )?;
        for (key, value) in [
            (META_PACKAGE_VERSION, manifest.version.to_string()),
            (META_PACKAGE_CURSOR, manifest.cursor.to_string()),
        ] {
            tx.execute(
                "insert into meta (key, value) values (?1, ?2)
                 on conflict (key) do update set value = excluded.value",
                params![key, value.into_bytes()],
            )?;
        }
        tx.commit()?;
        Ok(manifest)
    }
}

/// The small tables of a package, as JSON rows.
struct SmallTables<'a> {
    event: &'a sync_protocol::model::Event,
    ticket_types: &'a [sync_protocol::model::TicketType],
    gates: &'a [sync_protocol::model::Gate],
    forms: &'a [sync_protocol::forms::Form],
    certificates:
        &'a [sync_protocol::crypto::Signed<sync_protocol::certificate::DeviceCertificate>],
    revoked_devices: &'a [sync_protocol::ids::DeviceId],
}

fn snapshot_small(s: &PackageSnapshot) -> SmallTables<'_> {
    SmallTables {
        event: &s.event,
        ticket_types: &s.ticket_types,
        gates: &s.gates,
        forms: &s.forms,
        certificates: &s.certificates,
        revoked_devices: &s.revoked_devices,
    }
}

fn delta_small(d: &PackageDelta) -> SmallTables<'_> {
    SmallTables {
        event: &d.event,
        ticket_types: &d.ticket_types,
        gates: &d.gates,
        forms: &d.forms,
        certificates: &d.certificates,
        revoked_devices: &d.revoked_devices,
    }
}

/// Writes the rules of a package whole, with their tags (see `rules`).
fn write_small_tables(
    tx: &Transaction<'_>,
    tags: &RowTagKey,
    t: SmallTables<'_>,
) -> Result<(), StoreError> {
    tx.execute(
        "insert into event (id, body) values (?1, ?2)",
        params![t.event.id.to_bytes(), json(t.event)],
    )?;
    for ticket_type in t.ticket_types {
        tx.execute(
            "insert into ticket_types (id, body) values (?1, ?2)",
            params![ticket_type.id.to_bytes(), json(ticket_type)],
        )?;
    }
    for gate in t.gates {
        tx.execute(
            "insert into gates (id, body) values (?1, ?2)",
            params![gate.id.to_bytes(), json(gate)],
        )?;
    }
    for form in t.forms {
        tx.execute(
            "insert into forms (id, version, body) values (?1, ?2, ?3)",
            params![form.id.to_bytes(), form.version, json(form)],
        )?;
    }
    for certificate in t.certificates {
        tx.execute(
            "insert into certificates (body) values (?1)",
            params![json(certificate)],
        )?;
    }
    for device in t.revoked_devices {
        tx.execute(
            "insert into revoked_devices (device_id) values (?1)",
            params![device.to_bytes()],
        )?;
    }
    for rules in Rules::ALL {
        write_tags(tx, tags, rules)?;
    }
    Ok(())
}

/// The walk-ins registered at this kiosk, from its outbox (which keeps every change made here).
fn own_walk_ins(tx: &Transaction<'_>, sealing: &SealingKey) -> Result<Vec<WalkIn>, StoreError> {
    let mut walk_ins = Vec::new();
    for (seq, _, sealed) in super::outbox::own_changes(tx, sealing, &[ChangeKind::WalkIn.as_str()])?
    {
        let read = open(sealing, &sealed, &row_aad("outbox", &seq.to_be_bytes()))
            .ok()
            .and_then(|plain| serde_json::from_slice::<WalkIn>(&plain).ok());
        match read {
            Some(walk_in) => walk_ins.push(walk_in),
            None => tracing::error!(seq, "an own walk-in in the outbox cannot be read"),
        }
    }
    Ok(walk_ins)
}

/// Rows sealed per batch handed from the sealing thread to the writer (about 1 MB of sealed rows).
const SEAL_BATCH: usize = 4096;

/// One batch of rows ready to insert: ids, indexes and sealed values.
enum SealedBatch {
    Attendees(Vec<([u8; 16], Vec<u8>)>),
    Tickets(Vec<SealedTicket>),
}

struct SealedTicket {
    id: [u8; 16],
    code_index: [u8; sync_protocol::crypto::BLIND_INDEX_LEN],
    attendee_id: [u8; 16],
    ticket_type_id: [u8; 16],
    status: i64,
    sealed: Vec<u8>,
}

/// Writes attendees and tickets. Sealing (AES-256-GCM) and indexing (HMAC) are the CPU part of an
/// import, so a second thread seals batch after batch while this one inserts what is sealed: an
/// import keeps both cores busy, and at most a few batches are held sealed at once.
fn write_people(
    sealing: &SealingKey,
    index: &sync_protocol::crypto::BlindIndexKey,
    tx: &Transaction<'_>,
    attendees: &[sync_protocol::model::Attendee],
    tickets: &[sync_protocol::model::Ticket],
) -> Result<(), StoreError> {
    std::thread::scope(|scope| {
        let (send, batches) = std::sync::mpsc::sync_channel::<Result<SealedBatch, StoreError>>(2);
        scope.spawn(move || {
            for chunk in attendees.chunks(SEAL_BATCH) {
                let rows = chunk
                    .iter()
                    .map(|attendee| {
                        let id = attendee.id.to_bytes();
                        let plaintext = serde_json::to_vec(attendee).expect("attendees serialize");
                        let sealed =
                            seal(sealing, &mut OsRng, &plaintext, &row_aad("attendees", &id));
                        (id, sealed)
                    })
                    .collect();
                if send.send(Ok(SealedBatch::Attendees(rows))).is_err() {
                    return; // the writer stopped on an error
                }
            }
            for chunk in tickets.chunks(SEAL_BATCH) {
                let rows = chunk
                    .iter()
                    .map(|ticket| seal_ticket(sealing, index, ticket))
                    .collect::<Result<Vec<_>, _>>()
                    .map(SealedBatch::Tickets);
                let failed = rows.is_err();
                if send.send(rows).is_err() || failed {
                    return;
                }
            }
        });
        let mut insert_attendee = tx.prepare(
            "insert into attendees (id, sealed) values (?1, ?2)
             on conflict (id) do update set sealed = excluded.sealed",
        )?;
        let mut insert_ticket = tx.prepare(
            "insert into tickets (id, code_index, attendee_id, ticket_type_id, status, sealed)
             values (?1, ?2, ?3, ?4, ?5, ?6)
             on conflict (id) do update set code_index = excluded.code_index,
               attendee_id = excluded.attendee_id, ticket_type_id = excluded.ticket_type_id,
               status = excluded.status, sealed = excluded.sealed",
        )?;
        for batch in batches {
            match batch? {
                SealedBatch::Attendees(rows) => {
                    for (id, sealed) in rows {
                        insert_attendee.execute(params![id, sealed])?;
                    }
                }
                SealedBatch::Tickets(rows) => {
                    for t in rows {
                        insert_ticket.execute(params![
                            t.id,
                            t.code_index,
                            t.attendee_id,
                            t.ticket_type_id,
                            t.status,
                            t.sealed,
                        ])?;
                    }
                }
            }
        }
        Ok(())
    })
}

fn seal_ticket(
    sealing: &SealingKey,
    index: &sync_protocol::crypto::BlindIndexKey,
    ticket: &sync_protocol::model::Ticket,
) -> Result<SealedTicket, StoreError> {
    let code = TicketCode::parse(&ticket.code).map_err(|e| {
        StoreError::Malformed(format!("ticket {} has an unreadable code: {e}", ticket.id))
    })?;
    Ok(SealedTicket {
        id: ticket.id.to_bytes(),
        code_index: blind_index(index, code.as_str()),
        attendee_id: ticket.attendee_id.to_bytes(),
        ticket_type_id: ticket.ticket_type_id.to_bytes(),
        status: status_code(ticket.status),
        sealed: super::tickets::seal_ticket_code(sealing, ticket, &code),
    })
}

/// Writes a package's check-ins (see `timeline`); the caller seals the count at the end.
fn write_check_ins(
    tx: &Transaction<'_>,
    keys: timeline::RowKeys<'_>,
    check_ins: &[KnownCheckIn],
) -> Result<(), StoreError> {
    for known in check_ins {
        let c = &known.check_in;
        let hlc = known
            .hlc
            .to_i64()
            .ok_or_else(|| StoreError::Malformed(format!("check-in {} stamp", c.id)))?;
        let row = CheckInRow {
            annulled: known.annulled,
            ..CheckInRow::of(c, hlc, known.device_id)
        };
        timeline::put_from_package(tx, keys, &row)?;
    }
    Ok(())
}
