// Linearizability checker for key-value histories (see history.ts for the format).
//
// Approach (as in Jepsen's Knossos "wgl" and Anish Athalye's porcupine):
//  * P-compositionality: a history of independent keys is linearizable iff each key's sub-history is, so keys
//    are checked separately, which keeps every search small.
//  * `fail` operations had no effect and are dropped. `info` operations (outcome unknown) may take effect at
//    any point after their invoke, or never; see "Unknown-outcome operations" below for how they are bounded.
//  * Wing & Gong's search: repeatedly pick a pending call that may be linearized next (its call entry comes
//    before the first return entry still in the list), apply it to the model, and backtrack when a return is
//    reached whose operation could not be placed. Lowe's memoization prunes (linearized-set, state) pairs
//    that were already explored, which turns the exponential search into something practical.

import { pairOperations } from './history.js';
import type { HistoryEvent, Operation } from './history.js';

export interface LinearizabilityOptions {
  /** Upper bound on memoized (linearized set, state) pairs per key before giving up; default 1,000,000. */
  maxStates?: number;
}

export type LinearizabilityResult =
  | { ok: true; keys: number; ops: number }
  | { ok: false; key: string; reason: string; ops: Operation[]; longestPrefix: Operation[] }
  | { ok: 'unknown'; key: string; reason: string };

const DEFAULT_MAX_STATES = 1_000_000;

/** The register value of one key; null means the key is absent. */
type State = string | null;

/** Applies `op` to `state`; undefined means the operation's observed outcome is impossible in that state. */
function step(state: State, op: Operation): State | undefined {
  const unknown = op.result === 'info';
  switch (op.f) {
    case 'put':
      return op.invokeValue;
    case 'append':
      return (state ?? '') + op.invokeValue;
    case 'get':
      // An unknown get observed nothing, so it constrains nothing.
      if (unknown) return state;
      return op.outputValue === state ? state : undefined;
    case 'cas': {
      const [expected, next] = op.invokeValue;
      if (state === expected) return next;
      // An unknown cas may have run and found a different value: a no-op rather than an impossibility.
      return unknown ? state : undefined;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Unknown-outcome operations.
//
// An `info` op may take effect at any point after its invoke, or never. Left pending until the end of the
// history, every one of them doubles the reachable linearized sets for the rest of the search, which makes
// refuting a bad history hopeless once a few dozen are in flight. Instead each gets a deadline: the position
// after which its effect can no longer be observed. At its deadline the search must either have applied it
// or decide that it never happened. Why that loses no valid order:
//  * Writes are observed through the state: after a write of string v, every state up to the next put
//    contains v (appends extend it; a swapping cas needs `expected === state`, so it read v). The ops that can
//    observe v are therefore gets that returned a string containing v, and cas ops whose expected value
//    contains v (with no appends on the key, "contains" is plain equality).
//  * If a valid order places the write after every op that could observe it, nothing ever sees it: dropping
//    it (and any unknown cas in its window, which then were no-ops) leaves a valid order. So the write only
//    needs to be tried before the last known-outcome observer returns, and before the deadline of any
//    unknown cas that might observe it (that cas might carry it further).
//  * An unknown get observed nothing and changes nothing, so it is dropped outright.
// ---------------------------------------------------------------------------------------------------------

/** The string an op leaves in the state if it takes effect; undefined for gets. */
function writtenString(op: Operation): string | undefined {
  if (op.f === 'get') return undefined;
  return op.f === 'cas' ? op.invokeValue[1] : op.invokeValue;
}

interface Observer {
  /** The state (or part of it) this op saw: a get's output, a cas's expected value. */
  readonly saw: string;
  readonly op: Operation;
}

function observersOf(ops: readonly Operation[]): Observer[] {
  const observers: Observer[] = [];
  for (const op of ops) {
    if (op.f === 'get' && op.result === 'ok' && op.outputValue !== null) observers.push({ saw: op.outputValue, op });
    if (op.f === 'cas' && op.invokeValue[0] !== null) observers.push({ saw: op.invokeValue[0], op });
  }
  return observers;
}

/**
 * Computes the deadline (a history position) of every unknown-outcome op worth searching; ops missing from
 * the result cannot affect the outcome. Deadlines of unknown cas observers propagate to the writes they may
 * have read, iterated to a fixpoint (they only grow, bounded by the largest known return).
 */
function unknownDeadlines(ops: readonly Operation[]): Map<Operation, number> {
  const hasAppends = ops.some((op) => op.f === 'append');
  const contains = hasAppends ? (saw: string, v: string) => saw.includes(v) : (saw: string, v: string) => saw === v;
  const observers = observersOf(ops);
  const last = new Map<Operation, number>(); // latest position at which some observer could still read the op
  const readBy = new Map<Operation, Operation[]>(); // write -> unknown cas ops that may have read it
  for (const op of ops) {
    const v = writtenString(op);
    if (op.result !== 'info' || v === undefined) continue;
    let latest = -Infinity;
    const unknownReaders: Operation[] = [];
    for (const o of observers) {
      if (o.op === op || !contains(o.saw, v)) continue;
      if (o.op.result === 'info') unknownReaders.push(o.op);
      else latest = Math.max(latest, o.op.returnIndex);
    }
    last.set(op, latest);
    readBy.set(op, unknownReaders);
  }
  for (let changed = true; changed; ) {
    changed = false;
    for (const [op, readers] of readBy) {
      for (const reader of readers) {
        const through = last.get(reader) ?? -Infinity;
        if (through > (last.get(op) ?? -Infinity)) {
          last.set(op, through);
          changed = true;
        }
      }
    }
  }
  const deadlines = new Map<Operation, number>();
  for (const [op, latest] of last) {
    // Observers that all returned before the op was even invoked saw some other write.
    if (latest > op.invokeIndex) deadlines.set(op, latest + 0.5); // just after that observer's return event
  }
  return deadlines;
}

/** The ops of one key that the search must consider, with each one's return position in the entry list. */
interface KeyProblem {
  readonly ops: Operation[];
  readonly returnPositions: number[];
}

function prepareKey(ops: readonly Operation[]): KeyProblem {
  const deadlines = unknownDeadlines(ops);
  const kept: Operation[] = [];
  const returnPositions: number[] = [];
  for (const op of ops) {
    const position = op.result === 'info' ? deadlines.get(op) : op.returnIndex;
    if (position === undefined) continue;
    kept.push(op);
    returnPositions.push(position);
  }
  return { ops: kept, returnPositions };
}

// ---------------------------------------------------------------------------------------------------------
// The search.
// ---------------------------------------------------------------------------------------------------------

/** A node of the call/return list the search walks; `match` links a call and its return both ways. */
interface Entry {
  readonly isCall: boolean;
  readonly opId: number;
  readonly position: number;
  match: Entry | undefined;
  prev: Entry | undefined;
  next: Entry | undefined;
}

function newEntry(isCall: boolean, opId: number, position: number): Entry {
  return { isCall, opId, position, match: undefined, prev: undefined, next: undefined };
}

/**
 * Builds the list ordered by history position (record order is the real-time order; times only serve
 * reports). Unknown ops' returns sit at their deadlines, between events; ties are broken by op id. Returns
 * the head sentinel.
 */
function buildEntryList(problem: KeyProblem): Entry {
  const entries: Entry[] = [];
  problem.ops.forEach((op, id) => {
    const call = newEntry(true, id, op.invokeIndex);
    const ret = newEntry(false, id, problem.returnPositions[id]);
    call.match = ret;
    ret.match = call;
    entries.push(call, ret);
  });
  entries.sort((a, b) => a.position - b.position || a.opId - b.opId);
  const head = newEntry(false, -1, -Infinity);
  let last = head;
  for (const e of entries) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
}

/** Removes a call and its return from the list (the op is now decided); `unlift` undoes it exactly. */
function lift(call: Entry): void {
  const ret = call.match as Entry;
  (call.prev as Entry).next = call.next;
  (call.next as Entry).prev = call.prev; // a call always has a later entry: at least its own return
  (ret.prev as Entry).next = ret.next;
  if (ret.next !== undefined) ret.next.prev = ret.prev;
}

function unlift(call: Entry): void {
  const ret = call.match as Entry;
  (ret.prev as Entry).next = ret;
  if (ret.next !== undefined) ret.next.prev = ret;
  (call.prev as Entry).next = call;
  (call.next as Entry).prev = call;
}

class Bitset {
  readonly words: Uint32Array;
  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32) || 1);
  }
  set(i: number): void {
    this.words[i >>> 5] |= 1 << (i & 31);
  }
  clear(i: number): void {
    this.words[i >>> 5] &= ~(1 << (i & 31));
  }
}

/**
 * Memo of explored (decided set, state) pairs: the rest of the search depends on nothing else. The key is an
 * exact, canonical encoding, so there are no false hits. Ops are numbered in invoke order and decided
 * roughly in that order, so the set is mostly "a run of full words, a few partial ones, then zeros": encoding
 * the full run as a count and dropping trailing zeros keeps keys short even with thousands of ops. States are
 * interned to small ids so that a long appended string is stored once rather than in every key.
 */
class Memo {
  private readonly seen = new Set<string>();
  private readonly stateIds = new Map<string, number>();

  get size(): number {
    return this.seen.size;
  }

  /** Records the pair; returns false if it had already been explored. */
  add(bits: Bitset, state: State): boolean {
    const key = `${this.encode(bits.words)}|${this.stateId(state)}`;
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    return true;
  }

  private stateId(state: State): number {
    if (state === null) return -1;
    let id = this.stateIds.get(state);
    if (id === undefined) {
      id = this.stateIds.size;
      this.stateIds.set(state, id);
    }
    return id;
  }

  private encode(words: Uint32Array): string {
    let full = 0;
    while (full < words.length && words[full] === 0xffffffff) full++;
    let end = words.length;
    while (end > full && words[end - 1] === 0) end--;
    let key = String(full);
    for (let i = full; i < end; i++) key += ',' + words[i].toString(36);
    return key;
  }
}

type KeyVerdict =
  | { ok: true }
  | { ok: false; longestPrefix: Operation[]; stuck: Operation; stateAfterPrefix: State }
  | { ok: 'unknown'; explored: number };

interface Frame {
  readonly call: Entry;
  /** The state before this decision, restored on backtrack. */
  readonly stateBefore: State;
  /** True when the decision was "this unknown op never took effect" rather than applying it. */
  readonly skipped: boolean;
}

/**
 * Wing & Gong search with Lowe's memoization over one key's ops (none of them `fail`). Each step either
 * applies a call that may come next, or, at an unknown op's deadline, decides that it never happened; a
 * known op's return reached while it is still pending means the current order is a dead end.
 */
function searchKey(problem: KeyProblem, maxStates: number): KeyVerdict {
  const { ops } = problem;
  // Success as soon as every known-outcome op is placed: unknown ones left over may simply not have happened.
  let remainingKnown = ops.filter((op) => op.result !== 'info').length;
  if (remainingKnown === 0) return { ok: true };

  const head = buildEntryList(problem);
  const decided = new Bitset(ops.length);
  const memo = new Memo();
  const stack: Frame[] = [];
  let state: State = null;
  let placed = 0; // frames that applied an op (not skips): the length of the current partial order
  let best: Omit<Extract<KeyVerdict, { ok: false }>, 'ok'> | undefined;
  let entry = head.next as Entry;

  /** Decides `call` (applied, moving to `next`, or skipped); false if that configuration was already explored. */
  const decide = (call: Entry, next: State, skipped: boolean): boolean => {
    decided.set(call.opId);
    if (!memo.add(decided, next)) {
      decided.clear(call.opId);
      return false;
    }
    stack.push({ call, stateBefore: state, skipped });
    state = next;
    lift(call);
    if (!skipped) placed++;
    if (!skipped && ops[call.opId].result !== 'info') remainingKnown--;
    return true;
  };

  /** Undoes decisions until one leaves an alternative to try; returns the entry to resume from, or undefined. */
  const backtrack = (): Entry | undefined => {
    for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
      decided.clear(frame.call.opId);
      state = frame.stateBefore;
      unlift(frame.call);
      if (!frame.skipped) placed--;
      if (!frame.skipped && ops[frame.call.opId].result !== 'info') remainingKnown++;
      // Skipping is tried last, at the deadline, after every call before it: nothing is left to try there.
      if (!frame.skipped) return frame.call.next;
    }
    return undefined;
  };

  for (;;) {
    if (memo.size > maxStates) return { ok: 'unknown', explored: memo.size };
    const op = ops[entry.opId];
    if (entry.isCall) {
      const next = step(state, op);
      if (next !== undefined && decide(entry, next, false)) {
        if (remainingKnown === 0) return { ok: true };
        entry = head.next as Entry;
      } else {
        entry = entry.next as Entry; // a call is always followed by at least its own return
      }
      continue;
    }
    // An unknown op's deadline: the remaining alternative is that it never took effect.
    if (op.result === 'info' && decide(entry.match as Entry, state, true)) {
      entry = head.next as Entry;
      continue;
    }
    // A known op's return while it is still pending: the current order cannot be extended.
    if (op.result !== 'info' && (best === undefined || placed > best.longestPrefix.length)) {
      best = { longestPrefix: stack.filter((f) => !f.skipped).map((f) => ops[f.call.opId]), stuck: op, stateAfterPrefix: state };
    }
    const resume = backtrack();
    if (resume === undefined) {
      return best === undefined ? { ok: false, longestPrefix: [], stuck: op, stateAfterPrefix: null } : { ok: false, ...best };
    }
    entry = resume;
  }
}

function describeOp(op: Operation): string {
  const arg = op.f === 'get' ? '' : ' ' + JSON.stringify(op.invokeValue);
  const out = op.f === 'get' && op.result === 'ok' ? ` -> ${JSON.stringify(op.outputValue)}` : '';
  const span = op.returnIndex === Infinity ? `event #${op.invokeIndex}, never completed` : `events #${op.invokeIndex}..#${op.returnIndex}`;
  return `${op.f}${arg}${out} [${op.result}] by process ${op.process} (${span})`;
}

/** Groups operations by key, in order of first appearance, dropping failed ones (they had no effect). */
function effectiveOpsByKey(ops: readonly Operation[]): Map<string, Operation[]> {
  const byKey = new Map<string, Operation[]>();
  for (const op of ops) {
    if (op.result === 'fail') continue;
    let list = byKey.get(op.key);
    if (list === undefined) {
      list = [];
      byKey.set(op.key, list);
    }
    list.push(op);
  }
  return byKey;
}

/**
 * Checks that `events` is linearizable with respect to a key-value register per key. Throws (from
 * pairOperations) if the history is malformed. A definite violation on any key wins over an exhausted search
 * budget on another; `ops` in the ok result counts the operations checked (failed ones excluded).
 */
export function checkLinearizable(events: HistoryEvent[], opts: LinearizabilityOptions = {}): LinearizabilityResult {
  const maxStates = opts.maxStates ?? DEFAULT_MAX_STATES;
  const byKey = effectiveOpsByKey(pairOperations(events));
  let unknown: Extract<LinearizabilityResult, { ok: 'unknown' }> | undefined;
  let total = 0;
  for (const [key, ops] of byKey) {
    total += ops.length;
    const verdict = searchKey(prepareKey(ops), maxStates);
    if (verdict.ok === true) continue;
    if (verdict.ok === 'unknown') {
      unknown ??= {
        ok: 'unknown',
        key,
        reason: `search budget exhausted on key ${JSON.stringify(key)} (${ops.length} ops) after ${verdict.explored} states (maxStates ${maxStates})`,
      };
      continue;
    }
    const reason =
      `key ${JSON.stringify(key)} is not linearizable: ${describeOp(verdict.stuck)} cannot be linearized; ` +
      `the longest consistent order found has ${verdict.longestPrefix.length} of ${ops.length} ops, ` +
      `leaving the value ${JSON.stringify(verdict.stateAfterPrefix)}`;
    return { ok: false, key, reason, ops, longestPrefix: verdict.longestPrefix };
  }
  return unknown ?? { ok: true, keys: byKey.size, ops: total };
}
