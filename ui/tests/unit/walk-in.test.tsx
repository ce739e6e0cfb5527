// The walk-in screen end to end against a mocked engine: the person's page before the form's,
// the request it sends, the engine's field errors at their fields (on their page), the badge.
import { describe, expect, it, vi } from 'vitest';
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { mockIPC } from '@tauri-apps/api/mocks';
import type { AppState, BadgeView, Form, UiError, WalkInSetup } from '../../src/bindings';
import { KioskContext, type KioskContextValue } from '../../src/app/kiosk-context';
import { WalkInScreen } from '../../src/screens/walk-in/WalkInScreen';

const FORM: Form = {
  id: 'form',
  version: 2,
  title: 'Walk-in',
  pages: [
    { id: 'work', title: 'Work', sections: [{ id: 'w', title: 'Work', fields: [{ id: 'company', label: 'Company', kind: 'text' }] }] },
    { id: 'more', title: 'More', sections: [{ id: 'm', title: 'More', fields: [{ id: 'consent', label: 'I agree', kind: 'checkbox', required: true }] }] },
  ],
};

const SETUP: WalkInSetup = {
  form: FORM,
  ticket_types: [{ id: 'tt-general', name: 'General', valid_from: null, valid_until: null }],
};

const BADGE: BadgeView = {
  ticket_id: 't1',
  ticket_type_id: 'tt-general',
  attendee_name: 'Ada Lovelace',
  ticket_type: 'General',
  event_name: 'Demo event',
  code: 'GP1-ABC',
  qr_svg: '<svg xmlns="http://www.w3.org/2000/svg"/>',
  qr_version: 2,
  seq: 9,
};

const STATE: AppState = {
  phase: 'ready',
  event: { id: 'e', name: 'Demo event', time_zone: 'UTC' },
  device: null,
  package_version: 1,
  gate: null,
  settings: { gate_id: null, direction: 'entry', camera: null, sound: false, language: 'en', high_contrast: false, show_names: true, desk_lock_minutes: 2, badge_printer: null },
  kiosk_mode: false,
};

function renderScreen(setState: KioskContextValue['setState'] = vi.fn()) {
  const context: KioskContextValue = {
    state: STATE,
    setState,
    refresh: vi.fn(async () => undefined),
    sync: null,
    screen: 'walk-in',
    go: vi.fn(),
    handleError: (error: UiError) => error,
    drafts: new Map(),
  };
  return render(
    <KioskContext.Provider value={context}>
      <WalkInScreen />
    </KioskContext.Provider>,
  );
}

describe('walk-in screen', () => {
  it('shows the engine’s field errors at their fields, on their page, then the badge', async () => {
    const requests: unknown[] = [];
    let refuse = true;
    let printed = 0;
    mockIPC((cmd, payload) => {
      if (cmd === 'walk_in_setup') return SETUP;
      if (cmd === 'print_badge') {
        printed += 1;
        return null;
      }
      if (cmd === 'register_walk_in') {
        requests.push(payload);
        if (refuse) {
          refuse = false;
          const error: UiError = {
            kind: 'fields',
            message: 'some answers need attention',
            field: null,
            fields: [
              { field: 'last_name', code: 'too_long', message: 'At most 100 characters.' },
              { field: 'company', code: 'pattern', message: 'Letters only, please.' },
            ],
          };
          throw error;
        }
        return BADGE;
      }
      return null;
    });
    const user = userEvent.setup();
    const { container } = renderScreen();

    await screen.findByRole('heading', { name: 'About the person' });
    expect(screen.getByText('Step 1 of 3')).toBeTruthy();
    // The only ticket type is picked already.
    expect((screen.getByLabelText('General') as HTMLInputElement).checked).toBe(true);
    await user.type(screen.getByLabelText(/^First name/), 'Ada');
    await user.type(screen.getByLabelText(/^Last name/), 'Lovelace');
    await user.type(screen.getByLabelText('Phone'), '1234');
    await user.click(screen.getByRole('button', { name: 'Next' }));
    expect(container.querySelector('[data-field="person-phone"] .field-error')?.textContent).toBe('Enter a phone number with 5 to 20 digits.');
    await user.clear(screen.getByLabelText('Phone'));
    await user.click(screen.getByRole('button', { name: 'Next' }));
    await user.type(screen.getByLabelText('Company'), 'Acme 2');
    await user.click(screen.getByRole('button', { name: 'Next' }));
    await user.click(screen.getByLabelText(/I agree/));
    await user.click(screen.getByRole('button', { name: 'Register and make the badge' }));

    // The first error is on the person's page: the screen goes back there.
    await screen.findByRole('heading', { name: 'About the person' });
    expect(container.querySelector('[data-field="person-last_name"] .field-error')?.textContent).toBe('At most 100 characters.');
    await waitFor(() => expect(document.activeElement).toBe(screen.getByLabelText(/^Last name/)));
    expect(requests[0]).toEqual({
      request: { first_name: 'Ada', last_name: 'Lovelace', ticket_type_id: 'tt-general', answers: { company: 'Acme 2', consent: true } },
    });

    await user.click(screen.getByRole('button', { name: 'Next' }));
    expect(container.querySelector('[data-field="company"] .field-error')?.textContent).toBe('Letters only, please.');
    await user.clear(screen.getByLabelText('Company'));
    await user.type(screen.getByLabelText('Company'), 'Acme');
    expect(container.querySelector('[data-field="company"] .field-error')).toBeNull();
    await user.click(screen.getByRole('button', { name: 'Next' }));
    await user.click(screen.getByRole('button', { name: 'Register and make the badge' }));

    const badge = await screen.findByRole('article', { name: 'Badge' });
    expect(within(badge).getByText('Ada Lovelace')).toBeTruthy();
    expect(within(badge).getByText('GP1-ABC')).toBeTruthy();
    const qr = within(badge).getByRole('img') as HTMLImageElement;
    expect(qr.getAttribute('src')).toMatch(/^data:image\/svg\+xml;charset=utf-8,%3Csvg/);
    // Printing goes through the shell (its print dialog), not the page's window.print().
    await user.click(screen.getByRole('button', { name: 'Print the badge' }));
    await waitFor(() => expect(printed).toBe(1));
    await user.click(screen.getByRole('button', { name: 'Next walk-in' }));
    expect((screen.getByLabelText(/^First name/) as HTMLInputElement).value).toBe('');
  });
});

describe('the desk locks itself when left alone', () => {
  it('warns in the last 20 s, a key press keeps it open, then it locks', async () => {
    vi.useFakeTimers();
    try {
      const calls: string[] = [];
      const locked: AppState = { ...STATE, phase: 'locked' };
      mockIPC((cmd) => {
        calls.push(cmd);
        if (cmd === 'walk_in_setup') return SETUP;
        if (cmd === 'lock') return locked;
        return null;
      });
      const setState = vi.fn();
      renderScreen(setState);
      await act(() => vi.advanceTimersByTimeAsync(99_000));
      expect(screen.queryByRole('alert')).toBeNull();
      await act(() => vi.advanceTimersByTimeAsync(1_000));
      expect(screen.getByRole('alert').textContent).toMatch(/it locks in 20 s/);

      // Someone is there: the count starts again.
      fireEvent.keyDown(document.body, { key: 'a' });
      await act(() => vi.advanceTimersByTimeAsync(1_000));
      expect(screen.queryByRole('alert')).toBeNull();
      await act(() => vi.advanceTimersByTimeAsync(100_000));
      expect(calls).not.toContain('lock');

      await act(() => vi.advanceTimersByTimeAsync(21_000));
      expect(calls.filter((c) => c === 'lock')).toEqual(['lock']);
      expect(setState).toHaveBeenCalledWith(locked);
    } finally {
      vi.useRealTimers();
    }
  });
});
