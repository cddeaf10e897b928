// `flotilla join-token worker|manager` and `flotilla cluster info`.
import { clusterSpecFromProto, clusterSpecToProto } from '../api/convert.js';
import { nodeRoleToProto, reachabilityToProto } from '../api/enums.js';
import type { ClusterSpec, NodeRole, Reachability } from '../api/objects.js';
import { checkClusterSetting, CLUSTER_SETTING_LIMITS, clusterSettingRange, durationText, type ClusterSetting } from '../api/validate.js';
import { ValidationError } from '../api/input.js';
import { parseChoice, parseDuration, parseInteger, UsageError } from './args.js';
import type { CommandDef, CommandGroup } from './command.js';
import type { control } from '../api/wire.js';
import type { Control } from './connection.js';
import { CliError, RpcError, validationToUsage } from './errors.js';
import { FORMAT_FLAG, keyValues, outputFormat, QUIET_FLAG, renderTable, titleCase } from './format.js';
import { listNodes, retryOnConflict } from './lookup.js';
import { unlockKeyInstructions } from './lock-commands.js';

const REACHABILITIES: readonly Reachability[] = ['unknown', 'unreachable', 'reachable'];

function reachability(n: number): Reachability {
  return REACHABILITIES.find((r) => reachabilityToProto(r) === n) ?? 'unknown';
}

/** What `cluster info --format json` prints. */
export interface ClusterInfoView {
  cluster: { id: string; version: number; createdAt: number; updatedAt: number; spec: ClusterSpec; rootCA: { certPem: string; digest: string } };
  leaderId: string;
  leaderAddr: string;
  term: number;
  managers: { nodeId: string; raftId: string; addr: string; leader: boolean; reachability: Reachability }[];
}

export const PLACEHOLDER_ADDR = '<MANAGER-ADDR>';

/** The address to join through: the leader's, else a reachable manager's, else any manager's. */
export function joinAddress(info: control.ClusterInfoResponse__Output): string | undefined {
  if (info.leaderAddr) return info.leaderAddr;
  const managers = info.managers.filter((m) => m.addr);
  return (managers.find((m) => reachability(m.reachability) === 'reachable') ?? managers[0])?.addr;
}

async function managerAddress(control: Control): Promise<string> {
  try {
    const addr = joinAddress(await control.call('ClusterInfo', {}));
    if (addr) return addr;
  } catch (err) {
    if (!(err instanceof RpcError)) throw err;
  }
  try {
    const managers = (await listNodes(control)).filter((n) => n.role === 'manager' && n.managerStatus?.addr);
    const m = managers.find((n) => n.managerStatus?.leader) ?? managers[0];
    if (m?.managerStatus) return m.managerStatus.addr;
  } catch (err) {
    if (!(err instanceof RpcError)) throw err;
  }
  return PLACEHOLDER_ADDR;
}

export function joinInstructions(role: NodeRole, token: string, addr: string): string {
  return `To add a ${role} to this cluster, run the following command:\n\n    flotilla join --token ${token} ${addr}\n`;
}

function tokenOf(tokens: control.JoinTokens__Output | null, role: NodeRole): string {
  const token = tokens?.[role];
  if (!token) throw new CliError(`the manager returned no ${role} join token`);
  return token;
}

export const JOIN_TOKEN: CommandDef = {
  name: 'join-token',
  usage: 'flotilla join-token [OPTIONS] (worker|manager)',
  summary: 'Print the command (and token) that adds a worker or a manager to the cluster.',
  flags: [{ name: 'rotate', kind: 'bool', help: 'rotate the join token (the old one stops working)' }, { ...QUIET_FLAG, help: 'only print the token' }],
  args: { min: 1, max: 1 },
  async run(ctx) {
    const role = parseChoice<NodeRole>(ctx.args[0], 'role', ['worker', 'manager']);
    const control = ctx.control();
    const quiet = ctx.flags.bool('quiet');
    let token: string;
    if (ctx.flags.bool('rotate')) {
      token = tokenOf((await control.call('RotateJoinToken', { role: nodeRoleToProto(role) })).joinTokens, role);
      if (!quiet) ctx.io.out(`Successfully rotated ${role} join token.\n\n`);
    } else {
      token = tokenOf((await control.call('GetJoinTokens', {})).joinTokens, role);
    }
    if (quiet) ctx.io.out(`${token}\n`);
    else ctx.io.out(joinInstructions(role, token, await managerAddress(control)));
    return 0;
  },
};

/** '1s, grace 3 (a node is down after 3s without one)'. */
function heartbeatText(d: ClusterSpec['dispatcher']): string {
  const ms = (n: number): string => (n % 1000 === 0 ? `${n / 1000}s` : `${n}ms`);
  return `${ms(d.heartbeatPeriodMs)}, grace ${d.heartbeatGrace} (a node is down after ${ms(d.heartbeatPeriodMs * d.heartbeatGrace)} without one)`;
}

/** 'VIP pool 10.240.0.0/16, a /24 per node; published ports 30000-32767' (set at init, fixed). */
function dataPlaneText(n: ClusterSpec['network']): string {
  return `VIP pool ${n.vipPool}, a /${n.vipPoolMaskLength} per node; published ports ${n.publishedPortRangeStart}-${n.publishedPortRangeEnd}`;
}

export function clusterInfoText(view: ClusterInfoView): string {
  const leader = view.leaderId ? `${view.leaderId}${view.leaderAddr ? ` (${view.leaderAddr})` : ''}` : 'none (no leader elected)';
  const reachable = view.managers.filter((m) => m.reachability === 'reachable').length;
  const head = keyValues([
    ['Cluster ID', view.cluster.id],
    ['Name', view.cluster.spec.name],
    ['Leader', leader],
    ['Raft term', String(view.term)],
    ['Managers', `${view.managers.length} (${reachable} reachable)`],
    ['Heartbeat', heartbeatText(view.cluster.spec.dispatcher)],
    ['Data plane', dataPlaneText(view.cluster.spec.network)],
    ['Autolock', view.cluster.spec.encryption?.autoLockManagers === true ? 'true' : 'false'],
    ['CA digest', view.cluster.rootCA.digest],
  ]);
  const table = renderTable(
    ['NODE ID', 'ADDRESS', 'LEADER', 'REACHABILITY'],
    view.managers.map((m) => [m.nodeId, m.addr, m.leader ? 'Yes' : '', titleCase(m.reachability)]),
  );
  return `${head}\n${table}`;
}

const info: CommandDef = {
  name: 'info',
  usage: 'flotilla cluster info [OPTIONS]',
  summary: 'Show the cluster: its id and name, the Raft leader and term, and the managers.',
  flags: [FORMAT_FLAG],
  args: { min: 0, max: 0 },
  async run(ctx) {
    const format = outputFormat(ctx.flags);
    const control = ctx.control();
    const [clusterRes, infoRes] = await Promise.all([control.call('GetCluster', {}), control.call('ClusterInfo', {})]);
    const c = clusterRes.cluster;
    if (!c) throw new CliError('the manager returned no cluster object: is the cluster initialized (flotilla init)?');
    const view: ClusterInfoView = {
      cluster: {
        id: c.meta?.id ?? '',
        version: c.meta?.version ?? 0,
        createdAt: c.meta?.createdAt ?? 0,
        updatedAt: c.meta?.updatedAt ?? 0,
        spec: clusterSpecFromProto(c.spec, 'spec', 'stored'),
        rootCA: { certPem: c.rootCa?.certPem ?? '', digest: c.rootCa?.digest ?? '' },
      },
      leaderId: infoRes.leaderId,
      leaderAddr: infoRes.leaderAddr,
      term: infoRes.term,
      managers: infoRes.managers
        .map((m) => ({ nodeId: m.nodeId, raftId: m.raftId, addr: m.addr, leader: m.leader, reachability: reachability(m.reachability) }))
        .sort((a, b) => Number(b.leader) - Number(a.leader) || a.addr.localeCompare(b.addr)),
    };
    if (format.kind === 'json') ctx.io.out(JSON.stringify(view, null, 4) + '\n');
    else if (format.kind === 'template') ctx.io.out(`${format.template.execute(view, { missing: 'key' })}\n`);
    else ctx.io.out(clusterInfoText(view));
    return 0;
  },
};

// ------------------------------------------------------------ update

/** '100ms..1h': a setting's range for the help. */
function range(key: ClusterSetting, show: (n: number) => string = String): string {
  const { min, max } = CLUSTER_SETTING_LIMITS[key];
  return `${show(min)}..${show(max)}`;
}

/** A cluster setting from a flag, in its range; a UsageError naming the flag in the manager's words otherwise. */
function setting(key: ClusterSetting, value: number): number {
  try {
    return checkClusterSetting(key, value);
  } catch (err) {
    if (err instanceof ValidationError) throw validationToUsage(err);
    throw err;
  }
}

/** docker swarm update's settings that flotilla has, and their bounds (CLUSTER_SETTING_LIMITS, enforced by the manager). */
const update: CommandDef = {
  name: 'update',
  usage: 'flotilla cluster update [OPTIONS]',
  summary: "Update the cluster's settings (like docker swarm update).",
  flags: [
    { name: 'dispatcher-heartbeat', kind: 'string', metavar: 'DURATION', help: `how often agents heartbeat (default 1s; ${range('heartbeatPeriodMs', durationText)})` },
    { name: 'heartbeat-grace', kind: 'string', metavar: 'N', help: `heartbeats a node may miss before it is marked down (default 3; ${range('heartbeatGrace')})` },
    { name: 'task-history-limit', kind: 'string', metavar: 'N', help: `ended tasks kept per slot (default 5; ${range('taskHistoryRetention')})` },
    { name: 'cert-expiry', kind: 'string', metavar: 'DURATION', help: `validity of node certificates issued from now on (default 2160h; ${range('nodeCertExpiryHours', (h) => `${h}h`)})` },
    { name: 'autolock', kind: 'bool', help: 'managers wait for `flotilla unlock` after a restart (--autolock=false: they do not)' },
  ],
  args: { min: 0, max: 0 },
  async run(ctx) {
    const f = ctx.flags;
    // The flags are parsed here; their ranges are the manager's own check (checkClusterSetting), so that
    // a value refused here and one refused by the manager read the same.
    const hb = f.str('dispatcher-heartbeat');
    const heartbeatPeriodMs = hb === undefined ? undefined : setting('heartbeatPeriodMs', parseDuration(hb, '--dispatcher-heartbeat'));
    const grace = f.str('heartbeat-grace');
    const heartbeatGrace = grace === undefined ? undefined : setting('heartbeatGrace', parseInteger(grace, '--heartbeat-grace', Number.MIN_SAFE_INTEGER));
    const limit = f.str('task-history-limit');
    const taskHistoryRetention = limit === undefined ? undefined : setting('taskHistoryRetention', parseInteger(limit, '--task-history-limit', Number.MIN_SAFE_INTEGER));
    const expiry = f.str('cert-expiry');
    const expiryMs = expiry === undefined ? undefined : parseDuration(expiry, '--cert-expiry');
    if (expiryMs !== undefined && expiryMs % 3_600_000 !== 0) {
      throw new UsageError(`invalid --cert-expiry: ${clusterSettingRange('nodeCertExpiryHours', durationText(expiryMs))}`);
    }
    const expiryHours = expiryMs === undefined ? undefined : setting('nodeCertExpiryHours', expiryMs / 3_600_000);
    const autoLockManagers = f.has('autolock') ? f.bool('autolock') : undefined;
    if ([heartbeatPeriodMs, heartbeatGrace, taskHistoryRetention, expiryHours, autoLockManagers].every((v) => v === undefined)) {
      throw new UsageError('nothing to update: give --dispatcher-heartbeat, --heartbeat-grace, --task-history-limit, --cert-expiry or --autolock (see: flotilla cluster update --help)');
    }
    const control = ctx.control();
    const read = async (): Promise<{ version: number; spec: ClusterSpec }> => {
      const c = (await control.call('GetCluster', {})).cluster;
      if (!c) throw new CliError('the manager returned no cluster object: is the cluster initialized (flotilla init)?');
      return { version: c.meta?.version ?? 0, spec: clusterSpecFromProto(c.spec, 'spec', 'stored') };
    };
    await retryOnConflict(
      await read(),
      read,
      ({ version, spec }) => {
        const next: ClusterSpec = {
          ...spec,
          dispatcher: { heartbeatPeriodMs: heartbeatPeriodMs ?? spec.dispatcher.heartbeatPeriodMs, heartbeatGrace: heartbeatGrace ?? spec.dispatcher.heartbeatGrace },
          orchestration: { taskHistoryRetention: taskHistoryRetention ?? spec.orchestration.taskHistoryRetention },
          caConfig: { nodeCertExpiryHours: expiryHours ?? spec.caConfig.nodeCertExpiryHours },
        };
        const locked = autoLockManagers ?? spec.encryption?.autoLockManagers === true;
        if (locked) next.encryption = { autoLockManagers: true };
        else delete next.encryption;
        return control.call('UpdateCluster', { version, spec: clusterSpecToProto(next) });
      },
      'the cluster object',
    );
    ctx.io.out('cluster updated\n');
    // As docker swarm update --autolock=true: the key is shown once, at the moment it is made.
    if (autoLockManagers === true) ctx.io.out(`\n${unlockKeyInstructions((await control.call('GetUnlockKey', {})).unlockKey)}`);
    return 0;
  },
};

export const CLUSTER_GROUP: CommandGroup = {
  name: 'cluster',
  summary: 'Inspect and update the cluster.',
  commands: [info, update],
};
