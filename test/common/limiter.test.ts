// The generic concurrency limiter: a bound, FIFO order with a front lane,
// waiters that leave on abort without taking a slot, and its counters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Limiter } from '../../src/common/limiter.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('at most `limit` jobs at once, the others in FIFO order; counters tell the pressure', async () => {
  const l = new Limiter('test', 3);
  let open = 0;
  let peak = 0;
  const order: number[] = [];
  const releases: (() => void)[] = [];
  const jobs = Array.from({ length: 10 }, (_, i) =>
    l.run(async () => {
      open++;
      peak = Math.max(peak, open);
      order.push(i);
      await new Promise<void>((r) => releases.push(r));
      open--;
    }),
  );
  await tick();
  assert.deepEqual(l.stats(), { limit: 3, inFlight: 3, queued: 7, peakInFlight: 3, peakQueued: 7, acquired: 3 });
  while (order.length < 10 || releases.length > 0) {
    releases.shift()?.();
    await tick();
  }
  await Promise.all(jobs);
  assert.equal(peak, 3);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(l.stats(), { limit: 3, inFlight: 0, queued: 0, peakInFlight: 3, peakQueued: 7, acquired: 10 });
});

test('priority waiters go ahead of the queue, in their own FIFO order', async () => {
  const l = new Limiter('test', 1);
  const hold = await l.acquire();
  const got: string[] = [];
  const waits = ['a', 'b', 'P1', 'c', 'P2'].map((name) =>
    l.acquire({ priority: name.startsWith('P') }).then((release) => {
      got.push(name);
      release();
    }),
  );
  hold();
  await Promise.all(waits);
  assert.deepEqual(got, ['P1', 'P2', 'a', 'b', 'c']);
});

test('an aborted waiter leaves the queue without taking a slot; an aborted signal is refused at once', async () => {
  const l = new Limiter('test', 1);
  const hold = await l.acquire();
  const ac = new AbortController();
  const quitter = l.acquire({ signal: ac.signal });
  const next = l.acquire();
  assert.equal(l.stats().queued, 2);
  ac.abort();
  await assert.rejects(quitter, { name: 'AbortError' });
  assert.equal(l.stats().queued, 1);
  hold();
  const release = await next;
  assert.equal(l.stats().inFlight, 1);
  release();
  release(); // twice is harmless
  assert.equal(l.stats().inFlight, 0);
  await assert.rejects(l.acquire({ signal: AbortSignal.abort() }), { name: 'AbortError' });
  assert.equal(l.stats().acquired, 2);
});

test('a slot is given back when the job throws', async () => {
  const l = new Limiter('test', 1);
  await assert.rejects(l.run(async () => Promise.reject(new Error('boom'))), /boom/);
  assert.equal(await l.run(async () => 7), 7);
  assert.equal(l.stats().inFlight, 0);
  assert.throws(() => new Limiter('bad', 0), /integer >= 1/);
});

test('20,000 waiters, half of them aborted: the queue drains in order without a quadratic cost', async () => {
  const l = new Limiter('test', 1);
  const hold = await l.acquire();
  const served: number[] = [];
  const ctls: AbortController[] = [];
  const waits: Promise<void>[] = [];
  for (let i = 0; i < 20_000; i++) {
    const ac = new AbortController();
    ctls.push(ac);
    waits.push(
      l.acquire({ signal: ac.signal }).then(
        (release) => {
          served.push(i);
          release();
        },
        () => undefined,
      ),
    );
  }
  const reason = new DOMException('gone', 'AbortError');
  for (let i = 0; i < ctls.length; i += 2) ctls[i].abort(reason);
  const t0 = Date.now();
  hold();
  await Promise.all(waits);
  assert.equal(served.length, 10_000);
  assert.ok(served.every((v, k) => v === 2 * k + 1));
  assert.ok(Date.now() - t0 < 5000, `drained in ${Date.now() - t0} ms`);
});

test('tickets: a place in the queue cancelled by hand; cancelling a granted ticket does nothing', async () => {
  const l = new Limiter('test', 1);
  const first = l.ticket();
  const second = l.ticket({ priority: true });
  const third = l.ticket();
  assert.equal(l.stats().queued, 2);
  const reason = new DOMException('stop', 'AbortError');
  second.cancel(reason);
  second.cancel();
  await assert.rejects(second.granted, (err) => err === reason);
  const release = await first.granted;
  first.cancel(); // granted already: harmless, the slot stays held
  assert.equal(l.stats().inFlight, 1);
  release();
  (await third.granted)();
  assert.deepEqual(l.stats(), { limit: 1, inFlight: 0, queued: 0, peakInFlight: 1, peakQueued: 2, acquired: 2 });
});
