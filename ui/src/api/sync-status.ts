// The background sync's state, as the `sync_status` command and the `sync-status` event carry it.
//
// Declared here until the Rust side adds `SyncStatus` to bindings.ts; then this file becomes
// `export type { SyncStatus } from '../bindings';` and nothing else changes.
import type { UnixMillis } from '../bindings';

export type SyncStatus = {
  /** The last try reached the server. */
  online: boolean;
  /** A sync (or package fetch) is running now. */
  syncing: boolean;
  /** Changes recorded here that the server has not acknowledged yet. */
  pending: number;
  acknowledged: number;
  /** Changes the server refused for good (kept here for the coordinator). */
  parked: number;
  /** When the last sync succeeded. */
  last_sync_at: UnixMillis | null;
  /** When the last sync started, successful or not. */
  last_attempt_at: UnixMillis | null;
  /** Why the last try failed; null once a sync succeeds. */
  last_error: string | null;
  /** The server revoked this kiosk: it stopped syncing. */
  revoked: boolean;
  /** Set when the server said this kiosk's clock runs ahead. */
  clock_ahead_ms: number | null;
  /** Version of the event package held. */
  package_version: number | null;
  /** The newest package the server has. */
  server_package_version: number | null;
  /** The server's live stream is open (other gates' check-ins arrive within a second). */
  live: boolean;
  /** Changes received from the server since the app started. */
  pulled_total: number;
};
