// Manager-to-manager calls (proto/manager.proto), leader side:
// - Propose: a follower's forwarded store transaction (see leader-writer.ts);
// - JoinRaft: a manager that holds its certificate enters the Raft group as a
//   learner; the membership reconciler promotes it once it has caught up.
// The authorizer has already checked that the caller is a manager.
import * as grpc from '@grpc/grpc-js';
import { isHostPort } from '../common/address.js';
import type { Logger } from 'pino';
import type { manager } from '../api/wire.js';
import { ApiError } from './grpc-status.js';
import type { NodeIdentity } from './ca/ca.js';
import { peerIdentity } from './ca/tls.js';
import type { ReplicatedStore } from './replicated-store.js';


export class ManagerService {
  constructor(
    private readonly rs: ReplicatedStore,
    private readonly log?: Logger,
  ) {}

  async propose(tx: Uint8Array): Promise<manager.ProposeResponse__Output> {
    if (!(tx instanceof Uint8Array) || tx.length === 0) throw new ApiError(grpc.status.INVALID_ARGUMENT, 'tx is required: a store transaction to propose');
    // RaftNode.propose throws NotLeaderError on a follower: the forwarder retries at the leader.
    const result = await this.rs.raft.propose(tx, { timeoutMs: 10_000 });
    return { result: Buffer.from(JSON.stringify(result)) };
  }

  async joinRaft(address: string, peer: NodeIdentity | null): Promise<manager.JoinRaftResponse__Output> {
    if (!peer) throw new ApiError(grpc.status.UNAUTHENTICATED, 'JoinRaft needs the manager certificate');
    if (!isHostPort(address)) throw new ApiError(grpc.status.INVALID_ARGUMENT, `invalid address ${JSON.stringify(address)}: expected HOST:PORT`);
    await this.rs.barrier();
    const node = this.rs.store.get('node', peer.nodeId);
    if (!node || node.role !== 'manager') {
      throw new ApiError(grpc.status.PERMISSION_DENIED, `node ${peer.nodeId} is not a manager of this cluster`);
    }
    const st = this.rs.status();
    if (!st.conf.voters.includes(peer.nodeId) && !st.conf.learners.includes(peer.nodeId)) {
      this.log?.info({ node: peer.nodeId, address }, 'adding a manager to Raft as a learner');
      await this.rs.raft.addLearner(peer.nodeId, address, { timeoutMs: 10_000 });
    }
    const after = this.rs.status();
    const members = [...after.conf.voters, ...after.conf.learners].map((id) => ({ id, address: after.addresses[id] ?? '' }));
    return { members };
  }
}

export function managerServiceImplementation(svc: ManagerService, toStatus: (err: unknown) => Partial<grpc.StatusObject>): grpc.UntypedServiceImplementation {
  return {
    Propose: (call: grpc.ServerUnaryCall<{ tx: Uint8Array }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      svc.propose(call.request.tx).then(
        (r) => cb(null, r),
        (err: unknown) => cb(toStatus(err)),
      );
    },
    JoinRaft: (call: grpc.ServerUnaryCall<{ address: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      svc.joinRaft(call.request.address, peerIdentity(call)).then(
        (r) => cb(null, r),
        (err: unknown) => cb(toStatus(err)),
      );
    },
  };
}
