// The leader's log broker: a `service logs` subscription becomes, for each
// node that runs one of the target's tasks, a LogSubscription sent over that
// node's session (src/manager/dispatcher); the node answers on a PublishLogs
// stream of its own, whose lines come here and go to the subscriber. Lines
// never enter Raft or the store. With --follow, the service's new tasks are
// added as they get a container. Bounded: at most MAX_SUBSCRIPTIONS at once,
// and a client that does not read fast enough loses lines (counted, and said
// in a warning) instead of growing a buffer here.
// Runs on the leader only (a LeaderController): when leadership is lost
// every subscription fails with UNAVAILABLE and the manager serving the
// client subscribes again at the next leader (./service.ts).
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Task } from '../../api/objects.js';
import type { control, dispatcher } from '../../api/wire.js';
import { generateId } from '../ca/ca.js';
import type { ControllerContext, LeaderController } from '../controller.js';
import { ApiError } from '../grpc-status.js';
import { LogCursors } from './cursors.js';
import { NodeProgress, type ProgressTiming } from './progress.js';
import { hasLogs, planSources, resolveLogTarget, taskContext, type LogRequest, type LogTarget, type StoreView } from './select.js';

/** Subscriptions one leader serves at once at most. */
export const MAX_SUBSCRIPTIONS = 128;
/** Messages queued for a client at most before its lines are dropped. */
export const MAX_QUEUED_MESSAGES = 64;
const STEP_MS = 250;

/** Where a subscription's messages go (the client's stream). */
export interface LogSink {
  send(msg: control.SubscribeLogsMessage__Output): void;
  /** The client's buffer is full: lines are dropped until it reads. */
  congested(): boolean;
  end(): void;
  fail(code: grpc.status, details: string): void;
}

/** The sessions the subscriptions travel on (the dispatcher). */
export interface LogSessions {
  hasSession(nodeId: string): boolean;
  /** False when the node has no session. */
  sendLogSubscriptions(nodeId: string, added: dispatcher.LogSubscription__Output[], cancelled: string[]): boolean;
}

export interface LogBrokerOptions {
  ctx: ControllerContext;
  sessions: () => LogSessions | null;
  timing?: ProgressTiming;
  maxSubscriptions?: number;
}

/** One LogSubscription as sent to one node. */
interface Part {
  id: string;
  nodeId: string;
  sub: Subscription;
  sources: dispatcher.LogSource__Output[];
  taskIds: Set<string>;
}

interface Subscription {
  id: string;
  req: LogRequest;
  sink: LogSink;
  target: LogTarget;
  progress: NodeProgress;
  parts: Map<string, Part>;
  /** Tasks whose lines are read (or asked for). */
  planned: Set<string>;
  contexts: Map<string, control.LogTaskContext__Output>;
  /** Contexts not sent yet (they go with the next message). */
  unsentContexts: control.LogTaskContext__Output[];
  cursors: LogCursors;
  droppedSlow: number;
  closed: boolean;
}

export class LogBroker implements LeaderController {
  readonly name = 'logbroker';
  private readonly log?: Logger;
  private readonly subs = new Map<string, Subscription>();
  private readonly parts = new Map<string, Part>();
  private timer: NodeJS.Timeout | null = null;
  private unwatch: (() => void) | null = null;
  private running = false;
  private readonly store: StoreView;

  constructor(private readonly o: LogBrokerOptions) {
    this.log = o.ctx.logger?.child({ component: 'logbroker' });
    const s = o.ctx.store;
    this.store = {
      service: (id) => s.get('service', id),
      serviceByName: (name) => s.findServiceByName(name),
      services: () => s.values('service'),
      task: (id) => s.get('task', id),
      tasks: () => s.values('task'),
      tasksOf: (id) => s.tasksByService(id),
      node: (id) => s.get('node', id),
    };
  }

  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    this.running = true;
    this.timer = setInterval(() => this.step(), STEP_MS);
    // A followed service's new tasks join its subscriptions once they have a container.
    this.unwatch = this.o.ctx.store.watch({ kind: ['task'] }, (ev) => {
      if (ev.kind === 'task' && hasLogs(ev.object)) this.taskChanged(ev.object);
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.unwatch?.();
    this.unwatch = null;
    for (const sub of [...this.subs.values()]) this.close(sub, { code: grpc.status.UNAVAILABLE, details: 'this manager is no longer the leader: subscribe again at the new one' });
    return Promise.resolve();
  }

  /** Start a subscription; its messages go to `sink`. Returns the cancel function (the client went away). Throws ApiError / NotFoundError. */
  subscribe(req: LogRequest, sink: LogSink): () => void {
    if (!this.running) throw new ApiError(grpc.status.UNAVAILABLE, 'this manager is not the leader');
    if (this.subs.size >= (this.o.maxSubscriptions ?? MAX_SUBSCRIPTIONS)) {
      throw new ApiError(grpc.status.RESOURCE_EXHAUSTED, `${this.subs.size} log streams are open on the leader already, the most it serves: retry once some have ended`);
    }
    const target = resolveLogTarget(this.store, req.target);
    const sub: Subscription = {
      id: generateId(),
      req,
      sink,
      target,
      progress: new NodeProgress(this.o.timing),
      parts: new Map(),
      planned: new Set(),
      contexts: new Map(),
      unsentContexts: [],
      cursors: new LogCursors(req.resume),
      droppedSlow: 0,
      closed: false,
    };
    this.subs.set(sub.id, sub);
    const tasks = target.kind === 'service' ? target.tasks : [target.task];
    this.addTasks(sub, tasks);
    this.log?.debug({ subscription: sub.id, target: req.target, follow: req.follow, parts: sub.parts.size }, 'log subscription opened');
    this.stepOne(sub, this.o.ctx.now());
    return () => this.close(sub, null);
  }

  /** Plan the tasks among `tasks` not planned yet: one new part per node. */
  private addTasks(sub: Subscription, tasks: readonly Task[]): void {
    const fresh = tasks.filter((t) => !sub.planned.has(t.id));
    const plan = planSources(fresh, sub.req);
    const now = this.o.ctx.now();
    for (const t of fresh) {
      if (!hasLogs(t)) continue;
      sub.planned.add(t.id);
      const ctx = taskContext(this.store, t, sub.target);
      sub.contexts.set(t.id, ctx);
      sub.unsentContexts.push(ctx);
    }
    for (const [nodeId, sources] of plan) {
      const part: Part = { id: `${sub.id}.${sub.parts.size + 1}`, nodeId, sub, sources, taskIds: new Set(sources.map((s) => s.taskId)) };
      sub.parts.set(part.id, part);
      this.parts.set(part.id, part);
      sub.progress.add(part.id, now);
    }
  }

  private taskChanged(t: Task): void {
    for (const sub of this.subs.values()) {
      if (!sub.req.follow || sub.target.kind !== 'service' || sub.target.service.id !== t.serviceId || sub.planned.has(t.id)) continue;
      // A new task: every line it writes is new to the client.
      this.addTasks(sub, [t]);
      this.stepOne(sub, this.o.ctx.now());
    }
  }

  private step(): void {
    const now = this.o.ctx.now();
    for (const sub of [...this.subs.values()]) this.stepOne(sub, now);
  }

  private stepOne(sub: Subscription, now: number): void {
    if (sub.closed) return;
    const sessions = this.o.sessions();
    const warnings: string[] = [];
    for (const a of sub.progress.step(now, (partId) => sessions?.hasSession(this.parts.get(partId)?.nodeId ?? '') ?? false)) {
      const part = this.parts.get(a.nodeId);
      if (!part) continue;
      if (a.kind === 'send') {
        const sent = sessions?.sendLogSubscriptions(part.nodeId, [{ id: part.id, sources: part.sources, follow: sub.req.follow }], []) ?? false;
        if (!sent && sub.progress.lost(part.id)) warnings.push(this.missing(part, 'has no session with the leader (down, or cut off)'));
      } else {
        warnings.push(this.missing(part, a.why));
      }
    }
    this.emit(sub, [], warnings);
    this.endIfFinished(sub);
  }

  private missing(part: Part, why: string): string {
    return `node ${this.nodeName(part.nodeId)} ${why}: the logs of its tasks are missing`;
  }

  private nodeName(nodeId: string): string {
    return this.store.node(nodeId)?.description.hostname || nodeId;
  }

  private endIfFinished(sub: Subscription): void {
    if (!sub.req.follow && sub.progress.finished()) this.close(sub, 'end');
  }

  /** Send what there is to the client (contexts first); lines are dropped while it does not keep up. */
  private emit(sub: Subscription, lines: control.LogLine__Output[], warnings: string[]): void {
    if (sub.closed) return;
    if (lines.length > 0 && sub.sink.congested()) {
      sub.droppedSlow += lines.length;
      lines = [];
    } else if (sub.droppedSlow > 0 && !sub.sink.congested()) {
      warnings.push(`${sub.droppedSlow} log lines dropped: the client did not read them fast enough`);
      sub.droppedSlow = 0;
    }
    if (lines.length === 0 && warnings.length === 0 && sub.unsentContexts.length === 0) return;
    const tasks = sub.unsentContexts;
    sub.unsentContexts = [];
    sub.sink.send({ tasks, lines, warnings });
  }

  /**
   * A message of a node's PublishLogs stream. 'gone' when its subscription
   * ended (the node stops); a refusal (one line) when the node sent lines it
   * was not asked for.
   */
  publish(nodeId: string, msg: dispatcher.PublishLogsMessage__Output): 'ok' | 'gone' | { refused: string } {
    const part = this.parts.get(msg.subscriptionId);
    if (!part || part.sub.closed) return 'gone';
    if (part.nodeId !== nodeId) return { refused: `log subscription ${msg.subscriptionId} was not sent to node ${nodeId}` };
    for (const l of msg.lines) if (!part.taskIds.has(l.taskId)) return { refused: `task ${l.taskId} is not one this node was asked the logs of` };
    for (const d of msg.dropped) if (!part.taskIds.has(d.taskId)) return { refused: `task ${d.taskId} is not one this node was asked the logs of` };
    const sub = part.sub;
    sub.progress.answered(part.id);
    const lines = msg.lines.filter((l) => sub.cursors.admit(l));
    const warnings = msg.errors.map((e) => `node ${this.nodeName(nodeId)}: ${e}`);
    for (const d of msg.dropped) {
      if (d.count > 0) warnings.push(`${d.count} log lines of task ${this.taskName(sub, d.taskId)} dropped on node ${this.nodeName(nodeId)}: over its rate limit`);
    }
    this.emit(sub, lines, warnings);
    if (msg.done) {
      sub.progress.done(part.id);
      this.endIfFinished(sub);
    }
    return 'ok';
  }

  /** A node's PublishLogs stream ended before it said it was done. */
  publisherGone(nodeId: string, subscriptionId: string, why: string): void {
    const part = this.parts.get(subscriptionId);
    if (!part || part.nodeId !== nodeId || part.sub.closed) return;
    if (part.sub.progress.lost(part.id)) this.emit(part.sub, [], [this.missing(part, `stopped sending (${why})`)]);
    this.endIfFinished(part.sub);
  }

  private taskName(sub: Subscription, taskId: string): string {
    const c = sub.contexts.get(taskId);
    return c ? `${c.serviceName}.${c.slot} (${taskId.slice(0, 12)})` : taskId;
  }

  /** End a subscription: 'end' (all sent), a failure, or null (the client went away). The nodes still reading are told to stop. */
  private close(sub: Subscription, how: 'end' | { code: grpc.status; details: string } | null): void {
    if (sub.closed) return;
    if (how === 'end') this.emit(sub, [], []);
    sub.closed = true;
    this.subs.delete(sub.id);
    const sessions = this.o.sessions();
    for (const part of sub.parts.values()) {
      this.parts.delete(part.id);
      if (sub.progress.active(part.id)) sessions?.sendLogSubscriptions(part.nodeId, [], [part.id]);
    }
    if (how === 'end') sub.sink.end();
    else if (how) sub.sink.fail(how.code, how.details);
    this.log?.debug({ subscription: sub.id, how: how === null ? 'cancelled' : how === 'end' ? 'end' : how.details }, 'log subscription closed');
  }
}
