// The updater: the rolling update of a service's outdated tasks, its failure
// action, rollback and canaries, as Swarm's (moby/swarmkit
// manager/orchestrator/update/updater.go), decided pass by pass from the store
// and this leader's own observations (../leader-times.ts), so that a new
// leader goes on where the old one stopped.
//
// - The update status lives in the store (service.updateStatus): an update
//   starts (updating, "update in progress") when a pass finds outdated slots
//   and no update under way; it records the service's specVersion it started
//   at (the write that changed the spec), and a task of the current spec with
//   specVersion >= that belongs to the update (a later write to the service, a
//   label or a scale, does not move it: the pacing is not disturbed).
// - Window: at most `parallelism` slots (0 = all) are in flight at once. A
//   slot is in flight from the moment the update touches it (its old task
//   stopped, stop-first; its new task created beside the old one,
//   start-first) until its new task is RUNNING (the agent reports RUNNING
//   only once a health-checked container is healthy), or until its new task
//   has ended (a failure: counted, see below; with failure action continue
//   the next slot goes on, as in Swarm where a FAILED task "reached
//   RUNNING"). A slot starts `delay` after the last slot finished.
// - Failures: a task of the update that ends on its own before RUNNING, or
//   within `monitor` after this leader saw it RUNNING, is marked
//   task.updateFailure when its end is handled (once: slots.ts). When the
//   marked tasks / wanted slots exceed maxFailureRatio, the failure action
//   runs: pause (paused, no new slot; the old tasks not yet replaced keep
//   running), continue (nothing), rollback (spec <- previousSpec, status
//   rollback_started; a rollback that fails pauses, rollback_paused, and is
//   never rolled back). Messages are Swarm's.
// - After the last slot, one more monitor window: then completed ("update
//   completed") or rollback_completed ("rollback completed").
// - A paused update stays paused until the spec changes (controlapi resets
//   the status; a paused update then resumes on the new spec).
// - Beyond Swarm: progressDeadlineMs (an update in which no slot finishes for
//   that long runs the failure action: moby/moby#35564, docker/cli#627; the
//   update delay and a canary's monitor window do not count), and
//   canaries: `canary` tasks of the new spec start beside old ones (their
//   old tasks keep running: slots.ts dedupe); once every canary has run for
//   the monitor window the update waits for `service promote` (canary
//   awaiting_promotion) or promotes itself (autoPromote); failing canaries
//   run the failure action before any old task was touched.
// - A rollback uses the rollback config of the spec it returns to (as
//   SwarmKit: the service's spec after the swap).
//
// Everything here is a function of the store, the leader's observations and
// `now`: no timer state, no memory of an update in progress.
import type { Logger } from 'pino';
import { TaskState, type Service, type Task, type UpdateConfig, type UpdateStatus } from '../../../api/objects.js';
import { durationText } from '../../../api/validate.js';
import type { PlanContext, SlotState, UpdatePlanner, UpdateStep } from '../slots.js';
import { isLive, newest } from '../tasks.js';

/** Is an update (or rollback) of this service running, by its stored status? */
export function updateUnderWay(service: Service): boolean {
  const s = service.updateStatus?.state;
  return s === 'updating' || s === 'rollback_started';
}

const isRollback = (st: UpdateStatus | undefined): boolean => st?.state === 'rollback_started' || st?.state === 'rollback_paused';

/** The config the update runs with: the rollback config while rolling back. */
export function activeConfig(service: Service): UpdateConfig {
  return isRollback(service.updateStatus) ? service.spec.rollbackConfig : service.spec.updateConfig;
}

/** In the canary phase (canaries run beside old tasks, not yet promoted)? */
export function inCanaryPhase(service: Service): boolean {
  const st = service.updateStatus;
  return st !== undefined && !isRollback(st) && (st.canary === 'deploying' || st.canary === 'awaiting_promotion');
}

/** Where one slot stands in the update. */
type SlotPhase = 'candidate' | 'in-flight' | 'done' | 'idle';

export class Updater implements UpdatePlanner {
  constructor(readonly log: Logger) {}

  keepsOldBeside(service: Service): boolean {
    return inCanaryPhase(service);
  }

  isFailure(ctx: PlanContext, t: Task, history: readonly Task[]): boolean {
    const { service, matcher, now, times } = ctx;
    const st = service.updateStatus;
    if (!st || !updateUnderWay(service)) return false;
    const belongs = (x: Task): boolean => x.specVersion >= st.startVersion && matcher.isCurrent(x);
    if (!belongs(t) || !takesPart(history, belongs)) return false;
    const since = times.runningSince(t);
    // Never seen RUNNING by this leader: ended before RUNNING, or its RUNNING is older than this term (conservative).
    return since === undefined || now - since <= activeConfig(service).monitorMs;
  }

  plan(ctx: PlanContext, slots: SlotState[]): UpdateStep {
    const { service, matcher, now, times } = ctx;
    const stored = service.updateStatus;
    if (stored?.state === 'paused' || stored?.state === 'rollback_paused') return {};
    const wanted = slots.filter((s) => s.wanted);
    const belongs = (t: Task, st: UpdateStatus): boolean => t.specVersion >= st.startVersion && matcher.isCurrent(t);
    const hasOld = (s: SlotState): boolean => s.live.some((t) => !matcher.isCurrent(t));
    const anyOutdated = wanted.some((s) => s.canCreate && hasOld(s));

    let st = stored;
    let started = false;
    if (!st || !updateUnderWay(service)) {
      if (!anyOutdated) return {};
      const cfg = service.spec.updateConfig;
      st = { state: 'updating', startedAt: now, completedAt: 0, message: 'update in progress', startVersion: service.specVersion, canary: cfg.canary > 0 ? 'deploying' : 'none' };
      started = true;
      this.log.info({ service: service.spec.name, serviceId: service.id, version: service.version, parallelism: cfg.parallelism, order: cfg.order, canary: cfg.canary }, 'rolling update started');
    }
    const status = st;
    const cfg = isRollback(status) ? service.spec.rollbackConfig : service.spec.updateConfig;
    const write = (next: UpdateStatus, extra: Partial<Service> = {}): Service => ({ ...service, ...extra, updateStatus: next });

    // Where each wanted slot stands.
    const phases = new Map<SlotState, SlotPhase>();
    let lastDone: number | undefined;
    let wakeAt: number | undefined;
    const wake = (at: number): void => {
      wakeAt = wakeAt === undefined ? at : Math.min(wakeAt, at);
    };
    for (const s of wanted) {
      const p = this.phase(ctx, s, status, belongs, hasOld, wake);
      phases.set(s, p);
      if (p === 'idle') continue;
      for (const t of s.live) {
        if (t.status.state !== TaskState.RUNNING || !belongs(t, status)) continue;
        const since = times.runningSince(t);
        if (since !== undefined) lastDone = lastDone === undefined ? since : Math.max(lastDone, since);
      }
    }

    // Failures recorded on the tasks of the update (by this leader or an earlier one).
    let failures = 0;
    let lastFailed: Task | undefined;
    for (const s of slots) {
      for (const t of s.tasks) {
        if (!t.updateFailure || !belongs(t, status)) continue;
        failures++;
        if (lastFailed === undefined || t.updatedAt > lastFailed.updatedAt) lastFailed = t;
      }
    }
    if (cfg.failureAction !== 'continue' && lastFailed !== undefined && failures / Math.max(1, wanted.length) > cfg.maxFailureRatio) {
      return { service: this.failureAction(service, status, cfg, now, `due to failure or early termination of task ${lastFailed.id}`) };
    }

    const progress = Math.max(times.progressAt(service.id, status, now), lastDone ?? -Infinity);
    const inFlight = [...phases.values()].filter((p) => p === 'in-flight').length;
    const candidates = wanted.filter((s) => phases.get(s) === 'candidate').sort(updateOrder);

    if (candidates.length === 0 && inFlight === 0) {
      if (started) return {};
      // The last monitor window: every task of the update has run for `monitor`.
      const until = (lastDone ?? progress) + cfg.monitorMs;
      if (now < until) return { wakeAt: until };
      const done: UpdateStatus = isRollback(status)
        ? { ...status, state: 'rollback_completed', completedAt: now, message: 'rollback completed' }
        : { ...status, state: 'completed', completedAt: now, message: 'update completed', canary: status.canary === 'none' ? 'none' : 'promoted' };
      this.log.info({ service: service.spec.name, serviceId: service.id, state: done.state }, done.message);
      return { service: write(done) };
    }

    // The deadline runs only while a slot of the update waits for a task to become RUNNING, from the later of when
    // this leader first saw the update so and the end of the update delay after the last task that did: the delay
    // itself and a canary's monitor window are the update waiting on purpose, not failing to progress.
    const stuck = wanted.some((s) => phases.get(s) === 'in-flight' && !s.live.some((t) => belongs(t, status) && t.status.state === TaskState.RUNNING));
    if (cfg.progressDeadlineMs > 0 && cfg.failureAction !== 'continue' && status.canary !== 'awaiting_promotion' && stuck) {
      const since = Math.max(times.progressAt(service.id, status, now), lastDone === undefined ? -Infinity : lastDone + cfg.delayMs);
      const deadline = since + cfg.progressDeadlineMs;
      if (now >= deadline) {
        return { service: this.failureAction(service, status, cfg, now, `because no task of it became RUNNING within its progress deadline of ${durationText(cfg.progressDeadlineMs)}`) };
      }
      wake(deadline);
    }

    const out = (next?: UpdateStatus): UpdateStep => {
      const changed = next ?? (started ? status : undefined);
      return changed ? { wakeAt, service: write(changed) } : { wakeAt };
    };

    if (inCanaryPhase(write(status))) return out(this.canaries(ctx, wanted, candidates, phases, status, cfg, wake));

    // The window: up to `parallelism` slots in flight, the next `delay` after the last one finished.
    const room = cfg.parallelism === 0 ? candidates.length : cfg.parallelism - inFlight;
    if (room <= 0 || candidates.length === 0) return out();
    if (cfg.delayMs > 0 && lastDone !== undefined && now < lastDone + cfg.delayMs) {
      wake(lastDone + cfg.delayMs);
      return out();
    }
    const batch = candidates.slice(0, room);
    for (const s of batch) this.touch(ctx, s, cfg.order === 'start-first', `updating to service version ${service.specVersion}`);
    this.log.info({ service: service.spec.name, serviceId: service.id, slots: batch.length, inFlight, remaining: candidates.length - batch.length, order: cfg.order }, 'update: next slots');
    return out();
  }

  /** The canary phase: start the canaries, watch them, then wait for (or make) the promotion. */
  private canaries(
    ctx: PlanContext,
    wanted: SlotState[],
    candidates: SlotState[],
    phases: ReadonlyMap<SlotState, SlotPhase>,
    status: UpdateStatus,
    cfg: UpdateConfig,
    wake: (at: number) => void,
  ): UpdateStatus | undefined {
    const { service, now, times } = ctx;
    const belongs = (t: Task): boolean => t.specVersion >= status.startVersion && ctx.matcher.isCurrent(t);
    // A slot that has had a canary keeps it (a failed canary is not replaced elsewhere).
    const touched = wanted.filter((s) => s.tasks.some(belongs) && takesPart(s.tasks, belongs));
    const missing = Math.max(0, cfg.canary - touched.length);
    const fresh = candidates.filter((s) => !touched.includes(s)).slice(0, missing);
    // A canary slot is a candidate again once its ended canary's restart delay is over (the fill of an empty slot
    // does not see it: its old task still runs): its canary is restarted there, beside the old task.
    const again = candidates.filter((s) => touched.includes(s));
    for (const s of [...fresh, ...again]) this.touch(ctx, s, true, 'canary');
    if (missing > 0 || again.length > 0) return undefined;
    let healthyAt = -Infinity;
    for (const s of touched) {
      // Its canary ended and its restart policy starts no other (condition none, attempts used up): the slot is
      // through, as any slot of an update whose task ended on its own. Within its monitor window that end was
      // counted as a failure, and the failure action has run already if the failures were too many; after it, the
      // canary had run healthy for the window. Either way nothing more comes from this slot to wait for.
      if (phases.get(s) === 'done' && !s.live.some(belongs)) continue;
      const c = s.live.find((t) => belongs(t) && t.status.state === TaskState.RUNNING);
      const since = c ? times.runningSince(c) : undefined;
      if (since === undefined) return undefined;
      healthyAt = Math.max(healthyAt, since + cfg.monitorMs);
    }
    if (now < healthyAt) {
      wake(healthyAt);
      return undefined;
    }
    if (cfg.autoPromote) {
      this.log.info({ service: service.spec.name, serviceId: service.id, canaries: touched.length }, 'canaries healthy: promoted automatically');
      return { ...status, canary: 'promoted', message: 'update in progress: canaries promoted' };
    }
    if (status.canary === 'awaiting_promotion') return undefined;
    this.log.info({ service: service.spec.name, serviceId: service.id, canaries: touched.length }, 'canaries healthy: awaiting promotion');
    return { ...status, canary: 'awaiting_promotion', message: `canaries healthy: promote them with \`flotilla service promote ${service.spec.name}\`, or roll back` };
  }

  /** Start the update of one slot: its new task beside the old one (start-first, canary), or its old task stopped. */
  private touch(ctx: PlanContext, s: SlotState, startFirst: boolean, reason: string): void {
    if (startFirst) s.create();
    else for (const t of s.live.filter((x) => !ctx.matcher.isCurrent(x))) s.stop(t, reason);
  }

  private phase(
    ctx: PlanContext,
    s: SlotState,
    status: UpdateStatus,
    belongs: (t: Task, st: UpdateStatus) => boolean,
    hasOld: (s: SlotState) => boolean,
    wake: (at: number) => void,
  ): SlotPhase {
    const { matcher } = ctx;
    // A slot that never ran anything older than the update (a scale-up, a new node of a global service) is not
    // part of it, as in Swarm: its tasks take no room in the window, move no delay and are no failures of it.
    if (!takesPart(s.tasks, (t) => belongs(t, status))) return 'idle';
    const mine = s.tasks.filter((t) => belongs(t, status));
    const liveMine = s.live.filter((t) => belongs(t, status));
    const old = hasOld(s);
    // A task of the update ended here on its own (counted as a failure, or not once past its monitor window): as in
    // Swarm, where a FAILED task has "reached RUNNING", the slot is through; its restarts are the restart policy's.
    const ended = mine.filter((t) => !isLive(t) && ctx.restart.endedOnItsOwn(t));
    if (ended.length > 0 && !old) return 'done';
    if (ended.length > 0 && liveMine.length === 0) {
      // Start-first or canary: the old task still runs beside a new one that ended: the new one is tried again
      // (a candidate) once its restart delay has passed.
      const last = newest(ended);
      if (last !== undefined) {
        const v = ctx.restart.decide(s.key, s.tasks, last, ctx.now, ctx.times);
        if (v.kind === 'empty') return 'done';
        if (v.kind === 'wait') {
          wake(v.until);
          return 'in-flight';
        }
      }
      return 'candidate';
    }
    if (liveMine.length > 0) {
      if (!old && liveMine.some((t) => t.status.state === TaskState.RUNNING)) return 'done';
      // Not RUNNING yet; or RUNNING beside the old task (a canary, or start-first until dedupe stops the old one).
      return 'in-flight';
    }
    if (s.live.length === 0) {
      if (!s.canCreate) return 'idle';
      const last = newest(s.tasks);
      // An old task being stopped or replaced (unless the slot stays empty on purpose): in flight.
      if (last !== undefined && !matcher.isCurrent(last)) {
        const v = s.verdict();
        if (v.kind === 'empty') return 'idle';
        if (v.kind === 'wait') wake(v.until);
        return 'in-flight';
      }
      return 'idle';
    }
    return s.canCreate && old ? 'candidate' : 'idle';
  }

  /** The failure action: pause, or roll back to the previous spec (a rollback that fails pauses). */
  private failureAction(service: Service, status: UpdateStatus, cfg: UpdateConfig, now: number, why: string): Service {
    const rollingBack = isRollback(status);
    const who = { service: service.spec.name, serviceId: service.id };
    if (cfg.failureAction === 'rollback' && !rollingBack && service.previousSpec) {
      const message = `update rolled back ${why}`;
      this.log.warn({ ...who }, message);
      return {
        ...service,
        spec: service.previousSpec,
        previousSpec: undefined,
        updateStatus: { state: 'rollback_started', startedAt: now, completedAt: 0, message, startVersion: service.version, canary: 'none' },
      };
    }
    const noPrevious = cfg.failureAction === 'rollback' && !rollingBack ? ': no previous spec to roll back to' : '';
    const message = `${rollingBack ? 'rollback' : 'update'} paused ${why}${noPrevious}`;
    this.log.warn({ ...who }, message);
    return { ...service, updateStatus: { ...status, state: rollingBack ? 'rollback_paused' : 'paused', message } };
  }
}

/** Does a slot with this history take part in the update: has it had a task that is not of the update? */
function takesPart(history: readonly Task[], belongs: (t: Task) => boolean): boolean {
  return history.some((t) => !belongs(t));
}

/** Tasks that are not serving (not RUNNING) go first, then by slot / node. */
function updateOrder(a: SlotState, b: SlotState): number {
  const run = (s: SlotState): number => (s.live.some((t) => t.status.state === TaskState.RUNNING) ? 1 : 0);
  const ar = run(a);
  const br = run(b);
  if (ar !== br) return ar - br;
  if (a.input.slot !== b.input.slot) return a.input.slot - b.input.slot;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}
