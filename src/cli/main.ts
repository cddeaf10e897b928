// The `flotilla` command. This first brick ships the consensus core and its
// simulator; the daemon, init/join and the control commands come with the
// manager and worker issues. Unknown commands fail with a clear message.
import { readFileSync } from 'node:fs';

const USAGE = `usage: flotilla <command>

commands:
  version          print the version
  help             show this help

The daemon, cluster bootstrap (init, join) and control commands (node, service)
are not built yet. To exercise the Raft core today:
  npm run sim -- --seeds 1000       run the deterministic simulator
  npm run bench:raft-core           benchmark the consensus core
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function main(argv: string[]): number {
  const [cmd] = argv;
  switch (cmd) {
    case 'version':
    case '--version':
    case '-v':
      process.stdout.write(`flotilla ${version()}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`flotilla: unknown command "${cmd}" (see: flotilla help)\n`);
      return 2;
  }
}
