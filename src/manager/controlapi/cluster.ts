// The Control API's cluster: its spec, the join tokens, and the managers as
// Raft sees them (ClusterInfo).
import * as grpc from '@grpc/grpc-js';
import { clusterSpecFromProto, clusterToProto, requireVersion } from '../../api/convert.js';
import { nodeRoleFromProto, reachabilityToProto } from '../../api/enums.js';
import type { control } from '../../api/wire.js';
import { ApiError } from '../grpc-status.js';
import { formatJoinToken, generateJoinSecret } from '../ca/token.js';
import { updateAction } from '../store/store.js';
import { jsonEqual } from '../../api/shared-specs.js';
import type { Cluster } from '../../api/objects.js';
import { checkClusterSpecChange } from '../../api/validate.js';
import { checkVersion, KindApi } from './common.js';

export class ClusterApi extends KindApi {
  async GetCluster(): Promise<control.GetClusterResponse__Output> {
    await this.rs.barrier();
    return { cluster: clusterToProto(this.cluster()) };
  }

  async UpdateCluster(req: control.UpdateClusterRequest__Output): Promise<control.UpdateClusterResponse__Output> {
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

  async GetJoinTokens(): Promise<control.GetJoinTokensResponse__Output> {
    await this.rs.barrier();
    return { joinTokens: joinTokens(this.cluster()) };
  }

  async RotateJoinToken(req: control.RotateJoinTokenRequest__Output): Promise<control.RotateJoinTokenResponse__Output> {
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

  async ClusterInfo(): Promise<control.ClusterInfoResponse__Output> {
    await this.rs.barrier();
    const st = this.rs.status();
    const managers = [...st.conf.voters, ...st.conf.learners].map((id) => {
      const ms = this.managerStatus(id);
      return { nodeId: id, raftId: id, addr: ms.addr, leader: ms.leader, reachability: reachabilityToProto(ms.reachability) };
    });
    return { leaderId: st.leader, leaderAddr: st.leader ? (st.addresses[st.leader] ?? '') : '', term: st.term, managers };
  }
}

function joinTokens(c: Cluster): control.JoinTokens__Output {
  return { worker: formatJoinToken(c.rootCA.digest, c.joinTokens.worker), manager: formatJoinToken(c.rootCA.digest, c.joinTokens.manager) };
}
