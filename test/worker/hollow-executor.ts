// A HOLLOW executor for agent unit tests only: in-memory "containers" that
// follow a script (exit after N ms with a code, a sequence of health answers,
// a prepare error). It proves the agent's bookkeeping (batching, never going
// backwards, retiring) fast and deterministically; everything about real
// containers is proven with DockerExecutor against the real engine.
import type { NodeDescription, Task, TaskHealth } from '../../src/api/objects.js';
import {
  ContainerNotFoundError,
  type ContainerObservation,
  type Executor,
  type HealthObservation,
  type LogEntry,
  type Owner,
  type ShutdownResult,
  type TaskFile,
} from '../../src/worker/exec/executor.js';
import { taskLabels, containerName, LABEL_CLUSTER_ID, LABEL_NODE_ID } from '../../src/worker/exec/docker/labels.js';

export interface Script {
  /** Exit by itself this long after start (default: run until stopped). */
  exitAfterMs?: number;
  exitCode?: number;
  /** Answers of successive health() calls; the last one repeats. Default 'none'. */
  health?: TaskHealth[];
  prepareError?: Error;
  /** Delay of prepare (an image pull). */
  prepareMs?: number;
  /** Delay of shutdown (a grace period). */
  shutdownMs?: number;
}

interface Hollow {
  obs: ContainerObservation;
  script: Script;
  healthCalls: number;
  waiters: (() => void)[];
  timer?: NodeJS.Timeout;
}

function abortError(): Error {
  const e = new Error('aborted');
  e.name = 'AbortError';
  return e;
}

export class HollowExecutor implements Executor {
  readonly calls: string[] = [];
  /** prepare/shutdown calls under way now, and the most at once. */
  readonly open = { prepare: 0, shutdown: 0 };
  readonly peak = { prepare: 0, shutdown: 0 };
  private readonly scripts = new Map<string, Script>();
  private readonly containers = new Map<string, Hollow>();
  private next = 0;
  /** The secret and config files each prepare (by task id) and each restoreFiles (by container id) was given. */
  readonly files = new Map<string, readonly TaskFile[]>();
  readonly restored = new Map<string, readonly TaskFile[]>();

  script(taskId: string, s: Script): void {
    this.scripts.set(taskId, s);
  }

  /** Puts a container in place as if an earlier agent had made it. */
  plant(task: Task, owner: Owner, state: Partial<ContainerObservation>, s: Script = {}): string {
    const id = `hollow${++this.next}`;
    this.containers.set(id, { obs: { ...this.observation(id, task, owner), ...state }, script: s, healthCalls: 0, waiters: [] });
    return id;
  }

  ids(): string[] {
    return [...this.containers.keys()];
  }

  private observation(id: string, task: Task, owner: Owner): ContainerObservation {
    return {
      id,
      name: containerName(task),
      labels: taskLabels(task, owner),
      taskId: task.id,
      status: 'created',
      running: false,
      exitCode: 0,
      oomKilled: false,
      oomSuspected: false,
      error: '',
      health: 'none',
      healthOutput: '',
      failingStreak: 0,
      memoryLimitBytes: 0,
      stopGracePeriodMs: task.spec.container.stopGracePeriodMs,
      startedAt: 0,
      finishedAt: 0,
    };
  }

  private get(id: string): Hollow {
    const c = this.containers.get(id);
    if (!c) throw new ContainerNotFoundError(id);
    return c;
  }

  private exit(c: Hollow, code: number): void {
    if (c.timer) clearTimeout(c.timer);
    if (!c.obs.running) return;
    c.obs = { ...c.obs, running: false, status: 'exited', exitCode: code, finishedAt: Date.now() };
    for (const w of c.waiters.splice(0)) w();
  }

  private enter(kind: 'prepare' | 'shutdown'): () => void {
    this.open[kind]++;
    this.peak[kind] = Math.max(this.peak[kind], this.open[kind]);
    return () => void this.open[kind]--;
  }

  async prepare(task: Task, owner: Owner, signal?: AbortSignal, files?: readonly TaskFile[]): Promise<string> {
    if (files) this.files.set(task.id, files);
    const leave = this.enter('prepare');
    try {
      return await this.prepareNow(task, owner, signal);
    } finally {
      leave();
    }
  }

  private async prepareNow(task: Task, owner: Owner, signal?: AbortSignal): Promise<string> {
    this.calls.push(`prepare:${task.id}`);
    const s = this.scripts.get(task.id) ?? {};
    if (s.prepareMs) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, s.prepareMs);
        signal?.addEventListener('abort', () => (clearTimeout(t), reject(abortError())), { once: true });
      });
    }
    if (s.prepareError) throw s.prepareError;
    const id = `hollow${++this.next}`;
    this.containers.set(id, { obs: this.observation(id, task, owner), script: s, healthCalls: 0, waiters: [] });
    return id;
  }

  async restoreFiles(id: string, files: readonly TaskFile[]): Promise<void> {
    this.calls.push(`restoreFiles:${id}`);
    this.get(id);
    this.restored.set(id, files);
  }

  async start(id: string): Promise<void> {
    this.calls.push(`start:${id}`);
    const c = this.get(id);
    c.obs = { ...c.obs, running: true, status: 'running', startedAt: Date.now() };
    if (c.script.exitAfterMs !== undefined) c.timer = setTimeout(() => this.exit(c, c.script.exitCode ?? 0), c.script.exitAfterMs);
  }

  async wait(id: string, signal?: AbortSignal): Promise<ContainerObservation> {
    const c = this.get(id);
    if (c.obs.running) {
      await new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(abortError());
        c.waiters.push(resolve);
        signal?.addEventListener('abort', () => reject(abortError()), { once: true });
      });
    }
    return { ...c.obs };
  }

  async health(id: string): Promise<HealthObservation> {
    const c = this.get(id);
    const seq = c.script.health ?? ['none'];
    const status = seq[Math.min(c.healthCalls++, seq.length - 1)];
    return { status, failingStreak: status === 'unhealthy' ? 3 : 0, output: status === 'unhealthy' ? 'probe failed' : '' };
  }

  async shutdown(id: string, _gracePeriodMs: number): Promise<ShutdownResult> {
    this.calls.push(`shutdown:${id}`);
    const leave = this.enter('shutdown');
    try {
      const c = this.get(id);
      if (c.obs.running && c.script.shutdownMs) await new Promise((r) => setTimeout(r, c.script.shutdownMs));
      this.exit(c, 0);
      return { container: { ...c.obs }, forced: false };
    } finally {
      leave();
    }
  }

  async remove(id: string): Promise<void> {
    this.calls.push(`remove:${id}`);
    const c = this.containers.get(id);
    if (c?.timer) clearTimeout(c.timer);
    this.containers.delete(id);
  }

  async *logs(_id: string): AsyncIterable<LogEntry> {
    // A hollow container prints nothing.
  }

  async inspect(id: string): Promise<ContainerObservation | undefined> {
    const c = this.containers.get(id);
    return c ? { ...c.obs } : undefined;
  }

  async list(owner: Owner): Promise<ContainerObservation[]> {
    return [...this.containers.values()]
      .filter((c) => c.obs.labels[LABEL_CLUSTER_ID] === owner.clusterId && c.obs.labels[LABEL_NODE_ID] === owner.nodeId)
      .map((c) => ({ ...c.obs }));
  }

  async describe(): Promise<NodeDescription> {
    return { hostname: 'hollow', cpus: 2, memoryBytes: 2 ** 30, engineVersion: 'hollow', platform: { os: 'linux', arch: 'x86_64' } };
  }
}
