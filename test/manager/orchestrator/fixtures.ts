// A harness for the orchestrator tests: a LocalStore, the orchestrators on it,
// builders, and a fake scheduler and agent that write task status updates the
// way the real ones would.
import assert from 'node:assert/strict';
import { buildOrchestrators, isLive, type OrchestratorOptions, type Orchestrators } from '../../../src/manager/orchestrator/index.js';
import { createAction, deleteAction, updateAction } from '../../../src/manager/store/store.js';
import { TaskState, type Node, type Service, type ServiceSpec, type Task } from '../../../src/api/objects.js';
import { LocalStore } from '../local-store.js';
import { cluster, node, service } from '../store-fixtures.js';

export class Harness {
  readonly ls = new LocalStore();
  orch: Orchestrators;

  constructor(readonly options: OrchestratorOptions = {}) {
    this.orch = buildOrchestrators(this.ls.context(), options);
  }

  get store() {
    return this.ls.store;
  }

  get now(): number {
    return this.ls.time;
  }

  advance(ms: number): void {
    this.ls.time += ms;
  }

  /** One full pass of every controller. */
  async reconcile(): Promise<void> {
    for (const c of this.orch.controllers) await c.reconcile();
  }

  /** A new leader: fresh orchestrators (no memory) on the same store. */
  async newLeader(): Promise<void> {
    for (const c of this.orch.controllers) await c.stop();
    this.orch = buildOrchestrators(this.ls.context(), this.options);
  }

  setRetention(n: number): void {
    const c = cluster('c1');
    c.spec.orchestration.taskHistoryRetention = n;
    const have = this.store.get('cluster', 'c1');
    if (have) this.ls.applyNow([updateAction('cluster', { ...structuredClone(have), spec: c.spec }, null)]);
    else this.ls.applyNow([createAction('cluster', c)]);
  }

  addService(id: string, over: Partial<ServiceSpec> = {}): Service {
    const s = service(id, `svc-${id}`, over);
    s.createdAt = s.updatedAt = this.now;
    return this.ls.applyNow([createAction('service', s)])[0] as Service;
  }

  replicated(id: string, replicas: number, over: Partial<ServiceSpec> = {}): Service {
    return this.addService(id, { mode: { replicated: { replicas } }, ...over });
  }

  global(id: string, over: Partial<ServiceSpec> = {}): Service {
    return this.addService(id, { mode: { global: {} }, ...over });
  }

  /**
   * Change a service's spec the way the control API's UpdateService does
   * (src/manager/controlapi/services.ts): updatedAt = now; a change of what
   * tasks run (task template, endpoint), or any change once no update is under
   * way or paused, makes the old spec the previous spec and clears the update
   * status; a change that leaves the tasks alone mid-update keeps both.
   */
  updateService(id: string, change: (spec: ServiceSpec) => void): Service {
    const s = structuredClone(this.store.get('service', id) as Service);
    const before = structuredClone(s.spec);
    change(s.spec);
    s.updatedAt = this.now;
    if (JSON.stringify(before) !== JSON.stringify(s.spec)) {
      const tasksChange = JSON.stringify(before.taskTemplate) !== JSON.stringify(s.spec.taskTemplate) || JSON.stringify(before.endpoint) !== JSON.stringify(s.spec.endpoint);
      const st = s.updateStatus?.state;
      const keep = !tasksChange && st !== undefined && st !== 'completed' && st !== 'rollback_completed';
      if (!keep) {
        s.previousSpec = before;
        s.updateStatus = undefined;
      }
    }
    return this.ls.applyNow([updateAction('service', s)])[0] as Service;
  }

  /** `service rollback`, as the control API's UpdateService with rollback: spec and previous spec swap. */
  rollback(id: string): Service {
    const s = structuredClone(this.store.get('service', id) as Service);
    assert.ok(s.previousSpec, `service ${id} has a previous spec`);
    const next: Service = {
      ...s,
      spec: s.previousSpec,
      previousSpec: s.spec,
      updateStatus: { state: 'rollback_started', startedAt: this.now, completedAt: 0, message: 'manually requested rollback', startVersion: s.version, canary: 'none' },
      updatedAt: this.now,
    };
    return this.ls.applyNow([updateAction('service', next)])[0] as Service;
  }

  /** `service promote`, as the control API's PromoteService: the stored canary state becomes promoted. */
  promote(id: string): Service {
    const s = structuredClone(this.store.get('service', id) as Service);
    assert.equal(s.updateStatus?.canary, 'awaiting_promotion', `service ${id} awaits promotion`);
    const next: Service = { ...s, updateStatus: { ...s.updateStatus, canary: 'promoted', message: 'update in progress: canaries promoted' }, updatedAt: this.now };
    return this.ls.applyNow([updateAction('service', next)])[0] as Service;
  }

  /** The service as stored. */
  service(id: string): Service {
    const s = this.store.get('service', id);
    assert.ok(s, `service ${id} exists`);
    return s;
  }

  scale(id: string, replicas: number): Service {
    return this.updateService(id, (spec) => {
      spec.mode = { replicated: { replicas } };
    });
  }

  deleteService(id: string): void {
    this.ls.applyNow([deleteAction('service', id)]);
  }

  addNode(id: string, over: Partial<Node> = {}): Node {
    return this.ls.applyNow([createAction('node', node(id, over))])[0] as Node;
  }

  updateNode(id: string, change: (n: Node) => void): Node {
    const n = structuredClone(this.store.get('node', id) as Node);
    change(n);
    return this.ls.applyNow([updateAction('node', n)])[0] as Node;
  }

  nodeState(id: string, state: Node['status']['state']): Node {
    return this.updateNode(id, (n) => {
      n.status.state = state;
    });
  }

  availability(id: string, a: Node['availability']): Node {
    return this.updateNode(id, (n) => {
      n.availability = a;
    });
  }

  removeNode(id: string): void {
    this.ls.applyNow([deleteAction('node', id)]);
  }

  tasks(serviceId: string): Task[] {
    return this.store.tasksByService(serviceId);
  }

  live(serviceId: string): Task[] {
    return this.tasks(serviceId).filter(isLive);
  }

  task(id: string): Task {
    const t = this.store.get('task', id);
    assert.ok(t, `task ${id} exists`);
    return t;
  }

  /** The live task of each slot (asserting there is at most one). */
  liveBySlot(serviceId: string): Map<number, Task> {
    const m = new Map<number, Task>();
    for (const t of this.live(serviceId)) {
      assert.ok(!m.has(t.slot), `slot ${t.slot} of ${serviceId} has two live tasks`);
      m.set(t.slot, t);
    }
    return m;
  }

  /** The live task on each node (asserting there is at most one): global services. */
  liveByNode(serviceId: string): Map<string, Task> {
    const m = new Map<string, Task>();
    for (const t of this.live(serviceId)) {
      assert.ok(!m.has(t.nodeId), `node ${t.nodeId} has two live tasks of ${serviceId}`);
      m.set(t.nodeId, t);
    }
    return m;
  }

  /** What an agent (or the scheduler, for ASSIGNED) reports. */
  report(id: string, state: TaskState, extra: { exitCode?: number; nodeId?: string; message?: string } = {}): Task {
    const t = structuredClone(this.task(id));
    t.status = { ...t.status, state, timestamp: this.now, message: extra.message ?? `reported ${state}`, exitCode: extra.exitCode ?? t.status.exitCode };
    if (extra.nodeId !== undefined) t.nodeId = extra.nodeId;
    t.updatedAt = this.now;
    return this.ls.applyNow([updateAction('task', t)])[0] as Task;
  }

  /** The fake scheduler: assign the PENDING, desired-RUNNING tasks of a service round-robin over `nodes`. */
  schedule(serviceId: string, nodes: readonly string[]): Task[] {
    let i = 0;
    const out: Task[] = [];
    for (const t of this.tasks(serviceId)) {
      if (t.status.state !== TaskState.PENDING || t.desiredState !== TaskState.RUNNING) continue;
      out.push(this.report(t.id, TaskState.ASSIGNED, { nodeId: t.nodeId || nodes[i++ % nodes.length] }));
    }
    return out;
  }

  /** The fake agents: start every assigned, desired-RUNNING task (to RUNNING). */
  runAssigned(serviceId: string): Task[] {
    const out: Task[] = [];
    for (const t of this.tasks(serviceId)) {
      if (t.desiredState === TaskState.RUNNING && t.status.state >= TaskState.ASSIGNED && t.status.state < TaskState.RUNNING) out.push(this.report(t.id, TaskState.RUNNING));
    }
    return out;
  }

  /** Schedule and run everything pending. */
  converge(serviceId: string, nodes: readonly string[]): void {
    this.schedule(serviceId, nodes);
    this.runAssigned(serviceId);
  }

  /** The fake agents: stop every task asked to stop on a node that is up (observed SHUTDOWN). */
  stopRequested(serviceId: string): Task[] {
    const out: Task[] = [];
    for (const t of this.tasks(serviceId)) {
      if (t.desiredState <= TaskState.RUNNING || t.status.state > TaskState.RUNNING || t.status.state < TaskState.ASSIGNED) continue;
      const n = this.store.get('node', t.nodeId);
      if (n && n.status.state !== 'down') out.push(this.report(t.id, TaskState.SHUTDOWN));
    }
    return out;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll until `cond` holds (real time), failing after `ms`. */
export async function until(cond: () => boolean, ms = 2_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export const slots = (tasks: readonly Task[]): number[] => tasks.map((t) => t.slot).sort((a, b) => a - b);
