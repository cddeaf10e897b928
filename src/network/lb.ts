// Load-balancing selection for the routing mesh: which backend a new
// connection (or UDP flow) goes to. Pure: no I/O, no clock, no randomness of
// its own (the 'random' policy draws from the rng it is given), so every
// policy can be tested pick by pick. The state it keeps between picks:
//  - a round-robin cursor, keyed by the id of the last backend picked rather
//    than by an index, so that when the set changes (a task starts, stops,
//    drains) the rotation carries on after that backend instead of jumping;
//  - the current weights of nginx's smooth weighted round-robin;
//  - active connection counts for least-conn, kept by the caller through
//    connectionOpened / connectionClosed.

// The policies are the contract's (src/api/objects.ts).
import type { LbPolicy } from '../api/objects.js';
export type { LbPolicy };

/**
 * One place a connection can go. `weight` (>= 0) counts only for the
 * 'weighted' policy, where 0 means never picked (a draining backend).
 */
export interface Backend {
  id: string;
  host: string;
  port: number;
  weight: number;
}

/** The ids to skip, e.g. backends that just failed to connect. A ReadonlySet<string> will do. */
export type Exclusion = Pick<ReadonlySet<string>, 'has'>;

export interface LbState {
  /** The id of the last backend picked (by round-robin, or least-conn's tie-break), undefined before the first pick. */
  lastId: string | undefined;
  /** Where lastId stood in `lastList`, the list it was picked from. */
  lastIndex: number;
  lastList: readonly Backend[] | undefined;
  /** The list the weighted state was last reconciled with (see `reconcile`). */
  seenList: readonly Backend[] | undefined;
  /** Smooth weighted round-robin: each backend's current weight, by id. */
  readonly current: Map<string, number>;
  /** Connections open (or opening) to each backend, by id; an id at 0 is absent. */
  readonly active: Map<string, number>;
}

export function newLbState(): LbState {
  return { lastId: undefined, lastIndex: -1, lastList: undefined, seenList: undefined, current: new Map(), active: new Map() };
}

/**
 * Picks a backend of `backends` (in the caller's order, which round-robin
 * follows) for a new connection, skipping the ids in `exclude`; undefined when
 * none is left (an empty set, everything excluded, or, for 'weighted', every
 * weight 0). Updates `state`. Pass the same array between set changes and a
 * new one when the set changes: that is how stale weighted state is dropped.
 */
export function pick(state: LbState, backends: readonly Backend[], policy: LbPolicy, rng: () => number, exclude?: Exclusion): Backend | undefined {
  if (backends !== state.seenList) reconcile(state, backends);
  switch (policy) {
    case 'round-robin':
      return roundRobin(state, backends, exclude);
    case 'least-conn':
      return leastConn(state, backends, exclude);
    case 'random':
      return random(backends, rng, exclude);
    case 'weighted':
      return weighted(state, backends, exclude);
  }
}

/** Counts a connection (or flow) now assigned to `id`, for least-conn; call it when the pick is used. */
export function connectionOpened(state: LbState, id: string): void {
  state.active.set(id, (state.active.get(id) ?? 0) + 1);
}

/** Uncounts one connection of `id` (closed, or failed to connect). */
export function connectionClosed(state: LbState, id: string): void {
  const n = state.active.get(id);
  if (n === undefined) return;
  if (n <= 1) state.active.delete(id);
  else state.active.set(id, n - 1);
}

/** Connections counted for `id`. */
export function activeCount(state: LbState, id: string): number {
  return state.active.get(id) ?? 0;
}

/**
 * A new set: forget the current weights of backends that left it, so that one
 * coming back later starts afresh rather than with a stale credit or debt.
 * Active counts are kept: connections to a removed backend are still open
 * until they close (that is how a backend drains).
 */
function reconcile(state: LbState, backends: readonly Backend[]): void {
  state.seenList = backends;
  if (state.current.size === 0) return;
  const ids = new Set(backends.map((b) => b.id));
  for (const id of state.current.keys()) if (!ids.has(id)) state.current.delete(id);
}

/**
 * The index round-robin starts looking from: the backend after the last one
 * picked. When that one has left the set, the first of its successors in the
 * list it was picked from that is still in the set, so that a removal does not
 * send the next connection back to the start of the list.
 */
function startIndex(state: LbState, backends: readonly Backend[]): number {
  const n = backends.length;
  if (state.lastId === undefined) return 0;
  // Fast path: the same list as the last pick.
  if (backends === state.lastList && backends[state.lastIndex]?.id === state.lastId) return (state.lastIndex + 1) % n;
  const i = backends.findIndex((b) => b.id === state.lastId);
  if (i >= 0) return (i + 1) % n;
  const old = state.lastList;
  if (old === undefined || old.length === 0) return 0;
  const index = new Map<string, number>();
  backends.forEach((b, j) => index.set(b.id, j));
  for (let k = 1; k < old.length; k++) {
    const j = index.get(old[(state.lastIndex + k) % old.length].id);
    if (j !== undefined) return j;
  }
  return 0;
}

function remember(state: LbState, backends: readonly Backend[], i: number): Backend {
  state.lastId = backends[i].id;
  state.lastIndex = i;
  state.lastList = backends;
  return backends[i];
}

function roundRobin(state: LbState, backends: readonly Backend[], exclude: Exclusion | undefined): Backend | undefined {
  const n = backends.length;
  if (n === 0) return undefined;
  const start = startIndex(state, backends);
  for (let k = 0; k < n; k++) {
    const i = (start + k) % n;
    if (exclude === undefined || !exclude.has(backends[i].id)) return remember(state, backends, i);
  }
  return undefined;
}

/** Fewest active connections; among equals, the first after the round-robin cursor. */
function leastConn(state: LbState, backends: readonly Backend[], exclude: Exclusion | undefined): Backend | undefined {
  const n = backends.length;
  if (n === 0) return undefined;
  const start = startIndex(state, backends);
  let best = -1;
  let bestCount = Infinity;
  for (let k = 0; k < n; k++) {
    const i = (start + k) % n;
    const b = backends[i];
    if (exclude !== undefined && exclude.has(b.id)) continue;
    const c = state.active.get(b.id) ?? 0;
    // Strictly fewer: a tie keeps the earlier one in rotation order.
    if (c < bestCount) {
      best = i;
      bestCount = c;
    }
  }
  return best < 0 ? undefined : remember(state, backends, best);
}

function random(backends: readonly Backend[], rng: () => number, exclude: Exclusion | undefined): Backend | undefined {
  if (exclude === undefined) {
    if (backends.length === 0) return undefined;
    return backends[scale(rng(), backends.length)];
  }
  const eligible = backends.filter((b) => !exclude.has(b.id));
  if (eligible.length === 0) return undefined;
  return eligible[scale(rng(), eligible.length)];
}

/** rng() in [0, 1) to an index in [0, n); clamped, so that an rng returning 1 cannot index past the end. */
function scale(r: number, n: number): number {
  const i = Math.floor(r * n);
  return i < 0 ? 0 : i >= n ? n - 1 : i;
}

/**
 * nginx's smooth weighted round-robin: every eligible backend's current weight
 * grows by its weight, the largest is picked (the first in list order on a tie)
 * and loses the total. Over any run of sum(weights) picks each backend is
 * picked exactly `weight` times, interleaved rather than in bursts. Excluded
 * backends and weights of 0 take no part, as nginx skips peers already tried.
 */
function weighted(state: LbState, backends: readonly Backend[], exclude: Exclusion | undefined): Backend | undefined {
  let best: Backend | undefined;
  let bestCurrent = -Infinity;
  let total = 0;
  for (const b of backends) {
    if (!(b.weight > 0) || (exclude !== undefined && exclude.has(b.id))) continue;
    const c = (state.current.get(b.id) ?? 0) + b.weight;
    state.current.set(b.id, c);
    total += b.weight;
    if (c > bestCurrent) {
      best = b;
      bestCurrent = c;
    }
  }
  if (best === undefined) return undefined;
  state.current.set(best.id, bestCurrent - total);
  return best;
}
