// The worker agent: takes the set of tasks assigned to this node, runs each one
// with a TaskRunner, and reports their status in batches. Observed state only
// moves forward: the agent never reports a state lower than one it (or, before
// a restart, the store) already has for that task. On start it adopts the
// containers it owns (by label) instead of starting duplicates; the first
// assignment decides which of them stay.
//
// The session with the managers (heartbeats, assignment stream) is the
// dispatcher's business; it drives this class through assign() and receives
// the updates through `reporter`.
//
// Secrets and configs come with the assignments: the agent holds those its
// tasks reference, in memory only (files.ts), and logs one info line, "secrets
// and configs held" with their ids ({secretIds, configIds}; never data), each
// time what it holds changes. A task's runner resolves its files when it
// prepares the container; the executor keeps them on a tmpfs.
//
// Bounded work: however many tasks are assigned, at most `maxConcurrentStarts`
// are being taken from ASSIGNED to STARTING at once and `maxConcurrentStops`
// containers being stopped and removed (see task-runner.ts); the rest wait in
// FIFO order, and describe() (the session's) never waits behind them. Logs
// follow events, not tasks: a task's status changes are logged at debug.
import { setImmediate } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { Limiter, type LimiterStats } from '../common/limiter.js';
import { TaskState, isTerminal, taskStateName, type NodeDescription, type Task, type TaskStatus } from '../api/objects.js';
import type { ContainerObservation, Executor, Owner } from './exec/executor.js';
import { HeldFiles, NO_FILES, type AssignedFiles } from './files.js';
import { LogThrottle } from './log-throttle.js';
import { StatusBatcher, type StatusReporter } from './status-batcher.js';
import { TaskRunner, type StatusFields, type TaskRunnerDeps } from './task-runner.js';

/** Tasks reconciled between two turns of the event loop. */
const RECONCILE_SLICE = 256;

export interface AgentOptions {
  executor: Executor;
  nodeId: string;
  clusterId: string;
  /** Receives batches of status updates (a rejection is retried). */
  reporter: StatusReporter;
  logger?: Logger;
  /** Longest wait before a batch of updates leaves (default 100 ms). */
  batchMs?: number;
  /** Largest batch (default 64). */
  maxBatch?: number;
  /** The time stamped on each status (default Date.now). */
  clock?: () => number;
  /** How often a health-checked container's health is read (default 500 ms). */
  healthPollMs?: number;
  /** Tasks taken from ASSIGNED through STARTING at once (default 32); the others wait their turn. */
  maxConcurrentStarts?: number;
  /** Containers being stopped and removed at once (default 32). */
  maxConcurrentStops?: number;
  /** The node's metrics (src/daemon/metrics.ts). */
  metrics?: AgentMetrics;
}

/** What the agent counts for the node's metrics: one increment per call. */
export interface AgentMetrics {
  /** A task of this node reached an end state (reported once per task). */
  taskEnded(state: TaskState): void;
}

export interface AgentStats {
  /** Tasks this agent runs (a runner each), whatever their state. */
  tasks: number;
  starts: LimiterStats;
  stops: LimiterStats;
  /** Status updates not yet delivered to the managers. */
  unreported: number;
}

export class Agent {
  private readonly executor: Executor;
  private readonly owner: Owner;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly metrics?: AgentMetrics;
  private readonly healthPollMs: number;
  private readonly batcher: StatusBatcher;
  private readonly starts: Limiter;
  private readonly stops: Limiter;
  private readonly throttle = new LogThrottle();
  /** Tasks that took their turn, for giving the event loop one every RECONCILE_SLICE. */
  private turns = 0;
  /** What every runner is given (one object, not one per task). */
  private readonly runnerDeps: TaskRunnerDeps;
  private readonly runners = new Map<string, TaskRunner>();
  /** The secrets and configs the leader sent for this node's tasks (memory only; never logged but by id). */
  private readonly files = new HeldFiles();
  /** Owned containers found at start, by task id, until the first assignment claims them. */
  private adoptable = new Map<string, ContainerObservation>();
  /** Owned containers with no task, or duplicates: removed at the first assignment. */
  private strays: ContainerObservation[] = [];
  private firstAssignment = true;
  /** The last status reported per task (also seeded from the store's). */
  private readonly reported = new Map<string, TaskStatus>();
  private readonly background = new Set<Promise<void>>();
  private queue: Promise<void> = Promise.resolve();
  private state: 'new' | 'started' | 'stopped' = 'new';

  constructor(options: AgentOptions) {
    this.executor = options.executor;
    this.owner = { clusterId: options.clusterId, nodeId: options.nodeId };
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'agent', nodeId: options.nodeId });
    this.clock = options.clock ?? Date.now;
    this.metrics = options.metrics;
    this.healthPollMs = options.healthPollMs ?? 500;
    this.batcher = new StatusBatcher({
      report: options.reporter,
      batchMs: options.batchMs,
      maxBatch: options.maxBatch,
      logger: this.log,
    });
    this.starts = new Limiter('task start', options.maxConcurrentStarts ?? 32);
    this.stops = new Limiter('container stop', options.maxConcurrentStops ?? 32);
    this.runnerDeps = {
      executor: this.executor,
      owner: this.owner,
      logger: this.log,
      healthPollMs: this.healthPollMs,
      report: (task, status) => this.report(task, status),
      starts: this.starts,
      stops: this.stops,
      throttle: this.throttle,
      breathe: () => (++this.turns % RECONCILE_SLICE === 0 ? setImmediate() : undefined),
      files: (task) => this.files.forTask(task),
    };
  }

  stats(): AgentStats {
    return { tasks: this.runners.size, starts: this.starts.stats(), stops: this.stops.stats(), unreported: this.batcher.pending };
  }

  get nodeId(): string {
    return this.owner.nodeId;
  }

  /** Finds the containers this node owns from an earlier run, to adopt them. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`agent already ${this.state}`);
    this.state = 'started';
    const owned = await this.executor.list(this.owner);
    for (const c of owned) {
      if (!c.taskId) {
        this.strays.push(c);
        continue;
      }
      const other = this.adoptable.get(c.taskId);
      if (!other) {
        this.adoptable.set(c.taskId, c);
        continue;
      }
      // Two containers for one task must never both live: keep the running one
      // (else the newer), drop the other.
      const keepNew = (c.running && !other.running) || (c.running === other.running && c.startedAt > other.startedAt);
      this.strays.push(keepNew ? other : c);
      if (keepNew) this.adoptable.set(c.taskId, c);
    }
    this.log.info({ adoptable: this.adoptable.size, strays: this.strays.length }, 'agent started');
  }

  /**
   * The full set of tasks assigned to this node. Desired RUNNING: run it;
   * desired past RUNNING: stop it gracefully (REMOVE also removes it); absent:
   * stop it gracefully and remove its container. Resolves once the changes are
   * under way (stopping and removing continue in the background).
   */
  assign(tasks: readonly Task[], files: AssignedFiles = NO_FILES): Promise<void> {
    return this.enqueue(() => this.reconcile(tasks, true, [], files));
  }

  /**
   * Changes to the assignment set (the dispatcher's incremental messages):
   * tasks new or changed, and ids of tasks no longer assigned. What is not
   * named stays as it is; costs what changed, not the node's whole set.
   * `files`: the secrets and configs newly referenced, and the ids of those
   * no task references any more.
   */
  assignChanges(changed: readonly Task[], removedTaskIds: readonly string[], files: AssignedFiles = NO_FILES): Promise<void> {
    return this.enqueue(() => this.reconcile(changed, false, removedTaskIds, files));
  }

  /** The ids of the secrets and configs this agent holds now (sorted). */
  heldFiles(): { secretIds: string[]; configIds: string[] } {
    return this.files.ids();
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.queue.then(work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * `complete`: `tasks` is the whole set (what it lacks goes); else only
   * `tasks` and `removed` change. Gives the event loop a turn every few
   * hundred new tasks: 20,000 must not hold up the session's heartbeats.
   */
  private async reconcile(tasks: readonly Task[], complete: boolean, removed: readonly string[], files: AssignedFiles): Promise<void> {
    if (this.state !== 'started') throw new Error(this.state === 'new' ? 'agent not started: call start() first' : 'agent stopped');
    // The secrets and configs first: the new tasks' runners read them when they prepare.
    if (this.files.apply(files, complete)) this.log.info(this.files.ids(), 'secrets and configs held');
    let done = 0;
    /** Every RECONCILE_SLICE tasks, a turn of the event loop (false: the agent stopped meanwhile, leave the rest). */
    const breathe = (): Promise<boolean> | undefined => {
      if (++done % RECONCILE_SLICE !== 0) return undefined;
      return setImmediate().then(() => this.state === 'started');
    };
    const wanted = new Map<string, Task>();
    const gone = new Set<string>(removed);
    for (const t of tasks) {
      if (t.nodeId && t.nodeId !== this.owner.nodeId) {
        this.log.warn({ taskId: t.id, taskNodeId: t.nodeId }, 'ignoring a task assigned to another node');
        continue;
      }
      if (t.desiredState >= TaskState.REMOVE) {
        gone.add(t.id); // treated as absent: stop and remove
        continue;
      }
      wanted.set(t.id, t);
    }

    // Changes to the tasks already here and retirements first, in one go: cheap
    // (no engine call: a waiting task just leaves the queue), and no task waiting
    // for its turn is handed a slot it is about to be told to give up.
    const fresh: Task[] = [];
    for (const t of wanted.values()) {
      const runner = this.runners.get(t.id);
      if (runner) runner.update(t);
      else fresh.push(t);
    }
    const retire = (id: string, runner: TaskRunner): void => {
      this.runners.delete(id);
      this.track(runner.retire().finally(() => this.reported.delete(id)));
    };
    if (complete) {
      for (const [id, runner] of this.runners) if (!wanted.has(id)) retire(id, runner);
    } else {
      for (const id of gone) {
        const runner = this.runners.get(id);
        if (runner && !wanted.has(id)) retire(id, runner);
      }
    }

    // New runners cost more: a turn of the event loop every few hundred.
    for (const t of fresh) {
      const turn = breathe();
      if (turn && !(await turn)) return;
      this.seedFloor(t);
      const adopted = this.adoptable.get(t.id);
      this.adoptable.delete(t.id);
      this.runners.set(t.id, new TaskRunner(t, this.runnerDeps, adopted));
    }

    if (this.firstAssignment && complete) {
      // What was found at start and is not assigned any more goes away.
      this.firstAssignment = false;
      for (const c of [...this.adoptable.values(), ...this.strays]) this.track(this.discard(c));
      this.adoptable.clear();
      this.strays = [];
    }
  }

  /** Stops (with the grace period it was created with) and removes a container no task claims. */
  private async discard(c: ContainerObservation): Promise<void> {
    const release = await this.stops.acquire();
    try {
      this.log.info({ containerId: c.id, taskId: c.taskId }, 'removing a container that is no longer assigned');
      if (c.running) await this.executor.shutdown(c.id, c.stopGracePeriodMs);
      await this.executor.remove(c.id);
    } catch (err) {
      this.throttle.log(this.log, 'warn', 'discard-failed', { containerId: c.id, err: err instanceof Error ? err.message : String(err) }, 'removing an unassigned container failed');
    } finally {
      release();
    }
  }

  private track(p: Promise<void>): void {
    const q = p.catch((err: unknown) => this.log.error({ err: String(err) }, 'background work failed')).finally(() => this.background.delete(q));
    this.background.add(q);
  }

  /** What the store already knows is the lowest state the agent may report. */
  private seedFloor(t: Task): void {
    const prev = this.reported.get(t.id);
    if (!prev || t.status.state > prev.state) this.reported.set(t.id, { ...t.status });
  }

  private report(task: Task, f: StatusFields): void {
    const prev = this.reported.get(task.id);
    if (prev) {
      // Never backwards, and nothing after an end.
      if (isTerminal(prev.state) || f.state < prev.state) {
        this.log.debug({ taskId: task.id, state: taskStateName(f.state), after: taskStateName(prev.state) }, 'not reporting a state behind the last one');
        return;
      }
      // The health poll repeats itself: only changes are news.
      if (f.state === prev.state && f.message === prev.message && f.health === prev.health && f.containerId === prev.containerId && f.exitCode === prev.exitCode && f.err === prev.err) return;
    }
    const status: TaskStatus = { state: f.state, message: f.message, err: f.err, timestamp: this.clock(), containerId: f.containerId, exitCode: f.exitCode, health: f.health };
    if (f.ports?.length) status.ports = f.ports;
    if (f.networks?.length) status.networks = f.networks;
    this.reported.set(task.id, status);
    if (isTerminal(f.state)) this.metrics?.taskEnded(f.state);
    // Debug, as SwarmKit: at info, 20,000 tasks would be 60,000 lines for one event.
    this.log.debug({ taskId: task.id, state: taskStateName(f.state), message: f.message, containerId: f.containerId.slice(0, 12) }, 'task status');
    this.batcher.push({ taskId: task.id, status });
  }

  /** How many of this agent's tasks are in each state (the last reported, or the store's), for the node's metrics. */
  taskCountsByState(): Map<TaskState, number> {
    const counts = new Map<TaskState, number>();
    for (const id of this.runners.keys()) {
      const state = this.reported.get(id)?.state ?? TaskState.ASSIGNED;
      counts.set(state, (counts.get(state) ?? 0) + 1);
    }
    return counts;
  }

  /** The last status reported (or known from the store) for a task this agent runs. */
  taskStatus(taskId: string): TaskStatus | undefined {
    const s = this.reported.get(taskId);
    return s ? { ...s } : undefined;
  }

  /** Sends the queued status updates now. */
  flush(): Promise<void> {
    return this.batcher.flush();
  }

  /**
   * Stops the agent: runners stop watching (containers keep running, for the
   * next start to adopt), background stops and removals finish, and the last
   * updates are sent.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    await this.queue;
    for (const r of this.runners.values()) r.detach();
    await Promise.all([...this.runners.values()].map((r) => r.done));
    this.runners.clear();
    while (this.background.size > 0) await Promise.all([...this.background]);
    // The secrets' data leaves memory with the agent (a restarted agent is sent them again).
    this.files.clear();
    await this.batcher.close();
    this.log.info('agent stopped');
  }

  /** The node's description as its engine sees it. */
  describe(): Promise<NodeDescription> {
    return this.executor.describe();
  }
}
