// The `flotilla` command: dispatch to the bootstrap commands (init, join,
// daemon) and to the operator commands that talk to a manager's Control API
// (node, service, network, secret, config, join-token, cluster). Docker's
// conventions throughout: every failure is one line on stderr starting with
// "flotilla: ", exit code 1, or 2 for a mistake on the command line.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../common/protos.js';
import { parseArgs, quoteArg, UsageError } from './args.js';
import { runDaemon, runInit, runJoin } from './bootstrap.js';
import { CLUSTER_GROUP, JOIN_TOKEN } from './cluster-commands.js';
import { UNLOCK, UNLOCK_KEY } from './lock-commands.js';
import {
  CONNECTION_FLAGS,
  commandHelp,
  findCommand,
  groupHelp,
  HELP_FLAG,
  printError,
  processIo,
  runCommand,
  type CliIo,
  type CommandDef,
  type CommandGroup,
} from './command.js';
import { CONFIG_GROUP } from './config-commands.js';
import { EVENTS } from './events-command.js';
import { NETWORK_GROUP } from './network-commands.js';
import { NODE_GROUP } from './node-commands.js';
import { SECRET_GROUP } from './secret-commands.js';
import { SERVICE_GROUP } from './service-commands.js';

export type { CliIo } from './command.js';

/** Operator commands without subcommands. */
const SINGLE_COMMANDS: Partial<Record<string, CommandDef>> = { 'join-token': JOIN_TOKEN, 'unlock-key': UNLOCK_KEY, unlock: UNLOCK, events: EVENTS };

const GROUPS: readonly CommandGroup[] = [NODE_GROUP, SERVICE_GROUP, NETWORK_GROUP, SECRET_GROUP, CONFIG_GROUP, CLUSTER_GROUP];

export const USAGE = `usage: flotilla [--host ADDR] [--data-dir DIR] [--timeout DURATION] COMMAND

A Swarm-style container orchestrator.

Cluster and daemon:
  init         create a cluster: its CA, the first manager and the join tokens
  join         join a cluster as a worker or a manager, with a join token
  daemon       run this node from its data dir

Operator commands (talk to a manager):
  node         manage the nodes of the cluster (ls, inspect, update, promote, demote, rm)
  service      manage services (create, ls, inspect, update, rollback, promote, scale, rm, ps)
  network      manage the networks services attach to (create, ls, inspect, rm)
  secret       manage secrets tasks read as files (create, ls, inspect, rm, rotate)
  config       manage configs tasks read as files (create, ls, inspect, rm, rotate)
  join-token   print the command that adds a worker or a manager
  unlock-key   show or rotate the unlock key (autolock)
  unlock       unlock a manager that restarted locked
  cluster      inspect the cluster (info)
  events       show the cluster's events as they happen (--since, --until, --filter, --format json)

Other:
  version      print the version
  help         show this help (help COMMAND: the help of a command)

Global options (also accepted after a command):
  -H, --host ADDR          manager to talk to: unix:///path/control.sock, or HOST:PORT over mutual
                           TLS with the certificates of the data dir (env FLOTILLA_HOST)
      --data-dir DIR       data dir of the local node (default /var/lib/flotilla; env FLOTILLA_DATA_DIR)
      --timeout DURATION   deadline of each call to a manager (default 15s)

Run 'flotilla COMMAND --help' for more information on a command.
`;

export function version(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

const VERSION_FLAG = { name: 'version', short: 'v', kind: 'bool' as const, help: 'print the version' };

/** `flotilla help [COMMAND [SUBCOMMAND]]` */
function help(topic: readonly string[], io: CliIo): number {
  if (topic.length === 0) {
    io.out(USAGE);
    return 0;
  }
  const group = GROUPS.find((g) => g.name === topic[0]);
  if (group) {
    if (topic.length === 1) {
      io.out(groupHelp(group));
      return 0;
    }
    const def = findCommand(group, topic[1]);
    if (def) {
      io.out(commandHelp(def));
      return 0;
    }
    throw new UsageError(`unknown command ${quoteArg(`flotilla ${topic[0]} ${topic[1]}`)} (see: flotilla ${quoteArg(topic[0], 40)} --help)`);
  }
  const single = SINGLE_COMMANDS[topic[0]];
  if (single) {
    io.out(commandHelp(single));
    return 0;
  }
  if (['init', 'join', 'daemon'].includes(topic[0])) {
    io.out(`Run 'flotilla ${topic[0]} --help' for the options of ${topic[0]}.\n`);
    return 0;
  }
  throw new UsageError(`unknown command ${quoteArg(topic[0])} (see: flotilla help)`);
}

/**
 * Run the CLI with `argv` (without node and the script); resolves to the exit
 * code. Output goes through `io` (process.stdout/stderr by default).
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  try {
    // Global options come before the command; the command is the first positional word.
    const { flags: global, positionals } = parseArgs(argv, [...CONNECTION_FLAGS, HELP_FLAG, VERSION_FLAG], { command: 'flotilla', stopAtPositional: true });
    const globalTokens = argv.slice(0, argv.length - positionals.length);
    const [cmd, ...rest] = positionals;
    if (global.bool('version') && cmd === undefined) {
      io.out(`flotilla ${version()}\n`);
      return 0;
    }
    if (cmd === undefined || global.bool('help')) return help(cmd === undefined ? [] : [cmd], io);
    switch (cmd) {
      case 'version':
        io.out(`flotilla ${version()}\n`);
        return 0;
      case 'help':
        return help(rest, io);
      // The bootstrap commands parse their own flags (--data-dir given before the command is passed on).
      case 'init':
        return await runInit([...globalTokens, ...rest]);
      case 'join':
        return await runJoin([...globalTokens, ...rest]);
      case 'daemon':
        return await runDaemon([...globalTokens, ...rest]);
    }
    const single = SINGLE_COMMANDS[cmd];
    if (single) return await runCommand(single, `flotilla ${single.name}`, rest, io, global);
    const group = GROUPS.find((g) => g.name === cmd);
    if (!group) throw new UsageError(`unknown command ${quoteArg(cmd)} (see: flotilla help)`);
    const [sub, ...subArgs] = rest;
    if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
      io.out(groupHelp(group));
      return 0;
    }
    const def = findCommand(group, sub);
    if (!def) throw new UsageError(`unknown command ${quoteArg(`flotilla ${cmd} ${sub}`)} (see: flotilla ${cmd} --help)`);
    return await runCommand(def, `flotilla ${cmd} ${def.name}`, subArgs, io, global);
  } catch (err) {
    return printError(io, err);
  }
}
