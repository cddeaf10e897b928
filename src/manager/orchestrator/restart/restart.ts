// The restart supervisor: applies a task's restart policy when the task ends.
//
// The orchestrators call it for every slot (a replicated service's slot, a
// global service's node) that has no live task. What it decides is derived
// from the slot's task history in the store, so that a new leader reaches the
// same verdict as the old one:
//
// - A task "ended on its own" when its observed state became terminal while
//   its desired state was still RUNNING. The orchestrators first set such a
//   task's desiredState to SHUTDOWN (this write is the restart timestamp's
//   anchor: task.updatedAt). Once that is done the store no longer says
//   which came first, so after a leader change the rule is: a stopped task
//   ended on its own when its observed state is COMPLETE, FAILED or REJECTED
//   (an agent reports SHUTDOWN for a task it was asked to stop; ORPHANED and
//   REMOVE are node loss and removal, not a task's own end). This leader's
//   own observations (which tasks it saw end while desired RUNNING, which
//   ones it asked to stop) take precedence over that rule.
// - Slot left empty on purpose: the slot's newest task ended on its own, runs
//   the service's current spec, and its restart policy says no (condition
//   none; on-failure and it COMPLETEd with exit code 0; maxAttempts restarts
//   already within the window). Nothing refills such a slot until the
//   service's spec changes (the newest task is then outdated and the slot is
//   filled with the new spec: `service update` re-runs finished tasks, as
//   `docker service update --force` does).
// - Restart delay, with crash-loop back-off (beyond Swarm, whose delay is
//   fixed: moby/swarmkit#1201): the decision is taken once, when the
//   orchestrator handles the task's end, and written on the task
//   (task.restart: attempt, delay, when the next attempt is due). Each
//   consecutive failure of a slot doubles the delay (delay, 2x, 4x, ...) up to
//   restartPolicy.maxDelayMs; a task that ran for max(10 s, maxDelayMs)
//   starts the count again. The replacement is created delayMs after the
//   decision, measured on this leader's clock (../leader-times.ts: a decision
//   an earlier leader took counts from this leader's term start).
// - Attempts: the restarts of the slot within windowMs before the end being
//   judged (0 = all), counted from the slot's history (a task whose
//   predecessor ended on its own is a restart) and from this leader's memory
//   (the reaper may have deleted old history); the larger count wins.
import type { Logger } from 'pino';
import { TaskState, isTerminal, type RestartDecision, type RestartPolicy, type Task } from '../../../api/objects.js';
import type { LeaderTimes } from '../leader-times.js';
import { byCreation, isUnhandledExit } from '../tasks.js';

/** A task that ran at least this long (or the policy's max delay, if longer) resets its slot's back-off. */
export const BACKOFF_RESET_MIN_MS = 10_000;

/** The delay before restart attempt `attempt` (1 = the first) under `policy`: delay x 2^(attempt-1), at most maxDelayMs. */
export function backoffDelay(policy: RestartPolicy, attempt: number): number {
  if (policy.maxDelayMs <= policy.delayMs || attempt <= 1) return policy.delayMs;
  // 2^40 x any delay is past any max delay: no need to compute further.
  const factor = 2 ** Math.min(attempt - 1, 40);
  return Math.min(policy.maxDelayMs, policy.delayMs * factor);
}

export type FillVerdict =
  | { kind: 'fill'; restart: boolean; reason: string }
  | { kind: 'wait'; until: number; reason: string }
  | { kind: 'empty'; reason: string };

/** The key of a slot: `${serviceId}/${slot}` (replicated) or `${serviceId}@${nodeId}` (global). */
export function slotKey(t: Pick<Task, 'serviceId' | 'slot' | 'nodeId'>): string {
  return t.slot > 0 ? `${t.serviceId}/${t.slot}` : `${t.serviceId}@${t.nodeId}`;
}

export class RestartSupervisor {
  /** Tasks this leader saw end while desired RUNNING. */
  private readonly endedOnOwn = new Set<string>();
  /** Tasks this leader asked to stop while they were live. */
  private readonly stopRequested = new Set<string>();
  /** Restart times per slot key, by this leader. */
  private readonly restarts = new Map<string, number[]>();

  constructor(readonly log: Logger) {}

  noteEndedOnOwn(taskId: string): void {
    this.endedOnOwn.add(taskId);
  }

  noteStopRequested(taskId: string): void {
    this.stopRequested.add(taskId);
  }

  noteRestart(key: string, at: number, policy: RestartPolicy): void {
    if (policy.maxAttempts === 0) return; // nothing to count against
    const times = this.restarts.get(key) ?? [];
    times.push(at);
    // Keep what a later verdict can still count.
    while (times.length > policy.maxAttempts + 1) times.shift();
    this.restarts.set(key, times);
  }

  /** A task was deleted: drop what this leader remembers about it. */
  forget(taskId: string): void {
    this.endedOnOwn.delete(taskId);
    this.stopRequested.delete(taskId);
  }

  clear(): void {
    this.endedOnOwn.clear();
    this.stopRequested.clear();
    this.restarts.clear();
  }

  /** Did this (non-live) task end on its own rather than because a manager stopped it? */
  endedOnItsOwn(t: Task): boolean {
    if (!isTerminal(t.status.state)) return false;
    if (isUnhandledExit(t)) return true;
    // Only a task that ended on its own gets a restart decision.
    if (t.restart !== undefined) return true;
    if (this.endedOnOwn.has(t.id)) return true;
    if (this.stopRequested.has(t.id)) return false;
    return t.status.state === TaskState.COMPLETE || t.status.state === TaskState.FAILED || t.status.state === TaskState.REJECTED;
  }

  /**
   * The restart decision for `last`, a task that ended on its own and is being
   * handled now; `history` is its slot's tasks, oldest first (`last` among them).
   */
  decideAtExit(key: string, history: readonly Task[], last: Task, now: number, times: LeaderTimes): RestartDecision {
    const policy = last.spec.restartPolicy;
    const none = (reason: string): RestartDecision => ({ attempt: 0, delayMs: 0, nextAt: 0, reason });
    if (policy.condition === 'none') return none('restart condition is none');
    if (policy.condition === 'on-failure' && last.status.state === TaskState.COMPLETE && last.status.exitCode === 0) {
      return none('completed with exit code 0 (restart condition on-failure)');
    }
    if (policy.maxAttempts > 0) {
      const attempts = Math.max(this.countFromHistory(history, now, policy.windowMs), this.countFromMemory(key, now, policy.windowMs));
      if (attempts >= policy.maxAttempts) {
        return none(`restarted ${attempts} time(s)${policy.windowMs > 0 ? ` within ${policy.windowMs} ms` : ''}: maxAttempts ${policy.maxAttempts} reached`);
      }
    }
    const attempt = this.consecutiveFailures(history, last, now, times);
    const delayMs = backoffDelay(policy, attempt);
    return { attempt, delayMs, nextAt: now + delayMs, reason: '' };
  }

  /**
   * The verdict for a slot with no live task whose newest task `last` ended on
   * its own. `history` is the slot's tasks, oldest first.
   */
  decide(key: string, history: readonly Task[], last: Task, now: number, times: LeaderTimes): FillVerdict {
    // A task an older version handled carries no decision: decide now, from this leader's term start.
    const d = last.restart ?? this.decideAtExit(key, history, last, now, times);
    if (d.reason !== '') return { kind: 'empty', reason: d.reason };
    const due = times.decidedAt(last) + d.delayMs;
    if (now < due) return { kind: 'wait', until: due, reason: d.attempt > 1 ? `restart back-off (attempt ${d.attempt})` : 'restart delay' };
    return { kind: 'fill', restart: true, reason: 'restart policy' };
  }

  /**
   * 1 + the failures of the slot just before `last` in a row: the task before
   * it ended on its own too (it carries a restart decision), unless `last` ran
   * long enough to count as healthy (then 1 again).
   */
  private consecutiveFailures(history: readonly Task[], last: Task, now: number, times: LeaderTimes): number {
    const policy = last.spec.restartPolicy;
    const since = times.runningSince(last);
    if (since !== undefined && now - since >= Math.max(BACKOFF_RESET_MIN_MS, policy.maxDelayMs)) return 1;
    let prev: Task | undefined;
    for (const t of history) {
      if (t.id === last.id || byCreation(t, last) > 0) continue;
      if (prev === undefined || byCreation(t, prev) > 0) prev = t;
    }
    return prev?.restart !== undefined && prev.restart.reason === '' ? prev.restart.attempt + 1 : 1;
  }

  private countFromHistory(history: readonly Task[], anchor: number, windowMs: number): number {
    const sorted = [...history].sort(byCreation);
    let n = 0;
    for (let i = 1; i < sorted.length; i++) {
      const t = sorted[i];
      if (windowMs > 0 && t.createdAt <= anchor - windowMs) continue;
      if (this.endedOnItsOwn(sorted[i - 1])) n++;
    }
    return n;
  }

  private countFromMemory(key: string, anchor: number, windowMs: number): number {
    const times = this.restarts.get(key);
    if (!times) return 0;
    return windowMs > 0 ? times.filter((at) => at > anchor - windowMs).length : times.length;
  }
}
