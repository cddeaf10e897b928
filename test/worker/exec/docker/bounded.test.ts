// Bounded engine work (issue 13), against a STUB engine (stub-engine.ts) that
// counts what it is asked: thousands of tasks never mean thousands of engine
// requests; describe() answers while the queue is full, and a wedged engine
// is a clear error; a missing image costs one inspect and one pull per node,
// then nothing at all during its back-off; the log grows with events, not tasks.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { TaskState } from '../../../../src/api/objects.js';
import { Agent } from '../../../../src/worker/agent.js';
import { DockerExecutor, type DockerExecutorOptions } from '../../../../src/worker/exec/docker/docker-executor.js';
import { connectEngine } from '../../../../src/worker/exec/docker/engine.js';
import { EngineUnavailableError, ImageNotFoundError } from '../../../../src/worker/exec/executor.js';
import { Collector, makeTask, waitFor } from '../../engine.js';
import { StubEngine, type StubEngineOptions } from './stub-engine.js';

const owner = { clusterId: 'stub-cluster', nodeId: 'node-1' };
const IMAGE = 'busybox:stub';
const MISSING = 'nosuch/image:1';

/** A logger whose lines (parsed) are kept, to count messages. */
function capturingLogger(level = 'info'): { logger: Logger; lines: Record<string, unknown>[]; count(msg: string): number } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level }, sink), lines, count: (msg) => lines.filter((l) => l.msg === msg).length };
}

const engines: StubEngine[] = [];
async function stub(options: StubEngineOptions = {}): Promise<StubEngine> {
  const e = await StubEngine.start({ images: [IMAGE], ...options });
  engines.push(e);
  return e;
}
after(async () => {
  for (const e of engines) await e.close();
});

function executorOn(engine: StubEngine, options: DockerExecutorOptions = {}): DockerExecutor {
  return new DockerExecutor({ docker: connectEngine({ socketPath: engine.socketPath }), hostname: 'stub-host', ...options });
}

let engine5k: StubEngine;
before(async () => {
  engine5k = await stub({ latencyMs: 1, exitAfterMs: 5 });
});

test('5,000 tasks assigned at once: at most 12 short engine calls in flight (as the engine counts them), 32 tasks starting; describe() answers at once meanwhile; all complete', async () => {
  const engine = engine5k;
  const executor = executorOn(engine);
  const c = new Collector();
  const agent = new Agent({ executor, ...owner, reporter: c.reporter, batchMs: 50, maxBatch: 256, healthPollMs: 1000 });
  await agent.start();
  const tasks = Array.from({ length: 5000 }, () => makeTask({ image: IMAGE }));
  await agent.assign(tasks);
  // The queue is full now: thousands of tasks wait, engine calls queue behind 12.
  await waitFor('engine calls queueing', () => executor.stats().calls.queued > 0 && agent.stats().starts.queued > 1000, 5000, 5);
  const slowest = { ms: 0 };
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const d = await executor.describe();
    slowest.ms = Math.max(slowest.ms, performance.now() - t0);
    assert.equal(d.engineVersion, '20.10-stub');
    assert.ok(agent.stats().starts.queued > 0, 'the backlog is still there');
  }
  // Loose on purpose (a loaded 2-core machine, this process busy with 5,000 tasks);
  // the next tests show the lane itself against a long queue.
  assert.ok(slowest.ms < 1000, `describe() took ${slowest.ms.toFixed(0)} ms behind the backlog`);
  const completed = new Set<string>();
  await waitFor('5,000 tasks complete', () => {
    for (const b of c.batches.splice(0)) for (const u of b) if (u.status.state === TaskState.COMPLETE) completed.add(u.taskId);
    return completed.size === tasks.length;
  }, 120_000, 50);
  await agent.stop();
  const s = executor.stats();
  assert.ok(engine.peak.short <= 12, `the engine saw ${engine.peak.short} short calls at once`);
  assert.equal(s.calls.peakInFlight, 12, 'calls queued, so every slot was in use');
  assert.ok(agent.stats().starts.peakInFlight <= 32, `${agent.stats().starts.peakInFlight} tasks starting at once`);
  assert.ok(engine.peak.info <= 1);
  // One create, one start per task: nothing was asked twice.
  assert.equal(engine.count(/^POST \/containers\/create$/), 5000);
  assert.equal(engine.count(/^POST \/containers\/[^/]+\/start$/), 5000);
  // The long polls (one wait per running container) hold no slot and were counted.
  assert.ok(s.longPolls.peak >= 1 && s.longPolls.open === 0);
});

test('describe(): concurrent callers share one request; a wedged engine is an EngineUnavailableError after the timeout, not a hang', async () => {
  const engine = await stub({ infoHangs: true });
  const executor = executorOn(engine, { describeTimeoutMs: 300 });
  const t0 = Date.now();
  const results = await Promise.allSettled([executor.describe(), executor.describe(), executor.describe()]);
  const took = Date.now() - t0;
  assert.ok(took >= 280 && took < 2000, `gave up after ${took} ms`);
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    const err = (r as PromiseRejectedResult).reason as unknown;
    assert.ok(err instanceof EngineUnavailableError, String(err));
    assert.match(err.message, /is not reachable: no answer to an engine-info request within 300 ms \(the engine is overloaded or wedged\)/);
  }
  assert.equal(engine.count(/^GET \/info$/), 1, 'one request for three callers');
  assert.equal(executor.stats().describe.timeouts, 1);
  await waitFor('the request closed', () => engine.open.info === 0, 2000);
  // The engine answers again: so does describe().
  engine.options.infoHangs = false;
  assert.equal((await executor.describe()).hostname, 'stub-host');
});

test('short calls beyond the limit wait in FIFO order; describe() does not wait behind them', async () => {
  const engine = await stub({ latencyMs: 25 });
  const executor = executorOn(engine, { maxConcurrentCalls: 4 });
  const order: number[] = [];
  // 400 calls of 25 ms, 4 at a time: a queue of 2.5 s.
  const calls = Array.from({ length: 400 }, (_, i) => executor.inspect(`nope${i}`).then(() => order.push(i)));
  await waitFor('calls queued', () => executor.stats().calls.queued >= 350, 2000, 1);
  const t0 = performance.now();
  await executor.describe();
  const took = performance.now() - t0;
  const queued = executor.stats().calls.queued;
  await Promise.all(calls);
  assert.ok(took < 500 && queued > 300, `describe() took ${took.toFixed(0)} ms behind ${queued} queued calls of 25 ms, 4 at a time`);
  assert.equal(engine.peak.short, 4);
  assert.equal(executor.stats().calls.peakInFlight, 4);
  // FIFO: a call never finishes before one queued 4 or more places earlier.
  for (let k = 0; k < order.length; k++) assert.ok(order[k] >= k - 3, `call ${order[k]} finished ${k}th`);
});

test('1,000 tasks of one missing image: one inspect, one pull, all REJECTED with the reason and the back-off; "pulling" logged once', async () => {
  const engine = await stub({ pullMs: 100 });
  const log = capturingLogger();
  const executor = executorOn(engine, { logger: log.logger });
  const c = new Collector();
  const agent = new Agent({ executor, ...owner, reporter: c.reporter, batchMs: 20, maxBatch: 512, logger: log.logger });
  await agent.start();
  const tasks = Array.from({ length: 1000 }, () => makeTask({ image: MISSING }));
  await agent.assign(tasks);
  await waitFor('all rejected', () => tasks.every((t) => c.last(t.id)?.state === TaskState.REJECTED), 20_000, 20);
  assert.equal(engine.count(/^POST \/images\/create$/), 1);
  assert.equal(engine.count(/^GET \/images\/.*\/json$/), 1);
  assert.equal(engine.count(/^POST \/containers\/create$/), 0);
  for (const t of tasks) {
    assert.match(
      c.last(t.id)?.err ?? '',
      /^image not found: nosuch\/image:1 is not present on this node and could not be pulled \(pull failed: pull access denied for nosuch\/image:1.*; not retried for (9|10) s after 1 failed pull\)$/,
    );
  }
  assert.equal(log.count('image not present, pulling'), 1);
  assert.equal(log.count('image pull failed: tasks that need it are rejected without asking the engine until the retry'), 1);
  // Logs follow events: no line per task at info.
  assert.ok(log.lines.length < 10, `${log.lines.length} log lines for 1,000 rejections: ${JSON.stringify(log.lines.slice(0, 5))}`);
  assert.equal(executor.stats().images.pulls, 1);

  // During the back-off: 500 more tasks of that image, and not one request reaches the engine.
  const before = engine.requests.length;
  const more = Array.from({ length: 500 }, () => makeTask({ image: MISSING }));
  await agent.assignChanges(more, []);
  await waitFor('the others rejected', () => more.every((t) => c.last(t.id)?.state === TaskState.REJECTED), 10_000, 20);
  assert.equal(engine.requests.length, before, `asked the engine: ${engine.requests.slice(before, before + 5).join(', ')}`);
  assert.match(c.last(more[0].id)?.err ?? '', /; not retried for (9|10) s after 1 failed pull\)$/);
  assert.equal(executor.stats().images.refusedFromBackoff >= 500, true);
  await agent.stop();
});

test('the back-off doubles per failed pull (10 s, 20 s, 40 s ...) and a successful pull resets it', async () => {
  const engine = await stub({ pullMs: 1 });
  let now = 1_000_000;
  const executor = executorOn(engine, { clock: () => now });
  const task = makeTask({ image: MISSING });
  const pulls = (): number => engine.count(/^POST \/images\/create$/);
  const attempt = (): Promise<string> =>
    executor.prepare(task, owner).then(
      () => 'ok',
      (err: unknown) => {
        assert.ok(err instanceof ImageNotFoundError, String(err));
        return err.message;
      },
    );

  assert.match(await attempt(), /not retried for 10 s after 1 failed pull\)$/);
  assert.equal(pulls(), 1);
  now += 9_000;
  assert.match(await attempt(), /not retried for 1 s after 1 failed pull\)$/);
  assert.equal(pulls(), 1, 'no pull during the back-off');
  now += 1_000;
  assert.match(await attempt(), /not retried for 20 s after 2 failed pulls\)$/);
  assert.equal(pulls(), 2);
  now += 19_999;
  await attempt();
  assert.equal(pulls(), 2);
  now += 1;
  assert.match(await attempt(), /not retried for 40 s after 3 failed pulls\)$/);
  assert.equal(pulls(), 3);
  for (const expected of [80, 160, 300, 300]) {
    now += 300_000;
    assert.match(await attempt(), new RegExp(`not retried for ${expected} s after \\d+ failed pulls\\)$`));
  }
  assert.equal(pulls(), 7);

  // The registry has it again: the next pull (after the back-off) succeeds and the slate is clean.
  engine.options.pull = 'ok';
  now += 300_000;
  assert.equal(await attempt(), 'ok');
  assert.equal(pulls(), 8);
  assert.equal(executor.stats().images.backedOff, 0);
  engine.images.delete(MISSING);
  engine.options.pull = 'fail';
  assert.match(await attempt(), /not retried for 10 s after 1 failed pull\)$/);
});

test('a task that stops waiting for a shared pull does not cancel it for the others', async () => {
  const engine = await stub({ pullMs: 300, pull: 'ok' });
  const executor = executorOn(engine);
  const ac = new AbortController();
  const quitter = executor.prepare(makeTask({ image: 'later/image:2' }), owner, ac.signal);
  const stayer = executor.prepare(makeTask({ image: 'later/image:2' }), owner);
  await waitFor('the pull started', () => engine.open.pull === 1, 2000, 2);
  ac.abort();
  await assert.rejects(quitter, { name: 'AbortError' });
  assert.match(await stayer, /^stub/);
  assert.equal(engine.count(/^POST \/images\/create$/), 1);
});

test('the engine unreachable while pulling is not remembered as a missing image', async () => {
  const dead = new DockerExecutor({ docker: connectEngine({ socketPath: '/nonexistent/docker.sock' }) });
  await assert.rejects(dead.prepare(makeTask({ image: MISSING }), owner), EngineUnavailableError);
  await assert.rejects(dead.prepare(makeTask({ image: MISSING }), owner), EngineUnavailableError);
  assert.equal(dead.stats().images.backedOff, 0);
});
