// The Dispatcher gRPC service on every manager: the leader's Dispatcher
// answers; a follower (or a leader whose dispatcher is not started yet)
// answers UNAVAILABLE with the leader's address, where the agent goes next.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { dispatcher } from '../../api/wire.js';
import { NOT_LEADER_HEADER } from '../../api/proto.js';
import { ApiError } from '../grpc-status.js';
import type { NodeIdentity } from '../ca/ca.js';
import { peerIdentity } from '../ca/tls.js';
import type { Dispatcher } from './dispatcher.js';

export interface DispatcherServiceOptions {
  /** The running dispatcher (on the leader), or null. */
  current: () => Dispatcher | null;
  /** The leader as this manager knows it. */
  leader: () => { id: string; address: string };
  toStatus: (err: unknown) => Partial<grpc.StatusObject>;
  /** Why this node may not talk to the dispatcher (removed, another cluster), or null. */
  refuse: (peer: NodeIdentity | null) => string | null;
  log?: Logger;
}

export function dispatcherImplementation(o: DispatcherServiceOptions): grpc.UntypedServiceImplementation {
  const notLeader = (): Partial<grpc.StatusObject> => {
    const md = new grpc.Metadata();
    // Says that a manager answered (an agent tells it from a connection that failed), even with no leader to name.
    md.set(NOT_LEADER_HEADER, '1');
    const l = o.leader();
    if (l.id) md.set('leader-id', l.id);
    if (l.address) md.set('leader-address', l.address);
    return { code: grpc.status.UNAVAILABLE, details: l.address ? `not the leader: the leader is at ${l.address}` : 'no leader right now: retry', metadata: md };
  };
  /** The caller, checked: every handler needs it, so the check happens here rather than in the authorizer. */
  const caller = (call: Parameters<typeof peerIdentity>[0]): NodeIdentity => {
    const peer = peerIdentity(call);
    const refusal = o.refuse(peer);
    if (refusal || !peer) throw new ApiError(grpc.status.PERMISSION_DENIED, `permission denied: ${refusal ?? 'no certificate'}`);
    return peer;
  };
  const running = (): Dispatcher | null => {
    const d = o.current();
    return d && d.isRunning ? d : null;
  };
  const unaryCall =
    <Req, Res>(fn: (d: Dispatcher, req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>) =>
    (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>): void => {
      const d = running();
      if (!d) {
        cb(notLeader());
        return;
      }
      Promise.resolve()
        .then(() => fn(d, call.request, call))
        .then(
          (res) => cb(null, res),
          (err: unknown) => cb(o.toStatus(err)),
        );
    };
  return {
    Session: (call: grpc.ServerWritableStream<dispatcher.SessionRequest__Output, dispatcher.SessionMessage__Output>) => {
      const fail = (status: Partial<grpc.StatusObject>): void => {
        call.emit('error', { code: status.code, details: status.details, metadata: status.metadata ?? new grpc.Metadata() });
      };
      const d = running();
      if (!d) return fail(notLeader());
      let peer: NodeIdentity;
      try {
        peer = caller(call);
      } catch (err) {
        return fail(o.toStatus(err));
      }
      if (call.request.description === null || call.request.description === undefined) {
        // Opening a session records the description: an absent one would erase the node's.
        return fail({ code: grpc.status.INVALID_ARGUMENT, details: "description is required: the agent sends its node's hostname, resources and platform" });
      }
      let closed = false;
      let sessionId = '';
      const sink = {
        send: (msg: dispatcher.SessionMessage__Output): void => {
          if (!closed) call.write(msg);
        },
        close: (code: grpc.status, details: string): void => {
          if (closed) return;
          closed = true;
          fail({ code, details });
        },
      };
      call.on('cancelled', () => {
        closed = true;
        if (sessionId) d.sessionClosed(sessionId);
      });
      try {
        sessionId = d.openSession(peer, call.request.description, sink, { incrementalAssignments: call.request.incrementalAssignments === true });
      } catch (err) {
        closed = true;
        fail(o.toStatus(err));
      }
    },
    Heartbeat: unaryCall((d, req: dispatcher.HeartbeatRequest__Output, call) => d.heartbeat(caller(call), req.sessionId)),
    UpdateTaskStatus: unaryCall((d, req: dispatcher.UpdateTaskStatusRequest__Output, call) => {
      return d.updateTaskStatus(caller(call), req.sessionId, req.updates).then(() => ({}));
    }),
  };
}
