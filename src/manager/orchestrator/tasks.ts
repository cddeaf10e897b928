// Task predicates and orderings shared by the orchestrators, the updater, the
// restart supervisor and the reaper. The vocabulary:
//
// - live:      desiredState <= RUNNING and observed state <= RUNNING. A slot (a
//              replicated service's slot, a global service's node) is filled
//              when it has a live task.
// - stopping:  desiredState past RUNNING, observed state still <= RUNNING: its
//              agent may still be stopping the container.
// - stopped:   desiredState past RUNNING and observed state terminal.
// - unhandled: observed state terminal while desiredState is still <= RUNNING:
//              the restart supervisor has not handled its end yet.
import { TaskState, isTerminal, type Service, type Task } from '../../api/objects.js';

export const isLive = (t: Task): boolean => t.desiredState <= TaskState.RUNNING && t.status.state <= TaskState.RUNNING;

export const isStopping = (t: Task): boolean => t.desiredState > TaskState.RUNNING && t.status.state <= TaskState.RUNNING;

export const isStopped = (t: Task): boolean => t.desiredState > TaskState.RUNNING && isTerminal(t.status.state);

export const isUnhandledExit = (t: Task): boolean => t.desiredState <= TaskState.RUNNING && isTerminal(t.status.state);

/** Creation order, oldest first (createdAt, then version, then id: deterministic). */
export function byCreation(a: Task, b: Task): number {
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  if (a.version !== b.version) return a.version - b.version;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The most recently created task, if any. */
export function newest(tasks: readonly Task[]): Task | undefined {
  let n: Task | undefined;
  for (const t of tasks) if (n === undefined || byCreation(t, n) > 0) n = t;
  return n;
}

/** The task to keep among duplicates: the furthest along (RUNNING first), then the newest. */
export function best(tasks: readonly Task[]): Task {
  let b = tasks[0];
  for (const t of tasks) {
    if (t.status.state > b.status.state || (t.status.state === b.status.state && byCreation(t, b) > 0)) b = t;
  }
  return b;
}

/**
 * Tells whether a task runs its service's current spec. A task is current when
 * its specVersion is the service's specVersion, or when its task template and
 * endpoint are the service's (so that a scale-only update, which moves the
 * service's version, does not make its tasks outdated). Both sides are the
 * store's canonical copies, so JSON equality is spec equality.
 */
export class SpecMatcher {
  private readonly template: string;
  private readonly endpoint: string;
  private static readonly cache = new WeakMap<Task, { serviceVersion: number; template: string; endpoint: string; current: boolean }>();

  constructor(readonly service: Service) {
    this.template = JSON.stringify(service.spec.taskTemplate);
    this.endpoint = JSON.stringify(service.spec.endpoint);
  }

  isCurrent(t: Task): boolean {
    if (t.specVersion >= this.service.specVersion) return true;
    const hit = SpecMatcher.cache.get(t);
    if (hit && hit.serviceVersion === this.service.version && hit.template === this.template && hit.endpoint === this.endpoint) return hit.current;
    const current = JSON.stringify(t.spec) === this.template && JSON.stringify(t.endpoint) === this.endpoint;
    // Stored tasks are frozen: an update replaces the object, which drops the entry.
    if (Object.isFrozen(t)) SpecMatcher.cache.set(t, { serviceVersion: this.service.version, template: this.template, endpoint: this.endpoint, current });
    return current;
  }
}
