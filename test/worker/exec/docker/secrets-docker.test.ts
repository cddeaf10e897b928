// Secrets and configs of a task on the real engine, through the agent and the
// Docker executor: inside the container the secret is a read-only file on a
// tmpfs at /run/secrets/TARGET with the reference's owner and mode (and the
// config at its path); `docker inspect` shows the mount's source path and
// nothing of the data; the host files go with the container; a files
// directory that is not on a tmpfs refuses the task; the files of a running
// container survive an agent restart (and are put back when missing), while
// leftovers nobody mounts are swept.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type Docker from 'dockerode';
import { DockerExecutor } from '../../../../src/worker/exec/docker/docker-executor.js';
import { DEFAULT_FILES_ROOT, TMPFS_MAGIC } from '../../../../src/worker/exec/docker/task-files.js';
import { TaskFilesError } from '../../../../src/worker/exec/executor.js';
import { Agent } from '../../../../src/worker/agent.js';
import { HeldFiles, type AssignedFiles } from '../../../../src/worker/files.js';
import { TaskState, type FileReference, type Task } from '../../../../src/api/objects.js';
import { Collector, clusterContainers, execIn, makeTask, removeClusterContainers, requireEngine, uniqueClusterId, waitFor } from '../../engine.js';
import { config, secret } from '../../../manager/store-fixtures.js';

const engine = await requireEngine('secrets-docker.test');
const skip = engine.skip;
const clusterId = uniqueClusterId('secrets');
const owner = { clusterId, nodeId: `node-${clusterId}` };
const nodeDir = join(DEFAULT_FILES_ROOT, owner.nodeId.replace(/[^a-zA-Z0-9_-]/g, '_'));

const SECRET_TEXT = 'pw-7f3a9c-the-secret-value';
const SECRET_B64 = Buffer.from(SECRET_TEXT).toString('base64');
const CONFIG_TEXT = 'listen=8080 # the-config-value';
const sec1 = secret('sec1', 'db_password', SECRET_B64);
const cfg1 = config('cfg1', 'app.conf', Buffer.from(CONFIG_TEXT).toString('base64'));
const FILES: AssignedFiles = { secrets: [sec1], removedSecretIds: [], configs: [cfg1], removedConfigIds: [] };

const secretRef: FileReference = { id: 'sec1', name: 'db_password', target: 'db_password', uid: '1000', gid: '1000', mode: 0o400 };
const configRef: FileReference = { id: 'cfg1', name: 'app.conf', target: '/etc/app.conf', uid: '0', gid: '0', mode: 0o444 };

after(async () => {
  if (skip) return;
  await removeClusterContainers(engine.docker, clusterId);
  rmSync(nodeDir, { recursive: true, force: true });
});

function withFiles(): Task {
  const t = makeTask({ command: ['sleep', '3600'], stopGracePeriodMs: 200 });
  return { ...t, nodeId: owner.nodeId, spec: { ...t.spec, container: { ...t.spec.container, secrets: [secretRef], configs: [configRef] } } };
}

function quietLogger(): { logger: Logger; text: () => string } {
  let raw = '';
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      raw += chunk.toString();
      cb();
    },
  });
  return { logger: pino({ level: 'trace' }, sink), text: () => raw };
}

function exec(containerId: string, cmd: string[], user = ''): Promise<{ out: string; code: number }> {
  return execIn(engine.docker, containerId, cmd, user);
}

function fileSources(info: Docker.ContainerInspectInfo): string[] {
  return (info.Mounts ?? []).filter((m) => m.Source.startsWith(DEFAULT_FILES_ROOT)).map((m) => m.Source);
}

test('the secret is a read-only file on a tmpfs at /run/secrets/TARGET with its owner and mode, the config at its path; docker inspect shows no data; the host files go with the container', { skip }, async () => {
  const executor = new DockerExecutor({ docker: engine.docker, nodeId: owner.nodeId });
  const c = new Collector();
  const log = quietLogger();
  const agent = new Agent({ executor, ...owner, reporter: c.reporter, batchMs: 20, logger: log.logger });
  await agent.start();
  const t = withFiles();
  await agent.assign([t], FILES);
  const running = await c.reached(t.id, TaskState.RUNNING, 30_000);
  assert.equal(running.state, TaskState.RUNNING, running.message);
  const id = running.containerId;

  // docker exec CONTAINER cat /proc/mounts: both targets are tmpfs mounts, read-only.
  const mounts = (await exec(id, ['cat', '/proc/mounts'])).out.split('\n');
  for (const target of ['/run/secrets/db_password', '/etc/app.conf']) {
    const line = mounts.find((l) => l.split(' ')[1] === target);
    assert.ok(line, `${target} in /proc/mounts:\n${mounts.join('\n')}`);
    const [, , fstype, options] = line.split(' ');
    assert.equal(fstype, 'tmpfs', line);
    assert.ok(options.split(',').includes('ro'), line);
  }
  // ls -ln: owner and mode.
  const ls = (await exec(id, ['ls', '-ln', '/run/secrets/db_password', '/etc/app.conf'])).out;
  assert.match(ls, /^-r-------- +1 +1000 +1000 +26 .* \/run\/secrets\/db_password$/m, ls);
  assert.match(ls, /^-r--r--r-- +1 +0 +0 +30 .* \/etc\/app\.conf$/m, ls);
  // cat: the content; the owner reads it, another user cannot; nobody writes it.
  assert.equal((await exec(id, ['cat', '/run/secrets/db_password'])).out, SECRET_TEXT);
  assert.equal((await exec(id, ['cat', '/etc/app.conf'])).out, CONFIG_TEXT);
  assert.equal((await exec(id, ['cat', '/run/secrets/db_password'], '1000')).out, SECRET_TEXT);
  const other = await exec(id, ['cat', '/run/secrets/db_password'], '1001');
  assert.notEqual(other.code, 0, other.out);
  assert.match(other.out, /Permission denied/);
  const write = await exec(id, ['sh', '-c', 'echo x > /run/secrets/db_password']);
  assert.notEqual(write.code, 0, 'read-only');

  // docker inspect: the mount's source path, nothing of the data (neither the text nor its base64).
  const info = await engine.docker.getContainer(id).inspect();
  const json = JSON.stringify(info);
  for (const leak of [SECRET_TEXT, SECRET_B64, CONFIG_TEXT, cfg1.spec.data]) assert.ok(!json.includes(leak), `docker inspect shows ${leak}`);
  const sources = fileSources(info);
  assert.equal(sources.length, 2, JSON.stringify(info.Mounts));
  for (const s of sources) {
    assert.ok(s.startsWith(`${nodeDir}/`), s);
    assert.equal(statfsSync(s).type, TMPFS_MAGIC, `${s} is on a tmpfs`);
  }
  const dir = join(sources[0], '..');
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(nodeDir).mode & 0o777, 0o700);

  // The task goes: its container and its files go.
  await agent.assign([], { secrets: [], removedSecretIds: [], configs: [], removedConfigIds: [] });
  await waitFor('container removed', async () => (await clusterContainers(engine.docker, clusterId)).every((x) => x.Id !== id), 20_000);
  await waitFor('host files removed', () => !existsSync(dir), 5_000);
  await agent.stop();
  assert.deepEqual(agent.heldFiles(), { secretIds: [], configIds: [] });
  const text = log.text();
  assert.ok(!text.includes(SECRET_TEXT) && !text.includes(SECRET_B64) && !text.includes(CONFIG_TEXT), 'no data in the logs');
  assert.match(text, /"secretIds":\["sec1"\],"configIds":\["cfg1"\],"msg":"secrets and configs held"/);
});

test('a files directory that is not on a tmpfs refuses the task (REJECTED, one line) and writes nothing', { skip }, async () => {
  const onDisk = mkdtempSync(join(process.cwd(), '.secrets-on-disk-'));
  try {
    if (statfsSync(onDisk).type === TMPFS_MAGIC) {
      process.stderr.write(`\n!!! ${onDisk} is on a tmpfs here: the refusal is not tested\n\n`);
      return;
    }
    const executor = new DockerExecutor({ docker: engine.docker, nodeId: owner.nodeId, filesDir: join(onDisk, 'flotilla') });
    const t = withFiles();
    const files = new HeldFiles();
    files.apply(FILES, true);
    await assert.rejects(executor.prepare(t, owner, undefined, files.forTask(t)), (e: Error) => e instanceof TaskFilesError && /is not on one \(filesystem type 0x/.test(e.message) && !e.message.includes('\n'));
    const node = join(onDisk, 'flotilla', owner.nodeId.replace(/[^a-zA-Z0-9_-]/g, '_'));
    assert.deepEqual(existsSync(node) ? readdirSync(node) : [], [], 'no file written');
    assert.equal((await clusterContainers(engine.docker, clusterId)).filter((x) => x.Labels['com.flotilla.task.id'] === t.id).length, 0, 'no container');

    // Through the agent: REJECTED with that message.
    const c = new Collector();
    const agent = new Agent({ executor, ...owner, reporter: c.reporter, batchMs: 20 });
    await agent.start();
    await agent.assign([t], FILES);
    const end = await c.reached(t.id, TaskState.REJECTED, 20_000);
    await agent.stop();
    assert.match(end.err, /^secrets and configs are kept on a tmpfs only, and .* is not on one/);
  } finally {
    rmSync(onDisk, { recursive: true, force: true });
  }
});

test('an agent restart keeps the files of a running container (and puts back a missing one); leftovers no container mounts are swept', { skip }, async () => {
  const c = new Collector();
  const first = new Agent({ executor: new DockerExecutor({ docker: engine.docker, nodeId: owner.nodeId }), ...owner, reporter: c.reporter, batchMs: 20 });
  await first.start();
  const t = withFiles();
  await first.assign([t], FILES);
  const running = await c.reached(t.id, TaskState.RUNNING, 30_000);
  await first.stop(); // as after a kill -9 of the daemon: the container runs on
  const sources = fileSources(await engine.docker.getContainer(running.containerId).inspect());
  const secretSource = sources.find((s) => s.endsWith('/0')) ?? '';
  const dir = join(secretSource, '..');
  // A leftover (a container removed while no agent ran) and a lost file.
  const leftover = join(nodeDir, 'gone-task.0badc0de');
  mkdirSync(join(leftover), { recursive: true, mode: 0o700 });
  unlinkSync(secretSource);

  const c2 = new Collector();
  const second = new Agent({ executor: new DockerExecutor({ docker: engine.docker, nodeId: owner.nodeId }), ...owner, reporter: c2.reporter, batchMs: 20 });
  await second.start();
  assert.equal(existsSync(leftover), false, 'the leftover is swept at start');
  assert.equal(existsSync(dir), true, "the running container's files stay");
  await second.assign([{ ...t, status: { ...t.status, state: TaskState.RUNNING, containerId: running.containerId } }], FILES);
  await waitFor('the secret file put back', () => existsSync(secretSource), 10_000);
  assert.equal(statSync(secretSource).mode & 0o777, 0o400);
  assert.equal(statSync(secretSource).uid, 1000);
  // The container still reads the secret (through its mount, alive all along).
  assert.equal((await exec(running.containerId, ['cat', '/run/secrets/db_password'])).out, SECRET_TEXT);
  await second.assign([], { secrets: [], removedSecretIds: [], configs: [], removedConfigIds: [] });
  await waitFor('files removed with the container', () => !existsSync(dir), 20_000);
  await second.stop();
});
