// The CA service every manager serves (proto/ca.proto): how a node gets, and
// renews, the certificate that is its identity in the cluster.
// - GetRootCA: open; the joining node checks the digest against its token.
// - IssueNodeCertificate with a join token: the token's secret decides the
//   role; the CA picks the node id, signs the CSR, and records the new Node in
//   the store (through the leader); with check_only, only the role is answered.
//   With the node's own certificate instead:
//   a renewal, with the role the store now gives the node (so a promotion or a
//   demotion takes effect at the next renewal).
// - NodeStatus: what the cluster says of the calling node (role, removed).
// Every read that decides (tokens, removed nodes, roles) follows a barrier, so
// a rotated token is refused by every manager as soon as the rotation commits.
import * as grpc from '@grpc/grpc-js';
import { isHostPort } from '../../common/address.js';
import type { Logger } from 'pino';
import { ApiError } from '../grpc-status.js';
import type { LeaderWriter } from '../leader-writer.js';
import type { ReplicatedStore } from '../replicated-store.js';
import { createAction } from '../store/store.js';
import type { Cluster, Node } from '../../api/objects.js';
import type { ca } from '../../api/wire.js';
import { CertificateError, generateId, signNodeCSR, type NodeIdentity, type NodeRole } from './ca.js';
import { peerIdentity } from './tls.js';
import { InvalidTokenError, matchJoinToken, parseJoinToken } from './token.js';

const GET_TOKEN_HINT = 'get the current one with `flotilla join-token worker` (or `manager`) on a manager';

export class CaService {
  constructor(
    private readonly rs: ReplicatedStore,
    private readonly writer: LeaderWriter,
    private readonly rootCaPem: () => string,
    private readonly log?: Logger,
  ) {}

  getRootCA(): ca.RootCA__Output {
    return { certPem: this.rootCaPem() };
  }

  async issue(req: ca.IssueRequest__Output, peer: NodeIdentity | null): Promise<ca.IssueResponse__Output> {
    if (peer && !req.token) return this.renew(req, peer);
    if (!req.token) throw new ApiError(grpc.status.INVALID_ARGUMENT, `a join token is required: ${GET_TOKEN_HINT}`);
    let caDigest: string;
    try {
      caDigest = parseJoinToken(req.token).caDigest;
    } catch (err) {
      throw err instanceof InvalidTokenError ? new ApiError(grpc.status.INVALID_ARGUMENT, err.message) : err;
    }
    const hostname = checkHostname(req.hostname);
    const advertiseAddr = req.advertiseAddr.trim();
    if (advertiseAddr && !isHostPort(advertiseAddr)) {
      throw new ApiError(grpc.status.INVALID_ARGUMENT, `invalid advertise address ${JSON.stringify(advertiseAddr)}: expected HOST:PORT`);
    }
    const cluster = await this.cluster();
    if (caDigest !== cluster.rootCA.digest) {
      throw new ApiError(grpc.status.PERMISSION_DENIED, `the join token is for another cluster (its CA digest does not match this cluster's): ${GET_TOKEN_HINT}`);
    }
    const role = matchJoinToken(req.token, { workerSecret: cluster.joinTokens.worker, managerSecret: cluster.joinTokens.manager });
    if (!role) throw new ApiError(grpc.status.PERMISSION_DENIED, `invalid join token (wrong, or rotated since it was issued): ${GET_TOKEN_HINT}`);
    if (role === 'manager' && !advertiseAddr) {
      throw new ApiError(grpc.status.INVALID_ARGUMENT, 'a manager must give the address other managers reach it at (--advertise-addr HOST:PORT)');
    }
    if (req.checkOnly) return { nodeId: '', role, certPem: '', rootCaPem: cluster.rootCA.certPem, managers: [] };
    const nodeId = generateId();
    const certPem = await this.sign(cluster, req.csrPem, nodeId, role);
    const now = Date.now();
    const node: Node = {
      id: nodeId,
      version: 0,
      createdAt: now,
      updatedAt: now,
      role,
      availability: 'active',
      labels: {},
      description: { hostname, cpus: 0, memoryBytes: 0, engineVersion: '', platform: { os: '', arch: '' } },
      // Ready once its agent opens a session with the dispatcher (as in SwarmKit):
      // until then nothing is scheduled on it.
      status: { state: 'unknown', message: 'joined: waiting for its agent to connect', address: advertiseAddr },
    };
    await this.writer.write([createAction('node', node)]);
    this.log?.info({ node: nodeId, role, hostname, advertiseAddr }, 'a node joined');
    return { nodeId, role, certPem, rootCaPem: cluster.rootCA.certPem, managers: this.managers() };
  }

  async nodeStatus(peer: NodeIdentity | null): Promise<ca.NodeStatusResponse__Output> {
    if (!peer) throw new ApiError(grpc.status.UNAUTHENTICATED, 'NodeStatus needs the node certificate');
    const cluster = await this.cluster();
    const node = this.rs.store.get('node', peer.nodeId);
    const removed = cluster.removedNodes.includes(peer.nodeId) || node === undefined;
    return { nodeId: peer.nodeId, role: node?.role ?? peer.role, removed, managers: this.managers() };
  }

  /** The voters and their addresses, for a node that needs to reach a manager. */
  managers(): ca.Peer__Output[] {
    const st = this.rs.raft.status();
    return st.conf.voters.map((id) => ({ id, address: st.addresses[id] ?? '' })).filter((p) => p.address !== '');
  }

  private async renew(req: ca.IssueRequest__Output, peer: NodeIdentity): Promise<ca.IssueResponse__Output> {
    const cluster = await this.cluster();
    if (peer.clusterId !== cluster.id) throw new ApiError(grpc.status.PERMISSION_DENIED, `the certificate is for cluster ${peer.clusterId}, not ${cluster.id}`);
    const node = this.rs.store.get('node', peer.nodeId);
    if (cluster.removedNodes.includes(peer.nodeId) || !node) {
      throw new ApiError(grpc.status.PERMISSION_DENIED, `node ${peer.nodeId} was removed from the cluster: it cannot renew its certificate (join again with a token)`);
    }
    const certPem = await this.sign(cluster, req.csrPem, peer.nodeId, node.role);
    this.log?.info({ node: peer.nodeId, role: node.role }, 'renewed a node certificate');
    return { nodeId: peer.nodeId, role: node.role, certPem, rootCaPem: cluster.rootCA.certPem, managers: this.managers() };
  }

  private async sign(cluster: Cluster, csrPem: string, nodeId: string, role: NodeRole): Promise<string> {
    try {
      return await signNodeCSR({ certPem: cluster.rootCA.certPem, keyPem: cluster.rootCA.keyPem }, csrPem, {
        nodeId,
        role,
        clusterId: cluster.id,
        validityHours: cluster.spec.caConfig.nodeCertExpiryHours,
      });
    } catch (err) {
      if (err instanceof CertificateError && err.code === 'INVALID_CSR') throw new ApiError(grpc.status.INVALID_ARGUMENT, err.message);
      throw err;
    }
  }

  /** The cluster object, as of now (linearizable). */
  private async cluster(): Promise<Cluster> {
    await this.rs.barrier();
    const c = this.rs.store.list('cluster')[0];
    if (!c) throw new ApiError(grpc.status.UNAVAILABLE, 'this manager has not caught up with the cluster yet; retry');
    return c;
  }
}

function checkHostname(h: string): string {
  const v = h.trim();
  if (v.length === 0 || v.length > 253 || /[\s\0]/.test(v)) throw new ApiError(grpc.status.INVALID_ARGUMENT, `invalid hostname ${JSON.stringify(h)}`);
  return v;
}

/** The grpc-js implementation of the CA service over `svc`. */
export function caServiceImplementation(svc: CaService, toStatus: (err: unknown) => Partial<grpc.StatusObject>): grpc.UntypedServiceImplementation {
  const handle =
    <Req, Res>(fn: (req: Req, peer: NodeIdentity | null) => Promise<Res> | Res) =>
    (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>): void => {
      Promise.resolve()
        .then(() => fn(call.request, peerIdentity(call)))
        .then(
          (res) => cb(null, res),
          (err: unknown) => cb(toStatus(err)),
        );
    };
  return {
    GetRootCA: handle(() => svc.getRootCA()),
    IssueNodeCertificate: handle((req: ca.IssueRequest__Output, peer) => svc.issue(req, peer)),
    NodeStatus: handle((_req: unknown, peer) => svc.nodeStatus(peer)),
  };
}
