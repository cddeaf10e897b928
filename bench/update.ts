// A rolling update on real containers, against Docker Swarm mode on the same
// engine in the same run (issue 15): a 20-replica service rolled to a new
// version, start-first, parallelism 2, every other update setting at its
// default (monitor 5 s, failure action pause) on both sides. The new version
// is another tag of the offline image (flotilla/busybox:test-v2, tagged here),
// the same change for both.
//
// Counted from the update request until the update is complete AND every
// replica runs the new spec: Flotilla's GetService says updateStatus completed
// ("update completed"), Swarm's service inspect says UpdateStatus.State
// completed. Both include the monitor window each updater watches after its
// last batch (5 s). Both sides are driven through their APIs, polled every
// 100 ms: Flotilla's Control API (UpdateService, GetService, ListTasks) and the
// Engine API (ServiceUpdate, the request `docker service update --image
// --no-resolve-image` sends; ServiceInspect; TaskList).
//
// Flotilla: 3 managers (drained) and 3 workers as real daemons on
// 127.0.0.180-185:7680, default settings. Swarm: `docker swarm init
// --advertise-addr 127.0.0.1` (left afterwards; an engine already in a swarm is
// not touched and Swarm is not measured).
//
// The engine's floor, in the same run: the same rollout with no orchestrator at
// all, straight on the Engine API: 20 containers of the old tag, then a sliding
// window of 2 (create and start a container of the new tag, then stop the old
// one in the background with its 1 s grace), then the same 5 s monitor window.
// No orchestrator that runs each new task as a new container of the same kind
// (Swarm's and ours both use the default bridge) can roll faster than this;
// its ratio to Swarm's time is the best any orchestrator can reach here.
// Prints JSON lines:
//   {"bench":"update-20","system":"flotilla",...,"seconds":..}
//   {"bench":"update-20","system":"engine-floor",...,"seconds":..}
//   {"bench":"update-20","system":"swarm",...,"seconds":..}
//   {"bench":"update-20-ratio","flotillaOverSwarm":..,"floorOverSwarm":..,"target":0.7,...}
//
//   npm run bench:update
import { execFileSync } from 'node:child_process';
import type Docker from 'dockerode';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonCluster } from '../src/testing/daemon-cluster.js';
import { TaskState, type Service } from '../src/api/objects.js';
import { serviceFromProto, serviceSpecToProto } from '../src/api/convert.js';
import { validateServiceSpec } from '../src/api/validate.js';
import { connect } from '../src/cli/connection.js';
import { listNodes, listTasks } from '../src/cli/lookup.js';
import { connectEngine } from '../src/worker/exec/docker/engine.js';
import { LABEL_CLUSTER_ID } from '../src/worker/exec/docker/labels.js';

const IMAGE = process.env.FLOTILLA_TEST_IMAGE ?? 'flotilla/busybox:test';
const REPO = IMAGE.includes(':', IMAGE.lastIndexOf('/') + 1) ? IMAGE.slice(0, IMAGE.lastIndexOf(':')) : IMAGE;
const TAG = IMAGE === REPO ? 'latest' : IMAGE.slice(REPO.length + 1);
const V2 = `${REPO}:${TAG}-v2`;
const REPLICAS = 20;
const PARALLELISM = 2;
/** Swarm's default monitor window, which both updaters watch after their last batch. */
const MONITOR_MS = 5000;
const say = (s: string): void => void process.stderr.write(`# ${s}\n`);
const out = (o: object): void => void process.stdout.write(JSON.stringify(o) + '\n');
const engine = connectEngine();

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function flotilla(): Promise<number> {
  const base = mkdtempSync(join(tmpdir(), 'flotilla-bench-update-'));
  const c = new DaemonCluster({ baseDir: base, firstHost: 180, port: 7680, logLevel: 'warn' });
  const control = connect({ host: `unix://${join(c.node(0).dataDir, 'control.sock')}`, env: {} });
  let clusterId = '';
  try {
    await c.init(0);
    await c.join(1, 'manager');
    await c.join(2, 'manager');
    for (const i of [3, 4, 5]) await c.join(i, 'worker');
    await waitFor('six ready nodes', async () => (await listNodes(control)).filter((n) => n.status.state === 'ready' && n.description.engineVersion).length === 6, 30_000);
    for (const n of (await listNodes(control)).filter((x) => x.role === 'manager')) await c.cliOk(0, ['node', 'update', '--availability', 'drain', n.id]);
    clusterId = (await control.call('GetCluster', {})).cluster?.meta?.id ?? '';

    const spec = validateServiceSpec({
      name: 'bench',
      mode: { replicated: { replicas: REPLICAS } },
      taskTemplate: { container: { image: IMAGE, command: ['sleep', '3600'], stopGracePeriodMs: 1000 } },
      updateConfig: { parallelism: PARALLELISM, order: 'start-first' },
    });
    const created = (await control.call('CreateService', { spec: serviceSpecToProto(spec) })).service;
    if (!created) throw new Error('CreateService answered without a service');
    const id = created.meta?.id ?? '';
    const running = async (img: string): Promise<number> =>
      (await listTasks(control, { serviceIds: [id] })).filter((t) => t.desiredState === TaskState.RUNNING && t.status.state === TaskState.RUNNING && t.spec.container.image === img).length;
    const get = async (): Promise<Service> => {
      const s = (await control.call('GetService', { serviceIdOrName: id })).service;
      if (!s) throw new Error('GetService answered without a service');
      return serviceFromProto(s);
    };
    await waitFor(`${REPLICAS} running`, async () => (await running(IMAGE)) === REPLICAS, 120_000);
    /**
     * Where the time went (one machine: the leader's and the agents' clocks are the same clock). The window is
     * a sliding one (a slot starts as soon as one in flight is done), so per new task: its creation to its
     * RUNNING; then the last RUNNING to the completed status (the monitor window).
     */
    const breakdown = async (t0: number): Promise<object> => {
      const fresh = (await listTasks(control, { serviceIds: [id] })).filter((t) => t.spec.container.image === V2 && t.status.state === TaskState.RUNNING);
      const lastRunning = Math.max(...fresh.map((t) => t.status.timestamp));
      const completedAt = (await get()).updateStatus?.completedAt ?? 0;
      return {
        newTasks: fresh.length,
        firstCreateMs: Math.min(...fresh.map((t) => t.createdAt)) - t0,
        meanCreateToRunningMs: Math.round(fresh.reduce((a, t) => a + t.status.timestamp - t.createdAt, 0) / Math.max(1, fresh.length)),
        lastRunningMs: lastRunning - t0,
        lastRunningToCompletedMs: completedAt - lastRunning,
      };
    };
    say(`flotilla: rolling ${REPLICAS} replicas to ${V2} (start-first, parallelism ${PARALLELISM})`);
    const before = await get();
    const t0 = Date.now();
    await control.call('UpdateService', {
      serviceId: id,
      version: before.version,
      spec: serviceSpecToProto({ ...before.spec, taskTemplate: { ...before.spec.taskTemplate, container: { ...before.spec.taskTemplate.container, image: V2 } } }),
    });
    await waitFor('the update completed', async () => {
      const st = (await get()).updateStatus;
      if (st?.state === 'paused') throw new Error(`flotilla: the update paused: ${st.message}`);
      return st?.state === 'completed' && (await running(V2)) === REPLICAS;
    }, 300_000);
    const seconds = (Date.now() - t0) / 1000;
    out({ bench: 'update-20', system: 'flotilla', replicas: REPLICAS, parallelism: PARALLELISM, order: 'start-first', monitorS: MONITOR_MS / 1000, seconds, breakdown: await breakdown(t0) });
    return seconds;
  } finally {
    control.close();
    await c.stop();
    if (clusterId) {
      for (const info of await engine.listContainers({ all: true, filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`] } })) {
        await engine.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
      }
    }
    rmSync(base, { recursive: true, force: true });
  }
}

/** The same rollout with no orchestrator: see the header. */
async function engineFloor(): Promise<number> {
  const label = 'flotilla-bench-update-floor';
  const create = async (image: string): Promise<Docker.Container> => {
    const c = await engine.createContainer({ Image: image, Cmd: ['sleep', '3600'], StopTimeout: 1, Labels: { [label]: '1' } });
    await c.start();
    return c;
  };
  try {
    const olds: Docker.Container[] = [];
    for (let i = 0; i < REPLICAS; i++) olds.push(await create(IMAGE));
    say(`engine floor: rolling ${REPLICAS} containers to ${V2} straight on the engine (a window of ${PARALLELISM}, start-first)`);
    const t0 = Date.now();
    const stops: Promise<unknown>[] = [];
    let next = 0;
    const window = async (): Promise<void> => {
      for (let i = next++; i < REPLICAS; i = next++) {
        await create(V2);
        stops.push(olds[i].stop({ t: 1 }).catch(() => undefined));
      }
    };
    await Promise.all(Array.from({ length: PARALLELISM }, window));
    await new Promise((r) => setTimeout(r, MONITOR_MS));
    const seconds = (Date.now() - t0) / 1000;
    await Promise.all(stops);
    out({ bench: 'update-20', system: 'engine-floor', replicas: REPLICAS, parallelism: PARALLELISM, order: 'start-first', monitorS: MONITOR_MS / 1000, seconds });
    return seconds;
  } finally {
    for (const info of await engine.listContainers({ all: true, filters: { label: [`${label}=1`] } })) {
      await engine.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
    }
  }
}

interface SwarmTask {
  DesiredState: string;
  Status: { State: string };
  Spec: { ContainerSpec: { Image: string } };
}

interface SwarmService {
  Version: { Index: number };
  Spec: { Name: string; TaskTemplate: { ContainerSpec: { Image: string } } };
  UpdateStatus?: { State: string; Message?: string };
}

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

async function swarm(): Promise<number | null> {
  let created = false;
  const name = 'flotilla-bench-update';
  try {
    const state = docker('info', '--format', '{{.Swarm.LocalNodeState}}').trim();
    if (state === 'active') {
      say('swarm: this engine is already in a swarm: not touching it');
      return null;
    }
    docker('swarm', 'init', '--advertise-addr', '127.0.0.1');
    created = true;
    await engine.createService({
      Name: name,
      TaskTemplate: { ContainerSpec: { Image: IMAGE, Command: ['sleep', '3600'], StopGracePeriod: 1e9 } },
      Mode: { Replicated: { Replicas: REPLICAS } },
      UpdateConfig: { Parallelism: PARALLELISM, Order: 'start-first', FailureAction: 'pause', Monitor: MONITOR_MS * 1e6 },
    });
    const running = async (img: string): Promise<number> =>
      ((await engine.listTasks({ filters: { service: [name], 'desired-state': ['running'] } })) as SwarmTask[]).filter((t) => t.Status.State === 'running' && t.Spec.ContainerSpec.Image === img).length;
    const inspect = async (): Promise<SwarmService> => (await engine.getService(name).inspect()) as SwarmService;
    await waitFor(`${REPLICAS} running in swarm`, async () => (await running(IMAGE)) === REPLICAS, 180_000);

    say(`swarm: rolling ${REPLICAS} replicas to ${V2} (start-first, parallelism ${PARALLELISM})`);
    const before = await inspect();
    const t0 = Date.now();
    await engine.getService(name).update({ version: before.Version.Index, ...before.Spec, TaskTemplate: { ...before.Spec.TaskTemplate, ContainerSpec: { ...before.Spec.TaskTemplate.ContainerSpec, Image: V2 } } });
    await waitFor('the swarm update completed', async () => {
      const st = (await inspect()).UpdateStatus;
      if (st?.State === 'paused') throw new Error(`swarm: the update paused: ${st.Message ?? ''}`);
      return st?.State === 'completed' && (await running(V2)) === REPLICAS;
    }, 300_000);
    const seconds = (Date.now() - t0) / 1000;
    out({ bench: 'update-20', system: 'swarm', replicas: REPLICAS, parallelism: PARALLELISM, order: 'start-first', monitorS: MONITOR_MS / 1000, seconds });
    return seconds;
  } catch (err) {
    say(`swarm: not measured (${(err as Error).message.split('\n')[0]})`);
    return null;
  } finally {
    if (created) {
      try {
        docker('service', 'rm', name);
      } catch {
        /* gone with the swarm */
      }
      docker('swarm', 'leave', '--force');
    }
  }
}

await engine.getImage(IMAGE).tag({ repo: REPO, tag: `${TAG}-v2` });
const ours = await flotilla();
const floor = await engineFloor();
const theirs = await swarm();
const ratio = (x: number, y: number): number => Number((x / y).toFixed(2));
if (theirs !== null) {
  out({ bench: 'update-20-ratio', flotillaOverSwarm: ratio(ours, theirs), floorOverSwarm: ratio(floor, theirs), target: 0.7, flotillaSeconds: ours, floorSeconds: floor, swarmSeconds: theirs });
}
process.exit(0);
