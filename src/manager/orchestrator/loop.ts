// The machinery the orchestrator controllers share: one lock for all their
// passes (so that a pass always plans from a store that holds every write of
// the passes before it: two passes never both fill one slot), writes through
// the plan applier, re-planning on conflicts, watch-driven debounced passes, a
// slow safety pass and per-service wake-up timers.
import type { Logger } from 'pino';
import type { ControllerContext, LeaderController } from '../controller.js';
import { applyPlan, isConflict } from '../plan/apply.js';
import { fixedUnits, type Unit } from '../plan/unit.js';
import type { Service } from '../../api/objects.js';
import type { StoreEvent } from '../store/watch.js';
import type { ServicePlan } from './slots.js';

export interface OrchestratorOptions {
  /** Watch events are coalesced for this long before a pass (ms). Default 20. */
  debounceMs?: number;
  /** A full pass runs this often, whatever happened (ms). Default 30,000. */
  safetyIntervalMs?: number;
  /** At most this many actions per transaction. Default 2,000. */
  maxActionsPerTx?: number;
  /** A new task waits for the old one of its slot to stop for its stop grace period plus this (ms). Default 30,000. */
  stopMarginMs?: number;
  /** Conflicting writes are re-planned this many times in a row before backing off. Default 10. */
  maxRetries?: number;
  /** The back-off after that (ms). Default 1,000. */
  retryBackoffMs?: number;
}

export type ResolvedOptions = Required<OrchestratorOptions>;

export function resolveOptions(o: OrchestratorOptions = {}): ResolvedOptions {
  return {
    debounceMs: o.debounceMs ?? 20,
    safetyIntervalMs: o.safetyIntervalMs ?? 30_000,
    maxActionsPerTx: o.maxActionsPerTx ?? 2_000,
    stopMarginMs: o.stopMarginMs ?? 30_000,
    maxRetries: o.maxRetries ?? 10,
    retryBackoffMs: o.retryBackoffMs ?? 1_000,
  };
}

/** Runs async jobs one at a time, in order. */
export class Serial {
  private tail: Promise<void> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn);
    this.tail = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }
}

/** What a pass covers: every service, or the dirty ones. */
export interface Job {
  all: boolean;
  ids: Set<string>;
  /**
   * Services of `ids` of which only these replicated slots changed (a task of
   * the slot ended, say): a service of 100,000 replicas whose tasks end one
   * by one is planned slot by slot, not whole again for each (a pass over
   * every slot cost the leader a second, back to back). Absent: the whole
   * service (it changed itself, or a node did, or a timer woke it).
   */
  slots?: ReadonlyMap<string, ReadonlySet<number>>;
}

export interface Planned {
  units: Unit[];
  /** serviceId -> when to look at it again. */
  wake: Map<string, number>;
}

/** The controller interface the orchestrators implement: a LeaderController with a pass on demand. */
export interface OrchestratorController extends LeaderController {
  /** One full pass now (after any pass under way); resolves when its writes are done. */
  reconcile(): Promise<void>;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Transactions of one pass in flight at once (pipelined through Raft, like the scheduler's). */
export const MAX_TX_IN_FLIGHT = 8;

export abstract class ReconcileLoop implements OrchestratorController {
  abstract readonly name: string;
  private started = false;
  private halted = false;
  private unwatch?: () => void;
  private safety?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  /** Dirty services: the whole service ('all') or only some of its slots. */
  private readonly dirty = new Map<string, Set<number> | 'all'>();
  private dirtyAll = false;
  private readonly wakeups = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly inflight = new Set<Promise<void>>();
  private lastPassMs = 0;
  private passes = 0;
  private rekick = false;

  protected constructor(
    protected readonly ctx: ControllerContext,
    protected readonly serial: Serial,
    protected readonly options: ResolvedOptions,
    protected readonly log: Logger,
  ) {}

  /** Plan a pass from the store (synchronous: no write can land in between). */
  protected abstract plan(job: Job): Planned;

  /** The services a job is about, among those `mine` selects (this orchestrator's mode). */
  protected jobServices(job: Job, mine: (s: Service) => boolean): Service[] {
    const { store } = this.ctx;
    return job.all ? store.list('service', { where: mine }) : [...job.ids].map((id) => store.get('service', id)).filter((s): s is Service => s !== undefined && mine(s));
  }

  /** Plans each service, gathering the units and when to look at each again. */
  protected planEach(services: readonly Service[], planOne: (s: Service) => ServicePlan): Planned {
    const planned: Planned = { units: [], wake: new Map() };
    for (const service of services) {
      const p = planOne(service);
      // One by one, not push(...units): a spread of 100,000 arguments overflows the call stack.
      for (const u of p.units) planned.units.push(u);
      if (p.wakeAt !== undefined) planned.wake.set(service.id, p.wakeAt);
    }
    return planned;
  }

  /** React to a store event by marking services dirty (markDirty / markAll). Must be cheap and never throw. */
  protected abstract onEvent(event: StoreEvent): void;

  /** Called when a leader term starts, before the first pass. */
  protected onStart(): void {}

  /** Called when the controller stops (its term ended). */
  protected onStop(): void {}

  start(): void {
    if (this.started) return;
    this.started = true;
    this.halted = false;
    this.onStart();
    this.unwatch = this.ctx.store.watch((ev) => {
      try {
        this.onEvent(ev);
      } catch (err) {
        this.log.error({ err }, 'watch handler failed');
        this.markAll();
      }
    });
    this.safety = setInterval(() => this.markAll(), this.options.safetyIntervalMs);
    this.safety.unref();
    this.markAll(0);
    this.log.debug('started');
  }

  async stop(): Promise<void> {
    this.halted = true;
    this.started = false;
    this.unwatch?.();
    this.unwatch = undefined;
    if (this.safety) clearInterval(this.safety);
    if (this.debounce) clearTimeout(this.debounce);
    this.safety = this.debounce = undefined;
    for (const w of this.wakeups.values()) clearTimeout(w.timer);
    this.wakeups.clear();
    this.dirty.clear();
    this.dirtyAll = false;
    this.onStop();
    await Promise.allSettled([...this.inflight]);
    this.log.debug('stopped');
  }

  reconcile(): Promise<void> {
    return this.track(this.pass({ all: true, ids: new Set() }, true));
  }

  protected markDirty(serviceId: string, delay = this.nextDelay()): void {
    this.dirty.set(serviceId, 'all');
    this.kick(delay);
  }

  /** Only this slot of a replicated service needs a look (see Job.slots). */
  protected markSlotDirty(serviceId: string, slot: number): void {
    const d = this.dirty.get(serviceId);
    if (d === 'all') return this.kick(this.nextDelay());
    if (d) d.add(slot);
    else this.dirty.set(serviceId, new Set([slot]));
    this.kick(this.nextDelay());
  }

  protected markAll(delay = this.nextDelay()): void {
    this.dirtyAll = true;
    this.kick(delay);
  }

  /** The debounce, stretched after a long pass so that big clusters do not spin. */
  private nextDelay(): number {
    return Math.max(this.options.debounceMs, Math.min(1_000, this.lastPassMs));
  }

  private kick(delay: number): void {
    if (!this.started || this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      // One queued pass at a time: what turns dirty meanwhile waits for the next.
      if (this.passes > 0) {
        this.rekick = true;
        return;
      }
      const slots = new Map<string, ReadonlySet<number>>();
      for (const [id, d] of this.dirty) if (d !== 'all') slots.set(id, d);
      const job: Job = { all: this.dirtyAll, ids: new Set(this.dirty.keys()), slots };
      this.dirty.clear();
      this.dirtyAll = false;
      if (!job.all && job.ids.size === 0) return;
      void this.track(this.pass(job, false)).catch(() => undefined);
    }, delay);
  }

  private track(p: Promise<void>): Promise<void> {
    this.inflight.add(p);
    const done = (): void => {
      this.inflight.delete(p);
    };
    p.then(done, done);
    return p;
  }

  private async pass(job: Job, rethrow: boolean): Promise<void> {
    this.passes++;
    try {
      await this.passUnderLock(job, rethrow);
    } finally {
      this.passes--;
      if (this.passes === 0 && this.rekick) {
        this.rekick = false;
        this.kick(this.nextDelay());
      }
    }
  }

  private passUnderLock(job: Job, rethrow: boolean): Promise<void> {
    return this.serial.run(async () => {
      for (let attempt = 0; ; attempt++) {
        if (this.halted) return;
        const t0 = performance.now();
        let planned: Planned;
        try {
          planned = this.plan(job);
        } catch (err) {
          this.log.error({ err }, 'planning failed');
          if (rethrow) throw err;
          this.retryLater(job);
          return;
        }
        this.lastPassMs = performance.now() - t0;
        for (const [id, at] of planned.wake) this.wakeAt(id, at);
        if (planned.units.length === 0) return;
        const planMs = this.lastPassMs;
        const r = await applyPlan(planned.units, fixedUnits, {
          write: this.ctx.write,
          maxPerTx: this.options.maxActionsPerTx,
          inFlight: MAX_TX_IN_FLIGHT,
          // A conflict stops the pass: it is planned again from the store (below).
          onConflict: 'stop',
          halted: () => this.halted,
        });
        this.lastPassMs = performance.now() - t0;
        this.log.debug({ units: planned.units.length, transactions: r.transactions, planMs: Math.round(planMs), totalMs: Math.round(this.lastPassMs) }, 'pass written');
        if (r.error === undefined) return;
        if (this.halted) return;
        if (isConflict(r.error) && (attempt < this.options.maxRetries || r.transactions > 0)) {
          this.log.debug({ err: r.error, attempt }, 'write conflict: re-reading and retrying');
          continue;
        }
        this.log.warn({ err: r.error, attempt }, 'write failed: retrying later');
        this.retryLater(job);
        if (rethrow) throw r.error;
        return;
      }
    });
  }

  private retryLater(job: Job): void {
    if (!this.started) return;
    if (job.all) this.dirtyAll = true;
    for (const id of job.ids) this.dirty.set(id, 'all');
    this.kick(this.options.retryBackoffMs);
  }

  private wakeAt(serviceId: string, at: number): void {
    if (!this.started) return;
    const w = this.wakeups.get(serviceId);
    if (w && w.at <= at) return;
    if (w) clearTimeout(w.timer);
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - this.ctx.now()) + 1);
    const timer = setTimeout(() => {
      this.wakeups.delete(serviceId);
      this.markDirty(serviceId, 0);
    }, delay);
    timer.unref();
    this.wakeups.set(serviceId, { at, timer });
  }
}
