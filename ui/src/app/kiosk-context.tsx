// What every screen shares: the kiosk's AppState (phase, event, gate, settings), the background
// sync's status, drafts that must survive a lock, and where a screen goes next.
import { createContext, useContext } from 'react';
import type { AppState, UiError } from '../bindings';
import type { SyncStatus } from '../api';

/** The screens of the ready phase (the other phases have one screen each). */
export type ReadyScreen = 'gate' | 'gate-picker' | 'walk-in' | 'coordinator' | 'settings';

export interface KioskContextValue {
  state: AppState;
  /** Takes the AppState a command answered with (phase changes route from here). */
  setState(state: AppState): void;
  /** Reads app_state again. */
  refresh(): Promise<void>;
  /** The background sync's last status (null until the first one arrives). */
  sync: SyncStatus | null;
  screen: ReadyScreen;
  go(screen: ReadyScreen): void;
  /**
   * What a screen does with an error it does not handle itself: a `locked` error shows the lock
   * screen (everything typed elsewhere is kept); the others are returned for the screen to show.
   */
  handleError(error: UiError): UiError;
  /** Drafts by key (the walk-in form's answers...): kept while the kiosk is locked. */
  drafts: Map<string, unknown>;
}

export const KioskContext = createContext<KioskContextValue | null>(null);

export function useKiosk(): KioskContextValue {
  const value = useContext(KioskContext);
  if (!value) throw new Error('useKiosk outside <App>');
  return value;
}
