// Secrets and configs on real daemons (issue 17): a manager and two workers
// on loopback (127.0.0.210-212:7710) and the real Docker engine, every
// operator step through the real `flotilla` CLI:
// create, ls, inspect (never a secret's data), rm, the size limit, removal
// refused while a service uses one, `service update --secret-add` rolling
// the tasks, and `secret rotate` rolling the service to the next version
// (asserted on specs, versions and task sets); then delivery: a task's
// secret is a read-only file on a tmpfs with its mode and owner, its config a
// file at its path, nothing of either in `docker inspect`; the worker that
// runs no task using the secret never received it (its agent's log of what it
// holds); a byte scan of every data dir and every daemon log finds neither
// the secret's value nor the CA key (read back by decrypting the manager's
// store); once the service is gone the files are gone from the host.
//
//   npx tsc -p tsconfig.json && node --test dist/test/cluster/secrets-api.test.js
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DaemonCluster } from '../../src/testing/daemon-cluster.js';
import { TaskState, type Service, type Task } from '../../src/api/objects.js';
import { connect, type Control } from '../../src/cli/connection.js';
import { findService, listNodes, listTasks } from '../../src/cli/lookup.js';
import { LABEL_CLUSTER_ID, LABEL_TASK_ID } from '../../src/worker/exec/docker/labels.js';
import { filesUnder, scanFiles } from '../../src/testing/byte-scan.js';
import { readManagerStore } from '../../src/testing/manager-store.js';
import { execIn, requireEngine, TEST_IMAGE } from '../worker/engine.js';

const engine = await requireEngine('test/cluster/secrets-api.test.ts');
const skip = engine.skip !== false;
const docker = engine.docker;
const base = mkdtempSync(join(tmpdir(), 'flotilla-secrets-'));
const c = new DaemonCluster({ baseDir: base, firstHost: 210, port: 7710, nodeStatusMs: 500 });
const PASSWORD = 'p4ss-w0rd-never-shown';
let control: Control;
let clusterId = '';

function file(name: string, data: string | Buffer): string {
  const path = join(base, name);
  writeFileSync(path, data);
  return path;
}

/** `flotilla ARGS` on the manager, which must succeed; its stdout. */
async function ok(args: string[]): Promise<string> {
  return (await c.cliOk(0, args)).stdout;
}

/** `flotilla ARGS` on the manager, which must fail with one line on stderr; that line. */
async function fails(args: string[]): Promise<string> {
  const r = await c.cli(0, args);
  assert.notEqual(r.code, 0, `flotilla ${args.join(' ')} succeeded: ${r.stdout}`);
  assert.match(r.stderr, /^flotilla: [^\n]+\n$/, `one line: ${JSON.stringify(r.stderr)}`);
  return r.stderr.trim();
}

/** The tasks of a service that are meant to run (one per slot once the orchestrator is done). */
async function desired(service: Service): Promise<Task[]> {
  return (await listTasks(control, { serviceIds: [service.id] })).filter((t) => t.desiredState === TaskState.RUNNING);
}

/**
 * Until every slot of `name` has one task meant to run, none of `old`, each
 * with the spec's secrets: the rollout happened, whether or not the tasks
 * could start.
 */
async function rolledOut(name: string, old: ReadonlySet<string>, secretIds: string[]): Promise<Task[]> {
  let last: Task[] = [];
  await c.waitFor(
    async () => {
      const svc = await findService(control, name);
      const tasks = await desired(svc);
      last = tasks;
      const replicas = 'replicated' in svc.spec.mode ? svc.spec.mode.replicated.replicas : 0;
      return (
        tasks.length === replicas &&
        new Set(tasks.map((t) => t.slot)).size === replicas &&
        tasks.every((t) => !old.has(t.id) && JSON.stringify((t.spec.container.secrets ?? []).map((r) => r.id)) === JSON.stringify(secretIds))
      );
    },
    60_000,
    `service ${name} to roll out to secrets ${secretIds.join(', ')}`,
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}; tasks: ${JSON.stringify(last.map((t) => ({ id: t.id, slot: t.slot, state: t.status.state, err: t.status.err })))}`);
  });
  return last;
}

before(async () => {
  if (skip) return;
  await c.init(0);
  await c.join(1, 'worker');
  await c.join(2, 'worker');
  control = connect({ host: `unix://${join(c.node(0).dataDir, 'control.sock')}`, env: {}, timeoutMs: 15_000 });
  await c.waitFor(async () => (await listNodes(control)).filter((n) => n.status.state === 'ready').length === 3, 30_000, 'three ready nodes');
  clusterId = (await control.call('GetCluster', {})).cluster?.meta?.id ?? '';
});

after(async () => {
  control?.close();
  await c.stop();
  if (clusterId) {
    for (const info of await docker.listContainers({ all: true, filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`] } })) {
      await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
    }
  }
  if (process.env.KEEP_CLUSTER_DIRS !== '1') rmSync(base, { recursive: true, force: true });
});

test('secret and config create, ls, inspect and rm through the CLI; the data of a secret is never shown; too much data is one line', { skip }, async () => {
  const id = (await ok(['secret', 'create', '-l', 'team=db', 'db-pw', file('pw', PASSWORD)])).trim();
  assert.match(id, /^[a-z0-9]{25}$/);
  assert.match(await ok(['secret', 'ls']), new RegExp(`^ID +NAME +DRIVER +CREATED +UPDATED\\n${id} +db-pw +\\S`));
  assert.equal(await ok(['secret', 'ls', '-q', '--filter', 'label=team=db']), `${id}\n`);
  const inspected = await ok(['secret', 'inspect', 'db-pw']);
  assert.ok(!inspected.includes(PASSWORD) && !inspected.includes(Buffer.from(PASSWORD).toString('base64')), inspected);
  assert.deepEqual((JSON.parse(inspected) as { Spec: unknown }[])[0].Spec, { Name: 'db-pw', Labels: { team: 'db' } });

  const big = await fails(['secret', 'create', 'big', file('big', Buffer.alloc(600 * 1024, 'x'))]);
  assert.match(big, /^flotilla: secret data is 600 KiB; a secret holds at most 500 KiB: keep larger files in a config \(up to 1000 KiB\) or a volume/);
  assert.match(await fails(['secret', 'create', 'db-pw', file('pw2', 'other')]), /^flotilla: a secret named "db-pw" already exists/);

  const cfg = (await ok(['config', 'create', 'app.conf', file('app.conf', 'level=debug\n')])).trim();
  const [c1] = JSON.parse(await ok(['config', 'inspect', cfg.slice(0, 8)])) as { ID: string; Spec: { Data: string } }[];
  assert.equal(c1.ID, cfg);
  assert.equal(Buffer.from(c1.Spec.Data, 'base64').toString(), 'level=debug\n');

  await ok(['secret', 'create', 'tmp', file('tmp', 'x')]);
  assert.equal(await ok(['secret', 'rm', 'tmp']), 'tmp\n');
  assert.match(await fails(['secret', 'rm', 'tmp']), /^flotilla: secret "tmp" not found/);
  assert.equal(await ok(['config', 'rm', 'app.conf']), 'app.conf\n');
});

test('a service uses a secret: removal refused naming it; --secret-add and --secret-rm roll the tasks; secret rotate rolls the service to the next version', { skip }, async () => {
  const dbId = (await ok(['secret', 'create', 'api-key', file('key', 'k1')])).trim();
  // All slots at once, on past failures: the rollout does not wait for the files to be delivered.
  await ok([
    'service', 'create', '-d', '--name', 'web', '--replicas', '2', '--secret', 'api-key',
    '--update-parallelism', '0', '--update-failure-action', 'continue', '--update-monitor', '1s', '--restart-delay', '1s',
    TEST_IMAGE, 'sleep', '3600',
  ]);
  const web = await findService(control, 'web');
  assert.deepEqual(web.spec.taskTemplate.container.secrets, [{ id: dbId, name: 'api-key', target: 'api-key', uid: '0', gid: '0', mode: 0o444 }]);
  const first = await rolledOut('web', new Set(), [dbId]);

  assert.match(await fails(['secret', 'rm', 'api-key']), /^flotilla: secret "api-key" is in use by service "web": remove it from it first/);
  assert.match(await fails(['service', 'update', '-d', '--secret-add', 'nope', 'web']), /^flotilla: invalid --secret: secret "nope" not found: create it with `flotilla secret create nope FILE`/);
  assert.equal((await findService(control, 'web')).version, web.version, 'a refused update writes nothing');

  const tlsId = (await ok(['secret', 'create', 'tls', file('tls', 'cert')])).trim();
  await ok(['service', 'update', '-d', '--secret-add', 'source=tls,target=/etc/tls.pem,mode=0400', 'web']);
  const added = await findService(control, 'web');
  assert.deepEqual(added.spec.taskTemplate.container.secrets?.[1], { id: tlsId, name: 'tls', target: '/etc/tls.pem', uid: '0', gid: '0', mode: 0o400 });
  const second = await rolledOut('web', new Set(first.map((t) => t.id)), [dbId, tlsId]);
  assert.ok(!(await ok(['service', 'inspect', 'web'])).includes('k1'));

  // Not detached: the new id, the services, then each one's update followed to its end.
  const rotate = await c.cli(0, ['secret', 'rotate', 'api-key', file('key2', 'k2')], 90_000);
  assert.equal(rotate.code, 0, rotate.stderr);
  const [nextId, ...rest] = rotate.stdout.trim().split('\n');
  assert.deepEqual(rest.slice(0, 2), ['web', 'web:']);
  assert.match(rotate.stdout, /\noverall progress: 2 out of 2 tasks\n1\/2: running\n2\/2: running\n[\s\S]*verify: Service converged\n$/);
  assert.notEqual(nextId, dbId);
  const after = await findService(control, 'web');
  assert.ok(after.specVersion > added.specVersion, 'a new spec version');
  assert.deepEqual(after.spec.taskTemplate.container.secrets?.map((r) => [r.id, r.name, r.target]), [
    [nextId, 'api-key', 'api-key'],
    [tlsId, 'tls', '/etc/tls.pem'],
  ]);
  assert.equal(after.previousSpec?.taskTemplate.container.secrets?.[0].id, dbId);
  const third = await rolledOut('web', new Set(second.map((t) => t.id)), [nextId, tlsId]);
  assert.match(await ok(['secret', 'ls']), new RegExp(`\\n${dbId} +api-key~1 +`));
  // The earlier version is kept while a rollback would use it.
  assert.match(await fails(['secret', 'rm', 'api-key~1']), /is in use by service "web" \(its previous spec, which a rollback returns to\)/);

  // Removing a secret rolls the tasks too (by its target here).
  await ok(['service', 'update', '-d', '--secret-rm', '/etc/tls.pem', 'web']);
  assert.deepEqual((await findService(control, 'web')).spec.taskTemplate.container.secrets?.map((r) => r.id), [nextId]);
  await rolledOut('web', new Set(third.map((t) => t.id)), [nextId]);

  await ok(['service', 'rm', 'web']);
  assert.equal(await ok(['secret', 'rm', 'api-key~1', 'api-key', 'tls']), 'api-key~1\napi-key\ntls\n');
});

/** The id of node i, from its data dir. */
function nodeId(i: number): string {
  return (JSON.parse(readFileSync(join(c.node(i).dataDir, 'node.json'), 'utf8')) as { nodeId: string }).nodeId;
}

/** The running container of `service`'s one task, once there is one. */
async function runningContainer(service: string): Promise<{ id: string; taskId: string }> {
  let found: { id: string; taskId: string } | undefined;
  await c.waitFor(
    async () => {
      const svc = await findService(control, service);
      const t = (await desired(svc)).find((x) => x.status.state === TaskState.RUNNING && x.status.containerId);
      if (t) found = { id: t.status.containerId, taskId: t.id };
      return found !== undefined;
    },
    60_000,
    `a running task of ${service}`,
  );
  return found as { id: string; taskId: string };
}

async function exec(container: string, cmd: string[]): Promise<string> {
  return (await execIn(docker, container, cmd)).out;
}

test('delivery: the secret is a read-only tmpfs file with its mode, only on the node that runs a task using it, and on no disk or log', { skip }, async () => {
  const value = `s3cr3t-${randomBytes(16).toString('hex')}`;
  const secretId = (await ok(['secret', 'create', 'vault-pw', file('vault-pw', value)])).trim();
  const otherId = (await ok(['secret', 'create', 'other', file('other', 'not-this-one')])).trim();
  await ok(['config', 'create', 'vault.conf', file('vault.conf', 'listen=8200\n')]);
  const [w1, w2] = [nodeId(1), nodeId(2)];
  await ok([
    'service', 'create', '-d', '--name', 'vault', '--constraint', `node.id==${w1}`,
    '--secret', 'source=vault-pw,target=vault.pw,uid=1000,gid=1000,mode=0400', '--config', 'source=vault.conf,target=/etc/vault.conf',
    TEST_IMAGE, 'sleep', '3600',
  ]);
  // The other worker runs a task with another secret, so its agent does hold secrets: just not this one.
  await ok(['service', 'create', '-d', '--name', 'bystander', '--constraint', `node.id==${w2}`, '--secret', 'other', TEST_IMAGE, 'sleep', '3600']);
  const vault = await runningContainer('vault');
  await runningContainer('bystander');

  const mounts = await exec(vault.id, ['cat', '/proc/mounts']);
  assert.match(mounts, /^\S+ \/run\/secrets\/vault\.pw tmpfs ro[, ]/m, mounts);
  assert.match(mounts, /^\S+ \/etc\/vault\.conf tmpfs ro[, ]/m, mounts);
  assert.match(await exec(vault.id, ['ls', '-ln', '/run/secrets/vault.pw']), /^-r-------- +1 +1000 +1000 +\d+ /);
  assert.match(await exec(vault.id, ['ls', '-ln', '/etc/vault.conf']), /^-r--r--r-- +1 +0 +0 +\d+ /);
  assert.equal(await exec(vault.id, ['cat', '/run/secrets/vault.pw']), value);
  assert.equal(await exec(vault.id, ['cat', '/etc/vault.conf']), 'listen=8200\n');
  const inspect = JSON.stringify(await docker.getContainer(vault.id).inspect());
  assert.ok(!inspect.includes(value) && !inspect.includes(Buffer.from(value).toString('base64')), 'docker inspect shows the mount, not the data');
  assert.ok(!(await ok(['service', 'inspect', 'vault'])).includes(value));

  // What each worker's agent was sent, as it logs what it holds (ids only).
  const held = (i: number): string => readFileSync(`${c.node(i).dataDir}.log`, 'utf8').split('\n').filter((l) => l.includes('secrets and configs held')).join('\n');
  await c.waitFor(() => held(1).includes(secretId) && held(2).includes(otherId), 10_000, 'both agents to log what they hold');
  assert.ok(!held(1).includes(otherId), 'the first worker never held the bystander secret');
  assert.ok(!readFileSync(`${c.node(2).dataDir}.log`, 'utf8').includes(secretId), 'the second worker never heard of the vault secret');
  assert.ok(!held(0).includes(secretId), 'nor did the manager, which runs no task of vault');

  // The byte scan: every file of every data dir and every daemon log; the CA key read back from the manager's store.
  await c.kill(0, 'SIGTERM');
  const store = await readManagerStore(c.node(0).dataDir);
  const caKey = Buffer.from(store.list('cluster')[0].rootCA.keyPem.replace(/-----[^-]+-----|\s+/g, ''), 'base64');
  assert.equal(store.get('secret', secretId)?.spec.data, Buffer.from(value).toString('base64'), 'the store does hold the secret');
  // A P-256 PKCS#8 key's first 36 bytes are the same for every key: the private scalar follows.
  const needles = { value, base64: Buffer.from(value).toString('base64'), caScalar: caKey.subarray(36, 68), caScalarBase64: caKey.toString('base64').slice(48, 90) };
  for (const i of [0, 1, 2]) {
    assert.deepEqual(scanFiles(c.node(i).dataDir, needles), [], `node ${i + 1}'s data dir`);
    const log = readFileSync(`${c.node(i).dataDir}.log`);
    for (const [label, n] of Object.entries(needles)) assert.equal(log.indexOf(n), -1, `node ${i + 1}'s log holds ${label}`);
  }
  assert.ok(filesUnder(c.node(0).dataDir).some((f) => /\.(ldb|log)$/.test(f)), 'the scan covered LevelDB files');

  // Back up; the services go, and their files with them.
  await c.restart(0);
  await c.waitReady(0);
  await ok(['service', 'rm', 'vault', 'bystander']);
  const shm = `/dev/shm/flotilla/${w1}`;
  await c.waitFor(() => !existsSync(shm) || scanFiles(shm, { value }).length === 0, 30_000, 'the secret file to leave the host tmpfs');
  await c.waitFor(async () => (await docker.listContainers({ all: true, filters: { label: [`${LABEL_TASK_ID}=${vault.taskId}`] } })).length === 0, 30_000, 'the container to go');
});
