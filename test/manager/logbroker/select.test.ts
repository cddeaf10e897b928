// What a log subscription reads (src/manager/logbroker/select.ts): the request
// checked, the target resolved as docker resolves SERVICE|TASK, the sources
// grouped by node (since, tail, or a cursor), the prefix's context.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '../../../src/api/input.js';
import { TaskState, type Node, type Service, type Task } from '../../../src/api/objects.js';
import type { control } from '../../../src/api/wire.js';
import { ApiError } from '../../../src/manager/grpc-status.js';
import { checkLogRequest, fixedTimestamp, planSources, resolveLogTarget, taskContext, type StoreView } from '../../../src/manager/logbroker/select.js';
import { NotFoundError } from '../../../src/manager/store/store.js';
import { node, service, task } from '../store-fixtures.js';

const web = service('svcweb0001', 'web', { mode: { replicated: { replicas: 12 } } });
const api = service('svcapi0001', 'api');
const running = (id: string, svc: Service, nodeId: string, slot: number, containerId = `c-${id}`): Task =>
  task(id, svc, { nodeId, slot, status: { state: TaskState.RUNNING, message: '', err: '', timestamp: 0, containerId, exitCode: 0, health: 'none' } });
const tasks = [running('t1aaa', web, 'n1', 1), running('t2bbb', web, 'n2', 2), running('t3ccc', web, 'n1', 3), task('t4ddd', web, { slot: 4 }), running('t5eee', api, 'n2', 1)];
const nodes: Node[] = [node('n1'), node('n2')];

function view(services: Service[] = [web, api], ts: Task[] = tasks): StoreView {
  return {
    service: (id) => services.find((s) => s.id === id),
    serviceByName: (n) => services.find((s) => s.spec.name === n),
    services: () => services,
    task: (id) => ts.find((t) => t.id === id),
    tasks: () => ts,
    tasksOf: (id) => ts.filter((t) => t.serviceId === id),
    node: (id) => nodes.find((n) => n.id === id),
  };
}

const request = (over: Partial<control.SubscribeLogsRequest__Output> = {}): control.SubscribeLogsRequest__Output => ({ target: 'web', follow: false, hasTail: false, tail: 0, sinceMs: 0, resume: [], ...over });

test('a request is checked: a target, a tail and a since of 0 or more, well-formed cursors', () => {
  assert.deepEqual(checkLogRequest(request({ hasTail: true, tail: 5, sinceMs: 7 })), { target: 'web', follow: false, tail: 5, sinceMs: 7, resume: [] });
  assert.equal(checkLogRequest(request({ tail: 5 })).tail, undefined, 'without has_tail every line');
  const bad: [Partial<control.SubscribeLogsRequest__Output>, string][] = [
    [{ target: '' }, 'target'],
    [{ target: 'x'.repeat(257) }, 'target'],
    [{ hasTail: true, tail: -1 }, 'tail'],
    [{ sinceMs: -1 }, 'sinceMs'],
    [{ resume: [{ taskId: '', timestamp: '2024-01-01T00:00:00Z', seen: [] }] }, 'resume[0].taskId'],
    [{ resume: [{ taskId: 't', timestamp: 'yesterday', seen: [] }] }, 'resume[0].timestamp'],
    [{ resume: [{ taskId: 't', timestamp: '2024-01-01T00:00:00+01:00', seen: [] }] }, 'resume[0].timestamp'],
  ];
  for (const [over, field] of bad) assert.throws(() => checkLogRequest(request(over)), (e: unknown) => e instanceof ValidationError && e.field === field, field);
});

test('the target: a service by id, name or id prefix, else a task by id or prefix; else docker\'s "no such task or service"', () => {
  const s = view();
  for (const ref of ['web', 'svcweb0001', 'svcw']) {
    const t = resolveLogTarget(s, ref);
    assert.equal(t.kind, 'service', ref);
    assert.equal(t.kind === 'service' && t.service.id, 'svcweb0001');
    assert.deepEqual(t.kind === 'service' && t.tasks.map((x) => x.id), ['t1aaa', 't2bbb', 't3ccc', 't4ddd']);
  }
  for (const ref of ['t2bbb', 't2']) {
    const t = resolveLogTarget(s, ref);
    assert.equal(t.kind === 'task' && t.task.id, 't2bbb', ref);
  }
  assert.throws(() => resolveLogTarget(s, 'nope'), (e: unknown) => e instanceof NotFoundError && e.message === 'no such task or service: "nope"');
  // 't' starts five tasks; 'svc' two services: ambiguous.
  for (const ref of ['t', 'svc']) assert.throws(() => resolveLogTarget(s, ref), (e: unknown) => e instanceof ApiError && /ambiguous/.test(e.message), ref);
});

test('sources by node: tasks with a container only; since and tail as asked; a cursor wins over both', () => {
  const plan = planSources(tasks.slice(0, 4), { tail: 5, sinceMs: Date.UTC(2024, 0, 1), resume: [{ taskId: 't3ccc', timestamp: '2024-02-03T04:05:06.5Z', seen: ['x'] }] });
  assert.deepEqual([...plan.keys()], ['n1', 'n2'], 't4ddd has no node nor container');
  assert.deepEqual(plan.get('n1'), [
    { taskId: 't1aaa', containerId: 'c-t1aaa', since: '2024-01-01T00:00:00.000Z', hasTail: true, tail: 5 },
    { taskId: 't3ccc', containerId: 'c-t3ccc', since: '2024-02-03T04:05:06.5Z', hasTail: false, tail: 0 },
  ]);
  assert.deepEqual(planSources([tasks[1]], { tail: undefined, sinceMs: 0, resume: [] }).get('n2'), [{ taskId: 't2bbb', containerId: 'c-t2bbb', since: '', hasTail: false, tail: 0 }]);
});

test('the context names the service, the slot, the node\'s hostname; replicas only for a service target', () => {
  const s = view();
  const svc = resolveLogTarget(s, 'web');
  assert.deepEqual(taskContext(s, tasks[1], svc), { taskId: 't2bbb', serviceId: 'svcweb0001', serviceName: 'web', slot: 2, nodeId: 'n2', nodeName: 'host-n2', replicas: 12 });
  assert.equal(taskContext(s, tasks[1], resolveLogTarget(s, 't2bbb')).replicas, 0);
  const global = service('svcglob001', 'agent', { mode: { global: {} } });
  const g = running('t9zzz', global, 'n1', 0);
  const gs = view([global], [g]);
  assert.equal(taskContext(gs, g, resolveLogTarget(gs, 'agent')).replicas, 0);
});

test('timestamps get nine digits of fraction, so that they compare as strings', () => {
  assert.equal(fixedTimestamp('2024-01-01T00:00:00Z'), '2024-01-01T00:00:00.000000000Z');
  assert.equal(fixedTimestamp('2024-01-01T00:00:00.5Z'), '2024-01-01T00:00:00.500000000Z');
  assert.equal(fixedTimestamp('2024-01-01T00:00:00.123456789Z'), '2024-01-01T00:00:00.123456789Z');
  assert.ok(fixedTimestamp('2024-01-01T00:00:00.5Z') > fixedTimestamp('2024-01-01T00:00:00.45Z'));
});
