import type { UpgradePlan } from '../../plan/types.js';
import type { AdapterPlanText } from '../../service/adapter.js';
import type { Step } from '../context.js';
import { backupGate } from './backup-gate.js';
import { coldDefrag } from './cold-defrag.js';
import { confirm } from './confirm.js';
import { finish } from './finish.js';
import { preflight } from './preflight.js';
import { probesOff, probesOn } from './probes.js';
import { shadow } from './shadow.js';
import { shadowSwap } from './shadow-swap.js';
import { start } from './start.js';
import { stop } from './stop.js';
import { waitMigrations } from './wait-migrations.js';

/** The upgrade, in order (DESIGN.md steps 1–10): each step is declared in its own file; a new step is its file plus its place here. */
export const STEPS: readonly Step[] = [preflight, backupGate, shadow, probesOff, stop, shadowSwap, coldDefrag, start, waitMigrations, confirm, probesOn, finish];

/** A failure from this step on means the service was touched: roll back automatically. */
export const FIRST_DOWNTIME_STEP = STEPS.findIndex((s) => s.name === 'stop');

/** The steps as `synup plan` shows them: what each will do for this plan, in the configured adapter's words if any. */
export function describeSteps(plan: UpgradePlan, adapter: AdapterPlanText | null): { name: string; title: string; description: string }[] {
  return STEPS.filter((step) => step.appliesTo?.(plan) !== false).map((step) => ({ name: step.name, title: step.title, description: step.describe(plan, adapter) }));
}
