// Every task carries a copy of its service's task template and endpoint (what
// the worker runs). A service of 50,000 replicas means 50,000 equal copies in
// every transaction that creates or reassigns its tasks, and validating each
// copy on every manager, and keeping each in memory, is most of what applying
// such a transaction costs.
//
// The store avoids both without changing what is stored: when a task's spec in
// a transaction equals (as a JSON value) a canonical copy the store already
// holds (the task's previous spec, or its service's current template), it
// keeps that frozen object. Validating the incoming copy would have produced
// exactly that object again: the validators return canonical copies and are
// idempotent on them (test/manager/store-shared-specs.test.ts checks it), and
// a value equal to a canonical copy validates to the same canonical copy.
// Anything that differs in the least (an extra key, a null, another order of
// a list) is validated as before.
import type { EndpointSpec, TaskTemplate } from './objects.js';

/** Canonical, frozen spec parts a new task copy may be equal to. */
export interface SharedTaskParts {
  spec: TaskTemplate;
  endpoint: EndpointSpec;
}

/** Structural equality of JSON values (objects compared by their own keys, in any order; arrays in order). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const aArray = Array.isArray(a);
  if (aArray !== Array.isArray(b)) return false;
  if (aArray) {
    const x = a as unknown[];
    const y = b as unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!jsonEqual(x[i], y[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let n = 0;
  for (const k in x) {
    if (!Object.hasOwn(x, k)) continue;
    if (!Object.hasOwn(y, k) || !jsonEqual(x[k], y[k])) return false;
    n++;
  }
  let m = 0;
  for (const k in y) if (Object.hasOwn(y, k)) m++;
  return n === m;
}

/** The first part (`pick` of a candidate) equal to `raw`, if any. */
export function findEqual<T>(raw: unknown, candidates: readonly SharedTaskParts[], pick: (p: SharedTaskParts) => T): T | undefined {
  if (raw === undefined || raw === null) return undefined;
  for (const c of candidates) {
    const part = pick(c);
    if (jsonEqual(raw, part)) return part;
  }
  return undefined;
}
