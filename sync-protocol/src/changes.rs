//! The changes a kiosk makes offline and queues for sync, as they travel on the wire.
//!
//! Every local write goes with one outbox row: a [`Change`] with the device's dense sequence
//! number, an HLC stamp, the package version it was made against, its kind, the schema version of
//! that kind, the id of the record it touches and its payload. The payload stays raw JSON in the
//! envelope, so a server stores what it received byte for byte and a kind or schema version it does
//! not know is parked as a rejection instead of failing the whole batch; [`Change::body`] parses it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::hlc::Hlc;
use crate::ids::{AttendeeId, ChangeId, CheckInId, DeviceId, GateId, TicketId};
use crate::model::{Attendee, Direction, FormRef, Ticket};
use crate::time::UnixMillis;
use crate::verdict::VerdictCode;

/// The kinds of change, each with its own payload schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    CheckIn,
    FailedScan,
    CheckInAnnulment,
    WalkIn,
    AttendeeEdit,
    BadgePrint,
}

impl ChangeKind {
    /// Every kind, for tables and tests.
    pub const ALL: [ChangeKind; 6] = [
        ChangeKind::CheckIn,
        ChangeKind::FailedScan,
        ChangeKind::CheckInAnnulment,
        ChangeKind::WalkIn,
        ChangeKind::AttendeeEdit,
        ChangeKind::BadgePrint,
    ];

    /// The schema version this build writes for the kind.
    pub fn current_schema(self) -> u16 {
        1
    }

    /// Stable name, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::CheckIn => "check_in",
            ChangeKind::FailedScan => "failed_scan",
            ChangeKind::CheckInAnnulment => "check_in_annulment",
            ChangeKind::WalkIn => "walk_in",
            ChangeKind::AttendeeEdit => "attendee_edit",
            ChangeKind::BadgePrint => "badge_print",
        }
    }

    /// The kind named `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A check-in: an immutable fact. Its id is the nonce that makes a replay recognisable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckIn {
    pub id: CheckInId,
    pub ticket_id: TicketId,
    pub gate_id: GateId,
    pub direction: Direction,
    /// The verdict the kiosk gave at the time (the person passed if it admitted).
    pub verdict: VerdictCode,
    /// Whether the kiosk was offline when it decided.
    pub offline: bool,
    /// The kiosk's wall clock at the scan, for display; ordering uses the change's HLC.
    pub scanned_at: UnixMillis,
    /// How the ticket was found: its code read, or the guest picked from a search by name.
    #[serde(default, skip_serializing_if = "FoundBy::is_code")]
    pub found_by: FoundBy,
}

/// How a kiosk found the ticket it judged. Absent on the wire means [`FoundBy::Code`], so
/// changes made before the field existed read as they were meant.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FoundBy {
    /// Its code was read: the camera, a scanner, or typed by the volunteer.
    #[default]
    Code,
    /// A volunteer found the guest by name, email or part of the code and picked them.
    Search,
}

impl FoundBy {
    /// Whether the code was read (the usual way, left out of the wire form).
    pub fn is_code(&self) -> bool {
        *self == FoundBy::Code
    }

    /// The name stored and shown: `code` or `search`.
    pub fn as_str(self) -> &'static str {
        match self {
            FoundBy::Code => "code",
            FoundBy::Search => "search",
        }
    }

    /// The value named `s` (`None` for any other text).
    pub fn parse(s: &str) -> Option<FoundBy> {
        [FoundBy::Code, FoundBy::Search]
            .into_iter()
            .find(|f| f.as_str() == s)
    }
}

/// A scan that did not admit anyone and matched no known ticket, or was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedScan {
    pub id: CheckInId,
    pub gate_id: GateId,
    pub direction: Direction,
    /// The ticket, if the code matched one.
    pub ticket_id: Option<TicketId>,
    pub verdict: VerdictCode,
    /// What was scanned, cut to 256 characters (it may be anything a camera saw).
    pub scanned_text: String,
    pub offline: bool,
    pub scanned_at: UnixMillis,
    /// How the ticket was found (see [`CheckIn::found_by`]).
    #[serde(default, skip_serializing_if = "FoundBy::is_code")]
    pub found_by: FoundBy,
}

/// What a scanned payload said, as printable text of at most `max_chars` characters that any
/// store and the wire keep as is: the bytes a camera or a keyboard wedge delivered, with
/// printable text kept, a backslash doubled, control characters and bytes that are not UTF-8
/// written as `\xNN` (or `\u{NNNN}` above 0x7f). Nothing is lost but what the cut drops, and
/// no NUL ever reaches a database.
pub fn scanned_text(payload: &[u8], max_chars: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut push = |piece: &str, out: &mut String| {
        let n = piece.chars().count();
        if count + n > max_chars {
            return false;
        }
        out.push_str(piece);
        count += n;
        true
    };
    for chunk in payload.utf8_chunks() {
        for c in chunk.valid().chars() {
            let piece = match c {
                '\\' => "\\\\".to_owned(),
                c if (c as u32) < 0x80 && c.is_control() => format!("\\x{:02X}", c as u32),
                c if c.is_control() => format!("\\u{{{:04X}}}", c as u32),
                c => c.to_string(),
            };
            if !push(&piece, &mut out) {
                return out;
            }
        }
        for byte in chunk.invalid() {
            if !push(&format!("\\x{byte:02X}"), &mut out) {
                return out;
            }
        }
    }
    out
}

/// Annuls a check-in this device made (a turnstile that did not turn), within a short window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckInAnnulment {
    pub check_in_id: CheckInId,
    pub ticket_id: TicketId,
    pub reason: String,
}

/// A walk-in registered at the desk: a new attendee and their ticket, made offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkIn {
    pub attendee: Attendee,
    pub ticket: Ticket,
    /// The form and version the answers were given against.
    pub form: Option<FormRef>,
}

/// One field's new value, with the stamp of the version the writer saw before editing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldEdit {
    pub value: serde_json::Value,
    /// HLC of the value this writer replaced (`None`: it saw the value from the package).
    pub seen: Option<Hlc>,
}

/// An edit of an attendee's fields. Field names: `first_name`, `last_name`, `email`, `phone`, and
/// `answers.<field id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttendeeEdit {
    pub attendee_id: AttendeeId,
    pub fields: BTreeMap<String, FieldEdit>,
}

/// A guest's badge sent to the printer: at an admission (the gate prints badges) or again by a
/// coordinator. The print log that keeps "first badge only" from printing twice, on every kiosk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadgePrint {
    pub ticket_id: TicketId,
    pub gate_id: GateId,
    /// The admission that printed it (`None` for a coordinator's reprint).
    pub check_in_id: Option<CheckInId>,
    /// A coordinator printed it again on purpose.
    pub reprint: bool,
    /// The kiosk's wall clock when it printed, for display.
    pub printed_at: UnixMillis,
}

/// A parsed change payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeBody {
    CheckIn(CheckIn),
    FailedScan(FailedScan),
    CheckInAnnulment(CheckInAnnulment),
    WalkIn(WalkIn),
    AttendeeEdit(AttendeeEdit),
    BadgePrint(BadgePrint),
}

impl ChangeBody {
    /// The kind of this payload.
    pub fn kind(&self) -> ChangeKind {
        match self {
            ChangeBody::CheckIn(_) => ChangeKind::CheckIn,
            ChangeBody::FailedScan(_) => ChangeKind::FailedScan,
            ChangeBody::CheckInAnnulment(_) => ChangeKind::CheckInAnnulment,
            ChangeBody::WalkIn(_) => ChangeKind::WalkIn,
            ChangeBody::AttendeeEdit(_) => ChangeKind::AttendeeEdit,
            ChangeBody::BadgePrint(_) => ChangeKind::BadgePrint,
        }
    }

    /// The id of the record this change is about (ticket, attendee...), as text.
    pub fn entity_id(&self) -> String {
        match self {
            ChangeBody::CheckIn(c) => c.ticket_id.to_string(),
            ChangeBody::FailedScan(f) => f.id.to_string(),
            ChangeBody::CheckInAnnulment(a) => a.ticket_id.to_string(),
            ChangeBody::WalkIn(w) => w.attendee.id.to_string(),
            ChangeBody::AttendeeEdit(e) => e.attendee_id.to_string(),
            ChangeBody::BadgePrint(p) => p.ticket_id.to_string(),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let value = match self {
            ChangeBody::CheckIn(c) => serde_json::to_value(c),
            ChangeBody::FailedScan(f) => serde_json::to_value(f),
            ChangeBody::CheckInAnnulment(a) => serde_json::to_value(a),
            ChangeBody::WalkIn(w) => serde_json::to_value(w),
            ChangeBody::AttendeeEdit(e) => serde_json::to_value(e),
            ChangeBody::BadgePrint(p) => serde_json::to_value(p),
        };
        value.expect("protocol types always serialize")
    }
}

/// One outbox row on the wire.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub id: ChangeId,
    pub device_id: DeviceId,
    /// Dense per device, from 1: the server keeps (device_id, seq) unique.
    pub seq: u64,
    pub hlc: Hlc,
    /// Package version the kiosk held when it made the change.
    pub package_version: u64,
    /// Kind name; kept as text so an unknown kind is parked, not a parse failure of the batch.
    pub kind: String,
    pub schema_version: u16,
    pub entity_id: String,
    pub payload: serde_json::Value,
}

/// Why a change's payload cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("unknown change kind {0:?}")]
    UnknownKind(String),
    #[error(
        "schema version {version} of {kind} is not supported (this side reads up to {supported})"
    )]
    UnsupportedSchema {
        kind: &'static str,
        version: u16,
        supported: u16,
    },
    #[error("payload of {kind} is invalid: {detail}")]
    InvalidPayload { kind: &'static str, detail: String },
    #[error("entity id {found} does not match the payload's {expected}")]
    EntityMismatch { expected: String, found: String },
}

impl Change {
    /// Builds an outbox row for `body`.
    pub fn new(
        id: ChangeId,
        device_id: DeviceId,
        seq: u64,
        hlc: Hlc,
        package_version: u64,
        body: &ChangeBody,
    ) -> Self {
        let kind = body.kind();
        Self {
            id,
            device_id,
            seq,
            hlc,
            package_version,
            kind: kind.as_str().to_owned(),
            schema_version: kind.current_schema(),
            entity_id: body.entity_id(),
            payload: body.to_json(),
        }
    }

    /// Replaces every NUL character in the change's texts (kind, entity id, payload strings and
    /// keys) with U+FFFD; `true` when there was one. Postgres text and jsonb cannot hold NUL, and
    /// a change the server cannot store must never stop a kiosk's push: the server stores the
    /// change this way (its digest is taken before, so a replay still matches).
    pub fn replace_nul(&mut self) -> bool {
        fn text(s: &mut String) -> bool {
            if s.contains('\0') {
                *s = s.replace('\0', "\u{FFFD}");
                true
            } else {
                false
            }
        }
        fn value(v: &mut serde_json::Value) -> bool {
            match v {
                serde_json::Value::String(s) => text(s),
                serde_json::Value::Array(items) => {
                    items.iter_mut().fold(false, |f, i| value(i) | f)
                }
                serde_json::Value::Object(map) => {
                    let mut found = false;
                    if map.keys().any(|k| k.contains('\0')) {
                        let entries = std::mem::take(map);
                        for (mut k, v) in entries {
                            text(&mut k);
                            map.insert(k, v);
                        }
                        found = true;
                    }
                    map.values_mut().fold(found, |f, v| value(v) | f)
                }
                _ => false,
            }
        }
        text(&mut self.kind) | text(&mut self.entity_id) | value(&mut self.payload)
    }

    /// Parses the payload according to its kind and schema version.
    pub fn body(&self) -> Result<ChangeBody, ChangeError> {
        let kind = ChangeKind::parse(&self.kind)
            .ok_or_else(|| ChangeError::UnknownKind(self.kind.clone()))?;
        if self.schema_version == 0 || self.schema_version > kind.current_schema() {
            return Err(ChangeError::UnsupportedSchema {
                kind: kind.as_str(),
                version: self.schema_version,
                supported: kind.current_schema(),
            });
        }
        fn parse<T: serde::de::DeserializeOwned>(
            kind: ChangeKind,
            v: &serde_json::Value,
        ) -> Result<T, ChangeError> {
            T::deserialize(v).map_err(|e| ChangeError::InvalidPayload {
                kind: kind.as_str(),
                detail: e.to_string(),
            })
        }
        let body = match kind {
            ChangeKind::CheckIn => ChangeBody::CheckIn(parse(kind, &self.payload)?),
            ChangeKind::FailedScan => ChangeBody::FailedScan(parse(kind, &self.payload)?),
            ChangeKind::CheckInAnnulment => {
                ChangeBody::CheckInAnnulment(parse(kind, &self.payload)?)
            }
            ChangeKind::WalkIn => ChangeBody::WalkIn(parse(kind, &self.payload)?),
            ChangeKind::AttendeeEdit => ChangeBody::AttendeeEdit(parse(kind, &self.payload)?),
            ChangeKind::BadgePrint => ChangeBody::BadgePrint(parse(kind, &self.payload)?),
        };
        // What a kiosk writes about a person stays within the limits every side checks.
        let limited = match &body {
            ChangeBody::WalkIn(walk_in) => walk_in.attendee.check_limits(),
            ChangeBody::AttendeeEdit(edit) => {
                edit.fields.iter().try_for_each(|(name, edit)| {
                    match (name.strip_prefix("answers."), &edit.value) {
                        (Some(_), value) => {
                            let size = serde_json::to_vec(value).map_or(usize::MAX, |v| v.len());
                            if size > crate::model::limits::MAX_ANSWERS_BYTES {
                                Err(format!("{name} takes {size} bytes"))
                            } else {
                                Ok(())
                            }
                        }
                        (None, serde_json::Value::String(text)) => {
                            crate::model::check_person_text(name, text)
                        }
                        (None, _) => Ok(()),
                    }
                })
            }
            _ => Ok(()),
        };
        if let Err(detail) = limited {
            return Err(ChangeError::InvalidPayload {
                kind: kind.as_str(),
                detail,
            });
        }
        let expected = body.entity_id();
        if expected != self.entity_id {
            return Err(ChangeError::EntityMismatch {
                expected,
                found: self.entity_id.clone(),
            });
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scanned_text_keeps_printable_text_and_escapes_the_rest() {
        assert_eq!(scanned_text(b"DEMO-0042", 256), "DEMO-0042");
        assert_eq!(scanned_text("Zoë ✓".as_bytes(), 256), "Zoë ✓");
        assert_eq!(scanned_text(b"A\0B", 256), "A\\x00B");
        assert_eq!(
            scanned_text(b"tab\there\r\n", 256),
            "tab\\x09here\\x0D\\x0A"
        );
        assert_eq!(
            scanned_text(b"a\\x00", 256),
            "a\\\\x00",
            "a backslash is doubled"
        );
        assert_eq!(scanned_text(b"\xff\xfeok", 256), "\\xFF\\xFEok");
        assert_eq!(scanned_text("\u{85}".as_bytes(), 256), "\\u{0085}");
        // The cut never splits an escape.
        assert_eq!(scanned_text(b"ab\0", 4), "ab");
        assert_eq!(scanned_text(b"abcdef", 3), "abc");
    }

    proptest! {
        #[test]
        fn scanned_text_never_holds_a_control_character(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let text = scanned_text(&bytes, 256);
            prop_assert!(text.chars().count() <= 256);
            prop_assert!(!text.chars().any(char::is_control));
        }

        #[test]
        fn scanned_text_tells_different_payloads_apart(
            a in proptest::collection::vec(any::<u8>(), 0..40),
            b in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            if a != b {
                prop_assert_ne!(scanned_text(&a, 1000), scanned_text(&b, 1000));
            }
        }
    }

    #[test]
    fn replace_nul_reaches_every_text_of_a_change() {
        let mut change = Change {
            id: ChangeId::from_bytes([0x01, 0x90, 0, 0, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 1])
                .unwrap(),
            device_id: DeviceId::from_bytes([
                0x01, 0x90, 0, 0, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 2,
            ])
            .unwrap(),
            seq: 1,
            hlc: Hlc::new(1, 0),
            package_version: 1,
            kind: "failed_scan".into(),
            schema_version: 1,
            entity_id: "e\0".into(),
            payload: serde_json::json!({"scanned_text": "A\u{0}B", "list": ["\u{0}"], "k\u{0}": 1}),
        };
        assert!(change.replace_nul());
        let json = serde_json::to_string(&change).unwrap();
        assert!(!json.contains("\\u0000"), "{json}");
        assert_eq!(change.payload["scanned_text"], "A\u{FFFD}B");
        assert_eq!(change.payload["k\u{FFFD}"], 1);
        assert_eq!(change.entity_id, "e\u{FFFD}");
        assert!(!change.replace_nul(), "nothing left to replace");
    }

    #[test]
    fn an_edit_beyond_the_person_limits_is_an_invalid_payload() {
        let attendee =
            AttendeeId::from_bytes([0x01, 0x90, 0, 0, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 3])
                .unwrap();
        let device =
            DeviceId::from_bytes([0x01, 0x90, 0, 0, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 2])
                .unwrap();
        let id = ChangeId::from_bytes([0x01, 0x90, 0, 0, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 1])
            .unwrap();
        let edit = |field: &str, value: serde_json::Value| {
            let body = ChangeBody::AttendeeEdit(AttendeeEdit {
                attendee_id: attendee,
                fields: [(field.to_owned(), FieldEdit { value, seen: None })].into(),
            });
            Change::new(id, device, 1, Hlc::new(1, 0), 1, &body).body()
        };
        assert!(edit("last_name", "Lovelace".into()).is_ok());
        assert!(edit("answers.company", "Acme".into()).is_ok());
        for (field, value) in [
            ("last_name", serde_json::Value::from("x".repeat(101))),
            ("email", format!("{}@example.org", "a".repeat(300)).into()),
            ("phone", "+49 30\n123".into()),
            ("first_name", "Ada\u{1b}[31m".into()),
            ("answers.essay", "x".repeat(70 * 1024).into()),
        ] {
            let refused = edit(field, value);
            assert!(
                matches!(
                    refused,
                    Err(ChangeError::InvalidPayload {
                        kind: "attendee_edit",
                        ..
                    })
                ),
                "{field}: {refused:?}"
            );
        }
    }
}
