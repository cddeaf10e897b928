// The scheduler's in-memory view of the cluster: for every node, what it
// offers and what the tasks holding it use (reservations, task count, task
// count per service, host ports), plus the tasks waiting to be scheduled.
//
// It is kept current from the store's watch events (setNode / setTask) and
// rebuilt from the store on start and after a snapshot restore. During a pass,
// place() records a placement provisionally so that later decisions of the
// same pass see it; the store event of the committed write then replaces it
// (what a task holds is keyed by its id, so nothing is counted twice), and
// resync() puts back the store's truth for placements never committed.
import type { ClusterStore } from '../store/store.js';
import { TaskState, type Node, type Task } from '../../api/objects.js';
import { hostPortKeys } from './ports.js';
import { nodeCapacity, taskReservation, type ResourceUsage } from './resources.js';

/** A task the scheduler must place: observed PENDING and meant to run. */
export function isSchedulable(t: Task): boolean {
  return t.status.state === TaskState.PENDING && t.desiredState === TaskState.RUNNING;
}

/**
 * A task that holds its node (counts for resources, ports and spread): on a
 * node, assigned there (ASSIGNED..RUNNING) and still meant to run. A PENDING
 * task with a preset node (a global service's) does not hold it yet.
 */
export function holdsNode(t: Task): boolean {
  return t.nodeId !== '' && t.status.state > TaskState.PENDING && t.status.state <= TaskState.RUNNING && t.desiredState <= TaskState.RUNNING;
}

/** One node as the scheduler sees it. */
export class NodeInfo implements ResourceUsage {
  /** undefined when tasks name a node the store does not have (any more). */
  node: Node | undefined = undefined;
  capCpu = 0;
  capMem = 0;
  usedCpu = 0;
  usedMem = 0;
  /** Tasks holding this node. */
  tasks = 0;
  /** Tasks holding this node, per service id. */
  readonly services = new Map<string, number>();
  /** Host-mode ports bound here ('8080/tcp' -> tasks). */
  readonly ports = new Map<string, number>();

  constructor(readonly id: string) {}

  serviceTasks(serviceId: string): number {
    return this.services.get(serviceId) ?? 0;
  }
}

interface Hold {
  info: NodeInfo;
  serviceId: string;
  cpu: number;
  mem: number;
  ports: readonly string[];
}

/** What a task change meant for scheduling. */
export interface TaskChange {
  /** The task as it was pending before the change, if it was. */
  wasPending: Task | undefined;
  /** The task is pending now. */
  pending: boolean;
  /** The task held a node and now holds less of it (or none, or another node). */
  freed: boolean;
}

function bump(m: Map<string, number>, key: string, by: number): void {
  const n = (m.get(key) ?? 0) + by;
  if (n === 0) m.delete(key);
  else m.set(key, n);
}

export class ClusterView {
  private readonly infos = new Map<string, NodeInfo>();
  private sorted: NodeInfo[] | undefined;
  private readonly holds = new Map<string, Hold>();
  /** Tasks to schedule, by id (the objects as stored). */
  readonly pending = new Map<string, Task>();

  static fromStore(store: ClusterStore): ClusterView {
    const v = new ClusterView();
    v.load(store);
    return v;
  }

  /** A view of these nodes and tasks (for explainTask and tests). */
  static of(nodes: Iterable<Node>, tasks: Iterable<Task>): ClusterView {
    const v = new ClusterView();
    for (const n of nodes) v.setNode(n.id, n);
    for (const t of tasks) v.setTask(t.id, t);
    return v;
  }

  /** Forget everything and read the store again. */
  load(store: ClusterStore): void {
    this.infos.clear();
    this.holds.clear();
    this.pending.clear();
    this.sorted = undefined;
    for (const n of store.values('node')) this.setNode(n.id, n);
    for (const t of store.values('task')) this.setTask(t.id, t);
  }

  /** The nodes the store has, sorted by id. */
  nodes(): readonly NodeInfo[] {
    if (this.sorted === undefined) {
      this.sorted = [...this.infos.values()].filter((i) => i.node !== undefined).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    }
    return this.sorted;
  }

  /** The node's info, if the store has the node. */
  node(id: string): NodeInfo | undefined {
    const info = this.infos.get(id);
    return info?.node === undefined ? undefined : info;
  }

  setNode(id: string, node: Node | undefined): void {
    let info = this.infos.get(id);
    if (node === undefined) {
      if (info === undefined || info.node === undefined) return;
      info.node = undefined;
      info.capCpu = info.capMem = 0;
      this.sorted = undefined;
      this.forgetIfIdle(info);
      return;
    }
    if (info === undefined) this.infos.set(id, (info = new NodeInfo(id)));
    if (info.node === undefined) this.sorted = undefined;
    info.node = node;
    const cap = nodeCapacity(node);
    info.capCpu = cap.nanoCpus;
    info.capMem = cap.memoryBytes;
  }

  /** Take in a task as stored now (undefined: deleted). */
  setTask(id: string, task: Task | undefined): TaskChange {
    const wasPending = this.pending.get(id);
    const pending = task !== undefined && isSchedulable(task);
    if (pending) this.pending.set(id, task);
    else if (wasPending !== undefined) this.pending.delete(id);
    const prev = this.holds.get(id);
    const next = task !== undefined && holdsNode(task) ? this.holdOf(task, this.infoFor(task.nodeId)) : undefined;
    this.replaceHold(id, prev, next);
    const freed = prev !== undefined && (next === undefined || next.info !== prev.info || next.cpu < prev.cpu || next.mem < prev.mem || next.ports.length < prev.ports.length);
    return { wasPending, pending, freed };
  }

  /** Record (provisionally, until the store says so) that the task now holds this node. */
  place(task: Task, info: NodeInfo): void {
    this.replaceHold(task.id, this.holds.get(task.id), this.holdOf(task, info));
  }

  /** Put back what the store says about these tasks (after a pass: drops placements that were not committed). */
  resync(store: ClusterStore, ids: Iterable<string>): void {
    for (const id of ids) this.setTask(id, store.get('task', id));
  }

  private holdOf(task: Task, info: NodeInfo): Hold {
    const r = taskReservation(task);
    return { info, serviceId: task.serviceId, cpu: r.nanoCpus, mem: r.memoryBytes, ports: hostPortKeys(task.endpoint) };
  }

  private infoFor(id: string): NodeInfo {
    let info = this.infos.get(id);
    if (info === undefined) this.infos.set(id, (info = new NodeInfo(id)));
    return info;
  }

  private replaceHold(id: string, prev: Hold | undefined, next: Hold | undefined): void {
    if (prev === undefined && next === undefined) return;
    if (prev !== undefined) {
      const i = prev.info;
      i.usedCpu -= prev.cpu;
      i.usedMem -= prev.mem;
      i.tasks--;
      bump(i.services, prev.serviceId, -1);
      for (const p of prev.ports) bump(i.ports, p, -1);
    }
    if (next !== undefined) {
      const i = next.info;
      i.usedCpu += next.cpu;
      i.usedMem += next.mem;
      i.tasks++;
      bump(i.services, next.serviceId, 1);
      for (const p of next.ports) bump(i.ports, p, 1);
      this.holds.set(id, next);
    } else {
      this.holds.delete(id);
    }
    if (prev !== undefined && prev.info !== next?.info) this.forgetIfIdle(prev.info);
  }

  /** Drop the info of a node the store does not have once no task holds it. */
  private forgetIfIdle(info: NodeInfo): void {
    if (info.node === undefined && info.tasks === 0 && this.infos.get(info.id) === info) this.infos.delete(info.id);
  }
}
