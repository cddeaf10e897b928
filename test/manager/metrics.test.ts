// What the metrics read from store objects (src/manager/metrics.ts), and the
// store's count of tasks by observed state that the task gauges read.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TaskState, type Service, type Task } from '../../src/api/objects.js';
import { countNodesByState, countServicesByUpdateState, decidedRestart, schedulingDelaySeconds, taskStateLabel } from '../../src/manager/metrics.js';
import { createAction, deleteAction, statusAction } from '../../src/manager/store/store.js';
import { Log, T0, node, service, task } from './store-fixtures.js';

const at = (t: Task, state: TaskState, timestamp: number): Task => ({ ...t, status: { ...t.status, state, timestamp } });

test('task state labels are the state names in lower case', () => {
  assert.equal(taskStateLabel(TaskState.RUNNING), 'running');
  assert.equal(taskStateLabel(TaskState.NEW), 'new');
});

test('nodes by state: every state present, zero when none', () => {
  const counts = countNodesByState([node('a'), node('b', { status: { state: 'down', message: '', address: '' } }), node('c')]);
  assert.deepEqual([...counts], [
    ['ready', 2],
    ['down', 1],
    ['unknown', 0],
  ]);
  assert.deepEqual([...countNodesByState([])].map(([, n]) => n), [0, 0, 0]);
});

test("services by update state: 'none' for a service never updated, every state present", () => {
  const s = service('s1', 'web');
  const updating: Service = { ...service('s2', 'api'), updateStatus: { state: 'updating', startedAt: T0, completedAt: 0, message: '', startVersion: 1, canary: 'none' } };
  const counts = countServicesByUpdateState([s, updating, { ...updating, id: 's3' }]);
  assert.equal(counts.get('none'), 1);
  assert.equal(counts.get('updating'), 2);
  assert.equal(counts.get('rollback_completed'), 0);
  assert.equal(counts.size, 7);
});

test('scheduling delay: from creation to the RUNNING status, once, when the task reaches RUNNING', () => {
  const t = task('t1', service('s1', 'web'));
  const starting = at(t, TaskState.STARTING, T0 + 1_000);
  const running = at(t, TaskState.RUNNING, T0 + 2_500);
  assert.equal(schedulingDelaySeconds(starting, running), 2.5);
  assert.equal(schedulingDelaySeconds(at(t, TaskState.NEW, T0), running), 2.5, 'states skipped in between change nothing');
  assert.equal(schedulingDelaySeconds(running, { ...running, status: { ...running.status, health: 'healthy' } }), undefined, 'already running');
  assert.equal(schedulingDelaySeconds(running, at(t, TaskState.FAILED, T0 + 9_000)), undefined);
  assert.equal(schedulingDelaySeconds(starting, at(t, TaskState.COMPLETE, T0 + 3_000)), undefined, 'ended without being seen RUNNING');
  assert.equal(schedulingDelaySeconds(starting, at(t, TaskState.RUNNING, T0 - 1)), undefined, "a worker's clock behind the manager's");
});

test('restart decisions: counted when the decision to replace the task is recorded, not when it says no restart or is rewritten', () => {
  const t = at(task('t1', service('s1', 'web')), TaskState.FAILED, T0);
  const decided = { ...t, restart: { attempt: 1, delayMs: 5_000, nextAt: T0 + 5_000, reason: '' } };
  assert.equal(decidedRestart(t, decided), true);
  assert.equal(decidedRestart(decided, { ...decided, updatedAt: T0 + 1 }), false);
  assert.equal(decidedRestart(t, { ...t, restart: { attempt: 4, delayMs: 0, nextAt: 0, reason: 'max attempts reached' } }), false);
});

test("the store counts tasks by observed state as they are created, move and are deleted (an index, checked by checkIndexes)", () => {
  const log = new Log();
  const s = service('s1', 'web');
  log.ok(createAction('service', s), createAction('task', task('t1', s)), createAction('task', task('t2', s, { slot: 2 })));
  assert.deepEqual([...log.store.taskCountsByState()], [[TaskState.NEW, 2]]);
  const running = { ...task('t1', s).status, state: TaskState.RUNNING, timestamp: T0 + 1 };
  log.ok(statusAction('t1', running, T0 + 1));
  assert.deepEqual(new Map(log.store.taskCountsByState()), new Map([[TaskState.NEW, 1], [TaskState.RUNNING, 1]]));
  log.ok(deleteAction('task', 't2'));
  assert.deepEqual([...log.store.taskCountsByState()], [[TaskState.RUNNING, 1]], 'a state with no task left is absent');
  assert.deepEqual(log.store.checkIndexes(), []);
});
