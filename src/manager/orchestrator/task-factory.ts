// New tasks for a service's slot (replicated) or node (global), and the
// shut-down copy of an existing task.
import { generateId } from '../ca/ca.js';
import { TaskState, type Service, type Task } from '../../api/objects.js';

/**
 * A new PENDING task of `service` for `slot` (replicated: 1..N, nodeId '') or
 * for node `nodeId` (global: slot 0). The scheduler assigns it.
 */
export function newTask(service: Service, slot: number, nodeId: string, now: number): Task {
  return {
    id: generateId(),
    version: 0,
    createdAt: now,
    updatedAt: now,
    serviceId: service.id,
    slot,
    nodeId,
    desiredState: TaskState.RUNNING,
    status: { state: TaskState.PENDING, message: 'pending task scheduling', err: '', timestamp: now, containerId: '', exitCode: 0, health: 'none' },
    specVersion: service.specVersion,
    spec: service.spec.taskTemplate,
    serviceAnnotations: { name: service.spec.name },
    endpoint: service.spec.endpoint,
    restart: undefined,
    updateFailure: false,
  };
}

/**
 * `t` with desiredState SHUTDOWN (desired state is only ever raised). A task
 * that no agent has yet (observed state before ASSIGNED) is also marked
 * observed SHUTDOWN: nobody else would ever report its end, and the store's
 * forward-only rule then keeps the scheduler from assigning it.
 */
export function shutdownTask(t: Task, now: number, reason: string): Task {
  const desiredState = t.desiredState > TaskState.SHUTDOWN ? t.desiredState : TaskState.SHUTDOWN;
  if (t.status.state < TaskState.ASSIGNED) {
    return { ...t, desiredState, updatedAt: now, status: { ...t.status, state: TaskState.SHUTDOWN, message: `shut down before it was assigned: ${reason}`, timestamp: now } };
  }
  return { ...t, desiredState, updatedAt: now };
}
