// Against the REAL engine (issue 13): an agent with 300 tasks of an image
// nobody has rejects them all with at most one pull, keeps the engine's
// `docker info` answering within 2 s during and after, and never holds more
// than its bounded number of requests open. Run under the heavy-tests lock.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { TaskState } from '../../src/api/objects.js';
import { Agent } from '../../src/worker/agent.js';
import { DockerExecutor } from '../../src/worker/exec/docker/docker-executor.js';
import { connectEngine } from '../../src/worker/exec/docker/engine.js';
import { Collector, clusterContainers, makeTask, removeClusterContainers, requireEngine, uniqueClusterId, waitFor } from './engine.js';

const engine = await requireEngine('agent-missing-image-docker.test');
const skip = engine.skip;
const clusterId = uniqueClusterId('missing');

after(async () => {
  if (skip) return;
  await removeClusterContainers(engine.docker, clusterId);
});

/** `docker info` through a connection of its own (not the executor's): milliseconds, or Infinity past 2 s. */
async function infoMs(): Promise<number> {
  const probe = connectEngine();
  const info = probe.info.bind(probe) as unknown as (o: { abortSignal: AbortSignal }) => Promise<unknown>;
  const t0 = performance.now();
  try {
    await info({ abortSignal: AbortSignal.timeout(2000) });
    return performance.now() - t0;
  } catch {
    return Infinity;
  }
}

test('300 tasks of a missing image: all REJECTED, at most one pull, `docker info` within 2 s during and after, no connection storm', { skip }, async () => {
  const image = `flotilla/no-such-image-${randomBytes(4).toString('hex')}:1`;
  const pullsLogged: unknown[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l && (JSON.parse(l) as { msg?: string }).msg === 'image not present, pulling') pullsLogged.push(l);
      cb();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const executor = new DockerExecutor({ docker: connectEngine(), logger, nodeId: 'node-1' });
  const c = new Collector();
  const owner = { clusterId, nodeId: 'node-1' };
  const agent = new Agent({ executor, ...owner, reporter: c.reporter, batchMs: 20, maxBatch: 256, logger });
  await agent.start();
  const tasks = Array.from({ length: 300 }, () => makeTask({ image, nodeId: owner.nodeId }));

  const during: number[] = [];
  let rejected = 0;
  const t0 = Date.now();
  const assigned = agent.assign(tasks);
  // Probe while the tasks are being taken up and rejected.
  while (rejected < tasks.length) {
    during.push(await infoMs());
    rejected = tasks.filter((t) => c.last(t.id)?.state === TaskState.REJECTED).length;
    if (Date.now() - t0 > 60_000) break;
  }
  await assigned;
  await waitFor('all 300 rejected', () => tasks.every((t) => c.last(t.id)?.state === TaskState.REJECTED), 30_000, 50);
  const took = Date.now() - t0;
  const afterMs = await infoMs();
  await agent.stop();

  const s = executor.stats();
  const diag = JSON.stringify({ took, during, afterMs, stats: s });
  assert.ok(during.length >= 1 && during.every((ms) => ms < 2000), `docker info during: ${diag}`);
  assert.ok(afterMs < 2000, `docker info after: ${diag}`);
  assert.ok(pullsLogged.length <= 1, `${pullsLogged.length} pulls logged: ${diag}`);
  assert.ok(s.pulls.acquired <= 1 && s.images.pulls <= 1, diag);
  // No storm: the executor never had more than its bound of requests open (no long polls: nothing ran).
  assert.ok(s.calls.peakInFlight <= 12, diag);
  assert.ok(s.calls.acquired <= 5, `${s.calls.acquired} short calls for 300 rejections: ${diag}`);
  assert.equal(s.longPolls.peak, 0);
  for (const t of tasks) {
    assert.match(c.last(t.id)?.err ?? '', new RegExp(`^image not found: ${image.replace(/[/.]/g, '\\$&')} is not present on this node and could not be pulled \\(.+; not retried for \\d+ s after 1 failed pull\\)$`));
  }
  assert.deepEqual(await clusterContainers(engine.docker, clusterId), [], 'no container was created');
});
