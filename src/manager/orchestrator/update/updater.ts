// The updater: rolling update of the tasks that run an outdated spec.
//
// A live task is outdated when its service's task template or endpoint
// changed since the task was created (see SpecMatcher: a scale-only update
// outdates nothing). Outdated tasks are replaced `updateConfig.parallelism` at
// a time (0 = all at once), in batches:
//
// - a batch is in flight while one of its slots has no RUNNING task of the
//   new spec yet: a new-spec task created since the update began
//   (service.updatedAt) that is not RUNNING, a slot whose old task is still
//   being stopped or replaced, a start-first slot whose new task just failed
//   and waits for its restart delay;
// - the next batch starts when none is in flight and `delayMs` has passed
//   since the last new-spec task of the update reached RUNNING;
// - stop-first: the old task gets desiredState SHUTDOWN; the orchestrator
//   creates the new task in the same slot once the old one has stopped (or at
//   once if it was not on a healthy node);
// - start-first: the new task is created in the same slot beside the old
//   one; the old one gets desiredState SHUTDOWN once the new one is RUNNING
//   (../slots.ts, dedupe).
//
// Everything is derived from the store, so a new leader carries on where the
// old one stopped.
//
// TODO: failureAction (pause | continue | rollback), monitorMs and
// maxFailureRatio are not implemented: a batch whose new tasks never reach
// RUNNING (crash loop, unschedulable) holds the update, as a paused update
// would, without recording it. Rollback (rollbackConfig) is not implemented.
import type { Logger } from 'pino';
import { TaskState } from '../../../api/objects.js';
import type { PlanContext, SlotState, UpdatePlanner } from '../slots.js';
import { isLive, newest } from '../tasks.js';

export class Updater implements UpdatePlanner {
  /** Services with outdated tasks at their last pass (their tasks reaching RUNNING matter). */
  private readonly updating = new Set<string>();

  constructor(readonly log: Logger) {}

  /** Is a rolling update of this service under way (as of its last pass)? */
  isUpdating(serviceId: string): boolean {
    return this.updating.has(serviceId);
  }

  forget(serviceId: string): void {
    this.updating.delete(serviceId);
  }

  clear(): void {
    this.updating.clear();
  }

  plan(ctx: PlanContext, slots: SlotState[]): number | undefined {
    const { service, matcher, now } = ctx;
    const cfg = service.spec.updateConfig;
    const outdated = slots.filter((s) => s.wanted && s.canCreate && s.live.length === 1 && !matcher.isCurrent(s.live[0]));
    if (outdated.length === 0) {
      if (this.updating.delete(service.id)) this.log.info({ service: service.spec.name, serviceId: service.id, version: service.version }, 'rolling update complete');
      return undefined;
    }
    if (!this.updating.has(service.id)) {
      this.updating.add(service.id);
      this.log.info({ service: service.spec.name, serviceId: service.id, version: service.version, outdated: outdated.length, parallelism: cfg.parallelism, delayMs: cfg.delayMs, order: cfg.order }, 'rolling update');
    }
    const startedAt = service.updatedAt;
    let wakeAt: number | undefined;
    let inFlight = 0;
    let lastRunning: number | undefined;
    const busy = new Set<SlotState>();
    for (const s of slots) {
      if (!s.wanted) continue;
      const f = this.inFlight(ctx, s, startedAt);
      if (f.inFlight) {
        inFlight++;
        busy.add(s);
      }
      if (f.until !== undefined) wakeAt = wakeAt === undefined ? f.until : Math.min(wakeAt, f.until);
      for (const t of s.live) {
        if (t.status.state === TaskState.RUNNING && t.createdAt >= startedAt && matcher.isCurrent(t)) {
          lastRunning = lastRunning === undefined ? t.status.timestamp : Math.max(lastRunning, t.status.timestamp);
        }
      }
    }
    const candidates = outdated.filter((s) => !busy.has(s)).sort(updateOrder);
    let batch: SlotState[];
    if (cfg.parallelism === 0) {
      batch = candidates;
    } else {
      if (inFlight > 0) return wakeAt;
      if (lastRunning !== undefined && now < lastRunning + cfg.delayMs) return lastRunning + cfg.delayMs;
      batch = candidates.slice(0, cfg.parallelism);
    }
    if (batch.length === 0) return wakeAt;
    for (const s of batch) {
      if (cfg.order === 'start-first') s.create();
      else s.stop(s.live[0], `updating to service version ${service.version}`);
    }
    this.log.info({ service: service.spec.name, serviceId: service.id, batch: batch.length, remaining: outdated.length - batch.length, order: cfg.order }, 'update batch started');
    return wakeAt;
  }

  /** Is this slot part of the batch in flight? (and when to look again, for a timed wait) */
  private inFlight(ctx: PlanContext, s: SlotState, startedAt: number): { inFlight: boolean; until?: number } {
    const { matcher } = ctx;
    // A new-spec task of this update that is not RUNNING yet (a start-first pair included).
    if (s.live.some((t) => t.status.state < TaskState.RUNNING && t.createdAt >= startedAt && matcher.isCurrent(t))) return { inFlight: true };
    if (s.live.length === 0) {
      if (!s.canCreate) return { inFlight: false };
      const last = newest(s.tasks);
      // An old task being stopped or replaced (unless the slot stays empty on purpose).
      if (last !== undefined && !matcher.isCurrent(last)) {
        const v = s.verdict();
        return v.kind === 'empty' ? { inFlight: false } : { inFlight: true, until: v.kind === 'wait' ? v.until : undefined };
      }
      return { inFlight: false };
    }
    // Start-first: the new task ended; the old one still runs; wait for the restart delay.
    if (s.live.length === 1 && !matcher.isCurrent(s.live[0])) {
      const last = newest(s.tasks.filter((t) => !isLive(t)));
      if (last !== undefined && last.createdAt >= startedAt && matcher.isCurrent(last) && ctx.restart.endedOnItsOwn(last)) {
        const until = last.updatedAt + last.spec.restartPolicy.delayMs;
        if (ctx.now < until) return { inFlight: true, until };
      }
    }
    return { inFlight: false };
  }
}

/** Tasks that are not serving (not RUNNING) go first, then by slot / node. */
function updateOrder(a: SlotState, b: SlotState): number {
  const ar = a.live[0].status.state === TaskState.RUNNING ? 1 : 0;
  const br = b.live[0].status.state === TaskState.RUNNING ? 1 : 0;
  if (ar !== br) return ar - br;
  if (a.input.slot !== b.input.slot) return a.input.slot - b.input.slot;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}
