// Node capacity against reservations. A node offers its description's CPUs
// (as nano-CPUs) and memory; the tasks that hold it (see view.ts) reserve
// part of that. Only reservations count, not limits, as in Docker Swarm. A
// node whose description is not known yet (cpus 0 / memoryBytes 0) offers
// nothing, so it only takes tasks that reserve nothing.
import type { Node, Resources, Task } from '../../api/objects.js';

export const NANO_CPUS_PER_CPU = 1e9;

/** What a task reserves on its node. */
export function taskReservation(task: Task): Resources {
  return task.spec.resources.reservations;
}

/** What a node offers in all. */
export function nodeCapacity(node: Node): Resources {
  return { nanoCpus: Math.round(node.description.cpus * NANO_CPUS_PER_CPU), memoryBytes: node.description.memoryBytes };
}

/** Capacity and what is reserved of it. */
export interface ResourceUsage {
  capCpu: number;
  capMem: number;
  usedCpu: number;
  usedMem: number;
}

/** True when a reservation fits in what is left; a dimension the task does not reserve always fits. */
export function fitsResources(u: ResourceUsage, nanoCpus: number, memoryBytes: number): boolean {
  return (nanoCpus <= 0 || u.capCpu - u.usedCpu >= nanoCpus) && (memoryBytes <= 0 || u.capMem - u.usedMem >= memoryBytes);
}
