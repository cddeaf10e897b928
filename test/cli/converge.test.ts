// Convergence as `service create/update/scale` report it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { progressOf } from '../../src/cli/converge.js';
import { TaskState, type Task } from '../../src/api/objects.js';
import { service, task } from '../manager/store-fixtures.js';

const svc = { ...service('s1', 'web'), version: 10, spec: { ...service('s1', 'web').spec, mode: { replicated: { replicas: 3 } } } };
function t(id: string, slot: number, state: TaskState, over: Partial<Task> = {}): Task {
  return task(id, svc, { slot, createdAt: slot * 10 + id.length, status: { state, message: '', err: '', timestamp: 0, containerId: '', exitCode: 0, health: 'none' }, ...over });
}

test('converged only when every slot runs the current spec and nothing else still runs', () => {
  const partial = progressOf(svc, [t('a', 1, TaskState.RUNNING), t('b', 2, TaskState.STARTING), t('c', 3, TaskState.PENDING, { status: { ...t('c', 3, 0).status, state: TaskState.PENDING, err: 'no suitable node (insufficient resources on 2 nodes)' } })]);
  assert.equal(partial.converged, false);
  assert.equal(partial.running, 1);
  assert.deepEqual(partial.lines, ['1/3: running', '2/3: starting', '3/3: no suitable node (insufficient resources on 2 nodes)']);
  const done = progressOf(svc, [t('a', 1, TaskState.RUNNING), t('b', 2, TaskState.RUNNING), t('c', 3, TaskState.RUNNING), t('old', 3, TaskState.FAILED, { desiredState: TaskState.SHUTDOWN })]);
  assert.equal(done.converged, true);
  const scaledDown = progressOf(svc, [t('a', 1, TaskState.RUNNING), t('b', 2, TaskState.RUNNING), t('c', 3, TaskState.RUNNING), t('d', 4, TaskState.RUNNING, { desiredState: TaskState.SHUTDOWN })]);
  assert.equal(scaledDown.converged, false, 'slot 4 is still running after the scale-down');
  const oldSpec = { ...svc.spec.taskTemplate, container: { ...svc.spec.taskTemplate.container, image: 'busybox:old' } };
  const updating = progressOf(svc, [t('a', 1, TaskState.RUNNING, { spec: oldSpec }), t('b', 2, TaskState.RUNNING), t('c', 3, TaskState.RUNNING)]);
  assert.equal(updating.converged, false, 'slot 1 still runs the old spec');
  assert.equal(updating.running, 2);
});
