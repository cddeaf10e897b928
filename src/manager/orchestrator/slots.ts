// The slot engine shared by the replicated and the global orchestrator. A
// service's tasks are grouped into slots (replicated: slot number; global:
// node), and every pass plans, from the store alone, what each slot needs:
//
// 1. tasks that ended while desired RUNNING get desiredState SHUTDOWN, with
//    the restart policy's decision (restart/restart.ts) and, when the task
//    belonged to a rolling update and ended early, its mark as a failure of
//    the update (update/updater.ts);
// 2. live tasks on a node that is gone, down or drained (or, replicated, no
//    longer matches the placement constraints) get desiredState SHUTDOWN;
// 3. live tasks of an unwanted slot (replicated: slot > replicas; global: node
//    no longer eligible) get desiredState SHUTDOWN;
// 4. a slot with several live tasks keeps one (a start-first update keeps
//    the old task until the new one is RUNNING; a canary keeps it until the
//    canaries are promoted);
// 5. the updater replaces outdated tasks, a few at a time, and moves the
//    service's update status (its one write to the service);
// 6. a wanted slot with no live task gets a new task, unless its verdict says
//    wait (restart delay; the previous task is still stopping on a healthy
//    node, for at most its stop grace period + a margin) or leave it empty
//    (restart policy; see restart/restart.ts).
//
// A slot's actions form one unit, written in one transaction: a shut-down and
// its replacement commit together or not at all. The service's update status
// is a unit of its own.
import type { Logger } from 'pino';
import { nodeKeepsTasks } from '../constraint/usability.js';
import type { Unit } from '../plan/unit.js';
import { spawnAction, updateAction, type Action } from '../store/store.js';
import { TaskState, type Node, type Service, type Task } from '../../api/objects.js';
import type { LeaderTimes } from './leader-times.js';
import type { FillVerdict, RestartSupervisor } from './restart/restart.js';
import { newTask, shutdownTask } from './task-factory.js';
import { best, byCreation, isLive, isStopping, isUnhandledExit, newest, type SpecMatcher } from './tasks.js';

export interface SlotInput {
  key: string;
  /** Replicated: the slot number; global: 0. */
  slot: number;
  /** Replicated: ''; global: the node. */
  nodeId: string;
  /** Should the slot have a live task? */
  wanted: boolean;
  /** Why not, when !wanted (for the log and the task). */
  unwantedReason: string;
  /** May a new task be created in it now? (global: a paused node keeps its task but gets no new one) */
  canCreate: boolean;
  tasks: Task[];
}

export interface PlanContext {
  service: Service;
  now: number;
  node: (id: string) => Node | undefined;
  matcher: SpecMatcher;
  restart: RestartSupervisor;
  /** Added to a task's stop grace period: how long a new task waits for the old one to stop on a healthy node. */
  stopMarginMs: number;
  /** Why a live task must leave its node ('' = it may stay). */
  mustLeave: (t: Task) => string;
  /** At most this many tasks created or stopped in one pass (default MAX_CHANGES_PER_PASS). */
  maxChanges?: number;
  /** What this leader saw and when (durations are measured from these only). */
  times: LeaderTimes;
}

/**
 * Tasks one pass creates or stops at most, per service: a service of 100,000
 * replicas is created in passes of this many, each written before the next is
 * planned, instead of one pass that held the leader's event loop for seconds
 * (allocation and garbage collection of 100,000 tasks at once) and starved its
 * heartbeats. The plan asks to be woken at once for the rest.
 */
export const MAX_CHANGES_PER_PASS = 5_000;

export interface UpdatePlanner {
  /**
   * Start the next tasks of the rolling update, if any, and move the update
   * status; returns when to look again (ms) if a timer is needed, and the
   * service to write (its new update status; on a rollback its spec too).
   */
  plan(ctx: PlanContext, slots: SlotState[]): UpdateStep;
  /** Does the end of this task (ended on its own, being handled now; `history`: its slot's tasks) count as a failure of the update? */
  isFailure(ctx: PlanContext, t: Task, history: readonly Task[]): boolean;
  /** Keep an outdated task beside a current one even once the current one runs? (canaries, until promoted) */
  keepsOldBeside(service: Service): boolean;
}

export interface UpdateStep {
  wakeAt?: number;
  service?: Service;
}

export interface ServicePlan {
  units: Unit[];
  /** When this service must be looked at again even if nothing changes. */
  wakeAt?: number;
  stats: { created: number; stopped: number; exits: number; restarts: number; waiting: number; emptyOnPurpose: number };
}

export class SlotState {
  /** The slot's tasks as they will be once the plan commits, oldest first. */
  readonly tasks: Task[];
  /** Its live tasks, likewise. */
  live: Task[];
  private readonly changed = new Map<string, Task>();
  private readonly created: Task[] = [];
  private readonly commits: Array<() => void> = [];

  constructor(
    readonly input: SlotInput,
    private readonly ctx: PlanContext,
  ) {
    this.tasks = [...input.tasks].sort(byCreation);
    this.live = this.tasks.filter(isLive);
  }

  get key(): string {
    return this.input.key;
  }

  get wanted(): boolean {
    return this.input.wanted;
  }

  get canCreate(): boolean {
    return this.input.wanted && this.input.canCreate;
  }

  /** Raise a live task's desired state to SHUTDOWN. */
  stop(t: Task, reason: string): void {
    this.replace(shutdownTask(t, this.ctx.now, reason));
    const restart = this.ctx.restart;
    this.commits.push(() => restart.noteStopRequested(t.id));
  }

  /**
   * A task that ended while desired RUNNING: desired SHUTDOWN, with the restart
   * policy's decision and whether it failed the update; remember that it ended
   * on its own.
   */
  handleExit(t: Task, updateFailure: boolean): void {
    const { ctx } = this;
    const decision = ctx.restart.decideAtExit(this.key, this.tasks, t, ctx.now, ctx.times);
    // Noted now, not on commit: this pass's own verdict counts the delay from it.
    ctx.times.noteDecided(t.id, ctx.now);
    this.replace({ ...shutdownTask(t, ctx.now, 'ended'), restart: decision, updateFailure: updateFailure || t.updateFailure });
    const restart = ctx.restart;
    this.commits.push(() => restart.noteEndedOnOwn(t.id));
  }

  /** A new task of the service's current spec in this slot. */
  create(onCommit?: () => void): Task {
    const t = newTask(this.ctx.service, this.input.slot, this.input.nodeId, this.ctx.now);
    this.tasks.push(t);
    this.live.push(t);
    this.created.push(t);
    if (onCommit) this.commits.push(onCommit);
    return t;
  }

  /** What to do about this slot when it has no live task (see restart/restart.ts for "empty on purpose"). */
  verdict(): FillVerdict {
    const { ctx } = this;
    const last = newest(this.tasks);
    if (last === undefined) return { kind: 'fill', restart: false, reason: 'no task' };
    if (isStopping(last)) {
      const node = last.nodeId ? ctx.node(last.nodeId) : undefined;
      if (last.status.state >= TaskState.ASSIGNED && nodeKeepsTasks(node)) {
        const until = last.updatedAt + last.spec.container.stopGracePeriodMs + ctx.stopMarginMs;
        if (ctx.now < until) return { kind: 'wait', until, reason: `waiting for task ${last.id} to stop` };
      }
      return { kind: 'fill', restart: false, reason: 'previous task shut down' };
    }
    if (!ctx.matcher.isCurrent(last)) return { kind: 'fill', restart: false, reason: 'service spec changed' };
    if (ctx.restart.endedOnItsOwn(last)) return ctx.restart.decide(this.key, this.tasks, last, ctx.now, ctx.times);
    return { kind: 'fill', restart: false, reason: 'previous task shut down' };
  }

  unit(): Unit | undefined {
    if (this.changed.size === 0 && this.created.length === 0) return undefined;
    const actions: Action[] = [];
    for (const t of this.changed.values()) actions.push(updateAction('task', t));
    // A new task is of the service's current spec (newTask): sent without it, the store copies it.
    for (const t of this.created) actions.push(spawnAction(t));
    const commits = this.commits;
    return { actions, onCommit: commits.length ? () => commits.forEach((f) => f()) : undefined };
  }

  private replace(next: Task): void {
    const i = this.tasks.findIndex((t) => t.id === next.id);
    if (i >= 0) this.tasks[i] = next;
    this.live = this.live.filter((t) => t.id !== next.id);
    if (isLive(next)) this.live.push(next);
    this.changed.set(next.id, next);
  }
}

/** Plan one service's slots. */
export function planService(ctx: PlanContext, inputs: readonly SlotInput[], updater: UpdatePlanner): ServicePlan {
  const stats = { created: 0, stopped: 0, exits: 0, restarts: 0, waiting: 0, emptyOnPurpose: 0 };
  let wakeAt: number | undefined;
  const wake = (at: number): void => {
    wakeAt = wakeAt === undefined ? at : Math.min(wakeAt, at);
  };
  for (const i of inputs) ctx.times.observe(ctx.now, i.tasks);
  const slots = inputs.map((i) => new SlotState(i, ctx));
  const maxChanges = ctx.maxChanges ?? MAX_CHANGES_PER_PASS;
  /** The budget of this pass is spent: what is left waits for the next one, right after. */
  const spent = (): boolean => {
    if (stats.created + stats.stopped < maxChanges) return false;
    wake(ctx.now);
    return true;
  };

  for (const s of slots) {
    for (const t of [...s.tasks]) {
      if (isUnhandledExit(t)) {
        s.handleExit(t, updater.isFailure(ctx, t, s.tasks));
        stats.exits++;
      }
    }
    for (const t of [...s.live]) {
      const why = ctx.mustLeave(t);
      if (why && !spent()) {
        s.stop(t, why);
        stats.stopped++;
      }
    }
    if (!s.wanted) {
      for (const t of [...s.live]) {
        if (spent()) break;
        s.stop(t, s.input.unwantedReason);
        stats.stopped++;
      }
      continue;
    }
    if (s.live.length > 1) stats.stopped += dedupe(ctx, s, updater.keepsOldBeside(ctx.service));
  }

  const step = updater.plan(ctx, slots);
  if (step.wakeAt !== undefined) wake(step.wakeAt);

  for (const s of slots) {
    if (!s.canCreate || s.live.length > 0) continue;
    if (spent()) break;
    const v = s.verdict();
    if (v.kind === 'wait') {
      stats.waiting++;
      wake(v.until);
    } else if (v.kind === 'empty') {
      stats.emptyOnPurpose++;
    } else {
      const restart = ctx.restart;
      const policy = ctx.service.spec.taskTemplate.restartPolicy;
      const now = ctx.now;
      const key = s.key;
      s.create(v.restart ? () => restart.noteRestart(key, now, policy) : undefined);
      stats.created++;
      if (v.restart) stats.restarts++;
    }
  }

  const units: Unit[] = [];
  for (const s of slots) {
    const u = s.unit();
    if (u) units.push(u);
  }
  // Conditional on the version read: a user's write in between re-plans the pass.
  if (step.service) units.push({ actions: [updateAction('service', step.service, ctx.service.version)] });
  return { units, wakeAt, stats };
}

/**
 * Several live tasks in one slot: keep the best task of the current spec (and
 * an outdated one beside it until it is RUNNING: a start-first update; or
 * whatever its state, `keepOld`: a canary not yet promoted), or the best
 * outdated one when none is current. Returns how many were stopped.
 */
function dedupe(ctx: PlanContext, s: SlotState, keepOld: boolean): number {
  const current = s.live.filter((t) => ctx.matcher.isCurrent(t));
  const outdated = s.live.filter((t) => !ctx.matcher.isCurrent(t));
  const keep = new Set<string>();
  if (current.length > 0) {
    const c = best(current);
    keep.add(c.id);
    if ((keepOld || c.status.state < TaskState.RUNNING) && outdated.length > 0) keep.add(best(outdated).id);
  } else {
    keep.add(best(outdated).id);
  }
  let n = 0;
  for (const t of [...s.live]) {
    if (keep.has(t.id)) continue;
    s.stop(t, ctx.matcher.isCurrent(t) ? 'duplicate task in its slot' : 'replaced by an updated task');
    n++;
  }
  return n;
}

/** What a pass did to one service, in the log (restarts in the restart supervisor's). */
export function logPlan(log: Logger, restartLog: Logger, service: Service, plan: ServicePlan): void {
  const { stats } = plan;
  const who = { service: service.spec.name, serviceId: service.id };
  if (stats.created || stats.stopped) log.info({ ...who, created: stats.created, shutDown: stats.stopped }, 'reconciled service');
  if (stats.exits || stats.restarts) restartLog.info({ ...who, ended: stats.exits, restarted: stats.restarts, waiting: stats.waiting }, 'restart policy applied');
  if (stats.emptyOnPurpose) restartLog.debug({ ...who, slots: stats.emptyOnPurpose }, 'slots left empty by the restart policy');
}
