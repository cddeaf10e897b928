// What `flotilla secret` and `flotilla config` share (secret-commands.ts and
// config-commands.ts build their groups here): create, ls, inspect, rm as
// docker's, and rotate (beyond docker): the next version under the same name,
// and every service that used the previous one rolls to it.
//
//   flotilla secret create [-l KEY=VALUE] NAME FILE|-     prints the id
//   flotilla secret ls [-q] [--format json] [--filter name=|id=|label=]
//   flotilla secret inspect [--pretty] NAME...            a JSON array as docker's
//   flotilla secret rm NAME...                            prints each one removed
//   flotilla secret rotate [-d] [-q] NAME FILE|-          prints the new id and the services that roll
//
// A secret's data is never printed (the manager never sends it); a config's
// is, by inspect (base64 in the JSON as docker's, text with --pretty).
import { createReadStream } from 'node:fs';
import * as grpc from './grpc-codes.js';
import { configFromProto, secretFromProto } from '../api/convert.js';
import type { ControlMethod } from '../api/proto.js';
import type { Config, Secret } from '../api/objects.js';
import { fileDataSizeProblem, maxFileObjectBytes, validateConfigSpec, validateSecretSpec, type FileObjectKind } from '../api/validate.js';
import { ValidationError } from '../api/input.js';
import { filterGroups, parseKeyValue, quoteArg, shownName, UsageError, type Flags } from './args.js';
import { connectionOptions, forEachArg, parseCommandLine, type CliIo, type CommandContext, type CommandDef, type CommandGroup } from './command.js';
import type { Control, Env } from './connection.js';
import { CliError, RpcError, validationDetail } from './errors.js';
import { ago, checkInspectFormat, FORMAT_FLAG, formatInspect, formatRows, goJsonTime, INSPECT_FORMAT_FLAG, keyValues, labelList, outputFormat, QUIET_FLAG, renderTable } from './format.js';
import { waitUpdated } from './converge.js';
import { listServices } from './lookup.js';

type FileObject = Secret | Config;

/** What differs between secrets and configs. */
export interface FileObjectKindDef {
  kind: FileObjectKind;
  /** In method names: 'Secret' (CreateSecret, ListSecrets, ...). */
  title: 'Secret' | 'Config';
  /** The group's help line. */
  summary: string;
  fromProto(x: unknown): FileObject;
  /** Whether inspect shows the data (configs, as docker's). */
  showsData: boolean;
}

function kindDef(kind: FileObjectKind, summary: string, fromProto: (x: never) => FileObject, showsData: boolean): FileObjectKindDef {
  const title = kind === 'secret' ? 'Secret' : 'Config';
  return { kind, title, summary, fromProto: (x) => fromProto(x as never), showsData };
}

export const SECRET_KIND = kindDef('secret', 'Manage secrets: up to 500 KiB each, read by tasks as files under /run/secrets/ (never shown back).', secretFromProto, false);

export const CONFIG_KIND = kindDef('config', 'Manage configs: up to 1000 KiB each, read by tasks as files (at /NAME unless a target is given).', configFromProto, true);

type Verb = 'Create' | 'Get' | 'List' | 'Remove' | 'Rotate';

/** One call of the kind's method `verb` (CreateSecret, ListConfigs, ...): the two kinds' messages have the same shapes. */
async function call(control: Control, def: FileObjectKindDef, verb: Verb, request: Record<string, unknown>): Promise<Record<string, unknown>> {
  const method = (verb === 'List' ? `List${def.title}s` : `${verb}${def.title}`) as ControlMethod;
  try {
    return (await control.call(method, request as never)) as Record<string, unknown>;
  } catch (err) {
    // The manager's NOT_FOUND already says what to do (`see flotilla secret ls`).
    if (err instanceof RpcError && err.code === grpc.status.NOT_FOUND) throw new CliError(err.details);
    throw err;
  }
}

function objectOf(def: FileObjectKindDef, res: Record<string, unknown>, what: string): FileObject {
  const x = res[def.kind];
  if (x === undefined || x === null) throw new CliError(`the manager answered ${what} without the ${def.kind}`);
  return def.fromProto(x);
}

// ------------------------------------------------------------ reading FILE

/** Standard input or a file is read up to this much: beyond it, only "more than" is known. */
const READ_CAP = 16 * 1024 * 1024;

async function readCapped(source: AsyncIterable<Uint8Array>): Promise<{ data: Buffer; more: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    chunks.push(Buffer.from(chunk));
    size += chunk.byteLength;
    if (size > READ_CAP) return { data: Buffer.concat(chunks).subarray(0, READ_CAP), more: true };
  }
  return { data: Buffer.concat(chunks), more: false };
}

function readError(file: string, err: unknown): CliError {
  const code = (err as NodeJS.ErrnoException).code;
  const known: Record<string, string> = { ENOENT: 'no such file', EISDIR: 'it is a directory', EACCES: 'permission denied', ENAMETOOLONG: 'the path is too long', ENOTDIR: 'a part of the path is not a directory' };
  // Not the system's message: it repeats the whole path.
  const why = (code !== undefined && known[code]) || code || 'unreadable';
  return new CliError(`cannot read ${quoteArg(file)}: ${why}`);
}

/** The data of FILE (`-`: standard input), within the kind's limits: a one-line CliError otherwise, which never quotes the data. */
export async function readData(io: CliIo, kind: FileObjectKind, file: string): Promise<Buffer> {
  const shown = file === '-' ? 'standard input' : quoteArg(file);
  let read: { data: Buffer; more: boolean };
  if (file === '-') {
    if (!io.stdin) throw new CliError('no standard input to read the data from: give a FILE instead of -');
    read = await readCapped(io.stdin());
  } else {
    try {
      read = await readCapped(createReadStream(file));
    } catch (err) {
      throw readError(file, err);
    }
  }
  if (read.more) throw new CliError(`${kind} data is more than ${READ_CAP / 1024 / 1024} MiB (${shown}); a ${kind} holds at most ${maxFileObjectBytes(kind) / 1024} KiB`);
  const problem = fileDataSizeProblem(kind, read.data.byteLength);
  if (problem !== undefined) throw new CliError(`${problem} (${shown}${read.data.byteLength === 0 ? ' is empty' : ''})`);
  return read.data;
}

// ------------------------------------------------------------ create

/** The name and labels `create` sends, checked as the manager will check them (UsageError naming the argument or flag). */
export function fileObjectSpecFromFlags(def: FileObjectKindDef, name: string, flags: Flags): { name: string; labels: Record<string, string> } {
  const labels: Record<string, string> = {};
  for (const l of flags.list('label')) {
    const [k, v] = parseKeyValue(l, '--label', '');
    Object.defineProperty(labels, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  try {
    // One byte of data stands for the file, which is read (and checked) after the arguments.
    const validate = def.kind === 'secret' ? validateSecretSpec : validateConfigSpec;
    validate({ name, labels, data: 'AA==' }, 'spec');
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const detail = validationDetail(err.message, err.field, err.rule);
    if (err.field === 'spec.name') throw new UsageError(`invalid ${def.kind} name ${quoteArg(name)}: ${detail}`);
    if (err.field.startsWith('spec.labels')) throw new UsageError(`invalid --label: ${detail}`);
    throw new UsageError(`invalid ${def.kind}: ${err.message}`);
  }
  return { name, labels };
}

function createCommand(def: FileObjectKindDef): CommandDef {
  const k = def.kind;
  return {
    name: 'create',
    usage: `flotilla ${k} create [OPTIONS] ${k.toUpperCase()} FILE|-`,
    summary: `Create a ${k} from a file or from standard input (-); prints its id.`,
    flags: [{ name: 'label', short: 'l', kind: 'list', metavar: 'KEY=VALUE', help: `set a label on the ${k}` }],
    args: { min: 2, max: 2 },
    details: `A ${k} holds 1 byte to ${maxFileObjectBytes(k) / 1024} KiB and never changes but for its labels: to change its data, rotate it.\nServices use it with \`service create --${k} NAME\` (or --${k} source=NAME,target=PATH,uid=UID,gid=GID,mode=0400).`,
    async run(ctx) {
      const { name, labels } = fileObjectSpecFromFlags(def, ctx.args[0], ctx.flags);
      const data = await readData(ctx.io, k, ctx.args[1]);
      let created: FileObject;
      try {
        created = objectOf(def, await call(ctx.control(), def, 'Create', { spec: { name, labels, data } }), `Create${def.title}`);
      } catch (err) {
        if (err instanceof RpcError && err.code === grpc.status.ALREADY_EXISTS) {
          throw new CliError(`a ${k} named ${quoteArg(name)} already exists: pick another name, or rotate it (flotilla ${k} rotate ${shownName(name)} FILE)`);
        }
        throw err;
      }
      ctx.io.out(`${created.id}\n`);
      return 0;
    },
  };
}

// ------------------------------------------------------------ ls

/** `--filter` as the List request's filters (docker's keys: id and name match a prefix, label a key or key=value; every label must match). */
export function listFilters(specs: readonly string[]): { names: string[]; idPrefixes: string[]; labels: string[]; namePrefixes: string[] } {
  const byKey = filterGroups(specs, ['id', 'label', 'name']);
  return { names: [], idPrefixes: byKey.get('id') ?? [], labels: byKey.get('label') ?? [], namePrefixes: byKey.get('name') ?? [] };
}

/**
 * One row of `secret ls` / `config ls`: docker's fields in its JSON's order
 * (a config has no Driver); times as docker prints them there ('5 minutes ago').
 */
export function fileObjectRow(def: FileObjectKindDef, o: FileObject, now: number): Record<string, string> {
  return {
    CreatedAt: ago(o.createdAt, now),
    ...(def.kind === 'secret' ? { Driver: '' } : {}),
    ID: o.id,
    Labels: Object.entries(o.spec.labels)
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join(','),
    Name: o.spec.name,
    UpdatedAt: ago(o.updatedAt, now),
  };
}

const FILE_OBJECT_HEADERS = { ID: 'ID', Name: 'NAME', Driver: 'DRIVER', CreatedAt: 'CREATED', UpdatedAt: 'UPDATED', Labels: 'LABELS' };

/** docker's `secret ls` table (ID, NAME, DRIVER, CREATED, UPDATED; a config's without DRIVER). */
export function fileObjectTable(def: FileObjectKindDef, objects: readonly FileObject[], now: number): string {
  const rows = objects.map((o) => fileObjectRow(def, o, now));
  return def.kind === 'secret'
    ? renderTable(['ID', 'NAME', 'DRIVER', 'CREATED', 'UPDATED'], rows.map((r) => [r.ID, r.Name, r.Driver, r.CreatedAt, r.UpdatedAt]))
    : renderTable(['ID', 'NAME', 'CREATED', 'UPDATED'], rows.map((r) => [r.ID, r.Name, r.CreatedAt, r.UpdatedAt]));
}

/** docker's JSON of a secret or config (inspect); a config's data (base64) when `data`. */
export function fileObjectJson(o: FileObject, data = false): Record<string, unknown> {
  return {
    ID: o.id,
    Version: { Index: o.version },
    CreatedAt: goJsonTime(o.createdAt),
    UpdatedAt: goJsonTime(o.updatedAt),
    Spec: { Name: o.spec.name, Labels: { ...o.spec.labels }, ...(data ? { Data: o.spec.data } : {}) },
  };
}

function lsCommand(def: FileObjectKindDef): CommandDef {
  const k = def.kind;
  return {
    name: 'ls',
    aliases: ['list'],
    usage: `flotilla ${k} ls [OPTIONS]`,
    summary: `List ${k}s (earlier versions kept by rotate are NAME~1, NAME~2, ...).`,
    flags: [
      { name: 'filter', short: 'f', kind: 'list', metavar: 'KEY=VALUE', help: 'filter: id= and name= (the start of it), label=KEY[=VALUE]' },
      FORMAT_FLAG,
      { ...QUIET_FLAG, help: `only print ${k} ids` },
    ],
    args: { min: 0, max: 0 },
    async run(ctx) {
      const filters = listFilters(ctx.flags.list('filter'));
      const format = outputFormat(ctx.flags);
      const res = await call(ctx.control(), def, 'List', { filters });
      const objects = ((res[`${k}s`] ?? []) as unknown[]).map((x) => def.fromProto(x));
      if (ctx.flags.bool('quiet')) ctx.io.out(objects.map((o) => `${o.id}\n`).join(''));
      else {
        const now = ctx.io.now();
        const rows = objects.map((o) => fileObjectRow(def, o, now));
        ctx.io.out(formatRows(format, rows, { headers: FILE_OBJECT_HEADERS, typeName: k, table: () => fileObjectTable(def, objects, now) }));
      }
      return 0;
    },
  };
}

// ------------------------------------------------------------ inspect

/** `inspect --pretty`: docker's rows; a config's data as text. */
export function prettyFileObject(def: FileObjectKindDef, o: FileObject): string {
  const rows: [string, string | null][] = [
    ['ID', o.id],
    ['Name', o.spec.name],
  ];
  if (Object.keys(o.spec.labels).length > 0) rows.push(['Labels', labelList(o.spec.labels)]);
  rows.push(['Created at', new Date(o.createdAt).toISOString()], ['Updated at', new Date(o.updatedAt).toISOString()]);
  const text = keyValues(rows);
  return def.showsData ? `${text}Data:\n${Buffer.from(o.spec.data, 'base64').toString('utf8')}\n` : text;
}

function inspectCommand(def: FileObjectKindDef): CommandDef {
  const k = def.kind;
  return {
    name: 'inspect',
    usage: `flotilla ${k} inspect [OPTIONS] ${k.toUpperCase()} [${k.toUpperCase()}...]`,
    summary: `Show ${k}s (by name, id or id prefix) as a JSON array${def.showsData ? ', with their data (base64)' : ' (never their data)'}.`,
    flags: [INSPECT_FORMAT_FLAG, { name: 'pretty', kind: 'bool', help: 'print in a human friendly format' }],
    args: { min: 1 },
    async run(ctx) {
      checkInspectFormat(ctx.flags);
      const control = ctx.control();
      const { done: found, code } = await forEachArg(ctx, async (ref) => objectOf(def, await call(control, def, 'Get', { [`${k}Id`]: ref }), `Get${def.title}`));
      if (ctx.flags.bool('pretty')) ctx.io.out(found.map((o) => prettyFileObject(def, o)).join('\n'));
      else ctx.io.out(formatInspect(ctx.flags, found.map((o) => fileObjectJson(o, def.showsData))));
      return code;
    },
  };
}

// ------------------------------------------------------------ rm

function rmCommand(def: FileObjectKindDef): CommandDef {
  const k = def.kind;
  return {
    name: 'rm',
    aliases: ['remove'],
    usage: `flotilla ${k} rm ${k.toUpperCase()} [${k.toUpperCase()}...]`,
    summary: `Remove ${k}s (no service may use them); prints each one removed.`,
    flags: [],
    args: { min: 1 },
    async run(ctx) {
      const control = ctx.control();
      const { code } = await forEachArg(ctx, async (ref) => {
        await call(control, def, 'Remove', { [`${k}Id`]: ref });
        ctx.io.out(`${ref}\n`);
      });
      return code;
    },
  };
}

// ------------------------------------------------------------ rotate

function rotateCommand(def: FileObjectKindDef): CommandDef {
  const k = def.kind;
  return {
    name: 'rotate',
    usage: `flotilla ${k} rotate [OPTIONS] ${k.toUpperCase()} FILE|-`,
    summary: `Replace a ${k}'s data: the next version takes its name and every service using it rolls to it; prints the new id and the services.`,
    flags: [
      { name: 'detach', short: 'd', kind: 'bool', help: "return at once instead of following each service's update" },
      { name: 'quiet', short: 'q', kind: 'bool', help: 'suppress progress output' },
    ],
    args: { min: 2, max: 2 },
    details: [
      `In one step: the current version is renamed NAME~N (kept while a service, or a rollback, uses it;`,
      `remove it with \`flotilla ${k} rm NAME~N\` once none does), the new one takes NAME and its labels,`,
      "and each service using the current version updates to the new one through its update config",
      '(--update-parallelism, --update-delay, ...), as for any change of its spec.',
    ].join('\n'),
    async run(ctx) {
      const data = await readData(ctx.io, k, ctx.args[1]);
      const control = ctx.control();
      const res = await call(control, def, 'Rotate', { [`${k}Id`]: ctx.args[0], data });
      const next = objectOf(def, res, `Rotate${def.title}`);
      const ids = (res.serviceIds ?? []) as string[];
      const names = new Map(ids.length > 0 ? (await listServices(control)).map((s) => [s.id, s.spec.name]) : []);
      ctx.io.out(`${next.id}\n`);
      for (const id of ids) ctx.io.out(`${names.get(id) ?? id}\n`);
      return ctx.flags.bool('detach') ? 0 : followUpdates(ctx, ids, names, next.version);
    },
  };
}

/** Each service's update to its end, one after the other (a failed one is reported and the others followed). */
async function followUpdates(ctx: CommandContext, ids: readonly string[], names: ReadonlyMap<string, string>, since: number): Promise<number> {
  const quiet = ctx.flags.bool('quiet');
  let code = 0;
  for (const id of ids) {
    if (!quiet) ctx.io.out(`${names.get(id) ?? id}:\n`);
    try {
      // The rotation's write is the service's new spec version: an update of it started at `since` or later.
      await waitUpdated(ctx.control(), ctx.io, id, { op: 'update', since, quiet });
    } catch (err) {
      code = ctx.report(err);
    }
  }
  return code;
}

// ------------------------------------------------------------ the group

export function fileObjectGroup(def: FileObjectKindDef): CommandGroup {
  return {
    name: def.kind,
    summary: def.summary,
    commands: [createCommand(def), inspectCommand(def), lsCommand(def), rmCommand(def), rotateCommand(def)],
  };
}

/** `flotilla KIND create ARGV...` up to what it would send but the data (tests, fuzzing): the name, labels and FILE; failures are UsageErrors. */
export function parseFileObjectCreate(def: FileObjectKindDef, argv: readonly string[], env: Env = {}): { name: string; labels: Record<string, string>; file: string } {
  const command = `flotilla ${def.kind} create`;
  const { flags, positionals } = parseCommandLine(createCommand(def), command, argv);
  if (flags.bool('help')) throw new UsageError(`--help: \`${command}\` prints its help and does nothing else`);
  connectionOptions(env, flags);
  return { ...fileObjectSpecFromFlags(def, positionals[0], flags), file: positionals[1] };
}

/** `flotilla KIND ls ARGV...`: the filters it would send. */
export function parseFileObjectLs(def: FileObjectKindDef, argv: readonly string[], env: Env = {}): ReturnType<typeof listFilters> {
  const { flags } = parseCommandLine(lsCommand(def), `flotilla ${def.kind} ls`, argv);
  connectionOptions(env, flags);
  outputFormat(flags);
  return listFilters(flags.list('filter'));
}
