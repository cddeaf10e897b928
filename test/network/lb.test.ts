// The load-balancing selection (src/network/lb.ts), pick by pick: the order
// each policy gives, what happens when the set changes between picks,
// exclusion of backends that just failed, weights of 0 and the empty set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectionClosed, connectionOpened, activeCount, newLbState, pick, type Backend, type LbPolicy, type LbState } from '../../src/network/lb.js';

const be = (id: string, weight = 1): Backend => ({ id, host: '127.0.0.1', port: 1000 + id.charCodeAt(0), weight });
const never = (): number => {
  throw new Error('this policy must not draw random numbers');
};

/** `n` picks in a row, as ids ('-' for none). */
function picks(state: LbState, backends: readonly Backend[], policy: LbPolicy, n: number, exclude?: ReadonlySet<string>, rng: () => number = never): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(pick(state, backends, policy, rng, exclude)?.id ?? '-');
  return out.join('');
}

test('round-robin cycles in the order given, from the first', () => {
  const s = newLbState();
  const set = [be('A'), be('B'), be('C')];
  assert.equal(picks(s, set, 'round-robin', 9), 'ABCABCABC');
});

test('round-robin ignores weights', () => {
  const s = newLbState();
  assert.equal(picks(s, [be('A', 5), be('B', 0), be('C', 1)], 'round-robin', 6), 'ABCABC');
});

test('round-robin continues after the last picked backend when one is added', () => {
  const s = newLbState();
  assert.equal(picks(s, [be('A'), be('C')], 'round-robin', 1), 'A');
  // B joins between A and C: the next after A is now B, not C (and not back to A).
  assert.equal(picks(s, [be('A'), be('B'), be('C')], 'round-robin', 4), 'BCAB');
});

test('round-robin goes to the successor of a removed backend, not back to the start', () => {
  const s = newLbState();
  const set = [be('A'), be('B'), be('C'), be('D')];
  assert.equal(picks(s, set, 'round-robin', 2), 'AB');
  // B (the last picked) and C leave: the next after B still in the set is D.
  assert.equal(picks(s, [be('A'), be('D'), be('E')], 'round-robin', 4), 'DEAD');
});

test('round-robin when the last picked backend leaves and it was the last of the list: wraps to the first survivor', () => {
  const s = newLbState();
  assert.equal(picks(s, [be('A'), be('B'), be('C')], 'round-robin', 3), 'ABC');
  assert.equal(picks(s, [be('B'), be('D')], 'round-robin', 3), 'BDB');
});

test('round-robin when the whole set is replaced starts at the first of the new set', () => {
  const s = newLbState();
  assert.equal(picks(s, [be('A'), be('B')], 'round-robin', 1), 'A');
  assert.equal(picks(s, [be('X'), be('Y'), be('Z')], 'round-robin', 4), 'XYZX');
});

test('round-robin with the same ids in a new array keeps its place', () => {
  const s = newLbState();
  assert.equal(picks(s, [be('A'), be('B'), be('C')], 'round-robin', 2), 'AB');
  assert.equal(picks(s, [be('A'), be('B'), be('C')], 'round-robin', 2), 'CA');
});

test('round-robin skips excluded backends and moves its cursor past them', () => {
  const s = newLbState();
  const set = [be('A'), be('B'), be('C')];
  assert.equal(picks(s, set, 'round-robin', 1), 'A');
  // B just failed: the retry goes to C.
  assert.equal(picks(s, set, 'round-robin', 1, new Set(['B'])), 'C');
  assert.equal(picks(s, set, 'round-robin', 3), 'ABC');
  assert.equal(picks(s, set, 'round-robin', 1, new Set(['A', 'B', 'C'])), '-');
  // Nothing picked: the cursor has not moved.
  assert.equal(picks(s, set, 'round-robin', 1), 'A');
});

test('every policy gives undefined for an empty set', () => {
  for (const policy of ['round-robin', 'least-conn', 'random', 'weighted'] as const) {
    const s = newLbState();
    assert.equal(pick(s, [], policy, () => 0.5), undefined, policy);
  }
});

test('least-conn picks the fewest active; ties go round-robin', () => {
  const s = newLbState();
  const set = [be('A'), be('B'), be('C')];
  const open = (): string => {
    const b = pick(s, set, 'least-conn', never);
    assert.ok(b);
    connectionOpened(s, b.id);
    return b.id;
  };
  // All at 0: a tie, broken in rotation order.
  assert.equal([open(), open(), open()].join(''), 'ABC');
  // All at 1: still a tie, the rotation carries on.
  assert.equal(open(), 'A');
  // A=2 B=1 C=1: B then C (B's tie with C goes to the one after A).
  assert.equal(open(), 'B');
  assert.equal(open(), 'C');
  // A=2 B=2 C=2; C closes two: C is the only one with fewest.
  connectionClosed(s, 'C');
  connectionClosed(s, 'C');
  assert.equal(activeCount(s, 'C'), 0);
  assert.equal(open(), 'C');
  assert.equal(open(), 'C');
  // All at 2 again; the last pick was C, so A comes next.
  assert.equal(open(), 'A');
});

test('least-conn skips excluded backends even when they have the fewest', () => {
  const s = newLbState();
  const set = [be('A'), be('B')];
  connectionOpened(s, 'B');
  connectionOpened(s, 'B');
  assert.equal(pick(s, set, 'least-conn', never, new Set(['A']))?.id, 'B');
  assert.equal(pick(s, set, 'least-conn', never, new Set(['A', 'B'])), undefined);
});

test('connection counts never go below zero and outlive a set change', () => {
  const s = newLbState();
  connectionClosed(s, 'A');
  assert.equal(activeCount(s, 'A'), 0);
  connectionOpened(s, 'A');
  // A leaves the set: its open connection is still counted (it drains) ...
  assert.equal(pick(s, [be('B')], 'least-conn', never)?.id, 'B');
  assert.equal(activeCount(s, 'A'), 1);
  connectionClosed(s, 'A');
  assert.equal(activeCount(s, 'A'), 0);
  assert.equal(s.active.size, 0);
});

test('weighted 90/10 gives exactly 9:1 over every 10 picks, interleaved smoothly', () => {
  const s = newLbState();
  const set = [be('A', 90), be('B', 10)];
  const seq = picks(s, set, 'weighted', 30);
  for (let i = 0; i < 30; i += 10) {
    const run = seq.slice(i, i + 10);
    assert.equal([...run].filter((c) => c === 'A').length, 9, run);
  }
  // nginx's sequence: B in the middle of each run, not at an end.
  assert.equal(seq.slice(0, 10), 'AAAAABAAAA');
});

test('weighted 5/1/1 gives nginx\'s smooth sequence', () => {
  const s = newLbState();
  // The example in nginx's ngx_http_upstream_round_robin.c: { a, a, b, a, c, a, a }.
  assert.equal(picks(s, [be('a', 5), be('b', 1), be('c', 1)], 'weighted', 14), 'aabacaaaabacaa');
});

test('weighted never picks a weight of 0, and gives undefined when every weight is 0', () => {
  const s = newLbState();
  assert.equal(picks(s, [be('A', 0), be('B', 2), be('C', 0)], 'weighted', 4), 'BBBB');
  assert.equal(picks(s, [be('A', 0), be('B', 0)], 'weighted', 2), '--');
});

test('weighted with exclusion: the excluded backend takes no part in that pick', () => {
  const s = newLbState();
  const set = [be('A', 3), be('B', 1)];
  assert.equal(picks(s, set, 'weighted', 1), 'A'); // A: 3-4=-1, B: 1
  assert.equal(picks(s, set, 'weighted', 1, new Set(['A'])), 'B'); // only B: 1+1-1=1
  assert.equal(s.current.get('A'), -1);
  assert.equal(s.current.get('B'), 1);
  assert.equal(picks(s, set, 'weighted', 1, new Set(['A', 'B'])), '-');
});

test('weighted forgets a removed backend\'s current weight', () => {
  const s = newLbState();
  assert.equal(picks(s, [be('A', 1), be('B', 3)], 'weighted', 1), 'B'); // A: 1, B: -1
  assert.equal(picks(s, [be('B', 3), be('C', 1)], 'weighted', 1), 'B'); // B: 2-4=-2, C: 1
  assert.deepEqual([...s.current.keys()].sort(), ['B', 'C']);
  // A comes back with no credit: its current starts from 0 again.
  assert.equal(picks(s, [be('A', 1), be('B', 3), be('C', 1)], 'weighted', 1), 'C'); // A: 1, B: 1, C: 2
  assert.equal(s.current.get('A'), 1);
});

test('random draws from the rng over the backends in order, skipping excluded ones', () => {
  const s = newLbState();
  const set = [be('A'), be('B'), be('C'), be('D')];
  const draws = [0, 0.25, 0.5, 0.99, 0.3];
  let i = 0;
  const rng = (): number => draws[i++];
  assert.equal(picks(s, set, 'random', 5, undefined, rng), 'ABCDB');
  // Among A, C, D (B excluded): 0.5 * 3 -> index 1 -> C.
  i = 2;
  assert.equal(picks(s, set, 'random', 1, new Set(['B']), rng), 'C');
  // An rng at the edge (1) stays in range; random ignores weights of 0.
  assert.equal(pick(s, [be('A', 0), be('B', 0)], 'random', () => 1)?.id, 'B');
  assert.equal(pick(s, set, 'random', () => 0.5, new Set(['A', 'B', 'C', 'D'])), undefined);
});
