// Which secrets and configs a node's set references, and what its agent is
// sent: the pure functions of src/manager/dispatcher/files.ts and their use by
// SessionAssignments, transition by transition (no store, no timers).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionAssignments } from '../../../src/manager/dispatcher/assignments.js';
import { FILE_BYTES_PER_MESSAGE, packFiles } from '../../../src/manager/dispatcher/dispatcher.js';
import { NodeFiles, fileRefsChanged, referencesFiles, taskFileIds, type FileLookup } from '../../../src/manager/dispatcher/files.js';
import { TaskState, type Config, type FileReference, type Secret, type Service, type Task } from '../../../src/api/objects.js';
import { config, secret, service, task } from '../store-fixtures.js';

const ref = (id: string, name = id): FileReference => ({ id, name, target: name, uid: '0', gid: '0', mode: 0o444 });

function withFiles(id: string, secrets: string[], configs: string[] = []): Service {
  const s = service(id, `svc-${id}`);
  s.spec.taskTemplate.container.secrets = secrets.map((x) => ref(x));
  s.spec.taskTemplate.container.configs = configs.map((x) => ref(x));
  return s;
}

const A = withFiles('a', ['s1', 's2'], ['c1']);
const B = withFiles('b', ['s2']);
const PLAIN = service('p', 'plain');

function on(id: string, svc: Service, state: TaskState = TaskState.ASSIGNED, desired: TaskState = TaskState.RUNNING, nodeId = 'n1'): Task {
  return task(id, svc, { nodeId, desiredState: desired, status: { state, message: '', err: '', timestamp: 1, containerId: '', exitCode: 0, health: 'none' } });
}

function lookup(secrets: Secret[], configs: Config[]): FileLookup & { reads: number } {
  const l = {
    reads: 0,
    secret: (id: string) => {
      l.reads++;
      return secrets.find((s) => s.id === id);
    },
    config: (id: string) => {
      l.reads++;
      return configs.find((c) => c.id === id);
    },
  };
  return l;
}

const STORE = lookup([secret('s1', 'one'), secret('s2', 'two'), secret('s3', 'three')], [config('c1', 'conf')]);

const ids = (xs: readonly { id: string }[]): string[] => xs.map((x) => x.id).sort();

test('a task references its spec\'s secrets and configs while its container may still be made or started: not ended, not told to stop', () => {
  const live = [TaskState.ASSIGNED, TaskState.ACCEPTED, TaskState.PREPARING, TaskState.READY, TaskState.STARTING, TaskState.RUNNING];
  for (const st of live) assert.equal(referencesFiles(on('t', A, st)), true, `observed ${st}, desired RUNNING`);
  assert.equal(referencesFiles(on('t', A, TaskState.ASSIGNED, TaskState.READY)), true, 'desired READY: the container is created');
  for (const st of [TaskState.COMPLETE, TaskState.FAILED, TaskState.SHUTDOWN, TaskState.REJECTED, TaskState.ORPHANED]) {
    assert.equal(referencesFiles(on('t', A, st)), false, `observed ${st}: ended`);
  }
  for (const desired of [TaskState.SHUTDOWN, TaskState.REMOVE]) {
    assert.equal(referencesFiles(on('t', A, TaskState.RUNNING, desired)), false, `desired ${desired}: being stopped, never started again`);
    assert.equal(referencesFiles(on('t', A, TaskState.ASSIGNED, desired)), false, `desired ${desired}, not started: never starts`);
  }
  assert.deepEqual(taskFileIds(on('t', A)), { secrets: ['s1', 's2'], configs: ['c1'] });
  assert.deepEqual(taskFileIds(on('t', PLAIN)), { secrets: [], configs: [] });
  assert.deepEqual(taskFileIds(on('t', A, TaskState.COMPLETE)), { secrets: [], configs: [] });
  assert.equal(taskFileIds(on('t1', A)), taskFileIds(on('t2', A)), 'one object per spec: compared by reference');
  assert.equal(fileRefsChanged(on('t', A, TaskState.RUNNING), on('t', A, TaskState.COMPLETE)), true);
  assert.equal(fileRefsChanged(on('t', A, TaskState.ASSIGNED), on('t', A, TaskState.RUNNING)), false);
  assert.equal(fileRefsChanged(on('t', PLAIN, TaskState.RUNNING), on('t', PLAIN, TaskState.COMPLETE)), false, 'no references: nothing changes');
});

test('one spec naming a secret twice references it once', () => {
  const s = withFiles('d', ['s1', 's1']);
  s.spec.taskTemplate.container.secrets = [ref('s1', 'x'), { ...ref('s1', 'y'), target: 'other' }];
  assert.deepEqual(taskFileIds(on('t', s)).secrets, ['s1']);
});

test('NodeFiles, transition by transition: sent when first referenced, once; removed when the last task referencing it ends or leaves', () => {
  const f = new NodeFiles(STORE);
  // t1 (A: s1, s2, c1) arrives.
  f.set(on('t1', A));
  let d = f.changes();
  assert.deepEqual([ids(d.secrets), d.removedSecretIds, ids(d.configs), d.removedConfigIds], [['s1', 's2'], [], ['c1'], []]);
  // t2 (B: s2) arrives: s2 is held already.
  f.set(on('t2', B));
  d = f.changes();
  assert.deepEqual([ids(d.secrets), d.removedSecretIds, ids(d.configs)], [[], [], []]);
  // t1 runs: nothing changes.
  f.set(on('t1', A, TaskState.RUNNING));
  assert.deepEqual(f.changes(), { secrets: [], removedSecretIds: [], configs: [], removedConfigIds: [] });
  // t1 completes: s1 and c1 are no longer referenced, s2 still is (t2).
  f.set(on('t1', A, TaskState.COMPLETE));
  d = f.changes();
  assert.deepEqual([ids(d.secrets), d.removedSecretIds.sort(), ids(d.configs), d.removedConfigIds], [[], ['s1'], [], ['c1']]);
  assert.deepEqual(f.sent(), { secrets: ['s2'], configs: [] });
  // t2 is told to stop: s2 goes too.
  f.set(on('t2', B, TaskState.RUNNING, TaskState.SHUTDOWN));
  d = f.changes();
  assert.deepEqual(d.removedSecretIds, ['s2']);
  assert.deepEqual(f.sent(), { secrets: [], configs: [] });
  // A new task of A: sent again.
  f.set(on('t3', A));
  d = f.changes();
  assert.deepEqual([ids(d.secrets), ids(d.configs)], [['s1', 's2'], ['c1']]);
  // It leaves the node: removed.
  f.delete('t3');
  d = f.changes();
  assert.deepEqual([d.removedSecretIds.sort(), d.removedConfigIds], [['s1', 's2'], ['c1']]);
  // A task referencing nothing never sends anything.
  f.set(on('t4', PLAIN));
  assert.deepEqual(f.changes(), { secrets: [], removedSecretIds: [], configs: [], removedConfigIds: [] });
});

test('a reference and its removal in the same round cancel out: nothing is sent', () => {
  const f = new NodeFiles(STORE);
  f.set(on('t1', B));
  f.delete('t1');
  assert.deepEqual(f.changes(), { secrets: [], removedSecretIds: [], configs: [], removedConfigIds: [] });
});

test('a referenced secret missing from the store is not sent, and its id is never "removed"', () => {
  const s = withFiles('m', ['s1', 'gone']);
  const f = new NodeFiles(STORE);
  f.set(on('t1', s));
  let d = f.changes();
  assert.deepEqual(ids(d.secrets), ['s1'], 'only what exists');
  assert.deepEqual(f.referenced().secrets, ['gone', 's1']);
  assert.deepEqual(f.sent().secrets, ['s1']);
  f.delete('t1');
  d = f.changes();
  assert.deepEqual(d.removedSecretIds, ['s1'], 'the agent never had "gone"');
});

test('complete(): every referenced object, what the agent then holds', () => {
  const f = new NodeFiles(STORE);
  f.set(on('t1', A));
  f.set(on('t2', B));
  f.set(on('t3', withFiles('x', ['s3']), TaskState.COMPLETE));
  const d = f.complete();
  assert.deepEqual([ids(d.secrets), ids(d.configs), d.removedSecretIds], [['s1', 's2'], ['c1'], []]);
  assert.deepEqual(f.changes(), { secrets: [], removedSecretIds: [], configs: [], removedConfigIds: [] }, 'nothing pending after a complete set');
});

test('SessionAssignments: the complete set carries every referenced secret; changes carry the new ones and the removed ids; a node without such tasks gets none', () => {
  const a = new SessionAssignments(true, STORE);
  const t1 = on('t1', A);
  const t2 = on('t2', PLAIN);
  let m = a.full([t1, t2]);
  assert.equal(m.incremental, false);
  assert.deepEqual([ids(m.files.secrets), ids(m.files.configs)], [['s1', 's2'], ['c1']]);

  // A new task of B: s2 is held, nothing to send but the task.
  const t3 = on('t3', B);
  m = a.nextFor(['t3'], (id) => ({ t3 })[id], 'n1')!;
  assert.deepEqual(m.tasks.map((t) => t.id), ['t3']);
  assert.deepEqual(m.files, { secrets: [], removedSecretIds: [], configs: [], removedConfigIds: [] });

  // t1 completes (the agent's own report: no task to send), and its secret s1 and config c1 are dropped.
  const t1done = on('t1', A, TaskState.COMPLETE);
  m = a.nextFor(['t1'], (id) => ({ t1: t1done })[id], 'n1')!;
  assert.ok(m, 'a message for the removal alone');
  assert.deepEqual([m.tasks, m.removedTaskIds, m.files.removedSecretIds, m.files.removedConfigIds], [[], [], ['s1'], ['c1']]);

  // t3 leaves the node (deleted): s2 goes.
  m = a.nextFor(['t3'], () => undefined, 'n1')!;
  assert.deepEqual([m.removedTaskIds, m.files.removedSecretIds], [['t3'], ['s2']]);

  // Nothing referenced and nothing changed: no message.
  assert.equal(a.nextFor(['t2'], (id) => ({ t2 })[id], 'n1'), null);

  // Another node's session: it never gets A's or B's secrets.
  const other = new SessionAssignments(true, STORE);
  m = other.full([on('u1', PLAIN, TaskState.ASSIGNED, TaskState.RUNNING, 'n2')]);
  assert.deepEqual(m.files, { secrets: [], removedSecretIds: [], configs: [], removedConfigIds: [] });
  // A task of A assigned elsewhere is not this node's.
  assert.equal(other.nextFor(['t9'], () => on('t9', A, TaskState.ASSIGNED, TaskState.RUNNING, 'n1'), 'n2'), null);
});

test('SessionAssignments for an agent that takes only complete sets: every change resends the set with every referenced secret', () => {
  const a = new SessionAssignments(false, STORE);
  a.full([on('t1', B)]);
  const m = a.next([on('t1', B), on('t2', A)])!;
  assert.equal(m.incremental, false);
  assert.deepEqual([ids(m.files.secrets), ids(m.files.configs)], [['s1', 's2'], ['c1']]);
  // t2 ends: the complete set again, without s1 and c1 (the agent drops what a complete set lacks).
  const m2 = a.next([on('t1', B), on('t2', A, TaskState.FAILED)])!;
  assert.deepEqual([m2.incremental, ids(m2.files.secrets), ids(m2.files.configs)], [false, ['s2'], []]);
});

test('a secret whose labels change in the store is not sent again', () => {
  const s1 = secret('s1', 'one');
  const store = { current: s1 };
  const l: FileLookup = { secret: (id) => (id === 's1' ? store.current : undefined), config: () => undefined };
  const a = new SessionAssignments(true, l);
  const s = withFiles('o', ['s1']);
  a.full([on('t1', s)]);
  store.current = { ...s1, version: 7, spec: { ...s1.spec, labels: { new: 'label' } } };
  assert.equal(a.nextFor(['t1'], () => on('t1', s, TaskState.RUNNING), 'n1'), null);
});

test('packFiles: parts of at most FILE_BYTES_PER_MESSAGE, an object larger than that alone, none for none', () => {
  assert.deepEqual(packFiles([], []), []);
  const big = (id: string, kb: number): Secret => secret(id, id, Buffer.alloc(kb * 1024, 7).toString('base64'));
  const parts = packFiles([big('a', 400), big('b', 400), big('c', 400), big('d', 400), big('e', 400), big('f', 400)], [config('c1', 'x', Buffer.alloc(900 * 1024).toString('base64'))]);
  assert.deepEqual(parts.map((p) => [p.secrets.length, p.configs.length]), [[5, 0], [1, 1]]);
  for (const p of parts) assert.ok(p.bytes <= FILE_BYTES_PER_MESSAGE, `${p.bytes}`);
  assert.deepEqual(parts.flatMap((p) => p.secrets.map((s) => s.id)), ['a', 'b', 'c', 'd', 'e', 'f']);
  assert.deepEqual(parts.flatMap((p) => p.configs.map((c) => c.id)), ['c1']);
});
