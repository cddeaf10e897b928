// Binding a node's listeners, and asking before `init` or `join` writes
// anything whether this host can: a node that registers with the cluster and
// then cannot bind stays Down in `node ls` forever. The check binds and closes
// at once, so another process could still take the address before the daemon
// binds it; the check is for the common mistake (a second node on the same
// host with the default addresses), not a reservation.
import { createServer } from 'node:net';

/** A listener could not bind: the message is one line that says what to do. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
}

const LISTEN_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use; another node on this host?',
  EADDRNOTAVAIL: 'no such address on this host;',
  EACCES: 'permission denied (ports below 1024 need root);',
  ENOTFOUND: 'no such host;',
  EAI_AGAIN: 'no such host;',
};

/** What binds where: the flag that moves it, and what it is for ('' for the node's own gRPC address). */
export interface ListenerKind {
  flag: string;
  purpose: string;
}

export const GRPC_LISTENER: ListenerKind = { flag: '--listen-addr', purpose: '' };
export const METRICS_LISTENER: ListenerKind = { flag: '--metrics-addr HOST:PORT (or --metrics-addr off)', purpose: 'metrics' };

/** One line for a failed bind of `addr`, saying what to do. */
export function listenErrorMessage(addr: string, err: NodeJS.ErrnoException, kind: ListenerKind): string {
  const why = LISTEN_ERRORS[err.code ?? ''] ?? `${err.message};`;
  return `cannot listen on ${addr}${kind.purpose ? ` for ${kind.purpose}` : ''}: ${why} pass ${kind.flag}`;
}

/** Resolves when host:port (an IP address or a name, and a port) could be bound; otherwise rejects with a ListenError. */
export async function checkCanListen(addr: string, kind: ListenerKind): Promise<void> {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = Number(addr.slice(i + 1));
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new ListenError(listenErrorMessage(addr, err, kind))));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve()));
  });
}
