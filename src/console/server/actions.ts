// What the console's buttons and forms do: each is the `flotilla` command an
// operator would type, run in this process by the CLI's own code against this
// manager's socket. So a write from the console is checked and refused with
// the very words the CLI uses, and goes through the same Control API calls
// (docker's habit too: Portainer's errors are the engine's).
// Pure here: the argv of each action from its JSON body; console.ts runs it.
import { splitShellWords, UsageError } from '../../cli/args.js';
import { HttpError } from './http-util.js';

export type Action = 'create' | 'scale' | 'image' | 'rollback' | 'promote' | 'remove' | 'availability';

function str(body: Record<string, unknown>, key: string, required: boolean): string | undefined {
  const v = body[key];
  if (v === undefined || v === null || v === '') {
    if (required) throw new HttpError(400, `${key} is required`);
    return undefined;
  }
  if (typeof v !== 'string') throw new HttpError(400, `${key} must be a string`);
  return v;
}

function lines(body: Record<string, unknown>, key: string): string[] {
  const v = body[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new HttpError(400, `${key} must be a list of strings`);
  return (v as string[]).map((x) => x.trim()).filter((x) => x !== '');
}

function count(body: Record<string, unknown>, key: string, required: boolean): string | undefined {
  const v = body[key];
  if (v === undefined || v === null || v === '') {
    if (required) throw new HttpError(400, `${key} is required`);
    return undefined;
  }
  // The CLI checks the value itself (an integer in range), with its own words.
  if (typeof v !== 'number' && typeof v !== 'string') throw new HttpError(400, `${key} must be a number`);
  return String(v);
}

/** A positional that must not be taken for a flag. */
function operand(value: string, what: string): string {
  if (value.startsWith('-')) throw new HttpError(400, `invalid ${what} ${JSON.stringify(value)}: it may not begin with "-"`);
  return value;
}

/** The form's command line split into words by the CLI's own rules (`--entrypoint`, compose `command:`). */
export function splitCommand(text: string): string[] {
  try {
    return splitShellWords(text, 'command');
  } catch (err) {
    if (err instanceof UsageError) throw new HttpError(400, err.message);
    throw err;
  }
}

/**
 * The `flotilla` argv (after the connection flags) of an action on `target`
 * (a service or node id; none for create), from the request body.
 */
export function actionArgv(action: Action, target: string | undefined, body: Record<string, unknown>): string[] {
  const id = (): string => operand(target ?? '', 'id');
  switch (action) {
    case 'create': {
      const argv = ['service', 'create', '--detach', `--name=${str(body, 'name', true)}`];
      const mode = str(body, 'mode', false);
      if (mode) argv.push(`--mode=${mode}`);
      const replicas = count(body, 'replicas', false);
      if (replicas !== undefined && mode !== 'global') argv.push(`--replicas=${replicas}`);
      for (const e of lines(body, 'env')) argv.push(`--env=${e}`);
      for (const p of lines(body, 'publish')) argv.push(`--publish=${p}`);
      for (const c of lines(body, 'constraints')) argv.push(`--constraint=${c}`);
      argv.push(operand(str(body, 'image', true) ?? '', 'image'));
      const command = str(body, 'command', false);
      if (command) argv.push(...splitCommand(command));
      return argv;
    }
    case 'scale':
      return ['service', 'scale', '--detach', `${id()}=${count(body, 'replicas', true)}`];
    case 'image':
      return ['service', 'update', '--detach', `--image=${str(body, 'image', true)}`, id()];
    case 'rollback':
      return ['service', 'rollback', '--detach', id()];
    case 'promote':
      return ['service', 'promote', id()];
    case 'remove':
      return ['service', 'rm', id()];
    case 'availability': {
      const a = str(body, 'availability', true);
      return ['node', 'update', `--availability=${a}`, id()];
    }
  }
}

/** The CLI's error line as the console shows it: without the program's name. */
export function cliErrorLine(stderr: string): string {
  const line = stderr.trim().split('\n').filter((l) => l.trim() !== '')[0] ?? '';
  return line.replace(/^flotilla: /, '') || 'the command failed';
}
