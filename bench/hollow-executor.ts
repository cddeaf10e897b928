// A HOLLOW executor, for scale benchmarks only: its "containers" are entries
// in a map that run until they are shut down. It lets one process host a
// thousand agents so that the managers' side (dispatcher, orchestrators,
// scheduler, Raft) can be measured at scale. Real containers are proven with
// the DockerExecutor against the engine in the tests.
import type { NodeDescription, Task } from '../src/api/objects.js';
import type { ContainerObservation, Executor, HealthObservation, LogEntry, Owner, ShutdownResult } from '../src/worker/exec/executor.js';
import { taskLabels } from '../src/worker/exec/docker/labels.js';

interface Hollow {
  obs: ContainerObservation;
  stopped: Promise<void>;
  stop: () => void;
}

export interface HollowCounters {
  prepared: number;
  started: number;
}

export class HollowExecutor implements Executor {
  private readonly containers = new Map<string, Hollow>();

  constructor(
    private readonly hostname: string,
    private readonly counters: HollowCounters,
  ) {}

  async prepare(task: Task, owner: Owner): Promise<string> {
    const id = `hollow-${task.id}`;
    if (this.containers.has(id)) return id;
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const obs: ContainerObservation = {
      id,
      name: id,
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
      stopGracePeriodMs: 0,
      startedAt: 0,
      finishedAt: 0,
    };
    this.containers.set(id, { obs, stopped, stop });
    this.counters.prepared++;
    return id;
  }

  async start(id: string): Promise<void> {
    const h = this.get(id);
    h.obs = { ...h.obs, status: 'running', running: true, startedAt: Date.now() };
    this.counters.started++;
  }

  async wait(id: string, signal?: AbortSignal): Promise<ContainerObservation> {
    const h = this.get(id);
    await new Promise<void>((resolve, reject) => {
      const abort = (): void => {
        const e = new Error('aborted');
        e.name = 'AbortError';
        reject(e);
      };
      if (signal?.aborted) return abort();
      signal?.addEventListener('abort', abort, { once: true });
      void h.stopped.then(resolve);
    });
    return h.obs;
  }

  async health(): Promise<HealthObservation> {
    return { status: 'none', failingStreak: 0, output: '' };
  }

  async shutdown(id: string): Promise<ShutdownResult> {
    const h = this.get(id);
    h.obs = { ...h.obs, status: 'exited', running: false, exitCode: 0, finishedAt: Date.now() };
    h.stop();
    return { container: h.obs, forced: false };
  }

  async remove(id: string): Promise<void> {
    this.containers.get(id)?.stop();
    this.containers.delete(id);
  }

  async *logs(): AsyncIterable<LogEntry> {
    // A hollow container writes nothing.
  }

  async inspect(id: string): Promise<ContainerObservation | undefined> {
    return this.containers.get(id)?.obs;
  }

  async list(): Promise<ContainerObservation[]> {
    return [...this.containers.values()].map((h) => h.obs);
  }

  async describe(): Promise<NodeDescription> {
    return { hostname: this.hostname, cpus: 16, memoryBytes: 64 * 2 ** 30, engineVersion: 'hollow', platform: { os: 'linux', arch: 'x86_64' } };
  }

  private get(id: string): Hollow {
    const h = this.containers.get(id);
    if (!h) throw new Error(`no hollow container ${id}`);
    return h;
  }
}
