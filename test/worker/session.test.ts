// The agent's session against a scripted dispatcher (a real gRPC server on
// loopback, without TLS): it asks for incremental assignments, builds the
// node's set from the complete set and the changes that follow, and hands the
// agent each whole set.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { configToProto, secretWithDataToProto, taskToProto } from '../../src/api/convert.js';
import type { control } from '../../src/api/wire.js';
import { loadDispatcherProto } from '../../src/api/proto.js';
import { TaskState, type Task } from '../../src/api/objects.js';
import { ManagerSession } from '../../src/worker/session.js';
import type { AssignedFiles } from '../../src/worker/files.js';
import { config, secret, service, task } from '../manager/store-fixtures.js';

const svc = service('s1', 'web');
const onNode = (id: string, over: Partial<Task> = {}): control.Task__Output =>
  taskToProto(task(id, svc, { nodeId: 'n1', status: { state: TaskState.ASSIGNED, message: '', err: '', timestamp: 1, containerId: '', exitCode: 0, health: 'none' }, ...over }));

interface Scripted {
  incremental: boolean;
  tasks: control.Task__Output[];
  removedTaskIds: string[];
  more?: boolean;
  secrets?: control.Secret__Output[];
  removedSecretIds?: string[];
  configs?: control.Config__Output[];
  removedConfigIds?: string[];
}

async function dispatcher(script: Scripted[]): Promise<{ address: string; asked: boolean[]; server: grpc.Server }> {
  const asked: boolean[] = [];
  const server = new grpc.Server();
  server.addService(loadDispatcherProto().service, {
    Session: (call: grpc.ServerWritableStream<{ incrementalAssignments: boolean }, object>) => {
      asked.push(call.request.incrementalAssignments);
      for (const m of script) call.write({ sessionId: 'sess1', managers: [], heartbeatPeriodMs: 60_000, hasAssignments: true, ...m });
    },
    Heartbeat: (_call: unknown, cb: grpc.sendUnaryData<object>) => cb(null, { periodMs: 60_000 }),
    UpdateTaskStatus: (_call: unknown, cb: grpc.sendUnaryData<object>) => cb(null, {}),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { address: `127.0.0.1:${port}`, asked, server };
}

/** A complete set, two changes (one adds t3, one stops t1 and removes t2), then a new complete set. */
const SCRIPT: Scripted[] = [
  { incremental: false, tasks: [onNode('t1'), onNode('t2')], removedTaskIds: [] },
  { incremental: true, tasks: [onNode('t3')], removedTaskIds: [] },
  { incremental: true, tasks: [onNode('t1', { desiredState: TaskState.SHUTDOWN })], removedTaskIds: ['t2'] },
  { incremental: false, tasks: [onNode('t9')], removedTaskIds: [] },
];

test('the session asks for changes and hands the agent the complete set built from them', async () => {
  const d = await dispatcher(SCRIPT);
  const sets: string[][] = [];
  let desiredT1 = 0;
  const session = new ManagerSession({
    credentials: grpc.credentials.createInsecure(),
    managers: [{ id: 'm1', address: d.address }],
    assign: async (tasks) => {
      sets.push(tasks.map((t) => t.id).sort());
      desiredT1 = tasks.find((t) => t.id === 't1')?.desiredState ?? desiredT1;
    },
    describe: async () => ({ hostname: 'h', cpus: 1, memoryBytes: 1, engineVersion: 'x', platform: { os: 'linux', arch: 'x86_64' } }),
  });
  try {
    session.start();
    for (let i = 0; i < 200 && sets.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(d.asked, [true]);
    assert.deepEqual(sets, [['t1', 't2'], ['t1', 't2', 't3'], ['t1', 't3'], ['t9']]);
    assert.equal(desiredT1, TaskState.SHUTDOWN);
  } finally {
    session.stop();
    d.server.forceShutdown();
  }
});

test('with assignChanges, the agent gets the complete sets and each change as it came, and tasks of one service share one spec object', async () => {
  const d = await dispatcher(SCRIPT);
  const calls: string[] = [];
  const received: Task[] = [];
  const session = new ManagerSession({
    credentials: grpc.credentials.createInsecure(),
    managers: [{ id: 'm1', address: d.address }],
    assign: async (tasks) => {
      calls.push(`set ${tasks.map((t) => t.id).join(',')}`);
      received.push(...tasks);
    },
    assignChanges: async (changed, removed) => {
      calls.push(`changes ${changed.map((t) => `${t.id}:${t.desiredState}`).join(',')} removed ${removed.join(',')}`);
      received.push(...changed);
    },
    describe: async () => ({ hostname: 'h', cpus: 1, memoryBytes: 1, engineVersion: 'x', platform: { os: 'linux', arch: 'x86_64' } }),
  });
  try {
    session.start();
    for (let i = 0; i < 200 && calls.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(calls, [
      'set t1,t2',
      `changes t3:${TaskState.RUNNING} removed `,
      `changes t1:${TaskState.SHUTDOWN} removed t2`,
      'set t9',
    ]);
    // Equal specs read from the wire are one object (validated once), yet equal to the service's.
    assert.equal(received.length, 5);
    assert.ok(received.every((t) => t.spec === received[0].spec && t.endpoint === received[0].endpoint));
    assert.deepEqual(received[0].spec, svc.spec.taskTemplate);
  } finally {
    session.stop();
    d.server.forceShutdown();
  }
});

test('a set sent in parts reaches the agent once, whole, when its last part comes', async () => {
  const d = await dispatcher([
    { incremental: false, tasks: [onNode('t1'), onNode('t2')], removedTaskIds: [], more: true },
    { incremental: false, tasks: [onNode('t3')], removedTaskIds: [], more: true },
    { incremental: false, tasks: [onNode('t4')], removedTaskIds: [], more: false },
    { incremental: true, tasks: [onNode('t5')], removedTaskIds: [], more: true },
    { incremental: true, tasks: [onNode('t6')], removedTaskIds: ['t1'], more: false },
  ]);
  const calls: string[] = [];
  const session = new ManagerSession({
    credentials: grpc.credentials.createInsecure(),
    managers: [{ id: 'm1', address: d.address }],
    assign: async (tasks) => void calls.push(`set ${tasks.map((t) => t.id).join(',')}`),
    assignChanges: async (changed, removed) => void calls.push(`changes ${changed.map((t) => t.id).join(',')} removed ${removed.join(',')}`),
    describe: async () => ({ hostname: 'h', cpus: 1, memoryBytes: 1, engineVersion: 'x', platform: { os: 'linux', arch: 'x86_64' } }),
  });
  try {
    session.start();
    for (let i = 0; i < 200 && calls.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(calls, ['set t1,t2,t3,t4', 'changes t5,t6 removed t1']);
  } finally {
    session.stop();
    d.server.forceShutdown();
  }
});

const filesOf = (f: AssignedFiles): string =>
  `secrets ${f.secrets.map((x) => `${x.id}=${Buffer.from(x.spec.data, 'base64').toString()}`).join(',')} -${f.removedSecretIds.join(',')} configs ${f.configs.map((x) => x.id).join(',')} -${f.removedConfigIds.join(',')}`;

const S1 = secretWithDataToProto(secret('s1', 'one', Buffer.from('pw1').toString('base64')));
const S2 = secretWithDataToProto(secret('s2', 'two', Buffer.from('pw2').toString('base64')));
const C1 = configToProto(config('c1', 'conf'), true);
const FILES_SCRIPT: Scripted[] = [
  // A complete set in two parts: the secrets ahead, the tasks and a config with the last part.
  { incremental: false, tasks: [], removedTaskIds: [], more: true, secrets: [S1, S2] },
  { incremental: false, tasks: [onNode('t1')], removedTaskIds: [], configs: [C1] },
  // Changes: s2 no longer referenced.
  { incremental: true, tasks: [], removedTaskIds: [], removedSecretIds: ['s2'] },
  // Changes: c1 dropped with t1, s2 again with t2.
  { incremental: true, tasks: [onNode('t2')], removedTaskIds: ['t1'], secrets: [S2], removedConfigIds: ['c1'] },
];

test('secrets and configs reach the agent with the assignments: collected over the parts, read back with their data', async () => {
  const d = await dispatcher(FILES_SCRIPT);
  const calls: string[] = [];
  const session = new ManagerSession({
    credentials: grpc.credentials.createInsecure(),
    managers: [{ id: 'm1', address: d.address }],
    assign: async (tasks, files) => void calls.push(`set ${tasks.map((t) => t.id).join(',')} ${filesOf(files)}`),
    assignChanges: async (changed, removed, files) => void calls.push(`changes ${changed.map((t) => t.id).join(',')} -${removed.join(',')} ${filesOf(files)}`),
    describe: async () => ({ hostname: 'h', cpus: 1, memoryBytes: 1, engineVersion: 'x', platform: { os: 'linux', arch: 'x86_64' } }),
  });
  try {
    session.start();
    for (let i = 0; i < 200 && calls.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(calls, [
      'set t1 secrets s1=pw1,s2=pw2 - configs c1 -',
      'changes  - secrets  -s2 configs  -',
      'changes t2 -t1 secrets s2=pw2 - configs  -c1',
    ]);
  } finally {
    session.stop();
    d.server.forceShutdown();
  }
});

test('without assignChanges, the session keeps the secrets and configs and hands the agent all of them with each set', async () => {
  const d = await dispatcher(FILES_SCRIPT);
  const calls: string[] = [];
  const session = new ManagerSession({
    credentials: grpc.credentials.createInsecure(),
    managers: [{ id: 'm1', address: d.address }],
    assign: async (tasks, files) => void calls.push(`set ${tasks.map((t) => t.id).join(',')} ${filesOf(files)}`),
    describe: async () => ({ hostname: 'h', cpus: 1, memoryBytes: 1, engineVersion: 'x', platform: { os: 'linux', arch: 'x86_64' } }),
  });
  try {
    session.start();
    for (let i = 0; i < 200 && calls.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(calls, ['set t1 secrets s1=pw1,s2=pw2 - configs c1 -', 'set t1 secrets s1=pw1 - configs c1 -', 'set t2 secrets s1=pw1,s2=pw2 - configs  -']);
  } finally {
    session.stop();
    d.server.forceShutdown();
  }
});
