import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatHistory, parseHistory } from '../../src/testing/history.js';
import { runSeed } from './simulation.js';

test('one seed gives one run: identical trace hash, trace and history on a rerun', () => {
  for (const seed of [3, 44, 1005]) {
    const a = runSeed(seed, {}, { keepTrace: true });
    const b = runSeed(seed, {}, { keepTrace: true });
    assert.equal(a.traceHash, b.traceHash, `seed ${seed}`);
    assert.deepEqual(a.trace, b.trace);
    assert.equal(formatHistory(a.history), formatHistory(b.history));
    assert.ok(a.trace!.length > 200, `seed ${seed}: a run has a substantial trace (${a.trace!.length} lines)`);
  }
});

test('different seeds give different runs', () => {
  const hashes = new Set([1, 2, 3, 4, 5, 6].map((s) => runSeed(s).traceHash));
  assert.equal(hashes.size, 6);
});

test('the exported history is valid JSON lines in the documented format', () => {
  const r = runSeed(12);
  const text = formatHistory(r.history);
  const back = parseHistory(text);
  assert.equal(back.length, r.history.length);
  const fs = new Set(back.map((e) => e.f));
  for (const f of ['put', 'get', 'append', 'cas']) assert.ok(fs.has(f as never), `history has ${f}`);
  for (const line of text.trim().split('\n')) {
    const o = JSON.parse(line) as Record<string, unknown>;
    assert.deepEqual(Object.keys(o).sort(), ['f', 'key', 'process', 'time', 'type', 'value']);
  }
});
