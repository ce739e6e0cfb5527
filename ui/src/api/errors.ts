// Errors from the Rust side. Every command rejects with a `UiError`; anything else that reaches
// the front end (a plain string from Tauri itself, a thrown Error) is normalised into one of
// kind "internal", so screens switch on `kind` and never on the shape of what was thrown.
import type { ErrorKind, FieldError, UiError } from '../bindings';

/** Every kind of bindings.ts: a kind added there fails the type check here until listed. */
const KINDS: Record<ErrorKind, true> = {
  wrong_pin: true,
  bad_pin: true,
  too_many_attempts: true,
  locked: true,
  already_set_up: true,
  not_set_up: true,
  not_enrolled: true,
  no_package: true,
  no_gate: true,
  invalid: true,
  fields: true,
  package_refused: true,
  offline: true,
  busy: true,
  revoked: true,
  server: true,
  camera: true,
  printer: true,
  store: true,
  internal: true,
};

export function isErrorKind(value: unknown): value is ErrorKind {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(KINDS, value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function isFieldError(value: unknown): value is FieldError {
  return (
    isRecord(value) &&
    typeof value.field === 'string' &&
    typeof value.code === 'string' &&
    typeof value.message === 'string'
  );
}

/** Whether `value` has the shape of a UiError (with a known kind). */
export function isUiError(value: unknown): value is UiError {
  return isRecord(value) && isErrorKind(value.kind) && typeof value.message === 'string';
}

export function internalError(message: string): UiError {
  return { kind: 'internal', message, field: null, fields: [] };
}

/** Turns whatever a command rejected with into a complete UiError. */
export function toUiError(error: unknown): UiError {
  if (isRecord(error) && isErrorKind(error.kind)) {
    return {
      kind: error.kind,
      message: typeof error.message === 'string' ? error.message : '',
      field: typeof error.field === 'string' ? error.field : null,
      fields: Array.isArray(error.fields) ? error.fields.filter(isFieldError) : [],
    };
  }
  if (typeof error === 'string') return internalError(error);
  if (error instanceof Error) return internalError(error.message || error.name);
  if (isRecord(error) && typeof error.message === 'string') return internalError(error.message);
  if (error === undefined || error === null) return internalError('Unknown error');
  try {
    return internalError(JSON.stringify(error));
  } catch {
    return internalError(String(error));
  }
}
