// The replicated cluster store as a Raft state machine: reads, unique names,
// optimistic concurrency, all-or-none transactions, indexes, forward-only task
// states, watch events, snapshot/restore, determinism, malformed input, and a
// seeded randomized comparison of two replicas.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../../src/testing/prng.js';
import {
  ClusterStore,
  NameConflictError,
  StoreSnapshotError,
  VersionConflictError,
  createAction,
  decodeTx,
  deleteAction,
  encodeTx,
  errorFromTx,
  unwrapTx,
  updateAction,
  assignAction,
  spawnAction,
  statusAction,
  type Action,
  type TxResult,
} from '../../src/manager/store/store.js';
import { KINDS, TASK_STATES, TaskState, isTerminal, taskStateName, type Service, type Task } from '../../src/api/objects.js';
import { ValidationError } from '../../src/api/input.js';
import type { StoreEvent } from '../../src/manager/store/watch.js';
import { Log, T0, clone, cluster, config, node, secret, service, task } from './store-fixtures.js';
import { LocalStore } from './local-store.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function failed(r: TxResult): Extract<TxResult, { ok: false }> {
  if (r.ok) assert.fail(`expected a failure, got ${JSON.stringify(r)}`);
  return r;
}

const ids = (xs: { id: string }[]): string[] => xs.map((x) => x.id);

test('task states are ordered like SwarmKit and terminal past RUNNING', () => {
  const names = TASK_STATES.map(taskStateName);
  assert.deepEqual(names, ['NEW', 'PENDING', 'ASSIGNED', 'ACCEPTED', 'PREPARING', 'READY', 'STARTING', 'RUNNING', 'COMPLETE', 'SHUTDOWN', 'FAILED', 'REJECTED', 'REMOVE', 'ORPHANED']);
  assert.equal(TaskState.RUNNING, 512);
  assert.ok(TaskState.PREPARING < TaskState.READY && TaskState.READY < TaskState.STARTING);
  assert.deepEqual(TASK_STATES.filter(isTerminal).map(taskStateName), ['COMPLETE', 'SHUTDOWN', 'FAILED', 'REJECTED', 'REMOVE', 'ORPHANED']);
});

test('create, get and list every kind; versions are Raft indexes; reads are frozen', () => {
  const log = new Log();
  const s = service('s1', 'web');
  const r = log.ok(createAction('node', node('n2')), createAction('node', node('n1', { role: 'manager' })), createAction('service', s));
  assert.equal(r.index, 1);
  assert.deepEqual(r.objects.map((o) => o.id), ['n2', 'n1', 's1']);
  log.ok(createAction('secret', secret('sec1', 'db-password')), createAction('config', config('cfg1', 'nginx.conf')), createAction('cluster', cluster('c1')));
  log.ok(createAction('task', task('t1', s)), createAction('network', { id: 'net1', version: 0, createdAt: T0, updatedAt: T0, spec: { name: 'front', labels: {}, driver: 'overlay' } }));

  const store = log.store;
  assert.equal(store.index, 3);
  const got = store.get('service', 's1');
  assert.ok(got);
  assert.equal(got.version, 1);
  assert.equal(got.specVersion, 1, "the store sets specVersion: the write that last changed the spec");
  assert.deepEqual({ ...got, version: 0, specVersion: 0 }, s);
  assert.equal(store.get('secret', 'sec1')?.version, 2);
  assert.equal(store.get('task', 't1')?.version, 3);
  assert.equal(store.get('task', 'nope'), undefined);
  assert.deepEqual(ids(store.list('node')), ['n1', 'n2']);
  assert.deepEqual(ids(store.list('node', { role: 'manager' })), ['n1']);
  assert.deepEqual(ids(store.list('config', { labels: { a: 'b' } })), ['cfg1']);
  assert.deepEqual(ids(store.list('config', { labels: { a: 'c' } })), []);
  assert.deepEqual(ids(store.list('service', { namePrefix: 'WE' })), ['s1']);
  assert.deepEqual(ids(store.list('service', { name: 'Web' })), ['s1']);
  for (const kind of KINDS) assert.equal(store.count(kind), 1 + (kind === 'node' ? 1 : 0));
  assert.throws(() => {
    (got.spec as { name: string }).name = 'changed';
  }, TypeError);
  assert.throws(() => {
    got.spec.taskTemplate.container.env.push('B=2');
  }, TypeError);
  assert.equal(store.findServiceByName('web')?.id, 's1');
  assert.equal(store.findByName('cluster', 'DEFAULT')?.id, 'c1');
});

test('the store fills defaults and keeps createdAt on update', () => {
  const log = new Log();
  const minimal = { id: 's1', version: 0, createdAt: T0, updatedAt: T0, spec: { name: 'min', taskTemplate: { container: { image: 'redis' } } } };
  log.ok({ kind: 'service', op: 'create', object: minimal } as unknown as Action);
  const s = log.store.get('service', 's1');
  assert.ok(s);
  assert.deepEqual(s.spec.mode, { replicated: { replicas: 1 } });
  assert.deepEqual(s.spec.taskTemplate.restartPolicy, { condition: 'any', delayMs: 5000, maxAttempts: 0, windowMs: 0, maxDelayMs: 300_000 });
  assert.equal(s.spec.taskTemplate.container.stopGracePeriodMs, 10_000);
  const upd = clone(s);
  upd.createdAt = 5;
  upd.updatedAt = T0 + 1000;
  log.ok(updateAction('service', upd));
  assert.equal(log.store.get('service', 's1')?.createdAt, T0);
  assert.equal(log.store.get('service', 's1')?.updatedAt, T0 + 1000);
});

test('service, secret and config names are unique (case-insensitively); ids too', () => {
  const log = new Log();
  log.ok(createAction('service', service('s1', 'web')), createAction('secret', secret('x1', 'web')));
  let e = failed(log.apply(createAction('service', service('s2', 'WEB')))).error;
  assert.equal(e.code, 'name-conflict');
  assert.equal(e.field, 'spec.name');
  assert.match(e.message, /"WEB".*s1/);
  assert.ok(errorFromTx(e) instanceof NameConflictError);

  e = failed(log.apply(createAction('secret', secret('x2', 'Web')))).error;
  assert.equal(e.code, 'name-conflict');
  assert.match(e.message, /secret name "Web"/);

  e = failed(log.apply(createAction('service', service('s1', 'other')))).error;
  assert.equal(e.code, 'name-conflict');
  assert.equal(e.field, 'id');

  // A rename onto a taken name fails; onto a free one moves the index.
  log.ok(createAction('service', service('s2', 'api')));
  const s2 = clone(log.store.get('service', 's2') as Service);
  s2.spec.name = 'web';
  assert.equal(failed(log.apply(updateAction('service', s2))).error.code, 'name-conflict');
  s2.spec.name = 'api2';
  log.ok(updateAction('service', s2));
  assert.equal(log.store.findServiceByName('api'), undefined);
  assert.equal(log.store.findServiceByName('api2')?.id, 's2');
  // After a delete the name is free again.
  log.ok(deleteAction('service', 's1'));
  log.ok(createAction('service', service('s3', 'web')));
  assert.equal(log.store.findServiceByName('web')?.id, 's3');
  assert.deepEqual(log.store.checkIndexes(), []);
});

test('optimistic concurrency: a stale write is a version conflict; unknown ids are not found', () => {
  const log = new Log();
  log.ok(createAction('service', service('s1', 'web')));
  const read = clone(log.store.get('service', 's1') as Service);
  assert.equal(read.version, 1);

  const a = clone(read);
  a.spec.labels = { writer: 'a' };
  const ra = log.ok(updateAction('service', a));
  assert.equal(ra.objects[0].version, 2);

  const b = clone(read);
  b.spec.labels = { writer: 'b' };
  const eb = failed(log.apply(updateAction('service', b))).error;
  assert.equal(eb.code, 'version-conflict');
  assert.equal(eb.action, 0);
  assert.match(eb.message, /version 2, not 1/);
  assert.ok(errorFromTx(eb) instanceof VersionConflictError);
  assert.throws(() => unwrapTx(log.apply(updateAction('service', b))), VersionConflictError);
  assert.deepEqual(log.store.get('service', 's1')?.spec.labels, { writer: 'a' });

  // Unconditional update (no expectedVersion) wins.
  log.ok(updateAction('service', b, null));
  assert.deepEqual(log.store.get('service', 's1')?.spec.labels, { writer: 'b' });

  assert.equal(failed(log.apply(deleteAction('service', 's1', 1))).error.code, 'version-conflict');
  assert.equal(failed(log.apply(deleteAction('service', 'zz'))).error.code, 'not-found');
  const ghost = service('zz', 'ghost');
  const nf = failed(log.apply(updateAction('service', ghost, null))).error;
  assert.equal(nf.code, 'not-found');
  assert.match(nf.message, /service zz not found/);
  log.ok(deleteAction('service', 's1', log.store.get('service', 's1')?.version));
  assert.equal(log.store.count('service'), 0);
});

test('a transaction is all or none: a failing action undoes the earlier ones and emits nothing', () => {
  const log = new Log();
  const s = service('s1', 'web');
  log.ok(createAction('node', node('n1')), createAction('service', s), createAction('task', task('t1', s, { nodeId: 'n1' })));
  const before = log.store.snapshot();
  const events: StoreEvent[] = [];
  log.store.watch((e) => events.push(e));

  const t1 = clone(log.store.get('task', 't1') as Task);
  t1.nodeId = 'n2';
  t1.desiredState = TaskState.SHUTDOWN;
  const bad = service('s2', 'api');
  bad.spec.taskTemplate.container.image = 'NotAnImage!';
  const r = failed(
    log.apply(
      createAction('service', service('s3', 'db')),
      updateAction('task', t1),
      deleteAction('service', 's1'),
      createAction('service', bad),
    ),
  );
  assert.equal(r.error.code, 'invalid');
  assert.equal(r.error.action, 3);
  assert.equal(r.error.field, 'spec.taskTemplate.container.image');
  assert.equal(r.index, 2);
  assert.equal(events.length, 0);
  assert.equal(log.store.get('service', 's3'), undefined);
  assert.equal(log.store.findServiceByName('db'), undefined);
  assert.equal(log.store.get('task', 't1')?.nodeId, 'n1');
  assert.deepEqual(ids(log.store.tasksByNode('n1')), ['t1']);
  assert.deepEqual(log.store.tasksByNode('n2'), []);
  assert.deepEqual(ids(log.store.tasksByDesiredState(TaskState.RUNNING)), ['t1']);
  assert.deepEqual(log.store.checkIndexes(), []);
  // The failed transaction still consumed its index, and nothing else changed.
  assert.equal(log.store.index, 2);
  const after = JSON.parse(new TextDecoder().decode(log.store.snapshot()));
  const was = JSON.parse(new TextDecoder().decode(before));
  assert.deepEqual(after.objects, was.objects);

  // Later actions see earlier ones of the same transaction.
  const created = service('s4', 'cache');
  const renamed = clone(created);
  renamed.spec.name = 'cache2';
  const ok = log.ok(createAction('service', created), updateAction('service', renamed, 3), createAction('service', service('s5', 'cache')), createAction('task', task('t9', created)));
  assert.deepEqual(ok.objects.map((o) => [o.id, o.version]), [['s4', 3], ['s4', 3], ['s5', 3], ['t9', 3]]);
  assert.deepEqual(events.map((e) => `${e.op}:${e.kind}`), ['create:service', 'update:service', 'create:service', 'create:task']);
});

test('indexes follow tasks across nodes, desired states, services and deletes', () => {
  const log = new Log();
  const s1 = service('s1', 'web');
  const s2 = service('s2', 'api');
  log.ok(createAction('node', node('n1')), createAction('node', node('n2')), createAction('node', node('m1', { role: 'manager' })), createAction('service', s1), createAction('service', s2));
  log.ok(
    createAction('task', task('t1', s1, { slot: 1, nodeId: 'n1' })),
    createAction('task', task('t2', s1, { slot: 2, nodeId: 'n1' })),
    createAction('task', task('t3', s2, { slot: 1, nodeId: 'n2' })),
    createAction('task', task('t4', s2, { slot: 2 })),
  );
  const st = log.store;
  assert.deepEqual(ids(st.tasksByService('s1')), ['t1', 't2']);
  assert.deepEqual(ids(st.tasksByNode('n1')), ['t1', 't2']);
  assert.deepEqual(ids(st.tasksByNode('')), ['t4']);
  assert.deepEqual(ids(st.tasksByDesiredState(TaskState.RUNNING)), ['t1', 't2', 't3', 't4']);

  // t1 moves from n1 to n2; t4 gets assigned; t2 is told to shut down.
  const t1 = clone(st.get('task', 't1') as Task);
  t1.nodeId = 'n2';
  const t4 = clone(st.get('task', 't4') as Task);
  t4.nodeId = 'n1';
  t4.status.state = TaskState.ASSIGNED;
  const t2 = clone(st.get('task', 't2') as Task);
  t2.desiredState = TaskState.SHUTDOWN;
  log.ok(updateAction('task', t1), updateAction('task', t4), updateAction('task', t2));
  assert.deepEqual(ids(st.tasksByNode('n1')), ['t2', 't4']);
  assert.deepEqual(ids(st.tasksByNode('n2')), ['t1', 't3']);
  assert.deepEqual(st.tasksByNode(''), []);
  assert.deepEqual(ids(st.tasksByDesiredState(TaskState.RUNNING)), ['t1', 't3', 't4']);
  assert.deepEqual(ids(st.tasksByDesiredState(TaskState.SHUTDOWN)), ['t2']);
  assert.deepEqual(ids(st.list('task', { nodeId: 'n1', desiredState: TaskState.RUNNING })), ['t4']);
  assert.deepEqual(ids(st.list('task', { serviceId: 's2', where: (t) => t.status.state >= TaskState.ASSIGNED })), ['t4']);

  // Nodes change role; tasks are deleted.
  const n2 = clone(st.get('node', 'n2') as import('../../src/api/objects.js').Node);
  n2.role = 'manager';
  log.ok(updateAction('node', n2), deleteAction('task', 't1'), deleteAction('task', 't2'));
  assert.deepEqual(ids(st.nodesByRole('manager')), ['m1', 'n2']);
  assert.deepEqual(ids(st.nodesByRole('worker')), ['n1']);
  assert.deepEqual(ids(st.tasksByService('s1')), []);
  assert.deepEqual(ids(st.tasksByNode('n2')), ['t3']);
  assert.deepEqual(st.tasksByDesiredState(TaskState.SHUTDOWN), []);
  // A service can be deleted while its tasks remain (the orchestrator cleans them up).
  log.ok(deleteAction('service', 's2'));
  assert.deepEqual(ids(st.tasksByService('s2')), ['t3', 't4']);
  assert.deepEqual(st.checkIndexes(), []);
});

test('a task belongs to an existing service and fits its mode', () => {
  const log = new Log();
  const rep = service('s1', 'web');
  const glob = service('s2', 'agent', { mode: { global: {} } });
  log.ok(createAction('service', rep), createAction('service', glob));
  let e = failed(log.apply(createAction('task', task('t1', service('nope', 'nope'))))).error;
  assert.equal(e.code, 'not-found');
  assert.equal(e.field, 'serviceId');
  e = failed(log.apply(createAction('task', task('t1', rep, { slot: 0 })))).error;
  assert.deepEqual([e.code, e.field], ['invalid', 'slot']);
  e = failed(log.apply(createAction('task', task('t1', glob, { slot: 0 })))).error;
  assert.deepEqual([e.code, e.field], ['invalid', 'nodeId']);
  log.ok(createAction('task', task('t1', glob, { slot: 0, nodeId: 'n1' })));
  // The service mode and a task's service and slot are fixed.
  const g = clone(log.store.get('service', 's2') as Service);
  g.spec.mode = { replicated: { replicas: 1 } };
  e = failed(log.apply(updateAction('service', g))).error;
  assert.deepEqual([e.field, e.rule], ['spec.mode', 'immutable']);
  const t = clone(log.store.get('task', 't1') as Task);
  t.serviceId = 's1';
  e = failed(log.apply(updateAction('task', t))).error;
  assert.deepEqual([e.field, e.rule], ['serviceId', 'immutable']);
});

test('observed task state only moves forward', () => {
  const log = new Log();
  const s = service('s1', 'web');
  log.ok(createAction('service', s), createAction('task', task('t1', s, { nodeId: 'n1' })));
  const step = (state: TaskState, extra: Partial<Task['status']> = {}): TxResult => {
    const t = clone(log.store.get('task', 't1') as Task);
    t.status = { ...t.status, state, ...extra };
    return log.apply(updateAction('task', t, null));
  };
  for (const st of [TaskState.ASSIGNED, TaskState.ACCEPTED, TaskState.PREPARING, TaskState.STARTING, TaskState.RUNNING]) assert.ok(step(st).ok, taskStateName(st));
  // Same state with new details is fine (health reports).
  assert.ok(step(TaskState.RUNNING, { health: 'healthy' }).ok);
  const e = failed(step(TaskState.STARTING)).error;
  assert.equal(e.code, 'invalid');
  assert.equal(e.field, 'status.state');
  assert.equal(e.rule, 'forward-only');
  assert.match(e.message, /RUNNING to STARTING/);
  assert.ok(step(TaskState.FAILED, { exitCode: 137, err: 'killed' }).ok);
  assert.equal(failed(step(TaskState.RUNNING)).error.rule, 'forward-only');
  const t = log.store.get('task', 't1');
  assert.equal(t?.status.state, TaskState.FAILED);
  assert.equal(t?.status.health, 'healthy');
  // Desired state is the managers' to set and may go either way.
  const back = clone(t as Task);
  back.desiredState = TaskState.READY;
  assert.ok(log.apply(updateAction('task', back)).ok);
});

test('watch: events in commit order, after the transaction, filtered; unsubscribe; throwing listeners', () => {
  const log = new Log();
  const all: StoreEvent[] = [];
  const tasks: string[] = [];
  const one: string[] = [];
  const deletes: string[] = [];
  const where: string[] = [];
  log.store.watch((e) => all.push(e));
  log.store.watch({ kind: 'task' }, (e) => tasks.push(`${e.op}:${e.op === 'restored' ? '' : e.object.id}`));
  const unsubscribe = log.store.watch({ id: 's1' }, (e) => one.push(`${e.op}@${e.index}`));
  log.store.watch({ kind: ['service', 'task'], op: 'delete' }, (e) => deletes.push(e.op === 'restored' ? 'restored' : e.object.id));
  log.store.watch({ where: (e) => e.kind === 'task' && e.object.status.state === TaskState.RUNNING }, (e) => where.push(`${e.index}`));
  log.store.watch(() => {
    throw new Error('a broken watcher');
  });
  let seenInside: number | undefined;
  log.store.watch({ kind: 'service', op: 'create' }, () => {
    seenInside = log.store.count('task'); // the whole transaction is visible to watchers
  });

  const s = service('s1', 'web');
  log.ok(createAction('service', s), createAction('task', task('t1', s)), createAction('task', task('t2', s, { slot: 2 })));
  assert.equal(seenInside, 2);
  const t1 = clone(log.store.get('task', 't1') as Task);
  t1.status.state = TaskState.RUNNING;
  log.ok(updateAction('task', t1));
  failed(log.apply(deleteAction('task', 'missing')));
  unsubscribe();
  log.ok(deleteAction('task', 't2'), deleteAction('service', 's1'));

  assert.deepEqual(
    all.map((e) => (e.op === 'restored' ? 'restored' : `${e.index}:${e.op}:${e.kind}:${e.object.id}`)),
    ['1:create:service:s1', '1:create:task:t1', '1:create:task:t2', '2:update:task:t1', '4:delete:task:t2', '4:delete:service:s1'],
  );
  const upd = all[3];
  assert.ok(upd.op === 'update' && upd.kind === 'task');
  assert.equal(upd.old?.status.state, TaskState.NEW);
  assert.equal(upd.object.status.state, TaskState.RUNNING);
  const del = all[5];
  assert.ok(del.op === 'delete' && del.kind === 'service' && del.object.spec.name === 'web');
  assert.deepEqual(tasks, ['create:t1', 'create:t2', 'update:t1', 'delete:t2']);
  assert.deepEqual(one, ['create@1']);
  assert.deepEqual(deletes, ['t2', 's1']);
  assert.deepEqual(where, ['2']);
});

test('watch: a transaction applied from inside a listener is delivered after the current one', () => {
  const log = new Log();
  const seen: string[] = [];
  log.store.watch((e) => {
    if (e.op === 'restored') return;
    seen.push(`${e.index}:${e.object.id}`);
    if (e.object.id === 'a') log.apply(createAction('node', node('c')));
  });
  log.ok(createAction('node', node('a')), createAction('node', node('b')));
  assert.deepEqual(seen, ['1:a', '1:b', '2:c']);
});

function populated(): Log {
  const log = new Log();
  const s1 = service('s1', 'web');
  const s2 = service('s2', 'agent', { mode: { global: {} }, labels: { tier: 'infra' } });
  log.ok(
    createAction('cluster', cluster('c1')),
    createAction('node', node('n1', { labels: { zone: 'a' }, managerStatus: { raftId: 'r1', addr: '10.0.0.1:4242', leader: true, reachability: 'reachable' }, role: 'manager' })),
    createAction('node', node('n2', { availability: 'drain' })),
    createAction('service', s1),
    createAction('service', s2),
    createAction('secret', secret('x1', 'db-password')),
    createAction('config', config('k1', 'app.conf')),
  );
  log.ok(createAction('task', task('t1', s1, { nodeId: 'n1' })), createAction('task', task('t2', s1, { slot: 2 })), createAction('task', task('t3', s2, { slot: 0, nodeId: 'n2' })));
  const t3 = clone(log.store.get('task', 't3') as Task);
  t3.status.state = TaskState.RUNNING;
  t3.desiredState = TaskState.SHUTDOWN;
  log.ok(updateAction('task', t3), deleteAction('config', 'k1'));
  return log;
}

function reads(st: ClusterStore): unknown {
  return {
    index: st.index,
    lists: KINDS.map((k) => st.list(k)),
    byService: ['s1', 's2', 'x'].map((id) => ids(st.tasksByService(id))),
    byNode: ['n1', 'n2', ''].map((id) => ids(st.tasksByNode(id))),
    byDesired: TASK_STATES.map((s) => ids(st.tasksByDesiredState(s))),
    byRole: [ids(st.nodesByRole('manager')), ids(st.nodesByRole('worker'))],
    names: ['web', 'agent', 'x'].map((n) => st.findServiceByName(n)?.id),
  };
}

test('snapshot -> restore on a fresh store gives identical reads, indexes and behaviour', () => {
  const log = populated();
  const image = log.store.snapshot();
  const fresh = new ClusterStore();
  const events: StoreEvent[] = [];
  fresh.watch({ kind: 'task' }, (e) => events.push(e));
  fresh.restore(image);
  assert.deepEqual(events, [{ kind: 'store', op: 'restored', index: 3 }]);
  assert.deepEqual(reads(fresh), reads(log.store));
  assert.deepEqual(fresh.checkIndexes(), []);
  assert.deepEqual(fresh.snapshot(), image);
  assert.ok(Object.isFrozen(fresh.get('task', 't1')?.status));

  // Both continue identically, including conflicts detected through the rebuilt indexes.
  const next = [
    encodeTx([createAction('service', service('s9', 'WEB'))]),
    encodeTx([updateAction('task', { ...(clone(log.store.get('task', 't1')) as Task), nodeId: 'n2' })]),
    encodeTx([deleteAction('task', 't2', 2)]),
  ];
  for (const [i, data] of next.entries()) assert.deepEqual(fresh.apply(data, 4 + i), log.store.apply(data, 4 + i));
  assert.deepEqual(fresh.snapshot(), log.store.snapshot());
  assert.equal(log.store.get('task', 't1')?.nodeId, 'n2');
  // Applying an entry the snapshot already covers is refused and changes nothing.
  assert.equal(failed(fresh.apply(next[0], 3)).error.rule, 'index');
});

test('restore refuses a bad image and keeps the current state', () => {
  const log = populated();
  const before = log.store.snapshot();
  const image = JSON.parse(new TextDecoder().decode(before));
  const bad: Uint8Array[] = [
    enc('not json'),
    new Uint8Array([0xff, 0xfe]),
    enc(JSON.stringify({ ...image, v: 99 })),
    enc(JSON.stringify({ ...image, format: 'other' })),
    enc(JSON.stringify({ ...image, objects: { ...image.objects, service: [image.objects.service[0], image.objects.service[0]] } })),
    enc(JSON.stringify({ ...image, objects: { ...image.objects, node: [{ id: 'n1', role: 'boss', version: 1 }] } })),
  ];
  for (const data of bad) assert.throws(() => log.store.restore(data), StoreSnapshotError);
  assert.deepEqual(log.store.snapshot(), before);
});

test('the same log on two stores gives identical results and byte-identical snapshots', () => {
  const a = populated();
  const b = new Log();
  const results = a.entries.map((data, i) => b.store.apply(data, i + 1));
  assert.ok(results.every((r) => r.ok));
  assert.deepEqual(b.store.snapshot(), a.store.snapshot());
  // Key order in the proposed JSON does not matter either: objects are stored canonically.
  const c = new Log();
  const s = service('s1', 'web');
  const reordered = Object.fromEntries(Object.entries(s).reverse());
  c.ok({ kind: 'service', op: 'create', object: reordered } as unknown as Action);
  const d = new Log();
  d.ok(createAction('service', s));
  assert.deepEqual(c.store.snapshot(), d.store.snapshot());
});

test('malformed transaction bytes give an invalid result, never a throw', () => {
  const log = new Log();
  const obj = JSON.stringify(service('s1', 'web'));
  const cases: Uint8Array[] = [
    new Uint8Array(),
    enc('{'),
    new Uint8Array([0x7b, 0xc3, 0x28, 0x7d]),
    enc('null'),
    enc('[1,2]'),
    enc('{"v":2,"actions":[]}'),
    enc('{"actions":[]}'),
    enc('{"v":1,"actions":{}}'),
    enc('{"v":1,"actions":[]}'),
    enc('{"v":1,"actions":[42]}'),
    enc(`{"v":1,"actions":[{"kind":"widget","op":"create","object":${obj}}]}`),
    enc(`{"v":1,"actions":[{"kind":"service","op":"upsert","object":${obj}}]}`),
    enc('{"v":1,"actions":[{"kind":"service","op":"create","object":"s1"}]}'),
    enc('{"v":1,"actions":[{"kind":"service","op":"create"}]}'),
    enc(`{"v":1,"actions":[{"kind":"service","op":"update","object":${obj},"expectedVersion":-1}]}`),
    enc(`{"v":1,"actions":[{"kind":"service","op":"update","object":${obj},"expectedVersion":"1"}]}`),
    enc(`{"v":1,"actions":[{"kind":"service","op":"create","object":${obj},"expectedVersion":0}]}`),
    enc('{"v":1,"actions":[{"kind":"service","op":"create","object":{}}]}'),
    enc('{"v":1,"actions":[{"kind":"service","op":"create","object":{"id":"s1","spec":[]}}]}'),
    enc('{"v":1,"actions":[{"kind":"task","op":"create","object":{"id":"t1","__proto__":{"x":1}}}]}'),
    enc('{"v":1,"actions":[{"kind":"node","op":"delete","object":{"id":7}}]}'),
    enc('{"v":1,"actions":[{"kind":"node","op":"update","object":{"id":""}}]}'),
  ];
  for (const [i, data] of cases.entries()) {
    let r: TxResult | undefined;
    assert.doesNotThrow(() => {
      r = log.applyBytes(data);
    }, `case ${i}`);
    assert.ok(r && !r.ok, `case ${i} should fail`);
    assert.equal(r.error.code, 'invalid', `case ${i}: ${JSON.stringify(r.error)}`);
    assert.equal(r.index, i + 1);
  }
  assert.equal(log.store.index, cases.length);
  for (const kind of KINDS) assert.equal(log.store.count(kind), 0);
  const d = decodeTx(enc('{"v":1,"actions":[{"kind":"node","op":"delete","object":{"id":"n1"},"expectedVersion":3}]}'));
  assert.deepEqual(d, { ok: true, actions: [{ kind: 'node', op: 'delete', object: { id: 'n1' }, expectedVersion: 3 }] });
  // Labels named like Object.prototype members stay plain labels.
  log.ok({ kind: 'node', op: 'create', object: JSON.parse('{"id":"n1","labels":{"__proto__":"x","constructor":"y"}}') } as unknown as Action);
  const n = log.store.get('node', 'n1');
  assert.deepEqual(Object.keys(n?.labels ?? {}), ['__proto__', 'constructor']);
  assert.equal(Object.getPrototypeOf(n?.labels), Object.prototype);
  assert.ok(errorFromTx(failed(log.applyBytes(enc('x'))).error) instanceof ValidationError);
});

// ---------------------------------------------------------------------------
// Randomized: two replicas, one seeded stream of valid and invalid transactions.

function randomTx(rng: Prng, view: ClusterStore, now: number): Uint8Array {
  const svcIds = ['s1', 's2', 's3', 's4'];
  const names = ['web', 'api', 'db', 'WEB', 'cache'];
  const taskIds = Array.from({ length: 16 }, (_, i) => `t${i}`);
  const nodeIds = ['n1', 'n2', 'n3'];
  // Mostly existing objects, sometimes any id (which may be missing).
  const existing = (kind: 'service' | 'task', pool: string[]): string => {
    const have = view.list(kind);
    return have.length > 0 && rng.chance(0.85) ? rng.pick(have).id : rng.pick(pool);
  };
  const actions: Action[] = [];
  const n = rng.chance(0.6) ? 1 : rng.range(2, 3);
  for (let i = 0; i < n; i++) {
    const roll = rng.int(100);
    if (roll < 3) return rng.chance(0.5) ? enc('{"v":1,"actions":[{"kind":"task"') : enc(`{"v":1,"actions":[{"kind":"task","op":"update","object":{"id":"t1"},"expectedVersion":${rng.int(3) - 1}}]}`);
    if (roll < 12) {
      const s = service(rng.pick(svcIds), rng.pick(names), rng.chance(0.2) ? { mode: { global: {} } } : {});
      s.createdAt = now;
      if (rng.chance(0.1)) s.spec.taskTemplate.container.image = 'Bad:Image';
      actions.push(createAction('service', s));
    } else if (roll < 22) {
      const cur = view.get('service', existing('service', svcIds));
      const s = cur ? clone(cur) : service(rng.pick(svcIds), 'ghost');
      if ('replicated' in s.spec.mode) s.spec.mode.replicated.replicas = rng.chance(0.05) ? -1 : rng.int(10);
      if (rng.chance(0.2)) s.spec.name = rng.pick(names);
      s.updatedAt = now;
      actions.push(updateAction('service', s, rng.chance(0.3) ? null : s.version - (rng.chance(0.15) ? 1 : 0)));
    } else if (roll < 25) {
      actions.push(deleteAction('service', existing('service', svcIds), rng.chance(0.7) ? undefined : view.get('service', 's1')?.version));
    } else if (roll < 45) {
      const svc = view.get('service', existing('service', svcIds)) ?? service('s9', 'none');
      const global = 'global' in svc.spec.mode;
      const id = rng.chance(0.8) ? `t${view.count('task') + rng.int(6)}` : rng.pick(taskIds);
      actions.push(createAction('task', task(id, svc, { slot: global ? 0 : rng.range(1, 3), nodeId: global || rng.chance(0.5) ? rng.pick(nodeIds) : '' })));
    } else if (roll < 80) {
      const cur = view.get('task', existing('task', taskIds));
      if (!cur) {
        actions.push(deleteAction('task', rng.pick(taskIds)));
        continue;
      }
      const t = clone(cur);
      const what = rng.int(4);
      if (what === 0) t.nodeId = rng.pick(['', ...nodeIds]);
      else if (what === 1) t.desiredState = rng.pick(TASK_STATES);
      else t.status.state = rng.chance(0.8) ? rng.pick(TASK_STATES.filter((st) => st >= t.status.state)) : rng.pick(TASK_STATES);
      t.status.timestamp = now;
      actions.push(updateAction('task', t, rng.chance(0.5) ? null : t.version - (rng.chance(0.1) ? 1 : 0)));
    } else if (roll < 86) {
      actions.push(deleteAction('task', existing('task', taskIds), rng.chance(0.8) ? undefined : rng.int(50)));
    } else if (roll < 95) {
      const id = rng.pick(nodeIds);
      const cur = view.get('node', id);
      if (cur) {
        const nn = clone(cur);
        nn.role = rng.pick(['manager', 'worker'] as const);
        nn.status.state = rng.pick(['ready', 'down', 'unknown'] as const);
        actions.push(updateAction('node', nn));
      } else {
        actions.push(createAction('node', node(id)));
      }
    } else {
      actions.push(createAction('secret', secret(`x${rng.int(3)}`, rng.pick(names), rng.chance(0.1) ? 'not base64!' : 'YWJj')));
    }
  }
  return encodeTx(actions);
}

test('randomized: two replicas applying the same random log agree on every result and snapshot', () => {
  for (const seed of [1, 2, 3]) {
    const rng = new Prng(seed);
    const a = new ClusterStore();
    const b = new ClusterStore();
    const eventsA: string[] = [];
    const eventsB: string[] = [];
    const key = (e: StoreEvent): string => (e.op === 'restored' ? `restored@${e.index}` : `${e.index}:${e.op}:${e.kind}:${e.object.id}:${e.object.version}`);
    a.watch((e) => eventsA.push(key(e)));
    b.watch((e) => eventsB.push(key(e)));
    let c: ClusterStore | undefined;
    const outcomes = new Map<string, number>();
    for (let index = 1; index <= 400; index++) {
      const data = randomTx(rng, a, T0 + index);
      const ra = a.apply(data, index);
      const rb = b.apply(data, index);
      assert.deepEqual(rb, ra, `seed ${seed} index ${index}`);
      const k = ra.ok ? 'ok' : ra.error.code;
      outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
      if (c) assert.deepEqual(c.apply(data, index), ra);
      if (index === 200) {
        c = new ClusterStore();
        c.restore(a.snapshot());
      }
      if (index % 50 === 0) {
        assert.deepEqual(a.checkIndexes(), [], `seed ${seed} index ${index}`);
        for (const t of a.list('task')) assert.ok(t.version <= index && t.version >= 1);
      }
    }
    assert.deepEqual(eventsB, eventsA);
    assert.deepEqual(b.snapshot(), a.snapshot());
    assert.deepEqual(c?.snapshot(), a.snapshot());
    assert.deepEqual(c && reads(c), reads(a));
    // The stream exercises success and every failure code.
    for (const code of ['ok', 'invalid', 'not-found', 'name-conflict', 'version-conflict']) assert.ok((outcomes.get(code) ?? 0) > 5, `seed ${seed}: ${code} ${JSON.stringify([...outcomes])}`);
  }
});

test('a status action updates only the observed status, forward-only, and is watched as an update', async () => {
  const log = new Log();
  const svc = service('s1', 'web');
  log.apply(createAction('service', svc), createAction('node', node('n1')));
  const t = task('t1', svc, { nodeId: 'n1', status: { state: TaskState.ASSIGNED, message: '', err: '', timestamp: 1, containerId: '', exitCode: 0, health: 'none' } });
  log.apply(createAction('task', t));
  const events: string[] = [];
  log.store.watch({ kind: 'task' }, (ev) => events.push(ev.op));
  const running = { state: TaskState.RUNNING, message: 'started', err: '', timestamp: 5, containerId: 'c1', exitCode: 0, health: 'none' as const };
  const ok = log.apply(statusAction('t1', running, 99));
  assert.equal(ok.ok, true);
  const stored = log.store.get('task', 't1');
  assert.deepEqual(stored?.status, running);
  assert.equal(stored?.updatedAt, 99);
  assert.deepEqual(stored?.spec, t.spec, 'nothing else changes');
  assert.deepEqual(events, ['update']);
  const back = log.apply(statusAction('t1', { ...running, state: TaskState.STARTING }, 100));
  assert.equal(back.ok, false);
  assert.equal(!back.ok && back.error.rule, 'forward-only');
  const notTask = log.applyBytes(new TextEncoder().encode(JSON.stringify({ v: 1, actions: [{ kind: 'service', op: 'status', object: { id: 's1' } }] })));
  assert.equal(notTask.ok, false);
  const stale = log.apply(statusAction('t1', { ...running, state: TaskState.COMPLETE }, 101, 1));
  assert.equal(!stale.ok && stale.error.code, 'version-conflict');
});

test('an assign action sets only the node and the observed status, forward-only, if the task is at the version read', async () => {
  const log = new Log();
  const svc = service('s1', 'web');
  log.apply(createAction('service', svc), createAction('node', node('n1')));
  const pending = { state: TaskState.PENDING, message: 'pending', err: '', timestamp: 1, containerId: '', exitCode: 0, health: 'none' as const };
  const t = log.ok(createAction('task', task('t1', svc, { status: pending }))).objects[0] as Task;
  const events: string[] = [];
  log.store.watch({ kind: 'task' }, (ev) => events.push(ev.op));
  const assigned = { ...pending, state: TaskState.ASSIGNED, message: 'assigned', timestamp: 7 };
  // A stale read is refused.
  const stale = log.apply(assignAction({ id: 't1', nodeId: 'n1', status: assigned, updatedAt: 7 }, t.version - 1));
  assert.equal(!stale.ok && stale.error.code, 'version-conflict');
  const ok = log.ok(assignAction({ id: 't1', nodeId: 'n1', status: assigned, updatedAt: 7 }, t.version));
  const stored = log.store.get('task', 't1') as Task;
  assert.equal(stored.nodeId, 'n1');
  assert.deepEqual(stored.status, assigned);
  assert.equal(stored.updatedAt, 7);
  assert.equal(stored.version, ok.index);
  assert.equal(stored.spec, t.spec, 'the spec object is kept as it is');
  assert.deepEqual(log.store.tasksByNode('n1').map((x) => x.id), ['t1'], 'indexes follow the node');
  assert.deepEqual(events, ['update']);
  // Forward-only, like any write of the status; a bad node id is refused.
  const back = log.apply(assignAction({ id: 't1', nodeId: 'n1', status: pending, updatedAt: 8 }, stored.version));
  assert.equal(!back.ok && back.error.rule, 'forward-only');
  const badNode = log.apply(assignAction({ id: 't1', nodeId: 'not an id!', status: assigned, updatedAt: 8 }, stored.version));
  assert.equal(!badNode.ok && badNode.error.field, 'nodeId');
  // Tasks only, and never without the version read.
  const enc = (x: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(x));
  assert.equal(log.applyBytes(enc({ v: 1, actions: [{ kind: 'node', op: 'assign', object: { id: 'n1' }, expectedVersion: 1 }] })).ok, false);
  const unconditional = log.applyBytes(enc({ v: 1, actions: [{ kind: 'task', op: 'assign', object: { id: 't1', nodeId: 'n1', status: assigned } }] }));
  assert.equal(!unconditional.ok && unconditional.error.rule, 'encoding');
});

test('a spawn action creates a task with its service\'s current spec, and is refused once the service moved on', async () => {
  const log = new Log();
  const svc = log.ok(createAction('service', service('s1', 'web'))).objects[0] as Service;
  const events: string[] = [];
  log.store.watch({ kind: 'task' }, (ev) => events.push(ev.op));
  const t = task('t1', svc, { specVersion: svc.version });
  const action = spawnAction(t);
  assert.equal(JSON.stringify(action).includes('"spec"'), false, 'no spec in the log');
  const stored = log.ok(action).objects[0] as Task;
  assert.equal(stored.spec, svc.spec.taskTemplate, 'the service\'s own (frozen) template');
  assert.equal(stored.endpoint, svc.spec.endpoint);
  assert.deepEqual(stored.serviceAnnotations, { name: 'web' });
  assert.deepEqual(events, ['create']);
  assert.deepEqual({ ...stored, version: 0 }, { ...t, version: 0 }, 'the same task a create of the whole object gives');
  // The service changed since: refused, nothing created.
  const svc2 = log.ok(updateAction('service', { ...clone(svc), spec: { ...clone(svc.spec), labels: { a: 'b' } } })).objects[0] as Service;
  const stale = log.apply(spawnAction(task('t2', svc, { slot: 2, specVersion: svc.version })));
  assert.equal(!stale.ok && stale.error.code, 'version-conflict');
  assert.equal(log.store.get('task', 't2'), undefined);
  log.ok(spawnAction(task('t2', svc2, { slot: 2, specVersion: svc2.version })));
  // No service, no task; ids stay unique; tasks only.
  assert.equal(!log.apply(spawnAction(task('t3', service('nope', 'x')))).ok && 'refused', 'refused');
  const dup = log.apply(spawnAction(task('t1', svc2, { slot: 3, specVersion: svc2.version })));
  assert.equal(!dup.ok && dup.error.code, 'name-conflict');
  const enc = (x: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(x));
  assert.equal(log.applyBytes(enc({ v: 1, actions: [{ kind: 'node', op: 'spawn', object: { id: 'n9' } }] })).ok, false);
});

test('a transaction of 130,000 actions reaches every watcher (no call stack overflow after the apply)', () => {
  // Seen: `service rm` of a 100,000-replica service deleted every task in one transaction; the store applied it,
  // then pushed the events with push(...events), which overflows the stack beyond ~120,000 arguments: the apply
  // threw after the change, and the watchers (orchestrators, dispatcher) never heard of it.
  const ls = new LocalStore();
  const svc = service('s1', 'big');
  ls.applyNow([createAction('cluster', cluster('c1')), createAction('service', svc)]);
  const n = 130_000;
  const version = (ls.store.get('service', 's1') as Service).version;
  const tasks = Array.from({ length: n }, (_, i) => task(`t${i}`, svc, { slot: (i % 100_000) + 1, specVersion: version }));
  let seen = 0;
  ls.store.watch({ kind: ['task'] }, () => void seen++);
  ls.applyNow(tasks.map((t) => spawnAction(t)));
  assert.equal(seen, n);
  seen = 0;
  ls.applyNow(tasks.map((t) => deleteAction('task', t.id)));
  assert.equal(seen, n);
  assert.equal(ls.store.tasksByService('s1').length, 0);
});
