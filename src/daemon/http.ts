// The node's HTTP listener (--metrics-addr): GET /metrics on every node; the
// web console adds its routes to the same router on managers. A small router
// by method and exact path (the query string is ignored); unknown paths get
// 404, known paths with another method 405 with Allow, a throwing handler 500.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { DEFAULT_METRICS_PORT, splitHostPort, validPort } from '../common/address.js';
import { ListenError, listenErrorMessage, METRICS_LISTENER } from './listen-check.js';

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;


export class HttpRouter {
  /** path -> method -> handler */
  private readonly routes = new Map<string, Map<string, HttpHandler>>();
  /** path prefix -> handler of every method and path under it (the console's /console). */
  private readonly prefixes = new Map<string, HttpHandler>();

  /**
   * Serve every request whose path is `prefix` or under `prefix/` with
   * `handler` (replacing any); exact routes come first. Returns the function
   * that removes it.
   */
  routePrefix(prefix: string, handler: HttpHandler): () => void {
    this.prefixes.set(prefix, handler);
    return () => {
      if (this.prefixes.get(prefix) === handler) this.prefixes.delete(prefix);
    };
  }

  private prefixHandler(path: string): HttpHandler | undefined {
    for (const [prefix, handler] of this.prefixes) if (path === prefix || path.startsWith(`${prefix}/`)) return handler;
    return undefined;
  }

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
    const handler = byMethod?.get(req.method ?? 'GET') ?? (byMethod ? undefined : this.prefixHandler(path));
    if (!handler) {
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
      server.once('error', (err: NodeJS.ErrnoException) => reject(new ListenError(listenErrorMessage(addr, err, METRICS_LISTENER))));
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
