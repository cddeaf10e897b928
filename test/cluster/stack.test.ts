// Stacks (issue 20) on real daemons and the real engine: a manager and a
// worker on loopback (127.0.0.46-47:7746). A compose file with a web front
// end, a cache, a database (a named volume, a secret from a file, placed on
// the manager) and a worker, on two networks, with depends_on:
// - every service runs; the database starts first, the web after the cache;
//   the secret is a file in the database's container; the volume exists;
// - a service reaches another on a network they share, by its short name
//   (docker stack's alias) or its full one, and not one it shares none with;
// - deploying the same file again changes no service (versions unchanged);
//   changing one image updates only that service;
// - --prune removes the service the file dropped; `stack rm` leaves nothing;
// - bad files are one-line errors naming the place, and create nothing.
//
//   npm run build && node --test dist/test/cluster/stack.test.js
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DaemonCluster } from '../../src/testing/daemon-cluster.js';
import { clusterContainers, execIn, removeClusterContainers, removeClusterNetworks, requireEngine, TEST_IMAGE } from '../worker/engine.js';
import { LABEL_CLUSTER_ID } from '../../src/worker/exec/docker/labels.js';

const FILE = 'test/cluster/stack.test.ts';
const engine = await requireEngine(FILE);
const skip = engine.skip !== false;
const docker = engine.docker;
const base = mkdtempSync(join(tmpdir(), 'flotilla-stack-'));
const c = new DaemonCluster({ baseDir: base, firstHost: 46, port: 7746, nodeStatusMs: 500 });
const IMAGE2 = 'flotilla/busybox:stack-test2';
let clusterId = '';

/** An HTTP server answering its own name on PORT. */
const serve = (name: string, port: number): string => `["sh", "-c", "mkdir -p /www && echo ${name} > /www/index.html && exec httpd -f -p ${port} -h /www"]`;

function composeFile(o: { webImage?: string; withWorker?: boolean } = {}): string {
  return `version: "3.8"
services:
  db:
    image: ${TEST_IMAGE}
    command: ${serve('db', 5432)}
    labels: [com.example.role=database]
    # A service's virtual IP serves the ports its image EXPOSEs, those it publishes, and those under expose:
    # (the test image exposes none). Docker ignores expose: (its virtual IP forwards every port); flotilla serves it.
    expose: ["5432"]
    volumes:
      - dbdata:/data
    secrets:
      - db_password
    networks:
      back: {aliases: [database]}
    deploy:
      placement:
        constraints: [node.role == manager]
  cache:
    image: ${TEST_IMAGE}
    command: ${serve('cache', 6379)}
    # Published (left at 0, the cluster picks the port): the virtual IP serves it too.
    ports: ["6379"]
    # An alias on one of its two networks: answered there only.
    networks:
      front:
      back: {aliases: [kv]}
  web:
    image: ${o.webImage ?? TEST_IMAGE}
    command: ${serve('web', 8080)}
    networks: [front]
    depends_on: [cache]
    deploy:
      # No virtual IP: its name answers its tasks' own addresses.
      endpoint_mode: dnsrr
      replicas: 2
      placement:
        max_replicas_per_node: 1
${
  o.withWorker === false
    ? ''
    : `  worker:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec sleep 100000"]
    networks: [back]
`
}networks:
  front: {}
  back: {}
volumes:
  dbdata: {}
secrets:
  db_password:
    file: ./db_password.txt
`;
}

const dir = join(base, 'app');
const composePath = join(dir, 'docker-compose.yml');

before(async () => {
  if (skip) return;
  await docker.getImage(TEST_IMAGE).tag({ repo: IMAGE2.split(':')[0], tag: IMAGE2.split(':')[1] });
  await c.init(0);
  await c.join(1, 'worker');
  await c.waitFor(async () => (await c.storedNodes(0).catch(() => [])).filter((n) => n.status.state === 'ready').length === 2, 60_000, 'two ready nodes');
  clusterId = (JSON.parse((await c.cliOk(0, ['cluster', 'info', '--format', 'json'])).stdout) as { cluster: { id: string } }).cluster.id;
  rmSync(dir, { recursive: true, force: true });
  (await import('node:fs')).mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'db_password.txt'), 's3cret-from-a-file\n');
}, { timeout: 120_000 });

after(async () => {
  await c.stop();
  if (clusterId) {
    await removeClusterContainers(docker, clusterId).catch(() => 0);
    await removeClusterNetworks(docker, clusterId).catch(() => 0);
  }
  await docker.getImage(IMAGE2).remove().catch(() => undefined);
  await docker.getVolume('app_dbdata').remove().catch(() => undefined);
  if (process.env.KEEP_CLUSTER_DIRS !== '1') rmSync(base, { recursive: true, force: true });
});

async function versions(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const s of await c.storedServices(0)) out[s.spec.name] = s.version;
  return out;
}

async function runningContainer(service: string): Promise<string> {
  let id = '';
  await c.waitFor(
    async () => {
      const list = await docker.listContainers({ filters: { label: [`com.flotilla.cluster.id=${clusterId}`], status: ['running'] } });
      id = list.find((x) => x.Names.some((n) => n.startsWith(`/${service}.`)))?.Id ?? '';
      return id !== '';
    },
    60_000,
    `a running container of ${service}`,
  );
  return id;
}

test('deploy: every service runs, in depends_on order; the secret and the volume are there', { skip }, async () => {
  writeFileSync(composePath, composeFile());
  const r = await c.cli(0, ['stack', 'deploy', '-c', composePath, 'app'], 180_000);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  for (const n of ['Creating network app_front', 'Creating network app_back', 'Creating secret app_db_password']) assert.ok(lines.includes(n), `${n} in:\n${r.stdout}`);
  // depends_on: the web is created once the cache runs; otherwise by name, as docker does.
  const order = lines.filter((l) => l.startsWith('Creating service ')).map((l) => l.slice('Creating service '.length));
  assert.deepEqual(order, ['app_cache', 'app_db', 'app_web', 'app_worker']);
  assert.ok(lines.indexOf('Waiting for service app_cache to be running before creating app_web') < lines.indexOf('Creating service app_web'));
  const ls = (await c.cliOk(0, ['stack', 'services', 'app', '--format', '{{.Name}} {{.Replicas}}'])).stdout;
  assert.equal(ls, 'app_cache 1/1\napp_db 1/1\napp_web 2/2 (max 1 per node)\napp_worker 1/1\n');
  assert.equal((await c.cliOk(0, ['stack', 'ls'])).stdout, 'NAME      SERVICES\napp       4\n');
  const db = await runningContainer('app_db');
  assert.equal((await execIn(docker, db, ['cat', '/run/secrets/db_password'])).out, 's3cret-from-a-file\n');
  // The service's labels: are its containers'.
  assert.equal((await docker.getContainer(db).inspect()).Config.Labels['com.example.role'], 'database');
  const volume = await docker.getVolume('app_dbdata').inspect();
  assert.equal(volume.Name, 'app_dbdata');
  // The database is on the manager, as placed.
  const manager = (await c.storedNodes(0)).find((n) => n.role === 'manager');
  const dbTask = (await c.storedTasks(0, 'app_db')).find((t) => t.desiredState === 512);
  assert.equal(dbTask?.nodeId, manager?.id);
  // max_replicas_per_node: 1 spreads the web's two replicas over the two nodes.
  const webNodes = (await c.storedTasks(0, 'app_web')).filter((t) => t.desiredState === 512).map((t) => t.nodeId);
  assert.equal(new Set(webNodes).size, 2, webNodes.join(' '));
});

test('services reach those they share a network with, by name, and not the others', { skip }, async () => {
  const web = await runningContainer('app_web');
  // busybox's static wget crashes (SIGSEGV) in these containers: an HTTP/1.0 request through nc instead.
  const get = async (container: string, host: string, port: number): Promise<string> =>
    (await execIn(docker, container, ['sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${port}`])).out.split('\r\n\r\n')[1] ?? '';
  // By name: the container's resolver answers the service's virtual IP, which answers on the port.
  const resolve = async (container: string, name: string): Promise<string | undefined> =>
    /Address: (10\.\d+\.\d+\.\d+)/.exec((await execIn(docker, container, ['nslookup', name])).out.split('Name:')[1] ?? '')?.[1];
  const reach = async (container: string, name: string, port: number, answer: string): Promise<void> => {
    await c.waitFor(async () => {
      const vip = await resolve(container, name);
      return vip !== undefined && (await get(container, vip, port)) === answer;
    }, 30_000, `${name}:${port} to answer ${JSON.stringify(answer)} by name`);
  };
  // By the service's short name (docker stack's network alias) and by its full name.
  await reach(web, 'cache', 6379, 'cache\n');
  await reach(web, 'app_cache', 6379, 'cache\n');
  const worker = await runningContainer('app_worker');
  await reach(worker, 'db', 5432, 'db\n');
  // The web shares no network with the database: neither name resolves there.
  assert.equal(await resolve(web, 'db'), undefined);
  assert.equal(await resolve(web, 'app_db'), undefined);
  // Per-network aliases: the database's on its one network; the cache's `kv` on back only, not on front.
  await reach(worker, 'database', 5432, 'db\n');
  await reach(worker, 'kv', 6379, 'cache\n');
  assert.equal(await resolve(web, 'kv'), undefined, 'the web shares front with the cache, where kv is not its name');
  assert.equal(await resolve(web, 'database'), undefined);
  // endpoint_mode dnsrr: from the cache (on front), the web's name answers both tasks' own addresses, each serving.
  const cache = await runningContainer('app_cache');
  let addresses: string[] = [];
  await c.waitFor(async () => {
    const out = (await execIn(docker, cache, ['nslookup', 'web'])).out.split('Name:').slice(1).join('');
    addresses = [...out.matchAll(/Address:\s*(\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]);
    return addresses.length === 2;
  }, 30_000, 'web to resolve to its two tasks');
  const taskAddresses = new Set<string>();
  for (const t of (await c.storedTasks(0, 'app_web')).filter((x) => x.desiredState === 512)) for (const n of t.status.networks ?? []) taskAddresses.add(n.address);
  assert.deepEqual([...addresses].sort(), [...taskAddresses].sort(), 'the tasks\' addresses, no virtual IP');
  for (const ip of addresses) assert.equal(await get(cache, ip, 8080), 'web\n', `the web task at ${ip}`);
});

test('the same file again changes nothing; one image changed updates only that service', { skip }, async () => {
  const before = await versions();
  const dry = await c.cliOk(0, ['stack', 'deploy', '--dry-run', '-c', composePath, 'app']);
  assert.equal(dry.stdout, 'Unchanged service app_cache\nUnchanged service app_db\nUnchanged service app_web\nUnchanged service app_worker\n');
  const again = await c.cli(0, ['stack', 'deploy', '-c', composePath, 'app'], 120_000);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(await versions(), before);

  writeFileSync(composePath, composeFile({ webImage: IMAGE2 }));
  const plan = await c.cliOk(0, ['stack', 'deploy', '--dry-run', '-c', composePath, 'app']);
  assert.match(plan.stdout, new RegExp(`^Would update service app_web \\(id: \\w+\\):\\n {4}taskTemplate\\.container\\.image: "${TEST_IMAGE}" -> "${IMAGE2}"\\n`, 'm'));
  assert.deepEqual(await versions(), before, '--dry-run changes nothing');
  const r = await c.cli(0, ['stack', 'deploy', '-c', composePath, 'app'], 180_000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Updating service app_web \(id: \w+\)$/m);
  const after = await versions();
  for (const name of ['app_db', 'app_cache', 'app_worker']) assert.equal(after[name], before[name], `${name} unchanged`);
  assert.ok(after.app_web > before.app_web);
  await c.waitFor(async () => (await c.storedTasks(0, 'app_web')).filter((t) => t.desiredState === 512 && t.status.state === 512 && t.spec.container.image === IMAGE2).length === 2, 60_000, 'the web rolled to the new image');
});

test('--prune removes the service the file dropped; `stack rm` leaves nothing behind', { skip }, async () => {
  writeFileSync(composePath, composeFile({ webImage: IMAGE2, withWorker: false }));
  const r = await c.cli(0, ['stack', 'deploy', '--prune', '-c', composePath, 'app'], 120_000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Removing service app_worker$/m);
  assert.deepEqual(Object.keys(await versions()).sort(), ['app_cache', 'app_db', 'app_web']);
  const rm = await c.cli(0, ['stack', 'rm', 'app'], 120_000);
  assert.equal(rm.code, 0, rm.stderr);
  assert.deepEqual(await versions(), {});
  assert.equal((await c.cliOk(0, ['network', 'ls', '-q'])).stdout, '');
  assert.equal((await c.cliOk(0, ['secret', 'ls', '-q'])).stdout, '');
  assert.equal((await c.cliOk(0, ['stack', 'ls'])).stdout, 'NAME      SERVICES\n');
  // On the engine too: the tasks' containers, then the bridges the nodes made for the stack's networks
  // (removed from the cluster before the tasks stopped, they go when their last container does).
  const engineNetworks = async (): Promise<string[]> => (await docker.listNetworks({ filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`] } })).map((n) => n.Name);
  await c.waitFor(async () => (await clusterContainers(docker, clusterId)).length === 0 && (await engineNetworks()).length === 0, 60_000, "the stack's containers and engine networks to go from the engine");
});

test('bad files: one line naming the place, and nothing created', { skip }, async () => {
  const cases: [string, string, RegExp][] = [
    ['unknown key', 'services:\n  web:\n    image: x\n    imagee: y\n', /services\.web.*imagee/],
    ['wrong type', 'services:\n  web:\n    image: x\n    deploy:\n      replicas: three\n', /services\.web\.deploy\.replicas/],
    ['missing file', 'services:\n  web:\n    image: x\n    secrets: [pw]\nsecrets:\n  pw:\n    file: ./nope.txt\n', /nope\.txt/],
    ['undefined variable', 'services:\n  web:\n    image: "busybox:${UNSET_TAG_FOR_TEST}"\n', /UNSET_TAG_FOR_TEST/],
  ];
  for (const [what, text, re] of cases) {
    const p = join(dir, `bad-${what.replace(/ /g, '-')}.yml`);
    writeFileSync(p, text);
    const r = await c.cli(0, ['stack', 'deploy', '-c', p, 'bad']);
    assert.notEqual(r.code, 0, what);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line, got:\n${r.stderr}`);
    assert.match(r.stderr, re, what);
    assert.match(r.stderr, new RegExp(p.split('/').pop()!.replace(/\./g, '\\.')), `${what}: names the file`);
  }
  // From standard input (`-c -`): the same one line, naming the file as given ("-", in the working directory).
  const piped = await c.cli(0, ['stack', 'deploy', '-c', '-', 'bad'], 30_000, cases[0][1]);
  assert.notEqual(piped.code, 0);
  assert.match(piped.stderr, /^flotilla: \S*\/-: services\.web: unknown key "imagee"\n$/);
  assert.deepEqual(await versions(), {});
  assert.equal((await c.cliOk(0, ['network', 'ls', '-q'])).stdout, '');
});

test("docker's own output for the same file (test/cli/golden/stack-*, recorded from docker 28): deploy, ls, rm", { skip }, async () => {
  const golden = (name: string): string => readFileSync(join('test', 'cli', 'golden', name), 'utf8');
  const gdir = join(base, 'golden');
  (await import('node:fs')).mkdirSync(gdir, { recursive: true });
  copyFileSync(join('test', 'cli', 'golden', 'stack-compose.yml'), join(gdir, 'docker-compose.yml'));
  writeFileSync(join(gdir, 'pw.txt'), 'pw\n');
  const r = await c.cli(0, ['stack', 'deploy', '-c', join(gdir, 'docker-compose.yml'), 'app'], 120_000);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, golden('stack-deploy.stdout.txt'));
  // Docker 28 adds a notice that it did not wait (--detach's default is to change); flotilla waits by default.
  assert.equal(r.stderr, golden('stack-deploy.stderr.txt').split('Since --detach=false')[0]);
  assert.equal((await c.cliOk(0, ['stack', 'ls'])).stdout, golden('stack-ls.table.txt'));
  assert.equal((await c.cliOk(0, ['stack', 'ls', '--format', 'json'])).stdout, golden('stack-ls.json.txt'));
  const rm = await c.cli(0, ['stack', 'rm', 'app'], 120_000);
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal(rm.stdout, golden('stack-rm.stdout.txt'));
  const again = await c.cli(0, ['stack', 'rm', 'app']);
  assert.deepEqual([again.code, again.stdout, again.stderr], [0, '', 'Nothing found in stack: app\n']);
  // As docker: stack services only says so; stack ps fails.
  const services = await c.cli(0, ['stack', 'services', 'app']);
  assert.deepEqual([services.code, services.stdout, services.stderr], [0, '', 'Nothing found in stack: app\n']);
  const ps = await c.cli(0, ['stack', 'ps', 'app']);
  assert.deepEqual([ps.code, ps.stdout, ps.stderr], [1, '', 'flotilla: nothing found in stack: app\n']);
});
