// `flotilla network create | ls | inspect | rm`, like `docker network` on a
// swarm: every network is a cluster network (driver overlay, scope swarm)
// that services attach to (`service create --network NAME`).
import * as grpc from './grpc-codes.js';
import { networkFromProto } from '../api/convert.js';
import type { Network, NetworkSpec } from '../api/objects.js';
import { validateNetworkSpec } from '../api/validate.js';
import { ValidationError } from '../api/input.js';
import { filterGroups, invalidValue, labelMatches, parseKeyValue, quoteArg, UsageError, type FlagSpec, type Flags } from './args.js';
import { connectionOptions, forEachArg, parseCommandLine, type CommandDef, type CommandGroup } from './command.js';
import type { Env } from './connection.js';
import { CliError, RpcError, validationDetail } from './errors.js';
import {
  checkInspectFormat,
  FORMAT_FLAG,
  formatInspect,
  formatRows,
  goJsonTime,
  goTimeString,
  INSPECT_FORMAT_FLAG,
  naturalCompare,
  NO_TRUNC_FLAG,
  outputFormat,
  QUIET_FLAG,
  renderTable,
  shortId,
} from './format.js';
import { findNetwork, listNetworks, noSuchNetwork, NoSuchNetworkError } from './lookup.js';

/** The only driver: a cluster network (Swarm's name for it). */
export const NETWORK_DRIVER = 'overlay';
/** docker's SCOPE of a cluster network. */
export const NETWORK_SCOPE = 'swarm';

// ------------------------------------------------------------ create

const CREATE_FLAGS: readonly FlagSpec[] = [
  { name: 'driver', short: 'd', kind: 'string', metavar: 'DRIVER', help: `driver of the network: ${NETWORK_DRIVER} (the default and the only one: a network of the whole cluster)` },
  { name: 'label', short: 'l', kind: 'list', metavar: 'KEY=VALUE', help: 'set a label on the network' },
];

/** The spec `network create` sends for these flags and NAME; a UsageError naming the flag or the argument otherwise. */
export function networkSpecFromFlags(name: string, flags: Flags): NetworkSpec {
  const driver = flags.str('driver');
  if (driver !== undefined && driver !== NETWORK_DRIVER) {
    throw invalidValue('--driver', driver, `flotilla networks span the cluster, and their driver is "${NETWORK_DRIVER}" (the default): leave --driver out`);
  }
  const labels: Record<string, string> = {};
  for (const l of flags.list('label')) {
    const [k, v] = parseKeyValue(l, '--label', '');
    Object.defineProperty(labels, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  try {
    return validateNetworkSpec({ name, labels, driver: NETWORK_DRIVER }, 'spec');
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const detail = validationDetail(err.message, err.field, err.rule);
    if (err.field === 'spec.name') throw new UsageError(`invalid network name ${quoteArg(name)}: ${detail}`);
    if (err.field.startsWith('spec.labels')) throw new UsageError(`invalid --label: ${detail}`);
    throw new UsageError(`invalid network: ${err.message}`);
  }
}

const create: CommandDef = {
  name: 'create',
  usage: 'flotilla network create [OPTIONS] NETWORK',
  summary: 'Create a network that services attach to (service create --network NETWORK); prints its id.',
  flags: CREATE_FLAGS,
  args: { min: 1, max: 1 },
  details: 'Services on a shared network reach each other by service name (a virtual IP on every node)\nand reach the tasks of a service by tasks.NAME.',
  async run(ctx) {
    const spec = networkSpecFromFlags(ctx.args[0], ctx.flags);
    let network: Network;
    try {
      const res = await ctx.control().call('CreateNetwork', { spec: { name: spec.name, labels: { ...spec.labels }, driver: spec.driver } });
      if (!res.network) throw new CliError('the manager created the network but did not return it: see `flotilla network ls`');
      network = networkFromProto(res.network);
    } catch (err) {
      if (err instanceof RpcError && err.code === grpc.status.ALREADY_EXISTS) {
        throw new CliError(`a network named ${quoteArg(spec.name)} already exists: pick another name (see: flotilla network ls)`);
      }
      throw err;
    }
    ctx.io.out(`${network.id}\n`);
    return 0;
  },
};

// ------------------------------------------------------------ ls

const FILTER_KEYS = ['driver', 'id', 'label', 'name', 'scope', 'type'];

const NETWORK_FILTER: FlagSpec = {
  name: 'filter',
  short: 'f',
  kind: 'list',
  metavar: 'KEY=VALUE',
  help: 'filter: id= and name= (all or part of it), label=KEY[=VALUE], driver=overlay, scope=swarm, type=custom',
};

/**
 * `network ls --filter`, as docker's: id and name match all or part of the
 * id or name, label a key (and value); driver, scope and type name what
 * every flotilla network is (overlay, swarm, custom) or match nothing.
 * Values of one key are OR'ed, different keys AND'ed.
 */
export function networkFilter(specs: readonly string[]): (n: Network) => boolean {
  const byKey = filterGroups(specs, FILTER_KEYS);
  for (const v of byKey.get('type') ?? []) if (v !== 'custom' && v !== 'builtin') throw new UsageError(`invalid --filter type ${quoteArg(v)}: type is custom or builtin`);
  for (const v of byKey.get('scope') ?? []) if (!['swarm', 'global', 'local'].includes(v)) throw new UsageError(`invalid --filter scope ${quoteArg(v)}: scope is swarm, global or local`);
  const test = (key: string, v: string, n: Network): boolean => {
    switch (key) {
      case 'id':
        return n.id.includes(v);
      case 'name':
        return n.spec.name.includes(v);
      case 'driver':
        return n.spec.driver === v;
      case 'scope':
        return v === NETWORK_SCOPE;
      case 'type':
        return v === 'custom';
      default:
        return labelMatches(n.spec.labels, v);
    }
  };
  return (n) => [...byKey].every(([key, values]) => values.some((v) => test(key, v, n)));
}

/** docker's `network ls` table: NETWORK ID (12 characters unless --no-trunc), NAME, DRIVER, SCOPE. */
export function networkTable(networks: readonly Network[], noTrunc = false): string {
  return renderTable(
    ['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'],
    networks.map((n) => [shortId(n.id, noTrunc), n.spec.name, n.spec.driver, NETWORK_SCOPE]),
  );
}

/**
 * One row of `network ls`: docker's fields, every value a string, keys in
 * docker's (sorted) order; IPv4 as docker 28 prints it for a network with
 * IPv4 (every flotilla network).
 */
export function networkLsJson(n: Network, noTrunc = false): Record<string, string> {
  return {
    CreatedAt: goTimeString(n.createdAt),
    Driver: n.spec.driver,
    ID: shortId(n.id, noTrunc),
    IPv4: 'true',
    IPv6: 'false',
    Internal: 'false',
    Labels: Object.entries(n.spec.labels)
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join(','),
    Name: n.spec.name,
    Scope: NETWORK_SCOPE,
  };
}

const NETWORK_HEADERS = { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', IPv4: 'IPV4', IPv6: 'IPV6', Internal: 'INTERNAL', Labels: 'LABELS', CreatedAt: 'CREATED' };

function byName(a: Network, b: Network): number {
  return naturalCompare(a.spec.name, b.spec.name) || naturalCompare(a.id, b.id);
}

const ls: CommandDef = {
  name: 'ls',
  aliases: ['list'],
  usage: 'flotilla network ls [OPTIONS]',
  summary: 'List networks.',
  flags: [NETWORK_FILTER, FORMAT_FLAG, { ...QUIET_FLAG, help: 'only print network ids' }, { ...NO_TRUNC_FLAG, help: 'do not truncate the output' }],
  args: { min: 0, max: 0 },
  async run(ctx) {
    const filter = networkFilter(ctx.flags.list('filter'));
    const format = outputFormat(ctx.flags);
    const noTrunc = ctx.flags.bool('no-trunc');
    const networks = (await listNetworks(ctx.control())).filter(filter).sort(byName);
    // As docker: -q prints the ids as the table does (12 characters unless --no-trunc).
    if (ctx.flags.bool('quiet')) ctx.io.out(networks.map((n) => `${shortId(n.id, noTrunc)}\n`).join(''));
    else {
      const rows = networks.map((n) => networkLsJson(n, noTrunc));
      ctx.io.out(formatRows(format, rows, { headers: NETWORK_HEADERS, typeName: 'network', table: () => networkTable(networks, noTrunc) }));
    }
    return 0;
  },
};

// ------------------------------------------------------------ inspect

/** `network inspect`'s object: docker's fields for a swarm network. */
export function networkInspectJson(n: Network): Record<string, unknown> {
  return {
    Name: n.spec.name,
    Id: n.id,
    Created: goJsonTime(n.createdAt),
    Scope: NETWORK_SCOPE,
    Driver: n.spec.driver,
    EnableIPv6: false,
    Internal: false,
    Attachable: false,
    Ingress: false,
    Labels: { ...n.spec.labels },
  };
}

const inspect: CommandDef = {
  name: 'inspect',
  usage: 'flotilla network inspect NETWORK [NETWORK...]',
  summary: 'Show the details of networks (by name, id or id prefix), as a JSON array.',
  flags: [INSPECT_FORMAT_FLAG],
  args: { min: 1 },
  async run(ctx) {
    checkInspectFormat(ctx.flags);
    const control = ctx.control();
    const { done: found, code } = await forEachArg(ctx, (ref) => findNetwork(control, ref));
    ctx.io.out(formatInspect(ctx.flags, found.map(networkInspectJson)));
    return code;
  },
};

// ------------------------------------------------------------ rm

const rm: CommandDef = {
  name: 'rm',
  aliases: ['remove'],
  usage: 'flotilla network rm [OPTIONS] NETWORK [NETWORK...]',
  summary: 'Remove networks (no service may use them); prints each one removed.',
  flags: [{ name: 'force', short: 'f', kind: 'bool', help: 'do not fail for a network that does not exist' }],
  args: { min: 1 },
  async run(ctx) {
    const control = ctx.control();
    const force = ctx.flags.bool('force');
    let code = 0;
    for (const ref of ctx.args) {
      try {
        const network = await findNetwork(control, ref);
        try {
          await control.call('RemoveNetwork', { networkId: network.id });
        } catch (err) {
          // Removed meanwhile (by another operator): what was asked is done.
          if (err instanceof RpcError && err.code === grpc.status.NOT_FOUND) throw noSuchNetwork(ref);
          throw err;
        }
        ctx.io.out(`${ref}\n`);
      } catch (err) {
        if (force && err instanceof NoSuchNetworkError) continue;
        code = ctx.report(err);
      }
    }
    return code;
  },
};

// ------------------------------------------------------------ pure entry points

/** `flotilla network create ARGV...` up to the spec it would send, without a connection (tests, fuzzing); failures are UsageErrors. */
export function parseNetworkCreate(argv: readonly string[], env: Env = {}): NetworkSpec {
  const { flags, positionals } = parseCommandLine(create, 'flotilla network create', argv);
  if (flags.bool('help')) throw new UsageError('--help: `flotilla network create` prints its help and does nothing else');
  connectionOptions(env, flags);
  return networkSpecFromFlags(positionals[0], flags);
}

export const NETWORK_GROUP: CommandGroup = {
  name: 'network',
  summary: 'Manage networks.',
  commands: [create, inspect, ls, rm],
};
