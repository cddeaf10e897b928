// The one grammar of placement constraints (`<key> ==|!= <value>`) and node
// descriptors (the keys, also used by spread preferences). The store validator
// accepts exactly what this parses, and the scheduler and the orchestrators
// read the stored expressions with it, so all three agree on every spelling.
//
// Keys (SwarmKit's): node.id, node.hostname, node.role, node.platform.os,
// node.platform.arch, node.labels.<k>, engine.labels.<k>. The prefix is
// case-insensitive and normalised to lower case; the label name keeps its case.
//
// The error type and the quoting of user input are the store validator's: a bad
// constraint is a ValidationError like any other bad field of a spec.
import { itemStr, quoteInput, ValidationError } from './input.js';

export type ConstraintOp = '==' | '!=';

export interface Constraint {
  /** Normalised key: 'node.id', 'node.hostname', 'node.role', 'node.platform.os', 'node.platform.arch', 'node.labels.<k>' or 'engine.labels.<k>' (the label name keeps its case). */
  key: string;
  op: ConstraintOp;
  value: string;
}

/** A parsed constraint with its value pre-lowercased for matching (values compare case-insensitively). */
export interface CompiledConstraint extends Constraint {
  lower: string;
}

export type CompiledConstraints = { ok: true; constraints: readonly CompiledConstraint[] } | { ok: false; error: string };

const CONSTRAINT_RE = /^\s*([^\s=!]+)\s*(==|!=)\s*(.*?)\s*$/;
const CONSTRAINT_VALUE_RE = /^[a-zA-Z0-9:\-_\s.*()?+[\]\\^$|/]+$/;
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

/** Parse a placement constraint `<key> ==|!= <value>` (throws a ValidationError naming `field`). */
export function parseConstraint(expr: unknown, field = 'constraint'): Constraint {
  const s = itemStr(expr, field);
  const m = CONSTRAINT_RE.exec(s);
  if (!m) throw new ValidationError(field, 'constraint-format', `${quoteInput(s)} must be <key> == <value> or <key> != <value>`);
  const key = normalizeDescriptor(m[1]);
  if (key === undefined) {
    throw new ValidationError(field, 'constraint-key', `${quoteInput(m[1])} is not one of node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.<key>, engine.labels.<key>`);
  }
  const value = m[3];
  if (value.length === 0 || !CONSTRAINT_VALUE_RE.test(value)) {
    throw new ValidationError(field, 'constraint-value', `${quoteInput(value)} is not a valid constraint value`);
  }
  if (key === 'node.role' && value !== 'manager' && value !== 'worker') {
    throw new ValidationError(field, 'constraint-value', `node.role is manager or worker (got ${quoteInput(value)})`);
  }
  return { key, op: m[2] as ConstraintOp, value };
}

function compiled(c: Constraint): CompiledConstraint {
  return { ...c, lower: c.value.toLowerCase() };
}

/** Parse a spec's constraints for matching; throws a ValidationError on a malformed one (the store only holds valid ones). */
export function parseConstraints(exprs: readonly string[]): CompiledConstraint[] {
  return exprs.map((e, i) => compiled(parseConstraint(e, `constraints[${i}]`)));
}

/** Parse every expression; the first invalid one makes the whole set invalid (reported, never thrown). */
function compile(exprs: readonly string[]): CompiledConstraints {
  const constraints: CompiledConstraint[] = [];
  for (let i = 0; i < exprs.length; i++) {
    try {
      constraints.push(compiled(parseConstraint(exprs[i], 'constraint')));
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
const NONE: CompiledConstraints = { ok: true, constraints: [] };

/** The expressions parsed for matching, an invalid one reported rather than thrown; memoized (tasks of a service share them). */
export function compileConstraints(exprs: readonly string[]): CompiledConstraints {
  if (exprs.length === 0) return NONE;
  const key = exprs.join('\n');
  let result = cache.get(key);
  if (result === undefined) {
    if (cache.size >= MAX_CACHED) cache.clear();
    result = compile(exprs);
    cache.set(key, result);
  }
  return result;
}
