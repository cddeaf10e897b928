// Builders and helpers for the scheduler tests: a LocalStore with nodes,
// services and tasks, pending/running tasks, and placement counts.
import { Scheduler, type SchedulerOptions } from '../../src/manager/scheduler/scheduler.js';
import { createAction, updateAction, type Action } from '../../src/manager/store/store.js';
import { TaskState, type Node, type Service, type ServiceSpec, type Task, type TaskTemplate } from '../../src/api/objects.js';
import { LocalStore } from './local-store.js';
import { T0, node, service, task } from './store-fixtures.js';

export { node, service, task, T0 };

/** A task waiting for the scheduler (status PENDING, desired RUNNING). */
export function pending(id: string, svc: Service, over: Partial<Task> = {}): Task {
  return task(id, svc, { status: { state: TaskState.PENDING, message: 'pending task scheduling', err: '', timestamp: T0, containerId: '', exitCode: 0, health: 'none' }, ...over });
}

/** A task running on a node. */
export function running(id: string, svc: Service, nodeId: string, over: Partial<Task> = {}): Task {
  return task(id, svc, { nodeId, status: { state: TaskState.RUNNING, message: 'started', err: '', timestamp: T0, containerId: 'c', exitCode: 0, health: 'none' }, ...over });
}

/** A service spec whose task template is changed by `tpl`. */
export function svcWith(id: string, name: string, tpl: (t: TaskTemplate) => void, over: Partial<ServiceSpec> = {}): Service {
  const s = service(id, name, over);
  tpl(s.spec.taskTemplate);
  return s;
}

/** Reservations in CPUs and MiB. */
export function reserving(id: string, name: string, cpus: number, memMiB = 0, over: Partial<ServiceSpec> = {}): Service {
  return svcWith(id, name, (t) => (t.resources.reservations = { nanoCpus: Math.round(cpus * 1e9), memoryBytes: memMiB * 2 ** 20 }), over);
}

export function constrained(id: string, name: string, constraints: string[], preferences: string[] = []): Service {
  return svcWith(id, name, (t) => (t.placement = { constraints, preferences: preferences.map((spread) => ({ spread })) }));
}

export function hostPort(id: string, name: string, port: number, protocol: 'tcp' | 'udp' = 'tcp', publishMode: 'host' | 'ingress' = 'host'): Service {
  return service(id, name, { endpoint: { ports: [{ protocol, targetPort: 80, publishedPort: port, publishMode }] } });
}

/** `n` pending replicas of a service, ids `<prefix>1..<prefix>n` (slots 1..n). */
export function replicas(svc: Service, n: number, prefix = `${svc.id}-`, firstSlot = 1): Task[] {
  return Array.from({ length: n }, (_, i) => pending(`${prefix}${i + firstSlot}`, svc, { slot: i + firstSlot }));
}

export interface Setup {
  ls: LocalStore;
  sched: Scheduler;
}

/** A LocalStore holding these objects (created in one transaction) and a scheduler over it (not started). */
export function setup(nodes: Node[], services: Service[], tasks: Task[] = [], opts: SchedulerOptions = {}): Setup {
  const ls = new LocalStore();
  const actions: Action[] = [...nodes.map((n) => createAction('node', n)), ...services.map((s) => createAction('service', s))];
  if (actions.length > 0) ls.applyNow(actions);
  if (tasks.length > 0) ls.applyNow(tasks.map((t) => createAction('task', t)));
  ls.writes = 0;
  ls.actions = 0;
  return { ls, sched: new Scheduler(ls.context(), opts) };
}

export function addTasks(ls: LocalStore, tasks: Task[]): void {
  ls.applyNow(tasks.map((t) => createAction('task', t)));
}

/** Change a stored node with `f` and write it back (synchronously). */
export function changeNode(ls: LocalStore, id: string, f: (n: Node) => void): void {
  const cur = ls.store.get('node', id);
  if (cur === undefined) throw new Error(`node ${id} not found`);
  const n = structuredClone(cur);
  f(n);
  ls.applyNow([updateAction('node', n)]);
}

/** Change a stored task with `f` and write it back (synchronously). */
export function changeTask(ls: LocalStore, id: string, f: (t: Task) => void): void {
  const cur = ls.store.get('task', id);
  if (cur === undefined) throw new Error(`task ${id} not found`);
  const t = structuredClone(cur);
  f(t);
  ls.applyNow([updateAction('task', t)]);
}

/** Tasks (all, or those of one service) ASSIGNED..RUNNING and meant to run, per node id. */
export function perNode(ls: LocalStore, serviceId?: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of ls.store.list('task')) {
    if (serviceId !== undefined && t.serviceId !== serviceId) continue;
    if (t.status.state < TaskState.ASSIGNED || t.status.state > TaskState.RUNNING || t.desiredState > TaskState.RUNNING || t.nodeId === '') continue;
    out[t.nodeId] = (out[t.nodeId] ?? 0) + 1;
  }
  return out;
}

export function get(ls: LocalStore, id: string): Task {
  const t = ls.store.get('task', id);
  if (t === undefined) throw new Error(`task ${id} not found`);
  return t;
}

export async function waitFor(cond: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Nodes n1..nk with the given changes. */
export function nodes(k: number, over: (i: number) => Partial<Node> = () => ({})): Node[] {
  return Array.from({ length: k }, (_, i) => node(`n${i + 1}`, over(i + 1)));
}
