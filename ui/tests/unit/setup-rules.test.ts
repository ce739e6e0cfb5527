import { describe, expect, it } from 'vitest';
import { checkSetup } from '../../src/screens/setup/setup-rules';

const valid = { pin: '24682468', pinAgain: '24682468', coordinatorPin: '1357', coordinatorPinAgain: '1357' };

describe('first-run PIN rules', () => {
  it('accepts an eight-character kiosk PIN and a four-character coordinator PIN', () => {
    expect(checkSetup(valid)).toEqual({});
  });

  it('asks for eight characters in the kiosk PIN, four in the coordinator PIN', () => {
    expect(checkSetup({ ...valid, pin: '2468246', pinAgain: '2468246' })).toEqual({ pin: 'setup.errors.kioskLength' });
    expect(checkSetup({ ...valid, coordinatorPin: '135', coordinatorPinAgain: '135' })).toEqual({ coordinatorPin: 'setup.errors.length' });
    expect(checkSetup({ ...valid, pin: 'x'.repeat(65), pinAgain: 'x'.repeat(65) })).toEqual({ pin: 'setup.errors.kioskLength' });
  });

  it('counts characters, not bytes, and wants the PINs typed twice and different', () => {
    expect(checkSetup({ ...valid, pin: 'ääääéééé', pinAgain: 'ääääéééé' })).toEqual({});
    expect(checkSetup({ ...valid, pinAgain: '24682469' })).toEqual({ pinAgain: 'setup.errors.mismatch' });
    expect(checkSetup({ ...valid, coordinatorPin: valid.pin, coordinatorPinAgain: valid.pin })).toEqual({ coordinatorPin: 'setup.errors.same' });
  });
});
