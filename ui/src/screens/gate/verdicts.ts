// How each verdict looks and sounds. Four families, each with its own colour AND icon AND
// words, so a verdict is never told by colour alone:
// - admitted (entry): green, a tick;
// - exit (an exit recorded): blue, an arrow out of a door;
// - attention (a person to redirect or help: already used, wrong gate, too early, answers
//   missing): amber, a triangle;
// - refused (the ticket is no good: unknown, forged, canceled, revoked, expired): red, a stop sign.
import type { Direction, VerdictCode } from '../../bindings';

export type VerdictFamily = 'admitted' | 'exit' | 'attention' | 'refused';

const FAMILY: Record<VerdictCode, VerdictFamily> = {
  admitted: 'admitted',
  already_used: 'attention',
  wrong_gate: 'attention',
  not_yet_valid: 'attention',
  needs_answers: 'attention',
  expired: 'refused',
  canceled: 'refused',
  revoked: 'refused',
  unknown: 'refused',
  bad_signature: 'refused',
};

export function verdictFamily(code: VerdictCode, direction: Direction): VerdictFamily {
  const family = FAMILY[code] ?? 'refused';
  return family === 'admitted' && direction === 'exit' ? 'exit' : family;
}

/** How long a verdict stays before the screen is back to scanning (a new scan replaces it). */
export function verdictDurationMs(family: VerdictFamily): number {
  return family === 'admitted' || family === 'exit' ? 2500 : 4000;
}

/** How long this kiosk may annul its own admission (the engine's window is about 2 minutes). */
export const UNDO_WINDOW_MS = 2 * 60 * 1000;
