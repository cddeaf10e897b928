// Golden tests: for the objects docker's swarm had when test/cli/golden/ was
// recorded (see its README), built here as flotilla's store objects with a
// fixed clock, each command's output (the default table, --format json, a
// table template) equals what the docker CLI printed, byte for byte; the
// inspect objects hold every key and value docker's did but for the parts
// flotilla does not model (listed).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { TaskState, type Node, type Service, type Task } from '../../src/api/objects.js';
import { Flags } from '../../src/cli/args.js';
import { nodeInspectJson, serviceInspectJson } from '../../src/cli/docker-shapes.js';
import { CONFIG_KIND, fileObjectRow, fileObjectTable, SECRET_KIND } from '../../src/cli/file-object-commands.js';
import { formatRows, jsonLines, outputFormat } from '../../src/cli/format.js';
import { networkLsJson, networkTable } from '../../src/cli/network-commands.js';
import { nodeRow, nodeTable } from '../../src/cli/node-commands.js';
import { SERVICE_HEADERS, serviceRow, serviceTable, taskRows, tasksTable } from '../../src/cli/service-commands.js';
import { packageRoot } from '../../src/common/protos.js';
import { node, service, task } from '../manager/store-fixtures.js';

function golden(name: string): string {
  return readFileSync(join(packageRoot(), 'test', 'cli', 'golden', name), 'utf8');
}

const IMAGE = 'flotilla/busybox:test';
/** When `docker node ps` ran; the other commands' clocks are set from it. */
const NOW = Date.UTC(2026, 11, 6, 5, 13, 52, 500);
/** When bad.1's newest task failed. */
const FAILED = NOW - 1_500;

const vm: Node = node('0nkvp7eji8u3qzcodc1em4lcr', {
  version: 9,
  createdAt: Date.parse('2026-12-06T05:13:43.037Z'),
  updatedAt: Date.parse('2026-12-06T05:13:43.651Z'),
  role: 'manager',
  description: { hostname: 'vm', cpus: 2, memoryBytes: 25276157952, engineVersion: '20.10.24+dfsg1', platform: { os: 'linux', arch: 'x86_64' } },
  status: { state: 'ready', message: '', address: '127.0.0.1' },
  managerStatus: { raftId: '0nkvp7eji8u3qzcodc1em4lcr', addr: '127.0.0.1:2377', leader: true, reachability: 'reachable' },
});

function svc(id: string, name: string, over: Parameters<typeof service>[2]): Service {
  const s = service(id, name, over);
  s.spec.taskTemplate.container = { ...s.spec.taskTemplate.container, image: IMAGE, command: [], args: ['sleep', '3600'], env: [] };
  return s;
}

const web = svc('uote6p4vhyow55h7fkvqq38yf', 'web', { labels: { a: 'b' }, endpoint: { ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }] } });
Object.assign(web, {
  version: 12,
  createdAt: Date.parse('2026-12-06T05:13:43.874Z'),
  updatedAt: Date.parse('2026-12-06T05:13:43.878Z'),
  endpoint: { ports: web.spec.endpoint.ports },
});
const glob = svc('2rxntcxwtppjqjgx6trmdas60', 'glob', { mode: { global: {} } });
const bad = svc('oh6s2brmlc87qqqqqqqqqqqqq', 'bad', { mode: { replicated: { replicas: 1 } } });
const services = new Map([web, glob, bad].map((s) => [s.id, s]));
const replicas = new Map([[web.id, '2/2'], [glob.id, '1/1'], [bad.id, '0/1']]);

const running = (at: number): Task['status'] => ({ state: TaskState.RUNNING, message: 'started', err: '', timestamp: at, containerId: 'c', exitCode: 0, health: 'none' });
const failed = (at: number): Task['status'] => ({ state: TaskState.FAILED, message: 'started', err: 'task: non-zero exit (3)', timestamp: at, containerId: 'c', exitCode: 3, health: 'none' });
const tasks: Task[] = [
  task('paaz6c43pmiwxxxxxxxxxxxxx', web, { slot: 1, nodeId: vm.id, status: running(NOW - 4_200) }),
  task('pb2m84mdjrnixxxxxxxxxxxxx', web, { slot: 2, nodeId: vm.id, status: running(NOW - 4_300) }),
  task('jibxepq4h0myxxxxxxxxxxxxx', glob, { slot: 0, nodeId: vm.id, status: running(NOW - 8_200) }),
  task('z1ocgoj9pqxvxxxxxxxxxxxxx', bad, { slot: 1, nodeId: vm.id, desiredState: TaskState.SHUTDOWN, status: failed(FAILED) }),
  task('d5r3n2i4wgx7xxxxxxxxxxxxx', bad, { slot: 1, nodeId: vm.id, desiredState: TaskState.SHUTDOWN, status: failed(FAILED - 6_000) }),
];

function formatFlag(format: string): Flags {
  return new Flags(new Map([['format', [format]]]), new Map());
}

function ps(of: Service | Node, now: number): { table: string; json: string } {
  const mine = tasks.filter((t) => ('spec' in of && 'taskTemplate' in of.spec ? t.serviceId === of.id : t.nodeId === of.id));
  const rows = taskRows(mine, services, [vm], now);
  return { table: tasksTable(rows), json: jsonLines(rows.map((r) => r.row)) };
}

test('service ls: the table, --format json and a table template, as docker printed them', () => {
  const list = [bad, glob, web];
  const count = (s: Service): string => replicas.get(s.id) ?? '?';
  assert.equal(serviceTable(list, count), golden('service-ls.table.txt'));
  const rows = list.map((s) => serviceRow(s, count(s)));
  assert.equal(jsonLines(rows), golden('service-ls.json.txt'));
  const view = { headers: SERVICE_HEADERS, typeName: 'service', table: () => '' };
  assert.equal(formatRows(outputFormat(formatFlag('table {{.ID}}\\t{{.Name}}')), rows, view), golden('service-ls.table-template.txt'));
  assert.equal(formatRows(outputFormat(formatFlag('json')), rows, view), golden('service-ls.json.txt'));
  assert.equal(formatRows(outputFormat(formatFlag('{{json .}}')), rows, view), golden('service-ls.json.txt'));
});

test("a per-node limit: docker's Placement.MaxReplicas in inspect (omitted at 0) and the REPLICAS note in ls rows", () => {
  const capped = structuredClone(web);
  capped.spec.taskTemplate.placement.maxReplicas = 2;
  const json = serviceInspectJson(capped) as { Spec: { TaskTemplate: { Placement: unknown } } };
  // docker's swarm.Placement field, as `docker service inspect` prints it for --replicas-max-per-node 2.
  assert.deepEqual(json.Spec.TaskTemplate.Placement, { MaxReplicas: 2 });
  assert.deepEqual((serviceInspectJson(web) as typeof json).Spec.TaskTemplate.Placement, {});
  // The golden with docker's field added: the same object otherwise (differences() checks docker's keys only).
  const docker = JSON.parse(golden('service-inspect.json')) as typeof json;
  docker.Spec.TaskTemplate.Placement = { MaxReplicas: 2 };
  const notModelled = new Set(['Spec.TaskTemplate.ContainerSpec.Init', 'Spec.TaskTemplate.ContainerSpec.DNSConfig', 'Endpoint.VirtualIPs']);
  assert.deepEqual(differences(docker, json, notModelled), []);
  assert.equal(serviceRow(capped, '2/2').Replicas, '2/2 (max 2 per node)');
});

test("per-network aliases: docker's TaskTemplate.Networks, [{Target, Aliases}] (Aliases omitted when none)", () => {
  const attached = structuredClone(web);
  attached.spec.taskTemplate.networks = ['uxivi45p2kwuhcyrw7beb0r6o', 'k3v9gm2l1ubbn3bt6gmo3hq8s'];
  attached.spec.taskTemplate.networkAliases = { uxivi45p2kwuhcyrw7beb0r6o: ['db', 'primary'] };
  const json = serviceInspectJson(attached) as { Spec: { TaskTemplate: { Networks?: unknown } } };
  // As `docker service inspect` prints `--network name=front,alias=db,alias=primary --network back` (swarm.NetworkAttachmentConfig).
  const networks = [{ Target: 'uxivi45p2kwuhcyrw7beb0r6o', Aliases: ['db', 'primary'] }, { Target: 'k3v9gm2l1ubbn3bt6gmo3hq8s' }];
  assert.deepEqual(json.Spec.TaskTemplate.Networks, networks);
  assert.equal((serviceInspectJson(web) as typeof json).Spec.TaskTemplate.Networks, undefined, 'no networks: no key');
  const docker = JSON.parse(golden('service-inspect.json')) as typeof json;
  docker.Spec.TaskTemplate.Networks = networks;
  const notModelled = new Set(['Spec.TaskTemplate.ContainerSpec.Init', 'Spec.TaskTemplate.ContainerSpec.DNSConfig', 'Endpoint.VirtualIPs']);
  assert.deepEqual(differences(docker, json, notModelled), []);
});

test('node ls: the self node marked, docker\'s row fields', () => {
  assert.equal(nodeTable([vm], vm.id), golden('node-ls.table.txt'));
  assert.equal(jsonLines([nodeRow(vm, vm.id)]), golden('node-ls.json.txt'));
});

test('service ps and node ps: history under its slot, lower-case durations, quoted errors, PORTS', () => {
  assert.deepEqual(ps(web, NOW), { table: golden('service-ps-web.table.txt'), json: golden('service-ps-web.json.txt') });
  // The table was printed half a second after the task failed, the JSON a second later.
  assert.equal(ps(bad, FAILED + 500).table, golden('service-ps-bad.table.txt'));
  assert.equal(ps(bad, NOW).json, golden('service-ps-bad.json.txt'));
  assert.equal(ps(vm, NOW).table, golden('node-ps.table.txt'));
});

test('network ls, secret ls, config ls', () => {
  const front = { id: 'uxivi45p2kwuhcyrw7beb0r6o', version: 33, createdAt: Date.UTC(2026, 11, 6, 5, 13, 44, 972), updatedAt: 0, spec: { name: 'front', labels: { k: 'v' }, driver: 'overlay' as const } };
  assert.equal(networkTable([front]), golden('network-ls.table.txt'));
  assert.equal(jsonLines([networkLsJson(front)]), golden('network-ls.json.txt'));
  const created = NOW - 9_400;
  const s1 = { id: 'uejznwmp2fqbuey5u0dxrvis9', version: 29, createdAt: created, updatedAt: created, spec: { name: 's1', labels: { x: 'y' }, data: 'aGkK' } };
  const c1 = { id: 'a6z7iglju5q7d9i1kqjr17r56', version: 31, createdAt: created, updatedAt: created, spec: { name: 'c1', labels: {}, data: 'aGkK' } };
  assert.equal(fileObjectTable(SECRET_KIND, [s1], NOW), golden('secret-ls.table.txt'));
  assert.equal(jsonLines([fileObjectRow(SECRET_KIND, s1, NOW)]), golden('secret-ls.json.txt'));
  assert.equal(fileObjectTable(CONFIG_KIND, [c1], NOW), golden('config-ls.table.txt'));
  assert.equal(jsonLines([fileObjectRow(CONFIG_KIND, c1, NOW)]), golden('config-ls.json.txt'));
});

/**
 * The paths where `ours` lacks a key of `docker`'s or has another value (times
 * compared to the millisecond); `skip`: paths flotilla does not model.
 */
function differences(docker: unknown, ours: unknown, skip: ReadonlySet<string>, path = ''): string[] {
  if (skip.has(path)) return [];
  if (typeof docker === 'string' && typeof ours === 'string' && /^\d{4}-\d\d-\d\dT/.test(docker)) {
    return Math.floor(Date.parse(docker)) === Date.parse(ours) ? [] : [`${path}: ${ours} is not ${docker}`];
  }
  if (typeof docker !== 'object' || docker === null) return docker === ours ? [] : [`${path}: ${JSON.stringify(ours)} is not ${JSON.stringify(docker)}`];
  if (typeof ours !== 'object' || ours === null) return [`${path}: missing`];
  return Object.entries(docker).flatMap(([k, v]) => differences(v, (ours as Record<string, unknown>)[k], skip, path ? `${path}.${k}` : k));
}

test("service inspect and node inspect hold docker's keys and values", () => {
  const notModelled = new Set(['Spec.TaskTemplate.ContainerSpec.Init', 'Spec.TaskTemplate.ContainerSpec.DNSConfig', 'Endpoint.VirtualIPs']);
  assert.deepEqual(differences(JSON.parse(golden('service-inspect.json')), serviceInspectJson(web), notModelled), []);
  assert.deepEqual(differences(JSON.parse(golden('node-inspect.json')), nodeInspectJson(vm), new Set()), []);
});
