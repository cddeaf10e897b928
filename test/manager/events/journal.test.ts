// One manager's event journal (src/manager/events/journal.ts) over a real
// store, and the Events call's handler (stream.ts) over a stand-in call:
// apply order, history with since/until, past then live with nothing missed
// or repeated, the ring's bound, a slow reader cut off, until ends the stream.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TaskState } from '../../../src/api/objects.js';
import type { ClusterEvent } from '../../../src/api/events.js';
import type { control } from '../../../src/api/wire.js';
import { EventJournal } from '../../../src/manager/events/journal.js';
import { eventsHandler } from '../../../src/manager/events/stream.js';
import { createAction, deleteAction, spawnAction, statusAction, updateAction } from '../../../src/manager/store/store.js';
import { LocalStore } from '../local-store.js';
import { node, service, task, T0 } from '../store-fixtures.js';

const NOW = T0 + 60_000;
const brief = (e: ClusterEvent): string => `${e.index} ${e.type} ${e.action} ${e.actor.id}`;

function setUp(capacity?: number): { local: LocalStore; journal: EventJournal } {
  const local = new LocalStore();
  const journal = new EventJournal(local.store, () => NOW, capacity);
  journal.start();
  return { local, journal };
}

test('the journal records the store changes in apply order, one event each', () => {
  const { local, journal } = setUp();
  const s = service('s1', 'web');
  local.applyNow([createAction('node', node('w1')), createAction('service', s)]);
  const stored = local.store.get('service', 's1');
  assert.ok(stored);
  const t = task('t1', stored, { specVersion: stored.specVersion });
  local.applyNow([spawnAction(t)]);
  local.applyNow([statusAction('t1', { ...t.status, state: TaskState.PENDING }, T0 + 1)]);
  local.applyNow([updateAction('service', { ...stored, updatedAt: T0 + 2, spec: { ...stored.spec, mode: { replicated: { replicas: 3 } } } })]);
  local.applyNow([deleteAction('node', 'w1')]);
  assert.deepEqual(journal.history().map(brief), ['1 node create w1', '1 service create s1', '2 task create t1', '3 task update t1', '4 service update s1', '5 node remove w1']);
  assert.equal(journal.history()[4].actor.attributes['replicas.new'], '3');
});

test('subscribe: nothing past without since/until (docker), the window with them, then live ones once', () => {
  const { local, journal } = setUp();
  local.applyNow([createAction('node', node('w1', { createdAt: T0, updatedAt: T0 }))]);
  local.applyNow([createAction('node', node('w2', { createdAt: T0 + 10, updatedAt: T0 + 10 }))]);
  const live: string[] = [];
  const a = journal.subscribe({ filters: {} }, (e) => live.push(e.actor.id));
  assert.deepEqual(a.past, []);
  const b = journal.subscribe({ sinceMs: T0 + 5, filters: {} }, () => undefined);
  assert.deepEqual(b.past.map((e) => e.actor.id), ['w2']);
  const c = journal.subscribe({ untilMs: T0 + 5, filters: {} }, () => undefined);
  assert.deepEqual(c.past.map((e) => e.actor.id), ['w1']);
  const typed: string[] = [];
  const d = journal.subscribe({ sinceMs: 0, filters: { type: ['service'] } }, (e) => typed.push(e.actor.id));
  assert.deepEqual(d.past, []);
  local.applyNow([createAction('node', node('w3', { createdAt: NOW, updatedAt: NOW })), createAction('service', service('s1', 'web'))]);
  assert.deepEqual(live, ['w3', 's1']);
  assert.deepEqual(typed, ['s1']);
  a.unsubscribe();
  local.applyNow([createAction('node', node('w4'))]);
  assert.deepEqual(live, ['w3', 's1']);
  assert.equal(journal.subscribers, 3);
});

test('the ring keeps the last `capacity` events', () => {
  const { local, journal } = setUp(3);
  for (let i = 1; i <= 5; i++) local.applyNow([createAction('node', node(`w${i}`))]);
  assert.deepEqual(journal.history().map((e) => e.actor.id), ['w3', 'w4', 'w5']);
});

test('leader changes observed by this manager are node updates, once per change', () => {
  const { local, journal } = setUp();
  local.applyNow([createAction('node', node('m1')), createAction('node', node('m2'))]);
  journal.observeLeader({ leader: 'm1', term: 2 });
  journal.observeLeader({ leader: 'm1', term: 2 });
  journal.observeLeader({ leader: '', term: 3 });
  journal.observeLeader({ leader: 'm2', term: 3 });
  assert.deepEqual(
    journal.history().slice(2).map((e) => `${e.actor.id} ${e.actor.attributes['leader.old']}->${e.actor.attributes['leader.new']} term ${e.actor.attributes.term}`),
    ['m1 false->true term 2', 'm1 true->false term 3', 'm2 false->true term 3'],
  );
});

/** A stand-in for a server streaming call: write() takes `room` messages before it asks to wait for 'drain'. */
class FakeCall extends EventEmitter {
  written: control.Event__Output[] = [];
  ended = false;
  status: { code: number; details: string } | null = null;
  room = Infinity;
  constructor(readonly request: control.EventsRequest__Output) {
    super();
    this.on('error', (s: { code: number; details: string }) => (this.status = s));
  }
  write(m: control.Event__Output): boolean {
    this.written.push(m);
    return this.written.length < this.room;
  }
  end(): void {
    this.ended = true;
  }
}

const statusOf = (c: FakeCall): { code: number; details: string } | null => c.status;

function serve(journal: EventJournal, request: Partial<control.EventsRequest__Output>, maxQueued?: number, room = Infinity): FakeCall {
  const call = new FakeCall({ filters: [], ...request });
  call.room = room;
  eventsHandler({ journal, now: () => NOW, maxQueued })(call as unknown as grpc.ServerWritableStream<control.EventsRequest__Output, control.Event__Output>);
  return call;
}

test('Events: until in the past sends the window and ends; bad filters are INVALID_ARGUMENT', () => {
  const { local, journal } = setUp();
  local.applyNow([createAction('node', node('w1')), createAction('service', service('s1', 'web'))]);
  const call = serve(journal, { sinceMs: 0, untilMs: NOW - 1, filters: [{ key: 'type', value: 'service' }] });
  assert.deepEqual(call.written.map((e) => `${e.type} ${e.action} ${e.actor?.id}`), ['service create s1']);
  assert.equal(call.ended, true);
  assert.equal(journal.subscribers, 0);
  const bad = serve(journal, { filters: [{ key: 'container', value: 'x' }] });
  assert.equal(statusOf(bad)?.code, grpc.status.INVALID_ARGUMENT);
  assert.match(statusOf(bad)?.details ?? '', /unknown filter "container"/);
  const badType = serve(journal, { filters: [{ key: 'type', value: 'image' }] });
  assert.equal(statusOf(badType)?.code, grpc.status.INVALID_ARGUMENT);
});

test('Events: a reader that stops reading is cut off once it is more than maxQueued live events behind; a reader that drains is not', () => {
  const { local, journal } = setUp();
  for (let i = 0; i < 20; i++) local.applyNow([createAction('node', node(`p${i}`))]);
  // 20 past events, room for 2: the backlog of the past does not count against the bound.
  const slow = serve(journal, { sinceMs: 0 }, 5, 2);
  assert.equal(slow.written.length, 2);
  const fast = serve(journal, { sinceMs: 0 }, 5);
  assert.equal(slow.status, null);
  for (let i = 0; i < 5; i++) local.applyNow([createAction('node', node(`l${i}`))]);
  assert.equal(slow.status, null, 'five behind: still served');
  local.applyNow([createAction('node', node('l5'))]);
  assert.equal(statusOf(slow)?.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(statusOf(slow)?.details ?? '', /fell more than 5 events behind.*--since/);
  assert.equal(fast.written.length, 26);
  assert.equal(fast.status, null);
  assert.equal(journal.subscribers, 1);
  // A reader that was told to wait gets the rest after 'drain', in order.
  const paced = serve(journal, { sinceMs: 0 }, 100, 3);
  assert.equal(paced.written.length, 3);
  paced.room = Infinity;
  paced.emit('drain');
  assert.deepEqual(paced.written.map((e) => e.actor?.id), journal.history().map((e) => e.actor.id));
  // Cancelling unsubscribes; stopping the journal ends the others with UNAVAILABLE.
  paced.emit('cancelled');
  assert.equal(journal.subscribers, 1);
  journal.stop();
  assert.equal(statusOf(fast)?.code, grpc.status.UNAVAILABLE);
});
