// What a log subscription reads: the request checked, its target resolved in
// the store (a service by id, name or unique id prefix, else a task by id or
// unique id prefix, as `docker service logs SERVICE|TASK`), and the tasks'
// containers grouped by the node that runs them. Pure: the store is read,
// nothing else.
import * as grpc from '@grpc/grpc-js';
import { quoteInput, ValidationError } from '../../api/input.js';
import type { Node, Service, Task } from '../../api/objects.js';
import type { control, dispatcher } from '../../api/wire.js';
import { ApiError } from '../grpc-status.js';
import { NotFoundError } from '../store/store.js';

/** Cursors a request may carry at most (one per task: a service's tasks, history included). */
export const MAX_RESUME_CURSORS = 10_000;
/** Lines with a cursor's exact timestamp a cursor may carry at most. */
export const MAX_SEEN_PER_CURSOR = 64;
/** The longest target a request may name. */
const MAX_TARGET_LENGTH = 256;

/** A SubscribeLogsRequest, checked: tail undefined means every line; sinceMs 0 means from the start. */
export interface LogRequest {
  target: string;
  follow: boolean;
  tail: number | undefined;
  sinceMs: number;
  resume: control.LogCursor__Output[];
}

/** The request as the manager acts on it; throws ValidationError (INVALID_ARGUMENT) for a bad one. */
export function checkLogRequest(req: control.SubscribeLogsRequest__Output): LogRequest {
  if (!req.target) throw new ValidationError('target', 'required', 'a service (id, name or id prefix) or a task id is required');
  if (req.target.length > MAX_TARGET_LENGTH) throw new ValidationError('target', 'length', `at most ${MAX_TARGET_LENGTH} characters`);
  if (!Number.isSafeInteger(req.tail) || req.tail < 0) throw new ValidationError('tail', 'range', `must be 0 or more lines (got ${req.tail})`);
  if (!Number.isSafeInteger(req.sinceMs) || req.sinceMs < 0) throw new ValidationError('sinceMs', 'range', `must be a time since the epoch in milliseconds, 0 or more (got ${req.sinceMs})`);
  if (req.resume.length > MAX_RESUME_CURSORS) throw new ValidationError('resume', 'length', `at most ${MAX_RESUME_CURSORS} cursors`);
  req.resume.forEach((c, i) => {
    if (!c.taskId) throw new ValidationError(`resume[${i}].taskId`, 'required', 'a task id is required');
    if (!isLogTimestamp(c.timestamp)) throw new ValidationError(`resume[${i}].timestamp`, 'format', 'must be an RFC 3339 timestamp in UTC (2024-01-02T03:04:05.123456789Z)');
    if (c.seen.length > MAX_SEEN_PER_CURSOR) throw new ValidationError(`resume[${i}].seen`, 'length', `at most ${MAX_SEEN_PER_CURSOR} lines`);
  });
  return { target: req.target, follow: req.follow, tail: req.hasTail ? req.tail : undefined, sinceMs: req.sinceMs, resume: req.resume };
}

/** The engine's line timestamps: RFC 3339 in UTC, up to nanoseconds. They sort as strings when their fractions have the same length. */
export function isLogTimestamp(s: string): boolean {
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/.test(s) && !Number.isNaN(Date.parse(s));
}

/** The engine's fixed form of a timestamp (nine digits of fraction), so that timestamps compare as strings. */
export function fixedTimestamp(s: string): string {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(s);
  return m ? `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}Z` : s;
}

/** What the target names: a service (with all its tasks) or one task. */
export type LogTarget = { kind: 'service'; service: Service; tasks: Task[] } | { kind: 'task'; service: Service | undefined; task: Task };

export interface StoreView {
  service(id: string): Service | undefined;
  serviceByName(name: string): Service | undefined;
  services(): Iterable<Service>;
  task(id: string): Task | undefined;
  tasks(): Iterable<Task>;
  tasksOf(serviceId: string): Task[];
  node(id: string): Node | undefined;
}

/** The target of a request; NOT_FOUND "no such task or service: X" as docker says it, FAILED_PRECONDITION for an ambiguous prefix. */
export function resolveLogTarget(store: StoreView, ref: string): LogTarget {
  const service = (s: Service): LogTarget => ({ kind: 'service', service: s, tasks: store.tasksOf(s.id) });
  const direct = store.service(ref) ?? store.serviceByName(ref);
  if (direct) return service(direct);
  const services = [...store.services()].filter((s) => s.id.startsWith(ref));
  if (services.length === 1) return service(services[0]);
  const task = store.task(ref);
  if (task) return { kind: 'task', service: store.service(task.serviceId), task };
  const tasks = [...store.tasks()].filter((t) => t.id.startsWith(ref));
  if (services.length + tasks.length > 1) throw new ApiError(grpc.status.FAILED_PRECONDITION, `${quoteInput(ref)} is ambiguous: it starts the ids of several services or tasks; give more of the id, or the name`);
  if (tasks.length === 1) return { kind: 'task', service: store.service(tasks[0].serviceId), task: tasks[0] };
  throw new NotFoundError('not-found', `no such task or service: ${quoteInput(ref)}`);
}

/** A task whose container may have logs: placed on a node, with a container the node reported. */
export function hasLogs(t: Task): boolean {
  return t.nodeId !== '' && (t.status.containerId ?? '') !== '';
}

/** The sources of each node: the tasks with logs among `tasks`, what to read of each (since, tail, or from a cursor). */
export function planSources(tasks: readonly Task[], req: Pick<LogRequest, 'tail' | 'sinceMs' | 'resume'>): Map<string, dispatcher.LogSource__Output[]> {
  const cursors = new Map(req.resume.map((c) => [c.taskId, c.timestamp]));
  const since = req.sinceMs > 0 ? new Date(req.sinceMs).toISOString() : '';
  const byNode = new Map<string, dispatcher.LogSource__Output[]>();
  for (const t of tasks) {
    if (!hasLogs(t)) continue;
    const cursor = cursors.get(t.id);
    // From a cursor: everything from the last line received on (the engine's `since` keeps that line: it is skipped by the cursor).
    const source: dispatcher.LogSource__Output = cursor
      ? { taskId: t.id, containerId: t.status.containerId ?? '', since: cursor, hasTail: false, tail: 0 }
      : { taskId: t.id, containerId: t.status.containerId ?? '', since, hasTail: req.tail !== undefined, tail: req.tail ?? 0 };
    let list = byNode.get(t.nodeId);
    if (!list) byNode.set(t.nodeId, (list = []));
    list.push(source);
  }
  return byNode;
}

/** What a prefix shows of a task; replicas 0 for a global service or when the target is one task (docker pads slots to the replica count's width only for a service). */
export function taskContext(store: StoreView, t: Task, target: LogTarget): control.LogTaskContext__Output {
  const s = store.service(t.serviceId);
  const replicas = target.kind === 'service' && s && 'replicated' in s.spec.mode ? s.spec.mode.replicated.replicas : 0;
  return {
    taskId: t.id,
    serviceId: t.serviceId,
    serviceName: s?.spec.name ?? t.serviceAnnotations.name,
    slot: t.slot,
    nodeId: t.nodeId,
    nodeName: store.node(t.nodeId)?.description.hostname ?? '',
    replicas,
  };
}
