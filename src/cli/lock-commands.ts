// Autolock, as docker swarm's: `flotilla unlock-key [--rotate] [-q]` shows or
// rotates the cluster's unlock key; `flotilla unlock` gives it to a manager
// that restarted locked (read from standard input, never from argv, so that
// it stays out of shell history and `ps`).
import type { CommandDef } from './command.js';
import * as grpc from './grpc-codes.js';
import { CliError, RpcError } from './errors.js';
import { QUIET_FLAG } from './format.js';

/** docker swarm unlock-key's text around the key. */
export function unlockKeyInstructions(key: string): string {
  return (
    'To unlock a flotilla manager after it restarts, run the `flotilla unlock`\n' +
    'command and provide the following key:\n\n' +
    `    ${key}\n\n` +
    'Please remember to store this key in a password manager, since without it you\n' +
    'will not be able to restart the manager.\n'
  );
}

export const UNLOCK_KEY: CommandDef = {
  name: 'unlock-key',
  usage: 'flotilla unlock-key [OPTIONS]',
  summary: "Show or rotate the cluster's unlock key (autolock).",
  flags: [
    { name: 'rotate', kind: 'bool', help: 'rotate the unlock key (a manager that is down meanwhile still needs the old one, once)' },
    { ...QUIET_FLAG, help: 'only print the key' },
  ],
  args: { min: 0, max: 0 },
  async run(ctx) {
    const control = ctx.control();
    const quiet = ctx.flags.bool('quiet');
    let key: string;
    if (ctx.flags.bool('rotate')) {
      key = (await control.call('RotateUnlockKey', {})).unlockKey;
      if (!quiet) ctx.io.out('Successfully rotated manager unlock key.\n\n');
    } else {
      key = (await control.call('GetUnlockKey', {})).unlockKey;
    }
    if (!key) throw new CliError('the manager returned no unlock key');
    ctx.io.out(quiet ? `${key}\n` : unlockKeyInstructions(key));
    return 0;
  },
};

/** The first line of standard input (a prompt on stderr when it is a terminal). */
async function readKeyLine(ctx: { io: { err(t: string): void } }): Promise<string> {
  const stdin = process.stdin;
  if (stdin.isTTY) ctx.io.err('Please enter unlock key: ');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.includes('\n') || size > 4096) break;
  }
  return Buffer.concat(chunks).toString('utf8').split('\n')[0]?.trim() ?? '';
}

export const UNLOCK: CommandDef = {
  name: 'unlock',
  usage: 'flotilla unlock',
  summary: 'Unlock a manager that restarted locked (autolock), with the unlock key read from standard input.',
  flags: [],
  args: { min: 0, max: 0 },
  details: 'The key is read from standard input (a prompt when it is a terminal): `flotilla unlock-key -q` on an unlocked manager shows it.\n',
  async run(ctx) {
    const key = await readKeyLine(ctx);
    if (!key) throw new CliError('no unlock key given: type it, or pipe it in (`flotilla unlock-key -q` on an unlocked manager shows it)');
    try {
      await ctx.control().call('UnlockNode', { unlockKey: key });
    } catch (err) {
      // A wrong key is the one refusal an operator meets here: say it as the node does, nothing around it.
      if (err instanceof RpcError && err.code === grpc.status.INVALID_ARGUMENT) throw new CliError(err.details);
      throw err;
    }
    ctx.io.out('manager unlocked\n');
    return 0;
  },
};
