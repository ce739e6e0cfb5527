import { describe, expect, it } from 'vitest';
import { mockIPC } from '@tauri-apps/api/mocks';
import { api, isUiError, toUiError } from '../../src/api';
import type { UiError } from '../../src/bindings';

describe('UiError normalisation', () => {
  it('keeps a UiError as it is', () => {
    const error: UiError = {
      kind: 'fields',
      message: 'some answers need attention',
      field: null,
      fields: [{ field: 'email', code: 'invalid_email', message: 'Enter a valid email address.' }],
    };
    expect(toUiError(error)).toEqual(error);
    expect(isUiError(error)).toBe(true);
  });

  it('completes a UiError missing its optional parts', () => {
    expect(toUiError({ kind: 'wrong_pin', message: 'wrong PIN' })).toEqual({ kind: 'wrong_pin', message: 'wrong PIN', field: null, fields: [] });
    expect(toUiError({ kind: 'invalid', message: 'bad', field: 'pin', fields: [{ nonsense: 1 }] })).toEqual({ kind: 'invalid', message: 'bad', field: 'pin', fields: [] });
  });

  it('makes a plain string an internal error', () => {
    expect(toUiError('command scan_code not found')).toEqual({ kind: 'internal', message: 'command scan_code not found', field: null, fields: [] });
  });

  it('makes anything else an internal error with a message', () => {
    expect(toUiError(new Error('boom'))).toMatchObject({ kind: 'internal', message: 'boom' });
    expect(toUiError({ kind: 'no_such_kind', message: 'odd' })).toMatchObject({ kind: 'internal', message: 'odd' });
    expect(toUiError(undefined)).toMatchObject({ kind: 'internal', message: 'Unknown error' });
    expect(toUiError(42)).toMatchObject({ kind: 'internal', message: '42' });
    expect(isUiError('nope')).toBe(false);
  });

  it('is what every command wrapper rejects with', async () => {
    mockIPC((cmd) => {
      if (cmd === 'unlock') throw 'the shell said no';
      if (cmd === 'lock') throw { kind: 'locked', message: 'the kiosk is locked: enter the PIN', field: null, fields: [] };
      return null;
    });
    await expect(api.unlock('1234')).rejects.toEqual({ kind: 'internal', message: 'the shell said no', field: null, fields: [] });
    await expect(api.lock()).rejects.toMatchObject({ kind: 'locked' });
  });

  it('sends camelCase arguments and the package bytes as the raw body', async () => {
    const seen: { cmd: string; payload: unknown }[] = [];
    mockIPC((cmd, payload) => {
      seen.push({ cmd, payload });
      return cmd === 'import_package' ? { version: 2, tickets: 10 } : null;
    });
    await api.setUp('24682468', '1357');
    await api.enrol('GATEPASS-ENROL:https://x.example#t', null, 'North');
    await api.enrol('https://x.example', 'tok', 'North');
    await api.scanCode('DEMO-1', 'wedge');
    await api.annulCheckIn('c1');
    await api.setKioskMode(false, '1357');
    const bytes = new Uint8Array([71, 80, 75, 71]);
    await expect(api.importPackage(bytes)).resolves.toEqual({ version: 2, tickets: 10 });
    expect(seen.map((s) => [s.cmd, s.payload])).toEqual([
      ['set_up', { pin: '24682468', coordinatorPin: '1357' }],
      ['enrol', { invite: 'GATEPASS-ENROL:https://x.example#t', label: 'North' }],
      ['enrol', { invite: 'https://x.example', token: 'tok', label: 'North' }],
      ['scan_code', { code: 'DEMO-1', source: 'wedge' }],
      ['annul_check_in', { checkInId: 'c1' }],
      ['set_kiosk_mode', { on: false, pin: '1357' }],
      ['import_package', bytes],
    ]);
  });

  it('delivers sync progress through a channel', async () => {
    mockIPC((cmd, payload) => {
      if (cmd !== 'sync_now') return null;
      const channel = (payload as { onProgress: { onmessage(message: unknown): void } }).onProgress;
      channel.onmessage({ phase: 'pushing', sent: 1, total: 2 });
      channel.onmessage({ phase: 'pulling', received: 5 });
      return { pushed: 2, parked: 0, pulled: 5, pending_after: 0, write_checkpoint: 9, package_version: 3, clock_ahead_ms: null };
    });
    const progress: unknown[] = [];
    const report = await api.syncNow((p) => progress.push(p));
    expect(progress).toEqual([
      { phase: 'pushing', sent: 1, total: 2 },
      { phase: 'pulling', received: 5 },
    ]);
    expect(report.pulled).toBe(5);
  });
});
