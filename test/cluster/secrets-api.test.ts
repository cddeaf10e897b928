// Secrets and configs on real daemons (issue 17, parts 1, 2 and 5): a
// manager and a worker on loopback (127.0.0.210-211:7710) and the real
// Docker engine, every operator step through the real `flotilla` CLI:
// create, ls, inspect (never a secret's data), rm, the size limit, removal
// refused while a service uses one, `service update --secret-add` rolling
// the tasks, and `secret rotate` rolling the service to the next version.
// What is asserted is specs, versions and task sets: the files inside the
// containers are the dispatcher's and the agent's (a task may fail to start
// until they deliver them; the update config here continues past failures).
//
//   npx tsc -p tsconfig.json && node --test dist/test/cluster/secrets-api.test.js
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DaemonCluster } from '../../src/testing/daemon-cluster.js';
import { TaskState, type Service, type Task } from '../../src/api/objects.js';
import { connect, type Control } from '../../src/cli/connection.js';
import { findService, listNodes, listTasks } from '../../src/cli/lookup.js';
import { LABEL_CLUSTER_ID } from '../../src/worker/exec/docker/labels.js';
import { requireEngine, TEST_IMAGE } from '../worker/engine.js';

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
  control = connect({ host: `unix://${join(c.node(0).dataDir, 'control.sock')}`, env: {}, timeoutMs: 15_000 });
  await c.waitFor(async () => (await listNodes(control)).filter((n) => n.status.state === 'ready').length === 2, 30_000, 'two ready nodes');
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
  assert.match(await ok(['secret', 'ls']), new RegExp(`^ID +NAME +CREATED +UPDATED\\n${id} +db-pw +\\S`));
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

test('a service uses a secret: removal refused naming it; --secret-add rolls the tasks; secret rotate rolls the service to the next version', { skip }, async () => {
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
  await rolledOut('web', new Set(second.map((t) => t.id)), [nextId, tlsId]);
  assert.match(await ok(['secret', 'ls']), new RegExp(`\\n${dbId} +api-key~1 +`));
  // The earlier version is kept while a rollback would use it.
  assert.match(await fails(['secret', 'rm', 'api-key~1']), /is in use by service "web" \(its previous spec, which a rollback returns to\)/);

  await ok(['service', 'rm', 'web']);
  assert.equal(await ok(['secret', 'rm', 'api-key~1', 'api-key', 'tls']), 'api-key~1\napi-key\ntls\n');
});
