// Whether this host can listen on an address, asked before `init` or `join`
// writes anything: a node that registers with the cluster and then cannot
// bind stays Down in `node ls` forever. The check binds and closes at once, so
// another process could still take the address before the daemon binds it;
// the check is for the common mistake (a second node on the same host with the
// default listen address), not a reservation.
import { createServer } from 'node:net';

export class ListenError extends Error {
  override readonly name = 'ListenError';
}

/** What to do about a bind failure, by its errno code, for the one-line error. */
export function listenFailureAdvice(code: string | undefined, flag: string): string {
  switch (code) {
    case 'EADDRINUSE':
      return `address already in use; another node on this host? pass ${flag}`;
    case 'EADDRNOTAVAIL':
      return `this host has no such address; pass ${flag} with one of its addresses`;
    case 'EACCES':
      return `permission denied (ports below 1024 need root); pass ${flag} with another port`;
    default:
      return `${code ?? 'bind failed'}; pass ${flag}`;
  }
}

/** Resolves when host:port (an IP address and a port) could be bound; otherwise rejects with a ListenError. */
export async function checkCanListen(addr: string, flag: string): Promise<void> {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = Number(addr.slice(i + 1));
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new ListenError(`cannot listen on ${addr}: ${listenFailureAdvice(err.code, flag)}`)));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve()));
  });
}
