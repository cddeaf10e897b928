// The filter pipeline: the checks a node must pass to take a task, in order,
// each with the reason Docker Swarm gives when it is what excluded a node. A
// node that fails is counted against the first filter it fails; a task that
// fits nowhere gets "no suitable node (<reasons, most frequent first>)", as
// SwarmKit's Pipeline.Explain writes it.
import { matchConstraints } from '../constraint/match.js';
import { compileConstraints, normalizeDescriptor, type CompiledConstraints } from '../../api/constraint.js';
import { nodeAvailable } from '../constraint/usability.js';
import type { Node, Task } from '../../api/objects.js';
import { hostPortKeys, portsInUse } from './ports.js';
import { fitsResources, taskReservation } from './resources.js';
import { ClusterView, type NodeInfo } from './view.js';

/** The filters, in the order they run. */
export const Filter = {
  READY: 0,
  RESOURCES: 1,
  CONSTRAINTS: 2,
  HOST_PORTS: 3,
  /** Last, as SwarmKit's MaxReplicasFilter: the node already holds placement.maxReplicas tasks of the service. */
  MAX_REPLICAS: 4,
} as const;
export type Filter = (typeof Filter)[keyof typeof Filter];
/** What checkNode returns when the node passes every filter. */
export const PASS = -1;
export const FILTER_COUNT = 5;

const plural = (n: number, one: string, many: string): string => (n === 1 ? one : many.replace('%d', String(n)));

/** SwarmKit's wording, per filter, for n nodes. */
const EXPLAIN: readonly ((n: number) => string)[] = [
  (n) => plural(n, '1 node not available for new tasks', '%d nodes not available for new tasks'),
  (n) => plural(n, 'insufficient resources on 1 node', 'insufficient resources on %d nodes'),
  (n) => plural(n, 'scheduling constraints not satisfied on 1 node', 'scheduling constraints not satisfied on %d nodes'),
  (n) => plural(n, 'host-mode port already in use on 1 node', 'host-mode port already in use on %d nodes'),
  // SwarmKit's MaxReplicasFilter.Explain names no node count (nor "exceeded").
  () => 'max replicas per node limit exceed',
];

export const NO_SUITABLE_NODE = 'no suitable node';
/** The message of a task that waits for a node (SwarmKit's). */
export const PENDING_MESSAGE = 'pending task scheduling';

/** What the filters need to know about a task; tasks with the same requirements are placed as a group. */
export interface TaskRequirements {
  serviceId: string;
  nanoCpus: number;
  memoryBytes: number;
  constraints: CompiledConstraints;
  /** Host-mode ports, '8080/tcp'. */
  hostPorts: readonly string[];
  /** Normalized spread descriptors of the placement preferences, in order. */
  preferences: readonly string[];
  /** At most this many tasks of the service per node; 0: no limit. */
  maxReplicas: number;
}

export function requirementsOf(task: Task): TaskRequirements {
  const r = taskReservation(task);
  const placement = task.spec.placement;
  const preferences: string[] = [];
  for (const p of placement.preferences) {
    const d = normalizeDescriptor(p.spread);
    if (d !== undefined) preferences.push(d);
  }
  return {
    serviceId: task.serviceId,
    nanoCpus: r.nanoCpus,
    memoryBytes: r.memoryBytes,
    constraints: compileConstraints(placement.constraints),
    hostPorts: hostPortKeys(task.endpoint),
    preferences,
    maxReplicas: placement.maxReplicas ?? 0,
  };
}

/** A string equal for two tasks exactly when their requirements are equal (the service included). */
export function requirementsKey(task: Task): string {
  const r = taskReservation(task);
  const placement = task.spec.placement;
  let key = `${task.serviceId}\u0000${r.nanoCpus}\u0000${r.memoryBytes}\u0000${placement.constraints.join('\u0001')}\u0000`;
  for (const p of placement.preferences) key += `${p.spread}\u0001`;
  key += `\u0000${placement.maxReplicas ?? 0}`;
  for (const p of task.endpoint.ports) if (p.publishMode === 'host') key += `\u0000${p.publishedPort}/${p.protocol}`;
  return key;
}

/** The first filter the node fails for these requirements, or PASS. Invalid constraints fail CONSTRAINTS. */
export function checkNode(req: TaskRequirements, info: NodeInfo): Filter | typeof PASS {
  const node = info.node;
  if (node === undefined || !nodeAvailable(node)) return Filter.READY;
  if (!fitsResources(info, req.nanoCpus, req.memoryBytes)) return Filter.RESOURCES;
  if (!req.constraints.ok || !matchConstraints(req.constraints.constraints, node)) return Filter.CONSTRAINTS;
  if (portsInUse(info.ports, req.hostPorts)) return Filter.HOST_PORTS;
  if (atMaxReplicas(req, info)) return Filter.MAX_REPLICAS;
  return PASS;
}

/** The checks that change as tasks are placed (resources, host ports, tasks of the service), for a node that passed the others. */
export function checkCapacity(req: TaskRequirements, info: NodeInfo): Filter | typeof PASS {
  if (!fitsResources(info, req.nanoCpus, req.memoryBytes)) return Filter.RESOURCES;
  if (portsInUse(info.ports, req.hostPorts)) return Filter.HOST_PORTS;
  if (atMaxReplicas(req, info)) return Filter.MAX_REPLICAS;
  return PASS;
}

/**
 * The node already holds the most tasks of the service the placement allows.
 * The count is of the tasks holding the node (ASSIGNED..RUNNING, meant to
 * run), the non-terminal ones SwarmKit's MaxReplicasFilter counts, and it
 * includes the placements of the pass so far (view.place).
 */
function atMaxReplicas(req: TaskRequirements, info: NodeInfo): boolean {
  return req.maxReplicas > 0 && info.serviceTasks(req.serviceId) >= req.maxReplicas;
}

/** Nodes excluded, per filter. */
export function newCounts(): number[] {
  return new Array<number>(FILTER_COUNT).fill(0);
}

/**
 * "no suitable node (scheduling constraints not satisfied on 2 nodes;
 * insufficient resources on 1 node; 1 node not available for new tasks)":
 * most frequent reason first; ties put the later filter first (as in that
 * example, the orchestration issue's).
 */
export function formatNoSuitableNode(counts: readonly number[]): string {
  const order = [...counts.keys()].filter((f) => counts[f] > 0).sort((a, b) => counts[b] - counts[a] || b - a);
  if (order.length === 0) return NO_SUITABLE_NODE;
  return `${NO_SUITABLE_NODE} (${order.map((f) => EXPLAIN[f](counts[f])).join('; ')})`;
}

/** The message for a task whose constraints do not parse. */
export function formatInvalidConstraints(error: string): string {
  return `${NO_SUITABLE_NODE} (${error})`;
}

/** Why the task fits on none of the view's nodes (its preset node only, for a global service's task); '' when some node takes it. */
export function explainInView(task: Task, view: ClusterView): string {
  const req = requirementsOf(task);
  if (!req.constraints.ok) return formatInvalidConstraints(req.constraints.error);
  const counts = newCounts();
  if (task.nodeId !== '') {
    const info = view.node(task.nodeId);
    const f = info === undefined ? Filter.READY : checkNode(req, info);
    if (f === PASS) return '';
    counts[f]++;
    return formatNoSuitableNode(counts);
  }
  for (const info of view.nodes()) {
    const f = checkNode(req, info);
    if (f === PASS) return '';
    counts[f]++;
  }
  return formatNoSuitableNode(counts);
}

/**
 * Why a task fits on no node (for `service ps` and the like): runs the filter
 * pipeline against every node (or the task's preset node), with the
 * reservations and host ports of the tasks that hold each node. Pure: reads
 * only its arguments. Returns '' when some node would take the task.
 */
export function explainTask(task: Task, nodes: Iterable<Node>, tasks: Iterable<Task>): string {
  const others: Task[] = [];
  for (const t of tasks) if (t.id !== task.id) others.push(t);
  return explainInView(task, ClusterView.of(nodes, others));
}
