// The Control API handlers (src/manager/controlapi/service.ts) over an in-process
// store: the findings of issue 13 probed on a real cluster, each as a
// regression test. Every refusal is checked with the gRPC status the client
// gets (toGrpcStatus), and to change nothing: no write reaches the store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { clusterSpecToProto, serviceSpecToProto } from '../../../src/api/convert.js';
import type { control } from '../../../src/api/wire.js';
import type { Cluster, Node, Service, ServiceSpec } from '../../../src/api/objects.js';
import { controlHarness as harness, refusal, type ControlHarness as Harness } from './fixtures.js';
import { createAction, deleteAction } from '../../../src/manager/store/store.js';
import { serviceSpec, task } from '../store-fixtures.js';

/** The call fails with INVALID_ARGUMENT naming `field` and `rule`; returns the details. */
async function invalid(p: Promise<unknown>, field: string, rule: string, details?: RegExp): Promise<string> {
  const r = await refusal(p);
  assert.equal(grpc.status[r.code], 'INVALID_ARGUMENT', r.details);
  assert.equal(r.field, field, r.details);
  assert.equal(r.rule, rule, r.details);
  if (details) assert.match(r.details, details);
  return r.details;
}

function clusterObj(h: Harness): Cluster {
  return h.local.store.list('cluster')[0];
}

function spec(c: Cluster, edit: (s: control.ClusterSpec__Output) => void): control.ClusterSpec__Output {
  const s = clusterSpecToProto(c.spec);
  edit(s);
  return s;
}

async function createService(h: Harness, s: ServiceSpec): Promise<Service> {
  const res = (await h.control.CreateService({ spec: serviceSpecToProto(s) })) as { service: control.Service__Output };
  const svc = h.local.store.get('service', res.service.meta?.id ?? '');
  assert.ok(svc);
  return svc;
}

function protoSpec(s: ServiceSpec, edit: (p: control.ServiceSpec__Output) => void = () => {}): control.ServiceSpec__Output {
  const p = serviceSpecToProto(structuredClone(s));
  edit(p);
  return p;
}

test('UpdateCluster enforces the ranges the CLI documents and a fixed name; a refusal changes nothing', async () => {
  const h = harness();
  const c = clusterObj(h);
  const before = JSON.stringify(c);
  const update = (edit: (s: control.ClusterSpec__Output) => void) => h.control.UpdateCluster({ version: c.version, spec: spec(c, edit) });
  // Issue 13's probe: a heartbeat period of 1 ms, a grace of 1000, a task history of 1e9, a new name.
  await invalid(update((s) => (s.dispatcher = { heartbeatPeriodMs: 1, heartbeatGrace: 3 })), 'spec.dispatcher.heartbeatPeriodMs', 'heartbeat-period', /must be between 100ms and 1h \(got 1ms\)/);
  await invalid(update((s) => (s.dispatcher = { heartbeatPeriodMs: 1000, heartbeatGrace: 1000 })), 'spec.dispatcher.heartbeatGrace', 'heartbeat-grace', /must be an integer in 1\.\.100 \(got 1000\)/);
  await invalid(update((s) => (s.orchestration = { taskHistoryRetention: 1e9 })), 'spec.orchestration.taskHistoryRetention', 'task-history-limit', /in 0\.\.1000/);
  await invalid(update((s) => (s.caConfig = { nodeCertExpiryHours: 0 })), 'spec.caConfig.nodeCertExpiryHours', 'cert-expiry', /between 1h and 87600h/);
  await invalid(update((s) => (s.name = 'renamed')), 'spec.name', 'cluster-name', /the cluster's name cannot be changed \(it is "default", the request has "renamed"\)/);
  assert.equal(h.writes(), 0);
  assert.equal(JSON.stringify(clusterObj(h)), before);
  // In range: written, with a new version.
  const ok = (await update((s) => (s.dispatcher = { heartbeatPeriodMs: 100, heartbeatGrace: 100 }))) as { cluster: { meta: { version: number } } };
  assert.equal(h.writes(), 1);
  assert.ok(ok.cluster.meta.version > c.version);
  assert.deepEqual(clusterObj(h).spec.dispatcher, { heartbeatPeriodMs: 100, heartbeatGrace: 100 });
});

test('UpdateService, UpdateNode and UpdateCluster refuse a missing, zero or negative version (INVALID_ARGUMENT), a stale one (ABORTED)', async () => {
  const h = harness();
  const svc = await createService(h, serviceSpec('web'));
  const c = clusterObj(h);
  const w1 = h.local.store.get('node', 'w1') as Node;
  const writes = h.writes();
  const versionRequired = /version is required \(got (0|-1|nothing)\): read the (service|node|cluster) \(Get(Service|Node|Cluster)\) and send its version/;
  for (const version of [0, -1, undefined]) {
    // Issue 13's probe: `version: 0` drained a worker.
    await invalid(
      h.control.UpdateNode({ nodeId: 'w1', version: version as number, hasAvailability: true, availability: 2, hasRole: false, role: 0, force: false }),
      'version',
      'version-required',
      versionRequired,
    );
    await invalid(h.control.UpdateService({ serviceId: svc.id, version: version as number, rollback: false, spec: protoSpec(svc.spec, (s) => (s.labels = { x: 'y' })) }), 'version', 'version-required', versionRequired);
    await invalid(h.control.UpdateCluster({ version: version as number, spec: spec(c, (s) => (s.dispatcher = { heartbeatPeriodMs: 2000, heartbeatGrace: 3 })) }), 'version', 'version-required', versionRequired);
  }
  assert.equal(h.writes(), writes, 'nothing proposed');
  assert.equal((h.local.store.get('node', 'w1') as Node).availability, 'active', 'the worker was not drained');
  // A version that is not the stored one: ABORTED, before anything else is decided.
  const stale = async (p: Promise<unknown>): Promise<void> => {
    const r = await refusal(p);
    assert.equal(grpc.status[r.code], 'ABORTED', r.details);
    assert.match(r.details, /is at version \d+, not \d+: the object changed since you read it/);
  };
  await stale(h.control.UpdateNode({ nodeId: 'w1', version: w1.version + 1, hasAvailability: true, availability: 2, hasRole: false, role: 0, force: false }));
  await stale(h.control.UpdateService({ serviceId: svc.id, version: svc.version - 1, rollback: false, spec: protoSpec(svc.spec) }));
  await stale(h.control.UpdateCluster({ version: c.version + 7, spec: spec(c, () => {}) }));
  assert.equal(h.writes(), writes, 'nothing proposed');
  // The version read: written.
  await h.control.UpdateNode({ nodeId: 'w1', version: w1.version, hasAvailability: true, availability: 2, hasRole: false, role: 0, force: false });
  assert.equal((h.local.store.get('node', 'w1') as Node).availability, 'drain');
});

test('an update that changes nothing writes nothing and answers the stored object, its version unchanged', async () => {
  const h = harness();
  const svc = await createService(h, serviceSpec('web', { labels: { a: '1' } }));
  const c = clusterObj(h);
  const w1 = h.local.store.get('node', 'w1') as Node;
  const writes = h.writes();
  const s = (await h.control.UpdateService({ serviceId: svc.id, version: svc.version, rollback: false, spec: protoSpec(svc.spec) })) as { service: control.Service__Output };
  assert.equal(s.service.meta?.version, svc.version);
  assert.equal(s.service.meta?.updatedAt, svc.updatedAt);
  const n = (await h.control.UpdateNode({ nodeId: 'w1', version: w1.version, hasAvailability: true, availability: 0, hasRole: true, role: 0, labelsAdd: {}, labelsRm: [], force: false })) as {
    node: { meta: { version: number } };
  };
  assert.equal(n.node.meta.version, w1.version);
  const cl = (await h.control.UpdateCluster({ version: c.version, spec: clusterSpecToProto(c.spec) })) as { cluster: { meta: { version: number } } };
  assert.equal(cl.cluster.meta.version, c.version);
  assert.equal(h.writes(), writes, 'nothing proposed');
  assert.equal(h.local.store.get('service', svc.id), svc, 'the very stored object');
  // A label set to the value it has, and the same availability: still nothing.
  await h.control.UpdateNode({ nodeId: 'w1', version: w1.version, hasAvailability: true, availability: 0, hasRole: false, role: 0, labelsAdd: {}, labelsRm: [], force: false });
  assert.equal(h.writes(), writes);
  // One real change: one write, a new version.
  const changed = (await h.control.UpdateService({ serviceId: svc.id, version: svc.version, rollback: false, spec: protoSpec(svc.spec, (p) => (p.labels = { a: '2' })) })) as { service: control.Service__Output };
  assert.equal(h.writes(), writes + 1);
  assert.ok((changed.service.meta?.version ?? 0) > svc.version);
});

test('specs a user would not mean are refused at CreateService and UpdateService, naming the field and what to do', async () => {
  const h = harness();
  const base = serviceSpec('web');
  const create = (edit: (s: ServiceSpec) => void) => {
    const s = structuredClone(base);
    edit(s);
    return h.control.CreateService({ spec: serviceSpecToProto(s) });
  };
  const C = 'spec.taskTemplate.container';
  const R = 'spec.taskTemplate.resources';
  // Issue 13's probes: a bind mount over /, a 1-byte memory limit, 1e15 nano-CPUs, "A B=c".
  await invalid(create((s) => (s.taskTemplate.container.mounts = [{ type: 'bind', source: '/srv', target: '/', readOnly: false }])), `${C}.mounts[0].target`, 'mount-target-root', /destination can't be '\/'/);
  await invalid(create((s) => (s.taskTemplate.container.mounts = [{ type: 'bind', source: '/', target: '/host', readOnly: false }])), `${C}.mounts[0].source`, 'mount-source-root', /make it readonly/);
  await invalid(create((s) => (s.taskTemplate.container.mounts = [{ type: 'bind', source: '/var/lib/docker', target: '/d', readOnly: false }])), `${C}.mounts[0].source`, 'mount-source-engine');
  await invalid(create((s) => (s.taskTemplate.resources.limits.memoryBytes = 1)), `${R}.limits.memoryBytes`, 'memory-minimum', /Minimum memory limit allowed is 6MB/);
  await invalid(create((s) => (s.taskTemplate.resources.limits.nanoCpus = 1e15)), `${R}.limits.nanoCpus`, 'cpus', /between 0\.01 and 8192 CPUs/);
  await invalid(create((s) => (s.taskTemplate.container.env = ['A B=c'])), `${C}.env[0]`, 'env-name', /"A B" contains whitespace/);
  await invalid(create((s) => (s.labels = { 'a b': '' })), 'spec.labels["a b"]', 'label-key');
  assert.equal(h.writes(), 0);
  assert.equal(h.local.store.list('service').length, 0);
  // The socket of the engine is a legitimate mount.
  await create((s) => (s.taskTemplate.container.mounts = [{ type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock', readOnly: false }]));
  const svc = h.local.store.list('service')[0];
  // The same rules on update.
  await invalid(
    h.control.UpdateService({ serviceId: svc.id, version: svc.version, rollback: false, spec: protoSpec(svc.spec, (p) => (p.taskTemplate!.resources!.reservations!.memoryBytes = 1024)) }),
    `${R}.reservations.memoryBytes`,
    'memory-minimum',
  );
  // Issue 13's probe: a service renamed by UpdateService; and its mode changed.
  await invalid(h.control.UpdateService({ serviceId: svc.id, version: svc.version, rollback: false, spec: protoSpec(svc.spec, (p) => (p.name = 'other')) }), 'spec.name', 'rename', /^spec\.name: renaming services is not supported/);
  await invalid(h.control.UpdateService({ serviceId: svc.id, version: svc.version, rollback: false, spec: protoSpec(svc.spec, (p) => (p.mode = { mode: 'global', global: {} })) }), 'spec.mode', 'mode-change', /service mode change is not allowed/);
  assert.equal(h.writes(), 1);
  assert.equal(h.local.store.get('service', svc.id), svc);
});

test('an ingress port belongs to one service (as SwarmKit refuses it); host-mode ports may share a number', async () => {
  const h = harness();
  const port = (publishedPort: number, publishMode: 'ingress' | 'host' = 'ingress') => ({ protocol: 'tcp' as const, targetPort: 80, publishedPort, publishMode });
  const web = await createService(h, serviceSpec('web', { endpoint: { ports: [port(8080)] } }));
  await invalid(
    h.control.CreateService({ spec: serviceSpecToProto(serviceSpec('api', { endpoint: { ports: [port(9090), port(8080, 'host')] } })) }),
    'spec.endpoint.ports[1].publishedPort',
    'port-in-use',
    new RegExp(`port 8080/tcp is already in use by service "web" \\(${web.id}\\)`),
  );
  await createService(h, serviceSpec('h1', { endpoint: { ports: [port(7070, 'host')] } }));
  const h2 = await createService(h, serviceSpec('h2', { endpoint: { ports: [port(7070, 'host')] } }));
  await invalid(
    h.control.UpdateService({ serviceId: h2.id, version: h2.version, rollback: false, spec: protoSpec(h2.spec, (p) => (p.endpoint!.ports = [{ ...p.endpoint!.ports[0], publishedPort: 8080 }])) }),
    'spec.endpoint.ports[0].publishedPort',
    'port-in-use',
  );
  // A service keeps its own port across an update.
  await h.control.UpdateService({ serviceId: web.id, version: web.version, rollback: false, spec: protoSpec(web.spec, (p) => (p.labels = { v: '2' })) });
});

test('per-network aliases: keyed as the request names the networks, stored by network id; two names of one network merge', async () => {
  const h = harness();
  const now = Date.now();
  const network = (id: string, name: string) => createAction('network', { id, version: 0, createdAt: now, updatedAt: now, spec: { name, labels: {}, driver: 'overlay' as const } });
  h.local.applyNow([network('nfront0000000000000000000', 'front'), network('nback00000000000000000000', 'back')]);
  const db = await createService(h, serviceSpec('db', { taskTemplate: { ...serviceSpec('db').taskTemplate, networks: ['front', 'back'], networkAliases: { back: ['pg', 'primary'] } } }));
  assert.deepEqual(db.spec.taskTemplate.networks, ['nfront0000000000000000000', 'nback00000000000000000000']);
  assert.deepEqual(db.spec.taskTemplate.networkAliases, { nback00000000000000000000: ['pg', 'primary'] });
  // The same network by name and by id prefix: one attachment with the aliases of both (case aside).
  const twice = await createService(h, serviceSpec('twice', { taskTemplate: { ...serviceSpec('twice').taskTemplate, networks: ['back', 'nback'], networkAliases: { back: ['a', 'b'], nback: ['B', 'c'] } } }));
  assert.deepEqual([twice.spec.taskTemplate.networks, twice.spec.taskTemplate.networkAliases], [['nback00000000000000000000'], { nback00000000000000000000: ['a', 'b', 'c'] }]);
  // An update keyed by id keeps them; a key that is not one of the networks is refused, naming it.
  const updated = (await h.control.UpdateService({ serviceId: db.id, version: db.version, rollback: false, spec: protoSpec(db.spec, (p) => (p.taskTemplate!.networkAliases = { nback00000000000000000000: { aliases: ['pg'] } })) })) as { service: control.Service__Output };
  assert.deepEqual(updated.service.spec?.taskTemplate?.networkAliases, { nback00000000000000000000: { aliases: ['pg'] } });
  const writes = h.writes();
  const stale = h.local.store.get('service', db.id) as Service;
  await invalid(
    h.control.UpdateService({ serviceId: db.id, version: stale.version, rollback: false, spec: protoSpec(stale.spec, (p) => (p.taskTemplate!.networkAliases = { front: { aliases: ['www'] } })) }),
    'spec.taskTemplate.networkAliases["front"]',
    'alias-network',
    /the service is not attached to network "front": attach it \(networks\) to give it aliases there/,
  );
  // Merged past the limit: the store's check refuses it.
  const many = (from: number): string[] => Array.from({ length: 20 }, (_, i) => `a${from + i}`);
  await invalid(
    h.control.CreateService({ spec: serviceSpecToProto(serviceSpec('lots', { taskTemplate: { ...serviceSpec('lots').taskTemplate, networks: ['back', 'nback'], networkAliases: { back: many(0), nback: many(20) } } })) }),
    'spec.taskTemplate.networkAliases["nback00000000000000000000"]',
    'alias-count',
  );
  assert.equal(h.writes(), writes + 1, 'only the refused write was tried');
});

test('errors quote at most about 100 characters of what the user sent', async () => {
  const h = harness();
  const huge = 'x'.repeat(10_000);
  const short = async (p: Promise<unknown>, code: string): Promise<void> => {
    const r = await refusal(p);
    assert.equal(grpc.status[r.code], code, r.details.slice(0, 300));
    assert.ok(r.details.length < 500, `details of ${r.details.length} characters`);
    assert.ok(r.field.length < 120, `field of ${r.field.length} characters`);
    assert.ok(!r.details.includes('x'.repeat(101)), 'at most 100 characters of the input');
    assert.match(r.details, /… \(\d+ more characters\)|"\.\.\.\+\d+\]/);
  };
  await short(h.control.GetService({ serviceIdOrName: huge }), 'NOT_FOUND');
  await short(h.control.GetNode({ nodeId: huge }), 'NOT_FOUND');
  await short(h.control.CreateService({ spec: protoSpec(serviceSpec('web'), (p) => (p.taskTemplate!.placement!.constraints = [huge])) }), 'INVALID_ARGUMENT');
  await short(h.control.CreateService({ spec: protoSpec(serviceSpec('web'), (p) => (p.taskTemplate!.container!.env = [huge])) }), 'INVALID_ARGUMENT');
  await short(h.control.CreateService({ spec: protoSpec(serviceSpec('web'), (p) => (p.taskTemplate!.container!.env = [`${huge} B=1`])) }), 'INVALID_ARGUMENT');
  await short(h.control.CreateService({ spec: protoSpec(serviceSpec('web'), (p) => (p.labels = { [`${huge} y`]: '' })) }), 'INVALID_ARGUMENT');
  const w1 = h.local.store.get('node', 'w1') as Node;
  await short(h.control.UpdateNode({ nodeId: 'w1', version: w1.version, hasAvailability: false, availability: 0, hasRole: false, role: 0, labelsRm: [huge], force: false }), 'INVALID_ARGUMENT');
  await short(h.control.UpdateNode({ nodeId: 'w1', version: w1.version, hasAvailability: false, availability: 0, hasRole: false, role: 0, labelsAdd: { [`a b${huge}`]: '1' }, force: false }), 'INVALID_ARGUMENT');
  // A key with characters gRPC metadata cannot carry still gets its INVALID_ARGUMENT with `field`.
  await invalid(h.control.CreateService({ spec: protoSpec(serviceSpec('web'), (p) => (p.labels = { 'zone é\n': '' })) }), 'spec.labels["zone \\u00e9\\n"]', 'label-key', /label key "zone é\\n" contains whitespace/);
});

test('ListTasks answers at most 5,000 tasks at once: pages in id order that miss none, and a call without a page size that matches more is refused', async () => {
  const h = harness();
  const web = await createService(h, serviceSpec('web'));
  const other = await createService(h, serviceSpec('other'));
  const ids = Array.from({ length: 5_001 }, (_, i) => `t${String(i).padStart(5, '0')}x`);
  // Created out of id order: the pages follow the ids, not the store's order.
  h.local.applyNow([...ids].reverse().map((id, i) => createAction('task', task(id, web, { slot: i + 1 }))));
  h.local.applyNow([createAction('task', task('a0other', other))]);
  type Page = { tasks: { meta?: { id?: string } }[]; nextPageToken: string };
  const list = (pageSize?: number, pageToken?: string): Promise<Page> =>
    h.control.ListTasks({ filters: { serviceIds: [web.id] }, pageSize, pageToken }) as Promise<Page>;

  const r = await refusal(list());
  assert.equal(grpc.status[r.code], 'RESOURCE_EXHAUSTED');
  assert.equal(r.details, '5001 tasks match, more than the 5000 of one answer: ask for them in pages (page_size, page_token) or narrow the filters');

  const seen: string[] = [];
  const tokens: string[] = [];
  let token = '';
  do {
    const p = await list(2_000, token);
    assert.ok(p.tasks.length <= 2_000);
    seen.push(...p.tasks.map((t) => t.meta?.id ?? ''));
    token = p.nextPageToken;
    tokens.push(token);
  } while (token);
  assert.deepEqual(seen, ids, 'every task once, in id order');
  assert.deepEqual(tokens, [ids[1_999], ids[3_999], '']);
  // A page larger than the most is cut to it; a task deleted between pages does not move the next page.
  const first = await list(1_000_000);
  assert.equal(first.tasks.length, 5_000);
  assert.equal(first.nextPageToken, ids[4_999]);
  h.local.applyNow([deleteAction('task', ids[4_999])]);
  assert.deepEqual((await list(10, first.nextPageToken)).tasks.map((t) => t.meta?.id), [ids[5_000]]);
  // Few enough: one answer without a page size, as before.
  assert.equal(((await h.control.ListTasks({ filters: { serviceIds: [other.id] } })) as Page).tasks.length, 1);
  await invalid(list(-1), 'pageSize', 'range', /must be 0 \(every task\) or a positive number of tasks \(got -1\)/);
  await invalid(list(10, 'not an id'), 'pageToken', 'id-format');
});
