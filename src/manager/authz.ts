// Who may call what on a manager's TCP port. Checked on every call by a server
// interceptor, from the client certificate the TLS handshake verified against
// the cluster CA:
// - the CA service is open (a joining node has no certificate yet; its join
//   token authorizes it, see ca/service.ts);
// - the dispatcher takes any node of this cluster that is not removed (every
//   node runs an agent, managers included); it applies nodeCallRefusal itself,
//   in its handlers, because they need the caller's identity anyway and
//   reading a peer certificate twice per heartbeat is a cost at scale;
// - everything else (Raft, manager-to-manager calls, the control API) needs a
//   manager's certificate, of this cluster, of a node that is not removed and
//   that the store does not know as a worker (a demoted manager's old
//   certificate stops working as soon as the demotion is applied).
// The control API on the unix socket is a separate server without TLS: the
// socket's file mode (0600) is its access control, as for docker.sock.
import * as grpc from '@grpc/grpc-js';
import type { NodeIdentity } from './ca/ca.js';
import { peerIdentity } from './ca/tls.js';

export const OPEN_SERVICE_PREFIXES: readonly string[] = ['/flotilla.ca.CA/'];
/** Services that check the caller themselves (with nodeCallRefusal). */
export const SELF_CHECKED_SERVICE_PREFIXES: readonly string[] = ['/flotilla.dispatcher.Dispatcher/'];

export interface AuthorizerOptions {
  clusterId: string;
  /** True when `nodeId` may no longer take part (removed from the cluster). */
  isRemoved: (nodeId: string) => boolean;
  /** The role the store gives `nodeId`, or undefined when it does not know the node (yet). */
  roleOf: (nodeId: string) => 'manager' | 'worker' | undefined;
}

/** Why `peer` may not call a method open to every node of the cluster, or null when it may. */
export function nodeCallRefusal(peer: NodeIdentity | null, o: AuthorizerOptions): string | null {
  if (!peer) return 'a client certificate of this cluster is required (join the cluster first)';
  if (peer.clusterId !== o.clusterId) return `the certificate belongs to cluster ${peer.clusterId}, not ${o.clusterId}`;
  if (o.isRemoved(peer.nodeId)) return `node ${peer.nodeId} was removed from the cluster; its certificate is no longer accepted`;
  return null;
}

/** Why `peer` may not call a manager-only method, or null when it may. */
export function managerCallRefusal(peer: NodeIdentity | null, o: AuthorizerOptions): string | null {
  const notNode = nodeCallRefusal(peer, o);
  if (notNode || !peer) return notNode;
  if (peer.role !== 'manager') return `node ${peer.nodeId} is a worker: only managers may call this`;
  if (o.roleOf(peer.nodeId) === 'worker') return `node ${peer.nodeId} was demoted to worker: only managers may call this`;
  return null;
}

/** The server interceptor that enforces the rules above. */
export function authorizer(o: AuthorizerOptions): grpc.ServerInterceptor {
  return (method, call) => {
    if (OPEN_SERVICE_PREFIXES.some((p) => method.path.startsWith(p)) || SELF_CHECKED_SERVICE_PREFIXES.some((p) => method.path.startsWith(p))) {
      return new grpc.ServerInterceptingCall(call);
    }
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        const refusal = managerCallRefusal(peerIdentity(call), o);
        if (refusal === null) {
          next();
          return;
        }
        // Answer once the call's metadata is in, without passing the call on to its handler.
        next({
          onReceiveMetadata: () => {
            call.sendStatus({ code: grpc.status.PERMISSION_DENIED, details: `permission denied: ${refusal}`, metadata: new grpc.Metadata() });
          },
          onReceiveMessage: () => undefined,
          onReceiveHalfClose: () => undefined,
        });
      },
    });
  };
}
