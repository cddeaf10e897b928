// The agent's secrets and configs with a HOLLOW executor: what it holds follows
// the leader's messages (complete sets replace, changes add and drop), each
// change is one info line with the ids and never the data, a task's runner
// hands the executor its files, and a task whose secret is not held is
// rejected without a container. The files on a tmpfs: docker/secrets-docker.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { TaskState, type FileReference, type Task } from '../../src/api/objects.js';
import { Agent } from '../../src/worker/agent.js';
import type { AssignedFiles } from '../../src/worker/files.js';
import { Collector, makeTask, waitFor } from './engine.js';
import { HollowExecutor } from './hollow-executor.js';
import { config, secret } from '../manager/store-fixtures.js';

const owner = { clusterId: 'hollow-cluster', nodeId: 'node-1' };
const SECRET_TEXT = 'correct horse battery staple';
const SECRET_B64 = Buffer.from(SECRET_TEXT).toString('base64');
const sec1 = secret('sec1', 'db_password', SECRET_B64);
const sec2 = secret('sec2', 'api_key', Buffer.from('another one').toString('base64'));
const cfg1 = config('cfg1', 'app.conf', Buffer.from('port=80\n').toString('base64'));

const ref = (id: string, name: string, over: Partial<FileReference> = {}): FileReference => ({ id, name, target: '', uid: '0', gid: '0', mode: 0o444, ...over });

function logger(): { logger: Logger; lines: Record<string, unknown>[]; text: () => string } {
  const lines: Record<string, unknown>[] = [];
  let raw = '';
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      raw += chunk.toString();
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'trace' }, sink), lines, text: () => raw };
}

function withFiles(secrets: FileReference[], configs: FileReference[] = [], status?: TaskState): Task {
  const t = makeTask(status === undefined ? {} : { status: { state: status } });
  return { ...t, spec: { ...t.spec, container: { ...t.spec.container, secrets, configs } } };
}

const files = (o: Partial<AssignedFiles>): AssignedFiles => ({ secrets: [], removedSecretIds: [], configs: [], removedConfigIds: [], ...o });

const held = (log: ReturnType<typeof logger>): unknown[] => log.lines.filter((l) => l.msg === 'secrets and configs held').map((l) => [l.secretIds, l.configIds]);

test('the runner gives the executor the task\'s files (paths, owner, mode, data); each change of what is held is one log line with ids, never data', async () => {
  const ex = new HollowExecutor();
  const c = new Collector();
  const log = logger();
  const agent = new Agent({ executor: ex, ...owner, reporter: c.reporter, batchMs: 10, logger: log.logger });
  await agent.start();
  const t1 = withFiles([ref('sec1', 'db_password', { uid: '1000', gid: '1001', mode: 0o400 })], [ref('cfg1', 'app.conf', { target: '/etc/app.conf' })]);
  await agent.assign([t1], files({ secrets: [sec1], configs: [cfg1] }));
  await c.reached(t1.id, TaskState.RUNNING, 2000);
  const given = ex.files.get(t1.id) ?? [];
  assert.deepEqual(
    given.map((f) => [f.kind, f.id, f.name, f.path, f.uid, f.gid, f.mode.toString(8), f.data.toString()]),
    [
      ['secret', 'sec1', 'db_password', '/run/secrets/db_password', 1000, 1001, '400', SECRET_TEXT],
      ['config', 'cfg1', 'app.conf', '/etc/app.conf', 0, 0, '444', 'port=80\n'],
    ],
  );
  assert.deepEqual(agent.heldFiles(), { secretIds: ['sec1'], configIds: ['cfg1'] });

  // A change adds sec2 with a task that uses it.
  const t2 = withFiles([ref('sec2', 'api_key', { target: '/private/key' })]);
  await agent.assignChanges([t2], [], files({ secrets: [sec2] }));
  await c.reached(t2.id, TaskState.RUNNING, 2000);
  assert.deepEqual(ex.files.get(t2.id)?.map((f) => [f.path, f.data.toString()]), [['/private/key', 'another one']]);
  // t1 goes, and with it sec1 and cfg1.
  await agent.assignChanges([], [t1.id], files({ removedSecretIds: ['sec1'], removedConfigIds: ['cfg1'] }));
  assert.deepEqual(agent.heldFiles(), { secretIds: ['sec2'], configIds: [] });
  // The same again changes nothing: no line.
  await agent.assignChanges([], [], files({ secrets: [sec2] }));
  // A complete set without secrets drops everything.
  await agent.assign([], files({}));
  assert.deepEqual(agent.heldFiles(), { secretIds: [], configIds: [] });
  await agent.stop();

  assert.deepEqual(held(log), [
    [['sec1'], ['cfg1']],
    [['sec1', 'sec2'], ['cfg1']],
    [['sec2'], []],
    [[], []],
  ]);
  const all = log.text();
  assert.ok(!all.includes(SECRET_TEXT) && !all.includes(SECRET_B64), 'no secret data in any log line (trace level)');
  assert.ok(!all.includes('another one') && !all.includes(sec2.spec.data));
});

test('a task whose secret this node does not hold is rejected with a clear error, and no container is made', async () => {
  const ex = new HollowExecutor();
  const c = new Collector();
  const agent = new Agent({ executor: ex, ...owner, reporter: c.reporter, batchMs: 10 });
  await agent.start();
  const t = withFiles([ref('sec1', 'db_password'), ref('nosuch', 'missing_one')]);
  await agent.assign([t], files({ secrets: [sec1] }));
  const end = await c.reached(t.id, TaskState.REJECTED, 2000);
  await agent.stop();
  assert.match(end.err, /^secret "missing_one" \(id nosuch\) is not on this node: the leader did not send it/);
  assert.ok(!ex.calls.some((x) => x.startsWith('prepare:')), 'no container');
});

test('an adopted container that was never started gets its files put back before it starts; a running one gets them too', async () => {
  const ex = new HollowExecutor();
  const c = new Collector();
  const created = withFiles([ref('sec1', 'db_password')], [], TaskState.PREPARING);
  const running = withFiles([ref('sec1', 'db_password')], [], TaskState.RUNNING);
  const idCreated = ex.plant(created, owner, { status: 'created' });
  const idRunning = ex.plant(running, owner, { status: 'running', running: true, startedAt: Date.now() });
  const agent = new Agent({ executor: ex, ...owner, reporter: c.reporter, batchMs: 10 });
  await agent.start();
  await agent.assign([created, running], files({ secrets: [sec1] }));
  await c.reached(created.id, TaskState.RUNNING, 2000);
  await waitFor('the running one restored', () => ex.restored.has(idRunning), 2000);
  await agent.stop();
  assert.ok(ex.calls.indexOf(`restoreFiles:${idCreated}`) < ex.calls.indexOf(`start:${idCreated}`), ex.calls.join(' '));
  assert.deepEqual(ex.restored.get(idCreated)?.map((f) => [f.path, f.data.toString()]), [['/run/secrets/db_password', SECRET_TEXT]]);
});

test('a task without secrets or configs gets no files', async () => {
  const ex = new HollowExecutor();
  const c = new Collector();
  const agent = new Agent({ executor: ex, ...owner, reporter: c.reporter, batchMs: 10 });
  await agent.start();
  const t = makeTask();
  await agent.assign([t], files({ secrets: [sec1] }));
  await c.reached(t.id, TaskState.RUNNING, 2000);
  await agent.stop();
  assert.equal(ex.files.has(t.id), false);
});
