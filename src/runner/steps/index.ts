import type { Step } from '../context.js';
import { backupGate } from './backup-gate.js';
import { coldDefrag } from './cold-defrag.js';
import { confirm } from './confirm.js';
import { finish } from './finish.js';
import { preflight } from './preflight.js';
import { probesOff, probesOn } from './probes.js';
import { start } from './start.js';
import { stop } from './stop.js';
import { waitMigrations } from './wait-migrations.js';

/** The upgrade, in order (DESIGN.md steps 1–10). Names match UPGRADE_STEPS in src/plan/steps.ts. */
export const STEPS: readonly Step[] = [preflight, backupGate, probesOff, stop, coldDefrag, start, waitMigrations, confirm, probesOn, finish];

/** A failure from this step on means the service was touched: roll back automatically. */
export const FIRST_DOWNTIME_STEP = STEPS.findIndex((s) => s.name === 'stop');
