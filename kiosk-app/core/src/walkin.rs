//! Walk-in registration at the desk: answers validated against the event's form, a new attendee
//! and ticket stored with their outbox row in one transaction, and a badge signed by this kiosk's
//! certified key, so every gate accepts it at once, even offline.

use rand::rngs::OsRng;
use serde::Serialize;
use sync_protocol::UnixMillis;
use sync_protocol::changes::{ChangeBody, WalkIn};
use sync_protocol::forms::{FieldError, Form, validate_answers};
use sync_protocol::ids::{AttendeeId, TicketId, TicketTypeId};
use sync_protocol::model::{Answers, Attendee, Ticket, TicketStatus, check_answers_size, limits};
use sync_protocol::ticket_code::{CodeClaims, issue_certified_device_code, issue_device_code};

use crate::badge::{BadgeError, BadgeQr, render};
use crate::store::{KioskStore, StoreError};

/// What the desk typed in.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct WalkInRequest {
    pub first_name: String,
    pub last_name: String,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub email: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub phone: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub ticket_type_id: Option<TicketTypeId>,
    #[serde(default)]
    pub answers: Answers,
}

/// Why a walk-in was not registered. Field errors are for the form, one per field.
#[derive(Debug, thiserror::Error)]
pub enum WalkInError {
    #[error("some answers need attention")]
    Fields(Vec<FieldError>),
    #[error("this kiosk is not enrolled or holds no package")]
    NotReady,
    #[error("ticket type {0} is not in this event's package")]
    UnknownTicketType(TicketTypeId),
    #[error("this event has no ticket type to sell at the desk")]
    NoTicketType,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Badge(#[from] BadgeError),
    #[error("cannot sign the badge: {0}")]
    Code(String),
}

/// A registered walk-in and their badge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registration {
    pub attendee: Attendee,
    pub ticket: Ticket,
    pub badge_svg: String,
    pub badge_qr_version: i16,
    /// Outbox seq of the registration.
    pub seq: u64,
}

fn field_error(
    field: &str,
    code: sync_protocol::forms::FieldErrorCode,
    message: &str,
) -> FieldError {
    FieldError {
        field: field.to_owned(),
        code,
        message: message.to_owned(),
    }
}

/// Checks the fixed fields every walk-in has; trims them.
fn check_person(request: &mut WalkInRequest) -> Vec<FieldError> {
    use sync_protocol::forms::FieldErrorCode as Code;
    let mut errors = Vec::new();
    request.first_name = request.first_name.trim().to_owned();
    request.last_name = request.last_name.trim().to_owned();
    if request.first_name.is_empty() {
        errors.push(field_error(
            "first_name",
            Code::Required,
            "Enter a first name.",
        ));
    }
    if request.last_name.is_empty() {
        errors.push(field_error(
            "last_name",
            Code::Required,
            "Enter a last name.",
        ));
    }
    for (field, value) in [
        ("first_name", &request.first_name),
        ("last_name", &request.last_name),
    ] {
        if value.chars().count() > limits::MAX_NAME_CHARS {
            errors.push(field_error(field, Code::TooLong, "At most 100 characters."));
        } else if value.chars().any(char::is_control) {
            errors.push(field_error(
                field,
                Code::Pattern,
                "Letters, spaces and punctuation only.",
            ));
        }
    }
    request.email = request
        .email
        .take()
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty());
    if let Some(email) = &request.email {
        let valid = email.len() <= limits::MAX_EMAIL_LEN
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            })
            && !email.contains(char::is_whitespace);
        if !valid {
            errors.push(field_error(
                "email",
                Code::InvalidEmail,
                "Enter an email address like name@example.org.",
            ));
        }
    }
    request.phone = request
        .phone
        .take()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    if let Some(phone) = &request.phone {
        let digits = phone.chars().filter(char::is_ascii_digit).count();
        let allowed = phone
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()/.".contains(c));
        if !allowed || !(5..=20).contains(&digits) {
            errors.push(field_error(
                "phone",
                Code::InvalidPhone,
                "Enter a phone number with 5 to 20 digits.",
            ));
        }
    }
    errors
}

/// The newest version of the event's registration form, if it has one.
pub(crate) fn current_form(store: &KioskStore) -> Result<Option<Form>, StoreError> {
    let forms = store.forms()?;
    Ok(forms.into_iter().max_by_key(|f| f.version))
}

/// Registers a walk-in and issues their badge.
pub fn register(
    store: &mut KioskStore,
    mut request: WalkInRequest,
    now: UnixMillis,
) -> Result<Registration, WalkInError> {
    let identity = store.identity()?.ok_or(WalkInError::NotReady)?;
    let now = store.corrected(now)?;
    let device_key = store.device_key()?.ok_or(WalkInError::NotReady)?;
    let ticket_type = match request.ticket_type_id {
        Some(id) => store
            .ticket_type(id)?
            .ok_or(WalkInError::UnknownTicketType(id))?,
        None => store
            .ticket_types()?
            .into_iter()
            .next()
            .ok_or(WalkInError::NoTicketType)?,
    };

    let mut errors = check_person(&mut request);
    let form = current_form(store)?;
    let answers = match &form {
        Some(form) => match validate_answers(form, &request.answers) {
            Ok(clean) => clean,
            Err(field_errors) => {
                errors.extend(field_errors);
                Answers::new()
            }
        },
        None => Answers::new(),
    };
    // Every answer within its own limit can still add up to more than a server takes.
    if let Err(detail) = check_answers_size(&answers) {
        errors.push(field_error(
            "answers",
            sync_protocol::forms::FieldErrorCode::TooLong,
            &detail,
        ));
    }
    if !errors.is_empty() {
        return Err(WalkInError::Fields(errors));
    }

    let attendee = Attendee {
        id: AttendeeId::new(now, &mut OsRng),
        first_name: request.first_name,
        last_name: request.last_name,
        email: request.email,
        phone: request.phone,
        answers,
        form: form.as_ref().map(Form::form_ref),
    };
    let ticket_id = TicketId::new(now, &mut OsRng);
    let claims = CodeClaims {
        ticket_id,
        ticket_type_id: ticket_type.id,
        valid_from: ticket_type.valid_from,
        valid_until: ticket_type.valid_until,
    };
    // With a badge certificate, every kiosk of the event admits the badge at once; without one
    // (an older server), only kiosks whose package lists this kiosk.
    let code = match &identity.badge_certificate {
        Some(badge) => issue_certified_device_code(identity.event_id, badge, &claims, &device_key),
        None => issue_device_code(identity.event_id, identity.device_id, &claims, &device_key),
    }
    .map_err(|e| WalkInError::Code(e.to_string()))?;
    let badge: BadgeQr = render(code.as_str(), crate::badge::BADGE_QR_PX)?;
    let ticket = Ticket {
        id: ticket_id,
        attendee_id: attendee.id,
        ticket_type_id: ticket_type.id,
        status: TicketStatus::Valid,
        code: code.as_str().to_owned(),
    };
    let change = store.record(
        &ChangeBody::WalkIn(WalkIn {
            attendee: attendee.clone(),
            ticket: ticket.clone(),
            form: attendee.form,
        }),
        now,
    )?;
    Ok(Registration {
        attendee,
        ticket,
        badge_svg: badge.svg,
        badge_qr_version: badge.version,
        seq: change.seq,
    })
}
