// Three managers and two workers as real `flotilla` daemon processes on
// loopback (127.0.0.70-75:7470), built and driven through the CLI only:
// init, join with tokens, node/service/cluster commands, kill -9 and restart.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { DaemonCluster, runCli, type CliResult } from '../../src/testing/daemon-cluster.js';
import { loadControlProto } from '../../src/api/proto.js';
import { anonymousChannelCredentials, channelCredentials, NODE_CHANNEL_OPTIONS, NodeCertificateProvider } from '../../src/manager/ca/tls.js';
import { createCSR, generateNodeKey } from '../../src/manager/ca/ca.js';
import { loadCaProto } from '../../src/api/proto.js';
import { unary } from '../../src/manager/peer-clients.js';
import { parseJoinToken, formatJoinToken } from '../../src/manager/ca/token.js';
import { connectEngine } from '../../src/worker/exec/docker/engine.js';
import { LABEL_CLUSTER_ID } from '../../src/worker/exec/docker/labels.js';
import type { Node } from '../../src/api/objects.js';

const base = mkdtempSync(join(tmpdir(), 'flotilla-cluster-'));
const c = new DaemonCluster({ baseDir: base, firstHost: 70, port: 7470, nodeStatusMs: 300 });
const M = [0, 1, 2];
const W = [3, 4];
let clusterId = '';

before(async () => {
  await c.init(0);
  await c.join(1, 'manager');
  await c.join(2, 'manager', 1); // through a follower
  await c.join(3, 'worker');
  await c.join(4, 'worker', 2);
  clusterId = (JSON.parse((await c.cliOk(0, ['cluster', 'info', '--format', 'json'])).stdout) as { cluster: { id: string } }).cluster.id;
});

after(async () => {
  await c.stop();
  // Every service here has 0 replicas; remove any container of this cluster anyway.
  if (clusterId) {
    const docker = connectEngine();
    const left = await docker.listContainers({ all: true, filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`] } }).catch(() => []);
    for (const info of left) await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
  }
  if (process.env.KEEP_CLUSTER_DIRS !== '1') rmSync(base, { recursive: true, force: true });
});

function json<T>(r: CliResult): T {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

/** `ls --format json` prints one JSON object per line, as docker does. */
function jsonLines<T>(r: CliResult): T[] {
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

/** The stored nodes, through manager `via`. */
async function nodes(via: number): Promise<Node[]> {
  return c.storedNodes(via);
}

/** Until every manager is a reachable voter and every node ready, as `via` sees it. */
async function waitHealthy(via: number, count: number): Promise<Node[]> {
  let last: Node[] = [];
  await c.waitFor(
    async () => {
      const r = await c.cli(via, ['node', 'ls', '--format', 'json']);
      if (r.code !== 0) return false;
      // The CLI answers (docker's rows); the stored nodes say more.
      last = await nodes(via);
      const managers = last.filter((n) => n.role === 'manager');
      return (
        last.length === count &&
        last.every((n) => n.status.state === 'ready') &&
        managers.length === 3 &&
        managers.every((n) => n.managerStatus?.reachability === 'reachable') &&
        managers.filter((n) => n.managerStatus?.leader).length === 1
      );
    },
    30_000,
    `${count} ready nodes with 3 reachable managers (last seen: ${JSON.stringify(last.map((n) => [n.role, n.status.state, n.managerStatus]))})`,
  );
  return last;
}

/** A control client over mTLS with node i's certificates. */
function controlAs(i: number, addr: string): grpc.Client {
  const dir = join(c.node(i).dataDir, 'certificates');
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  const tls = new NodeCertificateProvider({ caCertPem: read('root-ca.crt'), certPem: read('node.crt'), keyPem: read('node.key') });
  return new (loadControlProto().Client)(addr, channelCredentials(tls), NODE_CHANNEL_OPTIONS);
}

function callCode(client: grpc.Client, path: string, clientStream: boolean): Promise<{ code: number; details: string }> {
  return new Promise((resolve) => {
    const ser = (b: Buffer): Buffer => b;
    const de = (b: Buffer): Buffer => b;
    const cb = (err: grpc.ServiceError | null): void => resolve({ code: err ? err.code : 0, details: err ? err.details : '' });
    const opts = { deadline: Date.now() + 10_000 };
    if (clientStream) client.makeClientStreamRequest(path, ser, de, new grpc.Metadata(), opts, cb).end();
    else client.makeUnaryRequest(path, ser, de, Buffer.alloc(0), new grpc.Metadata(), opts, cb);
  });
}

test('init and join build a cluster of 3 managers and 2 workers, all ready in `node ls`', async () => {
  const list = await waitHealthy(0, 5);
  assert.equal(list.filter((n) => n.role === 'worker').length, 2);
  const table = await c.cliOk(1, ['node', 'ls']);
  assert.match(table.stdout, /Leader/);
  assert.equal(table.stdout.match(/Reachable/g)?.length, 2, table.stdout);
  assert.equal(table.stdout.match(/Ready/g)?.length, 5, table.stdout);
  const ids = (await c.cliOk(2, ['node', 'ls', '-q'])).stdout.trim().split('\n');
  assert.deepEqual(ids.sort(), list.map((n) => n.id).sort());
});

test('a worker certificate is refused by Raft, the manager calls and the control API; a manager certificate is accepted', async () => {
  const worker = controlAs(W[0], c.node(0).address);
  const manager = controlAs(M[1], c.node(0).address);
  try {
    const control = await callCode(worker, '/flotilla.control.Control/ClusterInfo', false);
    assert.equal(control.code, grpc.status.PERMISSION_DENIED, control.details);
    assert.match(control.details, /worker/);
    const raft = await callCode(worker, '/flotilla.raft.Raft/Stream', true);
    assert.equal(raft.code, grpc.status.PERMISSION_DENIED, raft.details);
    const propose = await callCode(worker, '/flotilla.manager.Manager/Propose', false);
    assert.equal(propose.code, grpc.status.PERMISSION_DENIED, propose.details);
    const ok = await callCode(manager, '/flotilla.control.Control/ClusterInfo', false);
    assert.equal(ok.code, 0, ok.details);
  } finally {
    worker.close();
    manager.close();
  }
  // The CLI with a worker's data dir, pointed at a manager over TCP: a one-line refusal.
  const r = await c.cli(W[0], ['--host', c.node(0).address, 'node', 'ls']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^flotilla: .*(permission|worker)/im);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
});

test('bad tokens and a CA digest mismatch are refused with one-line errors, leaving no node behind', async () => {
  const good = (await c.cliOk(0, ['join-token', 'worker', '-q'])).stdout.trim();
  const parsed = parseJoinToken(good);
  const wrongSecret = formatJoinToken(parsed.caDigest, 'z'.repeat(parsed.secret.length));
  const wrongCa = formatJoinToken('1'.repeat(parsed.caDigest.length), parsed.secret);
  const cases: [string, RegExp][] = [
    ['FLT-1-garbage', /token/i],
    [wrongSecret, /invalid join token/i],
    [wrongCa, /digest|another cluster|does not match/i],
  ];
  for (const [token, why] of cases) {
    const dir = join(base, `bad-${Math.random().toString(36).slice(2)}`);
    const r = await runCli(c.bin, ['join', '--token', token, '--advertise-addr', '127.0.0.79:7470', '--listen-addr', '127.0.0.79:7470', '--data-dir', dir, c.node(0).address], process.env);
    assert.equal(r.code, 1, `${token}: ${r.stderr}`);
    assert.match(r.stderr, why);
    assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('flotilla')).length, 1, r.stderr);
    assert.ok(!existsSync(join(dir, 'node.json')), 'a refused join leaves no node');
  }
  assert.equal((await nodes(0)).length, 5, 'refused joins add no node');
});

test('a rotated token stops working for new joins; the nodes already in stay', async () => {
  const old = (await c.cliOk(1, ['join-token', 'worker', '-q'])).stdout.trim();
  const rotated = await c.cliOk(2, ['join-token', 'worker', '--rotate']);
  assert.match(rotated.stdout, /rotated/i);
  const fresh = (await c.cliOk(0, ['join-token', 'worker', '-q'])).stdout.trim();
  assert.notEqual(fresh, old);
  const dir = join(base, 'rotated');
  const r = await runCli(c.bin, ['join', '--token', old, '--advertise-addr', '127.0.0.79:7470', '--listen-addr', '127.0.0.79:7470', '--data-dir', dir, c.node(1).address], process.env);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /invalid join token/i);
  // The new token works (a sixth node), and `node rm` then refuses that node's certificate: its daemon stops.
  const n6 = await c.joinWith(5, fresh, c.node(1).address);
  const id6 = (await nodes(0)).find((n) => n.status.address === n6.address)?.id;
  assert.ok(id6, 'the sixth node is listed');
  // Ready first: as in SwarmKit, only a READY node needs --force (one still Unknown, before its agent's session, does not).
  await c.waitFor(async () => (await nodes(0)).find((n) => n.id === id6)?.status.state === 'ready', 30_000, 'the sixth node to be ready');
  const refused = await c.cli(0, ['node', 'rm', id6]);
  assert.equal(refused.code, 1, 'a ready node is not removed without --force');
  assert.match(refused.stderr, /--force/);
  await c.cliOk(0, ['node', 'rm', '--force', id6]);
  await c.waitFor(() => n6.proc === null, 15_000, 'the removed node to stop');
  assert.equal(n6.exitCode, 1);
  assert.equal((await waitHealthy(2, 5)).length, 5);
});

test('demote refuses to break quorum unless --force; promote and demote switch a node role in place', async () => {
  // Promote a worker: it gets a manager certificate, joins Raft and becomes a reachable voter.
  const list = await nodes(0);
  const w2 = list.find((n) => n.status.address === c.node(W[1]).address);
  assert.ok(w2);
  await c.cliOk(1, ['node', 'promote', w2.id]);
  await c.waitFor(
    async () => (await nodes(0)).find((n) => n.id === w2.id)?.managerStatus?.reachability === 'reachable',
    30_000,
    'the promoted worker to become a reachable manager',
  );
  const info = json<{ managers: unknown[] }>(await c.cli(W[1], ['cluster', 'info', '--format', 'json']));
  assert.equal(info.managers.length, 4, 'the promoted node serves the control API on its own socket');
  // As a manager it encrypts its Raft data, with a data key ring of its own (the node KEK 0600).
  const kek = join(c.node(W[1]).dataDir, 'keys', 'raft-kek.key');
  assert.equal(statSync(kek).mode & 0o777, 0o600, 'the promoted node has a data key ring');
  await c.cliOk(0, ['node', 'demote', w2.id]);
  await c.waitFor(async () => (await nodes(0)).find((n) => n.id === w2.id)?.managerStatus === undefined, 30_000, 'the demoted node to leave Raft');
  await c.waitFor(async () => !existsSync(join(c.node(W[1]).dataDir, 'keys')) && !existsSync(join(c.node(W[1]).dataDir, 'raft')), 30_000, 'the demoted node to remove its Raft data and keys');
  await waitHealthy(0, 5);

  // With one manager of three down, demoting another would leave 1 of 2 reachable: refused.
  const before = await nodes(0);
  const leader = before.find((n) => n.managerStatus?.leader);
  const followers = before.filter((n) => n.role === 'manager' && !n.managerStatus?.leader);
  assert.ok(leader && followers.length === 2);
  const idx = (n: Node): number => c.nodes.findIndex((d) => d.address === n.status.address);
  await c.kill(idx(followers[0]));
  await c.waitFor(
    async () => (await nodes(idx(leader))).find((n) => n.id === followers[0].id)?.managerStatus?.reachability === 'unreachable',
    20_000,
    'the killed manager to be unreachable',
  );
  const r = await c.cli(idx(leader), ['node', 'demote', followers[1].id]);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, /quorum/);
  assert.match(r.stderr, /--force/);
  await c.restart(idx(followers[0]));
  await waitHealthy(idx(leader), 5);
});

test('killing the leader elects another; the CLI keeps working through every manager', async () => {
  await c.cliOk(0, ['service', 'create', '--detach', '--name', 'before-kill', '--replicas', '0', 'flotilla/busybox:test', 'sleep', '3600']);
  const list = await nodes(1);
  const leader = list.find((n) => n.managerStatus?.leader);
  assert.ok(leader);
  const li = c.nodes.findIndex((d) => d.address === leader.status.address);
  await c.kill(li);
  const others = M.filter((i) => i !== li);
  await c.waitFor(
    async () => {
      const r = await c.cli(others[0], ['cluster', 'info', '--format', 'json']);
      if (r.code !== 0) return false;
      const info = JSON.parse(r.stdout) as { leaderId?: string; leader?: { id?: string } };
      const id = info.leaderId ?? info.leader?.id ?? '';
      return id !== '' && id !== leader.id;
    },
    20_000,
    'a new leader',
  );
  for (const i of others) {
    await c.cliOk(i, ['service', 'create', '--detach', '--replicas', '0', '--name', `after-kill-${i}`, 'flotilla/busybox:test']);
    const names = jsonLines<{ Name: string }>(await c.cli(i, ['service', 'ls', '--format', 'json'])).map((s) => s.Name);
    assert.ok(names.includes('before-kill') && names.includes(`after-kill-${i}`), names.join(','));
  }
  const taken = await c.cli(others[1], ['service', 'create', '--name', 'before-kill', 'flotilla/busybox:test']);
  assert.equal(taken.code, 1);
  assert.match(taken.stderr, /already exists/);
  assert.equal(taken.stderr.trim().split('\n').length, 1);
  await c.restart(li);
  await waitHealthy(others[0], 5);
});

test('a leader stopped with SIGTERM hands its leadership to another manager before it exits', async () => {
  const leader = (await nodes(0)).find((n) => n.managerStatus?.leader);
  assert.ok(leader);
  const li = c.nodes.findIndex((d) => d.address === leader.status.address);
  const others = M.filter((i) => i !== li);
  const termBefore = (JSON.parse((await c.cliOk(others[0], ['cluster', 'info', '--format', 'json'])).stdout) as { term: number }).term;
  await c.kill(li, 'SIGTERM');
  const log = readFileSync(`${c.node(li).dataDir}.log`, 'utf8');
  const handed = log
    .split('\n')
    .filter((l) => l.includes('leadership handed over before stopping'))
    .map((l) => JSON.parse(l) as { to: string; term: number })
    .pop();
  assert.ok(handed, 'the stopping leader says whom it handed leadership to');
  assert.equal(handed.term, termBefore + 1, 'a transfer is one election, won at once');
  const info = JSON.parse((await c.cliOk(others[0], ['cluster', 'info', '--format', 'json'])).stdout) as { leaderId: string; term: number };
  assert.equal(info.leaderId, handed.to, 'the managers follow the one it named');
  assert.equal(info.term, handed.term);
  await c.restart(li);
  await waitHealthy(others[0], 5);
});

test('restarting every daemon from its data dir brings back the same cluster with nothing lost', async () => {
  const nodesBefore = (await nodes(0)).map((n) => ({ id: n.id, role: n.role, address: n.status.address })).sort((a, b) => a.id.localeCompare(b.id));
  const servicesBefore = (await c.storedServices(0)).map((s) => [s.id, s.spec.name, s.version]);
  const tokensBefore = (await c.cliOk(0, ['join-token', 'manager', '-q'])).stdout;
  await Promise.all(c.nodes.map((_, i) => c.kill(i)));
  for (let i = 0; i < 5; i++) await c.restart(i);
  const after = await waitHealthy(1, 5);
  assert.deepEqual(after.map((n) => ({ id: n.id, role: n.role, address: n.status.address })).sort((a, b) => a.id.localeCompare(b.id)), nodesBefore);
  const servicesAfter = (await c.storedServices(2)).map((s) => [s.id, s.spec.name, s.version]);
  assert.deepEqual(servicesAfter.sort(), servicesBefore.sort());
  assert.equal((await c.cliOk(0, ['join-token', 'manager', '-q'])).stdout, tokensBefore);
});

test('a node that joined is Unknown until its agent opens a session, and marked down when none comes', async () => {
  // A certificate issued with the worker token, and no agent behind it.
  const token = (await c.cliOk(0, ['join-token', 'worker', '-q'])).stdout.trim();
  const caPem = readFileSync(join(c.node(0).dataDir, 'certificates', 'root-ca.crt'), 'utf8');
  const ca = new (loadCaProto().Client)(c.node(1).address, anonymousChannelCredentials(caPem), NODE_CHANNEL_OPTIONS);
  let nodeId = '';
  try {
    const keyPem = generateNodeKey();
    nodeId = (await unary<object, { nodeId: string }>(ca, 'IssueNodeCertificate', { csrPem: await createCSR(keyPem), token, advertiseAddr: '', hostname: 'no-agent' }, { deadlineMs: 20_000 })).nodeId;
  } finally {
    ca.close();
  }
  const joined = (await nodes(0)).find((n) => n.id === nodeId);
  assert.equal(joined?.status.state, 'unknown', 'not ready before its agent connects: nothing may be scheduled there yet');
  assert.equal(joined?.status.message, 'joined: waiting for its agent to connect');
  assert.match((await c.cliOk(0, ['node', 'ls'])).stdout, /no-agent\s+Unknown\s+Active/);
  // Marked down once the heartbeat grace (at least 10 s for a new node) passes without a session.
  let state = '';
  await c.waitFor(
    async () => {
      state = (await nodes(2)).find((n) => n.id === nodeId)?.status.state ?? '';
      return state === 'down';
    },
    30_000,
    `node ${nodeId} marked down (last seen ${state})`,
  );
  await c.cliOk(0, ['node', 'rm', nodeId]);
  assert.equal((await nodes(0)).length, 5);
});
