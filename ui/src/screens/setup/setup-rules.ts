// The first-run PIN rules, as the engine checks them (4 to 64 characters, the two PINs
// different), plus the "typed twice" check that only the screen can make.

export interface SetupValues {
  pin: string;
  pinAgain: string;
  coordinatorPin: string;
  coordinatorPinAgain: string;
}

export type SetupField = keyof SetupValues;

const length = (pin: string) => [...pin].length;

/** Per field, the locale key of what is wrong (in screen order). */
export function checkSetup(values: SetupValues): Partial<Record<SetupField, string>> {
  const problems: Partial<Record<SetupField, string>> = {};
  if (length(values.pin) < 4 || length(values.pin) > 64) problems.pin = 'setup.errors.length';
  else if (values.pinAgain !== values.pin) problems.pinAgain = 'setup.errors.mismatch';
  if (length(values.coordinatorPin) < 4 || length(values.coordinatorPin) > 64) {
    problems.coordinatorPin = 'setup.errors.length';
  } else if (values.coordinatorPin === values.pin) {
    problems.coordinatorPin = 'setup.errors.same';
  } else if (values.coordinatorPinAgain !== values.coordinatorPin) {
    problems.coordinatorPinAgain = 'setup.errors.mismatch';
  }
  return problems;
}
