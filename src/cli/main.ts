// The `flotilla` command: dispatch to the bootstrap commands (init, join,
// daemon) and to the operator commands that talk to a manager's Control API
// (node, service, network, secret, config, join-token, cluster). Docker's
// conventions throughout: every failure is one line on stderr starting with
// "flotilla: ", exit code 1, or 2 for a mistake on the command line.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../common/protos.js';
import { parseArgs, quoteArg, UsageError } from './args.js';
import {
  CONNECTION_FLAGS,
  commandHelp,
  findCommand,
  groupHelp,
  HELP_FLAG,
  loadCommand,
  printError,
  processIo,
  runCommand,
  type CliIo,
  type CommandDef,
  type CommandGroup,
} from './command.js';

export type { CliIo } from './command.js';

/**
 * The operator commands: a group of subcommands (`service`) or a command of
 * its own (`join-token`), each loaded only when it runs, so that `flotilla
 * service ls` loads neither the daemon nor every other command (start-up time;
 * bench/cli.ts). A new command: one line here, one in USAGE.
 */
const COMMANDS = new Map<string, () => Promise<CommandGroup | CommandDef>>([
  ['node', async () => (await import('./node-commands.js')).NODE_GROUP],
  ['service', async () => (await import('./service-commands.js')).SERVICE_GROUP],
  ['network', async () => (await import('./network-commands.js')).NETWORK_GROUP],
  ['secret', async () => (await import('./secret-commands.js')).SECRET_GROUP],
  ['config', async () => (await import('./config-commands.js')).CONFIG_GROUP],
  ['cluster', async () => (await import('./cluster-commands.js')).CLUSTER_GROUP],
  ['join-token', async () => (await import('./cluster-commands.js')).JOIN_TOKEN],
  ['unlock-key', async () => (await import('./lock-commands.js')).UNLOCK_KEY],
  ['unlock', async () => (await import('./lock-commands.js')).UNLOCK],
  ['events', async () => (await import('./events-command.js')).EVENTS],
  ['console', async () => (await import('./console-command.js')).CONSOLE],
  ['stack', async () => (await import('./stack-commands.js')).STACK_GROUP],
]);

function isGroup(c: CommandGroup | CommandDef): c is CommandGroup {
  return 'commands' in c;
}

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
  stack        deploy applications from compose files (deploy, ls, services, ps, rm)
  join-token   print the command that adds a worker or a manager
  unlock-key   show or rotate the unlock key (autolock)
  unlock       unlock a manager that restarted locked
  cluster      inspect the cluster (info)
  events       show the cluster's events as they happen (--since, --until, --filter, --format json)
  console      print the web console's address and a one-time login link

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
async function help(topic: readonly string[], io: CliIo): Promise<number> {
  if (topic.length === 0) {
    io.out(USAGE);
    return 0;
  }
  const command = await COMMANDS.get(topic[0])?.();
  if (command && isGroup(command)) {
    if (topic.length === 1) {
      io.out(groupHelp(command));
      return 0;
    }
    const def = findCommand(command, topic[1]);
    if (def) {
      io.out(commandHelp(await loadCommand(def)));
      return 0;
    }
    throw new UsageError(`unknown command ${quoteArg(`flotilla ${topic[0]} ${topic[1]}`)} (see: flotilla ${quoteArg(topic[0], 40)} --help)`);
  }
  if (command) {
    io.out(commandHelp(command));
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
    if (cmd === undefined || global.bool('help')) return await help(cmd === undefined ? [] : [cmd], io);
    switch (cmd) {
      case 'version':
        io.out(`flotilla ${version()}\n`);
        return 0;
      case 'help':
        return await help(rest, io);
      // The bootstrap commands parse their own flags (--data-dir given before the command is passed on).
      case 'init':
        return await (await import('./bootstrap.js')).runInit([...globalTokens, ...rest]);
      case 'join':
        return await (await import('./bootstrap.js')).runJoin([...globalTokens, ...rest]);
      case 'daemon':
        return await (await import('./bootstrap.js')).runDaemon([...globalTokens, ...rest]);
    }
    const load = COMMANDS.get(cmd);
    if (!load) throw new UsageError(`unknown command ${quoteArg(cmd)} (see: flotilla help)`);
    const group = await load();
    if (!isGroup(group)) return await runCommand(group, `flotilla ${group.name}`, rest, io, global); // a command of its own
    const [sub, ...subArgs] = rest;
    if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
      io.out(groupHelp(group));
      return 0;
    }
    const listed = findCommand(group, sub);
    if (!listed) throw new UsageError(`unknown command ${quoteArg(`flotilla ${cmd} ${sub}`)} (see: flotilla ${cmd} --help)`);
    const def = await loadCommand(listed);
    return await runCommand(def, `flotilla ${cmd} ${def.name}`, subArgs, io, global);
  } catch (err) {
    return printError(io, err);
  }
}
