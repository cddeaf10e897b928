// Convergence and rescheduling on real containers, against Docker Swarm mode
// on the same engine in the same run. Flotilla: 3 managers (drained) and 3
// workers as real daemons on 127.0.0.130-135:7530, default settings
// (heartbeat 1 s, grace 3). Prints JSON lines:
//   {"bench":"converge-20","system":"flotilla",...}  time from `service create` to 20 replicas RUNNING
//   {"bench":"converge-20","system":"swarm",...}     the same with `docker service create` (single-node swarm)
//   {"bench":"converge-20-ratio",...}                swarm / flotilla
//   {"bench":"reschedule","system":"flotilla",...}   time from kill -9 of a worker daemon to every replica RUNNING again
// Swarm needs several engines to lose a node, which this machine does not
// have: for rescheduling, its defaults (dispatcher heartbeat 5 s, node down
// after 3 missed) are the reference, 15-25 s, not a measurement.
//
//   npm run bench:reschedule
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonCluster } from '../src/testing/daemon-cluster.js';
import { TaskState, type Node, type Task } from '../src/api/objects.js';
import { connectEngine } from '../src/worker/exec/docker/engine.js';
import { LABEL_CLUSTER_ID } from '../src/worker/exec/docker/labels.js';

const IMAGE = process.env.FLOTILLA_TEST_IMAGE ?? 'flotilla/busybox:test';
const REPLICAS = 20;
const say = (s: string): void => void process.stderr.write(`# ${s}\n`);
const out = (o: object): void => void process.stdout.write(JSON.stringify(o) + '\n');

function lines<T>(text: string): T[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

async function flotilla(): Promise<number> {
  const base = mkdtempSync(join(tmpdir(), 'flotilla-bench-resched-'));
  const c = new DaemonCluster({ baseDir: base, firstHost: 130, port: 7530, logLevel: 'warn' });
  let clusterId = '';
  try {
    await c.init(0);
    await c.join(1, 'manager');
    await c.join(2, 'manager');
    for (const i of [3, 4, 5]) await c.join(i, 'worker');
    const nodes = async (): Promise<Node[]> => lines<Node>((await c.cliOk(0, ['node', 'ls', '--format', 'json'])).stdout);
    await waitFor('six ready nodes', async () => (await nodes()).filter((n) => n.status.state === 'ready' && n.description.engineVersion).length === 6, 30_000);
    for (const n of (await nodes()).filter((x) => x.role === 'manager')) await c.cliOk(0, ['node', 'update', '--availability', 'drain', n.id]);
    clusterId = (JSON.parse((await c.cliOk(0, ['cluster', 'info', '--format', 'json'])).stdout) as { cluster: { id: string } }).cluster.id;
    const running = async (): Promise<Task[]> =>
      lines<Task>((await c.cliOk(0, ['service', 'ps', '--format', 'json', 'bench'])).stdout).filter(
        (t) => t.desiredState === TaskState.RUNNING && t.status.state === TaskState.RUNNING,
      );

    say('flotilla: creating a 20-replica service');
    const t0 = Date.now();
    await c.cliOk(0, ['service', 'create', '--detach', '--name', 'bench', '--replicas', String(REPLICAS), '--stop-grace-period', '1s', IMAGE, 'sleep', '3600']);
    await waitFor('20 running', async () => (await running()).length === REPLICAS, 120_000);
    const converge = (Date.now() - t0) / 1000;
    out({ bench: 'converge-20', system: 'flotilla', replicas: REPLICAS, seconds: converge });

    const tasks = await running();
    const victimNode = tasks[0].nodeId;
    const all = await nodes();
    const vi = c.nodes.findIndex((d) => d.address === all.find((n) => n.id === victimNode)?.status.address);
    const lost = tasks.filter((t) => t.nodeId === victimNode).length;
    say(`flotilla: kill -9 of the worker holding ${lost} replicas`);
    const t1 = Date.now();
    await c.kill(vi);
    await waitFor('every replica running elsewhere', async () => {
      const r = await running();
      return r.length === REPLICAS && r.every((t) => t.nodeId !== victimNode);
    }, 120_000, 50);
    const resched = (Date.now() - t1) / 1000;
    out({ bench: 'reschedule', system: 'flotilla', replicas: REPLICAS, tasksLost: lost, seconds: resched, targetSeconds: 5, swarmDefaultsSeconds: '15-25 (reference, not measured)' });
    return converge;
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

async function swarm(): Promise<number | null> {
  let created = false;
  try {
    const state = docker('info', '--format', '{{.Swarm.LocalNodeState}}').trim();
    if (state === 'active') {
      say('swarm: this engine is already in a swarm: not touching it');
      return null;
    }
    docker('swarm', 'init', '--advertise-addr', '127.0.0.1');
    created = true;
    say('swarm: creating a 20-replica service');
    const t0 = Date.now();
    docker('service', 'create', '--detach', '--name', 'flotilla-bench', '--replicas', String(REPLICAS), '--no-resolve-image', '--stop-grace-period', '1s', IMAGE, 'sleep', '3600');
    await waitFor(
      '20 running in swarm',
      () => docker('service', 'ps', '--filter', 'desired-state=running', '--format', '{{.CurrentState}}', 'flotilla-bench').split('\n').filter((l) => l.startsWith('Running')).length === REPLICAS,
      180_000,
      100,
    );
    const seconds = (Date.now() - t0) / 1000;
    out({ bench: 'converge-20', system: 'swarm', replicas: REPLICAS, seconds });
    return seconds;
  } catch (err) {
    say(`swarm: not measured (${(err as Error).message.split('\n')[0]})`);
    return null;
  } finally {
    if (created) {
      try {
        docker('service', 'rm', 'flotilla-bench');
      } catch {
        /* gone with the swarm */
      }
      docker('swarm', 'leave', '--force');
    }
  }
}

const ours = await flotilla();
const theirs = await swarm();
if (theirs !== null) out({ bench: 'converge-20-ratio', swarmOverFlotilla: Number((theirs / ours).toFixed(2)), flotillaSeconds: ours, swarmSeconds: theirs });
process.exit(0);
