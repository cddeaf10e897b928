// Safe deploys (issue 15) on real daemons and the real Docker engine: 3
// managers (drained, so tasks land on the workers and a manager can be killed
// without touching a replica) and 2 workers on loopback (127.0.0.170-174:7670).
// Each scenario drives the Control API as a client would (CreateService,
// UpdateService, PromoteService; GetService for spec, previousSpec and
// updateStatus; ListTasks page by page) and asserts what a user would see;
// the workers' own logs where the Control API cannot tell (image pulls).
// Every wait is bounded; each scenario removes its service.
//
//   npx tsc -p tsconfig.json && node --test dist/test/cluster/deploys.test.js
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { DaemonCluster } from '../../src/testing/daemon-cluster.js';
import { TaskState, type Service, type ServiceSpec, type Task, type UpdateState } from '../../src/api/objects.js';
import { serviceFromProto, serviceSpecToProto } from '../../src/api/convert.js';
import { validateServiceSpec } from '../../src/api/validate.js';
import { loadControlProto } from '../../src/api/proto.js';
import { connect, type Control } from '../../src/cli/connection.js';
import { listNodes, listTasks } from '../../src/cli/lookup.js';
import { LABEL_CLUSTER_ID, LABEL_SERVICE_NAME } from '../../src/worker/exec/docker/labels.js';
import { requireEngine, TEST_IMAGE } from '../worker/engine.js';

const engine = await requireEngine('test/cluster/deploys.test.ts');
const skip = engine.skip !== false;
const docker = engine.docker;
const base = mkdtempSync(join(tmpdir(), 'flotilla-deploys-'));
const c = new DaemonCluster({ baseDir: base, firstHost: 170, port: 7670, nodeStatusMs: 500 });
const MANAGERS = [0, 1, 2];
const WORKERS = [3, 4];
/** A good new release: another tag of the offline image (tagged in before()). */
const REPO = TEST_IMAGE.includes(':', TEST_IMAGE.lastIndexOf('/') + 1) ? TEST_IMAGE.slice(0, TEST_IMAGE.lastIndexOf(':')) : TEST_IMAGE;
const V2_TAG = `${TEST_IMAGE === REPO ? 'latest' : TEST_IMAGE.slice(REPO.length + 1)}-v2`;
const V2 = `${REPO}:${V2_TAG}`;
let clusterId = '';
const controls = new Map<number, Control>();
/** The manager the helpers talk to by default (scenario 8 moves off the leader it kills). */
let home = 0;

before(async () => {
  if (skip) return;
  await docker.getImage(TEST_IMAGE).tag({ repo: REPO, tag: V2_TAG });
  await c.init(0);
  for (const i of MANAGERS.slice(1)) await c.join(i, 'manager');
  for (const i of WORKERS) await c.join(i, 'worker');
  await c.waitFor(async () => (await listNodes(ctl(0))).filter((n) => n.status.state === 'ready' && n.description.engineVersion).length === 5, 30_000, 'five ready nodes with their engine');
  for (const n of (await listNodes(ctl(0))).filter((x) => x.role === 'manager')) await c.cliOk(0, ['node', 'update', '--availability', 'drain', n.id]);
  const cl = (await ctl(0).call('GetCluster', {})).cluster;
  assert.ok(cl?.meta && cl.spec);
  clusterId = cl.meta.id;
  // Scenario 7 reads five ended tasks of one slot: keep more than the default 5 per slot.
  await ctl(0).call('UpdateCluster', { version: cl.meta.version, spec: { ...cl.spec, orchestration: { taskHistoryRetention: 20 } } });
});

after(async () => {
  for (const x of controls.values()) x.close();
  await c.stop();
  if (clusterId) {
    for (const info of await docker.listContainers({ all: true, filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`] } })) {
      await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
    }
  }
  if (process.env.KEEP_CLUSTER_DIRS !== '1') rmSync(base, { recursive: true, force: true });
});

/** The Control API on manager i's local socket (proxied to the leader). */
function ctl(i: number): Control {
  let x = controls.get(i);
  if (!x) {
    x = connect({ host: `unix://${join(c.node(i).dataDir, 'control.sock')}`, env: {}, timeoutMs: 15_000 });
    controls.set(i, x);
  }
  return x;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function spec(name: string, o: { replicas?: number; image?: string; command?: string[]; updateConfig?: object; restartPolicy?: object } = {}): ServiceSpec {
  return validateServiceSpec({
    name,
    mode: { replicated: { replicas: o.replicas ?? 4 } },
    taskTemplate: {
      container: { image: o.image ?? TEST_IMAGE, command: o.command ?? ['sleep', '3600'], stopGracePeriodMs: 1000 },
      restartPolicy: o.restartPolicy ?? { delayMs: 1000 },
    },
    updateConfig: o.updateConfig ?? {},
  });
}

async function create(s: ServiceSpec, via = home): Promise<Service> {
  const res = await ctl(via).call('CreateService', { spec: serviceSpecToProto(s) });
  assert.ok(res.service);
  return serviceFromProto(res.service);
}

async function get(name: string, via = home): Promise<Service> {
  const res = await ctl(via).call('GetService', { serviceIdOrName: name });
  assert.ok(res.service);
  return serviceFromProto(res.service);
}

/** Read, change the spec, write with the version read (as `service update`). */
async function update(name: string, change: (s: ServiceSpec) => ServiceSpec, via = home): Promise<Service> {
  const s = await get(name, via);
  const res = await ctl(via).call('UpdateService', { serviceId: s.id, version: s.version, spec: serviceSpecToProto(change(structuredClone(s.spec))) });
  assert.ok(res.service);
  return serviceFromProto(res.service);
}

/**
 * PromoteService through its method definition in proto/control.proto (the
 * typed client knows the methods of api/proto.ts CONTROL_METHODS).
 */
async function promote(name: string, via = home): Promise<void> {
  const s = await get(name, via);
  const def = (loadControlProto().packageDefinition['flotilla.control.Control'] as grpc.ServiceDefinition).PromoteService as grpc.MethodDefinition<object, object>;
  const client = new grpc.Client(`unix://${join(c.node(via).dataDir, 'control.sock')}`, grpc.credentials.createInsecure());
  try {
    await new Promise<void>((resolve, reject) => {
      client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, { serviceId: s.id, version: s.version }, new grpc.Metadata(), { deadline: Date.now() + 15_000 }, (err) =>
        err ? reject(new Error(`PromoteService: ${grpc.status[err.code]} ${err.details}`)) : resolve(),
      );
    });
  } finally {
    client.close();
  }
}

async function tasksOf(s: Service, via = home): Promise<Task[]> {
  return listTasks(ctl(via), { serviceIds: [s.id] });
}

const isRunning = (t: Task): boolean => t.desiredState === TaskState.RUNNING && t.status.state === TaskState.RUNNING;
const image = (t: Task): string => t.spec.container.image;

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await sleep(everyMs);
  }
}

async function waitRunning(s: Service, n: number, img: string, timeoutMs = 60_000): Promise<Task[]> {
  return waitFor(`${n} running tasks of ${s.spec.name} on ${img}`, timeoutMs, async () => {
    const r = (await tasksOf(s)).filter(isRunning);
    return r.length === n && r.every((t) => image(t) === img) && new Set(r.map((t) => t.slot)).size === n ? r : undefined;
  });
}

async function waitState(name: string, states: readonly UpdateState[], timeoutMs: number, via = home): Promise<Service> {
  let last: Service | undefined;
  return waitFor(`${name}'s update status in ${states.join('|')} (last: ${JSON.stringify(last?.updateStatus)})`, timeoutMs, async () => {
    last = await get(name, via);
    return last.updateStatus && states.includes(last.updateStatus.state) ? last : undefined;
  });
}

/** Samples every 200 ms until `done` says so (or the bound passes: a failure), collecting what `sample` returns. */
async function sampleUntil<T>(what: string, timeoutMs: number, sample: () => Promise<T>, done: (x: T) => boolean): Promise<T[]> {
  const out: T[] = [];
  const end = Date.now() + timeoutMs;
  for (;;) {
    const x = await sample();
    out.push(x);
    if (done(x)) return out;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms sampling ${what}`);
    await sleep(200);
  }
}

async function remove(s: Service): Promise<void> {
  await ctl(home).call('RemoveService', { serviceId: s.id });
  await waitFor(`${s.spec.name}'s containers gone`, 30_000, async () =>
    (await docker.listContainers({ all: true, filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`, `${LABEL_SERVICE_NAME}=${s.spec.name}`] } })).length === 0 ? true : undefined,
  );
}

/** The workers' log lines (pino JSON) with this message about this image. */
function workerLog(msg: string, img: string): { worker: number; line: Record<string, unknown> }[] {
  const out: { worker: number; line: Record<string, unknown> }[] = [];
  for (const w of WORKERS) {
    for (const l of readFileSync(`${c.node(w).dataDir}.log`, 'utf8').split('\n')) {
      if (!l.includes(msg) || !l.includes(img)) continue;
      const line = JSON.parse(l) as Record<string, unknown>;
      if (line.msg === msg && line.image === img) out.push({ worker: w, line });
    }
  }
  return out;
}

const PAUSED = /^update paused due to failure or early termination of task (\S+)$/;

test('1. default update config, bad image: pauses after the first failure, 3 old replicas running throughout; the agent does not pull again for every retry', { skip }, async () => {
  const BAD = 'flotilla/nosuch:1';
  const s = await create(spec('bad-pause'));
  await waitRunning(s, 4, TEST_IMAGE);
  await update('bad-pause', (x) => ({ ...x, taskTemplate: { ...x.taskTemplate, container: { ...x.taskTemplate.container, image: BAD } } }));
  // From the update until 12 s into the pause (the retries of the failed slot and the agent's pull back-off).
  let pausedAt = 0;
  const samples = await sampleUntil(
    'the update and 12 s of its pause',
    60_000,
    async () => {
      const [svc, ts] = await Promise.all([get('bad-pause'), tasksOf(s)]);
      if (svc.updateStatus?.state === 'paused' && pausedAt === 0) pausedAt = Date.now();
      return { svc, ts, old: ts.filter((t) => isRunning(t) && image(t) === TEST_IMAGE).length };
    },
    () => pausedAt !== 0 && Date.now() - pausedAt >= 12_000,
  );
  const first = samples.findIndex((x) => x.old < 4);
  assert.ok(first >= 0, 'the update stopped one old task');
  assert.deepEqual(
    samples.slice(first).filter((x) => x.old !== 3).map((x) => x.old),
    [],
    `3 old tasks RUNNING at every sample once the first was stopped (${samples.length - first} samples)`,
  );
  const last = samples[samples.length - 1];
  const st = last.svc.updateStatus;
  assert.equal(st?.state, 'paused');
  const m = PAUSED.exec(st.message);
  assert.ok(m, `paused with the task id: ${st.message}`);
  const failed = last.ts.find((t) => t.id === m[1]);
  assert.ok(failed, 'the named task is one of the service');
  assert.equal(image(failed), BAD);
  assert.equal(failed.status.state, TaskState.REJECTED);
  assert.equal(failed.updateFailure, true);
  assert.equal(last.svc.spec.taskTemplate.container.image, BAD);
  assert.equal(last.svc.previousSpec?.taskTemplate.container.image, TEST_IMAGE);
  // Only the first slot touched: every task of the bad image is in one slot.
  const bad = last.ts.filter((t) => image(t) === BAD);
  assert.equal(new Set(bad.map((t) => t.slot)).size, 1, 'one slot updated');

  // The agent's image back-off: the slot's retries (restart delay 1 s, doubling) are refused without a pull.
  const rejected = bad.filter((t) => t.status.state === TaskState.REJECTED);
  const pulls = workerLog('image not present, pulling', BAD);
  process.stderr.write(`# bad image: ${rejected.length} rejected tasks, ${pulls.length} pulls (${pulls.map((p) => `n${p.worker + 1}`).join(', ')})\n`);
  assert.ok(rejected.length >= 3, `the failed slot was retried during the pause (${rejected.length} rejected tasks)`);
  assert.ok(pulls.length >= 1, 'the agent tried a pull');
  assert.ok(pulls.length < rejected.length, `fewer pulls (${pulls.length}) than rejected tasks (${rejected.length})`);
  assert.ok(
    rejected.some((t) => /not retried for \d+ s after \d+ failed pulls?/.test(t.status.err)),
    `a retry was refused from the back-off: ${JSON.stringify(rejected.map((t) => t.status.err))}`,
  );
  await remove(s);
});

const withImage = (img: string) => (x: ServiceSpec): ServiceSpec => ({ ...x, taskTemplate: { ...x.taskTemplate, container: { ...x.taskTemplate.container, image: img } } });

test('2. failure action rollback, bad image: the service ends on the old spec, every replica running, rollback_completed', { skip }, async () => {
  const BAD = 'flotilla/nosuch:2';
  const s = await create(spec('bad-rollback', { updateConfig: { failureAction: 'rollback' } }));
  await waitRunning(s, 4, TEST_IMAGE);
  await update('bad-rollback', withImage(BAD));
  const seen = new Set<string>();
  const samples = await sampleUntil('the rollback', 90_000, async () => {
    const svc = await get('bad-rollback');
    if (svc.updateStatus) seen.add(`${svc.updateStatus.state}: ${svc.updateStatus.message}`);
    return svc;
  }, (svc) => svc.updateStatus?.state === 'rollback_completed');
  const done = samples[samples.length - 1];
  assert.equal(done.updateStatus?.message, 'rollback completed');
  assert.equal(done.spec.taskTemplate.container.image, TEST_IMAGE, 'back on the old image');
  // As SwarmKit's updater: an automatic rollback leaves no previous spec (nothing to roll back to again).
  assert.equal(done.previousSpec, undefined);
  assert.ok(
    [...seen].some((x) => /^rollback_started: update rolled back due to failure or early termination of task \S+$/.test(x)),
    `the rollback said why: ${JSON.stringify([...seen])}`,
  );
  const r = await waitRunning(s, 4, TEST_IMAGE, 30_000);
  assert.deepEqual(r.map((t) => t.slot).sort(), [1, 2, 3, 4]);
  await remove(s);
});

test('3. a release whose container exits 2 s after start is caught within the monitor window and rolled back', { skip }, async () => {
  const s = await create(spec('exits-late', { updateConfig: { failureAction: 'rollback' } }));
  await waitRunning(s, 4, TEST_IMAGE);
  const up = await update('exits-late', (x) => ({ ...x, taskTemplate: { ...x.taskTemplate, container: { ...x.taskTemplate.container, command: ['sh', '-c', 'sleep 2; exit 1'] } } }));
  const done = await waitState('exits-late', ['rollback_completed', 'completed', 'paused', 'rollback_paused'], 90_000);
  assert.equal(done.updateStatus?.state, 'rollback_completed', JSON.stringify(done.updateStatus));
  assert.deepEqual(done.spec.taskTemplate.container.command, ['sleep', '3600']);
  const ts = await tasksOf(s);
  const bad = ts.filter((t) => t.specVersion >= up.specVersion && t.spec.container.command[0] === 'sh');
  const caught = bad.filter((t) => t.updateFailure);
  assert.ok(caught.length >= 1, 'a task of the release counted as a failure of the update');
  // It had reached RUNNING (it exits 2 s after start): caught by the monitor window, not as a failure to start.
  assert.ok(caught.some((t) => t.status.state === TaskState.FAILED && t.status.exitCode === 1), JSON.stringify(caught.map((t) => t.status)));
  await waitRunning(s, 4, TEST_IMAGE, 30_000);
  await remove(s);
});

test('4. a label change in the middle of an update does not speed it up: new tasks stay >= the delay apart', { skip }, async () => {
  const s = await create(spec('paced', { updateConfig: { parallelism: 1, delayMs: 3000 } }));
  await waitRunning(s, 4, TEST_IMAGE);
  const up = await update('paced', withImage(V2));
  const newTasks = async (): Promise<Task[]> => (await tasksOf(s)).filter((t) => image(t) === V2 && t.specVersion >= up.specVersion);
  await waitFor('the first slot updated', 30_000, async () => ((await newTasks()).length >= 1 ? true : undefined));
  const startedAt = (await get('paced')).updateStatus?.startedAt;
  const labelled = await update('paced', (x) => ({ ...x, labels: { ...x.labels, tier: 'front' } }));
  assert.equal(labelled.updateStatus?.startedAt, startedAt, 'the label write leaves the update under way as it was');
  const done = await waitState('paced', ['completed', 'paused'], 90_000);
  assert.equal(done.updateStatus?.state, 'completed', JSON.stringify(done.updateStatus));
  assert.equal(done.updateStatus.message, 'update completed');
  assert.equal(done.spec.labels.tier, 'front');
  assert.equal(done.previousSpec?.taskTemplate.container.image, TEST_IMAGE, 'the label write kept what a rollback returns to');
  const created = (await newTasks()).map((t) => t.createdAt).sort((a, b) => a - b);
  assert.equal(created.length, 4, 'one new task per slot');
  const gaps = created.slice(1).map((t, i) => t - created[i]);
  assert.ok(gaps.every((g) => g >= 3000), `gaps between slots' new tasks: ${gaps.join(', ')} ms`);
  await remove(s);
});

test('5. start-first: never fewer running tasks than replicas during the update', { skip }, async () => {
  const s = await create(spec('start-first', { updateConfig: { order: 'start-first', parallelism: 2 } }));
  await waitRunning(s, 4, TEST_IMAGE);
  await update('start-first', withImage(V2));
  const samples = await sampleUntil('the start-first update', 90_000, async () => {
    const [svc, ts] = await Promise.all([get('start-first'), tasksOf(s)]);
    return { state: svc.updateStatus?.state, running: ts.filter(isRunning).length, v2: ts.filter((t) => isRunning(t) && image(t) === V2).length };
  }, (x) => x.state === 'completed' || x.state === 'paused');
  assert.equal(samples[samples.length - 1].state, 'completed');
  assert.deepEqual(samples.filter((x) => x.running < 4).map((x) => x.running), [], `${samples.length} samples`);
  assert.ok(samples.some((x) => x.v2 > 0 && x.v2 < 4), 'sampled during the update');
  await waitRunning(s, 4, V2, 30_000);
  await remove(s);
});

test('6a. a canary promoted by hand: before the promotion no old task is stopped', { skip }, async () => {
  const s = await create(spec('canary', { updateConfig: { canary: 1 } }));
  try {
    await promotedByHand(s);
  } finally {
    await remove(s);
  }
});

async function promotedByHand(s: Service): Promise<void> {
  await waitRunning(s, 4, TEST_IMAGE);
  await update('canary', withImage(V2));
  const before = await sampleUntil('the canary awaiting promotion', 60_000, async () => {
    const [svc, ts] = await Promise.all([get('canary'), tasksOf(s)]);
    return { svc, old: ts.filter((t) => isRunning(t) && image(t) === TEST_IMAGE).length, canaries: ts.filter((t) => isRunning(t) && image(t) === V2).length };
  }, (x) => x.svc.updateStatus?.canary === 'awaiting_promotion');
  assert.deepEqual(before.filter((x) => x.old !== 4).map((x) => x.old), [], 'every old task RUNNING until the promotion');
  assert.equal(before[before.length - 1].canaries, 1, 'one canary beside them');
  assert.equal(before[before.length - 1].svc.updateStatus?.state, 'updating');
  await sleep(1000);
  const still = await tasksOf(s);
  assert.equal(still.filter((t) => isRunning(t) && image(t) === TEST_IMAGE).length, 4, 'awaiting promotion, the old tasks stay');
  await promote('canary');
  const done = await waitState('canary', ['completed', 'paused'], 90_000);
  assert.equal(done.updateStatus?.state, 'completed', JSON.stringify(done.updateStatus));
  await waitRunning(s, 4, V2, 30_000);
}

test('6b. a canary promoted automatically', { skip }, async () => {
  const a = await create(spec('canary-auto', { updateConfig: { canary: 1, autoPromote: true } }));
  await waitRunning(a, 4, TEST_IMAGE);
  await update('canary-auto', withImage(V2));
  const states = new Set<string>();
  await sampleUntil('the auto-promoted update', 90_000, async () => {
    const svc = await get('canary-auto');
    states.add(`${svc.updateStatus?.state}/${svc.updateStatus?.canary}`);
    return svc;
  }, (svc) => svc.updateStatus?.state === 'completed' || svc.updateStatus?.state === 'paused');
  assert.ok(states.has('completed/promoted'), JSON.stringify([...states]));
  assert.ok(!states.has('updating/awaiting_promotion') || states.has('completed/promoted'));
  await waitRunning(a, 4, V2, 30_000);
  await remove(a);
});

test('6c. a failing canary pauses with every old task running', { skip }, async () => {
  const BAD = 'flotilla/nosuch:canary';
  const f = await create(spec('canary-bad', { updateConfig: { canary: 1 } }));
  await waitRunning(f, 4, TEST_IMAGE);
  await update('canary-bad', withImage(BAD));
  const fs = await sampleUntil('the failing canary', 60_000, async () => {
    const [svc, ts] = await Promise.all([get('canary-bad'), tasksOf(f)]);
    return { svc, old: ts.filter((t) => isRunning(t) && image(t) === TEST_IMAGE).length };
  }, (x) => x.svc.updateStatus?.state === 'paused' || x.svc.updateStatus?.state === 'completed');
  const end = fs[fs.length - 1].svc.updateStatus;
  assert.equal(end?.state, 'paused');
  assert.match(end.message, PAUSED);
  assert.deepEqual(fs.filter((x) => x.old !== 4).map((x) => x.old), [], 'every old task RUNNING throughout');
  await remove(f);
});

test('7. crash-loop back-off: the recorded restart decisions of a slot grow 1 s, 2 s, 4 s, 8 s, 8 s', { skip }, async () => {
  const s = await create(spec('crash', { replicas: 1, command: ['sh', '-c', 'exit 1'], restartPolicy: { delayMs: 1000, maxDelayMs: 8000 } }));
  const decided = await waitFor('five recorded restart decisions', 60_000, async () => {
    const ended = (await tasksOf(s)).filter((t) => t.slot === 1 && t.restart !== undefined);
    return ended.length >= 5 ? ended : undefined;
  }, 500);
  const byAttempt = decided.map((t) => t.restart).filter((r) => r !== undefined).sort((x, y) => x.attempt - y.attempt).slice(0, 5);
  assert.deepEqual(byAttempt.map((r) => [r.attempt, r.delayMs]), [[1, 1000], [2, 2000], [3, 4000], [4, 8000], [5, 8000]]);
  assert.ok(byAttempt.every((r) => r.reason === '' && r.nextAt > 0), JSON.stringify(byAttempt));
  await remove(s);
});

test('8. kill -9 of the leader mid-update: the new leader completes it, each slot updated once', { skip }, async () => {
  const info = await ctl(0).call('ClusterInfo', {});
  const li = c.nodes.findIndex((n) => n.address === info.leaderAddr);
  assert.ok(MANAGERS.includes(li), `the leader is a manager (${info.leaderAddr})`);
  const via = MANAGERS.find((i) => i !== li) ?? 0;
  home = via;
  const s = await create(spec('leader-kill', { updateConfig: { parallelism: 1, delayMs: 2000 } }), via);
  await waitRunning(s, 4, TEST_IMAGE);
  const up = await update('leader-kill', withImage(V2), via);
  const fresh = async (): Promise<Task[]> => (await tasksOf(s, via)).filter((t) => image(t) === V2 && t.specVersion >= up.specVersion);
  await waitFor('the first slot running the new image', 30_000, async () => ((await fresh()).some(isRunning) ? true : undefined));
  await c.kill(li);
  const done = await waitState('leader-kill', ['completed', 'paused'], 90_000, via);
  assert.equal(done.updateStatus?.state, 'completed', JSON.stringify(done.updateStatus));
  const r = await waitRunning(s, 4, V2, 30_000);
  assert.deepEqual(r.map((t) => t.slot).sort(), [1, 2, 3, 4]);
  const perSlot = new Map<number, number>();
  for (const t of await fresh()) perSlot.set(t.slot, (perSlot.get(t.slot) ?? 0) + 1);
  assert.deepEqual([...perSlot].sort((x, y) => x[0] - y[0]), [[1, 1], [2, 1], [3, 1], [4, 1]], 'exactly one task of the new spec per slot');
  await c.restart(li);
  await c.waitReady(li);
  await remove(s);
});
