// `flotilla join-token worker|manager` and `flotilla cluster info`.
import { clusterSpecFromProto, nodeRoleToProto, reachabilityToProto } from '../manager/api/convert.js';
import type { ClusterSpec, NodeRole, Reachability } from '../manager/store/types.js';
import { parseChoice } from './args.js';
import type { CommandDef, CommandGroup } from './command.js';
import type { Control, ProtoClusterInfo, ProtoJoinTokens } from './connection.js';
import { CliError, RpcError } from './errors.js';
import { FORMAT_FLAG, keyValues, outputFormat, QUIET_FLAG, renderTable, titleCase } from './format.js';
import { listNodes } from './lookup.js';

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
export function joinAddress(info: ProtoClusterInfo): string | undefined {
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

function tokenOf(tokens: ProtoJoinTokens | null, role: NodeRole): string {
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

export function clusterInfoText(view: ClusterInfoView): string {
  const leader = view.leaderId ? `${view.leaderId}${view.leaderAddr ? ` (${view.leaderAddr})` : ''}` : 'none (no leader elected)';
  const reachable = view.managers.filter((m) => m.reachability === 'reachable').length;
  const head = keyValues([
    ['Cluster ID', view.cluster.id],
    ['Name', view.cluster.spec.name],
    ['Leader', leader],
    ['Raft term', String(view.term)],
    ['Managers', `${view.managers.length} (${reachable} reachable)`],
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
        spec: clusterSpecFromProto(c.spec),
        rootCA: { certPem: c.rootCa?.certPem ?? '', digest: c.rootCa?.digest ?? '' },
      },
      leaderId: infoRes.leaderId,
      leaderAddr: infoRes.leaderAddr,
      term: infoRes.term,
      managers: infoRes.managers
        .map((m) => ({ nodeId: m.nodeId, raftId: m.raftId, addr: m.addr, leader: m.leader, reachability: reachability(m.reachability) }))
        .sort((a, b) => Number(b.leader) - Number(a.leader) || a.addr.localeCompare(b.addr)),
    };
    ctx.io.out(format === 'json' ? JSON.stringify(view, null, 4) + '\n' : clusterInfoText(view));
    return 0;
  },
};

export const CLUSTER_GROUP: CommandGroup = {
  name: 'cluster',
  summary: 'Inspect the cluster.',
  commands: [info],
};
