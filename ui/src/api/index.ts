export * as api from './commands';
export type { TypedSource } from './commands';
export { isUiError, toUiError, internalError } from './errors';
export { onKioskEvent, type KioskEvents } from './events';
export type { SyncStatus } from './sync-status';
