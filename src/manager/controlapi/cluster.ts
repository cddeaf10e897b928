// The Control API's cluster: its spec, the join tokens, and the managers as
// Raft sees them (ClusterInfo).
import * as grpc from '@grpc/grpc-js';
import { ApiError, clusterSpecFromProto, clusterToProto, nodeRoleFromProto, reachabilityToProto, requireVersion, type ProtoClusterSpec } from '../api/convert.js';
import { formatJoinToken, generateJoinSecret } from '../ca/token.js';
import { updateAction } from '../store/store.js';
import { jsonEqual } from '../store/shared-specs.js';
import type { Cluster } from '../store/types.js';
import { checkClusterSpecChange } from '../store/validate.js';
import { checkVersion, KindApi } from './common.js';

export class ClusterApi extends KindApi {
  async GetCluster(): Promise<unknown> {
    await this.rs.barrier();
    return { cluster: clusterToProto(this.cluster()) };
  }

  async UpdateCluster(req: { version: number; spec?: ProtoClusterSpec | null }): Promise<unknown> {
    const version = requireVersion(req.version, 'cluster', 'GetCluster');
    const spec = clusterSpecFromProto(req.spec);
    await this.rs.barrier();
    const cluster = this.cluster();
    checkVersion('cluster', cluster, version);
    checkClusterSpecChange(cluster.spec, spec);
    if (jsonEqual(spec, cluster.spec)) return { cluster: clusterToProto(cluster) };
    const next: Cluster = { ...cluster, spec, updatedAt: Date.now() };
    const [stored] = await this.writer.write([updateAction('cluster', next, version)]);
    return { cluster: clusterToProto(stored as Cluster) };
  }

  async GetJoinTokens(): Promise<unknown> {
    await this.rs.barrier();
    return { joinTokens: joinTokens(this.cluster()) };
  }

  async RotateJoinToken(req: { role?: number | null }): Promise<unknown> {
    // `optional` in the proto: absent must not mean NODE_ROLE_WORKER (0).
    if (req.role === undefined || req.role === null) throw new ApiError(grpc.status.INVALID_ARGUMENT, 'role is required: worker or manager');
    const role = nodeRoleFromProto(req.role);
    await this.rs.barrier();
    const cluster = this.cluster();
    const next: Cluster = { ...cluster, joinTokens: { ...cluster.joinTokens, [role]: generateJoinSecret() }, updatedAt: Date.now() };
    const [stored] = await this.writer.write([updateAction('cluster', next)]);
    this.log?.info({ role }, 'join token rotated');
    return { joinTokens: joinTokens(stored as Cluster) };
  }

  async ClusterInfo(): Promise<unknown> {
    await this.rs.barrier();
    const st = this.rs.status();
    const managers = [...st.conf.voters, ...st.conf.learners].map((id) => {
      const ms = this.managerStatus(id);
      return { nodeId: id, raftId: id, addr: ms.addr, leader: ms.leader, reachability: reachabilityToProto(ms.reachability) };
    });
    return { leaderId: st.leader, leaderAddr: st.leader ? (st.addresses[st.leader] ?? '') : '', term: st.term, managers };
  }
}

function joinTokens(c: Cluster): { worker: string; manager: string } {
  return { worker: formatJoinToken(c.rootCA.digest, c.joinTokens.worker), manager: formatJoinToken(c.rootCA.digest, c.joinTokens.manager) };
}
