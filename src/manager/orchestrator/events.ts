// Which store events the replicated and the global orchestrator act on. Both
// react to a service, its tasks and the nodes alike, so the predicates live
// here, shared, rather than one orchestrator importing the other.
import type { ClusterStore } from '../store/store.js';
import { TaskState, isTerminal, type Service, type Task } from '../../api/objects.js';
import type { StoreEvent } from '../store/watch.js';
import type { LeaderTimes } from './leader-times.js';
import type { RestartSupervisor } from './restart/restart.js';
import { isLive } from './tasks.js';
import { updateUnderWay } from './update/updater.js';

/** Did this task change in a way an orchestrator acts on? (creation is ours; intermediate states are not) */
export function taskChangeMatters(old: Task, next: Task, updating: boolean): boolean {
  if (old.desiredState !== next.desiredState) return true;
  if (isTerminal(old.status.state) !== isTerminal(next.status.state)) return true;
  return updating && next.status.state === TaskState.RUNNING && old.status.state !== TaskState.RUNNING;
}

/**
 * The service and task events both orchestrators react to the same way, for
 * the services `owns` picks: a service created, changed or deleted; a task
 * whose change matters, or a live task deleted. Returns false for other events.
 * Every task event also tells the leader's clock what it saw (`times`).
 */
export function serviceOrTaskEvent(
  ev: StoreEvent,
  store: ClusterStore,
  owns: (s: Service) => boolean,
  restart: RestartSupervisor,
  times: LeaderTimes,
  now: () => number,
  markDirty: (serviceId: string, slot?: number) => void,
): boolean {
  if (ev.kind === 'service') {
    if (!owns(ev.object)) return true;
    if (ev.op === 'delete') times.forgetService(ev.object.id);
    else markDirty(ev.object.id);
    return true;
  }
  if (ev.kind !== 'task') return false;
  const t = ev.object;
  if (ev.op === 'delete') {
    restart.forget(t.id);
    times.forget(t.id);
    if (!isLive(t)) return true;
  } else {
    times.noteTask(t, now());
    if (ev.op === 'create' || !ev.old) return true;
    const svc = store.get('service', t.serviceId);
    if (!taskChangeMatters(ev.old, t, svc !== undefined && updateUnderWay(svc))) return true;
  }
  const s = store.get('service', t.serviceId);
  // A replicated task's change concerns its slot only.
  if (s && owns(s)) markDirty(s.id, t.slot > 0 ? t.slot : undefined);
  return true;
}

/** Did this node change in a way that moves tasks? */
export function nodeChangeMatters(ev: StoreEvent): boolean {
  if (ev.kind !== 'node') return false;
  if (ev.op !== 'update' || ev.old === undefined) return true;
  const a = ev.old;
  const b = ev.object;
  return (
    a.status.state !== b.status.state ||
    a.availability !== b.availability ||
    a.role !== b.role ||
    JSON.stringify(a.labels) !== JSON.stringify(b.labels) ||
    JSON.stringify(a.description) !== JSON.stringify(b.description)
  );
}
