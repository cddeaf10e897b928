// Matching placement constraints against nodes, with Docker Swarm's semantics
// (SwarmKit's constraint.NodeMatches): values compare case-insensitively and
// whole, label names are case-sensitive, a missing attribute or label never
// equals anything (so `node.labels.zone!=a` matches a node without the label),
// and every constraint must hold.
import type { Node } from '../../api/objects.js';
import type { CompiledConstraint } from '../../api/constraint.js';

/** The value of a (normalised) descriptor on a node; undefined when the node has none (a missing label). */
export function nodeAttribute(node: Node, key: string): string | undefined {
  switch (key) {
    case 'node.id':
      return node.id;
    case 'node.hostname':
      return node.description.hostname;
    case 'node.role':
      return node.role;
    case 'node.platform.os':
      return node.description.platform.os;
    case 'node.platform.arch':
      return node.description.platform.arch;
  }
  if (key.startsWith('node.labels.')) {
    const k = key.slice('node.labels.'.length);
    return Object.hasOwn(node.labels, k) ? node.labels[k] : undefined;
  }
  if (key.startsWith('engine.labels.')) {
    const labels = node.description.engineLabels;
    const k = key.slice('engine.labels.'.length);
    return labels !== undefined && Object.hasOwn(labels, k) ? labels[k] : undefined;
  }
  return undefined;
}

export function matchConstraint(c: CompiledConstraint, node: Node): boolean {
  const v = nodeAttribute(node, c.key);
  const equal = v !== undefined && v.length === c.lower.length && (v === c.value || v.toLowerCase() === c.lower);
  return c.op === '==' ? equal : !equal;
}

/** True when the node satisfies every constraint. */
export function matchConstraints(constraints: readonly CompiledConstraint[], node: Node): boolean {
  for (const c of constraints) if (!matchConstraint(c, node)) return false;
  return true;
}
