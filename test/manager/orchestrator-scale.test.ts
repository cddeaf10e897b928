// Batching: many tasks in few transactions, and passes that stay O(tasks).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState } from '../../src/manager/store/types.js';
import { MAX_CHANGES_PER_PASS } from '../../src/manager/orchestrator/slots.js';
import { Harness } from './orchestrator-fixtures.js';

test('10,000 replicas are created in few transactions, at most MAX_CHANGES_PER_PASS per pass, and scaled down likewise', async (t) => {
  const h = new Harness();
  h.replicated('big', 10_000);
  let t0 = performance.now();
  await h.reconcile();
  assert.equal(h.live('big').length, MAX_CHANGES_PER_PASS, 'one pass creates at most MAX_CHANGES_PER_PASS tasks');
  await h.reconcile();
  const createMs = performance.now() - t0;
  assert.equal(h.live('big').length, 10_000);
  assert.ok(h.ls.writes <= 6, `${h.ls.writes} transactions`);
  const slots = new Set(h.live('big').map((t) => t.slot));
  assert.equal(slots.size, 10_000);

  const writes = h.ls.writes;
  t0 = performance.now();
  await h.reconcile();
  const idleMs = performance.now() - t0;
  assert.equal(h.ls.writes, writes, 'nothing to do');

  h.scale('big', 10);
  const before = h.ls.writes;
  await h.reconcile();
  assert.equal(h.live('big').length, 10_000 - MAX_CHANGES_PER_PASS, 'one pass stops at most MAX_CHANGES_PER_PASS tasks');
  await h.reconcile();
  assert.ok(h.ls.writes - before <= 6, `${h.ls.writes - before} transactions`);
  assert.equal(h.live('big').length, 10);
  assert.equal(h.tasks('big').filter((t) => t.status.state === TaskState.SHUTDOWN).length, 9_990);
  // Reported for the record (node's test runner prints diagnostics).
  t.diagnostic(`create 10k: ${createMs.toFixed(0)} ms, idle pass: ${idleMs.toFixed(0)} ms`);
});
