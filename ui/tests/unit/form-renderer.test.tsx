// The form renderer: any Form definition, every field kind, live conditions, validation at the
// field, pages, and (through the walk-in screen) the engine's field errors.
import { useState } from 'react';
import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { Field, Form } from '../../src/bindings';
import { FormRenderer } from '../../src/forms/FormRenderer';
import type { CleanAnswers, RawAnswers } from '../../src/forms/validation';

function formOf(...pages: Field[][]): Form {
  return {
    id: 'form',
    version: 1,
    title: 'Test form',
    pages: pages.map((fields, index) => ({
      id: `page_${index}`,
      title: `Page ${index + 1}`,
      sections: [{ id: `section_${index}`, title: `Section ${index + 1}`, fields }],
    })),
  };
}

function Harness({ form, initial = {}, initialPage = 0, onSubmit }: { form: Form; initial?: RawAnswers; initialPage?: number; onSubmit(cleaned: CleanAnswers): void }) {
  const [answers, setAnswers] = useState<RawAnswers>(initial);
  const [page, setPage] = useState(initialPage);
  return (
    <FormRenderer
      form={form}
      answers={answers}
      onAnswer={(id, value) => setAnswers((old) => ({ ...old, [id]: value }))}
      page={page}
      onPage={setPage}
      onSubmit={onSubmit}
      submitLabel="Send"
    />
  );
}

function setup(form: Form, initial?: RawAnswers, initialPage?: number) {
  const onSubmit = vi.fn<(cleaned: CleanAnswers) => void>();
  const user = userEvent.setup();
  const view = render(<Harness form={form} initial={initial} initialPage={initialPage} onSubmit={onSubmit} />);
  return { onSubmit, user, ...view };
}

/** The error said at a field (its wrapper carries data-field). */
function errorAt(container: HTMLElement, fieldId: string): string | null {
  return container.querySelector(`[data-field="${fieldId}"] .field-error`)?.textContent ?? null;
}

const CHOICES = [
  { id: 'red', label: 'Red' },
  { id: 'green', label: 'Green' },
  { id: 'blue', label: 'Blue' },
];

describe('every field kind', () => {
  const form = formOf([
    { id: 'name', label: 'Name', kind: 'text', help: 'As on the badge', required: true },
    { id: 'bio', label: 'Bio', kind: 'multiline' },
    { id: 'mail', label: 'Mail', kind: 'email' },
    { id: 'tel', label: 'Tel', kind: 'phone' },
    { id: 'age', label: 'Age', kind: 'number', validation: { integer: true } },
    { id: 'day', label: 'Day', kind: 'date' },
    { id: 'colour', label: 'Colour', kind: 'single_choice', choices: CHOICES },
    { id: 'colours', label: 'Colours', kind: 'multiple_choice', choices: CHOICES },
    { id: 'consent', label: 'I agree', kind: 'checkbox', required: true },
    { id: 'land', label: 'Land', kind: 'country' },
  ]);

  it('renders the right control for each kind, with labels, help and required marks', () => {
    const { container } = setup(form);
    const name = screen.getByLabelText(/^Name/) as HTMLInputElement;
    expect(name.type).toBe('text');
    expect(name.getAttribute('aria-required')).toBe('true');
    expect(screen.getByText('As on the badge').id).toBe(name.getAttribute('aria-describedby'));
    expect(screen.getByLabelText('Bio').tagName).toBe('TEXTAREA');
    expect((screen.getByLabelText('Mail') as HTMLInputElement).type).toBe('email');
    expect((screen.getByLabelText('Tel') as HTMLInputElement).type).toBe('tel');
    const age = screen.getByLabelText('Age') as HTMLInputElement;
    expect(age.type).toBe('text');
    expect(age.inputMode).toBe('numeric');
    expect((screen.getByLabelText('Day') as HTMLInputElement).type).toBe('date');
    const colour = screen.getByRole('radiogroup', { name: 'Colour' });
    expect(within(colour).getAllByRole('radio')).toHaveLength(3);
    const colours = screen.getByRole('group', { name: 'Colours' });
    expect(within(colours).getAllByRole('checkbox')).toHaveLength(3);
    expect((screen.getByLabelText(/I agree/) as HTMLInputElement).type).toBe('checkbox');
    const land = screen.getByLabelText('Land') as HTMLSelectElement;
    expect(land.tagName).toBe('SELECT');
    expect(land.options).toHaveLength(250);
    expect(within(land).getByRole('option', { name: 'France' })).toHaveProperty('value', 'FR');
    expect(container.querySelectorAll('.required-mark')).toHaveLength(2);
  });

  it('sends every kind’s answer cleaned', async () => {
    const { user, onSubmit } = setup(form);
    await user.type(screen.getByLabelText(/^Name/), '  Ada  ');
    await user.type(screen.getByLabelText('Bio'), 'Line one');
    await user.type(screen.getByLabelText('Mail'), 'ada@example.org');
    await user.type(screen.getByLabelText('Tel'), '+44 20 7946 0000');
    await user.type(screen.getByLabelText('Age'), '36');
    fireEvent.change(screen.getByLabelText('Day'), { target: { value: '2025-06-15' } });
    await user.click(within(screen.getByRole('radiogroup', { name: 'Colour' })).getByLabelText('Green'));
    const colours = screen.getByRole('group', { name: 'Colours' });
    await user.click(within(colours).getByLabelText('Blue'));
    await user.click(within(colours).getByLabelText('Red'));
    await user.click(screen.getByLabelText(/I agree/));
    await user.selectOptions(screen.getByLabelText('Land'), 'GB');
    await user.click(screen.getByRole('button', { name: 'Send' }));
    expect(onSubmit).toHaveBeenCalledWith({
      name: 'Ada',
      bio: 'Line one',
      mail: 'ada@example.org',
      tel: '+44 20 7946 0000',
      age: 36,
      day: '2025-06-15',
      colour: 'green',
      colours: ['red', 'blue'],
      consent: true,
      land: 'GB',
    });
  });
});

describe('conditional fields', () => {
  const form = formOf([
    { id: 'role', label: 'Role', kind: 'single_choice', choices: [{ id: 'dev', label: 'Dev' }, { id: 'other', label: 'Other' }] },
    { id: 'role_other', label: 'Which role', kind: 'text', required: true, show_when: { field: 'role', op: 'equals', value: 'other' } },
    { id: 'not_dev', label: 'Why not dev', kind: 'text', show_when: { field: 'role', op: 'not_equals', value: 'dev' } },
    { id: 'diet', label: 'Diet', kind: 'multiple_choice', choices: [{ id: 'vegan', label: 'Vegan' }, { id: 'halal', label: 'Halal' }, { id: 'none', label: 'None' }] },
    { id: 'kitchen', label: 'Kitchen note', kind: 'text', show_when: { field: 'diet', op: 'one_of', value: ['vegan', 'halal'] } },
    { id: 'company', label: 'Company', kind: 'text' },
    { id: 'company_size', label: 'Company size', kind: 'number', show_when: { field: 'company', op: 'is_answered' } },
    { id: 'news', label: 'Newsletter', kind: 'checkbox' },
    { id: 'news_mail', label: 'Newsletter address', kind: 'email', required: true, show_when: { field: 'news', op: 'checked' } },
  ]);

  const shown = (label: string) => screen.queryByLabelText(new RegExp(`^${label}`)) !== null;

  it('show and hide live, for every operator', async () => {
    const { user } = setup(form);
    expect([shown('Which role'), shown('Why not dev'), shown('Kitchen note'), shown('Company size'), shown('Newsletter address')]).toEqual([false, false, false, false, false]);

    await user.click(screen.getByLabelText('Other'));
    expect(shown('Which role')).toBe(true); // equals
    expect(shown('Why not dev')).toBe(true); // not_equals
    await user.click(screen.getByLabelText('Dev'));
    expect(shown('Which role')).toBe(false);
    expect(shown('Why not dev')).toBe(false);

    await user.click(screen.getByLabelText('None'));
    expect(shown('Kitchen note')).toBe(false);
    await user.click(screen.getByLabelText('Halal'));
    expect(shown('Kitchen note')).toBe(true); // one_of, on a multiple choice

    await user.type(screen.getByLabelText('Company'), 'Acme');
    expect(shown('Company size')).toBe(true); // is_answered
    await user.clear(screen.getByLabelText('Company'));
    expect(shown('Company size')).toBe(false);

    await user.click(screen.getByLabelText('Newsletter'));
    expect(shown('Newsletter address')).toBe(true); // checked
    await user.click(screen.getByLabelText('Newsletter'));
    expect(shown('Newsletter address')).toBe(false);
  });

  it('drop the answers of hidden fields and never require them', async () => {
    const { user, onSubmit } = setup(form);
    await user.click(screen.getByLabelText('Other'));
    await user.type(screen.getByLabelText(/Which role/), 'Chef');
    await user.type(screen.getByLabelText('Why not dev'), 'Cooking');
    await user.click(screen.getByLabelText('Newsletter'));
    await user.click(screen.getByLabelText('Newsletter'));
    await user.click(screen.getByLabelText('Dev'));
    await user.click(screen.getByRole('button', { name: 'Send' }));
    expect(onSubmit).toHaveBeenCalledWith({ role: 'dev', news: false });
  });
});

describe('validation at the field', () => {
  const form = formOf([
    { id: 'name', label: 'Name', kind: 'text', required: true },
    { id: 'nick', label: 'Nick', kind: 'text', validation: { min: 3, max: 5 } },
    { id: 'count', label: 'Count', kind: 'number', validation: { min: 1, max: 9 } },
    { id: 'whole', label: 'Whole', kind: 'number', validation: { integer: true } },
    { id: 'day', label: 'Day', kind: 'date', validation: { min: '2025-06-01', max: '2025-06-30' } },
    { id: 'picks', label: 'Picks', kind: 'multiple_choice', choices: CHOICES, validation: { min: 2, max: 2 } },
    { id: 'code', label: 'Code', kind: 'text', validation: { pattern: '[A-Z]{2}-[0-9]{4}', pattern_message: 'Two letters, a dash, four digits' } },
    { id: 'mail', label: 'Mail', kind: 'email' },
    { id: 'tel', label: 'Tel', kind: 'phone' },
    { id: 'consent', label: 'I agree', kind: 'checkbox', required: true },
  ]);

  it('says each problem at its field and focuses the first', async () => {
    const { user, container, onSubmit } = setup(form);
    await user.type(screen.getByLabelText('Nick'), 'ab');
    await user.type(screen.getByLabelText('Count'), '12');
    await user.type(screen.getByLabelText('Whole'), '2.5');
    fireEvent.change(screen.getByLabelText('Day'), { target: { value: '2025-05-31' } });
    await user.click(screen.getByLabelText('Red'));
    await user.type(screen.getByLabelText('Code'), 'ab1234');
    await user.type(screen.getByLabelText('Mail'), 'ada@');
    await user.type(screen.getByLabelText('Tel'), '12ab');
    await user.click(screen.getByRole('button', { name: 'Send' }));

    expect(onSubmit).not.toHaveBeenCalled();
    expect(errorAt(container, 'name')).toBe('This field is required.');
    expect(errorAt(container, 'nick')).toBe('At least 3 characters.');
    expect(errorAt(container, 'count')).toBe('Must be at most 9.');
    expect(errorAt(container, 'whole')).toBe('Enter a whole number.');
    expect(errorAt(container, 'day')).toBe('Must be on or after 2025-06-01.');
    expect(errorAt(container, 'picks')).toBe('Choose at least 2 options.');
    expect(errorAt(container, 'code')).toBe('Two letters, a dash, four digits');
    expect(errorAt(container, 'mail')).toBe('Enter a valid email address, like name@example.org.');
    expect(errorAt(container, 'tel')).toBe('Enter a valid phone number: digits, optionally starting with +.');
    expect(errorAt(container, 'consent')).toBe('This must be accepted.');
    expect(screen.getByRole('alert').textContent).toContain('(10)');
    expect(document.activeElement).toBe(screen.getByLabelText(/^Name/));
    expect(screen.getByLabelText(/^Name/).getAttribute('aria-invalid')).toBe('true');
  });

  it('says the upper bounds too, and clears a problem as its answer changes', async () => {
    const { user, container } = setup(form);
    await user.type(screen.getByLabelText('Nick'), 'abcdef');
    await user.type(screen.getByLabelText('Count'), '0');
    fireEvent.change(screen.getByLabelText('Day'), { target: { value: '2025-07-01' } });
    await user.click(screen.getByLabelText('Red'));
    await user.click(screen.getByLabelText('Green'));
    await user.click(screen.getByLabelText('Blue'));
    await user.click(screen.getByRole('button', { name: 'Send' }));
    expect(errorAt(container, 'nick')).toBe('At most 5 characters.');
    expect(errorAt(container, 'count')).toBe('Must be at least 1.');
    expect(errorAt(container, 'day')).toBe('Must be on or before 2025-06-30.');
    expect(errorAt(container, 'picks')).toBe('Choose at most 2 options.');
    await user.type(screen.getByLabelText(/^Name/), 'Ada');
    expect(errorAt(container, 'name')).toBeNull();
    expect(errorAt(container, 'nick')).toBe('At most 5 characters.');
  });
});

describe('pages', () => {
  const form = formOf(
    [{ id: 'name', label: 'Name', kind: 'text', required: true }],
    [{ id: 'city', label: 'City', kind: 'text' }],
    [{ id: 'consent', label: 'I agree', kind: 'checkbox', required: true }],
  );

  it('shows one page at a time, with a step indicator, next and back', async () => {
    const { user, container, onSubmit } = setup(form);
    const current = () => container.querySelector('[aria-current="step"]')?.textContent;
    expect(screen.getByRole('heading', { name: 'Page 1' })).toBeTruthy();
    expect(screen.getByText('Step 1 of 3')).toBeTruthy();
    expect(current()).toBe('1Page 1');
    expect(screen.queryByRole('button', { name: 'Back' })).toBeNull();

    await user.click(screen.getByRole('button', { name: 'Next' }));
    expect(errorAt(container, 'name')).toBe('This field is required.');
    expect(screen.getByRole('heading', { name: 'Page 1' })).toBeTruthy();

    await user.type(screen.getByLabelText(/^Name/), 'Ada');
    await user.click(screen.getByRole('button', { name: 'Next' }));
    expect(screen.getByRole('heading', { name: 'Page 2' })).toBe(document.activeElement);
    expect(current()).toBe('2Page 2');
    await user.type(screen.getByLabelText('City'), 'Paris');
    await user.click(screen.getByRole('button', { name: 'Back' }));
    expect((screen.getByLabelText(/^Name/) as HTMLInputElement).value).toBe('Ada');
    await user.click(screen.getByRole('button', { name: 'Next' }));
    expect((screen.getByLabelText('City') as HTMLInputElement).value).toBe('Paris');
    await user.click(screen.getByRole('button', { name: 'Next' }));
    expect(screen.getByText('Step 3 of 3')).toBeTruthy();
    await user.click(screen.getByLabelText(/I agree/));
    await user.click(screen.getByRole('button', { name: 'Send' }));
    expect(onSubmit).toHaveBeenCalledWith({ name: 'Ada', city: 'Paris', consent: true });
  });

  it('on submit, goes back to the page of the first problem', async () => {
    // A draft restored on the last page, with the first page unanswered.
    const { user, container, onSubmit } = setup(form, { consent: true }, 2);
    expect(screen.getByRole('heading', { name: 'Page 3' })).toBeTruthy();
    await user.click(screen.getByRole('button', { name: 'Send' }));
    expect(onSubmit).not.toHaveBeenCalled();
    expect(screen.getByRole('heading', { name: 'Page 1' })).toBeTruthy();
    expect(errorAt(container, 'name')).toBe('This field is required.');
    expect(document.activeElement).toBe(screen.getByLabelText(/^Name/));
  });
});
