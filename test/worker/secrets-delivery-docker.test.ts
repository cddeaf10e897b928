// Delivery only where needed, from the leader's store to a container, in one
// process: the real Dispatcher (in-memory store) behind a gRPC server per node
// identity, two agents with their sessions and Docker executors on the real
// engine. w1 runs a task that uses a secret and a config, w2 one that uses
// neither: the container on w1 reads the secret from a tmpfs; w2's agent was
// never sent it (what its session handed over, its held set, its whole log).
// When the task leaves w1, the agent drops the secret and its files go.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { loadDispatcherProto } from '../../src/api/proto.js';
import type { dispatcher } from '../../src/api/wire.js';
import { TaskState, type Service, type Task } from '../../src/api/objects.js';
import { Dispatcher } from '../../src/manager/dispatcher/dispatcher.js';
import { dispatcherServerDefinition } from '../../src/manager/dispatcher/session-encoding.js';
import type { NodeIdentity } from '../../src/manager/ca/ca.js';
import { createAction, deleteAction, updateAction } from '../../src/manager/store/store.js';
import { Agent } from '../../src/worker/agent.js';
import { DockerExecutor } from '../../src/worker/exec/docker/docker-executor.js';
import { DEFAULT_FILES_ROOT } from '../../src/worker/exec/docker/task-files.js';
import type { AssignedFiles } from '../../src/worker/files.js';
import { ManagerSession } from '../../src/worker/session.js';
import { LocalStore } from '../manager/local-store.js';
import { cluster, config, node, secret, service, task } from '../manager/store-fixtures.js';
import { TEST_IMAGE, clusterContainers, removeClusterContainers, requireEngine, uniqueClusterId, waitFor } from './engine.js';

const engine = await requireEngine('secrets-delivery-docker.test');
const skip = engine.skip;
const clusterId = uniqueClusterId('deliver');
const W1 = `w1-${clusterId}`;
const W2 = `w2-${clusterId}`;
const SECRET_TEXT = 's3cr3t-delivered-only-to-w1';
const servers: grpc.Server[] = [];

after(async () => {
  for (const s of servers) s.forceShutdown();
  if (skip) return;
  await removeClusterContainers(engine.docker, clusterId);
  for (const n of [W1, W2]) rmSync(join(DEFAULT_FILES_ROOT, n), { recursive: true, force: true });
});

function peer(nodeId: string): NodeIdentity {
  return { nodeId, role: 'worker', clusterId, notBefore: new Date(0), notAfter: new Date(1e13), serial: '1', fingerprint: 'sha256:0' };
}

function runs(id: string, name: string): Service {
  const s = service(id, name);
  s.spec.taskTemplate.container = { ...s.spec.taskTemplate.container, image: TEST_IMAGE, command: ['sleep'], args: ['3600'], env: [], stopGracePeriodMs: 200 };
  return s;
}

/** The dispatcher's Session, Heartbeat and UpdateTaskStatus for one node identity (no TLS: the server says who calls). */
async function serve(d: Dispatcher, nodeId: string): Promise<string> {
  const server = new grpc.Server();
  servers.push(server);
  server.addService(dispatcherServerDefinition(loadDispatcherProto().service), {
    Session: (call: grpc.ServerWritableStream<dispatcher.SessionRequest__Output, dispatcher.SessionMessage__Output>) => {
      const sink = {
        send: (m: dispatcher.SessionMessage__Output) => void call.write(m),
        close: (code: grpc.status, details: string) => void call.emit('error', { code, details, metadata: new grpc.Metadata() }),
      };
      const sid = d.openSession(peer(nodeId), call.request.description, sink, { incrementalAssignments: call.request.incrementalAssignments });
      call.on('cancelled', () => d.sessionClosed(sid));
    },
    Heartbeat: (call: grpc.ServerUnaryCall<dispatcher.HeartbeatRequest__Output, object>, cb: grpc.sendUnaryData<object>) => cb(null, d.heartbeat(peer(nodeId), call.request.sessionId)),
    UpdateTaskStatus: (call: grpc.ServerUnaryCall<dispatcher.UpdateTaskStatusRequest__Output, object>, cb: grpc.sendUnaryData<object>) =>
      void d.updateTaskStatus(peer(nodeId), call.request.sessionId, call.request.updates).then(
        () => cb(null, {}),
        (err: Error) => cb({ code: grpc.status.INTERNAL, details: err.message }),
      ),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return `127.0.0.1:${port}`;
}

interface Worker {
  agent: Agent;
  session: ManagerSession;
  /** Every secret and config id its session handed to the agent. */
  sentSecretIds: Set<string>;
  sentConfigIds: Set<string>;
  log: () => string;
}

async function worker(nodeId: string, address: string): Promise<Worker> {
  let text = '';
  const logger = pino(
    { level: 'trace' },
    new Writable({
      write(chunk: Buffer, _e, cb) {
        text += chunk.toString();
        cb();
      },
    }),
  );
  const sentSecretIds = new Set<string>();
  const sentConfigIds = new Set<string>();
  const seen = (f: AssignedFiles): void => {
    for (const s of f.secrets) sentSecretIds.add(s.id);
    for (const c of f.configs) sentConfigIds.add(c.id);
  };
  const executor = new DockerExecutor({ docker: engine.docker, nodeId, logger });
  const session: ManagerSession = new ManagerSession({
    credentials: grpc.credentials.createInsecure(),
    managers: [{ id: 'm1', address }],
    assign: (tasks, files) => (seen(files), agent.assign(tasks, files)),
    assignChanges: (changed, removed, files) => (seen(files), agent.assignChanges(changed, removed, files)),
    describe: () => agent.describe(),
    logger,
  });
  const agent: Agent = new Agent({ executor, nodeId, clusterId, reporter: session.report, logger, batchMs: 20 });
  await agent.start();
  session.start();
  return { agent, session, sentSecretIds, sentConfigIds, log: () => text };
}

test('a secret reaches only the node whose task uses it, as a file on a tmpfs in the container, and leaves with the task', { skip, timeout: 120_000 }, async () => {
  const ls = new LocalStore();
  const uses = runs('uses', 'uses-secret');
  uses.spec.taskTemplate.container.secrets = [{ id: 'sec1', name: 'db_password', target: 'db_password', uid: '1000', gid: '1000', mode: 0o400 }];
  uses.spec.taskTemplate.container.configs = [{ id: 'cfg1', name: 'app.conf', target: '/etc/app.conf', uid: '0', gid: '0', mode: 0o444 }];
  const plain = runs('plain', 'plain');
  const c = cluster(clusterId);
  c.spec.dispatcher = { heartbeatPeriodMs: 1_000, heartbeatGrace: 3 };
  ls.applyNow([
    createAction('cluster', c),
    createAction('node', node(W1)),
    createAction('node', node(W2)),
    createAction('service', uses),
    createAction('service', plain),
    createAction('secret', secret('sec1', 'db_password', Buffer.from(SECRET_TEXT).toString('base64'))),
    createAction('config', config('cfg1', 'app.conf', Buffer.from('port=80\n').toString('base64'))),
    createAction('task', task('u1', uses, { nodeId: W1, status: { state: TaskState.ASSIGNED, message: '', err: '', timestamp: 1, containerId: '', exitCode: 0, health: 'none' } })),
    createAction('task', task('p1', plain, { nodeId: W2, slot: 1, status: { state: TaskState.ASSIGNED, message: '', err: '', timestamp: 1, containerId: '', exitCode: 0, health: 'none' } })),
  ]);
  const d = new Dispatcher({ ctx: { ...ls.context(), now: Date.now }, managers: () => [{ id: 'm1', address: '127.0.0.1:1' }], flushMs: 10, pushDelayMs: 10, newLeaderGraceMs: 60_000 });
  d.start();
  const w1 = await worker(W1, await serve(d, W1));
  const w2 = await worker(W2, await serve(d, W2));
  try {
    const running = (id: string): Task | undefined => {
      const t = ls.store.get('task', id);
      return t && t.status.state === TaskState.RUNNING ? t : undefined;
    };
    const u1 = await waitFor('u1 RUNNING', () => running('u1'), 60_000);
    await waitFor('p1 RUNNING', () => running('p1'), 60_000);

    // In the container on w1: the file, on a tmpfs, with the reference's owner and mode.
    const exec = async (cmd: string[]): Promise<string> => {
      const e = await engine.docker.getContainer(u1.status.containerId).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
      const stream = await e.start({ hijack: true, stdin: false });
      const chunks: Buffer[] = [];
      await new Promise<void>((resolve) => {
        stream.on('data', (b: Buffer) => chunks.push(b));
        stream.on('end', () => resolve());
      });
      const raw = Buffer.concat(chunks);
      let out = '';
      for (let i = 0; i + 8 <= raw.length; i += 8 + raw.readUInt32BE(i + 4)) out += raw.subarray(i + 8, i + 8 + raw.readUInt32BE(i + 4)).toString();
      return out;
    };
    assert.equal(await exec(['cat', '/run/secrets/db_password']), SECRET_TEXT);
    assert.match(await exec(['cat', '/proc/mounts']), /^\S+ \/run\/secrets\/db_password tmpfs ro[,\s]/m);
    assert.match(await exec(['ls', '-ln', '/run/secrets/db_password']), /^-r-------- +1 +1000 +1000 /);

    // w2 never received it: not from its session, not in what its agent holds, not in any line of its log.
    assert.deepEqual([...w1.sentSecretIds, ...w1.sentConfigIds], ['sec1', 'cfg1']);
    assert.deepEqual([...w2.sentSecretIds, ...w2.sentConfigIds], []);
    assert.deepEqual(w2.agent.heldFiles(), { secretIds: [], configIds: [] });
    assert.ok(!w2.log().includes('sec1') && !w2.log().includes(SECRET_TEXT), 'w2 log mentions no secret');
    assert.match(w1.log(), /"secretIds":\["sec1"\],"configIds":\["cfg1"\],"msg":"secrets and configs held"/);
    assert.ok(!w1.log().includes(SECRET_TEXT) && !w1.log().includes(Buffer.from(SECRET_TEXT).toString('base64')), 'w1 logs ids, never data');

    // The task is told to stop: w1 drops the secret (the stopped container keeps its files until it is removed) ...
    const dir = join((await engine.docker.getContainer(u1.status.containerId).inspect()).Mounts.find((m) => m.Destination === '/run/secrets/db_password')?.Source ?? '/nonexistent', '..');
    assert.ok(dir.startsWith(DEFAULT_FILES_ROOT) && existsSync(dir), dir);
    const now = ls.store.get('task', 'u1') as Task;
    ls.applyNow([updateAction('task', { ...now, desiredState: TaskState.SHUTDOWN })]);
    await waitFor('w1 drops the secret', () => w1.agent.heldFiles().secretIds.length === 0, 20_000);
    assert.match(w1.log(), /"secretIds":\[\],"configIds":\[\],"msg":"secrets and configs held"/);
    // ... and when the task leaves the node, its container and files go.
    await waitFor('u1 stopped', () => (ls.store.get('task', 'u1')?.status.state ?? 0) >= TaskState.SHUTDOWN, 20_000);
    ls.applyNow([deleteAction('task', 'u1')]);
    await waitFor('u1 container removed', async () => (await clusterContainers(engine.docker, clusterId)).every((x) => x.Id !== u1.status.containerId), 20_000);
    await waitFor('its files removed', () => !existsSync(dir), 10_000);
  } finally {
    w1.session.stop();
    w2.session.stop();
    await w1.agent.stop();
    await w2.agent.stop();
    await d.stop();
  }
});
