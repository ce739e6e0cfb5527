//! A temporary kiosk store with a signed package of three attendees (one server-signed code,
//! two opaque codes), one gate and one ticket type.

#![allow(dead_code)]

use std::path::PathBuf;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sync_protocol::UnixMillis;
use sync_protocol::crypto::SecretKey;
use sync_protocol::ids::{AttendeeId, EventId, GateId, TicketId, TicketTypeId};
use sync_protocol::model::{
    Attendee, Event, Gate, GateMode, Reentry, Ticket, TicketStatus, TicketType,
};
use sync_protocol::package::{
    PackageBody, PackageFile, PackageMeta, PackageSnapshot, seal_package,
};
use sync_protocol::ticket_code::{CodeClaims, issue_server_code};
use sync_protocol::wire::Cursor;

pub const T: UnixMillis = UnixMillis(1_790_000_000_000);
pub const PIN: &str = "47114711";

pub struct Fixture {
    pub dir: PathBuf,
    pub key: SecretKey,
    pub snapshot: PackageSnapshot,
}

impl Fixture {
    pub fn new(name: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("gp-kiosk-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let rng = &mut ChaCha20Rng::seed_from_u64(7);
        let key = SecretKey::generate(rng);
        let event = Event {
            id: EventId::new(T, rng),
            name: "Harbour Days".into(),
            time_zone: "Europe/Berlin".into(),
            starts_at: T,
            ends_at: T.plus_millis(86_400_000),
        };
        let day = TicketType {
            id: TicketTypeId::new(T, rng),
            name: "Day pass".into(),
            valid_from: None,
            valid_until: None,
        };
        let gate = Gate {
            id: GateId::new(T, rng),
            name: "North".into(),
            allowed_ticket_types: vec![],
            mode: GateMode::EntryAndExit,
            reentry: Reentry::AfterExit,
            required_answers: vec![],
            show_answers: vec![],
            print_badge: Default::default(),
        };
        // Every name is at least five bytes: the raw-file tests search the
        // store's bytes for them, and a three-letter name turns up in a
        // file of ciphertext by chance.
        let people = [
            ("Augusta Ada", "Lovelace", "ada@example.org"),
            ("Grace", "Hopper", "grace@example.org"),
            ("Katherine", "Johnson", "katherine@example.org"),
        ];
        let mut attendees = Vec::new();
        let mut tickets = Vec::new();
        for (i, (first, last, email)) in people.into_iter().enumerate() {
            let attendee = Attendee {
                id: AttendeeId::new(T, rng),
                first_name: first.into(),
                last_name: last.into(),
                email: Some(email.into()),
                phone: Some("+49 30 1234567".into()),
                answers: Default::default(),
                form: None,
            };
            let ticket_id = TicketId::new(T, rng);
            let code = if i == 0 {
                let claims = CodeClaims {
                    ticket_id,
                    ticket_type_id: day.id,
                    valid_from: None,
                    valid_until: None,
                };
                issue_server_code(event.id, &claims, &key)
                    .unwrap()
                    .as_str()
                    .to_owned()
            } else {
                format!("SECRET-CODE-{i}")
            };
            tickets.push(Ticket {
                id: ticket_id,
                attendee_id: attendee.id,
                ticket_type_id: day.id,
                status: TicketStatus::Valid,
                code,
            });
            attendees.push(attendee);
        }
        let mut snapshot = PackageSnapshot {
            event,
            ticket_types: vec![day],
            gates: vec![gate],
            forms: vec![],
            attendees,
            tickets,
            check_ins: vec![],
            certificates: vec![],
            revoked_devices: vec![],
            printed_badges: vec![],
        };
        snapshot.normalize();
        Fixture { dir, key, snapshot }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("kiosk.db")
    }

    /// Every byte of the store on disk (the file and its WAL and shared-memory sides), as one
    /// who copied the folder has them.
    pub fn raw_bytes(&self) -> Vec<u8> {
        let mut raw = std::fs::read(self.path()).unwrap();
        for side in ["kiosk.db-wal", "kiosk.db-shm"] {
            if let Ok(bytes) = std::fs::read(self.dir.join(side)) {
                raw.extend(bytes);
            }
        }
        raw
    }

    pub fn package(&self, snapshot: &PackageSnapshot, version: u64) -> PackageFile {
        let meta = PackageMeta {
            event_id: snapshot.event.id,
            version,
            base_version: None,
            created_at: T,
            cursor: Cursor::START,
        };
        seal_package(meta, &PackageBody::Full(snapshot.clone()), &self.key)
    }

    pub fn event_id(&self) -> EventId {
        self.snapshot.event.id
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
