//! Merge rules: how the changes of many kiosks combine into one state, and the conflicts that
//! state holds (design: "Conflict policy").
//!
//! Everything here is a function of the **set** of changes seen, never of their arrival order, so
//! the server and every kiosk that has seen the same changes agree, and a replay is a no-op.
//!
//! - **Check-ins** are grow-only facts, ordered by (HLC, device id, check-in id). The earliest
//!   admission wins; a later admission that the scanning gate's re-entry rule would have refused
//!   is a [`Conflict::DoubleAdmission`]. Re-entry is judged across all gates, exactly as
//!   [`crate::verdict::decide`] does, and a check-in at a gate the package does not know is judged
//!   as [`Reentry::Never`] (strictest: nothing slips past unreported). An admission stamped after
//!   the ticket was canceled or revoked is flagged. An annulment counts only when it comes from
//!   the device that made the check-in. Nothing is discarded.
//! - **Attendee edits**: per field, the version with the largest (HLC, device id) wins (then the
//!   value's JSON text, so even a forged tie is deterministic). Versions are chained in that
//!   order; a version whose `seen` is not the stamp of its predecessor overwrote a value its
//!   writer never saw, and a [`Conflict::FieldConflict`] keeps both values. Concurrent writes of
//!   the same value are not a conflict.
//! - **Walk-ins** are never merged automatically: [`possible_duplicate`] flags each newer walk-in
//!   against every older walk-in and package attendee that looks like the same person.
//!
//! Each conflict has a deterministic [`Conflict::key`] and [`Conflict::id`], so the server stores
//! it once however often it is recomputed.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::changes::{AttendeeEdit, Change, ChangeBody, ChangeError, CheckIn, WalkIn};
use crate::hlc::Hlc;
use crate::ids::{AttendeeId, CheckInId, ConflictId, DeviceId, GateId, TicketId};
use crate::model::{Attendee, Direction, Gate, Reentry, TicketStatus};
use crate::time::UnixMillis;
use crate::verdict::{Presence, VerdictCode};

/// The envelope fields the merge needs: who made a change, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChangeMeta {
    pub hlc: Hlc,
    pub device_id: DeviceId,
}

impl From<&Change> for ChangeMeta {
    fn from(change: &Change) -> Self {
        Self {
            hlc: change.hlc,
            device_id: change.device_id,
        }
    }
}

/// How long after its check-in an annulment still counts, by HLC wall time (pretix uses the same
/// 15 minutes). Kiosks offer "undo" for a shorter time (the person is still at the gate).
pub const ANNUL_WINDOW_MS: u64 = 15 * 60_000;

/// Whether an annulment stamped `annulment` for `annulled_ticket` annuls the check-in stamped
/// `check_in` of `ticket`: only from the device that made the check-in, for the same ticket,
/// stamped after it and within [`ANNUL_WINDOW_MS`]. The server, every kiosk and the merge apply
/// this one rule, so they agree on which check-ins count.
pub fn annulment_counts(
    annulment: ChangeMeta,
    annulled_ticket: TicketId,
    check_in: ChangeMeta,
    ticket: TicketId,
) -> bool {
    annulment.device_id == check_in.device_id
        && annulled_ticket == ticket
        && annulment.hlc >= check_in.hlc
        && annulment.hlc.wall_ms - check_in.hlc.wall_ms <= ANNUL_WINDOW_MS
}

/// A ticket status set by the server (cancel, revoke, reinstate), with its stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TicketStatusChange {
    pub ticket_id: TicketId,
    pub status: TicketStatus,
    pub hlc: Hlc,
}

/// A check-in as merged. The field order is the merge order: (hlc, device, check-in id, ...).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CheckInRecord {
    pub hlc: Hlc,
    pub device_id: DeviceId,
    pub check_in_id: CheckInId,
    pub ticket_id: TicketId,
    pub gate_id: GateId,
    pub direction: Direction,
    pub verdict: VerdictCode,
    pub offline: bool,
    pub scanned_at: UnixMillis,
}

impl CheckInRecord {
    /// The record of `check_in` made as `meta` says.
    pub fn new(meta: ChangeMeta, check_in: &CheckIn) -> Self {
        Self {
            hlc: meta.hlc,
            device_id: meta.device_id,
            check_in_id: check_in.id,
            ticket_id: check_in.ticket_id,
            gate_id: check_in.gate_id,
            direction: check_in.direction,
            verdict: check_in.verdict,
            offline: check_in.offline,
            scanned_at: check_in.scanned_at,
        }
    }

    /// A short reference for conflict records.
    pub fn admission(&self) -> AdmissionRef {
        AdmissionRef {
            check_in_id: self.check_in_id,
            gate_id: self.gate_id,
            device_id: self.device_id,
            hlc: self.hlc,
        }
    }
}

/// The check-in named by a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AdmissionRef {
    pub check_in_id: CheckInId,
    pub gate_id: GateId,
    pub device_id: DeviceId,
    pub hlc: Hlc,
}

/// A walk-in as merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkInRecord {
    pub meta: ChangeMeta,
    pub walk_in: WalkIn,
}

impl WalkInRecord {
    /// Merge order: (hlc, device, attendee id), then the payload text for a forged tie.
    fn sort_key(&self) -> (ChangeMeta, AttendeeId) {
        (self.meta, self.walk_in.attendee.id)
    }

    fn precedes(&self, other: &Self) -> bool {
        let text = |r: &Self| serde_json::to_string(&r.walk_in).unwrap_or_default();
        (self.sort_key(), text(self)) < (other.sort_key(), text(other))
    }
}

/// One written version of an attendee field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldVersion {
    pub hlc: Hlc,
    pub device_id: DeviceId,
    pub value: Value,
    /// The stamp of the version its writer replaced (`None`: the package's value).
    pub seen: Option<Hlc>,
}

impl Ord for FieldVersion {
    /// (hlc, device), then the value's JSON text and `seen`, which only a forged tie reaches.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.hlc, self.device_id)
            .cmp(&(other.hlc, other.device_id))
            .then_with(|| self.value.to_string().cmp(&other.value.to_string()))
            .then_with(|| self.seen.cmp(&other.seen))
    }
}

impl PartialOrd for FieldVersion {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Why two attendees look like the same person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateReason {
    SameEmail,
    SameNameAndPhone,
}

/// The kind of a conflict, as stored in a database column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    DoubleAdmission,
    AdmittedWhileCanceled,
    AdmittedWhileRevoked,
    FieldConflict,
    PossibleDuplicate,
}

impl ConflictKind {
    /// Stable name, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictKind::DoubleAdmission => "double_admission",
            ConflictKind::AdmittedWhileCanceled => "admitted_while_canceled",
            ConflictKind::AdmittedWhileRevoked => "admitted_while_revoked",
            ConflictKind::FieldConflict => "field_conflict",
            ConflictKind::PossibleDuplicate => "possible_duplicate",
        }
    }
}

/// A conflict found by the merge, with both sides. Tagged by `kind` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Conflict {
    /// A ticket admitted again where the gate's re-entry rule would have refused it.
    DoubleAdmission {
        ticket_id: TicketId,
        /// The admission that wins (the one the rule counted against the second).
        first: AdmissionRef,
        second: AdmissionRef,
    },
    /// Admitted after the server had canceled the ticket.
    AdmittedWhileCanceled {
        ticket_id: TicketId,
        admission: AdmissionRef,
        /// Stamp of the status change in force at the admission.
        status_hlc: Hlc,
    },
    /// Admitted after the server had revoked the ticket.
    AdmittedWhileRevoked {
        ticket_id: TicketId,
        admission: AdmissionRef,
        status_hlc: Hlc,
    },
    /// A field written over a version its writer had not seen.
    FieldConflict {
        attendee_id: AttendeeId,
        field: String,
        overwritten: FieldVersion,
        overwriting: FieldVersion,
    },
    /// A walk-in that looks like an earlier walk-in or a package attendee.
    PossibleDuplicate {
        newer: AttendeeId,
        older: AttendeeId,
        reason: DuplicateReason,
        /// Stamp of the newer walk-in.
        registered_at: Hlc,
    },
}

impl Conflict {
    /// The kind of this conflict.
    pub fn kind(&self) -> ConflictKind {
        match self {
            Conflict::DoubleAdmission { .. } => ConflictKind::DoubleAdmission,
            Conflict::AdmittedWhileCanceled { .. } => ConflictKind::AdmittedWhileCanceled,
            Conflict::AdmittedWhileRevoked { .. } => ConflictKind::AdmittedWhileRevoked,
            Conflict::FieldConflict { .. } => ConflictKind::FieldConflict,
            Conflict::PossibleDuplicate { .. } => ConflictKind::PossibleDuplicate,
        }
    }

    /// When the conflict arose: the stamp of the later record involved.
    pub fn at(&self) -> Hlc {
        match self {
            Conflict::DoubleAdmission { second, .. } => second.hlc,
            Conflict::AdmittedWhileCanceled { admission, .. }
            | Conflict::AdmittedWhileRevoked { admission, .. } => admission.hlc,
            Conflict::FieldConflict { overwriting, .. } => overwriting.hlc,
            Conflict::PossibleDuplicate { registered_at, .. } => *registered_at,
        }
    }

    /// A readable key naming the records involved: the same conflict always has the same key.
    pub fn key(&self) -> String {
        let kind = self.kind().as_str();
        match self {
            Conflict::DoubleAdmission {
                ticket_id,
                first,
                second,
            } => format!(
                "{kind}/{ticket_id}/{}/{}",
                first.check_in_id, second.check_in_id
            ),
            Conflict::AdmittedWhileCanceled {
                ticket_id,
                admission,
                ..
            }
            | Conflict::AdmittedWhileRevoked {
                ticket_id,
                admission,
                ..
            } => format!("{kind}/{ticket_id}/{}", admission.check_in_id),
            Conflict::FieldConflict {
                attendee_id,
                field,
                overwritten,
                overwriting,
            } => format!(
                "{kind}/{attendee_id}/{}/{}/{field}",
                version_key(overwritten),
                version_key(overwriting)
            ),
            Conflict::PossibleDuplicate { newer, older, .. } => format!("{kind}/{older}/{newer}"),
        }
    }

    /// A deterministic UUIDv7: the wall time of [`Conflict::at`], then 74 bits of SHA-256 of the
    /// key. Sorts by when the conflict arose.
    pub fn id(&self) -> ConflictId {
        let digest = Sha256::digest(self.key().as_bytes());
        let mut random = [0u8; 10];
        random.copy_from_slice(&digest[..10]);
        let uuid = uuid::Builder::from_unix_timestamp_millis(self.at().wall_ms, &random);
        ConflictId::from_uuid(uuid.into_uuid()).expect("uuid::Builder makes version-7 UUIDs")
    }
}

fn version_key(version: &FieldVersion) -> String {
    format!("{}-{}", version.hlc.to_u64(), version.device_id)
}

/// The merged state of one event: everything applied so far, and what follows from it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergeState {
    reentry: BTreeMap<GateId, Reentry>,
    package: BTreeMap<AttendeeId, Attendee>,
    package_index: DuplicateIndex,
    check_ins: BTreeMap<TicketId, BTreeMap<CheckInId, CheckInRecord>>,
    /// (ticket, check-in) -> who annulled it, when.
    annulments: BTreeMap<(TicketId, CheckInId), BTreeSet<ChangeMeta>>,
    statuses: BTreeMap<TicketId, BTreeSet<(Hlc, TicketStatus)>>,
    edits: BTreeMap<AttendeeId, BTreeMap<String, BTreeSet<FieldVersion>>>,
    walk_ins: BTreeMap<AttendeeId, WalkInRecord>,
    /// Tickets whose badge was printed (a set: the order of prints does not matter).
    printed_badges: BTreeSet<TicketId>,
}

impl MergeState {
    /// An empty state for an event with these gates and package attendees.
    pub fn new<'a>(
        gates: impl IntoIterator<Item = &'a Gate>,
        attendees: impl IntoIterator<Item = Attendee>,
    ) -> Self {
        let package: BTreeMap<_, _> = attendees.into_iter().map(|a| (a.id, a)).collect();
        let mut package_index = DuplicateIndex::default();
        for attendee in package.values() {
            package_index.insert(attendee.id, &DuplicateKeys::of(attendee));
        }
        Self {
            reentry: gates.into_iter().map(|g| (g.id, g.reentry)).collect(),
            package,
            package_index,
            ..Self::default()
        }
    }

    /// Parses and applies one outbox row. Returns whether the state changed.
    pub fn apply_change(&mut self, change: &Change) -> Result<bool, ChangeError> {
        let body = change.body()?;
        Ok(self.apply(ChangeMeta::from(change), &body))
    }

    /// Applies a parsed change. Returns whether the state changed (a replay never does).
    /// Failed scans are audit records and change nothing here.
    pub fn apply(&mut self, meta: ChangeMeta, body: &ChangeBody) -> bool {
        match body {
            ChangeBody::CheckIn(check_in) => self.add_check_in(CheckInRecord::new(meta, check_in)),
            ChangeBody::FailedScan(_) => false,
            ChangeBody::CheckInAnnulment(a) => self
                .annulments
                .entry((a.ticket_id, a.check_in_id))
                .or_default()
                .insert(meta),
            ChangeBody::WalkIn(walk_in) => self.add_walk_in(WalkInRecord {
                meta,
                walk_in: walk_in.clone(),
            }),
            ChangeBody::AttendeeEdit(edit) => self.add_edit(meta, edit),
            ChangeBody::BadgePrint(print) => self.printed_badges.insert(print.ticket_id),
        }
    }

    /// Whether some change printed the badge of `ticket`.
    pub fn badge_printed(&self, ticket: TicketId) -> bool {
        self.printed_badges.contains(&ticket)
    }

    /// Applies a ticket status change from the server. Returns whether the state changed.
    pub fn apply_status(&mut self, change: TicketStatusChange) -> bool {
        self.statuses
            .entry(change.ticket_id)
            .or_default()
            .insert((change.hlc, change.status))
    }

    /// Same ticket and check-in id twice: the smaller record is kept, so the result is the same
    /// in any order.
    fn add_check_in(&mut self, record: CheckInRecord) -> bool {
        let by_id = self.check_ins.entry(record.ticket_id).or_default();
        match by_id.entry(record.check_in_id) {
            Entry::Vacant(slot) => {
                slot.insert(record);
                true
            }
            Entry::Occupied(mut slot) if record < *slot.get() => {
                slot.insert(record);
                true
            }
            Entry::Occupied(_) => false,
        }
    }

    fn add_walk_in(&mut self, record: WalkInRecord) -> bool {
        match self.walk_ins.entry(record.walk_in.attendee.id) {
            Entry::Vacant(slot) => {
                slot.insert(record);
                true
            }
            Entry::Occupied(mut slot) if record.precedes(slot.get()) => {
                slot.insert(record);
                true
            }
            Entry::Occupied(_) => false,
        }
    }

    fn add_edit(&mut self, meta: ChangeMeta, edit: &AttendeeEdit) -> bool {
        let fields = self.edits.entry(edit.attendee_id).or_default();
        let mut changed = false;
        for (field, edit) in &edit.fields {
            changed |= fields
                .entry(field.clone())
                .or_default()
                .insert(FieldVersion {
                    hlc: meta.hlc,
                    device_id: meta.device_id,
                    value: edit.value.clone(),
                    seen: edit.seen,
                });
        }
        changed
    }

    /// Every check-in of a ticket, annulled or refused ones too, in merge order.
    pub fn check_ins(&self, ticket_id: TicketId) -> Vec<&CheckInRecord> {
        let mut records: Vec<_> = self
            .check_ins
            .get(&ticket_id)
            .into_iter()
            .flat_map(|by_id| by_id.values())
            .collect();
        records.sort();
        records
    }

    /// Whether the device that made this check-in annulled it.
    pub fn is_annulled(&self, record: &CheckInRecord) -> bool {
        let made = ChangeMeta {
            hlc: record.hlc,
            device_id: record.device_id,
        };
        self.annulments
            .get(&(record.ticket_id, record.check_in_id))
            .is_some_and(|by| {
                by.iter().any(|&annulment| {
                    annulment_counts(annulment, record.ticket_id, made, record.ticket_id)
                })
            })
    }

    /// Check-ins where someone passed (admitted, not annulled), entries and exits, in order.
    fn passes(&self, ticket_id: TicketId) -> impl Iterator<Item = &CheckInRecord> {
        self.check_ins(ticket_id)
            .into_iter()
            .filter(|r| r.verdict.admits() && !self.is_annulled(r))
    }

    /// Admitted, non-annulled entries of a ticket in merge order: the first one is the winner.
    pub fn admissions(&self, ticket_id: TicketId) -> Vec<&CheckInRecord> {
        self.passes(ticket_id)
            .filter(|r| r.direction == Direction::Entry)
            .collect()
    }

    /// The ticket's latest status from the server, if any was applied. On a stamp tie the more
    /// severe status wins (revoked over canceled over valid).
    pub fn ticket_status(&self, ticket_id: TicketId) -> Option<TicketStatus> {
        let latest = self.statuses.get(&ticket_id)?.last()?;
        Some(latest.1)
    }

    /// The winning version of an attendee field, if it was ever edited.
    pub fn field_version(&self, attendee_id: AttendeeId, field: &str) -> Option<&FieldVersion> {
        self.edits.get(&attendee_id)?.get(field)?.last()
    }

    /// The winning value of every edited field of an attendee.
    pub fn field_values(&self, attendee_id: AttendeeId) -> BTreeMap<&str, &Value> {
        let Some(fields) = self.edits.get(&attendee_id) else {
            return BTreeMap::new();
        };
        fields
            .iter()
            .filter_map(|(field, versions)| Some((field.as_str(), &versions.last()?.value)))
            .collect()
    }

    /// The attendee (from the package, else from a walk-in) with the winning edits applied.
    /// A value of the wrong type for a static column (a number as a name) leaves it unchanged.
    pub fn attendee(&self, attendee_id: AttendeeId) -> Option<Attendee> {
        let base = self
            .package
            .get(&attendee_id)
            .or_else(|| Some(&self.walk_ins.get(&attendee_id)?.walk_in.attendee))?;
        let mut attendee = base.clone();
        for (field, value) in self.field_values(attendee_id) {
            set_field(&mut attendee, field, value);
        }
        Some(attendee)
    }

    /// Every walk-in, in merge order.
    pub fn walk_ins(&self) -> Vec<&WalkInRecord> {
        let mut records: Vec<_> = self.walk_ins.values().collect();
        records.sort_by_key(|r| r.sort_key());
        records
    }

    /// Every conflict, sorted by (when it arose, key).
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut conflicts: Vec<Conflict> = self
            .check_ins
            .keys()
            .flat_map(|&ticket| self.ticket_conflicts(ticket))
            .chain(self.edits.keys().flat_map(|&a| self.field_conflicts(a)))
            .chain(self.duplicate_conflicts())
            .collect();
        conflicts.sort_by_cached_key(|c| (c.at(), c.key()));
        conflicts
    }

    /// Double admissions and admissions while canceled or revoked, of one ticket.
    pub fn ticket_conflicts(&self, ticket_id: TicketId) -> Vec<Conflict> {
        let mut conflicts = Vec::new();
        let mut presence = Presence::default();
        for record in self.passes(ticket_id) {
            if record.direction == Direction::Entry {
                conflicts.extend(self.double_admission(&presence, record));
                conflicts.extend(self.admitted_while_dead(record));
            }
            presence.observe(record.direction, record);
        }
        conflicts
    }

    fn double_admission(
        &self,
        presence: &Presence<&CheckInRecord>,
        record: &CheckInRecord,
    ) -> Option<Conflict> {
        let reentry = self
            .reentry
            .get(&record.gate_id)
            .copied()
            .unwrap_or(Reentry::Never);
        let first = presence.blocking(reentry)?;
        Some(Conflict::DoubleAdmission {
            ticket_id: record.ticket_id,
            first: first.admission(),
            second: record.admission(),
        })
    }

    /// Flags an admission stamped after the ticket's status became canceled or revoked.
    fn admitted_while_dead(&self, record: &CheckInRecord) -> Option<Conflict> {
        let &(status_hlc, status) = self
            .statuses
            .get(&record.ticket_id)?
            .iter()
            .rev()
            .find(|(hlc, _)| *hlc < record.hlc)?;
        let (ticket_id, admission) = (record.ticket_id, record.admission());
        match status {
            TicketStatus::Valid => None,
            TicketStatus::Canceled => Some(Conflict::AdmittedWhileCanceled {
                ticket_id,
                admission,
                status_hlc,
            }),
            TicketStatus::Revoked => Some(Conflict::AdmittedWhileRevoked {
                ticket_id,
                admission,
                status_hlc,
            }),
        }
    }

    /// Field conflicts of one attendee: each version that overwrote a predecessor its writer had
    /// not seen, with a different value.
    pub fn field_conflicts(&self, attendee_id: AttendeeId) -> Vec<Conflict> {
        let Some(fields) = self.edits.get(&attendee_id) else {
            return Vec::new();
        };
        let mut conflicts = Vec::new();
        for (field, versions) in fields {
            let pairs = versions.iter().zip(versions.iter().skip(1));
            for (overwritten, overwriting) in pairs {
                if overwriting.seen != Some(overwritten.hlc)
                    && overwriting.value != overwritten.value
                {
                    conflicts.push(Conflict::FieldConflict {
                        attendee_id,
                        field: field.clone(),
                        overwritten: overwritten.clone(),
                        overwriting: overwriting.clone(),
                    });
                }
            }
        }
        conflicts
    }

    /// Each walk-in against every older walk-in and every package attendee.
    fn duplicate_conflicts(&self) -> Vec<Conflict> {
        let mut earlier = DuplicateIndex::default();
        let mut conflicts = Vec::new();
        for record in self.walk_ins() {
            let newer = &record.walk_in.attendee;
            let keys = DuplicateKeys::of(newer);
            let candidates = self.package_index.candidates(&keys);
            for older_id in candidates.union(&earlier.candidates(&keys)) {
                let Some(older) = self.registered(*older_id).filter(|o| o.id != newer.id) else {
                    continue;
                };
                if let Some(reason) = keys.matches(&DuplicateKeys::of(older)) {
                    conflicts.push(Conflict::PossibleDuplicate {
                        newer: newer.id,
                        older: older.id,
                        reason,
                        registered_at: record.meta.hlc,
                    });
                }
            }
            earlier.insert(newer.id, &keys);
        }
        conflicts
    }

    /// An attendee as registered (package first, else walk-in), without edits.
    fn registered(&self, id: AttendeeId) -> Option<&Attendee> {
        self.package
            .get(&id)
            .or_else(|| Some(&self.walk_ins.get(&id)?.walk_in.attendee))
    }
}

/// Applies one edited field to the attendee's columns or answers.
fn set_field(attendee: &mut Attendee, field: &str, value: &Value) {
    let optional = match value {
        Value::Null => Some(None),
        Value::String(s) => Some(Some(s.clone())),
        _ => None,
    };
    match (field, optional) {
        ("first_name", Some(Some(s))) => attendee.first_name = s,
        ("last_name", Some(Some(s))) => attendee.last_name = s,
        ("email", Some(email)) => attendee.email = email,
        ("phone", Some(phone)) => attendee.phone = phone,
        _ => match field.strip_prefix("answers.") {
            Some(id) if value.is_null() => {
                attendee.answers.remove(id);
            }
            Some(id) => {
                attendee.answers.insert(id.to_owned(), value.clone());
            }
            None => {}
        },
    }
}

/// Whether two attendees look like the same person: the same email (trimmed, case-insensitive),
/// or the same name and the same phone number.
///
/// Names compare lowercased, with whitespace runs collapsed and diacritics removed (a table of
/// Latin letters, since std has no Unicode normalisation). Phones compare by digits, where an
/// international form ("+49 170 1234567", "0049 170...") matches the national form
/// ("0170 1234567") behind a country code of one to three digits; numbers shorter than six
/// significant digits never match.
pub fn possible_duplicate(a: &Attendee, b: &Attendee) -> Option<DuplicateReason> {
    DuplicateKeys::of(a).matches(&DuplicateKeys::of(b))
}

/// The normalised parts of an attendee that duplicate detection compares.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DuplicateKeys {
    email: Option<String>,
    name: Option<String>,
    phone: Option<Phone>,
}

impl DuplicateKeys {
    fn of(attendee: &Attendee) -> Self {
        Self {
            email: attendee.email.as_deref().and_then(email_key),
            name: name_key(&attendee.first_name, &attendee.last_name),
            phone: attendee.phone.as_deref().and_then(Phone::parse),
        }
    }

    fn matches(&self, other: &Self) -> Option<DuplicateReason> {
        if self.email.is_some() && self.email == other.email {
            return Some(DuplicateReason::SameEmail);
        }
        let same_name = self.name.is_some() && self.name == other.name;
        let same_phone = match (&self.phone, &other.phone) {
            (Some(a), Some(b)) => a.matches(b),
            _ => false,
        };
        (same_name && same_phone).then_some(DuplicateReason::SameNameAndPhone)
    }

    /// The index key for name and phone: the name and the last digits of the number, which
    /// national and international forms of one number share.
    fn name_phone(&self) -> Option<(String, String)> {
        let phone = self.phone.as_ref()?;
        Some((self.name.clone()?, phone.tail().to_owned()))
    }
}

/// Candidates for duplicates by key, so a walk-in is not compared with every attendee.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct DuplicateIndex {
    by_email: BTreeMap<String, BTreeSet<AttendeeId>>,
    by_name_phone: BTreeMap<(String, String), BTreeSet<AttendeeId>>,
}

impl DuplicateIndex {
    fn insert(&mut self, id: AttendeeId, keys: &DuplicateKeys) {
        if let Some(email) = &keys.email {
            self.by_email.entry(email.clone()).or_default().insert(id);
        }
        if let Some(key) = keys.name_phone() {
            self.by_name_phone.entry(key).or_default().insert(id);
        }
    }

    fn candidates(&self, keys: &DuplicateKeys) -> BTreeSet<AttendeeId> {
        let by_email = keys.email.as_ref().and_then(|e| self.by_email.get(e));
        let by_phone = keys.name_phone().and_then(|k| self.by_name_phone.get(&k));
        by_email
            .into_iter()
            .chain(by_phone)
            .flatten()
            .copied()
            .collect()
    }
}

fn email_key(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    (!email.is_empty()).then_some(email)
}

/// A name for comparison: first and last name joined, lowercased, runs of whitespace made one
/// space, and diacritics removed.
///
/// The standard library has no Unicode normalisation, so diacritics are folded by a table of the
/// Latin-1 Supplement and Latin Extended-A letters (plus Romanian ș, ț), and combining marks
/// (U+0300 to U+036F) are dropped, which covers names typed in decomposed form. Other scripts are
/// compared lowercased as they are. "Müller" and "Muller" match; "Mueller" does not.
fn name_key(first: &str, last: &str) -> Option<String> {
    let mut folded = String::new();
    for c in first.chars().chain([' ']).chain(last.chars()) {
        c.to_lowercase().for_each(|c| fold_char(c, &mut folded));
    }
    let key = folded.split_whitespace().collect::<Vec<_>>().join(" ");
    (!key.is_empty()).then_some(key)
}

/// Pushes `c` (already lowercase) without its diacritics.
fn fold_char(c: char, out: &mut String) {
    let base = match c {
        '\u{300}'..='\u{36f}' => "",
        'à'..='å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ð' | 'ď' | 'đ' => "d",
        'è'..='ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì'..='ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĳ' => "ij",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' | 'ŋ' => "n",
        'ò'..='ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' | 'ſ' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' | 'ț' => "t",
        'þ' => "th",
        'ù'..='ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => {
            out.push(c);
            return;
        }
    };
    out.push_str(base);
}

/// Fewer significant digits than this is not a phone number worth comparing.
const MIN_PHONE_DIGITS: usize = 6;

/// A phone number for comparison: its digits, and whether it was written in international form.
///
/// "+49 170 1234567" and "0049 170 1234567" are international (country code first);
/// "0170 1234567" is national, and its trunk prefix 0 is dropped. Two numbers in the same form
/// match when their digits are equal; an international and a national number match when the
/// international one is the national one behind a country code of one to three digits. So
/// "+49 170 1234567", "0049-170-1234567" and "0170/1234567" all match, and so do "+39 06 1234567"
/// and "06 1234567" (Italy keeps its 0).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Phone {
    digits: String,
    international: bool,
}

impl Phone {
    fn parse(raw: &str) -> Option<Self> {
        let plus = raw.trim_start().starts_with('+');
        let all: String = raw.chars().filter(char::is_ascii_digit).collect();
        let (digits, international) = match all.strip_prefix("00") {
            _ if plus => (all.as_str(), true),
            Some(rest) => (rest, true),
            None => (all.strip_prefix('0').unwrap_or(&all), false),
        };
        (digits.len() >= MIN_PHONE_DIGITS).then(|| Phone {
            digits: digits.to_owned(),
            international,
        })
    }

    fn matches(&self, other: &Phone) -> bool {
        match (self.international, other.international) {
            (true, false) => behind_country_code(&self.digits, &other.digits),
            (false, true) => behind_country_code(&other.digits, &self.digits),
            _ => self.digits == other.digits,
        }
    }

    /// The last digits, shared by every form of the number that [`Phone::matches`].
    fn tail(&self) -> &str {
        &self.digits[self.digits.len() - MIN_PHONE_DIGITS..]
    }
}

fn behind_country_code(international: &str, national: &str) -> bool {
    let code_len = international.len().saturating_sub(national.len());
    (1..=3).contains(&code_len) && international.ends_with(national)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::{CheckInAnnulment, FieldEdit, FoundBy};
    use crate::ids::{ChangeId, TicketTypeId};
    use crate::model::{GateMode, Ticket};
    use proptest::prelude::*;
    use serde_json::json;

    fn uuid(kind: u8, n: u8) -> uuid::Uuid {
        let ms = 1_700_000_000_000 + u64::from(kind) * 1000 + u64::from(n);
        uuid::Builder::from_unix_timestamp_millis(ms, &[kind, n, 0, 0, 0, 0, 0, 0, 0, 0])
            .into_uuid()
    }
    fn ticket(n: u8) -> TicketId {
        TicketId::from_uuid(uuid(1, n)).unwrap()
    }
    fn gate(n: u8) -> GateId {
        GateId::from_uuid(uuid(2, n)).unwrap()
    }
    fn device(n: u8) -> DeviceId {
        DeviceId::from_uuid(uuid(3, n)).unwrap()
    }
    fn check_in_id(n: u8) -> CheckInId {
        CheckInId::from_uuid(uuid(4, n)).unwrap()
    }
    fn attendee_id(n: u8) -> AttendeeId {
        AttendeeId::from_uuid(uuid(5, n)).unwrap()
    }

    const NEVER: u8 = 0;
    const AFTER_EXIT: u8 = 1;
    const ALWAYS: u8 = 2;
    /// Not in the package: judged as `Never`.
    const UNKNOWN_GATE: u8 = 3;

    fn gates() -> Vec<Gate> {
        [Reentry::Never, Reentry::AfterExit, Reentry::Always]
            .into_iter()
            .zip(0..)
            .map(|(reentry, n)| Gate {
                id: gate(n),
                name: format!("Gate {n}"),
                allowed_ticket_types: Vec::new(),
                mode: GateMode::EntryAndExit,
                reentry,
                required_answers: Vec::new(),
                show_answers: vec![],
                print_badge: Default::default(),
            })
            .collect()
    }

    fn person(
        n: u8,
        first: &str,
        last: &str,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Attendee {
        Attendee {
            id: attendee_id(n),
            first_name: first.into(),
            last_name: last.into(),
            email: email.map(Into::into),
            phone: phone.map(Into::into),
            answers: Default::default(),
            form: None,
        }
    }

    fn package() -> Vec<Attendee> {
        vec![
            person(0, "Zoe", "Muller", Some("a@x.org"), None),
            person(1, "Jürgen", "Smith", None, Some("+49 170 1234567")),
        ]
    }

    fn state() -> MergeState {
        MergeState::new(&gates(), package())
    }

    fn meta(device_n: u8, wall: u64) -> ChangeMeta {
        ChangeMeta {
            hlc: Hlc::new(wall, 0),
            device_id: device(device_n),
        }
    }

    fn check_in(
        id: u8,
        ticket_n: u8,
        gate_n: u8,
        direction: Direction,
        admitted: bool,
    ) -> ChangeBody {
        ChangeBody::CheckIn(CheckIn {
            id: check_in_id(id),
            ticket_id: ticket(ticket_n),
            gate_id: gate(gate_n),
            direction,
            verdict: if admitted {
                VerdictCode::Admitted
            } else {
                VerdictCode::AlreadyUsed
            },
            offline: true,
            scanned_at: UnixMillis(0),
            found_by: FoundBy::Code,
        })
    }

    fn entry(id: u8, gate_n: u8) -> ChangeBody {
        check_in(id, 0, gate_n, Direction::Entry, true)
    }

    fn annul(id: u8, ticket_n: u8) -> ChangeBody {
        ChangeBody::CheckInAnnulment(CheckInAnnulment {
            check_in_id: check_in_id(id),
            ticket_id: ticket(ticket_n),
            reason: "turnstile did not turn".into(),
        })
    }

    fn edit(attendee_n: u8, field: &str, value: Value, seen: Option<Hlc>) -> ChangeBody {
        ChangeBody::AttendeeEdit(AttendeeEdit {
            attendee_id: attendee_id(attendee_n),
            fields: [(field.to_owned(), FieldEdit { value, seen })].into(),
        })
    }

    fn walk_in(attendee: Attendee) -> ChangeBody {
        let n = attendee.id.to_bytes()[15];
        ChangeBody::WalkIn(WalkIn {
            ticket: Ticket {
                id: ticket(100 + n),
                attendee_id: attendee.id,
                ticket_type_id: TicketTypeId::from_uuid(uuid(6, 0)).unwrap(),
                status: TicketStatus::Valid,
                code: format!("W{n}"),
            },
            attendee,
            form: None,
        })
    }

    fn status(ticket_n: u8, status: TicketStatus, wall: u64) -> TicketStatusChange {
        TicketStatusChange {
            ticket_id: ticket(ticket_n),
            status,
            hlc: Hlc::new(wall, 0),
        }
    }

    fn merged(changes: &[(ChangeMeta, ChangeBody)]) -> MergeState {
        let mut state = state();
        for (meta, body) in changes {
            state.apply(*meta, body);
        }
        state
    }

    fn kinds(state: &MergeState) -> Vec<ConflictKind> {
        state.conflicts().iter().map(Conflict::kind).collect()
    }

    #[test]
    fn earliest_admission_wins_whatever_the_arrival_order() {
        let first = (meta(1, 100), entry(1, NEVER));
        let second = (meta(2, 200), entry(2, NEVER));
        let a = merged(&[first.clone(), second.clone()]);
        let b = merged(&[second, first]);
        assert_eq!(a, b);
        assert_eq!(a.conflicts(), b.conflicts());
        assert_eq!(a.admissions(ticket(0))[0].check_in_id, check_in_id(1));
        let conflicts = a.conflicts();
        let [Conflict::DoubleAdmission { first, second, .. }] = conflicts.as_slice() else {
            panic!("one double admission expected: {:?}", a.conflicts());
        };
        assert_eq!(first.check_in_id, check_in_id(1));
        assert_eq!(second.check_in_id, check_in_id(2));
    }

    #[test]
    fn same_stamp_ties_break_by_device_then_check_in_id() {
        let state = merged(&[
            (meta(2, 100), entry(1, NEVER)),
            (meta(1, 100), entry(3, NEVER)),
            (meta(1, 100), entry(2, NEVER)),
        ]);
        let order: Vec<_> = state
            .admissions(ticket(0))
            .iter()
            .map(|r| r.check_in_id)
            .collect();
        assert_eq!(order, [check_in_id(2), check_in_id(3), check_in_id(1)]);
    }

    #[test]
    fn reentry_rules_of_the_second_gate() {
        use Direction::{Entry, Exit};
        /// (gate, direction, admitted?) of each check-in, one stamp apart.
        type Steps = &'static [(u8, Direction, bool)];
        let cases: &[(&str, Steps, usize)] = &[
            (
                "never twice",
                &[(NEVER, Entry, true), (NEVER, Entry, true)],
                1,
            ),
            (
                "never across gates",
                &[(ALWAYS, Entry, true), (NEVER, Entry, true)],
                1,
            ),
            (
                "never after exit",
                &[
                    (NEVER, Entry, true),
                    (NEVER, Exit, true),
                    (NEVER, Entry, true),
                ],
                1,
            ),
            (
                "never after refused",
                &[(NEVER, Entry, false), (NEVER, Entry, true)],
                0,
            ),
            (
                "after exit, no exit",
                &[(AFTER_EXIT, Entry, true), (AFTER_EXIT, Entry, true)],
                1,
            ),
            (
                "after exit, exit",
                &[
                    (AFTER_EXIT, Entry, true),
                    (ALWAYS, Exit, true),
                    (AFTER_EXIT, Entry, true),
                ],
                0,
            ),
            (
                "after exit, refused exit",
                &[
                    (AFTER_EXIT, Entry, true),
                    (AFTER_EXIT, Exit, false),
                    (AFTER_EXIT, Entry, true),
                ],
                1,
            ),
            (
                "always",
                &[
                    (ALWAYS, Entry, true),
                    (ALWAYS, Entry, true),
                    (ALWAYS, Entry, true),
                ],
                0,
            ),
            (
                "unknown gate is strict",
                &[(UNKNOWN_GATE, Entry, true), (UNKNOWN_GATE, Entry, true)],
                1,
            ),
            (
                "exits never conflict",
                &[(NEVER, Exit, true), (NEVER, Exit, true)],
                0,
            ),
        ];
        for (name, steps, expected) in cases {
            let changes: Vec<_> = steps
                .iter()
                .zip(0u8..)
                .map(|(&(g, d, ok), i)| (meta(1, 100 + u64::from(i)), check_in(i, 0, g, d, ok)))
                .collect();
            let conflicts = merged(&changes).conflicts();
            assert_eq!(conflicts.len(), *expected, "{name}: {conflicts:?}");
        }
    }

    #[test]
    fn annulment_counts_only_from_the_device_that_checked_in() {
        let base = [
            (meta(1, 100), entry(1, NEVER)),
            (meta(2, 200), entry(2, NEVER)),
        ];
        let by_owner = (meta(1, 110), annul(1, 0));
        let by_other = (meta(2, 110), annul(1, 0));
        let mut owned = vec![by_owner.clone()];
        owned.extend(base.clone());
        let state = merged(&owned);
        assert!(state.conflicts().is_empty());
        assert_eq!(state.admissions(ticket(0)).len(), 1);
        assert_eq!(state.check_ins(ticket(0)).len(), 2, "nothing is discarded");
        let mut other = base.to_vec();
        other.push(by_other);
        assert_eq!(kinds(&merged(&other)), [ConflictKind::DoubleAdmission]);
    }

    /// The server, the kiosks and the merge share one annulment rule: an annulment stamped
    /// before its check-in, past the window, or naming another ticket annuls nothing (found by
    /// the convergence test: a kiosk whose clock was pulled a day ahead annulled its check-in,
    /// the server did not count it and the other kiosks did).
    #[test]
    fn annulment_counts_only_within_the_window_and_for_its_ticket() {
        let base = [
            (meta(1, 100), entry(1, NEVER)),
            (meta(2, 200), entry(2, NEVER)),
        ];
        for (annulment, counts) in [
            ((meta(1, 100 + ANNUL_WINDOW_MS), annul(1, 0)), true),
            ((meta(1, 101 + ANNUL_WINDOW_MS), annul(1, 0)), false),
            ((meta(1, 99), annul(1, 0)), false),
            ((meta(1, 110), annul(1, 1)), false),
        ] {
            let mut changes = base.to_vec();
            changes.push(annulment.clone());
            let state = merged(&changes);
            let expected: &[ConflictKind] = if counts {
                &[]
            } else {
                &[ConflictKind::DoubleAdmission]
            };
            assert_eq!(kinds(&state), expected, "{annulment:?}");
        }
    }

    #[test]
    fn admissions_after_cancel_or_revoke_are_flagged() {
        let mut state = merged(&[
            (meta(1, 100), entry(1, ALWAYS)),
            (meta(1, 200), entry(2, ALWAYS)),
            (meta(1, 300), entry(3, ALWAYS)),
            (meta(1, 400), entry(4, ALWAYS)),
        ]);
        state.apply_status(status(0, TicketStatus::Canceled, 150));
        state.apply_status(status(0, TicketStatus::Valid, 250));
        state.apply_status(status(0, TicketStatus::Revoked, 350));
        assert!(!state.apply_status(status(0, TicketStatus::Revoked, 350)));
        assert_eq!(
            kinds(&state),
            [
                ConflictKind::AdmittedWhileCanceled,
                ConflictKind::AdmittedWhileRevoked
            ]
        );
        assert_eq!(state.ticket_status(ticket(0)), Some(TicketStatus::Revoked));
        let Conflict::AdmittedWhileCanceled {
            admission,
            status_hlc,
            ..
        } = &state.conflicts()[0]
        else {
            unreachable!()
        };
        assert_eq!(admission.check_in_id, check_in_id(2));
        assert_eq!(*status_hlc, Hlc::new(150, 0));
    }

    #[test]
    fn last_writer_wins_and_unseen_overwrites_keep_both_values() {
        let state = merged(&[
            (meta(1, 100), edit(0, "first_name", json!("Ann"), None)),
            (meta(2, 200), edit(0, "first_name", json!("Anne"), None)),
            (
                meta(1, 300),
                edit(0, "first_name", json!("Annie"), Some(Hlc::new(200, 0))),
            ),
            (meta(1, 100), edit(0, "email", Value::Null, None)),
            (meta(1, 100), edit(0, "answers.diet", json!("vegan"), None)),
        ]);
        assert_eq!(
            state
                .field_version(attendee_id(0), "first_name")
                .unwrap()
                .value,
            "Annie"
        );
        let conflicts = state.conflicts();
        let [
            Conflict::FieldConflict {
                field,
                overwritten,
                overwriting,
                ..
            },
        ] = conflicts.as_slice()
        else {
            panic!("one field conflict expected: {:?}", state.conflicts());
        };
        assert_eq!(field, "first_name");
        assert_eq!(
            (&overwritten.value, &overwriting.value),
            (&json!("Ann"), &json!("Anne"))
        );
        let attendee = state.attendee(attendee_id(0)).unwrap();
        assert_eq!(attendee.first_name, "Annie");
        assert_eq!(attendee.email, None);
        assert_eq!(attendee.answers["diet"], "vegan");
        assert_eq!(attendee.last_name, "Muller");
    }

    #[test]
    fn lww_ties_break_by_device_and_equal_values_do_not_conflict() {
        let state = merged(&[
            (meta(2, 100), edit(0, "first_name", json!("B"), None)),
            (meta(1, 100), edit(0, "first_name", json!("A"), None)),
            (meta(1, 100), edit(0, "last_name", json!("Same"), None)),
            (meta(2, 100), edit(0, "last_name", json!("Same"), None)),
            (meta(1, 100), edit(0, "phone", json!(42), None)),
        ]);
        assert_eq!(
            state
                .field_version(attendee_id(0), "first_name")
                .unwrap()
                .value,
            "B"
        );
        assert_eq!(kinds(&state), [ConflictKind::FieldConflict]);
        assert_eq!(
            state.attendee(attendee_id(0)).unwrap().phone,
            None,
            "a number is no phone"
        );
    }

    #[test]
    fn duplicate_detection() {
        use DuplicateReason::*;
        let p = |first, last, email, phone| person(9, first, last, email, phone);
        let cases = [
            (
                p("A", "B", Some(" Ann@X.org "), None),
                p("C", "D", Some("ann@x.org"), None),
                Some(SameEmail),
            ),
            (
                p("A", "B", Some(""), None),
                p("C", "D", Some(" "), None),
                None,
            ),
            (
                p("José", "Müller", None, Some("+49 170 1234567")),
                p("JOSE\u{301}", " muller ", None, Some("0170/1234567")),
                Some(SameNameAndPhone),
            ),
            (
                p("Anna Maria", "Ørsted", None, Some("0049 170 1234567")),
                p("anna", "maria  orsted", None, Some("+49-170-1234567")),
                Some(SameNameAndPhone),
            ),
            (
                p("Zoë", "Łukasz", None, Some("+39 06 1234567")),
                p("Zoe", "Lukasz", None, Some("06 1234567")),
                Some(SameNameAndPhone),
            ),
            (
                p("Ann", "Lee", None, Some("+1 415 555 1234")),
                p("Ann", "Lee", None, Some("415 555 1234")),
                Some(SameNameAndPhone),
            ),
            (
                p("Ann", "Lee", None, Some("+49 170 1234567")),
                p("Ann", "Lee", None, Some("+49 170 1234568")),
                None,
            ),
            (
                p("Ann", "Lee", None, Some("+49 170 1234567")),
                p("Ann", "Li", None, Some("+49 170 1234567")),
                None,
            ),
            (
                p("Ann", "Lee", None, Some("123")),
                p("Ann", "Lee", None, Some("123")),
                None,
            ),
            (
                p("Ann", "Lee", None, None),
                p("Ann", "Lee", None, None),
                None,
            ),
            (
                p("Mueller", "X", None, Some("0170 1234567")),
                p("Müller", "X", None, Some("0170 1234567")),
                None,
            ),
        ];
        for (a, b, expected) in &cases {
            assert_eq!(possible_duplicate(a, b), *expected, "{a:?} vs {b:?}");
            assert_eq!(possible_duplicate(b, a), *expected, "symmetric");
        }
    }

    #[test]
    fn newer_walk_ins_are_flagged_against_older_ones_and_the_package() {
        let w1 = person(10, "Zoë", "Müller", Some(" A@X.ORG"), Some("0170 999999"));
        let w2 = person(11, "zoe", "muller", None, Some("+49 170 999999"));
        let w3 = person(12, "Someone", "Else", Some("b@x.org"), None);
        let changes = [
            (meta(2, 200), walk_in(w2)),
            (meta(1, 100), walk_in(w1)),
            (meta(1, 300), walk_in(w3)),
        ];
        let a = merged(&changes);
        let mut reversed = changes.to_vec();
        reversed.reverse();
        assert_eq!(a.conflicts(), merged(&reversed).conflicts());
        let pairs: Vec<_> = a
            .conflicts()
            .into_iter()
            .map(|c| match c {
                Conflict::PossibleDuplicate {
                    newer,
                    older,
                    reason,
                    ..
                } => (newer, older, reason),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            pairs,
            [
                (attendee_id(10), attendee_id(0), DuplicateReason::SameEmail),
                (
                    attendee_id(11),
                    attendee_id(10),
                    DuplicateReason::SameNameAndPhone
                ),
            ]
        );
        assert_eq!(a.walk_ins().len(), 3);
        assert_eq!(a.attendee(attendee_id(12)).unwrap().first_name, "Someone");
    }

    #[test]
    fn conflicts_have_stable_wire_names_keys_and_ids() {
        let state = merged(&[
            (meta(1, 100), entry(1, NEVER)),
            (meta(2, 200), entry(2, NEVER)),
        ]);
        let conflict = &state.conflicts()[0];
        let json = serde_json::to_value(conflict).unwrap();
        assert_eq!(json["kind"], "double_admission");
        assert!(json["first"]["check_in_id"].is_string());
        assert_eq!(serde_json::from_value::<Conflict>(json).unwrap(), *conflict);
        assert_eq!(
            conflict.key(),
            format!(
                "double_admission/{}/{}/{}",
                ticket(0),
                check_in_id(1),
                check_in_id(2)
            )
        );
        let id = conflict.id();
        assert_eq!(id, state.conflicts()[0].id());
        assert_eq!(id.as_uuid().get_version_num(), 7);
        let (secs, nanos) = id.as_uuid().get_timestamp().unwrap().to_unix();
        assert_eq!(secs * 1000 + u64::from(nanos) / 1_000_000, 200);
        for kind in [
            ConflictKind::AdmittedWhileRevoked,
            ConflictKind::PossibleDuplicate,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(
            serde_json::to_value(DuplicateReason::SameNameAndPhone).unwrap(),
            "same_name_and_phone"
        );
    }

    #[test]
    fn envelopes_apply_once_and_bad_payloads_are_errors() {
        let mut state = state();
        let change = Change::new(
            ChangeId::from_uuid(uuid(7, 1)).unwrap(),
            device(1),
            1,
            Hlc::new(100, 0),
            1,
            &entry(1, NEVER),
        );
        assert_eq!(state.apply_change(&change), Ok(true));
        assert_eq!(state.apply_change(&change), Ok(false));
        let broken = Change {
            payload: json!({"id": 1}),
            ..change
        };
        assert!(state.apply_change(&broken).is_err());
        assert_eq!(state.admissions(ticket(0)).len(), 1);
    }

    // Property tests: a random history of changes from three devices on two tickets, two
    // attendees and a handful of walk-ins, with small id pools so replays and forged id
    // collisions happen.

    #[derive(Debug, Clone)]
    enum Op {
        Change(ChangeMeta, Box<ChangeBody>),
        Status(TicketStatusChange),
    }

    fn apply_all<'a>(ops: impl IntoIterator<Item = &'a Op>) -> MergeState {
        let mut state = state();
        for op in ops {
            apply_op(&mut state, op);
        }
        state
    }

    fn apply_op(state: &mut MergeState, op: &Op) -> bool {
        match op {
            Op::Change(meta, body) => state.apply(*meta, body.as_ref()),
            Op::Status(change) => state.apply_status(*change),
        }
    }

    fn arb_hlc() -> impl Strategy<Value = Hlc> {
        (0u64..30, 0u16..2).prop_map(|(w, c)| Hlc::new(1000 + w, c))
    }

    fn arb_meta() -> impl Strategy<Value = ChangeMeta> {
        (arb_hlc(), 0u8..3).prop_map(|(hlc, d)| ChangeMeta {
            hlc,
            device_id: device(d),
        })
    }

    const FIELDS: [&str; 3] = ["first_name", "email", "answers.diet"];
    const FIRSTS: [&str; 3] = ["Zoë", "zoe", "Jürgen"];
    const LASTS: [&str; 3] = ["Müller", "MULLER ", "Smith"];
    const EMAILS: [Option<&str>; 3] = [None, Some("a@x.org"), Some(" A@X.org")];
    const PHONES: [Option<&str>; 3] = [None, Some("+49 170 1234567"), Some("0170 1234567")];

    fn arb_op() -> impl Strategy<Value = Op> {
        let check_in_op = (
            arb_meta(),
            0u8..8,
            0u8..2,
            0u8..4,
            any::<bool>(),
            prop::bool::weighted(0.85),
        )
            .prop_map(|(m, id, t, g, out, ok)| {
                let direction = if out {
                    Direction::Exit
                } else {
                    Direction::Entry
                };
                Op::Change(m, Box::new(check_in(id, t, g, direction, ok)))
            });
        let annul_op = (arb_meta(), 0u8..8, 0u8..2)
            .prop_map(|(m, id, t)| Op::Change(m, Box::new(annul(id, t))));
        let status_op = (0u8..2, 0usize..3, arb_hlc()).prop_map(|(t, s, hlc)| {
            let status = [
                TicketStatus::Valid,
                TicketStatus::Canceled,
                TicketStatus::Revoked,
            ][s];
            Op::Status(TicketStatusChange {
                ticket_id: ticket(t),
                status,
                hlc,
            })
        });
        let values = prop_oneof![Just(json!("A")), Just(json!("B")), Just(Value::Null)];
        let edit_op = (
            arb_meta(),
            0u8..2,
            0usize..3,
            values,
            proptest::option::of(arb_hlc()),
        )
            .prop_map(|(m, a, f, v, seen)| Op::Change(m, Box::new(edit(a, FIELDS[f], v, seen))));
        let walk_in_op = (
            arb_meta(),
            10u8..15,
            0usize..3,
            0usize..3,
            0usize..3,
            0usize..3,
        )
            .prop_map(|(m, n, f, l, e, p)| {
                Op::Change(
                    m,
                    Box::new(walk_in(person(
                        n, FIRSTS[f], LASTS[l], EMAILS[e], PHONES[p],
                    ))),
                )
            });
        prop_oneof![4 => check_in_op, 1 => annul_op, 1 => status_op, 3 => edit_op, 2 => walk_in_op]
    }

    /// A history, and the same set in another order with some changes delivered twice.
    fn arb_history() -> impl Strategy<Value = (Vec<Op>, Vec<Op>)> {
        proptest::collection::vec(arb_op(), 1..40)
            .prop_flat_map(|ops| {
                let n = ops.len();
                (Just(ops), proptest::collection::vec(0..n, 0..10))
            })
            .prop_flat_map(|(ops, dups)| {
                let mut delivered = ops.clone();
                delivered.extend(dups.iter().map(|&i| ops[i].clone()));
                (Just(ops), Just(delivered).prop_shuffle())
            })
    }

    proptest! {
        #[test]
        fn same_set_in_any_order_gives_the_same_state_and_conflicts((ops, delivered) in arb_history()) {
            let a = apply_all(&ops);
            let b = apply_all(&delivered);
            prop_assert_eq!(&a, &b);
            let conflicts = a.conflicts();
            prop_assert_eq!(&conflicts, &b.conflicts());
            let keys: BTreeSet<_> = conflicts.iter().map(Conflict::key).collect();
            let ids: BTreeSet<_> = conflicts.iter().map(Conflict::id).collect();
            prop_assert_eq!(keys.len(), conflicts.len());
            prop_assert_eq!(ids.len(), conflicts.len());
        }

        #[test]
        fn replaying_changes_nothing(ops in proptest::collection::vec(arb_op(), 1..40)) {
            let mut state = apply_all(&ops);
            let before = state.clone();
            for op in &ops {
                prop_assert!(!apply_op(&mut state, op));
            }
            prop_assert_eq!(state, before);
        }

        #[test]
        fn the_earliest_admission_always_wins(ops in proptest::collection::vec(arb_op(), 1..40)) {
            let state = apply_all(&ops);
            let conflicts = state.conflicts();
            for t in 0..2 {
                let admissions = state.admissions(ticket(t));
                let Some(earliest) = admissions.first() else { continue };
                let doubles: Vec<_> = conflicts
                    .iter()
                    .filter_map(|c| match c {
                        Conflict::DoubleAdmission { ticket_id, first, second } if *ticket_id == ticket(t) => Some((first, second)),
                        _ => None,
                    })
                    .collect();
                for (first, second) in &doubles {
                    prop_assert_ne!(second.check_in_id, earliest.check_in_id);
                    prop_assert!((first.hlc, first.device_id, first.check_in_id) < (second.hlc, second.device_id, second.check_in_id));
                }
                // Under "never", every later admission conflicts with the earliest one.
                let strict = |g: GateId| g == gate(NEVER) || g == gate(UNKNOWN_GATE);
                let later_strict = admissions[1..].iter().filter(|r| strict(r.gate_id)).count();
                let against_earliest = doubles
                    .iter()
                    .filter(|(first, second)| strict(second.gate_id) && first.check_in_id == earliest.check_in_id)
                    .count();
                prop_assert_eq!(later_strict, against_earliest);
            }
        }

        #[test]
        fn lww_picks_the_largest_stamp_then_device(ops in proptest::collection::vec(arb_op(), 1..40)) {
            let state = apply_all(&ops);
            let mut expected: BTreeMap<(AttendeeId, String), (Hlc, DeviceId)> = BTreeMap::new();
            for op in &ops {
                let Op::Change(meta, body) = op else { continue };
                let ChangeBody::AttendeeEdit(e) = body.as_ref() else { continue };
                for field in e.fields.keys() {
                    let best = expected.entry((e.attendee_id, field.clone())).or_insert((meta.hlc, meta.device_id));
                    *best = (*best).max((meta.hlc, meta.device_id));
                }
            }
            for ((attendee, field), best) in expected {
                let winner = state.field_version(attendee, &field).unwrap();
                prop_assert_eq!((winner.hlc, winner.device_id), best);
            }
        }
    }
}
