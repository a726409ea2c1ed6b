export { checkActive, waitForActive, ACTIVE_PATH, type ActiveCheck, type CheckOptions, type WaitOptions } from './active.js';
export { readServiceVersion, type VersionOptions } from './version.js';
export { classifyLogLine, newMigrationState, observe, type LogEvent, type LogEventKind, type MigrationState } from './logwatch.js';
export { trustFor, describeTrust, baseUrl, type HealthTarget, type Trust } from './tls.js';
export { isListening } from './port.js';
