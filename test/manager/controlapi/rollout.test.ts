// The Control API's rules for safe deploys (issue 15,
// src/manager/controlapi/services.ts): what UpdateService does to the
// previous spec and the update status, a rollback, and PromoteService's
// preconditions and effect. Every refusal changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { serviceSpecToProto } from '../../../src/api/convert.js';
import type { control } from '../../../src/api/wire.js';
import type { Service, ServiceSpec, UpdateStatus } from '../../../src/api/objects.js';
import { updateAction } from '../../../src/manager/store/store.js';
import { controlHarness as harness, refusal, type ControlHarness as Harness } from './fixtures.js';
import { serviceSpec } from '../store-fixtures.js';

async function create(h: Harness, s: ServiceSpec): Promise<Service> {
  const res = (await h.control.CreateService({ spec: serviceSpecToProto(s) })) as { service: control.Service__Output };
  return stored(h, res.service.meta?.id ?? '');
}

function stored(h: Harness, id: string): Service {
  const svc = h.local.store.get('service', id);
  assert.ok(svc, `service ${id}`);
  return svc;
}

/** Write `status` on the service as the leader's updater does (a new version, same spec). */
function setStatus(h: Harness, id: string, status: Partial<UpdateStatus> & Pick<UpdateStatus, 'state'>): Service {
  const s = stored(h, id);
  h.local.applyNow([updateAction('service', { ...s, updateStatus: { startedAt: 1, completedAt: 0, message: status.state, startVersion: s.specVersion, canary: 'none', ...status } })]);
  return stored(h, id);
}

function update(h: Harness, s: Service, edit: (spec: ServiceSpec) => void, rollback = false): Promise<unknown> {
  const spec = structuredClone(s.spec);
  edit(spec);
  return h.control.UpdateService({ serviceId: s.id, version: s.version, spec: serviceSpecToProto(spec), rollback });
}

const image = (s: Service): string => s.spec.taskTemplate.container.image;
const withImage = (img: string) => (spec: ServiceSpec) => void (spec.taskTemplate.container.image = img);

test('UpdateService: a new task spec makes the old spec the previous one and resets the update status', async () => {
  const h = harness();
  const v1 = await create(h, serviceSpec('web'));
  assert.equal(v1.previousSpec, undefined);
  await update(h, v1, withImage('busybox:2'));
  const v2 = setStatus(h, v1.id, { state: 'paused', message: 'update paused due to failure or early termination of task t1' });
  assert.equal(image(v2), 'busybox:2');
  assert.deepEqual(v2.previousSpec, v1.spec);
  // A paused update resumes on the next spec: the status goes, the previous spec is the paused one.
  await update(h, v2, withImage('busybox:3'));
  const v3 = stored(h, v1.id);
  assert.equal(image(v3), 'busybox:3');
  assert.equal(image({ ...v3, spec: v3.previousSpec as ServiceSpec }), 'busybox:2');
  assert.equal(v3.updateStatus, undefined);
  assert.ok(v3.specVersion > v2.specVersion, 'a new spec version');
  // A change of the published ports also changes what tasks run.
  const v4 = setStatus(h, v1.id, { state: 'updating' });
  await update(h, v4, (s) => (s.endpoint.ports = [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }]));
  assert.equal(stored(h, v1.id).updateStatus, undefined);
  assert.equal(image({ ...v4, spec: stored(h, v1.id).previousSpec as ServiceSpec }), 'busybox:3');
});

test('UpdateService: labels, replicas or the update config during an update keep the previous spec and the status', async () => {
  const h = harness();
  const v1 = await create(h, serviceSpec('web'));
  await update(h, v1, withImage('busybox:2'));
  for (const state of ['updating', 'paused', 'rollback_started', 'rollback_paused'] as const) {
    const during = setStatus(h, v1.id, { state, startedAt: 42 });
    const edits: ((s: ServiceSpec) => void)[] = [(s) => (s.labels = { ...s.labels, [state]: 'x' }), (s) => (s.mode = { replicated: { replicas: 'replicated' in s.mode ? s.mode.replicated.replicas + 1 : 1 } }), (s) => (s.updateConfig.parallelism += 1)];
    for (const edit of edits) {
      const before = stored(h, v1.id);
      await update(h, before, edit);
      const after = stored(h, v1.id);
      assert.ok(after.version > before.version, `${state}: written`);
      assert.deepEqual(after.updateStatus, during.updateStatus, `${state}: the status is kept`);
      assert.deepEqual(after.previousSpec, during.previousSpec, `${state}: the previous spec is kept`);
    }
  }
  // Once the update completed, the same kind of change starts afresh (the spec it replaces becomes the previous one).
  const done = setStatus(h, v1.id, { state: 'completed', completedAt: 50 });
  await update(h, done, (s) => (s.labels = { after: 'done' }));
  assert.equal(stored(h, v1.id).updateStatus, undefined);
  assert.deepEqual(stored(h, v1.id).previousSpec, done.spec);
});

test('UpdateService rollback: spec and previous spec swap; rollback_started "manually requested rollback"', async () => {
  const h = harness();
  const v1 = await create(h, serviceSpec('web'));
  await update(h, v1, withImage('busybox:2'));
  const v2 = stored(h, v1.id);
  const res = (await h.control.UpdateService({ serviceId: v1.id, version: v2.version, spec: null, rollback: true })) as { service: control.Service__Output };
  const back = stored(h, v1.id);
  assert.equal(res.service.meta?.version, back.version);
  assert.deepEqual(back.spec, v1.spec);
  assert.deepEqual(back.previousSpec, v2.spec);
  assert.equal(back.updateStatus?.state, 'rollback_started');
  assert.equal(back.updateStatus?.message, 'manually requested rollback');
  assert.equal(back.updateStatus?.canary, 'none');
  // The same spec along with rollback is no other change: allowed (a client that always sends its spec).
  const again = stored(h, v1.id);
  await update(h, again, () => {}, true);
  assert.equal(image(stored(h, v1.id)), 'busybox:2', 'rolled back again: the swap is its own inverse');
});

test('UpdateService rollback refusals: nothing to roll back to, other changes, a stale version; none writes', async () => {
  const h = harness();
  const fresh = await create(h, serviceSpec('web'));
  const writes = h.writes();
  const none = await refusal(h.control.UpdateService({ serviceId: fresh.id, version: fresh.version, spec: null, rollback: true }));
  assert.equal(grpc.status[none.code], 'FAILED_PRECONDITION');
  assert.equal(none.details, 'service "web" does not have a previous spec: there is nothing to roll back to');
  await update(h, fresh, withImage('busybox:2'));
  const v2 = stored(h, fresh.id);
  const other = await refusal(update(h, v2, withImage('busybox:3'), true));
  assert.equal(grpc.status[other.code], 'INVALID_ARGUMENT');
  assert.match(other.details, /other changes may not be combined with a rollback: roll back first, then update/);
  const stale = await refusal(h.control.UpdateService({ serviceId: fresh.id, version: fresh.version, spec: null, rollback: true }));
  assert.equal(grpc.status[stale.code], 'ABORTED');
  assert.equal(h.writes(), writes + 1, 'only the update of the image was written');
  assert.deepEqual(stored(h, fresh.id), v2);
});

test('PromoteService: preconditions in one line each; awaiting_promotion becomes promoted', async () => {
  const h = harness();
  const spec = serviceSpec('web', { mode: { replicated: { replicas: 3 } } });
  spec.updateConfig.canary = 1;
  const v1 = await create(h, spec);
  const promote = (s: Service): Promise<unknown> => h.control.PromoteService({ serviceId: s.id, version: s.version });
  const refused = async (s: Service, pattern: RegExp): Promise<void> => {
    const writes = h.writes();
    const r = await refusal(promote(s));
    assert.equal(grpc.status[r.code], 'FAILED_PRECONDITION', r.details);
    assert.match(r.details, pattern);
    assert.equal(h.writes(), writes, 'nothing written');
  };
  await refused(v1, /^service "web" has no canaries to promote: start an update with --update-canary N first$/);
  await refused(setStatus(h, v1.id, { state: 'updating' }), /has no canaries to promote/);
  await refused(setStatus(h, v1.id, { state: 'updating', canary: 'deploying' }), /have not run healthy for the monitor window yet: wait, and see `flotilla service ps web`$/);
  await refused(setStatus(h, v1.id, { state: 'paused', canary: 'awaiting_promotion', message: 'update paused due to failure' }), /^the update of service "web" is paused \(update paused due to failure\): update or roll back the service instead$/);
  await refused(setStatus(h, v1.id, { state: 'updating', canary: 'promoted' }), /^the canaries of service "web" are already promoted$/);
  const waiting = setStatus(h, v1.id, { state: 'updating', canary: 'awaiting_promotion', startedAt: 7 });
  const stale = await refusal(h.control.PromoteService({ serviceId: v1.id, version: v1.version }));
  assert.equal(grpc.status[stale.code], 'ABORTED');
  const missing = await refusal(h.control.PromoteService({ serviceId: v1.id, version: 0 }));
  assert.equal(grpc.status[missing.code], 'INVALID_ARGUMENT');
  await promote(waiting);
  const after = stored(h, v1.id);
  assert.deepEqual(after.updateStatus, { ...waiting.updateStatus, canary: 'promoted', message: 'update in progress: canaries promoted' });
  assert.deepEqual(after.spec, waiting.spec, 'the spec is not touched');
  assert.equal(after.specVersion, waiting.specVersion, 'nor its version: the update goes on, not a new one');
});
