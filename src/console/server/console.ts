// The web console a manager serves under /console/ on its HTTP listener
// (beside /metrics): the browser app's files (built by `npm run build` into
// dist/src/console/web, served from there: no CDN), and its JSON API and
// event streams, which read and act through this manager's Control API as
// the CLI does. The contract between the two: src/console/web/lib/types.ts.
//
// Access: nothing without a session (auth.ts); writes need the session's CSRF
// token in X-CSRF-Token and, when the browser sends one, an Origin of this
// very listener; every answer carries a strict content security policy.
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { control } from '../../api/wire.js';
import { connect, type Control } from '../../cli/connection.js';
import { logContext } from '../../cli/log-format.js';
import { listTasks } from '../../cli/lookup.js';
import { actionArgv, cliErrorLine, type Action } from './actions.js';
import { ConsoleAuth, type Session } from './auth.js';
import { clearedSessionCookie, cookies, EventStream, HttpError, json, jsonError, page, readJson, send, sessionCookie, SESSION_COOKIE } from './http-util.js';
import { LiveView } from './live.js';
import { taskView, type TaskView } from './views.js';

/** Where `npm run build` puts the browser app (this file is dist/src/console/server/console.js). */
export const WEB_DIR = fileURLToPath(new URL('../web/', import.meta.url));
const MAX_LOG_STREAMS = 32;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json; charset=utf-8',
};

export interface WebConsoleOptions {
  /** This manager's Control socket (DIR/control.sock). */
  controlSocket: string;
  /** http://HOST:PORT of the listener, as a browser on this network reaches it. */
  baseUrl: string;
  /** The node, for the page's header. */
  node: { id: string; hostname: string };
  log?: Logger;
  now?: () => number;
  /** Where the built app is (tests may point elsewhere). */
  webDir?: string;
  /** Runs a `flotilla` command line in this process (the CLI's main); injected so the console does not load the CLI until a write. */
  runCli?: (argv: readonly string[], io: { out(t: string): void; err(t: string): void; env: Record<string, string>; now(): number }) => Promise<number>;
}

export class WebConsole {
  readonly auth: ConsoleAuth;
  private readonly control: Control;
  private readonly live: LiveView;
  private readonly webDir: string;
  private readonly now: () => number;
  private readonly logStreams = new Set<{ cancel(): void }>();
  private closed = false;

  constructor(private readonly o: WebConsoleOptions) {
    this.now = o.now ?? Date.now;
    this.auth = new ConsoleAuth({ now: this.now });
    this.control = connect({ host: `unix://${o.controlSocket}`, env: {}, timeoutMs: 15_000 });
    this.live = new LiveView(this.control, o.log);
    this.webDir = o.webDir ?? WEB_DIR;
  }

  get consoleUrl(): string {
    return `${this.o.baseUrl}/console/`;
  }

  /** A one-time login link (Control.ConsoleLogin). */
  mintLogin(): { consoleUrl: string; loginUrl: string; expiresAtMs: number } {
    const { token, expiresAt } = this.auth.mintLogin();
    this.o.log?.info({ expiresAt: new Date(expiresAt).toISOString() }, 'console login link issued');
    return { consoleUrl: this.consoleUrl, loginUrl: `${this.consoleUrl}login?token=${token}`, expiresAtMs: expiresAt };
  }

  /** Every request under /console (the daemon's router sends them here). */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://console.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    try {
      if (path === '/console') return send(res, 301, 'text/plain; charset=utf-8', 'see /console/\n', { Location: '/console/' });
      if (path.startsWith('/console/assets/')) return await this.asset(res, method, path.slice('/console/assets/'.length));
      if (path === '/console/login') return this.login(res, method, url.searchParams.get('token') ?? '');
      const sessionId = cookies(req).get(SESSION_COOKIE);
      const session = this.auth.session(sessionId);
      if (path === '/console/') {
        if (method !== 'GET' && method !== 'HEAD') return jsonError(res, 405, `method ${method} not allowed on ${path}`);
        if (!session) return page(res, 401, 'Not logged in', ['Run `flotilla console` on a manager for a one-time login link, then open it here.']);
        await this.file(res, 'index.html');
        return;
      }
      if (path.startsWith('/console/api/')) {
        if (!session) return jsonError(res, 401, 'not logged in: run `flotilla console` on a manager for a one-time login link');
        return await this.api(req, res, method, path.slice('/console/api/'.length).split('/'), url.searchParams, session, sessionId);
      }
      return jsonError(res, 404, `no such path: ${path}`);
    } catch (err) {
      if (err instanceof HttpError) return jsonError(res, err.status, err.message);
      this.o.log?.warn({ err, path }, 'console request failed');
      if (!res.headersSent) return jsonError(res, 500, err instanceof Error ? err.message.split('\n')[0] : 'internal error');
      res.destroy();
    }
  }

  private login(res: ServerResponse, method: string, token: string): void {
    if (method !== 'GET') return jsonError(res, 405, `method ${method} not allowed on /console/login`);
    const r = this.auth.redeem(token);
    if ('refused' in r) {
      this.o.log?.info({ reason: r.refused }, 'console login refused');
      return page(res, 401, 'Login link refused', [`${r.refused[0].toUpperCase()}${r.refused.slice(1)}.`, 'Run `flotilla console` on a manager for a new one-time login link.']);
    }
    this.o.log?.info('console login');
    send(res, 303, 'text/plain; charset=utf-8', 'logged in: see /console/\n', { Location: '/console/', 'Set-Cookie': sessionCookie(r.sessionId, r.session.expiresAt - this.now()) });
  }

  private async asset(res: ServerResponse, method: string, rel: string): Promise<void> {
    if (method !== 'GET' && method !== 'HEAD') return jsonError(res, 405, `method ${method} not allowed on assets`);
    // No way out of the app's directory: no '..', no absolute path, no hidden files.
    let decoded: string;
    try {
      decoded = decodeURIComponent(rel);
    } catch {
      return jsonError(res, 400, 'bad asset path');
    }
    const clean = normalize(decoded);
    if (clean.startsWith('..') || clean.startsWith(sep) || clean.split(sep).some((p) => p.startsWith('.')) || decoded.includes('\0')) return jsonError(res, 404, `no such asset: ${rel}`);
    if (await this.file(res, join('assets', clean), false)) return;
    jsonError(res, 404, `no such asset: ${rel}`);
  }

  /** Sends a file of the built app; false when there is none (and `required` is false). */
  private async file(res: ServerResponse, rel: string, required = true): Promise<boolean> {
    let body: Buffer;
    try {
      body = await readFile(join(this.webDir, rel));
    } catch {
      if (!required) return false;
      page(res, 503, 'The console is not built', ['This daemon has no console files: run `npm run build` and restart it.']);
      return true;
    }
    send(res, 200, TYPES[extname(rel)] ?? 'application/octet-stream', body, { 'Cache-Control': 'no-cache' });
    return true;
  }

  private async api(req: IncomingMessage, res: ServerResponse, method: string, parts: string[], query: URLSearchParams, session: Session, sessionId: string | undefined): Promise<void> {
    const route = `${method} ${parts.map((p, i) => (i === 1 && parts.length > 2 ? ':id' : p)).join('/')}`;
    const id = parts.length > 2 ? decodeURIComponent(parts[1]) : undefined;
    const write = method !== 'GET' && method !== 'HEAD';
    if (write) this.checkWrite(req, session);
    switch (route) {
      case 'GET session':
        return json(res, 200, { csrfToken: session.csrfToken, node: this.o.node, expiresAt: new Date(session.expiresAt).toISOString() });
      case 'POST logout':
        this.auth.end(sessionId);
        return send(res, 204, 'text/plain', '', { 'Set-Cookie': clearedSessionCookie() });
      case 'GET state':
        return json(res, 200, await this.live.snapshot());
      case 'GET stream':
        return this.stream(req, res);
      case 'GET tasks/:id/history':
        return json(res, 200, await this.history(id ?? ''));
      case 'GET logs':
        return this.logs(req, res, query);
      case 'POST services':
        return this.act(req, res, 'create', undefined);
      case 'POST services/:id/scale':
        return this.act(req, res, 'scale', id);
      case 'POST services/:id/image':
        return this.act(req, res, 'image', id);
      case 'POST services/:id/rollback':
        return this.act(req, res, 'rollback', id);
      case 'POST services/:id/promote':
        return this.act(req, res, 'promote', id);
      case 'POST nodes/:id/availability':
        return this.act(req, res, 'availability', id);
    }
    if (method === 'DELETE' && parts.length === 2 && parts[0] === 'services') return this.act(req, res, 'remove', decodeURIComponent(parts[1]));
    throw new HttpError(404, `no such API: ${method} /console/api/${parts.join('/')}`);
  }

  /**
   * A write must carry the session's CSRF token (a page of another site can
   * make the browser send the cookie, but cannot read the token); and when the
   * browser says where the request comes from, it must be this console.
   */
  private checkWrite(req: IncomingMessage, session: Session): void {
    const header = req.headers['x-csrf-token'];
    if (!this.auth.csrfOk(session, typeof header === 'string' ? header : undefined)) throw new HttpError(403, 'missing or wrong X-CSRF-Token: reload the console page');
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin') throw new HttpError(403, `cross-site request refused (Sec-Fetch-Site: ${String(site)})`);
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host ?? ''}`) throw new HttpError(403, `cross-origin request refused (Origin: ${origin})`);
  }

  private async act(req: IncomingMessage, res: ServerResponse, action: Action, target: string | undefined): Promise<void> {
    const body = action === 'remove' ? {} : await readJson(req);
    const argv = actionArgv(action, target, body);
    let out = '';
    let err = '';
    const run = this.o.runCli ?? (await import('../../cli/main.js')).main;
    const code = await run(['--host', `unix://${this.o.controlSocket}`, ...argv], { out: (t) => void (out += t), err: (t) => void (err += t), env: {}, now: this.now });
    this.o.log?.info({ action, target, code }, 'console action');
    this.live.poke();
    if (code !== 0) throw new HttpError(code === 2 ? 400 : 409, cliErrorLine(err));
    json(res, 200, action === 'create' ? { id: out.trim().split('\n')[0] } : {});
  }

  private async stream(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const page = new EventStream(res, req, () => this.live.leave(page));
    await this.live.join(page);
  }

  private async history(taskId: string): Promise<{ task: TaskView; slot: TaskView[] }> {
    // ListTasks has no filter by id: the service's tasks are read after the task is found.
    const task = (await listTasks(this.control)).find((t) => t.id === taskId);
    if (!task) throw new HttpError(404, `no such task: ${taskId}`);
    const all = await listTasks(this.control, { serviceIds: [task.serviceId] });
    const name = task.serviceAnnotations.name || task.serviceId;
    const sameSlot = all.filter((t) => (task.slot > 0 ? t.slot === task.slot : t.slot === 0 && t.nodeId === task.nodeId)).sort((a, b) => b.createdAt - a.createdAt);
    return { task: taskView(task, name), slot: sameSlot.map((t) => taskView(t, name)) };
  }

  /** A service's or a task's log lines (Control.SubscribeLogs, followed) as server-sent events. */
  private logs(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
    const target = query.get('task') || query.get('service') || '';
    if (!target) throw new HttpError(400, 'give ?service=ID or ?task=ID');
    const tailText = query.get('tail') ?? '100';
    const tail = Number(tailText);
    if (!Number.isInteger(tail) || tail < 0 || tail > 10_000) throw new HttpError(400, `tail must be an integer from 0 to 10000, not ${JSON.stringify(tailText)}`);
    if (this.logStreams.size >= MAX_LOG_STREAMS) throw new HttpError(429, `${MAX_LOG_STREAMS} log streams are open on this console already: close some`);
    const contexts = new Map<string, control.LogTaskContext__Output>();
    let sub: { cancel(): void } | null = null;
    const out = new EventStream(res, req, () => {
      if (sub) this.logStreams.delete(sub);
      sub?.cancel();
    });
    const s = this.control.stream('SubscribeLogs', { target, follow: true, hasTail: true, tail }, (m) => {
      for (const t of m.tasks) contexts.set(t.taskId, t);
      for (const w of m.warnings) out.send('warning', { message: w });
      for (const l of m.lines) {
        const t = contexts.get(l.taskId);
        out.send('line', {
          taskId: l.taskId,
          taskName: t ? `${t.serviceName || t.serviceId}.${t.slot > 0 ? t.slot : t.nodeId}` : l.taskId,
          nodeId: t?.nodeId ?? '',
          nodeName: t?.nodeName ?? '',
          prefix: t ? logContext(t, { noTaskIds: false, noTrunc: false, noResolve: false }).trimEnd() : l.taskId.slice(0, 12),
          time: l.timestamp,
          stream: l.stream === 1 || (l.stream as unknown) === 'LOG_STREAM_STDERR' ? 'stderr' : 'stdout',
          text: l.data,
        });
      }
    });
    sub = s;
    this.logStreams.add(s);
    s.done.then(
      () => out.send('end', {}),
      (err: unknown) => out.send('warning', { message: err instanceof Error ? err.message.replace(/^\w+ \w+: /, '') : String(err) }),
    ).finally(() => {
      this.logStreams.delete(s);
      out.end();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.logStreams) s.cancel();
    this.logStreams.clear();
    this.live.close();
    this.control.close();
  }
}
