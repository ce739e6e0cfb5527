//! The verdict rule: may this ticket pass this gate now?
//!
//! One pure function, [`decide`], used by every kiosk offline and by the server when it replays
//! check-ins. Inputs are the ticket as the kiosk knows it, the gate's rules, the check-ins known
//! locally for that ticket, and `now`; the output is a [`Verdict`] with a human reason.
//!
//! # Order of the checks
//!
//! 1. **Unknown / bad signature**: nothing else can be said about a code we cannot read.
//! 2. **Revoked, canceled**: a dead ticket must never be sent on to another gate or asked
//!    questions; a revoked badge (lost, reissued) is flagged wherever it shows up. A ticket has
//!    one status, so the order between the two is only for reading.
//! 3. **Wrong gate** (type not allowed here, or the gate does not scan this direction): the
//!    volunteer's answer is "go to gate X", whatever the time.
//! 4. **Not yet valid, expired**: no point asking questions for a ticket that cannot enter now.
//! 5. **Needs answers**: something the person can fix on the spot.
//! 6. **Already used**: last, because it is the only check that depends on history, and offline
//!    history is the least certain input (other kiosks' check-ins may not have arrived). Every
//!    earlier refusal depends only on the ticket and the gate, so it is certain; showing it first
//!    gives the volunteer the most fundamental problem.
//!
//! # Exits
//!
//! An exit scan passes checks 1 to 3 and is then admitted: the validity window, questions and
//! re-entry rules are about entering, and refusing to let out someone whose day pass ended at
//! 18:00 would only jam the door. Exits never make a ticket "already used".
//!
//! # Re-entry
//!
//! Admissions count across **all gates** of the event (the ticket is the unit: "a ticket that
//! allows one entry"), judged by the rule of the gate scanning now. Gates that must count
//! independently (a workshop room behind the main entrance) should use [`Reentry::Always`].
//! Refused scans and annulled check-ins never count.
//!
//! # Validity bounds
//!
//! Both bounds are inclusive, as the model documents them ("not valid before", "not valid
//! after"): a ticket is valid at exactly `valid_from` and at exactly `valid_until`.

use serde::{Deserialize, Serialize};

use crate::hlc::Hlc;
use crate::ids::{CheckInId, GateId, TicketId, TicketTypeId};
use crate::model::{Direction, Gate, Reentry, TicketStatus, TicketType};
use crate::time::UnixMillis;

/// The kinds of verdict, as stable codes for the wire, the UI and logs.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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

/// When a ticket admits: from its type, or from a verified signed code. Both bounds inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Validity {
    /// Not valid before this time (`None`: no lower bound).
    pub from: Option<UnixMillis>,
    /// Not valid after this time (`None`: no upper bound).
    pub until: Option<UnixMillis>,
}

impl Validity {
    /// Whether `now` is before the window.
    pub fn is_before(self, now: UnixMillis) -> bool {
        self.from.is_some_and(|from| now < from)
    }

    /// Whether `now` is after the window.
    pub fn is_after(self, now: UnixMillis) -> bool {
        self.until.is_some_and(|until| now > until)
    }
}

impl From<&TicketType> for Validity {
    fn from(ticket_type: &TicketType) -> Self {
        Self {
            from: ticket_type.valid_from,
            until: ticket_type.valid_until,
        }
    }
}

/// The scanned ticket as the kiosk knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScannedTicket<'a> {
    /// The code matches no ticket of the event (and is not a valid signed code).
    Unknown,
    /// A signed code whose signature does not verify.
    BadSignature,
    /// A ticket from the package, or from a verified signed code.
    Known(KnownTicket<'a>),
}

/// What the kiosk knows about a recognised ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownTicket<'a> {
    pub id: TicketId,
    pub ticket_type: TicketTypeId,
    pub status: TicketStatus,
    pub validity: Validity,
    /// Form field ids its attendee has answered (empty for a signed code with no local record).
    pub answered: &'a [String],
}

/// A check-in of this ticket known locally, as far as the verdict cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CheckInFact {
    pub id: CheckInId,
    pub gate_id: GateId,
    pub direction: Direction,
    /// Whether the person passed (the verdict then was [`VerdictCode::Admitted`]).
    pub admitted: bool,
    pub hlc: Hlc,
    /// Annulled by its device (a turnstile that did not turn): it never counts.
    pub annulled: bool,
}

impl CheckInFact {
    /// Whether this fact records someone passing (admitted and not annulled).
    fn counts(&self) -> bool {
        self.admitted && !self.annulled
    }
}

/// Everything [`decide`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct VerdictInput<'a> {
    pub ticket: ScannedTicket<'a>,
    /// The gate scanning now.
    pub gate: &'a Gate,
    pub direction: Direction,
    /// Check-ins of this ticket known locally, in any order.
    pub check_ins: &'a [CheckInFact],
    pub now: UnixMillis,
    /// The event's gates, only to name where an earlier admission happened (may be empty).
    pub gates: &'a [Gate],
    /// Offset of the venue's clock from UTC at `now`, in minutes, for showing times in reasons.
    /// The caller resolves the event's time zone; this crate has no time-zone database.
    pub utc_offset_minutes: i32,
}

/// The admission that makes a ticket "already used".
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Admission {
    pub check_in_id: CheckInId,
    pub gate_id: GateId,
    /// The wall part of the check-in's stamp.
    pub at: UnixMillis,
}

/// The answer shown at the gate.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub code: VerdictCode,
    /// A sentence for the volunteer, in English.
    pub reason: String,
    /// For [`VerdictCode::AlreadyUsed`]: the first admission that counts against the rule (the
    /// earliest ever under [`Reentry::Never`], the earliest since the last exit under
    /// [`Reentry::AfterExit`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub first_admission: Option<Admission>,
    /// For [`VerdictCode::NeedsAnswers`]: the required field ids not answered, in gate order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<String>>", optional))]
    pub missing_answers: Vec<String>,
}

impl Verdict {
    fn new(code: VerdictCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
            first_admission: None,
            missing_answers: Vec::new(),
        }
    }
}

/// Decides whether the scanned ticket may pass. See the module docs for the order of checks.
pub fn decide(input: &VerdictInput<'_>) -> Verdict {
    let ticket = match input.ticket {
        ScannedTicket::Unknown => {
            return Verdict::new(
                VerdictCode::Unknown,
                "Unknown ticket: this code is not part of the event.",
            );
        }
        ScannedTicket::BadSignature => {
            return Verdict::new(
                VerdictCode::BadSignature,
                "Invalid code: its signature does not verify (forged, damaged, or another event's).",
            );
        }
        ScannedTicket::Known(ticket) => ticket,
    };
    check_status(&ticket)
        .or_else(|| check_gate(input, &ticket))
        .or_else(|| check_entry(input, &ticket))
        .unwrap_or_else(|| admitted(input))
}

/// The checks that only apply to entries: time, answers, re-entry.
fn check_entry(input: &VerdictInput<'_>, ticket: &KnownTicket<'_>) -> Option<Verdict> {
    if input.direction == Direction::Exit {
        return None;
    }
    check_time(input, ticket)
        .or_else(|| check_answers(input.gate, ticket))
        .or_else(|| check_already_used(input))
}

fn check_status(ticket: &KnownTicket<'_>) -> Option<Verdict> {
    match ticket.status {
        TicketStatus::Valid => None,
        TicketStatus::Revoked => Some(Verdict::new(
            VerdictCode::Revoked,
            "Ticket revoked: it was reissued or reported lost.",
        )),
        TicketStatus::Canceled => Some(Verdict::new(
            VerdictCode::Canceled,
            "Ticket canceled by the organiser.",
        )),
    }
}

fn check_gate(input: &VerdictInput<'_>, ticket: &KnownTicket<'_>) -> Option<Verdict> {
    let gate = input.gate;
    if !gate.admits_type(ticket.ticket_type) {
        let reason = format!(
            "Wrong gate: this ticket type is not admitted at {}.",
            gate.name
        );
        return Some(Verdict::new(VerdictCode::WrongGate, reason));
    }
    if !gate.mode.allows(input.direction) {
        let what = match input.direction {
            Direction::Entry => "entries",
            Direction::Exit => "exits",
        };
        let reason = format!("Wrong gate: {} does not scan {what}.", gate.name);
        return Some(Verdict::new(VerdictCode::WrongGate, reason));
    }
    None
}

fn check_time(input: &VerdictInput<'_>, ticket: &KnownTicket<'_>) -> Option<Verdict> {
    let (validity, now) = (ticket.validity, input.now);
    let show = |t: UnixMillis| format_time(t, now, input.utc_offset_minutes);
    match (validity.from, validity.until) {
        (Some(from), _) if validity.is_before(now) => Some(Verdict::new(
            VerdictCode::NotYetValid,
            format!("Not valid yet: valid from {}.", show(from)),
        )),
        (_, Some(until)) if validity.is_after(now) => Some(Verdict::new(
            VerdictCode::Expired,
            format!("Expired: was valid until {}.", show(until)),
        )),
        _ => None,
    }
}

fn check_answers(gate: &Gate, ticket: &KnownTicket<'_>) -> Option<Verdict> {
    let mut missing: Vec<String> = Vec::new();
    for field in &gate.required_answers {
        if !ticket.answered.contains(field) && !missing.contains(field) {
            missing.push(field.clone());
        }
    }
    if missing.is_empty() {
        return None;
    }
    let reason = format!("Questions to answer first: {}.", missing.join(", "));
    Some(Verdict {
        missing_answers: missing,
        ..Verdict::new(VerdictCode::NeedsAnswers, reason)
    })
}

fn check_already_used(input: &VerdictInput<'_>) -> Option<Verdict> {
    let mut facts: Vec<&CheckInFact> = input.check_ins.iter().filter(|f| f.counts()).collect();
    facts.sort_by_key(|f| (f.hlc, f.id));
    let mut presence = Presence::default();
    for fact in facts {
        presence.observe(fact.direction, fact);
    }
    let reentry = input.gate.reentry;
    let first = *presence.blocking(reentry)?;
    let admission = Admission {
        check_in_id: first.id,
        gate_id: first.gate_id,
        at: first.hlc.wall(),
    };
    let since = if reentry == Reentry::AfterExit {
        ", with no exit since"
    } else {
        ""
    };
    let reason = format!(
        "Already admitted at {} at {}{since}.",
        gate_name(input, first.gate_id),
        format_time(admission.at, input.now, input.utc_offset_minutes),
    );
    Some(Verdict {
        first_admission: Some(admission),
        ..Verdict::new(VerdictCode::AlreadyUsed, reason)
    })
}

fn admitted(input: &VerdictInput<'_>) -> Verdict {
    let reason = match input.direction {
        Direction::Entry => "Admitted.",
        Direction::Exit => "Exit admitted.",
    };
    Verdict::new(VerdictCode::Admitted, reason)
}

fn gate_name<'a>(input: &VerdictInput<'a>, id: GateId) -> &'a str {
    if input.gate.id == id {
        return &input.gate.name;
    }
    input
        .gates
        .iter()
        .find(|gate| gate.id == id)
        .map_or("another gate", |gate| gate.name.as_str())
}

/// The admissions of a ticket so far, walked in stamp order: what the re-entry rules look at.
/// Shared with the merge rules so a kiosk's verdict and the server's conflicts agree.
#[derive(Debug, Clone)]
pub(crate) struct Presence<T> {
    /// The earliest admission ever.
    first_ever: Option<T>,
    /// The earliest admission since the last exit (`None` after an exit).
    first_of_stay: Option<T>,
}

impl<T> Default for Presence<T> {
    fn default() -> Self {
        Self {
            first_ever: None,
            first_of_stay: None,
        }
    }
}

impl<T: Clone> Presence<T> {
    /// Records that someone passed (callers feed only admitted, non-annulled check-ins).
    pub(crate) fn observe(&mut self, direction: Direction, admission: T) {
        match direction {
            Direction::Entry => {
                self.first_of_stay.get_or_insert_with(|| admission.clone());
                self.first_ever.get_or_insert(admission);
            }
            Direction::Exit => self.first_of_stay = None,
        }
    }

    /// The admission that makes another entry a refusal under `reentry`, if any.
    pub(crate) fn blocking(&self, reentry: Reentry) -> Option<&T> {
        match reentry {
            Reentry::Never => self.first_ever.as_ref(),
            Reentry::AfterExit => self.first_of_stay.as_ref(),
            Reentry::Always => None,
        }
    }
}

const DAY_MS: i64 = 86_400_000;

/// Shows `t` on the venue clock: "10:42" on the same day as `now`, else "2024-06-01 10:42".
fn format_time(t: UnixMillis, now: UnixMillis, utc_offset_minutes: i32) -> String {
    let local = |ms: UnixMillis| {
        i64::try_from(ms.as_u64())
            .unwrap_or(i64::MAX)
            .saturating_add(i64::from(utc_offset_minutes) * 60_000)
    };
    let (t, now) = (local(t), local(now));
    let minutes = t.rem_euclid(DAY_MS) / 60_000;
    let clock = format!("{:02}:{:02}", minutes / 60, minutes % 60);
    let day = t.div_euclid(DAY_MS);
    if day == now.div_euclid(DAY_MS) {
        return clock;
    }
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02} {clock}")
}

/// Proleptic Gregorian date of a day number since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GateMode;

    fn uuid(n: u8) -> uuid::Uuid {
        uuid::Builder::from_unix_timestamp_millis(1_700_000_000_000 + u64::from(n), &[n; 10])
            .into_uuid()
    }

    fn ticket_id() -> TicketId {
        TicketId::from_uuid(uuid(1)).unwrap()
    }
    fn type_id(n: u8) -> TicketTypeId {
        TicketTypeId::from_uuid(uuid(n)).unwrap()
    }
    fn gate_id(n: u8) -> GateId {
        GateId::from_uuid(uuid(n)).unwrap()
    }
    fn check_in_id(n: u8) -> CheckInId {
        CheckInId::from_uuid(uuid(n)).unwrap()
    }

    /// 2023-11-14 22:13:20 UTC.
    const T0: u64 = 1_700_000_000_000;
    const HOUR: u64 = 3_600_000;
    const DAY_TYPE: u8 = 10;
    const VIP_TYPE: u8 = 11;
    const MAIN: u8 = 20;
    const SIDE: u8 = 21;

    fn gate(reentry: Reentry) -> Gate {
        Gate {
            id: gate_id(MAIN),
            name: "Gate A".into(),
            allowed_ticket_types: vec![type_id(DAY_TYPE)],
            mode: GateMode::EntryAndExit,
            reentry,
            required_answers: Vec::new(),
            show_answers: vec![],
            print_badge: Default::default(),
        }
    }

    fn side_gate() -> Gate {
        Gate {
            id: gate_id(SIDE),
            name: "Gate B".into(),
            ..gate(Reentry::Never)
        }
    }

    fn known(status: TicketStatus) -> KnownTicket<'static> {
        KnownTicket {
            id: ticket_id(),
            ticket_type: type_id(DAY_TYPE),
            status,
            validity: Validity {
                from: Some(UnixMillis(T0)),
                until: Some(UnixMillis(T0 + 10 * HOUR)),
            },
            answered: &[],
        }
    }

    fn fact(n: u8, direction: Direction, wall: u64) -> CheckInFact {
        CheckInFact {
            id: check_in_id(n),
            gate_id: gate_id(SIDE),
            direction,
            admitted: true,
            hlc: Hlc::new(wall, 0),
            annulled: false,
        }
    }

    fn entry(n: u8, wall: u64) -> CheckInFact {
        fact(n, Direction::Entry, wall)
    }
    fn exit(n: u8, wall: u64) -> CheckInFact {
        fact(n, Direction::Exit, wall)
    }

    /// One row of the table: a scenario described by changes to a valid default.
    struct Case {
        name: &'static str,
        ticket: ScannedTicket<'static>,
        gate: Gate,
        direction: Direction,
        check_ins: Vec<CheckInFact>,
        now: u64,
        expect: VerdictCode,
    }

    fn case(name: &'static str, expect: VerdictCode) -> Case {
        Case {
            name,
            ticket: ScannedTicket::Known(known(TicketStatus::Valid)),
            gate: gate(Reentry::Never),
            direction: Direction::Entry,
            check_ins: Vec::new(),
            now: T0 + HOUR,
            expect,
        }
    }

    impl Case {
        fn ticket(mut self, ticket: ScannedTicket<'static>) -> Self {
            self.ticket = ticket;
            self
        }
        fn with_ticket(mut self, f: impl FnOnce(&mut KnownTicket<'static>)) -> Self {
            if let ScannedTicket::Known(t) = &mut self.ticket {
                f(t);
            }
            self
        }
        fn with_gate(mut self, f: impl FnOnce(&mut Gate)) -> Self {
            f(&mut self.gate);
            self
        }
        fn exit(mut self) -> Self {
            self.direction = Direction::Exit;
            self
        }
        fn facts(mut self, facts: Vec<CheckInFact>) -> Self {
            self.check_ins = facts;
            self
        }
        fn at(mut self, now: u64) -> Self {
            self.now = now;
            self
        }

        fn run(&self) -> Verdict {
            let gates = [side_gate()];
            decide(&VerdictInput {
                ticket: self.ticket,
                gate: &self.gate,
                direction: self.direction,
                check_ins: &self.check_ins,
                now: UnixMillis(self.now),
                gates: &gates,
                utc_offset_minutes: 60,
            })
        }
    }

    fn table() -> Vec<Case> {
        use VerdictCode::*;
        let revoked = known(TicketStatus::Revoked);
        let canceled = known(TicketStatus::Canceled);
        let wrong_type = |t: &mut KnownTicket<'static>| t.ticket_type = type_id(VIP_TYPE);
        let needs_consent = |g: &mut Gate| g.required_answers = vec!["consent".into()];
        let refused = CheckInFact {
            admitted: false,
            ..entry(1, T0)
        };
        let annulled = CheckInFact {
            annulled: true,
            ..entry(1, T0)
        };
        vec![
            // Every code.
            case("plain entry", Admitted),
            case("unknown code", Unknown).ticket(ScannedTicket::Unknown),
            case("forged code", BadSignature).ticket(ScannedTicket::BadSignature),
            case("revoked", Revoked).ticket(ScannedTicket::Known(revoked)),
            case("canceled", Canceled).ticket(ScannedTicket::Known(canceled)),
            case("type not allowed", WrongGate).with_ticket(wrong_type),
            case("entry at exit-only gate", WrongGate).with_gate(|g| g.mode = GateMode::ExitOnly),
            case("exit at entry-only gate", WrongGate)
                .exit()
                .with_gate(|g| g.mode = GateMode::EntryOnly),
            case("before window", NotYetValid).at(T0 - HOUR),
            case("after window", Expired).at(T0 + 11 * HOUR),
            case("missing consent", NeedsAnswers).with_gate(needs_consent),
            case("second entry, never", AlreadyUsed).facts(vec![entry(1, T0)]),
            // Re-entry modes.
            case("never: refused scan does not count", Admitted).facts(vec![refused]),
            case("never: annulled check-in does not count", Admitted).facts(vec![annulled]),
            case("never: an exit does not reopen", AlreadyUsed)
                .facts(vec![entry(1, T0), exit(2, T0 + 1)]),
            case("after exit: inside", AlreadyUsed)
                .with_gate(|g| g.reentry = Reentry::AfterExit)
                .facts(vec![entry(1, T0)]),
            case("after exit: went out", Admitted)
                .with_gate(|g| g.reentry = Reentry::AfterExit)
                .facts(vec![entry(1, T0), exit(2, T0 + 1)]),
            case("after exit: back in again", AlreadyUsed)
                .with_gate(|g| g.reentry = Reentry::AfterExit)
                .facts(vec![exit(2, T0 + 1), entry(3, T0 + 2), entry(1, T0)]),
            case("after exit: exit before the entry", AlreadyUsed)
                .with_gate(|g| g.reentry = Reentry::AfterExit)
                .facts(vec![entry(1, T0 + 2), exit(2, T0 + 1)]),
            case("after exit: annulled exit does not count", AlreadyUsed)
                .with_gate(|g| g.reentry = Reentry::AfterExit)
                .facts(vec![
                    entry(1, T0),
                    CheckInFact {
                        annulled: true,
                        ..exit(2, T0 + 1)
                    },
                ]),
            case("always", Admitted)
                .with_gate(|g| g.reentry = Reentry::Always)
                .facts(vec![entry(1, T0), entry(2, T0 + 1)]),
            // Exits.
            case("exit after entry, never", Admitted)
                .exit()
                .facts(vec![entry(1, T0)]),
            case("exit twice", Admitted)
                .exit()
                .facts(vec![exit(1, T0), exit(2, T0 + 1)]),
            case("exit after the window", Admitted)
                .exit()
                .at(T0 + 11 * HOUR),
            case("exit with questions open", Admitted)
                .exit()
                .with_gate(needs_consent),
            case("exit of a revoked ticket", Revoked)
                .exit()
                .ticket(ScannedTicket::Known(revoked)),
            case("exit, wrong type", WrongGate)
                .exit()
                .with_ticket(wrong_type),
            // Bounds: both inclusive.
            case("exactly at valid_from", Admitted).at(T0),
            case("one ms before valid_from", NotYetValid).at(T0 - 1),
            case("exactly at valid_until", Admitted).at(T0 + 10 * HOUR),
            case("one ms after valid_until", Expired).at(T0 + 10 * HOUR + 1),
            case("open window", Admitted)
                .with_ticket(|t| t.validity = Validity::default())
                .at(0),
            // Allowed types.
            case("empty allowed list admits every type", Admitted)
                .with_ticket(wrong_type)
                .with_gate(|g| g.allowed_ticket_types.clear()),
            case("answered consent", Admitted)
                .with_gate(needs_consent)
                .with_ticket(|t| t.answered = ANSWERED.as_slice()),
            // Order of checks.
            case("revoked beats wrong gate", Revoked)
                .ticket(ScannedTicket::Known(revoked))
                .with_ticket(wrong_type),
            case("canceled beats expired", Canceled)
                .ticket(ScannedTicket::Known(canceled))
                .at(T0 + 11 * HOUR),
            case("wrong gate beats not yet valid", WrongGate)
                .with_ticket(wrong_type)
                .at(T0 - HOUR),
            case("expired beats questions", Expired)
                .with_gate(needs_consent)
                .at(T0 + 11 * HOUR),
            case("questions beat already used", NeedsAnswers)
                .with_gate(needs_consent)
                .facts(vec![entry(1, T0)]),
        ]
    }

    static ANSWERED: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| vec!["consent".to_owned(), "t_shirt".to_owned()]);

    #[test]
    fn table_of_cases() {
        let cases = table();
        for case in &cases {
            let verdict = case.run();
            assert_eq!(
                verdict.code, case.expect,
                "{}: {}",
                case.name, verdict.reason
            );
            assert!(!verdict.reason.is_empty(), "{}", case.name);
        }
        let codes: std::collections::BTreeSet<_> = cases.iter().map(|c| c.expect).collect();
        assert_eq!(codes.len(), 10, "every code is covered");
    }

    #[test]
    fn already_used_names_the_first_admission() {
        let verdict = case("", VerdictCode::AlreadyUsed)
            .facts(vec![entry(2, T0 + HOUR / 4), entry(1, T0)])
            .at(T0 + HOUR / 2)
            .run();
        let first = verdict.first_admission.unwrap();
        assert_eq!(first.check_in_id, check_in_id(1));
        assert_eq!(first.gate_id, gate_id(SIDE));
        assert_eq!(first.at, UnixMillis(T0));
        // T0 is 22:13:20 UTC, 23:13 at UTC+1, the same local day as now (23:43).
        assert_eq!(verdict.reason, "Already admitted at Gate B at 23:13.");
    }

    #[test]
    fn after_exit_names_the_first_admission_of_the_stay() {
        let verdict = case("", VerdictCode::AlreadyUsed)
            .with_gate(|g| g.reentry = Reentry::AfterExit)
            .facts(vec![
                entry(1, T0),
                exit(2, T0 + 1),
                entry(3, T0 + 2),
                entry(4, T0 + 3),
            ])
            .run();
        assert_eq!(verdict.first_admission.unwrap().check_in_id, check_in_id(3));
        assert!(verdict.reason.ends_with("with no exit since."));
    }

    #[test]
    fn earlier_gate_unknown_or_other_day() {
        let mut far = entry(1, T0 - 2 * 24 * HOUR);
        far.gate_id = gate_id(99);
        let verdict = case("", VerdictCode::AlreadyUsed).facts(vec![far]).run();
        assert_eq!(
            verdict.reason,
            "Already admitted at another gate at 2023-11-12 23:13."
        );
    }

    #[test]
    fn needs_answers_lists_missing_fields_once_in_gate_order() {
        let verdict = case("", VerdictCode::NeedsAnswers)
            .with_gate(|g| {
                g.required_answers = vec!["diet".into(), "consent".into(), "diet".into()];
            })
            .with_ticket(|t| t.answered = ANSWERED.as_slice())
            .run();
        assert_eq!(verdict.missing_answers, vec!["diet".to_owned()]);
        assert_eq!(verdict.reason, "Questions to answer first: diet.");
    }

    #[test]
    fn wire_names_are_snake_case() {
        let verdict = case("", VerdictCode::AlreadyUsed)
            .facts(vec![entry(1, T0)])
            .run();
        let json = serde_json::to_value(&verdict).unwrap();
        assert_eq!(json["code"], "already_used");
        assert!(json["first_admission"]["check_in_id"].is_string());
        assert!(json.get("missing_answers").is_none());
        let back: Verdict = serde_json::from_value(json).unwrap();
        assert_eq!(back, verdict);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
