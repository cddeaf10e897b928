// `flotilla events` end to end: 3 managers (drained) and 2 workers as real
// daemons on loopback (127.0.0.240-244:7740), tasks as real containers.
// `events --format json` follows a manager (a process, as an operator runs
// it) during a service create, a scale, a kill -9 of a worker and a rolling
// update: each change once, in the order it happened; then --since/--until
// replay the same history on that manager and on another one, and exit.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DaemonCluster } from '../../src/testing/daemon-cluster.js';
import { loadState } from '../../src/daemon/state.js';
import { connectEngine } from '../../src/worker/exec/docker/engine.js';
import { requireEngine, removeClusterContainers, TEST_IMAGE } from '../worker/engine.js';

const engine = await requireEngine('test/cluster/events.test.ts');
const skip = engine.skip !== false;
const base = mkdtempSync(join(tmpdir(), 'flotilla-events-'));
const c = new DaemonCluster({ baseDir: base, firstHost: 240, port: 7740, nodeStatusMs: 500 });
const docker = connectEngine();
const WORKERS = [3, 4];
const ids: string[] = [];
let clusterId = '';

interface Message {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: string;
  time: number;
  timeNano: number;
}

before(async () => {
  if (skip) return;
  await c.init(0);
  await c.join(1, 'manager');
  await c.join(2, 'manager');
  for (const i of WORKERS) await c.join(i, 'worker');
  for (let i = 0; i < 5; i++) ids.push((await loadState(c.node(i).dataDir)).nodeId);
  for (const i of [0, 1, 2]) await c.cliOk(0, ['node', 'update', '--availability', 'drain', ids[i]]);
  clusterId = (JSON.parse((await c.cliOk(0, ['cluster', 'info', '--format', 'json'])).stdout) as { cluster: { id: string } }).cluster.id;
});

after(async () => {
  follower?.kill('SIGKILL');
  await c.stop();
  if (clusterId) await removeClusterContainers(docker, clusterId);
  if (process.env.KEEP_CLUSTER_DIRS !== '1') rmSync(base, { recursive: true, force: true });
});

let follower: ChildProcess | null = null;

/** `flotilla events ARGS` on manager i as a process; its lines as they come. */
function follow(i: number, args: string[]): { lines: string[]; exit: Promise<number>; stderr: () => string } {
  const p = spawn(process.execPath, [c.bin, 'events', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FLOTILLA_DATA_DIR: c.node(i).dataDir, FLOTILLA_HOST: '' } });
  follower = p;
  const lines: string[] = [];
  let partial = '';
  let err = '';
  p.stdout?.on('data', (b: Buffer) => {
    const parts = (partial + b.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  p.stderr?.on('data', (b: Buffer) => (err += b.toString('utf8')));
  const exit = new Promise<number>((resolve) => p.on('close', (code) => resolve(code ?? -1)));
  return { lines, exit, stderr: () => err };
}

const parse = (lines: readonly string[]): Message[] => lines.filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Message);
const attr = (m: Message, k: string): string | undefined => m.Actor.Attributes[k];

/** The running tasks of a service, as the events tell them (last state and desired state of each task). */
function runningTasks(ms: readonly Message[], service: string): Map<string, string> {
  const last = new Map<string, { state: string; desired: string; node: string }>();
  for (const m of ms) {
    if (m.Type !== 'task' || attr(m, 'service.name') !== service) continue;
    if (m.Action === 'remove') last.delete(m.Actor.ID);
    else last.set(m.Actor.ID, { state: attr(m, 'state') ?? '', desired: attr(m, 'desiredstate') ?? '', node: attr(m, 'node.id') ?? '' });
  }
  return new Map([...last].filter(([, t]) => t.state === 'running' && t.desired === 'running').map(([id, t]) => [id, t.node]));
}

test('events --format json during a create, a scale, a worker kill and an update: each change once, in order; --since/--until replay it', { skip, timeout: 300_000 }, async () => {
  const tStart = Date.now();
  const live = follow(1, ['--format', 'json']);
  const events = (): Message[] => parse(live.lines);
  // The stream is live once a change made after it started shows up (the first probes may come before it).
  let probes = 0;
  await c.waitFor(
    async () => {
      const r = await c.cli(0, ['secret', 'create', `probe-${++probes}`, '-'], 30_000, 'x');
      assert.equal(r.code, 0, r.stderr);
      return events().some((m) => m.Type === 'secret' && m.Action === 'create');
    },
    30_000,
    'the follower to see a secret created',
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}; the follower's output: ${live.lines.join('\n')}; its errors: ${live.stderr()}`);
  });

  await c.cliOk(0, ['service', 'create', '--name', 'web', '--replicas', '2', '--stop-grace-period', '1s', '--update-monitor', '1s', TEST_IMAGE, 'sleep', '3600']);
  await c.waitFor(() => runningTasks(events(), 'web').size === 2, 30_000, 'two running tasks in the events');
  await c.cliOk(2, ['service', 'scale', 'web=3']);
  await c.waitFor(() => runningTasks(events(), 'web').size === 3, 30_000, 'three running tasks in the events');

  // kill -9 of a worker that runs tasks of web: its node goes down, its tasks are replaced on the other worker.
  const victim = [...runningTasks(events(), 'web').values()][0];
  const vi = ids.indexOf(victim);
  assert.ok(WORKERS.includes(vi), `a worker runs the task (node ${victim})`);
  const other = ids[WORKERS.find((w) => w !== vi) as number];
  await c.kill(vi);
  await c.waitFor(
    () => {
      const r = [...runningTasks(events(), 'web').values()];
      return r.length === 3 && r.every((n) => n === other) && events().some((m) => m.Type === 'node' && m.Actor.ID === victim && attr(m, 'state.new') === 'down');
    },
    60_000,
    'the node down and three tasks running on the other worker, in the events',
  );

  await c.cliOk(0, ['service', 'update', '--env-add', 'ROUND=2', 'web']);
  await c.waitFor(() => events().some((m) => m.Type === 'service' && attr(m, 'updatestate.new') === 'completed'), 60_000, 'the update completed, in the events');
  const tEnd = Date.now() + 1;

  // Ctrl-C ends the follower, exit 0.
  follower?.kill('SIGINT');
  assert.equal(await live.exit, 0, live.stderr());
  const ms = events();
  const svc = ms.filter((m) => m.Type === 'service' && attr(m, 'name') === 'web');
  const webId = svc[0]?.Actor.ID;
  const pos = (pred: (m: Message) => boolean, what: string): number => {
    const i = ms.findIndex(pred);
    assert.ok(i >= 0, `no event: ${what}`);
    return i;
  };

  // Docker's shape.
  assert.ok(ms.every((m) => m.scope === 'swarm' && Math.floor(m.timeNano / 1e9) === m.time && m.Actor.ID !== ''), 'scope, time and id on every event');
  // Each change once: no event twice.
  const seen = new Set<string>();
  for (const l of live.lines.filter((x) => x.trim() !== '')) {
    assert.ok(!seen.has(l), `an event twice: ${l}`);
    seen.add(l);
  }
  // In order: the create, then its tasks; the scale's update, then the third task; the node down, then the replacements; the update's states.
  const created = pos((m) => m.Type === 'service' && m.Action === 'create' && m.Actor.ID === webId, 'service create');
  const firstTask = pos((m) => m.Type === 'task' && m.Action === 'create' && attr(m, 'service.id') === webId, 'a task of web created');
  assert.ok(created < firstTask, 'the service is created before its tasks');
  const scaled = pos((m) => m.Actor.ID === webId && attr(m, 'replicas.old') === '2' && attr(m, 'replicas.new') === '3', 'the scale: replicas 2 -> 3');
  const slot3 = pos((m) => m.Type === 'task' && m.Action === 'create' && attr(m, 'service.id') === webId && attr(m, 'slot') === '3', 'the task of slot 3 created');
  assert.ok(created < scaled && scaled < slot3, 'the scale before the task it makes');
  const down = pos((m) => m.Type === 'node' && m.Actor.ID === victim && attr(m, 'state.old') === 'ready' && attr(m, 'state.new') === 'down', 'the worker down');
  assert.equal(ms.filter((m) => m.Type === 'node' && m.Actor.ID === victim && attr(m, 'state.new') === 'down').length, 1, 'the node goes down once');
  const replaced = ms.findIndex((m, i) => i > down && m.Type === 'task' && m.Action === 'create' && attr(m, 'service.id') === webId);
  assert.ok(replaced > down, 'replacement tasks after the node went down');
  const updating = pos((m) => m.Actor.ID === webId && attr(m, 'updatestate.new') === 'updating', 'updatestate -> updating');
  const completed = pos((m) => m.Actor.ID === webId && attr(m, 'updatestate.old') === 'updating' && attr(m, 'updatestate.new') === 'completed', 'updatestate updating -> completed');
  assert.ok(down < updating && updating < completed);
  // Each task's observed state only moves forward, one step per event.
  const ORDER = ['new', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting', 'running', 'complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned'];
  const stateOf = new Map<string, string>();
  for (const m of ms.filter((x) => x.Type === 'task')) {
    const before = stateOf.get(m.Actor.ID);
    if (m.Action === 'create') assert.equal(before, undefined, `task ${m.Actor.ID} created twice`);
    if (attr(m, 'state.new') !== undefined) {
      assert.equal(attr(m, 'state.old'), before, `task ${m.Actor.ID}: state.old is the state last shown`);
      assert.ok(ORDER.indexOf(attr(m, 'state.new') ?? '') > ORDER.indexOf(before ?? ''), `task ${m.Actor.ID}: ${before} -> ${attr(m, 'state.new')} goes forward`);
    }
    stateOf.set(m.Actor.ID, attr(m, 'state') ?? '');
  }

  // Replay on the same manager: exactly what it streamed, from its first event on; it ends by itself (--until is past).
  const replay = (i: number): Promise<Message[]> =>
    c.cliOk(i, ['events', '--since', String(tStart / 1000), '--until', String(tEnd / 1000), '--format', 'json']).then((r) => parse(r.stdout.split('\n')));
  const again = await replay(1);
  const streamed = ms.filter((m) => m.timeNano <= tEnd * 1e6).map((m) => JSON.stringify(m));
  const from = again.findIndex((m) => JSON.stringify(m) === streamed[0]);
  assert.ok(from >= 0, 'the replay holds the first event streamed');
  assert.deepEqual(again.slice(from).map((m) => JSON.stringify(m)), streamed);
  // Another manager applied the same log: the same changes in the same order (a removal's time is when each applied it).
  const key = (m: Message): string => `${m.Type} ${m.Action} ${m.Actor.ID} ${JSON.stringify(m.Actor.Attributes)}${m.Action === 'remove' ? '' : ` ${m.timeNano}`}`;
  const isLeaderEvent = (m: Message): boolean => attr(m, 'leader.new') !== undefined;
  const other2 = (await replay(2)).filter((m) => !isLeaderEvent(m));
  assert.deepEqual(other2.map(key), again.filter((m) => !isLeaderEvent(m)).map(key));
  // Filtered replay: the service's own events and its tasks', nothing else.
  const filtered = parse((await c.cliOk(2, ['events', '--since', String(tStart / 1000), '--until', String(tEnd / 1000), '--format', 'json', '--filter', 'service=web'])).stdout.split('\n'));
  assert.ok(filtered.length > 0 && filtered.every((m) => (m.Type === 'service' && m.Actor.ID === webId) || (m.Type === 'task' && attr(m, 'service.id') === webId)));
  assert.deepEqual(filtered.map(key), other2.filter((m) => (m.Type === 'service' && m.Actor.ID === webId) || (m.Type === 'task' && attr(m, 'service.id') === webId)).map(key));
});
