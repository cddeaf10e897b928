// The Docker executor: runs tasks as containers on a Docker engine through
// dockerode. Stateless about containers on purpose: everything it knows about a
// container it asks the engine, so a restarted agent sees exactly what is there.
//
// Bounded: an engine serves every agent, container and person on the host, and
// thousands of requests at once wedge it (20,000 concurrent pulls of a missing
// image left dockerd 20.10 unable to answer `docker info` until restarted). So
//   - short calls (inspect, create, start, kill, remove, list, image inspect,
//     non-followed logs, event reads) hold one of `maxConcurrentCalls` slots
//     (default 12), FIFO;
//   - pulls hold one of `maxConcurrentPulls` (default 3, dockerd's own
//     max-concurrent-downloads), and an image is looked for once per node at a
//     time and remembered for a while when it cannot be had (image-puller.ts);
//   - long polls (container wait, followed logs) hold no slot: there is one per
//     watched container, and holding a slot would starve everything else;
//     they are counted (stats().longPolls);
//   - describe() (engine info: the agent needs it to open its session) never
//     waits behind task work: its own lane, one request at a time shared by
//     concurrent callers, and a timeout so a wedged engine is a clear error.
//
// Secrets and configs: files on a tmpfs, bind-mounted read-only (task-files.ts);
// the one thing it remembers about containers is which directory of files each
// one mounts (from prepare, and from list() at agent start), to remove it with
// the container.
import { hostname as osHostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type Docker from 'dockerode';
import { pino, type Logger } from 'pino';
import { Limiter, type LimiterStats } from '../../../common/limiter.js';
import type { NetworkAttachment, NodeDescription, PortBinding, Task, TaskHealth } from '../../../api/objects.js';
import { toCreateOptions } from './container-spec.js';
import { networkIdOf, networkName } from '../../../common/engine-names.js';
import { engineMessage, statusCodeOf, toExecutorError } from './docker-errors.js';
import { LogDemuxer } from './docker-logs.js';
import { connectEngine, engineEndpoint } from './engine.js';
import {
  ContainerNotFoundError,
  EngineError,
  EngineUnavailableError,
  ImageNotFoundError,
  isAbortError,
  type ContainerObservation,
  type ContainerStatus,
  type Executor,
  type HealthObservation,
  type LogEntry,
  type LogOptions,
  type Owner,
  type ShutdownResult,
  type TaskFile,
} from '../executor.js';
import { DEFAULT_FILES_ROOT, TaskFileStore } from './task-files.js';
import { LABEL_CLUSTER_ID, LABEL_NETWORK_ID, LABEL_NODE_ID, LABEL_TASK_ID, ownerLabelFilters } from './labels.js';
import { ImagePuller, type ImagePullerStats } from './image-puller.js';
import { LogThrottle } from '../../log-throttle.js';
import { describeNode, type EngineInfo } from './node-description.js';

export interface DockerExecutorOptions {
  /** Default: connectEngine() (DOCKER_HOST, else /var/run/docker.sock). */
  docker?: Docker;
  logger?: Logger;
  /** For the logger's bindings. */
  nodeId?: string;
  /** The node's hostname in describe(); default os.hostname(). */
  hostname?: string;
  /** Pull an image that is not present (default true). */
  pull?: boolean;
  /** Give up on a pull after this long (default 5 minutes). */
  pullTimeoutMs?: number;
  /** After SIGKILL, how long to wait for the engine to reap the process (default 10 s). */
  killTimeoutMs?: number;
  /** When a `wait` connection breaks, retry after this long (default 1 s). */
  retryMs?: number;
  /** Short engine calls in flight at once (default 12). */
  maxConcurrentCalls?: number;
  /** Image pulls in flight at once (default 3, as dockerd's max-concurrent-downloads). */
  maxConcurrentPulls?: number;
  /** describe() gives up (EngineUnavailableError) after this long (default 10 s). */
  describeTimeoutMs?: number;
  /** After a failed pull the image is not pulled again for this long, doubled per failure (default 10 s) ... */
  imageBackoffMs?: number;
  /** ... up to this (default 5 min). */
  imageMaxBackoffMs?: number;
  /** For the image back-off (default Date.now). */
  clock?: () => number;
  /**
   * The node's data plane (src/network): the address its tasks' mesh ports are published on (default 127.0.0.1)
   * and the DNS server of containers on cluster networks (read when a container is created).
   */
  dataPlane?: () => { dataAddr: string; dnsServer: string };
  /**
   * Where task containers' secret and config files are kept (default /dev/shm/flotilla): on a tmpfs, at the same
   * path for the engine as for this process (a daemon in a container needs the host's directory bound there).
   */
  filesDir?: string;
}

/** How hard the executor is pressing on the engine, now and at its peak. */
export interface DockerExecutorStats {
  /** Short calls: inspect, create, start, kill, remove, list, image inspect, ... */
  calls: LimiterStats;
  pulls: LimiterStats;
  /** Long polls open (container wait, followed logs): one per watched container, no slot. */
  longPolls: { open: number; peak: number };
  /** Engine-info requests (describe) open; never more than one. */
  describe: { open: number; peak: number; timeouts: number };
  images: ImagePullerStats;
}

class Gauge {
  open = 0;
  peak = 0;
  inc(): void {
    this.open++;
    if (this.open > this.peak) this.peak = this.open;
  }
  dec(): void {
    this.open--;
  }
}

const HEALTH_OUTPUT_MAX = 400;

function toHealth(status: string | undefined): TaskHealth {
  return status === 'starting' || status === 'healthy' || status === 'unhealthy' ? status : 'none';
}

/** Docker's zero time is 0001-01-01: report it as 0. */
function toMs(t: string | undefined): number {
  const ms = t ? Date.parse(t) : NaN;
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

/** Docker's default stop timeout when a container has none of its own. */
const DEFAULT_STOP_GRACE_MS = 10_000;

function stopGraceOf(info: Docker.ContainerInspectInfo): number {
  const t = (info.Config as { StopTimeout?: unknown } | undefined)?.StopTimeout;
  return typeof t === 'number' && t >= 0 ? t * 1000 : DEFAULT_STOP_GRACE_MS;
}

export function observe(info: Docker.ContainerInspectInfo): ContainerObservation {
  const state = info.State;
  const log = state.Health?.Log ?? [];
  const last = log.length > 0 ? log[log.length - 1] : undefined;
  const labels = info.Config?.Labels ?? {};
  return {
    id: info.Id,
    name: info.Name.replace(/^\//, ''),
    labels,
    taskId: labels[LABEL_TASK_ID] ?? '',
    status: state.Status as ContainerStatus,
    running: state.Running,
    exitCode: state.ExitCode,
    oomKilled: state.OOMKilled,
    oomSuspected: false,
    error: state.Error ?? '',
    health: toHealth(state.Health?.Status),
    healthOutput: (last?.Output ?? '').trim().slice(0, HEALTH_OUTPUT_MAX),
    failingStreak: state.Health?.FailingStreak ?? 0,
    memoryLimitBytes: info.HostConfig?.Memory ?? 0,
    stopGracePeriodMs: stopGraceOf(info),
    startedAt: toMs(state.StartedAt),
    finishedAt: toMs(state.FinishedAt),
  };
}

export class DockerExecutor implements Executor {
  readonly docker: Docker;
  private readonly log: Logger;
  private readonly endpoint: string;
  private readonly hostname: string;
  private readonly pull: boolean;
  private readonly pullTimeoutMs: number;
  private readonly killTimeoutMs: number;
  private readonly retryMs: number;
  private readonly describeTimeoutMs: number;
  private readonly calls: Limiter;
  private readonly pulls: Limiter;
  private readonly images: ImagePuller;
  private readonly longPolls = new Gauge();
  private readonly infoRequests = new Gauge();
  private describeTimeouts = 0;
  private describing: Promise<NodeDescription> | undefined;
  private readonly throttle = new LogThrottle();
  /** The engine's networks known to exist (created or seen). */
  private readonly knownNetworks = new Map<string, string>();
  /**
   * Engine networks whose cluster network is gone but which a container still used when they were pruned
   * (a stack's tasks stop after its networks are removed): tried again after each container removal.
   */
  private readonly stranded = new Map<string, string>(); // engine network name -> its engine id
  /** The cluster networks last known to exist: a stranded network that comes back is kept. */
  private keptNetworks: ReadonlySet<string> = new Set();
  private pruning: Promise<void> = Promise.resolve();
  /** Secret and config files of task containers (tmpfs). */
  private readonly files: TaskFileStore;
  /** The directory of files each container mounts (by container id), to remove with it. */
  private readonly fileDirs = new Map<string, string>();
  /** Directories written for containers being created: not swept. */
  private readonly pendingDirs = new Set<string>();
  private readonly o: DockerExecutorOptions;

  constructor(options: DockerExecutorOptions = {}) {
    this.o = options;
    this.docker = options.docker ?? connectEngine();
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'docker-executor', nodeId: options.nodeId ?? '' });
    this.endpoint = engineEndpoint(this.docker);
    this.hostname = options.hostname ?? osHostname();
    this.pull = options.pull ?? true;
    this.pullTimeoutMs = options.pullTimeoutMs ?? 5 * 60_000;
    this.killTimeoutMs = options.killTimeoutMs ?? 10_000;
    this.retryMs = options.retryMs ?? 1000;
    this.describeTimeoutMs = options.describeTimeoutMs ?? 10_000;
    this.calls = new Limiter('engine call', options.maxConcurrentCalls ?? 12);
    this.pulls = new Limiter('image pull', options.maxConcurrentPulls ?? 3);
    this.images = new ImagePuller({
      present: (image) => this.imagePresent(image),
      pull: this.pull ? (image) => this.pullImage(image) : undefined,
      logger: this.log,
      initialBackoffMs: options.imageBackoffMs,
      maxBackoffMs: options.imageMaxBackoffMs,
      clock: options.clock,
    });
    this.files = new TaskFileStore(options.filesDir ?? DEFAULT_FILES_ROOT, this.log);
  }

  stats(): DockerExecutorStats {
    return {
      calls: this.calls.stats(),
      pulls: this.pulls.stats(),
      longPolls: { open: this.longPolls.open, peak: this.longPolls.peak },
      describe: { open: this.infoRequests.open, peak: this.infoRequests.peak, timeouts: this.describeTimeouts },
      images: this.images.stats(),
    };
  }

  /** A short engine call, holding one of the bounded slots while it runs. */
  private call<T>(job: () => Promise<T>): Promise<T> {
    return this.calls.run(job);
  }

  /** A long poll: no slot (one per watched container), but counted. */
  private async longPoll<T>(job: () => Promise<T>): Promise<T> {
    this.longPolls.inc();
    try {
      return await job();
    } finally {
      this.longPolls.dec();
    }
  }

  private fail(err: unknown, operation: string, containerId?: string): Error {
    return toExecutorError(err, operation, this.endpoint, containerId);
  }

  // --- image ----------------------------------------------------------------

  private async imagePresent(image: string): Promise<boolean> {
    try {
      await this.call(() => this.docker.getImage(image).inspect());
      return true;
    } catch (err) {
      if (statusCodeOf(err) === 404) return false;
      throw this.fail(err, `look up image ${image}`);
    }
  }

  /** One pull (in a pull slot), bounded in time; ImageNotFoundError when the image cannot be had. */
  private pullImage(image: string): Promise<void> {
    return this.pulls.run(async () => {
      const timeout = AbortSignal.timeout(this.pullTimeoutMs);
      try {
        const stream = await this.docker.pull(image, { abortSignal: timeout });
        await new Promise<void>((resolve, reject) => {
          this.docker.modem.followProgress(stream, (err: Error | null, output: unknown[]) => {
            if (err) return reject(err);
            // A failed pull can still answer 200: the error is in the progress stream.
            // It is the engine's answer (statusCode set), even when it reads "TLS
            // handshake timeout": a registry problem, to be remembered.
            const failed = output.find((o): o is { error: unknown } => typeof o === 'object' && o !== null && 'error' in o);
            if (failed) reject(Object.assign(new Error(String(failed.error)), { statusCode: 500 }));
            else resolve();
          });
        });
      } catch (err) {
        if (timeout.aborted) throw new ImageNotFoundError(image, `no registry answered within ${Math.round(this.pullTimeoutMs / 1000)} s`, { cause: err });
        // The engine itself did not answer: not the image's fault, not remembered.
        const e = this.fail(err, `pull image ${image}`);
        if (e instanceof EngineUnavailableError) throw e;
        // The engine answered (with the registry's refusal): the image cannot be had for now.
        throw new ImageNotFoundError(image, `pull failed: ${engineMessage(err)}`, { cause: err });
      }
    });
  }

  // --- life cycle -----------------------------------------------------------

  async prepare(task: Task, owner: Owner, signal?: AbortSignal, files?: readonly TaskFile[]): Promise<string> {
    const written = files?.length ? await this.prepareFiles(task, owner, signal, files) : undefined;
    try {
      const id = await this.create(task, owner, signal, written?.mounts ?? []);
      if (written) {
        // A container that already existed (see create) mounts its own directory: this one is not used.
        if (this.fileDirs.get(id) === undefined) this.fileDirs.set(id, written.dir);
        else if (this.fileDirs.get(id) !== written.dir) await this.files.remove(written.dir);
      }
      return id;
    } catch (err) {
      if (written) await this.files.remove(written.dir);
      throw err;
    } finally {
      if (written) this.pendingDirs.delete(written.dir);
    }
  }

  /** The image first (a pull may take minutes, and the files must not wait on a tmpfs for it), then the files. */
  private async prepareFiles(task: Task, owner: Owner, signal: AbortSignal | undefined, files: readonly TaskFile[]): Promise<{ dir: string; mounts: Docker.MountSettings[] }> {
    await this.images.ensure(task.spec.container.image, signal);
    signal?.throwIfAborted();
    const written = await this.files.write(owner.nodeId, task.id, files);
    this.pendingDirs.add(written.dir);
    this.log.info({ taskId: task.id, dir: written.dir, files: files.map((f) => `${f.kind}:${f.id}`) }, 'secret and config files written (tmpfs)');
    return written;
  }

  /** Creates the container of a task (with the bind mounts of its files), or finds the one an earlier attempt made. */
  private async create(task: Task, owner: Owner, signal: AbortSignal | undefined, fileMounts: Docker.MountSettings[]): Promise<string> {
    const image = task.spec.container.image;
    await this.images.ensure(image, signal);
    const networks = task.spec.networks ?? [];
    const engineIds = new Map<string, string>();
    let exposedByImage: string[] = [];
    if (networks.length > 0) {
      for (const n of networks) engineIds.set(n, await this.ensureNetwork(n, owner));
      exposedByImage = await this.imageExposedPorts(image);
    }
    // By engine id: a name the engine found twice (see ensureNetwork) is ambiguous to it.
    const plane = { dataAddr: '127.0.0.1', dnsServer: '', ...this.o.dataPlane?.(), networkName: (n: string) => engineIds.get(n) ?? networkName(n) };
    const opts = toCreateOptions(task, owner, plane, exposedByImage, fileMounts);
    const name = opts.name ?? '';
    try {
      const container = await this.call(() => this.docker.createContainer({ ...opts, abortSignal: signal }));
      // The engine (API 1.41) attaches a container to one network at create: the others before it starts.
      for (const n of networks.slice(1)) {
        await this.call(() => this.docker.getNetwork(engineIds.get(n) ?? networkName(n)).connect({ Container: container.id })).catch((err: unknown) => {
          if (statusCodeOf(err) !== 403 && !/already exists/.test(engineMessage(err))) throw err;
        });
      }
      this.log.info({ taskId: task.id, containerId: container.id, name }, 'container created');
      return container.id;
    } catch (err) {
      const status = statusCodeOf(err);
      if (status === 409) {
        // The name is taken: by this very task's container if an earlier attempt
        // created it and then lost track (agent crash); then it is ours to use.
        const info = await this.rawInspect(name);
        const existing = info ? observe(info) : undefined;
        if (info && existing && existing.taskId === task.id && existing.labels[LABEL_CLUSTER_ID] === owner.clusterId && existing.labels[LABEL_NODE_ID] === owner.nodeId) {
          this.log.info({ taskId: task.id, containerId: existing.id }, 'container already exists for this task, using it');
          this.noteFiles(info);
          return existing.id;
        }
        throw new EngineError('create the container', 409, `the name ${name} is already used by container ${existing?.id.slice(0, 12) ?? '?'}, which is not this task's`, { cause: err });
      }
      if (status === 404 && /network/i.test(engineMessage(err))) {
        // A network this node knew went away (removed with its cluster network, or a duplicate another node
        // removed): looked up again on the next attempt.
        this.knownNetworks.clear();
        throw this.fail(err, `create the container for task ${task.id}`);
      }
      // The image disappeared between the check and the create.
      if (status === 404) throw new ImageNotFoundError(image, engineMessage(err), { cause: err });
      throw this.fail(err, `create the container for task ${task.id}`);
    }
  }

  async start(containerId: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.startOnce(containerId);
      } catch (err) {
        // Nodes sharing an engine created a network at once and have not settled on one yet (ensureNetwork):
        // settle it here and start again, a few times.
        const ambiguous = /network (\S+) is ambiguous/.exec(err instanceof Error ? err.message : '');
        if (!ambiguous || attempt >= 5) throw err;
        await this.dedupeNetwork(ambiguous[1]);
        await delay(100 * (attempt + 1));
      }
    }
  }

  /** Keeps the oldest of the engine's networks named `name` (the lowest id among equals) and removes the others. */
  private async dedupeNetwork(name: string): Promise<string | undefined> {
    const found = (await this.call(() => this.docker.listNetworks({ filters: { name: [name] } })).catch(() => [] as Docker.NetworkInspectInfo[])).filter((n) => n.Name === name);
    found.sort((a, b) => (a.Created < b.Created ? -1 : a.Created > b.Created ? 1 : a.Id < b.Id ? -1 : 1));
    const [keep, ...dupes] = found;
    for (const d of dupes) await this.call(() => this.docker.getNetwork(d.Id).remove()).catch(() => undefined);
    if (keep) this.knownNetworks.set(name, keep.Id);
    return keep?.Id;
  }

  private async startOnce(containerId: string): Promise<void> {
    try {
      await this.call(() => this.docker.getContainer(containerId).start());
    } catch (err) {
      // 304: already started (e.g. a retry after a lost answer): fine.
      if (statusCodeOf(err) === 304) return;
      throw this.fail(err, `start container ${containerId.slice(0, 12)}`, containerId);
    }
  }

  async wait(containerId: string, signal?: AbortSignal): Promise<ContainerObservation> {
    const container = this.docker.getContainer(containerId);
    for (;;) {
      try {
        await this.longPoll(() => container.wait({ abortSignal: signal }));
      } catch (err) {
        if (signal?.aborted || isAbortError(err)) throw err;
        if (statusCodeOf(err) === 404) throw new ContainerNotFoundError(containerId, { cause: err });
        // The long-poll broke (engine restart, socket reset): look, then retry.
        this.throttle.log(this.log, 'warn', 'wait-broke', { containerId, err: engineMessage(err) }, 'waiting on container failed, retrying');
      }
      let obs: ContainerObservation | undefined;
      try {
        obs = await this.inspect(containerId);
      } catch (err) {
        // The engine is away (restarting?): the container may well still run,
        // so keep waiting rather than declare the task dead.
        if (!(err instanceof EngineUnavailableError)) throw err;
        this.throttle.log(this.log, 'warn', 'wait-unreachable', { containerId, err: err.message }, 'engine unreachable while waiting on a container, retrying');
        await delay(this.retryMs, undefined, { signal });
        continue;
      }
      if (!obs) throw new ContainerNotFoundError(containerId);
      if (!obs.running && obs.status !== 'created') {
        if (obs.exitCode === 137 && !obs.oomKilled && obs.memoryLimitBytes > 0) return { ...obs, ...(await this.explainKill(obs)) };
        return obs;
      }
      await delay(this.retryMs, undefined, { signal });
    }
  }

  /**
   * Why a container with a memory limit died of SIGKILL. State.OOMKilled is
   * not enough: when the engine handles the exit before the kernel's OOM
   * notification (or loses it), the flag stays false for good; measured here
   * on cgroup v1, ~1 in 5 of 20 concurrent OOM kills. So also read the engine's
   * events for the container: an 'oom' event settles it; no 'kill' event means
   * the SIGKILL did not come through the engine (docker kill/stop, or us), which
   * with a memory limit is almost surely the OOM killer.
   */
  private async explainKill(c: ContainerObservation): Promise<Pick<ContainerObservation, 'oomKilled' | 'oomSuspected'>> {
    const since = Math.floor((c.startedAt || Date.now() - 3_600_000) / 1000) - 1;
    try {
      // A fractional `until` in the past makes the stream end at once.
      const text = await this.call(async () => {
        const stream = await this.docker.getEvents({ since, until: Date.now() / 1000, filters: JSON.stringify({ container: [c.id], event: ['oom', 'kill'] }) });
        let out = '';
        for await (const chunk of stream as AsyncIterable<Buffer | string>) out += chunk.toString();
        return out;
      });
      const actions = text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { Action?: string }).Action);
      if (actions.includes('oom')) return { oomKilled: true, oomSuspected: false };
      return { oomKilled: false, oomSuspected: !actions.includes('kill') };
    } catch (err) {
      this.log.warn({ containerId: c.id, err: engineMessage(err) }, 'reading the engine events failed');
      return { oomKilled: false, oomSuspected: false };
    }
  }

  async health(containerId: string): Promise<HealthObservation> {
    const obs = await this.inspect(containerId);
    if (!obs) throw new ContainerNotFoundError(containerId);
    return { status: obs.health, failingStreak: obs.failingStreak, output: obs.healthOutput };
  }

  async shutdown(containerId: string, gracePeriodMs: number): Promise<ShutdownResult> {
    const container = this.docker.getContainer(containerId);
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.call(() => container.inspect());
    } catch (err) {
      throw this.fail(err, `inspect container ${containerId.slice(0, 12)}`, containerId);
    }
    if (!info.State.Running) return { container: observe(info), forced: false };
    // The image's STOPSIGNAL, as `docker stop` would send.
    const stopSignal = (info.Config as { StopSignal?: string }).StopSignal || 'SIGTERM';
    const started = Date.now();
    let forced = false;
    if (gracePeriodMs > 0) {
      await this.kill(containerId, stopSignal);
      try {
        // Our own timer, not the engine's `stop?t=`, which only takes whole seconds.
        await this.longPoll(() => container.wait({ abortSignal: AbortSignal.timeout(gracePeriodMs) }));
      } catch (err) {
        if (!isAbortError(err) && statusCodeOf(err) === 404) throw new ContainerNotFoundError(containerId, { cause: err });
        forced = true;
      }
    } else {
      forced = true;
    }
    if (forced) {
      await this.kill(containerId, 'SIGKILL');
      try {
        await this.longPoll(() => container.wait({ abortSignal: AbortSignal.timeout(this.killTimeoutMs) }));
      } catch (err) {
        if (statusCodeOf(err) === 404) throw new ContainerNotFoundError(containerId, { cause: err });
        throw new EngineError(`stop container ${containerId.slice(0, 12)}`, 0, `the process survived SIGKILL for ${this.killTimeoutMs} ms`, { cause: err });
      }
    }
    const obs = await this.inspect(containerId);
    if (!obs) throw new ContainerNotFoundError(containerId);
    this.log.info({ containerId, forced, tookMs: Date.now() - started, exitCode: obs.exitCode }, 'container stopped');
    return { container: obs, forced };
  }

  private async kill(containerId: string, signal: string): Promise<void> {
    try {
      await this.call(() => this.docker.getContainer(containerId).kill({ signal }));
    } catch (err) {
      // 409: not running any more; the wait that follows returns at once.
      if (statusCodeOf(err) === 409) return;
      throw this.fail(err, `send ${signal} to container ${containerId.slice(0, 12)}`, containerId);
    }
  }

  async remove(containerId: string): Promise<void> {
    try {
      await this.call(() => this.docker.getContainer(containerId).remove({ force: true, v: true }));
      this.log.info({ containerId }, 'container removed');
    } catch (err) {
      const status = statusCodeOf(err);
      // 404: already gone; 409: a removal is already in progress.
      if (status !== 404 && status !== 409) throw this.fail(err, `remove container ${containerId.slice(0, 12)}`, containerId);
    }
    this.retryStranded();
    // Its secrets and configs go with it.
    const dir = this.fileDirs.get(containerId);
    if (dir !== undefined) {
      this.fileDirs.delete(containerId);
      await this.files.remove(dir);
      this.log.info({ containerId, dir }, 'secret and config files removed');
    }
  }

  // --- secrets and configs --------------------------------------------------

  /** Remembers the directory of files a container mounts (none: nothing). */
  private noteFiles(info: Docker.ContainerInspectInfo): string | undefined {
    for (const m of info.Mounts ?? []) {
      const dir = m.Type === 'bind' && m.Source ? this.files.dirOf(m.Source) : undefined;
      if (dir !== undefined) {
        this.fileDirs.set(info.Id, dir);
        return dir;
      }
    }
    return undefined;
  }

  async restoreFiles(containerId: string, files: readonly TaskFile[]): Promise<void> {
    const info = await this.rawInspect(containerId);
    if (!info) throw new ContainerNotFoundError(containerId);
    this.noteFiles(info);
    const written = await this.files.restore(info.Mounts ?? [], files);
    if (written > 0) this.log.info({ containerId, files: written }, 'secret and config files of an adopted container put back (tmpfs)');
  }

  // --- data plane -----------------------------------------------------------

  /**
   * The engine's network for cluster network `networkId` (its engine id), created when missing and labelled with
   * its owner's cluster. Nodes sharing an engine may create it at once, and the engine's duplicate check is no
   * lock: every node then settles on the same one (the oldest, then the lowest id) and removes the others.
   */
  private async ensureNetwork(networkId: string, owner: Owner): Promise<string> {
    const name = networkName(networkId);
    const known = this.knownNetworks.get(name);
    if (known) return known;
    const list = async (): Promise<Docker.NetworkInspectInfo[]> =>
      (await this.call(() => this.docker.listNetworks({ filters: { name: [name] } }))).filter((n) => n.Name === name);
    let found = await list().catch((err: unknown) => {
      throw this.fail(err, `list networks named ${name}`);
    });
    if (found.length === 0) {
      try {
        await this.call(() => this.docker.createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: { [LABEL_CLUSTER_ID]: owner.clusterId, [LABEL_NETWORK_ID]: networkId } }));
        this.log.info({ network: networkId, name }, 'network created');
      } catch (e) {
        if (statusCodeOf(e) !== 409) throw this.fail(e, `create network ${name}`);
      }
      found = await list().catch((err: unknown) => {
        throw this.fail(err, `list networks named ${name}`);
      });
    }
    if (found.length === 0) throw new EngineError(`create network ${name}`, 0, 'the engine lists no such network after creating it');
    const keep = await this.dedupeNetwork(name);
    if (!keep) throw new EngineError(`create network ${name}`, 0, 'the engine lists no such network after creating it');
    return keep;
  }

  /** The image's EXPOSEd ports ('80/tcp'). */
  private async imageExposedPorts(image: string): Promise<string[]> {
    try {
      const info = (await this.call(() => this.docker.getImage(image).inspect())) as { Config?: { ExposedPorts?: Record<string, unknown> | null } };
      return Object.keys(info.Config?.ExposedPorts ?? {}).filter((k) => /^\d+\/(tcp|udp)$/.test(k));
    } catch (err) {
      throw this.fail(err, `inspect image ${image}`);
    }
  }

  /**
   * Removes the engine's networks of this cluster whose cluster network is gone. One still in use is
   * stranded: tried again after each container removal until it goes (or its cluster network comes back).
   */
  pruneNetworks(clusterId: string, keep: ReadonlySet<string>): Promise<void> {
    this.keptNetworks = keep;
    const run = this.pruning.then(async () => {
      let found: Docker.NetworkInspectInfo[];
      try {
        found = await this.call(() => this.docker.listNetworks({ filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`] } }));
      } catch {
        return;
      }
      for (const n of found) await this.removeNetwork(n.Name, n.Id);
    });
    this.pruning = run.catch(() => undefined);
    return this.pruning;
  }

  /** After a container removal: the stranded networks it may have been the last user of. */
  private retryStranded(): void {
    if (this.stranded.size === 0) return;
    this.pruning = this.pruning.then(async () => {
      for (const [name, engineId] of [...this.stranded]) await this.removeNetwork(name, engineId);
    });
  }

  private async removeNetwork(name: string, engineId: string): Promise<void> {
    const id = networkIdOf(name);
    if (!id || this.keptNetworks.has(id)) {
      this.stranded.delete(name);
      return;
    }
    try {
      await this.call(() => this.docker.getNetwork(engineId).remove());
      this.log.info({ network: id, name }, 'network removed');
    } catch (err) {
      const status = statusCodeOf(err);
      if (status !== 404) {
        // 403 or 409: a container still uses it. Anything else: the engine's trouble; tried again all the same.
        this.stranded.set(name, engineId);
        this.log.debug({ network: id, err: engineMessage(err) }, 'network not removed yet (still in use?)');
        return;
      }
    }
    this.knownNetworks.delete(name);
    this.stranded.delete(name);
  }

  async endpoints(containerId: string): Promise<{ ports: PortBinding[]; networks: NetworkAttachment[] }> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.call(() => this.docker.getContainer(containerId).inspect());
    } catch (err) {
      throw this.fail(err, `inspect container ${containerId.slice(0, 12)}`, containerId);
    }
    const ports: PortBinding[] = [];
    for (const [key, binds] of Object.entries(info.NetworkSettings?.Ports ?? {})) {
      const m = /^(\d+)\/(tcp|udp)$/.exec(key);
      if (!m || !binds) continue;
      for (const b of binds) {
        const hostPort = Number(b.HostPort);
        // IPv6 twins of a binding (the engine reports both for 0.0.0.0) add nothing a proxy needs.
        if (!Number.isInteger(hostPort) || hostPort < 1 || b.HostIp.includes(':')) continue;
        ports.push({ protocol: m[2] as 'tcp' | 'udp', targetPort: Number(m[1]), hostIp: b.HostIp, hostPort });
      }
    }
    const networks: NetworkAttachment[] = [];
    for (const [name, n] of Object.entries(info.NetworkSettings?.Networks ?? {})) {
      const id = networkIdOf(name);
      if (id && n.IPAddress) networks.push({ networkId: id, address: n.IPAddress });
    }
    return { ports, networks };
  }

  // --- observation ----------------------------------------------------------

  async inspect(containerId: string): Promise<ContainerObservation | undefined> {
    const info = await this.rawInspect(containerId);
    return info ? observe(info) : undefined;
  }

  private async rawInspect(containerId: string): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await this.call(() => this.docker.getContainer(containerId).inspect());
    } catch (err) {
      if (statusCodeOf(err) === 404) return undefined;
      throw this.fail(err, `inspect container ${containerId.slice(0, 12)}`, containerId);
    }
  }

  /**
   * Every container of `owner`. Called when the agent starts: it also learns
   * which directory of secret and config files each one mounts, and removes
   * the node's directories that no container mounts any more (left by a
   * container removed while no agent ran, or by a crash between writing the
   * files and creating the container). Those of existing containers, running
   * or not, stay.
   */
  async list(owner: Owner): Promise<ContainerObservation[]> {
    let found: Docker.ContainerInfo[];
    try {
      found = await this.call(() => this.docker.listContainers({ all: true, filters: { label: ownerLabelFilters(owner) } }));
    } catch (err) {
      throw this.fail(err, 'list containers');
    }
    const out: ContainerObservation[] = [];
    const inUse = new Set<string>([...this.pendingDirs, ...this.fileDirs.values()]);
    for (const c of found) {
      const info = await this.rawInspect(c.Id);
      if (!info) continue;
      out.push(observe(info));
      const dir = this.noteFiles(info);
      if (dir !== undefined) inUse.add(dir);
    }
    const swept = await this.files.sweep(owner.nodeId, inUse);
    if (swept.length > 0) this.log.info({ dirs: swept }, 'secret and config files no container mounts any more removed');
    return out;
  }

  async *logs(containerId: string, options: LogOptions = {}): AsyncIterable<LogEntry> {
    const container = this.docker.getContainer(containerId);
    const timestamps = options.timestamps ?? false;
    const query = {
      stdout: options.stdout ?? true,
      stderr: options.stderr ?? true,
      timestamps,
      ...(options.tail !== undefined ? { tail: options.tail } : {}),
      ...(options.since !== undefined ? { since: options.since } : {}),
      abortSignal: options.signal,
    };
    const demux = new LogDemuxer(timestamps);
    try {
      if (options.follow) {
        this.longPolls.inc();
        try {
          const stream = await container.logs({ ...query, follow: true });
          for await (const chunk of stream as AsyncIterable<Buffer | string>) {
            yield* demux.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
          }
        } finally {
          this.longPolls.dec();
        }
      } else {
        const body: unknown = await this.call(() => container.logs({ ...query, follow: false }));
        // docker-modem hands back a Buffer, or a string/object if the bytes happened to parse as JSON.
        const buf = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
        yield* demux.push(buf);
      }
    } catch (err) {
      if (options.signal?.aborted || isAbortError(err)) return;
      throw this.fail(err, `read the logs of container ${containerId.slice(0, 12)}`, containerId);
    }
    yield* demux.end();
  }

  /**
   * Its own lane: not behind the task work queued for the engine; concurrent
   * callers share one request; a wedged engine is an EngineUnavailableError
   * after describeTimeoutMs, never a hang.
   */
  describe(): Promise<NodeDescription> {
    if (!this.describing) {
      const p = this.readInfo();
      this.describing = p;
      const done = (): void => {
        if (this.describing === p) this.describing = undefined;
      };
      void p.then(done, done);
    }
    return this.describing;
  }

  private async readInfo(): Promise<NodeDescription> {
    const timeout = AbortSignal.timeout(this.describeTimeoutMs);
    // dockerode takes an abortSignal here though its types do not say so.
    const info = this.docker.info.bind(this.docker) as unknown as (opts: { abortSignal: AbortSignal }) => Promise<unknown>;
    this.infoRequests.inc();
    try {
      return describeNode((await info({ abortSignal: timeout })) as EngineInfo, this.hostname);
    } catch (err) {
      if (timeout.aborted) {
        this.describeTimeouts++;
        throw new EngineUnavailableError(this.endpoint, `no answer to an engine-info request within ${this.describeTimeoutMs} ms (the engine is overloaded or wedged)`, { cause: err });
      }
      throw this.fail(err, 'read the engine information');
    } finally {
      this.infoRequests.dec();
    }
  }
}
