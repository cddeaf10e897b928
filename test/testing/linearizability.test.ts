import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { formatHistory, pairOperations, parseHistory, parseHistoryLine } from '../../src/testing/history.js';
import type { HistoryEvent } from '../../src/testing/history.js';
import { checkLinearizable } from '../../src/testing/linearizability.js';
import type { LinearizabilityResult } from '../../src/testing/linearizability.js';

type Value = string | null | [string | null, string];
type Row = [process: number, type: string, f: string, key: string, value: Value];

/** Builds a history from compact rows; time is the row index. Goes through the parser so rows are validated. */
function h(...rows: Row[]): HistoryEvent[] {
  return rows.map(([process, type, f, key, value], i) => parseHistoryLine(JSON.stringify({ process, type, f, key, value, time: i }), i + 1));
}

/** A whole operation that completes before anything else happens. */
function seq(process: number, f: string, key: string, value: Value, output: Value = value, result = 'ok'): Row[] {
  return [
    [process, 'invoke', f, key, f === 'get' ? null : value],
    [process, result, f, key, output],
  ];
}

type Violation = Extract<LinearizabilityResult, { ok: false }>;

function assertOk(result: LinearizabilityResult): void {
  assert.equal(result.ok, true, result.ok === true ? '' : result.reason);
}

function assertViolation(result: LinearizabilityResult, key = 'a'): asserts result is Violation {
  assert.equal(result.ok, false, `expected a violation, got ${JSON.stringify(result)}`);
  assert.equal(result.key, key);
  assert.match(result.reason, /not linearizable/);
}

describe('linearizability checker: plain histories', () => {
  it('accepts a sequential correct history', () => {
    const events = h(
      ...seq(0, 'get', 'a', null, null),
      ...seq(0, 'put', 'a', 'x'),
      ...seq(1, 'get', 'a', null, 'x'),
      ...seq(0, 'append', 'a', 'y'),
      ...seq(1, 'get', 'a', null, 'xy'),
      ...seq(1, 'cas', 'a', ['xy', 'z']),
      ...seq(0, 'get', 'a', null, 'z'),
      ...seq(0, 'cas', 'b', [null, 'w']),
      ...seq(1, 'get', 'b', null, 'w'),
      ...seq(1, 'append', 'c', 'p'),
      ...seq(0, 'get', 'c', null, 'p'),
    );
    assert.deepEqual(checkLinearizable(events), { ok: true, keys: 3, ops: 11 });
  });

  // put 1 and put 2 overlap; readers force the order put 2, get, put 1, get, get — the reverse of invocation.
  function overlapping(finalRead: string): HistoryEvent[] {
    return h(
      [0, 'invoke', 'put', 'a', '1'],
      [1, 'invoke', 'put', 'a', '2'],
      [2, 'invoke', 'get', 'a', null],
      [2, 'ok', 'get', 'a', '2'],
      [3, 'invoke', 'get', 'a', null],
      [3, 'ok', 'get', 'a', '1'],
      [0, 'ok', 'put', 'a', '1'],
      [1, 'ok', 'put', 'a', '2'],
      ...seq(2, 'get', 'a', null, finalRead),
    );
  }

  it('accepts overlapping operations that linearize in a non-obvious order', () => {
    assertOk(checkLinearizable(overlapping('1')));
  });

  it('rejects the same overlap when the last read contradicts the only possible order', () => {
    assertViolation(checkLinearizable(overlapping('2')));
  });

  it('accepts concurrent appends observed in either order', () => {
    for (const seen of ['xy', 'yx']) {
      const events = h(
        [0, 'invoke', 'append', 'a', 'x'],
        [1, 'invoke', 'append', 'a', 'y'],
        [0, 'ok', 'append', 'a', 'x'],
        [1, 'ok', 'append', 'a', 'y'],
        ...seq(2, 'get', 'a', null, seen),
      );
      assertOk(checkLinearizable(events));
    }
  });
});

describe('linearizability checker: violations', () => {
  it('rejects a stale read after a completed put', () => {
    const events = h(...seq(0, 'put', 'a', 'x'), ...seq(0, 'put', 'a', 'y'), ...seq(1, 'get', 'a', null, 'x'));
    const result = checkLinearizable(events);
    assertViolation(result);
    assert.equal(result.ops.length, 3);
    assert.deepEqual(
      result.longestPrefix.map((op) => op.f),
      ['put', 'put'],
    );
    assert.match(result.reason, /get -> "x"/);
  });

  it('rejects two readers observing concurrent writes in opposite orders', () => {
    const events = h(
      [0, 'invoke', 'put', 'a', 'x'],
      [1, 'invoke', 'put', 'a', 'y'],
      ...seq(2, 'get', 'a', null, 'x'),
      ...seq(2, 'get', 'a', null, 'y'),
      ...seq(3, 'get', 'a', null, 'y'),
      ...seq(3, 'get', 'a', null, 'x'),
      [0, 'ok', 'put', 'a', 'x'],
      [1, 'ok', 'put', 'a', 'y'],
    );
    assertViolation(checkLinearizable(events));
  });

  it('accepts those readers when they agree on the order', () => {
    const events = h(
      [0, 'invoke', 'put', 'a', 'x'],
      [1, 'invoke', 'put', 'a', 'y'],
      ...seq(2, 'get', 'a', null, 'x'),
      ...seq(3, 'get', 'a', null, 'x'),
      ...seq(2, 'get', 'a', null, 'y'),
      ...seq(3, 'get', 'a', null, 'y'),
      [0, 'ok', 'put', 'a', 'x'],
      [1, 'ok', 'put', 'a', 'y'],
    );
    assertOk(checkLinearizable(events));
  });

  it('rejects a cas that succeeded against a value that was no longer current', () => {
    assertViolation(checkLinearizable(h(...seq(0, 'put', 'a', 'p'), ...seq(0, 'put', 'a', 'q'), ...seq(1, 'cas', 'a', ['p', 'r'])))); 
  });

  it('rejects a cas expecting an absent key after a completed put', () => {
    assertViolation(checkLinearizable(h(...seq(0, 'put', 'a', 'p'), ...seq(1, 'cas', 'a', [null, 'r']))));
  });

  it('accepts a cas racing a put when either order explains the final read', () => {
    const events = h(
      ...seq(0, 'put', 'a', 'p'),
      [0, 'invoke', 'put', 'a', 'q'],
      [1, 'invoke', 'cas', 'a', ['p', 'r']],
      [1, 'ok', 'cas', 'a', ['p', 'r']],
      [0, 'ok', 'put', 'a', 'q'],
      ...seq(2, 'get', 'a', null, 'q'),
    );
    assertOk(checkLinearizable(events));
  });

  it('rejects a lost append', () => {
    const events = h(...seq(0, 'append', 'a', 'x'), ...seq(1, 'append', 'a', 'y'), ...seq(2, 'get', 'a', null, 'y'));
    assertViolation(checkLinearizable(events));
  });

  it('rejects a read missing one of two completed concurrent appends', () => {
    const events = h(
      [0, 'invoke', 'append', 'a', 'x'],
      [1, 'invoke', 'append', 'a', 'y'],
      [0, 'ok', 'append', 'a', 'x'],
      [1, 'ok', 'append', 'a', 'y'],
      ...seq(2, 'get', 'a', null, 'x'),
    );
    assertViolation(checkLinearizable(events));
  });

  it('reports the violating key when other keys are fine', () => {
    const events = h(
      ...seq(0, 'put', 'a', '1'),
      ...seq(0, 'put', 'b', '1'),
      ...seq(1, 'get', 'a', null, '1'),
      ...seq(1, 'get', 'b', null, null),
      ...seq(2, 'put', 'c', '1'),
    );
    const result = checkLinearizable(events);
    assertViolation(result, 'b');
    assert.ok(result.ops.every((op) => op.key === 'b'));
    assert.equal(result.ops.length, 2);
  });

  it('treats keys independently: interleavings across keys do not constrain each other', () => {
    // Under a single global register this would be a violation; per key it is fine.
    const events = h(...seq(0, 'put', 'a', '1'), ...seq(0, 'put', 'b', '2'), ...seq(1, 'get', 'a', null, '1'));
    assertOk(checkLinearizable(events));
  });
});

describe('linearizability checker: info and fail', () => {
  it('accepts an info put that was observed', () => {
    const events = h([0, 'invoke', 'put', 'a', 'x'], [0, 'info', 'put', 'a', 'x'], ...seq(1, 'get', 'a', null, 'x'));
    assertOk(checkLinearizable(events));
  });

  it('accepts an info put that was never observed', () => {
    const events = h(
      ...seq(1, 'put', 'a', 'old'),
      [0, 'invoke', 'put', 'a', 'x'],
      [0, 'info', 'put', 'a', 'x'],
      ...seq(1, 'get', 'a', null, 'old'),
      ...seq(2, 'get', 'a', null, 'old'),
    );
    assertOk(checkLinearizable(events));
  });

  it('accepts a never-completed invoke either way, like info', () => {
    assertOk(checkLinearizable(h([0, 'invoke', 'append', 'a', 'x'], ...seq(1, 'get', 'a', null, 'x'))));
    assertOk(checkLinearizable(h([0, 'invoke', 'append', 'a', 'x'], ...seq(1, 'get', 'a', null, null))));
  });

  it('rejects an info put observed before it was invoked', () => {
    const events = h(...seq(1, 'get', 'a', null, 'x'), [0, 'invoke', 'put', 'a', 'x'], [0, 'info', 'put', 'a', 'x']);
    assertViolation(checkLinearizable(events));
  });

  it('rejects an info put that is observed and then un-happens', () => {
    const events = h(
      ...seq(1, 'put', 'a', 'old'),
      [0, 'invoke', 'put', 'a', 'x'],
      [0, 'info', 'put', 'a', 'x'],
      ...seq(1, 'get', 'a', null, 'x'),
      ...seq(1, 'get', 'a', null, 'old'),
    );
    assertViolation(checkLinearizable(events));
  });

  it('lets an unknown append never happen even though its string was read (from another append)', () => {
    const events = h(
      ...seq(0, 'append', 'a', 'x'),
      [1, 'invoke', 'append', 'a', 'x'],
      ...seq(2, 'get', 'a', null, 'x'),
      [1, 'info', 'append', 'a', 'x'],
      ...seq(2, 'get', 'a', null, 'x'),
      ...seq(0, 'put', 'a', 'z'), // a known op after the last read: the append must be ruled out, not just left over
    );
    assertOk(checkLinearizable(events));
    // ...but it cannot half-happen: once a read shows it, a later read cannot lose it.
    const flipped = h(
      ...seq(0, 'append', 'a', 'x'),
      [1, 'invoke', 'append', 'a', 'x'],
      ...seq(2, 'get', 'a', null, 'xx'),
      [1, 'info', 'append', 'a', 'x'],
      ...seq(2, 'get', 'a', null, 'x'),
    );
    assertViolation(checkLinearizable(flipped));
  });

  it('applies an unknown cas when a later read shows its effect', () => {
    const events = h(...seq(0, 'put', 'a', 'p'), [1, 'invoke', 'cas', 'a', ['p', 'q']], ...seq(2, 'get', 'a', null, 'q'), ...seq(2, 'get', 'a', null, 'q'));
    assertOk(checkLinearizable(events));
    const wrongExpectation = h(...seq(0, 'put', 'a', 'p'), [1, 'invoke', 'cas', 'a', ['o', 'q']], ...seq(2, 'get', 'a', null, 'q'));
    assertViolation(checkLinearizable(wrongExpectation));
  });

  it('lets an info cas be a no-op when its expectation does not hold', () => {
    const events = h(...seq(0, 'put', 'a', 'p'), [1, 'invoke', 'cas', 'a', ['zzz', 'r']], [1, 'info', 'cas', 'a', ['zzz', 'r']], ...seq(2, 'get', 'a', null, 'p'));
    assertOk(checkLinearizable(events));
  });

  it('ignores failed operations', () => {
    const events = h(
      ...seq(0, 'put', 'a', 'p'),
      ...seq(1, 'put', 'a', 'never', 'never', 'fail'),
      ...seq(1, 'cas', 'a', ['p', 'q'], ['p', 'q'], 'fail'),
      ...seq(2, 'get', 'a', null, null, 'fail'),
      ...seq(2, 'get', 'a', null, 'p'),
    );
    assert.deepEqual(checkLinearizable(events), { ok: true, keys: 1, ops: 2 });
    // The same put counted as successful would make the final read stale: proves the drop is what passes it.
    const asOk = h(...seq(0, 'put', 'a', 'p'), ...seq(1, 'put', 'a', 'never'), ...seq(2, 'get', 'a', null, 'p'));
    assertViolation(checkLinearizable(asOk));
  });

  it('returns unknown when the search budget is exhausted', () => {
    const rows: Row[] = [];
    for (let p = 0; p < 6; p++) rows.push([p, 'invoke', 'append', 'a', String(p)]);
    for (let p = 0; p < 6; p++) rows.push([p, 'ok', 'append', 'a', String(p)]);
    rows.push(...seq(9, 'get', 'a', null, '543210'));
    const result = checkLinearizable(h(...rows), { maxStates: 5 });
    assert.equal(result.ok, 'unknown');
    assert.equal(result.key, 'a');
    assert.match(result.reason, /search budget exhausted/);
    assertOk(checkLinearizable(h(...rows)));
  });
});

describe('history format', () => {
  const text =
    '{"process":0,"type":"invoke","f":"put","key":"a","value":"x","time":1}\n' +
    '{"process":0,"type":"ok","f":"put","key":"a","value":"x","time":2}\n' +
    '{"process":1,"type":"invoke","f":"get","key":"a","value":null,"time":2}\n' +
    '{"process":1,"type":"ok","f":"get","key":"a","value":null,"time":3}\n' +
    '{"process":2,"type":"invoke","f":"cas","key":"b","value":[null,"n"],"time":4}\n' +
    '{"process":2,"type":"fail","f":"cas","key":"b","value":[null,"n"],"time":5}\n' +
    '{"process":3,"type":"invoke","f":"append","key":"b","value":"q","time":6}\n' +
    '{"process":3,"type":"info","f":"append","key":"b","value":"q","time":7}\n';

  it('round-trips through parseHistory and formatHistory', () => {
    const events = parseHistory(text);
    assert.equal(events.length, 8);
    assert.equal(formatHistory(events), text);
    assert.deepEqual(parseHistory(formatHistory(events)), events);
    assert.equal(formatHistory([]), '');
  });

  it('skips blank lines but keeps line numbers in errors', () => {
    assert.equal(parseHistory('\n' + text + '\n\n').length, 8);
    assert.throws(() => parseHistory('\n\n{"process":0}\n'), /line 3/);
  });

  const bad: [string, string, RegExp][] = [
    ['invalid JSON', '{"process":0,', /line 4: invalid JSON/],
    ['non-object', '[1,2]', /line 4: expected a JSON object/],
    ['missing time', '{"process":0,"type":"ok","f":"put","key":"a","value":"x"}', /line 4: field "time" must be a finite number, missing/],
    ['negative process', '{"process":-1,"type":"ok","f":"put","key":"a","value":"x","time":9}', /line 4: field "process"/],
    ['fractional process', '{"process":1.5,"type":"ok","f":"put","key":"a","value":"x","time":9}', /line 4: field "process"/],
    ['bad type', '{"process":0,"type":"done","f":"put","key":"a","value":"x","time":9}', /line 4: field "type".*"done"/],
    ['bad f', '{"process":0,"type":"ok","f":"delete","key":"a","value":"x","time":9}', /line 4: field "f".*"delete"/],
    ['numeric key', '{"process":0,"type":"ok","f":"put","key":7,"value":"x","time":9}', /line 4: field "key"/],
    ['missing value', '{"process":0,"type":"ok","f":"put","key":"a","time":9}', /line 4: field "value" is missing/],
    ['put without string', '{"process":0,"type":"ok","f":"put","key":"a","value":null,"time":9}', /line 4: field "value" of a put/],
    ['get invoke with value', '{"process":0,"type":"invoke","f":"get","key":"a","value":"x","time":9}', /line 4: field "value" of a get invoke must be null/],
    ['get ok with number', '{"process":0,"type":"ok","f":"get","key":"a","value":3,"time":9}', /line 4: field "value" of a get ok/],
    ['cas with one element', '{"process":0,"type":"invoke","f":"cas","key":"a","value":["x"],"time":9}', /line 4: field "value" of a cas/],
    ['cas with null new', '{"process":0,"type":"invoke","f":"cas","key":"a","value":["x",null],"time":9}', /line 4: field "value" of a cas/],
    ['time going backwards', '{"process":9,"type":"invoke","f":"get","key":"a","value":null,"time":1}', /line 4: field "time" must be non-decreasing/],
  ];
  for (const [name, line, expected] of bad) {
    it(`names the line and field: ${name}`, () => {
      const lines = text.split('\n').slice(0, 3);
      assert.throws(() => parseHistory([...lines, line].join('\n')), expected);
    });
  }

  it('pairs invokes with completions, and pending invokes become info', () => {
    const ops = pairOperations(parseHistory(text + '{"process":4,"type":"invoke","f":"get","key":"a","value":null,"time":8}\n'));
    assert.deepEqual(
      ops.map((op) => [op.f, op.result, op.invokeIndex, op.returnIndex, op.returnTime]),
      [
        ['put', 'ok', 0, 1, 2],
        ['get', 'ok', 2, 3, 3],
        ['cas', 'fail', 4, 5, 5],
        ['append', 'info', 6, 7, Infinity],
        ['get', 'info', 8, Infinity, Infinity],
      ],
    );
    assert.deepEqual(ops[2].invokeValue, [null, 'n']);
  });

  it('rejects malformed pairings', () => {
    assert.throws(() => pairOperations(h([0, 'ok', 'put', 'a', 'x'])), /event #0.*completion without a pending invoke/);
    assert.throws(() => pairOperations(h([0, 'invoke', 'put', 'a', 'x'], [0, 'invoke', 'get', 'a', null])), /event #1.*already has an operation outstanding since event #0/);
    assert.throws(() => pairOperations(h([0, 'invoke', 'put', 'a', 'x'], [0, 'ok', 'get', 'a', 'x'])), /does not match the pending/);
    assert.throws(() => pairOperations(h([0, 'invoke', 'put', 'a', 'x'], [0, 'ok', 'put', 'b', 'x'])), /does not match the pending/);
    assert.throws(() => pairOperations(h([0, 'invoke', 'put', 'a', 'x'], [0, 'ok', 'put', 'a', 'y'])), /carries value "y"/);
    assert.throws(() => checkLinearizable(h([0, 'ok', 'get', 'a', null])), /completion without a pending invoke/);
  });
});

/** mulberry32: a tiny seeded PRNG so the randomized history is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Pending {
  f: 'put' | 'get' | 'append' | 'cas';
  key: string;
  arg: Value;
  applied: boolean;
  output: Value;
  result: 'ok' | 'fail' | 'info';
}

/**
 * Simulates clients of a real atomic register: each op is invoked, takes effect atomically at a random later
 * tick, and completes at a random tick after that, so intervals overlap at random. Some ops end `info`
 * (whether or not they took effect) and some never complete.
 */
function simulate(seed: number, processes: number, opsPerProcess: number, keys: string[]): HistoryEvent[] {
  const rand = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const store = new Map<string, string>();
  const rows: Row[] = [];
  const pending = Array.from({ length: processes }, (): Pending | undefined => undefined);
  const started = new Array<number>(processes).fill(0);
  let unique = 0;

  const invoke = (p: number): void => {
    const f = pick(['put', 'get', 'get', 'append', 'cas'] as const);
    const key = pick(keys);
    const current = store.get(key) ?? null;
    let arg: Value = null;
    // Unique, delimited strings: no written value is a substring of another, so the checker can tell which
    // unknown-outcome writes a read could have seen (as a real harness should do for append workloads).
    if (f === 'put' || f === 'append') arg = `${f[0]}${unique++};`;
    // Expect the value current at invoke time: it often still holds when the cas takes effect, sometimes not.
    if (f === 'cas') arg = [rand() < 0.8 ? current : 'nope', `c${unique++};`];
    pending[p] = { f, key, arg, applied: false, output: null, result: 'ok' };
    rows.push([p, 'invoke', f, key, arg]);
    started[p]++;
  };

  const apply = (op: Pending): void => {
    op.applied = true;
    const current = store.get(op.key) ?? null;
    if (op.f === 'put') store.set(op.key, op.arg as string);
    else if (op.f === 'append') store.set(op.key, (current ?? '') + (op.arg as string));
    else if (op.f === 'get') op.output = current;
    else {
      const [expected, next] = op.arg as [string | null, string];
      if (current === expected) store.set(op.key, next);
      else op.result = 'fail';
    }
  };

  const complete = (p: number, op: Pending): void => {
    // A tenth of the ops lose their reply: info, whether or not they took effect (a get's output is then lost).
    const lost = rand() < 0.1;
    if (!op.applied && !lost) apply(op);
    const type = lost ? 'info' : op.result;
    const value: Value = op.f === 'get' ? (type === 'ok' ? op.output : null) : op.arg;
    rows.push([p, type, op.f, op.key, value]);
    pending[p] = undefined;
  };

  for (;;) {
    const live = [...pending.keys()].filter((p) => pending[p] !== undefined || started[p] < opsPerProcess);
    if (live.length === 0) break;
    const p = pick(live);
    const op = pending[p];
    if (op === undefined) invoke(p);
    else if (!op.applied && rand() < 0.5) apply(op);
    else if (started[p] === opsPerProcess && rand() < 0.05) pending[p] = undefined; // never completes
    else complete(p, op);
  }
  return h(...rows);
}

describe('linearizability checker: randomized register histories', () => {
  it('accepts a simulated atomic register and rejects it with one read corrupted', () => {
    const events = simulate(20240611, 8, 250, ['k1', 'k2']);
    assert.ok(events.length > 3500, `history too small: ${events.length}`);
    const keys = new Set(events.map((e) => e.key));
    assert.equal(keys.size, 2);
    const started = Date.now();
    assertOk(checkLinearizable(events));

    // Corrupt a read in the middle of the history to a value nobody ever wrote.
    const reads = events.map((e, i) => [e, i] as const).filter(([e]) => e.f === 'get' && e.type === 'ok' && e.value !== null);
    const [victim, at] = reads[Math.floor(reads.length / 2)];
    const corrupted = events.slice();
    corrupted[at] = { ...victim, f: 'get', type: 'ok', value: 'corrupted' };
    const result = checkLinearizable(corrupted);
    assertViolation(result, victim.key);
    assert.match(result.reason, /get -> "corrupted"/);
    // Generous bound (machines are shared): it only has to catch an exponential blow-up, which takes many seconds.
    assert.ok(Date.now() - started < 5000, 'checking took too long');
  });

  it('rejects a history where a read is made stale by swapping it for an older value', () => {
    // Sequential writes then a read of the second-to-last value: definitely stale, even inside a long history.
    const events = simulate(7, 4, 100, ['k']);
    const tail = h(...seq(0, 'put', 'k', 'last-1'), ...seq(0, 'put', 'k', 'last-2'), ...seq(1, 'get', 'k', null, 'last-1'));
    const offset = events.length;
    const shifted = tail.map((e) => ({ ...e, process: e.process + 100, time: e.time + offset }));
    assertOk(checkLinearizable([...events, ...shifted.slice(0, 4)]));
    assertViolation(checkLinearizable([...events, ...shifted]), 'k');
  });
});
