// `flotilla service create | update | rollback | promote | scale`: the subcommands that change services, loaded
// when one runs (service-commands.ts lists them in its group by name and summary).
import * as grpc from './grpc-codes.js';
import { serviceFromProto, serviceSpecToProto } from '../api/convert.js';
import { MAX_REPLICAS } from '../api/validate.js';
import { integerProblem, quoteArg, shownName, UsageError, type Flags, type FlagSpec } from './args.js';
import { connectionOptions, parseCommandLine, type CommandContext, type CommandDef } from './command.js';
import type { Control, Env } from './connection.js';
import { CliError, RpcError } from './errors.js';
import { waitConverged, waitUpdated } from './converge.js';
import { findService, networkIds, retryOnConflict } from './lookup.js';
import type { Service, ServiceSpec } from '../api/objects.js';
import {
  buildCreateSpec,
  checkRollbackAlone,
  CREATE_FLAGS,
  defaultServiceName,
  hasUpdateChanges,
  networkUpdateRefs,
  planServiceUpdate,
  UPDATE_FLAGS,
} from './service-spec.js';
import { SERVICE_WRITE_SUMMARIES } from './service-commands.js';

function alreadyExists(name: string): CliError {
  return new CliError(`a service named "${name}" already exists: pick another --name or update it with \`flotilla service update\``);
}

// ------------------------------------------------------------ create

function createSpec(args: readonly string[], flags: Parameters<typeof buildCreateSpec>[2], env: Env, defaultName = defaultServiceName): ServiceSpec {
  return buildCreateSpec(args[0], args.slice(1), flags, env, defaultName);
}

const create: CommandDef = {
  name: 'create',
  usage: 'flotilla service create [OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: SERVICE_WRITE_SUMMARIES.create,
  flags: CREATE_FLAGS,
  args: { min: 1 },
  stopAtPositional: true,
  details: [
    "COMMAND and ARG replace the image's CMD; --entrypoint replaces its ENTRYPOINT.",
    'Durations: 500ms, 10s, 1m30s, 2h. Sizes: 512k, 64m, 1g.',
    'Ports: -p 8080:80 publishes 80 on 8080 of every node (the routing mesh); -p 80 lets the cluster pick',
    "the published port from its range (see it with `flotilla service ls`); mode=host binds it on the task's node.",
    "--endpoint-mode dnsrr: the service's name resolves to its tasks' addresses, with no virtual IP (host-mode ports only).",
    'Beyond Swarm: --lb-policy, --lb-weight, --proxy-protocol and --drain-period.',
  ].join('\n'),
  async run(ctx) {
    const spec = createSpec(ctx.args, ctx.flags, ctx.io.env);
    let service: Service;
    try {
      const res = await ctx.control().call('CreateService', { spec: serviceSpecToProto(spec) });
      if (!res.service) throw new CliError('the manager created the service but did not return it: see `flotilla service ls`');
      service = serviceFromProto(res.service);
    } catch (err) {
      if (err instanceof RpcError && err.code === grpc.status.ALREADY_EXISTS) throw alreadyExists(spec.name);
      throw err;
    }
    ctx.io.out(`${service.id}\n`);
    if (!ctx.flags.bool('detach')) await waitConverged(ctx.control(), ctx.io, service.id, { quiet: ctx.flags.bool('quiet') });
    return 0;
  },
};

// ------------------------------------------------------------ update, scale

/**
 * Send `change(service)` with the version read, re-reading and retrying on a
 * conflict. A change that returns null leaves the service as it is: nothing
 * is sent (the manager would write nothing either).
 */
async function updateService(control: Control, service: Service, change: (s: Service) => Service['spec'] | null): Promise<{ sent: number }> {
  return writeService(control, service, async (s) => {
    const spec = change(s);
    if (spec !== null) await control.call('UpdateService', { serviceId: s.id, version: s.version, spec: serviceSpecToProto(spec) });
    return { sent: s.version };
  });
}

/**
 * `write(s)` with the service as read; on a version conflict (the leader's
 * updater writes the update status during an update) read it again and redo.
 */
function writeService<R>(control: Control, service: Service, write: (s: Service) => Promise<R>): Promise<R> {
  return retryOnConflict(service, () => findService(control, service.id), write, `service ${service.spec.name}`);
}

/** docker's `service rollback`: spec and previous spec swap (UpdateService rollback, no spec), with the version read. */
async function rollbackService(control: Control, service: Service): Promise<{ sent: number }> {
  return writeService(control, service, async (s) => {
    await control.call('UpdateService', { serviceId: s.id, version: s.version, rollback: true });
    return { sent: s.version };
  });
}

/** `service rollback` and `service update --rollback`: print the name, then the rollback's progress unless -d. */
async function runRollback(control: Control, io: CommandContext['io'], ref: string, flags: Flags): Promise<number> {
  const service = await findService(control, ref);
  const { sent } = await rollbackService(control, service);
  io.out(`${ref}\n`);
  if (!flags.bool('detach')) await waitUpdated(control, io, service.id, { op: 'rollback', since: sent, quiet: flags.bool('quiet') });
  return 0;
}

function requireUpdateChanges(flags: Parameters<typeof hasUpdateChanges>[0]): void {
  if (!hasUpdateChanges(flags)) throw new UsageError('nothing to update: give at least one change (see: flotilla service update --help)');
}

const update: CommandDef = {
  name: 'update',
  usage: 'flotilla service update [OPTIONS] SERVICE',
  summary: SERVICE_WRITE_SUMMARIES.update,
  flags: UPDATE_FLAGS,
  args: { min: 1, max: 1 },
  async run(ctx) {
    if (ctx.flags.bool('rollback')) {
      checkRollbackAlone(ctx.flags);
      return runRollback(ctx.control(), ctx.io, ctx.args[0], ctx.flags);
    }
    requireUpdateChanges(ctx.flags);
    const control = ctx.control();
    const service = await findService(control, ctx.args[0]);
    // The spec holds network ids: the networks named are looked up, once every flag has been checked.
    const refs = [...Object.values(networkUpdateRefs(ctx.flags))].flat();
    if (refs.length > 0) planServiceUpdate(service.spec, ctx.flags, ctx.io.env);
    const ids = await networkIds(control, refs);
    // Flags that leave the spec as it is (e.g. --image of the image it runs)
    // send nothing and succeed, printing the service as docker does.
    const { sent } = await updateService(control, service, (s) => {
      const plan = planServiceUpdate(s.spec, ctx.flags, ctx.io.env, ids);
      return plan.changed ? plan.spec : null;
    });
    ctx.io.out(`${ctx.args[0]}\n`);
    if (!ctx.flags.bool('detach')) await waitUpdated(control, ctx.io, service.id, { op: 'update', since: sent, quiet: ctx.flags.bool('quiet') });
    return 0;
  },
};

const ROLLBACK_FLAGS: readonly FlagSpec[] = [
  { name: 'detach', short: 'd', kind: 'bool', help: 'exit immediately instead of waiting for the service to converge' },
  { name: 'quiet', short: 'q', kind: 'bool', help: 'suppress progress output' },
];

const rollback: CommandDef = {
  name: 'rollback',
  usage: 'flotilla service rollback [OPTIONS] SERVICE',
  summary: SERVICE_WRITE_SUMMARIES.rollback,
  flags: ROLLBACK_FLAGS,
  args: { min: 1, max: 1 },
  run: (ctx) => runRollback(ctx.control(), ctx.io, ctx.args[0], ctx.flags),
};

const promote: CommandDef = {
  name: 'promote',
  usage: 'flotilla service promote SERVICE',
  summary: SERVICE_WRITE_SUMMARIES.promote,
  flags: [],
  args: { min: 1, max: 1 },
  async run(ctx) {
    const control = ctx.control();
    const service = await findService(control, ctx.args[0]);
    await writeService(control, service, (s) => control.call('PromoteService', { serviceId: s.id, version: s.version }));
    ctx.io.out(`${ctx.args[0]}\n`);
    return 0;
  },
};

/**
 * `SERVICE=REPLICAS` arguments of `service scale`, split at the first '='
 * (as docker); REPLICAS a strict count in 0..MAX_REPLICAS.
 */
export function scaleTargets(args: readonly string[]): [string, number][] {
  return args.map((a): [string, number] => {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid argument ${quoteArg(a)}: expected SERVICE=REPLICAS`);
    const problem = integerProblem(a.slice(eq + 1), 0, MAX_REPLICAS);
    if (problem !== undefined) throw new UsageError(`invalid argument ${quoteArg(a)}: REPLICAS must be an integer${problem.range}${problem.hint}`);
    return [a.slice(0, eq), Number(a.slice(eq + 1))];
  });
}

const scale: CommandDef = {
  name: 'scale',
  usage: 'flotilla service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]',
  summary: SERVICE_WRITE_SUMMARIES.scale,
  flags: [{ name: 'detach', short: 'd', kind: 'bool', help: 'return at once instead of waiting for the services to converge' }],
  args: { min: 1 },
  async run(ctx) {
    // Check every argument before changing anything.
    const wanted = scaleTargets(ctx.args);
    const control = ctx.control();
    let code = 0;
    for (const [ref, replicas] of wanted) {
      try {
        const service = await findService(control, ref);
        if (!('replicated' in service.spec.mode)) throw new CliError(`service ${shownName(ref)} is global: scale applies to replicated services only`);
        await updateService(control, service, (s) => {
          if (!('replicated' in s.spec.mode)) throw new CliError(`service ${shownName(ref)} is global: scale applies to replicated services only`);
          // Already at that scale: nothing to send (docker says "scaled to" all the same).
          if (s.spec.mode.replicated.replicas === replicas) return null;
          return { ...s.spec, mode: { replicated: { replicas } } };
        });
        ctx.io.out(`${ref} scaled to ${replicas}\n`);
        if (!ctx.flags.bool('detach')) await waitConverged(control, ctx.io, service.id);
      } catch (err) {
        code = ctx.report(err);
      }
    }
    return code;
  },
};

// ------------------------------------------------------------ pure entry points
// What the commands do with their argv before any call, without a
// connection: for tests and the fuzz suite. Every failure is a UsageError.

/** The flags and positionals of `def` for a pure entry point; with --help the command only prints its help, so nothing to build. */
function commandLine(def: CommandDef, command: string, argv: readonly string[], env: Env): { flags: Flags; positionals: string[] } {
  const parsed = parseCommandLine(def, command, argv);
  if (parsed.flags.bool('help')) throw new UsageError(`--help: \`${command}\` prints its help and does nothing else`);
  connectionOptions(env, parsed.flags);
  return parsed;
}

/** `flotilla service create ARGV...` up to the spec it would send. */
export function parseServiceCreate(argv: readonly string[], env: Env = {}, defaultName: (image: string) => string = defaultServiceName): ServiceSpec {
  const { flags, positionals } = commandLine(create, 'flotilla service create', argv, env);
  return createSpec(positionals, flags, env, defaultName);
}

/**
 * `flotilla service update ARGV...` applied to `current` (the spec read from
 * the manager): the service reference, the new spec, and whether it differs
 * (when not, the command sends nothing). `networkIds`: the ids of the
 * networks --network-add/--network-rm name, as the command looks them up.
 */
export function parseServiceUpdate(
  argv: readonly string[],
  current: ServiceSpec,
  env: Env = {},
  networkIds?: ReadonlyMap<string, string>,
): { ref: string; spec: ServiceSpec; changed: boolean } {
  const { flags, positionals } = commandLine(update, 'flotilla service update', argv, env);
  requireUpdateChanges(flags);
  return { ref: positionals[0], ...planServiceUpdate(current, flags, env, networkIds) };
}

/** `flotilla service rollback ARGV...` (or `service update --rollback ARGV...`): the service it would roll back. */
export function parseServiceRollback(argv: readonly string[], env: Env = {}, viaUpdate = false): string {
  const { flags, positionals } = viaUpdate ? commandLine(update, 'flotilla service update', argv, env) : commandLine(rollback, 'flotilla service rollback', argv, env);
  if (viaUpdate) {
    if (!flags.bool('rollback')) throw new UsageError('--rollback is not given');
    checkRollbackAlone(flags);
  }
  return positionals[0];
}

/** `flotilla service promote ARGV...`: the service whose canaries it would promote. */
export function parseServicePromote(argv: readonly string[], env: Env = {}): string {
  return commandLine(promote, 'flotilla service promote', argv, env).positionals[0];
}

/** `flotilla service scale ARGV...`: the SERVICE=REPLICAS pairs it would apply. */
export function parseServiceScale(argv: readonly string[], env: Env = {}): [string, number][] {
  const { positionals } = commandLine(scale, 'flotilla service scale', argv, env);
  return scaleTargets(positionals);
}

/** The subcommands of this module, by name, for the group of service-commands.ts. */
export const SERVICE_WRITE_COMMANDS: Record<keyof typeof SERVICE_WRITE_SUMMARIES, CommandDef> = { create, update, rollback, promote, scale };
