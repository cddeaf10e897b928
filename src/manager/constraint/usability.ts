// Node usability: whether a node may keep the tasks it has, and whether it may
// be given new ones, for any task or for a service's placement. The
// orchestrators (which move tasks off nodes that stop qualifying, and give a
// global service's task to each qualifying node) and the scheduler (which
// places pending tasks) all decide it here.
import type { Node, Service, Task } from '../../api/objects.js';
import { matchConstraints } from './match.js';
import { parseConstraints, type CompiledConstraint } from '../../api/constraint.js';

/** Why a node may not keep tasks ('' when it may): gone, down or drained. Paused nodes keep their tasks. */
export function nodeUnusableReason(node: Node | undefined): string {
  if (node === undefined) return 'node removed';
  if (node.status.state === 'down') return 'node down';
  if (node.availability === 'drain') return 'node drained';
  return '';
}

/** May the node keep its tasks? (it exists, is not down, is not drained; see nodeUnusableReason) */
export function nodeKeepsTasks(node: Node | undefined): node is Node {
  return nodeUnusableReason(node) === '';
}

/** May the scheduler place new tasks on the node? Ready and active: pause and drain take none, nor does a node not (yet) ready. */
export function nodeAvailable(node: Node): boolean {
  return node.status.state === 'ready' && node.availability === 'active';
}

const MUST_LEAVE_MISMATCH = 'node no longer matches the placement constraints';
const parsedCache = new WeakMap<readonly string[], CompiledConstraint[]>();

/**
 * Why a task may not stay on its node ('' when it may): the node is gone, down
 * or drained, or no longer matches the task's own placement constraints (as
 * SwarmKit's constraint enforcer: a change of the service's constraints is a
 * spec change, which the rolling update handles).
 */
export function taskMustLeaveReason(t: Task, node: Node | undefined): string {
  const r = nodeUnusableReason(node);
  if (r) return r;
  const exprs = t.spec.placement.constraints;
  if (exprs.length === 0) return '';
  let cs = parsedCache.get(exprs);
  if (cs === undefined) {
    cs = parseConstraints(exprs);
    // Only a frozen list (a stored spec) cannot change under the cached parse.
    if (Object.isFrozen(exprs)) parsedCache.set(exprs, cs);
  }
  return matchConstraints(cs, node as Node) ? '' : MUST_LEAVE_MISMATCH;
}

/** A service's placement, parsed once: answers "may this node keep / get this service's tasks?". */
export class Placement {
  readonly constraints: CompiledConstraint[];

  constructor(service: Service) {
    this.constraints = parseConstraints(service.spec.taskTemplate.placement.constraints);
  }

  /** Why the node may not keep the service's tasks ('' when it may). */
  keepReason(node: Node | undefined): string {
    const r = nodeUnusableReason(node);
    if (r) return r;
    return matchConstraints(this.constraints, node as Node) ? '' : MUST_LEAVE_MISMATCH;
  }

  /** May the node keep the service's existing tasks? (up, not drained, constraints match) */
  keeps(node: Node | undefined): boolean {
    return this.keepReason(node) === '';
  }

  /**
   * May the node get new tasks of the service? (keeps, and availability active:
   * a paused node gets none). Unlike nodeAvailable, a node whose state is still
   * unknown qualifies: the global orchestrator gives it its task, as it keeps
   * the tasks it has.
   */
  accepts(node: Node | undefined): boolean {
    return this.keeps(node) && (node as Node).availability === 'active';
  }
}
