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
import type { LogBroker } from '../logbroker/broker.js';

export interface DispatcherServiceOptions {
  /** The running dispatcher (on the leader), or null. */
  current: () => Dispatcher | null;
  /** The leader as this manager knows it. */
  leader: () => { id: string; address: string };
  toStatus: (err: unknown) => Partial<grpc.StatusObject>;
  /** The running log broker (on the leader), or null: where PublishLogs streams go. */
  logs?: () => LogBroker | null;
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
    PublishLogs: (call: grpc.ServerReadableStream<dispatcher.PublishLogsMessage__Output, dispatcher.PublishLogsResponse>, cb: grpc.sendUnaryData<dispatcher.PublishLogsResponse>) => {
      // One stream per subscription and node. Each message is checked: the caller's own session, a subscription
      // sent to the caller's node, lines of the tasks it was asked for (broker.publish); anything else ends it.
      const d = running();
      const broker = o.logs?.();
      if (!d || !broker?.isRunning) return cb(notLeader());
      let peer: NodeIdentity;
      try {
        peer = caller(call);
      } catch (err) {
        return cb(o.toStatus(err));
      }
      let answered = false;
      let subscriptionId = '';
      const answer = (err: Partial<grpc.StatusObject> | null): void => {
        if (answered) return;
        answered = true;
        if (err && subscriptionId) broker.publisherGone(peer.nodeId, subscriptionId, err.details ?? 'refused');
        if (err) cb(err);
        else cb(null, {});
      };
      call.on('data', (msg: dispatcher.PublishLogsMessage__Output) => {
        if (answered) return;
        try {
          const nodeId = d.sessionNode(peer, msg.sessionId);
          if (subscriptionId && msg.subscriptionId !== subscriptionId) throw new ApiError(grpc.status.INVALID_ARGUMENT, 'one PublishLogs stream carries one subscription');
          subscriptionId = msg.subscriptionId;
          const r = broker.publish(nodeId, msg);
          if (r === 'gone') answer(null);
          else if (r !== 'ok') answer({ code: grpc.status.PERMISSION_DENIED, details: `permission denied: ${r.refused}` });
          else if (msg.done) answer(null);
        } catch (err) {
          answer(o.toStatus(err));
        }
      });
      call.on('end', () => {
        if (subscriptionId && !answered) broker.publisherGone(peer.nodeId, subscriptionId, 'the node ended its stream');
        answer(null);
      });
      call.on('error', () => {
        if (subscriptionId && !answered) broker.publisherGone(peer.nodeId, subscriptionId, 'its stream broke');
        answered = true;
      });
      call.on('cancelled', () => {
        if (subscriptionId && !answered) broker.publisherGone(peer.nodeId, subscriptionId, 'its stream was cancelled');
        answered = true;
      });
    },
    UpdateTaskStatus: unaryCall((d, req: dispatcher.UpdateTaskStatusRequest__Output, call) => {
      return d.updateTaskStatus(caller(call), req.sessionId, req.updates).then(() => ({}));
    }),
  };
}
