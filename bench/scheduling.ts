// Scheduling throughput at scale: 3 real manager daemons (Raft over gRPC and
// LevelDB, on 127.0.0.120-122:7520), 1,000 HOLLOW worker nodes spread over
// child processes (bench/hollow-agents.ts: real certificates, real dispatcher
// sessions, real agents; only their executor starts no container), and one
// service of 50,000 replicas. Every
// task is created by the orchestrator, placed by the scheduler and reported
// RUNNING by its agent, all committed through Raft. Prints JSON lines:
//   {"bench":"scheduling", ..., "tasksPerSecAssigned": ..., "tasksPerSecRunning": ..., "leaderPeakRssMB": ...}
// Nomad's C1M placed about 3,750 tasks/s (published figure; no Nomad here).
//
//   npm run bench:scheduling -- [--nodes 1000] [--tasks 50000] [--procs 4] [--trace] [--profile DIR] [--keep] [--log-level info]
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { DaemonCluster } from '../src/testing/daemon-cluster.js';
import { serviceSpecToProto } from '../src/api/convert.js';
import type { control } from '../src/api/wire.js';
import { loadControlProto } from '../src/api/proto.js';
import type { HollowAgentsJob, HollowAgentsReport } from './hollow-agents.js';
import { unary } from '../src/manager/peer-clients.js';
import { validateServiceSpec } from '../src/api/validate.js';

const { values } = parseArgs({ options: { procs: { type: 'string' }, nodes: { type: 'string' }, tasks: { type: 'string' }, keep: { type: 'boolean' }, trace: { type: 'boolean' }, profile: { type: 'string' }, 'log-level': { type: 'string' } } });
const NODES = Number(values.nodes ?? 1000);
const TASKS = Number(values.tasks ?? 50_000);
/** Processes hosting the hollow agents (bench/hollow-agents.ts). */
const PROCS = Number(values.procs ?? 4);
const say = (s: string): void => void process.stderr.write(`# ${s}\n`);

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssMB(pid: number | undefined): { rss: number; peak: number } {
  if (!pid) return { rss: 0, peak: 0 };
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const base = mkdtempSync(join(tmpdir(), 'flotilla-bench-sched-'));
// --profile DIR: CPU profiles of the manager daemons and of the first process of hollow agents (written when they exit).
const c = new DaemonCluster({ baseDir: base, firstHost: 120, port: 7520, logLevel: values['log-level'] ?? 'warn', nodeArgs: values.profile ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] : [] });
const children: ChildProcess[] = [];
try {
  say(`starting 3 managers`);
  await c.init(0);
  await c.join(1, 'manager');
  await c.join(2, 'manager');
  const ids = (await c.cliOk(0, ['node', 'ls', '-q'])).stdout.trim().split('\n');
  for (const id of ids) await c.cliOk(0, ['node', 'update', '--availability', 'drain', id]);
  const token = (await c.cliOk(0, ['join-token', 'worker', '-q'])).stdout.trim();
  const caCertPem = readFileSync(join(c.node(0).dataDir, 'certificates', 'root-ca.crt'), 'utf8');
  const managers = [0, 1, 2].map((i) => ({ id: '', address: c.node(i).address }));
  const clusterId = (JSON.parse((await c.cliOk(0, ['cluster', 'info', '--format', 'json'])).stdout) as { cluster: { id: string } }).cluster.id;

  say(`joining ${NODES} hollow nodes in ${PROCS} processes`);
  const reports: HollowAgentsReport[] = [];
  const per = Math.ceil(NODES / PROCS);
  for (let k = 0; k < PROCS; k++) {
    const first = k * per;
    const count = Math.min(per, NODES - first);
    if (count <= 0) break;
    const child = fork(fileURLToPath(new URL('./hollow-agents.js', import.meta.url)), [], { execArgv: values.profile && k === 0 ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] : [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    reports.push({ joined: 0, started: 0, runningAcked: 0 });
    child.on('message', (r: HollowAgentsReport) => (reports[k] = r));
    child.send({ first, count, token, caCertPem, clusterId, managers } satisfies HollowAgentsJob);
    children.push(child);
  }
  const total = (key: keyof HollowAgentsReport): number => reports.reduce((n, r) => n + r[key], 0);
  const counters = { get started(): number {
    return total('started');
  } };
  let runningAcked = 0;
  const refresh = setInterval(() => (runningAcked = total('runningAcked')), 50);
  await waitFor(`${NODES} hollow nodes joined`, () => total('joined') >= NODES, 300_000);
  const control = new (loadControlProto().Client)(`unix:${join(c.node(0).dataDir, 'control.sock')}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 512 << 20 });
  await waitFor(
    `${NODES} hollow nodes ready`,
    async () => {
      const res = await unary<object, { nodes: { status: { state: number } | null }[] }>(control, 'ListNodes', {}, { deadlineMs: 30_000 });
      return res.nodes.filter((n) => n.status?.state === 2).length >= NODES;
    },
    120_000,
  );
  // One process hosts every hollow agent on a 2-core machine shared with the
  // managers: its event loop can stall for seconds, which real hosts would
  // not. A longer heartbeat grace keeps such stalls from being taken for node
  // failures (and tasks from being rescheduled in a loop); the scheduling path
  // measured is the same.
  const got = await unary<object, { cluster: { meta: { version: number }; spec: control.ClusterSpec__Output } }>(control, 'GetCluster', {}, { deadlineMs: 10_000 });
  await unary(control, 'UpdateCluster', { version: got.cluster.meta.version, spec: { ...got.cluster.spec, dispatcher: { heartbeatPeriodMs: 5_000, heartbeatGrace: 12 } } }, { deadlineMs: 10_000 });
  say(`${NODES} hollow nodes ready; creating a service of ${TASKS} replicas`);
  const spec = validateServiceSpec({
    name: 'bench',
    taskTemplate: { container: { image: 'hollow/bench:1' } },
    mode: { replicated: { replicas: TASKS } },
  });
  const cpu0 = c.nodes.slice(0, 3).map((n) => cpuSeconds(n.proc?.pid));
  // The hollow agents share the machine with the managers (on real hosts they would not): their CPU says how much.
  const agentsCpu0 = children.map((ch) => cpuSeconds(ch.pid));
  const t0 = Date.now();
  await unary(control, 'CreateService', { spec: serviceSpecToProto(spec) }, { deadlineMs: 30_000 });
  // --trace: how fast tasks reach the agents and their RUNNING reports commit (in-process counters, 100 ms steps).
  const trace = values.trace
    ? setInterval(() => say(`t+${Date.now() - t0} ms: started ${counters.started} (${reports.map((r) => r.started).join(' ')}), running acked ${runningAcked}`), 100)
    : null;
  let tAssigned = 0;
  await waitFor(
    'every task on its node',
    () => {
      if (counters.started >= TASKS && !tAssigned) tAssigned = Date.now();
      return tAssigned > 0;
    },
    600_000,
  );
  await waitFor('every task reported RUNNING and committed', () => runningAcked >= TASKS, 600_000);
  const tRunning = Date.now();
  if (trace) clearInterval(trace);
  clearInterval(refresh);
  const leaderInfo = JSON.parse((await c.cliOk(0, ['cluster', 'info', '--format', 'json'])).stdout) as { leaderAddr?: string };
  const leaderIdx = Math.max(0, c.nodes.findIndex((n) => n.address === leaderInfo.leaderAddr));
  const mem = c.nodes.slice(0, 3).map((n) => rssMB(n.proc?.pid));
  const cpu = c.nodes.slice(0, 3).map((n, i) => Math.round((cpuSeconds(n.proc?.pid) - cpu0[i]) * 10) / 10);
  const agentsCpuEach = children.map((ch, k) => Math.round((cpuSeconds(ch.pid) - agentsCpu0[k]) * 10) / 10);
  const agentsCpu = Math.round(agentsCpuEach.reduce((a, b) => a + b, 0) * 10) / 10;
  const result = {
    bench: 'scheduling',
    managers: 3,
    nodes: NODES,
    tasks: TASKS,
    secondsToAllAssigned: (tAssigned - t0) / 1000,
    tasksPerSecAssigned: Math.round(TASKS / ((tAssigned - t0) / 1000)),
    secondsToAllRunning: (tRunning - t0) / 1000,
    tasksPerSecRunning: Math.round(TASKS / ((tRunning - t0) / 1000)),
    targetTasksPerSec: 5000,
    nomadC1MTasksPerSec: 3750,
    leaderRssMB: mem[leaderIdx].rss,
    leaderPeakRssMB: mem[leaderIdx].peak,
    managersPeakRssMB: mem.map((m) => m.peak),
    // CPU seconds each manager spent from CreateService to the end (the machine is shared: a steadier figure than wall time).
    managersCpuSeconds: cpu,
    agentProcessesCpuSeconds: agentsCpu,
    agentProcessCpuSeconds: agentsCpuEach,
    leaderIndex: leaderIdx,
    agentProcesses: PROCS,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
  control.close();
} finally {
  say('stopping');
  await Promise.all(
    children.map(
      (ch) =>
        new Promise<void>((resolve) => {
          const t = setTimeout(() => ch.kill('SIGKILL'), 10_000);
          ch.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          if (ch.connected) ch.send('stop');
          else ch.kill('SIGKILL');
        }),
    ),
  );
  say('agents stopped');
  await c.stop();
  say('managers stopped');
  if (!values.keep) rmSync(base, { recursive: true, force: true });
}
process.exit(0);
