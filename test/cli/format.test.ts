// Output formatting (tables like docker's, human durations and sizes), the
// tables of node ls / service ls / service ps, and target resolution.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import type { control } from '../../src/api/wire.js';
import { joinAddress, joinInstructions } from '../../src/cli/cluster-commands.js';
import { resolveDataDir, resolveTarget } from '../../src/cli/connection.js';
import { describeRpcError, flagForField, RpcError } from '../../src/cli/errors.js';
import { ago, bytesSize, humanDuration, keyValues, naturalCompare, renderTable } from '../../src/cli/format.js';
import { nodeFilter, nodeTable } from '../../src/cli/node-commands.js';
import { portsColumn, portsLine, prettyService, replicasColumn, serviceTable, taskTable } from '../../src/cli/service-commands.js';
import { TaskState, type PortConfig } from '../../src/api/objects.js';
import * as grpc from '@grpc/grpc-js';
import { node, service, task, T0 } from '../manager/store-fixtures.js';

test("tables: docker's tabwriter (columns 3 spaces apart, at least 10 wide; an empty last cell keeps the padding before it)", () => {
  assert.equal(renderTable(['ID', 'NAME', 'X'], [['1', 'web', ''], ['22222', 'a', 'z']]), 'ID        NAME      X\n1         web       \n22222     a         z\n');
  assert.equal(renderTable(['ID', 'NAME'], [['123456789012', 'web']]), 'ID             NAME\n123456789012   web\n');
  assert.equal(renderTable(['ID'], []), 'ID\n');
});

test("names in docker's order (sortorder.NaturalLess): numbers as numbers, digits first, then character codes", () => {
  const sorted = ['web10', 'web2', 'Web', 'web', 'web-1', 'web02', 'web1', 'a', '10', '9', 'web.10', 'web.9', ''].sort(naturalCompare);
  assert.deepEqual(sorted, ['', '9', '10', 'Web', 'a', 'web', 'web1', 'web2', 'web02', 'web10', 'web-1', 'web.9', 'web.10']);
  assert.equal(naturalCompare('web', 'web'), 0);
  assert.ok(naturalCompare('x1y', 'x01y') < 0 && naturalCompare('x01y', 'x1y') > 0);
});

test('human durations like docker', () => {
  const s = 1000;
  const cases: [number, string][] = [
    [0, 'Less than a second'],
    [1 * s, '1 second'],
    [45 * s, '45 seconds'],
    [60 * s, 'About a minute'],
    [5 * 60 * s, '5 minutes'],
    [60 * 60 * s, 'About an hour'],
    [3 * 3600 * s, '3 hours'],
    [3 * 86400 * s, '3 days'],
    [21 * 86400 * s, '3 weeks'],
    [90 * 86400 * s, '3 months'],
    [800 * 86400 * s, '2 years'],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want);
  assert.equal(ago(T0, T0 + 300_000), '5 minutes ago');
  assert.equal(ago(0, T0), '');
  assert.equal(bytesSize(8 * 2 ** 30), '8GiB');
  assert.equal(bytesSize(1536), '1.5KiB');
  assert.equal(bytesSize(100), '100B');
  assert.equal(keyValues([['ID', 'x'], ['Status', null], [' State', 'Ready']]), 'ID:      x\nStatus:\n State:  Ready\n');
});

test('node ls table and filters', () => {
  const nodes = [
    node('n1aaaaaaaaaaaaaaaaaaaaaaa', { role: 'manager', managerStatus: { raftId: 'r1', addr: '10.0.0.1:4242', leader: true, reachability: 'reachable' }, labels: { zone: 'a' } }),
    node('n2bbbbbbbbbbbbbbbbbbbbbbb', { role: 'manager', managerStatus: { raftId: 'r2', addr: '10.0.0.2:4242', leader: false, reachability: 'unreachable' }, status: { state: 'down', message: '', address: '' } }),
    node('n3ccccccccccccccccccccccc', { availability: 'drain', labels: { zone: 'b' } }),
  ];
  assert.equal(
    nodeTable(nodes, 'n1aaaaaaaaaaaaaaaaaaaaaaa'),
    [
      'ID                            HOSTNAME                         STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION',
      'n1aaaaaaaaaaaaaaaaaaaaaaa *   host-n1aaaaaaaaaaaaaaaaaaaaaaa   Ready     Active         Leader           24.0.7',
      'n2bbbbbbbbbbbbbbbbbbbbbbb     host-n2bbbbbbbbbbbbbbbbbbbbbbb   Down      Active         Unreachable      24.0.7',
      'n3ccccccccccccccccccccccc     host-n3ccccccccccccccccccccccc   Ready     Drain                           24.0.7',
      '',
    ].join('\n'),
  );
  const ids = (f: string[]) => nodes.filter(nodeFilter(f)).map((n) => n.id.slice(0, 2));
  assert.deepEqual(ids(['role=manager']), ['n1', 'n2']);
  assert.deepEqual(ids(['role=worker']), ['n3']);
  // As docker's: node.label= the node's labels, label= its engine's.
  assert.deepEqual(ids(['node.label=zone']), ['n1', 'n3']);
  assert.deepEqual(ids(['node.label=zone=b']), ['n3']);
  assert.deepEqual(ids(['label=zone']), []);
  assert.deepEqual(ids(['membership=accepted']), ['n1', 'n2', 'n3']);
  assert.deepEqual(ids(['membership=pending']), []);
  assert.deepEqual(ids(['availability=drain']), ['n3']);
  assert.deepEqual(ids(['id=n2', 'id=n3']), ['n2', 'n3']);
  assert.deepEqual(ids(['role=manager', 'node.label=zone']), ['n1']);
  assert.deepEqual(ids(['name=host-n1']), ['n1']);
  assert.throws(() => nodeFilter(['colour=red']), /^UsageError: invalid filter 'colour': use id, label, membership, name, node\.label, role, availability$/);
  assert.throws(() => nodeFilter(['role=boss']), /invalid --filter role "boss"/);
});

test('service ls: replicas counted from running tasks, ports like docker', () => {
  const web = service('s1aaaaaaaaaaaaaaaaaaaaaaa', 'web', {
    endpoint: { ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }, { protocol: 'udp', targetPort: 53, publishedPort: 53, publishMode: 'host' }] },
  });
  const agent = service('s2bbbbbbbbbbbbbbbbbbbbbbb', 'agent', { mode: { global: {} } });
  const running = { state: TaskState.RUNNING, message: '', err: '', timestamp: T0, containerId: 'c', exitCode: 0, health: 'none' as const };
  const tasks = [
    task('t1', web, { status: running }),
    task('t2', web, { slot: 2 }),
    task('t3', web, { slot: 3, desiredState: TaskState.SHUTDOWN, status: running }),
    task('t4', agent, { slot: 0, nodeId: 'n1', status: running }),
    task('t5', agent, { slot: 0, nodeId: 'n2', status: running }),
  ];
  assert.equal(replicasColumn(web, tasks), '1/2');
  assert.equal(replicasColumn(agent, tasks), '2/2');
  // As docker's: a host-mode port is not shown (it is bound on the tasks' nodes only, not by the routing mesh).
  assert.equal(portsColumn(web.spec.endpoint.ports), '*:8080->80/tcp');
  assert.equal(
    serviceTable([agent, web], tasks),
    [
      'ID             NAME      MODE         REPLICAS   IMAGE            PORTS',
      's2bbbbbbbbbb   agent     global       2/2        busybox:latest   ',
      's1aaaaaaaaaa   web       replicated   1/2        busybox:latest   *:8080->80/tcp',
      '',
    ].join('\n'),
  );
});

const ingress = (publishedPort: number, targetPort: number, protocol: 'tcp' | 'udp' = 'tcp'): PortConfig => ({ protocol, targetPort, publishedPort, publishMode: 'ingress' });

test("service ls PORTS as docker's formatter: ingress only, sorted by protocol then published port, consecutive ports as ranges", () => {
  assert.equal(portsColumn([]), '');
  assert.equal(portsColumn([ingress(8001, 81), ingress(8000, 80)]), '*:8000-8001->80-81/tcp');
  assert.equal(portsColumn([ingress(53, 53, 'udp'), ingress(8080, 80), ingress(9090, 90)]), '*:8080->80/tcp, *:9090->90/tcp, *:53->53/udp');
  assert.equal(portsColumn([ingress(8000, 80), ingress(8001, 81), ingress(8003, 83)]), '*:8000-8001->80-81/tcp, *:8003->83/tcp');
  // A target below the range's end starts a new one (docker's unsigned difference), and so does an overlap with a range.
  assert.equal(portsColumn([ingress(8000, 81), ingress(8001, 80)]), '*:8000->81/tcp, *:8001->80/tcp');
  assert.equal(portsColumn([ingress(8000, 80), ingress(8001, 81), ingress(8002, 81)]), '*:8000-8001->80-81/tcp, *:8002->81/tcp');
  // Host mode is left out; a port not assigned yet (0) too.
  assert.equal(portsColumn([{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'host' }, ingress(0, 81)]), '');
  assert.equal(portsLine([ingress(30000, 80), { protocol: 'udp', targetPort: 53, publishedPort: 5353, publishMode: 'host' }, ingress(0, 81)]), '*:30000->80/tcp, 5353->53/udp (host), *:?->81/tcp');
});

test('service ls and --pretty show the resolved ports (published ports the cluster assigned), else the spec\'s', () => {
  const auto = { ...service('s3ccccccccccccccccccccccc', 'auto', { endpoint: { ports: [ingress(0, 80), { protocol: 'tcp', targetPort: 81, publishedPort: 9000, publishMode: 'host' }] } }) };
  auto.endpoint = { ports: [ingress(30000, 80), { protocol: 'tcp', targetPort: 81, publishedPort: 9000, publishMode: 'host' }] };
  assert.match(serviceTable([auto], []), /\n\S+\s+auto\s+replicated\s+0\/2\s+busybox:latest\s+\*:30000->80\/tcp\n$/);
  assert.match(prettyService(auto, [], T0), /\nPorts:\s+\*:30000->80\/tcp, 9000->81\/tcp \(host\)\n$/);
  const pending = service('s4ddddddddddddddddddddddd', 'pending', { endpoint: { ports: [ingress(0, 80)] } });
  assert.match(serviceTable([pending], []), /busybox:latest {3}\n$/);
  assert.match(prettyService(pending, [], T0), /\nPorts:\s+\*:\?->80\/tcp\n$/);
});

test("service inspect --pretty: networks by name, docker's Endpoint Mode, the endpoint settings", () => {
  const web = service('s1aaaaaaaaaaaaaaaaaaaaaaa', 'web', {
    endpoint: { ports: [ingress(8080, 80)], lbPolicy: 'weighted', proxyProtocol: 'v2', drainPeriodMs: 5_000 },
  });
  web.spec.taskTemplate.networks = ['n1aaaaaaaaaaaaaaaaaaaaaaa', 'n9gone'];
  web.spec.taskTemplate.lbWeight = 10;
  const networks = new Map([['n1aaaaaaaaaaaaaaaaaaaaaaa', { id: 'n1aaaaaaaaaaaaaaaaaaaaaaa', version: 1, createdAt: T0, updatedAt: T0, spec: { name: 'front', labels: {}, driver: 'overlay' as const } }]]);
  const text = prettyService(web, [], T0, networks);
  assert.match(text, /\nNetworks:\s+front n9gone\nEndpoint Mode:\s+vip\nEndpoint:\n Load balancing:\s+weighted\n LB weight:\s+10\n PROXY protocol:\s+v2\n Drain period:\s+5s\nPorts:\s+\*:8080->80\/tcp\n$/);
  // A network's aliases beside its name.
  web.spec.taskTemplate.networkAliases = { n1aaaaaaaaaaaaaaaaaaaaaaa: ['db', 'primary'] };
  assert.match(prettyService(web, [], T0, networks), /\nNetworks:\s+front \(aliases db, primary\) n9gone\n/);
  // Defaults: shown when the service publishes a port or joins a network, not otherwise.
  const plain = service('s2bbbbbbbbbbbbbbbbbbbbbbb', 'plain', { endpoint: { ports: [ingress(8081, 80)] } });
  assert.match(prettyService(plain, [], T0), /\nEndpoint Mode:\s+vip\nEndpoint:\n Load balancing:\s+round-robin\n PROXY protocol:\s+none\n Drain period:\s+2s\nPorts:/);
  // docker prints "Endpoint Mode:" for every service (cli/command/service/formatter.go); the block only when there is something to balance.
  const bare = prettyService(service('s5', 'bare'), [], T0);
  assert.match(bare, /\nEndpoint Mode:\s+vip\n$/);
  assert.doesNotMatch(bare, /Endpoint:|Networks|Ports/);
  // A dnsrr service has no proxy: no balancing or PROXY protocol rows, its drain period still.
  const rr = service('s6', 'rr', { endpoint: { mode: 'dnsrr', ports: [{ protocol: 'tcp', targetPort: 5432, publishedPort: 5432, publishMode: 'host' }] } });
  rr.spec.taskTemplate.networks = ['n1aaaaaaaaaaaaaaaaaaaaaaa'];
  assert.match(prettyService(rr, [], T0, networks), /\nNetworks:\s+front\nEndpoint Mode:\s+dnsrr\nEndpoint:\n Drain period:\s+2s\nPorts:\s+5432->5432\/tcp \(host\)\n$/);
});

test("--replicas-max-per-node: docker's REPLICAS note, the --pretty line, the flag named in errors", () => {
  const capped = service('s6ffffffffffffffffffffffff', 'capped', { mode: { replicated: { replicas: 6 } } });
  capped.spec.taskTemplate.placement.maxReplicas = 1;
  // docker's "6/6 (max 1 per node)" (cli/command/service/formatter.go), then flotilla's update note.
  assert.match(serviceTable([capped], () => '6/6'), /\n\S+\s+capped\s+replicated\s+6\/6 \(max 1 per node\)\s+busybox:latest\s+\n$/);
  capped.updateStatus = { state: 'updating', startedAt: T0, completedAt: 0, message: '', startVersion: 0, canary: 'none' };
  assert.match(serviceTable([capped], () => '5/6'), / 5\/6 \(max 1 per node\) \(updating\) /);
  assert.match(prettyService(capped, [], T0), /\nPlacement:\n Max Replicas Per Node:\s+1\n/);
  const both = service('s7', 'both');
  both.spec.taskTemplate.placement = { constraints: ['node.role==worker'], preferences: [], maxReplicas: 3 };
  assert.match(prettyService(both, [], T0), /\nPlacement:\n Constraints:\s+node\.role==worker\n Max Replicas Per Node:\s+3\n/);
  // No limit: no line, no note; a global service never shows the note (docker's maxReplicas()).
  const bare = service('s8', 'bare');
  assert.doesNotMatch(prettyService(bare, [], T0) + serviceTable([bare], []), /Max Replicas|per node/);
  const glob = service('s9', 'glob', { mode: { global: {} } });
  glob.spec.taskTemplate.placement.maxReplicas = 2;
  assert.doesNotMatch(serviceTable([glob], []), /per node/);
  assert.equal(flagForField('spec.taskTemplate.placement.maxReplicas'), '--replicas-max-per-node');
});

test('service ps: history under its slot, node hostnames, relative times, errors', () => {
  const web = service('s1', 'web');
  const n1 = node('n1');
  const tasks = [
    task('t1aaaaaaaaaaaaaaa', web, { slot: 1, nodeId: 'n1', status: { state: TaskState.RUNNING, message: '', err: '', timestamp: T0 + 60_000, containerId: '', exitCode: 0, health: 'none' } }),
    task('t0aaaaaaaaaaaaaaa', web, {
      slot: 1,
      nodeId: 'n1',
      desiredState: TaskState.SHUTDOWN,
      status: { state: TaskState.FAILED, message: '', err: 'task: non-zero exit (1) and a long tail', timestamp: T0, containerId: '', exitCode: 1, health: 'none' },
    }),
    task('t2aaaaaaaaaaaaaaa', web, { slot: 2 }),
  ];
  const out = taskTable(tasks, new Map([[web.id, web]]), [n1], T0 + 5 * 60_000);
  assert.equal(
    out,
    [
      'ID             NAME        IMAGE            NODE      DESIRED STATE   CURRENT STATE           ERROR                              PORTS',
      't1aaaaaaaaaa   web.1       busybox:latest   host-n1   Running         Running 4 minutes ago                                      ',
      't0aaaaaaaaaa    \\_ web.1   busybox:latest   host-n1   Shutdown        Failed 5 minutes ago    "task: non-zero exit (1) and a…"   ',
      't2aaaaaaaaaa   web.2       busybox:latest             Running         New 5 minutes ago                                          ',
      '',
    ].join('\n'),
  );
});

test('target resolution: --host, FLOTILLA_HOST, data dir', () => {
  const env = {};
  assert.equal(resolveDataDir(undefined, {}), '/var/lib/flotilla');
  assert.equal(resolveDataDir(undefined, { FLOTILLA_DATA_DIR: '/d' }), '/d');
  assert.equal(resolveDataDir('/flag', { FLOTILLA_DATA_DIR: '/d' }), '/flag');
  assert.deepEqual(resolveTarget({ env }), { kind: 'unix', address: 'unix:///var/lib/flotilla/control.sock', display: 'unix:///var/lib/flotilla/control.sock', dataDir: '/var/lib/flotilla' });
  assert.equal(resolveTarget({ env, dataDir: '/x' }).address, 'unix:///x/control.sock');
  assert.equal(resolveTarget({ env, host: 'unix:///run/f.sock' }).address, 'unix:///run/f.sock');
  assert.equal(resolveTarget({ env, host: 'rel/f.sock' }).address, `unix://${resolve('rel/f.sock')}`);
  assert.deepEqual(resolveTarget({ env: { FLOTILLA_HOST: '10.0.0.1:5000' }, dataDir: '/x' }), { kind: 'tcp', address: '10.0.0.1:5000', display: '10.0.0.1:5000', dataDir: '/x' });
  assert.equal(resolveTarget({ env: { FLOTILLA_HOST: '10.0.0.1:5000' }, host: 'm1' }).address, 'm1:4242');
  assert.equal(resolveTarget({ env, host: 'tcp://[::1]:4243' }).address, '[::1]:4243');
  assert.throws(() => resolveTarget({ env, host: 'm1:99999' }), /invalid --host "m1:99999": port 99999 is out of range/);
  assert.throws(() => resolveTarget({ env: { FLOTILLA_HOST: 'a b' } }), /invalid FLOTILLA_HOST "a b"/);
});

test('join instructions and address', () => {
  assert.equal(joinInstructions('worker', 'T', '10.0.0.1:4242'), 'To add a worker to this cluster, run the following command:\n\n    flotilla join --token T 10.0.0.1:4242\n');
  const m = (addr: string, reachability: control.Reachability__Output) => ({ nodeId: 'n', raftId: 'r', addr, leader: false, reachability });
  assert.equal(joinAddress({ leaderId: 'l', leaderAddr: '10.0.0.9:4242', selfId: '', term: 2, raftIndex: 0, managers: [m('10.0.0.1:4242', 2)] }), '10.0.0.9:4242');
  assert.equal(joinAddress({ leaderId: '', leaderAddr: '', selfId: '', term: 2, raftIndex: 0, managers: [m('10.0.0.1:4242', 1), m('10.0.0.2:4242', 2)] }), '10.0.0.2:4242');
  assert.equal(joinAddress({ leaderId: '', leaderAddr: '', selfId: '', term: 2, raftIndex: 0, managers: [] }), undefined);
});

test('gRPC failures become one line that says what to do', () => {
  const ctx = { target: 'unix:///d/control.sock', kind: 'unix' as const, dataDir: '/d', timeoutMs: 15_000 };
  const err = (code: grpc.status, details: string, meta: Record<string, string> = {}) => {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(meta)) md.set(k, v);
    return new RpcError('ListNodes', code, details, md);
  };
  assert.equal(describeRpcError(err(grpc.status.UNAVAILABLE, 'No connection established'), ctx), 'cannot reach a manager at unix:///d/control.sock: is `flotilla daemon --data-dir /d` running on a manager?');
  assert.match(describeRpcError(err(grpc.status.UNAVAILABLE, 'not the leader; no leader is known (term 3)', { 'leader-id': '', 'leader-term': '3' }), ctx), /^the cluster has no leader right now/);
  assert.match(describeRpcError(err(grpc.status.UNAVAILABLE, 'not the leader', { 'leader-id': 'm2', 'leader-term': '3', 'leader-address': '10.0.0.2:4242' }), ctx), /retry with --host 10.0.0.2:4242$/);
  assert.match(describeRpcError(err(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded'), ctx), /no answer from the manager at unix:\/\/\/d\/control.sock within 15s: .*--timeout/);
  assert.equal(
    describeRpcError(err(grpc.status.INVALID_ARGUMENT, 'spec.taskTemplate.resources.limits.memoryBytes: must be >= 0 (got -1) [resources]', { field: 'spec.taskTemplate.resources.limits.memoryBytes', rule: 'resources' }), ctx),
    'invalid --limit-memory: must be >= 0 (got -1)',
  );
  assert.match(describeRpcError(err(grpc.status.PERMISSION_DENIED, 'workers may not call the Control API'), ctx), /refused the request/);
  assert.equal(flagForField('spec.endpoint.ports[1].publishedPort'), '--publish');
  assert.equal(flagForField('spec.mode.replicated.replicas'), '--replicas');
  assert.equal(flagForField('spec.updateConfig.delayMs'), '--update-delay');
  assert.equal(flagForField('spec.dispatcher.heartbeatPeriodMs'), '--dispatcher-heartbeat');
  assert.equal(flagForField('spec.dispatcher.heartbeatGrace'), '--heartbeat-grace');
  assert.equal(flagForField('spec.orchestration.taskHistoryRetention'), '--task-history-limit');
  assert.equal(flagForField('spec.caConfig.nodeCertExpiryHours'), '--cert-expiry');
  assert.equal(flagForField('labelsAdd["a b"]'), '--label-add');
  assert.equal(
    describeRpcError(err(grpc.status.INVALID_ARGUMENT, 'labelsAdd["a b"]: label key "a b" contains whitespace [label-key]', { field: 'labelsAdd["a b"]', rule: 'label-key' }), ctx),
    'invalid --label-add: label key "a b" contains whitespace',
  );
  assert.equal(flagForField('meta.id'), undefined);
});
