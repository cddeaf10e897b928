// The node's HTTP listener (--metrics-addr): GET /metrics on every node; the
// web console adds its routes to the same router on managers. A small router
// by method and exact path (the query string is ignored); unknown paths get
// 404, known paths with another method 405 with Allow, a throwing handler 500.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { DEFAULT_METRICS_PORT, splitHostPort, validPort } from '../common/address.js';

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** The listener could not bind: the message is one line that says what to do. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
}

export class HttpRouter {
  /** path -> method -> handler */
  private readonly routes = new Map<string, Map<string, HttpHandler>>();

  /** Serve `method path` with `handler` (replacing any); returns the function that removes the route. */
  route(method: string, path: string, handler: HttpHandler): () => void {
    let byMethod = this.routes.get(path);
    if (!byMethod) this.routes.set(path, (byMethod = new Map()));
    byMethod.set(method.toUpperCase(), handler);
    return () => {
      if (byMethod.get(method.toUpperCase()) !== handler) return;
      byMethod.delete(method.toUpperCase());
      if (byMethod.size === 0) this.routes.delete(path);
    };
  }

  async handle(req: IncomingMessage, res: ServerResponse, log?: Logger): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0];
    const byMethod = this.routes.get(path);
    const handler = byMethod?.get(req.method ?? 'GET');
    if (!byMethod || !handler) {
      if (byMethod) res.setHeader('Allow', [...byMethod.keys()].join(', '));
      return plain(res, byMethod ? 405 : 404, byMethod ? `method ${req.method ?? ''} not allowed on ${path}` : `no such path: ${path}`);
    }
    try {
      await handler(req, res);
    } catch (err) {
      log?.warn({ err, path }, 'http handler failed');
      if (!res.headersSent) plain(res, 500, 'internal error');
      else res.destroy();
    }
  }
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${text}\n`);
}

/**
 * `--metrics-addr`: HOST[:PORT] (port 9324 when absent; IPv6 in brackets), or '' / 'off' for no listener ('').
 * Returns the normalized HOST:PORT, or undefined when `value` is undefined (the flag was not given); throws
 * with the reason otherwise (the caller makes it a usage error).
 */
export function parseMetricsAddr(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === '' || v.toLowerCase() === 'off') return '';
  const hp = splitHostPort(v);
  if (!hp) throw new Error(`invalid --metrics-addr ${JSON.stringify(value)}: expected HOST:PORT such as 127.0.0.1:${DEFAULT_METRICS_PORT}, or off`);
  if (hp.port !== undefined && !validPort(hp.port)) throw new Error(`invalid --metrics-addr ${JSON.stringify(value)}: the port must be 1-65535`);
  return `${hp.host}:${hp.port ?? DEFAULT_METRICS_PORT}`;
}

const LISTEN_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'no such address on this host',
  EACCES: 'permission denied',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'no such host',
};

/** One line for a failed bind of `addr`, saying what to do. */
export function listenErrorMessage(addr: string, err: NodeJS.ErrnoException): string {
  const why = LISTEN_ERRORS[err.code ?? ''] ?? err.message;
  return `cannot listen on ${addr} for metrics: ${why}; another node on this host? pass --metrics-addr HOST:PORT (or --metrics-addr off)`;
}

export class HttpListener {
  private constructor(
    private readonly server: Server,
    /** host:port as bound (the port the system chose for port 0). */
    readonly address: string,
  ) {}

  /** Bind `addr` (HOST:PORT) and serve `router`; rejects with a ListenError. */
  static listen(addr: string, router: HttpRouter, log?: Logger): Promise<HttpListener> {
    const hp = splitHostPort(addr);
    if (!hp || hp.port === undefined) return Promise.reject(new ListenError(`invalid metrics address ${JSON.stringify(addr)}: expected HOST:PORT`));
    const host = hp.host.replace(/^\[(.*)\]$/, '$1');
    const server = createServer((req, res) => void router.handle(req, res, log));
    // A scrape is one short request: idle or slow clients do not hold sockets for long.
    server.keepAliveTimeout = 5_000;
    server.requestTimeout = 30_000;
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new ListenError(listenErrorMessage(addr, err))));
      server.listen({ host, port: hp.port }, () => {
        const a = server.address();
        const port = typeof a === 'object' && a ? a.port : hp.port;
        resolve(new HttpListener(server, `${hp.host}:${port}`));
      });
    });
  }

  /** Stop listening and close open connections. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/** Whether `addr` can be bound now (init and join check before they register anything); rejects with a ListenError. */
export async function checkCanListen(addr: string): Promise<void> {
  await (await HttpListener.listen(addr, new HttpRouter())).close();
}
