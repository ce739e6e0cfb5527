//! The scan-to-verdict path of a gate: code in, verdict out, check-in (or failed scan) and its
//! outbox row committed before the verdict is shown.
//!
//! A signed code is verified offline (server key, or the issuing kiosk's certificate from the
//! package); an opaque code is looked up by its blind index. The verdict rule is the pure
//! `sync_protocol::verdict::decide`, the same the server replays.
//!
//! [`annul`] takes back this kiosk's own check-in within [`ANNUL_WINDOW_MS`] (a turnstile that did
//! not turn): the check-in stays a fact, flagged annulled here and on the server.

use rand::rngs::OsRng;
use serde::Serialize;
use sync_protocol::UnixMillis;
use sync_protocol::certificate::CertificateSet;
use sync_protocol::changes::{
    BadgePrint, ChangeBody, CheckIn, CheckInAnnulment, FailedScan, FoundBy, scanned_text,
};
use sync_protocol::forms::{FieldError, FieldErrorCode, validate_gate_answers};
use sync_protocol::ids::{CheckInId, GateId, TicketId};
use sync_protocol::model::{Answers, Direction, TicketStatus, TicketType};
use sync_protocol::ticket_code::{TicketCode, verify};
use sync_protocol::verdict::{KnownTicket, ScannedTicket, Validity, Verdict, VerdictInput, decide};

use crate::store::{KioskStore, StoreError, TicketRecord};

/// What can stop a scan from being judged at all (a verdict, even "unknown", is not an error).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("this kiosk is not enrolled yet")]
    NotEnrolled,
    #[error("gate {0} is not in this kiosk's package")]
    UnknownGate(GateId),
    #[error("ticket {0} is not in this kiosk's package")]
    UnknownTicket(TicketId),
    #[error("check-in {0} is not known at this kiosk")]
    UnknownCheckIn(CheckInId),
    #[error("check-in {0} was made by another kiosk: only that kiosk can annul it")]
    OtherKiosksCheckIn(CheckInId),
    #[error("check-in {0} is annulled already")]
    AlreadyAnnulled(CheckInId),
    #[error("check-in {0} is more than two minutes old: it can no longer be annulled")]
    AnnulTooLate(CheckInId),
    #[error("ticket {0} has no guest in this kiosk's package: their answers cannot be kept here")]
    NoGuest(TicketId),
    #[error("some answers need attention")]
    Answers(Vec<FieldError>),
}

/// How long after its check-in a kiosk may annul it. The server accepts annulments for longer
/// (15 minutes); the kiosk offers "undo" only while the person is still at the gate.
pub const ANNUL_WINDOW_MS: u64 = 2 * 60_000;

/// The reason an annulment made at the gate carries.
pub const ANNUL_REASON: &str = "annulled at the gate: the person did not pass";

/// The result of one scan, for the screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanResult {
    pub verdict: Verdict,
    pub ticket_id: Option<TicketId>,
    /// The attendee's name, when the ticket is known here.
    pub attendee_name: Option<String>,
    /// The recorded check-in, which [`annul`] can take back for a short while (`None` for a
    /// failed scan).
    pub check_in_id: Option<CheckInId>,
    /// The outbox seq of the recorded check-in or failed scan.
    pub seq: u64,
    /// The guest's answers to the fields the gate shows (`show_answers`), in the gate's order;
    /// fields not answered are left out.
    pub shown_answers: Vec<(String, serde_json::Value)>,
    /// This admission prints the guest's badge (the gate's `print_badge`); the print is in the
    /// print log already, so a badge is printed at most once by accident.
    pub print_badge: bool,
}

/// A check-in this kiosk annulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Annulled {
    pub check_in_id: CheckInId,
    pub ticket_id: TicketId,
    /// The outbox seq of the annulment.
    pub seq: u64,
}

/// Longest scanned text kept in a failed-scan record.
const MAX_SCANNED_TEXT: usize = 256;

/// Judges one scanned payload at `gate_id` and records the outcome.
pub fn scan(
    store: &mut KioskStore,
    payload: &[u8],
    gate_id: GateId,
    direction: Direction,
    now: UnixMillis,
    offline: bool,
) -> Result<ScanResult, GateError> {
    let identity = store.identity()?.ok_or(GateError::NotEnrolled)?;
    let found = find_by_code(store, &identity, payload)?;
    let at = Judging {
        gate_id,
        direction,
        now,
        offline,
        found_by: FoundBy::Code,
        scanned_text: scanned_text(payload, MAX_SCANNED_TEXT),
    };
    judge(store, found, at)
}

/// Judges the ticket a volunteer picked from a search by name at `gate_id` and records the
/// outcome, as [`scan`] does for a code: the same rules, and the check-in says it was found by
/// search. A ticket this kiosk does not hold (gone with the last package) is an error, not a
/// verdict: there was nothing to scan.
pub fn admit_found(
    store: &mut KioskStore,
    ticket_id: TicketId,
    gate_id: GateId,
    direction: Direction,
    now: UnixMillis,
    offline: bool,
) -> Result<ScanResult, GateError> {
    let record = store
        .ticket_by_id(ticket_id)?
        .ok_or(GateError::UnknownTicket(ticket_id))?;
    let found = Found {
        record: Some(record),
        ..Found::default()
    };
    let at = Judging {
        gate_id,
        direction,
        now,
        offline,
        found_by: FoundBy::Search,
        scanned_text: String::new(),
    };
    judge(store, found, at)
}

/// Takes the answers to the questions gate `gate_id` asks (after a
/// [`VerdictCode::NeedsAnswers`](sync_protocol::verdict::VerdictCode::NeedsAnswers) verdict),
/// keeps them with the guest (an attendee edit, synced like any change), then judges the ticket
/// again and records the outcome as [`scan`] does. `found_by` is how the ticket was found first.
///
/// Only questions still unanswered are taken: an answer to one that is answered already (another
/// kiosk's answer pulled since) is left out; an answer the gate does not ask is refused. A ticket
/// known only from its signed code (no guest here) cannot keep answers: an error.
#[allow(clippy::too_many_arguments)]
pub fn answer_and_admit(
    store: &mut KioskStore,
    ticket_id: TicketId,
    answers: &Answers,
    gate_id: GateId,
    direction: Direction,
    found_by: FoundBy,
    now: UnixMillis,
    offline: bool,
) -> Result<ScanResult, GateError> {
    let record = store
        .ticket_by_id(ticket_id)?
        .ok_or(GateError::UnknownTicket(ticket_id))?;
    let gate = store
        .gate(gate_id)?
        .ok_or(GateError::UnknownGate(gate_id))?;
    let attendee = store
        .attendee(record.attendee_id)?
        .ok_or(GateError::NoGuest(ticket_id))?;
    let asked: Vec<String> = gate
        .required_answers
        .iter()
        .filter(|field| !attendee.answers.contains_key(*field))
        .cloned()
        .collect();
    let given: Answers = answers
        .iter()
        .filter(|(field, _)| asked.contains(field) || !gate.required_answers.contains(field))
        .map(|(field, value)| (field.clone(), value.clone()))
        .collect();
    if !asked.is_empty() || !given.is_empty() {
        let cleaned = match crate::walkin::current_form(store)? {
            Some(form) => validate_gate_answers(&form, &asked, &given),
            // A gate asking questions of an event without a form (a package made wrong).
            None => Err(asked
                .iter()
                .map(|field| FieldError {
                    field: field.clone(),
                    code: FieldErrorCode::UnknownField,
                    message: "The event has no form with this question.".into(),
                })
                .collect()),
        }
        .map_err(GateError::Answers)?;
        let values = cleaned
            .into_iter()
            .map(|(field, value)| (format!("answers.{field}"), value))
            .collect();
        store.edit_attendee(attendee.id, values, now)?;
    }
    let found = Found {
        record: Some(record),
        ..Found::default()
    };
    let at = Judging {
        gate_id,
        direction,
        now,
        offline,
        found_by,
        scanned_text: String::new(),
    };
    judge(store, found, at)
}

/// What a code told of its ticket.
#[derive(Default)]
struct Found {
    /// The ticket's record, when this kiosk holds it.
    record: Option<TicketRecord>,
    /// The validity a verified signed code carries.
    validity_from_code: Option<Validity>,
    /// The ticket and type a verified signed code claims (a ticket newer than the package).
    signed_claims: Option<(TicketId, sync_protocol::ids::TicketTypeId)>,
    /// A signed code whose signature does not verify.
    bad_signature: bool,
}

/// Where and how a ticket is judged.
struct Judging {
    gate_id: GateId,
    direction: Direction,
    now: UnixMillis,
    offline: bool,
    found_by: FoundBy,
    /// What was scanned, for a failed scan's record (empty for a search).
    scanned_text: String,
}

/// Reads a scanned payload: an opaque code by its blind index, a signed code verified offline.
fn find_by_code(
    store: &KioskStore,
    identity: &crate::store::Identity,
    payload: &[u8],
) -> Result<Found, GateError> {
    let mut found = Found::default();
    match TicketCode::parse_bytes(payload) {
        Err(_) => {}
        Ok(TicketCode::Opaque(code)) => {
            found.record = store.ticket_by_code(&TicketCode::Opaque(code))?;
        }
        Ok(TicketCode::Signed(code)) => {
            let (certificates, revoked) = store.certificates()?;
            let set = CertificateSet::new(
                identity.event_id,
                &identity.server_key,
                &certificates,
                revoked,
            );
            match verify(&code, identity.event_id, &identity.server_key, &set) {
                Ok(verified) => {
                    found.validity_from_code = Some(Validity {
                        from: verified.valid_from(),
                        until: verified.valid_until(),
                    });
                    found.signed_claims = Some((verified.ticket_id(), verified.ticket_type_id()));
                    found.record = store.ticket_by_id(verified.ticket_id())?;
                }
                Err(_) => found.bad_signature = true,
            }
        }
    }
    Ok(found)
}

/// Decides the verdict for what was found and records it (check-in, or failed scan) with its
/// outbox row before answering.
fn judge(store: &mut KioskStore, found: Found, at: Judging) -> Result<ScanResult, GateError> {
    let Judging {
        gate_id,
        direction,
        now,
        offline,
        found_by,
        scanned_text,
    } = at;
    let now = store.corrected(now)?;
    // The gate's own row: an edited gate is refused here, and only it (see `store::rules`).
    let gate = store
        .gate(gate_id)?
        .ok_or(GateError::UnknownGate(gate_id))?;
    let gate = &gate;
    let gates = store.gates()?;
    let Found {
        record,
        validity_from_code,
        signed_claims,
        bad_signature,
    } = found;

    // What the kiosk knows of the ticket: its record, or only what a verified code claims
    // (a ticket sold or registered after the last package).
    let known = match (&record, signed_claims) {
        (Some(r), _) => Some((r.id, r.ticket_type_id, r.status)),
        (None, Some((id, ticket_type))) => Some((id, ticket_type, TicketStatus::Valid)),
        (None, None) => None,
    };
    let attendee = match &record {
        Some(r) => store.attendee(r.attendee_id)?,
        None => None,
    };
    let answered: Vec<String> = attendee
        .as_ref()
        .map(|a| a.answers.keys().cloned().collect())
        .unwrap_or_default();
    let check_ins = match known {
        Some((id, _, _)) => store.check_ins_of(id)?,
        None => Vec::new(),
    };
    // The ticket type's own row, for its validity: an edited type is refused, not read as none.
    let ticket_type_rules = match known {
        Some((_, ticket_type, _)) => store.ticket_type(ticket_type)?,
        None => None,
    };
    let scanned = match known {
        Some((id, ticket_type, status)) => ScannedTicket::Known(KnownTicket {
            id,
            ticket_type,
            status,
            validity: validity(ticket_type_rules.as_ref(), validity_from_code),
            answered: &answered,
        }),
        None if bad_signature => ScannedTicket::BadSignature,
        None => ScannedTicket::Unknown,
    };
    let verdict = decide(&VerdictInput {
        ticket: scanned,
        gate,
        direction,
        check_ins: &check_ins,
        now,
        gates: &gates,
        utc_offset_minutes: venue_offset_minutes(store, now)?,
    });

    let body = match known {
        Some((ticket_id, _, _)) if verdict.code.admits() => ChangeBody::CheckIn(CheckIn {
            id: CheckInId::new(now, &mut OsRng),
            ticket_id,
            gate_id,
            direction,
            verdict: verdict.code,
            offline,
            scanned_at: now,
            found_by,
        }),
        _ => ChangeBody::FailedScan(FailedScan {
            id: CheckInId::new(now, &mut OsRng),
            gate_id,
            direction,
            ticket_id: known.map(|(id, _, _)| id),
            verdict: verdict.code,
            scanned_text,
            offline,
            scanned_at: now,
            found_by,
        }),
    };
    let check_in_id = match &body {
        ChangeBody::CheckIn(c) => Some(c.id),
        _ => None,
    };
    let change = store.record(&body, now)?;
    let print_badge = match (&body, &attendee) {
        (ChangeBody::CheckIn(c), Some(_)) if c.direction == Direction::Entry => {
            let print = gate.print_badge.prints(store.badge_printed(c.ticket_id)?);
            if print {
                store.record(
                    &ChangeBody::BadgePrint(BadgePrint {
                        ticket_id: c.ticket_id,
                        gate_id,
                        check_in_id: Some(c.id),
                        reprint: false,
                        printed_at: now,
                    }),
                    now,
                )?;
            }
            print
        }
        _ => false,
    };
    let shown_answers = match &attendee {
        Some(a) => gate
            .show_answers
            .iter()
            .filter_map(|field| Some((field.clone(), a.answers.get(field)?.clone())))
            .collect(),
        None => Vec::new(),
    };
    Ok(ScanResult {
        shown_answers,
        verdict,
        ticket_id: known.map(|(id, _, _)| id),
        attendee_name: attendee.map(|a| format!("{} {}", a.first_name, a.last_name)),
        check_in_id,
        seq: change.seq,
        print_badge,
    })
}

/// A coordinator prints `ticket_id`'s badge again (the first print jammed, the badge was lost):
/// recorded in the print log as a reprint at `gate_id`. Returns the print's outbox seq.
pub fn reprint_badge(
    store: &mut KioskStore,
    ticket_id: TicketId,
    gate_id: GateId,
    now: UnixMillis,
) -> Result<u64, GateError> {
    if store.ticket_by_id(ticket_id)?.is_none() {
        return Err(GateError::UnknownTicket(ticket_id));
    }
    let change = store.record(
        &ChangeBody::BadgePrint(BadgePrint {
            ticket_id,
            gate_id,
            check_in_id: None,
            reprint: true,
            printed_at: now,
        }),
        now,
    )?;
    Ok(change.seq)
}

/// Annuls this kiosk's check-in `check_in_id`, made at most [`ANNUL_WINDOW_MS`] before `now`
/// (by its HLC time), and records the annulment for the server in the same transaction.
pub fn annul(
    store: &mut KioskStore,
    check_in_id: CheckInId,
    now: UnixMillis,
) -> Result<Annulled, GateError> {
    let identity = store.identity()?.ok_or(GateError::NotEnrolled)?;
    let now = store.corrected(now)?;
    let (ticket_id, device_id, fact) = store
        .check_in(check_in_id)?
        .ok_or(GateError::UnknownCheckIn(check_in_id))?;
    if device_id != identity.device_id {
        return Err(GateError::OtherKiosksCheckIn(check_in_id));
    }
    if fact.annulled {
        return Err(GateError::AlreadyAnnulled(check_in_id));
    }
    if now.millis_since(fact.hlc.wall()) > ANNUL_WINDOW_MS {
        return Err(GateError::AnnulTooLate(check_in_id));
    }
    let body = ChangeBody::CheckInAnnulment(CheckInAnnulment {
        check_in_id,
        ticket_id,
        reason: ANNUL_REASON.to_owned(),
    });
    let change = match store.record(&body, now) {
        // Within the undo time by the clock, but the stamp it would get is past the protocol's
        // window (this kiosk's clock was pulled ahead): refused, as the server would.
        Err(StoreError::AnnulmentTooLate) => return Err(GateError::AnnulTooLate(check_in_id)),
        other => other?,
    };
    tracing::info!(check_in = %check_in_id, seq = change.seq, "check-in annulled");
    Ok(Annulled {
        check_in_id,
        ticket_id,
        seq: change.seq,
    })
}

/// The window in which a ticket admits: its type's, narrowed by the code's own bounds.
fn validity(ticket_type: Option<&TicketType>, from_code: Option<Validity>) -> Validity {
    let from_type = ticket_type.map(Validity::from).unwrap_or_default();
    let Some(code) = from_code else {
        return from_type;
    };
    Validity {
        from: from_type.from.max(code.from),
        until: match (from_type.until, code.until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
    }
}

/// The event's offset from UTC at `now`, in minutes, so reasons show venue time ("at 10:42").
/// An unknown time-zone name falls back to UTC.
fn venue_offset_minutes(store: &KioskStore, now: UnixMillis) -> Result<i32, StoreError> {
    use chrono::{Offset, TimeZone};
    let Some(event) = store.event()? else {
        return Ok(0);
    };
    let Ok(zone) = event.time_zone.parse::<chrono_tz::Tz>() else {
        tracing::warn!(zone = %event.time_zone, "unknown time zone: reasons show UTC");
        return Ok(0);
    };
    let Some(instant) = chrono::DateTime::from_timestamp_millis(now.as_u64() as i64) else {
        return Ok(0);
    };
    let offset = zone.offset_from_utc_datetime(&instant.naive_utc()).fix();
    Ok(offset.local_minus_utc() / 60)
}
