// The data plane's tables as pure functions of the store (src/manager/dispatcher/endpoints.ts):
// which tasks are backends, transition by transition, in which order; published port assignment; VIP blocks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assignPublishedPorts, isBackend, nextVipBlock, serviceEndpoints, vipBlockCidr, vipBlockCount } from '../../../src/manager/dispatcher/endpoints.js';
import { stackAlias, TaskState, type PortConfig, type Task, type TaskStatus } from '../../../src/api/objects.js';
import { DEFAULT_NETWORK_CONFIG } from '../../../src/api/validate.js';
import { DataPlaneTable } from '../../../src/manager/dispatcher/data-plane.js';
import { createAction, updateAction } from '../../../src/manager/store/store.js';
import { clone, Log, node, service, task } from '../store-fixtures.js';

const web = service('s1', 'web', { endpoint: { ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }] } });
const n1 = node('n1', { description: { hostname: 'h1', cpus: 1, memoryBytes: 1, engineVersion: '20.10', platform: { os: 'linux', arch: 'x86_64' }, engineId: 'E1' } });
const n2 = node('n2');
const nodes = new Map([n1, n2].map((n) => [n.id, n]));
const running: TaskStatus = {
  state: TaskState.RUNNING,
  message: 'running',
  err: '',
  timestamp: 1,
  containerId: 'c1',
  exitCode: 0,
  health: 'none',
  ports: [{ protocol: 'tcp', targetPort: 80, hostIp: '127.0.0.2', hostPort: 41000 }],
};

function at(state: TaskState, over: Partial<Task> = {}, status: Partial<TaskStatus> = {}): Task {
  return task('t1', web, { nodeId: 'n1', status: { ...running, state, ...status }, ...over });
}

test('a task is a backend only while desired and observed RUNNING, healthy if checked, on a node that is not down', () => {
  for (const s of [TaskState.ASSIGNED, TaskState.PREPARING, TaskState.STARTING]) assert.equal(isBackend(at(s), n1), false, `observed ${s}`);
  assert.equal(isBackend(at(TaskState.RUNNING), n1), true);
  assert.equal(isBackend(at(TaskState.RUNNING, {}, { health: 'starting' }), n1), false, 'health check not passed yet');
  assert.equal(isBackend(at(TaskState.RUNNING, {}, { health: 'unhealthy' }), n1), false);
  assert.equal(isBackend(at(TaskState.RUNNING, {}, { health: 'healthy' }), n1), true);
  // The manager decided to stop it: out of the rotation before the agent stops it (the drain).
  assert.equal(isBackend(at(TaskState.RUNNING, { desiredState: TaskState.SHUTDOWN }), n1), false);
  assert.equal(isBackend(at(TaskState.COMPLETE), n1), false);
  assert.equal(isBackend(at(TaskState.RUNNING), { ...n1, status: { ...n1.status, state: 'down' } }), false);
  assert.equal(isBackend(at(TaskState.RUNNING), undefined), false);
});

test('a service entry lists its backends in slot order with their bindings, weights and engines', () => {
  const tasks = [
    task('t3', web, { slot: 3, nodeId: 'n2', status: running }),
    task('t1', web, { slot: 1, nodeId: 'n1', status: running, spec: { ...web.spec.taskTemplate, lbWeight: 10 } }),
    task('t2', web, { slot: 2, nodeId: 'n1', status: { ...running, state: TaskState.STARTING } }),
  ];
  const e = serviceEndpoints(web, tasks, (id) => nodes.get(id));
  assert.ok(e);
  assert.deepEqual(
    e.backends.map((b) => [b.taskId, b.weight, b.engineId]),
    [
      ['t1', 10, 'E1'],
      ['t3', 100, ''],
    ],
  );
  assert.deepEqual(e.backends[0].ports, running.ports);
  assert.equal(e.lbPolicy, 'round-robin');
  assert.equal(e.proxyProtocol, 'none');
  assert.equal(serviceEndpoints(service('s2', 'quiet'), [], (id) => nodes.get(id)), undefined, 'no ports, no networks: not carried');
  const onNet = service('s3', 'api', { taskTemplate: { ...web.spec.taskTemplate, networks: ['net1'] } });
  assert.deepEqual(serviceEndpoints(onNet, [], (id) => nodes.get(id))?.networkIds, ['net1']);
  assert.deepEqual(serviceEndpoints(onNet, [], (id) => nodes.get(id))?.networkAliases, {}, 'no per-network aliases');
});

test("a service's entry carries its per-network aliases by network id, beside its service-wide stack alias", () => {
  const db = service('s4', 'app_db', {
    labels: { 'com.docker.stack.namespace': 'app' },
    taskTemplate: { ...web.spec.taskTemplate, networks: ['net1', 'net2'], networkAliases: { net2: ['pg', 'primary.pg'] } },
  });
  const e = serviceEndpoints(db, [], (id) => nodes.get(id));
  assert.ok(e);
  assert.deepEqual([e.aliases, e.networkIds, e.networkAliases], [['db'], ['net1', 'net2'], { net2: ['pg', 'primary.pg'] }]);
  // A copy: the table's entry does not share the stored spec's lists.
  assert.notEqual(e.networkAliases.net2, db.spec.taskTemplate.networkAliases?.net2);
});

test("a service entry carries its endpoint mode: vip (the default) or dnsrr, as the store has it", () => {
  const tasks = [task('t1', web, { slot: 1, nodeId: 'n1', status: { ...running, networks: [{ networkId: 'net1', address: '172.30.0.2' }] } })];
  assert.equal(serviceEndpoints(web, tasks, (id) => nodes.get(id))?.mode, 'vip');
  const db = service('s4', 'db', { taskTemplate: { ...web.spec.taskTemplate, networks: ['net1'] }, endpoint: { mode: 'dnsrr', ports: [] } });
  const e = serviceEndpoints(db, [task('t4', db, { slot: 1, nodeId: 'n1', status: { ...running, ports: [], networks: [{ networkId: 'net1', address: '172.30.0.4' }] } })], (id) => nodes.get(id));
  assert.equal(e?.mode, 'dnsrr');
  // Its backends are there all the same: the tasks' addresses are what its name resolves to.
  assert.deepEqual(e?.backends.map((b) => b.networks), [[{ networkId: 'net1', address: '172.30.0.4' }]]);
});

test('the table the dispatcher sends: the mode as its wire number, and a switch of mode sent as a changed entry', () => {
  const log = new Log();
  const db = service('s4', 'db', { taskTemplate: { ...web.spec.taskTemplate, networks: ['net1'] }, endpoint: { mode: 'dnsrr', ports: [] } });
  log.ok(createAction('node', n1), createAction('service', db));
  const table = new DataPlaneTable(log.store);
  const first = table.refresh();
  assert.deepEqual(first?.services.map((e) => [e.name, e.mode]), [['db', 1]]);
  assert.deepEqual(table.complete('10.240.1.0/24').services.map((e) => e.mode), [1]);
  assert.equal(table.refresh(), undefined, 'nothing changed');
  // `service update --endpoint-mode vip`: the entry goes again, with mode 0 (vip), so that every node gives it a virtual IP.
  const stored = clone(log.store.get('service', 's4')!);
  stored.spec.endpoint = { ports: [] };
  log.ok(updateAction('service', stored));
  table.markService('s4');
  assert.deepEqual(table.refresh()?.services.map((e) => [e.name, e.mode]), [['db', 0]]);
});

const ingress = (targetPort: number, publishedPort = 0, protocol: 'tcp' | 'udp' = 'tcp'): PortConfig => ({ protocol, targetPort, publishedPort, publishMode: 'ingress' });
const range = { start: 30000, end: 30002 };

test('ports left out get the lowest free port of the range, keep theirs across updates, per protocol', () => {
  assert.deepEqual(assignPublishedPorts([ingress(80), ingress(443)], [], new Set(['30000/tcp']), range), [ingress(80, 30001), ingress(443, 30002)]);
  // The same target keeps its port; an explicit port in the same spec is not handed out.
  assert.deepEqual(assignPublishedPorts([ingress(53, 30000), ingress(80)], [ingress(80, 30002)], new Set(), range), [ingress(53, 30000), ingress(80, 30002)]);
  assert.deepEqual(assignPublishedPorts([ingress(53, 0, 'udp')], [], new Set(['30000/tcp']), range), [ingress(53, 30000, 'udp')], 'udp and tcp are separate');
  assert.equal(assignPublishedPorts([ingress(1), ingress(2)], [], new Set(['30000/tcp', '30001/tcp']), range), undefined, 'the range is full');
  const host: PortConfig = { protocol: 'tcp', targetPort: 80, publishedPort: 9000, publishMode: 'host' };
  assert.deepEqual(assignPublishedPorts([host], [], new Set(), range), [host]);
});

test("a node's VIP block: the lowest free one, its CIDR, none when the pool is full", () => {
  const cfg = DEFAULT_NETWORK_CONFIG;
  assert.equal(vipBlockCount(cfg), 255);
  assert.equal(nextVipBlock(cfg, new Set()), 1);
  assert.equal(nextVipBlock(cfg, new Set([1, 2, 4])), 3);
  assert.equal(vipBlockCidr(cfg, 1), '10.240.1.0/24');
  assert.equal(vipBlockCidr(cfg, 255), '10.240.255.0/24');
  assert.equal(vipBlockCidr(cfg, 0), '');
  assert.equal(vipBlockCidr(cfg, 256), '');
  const small = { ...cfg, vipPool: '10.9.0.0/23', vipPoolMaskLength: 24 };
  assert.equal(nextVipBlock(small, new Set([1])), 0, 'one block for nodes, taken');
});

test("a stack's service answers to its short name: docker stack's network alias", () => {
  assert.equal(stackAlias({ name: 'app_web', labels: { 'com.docker.stack.namespace': 'app' } }), 'web');
  assert.equal(stackAlias({ name: 'app_web', labels: {} }), undefined);
  assert.equal(stackAlias({ name: 'web', labels: { 'com.docker.stack.namespace': 'app' } }), undefined);
  assert.equal(stackAlias({ name: 'app_', labels: { 'com.docker.stack.namespace': 'app' } }), undefined);
  assert.equal(stackAlias({ name: 'my_app_web', labels: { 'com.docker.stack.namespace': 'my_app' } }), 'web');
});
