// Where a manager gets the lines of a `service logs` call from: the leader
// reads them itself (its broker talks to the agents' sessions); a follower
// relays the leader's stream, and after the leader is lost, the next
// leader's. A call a follower forwarded is never forwarded again (the
// follower retries). Pure.
import * as grpc from '@grpc/grpc-js';

export type LogRoute = { kind: 'local' } | { kind: 'forward'; address: string } | { kind: 'wait' } | { kind: 'refuse' };

export interface RouteView {
  /** This manager is the leader and its broker runs. */
  leading: boolean;
  /** The leader's address as this manager knows it ('' during an election). */
  leaderAddress: string;
  /** This manager's own address (a stale view naming ourselves is no leader to forward to). */
  selfAddress: string;
  /** The call came from another manager. */
  forwarded: boolean;
}

export function routeLogs(v: RouteView): LogRoute {
  if (v.leading) return { kind: 'local' };
  if (v.forwarded) return { kind: 'refuse' };
  if (v.leaderAddress && v.leaderAddress !== v.selfAddress) return { kind: 'forward', address: v.leaderAddress };
  return { kind: 'wait' };
}

/** gRPC codes after which a relayed stream is subscribed again (at the next leader): the leader went away, or lost its leadership. */
export function resubscribeAfter(code: grpc.status): boolean {
  // UNAVAILABLE: not the leader any more, or the connection broke; CANCELLED, UNKNOWN, INTERNAL: a peer that died mid-stream.
  return code === grpc.status.UNAVAILABLE || code === grpc.status.CANCELLED || code === grpc.status.UNKNOWN || code === grpc.status.INTERNAL;
}
