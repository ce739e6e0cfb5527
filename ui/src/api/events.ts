// The events the shell sends: verdicts from the camera (and the camera scans that could not be
// judged), the background sync's state, and the camera's state. Each helper resolves to the function that stops listening.
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import type { CameraStatus, ScanOutcome, UiError } from '../bindings';
import type { SyncStatus } from './sync-status';

export type { UnlistenFn };

export interface KioskEvents {
  scan: ScanOutcome;
  'scan-error': UiError;
  'sync-status': SyncStatus;
  'camera-status': CameraStatus;
}

export function onKioskEvent<K extends keyof KioskEvents>(
  name: K,
  handler: (payload: KioskEvents[K]) => void,
): Promise<UnlistenFn> {
  return listen<KioskEvents[K]>(name, (event) => handler(event.payload));
}
