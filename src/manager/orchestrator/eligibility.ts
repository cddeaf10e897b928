// Which nodes may run a service's tasks: placement constraints with Swarm's
// semantics, and node availability. Shared by the global orchestrator, the
// replicated orchestrator (which moves tasks off nodes that stop qualifying)
// and, if it likes, the scheduler.
//
// Constraint semantics (SwarmKit's constraint.NodeMatches):
// - keys: node.id, node.hostname, node.role, node.platform.os,
//   node.platform.arch, node.labels.<k>, engine.labels.<k> (the label name is
//   case-sensitive, the prefix is not);
// - values compare case-insensitively, whole string;
// - a missing attribute or label reads as '': `node.labels.zone==a` fails on a
//   node without the label, `node.labels.zone!=a` matches it;
// - every constraint must match.
import { matchConstraint, nodeAttribute as schedulerNodeAttribute } from '../scheduler/constraints.js';
import { parseConstraint, type Constraint } from '../../api/validate.js';
import type { Node, Service, Task } from '../../api/objects.js';

export type { Constraint } from '../../api/validate.js';

/** Parse placement constraints (throws ValidationError on a malformed one; the store only holds valid ones). */
export function parseConstraints(exprs: readonly string[]): Constraint[] {
  return exprs.map((e, i) => parseConstraint(e, `constraints[${i}]`));
}

/** The node's value for a (normalized) constraint key ('' when it has none). Matching itself lives with the scheduler's. */
export function nodeAttribute(node: Node, key: string): string {
  return schedulerNodeAttribute(node, key) ?? '';
}

export function constraintMatches(c: Constraint, node: Node): boolean {
  return matchConstraint({ ...c, lower: c.value.toLowerCase() }, node);
}

export function nodeMatchesConstraints(constraints: readonly Constraint[], node: Node): boolean {
  for (const c of constraints) if (!constraintMatches(c, node)) return false;
  return true;
}

const parsedCache = new WeakMap<readonly string[], Constraint[]>();

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
    if (Object.isFrozen(exprs)) parsedCache.set(exprs, cs);
  }
  return nodeMatchesConstraints(cs, node as Node) ? '' : 'node no longer matches the placement constraints';
}

/** Why a node may not keep tasks ('' when it may): gone, down or drained. Paused nodes keep their tasks. */
export function nodeUnusableReason(node: Node | undefined): string {
  if (node === undefined) return 'node removed';
  if (node.status.state === 'down') return 'node down';
  if (node.availability === 'drain') return 'node drained';
  return '';
}

/** A service's placement, parsed once: answers "may this node keep / get this service's tasks?". */
export class Placement {
  readonly constraints: Constraint[];

  constructor(service: Service) {
    this.constraints = parseConstraints(service.spec.taskTemplate.placement.constraints);
  }

  /** Why the node may not keep the service's tasks ('' when it may). */
  keepReason(node: Node | undefined): string {
    const r = nodeUnusableReason(node);
    if (r) return r;
    return nodeMatchesConstraints(this.constraints, node as Node) ? '' : 'node no longer matches the placement constraints';
  }

  /** May the node keep the service's existing tasks? (up, not drained, constraints match) */
  keeps(node: Node | undefined): boolean {
    return this.keepReason(node) === '';
  }

  /** May the node get new tasks of the service? (keeps, and availability active: a paused node gets none) */
  accepts(node: Node | undefined): boolean {
    return this.keeps(node) && (node as Node).availability === 'active';
  }
}
