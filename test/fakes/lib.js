// Shared by the fake systemctl/journalctl/docker/kubectl: record argv, keep state in a JSON file, answer like the tool.
//   SYNUP_FAKE_LOG    JSON lines {tool, argv} appended per invocation (argv without the tool name)
//   SYNUP_FAKE_STATE  JSON file with the fake world (units, compose services, workloads, pods, log lines)
import { appendFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

export function record(tool, argv) {
  if (process.env.SYNUP_FAKE_LOG) appendFileSync(process.env.SYNUP_FAKE_LOG, JSON.stringify({ tool, argv }) + '\n');
}

export function loadState() {
  return process.env.SYNUP_FAKE_STATE ? JSON.parse(readFileSync(process.env.SYNUP_FAKE_STATE, 'utf8')) : {};
}

export function saveState(state) {
  const file = process.env.SYNUP_FAKE_STATE;
  writeFileSync(`${file}.${process.pid}`, JSON.stringify(state, null, 2));
  renameSync(`${file}.${process.pid}`, file);
}

export function fail(message, code = 1) {
  process.stderr.write(message + '\n');
  process.exit(code);
}

/** Prints lines, then (with -f) stays alive until terminated, like a log follower with nothing new to say. */
export function follow(lines, forever) {
  for (const line of lines) process.stdout.write(line + '\n');
  if (!forever) return;
  process.on('SIGTERM', () => process.exit(0));
  setInterval(() => undefined, 1 << 30);
}

/** `--name=value` or `--name value` (removed from args); `true` for a bare flag when `bare`. */
export function takeOption(args, name, bare = false) {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name) {
      if (bare) {
        args.splice(i, 1);
        return true;
      }
      const [, value] = args.splice(i, 2);
      return value;
    }
    if (args[i].startsWith(`${name}=`)) {
      const [arg] = args.splice(i, 1);
      return arg.slice(name.length + 1);
    }
  }
  return undefined;
}
