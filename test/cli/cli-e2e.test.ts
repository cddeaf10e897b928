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
import { TaskState, type ClusterSpec, type Service } from '../../src/api/objects.js';
import { NotLeaderError } from '../../src/raft/errors.js';
import { controlHarness, refusal } from '../manager/controlapi/fixtures.js';
import { cluster, node, service, task, T0 } from '../manager/store-fixtures.js';
import { FakeControl } from './fake-control.js';

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
    fails(await cli(['node', 'ls', '--format', '{{.ID}}']), 2, /unsupported --format "\{\{.ID\}\}": use table or json/);
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
        'ID                          HOSTNAME   STATUS   AVAILABILITY   MANAGER STATUS   ENGINE VERSION',
        `${M1}   mgr-1      Ready    Active         Leader           24.0.7`,
        `${M2}   mgr-2      Ready    Active         Reachable        24.0.7`,
        `${W1}   worker-1   Ready    Active                          24.0.7`,
        `${W2}   worker-2   Down     Active                          24.0.7`,
        '',
      ].join('\n'),
    );
    assert.equal(ok(await cli(['node', 'ls', '-q'])), `${M1}\n${M2}\n${W1}\n${W2}\n`);
    assert.equal(ok(await cli(['node', 'ls', '-q', '--filter', 'role=worker'])), `${W1}\n${W2}\n`);
    assert.equal(ok(await cli(['node', 'ls', '-q', '-f', 'label=zone=a'])), `${W1}\n`);
    const lines = ok(await cli(['node', 'ls', '--format', 'json'])).trimEnd().split('\n');
    assert.equal(lines.length, 4);
    const first = JSON.parse(lines[0]) as { id: string; role: string; description: { hostname: string } };
    assert.equal(first.id, M1);
    assert.equal(first.role, 'manager');
    assert.equal(first.description.hostname, 'mgr-1');
  });

  test('inspect: by id, hostname or unique prefix; unknown and ambiguous refs', async () => {
    const arr = JSON.parse(ok(await cli(['node', 'inspect', M1, 'worker-1', 'm2']))) as { id: string }[];
    assert.deepEqual(
      arr.map((n) => n.id),
      [M1, W1, M2],
    );
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
        'ID             NAME    MODE         REPLICAS   IMAGE            PORTS',
        's2bbbbbbbbbb   agent   global       1/1        busybox:latest',
        's1aaaaaaaaaa   web     replicated   1/2        busybox:latest   *:8080->80/tcp',
        '',
      ].join('\n'),
    );
    // The manager counts the replicas (docker's ServiceStatus): no list of every task, which for a service of
    // 100,000 replicas is tens of megabytes.
    assert.equal(fake.callsOf('ListTasks').length, 0, 'service ls lists no task');
    assert.equal(ok(await cli(['service', 'ls', '-q', '--filter', 'mode=replicated'])), `${web.id}\n`);
    const json = ok(await cli(['service', 'ls', '--format', 'json', '-f', 'name=ag']));
    assert.deepEqual(JSON.parse(json), fake.services.get(agent.id));
  });

  test('inspect: JSON array of store objects; by name, id and id prefix', async () => {
    const web = addWeb();
    const arr = JSON.parse(ok(await cli(['service', 'inspect', 'web', web.id, 's1a']))) as Service[];
    assert.deepEqual(arr, [web, web, web]);
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
        'ID             NAME    IMAGE            NODE       DESIRED STATE   CURRENT STATE           ERROR',
        't1aaaaaaaaaa   web.1   busybox:latest   worker-1   Running         Running 5 minutes ago',
        't2aaaaaaaaaa   web.2   busybox:latest              Running         New 10 minutes ago',
        '',
      ].join('\n'),
    );
    assert.deepEqual(fake.callsOf('ListTasks')[0], { filters: { serviceIds: [web.id], nodeIds: [], desiredStates: [] }, pageSize: 5000, pageToken: '' });
    assert.equal(ok(await cli(['service', 'ps', '-q', '--filter', 'node=worker-1', 'web'])), 't1aaaaaaaaaaaaaaaaaaaaaaa\n');
    // No tasks yet (before orchestration): just the header.
    fake.tasks.clear();
    assert.equal(ok(await cli(['service', 'ps', 'web'])), 'ID   NAME   IMAGE   NODE   DESIRED STATE   CURRENT STATE   ERROR\n');
  });

  test('ps: the tasks of a manager that answers in pages, each page asked after the last id of the one before', async () => {
    const web = addWeb();
    for (const n of [1, 2, 3]) fake.addTask(task(`t${n}aaaaaaaaaaaaaaaaaaaaaaa`, web, { slot: n }));
    fake.maxTasksPerAnswer = 2;
    assert.equal(ok(await cli(['service', 'ps', '-q', 'web'])), 't1aaaaaaaaaaaaaaaaaaaaaaa\nt2aaaaaaaaaaaaaaaaaaaaaaa\nt3aaaaaaaaaaaaaaaaaaaaaaa\n');
    assert.deepEqual(
      fake.callsOf('ListTasks').map((c) => (c as { pageToken: string }).pageToken),
      ['', 't2aaaaaaaaaaaaaaaaaaaaaaa'],
    );
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
        'CA digest:   sha256:abc',
        '',
        'NODE ID                     ADDRESS         LEADER   REACHABILITY',
        `${M1}   10.0.0.1:4242   Yes      Reachable`,
        `${M2}   10.0.0.2:4242            Reachable`,
        '',
      ].join('\n'),
    );
    const json = JSON.parse(ok(await cli(['cluster', 'info', '--format', 'json']))) as { cluster: { id: string; spec: { name: string } }; term: number; managers: { reachability: string }[] };
    assert.equal(json.cluster.id, 'c1');
    assert.equal(json.cluster.spec.name, 'default');
    assert.equal(json.term, 7);
    assert.equal(json.managers[0].reachability, 'reachable');
    assert.ok(!JSON.stringify(json).includes('SWMTKN'), 'no join token in cluster info');
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
