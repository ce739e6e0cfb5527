//! The records an event package carries and the rules read from them: events, ticket types,
//! gates, attendees, tickets.
//!
//! These are plain data shared by the server (which owns them) and the kiosk (which caches them).
//! Check-ins and other changes made at the kiosk live in [`crate::changes`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{AttendeeId, EventId, FormId, GateId, TicketId, TicketTypeId};
use crate::time::UnixMillis;

/// An event: a conference, a festival day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub name: String,
    /// IANA time zone name, for showing times at the venue (e.g. "Europe/Berlin").
    pub time_zone: String,
    pub starts_at: UnixMillis,
    pub ends_at: UnixMillis,
}

/// A kind of ticket with the window in which it admits.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketType {
    pub id: TicketTypeId,
    pub name: String,
    /// Not valid before this time (`None`: no lower bound).
    pub valid_from: Option<UnixMillis>,
    /// Not valid after this time (`None`: no upper bound).
    pub valid_until: Option<UnixMillis>,
}

/// Which directions a gate scans.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateMode {
    EntryOnly,
    ExitOnly,
    EntryAndExit,
}

impl GateMode {
    /// Whether this gate accepts scans in `direction`.
    pub fn allows(self, direction: Direction) -> bool {
        match self {
            GateMode::EntryOnly => direction == Direction::Entry,
            GateMode::ExitOnly => direction == Direction::Exit,
            GateMode::EntryAndExit => true,
        }
    }
}

/// Whether a ticket that has already been admitted may enter again.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reentry {
    /// One admission per ticket, ever.
    Never,
    /// Admitted again only after an exit was scanned.
    AfterExit,
    /// Any number of admissions.
    Always,
}

/// A gate: one check-in list with its rules.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    pub id: GateId,
    pub name: String,
    /// Ticket types admitted here; empty means every type of the event.
    pub allowed_ticket_types: Vec<TicketTypeId>,
    pub mode: GateMode,
    pub reentry: Reentry,
    /// Form field ids that must be answered before a ticket is admitted here (e.g. a consent).
    #[serde(default)]
    pub required_answers: Vec<String>,
}

impl Gate {
    /// Whether tickets of `ticket_type` are admitted at this gate.
    pub fn admits_type(&self, ticket_type: TicketTypeId) -> bool {
        self.allowed_ticket_types.is_empty() || self.allowed_ticket_types.contains(&ticket_type)
    }
}

/// Direction of a check-in.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Entry,
    Exit,
}

/// Status of a ticket as the server last said.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Valid,
    Canceled,
    Revoked,
}

/// Answers to form fields, keyed by field id.
pub type Answers = BTreeMap<String, serde_json::Value>;

/// A person attending the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendee {
    pub id: AttendeeId,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Answers to the registration form, keyed by field id.
    #[serde(default)]
    pub answers: Answers,
    /// The form (and its version) the answers were given against, if any.
    pub form: Option<FormRef>,
}

/// A form definition at one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FormRef {
    pub id: FormId,
    pub version: u32,
}

/// A ticket and the code on its badge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: TicketId,
    pub attendee_id: AttendeeId,
    pub ticket_type_id: TicketTypeId,
    pub status: TicketStatus,
    /// The code printed on the badge: a signed code or an opaque code from an imported list.
    pub code: String,
}
