// One typed wrapper per command of docs/kiosk-app.md. Arguments are camelCase (Tauri's
// convention); answers are the Rust views of bindings.ts; every rejection is a UiError.
import { Channel, invoke, type InvokeArgs } from '@tauri-apps/api/core';
import type {
  AppState,
  BadgeView,
  CameraInfo,
  CameraStatus,
  CheckInId,
  ConflictsView,
  Direction,
  Gate,
  GateCounts,
  GateId,
  GuestSearchView,
  JsonValue,
  OutboxView,
  PackageApplied,
  PreviewFrame,
  ScanOutcome,
  ScanSource,
  Settings,
  SyncProgress,
  TicketId,
  SyncReport,
  WalkInRequest,
  WalkInSetup,
} from '../bindings';
import { toUiError } from './errors';
import type { SyncStatus } from './sync-status';

/** How a code reached `scan_code`: a USB scanner typing, or a person typing. */
export type TypedSource = 'wedge' | 'typed';

async function call<T>(command: string, args?: InvokeArgs, headers?: Record<string, string>): Promise<T> {
  try {
    return await invoke<T>(command, args, headers ? { headers } : undefined);
  } catch (error) {
    throw toUiError(error);
  }
}

export const appState = () => call<AppState>('app_state');

export const setUp = (pin: string, coordinatorPin: string) =>
  call<AppState>('set_up', { pin, coordinatorPin });

export const unlock = (pin: string) => call<AppState>('unlock', { pin });

export const lock = () => call<AppState>('lock');

/** `invite`: the enrolment QR's text, or the server URL when `token` is given. */
export const enrol = (invite: string, token: string | null, label: string) =>
  call<AppState>('enrol', token === null ? { invite, label } : { invite, token, label });

/** Sends the package file's bytes as the raw request body (the shell never opens paths). */
export const importPackage = (bytes: Uint8Array) => call<PackageApplied>('import_package', bytes);

export const enrolFromKit = (bytes: Uint8Array, code: string) =>
  call<AppState>('enrol_from_kit', bytes, { 'gatepass-kit-code': code });

export const fetchPackage = () => call<PackageApplied>('fetch_package');

export const gates = () => call<Gate[]>('gates');

export const selectGate = (gateId: GateId) => call<AppState>('select_gate', { gateId });

export const setDirection = (direction: Direction) =>
  call<AppState>('set_direction', { direction });

export const scanCode = (code: string, source: TypedSource) =>
  call<ScanOutcome>('scan_code', { code, source });

/** Guests matching what was typed, best first (at most `limit`). */
export const searchGuests = (query: string, limit: number) =>
  call<GuestSearchView>('search_guests', { query, limit });

/** Judges the ticket of a guest picked from the search list, as a scan of its code would be. */
export const admitFound = (ticketId: TicketId) => call<ScanOutcome>('admit_found', { ticketId });

/** The answers to the questions a gate asks (after `needs_answers`), then the ticket judged again. */
export const answerQuestions = (ticketId: TicketId, answers: Record<string, JsonValue>, source: ScanSource) =>
  call<ScanOutcome>('answer_questions', { ticketId, answers, source });

export const annulCheckIn = (checkInId: CheckInId) =>
  call<GateCounts>('annul_check_in', { checkInId });

export const counts = () => call<GateCounts>('counts');

export const walkInSetup = () => call<WalkInSetup>('walk_in_setup');

export const registerWalkIn = (request: WalkInRequest) =>
  call<BadgeView>('register_walk_in', { request });

/** Resolves (with null) when the PIN is right; rejects with `wrong_pin` otherwise. */
export const checkCoordinatorPin = (pin: string) =>
  call<null>('check_coordinator_pin', { pin });

export const outbox = () => call<OutboxView>('outbox');
export const retryParked = (seq: number) => call<OutboxView>('retry_parked', { seq });
export const dismissParked = (seq: number) => call<OutboxView>('dismiss_parked', { seq });
/** The system print dialog for the window (the print styles leave the badge card alone). */
export const printBadge = () => call<null>('print_badge');

/** The printers the system knows (CUPS), for the settings' badge printer. */
export const printers = () => call<string[]>('printers');
/** A coordinator's reprint: logged by the engine, answered with the badge to print. */
export const reprintBadge = (ticketId: TicketId) => call<BadgeView>('reprint_badge', { ticketId });
/** The event's open conflicts as the server has them (rejects with `offline` without it). */
export const conflicts = () => call<ConflictsView>('conflicts');

export const syncStatus = () => call<SyncStatus>('sync_status');

/** One sync now; `onProgress` sees each step of the push and the pull. */
export function syncNow(onProgress: (progress: SyncProgress) => void): Promise<SyncReport> {
  const channel = new Channel<SyncProgress>();
  channel.onmessage = onProgress;
  return call<SyncReport>('sync_now', { onProgress: channel });
}

export const saveSettings = (settings: Settings) =>
  call<AppState>('save_settings', { settings });

export const cameras = () => call<CameraInfo[]>('cameras');

/** Starts the camera; `onFrame` gets the downscaled previews (about 12 per second). */
export function startCamera(onFrame: (frame: PreviewFrame) => void): Promise<CameraStatus> {
  const channel = new Channel<PreviewFrame>();
  channel.onmessage = onFrame;
  return call<CameraStatus>('start_camera', { preview: channel });
}

export const stopCamera = () => call<CameraStatus>('stop_camera');

/** Entering needs nothing; leaving needs the coordinator PIN. */
export const setKioskMode = (on: boolean, pin?: string) =>
  call<AppState>('set_kiosk_mode', pin === undefined ? { on } : { on, pin });
