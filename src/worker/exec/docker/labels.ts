// The labels that mark a container as flotilla's, and its name. Labels are the
// only durable link between a container and its task: after a restart the agent
// finds its containers by (cluster, node) and learns which task each one runs.
import type { Labels, Task } from '../../../api/objects.js';
import type { Owner } from '../executor.js';

export const LABEL_PREFIX = 'com.flotilla.';
// The cluster label is shared with the data plane (src/common/engine-names.ts).
import { LABEL_CLUSTER_ID } from '../../../common/engine-names.js';
export { LABEL_CLUSTER_ID };
export const LABEL_NODE_ID = 'com.flotilla.node.id';
export const LABEL_SERVICE_ID = 'com.flotilla.service.id';
export const LABEL_SERVICE_NAME = 'com.flotilla.service.name';
export const LABEL_TASK_ID = 'com.flotilla.task.id';
export const LABEL_TASK_SLOT = 'com.flotilla.task.slot';
/** On an engine network: the cluster network it runs. */
export const LABEL_NETWORK_ID = 'com.flotilla.network.id';

/** The labels of the container that runs `task` for `owner`. */
export function taskLabels(task: Task, owner: Owner): Labels {
  return {
    [LABEL_CLUSTER_ID]: owner.clusterId,
    [LABEL_NODE_ID]: owner.nodeId,
    [LABEL_SERVICE_ID]: task.serviceId,
    [LABEL_SERVICE_NAME]: task.serviceAnnotations.name,
    [LABEL_TASK_ID]: task.id,
    [LABEL_TASK_SLOT]: String(task.slot),
  };
}

/** Docker's `label=k=v` filters that select every container of `owner`. */
export function ownerLabelFilters(owner: Owner): string[] {
  return [`${LABEL_CLUSTER_ID}=${owner.clusterId}`, `${LABEL_NODE_ID}=${owner.nodeId}`];
}

const NAME_UNSAFE = /[^a-zA-Z0-9_.-]/g;

/**
 * `<service>.<slot>.<task>` as in Docker Swarm (`<service>.<node>.<task>` for a
 * global service's task, whose slot is 0), so `docker ps` reads like the
 * cluster. Characters Docker refuses in names become '-'.
 */
export function containerName(task: Task): string {
  const service = task.serviceAnnotations.name || task.serviceId;
  const middle = task.slot > 0 ? String(task.slot) : task.nodeId;
  const name = `${service}.${middle}.${task.id}`.replace(NAME_UNSAFE, '-');
  // A Docker name must start with an alphanumeric character.
  return /^[a-zA-Z0-9]/.test(name) ? name : `t${name}`;
}
