// A multi-host flotilla cluster in containers (docker-compose.test.yml: managers
// m1-m3, workers w1-w3 on a private network, image flotilla:local), and the
// faults a chaos scenario injects into it: kill, stop, start, restart, pause,
// network disconnect, host loss. Every operator action goes through the
// `flotilla` CLI inside a node's container (docker exec); every fault through
// the docker CLI; every wait is bounded and says what it waited for.
//
// Task containers run on the host's engine (the socket is mounted into the
// nodes), so "a host is lost with its containers" is emulated: loseHost() kills
// the node's container and removes its task containers (label com.flotilla.node.id).
//
// Used by test/compose/ and by the chaos scenarios. Needs Debian's
// docker-compose (1.29) and the image from scripts/build-image.sh.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { ClusterInfoView } from '../cli/cluster-commands.js';
import { connect, type Control } from '../cli/connection.js';
import { findService, listNodes, listTasks } from '../cli/lookup.js';
import { packageRoot } from '../common/protos.js';
import type { Node, Task } from '../api/objects.js';
import { connectEngine } from '../worker/exec/docker/engine.js';
import { LABEL_CLUSTER_ID, LABEL_NODE_ID, LABEL_SERVICE_NAME } from '../worker/exec/docker/labels.js';

export const MANAGERS = ['m1', 'm2', 'm3'] as const;
export const WORKERS = ['w1', 'w2', 'w3'] as const;
export const NODE_NAMES = [...MANAGERS, ...WORKERS] as const;
export type ManagerName = (typeof MANAGERS)[number];
export type WorkerName = (typeof WORKERS)[number];
export type NodeName = (typeof NODE_NAMES)[number];

/** Fixed addresses on the private network (docker-compose.test.yml). */
export const NODE_IPS: Readonly<Record<NodeName, string>> = {
  m1: '172.28.0.11',
  m2: '172.28.0.12',
  m3: '172.28.0.13',
  w1: '172.28.0.21',
  w2: '172.28.0.22',
  w3: '172.28.0.23',
};
export const NODE_PORT = 4242;

export const DEFAULT_PROJECT = 'flotilla-test';
export const DEFAULT_IMAGE = 'flotilla:local';
/** The compose network's key in the file; docker names it <project>_cluster. */
const NETWORK_KEY = 'cluster';
const DATA_DIR = '/data';
const NODE_BIN = '/usr/local/bin/node';
const CLI_JS = '/app/bin/flotilla.js';

export interface ComposeClusterOptions {
  /** docker-compose project name (default $FLOTILLA_COMPOSE_PROJECT or flotilla-test). */
  project?: string;
  /** The compose file (default <package root>/docker-compose.test.yml). */
  file?: string;
  /** The nodes' image (default $FLOTILLA_IMAGE or flotilla:local). */
  image?: string;
  /** Drain the managers once the cluster is up, so tasks land on the workers (default true). */
  drainManagers?: boolean;
  /** Bound of up() as a whole (default 150 s). */
  upTimeoutMs?: number;
  /** How long up() waits for another live harness to release the project (default 60 s). */
  busyWaitMs?: number;
  /** The daemons' log level (FLOTILLA_LOG_LEVEL; default info). */
  logLevel?: string;
  /** Progress lines (up, down, faults); default: none. */
  log?: (line: string) => void;
  /** Leave the containers and volumes in place on down() (for debugging; default $FLOTILLA_KEEP_CLUSTER === '1'). */
  keep?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** True when the command was killed for running past its time limit. */
  timedOut: boolean;
}

export interface ClusterEvent {
  /** ms since up() began. */
  t: number;
  /** Wall clock (ms since the epoch), to line up with the daemons' logs. */
  at: number;
  what: string;
}

export type ContainerState = 'running' | 'paused' | 'exited' | 'created' | 'restarting' | 'dead' | 'removing' | 'missing';

export class ComposeClusterError extends Error {
  override readonly name = 'ComposeClusterError';
}

export type Preflight = { ok: true } | { ok: false; reason: string };

/** Runs a command with a time limit; never throws (a missing binary gives code -1 and the reason in stderr). */
export function run(cmd: string, args: readonly string[], o: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const done = (r: RunResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: o.env ?? process.env, cwd: o.cwd });
    const timer = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, timeoutMs);
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    p.on('error', (err) => done({ code: -1, stdout, stderr: `${stderr}${cmd}: ${err.message}`, timedOut }));
    p.on('close', (code) => done({ code: code ?? -1, stdout, stderr: timedOut ? `${stderr}\n(killed after ${timeoutMs} ms)` : stderr, timedOut }));
  });
}

function describe(cmd: string, args: readonly string[], r: RunResult): string {
  const why = r.timedOut ? 'timed out' : `exited ${r.code}`;
  return `\`${cmd} ${args.join(' ')}\` ${why}: ${(r.stderr.trim() || r.stdout.trim()).slice(-2000)}`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether the harness `pid@host` still runs (one on another host is taken as alive: it cannot be checked). */
function ownerAlive(owner: string): boolean {
  const m = /^(\d+)@(.+)$/.exec(owner);
  if (!m) return false;
  if (m[2] !== hostname()) return true;
  try {
    process.kill(Number(m[1]), 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const live = new Set<ComposeCluster>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  // Last resort when a test process dies without down(): nothing may leak onto the shared engine.
  process.on('exit', () => {
    for (const c of live) c.downSync();
  });
}

export class ComposeCluster {
  readonly project: string;
  readonly file: string;
  readonly image: string;
  readonly network: string;
  readonly events: ClusterEvent[] = [];
  /** The cluster id (known once up() has seen the cluster). */
  clusterId = '';
  private t0 = Date.now();
  private readonly ids = new Map<NodeName, string>();
  private readonly nodeIds = new Map<NodeName, string>();
  private tokens: { worker: string; manager: string } | null = null;
  private docker: Docker | null = null;
  /** A copy of m1's certificates (DIR/certificates/...), for Control API clients on this host. */
  private credentialsDir: string | null = null;
  /** pid@host of this harness: the label com.flotilla.test.owner of the containers it makes. */
  readonly owner = `${process.pid}@${hostname()}`;

  constructor(private readonly o: ComposeClusterOptions = {}) {
    this.project = o.project ?? process.env.FLOTILLA_COMPOSE_PROJECT ?? DEFAULT_PROJECT;
    this.file = o.file ?? join(packageRoot(), 'docker-compose.test.yml');
    this.image = o.image ?? process.env.FLOTILLA_IMAGE ?? DEFAULT_IMAGE;
    this.network = `${this.project}_${NETWORK_KEY}`;
  }

  /** What up() needs: the docker CLI and an engine, docker-compose, the image, the compose file. Never throws. */
  static async preflight(o: ComposeClusterOptions = {}): Promise<Preflight> {
    const c = new ComposeCluster(o);
    const engine = await run('docker', ['version', '--format', '{{.Server.Version}}'], { timeoutMs: 10_000 });
    if (engine.code !== 0) return { ok: false, reason: `no Docker engine answers (${(engine.stderr.trim() || 'docker version failed').split('\n')[0]}): run scripts/setup-machine.sh (as root)` };
    const compose = await run('docker-compose', ['version', '--short'], { timeoutMs: 15_000 });
    if (compose.code !== 0) return { ok: false, reason: `docker-compose is not installed or does not run (${compose.stderr.trim().split('\n')[0]}): run \`apt-get install docker-compose\` (Debian's 1.29)` };
    const image = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', c.image], { timeoutMs: 10_000 });
    if (image.code !== 0) return { ok: false, reason: `the image ${c.image} is missing: build it offline with \`bash scripts/build-image.sh\`` };
    if (!existsSync(c.file)) return { ok: false, reason: `the compose file ${c.file} is missing` };
    return { ok: true };
  }

  // --- timeline ------------------------------------------------------------------

  /** Adds an event to the timeline (faults and phases are added by the harness itself). */
  note(what: string): void {
    const at = Date.now();
    this.events.push({ t: at - this.t0, at, what });
    this.o.log?.(`[${((at - this.t0) / 1000).toFixed(3)}s] ${what}`);
  }

  /** The timeline, one event per line: `+  12.345s kill m1`. */
  timeline(): string {
    return this.events.map((e) => `+${(e.t / 1000).toFixed(3).padStart(9)}s ${e.what}`).join('\n');
  }

  // --- lifecycle ------------------------------------------------------------------

  /**
   * Brings the cluster up from nothing: waits (bounded) while another live
   * harness holds the project, removes what a dead one left, then m1 runs init; its join tokens go to m2 and m3 (one after
   * the other) and to the workers through the environment of
   * `docker-compose up`. Resolves when `node ls` shows six ready nodes and
   * `cluster info` three reachable managers and a leader; then drains the
   * managers (unless told not to). On failure, call down() all the same.
   */
  async up(): Promise<void> {
    const deadline = Date.now() + (this.o.upTimeoutMs ?? 150_000);
    const left = (cap: number): number => Math.max(1_000, Math.min(cap, deadline - Date.now()));
    const pre = await ComposeCluster.preflight(this.o);
    if (!pre.ok) throw new ComposeClusterError(pre.reason);
    this.t0 = Date.now();
    this.events.length = 0;
    this.nodeIds.clear();
    this.clusterId = '';
    this.tokens = null;
    await this.claim(left(this.o.busyWaitMs ?? 60_000));
    live.add(this);
    hookExit();
    this.note('up: m1 (init)');
    await this.compose(['up', '-d', '--no-build', '--no-deps', 'm1'], {}, left(90_000));
    await this.waitControl('m1', left(60_000));
    // m1's certificates now, for the Control API reads that watch the others come up.
    await this.copyCredentials();
    this.tokens = {
      worker: (await this.cliOk('m1', ['join-token', 'worker', '-q'])).stdout.trim(),
      manager: (await this.cliOk('m1', ['join-token', 'manager', '-q'])).stdout.trim(),
    };
    const env = { FLOTILLA_WORKER_TOKEN: this.tokens.worker, FLOTILLA_MANAGER_TOKEN: this.tokens.manager };
    // Managers one at a time: each join is a Raft membership change.
    for (const m of ['m2', 'm3'] as const) {
      this.note(`up: ${m} (join as manager)`);
      await this.compose(['up', '-d', '--no-build', '--no-deps', m], env, left(90_000));
      await this.waitControl(m, left(60_000));
    }
    this.note('up: w1 w2 w3 (join as workers)');
    await this.compose(['up', '-d', '--no-build', '--no-deps', ...WORKERS], env, left(90_000));

    let last = '';
    await this.waitFor(
      () => `six ready nodes and three reachable managers (last: ${last})`,
      async () => {
        const ns = await this.nodes('m1').catch((err: Error) => ((last = err.message), []));
        const info = await this.info('m1').catch((err: Error) => ((last = err.message), null));
        if (!info || ns.length === 0) return false;
        const ready = ns.filter((n) => n.status.state === 'ready' && n.description.engineVersion);
        const reachable = info.managers.filter((m) => m.reachability === 'reachable');
        last = `${ready.length} ready (${ready.map((n) => n.description.hostname).join(',')}), ${reachable.length} reachable managers, leader ${info.leaderId || 'none'}`;
        const [exited] = await this.exitedNodes();
        if (exited) throw new ComposeClusterError(`${exited} exited while the cluster came up:\n${await this.logs(exited, 30)}`);
        if (ready.length !== 6 || reachable.length !== 3 || !info.leaderId) return false;
        for (const n of ns) {
          const name = NODE_NAMES.find((x) => x === n.description.hostname);
          if (name) this.nodeIds.set(name, n.id);
        }
        this.clusterId = info.cluster.id;
        return this.nodeIds.size === 6;
      },
      left(60_000),
    );
    if (this.o.drainManagers ?? true) {
      for (const m of MANAGERS) await this.cliOk('m1', ['node', 'update', '--availability', 'drain', this.nodeIdOf(m)]);
    }
    this.note(`up: cluster ${this.clusterId} ready`);
  }

  /**
   * Removes everything: `docker-compose down -v` (containers, network, data
   * volumes), then the task containers labelled with this cluster id. Does
   * nothing while another live harness holds the project (an up() of ours that
   * gave up waiting for it). Best effort; throws at the end if compose failed.
   */
  async down(): Promise<void> {
    live.delete(this);
    if (this.o.keep ?? process.env.FLOTILLA_KEEP_CLUSTER === '1') {
      this.note(`down: skipped (keep): project ${this.project} left running`);
      return;
    }
    const others = await this.otherLiveOwners();
    if (others.length) {
      this.note(`down: skipped: project ${this.project} belongs to the running harness ${others.join(', ')}`);
      return;
    }
    this.note('down');
    const clusterIds = new Set<string>(this.clusterId ? [this.clusterId] : await this.clusterIdsInVolumes());
    // Unpause first: a frozen daemon cannot stop gracefully.
    for (const name of NODE_NAMES) if ((await this.state(name)) === 'paused') await this.docker_(['unpause', await this.containerOf(name)]);
    const problems: string[] = [];
    const r = await this.composeRun(['down', '-v', '--remove-orphans', '-t', '3'], {}, 120_000);
    if (r.code !== 0) problems.push(describe('docker-compose', ['down'], r));
    for (const id of clusterIds) {
      const n = await this.removeTaskContainers({ [LABEL_CLUSTER_ID]: id });
      if (n) this.note(`down: removed ${n} task containers of cluster ${id}`);
    }
    this.ids.clear();
    this.dropCredentials();
    if (problems.length) throw new ComposeClusterError(`down: ${problems.join('; ')}`);
  }

  /** The synchronous last resort of the exit hook. */
  downSync(): void {
    if (this.o.keep ?? process.env.FLOTILLA_KEEP_CLUSTER === '1') return;
    spawnSync('docker-compose', ['-p', this.project, '-f', this.file, 'down', '-v', '--remove-orphans', '-t', '1'], { stdio: 'ignore', timeout: 60_000 });
    if (this.clusterId) {
      const ps = spawnSync('docker', ['ps', '-aq', '--filter', `label=${LABEL_CLUSTER_ID}=${this.clusterId}`], { encoding: 'utf8', timeout: 20_000 });
      const ids = (ps.stdout ?? '').split('\n').filter(Boolean);
      if (ids.length) spawnSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore', timeout: 60_000 });
    }
    this.dropCredentials();
    live.delete(this);
  }

  /**
   * Makes the project ours. The addresses are fixed, so one cluster runs per
   * engine: while another live harness (its pid@host in the label
   * com.flotilla.test.owner) holds the project, wait for it, bounded; what a
   * dead one (or a run by hand) left is removed.
   */
  private async claim(busyWaitMs: number): Promise<void> {
    let waiting = '';
    const holder = await this.waitFor(
      () => `project ${this.project} to be released by the harness ${waiting} (a running test or chaos run; or remove it: docker-compose -p ${this.project} -f ${this.file} down -v)`,
      async () => {
        const owners = await this.otherLiveOwners();
        if (owners.length === 0) return 'free';
        if (!waiting) this.note(`up: project ${this.project} is in use by ${owners.join(', ')}: waiting`);
        waiting = owners.join(', ');
        return false;
      },
      busyWaitMs,
      1_000,
    );
    if (holder === 'free') await this.removeLeftovers();
  }

  /** The live harnesses other than this one that hold containers of the project. */
  private async otherLiveOwners(): Promise<string[]> {
    const r = await this.dockerOk(['ps', '-a', '--filter', `label=com.docker.compose.project=${this.project}`, '--format', '{{.Label "com.flotilla.test.owner"}}']);
    return [...new Set(r.stdout.split('\n').map((l) => l.trim()))].filter((o) => o && o !== this.owner && ownerAlive(o));
  }

  /** Containers, volumes and task containers of an earlier run of this project. */
  private async removeLeftovers(): Promise<void> {
    const ps = await this.docker_(['ps', '-aq', '--filter', `label=com.docker.compose.project=${this.project}`]);
    const vols = await this.docker_(['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${this.project}`]);
    if (!ps.stdout.trim() && !vols.stdout.trim()) return;
    this.note(`up: removing what an earlier run of project ${this.project} left (its harness is gone)`);
    const saved = this.clusterId;
    this.clusterId = '';
    await this.down();
    this.clusterId = saved;
  }

  /** Cluster ids recorded in the data volumes of this project (read with a throwaway container of the image). */
  private async clusterIdsInVolumes(): Promise<string[]> {
    const vols = (await this.docker_(['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${this.project}`])).stdout.split('\n').filter(Boolean);
    for (const v of vols) {
      const r = await run('docker', ['run', '--rm', '--network', 'none', '--label', `com.flotilla.test.helper=${this.project}`, '-v', `${v}:/data:ro`, '--entrypoint', '/bin/cat', this.image, '/data/node.json'], { timeoutMs: 30_000 });
      if (r.code !== 0) continue;
      try {
        const id = (JSON.parse(r.stdout) as { clusterId?: unknown }).clusterId;
        if (typeof id === 'string' && id) return [id];
      } catch {
        // a damaged node.json: try the next volume
      }
    }
    return [];
  }

  // --- the CLI inside the nodes -------------------------------------------------

  /** `flotilla --data-dir /data ARGS` inside `name`'s container (docker exec). */
  async cli(name: NodeName, args: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
    const id = await this.containerOf(name);
    return run('docker', ['exec', id, NODE_BIN, CLI_JS, '--data-dir', DATA_DIR, ...args], { timeoutMs });
  }

  /** The CLI, expecting success; throws with its stderr otherwise. */
  async cliOk(name: NodeName, args: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
    const r = await this.cli(name, args, timeoutMs);
    if (r.code !== 0) throw new ComposeClusterError(`flotilla ${args.join(' ')} (on ${name}) ${r.timedOut ? 'timed out' : `exited ${r.code}`}: ${r.stderr.trim()}`);
    return r;
  }

  /** The stored nodes, through manager `via`'s Control API (the CLI prints docker's rows, which say less). */
  async nodes(via: ManagerName): Promise<Node[]> {
    return this.read(via, listNodes);
  }

  /** `cluster info --format json` through manager `via`. */
  async info(via: ManagerName): Promise<ClusterInfoView> {
    return JSON.parse((await this.cliOk(via, ['--timeout', '5s', 'cluster', 'info', '--format', 'json'], 15_000)).stdout) as ClusterInfoView;
  }

  /** The stored tasks of SERVICE, through manager `via`'s Control API. */
  async tasks(via: ManagerName, service: string): Promise<Task[]> {
    return this.read(via, async (api) => listTasks(api, { serviceIds: [(await findService(api, service)).id] }));
  }

  /** One read of manager `m`'s Control API, closed afterwards; its error when it fails. */
  private async read<T>(m: ManagerName, f: (api: Control) => Promise<T>): Promise<T> {
    const api = this.api(m, 5_000);
    try {
      return await f(api);
    } finally {
      api.close();
    }
  }

  /**
   * A client of manager `m`'s Control API from this host, over mutual TLS on
   * the private network (the host reaches it through the bridge), with m1's
   * manager certificate: what an operator's CLI with `--host` does. A new
   * channel each call, so a manager that comes back is found at once (a
   * channel that failed backs off); close() it when done.
   */
  api(m: ManagerName, timeoutMs = 3_000): Control {
    if (!this.credentialsDir) throw new ComposeClusterError('no certificates to reach the managers from this host: call up() first');
    return connect({ host: `${NODE_IPS[m]}:${NODE_PORT}`, dataDir: this.credentialsDir, timeoutMs, env: {} });
  }

  /** One call to manager `m`'s Control API from this host, closed afterwards; undefined when it fails. */
  async ask<T>(m: ManagerName, f: (api: Control) => Promise<T>, timeoutMs = 2_000): Promise<T | undefined> {
    const api = this.api(m, timeoutMs);
    try {
      return await f(api);
    } catch {
      return undefined;
    } finally {
      api.close();
    }
  }

  /** The join tokens m1 handed out in up(). */
  joinTokens(): { worker: string; manager: string } {
    if (!this.tokens) throw new ComposeClusterError('no join tokens yet: call up() first');
    return { ...this.tokens };
  }

  nodeIdOf(name: NodeName): string {
    const id = this.nodeIds.get(name);
    if (!id) throw new ComposeClusterError(`the node id of ${name} is not known: call up() first`);
    return id;
  }

  /** The container name of a node id (undefined for a node that is not one of the six). */
  nameOf(nodeId: string): NodeName | undefined {
    for (const [name, id] of this.nodeIds) if (id === nodeId) return name;
    return undefined;
  }

  /**
   * The container of the leader, as the first manager that answers sees it
   * (managers tried in order, running and unpaused ones only); undefined when
   * none answers or none knows a leader. Under a partition the answer of a
   * minority manager may be stale: pass `via` to ask a given one.
   */
  async leader(via: readonly ManagerName[] = MANAGERS): Promise<NodeName | undefined> {
    for (const m of via) {
      if ((await this.state(m)) !== 'running') continue;
      const info = await this.info(m).catch(() => null);
      if (info?.leaderId) return this.nameOf(info.leaderId);
    }
    return undefined;
  }

  /** Waits until some manager reports a leader (other than `not`, when given). */
  async waitLeader(o: { not?: NodeName; via?: readonly ManagerName[]; timeoutMs?: number } = {}): Promise<NodeName> {
    let last: NodeName | undefined;
    return this.waitFor(
      () => `a leader${o.not ? ` other than ${o.not}` : ''} (last seen: ${last ?? 'none'})`,
      async () => {
        last = await this.leader(o.via ?? MANAGERS.filter((m) => m !== o.not));
        return last !== undefined && last !== o.not ? last : undefined;
      },
      o.timeoutMs ?? 30_000,
    );
  }

  // --- faults ----------------------------------------------------------------------

  /** docker kill (SIGKILL by default): the daemon dies; its task containers keep running on the host. */
  async kill(name: NodeName, signal = 'KILL'): Promise<void> {
    this.note(`kill ${name}${signal === 'KILL' ? '' : ` (SIG${signal})`}`);
    await this.dockerOk(['kill', '-s', signal, await this.containerOf(name)]);
  }

  /** docker stop: SIGTERM, then SIGKILL after `timeoutS`. */
  async stop(name: NodeName, timeoutS = 5): Promise<void> {
    this.note(`stop ${name}`);
    await this.dockerOk(['stop', '-t', String(timeoutS), await this.containerOf(name)], (timeoutS + 30) * 1000);
  }

  /** docker start: the entrypoint restarts the node from its data dir (flotilla daemon). */
  async start(name: NodeName): Promise<void> {
    this.note(`start ${name}`);
    await this.dockerOk(['start', await this.containerOf(name)]);
  }

  /** docker restart (stop with `timeoutS`, then start). */
  async restart(name: NodeName, timeoutS = 5): Promise<void> {
    this.note(`restart ${name}`);
    await this.dockerOk(['restart', '-t', String(timeoutS), await this.containerOf(name)], (timeoutS + 30) * 1000);
  }

  /** docker pause: the daemon freezes (cgroup freezer); connections stay open but nothing answers. */
  async pause(name: NodeName): Promise<void> {
    this.note(`pause ${name}`);
    await this.dockerOk(['pause', await this.containerOf(name)]);
  }

  async unpause(name: NodeName): Promise<void> {
    this.note(`unpause ${name}`);
    await this.dockerOk(['unpause', await this.containerOf(name)]);
  }

  /** Cuts the node off the private network (its task containers keep running on the host). */
  async disconnect(name: NodeName): Promise<void> {
    this.note(`disconnect ${name}`);
    await this.dockerOk(['network', 'disconnect', this.network, await this.containerOf(name)]);
  }

  /** Reconnects the node with its fixed address and its service name as an alias. */
  async connect(name: NodeName): Promise<void> {
    this.note(`connect ${name}`);
    await this.dockerOk(['network', 'connect', '--ip', NODE_IPS[name], '--alias', name, this.network, await this.containerOf(name)]);
  }

  /**
   * Host loss: the node's container is killed AND its task containers are
   * removed, as if the machine had died with them. Resolves with how many task
   * containers went. start() brings the host back with its data dir.
   */
  async loseHost(name: NodeName): Promise<number> {
    const nodeId = this.nodeIdOf(name);
    this.note(`lose host ${name} (node ${nodeId})`);
    await this.dockerOk(['kill', await this.containerOf(name)]);
    const n = await this.removeTaskContainers({ [LABEL_NODE_ID]: nodeId, ...(this.clusterId ? { [LABEL_CLUSTER_ID]: this.clusterId } : {}) });
    this.note(`lose host ${name}: removed ${n} task containers`);
    return n;
  }

  // --- observation -------------------------------------------------------------------

  /** running | paused | exited | ... | missing (no such container). */
  async state(name: NodeName): Promise<ContainerState> {
    const id = await this.containerOf(name).catch(() => '');
    if (!id) return 'missing';
    const r = await run('docker', ['inspect', '--format', '{{.State.Status}}', id], { timeoutMs: 15_000 });
    return r.code === 0 ? (r.stdout.trim() as ContainerState) : 'missing';
  }

  /** The last `tail` lines of the node's output (its daemon logs JSON lines on stderr). */
  async logs(name: NodeName, tail = 100): Promise<string> {
    const id = await this.containerOf(name).catch(() => '');
    if (!id) return `(${name}: no container)`;
    const r = await run('docker', ['logs', '--tail', String(tail), id], { timeoutMs: 15_000 });
    return `${r.stdout}${r.stderr}`;
  }

  /** Task containers on the host engine of this cluster, optionally of one node and/or service, running ones only unless `all`. */
  async taskContainers(f: { node?: NodeName; service?: string; all?: boolean } = {}): Promise<Docker.ContainerInfo[]> {
    if (!this.clusterId) throw new ComposeClusterError('the cluster id is not known: call up() first');
    const labels = [`${LABEL_CLUSTER_ID}=${this.clusterId}`];
    if (f.node) labels.push(`${LABEL_NODE_ID}=${this.nodeIdOf(f.node)}`);
    if (f.service) labels.push(`${LABEL_SERVICE_NAME}=${f.service}`);
    return this.engine().listContainers({ all: f.all ?? false, filters: { label: labels } });
  }

  /**
   * Polls `probe` every `everyMs` until it returns something other than
   * undefined/false; throws after `timeoutMs` saying what it waited for. A
   * probe that throws ends the wait with its error.
   */
  async waitFor<T>(what: string | (() => string), probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, everyMs = 250): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadline) throw new ComposeClusterError(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
      await sleep(everyMs);
    }
  }

  // --- internals ---------------------------------------------------------------------

  /** The container id of a node (by compose labels; cached). */
  async containerOf(name: NodeName): Promise<string> {
    const cached = this.ids.get(name);
    if (cached) return cached;
    const r = await this.docker_(['ps', '-aq', '--filter', `label=com.docker.compose.project=${this.project}`, '--filter', `label=com.docker.compose.service=${name}`]);
    const ids = r.stdout.split('\n').filter(Boolean);
    if (ids.length !== 1) throw new ComposeClusterError(`${ids.length === 0 ? 'no container' : `${ids.length} containers`} for ${name} in project ${this.project}${ids.length === 0 ? ': call up() first' : ''}`);
    this.ids.set(name, ids[0]);
    return ids[0];
  }

  /** Copies m1's certificates to a private temp dir (docker cp), for api(). */
  private async copyCredentials(): Promise<void> {
    this.dropCredentials();
    const dir = mkdtempSync(join(tmpdir(), `flotilla-${this.project}-certs-`));
    this.credentialsDir = dir;
    await this.dockerOk(['cp', `${await this.containerOf('m1')}:${DATA_DIR}/certificates`, join(dir, 'certificates')]);
  }

  private dropCredentials(): void {
    if (this.credentialsDir) rmSync(this.credentialsDir, { recursive: true, force: true });
    this.credentialsDir = null;
  }

  /** Waits until `name`'s control API answers; fails at once, with its logs, if its container exits. */
  private async waitControl(name: ManagerName, timeoutMs: number): Promise<void> {
    let last = '';
    await this.waitFor(
      () => `${name}'s control API (last: ${last.trim().split('\n').slice(-1)[0] ?? ''})`,
      async () => {
        const st = await this.state(name);
        if (st === 'exited' || st === 'dead') throw new ComposeClusterError(`${name} exited before its control API answered:\n${await this.logs(name, 30)}`);
        const r = await this.cli(name, ['--timeout', '3s', 'cluster', 'info', '--format', 'json'], 10_000);
        last = r.stderr;
        return r.code === 0;
      },
      timeoutMs,
    );
  }

  private async exitedNodes(): Promise<NodeName[]> {
    const out: NodeName[] = [];
    for (const n of NODE_NAMES) if (['exited', 'dead'].includes(await this.state(n))) out.push(n);
    return out;
  }

  private composeEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
    return { ...process.env, FLOTILLA_IMAGE: this.image, FLOTILLA_COMPOSE_OWNER: this.owner, ...(this.o.logLevel ? { FLOTILLA_LOG_LEVEL: this.o.logLevel } : {}), ...extra };
  }

  private composeRun(args: readonly string[], env: Record<string, string>, timeoutMs: number): Promise<RunResult> {
    return run('docker-compose', ['-p', this.project, '-f', this.file, ...args], { env: this.composeEnv(env), timeoutMs });
  }

  private async compose(args: readonly string[], env: Record<string, string>, timeoutMs: number): Promise<RunResult> {
    const r = await this.composeRun(args, env, timeoutMs);
    if (r.code !== 0) throw new ComposeClusterError(describe('docker-compose', args, r));
    return r;
  }

  private docker_(args: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
    return run('docker', args, { timeoutMs });
  }

  private async dockerOk(args: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
    const r = await this.docker_(args, timeoutMs);
    if (r.code !== 0) throw new ComposeClusterError(describe('docker', args, r));
    return r;
  }

  private engine(): Docker {
    this.docker ??= connectEngine();
    return this.docker;
  }

  /** Removes (force) the host containers with all these labels; resolves with how many. */
  private async removeTaskContainers(labels: Record<string, string>): Promise<number> {
    const filters = { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) };
    const found = await this.engine().listContainers({ all: true, filters });
    await Promise.all(found.map((c) => this.engine().getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
    return found.length;
  }
}
