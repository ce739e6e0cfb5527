// The events the shell sends (the kiosk's event stream, see kiosk-app/shell/src/sync.rs): verdicts
// from the camera (and the camera scans that could not be judged), the background sync's state,
// progress and reports, packages applied, background errors, and the camera's state. Each helper
// resolves to the function that stops listening.
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import type { CameraStatus, ScanOutcome, SyncProgress, SyncReport, UiError } from '../bindings';
import type { SyncStatus } from './sync-status';

export type { UnlistenFn };

export interface KioskEvents {
  scan: ScanOutcome;
  'scan-error': UiError;
  'sync-status': SyncStatus;
  'camera-status': CameraStatus;
  'sync-progress': SyncProgress;
  synced: SyncReport;
  'package-applied': number;
  'kiosk-error': UiError;
}

export function onKioskEvent<K extends keyof KioskEvents>(
  name: K,
  handler: (payload: KioskEvents[K]) => void,
): Promise<UnlistenFn> {
  return listen<KioskEvents[K]>(name, (event) => handler(event.payload));
}
