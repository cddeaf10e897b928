// How fast the `flotilla` command answers a read, against `docker service ls`
// (Docker Swarm mode on the same engine) and a bare `node -e 0`, in the same
// run. A local single-manager daemon (127.0.0.190:7790, a temp data dir) with
// a few services; each command runs through the real bin/flotilla.js over the
// node's unix socket, as an operator runs it. The commands take turns (one run
// of each, RUNS times), so that a busy moment of the machine falls on all of
// them alike. Prints one JSON line per command:
//   {"bench":"cli","command":"flotilla service ls","runs":15,"medianSeconds":...,"minSeconds":...,
//    "targetSeconds":0.25,"overNodeBare":...,"overDockerServiceLs":...}
//   {"bench":"cli","command":"docker service ls",...}   (or "measured":false and why)
//   {"bench":"cli","command":"node -e 0",...}
//
//   npm run bench:cli            (CLI_BENCH_RUNS=15)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DaemonCluster } from '../src/testing/daemon-cluster.js';
import { connectEngine } from '../src/worker/exec/docker/engine.js';
import { LABEL_CLUSTER_ID } from '../src/worker/exec/docker/labels.js';
import { withSwarm } from './swarm.js';

const IMAGE = process.env.FLOTILLA_TEST_IMAGE ?? 'flotilla/busybox:test';
const RUNS = Number(process.env.CLI_BENCH_RUNS ?? 15);
const SERVICES = ['web', 'api', 'db'];
/** Issue 18: a read command completes in at most this, against a local manager. */
const TARGET_SECONDS = 0.25;
const say = (s: string): void => void process.stderr.write(`# ${s}\n`);
const out = (o: object): void => void process.stdout.write(JSON.stringify(o) + '\n');

interface Peer {
  command: string;
  argv: string[];
  env?: NodeJS.ProcessEnv;
  seconds: number[];
}

/** One run, wall time from spawn to exit; throws when the command fails (a failing command measures nothing). */
function timeOnce(p: Peer): number {
  const t0 = performance.now();
  const r = spawnSync(p.argv[0], p.argv.slice(1), { env: p.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${p.command} exited ${r.status ?? r.signal}: ${(r.stderr || r.error?.message || '').trim().split('\n')[0]}`);
  return seconds;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const round = (x: number): number => Number(x.toFixed(3));

/** Every peer RUNS times, in turns, after one warm-up run each (disk cache). */
function measure(peers: Peer[]): void {
  for (const p of peers) timeOnce(p);
  for (let i = 0; i < RUNS; i++) for (const p of peers) p.seconds.push(timeOnce(p));
}

async function main(): Promise<void> {
  const base = mkdtempSync(join(tmpdir(), 'flotilla-bench-cli-'));
  const c = new DaemonCluster({ baseDir: base, firstHost: 190, port: 7790, logLevel: 'warn' });
  let clusterId = '';
  try {
    say('flotilla: one manager on 127.0.0.190:7790');
    const n = await c.init(0);
    clusterId = (JSON.parse((await c.cliOk(0, ['cluster', 'info', '--format', 'json'])).stdout) as { cluster: { id: string } }).cluster.id;
    for (const s of SERVICES) await c.cliOk(0, ['service', 'create', '--detach', '--name', s, '--stop-grace-period', '1s', IMAGE, 'sleep', '3600']);
    const env = { ...process.env, FLOTILLA_DATA_DIR: n.dataDir, FLOTILLA_HOST: '' };
    const flotilla = (args: string[]): Peer => ({ command: `flotilla ${args.join(' ')}`, argv: [process.execPath, c.bin, ...args], env, seconds: [] });
    const ours = [flotilla(['service', 'ls']), flotilla(['node', 'ls']), flotilla(['service', 'ps', SERVICES[0]])];
    const bare: Peer = { command: 'node -e 0', argv: [process.execPath, '-e', '0'], seconds: [] };
    const dockerLs: Peer = { command: 'docker service ls', argv: ['docker', 'service', 'ls'], seconds: [] };
    let dockerWhy = '';
    try {
      await withSwarm(say, async () => {
        say(`timing ${RUNS} runs of each, in turns`);
        measure([...ours, dockerLs, bare]);
      });
    } catch (err) {
      dockerWhy = (err as Error).message.split('\n')[0];
      say(`swarm: not measured (${dockerWhy})`);
      if (bare.seconds.length < RUNS) {
        for (const p of [...ours, bare]) p.seconds.length = 0;
        measure([...ours, bare]);
      }
    }
    const bareMedian = median(bare.seconds);
    const dockerMedian = dockerLs.seconds.length === RUNS ? median(dockerLs.seconds) : null;
    for (const p of ours) {
      const m = median(p.seconds);
      out({
        bench: 'cli',
        command: p.command,
        runs: RUNS,
        medianSeconds: round(m),
        minSeconds: round(Math.min(...p.seconds)),
        targetSeconds: TARGET_SECONDS,
        overNodeBare: round(m / bareMedian),
        overDockerServiceLs: dockerMedian === null ? null : round(m / dockerMedian),
      });
    }
    if (dockerMedian !== null) out({ bench: 'cli', command: dockerLs.command, runs: RUNS, medianSeconds: round(dockerMedian), minSeconds: round(Math.min(...dockerLs.seconds)), overNodeBare: round(dockerMedian / bareMedian) });
    else out({ bench: 'cli', command: dockerLs.command, measured: false, reason: dockerWhy });
    out({ bench: 'cli', command: bare.command, runs: RUNS, medianSeconds: round(bareMedian), minSeconds: round(Math.min(...bare.seconds)) });
  } finally {
    await c.stop();
    if (clusterId) {
      const engine = connectEngine();
      for (const info of await engine.listContainers({ all: true, filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`] } })) {
        await engine.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
      }
    }
    rmSync(base, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
