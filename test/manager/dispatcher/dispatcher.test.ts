// The dispatcher on an in-memory store (no Raft, no gRPC: the session sink is
// a collector). Heartbeat periods are tens of milliseconds, so the timing
// rules run for real in well under a second each.
import assert from 'node:assert/strict';
import type { dispatcher } from '../../../src/api/wire.js';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Dispatcher, TASKS_PER_MESSAGE, type DispatcherOptions, type SessionSink } from '../../../src/manager/dispatcher/dispatcher.js';
import { nodeDescriptionToProto, taskStatusToProto } from '../../../src/api/convert.js';
import { ApiError } from '../../../src/manager/grpc-status.js';
import type { NodeIdentity } from '../../../src/manager/ca/ca.js';
import { createAction, updateAction } from '../../../src/manager/store/store.js';
import { TaskState, type Node, type Task } from '../../../src/api/objects.js';
import { LocalStore } from '../local-store.js';
import { cluster, node, service, task } from '../store-fixtures.js';

const PERIOD = 40;
const GRACE = 3;

function setup(confirmLeader?: () => Promise<void>, options: Partial<DispatcherOptions> = {}): { ls: LocalStore; d: Dispatcher } {
  const ls = new LocalStore();
  const c = cluster('cl');
  c.spec.dispatcher = { heartbeatPeriodMs: PERIOD, heartbeatGrace: GRACE };
  const svc = service('s1', 'web');
  ls.applyNow([createAction('cluster', c), createAction('node', node('n1', { status: { state: 'unknown', message: '', address: '' } })), createAction('node', node('n2')), createAction('service', svc)]);
  const d = new Dispatcher({ ctx: { ...ls.context(), now: Date.now, ...(confirmLeader ? { confirmLeader } : {}) }, managers: () => [{ id: 'm1', address: '127.0.0.1:4242' }], flushMs: 5, pushDelayMs: 5, random: () => 0, newLeaderGraceMs: 0, ...options });
  return { ls, d };
}

function peer(nodeId: string): NodeIdentity {
  return { nodeId, role: 'worker', clusterId: 'cl', notBefore: new Date(0), notAfter: new Date(1e13), serial: '1', fingerprint: 'sha256:0' };
}

class Sink implements SessionSink {
  msgs: dispatcher.SessionMessage__Output[] = [];
  /** Messages that carry only the data plane's tables (see the data plane tests): kept apart from the others. */
  planes: dispatcher.DataPlane__Output[] = [];
  closed: { code: grpc.status; details: string } | null = null;
  send(m: dispatcher.SessionMessage__Output): void {
    if (m.dataPlane && !m.hasAssignments && m.managers.length === 0) this.planes.push(m.dataPlane);
    else this.msgs.push(m);
  }
  close(code: grpc.status, details: string): void {
    this.closed = { code, details };
  }
}

const desc = nodeDescriptionToProto({ hostname: 'h1', cpus: 2, memoryBytes: 2 ** 30, engineVersion: '20.10', platform: { os: 'linux', arch: 'x86_64' } });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Heartbeats of a session, twice a period, for two heartbeat graces: past any deadline it would have missed. */
async function heartbeatThroughGrace(d: Dispatcher, nodeId: string, sid: string): Promise<void> {
  for (let i = 0; i < 2 * GRACE; i++) {
    await sleep(PERIOD / 2);
    d.heartbeat(peer(nodeId), sid);
  }
}

function assigned(id: string, nodeId: string, state: TaskState = TaskState.ASSIGNED): Task {
  const t = task(id, service('s1', 'web'), { nodeId, status: { state, message: '', err: '', timestamp: 1, containerId: '', exitCode: 0, health: 'none' } });
  return t;
}

test('a session marks the node ready with its description and sends its complete assignment set, then each new one', async () => {
  const { ls, d } = setup();
  ls.applyNow([createAction('task', assigned('t1', 'n1')), createAction('task', assigned('t2', 'n2')), createAction('task', { ...assigned('t3', 'n1'), status: { ...assigned('t3', 'n1').status, state: TaskState.PENDING } })]);
  d.start();
  try {
    const sink = new Sink();
    const sid = d.openSession(peer('n1'), desc, sink);
    assert.equal(sink.msgs[0].sessionId, sid);
    assert.deepEqual(sink.msgs[0].managers, [{ id: 'm1', address: '127.0.0.1:4242' }]);
    assert.ok(sink.msgs[0].heartbeatPeriodMs > 0 && sink.msgs[0].heartbeatPeriodMs <= PERIOD);
    assert.deepEqual(sink.msgs[0].tasks.map((t) => t.meta?.id), ['t1'], 'only this node\'s tasks, and only once scheduled');
    await d.flush();
    const n1 = ls.store.get('node', 'n1') as Node;
    assert.equal(n1.status.state, 'ready');
    assert.equal(n1.description.hostname, 'h1');
    assert.equal(n1.description.engineVersion, '20.10');
    ls.applyNow([createAction('task', assigned('t4', 'n1'))]);
    await sleep(30);
    const last = sink.msgs[sink.msgs.length - 1];
    assert.deepEqual(last.tasks.map((t) => t.meta?.id).sort(), ['t1', 't4']);
    assert.equal(last.hasAssignments, true);
    assert.deepEqual(last.managers, [], 'a push leaves the manager list out (unchanged since the first message)');
  } finally {
    await d.stop();
  }
});

test('heartbeats keep a node ready; a node that misses period x grace is marked down and its session closed', async () => {
  const { ls, d } = setup();
  d.start();
  try {
    const sink = new Sink();
    const sid = d.openSession(peer('n1'), desc, sink);
    for (let i = 0; i < 8; i++) {
      await sleep(PERIOD / 2);
      d.heartbeat(peer('n1'), sid);
    }
    await d.flush();
    assert.equal(ls.store.get('node', 'n1')?.status.state, 'ready');
    assert.equal(sink.closed, null);
    await sleep(PERIOD * GRACE + 40);
    await d.flush();
    assert.equal(ls.store.get('node', 'n1')?.status.state, 'down');
    assert.equal((sink.closed as { code: grpc.status } | null)?.code, grpc.status.DEADLINE_EXCEEDED);
    assert.throws(() => d.heartbeat(peer('n1'), sid), (e: Error) => e instanceof ApiError && e.code === grpc.status.NOT_FOUND);
  } finally {
    await d.stop();
  }
});

test('a new leader gives known nodes a grace period: one that reconnects stays ready, one that does not is marked down', async () => {
  const { ls, d } = setup();
  ls.applyNow([createAction('node', node('n3'))]);
  d.start();
  try {
    await sleep(PERIOD);
    const sid = d.openSession(peer('n2'), desc, new Sink());
    await heartbeatThroughGrace(d, 'n2', sid);
    await d.flush();
    assert.equal(ls.store.get('node', 'n2')?.status.state, 'ready');
    assert.equal(ls.store.get('node', 'n3')?.status.state, 'down');
  } finally {
    await d.stop();
  }
});

test('a node that joins while the dispatcher runs is marked down if its agent never opens a session; one whose agent comes is ready', async () => {
  const { ls, d } = setup();
  d.start();
  try {
    const joined = (id: string): Node => node(id, { status: { state: 'unknown', message: 'joined: waiting for its agent to connect', address: '' } });
    ls.applyNow([createAction('node', joined('n4')), createAction('node', joined('n5'))]);
    const sid = d.openSession(peer('n5'), desc, new Sink());
    await heartbeatThroughGrace(d, 'n5', sid);
    await until(() => ls.store.get('node', 'n4')?.status.state === 'down');
    await d.flush();
    assert.equal(ls.store.get('node', 'n4')?.status.message, 'heartbeat failure (no session)');
    assert.equal(ls.store.get('node', 'n5')?.status.state, 'ready');
  } finally {
    await d.stop();
  }
});

test('a leader that no majority confirms (cut off from everyone: every heartbeat stops) marks no node down', async () => {
  let confirmed = false;
  const { ls, d } = setup(() => (confirmed ? Promise.resolve() : Promise.reject(new Error('read barrier timed out'))));
  d.start();
  try {
    d.openSession(peer('n1'), desc, new Sink());
    await sleep(PERIOD * GRACE + 40);
    await d.flush();
    assert.equal(ls.store.get('node', 'n1')?.status.state, 'ready', 'the missed deadline was not acted on');
    // Once a majority confirms it again, a node that is really silent is marked down.
    confirmed = true;
    d.openSession(peer('n1'), desc, new Sink());
    await sleep(PERIOD * GRACE + 40);
    await d.flush();
    assert.equal(ls.store.get('node', 'n1')?.status.state, 'down');
  } finally {
    await d.stop();
  }
});

test('a change of the manager list reaches every open session, without an assignment', async () => {
  const ls = new LocalStore();
  ls.applyNow([createAction('cluster', cluster('cl')), createAction('node', node('n1'))]);
  let managers = [{ id: 'm1', address: '10.0.0.1:4242' }];
  const d = new Dispatcher({ ctx: { ...ls.context(), now: Date.now }, managers: () => managers, flushMs: 5, pushDelayMs: 5, random: () => 0, newLeaderGraceMs: 0, managersCheckMs: 10 });
  d.start();
  try {
    const sink = new Sink();
    d.openSession(peer('n1'), desc, sink);
    assert.deepEqual(sink.msgs[0].managers, managers);
    await sleep(40);
    assert.equal(sink.msgs.length, 1, 'nothing sent while the list is the same');
    managers = [...managers, { id: 'm2', address: '10.0.0.2:4242' }];
    await sleep(40);
    assert.equal(sink.msgs.length, 2);
    assert.deepEqual(sink.msgs[1].managers, managers);
    assert.equal(sink.msgs[1].hasAssignments, false);
  } finally {
    await d.stop();
  }
});

test('status reports are batched into one transaction, only move forward, and are acknowledged once committed', async () => {
  const { ls, d } = setup();
  ls.applyNow([createAction('task', assigned('t1', 'n1')), createAction('task', assigned('t2', 'n1', TaskState.RUNNING)), createAction('task', assigned('t3', 'n2'))]);
  d.start();
  try {
    const sid = d.openSession(peer('n1'), desc, new Sink());
    await d.flush();
    const writes = ls.writes;
    const st = (state: TaskState): ReturnType<typeof taskStatusToProto> => taskStatusToProto({ state, message: 'x', err: '', timestamp: 2, containerId: 'c', exitCode: 0, health: 'none' });
    await Promise.all([
      d.updateTaskStatus(peer('n1'), sid, [{ taskId: 't1', status: st(TaskState.STARTING) }]),
      d.updateTaskStatus(peer('n1'), sid, [{ taskId: 't1', status: st(TaskState.RUNNING) }, { taskId: 't2', status: st(TaskState.PREPARING) }]),
    ]);
    assert.equal(ls.writes, writes + 1, 'one transaction for the batch');
    assert.equal(ls.store.get('task', 't1')?.status.state, TaskState.RUNNING);
    assert.equal(ls.store.get('task', 't2')?.status.state, TaskState.RUNNING, 'a report never moves a task back');
    await assert.rejects(
      d.updateTaskStatus(peer('n1'), sid, [{ taskId: 't3', status: st(TaskState.RUNNING) }]),
      (e: Error) => e instanceof ApiError && e.code === grpc.status.PERMISSION_DENIED,
    );
    await assert.rejects(d.updateTaskStatus(peer('n2'), sid, []), (e: Error) => e instanceof ApiError && e.code === grpc.status.PERMISSION_DENIED);
    await assert.rejects(d.updateTaskStatus(peer('n1'), 'nope', []), (e: Error) => e instanceof ApiError && e.code === grpc.status.NOT_FOUND);
  } finally {
    await d.stop();
  }
});

test('a large backlog of status reports is written as several transactions of at most 2,000 reports, all acknowledged once committed', async () => {
  const { ls } = setup();
  const ids = Array.from({ length: 4_500 }, (_, i) => `t${String(i).padStart(5, '0')}`);
  ls.applyNow(ids.map((id) => createAction('task', assigned(id, 'n1'))));
  const sizes: number[] = [];
  const ctx = ls.context();
  const d = new Dispatcher({
    ctx: { ...ctx, now: Date.now, write: (actions) => (sizes.push(actions.length), ctx.write(actions)) },
    managers: () => [{ id: 'm1', address: '127.0.0.1:4242' }],
    flushMs: 5,
    pushDelayMs: 5,
    random: () => 0,
    newLeaderGraceMs: 0,
  });
  d.start();
  try {
    const sid = d.openSession(peer('n1'), desc, new Sink());
    await d.flush();
    sizes.length = 0;
    const running = taskStatusToProto({ state: TaskState.RUNNING, message: 'running', err: '', timestamp: 2, containerId: 'c', exitCode: 0, health: 'none' });
    await d.updateTaskStatus(peer('n1'), sid, ids.map((taskId) => ({ taskId, status: running })));
    assert.deepEqual(sizes, [2_000, 2_000, 500]);
    assert.ok(ids.every((id) => ls.store.get('task', id)?.status.state === TaskState.RUNNING), 'every report committed before the acknowledgement');
  } finally {
    await d.stop();
  }
});

test('a removed node cannot open a session; a stopped dispatcher closes sessions and refuses new ones', async () => {
  const { d } = setup();
  d.start();
  assert.throws(() => d.openSession(peer('ghost'), desc, new Sink()), (e: Error) => e instanceof ApiError && e.code === grpc.status.PERMISSION_DENIED);
  const sink = new Sink();
  d.openSession(peer('n1'), desc, sink);
  await d.stop();
  assert.equal(sink.closed?.code, grpc.status.UNAVAILABLE);
  assert.throws(() => d.openSession(peer('n1'), desc, new Sink()), (e: Error) => e instanceof ApiError && e.code === grpc.status.UNAVAILABLE);
});

test('an agent that reads changes gets the complete set first, then only what changed for it; other nodes get nothing', async () => {
  const { ls, d } = setup();
  ls.applyNow([createAction('task', assigned('t1', 'n1')), createAction('task', assigned('t2', 'n1'))]);
  d.start();
  try {
    const s1 = new Sink();
    const s2 = new Sink();
    const sid = d.openSession(peer('n1'), desc, s1, { incrementalAssignments: true });
    d.openSession(peer('n2'), desc, s2, { incrementalAssignments: true });
    assert.equal(s1.msgs[0].incremental, false);
    assert.deepEqual(s1.msgs[0].tasks.map((t) => t.meta?.id).sort(), ['t1', 't2']);
    const n2Messages = s2.msgs.length;

    // A new task on n1: only it travels.
    ls.applyNow([createAction('task', assigned('t3', 'n1'))]);
    await sleep(30);
    let last = s1.msgs[s1.msgs.length - 1];
    assert.equal(last.incremental, true);
    assert.deepEqual(last.tasks.map((t) => t.meta?.id), ['t3']);
    assert.deepEqual(last.removedTaskIds, []);
    assert.equal(s2.msgs.length, n2Messages, 'n2\'s set did not change: no message, nothing computed for it');

    // Status reports (the agent's own news) send nothing.
    const count = s1.msgs.length;
    await d.updateTaskStatus(peer('n1'), sid, [{ taskId: 't1', status: taskStatusToProto({ state: TaskState.RUNNING, message: 'r', err: '', timestamp: 2, containerId: 'c', exitCode: 0, health: 'none' }) }]);
    await sleep(30);
    assert.equal(ls.store.get('task', 't1')?.status.state, TaskState.RUNNING);
    assert.equal(s1.msgs.length, count, 'a status change alone is not sent back');

    // A desired-state change travels; a task moved away is removed.
    const t1 = ls.store.get('task', 't1') as Task;
    const t2 = ls.store.get('task', 't2') as Task;
    ls.applyNow([updateAction('task', { ...t1, desiredState: TaskState.SHUTDOWN }), updateAction('task', { ...t2, nodeId: 'n2' })]);
    await sleep(30);
    last = s1.msgs[s1.msgs.length - 1];
    assert.equal(last.incremental, true);
    assert.deepEqual(last.tasks.map((t) => [t.meta?.id, t.desiredState]), [['t1', TaskState.SHUTDOWN]]);
    assert.deepEqual(last.removedTaskIds, ['t2']);
    const n2Last = s2.msgs[s2.msgs.length - 1];
    assert.deepEqual(n2Last.tasks.map((t) => t.meta?.id), ['t2'], 'n2 gets the task that moved there');
  } finally {
    await d.stop();
  }
});

test('an agent that does not read changes gets the complete set each time it changes', async () => {
  const { ls, d } = setup();
  ls.applyNow([createAction('task', assigned('t1', 'n1'))]);
  d.start();
  try {
    const sink = new Sink();
    d.openSession(peer('n1'), desc, sink);
    ls.applyNow([createAction('task', assigned('t2', 'n1'))]);
    await sleep(30);
    const last = sink.msgs[sink.msgs.length - 1];
    assert.equal(last.incremental, false);
    assert.deepEqual(last.tasks.map((t) => t.meta?.id).sort(), ['t1', 't2']);
    assert.deepEqual(last.removedTaskIds, []);
  } finally {
    await d.stop();
  }
});

test('a round of changes over many nodes reaches every one of them (sent a slice of sessions per turn)', async () => {
  const { ls, d } = setup();
  const ids = Array.from({ length: 250 }, (_, i) => `m${i}`);
  ls.applyNow(ids.map((id) => createAction('node', node(id))));
  d.start();
  try {
    const sinks = ids.map((id) => {
      const sink = new Sink();
      d.openSession(peer(id), desc, sink, { incrementalAssignments: true });
      return sink;
    });
    ls.applyNow(ids.map((id) => createAction('task', assigned(`t-${id}`, id))));
    await until(() => sinks.every((s) => s.msgs.length === 2));
    for (const [i, s] of sinks.entries()) assert.deepEqual(s.msgs[1].tasks.map((t) => t.meta?.id), [`t-${ids[i]}`]);
  } finally {
    await d.stop();
  }
});

/** Until `cond` holds, for at most 30 s: a bound for a loaded machine (the suite runs beside process clusters), not a speed check. */
async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!cond() && Date.now() < deadline) await sleep(10);
  assert.ok(cond(), 'condition not reached');
}

test('a complete set larger than one message goes in parts of TASKS_PER_MESSAGE, each but the last marked `more`', async () => {
  const { ls, d } = setup();
  const n = 2 * TASKS_PER_MESSAGE + 5;
  ls.applyNow(Array.from({ length: n }, (_, i) => createAction('task', assigned(`t${String(i).padStart(5, '0')}`, 'n1'))));
  d.start();
  try {
    const sink = new Sink();
    d.openSession(peer('n1'), desc, sink);
    assert.deepEqual(sink.msgs.map((m) => [m.tasks.length, m.more, m.incremental]), [
      [TASKS_PER_MESSAGE, true, false],
      [TASKS_PER_MESSAGE, true, false],
      [5, false, false],
    ]);
    assert.ok(sink.msgs[0].heartbeatPeriodMs > 0 && sink.msgs[0].managers.length === 1, 'the first part carries the session settings');
    assert.deepEqual([sink.msgs[1].heartbeatPeriodMs, sink.msgs[1].managers], [0, []], 'the other parts leave them unchanged');
    assert.equal(new Set(sink.msgs.flatMap((m) => m.tasks.map((t) => t.meta?.id))).size, n, 'every task once');
  } finally {
    await d.stop();
  }
});

test('a deadline that passes while the leader itself is stalled (its event loop held) does not mark the node down', async () => {
  const { ls, d } = setup();
  d.start();
  try {
    const sink = new Sink();
    const sid = d.openSession(peer('n1'), desc, sink);
    // Hold the event loop well past the deadline (period x grace) and the stall tolerance, as a burst of work would.
    const until = Date.now() + PERIOD * GRACE + 800;
    while (Date.now() < until) {
      /* busy */
    }
    await sleep(5);
    assert.equal(sink.closed, null, 'the session survives the stall');
    d.heartbeat(peer('n1'), sid);
    await heartbeatThroughGrace(d, 'n1', sid);
    await d.flush();
    assert.equal(ls.store.get('node', 'n1')?.status.state, 'ready');
    // A node that then goes silent is still marked down.
    await sleep(PERIOD * GRACE + 60);
    await d.flush();
    assert.equal(ls.store.get('node', 'n1')?.status.state, 'down');
  } finally {
    await d.stop();
  }
});

test('status reports count as signs of life: a node that reports but whose heartbeats are late is not marked down', async () => {
  const { ls, d } = setup();
  ls.applyNow([createAction('task', assigned('t1', 'n1'))]);
  d.start();
  try {
    const sink = new Sink();
    const sid = d.openSession(peer('n1'), desc, sink);
    const status = (state: TaskState) => taskStatusToProto({ state, message: '', err: '', timestamp: Date.now(), containerId: '', exitCode: 0, health: 'none' });
    // No heartbeat for three deadlines, but a report twice per period.
    for (let i = 0; i < 6 * GRACE; i++) {
      await sleep(PERIOD / 2);
      await d.updateTaskStatus(peer('n1'), sid, [{ taskId: 't1', status: status(TaskState.ACCEPTED) }]);
    }
    assert.equal(sink.closed, null);
    await d.flush();
    assert.equal(ls.store.get('node', 'n1')?.status.state, 'ready');
  } finally {
    await d.stop();
  }
});

test('the leader\'s own node is not marked down for late heartbeats while its session is open (its agent runs in this process)', async () => {
  const { ls, d } = setup(undefined, { localNodeId: 'n1' });
  d.start();
  try {
    const own = new Sink();
    const other = new Sink();
    d.openSession(peer('n1'), desc, own);
    d.openSession(peer('n2'), desc, other);
    await sleep(PERIOD * GRACE * 3);
    await d.flush();
    assert.equal(own.closed, null, 'the own session stays open');
    assert.equal(ls.store.get('node', 'n1')?.status.state, 'ready');
    assert.equal(other.closed?.code, grpc.status.DEADLINE_EXCEEDED, 'another node that misses its deadline is cut');
    assert.equal(ls.store.get('node', 'n2')?.status.state, 'down');
  } finally {
    await d.stop();
  }
});

test('a "down" that no majority confirmed is tried again: a silent node does not stay Ready because one confirmation failed', async () => {
  let attempts = 0;
  const { ls, d } = setup(() => (++attempts === 1 ? Promise.reject(new Error('read barrier timed out')) : Promise.resolve()));
  d.start();
  try {
    d.openSession(peer('n1'), desc, new Sink());
    // No heartbeat: the first confirmation fails, the retry one deadline later succeeds.
    await until(() => ls.store.get('node', 'n1')?.status.state === 'down');
    assert.ok(attempts >= 2, `confirmed on a retry (${attempts} attempts)`);
  } finally {
    await d.stop();
  }
});

test('the data plane: a new session gets the complete table and its VIP block, then each change of a backend', async () => {
  const { ls, d } = setup();
  const web = service('s9', 'front', { endpoint: { ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }] } });
  const status = { state: TaskState.RUNNING, message: 'running', err: '', timestamp: 1, containerId: 'c1', exitCode: 0, health: 'none' as const };
  const bound = { ...status, ports: [{ protocol: 'tcp' as const, targetPort: 80, hostIp: '127.0.0.2', hostPort: 40001 }] };
  ls.applyNow([createAction('service', web), createAction('task', task('w1', web, { nodeId: 'n2', slot: 1, status: bound }))]);
  d.start();
  try {
    const s1 = new Sink();
    const s2 = new Sink();
    const sid1 = d.openSession(peer('n1'), desc, s1);
    const sid2 = d.openSession(peer('n2'), desc, s2);
    // Heartbeats through every wait (the deadline is short here).
    const wait = async (ms: number): Promise<void> => {
      for (let left = ms; left > 0; left -= PERIOD / 2) {
        d.heartbeat(peer('n1'), sid1);
        d.heartbeat(peer('n2'), sid2);
        await sleep(Math.min(left, PERIOD / 2));
      }
    };
    assert.equal(s1.planes.length, 1);
    const first = s1.planes[0];
    assert.equal(first.complete, true);
    assert.equal(first.vipBlock, '10.240.1.0/24', 'the lowest free block of the pool');
    assert.equal(s2.planes[s2.planes.length - 1].vipBlock, '10.240.2.0/24', 'another node, another block, before either is written');
    assert.deepEqual(first.services.map((s) => [s.name, s.backends.map((b) => `${b.taskId}@${b.ports[0].hostIp}:${b.ports[0].hostPort}`)]), [['front', ['w1@127.0.0.2:40001']]]);
    await d.flush();
    assert.equal(ls.store.get('node', 'n1')?.vipBlock, 1, 'the block is kept on the node');
    // A second task becomes RUNNING: every session gets the service's new entry, within the push delay.
    ls.applyNow([createAction('task', task('w2', web, { nodeId: 'n1', slot: 2, status: { ...bound, ports: [{ ...bound.ports[0], hostIp: '127.0.0.1', hostPort: 40002 }] } }))]);
    await wait(120);
    const change = s1.planes[s1.planes.length - 1];
    assert.equal(change.complete, false);
    assert.deepEqual(change.services.map((s) => s.backends.map((b) => b.taskId)), [['w1', 'w2']]);
    assert.deepEqual(s2.planes[s2.planes.length - 1], change, 'the same change to every session');
    // The orchestrator stops w1: it leaves the table at once (its agent drains before stopping it).
    const w1 = ls.store.get('task', 'w1') as Task;
    ls.applyNow([updateAction('task', { ...w1, desiredState: TaskState.SHUTDOWN })]);
    await wait(120);
    assert.deepEqual(s1.planes[s1.planes.length - 1].services.map((s) => s.backends.map((b) => b.taskId)), [['w2']]);
    // A status report that moves nothing a proxy sees sends nothing.
    const count = s1.planes.length;
    const w2 = ls.store.get('task', 'w2') as Task;
    ls.applyNow([updateAction('task', { ...w2, status: { ...w2.status, message: 'still running' } })]);
    await wait(120);
    assert.equal(s1.planes.length, count);
  } finally {
    await d.stop();
  }
});

test("the data plane: a service's per-network aliases reach every node, by network id, and a change of them is sent", async () => {
  const { ls, d } = setup();
  const db = service('s8', 'db', { taskTemplate: { ...service('s8', 'db').spec.taskTemplate, networks: ['net1', 'net2'], networkAliases: { net2: ['pg'] } } });
  ls.applyNow([createAction('service', db)]);
  d.start();
  try {
    const s1 = new Sink();
    const sid = d.openSession(peer('n1'), desc, s1);
    const entry = (p: dispatcher.DataPlane__Output) => p.services.find((s) => s.serviceId === 's8');
    assert.deepEqual(entry(s1.planes[0])?.networkAliases, { net2: { aliases: ['pg'] } });
    const stored = ls.store.get('service', 's8');
    assert.ok(stored);
    ls.applyNow([updateAction('service', { ...stored, spec: { ...stored.spec, taskTemplate: { ...stored.spec.taskTemplate, networkAliases: { net1: ['www'], net2: ['pg', 'primary'] } } } })]);
    for (let i = 0; i < 4; i++) {
      d.heartbeat(peer('n1'), sid);
      await sleep(PERIOD / 2);
    }
    const last = s1.planes[s1.planes.length - 1];
    assert.equal(last.complete, false);
    assert.deepEqual(entry(last)?.networkAliases, { net1: { aliases: ['www'] }, net2: { aliases: ['pg', 'primary'] } });
  } finally {
    await d.stop();
  }
});

test('the counters it gives the metrics: heartbeats, status reports and their updates, assignment messages and tasks, status transactions; open sessions', async () => {
  const counts = { heartbeats: 0, reports: 0, updates: 0, messages: 0, tasks: 0, txs: 0, actions: 0 };
  const { ls, d } = setup(undefined, {
    metrics: {
      heartbeat: () => counts.heartbeats++,
      statusReport: (n) => {
        counts.reports++;
        counts.updates += n;
      },
      assignmentsSent: (messages, tasks) => {
        counts.messages += messages;
        counts.tasks += tasks;
      },
      statusWritten: (txs, actions) => {
        counts.txs += txs;
        counts.actions += actions;
      },
    },
  });
  d.start();
  try {
    const sink = new Sink();
    const sid = d.openSession(peer('n1'), desc, sink);
    assert.equal(d.sessionCount, 1);
    d.heartbeat(peer('n1'), sid);
    d.heartbeat(peer('n1'), sid);
    ls.applyNow([createAction('task', assigned('t1', 'n1')), createAction('task', assigned('t2', 'n1'))]);
    const deadline = Date.now() + 5_000;
    while (counts.tasks < 2 && Date.now() < deadline) await sleep(5);
    const st = taskStatusToProto({ state: TaskState.RUNNING, message: 'x', err: '', timestamp: 2, containerId: 'c', exitCode: 0, health: 'none' });
    await d.updateTaskStatus(peer('n1'), sid, [
      { taskId: 't1', status: st },
      { taskId: 't2', status: st },
    ]);
    assert.equal(counts.heartbeats, 2);
    assert.deepEqual([counts.reports, counts.updates], [1, 2]);
    assert.ok(counts.messages >= 1, 'the pushed assignments counted');
    assert.equal(counts.tasks, 2, 'the two new tasks, pushed once');
    assert.ok(counts.txs >= 1 && counts.actions >= 2, `status writes counted: ${JSON.stringify(counts)}`);
  } finally {
    await d.stop();
  }
  assert.equal(d.sessionCount, 0);
});
