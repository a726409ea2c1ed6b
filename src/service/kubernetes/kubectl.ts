import { SynupError } from '../../errors.js';
import { runTool, type ToolResult } from '../tool.js';

interface KubectlOptions {
  namespace: string;
  context: string | null;
  env: NodeJS.ProcessEnv;
}

/** kubectl with the cell's context and namespace on every call; argument arrays only. */
export class Kubectl {
  constructor(readonly options: KubectlOptions) {}

  argv(...args: string[]): string[] {
    const o = this.options;
    return ['kubectl', ...(o.context ? ['--context', o.context] : []), '-n', o.namespace, ...args];
  }

  run(...args: string[]): Promise<ToolResult> {
    return runTool(this.argv(...args), { env: this.options.env });
  }

  async json<T>(...args: string[]): Promise<T> {
    const { stdout } = await this.run(...args);
    try {
      return JSON.parse(stdout) as T;
    } catch {
      throw new SynupError('failed', `\`kubectl ${args.join(' ')}\` did not print JSON: ${JSON.stringify(stdout.slice(0, 120))}`);
    }
  }
}
