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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// When a gate prints the guest's badge as it admits them.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadgePrinting {
    /// The gate prints nothing (badges come from the desk or the post).
    #[default]
    Never,
    /// Only at the guest's first badge: not again once any kiosk has printed theirs.
    First,
    /// At every admission (a day badge, a wristband).
    Every,
}

impl BadgePrinting {
    /// Every value, for tables and option lists.
    pub const ALL: [BadgePrinting; 3] = [
        BadgePrinting::Never,
        BadgePrinting::First,
        BadgePrinting::Every,
    ];

    /// Whether this is [`BadgePrinting::Never`] (left out of the wire form).
    pub fn is_never(&self) -> bool {
        *self == BadgePrinting::Never
    }

    /// The name stored and shown: `never`, `first` or `every`.
    pub fn as_str(self) -> &'static str {
        match self {
            BadgePrinting::Never => "never",
            BadgePrinting::First => "first",
            BadgePrinting::Every => "every",
        }
    }

    /// The value named `s` (`None` for any other text).
    pub fn parse(s: &str) -> Option<BadgePrinting> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether an admission prints a badge, given whether one was printed already.
    pub fn prints(self, printed_before: bool) -> bool {
        match self {
            BadgePrinting::Never => false,
            BadgePrinting::First => !printed_before,
            BadgePrinting::Every => true,
        }
    }
}

/// A gate: one check-in list with its rules.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Form field ids whose answers the verdict screen shows here (a diet at the dinner gate, a
    /// T-shirt size at the swag desk).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<String>>", optional))]
    pub show_answers: Vec<String>,
    /// Whether the gate prints the guest's badge when it admits them.
    #[serde(default, skip_serializing_if = "BadgePrinting::is_never")]
    #[cfg_attr(feature = "ts", ts(as = "Option<BadgePrinting>", optional))]
    pub print_badge: BadgePrinting,
}

impl Gate {
    /// Whether tickets of `ticket_type` are admitted at this gate.
    pub fn admits_type(&self, ticket_type: TicketTypeId) -> bool {
        self.allowed_ticket_types.is_empty() || self.allowed_ticket_types.contains(&ticket_type)
    }
}

/// Direction of a check-in.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Entry,
    Exit,
}

/// Status of a ticket as the server last said.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Valid,
    Canceled,
    Revoked,
}

/// Answers to form fields, keyed by field id.
pub type Answers = BTreeMap<String, serde_json::Value>;

/// What a kiosk may write about a person (a walk-in, an edit). The kiosk's walk-in form checks
/// the same; the server parks a change beyond them (`invalid_payload`), so an oversized or
/// control-character value never reaches its tables.
pub mod limits {
    /// A first or last name, in characters.
    pub const MAX_NAME_CHARS: usize = 100;
    /// An email address, in bytes (RFC 5321's path limit).
    pub const MAX_EMAIL_LEN: usize = 254;
    /// A phone number, in characters.
    pub const MAX_PHONE_CHARS: usize = 40;
    /// One attendee's answers as JSON, in bytes.
    pub const MAX_ANSWERS_BYTES: usize = 64 * 1024;
}

/// Checks one of a person's text fields (`first_name`, `last_name`, `email`, `phone`) against
/// [`limits`]: its length, and no control characters. `Err` says what is wrong.
pub fn check_person_text(field: &str, value: &str) -> Result<(), String> {
    let (max, chars) = match field {
        "first_name" | "last_name" => (limits::MAX_NAME_CHARS, value.chars().count()),
        "email" => (limits::MAX_EMAIL_LEN, value.len()),
        "phone" => (limits::MAX_PHONE_CHARS, value.chars().count()),
        _ => return Ok(()),
    };
    if chars > max {
        return Err(format!("{field} is {chars} long, at most {max}"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field} contains a control character"));
    }
    Ok(())
}

/// Checks answers against [`limits::MAX_ANSWERS_BYTES`].
pub fn check_answers_size(answers: &Answers) -> Result<(), String> {
    let size = serde_json::to_vec(answers)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > limits::MAX_ANSWERS_BYTES {
        return Err(format!(
            "the answers take {size} bytes, at most {}",
            limits::MAX_ANSWERS_BYTES
        ));
    }
    Ok(())
}

/// A person attending the event.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendee {
    pub id: AttendeeId,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Answers to the registration form, keyed by field id.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub answers: Answers,
    /// The form (and its version) the answers were given against, if any.
    pub form: Option<FormRef>,
}

impl Attendee {
    /// Checks the person's fields against [`limits`] (see [`check_person_text`]).
    pub fn check_limits(&self) -> Result<(), String> {
        check_person_text("first_name", &self.first_name)?;
        check_person_text("last_name", &self.last_name)?;
        if let Some(email) = &self.email {
            check_person_text("email", email)?;
        }
        if let Some(phone) = &self.phone {
            check_person_text("phone", phone)?;
        }
        check_answers_size(&self.answers)
    }
}

/// A form definition at one version.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FormRef {
    pub id: FormId,
    pub version: u32,
}

/// A ticket and the code on its badge.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: TicketId,
    pub attendee_id: AttendeeId,
    pub ticket_type_id: TicketTypeId,
    pub status: TicketStatus,
    /// The code printed on the badge: a signed code or an opaque code from an imported list.
    pub code: String,
}
