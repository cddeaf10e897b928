// What the leader itself saw, and when, by its own clock: the only times the
// update and restart decisions measure durations with.
//
// Timestamps in the store come from other machines (a task's status.timestamp
// is its agent's clock) or from other leaders (an object's updatedAt was set
// by whichever manager led when it was written). Comparing either with this
// leader's `now` mixes clocks: a skew of minutes would end a monitor window,
// an update delay or a restart delay early. So the orchestrators measure
// every duration from moments this leader observed:
//
// - runningSince(task): when this leader saw the task RUNNING (its watch event),
//   or the start of this leader's term for a task that was RUNNING before;
// - decidedAt(task): when this leader decided the restart of a task that ended
//   (the restart delay counts from it), or the term start for a decision an
//   earlier leader made;
// - progressAt(service): when this leader first saw the service's update in its
//   current state (the progress deadline counts from it, or from the last task
//   of the update that became RUNNING).
//
// A new leader therefore waits at least as long as the old one would have
// (never less): the conservative side for every decision here.
import { TaskState, type Task, type UpdateStatus } from '../../api/objects.js';

export class LeaderTimes {
  private termStart = 0;
  private begun = false;
  private users = 0;
  private readonly running = new Map<string, number>();
  private readonly decided = new Map<string, number>();
  private readonly progress = new Map<string, { key: string; at: number }>();

  /**
   * An orchestrator starts (both start when a leader term does): the first
   * one starts the term's memory; `tasks` are those in the store.
   */
  acquire(now: number, tasks: () => Iterable<Task>): void {
    if (this.users++ === 0) this.start(now, tasks());
  }

  /** An orchestrator stops; the last one forgets the term. */
  release(): void {
    this.users = Math.max(0, this.users - 1);
    if (this.users === 0) this.begun = false;
  }

  /**
   * A planning pass looks at `tasks` at `now`: the term starts now if no
   * orchestrator started it (a pass run on its own, as tests do), and a task
   * seen RUNNING for the first time is noted (the watch notes it sooner).
   */
  observe(now: number, tasks: readonly Task[]): void {
    if (!this.begun) this.start(now);
    for (const t of tasks) this.noteTask(t, now);
  }

  /** A leader term starts: forget what an earlier term saw; tasks RUNNING now count from `now`. */
  start(now: number, tasks: Iterable<Task> = []): void {
    this.termStart = now;
    this.begun = true;
    this.running.clear();
    this.decided.clear();
    this.progress.clear();
    for (const t of tasks) if (t.status.state === TaskState.RUNNING) this.running.set(t.id, now);
  }

  /** A task was created or changed (the orchestrators' watch): note when it was first seen RUNNING. */
  noteTask(t: Task, now: number): void {
    if (t.status.state === TaskState.RUNNING && !this.running.has(t.id)) this.running.set(t.id, now);
  }

  /** This leader decided the restart of `taskId` at `now` (once the decision is written). */
  noteDecided(taskId: string, now: number): void {
    this.decided.set(taskId, now);
  }

  /** A task was deleted. */
  forget(taskId: string): void {
    this.running.delete(taskId);
    this.decided.delete(taskId);
  }

  forgetService(serviceId: string): void {
    this.progress.delete(serviceId);
  }

  /**
   * Since when the task has been RUNNING, by this leader's clock, if it has
   * been seen RUNNING (a task that ended keeps the time it was seen RUNNING;
   * undefined: never seen RUNNING by this leader).
   */
  runningSince(t: Task): number | undefined {
    const seen = this.running.get(t.id);
    if (seen !== undefined) return seen;
    return t.status.state === TaskState.RUNNING ? this.termStart : undefined;
  }

  /** When the restart of this ended task was decided, by this leader's clock. */
  decidedAt(t: Task): number {
    return this.decided.get(t.id) ?? this.termStart;
  }

  /** When this leader first saw the service's update in its current state (state, start version, canary phase). */
  progressAt(serviceId: string, st: UpdateStatus, now: number): number {
    const key = `${st.startVersion}/${st.state}/${st.canary}`;
    const p = this.progress.get(serviceId);
    if (p && p.key === key) return p.at;
    this.progress.set(serviceId, { key, at: now });
    return now;
  }

  get termStartedAt(): number {
    return this.termStart;
  }
}
