// `flotilla node ls | inspect | ps | update | promote | demote | rm`, like `docker node`.
import * as grpc from './grpc-codes.js';
import { nodeFromProto } from '../api/convert.js';
import { nodeAvailabilityToProto, nodeRoleToProto } from '../api/enums.js';
import type { Node, NodeAvailability, NodeRole } from '../api/objects.js';
import { filterGroups, labelMatches, parseChoice, shownName, parseKeyValue, parseRemovalKey, quoteArg, UsageError, type FlagSpec, type Flags } from './args.js';
import { connectionOptions, parseCommandLine, type CommandDef, type CommandGroup } from './command.js';
import type { control } from '../api/wire.js';
import type { Control, Env } from './connection.js';
import { CliError, RpcError } from './errors.js';
import {
  bytesSize,
  checkInspectFormat,
  FORMAT_FLAG,
  formatInspect,
  formatRows,
  INSPECT_FORMAT_FLAG,
  keyValues,
  labelList,
  naturalCompare,
  NO_TRUNC_FLAG,
  outputFormat,
  QUIET_FLAG,
  renderTable,
  TASK_FILTER_FLAG,
  titleCase,
} from './format.js';
import { getNode, listNodes, listServices, listTasks, matchNode, retryOnConflict, selfNodeId } from './lookup.js';
import { nodeInspectJson } from './docker-shapes.js';

// ------------------------------------------------------------ ls

const FILTER_FLAG: FlagSpec = {
  name: 'filter',
  short: 'f',
  kind: 'list',
  metavar: 'KEY=VALUE',
  help: 'filter: id=, name=, role=manager|worker, membership=accepted|pending, node.label=KEY[=VALUE] (node labels), label=KEY[=VALUE] (engine labels), availability=active|pause|drain',
};

export type NodeFilter = (n: Node) => boolean;

/** docker's keys (id, label, membership, name, node.label, role; availability beyond docker); values of one key OR'ed, keys AND'ed. */
export function nodeFilter(specs: readonly string[]): NodeFilter {
  const byKey = filterGroups(
    specs.map((s) => (/^hostname=/i.test(s) ? `name=${s.slice('hostname='.length)}` : s)),
    ['id', 'label', 'membership', 'name', 'node.label', 'role', 'availability'],
  );
  // Any case, as docker's role filter (its daemon upper-cases it); no blanks.
  for (const v of byKey.get('role') ?? []) parseChoice(v, '--filter role', ['manager', 'worker'] as const, { ignoreCase: true });
  for (const v of byKey.get('availability') ?? []) parseChoice(v, '--filter availability', ['active', 'pause', 'drain'] as const, { ignoreCase: true });
  for (const v of byKey.get('membership') ?? []) parseChoice(v, '--filter membership', ['accepted', 'pending'] as const, { ignoreCase: true });
  const test = (key: string, v: string, n: Node): boolean => {
    switch (key) {
      case 'id':
        return n.id.startsWith(v);
      case 'name':
        return n.description.hostname.startsWith(v);
      case 'role':
        return n.role === v.toLowerCase();
      case 'availability':
        return n.availability === v.toLowerCase();
      case 'membership':
        // A node is in the store once it has joined: every node is accepted.
        return v.toLowerCase() === 'accepted';
      case 'node.label':
        return labelMatches(n.labels, v);
      default:
        return labelMatches(n.description.engineLabels ?? {}, v);
    }
  };
  return (n) => [...byKey].every(([key, values]) => values.some((v) => test(key, v, n)));
}

function managerStatus(n: Node): string {
  if (n.role !== 'manager') return '';
  const ms = n.managerStatus;
  if (!ms) return 'Unknown';
  if (ms.leader) return 'Leader';
  return titleCase(ms.reachability);
}

/**
 * One row of `node ls`: docker's fields in its JSON's order. TLSStatus is
 * "Ready": every node's certificate comes from the cluster's one root CA.
 */
export function nodeRow(n: Node, selfId: string): Record<string, string | boolean> {
  return {
    Availability: titleCase(n.availability),
    EngineVersion: n.description.engineVersion,
    Hostname: n.description.hostname,
    ID: n.id,
    ManagerStatus: managerStatus(n),
    Self: n.id === selfId,
    Status: titleCase(n.status.state),
    TLSStatus: 'Ready',
  };
}

const NODE_HEADERS = { ID: 'ID', Self: '', Hostname: 'HOSTNAME', Status: 'STATUS', Availability: 'AVAILABILITY', ManagerStatus: 'MANAGER STATUS', EngineVersion: 'ENGINE VERSION', TLSStatus: 'TLS STATUS' };

/** docker's `node ls` table: the node the CLI talks to marked '*' after its id. */
export function nodeTable(nodes: readonly Node[], selfId = ''): string {
  return renderTable(
    ['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS', 'ENGINE VERSION'],
    nodes.map((n) => [`${n.id} ${n.id === selfId ? '*' : ' '}`, n.description.hostname, titleCase(n.status.state), titleCase(n.availability), managerStatus(n), n.description.engineVersion]),
  );
}

function byHostname(a: Node, b: Node): number {
  return naturalCompare(a.description.hostname, b.description.hostname) || naturalCompare(a.id, b.id);
}

const ls: CommandDef = {
  name: 'ls',
  aliases: ['list'],
  usage: 'flotilla node ls [OPTIONS]',
  summary: 'List the nodes of the cluster (the one the CLI talks to marked *).',
  flags: [FILTER_FLAG, FORMAT_FLAG, QUIET_FLAG],
  args: { min: 0, max: 0 },
  async run(ctx) {
    const filter = nodeFilter(ctx.flags.list('filter'));
    const format = outputFormat(ctx.flags);
    const control = ctx.control();
    const quiet = ctx.flags.bool('quiet');
    const [all, selfId] = await Promise.all([listNodes(control), quiet ? '' : selfNodeId(control)]);
    const nodes = all.filter(filter).sort(byHostname);
    if (quiet) ctx.io.out(nodes.map((n) => `${n.id}\n`).join(''));
    else ctx.io.out(formatRows(format, nodes.map((n) => nodeRow(n, selfId)), { headers: NODE_HEADERS, typeName: 'node', table: () => nodeTable(nodes, selfId) }));
    return 0;
  },
};

/** The node `ref` names, 'self' being the node the CLI talks to (as docker's). */
async function resolveNode(control: Control, all: readonly Node[], ref: string): Promise<Node> {
  if (ref !== 'self') return matchNode(all, ref);
  const id = await selfNodeId(control);
  if (!id) throw new CliError('the manager did not say which node it is (an older version?): give the node id or hostname instead of self');
  return matchNode(all, id);
}

// ------------------------------------------------------------ ps

const ps: CommandDef = {
  name: 'ps',
  usage: 'flotilla node ps [OPTIONS] [NODE...]',
  summary: 'List the tasks on nodes (default: the node the CLI talks to, "self").',
  flags: [TASK_FILTER_FLAG, FORMAT_FLAG, QUIET_FLAG, NO_TRUNC_FLAG],
  args: { min: 0 },
  async run(ctx) {
    outputFormat(ctx.flags);
    const control = ctx.control();
    const nodes = await listNodes(control);
    const wanted: Node[] = [];
    let code = 0;
    for (const ref of ctx.args.length > 0 ? ctx.args : ['self']) {
      try {
        wanted.push(await resolveNode(control, nodes, ref));
      } catch (err) {
        code = ctx.report(err);
      }
    }
    if (wanted.length === 0) return code;
    const tasks = await listTasks(control, { nodeIds: wanted.map((n) => n.id) });
    const serviceIds = new Set(tasks.map((t) => t.serviceId));
    const services = new Map((await listServices(control)).filter((s) => serviceIds.has(s.id)).map((s) => [s.id, s]));
    // The task table of `service ps`, loaded here: `node ls` does without it.
    const { printTasks, taskFilter } = await import('./service-commands.js');
    const filter = taskFilter(ctx.flags.list('filter'), nodes, services);
    const ids = new Set(wanted.map((n) => n.id));
    printTasks(ctx, tasks.filter((t) => ids.has(t.nodeId)).filter(filter), services, nodes);
    return code;
  },
};

// ------------------------------------------------------------ inspect

export function prettyNode(n: Node): string {
  const rows: [string, string | null][] = [
    ['ID', n.id],
    ['Hostname', n.description.hostname],
    ['Joined at', n.createdAt ? new Date(n.createdAt).toISOString() : ''],
    ['Role', titleCase(n.role)],
  ];
  if (Object.keys(n.labels).length > 0) rows.push(['Labels', labelList(n.labels)]);
  rows.push(['Status', null], [' State', titleCase(n.status.state)]);
  if (n.status.message) rows.push([' Message', n.status.message]);
  rows.push([' Availability', titleCase(n.availability)], [' Address', n.status.address]);
  if (n.managerStatus) {
    rows.push(['Manager Status', null], [' Address', n.managerStatus.addr], [' Raft Status', titleCase(n.managerStatus.reachability)], [' Leader', n.managerStatus.leader ? 'Yes' : 'No']);
  }
  rows.push(
    ['Platform', null],
    [' Operating System', n.description.platform.os],
    [' Architecture', n.description.platform.arch],
    ['Resources', null],
    [' CPUs', String(n.description.cpus)],
    [' Memory', bytesSize(n.description.memoryBytes)],
    ['Engine Version', n.description.engineVersion],
  );
  if (n.description.engineLabels && Object.keys(n.description.engineLabels).length > 0) rows.push(['Engine Labels', labelList(n.description.engineLabels)]);
  return keyValues(rows);
}

const inspect: CommandDef = {
  name: 'inspect',
  usage: 'flotilla node inspect [OPTIONS] NODE [NODE...]',
  summary: 'Show the details of nodes (by id, id prefix or hostname; "self": the node the CLI talks to), as a JSON array in the shape of docker\'s.',
  flags: [INSPECT_FORMAT_FLAG, { name: 'pretty', kind: 'bool', help: 'print in a human friendly format' }],
  args: { min: 1 },
  async run(ctx) {
    checkInspectFormat(ctx.flags);
    const control = ctx.control();
    const all = await listNodes(control);
    const found: Node[] = [];
    let code = 0;
    for (const ref of ctx.args) {
      try {
        found.push(await resolveNode(control, all, ref));
      } catch (err) {
        code = ctx.report(err);
      }
    }
    if (ctx.flags.bool('pretty')) ctx.io.out(found.map(prettyNode).join('\n'));
    else ctx.io.out(formatInspect(ctx.flags, found.map(nodeInspectJson)));
    return code;
  },
};

// ------------------------------------------------------------ update, promote, demote

function emptyUpdate(node: Node): control.UpdateNodeRequest__Output {
  return { nodeId: node.id, version: node.version, hasAvailability: false, availability: 0, hasRole: false, role: 0, labelsAdd: {}, labelsRm: [], force: false };
}

/**
 * Send the request `change(node)` builds with the version read, re-reading
 * and retrying on a conflict; a change that returns null sends nothing.
 */
async function updateNode(control: Control, node: Node, change: (n: Node) => control.UpdateNodeRequest__Output | null): Promise<Node> {
  return retryOnConflict(
    node,
    () => getNode(control, node.id),
    async (n) => {
      const req = change(n);
      if (req === null) return n;
      const res = await control.call('UpdateNode', req);
      return res.node ? nodeFromProto(res.node) : n;
    },
    `node ${node.description.hostname || node.id}`,
  );
}

const AVAILABILITIES = ['active', 'pause', 'drain'] as const;
const ROLES = ['worker', 'manager'] as const;

/** What `node update` flags ask for. */
export interface NodeChange {
  availability?: NodeAvailability;
  role?: NodeRole;
  labelsAdd: Record<string, string>;
  labelsRm: string[];
}

/**
 * The change `node update` flags ask for. --availability and --role as
 * written, like every enum flag of the CLI (`--availability DRAIN` is refused
 * with a "did you mean" hint: issue 13 counts it as lenient, although
 * docker's daemon would upper-case it); labels with docker's rules; a label
 * both added and removed is refused; nothing at all is a usage error.
 */
export function nodeChangeFromFlags(f: Flags): NodeChange {
  const avail = f.str('availability');
  const r = f.str('role');
  const change: NodeChange = { labelsAdd: {}, labelsRm: [] };
  if (avail !== undefined) change.availability = parseChoice<NodeAvailability>(avail, '--availability', AVAILABILITIES);
  if (r !== undefined) change.role = parseChoice<NodeRole>(r, '--role', ROLES);
  for (const l of f.list('label-add')) {
    const [k, v] = parseKeyValue(l, '--label-add', '');
    Object.defineProperty(change.labelsAdd, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  change.labelsRm = [...new Set(f.list('label-rm').map((k) => parseRemovalKey(k, '--label-rm')))];
  const both = change.labelsRm.find((k) => Object.hasOwn(change.labelsAdd, k));
  if (both !== undefined) throw new UsageError(`--label-add and --label-rm both name the label ${quoteArg(both)}: give only one of them`);
  if (change.availability === undefined && change.role === undefined && Object.keys(change.labelsAdd).length === 0 && change.labelsRm.length === 0) {
    throw new UsageError('nothing to update: give --availability, --role, --label-add or --label-rm (see: flotilla node update --help)');
  }
  return change;
}

/**
 * The UpdateNode request for `change` on `node` as read, or null when it
 * would change nothing (then nothing is sent). Removing a label the node
 * does not have fails, as docker's `node update --label-rm` does.
 */
export function planNodeUpdate(node: Node, change: NodeChange, ref = node.description.hostname || node.id): control.UpdateNodeRequest__Output | null {
  const shown = shownName(ref);
  const missing = change.labelsRm.find((k) => !Object.hasOwn(node.labels, k));
  if (missing !== undefined) throw new CliError(`node ${shown} has no label ${quoteArg(missing)} to remove (see: flotilla node inspect ${shown})`);
  const changes =
    (change.availability !== undefined && change.availability !== node.availability) ||
    (change.role !== undefined && change.role !== node.role) ||
    change.labelsRm.length > 0 ||
    Object.entries(change.labelsAdd).some(([k, v]) => !Object.hasOwn(node.labels, k) || node.labels[k] !== v);
  if (!changes) return null;
  const req = emptyUpdate(node);
  if (change.availability !== undefined) Object.assign(req, { hasAvailability: true, availability: nodeAvailabilityToProto(change.availability) });
  if (change.role !== undefined) Object.assign(req, { hasRole: true, role: nodeRoleToProto(change.role) });
  req.labelsAdd = { ...change.labelsAdd };
  req.labelsRm = [...change.labelsRm];
  return req;
}

const update: CommandDef = {
  name: 'update',
  usage: 'flotilla node update [OPTIONS] NODE',
  summary: 'Update a node: its availability, role or labels.',
  flags: [
    { name: 'availability', kind: 'string', metavar: 'AVAIL', help: 'availability of the node: active, pause or drain' },
    { name: 'role', kind: 'string', metavar: 'ROLE', help: 'role of the node: worker or manager' },
    { name: 'label-add', kind: 'list', metavar: 'KEY=VALUE', help: 'add or update a node label' },
    { name: 'label-rm', kind: 'list', metavar: 'KEY', help: 'remove a node label (it must exist)' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx) {
    const change = nodeChangeFromFlags(ctx.flags);
    const control = ctx.control();
    const node = matchNode(await listNodes(control), ctx.args[0]);
    // A change the node already has sends nothing and succeeds, printing the node as docker does.
    await updateNode(control, node, (n) => planNodeUpdate(n, change, ctx.args[0]));
    ctx.io.out(`${ctx.args[0]}\n`);
    return 0;
  },
};

function roleChange(name: 'promote' | 'demote'): CommandDef {
  const to: NodeRole = name === 'promote' ? 'manager' : 'worker';
  return {
    name,
    usage: `flotilla node ${name} ${name === 'demote' ? '[--force] ' : ''}NODE [NODE...]`,
    summary: name === 'promote' ? 'Promote nodes to managers.' : 'Demote managers to workers.',
    flags: name === 'demote' ? [{ name: 'force', short: 'f', kind: 'bool', help: 'demote even if the managers left could not form a quorum' }] : [],
    args: { min: 1 },
    async run(ctx) {
      const control = ctx.control();
      const all = await listNodes(control);
      let code = 0;
      for (const ref of ctx.args) {
        try {
          const node = matchNode(all, ref);
          if (node.role === to) {
            ctx.io.out(to === 'manager' ? `Node ${ref} is already a manager.\n` : `Node ${ref} is already a worker.\n`);
            continue;
          }
          const force = name === 'demote' && ctx.flags.bool('force');
          await updateNode(control, node, (n) => ({ ...emptyUpdate(n), hasRole: true, role: nodeRoleToProto(to), force }));
          ctx.io.out(to === 'manager' ? `Node ${ref} promoted to a manager in the cluster.\n` : `Manager ${ref} demoted in the cluster.\n`);
        } catch (err) {
          code = ctx.report(err);
        }
      }
      return code;
    },
  };
}

// ------------------------------------------------------------ rm

const rm: CommandDef = {
  name: 'rm',
  aliases: ['remove'],
  usage: 'flotilla node rm [OPTIONS] NODE [NODE...]',
  summary: 'Remove nodes from the cluster.',
  flags: [{ name: 'force', short: 'f', kind: 'bool', help: 'remove a node even if it is not down (and a manager even if that costs quorum)' }],
  args: { min: 1 },
  async run(ctx) {
    const control = ctx.control();
    const all = await listNodes(control);
    const force = ctx.flags.bool('force');
    let code = 0;
    for (const ref of ctx.args) {
      try {
        const node = matchNode(all, ref);
        try {
          await control.call('RemoveNode', { nodeId: node.id, force });
        } catch (err) {
          if (err instanceof RpcError && err.code === grpc.status.FAILED_PRECONDITION && !force && !err.details.includes('--force')) {
            throw new CliError(`cannot remove node ${shownName(ref)}: ${err.details}: use --force to remove it anyway`);
          }
          throw err;
        }
        ctx.io.out(`${ref}\n`);
      } catch (err) {
        code = ctx.report(err);
      }
    }
    return code;
  },
};

// ------------------------------------------------------------ pure entry points

/**
 * `flotilla node update ARGV...` up to the change it asks for, without a
 * connection (for tests and the fuzz suite); every failure is a UsageError.
 * planNodeUpdate then gives the request for a node as read.
 */
export function parseNodeUpdate(argv: readonly string[], env: Env = {}): { ref: string; change: NodeChange } {
  const { flags, positionals } = parseCommandLine(update, 'flotilla node update', argv);
  if (flags.bool('help')) throw new UsageError('--help: `flotilla node update` prints its help and does nothing else');
  connectionOptions(env, flags);
  return { ref: positionals[0], change: nodeChangeFromFlags(flags) };
}

export const NODE_GROUP: CommandGroup = {
  name: 'node',
  summary: 'Manage the nodes of the cluster.',
  commands: [ls, inspect, ps, update, roleChange('promote'), roleChange('demote'), rm],
};
