// The fixed fields every walk-in has (name, email, phone, ticket type), as a form page placed
// before the event's own pages, with the engine's own checks for them (kiosk-core's walkin.rs:
// they are looser than the form's email and phone kinds). Their ids hold a "-", which a form
// field id never does, so they never collide with the form's.
import type { TFunction } from 'i18next';
import type { Form, Page, TicketType, WalkInRequest } from '../../bindings';
import type { CleanAnswers, EvaluateOptions, Problem, RawAnswers } from '../../forms/validation';

export const PERSON = {
  first_name: 'person-first_name',
  last_name: 'person-last_name',
  email: 'person-email',
  phone: 'person-phone',
  ticket_type_id: 'person-ticket_type_id',
} as const;

type PersonKey = keyof typeof PERSON;

/** The engine's email check for a walk-in's address. */
export function personEmailProblem(email: string): Problem | null {
  const at = email.indexOf('@');
  const local = at < 0 ? '' : email.slice(0, at);
  const domain = at < 0 ? '' : email.slice(at + 1);
  const valid =
    new TextEncoder().encode(email).length <= 254 &&
    at >= 0 &&
    local !== '' &&
    domain.includes('.') &&
    !domain.startsWith('.') &&
    !domain.endsWith('.') &&
    !/\s/.test(email);
  return valid ? null : { code: 'invalid_email' };
}

/** The engine's phone check for a walk-in: 5 to 20 digits among ` +-()/.`. */
export function personPhoneProblem(phone: string): Problem | null {
  const digits = (phone.match(/[0-9]/g) ?? []).length;
  const valid = /^[0-9 +\-()/.]*$/.test(phone) && digits >= 5 && digits <= 20;
  return valid ? null : { code: 'invalid_phone', params: { min: 5, max: 20 } };
}

export const PERSON_OPTIONS: EvaluateOptions = {
  formats: { [PERSON.email]: personEmailProblem, [PERSON.phone]: personPhoneProblem },
};

export function personPage(t: TFunction, ticketTypes: TicketType[]): Page {
  return {
    id: 'person',
    title: t('walkIn.personTitle'),
    sections: [
      {
        id: 'person-name',
        title: '',
        fields: [
          { id: PERSON.first_name, label: t('walkIn.firstName'), kind: 'text', required: true, validation: { max: 100 } },
          { id: PERSON.last_name, label: t('walkIn.lastName'), kind: 'text', required: true, validation: { max: 100 } },
          { id: PERSON.email, label: t('walkIn.email'), kind: 'email', validation: { max: 254 } },
          { id: PERSON.phone, label: t('walkIn.phone'), kind: 'phone' },
          ...(ticketTypes.length > 0
            ? [
                {
                  id: PERSON.ticket_type_id,
                  label: t('walkIn.ticketType'),
                  kind: 'single_choice' as const,
                  required: true,
                  choices: ticketTypes.map((type) => ({ id: type.id, label: type.name })),
                },
              ]
            : []),
        ],
      },
    ],
  };
}

/** The person's page, then the event form's pages. */
export function walkInForm(form: Form | null, person: Page): Form {
  return {
    id: form?.id ?? 'walk-in',
    version: form?.version ?? 0,
    title: form?.title ?? person.title,
    pages: [person, ...(form?.pages ?? [])],
  };
}

/** The first answers: the only ticket type picked when there is one. */
export function initialAnswers(ticketTypes: TicketType[]): RawAnswers {
  const only = ticketTypes.length === 1 ? ticketTypes[0] : undefined;
  return only ? { [PERSON.ticket_type_id]: only.id } : {};
}

/** The request for register_walk_in, from the cleaned answers of the shown fields. */
export function walkInRequest(cleaned: CleanAnswers): WalkInRequest {
  const text = (key: PersonKey) => {
    const value = cleaned[PERSON[key]];
    return typeof value === 'string' ? value : undefined;
  };
  const answers: CleanAnswers = {};
  for (const [id, value] of Object.entries(cleaned)) {
    if (!id.startsWith('person-')) answers[id] = value;
  }
  const request: WalkInRequest = {
    first_name: text('first_name') ?? '',
    last_name: text('last_name') ?? '',
    answers,
  };
  const email = text('email');
  const phone = text('phone');
  const ticketType = text('ticket_type_id');
  if (email !== undefined) request.email = email;
  if (phone !== undefined) request.phone = phone;
  if (ticketType !== undefined) request.ticket_type_id = ticketType;
  return request;
}

/** Where the engine's field name shows on this screen (its person fields have their own ids). */
export function screenFieldId(engineField: string): string {
  return Object.prototype.hasOwnProperty.call(PERSON, engineField)
    ? PERSON[engineField as PersonKey]
    : engineField;
}
