// The Control service as grpc-js handlers on any manager: the leader answers
// itself; a follower forwards the call to the leader over mTLS (marked as
// forwarded, so it is never forwarded twice) and relays the answer. During an
// election it waits for a leader, up to the call's deadline (at most
// MAX_WAIT_MS), then answers UNAVAILABLE with what to check.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { NotLeaderError } from '../../raft/errors.js';
import { ApiError, toGrpcStatus } from '../grpc-status.js';
import { CONTROL_LEADER_METHODS, type ControlLeaderMethod } from '../../api/proto.js';
import { isServiceError, notDelivered, unary, type PeerClients } from '../peer-clients.js';
import type { ReplicatedStore } from '../replicated-store.js';
import type { ControlService } from './service.js';

export const FORWARDED_HEADER = 'flotilla-forwarded-by';
const MAX_WAIT_MS = 15_000;
const RETRY_MS = 100;

export interface ControlProxyOptions {
  service: ControlService;
  rs: ReplicatedStore;
  peers: PeerClients;
  log?: Logger;
}

/** The grpc-js status for any error a handler throws (gRPC errors from the leader pass through). */
export function statusOf(err: unknown, rs: ReplicatedStore): Partial<grpc.StatusObject> {
  if (isServiceError(err)) return { code: err.code, details: err.details, metadata: err.metadata };
  return toGrpcStatus(err, { leaderAddress: (id) => rs.raft.addressOf(id) || undefined });
}

/** The unary methods; the streaming ones (CONTROL_STREAM_METHODS) are added by the manager, each served locally. */
export function controlImplementation(o: ControlProxyOptions): grpc.UntypedServiceImplementation {
  const impl: grpc.UntypedServiceImplementation = {};
  for (const method of CONTROL_LEADER_METHODS) {
    impl[method] = (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      serve(o, method, call).then(
        (res) => cb(null, res),
        (err: unknown) => {
          o.log?.debug({ method, err: String(err) }, 'control call failed');
          cb(statusOf(err, o.rs));
        },
      );
    };
  }
  return impl;
}

async function serve(o: ControlProxyOptions, method: ControlLeaderMethod, call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>): Promise<unknown> {
  const callDeadline = call.getDeadline();
  const deadlineMs = callDeadline instanceof Date ? callDeadline.getTime() : Number.isFinite(callDeadline) ? callDeadline : Infinity;
  const deadline = Math.min(deadlineMs, Date.now() + MAX_WAIT_MS);
  const forwarded = call.metadata.get(FORWARDED_HEADER).length > 0;
  for (;;) {
    if (o.rs.isLeader()) {
      const handler = o.service[method] as (req: Record<string, unknown>) => Promise<unknown>;
      return handler.call(o.service, call.request);
    }
    const leader = o.rs.leader();
    if (forwarded) {
      // Forwarded to a manager that is no longer the leader: let the forwarder retry.
      throw new NotLeaderError(leader.id, o.rs.status().term, leader.address);
    }
    if (leader.address) {
      const md = new grpc.Metadata();
      md.set(FORWARDED_HEADER, o.rs.status().id);
      try {
        return await unary(o.peers.controlClient(leader.address), method, call.request, { deadlineMs: Math.max(1, deadline - Date.now()), metadata: md });
      } catch (err) {
        if (!notDelivered(err)) throw err;
      }
    }
    if (Date.now() + RETRY_MS >= deadline) {
      throw new ApiError(
        grpc.status.UNAVAILABLE,
        'no leader elected right now (an election, or no majority of managers up): retry, and check the managers with `flotilla cluster info`',
      );
    }
    await new Promise((r) => setTimeout(r, RETRY_MS));
  }
}
