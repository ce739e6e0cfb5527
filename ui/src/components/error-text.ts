import type { TFunction } from 'i18next';
import type { ErrorKind, UiError } from '../bindings';

/** Kinds whose engine sentence says something the translated title cannot (shown as detail). */
const WITH_DETAIL: ReadonlySet<ErrorKind> = new Set([
  'too_many_attempts',
  'invalid',
  'package_refused',
  'offline',
  'busy',
  'server',
  'camera',
  'printer',
  'store',
  'internal',
]);

/** A translated headline for an error, and the engine's own sentence when it adds something. */
export function errorText(t: TFunction, error: UiError): { title: string; detail: string | null } {
  const title = t(`error.${error.kind}`);
  const detail = WITH_DETAIL.has(error.kind) && error.message.trim() !== '' ? error.message : null;
  return { title, detail };
}

/** One line for an error shown at a field. */
export function fieldErrorText(t: TFunction, error: UiError): string {
  if (error.kind === 'invalid' && error.message) return error.message;
  return t(`error.${error.kind}`);
}
