// The walk-in form's rules, on the kiosk screen: which fields are shown, and what is wrong with
// an answer. Pure functions only (no React, no i18n): they mirror sync-protocol's forms module
// (visible_fields / validate_answers), so the person at the desk sees a problem at the field
// before the engine refuses it. The engine stays the judge: its `fields` errors are shown too.
//
// Raw answers are what the controls hold: strings for text-like fields, numbers (as typed; a
// JSON number is accepted too, as by the engine), dates, single choices and countries; a list
// of choice ids for a multiple choice; a boolean for a checkbox. Cleaning turns them into what
// is sent: trimmed strings, numbers as numbers, upper-case country codes, ticked options once
// each in form order.
import type {
  Bound,
  Condition,
  Field,
  FieldErrorCode,
  Form,
  JsonValue,
  Validation,
} from '../bindings';
import { isCountryCode } from './countries';

export type RawAnswer = string | number | string[] | boolean | null | undefined;
export type RawAnswers = Record<string, RawAnswer>;
export type CleanAnswers = Record<string, JsonValue>;

/** What is wrong with one answer: a stable code and what a message needs to say it. */
export interface Problem {
  code: FieldErrorCode;
  /** Bounds for the message (`min`, `max`), by code. */
  params?: Record<string, string | number>;
  /** The form's own words, when it has some (a pattern's `pattern_message`). */
  message?: string;
}

/** A check that replaces the built-in format check (email, phone) of one field. */
export type FormatCheck = (text: string) => Problem | null;

export interface EvaluateOptions {
  /** Per field id: a format check used instead of the kind's (e.g. the walk-in's own email). */
  formats?: Record<string, FormatCheck>;
}

/** Characters of a text, email or phone answer, and of a multiline one (protocol limits). */
export const MAX_TEXT_LEN = 1_000;
export const MAX_MULTILINE_LEN = 10_000;
const MAX_NUMBER_LEN = 40;
const MAX_CHOICES = 200;

type Cleaned = { ok: true; value: JsonValue | undefined } | { ok: false; problem: Problem };

const answered = (value: JsonValue): Cleaned => ({ ok: true, value });
const unanswered: Cleaned = { ok: true, value: undefined };
const refused = (code: FieldErrorCode, params?: Problem['params'], message?: string): Cleaned => ({
  ok: false,
  problem: { code, ...(params ? { params } : {}), ...(message !== undefined ? { message } : {}) },
});

// ---------------------------------------------------------------------------------------------
// The form's shape
// ---------------------------------------------------------------------------------------------

/** Every field, in display order (page by page, section by section). */
export function formFields(form: Form): Field[] {
  return form.pages.flatMap((page) => page.sections.flatMap((section) => section.fields));
}

/** Every field of one page, in display order. */
export function pageFields(form: Form, pageIndex: number): Field[] {
  const page = form.pages[pageIndex];
  return page ? page.sections.flatMap((section) => section.fields) : [];
}

/** The index of the page that holds this field, or -1. */
export function pageOfField(form: Form, fieldId: string): number {
  return form.pages.findIndex((page) =>
    page.sections.some((section) => section.fields.some((field) => field.id === fieldId)),
  );
}

// ---------------------------------------------------------------------------------------------
// Conditions
// ---------------------------------------------------------------------------------------------

function sameValue(a: JsonValue, b: JsonValue): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return a === b;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A list matches when any item does; numbers compare by value. */
function answerMatches(answer: JsonValue, expected: JsonValue): boolean {
  return Array.isArray(answer)
    ? answer.some((item) => sameValue(item, expected))
    : sameValue(answer, expected);
}

/** Whether a condition holds, given the cleaned answers of the fields before it. */
export function conditionHolds(condition: Condition, cleaned: CleanAnswers): boolean {
  if (!Object.prototype.hasOwnProperty.call(cleaned, condition.field)) return false;
  const answer = cleaned[condition.field];
  if (answer === undefined) return false;
  switch (condition.op) {
    case 'equals':
      return answerMatches(answer, condition.value);
    case 'not_equals':
      return !answerMatches(answer, condition.value);
    case 'one_of':
      return condition.value.some((value) => answerMatches(answer, value));
    case 'is_answered':
      return answer !== false;
    case 'checked':
      return answer === true;
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Formats
// ---------------------------------------------------------------------------------------------

/** Length in characters (Unicode scalar values, as the engine counts). */
export function charLength(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

/** `local@domain.tld`, the same pragmatic subset of RFC 5321 the engine accepts. */
export function isEmail(text: string): boolean {
  const at = text.lastIndexOf('@');
  if (at < 0) return false;
  const local = text.slice(0, at);
  const domain = text.slice(at + 1);
  return new TextEncoder().encode(text).length <= 254 && isEmailLocal(local) && isEmailDomain(domain);
}

function isEmailLocal(local: string): boolean {
  const bytes = new TextEncoder().encode(local).length;
  // eslint-disable-next-line no-control-regex
  const forbidden = /[\s\u0000-\u001f\u007f-\u009f@"(),:;<>[\\\]]/u;
  return (
    bytes >= 1 &&
    bytes <= 64 &&
    !local.startsWith('.') &&
    !local.endsWith('.') &&
    !local.includes('..') &&
    !forbidden.test(local)
  );
}

function isEmailDomain(domain: string): boolean {
  const labels = domain.split('.');
  const labelOk = (label: string) => {
    const bytes = new TextEncoder().encode(label).length;
    return (
      bytes >= 1 &&
      bytes <= 63 &&
      !label.startsWith('-') &&
      !label.endsWith('-') &&
      /^[\p{L}\p{N}-]+$/u.test(label)
    );
  };
  const tld = labels[labels.length - 1] ?? '';
  const tldOk = charLength(tld) >= 2 && !/^[0-9]+$/.test(tld);
  return labels.length >= 2 && labels.every(labelOk) && tldOk;
}

/** An optional leading `+`, then digits and ` -.()/`, with 6 to 15 digits. */
export function isPhone(text: string): boolean {
  const body = text.startsWith('+') ? text.slice(1) : text;
  const digits = (body.match(/[0-9]/g) ?? []).length;
  return /^[0-9 \-.()/]*$/.test(body) && digits >= 6 && digits <= 15;
}

/** `[+-]digits[.digits]`, no exponent: the engine's number syntax. */
export function parseDecimal(text: string): number | null {
  if (text.length > MAX_NUMBER_LEN || !/^[+-]?[0-9]+(\.[0-9]+)?$/.test(text)) return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

/** Exactly `YYYY-MM-DD`, a real calendar date from year 1 to 9999. */
export function parseDate(text: string): string | null {
  const match = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(text);
  if (!match) return null;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  return year >= 1 && days !== undefined && day >= 1 && day <= days ? text : null;
}

/** The field's pattern, anchored at both ends; null when it is unusable here. */
export function compilePattern(pattern: string): RegExp | null {
  for (const flags of ['u', '']) {
    try {
      return new RegExp(`^(?:${pattern})$`, flags);
    } catch {
      // Try without the Unicode flag, which refuses some escapes the regex crate accepts.
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Cleaning one answer
// ---------------------------------------------------------------------------------------------

function asCount(bound: Bound | undefined): number | undefined {
  return typeof bound === 'number' && Number.isInteger(bound) && bound >= 0 ? bound : undefined;
}

function asValue(bound: Bound | undefined): number | undefined {
  return typeof bound === 'number' ? bound : undefined;
}

function asDate(bound: Bound | undefined): string | undefined {
  return typeof bound === 'string' ? (parseDate(bound) ?? undefined) : undefined;
}

function missing(field: Field): Problem {
  return field.kind === 'checkbox' ? { code: 'must_accept' } : { code: 'required' };
}

function nonBlank(raw: RawAnswer): string | null | undefined {
  if (typeof raw !== 'string') return undefined;
  const trimmed = raw.trim();
  return trimmed === '' ? null : trimmed;
}

function cleanText(field: Field, raw: RawAnswer, options: EvaluateOptions): Cleaned {
  const text = nonBlank(raw);
  if (text === undefined) return refused('wrong_type');
  if (text === null) return unanswered;
  const rules: Validation = field.validation ?? {};
  const cap = field.kind === 'multiline' ? MAX_MULTILINE_LEN : MAX_TEXT_LEN;
  const max = Math.min(asCount(rules.max) ?? cap, cap);
  const min = asCount(rules.min) ?? 0;
  const length = charLength(text);
  if (length > max) return refused('too_long', { max });
  if (length < min) return refused('too_short', { min });
  const custom = options.formats?.[field.id];
  if (custom) {
    const problem = custom(text);
    if (problem) return { ok: false, problem };
  } else if (field.kind === 'email' && !isEmail(text)) {
    return refused('invalid_email');
  } else if (field.kind === 'phone' && !isPhone(text)) {
    return refused('invalid_phone');
  }
  if (rules.pattern !== undefined) {
    const regex = compilePattern(rules.pattern);
    if (regex && !regex.test(text)) return refused('pattern', undefined, rules.pattern_message);
  }
  return answered(text);
}

function cleanNumber(field: Field, raw: RawAnswer): Cleaned {
  let value: number | null;
  if (typeof raw === 'number') {
    value = Number.isFinite(raw) ? raw : null;
  } else {
    const text = nonBlank(raw);
    if (text === undefined) return refused('wrong_type');
    if (text === null) return unanswered;
    value = parseDecimal(text);
  }
  if (value === null) return refused('invalid_number');
  const rules: Validation = field.validation ?? {};
  if (rules.integer && !Number.isInteger(value)) return refused('invalid_number', { integer: 1 });
  const min = asValue(rules.min);
  const max = asValue(rules.max);
  if (min !== undefined && value < min) return refused('too_small', { min });
  if (max !== undefined && value > max) return refused('too_large', { max });
  return answered(value);
}

function cleanDate(field: Field, raw: RawAnswer): Cleaned {
  const text = nonBlank(raw);
  if (text === undefined) return refused('wrong_type');
  if (text === null) return unanswered;
  const date = parseDate(text);
  if (date === null) return refused('invalid_date');
  const rules: Validation = field.validation ?? {};
  const min = asDate(rules.min);
  const max = asDate(rules.max);
  if (min !== undefined && date < min) return refused('too_small', { min });
  if (max !== undefined && date > max) return refused('too_large', { max });
  return answered(date);
}

function cleanSingleChoice(field: Field, raw: RawAnswer): Cleaned {
  const id = nonBlank(raw);
  if (id === undefined) return refused('wrong_type');
  if (id === null) return unanswered;
  if (!(field.choices ?? []).some((choice) => choice.id === id)) return refused('invalid_choice');
  return answered(id);
}

function cleanMultipleChoice(field: Field, raw: RawAnswer): Cleaned {
  if (!Array.isArray(raw)) return refused('wrong_type');
  if (raw.length > MAX_CHOICES) return refused('too_long');
  const choices = field.choices ?? [];
  const ticked = new Set<string>();
  for (const item of raw) {
    const id = item.trim();
    if (!choices.some((choice) => choice.id === id)) return refused('invalid_choice');
    ticked.add(id);
  }
  if (ticked.size === 0) return unanswered;
  const rules: Validation = field.validation ?? {};
  const min = asCount(rules.min);
  const max = asCount(rules.max);
  if (min !== undefined && ticked.size < min) return refused('too_short', { min, choices: 1 });
  if (max !== undefined && ticked.size > max) return refused('too_long', { max, choices: 1 });
  return answered(choices.filter((choice) => ticked.has(choice.id)).map((choice) => choice.id));
}

function cleanCheckbox(field: Field, raw: RawAnswer): Cleaned {
  if (typeof raw !== 'boolean') return refused('wrong_type');
  if (!raw && field.required) return { ok: false, problem: missing(field) };
  return answered(raw);
}

function cleanCountry(raw: RawAnswer): Cleaned {
  const text = nonBlank(raw);
  if (text === undefined) return refused('wrong_type');
  if (text === null) return unanswered;
  const code = text.toUpperCase();
  return isCountryCode(code) ? answered(code) : refused('invalid_country');
}

function cleanValue(field: Field, raw: RawAnswer, options: EvaluateOptions): Cleaned {
  switch (field.kind) {
    case 'text':
    case 'multiline':
    case 'email':
    case 'phone':
      return cleanText(field, raw, options);
    case 'number':
      return cleanNumber(field, raw);
    case 'date':
      return cleanDate(field, raw);
    case 'single_choice':
      return cleanSingleChoice(field, raw);
    case 'multiple_choice':
      return cleanMultipleChoice(field, raw);
    case 'checkbox':
      return cleanCheckbox(field, raw);
    case 'country':
      return cleanCountry(raw);
    default:
      return refused('wrong_type');
  }
}

/** One answer, cleaned as the engine would, or what is wrong with it. */
export function cleanField(field: Field, raw: RawAnswer, options: EvaluateOptions = {}): Cleaned {
  const cleaned = raw === undefined || raw === null ? unanswered : cleanValue(field, raw, options);
  if (cleaned.ok && cleaned.value === undefined && field.required) {
    return { ok: false, problem: missing(field) };
  }
  return cleaned;
}

// ---------------------------------------------------------------------------------------------
// The whole form
// ---------------------------------------------------------------------------------------------

export interface Evaluation {
  /** Ids of the fields shown, in display order. */
  visible: string[];
  /** Answers of shown, answered, valid fields: what the engine gets. */
  cleaned: CleanAnswers;
  /** Per shown field id: what is wrong with its answer. */
  problems: Record<string, Problem>;
}

/** One pass over the fields in order: what is shown, what is sent, what is wrong. */
export function evaluateForm(
  form: Form,
  answers: RawAnswers,
  options: EvaluateOptions = {},
): Evaluation {
  const evaluation: Evaluation = { visible: [], cleaned: {}, problems: {} };
  for (const field of formFields(form)) {
    if (field.show_when && !conditionHolds(field.show_when, evaluation.cleaned)) continue;
    evaluation.visible.push(field.id);
    const cleaned = cleanField(field, answers[field.id], options);
    if (!cleaned.ok) evaluation.problems[field.id] = cleaned.problem;
    else if (cleaned.value !== undefined) evaluation.cleaned[field.id] = cleaned.value;
  }
  return evaluation;
}

/** The ids of the fields shown for these answers. */
export function visibleFieldIds(
  form: Form,
  answers: RawAnswers,
  options: EvaluateOptions = {},
): Set<string> {
  return new Set(evaluateForm(form, answers, options).visible);
}

/** Problems of the shown fields of one page. */
export function pageProblems(
  form: Form,
  pageIndex: number,
  answers: RawAnswers,
  options: EvaluateOptions = {},
): Record<string, Problem> {
  const { problems } = evaluateForm(form, answers, options);
  const onPage = new Set(pageFields(form, pageIndex).map((field) => field.id));
  return Object.fromEntries(Object.entries(problems).filter(([id]) => onPage.has(id)));
}

/** The first of these field ids in display order (for focusing and page switching). */
export function firstInFormOrder(form: Form, ids: Iterable<string>): string | undefined {
  const wanted = new Set(ids);
  return formFields(form).find((field) => wanted.has(field.id))?.id;
}
