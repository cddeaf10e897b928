// The image puller on its own (no engine): what is remembered and what is not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { EngineUnavailableError, ImageNotFoundError } from '../../../../src/worker/exec/executor.js';
import { ImagePuller } from '../../../../src/worker/exec/docker/image-puller.js';

function logger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

test('the engine away during a pull is passed on and not remembered; a registry refusal is', async () => {
  const log = logger();
  let pulls = 0;
  let failWith: Error = new EngineUnavailableError('unix:///x.sock', 'connect ECONNREFUSED');
  const puller = new ImagePuller({
    present: async () => false,
    pull: async () => {
      pulls++;
      throw failWith;
    },
    logger: log.logger,
  });
  await assert.rejects(puller.ensure('a:1'), EngineUnavailableError);
  await assert.rejects(puller.ensure('a:1'), EngineUnavailableError);
  assert.equal(pulls, 2, 'tried again: the engine, not the image, was the problem');
  assert.equal(puller.stats().backedOff, 0);
  failWith = new ImageNotFoundError('a:1', 'pull failed: manifest unknown');
  await assert.rejects(puller.ensure('a:1'), /\(pull failed: manifest unknown; not retried for 10 s after 1 failed pull\)$/);
  await assert.rejects(puller.ensure('a:1'), ImageNotFoundError);
  assert.equal(pulls, 3);
  assert.equal(puller.stats().refusedFromBackoff, 1);
  assert.ok(puller.backoffRemainingMs('a:1') > 9000);
  assert.equal(puller.backoffRemainingMs('other:1'), 0);
});

test('pulling disabled: an absent image is looked for once per back-off; the next look says how many were refused meanwhile', async () => {
  const log = logger();
  let now = 0;
  let looks = 0;
  let here = false;
  const puller = new ImagePuller({
    present: async () => {
      looks++;
      return here;
    },
    logger: log.logger,
    clock: () => now,
    initialBackoffMs: 1000,
  });
  await assert.rejects(puller.ensure('b:1'), /could not be pulled \(pulling is disabled on this node; not looked for again for 1 s\)$/);
  for (let i = 0; i < 50; i++) await assert.rejects(puller.ensure('b:1'), ImageNotFoundError);
  assert.equal(looks, 1);
  now += 1000;
  here = true; // loaded by hand meanwhile
  await puller.ensure('b:1');
  assert.equal(looks, 2);
  assert.equal(puller.stats().backedOff, 0);
  assert.equal(log.lines.filter((l) => l.level === 40).length, 1, 'one warning for 51 refusals');
});

test('concurrent asks share one look; a failure seen by all of them is one warning', async () => {
  const log = logger();
  let pulls = 0;
  const puller = new ImagePuller({
    present: async () => false,
    pull: async () => {
      pulls++;
      await new Promise((r) => setTimeout(r, 20));
      throw new ImageNotFoundError('c:1', 'pull failed: denied');
    },
    logger: log.logger,
  });
  const results = await Promise.allSettled(Array.from({ length: 100 }, () => puller.ensure('c:1')));
  assert.ok(results.every((r) => r.status === 'rejected'));
  assert.equal(pulls, 1);
  assert.equal(log.lines.filter((l) => l.msg === 'image not present, pulling').length, 1);
  assert.equal(log.lines.filter((l) => l.level === 40).length, 1);
});
