// The dispatcher sends each node the secrets and configs its tasks reference,
// and only those (in-memory store, collecting sinks, every message also
// encoded with the leader's encoder and decoded as an agent would).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { dispatcher } from '../../../src/api/wire.js';
import { Dispatcher, FILE_BYTES_PER_MESSAGE, TASKS_PER_MESSAGE, type SessionSink } from '../../../src/manager/dispatcher/dispatcher.js';
import { encodeSessionMessage } from '../../../src/manager/dispatcher/session-encoding.js';
import { loadDispatcherProto } from '../../../src/api/proto.js';
import { nodeDescriptionToProto, taskStatusToProto } from '../../../src/api/convert.js';
import type { NodeIdentity } from '../../../src/manager/ca/ca.js';
import { createAction, updateAction } from '../../../src/manager/store/store.js';
import { TaskState, type FileReference, type Service, type Task, type TaskStatus } from '../../../src/api/objects.js';
import { LocalStore } from '../local-store.js';
import { cluster, config, node, secret, service, task } from '../store-fixtures.js';

const def = loadDispatcherProto().service.Session;
const desc = nodeDescriptionToProto({ hostname: 'h1', cpus: 2, memoryBytes: 2 ** 30, engineVersion: '20.10', platform: { os: 'linux', arch: 'x86_64' } });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const SECRET_TEXT = 'the-password-0xC0FFEE';
const ref = (id: string, name: string, over: Partial<FileReference> = {}): FileReference => ({ id, name, target: name, uid: '0', gid: '0', mode: 0o444, ...over });

/** What an agent reads: each message through the leader's encoder and the agent's decoder. */
class Sink implements SessionSink {
  msgs: dispatcher.SessionMessage__Output[] = [];
  closed: string | null = null;
  send(m: dispatcher.SessionMessage__Output): void {
    if (m.dataPlane && !m.hasAssignments && m.managers.length === 0) return;
    this.msgs.push(def.responseDeserialize(encodeSessionMessage(m)) as dispatcher.SessionMessage__Output);
  }
  close(_code: grpc.status, details: string): void {
    this.closed = details;
  }
  secretIds(): string[] {
    return this.msgs.flatMap((m) => m.secrets.map((s) => s.meta?.id ?? ''));
  }
  configIds(): string[] {
    return this.msgs.flatMap((m) => m.configs.map((s) => s.meta?.id ?? ''));
  }
  last(): dispatcher.SessionMessage__Output {
    return this.msgs[this.msgs.length - 1];
  }
}

function peer(nodeId: string): NodeIdentity {
  return { nodeId, role: 'worker', clusterId: 'cl', notBefore: new Date(0), notAfter: new Date(1e13), serial: '1', fingerprint: 'sha256:0' };
}

const st = (state: TaskState): TaskStatus => ({ state, message: '', err: '', timestamp: 1, containerId: '', exitCode: 0, health: 'none' });

function withFiles(id: string, secrets: FileReference[], configs: FileReference[] = []): Service {
  const s = service(id, `svc-${id}`);
  s.spec.taskTemplate.container.secrets = secrets;
  s.spec.taskTemplate.container.configs = configs;
  return s;
}

const USES = withFiles('uses', [ref('sec1', 'db_password', { uid: '1000', mode: 0o400 })], [ref('cfg1', 'app.conf', { target: '/etc/app.conf' })]);
const PLAIN = service('plain', 'plain');

function setup(): { ls: LocalStore; d: Dispatcher } {
  const ls = new LocalStore();
  const c = cluster('cl');
  c.spec.dispatcher = { heartbeatPeriodMs: 10_000, heartbeatGrace: 3 };
  ls.applyNow([
    createAction('cluster', c),
    createAction('node', node('n1')),
    createAction('node', node('n2')),
    createAction('service', USES),
    createAction('service', PLAIN),
    createAction('secret', secret('sec1', 'db_password', Buffer.from(SECRET_TEXT).toString('base64'))),
    createAction('secret', secret('sec2', 'unused')),
    createAction('config', config('cfg1', 'app.conf')),
  ]);
  const d = new Dispatcher({ ctx: { ...ls.context(), now: Date.now }, managers: () => [{ id: 'm1', address: '127.0.0.1:4242' }], flushMs: 5, pushDelayMs: 5, random: () => 0, newLeaderGraceMs: 60_000 });
  return { ls, d };
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !cond(); i++) await sleep(10);
  assert.ok(cond(), `${what}: not reached`);
}

test('a node gets the secrets and configs of its tasks with their data, in the message with the tasks; a node without such tasks never gets them', async () => {
  const { ls, d } = setup();
  ls.applyNow([createAction('task', task('a1', USES, { nodeId: 'n1', status: st(TaskState.ASSIGNED) })), createAction('task', task('p1', PLAIN, { nodeId: 'n2', status: st(TaskState.ASSIGNED) }))]);
  d.start();
  try {
    const n1 = new Sink();
    const n2 = new Sink();
    const sid1 = d.openSession(peer('n1'), desc, n1, { incrementalAssignments: true });
    d.openSession(peer('n2'), desc, n2, { incrementalAssignments: true });

    const first = n1.msgs[0];
    assert.equal(first.incremental, false);
    assert.deepEqual(first.tasks.map((t) => t.meta?.id), ['a1']);
    assert.deepEqual(first.secrets.map((s) => [s.meta?.id, s.spec?.name, s.spec?.data.toString()]), [['sec1', 'db_password', SECRET_TEXT]]);
    assert.deepEqual(first.configs.map((c) => [c.meta?.id, c.spec?.data.toString()]), [['cfg1', 'config']]);
    assert.deepEqual(n2.secretIds(), [], 'n2 runs no task that uses a secret');
    assert.deepEqual(n2.configIds(), []);
    // The task object carries the reference, never the data.
    assert.ok(!JSON.stringify(first.tasks).includes(SECRET_TEXT) && !JSON.stringify(first.tasks).includes(Buffer.from(SECRET_TEXT).toString('base64')));

    // The agent's status reports: RUNNING changes nothing it holds...
    const report = (state: TaskState): Promise<void> => d.updateTaskStatus(peer('n1'), sid1, [{ taskId: 'a1', status: taskStatusToProto(st(state)) }]);
    const count = n1.msgs.length;
    await report(TaskState.RUNNING);
    await sleep(40);
    assert.equal(n1.msgs.length, count, 'RUNNING: nothing to send');
    // ... COMPLETE: the task references nothing any more: the ids go, with no task.
    await report(TaskState.COMPLETE);
    await until('the removal', () => n1.msgs.length > count);
    const removal = n1.last();
    assert.deepEqual([removal.incremental, removal.tasks, removal.removedTaskIds, removal.removedSecretIds, removal.removedConfigIds, removal.secrets], [true, [], [], ['sec1'], ['cfg1'], []]);

    // A task of the same service lands on n2: it gets the secret with the task, n1 gets nothing.
    const n1Count = n1.msgs.length;
    ls.applyNow([createAction('task', task('a2', USES, { nodeId: 'n2', status: st(TaskState.ASSIGNED) }))]);
    await until('n2 gets a2', () => n2.msgs.some((m) => m.tasks.some((t) => t.meta?.id === 'a2')));
    const withTask = n2.msgs.find((m) => m.tasks.some((t) => t.meta?.id === 'a2'));
    assert.deepEqual(withTask?.secrets.map((s) => s.meta?.id), ['sec1']);
    assert.deepEqual(withTask?.configs.map((s) => s.meta?.id), ['cfg1']);
    await sleep(30);
    assert.equal(n1.msgs.length, n1Count, 'n1 gets nothing');
    assert.ok(!n1.secretIds().includes('sec2') && !n2.secretIds().includes('sec2'), 'a secret no task references goes nowhere');

    // Desired SHUTDOWN: the task is sent with its new desired state, and the secret goes in the same message.
    const a2 = ls.store.get('task', 'a2') as Task;
    ls.applyNow([updateAction('task', { ...a2, desiredState: TaskState.SHUTDOWN })]);
    await until('n2 told to stop a2', () => n2.last().tasks.some((t) => t.meta?.id === 'a2' && t.desiredState === TaskState.SHUTDOWN));
    assert.deepEqual([n2.last().removedSecretIds, n2.last().removedConfigIds], [['sec1'], ['cfg1']]);
  } finally {
    await d.stop();
  }
});

test('a new session gets the complete set again; an agent that takes only complete sets gets every referenced secret each time', async () => {
  const { ls, d } = setup();
  ls.applyNow([createAction('task', task('a1', USES, { nodeId: 'n1', status: st(TaskState.RUNNING) }))]);
  d.start();
  try {
    const s1 = new Sink();
    d.openSession(peer('n1'), desc, s1);
    assert.deepEqual(s1.secretIds(), ['sec1']);
    ls.applyNow([createAction('task', task('p1', PLAIN, { nodeId: 'n1', status: st(TaskState.ASSIGNED) }))]);
    await until('the new complete set', () => s1.msgs.length >= 2);
    assert.deepEqual([s1.last().incremental, s1.last().tasks.length, s1.last().secrets.map((s) => s.meta?.id)], [false, 2, ['sec1']]);
    // A reconnect: a new session, a new complete set, the secret again.
    const s2 = new Sink();
    d.openSession(peer('n1'), desc, s2, { incrementalAssignments: true });
    assert.deepEqual(s2.secretIds(), ['sec1']);
    assert.equal(s1.closed !== null, true);
  } finally {
    await d.stop();
  }
});

test('a referenced secret missing from the store is not sent (the agent fails the task); the others are', async () => {
  const { ls, d } = setup();
  const broken = withFiles('broken', [ref('sec1', 'db_password'), ref('nosuch', 'gone')]);
  ls.applyNow([createAction('service', broken), createAction('task', task('b1', broken, { nodeId: 'n1', status: st(TaskState.ASSIGNED) }))]);
  d.start();
  try {
    const sink = new Sink();
    d.openSession(peer('n1'), desc, sink, { incrementalAssignments: true });
    assert.deepEqual(sink.secretIds(), ['sec1']);
    assert.deepEqual(sink.msgs[0].tasks[0].spec?.container?.secrets.map((r) => r.secretId), ['sec1', 'nosuch']);
  } finally {
    await d.stop();
  }
});

test('large secrets go in parts of their own ahead of the tasks, removed ids with the last part', async () => {
  const { ls, d } = setup();
  const big = Array.from({ length: 6 }, (_, i) => secret(`big${i}`, `big${i}`, Buffer.alloc(400 * 1024, i).toString('base64')));
  const heavy = withFiles('heavy', big.map((s) => ref(s.id, s.spec.name)));
  const n = TASKS_PER_MESSAGE + 10;
  ls.applyNow([...big.map((s) => createAction('secret', s)), createAction('service', heavy)]);
  ls.applyNow(Array.from({ length: n }, (_, i) => createAction('task', task(`h${String(i).padStart(5, '0')}`, heavy, { nodeId: 'n1', status: st(TaskState.ASSIGNED) }))));
  d.start();
  try {
    const sink = new Sink();
    d.openSession(peer('n1'), desc, sink, { incrementalAssignments: true });
    assert.deepEqual(
      sink.msgs.map((m) => [m.secrets.length, m.tasks.length, m.more]),
      [
        [5, 0, true],
        [1, 0, true],
        [0, TASKS_PER_MESSAGE, true],
        [0, 10, false],
      ],
    );
    for (const m of sink.msgs) assert.ok(encodeSessionMessage(m).length < FILE_BYTES_PER_MESSAGE + 1024 * 1024, 'each part well under 4 MB');
    assert.ok(sink.msgs[0].managers.length === 1 && sink.msgs[0].heartbeatPeriodMs > 0, 'the first part carries the settings');
    assert.deepEqual(sink.msgs[1].secrets[0].spec?.data, Buffer.alloc(400 * 1024, 5));
  } finally {
    await d.stop();
  }
});
