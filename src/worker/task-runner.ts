// Drives one task through its states with the executor:
//   ACCEPTED -> PREPARING -> STARTING -> RUNNING -> COMPLETE | FAILED | SHUTDOWN
// (REJECTED when it cannot be prepared). One runner per task, one linear async
// story per runner; the agent talks to it through update() (new desired state),
// retire() (no longer assigned) and detach() (the agent stops, containers stay).
//
// Bounded: a runner takes one of the agent's `starts` slots before it accepts
// its task and keeps it through PREPARING and STARTING, so 20,000 tasks assigned
// at once are 32 (say) being prepared and the rest waiting their turn, not
// 20,000 concurrent engine requests. A waiting task reports nothing (it stays
// ASSIGNED: the node has it, has not taken it up yet) and costs nothing to shut
// down. Stopping and removing containers take one of the `stops` slots.
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { abortError, type Limiter, type Release, type Ticket } from '../common/limiter.js';
import { TaskState, isTerminal, taskStateName, type NetworkAttachment, type PortBinding, type Task, type TaskHealth } from '../api/objects.js';
import {
  ContainerNotFoundError,
  EngineUnavailableError,
  isAbortError,
  type ContainerObservation,
  type Executor,
  type HealthObservation,
  type Owner,
  type ShutdownResult,
  type TaskFile,
} from './exec/executor.js';
import { hasFiles } from './files.js';
import type { LogThrottle } from './log-throttle.js';
import { exitOutcome, shutdownOutcome, unhealthyOutcome, type Outcome } from './outcomes.js';

/** What a runner reports; the agent adds the timestamp and filters regressions. */
export interface StatusFields {
  state: TaskState;
  message: string;
  err: string;
  containerId: string;
  exitCode: number;
  health: TaskHealth;
  /** Where the container is reachable (the data plane's), with its first RUNNING report. */
  ports?: PortBinding[];
  networks?: NetworkAttachment[];
}

export interface TaskRunnerDeps {
  executor: Executor;
  owner: Owner;
  logger: Logger;
  /** How often to look at a health-checked container's health. */
  healthPollMs: number;
  report(task: Task, status: StatusFields): void;
  /** Slots for taking a task from ASSIGNED through STARTING (FIFO; a prepared task waiting to start goes first). */
  starts: Limiter;
  /** Slots for stopping and removing containers. */
  stops: Limiter;
  /** One warning per shared cause (the engine away), not one per task. */
  throttle: LogThrottle;
  /**
   * Called as a task takes its turn: now and then a promise of a turn of the
   * event loop, so that thousands of tasks rejected without any I/O (an image
   * in back-off) are not one unbroken chain of microtasks.
   */
  breathe(): Promise<void> | undefined;
  /** The files of a task's secrets and configs, from what the agent holds; throws (MissingFileError) when one is not held. */
  files(task: Task): TaskFile[];
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Resolves (never rejects) when `signal` aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/**
 * The one reason every runner aborts with: AbortController.abort() without one
 * makes a DOMException (and its stack trace) per call, thousands of them when a
 * big service goes away.
 */
const STOPPED = abortError('stopped by the agent');

type MonitorEvent = { kind: 'exit'; container: ContainerObservation } | { kind: 'gone'; err: unknown } | { kind: 'stop' } | { kind: 'poll' };

export class TaskRunner {
  private task: Task;
  private readonly deps: TaskRunnerDeps;
  /** The runner's own child logger, made on first use: most runners never log above debug, and a child per task costs. */
  private logger: Logger | undefined;
  private adopted: ContainerObservation | undefined;
  /** The task's container, once there is one. */
  containerId = '';
  private exitCode = 0;
  private health: TaskHealth = 'none';
  /** The container's endpoints, read once it runs, when the data plane carries the task. */
  private endpoints: { ports: PortBinding[]; networks: NetworkAttachment[] } | undefined;
  /** It was reported RUNNING (and healthy), so proxies may be sending it connections. */
  private inRotation = false;
  /** Set when the desired state moves past RUNNING (or the task is retired). */
  private shutdownRequested = false;
  /** Set when the agent stops: stop watching, touch nothing. */
  private detached = false;
  /**
   * Aborted by either of the two above: what the executor's calls are given.
   * One controller set by hand rather than AbortSignal.any() of two: a
   * thousand-node agent holds tens of thousands of runners, and any() costs a
   * weak reference and finalization for each.
   */
  private readonly stopCtl = new AbortController();
  private readonly stopSignal = this.stopCtl.signal;
  /** The monitor's wait on the container, aborted on detach. */
  private waitCtl: AbortController | undefined;
  /** Its place in the `starts` queue while it waits for its turn (cancelled by hand: cheaper than a signal listener each). */
  private startTicket: Ticket | undefined;
  /** Aborted on detach: a stop waiting for its slot gives up (made only when a stop waits). */
  private detachCtl: AbortController | undefined;
  private updateWaiters: (() => void)[] = [];
  /** Settles (never rejects) when the runner has nothing more to do. */
  readonly done: Promise<void>;

  constructor(task: Task, deps: TaskRunnerDeps, adopted?: ContainerObservation) {
    this.task = task;
    this.deps = deps;
    this.adopted = adopted;
    if (adopted) this.containerId = adopted.id;
    this.requestShutdownIfWanted();
    this.done = this.run();
  }

  get taskId(): string {
    return this.task.id;
  }

  private get log(): Logger {
    return (this.logger ??= this.deps.logger.child({ taskId: this.task.id }));
  }

  /** The latest assignment of this task (its desired state may have changed). */
  update(task: Task): void {
    this.task = task;
    this.requestShutdownIfWanted();
    const waiters = this.updateWaiters;
    this.updateWaiters = [];
    for (const w of waiters) w();
  }

  /** Stop watching; the container is left as it is (a restarted agent adopts it). */
  detach(): void {
    this.detached = true;
    this.stopCtl.abort(STOPPED);
    this.startTicket?.cancel(STOPPED);
    this.waitCtl?.abort(STOPPED);
    this.detachCtl?.abort(STOPPED);
  }

  /** The task is no longer assigned here: stop it gracefully, then remove its container. */
  async retire(): Promise<void> {
    this.requestShutdown();
    await this.done;
    if (!this.containerId || this.detached) return;
    const { executor } = this.deps;
    const release = await this.stopSlot();
    if (!release) return;
    try {
      try {
        // Usually already stopped by the runner; this also covers a container that
        // was running although its task was terminal in the store.
        await executor.shutdown(this.containerId, this.task.spec.container.stopGracePeriodMs);
      } catch (err) {
        if (!(err instanceof ContainerNotFoundError)) this.warn(err, 'stopping the container of a retired task failed');
      }
      try {
        await executor.remove(this.containerId);
      } catch (err) {
        this.warn(err, 'removing the container of a retired task failed');
      }
    } finally {
      release();
    }
  }

  /** A warning whose cause may be shared by many tasks (the engine away): throttled per kind of error. */
  private warn(err: unknown, msg: string): void {
    const code = (err as { code?: unknown }).code;
    this.deps.throttle.log(this.deps.logger, 'warn', `${msg}:${typeof code === 'string' ? code : messageOf(err)}`, { taskId: this.task.id, err: messageOf(err) }, msg);
  }

  /** A `stops` slot; undefined when the agent stopped (detached) while waiting for it. */
  private async stopSlot(): Promise<Release | undefined> {
    if (this.detached) return undefined;
    this.detachCtl ??= new AbortController();
    try {
      return await this.deps.stops.acquire({ signal: this.detachCtl.signal });
    } catch {
      return undefined;
    }
  }

  /** Stops the container (in a `stops` slot); undefined when detached while waiting for the slot. */
  private async stopContainer(): Promise<ShutdownResult | undefined> {
    const release = await this.stopSlot();
    if (!release) return undefined;
    try {
      return await this.deps.executor.shutdown(this.containerId, this.task.spec.container.stopGracePeriodMs);
    } finally {
      release();
    }
  }

  /**
   * A `starts` slot, in turn (or ahead of the queue: `priority`). Undefined,
   * with SHUTDOWN reported, when the task is told to stop while it waits
   * (undefined and nothing reported when the agent stops).
   */
  private async startSlot(priority: boolean): Promise<Release | undefined> {
    if (!this.stopSignal.aborted) {
      const ticket = this.deps.starts.ticket({ priority });
      this.startTicket = ticket;
      try {
        const release = await ticket.granted;
        const turn = this.deps.breathe();
        if (turn) await turn;
        if (!this.stopSignal.aborted) return release;
        release();
      } catch {
        // cancelled while waiting: below
      } finally {
        this.startTicket = undefined;
      }
    }
    if (!this.detached) this.emit(TaskState.SHUTDOWN, 'shut down before it started');
    return undefined;
  }

  private requestShutdownIfWanted(): void {
    if (this.task.desiredState > TaskState.RUNNING) this.requestShutdown();
  }

  private requestShutdown(): void {
    this.shutdownRequested = true;
    this.stopCtl.abort(STOPPED);
    this.startTicket?.cancel(STOPPED);
  }

  // Reports even after detach(): a stop that was under way when the agent
  // stopped did happen. Paths that were cut short by detach() return without
  // reporting instead.
  private emit(state: TaskState, message: string, extra: Partial<StatusFields> = {}): void {
    if (extra.exitCode !== undefined) this.exitCode = extra.exitCode;
    if (extra.health !== undefined) this.health = extra.health;
    if (extra.containerId !== undefined) this.containerId = extra.containerId;
    // On the agent's logger, not the runner's child: a child made for a debug line that is off costs every task.
    this.deps.logger.debug({ taskId: this.task.id, state: taskStateName(state), message }, 'task state');
    this.deps.report(this.task, {
      state,
      message,
      err: extra.err ?? '',
      containerId: this.containerId,
      exitCode: this.exitCode,
      health: this.health,
      ...(state === TaskState.RUNNING && this.endpoints ? this.endpoints : {}),
    });
  }

  /** The data plane carries this task: it has mesh ports or networks. */
  private get meshed(): boolean {
    return (this.task.endpoint?.ports.length ?? 0) > 0 || (this.task.spec.networks ?? []).length > 0;
  }

  /** Reads the container's endpoints once (before its first RUNNING report), when the data plane needs them. */
  private async readEndpoints(): Promise<void> {
    if (this.endpoints || !this.meshed || !this.deps.executor.endpoints) return;
    try {
      this.endpoints = await this.deps.executor.endpoints(this.containerId);
    } catch (err) {
      this.warn(err, 'reading the container endpoints failed: proxies cannot reach this task');
    }
  }

  /**
   * Before a stop: a task proxies may send connections to leaves their rotation first (its desired state moved
   * past RUNNING, which takes it out of every node's table within a second), then keeps serving for the drain
   * period, so that no new connection reaches a stopping task and those under way can end.
   */
  private async drain(): Promise<void> {
    if (!this.inRotation || !this.meshed || this.detached) return;
    const ms = this.task.endpoint?.drainPeriodMs ?? 2_000;
    if (ms <= 0) return;
    this.deps.logger.debug({ taskId: this.task.id, ms }, 'draining before the stop');
    this.detachCtl ??= new AbortController();
    await delay(ms, undefined, { signal: this.detachCtl.signal }).catch(() => undefined);
  }

  private emitOutcome(o: Outcome, health?: TaskHealth): void {
    this.emit(o.state, o.message, { err: o.err, exitCode: o.exitCode, ...(health ? { health } : {}) });
  }

  private async run(): Promise<void> {
    try {
      await this.drive();
    } catch (err) {
      if (this.detached || isAbortError(err)) return;
      // Anything unexpected (the engine went away mid-way, ...) ends the task:
      // the orchestrator decides whether to start a replacement.
      const msg = messageOf(err);
      const code = (err as { code?: unknown }).code;
      this.deps.throttle.log(this.deps.logger, 'error', `executor-error:${typeof code === 'string' ? code : msg}`, { taskId: this.task.id, err: msg }, 'task failed with an executor error');
      // A FAILED task must not leave its container running: the orchestrator
      // will start a replacement. Best effort; the engine may be the problem.
      if (this.containerId) await this.stopContainer().catch(() => undefined);
      this.emit(TaskState.FAILED, msg, { err: msg });
    }
  }

  private async drive(): Promise<void> {
    const { executor, owner } = this.deps;
    const floor = this.task.status.state;
    // The store already knows how this task ended: it never runs again.
    if (isTerminal(floor)) return;

    const adopted = this.adopted;
    this.adopted = undefined;
    if (!adopted && floor >= TaskState.STARTING) {
      const msg = `the task's container${this.task.status.containerId ? ` ${this.task.status.containerId.slice(0, 12)}` : ''} is gone from this node (removed while the agent was not running?)`;
      this.emit(TaskState.FAILED, msg, { err: msg });
      return;
    }

    if (!adopted) {
      // Its turn first: until then nothing is reported and the engine is not asked.
      let release = await this.startSlot(false);
      if (!release) return;
      try {
        this.emit(TaskState.ACCEPTED, 'accepted');
        this.emit(TaskState.PREPARING, `preparing: image ${this.task.spec.container.image}, creating the container`);
        let id: string;
        try {
          // Read when the container is made, from what the agent holds now; a secret it does not hold rejects the task.
          const files = hasFiles(this.task) ? this.deps.files(this.task) : undefined;
          id = await executor.prepare(this.task, owner, this.stopSignal, files);
        } catch (err) {
          if (this.detached) return;
          if (this.shutdownRequested && isAbortError(err)) return this.emit(TaskState.SHUTDOWN, 'shut down before it started');
          const msg = messageOf(err);
          return this.emit(TaskState.REJECTED, msg, { err: msg });
        }
        this.containerId = id;
        if (this.task.desiredState < TaskState.RUNNING) {
          // Waiting for desired RUNNING (READY) may take long: not in a slot.
          release();
          if (!(await this.waitUntilStartable())) return;
          release = await this.startSlot(true);
          if (!release) return;
        } else if (!(await this.waitUntilStartable())) {
          return;
        }
        if (!(await this.startContainer())) return;
      } finally {
        release?.();
      }
    } else if (adopted.status === 'created') {
      this.log.info({ containerId: adopted.id }, 'adopted a container that was never started');
      if (!(await this.waitUntilStartable())) return;
      const release = await this.startSlot(true);
      if (!release) return;
      try {
        // Its files may be gone (the host restarted: its tmpfs is empty); without them it cannot start.
        const missing = await this.restoreFiles();
        if (missing !== undefined) {
          if (this.detached) return;
          return this.emit(TaskState.REJECTED, missing, { err: missing });
        }
        if (!(await this.startContainer())) return;
      } finally {
        release();
      }
    } else if (!adopted.running) {
      // It ended while no agent was watching: report how.
      this.log.info({ containerId: adopted.id, exitCode: adopted.exitCode }, 'adopted a container that has ended');
      return this.emitOutcome(exitOutcome(adopted));
    } else {
      this.log.info({ containerId: adopted.id }, 'adopted a running container');
      // It reads its files through bind mounts that keep them alive while it runs; put back any that are gone from
      // the tmpfs, for a look from the host and a restart of the engine. Not a reason to stop it when that fails.
      if (this.task.desiredState <= TaskState.RUNNING) {
        const missing = await this.restoreFiles();
        if (missing !== undefined) this.log.warn({ containerId: adopted.id, err: missing }, 'could not put back the files of an adopted container');
      }
    }
    if (!this.detached) await this.monitor();
  }

  /** Writes what is missing of the files of the task's (adopted) container; an error message when it cannot. */
  private async restoreFiles(): Promise<string | undefined> {
    const { executor } = this.deps;
    if (!hasFiles(this.task) || !executor.restoreFiles) return undefined;
    try {
      await executor.restoreFiles(this.containerId, this.deps.files(this.task));
      return undefined;
    } catch (err) {
      return messageOf(err);
    }
  }

  /** Desired state below RUNNING (e.g. READY): created, not started, until it is RUNNING. */
  private async waitUntilStartable(): Promise<boolean> {
    if (this.task.desiredState < TaskState.RUNNING && !this.stopSignal.aborted) {
      this.emit(TaskState.READY, 'ready: created, waiting for desired state RUNNING');
      const stop = aborted(this.stopSignal);
      while (this.task.desiredState < TaskState.RUNNING && !this.stopSignal.aborted) {
        await Promise.race([new Promise<void>((r) => this.updateWaiters.push(r)), stop]);
      }
    }
    if (this.detached) return false;
    if (this.shutdownRequested) {
      this.emit(TaskState.SHUTDOWN, 'shut down before it started');
      return false;
    }
    return true;
  }

  /** False when the start failed (and FAILED has been reported). */
  private async startContainer(): Promise<boolean> {
    this.emit(TaskState.STARTING, 'starting the container');
    try {
      await this.deps.executor.start(this.containerId);
      return true;
    } catch (err) {
      if (this.detached) return false;
      const msg = `could not start the container: ${messageOf(err)}`;
      this.emit(TaskState.FAILED, msg, { err: msg });
      return false;
    }
  }

  /** Watches a started container until it ends, turns unhealthy, or is told to stop. */
  private async monitor(): Promise<void> {
    const { executor } = this.deps;
    const id = this.containerId;
    const waitCtl = new AbortController();
    this.waitCtl = waitCtl;
    if (this.detached) waitCtl.abort(STOPPED);
    const exited: Promise<MonitorEvent> = executor.wait(id, waitCtl.signal).then(
      (container) => ({ kind: 'exit', container }),
      (err: unknown) => ({ kind: 'gone', err }),
    );
    const stop: Promise<MonitorEvent> = aborted(this.stopSignal).then(() => ({ kind: 'stop' }));
    try {
      let checked = true;
      for (;;) {
        if (checked) {
          const h = await executor.health(id).catch((err: unknown) => {
            if (err instanceof ContainerNotFoundError) return undefined;
            // The engine is away for a moment: look again at the next poll.
            if (err instanceof EngineUnavailableError) return 'retry' as const;
            throw err;
          });
          if (h === 'retry') {
            this.deps.throttle.log(this.deps.logger, 'warn', 'health-unreachable', { taskId: this.task.id }, 'engine unreachable while checking health, will look again');
          } else if (h === undefined) {
            const msg = new ContainerNotFoundError(id).message;
            return this.emit(TaskState.FAILED, msg, { err: msg });
          } else {
            if (h.status === 'unhealthy') return await this.stopUnhealthy(h);
            if (h.status === 'starting') this.emit(TaskState.STARTING, 'started, waiting for the health check to pass', { health: 'starting' });
            else {
              await this.readEndpoints();
              this.emit(TaskState.RUNNING, h.status === 'healthy' ? 'running, healthy' : 'running', { health: h.status });
              this.inRotation = true;
            }
            // Without a health check there is nothing to poll: only exit or stop.
            checked = h.status !== 'none';
          }
        }
        const pollCtl = new AbortController();
        const poll: Promise<MonitorEvent> = checked
          ? delay(this.deps.healthPollMs, undefined, { signal: pollCtl.signal }).then(
              () => ({ kind: 'poll' }),
              () => ({ kind: 'poll' }),
            )
          : new Promise<MonitorEvent>(() => undefined);
        const ev = await Promise.race([exited, stop, poll]);
        pollCtl.abort(STOPPED);
        if (ev.kind === 'poll') continue;
        if (ev.kind === 'exit') return this.emitOutcome(exitOutcome(ev.container));
        if (ev.kind === 'gone') {
          if (this.detached || isAbortError(ev.err)) return;
          const msg = messageOf(ev.err);
          return this.emit(TaskState.FAILED, msg, { err: msg });
        }
        // ev.kind === 'stop'
        if (this.detached) return;
        await this.drain();
        if (this.detached) return;
        const grace = this.task.spec.container.stopGracePeriodMs;
        const r = await this.stopContainer();
        if (!r) return;
        return this.emitOutcome(shutdownOutcome(r, grace));
      }
    } finally {
      // Close the engine's long-poll if it is still open.
      waitCtl.abort(STOPPED);
      await exited;
    }
  }

  private async stopUnhealthy(h: HealthObservation): Promise<void> {
    this.log.info({ output: h.output, failingStreak: h.failingStreak }, 'container unhealthy, stopping it');
    this.health = 'unhealthy';
    const r = await this.stopContainer();
    if (!r) return;
    this.emitOutcome(unhealthyOutcome(h, r), 'unhealthy');
  }
}
