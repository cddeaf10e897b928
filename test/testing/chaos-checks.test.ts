// The chaos scenarios' checks on made-up observations: each must catch what it
// is there for (a lost write, a slot running twice too long, two leaders in a
// term) and pass what is allowed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { RpcError } from '../../src/cli/errors.js';
import { duplicateEpisodes, duplicatesBounded, linearizable, lostWrites, oneLeaderPerTerm, type SlotSample } from '../../src/testing/chaos/checks.js';
import { converged } from '../../src/testing/chaos/monitor.js';
import { writeOutcome } from '../../src/testing/chaos/workload.js';
import type { HistoryEvent } from '../../src/testing/history.js';
import { TaskState, type Task } from '../../src/api/objects.js';

let clock = 0;
function ev(process: number, type: HistoryEvent['type'], f: 'put' | 'get', key: string, value: string | null): HistoryEvent {
  return { process, type, f, key, value, time: clock++ } as HistoryEvent;
}

test('lostWrites: the last acknowledged write is what the final read returns', () => {
  const h = [ev(0, 'invoke', 'put', 'k', 'a'), ev(0, 'ok', 'put', 'k', 'a'), ev(0, 'invoke', 'put', 'k', 'b'), ev(0, 'ok', 'put', 'k', 'b')];
  assert.deepEqual(lostWrites(h, new Map([['k', 'b']])), []);
});

test('lostWrites: a final value older than an acknowledged write is a lost write', () => {
  const h = [ev(0, 'invoke', 'put', 'k', 'a'), ev(0, 'ok', 'put', 'k', 'a'), ev(1, 'invoke', 'put', 'k', 'b'), ev(1, 'ok', 'put', 'k', 'b')];
  const problems = lostWrites(h, new Map([['k', 'a']]));
  assert.equal(problems.length, 1);
  assert.match(problems[0], /key k reads "a", but 1 acknowledged writes began after that write returned \(lost, the first: b\)/);
});

test('lostWrites: concurrent writes may end in either order', () => {
  const h = [ev(0, 'invoke', 'put', 'k', 'a'), ev(1, 'invoke', 'put', 'k', 'b'), ev(0, 'ok', 'put', 'k', 'a'), ev(1, 'ok', 'put', 'k', 'b')];
  assert.deepEqual(lostWrites(h, new Map([['k', 'a']])), []);
  assert.deepEqual(lostWrites(h, new Map([['k', 'b']])), []);
});

test('lostWrites: a write of unknown outcome may be the final value; an absent value loses every acknowledged write', () => {
  const h = [ev(0, 'invoke', 'put', 'k', 'a'), ev(0, 'ok', 'put', 'k', 'a'), ev(0, 'invoke', 'put', 'k', 'b'), ev(0, 'info', 'put', 'k', 'b')];
  assert.deepEqual(lostWrites(h, new Map([['k', 'b']])), []);
  assert.deepEqual(lostWrites(h, new Map([['k', 'a']])), []);
  assert.match(lostWrites(h, new Map([['k', null]]))[0], /reads absent after 1 acknowledged writes/);
});

test('lostWrites: a value nobody wrote, or whose write was answered as failed, is reported', () => {
  const h = [ev(0, 'invoke', 'put', 'k', 'a'), ev(0, 'fail', 'put', 'k', 'a')];
  assert.match(lostWrites(h, new Map([['k', 'a']]))[0], /answered as failed/);
  assert.match(lostWrites(h, new Map([['k', 'zz']]))[0], /which no client wrote/);
});

function samples(...xs: [number, Record<number, number>][]): SlotSample[] {
  return xs.map(([t, counts]) => ({ t, counts: new Map(Object.entries(counts).map(([k, v]) => [Number(k), v])) }));
}

test('duplicateEpisodes: a slot running twice is an episode from the first sample that sees it to the first that does not', () => {
  const eps = duplicateEpisodes(samples([0, { 1: 1, 2: 1 }], [1000, { 1: 2, 2: 1 }], [2000, { 1: 2, 2: 2 }], [3000, { 1: 1, 2: 2 }]));
  assert.deepEqual(eps, [
    { slot: 1, start: 1000, end: 3000 },
    { slot: 2, start: 2000, end: Infinity },
  ]);
});

test('duplicatesBounded: within the bound passes; beyond it, or never ending, fails; a heal moves the bound', () => {
  const short = [{ slot: 1, start: 1000, end: 5000 }];
  assert.equal(duplicatesBounded(short, 10_000).ok, true);
  const long = [{ slot: 1, start: 1000, end: 20_000 }];
  const r = duplicatesBounded(long, 10_000);
  assert.equal(r.ok, false);
  assert.match(r.detail, /slot 1 ran twice for 19\.0 s/);
  assert.equal(duplicatesBounded(long, 10_000, 15_000).ok, true, 'allowed until 10 s after a heal at 15 s');
  assert.equal(duplicatesBounded([{ slot: 3, start: 0, end: Infinity }], 10_000, 5_000).ok, false);
  assert.equal(duplicatesBounded([], 10_000).ok, true);
});

test('oneLeaderPerTerm: two leaders in one term fail; a stale leader of an older term does not', () => {
  assert.equal(oneLeaderPerTerm([{ t: 0, via: 'm1', leaderId: 'a', term: 3 }, { t: 1, via: 'm2', leaderId: 'b', term: 4 }, { t: 2, via: 'm1', leaderId: 'a', term: 3 }]).ok, true);
  const r = oneLeaderPerTerm([{ t: 0, via: 'm1', leaderId: 'a', term: 3 }, { t: 1, via: 'm2', leaderId: 'b', term: 3 }]);
  assert.equal(r.ok, false);
  assert.match(r.detail, /term 3 had 2 leaders: a, b/);
});

test('linearizable: a stale read after an acknowledged write fails, a fresh one passes', () => {
  const ok = [ev(0, 'invoke', 'put', 'k', 'a'), ev(0, 'ok', 'put', 'k', 'a'), ev(1, 'invoke', 'get', 'k', null), ev(1, 'ok', 'get', 'k', 'a')];
  assert.equal(linearizable(ok).ok, true);
  const stale = [ev(0, 'invoke', 'put', 'k', 'a'), ev(0, 'ok', 'put', 'k', 'a'), ev(1, 'invoke', 'get', 'k', null), ev(1, 'ok', 'get', 'k', null)];
  const r = linearizable(stale);
  assert.equal(r.ok, false);
  assert.match(r.detail, /not linearizable/);
});

test('writeOutcome: a decided refusal is a failure; a deadline, a lost connection or anything else is unknown', () => {
  const rpc = (code: grpc.status): RpcError => new RpcError('UpdateService', code, 'x', new grpc.Metadata());
  assert.equal(writeOutcome(rpc(grpc.status.ABORTED)), 'fail');
  assert.equal(writeOutcome(rpc(grpc.status.NOT_FOUND)), 'fail');
  assert.equal(writeOutcome(rpc(grpc.status.DEADLINE_EXCEEDED)), 'info');
  assert.equal(writeOutcome(rpc(grpc.status.UNAVAILABLE)), 'info');
  assert.equal(writeOutcome(rpc(grpc.status.INTERNAL)), 'info');
  assert.equal(writeOutcome(new Error('socket hang up')), 'info');
});

function task(slot: number): Task {
  return { id: `t${slot}`, slot, desiredState: TaskState.RUNNING, status: { state: TaskState.RUNNING } } as unknown as Task;
}

test('converged: every slot once in the store and in exactly one container, nothing else', () => {
  const perSlot = (...n: number[]): Map<number, number> => new Map(n.map((c, i) => [i + 1, c]));
  assert.equal(converged({ running: [task(1), task(2)], containersPerSlot: perSlot(1, 1) }, 2), true);
  assert.equal(converged({ running: [task(1), task(2)], containersPerSlot: perSlot(1, 2) }, 2), false, 'a slot in two containers');
  assert.equal(converged({ running: [task(1), task(1)], containersPerSlot: perSlot(1, 1) }, 2), false, 'slot 2 missing, slot 1 twice');
  assert.equal(converged({ running: [task(1)], containersPerSlot: perSlot(1) }, 2), false);
});
