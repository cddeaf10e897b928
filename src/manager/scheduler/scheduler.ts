// The scheduler: a leader-only controller that gives every PENDING task meant
// to run a node (ASSIGNED there), or leaves it PENDING with the reason.
//
// It keeps a ClusterView current from the store's watch events and runs a
// pass debounced after the changes that matter (a task becomes pending,
// capacity is freed, a node changes), plus on a slow timer as a safety net
// while tasks wait. A pass plans every pending task at once (planner.ts) and
// commits the result through the plan applier (../plan) in one transaction; a
// larger pass is split into transactions of at most maxTasksPerTx tasks, since
// each transaction is one Raft entry and entries must stay a reasonable size
// (a few MB at most).
// Every write is conditional on the version the pass read, so a task is never
// assigned twice nor overwritten after it changed (e.g. its desired state
// moved past RUNNING): such a conflict re-runs the pass against the new state.
import { pino, type Logger } from 'pino';
import type { ControllerContext, LeaderController } from '../controller.js';
import { applyPlan } from '../plan/apply.js';
import { assignAction, type Action } from '../store/store.js';
import { TaskState } from '../../api/objects.js';
import type { StoreEvent } from '../store/watch.js';
import { planPass, type PlannedWrite } from './planner.js';
import { ClusterView } from './view.js';

export interface SchedulerOptions {
  /** A pass runs this long after the first change that calls for one (default 25 ms). */
  debounceMs?: number;
  /** Tasks per transaction at most; a larger pass is split (default 2,000). */
  maxTasksPerTx?: number;
  /** While tasks wait, a pass at least this often (default 5,000 ms). */
  intervalMs?: number;
}

export const DEFAULT_DEBOUNCE_MS = 25;
export const DEFAULT_MAX_TASKS_PER_TX = 2_000;
export const DEFAULT_INTERVAL_MS = 5_000;
/** Transactions of one pass in flight at once (pipelined through Raft). */
const MAX_IN_FLIGHT = 8;
/** Immediate re-runs of a pass after conflicts before leaving it to the next trigger. */
const MAX_ATTEMPTS = 5;

type Outcome = 'done' | 'rerun' | 'failed';

export class Scheduler implements LeaderController {
  readonly name = 'scheduler';
  private readonly view = new ClusterView();
  private readonly log: Logger;
  private readonly debounceMs: number;
  private readonly maxTasksPerTx: number;
  private readonly intervalMs: number;
  private unwatch: (() => void) | undefined;
  private running = false;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private interval: ReturnType<typeof setInterval> | undefined;
  /** The last pass (queued or running); passes never overlap. */
  private tail: Promise<unknown> = Promise.resolve();
  private queued: Promise<number> | undefined;

  constructor(
    private readonly ctx: ControllerContext,
    opts: SchedulerOptions = {},
  ) {
    this.log = (ctx.logger ?? pino({ level: 'silent' })).child({ component: 'scheduler' });
    this.debounceMs = Math.max(0, opts.debounceMs ?? DEFAULT_DEBOUNCE_MS);
    this.maxTasksPerTx = Math.max(1, Math.floor(opts.maxTasksPerTx ?? DEFAULT_MAX_TASKS_PER_TX));
    this.intervalMs = Math.max(1, opts.intervalMs ?? DEFAULT_INTERVAL_MS);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopped = false;
    this.unwatch = this.ctx.store.watch({ kind: ['node', 'task'] }, (ev) => this.onEvent(ev));
    this.view.load(this.ctx.store);
    this.interval = setInterval(() => {
      if (this.view.pending.size > 0) this.trigger();
    }, this.intervalMs);
    this.interval.unref();
    this.log.debug({ pending: this.view.pending.size, nodes: this.view.nodes().length }, 'scheduler started');
    this.trigger();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.interval !== undefined) clearInterval(this.interval);
    this.timer = this.interval = undefined;
    this.unwatch?.();
    this.unwatch = undefined;
    await this.tail;
  }

  /**
   * Run one pass now (after the one in progress, if any); resolves with the
   * number of tasks assigned. Works without start() too (it then reads the
   * whole store each pass).
   */
  pass(): Promise<number> {
    if (this.queued !== undefined) return this.queued;
    const p = this.tail.then(() => {
      this.queued = undefined;
      return this.runPass();
    });
    this.queued = p;
    this.tail = p.catch(() => 0);
    return p;
  }

  // -------------------------------------------------------------------------

  private trigger(): void {
    if (!this.running || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.pass();
    }, this.debounceMs);
  }

  private onEvent(ev: StoreEvent): void {
    if (ev.op === 'restored') {
      this.view.load(this.ctx.store);
      this.trigger();
      return;
    }
    if (ev.kind === 'node') {
      this.view.setNode(ev.object.id, ev.op === 'delete' ? undefined : ev.object);
      if (this.view.pending.size > 0) this.trigger();
      return;
    }
    if (ev.kind !== 'task') return;
    const t = ev.object;
    const change = this.view.setTask(t.id, ev.op === 'delete' ? undefined : t);
    if (this.view.pending.size === 0) return;
    // A pending task that only had its status rewritten (e.g. our own "no
    // suitable node") calls for no new pass: nothing that placement reads changed.
    const was = change.wasPending;
    const fresh = change.pending && (was === undefined || was.nodeId !== t.nodeId || was.specVersion !== t.specVersion);
    if (fresh || change.freed) this.trigger();
  }

  private async runPass(): Promise<number> {
    let assigned = 0;
    try {
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        if (this.stopped) return assigned;
        const r = await this.passOnce();
        assigned += r.assigned;
        if (r.outcome !== 'rerun') return assigned;
        this.log.debug({ attempt, assigned }, 'tasks changed while scheduling; re-running the pass');
      }
      this.trigger();
    } catch (err) {
      this.log.error({ err }, 'scheduling pass failed');
    }
    return assigned;
  }

  private async passOnce(): Promise<{ assigned: number; outcome: Outcome }> {
    if (this.unwatch === undefined) this.view.load(this.ctx.store); // not watching: read everything afresh
    const started = performance.now();
    const plan = planPass(this.view, this.ctx.now());
    const planMs = performance.now() - started;
    const writes = plan.assignments.length === 0 ? plan.unschedulable : plan.assignments.concat(plan.unschedulable);
    if (writes.length === 0) return { assigned: 0, outcome: 'done' };
    try {
      const r = await this.commit(writes);
      this.log.debug(
        { assigned: r.assigned, waiting: plan.waiting, statusWrites: plan.unschedulable.length, planMs: Math.round(planMs), totalMs: Math.round(performance.now() - started), outcome: r.outcome },
        'scheduling pass',
      );
      return r;
    } finally {
      // Placements that did not commit leave the view; committed ones are already there from the store's events.
      this.view.resync(this.ctx.store, plan.assignments.map((w) => w.read.id));
    }
  }

  /** Write the pass: chunks of maxTasksPerTx, a few in flight, each action conditional on the version read. */
  private async commit(writes: readonly PlannedWrite[]): Promise<{ assigned: number; outcome: Outcome }> {
    let assigned = 0;
    const r = await applyPlan(
      writes,
      {
        emit: this.emit,
        committed: (w) => {
          if (w.next.status.state === TaskState.ASSIGNED) assigned++;
        },
      },
      // A conflict leaves the other chunks going: the pass then re-runs against the new state (runPass).
      { write: this.ctx.write, maxPerTx: this.maxTasksPerTx, inFlight: MAX_IN_FLIGHT, onConflict: 'skip', halted: () => this.stopped },
    );
    if (r.error !== undefined) {
      this.log.warn({ err: r.error, tasks: r.failedActions }, 'could not write scheduling decisions; will retry');
      return { assigned, outcome: 'failed' };
    }
    // A task changed since the pass read it (dropped, or refused by the store): decide again.
    return { assigned, outcome: r.dropped > 0 || r.conflicts > 0 ? 'rerun' : 'done' };
  }

  /** A planned write as it goes out: conditional on the version the pass read, or dropped when the task changed since. */
  private readonly emit = (w: PlannedWrite, tx: Action[]): boolean => {
    const current = this.ctx.store.get('task', w.read.id);
    if (current === undefined || current.version !== w.read.version) return false;
    tx.push(assignAction(w.next, w.read.version));
    return true;
  };
}
