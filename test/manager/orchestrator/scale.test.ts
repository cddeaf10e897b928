// Batching: many tasks in few transactions, and passes that stay O(tasks).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deleteAction } from '../../../src/manager/store/store.js';
import { TaskState, type Service, type Task } from '../../../src/api/objects.js';
import { MAX_CHANGES_PER_PASS } from '../../../src/manager/orchestrator/slots.js';
import { Harness } from './fixtures.js';

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

test('a pass for some slots of a large service plans only those slots (a task that ends does not re-plan the service)', async () => {
  const h = new Harness();
  const svc = h.replicated('big', 1_000);
  await h.reconcile();
  await h.reconcile();
  assert.equal(h.live('big').length, 1_000);
  // Two slots lose their task (their node went away, say: the tasks are simply deleted here).
  const bySlot = h.liveBySlot('big');
  h.ls.applyNow([deleteAction('task', (bySlot.get(3) as Task).id), deleteAction('task', (bySlot.get(7) as Task).id)]);
  const only3 = h.orch.replicated.planOne(h.store.get('service', svc.id) as Service, h.now, new Set([3]));
  assert.equal(only3.stats.created, 1, 'slot 3 only');
  assert.deepEqual(only3.units.flatMap((u) => u.actions.map((a) => (a.object as Task).slot)), [3]);
  const whole = h.orch.replicated.planOne(h.store.get('service', svc.id) as Service, h.now);
  assert.equal(whole.stats.created, 2, 'a whole pass finds both');
  assert.deepEqual(h.store.checkIndexes(), [], 'the slot index agrees with the tasks');
});
