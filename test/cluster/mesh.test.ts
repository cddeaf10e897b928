// Service networking (issue 16) on real daemons and the real Docker engine: a
// manager and two workers on loopback (127.0.0.140-142:7640), every operator
// action through the `flotilla` CLI, every request a real TCP connection from
// this process to a node's published port or from a container to a service.
// - the routing mesh: a 3-replica HTTP service answering with its container's
//   hostname, one task per node; 30 requests through each node's published
//   port reach the 3 replicas in round-robin order; a second service
//   publishing the same port is refused, naming the first; host mode binds
//   the port on its task's node only; a port left out is assigned from the
//   range;
// - discovery: a client container on the service's network resolves `web` (its
//   virtual IP on the client's node) and `tasks.web` (the tasks' addresses) and
//   gets answers through the name; a container on another network does not
//   resolve it;
// - health: a start-first rolling update and a scale down under a steady
//   client fail no request; kill -9 of a worker (its containers killed too, as
//   when a host dies) fails at most the request in flight there, and the next
//   ones reach the others.
// Every wait is bounded; the containers and networks of the cluster are
// removed at the end.
//
//   npx tsc -p tsconfig.json && node --test dist/test/cluster/mesh.test.js
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DaemonCluster } from '../../src/testing/daemon-cluster.js';
import { LABEL_CLUSTER_ID, LABEL_NODE_ID, LABEL_SERVICE_NAME } from '../../src/worker/exec/docker/labels.js';
import { execIn, requireEngine, TEST_IMAGE } from '../worker/engine.js';
import { NodeAddresses } from '../../src/network/node-addresses.js';

const engine = await requireEngine('test/cluster/mesh.test.ts');
const skip = engine.skip !== false;
const docker = engine.docker;
const base = mkdtempSync(join(tmpdir(), 'flotilla-mesh-'));
/** The cluster's VIP pool is 10.<FIRST_HOST>.0.0/16 (DaemonCluster). */
const FIRST_HOST = 140;
const c = new DaemonCluster({ baseDir: base, firstHost: FIRST_HOST, port: 7640, nodeStatusMs: 500 });
const NODES = [0, 1, 2];
let clusterId = '';
/** An HTTP server on 8080 that answers every request with its container's hostname (busybox httpd). */
const HOSTNAME_SERVER = ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www'];

before(async () => {
  if (skip) return;
  await c.init(0);
  await c.join(1, 'worker');
  await c.join(2, 'worker');
  await c.waitFor(async () => (await c.cli(0, ['node', 'ls', '-q'])).stdout.trim().split('\n').length === 3, 30_000, 'three nodes');
  await c.waitFor(async () => !(await c.cli(0, ['node', 'ls'])).stdout.includes('Unknown'), 30_000, 'three ready nodes');
  clusterId = (JSON.parse((await c.cliOk(0, ['cluster', 'info', '--format', 'json'])).stdout) as { cluster: { id: string } }).cluster.id;
});

after(async () => {
  await c.stop();
  if (clusterId) {
    for (const info of await docker.listContainers({ all: true, filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`] } })) {
      await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
    }
    for (const n of await docker.listNetworks({ filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`] } })) {
      await docker.getNetwork(n.Id).remove().catch(() => undefined);
    }
  }
  // A node killed with SIGKILL (the kill -9 test) leaves its DNS address and virtual IPs on lo: take them away.
  const lo = new NodeAddresses();
  for (const a of await lo.list().catch(() => [])) if (a.address.startsWith(`10.${FIRST_HOST}.`)) await lo.remove(a.address).catch(() => undefined);
  if (process.env.KEEP_CLUSTER_DIRS !== '1') rmSync(base, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One GET on a new connection: the body, or an Error (never throws). */
function get(host: string, port: number, timeoutMs = 3000): Promise<string | Error> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/', agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : new Error(`HTTP ${res.statusCode}`)));
      res.on('error', (e) => resolve(e));
      res.on('close', () => resolve(new Error('closed before the end of the body'))); // after 'end', a no-op
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => resolve(e));
    req.end();
  });
}

/** The hostnames (container ids, 12 characters) of a service's running containers, by node index. */
async function containersOf(service: string): Promise<{ id: string; hostname: string; node: string }[]> {
  const list = await docker.listContainers({ filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`, `${LABEL_SERVICE_NAME}=${service}`] } });
  return list.map((x) => ({ id: x.Id, hostname: x.Id.slice(0, 12), node: x.Labels[LABEL_NODE_ID] ?? '' }));
}

/** Until `n` tasks of the service run and the mesh on node 0 answers from all of them. */
async function waitServing(service: string, port: number, n: number): Promise<void> {
  await c.waitFor(async () => (await containersOf(service)).length === n, 60_000, `${n} containers of ${service}`);
  await c.waitFor(
    async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 2 * n; i++) {
        const r = await get(c.node(0).host, port);
        if (typeof r === 'string') seen.add(r);
      }
      return seen.size === n;
    },
    30_000,
    `the mesh to answer from ${n} tasks of ${service}`,
  );
}

/** A client that sends one request after another to host:port until stopped: every answer, and the failures. */
function steadyClient(host: string, port: number): { stop: () => Promise<{ ok: string[]; failed: Error[] }> } {
  const ok: string[] = [];
  const failed: Error[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const r = await get(host, port);
      if (typeof r === 'string') ok.push(r);
      else failed.push(r);
      await sleep(10);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { ok, failed };
    },
  };
}

test('the routing mesh: every node answers on the published port, in round-robin order over the replicas', { skip }, async () => {
  await c.cliOk(0, ['network', 'create', 'front']);
  await c.cliOk(0, ['service', 'create', '-d', '--name', 'web', '--replicas', '3', '--network', 'front', '-p', '8080:8080', TEST_IMAGE, ...HOSTNAME_SERVER]);
  await waitServing('web', 8080, 3);
  const hostnames = new Set((await containersOf('web')).map((x) => x.hostname));
  assert.equal(hostnames.size, 3);
  assert.equal(new Set((await containersOf('web')).map((x) => x.node)).size, 3, 'one replica per node');
  for (const i of NODES) {
    const answers: string[] = [];
    for (let k = 0; k < 30; k++) {
      const r = await get(c.node(i).host, 8080);
      assert.equal(typeof r, 'string', `request ${k} through ${c.node(i).name}: ${String(r)}`);
      answers.push(r as string);
    }
    assert.deepEqual(new Set(answers), hostnames, `through ${c.node(i).name}: every replica answers`);
    for (let k = 3; k < 30; k++) assert.equal(answers[k], answers[k - 3], `through ${c.node(i).name}: round-robin order (${answers.join(' ')})`);
    assert.equal(new Set(answers.slice(0, 3)).size, 3);
  }
});

// The offline node image (scripts/build-image.sh, which .ci/run builds) for a UDP server: busybox has none.
const NODE_IMAGE = process.env.FLOTILLA_IMAGE ?? 'flotilla:local';
const nodeImageMissing = !skip && !(await docker.getImage(NODE_IMAGE).inspect().then(() => true, () => false));
if (nodeImageMissing) process.stderr.write(`\n!!! ${NODE_IMAGE} is missing: the UDP mesh test ${process.env.CI === 'true' ? 'fails (CI)' : 'is skipped'}; build it with \`bash scripts/build-image.sh\`\n\n`);

test('UDP through the mesh: each flow goes to one task, flows round-robin, replies come back', { skip: skip || (nodeImageMissing && process.env.CI !== 'true') }, async () => {
  const image = NODE_IMAGE;
  const server = "const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(require('os').hostname(),r.port,r.address));s.bind(9053)";
  await c.cliOk(0, ['service', 'create', '-d', '--name', 'udp', '--replicas', '2', '-p', '9053:9053/udp', '--entrypoint', 'node', image, '-e', server]);
  await c.waitFor(async () => (await containersOf('udp')).length === 2, 60_000, 'two tasks of udp');
  const names = new Set((await containersOf('udp')).map((x) => x.hostname));
  // Two containers exist before both tasks are RUNNING and in the mesh's backends: wait until both have answered.
  await c.waitFor(
    async () => {
      const seen: string[] = [];
      for (let i = 0; i < 4; i++) seen.push(await udpAsk(c.node(1).host, 9053));
      return seen.every((r) => names.has(r)) && new Set(seen).size === 2;
    },
    30_000,
    'the mesh to answer UDP from both tasks',
  );
  const replies: string[] = [];
  for (let i = 0; i < 4; i++) replies.push(await udpAsk(c.node(1).host, 9053));
  // Each datagram came from a new socket (a new flow): the flows alternate between the two tasks.
  assert.equal(new Set(replies).size, 2, replies.join(' '));
  assert.equal(replies[0], replies[2]);
  assert.equal(replies[1], replies[3]);
  await c.cliOk(0, ['service', 'rm', 'udp']);
});

/** One datagram from a new socket to host:port: the reply's text, or '' after a second. */
function udpAsk(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const done = (text: string): void => {
      clearTimeout(timer);
      s.close();
      resolve(text);
    };
    const timer = setTimeout(() => done(''), 1000);
    s.on('message', (m) => done(m.toString()));
    s.on('error', () => done(''));
    s.send('who', port, host);
  });
}

test('a published port belongs to one service: a second one is refused, naming the first', { skip }, async () => {
  const r = await c.cli(0, ['service', 'create', '-d', '--name', 'clash', '-p', '8080:80', TEST_IMAGE, 'sleep', '3600']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /8080\/tcp is already in use by service "web"/);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.doesNotMatch((await c.cliOk(0, ['service', 'ls'])).stdout, /clash/);
});

test('a port left out is assigned from the range, and the mesh serves it', { skip }, async () => {
  await c.cliOk(0, ['service', 'create', '-d', '--name', 'auto', '-p', '8080', TEST_IMAGE, ...HOSTNAME_SERVER]);
  const ls = (await c.cliOk(0, ['service', 'ls'])).stdout;
  const m = /\*:(\d+)->8080\/tcp/.exec(ls.split('\n').find((l) => l.includes('auto')) ?? '');
  assert.ok(m, `service ls shows the assigned port: ${ls}`);
  const port = Number(m[1]);
  assert.ok(port >= 30000 && port <= 32767, `from Swarm's range: ${port}`);
  await waitServing('auto', port, 1);
  await c.cliOk(0, ['service', 'rm', 'auto']);
});

test('host mode binds the published port on the node of its task only', { skip }, async () => {
  await c.cliOk(0, ['service', 'create', '-d', '--name', 'direct', '--publish', 'mode=host,published=8090,target=8080', TEST_IMAGE, ...HOSTNAME_SERVER]);
  await c.waitFor(async () => (await containersOf('direct')).length === 1, 60_000, 'the host-mode task');
  const [task] = await containersOf('direct');
  await c.waitFor(async () => (await get('127.0.0.1', 8090)) === task.hostname, 30_000, 'the host-mode port to answer');
  const info = await docker.getContainer(task.id).inspect();
  assert.deepEqual(info.HostConfig.PortBindings['8080/tcp'], [{ HostIp: '', HostPort: '8090' }]);
  await c.cliOk(0, ['service', 'rm', 'direct']);
});

test("beyond Swarm: with --proxy-protocol v1 the task reads the client's own address before its bytes", { skip }, async () => {
  // The task appends what each connection brings to /tmp/got (busybox nc, one connection at a time).
  await c.cliOk(0, ['service', 'create', '-d', '--name', 'pp', '--proxy-protocol', 'v1', '-p', '9000:9000', TEST_IMAGE, 'sh', '-c', 'while true; do nc -l -p 9000 >> /tmp/got; done']);
  await c.waitFor(async () => (await containersOf('pp')).length === 1, 60_000, 'the task of pp');
  const [task] = await containersOf('pp');
  let got = '';
  await c.waitFor(
    async () => {
      await send(c.node(1).host, 9000, 'hello\n');
      got = await exec(task.id, ['cat', '/tmp/got']);
      return got.includes('hello');
    },
    30_000,
    'a connection through the mesh to reach pp',
  );
  // The client is this process, whose loopback connections leave from 127.0.0.1; the proxy is n2's, on its address.
  got = `PROXY ${got.split('PROXY ').pop() ?? ''}`;
  assert.match(got, new RegExp(`^PROXY TCP4 127\\.0\\.0\\.1 ${c.node(1).host.replaceAll('.', '\\.')} \\d+ 9000\r\nhello\n$`), JSON.stringify(got));
  await c.cliOk(0, ['service', 'rm', 'pp']);
});

/** Connects, writes `data`, and closes. */
function send(host: string, port: number, data: string): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host, port }, () => s.end(data));
    s.on('close', () => resolve());
    s.on('error', () => resolve());
    s.resume();
  });
}

test('discovery: a container on the network resolves web and tasks.web; one on another network does not', { skip }, async () => {
  await c.cliOk(0, ['network', 'create', 'back']);
  await c.cliOk(0, ['service', 'create', '-d', '--name', 'client', '--network', 'front', TEST_IMAGE, 'sleep', '3600']);
  await c.cliOk(0, ['service', 'create', '-d', '--name', 'outsider', '--network', 'back', TEST_IMAGE, 'sleep', '3600']);
  await c.waitFor(async () => (await containersOf('client')).length === 1 && (await containersOf('outsider')).length === 1, 60_000, 'client and outsider');
  const [client] = await containersOf('client');
  const [outsider] = await containersOf('outsider');
  const webIps = new Set<string>();
  for (const w of await containersOf('web')) {
    const info = await docker.getContainer(w.id).inspect();
    for (const [name, n] of Object.entries(info.NetworkSettings.Networks)) if (name.startsWith('flotilla-')) webIps.add(n.IPAddress);
  }
  assert.equal(webIps.size, 3);
  let resolved = '';
  await c.waitFor(
    async () => {
      resolved = await exec(client.id, ['nslookup', 'web']);
      return /Address: 10\.\d+\.\d+\.\d+/.test(resolved.split('Name:')[1] ?? '');
    },
    30_000,
    'web to resolve in the client',
  );
  const answers = new Set<string>();
  for (let k = 0; k < 6; k++) answers.add((await exec(client.id, ['wget', '-qO-', 'http://web:8080/'])).trim());
  assert.deepEqual(answers, new Set((await containersOf('web')).map((x) => x.hostname)), 'connections to web are balanced over its tasks');
  const tasks = await exec(client.id, ['nslookup', 'tasks.web']);
  const found = new Set([...tasks.slice(Math.max(0, tasks.indexOf('Name:'))).matchAll(/Address: (\d+\.\d+\.\d+\.\d+)/g)].map((x) => x[1]));
  assert.deepEqual(found, webIps, `tasks.web: ${tasks}`);
  const out = await exec(outsider.id, ['nslookup', 'web']);
  assert.doesNotMatch(out.split('Name:')[1] ?? '', /Address: 10\./, `a service on another network does not resolve web: ${out}`);
});

test('a start-first rolling update and a scale down under steady load fail no request', { skip }, async () => {
  const client = steadyClient(c.node(0).host, 8080);
  await sleep(500);
  const before = new Set((await containersOf('web')).map((x) => x.hostname));
  await c.cliOk(0, ['service', 'update', '--update-order', 'start-first', '--update-parallelism', '1', '--force', '-d', 'web']);
  await c.waitFor(async () => (await c.cliOk(0, ['service', 'inspect', 'web'])).stdout.includes('"completed"'), 120_000, 'the update to complete');
  // The old tasks stop after their drain period and their stop grace period (httpd as PID 1 waits for SIGKILL):
  // the client goes on until they are gone.
  await c.waitFor(async () => (await containersOf('web')).every((x) => !before.has(x.hostname)), 60_000, 'the old tasks to stop');
  await sleep(1000);
  const during = await client.stop();
  assert.deepEqual(during.failed, [], `no request failed during the update (${during.ok.length} succeeded)`);
  const after1 = new Set((await containersOf('web')).map((x) => x.hostname));
  assert.equal([...after1].filter((h) => before.has(h)).length, 0, 'every task was replaced');
  assert.ok(during.ok.some((h) => after1.has(h)), 'the new tasks answered');

  const scaling = steadyClient(c.node(1).host, 8080);
  await sleep(500);
  await c.cliOk(0, ['service', 'scale', 'web=1', '-d']);
  await c.waitFor(async () => (await containersOf('web')).length === 1, 60_000, 'one replica left');
  await sleep(1000);
  const down = await scaling.stop();
  assert.deepEqual(down.failed, [], `no request failed during the scale down (${down.ok.length} succeeded)`);
});

test('kill -9 of a worker fails at most the request in flight there; the next ones reach the others', { skip }, async () => {
  await c.cliOk(0, ['service', 'scale', 'web=3', '-d']);
  await waitServing('web', 8080, 3);
  const victim = 2;
  const victimId = (JSON.parse(readFileSync(join(c.node(victim).dataDir, 'node.json'), 'utf8')) as { nodeId: string }).nodeId;
  const doomed = (await containersOf('web')).filter((x) => x.node === victimId);
  assert.equal(doomed.length, 1, 'the worker runs a replica');
  const client = steadyClient(c.node(0).host, 8080);
  await sleep(500);
  // The host goes away: its daemon and its containers at once.
  c.node(victim).proc?.kill('SIGKILL');
  for (const w of doomed) await docker.getContainer(w.id).kill().catch(() => undefined);
  const killedAt = Date.now();
  await sleep(3000);
  const r = await client.stop();
  assert.ok(r.failed.length <= 1, `at most the request in flight failed: ${r.failed.map(String).join(', ')}`);
  const tail = r.ok.slice(-20);
  assert.ok(tail.length === 20 && tail.every((h) => h !== doomed[0].hostname), `after the kill every request reaches the other replicas (${Date.now() - killedAt} ms)`);
});

async function exec(containerId: string, cmd: string[]): Promise<string> {
  return (await execIn(docker, containerId, cmd)).out;
}
