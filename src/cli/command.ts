// The frame every `flotilla` subcommand runs in: its flags (plus the
// connection flags), its usage text, the argument count check, a Control
// connection opened on first use and closed at the end, and the translation of
// any error into one line on stderr and an exit code.
import { flagHelp, invalidValue, parseArgs, parseDuration, quoteArg, UsageError, type FlagSpec, type Flags } from './args.js';
import { connect, type Control, type ConnectionOptions, type Env } from './connection.js';
import { describeError, oneLine, type ErrorContext } from './errors.js';

/** Where the CLI writes and what it reads from its environment; injectable for tests. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: Env;
  /** The clock, for relative times. */
  now(): number;
  /** Standard input, for a FILE given as `-` (absent: nothing to read). */
  stdin?(): AsyncIterable<Uint8Array>;
}

export function processIo(): CliIo {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    env: process.env,
    now: () => Date.now(),
    stdin: () => process.stdin,
  };
}

/** The flags that choose the manager, accepted before the command and by every command that talks to one. */
export const CONNECTION_FLAGS: readonly FlagSpec[] = [
  { name: 'host', short: 'H', kind: 'string', metavar: 'ADDR', help: 'manager to talk to: unix:///path/control.sock or HOST:PORT (mutual TLS with the certificates of --data-dir); env FLOTILLA_HOST' },
  { name: 'data-dir', kind: 'string', metavar: 'DIR', help: 'data dir of the local node (default /var/lib/flotilla); env FLOTILLA_DATA_DIR' },
  { name: 'timeout', kind: 'string', metavar: 'DURATION', help: 'deadline of each call to the manager (default 15s)' },
];

export const HELP_FLAG: FlagSpec = { name: 'help', short: 'h', kind: 'bool', help: 'print this help' };

/** The connection flags, from before the command (`global`) and from the command itself (which win). */
export function connectionOptions(env: Env, ...sources: (Flags | undefined)[]): ConnectionOptions {
  const opts: ConnectionOptions = { env };
  for (const f of sources) {
    if (!f) continue;
    const host = f.str('host');
    if (host !== undefined) opts.host = host;
    const dataDir = f.str('data-dir');
    if (dataDir !== undefined) opts.dataDir = dataDir;
    const timeout = f.str('timeout');
    if (timeout !== undefined) {
      const ms = parseDuration(timeout, '--timeout');
      if (ms <= 0) throw invalidValue('--timeout', timeout, 'must be more than 0');
      opts.timeoutMs = ms;
    }
  }
  return opts;
}

export interface CommandContext {
  io: CliIo;
  flags: Flags;
  args: string[];
  /** The Control connection (opened on first use, closed when the command ends). */
  control(): Control;
  /**
   * Report the failure of one item of a multi-item command (`service rm a b`)
   * on one line and go on; returns the exit code it deserves.
   */
  report(err: unknown): number;
}

export interface CommandDef {
  name: string;
  aliases?: readonly string[];
  /** 'flotilla node ls [OPTIONS]' */
  usage: string;
  summary: string;
  flags: readonly FlagSpec[];
  /** How many positional arguments the command takes. */
  args: { min: number; max?: number };
  /** Flags end at the first positional argument (`service create IMAGE COMMAND -x`). */
  stopAtPositional?: boolean;
  /** Extra help text after the options. */
  details?: string;
  run(ctx: CommandContext): Promise<number>;
}

/**
 * A subcommand a group lists by name and summary, whose definition (flags,
 * run) is loaded only when it runs or shows its help, so that the group's
 * other subcommands start without its code.
 */
export interface LazyCommand {
  name: string;
  aliases?: readonly string[];
  summary: string;
  load(): Promise<CommandDef>;
}

export interface CommandGroup {
  name: string;
  summary: string;
  commands: readonly (CommandDef | LazyCommand)[];
}

/** The definition of a listed subcommand, loading it when it is lazy. */
export async function loadCommand(c: CommandDef | LazyCommand): Promise<CommandDef> {
  return 'load' in c ? c.load() : c;
}

/** `group` with every subcommand loaded (tests, the fuzz suite). */
export async function loadGroup(group: CommandGroup): Promise<CommandGroup & { commands: readonly CommandDef[] }> {
  return { ...group, commands: await Promise.all(group.commands.map(loadCommand)) };
}

function allFlags(def: CommandDef): FlagSpec[] {
  return [...def.flags, ...CONNECTION_FLAGS, HELP_FLAG];
}

export function commandHelp(def: CommandDef): string {
  const details = def.details ? `\n${def.details.trimEnd()}\n` : '';
  return `usage: ${def.usage}\n\n${def.summary}\n\noptions:\n${flagHelp(allFlags(def))}\n${details}`;
}

export function groupHelp(group: CommandGroup): string {
  const width = Math.max(...group.commands.map((c) => c.name.length));
  const lines = group.commands.map((c) => `  ${c.name.padEnd(width)}   ${c.summary}`);
  return `usage: flotilla ${group.name} COMMAND\n\n${group.summary}\n\ncommands:\n${lines.join('\n')}\n\nRun 'flotilla ${group.name} COMMAND --help' for the options of a command.\n`;
}

export function findCommand<C extends CommandDef | LazyCommand>(group: { commands: readonly C[] }, name: string): C | undefined {
  return group.commands.find((c) => c.name === name || c.aliases?.includes(name));
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** Print one error line; the exit code it deserves. */
export function printError(io: CliIo, err: unknown, ctx?: ErrorContext): number {
  const { message, exitCode } = describeError(err, ctx);
  io.err(`flotilla: ${oneLine(message)}\n`);
  return exitCode;
}

/**
 * A subcommand's command line: its flags (with the connection flags and
 * --help) and its positional arguments, counted against `def.args` unless
 * --help was given. No I/O: the pure front half of runCommand.
 */
export function parseCommandLine(def: CommandDef, command: string, argv: readonly string[]): { flags: Flags; positionals: string[] } {
  const parsed = parseArgs(argv, allFlags(def), { command, stopAtPositional: def.stopAtPositional });
  if (parsed.flags.bool('help')) return parsed;
  const { positionals } = parsed;
  const { min, max } = def.args;
  const hint = `(see: ${command} --help)`;
  if (positionals.length < min) {
    throw new UsageError(`"${command}" requires ${max === min ? 'exactly' : 'at least'} ${plural(min, 'argument')} ${hint}`);
  }
  if (max !== undefined && positionals.length > max) {
    throw new UsageError(max === 0 ? `"${command}" takes no arguments (got ${quoteArg(positionals[0])}) ${hint}` : `"${command}" takes at most ${plural(max, 'argument')} ${hint}`);
  }
  return parsed;
}

/**
 * Run one subcommand: parse, check, connect lazily, run, report, close.
 * `command` names it in messages ('flotilla node ls'); `global` are the flags
 * given before the command.
 */
export async function runCommand(def: CommandDef, command: string, argv: readonly string[], io: CliIo, global?: Flags): Promise<number> {
  let control: Control | undefined;
  const errorContext = (): ErrorContext | undefined => control?.errorContext();
  try {
    const { flags, positionals } = parseCommandLine(def, command, argv);
    if (flags.bool('help')) {
      io.out(commandHelp(def));
      return 0;
    }
    const opts = connectionOptions(io.env, global, flags);
    const ctx: CommandContext = {
      io,
      flags,
      args: positionals,
      control: () => (control ??= connect(opts)),
      report: (err) => printError(io, err, errorContext()),
    };
    return await def.run(ctx);
  } catch (err) {
    return printError(io, err, errorContext());
  } finally {
    control?.close();
  }
}

/**
 * `each(ref)` for every argument in turn (`inspect a b`, `rm a b`): a failure
 * is reported on its own line (ctx.report) and the others go on; what
 * succeeded, and the exit code.
 */
export async function forEachArg<T>(ctx: CommandContext, each: (ref: string) => Promise<T>): Promise<{ done: T[]; code: number }> {
  const done: T[] = [];
  let code = 0;
  for (const ref of ctx.args) {
    try {
      done.push(await each(ref));
    } catch (err) {
      code = ctx.report(err);
    }
  }
  return { done, code };
}
