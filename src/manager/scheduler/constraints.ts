// Placement constraints and node descriptors. Parsing reuses the store's own
// parser (validate.ts), so the scheduler accepts exactly what the control API
// accepted; matching follows Docker Swarm (SwarmKit's constraint.Match):
// values compare case-insensitively, label keys are case-sensitive, a missing
// label never equals anything, and `!=` on a missing label matches.
import type { Node } from '../../api/objects.js';
import { parseConstraint, ValidationError, type Constraint } from '../../api/validate.js';

export type { Constraint };

/** A parsed constraint with its value pre-lowercased for matching. */
export interface CompiledConstraint extends Constraint {
  lower: string;
}

export type CompiledConstraints = { ok: true; constraints: readonly CompiledConstraint[] } | { ok: false; error: string };

const FIXED_KEYS = new Set(['node.id', 'node.hostname', 'node.role', 'node.platform.os', 'node.platform.arch']);
const LABEL_PREFIXES = ['node.labels.', 'engine.labels.'] as const;

/** The canonical form of a descriptor ('Node.Labels.zone' -> 'node.labels.zone'; the label name keeps its case), or undefined if it is none. */
export function normalizeDescriptor(raw: string): string | undefined {
  const key = raw.trim();
  const lower = key.toLowerCase();
  if (FIXED_KEYS.has(lower)) return lower;
  for (const prefix of LABEL_PREFIXES) {
    if (lower.startsWith(prefix) && key.length > prefix.length) return prefix + key.slice(prefix.length);
  }
  return undefined;
}

/** The value of a (normalized) descriptor on a node; undefined when the node has none (a missing label). */
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

/** Parse every expression; the first invalid one makes the whole set invalid (reported, never thrown). */
export function parseConstraints(exprs: readonly string[]): CompiledConstraints {
  const constraints: CompiledConstraint[] = [];
  for (let i = 0; i < exprs.length; i++) {
    try {
      const c = parseConstraint(exprs[i], 'constraint');
      constraints.push({ ...c, lower: c.value.toLowerCase() });
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      // err.message is 'constraint: <detail> [<rule>]'.
      return { ok: false, error: `invalid placement constraint: ${err.message.slice('constraint: '.length)}` };
    }
  }
  return { ok: true, constraints };
}

const MAX_CACHED = 4096;
const cache = new Map<string, CompiledConstraints>();

/** parseConstraints, memoized on the expressions (tasks of a service share them). */
export function compileConstraints(exprs: readonly string[]): CompiledConstraints {
  if (exprs.length === 0) return NONE;
  const key = exprs.join('\n');
  let compiled = cache.get(key);
  if (compiled === undefined) {
    if (cache.size >= MAX_CACHED) cache.clear();
    compiled = parseConstraints(exprs);
    cache.set(key, compiled);
  }
  return compiled;
}
const NONE: CompiledConstraints = { ok: true, constraints: [] };

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
