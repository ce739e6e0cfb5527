//! Domain effects and conflict detection of pushed changes: the pure half.
//!
//! When a push has stored changes as new and accepted, the filer ([`crate::filer`]) files their
//! effects from the feed (`store::pg::ingest` does the SQL): check-ins and failed scans become
//! rows of `check_ins`, annulments mark their check-in, walk-ins become an attendee and a ticket, attendee edits are
//! kept version by version in `attendee_edits` and the attendee row takes the winning values;
//! badge prints go to `badge_prints`, the print log.
//! Then the merge rules of [`sync_protocol::merge`] run over the facts of the tickets and
//! attendees the batch touched, and the conflicts they report are stored once each under their
//! deterministic id. This module holds the decisions (what a batch contains, which annulments
//! count, which conflicts follow from loaded facts); it does no I/O.
//!
//! Decisions (see also docs/conflicts.md):
//! - An annulment counts only from the device that made the check-in, for the same ticket, and
//!   within [`ANNUL_WINDOW_MS`] of the check-in by HLC wall time (pretix uses the same 15
//!   minutes). Any other annulment is stored in the change log and has no effect.
//! - Offline check-ins are never refused: they are stored and flagged.
//! - A walk-in is never lost: its attendee is always stored; a ticket the tickets table cannot
//!   take (code already used, id taken, unknown ticket type) is parked in
//!   `parked_walk_in_tickets` with an open `parked_ticket` conflict for coordinators.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sync_protocol::changes::{
    AttendeeEdit, BadgePrint, Change, ChangeBody, CheckIn, CheckInAnnulment, FailedScan, FieldEdit,
    FoundBy, WalkIn,
};
use sync_protocol::hlc::Hlc;
use sync_protocol::ids::{AttendeeId, CheckInId, DeviceId, GateId, TicketId};
use sync_protocol::merge::{
    ChangeMeta, CheckInRecord, Conflict, FieldVersion, MergeState, TicketStatusChange,
};
use sync_protocol::model::{Attendee, Gate, GateMode, Reentry};
use uuid::Uuid;

pub use sync_protocol::merge::ANNUL_WINDOW_MS;

/// Kind name of a server-only conflict: a walk-in ticket parked instead of filed.
pub const PARKED_TICKET: &str = "parked_ticket";

/// The conflict kind of an accepted change whose effects could not be filed (a bug, a damaged
/// row): kept in the change log, and shown to coordinators instead of dropped without a word.
pub const UNFILED_CHANGE: &str = "unfiled_change";

/// The device id of edits the server writes itself (a coordinator picking a value).
pub fn server_device() -> DeviceId {
    // The smallest version-7 UUID: sorts before every kiosk on a stamp tie, but the server
    // writes with a stamp above every stored version anyway.
    DeviceId::from_uuid(Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0000))
        .expect("a version-7 uuid")
}

/// One accepted change with its parsed body.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub meta: ChangeMeta,
    pub seq: u64,
    pub body: ChangeBody,
}

/// The accepted changes of one push, by kind, in seq order.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub check_ins: Vec<(ChangeMeta, u64, CheckIn)>,
    pub failed_scans: Vec<(ChangeMeta, u64, FailedScan)>,
    pub annulments: Vec<(ChangeMeta, CheckInAnnulment)>,
    pub walk_ins: Vec<(ChangeMeta, u64, WalkIn)>,
    pub edits: Vec<(ChangeMeta, u64, AttendeeEdit)>,
    pub prints: Vec<(ChangeMeta, u64, BadgePrint)>,
}

impl Batch {
    /// Sorts accepted changes, each with the body the push parsed when it accepted it, by kind.
    pub fn of<'a>(changes: impl IntoIterator<Item = (&'a Change, &'a ChangeBody)>) -> Batch {
        let mut batch = Batch::default();
        for (change, body) in changes {
            let meta = ChangeMeta::from(change);
            match body.clone() {
                ChangeBody::CheckIn(c) => batch.check_ins.push((meta, change.seq, c)),
                ChangeBody::FailedScan(f) => batch.failed_scans.push((meta, change.seq, f)),
                ChangeBody::CheckInAnnulment(a) => batch.annulments.push((meta, a)),
                ChangeBody::WalkIn(w) => batch.walk_ins.push((meta, change.seq, w)),
                ChangeBody::AttendeeEdit(e) => batch.edits.push((meta, change.seq, e)),
                ChangeBody::BadgePrint(p) => batch.prints.push((meta, change.seq, p)),
            }
        }
        batch
    }

    pub fn is_empty(&self) -> bool {
        self.check_ins.is_empty()
            && self.failed_scans.is_empty()
            && self.annulments.is_empty()
            && self.walk_ins.is_empty()
            && self.edits.is_empty()
            && self.prints.is_empty()
    }
}

/// A stored check-in as the merge needs it (`annulled`: by its own device, in the window).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckIn {
    pub record: CheckInRecord,
    pub annulled: bool,
}

/// Whether `annulment`, made as `meta`, annuls `check_in` (the protocol's one rule,
/// [`sync_protocol::merge::annulment_counts`]).
pub fn annulment_counts(
    meta: ChangeMeta,
    annulment: &CheckInAnnulment,
    check_in: &CheckInRecord,
) -> bool {
    sync_protocol::merge::annulment_counts(
        meta,
        annulment.ticket_id,
        ChangeMeta {
            hlc: check_in.hlc,
            device_id: check_in.device_id,
        },
        check_in.ticket_id,
    )
}

/// A gate as the merge needs it: only the re-entry rule matters.
pub fn gate_rule(id: GateId, reentry: Reentry) -> Gate {
    Gate {
        id,
        name: String::new(),
        allowed_ticket_types: Vec::new(),
        mode: GateMode::EntryAndExit,
        reentry,
        required_answers: Vec::new(),
        show_answers: vec![],
        print_badge: Default::default(),
    }
}

/// Double admissions and admissions while canceled or revoked of `tickets`, from every stored
/// admitting check-in of those tickets (ticket ids already mapped to their canonical ticket).
pub fn ticket_conflicts(
    gates: &[Gate],
    check_ins: &[StoredCheckIn],
    statuses: &[TicketStatusChange],
    tickets: &BTreeSet<TicketId>,
) -> Vec<Conflict> {
    let mut state = MergeState::new(gates, []);
    for stored in check_ins {
        let r = &stored.record;
        let meta = ChangeMeta {
            hlc: r.hlc,
            device_id: r.device_id,
        };
        state.apply(
            meta,
            &ChangeBody::CheckIn(CheckIn {
                id: r.check_in_id,
                ticket_id: r.ticket_id,
                gate_id: r.gate_id,
                direction: r.direction,
                verdict: r.verdict,
                offline: r.offline,
                scanned_at: r.scanned_at,
                found_by: FoundBy::Code,
            }),
        );
        if stored.annulled {
            state.apply(
                meta,
                &ChangeBody::CheckInAnnulment(CheckInAnnulment {
                    check_in_id: r.check_in_id,
                    ticket_id: r.ticket_id,
                    reason: String::new(),
                }),
            );
        }
    }
    for status in statuses {
        state.apply_status(*status);
    }
    tickets
        .iter()
        .flat_map(|&t| state.ticket_conflicts(t))
        .collect()
}

/// A stored version of one attendee field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEdit {
    pub attendee_id: AttendeeId,
    pub field: String,
    pub version: FieldVersion,
}

/// The attendees with every stored version of their fields merged: the rows to write back, and
/// the field conflicts.
pub fn merge_edits(
    attendees: Vec<Attendee>,
    edits: &[StoredEdit],
) -> (Vec<(Attendee, Hlc)>, Vec<Conflict>) {
    let ids: Vec<AttendeeId> = attendees.iter().map(|a| a.id).collect();
    let mut state = MergeState::new(&[], attendees);
    let mut latest: BTreeMap<AttendeeId, Hlc> = BTreeMap::new();
    for edit in edits {
        let v = &edit.version;
        let meta = ChangeMeta {
            hlc: v.hlc,
            device_id: v.device_id,
        };
        state.apply(
            meta,
            &ChangeBody::AttendeeEdit(AttendeeEdit {
                attendee_id: edit.attendee_id,
                fields: [(
                    edit.field.clone(),
                    FieldEdit {
                        value: v.value.clone(),
                        seen: v.seen,
                    },
                )]
                .into(),
            }),
        );
        let last = latest.entry(edit.attendee_id).or_default();
        *last = (*last).max(v.hlc);
    }
    let rows = ids
        .iter()
        .filter_map(|id| Some((state.attendee(*id)?, latest.get(id).copied()?)))
        .collect();
    let conflicts = ids
        .iter()
        .chain(edits.iter().map(|e| &e.attendee_id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .flat_map(|&id| state.field_conflicts(id))
        .collect();
    (rows, conflicts)
}

/// An attendee already stored that a new walk-in may duplicate.
#[derive(Debug, Clone)]
pub enum Registered {
    /// Imported or issued at the office.
    Package(Attendee),
    /// An earlier walk-in, with the change that registered it.
    WalkIn(ChangeMeta, WalkIn),
}

/// Possible duplicates among the new walk-ins and the stored attendees that look like them.
/// Only conflicts naming at least one new walk-in are returned.
pub fn duplicate_conflicts(
    stored: Vec<Registered>,
    new_walk_ins: &[(ChangeMeta, u64, WalkIn)],
) -> Vec<Conflict> {
    let mut package = Vec::new();
    let mut walk_ins = Vec::new();
    for registered in stored {
        match registered {
            Registered::Package(a) => package.push(a),
            Registered::WalkIn(meta, w) => walk_ins.push((meta, w)),
        }
    }
    let mut state = MergeState::new(&[], package);
    for (meta, w) in &walk_ins {
        state.apply(*meta, &ChangeBody::WalkIn(w.clone()));
    }
    let new: BTreeSet<AttendeeId> = new_walk_ins.iter().map(|(_, _, w)| w.attendee.id).collect();
    for (meta, _, w) in new_walk_ins {
        state.apply(*meta, &ChangeBody::WalkIn(w.clone()));
    }
    state
        .conflicts()
        .into_iter()
        .filter(|c| match c {
            Conflict::PossibleDuplicate { newer, older, .. } => {
                new.contains(newer) || new.contains(older)
            }
            _ => false,
        })
        .collect()
}

/// The normalised email used to find duplicate candidates (as the merge compares it).
pub fn email_key(email: Option<&str>) -> Option<String> {
    let email = email?.trim().to_lowercase();
    (!email.is_empty()).then_some(email)
}

/// The last six digits of a phone number, shared by its national and international forms.
pub fn phone_tail(phone: Option<&str>) -> Option<String> {
    let digits: String = phone?.chars().filter(char::is_ascii_digit).collect();
    (digits.len() >= 6).then(|| digits[digits.len() - 6..].to_owned())
}

/// A conflict as a row of the `conflicts` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictRow {
    pub id: Uuid,
    pub kind: String,
    pub key: String,
    pub records: Vec<Uuid>,
    pub detail: Value,
    pub at: Hlc,
}

impl ConflictRow {
    /// The row of a conflict the merge found.
    pub fn of(conflict: &Conflict) -> ConflictRow {
        let records = match conflict {
            Conflict::DoubleAdmission {
                ticket_id,
                first,
                second,
            } => vec![
                ticket_id.as_uuid(),
                first.check_in_id.as_uuid(),
                second.check_in_id.as_uuid(),
            ],
            Conflict::AdmittedWhileCanceled {
                ticket_id,
                admission,
                ..
            }
            | Conflict::AdmittedWhileRevoked {
                ticket_id,
                admission,
                ..
            } => vec![ticket_id.as_uuid(), admission.check_in_id.as_uuid()],
            Conflict::FieldConflict { attendee_id, .. } => vec![attendee_id.as_uuid()],
            Conflict::PossibleDuplicate { newer, older, .. } => {
                vec![newer.as_uuid(), older.as_uuid()]
            }
        };
        ConflictRow {
            id: conflict.id().as_uuid(),
            kind: conflict.kind().as_str().to_owned(),
            key: conflict.key(),
            records,
            detail: serde_json::to_value(conflict).expect("conflicts serialize"),
            at: conflict.at(),
        }
    }

    /// An accepted change whose effects could not be filed, with the reason (a conflict only the
    /// server knows). Its records: the change's entity (a ticket or attendee id) when it is one.
    pub fn unfiled_change(change: &Change, reason: &str) -> ConflictRow {
        let key = format!("{UNFILED_CHANGE}/{}/{}", change.device_id, change.seq);
        let digest = Sha256::digest(key.as_bytes());
        let mut random = [0u8; 10];
        random.copy_from_slice(&digest[..10]);
        let id = uuid::Builder::from_unix_timestamp_millis(change.hlc.wall_ms, &random).into_uuid();
        ConflictRow {
            id,
            kind: UNFILED_CHANGE.to_owned(),
            key,
            records: change.entity_id.parse().into_iter().collect(),
            detail: json!({
                "kind": UNFILED_CHANGE,
                "device_id": change.device_id,
                "seq": change.seq,
                "change_id": change.id,
                "change_kind": change.kind,
                "entity_id": change.entity_id,
                "reason": reason,
                "hlc": change.hlc,
            }),
            at: change.hlc,
        }
    }

    /// A walk-in ticket parked instead of filed: a conflict only the server knows.
    pub fn parked_ticket(
        ticket_id: TicketId,
        attendee_id: AttendeeId,
        code: &str,
        reason: &str,
        meta: ChangeMeta,
    ) -> ConflictRow {
        let key = format!("{PARKED_TICKET}/{ticket_id}");
        let digest = Sha256::digest(key.as_bytes());
        let mut random = [0u8; 10];
        random.copy_from_slice(&digest[..10]);
        let id = uuid::Builder::from_unix_timestamp_millis(meta.hlc.wall_ms, &random).into_uuid();
        ConflictRow {
            id,
            kind: PARKED_TICKET.to_owned(),
            key,
            records: vec![ticket_id.as_uuid(), attendee_id.as_uuid()],
            detail: json!({
                "kind": PARKED_TICKET,
                "ticket_id": ticket_id,
                "attendee_id": attendee_id,
                "code": code,
                "reason": reason,
                "device_id": meta.device_id,
                "hlc": meta.hlc,
            }),
            at: meta.hlc,
        }
    }
}

/// Advisory locks: pushes that touch the same tickets or attendees take their facts in turn,
/// so two kiosks admitting one ticket at once still see each other's admission.
///
/// Two levels keep both big batches and many small pushes cheap. A push touching at most
/// [`FINE_LOCK_LIMIT`] records takes its [`LOCK_BUCKETS`] coarse buckets in shared mode and one
/// exclusive lock per record: small pushes of different tickets run side by side. A bigger push
/// takes its coarse buckets exclusively (at most 64 locks for a batch of 1000). Walk-ins also take
/// one exclusive lock per event (duplicate detection reads every attendee that looks alike).
pub const LOCK_BUCKETS: u64 = 64;
/// The most records a push locks one by one: the backlog a kiosk pushes when the network comes
/// back is usually within it, so 200 such pushes at once do not queue on the coarse buckets.
/// Postgres holds every advisory lock in one shared table of `max_locks_per_transaction` x
/// `max_connections` (6,400 by default): a pool of 32 connections each holding 64 + 128 locks
/// stays within it.
pub const FINE_LOCK_LIMIT: usize = 128;

/// The locks of one push, in the order to take them: each step is (sorted keys, shared?). Keys
/// grow from step to step, so every transaction takes locks in one global order: no deadlock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockPlan {
    pub steps: Vec<(Vec<i64>, bool)>,
}

/// The lock plan of a push to `event` for these tickets and attendees, and the event's walk-in
/// lock when the batch has walk-ins. Every key carries 14 bits of the event id, so pushes to
/// different events (almost) never wait on each other.
pub fn lock_keys(
    event: Uuid,
    tickets: impl IntoIterator<Item = Uuid>,
    attendees: impl IntoIterator<Item = Uuid>,
    walk_ins: bool,
) -> LockPlan {
    let event_bits = ((event.as_u64_pair().1 & 0x3fff) as i64) << 34;
    const COARSE: i64 = 0x4750 << 48;
    const FINE: i64 = 0x4751 << 48;
    let records: BTreeSet<(i64, Uuid)> = tickets
        .into_iter()
        .map(|t| (1, t))
        .chain(attendees.into_iter().map(|a| (2, a)))
        .collect();
    let bucket = |id: Uuid| (id.as_u64_pair().1 % LOCK_BUCKETS) as i64;
    let coarse: BTreeSet<i64> = records
        .iter()
        .map(|&(ns, id)| COARSE | event_bits | (ns << 16) | bucket(id))
        .collect();
    let fine_mode = records.len() <= FINE_LOCK_LIMIT;
    let mut steps = Vec::new();
    if !coarse.is_empty() {
        steps.push((coarse.into_iter().collect(), fine_mode));
    }
    if walk_ins {
        steps.push((vec![COARSE | event_bits | (3 << 16)], false));
    }
    if fine_mode && !records.is_empty() {
        let fine: BTreeSet<i64> = records
            .iter()
            .map(|&(ns, id)| {
                FINE | event_bits | (ns << 32) | (id.as_u64_pair().1 & 0xffff_ffff) as i64
            })
            .collect();
        steps.push((fine.into_iter().collect(), false));
    }
    LockPlan { steps }
}

/// The check-in record of a stored fact id, for annulment lookups.
pub type CheckInIndex = BTreeMap<CheckInId, CheckInRecord>;

#[cfg(test)]
mod tests {
    use super::*;
    use sync_protocol::model::Direction;
    use sync_protocol::verdict::VerdictCode;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n)
    }

    fn record(n: u128, device: u128, wall: u64, gate: u128) -> StoredCheckIn {
        StoredCheckIn {
            record: CheckInRecord {
                hlc: Hlc::new(wall, 0),
                device_id: DeviceId::from_uuid(id(100 + device)).unwrap(),
                check_in_id: CheckInId::from_uuid(id(n)).unwrap(),
                ticket_id: TicketId::from_uuid(id(1)).unwrap(),
                gate_id: GateId::from_uuid(id(200 + gate)).unwrap(),
                direction: Direction::Entry,
                verdict: VerdictCode::Admitted,
                offline: true,
                scanned_at: sync_protocol::UnixMillis(wall),
            },
            annulled: false,
        }
    }

    #[test]
    fn second_admission_at_a_never_gate_conflicts_once_and_annulment_clears_it() {
        let gates = [gate_rule(
            GateId::from_uuid(id(200)).unwrap(),
            Reentry::Never,
        )];
        let tickets = [TicketId::from_uuid(id(1)).unwrap()].into();
        let mut facts = vec![record(10, 1, 1000, 0), record(11, 2, 2000, 0)];
        let conflicts = ticket_conflicts(&gates, &facts, &[], &tickets);
        assert_eq!(conflicts.len(), 1);
        assert_eq!(ConflictRow::of(&conflicts[0]).kind, "double_admission");
        facts[1].annulled = true;
        assert!(ticket_conflicts(&gates, &facts, &[], &tickets).is_empty());
    }

    #[test]
    fn annulments_count_only_from_the_same_device_within_the_window() {
        let check_in = record(10, 1, 1_000_000, 0).record;
        let annul = CheckInAnnulment {
            check_in_id: check_in.check_in_id,
            ticket_id: check_in.ticket_id,
            reason: "turnstile".into(),
        };
        let meta = |device: u128, wall: u64| ChangeMeta {
            hlc: Hlc::new(wall, 0),
            device_id: DeviceId::from_uuid(id(100 + device)).unwrap(),
        };
        assert!(annulment_counts(meta(1, 1_000_500), &annul, &check_in));
        assert!(!annulment_counts(meta(2, 1_000_500), &annul, &check_in));
        assert!(!annulment_counts(
            meta(1, 1_000_000 + ANNUL_WINDOW_MS + 1),
            &annul,
            &check_in
        ));
        assert!(!annulment_counts(meta(1, 999_000), &annul, &check_in));
    }

    #[test]
    fn keys_and_lock_order() {
        assert_eq!(email_key(Some(" Ann@X.org ")), Some("ann@x.org".into()));
        assert_eq!(email_key(Some("  ")), None);
        assert_eq!(phone_tail(Some("+49 170 1234567")), Some("234567".into()));
        assert_eq!(phone_tail(Some("123")), None);
        let plan = lock_keys(id(9), [id(5), id(5), id(69)], [id(5)], true);
        let keys: Vec<i64> = plan.steps.iter().flat_map(|(k, _)| k.clone()).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "one global order");
        let shared: Vec<bool> = plan.steps.iter().map(|(_, s)| *s).collect();
        assert_eq!(
            shared,
            [true, false, false],
            "small push: shared buckets, own records"
        );
        assert_eq!(plan.steps[0].0.len(), 2, "5 and 69 share a ticket bucket");
        assert_eq!(plan.steps[2].0.len(), 3);
        let many = lock_keys(id(9), (0..1000).map(id), [], false);
        assert_eq!(many.steps.len(), 1);
        assert_eq!((many.steps[0].0.len(), many.steps[0].1), (64, false));
        let elsewhere = lock_keys(id(10), (0..1000).map(id), [], false);
        assert!(
            elsewhere.steps[0]
                .0
                .iter()
                .all(|k| !many.steps[0].0.contains(k)),
            "pushes to two events take different locks"
        );
        assert_eq!(server_device().as_uuid().get_version_num(), 7);
    }
}
