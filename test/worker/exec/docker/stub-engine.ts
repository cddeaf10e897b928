// A STUB Docker engine for unit tests of the executor's bounds: an HTTP server
// on a unix socket that answers the few API calls the DockerExecutor makes
// (image inspect and pull, container create/start/inspect/wait/kill/remove,
// list, info), with a configurable latency, and counts what it is asked and how
// many requests are open at once. It sees what a real engine would see, through
// dockerode and docker-modem, so "at most N requests in flight" is measured at
// the engine's end, not trusted from the client's own counters.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What a request is, for the counters: long polls and info apart from the short calls. */
export type RequestKind = 'short' | 'wait' | 'pull' | 'info';

export interface StubEngineOptions {
  /** Images present from the start (e.g. 'busybox:test'). */
  images?: string[];
  /** Delay of every short call (default 2 ms). */
  latencyMs?: number;
  /** How a pull ends: 'fail' (404 from the registry, the default) or 'ok' (the image appears). */
  pull?: 'fail' | 'ok';
  /** Delay of a pull (default 20 ms). */
  pullMs?: number;
  /** A started container exits (code 0) after this long (default 20 ms). */
  exitAfterMs?: number;
  /** /info never answers (a wedged engine). */
  infoHangs?: boolean;
}

interface StubContainer {
  id: string;
  name: string;
  labels: Record<string, string>;
  status: 'created' | 'running' | 'exited';
  exitCode: number;
  startedAt: string;
  finishedAt: string;
  waiters: (() => void)[];
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

export class StubEngine {
  readonly socketPath: string;
  readonly images: Set<string>;
  options: Required<Omit<StubEngineOptions, 'images'>>;
  /** Every request, as 'METHOD /path' (without the query). */
  readonly requests: string[] = [];
  readonly open: Record<RequestKind, number> = { short: 0, wait: 0, pull: 0, info: 0 };
  readonly peak: Record<RequestKind, number> = { short: 0, wait: 0, pull: 0, info: 0 };
  private readonly dir: string;
  private readonly server: Server;
  private readonly containers = new Map<string, StubContainer>();
  private readonly hanging = new Set<ServerResponse>();
  private next = 0;

  private constructor(options: StubEngineOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'flotilla-stub-engine-'));
    this.socketPath = join(this.dir, 'docker.sock');
    this.images = new Set(options.images ?? []);
    this.options = { latencyMs: 2, pull: 'fail', pullMs: 20, exitAfterMs: 20, infoHangs: false, ...options };
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  static async start(options: StubEngineOptions = {}): Promise<StubEngine> {
    const e = new StubEngine(options);
    await new Promise<void>((resolve) => e.server.listen(e.socketPath, resolve));
    return e;
  }

  async close(): Promise<void> {
    for (const r of this.hanging) r.destroy();
    for (const c of this.containers.values()) for (const w of c.waiters.splice(0)) w();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Requests whose 'METHOD /path' matches. */
  count(pattern: RegExp): number {
    return this.requests.filter((r) => pattern.test(r)).length;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stub');
    const path = url.pathname.replace(/^\/v\d+\.\d+/, '');
    const method = req.method ?? 'GET';
    this.requests.push(`${method} ${path}`);
    const kind: RequestKind = path === '/info' ? 'info' : path === '/images/create' ? 'pull' : /^\/containers\/[^/]+\/wait$/.test(path) ? 'wait' : 'short';
    this.open[kind]++;
    if (this.open[kind] > this.peak[kind]) this.peak[kind] = this.open[kind];
    let counted = true;
    const done = (): void => {
      if (!counted) return;
      counted = false;
      this.open[kind]--;
    };
    res.on('close', done);
    res.on('finish', done);
    const body = await readBody(req);
    if (kind === 'short') await sleep(this.options.latencyMs);
    try {
      this.route(method, path, url, body, res);
    } catch (err) {
      json(res, 500, { message: String(err) });
    }
  }

  private route(method: string, path: string, url: URL, body: string, res: ServerResponse): void {
    let m: RegExpExecArray | null;
    if (method === 'GET' && path === '/info') {
      if (this.options.infoHangs) {
        this.hanging.add(res);
        res.on('close', () => this.hanging.delete(res));
        return;
      }
      return json(res, 200, { NCPU: 2, MemTotal: 2 ** 31, ServerVersion: '20.10-stub', OSType: 'linux', Architecture: 'x86_64', Labels: [] });
    }
    if (method === 'GET' && (m = /^\/images\/(.+)\/json$/.exec(path))) {
      const name = decodeURIComponent(m[1]);
      return this.images.has(name) ? json(res, 200, { Id: `sha256:${name}` }) : json(res, 404, { message: `No such image: ${name}` });
    }
    if (method === 'POST' && path === '/images/create') {
      const image = `${url.searchParams.get('fromImage') ?? ''}:${url.searchParams.get('tag') || 'latest'}`;
      setTimeout(() => {
        if (this.options.pull === 'ok') {
          this.images.add(image);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(`${JSON.stringify({ status: 'Pulling' })}\n${JSON.stringify({ status: `Downloaded newer image for ${image}` })}\n`);
        } else {
          json(res, 404, { message: `pull access denied for ${image}, repository does not exist or may require 'docker login'` });
        }
      }, this.options.pullMs);
      return;
    }
    if (method === 'GET' && path === '/containers/json') return json(res, 200, []);
    if (method === 'POST' && path === '/containers/create') {
      const spec = JSON.parse(body || '{}') as { Image?: string; Labels?: Record<string, string> };
      if (!spec.Image || !this.images.has(spec.Image)) return json(res, 404, { message: `No such image: ${spec.Image ?? ''}` });
      const id = `stub${String(++this.next).padStart(8, '0')}`;
      this.containers.set(id, { id, name: url.searchParams.get('name') ?? id, labels: spec.Labels ?? {}, status: 'created', exitCode: 0, startedAt: ZERO_TIME, finishedAt: ZERO_TIME, waiters: [] });
      return json(res, 201, { Id: id, Warnings: [] });
    }
    if ((m = /^\/containers\/([^/]+)(?:\/(start|json|wait|kill))?$/.exec(path))) {
      const c = this.containers.get(m[1]);
      if (!c) return json(res, 404, { message: `No such container: ${m[1]}` });
      const action = m[2];
      if (method === 'DELETE' && !action) {
        this.exit(c, 137);
        this.containers.delete(c.id);
        return empty(res, 204);
      }
      if (action === 'start') {
        if (c.status === 'running') return empty(res, 304);
        c.status = 'running';
        c.startedAt = new Date().toISOString();
        setTimeout(() => this.exit(c, 0), this.options.exitAfterMs);
        return empty(res, 204);
      }
      if (action === 'kill') {
        if (c.status !== 'running') return json(res, 409, { message: `Container ${c.id} is not running` });
        this.exit(c, 137);
        return empty(res, 204);
      }
      if (action === 'wait') {
        if (c.status !== 'running') return json(res, 200, { StatusCode: c.exitCode });
        c.waiters.push(() => json(res, 200, { StatusCode: c.exitCode }));
        return;
      }
      return json(res, 200, {
        Id: c.id,
        Name: `/${c.name}`,
        State: { Status: c.status, Running: c.status === 'running', ExitCode: c.exitCode, OOMKilled: false, Error: '', StartedAt: c.startedAt, FinishedAt: c.finishedAt },
        Config: { Labels: c.labels },
        HostConfig: { Memory: 0 },
      });
    }
    json(res, 404, { message: `stub engine: ${method} ${path} is not implemented` });
  }

  private exit(c: StubContainer, code: number): void {
    if (c.status !== 'running') return;
    c.status = 'exited';
    c.exitCode = code;
    c.finishedAt = new Date().toISOString();
    for (const w of c.waiters.splice(0)) w();
  }
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let s = '';
    req.on('data', (d: Buffer) => (s += d.toString()));
    req.on('end', () => resolve(s));
    req.on('error', () => resolve(s));
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function empty(res: ServerResponse, status: number): void {
  if (res.destroyed) return;
  res.writeHead(status);
  res.end();
}
