// Watches a compose cluster while a chaos scenario runs, and writes what
// changed to the cluster's timeline: a leader elected (and its term), a node
// marked down or ready again, a replacement task RUNNING, the service
// converged. It also keeps the raw observations the checks need: every
// (manager, leader, term) answer, and samples of the host's running task
// containers per slot.
//
// Polls every `everyMs`: ClusterInfo through each manager (a loop each, short
// deadlines); nodes and the service's tasks through the manager that answered
// last, then `docker ps` of the service's containers. Every call is bounded.
import type { Control } from '../../cli/connection.js';
import { nodeFromProto, taskFromProto } from '../../api/convert.js';
import { TaskState, type Node, type Task } from '../../api/objects.js';
import { LABEL_TASK_SLOT } from '../../worker/exec/docker/labels.js';
import type { ComposeCluster, ManagerName } from '../compose-cluster.js';
import { MANAGERS } from '../compose-cluster.js';
import type { LeaderObservation, SlotSample } from './checks.js';

/** What convergence means for a replicated service: every slot 1..N runs once, in a task and in a container, and nothing else runs. */
export interface ServiceView {
  /** Tasks wanted RUNNING and RUNNING. */
  running: Task[];
  /** Running task containers per slot, on the host. */
  containersPerSlot: Map<number, number>;
}

export function converged(view: ServiceView, replicas: number): boolean {
  const slots = view.running.map((t) => t.slot).sort((a, b) => a - b);
  if (slots.length !== replicas || slots.some((s, i) => s !== i + 1)) return false;
  if (view.containersPerSlot.size !== replicas) return false;
  for (let s = 1; s <= replicas; s++) if (view.containersPerSlot.get(s) !== 1) return false;
  return true;
}

export interface MonitorOptions {
  service: string;
  replicas: number;
  /** Poll period (default 500 ms). */
  everyMs?: number;
  /** Deadline of each API call (default 1.5 s). */
  callTimeoutMs?: number;
}

export class ClusterMonitor {
  readonly leaders: LeaderObservation[] = [];
  readonly slotSamples: SlotSample[] = [];
  /** The latest view of the service (undefined until a poll got both tasks and containers). */
  view: ServiceView | undefined;
  nodes: Node[] = [];
  /** Whether the last poll saw the service converged. */
  isConverged = false;
  private stopped = false;
  private loops: Promise<void>[] = [];
  /** The manager that answered last: the nodes and tasks are asked through it. */
  private answered: ManagerName | undefined;
  private lastLeader = '';
  private lastTerm = 0;
  private nodeStates = new Map<string, string>();
  private runningIds = new Set<string>();
  /** Tasks RUNNING when the baseline was taken: a RUNNING task not among them is a replacement. */
  private baseline: Set<string> | null = null;

  constructor(
    private readonly c: ComposeCluster,
    private readonly o: MonitorOptions,
  ) {}

  start(): void {
    // One loop per manager, so a frozen or vanished one (whose calls wait out their deadline) delays nobody else's observations.
    this.loops = [...MANAGERS.map((m) => this.every(() => this.pollManager(m))), this.every(() => this.pollService())];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  /** From now on, a task that turns RUNNING and was not running now is noted as a replacement. */
  takeBaseline(): void {
    this.baseline = new Set(this.runningIds);
  }

  private async every(poll: () => Promise<void>): Promise<void> {
    const every = this.o.everyMs ?? 500;
    while (!this.stopped) {
      const t = Date.now();
      await poll().catch((err: Error) => this.c.note(`monitor: poll failed: ${err.message}`));
      await new Promise((r) => setTimeout(r, Math.max(50, every - (Date.now() - t))));
    }
  }

  private call<T>(m: ManagerName, f: (api: Control) => Promise<T>): Promise<T | undefined> {
    return this.c.ask(m, f, this.o.callTimeoutMs ?? 1_500);
  }

  private async pollManager(m: ManagerName): Promise<void> {
    const info = await this.call(m, (api) => api.call('ClusterInfo', {}));
    if (!info) return;
    this.answered = m;
    this.leaders.push({ t: Date.now(), via: m, leaderId: info.leaderId, term: info.term });
    if (info.leaderId && info.term >= this.lastTerm && (info.leaderId !== this.lastLeader || info.term > this.lastTerm)) {
      this.lastLeader = info.leaderId;
      this.lastTerm = info.term;
      this.c.note(`leader elected: ${this.c.nameOf(info.leaderId) ?? info.leaderId} (term ${info.term})`);
    }
  }

  private async pollService(): Promise<void> {
    if (this.answered) await this.pollCluster(this.answered);
    await this.pollContainers();
    if (this.view) {
      const now = converged(this.view, this.o.replicas);
      if (now && !this.isConverged) this.c.note(`converged: ${this.o.service} runs ${this.o.replicas} of ${this.o.replicas}, each slot once`);
      else if (!now && this.isConverged) this.c.note(`not converged: ${this.o.service} runs ${this.view.running.length} tasks, ${[...this.view.containersPerSlot.values()].reduce((a, b) => a + b, 0)} containers`);
      this.isConverged = now;
    }
  }

  private async pollCluster(via: ManagerName): Promise<void> {
    const got = await this.call(via, async (api) => {
      const serviceId = await this.serviceId(api);
      if (!serviceId) throw new Error(`no service ${this.o.service}`);
      return {
        nodes: (await api.call('ListNodes', {})).nodes.map(nodeFromProto),
        tasks: (await api.call('ListTasks', { filters: { serviceIds: [serviceId] } })).tasks.map((t) => taskFromProto(t)),
      };
    });
    if (!got) return;
    this.nodes = got.nodes;
    for (const n of got.nodes) {
      const was = this.nodeStates.get(n.id);
      if (was !== undefined && was !== n.status.state) this.c.note(`node ${this.c.nameOf(n.id) ?? n.id} ${n.status.state === 'down' ? 'marked down' : n.status.state}`);
      this.nodeStates.set(n.id, n.status.state);
    }
    const running = got.tasks.filter((t) => t.desiredState === TaskState.RUNNING && t.status.state === TaskState.RUNNING);
    for (const t of running) {
      if (!this.runningIds.has(t.id) && this.baseline && !this.baseline.has(t.id)) {
        this.c.note(`replacement RUNNING: ${this.o.service} slot ${t.slot} on ${this.c.nameOf(t.nodeId) ?? t.nodeId}`);
      }
    }
    this.runningIds = new Set(running.map((t) => t.id));
    this.view = { running, containersPerSlot: this.view?.containersPerSlot ?? new Map() };
  }

  private serviceIdCache = '';
  private async serviceId(api: Control): Promise<string> {
    if (!this.serviceIdCache) this.serviceIdCache = (await api.call('GetService', { serviceIdOrName: this.o.service })).service?.meta?.id ?? '';
    return this.serviceIdCache;
  }

  private async pollContainers(): Promise<void> {
    const cs = await this.c.taskContainers({ service: this.o.service }).catch(() => null);
    if (!cs) return;
    const counts = new Map<number, number>();
    for (const x of cs) {
      const slot = Number(x.Labels[LABEL_TASK_SLOT]);
      counts.set(slot, (counts.get(slot) ?? 0) + 1);
    }
    this.slotSamples.push({ t: Date.now(), counts });
    if (this.view) this.view.containersPerSlot = counts;
  }
}
