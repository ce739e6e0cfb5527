// The first-run PIN rules, as the engine checks them (a kiosk PIN of 8 to 64 characters, since it
// guards the attendees' data against a search of a stolen disk; a coordinator PIN of 4 to 64; the
// two different), plus the "typed twice" check that only the screen can make.

export interface SetupValues {
  pin: string;
  pinAgain: string;
  coordinatorPin: string;
  coordinatorPinAgain: string;
}

export type SetupField = keyof SetupValues;

const length = (pin: string) => [...pin].length;

/** The shortest kiosk PIN (`KIOSK_PIN_MIN` in the engine). */
export const KIOSK_PIN_MIN = 8;
/** The shortest coordinator PIN (`COORDINATOR_PIN_MIN` in the engine). */
export const COORDINATOR_PIN_MIN = 4;
const PIN_MAX = 64;

/** Per field, the locale key of what is wrong (in screen order). */
export function checkSetup(values: SetupValues): Partial<Record<SetupField, string>> {
  const problems: Partial<Record<SetupField, string>> = {};
  if (length(values.pin) < KIOSK_PIN_MIN || length(values.pin) > PIN_MAX) problems.pin = 'setup.errors.kioskLength';
  else if (values.pinAgain !== values.pin) problems.pinAgain = 'setup.errors.mismatch';
  if (length(values.coordinatorPin) < COORDINATOR_PIN_MIN || length(values.coordinatorPin) > PIN_MAX) {
    problems.coordinatorPin = 'setup.errors.length';
  } else if (values.coordinatorPin === values.pin) {
    problems.coordinatorPin = 'setup.errors.same';
  } else if (values.coordinatorPinAgain !== values.coordinatorPin) {
    problems.coordinatorPinAgain = 'setup.errors.mismatch';
  }
  return problems;
}
