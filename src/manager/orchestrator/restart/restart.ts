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
// - Restart delay: the replacement is created at task.updatedAt + delayMs
//   (the orchestrators set a timer for it).
// - Attempts: the restarts of the slot within windowMs before the end being
//   judged (0 = all), counted from the slot's history (a task whose
//   predecessor ended on its own is a restart) and from this leader's memory
//   (the reaper may have deleted old history); the larger count wins.
import type { Logger } from 'pino';
import { TaskState, isTerminal, type RestartPolicy, type Task } from '../../../api/objects.js';
import { byCreation, isUnhandledExit } from '../tasks.js';

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
    if (this.endedOnOwn.has(t.id)) return true;
    if (this.stopRequested.has(t.id)) return false;
    return t.status.state === TaskState.COMPLETE || t.status.state === TaskState.FAILED || t.status.state === TaskState.REJECTED;
  }

  /**
   * The verdict for a slot with no live task whose newest task `last` ended on
   * its own. `history` is the slot's tasks, oldest first.
   */
  decide(key: string, history: readonly Task[], last: Task, now: number): FillVerdict {
    const policy = last.spec.restartPolicy;
    if (policy.condition === 'none') return { kind: 'empty', reason: 'restart condition is none' };
    if (policy.condition === 'on-failure' && last.status.state === TaskState.COMPLETE && last.status.exitCode === 0) {
      return { kind: 'empty', reason: 'completed with exit code 0 (restart condition on-failure)' };
    }
    const anchor = last.updatedAt;
    if (policy.maxAttempts > 0) {
      const attempts = Math.max(this.countFromHistory(history, anchor, policy.windowMs), this.countFromMemory(key, anchor, policy.windowMs));
      if (attempts >= policy.maxAttempts) {
        return { kind: 'empty', reason: `restarted ${attempts} time(s)${policy.windowMs > 0 ? ` within ${policy.windowMs} ms` : ''}: maxAttempts ${policy.maxAttempts} reached` };
      }
    }
    const due = anchor + policy.delayMs;
    if (now < due) return { kind: 'wait', until: due, reason: 'restart delay' };
    return { kind: 'fill', restart: true, reason: 'restart policy' };
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
