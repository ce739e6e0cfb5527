//! The verdict rule: may this ticket pass this gate now?
//!
//! One pure function, [`decide`], used by every kiosk offline and by the server when it replays
//! check-ins. Inputs are the ticket as the kiosk knows it, the gate's rules, the check-ins known
//! locally for that ticket, and `now`; the output is a [`Verdict`] with a human reason.

use serde::{Deserialize, Serialize};

/// The kinds of verdict, as stable codes for the wire, the UI and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictCode {
    /// Let them in (or out).
    Admitted,
    /// Already admitted and the gate allows no re-entry now.
    AlreadyUsed,
    /// This ticket type is not admitted at this gate, or the gate does not scan this direction.
    WrongGate,
    /// Valid later.
    NotYetValid,
    /// Was valid earlier.
    Expired,
    /// Canceled by the organiser.
    Canceled,
    /// Revoked (reissued, or the badge was reported lost).
    Revoked,
    /// No such ticket in this event's package.
    Unknown,
    /// A signed code whose signature does not verify (forged, damaged, or another event's).
    BadSignature,
    /// Questions this gate requires are not answered yet.
    NeedsAnswers,
}

impl VerdictCode {
    /// Whether the person may pass.
    pub fn admits(self) -> bool {
        self == VerdictCode::Admitted
    }
}
