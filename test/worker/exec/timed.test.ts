// The timed executor (src/worker/exec/timed.ts): each call of an operation is
// reported once with its duration and outcome; the calls that last as long as
// a container (wait, logs) are not; everything else passes straight through.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { timedExecutor, type ExecutorOperation } from '../../../src/worker/exec/timed.js';
import { ContainerNotFoundError } from '../../../src/worker/exec/executor.js';
import { makeTask } from '../engine.js';
import { HollowExecutor } from '../hollow-executor.js';

const owner = { clusterId: 'timed-cluster', nodeId: 'node-1' };

test('operations are reported with their label, duration and outcome; wait is not timed; other members pass through', async () => {
  const seen: [ExecutorOperation, number, boolean][] = [];
  const hollow = new HollowExecutor();
  const ex = timedExecutor(hollow, (op, s, ok) => seen.push([op, s, ok]));
  const t = makeTask();
  hollow.script(t.id, { exitAfterMs: 5, exitCode: 0 });
  const id = await ex.prepare(t, owner);
  await ex.start(id);
  await ex.wait(id);
  await ex.inspect(id);
  await ex.remove(id);
  await assert.rejects(ex.shutdown('no-such-container', 0), ContainerNotFoundError);
  assert.deepEqual(
    seen.map(([op, , ok]) => [op, ok]),
    [
      ['create', true],
      ['start', true],
      ['inspect', true],
      ['remove', true],
      ['stop', false],
    ],
  );
  assert.ok(seen.every(([, s]) => s >= 0 && s < 60));
  // Not an operation: the hollow executor's own members, read through the proxy.
  assert.deepEqual(ex.ids(), hollow.ids());
  assert.ok(ex.calls.length > 0);
});

test('a synchronous throw is reported as a failed call and rethrown', () => {
  const seen: [ExecutorOperation, boolean][] = [];
  const hollow = new HollowExecutor();
  hollow.describe = () => {
    throw new Error('engine gone');
  };
  const ex = timedExecutor(hollow, (op, _s, ok) => seen.push([op, ok]));
  assert.throws(() => void ex.describe(), /engine gone/);
  assert.deepEqual(seen, [['describe', false]]);
});
