// `flotilla service logs` on real daemons and real containers (issue 18):
// three managers and three workers on loopback (127.0.0.230-235:7730), a
// 3-replica service on the workers whose tasks print a counter (and one line
// on stderr when they start). Through the real CLI:
// - logs from all three tasks, each line prefixed NAME.SLOT.TASKID@NODE as
//   docker prints it, stdout lines on stdout and stderr lines on stderr; one
//   task by its id; --no-task-ids, --raw;
// - --tail 5: exactly the last five lines of each task;
// - --since: only lines at or after the time;
// - --follow from a CLI talking to a manager that is not the leader goes on
//   across a kill -9 of the leader: each task's counter keeps increasing, by
//   one, with no line missing and none twice;
// - a worker cut off (SIGSTOP of its daemon) is named in a warning on stderr,
//   the other tasks' lines still come, and the command ends;
// - an unknown service, a bad --tail or --since: one line on stderr.
//
//   npx tsc -p tsconfig.json && node --test dist/test/cluster/service-logs.test.js
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DaemonCluster } from '../../src/testing/daemon-cluster.js';
import { TaskState, type Node, type Task } from '../../src/api/objects.js';
import { connect, type Control } from '../../src/cli/connection.js';
import { findService, listNodes, listTasks } from '../../src/cli/lookup.js';
import { LABEL_CLUSTER_ID } from '../../src/worker/exec/docker/labels.js';
import { NodeAddresses } from '../../src/network/node-addresses.js';
import { requireEngine, TEST_IMAGE } from '../worker/engine.js';

const engine = await requireEngine('test/cluster/service-logs.test.ts');
const skip = engine.skip !== false;
const docker = engine.docker;
const FIRST_HOST = 230;
const base = mkdtempSync(join(tmpdir(), 'flotilla-logs-'));
const c = new DaemonCluster({ baseDir: base, firstHost: FIRST_HOST, port: 7730, nodeStatusMs: 500 });
const MANAGERS = [0, 1, 2];
const WORKERS = [3, 4, 5];
const SERVICE = 'counter';
/** Prints "start" on stderr, then "line N" on stdout five times a second. */
const COUNTER = ['sh', '-c', 'echo start >&2; i=0; while true; do i=$((i+1)); echo "line $i"; sleep 0.2; done'];
let clusterId = '';

before(async () => {
  if (skip) return;
  await c.init(0);
  await c.join(1, 'manager');
  await c.join(2, 'manager');
  for (const i of WORKERS) await c.join(i, 'worker');
  await c.waitFor(async () => (await nodes(0).catch(() => [])).filter((n) => n.status.state === 'ready').length === 6, 60_000, 'six ready nodes');
  clusterId = (JSON.parse((await c.cliOk(0, ['cluster', 'info', '--format', 'json'])).stdout) as { cluster: { id: string } }).cluster.id;
  await c.cliOk(0, ['service', 'create', '--detach', '--name', SERVICE, '--replicas', '3', '--constraint', 'node.role==worker', TEST_IMAGE, ...COUNTER]);
  await c.waitFor(async () => (await running(0)).length === 3, 60_000, 'three running tasks');
  // Enough lines in every task for --tail and --since to choose from.
  await c.waitFor(async () => counters(parse((await c.cli(0, ['service', 'logs', SERVICE])).stdout)).every(([, n]) => n.length >= 15), 30_000, 'fifteen lines per task');
}, { timeout: 240_000 });

after(async () => {
  for (const n of c.nodes) if (n.proc?.pid) process.kill(n.proc.pid, 'SIGCONT');
  await c.stop();
  if (clusterId) {
    for (const info of await docker.listContainers({ all: true, filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`] } })) {
      await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
    }
  }
  // The killed leader leaves its DNS address and virtual IPs on lo.
  const lo = new NodeAddresses();
  for (const a of await lo.list().catch(() => [])) if (a.address.startsWith(`10.${FIRST_HOST}.`)) await lo.remove(a.address).catch(() => undefined);
  if (process.env.KEEP_CLUSTER_DIRS !== '1') rmSync(base, { recursive: true, force: true });
});

function control(i: number): Control {
  return connect({ env: {}, dataDir: c.node(i).dataDir, host: `unix://${join(c.node(i).dataDir, 'control.sock')}` });
}

async function withControl<T>(i: number, fn: (ctl: Control) => Promise<T>): Promise<T> {
  const ctl = control(i);
  try {
    return await fn(ctl);
  } finally {
    ctl.close();
  }
}

function nodes(i: number): Promise<Node[]> {
  return withControl(i, (ctl) => listNodes(ctl));
}

async function running(i: number): Promise<Task[]> {
  return withControl(i, async (ctl) => {
    const svc = await findService(ctl, SERVICE);
    return (await listTasks(ctl, { serviceIds: [svc.id] })).filter((t) => t.desiredState === TaskState.RUNNING && t.status.state === TaskState.RUNNING);
  });
}

interface Line {
  timestamp: string;
  slot: number;
  taskId: string;
  node: string;
  text: string;
}

/** docker's `[TIMESTAMP ]NAME.SLOT.TASKID@NODE    | TEXT` (the slot padded to the replica count's width: one digit here). */
const LINE = /^(?:(\S+) )?counter\.(\d+)\.([0-9a-z]{12})@(\S+) {4}\| (.*)$/;

function parse(out: string): Line[] {
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const m = LINE.exec(l);
      assert.ok(m, `a line without docker's prefix: ${JSON.stringify(l)}`);
      return { timestamp: m[1] ?? '', slot: Number(m[2]), taskId: m[3], node: m[4], text: m[5] };
    });
}

/** Each task's counter values, in the order printed. */
function counters(lines: readonly Line[]): [string, number[]][] {
  const by = new Map<string, number[]>();
  for (const l of lines) {
    const m = /^line (\d+)$/.exec(l.text);
    if (!m) continue;
    let list = by.get(l.taskId);
    if (!list) by.set(l.taskId, (list = []));
    list.push(Number(m[1]));
  }
  return [...by];
}

/** Consecutive: every value one more than the one before (no line missing, none twice). */
function assertConsecutive(values: readonly number[], what: string): void {
  for (let i = 1; i < values.length; i++) assert.equal(values[i], values[i - 1] + 1, `${what}: ${values[i - 1]} then ${values[i]} (${JSON.stringify(values.slice(Math.max(0, i - 5), i + 5))})`);
}

async function leaderIndex(): Promise<number> {
  const leader = (await nodes(0)).find((n) => n.managerStatus?.leader);
  assert.ok(leader?.managerStatus, 'a leader');
  const i = c.nodes.findIndex((n) => n.address === leader.managerStatus?.addr);
  assert.ok(MANAGERS.includes(i), `the leader ${leader.managerStatus.addr} is one of the managers`);
  return i;
}

test('logs of every task, prefixed as docker prefixes them; stderr lines on stderr; one task by its id', { skip }, async () => {
  const tasks = await running(0);
  const workers = new Map((await nodes(0)).map((n) => [n.id, n.description.hostname]));
  const r = await c.cliOk(0, ['service', 'logs', SERVICE]);
  const lines = parse(r.stdout);
  const byTask = new Map(counters(lines));
  assert.equal(byTask.size, 3, `three tasks: ${[...byTask.keys()].join(', ')}`);
  for (const t of tasks) {
    const values = byTask.get(t.id.slice(0, 12));
    assert.ok(values, `lines of task ${t.id}`);
    assert.equal(values[0], 1, 'from the first line');
    assertConsecutive(values, `task ${t.slot}`);
    const own = lines.filter((l) => l.taskId === t.id.slice(0, 12));
    assert.ok(own.every((l) => l.slot === t.slot && l.node === workers.get(t.nodeId)), `slot ${t.slot} on ${workers.get(t.nodeId)}: ${JSON.stringify(own[0])}`);
  }
  assert.deepEqual(lines.map((l) => l.slot).sort().filter((s, i, a) => a.indexOf(s) === i), [1, 2, 3]);
  // The "start" line of each task went to stderr, with its prefix; stdout has none.
  const err = parse(r.stderr);
  assert.deepEqual(err.map((l) => l.text), ['start', 'start', 'start']);
  assert.ok(!lines.some((l) => l.text === 'start'));

  // One task, by its id.
  const one = tasks[0];
  const onlyOne = parse((await c.cliOk(1, ['service', 'logs', one.id])).stdout);
  assert.ok(onlyOne.length >= 15 && onlyOne.every((l) => l.taskId === one.id.slice(0, 12)), 'only that task');
  // --no-task-ids, --no-trunc, --raw, -t.
  const noIds = (await c.cliOk(0, ['service', 'logs', '--tail', '1', '--no-task-ids', SERVICE])).stdout.trim().split('\n');
  assert.equal(noIds.length, 3);
  for (const l of noIds) assert.match(l, /^counter\.[123]@\S+ {4}\| line \d+$/);
  const full = (await c.cliOk(0, ['service', 'logs', '--tail', '1', '--no-trunc', one.id])).stdout;
  assert.match(full, new RegExp(`^counter\\.${one.slot}\\.${one.id}@\\S+ {4}\\| line \\d+\\n$`));
  const raw = (await c.cliOk(0, ['service', 'logs', '--tail', '2', '--raw', SERVICE])).stdout.trim().split('\n');
  assert.equal(raw.length, 6);
  for (const l of raw) assert.match(l, /^line \d+$/);
  const stamped = parse((await c.cliOk(0, ['service', 'logs', '--tail', '1', '-t', SERVICE])).stdout);
  for (const l of stamped) assert.match(l.timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);
});

test('--tail 5 gives the last five lines of each task', { skip }, async () => {
  const before = new Map(counters(parse((await c.cliOk(0, ['service', 'logs', SERVICE])).stdout)));
  const tail = counters(parse((await c.cliOk(0, ['service', 'logs', '--tail', '5', SERVICE])).stdout));
  assert.equal(tail.length, 3);
  for (const [task, values] of tail) {
    assert.equal(values.length, 5, `task ${task}: ${JSON.stringify(values)}`);
    assertConsecutive(values, `task ${task}`);
    // The last ones: at least as far as a full read a moment before went.
    assert.ok(values[4] >= (before.get(task)?.at(-1) ?? Infinity), `task ${task}: ${values[4]} is not the end`);
  }
  // Stderr's "start" is in no tail of five.
  const r = await c.cliOk(0, ['service', 'logs', '-n', '0', SERVICE]);
  assert.equal(r.stdout + r.stderr, '');
});

test('--since gives only the lines at or after the time', { skip }, async () => {
  const all = parse((await c.cliOk(0, ['service', 'logs', '-t', SERVICE])).stdout);
  const mid = all[Math.floor(all.length / 2)].timestamp;
  // --since takes milliseconds (as docker's API, to the nanosecond; the CLI keeps milliseconds): compare at that precision.
  const cut = mid.slice(0, 23);
  const since = parse((await c.cliOk(0, ['service', 'logs', '-t', '--since', mid, SERVICE])).stdout);
  assert.ok(since.length > 0 && since.length < all.length, `${since.length} of ${all.length} lines`);
  assert.ok(since.every((l) => l.timestamp.slice(0, 23) >= cut), `a line before ${mid}: ${JSON.stringify(since.find((l) => l.timestamp.slice(0, 23) < cut))}`);
  // Every line at or after the time is there.
  assert.equal(since.filter((l) => /^line/.test(l.text)).length >= all.filter((l) => l.timestamp.slice(0, 23) >= cut && /^line/.test(l.text)).length, true);
  // Relative: the last two seconds are a few lines per task, not all of them.
  const recent = counters(parse((await c.cliOk(0, ['service', 'logs', '--since', '2s', SERVICE])).stdout));
  for (const [task, values] of recent) assert.ok(values.length > 0 && values[0] > 1, `task ${task}: ${values.length} lines from ${values[0]}`);
});

test('unknown targets and bad flags: one line on stderr', { skip }, async () => {
  const nope = await c.cli(0, ['service', 'logs', 'nope']);
  assert.equal(nope.code, 1);
  assert.match(nope.stderr, /^flotilla: no such task or service: "nope"[^\n]*\n$/);
  for (const [flag, value] of [['--tail', '-1'], ['--tail', 'x'], ['--since', 'yesterday']]) {
    const r = await c.cli(0, ['service', 'logs', flag, value, SERVICE]);
    assert.equal(r.code, 2, `${flag} ${value}: ${r.stderr}`);
    assert.match(r.stderr, /^flotilla: invalid --(tail|since) [^\n]+\n$/);
  }
});

test('--follow through a manager that is not the leader goes on across a kill -9 of the leader', { skip, timeout: 120_000 }, async () => {
  const li = await leaderIndex();
  const via = MANAGERS.find((i) => i !== li) ?? 0;
  const cli = spawn(process.execPath, [c.bin, 'service', 'logs', '--follow', '--tail', '3', SERVICE], { env: { ...process.env, FLOTILLA_DATA_DIR: c.node(via).dataDir, FLOTILLA_HOST: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let exited: number | null = null;
  cli.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
  cli.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
  cli.on('exit', (code) => (exited = code ?? -1));
  try {
    const lastOf = (): Map<string, number> => new Map(counters(parse(out.slice(0, out.lastIndexOf('\n') + 1))).map(([t, v]) => [t, v.at(-1) ?? 0]));
    await c.waitFor(() => lastOf().size === 3 && [...lastOf().values()].every((v) => v > 0), 20_000, 'the followed stream to show every task');
    await new Promise((r) => setTimeout(r, 2_000));
    const atKill = lastOf();
    await c.kill(li, 'SIGKILL');
    // Every task goes on well past the kill: 40 more lines (8 s) each, through the next leader.
    await c.waitFor(() => exited === null && [...atKill].every(([t, v]) => (lastOf().get(t) ?? 0) >= v + 40), 60_000, `the stream to go on after the kill (exited: ${exited}, stderr: ${err})`);
    assert.equal(exited, null, `the CLI exited: ${err}`);
    const lines = parse(out.slice(0, out.lastIndexOf('\n') + 1));
    const byTask = counters(lines);
    assert.equal(byTask.length, 3);
    for (const [task, values] of byTask) assertConsecutive(values, `task ${task} across the kill`);
  } finally {
    cli.kill('SIGTERM');
  }
  await c.restart(li);
  await c.waitReady(li, 60_000);
});

test('a worker cut off gives a warning and the other tasks\' lines, and the command ends', { skip, timeout: 120_000 }, async () => {
  const tasks = await running(0);
  const workers = await nodes(0);
  const victim = tasks[0];
  const vi = WORKERS.find((i) => workers.find((n) => n.id === victim.nodeId)?.status.address.startsWith(c.node(i).host));
  assert.ok(vi !== undefined, `the worker of task ${victim.id}`);
  const pid = c.node(vi).proc?.pid;
  assert.ok(pid);
  process.kill(pid, 'SIGSTOP');
  try {
    const r = await c.cli(0, ['service', 'logs', '--tail', '3', SERVICE], 60_000);
    assert.equal(r.code, 0, r.stderr);
    const byTask = new Map(counters(parse(r.stdout)));
    const seen = `${[...byTask.keys()].join(', ')}; stderr: ${r.stderr}`;
    assert.ok(!byTask.has(victim.id.slice(0, 12)), `no line of ${victim.id} on ${c.node(vi).name}: ${seen}`);
    for (const t of tasks.slice(1)) assert.equal(byTask.get(t.id.slice(0, 12))?.length, 3, `the last three lines of ${t.id}: ${seen}`);
    const hostname = workers.find((n) => n.id === victim.nodeId)?.description.hostname ?? '';
    assert.match(r.stderr, new RegExp(`^flotilla: warning: node ${hostname.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} (did not answer within \\d+s|has no session with the leader[^:]*): the logs of its tasks are missing$`, 'm'));
  } finally {
    process.kill(pid, 'SIGCONT');
  }
});
