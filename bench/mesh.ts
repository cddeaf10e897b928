// The routing mesh under HTTP load, against HAProxy and a direct connection, in
// the same run (issue: "HTTP keep-alive requests/s and p50/p99 latency through
// the mesh, directly to one task, and through HAProxy configured with the same
// backends round-robin ... also new connections/s"). Target: the mesh reaches
// at least 0.7x HAProxy's requests/s with a p99 at most 1.5x.
//
// Backends: a keep-alive HTTP server that answers with its container's
// hostname (node's http module, in the offline node image of
// scripts/build-image.sh, flotilla:local; built here when it is missing),
// three containers per column. Every column reaches its backends through a
// host port that docker publishes on a loopback address (docker-proxy), so each
// crosses the same docker-proxy hop:
//   direct         wrk -> 127.0.0.193:18081 (one backend container)
//   haproxy-tcp    wrk -> HAProxy 127.0.0.196:18082, mode tcp (L4, like the mesh),
//                  balance roundrobin over the 3 backends 127.0.0.193-195:18081
//   haproxy-http   the same in mode http (L7: per request, server-side keep-alive);
//                  an extra line, not the reference
//   flotilla-mesh  wrk -> the node address of one node (a worker, n2 by default) on
//                  the service's published port 18080: a cluster of 1 manager and 2
//                  workers (real daemons on 127.0.0.190-192:7690), a 3-replica
//                  service of the same server, `-p 18080:8080` (mode ingress, the
//                  default); the mesh forwards each connection to a task, whose
//                  container publishes 8080 on a host port of its node's address.
//   swarm-ingress  Docker Swarm's routing mesh on the same engine, when it answers:
//                  `docker swarm init --advertise-addr 127.0.0.1` (left afterwards;
//                  an engine already in a swarm is not touched), the same 3-replica
//                  service published on 18084. A kernel without IPVS (this machine:
//                  /proc/net/ip_vs is absent) leaves that port silent: the bench
//                  checks for real and prints a line saying why it is not measured.
// HAProxy is Debian's package (scripts/setup-machine.sh installs it), run here as
// a child (`haproxy -f CFG -db`, its config in a temp dir), never as the system
// service; its defaults otherwise (threads: one per CPU).
//
// Load: wrk (Debian's), keep-alive, -t2 -c32, a warm-up then the measured run;
// requests/s and the p50/p99 come from wrk's own latency histogram (the one
// --latency prints) through a Lua done() hook that prints it as JSON. New
// connections/s: a second run per column with `Connection: close` (the server
// closes after each answer, wrk reconnects: one request per connection).
// All columns are set up first, then measured one after the other with the same
// things running (the cluster, the containers, HAProxy idle), Swarm last, alone
// (a mesh that cannot be measured has its cluster stopped before the others run).
// Figures drift with whatever else the machine does (2 cores here): the bench
// says so when the machine was already loaded before it started (loadAtStart,
// the 1-minute load average, in the ratio line); compare ratios of one run.
//
// Prints JSON lines:
//   {"bench":"mesh-http-keepalive","system":"direct"|"haproxy-tcp"|"haproxy-http"|"flotilla-mesh","rps":..,"p50Ms":..,"p99Ms":..,"connections":32,"seconds":10,...}
//   {"bench":"mesh-new-connections","system":...,"rps":..,...}       rps = new connections/s
//   {"bench":"mesh-ratio","rpsOverHaproxy":..,"p99OverHaproxy":..,"target":{"rps":0.7,"p99":1.5},"met":..}   against haproxy-tcp
//   {"bench":"mesh-http-keepalive","system":"swarm-ingress","measured":false,"reason":"..."}   (or its figures)
// A column that cannot be measured prints its line with "error" and the bench
// exits 1 after the others (the mesh column: until the routing mesh exists,
// its published port does not answer, or does not balance, within a bounded wait).
// Everything it started is removed at the end, also on error or Ctrl-C:
// containers labelled flotilla-bench-mesh=1 (and the cluster's task
// containers), HAProxy, wrk, the daemons, the swarm.
//
// Environment: MESH_BENCH_SECONDS (10) per measured run, MESH_BENCH_WARMUP_SECONDS (3),
// MESH_BENCH_CONNECTIONS (32), MESH_BENCH_THREADS (2), MESH_BENCH_MESH_WAIT_SECONDS (30:
// how long the published port may take to answer from every task), MESH_BENCH_NODE
// (1: which node wrk targets, 0 = the manager), MESH_BENCH_HAPROXY_THREADS (HAProxy's
// nbthread; unset: its default), MESH_BENCH_SWARM=0 skips Swarm,
// FLOTILLA_IMAGE (flotilla:local) the node image.
//
//   npm run bench:mesh
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonCluster } from '../src/testing/daemon-cluster.js';
import { TaskState, taskStateName, type Task } from '../src/api/objects.js';
import { serviceSpecToProto } from '../src/api/convert.js';
import { validateServiceSpec } from '../src/api/validate.js';
import { connect, type Control } from '../src/cli/connection.js';
import { listNodes, listTasks } from '../src/cli/lookup.js';
import { packageRoot } from '../src/common/protos.js';
import { connectEngine } from '../src/worker/exec/docker/engine.js';
import { LABEL_CLUSTER_ID, LABEL_SERVICE_NAME } from '../src/worker/exec/docker/labels.js';

function envNumber(name: string, dflt: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return dflt;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name}=${JSON.stringify(raw)} is not a non-negative number`);
  return v;
}

const IMAGE = process.env.FLOTILLA_IMAGE ?? 'flotilla:local';
const NODE_BIN = '/usr/local/bin/node';
const SECONDS = envNumber('MESH_BENCH_SECONDS', 10);
const WARMUP_SECONDS = envNumber('MESH_BENCH_WARMUP_SECONDS', 3);
const CONNECTIONS = envNumber('MESH_BENCH_CONNECTIONS', 32);
const THREADS = envNumber('MESH_BENCH_THREADS', 2);
const MESH_WAIT_MS = envNumber('MESH_BENCH_MESH_WAIT_SECONDS', 30) * 1000;
const TARGET_NODE = envNumber('MESH_BENCH_NODE', 1);
/** HAProxy's nbthread; 0: HAProxy's default (one thread per CPU). */
const HAPROXY_THREADS = envNumber('MESH_BENCH_HAPROXY_THREADS', 0);
const SWARM = process.env.MESH_BENCH_SWARM !== '0';
const REPLICAS = 3;
const TARGET = { rps: 0.7, p99: 1.5 };

// Addresses: nobody else's (the other benches and tests use 127.0.0.2-185).
const FIRST_HOST = 190; // the daemons: 127.0.0.190-192:7690
const CLUSTER_PORT = 7690;
const BACKEND_HOSTS = ['127.0.0.193', '127.0.0.194', '127.0.0.195'];
const BACKEND_PORT = 18081;
const HAPROXY_HOST = '127.0.0.196';
const HAPROXY_TCP_PORT = 18082;
const HAPROXY_HTTP_PORT = 18083;
const PUBLISHED_PORT = 18080;
const SWARM_PORT = 18084;
const LABEL = 'flotilla-bench-mesh';
const SERVICE = 'flotilla-bench-mesh';

/** The backend: keep-alive HTTP (node's defaults), answers its hostname; exits at once on SIGTERM (it is PID 1). */
const SERVER_JS =
  "const h=require('os').hostname();process.on('SIGTERM',()=>process.exit(0));" +
  "require('http').createServer((q,s)=>s.end(h)).listen(8080)";

/** Set by Ctrl-C / SIGTERM: the clean-up runs, and nothing more is measured or printed. */
let aborted = false;
const say = (s: string): void => void (aborted || process.stderr.write(`# ${s}\n`));
const out = (o: object): void => void (aborted || process.stdout.write(JSON.stringify(o) + '\n'));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err)).split('\n')[0];
const engine = connectEngine();

/** A column that cannot be measured here, with why. */
class Unavailable extends Error {}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 200): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
}

// ---------------------------------------------------------------- clean-up

/** What to undo, newest first; each step bounded, each run once, also on Ctrl-C. */
const undo: { what: string; fn: () => Promise<unknown> }[] = [];
/** Children to kill synchronously if the process exits without the clean-up (HAProxy, wrk). */
const children = new Set<ChildProcess>();

let cleaning: Promise<void> = Promise.resolve();

/** Runs the clean-up steps; calls are serialized, so that none returns while another's steps still run. */
function cleanUp(): Promise<void> {
  cleaning = cleaning.then(runUndo);
  return cleaning;
}

async function runUndo(): Promise<void> {
  for (let step = undo.pop(); step; step = undo.pop()) {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out after 60 s')), 60_000)));
    try {
      await Promise.race([step.fn(), bound]);
    } catch (err) {
      process.stderr.write(`# clean-up: ${step.what}: ${errText(err)}\n`);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Run one clean-up step now (and not again at the end). */
async function undoNow(what: string): Promise<void> {
  const i = undo.findIndex((u) => u.what === what);
  if (i < 0) return;
  const [step] = undo.splice(i, 1);
  await step.fn().catch((err: unknown) => process.stderr.write(`# clean-up: ${what}: ${errText(err)}\n`));
}

process.on('exit', () => {
  for (const p of children) p.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    say(`${sig}: cleaning up`);
    aborted = true;
    for (const p of children) if (p.spawnargs[0] === 'wrk') p.kill('SIGKILL');
    void cleanUp().finally(() => process.exit(130));
  });
}

/** Containers with our label, and the task containers of a cluster that held our service. */
async function removeContainers(filters: string[]): Promise<number> {
  let n = 0;
  for (const label of filters) {
    for (const info of await engine.listContainers({ all: true, filters: { label: [label] } })) {
      await engine.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
      n++;
    }
  }
  return n;
}

// ---------------------------------------------------------------- HTTP probes

/** One GET on a new connection; the body (the backend's hostname). */
function get(host: string, port: number, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/', agent: false, headers: { connection: 'close' }, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode ?? '?'}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/**
 * New connections to host:port until `want` distinct backends have answered
 * (round-robin reaches each within a few), bounded by timeoutMs. Returns the
 * hostnames seen and the last error, for the caller to judge.
 */
async function reach(host: string, port: number, want: number, timeoutMs: number): Promise<{ seen: Set<string>; answers: number; lastError: string }> {
  const seen = new Set<string>();
  let answers = 0;
  let lastError = '';
  const end = Date.now() + timeoutMs;
  while (seen.size < want && Date.now() < end) {
    try {
      seen.add(await get(host, port, Math.max(100, Math.min(2000, end - Date.now()))));
      answers++;
    } catch (err) {
      lastError = errText(err);
      await sleep(200);
    }
  }
  return { seen, answers, lastError };
}

/** Fails unless host:port answers from `want` distinct backends within timeoutMs. */
async function checkBalanced(what: string, host: string, port: number, want: number, timeoutMs: number): Promise<void> {
  const r = await reach(host, port, want, timeoutMs);
  if (r.seen.size === want) return;
  if (r.answers === 0) throw new Unavailable(`${what}: nothing answers on ${host}:${port} within ${timeoutMs / 1000} s (last error: ${r.lastError || 'none'})`);
  throw new Unavailable(`${what}: ${host}:${port} answered ${r.answers} new connections from only ${r.seen.size} of ${want} backends (${[...r.seen].join(', ')}) within ${timeoutMs / 1000} s: not balanced over them`);
}

// ---------------------------------------------------------------- wrk

interface Run {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  requests: number;
  /** Socket errors (connect, read, write, timeout) and non-2xx/3xx answers. */
  errors: number;
  errorDetail?: Record<string, number>;
}

/** wrk's done() hook: its summary and latency histogram as one JSON line (microseconds). */
const WRK_LUA = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\n{"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,"meanUs":%.1f,"maxUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
`;
let wrkScript = '';

function wrk(url: string, seconds: number, close: boolean): Promise<Run> {
  if (aborted) return Promise.reject(new Error('interrupted'));
  const args = ['-t', String(THREADS), '-c', String(CONNECTIONS), '-d', `${seconds}s`, '--latency', '-s', wrkScript, ...(close ? ['-H', 'Connection: close'] : []), url];
  return new Promise((resolve, reject) => {
    const p = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(p);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    const timer = setTimeout(() => p.kill('SIGKILL'), (seconds + 30) * 1000);
    p.on('error', (err) => {
      clearTimeout(timer);
      children.delete(p);
      reject(err);
    });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(p);
      const line = stdout.split('\n').find((l) => l.startsWith('{"requests"'));
      if (code !== 0 || !line) {
        reject(new Error(`wrk ${args.join(' ')} ended (${signal ?? `exit ${code}`}) without a summary: ${(stderr || stdout).trim().split('\n').slice(-3).join(' / ')}`));
        return;
      }
      const s = JSON.parse(line) as Record<string, number>;
      const detail = { connect: s.connect, read: s.read, write: s.write, timeout: s.timeout, status: s.status };
      const errors = Object.values(detail).reduce((a, b) => a + b, 0);
      const ms = (us: number): number => Number((us / 1000).toFixed(3));
      resolve({
        rps: Math.round(s.requests / (s.durationUs / 1e6)),
        p50Ms: ms(s.p50Us),
        p99Ms: ms(s.p99Us),
        meanMs: ms(s.meanUs),
        maxMs: ms(s.maxUs),
        requests: s.requests,
        errors,
        ...(errors > 0 ? { errorDetail: detail } : {}),
      });
    });
  });
}

interface Column {
  keepAlive: Run;
  newConnections: Run;
}

/** A column: warm-up, the keep-alive run, the Connection: close run; prints both lines. */
async function measure(system: string, host: string, port: number, extra: object = {}): Promise<Column> {
  const url = `http://${host}:${port}/`;
  const common = { system, target: `${host}:${port}`, threads: THREADS, connections: CONNECTIONS, seconds: SECONDS, ...extra };
  if (WARMUP_SECONDS > 0) {
    say(`${system}: warm-up ${WARMUP_SECONDS} s on ${url}`);
    await wrk(url, WARMUP_SECONDS, false);
  }
  say(`${system}: keep-alive, ${SECONDS} s, ${CONNECTIONS} connections`);
  const keepAlive = await wrk(url, SECONDS, false);
  out({ bench: 'mesh-http-keepalive', ...common, ...keepAlive });
  if (keepAlive.requests === 0) throw new Error(`${system}: no request completed on ${url}`);
  say(`${system}: new connections (Connection: close), ${SECONDS} s`);
  const newConnections = await wrk(url, SECONDS, true);
  out({ bench: 'mesh-new-connections', ...common, ...newConnections });
  return { keepAlive, newConnections };
}

/** The line of a column that could not be measured. */
function failed(system: string, err: unknown): void {
  const reason = errText(err);
  say(`${system}: NOT MEASURED: ${reason}`);
  out({ bench: 'mesh-http-keepalive', system, measured: false, error: reason });
}

// ---------------------------------------------------------------- direct and HAProxy

async function startBackends(): Promise<void> {
  undo.push({ what: 'remove the backend containers', fn: () => removeContainers([`${LABEL}=1`]) });
  for (const [i, host] of BACKEND_HOSTS.entries()) {
    const c = await engine.createContainer({
      name: `${LABEL}-backend-${i + 1}`,
      Image: IMAGE,
      Entrypoint: [NODE_BIN],
      Cmd: ['-e', SERVER_JS],
      Labels: { [LABEL]: '1' },
      ExposedPorts: { '8080/tcp': {} },
      StopTimeout: 1,
      HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: host, HostPort: String(BACKEND_PORT) }] } },
    });
    await c.start();
  }
  for (const host of BACKEND_HOSTS) {
    const r = await reach(host, BACKEND_PORT, 1, 20_000);
    if (r.seen.size === 0) throw new Error(`the backend on ${host}:${BACKEND_PORT} does not answer within 20 s (${r.lastError}); docker logs ${LABEL}-backend-N`);
  }
  say(`backends: ${BACKEND_HOSTS.map((h) => `${h}:${BACKEND_PORT}`).join(', ')}`);
}

function haproxyConfig(): string {
  const servers = BACKEND_HOSTS.map((h, i) => `  server b${i + 1} ${h}:${BACKEND_PORT} check`).join('\n');
  return `# bench/mesh.ts: the HAProxy peer (started with -db, killed at the end)
global
  maxconn 4000
${HAPROXY_THREADS > 0 ? `  nbthread ${HAPROXY_THREADS}\n` : ''}
defaults
  timeout connect 5s
  timeout client 60s
  timeout server 60s

listen tcp
  bind ${HAPROXY_HOST}:${HAPROXY_TCP_PORT}
  mode tcp
  balance roundrobin
${servers}

listen http
  bind ${HAPROXY_HOST}:${HAPROXY_HTTP_PORT}
  mode http
  balance roundrobin
${servers}
`;
}

async function startHaproxy(dir: string): Promise<void> {
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, haproxyConfig());
  const p = spawn('haproxy', ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(p);
  let log = '';
  p.stdout.on('data', (b: Buffer) => (log += b.toString('utf8')));
  p.stderr.on('data', (b: Buffer) => (log += b.toString('utf8')));
  let exited = false;
  const gone = new Promise<void>((resolve) =>
    p.on('close', () => {
      exited = true;
      children.delete(p);
      resolve();
    }),
  );
  p.on('error', (err) => (log += `${err.message}\n`));
  undo.push({
    what: 'stop HAProxy',
    fn: async () => {
      if (exited) return;
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    },
  });
  for (const port of [HAPROXY_TCP_PORT, HAPROXY_HTTP_PORT]) {
    await waitFor(`HAProxy on ${HAPROXY_HOST}:${port}`, async () => {
      if (exited) throw new Error(`haproxy exited: ${log.trim().split('\n').slice(-3).join(' / ')}`);
      return (await reach(HAPROXY_HOST, port, 1, 500)).answers > 0;
    }, 10_000);
    await checkBalanced(`haproxy on ${port}`, HAPROXY_HOST, port, REPLICAS, 10_000);
  }
  say(`haproxy ${execFileSync('haproxy', ['-v'], { encoding: 'utf8' }).split('\n')[0].replace(/^HAProxy version (\S+).*$/, '$1')}: tcp on ${HAPROXY_HOST}:${HAPROXY_TCP_PORT}, http on ${HAPROXY_HOST}:${HAPROXY_HTTP_PORT} (pid ${p.pid ?? '?'})`);
}

// ---------------------------------------------------------------- the mesh

const STOP_CLUSTER = 'stop the daemons and remove their task containers';

/** 1 manager + 2 workers, a 3-replica service published on PUBLISHED_PORT; resolves with the address wrk targets once it balances. */
async function startMesh(dir: string): Promise<{ host: string; port: number }> {
  const c = new DaemonCluster({ baseDir: join(dir, 'cluster'), firstHost: FIRST_HOST, port: CLUSTER_PORT, logLevel: 'warn' });
  let control: Control | null = null;
  let clusterId = '';
  undo.push({
    what: STOP_CLUSTER,
    fn: async () => {
      control?.close();
      await c.stop();
      if (!clusterId) return;
      await removeContainers([`${LABEL_CLUSTER_ID}=${clusterId}`]);
      for (const n of await engine.listNetworks({ filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`] } })) {
        await engine.getNetwork(n.Id).remove().catch(() => undefined);
      }
    },
  });
  say(`flotilla: 1 manager and 2 workers on 127.0.0.${FIRST_HOST}-${FIRST_HOST + 2}:${CLUSTER_PORT}`);
  await c.init(0);
  control = connect({ host: `unix://${join(c.node(0).dataDir, 'control.sock')}`, env: {} });
  await c.join(1, 'worker');
  await c.join(2, 'worker');
  const ctl = control;
  await waitFor('three ready nodes', async () => (await listNodes(ctl)).filter((n) => n.status.state === 'ready' && n.description.engineVersion).length === 3, 30_000);
  clusterId = (await ctl.call('GetCluster', {})).cluster?.meta?.id ?? '';

  const spec = validateServiceSpec({
    name: SERVICE,
    mode: { replicated: { replicas: REPLICAS } },
    taskTemplate: { container: { image: IMAGE, command: [NODE_BIN], args: ['-e', SERVER_JS], stopGracePeriodMs: 1000 } },
    endpoint: { ports: [{ protocol: 'tcp', targetPort: 8080, publishedPort: PUBLISHED_PORT, publishMode: 'ingress' }] },
  });
  const created = (await ctl.call('CreateService', { spec: serviceSpecToProto(spec) })).service;
  const id = created?.meta?.id;
  if (!id) throw new Error('CreateService answered without a service');
  say(`flotilla: service ${SERVICE}, ${REPLICAS} replicas, -p ${PUBLISHED_PORT}:8080 (ingress)`);
  // Bounded: 60 s, or as soon as the slots have failed twice over (they will not all run soon).
  let all: Task[] = [];
  const t0 = Date.now();
  for (;;) {
    all = await listTasks(ctl, { serviceIds: [id] });
    const running = all.filter((t) => t.desiredState === TaskState.RUNNING && t.status.state === TaskState.RUNNING).length;
    if (running === REPLICAS) break;
    const failedTasks = all.filter((t) => t.status.state === TaskState.FAILED || t.status.state === TaskState.REJECTED).length;
    if (failedTasks >= 2 * REPLICAS || Date.now() - t0 > 60_000) {
      const counts = new Map<string, number>();
      for (const t of all) counts.set(taskStateName(t.status.state), (counts.get(taskStateName(t.status.state)) ?? 0) + 1);
      const err = all.find((t) => t.status.err)?.status.err ?? '';
      // Engine errors are long (ids, endpoint names): their last two clauses say what happened.
      const short = err.split(': ').slice(-2).join(': ');
      throw new Unavailable(
        `the ${REPLICAS} tasks of -p ${PUBLISHED_PORT}:8080 did not all run within ${Math.round((Date.now() - t0) / 1000)} s ` +
          `(${all.length} tasks: ${[...counts].map(([k, v]) => `${v} ${k}`).join(', ')}${short ? `; an error: "${short}"` : ''}). ` +
          'Without the routing mesh an ingress port is published as that same host port by every task, so replicas on one host clash: is the mesh on this branch?',
      );
    }
    await sleep(200);
  }
  const target = c.node(Math.min(TARGET_NODE, 2)).host;
  say(`flotilla: ${REPLICAS} tasks RUNNING; waiting (at most ${MESH_WAIT_MS / 1000} s) for ${target}:${PUBLISHED_PORT} to answer from every task`);
  try {
    await checkBalanced('the mesh', target, PUBLISHED_PORT, REPLICAS, MESH_WAIT_MS);
  } catch (err) {
    if (!(err instanceof Unavailable)) throw err;
    throw new Unavailable(`${err.message}. The routing mesh (each node's proxy on its own address and the published port, round-robin over the service's tasks) is not on this branch, or does not work`);
  }
  say(`flotilla: the mesh answers on ${target}:${PUBLISHED_PORT} from all ${REPLICAS} tasks`);
  return { host: target, port: PUBLISHED_PORT };
}

// ---------------------------------------------------------------- Swarm

interface SwarmTask {
  DesiredState: string;
  Status: { State: string; Err?: string };
}

/** Swarm's ingress, on its own after the rest: a column when it answers, else a line saying why not. */
async function swarm(): Promise<void> {
  const system = 'swarm-ingress';
  const ipvs = existsSync('/proc/net/ip_vs');
  const state = docker('info', '--format', '{{.Swarm.LocalNodeState}}').trim();
  if (state !== 'inactive') {
    out({ bench: 'mesh-http-keepalive', system, measured: false, reason: `this engine is already in a swarm (${state}): not touching it` });
    return;
  }
  let joined = false;
  // `swarm init` creates the bridge docker_gwbridge and `swarm leave` keeps it: removed afterwards when it is ours.
  const gwbridge = async (): Promise<string | undefined> => (await engine.listNetworks({ filters: { name: ['docker_gwbridge'] } })).find((n) => n.Name === 'docker_gwbridge')?.Id;
  const hadGwbridge = (await gwbridge()) !== undefined;
  try {
    say('swarm: docker swarm init --advertise-addr 127.0.0.1');
    docker('swarm', 'init', '--advertise-addr', '127.0.0.1');
    joined = true;
    await engine.createService({
      Name: SERVICE,
      Labels: { [LABEL]: '1' },
      TaskTemplate: { ContainerSpec: { Image: IMAGE, Command: [NODE_BIN], Args: ['-e', SERVER_JS], StopGracePeriod: 1e9 } },
      Mode: { Replicated: { Replicas: REPLICAS } },
      EndpointSpec: { Ports: [{ Protocol: 'tcp', TargetPort: 8080, PublishedPort: SWARM_PORT, PublishMode: 'ingress' }] },
    });
    const tasks = async (): Promise<SwarmTask[]> => (await engine.listTasks({ filters: { service: [SERVICE], 'desired-state': ['running'] } })) as SwarmTask[];
    await waitFor(`${REPLICAS} swarm tasks running`, async () => (await tasks()).filter((t) => t.Status.State === 'running').length === REPLICAS, 90_000);
    const waitS = 10;
    say(`swarm: ${REPLICAS} tasks running; trying 127.0.0.1:${SWARM_PORT} for ${waitS} s`);
    const r = await reach('127.0.0.1', SWARM_PORT, REPLICAS, waitS * 1000);
    if (r.answers === 0) {
      out({
        bench: 'mesh-http-keepalive',
        system,
        measured: false,
        ipvs,
        reason:
          `Swarm's ingress does not answer on this engine: ${REPLICAS} tasks running, but 127.0.0.1:${SWARM_PORT} gave no answer within ${waitS} s (${r.lastError || 'no error'}); ` +
          (ipvs ? 'the kernel has IPVS (/proc/net/ip_vs), so the cause is elsewhere: see the dockerd log' : 'the kernel has no IPVS (/proc/net/ip_vs is absent), which the ingress routing mesh needs (dockerd: "Native loadbalancing will not work")'),
      });
      return;
    }
    await measure(system, '127.0.0.1', SWARM_PORT, { backendsSeen: r.seen.size });
  } catch (err) {
    failed(system, err);
  } finally {
    if (joined) {
      try {
        docker('service', 'rm', SERVICE);
      } catch {
        /* gone with the swarm */
      }
      try {
        docker('swarm', 'leave', '--force');
      } catch (err) {
        say(`swarm: leave failed: ${errText(err)}`);
      }
      await removeContainers([`com.docker.swarm.service.name=${SERVICE}`]);
      const bridge = hadGwbridge ? undefined : await gwbridge();
      if (bridge) await engine.getNetwork(bridge).remove().catch((err: unknown) => say(`swarm: docker_gwbridge stays: ${errText(err)}`));
    }
  }
}

// ---------------------------------------------------------------- main

function ensureTools(): void {
  for (const [cmd, arg] of [
    ['wrk', '-v'],
    ['haproxy', '-v'],
  ] as const) {
    try {
      execFileSync(cmd, [arg], { stdio: 'ignore' });
    } catch (err) {
      // wrk -v exits 1 after printing its version; only a missing binary is fatal.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${cmd} is not installed: run scripts/setup-machine.sh (as root), which installs Debian's haproxy and wrk`);
    }
  }
}

async function ensureImage(): Promise<void> {
  const has = async (): Promise<boolean> =>
    engine
      .getImage(IMAGE)
      .inspect()
      .then(() => true)
      .catch(() => false);
  if (await has()) return;
  say(`${IMAGE} is missing: bash scripts/build-image.sh (about 30 s)`);
  execFileSync('bash', [join(packageRoot(), 'scripts', 'build-image.sh')], { stdio: ['ignore', process.stderr, process.stderr], env: { ...process.env, FLOTILLA_IMAGE: IMAGE }, timeout: 600_000 });
}

async function main(): Promise<number> {
  const loadAtStart = Number(loadavg()[0].toFixed(2));
  if (loadAtStart >= 1) say(`the machine is busy before the bench starts (1-minute load ${loadAtStart}): figures will drift; compare the ratios`);
  ensureTools();
  await ensureImage();
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-mesh-'));
  undo.push({ what: 'remove the temp dir', fn: async () => rmSync(dir, { recursive: true, force: true }) });
  wrkScript = join(dir, 'summary.lua');
  writeFileSync(wrkScript, WRK_LUA);
  const stale = await removeContainers([`${LABEL}=1`, `${LABEL_SERVICE_NAME}=${SERVICE}`]);
  if (stale > 0) say(`removed ${stale} containers left by an earlier run`);

  let failures = 0;
  await startBackends();
  await startHaproxy(dir);
  let mesh: { host: string; port: number } | Error;
  try {
    mesh = await startMesh(dir);
  } catch (err) {
    mesh = err instanceof Error ? err : new Error(String(err));
    say(`flotilla-mesh: ${errText(err)}`);
    // Not measured: stop the cluster now, so that its failing tasks do not load the other columns.
    await undoNow(STOP_CLUSTER);
  }

  // MESH_BENCH_HAPROXY_THREADS, else HAProxy's own default: one thread per CPU it may run on.
  const haproxyThreads = HAPROXY_THREADS || Number(/default=(\d+)/.exec(execFileSync('haproxy', ['-vv'], { encoding: 'utf8' }))?.[1] ?? NaN) || null;
  const results = new Map<string, Column>();
  const column = async (system: string, host: string, port: number, extra: object = {}): Promise<void> => {
    try {
      results.set(system, await measure(system, host, port, extra));
    } catch (err) {
      failed(system, err);
      failures++;
    }
  };
  await column('direct', BACKEND_HOSTS[0], BACKEND_PORT);
  await column('haproxy-tcp', HAPROXY_HOST, HAPROXY_TCP_PORT, { haproxyThreads });
  await column('haproxy-http', HAPROXY_HOST, HAPROXY_HTTP_PORT, { haproxyThreads });
  if (mesh instanceof Error) {
    out({ bench: 'mesh-http-keepalive', system: 'flotilla-mesh', measured: false, error: errText(mesh) });
    failures++;
  } else {
    await column('flotilla-mesh', mesh.host, mesh.port);
  }

  const ours = results.get('flotilla-mesh');
  const peer = results.get('haproxy-tcp');
  const ratio = (x: number, y: number): number => Number((x / y).toFixed(2));
  if (ours && peer) {
    const rpsOverHaproxy = ratio(ours.keepAlive.rps, peer.keepAlive.rps);
    const p99OverHaproxy = ratio(ours.keepAlive.p99Ms, peer.keepAlive.p99Ms);
    out({
      bench: 'mesh-ratio',
      against: 'haproxy-tcp',
      rpsOverHaproxy,
      p99OverHaproxy,
      newConnectionsOverHaproxy: ratio(ours.newConnections.rps, peer.newConnections.rps),
      target: TARGET,
      met: rpsOverHaproxy >= TARGET.rps && p99OverHaproxy <= TARGET.p99,
      loadAtStart,
    });
  } else {
    out({ bench: 'mesh-ratio', against: 'haproxy-tcp', rpsOverHaproxy: null, p99OverHaproxy: null, target: TARGET, met: false, error: `not measured: ${!ours ? 'flotilla-mesh' : 'haproxy-tcp'} has no figures`, loadAtStart });
  }

  await cleanUp();
  if (SWARM) await swarm();
  else say('swarm: skipped (MESH_BENCH_SWARM=0)');
  return failures;
}

let code = 0;
try {
  code = (await main()) > 0 ? 1 : 0;
} catch (err) {
  say(`FAILED: ${(err as Error).stack ?? String(err)}`);
  code = 1;
} finally {
  await cleanUp();
}
process.exit(aborted ? 130 : code);
