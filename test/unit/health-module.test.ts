import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { checkWithTool, waitWithTool } from '../../src/health/tool.js';
import { healthModule, healthToolCommand } from '../../src/health/tool-command.js';
import { CONTAINER_CELL_URL } from '../../src/service/version.js';
import { tempDir } from '../support/helpers.js';

/**
 * Issue 20, item 6: `synapse.tools.service.healthcheck` exists only from Synapse 2.225.0; older releases (and Vertex's
 * own probes) have `synapse.tools.healthcheck`. The default command follows the version that runs.
 */
describe('the healthcheck module by version', () => {
  const config = (command?: string[]) => configSchema.parse({ health: { check: 'tool', ...(command ? { tool: { command } } : {}) } });
  const container = { cellUrl: CONTAINER_CELL_URL };

  it('2.180.0 and 2.224.x get synapse.tools.healthcheck; 2.225.0 and later synapse.tools.service.healthcheck; unknown: the current name', () => {
    expect(healthModule('2.180.0')).toBe('synapse.tools.healthcheck');
    expect(healthModule('2.224.9')).toBe('synapse.tools.healthcheck');
    expect(healthModule('2.225.0')).toBe('synapse.tools.service.healthcheck');
    expect(healthModule('2.250.0')).toBe('synapse.tools.service.healthcheck');
    expect(healthModule(null)).toBe('synapse.tools.service.healthcheck');
    expect(healthToolCommand(config(), container, '2.180.0')).toEqual(['python', '-m', 'synapse.tools.healthcheck', '-c', 'cell:///vertex/storage/']);
    expect(healthToolCommand(config(), { cellUrl: 'cell:///srv/cortex00/' }, '2.250.0')).toEqual(['python3', '-m', 'synapse.tools.service.healthcheck', '-c', 'cell:///srv/cortex00/']);
  });

  it('{module} in health.tool.command is the module of the version that runs; a command without it is used as written', () => {
    expect(healthToolCommand(config(['/opt/py', '-m', '{module}', '-c', '{cell}']), container, '2.180.0')).toEqual(['/opt/py', '-m', 'synapse.tools.healthcheck', '-c', CONTAINER_CELL_URL]);
    expect(healthToolCommand(config(['/opt/py', '-m', 'x.y', '-c', '{cell}']), container, '2.180.0')).toEqual(['/opt/py', '-m', 'x.y', '-c', CONTAINER_CELL_URL]);
  });

  it("a missing module is final and named: Python's error, not kubectl's last line; the wait stops at once", async () => {
    const dir = tempDir();
    const tool = path.join(dir, 'tool.mjs');
    // what `kubectl exec … -- python -m synapse.tools.service.healthcheck` prints on a 2.180.0 image
    writeFileSync(tool, `process.stderr.write("/usr/bin/python: Error while finding module specification for 'synapse.tools.service.healthcheck' (ModuleNotFoundError: No module named 'synapse.tools.service')\\ncommand terminated with exit code 1\\n"); process.exit(1);\n`);
    const target = { argv: [process.execPath, tool], env: { PATH: process.env.PATH }, timeoutMs: 10_000 };
    const check = await checkWithTool(target);
    expect(check).toMatchObject({ active: false, final: true });
    expect(check.detail).toMatch(/No module named 'synapse.tools.service'/);
    const started = Date.now();
    const error = await waitWithTool(target, { deadlineMs: 60_000, signal: AbortSignal.timeout(70_000) }).then(() => null, (e: Error) => e);
    expect(error?.message).toMatch(/cannot work: exit 1: .*No module named 'synapse.tools.service'/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
