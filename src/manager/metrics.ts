// What a manager's components count and time, for the daemon's Prometheus
// registry (src/daemon/metrics.ts, which implements it with prom-client). The
// components call these hooks on their paths (one increment or one
// observation each); everything that can be read from the store or the
// components' state is computed when Prometheus scrapes instead.
import { TaskState, taskStateName, type Node, type NodeState, type Service, type Task, type UpdateState } from '../api/objects.js';
import type { RaftMetrics } from '../raft/node.js';
import type { DispatcherMetrics } from './dispatcher/dispatcher.js';

export interface ManagerMetrics {
  raft: RaftMetrics;
  /** A store write (a transaction) of this manager, from its proposal to its result, committed or not: seconds. */
  storeWrite(seconds: number): void;
  dispatcher: DispatcherMetrics;
}

// ---------------------------------------------------------------------------
// What the metrics read from store objects: pure functions of them.

/** Every node state, so that a state with no node reads 0 rather than vanishing from the series. */
export const NODE_STATES: readonly NodeState[] = ['ready', 'down', 'unknown'];
/** Every update state, and 'none' for a service never updated. */
export const UPDATE_STATES: readonly (UpdateState | 'none')[] = ['none', 'updating', 'paused', 'completed', 'rollback_started', 'rollback_paused', 'rollback_completed'];

/** The label of a task state: its name in lower case ('running'), as `docker service ps` shows it. */
export function taskStateLabel(state: TaskState): string {
  return taskStateName(state).toLowerCase();
}

/** How many nodes are in each state (every state present). */
export function countNodesByState(nodes: Iterable<Node>): Map<NodeState, number> {
  const counts = new Map<NodeState, number>(NODE_STATES.map((s) => [s, 0]));
  for (const n of nodes) counts.set(n.status.state, (counts.get(n.status.state) ?? 0) + 1);
  return counts;
}

/** How many services are in each update state ('none': never updated; every state present). */
export function countServicesByUpdateState(services: Iterable<Service>): Map<UpdateState | 'none', number> {
  const counts = new Map<UpdateState | 'none', number>(UPDATE_STATES.map((s) => [s, 0]));
  for (const s of services) {
    const state = s.updateStatus?.state ?? 'none';
    counts.set(state, (counts.get(state) ?? 0) + 1);
  }
  return counts;
}

/**
 * The scheduling delay of a task that has just reached RUNNING (`old` -> `task`, one committed update): from its
 * creation (state NEW, the manager's clock) to the worker's RUNNING status (its clock), in seconds; undefined for
 * any other change, or when clock skew makes it negative.
 */
export function schedulingDelaySeconds(old: Task, task: Task): number | undefined {
  if (old.status.state >= TaskState.RUNNING || task.status.state !== TaskState.RUNNING) return undefined;
  const ms = task.status.timestamp - task.createdAt;
  return ms >= 0 ? ms / 1000 : undefined;
}

/** True when this update records the restart policy's decision to replace the task (`old` -> `task`). */
export function decidedRestart(old: Task, task: Task): boolean {
  return (task.restart?.nextAt ?? 0) > 0 && (old.restart?.nextAt ?? 0) === 0;
}
