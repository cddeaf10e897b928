// Tasks whose spec equals one the store already holds share that frozen
// object (shared-specs.ts): the stored result is the same as validating the
// copy would give, and anything that differs is validated as before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAction, updateAction } from '../../src/manager/store/store.js';
import { jsonEqual } from '../../src/api/shared-specs.js';
import type { Service, Task } from '../../src/api/objects.js';
import { validateEndpointSpec, validateTaskTemplate } from '../../src/api/validate.js';
import { Log, clone, node, service, task } from '../manager/store-fixtures.js';

test('jsonEqual compares JSON values structurally, objects in any key order', () => {
  assert.equal(jsonEqual({ a: 1, b: [1, { c: 'x' }] }, { b: [1, { c: 'x' }], a: 1 }), true);
  assert.equal(jsonEqual({ a: 1 }, { a: 1, b: 2 }), false);
  assert.equal(jsonEqual({ a: 1, b: 2 }, { a: 1 }), false);
  assert.equal(jsonEqual({ a: null }, {}), false);
  assert.equal(jsonEqual([1, 2], [2, 1]), false);
  assert.equal(jsonEqual([1], { 0: 1 }), false);
  assert.equal(jsonEqual('1', 1), false);
  assert.equal(jsonEqual(JSON.parse('{"__proto__":{"x":1}}'), {}), false);
});

test('the validators are idempotent on their canonical output (what sharing relies on)', () => {
  const templates = [
    service('s1', 'web').spec.taskTemplate,
    validateTaskTemplate({ container: { image: 'busybox', healthcheck: { test: ['CMD', 'true'] } }, placement: { constraints: ['node.role==worker'] } }),
    validateTaskTemplate({ container: { image: 'busybox' } }),
  ];
  for (const t of templates) {
    const canonical = validateTaskTemplate(JSON.parse(JSON.stringify(t)));
    assert.deepEqual(validateTaskTemplate(JSON.parse(JSON.stringify(canonical))), canonical);
  }
  const ep = validateEndpointSpec({ ports: [{ targetPort: 80, publishedPort: 8080, publishMode: 'host' }] });
  assert.deepEqual(validateEndpointSpec(JSON.parse(JSON.stringify(ep))), ep);
});

test('tasks created and updated with their service\'s spec share its frozen template and endpoint', () => {
  const log = new Log();
  log.ok(createAction('node', node('n1')));
  const svc = log.ok(createAction('service', service('s1', 'web'))).objects[0] as Service;
  const r = log.ok(createAction('task', task('t1', svc)), createAction('task', task('t2', svc, { slot: 2 })));
  const [t1, t2] = r.objects as Task[];
  assert.equal(t1.spec, svc.spec.taskTemplate, 'the service\'s object, not a copy');
  assert.equal(t2.spec, svc.spec.taskTemplate);
  assert.equal(t1.endpoint, svc.spec.endpoint);
  assert.ok(Object.isFrozen(t1.spec));
  // An update carrying the same spec (a scheduler's assignment) keeps it.
  const moved = log.ok(updateAction('task', { ...clone(t1), nodeId: 'n1' })).objects[0] as Task;
  assert.equal(moved.spec, svc.spec.taskTemplate);
  assert.equal(moved.nodeId, 'n1');
  // After a service update the old tasks keep their (old) spec object and new ones share the new one.
  const svc2 = log.ok(updateAction('service', { ...clone(svc), spec: { ...clone(svc.spec), taskTemplate: { ...clone(svc.spec.taskTemplate), container: { ...clone(svc.spec.taskTemplate.container), image: 'busybox:2' } } } })).objects[0] as Service;
  const t3 = log.ok(createAction('task', task('t3', svc2, { slot: 3 }))).objects[0] as Task;
  assert.equal(t3.spec, svc2.spec.taskTemplate);
  const again = log.ok(updateAction('task', { ...clone(moved), desiredState: moved.desiredState })).objects[0] as Task;
  assert.equal(again.spec, svc.spec.taskTemplate, 'equal to its previous spec: that object');
  assert.equal(again.spec.container.image, 'busybox:latest');
});

test('a task spec that differs from every held copy is validated as before', () => {
  const log = new Log();
  const svc = log.ok(createAction('service', service('s1', 'web'))).objects[0] as Service;
  // Unknown keys are dropped by validation; defaults are filled in.
  const raw = { ...clone(svc.spec.taskTemplate), extra: 1 } as unknown as Service['spec']['taskTemplate'];
  const t = log.ok(createAction('task', task('t1', svc, { spec: raw }))).objects[0] as Task;
  assert.notEqual(t.spec, svc.spec.taskTemplate);
  assert.deepEqual(t.spec, svc.spec.taskTemplate);
  // An invalid spec is still refused.
  const bad = clone(svc.spec.taskTemplate);
  bad.container.image = '';
  const r = log.apply(createAction('task', task('t2', svc, { slot: 2, spec: bad })));
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.field, 'spec.container.image');
});

test('a restored snapshot shares the services\' templates too', () => {
  const log = new Log();
  const svc = log.ok(createAction('service', service('s1', 'web'))).objects[0] as Service;
  log.ok(createAction('task', task('t1', svc)), createAction('task', task('t2', svc, { slot: 2 })));
  const fresh = new Log();
  fresh.store.restore(log.store.snapshot());
  const s = fresh.store.get('service', 's1') as Service;
  assert.equal(fresh.store.get('task', 't1')?.spec, s.spec.taskTemplate);
  assert.equal(fresh.store.get('task', 't2')?.spec, s.spec.taskTemplate);
});
