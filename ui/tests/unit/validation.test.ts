// The pure form rules: the same answers the engine (sync-protocol's forms.rs) accepts or refuses.
import { describe, expect, it } from 'vitest';
import type { Condition, Field, Form } from '../../src/bindings';
import {
  charLength,
  cleanField,
  conditionHolds,
  evaluateForm,
  isEmail,
  isPhone,
  pageOfField,
  pageProblems,
  parseDate,
  parseDecimal,
  type RawAnswer,
} from '../../src/forms/validation';
import { countries, COUNTRY_CODES, isCountryCode } from '../../src/forms/countries';
import { personEmailProblem, personPhoneProblem, screenFieldId, walkInRequest } from '../../src/screens/walk-in/person';

const field = (kind: Field['kind'], extra: Partial<Field> = {}): Field => ({ id: 'f', label: 'F', kind, ...extra });
const code = (f: Field, raw: RawAnswer) => {
  const cleaned = cleanField(f, raw);
  return cleaned.ok ? null : cleaned.problem.code;
};
const value = (f: Field, raw: RawAnswer) => {
  const cleaned = cleanField(f, raw);
  if (!cleaned.ok) throw new Error(`refused: ${cleaned.problem.code}`);
  return cleaned.value;
};

describe('one answer', () => {
  it('requires an answer where required; blank, null and empty lists are no answer', () => {
    expect(code(field('text', { required: true }), '   ')).toBe('required');
    expect(code(field('text', { required: true }), undefined)).toBe('required');
    expect(code(field('multiple_choice', { required: true, choices: [{ id: 'a', label: 'A' }] }), [])).toBe('required');
    expect(code(field('checkbox', { required: true }), false)).toBe('must_accept');
    expect(code(field('checkbox', { required: true }), undefined)).toBe('must_accept');
    expect(value(field('text'), '  ')).toBeUndefined();
  });

  it('bounds text length in characters, trimmed', () => {
    const f = field('text', { validation: { min: 2, max: 5 } });
    expect(code(f, 'a')).toBe('too_short');
    expect(code(f, 'abcdef')).toBe('too_long');
    expect(value(f, '  abc  ')).toBe('abc');
    expect(value(f, 'éèêëà')).toBe('éèêëà');
    expect(charLength('👍🏽')).toBe(2);
    expect(code(field('text'), 'x'.repeat(1001))).toBe('too_long');
    expect(value(field('multiline'), 'x'.repeat(1001))).toHaveLength(1001);
  });

  it('matches a pattern against the whole answer, with the form’s message', () => {
    const f = field('text', { validation: { pattern: '[A-Z]{2}-[0-9]{4}', pattern_message: 'Like AB-1234' } });
    expect(value(f, 'AB-1234')).toBe('AB-1234');
    expect(cleanField(f, 'xAB-1234')).toEqual({ ok: false, problem: { code: 'pattern', message: 'Like AB-1234' } });
    expect(code(f, 'AB-12345')).toBe('pattern');
    expect(value(field('text', { validation: { pattern: '(' } }), 'anything')).toBe('anything');
  });

  it('checks emails as the engine does', () => {
    for (const good of ['ada@example.org', 'a.b+tag@sub.example.co.uk', 'josé@exemple.fr', 'x@müller.de']) expect(isEmail(good), good).toBe(true);
    for (const bad of ['ada', 'ada@', '@example.org', 'ada@example', 'ada@@example.org', 'a..b@example.org', '.a@example.org', 'a b@example.org', 'ada@-example.org', 'ada@example.123']) {
      expect(isEmail(bad), bad).toBe(false);
    }
    expect(code(field('email'), 'nope')).toBe('invalid_email');
  });

  it('checks phone numbers as the engine does: + then digits and separators, 6 to 15 digits', () => {
    for (const good of ['+49 30 1234567', '(030) 123-456', '0612.34.56.78', '123456']) expect(isPhone(good), good).toBe(true);
    for (const bad of ['12345', '+1234567890123456', '12a4567', '++123456', '123 456 ext 7']) expect(isPhone(bad), bad).toBe(false);
    expect(code(field('phone'), 'call me')).toBe('invalid_phone');
  });

  it('parses numbers without exponents, checks whole numbers and bounds', () => {
    expect(parseDecimal('12.5')).toBe(12.5);
    expect(parseDecimal('-3')).toBe(-3);
    for (const bad of ['1e3', '12,5', '.5', '5.', 'abc', '']) expect(parseDecimal(bad), bad).toBeNull();
    const f = field('number', { validation: { min: 0, max: 10, integer: true } });
    expect(value(f, ' 7 ')).toBe(7);
    expect(value(f, 3)).toBe(3);
    expect(cleanField(f, '2.5')).toEqual({ ok: false, problem: { code: 'invalid_number', params: { integer: 1 } } });
    expect(value(f, '3.0')).toBe(3);
    expect(cleanField(f, '11')).toEqual({ ok: false, problem: { code: 'too_large', params: { max: 10 } } });
    expect(cleanField(f, '-1')).toEqual({ ok: false, problem: { code: 'too_small', params: { min: 0 } } });
    expect(code(f, 'seven')).toBe('invalid_number');
  });

  it('accepts real calendar dates only, within bounds', () => {
    expect(parseDate('2024-02-29')).toBe('2024-02-29');
    for (const bad of ['2023-02-29', '1900-02-29', '2025-13-01', '2025-04-31', '0000-01-01', '2025-1-01', '01/06/2025']) expect(parseDate(bad), bad).toBeNull();
    const f = field('date', { validation: { min: '2025-06-01', max: '2025-06-30' } });
    expect(value(f, '2025-06-15')).toBe('2025-06-15');
    expect(cleanField(f, '2025-05-31')).toEqual({ ok: false, problem: { code: 'too_small', params: { min: '2025-06-01' } } });
    expect(cleanField(f, '2025-07-01')).toEqual({ ok: false, problem: { code: 'too_large', params: { max: '2025-06-30' } } });
    expect(code(f, '2025-06-31')).toBe('invalid_date');
  });

  it('checks choices, counts ticked options and keeps the form’s order', () => {
    const choices = [
      { id: 'a', label: 'A' },
      { id: 'b', label: 'B' },
      { id: 'c', label: 'C' },
    ];
    const single = field('single_choice', { choices });
    expect(value(single, 'b')).toBe('b');
    expect(code(single, 'z')).toBe('invalid_choice');
    const multiple = field('multiple_choice', { choices, validation: { min: 2, max: 2 } });
    expect(value(multiple, ['c', 'a', 'c'])).toEqual(['a', 'c']);
    expect(cleanField(multiple, ['a'])).toEqual({ ok: false, problem: { code: 'too_short', params: { min: 2, choices: 1 } } });
    expect(cleanField(multiple, ['a', 'b', 'c'])).toEqual({ ok: false, problem: { code: 'too_long', params: { max: 2, choices: 1 } } });
    expect(code(multiple, ['a', 'zz'])).toBe('invalid_choice');
  });

  it('checks countries against the ISO list and upper-cases them', () => {
    expect(COUNTRY_CODES).toHaveLength(249);
    expect(isCountryCode('FR')).toBe(true);
    expect(isCountryCode('XK')).toBe(false);
    expect(value(field('country'), 'de')).toBe('DE');
    expect(code(field('country'), 'ZZ')).toBe('invalid_country');
    const names = countries('fr');
    expect(names.find((c) => c.code === 'DE')?.name).toBe('Allemagne');
    expect(countries('en').find((c) => c.code === 'DE')?.name).toBe('Germany');
  });

  it('refuses answers of the wrong type', () => {
    expect(code(field('text'), ['x'])).toBe('wrong_type');
    expect(code(field('checkbox'), 'yes')).toBe('wrong_type');
    expect(code(field('multiple_choice', { choices: [] }), 'a')).toBe('wrong_type');
  });
});

describe('conditions', () => {
  const holds = (condition: Condition, answers: Record<string, never | string | string[] | boolean | number>) => conditionHolds(condition, answers);

  it('equals / not_equals, on plain answers and on lists, numbers by value', () => {
    expect(holds({ field: 'x', op: 'equals', value: 'other' }, { x: 'other' })).toBe(true);
    expect(holds({ field: 'x', op: 'equals', value: 'other' }, { x: 'dev' })).toBe(false);
    expect(holds({ field: 'x', op: 'equals', value: 'b' }, { x: ['a', 'b'] })).toBe(true);
    expect(holds({ field: 'x', op: 'equals', value: 2 }, { x: 2.0 })).toBe(true);
    expect(holds({ field: 'x', op: 'not_equals', value: 'other' }, { x: 'dev' })).toBe(true);
    expect(holds({ field: 'x', op: 'not_equals', value: 'b' }, { x: ['a', 'b'] })).toBe(false);
  });

  it('one_of, is_answered and checked', () => {
    expect(holds({ field: 'x', op: 'one_of', value: ['a', 'b'] }, { x: 'b' })).toBe(true);
    expect(holds({ field: 'x', op: 'one_of', value: ['a', 'b'] }, { x: ['c', 'a'] })).toBe(true);
    expect(holds({ field: 'x', op: 'one_of', value: ['a', 'b'] }, { x: 'c' })).toBe(false);
    expect(holds({ field: 'x', op: 'is_answered' }, { x: 'anything' })).toBe(true);
    expect(holds({ field: 'x', op: 'is_answered' }, { x: false })).toBe(false);
    expect(holds({ field: 'x', op: 'checked' }, { x: true })).toBe(true);
    expect(holds({ field: 'x', op: 'checked' }, { x: false })).toBe(false);
  });

  it('are false while the controlling field is unanswered, even not_equals', () => {
    for (const condition of [
      { field: 'x', op: 'equals', value: 'a' },
      { field: 'x', op: 'not_equals', value: 'a' },
      { field: 'x', op: 'one_of', value: ['a'] },
      { field: 'x', op: 'is_answered' },
      { field: 'x', op: 'checked' },
    ] as Condition[]) {
      expect(holds(condition, {}), condition.op).toBe(false);
    }
  });
});

describe('the whole form', () => {
  const form: Form = {
    id: 'form',
    version: 1,
    title: 'Form',
    pages: [
      {
        id: 'p1',
        title: 'One',
        sections: [
          {
            id: 's1',
            title: 'S1',
            fields: [
              { id: 'role', label: 'Role', kind: 'single_choice', choices: [{ id: 'dev', label: 'Dev' }, { id: 'other', label: 'Other' }] },
              { id: 'role_other', label: 'Which?', kind: 'text', required: true, show_when: { field: 'role', op: 'equals', value: 'other' } },
              { id: 'detail', label: 'Detail', kind: 'text', show_when: { field: 'role_other', op: 'is_answered' } },
            ],
          },
        ],
      },
      {
        id: 'p2',
        title: 'Two',
        sections: [{ id: 's2', title: 'S2', fields: [{ id: 'age', label: 'Age', kind: 'number', validation: { max: 120 } }] }],
      },
    ],
  };

  it('shows fields as their conditions hold, and chains them', () => {
    expect(evaluateForm(form, {}).visible).toEqual(['role', 'age']);
    expect(evaluateForm(form, { role: 'other' }).visible).toEqual(['role', 'role_other', 'age']);
    expect(evaluateForm(form, { role: 'other', role_other: 'Chef' }).visible).toEqual(['role', 'role_other', 'detail', 'age']);
    // Hiding the middle field hides the one that depends on it.
    expect(evaluateForm(form, { role: 'dev', role_other: 'Chef', detail: 'x' }).visible).toEqual(['role', 'age']);
  });

  it('drops hidden answers and never requires a hidden field', () => {
    const result = evaluateForm(form, { role: 'dev', role_other: 'Chef', detail: 'x', age: '30' });
    expect(result.cleaned).toEqual({ role: 'dev', age: 30 });
    expect(result.problems).toEqual({});
    expect(evaluateForm(form, { role: 'other' }).problems).toEqual({ role_other: { code: 'required' } });
  });

  it('an invalid answer counts as no answer for the conditions after it', () => {
    const withBadRole = evaluateForm(form, { role: 'nope' });
    expect(withBadRole.visible).toEqual(['role', 'age']);
    expect(withBadRole.problems.role?.code).toBe('invalid_choice');
  });

  it('finds problems page by page and the page of a field', () => {
    expect(pageProblems(form, 0, { role: 'other', age: '300' })).toEqual({ role_other: { code: 'required' } });
    expect(pageProblems(form, 1, { role: 'other', age: '300' })).toEqual({ age: { code: 'too_large', params: { max: 120 } } });
    expect(pageOfField(form, 'age')).toBe(1);
    expect(pageOfField(form, 'nope')).toBe(-1);
  });
});

describe('the walk-in’s own fields', () => {
  it('checks email and phone as kiosk-core’s walk-in rules do', () => {
    expect(personEmailProblem('ada@example.org')).toBeNull();
    expect(personEmailProblem('ada@localhost')).toEqual({ code: 'invalid_email' });
    expect(personEmailProblem('a da@example.org')).toEqual({ code: 'invalid_email' });
    expect(personPhoneProblem('12345')).toBeNull();
    expect(personPhoneProblem('+33 6 12 34 56 78')).toBeNull();
    expect(personPhoneProblem('1234')).toEqual({ code: 'invalid_phone', params: { min: 5, max: 20 } });
  });

  it('builds the request from the cleaned answers, the person apart from the form', () => {
    expect(
      walkInRequest({ 'person-first_name': 'Ada', 'person-last_name': 'Lovelace', 'person-ticket_type_id': 'tt', company: 'Acme', age: 36 }),
    ).toEqual({ first_name: 'Ada', last_name: 'Lovelace', ticket_type_id: 'tt', answers: { company: 'Acme', age: 36 } });
  });

  it('maps the engine’s field names to this screen’s', () => {
    expect(screenFieldId('first_name')).toBe('person-first_name');
    expect(screenFieldId('ticket_type_id')).toBe('person-ticket_type_id');
    expect(screenFieldId('company')).toBe('company');
    expect(screenFieldId('toString')).toBe('toString');
  });
});
