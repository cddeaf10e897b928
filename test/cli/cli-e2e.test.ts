// The CLI end to end: main() against a real gRPC server (the in-test
// FakeControl) on a unix socket in a temp dir, and once over TCP with mutual
// TLS; checks stdout, stderr (one line, "flotilla: ...") and exit codes.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { main } from '../../src/cli/main.js';
import { clusterSpecToProto } from '../../src/api/convert.js';
import { toGrpcStatus } from '../../src/manager/grpc-status.js';
import { createCSR, createRootCA, generateNodeKey, signNodeCSR, type NodeRole } from '../../src/manager/ca/ca.js';
import { NodeCertificateProvider, serverCredentials } from '../../src/manager/ca/tls.js';
import { TaskState, type ClusterSpec, type Service, type ServiceSpec } from '../../src/api/objects.js';
import { NotLeaderError } from '../../src/raft/errors.js';
import { controlHarness, refusal } from '../manager/controlapi/fixtures.js';
import { cluster, node, service, task, T0 } from '../manager/store-fixtures.js';
import { FakeControl } from './fake-control.js';
import { serviceInspectJson, serviceSpecJson } from '../../src/cli/docker-shapes.js';
import { goJsonTime } from '../../src/cli/format.js';

const NOW = T0 + 10 * 60_000;
const dir = mkdtempSync(join(tmpdir(), 'flotilla-cli-'));
const socket = join(dir, 'control.sock');
let fake: FakeControl;

interface Result {
  code: number;
  out: string;
  err: string;
}

async function cli(argv: string[], env: Record<string, string> = {}, dataDir = dir): Promise<Result> {
  let out = '';
  let err = '';
  const code = await main(['--data-dir', dataDir, ...argv], { out: (s) => void (out += s), err: (s) => void (err += s), env, now: () => NOW });
  return { code, out, err };
}

/** A failure: exit code, nothing on stdout (unless given), one line on stderr matching `pattern`. */
function fails(r: Result, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit code (stderr: ${r.err})`);
  assert.match(r.err, /^flotilla: [^\n]+\n$/, 'one line on stderr');
  assert.match(r.err, pattern);
}

function ok(r: Result): string {
  assert.equal(r.err, '', 'nothing on stderr');
  assert.equal(r.code, 0);
  return r.out;
}

const M1 = 'm1aaaaaaaaaaaaaaaaaaaaaaa';
const M2 = 'm2bbbbbbbbbbbbbbbbbbbbbbb';
const W1 = 'w1ccccccccccccccccccccccc';
const W2 = 'w1dddddddddddddddddddddddd'.slice(0, 25);

function seed(f: FakeControl): void {
  f.addNode(node(M1, { role: 'manager', description: { ...node(M1).description, hostname: 'mgr-1' }, managerStatus: { raftId: 'r1', addr: '10.0.0.1:4242', leader: true, reachability: 'reachable' } }));
  f.addNode(node(M2, { role: 'manager', description: { ...node(M2).description, hostname: 'mgr-2' }, managerStatus: { raftId: 'r2', addr: '10.0.0.2:4242', leader: false, reachability: 'reachable' } }));
  f.addNode(node(W1, { description: { ...node(W1).description, hostname: 'worker-1' }, labels: { zone: 'a' } }));
  f.addNode(node(W2, { description: { ...node(W2).description, hostname: 'worker-2' }, status: { state: 'down', message: 'heartbeat failure', address: '10.0.0.4' } }));
  f.cluster = { ...cluster('c1', 'default'), version: f.bump() };
  f.info = {
    leaderId: M1,
    leaderAddr: '10.0.0.1:4242',
    term: 7,
    selfId: M1,
    managers: [
      { nodeId: M2, raftId: 'r2', addr: '10.0.0.2:4242', leader: false, reachability: 2 },
      { nodeId: M1, raftId: 'r1', addr: '10.0.0.1:4242', leader: true, reachability: 2 },
    ],
  };
}

before(async () => {
  fake = new FakeControl();
  await fake.start(`unix://${socket}`);
});

after(async () => {
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  fake.reset();
  seed(fake);
});

describe('general', () => {
  test('version, help, group help, command help', async () => {
    assert.match(ok(await cli(['version'])), /^flotilla \d+\.\d+\.\d+\n$/);
    assert.match(ok(await cli(['--version'])), /^flotilla \d+\.\d+\.\d+\n$/);
    assert.match(ok(await cli(['help'])), /^usage: flotilla /);
    assert.match(ok(await cli([])), /Operator commands/);
    assert.match(ok(await cli(['node'])), /^usage: flotilla node COMMAND\n[\s\S]*promote/);
    assert.match(ok(await cli(['service', '--help'])), /scale/);
    assert.match(ok(await cli(['node', 'ls', '--help'])), /^usage: flotilla node ls \[OPTIONS\]\n[\s\S]*--filter/);
    assert.match(ok(await cli(['help', 'service', 'create'])), /--limit-memory BYTES/);
    assert.match(ok(await cli(['join-token', '--help'])), /--rotate/);
    assert.equal(fake.calls.length, 0);
  });

  test('usage errors: one line, exit 2, nothing sent', async () => {
    fails(await cli(['frobnicate']), 2, /^flotilla: unknown command "frobnicate" \(see: flotilla help\)\n$/);
    fails(await cli(['node', 'frob']), 2, /unknown command "flotilla node frob" \(see: flotilla node --help\)/);
    fails(await cli(['node', 'ls', '--bogus']), 2, /unknown flag --bogus for `flotilla node ls`/);
    fails(await cli(['--bogus', 'node', 'ls']), 2, /unknown flag --bogus/);
    fails(await cli(['node', 'inspect']), 2, /"flotilla node inspect" requires at least 1 argument/);
    fails(await cli(['node', 'ls', 'extra']), 2, /"flotilla node ls" takes no arguments/);
    fails(await cli(['node', 'ls', '--format', '{{.ID']), 2, /^flotilla: template parsing error: template: :1: unclosed action\n$/);
    fails(await cli(['node', 'ls', '--format', '{{if .Self}}x{{end}}']), 2, /\{\{if\}\} is not supported/);
    fails(await cli(['service', 'inspect', '-f', '{{.Spec.Name', 'web']), 2, /unclosed action/);
    fails(await cli(['node', 'ls', '--timeout', 'soon']), 2, /invalid --timeout "soon"/);
    fails(await cli(['service', 'create', '--limit-memory', '1x', 'busybox']), 2, /^flotilla: invalid --limit-memory "1x"/);
    fails(await cli(['service', 'create', '--limit-memory', '1m', '--reserve-memory', '1g', 'busybox']), 2, /^flotilla: invalid --reserve-memory: reservation \d+ exceeds the limit \d+\n$/);
    fails(await cli(['join-token', 'admin']), 2, /invalid role "admin": must be one of worker, manager/);
    assert.equal(fake.calls.length, 0);
  });

  test('no daemon: cannot reach a manager, exit 1', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'flotilla-cli-none-'));
    try {
      const r = await cli(['node', 'ls'], {}, empty);
      assert.equal(r.code, 1);
      assert.equal(r.err, `flotilla: cannot reach a manager at unix://${empty}/control.sock: is \`flotilla daemon --data-dir ${empty}\` running on a manager?\n`);
      assert.equal(r.out, '');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  test('--host and FLOTILLA_HOST pick the socket, before or after the command', async () => {
    const elsewhere = '/nonexistent-flotilla';
    assert.match(ok(await cli(['--host', `unix://${socket}`, 'node', 'ls'], {}, elsewhere)), /mgr-1/);
    assert.match(ok(await cli(['node', 'ls', '-H', socket], {}, elsewhere)), /mgr-1/);
    assert.match(ok(await cli(['node', 'ls'], { FLOTILLA_HOST: `unix://${socket}` }, elsewhere)), /mgr-1/);
  });

  test('a TCP host without the node certificates: which file is missing', async () => {
    const r = await cli(['--host', '127.0.0.1:4242', 'node', 'ls'], {}, '/nonexistent-flotilla');
    fails(r, 1, /cannot connect to 127\.0\.0\.1:4242 over mutual TLS: \/nonexistent-flotilla\/certificates\/root-ca\.crt does not exist; .*data dir of a node of the cluster/);
  });

  test('a manager that does not answer in time: the deadline of --timeout', async () => {
    fake.delays.set('ListNodes', 300);
    fails(await cli(['node', 'ls', '--timeout', '50ms']), 1, /^flotilla: no answer from the manager at unix:\/\/\S+ within 50ms: .* --timeout\n$/);
  });

  test('no leader, and a follower that knows the leader', async () => {
    fake.failNext('ListNodes', { ...statusOf(new NotLeaderError('', 8)) });
    fails(await cli(['node', 'ls']), 1, /the cluster has no leader right now \(not the leader; no leader is known \(term 8\)\): retry in a few seconds/);
    fake.failNext('ListNodes', { ...statusOf(new NotLeaderError(M1, 8, '10.0.0.1:4242')) });
    fails(await cli(['node', 'ls']), 1, /retry with --host 10\.0\.0\.1:4242/);
  });
});

function statusOf(err: unknown): { code: grpc.status; details: string; metadata: Record<string, string> } {
  const s = toGrpcStatus(err);
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.metadata.getMap())) metadata[k] = String(v);
  return { code: s.code, details: s.details, metadata };
}

describe('node', () => {
  test('ls: table sorted by hostname, -q, --format json, filters', async () => {
    const out = ok(await cli(['node', 'ls']));
    assert.equal(
      out,
      [
        'ID                            HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION',
        `${M1} *   mgr-1      Ready     Active         Leader           24.0.7`,
        `${M2}     mgr-2      Ready     Active         Reachable        24.0.7`,
        `${W1}     worker-1   Ready     Active                          24.0.7`,
        `${W2}     worker-2   Down      Active                          24.0.7`,
        '',
      ].join('\n'),
    );
    assert.equal(ok(await cli(['node', 'ls', '-q'])), `${M1}\n${M2}\n${W1}\n${W2}\n`);
    assert.equal(ok(await cli(['node', 'ls', '-q', '--filter', 'role=worker'])), `${W1}\n${W2}\n`);
    assert.equal(ok(await cli(['node', 'ls', '-q', '-f', 'node.label=zone=a'])), `${W1}\n`);
    const lines = ok(await cli(['node', 'ls', '--format', 'json'])).trimEnd().split('\n');
    assert.equal(lines.length, 4);
    assert.deepEqual(JSON.parse(lines[0]), {
      Availability: 'Active',
      EngineVersion: '24.0.7',
      Hostname: 'mgr-1',
      ID: M1,
      ManagerStatus: 'Leader',
      Self: true,
      Status: 'Ready',
      TLSStatus: 'Ready',
    });
    assert.equal(ok(await cli(['node', 'ls', '--format', '{{.Hostname}} {{.Self}}', '-f', 'role=manager'])), 'mgr-1 true\nmgr-2 false\n');
  });

  test('inspect: by id, hostname or unique prefix; unknown and ambiguous refs', async () => {
    const arr = JSON.parse(ok(await cli(['node', 'inspect', M1, 'worker-1', 'm2']))) as { ID: string }[];
    assert.deepEqual(
      arr.map((n) => n.ID),
      [M1, W1, M2],
    );
    // self: the node the CLI talks to (the manager says which); docker's template paths.
    assert.equal(ok(await cli(['node', 'inspect', 'self', '--format', '{{.ID}} {{.Description.Hostname}} {{.Status.State}} {{.ManagerStatus.Leader}} {{.Spec.Role}}'])), `${M1} mgr-1 ready true manager\n`);
    fails(await cli(['node', 'inspect', '-f', '{{.ManagerStatus.Leader}}', 'worker-1']), 2, /^flotilla: template parsing error: template: :1:2: executing "" at <\.ManagerStatus\.Leader>: map has no entry for key "ManagerStatus"\n$/);
    assert.match(ok(await cli(['node', 'inspect', '--pretty', 'mgr-1'])), /^ID:\s+m1a+\nHostname:\s+mgr-1\n[\s\S]*Leader:\s+Yes/);
    const missing = await cli(['node', 'inspect', 'nope', 'mgr-2']);
    assert.equal(missing.code, 1);
    assert.equal(missing.err, 'flotilla: no node "nope" in the cluster: see the ids and hostnames with `flotilla node ls`\n');
    assert.equal((JSON.parse(missing.out) as unknown[]).length, 1);
    fails(await cli(['node', 'inspect', 'w1']), 1, /node id prefix "w1" is ambiguous: it matches 2 nodes/);
  });

  test('update: availability and labels, sent with the version read', async () => {
    const before = fake.nodes.get(W1);
    assert.equal(ok(await cli(['node', 'update', '--availability', 'drain', '--label-add', 'ssd=true', '--label-add', 'rack', '--label-rm', 'zone', 'worker-1'])), 'worker-1\n');
    const [req] = fake.callsOf('UpdateNode');
    assert.equal(req.nodeId, W1);
    assert.equal(req.version, before?.version);
    assert.equal(req.hasAvailability, true);
    assert.equal(req.availability, 2);
    assert.equal(req.hasRole, false);
    assert.deepEqual(req.labelsAdd, { ssd: 'true', rack: '' });
    assert.deepEqual(req.labelsRm, ['zone']);
    const after = fake.nodes.get(W1);
    assert.equal(after?.availability, 'drain');
    assert.deepEqual(after?.labels, { ssd: 'true', rack: '' });
    fails(await cli(['node', 'update', 'worker-1']), 2, /nothing to update/);
    fails(await cli(['node', 'update', '--availability', 'off', 'worker-1']), 2, /invalid --availability "off": must be one of active, pause, drain/);
  });

  test('update: a change the node already has sends nothing; a missing label to remove fails; DRAIN is refused', async () => {
    assert.equal(ok(await cli(['node', 'update', '--availability', 'active', '--label-add', 'zone=a', 'worker-1'])), 'worker-1\n');
    assert.equal(fake.callsOf('UpdateNode').length, 0, 'nothing sent');
    fails(await cli(['node', 'update', '--label-rm', 'rack', 'worker-1']), 1, /^flotilla: node worker-1 has no label "rack" to remove \(see: flotilla node inspect worker-1\)\n$/);
    fails(await cli(['node', 'update', '--label-rm', '', 'worker-1']), 2, /^flotilla: invalid --label-rm "": expected a KEY to remove, got nothing\n$/);
    fails(await cli(['node', 'update', '--availability', ' drain', 'worker-1']), 2, /invalid --availability " drain"/);
    fails(await cli(['node', 'update', '--availability', 'DRAIN', 'worker-1']), 2, /^flotilla: invalid --availability "DRAIN": must be one of active, pause, drain \(did you mean "drain"\?\)\n$/);
    assert.equal(fake.callsOf('UpdateNode').length, 0, 'nothing sent');
    assert.equal(ok(await cli(['node', 'update', '--availability', 'drain', 'worker-1'])), 'worker-1\n');
    assert.equal(fake.nodes.get(W1)?.availability, 'drain');
  });

  test('update: a version conflict is retried with a fresh read; a persistent one gives up', async () => {
    let changed = false;
    fake.beforeWrite = (m) => {
      if (m !== 'UpdateNode' || changed) return;
      changed = true;
      const n = fake.nodes.get(W1);
      if (n) fake.nodes.set(W1, { ...n, labels: { ...n.labels, other: 'writer' }, version: fake.bump() });
    };
    assert.equal(ok(await cli(['node', 'update', '--label-add', 'mine=1', W1])), `${W1}\n`);
    assert.equal(fake.callsOf('UpdateNode').length, 2);
    assert.equal(fake.callsOf('GetNode').length, 1);
    assert.deepEqual(fake.nodes.get(W1)?.labels, { zone: 'a', other: 'writer', mine: '1' });

    const aborted = { code: grpc.status.ABORTED, details: 'node changed' };
    fake.failNext('UpdateNode', aborted, aborted, aborted, aborted, aborted);
    fails(await cli(['node', 'update', '--availability', 'pause', W1]), 1, /node worker-1 kept changing while it was being updated \(5 attempts\): try again/);
  });

  test('promote, demote', async () => {
    assert.equal(ok(await cli(['node', 'promote', 'worker-1', 'mgr-1'])), 'Node worker-1 promoted to a manager in the cluster.\nNode mgr-1 is already a manager.\n');
    assert.equal(fake.nodes.get(W1)?.role, 'manager');
    const [req] = fake.callsOf('UpdateNode');
    assert.equal(req.hasRole, true);
    assert.equal(req.role, 1);
    assert.equal(ok(await cli(['node', 'demote', 'mgr-2'])), 'Manager mgr-2 demoted in the cluster.\n');
    assert.equal(fake.nodes.get(M2)?.role, 'worker');
    fake.failNext('UpdateNode', { code: grpc.status.FAILED_PRECONDITION, details: 'demoting mgr-1 would leave 1 of 3 managers: the cluster would lose quorum' });
    fails(await cli(['node', 'demote', 'mgr-1']), 1, /^flotilla: demoting mgr-1 would leave 1 of 3 managers: the cluster would lose quorum\n$/);
  });

  test('rm: a node that is up needs --force', async () => {
    fails(await cli(['node', 'rm', 'worker-1']), 1, /cannot remove node worker-1: node w1c+ is not down and can't be removed: use --force to remove it anyway/);
    assert.equal(ok(await cli(['node', 'rm', 'worker-2'])), 'worker-2\n');
    assert.equal(ok(await cli(['node', 'rm', '--force', 'worker-1'])), 'worker-1\n');
    assert.deepEqual(fake.callsOf('RemoveNode').map((r) => r.force), [false, false, true]);
    assert.equal(fake.nodes.size, 2);
  });
});

describe('service', () => {
  function addWeb(): Service {
    return fake.addService(service('s1aaaaaaaaaaaaaaaaaaaaaaa', 'web', { endpoint: { ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }] } }));
  }

  test('create: prints the id; the manager gets the complete spec', async () => {
    const out = ok(await cli(['service', 'create', '-d', '--name', 'web', '--replicas', '3', '-p', '8080:80', '--limit-memory', '64m', '-e', 'A=1', 'nginx:1.25', 'nginx', '-g', 'daemon off;']));
    const [svc] = [...fake.services.values()];
    assert.equal(out, `${svc.id}\n`);
    assert.equal(svc.spec.name, 'web');
    assert.deepEqual(svc.spec.mode, { replicated: { replicas: 3 } });
    assert.deepEqual(svc.spec.taskTemplate.container.args, ['nginx', '-g', 'daemon off;']);
    assert.equal(svc.spec.taskTemplate.resources.limits.memoryBytes, 64 * 2 ** 20);
    assert.deepEqual(svc.spec.taskTemplate.container.env, ['A=1']);
    assert.equal(svc.spec.endpoint.ports[0].publishedPort, 8080);
    // -d and -q are accepted.
    assert.match(ok(await cli(['service', 'create', '-d', '-q', '--name', 'other', 'busybox'])), /^s\w+\n$/);
  });

  test('create: a taken name', async () => {
    addWeb();
    const r = await cli(['service', 'create', '-d', '--name', 'web', 'busybox']);
    assert.equal(r.code, 1);
    assert.equal(r.err, 'flotilla: a service named "web" already exists: pick another --name or update it with `flotilla service update`\n');
  });

  test('create: a spec the manager rejects names the flag', async () => {
    fake.failNext('CreateService', {
      code: grpc.status.INVALID_ARGUMENT,
      details: 'spec.taskTemplate.placement.constraints[0]: no such label [constraint-key]',
      metadata: { field: 'spec.taskTemplate.placement.constraints[0]', rule: 'constraint-key' },
    });
    fails(await cli(['service', 'create', '-d', '--name', 'x', 'busybox']), 1, /^flotilla: invalid --constraint: no such label\n$/);
  });

  test('ls: replicas from the manager\'s count of running tasks, -q, json', async () => {
    const web = addWeb();
    const agent = fake.addService(service('s2bbbbbbbbbbbbbbbbbbbbbbb', 'agent', { mode: { global: {} } }));
    const running = { state: TaskState.RUNNING, message: '', err: '', timestamp: T0, containerId: 'c', exitCode: 0, health: 'none' as const };
    fake.addTask(task('t1', web, { status: running }));
    fake.addTask(task('t2', web, { slot: 2 }));
    fake.addTask(task('t3', agent, { slot: 0, nodeId: W1, status: running }));
    assert.equal(
      ok(await cli(['service', 'ls'])),
      [
        'ID             NAME      MODE         REPLICAS   IMAGE            PORTS',
        's2bbbbbbbbbb   agent     global       1/1        busybox:latest   ',
        's1aaaaaaaaaa   web       replicated   1/2        busybox:latest   *:8080->80/tcp',
        '',
      ].join('\n'),
    );
    // The manager counts the replicas (docker's ServiceStatus): no list of every task, which for a service of
    // 100,000 replicas is tens of megabytes.
    assert.equal(fake.callsOf('ListTasks').length, 0, 'service ls lists no task');
    assert.equal(ok(await cli(['service', 'ls', '-q', '--filter', 'mode=replicated'])), `${web.id}\n`);
    const json = ok(await cli(['service', 'ls', '--format', 'json', '-f', 'name=ag']));
    assert.equal(json, '{"ID":"s2bbbbbbbbbb","Image":"busybox:latest","Mode":"global","Name":"agent","Ports":"","Replicas":"1/1"}\n');
    assert.equal(ok(await cli(['service', 'ls', '--format', '{{.Name}}: {{.Replicas}} {{json .Ports}}'])), 'agent: 1/1 ""\nweb: 1/2 "*:8080-\\u003e80/tcp"\n');
    fails(await cli(['service', 'ls', '--format', '{{.Nmae}}']), 2, /^flotilla: template parsing error: template: :1:2: executing "" at <\.Nmae>: can't evaluate field Nmae in type service \(its fields: ID, Image, Mode, Name, Ports, Replicas\)\n$/);
  });

  test("inspect: JSON array in docker's shape; by name, id and id prefix; --format", async () => {
    const web = addWeb();
    const arr = JSON.parse(ok(await cli(['service', 'inspect', 'web', web.id, 's1a']))) as Record<string, unknown>[];
    assert.deepEqual(arr, [serviceInspectJson(web), serviceInspectJson(web), serviceInspectJson(web)]);
    assert.equal(ok(await cli(['service', 'inspect', '--format', '{{.Spec.Name}} {{.Spec.Mode.Replicated.Replicas}} {{.Spec.TaskTemplate.ContainerSpec.Image}}', 'web'])), 'web 2 busybox:latest\n');
    assert.match(ok(await cli(['service', 'inspect', '--pretty', 'web'])), /^ID:\s+s1a+\nName:\s+web\n[\s\S]*Ports:\s+\*:8080->80\/tcp\n/);
    const r = await cli(['service', 'inspect', 'nope', 'web']);
    assert.equal(r.code, 1);
    assert.equal(r.err, 'flotilla: no service "nope": see the names and ids with `flotilla service ls`\n');
    assert.equal((JSON.parse(r.out) as unknown[]).length, 1);
  });

  test('update: read, modify, send with the version; retried on a conflict', async () => {
    const web = addWeb();
    let changed = false;
    fake.beforeWrite = (m) => {
      if (m !== 'UpdateService' || changed) return;
      changed = true;
      const s = fake.services.get(web.id) as Service;
      fake.services.set(web.id, { ...s, spec: { ...s.spec, labels: { by: 'someone-else' } }, version: fake.bump() });
    };
    assert.equal(ok(await cli(['service', 'update', '-d', '--replicas', '5', '--env-add', 'B=2', '--image', 'busybox:1.36', 'web'])), 'web\n');
    const reqs = fake.callsOf('UpdateService');
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0].version, web.version);
    const now = fake.services.get(web.id) as Service;
    assert.deepEqual(now.spec.mode, { replicated: { replicas: 5 } });
    assert.deepEqual(now.spec.taskTemplate.container.env, ['A=1', 'B=2']);
    assert.equal(now.spec.taskTemplate.container.image, 'busybox:1.36');
    assert.deepEqual(now.spec.labels, { by: 'someone-else' }, 'the concurrent change is kept');
    fails(await cli(['service', 'update', 'web']), 2, /nothing to update/);
    fails(await cli(['service', 'update', '--image', 'Bad', 'web']), 2, /^flotilla: invalid --image: "Bad": repository name must be lowercase\n$/);
    fails(await cli(['service', 'update', '--replicas', '2', 'nope']), 1, /no service "nope"/);
  });

  test('update: refused removals and no-op flags send nothing; a 10 KB argument is not echoed whole', async () => {
    const web = addWeb();
    for (const argv of [['--env-rm', ''], ['--label-rm', ''], ['--mount-rm', ''], ['--constraint-rm', ''], ['--publish-rm', ''], ['--replicas', ' 3'], ['--replicas', '-0']]) {
      const r = await cli(['service', 'update', '-d', ...argv, 'web']);
      assert.equal(r.code, 2, argv.join(' '));
      assert.match(r.err, /^flotilla: invalid --[a-z-]+ /, argv.join(' '));
    }
    // Flags that change nothing: the service is printed (as docker does) and no UpdateService is sent.
    for (const argv of [['--env-rm', 'ABSENT'], ['--env-add', 'A=1'], ['--publish-add', '8080:80'], ['--image', web.spec.taskTemplate.container.image], ['--replicas', '2']]) {
      assert.equal(ok(await cli(['service', 'update', '-d', ...argv, 'web'])), 'web\n', argv.join(' '));
    }
    assert.equal(fake.callsOf('UpdateService').length, 0, 'nothing sent');
    assert.equal(fake.services.get(web.id)?.version, web.version, 'no new version');
    const big = 'x'.repeat(10_000);
    const r = await cli(['service', 'update', '--replicas', big, 'web']);
    assert.equal(r.code, 2);
    assert.ok(r.err.length < 300, `${r.err.length} characters`);
    assert.match(r.err, /^flotilla: invalid --replicas "x{100}"… \(9900 more characters\): expected an integer in 0\.\.100000 \(decimal digits 0-9 only\)\n$/);
    // An unknown service or node of 10 KB: the lookup errors clip it too.
    const missing = await cli(['service', 'update', '--replicas', '1', big]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /^flotilla: no service "x{100}"… \(9900 more characters\): see/);
    const noNode = await cli(['node', 'update', '--availability', 'drain', `${big}\n`]);
    assert.equal(noNode.code, 1);
    assert.ok(noNode.err.length < 300 && noNode.err.split('\n').length === 2, noNode.err.slice(0, 200));
  });

  test('scale: already at that scale sends nothing', async () => {
    addWeb();
    assert.equal(ok(await cli(['service', 'scale', '-d', 'web=2'])), 'web scaled to 2\n');
    assert.equal(fake.callsOf('UpdateService').length, 0);
    fails(await cli(['service', 'scale', 'web=-0']), 2, /invalid argument "web=-0": REPLICAS must be an integer in 0\.\.100000 \(no sign\)/);
  });

  test('scale: replicated services only; every argument checked first', async () => {
    addWeb();
    fake.addService(service('s2bbbbbbbbbbbbbbbbbbbbbbb', 'agent', { mode: { global: {} } }));
    fails(await cli(['service', 'scale', 'web=3', 'agent']), 2, /invalid argument "agent": expected SERVICE=REPLICAS/);
    fails(await cli(['service', 'scale', 'web=3', 'agent=x']), 2, /invalid argument "agent=x": REPLICAS must be an integer in 0\.\.100000/);
    assert.equal(fake.callsOf('UpdateService').length, 0);
    const r = await cli(['service', 'scale', '-d', 'web=3', 'agent=2']);
    assert.equal(r.code, 1);
    assert.equal(r.out, 'web scaled to 3\n');
    assert.equal(r.err, 'flotilla: service agent is global: scale applies to replicated services only\n');
    assert.deepEqual(fake.services.get('s1aaaaaaaaaaaaaaaaaaaaaaa')?.spec.mode, { replicated: { replicas: 3 } });
  });

  test('rm', async () => {
    addWeb();
    const r = await cli(['service', 'rm', 'web', 'ghost']);
    assert.equal(r.out, 'web\n');
    assert.equal(r.code, 1);
    assert.match(r.err, /^flotilla: no service "ghost"/);
    assert.equal(fake.services.size, 0);
  });

  test('ps: tasks with node hostnames and states', async () => {
    const web = addWeb();
    fake.addTask(
      task('t1aaaaaaaaaaaaaaaaaaaaaaa', web, { nodeId: W1, status: { state: TaskState.RUNNING, message: '', err: '', timestamp: T0 + 5 * 60_000, containerId: 'c', exitCode: 0, health: 'none' } }),
    );
    fake.addTask(task('t2aaaaaaaaaaaaaaaaaaaaaaa', web, { slot: 2 }));
    assert.equal(
      ok(await cli(['service', 'ps', 'web'])),
      [
        'ID             NAME      IMAGE            NODE       DESIRED STATE   CURRENT STATE           ERROR     PORTS',
        't1aaaaaaaaaa   web.1     busybox:latest   worker-1   Running         Running 5 minutes ago             ',
        't2aaaaaaaaaa   web.2     busybox:latest              Running         New 10 minutes ago                ',
        '',
      ].join('\n'),
    );
    assert.deepEqual(fake.callsOf('ListTasks')[0], { filters: { serviceIds: [web.id], nodeIds: [], desiredStates: [] }, pageSize: 5000, pageToken: '' });
    // As docker's: -q prints the ids as the table does (12 characters unless --no-trunc).
    assert.equal(ok(await cli(['service', 'ps', '-q', '--filter', 'node=worker-1', 'web'])), 't1aaaaaaaaaa\n');
    assert.equal(ok(await cli(['service', 'ps', '-q', '--no-trunc', '--filter', 'node=worker-1', 'web'])), 't1aaaaaaaaaaaaaaaaaaaaaaa\n');
    assert.equal(ok(await cli(['service', 'ps', '-q', '--filter', 'name=web.2', 'web'])), 't2aaaaaaaaaa\n');
    assert.equal(
      ok(await cli(['service', 'ps', '--format', 'json', 'web'])).split('\n')[0],
      '{"CurrentState":"Running 5 minutes ago","DesiredState":"Running","Error":"","ID":"t1aaaaaaaaaa","Image":"busybox:latest","Name":"web.1","Node":"worker-1","Ports":""}',
    );
    assert.equal(ok(await cli(['service', 'ps', '--format', 'table {{.Name}}\\t{{.Node}}', 'web'])), 'NAME      NODE\nweb.1     worker-1\nweb.2     \n');
    // node ps: the tasks of a node (self when none is named), the same rows.
    assert.equal(ok(await cli(['node', 'ps', '--format', '{{.Name}} {{.Node}}', 'worker-1'])), 'web.1 worker-1\n');
    assert.equal(ok(await cli(['node', 'ps', '-q'])), '');
    // No tasks yet (before orchestration): just the header.
    fake.tasks.clear();
    assert.equal(ok(await cli(['service', 'ps', 'web'])), 'ID        NAME      IMAGE     NODE      DESIRED STATE   CURRENT STATE   ERROR     PORTS\n');
  });

  test('ps: the tasks of a manager that answers in pages, each page asked after the last id of the one before', async () => {
    const web = addWeb();
    for (const n of [1, 2, 3]) fake.addTask(task(`t${n}aaaaaaaaaaaaaaaaaaaaaaa`, web, { slot: n }));
    fake.maxTasksPerAnswer = 2;
    assert.equal(ok(await cli(['service', 'ps', '-q', '--no-trunc', 'web'])), 't1aaaaaaaaaaaaaaaaaaaaaaa\nt2aaaaaaaaaaaaaaaaaaaaaaa\nt3aaaaaaaaaaaaaaaaaaaaaaa\n');
    assert.deepEqual(
      fake.callsOf('ListTasks').map((c) => (c as { pageToken: string }).pageToken),
      ['', 't2aaaaaaaaaaaaaaaaaaaaaaa'],
    );
  });
});

describe('safe deploys (issue 15)', () => {
  const WEB = 's1aaaaaaaaaaaaaaaaaaaaaaa';
  const RUNNING = { state: TaskState.RUNNING, message: '', err: '', timestamp: T0, containerId: 'c', exitCode: 0, health: 'none' as const };

  /** web: 2 replicas running busybox:1.0, with a previous spec (busybox:0.9) to roll back to, monitored 0 s. */
  function addWeb(): Service {
    const spec = { monitorMs: 0 };
    const web = fake.addService({
      ...service(WEB, 'web', { updateConfig: { ...service(WEB, 'web').spec.updateConfig, ...spec }, rollbackConfig: { ...service(WEB, 'web').spec.rollbackConfig, ...spec } }),
      previousSpec: service(WEB, 'web').spec,
    });
    const current: Service = { ...web, spec: { ...web.spec, taskTemplate: { ...web.spec.taskTemplate, container: { ...web.spec.taskTemplate.container, image: 'busybox:1.0' } } } };
    fake.services.set(WEB, current);
    runTasks(current);
    return current;
  }

  /** Every slot of `svc` runs its current spec (older tasks shut down). */
  function runTasks(svc: Service): void {
    for (const t of [...fake.tasks.values()]) if (t.serviceId === svc.id) fake.tasks.set(t.id, { ...t, desiredState: TaskState.SHUTDOWN, status: { ...t.status, state: TaskState.SHUTDOWN } });
    const n = fake.tasks.size;
    for (const slot of [1, 2]) fake.addTask(task(`t${n + slot}`.padEnd(25, 'x'), svc, { slot, status: RUNNING, createdAt: T0 + n }));
  }

  /** Store `status` on web, as the leader's updater writes it (a new version). */
  function setStatus(status: Partial<NonNullable<Service['updateStatus']>> & Pick<NonNullable<Service['updateStatus']>, 'state' | 'message'>, spec?: Service['spec']): Service {
    const s = fake.services.get(WEB) as Service;
    const next: Service = {
      ...s,
      ...(spec ? { spec, previousSpec: s.spec } : {}),
      updateStatus: { startedAt: T0, completedAt: 0, startVersion: s.specVersion, canary: 'none', ...status },
      version: fake.bump(),
    };
    fake.services.set(WEB, next);
    return next;
  }

  test('update: the updater completes: progress, then "verify: Service converged"', async () => {
    addWeb();
    fake.afterUpdate = (svc) => {
      runTasks(svc);
      setStatus({ state: 'completed', message: 'update completed', completedAt: T0 + 1 });
    };
    const out = ok(await cli(['service', 'update', '--image', 'busybox:2.0', 'web']));
    assert.equal(out, ['web', 'overall progress: 2 out of 2 tasks', '1/2: running', '2/2: running', 'verify: Service converged', ''].join('\n'));
    const [req] = fake.callsOf('UpdateService');
    assert.equal((req as { rollback: boolean }).rollback, false);
  });

  test('update: a paused update fails with its message, exit 1', async () => {
    addWeb();
    fake.afterUpdate = () => void setStatus({ state: 'paused', message: 'update paused due to failure or early termination of task t9' });
    const r = await cli(['service', 'update', '--image', 'busybox:2.0', 'web']);
    fails(r, 1, /^flotilla: service update paused: update paused due to failure or early termination of task t9\n$/);
    assert.match(r.out, /^web\noverall progress: 0 out of 2 tasks\n1\/2: running\n2\/2: running\n$/, 'the old tasks run; none of the new spec');
  });

  test('update: rolled back by the failure action: "rollback: ..." lines, the rollback\'s progress, exit 1', async () => {
    const web = addWeb();
    let reads = 0;
    fake.afterUpdate = (svc) => {
      // First read: the rollback has started; the next: it completed.
      fake.beforeCall = (m) => {
        if (m !== 'GetService') return;
        reads++;
        if (reads === 1) setStatus({ state: 'rollback_started', message: 'update rolled back due to failure or early termination of task t9', startVersion: fake.bump() }, web.spec);
        if (reads === 2) {
          runTasks(fake.services.get(WEB) as Service);
          setStatus({ state: 'rollback_completed', message: 'rollback completed', completedAt: T0 + 2 });
        }
      };
      void svc;
    };
    const r = await cli(['service', 'update', '--image', 'busybox:2.0', 'web']);
    fails(r, 1, /^flotilla: service rolled back: rollback completed\n$/);
    const lines = r.out.split('\n');
    assert.equal(lines[0], 'web');
    assert.equal(lines[1], 'rollback: update rolled back due to failure or early termination of task t9');
    assert.match(lines[2], /^overall progress: rolling back update: \d out of 2 tasks$/);
    assert.equal(lines.at(-2), 'rollback: rollback completed');
  });

  test('update: canaries awaiting promotion end the wait, exit 0, with the command that promotes them', async () => {
    addWeb();
    fake.afterUpdate = (svc) =>
      void setStatus({ state: 'updating', canary: 'awaiting_promotion', message: 'canaries healthy' }, { ...svc.spec, updateConfig: { ...svc.spec.updateConfig, canary: 1 } });
    const out = ok(await cli(['service', 'update', '--image', 'busybox:2.0', '--update-canary', '1', 'web']));
    assert.match(out, /\ncanary: 1 of 1 canaries healthy: promote with `flotilla service promote web`\n$/);
    assert.equal((fake.callsOf('UpdateService')[0] as { spec: { updateConfig: { canary: number } } }).spec.updateConfig.canary, 1);
  });

  test('update: -q waits silently; a leader change (UNAVAILABLE reads) is ridden out', async () => {
    addWeb();
    fake.afterUpdate = (svc) => {
      runTasks(svc);
      setStatus({ state: 'completed', message: 'update completed' });
      fake.failNext('GetService', { code: grpc.status.UNAVAILABLE, details: 'no leader', metadata: { 'leader-term': '8' } });
      fake.failNext('ListTasks', { code: grpc.status.UNAVAILABLE, details: 'no leader', metadata: { 'leader-term': '8' } });
    };
    assert.equal(ok(await cli(['service', 'update', '-q', '--env-add', 'B=2', 'web'])), 'web\n');
  });

  test('update: a completed status of an earlier update is not this one\'s: no-op update converges on the tasks', async () => {
    addWeb();
    setStatus({ state: 'rollback_completed', message: 'rollback completed', startVersion: 1 });
    const out = ok(await cli(['service', 'update', '--image', 'busybox:1.0', 'web']));
    assert.equal(fake.callsOf('UpdateService').length, 0, 'nothing to change: nothing sent');
    assert.match(out, /verify: Service converged\n$/);
    assert.doesNotMatch(out, /rollback/);
  });

  test('update --force: forceUpdate raised by one, nothing else', async () => {
    const web = addWeb();
    ok(await cli(['service', 'update', '-d', '--force', 'web']));
    const [req] = fake.callsOf('UpdateService') as { version: number; spec: { taskTemplate: { forceUpdate: number } } }[];
    assert.equal(req.version, web.version);
    assert.equal(req.spec.taskTemplate.forceUpdate, 1);
    assert.equal(fake.services.get(WEB)?.spec.taskTemplate.forceUpdate, 1);
  });

  test('rollback: UpdateService rollback=true without a spec; progress to "verify: Service converged", exit 0', async () => {
    const web = addWeb();
    fake.beforeCall = (m) => {
      const s = fake.services.get(WEB) as Service;
      if (m === 'ListTasks' && s.updateStatus?.state === 'rollback_started') {
        runTasks(s);
        setStatus({ state: 'rollback_completed', message: 'rollback completed', completedAt: T0 + 1, startVersion: s.updateStatus.startVersion });
      }
    };
    const out = ok(await cli(['service', 'rollback', 'web']));
    const [req] = fake.callsOf('UpdateService') as { serviceId: string; version: number; rollback: boolean; spec: unknown }[];
    assert.deepEqual([req.serviceId, req.version, req.rollback, req.spec ?? null], [WEB, web.version, true, null]);
    assert.equal(out.split('\n')[0], 'web');
    assert.equal(out.split('\n')[1], 'rollback: manually requested rollback');
    assert.match(out, /\nverify: Service converged\n$/);
    assert.equal(fake.services.get(WEB)?.spec.taskTemplate.container.image, 'busybox:latest', 'back to the previous spec');
  });

  test('rollback: a paused rollback fails, exit 1; -d prints the name only; update --rollback is the same', async () => {
    addWeb();
    fake.beforeCall = (m) => {
      const s = fake.services.get(WEB) as Service;
      if (m === 'GetService' && s.updateStatus?.state === 'rollback_started') setStatus({ state: 'rollback_paused', message: 'rollback paused due to failure or early termination of task t7' });
    };
    fails(await cli(['service', 'rollback', 'web']), 1, /^flotilla: service rollback paused: rollback paused due to failure or early termination of task t7\n$/);
    fake.reset();
    seed(fake);
    addWeb();
    assert.equal(ok(await cli(['service', 'rollback', '-d', 'web'])), 'web\n');
    assert.equal(ok(await cli(['service', 'update', '--rollback', '-d', '-q', 'web'])), 'web\n', 'and back again');
    assert.deepEqual(fake.callsOf('UpdateService').map((r) => (r as { rollback: boolean }).rollback), [true, true]);
    assert.equal(fake.services.get(WEB)?.spec.taskTemplate.container.image, 'busybox:1.0');
  });

  test('rollback: refusals in one line; update --rollback with other flags is docker\'s usage error', async () => {
    fake.addService(service('s2bbbbbbbbbbbbbbbbbbbbbbb', 'fresh'));
    fails(await cli(['service', 'rollback', 'fresh']), 1, /^flotilla: service "fresh" does not have a previous spec: there is nothing to roll back to\n$/);
    fails(await cli(['service', 'rollback']), 2, /rollback/);
    fails(await cli(['service', 'rollback', 'a', 'b']), 2, /rollback/);
    fails(await cli(['service', 'rollback', '--image', 'x', 'fresh']), 2, /^flotilla: unknown flag --image for `flotilla service rollback`/);
    fails(await cli(['service', 'update', '--rollback', '--image', 'x', 'fresh']), 2, /^flotilla: other flags may not be combined with --rollback\n$/);
    fails(await cli(['service', 'update', '--rollback', '--force', 'fresh']), 2, /^flotilla: other flags may not be combined with --rollback\n$/);
    fails(await cli(['service', 'rollback', 'nope']), 1, /no service "nope"/);
    assert.equal(fake.callsOf('UpdateService').length, 1, 'only the refused rollback of fresh was sent');
  });

  test('promote: PromoteService with the version read, retried on a conflict; refusals pass through', async () => {
    addWeb();
    fails(await cli(['service', 'promote', 'web']), 1, /^flotilla: service "web" has no canaries awaiting promotion\n$/);
    const st = setStatus({ state: 'updating', canary: 'awaiting_promotion', message: 'canaries healthy' });
    let moved = false;
    fake.beforeWrite = (m) => {
      if (m !== 'PromoteService' || moved) return;
      moved = true;
      setStatus({ state: 'updating', canary: 'awaiting_promotion', message: 'canaries healthy (again)' });
    };
    assert.equal(ok(await cli(['service', 'promote', 'web'])), 'web\n');
    const reqs = fake.callsOf('PromoteService') as { serviceId: string; version: number }[];
    assert.equal(reqs.length, 3);
    assert.deepEqual(reqs[1], { serviceId: WEB, version: st.version });
    assert.equal(fake.services.get(WEB)?.updateStatus?.canary, 'promoted');
    fails(await cli(['service', 'promote']), 2, /promote/);
    fails(await cli(['service', 'promote', '-d', 'web']), 2, /^flotilla: unknown flag -d for `flotilla service promote`/);
  });

  test('inspect: PreviousSpec and docker\'s UpdateStatus (RFC 3339), Canary when any; --pretty blocks', async () => {
    const web = addWeb();
    setStatus({ state: 'paused', message: 'update paused due to failure or early termination of task t9', startedAt: NOW - 11_000, canary: 'deploying' });
    const [got] = JSON.parse(ok(await cli(['service', 'inspect', 'web']))) as Record<string, unknown>[];
    assert.deepEqual(got.PreviousSpec, serviceSpecJson(web.previousSpec as ServiceSpec));
    assert.deepEqual(got.UpdateStatus, { State: 'paused', StartedAt: goJsonTime(NOW - 11_000), Message: 'update paused due to failure or early termination of task t9', Canary: 'deploying' });
    assert.equal(got.updateStatus, undefined);
    assert.equal(got.previousSpec, undefined);
    setStatus({ state: 'completed', message: 'update completed', startedAt: NOW - 60_000, completedAt: NOW - 3_000 });
    const [done] = JSON.parse(ok(await cli(['service', 'inspect', 'web']))) as { UpdateStatus: Record<string, string> }[];
    assert.deepEqual(done.UpdateStatus, { State: 'completed', StartedAt: goJsonTime(NOW - 60_000), CompletedAt: goJsonTime(NOW - 3_000), Message: 'update completed' });
    const pretty = ok(await cli(['service', 'inspect', '--pretty', 'web']));
    assert.match(pretty, /\nUpdateStatus:\n State: +completed\n Started: +About a minute ago\n Completed: +3 seconds ago\n Message: +update completed\n/);
    assert.match(pretty, /\nUpdateConfig:\n Parallelism: +1\n[\s\S]* Update order: +stop-first\n Canary: +0\n Auto promote: +false\n Progress deadline: +none\nRollbackConfig:\n Parallelism: +1\n[\s\S]* Rollback order: +stop-first\nContainerSpec:\n/);
    assert.match(pretty, /\nRestart Policy:\n[\s\S]* Max delay: +5m\n/);
  });

  test('ls: REPLICAS notes an update that has not completed', async () => {
    addWeb();
    const replicas = async (): Promise<string> => (ok(await cli(['service', 'ls'])).split('\n')[1].match(/replicated +(.*?) +busybox/) ?? [])[1] ?? '';
    assert.equal(await replicas(), '2/2');
    for (const [state, note] of [['updating', ' (updating)'], ['paused', ' (update paused)'], ['rollback_started', ' (rolling back)'], ['rollback_paused', ' (rollback paused)'], ['completed', ''], ['rollback_completed', '']] as const) {
      setStatus({ state, message: state });
      assert.equal(await replicas(), `2/2${note}`, state);
    }
  });

  test("ps: a crash-looping slot shows when it restarts and the attempt in the table; the JSON keeps docker's CurrentState", async () => {
    const web = addWeb();
    const failed = { ...RUNNING, state: TaskState.FAILED, timestamp: NOW - 3_000, err: 'task: non-zero exit (1)' };
    const t = fake.addTask(task('t9'.padEnd(25, 'x'), web, { slot: 3, status: failed, createdAt: T0 + 99, restart: { attempt: 3, delayMs: 15_000, nextAt: NOW + 12_000, reason: '' } }));
    fake.addTask(task('t8'.padEnd(25, 'x'), web, { slot: 3, status: { ...failed, timestamp: NOW - 30_000 }, restart: { attempt: 2, delayMs: 10_000, nextAt: NOW - 20_000, reason: '' } }));
    const out = ok(await cli(['service', 'ps', 'web']));
    assert.match(out, /\nt9xxxxxxxxxx +web\.3 .* Failed 3 seconds ago, restart in 12 seconds \(attempt 3\) +"task: non-zero exit \(1\)" +\n/);
    assert.match(out, /\nt8xxxxxxxxxx +\\_ web\.3 .* Failed 30 seconds ago +"/, 'an older task of the slot: no restart text');
    const json = ok(await cli(['service', 'ps', '--format', 'json', 'web'])).trimEnd().split('\n').map((l) => JSON.parse(l) as { ID: string; CurrentState: string });
    assert.equal(json.find((x) => x.ID === t.id.slice(0, 12))?.CurrentState, 'Failed 3 seconds ago');
    // No restart (max attempts reached) or one already due: the plain state.
    fake.tasks.set(t.id, { ...t, restart: { attempt: 3, delayMs: 0, nextAt: 0, reason: 'restart policy: max attempts reached' } });
    assert.match(ok(await cli(['service', 'ps', 'web'])), / Failed 3 seconds ago +"task/);
  });
});

describe('autolock: cluster update --autolock, unlock-key, unlock', () => {
  test('unlock-key without autolock says how to turn it on', async () => {
    fails(await cli(['unlock-key']), 1, /autolock is off/);
  });

  test('--autolock=true prints the new key once; unlock-key shows it; --rotate replaces it; --autolock=false drops it', async () => {
    const on = ok(await cli(['cluster', 'update', '--autolock=true']));
    const key = /\n {4}(FLTKEY-1-[A-Z2-7]{52})\n/.exec(on)?.[1];
    assert.ok(key, on);
    assert.match(on, /^cluster updated\n\nTo unlock a flotilla manager after it restarts, run the `flotilla unlock`\n/);
    assert.equal(fake.cluster?.spec.encryption?.autoLockManagers, true);
    assert.equal(ok(await cli(['unlock-key', '-q'])), `${key}\n`);
    assert.match(ok(await cli(['unlock-key'])), new RegExp(`provide the following key:\\n\\n    ${key}\\n\\nPlease remember`));
    assert.match(ok(await cli(['cluster', 'info'])), /Autolock: {4}true/);
    const rotated = ok(await cli(['unlock-key', '--rotate']));
    assert.match(rotated, /^Successfully rotated manager unlock key\.\n\n/);
    const key2 = ok(await cli(['unlock-key', '-q'])).trim();
    assert.notEqual(key2, key);
    assert.ok(rotated.includes(key2));
    assert.equal(ok(await cli(['cluster', 'update', '--autolock=false'])), 'cluster updated\n');
    assert.equal(fake.cluster?.spec.encryption, undefined);
    fails(await cli(['unlock-key', '-q']), 1, /autolock is off/);
  });

  test('a bad --autolock value is a usage error naming the flag', async () => {
    fails(await cli(['cluster', 'update', '--autolock=maybe']), 2, /--autolock/);
  });
});

describe('join-token and cluster', () => {
  test('join-token prints the join command with the leader address', async () => {
    assert.equal(
      ok(await cli(['join-token', 'worker'])),
      'To add a worker to this cluster, run the following command:\n\n    flotilla join --token SWMTKN-1-worker-token 10.0.0.1:4242\n',
    );
    assert.equal(ok(await cli(['join-token', '-q', 'manager'])), 'SWMTKN-1-manager-token\n');
    fake.info = { ...fake.info, leaderAddr: '', leaderId: '' };
    assert.match(ok(await cli(['join-token', 'manager'])), /--token SWMTKN-1-manager-token 10\.0\.0\.2:4242\n$/);
  });

  test('join-token --rotate', async () => {
    const out = ok(await cli(['join-token', '--rotate', 'worker']));
    assert.match(out, /^Successfully rotated worker join token\.\n\nTo add a worker to this cluster, run the following command:\n\n {4}flotilla join --token SWMTKN-1-worker-rotated-\d+ 10\.0\.0\.1:4242\n$/);
    // Sent explicitly (role is `optional` on the wire; an absent one is refused): 0 is worker.
    assert.deepEqual(fake.callsOf('RotateJoinToken').map((r) => r.role), [0]);
    assert.match(ok(await cli(['join-token', '--rotate', '-q', 'manager'])), /^SWMTKN-1-manager-rotated-\d+\n$/);
  });

  test('cluster info: table and json', async () => {
    const out = ok(await cli(['cluster', 'info']));
    assert.equal(
      out,
      [
        'Cluster ID:  c1',
        'Name:        default',
        `Leader:      ${M1} (10.0.0.1:4242)`,
        'Raft term:   7',
        'Managers:    2 (2 reachable)',
        'Heartbeat:   5s, grace 3 (a node is down after 15s without one)',
        'Data plane:  VIP pool 10.240.0.0/16, a /24 per node; published ports 30000-32767',
        'Autolock:    false',
        'CA digest:   sha256:abc',
        '',
        'NODE ID                     ADDRESS         LEADER    REACHABILITY',
        `${M1}   10.0.0.1:4242   Yes       Reachable`,
        `${M2}   10.0.0.2:4242             Reachable`,
        '',
      ].join('\n'),
    );
    const json = JSON.parse(ok(await cli(['cluster', 'info', '--format', 'json']))) as { cluster: { id: string; spec: { name: string } }; term: number; managers: { reachability: string }[] };
    assert.equal(json.cluster.id, 'c1');
    assert.equal(json.cluster.spec.name, 'default');
    assert.deepEqual((json.cluster.spec as unknown as { network: unknown }).network, { vipPool: '10.240.0.0/16', vipPoolMaskLength: 24, publishedPortRangeStart: 30000, publishedPortRangeEnd: 32767 });
    assert.equal(json.term, 7);
    assert.equal(json.managers[0].reachability, 'reachable');
    assert.ok(!JSON.stringify(json).includes('SWMTKN'), 'no join token in cluster info');
    assert.equal(ok(await cli(['cluster', 'info', '--format', '{{.cluster.spec.name}} {{.term}}'])), 'default 7\n');
  });
});

describe('cluster update', () => {
  test('sets the heartbeat, its grace, the task history and the certificate validity; keeps what is not given', async () => {
    assert.equal(ok(await cli(['cluster', 'update', '--dispatcher-heartbeat', '500ms', '--heartbeat-grace', '4'])), 'cluster updated\n');
    const spec = fake.cluster?.spec;
    assert.deepEqual(spec?.dispatcher, { heartbeatPeriodMs: 500, heartbeatGrace: 4 });
    assert.equal(spec?.orchestration.taskHistoryRetention, 5, 'not given: unchanged');
    ok(await cli(['cluster', 'update', '--task-history-limit', '0', '--cert-expiry', '48h']));
    assert.equal(fake.cluster?.spec.orchestration.taskHistoryRetention, 0);
    assert.equal(fake.cluster?.spec.caConfig.nodeCertExpiryHours, 48);
    assert.deepEqual(fake.cluster?.spec.dispatcher, { heartbeatPeriodMs: 500, heartbeatGrace: 4 }, 'kept from the first update');
  });

  test('retries on a version conflict, from a fresh read', async () => {
    fake.failNext('UpdateCluster', { code: grpc.status.ABORTED, details: 'version conflict' });
    ok(await cli(['cluster', 'update', '--heartbeat-grace', '6']));
    assert.equal(fake.cluster?.spec.dispatcher.heartbeatGrace, 6);
    assert.equal(fake.callsOf('UpdateCluster').length, 2);
  });

  test('bad values and nothing to update are usage errors, and change nothing', async () => {
    const before = JSON.stringify(fake.cluster);
    fails(await cli(['cluster', 'update']), 2, /nothing to update: give --dispatcher-heartbeat/);
    fails(await cli(['cluster', 'update', '--dispatcher-heartbeat', '10ms']), 2, /^flotilla: invalid --dispatcher-heartbeat: must be between 100ms and 1h \(got 10ms\)\n$/);
    fails(await cli(['cluster', 'update', '--dispatcher-heartbeat', '2h']), 2, /invalid --dispatcher-heartbeat: must be between 100ms and 1h \(got 2h\)/);
    fails(await cli(['cluster', 'update', '--heartbeat-grace', '0']), 2, /^flotilla: invalid --heartbeat-grace: must be an integer in 1\.\.100 \(got 0\)\n$/);
    fails(await cli(['cluster', 'update', '--task-history-limit', '-1']), 2, /invalid --task-history-limit: must be an integer in 0\.\.1000 \(got -1\)/);
    fails(await cli(['cluster', 'update', '--heartbeat-grace', 'x']), 2, /invalid --heartbeat-grace "x": expected an integer/);
    fails(await cli(['cluster', 'update', '--cert-expiry', '90m']), 2, /^flotilla: invalid --cert-expiry: must be a whole number of hours between 1h and 87600h \(got 1h30m\)\n$/);
    fails(await cli(['cluster', 'update', '--cert-expiry', '87601h']), 2, /invalid --cert-expiry: must be a whole number of hours between 1h and 87600h \(got 87601h\)/);
    assert.equal(JSON.stringify(fake.cluster), before);
    assert.equal(fake.callsOf('UpdateCluster').length, 0);
  });

  test("the manager's refusal of a range reads exactly as the CLI's own refusal of the flag", async () => {
    // The manager's answer to a value out of range, sent without the CLI's check (a script, an older CLI) ...
    const manager = controlHarness();
    const c = manager.local.store.list('cluster')[0];
    const cases: [string, string, (s: ClusterSpec) => void][] = [
      ['--dispatcher-heartbeat', '1ms', (s) => (s.dispatcher.heartbeatPeriodMs = 1)],
      ['--dispatcher-heartbeat', '90m', (s) => (s.dispatcher.heartbeatPeriodMs = 90 * 60_000)],
      ['--heartbeat-grace', '1000', (s) => (s.dispatcher.heartbeatGrace = 1000)],
      ['--task-history-limit', '1000000000', (s) => (s.orchestration.taskHistoryRetention = 1e9)],
      ['--cert-expiry', '0h', (s) => (s.caConfig.nodeCertExpiryHours = 0)],
      ['--cert-expiry', '100000h', (s) => (s.caConfig.nodeCertExpiryHours = 100_000)],
    ];
    for (const [flag, value, edit] of cases) {
      const spec = structuredClone(c.spec) as ClusterSpec;
      edit(spec);
      const refused = await refusal(manager.control.UpdateCluster({ version: c.version, spec: clusterSpecToProto(spec) }));
      assert.equal(refused.code, grpc.status.INVALID_ARGUMENT);
      // ... as the CLI renders it (the fake answers the next UpdateCluster with it) ...
      fake.failNext('UpdateCluster', { code: refused.code, details: refused.details, metadata: refused.metadata });
      const viaManager = await cli(['cluster', 'update', '--heartbeat-grace', '5']);
      assert.equal(viaManager.code, 1);
      // ... is the line the CLI prints when it refuses the value itself (exit code 2: a usage error).
      const own = await cli(['cluster', 'update', flag, value]);
      assert.equal(own.code, 2);
      assert.match(own.err, new RegExp(`^flotilla: invalid ${flag}: must be `));
      assert.equal(viaManager.err, own.err, `${flag} ${value}`);
    }
    assert.equal(manager.writes(), 0);
  });
});

describe('over TCP with mutual TLS', () => {
  test('the node certificates of the data dir authenticate the CLI', async () => {
    const root = await createRootCA({ clusterId: 'c1' });
    const issue = async (role: NodeRole, nodeId: string) => {
      const keyPem = generateNodeKey();
      return { keyPem, certPem: await signNodeCSR(root, await createCSR(keyPem), { nodeId, role, clusterId: 'c1' }) };
    };
    const serverCert = await issue('manager', M1);
    const clientCert = await issue('worker', W1);
    const tlsFake = new FakeControl();
    seed(tlsFake);
    const port = await tlsFake.start('127.0.0.1:0', serverCredentials(new NodeCertificateProvider({ caCertPem: root.certPem, ...serverCert })));
    const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-cli-tls-'));
    try {
      mkdirSync(join(dataDir, 'certificates'));
      writeFileSync(join(dataDir, 'certificates', 'root-ca.crt'), root.certPem);
      writeFileSync(join(dataDir, 'certificates', 'node.crt'), clientCert.certPem);
      // Without the key: the message names the missing file.
      fails(await cli(['--host', `127.0.0.1:${port}`, 'node', 'ls', '-q'], {}, dataDir), 1, /certificates\/node\.key does not exist/);
      writeFileSync(join(dataDir, 'certificates', 'node.key'), clientCert.keyPem);
      assert.equal(ok(await cli(['--host', `127.0.0.1:${port}`, 'node', 'ls', '-q'], {}, dataDir)), `${M1}\n${M2}\n${W1}\n${W2}\n`);
    } finally {
      await tlsFake.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
