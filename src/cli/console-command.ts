// `flotilla console [-q]`: the address of the web console of the manager the
// CLI talks to, and a one-time login link to it (Control.ConsoleLogin, which
// that manager answers itself: the link is good there only, once, for a few
// minutes). Like `jupyter server list`'s token links: no password to keep.
import type { CommandDef } from './command.js';
import { CliError } from './errors.js';
import { QUIET_FLAG } from './format.js';

/** What `flotilla console` prints around the link. */
export function consoleInstructions(consoleUrl: string, loginUrl: string, expiresAtMs: number, now: number): string {
  const minutes = Math.max(1, Math.round((expiresAtMs - now) / 60_000));
  return (
    `The web console of this manager: ${consoleUrl}\n\n` +
    `Open this one-time login link in a browser within ${minutes} minute${minutes === 1 ? '' : 's'} (it works once):\n\n` +
    `    ${loginUrl}\n`
  );
}

export const CONSOLE: CommandDef = {
  name: 'console',
  usage: 'flotilla console [OPTIONS]',
  summary: "Print the web console's address and a one-time login link.",
  flags: [{ ...QUIET_FLAG, help: 'only print the login link' }],
  args: { min: 0, max: 0 },
  details: 'The console is served by every manager on its HTTP listener (--metrics-addr, port 9324 by default), under /console/.',
  async run(ctx) {
    const res = await ctx.control().call('ConsoleLogin', {});
    if (!res.loginUrl) throw new CliError('the manager returned no login link');
    ctx.io.out(ctx.flags.bool('quiet') ? `${res.loginUrl}\n` : consoleInstructions(res.consoleUrl, res.loginUrl, Number(res.expiresAtMs), ctx.io.now()));
    return 0;
  },
};
