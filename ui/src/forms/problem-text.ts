// Words for a form problem, in the screen's language. The form's own pattern message is kept as
// the form author wrote it.
import type { TFunction } from 'i18next';
import type { Field, FieldError } from '../bindings';
import type { Problem } from './validation';

export function problemText(t: TFunction, problem: Problem, field?: Field): string {
  const params = problem.params ?? {};
  const date = field?.kind === 'date';
  const choices = params.choices !== undefined || field?.kind === 'multiple_choice';
  switch (problem.code) {
    case 'required':
      return t('form.errors.required');
    case 'must_accept':
      return t('form.errors.mustAccept');
    case 'too_long':
      if (params.max === undefined) return t('form.errors.tooManyChoices');
      return choices ? t('form.errors.chooseAtMost', { max: params.max }) : t('form.errors.tooLong', { max: params.max });
    case 'too_short':
      return choices ? t('form.errors.chooseAtLeast', { min: params.min }) : t('form.errors.tooShort', { min: params.min });
    case 'too_small':
      return date ? t('form.errors.dateTooEarly', { min: params.min }) : t('form.errors.tooSmall', { min: params.min });
    case 'too_large':
      return date ? t('form.errors.dateTooLate', { max: params.max }) : t('form.errors.tooLarge', { max: params.max });
    case 'pattern':
      return problem.message ?? t('form.errors.pattern');
    case 'invalid_email':
      return t('form.errors.email');
    case 'invalid_phone':
      return params.min !== undefined
        ? t('form.errors.phoneDigits', { min: params.min, max: params.max })
        : t('form.errors.phone');
    case 'invalid_number':
      return params.integer ? t('form.errors.wholeNumber') : t('form.errors.number');
    case 'invalid_date':
      return t('form.errors.date');
    case 'invalid_choice':
      return t('form.errors.choice');
    case 'invalid_country':
      return t('form.errors.country');
    case 'unknown_field':
    case 'wrong_type':
    default:
      return t('form.errors.invalid');
  }
}

/**
 * Words for a problem the engine found. English screens show the engine's own sentence (it
 * may say more); others translate the code, with the field's bounds.
 */
export function serverProblemText(t: TFunction, error: FieldError, field: Field | undefined, english: boolean): string {
  if (english || error.code === 'pattern') return error.message || problemText(t, { code: error.code }, field);
  const rules = field?.validation ?? {};
  const params: Record<string, string | number> = {};
  if (rules.min !== undefined) params.min = rules.min;
  if (rules.max !== undefined) params.max = rules.max;
  if (error.code === 'invalid_number' && rules.integer) params.integer = 1;
  const hasBound =
    (['too_short', 'too_small'].includes(error.code) && params.min !== undefined) ||
    (['too_long', 'too_large'].includes(error.code) && params.max !== undefined);
  if (!hasBound && ['too_short', 'too_small', 'too_long', 'too_large'].includes(error.code)) {
    return error.message || t('form.errors.invalid');
  }
  return problemText(t, { code: error.code, params }, field);
}
