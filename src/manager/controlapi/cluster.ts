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
import { generateUnlockKey } from '../encryption/unlock-key.js';

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
    const next: Cluster = withUnlockKey({ ...cluster, spec, updatedAt: Date.now() });
    const [stored] = await this.writer.write([updateAction('cluster', next, version)]);
    if (autoLock(cluster) !== autoLock(next)) this.log?.info({ autolock: autoLock(next) }, 'autolock changed');
    return { cluster: clusterToProto(stored as Cluster) };
  }

  async GetUnlockKey(): Promise<control.GetUnlockKeyResponse__Output> {
    await this.rs.barrier();
    const c = this.cluster();
    if (!autoLock(c) || !c.unlockKey) throw notLocked();
    return { unlockKey: c.unlockKey };
  }

  /** A new key; every manager re-wraps its data key with it as it applies the change (src/manager/encryption/protection.ts). */
  async RotateUnlockKey(): Promise<control.RotateUnlockKeyResponse__Output> {
    await this.rs.barrier();
    const cluster = this.cluster();
    if (!autoLock(cluster)) throw notLocked();
    const next: Cluster = { ...cluster, unlockKey: generateUnlockKey(), updatedAt: Date.now() };
    const [stored] = await this.writer.write([updateAction('cluster', next, cluster.version)]);
    this.log?.info('unlock key rotated');
    return { unlockKey: (stored as Cluster).unlockKey ?? '' };
  }

  /** A manager that serves this is not locked (a locked one answers from src/daemon/locked.ts). */
  UnlockNode(): Promise<control.UnlockNodeResponse__Output> {
    return Promise.reject(new ApiError(grpc.status.FAILED_PRECONDITION, 'this node is not locked: `flotilla unlock` is for a manager that restarted with autolock on'));
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
    return { leaderId: st.leader, leaderAddr: st.leader ? (st.addresses[st.leader] ?? '') : '', term: st.term, managers, selfId: st.id, raftIndex: st.commit };
  }
}

function autoLock(c: Cluster): boolean {
  return c.spec.encryption?.autoLockManagers === true;
}

/** Autolock turned on gets a new unlock key; turned off drops it (the managers' data keys go back to their key files). */
function withUnlockKey(c: Cluster): Cluster {
  const { unlockKey, ...rest } = c;
  if (!autoLock(c)) return rest;
  return { ...rest, unlockKey: unlockKey || generateUnlockKey() };
}

function notLocked(): ApiError {
  return new ApiError(grpc.status.FAILED_PRECONDITION, 'autolock is off, so there is no unlock key: turn it on with `flotilla cluster update --autolock=true`');
}

function joinTokens(c: Cluster): control.JoinTokens__Output {
  return { worker: formatJoinToken(c.rootCA.digest, c.joinTokens.worker), manager: formatJoinToken(c.rootCA.digest, c.joinTokens.manager) };
}
